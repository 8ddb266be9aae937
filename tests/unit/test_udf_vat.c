/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF writer on write-once media (a VAT) against the model of udf_model.h, on a medium in memory
 * that enforces what a write-once disc enforces: every write starts at the next writable address, in
 * whole write units (a CD-R in a drive loses 7 link blocks after each), and no sector is written
 * twice; unrecorded sectors cannot be read.
 *  - model test over many seeds: random operations, commits, remounts, the tree compared in full;
 *  - power cut in the middle of a commit: the medium takes the commit's first writes and no more;
 *    the next mount finds the previous VAT and the tree as it was after the previous commit;
 *  - the format: a blank disc's layout as the kernel looks for it (the VAT last).
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_format.h"
#include "udf_model.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BS 2048u

struct wo {
	uint8_t **sec; /* NULL: not recorded */
	uint64_t nsec; /* capacity */
	uint64_t nwa;
	unsigned unit, link;
	uint64_t last; /* last recorded sector */
	bool recorded;
	long writes;
	long fail_at; /* the power cut: this write and all after it are lost; -1: never */
	bool cut;
	bool closed; /* finalized: the medium takes no more writes */
	const char *what;
};

static void wo_init(struct wo *m, uint64_t nsec, unsigned unit, unsigned link, const char *what)
{
	memset(m, 0, sizeof(*m));
	m->sec = calloc(nsec, sizeof(*m->sec));
	ck_assert_ptr_nonnull(m->sec);
	m->nsec = nsec;
	m->unit = unit;
	m->link = link;
	m->fail_at = -1;
	m->what = what;
}

static void wo_free(struct wo *m)
{
	for (uint64_t s = 0; s < m->nsec; s++)
		free(m->sec[s]);
	free(m->sec);
}

static int wo_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	struct wo *m = ctx;

	for (size_t done = 0; done < len;) {
		uint64_t s = (off + done) / BS, in = (off + done) % BS;
		size_t n = BS - in < len - done ? BS - in : len - done;
		if (s >= m->nsec || !m->sec[s])
			return -EIO; /* as a drive answers for an unrecorded sector */
		memcpy((uint8_t *)buf + done, m->sec[s] + in, n);
		done += n;
	}
	return 0;
}

/* Whether a recorded sector is a VAT's file entry. */
static bool is_vat(const uint8_t *b)
{
	return b && ((b[0] | b[1] << 8) == 261 || (b[0] | b[1] << 8) == 266) && b[16 + 11] == 248;
}

static int wo_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	struct wo *m = ctx;

	if (m->cut)
		return -EIO;
	ck_assert_msg(off % BS == 0 && len % BS == 0, "%s: write of %zu bytes at %llu: not whole sectors", m->what, len,
		      (unsigned long long)off);
	uint64_t s = off / BS, n = len / BS;
	ck_assert_msg(s == m->nwa, "%s: write at sector %llu, the next writable address is %llu", m->what,
		      (unsigned long long)s, (unsigned long long)m->nwa);
	/* DVD±R, BD-R and images: whole units; a CD-R in a drive: one variable packet of at most a unit
	 * per write (its link blocks follow), shorter only where a commit ends, with its VAT */
	ck_assert_msg(m->link ? n >= 1 && n <= m->unit : n % m->unit == 0,
		      "%s: write of %llu sectors: not whole units of %u", m->what, (unsigned long long)n, m->unit);
	ck_assert_msg(n == m->unit || !m->link || is_vat((const uint8_t *)buf + (n - 1) * BS),
		      "%s: a short packet of %llu sectors that does not end with a VAT", m->what,
		      (unsigned long long)n);
	ck_assert_msg(s + n <= m->nsec, "%s: write past the end of the disc", m->what);
	if (m->fail_at >= 0 && m->writes >= m->fail_at) {
		m->cut = true;
		return -EIO;
	}
	m->writes++;
	for (uint64_t i = 0; i < n; i++) {
		ck_assert_msg(!m->sec[s + i], "%s: sector %llu written twice", m->what, (unsigned long long)(s + i));
		m->sec[s + i] = malloc(BS);
		memcpy(m->sec[s + i], (const uint8_t *)buf + i * BS, BS);
	}
	m->last = s + n - 1;
	m->recorded = true;
	m->nwa = s + n + m->link;
	return 0;
}

static int wo_flush(void *ctx)
{
	return ((struct wo *)ctx)->cut ? -EIO : 0;
}

