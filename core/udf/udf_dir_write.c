/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Directory changes in memory (entries added, removed, compacted) and, at commit, the rewrite of a
 * changed directory: embedded when it fits, else into newly allocated blocks.  Under fs->lock.
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

/* The number of blocks from lbns[0] on that follow each other. */
static uint32_t run_len(const uint32_t *lbns, uint32_t n)
{
	uint32_t k = 1;

	while (k < n && lbns[k] == lbns[0] + k)
		k++;
	return k;
}

/* Write-once media with link blocks after every write unit (a CD-R in a drive), and a full
 * rewritable disc (or metadata partition) whose free blocks are in short runs: a directory longer
 * than the first run (lbn/got, already taken) goes into several runs, each its own allocation
 * descriptor; every FID is tagged with the block it starts in. */
static int dir_commit_runs(struct udf_fs *fs, struct node *d, size_t len, uint32_t nb, uint32_t lbn, uint32_t got)
{
	uint16_t part = udf_meta_part(fs); /* where ALLOC_META blocks are (write-once media: 0) */
	uint32_t *lbns = malloc(nb * sizeof(*lbns)), have = 0;
	uint8_t *data = calloc(nb, fs->bs);
	int rc = lbns && data ? 0 : -ENOMEM;

	while (rc == 0) {
		for (uint32_t i = 0; i < got; i++)
			lbns[have + i] = lbn + i;
		have += got;
		if (have == nb)
			break;
		rc = udf_alloc_blocks(fs, UINT64_MAX, nb - have, ALLOC_META, &lbn, &got);
	}
	if (rc == 0)
		rc = udf_dir_build_at(fs, d, data, len, 0, false, lbns);
	for (uint32_t i = 0, k; rc == 0 && i < nb; i += k)
		rc = udf_write_in(fs, part, lbns[i], k = run_len(lbns + i, nb - i), data + (size_t)i * fs->bs);
	bool placed = rc == 0;
	if (rc == 0) {
		udf_free_extents(fs, d);
		free(d->inline_data);
		d->inline_data = NULL;
		d->next = 0;
		for (uint32_t i = 0, k; rc == 0 && i < nb; i += k)
			rc = udf_ext_set(fs, d, i, k = run_len(lbns + i, nb - i), 0, lbns[i]);
		for (uint32_t i = 0; rc == 0 && fs->w->meta && i < d->next; i++)
			d->ext[i].part = part;
	}
	if (rc == 0) {
		d->size = len;
		d->st.st_size = (off_t)len;
		udf_recount_blocks(fs, d);
	}
	if (rc && !placed && !fs->w->vat && lbns)
		for (uint32_t i = 0; i < have; i++)
			udf_free_in(fs, part, lbns[i], 1); /* nothing names them */
	free(lbns);
	free(data);
	return rc; /* a failure fails the commit: nothing of it is reachable without its VAT */
}

/* Whether directory d's recorded blocks (one run or several, of one partition) hold nb blocks. */
static bool fits_in_place(const struct udf_fs *fs, const struct node *d, uint32_t nb)
{
	uint64_t have = 0;

	for (uint32_t i = 0; i < d->next; i++) {
		if (d->ext[i].type != 0 || d->ext[i].part != d->ext[0].part)
			return false;
		have += blocks_of(fs, d->ext[i].len);
	}
	return d->next > 0 && have >= nb;
}

/* The disc (or metadata partition) is full, the reserve fell short: a directory that shrank or kept
 * its size is rewritten where it is, in its first nb blocks (fits_in_place), the rest freed.  Not
 * atomic across its packets, but the only way left to record the deletions that free space. */
static int dir_commit_in_place(struct udf_fs *fs, struct node *d, size_t len, uint32_t nb)
{
	uint16_t part = d->ext[0].part;
	uint32_t *lbns = malloc(nb * sizeof(*lbns)), have = 0;
	uint8_t *data = calloc(nb, fs->bs);
	int rc = lbns && data ? 0 : -ENOMEM;

	for (uint32_t i = 0; rc == 0 && i < d->next; i++)
		for (uint32_t b = 0; b < blocks_of(fs, d->ext[i].len); b++) {
			if (have < nb)
				lbns[have++] = d->ext[i].lbn + b;
		}
	if (rc == 0)
		rc = udf_dir_build_at(fs, d, data, len, 0, false, lbns);
	for (uint32_t i = 0, k; rc == 0 && i < nb; i += k)
		rc = udf_write_in(fs, part, lbns[i], k = run_len(lbns + i, nb - i), data + (size_t)i * fs->bs);
	if (rc == 0) {
		/* what is past the first nb blocks is free after the commit */
		for (uint32_t i = 0, k = 0; i < d->next; i++)
			for (uint32_t b = 0; b < blocks_of(fs, d->ext[i].len); b++)
				if (k++ >= nb)
					udf_free_in(fs, part, d->ext[i].lbn + b, 1);
		free(d->inline_data);
		d->inline_data = NULL;
		d->next = 0;
		for (uint32_t i = 0, k; rc == 0 && i < nb; i += k)
			rc = udf_ext_set(fs, d, i, k = run_len(lbns + i, nb - i), 0, lbns[i]);
		for (uint32_t i = 0; rc == 0 && i < d->next; i++)
			d->ext[i].part = part;
	}
	if (rc == 0) {
		d->size = len;
		d->st.st_size = (off_t)len;
		udf_recount_blocks(fs, d);
	}
	free(lbns);
	free(data);
	return rc;
}

