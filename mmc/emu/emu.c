/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "emu.h"
#include "mmc_be.h"
#include "mmc_ops.h"
#include "../mmc_profiles.h"
#include "disc_lock.h"

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

#define SECTOR 2048u
#define STATE_MAGIC "PKTEMU01"

enum rule {
	RULE_FIXED_PACKETS, /* CD-RW: whole aligned packets, after page 05h says so */
	RULE_ALIGNED,	    /* DVD-RW restricted overwrite: 32 KiB aligned */
	RULE_RMW,	    /* DVD+RW, MRW: anything, partial blocks cost a read-modify-write */
	RULE_RANDOM,	    /* DVD-RAM, BD-RE: random writes (BD-RE still counts partial clusters) */
};

struct profile {
	const char *name;
	uint16_t code, code_blank; /* DVD-RW reports sequential (0014h) until formatted */
	uint32_t sectors;	   /* formatted capacity */
	uint32_t packet;
	uint8_t fmt_type; /* the FORMAT UNIT type that makes it packet-writable */
	enum rule rule;
	double rate_1x; /* user-data bytes/s at 1x (CD: 32 of 39 sectors are user data) */
	unsigned access_ms;
	uint32_t wear_limit;
	bool mrw;
};

/* Capacities from ../shared/reference/mmc.md "Pitfalls"; CD-MRW's is an estimate (MRW keeps ~2% spares). */
static const struct profile profiles[] = {
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
};
const char emu_profile_list[] = "cdrw, dvd-rw, dvd+rw, dvd-ram, bd-re, cd-mrw";

struct emu {
	struct mmc_transport t;
	const struct profile *p;
	char name[300];
	char *image, *state_path;
	int fd;
	FILE *log;
	/* medium */
	bool formatted, blank_used; /* blank_used: CD-RW holds a (non-packet) session that must be blanked */
	uint32_t sectors;
	uint32_t *wear;
	uint32_t npackets;
	uint64_t gen; /* bumped by every format: part of the disc's identity */
	/* drive */
	bool locked, tray_open, write_protect;
	uint8_t wp_write_type, wp_track_mode, wp_dbt;
	bool wp_fp;
	uint32_t wp_packet;
	uint64_t busy_until_ns, busy_start_ns; /* format / blank in progress */
	uint64_t bg_until_ns;		       /* DVD+RW background formatting runs until then */
	bool bg_stopped;
	bool busy_is_format;
	uint64_t head; /* next sector under the head, for the access-time model */
	/* faults */
	int64_t write_error, read_error;
	uint32_t lwip;
	uint64_t media_change_at, reset_at;
	bool reset_pending;
	bool ua_pending;
	/* model */
	unsigned speed, access_ms;
	uint32_t wear_limit;
	struct emu_counters c;
	uint8_t sense[MMC_SENSE_FIXED_LEN];
	bool read_only; /* opened for reading only: neither the image nor the state file is written */
	/* the drive's volatile write cache: packets held until SYNCHRONIZE CACHE or until it is full */
	struct held *held;
	uint32_t nheld, held_cap; /* held_cap 0: no cache, writes go straight to the medium */
	uint64_t rng;		  /* the drive's choices: which held packet to write, what a power cut keeps */
	/* power */
	uint64_t cut_after, cut_count; /* lose power once cut_count reaches cut_after (0: never) */
	bool cut_writes_only, cut_torn, powered_off;
};

/* One packet in the drive's write cache: the sectors written to it since it last reached the medium. */
struct held {
	uint32_t pkt;
	uint64_t valid; /* bit s: sector s of the packet is held (packets are at most 64 sectors) */
	uint8_t *data;	/* packet-sized */
};

static uint64_t emu_rnd(struct emu *e)
{
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	return e->rng;
}

static uint16_t cur_profile(const struct emu *e)
{
	return e->formatted ? e->p->code : e->p->code_blank;
}

/* Ends a command with CHECK CONDITION and fixed-format sense. */
static int check(struct emu *e, struct mmc_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq, int64_t info)
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
static int answer(struct mmc_cmd *cmd, const void *data, uint32_t n, uint32_t alloc)
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

static void advance(struct emu *e, uint64_t ns)
{
	e->c.sim_ns += ns;
}

static double rate(const struct emu *e)
{
	return e->speed ? e->p->rate_1x * e->speed : 0;
}

/* Simulated cost of moving the head to lba and transferring n sectors. */
static void model_io(struct emu *e, uint64_t lba, uint64_t n)
{
	if (!e->speed)
		return;
	if (lba != e->head)
		advance(e, (uint64_t)e->access_ms * 1000000u);
	advance(e, (uint64_t)((double)n * SECTOR / rate(e) * 1e9));
	e->head = lba + n;
}

static bool busy(struct emu *e)
{
	if (e->busy_until_ns && e->c.sim_ns >= e->busy_until_ns) {
		e->busy_until_ns = e->busy_start_ns = 0;
		if (e->busy_is_format)
			e->formatted = true;
	}
	return e->busy_until_ns != 0;
}

static int save_state(struct emu *e)
{
	char tmp[4096];
	FILE *f;

	if (e->write_protect || e->read_only)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", e->state_path);
	f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	uint8_t hdr[32] = {0};
	memcpy(hdr, STATE_MAGIC, 8);
	hdr[8] = (uint8_t)(e->p - profiles);
	hdr[9] = e->formatted;
	hdr[10] = e->blank_used;
	mmc_put_be32(hdr + 12, e->sectors);
	mmc_put_be32(hdr + 16, e->npackets);
	mmc_put_be32(hdr + 20, (uint32_t)(e->gen >> 32));
	mmc_put_be32(hdr + 24, (uint32_t)e->gen);
	bool ok = fwrite(hdr, sizeof(hdr), 1, f) == 1 &&
		  (!e->npackets || fwrite(e->wear, sizeof(uint32_t), e->npackets, f) == e->npackets);
	if (fclose(f) != 0 || !ok) {
		unlink(tmp);
		return -EIO;
	}
	return rename(tmp, e->state_path) ? -errno : 0;
}

