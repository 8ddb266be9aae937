/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The commit: puts the in-memory changes on the medium, and the dirty list it works from.
 *
 * Changes live in memory until udf_sync commits them.  The commit orders its writes so that a
 * process killed at any moment leaves a consistent disc (no journal exists in UDF):
 *   1. barrier: file data written so far reaches the medium;
 *   2. everything not yet reachable is written: file entries of new nodes, directory contents
 *      (always rewritten into newly allocated blocks, never in place), allocation extent
 *      descriptors, a grown metadata file's and mirror's entries; barrier;
 *   3. the file entries of nodes that already existed, each a single block (the atomic switch to
 *      the new contents), directories that gained entries before those that lost some (a crash
 *      between leaves an entry twice, never lost); the integrity descriptor; barrier;
 *   4. blocks freed by this commit become allocatable only now (and reach the bitmap on the
 *      next commit), so nothing reachable on the medium is ever overwritten.
 * The integrity descriptor is marked open (and that is on the medium) before the first change
 * after a clean state, and closed by udf_close: an unclean shutdown is seen at the next mount.
 * The space bitmap is not written by a commit but by udf_close before the descriptor is closed,
 * and by udf_sync_volume (an fsync of the whole volume): on media that wear out, one packet
 * rewritten by every fsync would not last.  While the descriptor says open the medium's bitmap may
 * miss this mount's allocations; the check after an unclean shutdown (udf_check.c) rebuilds it
 * from the tree before anything is allocated.
 * The commit is encoded under fs->lock: its writes and barriers are recorded (udf_commit_io.c) and
 * sent in this order afterwards -- by udf_sync with the lock released, so that operations on what is
 * in memory go on while a slow medium records the commit; what they change is the next commit's.

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

/* The bytes of directory streams the next commit rewrites: each changed directory is written whole,
 * into new blocks. */
static uint64_t dirty_dir_bytes(const struct udf_w *w)
{
	uint64_t bytes = 0;

	for (const struct node *d = w->dirty; d; d = d->dnext)
		if (d->dir_dirty)
			bytes += d->stream_len_ok ? d->stream_len : udf_dir_stream_len(d);
	return bytes;
}

/* A commit due by size (udf_set_commit_due) once due_nodes wait, and once the commit's directory
 * rewrites come to at most UDF_DUE_DIR_BYTES_PER_NODE per waiting node: otherwise files created in a
 * directory of n entries cost a rewrite of all n at every due_nodes-th file (quadratic: 100,000 in
 * one directory wrote ~400 MB more, in 190 commits instead of 64).  So they cost at most that many bytes each, whatever the
 * directory's size.  Checked again at the count the rewrites then ask for (w->due_check). */
static void check_commit_due(struct udf_w *w)
{
	if (!w->due || w->ndirty != w->due_check)
		return;
	uint64_t want = dirty_dir_bytes(w) / UDF_DUE_DIR_BYTES_PER_NODE;
	if (want <= w->ndirty) {
		w->due(w->due_ctx);
		return;
	}
	w->due_check = want > UINT32_MAX ? UINT32_MAX : (uint32_t)want;
}

void udf_mark_dirty(struct udf_fs *fs, struct node *n)
{
	if (!n->dirty) {
		if (!n->inline_data && !n->is_new)
			udf_ext_normalize(fs, n);
		n->dirty = true;
		n->dnext = fs->w->dirty;
		fs->w->dirty = n;
		++fs->w->ndirty;
		check_commit_due(fs->w);
	}
	fs->w->changed = true;
}

void udf_touch(struct udf_fs *fs, struct node *n, bool mtime)
{
	struct timespec t = now();

	n->st.st_ctim = t;
	if (mtime)
		n->st.st_mtim = t;
	if (n->dir_dirty) {
		/* what the commit will record; known once, then kept by dir_add/dir_del */
		if (!n->stream_len_ok) {
			n->stream_len = udf_dir_stream_len(n);
			n->stream_len_ok = true;
		}
		n->st.st_size = (off_t)n->stream_len;
		uint32_t need = n->stream_len > udf_inline_cap(fs, n) ? blocks_of(fs, n->stream_len) : 0;
		fs->w->reserve += need;
		fs->w->reserve -= n->reserved;
		n->reserved = need;
	}
	udf_mark_dirty(fs, n);
}

int udf_write_bitmap(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	udf_tag_finish(w->sbd, (size_t)w->sbd_blocks * fs->bs);
	for (uint32_t i = 0; i < w->sbd_blocks; i++) {
		if (!w->sbd_dirty[i])
			continue;
		int rc = udf_write_lb(fs, w->sbd_lbn + i, w->sbd + (size_t)i * fs->bs);
		if (rc)
			return rc;
		w->sbd_dirty[i] = 0;
	}
	w->bm_stale = false;
	return w->meta ? udf_meta_write_bitmap(fs) : 0;
}

/* A changed node's new places: its directory contents and its continuation blocks. */
int udf_commit_place(struct udf_fs *fs, struct node *n)
{
	int rc = 0;

	udf_move_plan(fs, n); /* before the rewrite: it records where the entry is */
	if (n->dir_dirty && (rc = udf_dir_commit(fs, n)) != 0)
		return rc;
	uint32_t need = udf_aeds_needed(fs, n);
	if (need != n->naed || need) {
		for (uint32_t i = 0; i < n->naed; i++)
			udf_free_in(fs, udf_meta_part(fs), n->aed[i], 1);
		n->naed = 0;
		if (need) {
			uint32_t *a = realloc(n->aed, need * sizeof(*a));
			if (!a)
				return -ENOMEM;
			n->aed = a;
			for (uint32_t i = 0; i < need && rc == 0; i++) {
				uint32_t got;
				rc = udf_alloc_blocks(fs, UINT64_MAX, 1, ALLOC_META, &n->aed[i], &got);
				if (rc == 0)
					n->naed++;
			}
		}
	}
	return rc;
}

