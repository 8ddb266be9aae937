/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse info SOURCE`: what a drive, the emulator or an image file is; and the words for what to do
 * about a disc that cannot be written as it is. */
#define _GNU_SOURCE
#include "cmd.h"
#include "image_dev.h"
#include "info_print.h"
#include "pkt_cache.h"
#include "source.h"
#include "source_kind.h"
#include "udf.h"
#include "udf_cache_io.h"
#include "wear.h"
#include "wo_image.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void disc_problem_advise(enum mmc_problem code, const char *source, char *msg, size_t len)
{
	size_t n = strnlen(msg, len);

	switch (code) {
	case MMC_PROBLEM_NEEDS_FORMAT:
		snprintf(msg + n, len - n, ": format it with `pktfuse format %s`", source);
		break;
	case MMC_PROBLEM_NOT_PACKET_SESSION:
		snprintf(msg + n, len - n, ": blank and format it with `pktfuse format --force %s`", source);
		break;
	case MMC_PROBLEM_SEQUENTIAL:
		snprintf(msg + n, len - n, ": format it for restricted overwrite with `pktfuse format %s`", source);
		break;
	case MMC_PROBLEM_READ_ONLY_MEDIUM:
	case MMC_PROBLEM_WRITE_PROTECTED:
	case MMC_PROBLEM_FINALIZED:
	case MMC_PROBLEM_FULL:
	case MMC_PROBLEM_UNKNOWN_STATE:
		snprintf(msg + n, len - n, ": it can be read with -o ro");
		break;
	case MMC_PROBLEM_NONE:
		break;
	}
}

/* The note on why the disc cannot be written, with what to do. */
static void print_note(FILE *out, const struct mmc_probe *p, const char *source)
{
	char note[512];

	if (!p->problem[0])
		return;
	snprintf(note, sizeof(note), "%s", p->problem);
	disc_problem_advise(p->problem_code, source, note, sizeof(note));
	fprintf(out, "note: %s\n", note);
}

static const char *disc_status_name(uint8_t s)
{
	static const char *const names[] = {"empty", "incomplete", "finalized", "random access"};
	return names[s & 3];
}

static double mib(uint64_t sectors)
{
	return (double)sectors * 2048.0 / 1048576.0;
}

/* What closing the open session would cost, and what the disc looks like: info on write-once media. */
void print_close_cost(FILE *out, const struct mmc_probe *p)
{
	bool first = p->sessions <= 1;
	uint32_t gap = mmc_session_close_cost(p->profile, first);
	const char *how = p->profile == MMC_PROFILE_CDR	   ? "lead-out and the next session's lead-in"
			  : p->profile == MMC_PROFILE_BDR  ? "nothing: BD-R sessions have no lead-out"
			  : p->profile == MMC_PROFILE_DVDR ? "border-out and the next border-in, estimated"
							   : "session closure and the next intro, estimated";
	bool empty = p->session_state == 0 && p->sessions > 1;
	bool dash = p->profile == MMC_PROFILE_CDR || p->profile == MMC_PROFILE_DVDR;
	if (empty)
		fprintf(out, "closing the session: nothing to close (the open session is empty)\n");
	else
		fprintf(out, "closing the session costs: %" PRIu32 " sectors (%.1f MiB: %s)\n", gap, mib(gap), how);
	if (empty && dash) /* CD-R and DVD-R finalize by closing a session with something in it */
		fprintf(out, "finalizing: only once something is written into the open session\n");
	else
		fprintf(out, "finalizing: no session can follow; costs no more than closing\n");
}

static void print_write_once(FILE *out, const struct mmc_probe *p, const char *source)
{
	const char *status = p->disc_status == 0 ? "blank" : p->finalized ? "closed (finalized)" : "appendable";
	const char *last = p->finalized ? "closed" : p->session_state == 0 ? "empty" : "open";
	fprintf(out, "disc status: %s\n", status);
	fprintf(out, "sessions: %u (the last one %s)\n", p->sessions, last);
	fprintf(out, "tracks: %u\n", p->tracks);
	if (p->last_complete)
		fprintf(out, "last closed session: %u, starting at sector %" PRIu32 "\n", p->last_complete,
			p->last_complete_start);
	fprintf(out, "last session starts at: sector %" PRIu32 "\n", p->session_start);
	if (p->recorded)
		fprintf(out, "recorded: up to sector %" PRIu32 "\n", p->last_recorded);
	else
		fprintf(out, "recorded: nothing\n");
	if (p->nwa_valid)
		fprintf(out, "next writable address: %" PRIu32 "\n", p->nwa);
	else
		fprintf(out, "next writable address: none\n");
	fprintf(out, "free: %" PRIu32 " sectors (%.1f MiB)\n", p->free_sectors, mib(p->free_sectors));
	fprintf(out, "capacity: %u sectors (%.1f MiB)\n", p->sectors, mib(p->sectors));
	if (p->link_sectors)
		fprintf(out, "write unit: variable packets of up to %u sectors, %" PRIu32 " link sectors after each\n",
			p->packet_sectors, p->link_sectors);
	else
		fprintf(out, "write unit: %u sectors (%u KiB)\n", p->packet_sectors, p->packet_sectors * 2);
	if (!p->finalized && p->disc_status != 0)
		print_close_cost(out, p);
	fprintf(out, "writable: %s\n", p->problem[0] ? "no" : "yes");
	print_note(out, p, source);
}

void info_print(FILE *out, const char *source, const struct mmc_info *in)
{
	const struct mmc_probe *p = &in->probe;

	fprintf(out, "drive: %s %s %s\n", p->inq.vendor, p->inq.product, p->inq.revision);
	if (in->have_profiles) {
		fprintf(out, "profiles:");
		for (unsigned i = 0; i < in->nprofiles; i++)
			fprintf(out, " %s%s", mmc_profile_name(in->profiles[i].code),
				in->profiles[i].current ? "*" : "");
		fprintf(out, "\n");
	}
	if (p->max_write_kbs)
		fprintf(out, "max write speed: %u kB/s\n", p->max_write_kbs);
	if (!in->have_medium) {
		fprintf(out, "medium: none (%s)\n", in->no_medium);
		return;
	}
	fprintf(out, "medium: %s (profile %04Xh)\n", p->kind, p->profile);
	if (p->write_once) {
		print_write_once(out, p, source);
		return;
	}
	fprintf(out, "disc status: %s\n", disc_status_name(p->disc_status));
	fprintf(out, "formatted for packet writing: %s\n", p->formatted ? "yes" : "no");
	fprintf(out, "capacity: %u sectors (%.1f MiB)\n", p->sectors, p->sectors * 2048.0 / 1048576.0);
	fprintf(out, "packet size: %u sectors (%u KiB)\n", p->packet_sectors, p->packet_sectors * 2);
	fprintf(out, "erasable: %s\n", p->erasable ? "yes" : "no");
	fprintf(out, "writable: %s\n", p->problem[0] ? "no" : "yes");
	if (in->have_wear)
		fprintf(out, "wear: highest packet rewritten %llu times\n", (unsigned long long)in->max_wear);
	else
		fprintf(out, "wear: unknown (drives do not report it)\n");
	print_note(out, p, source);
}

static int print_one_commit(void *ctx, uint32_t index, uint64_t sector, struct timespec when, uint32_t files,
			    uint32_t dirs)
{
	char t[64];
	struct tm tm;
	time_t sec = when.tv_sec;

	(void)ctx;
	if (!gmtime_r(&sec, &tm) || !strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(t, sizeof(t), "time unknown");
	printf("  %" PRIu32 ": %s, %" PRIu32 " file%s, %" PRIu32 " director%s, VAT at sector %" PRIu64 "%s\n", index, t,
	       files, files == 1 ? "" : "s", dirs, dirs == 1 ? "y" : "ies", sector, index == 0 ? " (the newest)" : "");
	return 0;
}

/* The commits (VATs) of a write-once disc, newest first, numbered as -o snapshot= counts them; a disc
 * without a UDF volume (blank, or another file system) gets a line saying so. */
/* Mounts SOURCE's UDF read-only and calls show with it; prints "WHAT: unknown/none (reason)" when it cannot. */
static void with_udf(const char *source, bool drive, const char *what,
		     void (*show)(struct udf_fs *, struct pkt_cache *))
{
	char err[512];
	struct pkt_blockdev *dev = NULL;
	struct mmc_source_options mo = {.read_only = true, .quiet = true};
	struct image_dev_options io_opts = {.read_only = true};

	if (drive ? mmc_source_open(source, &mo, &dev, err, sizeof(err)) != 1
		  : !(dev = image_dev_open(source, &io_opts, err, sizeof(err)))) {
		printf("%s: unknown (%s)\n", what, err);
		return;
	}
	struct pkt_cache *cache = NULL;
	struct pkt_cache_config cc = {.cache_bytes = 1u << 20};
	struct udf_fs *fs = NULL;
	struct udf_mount_opts mopts = {.read_only = true};
	struct udf_io io;
	if (pkt_cache_create(dev, &cc, &cache, err, sizeof(err)) == 0) {
		udf_cache_io_init(&io, cache, false);
		if (udf_mount(&io, &mopts, &fs, err, sizeof(err)) == 0) {
			show(fs, cache);
			udf_unmount(fs);
		} else {
			printf("%s: none (%s)\n", what, err);
		}
		pkt_cache_destroy(cache);
	} else {
		printf("%s: unknown (%s)\n", what, err);
	}
	pkt_blockdev_close(dev);
}

static void show_commits(struct udf_fs *fs, struct pkt_cache *cache)
{
	(void)cache;
	printf("commits: (newest first; -o snapshot=N mounts the disc as it was N commits before its newest)\n");
	if (udf_commit_list(fs, print_one_commit, NULL) < 0)
		printf("  none: the volume has no VAT\n");
}

static void print_commits(const char *source, bool drive)
{
	with_udf(source, drive, "commits", show_commits);
}

/* The wear record the daemon keeps of this disc (wear.h): its hottest packets and the life left. */
static const char *info_medium;
static void show_wear(struct udf_fs *fs, struct pkt_cache *cache)
{
	const struct pkt_geometry *g = pkt_cache_geometry(cache);
	struct pktfuse_wear *w = pktfuse_wear_open(udf_volume_set_ident(fs), g->packet_sectors, info_medium);
	char buf[2048];

	if (!w)
		return;
	pktfuse_wear_render(w, cache, buf, sizeof(buf));
	fputs(buf, stdout);
	free(w);
}

int cmd_info(int argc, char **argv)
{
	char err[512];

	if (argc != 2) {
		fprintf(stderr, "usage: pktfuse info SOURCE\n");
		return 2;
	}
	enum source_kind kind = source_classify(argv[1], NULL, err, sizeof(err));
	/* A missing path or a directory is the image backend's to word, as for the daemon. */
	if (kind == SOURCE_EMULATOR || kind == SOURCE_DRIVE || kind == SOURCE_OTHER) {
		struct mmc_info info;
		if (mmc_cmd_info(argv[1], &info, err, sizeof(err)) != 0) {
			fprintf(stderr, "pktfuse: %s\n", err);
			return 1;
		}
		info_print(stdout, argv[1], &info);
		if (info.have_medium && info.probe.write_once && info.probe.recorded) {
			fflush(stdout);
			print_commits(argv[1], true);
		} else if (info.have_medium && !info.probe.write_once) {
			fflush(stdout);
			info_medium = info.probe.kind;
			with_udf(argv[1], true, "wear", show_wear);
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
	uint64_t wo_capacity;
	uint32_t wo_unit;
	if (wo_image_probe(argv[1], &wo_capacity, &wo_unit)) {
		printf("write-once disc: an image of one (UDF with a VAT), %" PRIu64 " sectors of capacity\n",
		       wo_capacity);
		print_commits(argv[1], false);
	} else {
		with_udf(argv[1], false, "wear", show_wear);
	}
	return 0;
}
