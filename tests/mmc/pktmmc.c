/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test-only command line for the MMC side until the pktfuse command line wires it in. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "info_print.h"
#include "mmc_dev.h"
#include "source.h"

static int usage(void)
{
	fprintf(stderr, "usage: pktmmc info SOURCE\n"
			"       pktmmc format SOURCE [--quick|--full] [--force] [--progress]\n"
			"       pktmmc dd SOURCE write|verify LBA COUNT [SEED]   (pattern I/O in whole packets)\n"
			"       pktmmc stats SOURCE\n"
			"       pktmmc append SOURCE PACKETS [SEED]   (write-once media: whole packets at the NWA)\n"
			"       pktmmc close SOURCE track|session|finalize   (write-once media)\n"
			"       pktmmc bench emu:PROFILE:IMAGE,speed=N[,...] [MIB]   (backend throughput on the speed "
			"model)\n");
	return 2;
}

static void pattern(uint8_t *buf, uint64_t lba, uint32_t seed)
{
	for (unsigned i = 0; i < 2048; i += 8) {
		uint64_t v = lba * 0x9e3779b97f4a7c15ull ^ (uint64_t)seed << 32 ^ i;
		memcpy(buf + i, &v, 8);
	}
}

/* Opens SOURCE, or says why not (with what to do, in pktfuse's words).  NULL on failure. */
static struct pkt_blockdev *open_source(const char *source, bool read_only)
{
	char err[512];
	enum mmc_problem problem;
	struct pkt_blockdev *dev;
	struct mmc_source_options o = {.read_only = read_only, .problem = &problem};
	int rc = mmc_source_open(source, &o, &dev, err, sizeof(err));

	if (rc <= 0) {
		disc_problem_advise(problem, source, err, sizeof(err));
		fprintf(stderr, "pktmmc: %s\n", rc ? err : "not an MMC source");
		return NULL;
	}
	return dev;
}

static int dd(const char *source, char **argv, int argc)
{
	if (argc < 3)
		return usage();
	bool write = !strcmp(argv[0], "write");
	if (!write && strcmp(argv[0], "verify"))
		return usage();
	uint64_t lba = strtoull(argv[1], NULL, 0), count = strtoull(argv[2], NULL, 0);
	uint32_t seed = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 1;
	struct pkt_blockdev *dev = open_source(source, !write);
	if (!dev)
		return 1;
	int rc;
	uint32_t ps = dev->geo.packet_sectors;
	uint8_t *buf = malloc((size_t)ps * 2048), *cmp = malloc(2048);
	int res = 0;
	for (uint64_t s = lba; buf && cmp && s < lba + count && !res; s += ps) {
		uint32_t n = (uint32_t)(lba + count - s < ps ? lba + count - s : ps);
		if (write) {
			for (uint32_t i = 0; i < n; i++)
				pattern(buf + (size_t)i * 2048, s + i, seed);
			rc = pkt_blockdev_write(dev, s, n, buf);
		} else {
			rc = pkt_blockdev_read(dev, s, n, buf);
			for (uint32_t i = 0; !rc && i < n; i++) {
				pattern(cmp, s + i, seed);
				if (memcmp(cmp, buf + (size_t)i * 2048, 2048)) {
					fprintf(stderr, "pktmmc: sector %" PRIu64 " differs\n", s + i);
					res = 1;
				}
			}
		}
		if (rc) {
			fprintf(stderr, "pktmmc: %s at sector %" PRIu64 ": %s\n", argv[0], s, strerror(-rc));
			res = 1;
		}
	}
	if (write && !res && pkt_blockdev_sync(dev)) {
		fprintf(stderr, "pktmmc: sync failed\n");
		res = 1;
	}
	free(buf);
	free(cmp);
	pkt_blockdev_close(dev);
	return res;
}

/* PACKETS whole packets of the pattern from the NWA on, each where pkt_geometry_append_lba puts it. */
static int append(const char *source, const char *packets_arg, const char *seed_arg)
{
	struct pkt_blockdev *dev = open_source(source, false);
	struct pkt_append_state st;

	if (!dev)
		return 1;
	uint32_t ps = dev->geo.packet_sectors, seed = seed_arg ? (uint32_t)strtoul(seed_arg, NULL, 0) : 1;
	uint64_t packets = strtoull(packets_arg, NULL, 0);
	uint8_t *buf = malloc((size_t)ps * 2048);
	int rc = buf ? pkt_blockdev_append_state(dev, &st) : -ENOMEM;
	for (uint64_t k = 0; !rc && k < packets; k++) {
		uint64_t lba = pkt_geometry_append_lba(&dev->geo, st.next_writable, k * ps);
		for (uint32_t i = 0; i < ps; i++)
			pattern(buf + (size_t)i * 2048, lba + i, seed);
		rc = pkt_blockdev_write(dev, lba, ps, buf);
	}
	if (!rc)
		rc = pkt_blockdev_sync(dev);
	if (rc)
		fprintf(stderr, "pktmmc: append: %s\n", strerror(-rc));
	else
		printf("appended %" PRIu64 " packets from %" PRIu64 "\n", packets, st.next_writable);
	free(buf);
	pkt_blockdev_close(dev);
	return rc ? 1 : 0;
}

static int close_disc(const char *source, const char *what)
{
	enum pkt_close_kind kind = !strcmp(what, "track")     ? PKT_CLOSE_TRACK
				   : !strcmp(what, "session") ? PKT_CLOSE_SESSION
							      : PKT_CLOSE_FINALIZE;
	if (kind == PKT_CLOSE_FINALIZE && strcmp(what, "finalize"))
		return usage();
	struct pkt_blockdev *dev = open_source(source, false);
	if (!dev)
		return 1;
	int rc = pkt_blockdev_close_session(dev, kind);
	if (rc)
		fprintf(stderr, "pktmmc: close %s: %s\n", what, strerror(-rc));
	pkt_blockdev_close(dev);
	return rc ? 1 : 0;
}

