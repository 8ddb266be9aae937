/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * crash_files: a file workload for crash tests of a file system.
 *
 * crash_files write DIR SEED LOG   creates files of many sizes in a few directories, appends to some,
 *                                  and makes noise that is never fsync'd (temporary files renamed and
 *                                  deleted, directories made and removed).  About half of the files
 *                                  are fsync'd; only AFTER fsync(2) returned is "path size sha256"
 *                                  appended to LOG (on another file system) and LOG fsync'd.  A file
 *                                  in LOG is only ever appended to afterwards, never renamed or
 *                                  deleted.  Runs until an operation fails (the daemon was killed):
 *                                  exit 1, or until 100,000 operations: exit 0.
 * crash_files check DIR LOG        every file of LOG (its last line) is there, at least as long as
 *                                  logged, and its first SIZE bytes have the logged sha256.
 */
#define _GNU_SOURCE
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
	return (unsigned)(next() % n);
}

/* Content is a function of the file's number and the offset: appends continue the same stream. */
static void content(unsigned long file, uint64_t off, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t o = off + i;
		b[i] = (uint8_t)((o * 2654435761u + file * 40503u) >> 7 ^ (o >> 13) ^ file);
	}
}

struct logged {
	char path[256];
	unsigned long id;
	uint64_t size;
};

static int write_all(int fd, unsigned long id, uint64_t off, uint64_t len)
{
	static uint8_t buf[1 << 16];
	while (len) {
		size_t n = 1 + below(sizeof(buf));
		if (n > len)
			n = (size_t)len;
		content(id, off, buf, n);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

static int hash_prefix(const char *path, uint64_t size, char hex[65])
{
	static uint8_t buf[1 << 16];
	struct sha256 h;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	sha256_init(&h);
	uint64_t off = 0;
	while (off < size) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		ssize_t r = pread(fd, buf, n, (off_t)off);
		if (r <= 0) {
			close(fd);
			return -1;
		}
		sha256_update(&h, buf, (size_t)r);
		off += (uint64_t)r;
	}
	close(fd);
	sha256_hex(&h, hex);
	return 0;
}

/* The sha256 of the first size bytes of file id's stream: what the file holds once fsync'd. */
static void sha_of(unsigned long id, uint64_t size, char hex[65])
{
	static uint8_t buf[1 << 16];
	struct sha256 h;
	sha256_init(&h);
	for (uint64_t o = 0; o < size;) {
		size_t n = size - o < sizeof(buf) ? (size_t)(size - o) : sizeof(buf);
		content(id, o, buf, n);
		sha256_update(&h, buf, n);
		o += n;
	}
	sha256_hex(&h, hex);
}

static uint64_t pick_size(void)
{
	unsigned k = below(100);
	if (k < 45)
		return below(1600); /* embedded in its file entry */
	if (k < 80)
		return below(200000);
	return 200000 + below(3 << 20);
}

static int do_write(const char *dir, const char *logpath)
{
	int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
	static struct logged done[100000];
	size_t ndone = 0;
	unsigned long id = 0;
	char path[200], tmp[240], hex[65], line[700];

	if (lfd < 0 || chdir(dir) < 0) {
		perror("crash_files");
		return 2;
	}
	for (int d = 0; d < 5; d++) {
		snprintf(path, sizeof(path), "d%d", d);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return 1;
	}
	for (unsigned long op = 0; op < 100000; op++) {
		unsigned k = below(100);
		if (k < 60 || ndone == 0) { /* a new file, fsync'd half of the time */
			id++;
			snprintf(path, sizeof(path), "d%u/f%06lu", below(5), id);
			uint64_t size = pick_size();
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0 || write_all(fd, id, 0, size) < 0) {
				return 1;
			}
			if (below(2)) {
				if (fsync(fd) < 0)
					return 1;
				close(fd);
				/* hashed from what was written, not read back: the log says what must be there */
				sha_of(id, size, hex);
				int len = snprintf(line, sizeof(line), "%s %llu %s\n", path, (unsigned long long)size,
						   hex);
				if (write(lfd, line, (size_t)len) != len || fsync(lfd) < 0)
					return 2;
				struct logged *l = &done[ndone++];
				snprintf(l->path, sizeof(l->path), "%s", path);
				l->id = id;
				l->size = size;
			} else {
				close(fd);
			}
		} else if (k < 75) { /* append to a logged file; fsync'd half of the time */
			struct logged *l = &done[below((unsigned)ndone)];
			uint64_t more = below(100) < 70 ? below(3000) : below(300000);
			int fd = open(l->path, O_WRONLY);
			if (fd < 0 || write_all(fd, l->id, l->size, more) < 0)
				return 1;
			if (below(2)) {
				if (fsync(fd) < 0)
					return 1;
				close(fd);
				l->size += more;
				sha_of(l->id, l->size, hex);
				int len = snprintf(line, sizeof(line), "%s %llu %s\n", l->path,
						   (unsigned long long)l->size, hex);
				if (write(lfd, line, (size_t)len) != len || fsync(lfd) < 0)
					return 2;
			} else {
				close(fd);
				/* not logged: the last logged line stays the state that must survive; the check
				 * accepts any size from it up, and the next logged append covers these bytes */
				l->size += more;
			}
		} else if (k < 90) { /* noise: a temporary file, renamed, then deleted or kept */
			snprintf(tmp, sizeof(tmp), "d%u/tmp%lu", below(5), op);
			snprintf(path, sizeof(path), "d%u/ren%lu", below(5), op);
			int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || write_all(fd, op, 0, below(20000)) < 0)
				return 1;
			close(fd);
			if (rename(tmp, path) < 0)
				return 1;
			if (below(2) && unlink(path) < 0)
				return 1;
		} else { /* noise: directories */
			snprintf(path, sizeof(path), "d%u/dir%lu", below(5), op);
			if (mkdir(path, 0755) < 0)
				return 1;
			snprintf(tmp, sizeof(tmp), "%s/inner", path);
			int fd = open(tmp, O_WRONLY | O_CREAT, 0644);
			if (fd < 0)
				return 1;
			close(fd);
			if (below(2) && (unlink(tmp) < 0 || rmdir(path) < 0))
				return 1;
		}
	}
	return 0;
}

