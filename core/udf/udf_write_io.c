/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The writer's block I/O: partition blocks written through the sparing table, the barrier that
 * makes them durable, and defect management (a packet the medium cannot write moved into a spare).
 * Under fs->lock; while a commit is encoded (w->snap), writes and barriers are recorded for it.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

/* A commit being encoded records its writes (w->snap, udf_commit_io.c); else they are sent. */
static bool recording(const struct udf_fs *fs)
{
	return fs->w && fs->w->snap && fs->w->snap->encoding;
}

/*
 * Blocks nobody needs (free in the in-memory bitmap): the cache may write zeros there instead of
 * reading them back to complete a packet.  Safe because a free block is referenced by no state
 * that is or may become durable: frees wait for the commit that drops the block (apply_frees), a
 * moving entry's chain stays marked used until a barrier made it unreachable (udf_move.c), and the
 * check after an unclean shutdown only marks more blocks used.  So the hint zeros only blocks the
 * allocator could hand out now, which it would overwrite without reading either; and only once the
 * bitmap is trusted (w->hints_trusted: not before the check of a disc left open).  Also, where the
 * hint is sent at once (under fs->lock), blocks taken by this mount and not written since
 * (w->unwritten: the new entries a commit writes after the barrier that sends their packets' file
 * data): never written, nothing is in them; any write marks its blocks written first, before the
 * data can reach the cache, so a hint never zeros what someone wrote.  Partition blocks
 * only: the volume structures, the sparing tables and the spares are outside, the metadata file and
 * its mirror are used blocks of the partition (their unused blocks are not hinted), and write-once
 * media never gather.
 */
static bool hintable(const struct udf_w *w, uint64_t b, bool unwritten_too)
{
	return udf_bm_is_free(w, b) || (unwritten_too && udf_unwritten_block(w, b));
}

void udf_unused_runs(struct udf_fs *fs, uint32_t lbn, uint32_t n, bool unwritten_too,
		     void (*found)(void *ctx, uint32_t b, uint32_t k), void *ctx)
{
	struct udf_w *w = fs->w;

	if (!w || !w->hints_trusted || w->vat || !fs->io.fill_unused || w->pkt <= 1 || n == 0)
		return;
	uint64_t last_start = UINT64_MAX;
	for (int end = 0; end < 2; end++) {
		uint64_t b = end ? (uint64_t)lbn + n - 1 : lbn;
		/* the packet of b: [pkt_off + k * pkt, + pkt), and the one the partition starts inside */
		uint64_t start = b < w->pkt_off ? 0 : w->pkt_off + (b - w->pkt_off) / w->pkt * w->pkt;
		uint64_t stop = b < w->pkt_off ? w->pkt_off : start + w->pkt;
		if (start == last_start)
			break; /* the run starts and ends in one packet */
		last_start = start;
		if (stop > w->nbits)
			stop = w->nbits;
		for (uint64_t f = start; f < stop;) {
			if (!hintable(w, f, unwritten_too)) {
				f++;
				continue;
			}
			uint32_t k = 1;
			while (f + k < stop && hintable(w, f + k, unwritten_too))
				k++;
			found(ctx, (uint32_t)f, k);
			f += k;
		}
	}
}

int udf_map_unused(struct udf_fs *fs, uint32_t lbn, uint32_t n,
		   int (*add)(void *ctx, uint32_t lbn, uint64_t off, size_t len), void *ctx)
{
	for (uint32_t i = 0; i < n;) {
		uint64_t s0, s;
		if (udf_map_block(fs, 0, lbn + i, &s0) != 0)
			return 0; /* not a block writes reach: no hint */
		uint32_t k = 1;
		while (i + k < n && udf_map_block(fs, 0, lbn + i + k, &s) == 0 && s == s0 + k)
			k++;
		int rc = add(ctx, lbn + i, s0 * fs->bs, (size_t)k * fs->bs);
		if (rc)
			return rc;
		i += k;
	}
	return 0;
}

static int send_one(void *ctx, uint32_t lbn, uint64_t off, size_t len)
{
	struct udf_fs *fs = ctx;

	(void)lbn;
	fs->io.fill_unused(fs->io.ctx, off, len); /* a hint: a refusal only costs a read */
	return 0;
}

void udf_send_unused(struct udf_fs *fs, uint32_t lbn, uint32_t n)
{
	if (fs->io.fill_unused)
		udf_map_unused(fs, lbn, n, send_one, fs);
}

static void send_found(void *ctx, uint32_t b, uint32_t k)
{
	udf_send_unused(ctx, b, k);
}

int udf_write_lb(struct udf_fs *fs, uint32_t lbn, const void *buf)
{
	return udf_write_run(fs, lbn, 1, buf);
}

