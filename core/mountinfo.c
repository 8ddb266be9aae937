/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "mountinfo.h"

#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++, w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else {
			*w = *r;
		}
	}
	*w = '\0';
}

int mountinfo_find(const char *path, dev_t *dev, char *mnt, size_t mntlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], point[4096];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, mn;
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &mn, point) != 3)
			continue;
		unescape(point);
		if (path ? strcmp(point, path) != 0 : makedev(maj, mn) != *dev)
			continue;
		found = 1;
		*dev = makedev(maj, mn);
		if (mnt)
			snprintf(mnt, mntlen, "%s", point);
	}
	fclose(f);
	return found;
}
