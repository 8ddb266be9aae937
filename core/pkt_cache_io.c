/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The packet cache's read and write paths. */
#define _GNU_SOURCE
#include "pkt_cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies n bytes at byte in of slot s to out (to_slot false) or from in to it, a sector at a time:
 * the pool sectors of a packet are seldom adjacent.  Every sector touched is held. */
static void copy_slot(struct pkt_cache *c, struct slot *s, uint64_t in, uint8_t *user, size_t n, bool to_slot)
{
	while (n) {
		uint32_t i = (uint32_t)(in / PKT_SECTOR_SIZE), at = (uint32_t)(in % PKT_SECTOR_SIZE);
		size_t k = PKT_SECTOR_SIZE - at < n ? PKT_SECTOR_SIZE - at : n;
		uint8_t *p = sector_at(c, s, i) + at;
		if (to_slot)
			memcpy(p, user, k);
		else
			memcpy(user, p, k);
		user += k;
		in += k;
		n -= k;
	}
}

static bool range_valid(const struct slot *s, uint32_t first, uint32_t end)
{
	for (uint32_t i = first; i < end; i++)
		if (!bit_test(s->valid, i))
			return false;
	return true;
}

static int check_range(const struct pkt_cache *c, size_t len, uint64_t off)
{
	uint64_t cap = pkt_cache_capacity_bytes(c);

	if (off > cap || len > cap - off)
		return -EINVAL;
	return 0;
}

/* The part of a byte range that falls in one packet: the packet, the byte offset in it, the byte
 * count, and the sectors [s0, s1) it touches. */
struct segment {
	uint64_t pkt, in;
	size_t n;
	uint32_t s0, s1;
};

static struct segment segment_of(const struct pkt_cache *c, uint64_t off, size_t len)
{
	struct segment g;

	g.pkt = packet_of(c, off / PKT_SECTOR_SIZE);
	uint64_t start = packet_first(c, g.pkt) * PKT_SECTOR_SIZE;
	uint64_t pbytes = (uint64_t)packet_sectors(c, g.pkt) * PKT_SECTOR_SIZE;
	g.in = off - start;
	g.n = (size_t)(pbytes - g.in < len ? pbytes - g.in : len);
	g.s0 = (uint32_t)(g.in / PKT_SECTOR_SIZE);
	g.s1 = (uint32_t)((g.in + g.n + PKT_SECTOR_SIZE - 1) / PKT_SECTOR_SIZE);
	return g;
}

/* The user's buffer of a read (out) or a write (in), where the segment at hand starts. */
union user_buf {
	uint8_t *out;
	const uint8_t *in;
};

/* What a read or write does with one segment, on its slot pinned (the walk unpins it): 0 done,
 * -EAGAIN try the segment again, SEG_WAIT_POOL or SEG_WAIT_CONGESTED wait with the slot unpinned
 * (so that the flusher may write it) and try again, another negative errno fails the operation. */
enum { SEG_WAIT_POOL = 1, SEG_WAIT_CONGESTED = 2 };
typedef int (*segment_fn)(struct pkt_cache *c, struct slot *s, bool hit, const struct segment *g, union user_buf ub);

static int wait_congestion(struct pkt_cache *c, const struct slot *s);

/* Walks the byte range [off, off + len) a packet at a time under the lock, pinning each packet's
 * slot for fn; adds the bytes done to *bytes.  Stops at the first failure. */
