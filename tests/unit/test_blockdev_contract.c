/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block-device contract (core/blockdev.h), one battery run over every backend: the image file
 * (strict and lenient), the emulated drive through mmc_dev (CD-RW in fixed packets, DVD-RW restricted
 * overwrite, DVD+RW) and the fault device of the unit tests over a strict image.  Each backend must
 * give a sane geometry, read back what was written, refuse out-of-range calls with the same errno
 * (-EIO) and writes to a read-only open with -EROFS, accept whole packets (and the medium's short final
 * packet), refuse a write that breaks the packet rule where its geometry says whole_packets, sync, and
 * free everything on close (the sanitizer build checks for leaks).  The write-once backends (emulated
 * CD-R, DVD-R, DVD+R, BD-R) get their own cases: writes only at the NWA, never twice, unrecorded
 * sectors unreadable, closing and finalizing.
 */
#define _GNU_SOURCE
#include "fault_dev.h"
#include "image_dev.h"
#include "mmc_dev.h"
#include "source.h"
#include "test_tmpdir.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

static char dir[64];
static char err[512];

/* One backend under test: opened afresh for every case over a new medium in dir. */
struct backend {
	const char *name;
	struct pkt_blockdev *(*open)(const struct backend *b, bool read_only);
	const char *profile; /* emulated drives: the emulator's PROFILE */
	uint32_t packet;     /* image backends: packet size */
	bool strict;	     /* image backends: -o strict */
	bool append;	     /* image backends: an image of a write-once disc (starts empty) */
	bool expect_whole_packets;
};

/* The fault device's inner image, closed with it. */
static struct faulty fault;

static void setup(void)
{
	test_tmpdir_make(dir, sizeof(dir), "pktfuse-contract");
	err[0] = 0;
}

static void teardown(void)
{
	test_tmpdir_remove(dir);
}

/* A medium of 64 packets and 5 sectors: the last packet is short. */
static uint64_t image_sectors(uint32_t packet)
{
	return (uint64_t)packet * 64 + 5;
}

static struct pkt_blockdev *open_image(const struct backend *b, bool read_only)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/disc.img", dir);
	if (access(path, F_OK) != 0) {
		int fd = open(path, O_RDWR | O_CREAT, 0644);
		ck_assert_int_ge(fd, 0);
		if (!b->append)
			ck_assert_int_eq(ftruncate(fd, (off_t)(image_sectors(b->packet) * PKT_SECTOR_SIZE)), 0);
		close(fd);
	}
	struct image_dev_options o = {.packet_sectors = b->packet,
				      .strict = b->strict,
				      .read_only = read_only,
				      .append_only = b->append,
				      .capacity_sectors = b->append ? image_sectors(b->packet) : 0};
	struct pkt_blockdev *dev = image_dev_open(path, &o, err, sizeof(err));
	ck_assert_msg(dev != NULL, "%s", err);
	return dev;
}

static const char *emu_spec(const struct backend *b)
{
	static char s[256];

	snprintf(s, sizeof(s), "emu:%s:%s/disc.img,size=4M", b->profile, dir);
	return s;
}

static struct pkt_blockdev *open_emu(const struct backend *b, bool read_only)
{
	const char *src = emu_spec(b);
	char state[128];

	snprintf(state, sizeof(state), "%s/disc.img.state", dir);
	if (access(state, F_OK) != 0) {
		struct mmc_format_options fo = {0};
		ck_assert_msg(mmc_cmd_format(src, &fo, err, sizeof(err)) == 0, "format %s: %s", src, err);
	}
	struct mmc_source_options o = {.read_only = read_only, .quiet = true};
	struct pkt_blockdev *dev = NULL;
	ck_assert_msg(mmc_source_open(src, &o, &dev, err, sizeof(err)) == 1, "open %s: %s", src, err);
	return dev;
}

static void close_fault(struct pkt_blockdev *dev);

static struct pkt_blockdev *open_fault(const struct backend *b, bool read_only)
{
	const struct backend inner = {.packet = b->packet, .strict = true};