static int load_state(struct emu *e, char *err, size_t errlen)
{
	FILE *f = fopen(e->state_path, "rb");
	uint8_t hdr[32];

	if (!f)
		return -errno;
	if (fread(hdr, sizeof(hdr), 1, f) != 1 || memcmp(hdr, STATE_MAGIC, 8)) {
		fclose(f);
		snprintf(err, errlen, "%s: not an emulator state file", e->state_path);
		return -EINVAL;
	}
	if (hdr[8] != (uint8_t)(e->p - profiles)) {
		fclose(f);
		snprintf(err, errlen, "%s: the image holds a %s disc, not %s", e->image,
			 hdr[8] < sizeof(profiles) / sizeof(profiles[0]) ? profiles[hdr[8]].name : "unknown",
			 e->p->name);
		return -EINVAL;
	}
	e->formatted = hdr[9];
	e->blank_used = hdr[10];
	e->sectors = mmc_get_be32(hdr + 12);
	uint32_t np = mmc_get_be32(hdr + 16);
	e->gen = (uint64_t)mmc_get_be32(hdr + 20) << 32 | mmc_get_be32(hdr + 24);
	if (np != (e->sectors + e->p->packet - 1) / e->p->packet) {
		fclose(f);
		snprintf(err, errlen, "%s: corrupt state file", e->state_path);
		return -EINVAL;
	}
	e->npackets = np;
	e->wear = calloc(np ? np : 1, sizeof(uint32_t));
	if (!e->wear || (np && fread(e->wear, sizeof(uint32_t), np, f) != np)) {
		fclose(f);
		snprintf(err, errlen, "%s: corrupt state file", e->state_path);
		return -EINVAL;
	}
	fclose(f);
	return 0;
}

/* ---- the drive's write cache and its power ---------------------------------------------------- */

static uint64_t sector_mask(uint32_t first, uint32_t n)
{
	return (n >= 64 ? ~0ull : (1ull << n) - 1) << first;
}

/* Writes the first keep held sectors of h (in sector order: a packet is recorded from its start) to
 * the medium. */
static int medium_write_held(struct emu *e, const struct held *h, unsigned keep)
{
	uint32_t ps = e->p->packet;
	unsigned done = 0;

	for (uint32_t s = 0; s < ps && done < keep;) {
		if (!(h->valid >> s & 1)) {
			s++;
			continue;
		}
		uint32_t run = 0;
		while (s + run < ps && (h->valid >> (s + run) & 1) && done + run < keep)
			run++;
		size_t bytes = (size_t)run * SECTOR;
		if (pwrite(e->fd, h->data + (size_t)s * SECTOR, bytes, ((off_t)h->pkt * ps + s) * SECTOR) !=
		    (ssize_t)bytes)
			return -EIO;
		done += run;
		s += run;
	}
	return 0;
}

/* Forgets held packet i (its buffer stays in the pool). */
static void held_remove(struct emu *e, uint32_t i)
{
	struct held tmp = e->held[i];

	e->held[i] = e->held[e->nheld - 1];
	e->held[--e->nheld] = tmp;
}

static int destage(struct emu *e, uint32_t i)
{
	int rc = medium_write_held(e, &e->held[i], UINT_MAX);

	if (rc == 0)
		held_remove(e, i);
	return rc;
}

/* SYNCHRONIZE CACHE: every held packet reaches the medium, in an order of the drive's choosing. */
static int destage_all(struct emu *e)
{
	while (e->nheld) {
		int rc = destage(e, (uint32_t)(emu_rnd(e) % e->nheld));
		if (rc)
			return rc;
	}
	return 0;
}

/* A write accepted by the drive lands in its cache; a full cache first writes a held packet of its
 * choosing to the medium. */
static int hold_write(struct emu *e, uint32_t lba, uint32_t n, const uint8_t *buf)
{
	uint32_t ps = e->p->packet;

	for (uint32_t s = 0; s < n;) {
		uint32_t pkt = (lba + s) / ps, off = (lba + s) % ps, k = ps - off < n - s ? ps - off : n - s;
		struct held *h = NULL;
		for (uint32_t i = 0; i < e->nheld && !h; i++)
			if (e->held[i].pkt == pkt)
				h = &e->held[i];
		if (!h) {
			if (e->nheld == e->held_cap) {
				int rc = destage(e, (uint32_t)(emu_rnd(e) % e->nheld));
				if (rc)
					return rc;
				e->c.destaged_packets++;
			}
			h = &e->held[e->nheld++];
			h->pkt = pkt;
			h->valid = 0;
		}
		memcpy(h->data + (size_t)off * SECTOR, buf + (size_t)s * SECTOR, (size_t)k * SECTOR);
		h->valid |= sector_mask(off, k);
		s += k;
	}
	return 0;
}

/* Reads see what the cache holds over what the medium has. */
static void overlay_held(const struct emu *e, uint32_t lba, uint32_t n, uint8_t *buf)
{
	uint32_t ps = e->p->packet;

	for (uint32_t i = 0; i < e->nheld; i++) {
		const struct held *h = &e->held[i];
		uint64_t start = (uint64_t)h->pkt * ps;
		for (uint32_t s = 0; s < ps; s++)
			if ((h->valid >> s & 1) && start + s >= lba && start + s < (uint64_t)lba + n)
				memcpy(buf + (size_t)(start + s - lba) * SECTOR, h->data + (size_t)s * SECTOR, SECTOR);
	}
}

/* The drive loses power: each held packet reaches the medium whole, not at all or (torn) a part of
 * it from its start, as the drive's seeded choices fall; from now on no command is answered. */
static void power_off(struct emu *e)
{
	uint64_t written = 0, lost = 0, torn = 0;

	while (e->nheld) {
		uint32_t i = (uint32_t)(emu_rnd(e) % e->nheld);
		const struct held *h = &e->held[i];
		unsigned count = (unsigned)__builtin_popcountll(h->valid);
		unsigned fate = (unsigned)(emu_rnd(e) % (e->cut_torn && count > 1 ? 3 : 2));
		if (fate == 1) {
			medium_write_held(e, h, count);
			written++;
		} else if (fate == 2) {
			medium_write_held(e, h, 1 + (unsigned)(emu_rnd(e) % (count - 1)));
			torn++;
		} else {
			lost++;
		}
		held_remove(e, i);
	}
	e->powered_off = true;
	e->c.powered_off = true;
	e->c.cut_written += written;
	e->c.cut_lost += lost;
	e->c.cut_torn += torn;
	if (e->log)
		fprintf(e->log,
			"power cut after command %" PRIu64 ": held packets written %" PRIu64 ", lost %" PRIu64
			", torn %" PRIu64 "\n",
			e->c.commands, written, lost, torn);
}

static bool is_medium_write_or_sync(uint8_t op)
{
	return op == MMC_OP_WRITE_10 || op == MMC_OP_WRITE_12 || op == MMC_OP_SYNCHRONIZE_CACHE;
}

