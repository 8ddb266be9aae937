/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "disc_lock.h"
#include "mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LOCK_MOUNTED 0
#define LOCK_OPEN 1
#define LOCK_PID ((off_t)1 << 32)
#define LOCK_DEV ((off_t)1 << 40)
#define LOCK_RANGE ((off_t)1 << 32)

/* The discs this process locked (the daemon has one; format and tests at most a few). */
static struct held {
	int fd;
	short type;
	pid_t pid;
	off_t dev; /* 0: not mounted */
} held[8];

static int set_lock(int fd, short type, off_t start, bool wait)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = 1};
	int rc;

	while ((rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) < 0 && errno == EINTR)
		;
	return rc < 0 ? -errno : 0;
}

/* The offset (from base) of a lock another descriptor holds in [base, base + LOCK_RANGE), or -1. */
static off_t other_lock(int fd, off_t base)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = base, .l_len = LOCK_RANGE};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
		return -1;
	return fl.l_start - base;
}

static off_t dev_code(dev_t dev)
{
	return (off_t)((uint64_t)major(dev) << 20 | (minor(dev) & 0xFFFFF)) + 1;
}

/* Whether the mount named by a DEV lock still exists here; its mount point in mnt.  When that
 * cannot be told, it is taken as mounted: refusing is better than waiting forever. */
static bool still_mounted(off_t code, char *mnt, size_t len)
{
	dev_t dev = makedev((unsigned)((code - 1) >> 20), (unsigned)((code - 1) & 0xFFFFF));

	snprintf(mnt, len, "?");
	return mountinfo_find(NULL, &dev, mnt, len) != 0;
}

static void announce_wait(int fd, const char *path, bool *said)
{
	if (*said)
		return;
	off_t pid = other_lock(fd, LOCK_PID);
	if (pid > 0)
		fprintf(stderr, "pktfuse: waiting for the pktfuse that is still writing %s (pid %lld)…\n", path,
			(long long)pid);
	else
		fprintf(stderr, "pktfuse: waiting for the pktfuse that is still writing %s…\n", path);
	*said = true;
}

int disc_lock_take(int fd, const char *path, bool exclusive, char *err, size_t errlen)
{
	short type = exclusive ? F_WRLCK : F_RDLCK;
	bool said = false;
	struct held *h = NULL;
	int rc;

	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]) && !h; i++)
		if (!held[i].type)
			h = &held[i];
	if (!h) {
		snprintf(err, errlen, "%s: too many discs locked", path);
		return -ENOLCK;
	}
	rc = set_lock(fd, type, LOCK_MOUNTED, false);
	if (rc == -EAGAIN || rc == -EACCES) {
		char mnt[4096];
		off_t dev = other_lock(fd, LOCK_DEV);
		if (dev < 0) {
			snprintf(err, errlen, "%s: in use by another pktfuse", path);
			return -EBUSY;
		}
		if (still_mounted(dev, mnt, sizeof(mnt))) {
			snprintf(err, errlen, "%s: in use by another pktfuse, mounted on %s", path, mnt);
			return -EBUSY;
		}
		/* Its mount is gone: it is writing its cache and will release the disc soon. */
		announce_wait(fd, path, &said);
		rc = set_lock(fd, type, LOCK_MOUNTED, true);
	}
	if (rc == 0 && (rc = set_lock(fd, type, LOCK_OPEN, false)) != 0 && (rc == -EAGAIN || rc == -EACCES)) {
		announce_wait(fd, path, &said);
		rc = set_lock(fd, type, LOCK_OPEN, true);
	}
	if (rc == 0)
		rc = set_lock(fd, type, LOCK_PID + getpid(), false);
	if (rc) {
		snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(-rc));
		return rc;
	}
	*h = (struct held){.fd = fd, .type = type, .pid = getpid()};
	return 0;
}

void disc_lock_mounted(dev_t dev)
{
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
		struct held *h = &held[i];
		if (!h->type)
			continue;
		if (h->pid != getpid()) { /* taken before the fork: name the daemon instead */
			set_lock(h->fd, F_UNLCK, LOCK_PID + h->pid, false);
			h->pid = getpid();
			set_lock(h->fd, h->type, LOCK_PID + h->pid, false);
		}
		h->dev = dev_code(dev);
		set_lock(h->fd, h->type, LOCK_DEV + h->dev, false);
	}
}

void disc_lock_unmounted(void)
{
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
		struct held *h = &held[i];
		if (!h->type)
			continue;
		if (h->dev)
			set_lock(h->fd, F_UNLCK, LOCK_DEV + h->dev, false);
		set_lock(h->fd, F_UNLCK, LOCK_MOUNTED, false);
		h->dev = 0;
	}
}

void disc_lock_forget(int fd)
{
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		if (held[i].type && held[i].fd == fd)
			held[i] = (struct held){0};
}
