/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Durability that a test can prove: the UDF writer's model workload through the real packet cache and
 * the MMC backend onto the emulated drive, whose volatile write cache holds writes until SYNCHRONIZE
 * CACHE.  The drive loses power at a swept point (counted in WRITE and SYNCHRONIZE CACHE commands,
 * which this single-threaded workload issues in a fixed order); its held packets land whole, not at all
 * or (torn) in part.  Then the disc the cut left is mounted: every file synced before the cut is intact,
 * the disc is writable, and emptied it has all its space (the checks of udf_model.h).
 *
 * Environment: SEED=N CUT=N [MEDIA=cdrw|dvd+rw|bd-re] [TORN=0|1] replays one run (bd-re: UDF 2.50 with a
 * metadata partition, whose mirror the mount after the session that follows the cut compares; the
 * others 2.01); SEEDS=N and CUTS=N widen
 * the sweep (seeds per medium, cut points per seed); VERBOSE=1 names each run.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu.h"
#include "mmc_dev.h"
#include "pkt_cache.h"
#include "source.h"
#include "udf_format.h"
#include "udf_model.h"

#define DISC_MIB 24

static char dir[64];
static const char *run_what = ""; /* the run under way, for messages: its seed, cut and how to replay it */

struct medium {
	const char *profile;
	enum udf_media media;
	unsigned revision; /* 2.50: a metadata partition, its mirror written after each barrier */
};

static const struct medium media[] = {
	{"cdrw", UDF_MEDIA_CDRW, 0x0201}, {"dvd+rw", UDF_MEDIA_DVDPLUSRW, 0x0201}, {"bd-re", UDF_MEDIA_BDRE, 0x0250}};

/* The stack a mount of the files view builds: emulated drive → MMC backend → packet cache → engine. */
struct stack {
	struct pkt_blockdev *dev;
	struct pkt_cache *cache;
	struct udf_fs *fs;
	char src[256];
};

static int io_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	return pkt_cache_read(ctx, buf, len, off);
}

static int io_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	return pkt_cache_write(ctx, buf, len, off);
}

static int io_flush(void *ctx)
{
	return pkt_cache_flush(ctx);
}

/* As the daemon's udf_io has it (udf_cache_io_init): the engine's hints of blocks nobody needs, so
 * that every cut also meets packets completed with zeros instead of gathered. */
static int io_fill_unused(void *ctx, uint64_t off, size_t len)
{
	return pkt_cache_fill_unused(ctx, off, len);
}

static void stack_open(struct stack *s)
{
	char err[512];
	struct mmc_source_options mo = {.quiet = true};

	ck_assert_msg(mmc_source_open(s->src, &mo, &s->dev, err, sizeof(err)) == 1, "%s", err);
	/* The whole disc fits, nothing is written back before a flush asks: the order of the medium
	 * writes depends on the workload alone, so a cut point means the same in every run. */
	struct pkt_cache_config cc = {.cache_bytes = (uint64_t)DISC_MIB << 20,
				      .dirty_high_pct = 100,
				      .dirty_low_pct = 99,
				      .dirty_age_ms = 3600u * 1000u};
	ck_assert_msg(pkt_cache_create(s->dev, &cc, &s->cache, err, sizeof(err)) == 0, "%s", err);
}

static void stack_close(struct stack *s)
{
	if (s->fs)
		udf_unmount(s->fs);
	s->fs = NULL;
	pkt_cache_destroy(s->cache); /* after a cut the flush fails: nothing more reaches the medium */
	pkt_blockdev_close(s->dev);
}

static struct udf_fs *stack_mount(struct stack *s)
{
	char err[256], why[256];

	stack_open(s);
	struct udf_io io = {.read = io_read,
			    .write = io_write,
			    .flush = io_flush,
			    .fill_unused = io_fill_unused,
			    .ctx = s->cache,
			    .size = pkt_cache_capacity_bytes(s->cache),
			    .packet_blocks = s->dev->geo.packet_sectors};
	struct udf_mount_opts mo = {.uid = 0, .gid = 0};
	ck_assert_msg(udf_mount(&io, &mo, &s->fs, err, sizeof(err)) == 0, "%s: mount: %s", run_what, err);
	ck_assert_msg(udf_writable(s->fs, why, sizeof(why)), "%s: not writable: %s", run_what, why);
	return s->fs;
}

