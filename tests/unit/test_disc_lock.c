/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The disc locks: refused while another holder's mount exists, waiting while its mount is gone. */
#define _GNU_SOURCE
#include "disc_lock.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[] = "/tmp/pktlock-XXXXXX";

static void setup(void)
{
	strcpy(path, "/tmp/pktlock-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void teardown(void)
{
	unlink(path);
}

static int open_locked(bool exclusive, char *err, size_t len, int *rc)
{
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	*rc = disc_lock_take(fd, path, exclusive, err, len);
	if (*rc) {
		close(fd);
		return -1;
	}
	return fd;
}

START_TEST(test_exclusive_and_shared)
{
	char err[512];
	int rc;
	int a = open_locked(true, err, sizeof(err), &rc);
	ck_assert_msg(a >= 0, "%s", err);
	ck_assert_int_lt(open_locked(true, err, sizeof(err), &rc), 0);
	ck_assert_int_eq(rc, -EBUSY);
	ck_assert_msg(strstr(err, "in use by another pktfuse"), "%s", err);
	ck_assert_int_lt(open_locked(false, err, sizeof(err), &rc), 0);
	disc_lock_forget(a);
	close(a);
	int r1 = open_locked(false, err, sizeof(err), &rc);
	int r2 = open_locked(false, err, sizeof(err), &rc);
	ck_assert_msg(r1 >= 0 && r2 >= 0, "two readers: %s", err);
	ck_assert_int_lt(open_locked(true, err, sizeof(err), &rc), 0);
	disc_lock_forget(r1);
	disc_lock_forget(r2);
	close(r1);
	close(r2);
}
END_TEST

/* A child holds the disc as a daemon mounted on dev; with unmounted, its session has ended.  It
 * exits when the pipe is closed. */
static pid_t holder(dev_t dev, bool unmounted, int *release)
{
	int ready[2], go[2];
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char err[512], c;
		int rc;
		close(ready[0]);
		close(go[1]);
		if (open_locked(true, err, sizeof(err), &rc) < 0)
			_exit(2);
		disc_lock_mounted(dev);
		if (unmounted)
			disc_lock_unmounted();
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(3);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	char c;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release = go[1];
	return pid;
}

START_TEST(test_refused_while_mounted)
{
	struct stat st;
	char err[512];
	int rc, release;

	ck_assert_int_eq(stat("/", &st), 0); /* a mount that exists: the root file system */
	pid_t h = holder(st.st_dev, false, &release);
	ck_assert_int_lt(open_locked(true, err, sizeof(err), &rc), 0);
	ck_assert_int_eq(rc, -EBUSY);
	ck_assert_msg(strstr(err, "mounted on /"), "%s", err);
	close(release);
	ck_assert_int_eq(waitpid(h, NULL, 0), h);
}
END_TEST

START_TEST(test_waits_while_writing)
{
	char err[512];
	int rc, release, st;

	/* mounted on a device no mount has: the mount is gone, the holder is still writing */
	pid_t h = holder(makedev(0, 0xFFFFE), false, &release);
	pid_t w = fork();
	ck_assert_int_ge(w, 0);
	if (w == 0) {
		close(release); /* only the test may hold the holder's pipe open */
		int fd = open_locked(true, err, sizeof(err), &rc);
		_exit(fd >= 0 ? 0 : 1);
	}
	usleep(300000);
	ck_assert_int_eq(waitpid(w, &st, WNOHANG), 0); /* still waiting */
	close(release);
	ck_assert_int_eq(waitpid(h, NULL, 0), h);
	ck_assert_int_eq(waitpid(w, &st, 0), w);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* the session ended (unmounted): waits too */
	h = holder(makedev(0, 0xFFFFE), true, &release);
	w = fork();
	if (w == 0) {
		close(release); /* only the test may hold the holder's pipe open */
		int fd = open_locked(true, err, sizeof(err), &rc);
		_exit(fd >= 0 ? 0 : 1);
	}
	usleep(300000);
	ck_assert_int_eq(waitpid(w, &st, WNOHANG), 0);
	close(release);
	ck_assert_int_eq(waitpid(h, NULL, 0), h);
	ck_assert_int_eq(waitpid(w, &st, 0), w);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("disc_lock");
	TCase *tc = tcase_create("locks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_exclusive_and_shared);
	tcase_add_test(tc, test_refused_while_mounted);
	tcase_add_test(tc, test_waits_while_writing);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
