/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The packet cache: creation and destruction (see private/pkt_cache_int.h for its files). */
#define _GNU_SOURCE
#include "pkt_cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The memory of a cache whose flusher is not running (any part may be missing). */
static void free_cache(struct pkt_cache *c)
{
	if (c->arena && c->arena != MAP_FAILED)
		munmap(c->arena, c->arena_len);
	free(c->slots);
	free(c->bits);
	free(c->bucket);
	free(c->order);
	free(c->pool_free);
	free(c->sect_tab);
	free(c->wb_from);
	free(c->wb_to);
	free(c->iov);
	free(c);
}

int pkt_cache_create(struct pkt_blockdev *dev, const struct pkt_cache_config *cfg, struct pkt_cache **out, char *err,
		     size_t errlen)
{
	const struct pkt_geometry *g = &dev->geo;
	struct pkt_cache *c;
	uint64_t cache_bytes = cfg && cfg->cache_bytes ? cfg->cache_bytes : 32ull << 20;
	unsigned high_pct = cfg && cfg->dirty_high_pct ? cfg->dirty_high_pct : 75;
	unsigned low_pct = cfg && cfg->dirty_low_pct ? cfg->dirty_low_pct : 50;
	unsigned age = cfg && cfg->dirty_age_ms ? cfg->dirty_age_ms : 5000;
	uint32_t batch_bytes = cfg && cfg->max_batch_bytes ? cfg->max_batch_bytes : 1u << 20;

	if (g->sector_size != PKT_SECTOR_SIZE || g->packet_sectors == 0 || g->packet_sectors > PKT_MAX_PACKET_SECTORS ||
	    g->sector_count == 0) {
		snprintf(err, errlen, "unsupported geometry (sector %u, packet %u, %" PRIu64 " sectors)",
			 g->sector_size, g->packet_sectors, g->sector_count);
		return -EINVAL;
	}
	if (high_pct > 100 || low_pct >= high_pct) {
		snprintf(err, errlen, "dirty watermarks must satisfy low < high <= 100 (got %u and %u)", low_pct,
			 high_pct);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->dev = dev;
	c->geo = *g;
	c->ps = g->packet_sectors;
	c->stride = c->ps;
	c->append = g->append_only;
	if (c->append) {
		c->stride += g->link_sectors;
		int rc = cache_append_start(c, err, errlen);
		if (rc) {
			free(c);
			return rc;
		}
	}
	c->npackets = (g->sector_count + c->phase + c->stride - 1) / c->stride;
	c->words = (c->stride + 63) / 64;
	uint64_t pbytes = (uint64_t)c->stride * PKT_SECTOR_SIZE;
	uint64_t whole = cache_bytes / pbytes; /* whole packets the memory holds */
	if (whole == 0)
		whole = 1;
	if (whole > c->npackets)
		whole = c->npackets; /* no point caching more than the medium holds */
	/* Rewritable media: more slots than whole packets, so that the pool can hold the dirty sectors of
	 * many packets (a slot costs its tables, not a packet); write-once media keep whole packets. */
	uint64_t nslots = whole;
	if (!c->append && whole * c->stride / 4 > nslots)
		nslots = whole * c->stride / 4 < c->npackets ? whole * c->stride / 4 : c->npackets;
	if (nslots > (1u << 24) || whole * c->stride > (1u << 30)) {
		snprintf(err, errlen, "cache of %" PRIu64 " packets is too large", whole);
		free(c);
		return -EINVAL;
	}
	c->nslots = (uint32_t)nslots;
	c->pool_sectors = (uint32_t)(whole * c->stride);
	uint64_t levels = c->append ? whole : c->pool_sectors; /* what dirty_level counts */
	c->high = (uint32_t)(levels * high_pct / 100);
	if (c->high == 0)
		c->high = 1;
	c->low = (uint32_t)(levels * low_pct / 100);
	if (c->low >= c->high)
		c->low = c->high - 1;
	c->age_ms = age;
	c->batch_packets = (uint32_t)(batch_bytes / pbytes);
	if (c->batch_packets == 0)
		c->batch_packets = 1;
	if (c->batch_packets > whole)
		c->batch_packets = (uint32_t)whole;
	if (c->append && g->link_sectors)
		c->batch_packets = 1; /* each write command is one packet, and link sectors follow it */

	uint32_t nbuckets = 1;
	while (nbuckets < 2 * c->nslots)
		nbuckets <<= 1;
	c->bucket_mask = nbuckets - 1;
	/* the pool, the flusher's bounce buffer, one packet for pkt_cache_rescue_failed, the fill buffers */
	size_t batch_sectors = (size_t)c->batch_packets * c->stride;
	c->arena_len =
		((size_t)c->pool_sectors + batch_sectors + (1 + FILL_BUFFERS) * (size_t)c->stride) * PKT_SECTOR_SIZE;
	/* Preallocated and faulted in now: the write path never allocates or page-faults. */
	c->arena = mmap(NULL, c->arena_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->bits = calloc((size_t)c->nslots * 2 * c->words, sizeof(uint64_t));
	c->bucket = malloc(nbuckets * sizeof(uint32_t));
	c->order = malloc(c->nslots * sizeof(uint32_t));
	c->pool_free = malloc((size_t)c->pool_sectors * sizeof(uint32_t));
	c->sect_tab = malloc((size_t)c->nslots * c->stride * sizeof(uint32_t));
	c->wb_from = malloc(batch_sectors * sizeof(uint32_t));
	c->wb_to = malloc(batch_sectors * sizeof(uint32_t));
	c->iov = malloc(batch_sectors * sizeof(struct iovec));
	if (c->arena == MAP_FAILED || !c->slots || !c->bits || !c->bucket || !c->order || !c->pool_free ||
	    !c->sect_tab || !c->wb_from || !c->wb_to || !c->iov) {
		snprintf(err, errlen, "cannot allocate a cache of %" PRIu64 " bytes", (uint64_t)c->arena_len);
		free_cache(c);
		return -ENOMEM;
	}
	c->st.memory_locked = mlock(c->arena, c->arena_len) == 0;
	c->pool = c->arena;
	c->bounce = c->pool + (size_t)c->pool_sectors * PKT_SECTOR_SIZE;
	c->rescue = c->bounce + batch_sectors * PKT_SECTOR_SIZE;
	c->fill = c->rescue + pbytes;
	/* Popped from the top: the lowest sectors first, so that a streaming writer's are adjacent. */
	c->nfree = c->append ? 0 : c->pool_sectors;
	for (uint32_t i = 0; i < c->nfree; i++)
		c->pool_free[i] = c->nfree - 1 - i;
	for (uint32_t i = 0; i < nbuckets; i++)
		c->bucket[i] = NO_SLOT;
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		s->pkt = NO_PACKET;
		s->sect = c->sect_tab + (size_t)i * c->stride;
		for (uint32_t k = 0; k < c->stride; k++)
			s->sect[k] = c->append ? i * c->stride + k : NO_SECTOR;
		s->valid = c->bits + (size_t)i * 2 * c->words;
		s->dirty = s->valid + c->words;
		s->hnext = i + 1 < c->nslots ? i + 1 : NO_SLOT;
		s->lru_prev = s->lru_next = NO_SLOT;
	}
	c->free_head = 0;
	c->lru_head = c->lru_tail = NO_SLOT;
	c->st.capacity_packets = c->nslots;
	c->st.cache_bytes = (uint64_t)c->pool_sectors * PKT_SECTOR_SIZE;
	c->st.pool_sectors = c->pool_sectors;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	pthread_cond_init(&c->kick, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&c->flusher, NULL, cache_flusher_main, c);
	if (rc) {
		snprintf(err, errlen, "cannot start the flusher thread: %s", strerror(rc));
		c->flusher = 0;
		pkt_cache_destroy(c);
		return -rc;
	}
	*out = c;
	return 0;
}

int pkt_cache_destroy(struct pkt_cache *c)
{
	int rc = 0;

	if (!c)
		return 0;
	if (c->flusher) {
		if (c->geo.writable)
			rc = pkt_cache_flush(c);
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->kick);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->flusher, NULL);
	}
	if (c->held)
		pkt_blockdev_hold(c->dev, false);
	pthread_cond_destroy(&c->changed);
	pthread_cond_destroy(&c->kick);
	pthread_mutex_destroy(&c->lock);
	free_cache(c);
	return rc;
}