/* Writes n consecutive partition blocks, in runs of consecutive medium sectors. */
int udf_write_run(struct udf_fs *fs, uint32_t lbn, uint32_t n, const uint8_t *buf)
{
	uint32_t i = 0;

	if (fs->w && fs->w->vat)
		return udf_vat_stage(fs, lbn, n, buf);
	/* written from now on, even while only recorded: a hint sent later must not zero them */
	if (fs->w)
		udf_written(fs->w, lbn, n);
	while (i < n) {
		uint64_t s0, s;
		int rc = udf_map_block(fs, 0, lbn + i, &s0);
		if (rc)
			return rc;
		uint32_t k = 1;
		while (i + k < n && udf_map_block(fs, 0, lbn + i + k, &s) == 0 && s == s0 + k)
			k++;
		const uint8_t *p = buf + (size_t)i * fs->bs;
		rc = recording(fs) ? udf_snap_write(fs, lbn + i, s0 * fs->bs, (size_t)k * fs->bs, p)
				   : fs->io.write(fs->io.ctx, s0 * fs->bs, (size_t)k * fs->bs, p);
		if (rc)
			return rc;
		i += k;
	}
	/* The packets written are cached now: the free rest of them need not be read back.  A commit
	 * being encoded hints when its encoding ends (udf_commit_io.c), holding those blocks. */
	if (!recording(fs))
		udf_unused_runs(fs, lbn, n, true, send_found, fs);
	return 0;
}

/* Writes a volume structure outside the partition (the LVID) at a byte offset of the medium. */
int udf_write_bytes(struct udf_fs *fs, uint64_t off, size_t len, const void *buf)
{
	return recording(fs) ? udf_snap_write(fs, UINT32_MAX, off, len, buf) : fs->io.write(fs->io.ctx, off, len, buf);
}

/*
 * Defect management (UDF 2.2.12): a packet of the sparable partition that cannot be written is
 * given a spare packet, recorded in every copy of the sparing table (entries kept sorted, the
 * sequence number raised); a spare that fails in turn is marked defective and replaced.  Called
 * back by io.rescue, under the engine's lock (the commit holds it).
 */
static int relocate_packet(void *ctx, uint64_t off, uint64_t *to)
{
	struct udf_fs *fs = ctx;
	struct part *p = &fs->parts[0];
	uint8_t *t = p->stable_raw;
	uint64_t sector = off / fs->bs;
	uint32_t n = le16(t + ST_NUM_ENTRIES), orig = UINT32_MAX;

	if (ST_MAP + (unsigned long long)STE_SIZE * n > p->stable_bytes || !p->packet_len)
		return -EIO;
	if (sector >= p->start && sector < p->start + p->len) {
		if ((sector - p->start) % p->packet_len)
			return -EIO;
		orig = (uint32_t)(sector - p->start);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *e = t + ST_MAP + STE_SIZE * i;
			if (le32(e + STE_MAPPED) == sector && le32(e + STE_ORIGINAL) < 0xFFFFFFF0u) {
				orig = le32(e + STE_ORIGINAL);
				put_le32(e + STE_ORIGINAL, 0xFFFFFFF0u); /* this spare is worn too */
				break;
			}
		}
		if (orig == UINT32_MAX)
			return -EIO; /* not a packet the sparing table can move */
	}
	uint8_t *freee = NULL;
	for (uint32_t i = 0; i < n && !freee; i++)
		if (le32(t + ST_MAP + STE_SIZE * i) == 0xFFFFFFFFu)
			freee = t + ST_MAP + STE_SIZE * i;
	if (!freee) {
		if (fs->w)
			fs->w->spares_gone = true;
		return -ENOSPC; /* every spare is used */
	}
	put_le32(freee + STE_ORIGINAL, orig);
	if (fs->w && !udf_sparing_free(p))
		fs->w->spares_gone = true; /* this write goes on; no change after it */
	*to = (uint64_t)le32(freee + STE_MAPPED) * fs->bs;
	/* entries in ascending order of their original location (free and defective ones last) */
	for (uint32_t i = 1; i < n; i++) {
		for (uint32_t k = i; k > 0 && le32(t + ST_MAP + STE_SIZE * (k - 1)) > le32(t + ST_MAP + STE_SIZE * k);
		     k--) {
			uint8_t tmp[STE_SIZE];
			memcpy(tmp, t + ST_MAP + STE_SIZE * k, STE_SIZE);
			memcpy(t + ST_MAP + STE_SIZE * k, t + ST_MAP + STE_SIZE * (k - 1), STE_SIZE);
			memcpy(t + ST_MAP + STE_SIZE * (k - 1), tmp, STE_SIZE);
		}
	}
	put_le32(t + ST_SEQ_NUM, le32(t + ST_SEQ_NUM) + 1);
	p->nspare = 0;
	for (uint32_t i = 0; i < n && p->nspare < p->nspare_cap; i++) {
		uint32_t o = le32(t + ST_MAP + STE_SIZE * i + STE_ORIGINAL);
		if (o < 0xFFFFFFF0u)
			p->spare[p->nspare++] = (struct sparing_entry){o, le32(t + ST_MAP + STE_SIZE * i + STE_MAPPED)};
	}
	/* a copy that cannot be written leaves the others; the next flush reports it */
	udf_sparing_write(fs, (1u << p->nstable) - 1);
	fs->sf.relocated++;
	return 0;
}

