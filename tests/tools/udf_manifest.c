/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_manifest IMAGE: mounts IMAGE with pktfuse's UDF engine and prints its tree in the corpus
 * manifest format (see shared/corpus/kernel-udf/README.md), sorted by path.
 */
#define _GNU_SOURCE
#include "sha256.h"
#include "udf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int img_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	ssize_t n = pread(*(int *)ctx, buf, len, (off_t)off);
	return n == (ssize_t)len ? 0 : -EIO;
}

struct line {
	char *path, *text;
};
static struct line *lines;
static size_t nlines, cap;
static int failures;

static void emit(const char *path, char *text)
{
	if (nlines == cap) {
		cap = cap ? cap * 2 : 256;
		lines = realloc(lines, cap * sizeof(*lines));
	}
	lines[nlines].path = strdup(path);
	lines[nlines].text = text;
	nlines++;
}

struct child {
	char name[1100];
	uint64_t ino;
};
struct kids {
	struct child *v;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	struct kids *k = ctx;
	(void)type;
	(void)next;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 32;
		k->v = realloc(k->v, k->cap * sizeof(*k->v));
	}
	snprintf(k->v[k->n].name, sizeof(k->v[k->n].name), "%s", name);
	k->v[k->n].ino = ino;
	k->n++;
	return 0;
}

static void walk(struct udf_fs *fs, uint64_t ino, const char *path, int depth)
{
	struct stat st;
	char *text = NULL;
	int rc = udf_getattr(fs, ino, &st);

	if (rc) {
		fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		failures++;
		return;
	}
	unsigned mode = st.st_mode & 07777;
	if (S_ISDIR(st.st_mode)) {
		if (asprintf(&text, "D|%s|%o %u %u", path, mode, st.st_uid, st.st_gid) < 0)
			exit(2);
		emit(path, text);
		if (depth > 64)
			return;
		struct kids k = {0};
		rc = udf_readdir(fs, ino, 0, collect, &k);
		if (rc) {
			fprintf(stderr, "%s: readdir: %s\n", path, strerror(-rc));
			failures++;
		}
		for (size_t i = 0; i < k.n; i++) {
			char *sub;
			uint64_t cino;
			struct stat cst;
			if (asprintf(&sub, "%s/%s", path, k.v[i].name) < 0)
				exit(2);
			rc = udf_lookup(fs, ino, k.v[i].name, &cino, &cst);
			if (rc || cino != k.v[i].ino) {
				fprintf(stderr, "%s: lookup disagrees with readdir\n", sub);
				failures++;
			} else {
				walk(fs, cino, sub, depth + 1);
			}
			free(sub);
		}
		free(k.v);
	} else if (S_ISLNK(st.st_mode)) {
		char target[4096];
		rc = udf_readlink(fs, ino, target, sizeof(target));
		if (rc) {
			fprintf(stderr, "%s: readlink: %s\n", path, strerror(-rc));
			failures++;
			return;
		}
		if (asprintf(&text, "L|%s|%s", path, target) < 0)
			exit(2);
		emit(path, text);
	} else if (S_ISFIFO(st.st_mode)) {
		if (asprintf(&text, "P|%s|%o", path, mode) < 0)
			exit(2);
		emit(path, text);
	} else if (S_ISREG(st.st_mode)) {
		struct sha256 h;
		char hex[65];
		static char buf[1 << 16];
		uint64_t off = 0;
		sha256_init(&h);
		for (;;) {
			ssize_t n = udf_read(fs, ino, off, sizeof(buf), buf);
			if (n < 0) {
				fprintf(stderr, "%s: read: %s\n", path, strerror((int)-n));
				failures++;
				return;
			}
			if (n == 0)
				break;
			sha256_update(&h, buf, (size_t)n);
			off += (uint64_t)n;
		}
		sha256_hex(&h, hex);
		if (off != (uint64_t)st.st_size) {
			fprintf(stderr, "%s: read %llu bytes of %lld\n", path, (unsigned long long)off,
				(long long)st.st_size);
			failures++;
		}
		if (asprintf(&text, "F|%s|%lld %o %u %u %lld %lu|%s", path, (long long)st.st_size, mode, st.st_uid,
			     st.st_gid, (long long)st.st_mtim.tv_sec, (unsigned long)st.st_nlink, hex) < 0)
			exit(2);
		emit(path, text);
	} else {
		if (asprintf(&text, "?|%s|%o", path, st.st_mode) < 0)
			exit(2);
		emit(path, text);
	}
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->path, ((const struct line *)b)->path);
}

int main(int argc, char **argv)
{
	char err[512];
	struct udf_fs *fs;

	if (argc != 2 && !(argc == 3 && strcmp(argv[1], "--statfs") == 0)) {
		fprintf(stderr, "usage: udf_manifest [--statfs] IMAGE   (UDF_SESSION_START=sector for a later session, "
				"UDF_LAST_BLOCK=block)\n");
		return 2;
	}
	const char *path = argv[argc - 1];
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		return 2;
	}
	const char *ss = getenv("UDF_SESSION_START");
	struct udf_io io = {.read = img_read,
			    .ctx = &fd,
			    .size = (uint64_t)st.st_size,
			    .session_start = ss ? strtoull(ss, NULL, 10) : 0};
	const char *lb = getenv("UDF_LAST_BLOCK");
	struct udf_mount_opts mo = {.uid = getuid(),
				    .gid = getgid(),
				    .session_given = ss != NULL,
				    .last_block = lb ? strtoull(lb, NULL, 10) : 0};
	int rc = udf_mount(&io, &mo, &fs, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "udf_manifest: %s\n", err);
		return 1;
	}
	if (*udf_mount_note(fs))
		fprintf(stderr, "udf_manifest: note: %s\n", udf_mount_note(fs));
	if (argc == 3) {
		struct udf_statfs sf;
		udf_statfs(fs, &sf);
		printf("label=%s\nblocksize=%u\nblocks=%llu\nfreeblocks=%llu\nnumfiles=%llu\nnumdirs=%llu\nudfrev=%x.%"
		       "02x\n",
		       sf.label, sf.block_size, (unsigned long long)sf.blocks, (unsigned long long)sf.free_blocks,
		       (unsigned long long)sf.files, (unsigned long long)sf.dirs, sf.revision >> 8, sf.revision & 0xFF);
	} else {
		walk(fs, udf_root_ino(fs), ".", 0);
		qsort(lines, nlines, sizeof(*lines), by_path);
		for (size_t i = 0; i < nlines; i++) {
			puts(lines[i].text);
			free(lines[i].text);
			free(lines[i].path);
		}
		free(lines);
	}
	udf_unmount(fs);
	close(fd);
	return failures ? 1 : 0;
}