static int wo_append_state(void *ctx, struct udf_append_state *as)
{
	struct wo *m = ctx;

	memset(as, 0, sizeof(*as));
	as->next_writable = m->nwa * BS;
	as->free_bytes = m->nwa < m->nsec ? (m->nsec - m->nwa) * BS : 0;
	as->recorded = m->recorded;
	as->last_recorded = m->last * BS;
	as->closed = m->closed;
	return 0;
}

static void wo_format(struct wo *m, enum udf_media media)
{
	struct udf_format_opts fo = {/* revision: the medium's default (2.01, BD-R 2.50) */
				     .uid = (uid_t)-1,
				     .gid = (gid_t)-1,
				     .media = media,
				     .link_blocks = m->link};
	char err[256];

	ck_assert_msg(udf_format(&fo, wo_write, m, m->nsec * BS, err, sizeof(err)) == 0, "format: %s", err);
}

static struct udf_fs *wo_mount(struct wo *m)
{
	struct udf_io io = {.read = wo_read,
			    .write = wo_write,
			    .flush = wo_flush,
			    .ctx = m,
			    .size = m->nsec * BS,
			    .packet_blocks = m->unit,
			    .append_state = wo_append_state,
			    .link_blocks = m->link};
	struct udf_mount_opts mo = {0};
	struct udf_fs *fs = NULL;
	char err[256], why[256];

	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "%s: mount: %s", m->what, err);
	ck_assert_msg(udf_writable(fs, why, sizeof(why)), "%s: not writable: %s", m->what, why);
	return fs;
}

/* A plain medium in memory, for a rewritable format to compare with. */
struct flat {
	uint8_t *b;
	uint64_t size;
};

static int flat_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	memcpy(((struct flat *)ctx)->b + off, buf, len);
	return 0;
}

static int flat_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	memcpy(buf, ((struct flat *)ctx)->b + off, len);
	return 0;
}

START_TEST(format_layout)
{
	static const struct {
		enum udf_media media;
		unsigned unit, link, rev;
	} kinds[] = {{UDF_MEDIA_DVDR, 16, 0, 0x0201},
		     {UDF_MEDIA_DVDPLUSR, 16, 0, 0x0201},
		     {UDF_MEDIA_CDR, 32, 0, 0x0201},
		     {UDF_MEDIA_CDR, 32, 7, 0x0201},
		     {UDF_MEDIA_BDR, 32, 0, 0x0250}};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct wo m;
		wo_init(&m, 20000, kinds[i].unit, kinds[i].link, udf_media_name(kinds[i].media));
		wo_format(&m, kinds[i].media);
		/* what the kernel's udf reads: the VAT's file entry in the last recorded sector, which
		 * ends a write unit */
		uint8_t *vat = m.sec[m.last];
		ck_assert_ptr_nonnull(vat);
		ck_assert_int_eq(vat[0] | vat[1] << 8, kinds[i].rev >= 0x0250 ? 266 : 261); /* an (E)FE */
		ck_assert_int_eq(vat[16 + 11], 248);					    /* of the VAT */
		ck_assert_int_eq((m.last + 1) % (m.unit + m.link), m.unit % (m.unit + m.link));
		ck_assert_ptr_nonnull(m.sec[256]); /* the anchor */
		struct udf_fs *fs = wo_mount(&m);
		struct udf_statfs sf;
		udf_statfs(fs, &sf);
		ck_assert_uint_eq(sf.revision, kinds[i].rev);
		ck_assert_uint_eq(sf.dirs, 1);
		ck_assert_int_eq(count_entries(fs, udf_root_ino(fs)), 0);
		uint64_t end = 0;
		ck_assert(udf_write_once(fs, &end));
		ck_assert_uint_eq(end, m.nsec * BS); /* the capacity the format was given */
		udf_unmount(fs);
		wo_free(&m);
	}
	/* a rewritable volume is not one of write-once media */
	struct flat fl = {calloc(4096, BS), 4096ull * BS};
	struct udf_format_opts hd = {.revision = 0x0201, .uid = (uid_t)-1, .gid = (gid_t)-1, .media = UDF_MEDIA_HD};
	char herr[256];
	ck_assert_int_eq(udf_format(&hd, flat_write, &fl, fl.size, herr, sizeof(herr)), 0);
	struct udf_io hio = {.read = flat_read, .ctx = &fl, .size = fl.size};
	struct udf_fs *hfs;
	ck_assert_int_eq(udf_mount(&hio, NULL, &hfs, herr, sizeof(herr)), 0);
	uint64_t hend;
	ck_assert(!udf_write_once(hfs, &hend));
	udf_unmount(hfs);
	struct udf_mount_opts snap = {.snapshot = 1}; /* one state only: refused with the reason */
	ck_assert_int_eq(udf_mount(&hio, &snap, &hfs, herr, sizeof(herr)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(herr, "write-once"));
	free(fl.b);
	/* BD-R takes 2.50 or 2.60, 1.50's VAT is not written */
	struct udf_format_layout l;
	char err[256];
	struct udf_format_opts bd = {.revision = 0x0201, .media = UDF_MEDIA_BDR};
	ck_assert_int_eq(udf_format_plan(&bd, 12219392ull * BS, &l, err, sizeof(err)), -EINVAL);
	struct udf_format_opts old = {.revision = 0x0150, .media = UDF_MEDIA_DVDR};
	ck_assert_int_eq(udf_format_plan(&old, 2298496ull * BS, &l, err, sizeof(err)), -EINVAL);
	struct udf_format_opts small = {.revision = 0x0201, .media = UDF_MEDIA_CDR, .block_size = 512};
	ck_assert_int_eq(udf_format_plan(&small, 359847ull * BS, &l, err, sizeof(err)), -EINVAL);
	struct udf_format_opts tiny = {.revision = 0x0201, .media = UDF_MEDIA_DVDR};
	ck_assert_int_eq(udf_format_plan(&tiny, 300ull * BS, &l, err, sizeof(err)), -ENOSPC);
}
END_TEST

