/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "emu_int.h"
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

/* The commands a write-once medium answers its own way (emu_wo.c); false for the others. */
static bool dispatch_write_once(struct emu *e, struct mmc_cmd *cmd, char *note, size_t notelen, int *rc)
{
	uint8_t op = cmd->cdb[0];

	if (op != MMC_OP_READ_CAPACITY && op != MMC_OP_READ_DISC_INFORMATION && op != MMC_OP_READ_TRACK_INFORMATION &&
	    op != MMC_OP_READ_TOC && op != MMC_OP_RESERVE_TRACK && op != MMC_OP_CLOSE_TRACK_SESSION)
		return false;
	*rc = emu_medium_gate(e, cmd);
	if (*rc <= 0)
		return true;
	switch (op) {
	case MMC_OP_READ_CAPACITY:
		*rc = emu_wo_read_capacity(e, cmd);
		break;
	case MMC_OP_READ_DISC_INFORMATION:
		*rc = emu_wo_disc_info(e, cmd);
		break;
	case MMC_OP_READ_TRACK_INFORMATION:
		*rc = emu_wo_track_info(e, cmd);
		break;
	case MMC_OP_READ_TOC:
		*rc = emu_wo_read_toc(e, cmd);
		break;
	case MMC_OP_RESERVE_TRACK:
		*rc = emu_wo_reserve_track(e, cmd, note, notelen);
		break;
	default:
		*rc = emu_wo_close(e, cmd, note, notelen);
		break;
	}
	return true;
}

