/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A commit's hints (io.fill_unused: these blocks are free, the cache may zero them instead of
 * reading them back) are sent without the engine lock, while operations go on; the blocks they name
 * are held (marked used) from the end of the commit's encoding until it finishes
 * (udf_commit_io.c, struct hint_build).  Here an operation runs exactly where the hold matters: the
 * commit has built its hints and waits, before sending the first one, in a gate of the medium; the
 * operation writes a new file's first block where the allocator hands out free blocks next, the
 * packet cache writes it to the medium and drops it, the file's second block brings that packet back
 * into the cache without the first block, and only then does the commit go on and send its hints.  A
 * hint naming the first block would make the cache's copy of it zeros, and the commit's next write
 * into that packet would take the zeros to the medium.  The packets new entries go to walk through
 * the partition, one or two per commit, and reach the one file data goes to next: the operation runs
 * in each commit whose first hint names that place (at least one per seed; seeds vary how many
 * entries each commit writes).  Each file must read back as written, through the cache and after a
 * remount; once the commit ended, the blocks it hinted must be free again, and the count of free
 * blocks must be the bitmap's throughout.  And an operation short of space while blocks are held
 * finishes the commit and gets them (test_held_blocks_after_take_over).
 *
 * The packet cache is the daemon's, over a medium in memory.  No timing: the test waits for
 * conditions only, bounded so that a stuck engine fails the test instead of hanging it.
 */
#define _GNU_SOURCE
#include "gate_io.h"
#include "mem_dev.h"
#include "test_rng.h"
#include "udf_cache_io.h"
#include "udf_format.h"
#include "udf_w.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define SECTORS 8192u /* 16 MiB */
#define ROUNDS 12     /* commits, each stopped in the gate */
#define SEEDS 3
#define BS 2048u
#define MAX_HINTS 256
#define EMPTIES 6 /* test_held_blocks_after_take_over: the blocks left free on a full disc */

/* The engine's udf_io over the cache; the first hint sent once armed waits until the gate opens. */
struct gate_io {
	struct pkt_cache *c;
	struct io_gate gate; /* its lock also guards the fields below */
	bool armed;	     /* the next hint stops in the gate */
	/* the hints the commit sent since the gate was armed (not those of the test's own thread, which
	 * runs the operation): medium sectors */
	uint64_t hint_lba[MAX_HINTS], hint_n[MAX_HINTS];
	size_t nhints;
	pthread_t tester;
	bool open_on_read; /* the next read opens the gate (its caller holds the engine's lock) */
};

static int g_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	struct gate_io *g = ctx;

	pthread_mutex_lock(&g->gate.mu);
	if (g->open_on_read) {
		g->open_on_read = false;
		g->armed = false;
		io_gate_open_locked(&g->gate);
	}
	pthread_mutex_unlock(&g->gate.mu);
	return udf_cache_read(g->c, off, len, buf);
}

static int g_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	return udf_cache_write(((struct gate_io *)ctx)->c, off, len, buf);
}

static int g_flush(void *ctx)
{
	return udf_cache_flush(((struct gate_io *)ctx)->c);
}

static int g_fill_unused(void *ctx, uint64_t off, size_t len)
{
	struct gate_io *g = ctx;

	pthread_mutex_lock(&g->gate.mu);
	if (!pthread_equal(pthread_self(), g->tester) && g->nhints < MAX_HINTS) {
		g->hint_lba[g->nhints] = off / BS;
		g->hint_n[g->nhints++] = len / BS;
	}
	if (g->armed) {
		g->armed = false;
		io_gate_stop_locked(&g->gate);
	}
	pthread_mutex_unlock(&g->gate.mu);
	return udf_cache_fill_unused(g->c, off, len);
}

/* The next hint stops in the gate; the log starts empty. */
static void arm_gate(struct gate_io *g)
{
	pthread_mutex_lock(&g->gate.mu);
	g->armed = true;
	g->gate.open = false;
	g->nhints = 0;
	pthread_mutex_unlock(&g->gate.mu);
}

