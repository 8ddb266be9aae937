/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The write cache of an emulated write-once drive: accepted writes wait there, oldest first, until
 * SYNCHRONIZE CACHE, a close, a full cache or the drive letting go; they reach the medium in the order
 * they came (a sequential medium is recorded in order).  A power cut records a seeded number of the
 * oldest and loses the rest, so a host that did not sync loses a tail of its writes, never a middle. */
#define _GNU_SOURCE
#include "emu_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Records the oldest held write and forgets it. */
static int destage_oldest(struct emu *e)
{
	struct emu_wo_held *h = &e->wo.held[0];
	int rc = emu_wo_record(e, h->track, h->lba, h->n, h->pad, h->data);

	if (rc)
		return rc;
	e->wo.held_bytes -= (uint64_t)h->n * SECTOR;
	free(h->data);
	memmove(&e->wo.held[0], &e->wo.held[1], (e->wo.nheld - 1) * sizeof(*h));
	e->wo.nheld--;
	return 0;
}

int emu_wo_hold(struct emu *e, uint32_t track, uint32_t lba, uint32_t n, uint32_t pad, const uint8_t *data)
{
	struct emu_wo *w = &e->wo;
	uint64_t bytes = (uint64_t)n * SECTOR;

	/* A write larger than the cache streams through it: room is made for it first. */
	while (w->nheld && w->held_bytes + bytes > w->cache_bytes) {
		int rc = destage_oldest(e);
		if (rc)
			return rc;
		e->c.destaged_packets++;
	}
	if (w->nheld == w->held_slots) {
		uint32_t slots = w->held_slots ? w->held_slots * 2 : 64;
		struct emu_wo_held *x = realloc(w->held, slots * sizeof(*x));
		if (!x)
			return -ENOMEM;
		w->held = x;
		w->held_slots = slots;
	}
	uint8_t *copy = malloc(bytes);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, bytes);
	w->held[w->nheld++] = (struct emu_wo_held){track, lba, n, pad, copy};
	w->held_bytes += bytes;
	return 0;
}

int emu_wo_destage_all(struct emu *e)
{
	while (e->wo.nheld) {
		int rc = destage_oldest(e);
		if (rc)
			return rc;
	}
	return 0;
}

void emu_wo_overlay(const struct emu *e, uint32_t lba, uint32_t n, uint8_t *buf)
{
	for (uint32_t i = 0; i < e->wo.nheld; i++) {
		const struct emu_wo_held *h = &e->wo.held[i];
		uint64_t from = h->lba > lba ? h->lba : lba;
		uint64_t to = (uint64_t)h->lba + h->n < (uint64_t)lba + n ? (uint64_t)h->lba + h->n : (uint64_t)lba + n;
		if (from < to)
			memcpy(buf + (size_t)(from - lba) * SECTOR, h->data + (size_t)(from - h->lba) * SECTOR,
			       (size_t)(to - from) * SECTOR);
		/* pads read as zeros: the image has a hole there until the write is recorded */
	}
}

void emu_wo_power_off(struct emu *e, uint64_t *written, uint64_t *lost)
{
	uint32_t keep = e->wo.nheld ? (uint32_t)(emu_rnd(e) % (e->wo.nheld + 1)) : 0;

	*written = *lost = 0;
	for (uint32_t i = 0; i < keep && destage_oldest(e) == 0; i++)
		(*written)++;
	*lost = e->wo.nheld;
	emu_wo_cache_free(e);
}

void emu_wo_cache_free(struct emu *e)
{
	for (uint32_t i = 0; i < e->wo.nheld; i++)
		free(e->wo.held[i].data);
	free(e->wo.held);
	e->wo.held = NULL;
	e->wo.nheld = e->wo.held_slots = 0;
	e->wo.held_bytes = 0;
}
