/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated drive's answers: sense, identification, configuration, disc and track information, mode pages. */
#define _GNU_SOURCE
#include "emu_int.h"
#include "mmc_be.h"
#include "mmc_ops.h"
#include "../mmc_profiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ends a command with CHECK CONDITION and fixed-format sense. */
int emu_check(struct emu *e, struct mmc_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq, int64_t info)
{
	uint8_t *s = e->sense;

	memset(s, 0, sizeof(e->sense));
	s[0] = 0x70;
	if (info >= 0) {
		s[0] |= 0x80;
		mmc_put_be32(s + MMC_SENSE_INFO, (uint32_t)info);
	}
	s[MMC_SENSE_KEY] = key;
	s[MMC_SENSE_ADD_LEN] = MMC_SENSE_FIXED_LEN - 8;
	s[MMC_SENSE_ASC] = asc;
	s[MMC_SENSE_ASCQ] = ascq;
	bool long_op = key == MMC_SK_NOT_READY && asc == MMC_ASC_NOT_READY && (ascq == 4 || ascq == 7);
	if (long_op && e->busy_until_ns > e->busy_start_ns) {
		uint64_t done = e->c.sim_ns - e->busy_start_ns, total = e->busy_until_ns - e->busy_start_ns;
		s[MMC_SENSE_SKS] = 0x80;
		mmc_put_be16(s + MMC_SENSE_SKS + 1, (uint32_t)(done * 65535 / total));
	}
	cmd->status = MMC_STATUS_CHECK;
	memcpy(cmd->sense, s, sizeof(e->sense));
	cmd->sense_len = sizeof(e->sense);
	return 0;
}

/* Copies an answer into the data-in buffer, truncated to both the CDB's allocation length and the
 * buffer, as a drive does. */
