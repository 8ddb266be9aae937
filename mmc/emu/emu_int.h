/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated drive's insides, shared by the files of mmc/emu (never included outside it). */
#ifndef PKTFUSE_MMC_EMU_INT_H
#define PKTFUSE_MMC_EMU_INT_H

#include "emu.h"
#include "mmc_ops.h"

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

#define EMU_NPROFILES 6
extern const struct profile emu_profiles[EMU_NPROFILES];

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

uint16_t emu_cur_profile(const struct emu *e);
void emu_advance(struct emu *e, uint64_t ns);
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
int emu_do_dvd_structure(struct emu *e, struct mmc_cmd *cmd);
void emu_set_speed_kbs(struct emu *e, uint32_t kbs);
uint64_t emu_pass_ns(const struct emu *e, bool quick);
void emu_start_busy(struct emu *e, bool format, bool quick, bool immed);
int emu_do_format(struct emu *e, struct mmc_cmd *cmd);
int emu_do_blank(struct emu *e, struct mmc_cmd *cmd);

#endif
