/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mmc_exec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static mmc_log_sink log_sink;

void mmc_set_log_sink(mmc_log_sink sink)
{
	log_sink = sink;
}

void mmc_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_sink)
		log_sink(line);
	else
		fprintf(stderr, "pktfuse: %s\n", line);
}

void mmc_ctx_begin(struct mmc_ctx *ctx, uint8_t op)
{
	memset(&ctx->last, 0, sizeof(ctx->last));
	ctx->last_os_error = 0;
	ctx->last_op = op;
}

const char *mmc_ctx_error(const struct mmc_ctx *ctx, int rc, char *buf, size_t len)
{
	char txt[96];

	if (ctx->last_os_error == EPERM)
		snprintf(buf, len, "the kernel refused command %02Xh (%s) for this user: %s", ctx->last_op,
			 mmc_op_name(ctx->last_op), strerror(EPERM));
	else if (ctx->last.valid)
		snprintf(buf, len, "%s", mmc_sense_text(&ctx->last, txt, sizeof(txt)));
	else
		snprintf(buf, len, "%s", strerror(rc < 0 ? -rc : EIO));
	return buf;
}

static int send_with_retries(struct mmc_ctx *ctx, struct mmc_cmd *cmd, bool log)
{
	unsigned budget = ctx->max_wait_ms ? ctx->max_wait_ms : 120000;
	unsigned waited = 0, delay = 10;
	bool ua_retried = false;

	for (;;) {
		mmc_ctx_begin(ctx, cmd->cdb[0]);
		int rc = mmc_transport_exec(ctx->t, cmd);
		if (rc < 0) {
			char txt[160];
			ctx->errors++;
			ctx->last_os_error = -rc;
			if (log && !ctx->quiet) {
				if (rc == -EPERM)
					mmc_log("%s: %s", ctx->t->name, mmc_ctx_error(ctx, rc, txt, sizeof(txt)));
				else
					mmc_log("%s: command %02Xh failed: %s", ctx->t->name, cmd->cdb[0],
						strerror(-rc));
			}
			return rc;
		}
		if (cmd->status == MMC_STATUS_GOOD)
			return 0;
		mmc_sense_decode(cmd->sense, cmd->sense_len, &ctx->last);
		if (cmd->status != MMC_STATUS_CHECK)
			ctx->last.valid = false;
		enum mmc_sense_class c = mmc_sense_classify(&ctx->last);
		if (c == MMC_SC_OK && ctx->last.valid)
			return 0;
		if (c == MMC_SC_RETRY && waited < budget) {
			/* Bounded exponential back-off: the drive is busy, not broken. */
			ctx->retries++;
			mmc_transport_sleep(ctx->t, delay);
			waited += delay;
			delay = delay * 2 > 1000 ? 1000 : delay * 2;
			continue;
		}
		if (c == MMC_SC_UNIT_ATTN) {
			/* A unit attention is reported once and cleared; the command itself never ran, so
			 * run it again, but tell the owner that the medium must be checked. */
			ctx->unit_attentions++;
			ctx->unit_attention = true;
			if (ctx->return_unit_attention)
				return -EAGAIN;
			if (!ua_retried) {
				ua_retried = true;
				continue;
			}
		}
		ctx->errors++;
		if (log && !ctx->quiet) {
			char txt[96];
			mmc_sense_text(&ctx->last, txt, sizeof(txt));
			if (ctx->last.info_valid)
				mmc_log("%s: command %02Xh failed at sector %llu: %s", ctx->t->name, cmd->cdb[0],
					(unsigned long long)ctx->last.info, txt);
			else
				mmc_log("%s: command %02Xh failed: %s", ctx->t->name, cmd->cdb[0], txt);
		}
		return ctx->last.valid ? mmc_sense_errno(&ctx->last) : -EIO;
	}
}

int mmc_exec(struct mmc_ctx *ctx, struct mmc_cmd *cmd)
{
	return send_with_retries(ctx, cmd, true);
}

int mmc_exec_quiet(struct mmc_ctx *ctx, struct mmc_cmd *cmd)
{
	return send_with_retries(ctx, cmd, false);
}
