/* SPDX-License-Identifier: GPL-2.0-or-later */
/* State shared by the FUSE callbacks of a running daemon. */
#ifndef PKTFUSE_DAEMON_H
#define PKTFUSE_DAEMON_H

#include "options.h"
#include "pkt_cache.h"
#include "request_count.h"

struct udf_fs;

#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <time.h>

struct pktfuse {
	struct pktfuse_opts opts;
	struct pkt_blockdev *dev;
	struct pkt_cache *cache;
	struct udf_fs *udf; /* files view */
	uid_t uid;
	gid_t gid;
	struct timespec mount_time;
	bool io_flusher;     /* PR_SET_IO_FLUSHER took effect */
	char ro_reason[256]; /* why the medium was opened read-only without -o ro (a finalized disc), or "" */
	/* files view: the thread that commits UDF changes every commit_ms */
	pthread_t committer;
	bool committer_running;
	bool udf_rw;		 /* the files view can be written */
	bool kernel_permissions; /* default_permissions: the kernel checks access */
	/* commit_lock: taken by the committer, the fsync handlers and, inside the engine's lock, by its
	 * commit_due callback (so never held across a call into the engine) */
	pthread_mutex_t commit_lock;
	pthread_cond_t commit_cond;
	bool commit_stop;
	bool commit_due;    /* the engine asked for a commit by size (udf_set_commit_due; under commit_lock) */
	unsigned commit_ms; /* the committer's interval (0: none runs) */
	struct pktfuse_fsync *fsyncs;	 /* files view: fsyncs the committer answers (under commit_lock) */
	unsigned long getxattr_requests; /* files view: how often the kernel asked (atomic) */
	unsigned long lookup_requests;	 /* files view: LOOKUPs (atomic) */
	struct pktfuse_button *button;	 /* eject_button.c; NULL: not watched */
	struct pktfuse_wear *wear;	 /* wear.h: the disc's write counts across mounts; NULL: none kept */
	bool spares_gone_told;		 /* the log said that the mount turned read-only (atomic) */
	/* the single-threaded loop's requests by opcode (request_count.h; atomic), with -o io_uring
	 * those of the ring too */
	unsigned long fuse_requests[PKTFUSE_OPCODES];
	struct pktfuse_uring *uring; /* -o io_uring in use (fuse_uring.h); NULL: /dev/fuse alone */
	/* files view: why /dev/fuse serves alone ("" while the ring serves, and in the block view); set
	 * by run_session_loop before the loop serves, so read without a lock (stats.c) */
	char dev_fuse_why[160];
};

/* stats.c: after a commit: logs once that the mount used the disc's last spare and is read-only now. */
void pktfuse_note_spares_gone(struct pktfuse *pf);

/* Starts / stops the files view's periodic commit (a writable UDF mount only); daemon.c.  Start: 0, or a
 * negative errno with the reason in err. */
int pktfuse_files_start(struct pktfuse *pf, char *err, size_t errlen);
void pktfuse_files_stop(struct pktfuse *pf);
/* Hands a files view fsync (of the whole volume when volume) to the committer, which replies after its
 * commit, so that the FUSE loop serves other requests meanwhile: true when queued, false when the
 * caller must commit itself (no committer runs). */
bool pktfuse_queue_fsync(struct pktfuse *pf, fuse_req_t req, bool volume);

/* The extended attribute on the mount's root that `pktfuse status` reads in the image view. */
#define PKTFUSE_STATS_XATTR "user.pktfuse.stats"
/* The files view answers getxattr with ENOSYS, so that the kernel stops asking it (it asked for
 * security.capability before every write to a file: one round trip per write); its statistics
 * are this ioctl on the mount's root directory, at most PKTFUSE_STATS_IOCTL_LEN bytes (the most an
 * ioctl number can carry). */
#define PKTFUSE_STATS_IOCTL_LEN 16383
#define PKTFUSE_STATS_IOCTL _IOR('P', 0xF5, char[PKTFUSE_STATS_IOCTL_LEN])

/* reply.c: replies to req with a negative errno from the core; anything that is not a valid errno becomes
 * EIO.  The single place where core errors become FUSE errors. */
void pktfuse_reply_err(fuse_req_t req, int rc);

/* Logs a failed fsync (what: "the flush", "the commit") and returns rc: an application may ignore
 * the error it gets, the log keeps it. */
int pktfuse_logged(struct pktfuse *pf, const char *what, int rc);

/* stats.c: renders the statistics text (daemon lines, cache lines, backend lines).  Returns its length. */
size_t pktfuse_render_stats(struct pktfuse *pf, char *buf, size_t len);

#define PKTFUSE_STATS_MAX 16384

/* read_buffer.c: a per-thread buffer of at least len bytes, kept for the thread's life (no allocation per
 * request); NULL when memory is exhausted. */
char *pktfuse_read_buffer(size_t len);

/* Callbacks both views share: the final flush (daemon.c), and the statistics attribute on the root
 * (stats.c). */
void pktfuse_destroy(void *userdata);
void pktfuse_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void pktfuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void pktfuse_stats_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
			 unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz);

extern const struct fuse_lowlevel_ops pktfuse_image_ops;
extern const struct fuse_lowlevel_ops pktfuse_files_ops;

/* pf->udf_rw, which the eject button's thread changes while FUSE requests read it. */
static inline bool pktfuse_files_writable(const struct pktfuse *pf)
{
	return __atomic_load_n(&pf->udf_rw, __ATOMIC_RELAXED);
}

#endif