	faulty_init(&fault, open_image(&inner, read_only));
	return &fault.dev;
}

static const struct backend backends[] = {
	{.name = "image strict", .open = open_image, .packet = 16, .strict = true, .expect_whole_packets = true},
	{.name = "image", .open = open_image, .packet = 32},
	{.name = "emu cdrw", .open = open_emu, .profile = "cdrw", .expect_whole_packets = true},
	{.name = "emu dvd-rw", .open = open_emu, .profile = "dvd-rw", .expect_whole_packets = true},
	{.name = "emu dvd+rw", .open = open_emu, .profile = "dvd+rw"},
	{.name = "fault over strict image", .open = open_fault, .packet = 16, .expect_whole_packets = true},
	{.name = "image of a write-once disc", .open = open_image, .packet = 16, .strict = true, .append = true},
};
#define NBACKENDS (int)(sizeof(backends) / sizeof(backends[0]))

/* The fault device has no close of its own: its owner closes the inner device. */
static void close_fault(struct pkt_blockdev *dev)
{
	pkt_blockdev_close(dev);
	pkt_blockdev_close(fault.inner);
	pthread_mutex_destroy(&fault.m);
}

static void close_dev(const struct backend *b, struct pkt_blockdev *dev)
{
	if (b->open == open_fault)
		close_fault(dev);
	else
		pkt_blockdev_close(dev);
}

static void pattern(uint8_t *buf, uint64_t lba, uint32_t n, uint32_t seed)
{
	for (uint32_t s = 0; s < n; s++)
		for (unsigned i = 0; i < PKT_SECTOR_SIZE; i += 8) {
			uint64_t v = (lba + s) * 0x9e3779b97f4a7c15ull ^ (uint64_t)seed << 40 ^ i;
			memcpy(buf + (size_t)s * PKT_SECTOR_SIZE + i, &v, 8);
		}
}

/* One case: the backend under test, opened writable, and two packets of buffer. */
struct run {
	const struct backend *b;
	struct pkt_blockdev *dev;
	uint32_t ps;
	uint8_t *buf, *back;
};

static void run_open(struct run *r, int i)
{
	r->b = &backends[i];
	r->dev = r->b->open(r->b, false);
	r->ps = r->dev->geo.packet_sectors;
	r->buf = calloc((size_t)2 * r->ps, PKT_SECTOR_SIZE);
	r->back = calloc((size_t)2 * r->ps, PKT_SECTOR_SIZE);
	ck_assert(r->buf && r->back);
}

/* Closes and opens the device again, read-only or not. */
static void run_reopen(struct run *r, bool read_only)
{
	close_dev(r->b, r->dev);
	r->dev = r->b->open(r->b, read_only);
}

static void run_close(struct run *r)
{
	close_dev(r->b, r->dev);
	free(r->buf);
	free(r->back);
}

START_TEST(test_geometry_sane)
{
	struct run r;

	run_open(&r, _i);
	const struct pkt_geometry *g = &r.dev->geo;
	ck_assert_uint_eq(g->sector_size, PKT_SECTOR_SIZE);
	ck_assert_uint_ge(g->packet_sectors, 1);
	ck_assert_uint_le(g->packet_sectors, PKT_MAX_PACKET_SECTORS);
	ck_assert_uint_ge(g->sector_count, g->packet_sectors);
	ck_assert(g->writable);
	ck_assert_msg(g->whole_packets == r.b->expect_whole_packets, "%s: whole_packets %d", r.b->name,
		      g->whole_packets);
	ck_assert_ptr_nonnull(r.dev->ops->read);
	ck_assert_ptr_nonnull(r.dev->ops->write);
	ck_assert_ptr_nonnull(r.dev->ops->sync);
	run_close(&r);
}
END_TEST

/* Whole packets at the start, in the middle (two at once) and the medium's last packet read back as
 * written, after a sync and after reopening read-only. */
