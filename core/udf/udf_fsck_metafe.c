/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse check of a metadata partition whose metadata file's entry, or its mirror's, is damaged
 * (UDF 2.50 2.2.13.1: with the duplicate flag the mirror is kept so that the metadata can be
 * recovered when one copy is damaged).  The other copy's entry says how big the file is and how its
 * extents are cut, but not where the damaged file's own data lies: that is nowhere else on the disc
 * (the partition map names only the entries).  Copying the other entry's allocation descriptors
 * would point both files at the same blocks, and the next commit would write the metadata over
 * themselves while the second copy no longer exists.  So the data is found by its contents: blocks
 * the space bitmap calls used and no file owns (after the walk every file, the other copy and the
 * metadata bitmap file own theirs), in one run as long as the metadata partition, which hold the
 * same as the other copy in every block of the metadata partition in use (the file set descriptor,
 * which every volume has, picks the candidates cheaply).  Exactly one such run is the file's data;
 * none or more than one is said, and nothing is written.  The entry is then the other's with its
 * file type, its descriptors pointing there (cut as the other's are), a unique ID of 0 and its own
 * tag location.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_fsck_walk.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAY(kind, ...) udf_fsck_sayf(say, ctx, kind, __VA_ARGS__)

static const char *file_name(uint8_t ftype)
{
	return ftype == META_FILE_TYPE		? "metadata file"
	       : ftype == META_MIRROR_FILE_TYPE ? "metadata mirror file"
						: "metadata bitmap file";
}

static const char *other_name(uint8_t ftype)
{
	return ftype == META_FILE_TYPE ? "its mirror" : "the metadata file";
}

/* Whether block b may be the damaged file's data (udf_fsck_walk.h). */
bool fsck_unowned_used(const struct ck *ck, uint64_t b)
{
	return !fsck_seen(ck, 0, b) && !fsck_bm_free(ck, 0, b) &&
	       !(b >= ck->sbd_lbn && b < (uint64_t)ck->sbd_lbn + ck->sbd_blocks);
}

/* Whether the n blocks from base hold what good holds in every block of the metadata partition in
 * use (found by the walk, or marked used), and none of them is a volume structure.  a and b: a block
 * each. */
static bool same_data(struct ck *ck, const struct node *good, uint64_t base, uint32_t n, uint8_t *a, uint8_t *b)
{
	struct udf_fs *fs = ck->fs;

	for (uint32_t k = 0; k < n; k++) {
		uint32_t pg;
		if (udf_is_volume_structure(fs, ck->sbd_lbn, ck->sbd_blocks, base + k, a))
			return false;
		if (k < ck->mnbits && !fsck_seen(ck, ck->mpart, k) && fsck_bm_free(ck, ck->mpart, k))
			continue; /* a free block's contents do not matter */
		if (udf_meta_file_block(fs, good, 0, k, &pg) || udf_read_lb(fs, 0, pg, a) ||
		    udf_read_lb(fs, 0, (uint32_t)(base + k), b) || memcmp(a, b, fs->bs) != 0)
			return false;
	}
	return true;
}

/* The runs of unowned used blocks at least n long whose block anchor from the start holds ref are
 * candidates; those whose data is the same as good's are counted in *found (the first in *base),
 * stopping at two.  0 or -ENOMEM. */
static int find_data(struct ck *ck, const struct node *good, uint32_t n, uint32_t anchor, const uint8_t *ref,
		     uint64_t *base, unsigned *found)
{
	struct udf_fs *fs = ck->fs;
	uint8_t *a = malloc(fs->bs), *b = malloc(fs->bs);
	int rc = a && b ? 0 : -ENOMEM;

	*found = 0;
	for (uint64_t rs = 0; rc == 0 && rs < ck->nbits && *found < 2;) {
		if (!fsck_unowned_used(ck, rs)) {
			rs++;
			continue;
		}
		uint64_t re = rs;
		while (re < ck->nbits && fsck_unowned_used(ck, re))
			re++;
		for (uint64_t s = rs; s + n <= re && *found < 2; s++) {
			if (udf_read_lb(fs, 0, (uint32_t)(s + anchor), a) || memcmp(a, ref, fs->bs) != 0 ||
			    !same_data(ck, good, s, n, a, b))
				continue;
			if ((*found)++ == 0)
				*base = s;
		}
		rs = re;
	}
	free(a);
	free(b);
	return rc;
}

/* The entry of file type ftype at block loc: good's, its descriptors cut as good's are but laid from
 * base.  NULL with *why when good's entry is not one to copy; -ENOMEM in *err. */
static uint8_t *build_entry(struct ck *ck, const struct node *good, uint8_t ftype, uint32_t loc, uint32_t base,
			    const char **why, int *err)
{
	struct udf_fs *fs = ck->fs;
	uint8_t *g = ck->buf;
	int tag;

	*err = 0;
	if (udf_read_lb(fs, 0, good->fe_lbn, g) ||
	    ((tag = udf_tag_check(g, fs->bs, good->fe_lbn)) != TAG_FE && tag != TAG_EFE)) {
		*why = "its entry cannot be read again";
		return NULL;
	}
	bool efe = tag == TAG_EFE;
	uint32_t head = efe ? EFE_SIZE : FE_SIZE, lea = le32(g + (efe ? EFE_EA_LEN : FE_EA_LEN));
	uint64_t end = (uint64_t)head + lea + (uint64_t)SAD_SIZE * good->next;
	/* UDF 2.50 2.2.13.1: short allocation descriptors of the physical partition */
	if ((le16(g + ICB_FLAGS) & 7) != 0 || end > fs->bs) {
		*why = "its entry does not record short allocation descriptors in one block";
		return NULL;
	}
	uint8_t *e = calloc(1, fs->bs);
	if (!e) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(e, g, head + lea); /* sizes, times, identifiers and extended attributes are the same */
	e[ICB_FILE_TYPE] = ftype;
	put_le64(e + (efe ? EFE_UNIQUE_ID : FE_UNIQUE_ID), 0); /* the three files' unique ID is 0 */
	uint32_t at = base;
	for (uint32_t i = 0; i < good->next; i++) {
		uint8_t *ad = e + head + lea + (size_t)SAD_SIZE * i;
		put_le32(ad + AD_LEN, good->ext[i].len); /* type 0: recorded (checked by the caller) */
		put_le32(ad + SAD_POS, at);
		at += good->ext[i].len / fs->bs;
	}
	put_le32(e + (efe ? EFE_AD_LEN : FE_AD_LEN), SAD_SIZE * good->next);
	put_le32(e + TAG_LOCATION, loc);
	put_le16(e + TAG_CRC_LENGTH, (uint16_t)(end - TAG_SIZE));
	udf_tag_finish(e, fs->bs); /* the serial number stays the other entry's: one volume's */
	if (udf_tag_check(e, fs->bs, loc) != tag) {
		free(e);
		*why = "the rebuilt entry does not verify";
		return NULL;
	}
	return e;
}

/* Said why the entry stays as it is: then nothing is written. */
static int refuse(struct ck *ck, const char *why)
{
	PROBLEM(ck, "the %s's entry cannot be rebuilt from %s's: %s", file_name(ck->bad_entry),
		other_name(ck->bad_entry), why);
	ck->unreadable = true;
	return 0;
}

int fsck_meta_entry(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	const struct part *mp = &fs->parts[ck->mpart];
	uint8_t ftype = ck->bad_entry;

	if (!ftype || ck->unreadable)
		return 0; /* nothing damaged, or a repair would not run anyway */
	if (ftype == META_BITMAP_FILE_TYPE)
		return fsck_meta_bitmap_entry(ck);
	const struct node *good = ftype == META_FILE_TYPE ? ck->mirror : ck->mfile;
	uint32_t loc = ftype == META_FILE_TYPE ? mp->meta_loc : mp->mirror_loc, n = (uint32_t)(good->size / fs->bs);
	uint64_t sum = 0;

	for (uint32_t i = 0; i < good->next; i++) {
		const struct extent *x = &good->ext[i];
		if (x->type != 0 || x->part != 0 || x->len % fs->bs != 0 || x->len > AD_LEN_MASK)
			return refuse(ck, "the other entry's extents are not all whole recorded blocks");
		sum += x->len;
	}
	if (n == 0 || sum != good->size || fs->fsd_lbn >= n)
		return refuse(ck, "the other entry's extents do not hold the metadata partition");
	if (loc >= ck->nbits || fsck_seen(ck, 0, loc))
		return refuse(ck, "its block lies outside the partition or belongs to another file");
	udf_seen_mark(&ck->seen, loc, 1); /* the entry's block is the file's, not leaked */
	/* the file set descriptor as the other copy holds it: the first block compared */
	uint32_t pref;
	uint8_t *ref = malloc(fs->bs);
	if (!ref)
		return -ENOMEM;
	if (udf_meta_file_block(fs, good, 0, fs->fsd_lbn, &pref) || udf_read_lb(fs, 0, pref, ref)) {
		free(ref);
		return refuse(ck, "the other copy's file set descriptor cannot be read");
	}
	uint64_t base = 0;
	unsigned found;
	int rc = find_data(ck, good, n, fs->fsd_lbn, ref, &base, &found);
	free(ref);
	if (rc)
		return rc;
	if (found != 1)
		return refuse(ck,
			      found ? "more than one run of blocks holds the same data"
				    : "no run of blocks the space bitmap calls used and no file owns holds the same "
				      "data wherever the metadata partition is in use");
	uint64_t sector;
	if (udf_map_block(fs, 0, loc, &sector))
		return refuse(ck, "its block has no place on the medium");
	const char *why = NULL;
	uint8_t *e = build_entry(ck, good, ftype, loc, (uint32_t)base, &why, &rc);
	if (!e)
		return rc ? rc : refuse(ck, why);
	struct fsck_meta_entry *m = malloc(sizeof(*m));
	if (!m) {
		free(e);
		return -ENOMEM;
	}
	*m = (struct fsck_meta_entry){e, sector, fs->bs, loc, ftype, (uint32_t)base, n, NULL, NULL};
	ck->plan.metafe = m;
	udf_seen_mark(&ck->seen, base, n);
	if (!ck->quiet_info)
		udf_fsck_sayf(ck->say, ck->ctx, UDF_FSCK_INFO,
			      "the %s's data lies at blocks %llu-%llu (the same as %s's wherever the metadata "
			      "partition is in use): the repair rebuilds its entry",
			      file_name(ftype), (unsigned long long)base, (unsigned long long)(base + n - 1),
			      other_name(ftype));
	return 0;
}

/*
 * The LVID is not marked open first: this one block is written alone, before anything else, and
 * the disc is whole whether it lands or not (before, the mount reads through the other copy; after,
 * both copies' entries verify and their data agrees wherever it is in use, as checked); nothing the
 * LVID counts changes.  The repair that follows marks it open as for any change.
 */
int udf_fsck_write_entry(const struct udf_io *io, const struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx,
			 char *err, size_t errlen)
{
	const struct fsck_meta_entry *m = plan->metafe;
	int rc = 0;

	/* the metadata bitmap file's new data first, into blocks the space bitmap calls free and nothing
	 * owns: cut before the entry, the disc is as it was.  After it they stay marked free until the
	 * repair that follows marks them used (a check says so; meanwhile the writer refuses the disc,
	 * so nothing allocates them) */
	for (uint32_t k = 0; m->data && k < m->nblocks && rc == 0; k++)
		rc = io->write(io->ctx, m->data_sectors[k] * m->bs, m->bs, m->data + (size_t)k * m->bs);
	if (rc == 0 && m->data && io->flush)
		rc = io->flush(io->ctx);
	if (rc) {
		snprintf(err, errlen, "the %s's new data could not be written (%s)", file_name(m->ftype),
			 strerror(-rc));
		return rc;
	}
	rc = io->write(io->ctx, m->sector * m->bs, m->bs, m->block);
	if (rc == 0 && io->flush)
		rc = io->flush(io->ctx);
	if (rc) {
		snprintf(err, errlen, "the %s's rebuilt entry could not be written (%s)", file_name(m->ftype),
			 strerror(-rc));
		return rc;
	}
	if (m->ftype == META_BITMAP_FILE_TYPE)
		SAY(UDF_FSCK_REPAIR, "the %s's entry at block %u rebuilt (its data at blocks %u-%u%s)",
		    file_name(m->ftype), m->loc, m->data_lbn, m->data_lbn + m->nblocks - 1,
		    m->data ? ", a new space bitmap of the metadata partition written there" : "");
	else
		SAY(UDF_FSCK_REPAIR, "the %s's entry at block %u rebuilt from %s's (its data at blocks %u-%u)",
		    file_name(m->ftype), m->loc, other_name(m->ftype), m->data_lbn, m->data_lbn + m->nblocks - 1);
	return 0;
}
