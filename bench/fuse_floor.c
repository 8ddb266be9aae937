/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse_floor: the smallest in-memory FUSE file system that `cp -r` can copy a tree into and `sync
 * FILE` can fsync, served the way pktfuse serves its files view (libfuse 3 lowlevel API, the same
 * single-threaded loop that reads, counts and processes one request at a time, libfuse's default
 * capabilities, the same entry and attribute timeouts and negative entries, GETXATTR refused with
 * ENOSYS), so
 * that what bench/udf_write.sh times for it is what FUSE itself costs for the copy: the floor no
 * FUSE daemon on this machine goes below.  Not installed; not a test.
 *
 * Usage: fuse_floor [OPTIONS] MOUNTPOINT   (stays in the foreground; fusermount3 -u ends it)
 *   --mt[=N]      libfuse's multithreaded loop (at most N workers) instead of the single thread
 *   --clone-fd    with --mt: one /dev/fuse descriptor per worker
 *   --pin=CPU     the daemon (all its threads) runs on CPU only
 *   --writeback   asks the kernel for FUSE_CAP_WRITEBACK_CACHE
 *   --spin=USEC   before each blocking read of /dev/fuse, polls it for up to USEC microseconds
 *   --follow      every 64 requests, moves the loop to the CPU its requester last ran on
 *   --uring       FUSE over io_uring (fuse/fuse_uring.c: a queue per CPU, its thread on that CPU)
 *                 next to the single-threaded loop, which still serves what the kernel sends to
 *                 /dev/fuse; when the kernel refuses it, one line on stderr and /dev/fuse alone
 *   --linger=USEC with --uring, a queue thread's linger after serving a requester that moved to its
 *                 CPU (pktfuse's -o uring_linger; default, as there, 300; 0: never)
 * (--spin and --follow apply to the single-threaded loop.)  At the end that loop prints to stdout
 * one line: "requests N" and each opcode's count (e.g. "LOOKUP=5050"), as pktfuse status prints
 * its fuse_requests (with --uring, those the ring served too); libfuse's multithreaded loop counts
 * nothing.  With --uring a second line: "uring_requests N queues Q" (N: served through the ring; 0
 * and 0 when it was not in use).
 *
 * Files keep their bytes in memory (the copy does the same memcpy work as into a cache); nodes live
 * until the unmount (FORGET is not needed for a copy: libfuse answers it without a handler).
 */
#define _GNU_SOURCE
#include <fuse_lowlevel.h>

#include "fuse_uring.h"
#include "request_count.h"

#include <errno.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* pktfuse's files view on a writable medium (FV_TIMEOUT, FV_ENTRY_TIMEOUT in fuse/files_view.c,
 * where the daemon checks permissions): names, missing names and attributes are kept a second. */
#define FLOOR_ENTRY_TIMEOUT 1.0
#define FLOOR_ATTR_TIMEOUT 1.0
#define FLOOR_NAME_MAX 255

struct floor_entry {
	char *name;
	fuse_ino_t ino;
	size_t next; /* index + 1 of the next entry in the same hash chain; 0 ends it */
};

/* A directory's names: an array in creation order (readdir's offsets are its indexes) and hash
 * chains over it (lookup is O(1), so that a directory of many names costs no more per name). */
struct floor_dir {
	struct floor_entry *ents;
	size_t n, cap;
	size_t *buckets; /* index + 1 of the first entry of each chain; 0: none */
	size_t nbuckets; /* a power of two, >= n */
};

struct floor_node {
	struct stat st;
	char *data; /* regular files: st.st_size bytes */
	size_t cap;
	struct floor_dir dir; /* directories */
};

struct floor_fs {
	/* Held by every request handler: with --mt several workers serve at once (as pktfuse's engine,
	 * one lock for all); in the single-threaded loop it is never contended. */
	pthread_mutex_t lock;
	struct floor_node **nodes; /* node of inode i at i - 1; FUSE_ROOT_ID is the root */
	size_t n, cap;
	uint64_t data_bytes;
	bool writeback;
};

static struct floor_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static size_t name_hash(const char *name)
{
	size_t h = 14695981039346656037u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return h;
}

static struct floor_node *node_of(struct floor_fs *fs, fuse_ino_t ino)
{
	return ino >= 1 && ino <= fs->n ? fs->nodes[ino - 1] : NULL;
}