int emu_answer(struct mmc_cmd *cmd, const void *data, uint32_t n, uint32_t alloc)
{
	uint32_t len = n < alloc ? n : alloc;

	if (cmd->dir != MMC_DIR_IN || !cmd->buf)
		len = 0;
	if (len > cmd->len)
		len = cmd->len;
	if (len)
		memcpy(cmd->buf, data, len);
	cmd->resid = (int32_t)(cmd->len - len);
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

/* Ends a command with GOOD status and no data. */
int emu_good(struct mmc_cmd *cmd)
{
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

/* ---- answers ------------------------------------------------------------------------------------ */

int emu_do_inquiry(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[36] = {0};

	if (cmd->cdb[1] & 1) /* vital product data pages are not emulated */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	d[0] = 0x05;
	d[1] = 0x80; /* removable */
	d[2] = 0x05;
	d[3] = 0x02;
	d[4] = 31;
	memcpy(d + 8, "PKTFUSE ", 8);
	char prod[17];
	snprintf(prod, sizeof(prod), "EMU %-12s", e->p->name);
	memcpy(d + 16, prod, 16);
	memcpy(d + 32, "0.1 ", 4);
	return emu_answer(cmd, d, sizeof(d), cmd->cdb[3] << 8 | cmd->cdb[4]);
}

static size_t add_feature(uint8_t *d, size_t off, uint16_t code, bool current, const uint8_t *data, uint8_t n)
{
	mmc_put_be16(d + off, code);
	d[off + 2] = (uint8_t)((code == MMC_FEATURE_PROFILE_LIST ? 0x03 : 0x00) | (current ? 1 : 0));
	d[off + 3] = n;
	if (n)
		memcpy(d + off + 4, data, n);
	return off + 4 + n;
}

/* The writing features of write-once media, in ascending order: Incremental Streaming Writable (CD-R,
 * DVD-R), CD Track at Once (CD-R), DVD+R, BD-R write. */
static size_t add_write_once_features(const struct emu *e, uint8_t *d, size_t n, bool present)
{
	uint16_t code = e->p->code;
	bool cur = present && !e->wo.finalized;
	uint8_t four[4] = {0};

	if (code == MMC_PROFILE_CDR || code == MMC_PROFILE_DVDR) {
		/* data block types 8 (Mode 1) and 10 (Mode 2 Form 1); one link size: CD-R's 7 blocks, DVD-R's 16 */
		uint8_t inc[8] = {0x05, 0x00, 0x00, 0x01, code == MMC_PROFILE_CDR ? 7 : 16, 0, 0, 0};
		n = add_feature(d, n, MMC_FEATURE_INCREMENTAL, cur, inc, 8);
	}
	if (code == MMC_PROFILE_CDR)
		n = add_feature(d, n, MMC_FEATURE_CD_TAO, cur, four, 4);
	if (code == MMC_PROFILE_DVDPR) {
		uint8_t w[4] = {0x01};
		n = add_feature(d, n, MMC_FEATURE_DVDPR, present, w, 4);
	}
	if (code == MMC_PROFILE_BDR)
		n = add_feature(d, n, MMC_FEATURE_BD_WRITE, cur, four, 4);
	return n;
}

int emu_do_get_config(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t all[256] = {0}, out[256] = {0};
	uint8_t rt = cmd->cdb[1] & 3;
	uint16_t start = mmc_get_be16(cmd->cdb + 2);
	bool present = !e->tray_open;
	uint16_t prof = present ? emu_cur_profile(e) : 0;
	size_t n = 0;

	uint8_t plist[8] = {0};
	mmc_put_be16(plist, e->p->code);
	plist[2] = prof == e->p->code;
	uint8_t plen = 4;
	if (e->p->code_blank != e->p->code) {
		mmc_put_be16(plist + 4, e->p->code_blank);
		plist[6] = prof == e->p->code_blank;
		plen = 8;
	}
	n = add_feature(all, n, MMC_FEATURE_PROFILE_LIST, true, plist, plen);
	uint8_t core[8] = {0, 0, 0, 1}; /* SCSI physical interface */
	n = add_feature(all, n, MMC_FEATURE_CORE, true, core, 8);
	uint8_t rw[8] = {0};
	mmc_put_be32(rw, e->sectors ? e->sectors - 1 : 0);
	mmc_put_be32(rw + 4, SECTOR);
	bool random = e->p->rule == RULE_RMW || e->p->rule == RULE_RANDOM;
	n = add_feature(all, n, MMC_FEATURE_RANDOM_WRITABLE, random && e->formatted && present, rw, 8);
	if (!emu_write_once(e))
		n = add_feature(all, n, MMC_FEATURE_FORMATTABLE, present, NULL, 0);
	if (e->p->code == MMC_PROFILE_DVDRW_RO)
		n = add_feature(all, n, MMC_FEATURE_RESTRICTED_OVERWRITE, e->formatted && present, NULL, 0);
	if (e->p->mrw) {
		uint8_t m[4] = {0x01};
		n = add_feature(all, n, MMC_FEATURE_MRW, present, m, 4);
	}
	if (e->p->code == MMC_PROFILE_DVDPRW) {
		uint8_t w[4] = {0x01};
		n = add_feature(all, n, MMC_FEATURE_DVDPRW, present, w, 4);
	}
	if (emu_write_once(e))
		n = add_write_once_features(e, all, n, present);
	/* Keep the features the request asks for, in ascending order. */
	size_t o = 8;
	for (size_t off = 0; off < n;) {
		uint16_t code = mmc_get_be16(all + off);
		size_t len = 4 + all[off + 3];
		bool cur = all[off + 2] & 1;
		bool take = rt == 2 ? code == start : code >= start && (rt == 0 || cur);
		if (take) {
			memcpy(out + o, all + off, len);
			o += len;
		}
		off += len;
	}
	mmc_put_be32(out, (uint32_t)(o - 4));
	mmc_put_be16(out + 6, prof);
	return emu_answer(cmd, out, (uint32_t)o, mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

int emu_do_disc_info(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[34] = {0};
	int g = emu_medium_gate(e, cmd);

	if (g <= 0)
		return g;
	mmc_put_be16(d, 32);
	uint8_t status = 0, sess = 0;
	if (e->formatted) {
		status = e->p->rule == RULE_FIXED_PACKETS || e->p->code == MMC_PROFILE_DVDRW_RO ? 1 : 3;
		sess = 1;
	} else if (e->blank_used) {
		status = 2;
		sess = 3;
	}
	d[2] = (uint8_t)(0x10 | sess << 2 | status);
	d[3] = 1;
	d[4] = 1; /* sessions */
	d[5] = 1;
	d[6] = 1;
	if (e->p->code == MMC_PROFILE_DVDPRW && e->formatted)
		d[7] = e->c.sim_ns >= e->bg_until_ns ? 3 : e->bg_stopped ? 1 : 2; /* background format state */
	else if (e->p->mrw && e->formatted)
		d[7] = 3;
	/* disc identification: the image file is the disc, each format makes it another */
	mmc_put_be32(d + 12, (uint32_t)((e->gen ^ e->disc_serial * 0x9e3779b97f4a7c15ull) * 2654435761u));
	return emu_answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

int emu_do_track_info(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[36] = {0};
	int g = emu_medium_gate(e, cmd);

	if (g <= 0)
		return g;
	uint8_t at = cmd->cdb[1] & 3;
	uint32_t addr = mmc_get_be32(cmd->cdb + MMC_CDB_LBA);
	if ((at == 1 || at == 2) && addr != 1)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	if (at == 0 && addr >= (e->formatted ? e->sectors : 1))
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, addr);
	mmc_put_be16(d, 34);
	d[2] = 1;
	d[3] = 1;
	if (e->formatted) {
		d[5] = 0x07;
		bool fixed = e->p->rule == RULE_FIXED_PACKETS || e->p->code == MMC_PROFILE_DVDRW_RO;
		d[6] = (uint8_t)(0x20 | (fixed ? 0x10 : 0) | 1);
		d[7] = 1;
		mmc_put_be32(d + 12, 0);
		mmc_put_be32(d + 20, e->p->packet);
		mmc_put_be32(d + 24, e->sectors);
	} else {
		d[5] = 0x04;
		d[6] = 0x40 | 0x0f; /* blank */
		d[7] = 1;
		mmc_put_be32(d + 16, e->sectors);
	}
	return emu_answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

int emu_do_format_caps(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[4 + 16] = {0};

	if (e->tray_open) {
		d[3] = 8;
		mmc_put_be32(d + 4, 0xffffffffu);
		d[8] = 3;
		mmc_put_be32(d + 8, 3u << 24 | SECTOR);
		return emu_answer(cmd, d, 12, mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
	}
	d[3] = 16;
	mmc_put_be32(d + 4, e->sectors);
	mmc_put_be32(d + 8, (e->formatted ? 2u : 1u) << 24 | SECTOR);
	mmc_put_be32(d + 12, e->sectors);
	mmc_put_be32(d + 16, (uint32_t)e->p->fmt_type << 26 | (e->p->fmt_type == MMC_FMT_CD_DVD_FP ? e->p->packet : 0));
	return emu_answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

int emu_do_mode_sense(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[MMC_MODE_HEADER_LEN + 52] = {0};
	uint8_t page = cmd->cdb[2] & 0x3f;
	uint32_t n;

	d[3] = e->write_protect ? 0x80 : 0; /* WP */
	if (page == MMC_PAGE_WRITE_PARAMETERS) {
		uint8_t *pg = d + MMC_MODE_HEADER_LEN;
		pg[0] = MMC_PAGE_WRITE_PARAMETERS;
		pg[1] = 50;
		pg[2] = e->wp_write_type;
		pg[3] = (uint8_t)(e->wp_ms << 6 | (e->wp_fp ? 0x20 : 0) | e->wp_track_mode);
		pg[4] = e->wp_dbt;
		pg[8] = 0x00;
		mmc_put_be32(pg + 10, e->wp_packet);
		n = MMC_MODE_HEADER_LEN + 52;
	} else if (page == MMC_PAGE_CAPABILITIES) {
		uint8_t *pg = d + MMC_MODE_HEADER_LEN;
		unsigned kbs = (unsigned)(emu_kbs_1x(e) * (e->speed ? e->speed : 4));
		pg[0] = MMC_PAGE_CAPABILITIES;
		pg[1] = 28;
		pg[2] = 0x3f;
		pg[3] = 0x37;
		pg[6] = 0x29; /* lock, eject */
		mmc_put_be16(pg + 8, kbs);
		mmc_put_be16(pg + 18, kbs);
		mmc_put_be16(pg + 28, kbs);
		n = MMC_MODE_HEADER_LEN + 30;
	} else {
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	}
	mmc_put_be16(d, n - 2);
	return emu_answer(cmd, d, n, mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

int emu_do_mode_select(struct emu *e, struct mmc_cmd *cmd)
{
	const uint8_t *d = cmd->buf;
	uint16_t plen = mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH);

	if (cmd->dir != MMC_DIR_OUT || plen > cmd->len || plen < 8)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_PARAMETER_LIST_LENGTH, 0x00, -1);
	size_t off = MMC_MODE_HEADER_LEN + mmc_get_be16(d + MMC_MODE_HEADER_BD_LEN);
	if (off + 14 > plen)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_PARAMETER_LIST_LENGTH, 0x00, -1);
	const uint8_t *pg = d + off;
	if ((pg[0] & 0x3f) != MMC_PAGE_WRITE_PARAMETERS)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_PARAMETERS, 0x00, -1);
	uint8_t wt = pg[2] & 0x0f, dbt = pg[4] & 0x0f;
	uint32_t packet = mmc_get_be32(pg + 10);
	if (wt > 4 || (dbt != 8 && dbt != 10 && dbt != 0) || packet > 1024)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_PARAMETERS, 0x00, -1);
	e->wp_write_type = wt;
	e->wp_fp = pg[3] & 0x20;
	e->wp_ms = pg[3] >> 6;
	e->wp_track_mode = pg[3] & 0x0f;
	e->wp_dbt = dbt;
	e->wp_packet = packet;
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

int emu_do_request_sense(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t s[MMC_SENSE_FIXED_LEN] = {0x70, 0, 0, 0, 0, 0, 0, MMC_SENSE_FIXED_LEN - 8};

	if (emu_busy(e)) {
		emu_check(e, cmd, MMC_SK_NOT_READY, MMC_ASC_NOT_READY, e->busy_is_format ? 0x04 : 0x07, -1);
		memcpy(s, e->sense, sizeof(s));
	}
	return emu_answer(cmd, s, sizeof(s), cmd->cdb[MMC_CDB6_ALLOC_LEN]);
}

int emu_do_gesn(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[8] = {0};
	uint32_t alloc = mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH);

	if (!(cmd->cdb[1] & 1))
		/* asynchronous mode is not offered */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	d[3] = 0x10; /* supported classes: media only */
	if (!(cmd->cdb[4] & 0x10)) {
		/* no class asked for is supported: No Event Available, the header alone */
		mmc_put_be16(d, 2);
		d[2] = 0x80;
		return emu_answer(cmd, d, 4, alloc);
	}
	mmc_put_be16(d, 6);
	d[2] = 4; /* media class */
	d[4] = emu_take_media_event(e);
	d[5] = e->tray_open ? 0x01 : 0x02; /* Door or Tray Open; Media Present */
	return emu_answer(cmd, d, sizeof(d), alloc);
}

/* READ DVD STRUCTURE, format 00h (physical format information) only: what tools such as
 * dvd+rw-mediainfo ask first. */
int emu_do_dvd_structure(struct emu *e, struct mmc_cmd *cmd)
{
	static uint8_t d[4 + 2048];
	uint16_t code = e->p->code;
	int g = emu_medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (code < 0x10 || code > 0x2f || cmd->cdb[7] != 0x00)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	memset(d, 0, sizeof(d));
	mmc_put_be16(d, 2048 + 2);
	uint8_t book = code == MMC_PROFILE_DVDPRW   ? 0x9
		       : code == MMC_PROFILE_DVDPR  ? 0xA
		       : code == MMC_PROFILE_DVDRAM ? 0x1
		       : code == MMC_PROFILE_DVDR   ? 0x2
						    : 0x3;
	d[4] = (uint8_t)(book << 4 | 0x01);
	d[5] = 0x0f; /* 120 mm, maximum rate not specified */
	/* one layer, parallel track path, rewritable (recordable for DVD±R) */
	d[6] = code == MMC_PROFILE_DVDR || code == MMC_PROFILE_DVDPR ? 0x02 : 0x04;
	mmc_put_be32(d + 8, 0x030000); /* first physical sector of the data area */
	mmc_put_be32(d + 12, 0x030000 + e->sectors - 1);
	return emu_answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + 8));
}

void emu_set_speed_kbs(struct emu *e, uint32_t kbs)
{
	/* 0xffff / 0xffffffff mean "as fast as possible": keep the configured speed. */
	if (!e->speed || kbs == 0xffff || kbs == 0xffffffffu || !kbs)
		return;
	unsigned x = (unsigned)((double)kbs / emu_kbs_1x(e) + 0.5);
	e->speed = x ? x : 1;
}
