/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "source.h"
#include "mmc_be.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "emu/emu.h"
#include "mmc_dev.h"
#include "source_kind.h"

/* Opens the transport for SOURCE.  1 with *t set, 0 when SOURCE is a plain file, -1 on error.  create: a
 * missing emulated disc is made (pktfuse format); otherwise only an explicit size= makes one. */
static int open_transport(const char *source, bool read_only, bool create, struct mmc_transport **t, char *err,
			  size_t errlen)
{
	*t = NULL;
	if (!source || !*source) {
		snprintf(err, errlen, "no source given");
		return -1;
	}
	switch (source_classify(source, NULL, err, errlen)) {
	case SOURCE_EMULATOR: {
		struct emu_open_options eo = {.read_only = read_only, .create = create};
		*t = emu_open_opts(source + 4, &eo, err, errlen);
		return *t ? 1 : -1;
	}
	case SOURCE_IMAGE:
		return 0;
	case SOURCE_DRIVE:
		break;
	default: /* missing, a directory, neither a drive nor an image file: err says which */
		return -1;
	}
	*t = mmc_sg_open(source, read_only, err, errlen);
	return *t ? 1 : -1;
}

/* open_transport for a command that needs a drive: an image file is refused, the message ending in
 * why_not_image.  0 or -1 with the message in err. */
static int open_drive(const char *source, bool read_only, bool create, const char *why_not_image,
		      struct mmc_transport **t, char *err, size_t errlen)
{
	int rc = open_transport(source, read_only, create, t, err, errlen);

	if (rc == 0)
		snprintf(err, errlen, "%s: an image file, not a drive%s", source, why_not_image);
	return rc > 0 ? 0 : -1;
}

int mmc_source_open(const char *source, const struct mmc_source_options *opt, struct pkt_blockdev **out, char *err,
		    size_t errlen)
{
	struct mmc_transport *t;
	int rc = open_transport(source, opt->read_only, false, &t, err, errlen);

	*out = NULL;
	if (opt->problem)
		*opt->problem = MMC_PROBLEM_NONE;
	if (rc <= 0)
		return rc;
	struct mmc_dev_options mo = {
		.read_only = opt->read_only, .speed = opt->speed, .quiet = opt->quiet, .problem = opt->problem};
	*out = mmc_dev_open(t, source, &mo, err, errlen);
	return *out ? 1 : -1;
}

int mmc_cmd_info(const char *source, struct mmc_info *out, char *err, size_t errlen)
{
	struct mmc_transport *t;
	uint8_t cfg[512];
	uint32_t got = 0;

	memset(out, 0, sizeof(*out));
	if (open_drive(source, true, false, " (nothing to ask)", &t, err, errlen))
		return -1;
	struct mmc_ctx ctx = {.t = t, .quiet = true};
	int rc = mmc_probe_medium(&ctx, source, &out->probe, err, errlen);
	if (rc && out->probe.inq.vendor[0] == 0) {
		mmc_transport_close(t);
		return -1;
	}
	if (mmc_get_configuration(&ctx, 0, 0, cfg, sizeof(cfg), &got) == 0 && got >= 12 && mmc_get_be16(cfg + 8) == 0) {
		out->have_profiles = true;
		unsigned n = cfg[11];
		for (unsigned i = 0; i + 4 <= n && 12 + i + 4 <= sizeof(cfg) && out->nprofiles < MMC_INFO_MAX_PROFILES;
		     i += 4) {
			out->profiles[out->nprofiles].code = mmc_get_be16(cfg + 12 + i);
			out->profiles[out->nprofiles++].current = cfg[12 + i + 2] & 1;
		}
	}
	if (rc)
		snprintf(out->no_medium, sizeof(out->no_medium), "%s", err);
	out->have_medium = rc == 0;
	struct emu_counters ec;
	out->have_wear = emu_get_counters(t, &ec);
	out->max_wear = out->have_wear ? ec.max_wear : 0;
	mmc_transport_close(t);
	return 0;
}

