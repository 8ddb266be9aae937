/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse info SOURCE`: what a drive, the emulator or an image file is. */
#define _GNU_SOURCE
#include "cmd.h"
#include "image_dev.h"
#include "source.h"
#include "source_kind.h"

#include <stdio.h>

int cmd_info(int argc, char **argv)
{
	char err[512];

	if (argc != 2) {
		fprintf(stderr, "usage: pktfuse info SOURCE\n");
		return 2;
	}
	enum source_kind kind = source_classify(argv[1], NULL, err, sizeof(err));
	/* A missing path or a directory is the image backend's to word, as for the daemon. */
	if (kind == SOURCE_EMULATOR || kind == SOURCE_DRIVE || kind == SOURCE_OTHER) {
		if (mmc_cmd_info(argv[1], stdout, err, sizeof(err)) != 0) {
			fprintf(stderr, "pktfuse: %s\n", err);
			return 1;
		}
		return 0;
	}
	struct image_dev_options io = {.read_only = true};
	struct pkt_blockdev *dev = image_dev_open(argv[1], &io, err, sizeof(err));
	if (!dev) {
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	printf("source: %s\n"
	       "type: image file\n"
	       "capacity_bytes: %llu\n"
	       "sectors: %llu\n"
	       "sector_size: %u\n"
	       "packet_sectors: %u (image files take -o packet=N when mounted)\n",
	       argv[1], (unsigned long long)(dev->geo.sector_count * PKT_SECTOR_SIZE),
	       (unsigned long long)dev->geo.sector_count, dev->geo.sector_size, dev->geo.packet_sectors);
	pkt_blockdev_close(dev);
	return 0;
}
