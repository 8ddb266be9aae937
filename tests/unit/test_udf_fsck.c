/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse check's core (udf_fsck.h) on discs in memory damaged on purpose: each damage is found
 * (and the plain check writes nothing), the repair fixes it and a second check is clean; a disc
 * with an unreadable block is left unwritten; hostile images (random bytes in the metadata) never
 * crash it, and whenever the repair says it left nothing, a new check agrees.
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_desc.h"
#include "udf_format.h"
#include "udf_fsck.h"
#include "udf_int.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BS 2048u
#define SIZE (16u << 20)

struct disc {
	uint8_t *b;
	size_t size;
	long writes;
	long cut_after;		 /* > 0: every write after this many fails (the power is gone) */
	uint64_t bad_lo, bad_hi; /* reads touching [bad_lo, bad_hi) fail */
};

static int d_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	struct disc *d = ctx;

	if (off + len > d->size || (off < d->bad_hi && off + len > d->bad_lo))
		return -EIO;
	memcpy(buf, d->b + off, len);
	return 0;
}

static int d_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	struct disc *d = ctx;

	if (off + len > d->size)
		return -EIO;
	if (d->cut_after && d->writes >= d->cut_after)
		return -EIO;
	d->writes++;
	memcpy(d->b + off, buf, len);
	return 0;
}

static int d_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static struct udf_io io_of(struct disc *d)
{
	return (struct udf_io){.read = d_read, .ctx = d, .size = d->size, .write = d_write, .flush = d_flush};
}

/* Lines said, for the assertions. */
struct said {
	char text[16384];
	unsigned problems, repairs, left;
};

static void collect(void *ctx, enum udf_fsck_line kind, const char *line)
{
	struct said *s = ctx;
	size_t n = strlen(s->text);

	snprintf(s->text + n, sizeof(s->text) - n, "%s\n", line);
	s->problems += kind == UDF_FSCK_PROBLEM;
	s->repairs += kind == UDF_FSCK_REPAIR;
	s->left += kind == UDF_FSCK_LEFT;
}

static int fsck(struct disc *d, bool repair, struct said *s, struct udf_fsck_result *r)
{
	char err[256];
	struct udf_io io = io_of(d);

	memset(s, 0, sizeof(*s));
	return udf_fsck(&io, repair, collect, s, r, err, sizeof(err));
}

static void write_file(struct udf_fs *fs, uint64_t dir, const char *name, size_t len, uint64_t *ino)
{
	struct stat st;
	uint8_t *buf = malloc(len ? len : 1);

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + len);
	ck_assert_int_eq(udf_create(fs, dir, name, S_IFREG | 0644, 0, 0, NULL, ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, *ino, 0, len, buf), (ssize_t)len);
	free(buf);
}

/* A fresh disc with /d1/f1 (hard-linked as /hard), /d2/big, /small; ino numbers are block + 16. */
struct tree {
	uint64_t d1, d2, f1, big, small;
};

static struct udf_fs *mount_rw(struct disc *d)
{
	struct udf_io io = io_of(d);
	struct udf_mount_opts mo = {0};
	struct udf_fs *fs;
	char err[256];

	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	return fs;
}

static void make_disc_rev(struct disc *d, enum udf_media media, unsigned revision, struct tree *t)
{
	struct udf_format_opts fo = {.media = media, .revision = revision};
	char err[256];
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->size = SIZE;
	d->b = calloc(1, SIZE);
	ck_assert_msg(udf_format(&fo, d_write, d, SIZE, err, sizeof(err)) == 0, "format: %s", err);
	struct udf_fs *fs = mount_rw(d);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "d1", S_IFDIR | 0755, 0, 0, NULL, &t->d1, &st), 0);
	ck_assert_int_eq(udf_create(fs, root, "d2", S_IFDIR | 0755, 0, 0, NULL, &t->d2, &st), 0);
	write_file(fs, t->d1, "f1", 5000, &t->f1);
	write_file(fs, t->d2, "big", 300000, &t->big);
	write_file(fs, root, "small", 10, &t->small);
	ck_assert_int_eq(udf_link(fs, t->f1, root, "hard", &st), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	d->writes = 0;
}

static void make_disc(struct disc *d, enum udf_media media, struct tree *t)
{
	make_disc_rev(d, media, 0, t);
}

/* Where things are, from a read-only mount (white box). */
struct where {
	uint64_t pstart, lvid, sbd;
};

static struct where where_of(struct disc *d)
{
	struct udf_io io = io_of(d);
	struct udf_mount_opts mo = {.read_only = true};
	struct udf_fs *fs;
	char err[256];

	io.write = NULL;
	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	struct where w = {fs->parts[0].start, fs->lvid_loc, fs->parts[0].usb_lbn};
	udf_unmount(fs);
	return w;
}

/* A fresh disc (make_disc_rev) to damage, and where things are on it. */
static struct where make_disc_where(struct disc *d, enum udf_media media, unsigned revision, struct tree *t)
{
	make_disc_rev(d, media, revision, t);
	return where_of(d);
}

/* The integrity descriptor made to say open, as a daemon killed before its close leaves it. */
static void set_lvid_open(struct disc *d, const struct where *w)
{
	uint8_t *l = d->b + w->lvid * BS;

	put_le32(l + LVID_INTEGRITY_TYPE, 0);
	udf_tag_finish(l, BS);
}

/* A daemon killed with /d2/big open and unlinked: its entry is an orphan, the integrity descriptor
 * says open; the count of writes starts again from there. */
static void kill_with_orphan(struct disc *d, const struct tree *t)
{
	struct udf_fs *fs = mount_rw(d);

	udf_open(fs, t->big);
	ck_assert_int_eq(udf_unlink(fs, t->d2, "big"), 0);
	ck_assert_int_eq(udf_sync(fs), 0);
	udf_unmount(fs); /* no close: the kill */
	d->writes = 0;
}

/* After the repair, the orphan /d2/big was is /lost+found/#block (block: its entry's, in its
 * partition), as big as it was; its stat in *st. */
static void orphan_in_lost_found(struct disc *d, uint32_t block, struct stat *st)
{
	struct udf_fs *fs = mount_rw(d);
	char name[64];
	uint64_t lf, found;

	snprintf(name, sizeof(name), "#%u", block);
	ck_assert_int_eq(udf_lookup(fs, udf_root_ino(fs), "lost+found", &lf, st), 0);
	ck_assert_int_eq(udf_lookup(fs, lf, name, &found, st), 0);
	ck_assert_int_eq(st->st_size, 300000);
	udf_unmount(fs);
}

