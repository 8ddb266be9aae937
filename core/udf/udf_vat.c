/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writing on write-once media (UDF 2.01 2.2.8, 2.2.11, 6.11-6.12): a virtual partition whose blocks
 * the Virtual Allocation Table maps to blocks of the physical partition under it.  File entries live
 * in the virtual partition, so that a changed one is recorded anew elsewhere and only its VAT entry
 * moves; file data, directories and allocation extent descriptors are in the physical partition,
 * named by long allocation descriptors.  Nothing is ever written twice: every block comes from the
 * next writable address (udf_w.h's struct udf_vat_w), and a commit appends the data, then the file
 * entries and directories, then a new VAT whose file entry is the last sector of the last write unit
 * (where the kernel and the drive's "last recorded sector" find it).  Until that sector is on the
 * medium the previous VAT describes the volume.  Under fs->lock.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Staged blocks beyond this many are written early, whole units at a time (memory stays bounded). */
#define STAGE_DRAIN_BLOCKS 4096u

uint16_t udf_ino_part(uint64_t ino)
{
	return (uint16_t)((ino - INO_BASE) >> 32);
}

static uint64_t sector_of(const struct udf_vat_w *v, uint64_t k)
{
	return v->link ? v->run + k / v->unit * (v->unit + v->link) + k % v->unit : v->run + k;
}

/* The run index of a sector, or UINT64_MAX for a sector before the run or a link block. */
static uint64_t index_of(const struct udf_vat_w *v, uint64_t sector)
{
	if (sector < v->run)
		return UINT64_MAX;
	uint64_t d = sector - v->run;
	if (!v->link)
		return d;
	uint64_t per = v->unit + v->link;
	return d % per < v->unit ? d / per * v->unit + d % per : UINT64_MAX;
}

/* Blocks of the run that lie before sector e. */
static uint64_t blocks_before(const struct udf_vat_w *v, uint64_t e)
{
	if (e <= v->run)
		return 0;
	uint64_t d = e - v->run;
	if (!v->link)
		return d;
	uint64_t per = v->unit + v->link, rem = d % per;
	return d / per * v->unit + (rem < v->unit ? rem : v->unit);
}

/* What the next commit needs beyond what is handed out now: the file entries, the directories
 * (w->reserve), the VAT and the padding of its write unit. */
uint64_t udf_vat_keep(const struct udf_fs *fs)
{
	const struct udf_w *w = fs->w;
	const struct udf_vat_w *v = w->vat;
	uint64_t vat_bytes = UDF_VAT_HDR_LEN + 4ull * (fs->parts[v->vpart].nvat + w->ndirty);
	uint64_t vat_blocks = (vat_bytes + fs->bs - 1) / fs->bs + 1;

	/* and a few allocation extent descriptors of fragmented files */
	return w->reserve + w->ndirty + vat_blocks + 2ull * v->unit + 8;
}

uint64_t udf_vat_avail(struct udf_fs *fs)
{
	udf_vat_update_sf(fs);
	uint64_t keep = udf_vat_keep(fs);
	return fs->w->free_blocks > keep ? fs->w->free_blocks - keep : 0;
}

void udf_vat_update_sf(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;
	struct udf_vat_w *v = w->vat;
	uint64_t left = blocks_before(v, v->pend);

	w->free_blocks = left > v->nk ? left - v->nk : 0;
	uint64_t keep = udf_vat_keep(fs);
	fs->sf.free_blocks = w->free_blocks > keep ? w->free_blocks - keep : 0;
}

static int stage_room(struct udf_vat_w *v, uint64_t upto)
{
	uint64_t need = upto - v->flushed;
	if (need <= v->stage_cap)
		return 0;
	size_t nc = v->stage_cap ? v->stage_cap : 256;
	while (nc < need)
		nc *= 2;
	uint8_t **s = realloc(v->stage, nc * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s + v->stage_cap, 0, (nc - v->stage_cap) * sizeof(*s));
	v->stage = s;
	v->stage_cap = nc;
	return 0;
}

/* Up to want blocks in a row at the next writable address.  Metadata that fits in a write unit is
 * kept in one (a directory is one run of consecutive sectors); the blocks skipped are padding. */
int udf_vat_alloc(struct udf_fs *fs, uint32_t want, unsigned flags, uint32_t *lbn, uint32_t *got)
{
	struct udf_w *w = fs->w;
	struct udf_vat_w *v = w->vat;

	if (v->broken)
		return -EIO;
	if (want == 0)
		want = 1;
	udf_vat_update_sf(fs);
	uint64_t avail = w->free_blocks;
	if (!w->in_commit) {
		uint64_t keep = udf_vat_keep(fs);
		avail = avail > keep ? avail - keep : 0;
	}
	uint64_t k = v->nk;
	if (v->link) {
		uint32_t room = v->unit - (uint32_t)(k % v->unit);
		if ((flags & ALLOC_META) && want > room && want <= v->unit) {
			if (avail < room)
				return -ENOSPC;
			k += room;
			avail -= room;
		}
		room = v->unit - (uint32_t)(k % v->unit);
		if (want > room)
			want = room;
	}
	if (avail == 0)
		return -ENOSPC;
	if (want > avail)
		want = (uint32_t)avail;
	int rc = stage_room(v, k + want);
	if (rc)
		return rc;
	uint64_t s = sector_of(v, k);
	if (s < v->pstart || s - v->pstart + want > UINT32_MAX)
		return -ENOSPC;
	*lbn = (uint32_t)(s - v->pstart);
	*got = want;
	v->nk = k + want;
	udf_vat_update_sf(fs);
	return 0;
}

int udf_vat_stage(struct udf_fs *fs, uint32_t lbn, uint32_t n, const uint8_t *buf)
{
	struct udf_vat_w *v = fs->w->vat;

	if (v->broken)
		return -EIO;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t k = index_of(v, v->pstart + lbn + i);
		if (k == UINT64_MAX || k < v->flushed || k >= v->nk)
			return -EIO; /* on the medium already, or never handed out: never written (a bug) */
		uint8_t **slot = &v->stage[k - v->flushed];
		if (!*slot && !(*slot = malloc(fs->bs)))
			return -ENOMEM;
		memcpy(*slot, buf + (size_t)i * fs->bs, fs->bs);
	}
	return 0;
}

int udf_vat_read(struct udf_fs *fs, uint64_t off, size_t len, uint8_t *buf)
{
	struct udf_vat_w *v = fs->w->vat;
	uint32_t bs = fs->bs;
	uint64_t first = off / bs, last = (off + len - 1) / bs;
	size_t staged = 0, total = 0;

	if (v->nk == v->flushed || last < sector_of(v, v->flushed) || first > sector_of(v, v->nk - 1))
		return 0;
	for (uint64_t s = first; s <= last; s++, total++) {
		uint64_t k = index_of(v, s);
		staged += k != UINT64_MAX && k >= v->flushed && k < v->nk;
	}
	if (staged == 0)
		return 0;
	if (staged != total)
		return -1;
	for (uint64_t s = first; s <= last; s++) {
		const uint8_t *b = v->stage[index_of(v, s) - v->flushed];
		uint64_t from = s == first ? off % bs : 0;
		uint64_t to = s == last ? (off + len - 1) % bs + 1 : bs;
		uint8_t *dst = buf + (s * bs + from - off);
		if (b)
			memcpy(dst, b + from, to - from);
		else
			memset(dst, 0, to - from);
	}
	return 1;
}

bool udf_vat_frozen(struct udf_fs *fs, uint16_t part, uint32_t lbn)
{
	struct udf_vat_w *v = fs->w->vat;
	uint64_t k = index_of(v, v->pstart + lbn);

	return part != v->ppart || k == UINT64_MAX || k < v->flushed || k >= v->nk;
}

static int push_vfree(struct udf_vat_w *v, uint32_t vb)
{
	if (v->nvfree == v->capvfree) {
		uint32_t nc = v->capvfree ? v->capvfree * 2 : 64;
		uint32_t *t = realloc(v->vfree, (size_t)nc * sizeof(*t));
		if (!t)
			return -ENOMEM; /* the entry stays unused: the VAT is only longer */
		v->vfree = t;
		v->capvfree = nc;
	}
	v->vfree[v->nvfree++] = vb;
	return 0;
}

int udf_vat_new_vblock(struct udf_fs *fs, uint32_t *vb)
{
	struct part *p = &fs->parts[fs->w->vat->vpart];
	struct udf_vat_w *v = fs->w->vat;

	while (v->nvfree) {
		/* a number an earlier commit freed: no file entry on the disc and no node in memory
		 * (other than a dead one, which create_node drops) has it */
		uint32_t c = v->vfree[--v->nvfree];
		struct node *n = udf_node_find(fs, udf_make_ino(v->vpart, c));
		if (c < p->nvat && p->vat[c] == VAT_UNUSED && (!n || n->dead)) {
			*vb = c;
			return 0;
		}
	}

	if (p->nvat == p->vat_cap) {
		uint32_t nc = p->vat_cap ? p->vat_cap * 2 : 64;
		if (nc < p->nvat + 1u)
			nc = p->nvat + 64;
		uint32_t *t = realloc(p->vat, (size_t)nc * sizeof(*t));
		if (!t)
			return -ENOMEM;
		p->vat = t;
		p->vat_cap = nc;
	}
	p->vat[p->nvat] = VAT_UNUSED;
	*vb = p->nvat++;
	return 0;
}

/* A file entry recorded anew: a fresh block, and the VAT entry moved to it. */
int udf_vat_put_fe(struct udf_fs *fs, uint32_t vlbn, const uint8_t *buf)
{
	struct part *p = &fs->parts[fs->w->vat->vpart];
	uint32_t lbn, got;

	if (vlbn >= p->nvat)
		return -EIO;
	int rc = udf_vat_alloc(fs, 1, ALLOC_META, &lbn, &got);
	if (rc == 0)
		rc = udf_vat_stage(fs, lbn, 1, buf);
	if (rc == 0)
		p->vat[vlbn] = lbn;
	return rc;
}

/* Writes the run's blocks [flushed, upto) (whole units; the last one shorter when upto ends inside
 * one: a commit's last packet on a CD-R) and drops them from the stage. */
static int write_units(struct udf_fs *fs, uint64_t upto)
{
	struct udf_vat_w *v = fs->w->vat;
	uint32_t bs = fs->bs;
	uint8_t *buf = malloc((size_t)v->unit * bs);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	uint64_t done = 0; /* blocks of the stage written */
	while (v->flushed + done < upto && rc == 0) {
		uint64_t left = upto - v->flushed - done;
		uint32_t n = left < v->unit ? (uint32_t)left : v->unit;
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *b = v->stage[done + i];
			if (b)
				memcpy(buf + (size_t)i * bs, b, bs);
			else
				memset(buf + (size_t)i * bs, 0, bs);
		}
		rc = fs->io.write(fs->io.ctx, sector_of(v, v->flushed + done) * bs, (size_t)n * bs, buf);
		if (rc)
			break;
		for (uint32_t i = 0; i < n; i++) {
			free(v->stage[done + i]);
			v->stage[done + i] = NULL;
		}
		done += n;
	}
	/* the stage starts at the first block not written */
	memmove(v->stage, v->stage + done, (v->stage_cap - done) * sizeof(*v->stage));
	memset(v->stage + v->stage_cap - done, 0, done * sizeof(*v->stage));
	v->flushed += done;
	free(buf);
	if (rc)
		v->broken = true;
	return rc;
}

