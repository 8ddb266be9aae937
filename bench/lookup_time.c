/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lookup_time DIR ROUNDS: lists DIR once (so the daemon has read it), then ROUNDS times drops the
 * kernel's dentry cache and stats every name of DIR (each a FUSE LOOKUP answered by the daemon);
 * prints the median time per lookup in microseconds.  Root (drop_caches).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int rounds = atoi(argv[2]);
	DIR *d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	double *per = calloc((size_t)rounds, sizeof(double));
	for (int r = 0; r < rounds; r++) {
		int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
		if (fd < 0 || write(fd, "2", 1) != 1)
			return 1;
		close(fd);
		struct timespec a, b;
		struct stat st;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (size_t i = 0; i < n; i++)
			if (fstatat(dfd, names[(i * 7919) % n], &st, AT_SYMLINK_NOFOLLOW))
				return 1;
		clock_gettime(CLOCK_MONOTONIC, &b);
		per[r] = ((b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3) / (double)n;
	}
	qsort(per, (size_t)rounds, sizeof(double), cmp);
	printf("%zu entries: %.2f us per lookup (median of %d rounds)\n", n, per[rounds / 2], rounds);
	return 0;
}
