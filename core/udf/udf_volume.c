/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Volume recognition, read at mount: the volume recognition sequence, the anchors, the volume
 * descriptor sequence (the newest PVD, LVD and PDs) and the logical volume integrity descriptor.
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

bool udf_has_anchor(struct udf_fs *fs, uint64_t sector, uint8_t *buf, uint32_t *main_loc, uint32_t *main_len,
		    uint32_t *res_loc, uint32_t *res_len)
{
	if (sector >= fs->nblocks || read_sector(fs, sector, buf))
		return false;
	if (udf_tag_check(buf, fs->bs, (uint32_t)sector) != TAG_AVDP)
		return false;
	*main_len = le32(buf + AVDP_MAIN_VDS + EXT_LEN);
	*main_loc = le32(buf + AVDP_MAIN_VDS + EXT_LOC);
	*res_len = le32(buf + AVDP_RESERVE_VDS + EXT_LEN);
	*res_loc = le32(buf + AVDP_RESERVE_VDS + EXT_LOC);
	return true;
}

bool udf_vrs_has_nsr(struct udf_fs *fs, uint8_t *buf)
{
	uint32_t step = fs->bs > 2048 ? fs->bs : 2048;
	uint64_t base = fs->io.session_start * fs->bs + VRS_OFFSET;
	const uint8_t *id = buf + VSD_STD_IDENT;
	bool bea = false;

	for (uint64_t off = base; off < base + 64 * (uint64_t)step; off += step) {
		if (udf_read_bytes(fs, off, VSD_VERSION + 1, buf))
			return false;
		if (buf[VSD_TYPE] != 0 && memcmp(id, "CD001", 5) != 0)
			return false;
		if (memcmp(id, "BEA01", 5) == 0)
			bea = true;
		else if (bea && (memcmp(id, "NSR02", 5) == 0 || memcmp(id, "NSR03", 5) == 0))
			return true;
		else if (memcmp(id, "TEA01", 5) == 0)
			return false;
		else if (memcmp(id, "CD001", 5) && memcmp(id, "BOOT2", 5) && memcmp(id, "CDW02", 5))
			return false;
	}
	return false;
}

/* The block sizes tried, in blkid's order (libblkid's udf prober, after the device's sector size,
 * which an image does not have): the first whose recognition sequence holds an NSR descriptor and
 * whose anchor verifies is the volume.  On a disc formatted twice with different block sizes that is
 * the newer file system, since the newer format's recognition sequence, recorded at its own spacing
 * (2048 bytes, or the block size when larger), breaks the older one's. */
static const uint32_t udf_block_sizes[] = {512, 1024, 2048, 4096};

static bool anchor_at_size(struct udf_fs *fs, uint32_t bs, uint8_t *buf, uint32_t *main_loc, uint32_t *main_len,
			   uint32_t *res_loc, uint32_t *res_len)
{
	fs->bs = bs;
	fs->nblocks = fs->io.size / bs;
	if (fs->opts.last_block && fs->opts.last_block < fs->nblocks)
		fs->nblocks = fs->opts.last_block + 1;
	if (fs->nblocks < 257)
		return false;
	uint64_t cand[] = {fs->io.session_start + AVDP_SECTOR, fs->nblocks - 1, fs->nblocks - 257};
	for (size_t c = 0; c < 3; c++)
		if (udf_has_anchor(fs, cand[c], buf, main_loc, main_len, res_loc, res_len))
			return true;
	return false;
}

/* The last session of a multisession image that no drive describes: its anchor, at its start + 256,
 * is searched for backwards from the end of the medium over at most SESSION_SCAN_LIMIT blocks (128 MiB
 * of 2048-byte blocks: a session recorded after a long last one is not found, -o session= names
 * it); a block counts only when it is an anchor recorded at its own place and its session has a
 * recognition sequence.  0 when there is none after session 0. */
#define SESSION_SCAN_LIMIT (1u << 16)

static uint64_t last_session(struct udf_fs *fs, uint64_t end, uint8_t *buf)
{
	uint8_t *chunk = malloc(64 * (size_t)fs->bs);
	uint64_t found = 0, scanned = 0;

	while (chunk && !found && end > AVDP_SECTOR + 1 && scanned < SESSION_SCAN_LIMIT) {
		uint64_t n = end - (AVDP_SECTOR + 1) < 64 ? end - (AVDP_SECTOR + 1) : 64;
		if (udf_read_bytes(fs, (end - n) * fs->bs, n * fs->bs, chunk))
			break;
		for (uint64_t i = n; i-- > 0 && !found;) {
			const uint8_t *b = chunk + i * fs->bs;
			uint64_t s = end - n + i;
			if (b[0] != TAG_AVDP || b[1] != 0 || le32(b + TAG_LOCATION) != (uint32_t)s ||
			    udf_tag_check(b, fs->bs, (uint32_t)s) != TAG_AVDP)
				continue;
			fs->io.session_start = s - AVDP_SECTOR;
			if (udf_vrs_has_nsr(fs, buf))
				found = s - AVDP_SECTOR;
			fs->io.session_start = 0;
		}
		end -= n;
		scanned += n;
	}
	free(chunk);
	return found;
}

