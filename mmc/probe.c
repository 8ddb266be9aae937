/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "probe.h"
#include "mmc_ops.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* TEST UNIT READY until the drive is ready; "becoming ready" and "in progress" are waited out. */
static int wait_ready(struct mmc_ctx *c)
{
	unsigned waited = 0;

	for (;;) {
		int rc = mmc_test_unit_ready(c);
		if (rc == -EAGAIN) /* a unit attention is reported once: ask again */
			rc = mmc_test_unit_ready(c);
		if (rc != -EBUSY || waited >= 30000)
			return rc;
		mmc_transport_sleep(c->t, 200);
		waited += 200;
	}
}

/* Why the disc cannot be written as it is: the code, and the disc described without advice. */
static void set_problem(struct mmc_probe *p, enum mmc_problem code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_problem(struct mmc_probe *p, enum mmc_problem code, const char *fmt, ...)
{
	va_list ap;

	p->problem_code = code;
	va_start(ap, fmt);
	vsnprintf(p->problem, sizeof(p->problem), fmt, ap);
	va_end(ap);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h;
}

static int probe_quietly(struct mmc_ctx *c, const char *source, struct mmc_probe *out, char *err, size_t errlen);

/* The last recorded sector: the LRA of the last track that has one. */
static void find_last_recorded(struct mmc_ctx *c, struct mmc_probe *p)
{
	struct mmc_track_info ti;

	p->recorded = false;
	for (uint16_t k = p->tracks; k >= 1 && !p->recorded; k--)
		if (mmc_read_track_info(c, 1, k, &ti) == 0 && ti.lra_valid) {
			p->recorded = true;
			p->last_recorded = ti.lra;
		}
}

int mmc_probe_append(struct mmc_ctx *c, struct mmc_probe *p)
{
	struct mmc_disc_info di;
	struct mmc_track_info ti;
	int rc = mmc_read_disc_info(c, &di);

	if (rc)
		return rc;
	p->write_once = true;
	p->link_sectors = mmc_link_sectors(p->profile);
	p->disc_status = di.disc_status;
	p->finalized = di.disc_status == 2;
	p->session_state = di.session_state;
	p->sessions = di.sessions;
	p->tracks = di.last_track;
	p->nwa_valid = false;
	p->nwa = p->free_sectors = 0;
	/* The last track is the open (invisible) one unless the disc is finalized. */
	if (!p->finalized && mmc_read_track_info(c, 1, di.last_track, &ti) == 0 && ti.nwa_valid) {
		p->nwa_valid = true;
		p->nwa = ti.nwa;
		p->free_sectors = ti.free_blocks;
	}
	p->session_start = mmc_read_track_info(c, 2, di.sessions, &ti) == 0 ? ti.start : 0;
	p->last_complete = 0;
	p->last_complete_start = 0;
	uint16_t lc;
	uint32_t start;
	if (di.disc_status != 0 && mmc_read_toc_session(c, &lc, &start) == 0 && (p->finalized || lc < di.sessions)) {
		p->last_complete = lc;
		p->last_complete_start = start;
	}
	find_last_recorded(c, p);
	return 0;
}

bool mmc_profile_is_write_once(uint16_t profile)
{
	switch (profile) {
	case MMC_PROFILE_CDR:
	case MMC_PROFILE_DVDR:
	case MMC_PROFILE_DVDR_DL:
	case MMC_PROFILE_DVDPR:
	case MMC_PROFILE_DVDPR_DL:
	case MMC_PROFILE_BDR:
	case MMC_PROFILE_BDR_RRM:
		return true;
	default:
		return false;
	}
}

/* A CD-R, DVD-R, DVD+R or BD-R: writable at its NWA until finalized.  Its capacity is where the open
 * track ends (NWA + free blocks); a finalized disc's is what READ CAPACITY says is recorded. */
static void probe_write_once(struct mmc_ctx *c, struct mmc_probe *out, uint32_t readable)
{
	out->packet_writable = true;
	out->packet_sectors = out->profile == MMC_PROFILE_CDR || out->profile == MMC_PROFILE_BDR ? 32 : 16;
	if (mmc_probe_append(c, out) != 0) {
		set_problem(out, MMC_PROBLEM_UNKNOWN_STATE, "the %s does not answer READ DISC INFORMATION", out->kind);
		return;
	}
	if (out->finalized) {
		out->sectors = readable;
		out->formatted = false;
		set_problem(out, MMC_PROBLEM_FINALIZED, "the %s is finalized (closed) and takes no more writes",
			    out->kind);
		return;
	}
	out->formatted = out->nwa_valid;
	out->sectors = out->nwa_valid ? out->nwa + out->free_sectors : readable;
	if (!out->nwa_valid)
		set_problem(out, MMC_PROBLEM_FULL, "the %s has no writable address left (full)", out->kind);
}

int mmc_probe_medium(struct mmc_ctx *c, const char *source, struct mmc_probe *out, char *err, size_t errlen)
{
	/* Much of the probe is optional and fails on some drives and media: the reasons that matter are
	 * reported through err, so the per-command log stays quiet meanwhile. */
	bool quiet = c->quiet;
	c->quiet = true;
	int rc = probe_quietly(c, source, out, err, errlen);
	c->quiet = quiet;
	return rc;
}

static int probe_quietly(struct mmc_ctx *c, const char *source, struct mmc_probe *out, char *err, size_t errlen)
{
	struct mmc_disc_info di = {0};
	struct mmc_track_info ti = {0};
	struct mmc_format_caps fc = {0};
	uint16_t rd = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mmc_inquiry(c, &out->inq);
	if (rc) {
		char txt[160];
		if (c->last_os_error == EPERM)
			snprintf(err, errlen, "%s: %s", source, mmc_ctx_error(c, rc, txt, sizeof(txt)));
		else
			snprintf(err, errlen, "%s: does not answer INQUIRY (%s): not a SCSI/MMC drive", source,
				 strerror(-rc));
		return rc;
	}
	if (out->inq.peripheral_type != 0x05) {
		snprintf(err, errlen, "%s: %s %s is not a CD/DVD/BD drive (peripheral type %02Xh)", source,
			 out->inq.vendor, out->inq.product, out->inq.peripheral_type);
		return -ENOTTY;
	}
	mmc_capabilities(c, &rd, &out->max_write_kbs); /* speeds are informative only */
	rc = wait_ready(c);
	if (rc == -ENOMEDIUM) {
		snprintf(err, errlen, "%s: no disc in the drive%s", source, c->last.ascq == 0x02 ? " (tray open)" : "");
		return rc;
	}
	if (rc == -EBUSY) {
		snprintf(err, errlen, "%s: the drive is still busy (formatting?): try again later", source);
		return rc;
	}
	if (rc) {
		char txt[160];
		snprintf(err, errlen, "%s: drive not ready: %s", source, mmc_ctx_error(c, rc, txt, sizeof(txt)));
		return rc;
	}
	c->unit_attention = false;
	rc = mmc_current_profile(c, &out->profile);
	if (rc) {
		char txt[160];
		snprintf(err, errlen, "%s: GET CONFIGURATION failed: %s", source,
			 mmc_ctx_error(c, rc, txt, sizeof(txt)));
		return rc;
	}
	mmc_feature_current(c, MMC_FEATURE_MRW, &out->mrw); /* drives without MRW may refuse the query */
	if (out->profile != MMC_PROFILE_CDRW && out->profile != MMC_PROFILE_DVDPRW)
		out->mrw = false;
	if (mmc_read_disc_info(c, &di) == 0) {
		out->erasable = di.erasable;
		out->disc_status = di.disc_status;
	}
	uint8_t ms[8];
	if (mmc_mode_sense10(c, MMC_PAGE_CAPABILITIES, ms, sizeof(ms)) == 0)
		out->write_protected = ms[3] & 0x80;
	bool have_fc = mmc_read_format_capacities(c, &fc) == 0;
	bool have_ti = mmc_read_track_info(c, 1, 1, &ti) == 0;
	uint32_t last = 0, blen = 0;
	bool have_cap = mmc_read_capacity(c, &last, &blen) == 0 && blen == 2048 && last;

	snprintf(out->kind, sizeof(out->kind), "%s%s", mmc_profile_name(out->profile), out->mrw ? " (MRW)" : "");
	switch (out->profile) {
	case MMC_PROFILE_CDRW:
		out->packet_writable = true;
		if (out->mrw) {
			out->packet_sectors = 32;
			out->formatted = have_fc && fc.cur_type == 2;
		} else {
			out->packet_sectors = have_ti && ti.fixed_packet && ti.packet_size ? ti.packet_size : 32;
			out->formatted = have_ti && ti.fixed_packet && !ti.blank;
			if (have_ti && !ti.blank && !ti.fixed_packet && !out->problem[0])
				set_problem(out, MMC_PROBLEM_NOT_PACKET_SESSION,
					    "the CD-RW holds a session that is not written in fixed packets");
		}
		break;
	case MMC_PROFILE_DVDRW_RO:
	case MMC_PROFILE_DVDPRW:
	case MMC_PROFILE_DVDRAM:
		out->packet_writable = true;
		out->packet_sectors = 16;
		out->formatted = have_fc ? fc.cur_type == 2 : have_cap;
		break;
	case MMC_PROFILE_BDRE:
		out->packet_writable = true;
		out->packet_sectors = 32;
		out->formatted = have_fc ? fc.cur_type == 2 : have_cap;
		break;
	case MMC_PROFILE_DVDRW_SEQ:
		out->packet_writable = true;
		out->packet_sectors = 16;
		set_problem(out, MMC_PROBLEM_SEQUENTIAL, "the DVD-RW is in sequential mode");
		break;
	case MMC_PROFILE_CDR:
	case MMC_PROFILE_DVDR:
	case MMC_PROFILE_DVDPR:
	case MMC_PROFILE_BDR:
		probe_write_once(c, out, have_cap ? last + 1 : 0);
		break;
	case 0:
		snprintf(err, errlen, "%s: no disc in the drive", source);
		return -ENOMEDIUM;
	default:
		out->packet_sectors = out->profile >= 0x40 ? 32 : out->profile >= 0x10 ? 16 : 32;
		out->formatted = have_cap;
		if (mmc_profile_is_write_once(out->profile))
			set_problem(out, MMC_PROBLEM_READ_ONLY_MEDIUM,
				    "the disc is a write-once %s, which pktfuse does not write (it writes CD-R, DVD-R, "
				    "DVD+R and BD-R SRM)",
				    out->kind);
		else
			set_problem(out, MMC_PROBLEM_READ_ONLY_MEDIUM, "the disc is a read-only %s (profile %04Xh)",
				    out->kind, out->profile);
		break;
	}
	if (out->formatted && !out->write_once) {
		if (have_cap)
			out->sectors = last + 1;
		else if (have_ti && ti.size)
			out->sectors = ti.size;
		else if (have_fc)
			out->sectors = fc.cur_blocks;
		if (!out->sectors)
			out->formatted = false;
	}
	if (out->packet_sectors > 1024)
		out->packet_sectors = 32;
	if (!out->problem[0] && out->packet_writable && !out->formatted && !out->write_once)
		set_problem(out, MMC_PROBLEM_NEEDS_FORMAT, "the %s is %s", out->kind,
			    out->disc_status == 0 ? "blank" : "not formatted for packet writing");
	if (!out->problem[0] && out->write_protected)
		set_problem(out, MMC_PROBLEM_WRITE_PROTECTED, "the %s is write-protected", out->kind);
	uint64_t h = mix(0, out->profile);
	h = mix(h, di.disc_id);
	/* A write-once disc's recorded size and state change with every write and close: not its identity. */
	h = mix(h, out->write_once ? 0 : out->sectors);
	h = mix(h, out->write_once ? 0 : out->formatted);
	h = mix(h, out->mrw);
	out->fingerprint = h;
	return 0;
}
