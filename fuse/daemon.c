/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon: start, daemonize, report to the parent, the committer, destroy.
 *
 * The daemon validates everything it can (options, mountpoint, source) before it forks, and the
 * parent exits only once the child has mounted and started its cache: an error is always a line on
 * the terminal and a non-zero exit, never a silent background failure.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "daemon.h"
#include "disc_lock.h"
#include "eject_button.h"
#include "fuse_uring.h"
#include "log.h"
#include "image_dev.h"
#include "info_print.h"
#include "mountinfo.h"
#include "mmc_dev.h"
#include "paths.h"
#include "source.h"
#include "source_kind.h"
#include "udf.h"
#include "udf_cache_io.h"
#include "wear.h"
#include "wo_image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static bool daemonized;

/* The MMC layer's failed commands (with their decoded sense) go to the daemon's log. */
static void mmc_to_log(const char *line)
{
	pktfuse_log(LOG_ERR, "%s", line);
}

/* Whether /etc/fuse.conf lets users other than root mount with allow_other (and allow_root), as
 * fusermount3 reads it: a line holding user_allow_other alone, "#" starting a comment. */
static bool fuse_conf_allows_other(void)
{
	FILE *f = fopen("/etc/fuse.conf", "re");
	char line[512];
	bool yes = false;

	if (!f)
		return false;
	while (!yes && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "#\n")] = '\0';
		char *p = line + strspn(line, " \t");
		size_t n = strcspn(p, " \t\r");
		yes = n == 16 && !strncmp(p, "user_allow_other", 16) && !p[n + strspn(p + n, " \t\r")];
	}
	fclose(f);
	return yes;
}

/* The checks of the mount point fusermount3 would otherwise answer with an unclear message.  0, or a
 * negative errno with the reason in err. */
static int check_mountpoint(const char *mnt, const struct pktfuse_opts *o, char *err, size_t errlen)
{
	dev_t dev;
	struct stat st, up;
	char parent[PATH_MAX + 4];

	if (stat(mnt, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "mountpoint %s: %s", mnt, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "mountpoint %s is not a directory", mnt);
		return -ENOTDIR;
	}
	snprintf(parent, sizeof(parent), "%s/..", mnt);
	int mounted = mountinfo_find(mnt, &dev, NULL, 0);
	if (mounted < 0) /* no /proc: a mount point is on another device than its parent */
		mounted = stat(mnt, &st) == 0 && stat(parent, &up) == 0 && st.st_dev != up.st_dev;
	if (mounted) {
		snprintf(err, errlen,
			 "%s is already a mount point: unmount it first (pktfuse umount %s) or choose "
			 "another directory",
			 mnt, mnt);
		return -EBUSY;
	}
	if (getuid() != 0 && (o->allow_other || o->allow_root) && !fuse_conf_allows_other()) {
		snprintf(err, errlen,
			 "-o %s needs the line user_allow_other in /etc/fuse.conf when a user other than "
			 "root mounts (ask the administrator to add it)",
			 o->allow_other ? "allow_other" : "allow_root");
		return -EPERM;
	}
	return 0;
}

/* -o close= on a write-once disc in a drive: says before anything is written what closing will cost,
 * in info's words (the drive is asked before the daemon opens it). */
static void tell_close_cost(const struct pktfuse_opts *o)
{
	struct mmc_info info;
	char err[512], *text = NULL;
	size_t len = 0;

	if (o->close == PKTFUSE_CLOSE_NONE || mmc_cmd_info(o->source, &info, err, sizeof(err)) != 0 ||
	    !info.have_medium || !info.probe.write_once || info.probe.finalized || info.probe.disc_status == 0)
		return;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	print_close_cost(f, &info.probe);
	fclose(f);
	if (text) {
		text[strcspn(text, "\n")] = '\0'; /* its first line: what the session's closing costs */
		pktfuse_log(LOG_NOTICE, "%s: -o close=%s at unmount: %s", o->source,
			    o->close == PKTFUSE_CLOSE_FINALIZE ? "finalize" : "session", text);
	}
	free(text);
}

/* Opens the drive, the emulator or the image file the options name.  0 with *out set, or -ENODEV with
 * the reason in err (the backends say why, not with an errno). */
