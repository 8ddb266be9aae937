/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse check of a metadata partition (UDF 2.50/2.60 2.2.10-2.2.13; udf_fsck.c runs it): the
 * metadata file, its mirror and the metadata bitmap file loaded from the physical partition as
 * recorded (not through the writer, which may refuse them), their blocks owned there, the metadata
 * bitmap read for the walk to check the metadata partition's blocks against, and the two copies
 * compared block by block where the map says the mirror duplicates the metadata file.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_fsck_walk.h"
#include "udf_w.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One of the metadata partition's three files (UDF 2.50 2.2.13): *out its entry, of file type ftype
 * at block lbn of the physical partition, NULL after saying why not; 0 or -ENOMEM. */
static int meta_file(struct ck *ck, uint32_t lbn, uint8_t ftype, const char *what, struct node **out)
{
	struct udf_fs *fs = ck->fs;
	struct node *n = NULL;
	int rc = lbn == 0xFFFFFFFFu ? -ENOENT : udf_load_node(fs, 0, lbn, &n);

	*out = NULL;
	if (rc == -ENOMEM)
		return rc;
	/* the metadata file and its mirror are whole blocks of the metadata partition */
	if (rc || n->file_type != ftype || n->inline_data ||
	    (ftype != META_BITMAP_FILE_TYPE && n->size % fs->bs != 0)) {
		PROBLEM(ck, "the %s's entry at block %u cannot be read or is damaged", what, lbn);
		ck->unreadable = true;
		return 0;
	}
	*out = n;
	return 0;
}

bool fsck_mbm_lost(const struct ck *ck)
{
	return ck->bad_entry == META_BITMAP_FILE_TYPE;
}

/* Whether the metadata bitmap file's entry, which meta_file refused, may be rebuilt
 * (fsck_meta_bitmap_entry): its block is in the partition and holds no descriptor whose tag
 * verifies there (its checksum or CRC wrong, or zeroed: not another structure to overwrite), no
 * other entry is damaged (with two damaged neither is rebuilt), the metadata file's entry is there
 * to model it on, and the metadata partition's mblocks blocks (the stand-in bitmap's) fit the
 * physical partition. */
static bool bitmap_entry_rebuildable(struct ck *ck, uint32_t lbn, uint64_t mblocks)
{
	struct udf_fs *fs = ck->fs;

	return !ck->bad_entry && ck->mfile && mblocks > 0 && mblocks <= ck->nbits && lbn < ck->nbits &&
	       udf_read_lb(fs, 0, lbn, ck->buf) == 0 && udf_tag_check(ck->buf, fs->bs, lbn) < 0;
}

/* The metadata file and its mirror own their blocks of the physical partition. */
static void own_copies(struct ck *ck)
{
	const struct part *mp = &ck->fs->parts[ck->mpart];

	if (ck->mfile)
		fsck_own_meta_file(ck, ck->mfile, "(the UDF metadata file)");
	/* without the duplicate flag the mirror may describe the metadata file's own blocks */
	if (ck->mirror && (mp->meta_dup || mp->mirror_loc != mp->meta_loc))
		fsck_own_meta_file(ck, ck->mirror, "(the UDF metadata mirror file)");
}

/* Loads the metadata partition's files and its metadata bitmap as recorded, and owns the three
 * files' blocks in the physical partition: 0, 1 after saying why the check cannot go on, or
 * -ENOMEM. */
