/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CDB encoding and answer decoding of every MMC helper, against a transport that records the CDB and
 * plays back a canned answer. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mmc_cmds.h"
#include "test_mmc_util.h"

struct capture {
	struct mmc_transport t;
	struct mmc_cmd last;
	uint8_t out[256]; /* copy of the data-out buffer */
	uint8_t answer[256];
	uint32_t answer_len;
	unsigned calls;
};

static int cap_exec(struct mmc_transport *t, struct mmc_cmd *cmd)
{
	struct capture *c = t->priv;

	c->calls++;
	c->last = *cmd;
	if (cmd->dir == MMC_DIR_OUT && cmd->buf)
		memcpy(c->out, cmd->buf, cmd->len < sizeof(c->out) ? cmd->len : sizeof(c->out));
	if (cmd->dir == MMC_DIR_IN && cmd->buf) {
		uint32_t n = c->answer_len < cmd->len ? c->answer_len : cmd->len;
		memcpy(cmd->buf, c->answer, n);
	}
	cmd->status = MMC_STATUS_GOOD;
	return 0;
}

static void cap_sleep(struct mmc_transport *t, unsigned ms)
{
	(void)t;
	(void)ms;
}

static const struct mmc_transport_ops cap_ops = {.exec = cap_exec, .sleep_ms = cap_sleep, .close = fake_close};

static struct capture cap;
static struct mmc_ctx ctx;

static void setup(void)
{
	memset(&cap, 0, sizeof(cap));
	fake_attach(&cap.t, &cap_ops, "capture", &cap, &ctx);
}

static void expect_cdb(const uint8_t *want, uint8_t len)
{
	ck_assert_uint_eq(cap.last.cdb_len, len);
	for (unsigned i = 0; i < len; i++)
		ck_assert_msg(cap.last.cdb[i] == want[i], "CDB byte %u: %02X, want %02X", i, cap.last.cdb[i], want[i]);
}

START_TEST(test_tur_inquiry)
{
	ck_assert_int_eq(mmc_test_unit_ready(&ctx), 0);
	expect_cdb((const uint8_t[]){0, 0, 0, 0, 0, 0}, 6);
	memset(cap.answer, 0, 36);
	cap.answer[0] = 0x05;
	memcpy(cap.answer + 8, "VENDOR  PRODUCT NAME    1.02", 28);
	cap.answer_len = 36;
	struct mmc_inquiry inq;
	ck_assert_int_eq(mmc_inquiry(&ctx, &inq), 0);
	expect_cdb((const uint8_t[]){0x12, 0, 0, 0, 36, 0}, 6);
	ck_assert_uint_eq(cap.last.dir, MMC_DIR_IN);
	ck_assert_uint_eq(inq.peripheral_type, 5);
	ck_assert_str_eq(inq.vendor, "VENDOR");
	ck_assert_str_eq(inq.product, "PRODUCT NAME");
	ck_assert_str_eq(inq.revision, "1.02");
}
END_TEST

START_TEST(test_request_sense)
{
	uint8_t s[18] = {0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x04, 0, 0x80, 0x80, 0x00};
	struct mmc_sense sn;

	memcpy(cap.answer, s, 18);
	cap.answer_len = 18;
	ck_assert_int_eq(mmc_request_sense(&ctx, &sn), 0);
	expect_cdb((const uint8_t[]){0x03, 0, 0, 0, 18, 0}, 6);
	ck_assert(sn.valid && sn.key == 2 && sn.asc == 4 && sn.ascq == 4 && sn.sksv);
	ck_assert_uint_eq(sn.progress, 0x8000);
}
END_TEST

START_TEST(test_get_configuration)
{
	uint16_t prof;
	bool cur;

	memset(cap.answer, 0, 16);
	cap.answer[3] = 12;
	cap.answer[6] = 0x00;
	cap.answer[7] = 0x1A;
	cap.answer[8] = 0x00;
	cap.answer[9] = 0x28;
	cap.answer[10] = 0x01;
	cap.answer_len = 16;
	ck_assert_int_eq(mmc_current_profile(&ctx, &prof), 0);
	expect_cdb((const uint8_t[]){0x46, 0x01, 0, 0, 0, 0, 0, 0, 8, 0}, 10);
	ck_assert_uint_eq(prof, MMC_PROFILE_DVDPRW);
	ck_assert_int_eq(mmc_feature_current(&ctx, 0x0028, &cur), 0);
	expect_cdb((const uint8_t[]){0x46, 0x02, 0x00, 0x28, 0, 0, 0, 0, 16, 0}, 10);
	ck_assert(cur);
	cap.answer[10] = 0x00;
	ck_assert_int_eq(mmc_feature_current(&ctx, 0x0028, &cur), 0);
	ck_assert(!cur);
}
END_TEST

