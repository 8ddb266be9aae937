/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The packet cache's geometry and statistics. */
#define _GNU_SOURCE
#include "pkt_cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct pkt_geometry *pkt_cache_geometry(const struct pkt_cache *c)
{
	return &c->geo;
}

uint64_t pkt_cache_capacity_bytes(const struct pkt_cache *c)
{
	return c->geo.sector_count * PKT_SECTOR_SIZE;
}

void pkt_cache_get_stats(struct pkt_cache *c, struct pkt_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	st->dirty_packets = c->ndirty;
	st->next_writable = c->append ? c->accept : 0;
	st->cached_packets = c->ncached;
	/* write-once media: a slot's sectors are its own, held while it holds a packet */
	st->pool_sectors_held = c->append ? (uint64_t)c->ncached * c->stride : c->pool_sectors - c->nfree;
	st->pool_sectors_dirty = c->ndirty_sect;
	pthread_mutex_unlock(&c->lock);
}

size_t pkt_cache_format_stats(struct pkt_cache *c, char *buf, size_t len)
{
	struct pkt_cache_stats s;
	size_t used;
	int n;

	if (len == 0)
		return 0;
	pkt_cache_get_stats(c, &s);
	double wa = s.user_write_bytes ? (double)s.medium_write_bytes / (double)s.user_write_bytes : 0.0;
	n = snprintf(buf, len,
		     "sector_size: %u\n"
		     "packet_sectors: %u\n"
		     "capacity_bytes: %" PRIu64 "\n"
		     "writable: %d\n"
		     "cache_bytes: %" PRIu64 "\n"
		     "cache_packets: %" PRIu64 "\n"
		     "cache_memory_locked: %d\n"
		     "cached_packets: %" PRIu64 "\n"
		     "dirty_packets: %" PRIu64 "\n"
		     "pool_sectors: %" PRIu64 "\n"
		     "pool_sectors_held: %" PRIu64 "\n"
		     "pool_sectors_dirty: %" PRIu64 "\n"
		     "user_read_bytes: %" PRIu64 "\n"
		     "user_write_bytes: %" PRIu64 "\n"
		     "medium_write_bytes: %" PRIu64 "\n"
		     "packets_written: %" PRIu64 "\n"
		     "write_commands: %" PRIu64 "\n"
		     "gather_read_sectors: %" PRIu64 "\n"
		     "gather_read_commands: %" PRIu64 "\n"
		     "unused_zero_sectors: %" PRIu64 "\n"
		     "miss_read_sectors: %" PRIu64 "\n"
		     "miss_read_commands: %" PRIu64 "\n"
		     "cache_hits: %" PRIu64 "\n"
		     "cache_misses: %" PRIu64 "\n"
		     "flushes: %" PRIu64 "\n"
		     "syncs: %" PRIu64 "\n"
		     "congestion_waits: %" PRIu64 "\n"
		     "slot_waits: %" PRIu64 "\n"
		     "pool_waits: %" PRIu64 "\n"
		     "evictions: %" PRIu64 "\n"
		     "write_errors: %" PRIu64 "\n"
		     "relocated_packets: %" PRIu64 "\n"
		     "worn_moved_packets: %" PRIu64 "\n"
		     "read_errors: %" PRIu64 "\n"
		     "write_amplification: %.3f\n",
		     c->geo.sector_size, c->geo.packet_sectors, pkt_cache_capacity_bytes(c), c->geo.writable,
		     s.cache_bytes, s.capacity_packets, s.memory_locked, s.cached_packets, s.dirty_packets,
		     s.pool_sectors, s.pool_sectors_held, s.pool_sectors_dirty, s.user_read_bytes, s.user_write_bytes,
		     s.medium_write_bytes, s.packets_written, s.write_commands, s.gather_read_sectors,
		     s.gather_read_commands, s.unused_zero_sectors, s.miss_read_sectors, s.miss_read_commands,
		     s.cache_hits, s.cache_misses, s.flushes, s.syncs, s.congestion_waits, s.slot_waits, s.pool_waits,
		     s.evictions, s.write_errors, s.relocated_packets, s.worn_moved_packets, s.read_errors, wa);
	if (n < 0)
		return 0;
	used = (size_t)n < len ? (size_t)n : len - 1;
	if (c->append && used < len - 1) {
		n = snprintf(buf + used, len - used,
			     "append_only: 1\n"
			     "link_sectors: %u\n"
			     "next_writable: %" PRIu64 "\n"
			     "padded_sectors: %" PRIu64 "\n",
			     c->geo.link_sectors, s.next_writable, s.padded_sectors);
		if (n > 0)
			used += (size_t)n < len - used ? (size_t)n : len - used - 1;
	}
	if (used < len - 1)
		used += pkt_blockdev_describe(c->dev, buf + used, len - used);
	return used;
}

void cache_count_writes(struct pkt_cache *c, uint64_t lba, uint32_t count)
{
	if (c->append || !count) /* write-once media never overwrite */
		return;
	for (uint64_t p = lba / c->ps; p <= (lba + count - 1) / c->ps; p++)
		wear_table_count(&c->wear, p);
}

static int by_packet(const void *a, const void *b)
{
	const struct pkt_packet_wear *x = a, *y = b;

	return x->packet < y->packet ? -1 : x->packet > y->packet;
}

void pkt_cache_set_wear_limit(struct pkt_cache *c, uint64_t limit, const struct pkt_packet_wear *past, size_t n)
{
	pthread_mutex_lock(&c->lock);
	n = n < PKT_WEAR_TRACKED ? n : PKT_WEAR_TRACKED;
	memcpy(c->wear_past, past, n * sizeof(*past));
	qsort(c->wear_past, n, sizeof(*past), by_packet);
	c->nwear_past = (uint32_t)n;
	c->wear_limit = c->append ? 0 : limit; /* write-once media never overwrite */
	pthread_mutex_unlock(&c->lock);
}

uint64_t cache_lifetime_writes(const struct pkt_cache *c, uint64_t pkt)
{
	struct pkt_packet_wear key = {.packet = pkt};
	const struct pkt_packet_wear *past = bsearch(&key, c->wear_past, c->nwear_past, sizeof(key), by_packet);

	return (past ? past->writes : 0) + wear_table_writes(&c->wear, pkt);
}

static int hotter_first(const void *a, const void *b)
{
	const struct pkt_packet_wear *x = a, *y = b;

	if (x->writes != y->writes)
		return x->writes < y->writes ? 1 : -1;
	return x->packet < y->packet ? -1 : x->packet > y->packet;
}

size_t pkt_cache_hot_packets(struct pkt_cache *c, struct pkt_packet_wear *out, size_t max)
{
	struct pkt_packet_wear *all = malloc(sizeof(c->wear.heap));

	if (!all)
		return 0;
	pthread_mutex_lock(&c->lock);
	size_t n = c->wear.n;
	memcpy(all, c->wear.heap, n * sizeof(*all));
	pthread_mutex_unlock(&c->lock);
	qsort(all, n, sizeof(*all), hotter_first);
	n = n < max ? n : max;
	memcpy(out, all, n * sizeof(*out));
	free(all);
	return n;
}