static void logf_cmd(struct emu *e, const struct mmc_cmd *cmd, const char *extra)
{
	if (!e->log)
		return;
	fprintf(e->log, "op=%02X", cmd->cdb[0]);
	if (extra && *extra)
		fprintf(e->log, " %s", extra);
	if (cmd->status == MMC_STATUS_GOOD)
		fprintf(e->log, " status=GOOD\n");
	else
		fprintf(e->log, " status=CHECK sense=%02X/%02X/%02X\n", cmd->sense[MMC_SENSE_KEY] & 15,
			cmd->sense[MMC_SENSE_ASC], cmd->sense[MMC_SENSE_ASCQ]);
}

/* ---- medium access ---------------------------------------------------------------------------- */

static int medium_gate(struct emu *e, struct mmc_cmd *cmd)
{
	if (e->tray_open)
		return check(e, cmd, MMC_SK_NOT_READY, MMC_ASC_MEDIUM_NOT_PRESENT, 0x02, -1);
	if (busy(e))
		return check(e, cmd, MMC_SK_NOT_READY, MMC_ASC_NOT_READY, e->busy_is_format ? 0x04 : 0x07, -1);
	return 1;
}

static int do_read(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n)
{
	int g = medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (!e->formatted)
		/* nothing recorded yet */
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
	if ((uint64_t)lba + n > e->sectors)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
	if (cmd->dir != MMC_DIR_IN || cmd->len < (uint64_t)n * SECTOR)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	if (e->read_error >= 0 && (uint64_t)e->read_error >= lba && (uint64_t)e->read_error < (uint64_t)lba + n) {
		e->c.medium_errors++;
		return check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_UNRECOVERED_READ_ERROR, 0x00, e->read_error);
	}
	ssize_t got = pread(e->fd, cmd->buf, (size_t)n * SECTOR, (off_t)lba * SECTOR);
	if (got < 0)
		return check(e, cmd, MMC_SK_HARDWARE_ERROR, MMC_ASC_INTERNAL_TARGET_FAILURE, 0x00, -1);
	if ((size_t)got < (size_t)n * SECTOR)
		memset((char *)cmd->buf + got, 0, (size_t)n * SECTOR - (size_t)got);
	overlay_held(e, lba, n, cmd->buf);
	model_io(e, lba, n);
	e->c.read_cmds++;
	e->c.read_sectors += n;
	cmd->status = MMC_STATUS_GOOD;
	cmd->resid = (int32_t)(cmd->len - n * SECTOR);
	return 0;
}

static int do_write(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n, char *note, size_t notelen)
{
	const struct profile *p = e->p;
	int g = medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (e->write_protect || e->read_only)
		return check(e, cmd, MMC_SK_DATA_PROTECT, MMC_ASC_WRITE_PROTECTED, 0x00, -1);
	if (!e->formatted)
		/* cannot write: incompatible format */
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INCOMPATIBLE_MEDIUM, 0x05, -1);
	if ((uint64_t)lba + n > e->sectors || n == 0)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
	if (cmd->dir != MMC_DIR_OUT || cmd->len != (uint64_t)n * SECTOR)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	if (e->lwip) {
		e->lwip--;
		advance(e, 5000000);
		return check(e, cmd, MMC_SK_NOT_READY, MMC_ASC_NOT_READY, 0x08, -1);
	}
	bool tail = (uint64_t)lba + n == e->sectors; /* the last packet of a disc may be short */
	switch (p->rule) {
	case RULE_FIXED_PACKETS:
		if (e->wp_write_type != 0 || !e->wp_fp || e->wp_packet != p->packet || e->wp_dbt != 8) {
			e->c.refused_writes++;
			snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " rule=refused(write parameters)", lba, n);
			return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_ILLEGAL_MODE_FOR_TRACK, 0x00, lba);
		}
		/* fixed packets have the same alignment rule as restricted overwrite */
		__attribute__((fallthrough));
	case RULE_ALIGNED:
		if (lba % p->packet || (n % p->packet && !tail)) {
			e->c.refused_writes++;
			snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " rule=refused(alignment)", lba, n);
			return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x02, lba);
		}
		break;
	case RULE_RMW:
	case RULE_RANDOM:
		break;
	}
	if (e->write_error >= 0 && (uint64_t)e->write_error >= lba && (uint64_t)e->write_error < (uint64_t)lba + n) {
		e->c.medium_errors++;
		return check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, e->write_error);
	}
	uint32_t first = lba / p->packet, last = (lba + n - 1) / p->packet;
	for (uint32_t k = first; k <= last; k++)
		if (e->wear[k] >= e->wear_limit) {
			e->c.worn_failures++;
			snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " worn packet=%" PRIu32, lba, n, k);
			return check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, (int64_t)k * p->packet);
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
		    ? hold_write(e, lba, n, cmd->buf) != 0
		    : pwrite(e->fd, cmd->buf, (size_t)n * SECTOR, (off_t)lba * SECTOR) != (ssize_t)((size_t)n * SECTOR))
		return check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_WRITE_ERROR, 0x00, lba);
	for (uint32_t k = first; k <= last; k++) {
		e->wear[k]++;
		if (e->wear[k] > e->c.max_wear)
			e->c.max_wear = e->wear[k];
	}
	model_io(e, lba, n);
	if (rmw && e->speed) /* reading the block back costs one more pass over it per partial block */
		advance(e, (uint64_t)((double)rmw * p->packet * SECTOR / rate(e) * 1e9));
	e->c.rmw += rmw;
	e->c.write_cmds++;
	e->c.write_sectors += n;
	snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32 " rule=ok rmw=%u", lba, n, rmw);
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

/* ---- answers ------------------------------------------------------------------------------------ */