static struct floor_node *new_node(struct floor_fs *fs, mode_t mode, const struct fuse_ctx *ctx)
{
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 1024;
		struct floor_node **nodes = realloc(fs->nodes, cap * sizeof(*nodes));
		if (!nodes)
			return NULL;
		fs->nodes = nodes;
		fs->cap = cap;
	}
	struct floor_node *nd = calloc(1, sizeof(*nd));
	if (!nd)
		return NULL;
	fs->nodes[fs->n++] = nd;
	nd->st.st_ino = fs->n;
	nd->st.st_mode = mode;
	nd->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	nd->st.st_uid = ctx ? ctx->uid : getuid();
	nd->st.st_gid = ctx ? ctx->gid : getgid();
	nd->st.st_blksize = 4096;
	clock_gettime(CLOCK_REALTIME, &nd->st.st_mtim);
	nd->st.st_atim = nd->st.st_ctim = nd->st.st_mtim;
	return nd;
}

static struct floor_entry *dir_find(struct floor_dir *d, const char *name)
{
	if (!d->nbuckets)
		return NULL;
	for (size_t i = d->buckets[name_hash(name) & (d->nbuckets - 1)]; i; i = d->ents[i - 1].next)
		if (strcmp(d->ents[i - 1].name, name) == 0)
			return &d->ents[i - 1];
	return NULL;
}

static int dir_rehash(struct floor_dir *d, size_t nbuckets)
{
	size_t *b = calloc(nbuckets, sizeof(*b));
	if (!b)
		return -ENOMEM;
	free(d->buckets);
	d->buckets = b;
	d->nbuckets = nbuckets;
	for (size_t i = 0; i < d->n; i++) {
		size_t *head = &b[name_hash(d->ents[i].name) & (nbuckets - 1)];
		d->ents[i].next = *head;
		*head = i + 1;
	}
	return 0;
}

static int dir_add(struct floor_dir *d, const char *name, fuse_ino_t ino)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct floor_entry *ents = realloc(d->ents, cap * sizeof(*ents));
		if (!ents)
			return -ENOMEM;
		d->ents = ents;
		d->cap = cap;
	}
	if (d->n + 1 > d->nbuckets && dir_rehash(d, d->nbuckets ? d->nbuckets * 2 : 16) != 0)
		return -ENOMEM;
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	size_t *head = &d->buckets[name_hash(name) & (d->nbuckets - 1)];
	d->ents[d->n] = (struct floor_entry){.name = copy, .ino = ino, .next = *head};
	*head = ++d->n;
	return 0;
}

static void reply_entry(fuse_req_t req, const struct stat *st)
{
	struct fuse_entry_param e = {.ino = st->st_ino,
				     .attr = *st,
				     .attr_timeout = FLOOR_ATTR_TIMEOUT,
				     .entry_timeout = FLOOR_ENTRY_TIMEOUT};
	fuse_reply_entry(req, &e);
}

static void floor_init(void *userdata, struct fuse_conn_info *conn)
{
	struct floor_fs *fs = userdata;

	if (fs->writeback) {
		if (conn->capable & FUSE_CAP_WRITEBACK_CACHE)
			conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		else
			fprintf(stderr, "fuse_floor: the kernel offers no writeback cache\n");
	}
}

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct floor_fs *fs = fs_of(req);

	pthread_mutex_lock(&fs->lock);
	struct floor_node *dir = node_of(fs, parent);
	int err = !dir ? ENOENT : !S_ISDIR(dir->st.st_mode) ? ENOTDIR : 0;
	struct floor_entry *ent = err ? NULL : dir_find(&dir->dir, name);
	if (!err && !ent) { /* a negative entry, as pktfuse's: the kernel remembers the name is missing */
		pthread_mutex_unlock(&fs->lock);
		struct fuse_entry_param e = {.ino = 0, .entry_timeout = FLOOR_ENTRY_TIMEOUT};
		fuse_reply_entry(req, &e);
		return;
	}
	if (err) {
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_err(req, err);
		return;
	}
	struct stat st = node_of(fs, ent->ino)->st;
	pthread_mutex_unlock(&fs->lock);
	reply_entry(req, &st);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct floor_fs *fs = fs_of(req);
	(void)fi;

	pthread_mutex_lock(&fs->lock);
	struct floor_node *nd = node_of(fs, ino);
	struct stat st = nd ? nd->st : (struct stat){0};
	pthread_mutex_unlock(&fs->lock);
	if (!nd)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, FLOOR_ATTR_TIMEOUT);
}

