/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse status MOUNTPOINT`: the statistics of a running daemon, read from its root's attribute. */
#define _GNU_SOURCE
#include "cmd.h"
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

int cmd_status(int argc, char **argv)
{
	char buf[PKTFUSE_STATS_MAX + 1];

	if (argc != 2) {
		fprintf(stderr, "usage: pktfuse status MOUNTPOINT\n");
		return 2;
	}
	ssize_t n = getxattr(argv[1], PKTFUSE_STATS_XATTR, buf, sizeof(buf) - 1);
	if (n < 0) {
		int e = errno;
		if (e == ENODATA || e == ENOTSUP)
			fprintf(stderr, "pktfuse: %s is not a pktfuse mount\n", argv[1]);
		else if (e == ENOTCONN || e == ECONNABORTED) /* aborted: the kernel's word for it too */
			fprintf(stderr, "pktfuse: %s: the daemon is gone (unmount it with fusermount3 -u)\n", argv[1]);
		else
			fprintf(stderr, "pktfuse: %s: %s\n", argv[1], strerror(e));
		return 1;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	return 0;
}
