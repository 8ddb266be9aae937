/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse check of a metadata partition whose metadata bitmap file's entry (UDF 2.50 2.2.13.2, file
 * type 252) fails its tag check.  No second copy records it, but all it says is derivable: one
 * extent of the physical partition as long as a space bitmap of the metadata partition's blocks,
 * whose bits the repair's recount rebuilds from the tree anyway.  Only where the data lies is not:
 * it is found by its contents, as the metadata file's is (udf_fsck_metafe.c).  After the walk
 * (every file, the metadata file and its mirror own their blocks) the blocks the space bitmap calls
 * used that nothing owns are searched for a whole Space Bitmap Descriptor of exactly the metadata
 * partition's blocks, in a run of such blocks as long as the file.  Exactly one is the data; more
 * than one is said and nothing is written; none (the data zeroed or overwritten): a new space bitmap
 * of the metadata partition, calling used what the tree reaches, is planned in the first free run
 * of the physical partition.  The entry is the one the format writes (udf_format.c,
 * build_meta_file): the metadata file's own entry (the format writes the three alike and the writer
 * never rewrites them: times, identifiers, owner, tag version and serial) with file type 252, the
 * bitmap's size, one short allocation descriptor, no extended attributes, unique ID 0 and its tag at
 * its own block.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_fsck_walk.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Said why the entry stays as it is: then nothing is written. */
static int refuse(struct ck *ck, const char *why)
{
	PROBLEM(ck, "the metadata bitmap file's entry cannot be rebuilt: %s", why);
	ck->unreadable = true;
	return 0;
}

/* Whether the n blocks from base are all blocks test accepts and none a volume structure. */
static bool run_of(struct ck *ck, uint64_t base, uint32_t n, bool (*test)(const struct ck *, uint64_t))
{
	for (uint32_t k = 0; k < n; k++)
		if (base + k >= ck->nbits || !test(ck, base + k) ||
		    udf_is_volume_structure(ck->fs, ck->sbd_lbn, ck->sbd_blocks, base + k, ck->buf))
			return false;
	return true;
}

static bool free_unowned(const struct ck *ck, uint64_t b)
{
	return fsck_bm_free(ck, 0, b) && !fsck_seen(ck, 0, b);
}

/* The runs of n unowned used blocks whose first starts a Space Bitmap Descriptor of the metadata
 * partition's mnbits blocks that is whole in them (nbytes bytes: its bits fit the file's size) are
 * counted in *found (the first in *base), stopping at two.  d: room for n blocks. */
static void find_bitmap(struct ck *ck, uint32_t n, uint64_t nbytes, uint8_t *d, uint64_t *base, unsigned *found)
{
	struct udf_fs *fs = ck->fs;

	*found = 0;
	for (uint64_t b = 0; b < ck->nbits && *found < 2; b++) {
		uint64_t nbits = 0;
		if (!fsck_unowned_used(ck, b) || udf_read_lb(fs, 0, (uint32_t)b, d) != 0 ||
		    le16(d + TAG_IDENT) != TAG_SBD || !run_of(ck, b, n, fsck_unowned_used))
			continue;
		bool read = true;
		for (uint32_t k = 1; k < n && read; k++)
			read = udf_read_lb(fs, 0, (uint32_t)(b + k), d + (size_t)k * fs->bs) == 0;
		if (!read || !fsck_sbd_whole(d, (size_t)n * fs->bs, UINT32_MAX, nbytes, &nbits) ||
		    nbits != ck->mnbits || le32(d + SBD_NUM_BYTES) != (ck->mnbits + 7) / 8)
			continue;
		if ((*found)++ == 0)
			*base = b;
	}
}

/* A space bitmap of the metadata partition (n blocks, its tag at block base as the format records
 * it, version and serial as model's) calling used what the tree reaches (orphans are not looked for
 * without the bitmap: fsck_mbm_lost), the file set descriptor and its terminator (the writer requires
 * them used); NULL: out of memory. */
static uint8_t *new_bitmap(struct ck *ck, const uint8_t *model, uint32_t n, uint32_t base)
{
	struct udf_fs *fs = ck->fs;
	uint64_t nbytes = (ck->mnbits + 7) / 8;
	uint8_t *d = calloc(n, fs->bs);

	if (!d)
		return NULL;
	put_le32(d + SBD_NUM_BITS, (uint32_t)ck->mnbits);
	put_le32(d + SBD_NUM_BYTES, (uint32_t)nbytes);
	uint8_t *bits = d + SBD_BITMAP;
	for (uint64_t b = 0; b < ck->mnbits; b++) /* bit set = free; the bits past the end stay 0 */
		if (!fsck_seen(ck, ck->mpart, b) && b != fs->fsd_lbn && b != (uint64_t)fs->fsd_lbn + 1)
			bits[b / 8] |= (uint8_t)(1u << (b % 8));
	/* the tag's CRC covers only the header, as the format's (and mkudffs') */
	udf_put_tag(d, TAG_SBD, le16(model + TAG_DESC_VERSION), le16(model + TAG_SERIAL), base, SBD_BITMAP - TAG_SIZE);
	udf_tag_finish(d, SBD_BITMAP);
	return d;
}

/* The entry at block loc: model's (the metadata file's Extended File Entry) as the format writes the
 * bitmap file's, nbytes long from block base.  NULL: out of memory. */
