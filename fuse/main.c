/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse: the daemon and its subcommands.
 *
 * The daemon validates everything it can (options, mountpoint, source) before it forks, and the
 * parent exits only once the child has mounted and started its cache: an error is always a line on
 * the terminal and a non-zero exit, never a silent background failure.
 */
#define _GNU_SOURCE
#include "daemon.h"
#include "disc_lock.h"
#include "log.h"
#include "image_dev.h"
#include "mountinfo.h"
#include "mmc_dev.h"
#include "source.h"
#include "udf.h"
#include "udf_desc.h"
#include "udf_format.h"
#include "mmc_cmds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

static bool daemonized;

/* The MMC layer's failed commands (with their decoded sense) go to the daemon's log. */
static void mmc_to_log(const char *line)
{
	pktfuse_log(LOG_ERR, "%s", line);
}

/* path made absolute (not resolved: an emulated disc may not exist yet).  Malloc'ed; NULL when out of
 * memory or the working directory is gone. */
static char *absolute_path(const char *path)
{
	char *out = NULL;

	if (path[0] == '/')
		return strdup(path);
	char *cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&out, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) < 0)
		out = NULL;
	free(cwd);
	return out;
}

static int cmd_status(int argc, char **argv)
{
	char buf[PKTFUSE_STATS_MAX + 1];

	if (argc != 2) {
		fprintf(stderr, "usage: pktfuse status MOUNTPOINT\n");
		return 2;
	}
	ssize_t n = getxattr(argv[1], PKTFUSE_STATS_XATTR, buf, sizeof(buf) - 1);
	if (n < 0) {
		int e = errno;
		if (e == ENODATA || e == ENOTSUP)
			fprintf(stderr, "pktfuse: %s is not a pktfuse mount\n", argv[1]);
		else if (e == ENOTCONN)
			fprintf(stderr, "pktfuse: %s: the daemon is gone (unmount it with fusermount3 -u)\n", argv[1]);
		else
			fprintf(stderr, "pktfuse: %s: %s\n", argv[1], strerror(e));
		return 1;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	return 0;
}

/* The value of the "name: value" line of a statistics text, or "" when it has none. */
static void stats_value(const char *text, const char *name, char *out, size_t len)
{
	size_t n = strlen(name);

	out[0] = '\0';
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, name, n) == 0 && l[n] == ':' && l[n + 1] == ' ') {
			size_t v = strcspn(l + n + 2, "\n");
			snprintf(out, len, "%.*s", (int)(v < len ? v : len - 1), l + n + 2);
			return;
		}
	}
}

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
		fprintf(stderr, "pktfuse: %s: the daemon (pid %ld) ended without finishing (killed?): what it had not "
				"written yet is lost\n", mnt, pid);
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
		fprintf(stderr, "pktfuse: %s: the daemon (pid %ld) ended without finishing (killed?): what it had not "
				"written yet is lost\n", mnt, found);
	else
		fprintf(stderr, "pktfuse: %s: the daemon is gone: what it had not written yet is lost\n", mnt);
	run_fusermount_u(mnt);
	return 1;
}

/* `pktfuse umount MOUNTPOINT`: unmounts and returns only when the daemon has written everything
 * and exited, so that the disc can be removed.  (A FUSE unmount itself returns at once.)  Then
 * says what the daemon could not write, from its outcome report, and exits 1 if anything. */
static int cmd_umount(int argc, char **argv)
{
	char buf[PKTFUSE_STATS_MAX + 1], pidtext[32], report[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: pktfuse umount MOUNTPOINT\n");
		return 2;
	}
	ssize_t n = getxattr(argv[1], PKTFUSE_STATS_XATTR, buf, sizeof(buf) - 1);
	if (n < 0 && errno == ENOTCONN)
		return umount_dead(argv[1]);
	if (n < 0) {
		fprintf(stderr, "pktfuse: %s is not a pktfuse mount (%s)\n", argv[1], strerror(errno));
		return 1;
	}
	buf[n] = '\0';
	stats_value(buf, "daemon_pid", pidtext, sizeof(pidtext));
	stats_value(buf, "report_file", report, sizeof(report));
	long pid = strtol(pidtext, NULL, 10);
	if (pid <= 0) {
		fprintf(stderr, "pktfuse: %s: no daemon_pid in its statistics\n", argv[1]);
		return 1;
	}
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (!run_fusermount_u(argv[1])) {
		if (pidfd >= 0)
			close(pidfd);
		return 1;
	}
	/* Wait for the daemon's final flush, then for what it says about it. */
	wait_exit(pidfd, pid);
	return report_outcome(argv[1], pid, report);
}

