/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The public read operations of udf.h.  Each holds fs->lock for its whole run, reads of the packet
 * cache included.
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_desc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "udf_int.h"

uint64_t udf_root_ino(const struct udf_fs *fs)
{
	return fs->root_ino;
}

int udf_getattr(struct udf_fs *fs, uint64_t ino, struct stat *st)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	int rc = udf_get_node(fs, ino, &n);
	if (rc == 0)
		*st = n->st;
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_lookup(struct udf_fs *fs, uint64_t dir, const char *name, uint64_t *ino, struct stat *st)
{
	struct node *d, *n;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = udf_get_dir(fs, dir, &d);
	if (rc == 0) {
		if (strcmp(name, ".") == 0) {
			n = d;
		} else if (strcmp(name, "..") == 0) {
			rc = udf_get_node(fs, d->parent, &n);
		} else {
			struct dirent_ *e = udf_dir_find(d, name);
			rc = e ? udf_get_node(fs, e->ino, &n) : udf_missing_name(name);
		}
		if (rc == 0) {
			*ino = n->ino;
			*st = n->st;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_readdir(struct udf_fs *fs, uint64_t dir, uint64_t pos, udf_fill_fn fill, void *ctx)
{
	struct node *d;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = udf_get_dir(fs, dir, &d);
	if (rc) {
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	/* Positions: 0 ".", 1 "..", then 2 + the entry's cookie, stable while entries come and go. */
	uint32_t first = 0;
	if (pos > 2) {
		uint32_t lo = 0, hi = d->nents;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (d->ents[mid].cookie + 2 < pos)
				lo = mid + 1;
			else
				hi = mid;
		}
		first = lo;
	}
	for (uint64_t i = pos; i < 2; i++)
		if (fill(ctx, i ? ".." : ".", i ? d->parent : d->ino, S_IFDIR, i + 1))
			goto out;
	for (uint32_t k = first; k < d->nents; k++) {
		struct dirent_ *e = &d->ents[k];
		if (!e->name)
			continue;
		if (fill(ctx, e->name, e->ino, e->ftype == 4 ? S_IFDIR : 0, e->cookie + 3))
			break;
	}
out:
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

ssize_t udf_read(struct udf_fs *fs, uint64_t ino, uint64_t off, size_t len, void *buf)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	ssize_t rc = udf_get_node(fs, ino, &n);
	if (rc == 0) {
		if (S_ISDIR(n->st.st_mode))
			rc = -EISDIR;
		else
			rc = udf_node_read(fs, n, off, len, buf);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_readlink(struct udf_fs *fs, uint64_t ino, char *buf, size_t len)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	int rc = udf_get_node(fs, ino, &n);
	if (rc == 0)
		rc = S_ISLNK(n->st.st_mode) ? udf_link_target(fs, n, buf, len) : -EINVAL;
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void udf_statfs(struct udf_fs *fs, struct udf_statfs *st)
{
	pthread_mutex_lock(&fs->lock);
	*st = fs->sf;
	pthread_mutex_unlock(&fs->lock);
}
