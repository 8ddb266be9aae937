/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The packet cache's flusher thread: picks runs of dirty packets and writes them back. */
#define _GNU_SOURCE
#include "pkt_cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the flusher ---- */

enum pick_reason { PICK_NONE, PICK_URGENT, PICK_AGED };

bool cache_flushable(const struct pkt_cache *c, const struct slot *s)
{
	if (s->ndirty == 0 || (s->flags & (SLOT_LOADING | SLOT_WRITEBACK)) || s->refs)
		return false;
	/* A failed packet is retried only by a flush that started after it failed (err_gen is the
	 * flush generation at the failure, plus one). */
	return s->err_gen == 0 || s->err_gen <= c->flush_gen;
}

/* Media life: a worn packet is left to the next barrier, where the engine moves it whole to a spare
 * (pkt_cache_move_worn), rather than written in place between commits. */
static bool pick_skips(const struct pkt_cache *c, const struct slot *s, bool keep_worn)
{
	return keep_worn && cache_lifetime_writes(c, s->pkt) >= c->wear_limit;
}

/* Whether the flusher may write s now: flushable, not kept back, and due unless the flush is urgent. */
static bool pick_eligible(const struct pkt_cache *c, const struct slot *s, bool urgent, bool keep_worn, uint64_t now)
{
	return cache_flushable(c, s) && !pick_skips(c, s, keep_worn) && (urgent || s->dirty_ms + c->age_ms <= now);
}

/* Collects the next run of consecutive flushable packets in elevator order into c->order.  Returns
 * the run length (0 = nothing to do) and sets *next_deadline when only aged data would qualify later.
 * One pass over the slots finds the run's first packet and the hash extends it: the flusher runs
 * under the lock every writer needs, and sorting every dirty slot for each (often one-packet) run
 * was a tenth of the daemon's time under random writes. */
static uint32_t pick_run(struct pkt_cache *c, uint64_t now, bool keep_worn, uint64_t *next_deadline, bool *kept)
{
	bool urgent = c->draining || c->want_slot || c->flush_waiters;
	uint32_t ahead = UINT32_MAX, lowest = UINT32_MAX;

	*next_deadline = UINT64_MAX;
	*kept = false;
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		if (!cache_flushable(c, s))
			continue;
		/* a packet kept back has no deadline: it waits for the barrier, or for pressure */
		if (pick_skips(c, s, keep_worn)) {
			*kept = true;
			continue;
		}
		uint64_t due = s->dirty_ms + c->age_ms;
		if (!urgent && due > now) {
			if (due < *next_deadline)
				*next_deadline = due;
			continue;
		}
		/* C-SCAN: the first packet at or after the elevator position, else wrap to the lowest. */
		if (s->pkt >= c->elevator && (ahead == UINT32_MAX || s->pkt < c->slots[ahead].pkt))
			ahead = i;
		if (lowest == UINT32_MAX || s->pkt < c->slots[lowest].pkt)
			lowest = i;
	}
	if (lowest == UINT32_MAX)
		return 0;
	/* Draining needs only what takes the cache down to the low watermark, and a waiter for a slot
	 * one packet: writing more would write the packet a streaming writer is still filling. */
	uint32_t limit = c->batch_packets;
	if (!c->flush_waiters && (c->draining || c->want_slot)) {
		uint32_t need = c->want_slot;
		/* packets enough to take the dirty level down to low: on rewritable media, whole packets'
		 * worth of dirty sectors (a run of sparse ones ends early, and the next run follows) */
		uint32_t over = dirty_level(c) > c->low ? dirty_level(c) - c->low : 0;
		if (!c->append)
			over = (over + c->ps - 1) / c->ps;
		if (c->draining && over > need)
			need = over;
		if (need < limit)
			limit = need ? need : 1;
	}
	uint32_t len = 0;
	c->order[len++] = ahead != UINT32_MAX ? ahead : lowest;
	while (len < limit) {
		struct slot *next = cache_lookup(c, c->slots[c->order[len - 1]].pkt + 1);
		if (!next || !pick_eligible(c, next, urgent, keep_worn, now))
			break;
		c->order[len++] = (uint32_t)(next - c->slots);
	}
	return len;
}

/* pick_run, keeping worn packets back (wear limit set) unless the flusher needs them: a flush waits
 * for everything, or nothing else is left to write while a slot is wanted or the dirty packets reach
 * the high watermark, so that nothing waits forever and memory stays bounded.  A drain with only
 * worn packets left below the high watermark ends there. */
