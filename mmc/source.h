/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Entry points of the MMC side for the pktfuse command line and daemon. */
#ifndef PKTFUSE_MMC_SOURCE_H
#define PKTFUSE_MMC_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "blockdev.h"
#include "probe.h"

struct mmc_source_options {
	bool read_only;
	unsigned speed; /* 0 = drive default */
	bool quiet;
	/* When not NULL: why the disc was refused (MMC_PROBLEM_NONE when it was not), for the caller to
	 * word what to do; err then describes the disc only. */
	enum mmc_problem *problem;
};

/* SOURCE is a drive path (/dev/srN, /dev/sgN, any block/char device) or "emu:PROFILE:IMAGE[,opt=val...]".
 * Returns 1 and sets *out when SOURCE is an MMC source; 0 when it is not (a plain image file: the
 * caller uses image_dev_open); -1 on error with a one-line reason (no newline) in err. */
int mmc_source_open(const char *source, const struct mmc_source_options *opt, struct pkt_blockdev **out, char *err,
		    size_t errlen);

/* What `pktfuse info SOURCE` tells of a drive and its medium (the caller words it). */
#define MMC_INFO_MAX_PROFILES 32
struct mmc_info {
	struct mmc_probe probe; /* the drive's inquiry always; the rest when have_medium */
	bool have_profiles;
	unsigned nprofiles;
	struct {
		uint16_t code;
		bool current;
	} profiles[MMC_INFO_MAX_PROFILES];
	bool have_medium;
	char no_medium[256]; /* why not, when !have_medium */
	bool have_wear;	     /* the emulator counts rewrites per packet; drives do not */
	uint64_t max_wear;
};
/* Fills *out.  0, or -1 with err (no drive: nothing to tell). */
int mmc_cmd_info(const char *source, struct mmc_info *out, char *err, size_t errlen);

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
	struct mmc_format_result *result; /* filled on success when not NULL; kind already before progress */
	enum mmc_problem *problem;	  /* as in mmc_source_options */
};
/* The medium a format left, named as `pktfuse format --media` names layouts: "cdrw" and "dvdrw"
 * (fixed packets; the file system spares defects), "dvdram", "dvd+rw", "bdre", "hd" for a Mount
 * Rainier disc (the drive spares defects itself: a plain layout), and the write-once "cdr", "dvdr",
 * "dvd+r", "bdr". */
const char *mmc_format_media_name(const struct mmc_format_result *r);
/* `pktfuse eject DRIVE`: allows the medium's removal (PREVENT ALLOW MEDIUM REMOVAL 0), then opens the
 * tray (START STOP UNIT with LoEj).  0, or -1 with a one-line reason in err (an image file: nothing to
 * eject). */
int mmc_cmd_eject(const char *source, char *err, size_t errlen);
/* `pktfuse format SOURCE`: brings the medium to a packet-writable state.  0, or -1 with err.  A blank
 * write-once disc needs nothing (0, result filled); one that is not blank is refused. */
int mmc_cmd_format(const char *source, const struct mmc_format_options *opt, char *err, size_t errlen);

#endif
