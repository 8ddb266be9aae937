/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated write-once media: CD-R, DVD-R (sequential), DVD+R and BD-R (SRM).
 *
 * The rules kept, as real drives keep them:
 * - a WRITE is accepted only at the next writable address (NWA) of an open track of the open session
 *   and never over a recorded sector: anything else ends with ILLEGAL REQUEST 21/02 (invalid address
 *   for write); a finalized disc has no NWA and refuses every write the same way;
 * - CD-R (packet writing, page 05h: write type packet, variable packets, Mode 1 or Mode 2 Form 1 blocks):
 *   one WRITE is one variable packet; the drive then records the run-out, link and run-in blocks, so the
 *   next NWA is lba + count + 7 (Orange Book: 2 run-out + 1 link + 4 run-in).  Wrong page 05h: 64/00;
 * - DVD-R (incremental recording, page 05h write type 0) and DVD+R: the unit is a 16-sector ECC block;
 *   BD-R: a 32-sector cluster.  A write that ends inside a unit is accepted and the drive pads the unit
 *   with zeros (what drives do: an ECC block or cluster is recorded whole), so the NWA stays aligned;
 * - reading a sector that holds no user data fails: past the last recorded sector ILLEGAL REQUEST
 *   21/00 (the drive's readable area ends there); inside it (CD-R link blocks, a session's lead-out,
 *   lead-in and pregap, the unwritten part of a reserved track) MEDIUM ERROR 11/00, as the pickup finds
 *   no readable data there.  Real drives differ in these codes; both end up as EIO on the host;
 * - closing a session costs what the medium costs (session_gap());
 * - the drive's volatile write cache (emu_wo_cache.c) holds accepted writes and records them in the
 *   order they came, as a drive writing a sequential medium does: a power cut loses a tail of them. */
#define _GNU_SOURCE
#include "emu_int.h"
#include "mmc_be.h"
#include "mmc_ops.h"
#include "../mmc_profiles.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WO_MAGIC "PKTWO001"
#define WO_JOURNAL_MAGIC 0x574a524eu /* "WJRN": one accepted write */
/* Red Book / Orange Book: a track written after another one in the same session starts after its
 * 2-second (150-sector) pregap. */
#define CD_PREGAP 150

bool emu_write_once(const struct emu *e)
{
	return e->p->rule == RULE_WRITE_ONCE;
}

/* Sectors lost after every write command. */
static uint32_t link_blocks(const struct emu *e)
{
	return mmc_link_sectors(e->p->code);
}

/* The recording unit a write is padded to (CD-R: none, a packet is as long as the write). */
static uint32_t unit(const struct emu *e)
{
	return is_cd(e) ? 1 : e->p->packet;
}

static uint64_t round_up(uint64_t v, uint32_t u)
{
	return (v + u - 1) / u * u;
}

/* What closing a session costs the medium (mmc_profiles.h cites the numbers). */
static uint32_t session_gap(const struct emu *e, bool first)
{
	return mmc_session_gap_sectors(e->p->code, first);
}

/* Between a closed track and the next one in the same session. */
static uint32_t track_gap(const struct emu *e)
{
	return is_cd(e) ? CD_PREGAP : 0;
}

static struct emu_track *last_track(struct emu *e)
{
	return &e->wo.track[e->wo.ntracks - 1];
}

void emu_wo_init(struct emu *e)
{
	free(e->wo.ext);
	memset(&e->wo, 0, sizeof(e->wo));
	e->wo.ntracks = 1;
	e->wo.track[0].session = 1;
}

void emu_wo_free(struct emu *e)
{
	free(e->wo.ext);
	e->wo.ext = NULL;
	emu_wo_cache_free(e);
}

/* ---- recorded sectors --------------------------------------------------------------------------- */

static bool all_recorded(const struct emu *e, uint32_t lba, uint32_t n)
{
	uint32_t i = extent_after(e, lba);

	return i < e->wo.next && e->wo.ext[i].lba <= lba &&
	       (uint64_t)lba + n <= (uint64_t)e->wo.ext[i].lba + e->wo.ext[i].n;
}

static bool any_recorded(const struct emu *e, uint32_t lba, uint32_t n)
{
	uint32_t i = extent_after(e, lba);

	return i < e->wo.next && e->wo.ext[i].lba < (uint64_t)lba + n;
}

