/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "daemon.h"
#include "udf.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

void pktfuse_reply_err(fuse_req_t req, int rc)
{
	if (rc == 0)
		return (void)fuse_reply_err(req, 0); /* success of a call that returns no data */
	int e = rc < 0 ? -rc : EIO;

	/* Errors that only make sense inside the core must not leak to applications as surprises. */
	if (e > 4095 || e == EAGAIN)
		e = EIO;
	fuse_reply_err(req, e);
}

int pktfuse_logged(struct pktfuse *pf, const char *what, int rc)
{
	if (rc)
		pktfuse_log(LOG_ERR, "%s: %s for an fsync failed: %s", pf->opts.source, what, strerror(rc < 0 ? -rc : EIO));
	return rc;
}

size_t pktfuse_render_stats(struct pktfuse *pf, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "source: %s\n"
			 "daemon_pid: %ld\n"
			 "view: %s\n"
			 "io_flusher: %d\n"
			 "report_file: %s\n",
			 pf->opts.source, (long)getpid(), pf->opts.image_view ? "image" : "files", pf->io_flusher,
			 pktfuse_report_path());
	if (n < 0 || len == 0)
		return 0;
	size_t used = (size_t)n < len ? (size_t)n : len - 1;
	if (pf->udf && used < len) {
		struct udf_statfs sf;
		char why[256] = "";
		bool rw = udf_writable(pf->udf, why, sizeof(why));
		udf_statfs(pf->udf, &sf);
		n = snprintf(buf + used, len - used,
			     "udf_revision: %x.%02x\n"
			     "udf_writable: %d\n"
			     "udf_readonly_reason: %s\n"
			     "udf_files: %llu\n"
			     "udf_dirs: %llu\n"
			     "udf_free_blocks: %llu\n"
			     "udf_commits: %llu\n"
			     "udf_relocated_packets: %llu\n"
			     "udf_uncommitted: %d\n",
			     sf.revision >> 8, sf.revision & 0xFF, rw, rw ? "-" : why,
			     (unsigned long long)sf.files, (unsigned long long)sf.dirs,
			     (unsigned long long)sf.free_blocks, (unsigned long long)sf.commits, (unsigned long long)sf.relocated,
			     udf_dirty(pf->udf));
		if (n > 0)
			used += (size_t)n < len - used ? (size_t)n : len - used - 1;
	}
	used += pkt_cache_format_stats(pf->cache, buf + used, len - used);
	return used + pktfuse_log_render(buf + used, len - used);
}

/* One read buffer per FUSE thread, kept for the thread's life: no allocation per request. */
static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;
struct rbuf {
	size_t cap;
	char data[];
};

static void rbuf_make_key(void)
{
	pthread_key_create(&rbuf_key, free);
}

char *pktfuse_read_buffer(size_t len)
{
	pthread_once(&rbuf_once, rbuf_make_key);
	struct rbuf *b = pthread_getspecific(rbuf_key);
	if (!b || b->cap < len) {
		size_t cap = len < (1u << 20) ? (1u << 20) : len;
		struct rbuf *nb = realloc(b, sizeof(*nb) + cap);
		if (!nb)
			return NULL;
		nb->cap = cap;
		b = nb;
		pthread_setspecific(rbuf_key, b);
	}
	return b->data;
}

/* Sent by the kernel at unmount (synchronously, where it sends it at all) and by libfuse when the
 * session ends: the data must be on the medium before the unmount is reported done. */
void pktfuse_destroy(void *userdata)
{
	struct pktfuse *pf = userdata;

	if (pf->udf) {
		/* the clean unmount: last commit, integrity descriptor closed */
		pktfuse_files_stop(pf);
		if (udf_close(pf->udf) != 0)
			pktfuse_log(LOG_ERR, "%s: the last commit at unmount failed", pf->opts.source);
	}
	int rc = pkt_cache_flush(pf->cache);
	if (rc)
		pktfuse_log(LOG_ERR, "%s: the flush at unmount failed: %s", pf->opts.source, strerror(-rc));
}

void pktfuse_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (ino != FUSE_ROOT_ID || strcmp(name, PKTFUSE_STATS_XATTR) != 0)
		return pktfuse_reply_err(req, -ENODATA);
	char buf[PKTFUSE_STATS_MAX];
	size_t len = pktfuse_render_stats(fuse_req_userdata(req), buf, sizeof(buf));
	if (size == 0)
		return (void)fuse_reply_xattr(req, len);
	if (size < len)
		return pktfuse_reply_err(req, -ERANGE);
	fuse_reply_buf(req, buf, len);
}

void pktfuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	/* The statistics attribute is not listed, so that copying tools do not carry it along. */
	if (size == 0)
		return (void)fuse_reply_xattr(req, 0);
	fuse_reply_buf(req, NULL, 0);
}

