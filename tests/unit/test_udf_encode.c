/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The UDF encoders (for the writer) against their decoders: round trips over many seeds and edges. */
#include "udf_desc.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs;
static uint64_t rnd(void)
{
	uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

START_TEST(test_timestamp_round_trip)
{
	uint8_t b[12];
	for (int seed = 0; seed < 20000; seed++) {
		rs = (uint64_t)seed;
		/* 1900..2200, any time zone the format can hold, microsecond resolution */
		struct timespec ts = {(time_t)((int64_t)(rnd() % 9467280000ull) - 2208988800ll),
				      (long)(rnd() % 1000000) * 1000};
		int tz = (int)(rnd() % 2881) - 1440;
		udf_put_timestamp(b, ts, tz);
		struct timespec back = udf_timestamp(b);
		ck_assert_msg(back.tv_sec == ts.tv_sec && back.tv_nsec == ts.tv_nsec,
			      "seed %d: %lld.%09ld tz %d came back as %lld.%09ld", seed, (long long)ts.tv_sec,
			      ts.tv_nsec, tz, (long long)back.tv_sec, back.tv_nsec);
	}
	/* A known date: 2000-01-01 00:00:00 UTC, written at UTC+1 as 01:00 local. */
	udf_put_timestamp(b, (struct timespec){946684800, 0}, 60);
	ck_assert_int_eq(b[2] | b[3] << 8, 2000);
	ck_assert_int_eq(b[4], 1);
	ck_assert_int_eq(b[5], 1);
	ck_assert_int_eq(b[6], 1);
}
END_TEST

START_TEST(test_cs0_round_trip)
{
	static const char *names[] = {"a",
				      "file.txt",
				      "spaces in name",
				      "caf\xc3\xa9",
				      "\xe4\xb8\xad\xe6\x96\x87",
				      "emoji \xf0\x9f\x98\x80 x",
				      "\xc3\xbf\xc3\xbe"};
	uint8_t cs0[300];
	char back[1024];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = udf_utf8_to_cs0(names[i], cs0, sizeof(cs0));
		ck_assert_int_gt(n, 1);
		ck_assert_int_ge(udf_cs0_to_utf8(cs0, (size_t)n, back, sizeof(back)), 0);
		ck_assert_str_eq(back, names[i]);
	}
	ck_assert_int_eq(udf_utf8_to_cs0("caf\xc3\xa9", cs0, sizeof(cs0)), 5); /* Latin-1 fits 8 bits */
	ck_assert_int_eq(cs0[0], 8);
	ck_assert_int_eq(udf_utf8_to_cs0("\xe4\xb8\xad", cs0, sizeof(cs0)), 3); /* one 16-bit unit */
	ck_assert_int_eq(cs0[0], 16);
	ck_assert_int_eq(udf_utf8_to_cs0("\xf0\x9f\x98\x80", cs0, sizeof(cs0)), 5); /* a surrogate pair */
	/* Random valid code points, many seeds. */
	for (int seed = 0; seed < 2000; seed++) {
		rs = (uint64_t)seed + 99;
		char s[200];
		size_t k = 0;
		int len = 1 + (int)(rnd() % 40);
		for (int j = 0; j < len; j++) {
			uint32_t cp;
			do
				cp = (uint32_t)(rnd() % (seed % 3 == 0 ? 0x100 : 0x110000));
			while (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF));
			if (cp < 0x80)
				s[k++] = (char)cp;
			else if (cp < 0x800) {
				s[k++] = (char)(0xC0 | cp >> 6);
				s[k++] = (char)(0x80 | (cp & 0x3F));
			} else if (cp < 0x10000) {
				s[k++] = (char)(0xE0 | cp >> 12);
				s[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				s[k++] = (char)(0x80 | (cp & 0x3F));
			} else {
				s[k++] = (char)(0xF0 | cp >> 18);
				s[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
				s[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				s[k++] = (char)(0x80 | (cp & 0x3F));
			}
		}
		s[k] = '\0';
		int n = udf_utf8_to_cs0(s, cs0, sizeof(cs0));
		ck_assert_int_gt(n, 1);
		ck_assert_int_ge(udf_cs0_to_utf8(cs0, (size_t)n, back, sizeof(back)), 0);
		ck_assert_msg(strcmp(back, s) == 0, "seed %d", seed);
	}
	/* Invalid UTF-8 and lengths. */
	ck_assert_int_eq(udf_utf8_to_cs0("\xc0\xaf", cs0, sizeof(cs0)), -EINVAL);     /* overlong '/' */
	ck_assert_int_eq(udf_utf8_to_cs0("\xed\xa0\x80", cs0, sizeof(cs0)), -EINVAL); /* a surrogate */
	ck_assert_int_eq(udf_utf8_to_cs0("\xff", cs0, sizeof(cs0)), -EINVAL);
	ck_assert_int_eq(udf_utf8_to_cs0("abc", cs0, 3), -ENAMETOOLONG);
	ck_assert_int_eq(udf_utf8_to_cs0("abc", cs0, 4), 4);
}
END_TEST

START_TEST(test_dstring)
{
	uint8_t f[32];
	char back[64];
	ck_assert_int_eq(udf_put_dstring(f, sizeof(f), "LinuxUDF"), 0);
	ck_assert_int_eq(f[31], 9);
	udf_dstring(f, sizeof(f), back, sizeof(back));
	ck_assert_str_eq(back, "LinuxUDF");
	ck_assert_int_eq(udf_put_dstring(f, sizeof(f), "0123456789012345678901234567890"), -ENAMETOOLONG);
	ck_assert_int_eq(f[31], 0);
	ck_assert_int_eq(udf_put_dstring(f, sizeof(f), ""), 0);
	udf_dstring(f, sizeof(f), back, sizeof(back));
	ck_assert_str_eq(back, "");
}
END_TEST

/* The definition of ECMA-167 1/7.2.6, one bit at a time: the reference the fast CRC must equal. */
static uint16_t crc_itu_bitwise(const uint8_t *p, size_t len)
{
	uint16_t crc = 0;

	while (len--) {
		crc ^= (uint16_t)(*p++ << 8);
		for (int i = 0; i < 8; i++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

START_TEST(test_crc_itu_known_values)
{
	static const uint8_t ecma[] = {0x70, 0x6A, 0x77}; /* ECMA-167 1/7.2.6's own example */
	ck_assert_uint_eq(udf_crc_itu(ecma, sizeof(ecma)), 0x3299);
	ck_assert_uint_eq(udf_crc_itu((const uint8_t *)"123456789", 9), 0x31C3); /* CRC-16/XMODEM's check */
	ck_assert_uint_eq(udf_crc_itu(ecma, 0), 0);
	static const uint8_t zeros[2048];
	ck_assert_uint_eq(udf_crc_itu(zeros, sizeof(zeros)), 0);
}
END_TEST

/* Random contents, every length up to a few blocks and every alignment of the start. */
START_TEST(test_crc_itu_matches_bitwise)
{
	static uint8_t buf[3 * 2048 + 16];
	rs = 13;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
	for (size_t len = 0; len <= 64; len++)
		for (size_t off = 0; off < 8; off++)
			ck_assert_uint_eq(udf_crc_itu(buf + off, len), crc_itu_bitwise(buf + off, len));
	for (int i = 0; i < 2000; i++) {
		size_t off = rnd() % 16, len = rnd() % (sizeof(buf) - off + 1);
		ck_assert_uint_eq(udf_crc_itu(buf + off, len), crc_itu_bitwise(buf + off, len));
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udf_encode");
	TCase *t = tcase_create("round trips");
	tcase_add_test(t, test_timestamp_round_trip);
	tcase_add_test(t, test_cs0_round_trip);
	tcase_add_test(t, test_dstring);
	tcase_add_test(t, test_crc_itu_known_values);
	tcase_add_test(t, test_crc_itu_matches_bitwise);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