static int add_extent(struct emu *e, uint32_t lba, uint32_t n)
{
	struct emu_wo *w = &e->wo;
	uint32_t i = extent_after(e, lba);

	if (i > 0 && w->ext[i - 1].lba + w->ext[i - 1].n == lba) {
		w->ext[i - 1].n += n;
		if (i < w->next && w->ext[i].lba == lba + n) {
			w->ext[i - 1].n += w->ext[i].n;
			memmove(&w->ext[i], &w->ext[i + 1], (w->next - i - 1) * sizeof(*w->ext));
			w->next--;
		}
	} else if (i < w->next && w->ext[i].lba == lba + n) {
		w->ext[i].lba = lba;
		w->ext[i].n += n;
	} else {
		if (w->next == w->ext_cap) {
			uint32_t cap = w->ext_cap ? w->ext_cap * 2 : 64;
			struct emu_extent *x = realloc(w->ext, cap * sizeof(*x));
			if (!x)
				return -ENOMEM;
			w->ext = x;
			w->ext_cap = cap;
		}
		memmove(&w->ext[i + 1], &w->ext[i], (w->next - i) * sizeof(*w->ext));
		w->ext[i] = (struct emu_extent){lba, n};
		w->next++;
	}
	if (lba + n > w->end)
		w->end = lba + n;
	return 0;
}

/* Records an accepted write of n sectors at track t's NWA: the pad to the unit, the link blocks.
 * Returns the pad, or -ENOMEM. */
static int apply_write(struct emu *e, struct emu_track *t, uint32_t n)
{
	uint32_t lba = t->nwa, end = track_end(e, t);
	uint64_t up = round_up((uint64_t)lba + n, unit(e));
	uint32_t stop = up > end ? end : (uint32_t)up;

	if (add_extent(e, lba, stop - lba) < 0)
		return -ENOMEM;
	t->nwa = (uint64_t)stop + link_blocks(e) < end ? stop + link_blocks(e) : end;
	return (int)(stop - lba - n);
}

/* The open track of the open session whose NWA is lba, or NULL. */
static struct emu_track *track_at_nwa(struct emu *e, uint32_t lba)
{
	if (e->wo.finalized)
		return NULL;
	uint16_t open = last_track(e)->session;
	for (uint32_t i = e->wo.ntracks; i-- > 0 && e->wo.track[i].session == open;) {
		struct emu_track *t = &e->wo.track[i];
		if (!t->closed && t->nwa == lba && t->nwa < track_end(e, t))
			return t;
	}
	return NULL;
}

/* ---- the state file's part ---------------------------------------------------------------------- */

bool emu_wo_save(const struct emu *e, FILE *f)
{
	uint8_t h[20] = {0};

	memcpy(h, WO_MAGIC, 8);
	mmc_put_be32(h + 8, e->wo.ntracks);
	mmc_put_be32(h + 12, e->wo.finalized);
	mmc_put_be32(h + 16, e->wo.next);
	if (fwrite(h, sizeof(h), 1, f) != 1)
		return false;
	for (uint32_t i = 0; i < e->wo.ntracks; i++) {
		const struct emu_track *t = &e->wo.track[i];
		uint8_t r[16];
		mmc_put_be32(r, t->start);
		mmc_put_be32(r + 4, t->size);
		mmc_put_be32(r + 8, t->nwa);
		mmc_put_be32(r + 12, (uint32_t)t->session | (uint32_t)t->closed << 16 | (uint32_t)t->reserved << 17);
		if (fwrite(r, sizeof(r), 1, f) != 1)
			return false;
	}
	for (uint32_t i = 0; i < e->wo.next; i++) {
		uint8_t r[8];
		mmc_put_be32(r, e->wo.ext[i].lba);
		mmc_put_be32(r + 4, e->wo.ext[i].n);
		if (fwrite(r, sizeof(r), 1, f) != 1)
			return false;
	}
	return true;
}

/* Appends one accepted write to the state file: the disc's state is then right even when the drive is
 * never closed (a killed daemon), as a real disc's is.  Replayed by emu_wo_load. */
static void journal_write(struct emu *e, uint32_t track, uint32_t n)
{
	if (e->write_protect || e->read_only)
		return;
	FILE *f = fopen(e->state_path, "ab");
	if (!f)
		return;
	uint8_t r[12];
	mmc_put_be32(r, WO_JOURNAL_MAGIC);
	mmc_put_be32(r + 4, track);
	mmc_put_be32(r + 8, n);
	fwrite(r, sizeof(r), 1, f);
	fclose(f);
}