/* Where the last session starts when nobody said: the medium's append state, else the search. */
static void find_session(struct udf_fs *fs, uint8_t *buf)
{
	struct udf_append_state as;
	uint32_t l1, l2, l3, l4;
	uint64_t end = fs->nblocks;

	if (fs->opts.session_given || fs->io.session_start)
		return;
	if (fs->io.append_state && fs->io.append_state(fs->io.ctx, &as) == 0) {
		if (as.session_start >= fs->bs) {
			fs->io.session_start = as.session_start / fs->bs;
			return;
		}
		if (as.recorded && as.last_recorded / fs->bs < end)
			end = as.last_recorded / fs->bs + 1; /* nothing is read past the recorded part */
	}
	/* anchors at the end: the volume was closed there, nothing was recorded after it */
	if (udf_has_anchor(fs, fs->nblocks - 1, buf, &l1, &l2, &l3, &l4) ||
	    udf_has_anchor(fs, fs->nblocks - 257, buf, &l1, &l2, &l3, &l4))
		return;
	uint64_t s = last_session(fs, end, buf);
	if (s) {
		fs->io.session_start = s;
		snprintf(fs->note, sizeof(fs->note),
			 "the last session, at block %llu, is read (found by its anchor; -o session=0 reads the first)",
			 (unsigned long long)s);
	}
}

bool udf_find_anchor(struct udf_fs *fs, uint8_t *buf, uint32_t *main_loc, uint32_t *main_len, uint32_t *res_loc,
		     uint32_t *res_len)
{
	const size_t nsizes = sizeof(udf_block_sizes) / sizeof(udf_block_sizes[0]);
	size_t k;

	/* the recognition sequence is read for each size: where it is depends on the block size of
	 * the session start */
	for (k = 0; k < nsizes; k++) {
		fs->bs = udf_block_sizes[k];
		fs->nblocks = fs->io.size / fs->bs;
		if (fs->nblocks >= 257 && udf_vrs_has_nsr(fs, buf) &&
		    anchor_at_size(fs, udf_block_sizes[k], buf, main_loc, main_len, res_loc, res_len))
			break;
	}
	if (k == nsizes)
		return false;
	uint64_t told = fs->io.session_start;
	find_session(fs, buf);
	if (fs->io.session_start != told &&
	    !(udf_vrs_has_nsr(fs, buf) &&
	      anchor_at_size(fs, udf_block_sizes[k], buf, main_loc, main_len, res_loc, res_len))) {
		fs->io.session_start = told; /* the session found does not verify after all */
		fs->note[0] = 0;
		anchor_at_size(fs, udf_block_sizes[k], buf, main_loc, main_len, res_loc, res_len);
	}
	/* An anchor of another block size is a file system formatted before this one: say which was
	 * chosen. */
	uint32_t chosen = udf_block_sizes[k], other = 0, l1, l2, l3, l4;
	for (size_t j = 0; j < nsizes && !other; j++)
		if (udf_block_sizes[j] != chosen && anchor_at_size(fs, udf_block_sizes[j], buf, &l1, &l2, &l3, &l4))
			other = udf_block_sizes[j];
	fs->bs = chosen;
	fs->nblocks = fs->io.size / chosen;
	if (fs->opts.last_block && fs->opts.last_block < fs->nblocks)
		fs->nblocks = fs->opts.last_block + 1;
	if (other)
		snprintf(fs->note, sizeof(fs->note),
			 "the disc holds UDF file systems of %u- and %u-byte blocks: the one of %u-byte blocks "
			 "is read, chosen as blkid chooses (the recognition sequence that verifies)",
			 chosen < other ? chosen : other, chosen < other ? other : chosen, chosen);
	return true;
}

