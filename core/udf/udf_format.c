/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A fresh UDF file system, laid out as mkudffs (udftools 2.3) lays it out for each medium:
 *
 *   plain (hd, DVD-RAM, DVD+RW, BD-RE)      sparable (CD-RW packets of 32, DVD-RW packets of 16)
 *   16..18   VRS (BEA01, NSR02/03, TEA01)    16..18   VRS
 *   96       main VDS (16 blocks)            96       main VDS (one packet)
 *   128      LVID + TD (4 blocks)            112/160  first sparing table (after the VDS or the LVID)
 *   256      anchor                          128      LVID + TD (one packet)
 *   257      partition (length: N-514        256      anchor
 *            rounded down to 8 blocks)       288/272  1024 blocks of spare packets (first packet after 256)
 *   N-257    anchor                          1312/1296 partition, up to N-257 rounded down to a packet
 *   N-160↓   reserve VDS (aligned to 32)     N-257    anchor
 *   N-1      anchor                          N-160↓   reserve VDS;  N-packet↓: second sparing table
 *                                            N-1      anchor
 *
 * Inside the partition: the unallocated space bitmap at block 0, then the File Set Descriptor, its
 * Terminating Descriptor and the root directory's File Entry (the directory embedded in it: a single
 * parent FID pointing to the root itself).  Everything else in the partition is free.  UDF 2.50 and
 * 2.60 put the FSD and the root into a metadata partition (plan_metadata).
 */
#define _GNU_SOURCE
#include "udf_format.h"
#include "udf_desc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SPARE_BLOCKS 1024u
#define MIN_PART_BLOCKS 64u
#define WRITE_CHUNK (256u * 1024u)

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v / a * a;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static const struct {
	const char *name;
	enum udf_media media;
} media_names[] = {
	{"hd", UDF_MEDIA_HD},	       {"cdrw", UDF_MEDIA_CDRW},	 {"cd-rw", UDF_MEDIA_CDRW},
	{"dvdrw", UDF_MEDIA_DVDRW},    {"dvd-rw", UDF_MEDIA_DVDRW},	 {"dvdram", UDF_MEDIA_DVDRAM},
	{"dvd-ram", UDF_MEDIA_DVDRAM}, {"dvd+rw", UDF_MEDIA_DVDPLUSRW},	 {"dvdplusrw", UDF_MEDIA_DVDPLUSRW},
	{"bdre", UDF_MEDIA_BDRE},      {"bd-re", UDF_MEDIA_BDRE},	 {"cdr", UDF_MEDIA_CDR},
	{"cd-r", UDF_MEDIA_CDR},       {"dvdr", UDF_MEDIA_DVDR},	 {"dvd-r", UDF_MEDIA_DVDR},
	{"dvd+r", UDF_MEDIA_DVDPLUSR}, {"dvdplusr", UDF_MEDIA_DVDPLUSR}, {"bdr", UDF_MEDIA_BDR},
	{"bd-r", UDF_MEDIA_BDR},
};

const char *udf_label_problem(const char *label)
{
	uint8_t probe[32];

	if (udf_put_dstring(probe, sizeof(probe), label) >= 0)
		return NULL;
	return udf_utf8_to_cs0(label, probe, 0) == -EINVAL ? "not valid UTF-8"
							   : "too long (at most 30 Latin-1 or 15 other characters)";
}

int udf_media_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(media_names) / sizeof(media_names[0]); i++)
		if (!strcasecmp(name, media_names[i].name))
			return (int)media_names[i].media;
	return -1;
}

