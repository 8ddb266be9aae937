/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A fresh directory under /tmp for one test's media, removed with everything in it afterwards. */
#ifndef PKTFUSE_TEST_TMPDIR_H
#define PKTFUSE_TEST_TMPDIR_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* dir receives "/tmp/PREFIX-XXXXXX", made. */
static inline void test_tmpdir_make(char *dir, size_t len, const char *prefix)
{
	snprintf(dir, len, "/tmp/%s-XXXXXX", prefix);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void test_tmpdir_remove(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

#endif