static int for_each_segment(struct pkt_cache *c, union user_buf ub, size_t len, uint64_t off, segment_fn fn,
			    uint64_t *bytes)
{
	int rc = check_range(c, len, off);

	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	while (len) {
		struct segment g = segment_of(c, off, len);
		struct slot *s;
		bool hit;

		rc = cache_get_slot(c, g.pkt, &s, &hit);
		if (rc)
			break;
		rc = fn(c, s, hit, &g, ub);
		cache_put_slot(c, s);
		if (rc == SEG_WAIT_POOL || rc == SEG_WAIT_CONGESTED) {
			int wrc = rc == SEG_WAIT_POOL ? cache_wait_pool(c) : wait_congestion(c, NULL);
			rc = wrc ? wrc : -EAGAIN;
		}
		if (rc == -EAGAIN)
			continue;
		if (rc)
			break;
		ub.in += g.n;
		off += g.n;
		len -= g.n;
		*bytes += g.n;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int read_segment(struct pkt_cache *c, struct slot *s, bool hit, const struct segment *g, union user_buf ub)
{
	if (hit && range_valid(s, g->s0, g->s1)) {
		c->st.cache_hits++;
	} else {
		c->st.cache_misses++;
		int rc = cache_fill_slot(c, s, false);
		/* A write-once medium's recorded part may hold unreadable sectors where our packets do not
		 * (the link sectors of another writer's packets), and a pool full of dirty data may not
		 * take the whole packet: then only what was asked for. */
		if ((rc && c->append) || rc == -ENOBUFS)
			rc = cache_fill_range(c, s, g->s0, g->s1, false);
		if (rc)
			return rc == -ENOBUFS ? SEG_WAIT_POOL : rc;
	}
	copy_slot(c, s, g->in, ub.out, g->n, false);
	return 0;
}

int pkt_cache_read(struct pkt_cache *c, void *buf, size_t len, uint64_t off)
{
	return for_each_segment(c, (union user_buf){.out = buf}, len, off, read_segment, &c->st.user_read_bytes);
}

/* Waits at the dirty high watermark before the clean slot s becomes dirty.  Another writer may
 * dirty s meanwhile: then writing into it adds nothing dirty, and the wait ends, for a pinned dirty
 * slot is one the flusher cannot write (on write-once media the only one it may).  s NULL: a writer
 * that would add dirty sectors to a dirty slot, waiting with it unpinned (rewritable media). */
static int wait_congestion(struct pkt_cache *c, const struct slot *s)
{
	bool waited = false;

	while (dirty_level(c) >= c->high && (!s || s->ndirty == 0)) {
		if (writeback_stuck(c))
			return -EIO;
		if (!waited) {
			c->st.congestion_waits++;
			waited = true;
		}
		c->draining = true;
		pthread_cond_signal(&c->kick);
		c->congested++;
		c->congested_unmet++;
		uint64_t gen = c->eased_gen;
		wait_changed(c);
		c->congested--;
		if (c->eased_gen == gen) /* else the flusher took it off as it woke it */
			c->congested_unmet--;
	}
	return 0;
}

void cache_waiters_eased(struct pkt_cache *c)
{
	/* Every waiter is woken next (wake_changed) and looks again: the ones still over the watermark
	 * or still without a slot count themselves again (and kick the flusher) before they wait, so
	 * that none is forgotten. */
	c->congested_unmet = 0;
	c->slot_unmet = 0;
	c->eased_gen++;
}

/* Write-once media: below the NWA to be everything is on the medium or on its way, and the link
 * sectors at a packet's end are lost. */
static bool append_refused(const struct pkt_cache *c, const struct slot *s, const struct segment *g)
{
	return packet_first(c, s->pkt) + g->s0 < c->accept || g->s1 > slot_data_sectors(c, s);
}

static int write_segment(struct pkt_cache *c, struct slot *s, bool hit, const struct segment *g, union user_buf ub)
{
	uint64_t in = g->in;
	size_t n = g->n;
	uint32_t s0 = g->s0, s1 = g->s1;
	int rc;

	/* Stable pages: the flusher writes a rewritable medium's slot in writeback from the slot
	 * itself, outside the lock; a sector changed under it would go out torn. */
	if (!c->append && (s->flags & SLOT_WRITEBACK)) {
		wait_changed(c);
		return -EAGAIN;
	}
	if (hit)
		c->st.cache_hits++;
	else
		c->st.cache_misses++;
	if (c->append && append_refused(c, s, g))
		return -EROFS;
	if (s->ndirty == 0) {
		/* Waiting may let the flusher touch this slot; it stays pinned so it is not evicted. */
		rc = wait_congestion(c, s);
		if (rc == 0 && ((s->flags & SLOT_LOADING) || (!c->append && (s->flags & SLOT_WRITEBACK))))
			rc = -EAGAIN; /* a rewritable slot in writeback: the check above waits for it */
		if (rc)
			return rc;
	}
	/* Rewritable media count dirty sectors: one more into a dirty slot waits at the watermark too
	 * (unpinned, as the flusher may have to write this very slot). */
	if (!c->append && s->ndirty && dirty_level(c) >= c->high) {
		for (uint32_t i = s0; i < s1; i++)
			if (!bit_test(s->dirty, i))
				return SEG_WAIT_CONGESTED;
	}
	/* A sector written only in part needs its old contents first: the packet is loaded whole, or
	 * where the pool cannot take it now just those sectors. */
	bool head_partial = in % PKT_SECTOR_SIZE != 0 && !bit_test(s->valid, s0);
	bool tail_partial = (in + n) % PKT_SECTOR_SIZE != 0 && !bit_test(s->valid, s1 - 1);
	if (head_partial || tail_partial) {
		rc = cache_fill_slot(c, s, false);
		if (rc == -ENOBUFS) {
			rc = head_partial ? cache_fill_range(c, s, s0, s0 + 1, false) : 0;
			if (rc == 0 && tail_partial)
				rc = cache_fill_range(c, s, s1 - 1, s1, false);
		}
		if (rc)
			return rc == -ENOBUFS ? SEG_WAIT_POOL : rc;
		/* The lock was dropped: the flusher may have begun writing this packet meanwhile. */
		if (!c->append && (s->flags & SLOT_WRITEBACK)) {
			wait_changed(c);
			return -EAGAIN;
		}
	}
	if (!cache_hold_sectors(c, s, s0, s1))
		return SEG_WAIT_POOL;
	if (c->append) {
		/* Again: every wait above may have let the flusher move the NWA past it. */
		if (append_refused(c, s, g))
			return -EROFS;
		if (packet_first(c, s->pkt) + s1 > c->append_end)
			c->append_end = packet_first(c, s->pkt) + s1;
	}
	copy_slot(c, s, in, (uint8_t *)ub.in, n, true);
	s->open_sector = (in + n) % PKT_SECTOR_SIZE != 0;
	bool was_clean = s->ndirty == 0;
	for (uint32_t i = s0; i < s1; i++) {
		if (!bit_test(s->valid, i)) {
			bit_set(s->valid, i);
			s->nvalid++;
		}
		if (!bit_test(s->dirty, i)) {
			bit_set(s->dirty, i);
			s->ndirty++;
			c->ndirty_sect++;
		}
	}
	if (was_clean) {
		c->ndirty++;
		s->dirty_seq = c->seq + 1;
		s->dirty_ms = now_ms();
		/* A flusher asleep with nothing to time must learn the new deadline. */
		if (c->flusher_idle || dirty_level(c) >= c->high)
			pthread_cond_signal(&c->kick);
	} else if (!c->append && dirty_level(c) >= c->high) {
		pthread_cond_signal(&c->kick);
	} /* Write-once media: a packet completed at the NWA can go at once. */
	if (c->append && c->flusher_idle && packet_first(c, s->pkt) == c->accept && slot_complete(c, s))
		pthread_cond_signal(&c->kick);
	c->seq++;
	return 0;
}

int pkt_cache_write(struct pkt_cache *c, const void *buf, size_t len, uint64_t off)
{
	if (!c->geo.writable)
		return -EROFS;
	return for_each_segment(c, (union user_buf){.in = buf}, len, off, write_segment, &c->st.user_write_bytes);
}

/* Only metadata changes and a memset of sectors nobody reads: the lock is enough, and no slot is
 * pinned (an idle slot cannot go away while the lock is held). */
int pkt_cache_fill_unused(struct pkt_cache *c, uint64_t off, size_t len)
{
	int rc = check_range(c, len, off);

	if (rc || c->append || !c->geo.writable)
		return rc;
	uint64_t first = (off + PKT_SECTOR_SIZE - 1) / PKT_SECTOR_SIZE, end = (off + len) / PKT_SECTOR_SIZE;
	pthread_mutex_lock(&c->lock);
	while (first < end) {
		uint64_t pkt = packet_of(c, first), pstart = packet_first(c, pkt);
		uint64_t pend = pstart + packet_sectors(c, pkt);
		uint64_t stop = pend < end ? pend : end;
		struct slot *s = cache_lookup(c, pkt);
		/* LOADING: the loader fills the invalid sectors outside the lock; WRITEBACK: the data in
		 * flight is whole, and so nothing is invalid. */
		if (s && !(s->flags & (SLOT_LOADING | SLOT_WRITEBACK))) {
			for (uint64_t lba = first; lba < stop; lba++) {
				uint32_t i = (uint32_t)(lba - pstart);
				if (bit_test(s->valid, i))
					continue;
				/* Only free pool sectors: a gather reads into the bounce buffer and needs
				 * none, so evicting cached data for zeros would cost more than it saves. */
				if (s->sect[i] == NO_SECTOR) {
					if (c->nfree == 0)
						goto out;
					s->sect[i] = c->pool_free[--c->nfree];
				}
				memset(sector_at(c, s, i), 0, PKT_SECTOR_SIZE);
				bit_set(s->valid, i);
				s->nvalid++;
				c->st.unused_zero_sectors++;
			}
		}
		first = stop;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return 0;
}
