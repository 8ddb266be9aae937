/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF writer against a model, on a medium in memory that behaves like the packet cache: writes
 * between two barriers may reach the medium in any order and at any time, whole packets at a time.
 *  - model test: random operations over many seeds, remounted now and then, compared in full;
 *  - power-cut test: the medium stops at a random write; the disc must mount (and be writable)
 *    with every file synced before the cut intact, and a further session must keep it sound;
 *  - fragmented files (descriptors continued in allocation extent descriptors), ENOSPC, POSIX
 *    rules of the operations;
 *  - entries that move (ICB strategy 4096 chains): after every commit, the medium's chain as a
 *    reader follows it, its bound, its blocks in use, compaction's frees, the fold-back at unmount;
 *    and a power cut at every write and barrier of a run of moves that compacts.
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_desc.h"
#include "udf_format.h"
#include "udf_fsck.h"
#include "udf_model.h"
#include "udf_w.h" /* white box: the chains of entries that move (udf_move.c) */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#define BS 2048u     /* the block size of the tests that do not name one */
#define SECTOR 2048u /* the packet cache's sector: packets are counted in these */

struct pw {
	uint64_t off;
	size_t len;
	uint8_t *data;
};

struct mem {
	uint8_t *cur; /* what reads see */
	uint8_t *dur; /* on the medium for sure (up to the last barrier) */
	size_t size;
	struct pw *pend;
	size_t npend, cap;
	long calls, crash_at;
	bool crashed;
	uint8_t *cut; /* the medium after the power cut */
	unsigned pkt; /* 2048-byte sectors per packet, as the packet cache counts them */
	uint64_t rng;
	unsigned long writes; /* write calls */
	uint64_t hinted;      /* bytes the engine said nobody needs (io.fill_unused) */
	/* media life, when a test sets them (mem_count_packets): per packet, the barriers before which
	 * it was written, as the packet cache writes a dirty packet once per barrier; pkt_seen: the
	 * barrier that counted it last */
	uint32_t *pkt_writes;
	long *pkt_seen;
	long barriers;
};

static void pend_clear(struct mem *m)
{
	for (size_t i = 0; i < m->npend; i++)
		free(m->pend[i].data);
	m->npend = 0;
}

/* Whole-disc images come and go by the thousand here (a fresh disc per power cut, a durable copy
 * per check of what a mount of the medium reads): an image freed is kept for the next of its size,
 * so that its pages stay mapped.  A fresh allocation of 16 MiB costs 4,096 page faults and its free
 * a trim of the heap (under ASan an mmap and munmap each): they were most of this test's time.
 * Images above IMG_POOL_MAX_BYTES are not kept: they are few, and zeroing one for reuse would touch
 * pages that calloc leaves unmapped. */
enum { IMG_POOL = 6, IMG_POOL_MAX_BYTES = 32 << 20 };
static struct {
	uint8_t *p;
	size_t size;
} img_pool[IMG_POOL];
static size_t img_npool;

/* An image of size bytes, zeroed when zero is set (else its contents are whatever it held). */
static uint8_t *img_get(size_t size, bool zero)
{
	for (size_t i = img_npool; i-- > 0;)
		if (img_pool[i].size == size) {
			uint8_t *p = img_pool[i].p;
			img_pool[i] = img_pool[--img_npool];
			if (zero)
				memset(p, 0, size);
			return p;
		}
	uint8_t *p = zero ? calloc(1, size) : malloc(size);
	ck_assert_ptr_nonnull(p);
	return p;
}

static void img_put(uint8_t *p, size_t size)
{
	if (!p)
		return;
	if (size > IMG_POOL_MAX_BYTES) {
		free(p);
		return;
	}
	if (img_npool == IMG_POOL) { /* full: the oldest goes */
		free(img_pool[0].p);
		memmove(img_pool, img_pool + 1, (IMG_POOL - 1) * sizeof(img_pool[0]));
		img_npool--;
	}
	img_pool[img_npool].p = p;
	img_pool[img_npool++].size = size;
}

/* After each test (the checked fixture's teardown): the kept images freed. */
static void img_pool_drain(void)
{
	while (img_npool > 0)
		free(img_pool[--img_npool].p);
}

/* The medium at the cut: each packet holds its state after some prefix of the writes since the
 * last barrier (the cache writes a packet back whenever it likes, never an older copy after a
 * newer one). */
static void power_cut(struct mem *m)
{
	size_t pbytes = (size_t)m->pkt * SECTOR;

	m->crashed = true;
	m->cut = img_get(m->size, false);
	memcpy(m->cut, m->dur, m->size);
	size_t npk = (m->size + pbytes - 1) / pbytes;
	for (size_t p = 0; p < npk; p++) {
		uint64_t ps = (uint64_t)p * pbytes, pe = ps + pbytes;
		unsigned touching = 0;
		for (size_t i = 0; i < m->npend; i++)
			if (m->pend[i].off < pe && m->pend[i].off + m->pend[i].len > ps)
				touching++;
		if (!touching)
			continue;
		unsigned k = (unsigned)(rnd(&m->rng) % (touching + 1)), seen = 0;
		for (size_t i = 0; i < m->npend && seen < k; i++) {
			struct pw *w = &m->pend[i];
			if (!(w->off < pe && w->off + w->len > ps))
				continue;
			seen++;
			uint64_t a = w->off > ps ? w->off : ps, b = w->off + w->len < pe ? w->off + w->len : pe;
			memcpy(m->cut + a, w->data + (a - w->off), b - a);
		}
	}
}

/* The medium as the cut left it, for the mounts that follow: the cut becomes what is durable
 * (taken, not copied) and what reads see; nothing pending, no cut to come. */
static void mem_take_cut(struct mem *m)
{
	uint8_t *old = m->dur;

	ck_assert_ptr_nonnull(m->cut);
	m->dur = m->cut;
	m->cut = NULL;
	img_put(old, m->size);
	memcpy(m->cur, m->dur, m->size);
	pend_clear(m);
	m->crashed = false;
	m->crash_at = 0;
}

static int mem_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	struct mem *m = ctx;

	if (off + len > m->size)
		return -EIO;
	memcpy(buf, m->cur + off, len);
	return 0;
}

static int mem_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	struct mem *m = ctx;

	if (off + len > m->size)
		return -EIO;
	m->calls++;
	m->writes++;
	if (!m->crashed && m->crash_at && m->calls == m->crash_at)
		power_cut(m);
	memcpy(m->cur + off, buf, len);
	if (!m->crashed) {
		if (m->npend == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 256;
			m->pend = realloc(m->pend, m->cap * sizeof(*m->pend));
		}
		struct pw *w = &m->pend[m->npend++];
		w->off = off;
		w->len = len;
		w->data = malloc(len);
		memcpy(w->data, buf, len);
	}
	return 0;
}

/* The engine's hint that nobody needs [off, off + len): taken at its word, harder than the packet
 * cache does (which zeros only sectors it does not hold): zeros written now, reaching the medium
 * like any write since the last barrier.  So every model run and power cut checks that a hint
 * never names a block that matters.  Not a call: the cut points stay where they were. */
static int mem_fill_unused(void *ctx, uint64_t off, size_t len)
{
	struct mem *m = ctx;

	ck_assert_msg(off + len <= m->size && off % 512 == 0 && len % 512 == 0, "hint %llu+%zu",
		      (unsigned long long)off, len);
	memset(m->cur + off, 0, len);
	if (!m->crashed) {
		if (m->npend == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 256;
			m->pend = realloc(m->pend, m->cap * sizeof(*m->pend));
		}
		struct pw *w = &m->pend[m->npend++];
		w->off = off;
		w->len = len;
		w->data = calloc(1, len);
	}
	m->hinted += len;
	return 0;
}

static int mem_flush(void *ctx)
{
	struct mem *m = ctx;

	m->calls++;
	if (!m->crashed && m->crash_at && m->calls == m->crash_at)
		power_cut(m);
	m->barriers++;
	for (size_t i = 0; i < m->npend && m->pkt_writes; i++) {
		uint64_t pbytes = (uint64_t)m->pkt * SECTOR;
		for (uint64_t p = m->pend[i].off / pbytes; p <= (m->pend[i].off + m->pend[i].len - 1) / pbytes; p++)
			if (m->pkt_seen[p] != m->barriers) {
				m->pkt_seen[p] = m->barriers;
				m->pkt_writes[p]++;
			}
	}
	if (!m->crashed) {
		for (size_t i = 0; i < m->npend; i++)
			memcpy(m->dur + m->pend[i].off, m->pend[i].data, m->pend[i].len);
		pend_clear(m);
	}
	return 0;
}

static int fmt_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	struct mem *m = ctx;

	memcpy(m->cur + off, buf, len);
	memcpy(m->dur + off, buf, len);
	return 0;
}

static void mem_init_bs(struct mem *m, size_t mib, enum udf_media media, unsigned rev, uint64_t seed, uint32_t bs)
{
	char err[256];
	struct udf_format_opts fo = {.revision = rev, .media = media, .uid = 0, .gid = 0, .block_size = bs};

	memset(m, 0, sizeof(*m));
	m->size = mib << 20;
	m->cur = img_get(m->size, true);
	m->dur = img_get(m->size, true);
	m->pkt = media == UDF_MEDIA_CDRW ? 32 : 16;
	m->rng = seed * 2654435761u + 1;
	ck_assert_msg(udf_format(&fo, fmt_write, m, m->size, err, sizeof(err)) == 0, "format: %s", err);
}

static void mem_init(struct mem *m, size_t mib, enum udf_media media, unsigned rev, uint64_t seed)
{
	mem_init_bs(m, mib, media, rev, seed, BS);
}

static void mem_free(struct mem *m)
{
	pend_clear(m);
	free(m->pend);
	img_put(m->cur, m->size);
	img_put(m->dur, m->size);
	img_put(m->cut, m->size);
	free(m->pkt_writes);
	free(m->pkt_seen);
}

/* From now on m counts each packet's writes (m->pkt_writes); mem_hottest the most-written one. */
static void mem_count_packets(struct mem *m)
{
	size_t npk = (m->size + (size_t)m->pkt * SECTOR - 1) / ((size_t)m->pkt * SECTOR);

	m->pkt_writes = calloc(npk, sizeof(*m->pkt_writes));
	m->pkt_seen = calloc(npk, sizeof(*m->pkt_seen));
	ck_assert(m->pkt_writes && m->pkt_seen);
}

static uint32_t mem_hottest(const struct mem *m, size_t *pkt)
{
	size_t npk = (m->size + (size_t)m->pkt * SECTOR - 1) / ((size_t)m->pkt * SECTOR);
	uint32_t most = 0;

	for (size_t p = 0; p < npk; p++)
		if (m->pkt_writes[p] > most) {
			most = m->pkt_writes[p];
			*pkt = p;
		}
	return most;
}

static struct udf_fs *mount_mem(struct mem *m)
{
	struct udf_io io = {.read = mem_read,
			    .write = mem_write,
			    .flush = mem_flush,
			    .fill_unused = mem_fill_unused,
			    .ctx = m,
			    .size = m->size,
			    .packet_blocks = m->pkt};
	struct udf_mount_opts mo = {.uid = 0, .gid = 0};
	struct udf_fs *fs = NULL;
	char err[256];
	int rc = udf_mount(&io, &mo, &fs, err, sizeof(err));

	ck_assert_msg(rc == 0, "mount: %s", err);
	char why[256];
	ck_assert_msg(udf_writable(fs, why, sizeof(why)), "not writable: %s", why);
	return fs;
}

enum { MAX_META_EXT = 64 }; /* a grown metadata file's extents, as many as its entry has room for */

/* The extents (up to MAX_META_EXT) of the metadata partition's file of type ftype whose Extended File Entry is
 * at partition block lbn of a durable image d: blocks of the partition from pstart. */
static unsigned meta_file_extents(const uint8_t *d, uint32_t bs, uint32_t pstart, uint32_t lbn, uint8_t ftype,
				  uint32_t ext[][2])
{
	const uint8_t *fe = d + (uint64_t)(pstart + lbn) * bs;
	unsigned n = 0;

	ck_assert_int_eq(udf_tag_check(fe, bs, lbn), TAG_EFE);
	ck_assert_int_eq(fe[ICB_FILE_TYPE], ftype);
	for (uint32_t o = 0; o < le32(fe + EFE_AD_LEN) && n < MAX_META_EXT; o += SAD_SIZE, n++) {
		const uint8_t *ad = fe + EFE_SIZE + le32(fe + EFE_EA_LEN) + o;
		ext[n][0] = le32(ad + SAD_POS);
		ext[n][1] = (le32(ad + AD_LEN) & AD_LEN_MASK) / bs;
	}
	return n;
}

/* Where a metadata-partition image d keeps its partition and the entries of its three files. */
struct meta_where {
	uint32_t pstart, meta, mirror, bitmap;
};

static struct meta_where meta_where(const uint8_t *d, uint32_t bs)
{
	const uint8_t *a = d + AVDP_SECTOR * (uint64_t)bs;
	uint32_t loc = le32(a + AVDP_MAIN_VDS + EXT_LOC);
	struct meta_where w = {0};

	for (uint32_t i = 0; i < 16; i++) {
		const uint8_t *v = d + (uint64_t)(loc + i) * bs;
		int tag = udf_tag_check(v, bs, loc + i);
		if (tag == TAG_PD)
			w.pstart = le32(v + PD_START);
		if (tag == TAG_LVD) {
			const uint8_t *map = v + LVD_PARTITION_MAPS + v[LVD_PARTITION_MAPS + PMAP_LENGTH];
			w.meta = le32(map + MPMAP_FILE_LOC);
			w.mirror = le32(map + MPMAP_MIRROR_LOC);
			w.bitmap = le32(map + MPMAP_BITMAP_LOC);
		}
	}
	ck_assert_msg(w.pstart && w.meta && w.mirror, "no metadata partition");
	return w;
}

/* Whether block k of the metadata partition is in use, by the metadata bitmap file of image d. */
static bool meta_used(const uint8_t *d, uint32_t bs, const struct meta_where *w, uint32_t k)
{
	const uint8_t *fe = d + (uint64_t)(w->pstart + w->bitmap) * bs;
	const uint8_t *sbd = d + (uint64_t)(w->pstart + le32(fe + EFE_SIZE + SAD_POS)) * bs;

	return !(sbd[SBD_BITMAP + k / 8] >> (k % 8) & 1);
}

/* Block k of the metadata partition through extents ext[n] (a grown file's may be cut otherwise
 * than its copy's: only the sizes are equal), as a block of the physical partition. */
static uint32_t meta_block_at(const uint32_t ext[][2], unsigned n, uint32_t k)
{
	for (unsigned e = 0; e < n; k -= ext[e][1], e++)
		if (k < ext[e][1])
			return ext[e][0] + k;
	ck_abort_msg("block %u of the metadata partition is past its end", k);
	return 0;
}

/* UDF 2.50+: the mirror on the medium (what a power cut would leave) holds exactly the metadata
 * file's blocks (used_only: those the metadata bitmap calls used, as after a check that renewed
 * the mirror); both are as long. */
