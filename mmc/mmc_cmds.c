/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mmc_cmds.h"
#include "mmc_be.h"
#include "mmc_ops.h"

#include <errno.h>
#include <string.h>

const char *mmc_profile_name(uint16_t p)
{
	switch (p) {
	case 0x0000:
		return "no medium";
	case MMC_PROFILE_CDROM:
		return "CD-ROM";
	case MMC_PROFILE_CDR:
		return "CD-R";
	case MMC_PROFILE_CDRW:
		return "CD-RW";
	case MMC_PROFILE_DVDROM:
		return "DVD-ROM";
	case MMC_PROFILE_DVDR:
		return "DVD-R";
	case MMC_PROFILE_DVDRAM:
		return "DVD-RAM";
	case MMC_PROFILE_DVDRW_RO:
		return "DVD-RW (restricted overwrite)";
	case MMC_PROFILE_DVDRW_SEQ:
		return "DVD-RW (sequential)";
	case MMC_PROFILE_DVDR_DL:
		return "DVD-R DL";
	case MMC_PROFILE_DVDPRW:
		return "DVD+RW";
	case MMC_PROFILE_DVDPR:
		return "DVD+R";
	case MMC_PROFILE_DVDPR_DL:
		return "DVD+R DL";
	case MMC_PROFILE_BDROM:
		return "BD-ROM";
	case MMC_PROFILE_BDR:
		return "BD-R SRM";
	case MMC_PROFILE_BDR_RRM:
		return "BD-R RRM";
	case MMC_PROFILE_BDRE:
		return "BD-RE";
	default:
		return "unknown medium";
	}
}

static void cmd_init(struct mmc_cmd *cmd, uint8_t op, uint8_t cdb_len, enum mmc_dir dir, void *buf, uint32_t len)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->cdb[0] = op;
	cmd->cdb_len = cdb_len;
	cmd->dir = dir;
	cmd->buf = buf;
	cmd->len = len;
}

/* A 6-byte command that reads up to len bytes into buf, its allocation length in byte 4. */
static void cmd_init_in6(struct mmc_cmd *cmd, uint8_t op, void *buf, uint8_t len)
{
	cmd_init(cmd, op, MMC_CDB6_LEN, MMC_DIR_IN, buf, len);
	cmd->cdb[MMC_CDB6_ALLOC_LEN] = len;
}

/* A 10-byte command that reads up to len bytes into buf, its allocation length in bytes 7-8. */
static void cmd_init_in10(struct mmc_cmd *cmd, uint8_t op, void *buf, uint16_t len)
{
	cmd_init(cmd, op, MMC_CDB10_LEN, MMC_DIR_IN, buf, len);
	mmc_put_be16(cmd->cdb + MMC_CDB10_LENGTH, len);
}

/* Sends a command whose CDB holds nothing but its opcode and allocation length. */
static int exec_in6(struct mmc_ctx *c, uint8_t op, void *buf, uint8_t len)
{
	struct mmc_cmd cmd;

	cmd_init_in6(&cmd, op, buf, len);
	return mmc_exec(c, &cmd);
}

static int exec_in10(struct mmc_ctx *c, uint8_t op, void *buf, uint16_t len)
{
	struct mmc_cmd cmd;

	cmd_init_in10(&cmd, op, buf, len);
	return mmc_exec(c, &cmd);
}

int mmc_test_unit_ready(struct mmc_ctx *c)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_TEST_UNIT_READY, MMC_CDB6_LEN, MMC_DIR_NONE, NULL, 0);
	/* Not retried: callers poll TEST UNIT READY to watch progress, so they want NOT READY back. */
	mmc_ctx_begin(c, cmd.cdb[0]);
	int rc = mmc_transport_exec(c->t, &cmd);
	if (rc < 0) {
		c->last_os_error = -rc;
		return rc;
	}
	if (cmd.status == MMC_STATUS_GOOD)
		return 0;
	mmc_sense_decode(cmd.sense, cmd.sense_len, &c->last);
	if (mmc_sense_classify(&c->last) == MMC_SC_UNIT_ATTN)
		c->unit_attention = true;
	return c->last.valid ? mmc_sense_errno(&c->last) : -EIO;
}

int mmc_request_sense(struct mmc_ctx *c, struct mmc_sense *out)
{
	uint8_t buf[18] = {0};
	struct mmc_cmd cmd;

	cmd_init_in6(&cmd, MMC_OP_REQUEST_SENSE, buf, sizeof(buf));
	int rc = mmc_exec(c, &cmd);
	if (rc)
		return rc;
	mmc_sense_decode(buf, sizeof(buf) - (size_t)(cmd.resid > 0 ? cmd.resid : 0), out);
	return 0;
}

