/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The files view: the disc's UDF file system, shown directly (no loop device, no root).  Thin
 * callbacks over core/udf; the only translation is FUSE's root inode number.  Writable when the
 * engine says the volume can be written (else mounted read-only with the reason told).
 */
#define _GNU_SOURCE
#include "daemon.h"
#include "fv_perm.h"
#include "udf.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Every change goes through this daemon, so the kernel's caches stay true; a read-only mount
 * cannot change at all.  Attributes are kept for a second on a writable mount: a commit changes
 * what a directory occupies (st_blocks) without the kernel knowing. */
#define FV_TIMEOUT (pktfuse_files_writable(pf) ? 1.0 : 3600.0)
/* Names change only by the kernel's own calls (create, unlink, rename: it updates its dentries
 * itself), so they, and names that do not exist (negative entries), are kept long where the kernel
 * checks permissions (default_permissions).  Where the daemon checks them, its lookup is the only
 * search-permission check of a directory a path passes, so names are kept for a second only. */
#define FV_ENTRY_TIMEOUT (pf->kernel_permissions ? 3600.0 : FV_TIMEOUT)

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
	__atomic_add_fetch(&pf->lookup_requests, 1, __ATOMIC_RELAXED);
	int rc = fv_may_ino(req, to_udf(pf, parent), X_OK, NULL);
	if (rc == 0)
		rc = udf_lookup(pf->udf, to_udf(pf, parent), name, &ino, &e.attr);
	if (rc == -ENOENT) { /* a negative entry: the kernel remembers that the name is missing */
		e.ino = 0;
		e.entry_timeout = FV_ENTRY_TIMEOUT;
		return (void)fuse_reply_entry(req, &e);
	}
	if (rc)
		return pktfuse_reply_err(req, rc);
	fix_attr(pf, &e.attr);
	e.ino = to_fuse(pf, ino);
	e.generation = udf_generation(pf->udf, ino);
	e.attr_timeout = FV_TIMEOUT;
	e.entry_timeout = FV_ENTRY_TIMEOUT;
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

/* What open(2) of an existing node leaves to the daemon: EROFS and EISDIR for writing opens, the
 * permission the flags need, and O_TRUNC — libfuse turns on atomic O_TRUNC, so the kernel passes the
 * flag here instead of truncating first.  Linux truncates on O_RDONLY|O_TRUNC too (asking for write
 * permission), and ignores O_TRUNC on anything but a regular file. */
static int open_existing(fuse_req_t req, uint64_t ino, int flags)
{
	struct pktfuse *pf = pf_of(req);
	struct stat st;
	int acc = flags & O_ACCMODE;

	if ((acc != O_RDONLY || (flags & O_TRUNC)) && !pktfuse_files_writable(pf))
		return -EROFS;
	int rc = udf_getattr(pf->udf, ino, &st);
	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	int mask = (acc != O_WRONLY ? R_OK : 0) | (acc != O_RDONLY || (flags & O_TRUNC) ? W_OK : 0);
	if ((rc = fv_may(req, &st, mask)) != 0)
		return rc;
	if ((flags & O_TRUNC) && S_ISREG(st.st_mode)) {
		struct udf_setattr sa = {.valid = UDF_SET_SIZE, .size = 0};
		rc = udf_setattr(pf->udf, ino, &sa, &st);
	}
	return rc;
}

static void fv_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);

	int rc = open_existing(req, to_udf(pf, ino), fi->flags);
	if (rc)
		return pktfuse_reply_err(req, rc);
	fi->keep_cache = 1;
	udf_open(pf->udf, to_udf(pf, ino));
	if (fuse_reply_open(req, fi) != 0)
		udf_release(pf->udf, to_udf(pf, ino));
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
	sv.f_files = sf.files + sf.dirs + sf.free_entries;
	sv.f_ffree = sv.f_favail = sf.free_entries; /* a metadata partition's room for file entries */
	sv.f_namemax = UDF_NAME_MAX;
	sv.f_flag = pktfuse_files_writable(pf) ? 0 : ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* ---- writing ---- */

static void reply_entry(fuse_req_t req, struct pktfuse *pf, uint64_t ino, struct stat *st)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	fix_attr(pf, st);
	e.attr = *st;
	e.ino = to_fuse(pf, ino);
	e.generation = udf_generation(pf->udf, ino);
	e.attr_timeout = FV_TIMEOUT;
	e.entry_timeout = FV_ENTRY_TIMEOUT;
	fuse_reply_entry(req, &e);
}

static int make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, const char *target,
		     uint64_t *ino, struct stat *st)
{
	struct pktfuse *pf = pf_of(req);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	int rc = fv_may_ino(req, to_udf(pf, parent), W_OK | X_OK, NULL);

	return rc ? rc : udf_create(pf->udf, to_udf(pf, parent), name, mode, c->uid, c->gid, target, ino, st);
}

