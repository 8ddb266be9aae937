/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The packet cache's slots: index, LRU, free list, the sector pool, pinning and filling. */
#define _GNU_SOURCE
#include "pkt_cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- index, LRU and free list (all under c->lock) ---- */

struct slot *cache_lookup(struct pkt_cache *c, uint64_t pkt)
{
	for (uint32_t i = c->bucket[hash_pkt(c, pkt)]; i != NO_SLOT; i = c->slots[i].hnext)
		if (c->slots[i].pkt == pkt)
			return &c->slots[i];
	return NULL;
}

static uint32_t slot_index(const struct pkt_cache *c, const struct slot *s)
{
	return (uint32_t)(s - c->slots);
}

static void lru_unlink(struct pkt_cache *c, struct slot *s)
{
	if (s->lru_prev != NO_SLOT)
		c->slots[s->lru_prev].lru_next = s->lru_next;
	else
		c->lru_head = s->lru_next;
	if (s->lru_next != NO_SLOT)
		c->slots[s->lru_next].lru_prev = s->lru_prev;
	else
		c->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NO_SLOT;
}

static void lru_push_head(struct pkt_cache *c, struct slot *s)
{
	uint32_t i = slot_index(c, s);

	s->lru_prev = NO_SLOT;
	s->lru_next = c->lru_head;
	if (c->lru_head != NO_SLOT)
		c->slots[c->lru_head].lru_prev = i;
	c->lru_head = i;
	if (c->lru_tail == NO_SLOT)
		c->lru_tail = i;
}

static void lru_touch(struct pkt_cache *c, struct slot *s)
{
	if (c->lru_head == slot_index(c, s))
		return;
	lru_unlink(c, s);
	lru_push_head(c, s);
}

static void hash_remove(struct pkt_cache *c, struct slot *s)
{
	uint32_t *pp = &c->bucket[hash_pkt(c, s->pkt)];
	uint32_t i = slot_index(c, s);

	while (*pp != i)
		pp = &c->slots[*pp].hnext;
	*pp = s->hnext;
}

/* ---- the sector pool (under c->lock; rewritable media: a write-once slot owns its sectors) ---- */

void cache_drop_sector(struct pkt_cache *c, struct slot *s, uint32_t i)
{
	c->pool_free[c->nfree++] = s->sect[i];
	s->sect[i] = NO_SECTOR;
	if (bit_test(s->valid, i)) {
		s->valid[i / 64] &= ~((uint64_t)1 << (i % 64));
		s->nvalid--;
	}
}

/* Every sector s holds back to the pool. */
static void drop_all_sectors(struct pkt_cache *c, struct slot *s)
{
	if (c->append)
		return;
	/* the last first: the stack gives them back in ascending order, adjacent for the next packet */
	for (uint32_t i = s->nsect; i-- > 0;)
		if (s->sect[i] != NO_SECTOR)
			cache_drop_sector(c, s, i);
}

static void evict_slot(struct pkt_cache *c, struct slot *s);

/* Frees pool sectors until need are free: the least recently used clean, idle slots other than
 * keep go whole, then the clean sectors of idle dirty ones (a dirty slot's data is kept; the rest
 * of its packet is gathered again when it is written).  True when need are free. */
static bool pool_reclaim(struct pkt_cache *c, uint32_t need, const struct slot *keep)
{
	for (uint32_t i = c->lru_tail; i != NO_SLOT && c->nfree < need;) {
		struct slot *s = &c->slots[i];
		i = s->lru_prev;
		if (s != keep && slot_evictable(s)) {
			evict_slot(c, s);
			c->st.evictions++;
		}
	}
	for (uint32_t i = c->lru_tail; i != NO_SLOT && c->nfree < need; i = c->slots[i].lru_prev) {
		struct slot *s = &c->slots[i];
		if (s == keep || s->refs || s->flags || s->nvalid == s->ndirty)
			continue;
		for (uint32_t k = 0; k < s->nsect && c->nfree < need; k++)
			if (s->sect[k] != NO_SECTOR && !bit_test(s->dirty, k))
				cache_drop_sector(c, s, k);
	}
	return c->nfree >= need;
}

bool cache_hold_sectors(struct pkt_cache *c, struct slot *s, uint32_t from, uint32_t to)
{
	uint32_t need = 0;

	if (c->append)
		return true;
	for (uint32_t i = from; i < to; i++)
		need += s->sect[i] == NO_SECTOR;
	if (need == 0)
		return true;
	if (c->nfree < need && !pool_reclaim(c, need, s))
		return false;
	for (uint32_t i = from; i < to; i++)
		if (s->sect[i] == NO_SECTOR)
			s->sect[i] = c->pool_free[--c->nfree];
	return true;
}

