/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packet cache on write-once media (geo.append_only): what the medium can take next, padding,
 * and sessions.
 *
 * The medium takes a packet only at its NWA, so the flusher writes the dirty packet that starts at
 * c->accept when it is complete, and nothing else.  Dirty packets above a hole wait for it.  When
 * somebody waits for what only padding can give (a flush; a writer at the dirty high watermark or
 * wanting a slot while every slot holds such waiting packets), the flusher pads instead: it writes
 * zeros over the hole up to the lowest dirty packet and then that packet with its unwritten
 * sectors as zeros.  Those sectors are lost to later writes (-EROFS): a writer that allocates in
 * ascending order from pkt_cache_next_writable never meets that, and one that scatters its writes
 * meets it only when they span more than the cache.  Waiting for a flush that the waiter itself
 * would have to call would be a deadlock; padding costs a few sectors of the medium.
 */
#define _GNU_SOURCE
#include "pkt_cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int slots_in_use(const struct pkt_cache *c);

/* The packet grid through nwa: a packet starts there; the cache holds no packet. */
static void lay_grid(struct pkt_cache *c, uint64_t nwa)
{
	if (nwa > c->geo.sector_count)
		nwa = c->geo.sector_count;
	c->accept = c->append_end = nwa;
	c->phase = (uint32_t)((c->stride - nwa % c->stride) % c->stride);
}

/* The grid laid anew through nwa, every cached packet (all clean, none in use) dropped. */
static void relay_grid(struct pkt_cache *c, uint64_t nwa)
{
	for (uint32_t i = 0; i < c->nslots; i++)
		if (c->slots[i].pkt != NO_PACKET)
			cache_release_slot(c, &c->slots[i]);
	lay_grid(c, nwa);
	c->short_end = 0;
}

/* The NWA of the medium now, or its capacity when it takes nothing more. */
static int medium_nwa(struct pkt_cache *c, uint64_t *nwa)
{
	struct pkt_append_state st;
	int rc = pkt_blockdev_append_state(c->dev, &st);

	if (rc == 0)
		*nwa = st.closed ? c->geo.sector_count : st.next_writable;
	return rc;
}

int cache_append_start(struct pkt_cache *c, char *err, size_t errlen)
{
	uint64_t nwa;
	int rc = medium_nwa(c, &nwa);

	if (rc && !c->geo.writable)
		nwa = c->geo.sector_count; /* only read: everything is read from the medium */
	else if (rc) {
		snprintf(err, errlen, "cannot read where the write-once medium stands: %s", strerror(-rc));
		return rc;
	}
	lay_grid(c, nwa);
	return 0;
}

static const struct slot *lowest_dirty_of(const struct pkt_cache *c)
{
	const struct slot *low = NULL;

	for (uint32_t i = 0; i < c->nslots; i++) {
		const struct slot *s = &c->slots[i];
		if ((s->ndirty || (s->flags & SLOT_WRITEBACK)) && (!low || s->pkt < low->pkt))
			low = s;
	}
	return low;
}

static struct slot *lowest_dirty(struct pkt_cache *c)
{
	const struct slot *low = lowest_dirty_of(c);

	return low ? &c->slots[low - c->slots] : NULL;
}

bool cache_append_blocked(const struct pkt_cache *c, uint64_t gen)
{
	const struct slot *low = lowest_dirty_of(c);

	return c->nwriteback == 0 && low && low->ndirty && low->err_gen > gen;
}

/* How many zeros to write at c->accept on the way to sector to: whole packets, one a command where
 * the medium loses link sectors after each. */
static uint32_t zeros_before(const struct pkt_cache *c, uint64_t to)
{
	uint64_t n = to - c->accept;
	uint64_t limit = (uint64_t)c->batch_packets * c->ps;

	if (c->geo.link_sectors) {
		uint32_t data = packet_sectors(c, packet_of(c, c->accept));
		limit = data < c->ps ? data : c->ps;
	}
	return (uint32_t)(n < limit ? n : limit);
}

uint32_t cache_pick_append(struct pkt_cache *c, uint64_t now, uint64_t *next_deadline, uint32_t *zeros)
{
	/* Somebody waits for what only padding may give (see the top of this file): a slot, when every
	 * one is dirty (busy ones come free on their own), or a writer at the high watermark; either
	 * unless a packet written since it began to wait has woken it (one more pad would be lost to
	 * it: it may find what it wants in the slot that another waiter woken with it took). */
	bool pad = c->flush_waiters || c->congested_unmet || (c->slot_unmet && c->ndirty >= c->nslots);
	bool urgent = pad || c->draining || c->want_slot;
	struct slot *low = lowest_dirty(c);

	*next_deadline = UINT64_MAX;
	*zeros = 0;
	if (!low || !cache_flushable(c, low))
		return 0;
	uint64_t first = packet_first(c, low->pkt);
	if (first > c->accept) {
		if (pad)
			*zeros = zeros_before(c, first);
		return 0;
	}
	if (!slot_complete(c, low) && !pad)
		return 0; /* the rest of it comes, or a flush */
	if (!urgent && low->dirty_ms + c->age_ms > now) {
		*next_deadline = low->dirty_ms + c->age_ms;
		return 0;
	}
	uint32_t limit = c->geo.link_sectors ? 1 : c->batch_packets;
	uint32_t n = 0;
	c->order[n++] = (uint32_t)(low - c->slots);
	while (n < limit) {
		/* Only a flush pads more than the one packet that waiters need. */
		struct slot *s = cache_lookup(c, low->pkt + n);
		if (!s || !cache_flushable(c, s) || !(slot_complete(c, s) || c->flush_waiters))
			break;
		c->order[n++] = (uint32_t)(s - c->slots);
	}
	return n;
}

