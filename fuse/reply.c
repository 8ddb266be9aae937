/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
/* Core errors to FUSE replies, and failed fsyncs to the log. */
#include "daemon.h"
#include "log.h"

#include <errno.h>
#include <string.h>

void pktfuse_reply_err(fuse_req_t req, int rc)
{
	if (rc == 0)
		return (void)fuse_reply_err(req, 0); /* success of a call that returns no data */
	int e = rc < 0 ? -rc : EIO;

	/* Errors that only make sense inside the core must not leak to applications as surprises. */
	if (e > 4095 || e == EAGAIN)
		e = EIO;
	fuse_reply_err(req, e);
}

int pktfuse_logged(struct pktfuse *pf, const char *what, int rc)
{
	if (rc)
		pktfuse_log(LOG_ERR, "%s: %s for an fsync failed: %s", pf->opts.source, what,
			    strerror(rc < 0 ? -rc : EIO));
	return rc;
}