int emu_wo_load(struct emu *e, FILE *f)
{
	uint8_t h[20];

	emu_wo_init(e);
	if (fread(h, sizeof(h), 1, f) != 1 || memcmp(h, WO_MAGIC, 8))
		return -EINVAL;
	uint32_t nt = mmc_get_be32(h + 8), next = mmc_get_be32(h + 16);
	if (nt < 1 || nt > EMU_MAX_TRACKS || next > e->sectors)
		return -EINVAL;
	e->wo.ntracks = nt;
	e->wo.finalized = mmc_get_be32(h + 12) != 0;
	for (uint32_t i = 0; i < nt; i++) {
		uint8_t r[16];
		if (fread(r, sizeof(r), 1, f) != 1)
			return -EINVAL;
		struct emu_track *t = &e->wo.track[i];
		uint32_t flags = mmc_get_be32(r + 12);
		*t = (struct emu_track){mmc_get_be32(r), mmc_get_be32(r + 4), mmc_get_be32(r + 8),
					(uint16_t)flags, flags >> 16 & 1,     flags >> 17 & 1};
		if (t->start > e->sectors || t->nwa < t->start || t->nwa > track_end(e, t))
			return -EINVAL;
	}
	for (uint32_t i = 0; i < next; i++) {
		uint8_t r[8];
		if (fread(r, sizeof(r), 1, f) != 1)
			return -EINVAL;
		uint32_t lba = mmc_get_be32(r), n = mmc_get_be32(r + 4);
		if (!n || (uint64_t)lba + n > e->sectors || add_extent(e, lba, n) < 0)
			return -EINVAL;
	}
	uint8_t j[12];
	while (fread(j, sizeof(j), 1, f) == 1) { /* a torn last record is ignored */
		uint32_t ti = mmc_get_be32(j + 4), n = mmc_get_be32(j + 8);
		if (mmc_get_be32(j) != WO_JOURNAL_MAGIC || ti >= e->wo.ntracks || !n)
			return -EINVAL;
		struct emu_track *t = &e->wo.track[ti];
		if ((uint64_t)t->nwa + n > track_end(e, t) || apply_write(e, t, n) < 0)
			return -EINVAL;
	}
	return 0;
}

int emu_wo_adopt_image(struct emu *e, uint32_t recorded)
{
	emu_wo_init(e);
	if (!recorded)
		return 0;
	struct emu_track *t = last_track(e);
	return apply_write(e, t, recorded) < 0 ? -ENOMEM : 0;
}

/* ---- reading and writing ------------------------------------------------------------------------ */

int emu_wo_read_check(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n)
{
	if (all_recorded(e, lba, n))
		return 1;
	if ((uint64_t)lba + n > e->wo.end)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
	e->c.medium_errors++;
	return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_UNRECOVERED_READ_ERROR, 0x00, lba);
}

/* Page 05h as the medium needs it, or why not. */
static const char *write_params_problem(const struct emu *e)
{
	if (is_cd(e) && (e->wp_write_type != 0 || e->wp_fp || (e->wp_dbt != 8 && e->wp_dbt != 10)))
		return "write parameters: not variable packets";
	if (e->p->code == MMC_PROFILE_DVDR && e->wp_write_type != 0)
		return "write parameters: not incremental";
	return NULL;
}

static int refuse(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint8_t asc, uint8_t ascq)
{
	e->c.refused_writes++;
	return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, asc, ascq, lba);
}

/* The NWA of the open track, for the log (0 when there is none). */
static uint32_t open_nwa(struct emu *e)
{
	struct emu_track *t = last_track(e);

	return e->wo.finalized ? 0 : t->nwa;
}

int emu_wo_record(struct emu *e, uint32_t track, uint32_t lba, uint32_t n, uint32_t pad, const uint8_t *data)
{
	static const uint8_t zeros[64 * SECTOR];

	if (pwrite(e->fd, data, (size_t)n * SECTOR, (off_t)lba * SECTOR) != (ssize_t)((size_t)n * SECTOR))
		return -EIO;
	if (pad && pwrite(e->fd, zeros, (size_t)pad * SECTOR, (off_t)(lba + n) * SECTOR) != (ssize_t)pad * SECTOR)
		return -EIO;
	journal_write(e, track, n);
	return 0;
}

