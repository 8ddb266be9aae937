/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Statistics never wait for the drive: the emulated drive behind a gate that holds every WRITE(10)
 * until the test opens it, the MMC backend and the packet cache on top.  While the flusher's write is
 * held inside the drive (the device's lock taken, as a commit to a slow medium keeps it),
 * pkt_cache_format_stats, mmc_dev_get_counters and pkt_cache_hot_packets must return, each within a
 * bounded wait that fails the test (`pktfuse status` answered in the daemon's single FUSE loop used to
 * block on the device's lock for a whole transfer).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "emu/emu.h"
#include "mmc_dev.h"
#include "pkt_cache.h"
#include "source.h"
#include "test_tmpdir.h"

#define WRITE10 0x2A
#define WAIT_S 30 /* bound on each wait: generous for two busy cores, and a hang fails instead */

/* A transport in front of the emulator whose WRITE(10) waits while the gate is closed. */
struct gate {
	struct mmc_transport t;
	struct mmc_transport *inner;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool closed;   /* WRITE(10) waits */
	bool entered;  /* a WRITE(10) is waiting at the gate */
	bool stats_ok; /* the stats thread returned */
	char stats[8192];
};

static int gate_exec(struct mmc_transport *t, struct mmc_cmd *cmd)
{
	struct gate *g = t->priv;

	pthread_mutex_lock(&g->mu);
	if (cmd->cdb[0] == WRITE10) {
		while (g->closed) {
			g->entered = true;
			pthread_cond_broadcast(&g->cv);
			pthread_cond_wait(&g->cv, &g->mu);
		}
	}
	pthread_mutex_unlock(&g->mu);
	return g->inner->ops->exec(g->inner, cmd);
}

static void gate_sleep(struct mmc_transport *t, unsigned ms)
{
	struct gate *g = t->priv;

	g->inner->ops->sleep_ms(g->inner, ms);
}

static size_t gate_describe(struct mmc_transport *t, char *buf, size_t len)
{
	struct gate *g = t->priv;

	return g->inner->ops->describe(g->inner, buf, len);
}

static void gate_close(struct mmc_transport *t)
{
	struct gate *g = t->priv;

	mmc_transport_close(g->inner);
}

static const struct mmc_transport_ops gate_ops = {
	.exec = gate_exec, .sleep_ms = gate_sleep, .describe = gate_describe, .close = gate_close};

static void set_gate(struct gate *g, bool closed)
{
	pthread_mutex_lock(&g->mu);
	g->closed = closed;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Waits (bounded) until *flag under g->mu; false on timeout. */
static bool wait_flag(struct gate *g, const bool *flag)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_S;
	pthread_mutex_lock(&g->mu);
	int rc = 0;
	while (!*flag && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
	bool ok = *flag;
	pthread_mutex_unlock(&g->mu);
	return ok;
}

struct job {
	struct gate *g;
	struct pkt_cache *c;
	struct pkt_blockdev *dev;
	int rc;
};

static void *flush_main(void *arg)
{
	struct job *j = arg;

	j->rc = pkt_cache_flush(j->c);
	return NULL;
}

static void *stats_main(void *arg)
{
	struct job *j = arg;
	struct mmc_dev_counters mc;
	struct pkt_packet_wear hot[4];
	char buf[sizeof(j->g->stats)];

	size_t n = pkt_cache_format_stats(j->c, buf, sizeof(buf));
	bool counted = mmc_dev_get_counters(j->dev, &mc);
	pkt_cache_hot_packets(j->c, hot, 4);
	pthread_mutex_lock(&j->g->mu);
	memcpy(j->g->stats, buf, n + 1);
	j->g->stats_ok = counted;
	pthread_cond_broadcast(&j->g->cv);
	pthread_mutex_unlock(&j->g->mu);
	return NULL;
}

START_TEST(test_stats_while_drive_writes)
{
	char dir[64], src[160], err[512];
	test_tmpdir_make(dir, sizeof(dir), "pktfuse-stats");
	snprintf(src, sizeof(src), "emu:cdrw:%s/disc.img,size=16M", dir);
	struct mmc_format_options fo = {0};
	ck_assert_msg(mmc_cmd_format(src, &fo, err, sizeof(err)) == 0, "format: %s", err);

	struct gate g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	g.inner = emu_open(src + strlen("emu:"), err, sizeof(err));
	ck_assert_msg(g.inner, "emu_open: %s", err);
	g.t = (struct mmc_transport){.ops = &gate_ops, .name = "gate", .priv = &g};
	struct mmc_dev_options mo = {.quiet = true};
	struct pkt_blockdev *dev = mmc_dev_open(&g.t, src, &mo, err, sizeof(err));
	ck_assert_msg(dev, "mmc_dev_open: %s", err);
	struct pkt_cache *c;
	struct pkt_cache_config cfg = {.cache_bytes = 1 << 20};
	ck_assert_msg(pkt_cache_create(dev, &cfg, &c, err, sizeof(err)) == 0, "cache: %s", err);

	static uint8_t data[64 * 1024];
	memset(data, 0x5a, sizeof(data));
	ck_assert_int_eq(pkt_cache_write(c, data, sizeof(data), 0), 0);
	set_gate(&g, true);
	struct job j = {.g = &g, .c = c, .dev = dev};
	pthread_t flusher, stats;
	ck_assert_int_eq(pthread_create(&flusher, NULL, flush_main, &j), 0);
	bool held = wait_flag(&g, &g.entered);
	bool answered = false;
	if (held) { /* the drive is inside a WRITE with the device's lock taken: the stats must not wait */
		ck_assert_int_eq(pthread_create(&stats, NULL, stats_main, &j), 0);
		answered = wait_flag(&g, &g.stats_ok);
	}
	set_gate(&g, false); /* whatever happened: let everything finish before judging */
	pthread_join(flusher, NULL);
	if (held)
		pthread_join(stats, NULL);
	ck_assert_msg(held, "the flush never reached the drive's WRITE");
	ck_assert_msg(answered, "the statistics waited for the drive (not answered within %d s)", WAIT_S);
	ck_assert_int_eq(j.rc, 0);
	ck_assert_msg(strstr(g.stats, "\nmmc_write_commands: ") && strstr(g.stats, "\nemu_profile: "),
		      "the backend's lines are missing:\n%s", g.stats);

	/* Once the drive is done, the counters show the write. */
	struct mmc_dev_counters mc;
	ck_assert(mmc_dev_get_counters(dev, &mc));
	ck_assert_uint_ge(mc.write_cmds, 1);
	char buf[8192];
	pkt_cache_format_stats(c, buf, sizeof(buf));
	ck_assert_msg(!strstr(buf, "\nmmc_write_commands: 0\n"), "the write is not counted:\n%s", buf);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	pkt_blockdev_close(dev);
	test_tmpdir_remove(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats_unlocked");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 3 * WAIT_S + 60);
	tcase_add_test(tc, test_stats_while_drive_writes);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
