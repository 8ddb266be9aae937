/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF engine (reader).  It knows nothing of FUSE: inode numbers, struct stat and negative
 * errnos.  Every byte comes through struct udf_io, so the engine reads through the packet cache.
 * The disc is untrusted input: every descriptor is verified and every length bounds-checked.
 */
#ifndef PKTFUSE_UDF_H
#define PKTFUSE_UDF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct udf_io {
	/* Reads len bytes at byte offset off of the medium; 0 or -errno.  Thread-safe. */
	int (*read)(void *ctx, uint64_t off, size_t len, void *buf);
	void *ctx;
	uint64_t size; /* bytes */
	/* First sector (of the UDF block size) of the last session of a multi-session disc, 0 for
	 * single-session media and image files: its anchor and recognition sequence are found there. */
	uint64_t session_start;
};

struct udf_mount_opts {
	uid_t uid; /* owner shown for files whose owner is not recorded */
	gid_t gid;
};

struct udf_statfs {
	char label[128];      /* logical volume identifier, UTF-8 */
	uint32_t block_size;
	uint64_t blocks;      /* partition size in blocks */
	uint64_t free_blocks; /* from the LVID */
	uint64_t files, dirs; /* from the LVID */
	unsigned revision;    /* e.g. 0x0201 */
};

struct udf_fs;

/* Mounts the UDF file system on io.  On failure returns a negative errno and a one-line reason. */
int udf_mount(const struct udf_io *io, const struct udf_mount_opts *opts, struct udf_fs **out, char *err,
	      size_t errlen);
void udf_unmount(struct udf_fs *fs);

uint64_t udf_root_ino(const struct udf_fs *fs);

int udf_getattr(struct udf_fs *fs, uint64_t ino, struct stat *st);
int udf_lookup(struct udf_fs *fs, uint64_t dir, const char *name, uint64_t *ino, struct stat *st);

/* Calls fill for each entry of dir from position pos on ("." and ".." included); fill returns
 * non-zero to stop.  next is the position after the entry.  Returns 0 or -errno. */
typedef int (*udf_fill_fn)(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next);
int udf_readdir(struct udf_fs *fs, uint64_t dir, uint64_t pos, udf_fill_fn fill, void *ctx);

/* Reads up to len bytes at off; returns the byte count (0 at end of file) or -errno. */
ssize_t udf_read(struct udf_fs *fs, uint64_t ino, uint64_t off, size_t len, void *buf);

/* The target of a symbolic link, NUL-terminated; -ENAMETOOLONG if it does not fit. */
int udf_readlink(struct udf_fs *fs, uint64_t ino, char *buf, size_t len);

void udf_statfs(struct udf_fs *fs, struct udf_statfs *st);

#endif
