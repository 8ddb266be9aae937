/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mount and unmount.  udf_mount finds the volume, sets up its partitions, loads the root directory and,
 * when the mount may be written, attaches the writer (udf_w_attach: whether this volume can be
 * written, the space bitmap and the integrity descriptor as read, the check after an unclean
 * shutdown); udf_unmount detaches it and frees everything.  The reader's files never call the writer:
 * this file owns the seam.
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_desc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "udf_int.h"
#include "udf_w.h"

int udf_mount(const struct udf_io *io, const struct udf_mount_opts *opts, struct udf_fs **out, char *err, size_t errlen)
{
	struct udf_fs *fs = calloc(1, sizeof(*fs));
	uint8_t *buf = malloc(4096);
	struct vds *v = malloc(sizeof(*v));
	int rc = -EINVAL;

	if (!fs || !buf || !v) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	fs->io = *io;
	if (opts)
		fs->opts = *opts;
	if (fs->opts.snapshot)
		fs->opts.read_only = true; /* an earlier state of the disc is only looked at */
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->commit_idle, NULL);
	pthread_mutex_init(&fs->io_lock, NULL);
	pthread_cond_init(&fs->io_cv, NULL);
	uint32_t ml = 0, mloc = 0, rl = 0, rloc = 0;
	if (!udf_find_anchor(fs, buf, &mloc, &ml, &rloc, &rl)) {
		snprintf(err, errlen,
			 "no UDF file system found (use -o image for the block file, or format the "
			 "disc with pktfuse format)");
		goto fail;
	}
	/* The main sequence, else the reserve one. */
	fs->vds_loc[0] = mloc;
	fs->vds_len[0] = ml;
	fs->vds_loc[1] = rloc;
	fs->vds_len[1] = rl;
	if (udf_read_vds(fs, mloc, ml, v, buf) != 0 && udf_read_vds(fs, rloc, rl, v, buf) != 0) {
		snprintf(err, errlen, "UDF volume descriptors are damaged in both the main and the reserve sequence");
		rc = -EIO;
		goto fail;
	}
	if (le32(v->lvd + LVD_LOGICAL_BLOCK_SIZE) != fs->bs) {
		snprintf(err, errlen, "UDF logical block size %u differs from the medium's %u",
			 le32(v->lvd + LVD_LOGICAL_BLOCK_SIZE), fs->bs);
		rc = -EIO;
		goto fail;
	}
	udf_dstring(v->lvd + LVD_LOGICAL_VOLUME_IDENT, 128, fs->sf.label, sizeof(fs->sf.label));
	fs->sf.revision = le16(v->lvd + LVD_DOMAIN_IDENT + REGID_UDF_REVISION);
	fs->sf.block_size = fs->bs;
	if (udf_setup_partitions(fs, v, err, errlen)) {
		rc = -EIO;
		goto fail;
	}
	fs->sf.blocks = fs->parts[0].len;
	fs->lvid_ext_loc = le32(v->lvd + LVD_INTEGRITY_SEQ + EXT_LOC);
	fs->lvid_ext_len = le32(v->lvd + LVD_INTEGRITY_SEQ + EXT_LEN);
	udf_read_lvid(fs, le32(v->lvd + LVD_INTEGRITY_SEQ + EXT_LOC), le32(v->lvd + LVD_INTEGRITY_SEQ + EXT_LEN), buf);
	fs->blk = malloc(fs->bs);
	fs->nhash_mask = 255;
	fs->nhash = calloc(256, sizeof(*fs->nhash));
	if (!fs->blk || !fs->nhash) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < fs->nparts; i++) {
		struct part *p = &fs->parts[i];
		if (p->kind == PART_META) {
			unsigned k;
			for (k = 0; k < fs->nparts; k++)
				if (k != i && (fs->parts[k].kind == PART_PHYS || fs->parts[k].kind == PART_SPARABLE) &&
				    fs->parts[k].number == p->number)
					break;
			if (k == fs->nparts) {
				snprintf(err, errlen, "the UDF metadata partition has no physical partition under it");
				rc = -EIO;
				goto fail;
			}
			p->phys = (uint16_t)k;
			/* The metadata file, else its mirror (UDF 2.50 2.2.13): a damaged one is replaced. */
			struct node *mn = NULL;
			if (udf_load_node(fs, (uint16_t)k, p->meta_loc, &mn) || mn->file_type != 250) {
				mn = NULL;
				if (udf_load_node(fs, (uint16_t)k, p->mirror_loc, &mn) || mn->file_type != 251)
					mn = NULL;
			}
			if (!mn) {
				/* damage, not an I/O error: pktfuse check reports it as a finding */
				snprintf(err, errlen, "both the UDF metadata file and its mirror are damaged");
				rc = -EUCLEAN;
				goto fail;
			}
			p->meta = mn;
			continue;
		}
		if (p->kind != PART_VIRTUAL)
			continue;
		unsigned k;
		for (k = 0; k < fs->nparts; k++)
			if (k != i && fs->parts[k].kind == PART_PHYS && fs->parts[k].number == p->number)
				break;
		int vrc = k == fs->nparts ? -ENOENT : udf_find_vat(fs, p, (uint16_t)k);
		if (vrc == -ERANGE) {
			snprintf(err, errlen, "snapshot=%u: the disc has fewer commits before its newest",
				 fs->opts.snapshot);
			rc = -ERANGE;
			goto fail;
		}
		if (vrc != 0) {
			snprintf(err, errlen,
				 "the virtual allocation table (VAT) of this write-once disc was not found");
			rc = -EIO;
			goto fail;
		}
	}
	uint64_t wo_end;
	if (fs->opts.snapshot && !udf_write_once(fs, &wo_end)) {
		snprintf(err, errlen, "snapshot= applies to write-once media (a VAT); this volume has one state");
		rc = -EINVAL;
		goto fail;
	}
	/* File set descriptor → root directory. */
	uint32_t fsd_lbn = le32(v->lvd + LVD_FSD + LAD_LBN);
	uint16_t fsd_part = le16(v->lvd + LVD_FSD + LAD_PART);
	if (fsd_part >= fs->nparts || udf_read_lb(fs, fsd_part, fsd_lbn, buf) ||
	    udf_tag_check(buf, fs->bs, fsd_lbn) != TAG_FSD) {
		snprintf(err, errlen, "the UDF file set descriptor is missing or damaged");
		rc = -EIO;
		goto fail;
	}
	fs->fsd_lbn = fsd_lbn;
	fs->tag_version = le16(buf + TAG_DESC_VERSION);
	fs->tag_serial = le16(buf + TAG_SERIAL);
	uint32_t root_lbn = le32(buf + FSD_ROOT_ICB + LAD_LBN);
	uint16_t root_part = le16(buf + FSD_ROOT_ICB + LAD_PART);
	struct node *root;
	if (root_part >= fs->nparts || (rc = udf_load_node(fs, root_part, root_lbn, &root)) != 0 ||
	    !S_ISDIR(root->st.st_mode)) {
		snprintf(err, errlen, "the UDF root directory is missing or damaged");
		rc = -EIO;
		goto fail;
	}
	fs->root_ino = root->ino;
	/* a reason found while reading (a partition cut short) keeps the mount read-only */
	if (keep_raw(fs) && !fs->ro_reason[0] && (rc = udf_w_attach(fs, opts, err, errlen)) != 0)
		goto fail;
	free(buf);
	free(v);
	*out = fs;
	return 0;
