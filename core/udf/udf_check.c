/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The check after an unclean shutdown (run by udf_w_attach when the integrity descriptor says open):
 * walks the tree from the root, recounts links and subdirectories (hidden entries' files counted, a
 * hidden directory's tree not followed), drops names recorded twice, marks used the blocks files own
 * that the bitmap says are free, and frees blocks the bitmap marks used that nothing references
 * (anything it cannot follow turns that freeing off); unique IDs go past every ID seen.  Under
 * fs->lock, at mount.
 */
#define _GNU_SOURCE
#include "udf_check.h"
#include "udf_desc.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

void udf_seen_mark(struct udf_seen *s, uint64_t lbn, uint64_t n)
{
	for (uint64_t b = lbn; b < lbn + n && b < s->nbits; b++)
		s->bits[b / 8] |= (uint8_t)(1u << (b % 8));
}

/* A node's own blocks: its file entry, continuation blocks and extents of partition 0 (and, with a
 * metadata partition, those in it: s->meta). */
static void seen_own(struct udf_fs *fs, struct udf_seen *s, const struct node *n)
{
	struct udf_seen *m = s->meta; /* file entries and continuation blocks there */
	/* the entry, its chain and its continuation blocks are where its inode number says: the
	 * metadata partition's three files have theirs in the physical partition */
	struct udf_seen *home = m && udf_ino_part(n->ino) == s->mpart ? m : s;

	udf_seen_mark(home, n->fe_lbn, 1);
	for (uint32_t i = 0; i < n->nchain; i++) /* an entry that moves: each pair of its chain */
		udf_seen_mark(home, n->chain[i], 2);
	for (uint32_t i = 0; i < n->naed; i++)
		udf_seen_mark(home, n->aed[i], 1);
	for (uint32_t i = 0; i < n->next; i++) {
		if (n->ext[i].type != 2 && n->ext[i].part == 0)
			udf_seen_mark(s, n->ext[i].lbn, blocks_of(fs, n->ext[i].len));
		else if (n->ext[i].type != 2 && m && n->ext[i].part == s->mpart)
			udf_seen_mark(m, n->ext[i].lbn, blocks_of(fs, n->ext[i].len));
	}
}

struct seen_ctx {
	struct udf_fs *fs;
	struct udf_seen *s;
};

static int seen_visit(void *ctx, struct node *a)
{
	struct seen_ctx *c = ctx;

	seen_own(c->fs, c->s, a);
	return 0;
}

void udf_seen_node(struct udf_fs *fs, struct udf_seen *s, struct node *n)
{
	seen_own(fs, s, n);
	if (!n->hdr) {
		s->no_reclaim = true;
		return;
	}
	/* an extended attribute file or a stream directory and its streams are in use; since what else
	 * they might own is not proven, nothing unreferenced is freed */
	bool ea = le32(n->hdr + (n->efe ? EFE_EA_ICB : FE_EA_ICB) + AD_LEN) & AD_LEN_MASK;
	bool streams = n->efe && (le32(n->hdr + EFE_STREAM_DIR_ICB + AD_LEN) & AD_LEN_MASK);
	if (ea || streams) {
		struct seen_ctx c = {fs, s};
		udf_for_attached(fs, n, seen_visit, &c);
		s->no_reclaim = true;
	}
	/* its indirect entries are not followed; the metadata partition's three files are read-only
	 * nodes only because the writer never rewrites them, and of strategy 4 where their ICB is they
	 * have none */
	bool meta_file = n->file_type >= META_FILE_TYPE && n->file_type <= META_BITMAP_FILE_TYPE &&
			 le16(n->hdr + ICB_STRATEGY_TYPE) == 4 &&
			 udf_make_ino(udf_ino_part(n->ino), n->fe_lbn) == n->ino;
	if (n->ro_node && !meta_file)
		s->no_reclaim = true;
}

/* The file set's system stream directory (UDF 2.00+: unique ID mapping, non-allocatable space)
 * and the streams it names are in use too. */
void udf_seen_system_streams(struct udf_fs *fs, struct udf_seen *s, uint8_t *b)
{
	uint16_t fp = s->meta ? s->mpart : 0; /* the file set's partition */

	if (udf_read_lb(fs, fp, fs->fsd_lbn, b) || udf_tag_check(b, fs->bs, fs->fsd_lbn) != TAG_FSD) {
		s->no_reclaim = true;
		return;
	}
	if ((le32(b + FSD_SYSTEM_STREAM_ICB + AD_LEN) & AD_LEN_MASK) == 0)
		return;
	struct seen_ctx c = {fs, s};
	if (udf_for_stream_dir(fs, b + FSD_SYSTEM_STREAM_ICB, seen_visit, &c) != 0)
		s->no_reclaim = true; /* deeper stream trees are not followed */
}

bool udf_is_volume_structure(struct udf_fs *fs, uint32_t sbd_lbn, uint32_t sbd_blocks, uint64_t b, uint8_t *buf)
{
	const struct part *p = &fs->parts[0];
	uint64_t sec = p->start + b, n = fs->nblocks;
	uint64_t fixed[] = {AVDP_SECTOR, n - 1 - AVDP_SECTOR, n - 1, n - AVDP_SECTOR};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (sec == fixed[i])
			return true;
	struct {
		uint64_t loc, len;
	} ext[] = {{fs->vds_loc[0], fs->vds_len[0]},	 {fs->vds_loc[1], fs->vds_len[1]},
		   {fs->lvid_ext_loc, fs->lvid_ext_len}, {p->stable_loc[0], p->stable_len},
		   {p->stable_loc[1], p->stable_len},	 {p->stable_loc[2], p->stable_len},
		   {p->stable_loc[3], p->stable_len}};
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		if (i >= 3 && i - 3 >= p->nstable)
			break;
		uint64_t blocks = (ext[i].len + fs->bs - 1) / fs->bs;
		if (sec >= ext[i].loc && sec < ext[i].loc + blocks)
			return true;
	}
	/* in the partition: the bitmap, the file set descriptor and its terminator (those are blocks of
	 * the metadata partition when there is one) */
	if (b >= sbd_lbn && b < (uint64_t)sbd_lbn + sbd_blocks)
		return true;
	if (fs->nparts > 1 && fs->parts[fs->nparts - 1].kind == PART_META)
		return false;
	if (b == fs->fsd_lbn)
		return true;
	if (b == (uint64_t)fs->fsd_lbn + 1 && udf_read_lb(fs, 0, fs->fsd_lbn + 1, buf) == 0 &&
	    udf_tag_check(buf, fs->bs, fs->fsd_lbn + 1) == TAG_TD)
		return true;
	return false;
}

