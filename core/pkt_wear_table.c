/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The bounded table of writes per packet (private/pkt_wear_table.h). */
#include "pkt_wear_table.h"

#include <stdbool.h>

_Static_assert((PKT_WEAR_HASH_SLOTS & (PKT_WEAR_HASH_SLOTS - 1)) == 0, "hash slots: a power of two");
_Static_assert(PKT_WEAR_HASH_SLOTS < UINT16_MAX && PKT_WEAR_TRACKED < UINT16_MAX, "indices fit 16 bits");

static uint32_t home_slot(uint64_t pkt)
{
	return (uint32_t)((pkt * 0x9E3779B97F4A7C15ull) >> 32) & (PKT_WEAR_HASH_SLOTS - 1);
}

static uint32_t next_slot(uint32_t s)
{
	return (s + 1) & (PKT_WEAR_HASH_SLOTS - 1);
}

/* The hash slot holding pkt, or UINT32_MAX. */
static uint32_t find_slot(const struct pkt_wear_table *t, uint64_t pkt)
{
	for (uint32_t s = home_slot(pkt); t->slot[s]; s = next_slot(s))
		if (t->heap[t->slot[s] - 1].packet == pkt)
			return s;
	return UINT32_MAX;
}

static void place(struct pkt_wear_table *t, uint32_t s, uint32_t i)
{
	t->slot[s] = (uint16_t)(i + 1);
	t->hash_slot[i] = (uint16_t)s;
}

static void hash_insert(struct pkt_wear_table *t, uint64_t pkt, uint32_t i)
{
	uint32_t s = home_slot(pkt);

	while (t->slot[s])
		s = next_slot(s);
	place(t, s, i);
}

/* Backward-shift deletion: the entries after the hole that may move into it do, so that every probe
 * sequence stays unbroken without tombstones. */
static void hash_remove(struct pkt_wear_table *t, uint32_t hole)
{
	t->slot[hole] = 0;
	for (uint32_t s = next_slot(hole); t->slot[s]; s = next_slot(s)) {
		uint32_t home = home_slot(t->heap[t->slot[s] - 1].packet);
		/* s's entry may fill the hole unless its home lies cyclically in (hole, s] */
		bool stays = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
		if (stays)
			continue;
		place(t, hole, t->slot[s] - 1u);
		t->slot[s] = 0;
		hole = s;
	}
}

static bool colder(const struct pkt_packet_wear *a, const struct pkt_packet_wear *b)
{
	return a->writes != b->writes ? a->writes < b->writes : a->packet < b->packet;
}

static void swap_entries(struct pkt_wear_table *t, uint32_t i, uint32_t j)
{
	struct pkt_packet_wear e = t->heap[i];
	uint16_t si = t->hash_slot[i], sj = t->hash_slot[j];

	t->heap[i] = t->heap[j];
	t->heap[j] = e;
	place(t, sj, i);
	place(t, si, j);
}

/* Entry i's key grew: it sinks below its colder children. */
static void sift_down(struct pkt_wear_table *t, uint32_t i)
{
	for (;;) {
		uint32_t least = i, l = 2 * i + 1, r = l + 1;
		if (l < t->n && colder(&t->heap[l], &t->heap[least]))
			least = l;
		if (r < t->n && colder(&t->heap[r], &t->heap[least]))
			least = r;
		if (least == i)
			return;
		swap_entries(t, i, least);
		i = least;
	}
}

/* A new entry at the end: it rises above its hotter parents. */
static void sift_up(struct pkt_wear_table *t, uint32_t i)
{
	while (i > 0 && colder(&t->heap[i], &t->heap[(i - 1) / 2])) {
		swap_entries(t, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

void wear_table_count(struct pkt_wear_table *t, uint64_t pkt)
{
	uint32_t s = find_slot(t, pkt);

	if (s != UINT32_MAX) {
		uint32_t i = t->slot[s] - 1u;
		t->heap[i].writes++;
		sift_down(t, i);
	} else if (t->n < PKT_WEAR_TRACKED) {
		uint32_t i = t->n++;
		t->heap[i] = (struct pkt_packet_wear){.packet = pkt, .writes = 1};
		hash_insert(t, pkt, i);
		sift_up(t, i);
	} else { /* the least written gives its place, and its count plus one, to pkt */
		hash_remove(t, t->hash_slot[0]);
		t->heap[0].packet = pkt;
		t->heap[0].writes++;
		hash_insert(t, pkt, 0);
		sift_down(t, 0);
	}
}

uint64_t wear_table_writes(const struct pkt_wear_table *t, uint64_t pkt)
{
	uint32_t s = find_slot(t, pkt);

	return s == UINT32_MAX ? 0 : t->heap[t->slot[s] - 1].writes;
}
