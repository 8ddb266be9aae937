/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The logical volume integrity descriptor as the writer keeps it: marked open on the medium before the
 * first change after a clean state, closed by the clean unmount; free space, file and directory counts,
 * and the unique IDs handed out.  Under fs->lock.
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

/* Called before the first change of an operation: the medium must say "open" before it changes. */
int udf_begin_change(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	if (!w)
		return -EROFS;
	if (w->vat)
		return w->vat->broken ? -EIO : 0; /* no integrity descriptor to mark: the VAT is the switch */
	if (!w->lvid_open) {
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
	uint32_t np = le32(b + LVID_NUM_PARTITIONS), liu = le32(b + LVID_IMPL_USE_LEN);
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
	if (liu >= LVIU_SIZE) {
		uint8_t *iu = b + LVID_FREE_SPACE + 8 * np;
		udf_put_impl_regid(iu + LVIU_IMPL_IDENT);
		put_le32(iu + LVIU_NUM_FILES, (uint32_t)fs->sf.files);
		put_le32(iu + LVIU_NUM_DIRS, (uint32_t)fs->sf.dirs);
		if (le16(iu + LVIU_MAX_WRITE_REV) < fs->sf.revision)
			put_le16(iu + LVIU_MAX_WRITE_REV, (uint16_t)fs->sf.revision);
	}
	udf_tag_finish(b, fs->bs);
	return udf_write_bytes(fs, (uint64_t)fs->lvid_loc * fs->bs, fs->bs, b);
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
