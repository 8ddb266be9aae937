/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Nodes: file entries (FE and EFE) are loaded on first use and kept for the life of the mount in a
 * hash table keyed by inode number (the ICB's partition reference and block); their allocation
 * descriptors are decoded into extents; file data and symbolic link targets are read through the
 * block map.  Everything here runs under fs->lock.
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

uint64_t udf_make_ino(uint16_t part, uint32_t lbn)
{
	return ((uint64_t)part << 32 | lbn) + INO_BASE;
}

struct node *udf_node_find(struct udf_fs *fs, uint64_t ino)
{
	for (struct node *n = fs->nhash[(ino * 0x9E3779B97F4A7C15ull >> 40) & fs->nhash_mask]; n; n = n->hnext)
		if (n->ino == ino)
			return n;
	return NULL;
}

void udf_node_insert(struct udf_fs *fs, struct node *n)
{
	if (fs->nnodes + 1 > (uint64_t)fs->nhash_mask + 1) {
		uint32_t nmask = fs->nhash_mask * 2 + 1;
		struct node **nh = calloc((size_t)nmask + 1, sizeof(*nh));
		if (nh) {
			for (uint32_t i = 0; i <= fs->nhash_mask; i++) {
				for (struct node *x = fs->nhash[i], *nx; x; x = nx) {
					nx = x->hnext;
					uint32_t b = (uint32_t)(x->ino * 0x9E3779B97F4A7C15ull >> 40) & nmask;
					x->hnext = nh[b];
					nh[b] = x;
				}
			}
			free(fs->nhash);
			fs->nhash = nh;
			fs->nhash_mask = nmask;
		}
	}
	uint32_t b = (uint32_t)(n->ino * 0x9E3779B97F4A7C15ull >> 40) & fs->nhash_mask;
	n->hnext = fs->nhash[b];
	fs->nhash[b] = n;
	fs->nnodes++;
}

void udf_node_remove(struct udf_fs *fs, struct node *n)
{
	struct node **pp = &fs->nhash[(n->ino * 0x9E3779B97F4A7C15ull >> 40) & fs->nhash_mask];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			fs->nnodes--;
			return;
		}
	}
}

void udf_node_free(struct node *n)
{
	for (uint32_t i = 0; i < n->nents; i++) {
		free(n->ents[i].name);
		free(n->ents[i].raw);
	}
	free(n->ents);
	free(n->dhash);
	free(n->ext);
	free(n->inline_data);
	free(n->hdr);
	free(n->aed);
	free(n->keep_fids);
	free(n->chain);
	free(n);
}

static int add_extent(struct node *n, uint32_t *cap, uint64_t *off, uint32_t len, uint8_t type, uint16_t part,
		      uint32_t lbn)
{
	if (len == 0)
		return 0;
	if (n->next == *cap) {
		if (*cap >= MAX_EXTENTS)
			return -EIO;
		uint32_t nc = *cap ? *cap * 2 : 8;
		struct extent *e = realloc(n->ext, nc * sizeof(*e));
		if (!e)
			return -ENOMEM;
		n->ext = e;
		*cap = nc;
	}
	n->ext[n->next++] = (struct extent){*off, len, type, part, lbn};
	*off += len;
	return 0;
}

/* Decodes allocation descriptors (short, long or extended) from ad[0..len), following
 * continuation extents into allocation extent descriptors. */
