/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_lookup_bench IMAGE BIGDIR SMALLDIR: time per lookup (after the directory has been read once)
 * of every name of a large directory and of a small one, through the UDF engine, and their ratio.
 */
#define _GNU_SOURCE
#include "udf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int img_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	return pread(*(int *)ctx, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
}

struct names {
	char (*v)[256];
	size_t n;
};

static int collect(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	struct names *k = ctx;
	(void)ino;
	(void)type;
	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	k->v = realloc(k->v, (k->n + 1) * sizeof(*k->v));
	snprintf(k->v[k->n++], 256, "%s", name);
	return 0;
}

static double per_lookup_ns(struct udf_fs *fs, const char *path, size_t *count)
{
	uint64_t dir = udf_root_ino(fs), ino;
	struct stat st;
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *tok = strtok(tmp, "/"); tok; tok = strtok(NULL, "/")) {
		if (udf_lookup(fs, dir, tok, &ino, &st))
			return -1;
		dir = ino;
	}
	struct names k = {0};
	udf_readdir(fs, dir, 0, collect, &k);
	*count = k.n;
	for (size_t i = 0; i < k.n; i++) /* warm: every node loaded once */
		udf_lookup(fs, dir, k.v[i], &ino, &st);
	struct timespec a, b;
	size_t rounds = 2000000 / (k.n ? k.n : 1) + 1, total = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (size_t r = 0; r < rounds; r++)
		for (size_t i = 0; i < k.n; i++, total++)
			udf_lookup(fs, dir, k.v[(i * 7919) % k.n], &ino, &st);
	clock_gettime(CLOCK_MONOTONIC, &b);
	free(k.v);
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)total;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: udf_lookup_bench IMAGE BIGDIR SMALLDIR\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[1]);
		return 2;
	}
	struct udf_io io = {.read = img_read, .ctx = &fd, .size = (uint64_t)st.st_size, .session_start = 0};
	struct udf_mount_opts mo = {.uid = 0, .gid = 0};
	struct udf_fs *fs;
	char err[256];
	if (udf_mount(&io, &mo, &fs, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	size_t nb = 0, ns = 0;
	double big = per_lookup_ns(fs, argv[2], &nb), small = per_lookup_ns(fs, argv[3], &ns);
	printf("lookup in a %zu-entry directory: %.0f ns; in a %zu-entry directory: %.0f ns; ratio %.2f\n", nb, big, ns,
	       small, big / small);
	udf_unmount(fs);
	close(fd);
	return 0;
}
