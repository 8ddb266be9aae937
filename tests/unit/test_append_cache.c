/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packet cache on a write-once medium (geometry append_only) over append_dev.h, which refuses
 * and records every write that is not at the NWA, not whole units, more than one packet where link
 * sectors follow, or over a recorded sector.  Targeted tests of each rule of pkt_cache.h, then a
 * model over many seeds (SEED=N runs one, SEEDS=N that many): file-system-like writes allocated in
 * ascending order from pkt_cache_next_writable, written in pieces out of order, flushes and a
 * session closed now and then, reads checked against the model (what was written, zeros past the
 * NWA), in caches small enough that writers wait.
 */
#define _GNU_SOURCE
#include "append_dev.h"
#include "gate_io.h"
#include "image_dev.h"
#include "pkt_cache.h"
#include "test_rng.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S PKT_SECTOR_SIZE

static struct pkt_cache *cache_on(struct append_dev *a, uint32_t slots, unsigned age_ms)
{
	uint32_t stride = a->dev.geo.packet_sectors + a->dev.geo.link_sectors;
	struct pkt_cache_config cfg = {.cache_bytes = (uint64_t)slots * stride * S, .dirty_age_ms = age_ms};
	struct pkt_cache *c = NULL;
	char err[256];
	int rc = pkt_cache_create(&a->dev, &cfg, &c, err, sizeof(err));

	ck_assert_msg(rc == 0, "%s", err);
	return c;
}

