/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What disc is in the drive, and how it can be packet-written. */
#ifndef PKTFUSE_MMC_PROBE_H
#define PKTFUSE_MMC_PROBE_H

#include "mmc_cmds.h"

struct mmc_probe {
	struct mmc_inquiry inq;
	uint16_t profile;
	bool mrw;	/* Mount Rainier (feature 0028h current) */
	bool formatted; /* packet-writable as it is */
	bool erasable;
	bool write_protected;
	bool packet_writable; /* the kind of medium pktfuse can write, once formatted */
	uint8_t disc_status;
	uint32_t sectors;	 /* user capacity (0 when unknown / blank) */
	uint32_t packet_sectors; /* write unit */
	uint16_t max_write_kbs;
	uint64_t fingerprint; /* identity of the disc, compared before use */
	char kind[64];	      /* "CD-RW", "DVD+RW (MRW)" ... */
	char problem[200];    /* why it cannot be written as it is, and what to do ("" when it can) */
};

/* Waits for the drive to become ready (bounded), then fills *out.  Returns 0, or a negative errno with
 * a one-line reason in err (no disc, not an MMC device, ...). */
int mmc_probe_medium(struct mmc_ctx *c, const char *source, struct mmc_probe *out, char *err, size_t errlen);

#endif