static void open_gate(struct gate_io *g)
{
	pthread_mutex_lock(&g->gate.mu);
	g->armed = false;
	io_gate_open_locked(&g->gate);
	pthread_mutex_unlock(&g->gate.mu);
}

static struct udf_fs *mount_gated(struct gate_io *g)
{
	struct udf_io io;
	struct udf_mount_opts mo = {0};
	struct udf_fs *fs;
	char err[256];

	udf_cache_io_init(&io, g->c, true);
	io.ctx = g;
	io.read = g_read;
	io.write = g_write;
	io.flush = g_flush;
	io.fill_unused = g_fill_unused;
	io.rescue = NULL; /* no defect management, no early moves: the commit's barriers stay unlocked */
	io.move_worn = NULL;
	io.worn_dirty = NULL;
	ck_assert_msg(udf_mount(&io, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	ck_assert(udf_writable(fs, err, sizeof(err)));
	return fs;
}

/* The count of free blocks the writer keeps is the bitmap's (held blocks are marked used and not
 * counted free); read while no other thread runs in the engine. */
static void check_free_count(struct udf_fs *fs, const char *when, uint64_t seed, int round)
{
	const struct udf_w *w = fs->w;
	uint64_t n = 0;

	for (uint64_t b = 0; b < w->nbits; b++)
		n += udf_bm_is_free(w, b);
	ck_assert_msg(n == w->free_blocks, "seed %llu round %d %s: %llu free blocks counted, the bitmap has %llu",
		      (unsigned long long)seed, round, when, (unsigned long long)w->free_blocks, (unsigned long long)n);
}

static void file_bytes(uint8_t *p, size_t n, uint64_t seed, int round)
{
	uint64_t s = seed * 1000003 + (uint64_t)round;

	for (size_t k = 0; k < n; k++)
		p[k] = (uint8_t)(rng_next(&s) >> 56);
}

static void check_file(struct udf_fs *fs, uint64_t seed, int round, const char *when)
{
	uint8_t want[2 * BS], got[2 * BS + 1];
	char name[16];
	uint64_t ino;
	struct stat st;

	snprintf(name, sizeof(name), "x%d", round);
	ck_assert_msg(udf_lookup(fs, udf_root_ino(fs), name, &ino, &st) == 0, "seed %llu: %s is not there %s",
		      (unsigned long long)seed, name, when);
	file_bytes(want, sizeof(want), seed, round);
	ck_assert_int_eq(udf_read(fs, ino, 0, sizeof(got), got), (ssize_t)sizeof(want));
	for (size_t b = 0; b < 2; b++)
		ck_assert_msg(memcmp(got + b * BS, want + b * BS, BS) == 0,
			      "seed %llu: block %zu of %s differs %s (zeros: %s)", (unsigned long long)seed, b, name,
			      when,
			      got[b * BS] == 0 && memcmp(got + b * BS, got + b * BS + 1, BS - 1) == 0 ? "yes" : "no");
}

/* What runs in the gate: a new file whose first block goes to the medium and leaves the cache
 * before its second block brings that packet back. */
static void operation(struct udf_fs *fs, struct pkt_cache *c, uint64_t seed, int round)
{
	uint8_t data[2 * BS];
	char name[16];
	uint64_t ino;
	struct stat st;

	snprintf(name, sizeof(name), "x%d", round);
	file_bytes(data, sizeof(data), seed, round);
	ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	ck_assert_int_eq(udf_write(fs, ino, 0, BS, data), (ssize_t)BS);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	pkt_cache_drop_clean(c);
	ck_assert_int_eq(udf_write(fs, ino, BS, BS, data + BS), (ssize_t)BS);
}

/* Whether the next block of file data (the allocator's cursor, then the first block after it not in
 * use) would be one of partition blocks [lbn, lbn + n) if those were not held: the commit's hint
 * names where the operation's file goes. */
static bool data_goes_there(struct udf_fs *fs, uint64_t lbn, uint64_t n)
{
	const struct udf_w *w = fs->w;
	uint64_t b = w->data_goal;

	while (b < lbn && !udf_bm_is_free(w, b))
		b++;
	return b >= lbn && b < lbn + n;
}

/* Once the commit ended, every block its thread hinted is free again (the hold is released), or
 * was taken since and not written yet (the next commit's new entries: a hint may name those).
 * Neither is a block the operation wrote. */
static void check_released(struct udf_fs *fs, struct gate_io *g, uint64_t seed, int round)
{
	uint64_t start = fs->parts[0].start;

	for (size_t i = 0; i < g->nhints; i++)
		for (uint64_t b = g->hint_lba[i] - start; b < g->hint_lba[i] - start + g->hint_n[i]; b++)
			ck_assert_msg(udf_bm_is_free(fs->w, b) || udf_unwritten_block(fs->w, b),
				      "seed %llu round %d: hinted block %llu is in use", (unsigned long long)seed,
				      round, (unsigned long long)b);
}

static void run_seed(enum udf_media media, uint32_t packet, uint64_t seed)
{
	struct mem_dev m;
	struct gate_io g = {0};
	char err[256], name[16];
	uint64_t rs = seed, ino;
	struct stat st;
	int written[ROUNDS], nwritten = 0; /* the rounds that wrote a file */

	fprintf(stderr, "test_hinted_blocks_held: media %d seed %llu\n", (int)media, (unsigned long long)seed);
	io_gate_init(&g.gate);
	g.tester = pthread_self();
	mem_dev_init(&m, SECTORS, packet);
	g.c = mem_dev_cache(&m);
	struct udf_format_opts fo = {.revision = 0x0201, .media = media};
	if (media == UDF_MEDIA_CDRW)
		fo.packet_len = packet;
	ck_assert_msg(udf_format(&fo, udf_cache_write, g.c, pkt_cache_capacity_bytes(g.c), err, sizeof(err)) == 0, "%s",
		      err);
	struct udf_fs *fs = mount_gated(&g);
	ck_assert_int_eq(udf_sync(fs), 0); /* what the mount itself writes */

	for (int round = 0; round < ROUNDS; round++) {
		/* a change for the commit: 1-3 new entries (their data embedded) */
		for (int k = 0, nk = 1 + (int)rng_below(&rs, 3); k < nk; k++) {
			snprintf(name, sizeof(name), "n%d.%d", round, k);
			ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), name, S_IFREG | 0644, 0, 0, NULL, &ino, &st),
					 0);
		}
		arm_gate(&g);
		struct gate_syncer s = {.fs = fs, .g = &g.gate};
		pthread_t t;
		ck_assert_int_eq(pthread_create(&t, NULL, gate_sync_thread, &s), 0);
		bool held = io_gate_wait(&g.gate, &g.gate.held), op = false;
		if (held) {
			check_free_count(fs, "in the gate", seed, round);
			/* the hint in the gate is the first one logged */
			op = data_goes_there(fs, g.hint_lba[0] - fs->parts[0].start, g.hint_n[0]);
			if (op) {
				operation(fs, g.c, seed, round);
				check_free_count(fs, "after the operation", seed, round);
				fprintf(stderr,
					"  round %d: a file written where the hint in the gate names blocks "
					"%llu-%llu\n",
					round, (unsigned long long)(g.hint_lba[0] - fs->parts[0].start),
					(unsigned long long)(g.hint_lba[0] - fs->parts[0].start + g.hint_n[0] - 1));
			}
		}
		open_gate(&g); /* whatever happened, nothing stays blocked */
		bool done = io_gate_wait(&g.gate, &s.done);
		if (done)
			pthread_join(t, NULL);
		ck_assert_msg(held, "seed %llu round %d: the commit sent no hint", (unsigned long long)seed, round);
		ck_assert_msg(done, "seed %llu round %d: the commit did not end", (unsigned long long)seed, round);
		ck_assert_int_eq(s.rc, 0);
		if (op) {
			check_file(fs, seed, round, "through the cache");
			written[nwritten++] = round;
		}
		check_released(fs, &g, seed, round);
		check_free_count(fs, "after the commit", seed, round);
	}

	ck_assert_msg(nwritten > 0, "seed %llu: no commit's hints named where file data goes next",
		      (unsigned long long)seed);

	/* the medium alone, after a clean close: the free space the mount counted is what the medium
	 * records (no held block left used) */
	struct udf_statfs before, after;
	ck_assert_int_eq(udf_close(fs), 0);
	udf_statfs(fs, &before);
	udf_unmount(fs);
	ck_assert_int_eq(pkt_cache_destroy(g.c), 0);
	g.c = mem_dev_cache(&m);
	fs = mount_gated(&g);
	udf_statfs(fs, &after);
	ck_assert_msg(after.free_blocks == before.free_blocks,
		      "seed %llu: %llu blocks free before the remount, %llu after", (unsigned long long)seed,
		      (unsigned long long)before.free_blocks, (unsigned long long)after.free_blocks);
	check_free_count(fs, "after the remount", seed, ROUNDS);
	for (int i = 0; i < nwritten; i++)
		check_file(fs, seed, written[i], "after the remount");
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	ck_assert_int_eq(pkt_cache_destroy(g.c), 0);
	mem_dev_free(&m);
	io_gate_destroy(&g.gate);
}