/* The partition block holding byte off of the file ino (white box). */
static uint64_t data_block(struct disc *d, uint64_t ino, uint64_t off)
{
	struct udf_io io = io_of(d);
	struct udf_mount_opts mo = {.read_only = true};
	struct udf_fs *fs;
	struct node *n;
	char err[256];

	io.write = NULL;
	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	ck_assert_int_eq(udf_get_node(fs, ino, &n), 0);
	uint32_t i = udf_ext_index(n, off);
	ck_assert(i < n->next && n->ext[i].type == 0);
	uint64_t b = n->ext[i].lbn + (off - n->ext[i].file_off) / BS;
	udf_unmount(fs);
	return b;
}

static uint8_t *block_at(struct disc *d, uint64_t pstart, uint64_t lbn)
{
	return d->b + (pstart + lbn) * BS;
}

static void set_free(struct disc *d, const struct where *w, uint64_t lbn, bool free_)
{
	uint8_t *sbd = block_at(d, w->pstart, w->sbd);
	uint8_t *p = sbd + SBD_BITMAP + lbn / 8;

	*p = free_ ? (uint8_t)(*p | 1u << (lbn % 8)) : (uint8_t)(*p & ~(1u << (lbn % 8)));
	udf_tag_finish(sbd, BS * 2);
}

/* The damaged disc's repair cut after write cut of total: it does not say it finished; a second
 * repair leaves nothing, and a check then finds the disc clean. */
static void repair_cut_then_finished(struct disc *d, const uint8_t *damaged, long cut, long total)
{
	struct said s;
	struct udf_fsck_result r;

	memcpy(d->b, damaged, SIZE);
	d->writes = 0;
	d->cut_after = cut;
	int rc = fsck(d, true, &s, &r);
	ck_assert_msg(rc < 0 || r.left > 0, "cut after write %ld of %ld: the repair says it finished", cut, total);
	d->cut_after = 0;
	ck_assert_int_eq(fsck(d, true, &s, &r), 0);
	ck_assert_msg(r.left == 0, "cut after write %ld: the second repair left:\n%s", cut, s.text);
	ck_assert_int_eq(fsck(d, false, &s, &r), 0);
	ck_assert_msg(r.problems == 0, "cut after write %ld: not clean:\n%s", cut, s.text);
}

/* The cycle every damage must pass: found (exit 4's case) with the plain check writing nothing,
 * repaired, clean after. */
static void check_repair_clean(struct disc *d, const char *expect)
{
	struct said s;
	struct udf_fsck_result r;

	ck_assert_int_eq(fsck(d, false, &s, &r), 0);
	ck_assert_msg(r.problems > 0 && strstr(s.text, expect), "expected '%s' in:\n%s", expect, s.text);
	ck_assert_int_eq(d->writes, 0);
	ck_assert_int_eq(fsck(d, true, &s, &r), 0);
	ck_assert_msg(r.repaired && r.left == 0 && s.repairs > 0, "repair left %llu:\n%s", (unsigned long long)r.left,
		      s.text);
	ck_assert_int_gt(d->writes, 0);
	ck_assert_int_eq(fsck(d, false, &s, &r), 0);
	ck_assert_msg(r.problems == 0, "not clean after the repair:\n%s", s.text);
}

/* A damage the repair must not touch: reported (expect in what is said) as unreadable, nothing
 * repaired, every problem left, nothing written. */
static void check_left_alone(struct disc *d, const char *expect)
{
	struct said s;
	struct udf_fsck_result r;

	ck_assert_int_eq(fsck(d, true, &s, &r), 0);
	ck_assert_msg(strstr(s.text, expect), "%s", s.text);
	ck_assert_msg(r.unreadable && !r.repaired && r.left == r.problems, "%s", s.text);
	ck_assert_int_eq(d->writes, 0);
}

START_TEST(clean_disc_is_clean)
{
	struct disc d;
	struct tree t;
	struct said s;
	struct udf_fsck_result r;

	make_disc(&d, _i ? UDF_MEDIA_CDRW : UDF_MEDIA_HD, &t);
	ck_assert_int_eq(fsck(&d, true, &s, &r), 0);
	ck_assert_msg(r.problems == 0, "%s", s.text);
	ck_assert_int_eq(r.files, 3);
	ck_assert_int_eq(r.dirs, 3);
	ck_assert_int_eq(d.writes, 0); /* a clean disc is not written even with repair */
	if (_i)
		ck_assert_ptr_nonnull(strstr(s.text, "sparing table: 0 of"));
	free(d.b);
}
END_TEST

START_TEST(lvid_open)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, 0, &t);
	set_lvid_open(&d, &w);
	check_repair_clean(&d, "integrity descriptor says open");
	free(d.b);
}
END_TEST

START_TEST(bitmap_says_free)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, 0, &t);
	set_free(&d, &w, t.big - INO_BASE, true);
	check_repair_clean(&d, "/d2/big: 1 block in use marked free");
	free(d.b);
}
END_TEST

START_TEST(bitmap_leaks)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_CDRW, 0, &t);
	set_free(&d, &w, 4000, false);
	set_free(&d, &w, 4001, false);
	check_repair_clean(&d, "2 blocks marked used in the space bitmap but belonging to no file");
	free(d.b);
}
END_TEST

START_TEST(link_count)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, 0, &t);
	uint8_t *fe = block_at(&d, w.pstart, t.f1 - INO_BASE);
	put_le16(fe + FE_LINK_COUNT, 7);
	udf_tag_finish(fe, BS);
	check_repair_clean(&d, "link count 7, but 2 names point to it");
	free(d.b);
}
END_TEST

/* A file unlinked while open and the process gone before the close: its entry is an orphan. */
START_TEST(orphan_to_lost_found)
{
	struct disc d;
	struct tree t;
	struct stat st;
	make_disc(&d, UDF_MEDIA_HD, &t);
	kill_with_orphan(&d, &t);
	check_repair_clean(&d, "orphan: the regular file at block");
	orphan_in_lost_found(&d, (uint32_t)(t.big - INO_BASE), &st);
	ck_assert_int_eq(st.st_nlink, 1);
	free(d.b);
}
END_TEST