int emu_wo_write(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n, char *note, size_t notelen)
{
	const char *wp = write_params_problem(e);

	if (wp && !e->wo.finalized) { /* a finalized disc has no NWA, whatever page 05h says */
		snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " rule=refused(%s)", lba, n, wp);
		return refuse(e, cmd, lba, MMC_ASC_ILLEGAL_MODE_FOR_TRACK, 0x00);
	}
	struct emu_track *t = track_at_nwa(e, lba);
	if (!t || (uint64_t)lba + n > track_end(e, t)) {
		const char *why = e->wo.finalized	    ? "finalized"
				  : any_recorded(e, lba, n) ? "recorded"
				  : t			    ? "past the track's end"
							    : "not at an NWA";
		snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " nwa=%" PRIu32 " rule=refused(%s)", lba, n,
			 open_nwa(e), why);
		return refuse(e, cmd, lba, MMC_ASC_LBA_OUT_OF_RANGE, 0x02);
	}
	if (e->write_error >= 0 && (uint64_t)e->write_error >= lba && (uint64_t)e->write_error < (uint64_t)lba + n) {
		e->c.medium_errors++;
		return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, e->write_error);
	}
	uint32_t ti = (uint32_t)(t - e->wo.track);
	int pad = apply_write(e, t, n);
	if (pad < 0)
		return emu_check(e, cmd, MMC_SK_HARDWARE_ERROR, MMC_ASC_INTERNAL_TARGET_FAILURE, 0x00, -1);
	/* The drive's state moves at once; the data reaches the medium now or, held, in order later. */
	int rc = e->wo.cache_bytes ? emu_wo_hold(e, ti, lba, n, (uint32_t)pad, cmd->buf)
				   : emu_wo_record(e, ti, lba, n, (uint32_t)pad, cmd->buf);
	if (rc)
		return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, lba);
	emu_model_io(e, lba, n);
	/* The drive writes the padding and CD-R's link blocks in the same pass (the rate counts them):
	 * the next write at the NWA streams on. */
	e->head = t->nwa;
	e->c.write_cmds++;
	e->c.write_sectors += n;
	snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " nwa=%" PRIu32 " rule=ok pad=%d next_nwa=%" PRIu32, lba,
		 n, lba, pad, t->nwa);
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

/* ---- closing and reserving -------------------------------------------------------------------- */

static int sequence_error(struct emu *e, struct mmc_cmd *cmd)
{
	return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_COMMAND_SEQUENCE_ERROR, 0x00, -1);
}

/* A new invisible track at start in session s; false when the disc has no room for it. */
static bool open_track(struct emu *e, uint32_t start, uint16_t s)
{
	if (e->wo.ntracks == EMU_MAX_TRACKS || start >= e->sectors)
		return false;
	e->wo.track[e->wo.ntracks++] = (struct emu_track){start, 0, start, s, false, false};
	return true;
}

/* RESERVE TRACK: the empty invisible track gets a size; a new invisible track follows it. */
int emu_wo_reserve_track(struct emu *e, struct mmc_cmd *cmd, char *note, size_t notelen)
{
	struct emu_track *t = last_track(e);
	uint32_t size = mmc_get_be32(cmd->cdb + 5);

	if (e->write_protect || e->read_only)
		return emu_check(e, cmd, MMC_SK_DATA_PROTECT, MMC_ASC_WRITE_PROTECTED, 0x00, -1);
	if (cmd->cdb[1] & 1 || !size) /* ARSV (reservation by address) is not offered */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	if (e->wo.finalized || !track_empty(t) || e->wo.ntracks == EMU_MAX_TRACKS)
		return sequence_error(e, cmd);
	if (emu_wo_destage_all(e) < 0)
		return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, -1);
	if (size >= e->sectors) /* (before rounding, which could wrap) */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, -1);
	size = (uint32_t)round_up(size, unit(e)); /* below the disc's size: no wrap */
	if ((uint64_t)t->start + size + track_gap(e) >= e->sectors)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, -1);
	t->size = size;
	t->reserved = true;
	open_track(e, t->start + size + track_gap(e), t->session);
	snprintf(note, notelen, "track=%" PRIu32 " start=%" PRIu32 " size=%" PRIu32, e->wo.ntracks - 1, t->start, size);
	emu_save_state(e);
	return emu_good(cmd);
}