static void copy_trim(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (dst[i] < 0x20 || dst[i] > 0x7e)
			dst[i] = ' ';
	while (n && dst[n - 1] == ' ')
		dst[--n] = 0;
}

int mmc_inquiry(struct mmc_ctx *c, struct mmc_inquiry *out)
{
	uint8_t buf[36] = {0};
	int rc = exec_in6(c, MMC_OP_INQUIRY, buf, sizeof(buf));

	if (rc == 0) {
		out->peripheral_type = buf[0] & 0x1f;
		copy_trim(out->vendor, buf + 8, 8);
		copy_trim(out->product, buf + 16, 16);
		copy_trim(out->revision, buf + 32, 4);
	}
	return rc;
}

int mmc_get_configuration(struct mmc_ctx *c, uint8_t rt, uint16_t start, uint8_t *buf, uint16_t len, uint32_t *got)
{
	struct mmc_cmd cmd;

	memset(buf, 0, len);
	cmd_init_in10(&cmd, MMC_OP_GET_CONFIGURATION, buf, len);
	cmd.cdb[1] = rt & 3;
	mmc_put_be16(cmd.cdb + 2, start);
	int rc = mmc_exec(c, &cmd);
	if (rc)
		return rc;
	if (got)
		*got = len >= 4 ? mmc_get_be32(buf) + 4 : 0;
	return 0;
}

int mmc_current_profile(struct mmc_ctx *c, uint16_t *profile)
{
	uint8_t buf[8];
	int rc = mmc_get_configuration(c, 1, 0, buf, sizeof(buf), NULL);

	if (!rc)
		*profile = mmc_get_be16(buf + 6);
	return rc;
}

int mmc_feature_current(struct mmc_ctx *c, uint16_t feature, bool *current)
{
	uint8_t buf[16];
	uint32_t got;
	int rc = mmc_get_configuration(c, 2, feature, buf, sizeof(buf), &got);

	if (rc)
		return rc;
	*current = got >= 12 && mmc_get_be16(buf + 8) == feature && (buf[10] & 1);
	return 0;
}

int mmc_get_event_status(struct mmc_ctx *c, uint8_t *event, uint8_t *status)
{
	uint8_t buf[8] = {0};
	struct mmc_cmd cmd;

	cmd_init_in10(&cmd, MMC_OP_GET_EVENT_STATUS_NOTIFICATION, buf, sizeof(buf));
	cmd.cdb[1] = 1;	      /* polled */
	cmd.cdb[4] = 1u << 4; /* media class */
	int rc = mmc_exec(c, &cmd);
	if (rc == 0) {
		*event = buf[4] & 0x0f;
		*status = buf[5];
	}
	return rc;
}

int mmc_read_capacity(struct mmc_ctx *c, uint32_t *last_lba, uint32_t *block_len)
{
	uint8_t buf[8] = {0};
	struct mmc_cmd cmd;
	int rc;

	/* No allocation length: the answer is always 8 bytes. */
	cmd_init(&cmd, MMC_OP_READ_CAPACITY, MMC_CDB10_LEN, MMC_DIR_IN, buf, sizeof(buf));
	rc = mmc_exec(c, &cmd);
	if (rc == 0) {
		*last_lba = mmc_get_be32(buf);
		*block_len = mmc_get_be32(buf + 4);
	}
	return rc;
}

int mmc_read_disc_info(struct mmc_ctx *c, struct mmc_disc_info *out)
{
	uint8_t buf[34] = {0};
	int rc = exec_in10(c, MMC_OP_READ_DISC_INFORMATION, buf, sizeof(buf));

	if (rc)
		return rc;
	out->erasable = buf[2] & 0x10;
	out->session_state = (buf[2] >> 2) & 3;
	out->disc_status = buf[2] & 3;
	out->bg_format = buf[7] & 3;
	out->sessions = (uint16_t)(buf[9] << 8 | buf[4]);
	out->last_track = (uint16_t)(buf[11] << 8 | buf[6]);
	out->disc_id = mmc_get_be32(buf + 12);
	return 0;
}

