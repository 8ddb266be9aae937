/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

void pktfuse_reply_err(fuse_req_t req, int rc)
{
	int e = rc < 0 ? -rc : EIO;

	/* Errors that only make sense inside the core must not leak to applications as surprises. */
	if (e == 0 || e > 4095 || e == EAGAIN)
		e = EIO;
	fuse_reply_err(req, e);
}

size_t pktfuse_render_stats(struct pktfuse *pf, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "source: %s\n"
			 "daemon_pid: %ld\n"
			 "view: %s\n"
			 "io_flusher: %d\n",
			 pf->opts.source, (long)getpid(), pf->opts.image_view ? "image" : "files", pf->io_flusher);
	if (n < 0 || len == 0)
		return 0;
	size_t used = (size_t)n < len ? (size_t)n : len - 1;
	return used + pkt_cache_format_stats(pf->cache, buf + used, len - used);
}
