/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse status [--raw] MOUNTPOINT`: the state of a running daemon's disc, read from its root's
 * attribute: a few lines for a person, or with --raw the daemon's `name: value` lines for scripts. */
#define _GNU_SOURCE
#include "cmd.h"
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V(name) pktfuse_stats_u64(raw, name)

static unsigned percent(uint64_t part, uint64_t whole)
{
	return whole ? (unsigned)((part * 100 + whole / 2) / whole) : 0;
}

/* "image file" or "CD-RW in HP CD-Writer 9100 1.0" */
static void print_medium(const char *raw)
{
	char kind[256], drive[256], size[32], pkt[32];

	pktfuse_stats_value(raw, "mmc_medium", kind, sizeof(kind));
	pktfuse_stats_value(raw, "mmc_drive", drive, sizeof(drive));
	printf("  medium:  ");
	if (*kind)
		printf("%s in %s", kind, *drive ? drive : "a drive");
	else
		printf("image file");
	printf(", %s, written in packets of %s%s\n", pktfuse_format_bytes(V("capacity_bytes"), size, sizeof(size)),
	       pktfuse_format_bytes(V("packet_sectors") * V("sector_size"), pkt, sizeof(pkt)),
	       V("writable") ? "" : ", read-only");
}

static void print_view(const char *mnt, const char *raw)
{
	char view[32], rev[16], label[256], why[512], free_b[32], total[32];

	pktfuse_stats_value(raw, "view", view, sizeof(view));
	if (strcmp(view, "files") != 0) {
		printf("  view:    the block file %s/disc\n", mnt);
		return;
	}
	pktfuse_stats_value(raw, "udf_revision", rev, sizeof(rev));
	pktfuse_stats_value(raw, "udf_label", label, sizeof(label));
	pktfuse_stats_value(raw, "udf_readonly_reason", why, sizeof(why));
	printf("  view:    files, UDF %s", rev);
	if (*label)
		printf(" \"%s\"", label);
	if (V("udf_writable"))
		printf(", writable\n");
	else
		printf(", read-only: %s\n", why);
	uint64_t bs = V("udf_block_size"), nfiles = V("udf_files"), ndirs = V("udf_dirs");
	printf("  space:   %s free of %s (%u%%), %" PRIu64 " file%s, %" PRIu64 " director%s\n",
	       pktfuse_format_bytes(V("udf_free_blocks") * bs, free_b, sizeof(free_b)),
	       pktfuse_format_bytes(V("udf_blocks") * bs, total, sizeof(total)),
	       percent(V("udf_free_blocks"), V("udf_blocks")), nfiles, nfiles == 1 ? "" : "s", ndirs,
	       ndirs == 1 ? "y" : "ies");
}

/* "over io_uring, 2 queues" or "over /dev/fuse: -o no_io_uring" (why it is not the ring) */
static void print_fuse(const char *raw)
{
	char transport[32], why[256], ring[256];

	pktfuse_stats_value(raw, "fuse_transport", transport, sizeof(transport));
	pktfuse_stats_value(raw, "fuse_transport_why", why, sizeof(why));
	pktfuse_stats_value(raw, "fuse_uring", ring, sizeof(ring));
	if (!*transport)
		return; /* a daemon of an older build */
	unsigned queues;
	if (!strcmp(transport, "io_uring") && sscanf(ring, "%*u requests, %u queues", &queues) == 1)
		printf("  fuse:    over io_uring, %u queues\n", queues);
	else if (*why && strcmp(why, "-") != 0)
		printf("  fuse:    over %s: %s\n", transport, why);
	else
		printf("  fuse:    over %s\n", transport);
}

static void print_cache(const char *raw)
{
	/* the cache holds sectors, not whole packets: what its memory holds, and of that what is dirty */
	uint64_t sector = V("sector_size"), size = V("cache_bytes");
	uint64_t cached = V("pool_sectors_held") * sector, dirty = V("pool_sectors_dirty") * sector;
	char c[32], s[32], d[32];

	printf("  cache:   %s of %s in use (%u%%), ", pktfuse_format_bytes(cached, c, sizeof(c)),
	       pktfuse_format_bytes(size, s, sizeof(s)), percent(cached, size));
	if (dirty)
		printf("%s dirty (%u%%): not on the disc yet", pktfuse_format_bytes(dirty, d, sizeof(d)),
		       percent(dirty, size));
	else
		printf("nothing waiting to be written");
	printf("%s\n", V("udf_uncommitted") ? "; changes not committed yet" : "");
}

static void print_io(const char *raw)
{
	char u[32], m[32], r[32];
	uint64_t packets = V("packets_written");

	printf("  written: %s by programs, %s to the disc in %" PRIu64 " packet%s\n",
	       pktfuse_format_bytes(V("user_write_bytes"), u, sizeof(u)),
	       pktfuse_format_bytes(V("medium_write_bytes"), m, sizeof(m)), packets, packets == 1 ? "" : "s");
	printf("  read:    %s by programs\n", pktfuse_format_bytes(V("user_read_bytes"), r, sizeof(r)));
}

/* The error counters, and the newest logged error (the last last_error line). */
static void print_errors(const char *raw)
{
	uint64_t w = V("write_errors"), r = V("read_errors"), moved = V("relocated_packets"),
		 logged = V("logged_errors");
	const char *last = NULL;

	for (const char *l = strstr(raw, "last_error: "); l; l = strstr(l + 1, "\nlast_error: "))
		last = l[0] == '\n' ? l + 1 : l;
	if (!w && !r && !moved && !logged) {
		printf("  errors:  none\n");
		return;
	}
	printf("  errors:  %" PRIu64 " write, %" PRIu64 " read, %" PRIu64 " packet%s moved to spares, %" PRIu64
	       " logged\n",
	       w, r, moved, moved == 1 ? "" : "s", logged);
	if (last)
		printf("  last:    %.*s\n", (int)strcspn(last + 12, "\n"), last + 12);
}

/* The hottest packet over every mount of this disc, and the life its medium's rating leaves it. */
static void print_wear(const char *raw)
{
	char hot[512], life[32];

	pktfuse_stats_value(raw, "wear_hot_packets", hot, sizeof(hot));
	if (!*hot)
		return; /* no record kept: the block view, write-once media */
	pktfuse_stats_value(raw, "wear_life_left_percent", life, sizeof(life));
	uint64_t packet = strtoull(hot, NULL, 10), rated = V("wear_rated_overwrites"),
		 most = V("wear_max_packet_writes");
	if (!strcmp(hot, "-")) {
		printf("  wear:    no packet written yet\n");
		return;
	}
	printf("  wear:    the most written packet, %" PRIu64 ", %" PRIu64 " time%s over all mounts", packet, most,
	       most == 1 ? "" : "s");
	if (rated)
		printf(": ~%s%% of its ~%" PRIu64 " rewrites left", life, rated);
	printf("\n");
	uint64_t early = V("worn_moved_packets");
	if (early)
		printf("  moved:   %" PRIu64 " worn packet%s moved to a spare before %s failed\n", early,
		       early == 1 ? "" : "s", early == 1 ? "it" : "they");
}

static void print_human(const char *mnt, const char *raw)
{
	char source[4096], report[4096], pid[32];

	pktfuse_stats_value(raw, "source", source, sizeof(source));
	pktfuse_stats_value(raw, "report_file", report, sizeof(report));
	pktfuse_stats_value(raw, "daemon_pid", pid, sizeof(pid));
	printf("%s: %s\n", mnt, source);
	print_medium(raw);
	print_view(mnt, raw);
	print_fuse(raw);
	print_cache(raw);
	print_io(raw);
	print_errors(raw);
	print_wear(raw);
	printf("  report:  %s (daemon %s)\n", strcmp(report, "-") ? report : "none", pid);
}

int cmd_status(int argc, char **argv)
{
	char raw[PKTFUSE_STATS_MAX + 1];
	bool as_raw = argc == 3 && strcmp(argv[1], "--raw") == 0;

	if (argc != 2 + as_raw || argv[1 + as_raw][0] == '-') {
		fprintf(stderr, "usage: pktfuse status [--raw] MOUNTPOINT\n");
		return 2;
	}
	const char *mnt = argv[1 + as_raw];
	ssize_t n = pktfuse_read_stats(mnt, raw, sizeof(raw));
	if (n < 0) {
		if (n == -ENODATA || n == -ENOTSUP)
			fprintf(stderr, "pktfuse: %s is not a pktfuse mount\n", mnt);
		else if (n == -ENOTCONN || n == -ECONNABORTED) /* aborted: the kernel's word for it too */
			fprintf(stderr, "pktfuse: %s: the daemon is gone (unmount it with fusermount3 -u)\n", mnt);
		else
			fprintf(stderr, "pktfuse: %s: %s\n", mnt, strerror((int)-n));
		return 1;
	}
	if (as_raw)
		fwrite(raw, 1, (size_t)n, stdout);
	else
		print_human(mnt, raw);
	return 0;
}