/* Between operations: staged whole units beyond the limit go to the medium now. */
int udf_vat_drain(struct udf_fs *fs)
{
	struct udf_vat_w *v = fs->w->vat;

	if (v->broken)
		return -EIO;
	if (v->nk - v->flushed < STAGE_DRAIN_BLOCKS)
		return 0;
	return write_units(fs, v->nk / v->unit * v->unit);
}

/* The VAT's contents: the header, then an entry per virtual block.  NULL when out of memory. */
static uint8_t *vat_table(struct udf_fs *fs, size_t *len)
{
	struct part *vp = &fs->parts[fs->w->vat->vpart];
	uint8_t *data;

	*len = UDF_VAT_HDR_LEN + 4 * (size_t)vp->nvat;
	if (!(data = malloc(*len)))
		return NULL;
	struct udf_vat_header h = {.label = fs->sf.label,
				   .prev_vat = vp->vat_lbn,
				   .files = (uint32_t)fs->sf.files,
				   .dirs = (uint32_t)fs->sf.dirs,
				   .revision = (uint16_t)fs->sf.revision,
				   .next_uniq = fs->next_uniq};
	udf_put_vat_header(data, &h);
	for (uint32_t i = 0; i < vp->nvat; i++)
		put_le32(data + UDF_VAT_HDR_LEN + 4 * (size_t)i, vp->vat[i]);
	return data;
}