START_TEST(test_reads_what_was_written)
{
	struct run r;

	run_open(&r, _i);
	uint64_t n = r.dev->geo.sector_count, last = (n - 1) / r.ps * r.ps;
	struct extent {
		uint64_t lba;
		uint32_t count;
	};
	const struct extent anywhere[] = {{0, r.ps}, {(uint64_t)r.ps * 4, 2 * r.ps}, {last, (uint32_t)(n - last)}};
	/* write-once media: at the NWA, in order, so without the medium's last packet */
	const struct extent ascending[] = {{0, r.ps}, {r.ps, 2 * r.ps}, {(uint64_t)r.ps * 3, r.ps}};
	const struct extent *runs = r.dev->geo.append_only ? ascending : anywhere;

	for (unsigned k = 0; k < 3; k++) {
		pattern(r.buf, runs[k].lba, runs[k].count, 7);
		ck_assert_int_eq(pkt_blockdev_write_packets(r.dev, runs[k].lba, runs[k].count, r.buf), 0);
	}
	ck_assert_int_eq(pkt_blockdev_sync(r.dev), 0);
	for (int reopen = 0; reopen < 2; reopen++) {
		for (unsigned k = 0; k < 3; k++) {
			size_t bytes = (size_t)runs[k].count * PKT_SECTOR_SIZE;
			pattern(r.buf, runs[k].lba, runs[k].count, 7);
			memset(r.back, 0, bytes);
			ck_assert_int_eq(pkt_blockdev_read(r.dev, runs[k].lba, runs[k].count, r.back), 0);
			ck_assert_msg(memcmp(r.back, r.buf, bytes) == 0, "%s: sectors %llu+%u differ", r.b->name,
				      (unsigned long long)runs[k].lba, runs[k].count);
		}
		run_reopen(&r, true);
	}
	run_close(&r);
}
END_TEST

/* Past the end, across the end, and at an lba whose sum with count wraps: -EIO from every backend,
 * reads and writes alike. */
START_TEST(test_out_of_range_refused)
{
	struct run r;

	run_open(&r, _i);
	uint64_t n = r.dev->geo.sector_count;
	const struct {
		uint64_t lba;
		uint32_t count;
	} bad[] = {{n, 1}, {n - 1, 2}, {n / r.ps * r.ps + r.ps, r.ps}, {UINT64_MAX - 1, 2 * r.ps}};

	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ck_assert_int_eq(pkt_blockdev_read(r.dev, bad[k].lba, bad[k].count, r.buf), -EIO);
		ck_assert_int_eq(pkt_blockdev_write(r.dev, bad[k].lba, bad[k].count, r.buf), -EIO);
	}
	run_close(&r);
}
END_TEST

START_TEST(test_read_only_refuses_writes)
{
	struct run r;

	run_open(&r, _i);
	if (r.dev->geo.append_only) /* something to read back */
		ck_assert_int_eq(pkt_blockdev_write_packets(r.dev, 0, r.ps, r.buf), 0);
	run_reopen(&r, true);
	ck_assert(!r.dev->geo.writable);
	ck_assert_int_eq(pkt_blockdev_write(r.dev, 0, r.ps, r.buf), -EROFS);
	ck_assert_int_eq(pkt_blockdev_read(r.dev, 0, r.ps, r.back), 0);
	ck_assert_int_eq(pkt_blockdev_sync(r.dev), 0);
	run_close(&r);
}
END_TEST

/* Where the geometry says whole packets, a misaligned or partial write is refused by the backend itself
 * (pkt_blockdev_write does not check the rule: the medium does) and leaves the medium as it was;
 * elsewhere it is accepted. */