static void check_mirror_of(const struct mem *m, uint32_t bs, const char *when, uint64_t seed, bool used_only)
{
	const uint8_t *d = m->dur;
	struct meta_where w = meta_where(d, bs);
	uint32_t pstart = w.pstart, meta = w.meta, mirror = w.mirror, nk = 0, nk2 = 0;

	uint32_t me[MAX_META_EXT][2], mi[MAX_META_EXT][2];
	unsigned nme = meta_file_extents(d, bs, pstart, meta, 250, me);
	unsigned nmi = meta_file_extents(d, bs, pstart, mirror, 251, mi);
	for (unsigned e = 0; e < nme; e++)
		nk += me[e][1];
	for (unsigned e = 0; e < nmi; e++)
		nk2 += mi[e][1];
	ck_assert_msg(nk == nk2, "seed %llu, %s: the metadata file has %u blocks, its mirror %u",
		      (unsigned long long)seed, when, nk, nk2);
	for (uint32_t k = 0; k < nk; k++)
		ck_assert_msg((used_only && !meta_used(d, bs, &w, k)) ||
				      memcmp(d + (uint64_t)(pstart + meta_block_at(me, nme, k)) * bs,
					     d + (uint64_t)(pstart + meta_block_at(mi, nmi, k)) * bs, bs) == 0,
			      "seed %llu, %s: the mirror differs at block %u of the metadata file",
			      (unsigned long long)seed, when, k);
}

static void check_mirror(const struct mem *m, uint32_t bs, const char *when, uint64_t seed)
{
	check_mirror_of(m, bs, when, seed, false);
}

static void run_model_bs(enum udf_media media, unsigned rev, uint64_t seed, uint32_t bs)
{
	struct mem m;
	struct model md;
	uint64_t rng = seed * 7919 + 17;

	mem_init_bs(&m, 24, media, rev, seed, bs);
	struct udf_fs *fs = mount_mem(&m);
	model_setup(fs, &md);
	for (int round = 0; round < 4; round++) {
		for (int k = 0; k < 60; k++) {
			random_op(fs, &md, &rng, NULL);
			if (rnd(&rng) % 16 == 0) {
				ck_assert_int_eq(udf_sync(fs), 0);
				if (rev >= 0x0250)
					check_mirror(&m, bs, "after a commit", seed);
			}
		}
		check_model(fs, &md, "before remount");
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		if (rev >= 0x0250)
			check_mirror(&m, bs, "after unmount", seed);
		fs = mount_mem(&m);
		ck_assert_str_eq(udf_mount_note(fs), ""); /* closed cleanly: no check needed */
		check_model(fs, &md, "after remount");
	}
	/* everything deleted: all space comes back */
	struct udf_statfs before;
	for (int i = 0; i < MAXF; i++) {
		if (md.f[i].live)
			ck_assert_int_eq(udf_unlink(fs, md.dir_ino[md.f[i].dir], md.f[i].name), 0);
		md.f[i].live = false;
	}
	for (int d = 1; d < NDIRS; d++)
		ck_assert_int_eq(udf_rmdir(fs, udf_root_ino(fs), md.dir_name[d]), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	udf_statfs(fs, &before);
	ck_assert_int_eq(before.files, 0);
	ck_assert_int_eq(before.dirs, 1);
	ck_assert_int_eq(count_entries(fs, udf_root_ino(fs)), 0);
	udf_unmount(fs);
	/* a fresh format has the same free space */
	struct mem fresh;
	mem_init_bs(&fresh, 24, media, rev, seed, bs);
	struct udf_fs *f2 = mount_mem(&fresh);
	ck_assert_uint_eq(before.block_size, bs);
	struct udf_statfs after;
	udf_statfs(f2, &after);
	ck_assert_msg(before.free_blocks == after.free_blocks, "space leaked: %llu free, fresh %llu",
		      (unsigned long long)before.free_blocks, (unsigned long long)after.free_blocks);
	udf_unmount(f2);
	mem_free(&fresh);
	model_free(&md);
	/* the run met the engine's hints (rewritable media in packets), each zeros at once */
	if (!udf_media_write_once(media) && m.pkt > 1)
		ck_assert_msg(m.hinted > 0, "seed %llu: no block hinted unused", (unsigned long long)seed);
	mem_free(&m);
}

static void run_model(enum udf_media media, unsigned rev, uint64_t seed)
{
	run_model_bs(media, rev, seed, BS);
}

/* Every block size UDF allows, at the oldest and the newest revision written: a block of 512 is a
 * quarter of the cache's sector, one of 4096 two sectors. */
START_TEST(model_block_sizes)
{
	static const uint32_t sizes[] = {512, 1024, 2048, 4096};
	static const unsigned revs[] = {0x0150, 0x0201};
	for (size_t b = 0; b < 4; b++)
		for (size_t r = 0; r < 2; r++)
			for (uint64_t seed = 300; seed <= 302; seed++)
				run_model_bs(UDF_MEDIA_HD, revs[r], seed + b * 10 + r * 100, sizes[b]);
}
END_TEST

START_TEST(model_hd_201)
{
	for (uint64_t seed = 1; seed <= 12; seed++)
		run_model(UDF_MEDIA_HD, 0x0201, seed);
}
END_TEST

START_TEST(model_cdrw_201)
{
	for (uint64_t seed = 100; seed <= 106; seed++)
		run_model(UDF_MEDIA_CDRW, 0x0201, seed);
}
END_TEST

/* UDF 2.50 and 2.60 with a metadata partition (plain, sparable, and blocks of 512 and 4096): the mirror
 * equals the metadata file after every commit and unmount. */
START_TEST(model_meta_250_260)
{
	static const struct {
		enum udf_media media;
		unsigned rev;
		uint32_t bs;
	} runs[] = {{UDF_MEDIA_HD, 0x0250, 2048},    {UDF_MEDIA_BDRE, 0x0260, 2048}, {UDF_MEDIA_CDRW, 0x0250, 2048},
		    {UDF_MEDIA_DVDRW, 0x0260, 2048}, {UDF_MEDIA_HD, 0x0250, 512},    {UDF_MEDIA_HD, 0x0260, 4096}};
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		for (uint64_t seed = 400 + r * 10; seed < 400 + r * 10 + 6; seed++) {
			fprintf(stderr, "model_meta_250_260: UDF %x, %u-byte blocks, seed %llu\n", runs[r].rev,
				runs[r].bs, (unsigned long long)seed);
			run_model_bs(runs[r].media, runs[r].rev, seed, runs[r].bs);
		}
	}
}
END_TEST

START_TEST(model_102_150_200)
{
	for (uint64_t seed = 200; seed <= 204; seed++) {
		run_model(UDF_MEDIA_DVDRAM, 0x0102, seed); /* 1.02: plain partitions only */
		run_model(UDF_MEDIA_HD, 0x0150, seed);
		run_model(UDF_MEDIA_DVDRW, 0x0200, seed);
	}
}
END_TEST

/* ---- power cut ---- */

static struct udf_fs *cut_mount(void *ctx)
{
	return mount_mem(ctx);
}

static void cut_unmount(void *ctx, struct udf_fs *fs)
{
	(void)ctx;
	udf_unmount(fs);
}

static void run_cut(enum udf_media media, uint64_t seed)
{
	struct mem m;
	struct model md, synced;
	uint64_t rng = seed * 104729 + 3;

	mem_init(&m, 24, media, 0x0201, seed);
	struct udf_fs *fs = mount_mem(&m);
	model_setup(fs, &md);
	ck_assert_int_eq(udf_sync(fs), 0);
	m.crash_at = m.calls + 1 + (long)(rnd(&rng) % 400);
	bool touched[MAXF] = {false};
	memset(&synced, 0, sizeof(synced));
	for (int k = 0; k < 120 && !m.crashed; k++) {
		random_op(fs, &md, &rng, touched);
		if (rnd(&rng) % 8 == 0) {
			ck_assert_int_eq(udf_sync(fs), 0);
			if (!m.crashed) /* this sync completed before the cut: its files must survive it */
				model_snapshot(&synced, &md, touched);
		}
	}
	udf_unmount(fs); /* the process is gone: nothing more reaches the medium */
	if (!m.cut) {
		m.cut = img_get(m.size, false);
		memcpy(m.cut, m.dur, m.size);
	}
	mem_take_cut(&m); /* the disc as the cut left it */
	/* a fresh disc's free space, for the check that emptying gives it all back */
	struct mem fresh;
	struct udf_statfs fresh_sf;
	mem_init(&fresh, 24, media, 0x0201, seed);
	fs = mount_mem(&fresh);
	udf_statfs(fs, &fresh_sf);
	udf_unmount(fs);
	mem_free(&fresh);
	char what[64];
	snprintf(what, sizeof(what), "seed %llu", (unsigned long long)seed);
	struct cut_disc d = {.mount = cut_mount,
			     .unmount = cut_unmount,
			     .ctx = &m,
			     .fresh_free_blocks = fresh_sf.free_blocks,
			     .what = what};
	model_check_after_cut(&d, &md, &synced, touched, &rng);
	model_free(&synced);
	model_free(&md);
	mem_free(&m);
}

/* UDF 2.50: a power cut at a random medium write.  Through the mirror alone (the metadata file's entry
 * damaged, read-only) every file synced before the cut reads intact; then the disc as the cut left it
 * gets the check after an unclean shutdown (both bitmaps rebuilt, the mirror renewed where it
 * differs) and the checks of udf_model.h: synced files intact, another session, a clean close, and
 * emptied it has a fresh disc's space; the mirror then equals the metadata file. */
static void run_cut_meta(uint64_t seed)
{
	struct mem m;
	struct model md, synced;
	uint64_t rng = seed * 104729 + 5;

	fprintf(stderr, "power_cut_meta_250: seed %llu\n", (unsigned long long)seed);
	mem_init(&m, 24, UDF_MEDIA_HD, 0x0250, seed);
	struct udf_fs *fs = mount_mem(&m);
	model_setup(fs, &md);
	ck_assert_int_eq(udf_sync(fs), 0);
	m.crash_at = m.calls + 1 + (long)(rnd(&rng) % 400);
	bool touched[MAXF] = {false};
	memset(&synced, 0, sizeof(synced));
	for (int k = 0; k < 120 && !m.crashed; k++) {
		random_op(fs, &md, &rng, touched);
		if (rnd(&rng) % 8 == 0) {
			ck_assert_int_eq(udf_sync(fs), 0);
			if (!m.crashed)
				model_snapshot(&synced, &md, touched);
		}
	}
	udf_unmount(fs);
	if (!m.cut) {
		m.cut = img_get(m.size, false);
		memcpy(m.cut, m.dur, m.size);
	}
	pend_clear(&m);
	m.crashed = false;
	m.crash_at = 0;
	/* the mirror alone: the metadata file's entry damaged, so the reader takes the mirror */
	struct meta_where w = meta_where(m.cut, BS);
	memcpy(m.cur, m.cut, m.size);
	memcpy(m.dur, m.cut, m.size);
	m.cur[(uint64_t)(w.pstart + w.meta) * BS + FE_UID] ^= 0xFF;
	struct udf_io io = {.read = mem_read,
			    .write = mem_write,
			    .flush = mem_flush,
			    .ctx = &m,
			    .size = m.size,
			    .packet_blocks = m.pkt};
	struct udf_mount_opts mo = {.uid = 0, .gid = 0};
	char err[256], why[256], when[128];
	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "seed %llu: mount through the mirror: %s",
		      (unsigned long long)seed, err);
	ck_assert_msg(!udf_writable(fs, why, sizeof(why)) && strstr(why, "its mirror was read"),
		      "seed %llu: through the mirror: %s", (unsigned long long)seed, why);
	snprintf(when, sizeof(when), "seed %llu, through the mirror", (unsigned long long)seed);
	for (int i = 0; i < MAXF; i++)
		if (synced.f[i].live && !touched[i])
			check_file(fs, md.dir_ino[synced.f[i].dir], synced.f[i].name, synced.f[i].data,
				   synced.f[i].size, when);
	udf_unmount(fs);
	/* the disc as the cut left it */
	memcpy(m.cur, m.cut, m.size);
	memcpy(m.dur, m.cut, m.size);
	pend_clear(&m);
	struct mem fresh;
	struct udf_statfs fresh_sf;
	mem_init(&fresh, 24, UDF_MEDIA_HD, 0x0250, seed);
	fs = mount_mem(&fresh);
	udf_statfs(fs, &fresh_sf);
	udf_unmount(fs);
	mem_free(&fresh);
	snprintf(when, sizeof(when), "seed %llu", (unsigned long long)seed);
	struct cut_disc d = {.mount = cut_mount,
			     .unmount = cut_unmount,
			     .ctx = &m,
			     .fresh_free_blocks = fresh_sf.free_blocks,
			     .what = when};
	model_check_after_cut(&d, &md, &synced, touched, &rng);
	check_mirror_of(&m, BS, "after the session that followed the cut", seed, true);
	model_free(&synced);
	model_free(&md);
	mem_free(&m);
}

START_TEST(power_cut_meta_250)
{
	for (uint64_t seed = 2000; seed <= 2040; seed++)
		run_cut_meta(seed);
}
END_TEST

static void fsck_clean(struct mem *m, const char *when);

/* A full metadata partition on a disc too full to grow it: empty files fill it, grown while the
 * partition has room for both copies' extents (more files than it held at first), then a new file
 * gets ENOSPC with what is left of the data blocks short of that; after deletions one is created
 * (the operation commits, so that the freed file entries can be used again), and the volume stays
 * sound across a remount and for pktfuse check. */
START_TEST(meta_partition_full)
{
	struct mem m;
	mem_init(&m, 8, UDF_MEDIA_HD, 0x0250, 31);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t ino, root = udf_root_ino(fs);
	struct stat st;
	char name[32];
	int n = 0, rc = 0;
	struct udf_statfs sf0;
	udf_statfs(fs, &sf0);
	ck_assert_msg(sf0.free_entries > 100, "room for %llu file entries", (unsigned long long)sf0.free_entries);
	while (n < 5000 && (rc = udf_create(fs, root, (snprintf(name, sizeof(name), "f%04d", n), name), S_IFREG | 0644,
					    0, 0, NULL, &ino, &st)) == 0)
		n++;
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_msg(n > 2 * (int)sf0.free_entries && n < 5000, "%d files fit (%llu at first)", n,
		      (unsigned long long)sf0.free_entries);
	struct udf_statfs sf;
	udf_statfs(fs, &sf);
	ck_assert_uint_eq(sf.free_entries, 0); /* df -i says full */
	/* the copies took the partition, but for what is not free in aligned runs of 32 blocks */
	ck_assert_msg(sf.free_blocks < 8 * 32, "%llu data blocks free", (unsigned long long)sf.free_blocks);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%04d", i);
		ck_assert_int_eq(udf_unlink(fs, root, name), 0);
	}
	ck_assert_int_eq(udf_create(fs, root, "again", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, 5, "again"), 5);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	check_mirror(&m, BS, "full", 31);
	fs = mount_mem(&m);
	ck_assert_int_eq(udf_lookup(fs, root, "again", &ino, &st), 0);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert_int_eq(count_entries(fs, root), n - 20 + 1);
	udf_unmount(fs);
	fsck_clean(&m, "a grown metadata partition full");
	mem_free(&m);
}
END_TEST

/* The metadata file's and its mirror's extents on durable image d as the growth must leave them:
 * whole allocation units of unit blocks, each starting at a multiple of it, as many blocks in each
 * copy, none of the mirror's overlapping one of the metadata file's; the metadata file's blocks and
 * extents. */
