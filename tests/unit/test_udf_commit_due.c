/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A commit due by size (udf_set_commit_due): the engine calls the caller back once when the
 * files and directories waiting for a commit reach the number asked for, not before and not again
 * until a commit took them; never when asked for 0; and in a large directory not before the
 * commit's rewrite of it comes to at most UDF_DUE_DIR_BYTES_PER_NODE (1 KiB) per node waiting.  On
 * 2.01 and 2.50 (entries in a metadata partition).
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_format.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISC (64u << 20)

static int m_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	if (off + len > DISC)
		return -EIO;
	memcpy(buf, (uint8_t *)ctx + off, len);
	return 0;
}

static int m_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	if (off + len > DISC)
		return -EIO;
	memcpy((uint8_t *)ctx + off, buf, len);
	return 0;
}

static int m_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static const unsigned revisions[] = {0x0201, 0x0250};

/* A disc in memory (*disc_out, freed by close_and_free), formatted and mounted. */
static struct udf_fs *format_and_mount(uint8_t **disc_out, unsigned revision)
{
	uint8_t *disc = *disc_out = calloc(1, DISC);
	ck_assert_ptr_nonnull(disc);
	struct udf_format_opts fo = {.revision = revision, .media = UDF_MEDIA_CDRW};
	struct udf_io io = {
		.read = m_read, .write = m_write, .flush = m_flush, .ctx = disc, .size = DISC, .packet_blocks = 32};
	struct udf_mount_opts mo = {0};
	struct udf_fs *fs = NULL;
	char err[256];