static uint32_t pick_batch(struct pkt_cache *c, uint64_t now, uint64_t *next_deadline)
{
	bool keep_worn = c->wear_limit && !c->flush_waiters, kept;
	uint32_t n = pick_run(c, now, keep_worn, next_deadline, &kept);

	if (n || !kept)
		return n;
	if (c->want_slot || dirty_level(c) >= c->high)
		return pick_run(c, now, false, next_deadline, &kept);
	c->draining = false; /* else it would write each new packet at once, young as it is */
	return 0;
}

/* A dirty slot's data goes to the medium: clean while in flight, out of the dirty counts. */
void cache_writeback_begin(struct pkt_cache *c, struct slot *s)
{
	memset(s->dirty, 0, c->words * sizeof(uint64_t));
	c->ndirty_sect -= s->ndirty;
	s->ndirty = 0;
	s->wb_seq = s->dirty_seq;
	s->flags |= SLOT_WRITEBACK;
	c->ndirty--;
	if (s->err_gen)
		c->nerror--;
	c->nwriteback++;
}

/* The write of a slot in flight ended; a failed one makes the packet dirty again, every sector of
 * it that the cache holds (with the image that was written kept, cache_keep_image), and marked
 * failed: data is never lost.  A successful one keeps the gathered sectors where the pool has room. */
void cache_writeback_end(struct pkt_cache *c, struct slot *s, bool ok, const uint8_t *img)
{
	s->flags &= ~(uint32_t)SLOT_WRITEBACK;
	c->nwriteback--;
	cache_keep_image(c, s, img, !ok);
	if (ok) {
		s->err_gen = 0;
		return;
	}
	if (s->ndirty == 0) {
		c->ndirty++;
		s->dirty_seq = s->wb_seq;
	}
	for (uint32_t i = 0; i < slot_data_sectors(c, s); i++) {
		if (!bit_test(s->dirty, i) && (c->append || bit_test(s->valid, i))) {
			bit_set(s->dirty, i);
			s->ndirty++;
			c->ndirty_sect++;
		}
	}
	s->err_gen = c->flush_gen + 1;
	c->nerror++;
}

/* A packet of the run that could not be read to complete it is not written: marked failed. */
static void gather_failed(struct pkt_cache *c, struct slot *bad)
{
	if (bad->err_gen == 0)
		c->nerror++;
	bad->err_gen = c->flush_gen + 1;
	c->st.write_errors++;
}

/* Completes each of the n pinned slots of c->order before it is written; returns how many can be
 * written (the run is cut before a packet that cannot be read, which is unpinned and marked
 * failed).  Write-once media fill their slots (zeros past the NWA); a rewritable packet's missing
 * sectors are read straight into its place in the bounce buffer, so that writing back never needs
 * pool sectors. */
static uint32_t complete_run(struct pkt_cache *c, uint32_t n)
{
	uint32_t ok;
	int rc = 0;

	for (ok = 0; ok < n && rc == 0; ok += rc == 0) {
		struct slot *s = &c->slots[c->order[ok]];
		rc = c->append ? cache_fill_slot(c, s, true)
			       : cache_gather_image(c, s, c->bounce + (size_t)ok * c->ps * PKT_SECTOR_SIZE);
	}
	if (ok < n) {
		gather_failed(c, &c->slots[c->order[ok]]);
		for (uint32_t k = ok; k < n; k++)
			c->slots[c->order[k]].refs--;
		wake_changed(c);
	}
	return ok;
}

/* Adds the sector at p to the run's buffers for writev, merged with the one before where adjacent. */
static void iov_add(struct iovec *iov, uint32_t *niov, uint8_t *p)
{
	if (*niov && (uint8_t *)iov[*niov - 1].iov_base + iov[*niov - 1].iov_len == p)
		iov[*niov - 1].iov_len += PKT_SECTOR_SIZE;
	else
		iov[(*niov)++] = (struct iovec){p, PKT_SECTOR_SIZE};
}

/* Writes one run of packets: complete them, write, account.  On rewritable media the image of a
 * run is its held sectors where they are in the pool and its gathered ones in the bounce buffer:
 * written from there where the backend has writev (a streaming writer's sectors are adjacent in
 * the pool, so the buffers are few and whole packets), else the held ones are copied into the
 * bounce buffer; either after the lock is released, the slots being in writeback meanwhile, which
 * writers wait for (stable pages).  Write-once media copy into the bounce buffer under the lock. */
