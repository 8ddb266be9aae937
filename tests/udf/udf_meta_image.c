/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_meta_image OUT REVISION MEDIA: an image of 8 MiB formatted with a metadata partition (REVISION
 * 2.50 or 2.60; MEDIA hd, cdrw, bdre, ...) and a small tree written by pktfuse's engine without the
 * daemon (nested directories, embedded and multi-block files, a fragmented file whose extents continue
 * in an allocation extent descriptor, a symlink, a rename and a deletion), closed cleanly.  Input for
 * udf_hostile (hostile_meta.sh).
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE (8u << 20)

static uint8_t *img;

static int rd(void *ctx, uint64_t off, size_t len, void *buf)
{
	(void)ctx;
	if (off > SIZE || len > SIZE - off)
		return -EIO;
	memcpy(buf, img + off, len);
	return 0;
}

static int wr(void *ctx, uint64_t off, size_t len, const void *buf)
{
	(void)ctx;
	if (off > SIZE || len > SIZE - off)
		return -EIO;
	memcpy(img + off, buf, len);
	return 0;
}

static int fl(void *ctx)
{
	(void)ctx;
	return 0;
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "udf_meta_image: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[2], "2.50") && strcmp(argv[2], "2.60")) || udf_media_parse(argv[3]) < 0) {
		fprintf(stderr, "usage: udf_meta_image OUT 2.50|2.60 MEDIA\n");
		return 2;
	}
	struct udf_format_opts fo = {.revision = strcmp(argv[2], "2.50") ? 0x0260 : 0x0250,
				     .media = (enum udf_media)udf_media_parse(argv[3]),
				     .uid = 0,
				     .gid = 0};
	char err[256];
	img = calloc(1, SIZE);
	if (!img || udf_format(&fo, wr, NULL, SIZE, err, sizeof(err))) {
		fprintf(stderr, "udf_meta_image: format: %s\n", img ? err : "out of memory");
		return 1;
	}
	struct udf_io io = {.read = rd, .write = wr, .flush = fl, .size = SIZE, .packet_blocks = 32};
	struct udf_mount_opts mo = {0};
	struct udf_fs *fs;
	if (udf_mount(&io, &mo, &fs, err, sizeof(err))) {
		fprintf(stderr, "udf_meta_image: mount: %s\n", err);
		return 1;
	}
	if (!udf_writable(fs, err, sizeof(err))) {
		fprintf(stderr, "udf_meta_image: not writable: %s\n", err);
		return 1;
	}
	static uint8_t data[300000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	struct stat st;
	uint64_t root = udf_root_ino(fs), d, e, ino, frag;
	int rc = udf_create(fs, root, "dir", S_IFDIR | 0755, 0, 0, NULL, &d, &st);
	if (!rc)
		rc = udf_create(fs, d, "sub", S_IFDIR | 0700, 0, 0, NULL, &e, &st);
	if (!rc)
		rc = udf_create(fs, root, "frag", S_IFREG | 0644, 0, 0, NULL, &frag, &st);
	for (int i = 0; i < 40 && !rc; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%02d", i);
		rc = udf_create(fs, i % 2 ? d : e, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st);
		size_t len = i % 3 == 0 ? 100 : (size_t)i * 7000;
		if (!rc && udf_write(fs, ino, 0, len, data) != (ssize_t)len)
			rc = -EIO;
		if (!rc && i % 10 == 9)
			rc = udf_sync(fs);
	}
	/* one block in four of a file: a fragmented file, its extents beyond the file entry */
	for (int i = 0; i < 130 && !rc; i++)
		if (udf_write(fs, frag, (uint64_t)i * 4 * 2048, 2048, data) != 2048)
			rc = -EIO;
	if (!rc)
		rc = udf_create(fs, root, "link", S_IFLNK | 0777, 0, 0, "dir/sub/f00", &ino, &st);
	if (!rc)
		rc = udf_rename(fs, d, "f01", root, "moved", 0);
	if (!rc)
		rc = udf_unlink(fs, e, "f02");
	if (!rc)
		rc = udf_close(fs);
	udf_unmount(fs);
	if (rc)
		return die("writing the tree", rc);
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, img, SIZE) != (ssize_t)SIZE || close(fd))
		return die(argv[1], errno);
	free(img);
	return 0;
}