void cache_append_advance(struct pkt_cache *c, uint64_t lba, uint32_t count)
{
	uint64_t next = pkt_geometry_append_lba(&c->geo, lba, count);

	c->accept = next < c->geo.sector_count ? next : c->geo.sector_count;
}

void cache_append_done(struct pkt_cache *c, uint64_t lba, uint32_t count, uint32_t padded, int rc)
{
	if (rc) {
		c->accept = lba; /* nothing new on the medium: a later flush tries the same place */
		return;
	}
	c->st.padded_sectors += padded;
	if (c->geo.link_sectors && count < c->ps)
		c->short_end = lba + count + c->geo.link_sectors; /* the link sectors follow it */
}

/* Whether the dirty sectors of s are exactly its first ndirty ones. */
static bool dirty_prefix(const struct pkt_cache *c, const struct slot *s)
{
	for (uint32_t i = 0; i < s->ndirty; i++)
		if (!(s->dirty[i / 64] >> (i % 64) & 1))
			return false;
	(void)c;
	return true;
}

uint32_t cache_append_write_len(const struct pkt_cache *c, const struct slot *s)
{
	uint32_t data = slot_data_sectors(c, s);

	/* Only a flush that nobody else waits on, for the one dirty packet: everything after it is laid
	 * on a new grid (cache_append_flushed), which needs the cache to itself. */
	if (!c->geo.link_sectors || !c->flush_waiters || c->congested || c->want_slot || c->ndirty != 1 || !s->ndirty ||
	    s->ndirty >= data || s->open_sector || !dirty_prefix(c, s))
		return data;
	return s->ndirty;
}

void cache_append_flushed(struct pkt_cache *c)
{
	int rc;

	if (!c->short_end)
		return;
	while ((rc = slots_in_use(c)) == 1)
		wait_changed(c);
	if (rc) /* written meanwhile, on the old grid: the medium refuses it, the next flush tries again */
		return;
	relay_grid(c, c->short_end);
}

void cache_write_zeros(struct pkt_cache *c, uint32_t zeros)
{
	uint64_t lba = c->accept;

	memset(c->bounce, 0, (size_t)zeros * PKT_SECTOR_SIZE);
	cache_append_advance(c, lba, zeros);
	/* A reader of these packets meanwhile gets zeros, as the medium will hold (append_reads_zeros). */
	c->zeros_from = lba;
	c->zeros_to = c->accept;
	pthread_mutex_unlock(&c->lock);
	int rc = pkt_blockdev_write_packets(c->dev, lba, zeros, c->bounce);
	pthread_mutex_lock(&c->lock);
	c->zeros_from = c->zeros_to = 0;
	cache_append_done(c, lba, zeros, zeros, rc);
	if (rc == 0) {
		c->st.packets_written += (zeros + c->ps - 1) / c->ps;
		c->st.medium_write_bytes += (uint64_t)zeros * PKT_SECTOR_SIZE;
		c->st.write_commands++;
	} else {
		/* The packet that waits for these zeros fails with them: only a new flush retries. */
		struct slot *low = lowest_dirty(c);
		if (low && low->ndirty) {
			if (low->err_gen == 0)
				c->nerror++;
			low->err_gen = c->flush_gen + 1;
		}
		c->st.write_errors++;
	}
	wake_changed(c);
}

int pkt_cache_next_writable(struct pkt_cache *c, uint64_t *lba)
{
	if (!c->append)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&c->lock);
	uint64_t x = c->accept > c->append_end ? c->accept : c->append_end;
	if (x < c->geo.sector_count && x - packet_first(c, packet_of(c, x)) >= c->ps)
		x = packet_first(c, packet_of(c, x) + 1); /* not in the link sectors after a packet */
	pthread_mutex_unlock(&c->lock);
	*lba = x < c->geo.sector_count ? x : c->geo.sector_count;
	return 0;
}

int pkt_cache_append_state(struct pkt_cache *c, struct pkt_append_state *out)
{
	return pkt_blockdev_append_state(c->dev, out);
}

/* Whether a slot is dirty (-EBUSY), else busy (1), else 0. */
static int slots_in_use(const struct pkt_cache *c)
{
	int busy = 0;

	for (uint32_t i = 0; i < c->nslots; i++) {
		const struct slot *s = &c->slots[i];
		if (s->ndirty || (s->flags & SLOT_WRITEBACK))
			return -EBUSY;
		if (s->pkt != NO_PACKET && !slot_evictable(s))
			busy = 1;
	}
	return busy;
}

/* After the medium's NWA moved on its own (a closed session starts the next one further on): the
 * grid is laid anew, so no packet may be cached.  Waits for reads in progress; -EBUSY when
 * something was written meanwhile (on the old grid). */
static int restart_grid(struct pkt_cache *c, uint64_t nwa)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	while ((rc = slots_in_use(c)) == 1)
		wait_changed(c);
	if (rc == 0)
		relay_grid(c, nwa);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int pkt_cache_close_session(struct pkt_cache *c, enum pkt_close_kind kind)
{
	uint64_t nwa;

	if (!c->append)
		return -EOPNOTSUPP;
	int rc = pkt_cache_flush(c);
	if (rc == 0)
		rc = pkt_blockdev_close_session(c->dev, kind);
	if (rc == 0)
		rc = medium_nwa(c, &nwa);
	return rc ? rc : restart_grid(c, nwa);
}
