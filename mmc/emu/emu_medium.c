/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated media: the profile table and the medium's rules for reading and writing, with the speed model. */
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
#include <time.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Capacities from ../shared/reference/mmc.md "Pitfalls"; CD-MRW's is an estimate (MRW keeps ~2% spares). */
const struct profile emu_profiles[EMU_NPROFILES] = {
	{"cdrw", MMC_PROFILE_CDRW, MMC_PROFILE_CDRW, 295264, 32, MMC_FMT_CD_DVD_FP, RULE_FIXED_PACKETS,
	 153600.0 * 32 / 39, 100, 1000, false},
	{"dvd-rw", MMC_PROFILE_DVDRW_RO, MMC_PROFILE_DVDRW_SEQ, 2297888, 16, MMC_FMT_DVDRW_QUICK, RULE_ALIGNED,
	 1385000.0, 150, 1000, false},
	{"dvd+rw", MMC_PROFILE_DVDPRW, MMC_PROFILE_DVDPRW, 2295104, 16, MMC_FMT_DVDPRW, RULE_RMW, 1385000.0, 150, 1000,
	 false},
	{"dvd-ram", MMC_PROFILE_DVDRAM, MMC_PROFILE_DVDRAM, 2236704, 16, MMC_FMT_FULL, RULE_RANDOM, 1385000.0, 100,
	 100000, false},
	{"bd-re", MMC_PROFILE_BDRE, MMC_PROFILE_BDRE, 11826176, 32, MMC_FMT_BD_SPARE, RULE_RANDOM, 4500000.0, 200,
	 10000, false},
	{"cd-mrw", MMC_PROFILE_CDRW, MMC_PROFILE_CDRW, 289280, 32, MMC_FMT_MRW, RULE_RMW, 153600.0 * 32 / 39, 100, 1000,
	 true},
	/* Write-once media (emu_wo.c), capacities of the usual blanks: an 80-minute CD-R (ATIP lead-out start
	 * 79:59:74 = 359,849 sectors), DVD-R and DVD+R 4.7 GB, BD-R 25 GB without spare areas.  They take no
	 * FORMAT UNIT (fmt_type 0xff matches no format type); packet is the write unit. */
	{"cd-r", MMC_PROFILE_CDR, MMC_PROFILE_CDR, 359849, 32, 0xff, RULE_WRITE_ONCE, 153600.0 * 32 / 39, 100, 1,
	 false},
	{"dvd-r", MMC_PROFILE_DVDR, MMC_PROFILE_DVDR, 2298496, 16, 0xff, RULE_WRITE_ONCE, 1385000.0, 150, 1, false},
	{"dvd+r", MMC_PROFILE_DVDPR, MMC_PROFILE_DVDPR, 2295104, 16, 0xff, RULE_WRITE_ONCE, 1385000.0, 150, 1, false},
	{"bd-r", MMC_PROFILE_BDR, MMC_PROFILE_BDR, 12219392, 32, 0xff, RULE_WRITE_ONCE, 4500000.0, 200, 1, false},
};

const char emu_profile_list[] = "cdrw, dvd-rw, dvd+rw, dvd-ram, bd-re, cd-mrw, cd-r, dvd-r, dvd+r, bd-r";

uint16_t emu_cur_profile(const struct emu *e)
{
	return e->formatted ? e->p->code : e->p->code_blank;
}

void emu_advance(struct emu *e, uint64_t ns)
{
	e->c.sim_ns += ns;
}

/* The medium's own time (transfers, seeks, command overhead): simulated, and under realtime=1 also slept,
 * so that a host waits as long as on a real drive at that speed.  Formats and blanks stay simulated only
 * (a real quick format is a minute). */
void emu_spend(struct emu *e, uint64_t ns)
{
	emu_advance(e, ns);
	if (!e->realtime || !ns)
		return;
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

double emu_rate(const struct emu *e)
{
	return e->speed ? e->p->rate_1x * e->speed : 0;
}

/* Simulated cost of moving the head to lba and transferring n sectors. */
void emu_model_io(struct emu *e, uint64_t lba, uint64_t n)
{
	if (!e->speed)
		return;
	if (lba != e->head)
		emu_spend(e, (uint64_t)e->access_ms * 1000000u);
	emu_spend(e, (uint64_t)((double)n * SECTOR / emu_rate(e) * 1e9));
	e->head = lba + n;
}

bool emu_busy(struct emu *e)
{
	if (e->busy_until_ns && e->c.sim_ns >= e->busy_until_ns) {
		e->busy_until_ns = e->busy_start_ns = 0;
		if (e->busy_is_format)
			e->formatted = true;
	}
	return e->busy_until_ns != 0;
}

/* The drive's "1x" in the kB/s of SET CD SPEED / SET STREAMING / page 2Ah: CD counts the raw 176.4 kB/s
 * of audio, not the user-data rate. */
double emu_kbs_1x(const struct emu *e)
{
	uint16_t code = e->p->code;

	return code == MMC_PROFILE_CDRW || code == MMC_PROFILE_CDR   ? 176.4
	       : code == MMC_PROFILE_BDRE || code == MMC_PROFILE_BDR ? 4495.5
								     : 1385.0;
}

/* ---- medium access ---------------------------------------------------------------------------- */

int emu_medium_gate(struct emu *e, struct mmc_cmd *cmd)
{
	if (e->tray_open)
		return emu_check(e, cmd, MMC_SK_NOT_READY, MMC_ASC_MEDIUM_NOT_PRESENT, 0x02, -1);
	if (emu_busy(e))
		return emu_check(e, cmd, MMC_SK_NOT_READY, MMC_ASC_NOT_READY, e->busy_is_format ? 0x04 : 0x07, -1);
	return 1;
}

int emu_do_read(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n)
{
	int g = emu_medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (!e->formatted)
		/* nothing recorded yet */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
	if ((uint64_t)lba + n > e->sectors)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
	if (cmd->dir != MMC_DIR_IN || cmd->len < (uint64_t)n * SECTOR)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	if (emu_write_once(e) && (g = emu_wo_read_check(e, cmd, lba, n)) <= 0)
		return g;
	if (e->read_error >= 0 && (uint64_t)e->read_error >= lba && (uint64_t)e->read_error < (uint64_t)lba + n) {
		e->c.medium_errors++;
		return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_UNRECOVERED_READ_ERROR, 0x00, e->read_error);
	}
	ssize_t got = pread(e->fd, cmd->buf, (size_t)n * SECTOR, (off_t)lba * SECTOR);
	if (got < 0)
		return emu_check(e, cmd, MMC_SK_HARDWARE_ERROR, MMC_ASC_INTERNAL_TARGET_FAILURE, 0x00, -1);
	if ((size_t)got < (size_t)n * SECTOR)
		memset((char *)cmd->buf + got, 0, (size_t)n * SECTOR - (size_t)got);
	emu_overlay_held(e, lba, n, cmd->buf);
	if (emu_write_once(e))
		emu_wo_overlay(e, lba, n, cmd->buf);
	emu_model_io(e, lba, n);
	e->c.read_cmds++;
	e->c.read_sectors += n;
	cmd->status = MMC_STATUS_GOOD;
	cmd->resid = (int32_t)(cmd->len - n * SECTOR);
	return 0;
}

