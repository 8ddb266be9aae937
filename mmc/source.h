/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Entry points of the MMC side for the pktfuse command line and daemon. */
#ifndef PKTFUSE_MMC_SOURCE_H
#define PKTFUSE_MMC_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "blockdev.h"

struct mmc_source_options {
	bool read_only;
	unsigned speed; /* 0 = drive default */
	bool quiet;
};

/* SOURCE is a drive path (/dev/srN, /dev/sgN, any block/char device) or "emu:PROFILE:IMAGE[,opt=val...]".
 * Returns 1 and sets *out when SOURCE is an MMC source; 0 when it is not (a plain image file: the
 * caller uses image_dev_open); -1 on error with a one-line reason (no newline) in err. */
int mmc_source_open(const char *source, const struct mmc_source_options *opt, struct pkt_blockdev **out, char *err,
		    size_t errlen);

/* `pktfuse info SOURCE`: the drive and the medium, readable, on out.  0, or -1 with err. */
int mmc_cmd_info(const char *source, FILE *out, char *err, size_t errlen);

/* What the medium is after a successful format (for the file system that goes on it next). */
struct mmc_format_result {
	uint16_t profile;
	bool mrw;
	uint32_t sectors, packet_sectors;
	char kind[64];
};

/* How far a format or blank has come: step names it ("FORMAT UNIT", "BLANK"), pct is 0..100 and
 * reaches 100 once, at the end.  The caller draws or words it; the mmc layer prints nothing. */
typedef void (*mmc_progress_fn)(void *ctx, const char *step, unsigned pct);

struct mmc_format_options {
	bool quick, full, force;
	mmc_progress_fn progress; /* NULL: not told */
	void *progress_ctx;
	struct mmc_format_result *result; /* filled on success when not NULL */
};
/* The medium a format left, named as `pktfuse format --media` names layouts: "cdrw" and "dvdrw"
 * (fixed packets; the file system spares defects), "dvdram", "dvd+rw", "bdre", "hd" for a Mount
 * Rainier disc (the drive spares defects itself: a plain layout), and the write-once "cdr", "dvdr",
 * "dvd+r", "bdr". */
const char *mmc_format_media_name(const struct mmc_format_result *r);
/* `pktfuse format SOURCE`: brings the medium to a packet-writable state.  0, or -1 with err.  A blank
 * write-once disc needs nothing (0, result filled); one that is not blank is refused. */
int mmc_cmd_format(const char *source, const struct mmc_format_options *opt, char *err, size_t errlen);

#endif