START_TEST(test_packet_rule)
{
	struct run r;

	run_open(&r, _i);
	size_t bytes = (size_t)r.ps * PKT_SECTOR_SIZE;
	pattern(r.buf, 0, r.ps, 1);
	ck_assert_int_eq(pkt_blockdev_write_packets(r.dev, 0, r.ps, r.buf), 0);
	pattern(r.buf, 1, r.ps, 2);
	int misaligned = pkt_blockdev_write(r.dev, 1, r.ps, r.buf);
	int partial = pkt_blockdev_write(r.dev, (uint64_t)r.ps * 4, 1, r.buf);
	ck_assert_int_eq(pkt_blockdev_sync(r.dev), 0);
	if (r.dev->geo.whole_packets || r.dev->geo.append_only) {
		ck_assert_msg(misaligned < 0 && partial < 0, "%s: misaligned %d, partial %d", r.b->name, misaligned,
			      partial);
		pattern(r.buf, 0, r.ps, 1);
		ck_assert_int_eq(pkt_blockdev_read(r.dev, 0, r.ps, r.back), 0);
	} else {
		ck_assert_int_eq(misaligned, 0);
		ck_assert_int_eq(partial, 0);
		ck_assert_int_eq(pkt_blockdev_read(r.dev, 1, r.ps, r.back), 0);
	}
	ck_assert_mem_eq(r.back, r.buf, bytes);
	run_close(&r);
}
END_TEST

/* hold and describe through the choke point: optional callbacks are skipped, present ones run. */
START_TEST(test_hold_and_describe)
{
	struct run r;
	char desc[2048] = "";

	run_open(&r, _i);
	pkt_blockdev_hold(r.dev, true);
	pkt_blockdev_hold(r.dev, false);
	size_t n = pkt_blockdev_describe(r.dev, desc, sizeof(desc));
	ck_assert_uint_lt(n, sizeof(desc));
	ck_assert_uint_eq(n, strlen(desc));
	if (r.dev->ops->describe)
		ck_assert_msg(strstr(desc, "backend: "), "%s: %s", r.b->name, desc);
	else
		ck_assert_uint_eq(n, 0);
	run_close(&r);
}
END_TEST

/* Rewritable backends answer the write-once calls with -EOPNOTSUPP, not with a guess. */
START_TEST(test_rewritable_has_no_append_state)
{
	struct run r;
	struct pkt_append_state st;

	run_open(&r, _i);
	if (!r.dev->geo.append_only) {
		ck_assert_int_eq(pkt_blockdev_append_state(r.dev, &st), -EOPNOTSUPP);
		ck_assert_int_eq(pkt_blockdev_close_session(r.dev, PKT_CLOSE_SESSION), -EOPNOTSUPP);
	}
	run_close(&r);
}
END_TEST

/* Write-once backends: writes only at the NWA in whole units, never over what is recorded; reads of
 * what is not recorded fail; append_state follows. */
START_TEST(test_append_only_rules)
{
	struct run r;
	struct pkt_append_state st;

	run_open(&r, _i);
	if (!r.dev->geo.append_only) {
		run_close(&r);
		return;
	}
	ck_assert_int_eq(pkt_blockdev_append_state(r.dev, &st), 0);
	ck_assert_uint_eq(st.next_writable, 0);
	ck_assert(!st.recorded && !st.closed);
	ck_assert_uint_eq(st.free_sectors, r.dev->geo.sector_count);
	ck_assert_int_eq(pkt_blockdev_read(r.dev, 0, 1, r.back), -EIO);
	pattern(r.buf, 0, 2 * r.ps, 3);
	ck_assert_int_eq(pkt_blockdev_write(r.dev, r.ps, r.ps, r.buf), -EINVAL); /* not at the NWA */
	ck_assert_int_eq(pkt_blockdev_write(r.dev, 0, 1, r.buf), -EINVAL);	 /* not a whole unit */
	ck_assert_int_eq(pkt_blockdev_write(r.dev, 0, 2 * r.ps, r.buf), 0);
	ck_assert_int_eq(pkt_blockdev_write(r.dev, 0, r.ps, r.buf), -EINVAL); /* over recorded sectors */
	ck_assert_int_eq(pkt_blockdev_read(r.dev, 2 * r.ps - 1, 2, r.back), -EIO);
	ck_assert_int_eq(pkt_blockdev_read(r.dev, 0, 2 * r.ps, r.back), 0);
	ck_assert_mem_eq(r.back, r.buf, (size_t)2 * r.ps * PKT_SECTOR_SIZE);
	ck_assert_int_eq(pkt_blockdev_append_state(r.dev, &st), 0);
	ck_assert_uint_eq(st.next_writable, 2 * r.ps);
	ck_assert(st.recorded);
	ck_assert_uint_eq(st.last_recorded, 2 * r.ps - 1);
	ck_assert_uint_eq(st.free_sectors, r.dev->geo.sector_count - 2 * r.ps);
	/* the state survives a reopen: it is the file's length */
	run_reopen(&r, false);
	ck_assert_int_eq(pkt_blockdev_append_state(r.dev, &st), 0);
	ck_assert_uint_eq(st.next_writable, 2 * r.ps);
	run_close(&r);
}
END_TEST