int emu_do_write(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n, char *note, size_t notelen)
{
	const struct profile *p = e->p;
	int g = emu_medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (e->write_protect || e->read_only)
		return emu_check(e, cmd, MMC_SK_DATA_PROTECT, MMC_ASC_WRITE_PROTECTED, 0x00, -1);
	if (!e->formatted)
		/* cannot write: incompatible format */
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INCOMPATIBLE_MEDIUM, 0x05, -1);
	if ((uint64_t)lba + n > e->sectors || n == 0)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
	if (cmd->dir != MMC_DIR_OUT || cmd->len != (uint64_t)n * SECTOR)
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	if (e->lwip) {
		e->lwip--;
		emu_advance(e, 5000000);
		return emu_check(e, cmd, MMC_SK_NOT_READY, MMC_ASC_NOT_READY, 0x08, -1);
	}
	if (emu_write_once(e))
		return emu_wo_write(e, cmd, lba, n, note, notelen);
	bool tail = (uint64_t)lba + n == e->sectors; /* the last packet of a disc may be short */
	switch (p->rule) {
	case RULE_FIXED_PACKETS:
		if (e->wp_write_type != 0 || !e->wp_fp || e->wp_packet != p->packet || e->wp_dbt != 8) {
			e->c.refused_writes++;
			snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " rule=refused(write parameters)", lba, n);
			return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_ILLEGAL_MODE_FOR_TRACK, 0x00, lba);
		}
		/* fixed packets have the same alignment rule as restricted overwrite */
		__attribute__((fallthrough));
	case RULE_ALIGNED:
		if (lba % p->packet || (n % p->packet && !tail)) {
			e->c.refused_writes++;
			snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " rule=refused(alignment)", lba, n);
			return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x02, lba);
		}
		break;
	case RULE_RMW:
	case RULE_RANDOM:
	case RULE_WRITE_ONCE: /* emu_wo_write took it above */
		break;
	}
	if (e->write_error >= 0 && (uint64_t)e->write_error >= lba && (uint64_t)e->write_error < (uint64_t)lba + n) {
		e->c.medium_errors++;
		return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, e->write_error);
	}
	uint32_t first = lba / p->packet, last = (lba + n - 1) / p->packet;
	for (uint32_t k = first; k <= last; k++)
		if (e->wear[k] >= e->wear_limit) {
			e->c.worn_failures++;
			snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " worn packet=%" PRIu32, lba, n, k);
			return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00,
					 (int64_t)k * p->packet);
		}
	unsigned rmw = 0;
	if (p->rule == RULE_RMW || p->rule == RULE_RANDOM) {
		/* Partial blocks at either end make the drive read the block, merge and write it back. */
		if (lba % p->packet)
			rmw++;
		if ((lba + n) % p->packet && !tail && (last != first || !rmw))
			rmw++;
	}
	if (e->held_cap
		    ? emu_hold_write(e, lba, n, cmd->buf) != 0
		    : pwrite(e->fd, cmd->buf, (size_t)n * SECTOR, (off_t)lba * SECTOR) != (ssize_t)((size_t)n * SECTOR))
		return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, lba);
	for (uint32_t k = first; k <= last; k++) {
		e->wear[k]++;
		if (e->wear[k] > e->c.max_wear)
			e->c.max_wear = e->wear[k];
	}
	emu_model_io(e, lba, n);
	if (rmw && e->speed) /* reading the block back costs one more pass over it per partial block */
		emu_spend(e, (uint64_t)((double)rmw * p->packet * SECTOR / emu_rate(e) * 1e9));
	e->c.rmw += rmw;
	e->c.write_cmds++;
	e->c.write_sectors += n;
	snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " rule=ok rmw=%u", lba, n, rmw);
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}
