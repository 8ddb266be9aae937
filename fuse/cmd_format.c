/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse format SOURCE [options]`: its argument parser, the medium format (drives and the emulator)
 * and the empty UDF file system written through a packet cache. */
#define _GNU_SOURCE
#include "cmd.h"
#include "fs_sniff.h"
#include "image_dev.h"
#include "info_print.h"
#include "mmc_dev.h"
#include "mmc_profiles.h"
#include "pkt_cache.h"
#include "source.h"
#include "source_kind.h"
#include "udf_cache_io.h"
#include "udf_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_USAGE                                                                                          \
	"usage: pktfuse format SOURCE [--quick|--full] [--force] [--no-udf] [--label L] [--uid N] [--gid N] " \
	"[--mode OCTAL] [--revision 1.02|1.50|2.00|2.01|2.50|2.60] [--block-size 512|1024|2048|4096] "        \
	"[--media hd|cdrw|dvdrw|dvdram|dvd+rw|bdre|cdr|dvdr|dvd+r|bdr]"

#define FORMAT_HELP                                                                                          \
	FORMAT_USAGE                                                                                         \
	"\n"                                                                                                 \
	"\n"                                                                                                 \
	"Brings a disc (a drive or emu:) to a packet-writable state, then writes an empty UDF file system\n" \
	"laid out for the medium; an image file gets the file system only.\n"                                \
	"\n"                                                                                                 \
	"    --quick, --full   a quick medium format where the medium allows one (default), or a full one\n" \
	"    --force           erase a disc that holds data, or overwrite an image holding a file system\n"  \
	"    --no-udf          format the medium only, write no file system (not for image files)\n"         \
	"    --label L         volume label (at most 30 Latin-1 or 15 other characters; default LinuxUDF)\n" \
	"    --uid N, --gid N  owner and group of the root directory\n"                                      \
	"    --mode OCTAL      permissions of the root directory (default 0755)\n"                           \
	"    --revision R      UDF revision 1.02 (not on CD-RW, DVD-RW), 1.50, 2.00 or 2.01 (default);\n"    \
	"                      2.50 or 2.60: rewritable media with a metadata partition (Linux reads it,\n"  \
	"                      writes up to 2.01), write-once discs with a VAT (2.50 the default on BD-R)\n" \
	"    --block-size N    UDF logical block size 512, 1024, 2048 (default) or 4096 bytes; sparable\n"   \
	"                      (cdrw, dvdrw) and write-once layouts take 2048 only\n"                        \
	"    --media TYPE      image files only: the layout (hd: plain, default; cdrw, dvdrw: sparable;\n"   \
	"                      dvdram, dvd+rw, bdre: plain; cdr, dvdr, dvd+r, bdr: an image of a write-\n"   \
	"                      once disc, UDF with a VAT, that grows as it is written)\n"                    \
	"    -h, --help        this text\n"

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
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "Writing the UDF file system\n");
	int rc = udf_format(uo, udf_cache_write, cache, size, err, sizeof(err));
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
	unsigned rev = udf_format_revision(uo);
	if (l.vat) {
		printf("%s: UDF %x.%02x with a VAT on %s: partition at block %u, %u blocks of %u bytes, %u recorded, "
		       "label \"%s\"\n",
		       source, rev >> 8, rev & 0xff, what, l.part_start, l.part_len, PKT_SECTOR_SIZE, l.vat + 1,
		       uo->label);
		return 0;
	}
	printf("%s: UDF %x.%02x on %s: %s partition at block %u, %u blocks of %u bytes (%u free)", source, rev >> 8,
	       rev & 0xff, what, l.packet_len ? "sparable" : "plain", l.part_start, l.part_len,
	       uo->block_size ? uo->block_size : 2048u, l.part_len - l.used);
	if (l.packet_len)
		printf(", packets of %u, %u spare packets", l.packet_len, l.spare_blocks / l.packet_len);
	if (l.meta_unit)
		printf(", metadata partition of %u blocks (mirrored)", l.meta_blocks);
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

/* A format's progress as a bar on the terminal, in words: "Formatting the CD-RW: [#####     ]  12%".
 * ctx: the format's result, whose kind names the medium before the first step. */
static void draw_progress(void *ctx, const char *step, unsigned pct)
{
	const struct mmc_format_result *fr = ctx;
	const char *doing = !strcmp(step, "BLANK") ? "Blanking" : !strcmp(step, "FORMAT UNIT") ? "Formatting" : step;
	char bar[41];

	memset(bar, '#', pct * 40 / 100);
	bar[pct * 40 / 100] = 0;
	fprintf(stderr, "\r%s the %s: [%-40s] %3u%%%s", doing, fr && fr->kind[0] ? fr->kind : "disc", bar, pct,
		pct == 100 ? "\n" : "");
}

/* The command line of `pktfuse format`. */
struct format_args {
	struct mmc_format_options fo;
	struct udf_format_opts uo;
	const char *source;
	bool no_udf, media_given, help;
};

/* Parses argv into fa (stopping at --help, which sets fa->help).  0, or the exit status 2 after a
 * one-line error. */
static int parse_format_args(int argc, char **argv, struct format_args *fa)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		static const char *const valued[] = {"--label",	   "--uid",	   "--gid",  "--mode",
						     "--revision", "--block-size", "--media"};
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
				fa->uo.label = val;
			} else if (!strcmp(name, "--uid") || !strcmp(name, "--gid")) {
				if (!parse_id(val, &v)) {
					fprintf(stderr, "pktfuse: format: %s '%s': not a numeric id\n", name, val);
					return 2;
				}
				if (name[2] == 'u')
					fa->uo.uid = (uid_t)v;
				else
					fa->uo.gid = (gid_t)v;
			} else if (!strcmp(name, "--mode")) {
				errno = 0;
				v = strtoul(val, &end, 8);
				if (!*val || *end || errno || v > 07777 || *val == '-' || *val == '+') {
					fprintf(stderr, "pktfuse: format: --mode '%s': not an octal mode (0000-7777)\n",
						val);
					return 2;
				}
				fa->uo.root_mode = (mode_t)v;
			} else if (!strcmp(name, "--revision")) {
				if (!strcmp(val, "1.02"))
					fa->uo.revision = 0x0102;
				else if (!strcmp(val, "1.50"))
					fa->uo.revision = 0x0150;
				else if (!strcmp(val, "2.00"))
					fa->uo.revision = 0x0200;
				else if (!strcmp(val, "2.01"))
					fa->uo.revision = 0x0201;
				else if (!strcmp(val, "2.50"))
					fa->uo.revision = 0x0250;
				else if (!strcmp(val, "2.60"))
					fa->uo.revision = 0x0260;
				else {
					fprintf(stderr,
						"pktfuse: format: --revision '%s': write 1.02, 1.50, 2.00, 2.01, 2.50 "
						"or 2.60\n",
						val);
					return 2;
				}
			} else if (!strcmp(name, "--block-size")) {
				errno = 0;
				v = strtoul(val, &end, 10);
				if (!*val || *end || errno || (v != 512 && v != 1024 && v != 2048 && v != 4096)) {
					fprintf(stderr,
						"pktfuse: format: --block-size '%s': one of 512, 1024, 2048 or 4096\n",
						val);
					return 2;
				}
				fa->uo.block_size = (uint32_t)v;
			} else {
				int m = udf_media_parse(val);
				if (m < 0) {
					fprintf(stderr,
						"pktfuse: format: --media '%s': one of hd, cdrw, dvdrw, dvdram, "
						"dvd+rw, bdre, cdr, dvdr, dvd+r, bdr\n",
						val);
					return 2;
				}
				fa->uo.media = (enum udf_media)m;
				fa->media_given = true;
			}
		} else if (!strcmp(a, "--quick"))
			fa->fo.quick = true;
		else if (!strcmp(a, "--full"))
			fa->fo.full = true;
		else if (!strcmp(a, "--force"))
			fa->fo.force = true;
		else if (!strcmp(a, "--no-udf"))
			fa->no_udf = true;
		else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fa->help = true;
			return 0;
		} else if (a[0] == '-') {
			fprintf(stderr, "pktfuse: format: unknown option '%s' (see pktfuse(1))\n", a);
			return 2;
		} else if (fa->source) {
			fprintf(stderr, "pktfuse: format: one SOURCE only ('%s' and '%s')\n", fa->source, a);
			return 2;
		} else
			fa->source = a;
	}
	return 0;
}

/* An image file: UDF straight onto the file, after the checks a disc does not need. */
static int format_image(struct format_args *fa, const struct stat *st)
{
	char err[512];

	if (fa->no_udf) {
		fprintf(stderr,
			"pktfuse: format: %s is an image file: it needs no medium formatting, and "
			"--no-udf leaves nothing to do\n",
			fa->source);
		return 2;
	}
	if (fa->fo.quick || fa->fo.full) {
		fprintf(stderr, "pktfuse: format: --quick and --full format a disc; %s is an image file\n", fa->source);
		return 2;
	}
	if (st->st_size < 1024 * 1024) {
		fprintf(stderr,
			"pktfuse: %s: %lld bytes is too small for UDF (at least 1 MiB: make it with "
			"truncate -s SIZE)\n",
			fa->source, (long long)st->st_size);
		return 1;
	}
	struct image_dev_options io = {.packet_sectors = udf_media_packet(fa->uo.media), .strict = true, .lock = true};
	struct pkt_blockdev *dev = image_dev_open(fa->source, &io, err, sizeof(err));
	if (!dev) {
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	const char *found = dev_signature(dev);
	if (found && !fa->fo.force) {
		fprintf(stderr, "pktfuse: %s already holds %s: add --force to overwrite it\n", fa->source, found);
		pkt_blockdev_close(dev);
		return 1;
	}
	if (fa->uo.media == UDF_MEDIA_CDRW || fa->uo.media == UDF_MEDIA_DVDRW)
		fa->uo.packet_len = dev->geo.packet_sectors;
	char what[64];
	snprintf(what, sizeof(what), "an image file (%s layout)", udf_media_name(fa->uo.media));
	int rc = format_udf(fa->source, dev, &fa->uo, what);
	pkt_blockdev_close(dev);
	return rc;
}

static int fd_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	int fd = *(int *)ctx;

	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (const uint8_t *)buf + n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* An image of a write-once disc: what a blank disc of that type holds after the format, and no
 * more (its length is the recorded part; the partition reaches to the disc's nominal capacity). */
static int format_write_once_image(struct format_args *fa, const struct stat *st)
{
	char err[512];
	struct udf_format_layout l;
	uint64_t cap = udf_media_capacity(fa->uo.media) * PKT_SECTOR_SIZE;

	if (fa->no_udf || fa->fo.quick || fa->fo.full) {
		fprintf(stderr, "pktfuse: format: %s is an image file: --no-udf, --quick and --full format a disc\n",
			fa->source);
		return 2;
	}
	if (udf_format_plan(&fa->uo, cap, &l, err, sizeof(err)) != 0) {
		fprintf(stderr, "pktfuse: format: --media %s: %s\n", udf_media_name(fa->uo.media), err);
		return 2;
	}
	if (st && st->st_size > 0 && !fa->fo.force) {
		fprintf(stderr, "pktfuse: %s is not empty: add --force to replace it by a blank %s image\n", fa->source,
			udf_media_name(fa->uo.media));
		return 1;
	}
	int fd = open(fa->source, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "pktfuse: %s: %s\n", fa->source, strerror(errno));
		return 1;
	}
	int rc = udf_format(&fa->uo, fd_write, &fd, cap, err, sizeof(err));
	if (rc == 0 && fsync(fd) != 0) {
		rc = -errno;
		snprintf(err, sizeof(err), "%s", strerror(errno));
	}
	close(fd);
	if (rc) {
		fprintf(stderr, "pktfuse: %s: %s\n", fa->source, err);
		return 1;
	}
	unsigned rev = udf_format_revision(&fa->uo);
	printf("%s: UDF %x.%02x with a VAT on an image of a blank %s: partition at block %u, %u blocks of %u "
	       "bytes, %u recorded, label \"%s\"\n",
	       fa->source, rev >> 8, rev & 0xff, udf_media_name(fa->uo.media), l.part_start, l.part_len,
	       PKT_SECTOR_SIZE, l.vat + 1, fa->uo.label);
	return 0;
}

/* A drive or the emulator: the medium format, then UDF laid out for the medium it left. */
static int format_disc(struct format_args *fa)
{
	struct mmc_format_result fr = {0};
	char err[512];

	fa->fo.result = &fr;
	fa->fo.progress_ctx = &fr;
	if (fa->media_given) {
		fprintf(stderr,
			"pktfuse: format: --media applies to image files; the type of the disc in %s decides "
			"its layout\n",
			fa->source);
		return 2;
	}
	/* A drive or the emulator: say what the disc holds before the medium format erases it. */
	if (!fa->fo.force) {
		struct mmc_source_options mo = {.read_only = true, .quiet = true};
		struct pkt_blockdev *dev = NULL;
		if (mmc_source_open(fa->source, &mo, &dev, err, sizeof(err)) == 1) {
			const char *found = dev_signature(dev);
			pkt_blockdev_close(dev);
			if (found) {
				fprintf(stderr, "pktfuse: %s: the disc holds %s: add --force to erase it\n", fa->source,
					found);
				return 1;
			}
		}
	}
	enum mmc_problem problem;
	fa->fo.problem = &problem;
	if (mmc_cmd_format(fa->source, &fa->fo, err, sizeof(err)) != 0) {
		disc_problem_advise(problem, fa->source, err, sizeof(err));
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	if (fa->no_udf)
		return 0;
	enum udf_media m = (enum udf_media)udf_media_parse(mmc_format_media_name(&fr));
	fa->uo.media = m;
	struct mmc_source_options mo = {.quiet = true};
	struct pkt_blockdev *dev = NULL;
	if (mmc_source_open(fa->source, &mo, &dev, err, sizeof(err)) != 1) {
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	mmc_dev_set_quiet(dev, false);
	if (m == UDF_MEDIA_CDRW || m == UDF_MEDIA_DVDRW)
		fa->uo.packet_len = dev->geo.packet_sectors;
	if (udf_media_write_once(m))
		fa->uo.link_blocks = dev->geo.link_sectors; /* a CD-R loses 7 after every packet */
	char what[96];
	snprintf(what, sizeof(what), "the %s", fr.kind);
	int rc = format_udf(fa->source, dev, &fa->uo, what);
	pkt_blockdev_close(dev);
	return rc;
}

/* `pktfuse format SOURCE [options]`: brings the medium to a packet-writable state (drives and the
 * emulator), then writes an empty UDF file system laid out for the medium (drives, the emulator and
 * image files). */
int cmd_format(int argc, char **argv)
{
	struct format_args fa = {
		.fo = {.progress = isatty(2) ? draw_progress : NULL},
		.uo = {.revision = 0, /* udf_format_revision: by the medium */
		       .label = "LinuxUDF",
		       .uid = (uid_t)-1,
		       .gid = (gid_t)-1,
		       .root_mode = 0755,
		       .media = UDF_MEDIA_HD},
	};
	char err[512];
	int rc = parse_format_args(argc, argv, &fa);

	if (rc)
		return rc;
	if (fa.help) {
		fputs(FORMAT_HELP, stdout);
		return 0;
	}
	if (!fa.source) {
		fputs(FORMAT_HELP, stderr);
		return 2;
	}
	if (fa.fo.quick && fa.fo.full) {
		fprintf(stderr, "pktfuse: format: --quick and --full exclude each other\n");
		return 2;
	}
	/* The label must fit the volume identifier: check before anything is erased. */
	const char *label_problem = udf_label_problem(fa.uo.label);
	if (label_problem) {
		fprintf(stderr, "pktfuse: format: --label '%s': %s\n", fa.uo.label, label_problem);
		return 2;
	}

	struct stat st;
	if (udf_media_write_once(fa.uo.media) && stat(fa.source, &st) != 0 && errno == ENOENT)
		return format_write_once_image(&fa, NULL);
	enum source_kind kind = source_classify(fa.source, &st, err, sizeof(err));
	if (kind == SOURCE_MISSING || kind == SOURCE_DIRECTORY) {
		fprintf(stderr, "pktfuse: %s\n", err);
		return 1;
	}
	/* the emulator, a drive; anything else the mmc layer refuses */
	if (kind == SOURCE_IMAGE && udf_media_write_once(fa.uo.media))
		return format_write_once_image(&fa, &st);
	return kind == SOURCE_IMAGE ? format_image(&fa, &st) : format_disc(&fa);
}
