/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Command-line options of the daemon, parsed with fuse_opt. */
#ifndef PKTFUSE_OPTIONS_H
#define PKTFUSE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FUSE_USE_VERSION comes from CMake (the top CMakeLists.txt). */
#include <fuse_lowlevel.h>

/* What the unmount of a write-once disc closes after its last commit. */
enum pktfuse_close { PKTFUSE_CLOSE_NONE, PKTFUSE_CLOSE_SESSION, PKTFUSE_CLOSE_FINALIZE };

struct pktfuse_opts {
	char *source; /* image file (later: drive or emu:) */
	char *mountpoint;
	bool image_view; /* -o image: a directory with `disc` and `stats` */
	bool read_only;	 /* -o ro */
	/* FUSE's own -o allow_other, allow_root, default_permissions (left in args for FUSE too) */
	bool allow_other, allow_root, default_permissions;
	bool strict; /* -o strict: the image backend refuses non-packet writes */
	/* The files view's requests go over io_uring (fuse_uring.h) wherever the kernel offers it;
	 * -o io_uring: and the log says so where it does not; -o no_io_uring: never */
	bool io_uring, no_io_uring;
	/* -o uring_linger=US: a ring queue's thread stays runnable this long after serving a requester
	 * that moved to its CPU (fuse_uring.h: PKTFUSE_URING_LINGER_US), 0 = never */
	unsigned uring_linger_us;
	char *linger_str;
	unsigned packet;       /* -o packet=N sectors (image sources), 0 = default */
	unsigned speed;	       /* -o speed=N (drives), 0 = the drive's choice */
	uint64_t cache_bytes;  /* -o cache=SIZE */
	unsigned dirty_age_ms; /* -o dirty_age=SECONDS */
	unsigned commit_ms;    /* -o commit=SECONDS (files view), 0 = the medium's default */
	unsigned dirty_high;   /* -o dirty_high=PERCENT */
	unsigned dirty_low;    /* -o dirty_low=PERCENT */
	/* -o snapshot=N (write-once media): the disc as it was N commits before its newest, read-only;
	 * numbered as udf_commit_list and `pktfuse info` number them (0 the newest) */
	bool snapshot_set;
	unsigned snapshot;
	enum pktfuse_close close; /* -o close=none|session|finalize: done at unmount, after the last commit */
	unsigned wear_rating;	  /* -o wear_rating=N overwrites per packet, 0 = the medium's (wear.h) */
	char *wear_rating_str;
	/* from fuse_parse_cmdline */
	bool foreground, debug, singlethread, show_help, show_version;
	unsigned max_idle_threads, max_threads; /* FUSE's defaults unless given; the image view's
						 * max_threads: one per CPU, 2 to 10 */
	bool max_threads_given;
	/* raw option strings, validated after parsing so that errors name the option */
	char *packet_str, *cache_str, *age_str, *high_str, *low_str, *speed_str, *commit_str, *snapshot_str, *close_str;
	/* -o session=N: the sector where the UDF session to read starts (the kernel's udf option), else
	 * the last session; -o lastblock=N: the volume's last block, else the medium's */
	bool session_given;
	unsigned session, lastblock;
	char *session_str, *lastblock_str;
};

/* Parses argv into opts and leaves the options FUSE itself handles in args.  Returns 0, or -EINVAL with
 * a one-line reason naming the bad option in err; err is left empty when libfuse printed the reason
 * itself (a missing -o argument, an extra argument, a mount point that does not exist). */
int pktfuse_parse_options(struct fuse_args *args, struct pktfuse_opts *opts, char *err, size_t errlen);
void pktfuse_free_options(struct pktfuse_opts *opts);
/* Names the mount in the mount table: fsname=SOURCE (commas escaped), subtype=pktfuse, so that mount(8),
 * df and file managers show the disc's source and fuse.pktfuse.  0 or -ENOMEM. */
int pktfuse_add_mount_names(struct fuse_args *args, const char *source);
void pktfuse_usage(const char *prog);

/* "32M", "1G", "65536", "512K" → bytes.  Returns 0, or -1 for anything else (including overflow). */
int pktfuse_parse_size(const char *s, uint64_t *out);
/* Unsigned decimal within [min, max]; -1 otherwise. */
int pktfuse_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* Seconds with up to three decimals ("5", "0.25") → milliseconds within [1, max_ms]. */
int pktfuse_parse_seconds_ms(const char *s, unsigned max_ms, unsigned *out);

#endif