static unsigned le16_at(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

/* BD-R: 2.50 by default, 2.60 on request with a minimum read revision of 2.50 (in the LVID and in
 * the VAT, which Linux 6.1 reads up to 2.50); EFEs; the main and reserve VDS in different clusters. */
START_TEST(bdr_revisions)
{
	for (unsigned rev = 0x0250; rev <= 0x0260; rev += 0x10) {
		struct udf_format_opts o = {.revision = rev == 0x0250 ? 0 : rev, .media = UDF_MEDIA_BDR};
		struct udf_format_layout l;
		char err[256];
		ck_assert_msg(udf_format_plan(&o, 1ull << 16 << 11, &l, err, sizeof(err)) == 0, "plan: %s", err);
		ck_assert_uint_ne(l.mvds / 32, l.rvds / 32);
		ck_assert_uint_eq((l.vat + 1) % 32, 0);
		struct wo m;
		wo_init(&m, 1u << 16, 32, 0, "bdr");
		char what[32];
		snprintf(what, sizeof(what), "bdr %x", rev);
		m.what = what;
		o.uid = (uid_t)-1;
		o.gid = (gid_t)-1;
		ck_assert_msg(udf_format(&o, wo_write, &m, m.nsec * BS, err, sizeof(err)) == 0, "format: %s", err);
		const uint8_t *lvid = m.sec[l.lvid], *vat = m.sec[m.last], *root = m.sec[l.vphys[2]];
		ck_assert_ptr_nonnull(lvid);
		ck_assert_ptr_nonnull(root);
		const uint8_t *iu = lvid + 80 + 8 * 2;	     /* two partition maps: free space and size tables */
		ck_assert_uint_eq(le16_at(iu + 40), 0x0250); /* minimum read */
		ck_assert_uint_eq(le16_at(iu + 42), rev);    /* minimum write */
		ck_assert_uint_eq(le16_at(iu + 44), rev);    /* maximum write */
		ck_assert_uint_eq(le16_at(vat), 266);
		ck_assert_uint_eq(le16_at(root), 266);
		const uint8_t *vh = vat + 216; /* the VAT embedded after the EFE (no extended attributes) */
		ck_assert_uint_eq(le16_at(vh + 144), 0x0250);
		ck_assert_uint_eq(le16_at(vh + 146), rev);
		struct udf_fs *fs = wo_mount(&m); /* writable */
		struct udf_statfs sf;
		udf_statfs(fs, &sf);
		ck_assert_uint_eq(sf.revision, rev);
		udf_unmount(fs);
		wo_free(&m);
	}
}
END_TEST

/* The model over commits and remounts on one kind of write-once medium. */
static void run_vat_model(enum udf_media media, unsigned unit, unsigned link, uint64_t seed)
{
	struct wo m;
	struct model md;
	uint64_t rng = seed * 7919 + 17;
	char what[96];

	snprintf(what, sizeof(what), "vat model %s link %u seed %llu", udf_media_name(media), link,
		 (unsigned long long)seed);
	printf("%s\n", what);
	wo_init(&m, 1u << 16, unit, link, what);
	wo_format(&m, media);
	struct udf_fs *fs = wo_mount(&m);
	model_setup(fs, &md);
	md.what = what;
	uint64_t nwa_before = m.nwa;
	for (int round = 0; round < 4; round++) {
		for (int k = 0; k < 50; k++) {
			random_op(fs, &md, &rng, NULL);
			if (rnd(&rng) % 12 == 0)
				ck_assert_int_eq(udf_sync(fs), 0);
		}
		check_model(fs, &md, "before remount");
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
		ck_assert_uint_gt(m.nwa, nwa_before); /* every commit appends */
		nwa_before = m.nwa;
		fs = wo_mount(&m);
		check_model(fs, &md, "after remount");
	}
	/* deleting gives nothing back on a write-once disc */
	struct udf_statfs before, after;
	udf_statfs(fs, &before);
	for (int i = 0; i < MAXF; i++) {
		if (md.f[i].live)
			ck_assert_int_eq(udf_unlink(fs, md.dir_ino[md.f[i].dir], md.f[i].name), 0);
		md.f[i].live = false;
	}
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = wo_mount(&m);
	udf_statfs(fs, &after);
	ck_assert_uint_le(after.free_blocks, before.free_blocks);
	ck_assert_uint_eq(after.files, 0);
	check_model(fs, &md, "emptied");
	printf("%s: %llu sectors recorded in %ld writes, %llu commits\n", what, (unsigned long long)m.nwa, m.writes,
	       (unsigned long long)after.commits);
	udf_unmount(fs);
	model_free(&md);
	wo_free(&m);
}

START_TEST(model_dvdr)
{
	run_vat_model(UDF_MEDIA_DVDR, 16, 0, (uint64_t)_i + 1);
}
END_TEST

START_TEST(model_cdr_image)
{
	run_vat_model(UDF_MEDIA_CDR, 32, 0, (uint64_t)_i + 101);
}
END_TEST

START_TEST(model_bdr)
{
	run_vat_model(UDF_MEDIA_BDR, 32, 0, (uint64_t)_i + 301);
}
END_TEST

START_TEST(model_cdr_drive)
{
	run_vat_model(UDF_MEDIA_CDR, 32, 7, (uint64_t)_i + 201);
}
END_TEST

/* Copies the model's directories (what a cut cannot change: they were committed first). */
static void copy_dirs(struct model *to, const struct model *from)
{
	memcpy(to->dir_ino, from->dir_ino, sizeof(to->dir_ino));
	memcpy(to->dir_name, from->dir_name, sizeof(to->dir_name));
	to->ndirs = from->ndirs;
	to->serial = from->serial;
}

/* A power cut at a write of a commit: the medium keeps the writes before it.  The next mount sees the
 * tree of the last complete commit, and the disc goes on taking commits. */
static void run_vat_cut(unsigned link, uint64_t seed)
{
	struct wo m;
	struct model md, synced;
	bool touched[MAXF] = {0};
	uint64_t rng = seed * 104729 + 3;
	char what[96];

	snprintf(what, sizeof(what), "vat cut link %u seed %llu", link, (unsigned long long)seed);
	printf("%s\n", what);
	wo_init(&m, 1u << 16, link ? 32 : 16, link, what);
	wo_format(&m, link ? UDF_MEDIA_CDR : UDF_MEDIA_DVDR);
	struct udf_fs *fs = wo_mount(&m);
	model_setup(fs, &md);
	md.what = what;
	memset(&synced, 0, sizeof(synced));
	for (int k = 0; k < 30; k++)
		random_op(fs, &md, &rng, NULL);
	ck_assert_int_eq(udf_sync(fs), 0);
	model_snapshot(&synced, &md, touched);
	copy_dirs(&synced, &md);
	/* the next commit is cut at one of its writes */
	int rc = 0;
	for (int tries = 0; tries < 8 && rc == 0; tries++) {
		for (int k = 0; k < 20; k++)
			random_op(fs, &md, &rng, NULL);
		long before = m.writes;
		m.fail_at = before + (long)(rnd(&rng) % 12);
		rc = udf_sync(fs);
		if (rc == 0) { /* the commit had fewer writes than the cut: it is the synced state now */
			m.fail_at = -1;
			model_snapshot(&synced, &md, touched);
			copy_dirs(&synced, &md);
		}
	}
	ck_assert_msg(rc != 0, "%s: no commit was cut", what);
	/* the mount writes no more, and says why */
	char why[256];
	uint64_t ino;
	struct stat st;
	ck_assert(!udf_writable(fs, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "commit"));
	ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "late", S_IFREG | 0644, 0, 0, NULL, &ino, &st), -EROFS);
	udf_unmount(fs);
	/* the medium comes back with what it recorded */
	m.cut = false;
	m.fail_at = -1;
	bool torn = !is_vat(m.sec[m.last]); /* the commit's first units reached the disc */
	fs = wo_mount(&m);
	synced.what = what;
	check_model(fs, &synced, "after the cut");
	ck_assert_msg(torn == (strstr(udf_mount_note(fs), "cut short") != NULL), "%s: torn %d, note '%s'", what, torn,
		      udf_mount_note(fs));
	if (torn)
		printf("%s: torn commit\n", what);
	/* unmounted with no change, the disc ends with a VAT again (where the kernel looks) */
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	ck_assert_msg(is_vat(m.sec[m.last]), "%s: the disc does not end with a VAT after the repair", what);
	fs = wo_mount(&m);
	ck_assert_str_eq(udf_mount_note(fs), "");
	check_model(fs, &synced, "after the repair");
	for (int k = 0; k < 30; k++)
		random_op(fs, &synced, &rng, NULL);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = wo_mount(&m);
	check_model(fs, &synced, "the commits after the cut");
	udf_unmount(fs);
	model_free(&md);
	model_free(&synced);
	wo_free(&m);
}

