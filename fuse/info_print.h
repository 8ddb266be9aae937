/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pktfuse's words for what the mmc layer tells: `pktfuse info` of a drive, and what to do about a disc
 * that cannot be written as it is (the mmc layer gives a code and a description of the disc). */
#ifndef PKTFUSE_INFO_PRINT_H
#define PKTFUSE_INFO_PRINT_H

#include <stddef.h>
#include <stdio.h>

#include "source.h"

/* Appends to msg (a description of the disc, "SOURCE: the CD-RW is blank") what to do, as pktfuse's
 * command line says it; nothing for MMC_PROBLEM_NONE. */
void disc_problem_advise(enum mmc_problem code, const char *source, char *msg, size_t len);
/* The drive and its medium, one "name: value" line each. */
void info_print(FILE *out, const char *source, const struct mmc_info *in);
/* What closing the open session of a write-once disc costs (lead-out, border, ...) and what finalizing
 * does: two lines, as info shows them. */
void print_close_cost(FILE *out, const struct mmc_probe *p);

#endif
