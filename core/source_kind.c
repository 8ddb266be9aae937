/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "source_kind.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum source_kind source_classify(const char *source, struct stat *st, char *err, size_t errlen)
{
	struct stat own;

	if (!st)
		st = &own;
	if (!strncmp(source, "emu:", 4))
		return SOURCE_EMULATOR;
	if (stat(source, st) < 0) {
		snprintf(err, errlen, "%s: %s", source, strerror(errno));
		return SOURCE_MISSING;
	}
	if (S_ISREG(st->st_mode))
		return SOURCE_IMAGE;
	if (S_ISDIR(st->st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a drive or an image file", source);
		return SOURCE_DIRECTORY;
	}
	if (!S_ISBLK(st->st_mode) && !S_ISCHR(st->st_mode)) {
		snprintf(err, errlen, "%s: neither a drive nor an image file", source);
		return SOURCE_OTHER;
	}
	return SOURCE_DRIVE;
}
