/* SPDX-License-Identifier: GPL-2.0-or-later */
/* POSIX permission checks of the files view (a mount for one user; with allow_other the kernel
 * checks them: default_permissions). */
#define _GNU_SOURCE
#include "fv_perm.h"
#include "udf.h"

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

static bool in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	gid_t list[64];

	if (c->gid == gid)
		return true;
	int n = fuse_req_getgroups(req, 64, list);
	for (int i = 0; i < n && i < 64; i++)
		if (list[i] == gid)
			return true;
	return false;
}

/* 0, or -EACCES when the caller may not read/write/search (R_OK/W_OK/X_OK in mask) st. */
int fv_may(fuse_req_t req, const struct stat *st, int mask)
{
	struct pktfuse *pf = fuse_req_userdata(req);
	const struct fuse_ctx *c = fuse_req_ctx(req);

	if (pf->kernel_permissions || mask == 0)
		return 0;
	if (c->uid == 0) /* root: everything, but executing needs some x bit */
		return (mask & X_OK) && !S_ISDIR(st->st_mode) && !(st->st_mode & 0111) ? -EACCES : 0;
	unsigned bits;
	if (c->uid == st->st_uid)
		bits = (st->st_mode >> 6) & 7;
	else if (in_group(req, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return ((unsigned)mask & bits) == (unsigned)mask ? 0 : -EACCES;
}

int fv_may_ino(fuse_req_t req, uint64_t ino, int mask, struct stat *out)
{
	struct pktfuse *pf = fuse_req_userdata(req);
	struct stat st;

	if (pf->kernel_permissions && !out)
		return 0;
	int rc = udf_getattr(pf->udf, ino, &st);
	if (rc)
		return rc;
	if (out)
		*out = st;
	return fv_may(req, &st, mask);
}

/* The sticky bit: only the owner of the entry or of the directory (or root) removes or replaces. */
int fv_may_remove(fuse_req_t req, uint64_t dir, const char *name)
{
	struct pktfuse *pf = fuse_req_userdata(req);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct stat ds, st;
	uint64_t ino;

	if (pf->kernel_permissions)
		return 0;
	int rc = fv_may_ino(req, dir, W_OK | X_OK, &ds);
	if (rc || !(ds.st_mode & S_ISVTX) || c->uid == 0 || c->uid == ds.st_uid)
		return rc;
	if (udf_lookup(pf->udf, dir, name, &ino, &st) != 0)
		return 0; /* the engine reports the missing name */
	return c->uid == st.st_uid ? 0 : -EPERM;
}

/* chmod, chown, truncate and utimens as the kernel would allow them (POSIX). */
int fv_setattr_allowed(fuse_req_t req, uint64_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	struct pktfuse *pf = fuse_req_userdata(req);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct stat st;

	if (pf->kernel_permissions)
		return 0;
	int rc = udf_getattr(pf->udf, ino, &st);
	if (rc || c->uid == 0)
		return rc;
	bool owner = c->uid == st.st_uid;
	if ((to_set & FUSE_SET_ATTR_MODE) && !owner)
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & S_ISGID) &&
	    !in_group(req, (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : st.st_gid))
		attr->st_mode &= ~(mode_t)S_ISGID; /* as chmod(2) does for a group one is not in */
	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != st.st_uid)
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != st.st_gid && (!owner || !in_group(req, attr->st_gid)))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_SIZE) && !fi && (rc = fv_may(req, &st, W_OK)) != 0)
		return rc;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		bool now = (!(to_set & FUSE_SET_ATTR_ATIME) || (to_set & FUSE_SET_ATTR_ATIME_NOW)) &&
			   (!(to_set & FUSE_SET_ATTR_MTIME) || (to_set & FUSE_SET_ATTR_MTIME_NOW));
		if (!owner && (!now || fv_may(req, &st, W_OK) != 0))
			return now ? -EACCES : -EPERM;
	}
	return 0;
}
