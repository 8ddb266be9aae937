/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The mounts of this process's mount namespace, from /proc/self/mountinfo. */
#ifndef PKTFUSE_MOUNTINFO_H
#define PKTFUSE_MOUNTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Finds a mount by its mount point (path, absolute and resolved) or, with path NULL, by its device
 * *dev.  true when found, with the device in *dev and the mount point in mnt (if mnt); of several
 * mounts on one point, the last (the one on top).  -1 when mountinfo cannot be read. */
int mountinfo_find(const char *path, dev_t *dev, char *mnt, size_t mntlen);

#endif
