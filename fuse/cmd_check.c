/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse check SOURCE [--repair]`: the UDF check (core/udf/udf_fsck.h) of an image file, the emulator
 * or a drive, with fsck's exit codes.  A plain check opens SOURCE read-only. */
#define _GNU_SOURCE
#include "cmd.h"
#include "image_dev.h"
#include "pkt_cache.h"
#include "source.h"
#include "udf_cache_io.h"
#include "udf_fsck.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* fsck's exit codes */
enum { CHECK_CLEAN = 0, CHECK_REPAIRED = 1, CHECK_LEFT = 4, CHECK_FAILED = 8 };

#define CHECK_USAGE "usage: pktfuse check SOURCE [--repair]"

#define CHECK_HELP                                                                                              \
	CHECK_USAGE                                                                                             \
	"\n"                                                                                                    \
	"\n"                                                                                                    \
	"Checks the UDF file system on SOURCE (an image file, emu:PROFILE:IMAGE or a drive), as after an\n"     \
	"unclean shutdown, and more: the integrity descriptor, the space bitmap against the blocks in use,\n"   \
	"link counts, orphans, names recorded twice, directories with two names, every extent read back,\n"     \
	"the sparing table, a UDF 2.50/2.60 metadata partition's bitmap and mirror.  One line per finding,\n"   \
	"then a summary.  Without --repair SOURCE is opened read-only and nothing is written.\n"                \
	"\n"                                                                                                    \
	"    --repair    fix what can be proven (the bitmap rebuilt, link counts, a directory's second name,\n" \
	"                a name's second record, orphans into /lost+found, the integrity descriptor closed);\n" \
	"                a disc that cannot be read fully is left as it is\n"                                   \
	"    -h, --help  this text\n"                                                                           \
	"\n"                                                                                                    \
	"Exit status: 0 clean, 1 repaired, 4 problems left uncorrected, 8 operational error.\n"

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static void print_line(void *ctx, enum udf_fsck_line kind, const char *line)
{
	static const char *const prefix[] = {[UDF_FSCK_INFO] = "",
					     [UDF_FSCK_PROBLEM] = "",
					     [UDF_FSCK_REPAIR] = "repaired: ",
					     [UDF_FSCK_LEFT] = "left: "};
	(void)ctx;
	printf("%s%s\n", prefix[kind], line);
	fflush(stdout);
}

/* Opens SOURCE (the emulator or a drive through the mmc layer, else an image file). */
static struct pkt_blockdev *open_source(const char *source, bool writable, char *err, size_t errlen)
{
	struct mmc_source_options mo = {.read_only = !writable, .quiet = true};
	struct pkt_blockdev *dev = NULL;
	int r = mmc_source_open(source, &mo, &dev, err, errlen);

	if (r < 0)
		return NULL;
	if (r == 1)
		return dev;
	struct image_dev_options io = {.read_only = !writable, .lock = true};
	return image_dev_open(source, &io, err, errlen);
}

static int check(const char *source, bool repair)
{
	char err[512];
	struct pkt_blockdev *dev = open_source(source, repair, err, sizeof(err));

	if (!dev) {
		fprintf(stderr, "pktfuse: check: %s\n", err);
		return CHECK_FAILED;
	}
	struct pkt_cache *cache;
	struct pkt_cache_config cc = {0};
	if (pkt_cache_create(dev, &cc, &cache, err, sizeof(err)) != 0) {
		fprintf(stderr, "pktfuse: check: %s: %s\n", source, err);
		pkt_blockdev_close(dev);
		return CHECK_FAILED;
	}
	struct udf_io io;
	struct udf_fsck_result res;
	udf_cache_io_init(&io, cache, repair);
	int rc = udf_fsck(&io, repair, print_line, NULL, &res, err, sizeof(err));
	int drc = pkt_cache_destroy(cache);
	pkt_blockdev_close(dev);
	if (rc == 0 && drc)
		snprintf(err, sizeof(err), "the repair could not be written to the medium (%s)", strerror(-drc));
	if (rc || drc) {
		fprintf(stderr, "pktfuse: check: %s: %s\n", source, err);
		return CHECK_FAILED;
	}
	printf("%s: %llu files, %llu directories: ", source, (unsigned long long)res.files,
	       (unsigned long long)res.dirs);
	if (res.problems == 0) {
		printf("clean\n");
		return CHECK_CLEAN;
	}
	if (!repair) {
		printf("%llu problem%s (pktfuse check --repair fixes what it can prove)\n",
		       (unsigned long long)res.problems, plural(res.problems));
		return CHECK_LEFT;
	}
	if (res.repaired && res.left == 0) {
		printf("%llu problem%s, all repaired\n", (unsigned long long)res.problems, plural(res.problems));
		return CHECK_REPAIRED;
	}
	printf("%llu problem%s, %llu left uncorrected%s\n", (unsigned long long)res.problems, plural(res.problems),
	       (unsigned long long)res.left, res.repaired ? "" : ", nothing written");
	return CHECK_LEFT;
}

int cmd_check(int argc, char **argv)
{
	const char *source = NULL;
	bool repair = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(CHECK_HELP, stdout);
			return CHECK_CLEAN;
		}
		if (!strcmp(argv[i], "--repair")) {
			repair = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "pktfuse: check: unknown option %s\n%s\n", argv[i], CHECK_USAGE);
			return CHECK_FAILED;
		} else if (source) {
			fprintf(stderr, "pktfuse: check: one SOURCE only\n%s\n", CHECK_USAGE);
			return CHECK_FAILED;
		} else {
			source = argv[i];
		}
	}
	if (!source) {
		fprintf(stderr, "%s\n", CHECK_USAGE);
		return CHECK_FAILED;
	}
	return check(source, repair);
}
