/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Block-device backend over an image file. */
#ifndef PKTFUSE_IMAGE_DEV_H
#define PKTFUSE_IMAGE_DEV_H

#include "blockdev.h"

struct image_dev_options {
	uint32_t packet_sectors; /* 0 → 32 */
	bool read_only;
	/* Refuse (EINVAL) every write that is not whole packets at packet-aligned sectors, and count it. */
	bool strict;
	/* Take an exclusive lock on the file so that a second daemon cannot serve it. */
	bool lock;
};

/* What the backend received, for tests and the stats file. */
struct image_dev_counters {
	uint64_t read_cmds, read_sectors;
	uint64_t write_cmds, write_sectors;
	uint64_t sync_cmds;
	uint64_t rejected_writes; /* strict-mode violations */
};

/* Opens path.  On failure returns NULL and writes a one-line reason (no newline) into err. */
struct pkt_blockdev *image_dev_open(const char *path, const struct image_dev_options *opt, char *err, size_t errlen);

/* Counters of a device made by image_dev_open (zeros for any other device). */
struct image_dev_counters image_dev_counters(struct pkt_blockdev *dev);

#endif
