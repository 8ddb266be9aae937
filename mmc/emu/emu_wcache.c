/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated drive's volatile write cache and what a power cut does to it. */
#define _GNU_SOURCE
#include "emu_int.h"
#include "mmc_be.h"
#include "mmc_ops.h"
#include "../mmc_profiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t emu_rnd(struct emu *e)
{
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	return e->rng;
}

static uint64_t sector_mask(uint32_t first, uint32_t n)
{
	return (n >= 64 ? ~0ull : (1ull << n) - 1) << first;
}

/* Writes the first keep held sectors of h (in sector order: a packet is recorded from its start) to
 * the medium. */
static int medium_write_held(struct emu *e, const struct held *h, unsigned keep)
{
	uint32_t ps = e->p->packet;
	unsigned done = 0;

	for (uint32_t s = 0; s < ps && done < keep;) {
		if (!(h->valid >> s & 1)) {
			s++;
			continue;
		}
		uint32_t run = 0;
		while (s + run < ps && (h->valid >> (s + run) & 1) && done + run < keep)
			run++;
		size_t bytes = (size_t)run * SECTOR;
		if (pwrite(e->fd, h->data + (size_t)s * SECTOR, bytes, ((off_t)h->pkt * ps + s) * SECTOR) !=
		    (ssize_t)bytes)
			return -EIO;
		done += run;
		s += run;
	}
	return 0;
}

/* Forgets held packet i (its buffer stays in the pool). */
static void held_remove(struct emu *e, uint32_t i)
{
	struct held tmp = e->held[i];

	e->held[i] = e->held[e->nheld - 1];
	e->held[--e->nheld] = tmp;
}

static int destage(struct emu *e, uint32_t i)
{
	int rc = medium_write_held(e, &e->held[i], UINT_MAX);

	if (rc == 0)
		held_remove(e, i);
	return rc;
}

/* SYNCHRONIZE CACHE: every held packet reaches the medium, in an order of the drive's choosing. */
int emu_destage_all(struct emu *e)
{
	if (emu_write_once(e))
		return emu_wo_destage_all(e);
	while (e->nheld) {
		int rc = destage(e, (uint32_t)(emu_rnd(e) % e->nheld));
		if (rc)
			return rc;
	}
	return 0;
}

/* A write accepted by the drive lands in its cache; a full cache first writes a held packet of its
 * choosing to the medium. */
int emu_hold_write(struct emu *e, uint32_t lba, uint32_t n, const uint8_t *buf)
{
	uint32_t ps = e->p->packet;

	for (uint32_t s = 0; s < n;) {
		uint32_t pkt = (lba + s) / ps, off = (lba + s) % ps, k = ps - off < n - s ? ps - off : n - s;
		struct held *h = NULL;
		for (uint32_t i = 0; i < e->nheld && !h; i++)
			if (e->held[i].pkt == pkt)
				h = &e->held[i];
		if (!h) {
			if (e->nheld == e->held_cap) {
				int rc = destage(e, (uint32_t)(emu_rnd(e) % e->nheld));
				if (rc)
					return rc;
				e->c.destaged_packets++;
			}
			h = &e->held[e->nheld++];
			h->pkt = pkt;
			h->valid = 0;
		}
		memcpy(h->data + (size_t)off * SECTOR, buf + (size_t)s * SECTOR, (size_t)k * SECTOR);
		h->valid |= sector_mask(off, k);
		s += k;
	}
	return 0;
}

/* Reads see what the cache holds over what the medium has. */
void emu_overlay_held(const struct emu *e, uint32_t lba, uint32_t n, uint8_t *buf)
{
	uint32_t ps = e->p->packet;

	for (uint32_t i = 0; i < e->nheld; i++) {
		const struct held *h = &e->held[i];
		uint64_t start = (uint64_t)h->pkt * ps;
		for (uint32_t s = 0; s < ps; s++)
			if ((h->valid >> s & 1) && start + s >= lba && start + s < (uint64_t)lba + n)
				memcpy(buf + (size_t)(start + s - lba) * SECTOR, h->data + (size_t)s * SECTOR, SECTOR);
	}
}

/* The drive loses power: each held packet reaches the medium whole, not at all or (torn) a part of
 * it from its start, as the drive's seeded choices fall; from now on no command is answered. */
void emu_power_off(struct emu *e)
{
	uint64_t written = 0, lost = 0, torn = 0;

	if (emu_write_once(e)) /* in order: a seeded number of the oldest held writes, never torn */
		emu_wo_power_off(e, &written, &lost);
	while (e->nheld) {
		uint32_t i = (uint32_t)(emu_rnd(e) % e->nheld);
		const struct held *h = &e->held[i];
		unsigned count = (unsigned)__builtin_popcountll(h->valid);
		unsigned fate = (unsigned)(emu_rnd(e) % (e->cut_torn && count > 1 ? 3 : 2));
		if (fate == 1) {
			medium_write_held(e, h, count);
			written++;
		} else if (fate == 2) {
			medium_write_held(e, h, 1 + (unsigned)(emu_rnd(e) % (count - 1)));
			torn++;
		} else {
			lost++;
		}
		held_remove(e, i);
	}
	e->powered_off = true;
	e->c.powered_off = true;
	e->c.cut_written += written;
	e->c.cut_lost += lost;
	e->c.cut_torn += torn;
	if (e->log)
		fprintf(e->log,
			"power cut after command %" PRIu64 ": held packets written %" PRIu64 ", lost %" PRIu64
			", torn %" PRIu64 "\n",
			e->c.commands, written, lost, torn);
}

bool emu_is_medium_write_or_sync(uint8_t op)
{
	return op == MMC_OP_WRITE_10 || op == MMC_OP_WRITE_12 || op == MMC_OP_SYNCHRONIZE_CACHE;
}
