/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mmc_cmds.h"

#include <errno.h>
#include <string.h>

uint16_t mmc_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t mmc_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void mmc_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void mmc_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

const char *mmc_profile_name(uint16_t p)
{
	switch (p) {
	case 0x0000: return "no medium";
	case MMC_PROFILE_CDROM: return "CD-ROM";
	case MMC_PROFILE_CDR: return "CD-R";
	case MMC_PROFILE_CDRW: return "CD-RW";
	case MMC_PROFILE_DVDROM: return "DVD-ROM";
	case MMC_PROFILE_DVDR: return "DVD-R";
	case MMC_PROFILE_DVDRAM: return "DVD-RAM";
	case MMC_PROFILE_DVDRW_RO: return "DVD-RW (restricted overwrite)";
	case MMC_PROFILE_DVDRW_SEQ: return "DVD-RW (sequential)";
	case 0x0015: return "DVD-R DL";
	case MMC_PROFILE_DVDPRW: return "DVD+RW";
	case MMC_PROFILE_DVDPR: return "DVD+R";
	case 0x002B: return "DVD+R DL";
	case MMC_PROFILE_BDROM: return "BD-ROM";
	case MMC_PROFILE_BDR: return "BD-R SRM";
	case 0x0042: return "BD-R RRM";
	case MMC_PROFILE_BDRE: return "BD-RE";
	default: return "unknown medium";
	}
}

static void cmd_init(struct mmc_cmd *cmd, uint8_t op, uint8_t cdb_len, enum mmc_dir dir, void *buf,
		     uint32_t len)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->cdb[0] = op;
	cmd->cdb_len = cdb_len;
	cmd->dir = dir;
	cmd->buf = buf;
	cmd->len = len;
}


int mmc_test_unit_ready(struct mmc_ctx *c)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x00, 6, MMC_DIR_NONE, NULL, 0);
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

	cmd_init(&cmd, 0x03, 6, MMC_DIR_IN, buf, sizeof(buf));
	cmd.cdb[4] = sizeof(buf);
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
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x12, 6, MMC_DIR_IN, buf, sizeof(buf));
	cmd.cdb[4] = sizeof(buf);
	int rc = mmc_exec(c, &cmd);
	if (rc)
		return rc;
	out->peripheral_type = buf[0] & 0x1f;
	copy_trim(out->vendor, buf + 8, 8);
	copy_trim(out->product, buf + 16, 16);
	copy_trim(out->revision, buf + 32, 4);
	return 0;
}

int mmc_get_configuration(struct mmc_ctx *c, uint8_t rt, uint16_t start, uint8_t *buf, uint16_t len,
			  uint32_t *got)
{
	struct mmc_cmd cmd;

	memset(buf, 0, len);
	cmd_init(&cmd, 0x46, 10, MMC_DIR_IN, buf, len);
	cmd.cdb[1] = rt & 3;
	mmc_put_be16(cmd.cdb + 2, start);
	mmc_put_be16(cmd.cdb + 7, len);
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

	cmd_init(&cmd, 0x4A, 10, MMC_DIR_IN, buf, sizeof(buf));
	cmd.cdb[1] = 1;       /* polled */
	cmd.cdb[4] = 1u << 4; /* media class */
	mmc_put_be16(cmd.cdb + 7, sizeof(buf));
	int rc = mmc_exec(c, &cmd);
	if (rc)
		return rc;
	*event = buf[4] & 0x0f;
	*status = buf[5];
	return 0;
}

int mmc_read_capacity(struct mmc_ctx *c, uint32_t *last_lba, uint32_t *block_len)
{
	uint8_t buf[8] = {0};
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x25, 10, MMC_DIR_IN, buf, sizeof(buf));
	int rc = mmc_exec(c, &cmd);
	if (rc)
		return rc;
	*last_lba = mmc_get_be32(buf);
	*block_len = mmc_get_be32(buf + 4);
	return 0;
}

int mmc_read_disc_info(struct mmc_ctx *c, struct mmc_disc_info *out)
{
	uint8_t buf[34] = {0};
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x51, 10, MMC_DIR_IN, buf, sizeof(buf));
	mmc_put_be16(cmd.cdb + 7, sizeof(buf));
	int rc = mmc_exec(c, &cmd);
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
	uint8_t buf[36] = {0};
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x52, 10, MMC_DIR_IN, buf, sizeof(buf));
	cmd.cdb[1] = addr_type & 3;
	mmc_put_be32(cmd.cdb + 2, addr);
	mmc_put_be16(cmd.cdb + 7, sizeof(buf));
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
	return 0;
}

