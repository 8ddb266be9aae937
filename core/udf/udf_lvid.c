/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The logical volume integrity descriptor as the writer keeps it: marked open on the medium before the
 * first change after a clean state, closed by the clean unmount; free space, file and directory counts,
 * the unique IDs handed out, and the Minimum UDF Write Revision that keeps other writers out while it
 * is open.  Under fs->lock.
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

/*
 * While the LVID says open the space bitmap on the medium may miss this mount's allocations: it is
 * written at the clean unmount only (media life, issue 13), and after a crash only a writer that
 * rebuilds it from the tree (udf_recover) can allocate safely.  So the LVID written open records as its
 * Minimum UDF Write Revision, "the minimum revision of the UDF specification that an implementation is
 * required to support to successfully modify" the volume (UDF 2.60 2.2.6.4), one that no writer
 * supports, and the clean close records the volume's own again.  0xFFFF: above 2.60, the last revision
 * OSTA published, and not a BCD revision at all, so that no writer can ever claim it.  Linux's udf
 * (fs/udf/super.c, udf_fill_super) refuses a read-write mount with EACCES when it exceeds
 * UDF_MAX_WRITE_VERSION (0x0201), and mount(8) then mounts read-only (util-linux's says "source
 * write-protected, mounted read-only", busybox's nothing); a remount read-write fails with EACCES too
 * (both seen with Debian's kernel: tests/kernel/kernel_crash.sh).  What Windows's udfs.sys does with
 * it is unknown (not tested).  Readers are unaffected: reading is governed by the Minimum UDF
 * Read Revision, which stays as it is.  pktfuse recognises the value by its own implementation
 * identifier next to it (udf_lvid_attach) and never refuses its own disc for it.
 */
#define UDF_GUARD_WRITE_REV 0xFFFFu

/* The LVID's implementation use (UDF 2.2.6.4) in b, NULL when it records none. */
static uint8_t *lvid_iu(uint8_t *b)
{
	uint32_t np = le32(b + LVID_NUM_PARTITIONS);

	return le32(b + LVID_IMPL_USE_LEN) >= LVIU_SIZE ? b + LVID_FREE_SPACE + 8 * np : NULL;
}

/* At the writer's attach, from the LVID it read (w->lvid): the volume's own Minimum UDF Write Revision,
 * and whether the medium's LVID is open and guarded already. */
void udf_lvid_attach(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;
	const uint8_t *iu = lvid_iu(w->lvid);

	w->min_write_rev = (uint16_t)fs->sf.revision;
	w->lvid_guarded = fs->lvid_type != 1 && !iu;
	if (!iu)
		return;
	uint8_t ours[REGID_SIZE];
	udf_put_impl_regid(ours);
	bool by_us = memcmp(iu + LVIU_IMPL_IDENT + REGID_IDENT, ours + REGID_IDENT, REGID_SUFFIX - REGID_IDENT) == 0;
	uint16_t recorded = le16(iu + LVIU_MIN_WRITE_REV);
	if (recorded == UDF_GUARD_WRITE_REV && by_us) {
		/* left by a pktfuse that did not close the volume (a crash): the volume's own is its
		 * revision (the domain identifier's), what pktfuse format records */
		w->lvid_guarded = fs->lvid_type != 1;
	} else {
		w->min_write_rev = recorded;
	}
}

/* Called before the first change of an operation: the medium must say "open" before it changes, and
 * keep other writers out (UDF_GUARD_WRITE_REV) while it does; a disc left open by another writer (or by
 * a pktfuse before the guard) gets the guard before the first change after its check. */
int udf_begin_change(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	if (!w)
		return -EROFS;
	if (w->vat)
		return w->vat->broken ? -EIO : 0; /* no integrity descriptor to mark: the VAT is the switch */
	if (!w->lvid_open || !w->lvid_guarded) {
		int rc = udf_write_lvid(fs, true);
		if (rc == 0)
			rc = udf_barrier(fs);
		if (rc)
			return rc;
		w->lvid_open = true;
	}
	return 0;
}

int udf_write_lvid(struct udf_fs *fs, bool open_)
{
	struct udf_w *w = fs->w;
	uint8_t *b = w->lvid;

	if (w->vat)
		return 0; /* recorded once, by the format */

	udf_put_timestamp(b + LVID_RECORDING_TIME, now(), w->tz);
	put_le32(b + LVID_INTEGRITY_TYPE, open_ ? 0 : 1);
	/* While open, the recorded next unique ID runs ahead of what is handed out, so that the
	 * commits in between need not rewrite the LVID (its packet is written once per session
	 * step, not per commit); a crash leaves an ID no file has. */
	uint64_t next = open_ ? fs->next_uniq + UNIQ_AHEAD : fs->next_uniq;
	put_le64(b + LVID_NEXT_UNIQUE_ID, next);
	w->uniq_bound = next;
	uint32_t np = le32(b + LVID_NUM_PARTITIONS);
	if (np >= 1) {
		put_le32(b + LVID_FREE_SPACE,
			 (uint32_t)(w->free_blocks > UINT32_MAX - 1 ? UINT32_MAX - 1 : w->free_blocks));
		put_le32(b + LVID_FREE_SPACE + 4 * np, (uint32_t)w->plen);
	}
	if (np >= 2 && w->meta) { /* the metadata partition's entries */
		uint32_t mfree, msize;
		udf_meta_counts(fs, &mfree, &msize);
		put_le32(b + LVID_FREE_SPACE + 4, mfree);
		put_le32(b + LVID_FREE_SPACE + 4 * np + 4, msize);
	}
	uint8_t *iu = lvid_iu(b);
	if (iu) {
		udf_put_impl_regid(iu + LVIU_IMPL_IDENT);
		put_le32(iu + LVIU_NUM_FILES, (uint32_t)fs->sf.files);
		put_le32(iu + LVIU_NUM_DIRS, (uint32_t)fs->sf.dirs);
		put_le16(iu + LVIU_MIN_WRITE_REV, open_ ? UDF_GUARD_WRITE_REV : w->min_write_rev);
		if (le16(iu + LVIU_MAX_WRITE_REV) < fs->sf.revision)
			put_le16(iu + LVIU_MAX_WRITE_REV, (uint16_t)fs->sf.revision);
	}
	udf_tag_finish(b, fs->bs);
	int rc = udf_write_bytes(fs, (uint64_t)fs->lvid_loc * fs->bs, fs->bs, b);
	if (rc == 0)
		w->lvid_guarded = open_;
	return rc;
}

uint64_t udf_take_uniq(struct udf_fs *fs)
{
	uint64_t u = fs->next_uniq++;

	if ((uint32_t)u < 16) { /* the low 32 bits 0-15 are reserved (UDF 3.2.1.1) */
		u = (u & ~0xFFFFFFFFull) + 16;
		fs->next_uniq = u + 1;
	}
	return u;
}
