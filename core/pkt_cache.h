/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packet-aligned write-back cache.
 *
 * Users read and write any byte range; the cache holds the sectors of packets that are valid (on
 * write-once media whole packets) with per-sector dirty bits in a preallocated pool of sectors,
 * gathers the missing sectors of a dirty packet when writing it, and hands the backend only whole,
 * aligned packets.  A background flusher writes dirty packets in ascending order (an
 * elevator) when the dirty high watermark is reached (draining to the low watermark), when dirty data
 * grows older than the configured age, when a reader or writer needs a clean slot or memory, and on
 * flush.  Writing back never needs the cache's memory, so a cache full of dirty data drains.
 *
 * All memory is allocated by pkt_cache_create(): nothing on the read or write path allocates, so a
 * loop device over the block file cannot deadlock on memory reclaim through us.
 */
#ifndef PKTFUSE_PKT_CACHE_H
#define PKTFUSE_PKT_CACHE_H

#include "blockdev.h"

#include <stddef.h>
#include <stdint.h>

struct pkt_cache;
struct pkt_packet_wear; /* below */

struct pkt_cache_config {
	uint64_t cache_bytes;	  /* 0 → 32 MiB; rounded down to whole packets, at least one */
	unsigned dirty_high_pct;  /* 0 → 75: writers wait while this share of the memory is dirty */
	unsigned dirty_low_pct;	  /* 0 → 50: the flusher drains to this share once started */
	unsigned dirty_age_ms;	  /* 0 → 5000: dirty data older than this is written */
	uint32_t max_batch_bytes; /* 0 → 1 MiB: largest single backend write (whole packets) */
};

struct pkt_cache_stats {
	uint64_t user_read_bytes;
	uint64_t user_write_bytes;
	uint64_t packets_written;     /* packets handed to the backend */
	uint64_t medium_write_bytes;  /* bytes handed to the backend */
	uint64_t write_commands;      /* backend write calls (a call may carry several packets) */
	uint64_t gather_read_sectors; /* sectors read to complete a dirty packet before writing it */
	uint64_t gather_read_commands;
	uint64_t miss_read_sectors; /* sectors read to serve a read miss or a sub-sector write */
	uint64_t miss_read_commands;
	uint64_t cache_hits;	   /* packet accesses served from the cache */
	uint64_t cache_misses;	   /* packet accesses that had to load or allocate */
	uint64_t flushes;	   /* pkt_cache_flush calls (fsync, unmount) */
	uint64_t syncs;		   /* backend sync calls */
	uint64_t congestion_waits; /* writers that waited at the dirty high watermark */
	uint64_t slot_waits;	   /* operations that waited for a clean packet slot */
	uint64_t pool_waits;	   /* waits of operations for free sectors of the cache's memory */
	uint64_t evictions;
	uint64_t write_errors;
	uint64_t relocated_packets;  /* packets written elsewhere after a write error (defect management) */
	uint64_t worn_moved_packets; /* packets written elsewhere before they failed: worn (pkt_cache_move_worn) */
	uint64_t read_errors;
	uint64_t padded_sectors;      /* write-once media: zeros written where nobody wrote (a packet's rest, holes) */
	uint64_t unused_zero_sectors; /* sectors pkt_cache_fill_unused made zeros instead of gathering them */
	uint64_t next_writable;	      /* write-once media, now: the NWA once what the cache handed over is written */
	uint64_t dirty_packets;	      /* now */
	uint64_t cached_packets;      /* now: packets of which the cache holds sectors */
	uint64_t capacity_packets;    /* packets of which it can hold sectors at once (slots; on rewritable
				    * media more than the memory holds whole) */
	uint64_t cache_bytes;	      /* preallocated: the sectors it holds (pool_sectors * sector size) */
	uint64_t pool_sectors;
	uint64_t pool_sectors_held;  /* now: sectors of the pool that hold data */
	uint64_t pool_sectors_dirty; /* now */
	int memory_locked;	     /* the cache memory could be mlock'ed */
};

/* Creates the cache and starts its flusher.  On failure returns a negative errno and a one-line
 * reason in err. */
int pkt_cache_create(struct pkt_blockdev *dev, const struct pkt_cache_config *cfg, struct pkt_cache **out, char *err,
		     size_t errlen);

/* Flushes, stops the flusher and frees everything (not the backend).  Returns the flush result:
 * a non-zero value means some data could not be written. */
int pkt_cache_destroy(struct pkt_cache *c);

/* Byte-granular I/O inside [0, capacity).  0 or a negative errno; a read or write either completes
 * whole or fails (-EIO for a medium error, -EROFS, -EINVAL for a range outside the medium). */
int pkt_cache_read(struct pkt_cache *c, void *buf, size_t len, uint64_t off);
int pkt_cache_write(struct pkt_cache *c, const void *buf, size_t len, uint64_t off);

/* The caller says that nobody needs the old contents of the whole sectors in [off, off + len) (a
 * file system: blocks free in its bitmap, referenced by no state that is or may become durable).
 * Where such a sector's packet is cached and idle and the sector is not valid, it becomes valid and
 * zeros, not dirty: nothing extra is written, but when the packet is written because it is dirty
 * anyway, those sectors are zeros instead of being gathered from the medium.  A sector only partly
 * inside the range, a valid (or dirty) one, and a packet that is not cached or is being loaded are
 * left alone, and so are the rest once the pool has no free sector (nothing is evicted for zeros); so
 * call it after writing into the packet.  Never waits for I/O (takes the cache's lock
 * only); write-once media and read-only caches: nothing.  0, or -EINVAL for a range outside the
 * medium. */