static int do_inquiry(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[36] = {0};

	if (cmd->cdb[1] & 1) /* vital product data pages are not emulated */
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
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
	return answer(cmd, d, sizeof(d), cmd->cdb[3] << 8 | cmd->cdb[4]);
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

static int do_get_config(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t all[256] = {0}, out[256] = {0};
	uint8_t rt = cmd->cdb[1] & 3;
	uint16_t start = mmc_get_be16(cmd->cdb + 2);
	bool present = !e->tray_open;
	uint16_t prof = present ? cur_profile(e) : 0;
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
	return answer(cmd, out, (uint32_t)o, mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

static int do_disc_info(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[34] = {0};
	int g = medium_gate(e, cmd);

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
	mmc_put_be32(d + 12, (uint32_t)(e->gen * 2654435761u)); /* disc identification */
	return answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

static int do_track_info(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[36] = {0};
	int g = medium_gate(e, cmd);

	if (g <= 0)
		return g;
	uint8_t at = cmd->cdb[1] & 3;
	uint32_t addr = mmc_get_be32(cmd->cdb + MMC_CDB_LBA);
	if ((at == 1 || at == 2) && addr != 1)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	if (at == 0 && addr >= (e->formatted ? e->sectors : 1))
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, addr);
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
	return answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

static int do_format_caps(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[4 + 16] = {0};

	if (e->tray_open) {
		d[3] = 8;
		mmc_put_be32(d + 4, 0xffffffffu);
		d[8] = 3;
		mmc_put_be32(d + 8, 3u << 24 | SECTOR);
		return answer(cmd, d, 12, mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
	}
	d[3] = 16;
	mmc_put_be32(d + 4, e->sectors);
	mmc_put_be32(d + 8, (e->formatted ? 2u : 1u) << 24 | SECTOR);
	mmc_put_be32(d + 12, e->sectors);
	mmc_put_be32(d + 16, (uint32_t)e->p->fmt_type << 26 | (e->p->fmt_type == MMC_FMT_CD_DVD_FP ? e->p->packet : 0));
	return answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

/* Simulated length of a full pass over the disc, or of the minute or so a quick format takes. */
static uint64_t pass_ns(const struct emu *e, bool quick)
{
	double r = e->p->rate_1x * (e->speed ? e->speed : 4);

	return quick ? 60ull * 1000000000u : (uint64_t)((double)e->sectors * SECTOR / r * 1e9);
}

/* Starts a simulated format or blank of the whole disc. */
static void start_busy(struct emu *e, bool format, bool quick, bool immed)
{
	uint64_t ns = pass_ns(e, quick);

	e->busy_is_format = format;
	e->busy_start_ns = e->c.sim_ns;
	e->busy_until_ns = e->c.sim_ns + ns;
	if (!immed)
		advance(e, ns);
	busy(e);
}

static int do_format(struct emu *e, struct mmc_cmd *cmd)
{
	const uint8_t *pl = cmd->buf;
	int g = medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (e->write_protect || e->read_only)
		return check(e, cmd, MMC_SK_DATA_PROTECT, MMC_ASC_WRITE_PROTECTED, 0x00, -1);
	if (!(cmd->cdb[1] & 0x10) || (cmd->cdb[1] & 7) != 1 || cmd->dir != MMC_DIR_OUT || cmd->len < 12)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	uint8_t type = pl[8] >> 2;
	uint32_t param = mmc_get_be24(pl + 9);
	bool ok = type == e->p->fmt_type;
	if (e->p->code == MMC_PROFILE_DVDRW_RO && (type == MMC_FMT_FULL || type == MMC_FMT_CD_DVD_FP))
		ok = true; /* DVD-RW: full formats as well as the quick one */
	if (e->p->code == MMC_PROFILE_BDRE && type == MMC_FMT_BD_NO_SPARE)
		ok = true;
	if (!ok || (type == MMC_FMT_CD_DVD_FP && param != e->p->packet))
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_PARAMETERS, 0x00, -1);
	if (e->p->rule == RULE_FIXED_PACKETS && (e->blank_used || e->formatted))
		/* a CD-RW must be blanked before this format */
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INCOMPATIBLE_MEDIUM, 0x05, -1);
	e->formatted = false;
	e->gen++;
	e->nheld = 0; /* what the cache held is erased with the rest */
	memset(e->wear, 0, sizeof(uint32_t) * e->npackets);
	if (ftruncate(e->fd, 0) < 0 || ftruncate(e->fd, (off_t)e->sectors * SECTOR) < 0)
		return check(e, cmd, MMC_SK_HARDWARE_ERROR, MMC_ASC_INTERNAL_TARGET_FAILURE, 0x00, -1);
	e->c.formats++;
	bool quick = type == MMC_FMT_DVDRW_QUICK || type == MMC_FMT_DVDPRW || type == MMC_FMT_MRW ||
		     type == MMC_FMT_BD_NO_SPARE;
	e->bg_until_ns = 0;
	e->bg_stopped = false;
	if (type == MMC_FMT_DVDPRW) {
		/* DVD+RW: usable once the quick start is done; the drive formats the rest in the background
		 * for as long as a full pass over the disc would take. */
		e->bg_until_ns = e->c.sim_ns + pass_ns(e, true) + pass_ns(e, false);
	}
	start_busy(e, true, quick, pl[1] & 0x02);
	save_state(e);
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

static int do_blank(struct emu *e, struct mmc_cmd *cmd)
{
	int g = medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (e->write_protect || e->read_only)
		return check(e, cmd, MMC_SK_DATA_PROTECT, MMC_ASC_WRITE_PROTECTED, 0x00, -1);
	if (e->p->code != MMC_PROFILE_CDRW && e->p->code != MMC_PROFILE_DVDRW_RO)
		/* BLANK is for CD-RW and DVD-RW only */
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_OPCODE, 0x00, -1);
	uint8_t type = cmd->cdb[1] & 7;
	if (type > 1)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	e->nheld = 0;
	e->formatted = false;
	e->blank_used = false;
	e->gen++;
	e->c.blanks++;
	start_busy(e, false, type == 1, cmd->cdb[1] & 0x10);
	save_state(e);
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

/* The drive's "1x" in the kB/s of SET CD SPEED / SET STREAMING / page 2Ah: CD counts the raw 176.4 kB/s
 * of audio, not the user-data rate. */
static double kbs_1x(const struct emu *e)
{
	return e->p->code == MMC_PROFILE_CDRW ? 176.4 : e->p->code == MMC_PROFILE_BDRE ? 4495.5 : 1385.0;
}

static int do_mode_sense(struct emu *e, struct mmc_cmd *cmd)
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
		pg[3] = (uint8_t)((e->wp_fp ? 0x20 : 0) | e->wp_track_mode);
		pg[4] = e->wp_dbt;
		pg[8] = 0x00;
		mmc_put_be32(pg + 10, e->wp_packet);
		n = MMC_MODE_HEADER_LEN + 52;
	} else if (page == MMC_PAGE_CAPABILITIES) {
		uint8_t *pg = d + MMC_MODE_HEADER_LEN;
		unsigned kbs = (unsigned)(kbs_1x(e) * (e->speed ? e->speed : 4));
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
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	}
	mmc_put_be16(d, n - 2);
	return answer(cmd, d, n, mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

static int do_mode_select(struct emu *e, struct mmc_cmd *cmd)
{
	const uint8_t *d = cmd->buf;
	uint16_t plen = mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH);

	if (cmd->dir != MMC_DIR_OUT || plen > cmd->len || plen < 8)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_PARAMETER_LIST_LENGTH, 0x00, -1);
	size_t off = MMC_MODE_HEADER_LEN + mmc_get_be16(d + MMC_MODE_HEADER_BD_LEN);
	if (off + 14 > plen)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_PARAMETER_LIST_LENGTH, 0x00, -1);
	const uint8_t *pg = d + off;
	if ((pg[0] & 0x3f) != MMC_PAGE_WRITE_PARAMETERS)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_PARAMETERS, 0x00, -1);
	uint8_t wt = pg[2] & 0x0f, dbt = pg[4] & 0x0f;
	uint32_t packet = mmc_get_be32(pg + 10);
	if (wt > 4 || (dbt != 8 && dbt != 10 && dbt != 0) || packet > 1024)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_PARAMETERS, 0x00, -1);
	e->wp_write_type = wt;
	e->wp_fp = pg[3] & 0x20;
	e->wp_track_mode = pg[3] & 0x0f;
	e->wp_dbt = dbt;
	e->wp_packet = packet;
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

static int do_request_sense(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t s[MMC_SENSE_FIXED_LEN] = {0x70, 0, 0, 0, 0, 0, 0, MMC_SENSE_FIXED_LEN - 8};

	if (busy(e)) {
		check(e, cmd, MMC_SK_NOT_READY, MMC_ASC_NOT_READY, e->busy_is_format ? 0x04 : 0x07, -1);
		memcpy(s, e->sense, sizeof(s));
	}
	return answer(cmd, s, sizeof(s), cmd->cdb[MMC_CDB6_ALLOC_LEN]);
}

static int do_gesn(struct emu *e, struct mmc_cmd *cmd)
{
	uint8_t d[8] = {0};

	if (!(cmd->cdb[1] & 1))
		/* asynchronous mode is not offered */
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	mmc_put_be16(d, 6);
	d[2] = 4;
	d[3] = 0x10;
	d[5] = e->tray_open ? 0x01 : 0x02;
	return answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + MMC_CDB10_LENGTH));
}

