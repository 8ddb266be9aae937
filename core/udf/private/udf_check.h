/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the check after an unclean shutdown (udf_check.c) and pktfuse check (udf_fsck*.c) share: the
 * blocks a node and the file set's system streams own, and the blocks volume structures hold.  Not
 * a public API.  Under fs->lock.
 */
#ifndef PKTFUSE_UDF_CHECK_H
#define PKTFUSE_UDF_CHECK_H

#include "udf_int.h"

#include <stdbool.h>
#include <stdint.h>

/* Blocks of partition 0 seen in use: one bit each for nbits blocks. */
struct udf_seen {
	uint8_t *bits;
	uint64_t nbits;
	bool no_reclaim;       /* something owns blocks the walk does not follow: nothing unseen is provably free */
	struct udf_seen *meta; /* a metadata partition's blocks (map mpart), else NULL */
	uint16_t mpart;
};

static inline bool udf_seen_has(const struct udf_seen *s, uint64_t b)
{
	return b < s->nbits && (s->bits[b / 8] >> (b % 8) & 1);
}

void udf_seen_mark(struct udf_seen *s, uint64_t lbn, uint64_t n);
/* The node's file entry, continuation blocks, extents of partition 0, and those of its extended
 * attribute file, stream directory and streams (udf_for_attached; with any of them, no_reclaim:
 * what they might own beyond that is not proven). */
void udf_seen_node(struct udf_fs *fs, struct udf_seen *s, struct node *n);
/* The file set's system stream directory and the streams it names; buf is a block of scratch. */
void udf_seen_system_streams(struct udf_fs *fs, struct udf_seen *s, uint8_t *buf);
/* True when partition block b holds (part of) a volume structure (anchors, descriptor sequences, the
 * integrity sequence, sparing tables, the space bitmap of sbd_blocks at sbd_lbn, the file set
 * descriptor and its terminator unless they are in a metadata partition), whatever the bitmap says;
 * buf is a block of scratch. */
bool udf_is_volume_structure(struct udf_fs *fs, uint32_t sbd_lbn, uint32_t sbd_blocks, uint64_t b, uint8_t *buf);

#endif