/* A run written in whole packets from an NWA: CD-R variable packets lose 7 link blocks after each. */
START_TEST(test_append_lba)
{
	struct pkt_geometry g = {.packet_sectors = 32, .append_only = true};

	ck_assert_uint_eq(pkt_geometry_append_lba(&g, 100, 0), 100);
	ck_assert_uint_eq(pkt_geometry_append_lba(&g, 100, 40), 140);
	g.link_sectors = 7;
	ck_assert_uint_eq(pkt_geometry_append_lba(&g, 100, 31), 131);
	ck_assert_uint_eq(pkt_geometry_append_lba(&g, 100, 32), 139);
	ck_assert_uint_eq(pkt_geometry_append_lba(&g, 100, 65), 100 + 2 * 39 + 1);
}
END_TEST

/* ---- write-once backends: the emulated CD-R, DVD-R, DVD+R and BD-R through mmc_dev -------------- */

static const struct {
	const char *profile;
	uint32_t packet, link;
} wo_backends[] = {{"cd-r", 32, 7}, {"dvd-r", 16, 0}, {"dvd+r", 16, 0}, {"bd-r", 32, 0}};
#define NWO (int)(sizeof(wo_backends) / sizeof(wo_backends[0]))

/* A blank write-once disc of 64 MiB (room for the CD-R and DVD-R session gaps), or the one made. */
static struct pkt_blockdev *open_wo(int i, bool read_only)
{
	char src[256];
	struct mmc_source_options o = {.read_only = read_only, .quiet = true};
	struct pkt_blockdev *dev = NULL;

	snprintf(src, sizeof(src), "emu:%s:%s/disc.img,size=64M", wo_backends[i].profile, dir);
	ck_assert_msg(mmc_source_open(src, &o, &dev, err, sizeof(err)) == 1, "open %s: %s", src, err);
	return dev;
}

static struct pkt_append_state wo_state(struct pkt_blockdev *dev)
{
	struct pkt_append_state st;

	ck_assert_int_eq(pkt_blockdev_append_state(dev, &st), 0);
	return st;
}

/* Geometry: append-only, the medium's write unit and link blocks, writable, the write-once calls. */
START_TEST(test_wo_geometry)
{
	struct pkt_blockdev *dev = open_wo(_i, false);
	const struct pkt_geometry *g = &dev->geo;

	ck_assert(g->append_only && g->writable && !g->whole_packets);
	ck_assert_uint_eq(g->packet_sectors, wo_backends[_i].packet);
	ck_assert_uint_eq(g->link_sectors, wo_backends[_i].link);
	ck_assert_uint_eq(g->sector_count, 32768);
	struct pkt_append_state st = wo_state(dev);
	ck_assert(!st.recorded && !st.closed);
	ck_assert_uint_eq(st.next_writable, 0);
	ck_assert_uint_eq(st.free_sectors, 32768);
	ck_assert_uint_eq(st.sessions, 0);
	char desc[2048] = "";
	pkt_blockdev_describe(dev, desc, sizeof(desc));
	ck_assert_msg(strstr(desc, "mmc_disc_status: blank") && strstr(desc, "mmc_next_writable: 0"), "%s", desc);
	pkt_blockdev_close(dev);
}
END_TEST