static int parse_ads(struct udf_fs *fs, struct node *n, int adtype, uint16_t home_part, const uint8_t *ad, size_t len)
{
	uint32_t cap = 0, hops = 0, aed_cap = 0;
	uint64_t off = 0;
	uint8_t *aed = NULL;
	size_t adsz = adtype == 0 ? SAD_SIZE : adtype == 1 ? LAD_SIZE : EAD_SIZE;
	int rc = 0;

	while (rc == 0) {
		uint32_t next_lbn = 0;
		uint16_t next_part = home_part;
		bool cont = false;
		for (size_t i = 0; i + adsz <= len; i += adsz) {
			uint32_t raw = le32(ad + i + AD_LEN);
			uint32_t elen = raw & AD_LEN_MASK;
			uint8_t type = (uint8_t)(raw >> 30);
			uint32_t lbn;
			uint16_t part = home_part;
			if (elen == 0)
				break; /* end of descriptors */
			if (adtype == 0) {
				lbn = le32(ad + i + SAD_POS);
			} else if (adtype == 1) {
				lbn = le32(ad + i + LAD_LBN);
				part = le16(ad + i + LAD_PART);
			} else {
				elen = le32(ad + i + AD_LEN) & AD_LEN_MASK;
				lbn = le32(ad + i + EAD_LBN);
				part = le16(ad + i + EAD_PART);
			}
			if (type == 3) {
				cont = true;
				next_lbn = lbn;
				next_part = part;
				break;
			}
			if (part >= fs->nparts) {
				rc = -EIO;
				break;
			}
			rc = add_extent(n, &cap, &off, elen, type, part, lbn);
			if (rc)
				break;
		}
		if (rc || !cont)
			break;
		if (++hops > MAX_AED_CHAIN) {
			rc = -ELOOP;
			break;
		}
		if (!aed && !(aed = malloc(fs->bs))) {
			rc = -ENOMEM;
			break;
		}
		if (keep_raw(fs)) {
			if (n->naed == aed_cap) {
				aed_cap = aed_cap ? aed_cap * 2 : 4;
				uint32_t *na = realloc(n->aed, aed_cap * sizeof(*na));
				if (!na) {
					rc = -ENOMEM;
					break;
				}
				n->aed = na;
			}
			n->aed[n->naed++] = next_lbn;
		}
		if (udf_read_lb(fs, next_part, next_lbn, aed) || udf_tag_check(aed, fs->bs, next_lbn) != TAG_AED) {
			rc = -EIO;
			break;
		}
		uint32_t l = le32(aed + AED_ADS_LEN);
		if (AED_ADS + (uint64_t)l > fs->bs) {
			rc = -EIO;
			break;
		}
		ad = aed + AED_ADS;
		len = l;
	}
	free(aed);
	n->ext_cap = cap;
	return rc;
}

const struct udf_file_type udf_file_types[6] = {
	{4, S_IFDIR}, {6, S_IFBLK}, {7, S_IFCHR}, {9, S_IFIFO}, {10, S_IFSOCK}, {12, S_IFLNK},
};

mode_t udf_mode(uint32_t perm, uint16_t icbflags, uint8_t ftype)
{
	mode_t m = (mode_t)((perm & 7) | ((perm >> 5) & 7) << 3 | ((perm >> 10) & 7) << 6);

	if (icbflags & 0x40)
		m |= S_ISUID;
	if (icbflags & 0x80)
		m |= S_ISGID;
	if (icbflags & 0x100)
		m |= S_ISVTX;
	for (size_t i = 0; i < sizeof(udf_file_types) / sizeof(udf_file_types[0]); i++)
		if (udf_file_types[i].icb == ftype)
			return m | udf_file_types[i].fmt;
	return m | S_IFREG;
}

/* The device number from a Device Specification extended attribute (ECMA-167 4/14.10.7), else 0. */
static dev_t device_of(const uint8_t *ea, uint32_t lea)
{
	if (lea < EAH_SIZE || udf_tag_check(ea, lea, UINT32_MAX) != TAG_EAHD)
		return 0;
	for (uint32_t pos = EAH_SIZE; pos + DEVSPEC_SIZE <= lea;) {
		uint32_t type = le32(ea + pos + EA_TYPE), len = le32(ea + pos + EA_LENGTH);
		if (len < DEVSPEC_IMPL_USE_LEN || len > lea - pos)
			return 0;
		if (type == 12 && ea[pos + EA_SUBTYPE] == 1 && len >= DEVSPEC_SIZE)
			return makedev(le32(ea + pos + DEVSPEC_MAJOR), le32(ea + pos + DEVSPEC_MINOR));
		pos += len;
	}
	return 0;
}

/* An indirect entry's target; false when its extent is empty (a terminal entry). */
static bool ie_next(const uint8_t *ie, uint16_t *part, uint32_t *lbn)
{
	if ((le32(ie + IE_INDIRECT_ICB + AD_LEN) & AD_LEN_MASK) == 0)
		return false;
	*part = le16(ie + IE_INDIRECT_ICB + LAD_PART);
	*lbn = le32(ie + IE_INDIRECT_ICB + LAD_LBN);
	return true;
}

