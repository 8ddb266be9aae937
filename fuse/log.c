/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "log.h"
#include "mountinfo.h"

#include <dirent.h>
#include <signal.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RING_TEXT 240

static struct {
	pthread_mutex_t lock;
	bool syslog;
	uint64_t count; /* errors and warnings logged since start */
	struct {
		time_t when;
		char text[RING_TEXT];
	} ring[PKTFUSE_RING_LINES];
	char report[4096];
} lg = {.lock = PTHREAD_MUTEX_INITIALIZER};

void pktfuse_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lg.lock);
	if (lg.syslog)
		syslog(level, "%s", msg);
	else
		fprintf(stderr, "pktfuse: %s\n", msg);
	if (level <= LOG_WARNING) {
		unsigned i = (unsigned)(lg.count++ % PKTFUSE_RING_LINES);
		lg.ring[i].when = time(NULL);
		snprintf(lg.ring[i].text, RING_TEXT, "%.*s", RING_TEXT - 1, msg);
	}
	pthread_mutex_unlock(&lg.lock);
}

void pktfuse_log_to_syslog(void)
{
	openlog("pktfuse", LOG_PID, LOG_DAEMON);
	pthread_mutex_lock(&lg.lock);
	lg.syslog = true;
	pthread_mutex_unlock(&lg.lock);
}

static size_t put(char *buf, size_t len, size_t used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t put(char *buf, size_t len, size_t used, const char *fmt, ...)
{
	va_list ap;

	if (used + 1 >= len)
		return used;
	va_start(ap, fmt);
	int n = vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
	if (n < 0)
		return used;
	return (size_t)n < len - used ? used + (size_t)n : len - 1;
}

/* With lg.lock held. */
static size_t render_ring(char *buf, size_t len, const char *prefix)
{
	size_t used = 0;
	uint64_t first = lg.count > PKTFUSE_RING_LINES ? lg.count - PKTFUSE_RING_LINES : 0;

	for (uint64_t k = first; k < lg.count; k++) {
		unsigned i = (unsigned)(k % PKTFUSE_RING_LINES);
		struct tm tm;
		char when[32];
		gmtime_r(&lg.ring[i].when, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		used = put(buf, len, used, "%s%s %s\n", prefix, when, lg.ring[i].text);
	}
	return used;
}

size_t pktfuse_log_render(char *buf, size_t len)
{
	if (!len)
		return 0;
	buf[0] = '\0';
	pthread_mutex_lock(&lg.lock);
	size_t used = put(buf, len, 0, "logged_errors: %llu\n", (unsigned long long)lg.count);
	used += render_ring(buf + used, len - used, "last_error: ");
	pthread_mutex_unlock(&lg.lock);
	return used;
}

int pktfuse_runtime_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (xdg && xdg[0] == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid())
		n = snprintf(buf, len, "%s/pktfuse", xdg);
	else
		n = snprintf(buf, len, "/tmp/pktfuse-%u", (unsigned)getuid());
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* In /tmp anyone could have made it first: use it only if it is ours and private. */
	if (lstat(buf, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077))
		return -EPERM;
	return 0;
}

/* Whether process pid runs (an exited one its parent has not reaped yet does not). */
bool pktfuse_process_alive(long pid)
{
	char path[64], stat[256];

	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return true; /* no /proc: kill said it exists */
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	const char *state = strrchr(stat, ')'); /* after the command name, which may hold anything */
	return !(state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X'));
}

/* Reports nobody will read: their daemon is gone, its mount too, and they are an hour old (a
 * fresh one may be just what a waiting `pktfuse umount` is about to read). */
static void remove_stale_reports(const char *dir)
{
	DIR *d = opendir(dir);
	time_t now = time(NULL);
	char path[sizeof(lg.report) + 300], line[4200];

	for (struct dirent *e; d && (e = readdir(d));) {
		long pid = strtol(e->d_name, NULL, 10);
		char name[32];
		struct stat st;
		snprintf(name, sizeof(name), "%ld.report", pid);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (pid <= 0 || strcmp(name, e->d_name) != 0 || pktfuse_process_alive(pid) || stat(path, &st) < 0 ||
		    now - st.st_mtime < 3600)
			continue;
		FILE *f = fopen(path, "re");
		bool mounted = false;
		dev_t dev;
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "mountpoint: ", 12)) {
				line[strcspn(line, "\n")] = '\0';
				mounted = mountinfo_find(line + 12, &dev, NULL, 0) != 0;
			}
		if (f)
			fclose(f);
		if (!mounted)
			unlink(path);
	}
	if (d)
		closedir(d);
}

/* Writes text as the report, atomically (a reader sees the old or the new one). */
static bool write_report(const char *text)
{
	char tmp[sizeof(lg.report) + 8];

	snprintf(tmp, sizeof(tmp), "%s.tmp", lg.report);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return false;
	size_t n = strlen(text);
	bool ok = write(fd, text, n) == (ssize_t)n;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, lg.report) < 0) {
		unlink(tmp);
		return false;
	}
	return true;
}

int pktfuse_report_start(const char *source, const char *mountpoint, char *err, size_t errlen)
{
	char dir[sizeof(lg.report) - 32], text[8192];
	int rc = pktfuse_runtime_dir(dir, sizeof(dir));

	if (rc < 0) {
		snprintf(err, errlen, "no outcome report for pktfuse umount: runtime directory %s: %s", dir,
			 strerror(-rc));
		return rc;
	}
	remove_stale_reports(dir);
	snprintf(lg.report, sizeof(lg.report), "%s/%ld.report", dir, (long)getpid());
	snprintf(text, sizeof(text), "pid: %ld\nsource: %s\nmountpoint: %s\noutcome: running\n", (long)getpid(), source,
		 mountpoint);
	if (!write_report(text)) {
		rc = errno ? -errno : -EIO;
		snprintf(err, errlen, "no outcome report for pktfuse umount: %s: %s", lg.report, strerror(-rc));
		lg.report[0] = '\0';
		return rc;
	}
	return 0;
}

const char *pktfuse_report_path(void)
{
	return lg.report[0] ? lg.report : "-";
}

void pktfuse_report_finish(bool ok, const char *summary)
{
	char text[8192];

	if (!lg.report[0])
		return;
	if (ok) {
		unlink(lg.report);
		return;
	}
	size_t used = put(text, sizeof(text), 0, "pid: %ld\noutcome: failed\nerror: %s\n", (long)getpid(), summary);
	pthread_mutex_lock(&lg.lock);
	used += render_ring(text + used, sizeof(text) - used, "last_error: ");
	pthread_mutex_unlock(&lg.lock);
	if (!write_report(text))
		pktfuse_log(LOG_ERR, "cannot write the outcome report %s: %s", lg.report, strerror(errno));
}