START_TEST(power_cut_dvdr)
{
	run_vat_cut(0, (uint64_t)_i + 1);
}
END_TEST

START_TEST(power_cut_cdr_drive)
{
	run_vat_cut(7, (uint64_t)_i + 51);
}
END_TEST

/* Overwriting a committed file in place and in pieces: the new contents go to new blocks. */
START_TEST(overwrite_and_rename)
{
	struct wo m;
	wo_init(&m, 20000, 16, 0, "overwrite");
	wo_format(&m, UDF_MEDIA_DVDR);
	struct udf_fs *fs = wo_mount(&m);
	uint64_t ino;
	struct stat st;
	static uint8_t a[10000], b[10000];
	fill(a, sizeof(a), 1);
	ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "f", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, sizeof(a), a), (ssize_t)sizeof(a));
	ck_assert_int_eq(udf_sync(fs), 0);
	memcpy(b, a, sizeof(b));
	fill(b + 3000, 100, 2); /* inside a block */
	ck_assert_int_eq(udf_write(fs, ino, 3000, 100, b + 3000), 100);
	fill(b + 4096, 2048, 3); /* a whole block */
	ck_assert_int_eq(udf_write(fs, ino, 4096, 2048, b + 4096), 2048);
	ck_assert_int_eq(udf_rename(fs, udf_root_ino(fs), "f", udf_root_ino(fs), "g", 0), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = wo_mount(&m);
	check_file(fs, udf_root_ino(fs), "g", b, sizeof(b), "after remount");
	ck_assert_uint_eq(lookup_ino(fs, udf_root_ino(fs), "f", NULL), 0);
	udf_unmount(fs);
	wo_free(&m);
}
END_TEST

