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

int udf_cache_fill_unused(void *ctx, uint64_t off, size_t len)
{
	return pkt_cache_fill_unused(ctx, off, len);
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

int udf_cache_move_worn(void *ctx, int (*relocate)(void *rctx, uint64_t off, uint64_t *to), void *rctx)
{
	struct rescue_ctx r = {relocate, rctx};

	return pkt_cache_move_worn(ctx, relocate_sectors, &r);
}

bool udf_cache_worn_dirty(void *ctx)
{
	return pkt_cache_has_worn(ctx);
}

/* Write-once media: where the engine may write next (past what the cache holds), the rest from the
 * medium, in bytes. */
int udf_cache_append_state(void *ctx, struct udf_append_state *out)
{
	struct pkt_append_state st;
	uint64_t next;
	int rc = pkt_cache_append_state(ctx, &st);

	if (rc == 0)
		rc = pkt_cache_next_writable(ctx, &next);
	if (rc)
		return rc;
	uint64_t end = st.next_writable + st.free_sectors; /* past the last writable sector */
	*out = (struct udf_append_state){
		.next_writable = next * PKT_SECTOR_SIZE,
		.free_bytes = (end > next ? end - next : 0) * PKT_SECTOR_SIZE,
		.recorded = st.recorded,
		.last_recorded = st.last_recorded * PKT_SECTOR_SIZE,
		.session_start = st.session_start * PKT_SECTOR_SIZE,
		.closed = st.closed,
	};
	return 0;
}

void udf_cache_io_init(struct udf_io *io, struct pkt_cache *cache, bool writable)
{
	const struct pkt_geometry *g = pkt_cache_geometry(cache);

	*io = (struct udf_io){
		.read = udf_cache_read,
		.write = writable ? udf_cache_write : NULL,
		.flush = udf_cache_flush,
		.rescue = udf_cache_rescue,
		.move_worn = udf_cache_move_worn,
		.worn_dirty = udf_cache_worn_dirty,
		.fill_unused = writable ? udf_cache_fill_unused : NULL,
		.ctx = cache,
		.size = pkt_cache_capacity_bytes(cache),
		.packet_blocks = g->packet_sectors,
	};
	if (g->append_only) {
		io->append_state = udf_cache_append_state;
		io->link_blocks = g->link_sectors;
		io->rescue = NULL; /* no spare places: a sector is written once */
		io->move_worn = NULL;
		io->worn_dirty = NULL;
		io->fill_unused = NULL; /* the cache never gathers there: it pads */
	}
}