static void fill(uint8_t *buf, uint32_t sectors, uint8_t v)
{
	memset(buf, v, (size_t)sectors * S);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static struct pkt_cache_stats stats_of(struct pkt_cache *c)
{
	struct pkt_cache_stats st;

	pkt_cache_get_stats(c, &st);
	return st;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A complete packet at the NWA goes; the medium gets exactly what was written. */
START_TEST(test_append_complete_packets_at_nwa)
{
	struct append_dev a;
	uint8_t buf[48 * S];

	append_dev_init(&a, 1000, 16, 0, 32);
	struct pkt_cache *c = cache_on(&a, 8, 1);
	fill(buf, 48, 0x11);
	ck_assert_int_eq(pkt_cache_write(c, buf, sizeof(buf), 32 * S), 0);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(a.broken, "");
	ck_assert_uint_eq(a.nwa, 80);
	ck_assert_uint_eq(a.write_sectors, 48);
	ck_assert(all_bytes(a.data + 32 * S, 48 * S, 0x11));
	ck_assert_uint_eq(stats_of(c).padded_sectors, 0);
	ck_assert_uint_eq(stats_of(c).next_writable, 80);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	append_dev_free(&a);
}
END_TEST

/* An incomplete packet stays in the cache however old it gets (a complete one goes on its own). */
START_TEST(test_append_incomplete_packet_waits_for_flush)
{
	struct append_dev a;
	uint8_t buf[16 * S];

	append_dev_init(&a, 1000, 16, 0, 0);
	struct pkt_cache *c = cache_on(&a, 8, 1);
	fill(buf, 3, 0x22);
	ck_assert_int_eq(pkt_cache_write(c, buf, 3 * S, 0), 0);
	sleep_ms(100); /* 100 times the dirty age */
	ck_assert_uint_eq(append_dev_writes(&a), 0);
	/* the rest of the packet: now it is complete and goes without a flush */
	fill(buf, 13, 0x23);
	ck_assert_int_eq(pkt_cache_write(c, buf, 13 * S, 3 * S), 0);
	for (int i = 0; i < 2000 && append_dev_writes(&a) == 0; i++)
		sleep_ms(5);
	ck_assert_uint_eq(append_dev_writes(&a), 1);
	ck_assert_uint_eq(stats_of(c).padded_sectors, 0);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	ck_assert_str_eq(a.broken, "");
	append_dev_free(&a);
}
END_TEST

/* A flush pads the last packet with zeros; its unwritten sectors are gone for writes and read as
 * zeros; a write below the NWA fails with EROFS. */
START_TEST(test_append_flush_pads_and_refuses_below)
{
	struct append_dev a;
	uint8_t buf[16 * S], back[16 * S];

	append_dev_init(&a, 1000, 16, 0, 16);
	struct pkt_cache *c = cache_on(&a, 8, 0);
	fill(buf, 3, 0x33);
	ck_assert_int_eq(pkt_cache_write(c, buf, 3 * S, 16 * S), 0);
	uint64_t nwa;
	ck_assert_int_eq(pkt_cache_next_writable(c, &nwa), 0);
	ck_assert_uint_eq(nwa, 19);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(a.broken, "");
	ck_assert_uint_eq(a.write_cmds, 1);
	ck_assert_uint_eq(a.nwa, 32);
	ck_assert_uint_eq(stats_of(c).padded_sectors, 13);
	ck_assert(all_bytes(a.data + 19 * S, 13 * S, 0));
	ck_assert_int_eq(pkt_cache_next_writable(c, &nwa), 0);
	ck_assert_uint_eq(nwa, 32);
	ck_assert_int_eq(pkt_cache_write(c, buf, S, 20 * S), -EROFS);
	ck_assert_int_eq(pkt_cache_write(c, buf, S, 31 * S), -EROFS);
	ck_assert_int_eq(pkt_cache_write(c, buf, S, 0), -EROFS);
	ck_assert_int_eq(pkt_cache_read(c, back, 16 * S, 16 * S), 0);
	ck_assert(all_bytes(back, 3 * S, 0x33));
	ck_assert(all_bytes(back + 3 * S, 13 * S, 0));
	/* a second flush has nothing to write */
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_uint_eq(a.write_cmds, 1);
	char text[4096];
	pkt_cache_format_stats(c, text, sizeof(text));
	ck_assert_msg(strstr(text, "next_writable: 32\n"), "%s", text);
	ck_assert_msg(strstr(text, "padded_sectors: 13\n"), "%s", text);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	append_dev_free(&a);
}
END_TEST

/* Past the NWA nothing is read from the medium (it would fail): zeros, or what the cache holds. */
START_TEST(test_append_reads_past_nwa_are_zeros)
{
	struct append_dev a;
	uint8_t buf[40 * S];

	append_dev_init(&a, 1000, 16, 0, 20);
	struct pkt_cache *c = cache_on(&a, 8, 0);
	ck_assert_int_eq(pkt_cache_read(c, buf, 40 * S, 10 * S), 0);
	for (int s = 0; s < 10; s++)
		ck_assert(all_bytes(buf + (size_t)s * S, S, (uint8_t)(0x80 | ((10 + s) & 0x7f))));
	ck_assert(all_bytes(buf + 10 * S, 30 * S, 0));
	ck_assert_uint_eq(a.unrecorded_reads, 0);
	/* a sub-sector write past the NWA needs no read either */
	uint8_t b = 0x44;
	ck_assert_int_eq(pkt_cache_write(c, &b, 1, 100 * S + 7), 0);
	ck_assert_int_eq(pkt_cache_read(c, buf, S, 100 * S), 0);
	ck_assert_uint_eq(buf[7], 0x44);
	ck_assert(all_bytes(buf, 7, 0));
	ck_assert_uint_eq(a.unrecorded_reads, 0);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	ck_assert_str_eq(a.broken, "");
	/* the packets from 20 on start at 20 + 16k: the hole up to sector 100's went as zeros, in order */
	ck_assert_uint_eq(a.nwa, 116);
	ck_assert(all_bytes(a.data + 20 * S, 80 * S, 0));
	append_dev_free(&a);
}
END_TEST

/* CD-R: each write command is one packet and the medium loses 7 sectors after it; the cache never
 * writes there, refuses writes there, and next_writable skips them. */
START_TEST(test_append_link_sectors)
{
	struct append_dev a;
	uint8_t buf[32 * S];
	const struct pkt_geometry *g = &a.dev.geo;

	append_dev_init(&a, 2000, 32, 7, 50);
	struct pkt_cache *c = cache_on(&a, 6, 0);
	uint64_t nwa;
	ck_assert_int_eq(pkt_cache_next_writable(c, &nwa), 0);
	ck_assert_uint_eq(nwa, 50);
	/* 100 sectors from the NWA, a packet at a time where append_lba says */
	for (uint64_t k = 0; k < 100; k++) {
		fill(buf, 1, (uint8_t)(k + 1));
		ck_assert_int_eq(pkt_cache_write(c, buf, S, pkt_geometry_append_lba(g, 50, k) * S), 0);
		if (k == 31) { /* the end of the first packet: the link sectors are skipped */
			ck_assert_int_eq(pkt_cache_next_writable(c, &nwa), 0);
			ck_assert_uint_eq(nwa, 50 + 39);
		}
	}
	ck_assert_int_eq(pkt_cache_next_writable(c, &nwa), 0);
	ck_assert_uint_eq(nwa, pkt_geometry_append_lba(g, 50, 100));
	/* the link sectors after the first packet */
	ck_assert_int_eq(pkt_cache_write(c, buf, S, (50 + 32) * S), -EROFS);
	ck_assert_int_eq(pkt_cache_write(c, buf, S, (50 + 38) * S), -EROFS);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(a.broken, "");
	ck_assert_uint_eq(a.write_cmds, 4);
	/* the flush's last packet ends where the data does (variable packets): 4 sectors, then the
	 * link sectors, and the grid runs on from there */
	ck_assert_uint_eq(a.nwa, 50 + 3 * 39 + 4 + 7);
	for (uint64_t k = 0; k < 100; k++)
		ck_assert_uint_eq(a.data[pkt_geometry_append_lba(g, 50, k) * S], (uint8_t)(k + 1));
	ck_assert_uint_eq(stats_of(c).padded_sectors, 0);
	ck_assert_int_eq(pkt_cache_next_writable(c, &nwa), 0);
	ck_assert_uint_eq(nwa, 50 + 3 * 39 + 4 + 7);
	/* and takes whole packets from the new NWA */
	for (uint64_t k = 0; k < 32; k++) {
		fill(buf, 1, 0x77);
		ck_assert_int_eq(pkt_cache_write(c, buf, S, (nwa + k) * S), 0);
	}
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(a.broken, "");
	ck_assert_uint_eq(a.nwa, nwa + 39);
	ck_assert_uint_eq(a.data[(nwa + 31) * S], 0x77);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	append_dev_free(&a);
}
END_TEST

/* Every slot holds a dirty packet that waits for an earlier one: a writer that needs another slot
 * does not deadlock; the flusher pads the earliest and the rest follow. */
START_TEST(test_append_full_cache_of_waiting_packets)
{
	struct append_dev a;
	uint8_t buf[16 * S];

	append_dev_init(&a, 4000, 16, 0, 0);
	struct pkt_cache *c = cache_on(&a, 4, 60000);
	fill(buf, 1, 0x55);
	ck_assert_int_eq(pkt_cache_write(c, buf, S, 0), 0); /* packet 0: one sector of 16 */
	fill(buf, 16, 0x66);
	for (uint64_t p = 1; p <= 10; p++) /* packets 1..10: complete, each waiting for packet 0 */
		ck_assert_int_eq(pkt_cache_write(c, buf, 16 * S, p * 16 * S), 0);
	struct pkt_cache_stats st = stats_of(c);
	ck_assert_uint_ge(st.padded_sectors, 15);
	ck_assert_uint_gt(st.slot_waits + st.congestion_waits, 0);
	/* packet 0 went padded: its other sectors are gone */
	ck_assert_int_eq(pkt_cache_write(c, buf, S, 5 * S), -EROFS);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(a.broken, "");
	ck_assert_uint_eq(a.nwa, 11 * 16);
	ck_assert(all_bytes(a.data, S, 0x55));
	ck_assert(all_bytes(a.data + S, 15 * S, 0));
	ck_assert(all_bytes(a.data + 16 * S, 160 * S, 0x66));
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	append_dev_free(&a);
}
END_TEST

/* A writer that allocates in ascending order from next_writable never meets a padded packet, however
 * small the cache: only the final flush pads. */
START_TEST(test_append_ascending_writer_never_refused)
{
	const uint32_t slots[] = {1, 2, 3};

	for (unsigned k = 0; k < 3; k++) {
		struct append_dev a;
		uint8_t buf[3 * S];
		append_dev_init(&a, 4000, 32, 7, 10);
		struct pkt_cache *c = cache_on(&a, slots[k], 1);
		struct pkt_append_state st;
		ck_assert_int_eq(pkt_cache_append_state(c, &st), 0);
		for (uint64_t i = 0; i < 1500; i++) {
			uint64_t lba = pkt_geometry_append_lba(pkt_cache_geometry(c), st.next_writable, i), next;
			ck_assert_int_eq(pkt_cache_next_writable(c, &next), 0);
			ck_assert_uint_eq(next, lba);
			fill(buf, 1, (uint8_t)(i | 1));
			/* in two halves, as a sub-sector writer would */
			ck_assert_int_eq(pkt_cache_write(c, buf, S / 2, lba * S), 0);
			if (i % 32 == 31)
				sleep_ms(10); /* ten times the dirty age: a packet taken for complete would go now */
			ck_assert_int_eq(pkt_cache_write(c, buf, S / 2, lba * S + S / 2), 0);
		}
		ck_assert_uint_eq(stats_of(c).padded_sectors, 0);
		ck_assert_int_eq(pkt_cache_flush(c), 0);
		ck_assert_uint_eq(stats_of(c).padded_sectors, 0); /* the last packet ends short instead */
		ck_assert_str_eq(a.broken, "");
		ck_assert_uint_eq(a.unrecorded_reads, 0);
		ck_assert_int_eq(pkt_cache_destroy(c), 0);
		append_dev_free(&a);
	}
}
END_TEST

/* A write that fails: the flush says so instead of waiting for the packets behind it, which cannot
 * go first; writers that would wait behind it get -EIO; a later flush retries at the same place. */
START_TEST(test_append_write_error_blocks_and_retries)
{
	struct append_dev a;
	uint8_t buf[16 * S], back[16 * S];

	append_dev_init(&a, 1000, 16, 0, 0);
	struct pkt_cache *c = cache_on(&a, 4, 60000);
	fill(buf, 16, 0x91);
	ck_assert_int_eq(pkt_cache_write(c, buf, 5 * S, 0), 0);
	append_dev_fail_writes(&a, 1000);
	ck_assert_int_eq(pkt_cache_write(c, buf, 16 * S, 16 * S), 0);
	ck_assert_int_eq(pkt_cache_flush(c), -EIO);
	/* every slot dirty behind the failed packet: the next writer is told, not kept waiting */
	int rc = 0;
	for (uint64_t p = 2; p < 8 && rc == 0; p++)
		rc = pkt_cache_write(c, buf, 16 * S, p * 16 * S);
	ck_assert_int_eq(rc, -EIO);
	ck_assert_int_eq(pkt_cache_read(c, back, 5 * S, 0), 0);
	ck_assert(all_bytes(back, 5 * S, 0x91));
	append_dev_fail_writes(&a, 0);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(a.broken, "");
	ck_assert(all_bytes(a.data, 5 * S, 0x91));
	ck_assert(all_bytes(a.data + 5 * S, 11 * S, 0));
	ck_assert(all_bytes(a.data + 16 * S, 16 * S, 0x91));
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	append_dev_free(&a);
}
END_TEST

/* A medium whose first write stops in a gate until the test opens it (the append_dev first: priv
 * is both). */
struct gated_append {
	struct append_dev a;
	struct io_gate g;
	uint64_t held_lba; /* the write that stopped */
	uint32_t held_n;
};

static int gated_write(struct pkt_blockdev *d, uint64_t lba, uint32_t n, const void *buf)
{
	struct gated_append *ga = d->priv;

	pthread_mutex_lock(&ga->g.mu);
	if (!ga->g.open) {
		ga->held_lba = lba;
		ga->held_n = n;
		io_gate_stop_locked(&ga->g);
	}
	pthread_mutex_unlock(&ga->g.mu);
	return ad_write(d, lba, n, buf);
}

static const struct pkt_blockdev_ops gated_append_ops = {.read = ad_read,
							 .write = gated_write,
							 .sync = ad_sync,
							 .append_state = ad_append_state,
							 .close_session = ad_close_session};

struct flush_call {
	struct pkt_cache *c;
	struct io_gate *g;
	int rc;
	bool done;
};

static void *flush_thread(void *arg)
{
	struct flush_call *f = arg;

	f->rc = pkt_cache_flush(f->c);
	io_gate_post(f->g, &f->done);
	return NULL;
}

/* A read of a hole while the flusher writes zeros over it (a flush pads below a dirty packet): the
 * cache has moved its NWA past them, but the medium records them only when the write ends; they
 * read as zeros meanwhile, not from the blank medium (-EIO). */
START_TEST(test_append_read_during_zeros)
{
	struct gated_append ga;
	struct flush_call f = {.g = &ga.g};
	uint8_t buf[S], back[16 * S];
	pthread_t t;

	append_dev_init(&ga.a, 1000, 16, 0, 0);
	ga.a.dev.ops = &gated_append_ops;
	io_gate_init(&ga.g);
	f.c = cache_on(&ga.a, 8, 60000);
	fill(buf, 1, 0x66);
	ck_assert_int_eq(pkt_cache_write(f.c, buf, S, 32 * S), 0); /* packet 2: packets 0 and 1 a hole */
	ck_assert_int_eq(pthread_create(&t, NULL, flush_thread, &f), 0);
	ck_assert(io_gate_wait(&ga.g, &ga.g.held));
	ck_assert_uint_eq(ga.held_lba, 0); /* the zeros, packet 0 among them, on their way */
	ck_assert_int_eq(pkt_cache_read(f.c, back, 16 * S, 0), 0);
	ck_assert(all_bytes(back, 16 * S, 0));
	ck_assert_uint_eq(ga.a.unrecorded_reads, 0);
	io_gate_open(&ga.g);
	ck_assert(io_gate_wait(&ga.g, &f.done));
	pthread_join(t, NULL);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_str_eq(ga.a.broken, "");
	ck_assert_uint_eq(ga.a.nwa, 48);
	ck_assert(all_bytes(ga.a.data, 32 * S, 0));
	ck_assert(all_bytes(ga.a.data + 32 * S, S, 0x66));
	ck_assert_int_eq(pkt_cache_read(f.c, back, 16 * S, 0), 0);
	ck_assert(all_bytes(back, 16 * S, 0));
	ck_assert_int_eq(pkt_cache_destroy(f.c), 0);
	io_gate_destroy(&ga.g);
	append_dev_free(&ga.a);
}
END_TEST

/* A medium whose writes stop in a gate one at a time: write k goes on once the test allows more than
 * k of them; what each asked for is kept (the append_dev first: priv is both). */
#define STEP_WRITES 16
struct stepped_append {
	struct append_dev a;
	struct io_gate g;
	uint32_t arrived, allowed; /* under g.mu */
	bool at[STEP_WRITES];	   /* write k has reached the gate */
	uint64_t lba[STEP_WRITES];
	uint32_t n[STEP_WRITES];
};

static int stepped_write(struct pkt_blockdev *d, uint64_t lba, uint32_t n, const void *buf)
{
	struct stepped_append *sa = d->priv;

	pthread_mutex_lock(&sa->g.mu);
	uint32_t k = sa->arrived++;
	if (k < STEP_WRITES) {
		sa->lba[k] = lba;
		sa->n[k] = n;
		sa->at[k] = true;
	}
	pthread_cond_broadcast(&sa->g.cv);
	while (k >= sa->allowed)
		pthread_cond_wait(&sa->g.cv, &sa->g.mu);
	pthread_mutex_unlock(&sa->g.mu);
	return ad_write(d, lba, n, buf);
}

static const struct pkt_blockdev_ops stepped_append_ops = {.read = ad_read,
							   .write = stepped_write,
							   .sync = ad_sync,
							   .append_state = ad_append_state,
							   .close_session = ad_close_session};

static void step_allow(struct stepped_append *sa, uint32_t allowed)
{
	pthread_mutex_lock(&sa->g.mu);
	sa->allowed = allowed;
	pthread_cond_broadcast(&sa->g.cv);
	pthread_mutex_unlock(&sa->g.mu);
}

static uint32_t step_arrived(struct stepped_append *sa)
{
	pthread_mutex_lock(&sa->g.mu);
	uint32_t k = sa->arrived;
	pthread_mutex_unlock(&sa->g.mu);
	return k;
}

struct write_call {
	struct pkt_cache *c;
	struct io_gate *g;
	uint64_t off;
	uint8_t buf[S];
	int rc;
	bool done;
};

static void *write_thread(void *arg)
{
	struct write_call *w = arg;

	w->rc = pkt_cache_write(w->c, w->buf, S, w->off);
	io_gate_post(w->g, &w->done);
	return NULL;
}

/* One writer waits for what only padding can give: at the dirty high watermark (high_pct 75: 6 of the
 * 8 packets dirty), or for a slot (high_pct 100: all 8 dirty), each dirty packet waiting for packet
 * 0, which is incomplete at the NWA.  The flusher pads packet 0, which is all the writer needed, and
 * nothing more: packet 1, the hole before the next dirty packet, stays writable.  Every write stops
 * in the gate, and the writer sleeps through the write of packet 0, whose end wakes it; so the
 * flusher decides what comes next with the writer not yet run, every time. */
static void one_waiter_pads_one_packet(unsigned high_pct)
{
	const uint32_t dirty = high_pct == 100 ? 8 : 6;
	struct stepped_append sa;
	struct write_call w = {.g = &sa.g, .off = 2 * dirty * 16 * S};
	struct pkt_cache_config cfg = {.cache_bytes = 8 * 16 * S, .dirty_age_ms = 60000, .dirty_high_pct = high_pct};
	struct pkt_cache *c = NULL;
	char err[256];
	uint8_t buf[S];
	pthread_t t;

	memset(&sa, 0, sizeof(sa));
	append_dev_init(&sa.a, 1000, 16, 0, 0);
	sa.a.dev.ops = &stepped_append_ops;
	io_gate_init(&sa.g);
	ck_assert_msg(pkt_cache_create(&sa.a.dev, &cfg, &c, err, sizeof(err)) == 0, "%s", err);
	w.c = c;
	fill(w.buf, 1, 0xc1);
	for (uint64_t p = 0; p < 2 * dirty; p += 2) { /* one sector of packets 0, 2, ..: holes between */
		fill(buf, 1, (uint8_t)(0xa0 + p));
		ck_assert_int_eq(pkt_cache_write(c, buf, S, p * 16 * S), 0);
	}
	ck_assert_uint_eq(stats_of(c).congestion_waits + stats_of(c).slot_waits, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, write_thread, &w), 0);
	/* Only the waiting writer makes the flusher pad: packet 0, the 15 sectors nobody wrote as zeros. */
	ck_assert(io_gate_wait(&sa.g, &sa.at[0]));
	ck_assert_uint_eq(sa.lba[0], 0);
	ck_assert_uint_eq(sa.n[0], 16);
	step_allow(&sa, 1);
	ck_assert(io_gate_wait(&sa.g, &w.done));
	pthread_join(t, NULL);
	ck_assert_int_eq(w.rc, 0);
	struct pkt_cache_stats st = stats_of(c);
	ck_assert_uint_eq(st.congestion_waits, high_pct == 100 ? 0 : 1);
	ck_assert_uint_eq(st.slot_waits, high_pct == 100 ? 1 : 0);
	if (st.next_writable != 16) {
		/* the medium has been handed more: which write, from the gate's record */
		ck_assert(io_gate_wait(&sa.g, &sa.at[1]));
		ck_abort_msg("high %u%%: the writer went on after packet 0 (%" PRIu64 " sectors padded), yet the "
			     "flusher then wrote %u sectors of zeros at %" PRIu64 ": next_writable %" PRIu64 ", not 16",
			     high_pct, st.padded_sectors, sa.n[1], sa.lba[1], st.next_writable);
	}
	ck_assert_uint_eq(st.padded_sectors, 15);
	ck_assert_uint_eq(step_arrived(&sa), 1);
	/* What is left goes at the flush: each hole as zeros, each later packet padded. */
	step_allow(&sa, UINT32_MAX);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(sa.a.broken, "");
	ck_assert_uint_eq(sa.a.nwa, (2 * dirty + 1) * 16);
	ck_assert_uint_eq(stats_of(c).padded_sectors, 15 + dirty * 16 + dirty * 15);
	for (uint64_t p = 0; p < 2 * dirty; p += 2)
		ck_assert(all_bytes(sa.a.data + p * 16 * S, S, (uint8_t)(0xa0 + p)));
	ck_assert(all_bytes(sa.a.data + w.off, S, 0xc1));
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	io_gate_destroy(&sa.g);
	append_dev_free(&sa.a);
}

/* It used to count a congested writer that the write of packet 0 had woken as still waiting (the
 * writer takes itself off the count only when it runs), and wrote packet 1 as zeros too. */
START_TEST(test_append_congested_writer_pads_one_packet)
{
	one_waiter_pads_one_packet(75);
}
END_TEST

/* A writer waiting for a slot: the same, and passed before slot_unmet too (the pad needs every slot
 * dirty, and the write of packet 0 leaves one clean). */
START_TEST(test_append_slot_waiter_pads_one_packet)
{
	one_waiter_pads_one_packet(100);
}
END_TEST

/* ---- two waiters for one slot ---- */

/* A thread parked where it is: SIGUSR1 runs park_handler in it, which waits (in sigsuspend, the
 * one place SIGUSR2 is let in) until the test sets park_release and sends SIGUSR2.  A thread
 * parked inside pthread_cond_wait and woken meanwhile does not run until then, as one that the
 * scheduler has not yet given a CPU: a deterministic stand-in for that. */
static atomic_bool park_release;
static sem_t park_entered;

static void park_handler(int sig)
{
	sigset_t let_in;

	(void)sig;
	pthread_sigmask(SIG_BLOCK, NULL, &let_in);
	sigdelset(&let_in, SIGUSR2);
	sem_post(&park_entered);
	while (!atomic_load(&park_release))
		sigsuspend(&let_in);
}

static void unpark_handler(int sig)
{
	(void)sig;
}

static void park_setup(void)
{
	struct sigaction park = {.sa_handler = park_handler}, unpark = {.sa_handler = unpark_handler};

	sigemptyset(&park.sa_mask);
	sigaddset(&park.sa_mask, SIGUSR2); /* kept pending until the handler's sigsuspend */
	sigemptyset(&unpark.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &park, NULL), 0);
	ck_assert_int_eq(sigaction(SIGUSR2, &unpark, NULL), 0);
	ck_assert_int_eq(sem_init(&park_entered, 0, 0), 0);
	atomic_store(&park_release, false);
}

