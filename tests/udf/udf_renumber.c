/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_renumber IMAGE NUMBER: gives the physical partition of a UDF image (pktfuse format's, any
 * revision and block size) the partition number NUMBER, in place, as Windows numbers the partition
 * of the 2.50 discs it formats (8192, for one): the partition descriptor and every partition map
 * that names it (type 1, sparable, metadata) in both volume descriptor sequences, each tag's
 * checksum and CRC redone.  Addresses inside the volume name partitions by reference number (a map's
 * index), which does not change.  Prints what it changed.
 */
#define _GNU_SOURCE
#include "ecma167.h"
#include "udf_desc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int die(const char *m)
{
	fprintf(stderr, "udf_renumber: %s\n", m);
	return 1;
}

/* The block size at which an anchor lies at block 256, or 0 */
static uint32_t find_block_size(int fd, uint8_t *b)
{
	for (uint32_t bs = 512; bs <= 4096; bs *= 2)
		if (pread(fd, b, bs, (off_t)256 * bs) == (ssize_t)bs && udf_tag_check(b, bs, 256) == TAG_AVDP)
			return bs;
	return 0;
}

/* Renumbers what names partition number from in the descriptor b (at block loc): 1 when it was
 * changed, 0 when it names no partition, -1 when it names another partition than from */
static int renumber(uint8_t *b, uint32_t bs, int tag, uint16_t from, uint16_t to, unsigned *maps)
{
	int changed = 0;
	if (tag == TAG_PD) {
		if (le16(b + PD_NUMBER) != from)
			return -1;
		put_le16(b + PD_NUMBER, to);
		changed = 1;
	} else if (tag == TAG_LVD) {
		uint32_t n = le32(b + LVD_NUM_PARTITION_MAPS),
			 end = LVD_PARTITION_MAPS + le32(b + LVD_MAP_TABLE_LENGTH);
		uint32_t at = LVD_PARTITION_MAPS;
		if (end > bs)
			return -1;
		for (uint32_t k = 0; k < n && at + 2 <= end && b[at + PMAP_LENGTH] >= 6; k++) {
			uint32_t field = b[at + PMAP_TYPE] == 1 ? PMAP1_PART_NUM : PMAP2_PART_NUM;
			if (at + field + 2 > end || le16(b + at + field) != from)
				return -1;
			put_le16(b + at + field, to);
			(*maps)++;
			changed = 1;
			at += b[at + PMAP_LENGTH];
		}
	}
	if (changed)
		udf_tag_finish(b, bs);
	return changed;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return die("usage: udf_renumber IMAGE NUMBER");
	char *end;
	unsigned long to = strtoul(argv[2], &end, 0);
	if (*end || to > 0xFFFF)
		return die("NUMBER must be 0..65535");
	static uint8_t a[4096], b[4096]; /* the anchor, and one descriptor at a time */
	int fd = open(argv[1], O_RDWR);
	if (fd < 0)
		return die("cannot open the image");
	uint32_t bs = find_block_size(fd, a);
	if (!bs)
		return die("no anchor at block 256");
	/* the partition's number now: the first partition descriptor's */
	int from = -1;
	unsigned pds = 0, maps = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int seq = 0; seq < 2; seq++) {
			uint32_t len = le32(a + 16 + 8 * seq), loc = le32(a + 20 + 8 * seq);
			for (uint32_t i = 0; i < len / bs; i++) {
				off_t off = (off_t)(loc + i) * bs;
				int tag = pread(fd, b, bs, off) == (ssize_t)bs ? udf_tag_check(b, bs, loc + i) : -1;
				if (tag < 0 || tag == TAG_TD)
					break;
				if (pass == 0) {
					if (tag == TAG_PD && from < 0)
						from = le16(b + PD_NUMBER);
					continue;
				}
				int r = renumber(b, bs, tag, (uint16_t)from, (uint16_t)to, &maps);
				if (r < 0)
					return die("a descriptor names a partition number other than the partition's: "
						   "only one physical partition is supported");
				if (r && pwrite(fd, b, bs, off) != (ssize_t)bs)
					return die("cannot write the image");
				pds += tag == TAG_PD;
			}
			if (pass == 0 && from < 0 && seq == 1)
				return die("no partition descriptor");
		}
	if (fsync(fd) || close(fd))
		return die("cannot write the image");
	printf("partition %d renumbered %lu at %u-byte blocks: %u partition descriptors, %u partition maps\n", from, to,
	       bs, pds, maps);
	return 0;
}
