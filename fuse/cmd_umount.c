/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse umount MOUNTPOINT`: the unmount that waits for the daemon's last write, and says what it
 * could not write. */
#define _GNU_SOURCE
#include "cmd.h"
#include "daemon.h"
#include "log.h"
#include "paths.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* After the daemon's exit: prints what its outcome report says, removes it, and returns umount's
 * exit status.  No report at all: the daemon wrote everything (it removes its report then). */
static int report_outcome(const char *mnt, long pid, const char *report)
{
	char suffix[32], line[1024];
	bool running = false, failed = false;

	if (!*report || !strcmp(report, "-"))
		return 0; /* the daemon could not keep a report (it said so when it started) */
	/* Only the daemon's own report is read and removed: DIR/PID.report */
	snprintf(suffix, sizeof(suffix), "/%ld.report", pid);
	size_t n = strlen(report), k = strlen(suffix);
	if (report[0] != '/' || n <= k || strcmp(report + n - k, suffix) != 0) {
		fprintf(stderr, "pktfuse: %s: the daemon names no report of its own (%s)\n", mnt, report);
		return 1;
	}
	FILE *f = fopen(report, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "pktfuse: %s: cannot read the daemon's report %s: %s\n", mnt, report, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, "outcome: running"))
			running = true;
		else if (!strcmp(line, "outcome: failed"))
			failed = true;
		else if (!strncmp(line, "error: ", 7))
			fprintf(stderr, "pktfuse: %s: %s\n", mnt, line + 7);
		else if (!strncmp(line, "last_error: ", 12))
			fprintf(stderr, "pktfuse:   %s\n", line + 12);
	}
	fclose(f);
	unlink(report);
	if (running)
		fprintf(stderr,
			"pktfuse: %s: the daemon (pid %ld) ended without finishing (killed?): what it had not "
			"written yet is lost\n",
			mnt, pid);
	return running || failed ? 1 : 0;
}

/* Waits for process pid to exit (pidfd: readable at exit; without one, polls). */
static void wait_exit(int pidfd, long pid)
{
	if (pidfd >= 0) {
		struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
		while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
		close(pidfd);
		return;
	}
	while (pktfuse_process_alive(pid))
		usleep(50000);
}

/* fusermount3 -u MNT; true when it succeeded. */
static bool run_fusermount_u(const char *mnt)
{
	pid_t child = fork();
	if (child == 0) {
		execlp("fusermount3", "fusermount3", "-u", "--", mnt, (char *)NULL);
		fprintf(stderr, "pktfuse: cannot run fusermount3: %s\n", strerror(errno));
		_exit(127);
	}
	int st = 0;
	if (child < 0 || waitpid(child, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "pktfuse: could not unmount %s\n", mnt);
		return false;
	}
	return true;
}

/* The mount of a daemon that died: names the daemon from the report it left ("running") in the
 * runtime directory, removes that report, and unmounts the dead mount.  Always 1: data the daemon
 * had not written is lost. */
static int umount_dead(const char *mnt)
{
	char dir[3800], path[4200], line[4200], want[4200];
	char *abs = absolute_path(mnt);
	long found = 0;

	snprintf(want, sizeof(want), "mountpoint: %s\n", abs ? abs : mnt);
	free(abs);
	DIR *d = pktfuse_runtime_dir(dir, sizeof(dir)) == 0 ? opendir(dir) : NULL;
	for (struct dirent *e; d && !found && (e = readdir(d));) {
		long pid = strtol(e->d_name, NULL, 10);
		char tail[32];
		snprintf(tail, sizeof(tail), "%ld.report", pid);
		if (pid <= 0 || strcmp(e->d_name, tail) != 0 || pktfuse_process_alive(pid))
			continue; /* not a report, or its daemon still lives */
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "re");
		bool ours = false, running = false;
		while (f && fgets(line, sizeof(line), f)) {
			ours = ours || !strcmp(line, want);
			running = running || !strcmp(line, "outcome: running\n");
		}
		if (f)
			fclose(f);
		if (ours && running) {
			found = pid;
			unlink(path);
		}
	}
	if (d)
		closedir(d);
	if (found)
		fprintf(stderr,
			"pktfuse: %s: the daemon (pid %ld) ended without finishing (killed?): what it had not "
			"written yet is lost\n",
			mnt, found);
	else
		fprintf(stderr, "pktfuse: %s: the daemon is gone: what it had not written yet is lost\n", mnt);
	run_fusermount_u(mnt);
	return 1;
}

int pktfuse_unmount(const char *mnt, char *source, size_t len)
{
	char buf[PKTFUSE_STATS_MAX + 1], pidtext[32], report[4096], view[32];

	if (source)
		source[0] = '\0';
	ssize_t n = pktfuse_read_stats(mnt, buf, sizeof(buf));
	/* ENOTCONN, or ECONNABORTED when the kernel aborted the dead daemon's connection */
	if (n == -ENOTCONN || n == -ECONNABORTED)
		return umount_dead(mnt);
	if (n < 0) {
		fprintf(stderr, "pktfuse: %s is not a pktfuse mount (%s)\n", mnt, strerror((int)-n));
		return 1;
	}
	pktfuse_stats_value(buf, "daemon_pid", pidtext, sizeof(pidtext));
	pktfuse_stats_value(buf, "report_file", report, sizeof(report));
	pktfuse_stats_value(buf, "view", view, sizeof(view));
	if (source)
		pktfuse_stats_value(buf, "source", source, len);
	long pid = strtol(pidtext, NULL, 10);
	if (pid <= 0) {
		fprintf(stderr, "pktfuse: %s: no daemon_pid in its statistics\n", mnt);
		return 1;
	}
	pktfuse_flush_with_progress(mnt, view);
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (!run_fusermount_u(mnt)) {
		if (pidfd >= 0)
			close(pidfd);
		return 1;
	}
	/* Wait for the daemon's final flush, then for what it says about it. */
	wait_exit(pidfd, pid);
	return report_outcome(mnt, pid, report);
}

/* `pktfuse umount MOUNTPOINT`: unmounts and returns only when the daemon has written everything
 * and exited, so that the disc can be removed.  (A FUSE unmount itself returns at once.)  Then
 * says what the daemon could not write, from its outcome report, and exits 1 if anything.  On a
 * terminal it shows the writing of the cache first. */
int cmd_umount(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: pktfuse umount MOUNTPOINT\n");
		return 2;
	}
	return pktfuse_unmount(argv[1], NULL, 0);
}