static void park_thread(pthread_t t)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += GATE_WAIT_S;
	ck_assert_int_eq(pthread_kill(t, SIGUSR1), 0);
	ck_assert_msg(sem_timedwait(&park_entered, &until) == 0, "the thread did not park");
}

static void unpark_thread(pthread_t t)
{
	atomic_store(&park_release, true);
	ck_assert_int_eq(pthread_kill(t, SIGUSR2), 0);
}

/* The threads of this process (their ids in /proc/self/task), at most max of them. */
static size_t list_threads(pid_t *tids, size_t max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && n < max)
			tids[n++] = (pid_t)atoi(e->d_name);
	closedir(d);
	return n;
}

/* The one thread that pkt_cache_create started: its flusher. */
static pid_t flusher_of(const pid_t *before, size_t nbefore)
{
	pid_t after[64], found = 0;
	size_t n = list_threads(after, 64), fresh = 0;

	for (size_t i = 0; i < n; i++) {
		bool old = false;
		for (size_t j = 0; j < nbefore; j++)
			old = old || after[i] == before[j];
		if (!old) {
			found = after[i];
			fresh++;
		}
	}
	ck_assert_uint_eq(fresh, 1);
	return found;
}

/* Waits (bounded) until thread tid sleeps: its state in /proc is S.  For the flusher once a writer
 * has kicked it and let go of the cache's lock: it runs until it sleeps again, in the gate (a write)
 * or waiting for the next kick, for with every other thread parked, done or in this loop nobody
 * holds a lock it could wait for; so S says that it has looked at what it may write. */