int mmc_mode_sense10(struct mmc_ctx *c, uint8_t page, uint8_t *buf, uint16_t len)
{
	struct mmc_cmd cmd;

	memset(buf, 0, len);
	cmd_init(&cmd, 0x5A, 10, MMC_DIR_IN, buf, len);
	cmd.cdb[2] = page & 0x3f; /* current values */
	mmc_put_be16(cmd.cdb + 7, len);
	return mmc_exec(c, &cmd);
}

int mmc_mode_select10(struct mmc_ctx *c, uint8_t *buf, uint16_t len)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x55, 10, MMC_DIR_OUT, buf, len);
	cmd.cdb[1] = 0x10; /* PF: pages follow the standard format */
	mmc_put_be16(cmd.cdb + 7, len);
	return mmc_exec(c, &cmd);
}

int mmc_set_write_params_fixed(struct mmc_ctx *c, uint32_t packet_sectors)
{
	uint8_t buf[8 + 52];
	int rc = mmc_mode_sense10(c, 0x05, buf, sizeof(buf));

	if (rc)
		return rc;
	uint8_t *pg = buf + 8 + mmc_get_be16(buf + 6); /* skip block descriptors */
	if (pg + 14 > buf + sizeof(buf) || (pg[0] & 0x3f) != 0x05)
		return -EIO;
	uint16_t plen = (uint16_t)(pg[1] + 2);
	if (pg + plen > buf + sizeof(buf))
		plen = (uint16_t)(buf + sizeof(buf) - pg);
	pg[0] &= 0x3f; /* PS bit is reserved in MODE SELECT */
	pg[2] = (uint8_t)((pg[2] & 0xf0) | 0x00); /* write type: packet/incremental */
	pg[3] = (uint8_t)((pg[3] & 0xc0) | 0x20 | 0x07); /* FP=1, track mode 7: data, increment-capable */
	pg[4] = (uint8_t)((pg[4] & 0xf0) | 0x08); /* data block type: Mode 1, 2048 bytes */
	pg[8] = 0x00;                             /* session format CD-ROM */
	mmc_put_be32(pg + 10, packet_sectors);
	memset(buf, 0, 8); /* mode data length is reserved in MODE SELECT */
	mmc_put_be16(buf + 6, 0);
	memmove(buf + 8, pg, plen);
	return mmc_mode_select10(c, buf, (uint16_t)(8 + plen));
}

int mmc_capabilities(struct mmc_ctx *c, uint16_t *max_read_kbs, uint16_t *max_write_kbs)
{
	uint8_t buf[8 + 32];
	int rc = mmc_mode_sense10(c, 0x2A, buf, sizeof(buf));

	if (rc)
		return rc;
	const uint8_t *pg = buf + 8 + mmc_get_be16(buf + 6);
	if (pg + 20 > buf + sizeof(buf) || (pg[0] & 0x3f) != 0x2A)
		return -EIO;
	*max_read_kbs = mmc_get_be16(pg + 8);
	*max_write_kbs = mmc_get_be16(pg + 18);
	return 0;
}

static int rw(struct mmc_ctx *c, uint8_t op, uint8_t cdb_len, uint32_t lba, uint32_t n, void *buf, bool out)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, op, cdb_len, out ? MMC_DIR_OUT : MMC_DIR_IN, buf, n * 2048u);
	mmc_put_be32(cmd.cdb + 2, lba);
	if (cdb_len == 10)
		mmc_put_be16(cmd.cdb + 7, (uint16_t)n);
	else
		mmc_put_be32(cmd.cdb + 6, n);
	/* A write may have to wait for a slow drive to spin up or relocate a defect. */
	cmd.timeout_ms = 60000;
	return mmc_exec(c, &cmd);
}

int mmc_read10(struct mmc_ctx *c, uint32_t lba, uint16_t n, void *buf)
{
	return rw(c, 0x28, 10, lba, n, buf, false);
}

int mmc_read12(struct mmc_ctx *c, uint32_t lba, uint32_t n, void *buf)
{
	return rw(c, 0xA8, 12, lba, n, buf, false);
}

