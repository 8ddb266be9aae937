/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tolerant reader (issue 12), on media in memory made by pktfuse's own formatter and writer:
 *  - an image cut behind its last used block (a dd of a partly written disc): its partition runs past
 *    the end; it mounts read-only with the reason told, what is there reads, what is not is EIO;
 *  - a disc formatted twice with different block sizes: the newer file system is read, as blkid
 *    finds it, and the note says so.
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_format.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mem {
	uint8_t *data;
	size_t size; /* what reads may reach: the image's length */
	size_t cap;
};

static int mem_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	struct mem *m = ctx;

	if (off > m->size || len > m->size - off)
		return -EIO;
	memcpy(buf, m->data + off, len);
	return 0;
}

static int mem_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	struct mem *m = ctx;

	if (off > m->cap || len > m->cap - off)
		return -EIO;
	memcpy(m->data + off, buf, len);
	if (off + len > m->size)
		m->size = off + len;
	return 0;
}

static int mem_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static void mem_format(struct mem *m, size_t bytes, const struct udf_format_opts *fo)
{
	char err[256];

	m->data = calloc(1, bytes);
	m->cap = m->size = bytes;
	ck_assert_msg(udf_format(fo, mem_write, m, bytes, err, sizeof(err)) == 0, "format: %s", err);
}

static int mem_mount(struct mem *m, bool writable, struct udf_fs **fs, char *err, size_t errlen)
{
	struct udf_io io = {.read = mem_read,
			    .write = writable ? mem_write : NULL,
			    .flush = mem_flush,
			    .ctx = m,
			    .size = m->size,
			    .packet_blocks = 16};
	struct udf_mount_opts mo = {0};

	return udf_mount(&io, &mo, fs, err, errlen);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 131 + seed * 7 + i / 4093);
}

/* The last block before the end anchors that is not all zeros. */
static size_t last_used_block(const struct mem *m, uint32_t bs)
{
	size_t n = m->size / bs;
	for (size_t b = n - 258; b > 0; b--)
		for (uint32_t k = 0; k < bs; k++)
			if (m->data[b * bs + k])
				return b;
	return 0;
}