int udf_sparing_write(struct udf_fs *fs, unsigned copies)
{
	struct part *p = &fs->parts[0];
	uint8_t *t = p->stable_raw;
	int first = 0;

	for (uint32_t c = 0; c < p->nstable; c++) {
		if (!(copies & 1u << c))
			continue;
		put_le32(t + TAG_LOCATION, p->stable_loc[c]);
		udf_tag_finish(t, p->stable_bytes);
		int rc = fs->io.write(fs->io.ctx, (uint64_t)p->stable_loc[c] * fs->bs, p->stable_bytes, t);
		if (rc == 0)
			p->stable_stale &= ~(1u << c);
		else
			p->stable_stale |= 1u << c;
		if (rc && !first)
			first = rc;
	}
	return first;
}

/* Free spares that early moves never take, so that packets which fail with a real defect (or wear
 * out sooner than their count says: the count is lost with the wear record, a disc used elsewhere) still
 * find one and the disc stays writable: a quarter of the table, at least 2 (CD-RW as pktfuse and mkudffs
 * format it: 32 spares, 24 for early moves, 8 kept). */
static uint32_t spares_kept_for_defects(const struct part *p)
{
	uint32_t n = le16(p->stable_raw + ST_NUM_ENTRIES) / 4;

	return n > 2 ? n : 2;
}

/* Media life: a packet nearing its rated overwrites (a partition packet, or a spare that took one
 * earlier) goes to a spare before it fails, as a failed one does (relocate_packet), while more than
 * the spares kept for defects are free.  The spare that this move was just given and that failed
 * is replaced regardless: the move is under way and recorded. */
static int relocate_worn_packet(void *ctx, uint64_t off, uint64_t *to)
{
	struct udf_fs *fs = ctx;
	struct part *p = &fs->parts[0];
	bool failed_spare = fs->w && fs->w->early_spare == off / fs->bs;

	if (!fs->w || (!failed_spare && udf_sparing_free(p) <= spares_kept_for_defects(p)))
		return -ENOSPC;
	int rc = relocate_packet(ctx, off, to);
	if (rc == 0 && !failed_spare)
		fs->sf.moved_early++;
	fs->w->early_spare = rc == 0 ? *to / fs->bs : 0;
	return rc;
}

/* Defect management only at 2048-byte blocks, where a block is the cache's sector. */
static bool spares_usable(const struct udf_fs *fs)
{
	return fs->parts[0].kind == PART_SPARABLE && fs->parts[0].stable_raw && fs->bs == 2048;
}

/* A failed flush may be a packet defect management moves. */
bool udf_can_rescue(const struct udf_fs *fs)
{
	return fs->io.rescue && spares_usable(fs);
}

/* Before a flush, a packet nearing its rated overwrites may be moved to a spare (media life). */
bool udf_can_move_worn(const struct udf_fs *fs)
{
	return fs->io.move_worn && spares_usable(fs) && fs->w && !fs->w->spares_gone;
}

static int barrier_once(struct udf_fs *fs)
{
	if (recording(fs))
		return udf_snap_barrier(fs);
	if (!fs->io.flush)
		return 0;
	if (udf_can_move_worn(fs)) {
		fs->w->early_spare = 0;
		fs->io.move_worn(fs->io.ctx, relocate_worn_packet, fs); /* a failed write is the flush's to report */
	}
	int rc = fs->io.flush(fs->io.ctx);
	if (rc == -EIO && udf_can_rescue(fs) && fs->io.rescue(fs->io.ctx, relocate_packet, fs) == 0)
		rc = fs->io.flush(fs->io.ctx); /* the moved packets and the sparing tables, synced */
	return rc;
}

int udf_barrier(struct udf_fs *fs)
{
	int rc = barrier_once(fs);

	/* a metadata partition: what the metadata file got before this barrier now goes to the mirror,
	 * so that at any moment one copy is a whole state (udf_meta_write.c) */
	if (rc == 0 && (rc = udf_meta_mirror(fs)) == 1)
		rc = barrier_once(fs);
	return rc;
}
