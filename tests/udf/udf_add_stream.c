/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_add_stream IMAGE NAME STREAM TEXT: gives the file NAME of the root directory of a UDF 2.00/2.01
 * image with 2048-byte blocks and one partition (what `pktfuse format` makes) a named stream: its file
 * entry becomes an extended file entry whose stream directory ICB points at a new stream directory
 * (UDF 3.3.5) holding one stream STREAM with the bytes TEXT (embedded).  The two new entries' blocks
 * are taken from the space bitmap, the LVID's free space and next unique ID follow.  Nothing makes
 * such files on Linux; this gives the writer's "streams kept" rule a test.
 */
#define _GNU_SOURCE
#include "ecma167.h"
#include "udf_desc.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BS 2048u
#define TAG_FID_ID 257
#define TAG_FE_ID 261
#define TAG_EFE_ID 266

static int fd;
static uint8_t blk[BS];
static uint32_t pstart;

static int die(const char *m)
{
	fprintf(stderr, "udf_add_stream: %s\n", m);
	return 1;
}

static int rd(uint64_t sector, uint8_t *b)
{
	return pread(fd, b, BS, (off_t)(sector * BS)) == (ssize_t)BS ? 0 : -1;
}

static int wr(uint64_t sector, uint8_t *b)
{
	return pwrite(fd, b, BS, (off_t)(sector * BS)) == (ssize_t)BS ? 0 : -1;
}

/* A new extended file entry at partition block lbn: file type ftype, data embedded. */
static void make_efe(uint8_t *b, uint32_t lbn, uint8_t ftype, uint64_t uniq, const uint8_t *data, uint32_t len)
{
	memset(b, 0, BS);
	put_le16(b + ICB_STRATEGY_TYPE, 4);
	put_le16(b + ICB_MAX_ENTRIES, 1);
	b[ICB_FILE_TYPE] = ftype;
	put_le16(b + ICB_FLAGS, 3); /* embedded */
	put_le32(b + FE_UID, 0xFFFFFFFFu);
	put_le32(b + FE_GID, 0xFFFFFFFFu);
	put_le32(b + FE_PERMISSIONS, 0x1CE7); /* rwx for all but delete/chattr */
	put_le16(b + FE_LINK_COUNT, 1);
	put_le64(b + FE_INFO_LENGTH, len);
	put_le64(b + EFE_OBJECT_SIZE, len);
	put_le64(b + EFE_UNIQUE_ID, uniq);
	put_le32(b + EFE_AD_LEN, len);
	memcpy(b + EFE_SIZE, data, len);
	udf_put_tag(b, TAG_EFE_ID, 3, 1, lbn, (uint16_t)(EFE_SIZE + len - TAG_SIZE));
	udf_tag_finish(b, BS);
}

/* A FID of name (8-bit, may be empty for the parent) naming the ICB at lbn; returns its length. */
static size_t put_fid(uint8_t *f, uint32_t at, uint8_t chars, const char *name, uint32_t lbn)
{
	size_t nl = *name ? strlen(name) + 1 : 0, len = (38 + nl + 3) & ~(size_t)3;
	memset(f, 0, len);
	put_le16(f + FID_VERSION, 1);
	f[FID_CHARACTERISTICS] = chars;
	f[FID_NAME_LEN] = (uint8_t)nl;
	put_le32(f + FID_ICB + AD_LEN, BS);
	put_le32(f + FID_ICB + LAD_LBN, lbn);
	if (nl) {
		f[FID_IMPL_USE] = 8;
		memcpy(f + FID_IMPL_USE + 1, name, nl - 1);
	}
	udf_put_tag(f, TAG_FID_ID, 3, 1, at, (uint16_t)(len - TAG_SIZE));
	udf_tag_finish(f, len);
	return len;
}

