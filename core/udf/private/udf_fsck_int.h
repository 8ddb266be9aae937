/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What pktfuse check's check (udf_fsck.c) hands its repair (udf_fsck_repair.c).  Not a public API. */
#ifndef PKTFUSE_UDF_FSCK_INT_H
#define PKTFUSE_UDF_FSCK_INT_H

#include "udf_fsck.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct fsck_parent_fix {
	uint64_t dir, parent; /* dir's parent entry is to name parent, where its only name is */
};

/* The fixes that need more than the recount (udf_recover) does. */
struct fsck_plan {
	uint64_t *dup_dirs; /* directories holding a name recorded twice */
	size_t ndup;
	struct fsck_parent_fix *pfix;
	size_t npfix;
	uint64_t *orphans; /* file entries (inode numbers) no directory reaches */
	size_t norphans;
	uint8_t *used; /* the blocks the check found in use (orphans' included), one bit each */
	uint64_t nbits;
	uint8_t *mused; /* the same of the metadata partition (NULL: none) */
	uint64_t mnbits;
	bool resync;	   /* the metadata mirror differs where the metadata file passed the check: renewed */
	uint32_t *restore; /* blocks of the metadata partition whose metadata file copy is a damaged
			    * descriptor and whose mirror copy a whole one */
	size_t nrestore;
	struct fsck_meta_entry *metafe; /* the metadata file's or mirror's entry, rebuilt (NULL: none) */
	unsigned sparing_renew;		/* copies of the sparing table (bit t: copy t) damaged or not the
					 * one read: written from the one read */
};

/* A damaged entry of the metadata file or its mirror, rebuilt from the other's (udf_fsck_metafe.c),
 * or of the metadata bitmap file (udf_fsck_mbmfe.c). */
struct fsck_meta_entry {
	uint8_t *block;	 /* the whole entry, tag finished */
	uint64_t sector; /* where it goes on the medium */
	uint32_t bs, loc;
	uint8_t ftype;		    /* META_FILE_TYPE, META_MIRROR_FILE_TYPE or META_BITMAP_FILE_TYPE */
	uint32_t data_lbn, nblocks; /* its data: blocks of the physical partition */
	/* the metadata bitmap file's new data (nblocks blocks, written before the entry) and each
	 * block's sector; NULL: the data stays where it was found */
	uint8_t *data;
	uint64_t *data_sectors;
};

void udf_fsck_plan_free(struct fsck_plan *p);

/* Mount options of both: the recount at mount is the repair's to run, never the mount's. */
#define UDF_FSCK_MOUNT_OPTS                                                \
	{                                                                  \
		.uid = 0, .gid = 0, .read_only = false, .no_recover = true \
	}

/* Formats a line and hands it to say. */
void udf_fsck_sayf(udf_fsck_say_fn say, void *ctx, enum udf_fsck_line kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* udf_fsck_repair.c: the metadata file's blocks plan->restore written from the mirror (the integrity
 * descriptor marked open first); 0, 1 when nothing was written (said why), or -errno with err. */
int udf_fsck_restore(const struct udf_io *io, const struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx, char *err,
		     size_t errlen);

/* udf_fsck_metafe.c: the rebuilt entry plan->metafe written in place (one block); 0 or -errno with
 * err. */
int udf_fsck_write_entry(const struct udf_io *io, const struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx,
			 char *err, size_t errlen);

/* udf_fsck_repair.c: applies plan and the recount onto io; 0, or -errno with err. */
int udf_fsck_repair(const struct udf_io *io, const struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx, char *err,
		    size_t errlen);

#endif