static void wait_asleep(pid_t tid)
{
	char path[64], line[512];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	for (long i = 0; i < GATE_WAIT_S * 10000L; i++) {
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		size_t n = fread(line, 1, sizeof(line) - 1, f);
		fclose(f);
		line[n] = 0;
		const char *paren = strrchr(line, ')'); /* the state follows the name in parentheses */
		ck_assert_ptr_nonnull(paren);
		if (paren[1] == ' ' && paren[2] == 'S')
			return;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	ck_abort_msg("thread %d never slept", (int)tid);
}

/* Two writers wait for a slot (all 8 dirty, high watermark 100%), each dirty packet one sector of
 * packets 0, 2, .., 14 (holes between), so that only padding frees a slot; then the first packet
 * written frees one, and the writer that runs first takes it.
 *
 * Both for packet 16 (same_packet): the slot that the first takes serves the second too, so one
 * padded packet is the minimum and all it takes: packet 0, the lowest dirty one and at the NWA, with
 * its 15 sectors nobody wrote as zeros.  Packet 1, the hole before packet 2, must stay writable.
 * The second is parked (park_thread) from before that write until the flusher has looked again
 * after the first dirtied packet 16: it was woken and still counts as waiting for a slot, yet has
 * not run; every write stops in the gate; so what the flusher does is the same every time.
 *
 * For packets 16 and 17: two slots, so two dirty packets written are the minimum: packet 0 padded
 * (15 sectors) and packet 2 (packet 1 before it as zeros, 16, and its 15 as zeros): 46 sectors,
 * the NWA at 48; no third, whichever writer runs first. */
static void two_slot_waiters(bool same_packet)
{
	const uint32_t dirty = 8;
	struct stepped_append sa;
	struct write_call wa = {.g = &sa.g, .off = 16 * 16 * S};
	struct write_call wb = {.g = &sa.g, .off = same_packet ? 16 * 16 * S + S : 17 * 16 * S};
	struct pkt_cache_config cfg = {.cache_bytes = 8 * 16 * S, .dirty_age_ms = 60000, .dirty_high_pct = 100};
	struct pkt_cache *c = NULL;
	char err[256];
	uint8_t buf[S];
	pid_t before[64];
	pthread_t ta, tb;

	memset(&sa, 0, sizeof(sa));
	append_dev_init(&sa.a, 1000, 16, 0, 0);
	sa.a.dev.ops = &stepped_append_ops;
	io_gate_init(&sa.g);
	park_setup();
	size_t nbefore = list_threads(before, 64);
	ck_assert_msg(pkt_cache_create(&sa.a.dev, &cfg, &c, err, sizeof(err)) == 0, "%s", err);
	pid_t flusher = flusher_of(before, nbefore);
	wa.c = wb.c = c;
	fill(wa.buf, 1, 0xc1);
	fill(wb.buf, 1, 0xc2);
	for (uint64_t p = 0; p < 2 * dirty; p += 2) {
		fill(buf, 1, (uint8_t)(0xa0 + p));
		ck_assert_int_eq(pkt_cache_write(c, buf, S, p * 16 * S), 0);
	}
	ck_assert_uint_eq(stats_of(c).slot_waits, 0);
	/* The first waits for a slot, and makes the flusher pad packet 0; the second comes to wait
	 * while that write is stopped in the gate. */
	ck_assert_int_eq(pthread_create(&ta, NULL, write_thread, &wa), 0);
	ck_assert(io_gate_wait(&sa.g, &sa.at[0]));
	ck_assert_uint_eq(sa.lba[0], 0);
	ck_assert_uint_eq(sa.n[0], 16);
	ck_assert_int_eq(pthread_create(&tb, NULL, write_thread, &wb), 0);
	while (stats_of(c).slot_waits < 2) /* counted under the lock that its wait releases */
		sched_yield();
	if (same_packet) {
		park_thread(tb);
		step_allow(&sa, 1);
		ck_assert(io_gate_wait(&sa.g, &wa.done));
		ck_assert_int_eq(wa.rc, 0);
		/* The first woke the flusher as it dirtied packet 16 (every slot dirty again). */
		wait_asleep(flusher);
		struct pkt_cache_stats st = stats_of(c);
		if (step_arrived(&sa) > 1)
			ck_abort_msg("two waiters for packet 16: the first went on after packet 0 (%" PRIu64
				     " sectors padded), yet for the second, which its slot serves, the flusher "
				     "wrote %u sectors of zeros at %" PRIu64 ": next_writable %" PRIu64 ", not 16",
				     st.padded_sectors, sa.n[1], sa.lba[1], st.next_writable);
		ck_assert_uint_eq(st.next_writable, 16);
		unpark_thread(tb);
	} else {
		step_allow(&sa, UINT32_MAX);
		ck_assert(io_gate_wait(&sa.g, &wa.done));
	}
	ck_assert(io_gate_wait(&sa.g, &wb.done));
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_int_eq(wa.rc, 0);
	ck_assert_int_eq(wb.rc, 0);
	struct pkt_cache_stats st = stats_of(c);
	ck_assert_uint_eq(st.slot_waits, 2);
	ck_assert_uint_eq(st.next_writable, same_packet ? 16 : 48);
	ck_assert_uint_eq(st.padded_sectors, same_packet ? 15 : 46);
	ck_assert_uint_eq(step_arrived(&sa), same_packet ? 1 : 3);
	/* What is left goes at the flush: each hole as zeros, each later packet padded. */
	step_allow(&sa, UINT32_MAX);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(sa.a.broken, "");
	ck_assert_uint_eq(sa.a.nwa, (same_packet ? 17 : 18) * 16);
	for (uint64_t p = 0; p < 2 * dirty; p += 2)
		ck_assert(all_bytes(sa.a.data + p * 16 * S, S, (uint8_t)(0xa0 + p)));
	ck_assert(all_bytes(sa.a.data + wa.off, S, 0xc1));
	ck_assert(all_bytes(sa.a.data + wb.off, S, 0xc2));
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	sem_destroy(&park_entered);
	io_gate_destroy(&sa.g);
	append_dev_free(&sa.a);
}

/* The slot that the first waiter took also serves the second: one padded packet, not two. */
START_TEST(test_append_two_slot_waiters_one_packet_pad_once)
{
	two_slot_waiters(true);
}
END_TEST

/* Two waiters for two packets: two padded packets, not three. */
START_TEST(test_append_two_slot_waiters_two_packets_pad_twice)
{
	two_slot_waiters(false);
}
END_TEST

/* Closing a session flushes, and the next session starts past the medium's gap, on a new grid. */
START_TEST(test_append_close_session)
{
	struct append_dev a;
	uint8_t buf[16 * S], back[S];
	struct pkt_append_state st;

	append_dev_init(&a, 1000, 16, 0, 0);
	struct pkt_cache *c = cache_on(&a, 8, 0);
	fill(buf, 5, 0x77);
	ck_assert_int_eq(pkt_cache_write(c, buf, 5 * S, 0), 0);
	ck_assert_int_eq(pkt_cache_close_session(c, PKT_CLOSE_SESSION), 0);
	ck_assert_int_eq(pkt_cache_append_state(c, &st), 0);
	ck_assert_uint_eq(st.next_writable, 16 + AD_SESSION_GAP);
	ck_assert_uint_eq(st.sessions, 2);
	uint64_t nwa;
	ck_assert_int_eq(pkt_cache_next_writable(c, &nwa), 0);
	ck_assert_uint_eq(nwa, 16 + AD_SESSION_GAP);
	fill(buf, 16, 0x78);
	ck_assert_int_eq(pkt_cache_write(c, buf, 16 * S, nwa * S), 0);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_str_eq(a.broken, "");
	ck_assert_uint_eq(a.nwa, nwa + 16);
	ck_assert_int_eq(pkt_cache_read(c, back, S, 4 * S), 0);
	ck_assert(all_bytes(back, S, 0x77));
	ck_assert_int_eq(pkt_cache_close_session(c, PKT_CLOSE_FINALIZE), 0);
	ck_assert_int_eq(pkt_cache_write(c, buf, S, (nwa + 16) * S), -EROFS);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	append_dev_free(&a);
}
END_TEST

/* Rewritable media have none of it. */
START_TEST(test_append_calls_on_rewritable)
{
	struct append_dev a;
	struct pkt_append_state st;
	uint64_t nwa;

	append_dev_init(&a, 100, 16, 0, 0);
	a.dev.geo.append_only = false;
	a.dev.ops = &(struct pkt_blockdev_ops){.read = ad_read, .write = ad_write, .sync = ad_sync};
	struct pkt_cache *c = cache_on(&a, 4, 0);
	ck_assert_int_eq(pkt_cache_next_writable(c, &nwa), -EOPNOTSUPP);
	ck_assert_int_eq(pkt_cache_append_state(c, &st), -EOPNOTSUPP);
	ck_assert_int_eq(pkt_cache_close_session(c, PKT_CLOSE_SESSION), -EOPNOTSUPP);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	append_dev_free(&a);
}
END_TEST

/* An image file of a write-once disc: the cache appends to it, the file grows by whole units, and
 * its length is the NWA when it is opened again; bad options get one clear error. */
START_TEST(test_append_image_file)
{
	char path[] = "/tmp/pktappend-XXXXXX", err[256];
	int fd = mkstemp(path);
	uint8_t buf[20 * S];
	struct stat st;

	ck_assert_int_ge(fd, 0);
	close(fd);
	struct image_dev_options o = {.packet_sectors = 16, .append_only = true};
	ck_assert_ptr_null(image_dev_open(path, &o, err, sizeof(err)));
	ck_assert_msg(strstr(err, "needs the disc's capacity"), "%s", err);
	o.capacity_sectors = 1000;
	struct pkt_blockdev *dev = image_dev_open(path, &o, err, sizeof(err));
	ck_assert_msg(dev, "%s", err);
	ck_assert(dev->geo.append_only);
	ck_assert_uint_eq(dev->geo.sector_count, 1000);
	ck_assert_int_eq(pkt_blockdev_close_session(dev, PKT_CLOSE_SESSION), -EOPNOTSUPP);
	struct pkt_cache_config cfg = {.cache_bytes = 8 * 16 * S};
	struct pkt_cache *c = NULL;
	ck_assert_int_eq(pkt_cache_create(dev, &cfg, &c, err, sizeof(err)), 0);
	fill(buf, 20, 0x5a);
	ck_assert_int_eq(pkt_cache_write(c, buf, 20 * S, 0), 0);
	ck_assert_int_eq(pkt_cache_flush(c), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 32 * S);
	ck_assert_int_eq(pkt_cache_write(c, buf, S, 31 * S), -EROFS);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	ck_assert_uint_eq(image_dev_counters(dev).rejected_writes, 0);
	pkt_blockdev_close(dev);
	/* opened again: NWA = length */
	dev = image_dev_open(path, &o, err, sizeof(err));
	ck_assert_msg(dev, "%s", err);
	struct pkt_append_state as;
	ck_assert_int_eq(pkt_blockdev_append_state(dev, &as), 0);
	ck_assert_uint_eq(as.next_writable, 32);
	ck_assert_uint_eq(as.last_recorded, 31);
	ck_assert_int_eq(pkt_blockdev_read(dev, 32, 1, buf), -EIO);
	pkt_blockdev_close(dev);
	o.capacity_sectors = 20; /* less than is recorded */
	ck_assert_ptr_null(image_dev_open(path, &o, err, sizeof(err)));
	ck_assert_msg(strstr(err, "more than the capacity"), "%s", err);
	unlink(path);
}
END_TEST

/* Writers on several threads take sectors in ascending order from one allocator and write them
 * as they get to it, so packets complete out of order; a reader reads meanwhile; a small cache.
 * Nobody deadlocks, the medium sees only legal writes, and what was accepted is on it. */
struct shared_alloc {
	pthread_mutex_t lock;
	struct pkt_cache *c;
	struct append_dev *a;
	uint64_t origin, next_k, total;
	uint8_t *accepted; /* the byte of each sector whose write was accepted */
	_Atomic uint64_t refused;
};

static void *alloc_writer(void *arg)
{
	struct shared_alloc *sa = arg;
	uint8_t buf[S];

	for (;;) {
		pthread_mutex_lock(&sa->lock);
		uint64_t k = sa->next_k++;
		pthread_mutex_unlock(&sa->lock);
		if (k >= sa->total)
			return NULL;
		uint64_t lba = pkt_geometry_append_lba(pkt_cache_geometry(sa->c), sa->origin, k);
		uint8_t v = (uint8_t)(2 + k % 250);
		memset(buf, v, S);
		int rc = pkt_cache_write(sa->c, buf, S, lba * S);
		if (rc == -EROFS) {
			ck_assert_uint_lt(lba, stats_of(sa->c).next_writable);
			atomic_fetch_add(&sa->refused, 1);
		} else {
			ck_assert_int_eq(rc, 0);
			sa->accepted[lba] = v; /* each thread its own sectors */
		}
	}
}

static void *alloc_reader(void *arg)
{
	struct shared_alloc *sa = arg;
	uint8_t buf[4 * S];

	/* past what the writers reach (3000 sectors and their link sectors): zeros, never a failure */
	for (uint64_t i = 0; i < 300; i++) {
		ck_assert_int_eq(pkt_cache_read(sa->c, buf, sizeof(buf), (4000 + 6 * i) * S), 0);
		ck_assert(all_bytes(buf, sizeof(buf), 0));
	}
	return NULL;
}

START_TEST(test_append_concurrent_writers)
{
	struct append_dev a;
	struct shared_alloc sa = {.a = &a, .total = 3000};
	pthread_t w[3], r;

	append_dev_init(&a, 6000, 32, 7, 0);
	sa.c = cache_on(&a, 6, 5);
	sa.accepted = calloc(6000, 1);
	pthread_mutex_init(&sa.lock, NULL);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&w[i], NULL, alloc_writer, &sa), 0);
	ck_assert_int_eq(pthread_create(&r, NULL, alloc_reader, &sa), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(w[i], NULL);
	pthread_join(r, NULL);
	ck_assert_int_eq(pkt_cache_destroy(sa.c), 0);
	ck_assert_str_eq(a.broken, "");
	for (uint64_t s = 0; s < 6000; s++)
		if (sa.accepted[s])
			ck_assert_msg(all_bytes(a.data + s * S, S, sa.accepted[s]), "sector %" PRIu64 " differs", s);
	fprintf(stderr, "concurrent writers: %" PRIu64 " of 3000 writes met a padded packet\n",
		(uint64_t)atomic_load(&sa.refused));
	pthread_mutex_destroy(&sa.lock);
	free(sa.accepted);
	append_dev_free(&a);
}
END_TEST

