/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The image view: a directory holding `disc`, the virtual block file (size = capacity, read-write,
 * opened with direct I/O so that a loop device over it keeps no second copy in the page cache), and
 * `stats`, the statistics as text.  Callbacks are thin: every byte goes through the packet cache.
 */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { INO_ROOT = FUSE_ROOT_ID, INO_DISC, INO_STATS };

/* Generous: `disc` never changes size or identity while mounted. */
static const double DISC_TIMEOUT = 3600.0;

static _Atomic int64_t disc_mtime_ns;

struct stats_snapshot {
	size_t len;
	char text[];
};

static struct pktfuse *pf_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fill_attr(struct pktfuse *pf, fuse_ino_t ino, struct stat *st)
{
	const struct pkt_geometry *g = pkt_cache_geometry(pf->cache);
	bool writable = g->writable && !pf->opts.read_only;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = pf->uid;
	st->st_gid = pf->gid;
	st->st_atim = st->st_ctim = st->st_mtim = pf->mount_time;
	switch (ino) {
	case INO_ROOT:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		break;
	case INO_DISC: {
		int64_t ns = atomic_load(&disc_mtime_ns);
		st->st_mode = S_IFREG | (writable ? 0644 : 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)pkt_cache_capacity_bytes(pf->cache);
		st->st_blocks = st->st_size / 512;
		/* Tools size their buffers from st_blksize: make them write whole packets. */
		st->st_blksize = (blksize_t)g->packet_sectors * PKT_SECTOR_SIZE;
		if (ns) {
			st->st_mtim.tv_sec = ns / 1000000000;
			st->st_mtim.tv_nsec = ns % 1000000000;
			st->st_ctim = st->st_mtim;
		}
		break;
	}
	case INO_STATS: {
		char buf[PKTFUSE_STATS_MAX];
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)pktfuse_render_stats(pf, buf, sizeof(buf));
		break;
	}
	}
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.generation = 1;
	fill_attr(pf_of(req), ino, &e.attr);
	e.attr_timeout = e.entry_timeout = ino == INO_DISC ? DISC_TIMEOUT : 0.0;
	fuse_reply_entry(req, &e);
}

static void iv_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Streams from optical media want long read runs. */
	if (conn->max_readahead < (1u << 20))
		conn->max_readahead = 1u << 20;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void iv_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (parent != INO_ROOT)
		return pktfuse_reply_err(req, -ENOENT);
	if (strcmp(name, "disc") == 0)
		return reply_entry(req, INO_DISC);
	if (strcmp(name, "stats") == 0)
		return reply_entry(req, INO_STATS);
	pktfuse_reply_err(req, -ENOENT);
}

static void iv_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	(void)fi;

	if (ino < INO_ROOT || ino > INO_STATS)
		return pktfuse_reply_err(req, -ENOENT);
	fill_attr(pf_of(req), ino, &st);
	fuse_reply_attr(req, &st, ino == INO_DISC ? DISC_TIMEOUT : 0.0);
}

static void iv_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	(void)fi;
	if (ino != INO_DISC)
		return pktfuse_reply_err(req, -EPERM);
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		return pktfuse_reply_err(req, -EPERM);
	/* Like a block device: O_TRUNC and truncate() leave its size alone (nothing is lost). */
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		atomic_store(&disc_mtime_ns, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		atomic_store(&disc_mtime_ns, (int64_t)attr->st_mtim.tv_sec * 1000000000 + attr->st_mtim.tv_nsec);
	}
	iv_getattr(req, ino, NULL);
}

static void iv_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);

	if (ino == INO_DISC) {
		if ((fi->flags & O_ACCMODE) != O_RDONLY &&
		    (pf->opts.read_only || !pkt_cache_geometry(pf->cache)->writable))
			return pktfuse_reply_err(req, -EROFS);
		fi->direct_io = 1;
		fi->nonseekable = 0;
		fuse_reply_open(req, fi);
		return;
	}
	if (ino == INO_STATS) {
		if ((fi->flags & O_ACCMODE) != O_RDONLY)
			return pktfuse_reply_err(req, -EACCES);
		struct stats_snapshot *snap = malloc(sizeof(*snap) + PKTFUSE_STATS_MAX);
		if (!snap)
			return pktfuse_reply_err(req, -ENOMEM);
		snap->len = pktfuse_render_stats(pf, snap->text, PKTFUSE_STATS_MAX);
		fi->fh = (uint64_t)(uintptr_t)snap;
		/* The size changes between reads: always ask the daemon. */
		fi->direct_io = 1;
		fuse_reply_open(req, fi);
		return;
	}
	pktfuse_reply_err(req, ino == INO_ROOT ? -EISDIR : -ENOENT);
}