/* Writes at the NWA are accepted and land where pkt_geometry_append_lba says; a write elsewhere or over
 * recorded sectors is refused; unrecorded sectors do not read; all of it survives reopening, and a
 * read-only open refuses writes with -EROFS. */
START_TEST(test_wo_append_rules)
{
	struct pkt_blockdev *dev = open_wo(_i, false);
	uint32_t ps = dev->geo.packet_sectors;
	uint8_t *buf = calloc(ps, PKT_SECTOR_SIZE), *back = calloc(ps, PKT_SECTOR_SIZE);
	uint64_t lba[6];

	ck_assert(buf && back);
	for (unsigned k = 0; k < 6; k++) {
		lba[k] = pkt_geometry_append_lba(&dev->geo, 0, (uint64_t)k * ps);
		ck_assert_uint_eq(wo_state(dev).next_writable, lba[k]);
		pattern(buf, lba[k], ps, 3);
		ck_assert_int_lt(pkt_blockdev_write(dev, lba[k] + ps, ps, buf), 0); /* not at the NWA */
		if (k)
			ck_assert_int_lt(pkt_blockdev_write(dev, lba[k - 1], ps, buf), 0); /* recorded */
		ck_assert_int_eq(pkt_blockdev_write(dev, lba[k], ps, buf), 0);
	}
	struct pkt_append_state st = wo_state(dev);
	ck_assert(st.recorded);
	ck_assert_uint_eq(st.last_recorded, lba[5] + ps - 1);
	ck_assert_uint_eq(st.sessions, 1);
	ck_assert_uint_eq(st.session_start, 0);
	if (wo_backends[_i].link) /* one WRITE, one packet */
		ck_assert_int_lt(pkt_blockdev_write(dev, st.next_writable, 2 * ps, buf), 0);
	ck_assert_int_lt(pkt_blockdev_read(dev, st.next_writable + 64, 1, back), 0);
	ck_assert_int_eq(pkt_blockdev_sync(dev), 0);
	for (int ro = 0; ro < 2; ro++) {
		pkt_blockdev_close(dev);
		dev = open_wo(_i, ro == 1);
		for (unsigned k = 0; k < 6; k++) {
			pattern(buf, lba[k], ps, 3);
			ck_assert_int_eq(pkt_blockdev_read(dev, lba[k], ps, back), 0);
			ck_assert_mem_eq(back, buf, (size_t)ps * PKT_SECTOR_SIZE);
		}
		ck_assert_uint_eq(wo_state(dev).next_writable, st.next_writable);
	}
	ck_assert_int_eq(pkt_blockdev_write(dev, st.next_writable, ps, buf), -EROFS);
	ck_assert_int_eq(pkt_blockdev_close_session(dev, PKT_CLOSE_SESSION), -EROFS);
	pkt_blockdev_close(dev);
	free(buf);
	free(back);
}
END_TEST

/* Closing a session opens the next one after the medium's gap; finalizing closes the disc, after which
 * it refuses writes (also after reopening) and opens only to be read. */
START_TEST(test_wo_close_session)
{
	struct pkt_blockdev *dev = open_wo(_i, false);
	uint32_t ps = dev->geo.packet_sectors;
	uint8_t *buf = calloc(ps, PKT_SECTOR_SIZE);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, ps, buf), 0);
	uint64_t end = wo_state(dev).next_writable;
	ck_assert_int_eq(pkt_blockdev_close_session(dev, PKT_CLOSE_SESSION), 0);
	struct pkt_append_state st = wo_state(dev);
	ck_assert(!st.closed);
	ck_assert_uint_eq(st.sessions, 2);
	ck_assert_uint_ge(st.next_writable, end);
	ck_assert_uint_eq(st.session_start, st.next_writable);
	if (st.next_writable > end) /* the lead-out and lead-in (BD-R has none) */
		ck_assert_int_lt(pkt_blockdev_write(dev, end, ps, buf), 0);
	ck_assert_int_eq(pkt_blockdev_write(dev, st.next_writable, ps, buf), 0);
	ck_assert_int_eq(pkt_blockdev_close_session(dev, PKT_CLOSE_FINALIZE), 0);
	st = wo_state(dev);
	ck_assert(st.closed);
	ck_assert(!dev->geo.writable);
	ck_assert_int_eq(pkt_blockdev_write(dev, st.next_writable, ps, buf), -EROFS);
	pkt_blockdev_close(dev);
	char src[256];
	struct mmc_source_options o = {.quiet = true};
	snprintf(src, sizeof(src), "emu:%s:%s/disc.img", wo_backends[_i].profile, dir);
	ck_assert_int_eq(mmc_source_open(src, &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "finalized"), "%s", err);
	dev = open_wo(_i, true);
	ck_assert_int_eq(pkt_blockdev_read(dev, 0, ps, buf), 0);
	pkt_blockdev_close(dev);
	free(buf);
}
END_TEST