static uint8_t *build_entry(struct ck *ck, const uint8_t *model, uint32_t loc, uint32_t base, uint64_t nbytes)
{
	struct udf_fs *fs = ck->fs;
	uint8_t *e = calloc(1, fs->bs);

	if (!e)
		return NULL;
	memcpy(e, model, EFE_SIZE); /* times, identifiers, owner, permissions, link count, checkpoint */
	e[ICB_FILE_TYPE] = META_BITMAP_FILE_TYPE;
	put_le64(e + FE_INFO_LENGTH, nbytes);
	put_le64(e + EFE_OBJECT_SIZE, nbytes);
	put_le64(e + EFE_BLOCKS_RECORDED, blocks_of(fs, nbytes));
	memset(e + EFE_EA_ICB, 0, LAD_SIZE);
	memset(e + EFE_STREAM_DIR_ICB, 0, LAD_SIZE);
	put_le64(e + EFE_UNIQUE_ID, 0); /* the three files' unique ID is 0 */
	put_le32(e + EFE_EA_LEN, 0);
	put_le32(e + EFE_AD_LEN, SAD_SIZE);
	put_le32(e + EFE_SIZE + AD_LEN, (uint32_t)nbytes); /* type 0: recorded */
	put_le32(e + EFE_SIZE + SAD_POS, base);
	udf_put_tag(e, TAG_EFE, le16(model + TAG_DESC_VERSION), le16(model + TAG_SERIAL), loc,
		    EFE_SIZE + SAD_SIZE - TAG_SIZE);
	udf_tag_finish(e, fs->bs);
	return e;
}

/* The metadata file's entry read again into model: an Extended File Entry with short allocation
 * descriptors, as the bitmap file's must be (UDF 2.50 2.2.13); false: not one to model on. */
static bool read_model(struct ck *ck, uint8_t *model)
{
	struct udf_fs *fs = ck->fs;
	uint32_t lbn = ck->mfile->fe_lbn;

	return udf_read_lb(fs, 0, lbn, model) == 0 && udf_tag_check(model, fs->bs, lbn) == TAG_EFE &&
	       (le16(model + ICB_FLAGS) & 7) == 0;
}

int fsck_meta_bitmap_entry(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	uint32_t loc = fs->parts[ck->mpart].mbm_loc;
	uint64_t nbytes = SBD_BITMAP + (ck->mnbits + 7) / 8;
	uint32_t n = blocks_of(fs, nbytes);

	if (nbytes > AD_LEN_MASK)
		return refuse(ck, "the metadata partition's bitmap would not fit one extent");
	if (loc >= ck->nbits || fsck_seen(ck, 0, loc))
		return refuse(ck, "its block lies outside the partition or belongs to another file");
	udf_seen_mark(&ck->seen, loc, 1); /* the entry's block is the file's, not leaked */
	uint8_t *model = malloc(fs->bs), *d = malloc((size_t)n * fs->bs);
	if (!model || !d) {
		free(model);
		free(d);
		return -ENOMEM;
	}
	if (!read_model(ck, model)) {
		free(model);
		free(d);
		return refuse(ck, "the metadata file's entry is not an Extended File Entry with short allocation "
				  "descriptors to model it on");
	}
	uint64_t base = 0, sector = 0, *sectors = NULL;
	unsigned found;
	const char *why = NULL;
	uint8_t *e = NULL;
	struct fsck_meta_entry *m = NULL;
	int rc = 0;
	find_bitmap(ck, n, nbytes, d, &base, &found);
	free(d);
	d = NULL;
	if (found > 1) {
		why = "more than one run of blocks no file owns holds a space bitmap of the metadata partition";
	} else if (found == 0) { /* the first free run gets a new one */
		while (base < ck->nbits && !run_of(ck, base, n, free_unowned))
			base++;
		if (base >= ck->nbits)
			why = "no space bitmap of the metadata partition lies in blocks no file owns, and no run of "
			      "free blocks is there for a new one";
		else if (!(d = new_bitmap(ck, model, n, (uint32_t)base)) || !(sectors = calloc(n, sizeof(*sectors))))
			rc = -ENOMEM;
		for (uint32_t k = 0; rc == 0 && !why && k < n; k++)
			if (udf_map_block(fs, 0, (uint32_t)(base + k), &sectors[k]))
				why = "the new bitmap's blocks have no place on the medium";
	}
	if (rc == 0 && !why && udf_map_block(fs, 0, loc, &sector))
		why = "its block has no place on the medium";
	if (rc == 0 && !why &&
	    (!(e = build_entry(ck, model, loc, (uint32_t)base, nbytes)) || !(m = malloc(sizeof(*m)))))
		rc = -ENOMEM;
	free(model);
	if (rc || why) {
		free(e);
		free(d);
		free(sectors);
		return rc ? rc : refuse(ck, why);
	}
	*m = (struct fsck_meta_entry){e, sector, fs->bs, loc, META_BITMAP_FILE_TYPE, (uint32_t)base, n, d, sectors};
	ck->plan.metafe = m;
	udf_seen_mark(&ck->seen, base, n);
	if (!ck->quiet_info && !d)
		udf_fsck_sayf(
			ck->say, ck->ctx, UDF_FSCK_INFO,
			"the metadata bitmap file's data lies at blocks %llu-%llu (blocks no file owns holding a space "
			"bitmap of the metadata partition's %llu blocks): the repair rebuilds its entry",
			(unsigned long long)base, (unsigned long long)(base + n - 1), (unsigned long long)ck->mnbits);
	else if (!ck->quiet_info)
		udf_fsck_sayf(
			ck->say, ck->ctx, UDF_FSCK_INFO,
			"no space bitmap of the metadata partition lies in blocks no file owns: the repair writes "
			"a new one at the free blocks %llu-%llu and rebuilds the entry",
			(unsigned long long)base, (unsigned long long)(base + n - 1));
	return 0;
}