static int open_source(struct pktfuse_opts *o, struct pkt_blockdev **out, char *ro_why, size_t ro_len, char *err,
		       size_t errlen)
{
	/* Quiet: the one-line reason below says it all; a detached daemon has no terminal anyway. */
	enum mmc_problem problem;
	struct mmc_source_options mo = {
		.read_only = o->read_only, .speed = o->speed, .quiet = true, .problem = &problem};
	struct pkt_blockdev *mdev = NULL;
	enum source_kind kind = source_classify(o->source, NULL, err, errlen);
	if (kind == SOURCE_EMULATOR || kind == SOURCE_DRIVE)
		tell_close_cost(o);
	int r = mmc_source_open(o->source, &mo, &mdev, err, errlen);

	*out = NULL;
	if (r < 0 && problem == MMC_PROBLEM_FINALIZED && !o->read_only && !o->image_view &&
	    o->close == PKTFUSE_CLOSE_NONE) {
		/* the files of a closed disc are shown as they are, and the mount says why it is read-only
		 * (the block file, -o image, stays refused: it is asked for to be written) */
		size_t sl = strlen(o->source);
		const char *why = strncmp(err, o->source, sl) == 0 && err[sl] == ':' ? err + sl + 1 : err;
		snprintf(ro_why, ro_len, "%.250s", why + strspn(why, " "));
		o->read_only = true;
		mo.read_only = true;
		r = mmc_source_open(o->source, &mo, &mdev, err, errlen);
	}
	if (r < 0) {
		disc_problem_advise(problem, o->source, err, errlen);
		return -ENODEV;
	}
	if (r == 1 && o->close != PKTFUSE_CLOSE_NONE && !mdev->geo.append_only) {
		snprintf(err, errlen,
			 "%s: -o close= applies to write-once media (CD-R, DVD-R, DVD+R); this disc is rewritable",
			 o->source);
		pkt_blockdev_close(mdev);
		return -ENODEV;
	}
	if (r == 1) {
		/* From now on a failed command is logged with its decoded sense (on the terminal with -f). */
		mmc_dev_set_quiet(mdev, false);
		/* A drive (or the emulator) knows its packet size and enforces its own rules. */
		if (o->packet)
			pktfuse_log(LOG_NOTICE,
				    "note: -o packet applies to image files; %s uses the medium's packet size",
				    o->source);
		*out = mdev;
		return 0;
	}
	struct image_dev_options io = {
		.packet_sectors = o->packet,
		.read_only = o->read_only,
		.strict = o->strict,
		.lock = true,
	};
	/* an image of a write-once disc (UDF with a VAT) grows as commits are appended to it */
	uint32_t unit;
	if (!o->image_view && wo_image_probe(o->source, &io.capacity_sectors, &unit)) {
		io.append_only = true;
		io.packet_sectors = o->packet ? o->packet : unit;
	}
	if (o->close != PKTFUSE_CLOSE_NONE) {
		/* see close_at_unmount: a file records no lead-out, and "closed" would not survive a copy */
		snprintf(err, errlen,
			 "%s: -o close= applies to a drive (or emu:): an image file has no session to close",
			 o->source);
		return -ENODEV;
	}
	*out = image_dev_open(o->source, &io, err, errlen);
	return *out ? 0 : -ENODEV;
}

/* Forks; the parent waits for one status line from the child and exits with it.  In the child 0, or
 * (no child) a negative errno with the reason in err. */
static int daemonize_with_report(int *report_fd, char *err, size_t errlen)
{
	int p[2];

	/* Close-on-exec: fusermount3 (kept running by auto_unmount) must not hold the pipe open. */
	if (pipe2(p, O_CLOEXEC) < 0) {
		int e = errno;
		snprintf(err, errlen, "pipe: %s", strerror(e));
		return -e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		snprintf(err, errlen, "fork: %s", strerror(e));
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid > 0) {
		char msg[600];
		ssize_t n;
		size_t got = 0;
		close(p[1]);
		/* One line; do not wait for end-of-file, in case anything else inherited the pipe. */
		while (got < sizeof(msg) - 1 && (n = read(p[0], msg + got, sizeof(msg) - 1 - got)) > 0) {
			got += (size_t)n;
			if (msg[got - 1] == '\n')
				break;
		}
		msg[got] = '\0';
		if (got && msg[got - 1] == '\n')
			msg[--got] = '\0';
		/* "ok", or "ok: something the user should know" (a read-only mount and why) */
		if (got > 0 && strncmp(msg, "ok", 2) == 0 && (msg[2] == '\0' || msg[2] == ':')) {
			if (msg[2])
				pktfuse_log(LOG_NOTICE, "%s", msg + 3 + (msg[3] == ' '));
			_exit(0);
		}
		/* The child still holds the disc: a start right after this one must not find it locked. */
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (got == 0)
			pktfuse_log(LOG_ERR, "the daemon exited during start-up");
		else
			pktfuse_log(LOG_ERR, "%s", msg);
		_exit(1);
	}
	close(p[0]);
	setsid();
	*report_fd = p[1];
	return 0;
}

