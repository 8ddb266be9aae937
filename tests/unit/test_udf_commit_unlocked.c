/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine's lock is not held while a commit waits for the medium (udf_commit_io.c): on a medium
 * whose barrier blocks until the test lets it go, operations on what is in memory (getattr, lookup,
 * readdir, a new file written) complete while udf_sync's commit is stuck in the barrier; a second
 * udf_sync waits for the first and commits what that one did not include; all of it survives a
 * remount.  No timing: every wait is for a condition, bounded only so that a stuck engine fails the
 * test instead of hanging it.
 */
#define _GNU_SOURCE
#include "gate_io.h"
#include "udf.h"
#include "udf_format.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISC (16u << 20)

/* A medium in memory whose flush blocks in `gate` while it is closed and `hold_flush` says which one. */
struct medium {
	uint8_t *data;
	struct io_gate gate; /* its lock also guards data and the counts */
	unsigned flushes;    /* flushes begun */
	unsigned hold_flush; /* this flush (1-based count) blocks until the gate opens; 0: none */
	unsigned fail_flush; /* this flush fails with -EIO; 0: none */
};

static int m_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	struct medium *m = ctx;

	if (off + len > DISC)
		return -EIO;
	pthread_mutex_lock(&m->gate.mu);
	memcpy(buf, m->data + off, len);
	pthread_mutex_unlock(&m->gate.mu);
	return 0;
}

static int m_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	struct medium *m = ctx;

	if (off + len > DISC)
		return -EIO;
	pthread_mutex_lock(&m->gate.mu);
	memcpy(m->data + off, buf, len);
	pthread_mutex_unlock(&m->gate.mu);
	return 0;
}

/* The engine's hint that nobody needs [off, off + len), taken at its word: zeros at once (harder than
 * the packet cache, which zeros only sectors it does not hold).  A commit sends its hints while
 * operations go on: one that zeroed a block an operation took and wrote meanwhile fails the tests. */
static int m_fill_unused(void *ctx, uint64_t off, size_t len)
{
	struct medium *m = ctx;

	if (off + len > DISC)
		return -EINVAL;
	pthread_mutex_lock(&m->gate.mu);
	memset(m->data + off, 0, len);
	pthread_mutex_unlock(&m->gate.mu);
	return 0;
}

static int m_flush(void *ctx)
{
	struct medium *m = ctx;

	pthread_mutex_lock(&m->gate.mu);
	if (++m->flushes == m->fail_flush) {
		pthread_mutex_unlock(&m->gate.mu);
		return -EIO;
	}
	if (m->flushes == m->hold_flush)
		io_gate_stop_locked(&m->gate);
	pthread_mutex_unlock(&m->gate.mu);
	return 0;
}

static struct udf_fs *mount_it(struct medium *m)
{
	struct udf_io io = {.read = m_read,
			    .write = m_write,
			    .flush = m_flush,
			    .fill_unused = m_fill_unused,
			    .ctx = m,
			    .size = DISC,
			    .packet_blocks = 32};
	struct udf_mount_opts mo = {0};
	struct udf_fs *fs = NULL;
	char err[256];

	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	ck_assert(udf_writable(fs, err, sizeof(err)));
	return fs;
}

static uint64_t make_file(struct udf_fs *fs, uint64_t dir, const char *name, const char *text)
{
	uint64_t ino;
	struct stat st;

	ck_assert_int_eq(udf_create(fs, dir, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, strlen(text), text), (ssize_t)strlen(text));
	return ino;
}

static int count_entry(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	(void)name;
	(void)ino;
	(void)type;
	(void)next;
	(*(unsigned *)ctx)++;
	return 0;
}

/* What another process does while the commit waits for the medium: stat and list cached entries,
 * and make a change of its own. */
struct reader {
	struct udf_fs *fs;
	struct medium *m;
	uint64_t dir;
	unsigned entries;
	int rc;
	bool done;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	struct stat st;
	uint64_t ino;
	int rc = udf_getattr(r->fs, r->dir, &st);