/* The dirty list emptied: what a commit recorded (or is about to send) is not dirty any more. */
void udf_commit_clear(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	for (struct node *n = w->dirty, *nx; n; n = nx) {
		nx = n->dnext;
		n->reserved = 0;
		n->dirty = n->dir_dirty = n->is_new = n->gained = false;
		n->dnext = NULL;
	}
	w->dirty = NULL;
	w->ndirty = 0;
	w->due_check = w->due_nodes;
	w->changed = false;
	w->reserve = 0;
	udf_fresh_reset(w);
	w->mp_valid = false; /* what this commit wrote now holds existing entries */
}

/* After a commit that completed: nothing is dirty any more. */
void udf_commit_done(struct udf_fs *fs)
{
	udf_commit_clear(fs);
	fs->sf.commits++;
}

/* Steps 1-3: the writes and barriers, recorded in w->snap (udf_write_io.c) while this runs. */
static int commit_encode(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;
	int rc;

	/* 1. file data first */
	rc = udf_barrier(fs);
	/* 2. new places: directory contents, continuation blocks (all allocation happens here; a full
	 *    metadata partition grows here too) */
	for (struct node *n = w->dirty; n && rc == 0; n = n->dnext)
		if (!n->dead)
			rc = udf_commit_place(fs, n);
	w->bm_stale = true; /* this commit's allocations: written at unmount (see above) */
	for (struct node *n = w->dirty; n && rc == 0; n = n->dnext)
		if (!n->dead)
			rc = udf_move_write_new(fs, n);
	/* a grown metadata file: both entries before anything reachable names a new block (step 3) */
	if (rc == 0 && w->meta)
		rc = udf_meta_write_entries(fs);
	if (rc == 0)
		rc = udf_barrier(fs);
	/* 3. the switch: existing entries, those that gained first */
	bool late = false;
	for (struct node *n = w->dirty; n && rc == 0; n = n->dnext) {
		if (n->dead || n->is_new)
			continue;
		if (n->gained)
			rc = udf_move_switch(fs, n);
		else
			late = true;
	}
	if (rc == 0 && late) {
		rc = udf_barrier(fs);
		for (struct node *n = w->dirty; n && rc == 0; n = n->dnext)
			if (!n->dead && !n->is_new && !n->gained)
				rc = udf_move_switch(fs, n);
	}
	/* the LVID only when the unique IDs handed out come near what it records (it says open, and
	 * counts and free space are recorded exactly when it is closed) */
	if (rc == 0 && fs->next_uniq + UNIQ_AHEAD / 2 > w->uniq_bound)
		rc = udf_write_lvid(fs, true);
	if (rc == 0)
		rc = udf_barrier(fs);
	return rc;
}

/*
 * The commit: encoded under fs->lock into w->snap (udf_commit_io.c), then sent; with unlock_io the
 * lock is released while it is sent (and while an earlier commit still runs), else held throughout.
 * A failure while encoding sends nothing; one while sending stops there.  Either way everything
 * stays dirty and the next commit tries again.
 */
static int commit(struct udf_fs *fs, bool unlock_io)
{
	struct udf_w *w = fs->w;
	int rc;

	if (unlock_io)
		udf_commit_wait_idle(fs);
	else
		udf_commit_take_over(fs);
	if (w->vat)
		return udf_vat_commit(fs); /* write-once media: under the lock throughout (udf_vat.c) */
	struct commit_snap *s = udf_snap_begin(fs);
	if (!s)
		return -ENOMEM;
	s->changes = w->changed;
	if (!w->changed) {
		rc = udf_barrier(fs);
	} else {
		w->in_commit = true;
		rc = commit_encode(fs);
		w->in_commit = false;
	}
	if (rc == 0)
		rc = udf_snap_detach(fs, s);
	if (rc) {
		udf_snap_abandon(fs, s);
		return rc;
	}
	return udf_snap_run(fs, s, unlock_io);
}

int udf_commit(struct udf_fs *fs)
{
	return commit(fs, false);
}

int udf_commit_unlocked_io(struct udf_fs *fs)
{
	return commit(fs, true);
}

/* After -ENOSPC from the allocator: blocks freed since the last commit become allocatable once a
 * commit is done.  1 when this committed (try again), 0 when no commit would free anything (nothing
 * pending, or the commit itself is running), or the commit's -errno.  In the middle of an
 * operation: a commit already running is finished here, the lock kept. */
int udf_commit_for_space(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	if (w->in_commit)
		return 0;
	bool freed = udf_commit_take_over(fs);
	/* blocks pending in the partition, or in the metadata partition (file entries, directories);
	 * the chains of entries that move hold blocks statfs counts free: they fold back, after a
	 * commit of what is dirty (udf_move.c) */
	bool chains = w->chain_blocks && !w->vat;
	if (w->npend || (w->meta && udf_meta_space(w)->npend) || (chains && w->changed)) {
		int rc = udf_commit(fs);
		if (rc)
			return rc;
		freed = true;
	}
	if (chains) {
		int rc = udf_move_fold_back(fs);
		if (rc)
			return rc;
		freed = true;
	}
	return freed;
}

int udf_sync_volume(struct udf_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	int rc = 0;
	struct udf_w *w = fs->w;
	if (w) {
		rc = udf_commit_unlocked_io(fs);
		/* the commit released the lock: another may have started meanwhile */
		udf_commit_wait_idle(fs);
		if (rc == 0 && w->bm_stale)
			rc = udf_write_bitmap(fs);
		if (rc == 0)
			rc = udf_barrier(fs);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
