/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The files view: the disc's UDF file system, shown directly (no loop device, no root).  Thin
 * callbacks over core/udf; the only translation is FUSE's root inode number.  Read-only for now.
 */
#define _GNU_SOURCE
#include "daemon.h"
#include "udf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The medium cannot change under a read-only mount: let the kernel cache freely. */
static const double FV_TIMEOUT = 3600.0;

static struct pktfuse *pf_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static uint64_t to_udf(struct pktfuse *pf, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? udf_root_ino(pf->udf) : (uint64_t)ino;
}

static fuse_ino_t to_fuse(struct pktfuse *pf, uint64_t ino)
{
	return ino == udf_root_ino(pf->udf) ? FUSE_ROOT_ID : (fuse_ino_t)ino;
}

static void fix_attr(struct pktfuse *pf, struct stat *st)
{
	/* Modes stay as recorded (cp -a keeps them); the mount itself is read-only. */
	st->st_ino = to_fuse(pf, st->st_ino);
}

static void fv_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pktfuse *pf = pf_of(req);
	struct fuse_entry_param e;
	uint64_t ino;

	memset(&e, 0, sizeof(e));
	int rc = udf_lookup(pf->udf, to_udf(pf, parent), name, &ino, &e.attr);
	if (rc)
		return pktfuse_reply_err(req, rc);
	fix_attr(pf, &e.attr);
	e.ino = to_fuse(pf, ino);
	e.generation = 1;
	e.attr_timeout = e.entry_timeout = FV_TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void fv_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	struct stat st;
	(void)fi;

	int rc = udf_getattr(pf->udf, to_udf(pf, ino), &st);
	if (rc)
		return pktfuse_reply_err(req, rc);
	fix_attr(pf, &st);
	fuse_reply_attr(req, &st, FV_TIMEOUT);
}

struct dir_fill {
	fuse_req_t req;
	struct pktfuse *pf;
	char *buf;
	size_t size, used;
};

static int fill_one(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	struct dir_fill *d = ctx;
	struct stat st = {.st_ino = to_fuse(d->pf, ino), .st_mode = type};
	size_t n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, &st, (off_t)next);

	if (n > d->size - d->used)
		return 1;
	d->used += n;
	return 0;
}

static void fv_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	(void)fi;

	if (size > 1u << 20)
		size = 1u << 20;
	struct dir_fill d = {req, pf, malloc(size), size, 0};
	if (!d.buf)
		return pktfuse_reply_err(req, -ENOMEM);
	int rc = udf_readdir(pf->udf, to_udf(pf, ino), off < 0 ? 0 : (uint64_t)off, fill_one, &d);
	if (rc)
		pktfuse_reply_err(req, rc);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void fv_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	struct stat st;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return pktfuse_reply_err(req, -EROFS);
	int rc = udf_getattr(pf->udf, to_udf(pf, ino), &st);
	if (rc)
		return pktfuse_reply_err(req, rc);
	if (S_ISDIR(st.st_mode))
		return pktfuse_reply_err(req, -EISDIR);
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void fv_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	(void)fi;

	if (off < 0)
		return pktfuse_reply_err(req, -EINVAL);
	char *buf = pktfuse_read_buffer(size);
	if (!buf)
		return pktfuse_reply_err(req, -ENOMEM);
	ssize_t n = udf_read(pf->udf, to_udf(pf, ino), (uint64_t)off, size, buf);
	if (n < 0)
		return pktfuse_reply_err(req, (int)n);
	fuse_reply_buf(req, buf, (size_t)n);
}

static void fv_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct pktfuse *pf = pf_of(req);
	char target[4096];

	int rc = udf_readlink(pf->udf, to_udf(pf, ino), target, sizeof(target));
	if (rc)
		return pktfuse_reply_err(req, rc);
	fuse_reply_readlink(req, target);
}

static void fv_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct pktfuse *pf = pf_of(req);
	struct udf_statfs sf;
	struct statvfs sv;
	(void)ino;

	udf_statfs(pf->udf, &sf);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = sf.block_size;
	sv.f_blocks = sf.blocks;
	sv.f_bfree = sv.f_bavail = sf.free_blocks;
	sv.f_files = sf.files + sf.dirs;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops pktfuse_files_ops = {
	.destroy = pktfuse_destroy,
	.lookup = fv_lookup,
	.getattr = fv_getattr,
	.readdir = fv_readdir,
	.open = fv_open,
	.read = fv_read,
	.readlink = fv_readlink,
	.statfs = fv_statfs,
	.getxattr = pktfuse_getxattr,
	.listxattr = pktfuse_listxattr,
};