/* The file entry of /d2/big cannot be read back in part: reported, and the repair writes nothing. */
START_TEST(unreadable_left_alone)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, 0, &t);
	set_lvid_open(&d, &w);
	d.bad_lo = (w.pstart + data_block(&d, t.big, 100000)) * BS;
	d.bad_hi = d.bad_lo + BS;
	check_left_alone(&d, "/d2/big: unreadable at byte 98304");
	free(d.b);
}
END_TEST

/* /d2/big's first extent made to start at /d1/f1's data: two owners, neither provably right. */
START_TEST(cross_link_left_alone)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, 0, &t);
	uint8_t *fe = block_at(&d, w.pstart, t.big - INO_BASE);
	bool efe = le16(fe + TAG_IDENT) == TAG_EFE;
	uint32_t ad = (efe ? EFE_SIZE : FE_SIZE) + le32(fe + (efe ? EFE_EA_LEN : FE_EA_LEN));
	ck_assert_uint_eq(le16(fe + ICB_FLAGS) & 7, 0); /* short allocation descriptors */
	put_le32(fe + ad + SAD_POS, (uint32_t)data_block(&d, t.f1, 0));
	udf_tag_finish(fe, BS);
	check_left_alone(&d, "is also used by another file (cross-linked)");
	free(d.b);
}
END_TEST

/* Directories of dir (readdir's callback). */
struct subdirs {
	uint64_t ino[16];
	unsigned n;
};

static int add_subdir(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	struct subdirs *s = ctx;
	(void)next;
	if (S_ISDIR(type) && strcmp(name, ".") && strcmp(name, "..") && s->n < 16)
		s->ino[s->n++] = ino;
	return 0;
}

/* name in dir, or in a directory of dir (a cut repair's /lost+found can itself become an orphan,
 * which the next repair names in the new /lost+found). */
static bool find_under(struct udf_fs *fs, uint64_t dir, const char *name, struct stat *st)
{
	struct subdirs sd = {0};
	uint64_t ino;

	if (udf_lookup(fs, dir, name, &ino, st) == 0)
		return true;
	udf_readdir(fs, dir, 0, add_subdir, &sd);
	for (unsigned i = 0; i < sd.n; i++)
		if (udf_lookup(fs, sd.ino[i], name, &ino, st) == 0)
			return true;
	return false;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random bytes in the blocks of the partition that hold descriptors (bitmap, file set, entries,
 * directories): on UDF 2.01, and on 2.50 where they are the metadata file's (and the metadata
 * bitmap's), so that the copies differ too. */
START_TEST(hostile_never_crash)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, _i ? 0x0250 : 0, &t);
	uint8_t *clean = malloc(SIZE);
	memcpy(clean, d.b, SIZE);
	/* the blocks holding descriptors (bitmap, file set, entries, directories) */
	uint64_t tagged[256];
	unsigned nt = 0;
	for (uint64_t lbn = 0; lbn < 2000 && nt < 256; lbn++)
		if (udf_tag_check(block_at(&d, w.pstart, lbn), BS, UINT32_MAX) > 0)
			tagged[nt++] = lbn;
	ck_assert_uint_gt(nt, 8);
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	for (int round = 0; round < (_i ? 200 : 400); round++) {
		memcpy(d.b, clean, SIZE);
		int flips = 1 + (int)(rnd(&seed) % 8);
		for (int k = 0; k < flips; k++) {
			uint64_t lbn = tagged[rnd(&seed) % nt], off = rnd(&seed) % (k % 2 ? BS : 256);
			block_at(&d, w.pstart, lbn)[off] = (uint8_t)rnd(&seed);
		}
		/* half the rounds with the tags made right again, so the damage gets past the checksums */
		if (round % 2)
			for (unsigned i = 0; i < nt; i++)
				udf_tag_finish(block_at(&d, w.pstart, tagged[i]), BS);
		struct said s;
		struct udf_fsck_result r;
		int rc = fsck(&d, true, &s, &r);
		if (rc == 0 && r.repaired && r.left == 0) {
			int rc2 = fsck(&d, false, &s, &r);
			ck_assert_msg(rc2 == 0 && r.problems == 0, "round %d: repaired, but a new check says:\n%s",
				      round, s.text);
		}
	}
	free(clean);
	free(d.b);
}
END_TEST

/* UDF 2.50 and 2.60: a metadata partition (map 1) holds the entries and directories; its metadata
 * file, mirror and metadata bitmap file are files of the physical partition. */
static const unsigned meta_revs[] = {0x0250, 0x0260};

enum meta_which { MW_FILE, MW_MIRROR, MW_BITMAP };

/* The physical partition's block holding block k of the metadata partition's file which (white
 * box); with fe, the file's entry instead. */
static uint32_t meta_phys(struct disc *d, enum meta_which which, uint32_t k, bool fe)
{
	struct udf_io io = io_of(d);
	struct udf_mount_opts mo = {.read_only = true};
	struct udf_fs *fs;
	struct node *n;
	char err[256];
	uint32_t plbn;

	io.write = NULL;
	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	ck_assert_int_eq(fs->nparts, 2);
	const struct part *p = &fs->parts[1];
	ck_assert_int_eq(p->kind, PART_META);
	uint32_t loc = which == MW_FILE ? p->meta_loc : which == MW_MIRROR ? p->mirror_loc : p->mbm_loc;
	ck_assert_int_eq(udf_load_node(fs, 0, loc, &n), 0);
	if (fe)
		plbn = loc;
	else
		ck_assert_int_eq(udf_meta_file_block(fs, n, 0, k, &plbn), 0);
	udf_unmount(fs);
	return plbn;
}

/* Marks block k of the metadata partition free (or used) in the metadata bitmap. */
static void set_meta_free(struct disc *d, const struct where *w, uint32_t k, bool free_)
{
	uint8_t *sbd = block_at(d, w->pstart, meta_phys(d, MW_BITMAP, 0, false));
	ck_assert_uint_lt(SBD_BITMAP + k / 8, BS); /* the bitmap of a small disc is one block */
	uint8_t *p = sbd + SBD_BITMAP + k / 8;

	*p = free_ ? (uint8_t)(*p | 1u << (k % 8)) : (uint8_t)(*p & ~(1u << (k % 8)));
	udf_tag_finish(sbd, BS);
}

static uint32_t meta_lbn(uint64_t ino)
{
	ck_assert_uint_eq((ino - INO_BASE) >> 32, 1); /* an entry of the metadata partition (map 1) */
	return (uint32_t)(ino - INO_BASE);
}

