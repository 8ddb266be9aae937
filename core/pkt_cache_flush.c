/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Flush (fsync), the rescue of failed packets, and dropping clean ones. */
#define _GNU_SOURCE
#include "pkt_cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True while some data written up to sequence target is neither on the medium nor failed in the
 * flush of generation gen. */
static bool flush_pending(const struct pkt_cache *c, uint64_t target, uint64_t gen, bool *failed)
{
	bool pending = false;

	*failed = false;
	for (uint32_t i = 0; i < c->nslots; i++) {
		const struct slot *s = &c->slots[i];
		if ((s->flags & SLOT_WRITEBACK) && s->wb_seq <= target)
			pending = true;
		else if (s->ndirty && s->dirty_seq <= target) {
			if (s->err_gen > gen)
				*failed = true; /* failed during this flush */
			else
				pending = true;
		}
	}
	/* Write-once media: the rest waits for the failed one, and so fails with it. */
	if (pending && c->append && cache_append_blocked(c, gen)) {
		*failed = true;
		return false;
	}
	return pending;
}

int pkt_cache_flush(struct pkt_cache *c)
{
	bool failed = false;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	c->st.flushes++;
	uint64_t target = c->seq;
	uint64_t gen = ++c->flush_gen;
	c->flush_waiters++;
	pthread_cond_signal(&c->kick);
	while (flush_pending(c, target, gen, &failed)) {
		wait_changed(c);
		/* The flusher may have passed over a packet pinned meanwhile: have it look again. */
		pthread_cond_signal(&c->kick);
	}
	c->flush_waiters--;
	if (c->append && !failed)
		cache_append_flushed(c);
	pthread_mutex_unlock(&c->lock);
	if (failed)
		rc = -EIO;
	if (c->geo.writable) {
		int src = pkt_blockdev_sync(c->dev);
		pthread_mutex_lock(&c->lock);
		c->st.syncs++;
		if (src)
			c->st.write_errors++;
		if (src == 0 && c->held && c->ndirty == 0 && c->nwriteback == 0) {
			c->release_hold = true;
			pthread_cond_signal(&c->kick);
		}
		pthread_mutex_unlock(&c->lock);
		if (src && rc == 0)
			rc = src;
	}
	return rc;
}

/* A dirty packet whose last write failed, not busy; NULL when none. */
static struct slot *failed_slot(struct pkt_cache *c)
{
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		if (s->pkt != NO_PACKET && s->ndirty && s->err_gen && s->flags == 0 && s->refs == 0)
			return s;
	}
	return NULL;
}

/* A dirty, idle packet that is worn and has not failed (a failed one is the rescue's); NULL when none. */
static struct slot *worn_slot(struct pkt_cache *c)
{
	if (!c->wear_limit)
		return NULL;
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		if (s->pkt != NO_PACKET && s->ndirty && !s->err_gen && s->flags == 0 && s->refs == 0 &&
		    cache_lifetime_writes(c, s->pkt) >= c->wear_limit)
			return s;
	}
	return NULL;
}

/* Takes slot s, pinned, out of the flusher's hands: the whole packet (gathered) into c->rescue, to be
 * written there alone.  Under lock (dropped while gathering); 0 or the gather's error (s unchanged). */
static int rescue_begin(struct pkt_cache *c, struct slot *s)
{
	/* the whole packet, as it may be written elsewhere: what the cache does not hold from the medium */
	int rc = cache_gather_image(c, s, c->rescue);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < s->nsect; i++)
		if (bit_test(s->valid, i))
			memcpy(c->rescue + (size_t)i * PKT_SECTOR_SIZE, sector_at(c, s, i), PKT_SECTOR_SIZE);
	cache_writeback_begin(c, s);
	return 0;
}

/* While the write of c->rescue (nsect sectors of the packet at lba) fails with a medium error (wrc,
 * the result so far), writes it where relocate says; a spare that fails is given up in turn.  *at is
 * where the data is at the end, *moved whether a write elsewhere succeeded, *rrc relocate's refusal.
 * Without the lock.  Only a medium error is a defect: a disc taken out (-ENOMEDIUM), a refused
 * command or a read-only drive would burn spares and map the data to places never written. */
static int write_elsewhere(struct pkt_cache *c, uint64_t lba, uint32_t nsect, int wrc, pkt_relocate_fn relocate,
			   void *ctx, uint64_t *at, bool *moved, int *rrc)
{
	*at = lba;
	*moved = false;
	*rrc = 0;
	for (int tries = 0; wrc == -EIO && tries < 8; tries++) {
		uint64_t to;
		if ((*rrc = relocate(ctx, *at, &to)) != 0)
			break;
		/* Not write_packets: a short final packet keeps its length at the spare. */
		wrc = pkt_blockdev_write(c->dev, to, nsect, c->rescue);
		*moved = wrc == 0;
		*at = to;
	}
	return wrc;
}