	if (rc == 0)
		rc = udf_lookup(r->fs, r->dir, "f3", &ino, &st);
	if (rc == 0)
		rc = udf_getattr(r->fs, ino, &st);
	if (rc == 0)
		rc = udf_readdir(r->fs, r->dir, 0, count_entry, &r->entries);
	if (rc == 0) {
		struct stat nst;
		rc = udf_create(r->fs, r->dir, "during", S_IFREG | 0644, 0, 0, NULL, &ino, &nst);
		if (rc == 0)
			rc = udf_write(r->fs, ino, 0, 6, "during") == 6 ? 0 : -EIO;
	}
	r->rc = rc;
	io_gate_post(&r->m->gate, &r->done);
	return NULL;
}

static void check_file(struct udf_fs *fs, uint64_t dir, const char *name, const char *text)
{
	uint64_t ino;
	struct stat st;
	char buf[64] = "";

	ck_assert_msg(udf_lookup(fs, dir, name, &ino, &st) == 0, "%s is not there after the remount", name);
	ck_assert_int_eq(udf_read(fs, ino, 0, sizeof(buf) - 1, buf), (ssize_t)strlen(text));
	ck_assert_str_eq(buf, text);
}

/* 2.01 (one partition) and 2.50 (file entries and directories in a metadata partition, mirrored) */
static const unsigned revisions[] = {0x0201, 0x0250};

START_TEST(test_cached_ops_while_commit_blocks)
{
	struct medium m = {.data = calloc(1, DISC)};
	char err[256];

	ck_assert_ptr_nonnull(m.data);
	io_gate_init(&m.gate);
	struct udf_format_opts fo = {.revision = revisions[_i], .media = UDF_MEDIA_CDRW};
	ck_assert_msg(udf_format(&fo, m_write, &m, DISC, err, sizeof(err)) == 0, "%s", err);

	struct udf_fs *fs = mount_it(&m);
	uint64_t root = udf_root_ino(fs), dir;
	struct stat st;
	ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &dir, &st), 0);
	for (int i = 0; i < 10; i++) {
		char name[8];
		snprintf(name, sizeof(name), "f%d", i);
		make_file(fs, dir, name, name);
	}
	ck_assert_int_eq(udf_sync(fs), 0);
	make_file(fs, dir, "before", "before"); /* what the blocked commit records */

	/* The commit's second barrier (after the new places) blocks: it has recorded everything. */
	pthread_mutex_lock(&m.gate.mu);
	m.hold_flush = m.flushes + 2;
	pthread_mutex_unlock(&m.gate.mu);
	struct gate_syncer first = {.fs = fs, .g = &m.gate}, second = {.fs = fs, .g = &m.gate};
	pthread_t t1, t2, tr;
	ck_assert_int_eq(pthread_create(&t1, NULL, gate_sync_thread, &first), 0);
	bool held = io_gate_wait(&m.gate, &m.gate.held);
	struct reader r = {.fs = fs, .m = &m, .dir = dir};
	bool reader_done = false;
	if (held) {
		ck_assert_int_eq(pthread_create(&tr, NULL, reader_thread, &r), 0);
		reader_done = io_gate_wait(&m.gate, &r.done);
	}
	pthread_mutex_lock(&m.gate.mu);
	bool still_held = m.gate.held;
	pthread_mutex_unlock(&m.gate.mu);
	/* A second fsync while the first commit is stuck: it waits for that one, then commits "during". */
	if (reader_done)
		ck_assert_int_eq(pthread_create(&t2, NULL, gate_sync_thread, &second), 0);
	io_gate_open(&m.gate); /* whatever happened, nothing stays blocked */
	bool first_done = io_gate_wait(&m.gate, &first.done);
	if (held) {
		bool rd = io_gate_wait(&m.gate, &r.done);
		if (rd)
			pthread_join(tr, NULL);
	}
	if (first_done)
		pthread_join(t1, NULL);
	bool second_done = reader_done && io_gate_wait(&m.gate, &second.done);
	if (second_done)
		pthread_join(t2, NULL);
	ck_assert_msg(held, "the commit never reached its second barrier");
	ck_assert_msg(reader_done, "getattr/lookup/readdir of cached entries waited for the blocked commit");
	ck_assert_msg(still_held, "the operations completed only after the medium went on");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.entries, 2 + 11); /* ".", "..", f0-f9, before */
	ck_assert_msg(first_done, "the blocked commit did not end after the medium went on");
	ck_assert_int_eq(first.rc, 0);
	ck_assert_msg(second_done, "the second udf_sync did not end");
	ck_assert_int_eq(second.rc, 0);
	ck_assert_msg(!udf_dirty(fs), "the second commit left the change made during the first one dirty");

	/* Both commits are on the medium: a mount that is not closed cleanly (the LVID stays open) sees
	 * them, as one after a crash would, and so does a clean one. */
	udf_unmount(fs);
	fs = mount_it(&m);
	ck_assert_int_eq(udf_lookup(fs, udf_root_ino(fs), "d", &dir, &st), 0);
	check_file(fs, dir, "f3", "f3");
	check_file(fs, dir, "before", "before");
	check_file(fs, dir, "during", "during");
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_it(&m);
	ck_assert_int_eq(udf_lookup(fs, udf_root_ino(fs), "d", &dir, &st), 0);
	check_file(fs, dir, "during", "during");
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	io_gate_destroy(&m.gate);
	free(m.data);
}
END_TEST