static uint32_t grown_extents(const uint8_t *d, uint32_t bs, uint32_t unit, unsigned *nextents)
{
	struct meta_where w = meta_where(d, bs);
	uint32_t me[MAX_META_EXT][2], mi[MAX_META_EXT][2], total = 0, total2 = 0;
	unsigned nme = meta_file_extents(d, bs, w.pstart, w.meta, 250, me);
	unsigned nmi = meta_file_extents(d, bs, w.pstart, w.mirror, 251, mi);

	for (unsigned e = 0; e < nme + nmi; e++) {
		const uint32_t *x = e < nme ? me[e] : mi[e - nme];
		ck_assert_msg(x[1] % unit == 0 && x[0] % unit == 0, "extent %u at %u, %u blocks: not whole units of %u",
			      e, x[0], x[1], unit);
	}
	for (unsigned e = 0; e < nme; e++) {
		for (unsigned f = 0; f < nmi; f++)
			ck_assert_msg(me[e][0] + me[e][1] <= mi[f][0] || mi[f][0] + mi[f][1] <= me[e][0],
				      "the mirror's extent %u overlaps the metadata file's %u", f, e);
		total += me[e][1];
	}
	for (unsigned f = 0; f < nmi; f++)
		total2 += mi[f][1];
	ck_assert_uint_eq(total, total2);
	*nextents = nme;
	return total;
}

/* UDF 2.50 and 2.60 (plain and sparable): a metadata file of 1,024 blocks or less (32 MB, as formatted) takes 2,000 empty files
 * (a file entry each, and the root's directory): it grows (before, the 1,000th or so got ENOSPC
 * with the data blocks free), statfs's free entries with it; the medium's metadata file and mirror
 * have more extents, apart; a remount reads every file, with no check needed; pktfuse check finds
 * nothing; the disc stays writable and sound. */
START_TEST(meta_partition_grows)
{
	/* plain, and sparable (CD-RW's packets of 32, DVD-RW's of 16: the allocation unit) */
	static const struct {
		enum udf_media media;
		unsigned rev, unit;
	} runs[] = {{UDF_MEDIA_HD, 0x0250, 32},
		    {UDF_MEDIA_HD, 0x0260, 32},
		    {UDF_MEDIA_CDRW, 0x0250, 32},
		    {UDF_MEDIA_DVDRW, 0x0260, 16}};
	const unsigned rev = runs[_i].rev, unit = runs[_i].unit;
	struct mem m;
	char name[32], when[64];
	uint64_t ino;
	struct stat st;
	struct udf_statfs sf0, sf;

	mem_init(&m, 32, runs[_i].media, rev, 41);
	unsigned next0;
	uint32_t size0 = grown_extents(m.dur, BS, unit, &next0);
	ck_assert_msg(size0 <= 1024, "the metadata file: %u blocks as formatted", size0);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	udf_statfs(fs, &sf0);
	ck_assert_msg(sf0.free_entries < 1100, "room for %llu file entries", (unsigned long long)sf0.free_entries);
	uint64_t prev = sf0.free_entries;
	/* creates after which statfs has many more free entries than before: growths, 32 packets at
	 * least (what a commit gives back of the root's reserve is less than 64 blocks here) */
	int rises = 0;
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "f%04d", i);
		int rc = udf_create(fs, root, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st);
		ck_assert_msg(rc == 0, "UDF %x: file %d: %s", rev, i, strerror(-rc));
		udf_statfs(fs, &sf);
		rises += sf.free_entries > prev + 256;
		prev = sf.free_entries;
		if (i % 256 == 255)
			ck_assert_int_eq(udf_sync(fs), 0);
	}
	ck_assert_msg(rises > 0, "UDF %x: statfs's free entries never rose", rev);
	udf_statfs(fs, &sf);
	ck_assert_msg(sf.files == 2000 && sf.files + sf.free_entries > sf0.free_entries,
		      "%llu files, %llu entries free", (unsigned long long)sf.files,
		      (unsigned long long)sf.free_entries);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	unsigned next;
	uint32_t size = grown_extents(m.dur, BS, unit, &next);
	ck_assert_msg(size > 2000 && next >= next0, "the metadata file: %u blocks in %u extents", size, next);
	check_mirror(&m, BS, "grown", 41);
	snprintf(when, sizeof(when), "UDF %x grown to %u blocks", rev, size);
	fsck_clean(&m, when);
	fs = mount_mem(&m);
	ck_assert_str_eq(udf_mount_note(fs), "");
	root = udf_root_ino(fs);
	ck_assert_int_eq(count_entries(fs, root), 2000);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "f%04d", i);
		ck_assert_msg(udf_lookup(fs, root, name, &ino, &st) == 0, "%s: %s", when, name);
	}
	/* writable still: a directory with a file in it, deletions */
	uint64_t d;
	ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &d, &st), 0);
	ck_assert_int_eq(udf_create(fs, d, "x", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, 5, "grown"), 5);
	for (int i = 0; i < 2000; i += 3) {
		snprintf(name, sizeof(name), "f%04d", i);
		ck_assert_int_eq(udf_unlink(fs, root, name), 0);
	}
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	check_mirror(&m, BS, "grown, then changed", 41);
	fsck_clean(&m, when);
	fs = mount_mem(&m);
	ck_assert_int_eq(count_entries(fs, udf_root_ino(fs)), 2000 - 667 + 1);
	udf_unmount(fs);
	mem_free(&m);
}
END_TEST

/* A power cut anywhere in the commits that grow the metadata file (UDF 2.50, as above): the disc
 * mounts writable (the check after an unclean shutdown fits the bitmap to the metadata file, takes
 * the smaller size when the cut left one entry grown and not the other), every file synced before
 * the cut is there, a further session closes cleanly, pktfuse check finds nothing, and a remount
 * needs no check. */
START_TEST(power_cut_meta_grows)
{
	const unsigned rev = 0x0250;
	struct mem m;
	char name[32], when[96];
	uint64_t ino;
	struct stat st;
	struct udf_statfs sf;

	/* the disc just before the growth: its metadata file nearly full */
	mem_init(&m, 32, UDF_MEDIA_HD, rev, 51);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	int base = 0;
	for (udf_statfs(fs, &sf); sf.free_entries > 40; udf_statfs(fs, &sf), base++) {
		snprintf(name, sizeof(name), "f%04d", base);
		ck_assert_int_eq(udf_create(fs, root, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	}
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	uint8_t *full = malloc(m.size);
	ck_assert_ptr_nonnull(full);
	memcpy(full, m.dur, m.size);
	/* the calls a run makes without a cut: where the cuts go */
	long span = 0;
	for (uint64_t seed = 0; seed <= 48; seed++) {
		memcpy(m.cur, full, m.size);
		memcpy(m.dur, full, m.size);
		pend_clear(&m);
		m.rng = seed * 2654435761u + 1;
		fs = mount_mem(&m);
		long start = m.calls;
		m.crash_at = seed ? start + 1 + (long)(rnd(&m.rng) % (uint64_t)span) : 0;
		int synced = base;
		for (int i = base; i < base + 400 && !m.crashed; i++) {
			snprintf(name, sizeof(name), "f%04d", i);
			int rc = udf_create(fs, root, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st);
			ck_assert_msg(rc == 0, "seed %llu: file %d: %s", (unsigned long long)seed, i, strerror(-rc));
			if (i % 40 == 39) {
				ck_assert_int_eq(udf_sync(fs), 0);
				if (!m.crashed)
					synced = i + 1;
			}
		}
		if (!seed) {
			span = m.calls - start;
			ck_assert_int_eq(udf_close(fs), 0);
		}
		udf_unmount(fs);
		if (!m.cut) {
			m.cut = img_get(m.size, false);
			memcpy(m.cut, m.dur, m.size);
		}
		snprintf(when, sizeof(when), "seed %llu (cut at call %ld of %ld)", (unsigned long long)seed,
			 seed ? m.crash_at - start : 0, span);
		mem_take_cut(&m);
		fs = mount_mem(&m);
		root = udf_root_ino(fs);
		for (int i = 0; i < synced; i++) {
			snprintf(name, sizeof(name), "f%04d", i);
			ck_assert_msg(udf_lookup(fs, root, name, &ino, &st) == 0, "%s: %s lost", when, name);
		}
		ck_assert_int_eq(udf_create(fs, root, "after", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		check_mirror_of(&m, BS, when, seed, true); /* after the cut, free blocks may differ */
		fsck_clean(&m, when);
		fs = mount_mem(&m);
		ck_assert_str_eq(udf_mount_note(fs), "");
		udf_unmount(fs);
	}
	free(full);
	mem_free(&m);
}
END_TEST

/* Hostile UDF 2.50 volumes whose metadata partition does not verify: mounted, read, never written. */
START_TEST(meta_not_verified_not_written)
{
	static const struct {
		const char *damage, *why;
	} cases[] = {{"mirror block", "differ at block 0"},
		     {"bitmap: FSD free", "calls block 0 of the file set free"},
		     {"bitmap: a used block free", "disagrees with the integrity descriptor"},
		     {"mirror entry", "metadata mirror file is missing or damaged"},
		     {"metadata file entry", "(its mirror was read)"},
		     {"bitmap file entry", "metadata bitmap file is missing or damaged"},
		     {"mirror shorter", "differ in size"}};
	struct mem good;
	mem_init(&good, 8, UDF_MEDIA_HD, 0x0250, 21);
	struct udf_fs *fs = mount_mem(&good);
	uint64_t ino, dino;
	struct stat st;
	ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "d", S_IFDIR | 0755, 0, 0, NULL, &dino, &st), 0);
	ck_assert_int_eq(udf_create(fs, dino, "f", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, 5, "hello"), 5);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	struct meta_where w = meta_where(good.dur, BS);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct mem m = good;
		m.cur = img_get(good.size, false);
		m.dur = img_get(good.size, false);
		m.pend = NULL;
		m.npend = m.cap = 0;
		m.cut = NULL;
		memcpy(m.cur, good.dur, good.size);
		uint8_t *mirror_fe = m.cur + (uint64_t)(w.pstart + w.mirror) * BS;
		uint8_t *bm_fe = m.cur + (uint64_t)(w.pstart + w.bitmap) * BS;
		uint8_t *bm = m.cur + (uint64_t)(w.pstart + le32(bm_fe + EFE_SIZE + SAD_POS)) * BS;
		switch (c) {
		case 0:
			m.cur[(uint64_t)(w.pstart + le32(mirror_fe + EFE_SIZE + SAD_POS)) * BS + 100] ^= 1;
			break;
		case 1:
			bm[SBD_BITMAP] |= 1;
			break;
		case 2:
			bm[SBD_BITMAP + 4] |= 1; /* block 32: the root's entry */
			break;
		case 3:
			mirror_fe[FE_UID] ^= 1;
			break;
		case 4:
			m.cur[(uint64_t)(w.pstart + w.meta) * BS + FE_UID] ^= 1;
			break;
		case 5:
			bm_fe[FE_UID] ^= 1;
			break;
		default:
			put_le64(mirror_fe + FE_INFO_LENGTH, le64(mirror_fe + FE_INFO_LENGTH) - 32 * BS);
			put_le64(mirror_fe + EFE_OBJECT_SIZE, le64(mirror_fe + EFE_OBJECT_SIZE) - 32 * BS);
			put_le32(mirror_fe + EFE_SIZE + AD_LEN, le32(mirror_fe + EFE_SIZE + AD_LEN) - 32 * BS);
			udf_tag_finish(mirror_fe, BS);
		}
		memcpy(m.dur, m.cur, good.size);
		m.writes = 0;
		struct udf_io io = {.read = mem_read,
				    .write = mem_write,
				    .flush = mem_flush,
				    .ctx = &m,
				    .size = m.size,
				    .packet_blocks = m.pkt};
		struct udf_mount_opts mo = {.uid = 0, .gid = 0};
		char err[256], why[256];
		ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "%s: %s", cases[c].damage, err);
		ck_assert_msg(!udf_writable(fs, why, sizeof(why)), "%s: writable", cases[c].damage);
		ck_assert_msg(strstr(why, cases[c].why), "%s: read-only because: %s", cases[c].damage, why);
		uint64_t dd;
		ck_assert_int_eq(udf_lookup(fs, udf_root_ino(fs), "d", &dd, &st), 0);
		ck_assert_int_eq(udf_create(fs, dd, "g", S_IFREG | 0644, 0, 0, NULL, &ino, &st), -EROFS);
		udf_close(fs);
		udf_unmount(fs);
		ck_assert_msg(memcmp(m.cur, m.dur, m.size) == 0 && m.writes == 0, "%s: the disc was written",
			      cases[c].damage);
		img_put(m.cur, m.size);
		img_put(m.dur, m.size);
	}
	mem_free(&good);
}
END_TEST

START_TEST(power_cut_hd)
{
	for (uint64_t seed = 1; seed <= 60; seed++)
		run_cut(UDF_MEDIA_HD, seed);
}
END_TEST

START_TEST(power_cut_cdrw)
{
	for (uint64_t seed = 1000; seed <= 1030; seed++)
		run_cut(UDF_MEDIA_CDRW, seed);
}
END_TEST

/* ---- fragmentation, ENOSPC, POSIX rules ---- */

START_TEST(fragmented_files)
{
	struct mem m;
	uint64_t a, b;
	struct stat st;
	enum { PIECES = 700, PIECE = 4096 };

	mem_init(&m, 24, UDF_MEDIA_HD, 0x0201, 5);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "a", S_IFREG | 0644, 0, 0, NULL, &a, &st), 0);
	ck_assert_int_eq(udf_create(fs, root, "b", S_IFREG | 0644, 0, 0, NULL, &b, &st), 0);
	uint8_t *da = malloc((size_t)PIECES * PIECE), *db = malloc((size_t)PIECES * PIECE);
	fill(da, (size_t)PIECES * PIECE, 1);
	fill(db, (size_t)PIECES * PIECE, 2);
	/* alternating appends leave each file in hundreds of extents: more than a file entry holds */
	for (int i = 0; i < PIECES; i++) {
		ck_assert_int_eq(udf_write(fs, a, (uint64_t)i * PIECE, PIECE, da + (size_t)i * PIECE), PIECE);
		ck_assert_int_eq(udf_write(fs, b, (uint64_t)i * PIECE, PIECE, db + (size_t)i * PIECE), PIECE);
	}
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	check_file(fs, root, "a", da, (size_t)PIECES * PIECE, "fragmented");
	check_file(fs, root, "b", db, (size_t)PIECES * PIECE, "fragmented");
	/* shrink one into its file entry's reach again, and grow it with a hole */
	struct udf_setattr sa = {.valid = UDF_SET_SIZE, .size = 10000};
	ck_assert_int_eq(udf_setattr(fs, a, &sa, &st), 0);
	sa.size = 300000;
	ck_assert_int_eq(udf_setattr(fs, a, &sa, &st), 0);
	memset(da + 10000, 0, 300000 - 10000);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	check_file(fs, root, "a", da, 300000, "shrunk and grown");
	check_file(fs, root, "b", db, (size_t)PIECES * PIECE, "untouched neighbour");
	/* a hole of gigabytes: several extents, each within what a descriptor records */
	uint64_t big;
	ck_assert_int_eq(udf_create(fs, root, "sparse", S_IFREG | 0644, 0, 0, NULL, &big, &st), 0);
	struct udf_setattr sb = {.valid = UDF_SET_SIZE, .size = 5ull << 30};
	ck_assert_int_eq(udf_setattr(fs, big, &sb, &st), 0);
	ck_assert_int_eq(udf_write(fs, big, (9ull << 29) + 1, 5000, db), 5000);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	ck_assert_int_eq(udf_lookup(fs, root, "sparse", &big, &st), 0);
	ck_assert_int_eq(st.st_size, 5ll << 30);
	uint8_t *back = malloc(5000);
	ck_assert_int_eq(udf_read(fs, big, (9ull << 29) + 1, 5000, back), 5000);
	ck_assert(memcmp(back, db, 5000) == 0);
	ck_assert_int_eq(udf_read(fs, big, 3ull << 30, 5000, back), 5000);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(back[i], 0);
	free(back);
	udf_unmount(fs);
	free(da);
	free(db);
	mem_free(&m);
}
END_TEST