/* Polls TEST UNIT READY until the drive finishes a format or blank, telling its progress. */
static int wait_progress(struct mmc_ctx *c, const char *what, const struct mmc_format_options *opt)
{
	unsigned shown = 101;

	for (unsigned polls = 0;; polls++) {
		int rc = mmc_test_unit_ready(c);
		if (rc != -EBUSY) {
			if (opt->progress)
				opt->progress(opt->progress_ctx, what, 100);
			return rc;
		}
		if (polls > 1000000)
			return -ETIMEDOUT;
		if (opt->progress && c->last.sksv && c->last.progress * 100u / 65535u != shown) {
			shown = c->last.progress * 100u / 65535u;
			opt->progress(opt->progress_ctx, what, shown);
		}
		mmc_transport_sleep(c->t, 1000);
	}
}

static int fail_sense(struct mmc_ctx *c, const char *source, const char *step, int rc, char *err, size_t errlen)
{
	char txt[160];

	snprintf(err, errlen, "%s: %s failed: %s", source, step, mmc_ctx_error(c, rc, txt, sizeof(txt)));
	return -1;
}

/* Waits out an IMMED format or blank that started with rc (0: started). 0, or -1 with err. */
static int finish(struct mmc_ctx *c, int rc, const char *source, const char *step, const struct mmc_format_options *opt,
		  char *err, size_t errlen)
{
	if (!rc)
		rc = wait_progress(c, step, opt);
	return rc ? fail_sense(c, source, step, rc, err, errlen) : 0;
}

static void fill_result(struct mmc_format_result *r, const struct mmc_probe *p)
{
	r->profile = p->profile;
	r->mrw = p->mrw;
	r->sectors = p->sectors;
	r->packet_sectors = p->packet_sectors;
	snprintf(r->kind, sizeof(r->kind), "%s", p->kind);
}

/* A write-once disc takes no FORMAT UNIT: a blank one is ready for its file system as it is; one that
 * holds anything can never be blank again.  0, or -1 with err. */
static int write_once_ready(const struct mmc_probe *p, const char *source, char *err, size_t errlen)
{
	if (p->disc_status == 0)
		return 0;
	snprintf(err, errlen, "%s: the %s is not blank, and a write-once disc cannot be erased", source, p->kind);
	return -1;
}