static int cmd_info(int argc, char **argv)
{
	char err[512];

	if (argc != 2) {
		fprintf(stderr, "usage: pktfuse info SOURCE\n");
		return 2;
	}
	struct stat st;
	if (strncmp(argv[1], "emu:", 4) == 0 || (stat(argv[1], &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
		if (mmc_cmd_info(argv[1], stdout, err, sizeof(err)) != 0) {
			fprintf(stderr, "pktfuse: %s\n", err);
			return 1;
		}
		return 0;
	}
	struct image_dev_options io = {.read_only = true};
	struct pkt_blockdev *dev = image_dev_open(argv[1], &io, err, sizeof(err));
	if (!dev) {
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	printf("source: %s\n"
	       "type: image file\n"
	       "capacity_bytes: %llu\n"
	       "sectors: %llu\n"
	       "sector_size: %u\n"
	       "packet_sectors: %u (image files take -o packet=N when mounted)\n",
	       argv[1], (unsigned long long)(dev->geo.sector_count * PKT_SECTOR_SIZE),
	       (unsigned long long)dev->geo.sector_count, dev->geo.sector_size, dev->geo.packet_sectors);
	pkt_blockdev_close(dev);
	return 0;
}

/* True when one of the -o option lists in args holds name. */
static bool has_fuse_option(const struct fuse_args *args, const char *name)
{
	for (int i = 0; i < args->argc; i++) {
		const char *a = args->argv[i];
		if (strncmp(a, "-o", 2) != 0)
			continue;
		a = a[2] ? a + 2 : (i + 1 < args->argc ? args->argv[++i] : "");
		size_t n = strlen(name);
		for (const char *p = a; *p;) {
			const char *e = strchr(p, ',');
			size_t l = e ? (size_t)(e - p) : strlen(p);
			if (l == n && strncmp(p, name, n) == 0)
				return true;
			p += l + (e ? 1 : 0);
		}
	}
	return false;
}

/* SOURCE with every path in it absolute: the daemon works in "/" once detached, and the emulator
 * reopens its state file by name.  An image or device path, or emu:PROFILE:IMAGE[,log=FILE,...].
 * Malloc'ed; NULL when out of memory. */
static char *absolute_source(const char *source)
{
	if (strncmp(source, "emu:", 4) != 0)
		return absolute_path(source);
	const char *image = strchr(source + 4, ':');
	if (!image)
		return strdup(source); /* malformed: the emulator says why */
	image++;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	if (!f)
		return NULL;
	fprintf(f, "%.*s", (int)(image - source), source);
	bool ok = true;
	for (const char *p = image, *end; ok && p; p = *end ? end + 1 : NULL) {
		end = p + strcspn(p, ",");
		char *part = strndup(p, (size_t)(end - p));
		bool is_path = p == image || !strncmp(part, "log=", 4);
		const char *name = p == image ? part : part + 4;
		char *abs = is_path && *name ? absolute_path(name) : NULL;
		if (!part || (is_path && *name && !abs))
			ok = false;
		else if (abs)
			fprintf(f, "%s%s%s", p == image ? "" : ",", p == image ? "" : "log=", abs);
		else
			fprintf(f, "%s%s", p == image ? "" : ",", part);
		free(abs);
		free(part);
	}
	if (fclose(f) != 0 || !ok) {
		free(out);
		return NULL;
	}
	return out;
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

/* The checks of the mount point fusermount3 would otherwise answer with an unclear message. */
static bool mountpoint_usable(const char *mnt, const struct fuse_args *args)
{
	dev_t dev;
	struct stat st, up;
	char parent[PATH_MAX + 4];

	snprintf(parent, sizeof(parent), "%s/..", mnt);
	int mounted = mountinfo_find(mnt, &dev, NULL, 0);
	if (mounted < 0) /* no /proc: a mount point is on another device than its parent */
		mounted = stat(mnt, &st) == 0 && stat(parent, &up) == 0 && st.st_dev != up.st_dev;
	if (mounted) {
		pktfuse_log(LOG_ERR, "%s is already a mount point: unmount it first (pktfuse umount %s) or choose "
				     "another directory", mnt, mnt);
		return false;
	}
	if (getuid() != 0 && (has_fuse_option(args, "allow_other") || has_fuse_option(args, "allow_root")) &&
	    !fuse_conf_allows_other()) {
		pktfuse_log(LOG_ERR, "-o %s needs the line user_allow_other in /etc/fuse.conf when a user other than "
				     "root mounts (ask the administrator to add it)",
			    has_fuse_option(args, "allow_other") ? "allow_other" : "allow_root");
		return false;
	}
	return true;
}

/* The UDF engine reads and writes through the packet cache. */
static int udf_read_through_cache(void *ctx, uint64_t off, size_t len, void *buf)
{
	return pkt_cache_read(ctx, buf, len, off);
}

static int files_write_through_cache(void *ctx, uint64_t off, size_t len, const void *buf)
{
	return pkt_cache_write(ctx, buf, len, off);
}

static int udf_flush_cache(void *ctx)
{
	return pkt_cache_flush(ctx);
}

/* Defect management: the cache rewrites failed packets, the engine's sparing table says where. */
struct rescue_ctx {
	int (*relocate)(void *rctx, uint64_t off, uint64_t *to);
	void *rctx;
};

static int relocate_sectors(void *ctx, uint64_t lba, uint64_t *to)
{
	struct rescue_ctx *r = ctx;
	uint64_t off;
	int rc = r->relocate(r->rctx, lba * PKT_SECTOR_SIZE, &off);

	*to = off / PKT_SECTOR_SIZE;
	return rc;
}

static int udf_rescue_cache(void *ctx, int (*relocate)(void *rctx, uint64_t off, uint64_t *to), void *rctx)
{
	struct rescue_ctx r = {relocate, rctx};

	return pkt_cache_rescue_failed(ctx, relocate_sectors, &r);
}

/* ---- `pktfuse format` ---- */

#define FORMAT_USAGE                                                                                         \
	"usage: pktfuse format SOURCE [--quick|--full] [--force] [--no-udf] [--label L] [--uid N] [--gid N] " \
	"[--mode OCTAL] [--revision 1.50|2.00|2.01] [--media hd|cdrw|dvdrw|dvdram|dvd+rw|bdre]"

#define FORMAT_HELP                                                                                          \
	FORMAT_USAGE "\n"                                                                                     \
	"\n"                                                                                                  \
	"Brings a disc (a drive or emu:) to a packet-writable state, then writes an empty UDF file system\n"  \
	"laid out for the medium; an image file gets the file system only.\n"                                \
	"\n"                                                                                                  \
	"    --quick, --full   a quick medium format where the medium allows one (default), or a full one\n" \
	"    --force           erase a disc that holds data, or overwrite an image holding a file system\n"   \
	"    --no-udf          format the medium only, write no file system (not for image files)\n"        \
	"    --label L         volume label (at most 30 Latin-1 or 15 other characters; default LinuxUDF)\n"\
	"    --uid N, --gid N  owner and group of the root directory\n"                                      \
	"    --mode OCTAL      permissions of the root directory (default 0755)\n"                           \
	"    --revision R      UDF revision 1.50, 2.00 or 2.01 (default)\n"                                  \
	"    --media TYPE      image files only: the layout (hd: plain, default; cdrw, dvdrw: sparable;\n"   \
	"                      dvdram, dvd+rw, bdre: plain)\n"                                                \
	"    -h, --help        this text\n"

/* Names a file system (or partition table) found in the first 68 KiB of a medium, or NULL. */
static const char *fs_signature(const uint8_t *b, size_t len)
{
	if (len >= 32768 + 3 * 2048) {
		for (int i = 0; i < 3; i++) {
			const uint8_t *d = b + 32768 + i * 2048;
			if (!memcmp(d + 1, "NSR02", 5) || !memcmp(d + 1, "NSR03", 5))
				return "a UDF file system";
		}
		if (!memcmp(b + 32769, "CD001", 5))
			return "an ISO 9660 file system";
		if (!memcmp(b + 32769, "BEA01", 5))
			return "a volume recognition sequence (UDF or another ECMA-167 file system)";
	}
	if (len >= 65536 + 72 && !memcmp(b + 65536 + 64, "_BHRfS_M", 8))
		return "a btrfs file system";
	if (len >= 2048 && b[1024 + 56] == 0x53 && b[1024 + 57] == 0xEF)
		return "an ext2/3/4 file system";
	if (len >= 4 && !memcmp(b, "XFSB", 4))
		return "an XFS file system";
	if (len >= 4096 && (!memcmp(b + 4086, "SWAPSPACE2", 10) || !memcmp(b + 4086, "SWAP-SPACE", 10)))
		return "a swap area";
	if (len >= 520 && !memcmp(b + 512, "EFI PART", 8))
		return "a GPT partition table";
	if (len >= 512 && b[510] == 0x55 && b[511] == 0xAA)
		return "a boot sector (FAT, NTFS or a partition table)";
	return NULL;
}

/* Reads the first 34 sectors of dev and names what is there (NULL: nothing recognised). */
static const char *dev_signature(struct pkt_blockdev *dev)
{
	static uint8_t buf[34 * PKT_SECTOR_SIZE];
	uint32_t n = dev->geo.sector_count < 34 ? (uint32_t)dev->geo.sector_count : 34;

	memset(buf, 0, sizeof(buf));
	for (uint32_t s = 0; s < n; s++) /* sector by sector: an unrecorded sector is no reason to stop */
		if (pkt_blockdev_read(dev, s, 1, buf + (size_t)s * PKT_SECTOR_SIZE) != 0)
			memset(buf + (size_t)s * PKT_SECTOR_SIZE, 0, PKT_SECTOR_SIZE);
	return fs_signature(buf, (size_t)n * PKT_SECTOR_SIZE);
}

static int udf_write_through_cache(void *ctx, uint64_t off, size_t len, const void *buf)
{
	return pkt_cache_write(ctx, buf, len, off);
}

/* Writes UDF onto dev through a packet cache (every medium write a whole, aligned packet). */
static int format_udf(const char *source, struct pkt_blockdev *dev, struct udf_format_opts *uo, const char *what)
{
	char err[512];
	struct udf_format_layout l;
	uint64_t size = dev->geo.sector_count * PKT_SECTOR_SIZE;

	if (udf_format_plan(uo, size, &l, err, sizeof(err)) != 0) {
		fprintf(stderr, "pktfuse: %s: %s\n", source, err);
		return 1;
	}
	struct pkt_cache *cache;
	struct pkt_cache_config cc = {0};
	if (pkt_cache_create(dev, &cc, &cache, err, sizeof(err)) != 0) {
		fprintf(stderr, "pktfuse: %s: %s\n", source, err);
		return 1;
	}
	int rc = udf_format(uo, udf_write_through_cache, cache, size, err, sizeof(err));
	int frc = pkt_cache_flush(cache);
	int drc = pkt_cache_destroy(cache);
	if (rc) {
		fprintf(stderr, "pktfuse: %s: %s\n", source, err);
		return 1;
	}
	if (frc || drc) {
		fprintf(stderr, "pktfuse: %s: the file system could not be written: %s\n", source,
			strerror(frc ? -frc : (drc < 0 ? -drc : EIO)));
		return 1;
	}
	unsigned rev = uo->revision;
	printf("%s: UDF %x.%02x on %s: %s partition at block %u, %u blocks of %u bytes (%u free)", source, rev >> 8,
	       rev & 0xff, what, l.packet_len ? "sparable" : "plain", l.part_start, l.part_len, PKT_SECTOR_SIZE,
	       l.part_len - l.used);
	if (l.packet_len)
		printf(", packets of %u, %u spare packets", l.packet_len, l.spare_blocks / l.packet_len);
	printf(", label \"%s\"\n", uo->label);
	return 0;
}

/* Parses a decimal id (uid/gid); false if it is not one. */
static bool parse_id(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-' || *s == '+')
		return false;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *out < 0xFFFFFFFFul;
}

static uint32_t media_packet(enum udf_media m)
{
	return m == UDF_MEDIA_CDRW || m == UDF_MEDIA_HD || m == UDF_MEDIA_BDRE ? 32 : 16;
}

/* `pktfuse format SOURCE [options]`: brings the medium to a packet-writable state (drives and the
 * emulator), then writes an empty UDF file system laid out for the medium (drives, the emulator and
 * image files). */
static int cmd_format(int argc, char **argv)
{
	struct mmc_format_result fr;
	struct mmc_format_options fo = {.progress = isatty(2), .result = &fr};
	struct udf_format_opts uo = {.revision = 0x0201, .label = "LinuxUDF", .uid = (uid_t)-1, .gid = (gid_t)-1,
				     .root_mode = 0755, .media = UDF_MEDIA_HD};
	const char *source = NULL;
	bool no_udf = false, media_given = false;
	char err[512];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		static const char *const valued[] = {"--label", "--uid", "--gid", "--mode", "--revision", "--media"};
		const char *name = NULL;
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
			size_t n = strlen(valued[k]);
			if (!strncmp(a, valued[k], n) && (a[n] == '=' || a[n] == 0)) {
				name = valued[k];
				if (a[n] == '=')
					val = a + n + 1;
				else if (i + 1 < argc)
					val = argv[++i];
				else {
					fprintf(stderr, "pktfuse: format: %s needs a value\n", name);
					return 2;
				}
			}
		}
		if (name) {
			unsigned long v;
			char *end;
			if (!strcmp(name, "--label")) {
				uo.label = val;
			} else if (!strcmp(name, "--uid") || !strcmp(name, "--gid")) {
				if (!parse_id(val, &v)) {
					fprintf(stderr, "pktfuse: format: %s '%s': not a numeric id\n", name, val);
					return 2;
				}
				if (name[2] == 'u')
					uo.uid = (uid_t)v;
				else
					uo.gid = (gid_t)v;
			} else if (!strcmp(name, "--mode")) {
				errno = 0;
				v = strtoul(val, &end, 8);
				if (!*val || *end || errno || v > 07777 || *val == '-' || *val == '+') {
					fprintf(stderr, "pktfuse: format: --mode '%s': not an octal mode (0000-7777)\n", val);
					return 2;
				}
				uo.root_mode = (mode_t)v;
			} else if (!strcmp(name, "--revision")) {
				if (!strcmp(val, "1.50"))
					uo.revision = 0x0150;
				else if (!strcmp(val, "2.00"))
					uo.revision = 0x0200;
				else if (!strcmp(val, "2.01"))
					uo.revision = 0x0201;
				else {
					fprintf(stderr, "pktfuse: format: --revision '%s': write 1.50, 2.00 or 2.01\n", val);
					return 2;
				}
			} else {
				int m = udf_media_parse(val);
				if (m < 0) {
					fprintf(stderr, "pktfuse: format: --media '%s': one of hd, cdrw, dvdrw, dvdram, "
							"dvd+rw, bdre\n", val);
					return 2;
				}
				uo.media = (enum udf_media)m;
				media_given = true;
			}
		} else if (!strcmp(a, "--quick"))
			fo.quick = true;
		else if (!strcmp(a, "--full"))
			fo.full = true;
		else if (!strcmp(a, "--force"))
			fo.force = true;
		else if (!strcmp(a, "--no-udf"))
			no_udf = true;
		else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(FORMAT_HELP, stdout);
			return 0;
		} else if (a[0] == '-') {
			fprintf(stderr, "pktfuse: format: unknown option '%s' (see pktfuse(1))\n", a);
			return 2;
		} else if (source) {
			fprintf(stderr, "pktfuse: format: one SOURCE only ('%s' and '%s')\n", source, a);
			return 2;
		} else
			source = a;
	}
	if (!source) {
		fputs(FORMAT_HELP, stderr);
		return 2;
	}
	if (fo.quick && fo.full) {
		fprintf(stderr, "pktfuse: format: --quick and --full exclude each other\n");
		return 2;
	}
	/* The label must fit the volume identifier: check before anything is erased. */
	uint8_t probe[32];
	if (udf_put_dstring(probe, sizeof(probe), uo.label) < 0) {
		fprintf(stderr, "pktfuse: format: --label '%s': %s\n", uo.label,
			udf_utf8_to_cs0(uo.label, probe, 0) == -EINVAL
				? "not valid UTF-8"
				: "too long (at most 30 Latin-1 or 15 other characters)");
		return 2;
	}

	struct stat st;
	bool is_drive = strncmp(source, "emu:", 4) == 0;
	if (!is_drive) {
		if (stat(source, &st) != 0) {
			fprintf(stderr, "pktfuse: %s: %s\n", source, strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "pktfuse: %s: is a directory, not a drive or an image file\n", source);
			return 1;
		}
		is_drive = !S_ISREG(st.st_mode);
	}

	if (!is_drive) {
		/* An image file: no medium to format, UDF straight onto the file. */
		if (no_udf) {
			fprintf(stderr, "pktfuse: format: %s is an image file: it needs no medium formatting, and "
					"--no-udf leaves nothing to do\n", source);
			return 2;
		}
		if (fo.quick || fo.full) {
			fprintf(stderr, "pktfuse: format: --quick and --full format a disc; %s is an image file\n", source);
			return 2;
		}
		if (st.st_size < 1024 * 1024) {
			fprintf(stderr, "pktfuse: %s: %lld bytes is too small for UDF (at least 1 MiB: make it with "
					"truncate -s SIZE)\n", source, (long long)st.st_size);
			return 1;
		}
		struct image_dev_options io = {.packet_sectors = media_packet(uo.media), .strict = true, .lock = true};
		struct pkt_blockdev *dev = image_dev_open(source, &io, err, sizeof(err));
		if (!dev) {
			fprintf(stderr, "pktfuse: %s\n", err);
			return 1;
		}
		const char *found = dev_signature(dev);
		if (found && !fo.force) {
			fprintf(stderr, "pktfuse: %s already holds %s: add --force to overwrite it\n", source, found);
			pkt_blockdev_close(dev);
			return 1;
		}
		if (uo.media == UDF_MEDIA_CDRW || uo.media == UDF_MEDIA_DVDRW)
			uo.packet_len = dev->geo.packet_sectors;
		char what[64];
		snprintf(what, sizeof(what), "an image file (%s layout)", udf_media_name(uo.media));
		int rc = format_udf(source, dev, &uo, what);
		pkt_blockdev_close(dev);
		return rc;
	}

	if (media_given) {
		fprintf(stderr, "pktfuse: format: --media applies to image files; the type of the disc in %s decides "
				"its layout\n", source);
		return 2;
	}
	/* A drive or the emulator: say what the disc holds before the medium format erases it. */
	if (!fo.force) {
		struct mmc_source_options mo = {.read_only = true, .quiet = true};
		struct pkt_blockdev *dev = NULL;
		if (mmc_source_open(source, &mo, &dev, err, sizeof(err)) == 1) {
			const char *found = dev_signature(dev);
			pkt_blockdev_close(dev);
			if (found) {
				fprintf(stderr, "pktfuse: %s: the disc holds %s: add --force to erase it\n", source, found);
				return 1;
			}
		}
	}
	if (mmc_cmd_format(source, &fo, err, sizeof(err)) != 0) {
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	if (no_udf)
		return 0;
	enum udf_media m;
	switch (fr.profile) {
	case MMC_PROFILE_CDRW:
		m = fr.mrw ? UDF_MEDIA_HD : UDF_MEDIA_CDRW; /* Mount Rainier: the drive spares defects */
		break;
	case MMC_PROFILE_DVDRW_RO:
	case MMC_PROFILE_DVDRW_SEQ:
		m = UDF_MEDIA_DVDRW;
		break;
	case MMC_PROFILE_DVDRAM:
		m = UDF_MEDIA_DVDRAM;
		break;
	case MMC_PROFILE_BDRE:
		m = UDF_MEDIA_BDRE;
		break;
	default:
		m = UDF_MEDIA_DVDPLUSRW;
		break;
	}
	uo.media = m;
	struct mmc_source_options mo = {.quiet = true};
	struct pkt_blockdev *dev = NULL;
	if (mmc_source_open(source, &mo, &dev, err, sizeof(err)) != 1) {
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	mmc_dev_set_quiet(dev, false);
	if (m == UDF_MEDIA_CDRW || m == UDF_MEDIA_DVDRW)
		uo.packet_len = dev->geo.packet_sectors;
	char what[96];
	snprintf(what, sizeof(what), "the %s", fr.kind);
	int rc = format_udf(source, dev, &uo, what);
	pkt_blockdev_close(dev);
	return rc;
}

static struct pkt_blockdev *open_source(struct pktfuse_opts *o)
{
	char err[512];
	/* Quiet: the one-line reason below says it all; a detached daemon has no terminal anyway. */
	struct mmc_source_options mo = {.read_only = o->read_only, .speed = o->speed, .quiet = true};
	struct pkt_blockdev *mdev = NULL;
	int r = mmc_source_open(o->source, &mo, &mdev, err, sizeof(err));

	if (r < 0) {
		pktfuse_log(LOG_ERR, "%s", err);
		return NULL;
	}
	if (r == 1) {
		/* From now on a failed command is logged with its decoded sense (on the terminal with -f). */
		mmc_dev_set_quiet(mdev, false);
		/* A drive (or the emulator) knows its packet size and enforces its own rules. */
		if (o->packet)
			pktfuse_log(LOG_NOTICE, "note: -o packet applies to image files; %s uses the medium's packet size", o->source);
		return mdev;
	}
	struct image_dev_options io = {
		.packet_sectors = o->packet,
		.read_only = o->read_only,
		.strict = o->strict,
		.lock = true,
	};
	struct pkt_blockdev *dev = image_dev_open(o->source, &io, err, sizeof(err));

	if (!dev)
		pktfuse_log(LOG_ERR, "%s", err);
	return dev;
}

/* Forks; the parent waits for one status line from the child and exits with it. */
static int daemonize_with_report(int *report_fd)
{
	int p[2];

	/* Close-on-exec: fusermount3 (kept running by auto_unmount) must not hold the pipe open. */
	if (pipe2(p, O_CLOEXEC) < 0) {
		pktfuse_log(LOG_ERR, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		pktfuse_log(LOG_ERR, "fork: %s", strerror(errno));
		return -1;
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
				fprintf(stderr, "pktfuse:%s\n", msg + 3);
			_exit(0);
		}
		/* The child still holds the disc: a start right after this one must not find it locked. */
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (got == 0)
			fprintf(stderr, "pktfuse: the daemon exited during start-up\n");
		else
			fprintf(stderr, "pktfuse: %s\n", msg);
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

static int run_daemon(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct pktfuse pf;
	struct fuse_session *se = NULL;
	int report_fd = -1, status = 1;
	char err[512], summary[700] = "";

	memset(&pf, 0, sizeof(pf));
	mmc_set_log_sink(mmc_to_log);
	if (pktfuse_parse_options(&args, &pf.opts) != 0)
		goto out_args;
	if (pf.opts.show_help) {
		pktfuse_usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		status = 0;
		goto out_args;
	}
	if (pf.opts.show_version) {
		printf("pktfuse version %s\n", PKTFUSE_VERSION);
		fflush(stdout); /* before fusermount3 prints its own line */
		fuse_lowlevel_version();
		status = 0;
		goto out_args;
	}
	/* Permissions in the files view: with allow_other the kernel checks them (default_permissions),
	 * as other users come in; a mount for one user checks them in the daemon, which saves the
	 * kernel a GETATTR of the directory before each name it creates. */
	if (!pf.opts.image_view && has_fuse_option(&args, "default_permissions"))
		pf.kernel_permissions = true;
	else if (!pf.opts.image_view && has_fuse_option(&args, "allow_other")) {
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

	static char startup_note[600] = "ok";
	struct stat st;
	if (stat(pf.opts.mountpoint, &st) < 0) {
		pktfuse_log(LOG_ERR, "mountpoint %s: %s", pf.opts.mountpoint, strerror(errno));
		goto out_args;
	}
	if (!S_ISDIR(st.st_mode)) {
		pktfuse_log(LOG_ERR, "mountpoint %s is not a directory", pf.opts.mountpoint);
		goto out_args;
	}
	if (!mountpoint_usable(pf.opts.mountpoint, &args))
		goto out_args;
	pf.dev = open_source(&pf.opts);
	if (!pf.dev)
		goto out_args;
	pf.uid = getuid();
	pf.gid = getgid();
	clock_gettime(CLOCK_REALTIME, &pf.mount_time);

	if (!pf.opts.foreground) {
		if (daemonize_with_report(&report_fd) < 0)
			goto out_dev;
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
		/* Rewritable media in packet mode are single-session: the session starts at 0. */
		const struct pkt_geometry *g = pkt_cache_geometry(pf.cache);
		struct udf_io io = {
			.read = udf_read_through_cache,
			.write = g->writable && !pf.opts.read_only ? files_write_through_cache : NULL,
			.flush = udf_flush_cache,
			.rescue = udf_rescue_cache,
			.ctx = pf.cache,
			.size = pkt_cache_capacity_bytes(pf.cache),
			.packet_blocks = g->packet_sectors,
		};
		struct udf_mount_opts mo = {.uid = pf.uid, .gid = pf.gid, .read_only = pf.opts.read_only};
		if (udf_mount(&io, &mo, &pf.udf, err, sizeof(err)) != 0) {
			pktfuse_log(LOG_ERR, "%s: %s", pf.opts.source, err);
			char line[700];
			snprintf(line, sizeof(line), "%s: %s", pf.opts.source, err);
			report_to_parent(&report_fd, line);
			goto out_cache;
		}
		if (*udf_mount_note(pf.udf)) {
			pktfuse_log(LOG_NOTICE, "%s: %s", pf.opts.source, udf_mount_note(pf.udf));
			snprintf(startup_note, sizeof(startup_note), "ok: %s: %s", pf.opts.source, udf_mount_note(pf.udf));
		}
		char why[256];
		if (!udf_writable(pf.udf, why, sizeof(why))) {
			/* A disc the writer cannot keep consistent is shown read-only, and the user is told. */
			if (!pf.opts.read_only && g->writable) {
				pktfuse_log(LOG_NOTICE, "%s: %s", pf.opts.source, why);
				snprintf(startup_note, sizeof(startup_note), "ok: %s: %s", pf.opts.source, why);
			}
			fuse_opt_add_arg(&args, "-oro");
		} else if (pktfuse_files_start(&pf) != 0) {
			report_to_parent(&report_fd, "cannot start the commit thread");
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
	pktfuse_report_start(pf.opts.source, pf.opts.mountpoint);
	if (daemonized) {
		report_to_parent(&report_fd, startup_note);
		detach_stdio();
	}

	int loop_rc;
	if (pf.opts.singlethread) {
		loop_rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		/* fuse_parse_cmdline leaves UINT_MAX for "not given" */
		if (pf.opts.max_idle_threads && pf.opts.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(lc, pf.opts.max_idle_threads);
		if (pf.opts.max_threads && pf.opts.max_threads != UINT_MAX)
			fuse_loop_cfg_set_max_threads(lc, pf.opts.max_threads);
		loop_rc = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	fuse_session_unmount(se);
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
			fail_with(summary, sizeof(summary), "could not record the file system on %s: the medium reported errors",
				  pf.opts.source);
			status = 1;
		}
	}
	udf_unmount(pf.udf);
	/* Unmount, SIGTERM, SIGINT and SIGHUP all end here: everything dirty goes to the medium first. */
	if (pf.cache && !flush_all(&pf, summary, sizeof(summary)))
		status = 1;
	pkt_cache_destroy(pf.cache);
out_dev:
	pkt_blockdev_close(pf.dev);
	pktfuse_report_finish(status == 0, summary);
	report_to_parent(&report_fd, "start-up failed (see syslog)");
out_args:
	pktfuse_free_options(&pf.opts);
	fuse_opt_free_args(&args);
	return status;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "umount") == 0)
		return cmd_umount(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "format") == 0)
		return cmd_format(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "info") == 0)
		return cmd_info(argc - 1, argv + 1);
	return run_daemon(argc, argv);
}