static int push(uint64_t **q, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		uint64_t *nq = realloc(*q, nc * sizeof(*nq));
		if (!nq)
			return -ENOMEM;
		*q = nq;
		*cap = nc;
	}
	(*q)[(*n)++] = v;
	return 0;
}

/*
 * Walks the whole tree once: blocks in use that the bitmap calls free are marked used (a later
 * allocation would overwrite them), link counts are made to match the names found, a directory
 * named from two places (a rename cut short) keeps only the name its own parent entry agrees
 * with, and the file and directory counts are recounted.  Blocks the bitmap calls used that
 * nothing references (freed by the commit cut short, or owned by a file unlinked while open) are
 * freed, unless some file has structures the walk does not follow (extended attribute files,
 * streams, indirect entries): then nothing is freed, as nothing proves no one else owns them.
 */
/* Blocks of space bw in use that its bitmap calls free are marked used; blocks it calls used that
 * the walk did not see are freed after the next commit (not the volume structures). */
static void fix_space(struct udf_fs *fs, struct udf_w *bw, uint16_t part, const struct udf_seen *s, bool no_reclaim,
		      uint64_t *fixed, uint64_t *reclaimed)
{
	struct udf_w *w = fs->w;

	for (uint64_t b = 0; b < bw->nbits; b++) {
		bool used = udf_seen_has(s, b);
		if (used && udf_bm_is_free(bw, b)) {
			udf_space_mark(fs, bw, b, false);
			bw->free_blocks--;
			(*fixed)++;
		} else if (!used && !no_reclaim && !udf_bm_is_free(bw, b) &&
			   (bw == w ? !udf_is_volume_structure(fs, w->sbd_lbn, w->sbd_blocks, b, w->buf)
				    : b != fs->fsd_lbn && b != (uint64_t)fs->fsd_lbn + 1)) {
			/* freed by the last commit, or owned by a file unlinked while open */
			udf_free_in(fs, part, (uint32_t)b, 1);
			(*reclaimed)++;
		}
	}
}