/* Whether the VAT's file entry is an EFE: from 2.50 on, as new files' (mkudffs writes it so too). */
static bool vat_efe(const struct udf_fs *fs)
{
	return fs->sf.revision >= 0x0250;
}

/* The VAT's contents into the file entry fe when they fit (ICB flags 3), else into blocks staged
 * here, named by short allocation descriptors in fe (the entry is in the physical partition); at
 * FE_HDR, with room left for an EFE's longer header when the entry becomes one. */
static int vat_contents(struct udf_fs *fs, const uint8_t *data, size_t len, uint8_t *fe, uint32_t *lad, uint16_t *flags)
{
	uint32_t bs = fs->bs, cap = bs - (vat_efe(fs) ? EFE_HDR : FE_HDR);
	uint8_t *ad = fe + FE_HDR;

	*lad = 0;
	if (len <= cap) {
		memcpy(ad, data, len);
		*lad = (uint32_t)len;
		*flags = 3;
		return 0;
	}
	*flags = 0;
	uint8_t *blk = malloc(bs);
	int rc = blk ? 0 : -ENOMEM;
	for (size_t done = 0; done < len && rc == 0;) {
		uint32_t lbn, got;
		if (*lad + SAD_SIZE > cap) {
			rc = -ENOSPC;
			break;
		}
		if ((rc = udf_vat_alloc(fs, blocks_of(fs, len - done), 0, &lbn, &got)) != 0)
			break;
		size_t bytes = (size_t)got * bs < len - done ? (size_t)got * bs : len - done;
		for (uint32_t k = 0; k < got && rc == 0; k++) {
			size_t off = (size_t)k * bs, n = bytes - off < bs ? bytes - off : bs;
			memset(blk, 0, bs);
			memcpy(blk, data + done + off, n);
			rc = udf_vat_stage(fs, lbn + k, 1, blk);
		}
		put_le32(ad + *lad + AD_LEN, (uint32_t)bytes);
		put_le32(ad + *lad + SAD_POS, lbn);
		*lad += SAD_SIZE;
		done += bytes;
	}
	free(blk);
	return rc;
}

