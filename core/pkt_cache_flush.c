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

int pkt_cache_rescue_failed(struct pkt_cache *c, pkt_relocate_fn relocate, void *ctx)
{
	int rc = 0;
	unsigned moved = 0;

	/* A write-once medium has no spare places; it never writes a sector twice. */
	if (c->append)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&c->lock);
	for (struct slot *s; rc == 0 && (s = failed_slot(c)) != NULL;) {
		s->refs++;
		rc = cache_fill_slot(c, s, true); /* the whole packet, as it will be written elsewhere */
		if (rc) {
			s->refs--;
			break;
		}
		/* Taken out of the flusher's hands while it is written here, alone. */
		uint64_t lba = packet_first(c, s->pkt);
		uint32_t nsect = s->nsect;
		memcpy(c->rescue, s->data, (size_t)nsect * PKT_SECTOR_SIZE);
		cache_writeback_begin(c, s);
		pthread_mutex_unlock(&c->lock);
		/* A batch fails as a whole: first this packet on its own, then elsewhere. */
		int wrc = pkt_blockdev_write_packets(c->dev, lba, nsect, c->rescue);
		uint64_t at = lba;
		/* Only a medium error is a defect: a disc taken out (-ENOMEDIUM), a refused command or a
		 * read-only drive would burn spares and map the data to places never written. */
		for (int tries = 0; wrc == -EIO && tries < 8; tries++) {
			uint64_t to;
			if ((rc = relocate(ctx, lba, &to)) != 0)
				break;
			/* Not write_packets: a short final packet keeps its length at the spare. */
			wrc = pkt_blockdev_write(c->dev, to, nsect, c->rescue);
			if (wrc == 0)
				moved++;
			lba = at = to; /* a spare that fails is given up in turn */
		}
		pthread_mutex_lock(&c->lock);
		if (moved) {
			/* a cached copy of the new place is stale now */
			struct slot *d = cache_lookup(c, packet_of(c, at));
			if (d && d != s && slot_evictable(d))
				cache_release_slot(c, d);
		}
		cache_writeback_end(c, s, wrc == 0);
		if (wrc == 0) {
			cache_count_writes(c, lba, nsect);
			c->st.packets_written++;
			c->st.medium_write_bytes += (uint64_t)nsect * PKT_SECTOR_SIZE;
			c->st.write_commands++;
		} else {
			c->st.write_errors++; /* still nowhere: dirty and failed again */
			if (rc == 0)
				rc = wrc;
		}
		s->refs--;
		/* Moved: the packet's old place is never read again (the caller maps it elsewhere). */
		if (wrc == 0 && moved && s->refs == 0 && s->ndirty == 0 && s->flags == 0)
			cache_release_slot(c, s);
		c->st.relocated_packets += moved;
		moved = 0;
		wake_changed(c);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
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