#ifndef NDEBUG
/* Debug builds: a caller that promised the packet rule and broke it stops at the choke point, before
 * any backend sees the write. */
START_TEST(test_write_packets_asserts_rule)
{
	struct run r;

	run_open(&r, 0); /* strict image */
	pkt_blockdev_write_packets(r.dev, 1, 1, r.buf);
	run_close(&r);
}
END_TEST
#endif

/* Whether the file system of dir takes O_DIRECT writes and keeps files anywhere but in the page cache
 * (tmpfs does not). */
static bool dir_takes_direct_io(void)
{
	char probe[128];
	struct statfs sf;

	ck_assert_int_eq(statfs(dir, &sf), 0);
	if (sf.f_type == 0x01021994 /* TMPFS_MAGIC */)
		return false;
	snprintf(probe, sizeof(probe), "%s/probe", dir);
	int fd = open(probe, O_RDWR | O_CREAT | O_DIRECT, 0644);
	if (fd >= 0)
		close(fd);
	unlink(probe);
	return fd >= 0;
}

/* Pages of the first len bytes of path that are in the host's page cache. */
static size_t resident_pages(const char *path, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t n = (len + (size_t)page - 1) / (size_t)page, resident = 0;
	unsigned char *vec = calloc(n, 1);
	int fd = open(path, O_RDONLY);

	ck_assert(vec && fd >= 0);
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mincore(map, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		resident += vec[i] & 1;
	munmap(map, len);
	close(fd);
	free(vec);
	return resident;
}

/* Writes a run of count sectors at 0 from buf, filled with seed's pattern. */
static void write_run(struct pkt_blockdev *dev, uint8_t *buf, uint32_t count, uint32_t seed)
{
	pattern(buf, 0, count, seed);
	ck_assert_int_eq(pkt_blockdev_write_packets(dev, 0, count, buf), 0);
}

/* The run at 0 reads back as buf holds it. */
static void read_back(struct pkt_blockdev *dev, const uint8_t *buf, uint32_t count, uint32_t seed)
{
	size_t len = (size_t)count * PKT_SECTOR_SIZE;
	uint8_t *back = malloc(len);

	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(pkt_blockdev_read(dev, 0, count, back), 0);
	ck_assert_msg(memcmp(back, buf, len) == 0, "seed %u: the run does not read back as written", seed);
	free(back);
}

/* The image backend writes a long aligned run (a stream, 1 MiB) with O_DIRECT, so that no third copy
 * of it stays in the host's page cache; an unaligned buffer still goes through the page cache, and
 * whichever way the last write went, reads see it. */
START_TEST(test_image_stream_bypasses_page_cache)
{
	const uint32_t count = (1u << 20) / PKT_SECTOR_SIZE;
	const size_t len = (size_t)count * PKT_SECTOR_SIZE;
	char path[128];
	uint8_t *mem = NULL;

	snprintf(path, sizeof(path), "%s/disc.img", dir);
	struct pkt_blockdev *dev = open_image(&backends[1], false);
	ck_assert_int_eq(posix_memalign((void **)&mem, 4096, len + 4096), 0);
	write_run(dev, mem, count, 3);
	if (dir_takes_direct_io())
		ck_assert_uint_eq(resident_pages(path, len), 0);
	read_back(dev, mem, count, 3);	    /* buffered: the pages are cached now */
	write_run(dev, mem + 16, count, 4); /* unaligned: buffered too */
	read_back(dev, mem + 16, count, 4);
	write_run(dev, mem, count, 5); /* direct again, over cached pages */
	read_back(dev, mem, count, 5);
	ck_assert_int_eq(pkt_blockdev_sync(dev), 0);
	pkt_blockdev_close(dev);
	free(mem);
}
END_TEST

/* writev: a run from separate buffers lands back to back, from page-aligned buffers (1 MiB: direct)
 * and from unaligned ones; a device without writev says so. */
START_TEST(test_image_writev)
{
	enum { NBUF = 16 };
	struct pkt_blockdev *dev = open_image(&backends[1], false);
	const uint32_t ps = dev->geo.packet_sectors;
	const size_t pbytes = (size_t)ps * PKT_SECTOR_SIZE;
	uint8_t *bufs[NBUF], *whole = malloc(NBUF * pbytes), *back = malloc(NBUF * pbytes);
	struct iovec iov[NBUF];

	ck_assert(whole && back);
	for (int unaligned = 0; unaligned < 2; unaligned++) {
		uint64_t lba = unaligned ? 3 * (uint64_t)ps : 0;
		pattern(whole, lba, NBUF * ps, 20 + (uint32_t)unaligned);
		for (int k = 0; k < NBUF; k++) {
			ck_assert_int_eq(posix_memalign((void **)&bufs[k], 4096, pbytes + 8), 0);
			memcpy(bufs[k] + (unaligned ? 8 : 0), whole + k * pbytes, pbytes);
			iov[k] = (struct iovec){bufs[k] + (unaligned ? 8 : 0), pbytes};
		}
		ck_assert(pkt_blockdev_has_writev(dev));
		ck_assert_int_eq(pkt_blockdev_writev_packets(dev, lba, NBUF * ps, iov, NBUF), 0);
		ck_assert_int_eq(pkt_blockdev_read(dev, lba, NBUF * ps, back), 0);
		ck_assert_msg(memcmp(back, whole, NBUF * pbytes) == 0, "unaligned %d: the run differs", unaligned);
		for (int k = 0; k < NBUF; k++)
			free(bufs[k]);
	}
	ck_assert_uint_eq(image_dev_counters(dev).write_cmds, 2);
	pkt_blockdev_close(dev);
	faulty_init(&fault, open_image(&backends[0], false));
	ck_assert(!pkt_blockdev_has_writev(&fault.dev));
	ck_assert_int_eq(pkt_blockdev_writev_packets(&fault.dev, 0, 16, iov, 1), -EOPNOTSUPP);
	close_fault(&fault.dev);
	free(whole);
	free(back);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("blockdev_contract");
	TCase *tc = tcase_create("every backend");
	SRunner *sr;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_geometry_sane, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_reads_what_was_written, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_out_of_range_refused, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_read_only_refuses_writes, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_packet_rule, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_hold_and_describe, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_rewritable_has_no_append_state, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_append_only_rules, 0, NBACKENDS);
	tcase_add_test(tc, test_append_lba);
	tcase_add_test(tc, test_image_stream_bypasses_page_cache);
	tcase_add_test(tc, test_image_writev);
	tcase_add_loop_test(tc, test_wo_geometry, 0, NWO);
	tcase_add_loop_test(tc, test_wo_append_rules, 0, NWO);
	tcase_add_loop_test(tc, test_wo_close_session, 0, NWO);
	suite_add_tcase(s, tc);
#ifndef NDEBUG
	/* Its own case, with the directory made and removed by the runner: the aborting test never gets to
	 * a teardown of its own. */
	TCase *dbg = tcase_create("debug assertions");
	tcase_add_unchecked_fixture(dbg, setup, teardown);
	tcase_add_test_raise_signal(dbg, test_write_packets_asserts_rule, SIGABRT);
	suite_add_tcase(s, dbg);
#endif
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
