/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF VAT writer's commits through the real packet cache (append-only geometry) and the MMC backend
 * onto an emulated write-once drive (dvd+r, cd-r with its 7 link blocks), whose volatile write cache
 * holds writes until SYNCHRONIZE CACHE.  The drive loses power at the k-th WRITE or SYNCHRONIZE CACHE
 * of the workload (random file operations and commits), for every k of a seed's workload up to a bound;
 * its held packets land whole, not at all or (torn) in part.  Then the disc the cut left is mounted:
 * the newest complete VAT is found and the tree is exactly a committed state, the last acknowledged one
 * or the one in flight (whichever VAT landed); the drive refused no write (nothing written twice, every
 * write at the NWA); and the disc takes further commits that a remount finds.
 *
 * Environment: SEED=N CUT=N [MEDIA=dvd+r|cd-r] [TORN=0|1] replays one run; SEEDS=N and CUTS=N widen
 * the sweep (seeds per medium, default 2; cut points per seed, default 60: every k from 1 when the
 * workload issues no more);
 * VERBOSE=1 names each run.
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
#include "udf_cache_io.h"
#include "udf_format.h"
#include "udf_model.h"

#define DISC_MIB 24

static char dir[64];
static const char *run_what = "";
static unsigned found_in_flight, found_torn; /* runs whose disc showed the in-flight commit / a torn one */

struct medium {
	const char *profile;
	enum udf_media media;
};

static const struct medium media[] = {{"dvd+r", UDF_MEDIA_DVDPLUSR}, {"cd-r", UDF_MEDIA_CDR}};

/* The stack a mount of the files view builds: emulated drive → MMC backend → packet cache → engine. */
struct stack {
	struct pkt_blockdev *dev;
	struct pkt_cache *cache;
	struct udf_fs *fs;
	char src[256];
};