int mmc_read_track_info(struct mmc_ctx *c, uint8_t addr_type, uint32_t addr, struct mmc_track_info *out)
{
	uint8_t buf[40] = {0};
	struct mmc_cmd cmd;

	cmd_init_in10(&cmd, MMC_OP_READ_TRACK_INFORMATION, buf, sizeof(buf));
	cmd.cdb[1] = addr_type & 3;
	mmc_put_be32(cmd.cdb + MMC_CDB_LBA, addr);
	int rc = mmc_exec(c, &cmd);
	if (rc)
		return rc;
	out->track_mode = buf[5] & 0x0f;
	out->blank = buf[6] & 0x40;
	out->packet = buf[6] & 0x20;
	out->fixed_packet = buf[6] & 0x10;
	out->data_mode = buf[6] & 0x0f;
	out->nwa_valid = buf[7] & 1;
	out->start = mmc_get_be32(buf + 8);
	out->nwa = mmc_get_be32(buf + 12);
	out->free_blocks = mmc_get_be32(buf + 16);
	out->packet_size = mmc_get_be32(buf + 20);
	out->size = mmc_get_be32(buf + 24);
	/* write-once media: the track and session numbers, a reserved track, the last recorded address */
	out->number = (uint16_t)(buf[32] << 8 | buf[2]);
	out->session = (uint16_t)(buf[33] << 8 | buf[3]);
	out->reserved = buf[6] & 0x80;
	out->lra_valid = buf[7] & 0x02;
	out->lra = mmc_get_be32(buf + 28);
	return 0;
}

int mmc_mode_sense10(struct mmc_ctx *c, uint8_t page, uint8_t *buf, uint16_t len)
{
	struct mmc_cmd cmd;

	memset(buf, 0, len);
	cmd_init_in10(&cmd, MMC_OP_MODE_SENSE_10, buf, len);
	cmd.cdb[2] = page & 0x3f; /* current values */
	return mmc_exec(c, &cmd);
}

int mmc_mode_select10(struct mmc_ctx *c, uint8_t *buf, uint16_t len)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_MODE_SELECT_10, MMC_CDB10_LEN, MMC_DIR_OUT, buf, len);
	cmd.cdb[1] = 0x10; /* PF: pages follow the standard format */
	mmc_put_be16(cmd.cdb + MMC_CDB10_LENGTH, len);
	return mmc_exec(c, &cmd);
}

/* Reads page 05h, sets write type 0 (packet/incremental), Mode 1 data blocks, session format CD-ROM,
 * FP, packet size and (ms >= 0) the multi-session field, and selects it again. */
static int set_write_params(struct mmc_ctx *c, bool fixed, uint32_t packet_sectors, int ms)
{
	uint8_t buf[MMC_MODE_HEADER_LEN + 52];
	int rc = mmc_mode_sense10(c, MMC_PAGE_WRITE_PARAMETERS, buf, sizeof(buf));

	if (rc)
		return rc;
	uint8_t *pg =
		buf + MMC_MODE_HEADER_LEN + mmc_get_be16(buf + MMC_MODE_HEADER_BD_LEN); /* skip block descriptors */
	if (pg + 14 > buf + sizeof(buf) || (pg[0] & 0x3f) != MMC_PAGE_WRITE_PARAMETERS)
		return -EIO;
	uint16_t plen = (uint16_t)(pg[1] + 2);
	if (pg + plen > buf + sizeof(buf))
		plen = (uint16_t)(buf + sizeof(buf) - pg);
	uint8_t multi = ms >= 0 ? (uint8_t)(ms << 6) : (uint8_t)(pg[3] & 0xc0);
	pg[0] &= 0x3f;				  /* PS bit is reserved in MODE SELECT */
	pg[2] = (uint8_t)((pg[2] & 0xf0) | 0x00); /* write type: packet/incremental */
	/* FP (fixed packets) or variable packets; track mode 7: data, increment-capable */
	pg[3] = (uint8_t)(multi | (fixed ? 0x20 : 0x00) | 0x07);
	pg[4] = (uint8_t)((pg[4] & 0xf0) | 0x08); /* data block type: Mode 1, 2048 bytes */
	pg[8] = 0x00;				  /* session format CD-ROM */
	mmc_put_be32(pg + 10, packet_sectors);
	memset(buf, 0, MMC_MODE_HEADER_LEN); /* mode data length is reserved in MODE SELECT */
	mmc_put_be16(buf + MMC_MODE_HEADER_BD_LEN, 0);
	memmove(buf + MMC_MODE_HEADER_LEN, pg, plen);
	return mmc_mode_select10(c, buf, (uint16_t)(MMC_MODE_HEADER_LEN + plen));
}