/* /small's file entry: the copy in the metadata file, or in its mirror (white box). */
static uint8_t *small_entry(struct disc *d, const struct where *w, const struct tree *t, enum meta_which which)
{
	return block_at(d, w->pstart, meta_phys(d, which, meta_lbn(t->small), false));
}

/* The files of make_disc read back as written, through a new mount. */
static void tree_reads_back(struct disc *d, const struct tree *t)
{
	struct udf_fs *fs = mount_rw(d);
	uint8_t *buf = malloc(300000);
	const struct {
		uint64_t ino;
		size_t len;
	} f[] = {{t->f1, 5000}, {t->big, 300000}, {t->small, 10}};

	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		ck_assert_int_eq(udf_read(fs, f[k].ino, 0, f[k].len, buf), (ssize_t)f[k].len);
		for (size_t i = 0; i < f[k].len; i++)
			ck_assert_uint_eq(buf[i], (uint8_t)(i * 7 + f[k].len));
	}
	free(buf);
	udf_unmount(fs);
}

START_TEST(meta_clean_disc_is_clean)
{
	struct disc d;
	struct tree t;
	struct said s;
	struct udf_fsck_result r;

	make_disc_rev(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	ck_assert_int_eq(fsck(&d, true, &s, &r), 0);
	ck_assert_msg(r.problems == 0 && !r.unreadable, "%s", s.text);
	ck_assert_int_eq(r.files, 3);
	ck_assert_int_eq(r.dirs, 3);
	ck_assert_int_eq(d.writes, 0);
	free(d.b);
}
END_TEST

/* The metadata bitmap calls /d2/big's file entry free: found, marked used by the repair. */
START_TEST(meta_bitmap_says_free)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	set_meta_free(&d, &w, meta_lbn(t.big), true);
	check_repair_clean(&d, "/d2/big: 1 block in use marked free in the metadata bitmap");
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

/* The metadata bitmap calls a block no entry uses used: leaked, freed by the repair. */
START_TEST(meta_bitmap_leaks)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	set_meta_free(&d, &w, 200, false);
	check_repair_clean(&d, "1 block marked used in the metadata bitmap but belonging to no file (leaked; the "
			       "first at block 200 of the metadata partition)");
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

/* The space bitmap calls blocks of the metadata file, its mirror and the metadata bitmap file free. */
START_TEST(meta_files_marked_free)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	set_free(&d, &w, meta_phys(&d, MW_FILE, 3, false), true);
	set_free(&d, &w, meta_phys(&d, MW_MIRROR, 0, true), true);
	set_free(&d, &w, meta_phys(&d, MW_BITMAP, 0, false), true);
	check_repair_clean(&d, "(the UDF metadata file): 1 block in use marked free in the space bitmap");
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

/* The mirror's copy of /small's file entry differs (its tag still right): found; the repair renews
 * the mirror from the metadata file. */
START_TEST(meta_mirror_differs)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	uint8_t *mb = small_entry(&d, &w, &t, MW_MIRROR);
	ck_assert_mem_eq(mb, small_entry(&d, &w, &t, MW_FILE), BS);
	put_le16(mb + FE_LINK_COUNT, 9);
	udf_tag_finish(mb, BS);
	check_repair_clean(&d, "the metadata mirror differs from the metadata file in 1 block in use (the first at "
			       "block");
	ck_assert_mem_eq(mb, small_entry(&d, &w, &t, MW_FILE), BS);
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

/* The metadata file's copy of /small's entry damaged, the mirror's whole: found; the repair restores
 * the metadata file's copy from the mirror, and then repairs the rest. */
START_TEST(meta_file_damaged_from_mirror)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	uint8_t *fe = small_entry(&d, &w, &t, MW_FILE);
	fe[100] ^= 0x55;
	check_repair_clean(&d, "the metadata file's descriptor is damaged and its mirror's is whole");
	ck_assert_mem_eq(fe, small_entry(&d, &w, &t, MW_MIRROR), BS);
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

/* Both copies of /small's entry damaged: reported, and nothing written. */
START_TEST(meta_both_damaged_left_alone)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	small_entry(&d, &w, &t, MW_FILE)[100] ^= 0x55;
	small_entry(&d, &w, &t, MW_MIRROR)[100] ^= 0x55;
	check_left_alone(&d, "/small: its file entry at block");
	free(d.b);
}
END_TEST

/* How a metadata file's (or mirror's) entry is damaged: its tag checksum, its CRC, or the whole
 * block zeroed. */
enum fe_damage { FD_CHECKSUM, FD_CRC, FD_ZERO };

static void damage_entry(uint8_t *fe, enum fe_damage how)
{
	if (how == FD_CHECKSUM)
		fe[TAG_CHECKSUM] ^= 0x01;
	else if (how == FD_CRC)
		fe[TAG_CRC] ^= 0x01;
	else
		memset(fe, 0, BS);
}

/* The disc writes again: the writer attached to the metadata partition (neither copy's entry
 * refused). */
static void writable_again(struct disc *d)
{
	struct udf_fs *fs = mount_rw(d);
	char why[256] = "";
	ck_assert_msg(udf_writable(fs, why, sizeof(why)), "read-only: %s", why);
	udf_unmount(fs);
}

/* The entry of the metadata file (or of its mirror) damaged three ways on 2.50 and 2.60: found; the
 * repair rebuilds it from the other copy's entry with extents where its own data lies (found by its
 * contents: the same as the other copy's wherever the metadata partition is in use), so it is again
 * the entry the format wrote; then the check is clean, every file reads back, the disc is writable. */
START_TEST(meta_entry_rebuilt)
{
	struct disc d;
	struct tree t;
	enum meta_which which = _i / 6 ? MW_MIRROR : MW_FILE;
	enum fe_damage how = (enum fe_damage)(_i / 2 % 3);
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i % 2], &t);
	uint8_t *fe = block_at(&d, w.pstart, meta_phys(&d, which, 0, true)), orig[BS];

	memcpy(orig, fe, BS);
	damage_entry(fe, how);
	check_repair_clean(&d, which == MW_FILE ? "the metadata file's entry at block"
						: "the metadata mirror file's entry at block");
	ck_assert_mem_eq(fe, orig, BS);
	tree_reads_back(&d, &t);
	writable_again(&d);
	free(d.b);
}
END_TEST

