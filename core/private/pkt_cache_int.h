/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packet cache's insides, shared by its files (pkt_cache*.c) and nobody else.
 *
 * Memory.  The cache's memory is a pool of 2 KiB sectors, preallocated and mlock'ed; a slot is the
 * metadata of one cached packet, with a table of the pool sectors it holds (NO_SECTOR: not held).
 * On rewritable media a slot holds exactly its valid sectors (while LOADING also the ones being
 * read), so the pool keeps the dirty sectors of many packets rather than few whole packets, and
 * there are more slots than whole packets fit in the pool: the memory bound is the pool.  A
 * sector is taken from the pool's free stack, else from the least recently used clean slots
 * (evicted whole), else from the clean sectors of idle dirty slots (pool_reclaim).  On write-once
 * media every slot owns a fixed, contiguous run of `stride` pool sectors from creation on (whole
 * packets, as padding, link sectors and the NWA logic want), and there are only as many slots as
 * fit.  The dirty watermarks count dirty pool sectors on rewritable media and dirty slots on
 * write-once media (dirty_level).
 *
 * One mutex guards all metadata, the pool's free stack and the copies between user buffers and pool
 * sectors (a copy of a packet costs microseconds; the medium costs milliseconds).  Backend I/O
 * always runs without the mutex, on slots marked LOADING (exclusive: only invalid sectors are
 * filled, into sectors taken before the lock was dropped, nobody else may fill the slot) or
 * WRITEBACK (writers of a rewritable medium wait for it, so the held sectors being copied to the
 * medium stay stable; the slot is kept from eviction and its sectors from being dropped, so that a
 * read miss cannot fetch stale data meanwhile).  The flusher gathers a packet's missing sectors
 * straight into its bounce buffer: writing back never needs pool sectors, so a pool full of dirty
 * data always drains.
 * Who takes it: the threads that read and write through the cache (FUSE workers, the UDF engine's
 * callers), the flusher thread, the thread that flushes (fsync, the committer, unmount), and whichever
 * thread formats the statistics (the daemon's FUSE loop): pkt_cache_get_stats and pkt_cache_hot_packets
 * only copy counters under it, in constant time, and the backend's lines (describe) are asked for
 * after it is released; a backend answers them without waiting for its medium (mmc_dev.c).
 *
 * The files: pkt_cache.c (create, destroy), pkt_cache_slots.c (index, LRU, free list, the sector
 * pool, pinning and filling slots, building a packet's image for the medium), pkt_cache_io.c (the
 * read and write paths), pkt_cache_flusher.c (the flusher thread and write-back), pkt_cache_flush.c
 * (flush, rescue of failed packets, dropping clean ones), pkt_cache_stats.c (statistics),
 * pkt_cache_append.c (write-once media: what the medium can take next, padding, sessions).
 *
 * Packet p covers sectors [p * stride - phase, (p + 1) * stride - phase) of the medium (clipped to
 * it).  On rewritable media stride is the packet size and phase 0: packets are aligned.  On
 * write-once media the grid runs through the NWA: phase puts a packet start on it, and stride adds
 * the link sectors the medium loses after each packet (a slot holds them too, so that a read of the
 * recorded part finds every sector somewhere; they are never written).
 */
#ifndef PKTFUSE_PKT_CACHE_INT_H
#define PKTFUSE_PKT_CACHE_INT_H

#include "pkt_cache.h"
#include "pkt_wear_table.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NO_SLOT UINT32_MAX
#define NO_PACKET UINT64_MAX
#define NO_SECTOR UINT32_MAX
/* Buffers that read misses fill through (the pool sectors of a run are seldom adjacent): as many
 * concurrent fills as there are; a fill waits for one (its holder is in a backend read). */
#define FILL_BUFFERS 4u

enum {
	SLOT_LOADING = 1u << 0,
	SLOT_WRITEBACK = 1u << 1,
};

struct slot {
	uint64_t pkt;	 /* packet number, NO_PACKET when free */
	uint32_t *sect;	 /* the pool sector of each of its nsect sectors, NO_SECTOR when not held */
	uint64_t *valid; /* bitmaps of nsect bits */
	uint64_t *dirty;
	uint32_t nsect;	 /* sectors in this packet (the final packet may be short) */
	uint32_t ndirty; /* dirty sectors; 0 = clean */
	uint32_t nvalid; /* rewritable media: the sectors it holds, but while LOADING */
	uint32_t flags;
	uint32_t refs;	  /* pinned by an operation in progress */
	bool open_sector; /* the last write into it ended inside a sector: its writer may not be done */
	uint32_t hnext;	  /* hash chain, or free list */
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
	uint32_t ps;	   /* sectors per packet (the write unit) */
	uint32_t stride;   /* sectors a slot covers: ps, plus geo.link_sectors on write-once media */
	uint32_t phase;	   /* packet p starts at sector p * stride - phase */
	uint32_t words;	   /* bitmap words per slot */
	uint32_t nslots;
	uint32_t high, low; /* dirty watermarks, in the unit of dirty_level */
	uint64_t age_ms;
	uint32_t batch_packets;

	struct slot *slots;
	uint8_t *arena; /* the pool, the bounce buffer, the rescue packet, the fill buffers */
	size_t arena_len;
	uint8_t *pool; /* pool_sectors sectors */
	uint32_t pool_sectors;
	uint32_t *pool_free; /* stack of free pool sectors (all of it under lock, as every field here) */
	uint32_t nfree;
	uint32_t *sect_tab; /* the slots' sector tables, stride entries each */
	uint8_t *bounce;    /* batch_packets * stride sectors: the flusher's image of a run */
	uint8_t *rescue;    /* one packet, for pkt_cache_rescue_failed */
	uint8_t *fill;	    /* FILL_BUFFERS packets that read misses are read into */
	uint32_t fill_busy; /* bit i: fill buffer i is in use */
	uint32_t *wb_from;  /* flusher scratch: held sectors of a run (pool sector, bounce sector) */
	uint32_t *wb_to;
	struct iovec *iov; /* flusher scratch: a run's image, for a backend with writev */
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

	uint32_t ncached;     /* slots holding a packet (the statistics read it instead of scanning the slots) */
	uint32_t ndirty;      /* dirty slots (including ones whose write failed) */
	uint32_t ndirty_sect; /* dirty sectors */
	uint32_t nerror;      /* dirty slots whose last write failed */
	uint32_t nwriteback;
	uint32_t want_slot; /* operations waiting for a clean slot or pool sectors */
	uint32_t nwaiting;  /* threads waiting on `changed` */
	uint32_t flush_waiters;
	uint64_t flush_gen;
	uint64_t seq;	   /* user write sequence */
	uint64_t elevator; /* next packet the elevator sweeps from */

	/* Write-once media (geo.append_only). */
	bool append;
	uint64_t accept;     /* the NWA the medium will have once what was handed to it is written:
			      * writes below it fail with -EROFS */
	uint64_t append_end; /* past the highest sector a user wrote */
	uint32_t congested;  /* writers waiting at the dirty high watermark */
	uint64_t short_end;  /* the NWA after a short last packet, off the grid until it is laid anew;
			      * 0 when none */
	/* the zeros being written (cache_write_zeros), no slot holding them: below accept, yet not on
	 * the medium; empty when equal */
	uint64_t zeros_from, zeros_to;
	/* Of the writers congested and of the operations waiting for a slot (want_slot), the ones whose
	 * wait no packet written since has eased: what padding is for.  The flusher's write of a packet
	 * takes them all off as it wakes them (cache_waiters_eased), for a woken one takes itself off
	 * `congested` or want_slot only when it runs (and may not need what it waited for then: another
	 * waiter may have dirtied the very packet it wants); one that must wait again counts itself
	 * again.  eased_gen: how often that happened, so that a waiter knows whether it was taken off. */
	uint32_t congested_unmet;
	uint32_t slot_unmet;
	uint64_t eased_gen;

	struct pkt_cache_stats st;
	/* Writes per packet by this cache, for the wear record: the hottest PKT_WEAR_TRACKED packets only
	 * (bounded memory, constant time per packet written), under lock. */
	struct pkt_wear_table wear;
	/* Early relocation (pkt_cache_set_wear_limit): the past counts sorted by packet, the limit (0: off). */
	struct pkt_packet_wear wear_past[PKT_WEAR_TRACKED];
	uint32_t nwear_past;
	uint64_t wear_limit;
};

/* Counts a successful write of count sectors at lba in the wear table (rewritable media). Under lock. */
void cache_count_writes(struct pkt_cache *c, uint64_t lba, uint32_t count);

/* Writes of packet pkt over the medium's life as far as known: past mounts' and this cache's. Under lock. */
uint64_t cache_lifetime_writes(const struct pkt_cache *c, uint64_t pkt);

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Every wait on `changed` goes through here, so that the many state changes with nobody waiting
 * cost no broadcast (and waiters do not rescan for nothing). */
static inline void wait_changed(struct pkt_cache *c)
{
	c->nwaiting++;
	pthread_cond_wait(&c->changed, &c->lock);
	c->nwaiting--;
}

static inline void wake_changed(struct pkt_cache *c)
{
	if (c->nwaiting)
		pthread_cond_broadcast(&c->changed);
}

static inline bool bit_test(const uint64_t *map, uint32_t i)
{
	return (map[i / 64] >> (i % 64)) & 1u;
}

static inline void bit_set(uint64_t *map, uint32_t i)
{
	map[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline uint32_t hash_pkt(const struct pkt_cache *c, uint64_t pkt)
{
	return (uint32_t)((pkt * 0x9E3779B97F4A7C15ull) >> 32) & c->bucket_mask;
}

/* Where sector i of slot s is held in the pool (s holds it). */
static inline uint8_t *sector_at(const struct pkt_cache *c, const struct slot *s, uint32_t i)
{
	return c->pool + (size_t)s->sect[i] * PKT_SECTOR_SIZE;
}

/* What the dirty watermarks count: dirty pool sectors, or on write-once media (whole packets)
 * dirty slots. */
static inline uint32_t dirty_level(const struct pkt_cache *c)
{
	return c->append ? c->ndirty : c->ndirty_sect;
}

static inline bool slot_evictable(const struct slot *s)
{
	return s->ndirty == 0 && s->refs == 0 && s->flags == 0;
}

/* Write-once media (pkt_cache_append.c): the packet that every other dirty one waits for failed
 * after flush generation gen, so that nothing can be written until a later flush retries it. */
bool cache_append_blocked(const struct pkt_cache *c, uint64_t gen);

/* True when nothing the flusher may do will ever produce a clean slot or lower the dirty count:
 * every dirty packet failed to write (on write-once media: the first of them) and no flush has
 * asked for a retry. */
static inline bool writeback_stuck(const struct pkt_cache *c)
{
	return c->nwriteback == 0 && c->ndirty > 0 &&
	       (c->nerror == c->ndirty || (c->append && cache_append_blocked(c, c->flush_gen)));
}

/* The first sector of packet pkt, the packet of sector lba, and the sectors of packet pkt. */
static inline uint64_t packet_first(const struct pkt_cache *c, uint64_t pkt)
{
	uint64_t x = pkt * c->stride;

	return x > c->phase ? x - c->phase : 0;
}

static inline uint64_t packet_of(const struct pkt_cache *c, uint64_t lba)
{
	return (lba + c->phase) / c->stride;
}

static inline uint32_t packet_sectors(const struct pkt_cache *c, uint64_t pkt)
{
	uint64_t end = (pkt + 1) * c->stride - c->phase;

	if (end > c->geo.sector_count)
		end = c->geo.sector_count;
	return (uint32_t)(end - packet_first(c, pkt));
}

/* The sectors of a slot that reach the medium when it is written: all of them, but on write-once
 * media not the link sectors at its end. */
static inline uint32_t slot_data_sectors(const struct pkt_cache *c, const struct slot *s)
{
	return c->append && s->nsect > c->ps ? c->ps : s->nsect;
}

/* Write-once media: every sector that reaches the medium written, and the last write not ended
 * inside one (a writer of pieces smaller than a sector is done with the packet). */
static inline bool slot_complete(const struct pkt_cache *c, const struct slot *s)
{
	return s->ndirty >= slot_data_sectors(c, s) && !s->open_sector;
}

/* Write-once media: whether the packet starting at sector first reads as zeros without a read of the
 * medium: nothing recorded there yet, nor handed to the medium but zeros now on their way (a read
 * meanwhile would find the medium blank; a packet handed to it with data is in a slot in
 * writeback, which reads hit). */
static inline bool append_reads_zeros(const struct pkt_cache *c, uint64_t first)
{
	return first >= c->accept || (first >= c->zeros_from && first < c->zeros_to);
}

/* pkt_cache_slots.c: the index, LRU and free list, and pinned slots (all under c->lock) */
struct slot *cache_lookup(struct pkt_cache *c, uint64_t pkt);
void cache_release_slot(struct pkt_cache *c, struct slot *s);
/* Returns the slot of pkt pinned, allocating it if needed; waits for a clean slot. */
int cache_get_slot(struct pkt_cache *c, uint64_t pkt, struct slot **out, bool *hit);
void cache_put_slot(struct pkt_cache *c, struct slot *s);
/* Reads every invalid sector of a pinned slot (dropping the lock meanwhile); cache_fill_range only
 * those of [from, to).  On write-once media the sectors of a packet at or past c->accept are not
 * recorded, nor those of the zeros being written: they are zeros, and nothing is read
 * (append_reads_zeros).  -ENOBUFS when the pool cannot give the sectors
 * now (nothing was read): the caller unpins the slot and waits in cache_wait_pool. */
int cache_fill_slot(struct pkt_cache *c, struct slot *s, bool gather);
int cache_fill_range(struct pkt_cache *c, struct slot *s, uint32_t from, uint32_t to, bool gather);
/* Takes pool sectors for every sector of [from, to) that s does not hold (rewritable media; on
 * write-once media a slot holds all of them).  False, taking none, when the pool cannot give them
 * even by evicting clean slots other than s and dropping clean sectors of idle dirty ones. */
bool cache_hold_sectors(struct pkt_cache *c, struct slot *s, uint32_t from, uint32_t to);
/* Gives the sector i of s back to the pool (rewritable media). */
void cache_drop_sector(struct pkt_cache *c, struct slot *s, uint32_t i);
/* Waits, holding no slot, until the flusher may have freed pool sectors or slots; -EIO when it
 * never will (writeback_stuck). */
int cache_wait_pool(struct pkt_cache *c);
/* The flusher's and the rescue's image of the rewritable packet of pinned slot s in buf (its data
 * sectors): the sectors it does not hold read from the medium at their offsets (one read per run,
 * counted as gathering; the lock dropped meanwhile).  0 or the read's error. */
int cache_gather_image(struct pkt_cache *c, struct slot *s, uint8_t *buf);
/* After a write of s whose image was img, places the sectors it does not hold from img into pool
 * sectors.  After a failed write (reclaim: taken from clean data if need be), so that a retry or a
 * rescue writes the packet as it was (a medium whose write failed may not read back the same); where
 * the pool cannot give them even so, the retry gathers them again.  After a successful one only
 * into free sectors, so that a later partial write or read of the packet reads nothing. */
void cache_keep_image(struct pkt_cache *c, struct slot *s, const uint8_t *img, bool reclaim);

/* pkt_cache_io.c: the flusher wrote a packet, which lowered the dirty level and cleaned a slot
 * (under lock, before it wakes the waiters on `changed`). */
void cache_waiters_eased(struct pkt_cache *c);

/* pkt_cache_flusher.c */
/* A dirty slot the flusher may write now. */
bool cache_flushable(const struct pkt_cache *c, const struct slot *s);
void cache_writeback_begin(struct pkt_cache *c, struct slot *s);
/* img: the image that was written (rewritable media), kept where the write failed */
void cache_writeback_end(struct pkt_cache *c, struct slot *s, bool ok, const uint8_t *img);
void *cache_flusher_main(void *arg);

/* pkt_cache_append.c (write-once media) */
/* Reads the medium's NWA and lays the packet grid through it; the cache holds no packet. */
int cache_append_start(struct pkt_cache *c, char *err, size_t errlen);
/* The run the medium can take now, from c->accept up, into c->order (as pick_batch); or, when
 * only zeros can go first, 0 with *zeros set to how many sectors of them. */
uint32_t cache_pick_append(struct pkt_cache *c, uint64_t now, uint64_t *next_deadline, uint32_t *zeros);
/* Writes zeros sectors of zeros at c->accept (nobody wrote them, and a later packet waits). */
void cache_write_zeros(struct pkt_cache *c, uint32_t zeros);
/* Around a write of count sectors at c->accept: the NWA to be moves past it (and its link sectors)
 * before the lock is dropped, and back if the write failed; rc is the write's result. */
void cache_append_advance(struct pkt_cache *c, uint64_t lba, uint32_t count);
void cache_append_done(struct pkt_cache *c, uint64_t lba, uint32_t count, uint32_t padded, int rc);
/* The sectors of s to write: its data sectors, or, for a flush's last packet on a medium whose
 * packets are variable (link sectors follow any packet: a CD-R), only the part that was written. */
uint32_t cache_append_write_len(const struct pkt_cache *c, const struct slot *s);
/* At the end of a flush (under lock): after a packet that ended short, the grid laid anew through
 * the NWA it left. */
void cache_append_flushed(struct pkt_cache *c);

#endif
