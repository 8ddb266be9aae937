/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The locks that keep two pktfuse daemons off one disc, taken on the disc's file (an image file,
 * an emulated drive's image).  Open file description locks (F_OFD_SETLK): they follow the
 * descriptor across fork and go away with it, and closing another descriptor does not drop them.
 *
 *   MOUNTED   held from open until the daemon's FUSE session ends;
 *   OPEN      held until the disc is closed, after the daemon has written its cache;
 *   PID + n   held with OPEN, names the holder (process n);
 *   DEV + d   held while mounted, names the mount (the FUSE file system's device d).
 *
 * A new opener is refused at once while another daemon's mount exists, and waits — saying so once
 * on stderr — while a daemon whose mount is gone is still writing.
 */
#ifndef PKTFUSE_DISC_LOCK_H
#define PKTFUSE_DISC_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Locks the disc open on fd (path names it in messages); exclusive for writing, shared for
 * reading (fd must then be open for writing, resp. reading).  0, or a negative errno with a
 * one-line reason in err (-EBUSY: in use by another pktfuse). */
int disc_lock_take(int fd, const char *path, bool exclusive, char *err, size_t errlen);
/* This process now serves the discs it locked on the file system of device dev (and is the
 * process that holds them: the daemon after its fork). */
void disc_lock_mounted(dev_t dev);
/* The FUSE session ended: another daemon may start, and waits until these discs are closed. */
void disc_lock_unmounted(void);
/* fd is about to be closed (its locks go with it). */
void disc_lock_forget(int fd);

#endif
