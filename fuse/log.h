/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's one log, and its outcome report.
 *
 * Before the daemon detaches (and with -f) a message goes to stderr; after, to syslog (the
 * journal).  Errors and warnings are also kept in a ring of the last few, which the statistics
 * show (`pktfuse status`) and the outcome report carries, so that they survive a missing syslog.
 *
 * The outcome report is a small file in the user's runtime directory, named by the daemon's pid:
 * written "running" when the daemon starts, removed when it ends having written everything, and
 * rewritten "failed" with the reasons and the last errors when it does not.  `pktfuse umount`
 * reads it after the daemon's exit; a "running" report left behind means the daemon was killed.
 */
#ifndef PKTFUSE_LOG_H
#define PKTFUSE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/* level: a syslog level; LOG_WARNING and more severe also go into the ring. */
void pktfuse_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* From now on to syslog instead of stderr (stderr is /dev/null once detached). */
void pktfuse_log_to_syslog(void);
/* "logged_errors: N" and one "last_error: TIME TEXT" line per kept error, oldest first. */
size_t pktfuse_log_render(char *buf, size_t len);

#define PKTFUSE_RING_LINES 16

/* Where reports go: $XDG_RUNTIME_DIR/pktfuse, else /tmp/pktfuse-UID (mode 0700, ours, not a
 * symlink); created when missing.  0, or a negative errno. */
int pktfuse_runtime_dir(char *buf, size_t len);
/* Starts this process's report ("running").  0, or a negative errno with the reason in err when it
 * cannot be written (the daemon runs on without one). */
int pktfuse_report_start(const char *source, const char *mountpoint, char *err, size_t errlen);
/* The report's path, or "-" when there is none. */
const char *pktfuse_report_path(void);
/* Whether process pid runs (an exited one its parent has not reaped yet does not). */
bool pktfuse_process_alive(long pid);
/* ok: removes the report.  Otherwise rewrites it "failed" with summary and the ring. */
void pktfuse_report_finish(bool ok, const char *summary);

#endif