const char *udf_media_name(enum udf_media m)
{
	static const char *const names[] = {"hd",   "cdrw", "dvdrw", "dvdram", "dvd+rw",
					    "bdre", "cdr",  "dvdr",  "dvd+r",  "bdr"};
	return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

unsigned udf_format_revision(const struct udf_format_opts *o)
{
	return o->revision ? o->revision : o->media == UDF_MEDIA_BDR ? 0x0250 : 0x0201;
}

int udf_media_write_once(enum udf_media m)
{
	return m >= UDF_MEDIA_CDR && m <= UDF_MEDIA_BDR;
}

unsigned udf_media_unit(enum udf_media m)
{
	return m == UDF_MEDIA_CDR || m == UDF_MEDIA_BDR ? 32 : m == UDF_MEDIA_DVDR || m == UDF_MEDIA_DVDPLUSR ? 16 : 0;
}

uint64_t udf_media_capacity(enum udf_media m)
{
	switch (m) {
	case UDF_MEDIA_CDR:
		return 359847; /* 80 minutes */
	case UDF_MEDIA_DVDR:
		return 2298496; /* 4.7 GB */
	case UDF_MEDIA_DVDPLUSR:
		return 2295104;
	case UDF_MEDIA_BDR:
		return 12219392; /* 25 GB */
	default:
		return 0;
	}
}

/* A sector a write can record: on a CD-R in a drive link_blocks follow every write unit. */
static bool wo_writable(const struct udf_format_layout *l, uint64_t s)
{
	return !l->link || s % (l->unit + l->link) < l->unit;
}

/* The first sector from `from` on that starts len writable sectors in a row. */
static uint32_t wo_fit(const struct udf_format_layout *l, uint32_t from, uint32_t len)
{
	for (uint32_t s = from;; s++) {
		uint32_t k = 0;
		while (k < len && wo_writable(l, (uint64_t)s + k))
			k++;
		if (k == len)
			return s;
	}
}

/*
 * Write-once media (UDF 2.01 6.11-6.12, as mkudffs and Windows lay it out): everything the format
 * writes comes before the partition's first free block, in ascending order.
 *   16..18 VRS, 32↑ main VDS (16), reserve VDS (16), LVID + TD (2), 256 anchor,
 *   257 partition: FSD, TD, root (virtual blocks 0, 1, 2), padding, VAT's file entry as the
 *   last sector of the write unit (the kernel looks for it at the last recorded sector).
 * The second anchor (N-257 or N-1) is written only when the disc is closed.
 */
static int plan_write_once(const struct udf_format_opts *o, uint64_t n, unsigned rev, struct udf_format_layout *l,
			   char *err, size_t errlen)
{
	if (o->block_size && o->block_size != 2048) {
		snprintf(err, errlen, "block size %u: write-once discs have sectors of 2048 bytes", o->block_size);
		return -EINVAL;
	}
	if (rev < 0x0200) {
		snprintf(err, errlen, "UDF %x.%02x on write-once media: pktfuse writes the VAT of 2.00 to 2.60 only",
			 rev >> 8, rev & 0xff);
		return -EINVAL;
	}
	if (o->media == UDF_MEDIA_BDR && rev < 0x0250) {
		snprintf(err, errlen,
			 "UDF %x.%02x on BD-R: BD-R takes 2.50 (the default) or 2.60, the revisions that "
			 "describe it",
			 rev >> 8, rev & 0xff);
		return -EINVAL;
	}
	l->unit = udf_media_unit(o->media);
	l->link = o->link_blocks;
	if (l->link > 64) {
		snprintf(err, errlen, "%u link blocks: more than any medium loses", l->link);
		return -EINVAL;
	}
	l->vds_len = 16;
	l->lvid_len = 2;
	l->mvds = wo_fit(l, 32, l->vds_len);
	/* the main and reserve VDS in different ECC blocks (UDF 2.60 2.2.3): DVD±R 16, BD-R 32 sectors */
	uint32_t ecc = o->media == UDF_MEDIA_CDR ? 1 : l->unit;
	l->rvds = wo_fit(l, (uint32_t)align_up(l->mvds + l->vds_len, ecc), l->vds_len);
	l->lvid = wo_fit(l, l->rvds + l->vds_len, l->lvid_len);
	l->anchor[0] = AVDP_SECTOR;
	l->part_start = AVDP_SECTOR + 1;
	if (l->lvid + l->lvid_len > AVDP_SECTOR || !wo_writable(l, AVDP_SECTOR)) {
		snprintf(err, errlen, "the volume structures do not fit before sector 256 with these write units");
		return -EINVAL;
	}
	uint32_t s = l->part_start;
	for (int i = 0; i < 3; i++) {
		s = wo_fit(l, s, 1);
		l->vphys[i] = s++;
	}
	/* the VAT's file entry ends the write unit after the root's */
	uint32_t period = l->unit + l->link;
	l->vat = (l->vphys[2] / period + 1) * period - l->link - 1;
	if (l->vat <= l->vphys[2])
		l->vat += period;
	uint64_t min_blocks = (uint64_t)l->vat + 1 + MIN_PART_BLOCKS;
	if (n < min_blocks) {
		snprintf(err, errlen, "%llu blocks is too small for UDF on %s media (it needs at least %llu)",
			 (unsigned long long)n, udf_media_name(o->media), (unsigned long long)min_blocks);
		return -ENOSPC;
	}
	l->part_len = (uint32_t)(n - l->part_start);
	l->fsd = 0;
	l->root = 2;
	l->used = l->vat + 1 - l->part_start;
	return 0;
}

static bool sparable(enum udf_media m)
{
	return m == UDF_MEDIA_CDRW || m == UDF_MEDIA_DVDRW;
}

uint32_t udf_media_packet(enum udf_media m)
{
	return m == UDF_MEDIA_CDRW || m == UDF_MEDIA_HD || m == UDF_MEDIA_BDRE ? 32 : 16;
}

/* The metadata file's size: the writer's metadata zone of 1/64 of the partition, at least 1024
 * blocks where that is at most a sixteenth of the partition (small images hold many small files,
 * each a block of the metadata partition).  The writer grows it when it is full (udf_meta_grow). */
static uint32_t meta_size(uint32_t part_len, uint32_t unit)
{
	uint64_t m = part_len / 64, floor_ = part_len / 16 < 1024 ? part_len / 16 : 1024;

	if (m < floor_)
		m = floor_;
	m = align_up(m, unit);
	return (uint32_t)(m < 4 * (uint64_t)unit ? 4 * (uint64_t)unit : m);
}

/*
 * UDF 2.50+: inside the physical partition, after the space bitmap, the metadata file's entry, the
 * metadata bitmap file's entry and its data, then at the next packet the metadata file's data; the
 * mirror's entry and data from the middle of the partition (DCN-5106: far from the metadata file's,
 * so that one damaged area loses one copy).  Inside the metadata partition: the FSD at 0, its
 * terminator at 1, the root's entry at the start of the second packet (rewritten by commits, the FSD
 * never).  Extents start at packets of the medium: the partition itself starts at one.
 */
static int plan_metadata(struct udf_format_layout *l, uint32_t bs, char *err, size_t errlen)
{
	uint32_t u = l->meta_unit;

	l->meta_blocks = meta_size(l->part_len, u);
	uint32_t mbm_bytes = SBD_BITMAP + (uint32_t)align_up(l->meta_blocks, 8) / 8;
	l->mbm_blocks = (uint32_t)align_up(mbm_bytes, bs) / bs;
	l->meta_fe = l->bitmap_blocks;
	l->mbm_fe = l->meta_fe + 1;
	l->mbm_start = l->mbm_fe + 1;
	l->meta_start = (uint32_t)align_up(l->mbm_start + l->mbm_blocks, u);
	l->mirror_start = (uint32_t)align_up(l->part_len / 2, u);
	if (l->mirror_start < l->meta_start + l->meta_blocks + u)
		l->mirror_start = l->meta_start + l->meta_blocks + u;
	l->mirror_fe = l->mirror_start - 1;
	if ((uint64_t)l->mirror_start + l->meta_blocks + MIN_PART_BLOCKS > l->part_len) {
		snprintf(err, errlen, "%u blocks is too small for a UDF 2.50 metadata partition (two copies of %u)",
			 l->part_len, l->meta_blocks);
		return -ENOSPC;
	}
	l->used = l->mbm_start + l->mbm_blocks + 2 * l->meta_blocks + 1;
	l->fsd = 0;
	l->root = u;
	l->meta_used = 3; /* FSD, its terminator, root */
	return 0;
}

int udf_format_plan(const struct udf_format_opts *o, uint64_t size_bytes, struct udf_format_layout *l, char *err,
		    size_t errlen)
{
	uint32_t bs = o->block_size ? o->block_size : 2048;
	unsigned rev = udf_format_revision(o);

	memset(l, 0, sizeof(*l));
	if (bs < 512 || bs > 4096 || (bs & (bs - 1))) {
		snprintf(err, errlen, "block size %u: UDF here takes 512, 1024, 2048 or 4096", bs);
		return -EINVAL;
	}
	if (rev != 0x0102 && rev != 0x0150 && rev != 0x0200 && rev != 0x0201 && rev != 0x0250 && rev != 0x0260) {
		snprintf(err, errlen, "UDF revision %x.%02x: only 1.02, 1.50, 2.00, 2.01, 2.50 and 2.60 are written",
			 rev >> 8, rev & 0xff);
		return -EINVAL;
	}
	if (rev < 0x0150 && sparable(o->media)) { /* as mkudffs refuses it */
		snprintf(err, errlen, "UDF 1.02 has no sparable partition: %s takes 1.50 or later",
			 udf_media_name(o->media));
		return -EINVAL;
	}
	if ((unsigned)o->media > UDF_MEDIA_BDR) {
		snprintf(err, errlen, "unknown media type %d", (int)o->media);
		return -EINVAL;
	}
	uint64_t n = size_bytes / bs;
	if (n > UINT32_MAX) {
		snprintf(err, errlen, "%llu blocks of %u bytes: more than UDF can address", (unsigned long long)n, bs);
		return -EINVAL;
	}
	l->blocks = n;
	if (udf_media_write_once(o->media))
		return plan_write_once(o, n, rev, l, err, errlen);
	if (rev >= 0x0250) { /* a packet of the medium, in blocks */
		uint32_t sectors = o->packet_len && sparable(o->media) ? o->packet_len : udf_media_packet(o->media);
		l->meta_unit = sectors * 2048u / bs;
	}
	l->mvds = 96;
	l->lvid = 128;
	uint64_t min_blocks;
	if (sparable(o->media) && bs != 2048) {
		/* defect management (the sparing table, the cache's relocation) works in 2048-byte sectors */
		snprintf(err, errlen, "block size %u: a sparable layout (%s) takes 2048-byte blocks only", bs,
			 udf_media_name(o->media));
		return -EINVAL;
	}
	if (sparable(o->media)) {
		uint32_t pl = o->packet_len ? o->packet_len : (o->media == UDF_MEDIA_CDRW ? 32 : 16);
		if (pl != 16 && pl != 32) {
			snprintf(err, errlen, "packet length %u: a sparable partition here has packets of 16 or 32",
				 pl);
			return -EINVAL;
		}
		l->packet_len = pl;
		l->vds_len = pl;
		l->lvid_len = pl;
		l->stable_bytes = ST_MAP + STE_SIZE * (SPARE_BLOCKS / pl);
		uint32_t st_blocks = (uint32_t)align_up(l->stable_bytes, bs) / bs;
		/* mkudffs: right after the main VDS when it fits before the LVID, else after the LVID. */
		l->stable[0] =
			l->mvds + l->vds_len + st_blocks <= l->lvid ? l->mvds + l->vds_len : l->lvid + l->lvid_len;
		l->spare_start = (uint32_t)align_up(257, pl);
		l->spare_blocks = SPARE_BLOCKS;
		l->part_start = l->spare_start + SPARE_BLOCKS;
		min_blocks = l->part_start + MIN_PART_BLOCKS + 257 + pl;
		if (n >= min_blocks) {
			l->part_len = (uint32_t)(align_down(n - 257, pl) - l->part_start);
			l->stable[1] = (uint32_t)align_down(n - pl, pl);
		}
	} else {
		l->vds_len = 16;
		l->lvid_len = 4;
		/* with a metadata partition, at a packet: its extents are aligned to packets */
		l->part_start = l->meta_unit ? (uint32_t)align_up(257, l->meta_unit) : 257;
		min_blocks = l->part_start + 257 + MIN_PART_BLOCKS;
		if (n >= min_blocks)
			l->part_len = (uint32_t)align_down(n - 257 - l->part_start, 8);
	}
	if (n < min_blocks) {
		snprintf(err, errlen, "%llu bytes is too small for UDF on %s media (it needs at least %llu KiB)",
			 (unsigned long long)size_bytes, udf_media_name(o->media),
			 (unsigned long long)(min_blocks * bs + 1023) / 1024);
		return -ENOSPC;
	}
	l->anchor[0] = AVDP_SECTOR;
	l->anchor[1] = (uint32_t)(n - 257);
	l->anchor[2] = (uint32_t)(n - 1);
	l->rvds = (uint32_t)align_down(n - 160, l->packet_len > 16 ? l->packet_len : 32);
	l->bitmap_blocks = (uint32_t)(align_up(SBD_BITMAP + align_up(l->part_len, 8) / 8, bs) / bs);
	if (l->meta_unit)
		return plan_metadata(l, bs, err, errlen);
	l->fsd = l->bitmap_blocks;
	/* The root's File Entry starts the next 32-sector packet (a multiple of every packet size):
	 * the writer rewrites the bitmap and the root in different steps of a commit, and in
	 * different packets each is written once per commit (mkudffs too keeps them apart). */
	uint64_t root_sector = align_up((uint64_t)l->part_start + l->fsd + 2, 32);
	l->root = (uint32_t)(root_sector - l->part_start);
	l->used = l->bitmap_blocks + 3; /* bitmap, FSD, its Terminating Descriptor, root */
	return 0;
}

/* ---- descriptor helpers ---- */

struct fmt {
	const struct udf_format_opts *o;
	struct udf_format_layout l;
	uint32_t bs;
	unsigned rev;
	uint16_t tagver;
	uint8_t now[TS_SIZE];
	char label[256];
	char vsid[160];
};

/* Fills the tag and computes its CRC and checksum: call after the descriptor's contents. */
static void tag(const struct fmt *f, uint8_t *p, uint16_t id, uint32_t loc, size_t total)
{
	udf_put_tag(p, id, f->tagver, 1 /* serial number, as mkudffs */, loc, (uint16_t)(total - TAG_SIZE));
	udf_tag_finish(p, total);
}

static void regid(const struct fmt *f, uint8_t *p, const char *ident, enum udf_regid_suffix s)
{
	udf_put_regid(p, ident, s, (uint16_t)f->rev);
}

static void charspec(uint8_t *p)
{
	memset(p, 0, CHARSPEC_SIZE);
	memcpy(p + CHARSPEC_INFO, "OSTA Compressed Unicode", 23);
}

static void long_ad(uint8_t *p, uint32_t len, uint32_t lbn)
{
	memset(p, 0, LAD_SIZE);
	put_le32(p + AD_LEN, len);
	put_le32(p + LAD_LBN, lbn);
}

#define APP_ID "*pktfuse"

/* The interchange level and its maximum, then the character set list and its maximum (CS0 only):
 * four fields in this order in both the PVD (3/10.1) and the FSD (4/14.1). */
static void put_levels(uint8_t *p, uint16_t level, uint16_t max_level)
{
	put_le16(p, level);
	put_le16(p + PVD_MAX_INTERCHANGE_LEVEL - PVD_INTERCHANGE_LEVEL, max_level);
	put_le32(p + PVD_CHARSET_LIST - PVD_INTERCHANGE_LEVEL, 1);
	put_le32(p + PVD_MAX_CHARSET_LIST - PVD_INTERCHANGE_LEVEL, 1);
}

/* The metadata partition's map (UDF 2.50 2.2.10) as map 1 of the LVD at lvd; the FSD moves into it. */
static void put_metadata_map(const struct fmt *f, uint8_t *lvd, uint8_t *m)
{
	const struct udf_format_layout *l = &f->l;

	put_le16(lvd + LVD_FSD + LAD_PART, 1);
	m[PMAP_TYPE] = 2;
	m[PMAP_LENGTH] = PMAP2_SIZE;
	regid(f, m + PMAP2_IDENT, "*UDF Metadata Partition", UDF_SUFFIX_UDF);
	put_le16(m + VPMAP_VOL_SEQ, 1);
	put_le16(m + PMAP2_PART_NUM, 0);
	put_le32(m + MPMAP_FILE_LOC, l->meta_fe);
	put_le32(m + MPMAP_MIRROR_LOC, l->mirror_fe);
	put_le32(m + MPMAP_BITMAP_LOC, l->mbm_fe);
	put_le32(m + MPMAP_ALLOC_UNIT, l->meta_unit);
	put_le16(m + MPMAP_ALIGN_UNIT, (uint16_t)l->meta_unit);
	m[MPMAP_FLAGS] = 1; /* duplicate metadata: the mirror is kept */
}

/* PVD, LVD, PD, USD, IUVD, TD in six blocks starting at volume block first (mkudffs' order). */
static void build_vds(const struct fmt *f, uint8_t *base, uint32_t first)
{
	const struct udf_format_layout *l = &f->l;
	uint32_t bs = f->bs;
	uint8_t *p;

	/* Primary Volume Descriptor */
	p = base;
	put_le32(p + VD_SEQ_NUM, 1);
	put_le32(p + PVD_NUMBER, 0);
	udf_put_dstring(p + PVD_VOLUME_IDENT, 32, f->label);
	put_le16(p + PVD_VOL_SEQ_NUM, 1);
	put_le16(p + PVD_MAX_VOL_SEQ_NUM, 1);
	put_levels(p + PVD_INTERCHANGE_LEVEL, 2, 3);
	udf_put_dstring(p + PVD_VOLUME_SET_IDENT, 128, f->vsid);
	charspec(p + PVD_DESC_CHARSET);
	charspec(p + PVD_EXPLANATORY_CHARSET);
	regid(f, p + PVD_APPLICATION_IDENT, APP_ID, UDF_SUFFIX_IMPL);
	memcpy(p + PVD_RECORDING_TIME, f->now, TS_SIZE);
	regid(f, p + PVD_IMPL_IDENT, APP_ID, UDF_SUFFIX_IMPL);
	tag(f, p, TAG_PVD, first, 512);

	/* Logical Volume Descriptor */
	p = base + bs;
	put_le32(p + VD_SEQ_NUM, 2);
	charspec(p + LVD_DESC_CHARSET);
	udf_put_dstring(p + LVD_LOGICAL_VOLUME_IDENT, 128, f->label);
	put_le32(p + LVD_LOGICAL_BLOCK_SIZE, bs);
	regid(f, p + LVD_DOMAIN_IDENT, "*OSTA UDF Compliant", UDF_SUFFIX_DOMAIN);
	long_ad(p + LVD_FSD, bs, l->fsd);
	regid(f, p + LVD_IMPL_IDENT, APP_ID, UDF_SUFFIX_IMPL);
	put_le32(p + LVD_INTEGRITY_SEQ + EXT_LEN, l->lvid_len * bs);
	put_le32(p + LVD_INTEGRITY_SEQ + EXT_LOC, l->lvid);
	put_le32(p + LVD_NUM_PARTITION_MAPS, l->vat || l->meta_unit ? 2 : 1);
	uint8_t *m = p + LVD_PARTITION_MAPS;
	if (l->vat) {
		/* the physical partition, then the virtual one over it: the FSD is in the virtual one */
		put_le16(p + LVD_FSD + LAD_PART, 1);
		m[PMAP_TYPE] = 1;
		m[PMAP_LENGTH] = 6;
		put_le16(m + PMAP_LENGTH + 1, 1);
		put_le16(m + PMAP1_PART_NUM, 0);
		m += 6;
		m[PMAP_TYPE] = 2;
		m[PMAP_LENGTH] = PMAP2_SIZE;
		regid(f, m + PMAP2_IDENT, "*UDF Virtual Partition", UDF_SUFFIX_UDF);
		put_le16(m + VPMAP_VOL_SEQ, 1);
		put_le16(m + PMAP2_PART_NUM, 0);
		put_le32(p + LVD_MAP_TABLE_LENGTH, 6 + PMAP2_SIZE);
		tag(f, p, TAG_LVD, first + 1, LVD_PARTITION_MAPS + 6 + PMAP2_SIZE);
	} else if (l->packet_len) {
		uint32_t maps = l->meta_unit ? 2 * PMAP2_SIZE : PMAP2_SIZE;
		m[PMAP_TYPE] = 2;
		m[PMAP_LENGTH] = PMAP2_SIZE;
		regid(f, m + PMAP2_IDENT, "*UDF Sparable Partition", UDF_SUFFIX_UDF);
		put_le16(m + PMAP2_IDENT + REGID_SIZE, 1);
		put_le16(m + PMAP2_PART_NUM, 0);
		put_le16(m + SPMAP_PACKET_LENGTH, l->packet_len);
		m[SPMAP_NUM_TABLES] = 2;
		put_le32(m + SPMAP_TABLE_SIZE, l->stable_bytes);
		put_le32(m + SPMAP_TABLE_LOCS, l->stable[0]);
		put_le32(m + SPMAP_TABLE_LOCS + 4, l->stable[1]);
		if (l->meta_unit)
			put_metadata_map(f, p, m + PMAP2_SIZE);
		put_le32(p + LVD_MAP_TABLE_LENGTH, maps);
		tag(f, p, TAG_LVD, first + 1, LVD_PARTITION_MAPS + maps);
	} else {
		uint32_t maps = l->meta_unit ? 6 + PMAP2_SIZE : 6;
		m[PMAP_TYPE] = 1;
		m[PMAP_LENGTH] = 6;
		put_le16(m + PMAP_LENGTH + 1, 1);
		put_le16(m + PMAP1_PART_NUM, 0);
		if (l->meta_unit)
			put_metadata_map(f, p, m + 6);
		put_le32(p + LVD_MAP_TABLE_LENGTH, maps);
		tag(f, p, TAG_LVD, first + 1, LVD_PARTITION_MAPS + maps);
	}

	/* Partition Descriptor, its header pointing to the unallocated space bitmap */
	p = base + 2 * bs;
	put_le32(p + VD_SEQ_NUM, 3);
	put_le16(p + PD_FLAGS, 1); /* allocated */
	put_le16(p + PD_NUMBER, 0);
	regid(f, p + PD_CONTENTS, f->rev >= 0x0200 ? "+NSR03" : "+NSR02", UDF_SUFFIX_NONE);
	if (!l->vat) { /* write-once media have no free space to describe: the VAT maps what is used */
		put_le32(p + PD_CONTENTS_USE + PHD_UNALLOC_BITMAP + AD_LEN, l->bitmap_blocks * bs);
		put_le32(p + PD_CONTENTS_USE + PHD_UNALLOC_BITMAP + SAD_POS, 0);
	}
	/* write-once; rewritable on CD-RW (as mkudffs), else overwritable */
	put_le32(p + PD_ACCESS_TYPE, l->vat ? 2 : f->o->media == UDF_MEDIA_CDRW ? 3 : 4);
	put_le32(p + PD_START, l->part_start);
	put_le32(p + PD_LENGTH, l->part_len);
	regid(f, p + PD_IMPL_IDENT, APP_ID, UDF_SUFFIX_IMPL);
	tag(f, p, TAG_PD, first + 2, 512);

	/* Unallocated Space Descriptor: no unallocated volume space is offered outside the partition */
	p = base + 3 * bs;
	put_le32(p + VD_SEQ_NUM, 4);
	put_le32(p + USD_NUM_ADS, 0);
	tag(f, p, TAG_USD, first + 3, USD_NUM_ADS + 4);

	/* Implementation Use Volume Descriptor */
	p = base + 4 * bs;
	put_le32(p + VD_SEQ_NUM, 5);
	regid(f, p + IUVD_IMPL_IDENT, "*UDF LV Info", UDF_SUFFIX_UDF);
	charspec(p + IUVD_LVI_CHARSET);
	udf_put_dstring(p + IUVD_LV_IDENT, 128, f->label);
	regid(f, p + IUVD_LVI_IMPL_IDENT, APP_ID, UDF_SUFFIX_IMPL);
	tag(f, p, TAG_IUVD, first + 4, 512);

	/* Terminating Descriptor */
	tag(f, base + 5 * bs, TAG_TD, first + 5, 512);
}

static void build_anchor(const struct fmt *f, uint8_t *p, uint32_t loc)
{
	put_le32(p + AVDP_MAIN_VDS + EXT_LEN, f->l.vds_len * f->bs);
	put_le32(p + AVDP_MAIN_VDS + EXT_LOC, f->l.mvds);
	put_le32(p + AVDP_RESERVE_VDS + EXT_LEN, f->l.vds_len * f->bs);
	put_le32(p + AVDP_RESERVE_VDS + EXT_LOC, f->l.rvds);
	tag(f, p, TAG_AVDP, loc, 512);
}

static void build_sparing_table(const struct fmt *f, uint8_t *p, uint32_t loc)
{
	uint32_t entries = f->l.spare_blocks / f->l.packet_len;

	regid(f, p + ST_IDENT, "*UDF Sparing Table", UDF_SUFFIX_UDF);
	put_le16(p + ST_NUM_ENTRIES, entries);
	put_le32(p + ST_SEQ_NUM, 0);
	for (uint32_t i = 0; i < entries; i++) {
		put_le32(p + ST_MAP + STE_SIZE * i + STE_ORIGINAL, 0xFFFFFFFFu); /* a free spare packet */
		put_le32(p + ST_MAP + STE_SIZE * i + STE_MAPPED, f->l.spare_start + i * f->l.packet_len);
	}
	tag(f, p, 0, loc, f->l.stable_bytes);
}

static void build_lvid(const struct fmt *f, uint8_t *p)
{
	const struct udf_format_layout *l = &f->l;

	memcpy(p + LVID_RECORDING_TIME, f->now, TS_SIZE);
	put_le32(p + LVID_INTEGRITY_TYPE, 1);  /* close */
	put_le64(p + LVID_NEXT_UNIQUE_ID, 16); /* next unique ID: 0-15 are reserved */
	uint32_t np = l->vat ? 2 : 1;	       /* one entry per partition map */
	if (l->meta_unit)
		np = 2;
	put_le32(p + LVID_NUM_PARTITIONS, np);
	put_le32(p + LVID_IMPL_USE_LEN, LVIU_SIZE); /* implementation use length */
	put_le32(p + LVID_FREE_SPACE, l->part_len - l->used);
	put_le32(p + LVID_FREE_SPACE + 4 * np, l->part_len);
	if (l->vat) { /* a virtual partition has neither a free space nor a size (UDF 2.2.6.2) */
		put_le32(p + LVID_FREE_SPACE + 4, 0xFFFFFFFFu);
		put_le32(p + LVID_FREE_SPACE + 12, 0xFFFFFFFFu);
	}
	if (l->meta_unit) { /* the metadata partition: the metadata file's blocks */
		put_le32(p + LVID_FREE_SPACE + 4, l->meta_blocks - l->meta_used);
		put_le32(p + LVID_FREE_SPACE + 12, l->meta_blocks);
	}
	uint8_t *iu = p + LVID_FREE_SPACE + 8 * np;
	regid(f, iu + LVIU_IMPL_IDENT, APP_ID, UDF_SUFFIX_IMPL);
	put_le32(iu + LVIU_NUM_FILES, 0); /* files */
	put_le32(iu + LVIU_NUM_DIRS, 1);  /* directories: the root */
	put_le16(iu + LVIU_MIN_READ_REV, udf_min_read_rev(f->rev));
	put_le16(iu + LVIU_MIN_WRITE_REV, f->rev);
	put_le16(iu + LVIU_MAX_WRITE_REV, f->rev);
	tag(f, p, TAG_LVID, l->lvid, LVID_FREE_SPACE + 8 * np + LVIU_SIZE);
}

static void build_fsd(const struct fmt *f, uint8_t *p)
{
	const struct udf_format_layout *l = &f->l;

	memcpy(p + FSD_RECORDING_TIME, f->now, TS_SIZE);
	put_levels(p + FSD_INTERCHANGE_LEVEL, 3, 3);
	put_le32(p + FSD_FILE_SET_NUM, 0);
	put_le32(p + FSD_FILE_SET_DESC_NUM, 0);
	charspec(p + FSD_LVI_CHARSET);
	udf_put_dstring(p + FSD_LOGICAL_VOLUME_IDENT, 128, f->label);
	charspec(p + FSD_FILE_SET_CHARSET);
	udf_put_dstring(p + FSD_FILE_SET_IDENT, 32, f->label);
	long_ad(p + FSD_ROOT_ICB, f->bs, l->root);
	put_le16(p + FSD_ROOT_ICB + LAD_PART, l->vat || l->meta_unit ? 1 : 0);
	regid(f, p + FSD_DOMAIN_IDENT, "*OSTA UDF Compliant", UDF_SUFFIX_DOMAIN);
	tag(f, p, TAG_FSD, l->fsd, 512);
}

/* A File Entry's or (efe) an Extended File Entry's fields from the information length on (unique
 * ID 0, no extended attributes); returns the size of the entry before its allocation descriptors. */
static uint32_t put_entry_tail(const struct fmt *f, uint8_t *p, bool efe, uint64_t info_len, uint64_t blocks,
			       uint32_t ad_len)
{
	put_le64(p + FE_INFO_LENGTH, info_len);
	if (!efe) {
		put_le64(p + FE_BLOCKS_RECORDED, blocks);
		memcpy(p + FE_ACCESS_TIME, f->now, TS_SIZE);
		memcpy(p + FE_MODIFICATION_TIME, f->now, TS_SIZE);
		memcpy(p + FE_ATTRIBUTE_TIME, f->now, TS_SIZE);
		put_le32(p + FE_CHECKPOINT, 1);
		regid(f, p + FE_IMPL_IDENT, APP_ID, UDF_SUFFIX_IMPL);
		put_le32(p + FE_AD_LEN, ad_len);
		return FE_SIZE;
	}
	put_le64(p + EFE_OBJECT_SIZE, info_len);
	put_le64(p + EFE_BLOCKS_RECORDED, blocks);
	memcpy(p + EFE_ACCESS_TIME, f->now, TS_SIZE);
	memcpy(p + EFE_MODIFICATION_TIME, f->now, TS_SIZE);
	memcpy(p + EFE_CREATION_TIME, f->now, TS_SIZE);
	memcpy(p + EFE_ATTRIBUTE_TIME, f->now, TS_SIZE);
	put_le32(p + EFE_CHECKPOINT, 1);
	regid(f, p + EFE_IMPL_IDENT, APP_ID, UDF_SUFFIX_IMPL);
	put_le32(p + EFE_AD_LEN, ad_len);
	return EFE_SIZE;
}

/* The root directory: a File Entry (2.50+: an Extended one) with its one FID (the parent, itself)
 * embedded. */
static void build_root(const struct fmt *f, uint8_t *p)
{
	const struct udf_format_opts *o = f->o;
	const struct udf_format_layout *l = &f->l;
	mode_t mode = o->root_mode ? o->root_mode : 0755;
	uint16_t icbflags = 3; /* data embedded in the ICB */

	if (mode & 04000)
		icbflags |= 1u << 6;
	if (mode & 02000)
		icbflags |= 1u << 7;
	if (mode & 01000)
		icbflags |= 1u << 8;
	uint32_t perm = 0;
	for (int cls = 0; cls < 3; cls++) {		 /* other, group, owner */
		unsigned bits = (mode >> (3 * cls)) & 7; /* rwx */
		perm |= (uint32_t)(((bits & 1) ? 1u : 0) | ((bits & 2) ? 2u : 0) | ((bits & 4) ? 4u : 0)) << (5 * cls);
	}
	perm |= 1u << 13; /* the owner may change attributes (as mkudffs) */

	put_le32(p + ICB_PRIOR_ENTRIES, 0);
	put_le16(p + ICB_STRATEGY_TYPE, 4);
	put_le16(p + ICB_STRATEGY_PARAM, 0);
	put_le16(p + ICB_MAX_ENTRIES, 1);
	p[ICB_FILE_TYPE] = 4; /* directory */
	put_le16(p + ICB_FLAGS, icbflags);
	put_le32(p + FE_UID, o->uid == (uid_t)-1 ? 0xFFFFFFFFu : (uint32_t)o->uid);
	put_le32(p + FE_GID, o->gid == (gid_t)-1 ? 0xFFFFFFFFu : (uint32_t)o->gid);
	put_le32(p + FE_PERMISSIONS, perm);
	put_le16(p + FE_LINK_COUNT, 1);
	put_entry_tail(f, p, false, 40, 0, 40); /* an FE, made an EFE below for 2.50+ */

	uint8_t *fid = p + FE_SIZE;
	put_le16(fid + FID_VERSION, 1);
	fid[FID_CHARACTERISTICS] = 0x0A; /* directory, parent */
	fid[FID_NAME_LEN] = 0;
	long_ad(fid + FID_ICB, f->bs, l->root);
	put_le16(fid + FID_ICB + LAD_PART, l->vat || l->meta_unit ? 1 : 0);
	put_le16(fid + FID_IMPL_USE_LEN, 0);
	tag(f, fid, TAG_FID, l->root, 40);
	if (f->rev >= 0x0250) { /* EFEs from 2.50 on, as mkudffs and the engine write them */
		udf_fe_to_efe(p);
		tag(f, p, TAG_EFE, l->root, EFE_SIZE + 40);
	} else {
		tag(f, p, TAG_FE, l->root, FE_SIZE + 40);
	}
}

/* One of the metadata partition's files (an Extended File Entry, as UDF 2.50 2.2.13 wants, with short
 * allocation descriptors, which Linux requires): len bytes from block start of the physical partition,
 * in extents of at most a gigabyte less a packet. */
static void build_meta_file(const struct fmt *f, uint8_t *p, uint32_t loc, uint8_t ftype, uint32_t start, uint64_t len)
{
	uint32_t max = (uint32_t)align_down(AD_LEN_MASK / f->bs, f->l.meta_unit) * f->bs, nad = 0;

	put_le16(p + ICB_STRATEGY_TYPE, 4);
	put_le16(p + ICB_MAX_ENTRIES, 1);
	p[ICB_FILE_TYPE] = ftype;
	put_le16(p + ICB_FLAGS, 0); /* short allocation descriptors */
	put_le32(p + FE_UID, 0xFFFFFFFFu);
	put_le32(p + FE_GID, 0xFFFFFFFFu);
	put_le16(p + FE_LINK_COUNT, 1);
	for (uint64_t off = 0; off < len; off += max, nad++) {
		uint8_t *ad = p + EFE_SIZE + SAD_SIZE * nad;
		put_le32(ad + AD_LEN, (uint32_t)(len - off < max ? len - off : max));
		put_le32(ad + SAD_POS, start + (uint32_t)(off / f->bs));
	}
	put_entry_tail(f, p, true, len, align_up(len, f->bs) / f->bs, SAD_SIZE * nad);
	tag(f, p, TAG_EFE, loc, EFE_SIZE + SAD_SIZE * nad);
}

struct run {
	uint32_t start, len;
};

/* A space bitmap of nbits blocks (bit set = free) with the runs in use, recorded at block loc. */
static void build_sbd(const struct fmt *f, uint8_t *p, uint32_t nbits, uint32_t loc, const struct run *used,
		      unsigned nused)
{
	uint32_t nbytes = (uint32_t)(align_up(nbits, 8) / 8);

	put_le32(p + SBD_NUM_BITS, nbits);
	put_le32(p + SBD_NUM_BYTES, nbytes);
	uint8_t *bits = p + SBD_BITMAP;
	memset(bits, 0xFF, nbytes);
	for (unsigned r = 0; r < nused; r++)
		for (uint32_t b = used[r].start; b < used[r].start + used[r].len; b++)
			bits[b / 8] &= (uint8_t) ~(1u << (b % 8));
	for (uint32_t b = nbits; b < nbytes * 8; b++)
		bits[b / 8] &= (uint8_t) ~(1u << (b % 8));
	/* the tag's CRC covers only the 8 header bytes (as mkudffs) */
	udf_put_tag(p, TAG_SBD, f->tagver, 1, loc, SBD_BITMAP - TAG_SIZE);
	udf_tag_finish(p, SBD_BITMAP);
}

/* The partition's space bitmap, at its block 0. */
static void build_bitmap(const struct fmt *f, uint8_t *p)
{
	const struct udf_format_layout *l = &f->l;

	if (l->meta_unit) { /* up to the metadata bitmap's data; the metadata file; the mirror */
		const struct run used[] = {{0, l->mbm_start + l->mbm_blocks},
					   {l->meta_start, l->meta_blocks},
					   {l->mirror_fe, l->meta_blocks + 1}};
		build_sbd(f, p, l->part_len, 0, used, 3);
		return;
	}
	/* the bitmap, the FSD and its terminator; the root */
	const struct run used[] = {{0, l->fsd + 2}, {l->root, 1}};
	build_sbd(f, p, l->part_len, 0, used, 2);
}

/* The metadata bitmap file's data: the metadata partition's space bitmap. */
static void build_meta_bitmap(const struct fmt *f, uint8_t *p)
{
	const struct udf_format_layout *l = &f->l;
	const struct run used[] = {{l->fsd, 2}, {l->root, 1}};

	build_sbd(f, p, l->meta_blocks, l->mbm_start, used, 2);
}

static int write_all(int (*wr)(void *, uint64_t, size_t, const void *), void *ctx, uint64_t off, const uint8_t *buf,
		     size_t len)
{
	while (len) {
		size_t n = len < WRITE_CHUNK ? len : WRITE_CHUNK;
		int rc = wr(ctx, off, n, buf);
		if (rc)
			return rc < 0 ? rc : -EIO;
		off += n;
		buf += n;
		len -= n;
	}
	return 0;
}

static void random_hex(char *out)
{
	uint8_t r[8] = {0};
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
		uint64_t v = (uint64_t)ts.tv_sec << 20 ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 40;
		memcpy(r, &v, sizeof(r));
	}
	if (fd >= 0)
		close(fd);
	/* mkudffs puts the time in the first 8 hex digits (UDF asks them to be unique) */
	snprintf(out, 17, "%08x%02x%02x%02x%02x", (unsigned)ts.tv_sec, r[0], r[1], r[2], r[3]);
}