static void report_to_parent(int *fd, const char *msg)
{
	if (*fd < 0)
		return;
	char line[600];
	int len = snprintf(line, sizeof(line), "%s\n", msg);
	ssize_t n = write(*fd, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
	(void)n;
	close(*fd);
	*fd = -1;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (chdir("/") < 0) {
		/* nothing else to do: the mountpoint and source were already resolved */
	}
}

/* Logs a final failure, and keeps the first one as the summary of the outcome report. */
static void fail_with(char *summary, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_with(char *summary, size_t len, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pktfuse_log(LOG_ERR, "%s", msg);
	if (!summary[0])
		snprintf(summary, len, "%s", msg);
}

/* The final flush; false (logged, with what stays unwritten) when the medium refused data. */
static bool flush_all(struct pktfuse *pf, char *summary, size_t len)
{
	if (!pkt_cache_geometry(pf->cache)->writable || pkt_cache_flush(pf->cache) == 0)
		return true;
	struct pkt_cache_stats cs;
	pkt_cache_get_stats(pf->cache, &cs);
	uint64_t kib = cs.dirty_packets * pkt_cache_geometry(pf->cache)->packet_sectors * (PKT_SECTOR_SIZE / 1024);
	fail_with(summary, len, "could not write all cached data to %s: %llu packets (%llu KiB) not written",
		  pf->opts.source, (unsigned long long)cs.dirty_packets, (unsigned long long)kib);
	return false;
}

/* -o close=: after the last commit and the final flush, the session (or the disc) is closed.  False
 * (logged) when the drive refused.  An image file never gets here (open_source refused it): it has no
 * lead-in or lead-out to write. */
static bool close_at_unmount(struct pktfuse *pf, char *summary, size_t len)
{
	if (pf->opts.close == PKTFUSE_CLOSE_NONE)
		return true;
	bool fin = pf->opts.close == PKTFUSE_CLOSE_FINALIZE;
	struct pkt_append_state as;
	/* a mount that changed nothing after a closed session leaves an empty one: no drive closes that */
	bool empty =
		pkt_cache_append_state(pf->cache, &as) == 0 && as.sessions > 1 && as.next_writable == as.session_start;
	if (empty && !fin) {
		pktfuse_log(LOG_NOTICE,
			    "%s: -o close=session: nothing to close (nothing was written in the open session)",
			    pf->opts.source);
		return true;
	}
	int rc = pkt_cache_close_session(pf->cache, fin ? PKT_CLOSE_FINALIZE : PKT_CLOSE_SESSION);
	if (rc && empty) {
		fail_with(summary, len,
			  "could not finalize %s: the open session is empty (a CD-R or DVD-R is finalized by closing "
			  "a session with something in it)",
			  pf->opts.source);
		return false;
	}
	if (rc == 0) {
		pktfuse_log(LOG_NOTICE, "%s: %s", pf->opts.source,
			    fin ? "the disc is finalized" : "the session is closed (the next mount appends a new one)");
		return true;
	}
	fail_with(summary, len, "could not %s %s: %s", fin ? "finalize" : "close the session of", pf->opts.source,
		  strerror(-rc));
	return false;
}

/* -h and -V: true when one was asked for (and shown). */
static bool show_help_or_version(const struct pktfuse_opts *o, const char *prog)
{
	if (o->show_help) {
		pktfuse_usage(prog);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return true;
	}
	if (o->show_version) {
		printf("pktfuse version %s\n", PKTFUSE_VERSION);
		fflush(stdout); /* before fusermount3 prints its own line */
		fuse_lowlevel_version();
		return true;
	}
	return false;
}

/* The disc's wear record (rewritable media: write-once media are written once per sector). */
static void open_wear_record(struct pktfuse *pf)
{
	char desc[4096], medium[256];
	uint64_t wo_end;

	if (udf_write_once(pf->udf, &wo_end))
		return;
	pkt_blockdev_describe(pf->dev, desc, sizeof(desc));
	pktfuse_stats_value(desc, "mmc_medium", medium, sizeof(medium));
	pf->wear = pktfuse_wear_open(udf_volume_set_ident(pf->udf), pf->dev->geo.packet_sectors, medium);
	if (!pf->wear)
		return;
	if (pf->opts.wear_rating)
		pf->wear->rated = pf->opts.wear_rating;
	/* the engine moves a worn packet where it has spares; elsewhere the flusher must not keep one back */
	if (udf_can_move_worn(pf->udf))
		pktfuse_wear_arm(pf->wear, pf->cache);
}

/* The files view: the UDF engine mounted over the cache, read-only (the reason told) when the writer
 * cannot keep the disc consistent, else with its committer.  note gets what the user should know
 * ("ok: ..."), if anything.  0, or a negative errno with the line for the log and the parent in err. */
static int mount_files_view(struct pktfuse *pf, struct fuse_args *args, char *note, size_t notelen, char *err,
			    size_t errlen)
{
	char reason[512], why[256];
	/* Rewritable media in packet mode are single-session: the session starts at 0. */
	const struct pkt_geometry *g = pkt_cache_geometry(pf->cache);
	struct udf_io io;
	udf_cache_io_init(&io, pf->cache, g->writable && !pf->opts.read_only);
	struct udf_mount_opts mo = {.uid = pf->uid,
				    .gid = pf->gid,
				    .read_only = pf->opts.read_only,
				    .snapshot = pf->opts.snapshot,
				    .session_given = pf->opts.session_given,
				    .last_block = pf->opts.lastblock};
	if (pf->opts.session_given)
		io.session_start = pf->opts.session;
	int rc = udf_mount(&io, &mo, &pf->udf, reason, sizeof(reason));
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s%s", pf->opts.source, reason,
			 rc == -ERANGE ? " (pktfuse info SOURCE lists its commits)" : "");
		return rc;
	}
	uint64_t wo_end;
	if (pf->opts.snapshot_set && !udf_write_once(pf->udf, &wo_end)) { /* the engine checks N > 0 only */
		snprintf(err, errlen, "%s: -o snapshot= applies to write-once media (a VAT); this disc has one state",
			 pf->opts.source);
		udf_unmount(pf->udf);
		pf->udf = NULL;
		return -EINVAL;
	}
	if (pf->opts.snapshot_set) {
		snprintf(note, notelen,
			 "ok: %s: snapshot=%u: read-only, the disc as it was %u commit%s before its newest",
			 pf->opts.source, pf->opts.snapshot, pf->opts.snapshot, pf->opts.snapshot == 1 ? "" : "s");
		fuse_opt_add_arg(args, "-oro");
		return 0;
	}
	open_wear_record(pf);
	if (pf->opts.close != PKTFUSE_CLOSE_NONE && !udf_writable(pf->udf, why, sizeof(why))) {
		snprintf(err, errlen, "%s: -o close= needs a writable disc: %s", pf->opts.source, why);
		return -EROFS;
	}
	if (*udf_mount_note(pf->udf)) {
		pktfuse_log(LOG_NOTICE, "%s: %s", pf->opts.source, udf_mount_note(pf->udf));
		snprintf(note, notelen, "ok: %s: %s", pf->opts.source, udf_mount_note(pf->udf));
	}
	if (pf->ro_reason[0]) { /* the medium is read-only (a finalized disc): its reason, not the engine's */
		pktfuse_log(LOG_NOTICE, "%s: read-only: %s", pf->opts.source, pf->ro_reason);
		snprintf(note, notelen, "ok: %s: read-only: %.250s", pf->opts.source, pf->ro_reason);
	}
	if (!udf_writable(pf->udf, why, sizeof(why))) {
		/* A disc the writer cannot keep consistent is shown read-only, and the user is told. */
		if (!pf->opts.read_only && g->writable) {
			pktfuse_log(LOG_NOTICE, "%s: %s", pf->opts.source, why);
			snprintf(note, notelen, "ok: %s: %s", pf->opts.source, why);
		}
		fuse_opt_add_arg(args, "-oro");
		return 0;
	}
	return pktfuse_files_start(pf, err, errlen);
}