START_TEST(test_gesn_capacity)
{
	uint8_t ev, st;
	uint32_t last, blen;

	memset(cap.answer, 0, 8);
	cap.answer[4] = 0x02;
	cap.answer[5] = 0x02;
	cap.answer_len = 8;
	ck_assert_int_eq(mmc_get_event_status(&ctx, &ev, &st), 0);
	expect_cdb((const uint8_t[]){0x4A, 0x01, 0, 0, 0x10, 0, 0, 0, 8, 0}, 10);
	ck_assert_uint_eq(ev, 2);
	ck_assert_uint_eq(st, 2);
	uint8_t rc[8] = {0x00, 0x23, 0x05, 0x3F, 0, 0, 0x08, 0};
	memcpy(cap.answer, rc, 8);
	ck_assert_int_eq(mmc_read_capacity(&ctx, &last, &blen), 0);
	expect_cdb((const uint8_t[]){0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 10);
	ck_assert_uint_eq(last, 0x0023053F);
	ck_assert_uint_eq(blen, 2048);
}
END_TEST

START_TEST(test_disc_track_info)
{
	struct mmc_disc_info di;
	struct mmc_track_info ti;

	memset(cap.answer, 0, 36);
	cap.answer[2] = 0x10 | 1 << 2 | 1;
	cap.answer[7] = 0x03;
	cap.answer[12] = 0xde;
	cap.answer[15] = 0xef;
	cap.answer_len = 34;
	ck_assert_int_eq(mmc_read_disc_info(&ctx, &di), 0);
	expect_cdb((const uint8_t[]){0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0}, 10);
	ck_assert(di.erasable);
	ck_assert_uint_eq(di.disc_status, 1);
	ck_assert_uint_eq(di.session_state, 1);
	ck_assert_uint_eq(di.bg_format, 3);
	ck_assert_uint_eq(di.disc_id, 0xde0000ef);

	memset(cap.answer, 0, 40);
	cap.answer[5] = 0x07;
	cap.answer[6] = 0x20 | 0x10 | 0x01;
	cap.answer[7] = 0x01;
	mmc_put_be32(cap.answer + 8, 0);
	mmc_put_be32(cap.answer + 12, 0x12345);
	mmc_put_be32(cap.answer + 16, 77);
	mmc_put_be32(cap.answer + 20, 32);
	mmc_put_be32(cap.answer + 24, 295264);
	cap.answer[2] = 0x03; /* track 259 of session 258: the MSBs at 32 and 33 */
	cap.answer[32] = 0x01;
	cap.answer[3] = 0x02;
	cap.answer[33] = 0x01;
	cap.answer[7] |= 0x02;
	mmc_put_be32(cap.answer + 28, 0x12344);
	cap.answer_len = 40;
	ck_assert_int_eq(mmc_read_track_info(&ctx, 1, 1, &ti), 0);
	expect_cdb((const uint8_t[]){0x52, 0x01, 0, 0, 0, 1, 0, 0, 40, 0}, 10);
	ck_assert_uint_eq(ti.number, 259);
	ck_assert_uint_eq(ti.session, 258);
	ck_assert(ti.lra_valid && !ti.reserved);
	ck_assert_uint_eq(ti.lra, 0x12344);
	ck_assert(ti.packet && ti.fixed_packet && !ti.blank && ti.nwa_valid);
	ck_assert_uint_eq(ti.track_mode, 7);
	ck_assert_uint_eq(ti.data_mode, 1);
	ck_assert_uint_eq(ti.nwa, 0x12345);
	ck_assert_uint_eq(ti.free_blocks, 77);
	ck_assert_uint_eq(ti.packet_size, 32);
	ck_assert_uint_eq(ti.size, 295264);
}
END_TEST

START_TEST(test_mode_pages)
{
	/* MODE SENSE answer: header without block descriptors, then page 05h. */
	memset(cap.answer, 0, 60);
	cap.answer[1] = 58;
	cap.answer[8] = 0x85; /* PS bit set, page 05h */
	cap.answer[9] = 50;
	cap.answer[10] = 0x01; /* TAO */
	cap.answer_len = 60;
	ck_assert_int_eq(mmc_set_write_params_fixed(&ctx, 32), 0);
	/* The last command is the MODE SELECT. */
	expect_cdb((const uint8_t[]){0x55, 0x10, 0, 0, 0, 0, 0, 0, 60, 0}, 10);
	ck_assert_uint_eq(cap.last.dir, MMC_DIR_OUT);
	ck_assert_uint_eq(cap.out[0], 0);
	ck_assert_uint_eq(cap.out[1], 0);
	ck_assert_uint_eq(cap.out[8], 0x05);	     /* PS cleared */
	ck_assert_uint_eq(cap.out[10] & 0x0f, 0);    /* packet write type */
	ck_assert_uint_eq(cap.out[11] & 0x20, 0x20); /* FP */
	ck_assert_uint_eq(cap.out[12] & 0x0f, 8);    /* Mode 1 */
	ck_assert_uint_eq(mmc_get_be32(cap.out + 18), 32);
	ck_assert_uint_eq(cap.calls, 2);

	uint16_t r, w;
	memset(cap.answer, 0, 40);
	cap.answer[8] = 0x2A;
	cap.answer[9] = 28;
	mmc_put_be16(cap.answer + 16, 7056);
	mmc_put_be16(cap.answer + 26, 1764);
	ck_assert_int_eq(mmc_capabilities(&ctx, &r, &w), 0);
	expect_cdb((const uint8_t[]){0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 40, 0}, 10);
	ck_assert_uint_eq(r, 7056);
	ck_assert_uint_eq(w, 1764);
	/* A page that is not the one asked for is an error, not garbage. */
	cap.answer[8] = 0x0E;
	ck_assert_int_eq(mmc_capabilities(&ctx, &r, &w), -EIO);
}
END_TEST

START_TEST(test_rw)
{
	static uint8_t buf[2048 * 4];

	ck_assert_int_eq(mmc_read10(&ctx, 0x01020304, 0x0102, buf), 0);
	expect_cdb((const uint8_t[]){0x28, 0, 1, 2, 3, 4, 0, 1, 2, 0}, 10);
	ck_assert_uint_eq(cap.last.len, 0x0102 * 2048u);
	ck_assert_int_eq(mmc_write10(&ctx, 0x20, 4, buf), 0);
	expect_cdb((const uint8_t[]){0x2A, 0, 0, 0, 0, 0x20, 0, 0, 4, 0}, 10);
	ck_assert_uint_eq(cap.last.dir, MMC_DIR_OUT);
	ck_assert_uint_eq(cap.last.len, 4 * 2048u);
	ck_assert_int_eq(mmc_read12(&ctx, 0x00ABCDEF, 2, buf), 0);
	expect_cdb((const uint8_t[]){0xA8, 0, 0, 0xAB, 0xCD, 0xEF, 0, 0, 0, 2, 0, 0}, 12);
	ck_assert_int_eq(mmc_write12(&ctx, 7, 3, buf), 0);
	expect_cdb((const uint8_t[]){0xAA, 0, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0}, 12);
	ck_assert_int_eq(mmc_verify10(&ctx, 0x100, 16), 0);
	expect_cdb((const uint8_t[]){0x2F, 0, 0, 0, 1, 0, 0, 0, 16, 0}, 10);
	ck_assert_uint_eq(cap.last.dir, MMC_DIR_NONE);
	ck_assert_int_eq(mmc_sync_cache(&ctx, true), 0);
	expect_cdb((const uint8_t[]){0x35, 0x02, 0, 0, 0, 0, 0, 0, 0, 0}, 10);
	ck_assert_int_eq(mmc_sync_cache(&ctx, false), 0);
	expect_cdb((const uint8_t[]){0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 10);
}
END_TEST

START_TEST(test_format)
{
	struct mmc_format_caps fc;
	uint8_t a[28] = {0,    0, 0,	16,   0x00, 0x04, 0x81,	     0x60, 0x01, 0,
			 0x08, 0, 0x00, 0x04, 0x81, 0x60, 0x10 << 2, 0,	   0,	 32};

	memcpy(cap.answer, a, sizeof(a));
	cap.answer_len = sizeof(a);
	ck_assert_int_eq(mmc_read_format_capacities(&ctx, &fc), 0);
	expect_cdb((const uint8_t[]){0x23, 0, 0, 0, 0, 0, 0, 0, 76, 0}, 10);
	ck_assert_uint_eq(fc.cur_blocks, 295264);
	ck_assert_uint_eq(fc.cur_type, 1);
	ck_assert_uint_eq(fc.cur_block_len, 2048);
	ck_assert_uint_eq(fc.n, 1);
	ck_assert_uint_eq(fc.desc[0].type, 0x10);
	ck_assert_uint_eq(fc.desc[0].param, 32);

	ck_assert_int_eq(mmc_format_unit(&ctx, 0x10, 295264, 32, true), 0);
	expect_cdb((const uint8_t[]){0x04, 0x11, 0, 0, 0, 0}, 6);
	const uint8_t pl[12] = {0, 0x02, 0, 8, 0x00, 0x04, 0x81, 0x60, 0x40, 0, 0, 32};
	ck_assert_mem_eq(cap.out, pl, 12);
	ck_assert_int_eq(mmc_blank(&ctx, 1, true), 0);
	expect_cdb((const uint8_t[]){0xA1, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 12);
	ck_assert_int_eq(mmc_blank(&ctx, 0, false), 0);
	expect_cdb((const uint8_t[]){0xA1, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 12);
	ck_assert_uint_ge(cap.last.timeout_ms, 3600000);
}
END_TEST

START_TEST(test_speed_tray_close)
{
	ck_assert_int_eq(mmc_set_cd_speed(&ctx, 0xffff, 1764), 0);
	expect_cdb((const uint8_t[]){0xBB, 0, 0xff, 0xff, 0x06, 0xE4, 0, 0, 0, 0, 0, 0}, 12);
	ck_assert_int_eq(mmc_set_streaming(&ctx, 2295103, 0xffffffffu, 5540), 0);
	expect_cdb((const uint8_t[]){0xB6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 28, 0}, 12);
	ck_assert_uint_eq(mmc_get_be32(cap.out + 8), 2295103);
	ck_assert_uint_eq(mmc_get_be32(cap.out + 20), 5540);
	ck_assert_uint_eq(mmc_get_be32(cap.out + 24), 1000);
	ck_assert_int_eq(mmc_start_stop(&ctx, true, false), 0);
	expect_cdb((const uint8_t[]){0x1B, 0, 0, 0, 0x02, 0}, 6);
	ck_assert_int_eq(mmc_prevent_allow(&ctx, true), 0);
	expect_cdb((const uint8_t[]){0x1E, 0, 0, 0, 0x01, 0}, 6);
	ck_assert_int_eq(mmc_prevent_allow(&ctx, false), 0);
	expect_cdb((const uint8_t[]){0x1E, 0, 0, 0, 0x00, 0}, 6);
	ck_assert_int_eq(mmc_close_track_session(&ctx, 2, 1), 0);
	expect_cdb((const uint8_t[]){0x5B, 0, 0x02, 0, 0, 1, 0, 0, 0, 0}, 10);
}
END_TEST

START_TEST(test_be_helpers)
{
	uint8_t b[4];

	mmc_put_be32(b, 0xA1B2C3D4);
	ck_assert_uint_eq(b[0], 0xA1);
	ck_assert_uint_eq(b[3], 0xD4);
	ck_assert_uint_eq(mmc_get_be32(b), 0xA1B2C3D4);
	mmc_put_be16(b, 0xBEEF);
	ck_assert_uint_eq(mmc_get_be16(b), 0xBEEF);
	ck_assert_str_eq(mmc_profile_name(0x43), "BD-RE");
	ck_assert_str_eq(mmc_profile_name(0x1234), "unknown medium");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mmc_cdb");
	TCase *tc = tcase_create("cdb");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_tur_inquiry);
	tcase_add_test(tc, test_request_sense);
	tcase_add_test(tc, test_get_configuration);
	tcase_add_test(tc, test_gesn_capacity);
	tcase_add_test(tc, test_disc_track_info);
	tcase_add_test(tc, test_mode_pages);
	tcase_add_test(tc, test_rw);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_speed_tray_close);
	tcase_add_test(tc, test_be_helpers);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
