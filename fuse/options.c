/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "options.h"

#include "fuse_uring.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	KEY_IMAGE,
	KEY_STRICT,
	KEY_IO_URING,
	KEY_NO_IO_URING,
	KEY_RO,
	KEY_HELP,
	KEY_VERSION,
	KEY_ALLOW_OTHER,
	KEY_ALLOW_ROOT,
	KEY_DEFAULT_PERMISSIONS,
	KEY_MAX_THREADS
};

#define PKT_OPT(t, p)                                  \
	{                                              \
		t, offsetof(struct pktfuse_opts, p), 1 \
	}
static const struct fuse_opt pkt_opts[] = {
	PKT_OPT("packet=%s", packet_str),
	PKT_OPT("speed=%s", speed_str),
	PKT_OPT("session=%s", session_str),
	PKT_OPT("lastblock=%s", lastblock_str),
	PKT_OPT("cache=%s", cache_str),
	PKT_OPT("dirty_age=%s", age_str),
	PKT_OPT("commit=%s", commit_str),
	PKT_OPT("dirty_high=%s", high_str),
	PKT_OPT("dirty_low=%s", low_str),
	PKT_OPT("snapshot=%s", snapshot_str),
	PKT_OPT("close=%s", close_str),
	PKT_OPT("wear_rating=%s", wear_rating_str),
	PKT_OPT("uring_linger=%s", linger_str),
	FUSE_OPT_KEY("image", KEY_IMAGE),
	FUSE_OPT_KEY("strict", KEY_STRICT),
	FUSE_OPT_KEY("io_uring", KEY_IO_URING),
	FUSE_OPT_KEY("no_io_uring", KEY_NO_IO_URING),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("allow_root", KEY_ALLOW_ROOT),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
	/* fstab's own options, which mount(8) and mount.fuse3 pass on: accepted and dropped (x-* and
	 * comment=* in opt_proc) */
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("comment=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END,
};

/* The field of FUSE's access option key. */
static bool *fuse_access_flag(struct pktfuse_opts *o, int key)
{
	if (key == KEY_ALLOW_OTHER)
		return &o->allow_other;
	return key == KEY_ALLOW_ROOT ? &o->allow_root : &o->default_permissions;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct pktfuse_opts *o = data;
	(void)outargs;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!o->source) {
			o->source = strdup(arg);
			return 0;
		}
		return 1; /* the mountpoint: fuse_parse_cmdline takes it */
	case KEY_IMAGE:
		o->image_view = true;
		return 0;
	case KEY_RO:
		o->read_only = true;
		return 1; /* the kernel should know too */
	case KEY_ALLOW_OTHER:
	case KEY_ALLOW_ROOT:
	case KEY_DEFAULT_PERMISSIONS:
		*fuse_access_flag(o, key) = true;
		return 1; /* FUSE's own option: seen here, kept for FUSE */
	case KEY_MAX_THREADS:
		o->max_threads_given = true;
		return 1; /* FUSE's own too: it parses the number */
	case KEY_HELP:
		o->show_help = true;
		return 0;
	case KEY_VERSION:
		o->show_version = true;
		return 0;
	case KEY_STRICT:
		o->strict = true;
		return 0;
	case KEY_IO_URING:
		o->io_uring = true;
		return 0;
	case KEY_NO_IO_URING:
		o->no_io_uring = true;
		return 0;
	case FUSE_OPT_KEY_OPT:
		return strncmp(arg, "x-", 2) == 0 ? 0 : 1; /* x-*: fstab's options for other programs */
	default:
		return 1;
	}
}

int pktfuse_parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t mult = 1;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mult = 1ull << 10;
		end++;
		break;
	case 'M':
		mult = 1ull << 20;
		end++;
		break;
	case 'G':
		mult = 1ull << 30;
		end++;
		break;
	default:
		return -1;
	}
	if (*end == 'i' || *end == 'B') /* accept "MiB" and "MB" spellings as binary units */
		end += *end == 'i' ? 1 : 0;
	if (*end == 'B')
		end++;
	if (*end != '\0' || (v && mult > UINT64_MAX / v))
		return -1;
	*out = v * mult;
	return 0;
}

