/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packet cache.  One mutex guards all metadata and the copies between user buffers and slots (a copy
 * of a packet costs microseconds; the medium costs milliseconds).  Backend I/O always runs without the
 * mutex, on slots marked LOADING (exclusive: only invalid sectors are filled, nobody else may touch the
 * slot) or WRITEBACK (shared: the data was copied to the flusher's bounce buffer, so users may keep
 * writing; the slot is only kept from eviction so a read miss cannot fetch stale data meanwhile).
 */
#define _GNU_SOURCE
#include "pkt_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define NO_SLOT UINT32_MAX
#define NO_PACKET UINT64_MAX

enum {
	SLOT_LOADING = 1u << 0,
	SLOT_WRITEBACK = 1u << 1,
};

struct slot {
	uint64_t pkt; /* packet number, NO_PACKET when free */
	uint8_t *data;
	uint64_t *valid; /* bitmaps of nsect bits */
	uint64_t *dirty;
	uint32_t nsect;	 /* sectors in this packet (the final packet may be short) */
	uint32_t ndirty; /* dirty sectors; 0 = clean */
	uint32_t nvalid;
	uint32_t flags;
	uint32_t refs;	/* pinned by an operation in progress */
	uint32_t hnext; /* hash chain, or free list */
	uint32_t lru_prev, lru_next;
	uint64_t dirty_seq; /* write sequence number of the oldest unwritten change */
	uint64_t dirty_ms;  /* when it was first dirtied */
	uint64_t wb_seq;    /* dirty_seq of the data in flight while WRITEBACK */
	uint64_t err_gen;   /* flush generation at which its write last failed; 0 = no error */
};

struct pkt_cache {
	struct pkt_blockdev *dev;
	struct pkt_geometry geo;
	uint64_t npackets; /* packets on the medium */
	uint32_t ps;	   /* sectors per packet */
	uint32_t words;	   /* bitmap words per slot */
	uint32_t nslots;
	uint32_t high, low; /* dirty watermarks in slots */
	uint64_t age_ms;
	uint32_t batch_packets;

	struct slot *slots;
	uint8_t *arena; /* nslots packets, then the bounce buffer */
	size_t arena_len;
	uint8_t *bounce;
	uint8_t *rescue; /* one packet, for pkt_cache_rescue_failed */
	uint64_t *bits;
	uint32_t *bucket;
	uint32_t bucket_mask;
	uint32_t free_head;
	uint32_t lru_head, lru_tail; /* most recent at head */
	uint32_t *order;	     /* flusher scratch: dirty slots sorted by packet */

	pthread_mutex_t lock;
	pthread_cond_t changed; /* any slot state change: waiters re-check */
	pthread_cond_t kick;	/* wakes the flusher */
	pthread_t flusher;
	bool stop;
	bool draining;	   /* between crossing high and reaching low */
	bool held;	   /* backend told that dirty data is held */
	bool release_hold; /* a flush found everything on the medium */
	bool flusher_idle; /* flusher sleeps with no deadline */

	uint32_t ndirty; /* dirty slots (including ones whose write failed) */
	uint32_t nerror; /* dirty slots whose last write failed */
	uint32_t nwriteback;
	uint32_t want_slot; /* operations waiting for a clean slot */
	uint32_t nwaiting;  /* threads waiting on `changed` */
	uint32_t flush_waiters;
	uint64_t flush_gen;
	uint64_t seq;	   /* user write sequence */
	uint64_t elevator; /* next packet the elevator sweeps from */