/* READ DVD STRUCTURE, format 00h (physical format information) only: what tools such as
 * dvd+rw-mediainfo ask first. */
static int do_dvd_structure(struct emu *e, struct mmc_cmd *cmd)
{
	static uint8_t d[4 + 2048];
	uint16_t code = e->p->code;
	int g = medium_gate(e, cmd);

	if (g <= 0)
		return g;
	if (code < 0x10 || code > 0x2f || cmd->cdb[7] != 0x00)
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
	memset(d, 0, sizeof(d));
	mmc_put_be16(d, 2048 + 2);
	uint8_t book = code == MMC_PROFILE_DVDPRW ? 0x9 : code == MMC_PROFILE_DVDRAM ? 0x1 : 0x3;
	d[4] = (uint8_t)(book << 4 | 0x01);
	d[5] = 0x0f;		       /* 120 mm, maximum rate not specified */
	d[6] = 0x04;		       /* one layer, parallel track path, rewritable */
	mmc_put_be32(d + 8, 0x030000); /* first physical sector of the data area */
	mmc_put_be32(d + 12, 0x030000 + e->sectors - 1);
	return answer(cmd, d, sizeof(d), mmc_get_be16(cmd->cdb + 8));
}

static void set_speed_kbs(struct emu *e, uint32_t kbs)
{
	/* 0xffff / 0xffffffff mean "as fast as possible": keep the configured speed. */
	if (!e->speed || kbs == 0xffff || kbs == 0xffffffffu || !kbs)
		return;
	unsigned x = (unsigned)((double)kbs / kbs_1x(e) + 0.5);
	e->speed = x ? x : 1;
}

