/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PKTFUSE_PATHS_H
#define PKTFUSE_PATHS_H

/* path made absolute (not resolved: an emulated disc may not exist yet).  Malloc'ed; NULL when out of
 * memory or the working directory is gone. */
char *absolute_path(const char *path);

/* SOURCE with every path in it absolute: the daemon works in "/" once detached, and the emulator
 * reopens its state file by name.  An image or device path, or emu:PROFILE:IMAGE[,log=FILE,...].
 * Malloc'ed; NULL when out of memory. */
char *absolute_source(const char *source);

#endif