/* The VAT's file entry (file type 248) after its contents, padded to be the last block of its
 * write unit (on a CD-R, whose packets are variable, the commit's last packet ends with it): the
 * last sector a commit records. */
static int write_vat(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;
	struct udf_vat_w *v = w->vat;
	struct part *vp = &fs->parts[v->vpart];
	uint8_t *fe = w->buf2;
	uint32_t lad, lbn, got;
	uint16_t flags;
	size_t len;
	uint8_t *data = vat_table(fs, &len);

	if (!data)
		return -ENOMEM;
	memset(fe, 0, fs->bs);
	int rc = vat_contents(fs, data, len, fe, &lad, &flags);
	free(data);
	if (rc)
		return rc;
	/* DVD±R and BD-R (and images) record whole units: the entry ends one; a CD-R's packets are
	 * variable (its link blocks follow any packet): the last packet ends with the entry */
	uint64_t pad = v->link ? 0 : v->unit - 1 - v->nk % v->unit;
	if ((rc = stage_room(v, v->nk + pad + 1)) != 0)
		return rc;
	v->nk += pad;
	if ((rc = udf_vat_alloc(fs, 1, 0, &lbn, &got)) != 0)
		return rc;
	if (!v->link && v->nk % v->unit)
		return -EIO; /* the entry must end the unit: a bug, refused before writing */
	put_le16(fe + ICB_STRATEGY_TYPE, 4);
	put_le16(fe + ICB_MAX_ENTRIES, 1);
	fe[ICB_FILE_TYPE] = VAT_FILE_TYPE;
	put_le16(fe + ICB_FLAGS, flags);
	put_le32(fe + FE_UID, 0xFFFFFFFFu);
	put_le32(fe + FE_GID, 0xFFFFFFFFu);
	put_le16(fe + FE_LINK_COUNT, 1);
	put_le64(fe + FE_INFO_LENGTH, len);
	put_le64(fe + FE_BLOCKS_RECORDED, flags == 3 ? 0 : blocks_of(fs, len));
	struct timespec t = now();
	udf_put_timestamp(fe + FE_ACCESS_TIME, t, w->tz);
	udf_put_timestamp(fe + FE_MODIFICATION_TIME, t, w->tz);
	udf_put_timestamp(fe + FE_ATTRIBUTE_TIME, t, w->tz);
	put_le32(fe + FE_CHECKPOINT, 1);
	udf_put_impl_regid(fe + FE_IMPL_IDENT);
	put_le32(fe + FE_AD_LEN, lad);
	if (vat_efe(fs)) {
		udf_fe_to_efe(fe);
		udf_put_vol_tag(fs, fe, TAG_EFE, lbn, (uint16_t)(EFE_HDR + lad - TAG_SIZE));
	} else {
		udf_put_vol_tag(fs, fe, TAG_FE, lbn, (uint16_t)(FE_HDR + lad - TAG_SIZE));
	}
	udf_tag_finish(fe, fs->bs);
	if ((rc = udf_vat_stage(fs, lbn, 1, fe)) != 0)
		return rc;
	vp->vat_lbn = lbn;
	return 0;
}