int mmc_write10(struct mmc_ctx *c, uint32_t lba, uint16_t n, const void *buf)
{
	return rw(c, 0x2A, 10, lba, n, (void *)buf, true);
}

int mmc_write12(struct mmc_ctx *c, uint32_t lba, uint32_t n, const void *buf)
{
	return rw(c, 0xAA, 12, lba, n, (void *)buf, true);
}

int mmc_verify10(struct mmc_ctx *c, uint32_t lba, uint16_t n)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x2F, 10, MMC_DIR_NONE, NULL, 0);
	mmc_put_be32(cmd.cdb + 2, lba);
	mmc_put_be16(cmd.cdb + 7, n);
	return mmc_exec(c, &cmd);
}

int mmc_sync_cache(struct mmc_ctx *c, bool immed)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x35, 10, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[1] = immed ? 0x02 : 0;
	/* Flushing a full drive buffer onto a slow disc takes long. */
	cmd.timeout_ms = 300000;
	return mmc_exec(c, &cmd);
}

int mmc_read_format_capacities(struct mmc_ctx *c, struct mmc_format_caps *out)
{
	uint8_t buf[4 + 8 * (1 + MMC_MAX_FORMAT_DESC)] = {0};
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x23, 10, MMC_DIR_IN, buf, sizeof(buf));
	mmc_put_be16(cmd.cdb + 7, sizeof(buf));
	int rc = mmc_exec(c, &cmd);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	unsigned list = buf[3];
	if (list < 8)
		return -EIO;
	out->cur_blocks = mmc_get_be32(buf + 4);
	out->cur_type = buf[8] & 3;
	out->cur_block_len = (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
	for (unsigned off = 12; off + 8 <= 4 + list && off + 8 <= sizeof(buf) && out->n < MMC_MAX_FORMAT_DESC;
	     off += 8) {
		out->desc[out->n].blocks = mmc_get_be32(buf + off);
		out->desc[out->n].type = buf[off + 4] >> 2;
		out->desc[out->n].param = (uint32_t)buf[off + 5] << 16 | (uint32_t)buf[off + 6] << 8 | buf[off + 7];
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
	pl[9] = (uint8_t)(param >> 16);
	pl[10] = (uint8_t)(param >> 8);
	pl[11] = (uint8_t)param;
	cmd_init(&cmd, 0x04, 6, MMC_DIR_OUT, pl, sizeof(pl));
	cmd.cdb[1] = 0x10 | 0x01; /* FmtData, format code 001b */
	cmd.timeout_ms = immed ? 60000 : 7200000;
	return mmc_exec(c, &cmd);
}

int mmc_blank(struct mmc_ctx *c, uint8_t type, bool immed)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0xA1, 12, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[1] = (uint8_t)((immed ? 0x10 : 0) | (type & 7));
	cmd.timeout_ms = immed ? 60000 : 7200000;
	return mmc_exec(c, &cmd);
}

int mmc_set_cd_speed(struct mmc_ctx *c, uint16_t read_kbs, uint16_t write_kbs)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0xBB, 12, MMC_DIR_NONE, NULL, 0);
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
	cmd_init(&cmd, 0xB6, 12, MMC_DIR_OUT, pd, sizeof(pd));
	mmc_put_be16(cmd.cdb + 9, sizeof(pd));
	return mmc_exec(c, &cmd);
}

int mmc_start_stop(struct mmc_ctx *c, bool load_eject, bool start)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x1B, 6, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[4] = (uint8_t)((load_eject ? 2 : 0) | (start ? 1 : 0));
	return mmc_exec(c, &cmd);
}

int mmc_prevent_allow(struct mmc_ctx *c, bool prevent)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x1E, 6, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[4] = prevent ? 1 : 0;
	return mmc_exec(c, &cmd);
}

int mmc_close_track_session(struct mmc_ctx *c, uint8_t func, uint16_t number)
{
	struct mmc_cmd cmd;

	cmd_init(&cmd, 0x5B, 10, MMC_DIR_NONE, NULL, 0);
	cmd.cdb[2] = func & 7;
	mmc_put_be16(cmd.cdb + 4, number);
	cmd.timeout_ms = 600000;
	return mmc_exec(c, &cmd);
}