static int set_chain(struct node *n, const uint32_t *chain, uint32_t nchain)
{
	n->chain = malloc(nchain * sizeof(*n->chain));
	if (!n->chain)
		return -ENOMEM;
	memcpy(n->chain, chain, nchain * sizeof(*n->chain));
	n->nchain = n->chain_cap = nchain;
	return 0;
}

/* Reads the file entry of an ICB, following strategy-4096 indirect entries. */
int udf_load_node(struct udf_fs *fs, uint16_t part, uint32_t lbn, struct node **out)
{
	uint64_t ino = udf_make_ino(part, lbn);
	struct node *n = udf_node_find(fs, ino);
	uint8_t *b = fs->blk;

	if (n && !n->dead) {
		*out = n;
		return 0;
	}
	if (n)
		return -ENOENT;
	bool indirect = false, ours = true; /* ours: a chain as the writer makes them (udf_move.c) */
	uint32_t chain[MAX_ICB_HOPS + 1], nchain = 0;
	for (int hops = 0;; hops++, indirect = true) {
		if (hops > MAX_ICB_HOPS)
			return -ELOOP;
		if (udf_read_lb(fs, part, lbn, b))
			return -EIO;
		int tag = udf_tag_check(b, fs->bs, lbn);
		if (tag == TAG_IE && ie_next(b, &part, &lbn)) {
			ours = false; /* an indirect entry named directly: not a chain of ours */
			continue;
		}
		if (tag != TAG_FE && tag != TAG_EFE)
			return -EIO;
		chain[nchain++] = lbn;
		/* Strategy 4096: a newer entry may follow, or an indirect entry pointing to one; one whose
		 * extent is empty ends the chain (as Linux's udf_read_inode reads it). */
		if (le16(b + ICB_STRATEGY_TYPE) == 4096) {
			uint8_t *nb = malloc(fs->bs);
			if (!nb)
				return -ENOMEM;
			int rc = udf_read_lb(fs, part, lbn + 1, nb);
			bool ie = rc == 0 && udf_tag_check(nb, fs->bs, lbn + 1) == TAG_IE;
			uint16_t npart = part;
			bool next = ie && ie_next(nb, &npart, &lbn);
			free(nb);
			if (next) {
				ours &= npart == part;
				part = npart;
				continue;
			}
			ours &= ie; /* the writer ends its chains with a terminal indirect entry */
		} else {
			ours &= !indirect;
		}
		break;
	}
	ours &= le16(b + ICB_STRATEGY_TYPE) == 4096;
	bool efe = le16(b + TAG_IDENT) == TAG_EFE;
	size_t hdr = efe ? EFE_SIZE : FE_SIZE;
	uint32_t lea = le32(b + (efe ? EFE_EA_LEN : FE_EA_LEN)), lad = le32(b + (efe ? EFE_AD_LEN : FE_AD_LEN));
	if ((uint64_t)hdr + lea + lad > fs->bs)
		return -EIO;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->ino = ino;
	n->file_type = b[ICB_FILE_TYPE];
	uint16_t icbflags = le16(b + ICB_FLAGS);
	if (keep_raw(fs)) {
		n->hdr_len = (uint32_t)hdr + lea;
		n->hdr = malloc(n->hdr_len);
		if (!n->hdr) {
			free(n);
			return -ENOMEM;
		}
		memcpy(n->hdr, b, n->hdr_len);
		n->lea = lea;
		n->efe = efe;
		n->fe_lbn = lbn;
		/* with a metadata partition, only its file entries are written (udf_meta_write.c) */
		bool meta_vol = fs->nparts == 2 && fs->parts[1].kind == PART_META;
		if (ours && set_chain(n, chain, nchain)) {
			free(n->hdr);
			free(n);
			return -ENOMEM;
		}
		n->ro_node =
			(!ours && (indirect || le16(b + ICB_STRATEGY_TYPE) != 4)) ||
			(meta_vol ? fs->parts[part].kind != PART_META
				  : part != 0 && fs->parts[part].kind != PART_VIRTUAL) ||
			/* on write-once media only a file entry in the virtual partition can move */
			(fs->parts[part].kind == PART_PHYS && fs->nparts == 2 && fs->parts[1].kind == PART_VIRTUAL);
		n->uid_raw = le32(b + FE_UID);
		n->gid_raw = le32(b + FE_GID);
		n->perm_raw = le32(b + FE_PERMISSIONS);
		n->uniq = le64(b + (efe ? EFE_UNIQUE_ID : FE_UNIQUE_ID));
	}
	uint32_t uid = le32(b + FE_UID), gid = le32(b + FE_GID);
	n->size = le64(b + FE_INFO_LENGTH);
	n->st.st_ino = ino;
	n->st.st_mode = udf_mode(le32(b + FE_PERMISSIONS), icbflags, n->file_type);
	n->st.st_nlink = le16(b + FE_LINK_COUNT) ? le16(b + FE_LINK_COUNT) : 1;
	/* A directory's count leaves out its own "." (as the Linux kernel records it). */
	if (n->file_type == 4)
		n->st.st_nlink++;
	n->st.st_uid = uid == 0xFFFFFFFFu ? fs->opts.uid : uid;
	n->st.st_gid = gid == 0xFFFFFFFFu ? fs->opts.gid : gid;
	n->st.st_size = (off_t)n->size;
	n->st.st_blksize = fs->bs;
	n->st.st_blocks = (blkcnt_t)(le64(b + (efe ? EFE_BLOCKS_RECORDED : FE_BLOCKS_RECORDED)) * (fs->bs / 512));
	n->st.st_atim = udf_timestamp(b + (efe ? EFE_ACCESS_TIME : FE_ACCESS_TIME));
	n->st.st_mtim = udf_timestamp(b + (efe ? EFE_MODIFICATION_TIME : FE_MODIFICATION_TIME));
	n->st.st_ctim = udf_timestamp(b + (efe ? EFE_ATTRIBUTE_TIME : FE_ATTRIBUTE_TIME));
	if (n->file_type == 6 || n->file_type == 7)
		n->st.st_rdev = device_of(b + hdr, lea);
	int adtype = icbflags & 7;
	const uint8_t *ad = b + hdr + lea;
	int rc = 0;
	if (adtype == 3) {
		if (n->size > lad) {
			rc = -EIO;
		} else {
			n->inline_data = malloc(n->size ? n->size : 1);
			if (!n->inline_data)
				rc = -ENOMEM;
			else
				memcpy(n->inline_data, ad, n->size);
		}
	} else if (adtype <= 2) {
		rc = parse_ads(fs, n, adtype, part, ad, lad);
	} else {
		rc = -EIO;
	}
	if (rc == 0 && !n->inline_data) {
		uint64_t total = n->next ? n->ext[n->next - 1].file_off + n->ext[n->next - 1].len : 0;
		if (n->size > total)
			rc = -EIO; /* information length beyond the allocated extents */
	}
	if (rc) {
		udf_node_free(n);
		return rc;
	}
	udf_node_insert(fs, n);
	if (fs->w && !fs->w->vat)
		fs->w->chain_blocks += udf_move_chain_extra(n);
	if (n->file_type == 12) {
		/* as lstat(2) reports it (and Linux's udf): the length of the target, not of its encoding */
		char *t = malloc(MAX_SYMLINK);
		if (t && udf_link_target(fs, n, t, MAX_SYMLINK) == 0)
			n->st.st_size = (off_t)strlen(t);
		free(t);
	}
	*out = n;
	return 0;
}

