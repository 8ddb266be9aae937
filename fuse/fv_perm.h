/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * POSIX permission checks of the files view, for the caller of req.  A mount for one user checks
 * them here; with allow_other (or -o default_permissions) the kernel does (pf->kernel_permissions),
 * and every check passes.  Each returns 0 or a negative errno for the reply.
 */
#ifndef PKTFUSE_FV_PERM_H
#define PKTFUSE_FV_PERM_H

#include "daemon.h"

#include <stdint.h>
#include <sys/stat.h>

/* 0, or -EACCES when the caller may not read/write/search (R_OK/W_OK/X_OK in mask) st. */
int fv_may(fuse_req_t req, const struct stat *st, int mask);
/* fv_may on the node ino (its attributes in *out when out is not NULL). */
int fv_may_ino(fuse_req_t req, uint64_t ino, int mask, struct stat *out);
/* The sticky bit: only the owner of the entry or of the directory (or root) removes or replaces. */
int fv_may_remove(fuse_req_t req, uint64_t dir, const char *name);
/* chmod, chown, truncate and utimens as the kernel would allow them (POSIX); may clear S_ISGID in
 * attr as chmod(2) does. */
int fv_setattr_allowed(fuse_req_t req, uint64_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi);

#endif
