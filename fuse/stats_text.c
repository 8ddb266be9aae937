/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading a running daemon's statistics text, for the subcommands (status, umount, eject). */
#define _GNU_SOURCE
#include "cmd.h"
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The files view's statistics: the ioctl on its root; -ENOTTY from any other mount or directory. */
static ssize_t stats_by_ioctl(const char *mountpoint, char *buf, size_t len)
{
	char tmp[PKTFUSE_STATS_IOCTL_LEN + 1];
	int fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int n = ioctl(fd, PKTFUSE_STATS_IOCTL, tmp);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	size_t got = (size_t)n < len - 1 ? (size_t)n : len - 1;
	memcpy(buf, tmp, got);
	buf[got] = '\0';
	return (ssize_t)got;
}

ssize_t pktfuse_read_stats(const char *mountpoint, char *buf, size_t len)
{
	ssize_t n = stats_by_ioctl(mountpoint, buf, len);
	if (n != -ENOTTY && n != -EINVAL && n != -ENOSYS)
		return n;
	/* the image view, or not a pktfuse mount (ENODATA, ENOTSUP) */
	n = getxattr(mountpoint, PKTFUSE_STATS_XATTR, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

void pktfuse_stats_value(const char *text, const char *name, char *out, size_t len)
{
	size_t n = strlen(name);

	out[0] = '\0';
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, name, n) == 0 && l[n] == ':' && l[n + 1] == ' ') {
			size_t v = strcspn(l + n + 2, "\n");
			snprintf(out, len, "%.*s", (int)(v < len ? v : len - 1), l + n + 2);
			return;
		}
	}
}

uint64_t pktfuse_stats_u64(const char *text, const char *name)
{
	char v[32];

	pktfuse_stats_value(text, name, v, sizeof(v));
	return strtoull(v, NULL, 10);
}

const char *pktfuse_format_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}
