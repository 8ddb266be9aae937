/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_big_dir IN OUT DIR N: rewrites directory DIR (a top-level directory of a UDF image with one
 * type-1 partition) so that it holds N entries "f00000"… — hard links to its first file — laid out
 * in free blocks at the end of the partition.  Benchmark input only: until pktfuse writes UDF, nothing
 * else here can make a 20,000-entry directory (udfclient's writer fails with ENOSPC).
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_desc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *img;
static size_t len;

static int die(const char *m)
{
	fprintf(stderr, "udf_big_dir: %s\n", m);
	return 1;
}

static int mem_read(void *ctx, uint64_t off, size_t n, void *buf)
{
	(void)ctx;
	if (off > len || n > len - off)
		return -EIO;
	memcpy(buf, img + off, n);
	return 0;
}

struct first {
	uint64_t ino;
	int found;
};
static int first_file(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	struct first *f = ctx;
	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, "..") || type == S_IFDIR)
		return 0;
	f->ino = ino;
	f->found = 1;
	return 1;
}

/* One FID at p; returns its length. */
static size_t put_fid(uint8_t *p, uint8_t ch, uint32_t lbn, const char *name, uint32_t tagloc)
{
	size_t nl = name ? strlen(name) : 0, l = (38 + (nl ? nl + 1 : 0) + 3) & ~(size_t)3;
	memset(p, 0, l);
	put_le16(p, 257);
	put_le16(p + 2, 3);
	put_le32(p + 12, tagloc);
	put_le16(p + 16, 1);
	p[18] = ch;
	p[19] = (uint8_t)(nl ? nl + 1 : 0);
	put_le32(p + 20, 2048);
	put_le32(p + 24, lbn);
	if (nl) {
		p[38] = 8;
		memcpy(p + 39, name, nl);
	}
	put_le16(p + 10, (uint16_t)(l - 16));
	udf_tag_finish(p, l);
	return l;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		return die("usage: udf_big_dir IN OUT DIR N");
	unsigned n = (unsigned)strtoul(argv[4], NULL, 10);
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		return die("cannot open the input");
	len = (size_t)st.st_size;
	img = malloc(len);
	if (!img || pread(fd, img, len, 0) != (ssize_t)len)
		return die("cannot read the input");
	close(fd);
	struct udf_io io = {.read = mem_read, .ctx = NULL, .size = len, .session_start = 0};
	struct udf_mount_opts mo = {.uid = 0, .gid = 0};
	struct udf_fs *fs;
	char err[256];
	if (udf_mount(&io, &mo, &fs, err, sizeof(err)))
		return die(err);
	struct udf_statfs sf;
	udf_statfs(fs, &sf);
	if (sf.block_size != 2048)
		return die("2048-byte blocks only");
	uint64_t dir, root = udf_root_ino(fs);
	struct stat ds;
	struct first f = {0, 0};
	if (udf_lookup(fs, root, argv[3], &dir, &ds) || !S_ISDIR(ds.st_mode))
		return die("no such top-level directory");
	udf_readdir(fs, dir, 0, first_file, &f);
	if (!f.found)
		return die("the directory holds no file to link to");
	udf_unmount(fs);
	/* Inode numbers are (partition << 32 | block) + 16 (core/udf); one partition, number 0. */
	uint32_t dir_lbn = (uint32_t)(dir - 16), file_lbn = (uint32_t)(f.ino - 16), root_lbn = (uint32_t)(root - 16);
	uint8_t *a = img + 256 * 2048;
	uint32_t vloc = le32(a + 20), part_start = 0, partlen = 0;
	for (uint32_t i = 0; i < 64; i++) {
		uint8_t *b = img + (size_t)(vloc + i) * 2048;
		if (udf_tag_check(b, 2048, vloc + i) == 5) {
			part_start = le32(b + 188);
			partlen = le32(b + 192);
		}
	}
	size_t bytes = 40 + (size_t)n * 48, blocks = (bytes + 2047) / 2048;
	/* The last run of free (all-zero) blocks that is long enough. */
	uint32_t start = 0, run = 0;
	for (uint32_t lb = partlen; lb-- > 0;) {
		const uint8_t *b = img + (size_t)(part_start + lb) * 2048;
		int zero = 1;
		for (int k = 0; k < 2048 && zero; k++)
			zero = !b[k];
		run = zero ? run + 1 : 0;
		if (run >= blocks) {
			start = lb;
			break;
		}
	}
	if (run < blocks)
		return die("not enough free space for the directory");
	uint8_t *d = img + (size_t)(part_start + start) * 2048;
	size_t pos = put_fid(d, 0x0A, root_lbn, NULL, start);
	for (unsigned i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%05u", i);
		pos += put_fid(d + pos, 0, file_lbn, name, start + (uint32_t)(pos / 2048));
	}
	/* The directory's file entry now points at the new data with one short_ad. */
	uint8_t *fe = img + (size_t)(part_start + dir_lbn) * 2048;
	int efe = le16(fe) == 266;
	size_t hdr = efe ? 216 : 176, lea = le32(fe + (efe ? 208 : 168));
	put_le16(fe + 34, (uint16_t)(le16(fe + 34) & ~7u));
	put_le32(fe + (efe ? 212 : 172), 8);
	memset(fe + hdr + lea, 0, 2048 - hdr - lea);
	put_le32(fe + hdr + lea, (uint32_t)pos);
	put_le32(fe + hdr + lea + 4, start);
	put_le64(fe + 56, pos);
	if (efe)
		put_le64(fe + 64, pos);
	put_le64(fe + (efe ? 72 : 64), blocks);
	put_le16(fe + 10, (uint16_t)(hdr + lea + 8 - 16));
	udf_tag_finish(fe, 2048);
	fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || pwrite(fd, img, len, 0) != (ssize_t)len || close(fd))
		return die("cannot write the output");
	printf("%s/ now holds %u entries (%zu bytes at block %u)\n", argv[3], n, pos, start);
	free(img);
	return 0;
}
