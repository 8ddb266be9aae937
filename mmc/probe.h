/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What disc is in the drive, and how it can be packet-written. */
#ifndef PKTFUSE_MMC_PROBE_H
#define PKTFUSE_MMC_PROBE_H

#include "mmc_cmds.h"
#include "mmc_problem.h"

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
	/* write-once media (CD-R, DVD±R, BD-R): where the disc stands (mmc_probe_append) */
	bool write_once, finalized;
	uint8_t session_state; /* last session: 0 empty, 1 incomplete, 3 complete */
	uint16_t sessions;     /* the open one included */
	uint16_t tracks;
	bool nwa_valid;
	uint32_t nwa, free_sectors;
	uint32_t session_start;	      /* first sector of the last session (open or closed) */
	uint16_t last_complete;	      /* the last closed session (0: none), READ TOC session info */
	uint32_t last_complete_start; /* its first track's start */
	bool recorded;
	uint32_t last_recorded;
	uint32_t link_sectors; /* lost after every WRITE (CD-R: 7) */
	/* Why it cannot be written as it is (MMC_PROBLEM_NONE and "" when it can): the code, and the
	 * disc described ("the CD-RW is blank"); what to do is the program's to word (mmc_problem.h). */
	enum mmc_problem problem_code;
	char problem[200];
};

/* Waits for the drive to become ready (bounded), then fills *out.  Returns 0, or a negative errno with
 * a one-line reason in err (no disc, not an MMC device, ...). */
int mmc_probe_medium(struct mmc_ctx *c, const char *source, struct mmc_probe *out, char *err, size_t errlen);

/* Write-once media: reads the disc and track information (and the TOC's session information) into the
 * write-once fields of p, whose profile is set.  0 or a negative errno. */
int mmc_probe_append(struct mmc_ctx *c, struct mmc_probe *p);
bool mmc_profile_is_write_once(uint16_t profile);

#endif
