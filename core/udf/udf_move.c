/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File entries that move (media life: the entry every commit rewrites, a busy directory's or the
 * root's, would wear its packet out).  ECMA-167 4/14.6.2, ICB strategy 4096: a reader of the file
 * entry at L (the inode's block, which every FID names) whose ICB tag says 4096 looks at L+1; an
 * Indirect Entry there with a non-empty extent sends it on to the entry it names, and so on (Linux's
 * udf_read_inode follows 1,024 of them, pktfuse's reader MAX_ICB_HOPS).  So an entry moves without
 * anything above it changing:
 *   - its chain: L, c1, ..., cn (node->chain), each a pair (entry, indirect entry); the newest's
 *     indirect entry is a terminal one (extent length 0), never a stale one a reader would follow;
 *   - a move to a new pair N: the commit's second step writes the entry at N and a terminal indirect
 *     entry at N+1 (not yet reachable), the barrier, then its third step writes one block, the
 *     indirect entry after the newest pair, pointing to N: the atomic switch;
 *   - compaction: when the chain reaches CHAIN_MAX_HOPS the switch is written at L+1 instead,
 *     pointing straight to N; the pairs between become free once that commit is done.  L's packet
 *     is written once per CHAIN_MAX_HOPS moves;
 *   - a strategy-4 entry converts when L+1 is free: a terminal indirect entry at L+1 in the second
 *     step, the entry at L with strategy 4096 in the third;
 *   - at unmount the chains fold back: each newest entry written at L with strategy 4 (one block:
 *     before it the chain reads the same contents, after it L alone), a barrier, then the chain's
 *     other blocks are free.  A cleanly unmounted disc has no chains, as before.
 * Directories move when a commit rewrites their contents (their entry is what every commit in a
 * busy directory rewrites), regular files when a commit after the one that created them rewrites
 * their entry (a log appended and synced, a file overwritten and synced; their changed data blocks
 * are copied, udf_extent.c cow_rewrites), on the plain and sparable layouts and in a metadata
 * partition (UDF 2.50+): there the chain's blocks are the metadata partition's, taken from and given
 * back to its bitmap, and written through udf_write_in like every block of it, so the mirror gets
 * each after the next barrier (udf_meta_write.c), before the switch that makes it reachable; when
 * the metadata partition has no room (a move never grows its file: ALLOC_NO_GROW) the entry is rewritten in place.
 * Write-once media move entries through the VAT.  Under fs->lock.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_w.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The indirect entry at block `at` of partition map part, naming block `to` there (UINT32_MAX: a
 * terminal one). */
static void put_ie(struct udf_fs *fs, uint8_t *b, uint16_t part, uint32_t at, uint32_t to)
{
	memset(b, 0, fs->bs);
	put_le16(b + ICB_STRATEGY_TYPE, 4096);
	put_le16(b + ICB_STRATEGY_PARAM, 1);
	put_le16(b + ICB_MAX_ENTRIES, 2);
	b[ICB_FILE_TYPE] = 3; /* an indirect entry (4/14.6.6) */
	if (to != UINT32_MAX) {
		put_le32(b + IE_INDIRECT_ICB + AD_LEN, fs->bs);
		put_le32(b + IE_INDIRECT_ICB + LAD_LBN, to);
	}
	put_le16(b + IE_INDIRECT_ICB + LAD_PART, part);
	udf_put_vol_tag(fs, b, TAG_IE, at, IE_INDIRECT_ICB + LAD_SIZE - TAG_SIZE);
	udf_tag_finish(b, fs->bs);
}

static int write_ie(struct udf_fs *fs, const struct node *n, uint32_t at, uint32_t to)
{
	uint8_t *b = fs->w->buf;
	uint16_t part = udf_ino_part(n->ino);

	put_ie(fs, b, part, at, to);
	return udf_write_in(fs, part, at, 1, b);
}

/* The layouts whose entries move: rewritable (no VAT), the entries where the writer puts new ones
 * (the partition, or the metadata partition). */
static bool layout_moves(const struct udf_fs *fs, const struct node *n)
{
	return !fs->w->vat && udf_ino_part(n->ino) == udf_meta_part(fs);
}

/* The allocator's state of the space n's entry and chain are in. */
static struct udf_w *space_of(struct udf_fs *fs, const struct node *n)
{
	struct udf_w *w = fs->w;

	return w->meta && udf_ino_part(n->ino) == udf_meta_part(fs) ? udf_meta_space(w) : w;
}

/* After the next commit, count blocks from lbn of n's space are free. */
static void free_later(struct udf_fs *fs, const struct node *n, uint32_t lbn, uint32_t count)
{
	udf_free_in(fs, udf_ino_part(n->ino), lbn, count);
}

static uint32_t icb_lbn(const struct node *n)
{
	return (uint32_t)(n->ino - INO_BASE);
}

/* The blocks of n's chain that unmount frees (all but the newest entry, which goes to L). */
uint32_t udf_move_chain_extra(const struct node *n)
{
	return n->nchain ? 2 * n->nchain - 1 : 0;
}

/* After n's chain changed from `before` extra blocks: statfs's count of them follows. */
static void chain_changed(struct udf_fs *fs, const struct node *n, uint32_t before)
{
	fs->w->chain_blocks = fs->w->chain_blocks - before + udf_move_chain_extra(n);
	udf_update_sf(fs);
}

/* The entries a commit rewrites again and again: a directory's whose contents changed, a regular
 * file's (its size, times or extents: an appended log, a database overwritten and synced). */
static bool moves_kind(const struct node *n)
{
	return n->file_type == 4 || (n->file_type == 5 && n->lea == 0);
}

static bool entry_rewritten(const struct node *n)
{
	/* a file with extended attributes (another writer's) stays: their header's tag names the
	 * entry's block, which the writer does not retag (not done) */
	return n->file_type == 4 ? n->dir_dirty : n->file_type == 5 && n->lea == 0;
}

bool udf_move_strat4096(const struct node *n)
{
	return n->mv_kind == MV_CONVERT || n->mv_kind == MV_MOVE || (n->nchain > 0 && n->mv_kind != MV_FOLD);
}

/* Step 2 of a commit, before the node's new places are chosen: whether its entry moves (or
 * converts), with the blocks for it taken.  Never fails: without room it is rewritten in place. */
void udf_move_plan(struct udf_fs *fs, struct node *n)
{
	n->mv_kind = MV_NONE;
	if (n->is_new || n->dead || n->ro_node || !n->hdr || !entry_rewritten(n) || !layout_moves(fs, n))
		return;
	/* the reserve and continuation blocks are kept where entries are (ALLOC_META) */
	struct udf_w *w = fs->w, *sw = space_of(fs, n);
	if (sw->free_blocks <= w->reserve + 2 + udf_aeds_needed(fs, n))
		return; /* what the commit needs to rewrite the directories and n's extents comes first */
	if (n->nchain == 0) {
		uint32_t l = icb_lbn(n);
		if (n->fe_lbn != l || l + 1 >= sw->nbits || !udf_bm_is_free(sw, l + 1))
			return;
		udf_space_take(fs, sw, l + 1, 1);
		n->mv_kind = MV_CONVERT;
		return;
	}
	uint32_t lbn, got;
	if (udf_alloc_blocks(fs, UINT64_MAX, 2, ALLOC_META | ALLOC_NO_GROW, &lbn, &got) != 0)
		return;
	if (got < 2) {
		free_later(fs, n, lbn, got);
		if (udf_alloc_exact(fs, 2, ALLOC_META | ALLOC_NO_GROW, &lbn) != 0)
			return;
	}
	n->mv_kind = MV_MOVE;
	n->mv_to = lbn;
	n->fe_lbn = lbn; /* what the rewrite records (embedded FIDs, continuation blocks) names it */
}

/* A new directory's or regular file's entry at L gets L+1 too when it is free: strategy 4096 from the start. */
void udf_move_reserve_new(struct udf_fs *fs, struct node *n)
{
	uint32_t l = icb_lbn(n);

	if (!moves_kind(n) || !layout_moves(fs, n))
		return;
	struct udf_w *sw = space_of(fs, n);
	if (n->fe_lbn != l || l + 1 >= sw->nbits || !udf_bm_is_free(sw, l + 1) || sw->free_blocks <= fs->w->reserve + 1)
		return;
	n->chain = malloc(4 * sizeof(*n->chain));
	if (!n->chain)
		return;
	udf_space_take(fs, sw, l + 1, 1);
	n->chain[0] = l;
	n->nchain = 1;
	n->chain_cap = 4;
	chain_changed(fs, n, 0);
}

/* Step 2, with the new entries: a new entry (and its terminal indirect entry), a moving entry's new
 * pair, a converting one's terminal indirect entry (nothing reads them before the switch). */
int udf_move_write_new(struct udf_fs *fs, struct node *n)
{
	int rc = 0;

	if (n->is_new) {
		rc = udf_write_fe(fs, n);
		if (rc == 0 && n->nchain)
			rc = write_ie(fs, n, n->chain[0] + 1, UINT32_MAX);
		return rc;
	}
	if (n->mv_kind == MV_MOVE) {
		rc = udf_write_fe(fs, n);
		if (rc == 0)
			rc = write_ie(fs, n, n->mv_to + 1, UINT32_MAX);
	} else if (n->mv_kind == MV_CONVERT) {
		rc = write_ie(fs, n, icb_lbn(n) + 1, UINT32_MAX);
	}
	return rc;
}

bool udf_move_compacts(const struct node *n)
{
	return n->nchain > CHAIN_MAX_HOPS; /* the move would make CHAIN_MAX_HOPS + 1 hops */
}

/* Step 3: the switch of an existing entry to its new contents, one block. */
int udf_move_switch(struct udf_fs *fs, struct node *n)
{
	if (n->mv_kind != MV_MOVE)
		return udf_write_fe(fs, n);
	uint32_t after = udf_move_compacts(n) ? n->chain[0] : n->chain[n->nchain - 1];
	return write_ie(fs, n, after + 1, n->mv_to);
}

static void free_pairs(struct udf_fs *fs, const struct node *n, const uint32_t *lbns, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		free_later(fs, n, lbns[i], 2);
}

/* Blocks of n's space nothing on the medium reaches any more (after a barrier): allocatable now. */
static void free_now(struct udf_fs *fs, const struct node *n, uint32_t lbn, uint32_t count)
{
	struct udf_w *w = space_of(fs, n);

	for (uint64_t b = lbn; b < (uint64_t)lbn + count && b < w->nbits; b++)
		if (!udf_bm_is_free(w, b)) {
			udf_space_mark(fs, w, b, true);
			w->free_blocks++;
		}
	w->bm_stale = fs->w->bm_stale = true; /* udf_write_bitmap writes both bitmaps */
}

/* Before the last commit (unmount): new entries give back the L+1 they reserved (nothing on the
 * medium names it yet) and are written with strategy 4, so that the fold-back does not write each
 * of them again (a copy of many files, then unmount: every new entry twice). */
void udf_move_unreserve_new(struct udf_fs *fs)
{
	for (struct node *n = fs->w->dirty; n; n = n->dnext) {
		if (!n->is_new || n->nchain != 1 || n->chain[0] != icb_lbn(n))
			continue;
		uint32_t before = udf_move_chain_extra(n);
		free_now(fs, n, n->chain[0] + 1, 1);
		n->nchain = 0;
		chain_changed(fs, n, before);
	}
}

static int chain_push(struct node *n, uint32_t lbn)
{
	if (n->nchain == n->chain_cap) {
		uint32_t nc = n->chain_cap ? n->chain_cap * 2 : 4;
		uint32_t *c = realloc(n->chain, nc * sizeof(*c));
		if (!c)
			return -ENOMEM;
		n->chain = c;
		n->chain_cap = nc;
	}
	n->chain[n->nchain++] = lbn;
	return 0;
}

/* The commit that planned n's move is over: ok, it is on the medium (the chain grows, or is
 * compacted and the pairs between are free at once); else the blocks taken go back after the next
 * commit (the switch may have reached the medium: that commit switches again) and it plans again
 * from the chain the medium had. */
void udf_move_finish(struct udf_fs *fs, struct node *n, bool ok)
{
	uint8_t kind = n->mv_kind;

	n->mv_kind = MV_NONE;
	if (kind == MV_NONE)
		return;
	uint32_t l = icb_lbn(n);
	if (!ok || n->dead) {
		/* a dead node's chain went with it (udf_move_free_entry); only what this move took */
		if (kind == MV_MOVE)
			free_later(fs, n, n->mv_to, 2);
		else
			free_later(fs, n, l + 1, 1);
		if (!ok && !n->dead)
			n->fe_lbn = n->nchain ? n->chain[n->nchain - 1] : l;
		return;
	}
	uint32_t before = udf_move_chain_extra(n);
	if (kind == MV_CONVERT) {
		if (chain_push(n, l) != 0) {
			n->nchain = 0; /* then L+1 leaks until the next check: nothing reads it */
			n->fe_lbn = l;
		}
		chain_changed(fs, n, before);
		return;
	}
	if (udf_move_compacts(n)) {
		/* the commit is on the medium: nothing reaches the pairs between any more */
		for (uint32_t k = 1; k < n->nchain; k++)
			free_now(fs, n, n->chain[k], 2);
		n->nchain = 1;
	}
	if (chain_push(n, n->mv_to) != 0) {
		/* out of memory: the medium's chain ends at mv_to, and memory cannot say so; the node
		 * is not moved again (nothing leaks on the medium but the pair) */
		n->ro_node = true;
	}
	chain_changed(fs, n, before);
}

/* A deleted node's entry blocks, free after the next commit: L, and the chain's other blocks. */
void udf_move_free_entry(struct udf_fs *fs, struct node *n)
{
	if (n->nchain == 0) {
		udf_free_in(fs, udf_ino_part(n->ino), n->fe_lbn, 1);
		return;
	}
	uint32_t before = udf_move_chain_extra(n);
	free_later(fs, n, n->chain[0], 2);
	free_pairs(fs, n, n->chain + 1, n->nchain - 1);
	n->nchain = 0;
	chain_changed(fs, n, before);
}

/* The FIDs embedded in a directory's entry are tagged with its block: now lbn. */
static void retag_embedded(struct node *n, uint32_t lbn)
{
	if (!n->inline_data || n->file_type != 4)
		return;
	for (uint64_t pos = 0; pos + FID_IMPL_USE <= n->size;) {
		uint8_t *f = n->inline_data + pos;
		size_t len = udf_fid_size(f);
		if (len == 0 || pos + len > n->size)
			return;
		put_le32(f + TAG_LOCATION, lbn);
		udf_tag_finish(f, len);
		pos += len;
	}
}

/* At unmount after the last commit, and when the disc is full (statfs counts the chains' blocks
 * free): every chain of a node that is not dirty folds back into its first entry (see above); the
 * chains' other blocks are free at once (the bitmap written at unmount records it). */
int udf_move_fold_back(struct udf_fs *fs)
{
	bool any = false;
	int rc = 0;

	for (uint32_t i = 0; i <= fs->nhash_mask && rc == 0; i++)
		for (struct node *n = fs->nhash[i]; n && rc == 0; n = n->hnext) {
			if (n->dead || n->dirty || n->nchain == 0)
				continue;
			n->mv_kind = MV_FOLD;
			n->fe_lbn = icb_lbn(n);
			retag_embedded(n, n->fe_lbn);
			rc = udf_write_fe(fs, n);
			any = true;
		}
	if (rc == 0 && any)
		rc = udf_barrier(fs);
	for (uint32_t i = 0; i <= fs->nhash_mask; i++)
		for (struct node *n = fs->nhash[i]; n; n = n->hnext) {
			if (n->mv_kind != MV_FOLD)
				continue;
			n->mv_kind = MV_NONE;
			if (rc) {
				/* the medium's chain may still be read: memory keeps naming its newest entry */
				n->fe_lbn = n->chain[n->nchain - 1];
				retag_embedded(n, n->fe_lbn);
				continue;
			}
			uint32_t before = udf_move_chain_extra(n);
			free_now(fs, n, n->chain[0] + 1, 1);
			for (uint32_t k = 1; k < n->nchain; k++)
				free_now(fs, n, n->chain[k], 2);
			n->nchain = 0;
			chain_changed(fs, n, before);
		}
	return rc;
}
