/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "transport.h"

#include <stdarg.h>
#include <stdio.h>

int mmc_transport_exec(struct mmc_transport *t, struct mmc_cmd *cmd)
{
	cmd->status = 0;
	cmd->sense_len = 0;
	cmd->resid = 0;
	if (!cmd->timeout_ms)
		cmd->timeout_ms = 30000;
	return t->ops->exec(t, cmd);
}

void mmc_transport_sleep(struct mmc_transport *t, unsigned ms)
{
	t->ops->sleep_ms(t, ms);
}

void mmc_transport_close(struct mmc_transport *t)
{
	if (t)
		t->ops->close(t);
}

size_t mmc_appendf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!len)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}
