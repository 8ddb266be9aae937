/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writing a fresh, empty UDF file system (what mkudffs does), laid out for the medium:
 * a plain type-1 partition (hard disk images, DVD-RAM, DVD+RW, BD-RE) or a sparable partition with
 * sparing tables and spare packets (CD-RW: packets of 32, DVD-RW: packets of 16).  The partition's
 * free space is an unallocated space bitmap; the root directory is a File Entry with its directory
 * embedded.  Everything goes through a caller-supplied write callback (the packet cache, for a disc).
 */
#ifndef PKTFUSE_UDF_FORMAT_H
#define PKTFUSE_UDF_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum udf_media {
	UDF_MEDIA_HD,	     /* an image file or a hard disk: plain partition */
	UDF_MEDIA_CDRW,	     /* sparable, packets of 32 */
	UDF_MEDIA_DVDRW,     /* sparable, packets of 16 */
	UDF_MEDIA_DVDRAM,    /* plain (the drive spares defects itself) */
	UDF_MEDIA_DVDPLUSRW, /* plain */
	UDF_MEDIA_BDRE,	     /* plain (the drive spares defects itself) */
};

struct udf_format_opts {
	unsigned revision; /* 0x0150, 0x0200 or 0x0201; 0 → 0x0201 */
	const char *label; /* UTF-8; NULL → "LinuxUDF" (as mkudffs) */
	uid_t uid;	   /* owner of the root directory ((uid_t)-1: not set) */
	gid_t gid;
	mode_t root_mode; /* permissions of the root directory; 0 → 0755 */
	enum udf_media media;
	unsigned packet_len; /* sparable media only; 0 → 32 on CD-RW, 16 on DVD-RW */
	uint32_t block_size; /* 0 → 2048 (the only size the block layer has) */
};

/* Where everything goes, in blocks (sectors of block_size bytes) from the start of the medium. */
struct udf_format_layout {
	uint64_t blocks; /* N */
	uint32_t mvds, rvds, vds_len;
	uint32_t lvid, lvid_len;
	uint32_t anchor[3];    /* 256, N-257, N-1 */
	uint32_t packet_len;   /* sparable: packet length; else 0 */
	uint32_t stable[2];    /* sparable: the sparing tables */
	uint32_t stable_bytes; /* size of each sparing table */
	uint32_t spare_start, spare_blocks;
	uint32_t part_start, part_len;
	uint32_t bitmap_blocks; /* the space bitmap, at partition block 0 */
	uint32_t fsd, root;	/* partition blocks of the File Set Descriptor and the root FE */
	uint32_t used;		/* partition blocks in use after the format */
};

/* Computes the layout for size_bytes of medium.  0, or -EINVAL / -ENOSPC with a one-line reason. */
int udf_format_plan(const struct udf_format_opts *o, uint64_t size_bytes, struct udf_format_layout *l, char *err,
		    size_t errlen);

/* Writes the file system.  write() returns 0 or a negative errno.  0, or a negative errno with a
 * one-line reason in err. */
int udf_format(const struct udf_format_opts *o, int (*write)(void *ctx, uint64_t off, size_t len, const void *buf),
	       void *ctx, uint64_t size_bytes, char *err, size_t errlen);

/* "hd", "cdrw", "dvdrw", "dvdram", "dvd+rw", "bdre" (and a few spellings) → media; -1 if unknown. */
int udf_media_parse(const char *name);
/* Whether label fits the volume identifiers (a dstring of 32 bytes): NULL when it does, else why not
 * ("not valid UTF-8", "too long (...)"), so that the formatter's caller can refuse before anything
 * is erased. */
const char *udf_label_problem(const char *label);
const char *udf_media_name(enum udf_media m);

#endif
