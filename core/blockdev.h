/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one block-device interface of pktfuse.
 *
 * Every backend (image file, MMC drive, emulated drive) fills in a struct pkt_blockdev; the packet
 * cache sits on top of it and the UDF engine and the virtual block file sit on the cache.  Sectors
 * are always 2048 bytes at this level.  A backend never sees a byte offset: it is addressed in whole
 * sectors, and the packet cache only ever hands it whole, packet-aligned packets to write.
 *
 * Return convention for every callback: 0 on success, a negative errno on failure.
 */
#ifndef PKTFUSE_BLOCKDEV_H
#define PKTFUSE_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_SECTOR_SIZE 2048u
/* Larger packets than this are not made by any medium; the bound keeps cache bitmaps small. */
#define PKT_MAX_PACKET_SECTORS 1024u

struct pkt_geometry {
	uint32_t sector_size;    /* always PKT_SECTOR_SIZE */
	uint32_t packet_sectors; /* write unit in sectors (CD-RW 32, DVD 16, BD 32) */
	uint64_t sector_count;   /* capacity; the last packet may be partial */
	bool writable;
};

struct pkt_blockdev;

struct pkt_blockdev_ops {
	/* Reads count sectors starting at lba into buf. */
	int (*read)(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, void *buf);
	/* Writes count sectors; the cache guarantees whole packets at packet-aligned lba (the final
	 * packet of a medium whose size is not a whole number of packets is written whole, shorter). */
	int (*write)(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, const void *buf);
	/* Makes every completed write durable on the medium (fdatasync, SYNCHRONIZE CACHE). */
	int (*sync)(struct pkt_blockdev *dev);
	/* Releases the backend; the struct itself is freed by the backend. May be NULL. */
	void (*close)(struct pkt_blockdev *dev);
	/* Told by the cache when it starts holding dirty data (true) and when all of it is on the
	 * medium again (false): a drive locks its tray meanwhile.  May be NULL. */
	void (*hold)(struct pkt_blockdev *dev, bool dirty);
	/* Appends backend-specific "name: value" lines to buf (for the stats file). May be NULL.
	 * Returns the number of bytes written (snprintf-style, never more than len - 1). */
	size_t (*describe)(struct pkt_blockdev *dev, char *buf, size_t len);
};

struct pkt_blockdev {
	const struct pkt_blockdev_ops *ops;
	struct pkt_geometry geo;
	void *priv; /* backend state */
};

static inline int pkt_blockdev_read(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, void *buf)
{
	return dev->ops->read(dev, lba, count, buf);
}

static inline int pkt_blockdev_write(struct pkt_blockdev *dev, uint64_t lba, uint32_t count,
				     const void *buf)
{
	return dev->ops->write(dev, lba, count, buf);
}

static inline int pkt_blockdev_sync(struct pkt_blockdev *dev)
{
	return dev->ops->sync(dev);
}

static inline void pkt_blockdev_close(struct pkt_blockdev *dev)
{
	if (dev && dev->ops->close)
		dev->ops->close(dev);
}

/* True when [lba, lba+count) is whole packets at packet-aligned sectors, or exactly the final
 * partial packet of the medium.  Backends in strict mode and the emulator use it. */
bool pkt_geometry_is_packet_write(const struct pkt_geometry *geo, uint64_t lba, uint32_t count);

#endif