static int dispatch(struct emu *e, struct mmc_cmd *cmd, char *note, size_t notelen)
{
	const uint8_t *c = cmd->cdb;
	int rc;

	if (emu_write_once(e) && dispatch_write_once(e, cmd, note, notelen, &rc))
		return rc;
	switch (c[0]) {
	case MMC_OP_TEST_UNIT_READY: {
		int g = emu_medium_gate(e, cmd);
		if (g <= 0)
			return g;
		return emu_good(cmd);
	}
	case MMC_OP_REQUEST_SENSE:
		return emu_do_request_sense(e, cmd);
	case MMC_OP_INQUIRY:
		return emu_do_inquiry(e, cmd);
	case MMC_OP_GET_CONFIGURATION:
		return emu_do_get_config(e, cmd);
	case MMC_OP_GET_EVENT_STATUS_NOTIFICATION:
		return emu_do_gesn(e, cmd);
	case MMC_OP_READ_CAPACITY: {
		int g = emu_medium_gate(e, cmd);
		if (g <= 0)
			return g;
		uint8_t d[8];
		mmc_put_be32(d, e->formatted ? e->sectors - 1 : 0);
		mmc_put_be32(d + 4, SECTOR);
		return emu_answer(cmd, d, 8, 8);
	}
	case MMC_OP_READ_DISC_INFORMATION:
		return emu_do_disc_info(e, cmd);
	case MMC_OP_READ_TRACK_INFORMATION:
		return emu_do_track_info(e, cmd);
	case MMC_OP_MODE_SENSE_10:
		return emu_do_mode_sense(e, cmd);
	case MMC_OP_MODE_SELECT_10:
		return emu_do_mode_select(e, cmd);
	case MMC_OP_READ_10:
	case MMC_OP_READ_12:
		snprintf(note, notelen, "lba=%" PRIu32 " n=%" PRIu32, cdb_lba(c), cdb_count(c));
		return emu_do_read(e, cmd, cdb_lba(c), cdb_count(c));
	case MMC_OP_WRITE_10:
	case MMC_OP_WRITE_12:
		return emu_do_write(e, cmd, cdb_lba(c), cdb_count(c), note, notelen);
	case MMC_OP_VERIFY_10: {
		int g = emu_medium_gate(e, cmd);
		if (g <= 0)
			return g;
		uint32_t lba = cdb_lba(c), n = cdb_count(c);
		if (!e->formatted || (uint64_t)lba + n > e->sectors)
			return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_LBA_OUT_OF_RANGE, 0x00, lba);
		if (e->read_error >= 0 && (uint64_t)e->read_error >= lba && (uint64_t)e->read_error < (uint64_t)lba + n)
			return emu_check(e, cmd, MMC_SK_MEDIUM_ERROR, MMC_ASC_UNRECOVERED_READ_ERROR, 0x00,
					 e->read_error);
		emu_model_io(e, lba, n);
		return emu_good(cmd);
	}
	case MMC_OP_SYNCHRONIZE_CACHE: {
		int g = emu_medium_gate(e, cmd);
		if (g <= 0)
			return g;
		e->c.syncs++;
		if (emu_destage_all(e) < 0 || emu_save_state(e) < 0)
			return emu_check(e, cmd, MMC_SK_HARDWARE_ERROR, MMC_ASC_INTERNAL_TARGET_FAILURE, 0x00, -1);
		return emu_good(cmd);
	}
	case MMC_OP_READ_FORMAT_CAPACITIES:
		return emu_do_format_caps(e, cmd);
	case MMC_OP_READ_DVD_STRUCTURE:
		return emu_do_dvd_structure(e, cmd);
	case MMC_OP_FORMAT_UNIT:
		return emu_do_format(e, cmd);
	case MMC_OP_BLANK:
		return emu_do_blank(e, cmd);
	case MMC_OP_SET_CD_SPEED:
		emu_set_speed_kbs(e, mmc_get_be16(c + 4));
		return emu_good(cmd);
	case MMC_OP_SET_STREAMING: {
		if (cmd->dir != MMC_DIR_OUT || cmd->len < 28)
			return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_PARAMETER_LIST_LENGTH, 0x00, -1);
		const uint8_t *pd = cmd->buf;
		uint32_t t = mmc_get_be32(pd + 24);
		emu_set_speed_kbs(e, t ? (uint32_t)((uint64_t)mmc_get_be32(pd + 20) * 1000 / t) : 0);
		return emu_good(cmd);
	}
	case MMC_OP_START_STOP_UNIT:
		snprintf(note, notelen, "loej=%d start=%d", (c[4] >> 1) & 1, c[4] & 1);
		if (c[4] & 2) {
			bool open = !(c[4] & 1);
			if (open && e->locked)
				return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_MEDIUM_REMOVAL_PREVENTED, 0x02,
						 -1);
			if (!open && e->tray_open)
				e->ua_pending = true; /* a (possibly other) disc was loaded */
			e->tray_open = open;
		}
		return emu_good(cmd);
	case MMC_OP_PREVENT_ALLOW_MEDIUM_REMOVAL:
		snprintf(note, notelen, "prevent=%d", c[4] & 1);
		e->locked = c[4] & 1;
		return emu_good(cmd);
	case MMC_OP_CLOSE_TRACK_SESSION: {
		int g = emu_medium_gate(e, cmd);
		if (g <= 0)
			return g;
		if ((c[2] & 7) > 6)
			return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
		if (e->p->code == MMC_PROFILE_DVDPRW && (c[2] & 7) == 0 && e->c.sim_ns < e->bg_until_ns &&
		    !e->bg_stopped) {
			e->bg_stopped = true;
			e->c.bg_stops++;
		}
		emu_save_state(e);
		return emu_good(cmd);
	}
	default:
		return emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_OPCODE, 0x00, -1);
	}
}