/* The VAT of the empty volume: a file entry (file type 248) with the table embedded. */
static void build_vat_fe(const struct fmt *f, uint8_t *p)
{
	const struct udf_format_layout *l = &f->l;
	uint32_t len = UDF_VAT_HDR_LEN + 3 * 4;

	put_le16(p + ICB_STRATEGY_TYPE, 4);
	put_le16(p + ICB_MAX_ENTRIES, 1);
	p[ICB_FILE_TYPE] = VAT_FILE_TYPE;
	put_le16(p + ICB_FLAGS, 3); /* embedded */
	put_le32(p + FE_UID, 0xFFFFFFFFu);
	put_le32(p + FE_GID, 0xFFFFFFFFu);
	put_le16(p + FE_LINK_COUNT, 1);
	put_entry_tail(f, p, false, len, 0, len); /* made an EFE below from 2.50 on */
	struct udf_vat_header h = {.label = f->label,
				   .prev_vat = VAT_UNUSED,
				   .files = 0,
				   .dirs = 1,
				   .revision = (uint16_t)f->rev,
				   .next_uniq = 16};
	uint8_t *d = p + FE_SIZE;
	udf_put_vat_header(d, &h);
	for (int i = 0; i < 3; i++)
		put_le32(d + UDF_VAT_HDR_LEN + 4 * i, l->vphys[i] - l->part_start);
	if (f->rev >= 0x0250) {
		udf_fe_to_efe(p);
		tag(f, p, TAG_EFE, l->vat - l->part_start, EFE_SIZE + len);
	} else {
		tag(f, p, TAG_FE, l->vat - l->part_start, FE_SIZE + len);
	}
}

