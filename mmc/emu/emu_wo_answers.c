/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the emulated write-once media answer: READ CAPACITY, READ DISC INFORMATION, READ TRACK
 * INFORMATION and READ TOC/PMA/ATIP from the tracks and sessions emu_wo.c keeps. */
#define _GNU_SOURCE
#include "emu_int.h"
#include "mmc_be.h"
#include "mmc_ops.h"
#include "../mmc_profiles.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct emu_track *last_of(const struct emu *e)
{
	return &e->wo.track[e->wo.ntracks - 1];
}

int emu_wo_read_capacity(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[8];

	mmc_put_be32(d, e->wo.end ? e->wo.end - 1 : 0); /* the last recorded sector */
	mmc_put_be32(d + 4, SECTOR);
	return emu_answer(cmd, d, 8, 8);
}

int emu_wo_disc_info(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[34] = {0};
	uint16_t s = open_session(e);
	uint8_t status, state;

	if (disc_blank(e))
		status = 0, state = 0;
	else if (e->wo.finalized)
		status = 2, state = 3;
	else {
		/* the open session is empty after a close until something is written or reserved in it */
		uint32_t first = first_track_of(e, s) - 1;
		bool empty = first == e->wo.ntracks - 1 && track_empty(last_of(e)) && !last_of(e)->reserved;
		status = 1, state = empty ? 0 : 1;
	}
	mmc_put_be16(d, 32);
	d[2] = (uint8_t)(state << 2 | status); /* not erasable */
	d[3] = 1;
	d[4] = (uint8_t)s; /* sessions, the open one included */
	d[5] = (uint8_t)first_track_of(e, s);
	d[6] = (uint8_t)e->wo.ntracks;
	d[7] = 0x20;		       /* URU: unrestricted use */
	d[8] = is_cd(e) ? 0x00 : 0xff; /* disc type: CD-DA or CD-ROM; not CD for the others */
	d[9] = (uint8_t)(s >> 8);
	d[10] = (uint8_t)(first_track_of(e, s) >> 8);
	d[11] = (uint8_t)(e->wo.ntracks >> 8);
	mmc_put_be32(d + 12, (uint32_t)(e->gen * 2654435761u));			 /* disc identification */
	mmc_put_be32(d + 16, e->wo.finalized ? 0xffffffffu : last_of(e)->start); /* last session's start */
	mmc_put_be32(d + 20, e->sectors);					 /* last possible lead-out */
	return emu_answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

/* The 0-based track an address of READ TRACK INFORMATION names, or -1. */
static int track_named(const struct emu *e, uint8_t type, uint32_t addr)
{
	if (type == 1) {
		if (addr == 0xff) /* the invisible track */
			return e->wo.finalized ? -1 : (int)e->wo.ntracks - 1;
		return addr >= 1 && addr <= e->wo.ntracks ? (int)addr - 1 : -1;
	}
	if (type == 2)
		return addr >= 1 && addr <= open_session(e) ? (int)first_track_of(e, (uint16_t)addr) - 1 : -1;
	for (uint32_t i = 0; i < e->wo.ntracks; i++) {
		const struct emu_track *t = &e->wo.track[i];
		if (addr >= t->start && addr < (t->closed && !t->size ? t->nwa : track_end(e, t)))
			return (int)i;
	}
	return -1;
}

int emu_wo_track_info(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[48] = {0};
	int i = track_named(e, cmd->cdb[1] & 3, mmc_get_be32(cmd->cdb + MMC_CDB_LBA));

	if (i < 0)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	const struct emu_track *t = &e->wo.track[i];
	uint32_t end = track_end(e, t);
	bool open = !t->closed && !e->wo.finalized && t->nwa < end;
	uint32_t ti = (uint32_t)i + 1;
	mmc_put_be16(d, 46);
	d[2] = (uint8_t)ti;
	d[3] = (uint8_t)t->session;
	d[5] = is_cd(e) ? 0x05 : 0x04; /* data track, recorded incrementally on CD */
	bool incremental = is_cd(e) || e->p->code == MMC_PROFILE_DVDR;
	d[6] = (uint8_t)((t->reserved ? 0x80 : 0) | (track_empty(t) ? 0x40 : 0) | (incremental ? 0x20 : 0) | 0x01);
	d[7] = (uint8_t)((track_empty(t) ? 0 : 0x02) | (open ? 0x01 : 0));
	mmc_put_be32(d + 8, t->start);
	mmc_put_be32(d + 12, open ? t->nwa : 0);
	mmc_put_be32(d + 16, open ? end - t->nwa : 0);
	mmc_put_be32(d + 20, is_cd(e) ? 0 : e->p->packet); /* CD: variable packets; DVD/BD: blocking factor */
	mmc_put_be32(d + 24, t->closed && !t->size ? t->nwa - t->start : end - t->start);
	uint32_t lra = 0;
	if (!track_empty(t)) { /* the last recorded sector before the track's NWA (CD-R: before its link blocks) */
		uint32_t x = extent_after(e, t->nwa - 1);
		if (x < e->wo.next && e->wo.ext[x].lba <= t->nwa - 1)
			lra = t->nwa - 1;
		else if (x > 0)
			lra = e->wo.ext[x - 1].lba + e->wo.ext[x - 1].n - 1;
	}
	mmc_put_be32(d + 28, lra);
	d[32] = (uint8_t)(ti >> 8);
	d[33] = (uint8_t)(t->session >> 8);
	return emu_answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

static void put_addr(uint8_t *p, uint32_t lba, bool msf)
{
	if (!msf) {
		mmc_put_be32(p, lba);
		return;
	}
	uint32_t x = lba + 150;
	p[0] = 0;
	p[1] = (uint8_t)(x / 4500);
	p[2] = (uint8_t)(x / 75 % 60);
	p[3] = (uint8_t)(x % 75);
}

/* READ TOC/PMA/ATIP formats 0 (the tracks of the closed sessions and their lead-out) and 1 (session
 * information: the first track of the last closed session, what a multisession reader mounts). */
int emu_wo_read_toc(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[4 + 8 * (EMU_MAX_TRACKS + 1)] = {0};
	bool msf = cmd->cdb[1] & 0x02;
	uint8_t format = cmd->cdb[2] & 0x0f;
	uint16_t closed = last_closed_session(e);
	uint32_t n = 4;

	if (format == 1) {
		uint16_t s = closed ? closed : 1;
		uint32_t ft = first_track_of(e, s);
		d[2] = 1;
		d[3] = (uint8_t)s;
		d[5] = 0x14; /* ADR 1, data track */
		d[6] = (uint8_t)ft;
		put_addr(d + 8, e->wo.track[ft - 1].start, msf);
		n = 12;
	} else if (format == 0) {
		uint32_t last = 0, leadout = 0;
		for (uint32_t i = 0; i < e->wo.ntracks && e->wo.track[i].session <= closed; i++) {
			const struct emu_track *t = &e->wo.track[i];
			uint8_t *p = d + n;
			p[1] = 0x14;
			p[2] = (uint8_t)(i + 1);
			put_addr(p + 4, t->start, msf);
			n += 8;
			last = i + 1;
			leadout = mmc_leadout_after(e->p->code, t->nwa);
		}
		if (!last)
			return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
		d[2] = 1;
		d[3] = (uint8_t)last;
		d[n + 1] = 0x14;
		d[n + 2] = 0xaa;
		put_addr(d + n + 4, leadout, msf);
		n += 8;
	} else {
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	}
	mmc_put_be16(d, (uint16_t)(n - 2));
	return emu_answer(cmd, d, n, mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

size_t emu_wo_describe(const struct emu *e, char *buf, size_t len)
{
	const char *status = disc_blank(e) ? "blank" : e->wo.finalized ? "finalized" : "appendable";

	return mmc_appendf(buf, len,
			   "emu_disc_status: %s\n"
			   "emu_sessions: %u\n"
			   "emu_tracks: %" PRIu32 "\n"
			   "emu_next_writable: %" PRIu32 "\n"
			   "emu_recorded_end: %" PRIu32 "\n",
			   status, open_session(e), e->wo.ntracks,
			   e->wo.finalized ? 0 : e->wo.track[e->wo.ntracks - 1].nwa, e->wo.end);
}
