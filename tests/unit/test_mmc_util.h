/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the MMC unit tests: a fake transport's plumbing and the suite runner. */
#ifndef PKTFUSE_TEST_MMC_UTIL_H
#define PKTFUSE_TEST_MMC_UTIL_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mmc_be.h"
#include "mmc_exec.h"

static inline void fake_close(struct mmc_transport *t)
{
	(void)t;
}

/* Points t at ops/priv and ctx at t, quiet, everything else zero. */
static inline void fake_attach(struct mmc_transport *t, const struct mmc_transport_ops *ops, const char *name,
			       void *priv, struct mmc_ctx *ctx)
{
	t->ops = ops;
	t->name = name;
	t->priv = priv;
	memset(ctx, 0, sizeof(*ctx));
	ctx->t = t;
	ctx->quiet = true;
}

static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
