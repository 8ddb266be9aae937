/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated drive's insides, shared by the files of mmc/emu (never included outside it). */
#ifndef PKTFUSE_MMC_EMU_INT_H
#define PKTFUSE_MMC_EMU_INT_H

#include "emu.h"
#include "mmc_ops.h"
#include "../mmc_profiles.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#define SECTOR 2048u
#define STATE_MAGIC "PKTEMU01"
#define DEFAULT_WCACHE (2u << 20) /* what CD and DVD writers have; BD writers often 4 MiB */
#define MAX_WCACHE (256u << 20)

enum rule {
	RULE_FIXED_PACKETS, /* CD-RW: whole aligned packets, after page 05h says so */
	RULE_ALIGNED,	    /* DVD-RW restricted overwrite: 32 KiB aligned */
	RULE_RMW,	    /* DVD+RW, MRW: anything, partial blocks cost a read-modify-write */
	RULE_RANDOM,	    /* DVD-RAM, BD-RE: random writes (BD-RE still counts partial clusters) */
	RULE_WRITE_ONCE,    /* CD-R, DVD-R, DVD+R, BD-R: only at a track's NWA, never twice (emu_wo.c) */
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

#define EMU_NPROFILES 10
extern const struct profile emu_profiles[EMU_NPROFILES];

/* Write-once media (emu_wo.c).  Tracks follow each other on the disc; the last one of the open session
 * is the "invisible" track (size 0: up to the end of the disc) unless the disc is finalized. */
#define EMU_MAX_TRACKS 99 /* the Red Book's limit, kept for every medium */
struct emu_track {
	uint32_t start, size; /* size 0: the invisible track, to the end of the disc */
	uint32_t nwa;	      /* next writable address (after the link blocks of the last packet) */
	uint16_t session;
	bool closed, reserved;
};
struct emu_extent {
	uint32_t lba, n; /* recorded sectors, sorted and merged */
};
struct emu_wo_held {
	uint32_t track, lba, n, pad;
	uint8_t *data;
};
struct emu_wo {
	struct emu_track track[EMU_MAX_TRACKS];
	uint32_t ntracks;
	bool finalized;
	struct emu_extent *ext;
	uint32_t next, ext_cap;
	uint32_t end; /* one past the last recorded sector (0: nothing recorded) */
	/* the drive's volatile write cache (emu_wo_cache.c): accepted writes not yet on the medium, oldest
	 * first; the tracks and extents above already count them */
	struct emu_wo_held *held;
	uint32_t nheld, held_slots;
	uint64_t held_bytes, cache_bytes; /* cache_bytes 0: no cache */
};

struct emu {
	struct mmc_transport t;
	const struct profile *p;
	char name[300];
	char *image, *state_path;
	char *ctl_path;	     /* the control file (emu.h); NULL for a read-only open */
	uint8_t media_event; /* the GET EVENT STATUS NOTIFICATION media event not yet reported (0: none) */
	bool paused;	     /* control word pause: the next command waits for resume */
	int fd;
	FILE *log;
	/* medium */
	bool formatted, blank_used; /* blank_used: CD-RW holds a (non-packet) session that must be blanked */
	uint32_t sectors;
	uint32_t *wear;
	uint32_t npackets;
	uint64_t gen;	      /* bumped by every format: part of the disc's identity */
	uint64_t disc_serial; /* the image file's inode: the rest of it */
	/* drive */
	bool locked, tray_open, write_protect;
	uint8_t wp_write_type, wp_track_mode, wp_dbt;
	bool wp_fp;
	uint32_t wp_packet;
	uint8_t wp_ms; /* page 05h multi-session field: 3 lets another session follow a closed one */
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
	bool realtime; /* realtime=1: the medium's time is slept, not only counted */
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
	struct emu_wo wo; /* write-once profiles only */
};

/* One packet in the drive's write cache: the sectors written to it since it last reached the medium. */
struct held {
	uint32_t pkt;
	uint64_t valid; /* bit s: sector s of the packet is held (packets are at most 64 sectors) */
	uint8_t *data;	/* packet-sized */
};

uint16_t emu_cur_profile(const struct emu *e);
void emu_advance(struct emu *e, uint64_t ns);
void emu_spend(struct emu *e, uint64_t ns);
double emu_rate(const struct emu *e);
void emu_model_io(struct emu *e, uint64_t lba, uint64_t n);
bool emu_busy(struct emu *e);
double emu_kbs_1x(const struct emu *e);
int emu_medium_gate(struct emu *e, struct mmc_cmd *cmd);
int emu_do_read(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n);
int emu_do_write(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n, char *note, size_t notelen);
int emu_save_state(struct emu *e);
int emu_load_state(struct emu *e, char *err, size_t errlen);
int emu_alloc_wcache(struct emu *e, uint64_t wcache);
int emu_open_disc(struct emu *e, const struct emu_open_options *oo, uint64_t size, char *err, size_t errlen);
/* The drive's seeded choices. */
uint64_t emu_rnd(struct emu *e);
int emu_destage_all(struct emu *e);
int emu_hold_write(struct emu *e, uint32_t lba, uint32_t n, const uint8_t *buf);
void emu_overlay_held(const struct emu *e, uint32_t lba, uint32_t n, uint8_t *buf);
void emu_power_off(struct emu *e);
bool emu_is_medium_write_or_sync(uint8_t op);
int emu_check(struct emu *e, struct mmc_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq, int64_t info);
int emu_answer(struct mmc_cmd *cmd, const void *data, uint32_t n, uint32_t alloc);
int emu_good(struct mmc_cmd *cmd);
int emu_do_inquiry(struct emu *e, struct mmc_cmd *cmd);
int emu_do_get_config(struct emu *e, struct mmc_cmd *cmd);
int emu_do_disc_info(struct emu *e, struct mmc_cmd *cmd);
int emu_do_track_info(struct emu *e, struct mmc_cmd *cmd);
int emu_do_format_caps(struct emu *e, struct mmc_cmd *cmd);
int emu_do_mode_sense(struct emu *e, struct mmc_cmd *cmd);
int emu_do_mode_select(struct emu *e, struct mmc_cmd *cmd);
int emu_do_request_sense(struct emu *e, struct mmc_cmd *cmd);
int emu_do_gesn(struct emu *e, struct mmc_cmd *cmd);
/* The control file (emu_control.c): obeyed and removed before each command. */
void emu_poll_control(struct emu *e);
/* The pending media event, cleared: GESN reports each event once. */
uint8_t emu_take_media_event(struct emu *e);
int emu_do_dvd_structure(struct emu *e, struct mmc_cmd *cmd);
void emu_set_speed_kbs(struct emu *e, uint32_t kbs);
uint64_t emu_pass_ns(const struct emu *e, bool quick);
void emu_start_busy(struct emu *e, bool format, bool quick, bool immed);
int emu_do_format(struct emu *e, struct mmc_cmd *cmd);
int emu_do_blank(struct emu *e, struct mmc_cmd *cmd);

/* Write-once media (emu_wo.c, emu_wo_answers.c). */
static inline bool is_cd(const struct emu *e)
{
	return e->p->code == MMC_PROFILE_CDR;
}

static inline uint32_t track_end(const struct emu *e, const struct emu_track *t)
{
	return t->size ? t->start + t->size : e->sectors;
}

static inline bool track_empty(const struct emu_track *t)
{
	return t->nwa == t->start;
}

/* Index of the first extent that ends after lba. */
static inline uint32_t extent_after(const struct emu *e, uint32_t lba)
{
	uint32_t lo = 0, hi = e->wo.next;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((uint64_t)e->wo.ext[mid].lba + e->wo.ext[mid].n <= lba)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline uint16_t open_session(const struct emu *e)
{
	return e->wo.track[e->wo.ntracks - 1].session;
}

/* The first track (1-based) of session s. */
static inline uint32_t first_track_of(const struct emu *e, uint16_t s)
{
	for (uint32_t i = 0; i < e->wo.ntracks; i++)
		if (e->wo.track[i].session == s)
			return i + 1;
	return e->wo.ntracks;
}

/* The last session that is closed (0: none). */
static inline uint16_t last_closed_session(const struct emu *e)
{
	return e->wo.finalized ? open_session(e) : (uint16_t)(open_session(e) - 1);
}

static inline bool disc_blank(const struct emu *e)
{
	return e->wo.ntracks == 1 && !e->wo.finalized && track_empty(&e->wo.track[0]) && !e->wo.track[0].reserved;
}

bool emu_write_once(const struct emu *e);
void emu_wo_init(struct emu *e);
void emu_wo_free(struct emu *e);
int emu_wo_write(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n, char *note, size_t notelen);
int emu_wo_read_check(struct emu *e, struct mmc_cmd *cmd, uint32_t lba, uint32_t n);
int emu_wo_read_capacity(struct emu *e, struct mmc_cmd *cmd);
int emu_wo_disc_info(struct emu *e, struct mmc_cmd *cmd);
int emu_wo_track_info(struct emu *e, struct mmc_cmd *cmd);
int emu_wo_read_toc(struct emu *e, struct mmc_cmd *cmd);
int emu_wo_reserve_track(struct emu *e, struct mmc_cmd *cmd, char *note, size_t notelen);
int emu_wo_close(struct emu *e, struct mmc_cmd *cmd, char *note, size_t notelen);
size_t emu_wo_describe(const struct emu *e, char *buf, size_t len);
/* Puts an accepted write (its data, pad and journal record) on the medium. */
int emu_wo_record(struct emu *e, uint32_t track, uint32_t lba, uint32_t n, uint32_t pad, const uint8_t *data);
/* The write cache (emu_wo_cache.c). */
int emu_wo_hold(struct emu *e, uint32_t track, uint32_t lba, uint32_t n, uint32_t pad, const uint8_t *data);
int emu_wo_destage_all(struct emu *e);
void emu_wo_overlay(const struct emu *e, uint32_t lba, uint32_t n, uint8_t *buf);
void emu_wo_power_off(struct emu *e, uint64_t *written, uint64_t *lost);
void emu_wo_cache_free(struct emu *e);
/* The state file's write-once part: saved after the wear counters, then one journal record per write
 * appended until the next save (emu_state.c). */
bool emu_wo_save(const struct emu *e, FILE *f);
int emu_wo_load(struct emu *e, FILE *f);
/* A disc image made elsewhere: recorded from 0 to its length, one open track. */
int emu_wo_adopt_image(struct emu *e, uint32_t recorded);

#endif