/* The next run starts at the medium's next writable address (what the commit left, or the drive's
 * word for it). */
static void next_run(struct udf_fs *fs)
{
	struct udf_vat_w *v = fs->w->vat;
	uint64_t next = sector_of(v, v->nk - 1) + 1 + v->link;
	struct udf_append_state as;

	if (fs->io.append_state && fs->io.append_state(fs->io.ctx, &as) == 0 && as.next_writable / fs->bs > next)
		next = as.next_writable / fs->bs;
	for (size_t i = 0; i < v->stage_cap; i++) {
		free(v->stage[i]);
		v->stage[i] = NULL;
	}
	v->run = next;
	v->nk = v->flushed = 0;
}

int udf_vat_commit(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;
	struct udf_vat_w *v = w->vat;
	int rc = 0;

	if (v->broken)
		return -EIO;
	if (!w->changed && v->nk == v->flushed)
		return udf_barrier(fs);
	w->in_commit = true;
	/* each changed node: its directory and continuation blocks in new places, its file entry
	 * recorded anew (the order does not matter: only the VAT makes any of it reachable); a node's
	 * blocks are all written when the next begins, so whole units can go out as they fill */
	for (struct node *n = w->dirty; n && rc == 0; n = n->dnext) {
		if (n->dead) {
			if (udf_ino_part(n->ino) == v->vpart && n->fe_lbn < fs->parts[v->vpart].nvat)
				fs->parts[v->vpart].vat[n->fe_lbn] = VAT_UNUSED;
			continue;
		}
		rc = udf_commit_place(fs, n);
		if (rc == 0)
			rc = udf_write_fe(fs, n);
		if (rc == 0 && v->nk - v->flushed >= STAGE_DRAIN_BLOCKS)
			rc = write_units(fs, v->nk / v->unit * v->unit);
	}
	if (rc == 0)
		rc = write_vat(fs);
	if (rc == 0)
		rc = write_units(fs, v->nk);
	if (rc == 0)
		rc = udf_barrier(fs);
	w->in_commit = false;
	if (rc) {
		v->broken = true;
		snprintf(fs->ro_reason, sizeof(fs->ro_reason),
			 "a commit to the write-once disc failed; the disc holds what the last complete commit "
			 "recorded");
		return rc;
	}
	next_run(fs);
	/* the virtual blocks of deleted file entries can be given out again, now that the VAT on the
	 * disc no longer maps them */
	for (struct node *n = w->dirty; n; n = n->dnext)
		if (n->dead && udf_ino_part(n->ino) == v->vpart && n->fe_lbn < fs->parts[v->vpart].nvat &&
		    fs->parts[v->vpart].vat[n->fe_lbn] == VAT_UNUSED)
			push_vfree(v, n->fe_lbn);
	udf_commit_done(fs);
	udf_vat_update_sf(fs);
	return 0;
}

