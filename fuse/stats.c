/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
/* The statistics text and the extended attribute on the root that carries it (`pktfuse status`). */
#include "daemon.h"
#include "fuse_uring.h"
#include "udf.h"
#include "log.h"
#include "wear.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

size_t pktfuse_render_stats(struct pktfuse *pf, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "source: %s\n"
			 "daemon_pid: %ld\n"
			 "view: %s\n"
			 "io_flusher: %d\n"
			 "fuse_loop: %s\n"
			 "report_file: %s\n",
			 pf->opts.source, (long)getpid(), pf->opts.image_view ? "image" : "files", pf->io_flusher,
			 pf->opts.singlethread ? "single" : "multi", pktfuse_report_path());
	if (n < 0 || len == 0)
		return 0;
	size_t used = (size_t)n < len ? (size_t)n : len - 1;
	if (pf->opts.singlethread && used + 32 < len) { /* the loop that counts them (request_count.h) */
		used += (size_t)snprintf(buf + used, len - used, "fuse_requests: ");
		used += pktfuse_render_requests(pf->fuse_requests, buf + used, len - used - 1);
		used += (size_t)snprintf(buf + used, len - used, "\n");
	}
	/* what carries the FUSE requests, and in the files view why not the ring */
	if (used + sizeof(pf->dev_fuse_why) + 64 < len)
		used += (size_t)snprintf(buf + used, len - used, "fuse_transport: %s\nfuse_transport_why: %s\n",
					 pf->uring ? "io_uring" : "/dev/fuse",
					 pf->dev_fuse_why[0] ? pf->dev_fuse_why : "-");
	if (pf->uring && used + 128 < len) { /* the ring in use: what it served (fuse_uring.h) */
		unsigned long moved, lingers;
		pktfuse_uring_moves(pf->uring, &moved, &lingers);
		used += (size_t)snprintf(buf + used, len - used,
					 "fuse_uring: %lu requests, %u queues, %lu from requesters that moved CPU, "
					 "%lu lingers\n",
					 pktfuse_uring_served(pf->uring), pktfuse_uring_queues(pf->uring), moved,
					 lingers);
	}
	if (pf->udf && used < len) {
		struct udf_statfs sf;
		char why[256] = "";
		bool rw = udf_writable(pf->udf, why, sizeof(why));
		if (pf->ro_reason[0])
			snprintf(why, sizeof(why), "%s", pf->ro_reason);
		if (pf->opts.snapshot_set) /* the engine says only "read-only": say which state this is */
			snprintf(why, sizeof(why), "snapshot=%u, the disc as it was %u commit%s before its newest",
				 pf->opts.snapshot, pf->opts.snapshot, pf->opts.snapshot == 1 ? "" : "s");
		udf_statfs(pf->udf, &sf);
		for (char *c = sf.label; *c; c++) /* the disc's bytes: one line whatever they hold */
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		n = snprintf(buf + used, len - used,
			     "udf_label: %s\n"
			     "udf_block_size: %u\n"
			     "udf_blocks: %llu\n"
			     "udf_revision: %x.%02x\n"
			     "udf_writable: %d\n"
			     "udf_readonly_reason: %s\n"
			     "udf_files: %llu\n"
			     "udf_dirs: %llu\n"
			     "udf_free_blocks: %llu\n"
			     "udf_commits: %llu\n"
			     "udf_relocated_packets: %llu\n"
			     "udf_moved_early_packets: %llu\n"
			     "udf_uncommitted: %d\n"
			     "udf_commit_interval_ms: %u\n"
			     "fuse_getxattr_requests: %lu\n"
			     "fuse_lookup_requests: %lu\n"
			     "udf_snapshot: %ld\n",
			     sf.label, sf.block_size, (unsigned long long)sf.blocks, sf.revision >> 8,
			     sf.revision & 0xFF, rw, rw ? "-" : why, (unsigned long long)sf.files,
			     (unsigned long long)sf.dirs, (unsigned long long)sf.free_blocks,
			     (unsigned long long)sf.commits, (unsigned long long)sf.relocated,
			     (unsigned long long)sf.moved_early, udf_dirty(pf->udf), pf->commit_ms,
			     __atomic_load_n(&pf->getxattr_requests, __ATOMIC_RELAXED),
			     __atomic_load_n(&pf->lookup_requests, __ATOMIC_RELAXED),
			     pf->opts.snapshot_set ? (long)pf->opts.snapshot : -1L);
		if (n > 0)
			used += (size_t)n < len - used ? (size_t)n : len - used - 1;
	}
	if (pf->wear && used < len)
		used += pktfuse_wear_render(pf->wear, pf->cache, buf + used, len - used);
	used += pkt_cache_format_stats(pf->cache, buf + used, len - used);
	return used + pktfuse_log_render(buf + used, len - used);
}

void pktfuse_note_spares_gone(struct pktfuse *pf)
{
	if (udf_spares_gone(pf->udf) && !__atomic_exchange_n(&pf->spares_gone_told, true, __ATOMIC_RELAXED))
		pktfuse_log(LOG_WARNING, "%s: read-only from now on: %s (what was committed is on the disc)",
			    pf->opts.source, UDF_SPARES_GONE);
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

void pktfuse_stats_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
			 unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	(void)arg;
	(void)fi;
	(void)in_buf;
	(void)in_bufsz;
	if (ino != FUSE_ROOT_ID || cmd != PKTFUSE_STATS_IOCTL || (flags & FUSE_IOCTL_COMPAT))
		return pktfuse_reply_err(req, -ENOTTY);
	if (out_bufsz < PKTFUSE_STATS_IOCTL_LEN)
		return pktfuse_reply_err(req, -EINVAL);
	char buf[PKTFUSE_STATS_IOCTL_LEN + 1];
	size_t len = pktfuse_render_stats(fuse_req_userdata(req), buf, sizeof(buf));
	fuse_reply_ioctl(req, (int)len, buf, len);
}

void pktfuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	/* The statistics attribute is not listed, so that copying tools do not carry it along. */
	if (size == 0)
		return (void)fuse_reply_xattr(req, 0);
	fuse_reply_buf(req, NULL, 0);
}