int udf_read_vds(struct udf_fs *fs, uint32_t loc, uint32_t len, struct vds *v, uint8_t *buf)
{
	unsigned seen = 0;
	uint32_t hops = 0;

	memset(v, 0, sizeof(*v));
	uint64_t n = len / fs->bs;
	for (uint64_t i = 0; i < n && seen < MAX_VDS_DESCS; i++, seen++) {
		uint64_t sector = (uint64_t)loc + i;
		if (sector >= fs->nblocks || read_sector(fs, sector, buf))
			return -EIO;
		int tag = udf_tag_check(buf, fs->bs, (uint32_t)sector);
		if (tag < 0)
			return -EIO;
		uint32_t seq = le32(buf + VD_SEQ_NUM);
		switch (tag) {
		case TAG_PVD:
			if (!v->have_pvd || seq >= v->pvd_seq) {
				v->have_pvd = true;
				v->pvd_seq = seq;
				memcpy(fs->vol_set_ident, buf + PVD_VOLUME_SET_IDENT, sizeof(fs->vol_set_ident));
			}
			break;
		case TAG_LVD:
			if (!v->have_lvd || seq >= v->lvd_seq) {
				v->have_lvd = true;
				v->lvd_seq = seq;
				v->lvd_len = fs->bs < sizeof(v->lvd) ? fs->bs : sizeof(v->lvd);
				memcpy(v->lvd, buf, v->lvd_len);
			}
			break;
		case TAG_PD: {
			uint16_t num = le16(buf + PD_NUMBER);
			unsigned k;
			for (k = 0; k < v->npd && v->pd[k].number != num; k++)
				;
			if (k == v->npd) {
				if (v->npd == MAX_PARTS)
					break;
				v->npd++;
			} else if (seq < v->pd[k].seq) {
				break;
			}
			v->pd[k].number = num;
			v->pd[k].seq = seq;
			v->pd[k].start = le32(buf + PD_START);
			v->pd[k].len = le32(buf + PD_LENGTH);
			v->pd[k].access = le32(buf + PD_ACCESS_TYPE);
			/* Partition header descriptor (ECMA-167 4/14.3) in the contents use. */
			v->pd[k].ust_len = le32(buf + PD_CONTENTS_USE + PHD_UNALLOC_TABLE + AD_LEN) & AD_LEN_MASK;
			v->pd[k].usb_len = le32(buf + PD_CONTENTS_USE + PHD_UNALLOC_BITMAP + AD_LEN) & AD_LEN_MASK;
			v->pd[k].usb_lbn = le32(buf + PD_CONTENTS_USE + PHD_UNALLOC_BITMAP + SAD_POS);
			break;
		}
		case TAG_VDP:
			if (++hops > 16)
				return -EIO;
			loc = le32(buf + VDP_NEXT_VDS + EXT_LOC);
			n = le32(buf + VDP_NEXT_VDS + EXT_LEN) / fs->bs;
			i = (uint64_t)-1;
			break;
		case TAG_TD:
			return v->have_pvd && v->have_lvd ? 0 : -EIO;
		default:
			break;
		}
	}
	return v->have_pvd && v->have_lvd ? 0 : -EIO;
}

void udf_read_lvid(struct udf_fs *fs, uint32_t loc, uint32_t len, uint8_t *buf)
{
	for (int hops = 0; hops < 16 && len >= fs->bs; hops++) {
		if ((uint64_t)loc >= fs->nblocks || read_sector(fs, loc, buf))
			return;
		if (udf_tag_check(buf, fs->bs, loc) != TAG_LVID)
			return;
		uint32_t np = le32(buf + LVID_NUM_PARTITIONS), liu = le32(buf + LVID_IMPL_USE_LEN);
		if (np > 64 || LVID_FREE_SPACE + 8ull * np + liu > fs->bs)
			return;
		uint64_t free_blocks = 0;
		for (uint32_t i = 0; i < np && i < fs->nparts; i++) {
			uint32_t f = le32(buf + LVID_FREE_SPACE + 4 * i);
			/* a metadata partition's free blocks are inside its metadata file, which the
			 * physical partition already counts as used: free space is where data can go */
			if (f != 0xFFFFFFFFu && fs->parts[i].kind != PART_META)
				free_blocks += f;
		}
		fs->sf.free_blocks = free_blocks;
		fs->lvid_loc = loc;
		fs->lvid_type = le32(buf + LVID_INTEGRITY_TYPE);
		fs->next_uniq = le64(buf + LVID_NEXT_UNIQUE_ID);
		if (liu >= LVIU_SIZE) {
			const uint8_t *iu = buf + LVID_FREE_SPACE + 8 * np;
			fs->sf.files = le32(iu + LVIU_NUM_FILES);
			fs->sf.dirs = le32(iu + LVIU_NUM_DIRS);
		}
		/* Follow the next integrity extent, where the newest LVID may be. */
		uint32_t nlen = le32(buf + LVID_NEXT_EXTENT + EXT_LEN), nloc = le32(buf + LVID_NEXT_EXTENT + EXT_LOC);
		if (nlen == 0)
			return;
		loc = nloc;
		len = nlen;
	}
}

const uint8_t *udf_volume_set_ident(const struct udf_fs *fs)
{
	return fs->vol_set_ident;
}
