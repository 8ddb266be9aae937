/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The state of one pktfuse check (udf_fsck.c) and its walk of the tree (udf_fsck_walk.c).  Not a
 * public API. */
#ifndef PKTFUSE_UDF_FSCK_WALK_H
#define PKTFUSE_UDF_FSCK_WALK_H

#include "udf_check.h"
#include "udf_fsck_int.h"
#include "udf_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A node the walk reached, with the first path it was reached by. */
struct rec {
	struct node *n;
	char *path;
};

/* A directory found under a directory its parent entry does not name: decided once the walk is done. */
struct pending {
	uint64_t ino, dir;
	char *path;
};

struct ck {
	struct udf_fs *fs;
	udf_fsck_say_fn say;
	void *ctx;
	enum udf_fsck_line problem; /* how problems are worded: found, or left after a repair */
	bool quiet_info;
	uint64_t problems;
	bool unreadable;
	/* the space bitmap as recorded: bit set = free */
	uint8_t *sbd;
	uint32_t sbd_lbn, sbd_blocks;
	uint64_t nbits;
	struct udf_seen seen; /* the physical partition's blocks in use (.meta: mseen, with mpart) */
	/* a metadata partition (UDF 2.50+): its map (0: none), its metadata bitmap as recorded (bit set
	 * = free, mnbits blocks) and the blocks of it in use; the entries of its three files */
	uint16_t mpart;
	uint8_t *msbd;
	uint64_t mnbits;
	struct udf_seen mseen;
	struct node *mfile, *mirror, *mbmf;
	uint8_t bad_entry; /* META_FILE_TYPE or META_MIRROR_FILE_TYPE: that entry is damaged, the other
			    * whole and meant to duplicate it (fsck_meta_entry rebuilds it);
			    * META_BITMAP_FILE_TYPE: the metadata bitmap file's entry fails its tag check,
			    * msbd stands in calling every block used (fsck_meta_bitmap_entry rebuilds it);
			    * 0: none */
	uint8_t *buf;
	struct rec *recs;
	size_t nrecs, caprecs;
	uint64_t *ihash; /* ino → 1 + index in recs, open addressing */
	size_t ihash_mask;
	size_t *queue;	     /* directories to parse: indexes in recs */
	size_t nq, capq, qi; /* qi: the next to parse */
	struct pending *pend;
	size_t npend, cappend;
	uint64_t files, dirs, used_free, max_uniq;
	struct fsck_plan plan;
	size_t caprestore; /* the room of plan.restore (fsck_grow) */
};

#define PROBLEM(ck, ...)                                                         \
	do {                                                                     \
		(ck)->problems++;                                                \
		udf_fsck_sayf((ck)->say, (ck)->ctx, (ck)->problem, __VA_ARGS__); \
	} while (0)

/* Grows *arr (of *cap elements of elem bytes) to hold n: 0 or -ENOMEM. */
int fsck_grow(void **arr, size_t *cap, size_t n, size_t elem);
/* "s" after a count other than one. */
const char *fsck_plural(uint64_t n);
/* Whether part is a partition the check covers: the physical one (0) or the metadata partition. */
bool fsck_has_part(const struct ck *ck, uint16_t part);
/* The blocks of part (fsck_has_part) the check knows of. */
uint64_t fsck_nbits(const struct ck *ck, uint16_t part);
/* Whether the bitmap of part as recorded (the space bitmap, or the metadata bitmap) calls block b
 * free. */
bool fsck_bm_free(const struct ck *ck, uint16_t part, uint64_t b);
/* Whether the Space Bitmap Descriptor d (len bytes read; its tag at block loc, UINT32_MAX where
 * nothing records one: the metadata bitmap file's) is whole (ECMA-167 4/14.12): its tag, and a
 * count of bytes that holds its count of bits and fits room bytes (what records it).  *nbits: its
 * count of bits, whole or not.  Both bitmaps, the space bitmap and the metadata bitmap. */
bool fsck_sbd_whole(const uint8_t *d, size_t len, uint32_t loc, uint64_t room, uint64_t *nbits);
/* Whether block b of part was seen in use. */
bool fsck_seen(const struct ck *ck, uint16_t part, uint64_t b);
/* The index in ck->recs of the node ino, SIZE_MAX when it was not reached. */
size_t fsck_rec_find(const struct ck *ck, uint64_t ino);
/* A node reached for the first time: recorded, its blocks owned, its contents read or queued. */
int fsck_reach(struct ck *ck, struct node *c, const char *path);
/* Parses queued directories until none is left, then settles the pending ones (which may queue
 * more). */
int fsck_drain(struct ck *ck);
/* One of the metadata partition's three files (what names it): its entry and extents owned in the
 * physical partition, as a file's are, but no file of the tree. */
void fsck_own_meta_file(struct ck *ck, struct node *n, const char *what);
/* udf_fsck_meta.c: the metadata partition's three files and its metadata bitmap as recorded (the
 * three files' blocks owned): 0, 1 after saying why the check cannot go on, or -ENOMEM. */
int fsck_load_meta(struct ck *ck);
/* udf_fsck_meta.c: the mirror against the metadata file where the map says it duplicates it (after
 * the walk: the blocks in use are known); differences said and planned: 0 or -ENOMEM. */
int fsck_check_mirror(struct ck *ck);

/* udf_fsck_metafe.c: where ck->bad_entry is set, after the walk (the blocks in use are known): the
 * damaged file's data found by its contents and its entry rebuilt into ck->plan.metafe, the blocks
 * owned; or said why not (unreadable).  0 or -ENOMEM. */
int fsck_meta_entry(struct ck *ck);
/* udf_fsck_metafe.c: whether block b of the physical partition is marked used, owned by nothing the
 * check found, and not the space bitmap. */
bool fsck_unowned_used(const struct ck *ck, uint64_t b);
/* Whether the metadata bitmap as recorded is not known (its file's entry damaged): msbd then calls
 * every block used, and the metadata partition's leaks, orphans and the mirror's blocks the walk did
 * not reach are left to the check after the rebuild. */
bool fsck_mbm_lost(const struct ck *ck);
/* udf_fsck_mbmfe.c: where the metadata bitmap file's entry is damaged (fsck_mbm_lost), after the
 * walk: its data found by its contents, or a new space bitmap of the metadata partition planned in
 * free blocks, and its entry rebuilt into ck->plan.metafe, the blocks owned; or said why not
 * (unreadable).  0 or -ENOMEM. */
int fsck_meta_bitmap_entry(struct ck *ck);

#endif
