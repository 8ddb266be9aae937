/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Requests by opcode: what a workload costs in round trips, whatever the machine's load (the time of
 * a round trip depends on it, their number does not; bench/udf_write.sh prints them per file copied,
 * tests/e2e/files_round_trips.sh bounds them).  Counted where the request is read, so that those
 * libfuse answers by itself (FLUSH without a handler, INIT, FORGET) count too.
 */
#define _GNU_SOURCE
#include "request_count.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const opcode_names[PKTFUSE_OPCODES] = {
	[0] = "OTHER",
	[FUSE_LOOKUP] = "LOOKUP",
	[FUSE_FORGET] = "FORGET",
	[FUSE_GETATTR] = "GETATTR",
	[FUSE_SETATTR] = "SETATTR",
	[FUSE_READLINK] = "READLINK",
	[FUSE_SYMLINK] = "SYMLINK",
	[FUSE_MKNOD] = "MKNOD",
	[FUSE_MKDIR] = "MKDIR",
	[FUSE_UNLINK] = "UNLINK",
	[FUSE_RMDIR] = "RMDIR",
	[FUSE_RENAME] = "RENAME",
	[FUSE_LINK] = "LINK",
	[FUSE_OPEN] = "OPEN",
	[FUSE_READ] = "READ",
	[FUSE_WRITE] = "WRITE",
	[FUSE_STATFS] = "STATFS",
	[FUSE_RELEASE] = "RELEASE",
	[FUSE_FSYNC] = "FSYNC",
	[FUSE_SETXATTR] = "SETXATTR",
	[FUSE_GETXATTR] = "GETXATTR",
	[FUSE_LISTXATTR] = "LISTXATTR",
	[FUSE_REMOVEXATTR] = "REMOVEXATTR",
	[FUSE_FLUSH] = "FLUSH",
	[FUSE_INIT] = "INIT",
	[FUSE_OPENDIR] = "OPENDIR",
	[FUSE_READDIR] = "READDIR",
	[FUSE_RELEASEDIR] = "RELEASEDIR",
	[FUSE_FSYNCDIR] = "FSYNCDIR",
	[FUSE_GETLK] = "GETLK",
	[FUSE_SETLK] = "SETLK",
	[FUSE_SETLKW] = "SETLKW",
	[FUSE_ACCESS] = "ACCESS",
	[FUSE_CREATE] = "CREATE",
	[FUSE_INTERRUPT] = "INTERRUPT",
	[FUSE_BMAP] = "BMAP",
	[FUSE_DESTROY] = "DESTROY",
	[FUSE_IOCTL] = "IOCTL",
	[FUSE_POLL] = "POLL",
	[FUSE_NOTIFY_REPLY] = "NOTIFY_REPLY",
	[FUSE_BATCH_FORGET] = "BATCH_FORGET",
	[FUSE_FALLOCATE] = "FALLOCATE",
	[FUSE_READDIRPLUS] = "READDIRPLUS",
	[FUSE_RENAME2] = "RENAME2",
	[FUSE_LSEEK] = "LSEEK",
	[FUSE_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
};

static void count_request(const struct fuse_buf *b, unsigned long counts[PKTFUSE_OPCODES])
{
	/* libfuse reads into memory unless the file system asks for splice (it defines no write_buf) */
	if ((b->flags & FUSE_BUF_IS_FD) || b->size < sizeof(struct fuse_in_header))
		return;
	uint32_t op = ((const struct fuse_in_header *)b->mem)->opcode;
	__atomic_add_fetch(&counts[op < PKTFUSE_OPCODES ? op : 0], 1, __ATOMIC_RELAXED);
}

/* As fuse_session_loop in libfuse 3 (lib/fuse_loop.c), with the count. */
int pktfuse_counting_loop(struct fuse_session *se, unsigned long counts[PKTFUSE_OPCODES])
{
	struct fuse_buf fbuf = {.mem = NULL};
	int res = 0;

	while (!fuse_session_exited(se)) {
		res = fuse_session_receive_buf(se, &fbuf);
		if (res == -EINTR) { /* a signal: the handler ended the session, or the read goes on */
			res = 0;
			continue;
		}
		if (res <= 0) /* 0: unmounted */
			break;
		count_request(&fbuf, counts);
		fuse_session_process_buf(se, &fbuf);
	}
	free(fbuf.mem);
	fuse_session_reset(se);
	return res > 0 ? 0 : res;
}

size_t pktfuse_render_requests(const unsigned long counts[PKTFUSE_OPCODES], char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (unsigned op = 0; op < PKTFUSE_OPCODES; op++) {
		unsigned long n = __atomic_load_n(&counts[op], __ATOMIC_RELAXED);
		if (n == 0)
			continue;
		char other[16];
		const char *name = opcode_names[op];
		if (!name) {
			snprintf(other, sizeof(other), "OP%u", op);
			name = other;
		}
		int k = snprintf(buf + used, len - used, "%s%s=%lu", used ? " " : "", name, n);
		if (k < 0 || (size_t)k >= len - used)
			break;
		used += (size_t)k;
	}
	buf[used] = '\0';
	return used;
}