static void fv_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct pktfuse *pf = pf_of(req);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	uint64_t ino;
	struct stat st;

	int rc = fv_may_ino(req, to_udf(pf, parent), W_OK | X_OK, NULL);
	if (rc == 0)
		rc = udf_mknod(pf->udf, to_udf(pf, parent), name, mode, rdev, c->uid, c->gid, &ino, &st);
	if (rc)
		return pktfuse_reply_err(req, rc);
	reply_entry(req, pf_of(req), ino, &st);
}

static void fv_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fv_mknod(req, parent, name, (mode & 07777) | S_IFDIR, 0);
}

static void fv_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	uint64_t ino;
	struct stat st;

	int rc = make_node(req, parent, name, S_IFLNK | 0777, target, &ino, &st);
	if (rc)
		return pktfuse_reply_err(req, rc);
	reply_entry(req, pf_of(req), ino, &st);
}

/* Opens the existing file name in dir as open(2) with flags would (EEXIST for O_EXCL); -ENOENT
 * when there is none. */
static int open_by_name(fuse_req_t req, uint64_t dir, const char *name, int flags, uint64_t *ino, struct stat *st)
{
	struct pktfuse *pf = pf_of(req);
	int rc = fv_may_ino(req, dir, X_OK, NULL);

	if (rc == 0)
		rc = udf_lookup(pf->udf, dir, name, ino, st);
	if (rc)
		return rc;
	if (flags & O_EXCL)
		return -EEXIST;
	if (!S_ISREG(st->st_mode))
		return S_ISDIR(st->st_mode) ? -EISDIR : -EEXIST;
	rc = open_existing(req, *ino, flags);
	return rc ? rc : udf_getattr(pf->udf, *ino, st);
}

/* The kernel looks a name up before it creates it, so an existing name normally reaches open, and
 * O_EXCL on one is refused before this; should create still meet an existing name (e.g. made since
 * the lookup), it opens it as open(2) would. */
static void fv_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	uint64_t ino;
	struct stat st;
	struct fuse_entry_param e;

	int rc = open_by_name(req, to_udf(pf, parent), name, fi->flags, &ino, &st);
	if (rc == -ENOENT) {
		rc = make_node(req, parent, name, (mode & 07777) | S_IFREG, NULL, &ino, &st);
		if (rc == -EEXIST)
			rc = open_by_name(req, to_udf(pf, parent), name, fi->flags, &ino, &st);
	}
	if (rc)
		return pktfuse_reply_err(req, rc);
	memset(&e, 0, sizeof(e));
	fix_attr(pf, &st);
	e.attr = st;
	e.ino = to_fuse(pf, ino);
	e.generation = udf_generation(pf->udf, ino);
	e.attr_timeout = FV_TIMEOUT;
	e.entry_timeout = FV_ENTRY_TIMEOUT;
	fi->keep_cache = 1;
	udf_open(pf->udf, ino);
	if (fuse_reply_create(req, &e, fi) != 0)
		udf_release(pf->udf, ino);
}

static void fv_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct pktfuse *pf = pf_of(req);
	struct stat st;

	int rc = fv_may_ino(req, to_udf(pf, newparent), W_OK | X_OK, NULL);
	if (rc == 0)
		rc = udf_link(pf->udf, to_udf(pf, ino), to_udf(pf, newparent), newname, &st);
	if (rc)
		return pktfuse_reply_err(req, rc);
	reply_entry(req, pf, to_udf(pf, ino), &st);
}

static void fv_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pktfuse *pf = pf_of(req);

	int rc = fv_may_remove(req, to_udf(pf, parent), name);
	pktfuse_reply_err(req, rc ? rc : udf_unlink(pf->udf, to_udf(pf, parent), name));
}

static void fv_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pktfuse *pf = pf_of(req);

	int rc = fv_may_remove(req, to_udf(pf, parent), name);
	pktfuse_reply_err(req, rc ? rc : udf_rmdir(pf->udf, to_udf(pf, parent), name));
}

static void fv_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct pktfuse *pf = pf_of(req);

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return pktfuse_reply_err(req, -EINVAL); /* RENAME_EXCHANGE, RENAME_WHITEOUT */
	int rc = fv_may_remove(req, to_udf(pf, parent), name);
	if (rc == 0)
		rc = fv_may_remove(req, to_udf(pf, newparent), newname);
	if (rc == 0 && parent != newparent) {
		/* a directory changing parents rewrites its ".." */
		uint64_t ino;
		struct stat st;
		if (udf_lookup(pf->udf, to_udf(pf, parent), name, &ino, &st) == 0 && S_ISDIR(st.st_mode))
			rc = fv_may(req, &st, W_OK);
	}
	if (rc)
		return pktfuse_reply_err(req, rc);
	pktfuse_reply_err(req, udf_rename(pf->udf, to_udf(pf, parent), name, to_udf(pf, newparent), newname,
					  flags & RENAME_NOREPLACE ? UDF_RENAME_NOREPLACE : 0));
}

