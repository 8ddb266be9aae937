/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A write-once medium in memory for unit tests, as strict as a real one and stricter than the
 * drive: a write is accepted only at the NWA, in whole units (the last one of the medium may be
 * short), or where link sectors follow each write (a CD-R's variable packets) one packet of at most
 * a unit a command, never over a recorded sector; the link
 * sectors after a write are lost; reading anything unrecorded fails.  A write that breaks a rule is
 * refused with -EINVAL and the first such breach is kept in `broken` for the test to show.
 * Closing a session moves the NWA past a lead-out and lead-in (AD_SESSION_GAP sectors).
 */
#ifndef PKTFUSE_TEST_APPEND_DEV_H
#define PKTFUSE_TEST_APPEND_DEV_H

#include "blockdev.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AD_SESSION_GAP 13u

enum { AD_BLANK = 0, AD_RECORDED = 1, AD_LOST = 2 };

struct append_dev {
	struct pkt_blockdev dev;
	pthread_mutex_t lock;
	uint8_t *data;
	uint8_t *state; /* AD_* a sector */
	uint64_t nwa;
	bool recorded, closed;
	uint64_t last_recorded, session_start;
	uint32_t sessions;
	uint64_t write_cmds, write_sectors, read_cmds, unrecorded_reads;
	char broken[256]; /* the first rule a write broke, "" when none */
	int fail_writes;  /* the next this many writes fail with -EIO (a medium error), recording nothing */
};

static void ad_break(struct append_dev *a, const char *what, uint64_t lba, uint32_t n)
{
	if (!a->broken[0])
		snprintf(a->broken, sizeof(a->broken), "%s: write of %u at %" PRIu64 " (NWA %" PRIu64 ")", what, n, lba,
			 a->nwa);
}

static int ad_read(struct pkt_blockdev *d, uint64_t lba, uint32_t n, void *buf)
{
	struct append_dev *a = d->priv;
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	a->read_cmds++;
	for (uint32_t i = 0; i < n; i++)
		if (a->state[lba + i] != AD_RECORDED)
			rc = -EIO;
	if (rc)
		a->unrecorded_reads++;
	else
		memcpy(buf, a->data + lba * PKT_SECTOR_SIZE, (size_t)n * PKT_SECTOR_SIZE);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

static int ad_write(struct pkt_blockdev *d, uint64_t lba, uint32_t n, const void *buf)
{
	struct append_dev *a = d->priv;
	const struct pkt_geometry *g = &d->geo;
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	if (a->fail_writes > 0) {
		a->fail_writes--;
		pthread_mutex_unlock(&a->lock);
		return -EIO;
	}
	if (a->closed)
		rc = -EROFS, ad_break(a, "closed", lba, n);
	else if (lba != a->nwa)
		rc = -EINVAL, ad_break(a, "not at the NWA", lba, n);
	else if (!g->link_sectors && n % g->packet_sectors && lba + n != g->sector_count)
		rc = -EINVAL, ad_break(a, "not whole units", lba, n);
	else if (g->link_sectors && n > g->packet_sectors)
		rc = -EINVAL, ad_break(a, "more than one packet with link sectors", lba, n);
	for (uint32_t i = 0; rc == 0 && i < n; i++)
		if (a->state[lba + i] != AD_BLANK)
			rc = -EINVAL, ad_break(a, "over a recorded sector", lba, n);
	if (rc == 0) {
		memcpy(a->data + lba * PKT_SECTOR_SIZE, buf, (size_t)n * PKT_SECTOR_SIZE);
		memset(a->state + lba, AD_RECORDED, n);
		a->recorded = true;
		a->last_recorded = lba + n - 1;
		uint64_t end = lba + n;
		for (uint32_t i = 0; i < g->link_sectors && end < g->sector_count; i++)
			a->state[end++] = AD_LOST;
		a->nwa = end;
		a->write_cmds++;
		a->write_sectors += n;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

static int ad_sync(struct pkt_blockdev *d)
{
	(void)d;
	return 0;
}

static int ad_append_state(struct pkt_blockdev *d, struct pkt_append_state *out)
{
	struct append_dev *a = d->priv;

	pthread_mutex_lock(&a->lock);
	*out = (struct pkt_append_state){.next_writable = a->nwa,
					 .free_sectors = d->geo.sector_count - a->nwa,
					 .recorded = a->recorded,
					 .last_recorded = a->last_recorded,
					 .session_start = a->session_start,
					 .sessions = a->sessions,
					 .closed = a->closed};
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int ad_close_session(struct pkt_blockdev *d, enum pkt_close_kind kind)
{
	struct append_dev *a = d->priv;

	pthread_mutex_lock(&a->lock);
	if (kind == PKT_CLOSE_FINALIZE) {
		a->closed = true;
	} else if (kind == PKT_CLOSE_SESSION) {
		a->nwa = a->nwa + AD_SESSION_GAP < d->geo.sector_count ? a->nwa + AD_SESSION_GAP : d->geo.sector_count;
		a->session_start = a->nwa;
		a->sessions++;
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static const struct pkt_blockdev_ops append_ops = {.read = ad_read,
						   .write = ad_write,
						   .sync = ad_sync,
						   .append_state = ad_append_state,
						   .close_session = ad_close_session};

/* A medium of `sectors` whose first `recorded` sectors hold a pattern (a disc written before). */
static void append_dev_init(struct append_dev *a, uint64_t sectors, uint32_t unit, uint32_t link, uint64_t recorded)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->data = calloc(sectors, PKT_SECTOR_SIZE);
	a->state = calloc(sectors, 1);
	if (!a->data || !a->state)
		abort();
	for (uint64_t s = 0; s < recorded; s++) {
		memset(a->data + s * PKT_SECTOR_SIZE, (int)(0x80 | (s & 0x7f)), PKT_SECTOR_SIZE);
		a->state[s] = AD_RECORDED;
	}
	a->nwa = recorded;
	a->recorded = recorded > 0;
	a->last_recorded = recorded ? recorded - 1 : 0;
	a->sessions = 1;
	a->dev.ops = &append_ops;
	a->dev.priv = a;
	a->dev.geo = (struct pkt_geometry){.sector_size = PKT_SECTOR_SIZE,
					   .packet_sectors = unit,
					   .sector_count = sectors,
					   .writable = true,
					   .append_only = true,
					   .link_sectors = link};
}

static inline void append_dev_fail_writes(struct append_dev *a, int n)
{
	pthread_mutex_lock(&a->lock);
	a->fail_writes = n;
	pthread_mutex_unlock(&a->lock);
}

/* Write commands so far, read while the flusher may write. */
static inline uint64_t append_dev_writes(struct append_dev *a)
{
	pthread_mutex_lock(&a->lock);
	uint64_t n = a->write_cmds;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static void append_dev_free(struct append_dev *a)
{
	pthread_mutex_destroy(&a->lock);
	free(a->data);
	free(a->state);
}

#endif
