/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF engine's struct udf_io over a packet cache: the engine reads and writes bytes through the
 * cache, its flush is the cache's barrier, and its defect management is the cache's rescue of failed
 * packets, where the engine's sparing table (which speaks byte offsets) answers the cache (which
 * speaks sectors).  ctx of each callback is the struct pkt_cache.
 */
#ifndef PKTFUSE_UDF_CACHE_IO_H
#define PKTFUSE_UDF_CACHE_IO_H

#include "pkt_cache.h"
#include "udf.h"

#include <stdbool.h>

/* Fills *io for cache: size and packet size from the cache, session 0 (rewritable media in packet
 * mode are single-session; on write-once media the engine finds the last session's start in
 * append_state); write is NULL unless writable.  On write-once media (geometry append_only):
 * append_state and link_blocks from the cache, and no rescue (nor fill_unused).  The packets the engine writes run
 * from the medium's NWA (append_state before anything is cached past it), packet_blocks each,
 * link_blocks lost after each: pkt_geometry_append_lba. */
void udf_cache_io_init(struct udf_io *io, struct pkt_cache *cache, bool writable);

/* The callbacks, also for udf_format's write. */
int udf_cache_read(void *cache, uint64_t off, size_t len, void *buf);
int udf_cache_write(void *cache, uint64_t off, size_t len, const void *buf);
int udf_cache_flush(void *cache);
int udf_cache_fill_unused(void *cache, uint64_t off, size_t len);
int udf_cache_rescue(void *cache, int (*relocate)(void *rctx, uint64_t off, uint64_t *to), void *rctx);
bool udf_cache_worn_dirty(void *cache);
int udf_cache_move_worn(void *cache, int (*relocate)(void *rctx, uint64_t off, uint64_t *to), void *rctx);
int udf_cache_append_state(void *cache, struct udf_append_state *out);

#endif