/* A commit whose I/O fails leaves its changes dirty (with a change made after it): the next commit
 * records them all. */
START_TEST(test_failed_commit_stays_dirty)
{
	struct medium m = {.data = calloc(1, DISC)};
	char err[256];

	ck_assert_ptr_nonnull(m.data);
	io_gate_init(&m.gate);
	struct udf_format_opts fo = {.revision = revisions[_i], .media = UDF_MEDIA_CDRW};
	ck_assert_msg(udf_format(&fo, m_write, &m, DISC, err, sizeof(err)) == 0, "%s", err);
	struct udf_fs *fs = mount_it(&m);
	uint64_t root = udf_root_ino(fs), dir;
	struct stat st;
	ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &dir, &st), 0);
	make_file(fs, dir, "f1", "f1");
	ck_assert_int_eq(udf_sync(fs), 0);
	make_file(fs, dir, "x", "x-data");
	m.fail_flush = m.flushes + 2; /* after the commit's new places */
	ck_assert_int_eq(udf_sync(fs), -EIO);
	ck_assert(udf_dirty(fs));
	make_file(fs, dir, "y", "y-data");
	ck_assert_int_eq(udf_sync(fs), 0);
	ck_assert(!udf_dirty(fs));
	udf_unmount(fs);
	fs = mount_it(&m);
	ck_assert_int_eq(udf_lookup(fs, udf_root_ino(fs), "d", &dir, &st), 0);
	check_file(fs, dir, "f1", "f1");
	check_file(fs, dir, "x", "x-data");
	check_file(fs, dir, "y", "y-data");
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	io_gate_destroy(&m.gate);
	free(m.data);
}
END_TEST