/* The root's file entry's FID of name: the partition block of its ICB, or UINT32_MAX. */
static uint32_t find_in_root(uint32_t root, const char *name)
{
	uint8_t fe[BS], dir[8 * BS];
	size_t dlen;

	if (rd(pstart + root, fe) || (le16(fe) != TAG_FE_ID && le16(fe) != TAG_EFE_ID))
		return UINT32_MAX;
	bool efe = le16(fe) == TAG_EFE_ID;
	uint32_t hdr = efe ? EFE_SIZE : FE_SIZE;
	uint32_t lea = le32(fe + (efe ? EFE_EA_LEN : FE_EA_LEN)), lad = le32(fe + (efe ? EFE_AD_LEN : FE_AD_LEN));
	if (hdr + lea + lad > BS)
		return UINT32_MAX;
	if ((le16(fe + ICB_FLAGS) & 7) == 3) {
		dlen = lad;
		memcpy(dir, fe + hdr + lea, dlen);
	} else { /* short_ads: the first extent is enough for a small root */
		dlen = le32(fe + hdr + lea) & AD_LEN_MASK;
		if (dlen > sizeof(dir))
			dlen = sizeof(dir);
		for (size_t k = 0; k * BS < dlen; k++)
			if (rd(pstart + le32(fe + hdr + lea + 4) + k, dir + k * BS))
				return UINT32_MAX;
	}
	for (size_t off = 0; off + 38 <= dlen;) {
		const uint8_t *f = dir + off;
		size_t nl = f[FID_NAME_LEN], iu = le16(f + FID_IMPL_USE_LEN);
		const uint8_t *n = f + FID_IMPL_USE + iu;
		if (le16(f) != TAG_FID_ID)
			return UINT32_MAX;
		if (nl == strlen(name) + 1 && n[0] == 8 && !memcmp(n + 1, name, nl - 1))
			return le32(f + FID_ICB + LAD_LBN);
		off += (38 + iu + nl + 3) & ~(size_t)3;
	}
	return UINT32_MAX;
}

/* Two free blocks of the bitmap (of the partition's sbd at sbd), marked used; -1 when none. */
static int take_blocks(uint32_t sbd, uint32_t out[2])
{
	uint8_t b[BS];
	uint32_t at = UINT32_MAX, got = 0;
	if (rd(pstart + sbd, b))
		return -1;
	uint32_t nbits = le32(b + SBD_NUM_BITS);
	for (uint32_t i = 0; i < nbits && got < 2; i++) {
		uint64_t byte = SBD_BITMAP + i / 8;
		if (byte / BS != at && rd(pstart + sbd + (at = (uint32_t)(byte / BS)), b))
			return -1;
		if (b[byte % BS] & (1u << (i % 8))) {
			b[byte % BS] &= (uint8_t) ~(1u << (i % 8));
			out[got++] = i;
			if (wr(pstart + sbd + at, b))
				return -1;
		}
	}
	return got == 2 ? 0 : -1;
}

