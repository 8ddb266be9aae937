/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sense decoding and the one retry policy of the MMC backend. */
#ifndef PKTFUSE_MMC_SENSE_H
#define PKTFUSE_MMC_SENSE_H

#include "transport.h"

struct mmc_sense {
	bool valid;
	uint8_t key, asc, ascq;
	bool info_valid;
	uint64_t info;     /* the failing LBA for medium errors */
	bool sksv;         /* sense-key-specific field valid */
	uint16_t progress; /* 0..65535 for NOT READY with SKSV */
};

/* Decodes fixed (70h/71h) or descriptor (72h/73h) format sense. */
void mmc_sense_decode(const uint8_t *sense, size_t len, struct mmc_sense *out);
/* "MEDIUM ERROR 03/0C/00 write error" */
const char *mmc_sense_text(const struct mmc_sense *s, char *buf, size_t len);
/* The errno a failed command maps to (EIO, EROFS, ENOMEDIUM, EINVAL, EAGAIN, ...). */
int mmc_sense_errno(const struct mmc_sense *s);

enum mmc_sense_class {
	MMC_SC_OK,
	MMC_SC_RETRY,      /* becoming ready, long write in progress, format in progress: wait */
	MMC_SC_UNIT_ATTN,  /* medium may have changed / reset: probe again */
	MMC_SC_NO_MEDIUM,
	MMC_SC_MEDIUM,     /* medium or hardware error: EIO for the sectors concerned */
	MMC_SC_PROTECT,
	MMC_SC_ILLEGAL,
	MMC_SC_OTHER,
};
enum mmc_sense_class mmc_sense_classify(const struct mmc_sense *s);

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
/* "FORMAT UNIT" for 04h; "unknown" for an opcode pktfuse does not send. */
const char *mmc_op_name(uint8_t op);
/* Clears what the previous command left in ctx; every command starts with it. */
void mmc_ctx_begin(struct mmc_ctx *ctx, uint8_t op);
/* Where the MMC layer reports failed commands and disc changes: one line without newline.  By
 * default stderr with a "pktfuse: " prefix; a program sets its own sink (the daemon: its log). */
typedef void (*mmc_log_sink)(const char *line);
void mmc_set_log_sink(mmc_log_sink sink);
void mmc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends cmd with the retry policy.  Returns 0 on GOOD, otherwise a negative errno with ctx->last
 * holding the decoded sense (logged to stderr unless quiet or the caller passes expect_fail). */
int mmc_exec(struct mmc_ctx *ctx, struct mmc_cmd *cmd);
/* Same, without logging a failure (probing for optional features). */
int mmc_exec_quiet(struct mmc_ctx *ctx, struct mmc_cmd *cmd);

#endif