/* CD-RW (32-sector packets, sparable) and DVD-RAM (16-sector blocks of ECC, no sparing) */
START_TEST(test_hinted_blocks_held)
{
	static const enum udf_media media[] = {UDF_MEDIA_CDRW, UDF_MEDIA_DVDRAM};
	static const uint32_t packet[] = {32, 16};

	for (uint64_t seed = 1; seed <= SEEDS; seed++)
		run_seed(media[_i], packet[_i], seed);
}
END_TEST

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
	}
	return off;
}

/* An operation on another thread: a new file in directory dir, which the mount has not read yet. */
struct creator {
	struct udf_fs *fs;
	struct gate_io *g;
	uint64_t dir;
	int rc;
	bool done;
};

static void *create_thread(void *arg)
{
	struct creator *p = arg;
	uint64_t ino;
	struct stat st;
	int rc = udf_create(p->fs, p->dir, "b", S_IFREG | 0644, 0, 0, NULL, &ino, &st);

	p->rc = rc;
	io_gate_post(&p->g->gate, &p->done);
	return NULL;
}

/*
 * Held blocks count as used while the commit runs, so an operation that needs them finishes the
 * commit (udf_commit_for_space: udf_commit_take_over) and takes them then.  A disc full but for a few
 * blocks of one packet: a commit writes a new entry there and holds the rest; in its gate an
 * operation creates a file in a directory not read yet, so that the reads of that directory, under
 * the engine's lock, open the gate: the commit's unlocked run then ends while the operation holds
 * the lock, and the operation, short of space, finishes the commit itself.  The commit frees
 * nothing, so only the held blocks, free again, give the operation its room.
 */
