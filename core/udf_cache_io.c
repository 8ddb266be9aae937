/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "udf_cache_io.h"

/* The UDF engine reads and writes through the packet cache. */
int udf_cache_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	return pkt_cache_read(ctx, buf, len, off);
}

int udf_cache_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	return pkt_cache_write(ctx, buf, len, off);
}

int udf_cache_flush(void *ctx)
{
	return pkt_cache_flush(ctx);
}

/* Defect management: the cache rewrites failed packets, the engine's sparing table says where. */
struct rescue_ctx {
	int (*relocate)(void *rctx, uint64_t off, uint64_t *to);
	void *rctx;
};

static int relocate_sectors(void *ctx, uint64_t lba, uint64_t *to)
{
	struct rescue_ctx *r = ctx;
	uint64_t off;
	int rc = r->relocate(r->rctx, lba * PKT_SECTOR_SIZE, &off);

	*to = off / PKT_SECTOR_SIZE;
	return rc;
}

int udf_cache_rescue(void *ctx, int (*relocate)(void *rctx, uint64_t off, uint64_t *to), void *rctx)
{
	struct rescue_ctx r = {relocate, rctx};

	return pkt_cache_rescue_failed(ctx, relocate_sectors, &r);
}

void udf_cache_io_init(struct udf_io *io, struct pkt_cache *cache, bool writable)
{
	const struct pkt_geometry *g = pkt_cache_geometry(cache);

	*io = (struct udf_io){
		.read = udf_cache_read,
		.write = writable ? udf_cache_write : NULL,
		.flush = udf_cache_flush,
		.rescue = udf_cache_rescue,
		.ctx = cache,
		.size = pkt_cache_capacity_bytes(cache),
		.packet_blocks = g->packet_sectors,
	};
}
