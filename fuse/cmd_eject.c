/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse eject MOUNTPOINT|DRIVE`: what a desktop's eject does.  A mount: everything written (as
 * pktfuse umount writes it, with its report), unmounted, then the tray unlocked and opened.  A drive
 * a pktfuse mount serves: that mount, the same way.  A drive not mounted: its tray unlocked and
 * opened.  The disc stays in when the daemon could not write everything. */
#define _GNU_SOURCE
#include "cmd.h"
#include "daemon.h"
#include "paths.h"
#include "source.h"
#include "source_kind.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mountinfo's octal escapes (\040 for a space ...) undone in place. */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else
			*o = *s;
	}
	*o = '\0';
}

/* The length of emu:PROFILE:IMAGE without its options (",opt=val..."). */
static size_t emu_disc_len(const char *s)
{
	const char *image = strchr(s + 4, ':');
	return image ? (size_t)(image - s) + strcspn(image, ",") : strlen(s);
}

/* Whether the mount's source src names the same drive as source (whose classification is kind, its
 * stat st): the same device node for a drive, the same emulated disc (options aside) for the
 * emulator. */
static bool same_drive(const char *src, const char *source, enum source_kind kind, const struct stat *st)
{
	struct stat ms;
	char err[256];

	if (kind == SOURCE_EMULATOR)
		return strncmp(src, "emu:", 4) == 0 && emu_disc_len(src) == emu_disc_len(source) &&
		       strncmp(src, source, emu_disc_len(source)) == 0;
	return source_classify(src, &ms, err, sizeof(err)) == SOURCE_DRIVE && ms.st_rdev == st->st_rdev &&
	       (ms.st_mode & S_IFMT) == (st->st_mode & S_IFMT);
}

/* The mount point of a pktfuse mount serving source (its fsname, see pktfuse_add_mount_names) into
 * mnt; false when none. */
static bool find_mount_of(const char *source, enum source_kind kind, const struct stat *st, char *mnt, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	while (f && !found && getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - "), *save = NULL;
		if (!sep)
			continue;
		strtok_r(line, " ", &save); /* mount id, parent id, major:minor, root */
		for (int i = 0; i < 3; i++)
			strtok_r(NULL, " ", &save);
		char *point = strtok_r(NULL, " ", &save);
		char *type = strtok_r(sep + 3, " ", &save), *src = strtok_r(NULL, " ", &save);
		if (!point || !type || !src || strcmp(type, "fuse.pktfuse") != 0)
			continue;
		unescape(src);
		unescape(point);
		if (same_drive(src, source, kind, st)) {
			snprintf(mnt, len, "%s", point);
			found = true;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/* Opens the tray of source and says so: the exit status. */
static int eject_drive(const char *source)
{
	char err[1024];

	if (mmc_cmd_eject(source, err, sizeof(err)) != 0) {
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	printf("%s: tray unlocked and opened\n", source);
	return 0;
}

/* A pktfuse mount: written, unmounted, ejected.  An image file's mount is left as it is. */
static int eject_mount(const char *mnt)
{
	char raw[PKTFUSE_STATS_MAX + 1], source[4096], err[512];

	ssize_t n = pktfuse_read_stats(mnt, raw, sizeof(raw));
	if (n < 0 && n != -ENOTCONN && n != -ECONNABORTED) { /* a dead daemon's mount: umount's case */
		fprintf(stderr, "pktfuse: %s is not a pktfuse mount (%s)\n", mnt, strerror((int)-n));
		return 1;
	}
	if (n >= 0) {
		pktfuse_stats_value(raw, "source", source, sizeof(source));
		if (source_classify(source, NULL, err, sizeof(err)) == SOURCE_IMAGE) {
			fprintf(stderr,
				"pktfuse: %s serves the image file %s, not a drive: nothing to eject (pktfuse umount "
				"unmounts it)\n",
				mnt, source);
			return 1;
		}
	}
	if (pktfuse_unmount(mnt, source, sizeof(source)) != 0) {
		fprintf(stderr, "pktfuse: %s: the disc stays in the drive: not everything was written to it\n", mnt);
		return 1;
	}
	printf("%s: everything written to %s, unmounted\n", mnt, source);
	return eject_drive(source);
}

int cmd_eject(int argc, char **argv)
{
	char err[512], mnt[4096];
	struct stat st;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: pktfuse eject MOUNTPOINT|DRIVE\n");
		return 2;
	}
	enum source_kind kind = source_classify(argv[1], &st, err, sizeof(err));
	switch (kind) {
	case SOURCE_DIRECTORY:
		return eject_mount(argv[1]);
	case SOURCE_IMAGE:
		fprintf(stderr, "pktfuse: %s is an image file, not a drive: nothing to eject\n", argv[1]);
		return 1;
	case SOURCE_DRIVE:
	case SOURCE_EMULATOR:
		break;
	default:
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	char *source = absolute_source(argv[1]);
	if (!source) {
		fprintf(stderr, "pktfuse: %s: out of memory\n", argv[1]);
		return 1;
	}
	int rc = find_mount_of(source, kind, &st, mnt, sizeof(mnt)) ? eject_mount(mnt) : eject_drive(source);
	free(source);
	return rc;
}