int pktfuse_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int pktfuse_parse_seconds_ms(const char *s, unsigned max_ms, unsigned *out)
{
	unsigned long ms = 0;
	const char *p = s;
	int frac = 0;

	if (!s || !*s)
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		ms = ms * 10 + (unsigned long)(*p - '0');
		if (ms > max_ms)
			return -1;
	}
	if (p == s)
		return -1;
	ms *= 1000;
	if (*p == '.') {
		unsigned long scale = 100;
		for (p++; isdigit((unsigned char)*p) && frac < 3; p++, frac++, scale /= 10)
			ms += (unsigned long)(*p - '0') * scale;
		if (frac == 0)
			return -1;
	}
	if (*p || ms == 0 || ms > max_ms)
		return -1;
	*out = (unsigned)ms;
	return 0;
}

static int bad(char *err, size_t errlen, const char *what, const char *val, const char *expect)
{
	snprintf(err, errlen, "invalid value '%s' for -o %s (expected %s)", val, what, expect);
	return -EINVAL;
}

/* -o snapshot= and -o close=: each alone, and not together (a snapshot is read-only). */
static int check_write_once_values(struct pktfuse_opts *o, char *err, size_t errlen)
{
	if (o->snapshot_str) {
		if (pktfuse_parse_uint(o->snapshot_str, 0, 1u << 30, &o->snapshot))
			return bad(err, errlen, "snapshot", o->snapshot_str,
				   "how many commits before the newest: 0, 1, ... as pktfuse info SOURCE lists them");
		o->snapshot_set = true;
	}
	if (o->close_str) {
		static const char *const names[] = {"none", "session", "finalize"};
		unsigned k = 0;
		while (k < 3 && strcmp(o->close_str, names[k]) != 0)
			k++;
		if (k == 3)
			return bad(err, errlen, "close", o->close_str, "none, session or finalize");
		o->close = (enum pktfuse_close)k;
	}
	if (o->close != PKTFUSE_CLOSE_NONE && (o->snapshot_set || o->read_only || o->image_view)) {
		snprintf(err, errlen,
			 "-o close=%s closes the disc after the last commit of a writable files view: "
			 "not with -o %s",
			 o->close_str,
			 o->snapshot_set ? "snapshot"
			 : o->read_only	 ? "ro"
					 : "image");
		return -EINVAL;
	}
	if (o->snapshot_set && o->image_view) {
		snprintf(err, errlen, "-o snapshot= shows files: not with -o image");
		return -EINVAL;
	}
	return 0;
}

/* The values of the -o options, checked once parsing is done so that errors name the option. */
static int check_values(struct pktfuse_opts *o, char *err, size_t errlen)
{
	if (o->packet_str && pktfuse_parse_uint(o->packet_str, 1, 1024, &o->packet))
		return bad(err, errlen, "packet", o->packet_str, "a number of 2 KiB sectors from 1 to 1024");
	if (o->speed_str && pktfuse_parse_uint(o->speed_str, 1, 100, &o->speed))
		return bad(err, errlen, "speed", o->speed_str,
			   "a write speed from 1 to 100 (times the medium's 1x rate)");
	o->session_given = o->session_str != NULL;
	if (o->session_str && pktfuse_parse_uint(o->session_str, 0, UINT32_MAX - 256, &o->session))
		return bad(err, errlen, "session", o->session_str, "the sector where the session starts");
	if (o->lastblock_str && pktfuse_parse_uint(o->lastblock_str, 256, UINT32_MAX, &o->lastblock))
		return bad(err, errlen, "lastblock", o->lastblock_str, "the volume's last block, from 256");
	if (o->cache_str) {
		if (pktfuse_parse_size(o->cache_str, &o->cache_bytes) || o->cache_bytes < 64 * 1024 ||
		    o->cache_bytes > (64ull << 30))
			return bad(err, errlen, "cache", o->cache_str, "a size from 64K to 64G, e.g. 32M");
	}
	if (o->age_str && pktfuse_parse_seconds_ms(o->age_str, 3600 * 1000, &o->dirty_age_ms))
		return bad(err, errlen, "dirty_age", o->age_str, "seconds from 0.001 to 3600");
	if (o->commit_str && pktfuse_parse_seconds_ms(o->commit_str, 3600 * 1000, &o->commit_ms))
		return bad(err, errlen, "commit", o->commit_str, "seconds from 0.001 to 3600");
	if (o->wear_rating_str && pktfuse_parse_uint(o->wear_rating_str, 10, 100000000, &o->wear_rating))
		return bad(err, errlen, "wear_rating", o->wear_rating_str,
			   "overwrites per packet from 10 to 100000000");
	if (o->io_uring && o->no_io_uring) {
		snprintf(err, errlen, "-o io_uring and -o no_io_uring contradict each other");
		return -EINVAL;
	}
	o->uring_linger_us = PKTFUSE_URING_LINGER_US;
	if (o->linger_str && pktfuse_parse_uint(o->linger_str, 0, 10000, &o->uring_linger_us))
		return bad(err, errlen, "uring_linger", o->linger_str, "microseconds from 0 to 10000");
	if (o->high_str && pktfuse_parse_uint(o->high_str, 2, 100, &o->dirty_high))
		return bad(err, errlen, "dirty_high", o->high_str, "a percentage from 2 to 100");
	if (o->low_str && pktfuse_parse_uint(o->low_str, 1, 99, &o->dirty_low))
		return bad(err, errlen, "dirty_low", o->low_str, "a percentage from 1 to 99");
	int rc = check_write_once_values(o, err, errlen);
	if (rc)
		return rc;
	unsigned hi = o->dirty_high ? o->dirty_high : 75, lo = o->dirty_low ? o->dirty_low : 50;
	if (lo >= hi) {
		snprintf(err, errlen, "-o dirty_low=%u must be below dirty_high=%u", lo, hi);
		return -EINVAL;
	}
	return 0;
}