static int do_check(const char *dir, const char *logpath)
{
	FILE *log = fopen(logpath, "r");
	static struct logged last[100000];
	static char shas[100000][65];
	size_t n = 0;
	char path[256], hex[65];
	unsigned long long size;

	if (!log || chdir(dir) < 0) {
		perror("crash_files check");
		return 2;
	}
	while (fscanf(log, "%255s %llu %64s", path, &size, hex) == 3) {
		size_t i;
		for (i = 0; i < n && strcmp(last[i].path, path) != 0; i++)
			;
		if (i == n) {
			if (n == sizeof(last) / sizeof(last[0]))
				return 2;
			n++;
		}
		snprintf(last[i].path, sizeof(last[i].path), "%s", path);
		last[i].size = size;
		memcpy(shas[i], hex, 65);
	}
	fclose(log);
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(last[i].path, &st) < 0) {
			fprintf(stderr, "%s: fsync'd, but %s\n", last[i].path, strerror(errno));
			bad++;
			continue;
		}
		if ((uint64_t)st.st_size < last[i].size) {
			fprintf(stderr, "%s: fsync'd with %llu bytes, now %lld\n", last[i].path,
				(unsigned long long)last[i].size, (long long)st.st_size);
			bad++;
			continue;
		}
		if (hash_prefix(last[i].path, last[i].size, hex) < 0 || strcmp(hex, shas[i]) != 0) {
			fprintf(stderr, "%s: the first %llu bytes are not what was fsync'd\n", last[i].path,
				(unsigned long long)last[i].size);
			bad++;
		}
	}
	printf("%zu fsync'd files checked, %d bad\n", n, bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "write") == 0) {
		rng = strtoull(argv[3], NULL, 10) * 0x2545F4914F6CDD1Dull + 1;
		return do_write(argv[2], argv[4]);
	}
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return do_check(argv[2], argv[3]);
	fprintf(stderr, "usage: crash_files write DIR SEED LOG | check DIR LOG\n");
	return 2;
}
