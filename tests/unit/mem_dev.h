/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A block device in memory for unit tests: whole packets only (as the packet cache promises), a
 * worn sector every write over which fails, an unreadable sector. */
#ifndef PKTFUSE_TEST_MEM_DEV_H
#define PKTFUSE_TEST_MEM_DEV_H

#include "blockdev.h"
#include "pkt_cache.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mem_dev {
	struct pkt_blockdev dev;
	uint8_t *data;
	int64_t bad_write_lba; /* -1: none */
	int64_t bad_read_lba;  /* -1: none */
};

static int mem_read(struct pkt_blockdev *d, uint64_t lba, uint32_t n, void *buf)
{
	struct mem_dev *m = d->priv;
	if (lba + n > d->geo.sector_count)
		return -EINVAL;
	if (m->bad_read_lba >= 0 && (uint64_t)m->bad_read_lba >= lba && (uint64_t)m->bad_read_lba < lba + n)
		return -EIO;
	memcpy(buf, m->data + lba * PKT_SECTOR_SIZE, (size_t)n * PKT_SECTOR_SIZE);
	return 0;
}

static int mem_write(struct pkt_blockdev *d, uint64_t lba, uint32_t n, const void *buf)
{
	struct mem_dev *m = d->priv;
	ck_assert(pkt_geometry_is_packet_write(&d->geo, lba, n));
	if (m->bad_write_lba >= 0 && (uint64_t)m->bad_write_lba >= lba && (uint64_t)m->bad_write_lba < lba + n)
		return -EIO;
	memcpy(m->data + lba * PKT_SECTOR_SIZE, buf, (size_t)n * PKT_SECTOR_SIZE);
	return 0;
}

static int mem_sync(struct pkt_blockdev *d)
{
	(void)d;
	return 0;
}

static const struct pkt_blockdev_ops mem_ops = {.read = mem_read, .write = mem_write, .sync = mem_sync};

static void mem_dev_init(struct mem_dev *m, uint64_t sectors, uint32_t packet_sectors)
{
	memset(m, 0, sizeof(*m));
	m->data = calloc(sectors, PKT_SECTOR_SIZE);
	ck_assert_ptr_nonnull(m->data);
	m->dev.ops = &mem_ops;
	m->dev.priv = m;
	m->dev.geo = (struct pkt_geometry){.sector_size = PKT_SECTOR_SIZE,
					   .packet_sectors = packet_sectors,
					   .sector_count = sectors,
					   .writable = true};
	m->bad_write_lba = m->bad_read_lba = -1;
}

static void mem_dev_free(struct mem_dev *m)
{
	free(m->data);
}

/* The packet cache over m that writes nothing back on its own (its dirty age is ten minutes): what
 * reaches the medium is what the test forces. */
static inline struct pkt_cache *mem_dev_cache(struct mem_dev *m)
{
	struct pkt_cache_config cc = {.dirty_age_ms = 600000};
	struct pkt_cache *c;
	char err[256];

	ck_assert_int_eq(pkt_cache_create(&m->dev, &cc, &c, err, sizeof(err)), 0);
	return c;
}

#endif
