/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's look at an image file before it opens it: is it an image of a write-once disc? */
#define _GNU_SOURCE
#include "wo_image.h"
#include "blockdev.h"
#include "udf.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	return pread(*(int *)ctx, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
}

bool wo_image_probe(const char *path, uint64_t *capacity_sectors, uint32_t *unit)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	bool wo = false;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		struct udf_io io = {.read = file_read, .ctx = &fd, .size = (uint64_t)st.st_size};
		struct udf_mount_opts mo = {.read_only = true};
		struct udf_fs *fs;
		char err[256];
		uint64_t end;
		if (udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0) {
			wo = udf_write_once(fs, &end) && end >= (uint64_t)st.st_size;
			udf_unmount(fs);
		}
		if (wo) {
			*capacity_sectors = end / PKT_SECTOR_SIZE;
			*unit = st.st_size % (32 * PKT_SECTOR_SIZE) ? 16 : 32;
		}
	}
	close(fd);
	return wo;
}