/* Write-once media: sectors 0 to the VAT, in ascending order, each write unit one write. */
static int format_write_once(struct fmt *f, int (*write)(void *ctx, uint64_t off, size_t len, const void *buf),
			     void *ctx, char *err, size_t errlen)
{
	const struct udf_format_layout *l = &f->l;
	uint32_t bs = f->bs, nsec = l->vat + 1;
	uint8_t *img = calloc(nsec, bs);

	if (!img) {
		snprintf(err, errlen, "out of memory for the file system's %u blocks of metadata", nsec);
		return -ENOMEM;
	}
#define SB(b) (img + (uint64_t)(b)*bs)
	uint32_t vrs_step = bs > 2048 ? bs : 2048;
	static const char *const vrs[3] = {"BEA01", "NSR03", "TEA01"};
	for (int i = 0; i < 3; i++) {
		uint8_t *d = img + VRS_OFFSET + (uint64_t)i * vrs_step;
		memcpy(d + VSD_STD_IDENT, vrs[i], 5);
		d[VSD_VERSION] = 1;
	}
	build_vds(f, SB(l->mvds), l->mvds);
	build_vds(f, SB(l->rvds), l->rvds);
	build_lvid(f, SB(l->lvid));
	tag(f, SB(l->lvid + 1), TAG_TD, l->lvid + 1, 512);
	build_anchor(f, SB(AVDP_SECTOR), AVDP_SECTOR);
	build_fsd(f, SB(l->vphys[0]));
	tag(f, SB(l->vphys[1]), TAG_TD, 1, 512);
	build_root(f, SB(l->vphys[2]));
	build_vat_fe(f, SB(l->vat));
#undef SB
	int rc = 0;
	uint32_t period = l->unit + l->link;
	if (!l->link) {
		rc = write_all(write, ctx, 0, img, (size_t)nsec * bs);
	} else {
		for (uint32_t s = 0; s < nsec && rc == 0; s += period) {
			uint32_t n = nsec - s < l->unit ? nsec - s : l->unit;
			rc = write_all(write, ctx, (uint64_t)s * bs, img + (size_t)s * bs, (size_t)n * bs);
		}
	}
	free(img);
	if (rc)
		snprintf(err, errlen, "writing the file system failed: %s", strerror(-rc));
	return rc;
}