static int stats(const char *source)
{
	char err[512], buf[4096];
	struct pkt_blockdev *dev;
	struct mmc_source_options o = {.read_only = true};
	int rc = mmc_source_open(source, &o, &dev, err, sizeof(err));

	if (rc <= 0) {
		fprintf(stderr, "pktmmc: %s\n", rc ? err : "not an MMC source");
		return 1;
	}
	pkt_blockdev_describe(dev, buf, sizeof(buf));
	fputs(buf, stdout);
	printf("sectors: %" PRIu64 "\npacket_sectors: %u\n", dev->geo.sector_count, dev->geo.packet_sectors);
	pkt_blockdev_close(dev);
	return 0;
}

/* Whole-packet writes straight to the backend on the emulator's simulated clock: the ceiling the packet
 * cache can reach.  Random 2 KiB user updates are modelled as what the cache must do for them without
 * neighbours to gather: read the packet, write it back whole. */
static int bench(const char *source, const char *mib_arg)
{
	char err[512];
	struct pkt_blockdev *dev;
	struct mmc_source_options o = {.quiet = true};
	struct emu_counters a, b;

	if (mmc_source_open(source, &o, &dev, err, sizeof(err)) <= 0) {
		fprintf(stderr, "pktmmc: %s\n", err);
		return 1;
	}
	struct mmc_transport *t = mmc_dev_transport(dev);
	if (!emu_get_counters(t, &a) || a.rate_bps <= 0) {
		fprintf(stderr, "pktmmc: bench needs an emulator SOURCE with speed=N\n");
		pkt_blockdev_close(dev);
		return 1;
	}
	uint32_t ps = dev->geo.packet_sectors;
	uint64_t sectors = (uint64_t)(mib_arg ? strtoull(mib_arg, NULL, 0) : 64) * 512;
	if (sectors > dev->geo.sector_count)
		sectors = dev->geo.sector_count;
	sectors -= sectors % ps;
	uint8_t *buf = calloc(ps, 2048);
	int rc = buf ? 0 : -ENOMEM;
	for (uint64_t lba = 0; !rc && lba < sectors; lba += ps)
		rc = pkt_blockdev_write(dev, lba, ps, buf);
	emu_get_counters(t, &b);
	double seq = (double)sectors * 2048 / ((double)(b.sim_ns - a.sim_ns) / 1e9);
	a = b;
	unsigned n = 200;
	uint64_t npk = sectors / ps, x = 12345;
	for (unsigned i = 0; !rc && i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t lba = (x >> 33) % npk * ps;
		rc = pkt_blockdev_read(dev, lba, ps, buf);
		if (!rc)
			rc = pkt_blockdev_write(dev, lba, ps, buf);
	}
	emu_get_counters(t, &b);
	double rnd_s = (double)(b.sim_ns - a.sim_ns) / 1e9;
	double rnd_pkt = (double)n * ps * 2048 / rnd_s, rnd_2k = (double)n * 2048 / rnd_s;
	if (rc)
		fprintf(stderr, "pktmmc: bench: %s\n", strerror(-rc));
	else
		printf("medium rate: %.0f B/s\n"
		       "sequential packets: %.0f B/s = %.3f x medium rate, 1 medium write per user write\n"
		       "random 2 KiB updates (read packet + write packet): %.0f B/s = %.4f x, %u sectors written per "
		       "sector updated\n"
		       "  (the same counting every sector of the packet as useful: %.0f B/s = %.3f x)\n"
		       "emulator: refused writes %llu, internal read-modify-writes %llu\n",
		       b.rate_bps, seq, seq / b.rate_bps, rnd_2k, rnd_2k / b.rate_bps, ps, rnd_pkt,
		       rnd_pkt / b.rate_bps, (unsigned long long)b.refused_writes, (unsigned long long)b.rmw);
	free(buf);
	pkt_blockdev_close(dev);
	return rc ? 1 : 0;
}

/* --progress: one line per step of the drive's progress report. */
static void print_progress(void *ctx, const char *step, unsigned pct)
{
	(void)ctx;
	fprintf(stderr, "%s: %u%%\n", step, pct);
}

int main(int argc, char **argv)
{
	char err[512];

	if (argc < 3)
		return usage();
	if (!strcmp(argv[1], "info")) {
		struct mmc_info info;
		if (mmc_cmd_info(argv[2], &info, err, sizeof(err))) {
			fprintf(stderr, "pktmmc: %s\n", err);
			return 1;
		}
		info_print(stdout, argv[2], &info);
		return 0;
	}
	if (!strcmp(argv[1], "format")) {
		struct mmc_format_options fo = {0};
		for (int i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "--quick"))
				fo.quick = true;
			else if (!strcmp(argv[i], "--full"))
				fo.full = true;
			else if (!strcmp(argv[i], "--force"))
				fo.force = true;
			else if (!strcmp(argv[i], "--progress"))
				fo.progress = print_progress;
			else
				return usage();
		}
		if (mmc_cmd_format(argv[2], &fo, err, sizeof(err))) {
			fprintf(stderr, "pktmmc: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (!strcmp(argv[1], "dd"))
		return dd(argv[2], argv + 3, argc - 3);
	if (!strcmp(argv[1], "append") && argc >= 4)
		return append(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
	if (!strcmp(argv[1], "close") && argc == 4)
		return close_disc(argv[2], argv[3]);
	if (!strcmp(argv[1], "stats"))
		return stats(argv[2]);
	if (!strcmp(argv[1], "bench"))
		return bench(argv[2], argc > 3 ? argv[3] : NULL);
	return usage();
}