static void stack_open(struct stack *s)
{
	char err[512];
	struct mmc_source_options mo = {.quiet = true};

	ck_assert_msg(mmc_source_open(s->src, &mo, &s->dev, err, sizeof(err)) == 1, "%s", err);
	ck_assert(s->dev->geo.append_only);
	/* The whole workload fits, nothing is written back before a flush asks: the order of the medium
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
	struct udf_io io;
	udf_cache_io_init(&io, s->cache, true);
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

/* Medium commands so far; and every write within the medium's rules (at the NWA, never twice). */
static uint64_t medium_commands(struct mmc_transport *t)
{
	struct emu_counters c;

	ck_assert(emu_get_counters(t, &c));
	ck_assert_msg(c.refused_writes == 0, "%s: the drive refused %" PRIu64 " writes", run_what, c.refused_writes);
	return c.write_cmds + c.syncs;
}

static int count_commit(void *ctx, uint32_t index, uint64_t sector, struct timespec when, uint32_t files, uint32_t dirs)
{
	(void)ctx, (void)index, (void)sector, (void)when, (void)files, (void)dirs;
	return 0;
}

static int commits_on_disc(struct udf_fs *fs)
{
	int n = udf_commit_list(fs, count_commit, NULL);

	ck_assert_msg(n > 0, "%s: no commits listed: %d", run_what, n);
	return n;
}

/* A blank write-once disc, then an empty UDF with a VAT through the cache as `pktfuse format` does. */
static void make_disc(const struct medium *m, const char *src)
{
	char err[512], spec[300];
	struct mmc_format_options fo = {.force = true};
	struct stack s = {0};

	snprintf(spec, sizeof(spec), "%s,size=%dM", src, DISC_MIB);
	ck_assert_msg(mmc_cmd_format(spec, &fo, err, sizeof(err)) == 0, "%s", err);
	snprintf(s.src, sizeof(s.src), "%s", src);
	stack_open(&s);
	struct udf_format_opts uo = {
		.revision = 0x0201, .media = m->media, .uid = 0, .gid = 0, .link_blocks = s.dev->geo.link_sectors};
	ck_assert_msg(udf_format(&uo, udf_cache_write, s.cache, s.dev->geo.sector_count * PKT_SECTOR_SIZE, err,
				 sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(pkt_cache_flush(s.cache), 0);
	medium_commands(drive(&s));
	stack_close(&s);
}

/* The model as a commit records it: the files and the directories (which random_op may rename). */
static void snapshot_all(struct model *to, const struct model *from)
{
	bool scratch[MAXF];

	model_snapshot(to, from, scratch);
	memcpy(to->dir_ino, from->dir_ino, sizeof(to->dir_ino));
	memcpy(to->dir_name, from->dir_name, sizeof(to->dir_name));
	to->ndirs = from->ndirs;
	to->serial = from->serial;
	to->what = from->what;
}

struct run {
	const struct medium *m;
	uint64_t seed, cut; /* cut 0: no cut during the workload (counting run) */
	bool torn;
	char what[160];
};

/* One run: the workload with the drive losing power after r->cut medium commands (or at its end), then
 * the checks on the disc the cut left.  Returns how many medium commands the workload issued. */
static uint64_t run_one(struct run *r)
{
	char img[128];
	struct stack s = {0};
	struct model md, synced = {0}, inflight = {0};
	uint64_t rng = r->seed * 104729 + 3;

	snprintf(img, sizeof(img), "%s/%s.img", dir, r->m->profile);
	unlink(img);
	char state[160];
	snprintf(state, sizeof(state), "%s.state", img);
	unlink(state);
	/* drive caches from ample to one that often has to write held packets of its own choosing */
	static const char *const wcache[] = {"4M", "1M", "256K"};
	snprintf(s.src, sizeof(s.src), "emu:%s:%s,wcache=%s,seed=%" PRIu64, r->m->profile, img, wcache[r->seed % 3],
		 r->seed);
	make_disc(r->m, s.src);
	struct udf_fs *fs = stack_mount(&s);
	model_setup(fs, &md);
	md.gone = drive_gone;
	md.gone_ctx = drive(&s);
	md.what = r->what;
	ck_assert_int_eq(udf_sync(fs), 0);
	snapshot_all(&synced, &md);
	int synced_commits = commits_on_disc(fs);
	uint64_t start = medium_commands(drive(&s));
	struct emu_power_cut pc = {.after = r->cut, .writes_only = true, .torn = r->torn, .seed = r->seed};
	if (r->cut)
		ck_assert_int_eq(emu_set_power_cut(drive(&s), &pc), 0);
	bool in_flight = false; /* the cut came during a commit: inflight is its state */
	for (int k = 0; k < 60 && !drive_gone(drive(&s)); k++) {
		if (random_op(fs, &md, &rng, NULL) == MODEL_ABORTED)
			break;
		if (rnd(&rng) % 5 == 0 || k == 59) {
			snapshot_all(&inflight, &md);
			int rc = udf_sync(fs);
			if (rc == 0) { /* acknowledged: every command it needed completed, so it is durable */
				snapshot_all(&synced, &md);
				/* a cut right after the sync's last command: the disc holds it, but the drive
				 * answers nothing more; the remount counts the commits */
				synced_commits = drive_gone(drive(&s)) ? -1 : commits_on_disc(fs);
			} else {
				ck_assert_msg(drive_gone(drive(&s)), "%s: sync failed with the drive on: %d", r->what,
					      rc);
				in_flight = true;
			}
		}
	}
	uint64_t issued = drive_gone(drive(&s)) ? r->cut : medium_commands(drive(&s)) - start;
	if (!drive_gone(drive(&s))) { /* the cut comes after the workload: every commit was acknowledged */
		medium_commands(drive(&s));
		pc.after = 0;
		ck_assert_int_eq(emu_set_power_cut(drive(&s), &pc), 0);
	}
	stack_close(&s);

	/* the disc as the cut left it (no power_cut now): the newest complete VAT is the last
	 * acknowledged commit's, or the one in flight when all of it landed */
	fs = stack_mount(&s);
	int found = commits_on_disc(fs);
	if (synced_commits < 0)
		synced_commits = found;
	struct model *want = &synced;
	if (found == synced_commits + 1 && in_flight) {
		want = &inflight;
		found_in_flight++;
	} else
		ck_assert_msg(found == synced_commits, "%s: %d commits on the disc, %d acknowledged%s", r->what, found,
			      synced_commits, in_flight ? " and one in flight" : "");
	char when[240];
	snprintf(when, sizeof(when), "%s: after the cut (%s state)", r->what,
		 want == &synced ? "the last acknowledged" : "the in-flight commit's");
	check_model(fs, want, when);
	found_torn += strstr(udf_mount_note(fs), "cut short") != NULL;
	/* the disc goes on taking commits after whatever the cut left, and a remount finds them */
	want->gone = drive_gone;
	want->gone_ctx = drive(&s);
	for (int k = 0; k < 10; k++)
		random_op(fs, want, &rng, NULL);
	ck_assert_int_eq(udf_sync(fs), 0);
	ck_assert_int_eq(udf_close(fs), 0);
	medium_commands(drive(&s));
	stack_close(&s);
	fs = stack_mount(&s);
	snprintf(when, sizeof(when), "%s: the commits after the cut", r->what);
	check_model(fs, want, when);
	stack_close(&s);
	model_free(&inflight);
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
		fprintf(stderr, "vat power cut: %s\n", r->what);
}

/* Per seed: a run without a cut counts the workload's medium commands W, then a cut at every k of
 * [1, W] when W ≤ CUTS, else at CUTS points spread over it. */
static void sweep(const struct medium *m, uint64_t seed)
{
	uint64_t cuts = env_u64("CUTS", 60), rng = seed * 7919 + 1;
	struct run r = {.m = m, .seed = seed, .torn = env_u64("TORN", seed % 2)};

	describe(&r);
	uint64_t w = run_one(&r);
	ck_assert_uint_gt(w, 1);
	uint64_t n = w < cuts ? w : cuts;
	found_in_flight = found_torn = 0;
	for (uint64_t i = 0; i < n; i++) {
		r.cut = w <= cuts ? i + 1 : 1 + (w * i + rnd(&rng) % w) / cuts;
		describe(&r);
		run_one(&r);
	}
	printf("vat power cut: %s seed %" PRIu64 "%s: %" PRIu64 " medium commands, %" PRIu64
	       " cuts: %u found the in-flight commit whole, %u a torn commit\n",
	       m->profile, seed, r.torn ? " torn" : "", w, n, found_in_flight, found_torn);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pktfuse-vatcut-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(vat_power_cut_sweep)
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
	uint64_t first = env_u64("SEED", 1), seeds = env_u64("SEEDS", 2);
	for (uint64_t seed = first; seed < first + seeds; seed++)
		sweep(m, seed);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vat_power_cut");
	TCase *tc = tcase_create("vat_power_cut");

	/* in the parent, once: a failed run's images are removed too */
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, vat_power_cut_sweep, 0, sizeof(media) / sizeof(media[0]));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