/* The extent holding byte off of the file: the last one that starts at or before it (binary search);
 * 0 when there is none. */
uint32_t udf_ext_index(const struct node *n, uint64_t off)
{
	uint32_t lo = 0, hi = n->next;

	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;
		if (n->ext[mid].file_off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

ssize_t udf_node_read(struct udf_fs *fs, struct node *n, uint64_t off, size_t len, uint8_t *buf)
{
	if (off >= n->size)
		return 0;
	if (len > n->size - off)
		len = (size_t)(n->size - off);
	if (n->inline_data) {
		memcpy(buf, n->inline_data + off, len);
		return (ssize_t)len;
	}
	uint32_t lo = udf_ext_index(n, off);
	size_t done = 0;
	for (uint32_t i = lo; i < n->next && done < len; i++) {
		struct extent *e = &n->ext[i];
		uint64_t in = off + done - e->file_off;
		size_t chunk = (size_t)(e->len - in < len - done ? e->len - in : len - done);
		if (e->type != 0) {
			memset(buf + done, 0, chunk);
		} else {
			/* Block by block through the partition map; runs of consecutive sectors at once. */
			size_t c = 0;
			while (c < chunk) {
				uint64_t pos = in + c;
				uint64_t blk = pos / fs->bs;
				if ((uint64_t)e->lbn + blk > UINT32_MAX)
					return -EIO;
				uint64_t sector;
				int rc = udf_map_block(fs, e->part, (uint32_t)(e->lbn + blk), &sector);
				if (rc)
					return rc;
				size_t boff = (size_t)(pos % fs->bs);
				size_t n_here = fs->bs - boff;
				uint64_t blk_end = ((uint64_t)e->len + fs->bs - 1) / fs->bs, next = sector + 1, s2;
				while (c + n_here < chunk && blk + 1 < blk_end &&
				       (uint64_t)e->lbn + blk + 1 <= UINT32_MAX &&
				       udf_map_block(fs, e->part, (uint32_t)(e->lbn + blk + 1), &s2) == 0 &&
				       s2 == next) {
					blk++;
					next++;
					n_here += fs->bs;
				}
				if (n_here > chunk - c)
					n_here = chunk - c;
				rc = udf_read_bytes(fs, sector * fs->bs + boff, n_here, buf + done + c);
				if (rc)
					return rc;
				c += n_here;
			}
		}
		done += chunk;
	}
	return (ssize_t)done;
}

int udf_get_node(struct udf_fs *fs, uint64_t ino, struct node **out)
{
	struct node *n = udf_node_find(fs, ino);

	if (n) {
		*out = n;
		return n->dead ? -ENOENT : 0;
	}
	if (ino < INO_BASE)
		return -ENOENT;
	uint64_t raw = ino - INO_BASE;
	return udf_load_node(fs, (uint16_t)(raw >> 32), (uint32_t)raw, out);
}

/* A symbolic link's target from its path components; under the lock. */
int udf_link_target(struct udf_fs *fs, struct node *n, char *buf, size_t len)
{
	uint8_t raw[MAX_SYMLINK];
	size_t pos = 0;

	if (n->size > sizeof(raw))
		return -ENAMETOOLONG;
	ssize_t got = udf_node_read(fs, n, 0, (size_t)n->size, raw);
	if (got < 0)
		return (int)got;
	/* Path components (ECMA-167 4/14.16.1). */
	for (size_t i = 0; i + PC_SIZE <= (size_t)got;) {
		uint8_t type = raw[i + PC_TYPE], lci = raw[i + PC_IDENT_LEN];
		if (i + PC_SIZE + lci > (size_t)got)
			return -EIO;
		char comp[1024];
		const char *add;
		switch (type) {
		/* ECMA-167 4/14.16.1: 1 with no identifier and 2 are the root, 3 the parent, 4 this
		 * directory; 1 with an identifier means something agreed elsewhere: skipped, as Linux does */
		case 1:
			if (lci) {
				i += PC_SIZE + lci;
				continue;
			}
			/* fall through */
		case 2:
			pos = 0;
			add = "/";
			break;
		case 3:
			add = "..";
			break;
		case 4:
			add = ".";
			break;
		case 5:
			if (udf_cs0_to_utf8(raw + i + PC_SIZE, lci, comp, sizeof(comp)) < 0 || strchr(comp, '/'))
				return -EIO;
			add = comp;
			break;
		default:
			return -EIO;
		}
		size_t alen = strlen(add);
		bool sep = pos > 0 && buf[pos - 1] != '/';
		if (pos + sep + alen + 1 > len)
			return -ENAMETOOLONG;
		if (sep)
			buf[pos++] = '/';
		memcpy(buf + pos, add, alen);
		pos += alen;
		i += PC_SIZE + lci;
	}
	if (pos + 1 > len)
		return -ENAMETOOLONG;
	buf[pos] = '\0';
	return 0;
}