/* A full disc: writes stop short or fail with ENOSPC, and the commit still fits; what was written
 * before is there after a remount, and the disc stays mountable and readable. */
START_TEST(full_disc)
{
	struct wo m;
	wo_init(&m, 2000, 16, 0, "full");
	wo_format(&m, UDF_MEDIA_DVDR);
	struct udf_fs *fs = wo_mount(&m);
	static uint8_t data[16][300000];
	size_t got[16] = {0};
	int nf = 0;
	bool full = false;
	for (int i = 0; i < 16 && !full; i++) {
		char name[16];
		uint64_t ino;
		struct stat st;
		snprintf(name, sizeof(name), "f%d", i);
		fill(data[i], sizeof(data[i]), (uint64_t)i + 5);
		int rc = udf_create(fs, udf_root_ino(fs), name, S_IFREG | 0644, 0, 0, NULL, &ino, &st);
		if (rc == -ENOSPC)
			break;
		ck_assert_int_eq(rc, 0);
		nf++;
		for (size_t off = 0; off < sizeof(data[i]);) {
			ssize_t n =
				udf_write(fs, ino, off, 65536 < sizeof(data[i]) - off ? 65536 : sizeof(data[i]) - off,
					  data[i] + off);
			if (n == -ENOSPC || (n >= 0 && n < 65536 && off + (size_t)n < sizeof(data[i]))) {
				if (n > 0)
					off += (size_t)n;
				full = true;
				got[i] = off;
				break;
			}
			ck_assert_int_gt(n, 0);
			off += (size_t)n;
			got[i] = off;
		}
		if (i % 3 == 2)
			ck_assert_int_eq(udf_sync(fs), 0);
	}
	ck_assert_msg(full, "the disc never filled");
	ck_assert_int_eq(udf_sync(fs), 0);
	struct udf_statfs sf;
	udf_statfs(fs, &sf);
	ck_assert_uint_lt(sf.free_blocks, 64);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = wo_mount(&m);
	for (int i = 0; i < nf; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		check_file(fs, udf_root_ino(fs), name, data[i], got[i], "full disc");
	}
	udf_unmount(fs);
	wo_free(&m);
}
END_TEST

