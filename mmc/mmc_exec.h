/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one execution policy of the MMC backend: every command but TEST UNIT READY goes through
 * mmc_exec(), which waits out a busy drive (bounded exponential back-off), resends a command a unit
 * attention stopped once (or returns it, for an owner that must check the disc first), decodes the
 * sense of a failure into an errno and reports it once through mmc_log().
 *
 * A struct mmc_ctx belongs to the owner of its transport; one thread at a time uses it.
 */
#ifndef PKTFUSE_MMC_EXEC_H
#define PKTFUSE_MMC_EXEC_H

#include "sense.h"
#include "transport.h"

/* What the retry loop did; owned by whoever owns the transport. */
struct mmc_ctx {
	struct mmc_transport *t;
	bool quiet;
	bool unit_attention; /* set when a unit attention was seen: the owner must check the medium */
	/* Return a unit attention as -EAGAIN instead of resending the command: for an owner that must
	 * check the disc before anything is written to it. */
	bool return_unit_attention;
	unsigned max_wait_ms; /* total back-off budget per command; 0 → 120 s */
	uint64_t retries, unit_attentions, errors;
	struct mmc_sense last; /* sense of the last failed command (invalid when it carried none) */
	int last_os_error;     /* errno of the last command that did not reach the drive, else 0 */
	uint8_t last_op;       /* opcode of the last command sent */
};

/* Why the last command failed with rc, one line: the kernel's refusal (EPERM from the SG_IO filter),
 * the drive's sense, or the errno. */
const char *mmc_ctx_error(const struct mmc_ctx *ctx, int rc, char *buf, size_t len);
/* Clears what the previous command left in ctx; every command starts with it. */
void mmc_ctx_begin(struct mmc_ctx *ctx, uint8_t op);
/* Where the MMC layer reports failed commands and disc changes: one line without newline.  By
 * default stderr with a "pktfuse: " prefix; a program sets its own sink (the daemon: its log). */
typedef void (*mmc_log_sink)(const char *line);
void mmc_set_log_sink(mmc_log_sink sink);
void mmc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends cmd with the retry policy.  Returns 0 on GOOD, otherwise a negative errno with ctx->last
 * holding the decoded sense (the failure reported through mmc_log() unless ctx->quiet). */
int mmc_exec(struct mmc_ctx *ctx, struct mmc_cmd *cmd);
/* Same, without logging a failure (probing for optional features). */
int mmc_exec_quiet(struct mmc_ctx *ctx, struct mmc_cmd *cmd);

#endif