static void fv_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	struct udf_setattr sa = {0};
	struct stat st;
	struct timespec t;
	(void)fi;

	clock_gettime(CLOCK_REALTIME, &t);
	int rc = fv_setattr_allowed(req, to_udf(pf, ino), attr, to_set, fi);
	if (rc)
		return pktfuse_reply_err(req, rc);
	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.valid |= UDF_SET_MODE;
		sa.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa.valid |= UDF_SET_UID;
		sa.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa.valid |= UDF_SET_GID;
		sa.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0)
			return pktfuse_reply_err(req, -EINVAL);
		sa.valid |= UDF_SET_SIZE;
		sa.size = (uint64_t)attr->st_size;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		sa.valid |= UDF_SET_ATIME;
		sa.atime = to_set & FUSE_SET_ATTR_ATIME_NOW ? t : attr->st_atim;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		sa.valid |= UDF_SET_MTIME;
		sa.mtime = to_set & FUSE_SET_ATTR_MTIME_NOW ? t : attr->st_mtim;
	}
	rc = udf_setattr(pf->udf, to_udf(pf, ino), &sa, &st);
	if (rc)
		return pktfuse_reply_err(req, rc);
	fix_attr(pf, &st);
	fuse_reply_attr(req, &st, FV_TIMEOUT);
}

static void fv_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	(void)fi;

	if (off < 0)
		return pktfuse_reply_err(req, -EINVAL);
	ssize_t n = udf_write(pf->udf, to_udf(pf, ino), (uint64_t)off, size, buf);
	if (n < 0)
		return pktfuse_reply_err(req, (int)n);
	fuse_reply_write(req, (size_t)n);
}

static void fv_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	(void)fi;

	udf_release(pf->udf, to_udf(pf, ino));
	fuse_reply_err(req, 0);
}

static void fv_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	struct stat st;

	int rc = fv_may_ino(req, to_udf(pf, ino), R_OK, &st);
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc)
		return pktfuse_reply_err(req, rc);
	fuse_reply_open(req, fi);
}

static void fv_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct pktfuse *pf = pf_of(req);

	pktfuse_reply_err(req, fv_may_ino(req, to_udf(pf, ino), mask & (R_OK | W_OK | X_OK), NULL));
}

/* fsync of anything commits everything: UDF has one set of metadata for the whole disc.  An fsync
 * of the root directory stands for the whole volume (FUSE passes syncfs on to no daemon but
 * virtiofs): the space bitmap is written too, which commits leave to the unmount.  The committer
 * thread commits and replies, so that this single-threaded loop goes on serving other processes
 * while a slow medium records the commit (a multithreaded loop would too, but costs the copy of
 * many small files a third more: bench/udf_write.sh, issue 13). */
static void fv_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	(void)datasync;
	(void)fi;

	if (pktfuse_queue_fsync(pf, req, ino == FUSE_ROOT_ID))
		return;
	/* Also while the mount is read-only because its disc was taken out: what waits for it is not on
	 * the medium, and the commit says so (a read-only engine's sync is 0). */
	int rc = ino == FUSE_ROOT_ID ? udf_sync_volume(pf->udf) : udf_sync(pf->udf);
	pktfuse_note_spares_gone(pf);
	pktfuse_reply_err(req, pktfuse_logged(pf, "the commit", rc));
}

/* No extended attributes are shown: ENOSYS tells the kernel never to ask again, which saves the
 * GETXATTR of security.capability it sends before the first write to every file (a round trip per
 * file copied).  The statistics are an ioctl on the root here (PKTFUSE_STATS_IOCTL). */
static void fv_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	__atomic_add_fetch(&pf_of(req)->getxattr_requests, 1, __ATOMIC_RELAXED);
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENOSYS);
}

const struct fuse_lowlevel_ops pktfuse_files_ops = {
	.destroy = pktfuse_destroy,
	.lookup = fv_lookup,
	.getattr = fv_getattr,
	.setattr = fv_setattr,
	.opendir = fv_opendir,
	.readdir = fv_readdir,
	.access = fv_access,
	.open = fv_open,
	.create = fv_create,
	.read = fv_read,
	.write = fv_write,
	.release = fv_release,
	.fsync = fv_fsync,
	.fsyncdir = fv_fsync,
	.readlink = fv_readlink,
	.mknod = fv_mknod,
	.mkdir = fv_mkdir,
	.symlink = fv_symlink,
	.link = fv_link,
	.unlink = fv_unlink,
	.rmdir = fv_rmdir,
	.rename = fv_rename,
	.statfs = fv_statfs,
	.getxattr = fv_getxattr,
	.listxattr = pktfuse_listxattr,
	.ioctl = pktfuse_stats_ioctl,
};