/* A file bigger than what the engine keeps in memory before a commit: whole units go to the disc
 * early; overwriting them afterwards moves the blocks (never writes them again). */
START_TEST(big_file_and_overwrite)
{
	struct wo m;
	wo_init(&m, 40000, 32, 7, "big");
	wo_format(&m, UDF_MEDIA_CDR);
	struct udf_fs *fs = wo_mount(&m);
	size_t size = 24u << 20;
	uint8_t *d = malloc(size);
	fill(d, size, 77);
	uint64_t ino;
	struct stat st;
	ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "big", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	for (size_t off = 0; off < size; off += 131072)
		ck_assert_int_eq(udf_write(fs, ino, off, 131072, d + off), 131072);
	ck_assert_uint_gt(m.writes, 100); /* drained before the commit */
	/* in the middle of what reached the disc already, unaligned */
	fill(d + 1000001, 300000, 78);
	ck_assert_int_eq(udf_write(fs, ino, 1000001, 300000, d + 1000001), 300000);
	ck_assert_int_eq(udf_sync(fs), 0);
	fill(d + 5, 10, 79);
	ck_assert_int_eq(udf_write(fs, ino, 5, 10, d + 5), 10);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = wo_mount(&m);
	check_file(fs, udf_root_ino(fs), "big", d, size, "big file");
	udf_unmount(fs);
	free(d);
	wo_free(&m);
}
END_TEST

static int count_commit(void *ctx, uint32_t index, uint64_t sector, struct timespec when, uint32_t files, uint32_t dirs)
{
	uint64_t *last = ctx;
	(void)dirs;
	ck_assert_uint_lt(sector, last[0]);  /* newest first: each one recorded before the one after it */
	ck_assert_uint_eq(files, 3 - index); /* a file a commit */
	ck_assert_int_gt(when.tv_sec, 1000000000);
	last[0] = sector;
	last[1]++;
	return 0;
}

/* Every commit stays on the disc: the VATs chain back to the format's, and each can be mounted
 * (read-only) as the disc was after it. */
START_TEST(snapshots)
{
	struct wo m;
	wo_init(&m, 20000, 16, 0, "snapshots");
	wo_format(&m, UDF_MEDIA_DVDR);
	static const char *const names[] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++) {
		struct udf_fs *fs = wo_mount(&m);
		uint64_t ino;
		struct stat st;
		ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), names[i], S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		static uint8_t data[5000];
		fill(data, sizeof(data), (uint64_t)i);
		ck_assert_int_eq(udf_write(fs, ino, 0, sizeof(data), data), (ssize_t)sizeof(data));
		ck_assert_int_eq(udf_close(fs), 0);
		udf_unmount(fs);
	}
	struct udf_io io = {.read = wo_read,
			    .write = wo_write,
			    .ctx = &m,
			    .size = m.nsec * BS,
			    .packet_blocks = 16,
			    .append_state = wo_append_state};
	char err[256], why[256];
	for (uint32_t k = 0; k <= 3; k++) {
		struct udf_mount_opts mo = {.snapshot = k};
		struct udf_fs *fs;
		ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "snapshot %u: %s", k, err);
		ck_assert_int_eq(count_entries(fs, udf_root_ino(fs)), 3 - (int)k);
		for (int i = 0; i < 3; i++)
			ck_assert_int_eq(lookup_ino(fs, udf_root_ino(fs), names[i], NULL) != 0, i < 3 - (int)k);
		ck_assert(k == 0 || !udf_writable(fs, why, sizeof(why)));
		if (k == 0) {
			uint64_t last[2] = {UINT64_MAX, 0};
			ck_assert_int_eq(udf_commit_list(fs, count_commit, last), 4);
			ck_assert_uint_eq(last[1], 4);
		}
		udf_unmount(fs);
	}
	struct udf_mount_opts too_far = {.snapshot = 4};
	struct udf_fs *fs;
	ck_assert_int_eq(udf_mount(&io, &too_far, &fs, err, sizeof(err)), -ERANGE);
	wo_free(&m);
}
END_TEST

