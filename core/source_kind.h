/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a SOURCE argument names, decided in one place for the daemon and every subcommand:
 * "emu:PROFILE:IMAGE[,...]" is the emulator, a block or character device a drive, a regular file an
 * image file.  Nothing is opened: the backend that serves the kind opens it and says what is wrong.
 */
#ifndef PKTFUSE_SOURCE_KIND_H
#define PKTFUSE_SOURCE_KIND_H

#include <stddef.h>
#include <sys/stat.h>

enum source_kind {
	SOURCE_EMULATOR,  /* emu:... (its image may not exist yet) */
	SOURCE_DRIVE,	  /* a block or character device */
	SOURCE_IMAGE,	  /* a regular file */
	SOURCE_DIRECTORY, /* not a source */
	SOURCE_MISSING,	  /* stat failed */
	SOURCE_OTHER,	  /* a fifo, a socket: neither a drive nor an image file */
};

/* Classifies source.  st (may be NULL) gets its stat for every kind but the emulator and missing.
 * For a directory, a missing path and other files err gets the one-line reason, naming source:
 * "SRC: is a directory, not a drive or an image file", "SRC: <strerror>", "SRC: neither a drive nor
 * an image file". */
enum source_kind source_classify(const char *source, struct stat *st, char *err, size_t errlen);

#endif