/* Resizes a regular file's bytes to size (new bytes are zeros). */
static int resize(struct floor_fs *fs, struct floor_node *nd, size_t size)
{
	if (size > nd->cap) {
		size_t cap = nd->cap ? nd->cap : 4096;
		while (cap < size)
			cap *= 2;
		char *data = realloc(nd->data, cap);
		if (!data)
			return ENOSPC;
		nd->data = data;
		nd->cap = cap;
	}
	size_t old = (size_t)nd->st.st_size;
	if (size > old)
		memset(nd->data + old, 0, size - old);
	fs->data_bytes = fs->data_bytes - old + size;
	nd->st.st_size = (off_t)size;
	nd->st.st_blocks = (blkcnt_t)((size + 511) / 512);
	return 0;
}

static void floor_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	struct floor_fs *fs = fs_of(req);
	int err = 0;
	(void)fi;

	pthread_mutex_lock(&fs->lock);
	struct floor_node *nd = node_of(fs, ino);
	if (!nd)
		err = ENOENT;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && !S_ISREG(nd->st.st_mode))
		err = S_ISDIR(nd->st.st_mode) ? EISDIR : EINVAL;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size < 0)
		err = EINVAL;
	else if (to_set & FUSE_SET_ATTR_SIZE)
		err = resize(fs, nd, (size_t)attr->st_size);
	if (!err) {
		if (to_set & FUSE_SET_ATTR_MODE)
			nd->st.st_mode = (nd->st.st_mode & S_IFMT) | (attr->st_mode & 07777);
		if (to_set & FUSE_SET_ATTR_UID)
			nd->st.st_uid = attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			nd->st.st_gid = attr->st_gid;
		if (to_set & FUSE_SET_ATTR_ATIME)
			nd->st.st_atim = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME)
			nd->st.st_mtim = attr->st_mtim;
		if (to_set & (FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			if (to_set & FUSE_SET_ATTR_ATIME_NOW)
				nd->st.st_atim = now;
			if (to_set & FUSE_SET_ATTR_MTIME_NOW)
				nd->st.st_mtim = now;
		}
	}
	struct stat st = nd ? nd->st : (struct stat){0};
	pthread_mutex_unlock(&fs->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, FLOOR_ATTR_TIMEOUT);
}

/* A new node named name in directory parent; 0 or an errno, with *st its attributes. */
static int make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct stat *st)
{
	struct floor_fs *fs = fs_of(req);
	int err = 0;

	if (strlen(name) > FLOOR_NAME_MAX)
		return ENAMETOOLONG;
	pthread_mutex_lock(&fs->lock);
	struct floor_node *dir = node_of(fs, parent), *nd = NULL;
	if (!dir)
		err = ENOENT;
	else if (!S_ISDIR(dir->st.st_mode))
		err = ENOTDIR;
	else if (dir_find(&dir->dir, name))
		err = EEXIST;
	else if (!(nd = new_node(fs, mode, fuse_req_ctx(req))))
		err = ENOMEM;
	else if (dir_add(&dir->dir, name, nd->st.st_ino) != 0)
		err = ENOMEM; /* the node stays unnamed until the unmount frees it */
	if (!err) {
		if (S_ISDIR(mode))
			dir->st.st_nlink++;
		dir->st.st_mtim = dir->st.st_ctim = nd->st.st_mtim;
		*st = nd->st;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

static void floor_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct stat st;
	int err = make_node(req, parent, name, S_IFDIR | (mode & 07777), &st);

	if (err)
		fuse_reply_err(req, err);
	else
		reply_entry(req, &st);
}

/* Only new names: the kernel looks a name up first and opens an existing one with OPEN. */
static void floor_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct stat st;
	int err = make_node(req, parent, name, S_IFREG | (mode & 07777), &st);

	if (err)
		return (void)fuse_reply_err(req, err);
	struct fuse_entry_param e = {
		.ino = st.st_ino, .attr = st, .attr_timeout = FLOOR_ATTR_TIMEOUT, .entry_timeout = FLOOR_ENTRY_TIMEOUT};
	fi->keep_cache = 1; /* as pktfuse's: only this daemon changes files */
	fuse_reply_create(req, &e, fi);
}

