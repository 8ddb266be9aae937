/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated FORMAT UNIT and BLANK: a simulated pass over the disc. */
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

/* Simulated length of a full pass over the disc, or of the minute or so a quick format takes. */
uint64_t emu_pass_ns(const struct emu *e, bool quick)
{
	double r = e->p->rate_1x * (e->speed ? e->speed : 4);

	return quick ? 60ull * 1000000000u : (uint64_t)((double)e->sectors * SECTOR / r * 1e9);
}

/* Starts a simulated format or blank of the whole disc. */
void emu_start_busy(struct emu *e, bool format, bool quick, bool immed)
{
	uint64_t ns = emu_pass_ns(e, quick);

	e->busy_is_format = format;
	e->busy_start_ns = e->c.sim_ns;
	e->busy_until_ns = e->c.sim_ns + ns;
	if (!immed)
		emu_advance(e, ns);
	emu_busy(e);
}

int emu_do_format(struct emu *e, struct mmc_cmd *cmd)
{
	const uint8_t *pl = cmd->buf;
	int g = emu_medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (e->write_protect || e->read_only)
		return emu_check(e, cmd, MMC_SK_DATA_PROTECT, MMC_ASC_WRITE_PROTECTED, 0x00, -1);
	if (emu_write_once(e)) /* cannot format: incompatible medium */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INCOMPATIBLE_MEDIUM, 0x06, -1);
	if (!(cmd->cdb[1] & 0x10) || (cmd->cdb[1] & 7) != 1 || cmd->dir != MMC_DIR_OUT || cmd->len < 12)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	uint8_t type = pl[8] >> 2;
	uint32_t param = mmc_get_be24(pl + 9);
	bool ok = type == e->p->fmt_type;
	if (e->p->code == MMC_PROFILE_DVDRW_RO && (type == MMC_FMT_FULL || type == MMC_FMT_CD_DVD_FP))
		ok = true; /* DVD-RW: full formats as well as the quick one */
	if (e->p->code == MMC_PROFILE_BDRE && type == MMC_FMT_BD_NO_SPARE)
		ok = true;
	if (!ok || (type == MMC_FMT_CD_DVD_FP && param != e->p->packet))
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_PARAMETERS, 0x00, -1);
	if (e->p->rule == RULE_FIXED_PACKETS && (e->blank_used || e->formatted))
		/* a CD-RW must be blanked before this format */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INCOMPATIBLE_MEDIUM, 0x05, -1);
	e->formatted = false;
	e->gen++;
	e->nheld = 0; /* what the cache held is erased with the rest */
	memset(e->wear, 0, sizeof(uint32_t) * e->npackets);
	if (ftruncate(e->fd, 0) < 0 || ftruncate(e->fd, (off_t)e->sectors * SECTOR) < 0)
		return emu_check(e, cmd, MMC_SK_HARDWARE_ERROR, MMC_ASC_INTERNAL_TARGET_FAILURE, 0x00, -1);
	e->c.formats++;
	bool quick = type == MMC_FMT_DVDRW_QUICK || type == MMC_FMT_DVDPRW || type == MMC_FMT_MRW ||
		     type == MMC_FMT_BD_NO_SPARE;
	e->bg_until_ns = 0;
	e->bg_stopped = false;
	if (type == MMC_FMT_DVDPRW) {
		/* DVD+RW: usable once the quick start is done; the drive formats the rest in the background
		 * for as long as a full pass over the disc would take. */
		e->bg_until_ns = e->c.sim_ns + emu_pass_ns(e, true) + emu_pass_ns(e, false);
	}
	emu_start_busy(e, true, quick, pl[1] & 0x02);
	emu_save_state(e);
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

int emu_do_blank(struct emu *e, struct mmc_cmd *cmd)
{
	int g = emu_medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (e->write_protect || e->read_only)
		return emu_check(e, cmd, MMC_SK_DATA_PROTECT, MMC_ASC_WRITE_PROTECTED, 0x00, -1);
	if (e->p->code != MMC_PROFILE_CDRW && e->p->code != MMC_PROFILE_DVDRW_RO)
		/* BLANK is for CD-RW and DVD-RW only */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_OPCODE, 0x00, -1);
	uint8_t type = cmd->cdb[1] & 7;
	if (type > 1)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	e->nheld = 0;
	e->formatted = false;
	e->blank_used = false;
	e->gen++;
	e->c.blanks++;
	emu_start_busy(e, false, type == 1, cmd->cdb[1] & 0x10);
	emu_save_state(e);
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}
