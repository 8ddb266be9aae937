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
	/* An image of a write-once disc (geometry append_only, link_sectors 0): the file is the recorded
	 * part and grows as it is written, so its length is the NWA.  A write is accepted only at the
	 * NWA and in whole units of packet_sectors (the medium's last unit may be short); a read past
	 * the length fails with -EIO, as an unrecorded sector does.  capacity_sectors is the disc's
	 * capacity (0: the file's length, nothing more can be written).  A plain file keeps no session
	 * structure: close_session answers -EOPNOTSUPP (closing is the drive's, and the emulator's). */
	bool append_only;
	uint64_t capacity_sectors;
};

/* What the backend received, for tests and the stats file. */
struct image_dev_counters {
	uint64_t read_cmds, read_sectors;
	uint64_t write_cmds, write_sectors;
	uint64_t sync_cmds;
	uint64_t rejected_writes; /* strict-mode violations; write-once images: writes off the NWA or unit */
};

/* Opens path.  On failure returns NULL and writes a one-line reason (no newline) into err. */
struct pkt_blockdev *image_dev_open(const char *path, const struct image_dev_options *opt, char *err, size_t errlen);

/* Counters of a device made by image_dev_open (zeros for any other device). */
struct image_dev_counters image_dev_counters(struct pkt_blockdev *dev);

#endif