static void floor_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct floor_fs *fs = fs_of(req);

	pthread_mutex_lock(&fs->lock);
	struct floor_node *nd = node_of(fs, ino);
	int err = !nd ? ENOENT : S_ISDIR(nd->st.st_mode) ? EISDIR : 0;
	pthread_mutex_unlock(&fs->lock);
	if (err)
		return (void)fuse_reply_err(req, err);
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void floor_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct floor_fs *fs = fs_of(req);
	(void)fi;

	pthread_mutex_lock(&fs->lock);
	struct floor_node *nd = node_of(fs, ino);
	if (!nd || off < 0) {
		pthread_mutex_unlock(&fs->lock);
		return (void)fuse_reply_err(req, nd ? EINVAL : ENOENT);
	}
	size_t have = off < nd->st.st_size ? (size_t)(nd->st.st_size - off) : 0;
	/* the reply is sent under the lock: a concurrent write may move nd->data */
	fuse_reply_buf(req, have ? nd->data + off : NULL, have < size ? have : size);
	pthread_mutex_unlock(&fs->lock);
}

static void floor_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct floor_fs *fs = fs_of(req);
	int err = 0;
	(void)fi;

	pthread_mutex_lock(&fs->lock);
	struct floor_node *nd = node_of(fs, ino);
	if (!nd)
		err = ENOENT;
	else if (off < 0 || (uint64_t)off > SIZE_MAX - size)
		err = EFBIG;
	else if ((size_t)off + size > (size_t)nd->st.st_size)
		err = resize(fs, nd, (size_t)off + size);
	if (!err && size) {
		memcpy(nd->data + off, buf, size);
		clock_gettime(CLOCK_REALTIME, &nd->st.st_mtim);
		nd->st.st_ctim = nd->st.st_mtim;
	}
	pthread_mutex_unlock(&fs->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

static void floor_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* Memory is as durable as this file system gets: nothing to wait for. */
static void floor_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void floor_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct floor_fs *fs = fs_of(req);

	pthread_mutex_lock(&fs->lock);
	struct floor_node *nd = node_of(fs, ino);
	int err = !nd ? ENOENT : !S_ISDIR(nd->st.st_mode) ? ENOTDIR : 0;
	pthread_mutex_unlock(&fs->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

/* Offsets: 1 after ".", 2 after "..", k + 3 after the directory's entry k. */
static void floor_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct floor_fs *fs = fs_of(req);
	(void)fi;

	char *buf = malloc(size);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	pthread_mutex_lock(&fs->lock);
	struct floor_node *nd = node_of(fs, ino);
	if (!nd || !S_ISDIR(nd->st.st_mode)) {
		pthread_mutex_unlock(&fs->lock);
		free(buf);
		return (void)fuse_reply_err(req, nd ? ENOTDIR : ENOENT);
	}
	size_t used = 0;
	for (off_t k = off < 0 ? 0 : off; (size_t)k < nd->dir.n + 2; k++) {
		struct stat st = {.st_ino = ino, .st_mode = S_IFDIR};
		const char *name = k == 0 ? "." : "..";
		if (k >= 2) {
			const struct floor_entry *ent = &nd->dir.ents[k - 2];
			name = ent->name;
			st.st_ino = ent->ino;
			st.st_mode = node_of(fs, ent->ino)->st.st_mode;
		}
		size_t len = fuse_add_direntry(req, buf + used, size - used, name, &st, k + 1);
		if (len > size - used)
			break;
		used += len;
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void floor_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void floor_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct floor_fs *fs = fs_of(req);
	(void)ino;

	pthread_mutex_lock(&fs->lock);
	struct statvfs sv = {.f_bsize = 4096, .f_frsize = 4096, .f_namemax = FLOOR_NAME_MAX};
	sv.f_blocks = (fsblkcnt_t)(1u << 20); /* a nominal 4 GiB, so that df and cp see room */
	fsblkcnt_t used = (fsblkcnt_t)(fs->data_bytes / 4096);
	sv.f_bfree = sv.f_bavail = used < sv.f_blocks ? sv.f_blocks - used : 0;
	sv.f_files = (fsfilcnt_t)(fs->n + 1000000);
	sv.f_ffree = sv.f_favail = 1000000;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_statfs(req, &sv);
}

static void floor_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	(void)ino;
	(void)mask;
	fuse_reply_err(req, 0); /* a benchmark's file system: everyone may */
}

/* As pktfuse's files view: ENOSYS, so that the kernel stops sending the GETXATTR of
 * security.capability before the first write to each file. */
static void floor_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENOSYS);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.init = floor_init,
	.lookup = floor_lookup,
	.getattr = floor_getattr,
	.setattr = floor_setattr,
	.mkdir = floor_mkdir,
	.create = floor_create,
	.open = floor_open,
	.read = floor_read,
	.write = floor_write,
	.release = floor_release,
	.fsync = floor_fsync,
	.fsyncdir = floor_fsync,
	.opendir = floor_opendir,
	.readdir = floor_readdir,
	.releasedir = floor_releasedir,
	.statfs = floor_statfs,
	.access = floor_access,
	.getxattr = floor_getxattr,
};

