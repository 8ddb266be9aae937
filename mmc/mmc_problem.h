/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Why a disc cannot be written as it is, as a code: the mmc layer describes the disc ("the CD-RW is
 * blank"), the program that uses it words what to do (its own command lines and options). */
#ifndef PKTFUSE_MMC_PROBLEM_H
#define PKTFUSE_MMC_PROBLEM_H

enum mmc_problem {
	MMC_PROBLEM_NONE = 0,
	MMC_PROBLEM_NEEDS_FORMAT,	/* blank, or not formatted for packet writing: format it */
	MMC_PROBLEM_NOT_PACKET_SESSION, /* a CD-RW with a session not in fixed packets: blank and format it */
	MMC_PROBLEM_SEQUENTIAL,		/* a DVD-RW in sequential mode: format it for restricted overwrite */
	MMC_PROBLEM_READ_ONLY_MEDIUM,	/* a pressed disc, or a write-once kind pktfuse does not write */
	MMC_PROBLEM_WRITE_PROTECTED,
	MMC_PROBLEM_FINALIZED,	  /* a closed write-once disc */
	MMC_PROBLEM_FULL,	  /* a write-once disc with no writable address left */
	MMC_PROBLEM_UNKNOWN_STATE /* a write-once disc whose state the drive does not tell */
};

#endif
