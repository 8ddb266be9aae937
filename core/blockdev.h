/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one block-device interface of pktfuse.
 *
 * Every backend (image file, MMC drive, emulated drive) fills in a struct pkt_blockdev; the packet
 * cache sits on top of it and the UDF engine and the virtual block file sit on the cache.  Sectors
 * are always 2048 bytes at this level.  A backend never sees a byte offset: it is addressed in whole
 * sectors, and the packet cache only ever hands it whole, packet-aligned packets to write.
 */
#ifndef PKTFUSE_BLOCKDEV_H
#define PKTFUSE_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define PKT_SECTOR_SIZE 2048u
/* Larger packets than this are not made by any medium; the bound keeps cache bitmaps small. */
#define PKT_MAX_PACKET_SECTORS 1024u

struct pkt_geometry {
	uint32_t sector_size;	 /* always PKT_SECTOR_SIZE */
	uint32_t packet_sectors; /* write unit in sectors (CD-RW 32, DVD 16, BD 32) */
	uint64_t sector_count;	 /* capacity; the last packet may be partial */
	bool writable;
	/* The medium refuses a write that is not whole packets (pkt_geometry_is_packet_write): a strict
	 * image, a CD-RW in fixed packets, a DVD-RW in restricted overwrite.  Elsewhere a partial packet
	 * costs the drive a read-modify-write but is accepted. */
	bool whole_packets;
	/* A write-once medium (CD-R, DVD±R, BD-R, or an image file made as one): each sector is
	 * written at most once, only at the next writable address (NWA) of the open track, in whole
	 * write units of packet_sectors (the last unit of a commit padded; a CD-R's may end short),
	 * never over a recorded sector.  sector_count is the capacity, recorded or not; reading an unrecorded sector fails. */
	bool append_only;
	/* append_only: sectors the medium loses after every write command (CD-R variable packets: the
	 * 7 link blocks; DVD±R, BD-R and image files: 0).  Where it is not 0 each write command is one
	 * packet of at most packet_sectors, and the next one starts link_sectors after its end. */
	uint32_t link_sectors;
};

/* Where a write-once medium stands (pkt_blockdev_append_state). */
struct pkt_append_state {
	uint64_t next_writable; /* NWA: the sector where the next write must start */
	uint64_t free_sectors;	/* writable from next_writable on (link blocks not subtracted) */
	bool recorded;		/* anything written at all */
	uint64_t last_recorded; /* the last sector written, when recorded (a VAT's ICB after a commit) */
	uint64_t session_start; /* first sector of the last session, open or closed */
	uint32_t sessions;	/* sessions on the disc, the open one included; 0 when blank */
	bool closed;		/* finalized: no write will be accepted */
};

enum pkt_close_kind {
	PKT_CLOSE_TRACK,   /* the open track; the session stays open */
	PKT_CLOSE_SESSION, /* track and session; another session can follow where the medium allows */
	PKT_CLOSE_FINALIZE /* the disc: nothing can be written any more */
};

struct pkt_blockdev;

/*
 * The backend's callbacks.  Only the pkt_blockdev_*() functions below call them (white-box tests
 * aside), and those have already checked what every backend would check in the same way, so a
 * callback may assume:
 *   - read/write: [lba, lba + count) lies within geo.sector_count (else -EIO, never reaching it);
 *   - write: geo.writable (else -EROFS), and buf holds count * PKT_SECTOR_SIZE bytes;
 *   - write from the packet cache: whole packets at packet-aligned lba, or exactly the final partial
 *     packet of the medium (asserted in debug builds where geo.whole_packets).  Other callers (tools,
 *     tests) may send anything in range: a backend enforces its medium's own rules and refuses the
 *     rest with a negative errno.
 * Threads: read may run on any thread that reads or writes through the cache (FUSE workers, the
 * flusher gathering a packet, a rescue), concurrently with other reads, a write or a sync; write runs
 * on the cache's flusher thread and on the thread of a defect rescue; sync on whichever thread
 * flushes (fsync, the committer, unmount); hold only on the flusher (so that lock and unlock reach the
 * backend in order) and once more in pkt_cache_destroy after the flusher has stopped; describe on
 * whichever thread formats the stats.  No cache lock is held during any callback.  A backend that
 * cannot take concurrent commands serializes them itself (mmc_dev: one mutex per drive).
 * close runs last, once, on the owner's thread, with no other callback running or to come.
 * Return convention: 0 on success, a negative errno on failure.
 */
