/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Media life: per-packet write counts of a disc kept across mounts, in the user's state directory
 * ($XDG_STATE_HOME/pktfuse, else ~/.local/state/pktfuse), one file per disc named by a hash of its UDF
 * volume set identifier.  Loaded at mount, the cache's counts of this mount added at unmount.
 */
#ifndef PKTFUSE_WEAR_H
#define PKTFUSE_WEAR_H

#include "pkt_cache.h"

#include <stddef.h>
#include <stdint.h>

struct pktfuse_wear {
	char path[4096];	 /* the record's file; "" when there is no state directory */
	char key[17];		 /* hex hash of the volume set identifier */
	char vsi_hex[257];	 /* the identifier itself, to tell a foreign file */
	uint32_t packet_sectors; /* the packets the counts are of */
	uint64_t rated;		 /* overwrites a packet of this medium is rated for, 0: none known */
	size_t n;		 /* counts of earlier mounts, most written first */
	struct pkt_packet_wear past[PKT_WEAR_TRACKED];
};

/* The state directory, created (0700) when missing.  0, or a negative errno. */
int pktfuse_state_dir(char *buf, size_t len);
/* Overwrites one packet of medium (a profile name such as "CD-RW") is rated for; 0 when unknown. */
uint64_t pktfuse_wear_rating(const char *medium);
/* The lifetime writes at which a packet moves to a spare before it fails (pkt_cache_set_wear_limit):
 * 90% of rated, 0 when there is no rating. */
uint64_t pktfuse_wear_early_limit(uint64_t rated);
/* Gives the cache that limit of w->rated and the counts of earlier mounts. */
void pktfuse_wear_arm(const struct pktfuse_wear *w, struct pkt_cache *c);
/* The record of the disc with this volume set identifier: what earlier mounts counted.  A missing
 * file is an empty record; a corrupt or foreign one is logged and ignored.  NULL when out of memory. */
struct pktfuse_wear *pktfuse_wear_open(const uint8_t vsi[128], uint32_t packet_sectors, const char *medium);
/* Earlier mounts' counts plus this cache's, most written first; returns how many (at most max). */
size_t pktfuse_wear_total(const struct pktfuse_wear *w, struct pkt_cache *c, struct pkt_packet_wear *out, size_t max);
/* Adds the cache's counts and writes the record (atomically); 0 or a negative errno (logged). */
int pktfuse_wear_save(struct pktfuse_wear *w, struct pkt_cache *c);
/* The statistics lines (wear_*); returns the length. */
size_t pktfuse_wear_render(const struct pktfuse_wear *w, struct pkt_cache *c, char *buf, size_t len);

#endif