static int exec_one(struct emu *e, struct mmc_cmd *cmd)
{
	char note[128] = "";
	int rc;

	e->c.commands++;
	cmd->resid = 0;
	emu_spend(e, e->speed ? 100000 : 0); /* command overhead: 0.1 ms */
	if ((cmd->len && !cmd->buf) || (cmd->dir == MMC_DIR_NONE && cmd->len)) {
		/* A malformed request from the initiator: no data phase is possible. */
		rc = emu_check(e, cmd, MMC_SK_ILLEGAL_REQUEST, MMC_ASC_INVALID_FIELD_IN_CDB, 0x00, -1);
		logf_cmd(e, cmd, "bad data buffer");
		return rc;
	}
	emu_poll_control(e);
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
	/* INQUIRY and REQUEST SENSE never report a unit attention (SPC), nor does GET EVENT STATUS
	 * NOTIFICATION (MMC: a host polls it while the attention waits for the command it concerns). */
	bool ua_exempt = cmd->cdb[0] == MMC_OP_INQUIRY || cmd->cdb[0] == MMC_OP_REQUEST_SENSE ||
			 cmd->cdb[0] == MMC_OP_GET_EVENT_STATUS_NOTIFICATION;
	if (e->ua_pending && !ua_exempt) {
		e->ua_pending = false;
		rc = emu_check(e, cmd, MMC_SK_UNIT_ATTENTION, MMC_ASC_MEDIUM_MAY_HAVE_CHANGED, 0x00, -1);
	} else if (e->reset_pending && !ua_exempt) {
		e->reset_pending = false;
		rc = emu_check(e, cmd, MMC_SK_UNIT_ATTENTION, MMC_ASC_POWER_ON_RESET, 0x00, -1);
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
	if (e->cut_after && (!e->cut_writes_only || emu_is_medium_write_or_sync(cmd->cdb[0])) &&
	    ++e->cut_count >= e->cut_after)
		emu_power_off(e);
	return rc;
}

static void emu_sleep(struct mmc_transport *t, unsigned ms)
{
	struct emu *e = t->priv;

	emu_advance(e, (uint64_t)ms * 1000000u);
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
			       e->p->name, e->speed, (double)c->sim_ns / 1e9, emu_rate(e), c->write_cmds,
			       c->write_sectors, c->read_cmds, c->refused_writes, c->rmw, c->max_wear,
			       emu_write_once(e) ? e->wo.cache_bytes : (uint64_t)e->held_cap * e->p->packet * SECTOR,
			       emu_write_once(e) ? e->wo.nheld : e->nheld);
	if (emu_write_once(e))
		n += emu_wo_describe(e, buf + (n < len ? n : len), n < len ? len - n : 0);
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
	emu_wo_free(e);
	free(e->image);
	free(e->state_path);
	free(e->ctl_path);
	free(e);
}

/* The host lets go of the drive; the drive keeps its power and writes what it holds. */
static void emu_close(struct mmc_transport *t)
{
	struct emu *e = t->priv;

	if (!e->powered_off && e->fd >= 0) { /* fd -1: the tray closed on no usable disc */
		emu_destage_all(e);
		emu_save_state(e);
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
	out->rate_bps = emu_rate(e);
	out->held_packets = emu_write_once(e) ? e->wo.nheld : e->nheld;
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
		emu_power_off(e);
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
	for (size_t i = 0; i < sizeof(emu_profiles) / sizeof(emu_profiles[0]); i++)
		if (!strcmp(dup, emu_profiles[i].name))
			e->p = &emu_profiles[i];
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
		else if (!strcmp(o, "realtime"))
			e->realtime = !val || strcmp(val, "0");
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
				 "power_cut, torn, seed, realtime, log)",
				 name);
			goto fail;
		}
		if (!ok) {
			snprintf(err, errlen, "emu: bad value for option '%s'", o);
			goto fail;
		}
	}
	if (e->realtime && !e->speed)
		e->speed = 4; /* real time needs the speed model: a CD-RW's usual 4x unless speed= says */
	e->rng = (seed ^ 0x9e3779b97f4a7c15ull) * 2654435761u | 1;
	e->image = strdup(image);
	if (!e->image || asprintf(&e->state_path, "%s.state", image) < 0) {
		e->state_path = NULL;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!e->read_only && asprintf(&e->ctl_path, "%s.ctl", image) < 0) {
		e->ctl_path = NULL;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (emu_open_disc(e, oo, size, err, errlen))
		goto fail;
	if (emu_alloc_wcache(e, e->read_only || e->write_protect || emu_write_once(e) ? 0 : wcache) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (emu_write_once(e)) /* its own cache: whole writes in order, not packets */
		e->wo.cache_bytes = e->read_only || e->write_protect ? 0 : wcache;
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
