/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: mount + full tree walk of a corpus image damaged by the fuzzer's input.  The
 * input is a list of patches (4-byte position, 1-byte value, 1-byte flags) applied to the base image
 * named by $UDF_FUZZ_BASE, positions folded into the blocks that hold descriptors; flag bit 0 asks
 * for the descriptor's checksum and CRC to be recomputed, so that damage reaches the deep parsers.
 * Small inputs, deep coverage: the corpus images themselves are megabytes.
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

static uint8_t *base, *img;
static size_t len;
static uint32_t bs;
static size_t *desc;
static size_t ndesc;

static int mem_read(void *ctx, uint64_t off, size_t n, void *buf)
{
	(void)ctx;
	if (off > len || n > len - off)
		return -EIO;
	memcpy(buf, img + off, n);
	return 0;
}

static void load_base(void)
{
	const char *path = getenv("UDF_FUZZ_BASE");
	struct stat st;
	int fd = path ? open(path, O_RDONLY) : -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "set UDF_FUZZ_BASE to a UDF image\n");
		abort();
	}
	len = (size_t)st.st_size;
	base = malloc(len);
	img = malloc(len);
	if (pread(fd, base, len, 0) != (ssize_t)len)
		abort();
	close(fd);
	for (bs = 512; bs <= 4096; bs *= 2)
		if ((size_t)257 * bs <= len && udf_tag_check(base + 256 * bs, bs, 256) == 2)
			break;
	desc = malloc((len / bs + 1) * sizeof(*desc));
	for (size_t b = 0; b < len / bs; b++)
		if (udf_tag_check(base + b * bs, bs, UINT32_MAX) > 0)
			desc[ndesc++] = b;
}

struct kids {
	uint64_t ino[4096];
	char name[4096][256];
	size_t n;
};

static int fill(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	struct kids *k = ctx;
	(void)type;
	(void)next;
	if (k->n == 4096)
		return 1;
	snprintf(k->name[k->n], 256, "%s", name);
	k->ino[k->n++] = ino;
	return 0;
}

static void walk(struct udf_fs *fs, uint64_t dir, int depth)
{
	static char buf[65536];
	struct kids *k;

	if (depth > 8 || !(k = calloc(1, sizeof(*k))))
		return;
	udf_readdir(fs, dir, 0, fill, k);
	for (size_t i = 2; i < k->n; i++) {
		struct stat st;
		uint64_t ino;
		char t[4096];
		if (udf_lookup(fs, dir, k->name[i], &ino, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			walk(fs, ino, depth + 1);
		else if (S_ISLNK(st.st_mode))
			udf_readlink(fs, ino, t, sizeof(t));
		else
			udf_read(fs, ino, 0, sizeof(buf), buf);
	}
	free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base)
		load_base();
	memcpy(img, base, len);
	for (size_t i = 0; i + 6 <= size; i += 6) {
		size_t b = desc[le32(data + i) % ndesc];
		size_t at = b * bs + (le32(data + i) / ndesc) % bs;
		img[at] = data[i + 4];
		if (data[i + 5] & 1)
			udf_tag_finish(img + b * bs, bs);
	}
	struct udf_fs *fs;
	char err[256];
	struct udf_io io = {.read = mem_read, .ctx = NULL, .size = len, .session_start = 0};
	struct udf_mount_opts mo = {.uid = 0, .gid = 0};
	if (udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0) {
		walk(fs, udf_root_ino(fs), 0);
		udf_unmount(fs);
	}
	return 0;
}