int pkt_cache_fill_unused(struct pkt_cache *c, uint64_t off, size_t len);

/* Writes every packet dirtied before the call, then syncs the backend: fsync semantics.  Returns
 * -EIO if any of that data could not be written (it stays cached and dirty; a later flush retries). */
int pkt_cache_flush(struct pkt_cache *c);

/* Defect management: called with the medium sector of a packet that cannot be written, returns in
 * *to the sector of the packet to write it to instead (the caller records the move, e.g. in a UDF
 * sparing table), or a negative errno when there is none. */
typedef int (*pkt_relocate_fn)(void *ctx, uint64_t lba, uint64_t *to);

/* After a flush failed: writes each packet whose write failed again, on its own (a batch fails as
 * a whole), and those that still fail with a medium error (-EIO) at the place relocate() gives.
 * Another error (-ENOMEDIUM: the disc is out of the drive) moves nothing and is returned.  0 when
 * every failed packet is on the medium now; a following pkt_cache_flush syncs it. */
int pkt_cache_rescue_failed(struct pkt_cache *c, pkt_relocate_fn relocate, void *ctx);

/* Early relocation (media life): a packet is worn once its writes over the medium's life, the past
 * ones (the wear record's counts from earlier mounts, n entries) and this cache's, reach limit; 0: no
 * packet is ever worn.  Rewritable media only.  While a limit is set the background flusher leaves a
 * worn dirty packet dirty, whatever its age, for the caller's next pkt_cache_move_worn, except where
 * it needs the memory: when nothing else is left to write while a reader or writer waits for a clean
 * slot, or while the dirty packets are at the high watermark, it writes worn packets in place as
 * before (nothing waits forever, memory stays bounded); a flush writes everything. */
void pkt_cache_set_wear_limit(struct pkt_cache *c, uint64_t limit, const struct pkt_packet_wear *past, size_t n);

/* Before a flush: writes each dirty, idle, worn packet whole at the place relocate() gives (a spare,
 * recorded by the caller) instead of its own, as pkt_cache_rescue_failed does after a failure (a spare
 * that fails is given up for another).  Where relocate() refuses, the packet stays where it is: the
 * flush writes it in place; a refusal with -ENOSPC (spares kept for defects) ends early moves for the
 * life of the cache.  Returns how many packets moved, or a negative errno of a write that failed
 * other than with a medium error (a medium error leaves the packet failed, for the rescue). */
int pkt_cache_move_worn(struct pkt_cache *c, pkt_relocate_fn relocate, void *ctx);
/* Whether a dirty packet is worn now (pkt_cache_move_worn would move it once idle). */
bool pkt_cache_has_worn(struct pkt_cache *c);

/* Drops every clean, idle packet from the cache (tests, and dropping caches on a medium change). */
void pkt_cache_drop_clean(struct pkt_cache *c);

/*
 * Write-once media (geometry append_only).  The cache writes a dirty packet only when it starts at
 * the medium's NWA and is complete, or when a flush asks for everything (the last packet is then
 * padded with zeros, as are sectors nobody wrote; where link sectors follow every packet, a CD-R's
 * variable ones, a flush's one dirty packet written from its start ends where its data does, and
 * the packets after it run from the NWA that left); packets go to the medium strictly in ascending
 * order and are never rewritten; it never gathers (unrecorded sectors cannot be read), and a read
 * of a sector at or past the NWA that it does not hold returns zeros.  A write below the first
 * sector it can still accept fails with -EROFS.
 * Its packets run from the medium's NWA (pkt_cache_append_state) in units of packet_sectors, each
 * followed by link_sectors that are never written (pkt_geometry_append_lba); a write there fails
 * with -EROFS too.  When every slot holds a packet that waits for an earlier one, the writers that
 * wait make the cache pad the earliest rather than wait for a flush (its unwritten sectors then
 * fail with -EROFS: an ascending writer never meets that).  A failed write blocks the packets
 * behind it: flushes and waiting writers get -EIO, and a later flush retries it in place.
 */
/* The first sector a new write may use: past everything the cache holds and past the medium's NWA. */
int pkt_cache_next_writable(struct pkt_cache *c, uint64_t *lba);
/* pkt_blockdev_append_state of the medium under the cache (what is on the medium, not in the cache). */
int pkt_cache_append_state(struct pkt_cache *c, struct pkt_append_state *out);
/* Flushes everything, then pkt_blockdev_close_session. */
int pkt_cache_close_session(struct pkt_cache *c, enum pkt_close_kind kind);

const struct pkt_geometry *pkt_cache_geometry(const struct pkt_cache *c);
uint64_t pkt_cache_capacity_bytes(const struct pkt_cache *c);

void pkt_cache_get_stats(struct pkt_cache *c, struct pkt_cache_stats *st);

/* Writes of one packet (packet = first sector / packet_sectors) by this cache since it was created. */
struct pkt_packet_wear {
	uint64_t packet;
	uint64_t writes;
};
/* The packets tracked: the first ones written, and once the table is full a new packet takes the place
 * of the least written one (of equal counts, the lowest packet number) with that count plus one (the
 * "space-saving" bound: a count is exact while fewer packets were written, never below the truth
 * after), so that the hottest are kept. */
#define PKT_WEAR_TRACKED 1024u
/* Copies up to max tracked packets, most written first, into out; returns how many. */
size_t pkt_cache_hot_packets(struct pkt_cache *c, struct pkt_packet_wear *out, size_t max);

/* Renders the statistics (and the backend's own lines) as "name: value" lines. Returns the length. */
size_t pkt_cache_format_stats(struct pkt_cache *c, char *buf, size_t len);

#endif