/* ---- the model ---- */

/* What a sector holds: 0 zeros (never written, or padded), 1 the medium's old pattern, else the
 * byte of the user's last write there. */
static uint8_t expected_byte(uint64_t lba, uint8_t v)
{
	return v == 1 ? (uint8_t)(0x80 | (lba & 0x7f)) : v;
}

struct model {
	uint64_t seed; /* the seed the run prints */
	uint64_t rs;   /* the random state it starts */
	struct append_dev *a;
	struct pkt_cache *c;
	uint8_t *v;	     /* expected a sector (see expected_byte) */
	uint8_t *unreadable; /* link sectors, session gaps: never read */
	uint64_t refused;    /* writes that met a padded packet */
	uint32_t slots;	     /* the cache's size, and the sectors recorded before: the cfg a failure names */
	uint64_t recorded;
};

static void model_write(struct model *m, uint64_t lba, uint32_t n, uint8_t *buf)
{
	uint8_t val = (uint8_t)(2 + rng_below(&m->rs, 250));
	memset(buf, val, (size_t)n * S);
	int rc = pkt_cache_write(m->c, buf, (size_t)n * S, lba * S);
	if (rc == -EROFS) {
		/* only below the NWA to be, where a packet went padded to make room */
		uint64_t nwa = stats_of(m->c).next_writable;
		ck_assert_msg(lba < nwa,
			      "seed %" PRIu64 " (unit %u, link %u): EROFS at %" PRIu64 " above the NWA %" PRIu64,
			      m->seed, pkt_cache_geometry(m->c)->packet_sectors, pkt_cache_geometry(m->c)->link_sectors,
			      lba, nwa);
		m->refused++;
		return;
	}
	ck_assert_msg(rc == 0, "seed %" PRIu64 ": write %u at %" PRIu64 ": %d", m->seed, n, lba, rc);
	memset(m->v + lba, val, n);
}