static void free_fs(struct floor_fs *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		struct floor_node *nd = fs->nodes[i];
		for (size_t k = 0; k < nd->dir.n; k++)
			free(nd->dir.ents[k].name);
		free(nd->dir.ents);
		free(nd->dir.buckets);
		free(nd->data);
		free(nd);
	}
	free(fs->nodes);
	pthread_mutex_destroy(&fs->lock);
}

/* Waits until /dev/fuse has a request, polling it (no sleep) for up to spin_ns first: a daemon that
 * does not sleep between requests is not woken, which saves the wakeup's cost when the next request
 * comes soon; then the read blocks as usual. */
static void spin_for_request(int fd, long spin_ns)
{
	struct timespec t0, t;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (poll(&p, 1, 0) != 0)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < spin_ns);
}

/* The CPU process pid last ran on (field 39 of /proc/PID/stat), or -1. */
static int last_cpu_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	int field = 2, cpu = -1;
	for (; p && *p; p++)
		if (*p == ' ' && ++field == 39) {
			cpu = atoi(p + 1);
			break;
		}
	return cpu;
}

/* Runs the calling thread on the CPU the requester of a request last ran on: a wakeup to the same
 * CPU needs no inter-processor interrupt, which in this VM costs more than the request itself. */
static void follow_requester(pid_t pid, int *on_cpu)
{
	int cpu = pid > 0 ? last_cpu_of(pid) : -1;
	if (cpu < 0 || cpu == *on_cpu)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0)
		*on_cpu = cpu;
}

/* As pktfuse_counting_loop (fuse/request_count.c): fuse_session_loop with a count per opcode. */
static int counting_loop(struct fuse_session *se, unsigned long counts[PKTFUSE_OPCODES], long spin_ns, bool follow)
{
	unsigned long served = 0;
	int on_cpu = -1;
	struct fuse_buf fbuf = {.mem = NULL};
	int res = 0;

	while (!fuse_session_exited(se)) {
		if (spin_ns > 0)
			spin_for_request(fuse_session_fd(se), spin_ns);
		res = fuse_session_receive_buf(se, &fbuf);
		if (res == -EINTR) {
			res = 0;
			continue;
		}
		if (res <= 0)
			break;
		if (!(fbuf.flags & FUSE_BUF_IS_FD) && fbuf.size >= sizeof(struct fuse_in_header)) {
			uint32_t op = ((const struct fuse_in_header *)fbuf.mem)->opcode;
			/* atomically: with --uring the ring's threads count into the same slots */
			__atomic_add_fetch(&counts[op < PKTFUSE_OPCODES ? op : 0], 1, __ATOMIC_RELAXED);
			if (follow && served++ % 64 == 0)
				follow_requester((pid_t)((const struct fuse_in_header *)fbuf.mem)->pid, &on_cpu);
		}
		fuse_session_process_buf(se, &fbuf);
	}
	free(fbuf.mem);
	fuse_session_reset(se);
	return res > 0 ? 0 : res;
}

/* "requests TOTAL NAME=N ...": the total for bench/udf_write.sh, the names as the files view's statistics */
static void print_counts(const unsigned long counts[PKTFUSE_OPCODES])
{
	unsigned long total = 0;
	char line[2048];

	for (int op = 0; op < PKTFUSE_OPCODES; op++)
		total += counts[op];
	pktfuse_render_requests(counts, line, sizeof(line));
	printf("requests %lu %s\n", total, line);
	fflush(stdout);
}