int udf_format(const struct udf_format_opts *o, int (*write)(void *ctx, uint64_t off, size_t len, const void *buf),
	       void *ctx, uint64_t size_bytes, char *err, size_t errlen)
{
	struct fmt f = {.o = o};
	int rc = udf_format_plan(o, size_bytes, &f.l, err, errlen);
	if (rc)
		return rc;
	const struct udf_format_layout *l = &f.l;
	f.bs = o->block_size ? o->block_size : 2048;
	f.rev = udf_format_revision(o);
	f.tagver = f.rev >= 0x0200 ? 3 : 2;

	const char *label = o->label ? o->label : "LinuxUDF";
	uint8_t probe[32];
	if (udf_put_dstring(probe, sizeof(probe), label) < 0) {
		snprintf(err, errlen, "label \"%s\": %s", label,
			 udf_utf8_to_cs0(label, probe, 0) == -EINVAL
				 ? "not valid UTF-8"
				 : "too long (a volume identifier holds 30 Latin-1 or 15 other characters)");
		return -EINVAL;
	}
	snprintf(f.label, sizeof(f.label), "%s", label);
	random_hex(f.vsid);
	snprintf(f.vsid + 16, sizeof(f.vsid) - 16, "%s", label);
	uint8_t vs[128];
	if (udf_put_dstring(vs, sizeof(vs), f.vsid) < 0)
		f.vsid[16] = 0;

	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	localtime_r(&now.tv_sec, &tm);
	udf_put_timestamp(f.now, now, (int)(tm.tm_gmtoff / 60));

	if (l->vat)
		return format_write_once(&f, write, ctx, err, errlen);
	uint32_t bs = f.bs;
	/* the partition's blocks that hold the FSD: the metadata file's data with a metadata partition */
	uint64_t fsd_base = (uint64_t)l->part_start + (l->meta_unit ? l->meta_start : 0);
	uint64_t head_blocks = fsd_base + l->root + 1;
	uint64_t tail_start = (uint64_t)l->part_start + l->part_len;
	uint64_t tail_blocks = l->blocks - tail_start;
	/* the mirror: its file entry, then the same blocks as the metadata file's first */
	uint64_t mirror_sector = (uint64_t)l->part_start + l->mirror_fe;
	uint64_t mirror_blocks = l->meta_unit ? 1 + l->root + 1 : 0;
	uint8_t *head = calloc(head_blocks, bs);
	uint8_t *tail = calloc(tail_blocks, bs);
	uint8_t *mirror = calloc(mirror_blocks ? mirror_blocks : 1, bs);
	if (!head || !tail || !mirror) {
		free(head);
		free(tail);
		free(mirror);
		snprintf(err, errlen, "out of memory for the file system's %llu blocks of metadata",
			 (unsigned long long)(head_blocks + tail_blocks));
		return -ENOMEM;
	}
#define HB(b) (head + (uint64_t)(b)*bs)
#define TB(b) (tail + ((uint64_t)(b)-tail_start) * bs)

	/* Volume Recognition Sequence at byte 32768, one descriptor per 2048 bytes or per block. */
	uint32_t vrs_step = bs > 2048 ? bs : 2048;
	static const char *const vrs[3] = {"BEA01", NULL, "TEA01"};
	for (int i = 0; i < 3; i++) {
		uint8_t *d = head + VRS_OFFSET + (uint64_t)i * vrs_step;
		d[VSD_TYPE] = 0;
		memcpy(d + VSD_STD_IDENT, vrs[i] ? vrs[i] : (f.rev >= 0x0200 ? "NSR03" : "NSR02"), 5);
		d[VSD_VERSION] = 1;
	}
	build_vds(&f, HB(l->mvds), l->mvds);
	build_lvid(&f, HB(l->lvid));
	tag(&f, HB(l->lvid + 1), TAG_TD, l->lvid + 1, 512);
	build_anchor(&f, HB(AVDP_SECTOR), AVDP_SECTOR);
	if (l->packet_len)
		build_sparing_table(&f, HB(l->stable[0]), l->stable[0]);
	build_bitmap(&f, HB(l->part_start));
	build_fsd(&f, HB(fsd_base + l->fsd));
	tag(&f, HB(fsd_base + l->fsd + 1), TAG_TD, l->fsd + 1, 512);
	build_root(&f, HB(fsd_base + l->root));
	if (l->meta_unit) {
		uint32_t mbm_bytes = SBD_BITMAP + (uint32_t)align_up(l->meta_blocks, 8) / 8;
		uint64_t meta_bytes = (uint64_t)l->meta_blocks * bs;
		build_meta_file(&f, HB(l->part_start + l->meta_fe), l->meta_fe, META_FILE_TYPE, l->meta_start,
				meta_bytes);
		build_meta_file(&f, HB(l->part_start + l->mbm_fe), l->mbm_fe, META_BITMAP_FILE_TYPE, l->mbm_start,
				mbm_bytes);
		build_meta_bitmap(&f, HB(l->part_start + l->mbm_start));
		build_meta_file(&f, mirror, l->mirror_fe, META_MIRROR_FILE_TYPE, l->mirror_start, meta_bytes);
		memcpy(mirror + bs, HB(fsd_base), (size_t)(mirror_blocks - 1) * bs);
	}

	build_anchor(&f, TB(l->anchor[1]), l->anchor[1]);
	build_vds(&f, TB(l->rvds), l->rvds);
	if (l->packet_len)
		build_sparing_table(&f, TB(l->stable[1]), l->stable[1]);
	build_anchor(&f, TB(l->anchor[2]), l->anchor[2]);
#undef HB
#undef TB

	rc = write_all(write, ctx, 0, head, head_blocks * bs);
	if (!rc && mirror_blocks)
		rc = write_all(write, ctx, mirror_sector * bs, mirror, mirror_blocks * bs);
	if (!rc)
		rc = write_all(write, ctx, tail_start * bs, tail, tail_blocks * bs);
	free(head);
	free(tail);
	free(mirror);
	if (rc)
		snprintf(err, errlen, "writing the file system failed: %s", strerror(-rc));
	return rc;
}