static struct mmc_transport *drive(struct stack *s)
{
	return mmc_dev_transport(s->dev);
}

static bool drive_gone(void *ctx)
{
	struct emu_counters c;

	return emu_get_counters(ctx, &c) && c.powered_off;
}

/* A blank disc, medium-formatted by the drive, then UDF through the cache as `pktfuse format` does.
 * Returns the fresh file system's free blocks. */
static uint64_t make_disc(const struct medium *m, const char *src)
{
	char err[512];
	struct mmc_format_options fo = {.force = true};
	struct stack s = {0};

	ck_assert_msg(mmc_cmd_format(src, &fo, err, sizeof(err)) == 0, "%s", err);
	snprintf(s.src, sizeof(s.src), "%s", src);
	stack_open(&s);
	struct udf_format_opts uo = {.revision = m->revision, .media = m->media, .uid = 0, .gid = 0};
	if (m->media == UDF_MEDIA_CDRW)
		uo.packet_len = s.dev->geo.packet_sectors;
	ck_assert_msg(udf_format(&uo, io_write, s.cache, s.dev->geo.sector_count * PKT_SECTOR_SIZE, err, sizeof(err)) ==
			      0,
		      "%s", err);
	ck_assert_int_eq(pkt_cache_flush(s.cache), 0);
	stack_close(&s);
	struct udf_fs *fs = stack_mount(&s);
	struct udf_statfs sf;
	udf_statfs(fs, &sf);
	stack_close(&s);
	return sf.free_blocks;
}

struct run {
	const struct medium *m;
	uint64_t seed, cut; /* cut 0: no cut during the workload (counting run) */
	bool torn;
	uint64_t fresh_free;
	char what[160];
};

static struct udf_fs *cut_mount(void *ctx)
{
	return stack_mount(ctx);
}

static void cut_unmount(void *ctx, struct udf_fs *fs)
{
	struct stack *s = ctx;

	ck_assert_ptr_eq(fs, s->fs);
	stack_close(s);
}

static uint64_t medium_commands(struct mmc_transport *t)
{
	struct emu_counters c;

	ck_assert(emu_get_counters(t, &c));
	ck_assert_uint_eq(c.refused_writes, 0); /* and every write within the medium's rules */
	return c.write_cmds + c.syncs;
}

/* One run: the workload with the drive losing power after r->cut medium commands (or at its end),
 * then the checks on the disc the cut left.  Returns how many medium commands the workload issued. */