START_TEST(truncated_image_reads_read_only)
{
	enum { BIG = 3 << 20, SMALL = 20000 };
	struct udf_format_opts fo = {.revision = 0x0201, .media = UDF_MEDIA_HD, .uid = 0, .gid = 0};
	struct mem m;
	struct udf_fs *fs;
	struct stat st;
	char err[256], why[256];
	uint64_t small, big;

	mem_format(&m, 32 << 20, &fo);
	ck_assert_msg(mem_mount(&m, true, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	uint64_t root = udf_root_ino(fs);
	uint8_t *a = malloc(SMALL), *b = malloc(BIG), *back = malloc(BIG);
	fill(a, SMALL, 1);
	fill(b, BIG, 2);
	ck_assert_int_eq(udf_create(fs, root, "small", S_IFREG | 0644, 0, 0, NULL, &small, &st), 0);
	ck_assert_int_eq(udf_write(fs, small, 0, SMALL, a), SMALL);
	ck_assert_int_eq(udf_create(fs, root, "big", S_IFREG | 0644, 0, 0, NULL, &big, &st), 0);
	ck_assert_int_eq(udf_write(fs, big, 0, BIG, b), BIG);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);

	/* the dd of a disc recorded this far: cut in the middle of "big", end anchors gone */
	size_t last = last_used_block(&m, 2048);
	ck_assert_uint_gt(last, BIG / 2048);
	m.size = (last + 1 - 512) * 2048;
	int rc = mem_mount(&m, true, &fs, err, sizeof(err));
	ck_assert_msg(rc == 0, "the truncated image does not mount: %s", err);
	ck_assert(!udf_writable(fs, why, sizeof(why)));
	ck_assert_msg(strstr(why, "past the end") != NULL, "reason: %s", why);
	ck_assert_msg(strstr(udf_mount_note(fs), "past the end") != NULL, "note: %s", udf_mount_note(fs));
	ck_assert_int_eq(udf_lookup(fs, root, "small", &small, &st), 0);
	ck_assert_int_eq(udf_read(fs, small, 0, SMALL, back), SMALL);
	ck_assert(memcmp(back, a, SMALL) == 0);
	/* "big": its first part is there and reads as written, its tail is not and is EIO */
	ck_assert_int_eq(udf_lookup(fs, root, "big", &big, &st), 0);
	ck_assert_int_eq(st.st_size, BIG);
	ck_assert_int_eq(udf_read(fs, big, 0, 65536, back), 65536);
	ck_assert(memcmp(back, b, 65536) == 0);
	ck_assert_int_eq(udf_read(fs, big, BIG - 65536, 65536, back), -EIO);
	udf_unmount(fs);
	free(a);
	free(b);
	free(back);
	free(m.data);
}
END_TEST

/* A write-once disc's image is its recorded part: cut behind its last block (its VAT) it mounts as
 * before, writable. */
START_TEST(truncated_vat_image_mounts)
{
	struct udf_format_opts fo = {.revision = 0x0201, .media = UDF_MEDIA_DVDR, .uid = 0, .gid = 0};
	struct mem m;
	struct udf_fs *fs;
	char err[256];

	mem_format(&m, 64 << 20, &fo);
	size_t last = last_used_block(&m, 2048);
	m.size = (last + 1) * 2048;
	ck_assert_msg(mem_mount(&m, false, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	struct stat st;
	ck_assert_int_eq(udf_getattr(fs, udf_root_ino(fs), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	udf_unmount(fs);
	free(m.data);
}
END_TEST

/* Formats the first `bytes` of m again, over what is there (nothing erased). */
static void format_again(struct mem *m, uint32_t bs, size_t bytes, const char *label)
{
	char err[256];
	struct udf_format_opts fo = {.revision = 0x0201, .media = UDF_MEDIA_HD, .block_size = bs, .label = label};

	ck_assert_msg(udf_format(&fo, mem_write, m, bytes, err, sizeof(err)) == 0, "format: %s", err);
}

/* The second format covers `second_mib` of the 16 MiB: a smaller one leaves the first one's end
 * anchors in place, as on a disc formatted again with fewer blocks. */
static void check_reformatted(uint32_t first, uint32_t second, size_t second_mib, bool older_anchor_left)
{
	struct mem m = {.data = calloc(1, 16 << 20), .cap = 16 << 20, .size = 16 << 20};
	char label[32], err[256];
	struct udf_fs *fs;
	struct udf_statfs sf;

	snprintf(label, sizeof(label), "Label%u", first);
	format_again(&m, first, m.cap, label);
	snprintf(label, sizeof(label), "Label%u", second);
	format_again(&m, second, second_mib << 20, label);
	ck_assert_msg(mem_mount(&m, false, &fs, err, sizeof(err)) == 0, "%u then %u: %s", first, second, err);
	udf_statfs(fs, &sf);
	ck_assert_str_eq(sf.label, label);
	ck_assert_uint_eq(sf.block_size, second);
	char want[64];
	snprintf(want, sizeof(want), "the one of %u-byte blocks is read", second);
	if (older_anchor_left)
		ck_assert_msg(strstr(udf_mount_note(fs), want) != NULL, "%u then %u: note: %s", first, second,
			      udf_mount_note(fs));
	struct stat st;
	ck_assert_int_eq(udf_getattr(fs, udf_root_ino(fs), &st), 0);
	udf_unmount(fs);
	free(m.data);
}

/* blkid's choice (tests/ts/blkid's reformatted image: "Label4096"); the old reader found the older
 * file system's end anchor first and then refused the newer recognition sequence, or read the older
 * file system. */
START_TEST(reformatted_disc_newest_wins)
{
	check_reformatted(2048, 4096, 12, true);
	check_reformatted(1024, 4096, 12, true);
	check_reformatted(2048, 512, 16, false);
	check_reformatted(4096, 2048, 16, false);
	check_reformatted(2048, 1024, 12, true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udf_reader");
	TCase *tc = tcase_create("reader");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, truncated_image_reads_read_only);
	tcase_add_test(tc, truncated_vat_image_mounts);
	tcase_add_test(tc, reformatted_disc_newest_wins);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
