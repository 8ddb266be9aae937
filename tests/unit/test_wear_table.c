/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The bounded table of writes per packet (core/private/pkt_wear_table.h) against a reference model:
 * a plain array scanned whole for each write, as pkt_cache_stats.c did (the same space-saving rule:
 * a new packet in a full table takes the place of the least written, of equal counts the lowest
 * packet number, with that count plus one).  Random sequences, from a few packets (every count
 * exact) to many more than the table holds, uniform and skewed (a few hot packets among many cold
 * ones, as a file system's metadata among its data); after every write the looked-up counts agree,
 * and at checkpoints the whole tracked set does.  SEED=N runs one seed, SEEDS=N that many (default 12) from SEED_BASE=N;
 * every seed is printed.
 */
#define _GNU_SOURCE
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkt_wear_table.h"
#include "test_rng.h"

struct model {
	struct pkt_packet_wear e[PKT_WEAR_TRACKED];
	uint32_t n;
};

static void model_count(struct model *m, uint64_t p)
{
	uint32_t k, least = 0;

	for (k = 0; k < m->n && m->e[k].packet != p; k++)
		;
	if (k < m->n) {
		m->e[k].writes++;
		return;
	}
	if (m->n < PKT_WEAR_TRACKED) {
		m->e[m->n++] = (struct pkt_packet_wear){.packet = p, .writes = 1};
		return;
	}
	for (k = 1; k < m->n; k++)
		if (m->e[k].writes < m->e[least].writes ||
		    (m->e[k].writes == m->e[least].writes && m->e[k].packet < m->e[least].packet))
			least = k;
	m->e[least] = (struct pkt_packet_wear){.packet = p, .writes = m->e[least].writes + 1};
}

static uint64_t model_writes(const struct model *m, uint64_t p)
{
	for (uint32_t k = 0; k < m->n; k++)
		if (m->e[k].packet == p)
			return m->e[k].writes;
	return 0;
}

static int by_packet(const void *a, const void *b)
{
	const struct pkt_packet_wear *x = a, *y = b;

	return x->packet < y->packet ? -1 : x->packet > y->packet;
}

static void check_same_set(const struct pkt_wear_table *t, const struct model *m, uint64_t seed, uint64_t step)
{
	static struct pkt_packet_wear a[PKT_WEAR_TRACKED], b[PKT_WEAR_TRACKED];

	ck_assert_msg(t->n == m->n, "seed %" PRIu64 " step %" PRIu64 ": %u tracked, the model %u", seed, step, t->n,
		      m->n);
	memcpy(a, t->heap, t->n * sizeof(*a));
	memcpy(b, m->e, m->n * sizeof(*b));
	qsort(a, t->n, sizeof(*a), by_packet);
	qsort(b, m->n, sizeof(*b), by_packet);
	for (uint32_t k = 0; k < m->n; k++)
		ck_assert_msg(a[k].packet == b[k].packet && a[k].writes == b[k].writes,
			      "seed %" PRIu64 " step %" PRIu64 ": entry %u is %" PRIu64 "=%" PRIu64
			      ", the model's %" PRIu64 "=%" PRIu64,
			      seed, step, k, a[k].packet, a[k].writes, b[k].packet, b[k].writes);
}

/* One random sequence: `span` packets (far apart: packet numbers are spread over 2^40, so that the
 * hash's collisions and wrap-around are met), `hot` of them taking `hot_pct` % of the writes. */
static void run_seed(uint64_t seed)
{
	uint64_t r = seed;
	static const uint64_t spans[] = {16, 700, PKT_WEAR_TRACKED, PKT_WEAR_TRACKED + 1, 3000, 100000};
	uint64_t span = spans[rng_below(&r, sizeof(spans) / sizeof(spans[0]))];
	uint64_t hot = 1 + rng_below(&r, 64), hot_pct = rng_below(&r, 100);
	uint64_t steps = 20000 + rng_below(&r, 40000), stride = 1 + rng_below(&r, 1ull << 28);
	struct pkt_wear_table *t = calloc(1, sizeof(*t));
	struct model *m = calloc(1, sizeof(*m));

	ck_assert(t && m);
	printf("wear table: seed %" PRIu64 ": %" PRIu64 " packets (stride %" PRIu64 "), %" PRIu64 " hot taking %" PRIu64
	       "%%, %" PRIu64 " writes\n",
	       seed, span, stride, hot, hot_pct, steps);
	for (uint64_t i = 0; i < steps; i++) {
		uint64_t k = rng_below(&r, 100) < hot_pct ? rng_below(&r, hot) : rng_below(&r, span);
		uint64_t p = k * stride;
		wear_table_count(t, p);
		model_count(m, p);
		ck_assert_msg(wear_table_writes(t, p) == model_writes(m, p),
			      "seed %" PRIu64 " step %" PRIu64 ": packet %" PRIu64 " has %" PRIu64
			      ", the model %" PRIu64,
			      seed, i, p, wear_table_writes(t, p), model_writes(m, p));
		uint64_t q = rng_below(&r, span) * stride; /* any packet, tracked or not */
		ck_assert_uint_eq(wear_table_writes(t, q), model_writes(m, q));
		if (i % 4096 == 0 || i + 1 == steps)
			check_same_set(t, m, seed, i);
	}
	free(t);
	free(m);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

START_TEST(test_wear_table_model)
{
	uint64_t one = env_u64("SEED", UINT64_MAX);
	uint64_t seeds = env_u64("SEEDS", 12);

	if (one != UINT64_MAX) {
		run_seed(one);
		return;
	}
	uint64_t base = env_u64("SEED_BASE", 0x5eed0000u);
	for (uint64_t s = 0; s < seeds; s++)
		run_seed(base + s);
}
END_TEST

/* The rule's corners by hand: exact counts while the table has room, then the least written (lowest
 * packet of equal counts) replaced with its count plus one. */
START_TEST(test_wear_table_replacement)
{
	struct pkt_wear_table *t = calloc(1, sizeof(*t));

	ck_assert(t);
	ck_assert_uint_eq(wear_table_writes(t, 7), 0);
	for (uint64_t p = 0; p < PKT_WEAR_TRACKED; p++)
		for (uint64_t w = 0; w < 2 + p % 3; w++)
			wear_table_count(t, p);
	ck_assert_uint_eq(t->n, PKT_WEAR_TRACKED);
	ck_assert_uint_eq(wear_table_writes(t, 4), 3);
	/* packets 0, 3, 6 … have 2 writes, the fewest: 0 goes first, then 3 */
	wear_table_count(t, 5000);
	ck_assert_uint_eq(wear_table_writes(t, 0), 0);
	ck_assert_uint_eq(wear_table_writes(t, 5000), 3);
	wear_table_count(t, 5001);
	ck_assert_uint_eq(wear_table_writes(t, 3), 0);
	ck_assert_uint_eq(wear_table_writes(t, 5001), 3);
	ck_assert_uint_eq(wear_table_writes(t, 6), 2);
	free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wear_table");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_wear_table_replacement);
	tcase_add_test(tc, test_wear_table_model);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