/* The image view's FUSE workers unless -o max_threads says: one per CPU, at least 2 (a request may
 * wait for the medium while another is served from the cache), at most FUSE's default of 10.  The
 * cache serves requests under one lock, so more workers than CPUs only wake and switch: random 4 KiB
 * writes at queue depth 16 through a loop device on 2 CPUs cost the daemon ~25% more CPU per write
 * with 10 workers than with 2 (bench/run.sh, issue 13). */
static unsigned image_view_workers(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	return ncpu < 2 ? 2 : ncpu > 10 ? 10 : (unsigned)ncpu;
}

int pktfuse_parse_options(struct fuse_args *args, struct pktfuse_opts *o, char *err, size_t errlen)
{
	struct fuse_cmdline_opts co;

	memset(o, 0, sizeof(*o));
	err[0] = '\0'; /* stays empty when libfuse printed the reason itself */
	if (fuse_opt_parse(args, o, pkt_opts, opt_proc) != 0)
		return -EINVAL;
	if (o->show_help || o->show_version)
		return 0;
	memset(&co, 0, sizeof(co));
	if (fuse_parse_cmdline(args, &co) != 0) {
		free(co.mountpoint); /* set before a later argument failed */
		return -EINVAL;
	}
	o->mountpoint = co.mountpoint;
	o->foreground = co.foreground;
	o->debug = co.debug;
	o->singlethread = co.singlethread;
	o->max_idle_threads = co.max_idle_threads;
	o->max_threads = co.max_threads;
	if (o->image_view && !o->max_threads_given)
		o->max_threads = image_view_workers();
	if (co.show_help)
		o->show_help = true;
	if (co.show_version)
		o->show_version = true;
	if (o->show_help || o->show_version)
		return 0;

	int rc = check_values(o, err, errlen);
	if (rc)
		return rc;
	if (!o->source) {
		snprintf(err, errlen, "no SOURCE given (see pktfuse --help)");
		return -EINVAL;
	}
	if (!o->mountpoint) {
		snprintf(err, errlen, "no MOUNTPOINT given (see pktfuse --help)");
		return -EINVAL;
	}
	return 0;
}

int pktfuse_add_mount_names(struct fuse_args *args, const char *source)
{
	char *opt = NULL, *name = NULL;
	int rc = -ENOMEM;

	if (asprintf(&name, "fsname=%s", source) < 0)
		return -ENOMEM;
	/* before the user's options, so that an -o fsname= or subtype= of theirs wins */
	if (fuse_opt_add_opt_escaped(&opt, name) == 0 && fuse_opt_add_opt(&opt, "subtype=pktfuse") == 0 &&
	    fuse_opt_insert_arg(args, 1, opt) == 0 && fuse_opt_insert_arg(args, 1, "-o") == 0)
		rc = 0;
	free(opt);
	free(name);
	return rc;
}

