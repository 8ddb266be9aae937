/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes per packet for the wear record, in bounded memory: the "space-saving" table of
 * PKT_WEAR_TRACKED packets (pkt_cache.h).  The first packets written are tracked with exact counts;
 * once the table is full a new packet takes the place of the least written one (of equal counts, the
 * lowest packet number), with that count plus one, so that a count is never below the truth.
 *
 * Every operation is constant time (the flusher counts each packet it writes under the cache's lock):
 * an open-addressing hash (linear probing, backward-shift deletion, at most half full) finds a
 * packet's entry, and the entries form a binary min-heap on (writes, packet), so that the one to
 * replace is at the root.  Fixed size, inside the owner's struct: nothing is allocated, and a table
 * of zeros (calloc) is empty.  Not thread-safe: the owner locks.
 */
#ifndef PKTFUSE_PKT_WEAR_TABLE_H
#define PKTFUSE_PKT_WEAR_TABLE_H

#include "pkt_cache.h"

#include <stdint.h>

#define PKT_WEAR_HASH_SLOTS (2 * PKT_WEAR_TRACKED) /* a power of two */

struct pkt_wear_table {
	struct pkt_packet_wear heap[PKT_WEAR_TRACKED]; /* min-heap on (writes, packet) */
	uint16_t hash_slot[PKT_WEAR_TRACKED];	       /* heap entry i's place in slot[] */
	uint16_t slot[PKT_WEAR_HASH_SLOTS];	       /* heap index + 1; 0: empty */
	uint32_t n;
};

/* One more write of packet pkt. */
void wear_table_count(struct pkt_wear_table *t, uint64_t pkt);
/* The tracked count of pkt; 0 when it is not tracked. */
uint64_t wear_table_writes(const struct pkt_wear_table *t, uint64_t pkt);

#endif