/* Fills the disc with one file; the bytes written. */
static uint64_t fill_disc(struct udf_fs *fs, uint64_t dir, const char *name)
{
	static uint8_t chunk[1 << 20];
	uint64_t ino, off = 0;
	struct stat st;

	ck_assert_int_eq(udf_create(fs, dir, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	for (;;) {
		ssize_t w = udf_write(fs, ino, off, sizeof(chunk), chunk);
		if (w <= 0)
			break;
		off += (uint64_t)w;
		if ((size_t)w < sizeof(chunk))
			break;
	}
	return off;
}

/* An operation that runs out of space while a commit that frees blocks is blocked in its barrier. */
struct spacer {
	struct udf_fs *fs;
	struct medium *m;
	uint64_t dir;
	bool started, done;
	int rc;
	ssize_t wrote;
};

static void *space_thread(void *arg)
{
	static uint8_t data[2 << 20];
	struct spacer *p = arg;
	uint64_t ino;
	struct stat st;

	io_gate_post(&p->m->gate, &p->started);
	memset(data, 'n', sizeof(data));
	int rc = udf_create(p->fs, p->dir, "new", S_IFREG | 0644, 0, 0, NULL, &ino, &st);
	ssize_t w = rc ? 0 : udf_write(p->fs, ino, 0, sizeof(data), data);
	p->rc = rc;
	p->wrote = w;
	io_gate_post(&p->m->gate, &p->done);
	return NULL;
}

/* Space freed before a commit is there for an operation that needs it while that commit is blocked
 * in the medium (udf_commit_for_space finishes the running commit, or runs after it): no ENOSPC,
 * no deadlock; whichever comes first, the result is the same. */
START_TEST(test_space_during_blocked_commit)
{
	struct medium m = {.data = calloc(1, DISC)};
	char err[256];

	ck_assert_ptr_nonnull(m.data);
	io_gate_init(&m.gate);
	struct udf_format_opts fo = {.revision = revisions[_i], .media = UDF_MEDIA_CDRW};
	ck_assert_msg(udf_format(&fo, m_write, &m, DISC, err, sizeof(err)) == 0, "%s", err);
	struct udf_fs *fs = mount_it(&m);
	uint64_t root = udf_root_ino(fs), dir;
	struct stat st;
	ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &dir, &st), 0);
	ck_assert_uint_gt(fill_disc(fs, dir, "fill"), 4u << 20);
	ck_assert_int_eq(udf_sync(fs), 0);
	ck_assert_int_eq(udf_unlink(fs, dir, "fill"), 0); /* its blocks: allocatable after the commit */

	pthread_mutex_lock(&m.gate.mu);
	m.hold_flush = m.flushes + 2;
	pthread_mutex_unlock(&m.gate.mu);
	struct gate_syncer first = {.fs = fs, .g = &m.gate};
	struct spacer p = {.fs = fs, .m = &m, .dir = dir};
	pthread_t t1, tp;
	ck_assert_int_eq(pthread_create(&t1, NULL, gate_sync_thread, &first), 0);
	bool held = io_gate_wait(&m.gate, &m.gate.held);
	bool started = false;
	if (held) {
		ck_assert_int_eq(pthread_create(&tp, NULL, space_thread, &p), 0);
		started = io_gate_wait(&m.gate, &p.started);
	}
	io_gate_open(&m.gate);
	bool first_done = io_gate_wait(&m.gate, &first.done);
	bool p_done = started && io_gate_wait(&m.gate, &p.done);
	if (first_done)
		pthread_join(t1, NULL);
	if (p_done)
		pthread_join(tp, NULL);
	ck_assert_msg(held, "the commit never reached its second barrier");
	ck_assert_msg(first_done && p_done, "a commit or the operation that needed its space did not end");
	ck_assert_int_eq(first.rc, 0);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_int_eq(p.wrote, 2 << 20);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	fs = mount_it(&m);
	uint64_t ino;
	ck_assert_int_eq(udf_lookup(fs, udf_root_ino(fs), "d", &dir, &st), 0);
	ck_assert_int_eq(udf_lookup(fs, dir, "new", &ino, &st), 0);
	ck_assert_int_eq(st.st_size, 2 << 20);
	ck_assert_int_ne(udf_lookup(fs, dir, "fill", &ino, &st), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	io_gate_destroy(&m.gate);
	free(m.data);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udf_commit_unlocked");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 4 * GATE_WAIT_S + 60);
	tcase_add_loop_test(tc, test_cached_ops_while_commit_blocks, 0, 2);
	tcase_add_loop_test(tc, test_failed_commit_stays_dirty, 0, 2);
	tcase_add_loop_test(tc, test_space_during_blocked_commit, 0, 2);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