static void iv_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino == INO_STATS)
		free((void *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void iv_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);

	if (ino == INO_STATS) {
		struct stats_snapshot *snap = (void *)(uintptr_t)fi->fh;
		if ((uint64_t)off >= snap->len)
			return (void)fuse_reply_buf(req, NULL, 0);
		size_t n = snap->len - (size_t)off < size ? snap->len - (size_t)off : size;
		fuse_reply_buf(req, snap->text + off, n);
		return;
	}
	uint64_t cap = pkt_cache_capacity_bytes(pf->cache);
	if (off < 0)
		return pktfuse_reply_err(req, -EINVAL);
	if ((uint64_t)off >= cap)
		return (void)fuse_reply_buf(req, NULL, 0);
	if (size > cap - (uint64_t)off)
		size = (size_t)(cap - (uint64_t)off);
	char *buf = pktfuse_read_buffer(size);
	if (!buf)
		return pktfuse_reply_err(req, -ENOMEM);
	int rc = pkt_cache_read(pf->cache, buf, size, (uint64_t)off);
	if (rc)
		return pktfuse_reply_err(req, rc);
	fuse_reply_buf(req, buf, size);
}

static void iv_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct pktfuse *pf = pf_of(req);
	(void)fi;

	if (ino != INO_DISC)
		return pktfuse_reply_err(req, -EBADF);
	uint64_t cap = pkt_cache_capacity_bytes(pf->cache);
	if (off < 0)
		return pktfuse_reply_err(req, -EINVAL);
	/* A block device: past the end there is no space. */
	if ((uint64_t)off >= cap)
		return pktfuse_reply_err(req, size ? -ENOSPC : 0);
	if (size > cap - (uint64_t)off)
		size = (size_t)(cap - (uint64_t)off);
	int rc = pkt_cache_write(pf->cache, buf, size, (uint64_t)off);
	if (rc)
		return pktfuse_reply_err(req, rc);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_store(&disc_mtime_ns, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	fuse_reply_write(req, size);
}

static void iv_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	if (ino != INO_DISC)
		return (void)fuse_reply_err(req, 0);
	int rc = pktfuse_logged(pf_of(req), "the flush", pkt_cache_flush(pf_of(req)->cache));
	if (rc)
		return pktfuse_reply_err(req, rc);
	fuse_reply_err(req, 0);
}

static void iv_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	/* close() is not fsync(): data reaches the medium by age, pressure, fsync or unmount. */
	fuse_reply_err(req, 0);
}

static void iv_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	static const struct {
		const char *name;
		fuse_ino_t ino;
		mode_t mode;
	} ents[] = {{".", INO_ROOT, S_IFDIR},
		    {"..", INO_ROOT, S_IFDIR},
		    {"disc", INO_DISC, S_IFREG},
		    {"stats", INO_STATS, S_IFREG}};
	char buf[512];
	size_t used = 0;
	(void)fi;

	if (ino != INO_ROOT)
		return pktfuse_reply_err(req, -ENOTDIR);
	if (size > sizeof(buf))
		size = sizeof(buf);
	for (off_t i = off; i < (off_t)(sizeof(ents) / sizeof(ents[0])); i++) {
		struct stat st = {.st_ino = ents[i].ino, .st_mode = ents[i].mode};
		size_t n = fuse_add_direntry(req, buf + used, size - used, ents[i].name, &st, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static void iv_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct pktfuse *pf = pf_of(req);
	struct statvfs sv;
	(void)ino;

	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = PKT_SECTOR_SIZE;
	sv.f_blocks = pkt_cache_geometry(pf->cache)->sector_count;
	sv.f_files = 3;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops pktfuse_image_ops = {
	.init = iv_init,
	.destroy = pktfuse_destroy,
	.lookup = iv_lookup,
	.getattr = iv_getattr,
	.setattr = iv_setattr,
	.open = iv_open,
	.release = iv_release,
	.read = iv_read,
	.write = iv_write,
	.fsync = iv_fsync,
	.flush = iv_flush,
	.readdir = iv_readdir,
	.statfs = iv_statfs,
	.getxattr = pktfuse_getxattr,
	.listxattr = pktfuse_listxattr,
};
