/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsync_writer FILE RECORDS STRIDE LOG: writes record i (4 KiB of pattern i) at offset i*STRIDE,
 * fsyncs, then appends "i\n" to LOG (and fsyncs LOG) — so LOG lists exactly the records whose fsync
 * returned.  fsync_writer --check FILE LOG STRIDE: every logged record must be intact in FILE.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REC 4096

static void fill(uint8_t *b, unsigned long i)
{
	uint64_t s = i * 0x9E3779B97F4A7C15ull + 12345;
	for (size_t k = 0; k < REC; k += 8) {
		uint64_t z = (s += 0x9E3779B97F4A7C15ull);
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z ^= z >> 31;
		memcpy(b + k, &z, 8);
	}
}

int main(int argc, char **argv)
{
	static uint8_t buf[REC], got[REC];

	if (argc == 5 && strcmp(argv[1], "--check") == 0) {
		int fd = open(argv[2], O_RDONLY);
		FILE *log = fopen(argv[3], "r");
		unsigned long stride = strtoul(argv[4], NULL, 10), i, n = 0;
		if (fd < 0 || !log) {
			perror("open");
			return 2;
		}
		while (fscanf(log, "%lu", &i) == 1) {
			fill(buf, i);
			if (pread(fd, got, REC, (off_t)(i * stride)) != REC || memcmp(buf, got, REC) != 0) {
				fprintf(stderr, "record %lu was fsync'd but is not on the image\n", i);
				return 1;
			}
			n++;
		}
		printf("%lu fsync'd records intact\n", n);
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: fsync_writer FILE RECORDS STRIDE LOG | --check FILE LOG STRIDE\n");
		return 2;
	}
	int fd = open(argv[1], O_WRONLY);
	int lfd = open(argv[4], O_WRONLY | O_CREAT | O_APPEND, 0644);
	unsigned long records = strtoul(argv[2], NULL, 10), stride = strtoul(argv[3], NULL, 10);
	if (fd < 0 || lfd < 0) {
		perror("open");
		return 2;
	}
	for (unsigned long i = 0; i < records; i++) {
		char line[32];
		fill(buf, i);
		if (pwrite(fd, buf, REC, (off_t)(i * stride)) != REC || fsync(fd) != 0)
			return 1; /* the daemon died: expected in the crash test */
		int len = snprintf(line, sizeof(line), "%lu\n", i);
		if (write(lfd, line, (size_t)len) != len || fsync(lfd) != 0)
			return 2;
	}
	return 0;
}