int mmc_set_write_params_fixed(struct mmc_ctx *c, uint32_t packet_sectors)
{
	return set_write_params(c, true, packet_sectors, -1);
}

int mmc_set_write_params_incremental(struct mmc_ctx *c, bool multisession)
{
	return set_write_params(c, false, 0, multisession ? 3 : 0);
}

int mmc_capabilities(struct mmc_ctx *c, uint16_t *max_read_kbs, uint16_t *max_write_kbs)
{
	uint8_t buf[MMC_MODE_HEADER_LEN + 32];
	int rc = mmc_mode_sense10(c, MMC_PAGE_CAPABILITIES, buf, sizeof(buf));

	if (rc)
		return rc;
	const uint8_t *pg = buf + MMC_MODE_HEADER_LEN + mmc_get_be16(buf + MMC_MODE_HEADER_BD_LEN);
	if (pg + 20 > buf + sizeof(buf) || (pg[0] & 0x3f) != MMC_PAGE_CAPABILITIES)
		return -EIO;
	*max_read_kbs = mmc_get_be16(pg + 8);
	*max_write_kbs = mmc_get_be16(pg + 18);
	return 0;
}

static int rw(struct mmc_ctx *c, uint8_t op, uint8_t cdb_len, uint32_t lba, uint32_t n, void *buf, bool out)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, op, cdb_len, out ? MMC_DIR_OUT : MMC_DIR_IN, buf, n * 2048u);
	mmc_put_be32(cmd.cdb + MMC_CDB_LBA, lba);
	if (cdb_len == MMC_CDB10_LEN)
		mmc_put_be16(cmd.cdb + MMC_CDB10_LENGTH, (uint16_t)n);
	else
		mmc_put_be32(cmd.cdb + MMC_CDB12_LENGTH, n);
	/* A write may have to wait for a slow drive to spin up or relocate a defect. */
	cmd.timeout_ms = 60000;
	return mmc_exec(c, &cmd);
}

int mmc_read10(struct mmc_ctx *c, uint32_t lba, uint16_t n, void *buf)
{
	return rw(c, MMC_OP_READ_10, MMC_CDB10_LEN, lba, n, buf, false);
}

int mmc_read12(struct mmc_ctx *c, uint32_t lba, uint32_t n, void *buf)
{
	return rw(c, MMC_OP_READ_12, MMC_CDB12_LEN, lba, n, buf, false);
}

int mmc_write10(struct mmc_ctx *c, uint32_t lba, uint16_t n, const void *buf)
{
	return rw(c, MMC_OP_WRITE_10, MMC_CDB10_LEN, lba, n, (void *)buf, true);
}

int mmc_write12(struct mmc_ctx *c, uint32_t lba, uint32_t n, const void *buf)
{
	return rw(c, MMC_OP_WRITE_12, MMC_CDB12_LEN, lba, n, (void *)buf, true);
}

int mmc_verify10(struct mmc_ctx *c, uint32_t lba, uint16_t n)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_VERIFY_10, MMC_CDB10_LEN, MMC_DIR_NONE, NULL, 0);
	mmc_put_be32(cmd.cdb + MMC_CDB_LBA, lba);
	mmc_put_be16(cmd.cdb + MMC_CDB10_LENGTH, n);
	return mmc_exec(c, &cmd);
}

int mmc_sync_cache(struct mmc_ctx *c, bool immed)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_SYNCHRONIZE_CACHE, MMC_CDB10_LEN, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[1] = immed ? 0x02 : 0;
	/* Flushing a full drive buffer onto a slow disc takes long. */
	cmd.timeout_ms = 300000;
	return mmc_exec(c, &cmd);
}

int mmc_read_format_capacities(struct mmc_ctx *c, struct mmc_format_caps *out)
{
	uint8_t buf[4 + 8 * (1 + MMC_MAX_FORMAT_DESC)] = {0};
	int rc = exec_in10(c, MMC_OP_READ_FORMAT_CAPACITIES, buf, sizeof(buf));

	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	unsigned list = buf[3];
	if (list < 8)
		return -EIO;
	out->cur_blocks = mmc_get_be32(buf + 4);
	out->cur_type = buf[8] & 3;
	out->cur_block_len = mmc_get_be24(buf + 9);
	for (unsigned off = 12; off + 8 <= 4 + list && off + 8 <= sizeof(buf) && out->n < MMC_MAX_FORMAT_DESC;
	     off += 8) {
		out->desc[out->n].blocks = mmc_get_be32(buf + off);
		out->desc[out->n].type = buf[off + 4] >> 2;
		out->desc[out->n].param = mmc_get_be24(buf + off + 5);
		out->n++;
	}
	return 0;
}