/* Ends a command with GOOD status and no data. */
static int good(struct mmc_cmd *cmd)
{
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

/* The LBA and transfer length of READ, WRITE and VERIFY, (10) or (12). */
static uint32_t cdb_lba(const uint8_t *c)
{
	return mmc_get_be32(c + MMC_CDB_LBA);
}

static uint32_t cdb_count(const uint8_t *c)
{
	bool twelve = c[0] == MMC_OP_READ_12 || c[0] == MMC_OP_WRITE_12;

	return twelve ? mmc_get_be32(c + MMC_CDB12_LENGTH) : mmc_get_be16(c + MMC_CDB10_LENGTH);
}

static int dispatch(struct emu *e, struct mmc_cmd *cmd, char *note, size_t notelen)
{
	const uint8_t *c = cmd->cdb;

	switch (c[0]) {
	case MMC_OP_TEST_UNIT_READY: {
		int g = medium_gate(e, cmd);
		if (g <= 0)
			return g;
		return good(cmd);
	}
	case MMC_OP_REQUEST_SENSE:
		return do_request_sense(e, cmd);
	case MMC_OP_INQUIRY:
		return do_inquiry(e, cmd);
	case MMC_OP_GET_CONFIGURATION:
		return do_get_config(e, cmd);
	case MMC_OP_GET_EVENT_STATUS_NOTIFICATION:
		return do_gesn(e, cmd);
	case MMC_OP_READ_CAPACITY: {
		int g = medium_gate(e, cmd);
		if (g <= 0)
			return g;
		uint8_t d[8];
		mmc_put_be32(d, e->formatted ? e->sectors - 1 : 0);
		mmc_put_be32(d + 4, SECTOR);
		return answer(cmd, d, 8, 8);
	}
	case MMC_OP_READ_DISC_INFORMATION:
		return do_disc_info(e, cmd);
	case MMC_OP_READ_TRACK_INFORMATION:
		return do_track_info(e, cmd);
	case MMC_OP_MODE_SENSE_10:
		return do_mode_sense(e, cmd);
	case MMC_OP_MODE_SELECT_10:
		return do_mode_select(e, cmd);
	case MMC_OP_READ_10:
	case MMC_OP_READ_12:
		snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32, cdb_lba(c), cdb_count(c));
		return do_read(e, cmd, cdb_lba(c), cdb_count(c));
	case MMC_OP_WRITE_10:
	case MMC_OP_WRITE_12:
		return do_write(e, cmd, cdb_lba(c), cdb_count(c), note, notelen);
	case MMC_OP_VERIFY_10: {
		int g = medium_gate(e, cmd);
		if (g <= 0)
			return g;
		uint32_t lba = cdb_lba(c), n = cdb_count(c);
		if (!e->formatted || (uint64_t)lba + n > e->sectors)
			return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
		if (e->read_error >= 0 && (uint64_t)e->read_error >= lba && (uint64_t)e->read_error < (uint64_t)lba + n)
			return check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_UNRECOVERED_READ_ERROR, 0x00, e->read_error);
		model_io(e, lba, n);
		return good(cmd);
	}
	case MMC_OP_SYNCHRONIZE_CACHE: {
		int g = medium_gate(e, cmd);
		if (g <= 0)
			return g;
		e->c.syncs++;
		if (destage_all(e) < 0 || save_state(e) < 0)
			return check(e, cmd, MMC_SK_HARDWARE_ERROR, MMC_ASC_INTERNAL_TARGET_FAILURE, 0x00, -1);
		return good(cmd);
	}
	case MMC_OP_READ_FORMAT_CAPACITIES:
		return do_format_caps(e, cmd);
	case MMC_OP_READ_DVD_STRUCTURE:
		return do_dvd_structure(e, cmd);
	case MMC_OP_FORMAT_UNIT:
		return do_format(e, cmd);
	case MMC_OP_BLANK:
		return do_blank(e, cmd);
	case MMC_OP_SET_CD_SPEED:
		set_speed_kbs(e, mmc_get_be16(c + 4));
		return good(cmd);
	case MMC_OP_SET_STREAMING: {
		if (cmd->dir != MMC_DIR_OUT || cmd->len < 28)
			return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_PARAMETER_LIST_LENGTH, 0x00, -1);
		const uint8_t *pd = cmd->buf;
		uint32_t t = mmc_get_be32(pd + 24);
		set_speed_kbs(e, t ? (uint32_t)((uint64_t)mmc_get_be32(pd + 20) * 1000 / t) : 0);
		return good(cmd);
	}
	case MMC_OP_START_STOP_UNIT:
		if (c[4] & 2) {
			bool open = !(c[4] & 1);
			if (open && e->locked)
				return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_MEDIUM_REMOVAL_PREVENTED, 0x02,
					     -1);
			if (!open && e->tray_open)
				e->ua_pending = true; /* a (possibly other) disc was loaded */
			e->tray_open = open;
		}
		return good(cmd);
	case MMC_OP_PREVENT_ALLOW_MEDIUM_REMOVAL:
		e->locked = c[4] & 1;
		return good(cmd);
	case MMC_OP_CLOSE_TRACK_SESSION: {
		int g = medium_gate(e, cmd);
		if (g <= 0)
			return g;
		if ((c[2] & 7) > 6)
			return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
		if (e->p->code == MMC_PROFILE_DVDPRW && (c[2] & 7) == 0 && e->c.sim_ns < e->bg_until_ns &&
		    !e->bg_stopped) {
			e->bg_stopped = true;
			e->c.bg_stops++;
		}
		save_state(e);
		return good(cmd);
	}
	default:
		return check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_OPCODE, 0x00, -1);
	}
}

static int exec_one(struct emu *e, struct mmc_cmd *cmd)
{
	char note[128] = "";
	int rc;

	e->c.commands++;
	cmd->resid = 0;
	advance(e, e->speed ? 100000 : 0); /* command overhead: 0.1 ms */
	if ((cmd->len && !cmd->buf) || (cmd->dir == MMC_DIR_NONE && cmd->len)) {
		/* A malformed request from the initiator: no data phase is possible. */
		rc = check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
		logf_cmd(e, cmd, "bad data buffer");
		return rc;
	}
	if (e->media_change_at && e->c.commands == e->media_change_at)
		e->ua_pending = true;
	if (e->reset_at && e->c.commands == e->reset_at) {
		/* A bus reset: the drive forgets its mode pages and reports it once. */
		e->reset_pending = true;
		e->wp_write_type = 1;
		e->wp_fp = false;
		e->wp_packet = 0;
		e->wp_dbt = 0;
	}
	/* INQUIRY and REQUEST SENSE never report a unit attention (SPC). */
	if (e->ua_pending && cmd->cdb[0] != MMC_OP_INQUIRY && cmd->cdb[0] != MMC_OP_REQUEST_SENSE) {
		e->ua_pending = false;
		rc = check(e, cmd, MMC_SK_UNIT_ATTENTION, MMC_ASC_MEDIUM_MAY_HAVE_CHANGED, 0x00, -1);
	} else if (e->reset_pending && cmd->cdb[0] != MMC_OP_INQUIRY && cmd->cdb[0] != MMC_OP_REQUEST_SENSE) {
		e->reset_pending = false;
		rc = check(e, cmd, MMC_SK_UNIT_ATTENTION, MMC_ASC_POWER_ON_RESET, 0x00, -1);
	} else {
		rc = dispatch(e, cmd, note, sizeof(note));
	}
	logf_cmd(e, cmd, note);
	return rc;
}

static int emu_exec(struct mmc_transport *t, struct mmc_cmd *cmd)
{
	struct emu *e = t->priv;

	/* A drive without power answers nothing: the host sees the device gone. */
	if (e->powered_off)
		return -ENODEV;
	int rc = exec_one(e, cmd);
	if (e->cut_after && (!e->cut_writes_only || is_medium_write_or_sync(cmd->cdb[0])) &&
	    ++e->cut_count >= e->cut_after)
		power_off(e);
	return rc;
}

static void emu_sleep(struct mmc_transport *t, unsigned ms)
{
	struct emu *e = t->priv;

	advance(e, (uint64_t)ms * 1000000u);
}

static size_t emu_describe(struct mmc_transport *t, char *buf, size_t len)
{
	struct emu *e = t->priv;
	struct emu_counters *c = &e->c;
	size_t n = mmc_appendf(buf, len,
			       "emu_profile: %s\n"
			       "emu_speed: %u\n"
			       "emu_sim_seconds: %.3f\n"
			       "emu_medium_rate_bytes_per_s: %.0f\n"
			       "emu_write_commands: %" PRIu64 "\n"
			       "emu_write_sectors: %" PRIu64 "\n"
			       "emu_read_commands: %" PRIu64 "\n"
			       "emu_refused_writes: %" PRIu64 "\n"
			       "emu_rmw: %" PRIu64 "\n"
			       "emu_max_wear: %" PRIu64 "\n"
			       "emu_write_cache_bytes: %" PRIu64 "\n"
			       "emu_write_cache_held_packets: %" PRIu32 "\n",
			       e->p->name, e->speed, (double)c->sim_ns / 1e9, rate(e), c->write_cmds, c->write_sectors,
			       c->read_cmds, c->refused_writes, c->rmw, c->max_wear,
			       (uint64_t)e->held_cap * e->p->packet * SECTOR, e->nheld);
	return n;
}

