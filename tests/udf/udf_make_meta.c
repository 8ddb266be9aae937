/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_make_meta IN OUT [--break-main|--break-both]: turns a UDF image with one type-1 partition and
 * 2048-byte blocks into one whose metadata lives in a UDF 2.50 metadata partition — a second
 * partition map whose blocks are those of a metadata file (and its mirror) in the physical partition,
 * mapped one to one — by repointing the file set, the root and every file identifier at it.
 * mkudffs cannot make such images; this gives the reader's metadata-partition code a test.
 */
#define _GNU_SOURCE
#include "udf_desc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BS 2048u

static uint8_t *img;
static size_t len;

static int die(const char *m)
{
	fprintf(stderr, "udf_make_meta: %s\n", m);
	return 1;
}

static void make_fe(uint8_t *b, uint32_t loc, uint8_t ftype, uint32_t partlen)
{
	memset(b, 0, BS);
	put_le16(b, 266);
	put_le16(b + 2, 3);
	put_le32(b + 12, loc);
	put_le16(b + 20, 4); /* strategy 4 */
	put_le16(b + 24, 1); /* max entries */
	b[27] = ftype;
	put_le32(b + 36, 0xFFFFFFFFu);
	put_le32(b + 40, 0xFFFFFFFFu);
	put_le16(b + 48, 1);
	put_le64(b + 56, (uint64_t)partlen * BS);
	put_le64(b + 64, (uint64_t)partlen * BS);
	put_le64(b + 72, partlen);
	put_le32(b + 212, 8); /* L_AD: one short_ad */
	put_le32(b + 216, partlen * BS);
	put_le32(b + 220, 0);
	put_le16(b + 10, 216 + 8 - 16);
	udf_tag_finish(b, BS);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return die("usage: udf_make_meta IN OUT [--break-main|--break-both]");
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		return die("cannot open the input");
	len = (size_t)st.st_size;
	img = malloc(len);
	if (!img || pread(fd, img, len, 0) != (ssize_t)len)
		return die("cannot read the input");
	close(fd);
	uint8_t *a = img + 256 * BS;
	if (udf_tag_check(a, BS, 256) != 2)
		return die("no anchor at 256 (2048-byte blocks only)");
	uint32_t part_start = 0, partlen = 0, fsd_lbn = 0;
	uint16_t partnum = 0;
	for (int seq = 0; seq < 2; seq++) {
		uint32_t l = le32(a + 16 + 8 * seq), loc = le32(a + 20 + 8 * seq);
		for (uint32_t i = 0; i < l / BS; i++) {
			uint8_t *b = img + (size_t)(loc + i) * BS;
			int tag = udf_tag_check(b, BS, loc + i);
			if (tag == 5) {
				part_start = le32(b + 188);
				partlen = le32(b + 192);
			} else if (tag == 6) {
				uint32_t mtl = le32(b + 264);
				if (le32(b + 268) != 1 || b[440] != 1)
					return die("the input must have exactly one type-1 partition map");
				partnum = le16(b + 444);
				uint8_t *m = b + 440 + mtl;
				memset(m, 0, 64);
				m[0] = 2;
				m[1] = 64;
				memcpy(m + 5, "*UDF Metadata Partition", 23);
				put_le16(m + 28, 0x0250);
				put_le16(m + 36, 1);
				put_le16(m + 38, partnum);
				put_le32(m + 48, 0xFFFFFFFFu);
				put_le32(m + 52, 32);
				put_le16(m + 56, 1);
				put_le32(b + 264, mtl + 64);
				put_le32(b + 268, 2);
				put_le16(b + 216 + 24, 0x0250);
				fsd_lbn = le32(b + 252);
				put_le16(b + 256, 1); /* the file set descriptor now lives in the metadata partition */
				put_le16(b + 10, (uint16_t)(440 + mtl + 64 - 16));
				udf_tag_finish(b, BS);
			} else if (tag == 8) {
				break;
			}
		}
	}
	if (!partlen || (uint64_t)partlen * BS >= (1u << 30))
		return die("no usable partition");
	uint32_t meta = partlen - 2, mirror = partlen - 1;
	for (uint32_t lb = meta; lb <= mirror; lb++)
		for (uint32_t k = 0; k < BS; k++)
			if (img[(size_t)(part_start + lb) * BS + k])
				return die("the last two blocks of the partition are not free");
	/* Fill in the map's locations, in both sequences. */
	for (int seq = 0; seq < 2; seq++) {
		uint32_t l = le32(a + 16 + 8 * seq), loc = le32(a + 20 + 8 * seq);
		for (uint32_t i = 0; i < l / BS; i++) {
			uint8_t *b = img + (size_t)(loc + i) * BS;
			if (udf_tag_check(b, BS, loc + i) == 6) {
				uint8_t *m = b + 440 + le32(b + 264) - 64;
				put_le32(m + 40, meta);
				put_le32(m + 44, mirror);
				udf_tag_finish(b, BS);
			}
		}
	}
	uint8_t *fsd = img + (size_t)(part_start + fsd_lbn) * BS;
	if (udf_tag_check(fsd, BS, fsd_lbn) != 256)
		return die("no file set descriptor");
	put_le16(fsd + 408, 1);
	udf_tag_finish(fsd, BS);
	size_t nfid = 0;
	for (size_t off = (size_t)part_start * BS; off + 38 <= (size_t)(part_start + partlen) * BS; off += 4) {
		if (le16(img + off) == 257 && udf_tag_check(img + off, len - off, UINT32_MAX) == 257) {
			put_le16(img + off + 28, 1);
			udf_tag_finish(img + off, len - off);
			nfid++;
			/* A directory embedded in its file entry: that entry's CRC covers the change too. */
			uint8_t *blk = img + off / BS * BS;
			if (off % BS && (le16(blk) == 261 || le16(blk) == 266))
				udf_tag_finish(blk, BS);
		}
	}
	make_fe(img + (size_t)(part_start + meta) * BS, meta, 250, partlen);
	make_fe(img + (size_t)(part_start + mirror) * BS, mirror, 251, partlen);
	if (argc > 3 && (!strcmp(argv[3], "--break-main") || !strcmp(argv[3], "--break-both")))
		img[(size_t)(part_start + meta) * BS + 100] ^= 0xFF;
	if (argc > 3 && !strcmp(argv[3], "--break-both"))
		img[(size_t)(part_start + mirror) * BS + 100] ^= 0xFF;
	fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || pwrite(fd, img, len, 0) != (ssize_t)len || close(fd))
		return die("cannot write the output");
	fprintf(stderr, "udf_make_meta: %zu file identifiers repointed; metadata file at %u, mirror at %u\n", nfid,
		meta, mirror);
	free(img);
	return 0;
}