fail:
	free(buf);
	free(v);
	if (fs)
		udf_unmount(fs);
	return rc;
}

void udf_unmount(struct udf_fs *fs)
{
	if (!fs)
		return;
	udf_w_detach(fs);
	if (fs->nhash) {
		for (uint32_t i = 0; i <= fs->nhash_mask; i++) {
			for (struct node *n = fs->nhash[i], *nx; n; n = nx) {
				nx = n->hnext;
				udf_node_free(n);
			}
		}
	}
	for (unsigned i = 0; i < MAX_PARTS; i++) {
		free(fs->parts[i].stable_raw);
		free(fs->parts[i].spare);
		free(fs->parts[i].vat);
	}
	free(fs->nhash);
	free(fs->blk);
	pthread_mutex_destroy(&fs->lock);
	pthread_cond_destroy(&fs->commit_idle);
	pthread_mutex_destroy(&fs->io_lock);
	pthread_cond_destroy(&fs->io_cv);
	free(fs);
}

bool udf_write_once(struct udf_fs *fs, uint64_t *end)
{
	for (unsigned i = 0; i < fs->nparts; i++) {
		const struct part *v = &fs->parts[i];
		if (v->kind == PART_VIRTUAL && v->phys < fs->nparts) {
			const struct part *p = &fs->parts[v->phys];
			*end = (p->start + p->len) * fs->bs;
			return true;
		}
	}
	return false;
}