int mmc_format_unit(struct mmc_ctx *c, uint8_t type, uint32_t blocks, uint32_t param, bool immed)
{
	uint8_t pl[12] = {0};
	struct mmc_cmd cmd;

	pl[1] = immed ? 0x02 : 0;
	mmc_put_be16(pl + 2, 8);
	mmc_put_be32(pl + 4, blocks);
	pl[8] = (uint8_t)(type << 2);
	mmc_put_be24(pl + 9, param);
	cmd_init(&cmd, MMC_OP_FORMAT_UNIT, MMC_CDB6_LEN, MMC_DIR_OUT, pl, sizeof(pl));
	cmd.cdb[1] = 0x10 | 0x01; /* FmtData, format code 001b */
	cmd.timeout_ms = immed ? 60000 : 7200000;
	return mmc_exec(c, &cmd);
}

int mmc_blank(struct mmc_ctx *c, uint8_t type, bool immed)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_BLANK, MMC_CDB12_LEN, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[1] = (uint8_t)((immed ? 0x10 : 0) | (type & 7));
	cmd.timeout_ms = immed ? 60000 : 7200000;
	return mmc_exec(c, &cmd);
}

int mmc_set_cd_speed(struct mmc_ctx *c, uint16_t read_kbs, uint16_t write_kbs)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_SET_CD_SPEED, MMC_CDB12_LEN, MMC_DIR_NONE, NULL, 0);
	mmc_put_be16(cmd.cdb + 2, read_kbs);
	mmc_put_be16(cmd.cdb + 4, write_kbs);
	return mmc_exec(c, &cmd);
}

int mmc_set_streaming(struct mmc_ctx *c, uint32_t end_lba, uint32_t read_kbs, uint32_t write_kbs)
{
	uint8_t pd[28] = {0};
	struct mmc_cmd cmd;

	mmc_put_be32(pd + 8, end_lba);
	mmc_put_be32(pd + 12, read_kbs);
	mmc_put_be32(pd + 16, 1000); /* read time: kB per 1000 ms */
	mmc_put_be32(pd + 20, write_kbs);
	mmc_put_be32(pd + 24, 1000);
	cmd_init(&cmd, MMC_OP_SET_STREAMING, MMC_CDB12_LEN, MMC_DIR_OUT, pd, sizeof(pd));
	mmc_put_be16(cmd.cdb + 9, sizeof(pd));
	return mmc_exec(c, &cmd);
}

int mmc_start_stop(struct mmc_ctx *c, bool load_eject, bool start)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_START_STOP_UNIT, MMC_CDB6_LEN, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[4] = (uint8_t)((load_eject ? 2 : 0) | (start ? 1 : 0));
	return mmc_exec(c, &cmd);
}

int mmc_prevent_allow(struct mmc_ctx *c, bool prevent)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_PREVENT_ALLOW_MEDIUM_REMOVAL, MMC_CDB6_LEN, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[4] = prevent ? 1 : 0;
	return mmc_exec(c, &cmd);
}

int mmc_close_track_session(struct mmc_ctx *c, uint8_t func, uint16_t number)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_CLOSE_TRACK_SESSION, MMC_CDB10_LEN, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[2] = func & 7;
	mmc_put_be16(cmd.cdb + 4, number);
	cmd.timeout_ms = 600000;
	return mmc_exec(c, &cmd);
}

int mmc_reserve_track(struct mmc_ctx *c, uint32_t sectors)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, MMC_OP_RESERVE_TRACK, MMC_CDB10_LEN, MMC_DIR_NONE, NULL, 0);
	mmc_put_be32(cmd.cdb + 5, sectors);
	return mmc_exec(c, &cmd);
}

int mmc_read_toc_session(struct mmc_ctx *c, uint16_t *last_complete, uint32_t *start)
{
	uint8_t buf[12] = {0};
	struct mmc_cmd cmd;

	cmd_init_in10(&cmd, MMC_OP_READ_TOC, buf, sizeof(buf));
	cmd.cdb[2] = 0x01; /* format 1: session information, LBA addresses */
	int rc = mmc_exec(c, &cmd);
	if (rc)
		return rc;
	*last_complete = buf[3];
	*start = mmc_get_be32(buf + 8);
	return 0;
}