static uint64_t run_one(struct run *r)
{
	char img[128];
	struct stack s = {0};
	struct model md, synced;
	bool touched[MAXF] = {false};
	uint64_t rng = r->seed * 104729 + 3;

	snprintf(img, sizeof(img), "%s/%s.img", dir, r->m->profile);
	/* drive caches from ample to one that often has to write held packets of its own choosing */
	static const char *const wcache[] = {"4M", "1M", "256K"};
	snprintf(s.src, sizeof(s.src), "emu:%s:%s,wcache=%s,seed=%" PRIu64, r->m->profile, img, wcache[r->seed % 3],
		 r->seed);
	r->fresh_free = make_disc(r->m, s.src);
	struct udf_fs *fs = stack_mount(&s);
	model_setup(fs, &md);
	md.gone = drive_gone;
	md.gone_ctx = drive(&s);
	md.what = r->what;
	memset(&synced, 0, sizeof(synced));
	ck_assert_int_eq(udf_sync(fs), 0);
	model_snapshot(&synced, &md, touched);
	uint64_t start = medium_commands(drive(&s));
	struct emu_power_cut pc = {.after = r->cut, .writes_only = true, .torn = r->torn, .seed = r->seed};
	if (r->cut)
		ck_assert_int_eq(emu_set_power_cut(drive(&s), &pc), 0);
	for (int k = 0; k < 90 && !drive_gone(drive(&s)); k++) {
		if (random_op(fs, &md, &rng, touched) == MODEL_ABORTED)
			break;
		if (rnd(&rng) % 6 == 0 || k == 89) {
			int rc = udf_sync(fs);
			/* acknowledged: every command it needed completed before the cut, so it is durable */
			if (rc == 0)
				model_snapshot(&synced, &md, touched);
			else
				ck_assert_msg(drive_gone(drive(&s)), "%s: sync failed with the drive on: %d", r->what,
					      rc);
		}
	}
	uint64_t issued = drive_gone(drive(&s)) ? r->cut : medium_commands(drive(&s)) - start;
	struct emu_counters ec;
	ck_assert(emu_get_counters(drive(&s), &ec));
	if (getenv("VERBOSE"))
		fprintf(stderr,
			"  %" PRIu64 " medium commands, %" PRIu64 " packets written by the full drive cache, "
			"cut: %" PRIu64 " held packets written, %" PRIu64 " lost, %" PRIu64 " torn\n",
			issued, ec.destaged_packets, ec.cut_written, ec.cut_lost, ec.cut_torn);
	if (!drive_gone(drive(&s))) { /* the cut comes after the workload: what was not synced is lost */
		pc.after = 0;
		ck_assert_int_eq(emu_set_power_cut(drive(&s), &pc), 0);
	}
	stack_close(&s);
	struct stack after = {0};
	memcpy(after.src, s.src, sizeof(after.src)); /* no power_cut: the disc as the cut left it */
	struct cut_disc d = {.mount = cut_mount,
			     .unmount = cut_unmount,
			     .ctx = &after,
			     .fresh_free_blocks = r->fresh_free,
			     .what = r->what};
	model_check_after_cut(&d, &md, &synced, touched, &rng);
	model_free(&synced);
	model_free(&md);
	return issued;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void describe(struct run *r)
{
	snprintf(r->what, sizeof(r->what),
		 "%s seed %" PRIu64 " cut %" PRIu64 "%s (replay: MEDIA=%s SEED=%" PRIu64 " CUT=%" PRIu64 " TORN=%d)",
		 r->m->profile, r->seed, r->cut, r->torn ? " torn" : "", r->m->profile, r->seed, r->cut, r->torn);
	run_what = r->what;
	if (getenv("VERBOSE"))
		fprintf(stderr, "power cut: %s\n", r->what);
}

/* Per seed: a run without a cut counts the workload's medium commands W, then one cut in each of
 * CUTS equal slices of [1, W]. */
static void sweep(const struct medium *m, uint64_t seed)
{
	uint64_t cuts = env_u64("CUTS", 12), rng = seed * 7919 + 1;
	struct run r = {.m = m, .seed = seed, .torn = env_u64("TORN", seed % 2)};

	describe(&r);
	uint64_t w = run_one(&r);
	ck_assert_uint_gt(w, cuts);
	for (uint64_t i = 0; i < cuts; i++) {
		r.cut = 1 + (w * i + rnd(&rng) % w) / cuts;
		describe(&r);
		run_one(&r);
	}
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pktfuse-cut-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(power_cut_sweep)
{
	const struct medium *m = &media[_i];
	const char *want = getenv("MEDIA");

	if (want && *want && strcmp(want, m->profile))
		return;
	if (getenv("SEED") && getenv("CUT")) { /* one run, replayed */
		struct run r = {.m = m,
				.seed = env_u64("SEED", 1),
				.cut = env_u64("CUT", 0),
				.torn = env_u64("TORN", env_u64("SEED", 1) % 2)};
		describe(&r);
		run_one(&r);
		return;
	}
	uint64_t first = env_u64("SEED", 1), seeds = env_u64("SEEDS", 3);
	for (uint64_t seed = first; seed < first + seeds; seed++)
		sweep(m, seed);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("power_cut");
	TCase *tc = tcase_create("power_cut");

	/* in the parent, once: a failed run's images are removed too */
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, power_cut_sweep, 0, sizeof(media) / sizeof(media[0]));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