int mmc_cmd_format(const char *source, const struct mmc_format_options *opt, char *err, size_t errlen)
{
	struct mmc_transport *t;
	struct mmc_probe p;
	struct mmc_format_caps fc;
	int rc;

	if (opt->problem)
		*opt->problem = MMC_PROBLEM_NONE;
	if (opt->quick && opt->full) {
		snprintf(err, errlen, "a quick and a full format exclude each other");
		return -1;
	}
	if (open_drive(source, false, true, ": there is no medium to format", &t, err, errlen))
		return -1;
	struct mmc_ctx ctx = {.t = t, .quiet = true};
	if (mmc_probe_medium(&ctx, source, &p, err, errlen))
		goto fail;
	if (!p.packet_writable) {
		snprintf(err, errlen, "%s: %s", source, p.problem);
		if (opt->problem)
			*opt->problem = p.problem_code;
		goto fail;
	}
	if (opt->result) /* known before the first progress call, which may name the medium */
		snprintf(opt->result->kind, sizeof(opt->result->kind), "%s", p.kind);
	if (p.write_protected) {
		snprintf(err, errlen, "%s: the %s is write-protected", source, p.kind);
		goto fail;
	}
	if (p.write_once) {
		rc = write_once_ready(&p, source, err, errlen);
		if (!rc && opt->result)
			fill_result(opt->result, &p);
		mmc_transport_close(t);
		return rc;
	}
	if ((p.formatted || p.disc_status != 0) && !opt->force) {
		snprintf(err, errlen, "%s: the %s is %s and may hold data: add --force to erase it", source, p.kind,
			 p.formatted ? "already formatted" : "not blank");
		goto fail;
	}
	uint8_t type;
	uint32_t param = 0;
	switch (p.profile) {
	case MMC_PROFILE_CDRW:
		type = p.mrw ? MMC_FMT_MRW : MMC_FMT_CD_DVD_FP;
		param = p.mrw ? 0 : 32;
		break;
	case MMC_PROFILE_DVDRW_RO:
	case MMC_PROFILE_DVDRW_SEQ:
		type = opt->full ? MMC_FMT_CD_DVD_FP : MMC_FMT_DVDRW_QUICK;
		param = opt->full ? 16 : 0;
		break;
	case MMC_PROFILE_DVDPRW:
		type = p.mrw ? MMC_FMT_MRW : MMC_FMT_DVDPRW; /* DVD+MRW formats as MRW */
		break;
	case MMC_PROFILE_BDRE:
		type = MMC_FMT_BD_SPARE;
		break;
	default:
		type = MMC_FMT_FULL;
		break;
	}
	rc = mmc_read_format_capacities(&ctx, &fc);
	if (rc) {
		rc = fail_sense(&ctx, source, "READ FORMAT CAPACITIES", rc, err, errlen);
		goto fail_rc;
	}
	uint32_t blocks = 0;
	for (unsigned i = 0; i < fc.n; i++)
		if (fc.desc[i].type == type) {
			blocks = fc.desc[i].blocks;
			if (type == MMC_FMT_CD_DVD_FP && fc.desc[i].param)
				param = fc.desc[i].param;
		}
	if (!blocks) {
		snprintf(err, errlen, "%s: the drive offers no format of type %02Xh for this %s", source, type, p.kind);
		goto fail;
	}
	/* A used CD-RW (or one written otherwise) must be blanked before fixed packets can be laid down. */
	if (p.profile == MMC_PROFILE_CDRW && type == MMC_FMT_CD_DVD_FP && p.disc_status != 0) {
		rc = finish(&ctx, mmc_blank(&ctx, opt->full ? 0 : 1, true), source, "BLANK", opt, err, errlen);
		if (rc)
			goto fail_rc;
	}
	rc = finish(&ctx, mmc_format_unit(&ctx, type, blocks, param, true), source, "FORMAT UNIT", opt, err, errlen);
	if (rc)
		goto fail_rc;
	mmc_sync_cache(&ctx, false);
	if (mmc_probe_medium(&ctx, source, &p, err, errlen))
		goto fail;
	if (!p.formatted) {
		snprintf(err, errlen, "%s: the format finished but the %s still is not packet-writable", source,
			 p.kind);
		goto fail;
	}
	if (opt->result)
		fill_result(opt->result, &p);
	mmc_transport_close(t);
	return 0;
fail:
	rc = -1;
fail_rc:
	mmc_transport_close(t);
	return rc;
}

const char *mmc_format_media_name(const struct mmc_format_result *r)
{
	switch (r->profile) {
	case MMC_PROFILE_CDRW:
		return r->mrw ? "hd" : "cdrw"; /* Mount Rainier: the drive spares defects */
	case MMC_PROFILE_DVDRW_RO:
	case MMC_PROFILE_DVDRW_SEQ:
		return "dvdrw";
	case MMC_PROFILE_DVDRAM:
		return "dvdram";
	case MMC_PROFILE_BDRE:
		return "bdre";
	case MMC_PROFILE_CDR:
		return "cdr";
	case MMC_PROFILE_DVDR:
		return "dvdr";
	case MMC_PROFILE_DVDPR:
		return "dvd+r";
	case MMC_PROFILE_BDR:
		return "bdr";
	default:
		return "dvd+rw";
	}
}

int mmc_cmd_eject(const char *source, char *err, size_t errlen)
{
	struct mmc_transport *t;
	char why[256];

	if (open_drive(source, false, false, ": nothing to eject", &t, err, errlen))
		return -1;
	struct mmc_ctx ctx = {.t = t, .quiet = true};
	int rc = mmc_prevent_allow(&ctx, false);
	if (rc)
		snprintf(err, errlen, "%s: the drive would not unlock its tray: %s", source,
			 mmc_ctx_error(&ctx, rc, why, sizeof(why)));
	else if ((rc = mmc_start_stop(&ctx, true, false)) != 0)
		snprintf(err, errlen, "%s: the drive would not open its tray: %s", source,
			 mmc_ctx_error(&ctx, rc, why, sizeof(why)));
	mmc_transport_close(t);
	return rc ? -1 : 0;
}