/* why /dev/fuse serves alone: the fuse module's parameter says so, or the kernel refused the ring */
#define URING_OFF_IN_KERNEL                                                                                \
	"the kernel does not offer FUSE over io_uring (the fuse module's enable_uring is N; root can set " \
	"/sys/module/fuse/parameters/enable_uring to Y)"
#define URING_NOT_OFFERED "the kernel does not offer FUSE over io_uring (enable_uring N, or a kernel before 6.14)"

/* The files view's ring, where it may serve; else why not in pf->dev_fuse_why, and in the log when
 * -o io_uring asked for it or a ring the kernel offered failed. */
static void start_ring_or_say_why(struct fuse_session *se, struct pktfuse *pf)
{
	const struct pktfuse_opts *o = &pf->opts;
	char *why = pf->dev_fuse_why;
	size_t whylen = sizeof(pf->dev_fuse_why);

	if (o->no_io_uring) {
		snprintf(why, whylen, "-o no_io_uring");
		return;
	}
	if (!o->io_uring && !pktfuse_uring_may_be_offered()) {
		snprintf(why, whylen, "%s", URING_OFF_IN_KERNEL);
		return;
	}
	int err = pktfuse_uring_start(se, pf->fuse_requests, PKTFUSE_OPCODES, o->uring_linger_us, &pf->uring);
	if (!err)
		return;
	if (err == -EOPNOTSUPP)
		snprintf(why, whylen, "%s", URING_NOT_OFFERED);
	else
		snprintf(why, whylen, "FUSE over io_uring failed (%s)", strerror(-err));
	if (err != -EOPNOTSUPP || o->io_uring)
		pktfuse_log(LOG_NOTICE, "%s: %s%s: serving /dev/fuse", o->source, o->io_uring ? "-o io_uring: " : "",
			    why);
}

