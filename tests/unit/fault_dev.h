/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fault device of the unit tests: a backend over another one (inner) that fails reads or writes
 * on demand (fail_reads, fail_writes, a worn bad_lba) and checks that hold() strictly alternates.
 * It shares the inner device's geometry and has no close: the inner device is closed by its owner.
 * Used by test_pkt_cache.c and test_blockdev_contract.c.
 */
#ifndef PKTFUSE_TEST_FAULT_DEV_H
#define PKTFUSE_TEST_FAULT_DEV_H

#include "blockdev.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

struct faulty {
	struct pkt_blockdev dev;
	struct pkt_blockdev *inner;
	int fail_writes; /* fail while > 0 */
	int write_errno; /* what a failing write returns (0: -EIO, a medium error) */
	int64_t bad_lba; /* a worn sector: every write covering it fails (-1: none) */
	int fail_reads;
	int holds, releases, held;
	pthread_mutex_t m;
};

static inline int faulty_read(struct pkt_blockdev *d, uint64_t lba, uint32_t n, void *buf)
{
	struct faulty *f = d->priv;
	if (__atomic_load_n(&f->fail_reads, __ATOMIC_SEQ_CST))
		return -EIO;
	return pkt_blockdev_read(f->inner, lba, n, buf);
}

static inline int faulty_write(struct pkt_blockdev *d, uint64_t lba, uint32_t n, const void *buf)
{
	struct faulty *f = d->priv;
	if (__atomic_load_n(&f->fail_writes, __ATOMIC_SEQ_CST))
		return f->write_errno ? f->write_errno : -EIO;
	int64_t bad = __atomic_load_n(&f->bad_lba, __ATOMIC_SEQ_CST);
	if (bad >= 0 && (uint64_t)bad >= lba && (uint64_t)bad < lba + n)
		return -EIO;
	return pkt_blockdev_write(f->inner, lba, n, buf);
}

static inline int faulty_sync(struct pkt_blockdev *d)
{
	struct faulty *f = d->priv;
	return pkt_blockdev_sync(f->inner);
}

static inline void faulty_hold(struct pkt_blockdev *d, bool dirty)
{
	struct faulty *f = d->priv;
	pthread_mutex_lock(&f->m);
	ck_assert_int_ne(f->held, dirty); /* strictly alternating */
	f->held = dirty;
	if (dirty)
		f->holds++;
	else
		f->releases++;
	pthread_mutex_unlock(&f->m);
}

static const struct pkt_blockdev_ops faulty_ops = {
	.read = faulty_read, .write = faulty_write, .sync = faulty_sync, .hold = faulty_hold};

static inline void faulty_init(struct faulty *fd, struct pkt_blockdev *inner)
{
	memset(fd, 0, sizeof(*fd));
	fd->dev.ops = &faulty_ops;
	fd->dev.geo = inner->geo;
	fd->dev.priv = fd;
	fd->inner = inner;
	fd->bad_lba = -1;
	pthread_mutex_init(&fd->m, NULL);
}

#endif