int fsck_load_meta(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	const struct part *mp = &fs->parts[ck->mpart];
	int rc;

	/* the mount reads the tree through the metadata file, or its mirror when the file's entry is
	 * damaged (said here) */
	bool unreadable = ck->unreadable;
	if ((rc = meta_file(ck, mp->meta_loc, META_FILE_TYPE, "metadata file", &ck->mfile)) != 0 ||
	    (rc = meta_file(ck, mp->mirror_loc, META_MIRROR_FILE_TYPE, "metadata mirror file", &ck->mirror)) != 0)
		return rc;
	/* one of the two entries damaged where the other is whole and duplicates it (UDF 2.50 2.2.13.1:
	 * the mirror is there for this): not beyond proof yet, fsck_meta_entry may rebuild it */
	if (mp->meta_dup && mp->meta_loc != mp->mirror_loc && mp->meta_loc != 0xFFFFFFFFu &&
	    mp->mirror_loc != 0xFFFFFFFFu && !ck->mfile != !ck->mirror) {
		ck->bad_entry = ck->mfile ? META_MIRROR_FILE_TYPE : META_FILE_TYPE;
		ck->unreadable = unreadable;
	}
	unreadable = ck->unreadable;
	if ((rc = meta_file(ck, mp->mbm_loc, META_BITMAP_FILE_TYPE, "metadata bitmap file", &ck->mbmf)) != 0)
		return rc;
	if (!mp->meta)
		return 1;
	uint64_t mblocks = mp->meta->size / fs->bs;
	if (!ck->mbmf) {
		if (unreadable || !bitmap_entry_rebuildable(ck, mp->mbm_loc, mblocks))
			return 1;
		/* the walk goes on without the bitmap: one calling every block used stands in, so that no
		 * block in use is called free; leaks, orphans and the mirror's blocks the walk did not
		 * reach wait for the check after the rebuild (fsck_mbm_lost) */
		ck->bad_entry = META_BITMAP_FILE_TYPE;
		ck->unreadable = false;
		ck->mnbits = mblocks;
		if (!(ck->msbd = calloc(1, SBD_BITMAP + mblocks / 8 + 1)))
			return -ENOMEM;
		own_copies(ck);
		return 0;
	}
	if (ck->mbmf->size < SBD_BITMAP || ck->mbmf->size > SBD_BITMAP + mblocks / 8 + 2ull * fs->bs) {
		PROBLEM(ck, "the metadata bitmap's recorded size does not match the metadata partition");
		return 1;
	}
	uint32_t nblk = blocks_of(fs, ck->mbmf->size);
	if (!(ck->msbd = malloc((size_t)nblk * fs->bs)))
		return -ENOMEM;
	for (uint32_t i = 0; i < nblk; i++) {
		uint32_t plbn;
		if (udf_meta_file_block(fs, ck->mbmf, 0, i, &plbn) ||
		    udf_read_lb(fs, 0, plbn, ck->msbd + (size_t)i * fs->bs)) {
			PROBLEM(ck, "the metadata bitmap's block %u cannot be read", i);
			return 1;
		}
	}
	/* the bitmap's bytes are the file's: its size bounds them, not its last block's end */
	if (!fsck_sbd_whole(ck->msbd, (size_t)nblk * fs->bs, UINT32_MAX, ck->mbmf->size, &ck->mnbits)) {
		PROBLEM(ck, "the metadata bitmap is damaged");
		return 1;
	}
	if (ck->mnbits != mblocks) {
		PROBLEM(ck, "the metadata bitmap describes %llu blocks; the metadata partition has %llu",
			(unsigned long long)ck->mnbits, (unsigned long long)mblocks);
		ck->unreadable = true; /* the writer refuses it: nothing a repair could write */
		if (ck->mnbits > mblocks)
			ck->mnbits = mblocks;
	}
	own_copies(ck);
	fsck_own_meta_file(ck, ck->mbmf, "(the UDF metadata bitmap file)");
	return 0;
}

/* Where the mirror is meant to duplicate the metadata file, the blocks of the metadata partition in
 * use (found by the walk, or marked used) hold the same in both.  A difference where the metadata
 * file's copy passed the walk is renewed by the repair from it; where the metadata file's copy is a
 * damaged descriptor and the mirror's a whole one, the repair first restores the metadata file's
 * from the mirror (plan.restore). */
int fsck_check_mirror(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	const struct part *mp = &fs->parts[ck->mpart];
	uint64_t differ = 0, first = 0;

	if (!mp->meta_dup || !ck->mfile || !ck->mirror)
		return 0;
	if (ck->mfile->size != ck->mirror->size) {
		PROBLEM(ck, "the metadata file holds %llu bytes and its mirror %llu",
			(unsigned long long)ck->mfile->size, (unsigned long long)ck->mirror->size);
		ck->unreadable = true;
		return 0;
	}
	uint8_t *mb = malloc(fs->bs);
	if (!mb)
		return -ENOMEM;
	for (uint64_t k = 0; k < ck->mnbits; k++) {
		uint32_t pa, pb;
		if (!fsck_seen(ck, ck->mpart, k) && (fsck_bm_free(ck, ck->mpart, k) || fsck_mbm_lost(ck)))
			continue; /* a free block's contents do not matter (without the bitmap: the walk's) */
		if (udf_meta_file_block(fs, ck->mfile, 0, (uint32_t)k, &pa) ||
		    udf_meta_file_block(fs, ck->mirror, 0, (uint32_t)k, &pb) || udf_read_lb(fs, 0, pa, ck->buf) ||
		    udf_read_lb(fs, 0, pb, mb)) {
			PROBLEM(ck,
				"block %llu of the metadata partition cannot be read in the metadata file or its "
				"mirror",
				(unsigned long long)k);
			ck->unreadable = true;
			continue;
		}
		if (memcmp(ck->buf, mb, fs->bs) == 0)
			continue;
		if (differ++ == 0)
			first = k;
		/* a descriptor (its identifier in either copy) whose metadata file copy fails its checks */
		bool tagged = le16(ck->buf + TAG_IDENT) != 0 || le16(mb + TAG_IDENT) != 0;
		if (tagged && udf_tag_check(ck->buf, fs->bs, (uint32_t)k) <= 0 &&
		    udf_tag_check(mb, fs->bs, (uint32_t)k) > 0) {
			PROBLEM(ck,
				"block %llu of the metadata partition: the metadata file's descriptor is damaged and "
				"its mirror's is whole",
				(unsigned long long)k);
			if (fsck_grow((void **)&ck->plan.restore, &ck->caprestore, ck->plan.nrestore,
				      sizeof(*ck->plan.restore))) {
				free(mb);
				return -ENOMEM;
			}
			ck->plan.restore[ck->plan.nrestore++] = (uint32_t)k;
		}
	}
	free(mb);
	if (differ) {
		PROBLEM(ck,
			"the metadata mirror differs from the metadata file in %llu block%s in use (the first at block "
			"%llu of the metadata partition)",
			(unsigned long long)differ, fsck_plural(differ), (unsigned long long)first);
		ck->plan.resync = true;
	}
	return 0;
}
