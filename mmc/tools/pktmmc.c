/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test-only command line for the MMC side until the pktfuse command line wires it in. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

static int usage(void)
{
	fprintf(stderr, "usage: pktmmc info SOURCE\n"
			"       pktmmc format SOURCE [--quick|--full] [--force] [--progress]\n"
			"       pktmmc dd SOURCE write|verify LBA COUNT [SEED]   (pattern I/O in whole packets)\n"
			"       pktmmc stats SOURCE\n");
	return 2;
}

static void pattern(uint8_t *buf, uint64_t lba, uint32_t seed)
{
	for (unsigned i = 0; i < 2048; i += 8) {
		uint64_t v = lba * 0x9e3779b97f4a7c15ull ^ (uint64_t)seed << 32 ^ i;
		memcpy(buf + i, &v, 8);
	}
}

static int dd(const char *source, char **argv, int argc)
{
	char err[512];
	struct pkt_blockdev *dev;
	struct mmc_source_options o = {0};

	if (argc < 3)
		return usage();
	bool write = !strcmp(argv[0], "write");
	if (!write && strcmp(argv[0], "verify"))
		return usage();
	uint64_t lba = strtoull(argv[1], NULL, 0), count = strtoull(argv[2], NULL, 0);
	uint32_t seed = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 1;
	o.read_only = !write;
	int rc = mmc_source_open(source, &o, &dev, err, sizeof(err));
	if (rc <= 0) {
		fprintf(stderr, "pktmmc: %s\n", rc ? err : "not an MMC source");
		return 1;
	}
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
	dev->ops->describe(dev, buf, sizeof(buf));
	fputs(buf, stdout);
	printf("sectors: %" PRIu64 "\npacket_sectors: %u\n", dev->geo.sector_count, dev->geo.packet_sectors);
	pkt_blockdev_close(dev);
	return 0;
}

int main(int argc, char **argv)
{
	char err[512];

	if (argc < 3)
		return usage();
	if (!strcmp(argv[1], "info")) {
		if (mmc_cmd_info(argv[2], stdout, err, sizeof(err))) {
			fprintf(stderr, "pktmmc: %s\n", err);
			return 1;
		}
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
				fo.progress = true;
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
	if (!strcmp(argv[1], "stats"))
		return stats(argv[2]);
	return usage();
}