/* One entry damaged, and the copy of /small's file entry that belongs to the damaged file changed
 * (tag right): the damaged file's data can no longer be proved to be where it is (it differs from the
 * other copy in a block in use), so the entry is not rebuilt and nothing is written. */
START_TEST(meta_entry_unproved_left_alone)
{
	struct disc d;
	struct tree t;
	enum meta_which which = _i / 2 ? MW_MIRROR : MW_FILE;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i % 2], &t);
	uint8_t *mb = small_entry(&d, &w, &t, which);

	put_le16(mb + FE_LINK_COUNT, 9);
	udf_tag_finish(mb, BS);
	damage_entry(block_at(&d, w.pstart, meta_phys(&d, which, 0, true)), FD_ZERO);
	check_left_alone(&d, "cannot be rebuilt");
	free(d.b);
}
END_TEST

/* The runs of consecutive blocks of the physical partition that the metadata partition's file
 * which lies in (its extents, those that follow each other counted as one), and its size in blocks. */
static unsigned meta_runs(struct disc *d, enum meta_which which, uint32_t *blocks)
{
	struct udf_io io = io_of(d);
	struct udf_mount_opts mo = {.read_only = true};
	struct udf_fs *fs;
	struct node *node;
	char err[256];
	uint32_t plbn, prev = UINT32_MAX;
	unsigned runs = 0;

	io.write = NULL;
	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	const struct part *p = &fs->parts[1];
	ck_assert_int_eq(udf_load_node(fs, 0, which == MW_FILE ? p->meta_loc : p->mirror_loc, &node), 0);
	*blocks = (uint32_t)(node->size / BS);
	for (uint32_t k = 0; k < *blocks; k++) {
		ck_assert_int_eq(udf_meta_file_block(fs, node, 0, k, &plbn), 0);
		runs += plbn != prev + 1;
		prev = plbn;
	}
	udf_unmount(fs);
	return runs;
}

/* A metadata file grown (800 empty files on a disc whose metadata file holds 480 blocks) and
 * one of the two entries damaged: the other copy's extents are cut as the growth left them, and the
 * damaged file's data may lie in several runs.  In one run it is found and the entry rebuilt over
 * it (check clean after, files read back, the disc writable); in several nothing proves where it
 * lies: said, nothing written. */
START_TEST(meta_grown_entry_rebuilt_or_left_alone)
{
	struct disc d;
	struct tree t;
	struct stat st;
	uint64_t ino;
	char name[16];
	enum meta_which which = _i / 2 ? MW_MIRROR : MW_FILE;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i % 2], &t);
	uint32_t size0, size;

	meta_runs(&d, MW_FILE, &size0);
	struct udf_fs *fs = mount_rw(&d);
	for (int i = 0; i < 800; i++) {
		snprintf(name, sizeof(name), "g%03d", i);
		ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	}
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	unsigned runs = meta_runs(&d, which, &size);
	ck_assert_msg(size > size0 && size >= 800, "the metadata file: %u blocks, %u before", size, size0);
	struct said s;
	struct udf_fsck_result r;
	ck_assert_int_eq(fsck(&d, false, &s, &r), 0);
	ck_assert_msg(r.problems == 0 && !r.unreadable, "grown to %u blocks:\n%s", size, s.text);
	d.writes = 0;
	damage_entry(block_at(&d, w.pstart, meta_phys(&d, which, 0, true)), FD_ZERO);
	if (runs > 1) {
		check_left_alone(&d, "cannot be rebuilt");
	} else {
		check_repair_clean(&d, which == MW_FILE ? "the metadata file's entry at block"
							: "the metadata mirror file's entry at block");
		tree_reads_back(&d, &t);
		writable_again(&d);
	}
	fprintf(stderr, "meta_grown_entry_rebuilt_or_left_alone: UDF %x, the %s in %u run%s of %u blocks: %s\n",
		meta_revs[_i % 2], which == MW_FILE ? "metadata file" : "mirror", runs, runs == 1 ? "" : "s", size,
		runs > 1 ? "left alone" : "rebuilt");
	free(d.b);
}
END_TEST

/* Both entries damaged: no copy says where the metadata partition lies.  Reported as damage the
 * repair cannot prove right (fsck's exit 4, not an operational error), nothing written. */
START_TEST(meta_both_entries_left_alone)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	uint32_t mfe = meta_phys(&d, MW_FILE, 0, true), mirfe = meta_phys(&d, MW_MIRROR, 0, true);

	damage_entry(block_at(&d, w.pstart, mfe), FD_ZERO);
	damage_entry(block_at(&d, w.pstart, mirfe), FD_CHECKSUM);
	check_left_alone(&d, "both the UDF metadata file and its mirror are damaged");
	free(d.b);
}
END_TEST

/* The metadata bitmap file's data: its first block (white box; a small disc's bitmap is one). */
static uint8_t *meta_bitmap_data(struct disc *d, const struct where *w)
{
	return block_at(d, w->pstart, meta_phys(d, MW_BITMAP, 0, false));
}

/* A disc whose metadata bitmap file's entry is damaged mounts, reads every file and is read-only:
 * the writer needs the metadata bitmap.  Nothing is written. */
static void readable_not_writable(struct disc *d, const struct tree *t)
{
	struct udf_fs *fs = mount_rw(d);
	char why[256] = "";
	ck_assert_msg(!udf_writable(fs, why, sizeof(why)), "writable with the metadata bitmap file's entry damaged");
	ck_assert_msg(strstr(why, "metadata bitmap file"), "read-only, but: %s", why);
	udf_unmount(fs);
	tree_reads_back(d, t);
	ck_assert_int_eq(d->writes, 0);
}

/* The metadata bitmap file's entry (type 252) damaged three ways on 2.50 and 2.60: found; the repair
 * finds its data by its contents (a space bitmap of the metadata partition's blocks in blocks marked
 * used that nothing owns) and writes the entry again, the entry the format wrote byte for byte; then
 * the check is clean, every file reads back, the disc is writable. */
START_TEST(meta_bitmap_entry_rebuilt)
{
	struct disc d;
	struct tree t;
	enum fe_damage how = (enum fe_damage)(_i / 2);
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i % 2], &t);
	uint8_t *fe = block_at(&d, w.pstart, meta_phys(&d, MW_BITMAP, 0, true)), orig[BS];

	memcpy(orig, fe, BS);
	damage_entry(fe, how);
	readable_not_writable(&d, &t);
	check_repair_clean(&d, "the metadata bitmap file's entry at block");
	ck_assert_mem_eq(fe, orig, BS);
	tree_reads_back(&d, &t);
	writable_again(&d);
	free(d.b);
}
END_TEST

