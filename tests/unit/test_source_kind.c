/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one classifier of SOURCE: each kind, and the reason worded for those that are no source. */
#define _GNU_SOURCE
#include "source_kind.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_each_kind)
{
	char dir[] = "/tmp/srckind-XXXXXX", path[64], err[256];
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(source_classify("emu:cdrw:/nonexistent/x.img", NULL, err, sizeof(err)), SOURCE_EMULATOR);
	ck_assert_int_eq(source_classify("/dev/null", NULL, err, sizeof(err)), SOURCE_DRIVE);
	snprintf(path, sizeof(path), "%s/img", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("12345", f);
	fclose(f);
	ck_assert_int_eq(source_classify(path, &st, err, sizeof(err)), SOURCE_IMAGE);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert_int_eq(source_classify(dir, NULL, err, sizeof(err)), SOURCE_DIRECTORY);
	ck_assert_str_eq(strstr(err, ": is a directory"), ": is a directory, not a drive or an image file");
	ck_assert_int_eq(strncmp(err, dir, strlen(dir)), 0);
	unlink(path);
	ck_assert_int_eq(source_classify(path, NULL, err, sizeof(err)), SOURCE_MISSING);
	ck_assert_str_eq(strstr(err, ": No such"), ": No such file or directory");
	ck_assert_int_eq(source_classify("", NULL, err, sizeof(err)), SOURCE_MISSING);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(source_classify(path, NULL, err, sizeof(err)), SOURCE_OTHER);
	ck_assert_str_eq(strstr(err, ": neither"), ": neither a drive nor an image file");
	unlink(path);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("source_kind");
	TCase *t = tcase_create("classify");
	tcase_add_test(t, test_each_kind);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