static void model_read_check(struct model *m, uint64_t lba, uint32_t n, uint8_t *buf)
{
	for (uint32_t i = 0; i < n; i++)
		if (m->unreadable[lba + i])
			return;
	int rc = pkt_cache_read(m->c, buf, (size_t)n * S, lba * S);
	if (rc) {
		/* what the medium says of the first sector after the read: it may have changed meanwhile */
		pthread_mutex_lock(&m->a->lock);
		unsigned state = m->a->state[lba];
		uint64_t nwa = m->a->nwa;
		pthread_mutex_unlock(&m->a->lock);
		const struct pkt_geometry *g = pkt_cache_geometry(m->c);
		ck_abort_msg("seed %" PRIu64 " (unit %u, link %u, slots %u, recorded %" PRIu64 "): read %u at %" PRIu64
			     ": %d; after it sector %" PRIu64 " is %s (written %u), the medium's NWA %" PRIu64,
			     m->seed, g->packet_sectors, g->link_sectors, m->slots, m->recorded, n, lba, rc, lba,
			     state == AD_RECORDED ? "recorded"
			     : state == AD_LOST	  ? "lost"
						  : "blank",
			     m->v[lba], nwa);
	}
	for (uint32_t i = 0; i < n; i++)
		ck_assert_msg(all_bytes(buf + (size_t)i * S, S, expected_byte(lba + i, m->v[lba + i])),
			      "seed %" PRIu64 ": sector %" PRIu64 " reads wrong (want %u, got %u)", m->seed, lba + i,
			      expected_byte(lba + i, m->v[lba + i]), buf[(size_t)i * S]);
}