/* The FUSE loop, single- or multithreaded as the options say; its result.  The single-threaded one
 * (the files view's) counts the requests it serves; where the kernel offers FUSE over io_uring
 * (unless -o no_io_uring) the ring's threads serve next to it (fuse_uring.h), and it serves what the
 * kernel still sends to /dev/fuse (FORGET, INTERRUPT), or everything when the kernel refuses the
 * ring.  A kernel that does not offer it is logged only when -o io_uring asked for it (most do not:
 * the fuse module's enable_uring is N by default), and then no ring is even made; a ring that fails
 * on a kernel that offers it always is; why /dev/fuse serves alone is kept for `pktfuse status`
 * (dev_fuse_why) either way.  Several threads serving at once is safe: the
 * engine takes its one lock in each call (udf.h), the counts are atomic, fsync's deferred reply
 * finds its ring entry from the committer's thread. */
static int run_session_loop(struct fuse_session *se, struct pktfuse *pf)
{
	const struct pktfuse_opts *o = &pf->opts;

	if (o->singlethread) {
		if (!o->image_view)
			start_ring_or_say_why(se, pf);
		return pktfuse_counting_loop(se, pf->fuse_requests);
	}
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	/* fuse_parse_cmdline leaves UINT_MAX for "not given" */
	if (o->max_idle_threads && o->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(lc, o->max_idle_threads);
	if (o->max_threads && o->max_threads != UINT_MAX)
		fuse_loop_cfg_set_max_threads(lc, o->max_threads);
	int rc = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return rc;
}

int run_daemon(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct pktfuse pf;
	struct fuse_session *se = NULL;
	int report_fd = -1, status = 1;
	bool eject_pressed = false;	  /* the drive's eject button ended the mount */
	char err[700], summary[700] = ""; /* err: a backend's reason, with the source in front */

	memset(&pf, 0, sizeof(pf));
	mmc_set_log_sink(mmc_to_log);
	if (pktfuse_parse_options(&args, &pf.opts, err, sizeof(err)) != 0) {
		if (err[0])
			pktfuse_log(LOG_ERR, "%s", err);
		goto out_args;
	}
	if (pf.opts.snapshot_set)
		pf.opts.read_only = true; /* an earlier state: the drive is opened read-only too */
	if (show_help_or_version(&pf.opts, argv[0])) {
		status = 0;
		goto out_args;
	}
	/* Permissions in the files view: with allow_other the kernel checks them (default_permissions),
	 * as other users come in; a mount for one user checks them in the daemon, which saves the
	 * kernel a GETATTR of the directory before each name it creates. */
	if (!pf.opts.image_view && pf.opts.default_permissions)
		pf.kernel_permissions = true;
	else if (!pf.opts.image_view && pf.opts.allow_other) {
		fuse_opt_add_arg(&args, "-odefault_permissions");
		pf.kernel_permissions = true;
	}

	char *abs_source = absolute_source(pf.opts.source);
	if (!abs_source) {
		pktfuse_log(LOG_ERR, "%s: %s", pf.opts.source, strerror(errno));
		goto out_args;
	}
	free(pf.opts.source);
	pf.opts.source = abs_source;
	if (pktfuse_add_mount_names(&args, pf.opts.source) != 0) {
		pktfuse_log(LOG_ERR, "out of memory");
		goto out_args;
	}

	static char startup_note[600] = "ok";
	if (check_mountpoint(pf.opts.mountpoint, &pf.opts, err, sizeof(err)) < 0 ||
	    open_source(&pf.opts, &pf.dev, pf.ro_reason, sizeof(pf.ro_reason), err, sizeof(err)) < 0) {
		pktfuse_log(LOG_ERR, "%s", err);
		goto out_args;
	}
	pf.uid = getuid();
	pf.gid = getgid();
	clock_gettime(CLOCK_REALTIME, &pf.mount_time);

	if (!pf.opts.foreground) {
		if (daemonize_with_report(&report_fd, err, sizeof(err)) < 0) {
			pktfuse_log(LOG_ERR, "%s", err);
			goto out_dev;
		}
		daemonized = true;
		pktfuse_log_to_syslog();
	}

	/* The daemon sits in the writeback path of whatever is mounted over `disc`: its own allocations
	 * must not wait for that writeback.  The kernel allows this flag only with CAP_SYS_RESOURCE; an
	 * unprivileged daemon relies on the preallocated cache instead. */
#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif
	pf.io_flusher = prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) == 0;

	struct pkt_cache_config cc = {
		.cache_bytes = pf.opts.cache_bytes,
		.dirty_age_ms = pf.opts.dirty_age_ms,
		.dirty_high_pct = pf.opts.dirty_high,
		.dirty_low_pct = pf.opts.dirty_low,
	};
	if (pkt_cache_create(pf.dev, &cc, &pf.cache, err, sizeof(err)) != 0) {
		pktfuse_log(LOG_ERR, "%s", err);
		report_to_parent(&report_fd, err);
		goto out_dev;
	}
	if (!pf.opts.image_view) {
		if (mount_files_view(&pf, &args, startup_note, sizeof(startup_note), err, sizeof(err)) != 0) {
			pktfuse_log(LOG_ERR, "%s", err);
			report_to_parent(&report_fd, err);
			goto out_cache;
		}
	}
	const struct fuse_lowlevel_ops *ops = pf.opts.image_view ? &pktfuse_image_ops : &pktfuse_files_ops;
	se = fuse_session_new(&args, ops, sizeof(*ops), &pf);
	if (!se) {
		report_to_parent(&report_fd, "cannot create the FUSE session (bad FUSE option?)");
		goto out_cache;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		report_to_parent(&report_fd, "cannot install signal handlers");
		goto out_session;
	}
	if (fuse_session_mount(se, pf.opts.mountpoint) != 0) {
		snprintf(err, sizeof(err), "cannot mount on %s (is /dev/fuse usable and fusermount3 installed?)",
			 pf.opts.mountpoint);
		pktfuse_log(LOG_ERR, "%s", err);
		report_to_parent(&report_fd, err);
		goto out_signals;
	}
	/* Another daemon for this disc is refused while this mount exists; see disc_lock.h. */
	dev_t mount_dev;
	if (mountinfo_find(pf.opts.mountpoint, &mount_dev, NULL, 0) == 1)
		disc_lock_mounted(mount_dev);
	if (pktfuse_report_start(pf.opts.source, pf.opts.mountpoint, err, sizeof(err)) < 0)
		pktfuse_log(LOG_WARNING, "%s", err);
	if (daemonized) {
		report_to_parent(&report_fd, startup_note);
		detach_stdio();
	}

	/* The files view's engine serves every request under one lock (core/udf/udf.h), so more FUSE
	 * threads add only wakeups and switches: a copy of 5,000 small files took ~1.5 times as long
	 * with libfuse's multithreaded loop on 2 CPUs (issue 13). */
	if (!pf.opts.image_view)
		pf.opts.singlethread = true;
	pktfuse_button_start(&pf);
	int loop_rc = run_session_loop(se, &pf);
	eject_pressed = pktfuse_button_stop(&pf);
	fuse_session_unmount(se);
	/* after the unmount, which ends the ring's commands; before the session goes */
	pktfuse_uring_stop(pf.uring);
	pf.uring = NULL;
	/* A new daemon for this disc may start now; it waits until this one has written its cache. */
	disc_lock_unmounted();
	/* After SIGINT, SIGTERM or SIGHUP the loop returns the signal's number: a clean end too. */
	status = loop_rc < 0 ? 1 : 0;
	if (loop_rc < 0)
		snprintf(summary, sizeof(summary), "the FUSE session failed: %s", strerror(-loop_rc));
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_cache:
	if (pf.udf) {
		pktfuse_files_stop(&pf);
		/* normally done by the destroy callback; here also for start-up failures */
		if (udf_close(pf.udf) != 0) {
			fail_with(summary, sizeof(summary),
				  "could not record the file system on %s: the medium reported errors", pf.opts.source);
			status = 1;
		}
	}
	udf_unmount(pf.udf);
	/* Unmount, SIGTERM, SIGINT and SIGHUP all end here: everything dirty goes to the medium first. */
	if (pf.cache && !flush_all(&pf, summary, sizeof(summary)))
		status = 1;
	else if (pf.cache && status == 0 && !close_at_unmount(&pf, summary, sizeof(summary)))
		status = 1;
	if (pf.wear) /* after the last flush: every packet this mount wrote is counted */
		pktfuse_wear_save(pf.wear, pf.cache);
	free(pf.wear);
	pkt_cache_destroy(pf.cache);
out_dev:
	pkt_blockdev_close(pf.dev);
	if (eject_pressed)
		pktfuse_button_eject(pf.opts.source, status == 0);
	pktfuse_report_finish(status == 0, summary);
	report_to_parent(&report_fd, "start-up failed (see syslog)");
out_args:
	pktfuse_free_options(&pf.opts);
	fuse_opt_free_args(&args);
	return status;
}