START_TEST(test_held_blocks_after_take_over)
{
	static const enum udf_media media[] = {UDF_MEDIA_CDRW, UDF_MEDIA_DVDRAM};
	static const uint32_t packet[] = {32, 16};
	struct mem_dev m;
	struct gate_io g = {0};
	char err[256], name[8];
	uint64_t dir, ino;
	struct stat st;

	io_gate_init(&g.gate);
	g.tester = pthread_self();
	mem_dev_init(&m, SECTORS, packet[_i]);
	g.c = mem_dev_cache(&m);
	struct udf_format_opts fo = {.revision = 0x0201, .media = media[_i]};
	if (media[_i] == UDF_MEDIA_CDRW)
		fo.packet_len = packet[_i];
	ck_assert_msg(udf_format(&fo, udf_cache_write, g.c, pkt_cache_capacity_bytes(g.c), err, sizeof(err)) == 0, "%s",
		      err);
	struct udf_fs *fs = mount_gated(&g);
	uint64_t root = udf_root_ino(fs);
	ck_assert_int_eq(udf_create(fs, root, "d", S_IFDIR | 0755, 0, 0, NULL, &dir, &st), 0);
	/* empty files: their entries, side by side, are what is free once the disc is full */
	for (int i = 0; i < EMPTIES; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		ck_assert_int_eq(udf_create(fs, root, name, S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	}
	ck_assert_int_eq(udf_sync(fs), 0);
	fill_disc(fs, root, "fill");
	ck_assert_int_eq(udf_sync(fs), 0);
	for (int i = 0; i < EMPTIES; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		ck_assert_int_eq(udf_unlink(fs, root, name), 0);
	}
	ck_assert_int_eq(udf_sync(fs), 0); /* their blocks are free now: no frees wait */
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	ck_assert_int_eq(pkt_cache_destroy(g.c), 0);
	g.c = mem_dev_cache(&m);
	fs = mount_gated(&g); /* /d is not read until the operation needs it */

	ck_assert_int_eq(udf_create(fs, root, "a", S_IFREG | 0644, 0, 0, NULL, &ino, &st), 0);
	arm_gate(&g);
	struct gate_syncer s = {.fs = fs, .g = &g.gate};
	struct creator p = {.fs = fs, .g = &g, .dir = dir};
	pthread_t ts, tp;
	ck_assert_int_eq(pthread_create(&ts, NULL, gate_sync_thread, &s), 0);
	bool held = io_gate_wait(&g.gate, &g.gate.held), started = false, p_done = false;
	uint64_t free_in_gate = UINT64_MAX, npend_in_gate = UINT64_MAX;
	if (held) {
		check_free_count(fs, "in the gate", 0, 0);
		free_in_gate = fs->w->free_blocks;
		npend_in_gate = fs->w->npend;
		pthread_mutex_lock(&g.gate.mu);
		g.open_on_read = true;
		pthread_mutex_unlock(&g.gate.mu);
		started = pthread_create(&tp, NULL, create_thread, &p) == 0;
		p_done = started && io_gate_wait(&g.gate, &p.done);
	}
	open_gate(&g); /* whatever happened, nothing stays blocked */
	bool s_done = io_gate_wait(&g.gate, &s.done);
	if (started && !p_done)
		p_done = io_gate_wait(&g.gate, &p.done);
	if (s_done)
		pthread_join(ts, NULL);
	if (p_done)
		pthread_join(tp, NULL);
	ck_assert_msg(held, "the commit sent no hint");
	ck_assert_msg(free_in_gate == 0 && npend_in_gate == 0,
		      "the disc is not full but for the held blocks: %llu free, %llu frees pending in the gate",
		      (unsigned long long)free_in_gate, (unsigned long long)npend_in_gate);
	ck_assert_msg(started && p_done, "the operation did not end");
	ck_assert_msg(!g.open_on_read, "the operation did not read /d: the gate stayed closed while it ran");
	ck_assert_msg(s_done, "the commit did not end");
	ck_assert_int_eq(s.rc, 0);
	ck_assert_msg(p.rc == 0, "a new file in /d: %s, though the commit it finished left blocks free",
		      strerror(-p.rc));
	check_free_count(fs, "after the commit", 0, 0);
	ck_assert_int_eq(udf_sync(fs), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	ck_assert_int_eq(pkt_cache_destroy(g.c), 0);
	g.c = mem_dev_cache(&m);
	fs = mount_gated(&g);
	ck_assert_int_eq(udf_lookup(fs, dir, "b", &ino, &st), 0);
	ck_assert_int_eq(udf_lookup(fs, root, "a", &ino, &st), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	udf_unmount(fs);
	ck_assert_int_eq(pkt_cache_destroy(g.c), 0);
	mem_dev_free(&m);
	io_gate_destroy(&g.gate);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udf_hint_hold");
	TCase *t = tcase_create("hold");

	tcase_set_timeout(t, 2 * SEEDS * ROUNDS * GATE_WAIT_S + 60);
	tcase_add_loop_test(t, test_hinted_blocks_held, 0, 2);
	tcase_add_loop_test(t, test_held_blocks_after_take_over, 0, 2);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