/* An extent of n sectors from next_writable on, skipping link sectors, written in pieces in a
 * random order. */
static void model_extent(struct model *m, uint32_t n, uint8_t *buf)
{
	const struct pkt_geometry *g = pkt_cache_geometry(m->c);
	uint64_t start, lbas[96];

	struct pkt_append_state st;
	ck_assert_int_eq(pkt_cache_next_writable(m->c, &start), 0);
	/* The packets run from the medium's NWA on (where the cache laid its grid). */
	ck_assert_int_eq(pkt_cache_append_state(m->c, &st), 0);
	uint64_t k0 = 0;
	while (pkt_geometry_append_lba(g, st.next_writable, k0) < start)
		k0++;
	if (n > 96)
		n = 96;
	uint32_t k = 0;
	for (; k < n; k++) {
		lbas[k] = pkt_geometry_append_lba(g, st.next_writable, k0 + k);
		if (lbas[k] >= g->sector_count)
			break;
	}
	for (uint32_t i = k; i > 1; i--) { /* shuffle */
		uint32_t j = (uint32_t)rng_below(&m->rs, i);
		uint64_t t = lbas[i - 1];
		lbas[i - 1] = lbas[j];
		lbas[j] = t;
	}
	for (uint32_t i = 0; i < k; i++)
		model_write(m, lbas[i], 1, buf);
}