static void write_batch(struct pkt_cache *c, uint32_t n)
{
	uint32_t *idx = c->order;
	uint32_t nheld = 0, niov = 0;
	bool vectored = !c->append && pkt_blockdev_has_writev(c->dev);
	int rc = 0;

	for (uint32_t k = 0; k < n; k++)
		c->slots[idx[k]].refs++;
	n = complete_run(c, n);
	if (n == 0)
		return;
	uint64_t first_lba = packet_first(c, c->slots[idx[0]].pkt);
	uint32_t count = 0, padded = 0;
	for (uint32_t k = 0; k < n; k++) {
		struct slot *s = &c->slots[idx[k]];
		uint32_t data = c->append ? cache_append_write_len(c, s) : slot_data_sectors(c, s);
		if (c->append) /* a write-once slot's sectors are adjacent */
			memcpy(c->bounce + (size_t)count * PKT_SECTOR_SIZE, sector_at(c, s, 0),
			       (size_t)data * PKT_SECTOR_SIZE);
		else
			for (uint32_t i = 0; i < data; i++) {
				if (vectored)
					iov_add(c->iov, &niov,
						bit_test(s->valid, i)
							? sector_at(c, s, i)
							: c->bounce + (size_t)(count + i) * PKT_SECTOR_SIZE);
				if (!bit_test(s->valid, i))
					continue;
				c->wb_from[nheld] = s->sect[i];
				c->wb_to[nheld++] = count + i;
			}
		count += data;
		padded += data - s->ndirty; /* write-once media: sectors nobody wrote go as zeros */
		cache_writeback_begin(c, s);
	}
	if (c->append)
		cache_append_advance(c, first_lba, count);
	pthread_mutex_unlock(&c->lock);
	if (vectored) {
		rc = pkt_blockdev_writev_packets(c->dev, first_lba, count, c->iov, (int)niov);
	} else {
		for (uint32_t h = 0; h < nheld; h++)
			memcpy(c->bounce + (size_t)c->wb_to[h] * PKT_SECTOR_SIZE,
			       c->pool + (size_t)c->wb_from[h] * PKT_SECTOR_SIZE, PKT_SECTOR_SIZE);
		rc = pkt_blockdev_write_packets(c->dev, first_lba, count, c->bounce);
	}
	pthread_mutex_lock(&c->lock);
	if (c->append)
		cache_append_done(c, first_lba, count, padded, rc);
	for (uint32_t k = 0; k < n; k++) {
		struct slot *s = &c->slots[idx[k]];
		cache_writeback_end(c, s, rc == 0, c->append ? NULL : c->bounce + (size_t)k * c->ps * PKT_SECTOR_SIZE);
		s->refs--;
	}
	if (rc == 0) {
		cache_count_writes(c, first_lba, count);
		c->st.packets_written += n;
		c->st.medium_write_bytes += (uint64_t)count * PKT_SECTOR_SIZE;
		c->st.write_commands++;
		c->elevator = c->slots[idx[n - 1]].pkt + 1;
		cache_waiters_eased(c);
	} else {
		c->st.write_errors++;
	}
	wake_changed(c);
}

void *cache_flusher_main(void *arg)
{
	struct pkt_cache *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		/* Only this thread talks to hold(), so lock and unlock reach the backend in order. */
		if (c->ndirty > 0) {
			c->release_hold = false;
			if (!c->held) {
				c->held = true;
				pthread_mutex_unlock(&c->lock);
				pkt_blockdev_hold(c->dev, true);
				pthread_mutex_lock(&c->lock);
				continue;
			}
		} else if (c->held && c->release_hold && c->nwriteback == 0) {
			c->held = c->release_hold = false;
			pthread_mutex_unlock(&c->lock);
			pkt_blockdev_hold(c->dev, false);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		if (c->draining && dirty_level(c) <= c->low)
			c->draining = false;
		if (dirty_level(c) >= c->high)
			c->draining = true;
		uint64_t now = now_ms(), deadline;
		uint32_t zeros = 0;
		uint32_t n = c->append ? cache_pick_append(c, now, &deadline, &zeros) : pick_batch(c, now, &deadline);
		if (zeros) {
			cache_write_zeros(c, zeros);
			continue;
		}
		if (n) {
			write_batch(c, n);
			continue;
		}
		if (deadline == UINT64_MAX) {
			c->flusher_idle = true;
			pthread_cond_wait(&c->kick, &c->lock);
			c->flusher_idle = false;
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t wait = deadline - now;
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c->kick, &c->lock, &ts);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}