struct pkt_blockdev_ops {
	/* Reads count sectors starting at lba into buf.  A medium error fails the call with -EIO (the
	 * sectors that could be read are still in buf where the backend salvages them). */
	int (*read)(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, void *buf);
	/* Writes count sectors from buf; completed means handed to the medium or the drive's cache (sync
	 * makes it durable). */
	int (*write)(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, const void *buf);
	/* Makes every completed write durable on the medium (fdatasync, SYNCHRONIZE CACHE); 0 at once on
	 * a read-only device. */
	int (*sync)(struct pkt_blockdev *dev);
	/* Releases the backend, flushing what the medium needs to be readable elsewhere; the struct
	 * itself is freed by the backend.  May be NULL. */
	void (*close)(struct pkt_blockdev *dev);
	/* Told by the cache when it starts holding dirty data (true) and when all of it is on the
	 * medium again (false), strictly alternating, starting with true: a drive locks its tray
	 * meanwhile.  Cannot fail (a drive that refuses the lock is still written).  May be NULL. */
	void (*hold)(struct pkt_blockdev *dev, bool dirty);
	/* Appends backend-specific "name: value" lines to buf (for the stats file). May be NULL.
	 * Returns the number of bytes written (snprintf-style, never more than len - 1). */
	size_t (*describe)(struct pkt_blockdev *dev, char *buf, size_t len);
	/* append_only media: where the medium stands now.  NULL on rewritable media. */
	int (*append_state)(struct pkt_blockdev *dev, struct pkt_append_state *out);
	/* append_only media: syncs, then closes what kind says.  NULL on rewritable media. */
	int (*close_session)(struct pkt_blockdev *dev, enum pkt_close_kind kind);
	/* As write, from nbufs buffers of whole sectors, back to back (count sectors in all); the
	 * entries of iov may be changed by the call.  Spares the flusher the copy of a run of packets
	 * into one buffer, as they sit in separate slots.  May be NULL (then the caller copies). */
	int (*writev)(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, struct iovec *iov, int nbufs);
};

struct pkt_blockdev {
	const struct pkt_blockdev_ops *ops;
	struct pkt_geometry geo;
	void *priv; /* backend state */
};

/* The one way to call a backend: every caller (the packet cache, tools, tests) goes through these. */

/* 0 when [lba, lba + count) lies within the medium, else -EIO (what every backend answered). */
int pkt_blockdev_check_range(const struct pkt_geometry *geo, uint64_t lba, uint32_t count);
int pkt_blockdev_read(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, void *buf);
/* Any in-range write of a writable device reaches the backend, which keeps its medium's rules. */
int pkt_blockdev_write(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, const void *buf);
/* pkt_blockdev_write for a caller that promises the packet rule (the packet cache): in debug builds
 * (NDEBUG not defined) a write breaking it aborts where geo.whole_packets says the medium would
 * refuse it. */
int pkt_blockdev_write_packets(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, const void *buf);
/* Whether the backend has writev; pkt_blockdev_writev_packets is write_packets from several buffers
 * (-EOPNOTSUPP without writev). */
bool pkt_blockdev_has_writev(const struct pkt_blockdev *dev);
int pkt_blockdev_writev_packets(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, struct iovec *iov, int nbufs);
int pkt_blockdev_sync(struct pkt_blockdev *dev);
/* hold() when the backend has one. */
void pkt_blockdev_hold(struct pkt_blockdev *dev, bool dirty);
/* describe() when the backend has one, else 0 (nothing appended). */
size_t pkt_blockdev_describe(struct pkt_blockdev *dev, char *buf, size_t len);

/* The callbacks of write-once media; -EOPNOTSUPP for a device that is not append_only. */
int pkt_blockdev_append_state(struct pkt_blockdev *dev, struct pkt_append_state *out);
int pkt_blockdev_close_session(struct pkt_blockdev *dev, enum pkt_close_kind kind);

/* The sector that the k-th sector of a run written from NWA start lands on, when the run is written
 * in whole packets of geo->packet_sectors (append_only media lose geo->link_sectors after each). */
uint64_t pkt_geometry_append_lba(const struct pkt_geometry *geo, uint64_t start, uint64_t k);

static inline void pkt_blockdev_close(struct pkt_blockdev *dev)
{
	if (dev && dev->ops->close)
		dev->ops->close(dev);
}

/* True when [lba, lba+count) is whole packets at packet-aligned sectors, or exactly the final
 * partial packet of the medium.  Backends in strict mode and the emulator use it. */
bool pkt_geometry_is_packet_write(const struct pkt_geometry *geo, uint64_t lba, uint32_t count);

#endif