int cache_wait_pool(struct pkt_cache *c)
{
	if (writeback_stuck(c))
		return -EIO;
	c->st.pool_waits++;
	c->want_slot++;
	pthread_cond_signal(&c->kick);
	wait_changed(c);
	c->want_slot--;
	return 0;
}

int cache_gather_image(struct pkt_cache *c, struct slot *s, uint8_t *buf)
{
	uint64_t first = packet_first(c, s->pkt);
	uint32_t data = slot_data_sectors(c, s);

	/* The slot is pinned: no sector it holds is dropped meanwhile, and writers only add ones. */
	for (uint32_t i = 0; i < data;) {
		if (bit_test(s->valid, i)) {
			i++;
			continue;
		}
		uint32_t j = i;
		while (j < data && !bit_test(s->valid, j))
			j++;
		pthread_mutex_unlock(&c->lock);
		int rc = pkt_blockdev_read(c->dev, first + i, j - i, buf + (size_t)i * PKT_SECTOR_SIZE);
		pthread_mutex_lock(&c->lock);
		if (rc) {
			c->st.read_errors++;
			return rc;
		}
		c->st.gather_read_sectors += j - i;
		c->st.gather_read_commands++;
		i = j;
	}
	return 0;
}

void cache_keep_image(struct pkt_cache *c, struct slot *s, const uint8_t *img, bool reclaim)
{
	uint32_t data = slot_data_sectors(c, s);

	/* A slot being filled: what the fill reads is the medium's; the retry gathers the rest. */
	if (c->append || !img || (s->flags & SLOT_LOADING))
		return;
	for (uint32_t i = 0; i < data; i++) {
		if (bit_test(s->valid, i) || (!reclaim && c->nfree == 0) || !cache_hold_sectors(c, s, i, i + 1))
			continue;
		memcpy(sector_at(c, s, i), img + (size_t)i * PKT_SECTOR_SIZE, PKT_SECTOR_SIZE);
		bit_set(s->valid, i);
		s->nvalid++;
	}
}

void cache_release_slot(struct pkt_cache *c, struct slot *s)
{
	drop_all_sectors(c, s);
	hash_remove(c, s);
	lru_unlink(c, s);
	s->pkt = NO_PACKET;
	c->ncached--;
	s->hnext = c->free_head;
	c->free_head = slot_index(c, s);
}

static void evict_slot(struct pkt_cache *c, struct slot *s)
{
	cache_release_slot(c, s);
}

/* Takes a free slot, or evicts the least recently used clean one.  NULL when every slot is dirty or
 * busy. */
static struct slot *take_slot(struct pkt_cache *c, uint64_t pkt)
{
	struct slot *s = NULL;

	if (c->free_head != NO_SLOT) {
		s = &c->slots[c->free_head];
		c->free_head = s->hnext;
		c->ncached++;
	} else {
		for (uint32_t i = c->lru_tail; i != NO_SLOT; i = c->slots[i].lru_prev) {
			if (slot_evictable(&c->slots[i])) {
				s = &c->slots[i];
				break;
			}
		}
		if (!s)
			return NULL;
		evict_slot(c, s);
		c->st.evictions++;
		s = &c->slots[c->free_head];
		c->free_head = s->hnext;
		c->ncached++;
	}
	s->pkt = pkt;
	s->nsect = packet_sectors(c, pkt);
	memset(s->valid, 0, c->words * sizeof(uint64_t));
	memset(s->dirty, 0, c->words * sizeof(uint64_t));
	s->ndirty = s->nvalid = 0;
	s->flags = 0;
	s->refs = 0;
	s->err_gen = 0;
	s->open_sector = false;
	uint32_t b = hash_pkt(c, pkt);
	s->hnext = c->bucket[b];
	c->bucket[b] = slot_index(c, s);
	lru_push_head(c, s);
	return s;
}

/* Returns the slot of pkt pinned, allocating it if needed; waits for a clean slot. */
int cache_get_slot(struct pkt_cache *c, uint64_t pkt, struct slot **out, bool *hit)
{
	bool waited = false;

	for (;;) {
		struct slot *s = cache_lookup(c, pkt);
		if (s) {
			if (s->flags & SLOT_LOADING) {
				wait_changed(c);
				continue;
			}
			*hit = true;
			s->refs++;
			lru_touch(c, s);
			*out = s;
			return 0;
		}
		s = take_slot(c, pkt);
		if (s) {
			*hit = false;
			s->refs++;
			*out = s;
			return 0;
		}
		if (writeback_stuck(c))
			return -EIO;
		if (!waited) {
			c->st.slot_waits++;
			waited = true;
		}
		c->want_slot++;
		c->slot_unmet++; /* write-once media pad for it (pkt_cache_int.h) */
		uint64_t gen = c->eased_gen;
		pthread_cond_signal(&c->kick);
		wait_changed(c);
		c->want_slot--;
		if (c->eased_gen == gen) /* else the flusher took it off as it woke it */
			c->slot_unmet--;
	}
}