/* The metadata bitmap file's entry and its data zeroed: nothing holds a space bitmap of the metadata
 * partition, so the repair writes one (from what the check found in use) into a free run of the
 * physical partition, marks it used, and points a new entry there: the formatted entry but for its
 * extent's position (and its tag's checksum and CRC); the bitmap the same as before but for its tag's
 * location.  Then the check is clean (the zeroed block freed), the files read back, the disc writes. */
START_TEST(meta_bitmap_entry_new_data)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	uint32_t old_lbn = meta_phys(&d, MW_BITMAP, 0, false);
	uint8_t *fe = block_at(&d, w.pstart, meta_phys(&d, MW_BITMAP, 0, true)), orig[BS], orig_data[BS];

	memcpy(orig, fe, BS);
	memcpy(orig_data, block_at(&d, w.pstart, old_lbn), BS);
	damage_entry(fe, FD_ZERO);
	damage_entry(block_at(&d, w.pstart, old_lbn), FD_ZERO);
	check_repair_clean(&d, "the metadata bitmap file's entry at block");
	uint32_t new_lbn = meta_phys(&d, MW_BITMAP, 0, false);
	ck_assert_uint_ne(new_lbn, old_lbn);
	ck_assert_uint_eq(le32(fe + EFE_SIZE + SAD_POS), new_lbn);
	/* what differs: the extent's position, the tag's checksum and CRC */
	ck_assert_mem_eq(fe + TAG_SERIAL, orig + TAG_SERIAL, TAG_CRC - TAG_SERIAL);
	ck_assert_mem_eq(fe + TAG_CRC_LENGTH, orig + TAG_CRC_LENGTH, EFE_SIZE + SAD_POS - TAG_CRC_LENGTH);
	ck_assert_mem_eq(fe + EFE_SIZE + SAD_SIZE, orig + EFE_SIZE + SAD_SIZE, BS - EFE_SIZE - SAD_SIZE);
	uint8_t *data = block_at(&d, w.pstart, new_lbn);
	ck_assert_uint_eq(le32(data + TAG_LOCATION), new_lbn);
	ck_assert_mem_eq(data + TAG_SERIAL, orig_data + TAG_SERIAL, TAG_CRC - TAG_SERIAL);
	ck_assert_mem_eq(data + TAG_CRC_LENGTH, orig_data + TAG_CRC_LENGTH, TAG_LOCATION - TAG_CRC_LENGTH);
	ck_assert_mem_eq(data + TAG_SIZE, orig_data + TAG_SIZE, BS - TAG_SIZE);
	tree_reads_back(&d, &t);
	writable_again(&d);
	free(d.b);
}
END_TEST

/* The metadata bitmap file's entry damaged and a second copy of its data in a block marked used that
 * nothing owns: which is the file's cannot be told, so nothing is written. */
START_TEST(meta_bitmap_entry_ambiguous_left_alone)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	uint32_t spare = (uint32_t)(w.sbd + 1); /* the metadata file's entry follows the space bitmap */

	while (!(block_at(&d, w.pstart, w.sbd)[SBD_BITMAP + spare / 8] >> (spare % 8) & 1))
		spare++; /* the first free block */
	memcpy(block_at(&d, w.pstart, spare), meta_bitmap_data(&d, &w), BS);
	set_free(&d, &w, spare, false);
	damage_entry(block_at(&d, w.pstart, meta_phys(&d, MW_BITMAP, 0, true)), FD_CRC);
	check_left_alone(&d, "more than one");
	free(d.b);
}
END_TEST

/* The metadata bitmap file's entry block holds a whole descriptor of another kind (a terminating
 * descriptor whose tag verifies there): not a damaged entry but a structure the check cannot place,
 * so it is not overwritten and nothing is written. */
START_TEST(meta_bitmap_entry_other_descriptor_left_alone)
{
	struct disc d;
	struct tree t;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	uint32_t loc = meta_phys(&d, MW_BITMAP, 0, true);
	uint8_t *fe = block_at(&d, w.pstart, loc);

	memset(fe, 0, BS);
	udf_put_tag(fe, TAG_TD, 3, 1, loc, 512 - TAG_SIZE);
	udf_tag_finish(fe, BS);
	check_left_alone(&d, "the metadata bitmap file's entry at block");
	free(d.b);
}
END_TEST

/* A daemon killed with /d2/big unlinked while open, and the metadata bitmap file's entry damaged:
 * the repair rebuilds the entry over the bitmap's data, then (checking again with the bitmap) names
 * the orphan. */