void pktfuse_free_options(struct pktfuse_opts *o)
{
	free(o->source);
	free(o->mountpoint);
	free(o->packet_str);
	free(o->session_str);
	free(o->lastblock_str);
	free(o->cache_str);
	free(o->age_str);
	free(o->commit_str);
	free(o->high_str);
	free(o->low_str);
	free(o->speed_str);
	free(o->snapshot_str);
	free(o->close_str);
	free(o->wear_rating_str);
	free(o->linger_str);
}

void pktfuse_usage(const char *prog)
{
	printf("usage: %s [options] SOURCE MOUNTPOINT\n"
	       "       %s status [--raw] MOUNTPOINT\n"
	       "       %s umount MOUNTPOINT\n"
	       "       %s eject MOUNTPOINT|DRIVE\n"
	       "       %s info SOURCE\n"
	       "       %s format SOURCE [options] (pktfuse format --help lists them)\n"
	       "       %s check SOURCE [--repair]\n"
	       "       %s close SOURCE [--finalize]\n"
	       "\n"
	       "Serves a rewritable optical disc (or an image of one) with packet writing.\n"
	       "SOURCE is a drive (/dev/srN, /dev/sgN), an emulated drive (emu:PROFILE:IMAGE[,opt=val]) or an\n"
	       "image file whose size is a multiple of 2048 bytes.  MOUNTPOINT shows the\n"
	       "files of its UDF file system (writable on UDF 1.02-2.01; read-only otherwise, with the reason),\n"
	       "or with -o image the block file.  Unmount with `pktfuse umount MOUNTPOINT`: it waits until\n"
	       "everything is on the disc and says what could not be written.  Errors of the background\n"
	       "daemon go to syslog and to the last errors of `pktfuse status`.\n"
	       "\n"
	       "pktfuse options:\n"
	       "    -o image             show a directory with `disc` (the block file) and `stats`\n"
	       "    -o packet=N          packet size of an image source, in 2 KiB sectors (default 32)\n"
	       "    -o speed=N           write speed of a drive, in multiples of the medium's 1x rate\n"
	       "    -o session=N         read the UDF session starting at sector N (default: the last)\n"
	       "    -o lastblock=N       the UDF volume ends at block N (default: the medium's end)\n"
	       "    -o cache=SIZE        packet cache size (default 32M), preallocated\n"
	       "    -o dirty_age=SECONDS write dirty data older than this (default 5)\n"
	       "    -o commit=SECONDS    commit the files view's changes this often (default: 30 on\n"
	       "                         CD-RW, DVD-RW and DVD+RW, which wear out, and on write-once\n"
	       "                         media, where each commit costs space; else dirty_age)\n"
	       "    -o wear_rating=N     the disc's packets take N overwrites (default: the medium's, 1000 on\n"
	       "                         CD-RW, DVD-RW and DVD+RW); at 90%% of it a packet of a CD-RW or\n"
	       "                         DVD-RW moves to a spare of the sparing table\n"
	       "    -o dirty_high=PCT    writers wait while this share of the cache is dirty (default 75)\n"
	       "    -o dirty_low=PCT     the flusher then drains to this share (default 50)\n"
	       "    -o strict            refuse (and count) any backend write that is not whole packets\n"
	       "    -o io_uring          the files view serves FUSE over io_uring, a queue per CPU, as it\n"
	       "                         does by default wherever the kernel offers it (Linux 6.14 or\n"
	       "                         later, the fuse module's enable_uring=Y); with the option a\n"
	       "                         kernel that does not is named in the log\n"
	       "    -o no_io_uring       the files view serves /dev/fuse alone\n"
	       "    -o uring_linger=US   with io_uring, a queue's thread stays awake this long after serving\n"
	       "                         a program that has just moved to its CPU, so that the program\n"
	       "                         stops moving (default 300; 0: never)\n"
	       "    -o ro                read-only\n"
	       "    -o snapshot=N        a write-once disc as it was N commits before its newest (0 the\n"
	       "                         newest; `pktfuse info SOURCE` lists them), read-only\n"
	       "    -o close=WHAT        write-once discs, at unmount after the last commit: none (default:\n"
	       "                         keep appending), session (readable in any drive) or finalize\n"
	       "                         (nothing more can be written)\n"
	       "    -o allow_other       let other users in (a user needs user_allow_other in /etc/fuse.conf)\n"
	       "    -o allow_root        let root in, e.g. to loop-mount the user's disc file (the same line)\n"
	       "\n",
	       prog, prog, prog, prog, prog, prog, prog, prog);
}