/* The write of a rescued slot s ended (wrc) with its data at sector at.  Under lock. */
static void rescue_end(struct pkt_cache *c, struct slot *s, uint64_t at, int wrc, bool moved)
{
	uint32_t nsect = s->nsect;

	if (moved) {
		/* a cached copy of the new place is stale now */
		struct slot *d = cache_lookup(c, packet_of(c, at));
		if (d && d != s && slot_evictable(d))
			cache_release_slot(c, d);
	}
	cache_writeback_end(c, s, wrc == 0, c->rescue);
	if (wrc == 0) {
		cache_count_writes(c, at, nsect);
		c->st.packets_written++;
		c->st.medium_write_bytes += (uint64_t)nsect * PKT_SECTOR_SIZE;
		c->st.write_commands++;
	} else {
		c->st.write_errors++; /* still nowhere: dirty and failed again */
	}
	s->refs--;
	/* Moved: the packet's old place is never read again (the caller maps it elsewhere). */
	if (wrc == 0 && moved && s->refs == 0 && s->ndirty == 0 && s->flags == 0)
		cache_release_slot(c, s);
	wake_changed(c);
}

int pkt_cache_rescue_failed(struct pkt_cache *c, pkt_relocate_fn relocate, void *ctx)
{
	int rc = 0;

	/* A write-once medium has no spare places; it never writes a sector twice. */
	if (c->append)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&c->lock);
	for (struct slot *s; rc == 0 && (s = failed_slot(c)) != NULL;) {
		s->refs++;
		if ((rc = rescue_begin(c, s)) != 0) {
			s->refs--;
			break;
		}
		uint64_t lba = packet_first(c, s->pkt), at;
		uint32_t nsect = s->nsect;
		bool moved;
		pthread_mutex_unlock(&c->lock);
		/* A batch fails as a whole: first this packet on its own, then elsewhere. */
		int wrc = pkt_blockdev_write_packets(c->dev, lba, nsect, c->rescue);
		wrc = write_elsewhere(c, lba, nsect, wrc, relocate, ctx, &at, &moved, &rc);
		pthread_mutex_lock(&c->lock);
		rescue_end(c, s, at, wrc, moved);
		c->st.relocated_packets += moved;
		if (wrc && rc == 0)
			rc = wrc;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int pkt_cache_move_worn(struct pkt_cache *c, pkt_relocate_fn relocate, void *ctx)
{
	int rc = 0, nmoved = 0;

	pthread_mutex_lock(&c->lock);
	for (struct slot *s; rc == 0 && (s = worn_slot(c)) != NULL;) {
		s->refs++;
		if ((rc = rescue_begin(c, s)) != 0) {
			s->refs--;
			break;
		}
		uint64_t lba = packet_first(c, s->pkt), at;
		uint32_t nsect = s->nsect;
		bool moved;
		int refused;
		pthread_mutex_unlock(&c->lock);
		/* as though its own place had failed, but that place still works: where relocate says no,
		 * the packet goes there */
		int wrc = write_elsewhere(c, lba, nsect, -EIO, relocate, ctx, &at, &moved, &refused);
		if (refused && at == lba)
			wrc = pkt_blockdev_write_packets(c->dev, lba, nsect, c->rescue);
		pthread_mutex_lock(&c->lock);
		if (refused == -ENOSPC)
			c->wear_limit = 0; /* the spares left are kept for defects */
		rescue_end(c, s, at, wrc, moved);
		c->st.worn_moved_packets += moved;
		nmoved += moved;
		if (wrc && wrc != -EIO) /* a medium error leaves the packet failed, for the rescue */
			rc = wrc;
	}
	pthread_mutex_unlock(&c->lock);
	return rc ? rc : nmoved;
}

bool pkt_cache_has_worn(struct pkt_cache *c)
{
	bool worn = false;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; c->wear_limit && i < c->nslots && !worn; i++) {
		struct slot *s = &c->slots[i];
		worn = s->pkt != NO_PACKET && s->ndirty && cache_lifetime_writes(c, s->pkt) >= c->wear_limit;
	}
	pthread_mutex_unlock(&c->lock);
	return worn;
}

void pkt_cache_drop_clean(struct pkt_cache *c)
{
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		if (s->pkt != NO_PACKET && slot_evictable(s)) {
			cache_release_slot(c, s);
			c->st.evictions++;
		}
	}
	pthread_mutex_unlock(&c->lock);
}
