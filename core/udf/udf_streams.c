/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a file entry owns besides its data (UDF 3.3.4, 3.3.5; ECMA-167 4/9.1): its extended attribute
 * file and its stream directory with the streams it names, walked for the checks (the blocks are in
 * use) and for a delete (the blocks go with the file).  Under fs->lock.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_w.h"

#include <errno.h>
#include <stdlib.h>

/* The node of the ICB a long_ad names; -EOPNOTSUPP outside partition 0 and a metadata partition (a
 * virtual one). */
static int icb_node(struct udf_fs *fs, const uint8_t *icb, struct node **out)
{
	uint16_t part = le16(icb + LAD_PART);

	if (part >= fs->nparts || (part != 0 && fs->parts[part].kind != PART_META))
		return -EOPNOTSUPP;
	return udf_load_node(fs, part, le32(icb + LAD_LBN), out);
}

/* True when a node owns ICBs of its own: an extended attribute file or a stream directory. */
static bool has_attached(const struct node *n)
{
	const uint8_t *h = n->hdr;

	return h && ((le32(h + (n->efe ? EFE_EA_ICB : FE_EA_ICB) + AD_LEN) & AD_LEN_MASK) ||
		     (n->efe && (le32(h + EFE_STREAM_DIR_ICB + AD_LEN) & AD_LEN_MASK)));
}

int udf_for_stream_dir(struct udf_fs *fs, const uint8_t *icb, udf_visit_fn visit, void *ctx)
{
	struct node *sd, *c;
	int rc = icb_node(fs, icb, &sd);

	if (rc)
		return rc;
	if (sd->size > (1u << 20))
		return -EFBIG;
	if ((rc = visit(ctx, sd)) != 0)
		return rc;
	uint8_t *data = malloc(sd->size ? sd->size : 1);
	if (!data)
		return -ENOMEM;
	if (udf_node_read(fs, sd, 0, sd->size, data) != (ssize_t)sd->size)
		rc = -EIO;
	int deeper = 0;
	for (uint64_t pos = 0; rc == 0 && pos + FID_IMPL_USE <= sd->size;) {
		const uint8_t *f = data + pos;
		uint64_t flen = udf_fid_size(f);
		if (le16(f + TAG_IDENT) != TAG_FID || pos + flen > sd->size) {
			rc = -EIO;
			break;
		}
		pos += flen;
		if ((f[FID_CHARACTERISTICS] & 0x0C) || (le32(f + FID_ICB + AD_LEN) & AD_LEN_MASK) == 0)
			continue; /* parent or deleted */
		if ((rc = icb_node(fs, f + FID_ICB, &c)) != 0)
			break;
		/* a stream is a file without streams of its own (UDF 3.3.5.1): what a deeper one owns is not
		 * followed (its own blocks are visited, the walk goes on, and the answer says so) */
		if (c->file_type == 4 || c->file_type == 13 || has_attached(c) || !c->hdr)
			deeper = -EOPNOTSUPP;
		rc = visit(ctx, c);
	}
	free(data);
	return rc ? rc : deeper;
}

int udf_for_attached(struct udf_fs *fs, const struct node *n, udf_visit_fn visit, void *ctx)
{
	const uint8_t *h = n->hdr;
	struct node *ea;
	int rc = 0;

	if (!h)
		return has_attached(n) ? -EOPNOTSUPP : 0;
	const uint8_t *eaicb = h + (n->efe ? EFE_EA_ICB : FE_EA_ICB);
	if (le32(eaicb + AD_LEN) & AD_LEN_MASK) {
		if ((rc = icb_node(fs, eaicb, &ea)) != 0)
			return rc;
		if (has_attached(ea) || !ea->hdr)
			return -EOPNOTSUPP;
		if ((rc = visit(ctx, ea)) != 0)
			return rc;
	}
	if (n->efe && (le32(h + EFE_STREAM_DIR_ICB + AD_LEN) & AD_LEN_MASK))
		rc = udf_for_stream_dir(fs, h + EFE_STREAM_DIR_ICB, visit, ctx);
	return rc;
}
