/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_shift IN OUT S: makes a stand-in for the last session of a multi-session disc — S empty
 * sectors, then IN with every volume-space address (anchor, descriptor locations, partition start,
 * integrity and unallocated-space extents) moved by S, and the anchors at the end removed, so that
 * only the anchor at S+256 finds the volume.  For UDF images with 2048-byte blocks and a type-1
 * partition, with or without a VAT (partition-relative addresses need no change).
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

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void add32(uint8_t *p, uint32_t s)
{
	put32(p, le32(p) + s);
}

static int die(const char *m)
{
	fprintf(stderr, "udf_shift: %s\n", m);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return die("usage: udf_shift IN OUT SECTORS");
	uint32_t S = (uint32_t)strtoul(argv[3], NULL, 10);
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		return die("cannot open the input");
	size_t len = (size_t)st.st_size, n = len / BS;
	uint8_t *in = malloc(len), *img = calloc(1, len + (size_t)S * BS);
	if (!in || !img || pread(fd, in, len, 0) != (ssize_t)len)
		return die("cannot read the input");
	close(fd);
	memcpy(img + (size_t)S * BS, in, len);
	uint8_t *a = img + (size_t)(S + 256) * BS;
	if (udf_tag_check(a, BS, 256) != 2)
		return die("no anchor at 256 (2048-byte blocks only)");
	uint32_t lvid_loc = 0;
	for (int seq = 0; seq < 2; seq++) {
		uint32_t l = le32(a + 16 + 8 * seq), loc = le32(a + 20 + 8 * seq);
		for (uint32_t i = 0; i < l / BS; i++) {
			uint8_t *b = img + (size_t)(S + loc + i) * BS;
			int tag = udf_tag_check(b, BS, loc + i);
			if (tag < 0)
				break;
			add32(b + 12, S);
			if (tag == 5)
				add32(b + 188, S);
			if (tag == 6) {
				/* a type-1 partition, or one and its VAT's virtual partition (whose
				 * addresses are partition-relative too) */
				uint32_t nmaps = le32(b + 268);
				if (b[440] != 1 || nmaps < 1 || nmaps > 2 ||
				    (nmaps == 2 && (b[446] != 2 || memcmp(b + 451, "*UDF Virtual", 12) != 0)))
					return die("only a single type-1 partition (and a VAT) is supported");
				lvid_loc = le32(b + 436);
				add32(b + 436, S);
			}
			if (tag == 7) /* unallocated space extents */
				for (uint32_t k = 0; k < le32(b + 20) && 24 + 8 * k + 8 <= BS; k++)
					if (le32(b + 24 + 8 * k))
						add32(b + 24 + 8 * k + 4, S);
			udf_tag_finish(b, BS);
			if (tag == 8)
				break;
		}
	}
	for (int k = 0; k < 2; k++)
		add32(a + 20 + 8 * k, S);
	add32(a + 12, S);
	udf_tag_finish(a, BS);
	if (lvid_loc) {
		uint8_t *b = img + (size_t)(S + lvid_loc) * BS;
		if (udf_tag_check(b, BS, lvid_loc) == 9) {
			add32(b + 12, S);
			if (le32(b + 32))
				add32(b + 36, S);
			udf_tag_finish(b, BS);
		}
	}
	/* The end anchors (N-1 and N-257 of the input) would find the old, unshifted volume: remove
	 * (an open write-once disc has none: its last block is the VAT). */
	for (size_t e = 1; e <= 257 && e < n; e += 256)
		if (udf_tag_check(img + (size_t)(S + n - e) * BS, BS, (uint32_t)(n - e)) == 2)
			memset(img + (size_t)(S + n - e) * BS, 0, BS);
	fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || pwrite(fd, img, len + (size_t)S * BS, 0) != (ssize_t)(len + (size_t)S * BS) || close(fd))
		return die("cannot write the output");
	free(in);
	free(img);
	return 0;
}
