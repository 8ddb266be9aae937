/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The packet cache's slots: index, LRU, free list, pinning and filling. */
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

void cache_release_slot(struct pkt_cache *c, struct slot *s)
{
	hash_remove(c, s);
	lru_unlink(c, s);
	s->pkt = NO_PACKET;
	c->ncached--;
	s->hnext = c->free_head;
	c->free_head = slot_index(c, s);
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
		hash_remove(c, s);
		lru_unlink(c, s);
		c->st.evictions++;
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
		pthread_cond_signal(&c->kick);
		wait_changed(c);
		c->want_slot--;
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

/* Write-once media: a packet at or past the NWA is not recorded, and reads as zeros. */
static void zero_fill(struct slot *s)
{
	for (uint32_t i = 0; i < s->nsect; i++) {
		if (!bit_test(s->valid, i)) {
			memset(s->data + (size_t)i * PKT_SECTOR_SIZE, 0, PKT_SECTOR_SIZE);
			bit_set(s->valid, i);
			s->nvalid++;
		}
	}
}

int cache_fill_slot(struct pkt_cache *c, struct slot *s, bool gather)
{
	return cache_fill_range(c, s, 0, s->nsect, gather);
}

/* One backend read per run of invalid sectors.  Drops the lock meanwhile; the LOADING flag keeps
 * everyone else off the slot. */
int cache_fill_range(struct pkt_cache *c, struct slot *s, uint32_t from, uint32_t to, bool gather)
{
	int rc = 0;

	/* Another operation may be filling this slot already: reading twice would double-count. */
	while (s->flags & SLOT_LOADING)
		wait_changed(c);
	if (s->nvalid == s->nsect)
		return 0;
	uint64_t first = packet_first(c, s->pkt);
	if (c->append && first >= c->accept) {
		zero_fill(s);
		return 0;
	}
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
		pthread_mutex_unlock(&c->lock);
		rc = pkt_blockdev_read(c->dev, first + i, j - i, s->data + (size_t)i * PKT_SECTOR_SIZE);
		pthread_mutex_lock(&c->lock);
		if (rc == 0) {
			for (uint32_t k = i; k < j; k++)
				bit_set(s->valid, k);
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
		i = j;
	}
	s->flags &= ~(uint32_t)SLOT_LOADING;
	wake_changed(c);
	return rc;
}