START_TEST(meta_bitmap_entry_orphan_named)
{
	struct disc d;
	struct tree t;
	struct stat st;
	make_disc_rev(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	kill_with_orphan(&d, &t);
	struct where w = where_of(&d);
	damage_entry(block_at(&d, w.pstart, meta_phys(&d, MW_BITMAP, 0, true)), FD_CHECKSUM);
	check_repair_clean(&d, "the metadata bitmap file's entry at block");
	orphan_in_lost_found(&d, meta_lbn(t.big), &st);
	writable_again(&d);
	free(d.b);
}
END_TEST

/* An empty file deleted (its entry left in the metadata partition, as a delete leaves it), then the
 * metadata bitmap file's entry and data zeroed: nothing says the entry was freed rather than orphaned,
 * so the new bitmap calls used only what the tree reaches and the deleted file does not come back in
 * /lost+found. */
START_TEST(meta_bitmap_new_data_deleted_stays_deleted)
{
	struct disc d;
	struct tree t;
	struct stat st;
	uint64_t ino, lf;
	make_disc_rev(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	struct udf_fs *fs = mount_rw(&d);
	ck_assert_int_eq(udf_create(fs, t.d1, "gone", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	struct where w = where_of(&d);
	uint8_t *fe = block_at(&d, w.pstart, meta_phys(&d, MW_FILE, meta_lbn(ino), false));
	fs = mount_rw(&d);
	ck_assert_int_eq(udf_unlink(fs, t.d1, "gone"), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	ck_assert_int_eq(udf_tag_check(fe, BS, meta_lbn(ino)), TAG_EFE); /* the entry is still there */
	damage_entry(block_at(&d, w.pstart, meta_phys(&d, MW_BITMAP, 0, false)), FD_ZERO);
	damage_entry(block_at(&d, w.pstart, meta_phys(&d, MW_BITMAP, 0, true)), FD_ZERO);
	d.writes = 0;
	check_repair_clean(&d, "the metadata bitmap file's entry at block");
	fs = mount_rw(&d);
	ck_assert_int_eq(udf_lookup(fs, udf_root_ino(fs), "lost+found", &lf, &st), -ENOENT);
	udf_unmount(fs);
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

/* The new-data repair (the metadata bitmap file's entry and data zeroed) cut after each of its writes
 * in turn: a second repair makes the disc clean, and every file reads back. */
START_TEST(meta_bitmap_new_data_cut_anywhere)
{
	struct disc d;
	struct tree t;
	struct said s;
	struct udf_fsck_result r;
	struct where w = make_disc_where(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	damage_entry(block_at(&d, w.pstart, meta_phys(&d, MW_BITMAP, 0, false)), FD_ZERO);
	damage_entry(block_at(&d, w.pstart, meta_phys(&d, MW_BITMAP, 0, true)), FD_ZERO);
	uint8_t *damaged = malloc(SIZE);
	memcpy(damaged, d.b, SIZE);
	d.writes = 0;
	ck_assert_int_eq(fsck(&d, true, &s, &r), 0);
	long total = d.writes;
	ck_assert_int_gt(total, 2);
	for (long cut = 1; cut < total; cut++) {
		repair_cut_then_finished(&d, damaged, cut, total);
		tree_reads_back(&d, &t);
	}
	free(damaged);
	free(d.b);
}
END_TEST

/* The repair cut after each of its writes in turn: what it leaves is a valid disc, which a second
 * repair makes clean, with the orphan named and the untouched file intact; on UDF 2.01, and on 2.50
 * (the entries, and the block marked free, are the metadata partition's). */
START_TEST(repair_cut_anywhere)
{
	struct disc d;
	struct tree t;
	struct said s;
	struct udf_fsck_result r;
	make_disc_rev(&d, UDF_MEDIA_HD, _i ? 0x0250 : 0, &t);
	kill_with_orphan(&d, &t);
	struct where w = where_of(&d);
	if (_i) /* and a block in use marked free */
		set_meta_free(&d, &w, meta_lbn(t.f1), true);
	else
		set_free(&d, &w, t.f1 - INO_BASE, true);
	uint8_t *damaged = malloc(SIZE);
	memcpy(damaged, d.b, SIZE);
	d.writes = 0;
	ck_assert_int_eq(fsck(&d, true, &s, &r), 0);
	long total = d.writes;
	ck_assert_int_gt(total, 3);
	for (long cut = 1; cut < total; cut++) {
		repair_cut_then_finished(&d, damaged, cut, total);
		struct udf_fs *fs = mount_rw(&d);
		char name[64];
		uint64_t lf;
		struct stat st;
		uint8_t buf[5000];
		snprintf(name, sizeof(name), "#%u", (uint32_t)(t.big - INO_BASE));
		ck_assert_int_eq(udf_lookup(fs, udf_root_ino(fs), "lost+found", &lf, &st), 0);
		ck_assert_msg(find_under(fs, lf, name, &st), "cut after write %ld: the orphan is not in lost+found",
			      cut);
		ck_assert_int_eq(st.st_size, 300000);
		ck_assert_int_eq(udf_read(fs, t.f1, 0, sizeof(buf), buf), 5000);
		for (size_t i = 0; i < sizeof(buf); i++)
			ck_assert_uint_eq(buf[i], (uint8_t)(i * 7 + 5000));
		udf_unmount(fs);
	}
	free(damaged);
	free(d.b);
}
END_TEST

/* A file unlinked while open and the daemon killed: its entry in the metadata partition is an orphan,
 * the integrity descriptor says open; the repair names it and the check is clean after. */
START_TEST(meta_orphan_after_kill)
{
	struct disc d;
	struct tree t;
	struct stat st;
	make_disc_rev(&d, UDF_MEDIA_HD, meta_revs[_i], &t);
	kill_with_orphan(&d, &t);
	check_repair_clean(&d, "of the metadata partition (300000 bytes, link count 1) is reachable from no directory");
	orphan_in_lost_found(&d, meta_lbn(t.big), &st);
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

/* Where the two copies of a CD-RW disc's sparing table are, and their length in bytes. */
static void sparing_copies(struct disc *d, uint32_t loc[2], uint32_t *len)
{
	struct udf_io io = io_of(d);
	struct udf_mount_opts mo = {.read_only = true};
	struct udf_fs *fs;
	char err[256];

	io.write = NULL;
	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	ck_assert_int_eq(fs->parts[0].kind, PART_SPARABLE);
	ck_assert_uint_eq(fs->parts[0].nstable, 2);
	loc[0] = fs->parts[0].stable_loc[0];
	loc[1] = fs->parts[0].stable_loc[1];
	*len = fs->parts[0].stable_len;
	udf_unmount(fs);
}

/* Both copies whole at their places and recording the same table. */
static void sparing_copies_agree(struct disc *d)
{
	uint32_t loc[2], len;

	sparing_copies(d, loc, &len);
	const uint8_t *a = d->b + (uint64_t)loc[0] * BS, *b = d->b + (uint64_t)loc[1] * BS;
	size_t room = (len + BS - 1) / BS * BS;
	ck_assert_int_eq(udf_tag_check(a, room, loc[0]), 0);
	ck_assert_int_eq(udf_tag_check(b, room, loc[1]), 0);
	ck_assert(memcmp(a + TAG_SIZE, b + TAG_SIZE, len - TAG_SIZE) == 0);
}

/* A copy of the sparing table whose CRC fails (_i: the first or the second copy): the mount reads the
 * other, the check says which, the repair writes it again from the one read. */
START_TEST(sparing_copy_damaged)
{
	struct disc d;
	struct tree t;
	uint32_t loc[2], len;
	char expect[96];

	make_disc(&d, UDF_MEDIA_CDRW, &t);
	sparing_copies(&d, loc, &len);
	d.b[(uint64_t)loc[_i] * BS + ST_MAP + 2] ^= 0x5a; /* a map entry's byte: the CRC no longer holds */
	snprintf(expect, sizeof(expect), "the sparing table's copy %d at sector %u cannot be read or is damaged",
		 _i + 1, loc[_i]);
	check_repair_clean(&d, expect);
	sparing_copies_agree(&d);
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

/*
 * The second copy records a packet of /d2/big moved to a spare (its sequence number one higher), the
 * first does not: as when the first copy's write failed while the writer moved a worn packet.  The
 * packet's data is in the spare only (the original zeroed, as a packet that no longer takes writes).
 * The mount reads through the newer copy, the check says the first differs, the repair renews it; then
 * the file still reads back with the second copy damaged.
 */
static uint8_t *move_packet_in_second_copy(struct disc *d, const struct tree *t, const struct where *w)
{
	uint32_t loc[2], len;
	const uint32_t pkt = 32; /* CD-RW as udf_format makes it */

	sparing_copies(d, loc, &len);
	uint64_t b0 = data_block(d, t->big, 0), p = (b0 + pkt - 1) / pkt * pkt;
	ck_assert_uint_eq(data_block(d, t->big, (p + pkt - 1 - b0) * BS), p + pkt - 1); /* wholly big's */
	uint8_t *copy2 = d->b + (uint64_t)loc[1] * BS, *e = copy2 + ST_MAP;
	ck_assert_uint_eq(le32(e + STE_ORIGINAL), 0xFFFFFFFFu); /* a fresh disc: the first entry free */
	uint32_t spare = le32(e + STE_MAPPED);
	uint8_t *orig = block_at(d, w->pstart, p);
	memcpy(d->b + (uint64_t)spare * BS, orig, (size_t)pkt * BS);
	memset(orig, 0, (size_t)pkt * BS);
	put_le32(e + STE_ORIGINAL, (uint32_t)p);
	put_le32(copy2 + ST_SEQ_NUM, le32(copy2 + ST_SEQ_NUM) + 1);
	udf_tag_finish(copy2, (len + BS - 1) / BS * BS);
	return copy2;
}

START_TEST(sparing_newer_copy_is_read)
{
	struct disc d;
	struct tree t;

	make_disc(&d, UDF_MEDIA_CDRW, &t);
	struct where w = where_of(&d);
	uint8_t *copy2 = move_packet_in_second_copy(&d, &t, &w);

	tree_reads_back(&d, &t); /* through the spare: the newer copy is the one read */
	d.writes = 0;
	check_repair_clean(&d, "the sparing table's copy 1 at sector");
	struct said s;
	struct udf_fsck_result r;
	sparing_copies_agree(&d);
	copy2[ST_MAP + 2] ^= 0x5a;
	tree_reads_back(&d, &t); /* the renewed first copy moves the packet too */
	ck_assert_int_eq(fsck(&d, false, &s, &r), 0);
	ck_assert_msg(strstr(s.text, "copy 2 at sector") && strstr(s.text, "1 of 32 spare packets"), "%s", s.text);
	free(d.b);
}
END_TEST

/* The same left by a daemon killed while it moved the packet: the next writable mount, which checks
 * the tree after an unclean shutdown, renews the first copy itself and says so. */
START_TEST(sparing_renewed_after_unclean_shutdown)
{
	struct disc d;
	struct tree t;

	make_disc(&d, UDF_MEDIA_CDRW, &t);
	struct where w = where_of(&d);
	move_packet_in_second_copy(&d, &t, &w);
	set_lvid_open(&d, &w);
	struct udf_fs *fs = mount_rw(&d);
	ck_assert_msg(strstr(udf_mount_note(fs), "1 of the sparing table's copies renewed"), "%s", udf_mount_note(fs));
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	sparing_copies_agree(&d);
	struct said s;
	struct udf_fsck_result r;
	ck_assert_int_eq(fsck(&d, false, &s, &r), 0);
	ck_assert_msg(r.problems == 0, "%s", s.text);
	tree_reads_back(&d, &t);
	free(d.b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udf_fsck");
	TCase *tc = tcase_create("fsck");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, clean_disc_is_clean, 0, 2);
	tcase_add_test(tc, lvid_open);
	tcase_add_test(tc, bitmap_says_free);
	tcase_add_test(tc, bitmap_leaks);
	tcase_add_test(tc, link_count);
	tcase_add_test(tc, orphan_to_lost_found);
	tcase_add_test(tc, unreadable_left_alone);
	tcase_add_test(tc, cross_link_left_alone);
	tcase_add_loop_test(tc, repair_cut_anywhere, 0, 2);
	tcase_add_loop_test(tc, hostile_never_crash, 0, 2);
	tcase_add_loop_test(tc, meta_clean_disc_is_clean, 0, 2);
	tcase_add_loop_test(tc, meta_bitmap_says_free, 0, 2);
	tcase_add_loop_test(tc, meta_bitmap_leaks, 0, 2);
	tcase_add_loop_test(tc, meta_files_marked_free, 0, 2);
	tcase_add_loop_test(tc, meta_mirror_differs, 0, 2);
	tcase_add_loop_test(tc, meta_file_damaged_from_mirror, 0, 2);
	tcase_add_loop_test(tc, meta_both_damaged_left_alone, 0, 2);
	tcase_add_loop_test(tc, meta_orphan_after_kill, 0, 2);
	tcase_add_loop_test(tc, meta_entry_rebuilt, 0, 12);
	tcase_add_loop_test(tc, meta_entry_unproved_left_alone, 0, 4);
	tcase_add_loop_test(tc, meta_grown_entry_rebuilt_or_left_alone, 0, 4);
	tcase_add_loop_test(tc, meta_both_entries_left_alone, 0, 2);
	tcase_add_loop_test(tc, sparing_copy_damaged, 0, 2);
	tcase_add_test(tc, sparing_newer_copy_is_read);
	tcase_add_test(tc, sparing_renewed_after_unclean_shutdown);
	tcase_add_loop_test(tc, meta_bitmap_entry_rebuilt, 0, 6);
	tcase_add_loop_test(tc, meta_bitmap_entry_new_data, 0, 2);
	tcase_add_loop_test(tc, meta_bitmap_entry_ambiguous_left_alone, 0, 2);
	tcase_add_loop_test(tc, meta_bitmap_entry_other_descriptor_left_alone, 0, 2);
	tcase_add_loop_test(tc, meta_bitmap_entry_orphan_named, 0, 2);
	tcase_add_loop_test(tc, meta_bitmap_new_data_deleted_stays_deleted, 0, 2);
	tcase_add_loop_test(tc, meta_bitmap_new_data_cut_anywhere, 0, 2);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
