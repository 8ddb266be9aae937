/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's log: the ring of the last errors, and the outcome report. */
#define _GNU_SOURCE
#include "log.h"

#include <check.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[16384];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return f ? buf : NULL;
}

START_TEST(test_ring_and_report)
{
	char dir[] = "/tmp/pktlog-XXXXXX", text[16384], line[64];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("XDG_RUNTIME_DIR", dir, 1);
	pktfuse_log(LOG_NOTICE, "a note is not an error");
	for (int i = 0; i < PKTFUSE_RING_LINES + 4; i++)
		pktfuse_log(LOG_ERR, "error %d", i);
	pktfuse_log_render(text, sizeof(text));
	ck_assert_msg(strstr(text, "logged_errors: 20\n"), "%s", text);
	ck_assert_msg(!strstr(text, "a note"), "%s", text);
	ck_assert_msg(!strstr(text, " error 3\n"), "the oldest are dropped: %s", text);
	/* the last 16, oldest first */
	char *prev = text;
	for (int i = 4; i < PKTFUSE_RING_LINES + 4; i++) {
		snprintf(line, sizeof(line), " error %d\n", i);
		char *at = strstr(text, line);
		ck_assert_msg(at && at > prev, "%s missing or out of order: %s", line, text);
		prev = at;
	}
	/* a short buffer is cut, never overrun */
	ck_assert_uint_lt(pktfuse_log_render(text, 40), 40);

	/* reports of a dead daemon whose mount is gone: removed once an hour old, kept while fresh */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
	char sub[256], old[300], fresh[300];
	snprintf(sub, sizeof(sub), "%s/pktfuse", dir);
	mkdir(sub, 0700);
	snprintf(old, sizeof(old), "%s/%ld.report", sub, (long)dead);
	snprintf(fresh, sizeof(fresh), "%s/%ld.report", sub, (long)dead + 1000000);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(i ? fresh : old, "w");
		ck_assert_ptr_nonnull(f);
		fputs("outcome: running\nmountpoint: /nonexistent/mnt\n", f);
		fclose(f);
	}
	struct timespec hours_ago[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
	ck_assert_int_eq(utimensat(AT_FDCWD, old, hours_ago, 0), 0);

	char err[512] = "";
	ck_assert_int_eq(pktfuse_report_start("emu:cdrw:/x.img", "/mnt", err, sizeof(err)), 0);
	ck_assert_msg(access(old, F_OK) != 0, "a stale report was kept");
	ck_assert_msg(access(fresh, F_OK) == 0, "a fresh report was removed");
	unlink(fresh);
	char want[256];
	snprintf(want, sizeof(want), "%s/pktfuse/%ld.report", dir, (long)getpid());
	ck_assert_str_eq(pktfuse_report_path(), want);
	char *r = slurp(want);
	ck_assert_msg(r && strstr(r, "outcome: running\n") && strstr(r, "mountpoint: /mnt\n"), "%s", r ? r : "-");
	struct stat st;
	ck_assert_int_eq(stat(want, &st), 0);
	ck_assert_int_eq(st.st_mode & 077, 0);
	pktfuse_report_finish(false, "could not write all cached data");
	r = slurp(want);
	ck_assert_msg(r && strstr(r, "outcome: failed\n") && strstr(r, "error: could not write all cached data\n") &&
			      strstr(r, "last_error: ") && strstr(r, " error 19\n"),
		      "%s", r ? r : "-");
	pktfuse_report_finish(true, "");
	ck_assert_int_ne(access(want, F_OK), 0);
	snprintf(want, sizeof(want), "%s/pktfuse", dir);
	rmdir(want);
	rmdir(dir);
}
END_TEST

START_TEST(test_runtime_dir_must_be_private)
{
	char dir[] = "/tmp/pktlog-XXXXXX", sub[256], got[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("XDG_RUNTIME_DIR", dir, 1);
	snprintf(sub, sizeof(sub), "%s/pktfuse", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	chmod(sub, 0755);
	ck_assert_int_lt(pktfuse_runtime_dir(got, sizeof(got)), 0); /* others could read or plant reports */
	char err[512] = "";
	ck_assert_int_lt(pktfuse_report_start("/x.img", "/mnt", err, sizeof(err)), 0); /* and no report there */
	ck_assert_msg(strstr(err, "no outcome report for pktfuse umount: runtime directory ") && strstr(err, sub), "%s",
		      err);
	chmod(sub, 0700);
	ck_assert_int_eq(pktfuse_runtime_dir(got, sizeof(got)), 0);
	ck_assert_str_eq(got, sub);
	rmdir(sub);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_test(tc, test_ring_and_report);
	tcase_add_test(tc, test_runtime_dir_must_be_private);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
