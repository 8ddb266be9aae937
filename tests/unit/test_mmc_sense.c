/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sense decoding (fixed and descriptor format) and the retry policy, against a scripted transport. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "mmc_cmds.h"
#include "sense.h"
#include "test_mmc_util.h"

struct script {
	struct mmc_transport t;
	/* Each step answers one command: key/asc/ascq (key 0xff: transport failure, key 0: GOOD). */
	struct {
		uint8_t key, asc, ascq;
	} step[16];
	unsigned n, at, calls;
	unsigned slept_ms, sleeps;
};

static int script_exec(struct mmc_transport *t, struct mmc_cmd *cmd)
{
	struct script *s = t->priv;
	unsigned i = s->at < s->n ? s->at++ : s->n - 1;

	s->calls++;
	if (s->step[i].key == 0xff)
		return -ENODEV;
	if (s->step[i].key == 0xfe)
		return -EPERM; /* the kernel's SG_IO filter refused the command */
	if (!s->step[i].key) {
		cmd->status = MMC_STATUS_GOOD;
		return 0;
	}
	cmd->status = MMC_STATUS_CHECK;
	memset(cmd->sense, 0, 18);
	cmd->sense[0] = 0xF0; /* fixed, INFORMATION valid */
	cmd->sense[2] = s->step[i].key;
	cmd->sense[6] = 0x2A; /* information = 42 */
	cmd->sense[7] = 10;
	cmd->sense[12] = s->step[i].asc;
	cmd->sense[13] = s->step[i].ascq;
	cmd->sense_len = 18;
	return 0;
}

static void script_sleep(struct mmc_transport *t, unsigned ms)
{
	struct script *s = t->priv;

	s->slept_ms += ms;
	s->sleeps++;
}

static const struct mmc_transport_ops script_ops = {.exec = script_exec, .sleep_ms = script_sleep, .close = fake_close};

static struct script sc;
static struct mmc_ctx ctx;
static struct mmc_cmd cmd;

static void setup(void)
{
	memset(&sc, 0, sizeof(sc));
	fake_attach(&sc.t, &script_ops, "script", &sc, &ctx);
	memset(&cmd, 0, sizeof(cmd));
	cmd.cdb[0] = 0x2A;
	cmd.cdb_len = 10;
}

static void add(uint8_t key, uint8_t asc, uint8_t ascq)
{
	sc.step[sc.n].key = key;
	sc.step[sc.n].asc = asc;
	sc.step[sc.n].ascq = ascq;
	sc.n++;
}

START_TEST(test_decode_fixed)
{
	const uint8_t s[18] = {0xF0, 0, 0x03, 0x00, 0x01, 0x02, 0x03, 10, 0, 0, 0, 0, 0x0C, 0x00, 0, 0, 0, 0};
	struct mmc_sense d;
	char txt[96];

	mmc_sense_decode(s, sizeof(s), &d);
	ck_assert(d.valid && d.info_valid);
	ck_assert_uint_eq(d.key, 3);
	ck_assert_uint_eq(d.asc, 0x0C);
	ck_assert_uint_eq(d.info, 0x00010203);
	ck_assert_str_eq(mmc_sense_text(&d, txt, sizeof(txt)), "MEDIUM ERROR 03/0C/00 write error");
	ck_assert_int_eq(mmc_sense_errno(&d), -EIO);
	ck_assert_int_eq(mmc_sense_classify(&d), MMC_SC_MEDIUM);
	/* Progress in the sense-key-specific bytes of a NOT READY. */
	const uint8_t p[18] = {0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x04, 0, 0x80, 0x40, 0x00};
	mmc_sense_decode(p, sizeof(p), &d);
	ck_assert(d.sksv);
	ck_assert_uint_eq(d.progress, 0x4000);
	ck_assert_int_eq(mmc_sense_classify(&d), MMC_SC_RETRY);
	/* Too short to hold ASC/ASCQ: not valid, never read past the end. */
	mmc_sense_decode(p, 8, &d);
	ck_assert(!d.valid);
	mmc_sense_decode(p, 0, &d);
	ck_assert(!d.valid);
}
END_TEST

START_TEST(test_decode_descriptor)
{
	/* 72h: key 6, 28/00, then an information descriptor (LBA 0x1_0000_0005) and a SKS descriptor. */
	const uint8_t s[8 + 12 + 8] = {0x72, 0x02, 0x04, 0x04, 0, 0, 0,	   20,	 0x00, 0x0A, 0x80, 0,	 0,    0,
				       0,    1,	   0,	 0,    0, 5, 0x02, 0x06, 0,    0,    0x80, 0x12, 0x34, 0};
	struct mmc_sense d;
	char txt[96];

	mmc_sense_decode(s, sizeof(s), &d);
	ck_assert(d.valid);
	ck_assert_uint_eq(d.key, 2);
	ck_assert(d.info_valid);
	ck_assert_uint_eq(d.info, 0x100000005ull);
	ck_assert(d.sksv);
	ck_assert_uint_eq(d.progress, 0x1234);
	ck_assert_str_eq(mmc_sense_text(&d, txt, sizeof(txt)), "NOT READY 02/04/04 format in progress");
	/* An additional length that claims more than the buffer holds is clipped. */
	uint8_t t[12];
	memcpy(t, s, 12);
	mmc_sense_decode(t, sizeof(t), &d);
	ck_assert(d.valid && !d.info_valid);
}
END_TEST