START_TEST(enospc_then_sound)
{
	struct mem m;
	struct stat st;
	uint64_t ino;
	uint8_t *chunk = malloc(1 << 20);

	fill(chunk, 1 << 20, 9);
	mem_init(&m, 8, UDF_MEDIA_HD, 0x0201, 6);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "keep", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, 100000, chunk), 100000);
	ck_assert_int_eq(udf_create(fs, root, "fill", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ssize_t n = 0;
	uint64_t off = 0;
	while ((n = udf_write(fs, ino, off, 1 << 20, chunk)) > 0)
		off += (uint64_t)n;
	ck_assert_int_eq(n, -ENOSPC);
	/* names keep working or fail cleanly while full */
	int rc = 0;
	for (int i = 0; i < 2000 && rc == 0; i++) {
		char name[32];
		uint64_t x;
		snprintf(name, sizeof(name), "small%d", i);
		rc = udf_create(fs, root, name, S_IFREG | 0644, 0, 0, NULL, &x, &st);
	}
	ck_assert_int_eq(rc, -ENOSPC);
	/* a full disc still commits: the commit's own space was kept for it */
	ck_assert_int_eq(udf_sync(fs), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	check_file(fs, root, "keep", chunk, 100000, "after ENOSPC");
	struct udf_statfs full, freed;
	udf_statfs(fs, &full);
	ck_assert_int_eq(udf_unlink(fs, root, "fill"), 0);
	udf_statfs(fs, &freed);
	ck_assert_msg(freed.free_blocks >= full.free_blocks + off / BS, "unlink returned %llu blocks of %llu",
		      (unsigned long long)(freed.free_blocks - full.free_blocks), (unsigned long long)(off / BS));
	ck_assert_int_eq(udf_create(fs, root, "again", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, 1 << 20, chunk), 1 << 20);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	check_file(fs, root, "again", chunk, 1 << 20, "space reused");
	udf_unmount(fs);
	free(chunk);
	mem_free(&m);
}
END_TEST

/* A big file's data starts a packet of the medium at every block size: udf_io counts packets in
 * 2048-byte sectors (16 here, 32 KiB), which are 64 blocks of 512 and 8 of 4096. */
START_TEST(data_aligns_to_packets_at_every_block_size)
{
	static const uint32_t sizes[] = {512, 1024, 2048, 4096};
	const size_t len = 256 * 1024;
	uint8_t *chunk = malloc(len);

	fill(chunk, len, 21);
	for (size_t k = 0; k < 4; k++) {
		struct mem m;
		struct stat st;
		uint64_t ino;
		mem_init_bs(&m, 8, UDF_MEDIA_HD, 0x0201, 14, sizes[k]);
		struct udf_fs *fs = mount_mem(&m);
		ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "big", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		ck_assert_int_eq(udf_write(fs, ino, 0, len, chunk), (ssize_t)len);
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		const uint8_t *at = memmem(m.cur, m.size, chunk, 4096);
		ck_assert_ptr_nonnull(at);
		size_t off = (size_t)(at - m.cur), pbytes = (size_t)m.pkt * SECTOR;
		ck_assert_msg(off % pbytes == 0, "block size %u: the data starts at byte %zu, %zu into a packet",
			      sizes[k], off, off % pbytes);
		mem_free(&m);
	}
	free(chunk);
}
END_TEST

/* A symlink is at most one block, as Linux's udf reads and writes them: at 1024 a target of 60
 * components (1028 bytes recorded) is ENAMETOOLONG, one of 59 (1011) is kept; at 2048 both are. */
START_TEST(symlink_fits_one_block)
{
	char t60[1024], t59[1024];
	size_t n = 0;
	for (int i = 1; i <= 60; i++) {
		if (i == 60)
			memcpy(t59, t60, n);
		n += (size_t)snprintf(t60 + n, sizeof(t60) - n, "component-%02d/", i);
	}
	strcpy(t59 + 59 * 13, "end");
	strcpy(t60 + n, "end");
	static const uint32_t sizes[] = {1024, 2048};
	for (size_t k = 0; k < 2; k++) {
		struct mem m;
		struct stat st;
		uint64_t ino;
		char back[1100];
		mem_init_bs(&m, 8, UDF_MEDIA_HD, 0x0201, 15, sizes[k]);
		struct udf_fs *fs = mount_mem(&m);
		uint64_t root = udf_root_ino(fs);
		ck_assert_int_eq(udf_create(fs, root, "l60", S_IFLNK | 0777, 0, 0, t60, &ino, &st),
				 sizes[k] == 1024 ? -ENAMETOOLONG : 0);
		ck_assert_int_eq(udf_create(fs, root, "l59", S_IFLNK | 0777, 0, 0, t59, &ino, &st), 0);
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		fs = mount_mem(&m);
		ck_assert_int_ne(lookup_ino(fs, root, "l59", NULL), 0);
		ck_assert_int_eq(udf_readlink(fs, lookup_ino(fs, root, "l59", NULL), back, sizeof(back)), 0);
		ck_assert_str_eq(back, t59);
		ck_assert_int_eq(lookup_ino(fs, root, "l60", NULL) != 0, sizes[k] == 2048);
		udf_unmount(fs);
		mem_free(&m);
	}
}
END_TEST

/* A write that runs out of free blocks while blocks freed since the last commit wait: the commit it
 * triggers in its middle must keep the blocks the write already took. */
START_TEST(commit_in_the_middle_of_a_write)
{
	struct mem m;
	struct stat st;
	uint64_t ino, app;
	uint8_t *chunk = malloc(1 << 20);

	fill(chunk, 1 << 20, 11);
	mem_init(&m, 8, UDF_MEDIA_HD, 0x0201, 12);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "a", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, 20 * BS, chunk), 20 * BS);
	ck_assert_int_eq(udf_create(fs, root, "b", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, 49 * BS, chunk + 20 * BS), 49 * BS);
	ck_assert_int_eq(udf_create(fs, root, "app", S_IFREG | 0644, 0, 0, NULL, &app, &st), 0);
	ck_assert_int_eq(udf_write(fs, app, 0, 5000, chunk), 5000);
	ck_assert_int_eq(udf_create(fs, root, "filler", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ssize_t n;
	uint64_t off = 0;
	while ((n = udf_write(fs, ino, off, 1 << 20, chunk)) > 0)
		off += (uint64_t)n;
	ck_assert_int_eq(n, -ENOSPC);
	ck_assert_int_eq(udf_unlink(fs, root, "a"), 0);
	ck_assert_int_eq(udf_sync(fs), 0);		/* a's 20 blocks are free now */
	ck_assert_int_eq(udf_unlink(fs, root, "b"), 0); /* b's 49 wait for the next commit */
	ck_assert_int_eq(udf_write(fs, app, 5000, 60 * BS, chunk + 5000), 60 * BS);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	check_file(fs, root, "app", chunk, 5000 + 60 * BS, "written across a commit");
	udf_unmount(fs);
	free(chunk);
	mem_free(&m);
}
END_TEST

/* An embedded file made to grow by setattr on a full disc while blocks freed since the last commit
 * wait: the operation commits, and then the data moves out of the file entry. */
START_TEST(grow_across_a_commit)
{
	struct mem m;
	struct stat st;
	uint64_t small, ino;
	uint8_t *chunk = malloc(1 << 20), *want = calloc(1, 100000);

	fill(chunk, 1 << 20, 13);
	memcpy(want, chunk, 1000);
	mem_init(&m, 8, UDF_MEDIA_HD, 0x0201, 13);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "small", S_IFREG | 0644, 0, 0, NULL, &small, &st), 0);
	ck_assert_int_eq(udf_write(fs, small, 0, 1000, chunk), 1000);
	ck_assert_int_eq(udf_create(fs, root, "b", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, 49 * BS, chunk), 49 * BS);
	ck_assert_int_eq(udf_create(fs, root, "filler", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ssize_t n;
	uint64_t off = 0;
	while ((n = udf_write(fs, ino, off, 1 << 20, chunk)) > 0)
		off += (uint64_t)n;
	ck_assert_int_eq(n, -ENOSPC);
	ck_assert_int_eq(udf_unlink(fs, root, "b"), 0); /* b's 49 blocks wait for the next commit */
	struct udf_setattr sa = {.valid = UDF_SET_SIZE, .size = 100000};
	ck_assert_int_eq(udf_setattr(fs, small, &sa, &st), 0);
	ck_assert_int_eq(st.st_size, 100000);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	check_file(fs, root, "small", want, 100000, "grown across a commit");
	udf_unmount(fs);
	free(want);
	free(chunk);
	mem_free(&m);
}
END_TEST

START_TEST(posix_rules)
{
	struct mem m;
	struct stat st;
	uint64_t d, e, f, g, s;
	char buf[256];

	mem_init(&m, 8, UDF_MEDIA_HD, 0x0201, 7);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &d, &st), 0);
	ck_assert_int_eq(st.st_nlink, 2);
	ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &e, &st), -EEXIST);
	ck_assert_int_eq(udf_create(fs, d, "e", S_IFDIR | 0700, 0, 0, NULL, &e, &st), 0);
	ck_assert_int_eq(udf_getattr(fs, d, &st), 0);
	ck_assert_int_eq(st.st_nlink, 3);
	ck_assert_int_eq(udf_create(fs, e, "f", S_IFREG | 0600, 1000, 100, NULL, &f, &st), 0);
	ck_assert_int_eq(udf_rmdir(fs, d, "e"), -ENOTEMPTY);
	ck_assert_int_eq(udf_unlink(fs, d, "e"), -EISDIR);
	ck_assert_int_eq(udf_rmdir(fs, e, "f"), -ENOTDIR);
	ck_assert_int_eq(udf_link(fs, f, root, "hard", &st), 0);
	ck_assert_int_eq(st.st_nlink, 2);
	ck_assert_int_eq(udf_link(fs, f, root, "hard", &st), -EEXIST);
	ck_assert_int_eq(udf_link(fs, d, root, "dirlink", &st), -EPERM);
	memset(buf, 'x', 255);
	buf[255] = '\0';
	ck_assert_int_eq(udf_create(fs, root, buf, S_IFREG | 0644, 0, 0, NULL, &g, &st), -ENAMETOOLONG);
	buf[254] = '\0';
	ck_assert_int_eq(udf_create(fs, root, buf, S_IFREG | 0644, 0, 0, NULL, &g, &st), 0);
	ck_assert_int_eq(udf_rename(fs, root, "d", e, "inside", 0), -EINVAL); /* into itself */
	ck_assert_int_eq(udf_create(fs, root, "empty", S_IFDIR | 0755, 0, 0, NULL, &g, &st), 0);
	ck_assert_int_eq(udf_rename(fs, root, "d", root, "empty", 0), 0); /* over an empty directory */
	ck_assert_int_eq(lookup_ino(fs, root, "empty", NULL), d);
	ck_assert_int_eq(udf_create(fs, root, "l", S_IFLNK | 0777, 0, 0, "../a//b/./c", &s, &st), 0);
	ck_assert_int_eq(udf_readlink(fs, s, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "../a/b/./c");
	ck_assert_int_eq(udf_create(fs, root, "abs", S_IFLNK | 0777, 0, 0, "/etc/passwd", &s, &st), 0);
	ck_assert_int_eq(udf_readlink(fs, s, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/etc/passwd");
	/* path components as ECMA-167 numbers them (and Linux reads them): root 1, ".." 3, "." 4 */
	uint8_t pc[64];
	ck_assert_int_eq(udf_read(fs, s, 0, sizeof(pc), pc), 4 + (4 + 1 + 3) + (4 + 1 + 6));
	ck_assert_int_eq(pc[0], 1);
	ck_assert_int_eq(pc[1], 0);
	ck_assert_int_eq(udf_create(fs, root, "up", S_IFLNK | 0777, 0, 0, "./../x", &s, &st), 0);
	ck_assert_int_eq(udf_read(fs, s, 0, sizeof(pc), pc), 4 + 4 + 4 + 2);
	ck_assert_int_eq(pc[0], 4);
	ck_assert_int_eq(pc[4], 3);
	ck_assert_int_eq(pc[8], 5);
	ck_assert_int_eq(udf_readlink(fs, s, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "./../x");
	ck_assert_int_eq(st.st_size, 6); /* lstat: the target's length */
	/* device nodes carry their number in an extended attribute */
	uint64_t dev;
	ck_assert_int_eq(udf_mknod(fs, root, "null", S_IFCHR | 0666, makedev(1, 3), 0, 0, &dev, &st), 0);
	ck_assert_int_eq(udf_mknod(fs, root, "sda", S_IFBLK | 0660, makedev(8, 0), 0, 6, &dev, &st), 0);
	ck_assert_int_eq(udf_mknod(fs, root, "fifo", S_IFIFO | 0644, 0, 0, 0, &dev, &st), 0);
	/* an open file outlives its last name */
	udf_open(fs, f);
	ck_assert_int_eq(udf_write(fs, f, 0, 5, "hello"), 5);
	ck_assert_int_eq(udf_unlink(fs, root, "hard"), 0);
	ck_assert_int_eq(udf_unlink(fs, e, "f"), 0);
	ck_assert_int_eq(udf_read(fs, f, 0, 5, buf), 5);
	udf_release(fs, f);
	ck_assert_int_eq(udf_getattr(fs, f, &st), -ENOENT);
	struct udf_setattr sa = {.valid = UDF_SET_MODE | UDF_SET_UID | UDF_SET_MTIME,
				 .mode = 04711,
				 .uid = 42,
				 .mtime = {.tv_sec = 1000000000, .tv_nsec = 123456000}};
	ck_assert_int_eq(udf_setattr(fs, e, &sa, &st), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	ck_assert_int_eq(udf_lookup(fs, d, "e", &e, &st), 0);
	ck_assert_int_eq(st.st_mode, S_IFDIR | 04711);
	ck_assert_int_eq(st.st_uid, 42);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1000000000);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 123456000);
	ck_assert_int_eq(count_entries(fs, e), 0);
	ck_assert_int_eq(udf_lookup(fs, root, "null", &dev, &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	ck_assert(st.st_rdev == makedev(1, 3));
	ck_assert_int_eq(udf_lookup(fs, root, "sda", &dev, &st), 0);
	ck_assert(S_ISBLK(st.st_mode));
	ck_assert(st.st_rdev == makedev(8, 0));
	ck_assert_int_eq(udf_lookup(fs, root, "fifo", &dev, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(udf_getattr(fs, root, &st), 0);
	ck_assert_int_eq(st.st_nlink, 3); /* root: ., its name, and "empty"/.. */
	udf_unmount(fs);
	mem_free(&m);
}
END_TEST

/* Every operation taking a name: ENAMETOOLONG for a name longer than UDF_NAME_MAX (as Linux's udf
 * answers), whether the name would be created or looked up, never ENOENT; UDF_NAME_MAX bytes work. */
START_TEST(names_too_long)
{
	struct mem m;
	struct stat st;
	uint64_t dir, file, ino;
	char longest[UDF_NAME_MAX + 1], over[UDF_NAME_MAX + 2], far[400];

	memset(longest, 'm', UDF_NAME_MAX);
	longest[UDF_NAME_MAX] = '\0';
	memset(over, 'o', UDF_NAME_MAX + 1);
	over[UDF_NAME_MAX + 1] = '\0';
	memset(far, 'f', sizeof(far) - 1);
	far[sizeof(far) - 1] = '\0';
	mem_init(&m, 8, UDF_MEDIA_HD, 0x0201, 11);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "dir", S_IFDIR | 0755, 0, 0, NULL, &dir, &st), 0);
	ck_assert_int_eq(udf_create(fs, root, "file", S_IFREG | 0644, 0, 0, NULL, &file, &st), 0);
	ck_assert_int_eq(udf_lookup(fs, root, "missing", &ino, &st), -ENOENT);
	ck_assert_int_eq(udf_unlink(fs, root, "missing"), -ENOENT);
	ck_assert_int_eq(udf_rmdir(fs, root, "missing"), -ENOENT);
	ck_assert_int_eq(udf_rename(fs, root, "missing", root, "x", 0), -ENOENT);
	const char *names[] = {over, far};
	for (int i = 0; i < 2; i++) {
		const char *n = names[i];
		ck_assert_int_eq(udf_lookup(fs, root, n, &ino, &st), -ENAMETOOLONG);
		ck_assert_int_eq(udf_create(fs, root, n, S_IFREG | 0644, 0, 0, NULL, &ino, &st), -ENAMETOOLONG);
		ck_assert_int_eq(udf_create(fs, root, n, S_IFDIR | 0755, 0, 0, NULL, &ino, &st), -ENAMETOOLONG);
		ck_assert_int_eq(udf_create(fs, root, n, S_IFLNK | 0777, 0, 0, "file", &ino, &st), -ENAMETOOLONG);
		ck_assert_int_eq(udf_mknod(fs, root, n, S_IFCHR | 0600, makedev(1, 3), 0, 0, &ino, &st), -ENAMETOOLONG);
		ck_assert_int_eq(udf_mknod(fs, root, n, S_IFIFO | 0600, 0, 0, 0, &ino, &st), -ENAMETOOLONG);
		ck_assert_int_eq(udf_link(fs, file, root, n, &st), -ENAMETOOLONG);
		ck_assert_int_eq(udf_unlink(fs, root, n), -ENAMETOOLONG);
		ck_assert_int_eq(udf_rmdir(fs, root, n), -ENAMETOOLONG);
		ck_assert_int_eq(udf_rename(fs, root, n, root, "x", 0), -ENAMETOOLONG);
		ck_assert_int_eq(udf_rename(fs, root, "file", root, n, 0), -ENAMETOOLONG);
		ck_assert_int_eq(udf_rename(fs, root, "dir", dir, n, 0),
				 -ENAMETOOLONG); /* before "into itself", as Linux */
		ck_assert_int_eq(udf_rename(fs, root, "file", dir, n, UDF_RENAME_NOREPLACE), -ENAMETOOLONG);
	}
	/* UDF_NAME_MAX bytes: created, found, linked, renamed, removed */
	ck_assert_int_eq(udf_create(fs, dir, longest, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(lookup_ino(fs, dir, longest, NULL), ino);
	ck_assert_int_eq(udf_link(fs, ino, root, longest, &st), 0);
	ck_assert_int_eq(udf_rename(fs, root, longest, root, "short", 0), 0);
	ck_assert_int_eq(udf_rename(fs, root, "short", root, longest, 0), 0);
	ck_assert_int_eq(udf_unlink(fs, root, longest), 0);
	ck_assert_int_eq(udf_unlink(fs, dir, longest), 0);
	ck_assert_int_eq(udf_create(fs, dir, longest, S_IFDIR | 0755, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_rmdir(fs, dir, longest), 0);
	ck_assert_int_eq(count_entries(fs, root), 2);
	ck_assert_int_eq(count_entries(fs, dir), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	mem_free(&m);
}
END_TEST

START_TEST(many_entries_one_dir)
{
	struct mem m;
	struct stat st;
	uint64_t ino;
	char name[32];

	mem_init(&m, 32, UDF_MEDIA_HD, 0x0201, 8);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "entry-%05d", i);
		ck_assert_int_eq(udf_create(fs, root, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		if (i % 500 == 0)
			ck_assert_int_eq(udf_sync(fs), 0);
	}
	for (int i = 0; i < 3000; i += 3) {
		snprintf(name, sizeof(name), "entry-%05d", i);
		ck_assert_int_eq(udf_unlink(fs, root, name), 0);
	}
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	ck_assert_int_eq(count_entries(fs, root), 2000);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "entry-%05d", i);
		ck_assert_int_eq(lookup_ino(fs, root, name, NULL) != 0, i % 3 != 0);
	}
	struct udf_statfs sf;
	udf_statfs(fs, &sf);
	ck_assert_int_eq(sf.files, 2000);
	udf_unmount(fs);
	mem_free(&m);
}
END_TEST

/* ---- entries that move (udf_move.c) ---- */

/* The block of partition 0 at lbn, on the image img. */
static const uint8_t *img_block(const struct udf_fs *fs, const uint8_t *img, uint32_t lbn)
{
	return img + (fs->parts[0].start + lbn) * (uint64_t)BS;
}

/* The revisions the tests of entries that move run on (a loop test's _i): UDF 2.01, and 2.50 with
 * its metadata partition (file entries and directories there, in the metadata file). */
static unsigned move_rev(int i)
{
	return i ? 0x0250 : 0x0201;
}

/* The block of file entries (and directories) at lbn on img: of the metadata partition, through the
 * metadata file's extents (the writer's in memory: a growth only appends to them), else of
 * partition 0. */
static const uint8_t *img_entry(const struct udf_fs *fs, const uint8_t *img, uint32_t lbn)
{
	uint32_t plbn = lbn;

	if (fs->w && fs->w->meta) {
		uint16_t mp = udf_meta_part(fs);
		ck_assert_int_eq(udf_meta_file_block(fs, fs->parts[mp].meta, fs->parts[mp].phys, lbn, &plbn), 0);
	}
	return img_block(fs, img, plbn);
}

/* The allocator's state of the space file entries are in. */
static struct udf_w *entry_space(struct udf_fs *fs)
{
	return fs->w->meta ? udf_meta_space(fs->w) : fs->w;
}

/* Follows the ICB at l on img as a reader does (strategy 4096, indirect entries after each entry):
 * the hops taken; *last: the entry reached. */
static uint32_t img_hops(const struct udf_fs *fs, const uint8_t *img, uint32_t l, uint32_t *last)
{
	uint32_t hops = 0;

	for (;;) {
		const uint8_t *b = img_entry(fs, img, l);
		int tag = udf_tag_check(b, BS, l);
		ck_assert_msg(tag == TAG_FE || tag == TAG_EFE, "block %u: tag %d, not a file entry", l, tag);
		if (le16(b + ICB_STRATEGY_TYPE) != 4096)
			break;
		const uint8_t *ie = img_entry(fs, img, l + 1);
		ck_assert_msg(udf_tag_check(ie, BS, l + 1) == TAG_IE, "block %u: no indirect entry after 4096", l + 1);
		if ((le32(ie + IE_INDIRECT_ICB + AD_LEN) & AD_LEN_MASK) == 0)
			break;
		l = le32(ie + IE_INDIRECT_ICB + LAD_LBN);
		ck_assert_uint_le(++hops, MAX_ICB_HOPS);
	}
	*last = l;
	return hops;
}

static bool pending_free(const struct udf_w *w, uint32_t b)
{
	for (size_t i = 0; i < w->npend; i++)
		if (b >= w->pend[i].lbn && b - w->pend[i].lbn < w->pend[i].n)
			return true;
	return false;
}

/* The chain in memory against the medium's (durable) one: the same hops and newest entry, within the
 * bound, every block in use. */
static struct node *check_chain(struct udf_fs *fs, const struct mem *m, uint64_t ino, const char *when)
{
	struct node *n;
	uint32_t l = (uint32_t)(ino - INO_BASE), last;

	ck_assert_int_eq(udf_get_node(fs, ino, &n), 0);
	ck_assert_msg(n->nchain >= 1, "%s: entry %u does not move", when, l);
	ck_assert_msg(n->nchain - 1 <= CHAIN_MAX_HOPS, "%s: %u hops", when, n->nchain - 1);
	ck_assert_uint_eq(n->chain[0], l);
	ck_assert_uint_eq(n->fe_lbn, n->chain[n->nchain - 1]);
	uint32_t hops = img_hops(fs, m->dur, l, &last);
	ck_assert_msg(hops == n->nchain - 1 && last == n->fe_lbn, "%s: the medium has %u hops to %u, memory %u to %u",
		      when, hops, last, n->nchain - 1, n->fe_lbn);
	for (uint32_t i = 0; i < n->nchain; i++)
		for (uint32_t b = n->chain[i]; b < n->chain[i] + 2; b++)
			ck_assert_msg(!udf_bm_is_free(entry_space(fs), b) && !pending_free(entry_space(fs), b),
				      "%s: block %u of the chain is free", when, b);
	return n;
}

/* A medium holding only what m has for sure (the process killed now), for a mount of its own;
 * mem_free it. */
static struct mem durable_copy(const struct mem *m)
{
	struct mem c = *m;
	c.cur = img_get(m->size, false);
	c.dur = img_get(m->size, false);
	memcpy(c.cur, m->dur, m->size);
	memcpy(c.dur, m->dur, m->size);
	c.pend = NULL;
	c.npend = c.cap = 0;
	c.cut = NULL;
	c.crash_at = 0;
	c.crashed = false;
	c.pkt_writes = NULL; /* not counted: the copy is for reading */
	c.pkt_seen = NULL;
	return c;
}

/* A mount of what the medium has for sure (the process killed now): the names of dir, sorted. */
static int names_on_medium(const struct mem *m, const char *path, char (*out)[64], int max)
{
	struct mem c = durable_copy(m);
	struct udf_fs *fs = mount_mem(&c); /* the check after an unclean shutdown runs: it follows chains */
	uint64_t dir = fs->root_ino;
	if (path[0])
		dir = lookup_ino(fs, dir, path, NULL);
	ck_assert(dir != 0);
	struct list_ctx lc = {out, 0};
	(void)max;
	ck_assert_int_eq(udf_readdir(fs, dir, 0, list_fill, &lc), 0);
	udf_unmount(fs);
	mem_free(&c);
	return lc.n;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct move_names {
	char root[256][64], d[256][64];
	int nroot, nd;
};

static void check_names(const struct mem *m, const struct move_names *want, const char *when)
{
	static char got[300][64];
	struct {
		const char *path;
		const char (*names)[64];
		int n;
	} dirs[] = {{"", want->root, want->nroot}, {"d", want->d, want->nd}};
	for (int k = 0; k < 2; k++) {
		int n = names_on_medium(m, dirs[k].path, got, 300);
		char(*w)[64] = malloc(256 * 64);
		memcpy(w, dirs[k].names, (size_t)dirs[k].n * 64);
		qsort(w, (size_t)dirs[k].n, 64, cmp_name);
		qsort(got, (size_t)n, 64, cmp_name);
		ck_assert_msg(n == dirs[k].n, "%s: /%s has %d names, want %d", when, dirs[k].path, n, dirs[k].n);
		for (int i = 0; i < n; i++)
			ck_assert_msg(strcmp(got[i], w[i]) == 0, "%s: /%s: %s, want %s", when, dirs[k].path, got[i],
				      w[i]);
		free(w);
	}
}

static void fsck_say(void *ctx, enum udf_fsck_line kind, const char *line)
{
	(void)ctx;
	if (kind != UDF_FSCK_INFO)
		fprintf(stderr, "  check: %s\n", line);
}

static void fsck_clean(struct mem *m, const char *when)
{
	struct udf_io io = {.read = mem_read, .ctx = m, .size = m->size, .packet_blocks = m->pkt};
	struct udf_fsck_result r;
	char err[256];

	ck_assert_msg(udf_fsck(&io, false, fsck_say, NULL, &r, err, sizeof(err)) == 0, "%s: check: %s", when, err);
	ck_assert_msg(r.problems == 0 && !r.unreadable, "%s: the check finds %llu problems", when,
		      (unsigned long long)r.problems);
}

/* pktfuse check finds nothing; it does not check a metadata partition yet: there the mirror holds
 * exactly the metadata file, and a mount verifies both with the metadata bitmap (mount_mem asserts
 * the volume writable: udf_meta_attach's checks). */
static void fsck_clean_rev(struct mem *m, unsigned rev, const char *when)
{
	if (rev >= 0x0250) {
		check_mirror_of(m, BS, when, 0, true); /* after a power cut, free blocks may differ */
		udf_unmount(mount_mem(m));
		return;
	}
	fsck_clean(m, when);
}

/* A full disc with a directory whose entry moves: the chains fold back to give their blocks (statfs
 * counted them free), and the last commit still rewrites the directory — a move never takes the
 * blocks kept for that. */
START_TEST(full_disc_with_moves)
{
	const unsigned rev = move_rev(_i);
	struct mem m;
	struct stat st;
	uint64_t ino, d;
	uint8_t *chunk = malloc(1 << 20);
	char name[32];

	fill(chunk, 1 << 20, 9);
	mem_init(&m, 8, UDF_MEDIA_HD, rev, 7);
	struct udf_fs *fs = mount_mem(&m);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &d, &st), 0);
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "name-that-fills-blocks-%d", i);
		ck_assert_int_eq(udf_create(fs, d, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		ck_assert_int_eq(udf_sync(fs), 0);
	}
	ck_assert_int_eq(udf_create(fs, root, "fill", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ssize_t n;
	uint64_t off = 0;
	while ((n = udf_write(fs, ino, off, 1 << 20, chunk)) > 0)
		off += (uint64_t)n;
	ck_assert_int_eq(n, -ENOSPC);
	/* a little room back (after the next commit): a few names fit, then the disc is full again */
	struct udf_setattr sa = {.valid = UDF_SET_SIZE, .size = off - 8 * BS};
	ck_assert_int_eq(udf_setattr(fs, ino, &sa, &st), 0);
	int rc = 0, made = 0;
	for (int i = 0; i < 2000 && rc == 0; i++, made++) {
		snprintf(name, sizeof(name), "late-%d", i);
		rc = udf_create(fs, d, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st);
	}
	ck_assert_int_eq(rc, -ENOSPC);
	fprintf(stderr, "full_disc_with_moves: %d names made while full\n", made - 1);
	ck_assert_int_eq(udf_sync(fs), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	for (int i = 0; i < made - 1; i++) {
		snprintf(name, sizeof(name), "late-%d", i);
		ck_assert_msg(lookup_ino(fs, d, name, NULL) != 0, "%s is missing", name);
	}
	udf_unmount(fs);
	fsck_clean_rev(&m, rev, "full disc with moves");
	free(chunk);
	mem_free(&m);
}
END_TEST

/* What the power-cut run of moves appends to /log at commit k. */
enum { LOG_STEP = 100 };
static void log_piece(uint8_t *p, int k)
{
	fill(p, LOG_STEP, (uint64_t)k + 77);
}

/* The power-cut run of moves: mkdir /d and /log, then `commits` commits each adding d/fK (every
 * fourth also rK in the root) and appending a piece to /log (a regular file whose entry moves and
 * whose last block is copied), the process killed at the end (no unmount).  *done: the commits
 * completed before the cut (all of them without one). */
static void move_run(struct mem *m, int commits, int *done, long *setup_calls)
{
	struct udf_fs *fs = mount_mem(m);
	uint64_t d, ino, lg;
	struct stat st;
	char name[32];
	uint8_t piece[LOG_STEP];

	ck_assert_int_eq(udf_create(fs, fs->root_ino, "d", S_IFDIR | 0755, 0, 0, NULL, &d, &st), 0);
	ck_assert_int_eq(udf_create(fs, fs->root_ino, "log", S_IFREG | 0644, 0, 0, NULL, &lg, &st), 0);
	ck_assert_int_eq(udf_sync(fs), 0);
	*setup_calls = m->calls;
	*done = 0;
	for (int k = 0; k < commits; k++) {
		log_piece(piece, k);
		ck_assert_int_eq(udf_write(fs, lg, (uint64_t)k * LOG_STEP, LOG_STEP, piece), LOG_STEP);
		snprintf(name, sizeof(name), "f%d", k);
		ck_assert_int_eq(udf_create(fs, d, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		ck_assert_int_eq(udf_write(fs, ino, 0, strlen(name), name), (ssize_t)strlen(name));
		if (k % 4 == 0) {
			snprintf(name, sizeof(name), "r%d", k);
			ck_assert_int_eq(udf_create(fs, fs->root_ino, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		}
		ck_assert_int_eq(udf_sync(fs), 0);
		if (!m->crashed)
			*done = k + 1;
	}
	udf_unmount(fs); /* killed: nothing more reaches the medium */
}

/* After the cut: /log holds the pieces of the commits done, or of one more (the one cut short). */
static void check_cut_log(struct udf_fs *fs, int done, const char *what)
{
	struct stat st;
	uint64_t lg = lookup_ino(fs, fs->root_ino, "log", &st);
	size_t cap = (size_t)(done + 2) * LOG_STEP;
	uint8_t *got = malloc(cap), *want = malloc(cap);

	ck_assert_msg(lg != 0, "%s: /log is missing", what);
	ssize_t n = udf_read(fs, lg, 0, cap, got);
	ck_assert_msg(n == (ssize_t)done * LOG_STEP || n == (ssize_t)(done + 1) * LOG_STEP,
		      "%s: /log has %zd bytes after %d commits", what, n, done);
	for (int k = 0; k < (int)(n / LOG_STEP); k++)
		log_piece(want + (size_t)k * LOG_STEP, k);
	ck_assert_msg(memcmp(got, want, (size_t)n) == 0, "%s: /log does not hold what was appended", what);
	free(got);
	free(want);
}

/* After the cut: every commit completed before it is there, at most the one cut short besides. */
static void check_cut_names(struct udf_fs *fs, uint64_t dir, char prefix, int step, int done, const char *what)
{
	char name[32];
	struct stat st;

	for (int k = 0; k <= done + 1; k += step) {
		snprintf(name, sizeof(name), "%c%d", prefix, k);
		uint64_t ino = lookup_ino(fs, dir, name, &st);
		if (k < done) {
			ck_assert_msg(ino != 0, "%s: %s, committed before the cut, is missing", what, name);
			if (prefix == 'f')
				check_file(fs, dir, name, (const uint8_t *)name, strlen(name), what);
		} else if (k > done) {
			ck_assert_msg(ino == 0, "%s: %s, never committed, is there", what, name);
		}
	}
}

/* A power cut at every medium write and barrier of a run of 36 commits that move /d's entry (33
 * moves compact its chain), the root's and /log's (appended each commit): the disc mounts (the check after an unclean shutdown
 * follows the chains and marks their blocks used), holds every commit done before the cut, takes
 * another commit and a clean unmount, and the check then finds nothing. */
START_TEST(power_cut_moves)
{
	const unsigned rev = move_rev(_i);
	const int commits = 36;
	struct mem m;
	int done;
	long setup, total;

	mem_init(&m, 16, UDF_MEDIA_CDRW, rev, 1);
	move_run(&m, commits, &done, &setup);
	total = m.calls;
	mem_free(&m);
	ck_assert_int_eq(done, commits);
	fprintf(stderr, "power_cut_moves: cuts at calls %ld..%ld\n", setup + 1, total);
	for (long cut = setup + 1; cut <= total; cut++) {
		char what[64];
		snprintf(what, sizeof(what), "cut at call %ld", cut);
		mem_init(&m, 16, UDF_MEDIA_CDRW, rev, (uint64_t)cut);
		m.crash_at = cut;
		move_run(&m, commits, &done, &setup);
		ck_assert(m.crashed);
		mem_take_cut(&m);
		struct udf_fs *fs = mount_mem(&m);
		uint64_t d = lookup_ino(fs, fs->root_ino, "d", NULL), ino;
		ck_assert_msg(d != 0, "%s: /d is missing", what);
		check_cut_names(fs, d, 'f', 1, done, what);
		check_cut_names(fs, fs->root_ino, 'r', 4, done, what);
		check_chain(fs, &m, d, what);
		check_chain(fs, &m, fs->root_ino, what);
		check_cut_log(fs, done, what);
		check_chain(fs, &m, lookup_ino(fs, fs->root_ino, "log", NULL), what);
		struct stat st;
		ck_assert_int_eq(udf_create(fs, d, "after", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		ck_assert_int_eq(udf_sync(fs), 0);
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		fs = mount_mem(&m);
		ck_assert_msg(lookup_ino(fs, d, "after", NULL) != 0, "%s: the next session's file is missing", what);
		check_cut_names(fs, d, 'f', 1, done, what);
		check_cut_log(fs, done, what);
		udf_unmount(fs);
		fsck_clean_rev(&m, rev, what);
		mem_free(&m);
	}
}
END_TEST

/* Seeds of random commits in the root and /d (names added, some removed, one commit each): after
 * each commit both entries' chains are checked against the medium, a mount of the medium lists
 * exactly the names committed, compaction leaves the chain's middle pairs free; at unmount
 * the chains fold back (strategy 4 at the entry's first block, the chain blocks free, the check
 * finds nothing). */
START_TEST(entries_move)
{
	const unsigned rev = move_rev(_i);
	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct mem m;
		uint64_t rng = seed * 7919 + 1;
		static struct move_names mn;
		char what[64];
		uint32_t compactions = 0, max_hops = 0;

		memset(&mn, 0, sizeof(mn));
		mem_init(&m, 24, UDF_MEDIA_CDRW, rev, seed);
		struct udf_fs *fs = mount_mem(&m);
		uint64_t root = fs->root_ino, d, ino;
		struct stat st;
		ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &d, &st), 0);
		strcpy(mn.root[mn.nroot++], "d");
		ck_assert_int_eq(udf_sync(fs), 0);
		uint32_t prev[2][CHAIN_MAX_HOPS + 2], nprev[2] = {0, 0};
		for (int k = 0; k < 110; k++) {
			bool in_d = rnd(&rng) % 3 != 0;
			char(*names)[64] = in_d ? mn.d : mn.root;
			int *n = in_d ? &mn.nd : &mn.nroot;
			uint64_t dir = in_d ? d : root;
			if (*n > 1 && rnd(&rng) % 4 == 0) {
				int i = 1 + (int)(rnd(&rng) % (uint64_t)(*n - 1)); /* never /d */
				if (!in_d && strcmp(names[i], "d") == 0)
					i = 0;
				if (in_d || strcmp(names[i], "d") != 0) {
					ck_assert_int_eq(udf_unlink(fs, dir, names[i]), 0);
					memcpy(names[i], names[*n - 1], 64);
					(*n)--;
				}
			} else {
				snprintf(names[*n], 64, "f%d-%llu", k, (unsigned long long)(rnd(&rng) % 1000));
				ck_assert_int_eq(udf_create(fs, dir, names[*n], S_IFREG | 0644, 0, 0, NULL, &ino, &st),
						 0);
				ck_assert_int_eq(udf_write(fs, ino, 0, 5, "hello"), 5);
				(*n)++;
			}
			ck_assert_int_eq(udf_sync(fs), 0);
			snprintf(what, sizeof(what), "seed %llu commit %d", (unsigned long long)seed, k);
			uint64_t inos[2] = {root, d};
			for (int j = 0; j < 2; j++) {
				struct node *c = check_chain(fs, &m, inos[j], what);
				if (c->nchain < nprev[j]) {
					compactions++;
					for (uint32_t i = 1; i < nprev[j]; i++)
						if (prev[j][i] != c->fe_lbn)
							ck_assert_msg(
								udf_bm_is_free(entry_space(fs), prev[j][i]) &&
									udf_bm_is_free(entry_space(fs), prev[j][i] + 1),
								"%s: pair %u of the compacted chain is not free", what,
								prev[j][i]);
				}
				if (c->nchain - 1 > max_hops)
					max_hops = c->nchain - 1;
				memcpy(prev[j], c->chain, c->nchain * sizeof(uint32_t));
				nprev[j] = c->nchain;
			}
			if (k % 5 == 0 || k > 100)
				check_names(&m, &mn, what);
		}
		fprintf(stderr, "entries_move: seed %llu: %u compactions, longest chain %u hops\n",
			(unsigned long long)seed, compactions, max_hops);
		ck_assert_msg(compactions >= 1 && max_hops == CHAIN_MAX_HOPS, "seed %llu: %u compactions, %u hops",
			      (unsigned long long)seed, compactions, max_hops);
		struct udf_statfs before, after;
		udf_statfs(fs, &before);
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		snprintf(what, sizeof(what), "seed %llu after unmount", (unsigned long long)seed);
		uint64_t inos[2] = {root, d};
		for (int j = 0; j < 2; j++) {
			uint32_t last, l = (uint32_t)(inos[j] - INO_BASE);
			fs = mount_mem(&m);
			ck_assert_uint_eq(img_hops(fs, m.dur, l, &last), 0);
			ck_assert_uint_eq(le16(img_entry(fs, m.dur, l) + ICB_STRATEGY_TYPE), 4);
			for (uint32_t i = 0; i < nprev[j]; i++)
				for (uint32_t b = prev[j][i]; b < prev[j][i] + 2; b++)
					ck_assert_msg(b == l || udf_bm_is_free(entry_space(fs), b),
						      "%s: block %u still used", what, b);
			udf_statfs(fs, &after);
			udf_unmount(fs);
		}
		ck_assert_uint_eq(after.free_blocks, before.free_blocks);
		check_names(&m, &mn, what);
		fsck_clean_rev(&m, rev, what);
		mem_free(&m);
	}
}
END_TEST

/* What a mount of the medium's durable contents reads of /name (the check after an unclean
 * shutdown runs first: it follows the chains); its length, or -1 when it is missing. */
static ssize_t file_on_medium(const struct mem *m, const char *name, uint8_t *out, size_t cap)
{
	struct mem c = durable_copy(m);
	struct udf_fs *fs = mount_mem(&c);
	uint64_t ino = lookup_ino(fs, fs->root_ino, name, NULL);
	ssize_t n = ino ? udf_read(fs, ino, 0, cap, out) : -1;
	udf_unmount(fs);
	mem_free(&c);
	return n;
}

/* A file block's medium block, or UINT32_MAX (embedded, a hole, past the end). */
static uint32_t file_lbn(struct udf_fs *fs, uint64_t ino, uint32_t fb)
{
	struct node *n;

	ck_assert_int_eq(udf_get_node(fs, ino, &n), 0);
	for (uint32_t i = 0; i < n->next; i++) {
		const struct extent *e = &n->ext[i];
		if (e->type == 0 && (uint64_t)fb * BS >= e->file_off && (uint64_t)fb * BS < e->file_off + e->len)
			return e->lbn + (uint32_t)(fb - e->file_off / BS);
	}
	return UINT32_MAX;
}

/* Regular files whose entry every commit rewrites move too: seeds of random commits to a log
 * appended (its last, partly filled block copied, not rewritten), an 8 KiB file overwritten at
 * random places (a hard link names it too) and a small file whose data is embedded in its entry.
 * After each commit: each entry's chain against the medium (bound, blocks used), the medium reads
 * exactly what was written, no data block the medium named before the commit was written again,
 * compaction frees the middle pairs; at unmount the chains fold back and the check finds nothing. */
START_TEST(file_entries_move)
{
	const unsigned rev = move_rev(_i);
	enum { LOG, DB, TINY, NFILES, DB_SIZE = 8192, LOG_MAX = 40000 };
	static const char *const names[NFILES] = {"log", "db", "tiny"};
	static uint8_t model[NFILES][LOG_MAX], back[LOG_MAX];
	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct mem m;
		uint64_t rng = seed * 104729 + 7, ino[NFILES];
		size_t len[NFILES] = {0, DB_SIZE, 40};
		uint32_t compactions = 0, max_hops = 0, prev[NFILES][CHAIN_MAX_HOPS + 2], nprev[NFILES] = {0};
		struct stat st;
		char what[80];

		fprintf(stderr, "file_entries_move: seed %llu\n", (unsigned long long)seed);
		mem_init(&m, 24, UDF_MEDIA_CDRW, rev, seed);
		struct udf_fs *fs = mount_mem(&m);
		for (int f = 0; f < NFILES; f++) {
			ck_assert_int_eq(
				udf_create(fs, fs->root_ino, names[f], S_IFREG | 0644, 0, 0, NULL, &ino[f], &st), 0);
			fill(model[f], len[f], (unsigned)(seed * 10 + (uint64_t)f));
			if (len[f])
				ck_assert_int_eq(udf_write(fs, ino[f], 0, len[f], model[f]), (ssize_t)len[f]);
		}
		ck_assert_int_eq(udf_link(fs, ino[DB], fs->root_ino, "db-link", &st), 0);
		ck_assert_int_eq(udf_sync(fs), 0);
		for (int k = 0; k < 80; k++) {
			/* the data blocks the medium names now: none of them may be written by this commit */
			uint32_t before[NFILES][24];
			for (int f = 0; f < NFILES; f++)
				for (uint32_t fb = 0; fb < 24; fb++)
					before[f][fb] = file_lbn(fs, ino[f], fb);
			uint8_t *saved = img_get(m.size, false);
			memcpy(saved, m.dur, m.size);
			size_t add = 1 + rnd(&rng) % 700;
			if (len[LOG] + add > LOG_MAX)
				add = LOG_MAX - len[LOG];
			fill(model[LOG] + len[LOG], add, (unsigned)rnd(&rng));
			ck_assert_int_eq(udf_write(fs, ino[LOG], len[LOG], add, model[LOG] + len[LOG]), (ssize_t)add);
			len[LOG] += add;
			size_t off = rnd(&rng) % DB_SIZE, n = 1 + rnd(&rng) % (DB_SIZE - off);
			fill(model[DB] + off, n, (unsigned)rnd(&rng));
			ck_assert_int_eq(udf_write(fs, ino[DB], off, n, model[DB] + off), (ssize_t)n);
			off = rnd(&rng) % len[TINY];
			model[TINY][off] ^= 0x5a;
			ck_assert_int_eq(udf_write(fs, ino[TINY], off, 1, model[TINY] + off), 1);
			ck_assert_int_eq(udf_sync(fs), 0);
			snprintf(what, sizeof(what), "seed %llu commit %d", (unsigned long long)seed, k);
			for (int f = 0; f < NFILES; f++) {
				for (uint32_t fb = 0; fb < 24; fb++)
					if (before[f][fb] != UINT32_MAX)
						ck_assert_msg(memcmp(img_block(fs, saved, before[f][fb]),
								     img_block(fs, m.dur, before[f][fb]), BS) == 0,
							      "%s: %s's block %u (%u) was written again", what,
							      names[f], fb, before[f][fb]);
				struct node *c = check_chain(fs, &m, ino[f], what);
				if (c->nchain < nprev[f]) {
					compactions++;
					for (uint32_t i = 1; i < nprev[f]; i++)
						if (prev[f][i] != c->fe_lbn)
							ck_assert_msg(
								udf_bm_is_free(entry_space(fs), prev[f][i]) &&
									udf_bm_is_free(entry_space(fs), prev[f][i] + 1),
								"%s: pair %u of %s's compacted chain is not free", what,
								prev[f][i], names[f]);
				}
				if (c->nchain - 1 > max_hops)
					max_hops = c->nchain - 1;
				memcpy(prev[f], c->chain, c->nchain * sizeof(uint32_t));
				nprev[f] = c->nchain;
			}
			img_put(saved, m.size);
			if (k % 4 == 0 || k > 70)
				for (int f = 0; f < NFILES; f++) {
					ssize_t got = file_on_medium(&m, names[f], back, sizeof(back));
					ck_assert_msg(got == (ssize_t)len[f] && memcmp(back, model[f], len[f]) == 0,
						      "%s: the medium's %s differs (%zd bytes, want %zu)", what,
						      names[f], got, len[f]);
				}
		}
		struct node *t;
		ck_assert_int_eq(udf_get_node(fs, ino[TINY], &t), 0);
		ck_assert_msg(t->inline_data != NULL, "seed %llu: tiny's data is not embedded",
			      (unsigned long long)seed);
		fprintf(stderr, "file_entries_move: seed %llu: %u compactions, longest chain %u hops\n",
			(unsigned long long)seed, compactions, max_hops);
		ck_assert_msg(compactions >= 3 && max_hops == CHAIN_MAX_HOPS, "seed %llu: %u compactions, %u hops",
			      (unsigned long long)seed, compactions, max_hops);
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		snprintf(what, sizeof(what), "seed %llu after unmount", (unsigned long long)seed);
		fs = mount_mem(&m);
		for (int f = 0; f < NFILES; f++) {
			uint32_t last, l = (uint32_t)(ino[f] - INO_BASE);
			ck_assert_uint_eq(img_hops(fs, m.dur, l, &last), 0);
			ck_assert_uint_eq(le16(img_entry(fs, m.dur, l) + ICB_STRATEGY_TYPE), 4);
			for (uint32_t i = 0; i < nprev[f]; i++)
				for (uint32_t b = prev[f][i]; b < prev[f][i] + 2; b++)
					ck_assert_msg(b == l || udf_bm_is_free(entry_space(fs), b),
						      "%s: block %u still used", what, b);
			ck_assert_int_eq(udf_read(fs, ino[f], 0, sizeof(back), back), (ssize_t)len[f]);
			ck_assert_msg(memcmp(back, model[f], len[f]) == 0, "%s: %s differs", what, names[f]);
		}
		ck_assert_uint_eq(lookup_ino(fs, fs->root_ino, "db-link", NULL), ino[DB]);
		udf_unmount(fs);
		fsck_clean_rev(&m, rev, what);
		mem_free(&m);
	}
}
END_TEST

/* Media life, issue 13's stretch, counted as the packet cache writes (a packet written before a
 * barrier: one write): a log appended 100 bytes and synced 200 times, e2e_wear_moves's workload.
 * Its entry moves, and its last, partly filled data block is copied by every commit; each commit's
 * copy must land in a packet no earlier commit wrote lately (on 2.50 the copies are the physical
 * partition's, while the commit's new entries are the metadata partition's: copies that follow the
 * data cursor instead put some thirty commits' copies into one packet), and each move's pair in a
 * packet the last commits did not take (where the metadata file has fewer packets than a chain
 * has pairs, pairs that took the first free block after the cursor crowded into one packet).  At
 * most one write per ten commits for any packet; then the log reads back, its chain folds at
 * unmount, the disc is sound. */
START_TEST(appended_log_spreads_its_writes)
{
	/* UDF 2.01; 2.50 on a disc whose metadata file has 2,048 blocks (64 packets: a chain's 33 pairs
	 * each in a packet of their own); 2.50 with a metadata file of 1,024 blocks, 32 packets, so
	 * that the pairs must share packets */
	static const struct {
		unsigned rev;
		size_t mib;
	} cases[] = {{0x0201, 24}, {0x0250, 256}, {0x0250, 64}};
	const unsigned rev = cases[_i].rev;
	enum { COMMITS = 200, REC = 100 };
	static uint8_t model[COMMITS * REC], back[COMMITS * REC + 1];
	struct mem m;
	struct stat st;
	uint64_t ino;
	uint32_t last;

	mem_init(&m, cases[_i].mib, UDF_MEDIA_CDRW, rev, 5);
	struct udf_fs *fs = mount_mem(&m);
	ck_assert_int_eq(udf_create(fs, fs->root_ino, "log", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_sync(fs), 0);
	mem_count_packets(&m);
	fill(model, sizeof(model), 13);
	for (int k = 0; k < COMMITS; k++) {
		ck_assert_int_eq(udf_write(fs, ino, (uint64_t)k * REC, REC, model + k * REC), REC);
		ck_assert_int_eq(udf_sync(fs), 0);
	}
	size_t hot = 0;
	uint32_t most = mem_hottest(&m, &hot);
	fprintf(stderr,
		"appended_log_spreads_its_writes: UDF %x, %zu MiB: the most-written packet (#%zu) took %u writes in %d "
		"commits\n",
		rev, cases[_i].mib, hot, most, COMMITS);
	ck_assert_msg(most * 10 <= COMMITS,
		      "UDF %x, %zu MiB: packet %zu written %u times in %d commits: more than one per ten", rev,
		      cases[_i].mib, hot, most, COMMITS);
	check_chain(fs, &m, ino, "after the commits");
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	ck_assert_int_eq(udf_read(fs, ino, 0, sizeof(back), back), (ssize_t)sizeof(model));
	ck_assert_msg(memcmp(back, model, sizeof(model)) == 0, "UDF %x: the log does not read back", rev);
	ck_assert_uint_eq(img_hops(fs, m.dur, (uint32_t)(ino - INO_BASE), &last), 0);
	ck_assert_uint_eq(le16(img_entry(fs, m.dur, (uint32_t)(ino - INO_BASE)) + ICB_STRATEGY_TYPE), 4);
	udf_unmount(fs);
	fsck_clean_rev(&m, rev, "after the unmount");
	mem_free(&m);
}
END_TEST

/* Entries created after the last commit and unmounted: the unmount's commit writes them with
 * strategy 4 and never writes the indirect entry their L+1 was reserved for (the fold-back would
 * otherwise write each new entry a second time: a copy of many files, then unmount). */
START_TEST(new_entries_at_unmount_do_not_fold)
{
	const unsigned rev = move_rev(_i);
	struct mem m;
	struct stat st;
	uint64_t ino[2];

	mem_init(&m, 8, UDF_MEDIA_CDRW, rev, 3);
	struct udf_fs *fs = mount_mem(&m);
	ck_assert_int_eq(udf_create(fs, fs->root_ino, "file", S_IFREG | 0644, 0, 0, NULL, &ino[0], &st), 0);
	ck_assert_int_eq(udf_write(fs, ino[0], 0, 5, "hello"), 5);
	ck_assert_int_eq(udf_create(fs, fs->root_ino, "dir", S_IFDIR | 0755, 0, 0, NULL, &ino[1], &st), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_mem(&m);
	for (int i = 0; i < 2; i++) {
		uint32_t l = (uint32_t)(ino[i] - INO_BASE);
		ck_assert_uint_eq(le16(img_entry(fs, m.dur, l) + ICB_STRATEGY_TYPE), 4);
		ck_assert_msg(le16(img_entry(fs, m.dur, l + 1)) != TAG_IE,
			      "entry %d: an indirect entry was written after it (then folded back)", i);
	}
	ck_assert_int_eq(udf_read(fs, ino[0], 0, 5, (uint8_t[5]){0}), 5);
	udf_unmount(fs);
	fsck_clean_rev(&m, rev, "new entries at unmount");
	mem_free(&m);
}
END_TEST

/* ---- the integrity descriptor keeps other writers out while the volume is open ---- */

/* What the medium image img (m->dur of a disc mounted as fs) records in its LVID. */
struct lvid_state {
	uint32_t type; /* 0 open, 1 closed */
	uint16_t min_read, min_write, max_write;
	char impl[24];
};

static struct lvid_state lvid_on(const struct udf_fs *fs, const uint8_t *img)
{
	const uint8_t *b = img + (size_t)fs->lvid_loc * fs->bs;
	struct lvid_state st = {.type = le32(b + LVID_INTEGRITY_TYPE)};

	ck_assert_int_eq(le16(b), TAG_LVID);
	ck_assert_uint_ge(le32(b + LVID_IMPL_USE_LEN), LVIU_SIZE);
	const uint8_t *iu = b + LVID_FREE_SPACE + 8 * le32(b + LVID_NUM_PARTITIONS);
	st.min_read = le16(iu + LVIU_MIN_READ_REV);
	st.min_write = le16(iu + LVIU_MIN_WRITE_REV);
	st.max_write = le16(iu + LVIU_MAX_WRITE_REV);
	memcpy(st.impl, iu + LVIU_IMPL_IDENT + REGID_IDENT, 23);
	st.impl[23] = 0;
	return st;
}

/* Open for writing: a Minimum UDF Write Revision above every revision published (2.60), so that the
 * writers that follow it — Linux's udf refuses read-write above 2.01 — leave the stale bitmap alone;
 * the Minimum Read Revision untouched, so that everyone still reads the disc. */
static void assert_guarded(const struct lvid_state *st, const struct lvid_state *clean, const char *when)
{
	ck_assert_msg(st->type == 0, "%s: the LVID says closed", when);
	ck_assert_msg(st->min_write > 0x0260, "%s: minimum write revision %x while open", when, st->min_write);
	ck_assert_msg(st->min_read == clean->min_read, "%s: minimum read revision %x, was %x", when, st->min_read,
		      clean->min_read);
	ck_assert_msg(strcmp(st->impl, "*pktfuse") == 0, "%s: implementation %s", when, st->impl);
}

static void assert_closed_as(const struct lvid_state *st, const struct lvid_state *clean, const char *when)
{
	ck_assert_msg(st->type == 1, "%s: the LVID says open", when);
	ck_assert_msg(st->min_write == clean->min_write && st->min_read == clean->min_read &&
			      st->max_write == clean->max_write,
		      "%s: revisions read %x write %x..%x, the volume's are %x %x..%x", when, st->min_read,
		      st->min_write, st->max_write, clean->min_read, clean->min_write, clean->max_write);
}

/* The clean close of fs over m: the medium's LVID closed with the volume's own revisions (clean),
 * the unmount, pktfuse check clean where it checks the layout (check_it), m freed. */
static void close_as(struct udf_fs *fs, struct mem *m, const struct lvid_state *clean, bool check_it,
		     const char *closed, const char *what)
{
	ck_assert_int_eq(udf_close(fs), 0);
	struct lvid_state now = lvid_on(fs, m->dur);
	assert_closed_as(&now, clean, closed);
	udf_unmount(fs);
	if (check_it)
		fsck_clean(m, what);
	mem_free(m);
}

static const struct {
	enum udf_media media;
	unsigned rev;
} guard_layouts[] = {{UDF_MEDIA_DVDRAM, 0x0102}, {UDF_MEDIA_HD, 0x0150}, {UDF_MEDIA_CDRW, 0x0201},
		     {UDF_MEDIA_DVDRW, 0x0200},	 {UDF_MEDIA_HD, 0x0250}, {UDF_MEDIA_CDRW, 0x0260}};

/* Mounted for writing, the LVID written open carries the raised minimum write revision; the clean
 * close records the volume's own again (1.02 to 2.60, plain, sparable, metadata partition). */
START_TEST(lvid_open_keeps_other_writers_out)
{
	for (size_t r = 0; r < sizeof(guard_layouts) / sizeof(guard_layouts[0]); r++) {
		char what[64];
		struct mem m;
		struct stat st;
		uint64_t ino;
		snprintf(what, sizeof(what), "UDF %x on media %d", guard_layouts[r].rev, (int)guard_layouts[r].media);
		mem_init(&m, 24, guard_layouts[r].media, guard_layouts[r].rev, r);
		struct udf_fs *fs = mount_mem(&m);
		struct lvid_state clean = lvid_on(fs, m.dur);
		ck_assert_msg(clean.type == 1 && clean.min_write == guard_layouts[r].rev, "%s: as formatted", what);
		ck_assert_int_eq(udf_create(fs, fs->root_ino, "file", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		struct lvid_state now = lvid_on(fs, m.dur); /* on the medium before the first change */
		assert_guarded(&now, &clean, what);
		ck_assert_int_eq(udf_write(fs, ino, 0, 5, "hello"), 5);
		ck_assert_int_eq(udf_sync(fs), 0);
		now = lvid_on(fs, m.dur);
		assert_guarded(&now, &clean, what);
		/* pktfuse check does not check metadata partitions yet */
		close_as(fs, &m, &clean, guard_layouts[r].rev < 0x0250, what, what);
	}
}
END_TEST

/* The blocks a directory's contents hold on the medium now (up to max; of the space entries are
 * in): a commit must not write them again while the reserve holds (a reader follows them until the
 * commit's switch). */
static uint32_t dir_blocks(struct udf_fs *fs, uint64_t ino, uint32_t *out, uint32_t max)
{
	struct node *n;
	uint32_t k = 0;

	ck_assert_int_eq(udf_get_node(fs, ino, &n), 0);
	for (uint32_t i = 0; i < n->next; i++)
		for (uint32_t b = 0; n->ext[i].type == 0 && b < blocks_of(fs, n->ext[i].len) && k < max; b++)
			out[k++] = n->ext[i].lbn + b;
	return k;
}

/* check_chain, or (the chain folded back to give its blocks on a full disc) the medium's entry at
 * its first block with no hops. */
static void check_chain_if_any(struct udf_fs *fs, const struct mem *m, uint64_t ino, const char *when)
{
	struct node *n;
	uint32_t l = (uint32_t)(ino - INO_BASE), last;

	ck_assert_int_eq(udf_get_node(fs, ino, &n), 0);
	if (n->nchain) {
		check_chain(fs, m, ino, when);
		return;
	}
	ck_assert_uint_eq(n->fe_lbn, l);
	ck_assert_msg(img_hops(fs, m->dur, l, &last) == 0, "%s: entry %u has no chain, the medium's has hops", when, l);
}

/* What the reserve test keeps of an entry that moves, to see whether a commit moved it. */
struct entry_place {
	uint32_t fe_lbn, nchain;
};

static struct entry_place entry_place(struct udf_fs *fs, uint64_t ino)
{
	struct node *n;

	ck_assert_int_eq(udf_get_node(fs, ino, &n), 0);
	return (struct entry_place){n->fe_lbn, n->nchain};
}

/* The writer's reserve (the blocks the next commit needs to rewrite the directories) against moves,
 * on a disc kept full: /d rewritten by every commit (a name removed, one renamed, one created), /log
 * appended each commit, their entries, the root's and /fill's moving; before each commit /fill
 * grows until only the reserve and 0-5 blocks (the seed's choice) are left free.  With a metadata
 * partition (2.50) the reserve and the entries are there, and names in /e fill it instead.  When no more
 * than the two blocks of a pair are free beyond the reserve, no entry may move (the move would take
 * what the directories' rewrite needs); the unlinks and renames that the reserve is for succeed,
 * and so does every commit, which writes no directory block the medium named before it (with the
 * free blocks in short runs, the directories go into several, not in place); after each commit a mount of the durable medium lists /d's names and reads /log
 * exactly.  At the end /fill takes the disc to ENOSPC and an unlink, then a rename still commit,
 * and the check finds nothing. */
START_TEST(reserve_holds_with_moves)
{
	const unsigned rev = move_rev(_i);
	enum { COMMITS = 45, MAXN = 200, PIECE = 300, LOGMAX = COMMITS * PIECE, CHUNK = 64 * BS };
	static char names[MAXN][64], got[MAXN][64];
	static uint8_t logm[LOGMAX], back[LOGMAX + 1], chunk[CHUNK];
	for (uint64_t seed = 1; seed <= 2; seed++) {
		struct mem m;
		struct stat st;
		uint64_t d, lg, fl, ino, rng = seed * 31337 + 5, fill_size = 0;
		int nn = 0, made = 0, tight = 0, moved = 0, emade = 0, egone = 0, grown = 0;
		size_t loglen = 0;
		char what[80];

		fprintf(stderr, "reserve_holds_with_moves: seed %llu\n", (unsigned long long)seed);
		fill(chunk, CHUNK, seed);
		mem_init(&m, 8, UDF_MEDIA_HD, rev, seed);
		struct udf_fs *fs = mount_mem(&m);
		uint64_t root = fs->root_ino;
		ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &d, &st), 0);
		ck_assert_int_eq(udf_create(fs, root, "log", S_IFREG | 0644, 0, 0, NULL, &lg, &st), 0);
		/* what fills the space entries are in: /fill's data, or names in /e (a metadata partition) */
		bool meta = rev >= 0x0250;
		ck_assert_int_eq(meta ? udf_create(fs, root, "e", S_IFDIR | 0755, 0, 0, NULL, &fl, &st)
				      : udf_create(fs, root, "fill", S_IFREG | 0644, 0, 0, NULL, &fl, &st),
				 0);
		struct udf_w *sw = entry_space(fs);
		for (; nn < 40; nn++, made++) {
			snprintf(names[nn], 64, "a-name-that-fills-directory-blocks-%d", made);
			ck_assert_int_eq(udf_create(fs, d, names[nn], S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		}
		ck_assert_int_eq(udf_sync(fs), 0);
		ck_assert_int_eq(udf_sync(fs), 0); /* /fill's entry moves from its second commit on */
		for (int k = 0; k < COMMITS; k++) {
			snprintf(what, sizeof(what), "seed %llu commit %d", (unsigned long long)seed, k);
			int i = (int)(rnd(&rng) % (uint64_t)nn), rc;
			ck_assert_msg(udf_unlink(fs, d, names[i]) == 0, "%s: unlink %s", what, names[i]);
			memcpy(names[i], names[--nn], 64);
			i = (int)(rnd(&rng) % (uint64_t)nn);
			char renamed[64];
			snprintf(renamed, sizeof(renamed), "a-name-that-fills-directory-blocks-%d", made++);
			rc = udf_rename(fs, d, names[i], d, renamed, 0);
			ck_assert_msg(rc == 0, "%s: rename %s: %d", what, names[i], rc);
			memcpy(names[i], renamed, 64);
			snprintf(names[nn], 64, "a-name-that-fills-directory-blocks-%d", made++);
			rc = udf_create(fs, d, names[nn], S_IFREG | 0644, 0, 0, NULL, &ino, &st);
			ck_assert_msg(rc == 0, "%s: create: %d", what, rc);
			nn++;
			fill(logm + loglen, PIECE, rnd(&rng));
			ck_assert_int_eq(udf_write(fs, lg, loglen, PIECE, logm + loglen), PIECE);
			loglen += PIECE;
			/* /fill gives back 12 blocks (/e six names; free after the commit) and takes what
			 * is free but the reserve and `spare` blocks */
			uint64_t spare = rnd(&rng) % 6;
			if (meta) {
				char en[32];
				for (int r = 0; r < 6 && egone < emade; r++) {
					snprintf(en, sizeof(en), "e-%d", egone++);
					ck_assert_int_eq(udf_unlink(fs, fl, en), 0);
				}
				for (rc = 0; sw->free_blocks > fs->w->reserve + spare && rc == 0;) {
					snprintf(en, sizeof(en), "e-%d", emade);
					rc = udf_create(fs, fl, en, S_IFREG | 0644, 0, 0, NULL, &ino, &st);
					ck_assert_msg(rc == 0 || rc == -ENOSPC, "%s: /e: %d", what, rc);
					emade += rc == 0;
				}
			} else {
				if (fill_size >= 12 * BS) {
					fill_size -= 12 * BS;
					struct udf_setattr sa = {.valid = UDF_SET_SIZE, .size = fill_size};
					ck_assert_int_eq(udf_setattr(fs, fl, &sa, &st), 0);
				}
				while (sw->free_blocks > fs->w->reserve + spare) {
					uint64_t want = sw->free_blocks - fs->w->reserve - spare;
					size_t len = want * BS < CHUNK ? want * BS : CHUNK;
					ssize_t w = udf_write(fs, fl, fill_size, len, chunk);
					ck_assert_msg(w > 0, "%s: /fill: %zd", what, w);
					fill_size += (uint64_t)w;
				}
			}
			uint64_t inos[4] = {root, d, lg, fl};
			struct entry_place before[4];
			for (int j = 0; j < 4; j++)
				before[j] = entry_place(fs, inos[j]);
			uint32_t dblk[2][64],
				ndblk[2] = {dir_blocks(fs, root, dblk[0], 64), dir_blocks(fs, d, dblk[1], 64)};
			uint8_t *saved = img_get(m.size, false);
			memcpy(saved, m.dur, m.size);
			uint64_t free_before = sw->free_blocks, reserve = fs->w->reserve, nbits_before = sw->nbits;
			ck_assert_msg(udf_sync(fs) == 0, "%s: the commit failed", what);
			/* a metadata partition short of blocks for a directory (an unlink left the reserve
			 * above what is free) grows in the commit: then there is room for moves after it */
			bool grew = sw->nbits > nbits_before;
			grown += grew;
			bool any = false;
			for (int j = 0; j < 4; j++) {
				struct entry_place now = entry_place(fs, inos[j]);
				any |= now.fe_lbn != before[j].fe_lbn || now.nchain != before[j].nchain;
			}
			if (free_before <= reserve + 2 && !grew) {
				tight++;
				ck_assert_msg(!any, "%s: an entry moved with %llu blocks free and %llu reserved", what,
					      (unsigned long long)free_before, (unsigned long long)reserve);
			}
			moved += any;
			/* an unlink takes no room: after one the reserve may exceed what is free (then
			 * the directory is rewritten in place, the only way left) */
			for (int j = 0; j < 2 && free_before >= reserve; j++)
				for (uint32_t b = 0; b < ndblk[j]; b++)
					ck_assert_msg(memcmp(img_entry(fs, saved, dblk[j][b]),
							     img_entry(fs, m.dur, dblk[j][b]), BS) == 0,
						      "%s: block %u of %s was rewritten in place", what, dblk[j][b],
						      j ? "/d" : "/");
			img_put(saved, m.size);
			for (int j = 0; j < 4; j++)
				check_chain_if_any(fs, &m, inos[j], what);
			/* one mount of what the medium has for sure (the process killed now) */
			struct mem c = durable_copy(&m);
			struct udf_fs *dfs = mount_mem(&c);
			struct list_ctx lc = {got, 0};
			ck_assert_int_eq(udf_readdir(dfs, lookup_ino(dfs, dfs->root_ino, "d", NULL), 0, list_fill, &lc),
					 0);
			ck_assert_msg(lc.n == nn, "%s: the medium's /d has %d names, want %d", what, lc.n, nn);
			qsort(got, (size_t)lc.n, 64, cmp_name);
			for (int a = 0; a < nn; a++)
				ck_assert_msg(bsearch(names[a], got, (size_t)lc.n, 64, cmp_name) != NULL,
					      "%s: %s is not on the medium", what, names[a]);
			ssize_t lgot =
				udf_read(dfs, lookup_ino(dfs, dfs->root_ino, "log", NULL), 0, sizeof(back), back);
			ck_assert_msg(lgot == (ssize_t)loglen && memcmp(back, logm, loglen) == 0,
				      "%s: the medium's /log differs (%zd bytes, want %zu)", what, lgot, loglen);
			udf_unmount(dfs);
			mem_free(&c);
		}
		fprintf(stderr, "reserve_holds_with_moves: seed %llu: %d tight commits, %d with moves, %d grew\n",
			(unsigned long long)seed, tight, moved, grown);
		ck_assert_msg(tight >= COMMITS / 4 && moved >= COMMITS / 4,
			      "seed %llu: %d tight commits, %d with moves: the test misses its case",
			      (unsigned long long)seed, tight, moved);
		/* the disc full to the last block: names can still go (the directory rewritten where
		 * it is, the only way left), and after that commit (their entries free) one be renamed */
		ssize_t w;
		char en[32];
		do {
			snprintf(en, sizeof(en), "e-%d", emade++);
			w = meta ? udf_create(fs, fl, en, S_IFREG | 0644, 0, 0, NULL, &ino, &st)
				 : udf_write(fs, fl, fill_size, CHUNK, chunk);
			fill_size += w > 0 ? (uint64_t)w : 0;
		} while (w >= 0);
		ck_assert_int_eq(w, -ENOSPC);
		ck_assert_int_eq(udf_unlink(fs, d, names[--nn]), 0);
		ck_assert_int_eq(udf_unlink(fs, d, names[--nn]), 0);
		ck_assert_int_eq(udf_sync(fs), 0);
		ck_assert_int_eq(udf_rename(fs, d, names[0], d, "renamed-when-full", 0), 0);
		snprintf(names[0], 64, "renamed-when-full");
		ck_assert_int_eq(udf_sync(fs), 0);
		ck_assert_int_eq(names_on_medium(&m, "d", got, MAXN), nn);
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		fs = mount_mem(&m);
		for (int a = 0; a < nn; a++)
			ck_assert_msg(lookup_ino(fs, d, names[a], NULL) != 0, "seed %llu: %s is missing",
				      (unsigned long long)seed, names[a]);
		udf_unmount(fs);
		fsck_clean_rev(&m, rev, "reserve with moves");
		mem_free(&m);
	}
}
END_TEST

/* After a crash the disc keeps the raised value; pktfuse recognises its own, mounts the disc for
 * writing (the check after an unclean shutdown), keeps it raised through that session and restores
 * the volume's own at its clean close. */
START_TEST(lvid_guard_after_a_crash)
{
	for (size_t r = 0; r < sizeof(guard_layouts) / sizeof(guard_layouts[0]); r++) {
		char what[64];
		struct mem m;
		struct stat st;
		uint64_t ino;
		snprintf(what, sizeof(what), "UDF %x on media %d, crashed", guard_layouts[r].rev,
			 (int)guard_layouts[r].media);
		mem_init(&m, 24, guard_layouts[r].media, guard_layouts[r].rev, r + 10);
		struct udf_fs *fs = mount_mem(&m);
		struct lvid_state clean = lvid_on(fs, m.dur);
		ck_assert_int_eq(udf_create(fs, fs->root_ino, "synced", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		ck_assert_int_eq(udf_write(fs, ino, 0, 6, "synced"), 6);
		ck_assert_int_eq(udf_sync(fs), 0);
		struct mem c = durable_copy(&m); /* the daemon killed now */
		udf_unmount(fs);
		mem_free(&m);
		fs = mount_mem(&c);
		struct lvid_state now = lvid_on(fs, c.dur);
		assert_guarded(&now, &clean, what);
		char back[8] = {0};
		ino = lookup_ino(fs, fs->root_ino, "synced", NULL);
		ck_assert_int_eq(udf_read(fs, ino, 0, 6, back), 6);
		ck_assert_str_eq(back, "synced");
		ck_assert_int_eq(udf_create(fs, fs->root_ino, "after", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		ck_assert_int_eq(udf_sync(fs), 0);
		now = lvid_on(fs, c.dur);
		assert_guarded(&now, &clean, what);
		/* pktfuse check does not check metadata partitions yet */
		close_as(fs, &c, &clean, guard_layouts[r].rev < 0x0250, what, what);
	}
}
END_TEST

/* A disc another writer left open (Linux's udf after a crash: its own implementation identifier,
 * the volume's minimum write revision): after pktfuse's check the guard is on the medium before the
 * first change reaches it, and the clean close records the volume's revision. */
START_TEST(lvid_left_open_by_another_writer)
{
	struct mem m;
	struct stat st;
	uint64_t ino;

	mem_init(&m, 24, UDF_MEDIA_CDRW, 0x0201, 21);
	struct udf_fs *fs = mount_mem(&m);
	struct lvid_state clean = lvid_on(fs, m.dur);
	uint32_t loc = fs->lvid_loc, bs = fs->bs;
	udf_unmount(fs);
	for (uint8_t *img = m.cur; img; img = img == m.cur ? m.dur : NULL) {
		uint8_t *b = img + (size_t)loc * bs;
		put_le32(b + LVID_INTEGRITY_TYPE, 0);
		udf_put_regid(b + LVID_FREE_SPACE + 8 * le32(b + LVID_NUM_PARTITIONS) + LVIU_IMPL_IDENT, "*Linux UDFFS",
			      UDF_SUFFIX_IMPL, 0);
		udf_tag_finish(b, bs);
	}
	fs = mount_mem(&m);
	struct lvid_state now = lvid_on(fs, m.dur);
	ck_assert_msg(now.type == 0 && now.min_write == 0x0201, "the disc is not as the other writer left it");
	ck_assert_int_eq(udf_create(fs, fs->root_ino, "file", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	now = lvid_on(fs, m.dur);
	assert_guarded(&now, &clean, "left open by Linux, after the first change");
	close_as(fs, &m, &clean, true, "left open by Linux, closed by pktfuse", "left open by Linux");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udf_write");
	TCase *tc = tcase_create("writer");

	tcase_set_timeout(tc, 600);
	tcase_add_checked_fixture(tc, NULL, img_pool_drain);
	tcase_add_test(tc, posix_rules);
	tcase_add_test(tc, names_too_long);
	tcase_add_test(tc, fragmented_files);
	tcase_add_test(tc, enospc_then_sound);
	tcase_add_test(tc, commit_in_the_middle_of_a_write);
	tcase_add_test(tc, data_aligns_to_packets_at_every_block_size);
	tcase_add_test(tc, symlink_fits_one_block);
	tcase_add_test(tc, grow_across_a_commit);
	tcase_add_test(tc, many_entries_one_dir);
	tcase_add_test(tc, model_hd_201);
	tcase_add_test(tc, model_cdrw_201);
	tcase_add_test(tc, model_102_150_200);
	tcase_add_test(tc, model_meta_250_260);
	tcase_add_test(tc, model_block_sizes);
	tcase_add_test(tc, power_cut_hd);
	tcase_add_test(tc, power_cut_cdrw);
	tcase_add_test(tc, power_cut_meta_250);
	tcase_add_test(tc, meta_not_verified_not_written);
	tcase_add_test(tc, meta_partition_full);
	tcase_add_loop_test(tc, meta_partition_grows, 0, 4);
	tcase_add_test(tc, power_cut_meta_grows);
	tcase_add_loop_test(tc, entries_move, 0, 2);
	tcase_add_loop_test(tc, file_entries_move, 0, 2);
	tcase_add_loop_test(tc, appended_log_spreads_its_writes, 0, 3);
	tcase_add_loop_test(tc, new_entries_at_unmount_do_not_fold, 0, 2);
	tcase_add_loop_test(tc, power_cut_moves, 0, 2);
	tcase_add_loop_test(tc, full_disc_with_moves, 0, 2);
	tcase_add_loop_test(tc, reserve_holds_with_moves, 0, 2);
	tcase_add_test(tc, lvid_open_keeps_other_writers_out);
	tcase_add_test(tc, lvid_guard_after_a_crash);
	tcase_add_test(tc, lvid_left_open_by_another_writer);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
