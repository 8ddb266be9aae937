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
	uint64_t nslots = cache_bytes / pbytes;
	if (nslots == 0)
		nslots = 1;
	if (nslots > c->npackets)
		nslots = c->npackets; /* no point caching more than the medium holds */
	if (nslots > (1u << 24)) {
		snprintf(err, errlen, "cache of %" PRIu64 " packets is too large", nslots);
		free(c);
		return -EINVAL;
	}
	c->nslots = (uint32_t)nslots;
	c->high = (uint32_t)(nslots * high_pct / 100);
	if (c->high == 0)
		c->high = 1;
	c->low = (uint32_t)(nslots * low_pct / 100);
	if (c->low >= c->high)
		c->low = c->high - 1;
	c->age_ms = age;
	c->batch_packets = (uint32_t)(batch_bytes / pbytes);
	if (c->batch_packets == 0)
		c->batch_packets = 1;
	if (c->batch_packets > c->nslots)
		c->batch_packets = c->nslots;
	if (c->append && g->link_sectors)
		c->batch_packets = 1; /* each write command is one packet, and link sectors follow it */

	uint32_t nbuckets = 1;
	while (nbuckets < 2 * c->nslots)
		nbuckets <<= 1;
	c->bucket_mask = nbuckets - 1;
	/* slots, the flusher's bounce buffer, and one packet for pkt_cache_rescue_failed */
	c->arena_len = (size_t)(c->nslots + c->batch_packets + 1) * (size_t)pbytes;
	/* Preallocated and faulted in now: the write path never allocates or page-faults. */
	c->arena = mmap(NULL, c->arena_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->bits = calloc((size_t)c->nslots * 2 * c->words, sizeof(uint64_t));
	c->bucket = malloc(nbuckets * sizeof(uint32_t));
	c->order = malloc(c->nslots * sizeof(uint32_t));
	c->iov = malloc(c->batch_packets * sizeof(struct iovec));
	if (c->arena == MAP_FAILED || !c->slots || !c->bits || !c->bucket || !c->order || !c->iov) {
		snprintf(err, errlen, "cannot allocate a cache of %" PRIu64 " bytes", (uint64_t)c->arena_len);
		free_cache(c);
		return -ENOMEM;
	}
	c->st.memory_locked = mlock(c->arena, c->arena_len) == 0;
	c->bounce = c->arena + (size_t)c->nslots * pbytes;
	c->rescue = c->bounce + (size_t)c->batch_packets * pbytes;
	for (uint32_t i = 0; i < nbuckets; i++)
		c->bucket[i] = NO_SLOT;
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		s->pkt = NO_PACKET;
		s->data = c->arena + (size_t)i * pbytes;
		s->valid = c->bits + (size_t)i * 2 * c->words;
		s->dirty = s->valid + c->words;
		s->hnext = i + 1 < c->nslots ? i + 1 : NO_SLOT;
		s->lru_prev = s->lru_next = NO_SLOT;
	}
	c->free_head = 0;
	c->lru_head = c->lru_tail = NO_SLOT;
	c->st.capacity_packets = c->nslots;
	c->st.cache_bytes = (uint64_t)c->nslots * pbytes;

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
