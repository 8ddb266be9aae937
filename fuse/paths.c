/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Paths made absolute before the daemon detaches (it works in "/" then). */
#define _GNU_SOURCE
#include "paths.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* path made absolute (not resolved: an emulated disc may not exist yet).  Malloc'ed; NULL when out of
 * memory or the working directory is gone. */
char *absolute_path(const char *path)
{
	char *out = NULL;

	if (path[0] == '/')
		return strdup(path);
	char *cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&out, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) < 0)
		out = NULL;
	free(cwd);
	return out;
}

/* SOURCE with every path in it absolute: the daemon works in "/" once detached, and the emulator
 * reopens its state file by name.  An image or device path, or emu:PROFILE:IMAGE[,log=FILE,...].
 * Malloc'ed; NULL when out of memory. */
char *absolute_source(const char *source)
{
	if (strncmp(source, "emu:", 4) != 0)
		return absolute_path(source);
	const char *image = strchr(source + 4, ':');
	if (!image)
		return strdup(source); /* malformed: the emulator says why */
	image++;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	if (!f)
		return NULL;
	fprintf(f, "%.*s", (int)(image - source), source);
	bool ok = true;
	for (const char *p = image, *end; ok && p; p = *end ? end + 1 : NULL) {
		end = p + strcspn(p, ",");
		char *part = strndup(p, (size_t)(end - p));
		bool is_path = p == image || !strncmp(part, "log=", 4);
		const char *name = p == image ? part : part + 4;
		char *abs = is_path && *name ? absolute_path(name) : NULL;
		if (!part || (is_path && *name && !abs))
			ok = false;
		else if (abs)
			fprintf(f, "%s%s%s", p == image ? "" : ",", p == image ? "" : "log=", abs);
		else
			fprintf(f, "%s%s", p == image ? "" : ",", part);
		free(abs);
		free(part);
	}
	if (fclose(f) != 0 || !ok) {
		free(out);
		return NULL;
	}
	return out;
}
