/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Named helpers for the MMC commands packet writing needs.  Each builds its CDB, sends it through
 * mmc_exec() and decodes the big-endian answer fields explicitly.  All return 0 or a negative errno. */
#ifndef PKTFUSE_MMC_CMDS_H
#define PKTFUSE_MMC_CMDS_H

#include "mmc_exec.h"
#include "mmc_profiles.h"

struct mmc_inquiry {
	uint8_t peripheral_type; /* 05h: CD/DVD device */
	char vendor[9], product[17], revision[5];
};

struct mmc_disc_info {
	bool erasable;
	uint8_t disc_status;   /* 0 empty, 1 incomplete, 2 finalized, 3 other (random access) */
	uint8_t session_state; /* last session: 0 empty, 1 incomplete, 3 complete */
	uint8_t bg_format;     /* 0 none, 1 started/incomplete, 2 in progress, 3 complete */
	uint16_t sessions, last_track;
	uint32_t disc_id; /* disc identification (CD; the emulator numbers its formats) */
};

struct mmc_track_info {
	uint8_t track_mode, data_mode;
	bool blank, packet, fixed_packet, nwa_valid;
	uint32_t start, nwa, free_blocks, packet_size, size;
	uint16_t number, session;
	bool reserved, lra_valid;
	uint32_t lra; /* last recorded address (write-once media) */
};

#define MMC_MAX_FORMAT_DESC 8
struct mmc_format_caps {
	uint32_t cur_blocks, cur_block_len;
	uint8_t cur_type; /* 1 unformatted, 2 formatted, 3 no medium */
	unsigned n;
	struct {
		uint32_t blocks;
		uint8_t type;
		uint32_t param;
	} desc[MMC_MAX_FORMAT_DESC];
};

int mmc_test_unit_ready(struct mmc_ctx *c);
int mmc_request_sense(struct mmc_ctx *c, struct mmc_sense *out);
int mmc_inquiry(struct mmc_ctx *c, struct mmc_inquiry *out);
/* rt: 0 all, 1 current, 2 one feature.  Fills buf (len bytes); *got = bytes the drive has. */
int mmc_get_configuration(struct mmc_ctx *c, uint8_t rt, uint16_t start, uint8_t *buf, uint16_t len, uint32_t *got);
int mmc_current_profile(struct mmc_ctx *c, uint16_t *profile);
int mmc_feature_current(struct mmc_ctx *c, uint16_t feature, bool *current);
/* Media event class, polled: *event = byte 4 low nibble, *status = byte 5. */
int mmc_get_event_status(struct mmc_ctx *c, uint8_t *event, uint8_t *status);
int mmc_read_capacity(struct mmc_ctx *c, uint32_t *last_lba, uint32_t *block_len);
int mmc_read_disc_info(struct mmc_ctx *c, struct mmc_disc_info *out);
/* addr_type 0 LBA, 1 track number, 2 session. */
int mmc_read_track_info(struct mmc_ctx *c, uint8_t addr_type, uint32_t addr, struct mmc_track_info *out);
int mmc_mode_sense10(struct mmc_ctx *c, uint8_t page, uint8_t *buf, uint16_t len);
int mmc_mode_select10(struct mmc_ctx *c, uint8_t *buf, uint16_t len);
/* Page 05h for fixed-packet writing of Mode 1 / 2048-byte blocks in packets of packet_sectors. */
int mmc_set_write_params_fixed(struct mmc_ctx *c, uint32_t packet_sectors);
/* Page 05h for write-once media: write type packet/incremental with variable packets (CD-R) of Mode 1
 * blocks; multisession sets the multi-session field to 11b (closing a session leaves the disc
 * appendable on CD-R and DVD-R) or 00b (closing a session finalizes it). */
int mmc_set_write_params_incremental(struct mmc_ctx *c, bool multisession);
/* Page 2Ah: maximum write speed in kB/s (0 when the drive does not say). */
int mmc_capabilities(struct mmc_ctx *c, uint16_t *max_read_kbs, uint16_t *max_write_kbs);
int mmc_read10(struct mmc_ctx *c, uint32_t lba, uint16_t n, void *buf);
int mmc_read12(struct mmc_ctx *c, uint32_t lba, uint32_t n, void *buf);
int mmc_write10(struct mmc_ctx *c, uint32_t lba, uint16_t n, const void *buf);
int mmc_write12(struct mmc_ctx *c, uint32_t lba, uint32_t n, const void *buf);
int mmc_verify10(struct mmc_ctx *c, uint32_t lba, uint16_t n);
int mmc_sync_cache(struct mmc_ctx *c, bool immed);
int mmc_read_format_capacities(struct mmc_ctx *c, struct mmc_format_caps *out);
int mmc_format_unit(struct mmc_ctx *c, uint8_t type, uint32_t blocks, uint32_t param, bool immed);
int mmc_blank(struct mmc_ctx *c, uint8_t type, bool immed);
int mmc_set_cd_speed(struct mmc_ctx *c, uint16_t read_kbs, uint16_t write_kbs);
int mmc_set_streaming(struct mmc_ctx *c, uint32_t end_lba, uint32_t read_kbs, uint32_t write_kbs);
int mmc_start_stop(struct mmc_ctx *c, bool load_eject, bool start);
int mmc_prevent_allow(struct mmc_ctx *c, bool prevent);
/* func: 1 close track, 2 close session / stop DVD+RW background format, 5/6 finalize DVD+R, 6 BD-R. */
int mmc_close_track_session(struct mmc_ctx *c, uint8_t func, uint16_t number);
/* RESERVE TRACK of sectors for the invisible track. */
int mmc_reserve_track(struct mmc_ctx *c, uint32_t sectors);
/* READ TOC format 1: the last complete session and the start of its first track. */
int mmc_read_toc_session(struct mmc_ctx *c, uint16_t *last_complete, uint32_t *start);

#endif
