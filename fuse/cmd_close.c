/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pktfuse close SOURCE [--finalize]`: closes the open session of a write-once disc (CD-R, DVD-R,
 * DVD+R) in a drive or the emulator, so that other drives read it, or finalizes it.  What it costs is
 * said first, as `pktfuse info` says it.  An image file is refused: it has no lead-in or lead-out to
 * write, and a "closed" mark in it would not survive a copy. */
#define _GNU_SOURCE
#include "cmd.h"
#include "blockdev.h"
#include "info_print.h"
#include "source.h"
#include "source_kind.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CLOSE_USAGE "usage: pktfuse close SOURCE [--finalize]"
#define CLOSE_HELP                                                                                            \
	CLOSE_USAGE                                                                                           \
	"\n"                                                                                                  \
	"\n"                                                                                                  \
	"Closes the open session of the write-once disc (CD-R, DVD-R, DVD+R) in SOURCE (a drive or\n"         \
	"emu:PROFILE:IMAGE), so that drives which read only closed sessions read it; the next mount starts\n" \
	"a new session.  On CD-R and DVD-R a closed session costs space (lead-out and lead-in, or border):\n" \
	"how much is said first (pktfuse info SOURCE says it too).  The disc must not be mounted.\n"          \
	"\n"                                                                                                  \
	"    --finalize  close the disc: nothing more can be written; it mounts read-only from then on\n"     \
	"    -h, --help  this text\n"                                                                         \
	"\n"                                                                                                  \
	"An image file has no session to close: it is refused (burn it to a disc, or mount it as it is).\n"

/* Whether the disc can be closed as asked: false with the reason on stderr. */
static bool closable(const char *source, const struct mmc_info *in, bool finalize)
{
	const struct mmc_probe *p = &in->probe;
	const char *why = NULL;
	bool dash = p->profile == MMC_PROFILE_CDR || p->profile == MMC_PROFILE_DVDR;

	if (!in->have_medium)
		why = in->no_medium[0] ? in->no_medium : "no disc in the drive";
	else if (!p->write_once)
		why = "the disc is rewritable: only write-once discs (CD-R, DVD-R, DVD+R) have sessions to close";
	else if (p->finalized)
		why = "the disc is finalized already";
	else if (p->disc_status == 0)
		why = "the disc is blank: nothing to close (format it with pktfuse format first)";
	else if (p->session_state == 0 && p->sessions > 1 && (!finalize || dash))
		why = finalize ? "the open session is empty: a CD-R or DVD-R is finalized by closing a session with "
				 "something in it"
			       : "the open session is empty: nothing to close";
	if (why)
		fprintf(stderr, "pktfuse: close: %s: %s\n", source, why);
	return why == NULL;
}

static int close_disc(const char *source, bool finalize)
{
	char err[512];
	struct mmc_info info;

	enum source_kind kind = source_classify(source, NULL, err, sizeof(err));
	if (kind == SOURCE_IMAGE) {
		fprintf(stderr, "pktfuse: close: %s is an image file: an image has no session to close\n", source);
		return 1;
	}
	if (kind != SOURCE_EMULATOR && kind != SOURCE_DRIVE) {
		fprintf(stderr, "pktfuse: close: %s\n", err);
		return 1;
	}
	if (mmc_cmd_info(source, &info, err, sizeof(err)) != 0) {
		fprintf(stderr, "pktfuse: close: %s\n", err);
		return 1;
	}
	if (!closable(source, &info, finalize))
		return 1;
	print_close_cost(stdout, &info.probe);
	fflush(stdout);
	struct mmc_source_options mo = {.quiet = true};
	struct pkt_blockdev *dev = NULL;
	if (mmc_source_open(source, &mo, &dev, err, sizeof(err)) != 1) {
		fprintf(stderr, "pktfuse: close: %s\n", err);
		return 1;
	}
	int rc = pkt_blockdev_close_session(dev, finalize ? PKT_CLOSE_FINALIZE : PKT_CLOSE_SESSION);
	pkt_blockdev_close(dev);
	if (rc) {
		fprintf(stderr, "pktfuse: close: %s: the drive did not %s: %s\n", source,
			finalize ? "finalize the disc" : "close the session", strerror(-rc));
		return 1;
	}
	printf("%s: %s\n", source,
	       finalize ? "finalized: it takes no more writes and mounts read-only"
			: "session closed: the next mount appends a new session");
	return 0;
}

int cmd_close(int argc, char **argv)
{
	const char *source = NULL;
	bool finalize = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(CLOSE_HELP, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--finalize")) {
			finalize = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "pktfuse: close: unknown option %s\n%s\n", argv[i], CLOSE_USAGE);
			return 2;
		} else if (source) {
			fprintf(stderr, "pktfuse: close: one SOURCE only\n%s\n", CLOSE_USAGE);
			return 2;
		} else {
			source = argv[i];
		}
	}
	if (!source) {
		fprintf(stderr, "%s\n", CLOSE_USAGE);
		return 2;
	}
	return close_disc(source, finalize);
}