/* "PREFIXNUMBER" with 0 <= NUMBER <= max: true, with *out the number */
static bool number_option(const char *arg, const char *prefix, long max, long *out)
{
	size_t n = strlen(prefix);
	char *end;

	if (strncmp(arg, prefix, n) != 0 || !arg[n])
		return false;
	errno = 0;
	long v = strtol(arg + n, &end, 10);
	if (errno || *end || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

static void usage(void)
{
	fprintf(stderr, "usage: fuse_floor [--mt[=N]] [--clone-fd] [--pin=CPU] [--writeback] [--spin=USEC] [--follow] "
			"[--uring [--linger=USEC]] MOUNTPOINT\n");
}

int main(int argc, char **argv)
{
	struct floor_fs fs = {.lock = PTHREAD_MUTEX_INITIALIZER};
	const char *mountpoint = NULL;
	bool mt = false, clone_fd = false, follow = false, uring = false;
	long max_threads = 0, pin = -1, spin_us = 0, linger_us = PKTFUSE_URING_LINGER_US;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--mt") == 0 || (number_option(a, "--mt=", 100000, &max_threads) && max_threads > 0))
			mt = true;
		else if (strcmp(a, "--clone-fd") == 0)
			clone_fd = true;
		else if (number_option(a, "--pin=", CPU_SETSIZE - 1, &pin))
			;
		else if (strcmp(a, "--follow") == 0)
			follow = true;
		else if (strcmp(a, "--uring") == 0)
			uring = true;
		else if (strcmp(a, "--writeback") == 0)
			fs.writeback = true;
		else if (number_option(a, "--spin=", 1000000, &spin_us))
			;
		else if (number_option(a, "--linger=", 10000, &linger_us))
			;
		else if (a[0] != '-' && !mountpoint)
			mountpoint = a;
		else {
			fprintf(stderr, "fuse_floor: bad argument: %s\n", a);
			usage();
			return 2;
		}
	}
	if (!mountpoint || (uring && mt)) { /* the ring goes with the single-threaded /dev/fuse loop */
		usage();
		return 2;
	}
	if (pin >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(pin, &set);
		/* before the session: libfuse's workers inherit the main thread's mask */
		if (sched_setaffinity(0, sizeof(set), &set) != 0) {
			fprintf(stderr, "fuse_floor: cannot pin to CPU %ld: %s\n", pin, strerror(errno));
			return 1;
		}
	}
	struct floor_node *root = new_node(&fs, S_IFDIR | 0755, NULL);
	if (!root) {
		fprintf(stderr, "fuse_floor: out of memory\n");
		return 1;
	}

	char *fuse_argv[] = {argv[0], "-o", "fsname=fuse_floor,subtype=fuse_floor", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	unsigned long counts[PKTFUSE_OPCODES] = {0};
	int status = 1;
	struct fuse_session *se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), &fs);
	if (!se) {
		fprintf(stderr, "fuse_floor: cannot create the FUSE session\n");
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		fprintf(stderr, "fuse_floor: cannot install signal handlers\n");
		goto out_session;
	}
	if (fuse_session_mount(se, mountpoint) != 0) {
		fprintf(stderr, "fuse_floor: cannot mount on %s\n", mountpoint);
		goto out_signals;
	}
	int rc;
	if (mt) {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		if (max_threads)
			fuse_loop_cfg_set_max_threads(lc, (unsigned)max_threads);
		fuse_loop_cfg_set_clone_fd(lc, clone_fd);
		rc = fuse_session_loop_mt(se, lc); /* no counts: libfuse's loop reads the requests */
		fuse_loop_cfg_destroy(lc);
		fuse_session_unmount(se);
	} else {
		struct pktfuse_uring *ring = NULL;
		if (uring) {
			int err = pktfuse_uring_start(se, counts, PKTFUSE_OPCODES, (unsigned)linger_us, &ring);
			if (err)
				fprintf(stderr, "fuse_floor: FUSE over io_uring not in use (%s): /dev/fuse alone\n",
					strerror(-err));
		}
		rc = counting_loop(se, counts, spin_us * 1000, follow);
		fuse_session_unmount(se);
		/* after the unmount, which ends the ring's commands; before the session goes */
		unsigned long served = pktfuse_uring_served(ring);
		unsigned queues = pktfuse_uring_queues(ring);
		pktfuse_uring_stop(ring);
		print_counts(counts);
		if (uring)
			printf("uring_requests %lu queues %u\n", served, queues);
		fflush(stdout);
	}
	status = rc < 0 ? 1 : 0;
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	free_fs(&fs);
	return status;
}