/* On a CD-R in a drive a directory is at most one packet (link blocks follow each): the name that
 * would make it longer is refused at once, and the disc goes on taking commits. */
START_TEST(cdr_big_directory)
{
	struct wo m;
	wo_init(&m, 20000, 32, 7, "cdr dir");
	wo_format(&m, UDF_MEDIA_CDR);
	struct udf_fs *fs = wo_mount(&m);
	uint64_t dir, ino;
	struct stat st;
	ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "d", S_IFDIR | 0755, 0, 0, NULL, &dir, &st), 0);
	int made = 0, rc = 0;
	char name[64];
	for (; made < 5000; made++) {
		snprintf(name, sizeof(name), "a-rather-long-file-name-to-fill-the-directory-%05d", made);
		if ((rc = udf_create(fs, dir, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st)) != 0)
			break;
		if (made % 300 == 299)
			ck_assert_int_eq(udf_sync(fs), 0);
	}
	/* a directory of many packets: its runs skip the link blocks, each its own descriptor */
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(made, 5000);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = wo_mount(&m);
	uint64_t d2 = lookup_ino(fs, udf_root_ino(fs), "d", NULL);
	ck_assert_int_eq(count_entries(fs, d2), made);
	ck_assert_uint_ne(lookup_ino(fs, d2, "a-rather-long-file-name-to-fill-the-directory-04999", NULL), 0);
	ck_assert_uint_ne(lookup_ino(fs, d2, "a-rather-long-file-name-to-fill-the-directory-02345", NULL), 0);
	ck_assert_int_eq(udf_getattr(fs, d2, &st), 0);
	ck_assert_int_gt(st.st_size, 32 * 2048); /* more than a packet */
	/* and it takes more after the remount */
	ck_assert_int_eq(udf_create(fs, d2, "one-more", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = wo_mount(&m);
	ck_assert_int_eq(count_entries(fs, lookup_ino(fs, udf_root_ino(fs), "d", NULL)), made + 1);
	udf_unmount(fs);
	wo_free(&m);
}
END_TEST

/* Files made and deleted commit after commit: the virtual blocks of deleted file entries are given
 * out again, so the VAT (rewritten by every commit) does not grow with them. */
START_TEST(vat_entries_reused)
{
	struct wo m;
	wo_init(&m, 40000, 16, 0, "reuse");
	wo_format(&m, UDF_MEDIA_DVDR);
	struct udf_fs *fs = wo_mount(&m);
	for (int i = 0; i < 300; i++) {
		uint64_t ino;
		struct stat st;
		char name[16];
		snprintf(name, sizeof(name), "t%d", i);
		ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
		ck_assert_int_eq(udf_sync(fs), 0);
		ck_assert_int_eq(udf_unlink(fs, udf_root_ino(fs), name), 0);
		ck_assert_int_eq(udf_sync(fs), 0);
		if (i == 150) { /* a remount in between finds the unused entries in the VAT */
			udf_unmount(fs);
			fs = wo_mount(&m);
		}
	}
	udf_unmount(fs);
	const uint8_t *vat = m.sec[m.last]; /* the VAT's file entry: its information length */
	uint64_t len = (uint64_t)vat[56] | (uint64_t)vat[57] << 8 | (uint64_t)vat[58] << 16;
	ck_assert_uint_le(len, 192 + 4 * 8);
	wo_free(&m);
}
END_TEST

/* A commit of more file entries than the engine keeps in memory: whole units go out while the
 * commit runs, and everything is there after a remount. */
START_TEST(many_entries_one_commit)
{
	struct wo m;
	wo_init(&m, 40000, 16, 0, "many");
	wo_format(&m, UDF_MEDIA_DVDR);
	struct udf_fs *fs = wo_mount(&m);
	uint64_t dirs[6];
	struct stat st;
	char name[32];
	for (int d = 0; d < 6; d++) {
		snprintf(name, sizeof(name), "d%d", d);
		ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), name, S_IFDIR | 0755, 0, 0, NULL, &dirs[d], &st), 0);
	}
	for (int i = 0; i < 6000; i++) {
		uint64_t ino;
		snprintf(name, sizeof(name), "f%d", i);
		ck_assert_int_eq(udf_create(fs, dirs[i % 6], name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	}
	long before = m.writes;
	ck_assert_int_eq(udf_close(fs), 0);
	ck_assert_int_gt(m.writes - before, 6000 / 16);
	udf_unmount(fs);
	fs = wo_mount(&m);
	for (int d = 0; d < 6; d++)
		ck_assert_int_eq(count_entries(fs, dirs[d]), 1000);
	udf_unmount(fs);
	wo_free(&m);
}
END_TEST

/* A closed disc mounts read-only and says why; without an append-only medium a VAT volume is only
 * read, also said. */
START_TEST(closed_disc_read_only)
{
	struct wo m;
	wo_init(&m, 20000, 16, 0, "closed");
	wo_format(&m, UDF_MEDIA_DVDR);
	struct udf_fs *fs = wo_mount(&m);
	uint64_t ino;
	struct stat st;
	ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "kept", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	m.closed = true;
	struct udf_io io = {.read = wo_read,
			    .write = wo_write,
			    .ctx = &m,
			    .size = m.nsec * BS,
			    .packet_blocks = 16,
			    .append_state = wo_append_state};
	char err[256], why[256];
	ck_assert_int_eq(udf_mount(&io, NULL, &fs, err, sizeof(err)), 0);
	ck_assert(!udf_writable(fs, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "closed"));
	ck_assert_uint_ne(lookup_ino(fs, udf_root_ino(fs), "kept", NULL), 0);
	udf_unmount(fs);
	io.append_state = NULL; /* a plain image of it (its recorded part), opened as a rewritable one */
	io.size = (m.last + 1) * BS;
	ck_assert_int_eq(udf_mount(&io, NULL, &fs, err, sizeof(err)), 0);
	ck_assert(!udf_writable(fs, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "append-only"));
	ck_assert_uint_ne(lookup_ino(fs, udf_root_ino(fs), "kept", NULL), 0);
	udf_unmount(fs);
	wo_free(&m);
}
END_TEST

/* A read-only mount counts what is left on the medium too, not the number the integrity descriptor
 * got at format time (it is never rewritten on write-once media); a closed disc has nothing left. */
START_TEST(read_only_free_space)
{
	struct wo m;
	wo_init(&m, 20000, 16, 0, "ro free");
	wo_format(&m, UDF_MEDIA_DVDR);
	struct udf_fs *fs = wo_mount(&m);
	struct udf_statfs at_format, rw, ro;
	udf_statfs(fs, &at_format);
	uint64_t ino;
	struct stat st;
	static uint8_t data[1 << 20];
	memset(data, 0x5a, sizeof(data));
	ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "f", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, sizeof(data), data), (ssize_t)sizeof(data));
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = wo_mount(&m);
	udf_statfs(fs, &rw);
	udf_unmount(fs);
	struct udf_io io = {.read = wo_read, .ctx = &m, .size = m.nsec * BS, .append_state = wo_append_state};
	struct udf_mount_opts mo = {.read_only = true};
	char err[256];
	ck_assert_int_eq(udf_mount(&io, &mo, &fs, err, sizeof(err)), 0);
	udf_statfs(fs, &ro);
	udf_unmount(fs);
	ck_assert_uint_le(ro.free_blocks + sizeof(data) / BS, at_format.free_blocks + 64); /* as below */
	ck_assert_uint_ge(ro.free_blocks, rw.free_blocks);
	ck_assert_uint_le(ro.free_blocks, rw.free_blocks + 64); /* the writer keeps room for its next VAT */
	m.closed = true;
	ck_assert_int_eq(udf_mount(&io, &mo, &fs, err, sizeof(err)), 0);
	udf_statfs(fs, &ro);
	udf_unmount(fs);
	ck_assert_uint_eq(ro.free_blocks, 0);
	wo_free(&m);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("udf_vat");
	TCase *tc = tcase_create("vat");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, format_layout);
	tcase_add_test(tc, bdr_revisions);
	tcase_add_test(tc, overwrite_and_rename);
	tcase_add_test(tc, full_disc);
	tcase_add_test(tc, snapshots);
	tcase_add_test(tc, cdr_big_directory);
	tcase_add_test(tc, vat_entries_reused);
	tcase_add_test(tc, many_entries_one_commit);
	tcase_add_test(tc, closed_disc_read_only);
	tcase_add_test(tc, read_only_free_space);
	tcase_add_test(tc, big_file_and_overwrite);
	tcase_add_loop_test(tc, model_dvdr, 0, 20);
	tcase_add_loop_test(tc, model_cdr_image, 0, 8);
	tcase_add_loop_test(tc, model_cdr_drive, 0, 10);
	tcase_add_loop_test(tc, model_bdr, 0, 8);
	tcase_add_loop_test(tc, power_cut_dvdr, 0, 20);
	tcase_add_loop_test(tc, power_cut_cdr_drive, 0, 12);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