static void emu_free(struct emu *e)
{
	if (e->log)
		fclose(e->log);
	if (e->fd >= 0) {
		disc_lock_forget(e->fd);
		close(e->fd);
	}
	for (uint32_t i = 0; e->held && i < e->held_cap; i++)
		free(e->held[i].data);
	free(e->held);
	free(e->wear);
	free(e->image);
	free(e->state_path);
	free(e);
}

/* The host lets go of the drive; the drive keeps its power and writes what it holds. */
static void emu_close(struct mmc_transport *t)
{
	struct emu *e = t->priv;

	if (!e->powered_off) {
		destage_all(e);
		save_state(e);
	}
	emu_free(e);
}

static const struct mmc_transport_ops emu_ops = {
	.exec = emu_exec,
	.sleep_ms = emu_sleep,
	.describe = emu_describe,
	.close = emu_close,
};

bool emu_get_counters(struct mmc_transport *t, struct emu_counters *out)
{
	if (!t || t->ops != &emu_ops)
		return false;
	struct emu *e = t->priv;
	*out = e->c;
	out->rate_bps = rate(e);
	out->held_packets = e->nheld;
	return true;
}

int emu_set_power_cut(struct mmc_transport *t, const struct emu_power_cut *pc)
{
	if (!t || t->ops != &emu_ops)
		return -EINVAL;
	struct emu *e = t->priv;
	if (e->powered_off)
		return -ENODEV;
	if (pc->seed)
		e->rng = (pc->seed ^ 0x9e3779b97f4a7c15ull) * 2654435761u | 1;
	e->cut_torn = pc->torn;
	e->cut_writes_only = pc->writes_only;
	e->cut_count = 0;
	e->cut_after = pc->after;
	if (!pc->after)
		power_off(e);
	return 0;
}

/* "64M" → bytes; false on garbage. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return false;
	uint64_t mul = 1;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1024ull * 1024 * 1024;
		end++;
		break;
	case 's':
	case 'S':
		mul = SECTOR;
		end++;
		break; /* sectors */
	default:
		break;
	}
	if (*end || v > UINT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return false;
	*out = v;
	return true;
}

static bool is_numeric_option(const char *o)
{
	static const char *const names[] = {"speed", "access_ms",    "wear_limit", "write_error", "read_error",
					    "lwip",  "media_change", "reset",	   "power_cut",	  "seed"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(o, names[i]))
			return true;
	return false;
}

#define DEFAULT_WCACHE (2u << 20) /* what CD and DVD writers have; BD writers often 4 MiB */
#define MAX_WCACHE (256u << 20)

/* The drive's write cache of wcache bytes: whole packets, buffers allocated once. */
static int alloc_wcache(struct emu *e, uint64_t wcache)
{
	size_t pbytes = (size_t)e->p->packet * SECTOR;

	e->held_cap = (uint32_t)(wcache / pbytes);
	if (!e->held_cap)
		return 0;
	e->held = calloc(e->held_cap, sizeof(*e->held));
	if (!e->held)
		return -ENOMEM;
	for (uint32_t i = 0; i < e->held_cap; i++)
		if (!(e->held[i].data = malloc(pbytes)))
			return -ENOMEM;
	return 0;
}

/* A new blank disc: a sparse image of the profile's (or the given) capacity.  0, or -1 with err. */
static int create_disc(struct emu *e, uint64_t size, char *err, size_t errlen)
{
	e->fd = open(e->image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (e->fd < 0) {
		snprintf(err, errlen, "%s: %s", e->image, strerror(errno));
		return -1;
	}
	e->sectors = size ? (uint32_t)(size / SECTOR) : e->p->sectors;
	e->npackets = (e->sectors + e->p->packet - 1) / e->p->packet;
	e->wear = calloc(e->npackets, sizeof(uint32_t));
	if (!e->wear || ftruncate(e->fd, (off_t)e->sectors * SECTOR) < 0) {
		snprintf(err, errlen, "%s: cannot create the image: %s", e->image,
			 e->wear ? strerror(errno) : "out of memory");
		unlink(e->image);
		return -1;
	}
	e->gen = 1;
	/* A new disc has its state file even when opened only to be read (pktfuse info ...,size=). */
	bool read_only = e->read_only;
	e->read_only = false;
	int rc = save_state(e);
	e->read_only = read_only;
	if (rc < 0) {
		snprintf(err, errlen, "cannot write the emulated disc's state file %s: %s", e->state_path,
			 strerror(-rc));
		unlink(e->image);
		return -1;
	}
	return 0;
}

/* An existing disc: its state file, or (an image made elsewhere) a formatted disc of the file's size. */
static int load_disc(struct emu *e, const struct stat *st, char *err, size_t errlen)
{
	int rc = load_state(e, err, errlen);

	if (rc == -ENOENT) {
		if (st->st_size < (off_t)SECTOR * e->p->packet || st->st_size % SECTOR ||
		    st->st_size / SECTOR > UINT32_MAX) {
			snprintf(err, errlen, "%s: size %lld is not a usable disc size", e->image,
				 (long long)st->st_size);
			return -1;
		}
		e->sectors = (uint32_t)(st->st_size / SECTOR);
		e->npackets = (e->sectors + e->p->packet - 1) / e->p->packet;
		e->wear = calloc(e->npackets, sizeof(uint32_t));
		if (!e->wear) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		e->formatted = true;
		e->gen = 1;
	} else if (rc < 0) {
		if (rc != -EINVAL)
			snprintf(err, errlen, "%s: %s", e->state_path, strerror(-rc));
		return -1;
	}
	/* Writing the state now tells at once what SYNCHRONIZE CACHE would only find out later. */
	rc = save_state(e);
	if (rc < 0) {
		snprintf(err, errlen, "cannot write the emulated disc's state file %s: %s", e->state_path,
			 strerror(-rc));
		return -1;
	}
	return 0;
}

/* The disc behind IMAGE: opened, locked, its state loaded; a new one only when asked.  0, or -1. */
static int open_disc(struct emu *e, const struct emu_open_options *oo, uint64_t size, char *err, size_t errlen)
{
	struct stat st;
	bool fresh = stat(e->image, &st) < 0;

	if (fresh) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", e->image, strerror(errno));
			return -1;
		}
		if (e->write_protect) {
			snprintf(err, errlen, "%s: no such image (a write-protected disc must exist)", e->image);
			return -1;
		}
		if (!oo->create && !size) {
			snprintf(err, errlen,
				 "no such emulated disc %s (pktfuse format emu:%s:%s creates one, or give size=)",
				 e->image, e->p->name, e->image);
			return -1;
		}
		if (create_disc(e, size, err, errlen))
			return -1;
	} else {
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s: not a regular file", e->image);
			return -1;
		}
		e->fd = open(e->image, (e->write_protect || e->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (e->fd < 0) {
			int en = errno;
			snprintf(err, errlen, "cannot %s the emulated disc's image %s: %s",
				 e->read_only ? "read" : "write", e->image, strerror(en));
			return -1;
		}
	}
	/* One drive, one user at a time: as a real drive opened with O_EXCL. */
	if (disc_lock_take(e->fd, e->image, !(e->write_protect || e->read_only), err, errlen) != 0)
		return -1;
	return fresh ? 0 : load_disc(e, &st, err, errlen);
}