START_TEST(test_errno_map)
{
	struct mmc_sense d = {.valid = true};
	const struct {
		uint8_t key, asc;
		int err;
	} map[] = {
		{2, 0x3a, -ENOMEDIUM}, {7, 0x27, -EROFS},  {5, 0x24, -EINVAL}, {5, 0x21, -EIO}, {3, 0x11, -EIO},
		{3, 0x32, -ENOSPC},    {6, 0x28, -EAGAIN}, {4, 0x44, -EIO},    {1, 0x17, 0},
	};

	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		d.key = map[i].key;
		d.asc = map[i].asc;
		ck_assert_int_eq(mmc_sense_errno(&d), map[i].err);
	}
}
END_TEST

START_TEST(test_retry_long_write)
{
	add(2, 4, 8);
	add(2, 4, 8);
	add(2, 4, 8);
	add(0, 0, 0);
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), 0);
	ck_assert_uint_eq(sc.calls, 4);
	ck_assert_uint_eq(sc.sleeps, 3);
	ck_assert_uint_eq(ctx.retries, 3);
	/* Back-off grows: 10 + 20 + 40 ms. */
	ck_assert_uint_eq(sc.slept_ms, 70);
}
END_TEST

START_TEST(test_retry_bounded)
{
	add(2, 4, 1); /* becoming ready, forever */
	ctx.max_wait_ms = 5000;
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), -EBUSY);
	ck_assert_uint_ge(sc.slept_ms, 5000);
	ck_assert_uint_le(sc.slept_ms, 6000);
	ck_assert_uint_eq(ctx.errors, 1);
	ck_assert_uint_eq(ctx.last.asc, 4);
}
END_TEST

START_TEST(test_unit_attention)
{
	add(6, 0x28, 0);
	add(0, 0, 0);
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), 0);
	ck_assert(ctx.unit_attention);
	ck_assert_uint_eq(ctx.unit_attentions, 1);
	ck_assert_uint_eq(sc.calls, 2);
	/* Two in a row: the second is returned, not retried forever. */
	setup();
	add(6, 0x29, 0);
	add(6, 0x29, 0);
	add(0, 0, 0);
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), -EAGAIN);
	ck_assert_uint_eq(sc.calls, 2);
}
END_TEST

START_TEST(test_medium_error_not_retried)
{
	add(3, 0x0c, 0);
	add(0, 0, 0);
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), -EIO);
	ck_assert_uint_eq(sc.calls, 1);
	ck_assert(ctx.last.info_valid);
	ck_assert_uint_eq(ctx.last.info, 42);
	setup();
	add(0xff, 0, 0);
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), -ENODEV);
	setup();
	add(1, 0x17, 1); /* recovered error: the data is good */
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), 0);
}
END_TEST

/* A command the kernel refuses (SG_IO EPERM) is reported as such, never with the sense text a previous
 * command left behind. */
START_TEST(test_refused_by_kernel)
{
	char txt[160];

	add(5, 0x24, 0);
	add(0xfe, 0, 0);
	add(0xfe, 0, 0);
	cmd.cdb[0] = 0x5A;
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), -EINVAL);
	ck_assert(ctx.last.valid);
	cmd.cdb[0] = 0x04;
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), -EPERM);
	ck_assert_msg(!ctx.last.valid, "the sense of the previous command is still there");
	ck_assert_str_eq(mmc_ctx_error(&ctx, -EPERM, txt, sizeof(txt)),
			 "the kernel refused command 04h (FORMAT UNIT) for this user: Operation not permitted");
	ck_assert_int_eq(mmc_test_unit_ready(&ctx), -EPERM);
	ck_assert_str_eq(mmc_ctx_error(&ctx, -EPERM, txt, sizeof(txt)),
			 "the kernel refused command 00h (TEST UNIT READY) for this user: Operation not permitted");
	/* a failure with sense after it shows that sense */
	setup();
	add(0xfe, 0, 0);
	add(3, 0x0c, 0);
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), -EPERM);
	ck_assert_int_eq(mmc_exec(&ctx, &cmd), -EIO);
	ck_assert_str_eq(mmc_ctx_error(&ctx, -EIO, txt, sizeof(txt)), "MEDIUM ERROR 03/0C/00 write error");
}
END_TEST

/* The sg driver refuses O_EXCL with O_RDONLY: a read-only open asks for no exclusivity. */
START_TEST(test_open_flags)
{
	int ro = mmc_sg_open_flags(true), rw = mmc_sg_open_flags(false);

	ck_assert_int_eq(ro & O_ACCMODE, O_RDONLY);
	ck_assert_int_eq(ro & O_EXCL, 0);
	ck_assert_int_ne(ro & O_NONBLOCK, 0);
	ck_assert_int_eq(rw & O_ACCMODE, O_RDWR);
	ck_assert_int_ne(rw & O_EXCL, 0);
	ck_assert_int_ne(rw & O_NONBLOCK, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mmc_sense");
	TCase *tc = tcase_create("sense");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_decode_fixed);
	tcase_add_test(tc, test_decode_descriptor);
	tcase_add_test(tc, test_errno_map);
	tcase_add_test(tc, test_retry_long_write);
	tcase_add_test(tc, test_retry_bounded);
	tcase_add_test(tc, test_unit_attention);
	tcase_add_test(tc, test_medium_error_not_retried);
	tcase_add_test(tc, test_refused_by_kernel);
	tcase_add_test(tc, test_open_flags);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