static int ro(struct udf_fs *fs, const char *why)
{
	snprintf(fs->ro_reason, sizeof(fs->ro_reason), "%s", why);
	return 0;
}

/* The fewest blocks that make whole packets of the medium (io.packet_blocks counts 2048-byte
 * sectors): 128 blocks of 512 for a packet of 32 sectors, 16 of 4096. */
static uint32_t packet_in_blocks(const struct udf_fs *fs)
{
	uint64_t pbytes = (uint64_t)(fs->io.packet_blocks ? fs->io.packet_blocks : 16) * UDF_SECTOR_BYTES;
	uint64_t a = pbytes, b = fs->bs;
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	uint64_t lcm = pbytes / a * fs->bs;
	return (uint32_t)(lcm / fs->bs);
}

int udf_w_attach(struct udf_fs *fs, const struct udf_mount_opts *opts, char *err, size_t errlen)
{
	(void)opts;
	/* a write-once volume: the VAT writer judges its revision (2.00 to 2.60) */
	for (unsigned i = 0; i < fs->nparts; i++) {
		if (fs->parts[i].kind == PART_VIRTUAL) {
			const char *why;
			int rc = udf_vat_attach(fs, err, errlen, &why);
			return why ? ro(fs, why) : rc;
		}
	}
	/* UDF 2.50+: a metadata partition (map 1) over the physical or sparable partition 0 */
	bool meta = fs->nparts == 2 && fs->parts[1].kind == PART_META && fs->parts[1].phys == 0;
	if (fs->sf.revision > 0x0201 && !meta)
		return ro(fs, "UDF 2.50 and 2.60 volumes are written only with a metadata partition over one "
			      "physical or sparable partition, or with a VAT");
	if (fs->sf.revision < 0x0102)
		return ro(fs, "UDF revisions before 1.02 are read-only in pktfuse");
	if ((fs->nparts != 1 && !meta) || (fs->parts[0].kind != PART_PHYS && fs->parts[0].kind != PART_SPARABLE))
		return ro(fs, "only volumes with one physical or sparable partition are written");
	struct part *p = &fs->parts[0];
	if (p->access == 1 || p->access == 2)
		return ro(fs, "the UDF partition is recorded as read-only or write-once");
	if (p->usb_len == 0)
		return ro(fs, p->ust_len ? "the UDF partition uses a space table, which pktfuse does not write"
					 : "the UDF partition has no space bitmap");
	if (fs->lvid_loc == 0)
		return ro(fs, "the UDF volume has no integrity descriptor");
	if ((uint64_t)p->usb_len > SBD_BITMAP + p->len / 8 + 2ull * fs->bs)
		return ro(fs, "the space bitmap's recorded size does not match its partition");
	if (p->kind == PART_SPARABLE && p->stable_raw && !udf_sparing_free(p))
		return ro(fs, UDF_SPARES_GONE);
	struct udf_w *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->plen = p->len;
	w->sbd_lbn = p->usb_lbn;
	w->sbd_blocks = blocks_of(fs, p->usb_len);
	w->buf = malloc(fs->bs);
	w->buf2 = malloc(fs->bs);
	w->lvid = malloc(fs->bs);
	w->sbd = malloc((size_t)w->sbd_blocks * fs->bs);
	w->sbd_dirty = calloc(w->sbd_blocks ? w->sbd_blocks : 1, 1);
	if (!w->buf || !w->buf2 || !w->lvid || !w->sbd || !w->sbd_dirty) {
		fs->w = w;
		udf_w_detach(fs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fs->w = w;
	const char *why = NULL;
	for (uint32_t i = 0; i < w->sbd_blocks && !why; i++)
		if (udf_read_lb(fs, 0, w->sbd_lbn + i, w->sbd + (size_t)i * fs->bs))
			why = "the space bitmap cannot be read";
	if (!why && udf_tag_check(w->sbd, (size_t)w->sbd_blocks * fs->bs, w->sbd_lbn) != TAG_SBD)
		why = "the space bitmap is damaged";
	if (!why) {
		w->nbits = le32(w->sbd + SBD_NUM_BITS);
		uint32_t nbytes = le32(w->sbd + SBD_NUM_BYTES);
		if (nbytes < (w->nbits + 7) / 8 || SBD_BITMAP + (uint64_t)nbytes > (uint64_t)w->sbd_blocks * fs->bs)
			why = "the space bitmap is damaged";
		if (w->nbits > w->plen)
			w->nbits = w->plen;
	}
	if (!why && (fs->io.read(fs->io.ctx, (uint64_t)fs->lvid_loc * fs->bs, fs->bs, w->lvid) ||
		     udf_tag_check(w->lvid, fs->bs, fs->lvid_loc) != TAG_LVID))
		why = "the integrity descriptor cannot be read";
	if (why) {
		udf_w_detach(fs);
		return ro(fs, why);
	}
	udf_lvid_attach(fs);
	/* whole bytes at once, then the bits of the last partial byte */
	for (uint64_t i = 0; i < w->nbits / 8; i++)
		w->free_blocks += (uint64_t)__builtin_popcount(w->sbd[SBD_BITMAP + i]);
	for (uint64_t b = w->nbits / 8 * 8; b < w->nbits; b++)
		w->free_blocks += udf_bm_is_free(w, b);
	w->pkt = fs->parts[0].kind == PART_SPARABLE ? fs->parts[0].packet_len : packet_in_blocks(fs);
	/* File entries and directories gather near the start, file data after a small zone, so that
	 * one commit rewrites few packets. */
	w->meta_goal = 0;
	w->pkt_off = (uint32_t)((w->pkt - p->start % w->pkt) % w->pkt);
	uint64_t zone = w->nbits / 64;
	w->data_goal = (uint32_t)(w->pkt_off + (zone + w->pkt - 1) / w->pkt * w->pkt);
	if (w->data_goal >= w->nbits)
		w->data_goal = 0;
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	w->tz = (int)(tm.tm_gmtoff / 60);
	if (fs->next_uniq < 16)
		fs->next_uniq = 16;
	if (meta) {
		int merr;
		/* with no_recover the caller (pktfuse check) compares the copies and the counts itself, and
		 * its repair renews them */
		const char *reason = udf_meta_attach(fs, fs->lvid_type != 1 || fs->opts.no_recover, &merr);
		if (reason) {
			char mwhy[200]; /* the reason lives in the writer's state, freed by the detach */
			snprintf(mwhy, sizeof(mwhy), "%.160s%s", reason, merr ? "" : ": mounted read-only");
			udf_w_detach(fs);
			if (merr) {
				snprintf(err, errlen, "%s", mwhy);
				return merr;
			}
			return ro(fs, mwhy);
		}
	}
	if (fs->lvid_type != 1 && !fs->opts.no_recover) {
		/* Not cleanly unmounted: check the tree before anything is allocated. */
		int rc = udf_recover(fs);
		if (rc) {
			udf_w_detach(fs);
			if (rc == -ENOMEM) {
				snprintf(err, errlen, "out of memory");
				return rc;
			}
			return ro(fs,
				  "the disc was not cleanly unmounted and its check found damage; mounted read-only");
		}
		long resynced = meta ? udf_meta_resync(fs) : 0;
		if (resynced < 0) {
			udf_w_detach(fs);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		if (resynced > 0) {
			size_t len = strlen(fs->note);
			snprintf(fs->note + len, sizeof(fs->note) - len, "; %ld blocks of the metadata mirror renewed",
				 resynced);
		}
		/* a move to a spare cut short may have left a copy of the sparing table behind (the kernel
		 * reads the first copy that verifies, whatever its age) */
		struct part *sp = &fs->parts[0];
		unsigned stale = sp->kind == PART_SPARABLE && sp->stable_raw ? sp->stable_stale : 0;
		if (stale && udf_sparing_write(fs, stale) == 0) {
			size_t len = strlen(fs->note);
			snprintf(fs->note + len, sizeof(fs->note) - len, "; %d of the sparing table's copies renewed",
				 __builtin_popcount(stale));
		}
	}
	w->hints_trusted = fs->lvid_type == 1 || !fs->opts.no_recover;
	udf_update_sf(fs);
	return 0;
}

void udf_w_detach(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	if (!w)
		return;
	udf_vat_detach(w);
	udf_meta_detach(w);
	free(w->sbd);
	free(w->sbd_dirty);
	free(w->pend);
	free(w->fresh);
	free(w->unwritten);
	free(w->lvid);
	free(w->buf);
	free(w->buf2);
	free(w);
	fs->w = NULL;
}