/* ---- the periodic commit ---- */

/* Media that wear out as their packets are rewritten (about 1,000 overwrites on CD-RW and DVD±RW),
 * where every commit rewrites the changed directories' packets; DVD-RAM and BD-RE last far longer. */
static bool medium_wears(uint16_t profile)
{
	return profile == MMC_PROFILE_CDRW || profile == MMC_PROFILE_DVDRW_RO || profile == MMC_PROFILE_DVDRW_SEQ ||
	       profile == MMC_PROFILE_DVDPRW;
}

#define WEARING_COMMIT_MS 30000u

/* How often the files view commits: -o commit, else at least every 30 s on a medium that wears and on
 * write-once media (each commit costs space never given back: a VAT and its write unit's padding),
 * else every dirty_age as the cache writes data (a commit makes the data written so far reachable). */
static unsigned commit_interval_ms(const struct pktfuse *pf)
{
	unsigned age = pf->opts.dirty_age_ms ? pf->opts.dirty_age_ms : 5000;

	if (pf->opts.commit_ms)
		return pf->opts.commit_ms;
	if (medium_wears(mmc_dev_profile(pf->dev)) || pf->dev->geo.append_only)
		return age > WEARING_COMMIT_MS ? age : WEARING_COMMIT_MS;
	return age;
}