	struct pkt_cache_stats st;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Every wait on `changed` goes through here, so that the many state changes with nobody waiting
 * cost no broadcast (and waiters do not rescan for nothing). */
static void wait_changed(struct pkt_cache *c)
{
	c->nwaiting++;
	pthread_cond_wait(&c->changed, &c->lock);
	c->nwaiting--;
}

static void wake_changed(struct pkt_cache *c)
{
	if (c->nwaiting)
		pthread_cond_broadcast(&c->changed);
}

static bool bit_test(const uint64_t *map, uint32_t i)
{
	return (map[i / 64] >> (i % 64)) & 1u;
}

static void bit_set(uint64_t *map, uint32_t i)
{
	map[i / 64] |= (uint64_t)1 << (i % 64);
}

static uint32_t hash_pkt(const struct pkt_cache *c, uint64_t pkt)
{
	return (uint32_t)((pkt * 0x9E3779B97F4A7C15ull) >> 32) & c->bucket_mask;
}

/* ---- index, LRU and free list (all under c->lock) ---- */

static struct slot *lookup(struct pkt_cache *c, uint64_t pkt)
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

static bool slot_evictable(const struct slot *s)
{
	return s->ndirty == 0 && s->refs == 0 && s->flags == 0;
}

static void slot_release(struct pkt_cache *c, struct slot *s)
{
	hash_remove(c, s);
	lru_unlink(c, s);
	s->pkt = NO_PACKET;
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
	uint64_t first = pkt * c->ps;
	s->nsect = (uint32_t)(c->geo.sector_count - first < c->ps ? c->geo.sector_count - first : c->ps);
	memset(s->valid, 0, c->words * sizeof(uint64_t));
	memset(s->dirty, 0, c->words * sizeof(uint64_t));
	s->ndirty = s->nvalid = 0;
	s->flags = 0;
	s->refs = 0;
	s->err_gen = 0;
	uint32_t b = hash_pkt(c, pkt);
	s->hnext = c->bucket[b];
	c->bucket[b] = slot_index(c, s);
	lru_push_head(c, s);
	return s;
}

/* True when nothing the flusher may do will ever produce a clean slot or lower the dirty count:
 * every dirty packet failed to write and no flush has asked for a retry. */
static bool writeback_stuck(const struct pkt_cache *c)
{
	return c->nwriteback == 0 && c->ndirty > 0 && c->nerror == c->ndirty;
}

/* Returns the slot of pkt pinned, allocating it if needed; waits for a clean slot. */
static int get_slot(struct pkt_cache *c, uint64_t pkt, struct slot **out, bool *hit)
{
	bool waited = false;

	for (;;) {
		struct slot *s = lookup(c, pkt);
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

static void put_slot(struct pkt_cache *c, struct slot *s)
{
	s->refs--;
	/* A slot that was allocated but never filled holds nothing: give it back at once. */
	if (s->refs == 0 && s->nvalid == 0 && s->flags == 0 && s->ndirty == 0)
		slot_release(c, s);
	wake_changed(c);
}

/* Reads every invalid sector of a pinned slot, one backend read per run of invalid sectors.  Drops
 * the lock meanwhile; the LOADING flag keeps everyone else off the slot. */
static int fill_slot(struct pkt_cache *c, struct slot *s, bool gather)
{
	int rc = 0;

	/* Another operation may be filling this slot already: reading twice would double-count. */
	while (s->flags & SLOT_LOADING)
		wait_changed(c);
	if (s->nvalid == s->nsect)
		return 0;
	s->flags |= SLOT_LOADING;
	uint64_t first = s->pkt * c->ps;
	uint32_t i = 0;
	while (i < s->nsect && rc == 0) {
		if (bit_test(s->valid, i)) {
			i++;
			continue;
		}
		uint32_t j = i;
		while (j < s->nsect && !bit_test(s->valid, j))
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
	const uint64_t pbytes = (uint64_t)c->ps * PKT_SECTOR_SIZE;
	struct segment g;

	g.pkt = off / pbytes;
	g.in = off % pbytes;
	g.n = (size_t)(pbytes - g.in < len ? pbytes - g.in : len);
	g.s0 = (uint32_t)(g.in / PKT_SECTOR_SIZE);
	g.s1 = (uint32_t)((g.in + g.n + PKT_SECTOR_SIZE - 1) / PKT_SECTOR_SIZE);
	return g;
}

int pkt_cache_read(struct pkt_cache *c, void *buf, size_t len, uint64_t off)
{
	uint8_t *out = buf;
	int rc = check_range(c, len, off);

	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	while (len) {
		struct segment g = segment_of(c, off, len);
		uint64_t in = g.in;
		size_t n = g.n;
		uint32_t s0 = g.s0, s1 = g.s1;
		struct slot *s;
		bool hit;

		rc = get_slot(c, g.pkt, &s, &hit);
		if (rc)
			break;
		if (hit && range_valid(s, s0, s1)) {
			c->st.cache_hits++;
		} else {
			c->st.cache_misses++;
			rc = fill_slot(c, s, false);
			if (rc) {
				put_slot(c, s);
				break;
			}
		}
		memcpy(out, s->data + in, n);
		put_slot(c, s);
		out += n;
		off += n;
		len -= n;
		c->st.user_read_bytes += n;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Waits at the dirty high watermark before a clean slot becomes dirty. */
static int wait_congestion(struct pkt_cache *c)
{
	bool waited = false;

	while (c->ndirty >= c->high) {
		if (writeback_stuck(c))
			return -EIO;
		if (!waited) {
			c->st.congestion_waits++;
			waited = true;
		}
		c->draining = true;
		pthread_cond_signal(&c->kick);
		wait_changed(c);
	}
	return 0;
}

int pkt_cache_write(struct pkt_cache *c, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *in_buf = buf;
	int rc;

	if (!c->geo.writable)
		return -EROFS;
	rc = check_range(c, len, off);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	while (len) {
		struct segment g = segment_of(c, off, len);
		uint64_t in = g.in;
		size_t n = g.n;
		uint32_t s0 = g.s0, s1 = g.s1;
		struct slot *s;
		bool hit;

		rc = get_slot(c, g.pkt, &s, &hit);
		if (rc)
			break;
		if (hit)
			c->st.cache_hits++;
		else
			c->st.cache_misses++;
		if (s->ndirty == 0) {
			/* Waiting may let the flusher touch this slot; it stays pinned so it is not evicted. */
			rc = wait_congestion(c);
			if (rc == 0 && (s->flags & SLOT_LOADING))
				rc = -EAGAIN;
			if (rc == -EAGAIN) {
				put_slot(c, s);
				continue;
			}
			if (rc) {
				put_slot(c, s);
				break;
			}
		}
		/* A sector written only in part needs its old contents first. */
		bool head_partial = in % PKT_SECTOR_SIZE != 0 && !bit_test(s->valid, s0);
		bool tail_partial = (in + n) % PKT_SECTOR_SIZE != 0 && !bit_test(s->valid, s1 - 1);
		if (head_partial || tail_partial) {
			rc = fill_slot(c, s, false);
			if (rc) {
				put_slot(c, s);
				break;
			}
		}
		memcpy(s->data + in, in_buf, n);
		bool was_clean = s->ndirty == 0;
		for (uint32_t i = s0; i < s1; i++) {
			if (!bit_test(s->valid, i)) {
				bit_set(s->valid, i);
				s->nvalid++;
			}
			if (!bit_test(s->dirty, i)) {
				bit_set(s->dirty, i);
				s->ndirty++;
			}
		}
		if (was_clean) {
			c->ndirty++;
			s->dirty_seq = c->seq + 1;
			s->dirty_ms = now_ms();
			/* A flusher asleep with nothing to time must learn the new deadline. */
			if (c->flusher_idle || c->ndirty >= c->high)
				pthread_cond_signal(&c->kick);
		}
		c->seq++;
		put_slot(c, s);
		in_buf += n;
		off += n;
		len -= n;
		c->st.user_write_bytes += n;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- the flusher ---- */

static int cmp_slot_pkt(const void *a, const void *b, void *arg)
{
	const struct pkt_cache *c = arg;
	uint64_t x = c->slots[*(const uint32_t *)a].pkt, y = c->slots[*(const uint32_t *)b].pkt;

	return x < y ? -1 : x > y;
}

enum pick_reason { PICK_NONE, PICK_URGENT, PICK_AGED };

/* A dirty slot the flusher may write now. */
static bool flushable(const struct pkt_cache *c, const struct slot *s)
{
	if (s->ndirty == 0 || (s->flags & (SLOT_LOADING | SLOT_WRITEBACK)) || s->refs)
		return false;
	/* A failed packet is retried only by a flush that started after it failed (err_gen is the
	 * flush generation at the failure, plus one). */
	return s->err_gen == 0 || s->err_gen <= c->flush_gen;
}

/* Collects the next run of consecutive flushable packets in elevator order into c->order.  Returns
 * the run length (0 = nothing to do) and sets *next_deadline when only aged data would qualify later. */
static uint32_t pick_batch(struct pkt_cache *c, uint64_t now, uint64_t *next_deadline)
{
	bool urgent = c->draining || c->want_slot || c->flush_waiters;
	uint32_t n = 0;

	*next_deadline = UINT64_MAX;
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];
		if (!flushable(c, s))
			continue;
		uint64_t due = s->dirty_ms + c->age_ms;
		if (!urgent && due > now) {
			if (due < *next_deadline)
				*next_deadline = due;
			continue;
		}
		c->order[n++] = i;
	}
	if (n == 0)
		return 0;
	qsort_r(c->order, n, sizeof(c->order[0]), cmp_slot_pkt, c);
	/* C-SCAN: the first packet at or after the elevator position, else wrap to the lowest. */
	uint32_t start = 0;
	while (start < n && c->slots[c->order[start]].pkt < c->elevator)
		start++;
	if (start == n)
		start = 0;
	/* Draining needs only what takes the cache down to the low watermark, and a waiter for a slot
	 * one packet: writing more would write the packet a streaming writer is still filling. */
	uint32_t limit = c->batch_packets;
	if (!c->flush_waiters && (c->draining || c->want_slot)) {
		uint32_t need = c->want_slot;
		if (c->draining && c->ndirty > c->low && c->ndirty - c->low > need)
			need = c->ndirty - c->low;
		if (need < limit)
			limit = need ? need : 1;
	}
	uint32_t len = 1;
	while (start + len < n && len < limit &&
	       c->slots[c->order[start + len]].pkt == c->slots[c->order[start + len - 1]].pkt + 1)
		len++;
	memmove(c->order, c->order + start, len * sizeof(c->order[0]));
	return len;
}

/* Writes one run of packets: gather what is missing, copy to the bounce buffer, write, account. */
/* A dirty slot's data goes to the medium: clean while in flight, out of the dirty counts. */
static void writeback_begin(struct pkt_cache *c, struct slot *s)
{
	memset(s->dirty, 0, c->words * sizeof(uint64_t));
	s->ndirty = 0;
	s->wb_seq = s->dirty_seq;
	s->flags |= SLOT_WRITEBACK;
	c->ndirty--;
	if (s->err_gen)
		c->nerror--;
	c->nwriteback++;
}

/* The write of a slot in flight ended; a failed one makes the packet dirty again, whole, and
 * marked failed: data is never lost. */
static void writeback_end(struct pkt_cache *c, struct slot *s, bool ok)
{
	s->flags &= ~(uint32_t)SLOT_WRITEBACK;
	c->nwriteback--;
	if (ok) {
		s->err_gen = 0;
		return;
	}
	if (s->ndirty == 0) {
		c->ndirty++;
		s->dirty_seq = s->wb_seq;
	}
	for (uint32_t i = 0; i < s->nsect; i++)
		bit_set(s->dirty, i);
	s->ndirty = s->nsect;
	s->err_gen = c->flush_gen + 1;
	c->nerror++;
}

static void write_batch(struct pkt_cache *c, uint32_t n)
{
	uint32_t *idx = c->order;
	uint32_t ok = 0;
	int rc = 0;

	for (uint32_t k = 0; k < n; k++)
		c->slots[idx[k]].refs++;
	/* Gather first: a packet whose missing sectors cannot be read is not written at all. */
	for (ok = 0; ok < n; ok++) {
		rc = fill_slot(c, &c->slots[idx[ok]], true);
		if (rc)
			break;
	}
	if (ok < n) {
		/* The run is cut before the unreadable packet; that one is marked failed. */
		struct slot *bad = &c->slots[idx[ok]];
		if (bad->err_gen == 0)
			c->nerror++;
		bad->err_gen = c->flush_gen + 1;
		c->st.write_errors++;
		for (uint32_t k = ok; k < n; k++)
			c->slots[idx[k]].refs--;
		n = ok;
		wake_changed(c);
		if (n == 0)
			return;
	}
	uint64_t first_lba = c->slots[idx[0]].pkt * c->ps;
	uint32_t count = 0;
	for (uint32_t k = 0; k < n; k++) {
		struct slot *s = &c->slots[idx[k]];
		memcpy(c->bounce + (size_t)count * PKT_SECTOR_SIZE, s->data, (size_t)s->nsect * PKT_SECTOR_SIZE);
		count += s->nsect;
		writeback_begin(c, s);
	}
	pthread_mutex_unlock(&c->lock);
	rc = pkt_blockdev_write_packets(c->dev, first_lba, count, c->bounce);
	pthread_mutex_lock(&c->lock);
	for (uint32_t k = 0; k < n; k++) {
		struct slot *s = &c->slots[idx[k]];
		writeback_end(c, s, rc == 0);
		s->refs--;
	}
	if (rc == 0) {
		c->st.packets_written += n;
		c->st.medium_write_bytes += (uint64_t)count * PKT_SECTOR_SIZE;
		c->st.write_commands++;
		c->elevator = c->slots[idx[n - 1]].pkt + 1;
	} else {
		c->st.write_errors++;
	}
	wake_changed(c);
}

static void *flusher_main(void *arg)
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
		if (c->draining && c->ndirty <= c->low)
			c->draining = false;
		if (c->ndirty >= c->high)
			c->draining = true;
		uint64_t now = now_ms(), deadline;
		uint32_t n = pick_batch(c, now, &deadline);
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
	while (flush_pending(c, target, gen, &failed))
		wait_changed(c);
	c->flush_waiters--;
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

	pthread_mutex_lock(&c->lock);
	for (struct slot *s; rc == 0 && (s = failed_slot(c)) != NULL;) {
		s->refs++;
		rc = fill_slot(c, s, true); /* the whole packet, as it will be written elsewhere */
		if (rc) {
			s->refs--;
			break;
		}
		/* Taken out of the flusher's hands while it is written here, alone. */
		uint64_t lba = s->pkt * c->ps;
		uint32_t nsect = s->nsect;
		memcpy(c->rescue, s->data, (size_t)nsect * PKT_SECTOR_SIZE);
		writeback_begin(c, s);
		pthread_mutex_unlock(&c->lock);
		/* A batch fails as a whole: first this packet on its own, then elsewhere. */
		int wrc = pkt_blockdev_write_packets(c->dev, lba, nsect, c->rescue);
		uint64_t at = lba;
		for (int tries = 0; wrc != 0 && tries < 8; tries++) {
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
			struct slot *d = lookup(c, at / c->ps);
			if (d && d != s && slot_evictable(d))
				slot_release(c, d);
		}
		writeback_end(c, s, wrc == 0);
		if (wrc == 0) {
			c->st.packets_written++;
			c->st.medium_write_bytes += (uint64_t)nsect * PKT_SECTOR_SIZE;
			c->st.write_commands++;
		} else {
			c->st.write_errors++; /* still nowhere: dirty and failed again */
			if (rc == 0)
				rc = -EIO;
		}
		s->refs--;
		/* Moved: the packet's old place is never read again (the caller maps it elsewhere). */
		if (wrc == 0 && moved && s->refs == 0 && s->ndirty == 0 && s->flags == 0)
			slot_release(c, s);
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
			slot_release(c, s);
			c->st.evictions++;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

const struct pkt_geometry *pkt_cache_geometry(const struct pkt_cache *c)
{
	return &c->geo;
}

uint64_t pkt_cache_capacity_bytes(const struct pkt_cache *c)
{
	return c->geo.sector_count * PKT_SECTOR_SIZE;
}

void pkt_cache_get_stats(struct pkt_cache *c, struct pkt_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	st->dirty_packets = c->ndirty;
	uint64_t cached = 0;
	for (uint32_t i = 0; i < c->nslots; i++)
		cached += c->slots[i].pkt != NO_PACKET;
	st->cached_packets = cached;
	pthread_mutex_unlock(&c->lock);
}

size_t pkt_cache_format_stats(struct pkt_cache *c, char *buf, size_t len)
{
	struct pkt_cache_stats s;
	size_t used;
	int n;

	if (len == 0)
		return 0;
	pkt_cache_get_stats(c, &s);
	double wa = s.user_write_bytes ? (double)s.medium_write_bytes / (double)s.user_write_bytes : 0.0;
	n = snprintf(buf, len,
		     "sector_size: %u\n"
		     "packet_sectors: %u\n"
		     "capacity_bytes: %" PRIu64 "\n"
		     "writable: %d\n"
		     "cache_bytes: %" PRIu64 "\n"
		     "cache_packets: %" PRIu64 "\n"
		     "cache_memory_locked: %d\n"
		     "cached_packets: %" PRIu64 "\n"
		     "dirty_packets: %" PRIu64 "\n"
		     "user_read_bytes: %" PRIu64 "\n"
		     "user_write_bytes: %" PRIu64 "\n"
		     "medium_write_bytes: %" PRIu64 "\n"
		     "packets_written: %" PRIu64 "\n"
		     "write_commands: %" PRIu64 "\n"
		     "gather_read_sectors: %" PRIu64 "\n"
		     "gather_read_commands: %" PRIu64 "\n"
		     "miss_read_sectors: %" PRIu64 "\n"
		     "miss_read_commands: %" PRIu64 "\n"
		     "cache_hits: %" PRIu64 "\n"
		     "cache_misses: %" PRIu64 "\n"
		     "flushes: %" PRIu64 "\n"
		     "syncs: %" PRIu64 "\n"
		     "congestion_waits: %" PRIu64 "\n"
		     "slot_waits: %" PRIu64 "\n"
		     "evictions: %" PRIu64 "\n"
		     "write_errors: %" PRIu64 "\n"
		     "relocated_packets: %" PRIu64 "\n"
		     "read_errors: %" PRIu64 "\n"
		     "write_amplification: %.3f\n",
		     c->geo.sector_size, c->geo.packet_sectors, pkt_cache_capacity_bytes(c), c->geo.writable,
		     s.cache_bytes, s.capacity_packets, s.memory_locked, s.cached_packets, s.dirty_packets,
		     s.user_read_bytes, s.user_write_bytes, s.medium_write_bytes, s.packets_written, s.write_commands,
		     s.gather_read_sectors, s.gather_read_commands, s.miss_read_sectors, s.miss_read_commands,
		     s.cache_hits, s.cache_misses, s.flushes, s.syncs, s.congestion_waits, s.slot_waits, s.evictions,
		     s.write_errors, s.relocated_packets, s.read_errors, wa);
	if (n < 0)
		return 0;
	used = (size_t)n < len ? (size_t)n : len - 1;
	if (used < len - 1)
		used += pkt_blockdev_describe(c->dev, buf + used, len - used);
	return used;
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
	c->npackets = (g->sector_count + c->ps - 1) / c->ps;
	c->words = (c->ps + 63) / 64;
	uint64_t pbytes = (uint64_t)c->ps * PKT_SECTOR_SIZE;
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
	if (c->arena == MAP_FAILED || !c->slots || !c->bits || !c->bucket || !c->order) {
		snprintf(err, errlen, "cannot allocate a cache of %" PRIu64 " bytes", (uint64_t)c->arena_len);
		if (c->arena != MAP_FAILED)
			munmap(c->arena, c->arena_len);
		free(c->slots);
		free(c->bits);
		free(c->bucket);
		free(c->order);
		free(c);
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
	int rc = pthread_create(&c->flusher, NULL, flusher_main, c);
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
	munmap(c->arena, c->arena_len);
	free(c->slots);
	free(c->bits);
	free(c->bucket);
	free(c->order);
	free(c);
	return rc;
}