/* Whether this volume is one the VAT writer takes; sets *ro_why (and returns 0) when it is one but
 * cannot be written. */
int udf_vat_attach(struct udf_fs *fs, char *err, size_t errlen, const char **ro_why)
{
	struct part *pp = &fs->parts[0], *vp = &fs->parts[1];
	struct udf_append_state as;

	*ro_why = NULL;
	if (fs->nparts != 2 || pp->kind != PART_PHYS || vp->kind != PART_VIRTUAL || vp->phys != 0) {
		*ro_why = "only write-once volumes with a physical partition and a virtual one over it are written";
		return 0;
	}
	if (!fs->io.append_state) {
		*ro_why = "a write-once (VAT) volume is written only on an append-only medium or image";
		return 0;
	}
	if (fs->sf.revision < 0x0200 || fs->sf.revision > 0x0260 || !vp->vat20) {
		*ro_why = "only UDF 2.00 to 2.60 write-once volumes (the VAT of 2.00) are written";
		return 0;
	}
	if (udf_ino_part(fs->root_ino) != 1) {
		*ro_why = "the root directory is not in the virtual partition";
		return 0;
	}
	if (fs->io.append_state(fs->io.ctx, &as) != 0) {
		*ro_why = "the write-once medium does not say where it can be written";
		return 0;
	}
	if (as.closed) {
		*ro_why = "the write-once disc is closed";
		return 0;
	}
	if (vp->vat_torn && as.free_bytes < (uint64_t)(fs->io.packet_blocks ? fs->io.packet_blocks : 16) * fs->bs) {
		/* the newest VAT is not at the end (a torn commit, or an image of the whole disc that
		 * mkudffs wrote) and no commit fits to record one there: every write would fail */
		*ro_why = "the write-once disc is full and its newest VAT is not at its end: read-only";
		return 0;
	}
	struct udf_w *w = calloc(1, sizeof(*w));
	struct udf_vat_w *v = calloc(1, sizeof(*v));
	if (!w || !v) {
		free(w);
		free(v);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->vat = v;
	w->buf = malloc(fs->bs);
	w->buf2 = malloc(fs->bs);
	fs->w = w;
	if (!w->buf || !w->buf2) {
		udf_w_detach(fs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	v->vpart = 1;
	v->ppart = 0;
	v->pstart = pp->start;
	v->pend = pp->start + pp->len;
	uint64_t medium_end = (as.next_writable + as.free_bytes) / fs->bs;
	if (medium_end < v->pend)
		v->pend = medium_end;
	v->unit = fs->io.packet_blocks ? fs->io.packet_blocks : 16;
	v->link = fs->io.link_blocks;
	v->run = as.next_writable / fs->bs;
	if (v->run <= pp->start + vp->vat_lbn)
		v->run = pp->start + vp->vat_lbn + 1 + v->link;
	vp->vat_cap = vp->nvat;
	for (uint32_t i = vp->nvat; i-- > 0;)
		if (vp->vat[i] == VAT_UNUSED && push_vfree(v, i) != 0)
			break;
	w->plen = pp->len;
	w->lvid_open = true; /* the integrity descriptor is never rewritten: the VAT takes its place */
	w->pkt = v->unit;
	if (vp->vat_ours && vp->vat_next_uniq > fs->next_uniq)
		fs->next_uniq = vp->vat_next_uniq;
	if (fs->next_uniq < 16)
		fs->next_uniq = 16;
	if (vp->vat_torn) {
		/* the kernel looks for the VAT only at the end: the next commit (at the latest the
		 * unmount) records it there again */
		w->changed = true;
		snprintf(fs->note, sizeof(fs->note),
			 "the last commit on this write-once disc was cut short: it holds the one before, and "
			 "the next commit records its VAT at the end again");
	}
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	w->tz = (int)(tm.tm_gmtoff / 60);
	udf_vat_update_sf(fs);
	return 0;
}

void udf_vat_detach(struct udf_w *w)
{
	struct udf_vat_w *v = w->vat;

	if (!v)
		return;
	for (size_t i = 0; i < v->stage_cap; i++)
		free(v->stage[i]);
	free(v->stage);
	free(v->vfree);
	free(v);
	w->vat = NULL;
}