struct pktfuse_fsync {
	fuse_req_t req;
	bool volume;
	struct pktfuse_fsync *next;
};

bool pktfuse_queue_fsync(struct pktfuse *pf, fuse_req_t req, bool volume)
{
	struct pktfuse_fsync *f = malloc(sizeof(*f));

	if (!f)
		return false;
	*f = (struct pktfuse_fsync){req, volume, NULL};
	pthread_mutex_lock(&pf->commit_lock);
	bool queued = pf->committer_running && !pf->commit_stop;
	if (queued) {
		f->next = pf->fsyncs;
		pf->fsyncs = f;
		pthread_cond_signal(&pf->commit_cond);
	}
	pthread_mutex_unlock(&pf->commit_lock);
	if (!queued)
		free(f);
	return queued;
}

/* One commit answers every fsync queued before it started (each one's data was written before). */
static void answer_fsyncs(struct pktfuse *pf, struct pktfuse_fsync *batch)
{
	bool volume = false;

	for (struct pktfuse_fsync *f = batch; f; f = f->next)
		volume |= f->volume;
	/* Also while the mount is read-only because its disc was taken out: what waits for it is not on
	 * the medium, and the commit says so (a read-only engine's sync is 0). */
	int rc = volume ? udf_sync_volume(pf->udf) : udf_sync(pf->udf);
	pktfuse_note_spares_gone(pf);
	rc = pktfuse_logged(pf, "the commit", rc);
	for (struct pktfuse_fsync *f = batch, *nx; f; f = nx) {
		nx = f->next;
		pktfuse_reply_err(f->req, rc);
		free(f);
	}
}