void cache_put_slot(struct pkt_cache *c, struct slot *s)
{
	s->refs--;
	/* A slot that was allocated but never filled holds nothing: give it back at once. */
	if (s->refs == 0 && s->nvalid == 0 && s->flags == 0 && s->ndirty == 0)
		cache_release_slot(c, s);
	wake_changed(c);
}

/* Write-once media: a packet at or past the NWA is not recorded (append_reads_zeros), and reads as zeros. */
static void zero_fill(struct pkt_cache *c, struct slot *s)
{
	for (uint32_t i = 0; i < s->nsect; i++) {
		if (!bit_test(s->valid, i)) {
			memset(sector_at(c, s, i), 0, PKT_SECTOR_SIZE);
			bit_set(s->valid, i);
			s->nvalid++;
		}
	}
}

int cache_fill_slot(struct pkt_cache *c, struct slot *s, bool gather)
{
	return cache_fill_range(c, s, 0, s->nsect, gather);
}

/* Whether the pool sectors of [i, j) of s are adjacent (always on write-once media). */
static bool sectors_adjacent(const struct slot *s, uint32_t i, uint32_t j)
{
	for (uint32_t k = i + 1; k < j; k++)
		if (s->sect[k] != s->sect[i] + (k - i))
			return false;
	return true;
}

/* A fill buffer, waiting for one (its holder is in a backend read); the lock is held. */
static uint32_t take_fill_buffer(struct pkt_cache *c)
{
	while (c->fill_busy == (1u << FILL_BUFFERS) - 1)
		wait_changed(c);
	uint32_t b = (uint32_t)__builtin_ctz(~c->fill_busy);
	c->fill_busy |= 1u << b;
	return b;
}

/* One backend read per run of invalid sectors, straight into the pool where the run's sectors are
 * adjacent, else through a fill buffer.  Drops the lock meanwhile; the LOADING flag keeps everyone
 * else from filling the slot. */
int cache_fill_range(struct pkt_cache *c, struct slot *s, uint32_t from, uint32_t to, bool gather)
{
	int rc = 0;

	/* Another operation may be filling this slot already: reading twice would double-count. */
	while (s->flags & SLOT_LOADING)
		wait_changed(c);
	if (s->nvalid == s->nsect)
		return 0;
	uint64_t first = packet_first(c, s->pkt);
	if (c->append && append_reads_zeros(c, first)) {
		zero_fill(c, s);
		return 0;
	}
	if (!cache_hold_sectors(c, s, from, to))
		return -ENOBUFS;
	s->flags |= SLOT_LOADING;
	uint32_t i = from;
	while (i < to && rc == 0) {
		if (bit_test(s->valid, i)) {
			i++;
			continue;
		}
		uint32_t j = i;
		while (j < to && !bit_test(s->valid, j))
			j++;
		bool direct = sectors_adjacent(s, i, j);
		uint32_t b = direct ? 0 : take_fill_buffer(c);
		uint8_t *dst = direct ? sector_at(c, s, i) : c->fill + (size_t)b * c->stride * PKT_SECTOR_SIZE;
		pthread_mutex_unlock(&c->lock);
		rc = pkt_blockdev_read(c->dev, first + i, j - i, dst);
		pthread_mutex_lock(&c->lock);
		if (rc == 0) {
			for (uint32_t k = i; k < j; k++) {
				if (!direct)
					memcpy(sector_at(c, s, k), dst + (size_t)(k - i) * PKT_SECTOR_SIZE,
					       PKT_SECTOR_SIZE);
				bit_set(s->valid, k);
			}
			s->nvalid += j - i;
			if (gather) {
				c->st.gather_read_sectors += j - i;
				c->st.gather_read_commands++;
			} else {
				c->st.miss_read_sectors += j - i;
				c->st.miss_read_commands++;
			}
		} else {
			c->st.read_errors++;
		}
		if (!direct)
			c->fill_busy &= ~(1u << b);
		i = j;
	}
	/* Rewritable media hold only valid sectors: the ones a failed read did not fill go back. */
	for (uint32_t k = from; !c->append && k < to; k++)
		if (s->sect[k] != NO_SECTOR && !bit_test(s->valid, k))
			cache_drop_sector(c, s, k);
	s->flags &= ~(uint32_t)SLOT_LOADING;
	wake_changed(c);
	return rc;
}