/* --show: the streams of the file entry at partition block file, "NAME=TEXT" each, every tag checked. */
static int show(uint32_t file)
{
	uint8_t b[BS], s[BS];
	if (rd(pstart + file, b) || udf_tag_check(b, BS, file) != TAG_EFE_ID)
		return die("the file's entry is no valid extended file entry");
	if (!(le32(b + EFE_STREAM_DIR_ICB + AD_LEN) & AD_LEN_MASK))
		return die("the file has no stream directory");
	uint32_t sdl = le32(b + EFE_STREAM_DIR_ICB + LAD_LBN);
	if (rd(pstart + sdl, b) || udf_tag_check(b, BS, sdl) != TAG_EFE_ID || b[ICB_FILE_TYPE] != 13 ||
	    (le16(b + ICB_FLAGS) & 7) != 3)
		return die("the stream directory is no valid embedded extended file entry");
	uint32_t len = le32(b + EFE_AD_LEN), lea = le32(b + EFE_EA_LEN);
	for (uint32_t off = 0; off + 38 <= len && EFE_SIZE + lea + len <= BS;) {
		uint8_t *f = b + EFE_SIZE + lea + off;
		size_t nl = f[FID_NAME_LEN], iu = le16(f + FID_IMPL_USE_LEN);
		uint32_t sl = le32(f + FID_ICB + LAD_LBN);
		if (udf_tag_check(f, (38 + iu + nl + 3) & ~(size_t)3, sdl) != TAG_FID_ID)
			return die("a FID of the stream directory is damaged");
		if (nl && !(f[FID_CHARACTERISTICS] & 8)) {
			if (rd(pstart + sl, s) || udf_tag_check(s, BS, sl) != TAG_EFE_ID ||
			    (le16(s + ICB_FLAGS) & 7) != 3)
				return die("a stream's entry is damaged");
			uint32_t dl = le32(s + EFE_AD_LEN);
			printf("%.*s=%.*s\n", (int)nl - 1, (const char *)f + FID_IMPL_USE + iu + 1, (int)dl,
			       (const char *)s + EFE_SIZE + le32(s + EFE_EA_LEN));
		}
		off += (38 + iu + nl + 3) & ~(uint32_t)3;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t avdp[BS], lvd[BS] = {0}, pd[BS] = {0}, fsd[BS], lvid[BS], fe[BS], efe[BS], sd[BS];

	bool showing = argc == 4 && !strcmp(argv[1], "--show");
	if (showing) {
		argv++;
		argc = 5;
	}
	if (argc != 5)
		return die("usage: udf_add_stream IMAGE NAME STREAM TEXT | --show IMAGE NAME");
	if (!showing && (strlen(argv[3]) > 200 || strlen(argv[4]) > 1000))
		return die("the stream's name or text is too long");
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || rd(AVDP_SECTOR, avdp) || le16(avdp) != 2)
		return die("no anchor at sector 256");
	uint32_t vds = le32(avdp + AVDP_MAIN_VDS + EXT_LOC), nvds = le32(avdp + AVDP_MAIN_VDS + EXT_LEN) / BS;
	for (uint32_t i = 0; i < nvds && rd(vds + i, blk) == 0 && le16(blk) != 8; i++) {
		if (le16(blk) == 5)
			memcpy(pd, blk, BS);
		if (le16(blk) == 6)
			memcpy(lvd, blk, BS);
	}
	if (le16(pd) != 5 || le16(lvd) != 6 || le32(lvd + LVD_LOGICAL_BLOCK_SIZE) != BS)
		return die("no partition or logical volume descriptor with 2048-byte blocks");
	pstart = le32(pd + PD_START);
	uint32_t sbd = le32(pd + PD_CONTENTS_USE + PHD_UNALLOC_BITMAP + 4);
	uint32_t lvid_loc = le32(lvd + LVD_INTEGRITY_SEQ + EXT_LOC);
	if (rd(pstart + le32(lvd + LVD_FSD + LAD_LBN), fsd) || le16(fsd) != 256 || rd(lvid_loc, lvid) ||
	    le16(lvid) != 9)
		return die("no file set or integrity descriptor");
	uint32_t file = find_in_root(le32(fsd + FSD_ROOT_ICB + LAD_LBN), argv[2]);
	if (showing)
		return file == UINT32_MAX ? die("no such file in the root directory") : show(file);
	if (file == UINT32_MAX || rd(pstart + file, fe) || le16(fe) != TAG_FE_ID)
		return die("no such file (a file entry) in the root directory");
	uint32_t lea = le32(fe + FE_EA_LEN), lad = le32(fe + FE_AD_LEN), nb[2];
	if (EFE_SIZE + lea + lad > BS)
		return die("the file entry would not fit as an extended one");
	if (take_blocks(sbd, nb))
		return die("no two free blocks");
	uint64_t uniq = le64(lvid + LVID_NEXT_UNIQUE_ID);

	/* the stream (a file entry of its own), then the stream directory: its parent is the file */
	make_efe(efe, nb[0], 5, uniq, (const uint8_t *)argv[4], (uint32_t)strlen(argv[4]));
	uint8_t fids[512];
	size_t fl = put_fid(fids, nb[1], 0x0A, "", file);
	fl += put_fid(fids + fl, nb[1], 0, argv[3], nb[0]);
	make_efe(sd, nb[1], 13, uniq + 1, fids, (uint32_t)fl);

	/* the file entry as an extended one: the same fields, an object size, the stream directory */
	memcpy(blk, fe, BS);
	udf_fe_to_efe(blk);
	put_le32(blk + EFE_STREAM_DIR_ICB + AD_LEN, BS);
	put_le32(blk + EFE_STREAM_DIR_ICB + LAD_LBN, nb[1]);
	udf_put_tag(blk, TAG_EFE_ID, le16(fe + TAG_DESC_VERSION), le16(fe + TAG_SERIAL), file,
		    (uint16_t)(EFE_SIZE + lea + lad - TAG_SIZE));
	udf_tag_finish(blk, BS);

	put_le64(lvid + LVID_NEXT_UNIQUE_ID, uniq + 2);
	put_le32(lvid + LVID_FREE_SPACE, le32(lvid + LVID_FREE_SPACE) - 2);
	udf_tag_finish(lvid, BS);
	if (wr(pstart + nb[0], efe) || wr(pstart + nb[1], sd) || wr(pstart + file, blk) || wr(lvid_loc, lvid) ||
	    fsync(fd))
		return die("cannot write the image");
	printf("stream directory at block %u, stream %s at block %u\n", nb[1], argv[3], nb[0]);
	return close(fd) ? die("close failed") : 0;
}