int udf_recover(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;
	struct udf_seen seen = {calloc(w->nbits / 8 + 1, 1), w->nbits, false, NULL, 0};
	struct udf_seen mseen = {NULL, 0, false, NULL, 0};
	uint64_t *q = NULL, files = 0, dirs = 1, fixed = 0, links = 0, dropped = 0, reclaimed = 0;
	size_t qn = 0, qcap = 0;
	struct node *root;
	int rc;

	if (!seen.bits)
		return -ENOMEM;
	if (w->meta) {
		/* a metadata partition: its blocks are seen apart; its three files own theirs */
		mseen.nbits = udf_meta_space(w)->nbits;
		if (!(mseen.bits = calloc(mseen.nbits / 8 + 1, 1))) {
			free(seen.bits);
			return -ENOMEM;
		}
		seen.meta = &mseen;
		seen.mpart = udf_meta_part(fs);
		udf_meta_seen_files(fs, &seen);
	}
	if ((rc = udf_get_dir(fs, fs->root_ino, &root)) != 0 || (rc = push(&q, &qn, &qcap, root->ino)) != 0)
		goto out;
	root->refs = 1;
	udf_seen_node(fs, &seen, root);
	udf_seen_system_streams(fs, &seen, w->buf);
	for (size_t qi = 0; qi < qn && rc == 0; qi++) {
		struct node *d;
		if ((rc = udf_get_dir(fs, q[qi], &d)) != 0)
			break;
		for (uint32_t i = 0; i < d->nents && rc == 0; i++) {
			struct dirent_ *e = &d->ents[i];
			struct node *c;
			if (!e->name)
				continue;
			if ((rc = udf_get_node(fs, e->ino, &c)) != 0)
				break;
			if (S_ISDIR(c->st.st_mode)) {
				if ((rc = udf_dir_load(fs, c)) != 0)
					break;
				if (c->parent != d->ino || c->refs) {
					udf_dir_del(d, e);
					d->dir_dirty = true;
					udf_mark_dirty(fs, d);
					dropped++;
					continue;
				}
				d->subdirs++;
				dirs++;
				rc = push(&q, &qn, &qcap, c->ino);
			} else if (c->refs == 0) {
				files++;
			}
			if (c->refs++ == 0)
				udf_seen_node(fs, &seen, c);
		}
		/* hidden entries own their files too */
		for (uint32_t k = 0; k + FID_IMPL_USE <= d->keep_len && rc == 0;) {
			const uint8_t *f = d->keep_fids + k;
			struct node *c;
			k += (uint32_t)udf_fid_size(f);
			uint16_t fpart = le16(f + FID_ICB + LAD_PART);
			if ((le32(f + FID_ICB + AD_LEN) & AD_LEN_MASK) == 0 ||
			    (fpart != 0 && (!w->meta || fpart != seen.mpart)))
				continue;
			if (udf_get_node(fs, udf_make_ino(fpart, le32(f + FID_ICB + LAD_LBN)), &c) != 0) {
				seen.no_reclaim = true;
			} else if (S_ISDIR(c->st.st_mode)) {
				/* counted, but its tree is not followed (so nothing is freed) and its link
				 * count stays as recorded */
				udf_seen_node(fs, &seen, c);
				seen.no_reclaim = true;
				d->subdirs++;
				dirs++;
			} else if (c->refs++ == 0) {
				udf_seen_node(fs, &seen, c);
				files++; /* as mkudffs and the kernel count it (UDF 1.50's Non-Allocatable Space) */
			}
		}
		udf_dir_compact(d);
	}
	if (rc)
		goto out;
	for (uint32_t i = 0; i <= fs->nhash_mask; i++) {
		for (struct node *n = fs->nhash[i]; n; n = n->hnext) {
			if (n->uniq >= fs->next_uniq)
				fs->next_uniq = n->uniq + 1; /* never hand out an ID a file already has */
			if (!n->refs || n->dead)
				continue;
			nlink_t want = S_ISDIR(n->st.st_mode) ? 2 + n->subdirs : n->refs;
			if (n->st.st_nlink != want) {
				n->st.st_nlink = want;
				udf_mark_dirty(fs, n);
				links++;
			}
		}
	}
	fix_space(fs, w, 0, &seen, seen.no_reclaim, &fixed, &reclaimed);
	if (w->meta)
		fix_space(fs, udf_meta_space(w), seen.mpart, &mseen, seen.no_reclaim || mseen.no_reclaim, &fixed,
			  &reclaimed);
	if (fixed || reclaimed)
		w->changed = true;
	fs->sf.files = files;
	fs->sf.dirs = dirs;
	w->lvid_open = true; /* it says open on the medium already */
	snprintf(fs->note, sizeof(fs->note),
		 "the disc was not cleanly unmounted: checked %llu files and %llu directories; %llu blocks "
		 "in use marked, %llu unreferenced freed, %llu link counts and %llu duplicate directory names "
		 "repaired",
		 (unsigned long long)files, (unsigned long long)dirs, (unsigned long long)fixed,
		 (unsigned long long)reclaimed, (unsigned long long)links, (unsigned long long)dropped);
out:
	free(seen.bits);
	free(mseen.bits);
	free(q);
	return rc;
}