/* Under commit_lock: waits until ms have passed or a commit is due by size (udf_set_commit_due);
 * false when woken for anything else (stop, an fsync, a spurious wakeup): the caller looks again. */
static bool commit_wait(struct pktfuse *pf, unsigned ms)
{
	if (pf->commit_due)
		return true;
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	int w = pthread_cond_timedwait(&pf->commit_cond, &pf->commit_lock, &t);
	return !pf->commit_stop && !pf->fsyncs && (w == ETIMEDOUT || pf->commit_due);
}

/* Commits every commit_ms and when a commit is due by size, and answers queued fsyncs (also those
 * queued before a stop). */
static void *committer(void *arg)
{
	struct pktfuse *pf = arg;
	unsigned ms = pf->commit_ms;
	bool failing = false;

	pthread_mutex_lock(&pf->commit_lock);
	while (!pf->commit_stop || pf->fsyncs) {
		if (pf->fsyncs) {
			struct pktfuse_fsync *batch = pf->fsyncs;
			pf->fsyncs = NULL;
			pthread_mutex_unlock(&pf->commit_lock);
			answer_fsyncs(pf, batch);
			pthread_mutex_lock(&pf->commit_lock);
			continue;
		}
		if (!commit_wait(pf, ms))
			continue;
		pf->commit_due = false;
		pthread_mutex_unlock(&pf->commit_lock);
		/* A failed commit leaves everything dirty: it is tried again, and fsync reports it. */
		if (udf_dirty(pf->udf)) {
			int rc = udf_sync(pf->udf);
			if (rc && !failing) /* once per run of failures: it is retried every interval */
				pktfuse_log(LOG_ERR,
					    "%s: committing the changes failed: %s (retried; fsync reports it)",
					    pf->opts.source, strerror(rc < 0 ? -rc : EIO));
			failing = rc != 0;
			pktfuse_note_spares_gone(pf);
		}
		pthread_mutex_lock(&pf->commit_lock);
	}
	pthread_mutex_unlock(&pf->commit_lock);
	return NULL;
}

/* The engine's udf_set_commit_due callback: inside its lock, so only this. */
static void commit_due(void *arg)
{
	struct pktfuse *pf = arg;

	pthread_mutex_lock(&pf->commit_lock);
	pf->commit_due = true;
	pthread_cond_signal(&pf->commit_cond);
	pthread_mutex_unlock(&pf->commit_lock);
}

/* Files and directories changed that make a commit due before its interval: a commit records every
 * entry it writes until its writes are done (a block each), and the fsync after a copy writes what
 * is uncommitted.  512 of them (about 1-2 MiB recorded) where commits cost nothing but the writes;
 * 4096 on media that wear out, whose packets each commit rewrites some of (and a real CD-RW's
 * flush takes seconds); never on write-once media, where each commit costs space. */
static uint32_t commit_due_nodes(const struct pktfuse *pf)
{
	if (pf->dev->geo.append_only)
		return 0;
	return medium_wears(mmc_dev_profile(pf->dev)) ? 4096 : 512;
}

int pktfuse_files_start(struct pktfuse *pf, char *err, size_t errlen)
{
	pf->udf_rw = true;
	pf->commit_ms = commit_interval_ms(pf);
	pthread_mutex_init(&pf->commit_lock, NULL);
	pthread_cond_init(&pf->commit_cond, NULL);
	pf->commit_stop = false;
	pf->commit_due = false;
	pf->fsyncs = NULL;
	int rc = pthread_create(&pf->committer, NULL, committer, pf);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the commit thread");
		return -rc;
	}
	pf->committer_running = true;
	udf_set_commit_due(pf->udf, commit_due_nodes(pf), commit_due, pf);
	return 0;
}

void pktfuse_files_stop(struct pktfuse *pf)
{
	if (!pf->committer_running)
		return;
	udf_set_commit_due(pf->udf, 0, NULL, NULL);
	pthread_mutex_lock(&pf->commit_lock);
	pf->commit_stop = true;
	pthread_cond_signal(&pf->commit_cond);
	pthread_mutex_unlock(&pf->commit_lock);
	pthread_join(pf->committer, NULL);
	pf->committer_running = false;
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