/* Closes track t: a written invisible track ends at its NWA, and the next track opens after it. */
static void close_track(struct emu *e, struct emu_track *t)
{
	bool invisible = !t->size;

	t->closed = true;
	if (invisible) {
		t->size = t->nwa - t->start;
		open_track(e, t->nwa + track_gap(e), t->session);
	}
}

/* Closes the open session: its written tracks close, an empty invisible track is dropped.  Returns
 * where the session's lead-out starts. */
static uint32_t close_open_session(struct emu *e)
{
	uint16_t s = open_session(e);
	uint32_t end = 0;

	if (e->wo.ntracks > 1 && track_empty(last_track(e)) && !last_track(e)->reserved &&
	    e->wo.track[e->wo.ntracks - 2].session == s)
		e->wo.ntracks--;
	for (uint32_t i = 0; i < e->wo.ntracks; i++) {
		struct emu_track *t = &e->wo.track[i];
		if (t->session != s)
			continue;
		t->closed = true;
		if (!t->size)
			t->size = t->nwa - t->start;
		if (t->nwa > end)
			end = t->nwa;
	}
	return mmc_leadout_after(e->p->code, end);
}

static bool session_has_data(struct emu *e)
{
	uint16_t s = open_session(e);

	for (uint32_t i = 0; i < e->wo.ntracks; i++)
		if (e->wo.track[i].session == s && !track_empty(&e->wo.track[i]))
			return true;
	return false;
}

/* CLOSE TRACK/SESSION, with the functions the media have (MMC-6 6.3): 001b close a track, 010b close
 * the session (on CD-R and DVD-R this finalizes the disc unless page 05h's multi-session field is 11b),
 * on DVD+R 101b and 110b and on BD-R 110b finalize the disc. */
int emu_wo_close(struct emu *e, struct mmc_cmd *cmd, char *note, size_t notelen)
{
	uint8_t f = cmd->cdb[2] & 7;
	uint16_t number = mmc_get_be16(cmd->cdb + 4);
	uint16_t code = e->p->code;
	bool plus = code == MMC_PROFILE_DVDPR, bd = code == MMC_PROFILE_BDR;
	bool finalize_fn = (plus && (f == 5 || f == 6)) || (bd && f == 6);

	if (e->write_protect || e->read_only)
		return emu_check(e, cmd, MMC_SK_DATA_PROTECT, MMC_ASC_WRITE_PROTECTED, 0x00, -1);
	if (f != 1 && f != 2 && !finalize_fn)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	if (e->wo.finalized || disc_blank(e))
		return sequence_error(e, cmd);
	if (emu_wo_destage_all(e) < 0) /* a drive records what it holds before it closes anything */
		return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, -1);
	if (f == 1) {
		int i = number == 0xff || number == 0 ? (int)e->wo.ntracks - 1 : (int)number - 1;
		if (i < 0 || (uint32_t)i >= e->wo.ntracks)
			return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
		struct emu_track *t = &e->wo.track[i];
		if (t->closed || track_empty(t) || t->session != open_session(e))
			return sequence_error(e, cmd);
		close_track(e, t);
		snprintf(note, notelen, "close fn=%u track=%d next_nwa=%" PRIu32, f, i + 1, last_track(e)->nwa);
	} else {
		bool has = session_has_data(e);
		if (!has && !finalize_fn)
			return sequence_error(e, cmd); /* an empty session cannot be closed */
		bool first = open_session(e) == 1;
		uint32_t leadout = has ? close_open_session(e) : 0;
		if (!has && e->wo.ntracks > 1)
			e->wo.ntracks--; /* finalizing after a closed session: the empty one goes */
		bool multi = plus || bd ? !finalize_fn : e->wp_ms == 3;
		uint16_t s = e->wo.track[e->wo.ntracks - 1].session;
		/* no next session wanted, or no room left for one: the disc is finalized */
		if (!multi || !open_track(e, leadout + session_gap(e, first), (uint16_t)(s + 1)))
			e->wo.finalized = true;
		snprintf(note, notelen, "close fn=%u session=%u leadout=%" PRIu32 " %s%" PRIu32, f, s, leadout,
			 e->wo.finalized ? "finalized=" : "next_nwa=", e->wo.finalized ? 1 : last_track(e)->nwa);
	}
	emu_save_state(e);
	return emu_good(cmd);
}
