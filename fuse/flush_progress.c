/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The flush before an unmount, with progress on a terminal: what is left to write and the rate, from
 * the daemon's statistics, while a thread waits in syncfs and fsync on the mount (the daemon writes
 * its whole cache for them).  What the unmount then leaves to the daemon is little or nothing. */
#define _GNU_SOURCE
#include "cmd.h"
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct flush_job {
	int fd;
	int err; /* 0, or the errno of the failed fsync */
	atomic_bool done;
};

static void *flush_thread(void *arg)
{
	struct flush_job *j = arg;

	syncfs(j->fd); /* the kernel's dirty pages of every file first (a no-op without writeback caching) */
	j->err = fsync(j->fd) == 0 ? 0 : errno;
	atomic_store(&j->done, true);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes the daemon's cache holds that are not on the disc, and bytes written to the disc so far. */
static bool sample(const char *mnt, uint64_t *dirty, uint64_t *written)
{
	static char raw[PKTFUSE_STATS_MAX + 1];

	if (pktfuse_read_stats(mnt, raw, sizeof(raw)) < 0)
		return false;
	*dirty = pktfuse_stats_u64(raw, "dirty_packets") * pktfuse_stats_u64(raw, "packet_sectors") *
		 pktfuse_stats_u64(raw, "sector_size");
	*written = pktfuse_stats_u64(raw, "medium_write_bytes");
	return true;
}

/* One frame: "Writing to the disc [#########-----------]  1.2 MiB left, 1.4 MiB/s" */
static void draw(uint64_t left, uint64_t done, double secs)
{
	enum { WIDTH = 24 };
	uint64_t total = left + done;
	int fill = total ? (int)(done * WIDTH / total) : WIDTH;
	char bar[WIDTH + 1], l[32], r[32] = "...";

	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '-', (size_t)(WIDTH - fill));
	bar[WIDTH] = '\0';
	if (secs > 0.2 && done) {
		pktfuse_format_bytes((uint64_t)((double)done / secs), r, sizeof(r) - 2);
		strcat(r, "/s");
	}
	printf("\rWriting to the disc [%s] %s left, %s\033[K", bar, pktfuse_format_bytes(left, l, sizeof(l)), r);
	fflush(stdout);
}

void pktfuse_flush_with_progress(const char *mnt, const char *view)
{
	char path[4200];
	uint64_t dirty0, w0, dirty, w;
	struct flush_job job = {.fd = -1};
	pthread_t t;

	if (!isatty(STDOUT_FILENO) || !sample(mnt, &dirty0, &w0) || dirty0 == 0)
		return; /* nothing to show: the unmount writes what there is, as without a terminal */
	snprintf(path, sizeof(path), "%s%s", mnt, strcmp(view, "files") == 0 ? "" : "/disc");
	job.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (job.fd < 0 || pthread_create(&t, NULL, flush_thread, &job) != 0) {
		if (job.fd >= 0)
			close(job.fd);
		return;
	}
	double t0 = now_s();
	draw(dirty0, 0, 0);
	while (!atomic_load(&job.done)) {
		usleep(200000);
		if (!atomic_load(&job.done) && sample(mnt, &dirty, &w))
			draw(dirty, w - w0, now_s() - t0);
	}
	pthread_join(t, NULL);
	close(job.fd);
	double secs = now_s() - t0;
	char b[32], r[32];
	if (!sample(mnt, &dirty, &w))
		w = w0;
	if (job.err) {
		printf("\rWriting to the disc: %s written, then the disc failed (%s)\033[K\n",
		       pktfuse_format_bytes(w - w0, b, sizeof(b)), strerror(job.err));
		return;
	}
	printf("\rWrote %s to the disc in %.1f s (%s/s)\033[K\n", pktfuse_format_bytes(w - w0, b, sizeof(b)), secs,
	       pktfuse_format_bytes((uint64_t)((double)(w - w0) / (secs > 0.001 ? secs : 0.001)), r, sizeof(r)));
}
