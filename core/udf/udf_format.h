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
	/* write-once (sequential): UDF 2.01 (BD-R: 2.50) with a virtual partition and a VAT */
	UDF_MEDIA_CDR,	    /* write units of 32 (packets; link_blocks 7 in a drive) */
	UDF_MEDIA_DVDR,	    /* 16 (ECC blocks) */
	UDF_MEDIA_DVDPLUSR, /* 16 */
	UDF_MEDIA_BDR,	    /* 32 (clusters); UDF 2.50 (as mkudffs and Nero: no metadata partition) */
};

struct udf_format_opts {
	/* 0x0102 (plain media), 0x0150, 0x0200, 0x0201, 0x0250 or 0x0260 (overwritable media: a metadata
	 * partition; write-once: a VAT, from 0x0200); 0 → udf_format_revision */
	unsigned revision;
	const char *label; /* UTF-8; NULL → "LinuxUDF" (as mkudffs) */
	uid_t uid;	   /* owner of the root directory ((uid_t)-1: not set) */
	gid_t gid;
	mode_t root_mode; /* permissions of the root directory; 0 → 0755 */
	enum udf_media media;
	unsigned packet_len; /* sparable media only; 0 → 32 on CD-RW, 16 on DVD-RW */
	uint32_t block_size; /* 512, 1024, 2048 or 4096 (sparable and write-once: 2048 only); 0 → 2048 */
	/* write-once media: blocks lost after every write unit (a CD-R in a drive: 7; image files: 0) */
	uint32_t link_blocks;
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
	/* write-once media (the FSD at virtual block 0, its terminator at 1, the root at 2) */
	uint32_t unit, link; /* write unit and the blocks lost after each, in sectors */
	uint32_t vphys[3];   /* sectors of the FSD, its terminator and the root's file entry */
	uint32_t vat;	     /* sector of the VAT's file entry: the last one the format writes */
	/* UDF 2.50+ (overwritable media): a metadata partition (partition map 1) over the physical one
	 * (map 0).  fsd and root are then blocks of the metadata partition; these are blocks of the
	 * physical one.  Each of the three files has one file entry and its data after it. */
	uint32_t meta_unit;		     /* allocation and alignment unit (a packet), in blocks; 0: none */
	uint32_t meta_blocks;		     /* the metadata partition's size: the metadata file's (and mirror's) */
	uint32_t meta_fe, mirror_fe, mbm_fe; /* file entries: metadata (250), mirror (251), bitmap (252) */
	uint32_t meta_start, mirror_start, mbm_start; /* where their data starts */
	uint32_t mbm_blocks;			      /* the metadata bitmap file's data */
	uint32_t meta_used;			      /* metadata partition blocks in use after the format */
};

/* The medium's packet (ECC block) in 2048-byte sectors: 32 on CD-RW, BD-RE and hard disks, 16 on DVD. */
uint32_t udf_media_packet(enum udf_media m);
/* The revision a format writes: o->revision, else 2.50 on BD-R (mkudffs' default) and 2.01 elsewhere. */
unsigned udf_format_revision(const struct udf_format_opts *o);
/* Whether media is write-once (recorded sequentially, with a VAT). */
int udf_media_write_once(enum udf_media m);
/* The write unit of write-once media in sectors (32 CD-R, 16 DVD±R, 32 BD-R), 0 otherwise. */
unsigned udf_media_unit(enum udf_media m);
/* The nominal capacity in sectors of a blank write-once disc of this type (an image of one has no
 * capacity of its own: it grows as it is written), 0 otherwise. */
uint64_t udf_media_capacity(enum udf_media m);

/* Computes the layout for size_bytes of medium.  0, or -EINVAL / -ENOSPC with a one-line reason. */
int udf_format_plan(const struct udf_format_opts *o, uint64_t size_bytes, struct udf_format_layout *l, char *err,
		    size_t errlen);

/* Writes the file system.  write() returns 0 or a negative errno.  On write-once media size_bytes is
 * the capacity of the disc, and what is written is sectors 0 to l.vat, in ascending order, one write
 * per write unit (link blocks skipped), the VAT's file entry last: nothing is written past it.  0, or a negative errno with a
 * one-line reason in err. */
int udf_format(const struct udf_format_opts *o, int (*write)(void *ctx, uint64_t off, size_t len, const void *buf),
	       void *ctx, uint64_t size_bytes, char *err, size_t errlen);

/* "hd", "cdrw", "dvdrw", "dvdram", "dvd+rw", "bdre", "cdr", "dvdr", "dvd+r", "bdr" (and a few
 * spellings) → media; -1 if unknown. */
int udf_media_parse(const char *name);
/* Whether label fits the volume identifiers (a dstring of 32 bytes): NULL when it does, else why not
 * ("not valid UTF-8", "too long (...)"), so that the formatter's caller can refuse before anything
 * is erased. */
const char *udf_label_problem(const char *label);
const char *udf_media_name(enum udf_media m);

#endif