static void mark_unreadable(struct model *m)
{
	pthread_mutex_lock(&m->a->lock);
	for (uint64_t s = 0; s < m->a->dev.geo.sector_count; s++)
		if (m->a->state[s] == AD_LOST || (m->a->state[s] == AD_BLANK && s < m->a->nwa))
			m->unreadable[s] = 1;
	pthread_mutex_unlock(&m->a->lock);
}

/* What the model's runs met, over all seeds: that the small caches made writers wait and pad. */
static uint64_t total_refused, total_padded, total_waits;

static void run_model(uint64_t seed, uint32_t unit, uint32_t link, uint32_t slots, uint64_t recorded)
{
	const uint64_t sectors = 3000;
	struct append_dev a;
	struct model m = {.seed = seed, .rs = seed * 2654435761u + 17, .a = &a, .slots = slots, .recorded = recorded};
	uint8_t *buf = malloc(96 * S);

	append_dev_init(&a, sectors, unit, link, recorded);
	m.v = calloc(sectors, 1);
	m.unreadable = calloc(sectors, 1);
	memset(m.v, 1, recorded);
	m.c = cache_on(&a, slots, 1 + (unsigned)rng_below(&m.rs, 20));
	for (int op = 0; op < 120; op++) {
		uint64_t r = rng_below(&m.rs, 100);
		uint64_t nwa;
		ck_assert_int_eq(pkt_cache_next_writable(m.c, &nwa), 0);
		if (r < 55 && nwa < sectors) {
			model_extent(&m, 1 + (uint32_t)rng_below(&m.rs, 2 * unit), buf);
		} else if (r < 85) {
			uint64_t lba = rng_below(&m.rs, sectors);
			uint32_t n = 1 + (uint32_t)rng_below(&m.rs, 24);
			if (lba + n > sectors)
				n = (uint32_t)(sectors - lba);
			mark_unreadable(&m);
			model_read_check(&m, lba, n, buf);
		} else if (r < 97) {
			ck_assert_int_eq(pkt_cache_flush(m.c), 0);
		} else {
			ck_assert_int_eq(pkt_cache_close_session(m.c, PKT_CLOSE_SESSION), 0);
		}
		ck_assert_msg(a.broken[0] == 0, "seed %" PRIu64 ": %s", seed, a.broken);
	}
	struct pkt_cache_stats st = stats_of(m.c);
	total_refused += m.refused;
	total_waits += st.slot_waits + st.congestion_waits;
	ck_assert_int_eq(pkt_cache_destroy(m.c), 0);
	total_padded += st.padded_sectors;
	ck_assert_msg(a.broken[0] == 0, "seed %" PRIu64 ": %s", seed, a.broken);
	/* the medium holds what the model says, where it is recorded */
	for (uint64_t s = 0; s < sectors; s++) {
		if (a.state[s] != AD_RECORDED) {
			ck_assert_msg(m.v[s] == 0, "seed %" PRIu64 ": sector %" PRIu64 " written but not recorded",
				      seed, s);
			continue;
		}
		ck_assert_msg(all_bytes(a.data + s * S, S, expected_byte(s, m.v[s])),
			      "seed %" PRIu64 ": medium sector %" PRIu64 " differs", seed, s);
	}
	append_dev_free(&a);
	free(m.v);
	free(m.unreadable);
	free(buf);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

START_TEST(test_append_model)
{
	static const struct {
		uint32_t unit, link, slots;
		uint64_t recorded;
	} cfg[] = {
		{16, 0, 4, 0},	 /* DVD±R, a cache of 4 ECC blocks */
		{16, 0, 32, 37}, /* an image of a disc written before, NWA not on a unit */
		{32, 7, 5, 0},	 /* CD-R variable packets */
		{32, 7, 3, 101}, /* CD-R, a tiny cache */
		{32, 0, 6, 64},	 /* BD-R */
	};
	uint64_t one = env_u64("SEED", UINT64_MAX);
	uint64_t seeds = env_u64("SEEDS", 30);

	for (uint64_t seed = one == UINT64_MAX ? 0 : one; seed < (one == UINT64_MAX ? seeds : one + 1); seed++) {
		fprintf(stderr, "append model seed %" PRIu64 "\n", seed);
		for (size_t i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++)
			run_model(seed, cfg[i].unit, cfg[i].link, cfg[i].slots, cfg[i].recorded);
	}
	fprintf(stderr,
		"append model: %" PRIu64 " writes met a padded packet, %" PRIu64 " sectors padded, %" PRIu64 " waits\n",
		total_refused, total_padded, total_waits);
	if (one == UINT64_MAX)
		ck_assert_uint_gt(total_waits, 0);
}
END_TEST

static Suite *append_suite(void)
{
	Suite *s = suite_create("pkt_cache_append");
	TCase *t = tcase_create("core");

	tcase_set_timeout(t, 300);
	tcase_add_test(t, test_append_complete_packets_at_nwa);
	tcase_add_test(t, test_append_incomplete_packet_waits_for_flush);
	tcase_add_test(t, test_append_flush_pads_and_refuses_below);
	tcase_add_test(t, test_append_reads_past_nwa_are_zeros);
	tcase_add_test(t, test_append_link_sectors);
	tcase_add_test(t, test_append_full_cache_of_waiting_packets);
	tcase_add_test(t, test_append_ascending_writer_never_refused);
	tcase_add_test(t, test_append_write_error_blocks_and_retries);
	tcase_add_test(t, test_append_read_during_zeros);
	tcase_add_test(t, test_append_congested_writer_pads_one_packet);
	tcase_add_test(t, test_append_slot_waiter_pads_one_packet);
	tcase_add_test(t, test_append_two_slot_waiters_one_packet_pad_once);
	tcase_add_test(t, test_append_two_slot_waiters_two_packets_pad_twice);
	tcase_add_test(t, test_append_close_session);
	tcase_add_test(t, test_append_calls_on_rewritable);
	tcase_add_test(t, test_append_image_file);
	tcase_add_test(t, test_append_concurrent_writers);
	tcase_add_test(t, test_append_model);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(append_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