	ck_assert_msg(udf_format(&fo, m_write, disc, DISC, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	ck_assert(udf_writable(fs, err, sizeof(err)));
	return fs;
}

static void close_and_free(struct udf_fs *fs, uint8_t *disc)
{
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	free(disc);
}

static void count_call(void *ctx)
{
	(*(unsigned *)ctx)++;
}

static uint64_t commits_of(struct udf_fs *fs)
{
	struct udf_statfs sf;
	udf_statfs(fs, &sf);
	return sf.commits;
}

static void new_file(struct udf_fs *fs, uint64_t dir, const char *prefix, int i)
{
	char name[32];
	uint64_t ino;
	struct stat st;

	snprintf(name, sizeof(name), "%s%d", prefix, i);
	ck_assert_int_eq(udf_create(fs, dir, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, strlen(name), name), (ssize_t)strlen(name));
}

/* Each new file is one more node waiting, its directory one (once) */
START_TEST(test_due_once_per_commit)
{
	uint8_t *disc;
	struct udf_fs *fs = format_and_mount(&disc, revisions[_i]);
	uint64_t root = udf_root_ino(fs);
	unsigned calls = 0;

	udf_set_commit_due(fs, 5, count_call, &calls);
	for (int i = 0; i < 3; i++)
		new_file(fs, root, "a", i);
	ck_assert_msg(calls == 0, "due after 4 of 5 nodes: %u calls", calls);
	new_file(fs, root, "a", 3); /* the root and four files */
	ck_assert_msg(calls == 1, "not due at 5 nodes: %u calls", calls);
	for (int i = 4; i < 20; i++)
		new_file(fs, root, "a", i);
	ck_assert_msg(calls == 1, "due again before a commit: %u calls", calls);

	ck_assert_int_eq(udf_sync(fs), 0);
	for (int i = 0; i < 3; i++)
		new_file(fs, root, "b", i);
	ck_assert_msg(calls == 1, "the commit did not start the count again: %u calls", calls);
	new_file(fs, root, "b", 3);
	ck_assert_msg(calls == 2, "not due at 5 nodes after the commit: %u calls", calls);

	/* a file written again is no new node */
	ck_assert_int_eq(udf_sync(fs), 0);
	uint64_t ino;
	struct stat st;
	ck_assert_int_eq(udf_lookup(fs, root, "a0", &ino, &st), 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(udf_write(fs, ino, (uint64_t)i, 1, "x"), 1);
	ck_assert_msg(calls == 2, "writes to one file counted as new nodes: %u calls", calls);

	udf_set_commit_due(fs, 0, NULL, NULL);
	close_and_free(fs, disc);
}
END_TEST

/* A directory of ~1 MB of FIDs: 4,300 names of 200 characters (a FID of 240 bytes each).  Each
 * commit rewrites it whole, so a commit due at 512 nodes waits until ~1,000 do (1 KiB of it per
 * node); before that rule, every 512 new files rewrote the whole directory (quadratic in its size). */
START_TEST(test_due_waits_for_big_directory_rewrites)
{
	uint8_t *disc;
	struct udf_fs *fs = format_and_mount(&disc, revisions[_i]);
	uint64_t root = udf_root_ino(fs);
	unsigned calls = 0;
	char name[256];

	for (int i = 0; i < 4300; i++) {
		uint64_t ino;
		struct stat st;
		snprintf(name, sizeof(name), "%0200d", i);
		ck_assert_int_eq(udf_create(fs, root, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	}
	ck_assert_int_eq(udf_sync(fs), 0);
	udf_set_commit_due(fs, 512, count_call, &calls);
	for (int round = 0; round < 2; round++) {
		/* new files since the last commit (should the engine commit on its own): each one node,
		 * the root one more */
		int i = 0, since = 0;
		uint64_t last = commits_of(fs);
		for (; i < 2000 && calls == (unsigned)round; i++) {
			new_file(fs, root, round ? "e" : "d", i);
			since = commits_of(fs) == last ? since + 1 : 0;
			last = commits_of(fs);
			/* 601 nodes wait: 1,032,000 bytes of FIDs and more to rewrite */
			ck_assert_msg(since > 600 || calls == (unsigned)round,
				      "round %d: due at %d nodes with ~1 MB of directory to rewrite", round, since + 1);
		}
		/* due at (4,300 x 240 + the new FIDs of ~44 bytes) / 1,024 nodes: ~1,050, ~1,100 in round 2 */
		ck_assert_msg(calls == (unsigned)round + 1 && since >= 950 && since <= 1200,
			      "round %d: due after %d new files since the last commit (%u calls)", round, since, calls);
		for (int k = 0; k < 100; k++)
			new_file(fs, root, round ? "f" : "g", k);
		ck_assert_msg(calls == (unsigned)round + 1, "round %d: due again before a commit: %u calls", round,
			      calls);
		ck_assert_int_eq(udf_sync(fs), 0);
	}
	udf_set_commit_due(fs, 0, NULL, NULL);
	close_and_free(fs, disc);
}
END_TEST

START_TEST(test_due_off)
{
	uint8_t *disc;
	struct udf_fs *fs = format_and_mount(&disc, revisions[_i]);
	uint64_t root = udf_root_ino(fs);
	unsigned calls = 0;

	udf_set_commit_due(fs, 0, count_call, &calls); /* 0: never */
	for (int i = 0; i < 50; i++)
		new_file(fs, root, "c", i);
	udf_set_commit_due(fs, 3, count_call, &calls);
	udf_set_commit_due(fs, 0, NULL, NULL); /* turned off again before the count reaches it */
	for (int i = 50; i < 100; i++)
		new_file(fs, root, "c", i);
	ck_assert_msg(calls == 0, "called %u times while off", calls);
	close_and_free(fs, disc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udf_commit_due");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_due_once_per_commit, 0, 2);
	tcase_add_loop_test(tc, test_due_off, 0, 2);
	/* 2.01 only: on this small disc the 2.50 metadata partition grows every ~950 files, each growth
	 * with a commit of its own, which starts the count again before it comes to ~1,050 */
	tcase_add_loop_test(tc, test_due_waits_for_big_directory_rewrites, 0, 1);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