/* Rewrites a directory's contents: embedded when it fits, else into newly allocated blocks. */
int udf_dir_commit(struct udf_fs *fs, struct node *d)
{
	size_t len = udf_dir_stream_len(d);
	uint8_t *data = NULL;
	int rc;

	if (d->stream_len_ok && d->stream_len != len)
		return -EIO; /* the running count disagrees with the entries: a bug, refused before writing */

	if (len <= udf_inline_cap(fs, d)) {
		data = malloc(len);
		if (!data)
			return -ENOMEM;
		if ((rc = udf_dir_build(fs, d, data, len, 0, true)) != 0) {
			free(data);
			return rc;
		}
		udf_free_extents(fs, d);
		d->next = 0;
		free(d->inline_data);
		d->inline_data = data;
		d->size = len;
		d->st.st_size = (off_t)len;
		udf_recount_blocks(fs, d);
		return 0;
	}
	uint32_t nb = blocks_of(fs, len), lbn, got;
	/* one contiguous run keeps the FID tag locations simple and the directory in one read */
	uint16_t part = udf_meta_part(fs);
	const struct udf_w *space = fs->w->meta ? udf_meta_space(fs->w) : fs->w;
	rc = udf_alloc_blocks(fs, UINT64_MAX, nb, ALLOC_META, &lbn, &got);
	if (rc == 0 && got < nb && fs->w->vat)
		return dir_commit_runs(fs, d, len, nb, lbn, got); /* link blocks after the unit: more runs */
	if (rc == 0 && got < nb) {
		/* look for a run of the full length elsewhere */
		uint32_t first = lbn, first_got = got;
		rc = udf_alloc_exact(fs, nb, ALLOC_META, &lbn);
		/* a full disc: in several runs while the free blocks (in short runs) hold it, rather
		 * than in place below, which a power cut can leave torn */
		if (rc == -ENOSPC && (space->free_blocks >= nb - first_got || !fits_in_place(fs, d, nb)))
			return dir_commit_runs(fs, d, len, nb, first, first_got);
		/* nothing names the first run: the directories after this one may need it now */
		udf_alloc_undo(fs, ALLOC_META, first, first_got);
	}
	if (rc == -ENOSPC && !fs->w->vat && fits_in_place(fs, d, nb))
		return dir_commit_in_place(fs, d, len, nb);
	if (rc)
		return rc;
	data = calloc(nb, fs->bs);
	if (!data) {
		udf_free_in(fs, part, lbn, nb);
		return -ENOMEM;
	}
	rc = udf_dir_build(fs, d, data, len, lbn, false);
	if (rc == 0)
		rc = udf_write_in(fs, part, lbn, nb, data);
	free(data);
	if (rc) {
		udf_free_in(fs, part, lbn, nb);
		return rc;
	}
	udf_free_extents(fs, d);
	free(d->inline_data);
	d->inline_data = NULL;
	d->next = 0;
	if ((rc = udf_ext_set(fs, d, 0, nb, 0, lbn)) != 0)
		return rc;
	for (uint32_t i = 0; i < d->next; i++)
		d->ext[i].part = part;
	d->size = len;
	d->st.st_size = (off_t)len;
	udf_recount_blocks(fs, d);
	return 0;
}

int udf_dir_add(struct node *d, const char *name, const uint8_t *raw, uint8_t rawlen, uint64_t ino, bool is_dir,
		uint32_t uniq)
{
	if (d->nents == d->ents_cap) {
		uint32_t nc = d->ents_cap ? d->ents_cap * 2 : 16;
		struct dirent_ *ne = realloc(d->ents, nc * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		d->ents = ne;
		d->ents_cap = nc;
	}
	if ((d->nents - d->ntomb + 1) * 2u > d->dhash_mask + 1) {
		uint32_t nb = (d->dhash_mask + 1) * 2;
		uint32_t *h = malloc(nb * sizeof(*h));
		if (!h)
			return -ENOMEM;
		free(d->dhash);
		d->dhash = h;
		d->dhash_mask = nb - 1;
		udf_dir_rehash(d);
	}
	char *n = strdup(name);
	uint8_t *r = malloc(rawlen);
	if (!n || !r) {
		free(n);
		free(r);
		return -ENOMEM;
	}
	memcpy(r, raw, rawlen);
	if (d->stream_len_ok)
		d->stream_len += udf_fid_len(rawlen);
	uint32_t i = d->nents++;
	d->ents[i] = (struct dirent_){n, ino, (uint8_t)(is_dir ? 4 : 5), UINT32_MAX, d->next_cookie++, r, rawlen, uniq};
	uint32_t b = udf_name_hash(n) & d->dhash_mask;
	d->ents[i].hnext = d->dhash[b];
	d->dhash[b] = i;
	return 0;
}

void udf_dir_del(struct node *d, struct dirent_ *e)
{
	uint32_t idx = (uint32_t)(e - d->ents);
	uint32_t *pp = &d->dhash[udf_name_hash(e->name) & d->dhash_mask];

	while (*pp != UINT32_MAX && *pp != idx)
		pp = &d->ents[*pp].hnext;
	if (*pp == idx)
		*pp = e->hnext;
	if (d->stream_len_ok)
		d->stream_len -= udf_fid_len(e->rawlen);
	free(e->name);
	free(e->raw);
	e->name = NULL;
	e->raw = NULL;
	d->ntomb++;
}

/* Drops the slots of removed entries once they are many (positions of the others are kept). */
void udf_dir_compact(struct node *d)
{
	if (d->ntomb > 64 && d->ntomb * 2 > d->nents) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < d->nents; i++)
			if (d->ents[i].name)
				d->ents[k++] = d->ents[i];
		d->nents = k;
		d->ntomb = 0;
		udf_dir_rehash(d);
	}
}

bool udf_dir_empty(const struct node *d)
{
	return d->nents == d->ntomb;
}