struct mmc_transport *emu_open(const char *spec, char *err, size_t errlen)
{
	const struct emu_open_options oo = {0};

	return emu_open_opts(spec, &oo, err, errlen);
}

struct mmc_transport *emu_open_opts(const char *spec, const struct emu_open_options *oo, char *err, size_t errlen)
{
	struct emu *e = calloc(1, sizeof(*e));
	char *dup = strdup(spec ? spec : "");
	char *log_path = NULL;
	uint64_t size = 0, wcache = DEFAULT_WCACHE, seed = 1;

	if (!e || !dup) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	e->fd = -1;
	e->write_error = e->read_error = -1;
	e->read_only = oo->read_only;
	snprintf(e->name, sizeof(e->name), "emu:%s", spec);
	char *colon = strchr(dup, ':');
	if (!colon) {
		snprintf(err, errlen, "emu:%s: expected emu:PROFILE:IMAGE[,option=value...]", spec);
		goto fail;
	}
	*colon = 0;
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strcmp(dup, profiles[i].name))
			e->p = &profiles[i];
	if (!e->p) {
		snprintf(err, errlen, "emu: unknown profile '%s' (known: %s)", dup, emu_profile_list);
		goto fail;
	}
	e->wear_limit = e->p->wear_limit;
	e->access_ms = e->p->access_ms;
	char *image = colon + 1, *opts = strchr(image, ',');
	if (opts)
		*opts++ = 0;
	if (!*image) {
		snprintf(err, errlen, "emu:%s: no image file given", spec);
		goto fail;
	}
	for (char *o = opts, *next; o && *o; o = next) {
		next = strchr(o, ',');
		if (next)
			*next++ = 0;
		char *val = strchr(o, '=');
		if (val)
			*val++ = 0;
		const char *name = o;
		uint64_t v = 0;
		bool ok = true;
		if (!strcmp(o, "log") && val && *val)
			log_path = val;
		else if (!strcmp(o, "size") && val)
			ok = parse_size(val, &size) && size >= (uint64_t)SECTOR * e->p->packet && size % SECTOR == 0 &&
			     size / SECTOR <= UINT32_MAX;
		else if (!strcmp(o, "wcache") && val)
			ok = parse_size(val, &wcache) && wcache <= MAX_WCACHE &&
			     (wcache == 0 || wcache >= (uint64_t)SECTOR * e->p->packet);
		else if (!strcmp(o, "tray_open"))
			e->tray_open = !val || strcmp(val, "0");
		else if (!strcmp(o, "ro"))
			e->write_protect = !val || strcmp(val, "0");
		else if (!strcmp(o, "torn"))
			e->cut_torn = !val || strcmp(val, "0");
		else if (!is_numeric_option(o))
			ok = false, o = NULL;
		else if (!val || !(ok = parse_u64(val, &v)))
			ok = false;
		else if (!strcmp(o, "speed"))
			ok = v >= 1 && v <= 100 && (e->speed = (unsigned)v);
		else if (!strcmp(o, "access_ms"))
			ok = v <= 10000 && ((e->access_ms = (unsigned)v), true);
		else if (!strcmp(o, "wear_limit"))
			ok = v >= 1 && v <= UINT32_MAX && (e->wear_limit = (uint32_t)v);
		else if (!strcmp(o, "write_error"))
			e->write_error = (int64_t)(v & 0xffffffffu);
		else if (!strcmp(o, "read_error"))
			e->read_error = (int64_t)(v & 0xffffffffu);
		else if (!strcmp(o, "lwip"))
			e->lwip = (uint32_t)(v > 1000000 ? 1000000 : v);
		else if (!strcmp(o, "media_change"))
			e->media_change_at = v;
		else if (!strcmp(o, "reset"))
			e->reset_at = v;
		else if (!strcmp(o, "power_cut"))
			ok = v >= 1 && ((e->cut_after = v), true);
		else if (!strcmp(o, "seed"))
			seed = v;
		if (!o) {
			snprintf(err, errlen,
				 "emu: unknown option '%s' (size, wcache, speed, access_ms, wear_limit, "
				 "write_error, read_error, lwip, media_change, reset, tray_open, ro, "
				 "power_cut, torn, seed, log)",
				 name);
			goto fail;
		}
		if (!ok) {
			snprintf(err, errlen, "emu: bad value for option '%s'", o);
			goto fail;
		}
	}
	e->rng = (seed ^ 0x9e3779b97f4a7c15ull) * 2654435761u | 1;
	e->image = strdup(image);
	if (!e->image || asprintf(&e->state_path, "%s.state", image) < 0) {
		e->state_path = NULL;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (open_disc(e, oo, size, err, errlen))
		goto fail;
	if (alloc_wcache(e, e->read_only || e->write_protect ? 0 : wcache) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (log_path) {
		e->log = fopen(log_path, "a");
		if (!e->log) {
			snprintf(err, errlen, "emu log %s: %s", log_path, strerror(errno));
			goto fail;
		}
		setvbuf(e->log, NULL, _IOLBF, 0);
	}
	free(dup);
	e->t.ops = &emu_ops;
	e->t.name = e->name;
	e->t.priv = e;
	return &e->t;
fail:
	if (e)
		emu_free(e);
	free(dup);
	return NULL;
}
