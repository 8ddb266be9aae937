/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UDF volume, partitions, file entries, directories and file data.
 *
 * Nodes (file entries) are loaded on first use and kept for the life of the mount in a hash table
 * keyed by inode number (the ICB's partition reference and block); a directory is parsed once into
 * an array of entries plus a name hash, so a lookup in a large directory never rescans it.
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

uint64_t udf_make_ino(uint16_t part, uint32_t lbn)
{
	return ((uint64_t)part << 32 | lbn) + INO_BASE;
}

/* A mount that may be written keeps what the writer needs to rewrite descriptors faithfully. */
static bool keep_raw(const struct udf_fs *fs)
{
	return fs->io.write && !fs->opts.read_only;
}

int udf_read_bytes(struct udf_fs *fs, uint64_t off, size_t len, void *buf)
{
	if (off > fs->io.size || len > fs->io.size - off)
		return -EIO;
	return fs->io.read(fs->io.ctx, off, len, buf);
}

static int read_sector(struct udf_fs *fs, uint64_t sector, void *buf)
{
	return udf_read_bytes(fs, sector * fs->bs, fs->bs, buf);
}

/* Partition-relative block → medium sector, through the sparing table where there is one. */
int udf_map_block(struct udf_fs *fs, uint16_t pref, uint32_t lbn, uint64_t *sector)
{
	if (pref >= fs->nparts)
		return -EIO;
	struct part *p = &fs->parts[pref];
	if (p->kind == PART_VIRTUAL) {
		if (!p->vat || lbn >= p->nvat || p->vat[lbn] == 0xFFFFFFFFu)
			return -EIO;
		lbn = p->vat[lbn];
		p = &fs->parts[p->phys];
	} else if (p->kind == PART_META) {
		/* A block of the metadata partition is a block of the metadata file. */
		struct node *m = p->meta;
		uint64_t off = (uint64_t)lbn * fs->bs;
		if (!m || m->inline_data || off >= m->size)
			return -EIO;
		uint32_t lo = udf_ext_index(m, off);
		if (lo >= m->next || m->ext[lo].type != 0 || off - m->ext[lo].file_off >= m->ext[lo].len)
			return -EIO;
		uint64_t plbn = m->ext[lo].lbn + (off - m->ext[lo].file_off) / fs->bs;
		if (plbn > UINT32_MAX || m->ext[lo].part != p->phys)
			return -EIO;
		lbn = (uint32_t)plbn;
		p = &fs->parts[p->phys];
	}
	if (!p->have_pd || p->kind == PART_VIRTUAL || p->kind == PART_META)
		return -EIO; /* not supported yet: refused, never guessed */
	if (lbn >= p->len)
		return -EIO;
	if (p->kind == PART_SPARABLE && p->packet_len) {
		uint32_t pkt = lbn - lbn % p->packet_len;
		for (uint32_t i = 0; i < p->nspare; i++) {
			if (p->spare[i].orig == pkt) {
				*sector = (uint64_t)p->spare[i].mapped + lbn % p->packet_len;
				return *sector < fs->nblocks ? 0 : -EIO;
			}
		}
	}
	*sector = p->start + lbn;
	return *sector < fs->nblocks ? 0 : -EIO;
}

int udf_read_lb(struct udf_fs *fs, uint16_t pref, uint32_t lbn, void *buf)
{
	uint64_t sector;
	int rc = udf_map_block(fs, pref, lbn, &sector);

	return rc ? rc : read_sector(fs, sector, buf);
}

/* ---- volume ---- */

static bool has_anchor(struct udf_fs *fs, uint64_t sector, uint8_t *buf, uint32_t *main_loc,
		       uint32_t *main_len, uint32_t *res_loc, uint32_t *res_len)
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

static bool vrs_has_nsr(struct udf_fs *fs, uint8_t *buf)
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

struct vds {
	bool have_pvd, have_lvd;
	uint32_t pvd_seq, lvd_seq;
	uint8_t lvd[2048];
	size_t lvd_len;
	struct {
		uint16_t number;
		uint32_t start, len;
		uint32_t seq;
		uint32_t access, usb_len, usb_lbn, ust_len;
	} pd[MAX_PARTS];
	unsigned npd;
};

static int read_vds(struct udf_fs *fs, uint32_t loc, uint32_t len, struct vds *v, uint8_t *buf)
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

static int load_sparing(struct udf_fs *fs, struct part *p, const uint8_t *map, uint8_t *buf)
{
	unsigned ntables = map[SPMAP_NUM_TABLES];
	uint32_t table_size = le32(map + SPMAP_TABLE_SIZE);

	for (unsigned t = 0; t < ntables && t < 4; t++)
		p->stable_loc[t] = le32(map + SPMAP_TABLE_LOCS + 4 * t);
	p->nstable = ntables < 4 ? ntables : 4;
	p->stable_len = table_size;

	if (ntables < 1 || ntables > 4 || table_size < ST_MAP || table_size > (1u << 20))
		return -EIO;
	size_t blocks = (table_size + fs->bs - 1) / fs->bs;
	uint8_t *tbl = malloc(blocks * fs->bs);
	if (!tbl)
		return -ENOMEM;
	/* Use the first copy that verifies; the others exist for exactly this. */
	for (unsigned t = 0; t < ntables; t++) {
		uint32_t loc = le32(map + SPMAP_TABLE_LOCS + 4 * t);
		bool ok = true;
		for (size_t b = 0; b < blocks && ok; b++)
			ok = (uint64_t)loc + b < fs->nblocks && read_sector(fs, (uint64_t)loc + b, tbl + b * fs->bs) == 0;
		if (!ok)
			continue;
		uint16_t crc_len = le16(tbl + TAG_CRC_LENGTH);
		if (crc_len + (unsigned)TAG_SIZE > blocks * fs->bs || udf_tag_check(tbl, blocks * fs->bs, loc) != 0)
			continue;
		if (memcmp(tbl + ST_IDENT + REGID_IDENT, "*UDF Sparing Table", 18) != 0)
			continue;
		uint16_t n = le16(tbl + ST_NUM_ENTRIES);
		if ((unsigned)ST_MAP + (unsigned)STE_SIZE * n > blocks * fs->bs)
			continue;
		p->spare = calloc(n ? n : 1, sizeof(*p->spare));
		if (!p->spare) {
			free(tbl);
			return -ENOMEM;
		}
		p->nspare_cap = n ? n : 1;
		for (uint16_t i = 0; i < n; i++) {
			uint32_t orig = le32(tbl + ST_MAP + STE_SIZE * i + STE_ORIGINAL);
			if (orig >= 0xFFFFFFF0u)
				continue; /* free or defective spare */
			p->spare[p->nspare].orig = orig;
			p->spare[p->nspare].mapped = le32(tbl + ST_MAP + STE_SIZE * i + STE_MAPPED);
			p->nspare++;
		}
		if (keep_raw(fs)) {
			/* the writer moves packets that fail into spares, and records it in every copy */
			p->stable_raw = tbl;
			p->stable_bytes = blocks * fs->bs;
		} else {
			free(tbl);
		}
		return 0;
	}
	free(tbl);
	(void)buf;
	return -EIO;
}

static int setup_partitions(struct udf_fs *fs, struct vds *v, uint8_t *buf, char *err, size_t errlen)
{
	const uint8_t *lvd = v->lvd;
	uint32_t mt_len = le32(lvd + LVD_MAP_TABLE_LENGTH), nmaps = le32(lvd + LVD_NUM_PARTITION_MAPS);

	if (nmaps == 0 || nmaps > MAX_PARTS || LVD_PARTITION_MAPS + (uint64_t)mt_len > v->lvd_len) {
		snprintf(err, errlen, "UDF logical volume has an invalid partition map table");
		return -EIO;
	}
	const uint8_t *m = lvd + LVD_PARTITION_MAPS, *end = m + mt_len;
	for (uint32_t i = 0; i < nmaps; i++) {
		if (m + PMAP_LENGTH + 1 > end || m[PMAP_LENGTH] < 6 || m + m[PMAP_LENGTH] > end) {
			snprintf(err, errlen, "UDF partition map %u is damaged", i);
			return -EIO;
		}
		struct part *p = &fs->parts[i];
		uint16_t num;
		if (m[PMAP_TYPE] == 1) {
			p->kind = PART_PHYS;
			num = le16(m + PMAP1_PART_NUM);
		} else if (m[PMAP_TYPE] == 2 && m[PMAP_LENGTH] >= PMAP2_SIZE) {
			num = le16(m + PMAP2_PART_NUM);
			if (memcmp(m + PMAP2_IDENT + REGID_IDENT, "*UDF Sparable Partition", 23) == 0) {
				p->kind = PART_SPARABLE;
				p->packet_len = le16(m + SPMAP_PACKET_LENGTH);
				if (p->packet_len == 0 || p->packet_len > 1024) {
					snprintf(err, errlen, "UDF sparable partition has packet length %u", p->packet_len);
					return -EIO;
				}
				if (load_sparing(fs, p, m, buf)) {
					snprintf(err, errlen, "no readable UDF sparing table");
					return -EIO;
				}
			} else if (memcmp(m + PMAP2_IDENT + REGID_IDENT, "*UDF Virtual Partition", 22) == 0) {
				p->kind = PART_VIRTUAL;
			} else if (memcmp(m + PMAP2_IDENT + REGID_IDENT, "*UDF Metadata Partition", 23) == 0) {
				p->kind = PART_META;
				p->meta_loc = le32(m + MPMAP_FILE_LOC);
				p->mirror_loc = le32(m + MPMAP_MIRROR_LOC);
			} else {
				snprintf(err, errlen, "unknown UDF partition map type");
				return -EIO;
			}
		} else {
			snprintf(err, errlen, "unknown UDF partition map type %u", m[PMAP_TYPE]);
			return -EIO;
		}
		p->number = num;
		for (unsigned k = 0; k < v->npd; k++) {
			if (v->pd[k].number == num) {
				p->start = v->pd[k].start;
				p->len = v->pd[k].len;
				p->have_pd = p->start < fs->nblocks && p->len <= fs->nblocks - p->start;
				p->access = v->pd[k].access;
				p->usb_len = v->pd[k].usb_len;
				p->usb_lbn = v->pd[k].usb_lbn;
				p->ust_len = v->pd[k].ust_len;
			}
		}
		if (!p->have_pd) {
			snprintf(err, errlen, "UDF partition %u is missing or lies outside the medium", num);
			return -EIO;
		}
		m += m[PMAP_LENGTH];
	}
	fs->nparts = nmaps;
	return 0;
}

static void read_lvid(struct udf_fs *fs, uint32_t loc, uint32_t len, uint8_t *buf)
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
			if (f != 0xFFFFFFFFu)
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

/* ---- nodes ---- */

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
	free(n);
}

static int add_extent(struct node *n, uint32_t *cap, uint64_t *off, uint32_t len, uint8_t type,
		      uint16_t part, uint32_t lbn)
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
static int parse_ads(struct udf_fs *fs, struct node *n, int adtype, uint16_t home_part, const uint8_t *ad,
		     size_t len)
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

mode_t udf_mode(uint32_t perm, uint16_t icbflags, uint8_t ftype)
{
	mode_t m = (mode_t)((perm & 7) | ((perm >> 5) & 7) << 3 | ((perm >> 10) & 7) << 6);

	if (icbflags & 0x40)
		m |= S_ISUID;
	if (icbflags & 0x80)
		m |= S_ISGID;
	if (icbflags & 0x100)
		m |= S_ISVTX;
	switch (ftype) {
	case 4:
		return m | S_IFDIR;
	case 6:
		return m | S_IFBLK;
	case 7:
		return m | S_IFCHR;
	case 9:
		return m | S_IFIFO;
	case 10:
		return m | S_IFSOCK;
	case 12:
		return m | S_IFLNK;
	default:
		return m | S_IFREG;
	}
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
	bool indirect = false;
	for (int hops = 0;; hops++, indirect = true) {
		if (hops > MAX_ICB_HOPS)
			return -ELOOP;
		if (udf_read_lb(fs, part, lbn, b))
			return -EIO;
		int tag = udf_tag_check(b, fs->bs, lbn);
		if (tag == TAG_IE) {
			part = le16(b + IE_INDIRECT_ICB + LAD_PART);
			lbn = le32(b + IE_INDIRECT_ICB + LAD_LBN);
			continue;
		}
		if (tag != TAG_FE && tag != TAG_EFE)
			return -EIO;
		/* Strategy 4096: a newer entry may follow, or an indirect entry pointing to one. */
		if (le16(b + ICB_STRATEGY_TYPE) == 4096) {
			uint8_t *nb = malloc(fs->bs);
			if (!nb)
				return -ENOMEM;
			int rc = udf_read_lb(fs, part, lbn + 1, nb);
			if (rc == 0 && udf_tag_check(nb, fs->bs, lbn + 1) == TAG_IE) {
				part = le16(nb + IE_INDIRECT_ICB + LAD_PART);
				lbn = le32(nb + IE_INDIRECT_ICB + LAD_LBN);
				free(nb);
				continue;
			}
			free(nb);
		}
		break;
	}
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
		n->ro_node = indirect || le16(b + ICB_STRATEGY_TYPE) != 4 || part != 0;
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
				while (c + n_here < chunk && blk + 1 < blk_end && (uint64_t)e->lbn + blk + 1 <= UINT32_MAX &&
				       udf_map_block(fs, e->part, (uint32_t)(e->lbn + blk + 1), &s2) == 0 && s2 == next) {
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

/* ---- directories ---- */

uint32_t udf_name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

struct dirent_ *udf_dir_find(struct node *d, const char *name)
{
	if (!d->dhash)
		return NULL;
	for (uint32_t i = d->dhash[udf_name_hash(name) & d->dhash_mask]; i != UINT32_MAX; i = d->ents[i].hnext)
		if (d->ents[i].name && strcmp(d->ents[i].name, name) == 0)
			return &d->ents[i];
	return NULL;
}

/* The error for a name d does not hold: ENAMETOOLONG for one longer than any this engine creates
 * (as Linux's udf answers), else ENOENT.  A longer name recorded by another system is still found. */
int udf_missing_name(const char *name)
{
	return strlen(name) > UDF_NAME_MAX ? -ENAMETOOLONG : -ENOENT;
}

/* A name a disc cannot use to escape or confuse: '/' and NUL become '_', '.' and '..' and names
 * that are not valid CS0 get a suffix from the CRC of the raw bytes, so they stay unique and stable. */
static char *safe_name(const uint8_t *raw, size_t len)
{
	char u[1024];
	int n = udf_cs0_to_utf8(raw, len, u, sizeof(u));
	bool bad = n <= 0;

	if (!bad) {
		for (int i = 0; i < n; i++) {
			if (u[i] == '/' || u[i] == '\0') {
				u[i] = '_';
				bad = true;
			}
		}
		if (strcmp(u, ".") == 0 || strcmp(u, "..") == 0)
			bad = true;
	} else {
		size_t k = 0;
		for (size_t i = 1; i < len && k < 200; i++)
			u[k++] = raw[i] >= 0x20 && raw[i] < 0x7F && raw[i] != '/' ? (char)raw[i] : '_';
		u[k] = '\0';
		n = (int)k;
	}
	if (bad) {
		char tmp[1100];
		snprintf(tmp, sizeof(tmp), "%s#%04X", n > 0 ? u : "", udf_crc_itu(raw, len));
		return strdup(tmp);
	}
	return strdup(u);
}

/* Keeps a FID the writer must carry over verbatim (hidden, or a name seen twice). */
static int keep_fid(struct node *d, const uint8_t *f, size_t len)
{
	uint8_t *k = realloc(d->keep_fids, d->keep_len + len);

	if (!k)
		return -ENOMEM;
	memcpy(k + d->keep_len, f, len);
	d->keep_fids = k;
	d->keep_len += (uint32_t)len;
	return 0;
}

/* Builds the name hash over the live entries of d->ents (names seen twice: the first one wins). */
void udf_dir_rehash(struct node *d)
{
	memset(d->dhash, 0xFF, ((size_t)d->dhash_mask + 1) * sizeof(uint32_t));
	for (uint32_t i = 0; i < d->nents; i++) {
		if (!d->ents[i].name)
			continue;
		uint32_t b = udf_name_hash(d->ents[i].name) & d->dhash_mask;
		d->ents[i].hnext = d->dhash[b];
		d->dhash[b] = i;
	}
}

int udf_dir_load(struct udf_fs *fs, struct node *d)
{
	if (d->dir_loaded)
		return 0;
	if (d->size > MAX_DIR_BYTES)
		return -EFBIG;
	uint8_t *data = malloc(d->size ? d->size : 1);
	if (!data)
		return -ENOMEM;
	ssize_t got = udf_node_read(fs, d, 0, d->size, data);
	if (got < 0 || (uint64_t)got != d->size) {
		free(data);
		return got < 0 ? (int)got : -EIO;
	}
	uint32_t cap = 0;
	int rc = 0;
	bool raw = keep_raw(fs);
	d->parent = d->ino;
	for (uint64_t pos = 0; pos + FID_IMPL_USE <= d->size;) {
		const uint8_t *f = data + pos;
		uint16_t liu = le16(f + FID_IMPL_USE_LEN);
		uint8_t lfi = f[FID_NAME_LEN];
		uint64_t flen = udf_fid_size(f);
		if (le16(f + TAG_IDENT) != TAG_FID || pos + flen > d->size ||
		    udf_tag_check(f, (size_t)(d->size - pos), UINT32_MAX) != TAG_FID) {
			rc = -EIO;
			break;
		}
		uint8_t ch = f[FID_CHARACTERISTICS];
		uint32_t icb_len = le32(f + FID_ICB + AD_LEN) & AD_LEN_MASK;
		uint32_t lbn = le32(f + FID_ICB + LAD_LBN);
		uint16_t part = le16(f + FID_ICB + LAD_PART);
		pos += flen;
		if (ch & 0x04)
			continue; /* deleted */
		if (ch & 0x08) {
			d->parent = udf_make_ino(part, lbn);
			continue;
		}
		if ((ch & 0x01) || icb_len == 0 || part >= fs->nparts) {
			/* hidden (as the kernel shows them by default), or pointing nowhere */
			if (raw && (rc = keep_fid(d, f, (size_t)flen)) != 0)
				break;
			continue;
		}
		char *name = safe_name(f + FID_IMPL_USE + liu, lfi);
		if (!name) {
			rc = -ENOMEM;
			break;
		}
		if (d->nents == cap) {
			uint32_t nc = cap ? cap * 2 : 16;
			struct dirent_ *ne = realloc(d->ents, nc * sizeof(*ne));
			if (!ne) {
				free(name);
				rc = -ENOMEM;
				break;
			}
			d->ents = ne;
			cap = nc;
		}
		struct dirent_ *e = &d->ents[d->nents];
		*e = (struct dirent_){name, udf_make_ino(part, lbn), (uint8_t)(ch & 0x02 ? 4 : 5), UINT32_MAX, 0, NULL,
				      0, le32(f + FID_ICB + LAD_UNIQUE_ID)};
		if (raw) {
			e->raw = malloc(lfi ? lfi : 1);
			if (!e->raw) {
				free(name);
				rc = -ENOMEM;
				break;
			}
			memcpy(e->raw, f + FID_IMPL_USE + liu, lfi);
			e->rawlen = lfi;
			if (part != 0 || lfi == 0) {
				/* The writer records one partition; such an entry is carried over as it is. */
				free(e->raw);
				free(name);
				if ((rc = keep_fid(d, f, (size_t)flen)) != 0)
					break;
				continue;
			}
		}
		d->nents++;
	}
	free(data);
	if (rc == 0) {
		uint32_t nb = 16;
		while (nb < d->nents * 2u)
			nb <<= 1;
		d->dhash = malloc(nb * sizeof(uint32_t));
		if (!d->dhash)
			rc = -ENOMEM;
		else {
			memset(d->dhash, 0xFF, nb * sizeof(uint32_t));
			d->dhash_mask = nb - 1;
			uint32_t kept = 0;
			for (uint32_t i = 0; i < d->nents; i++) {
				/* A name seen twice (a hostile disc) shows once: lookups and listings agree. */
				if (udf_dir_find(d, d->ents[i].name)) {
					if (raw)
						d->ro_node = true; /* rewriting would drop the second FID */
					free(d->ents[i].name);
					free(d->ents[i].raw);
					continue;
				}
				d->ents[kept] = d->ents[i];
				d->ents[kept].cookie = kept;
				uint32_t b = udf_name_hash(d->ents[kept].name) & d->dhash_mask;
				d->ents[kept].hnext = d->dhash[b];
				d->dhash[b] = kept;
				kept++;
			}
			d->nents = kept;
			d->next_cookie = kept;
			d->ents_cap = cap;
		}
	}
	if (rc) {
		for (uint32_t i = 0; i < d->nents; i++) {
			free(d->ents[i].name);
			free(d->ents[i].raw);
		}
		free(d->ents);
		d->ents = NULL;
		d->nents = 0;
		return rc;
	}
	d->dir_loaded = true;
	return 0;
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

/* The VAT of a write-once disc is the file entry in the last recorded block.  An image does not
 * say which block that is: the last block that is not all zeros. */
#define VAT_SCAN_LIMIT (1u << 20) /* blocks */
static int find_vat(struct udf_fs *fs, struct part *v, uint16_t phys)
{
	struct part *pp = &fs->parts[phys];
	uint8_t *chunk = malloc(64 * (size_t)fs->bs);
	uint64_t last = UINT64_MAX;
	int rc = -ENOENT;

	if (!chunk)
		return -ENOMEM;
	uint64_t end = pp->start + pp->len, scanned = 0;
	while (end > pp->start && last == UINT64_MAX && scanned < VAT_SCAN_LIMIT) {
		uint64_t n = end - pp->start < 64 ? end - pp->start : 64;
		if (udf_read_bytes(fs, (end - n) * fs->bs, n * fs->bs, chunk))
			break;
		for (uint64_t i = n; i-- > 0 && last == UINT64_MAX;) {
			const uint8_t *b = chunk + i * fs->bs;
			for (uint32_t k = 0; k < fs->bs; k++)
				if (b[k]) {
					last = end - n + i;
					break;
				}
		}
		end -= n;
		scanned += n;
	}
	free(chunk);
	if (last == UINT64_MAX)
		return -ENOENT;
	struct node *n;
	if (udf_load_node(fs, phys, (uint32_t)(last - pp->start), &n))
		return -ENOENT;
	uint8_t *data = malloc(n->size ? n->size : 1);
	if (!data || n->size > (64u << 20))
		goto out;
	if (udf_node_read(fs, n, 0, (size_t)n->size, data) != (ssize_t)n->size)
		goto out;
	uint64_t first = 0, count = 0;
	if (n->file_type == 248 && n->size >= VAT_HEADER_MIN) {
		uint16_t lhd = le16(data + VAT_HEADER_LEN);
		if (lhd < VAT_HEADER_MIN || lhd > n->size)
			goto out;
		first = lhd;
		count = (n->size - lhd) / 4;
		fs->sf.files = le32(data + VAT_NUM_FILES);
		fs->sf.dirs = le32(data + VAT_NUM_DIRS);
	} else if (n->size >= VAT150_TRAILER &&
		   memcmp(data + n->size - VAT150_TRAILER + REGID_IDENT, "*UDF Virtual Alloc Tbl", 22) == 0) {
		count = (n->size - VAT150_TRAILER) / 4;
	} else {
		goto out;
	}
	v->vat = malloc(count ? count * 4 : 4);
	if (!v->vat) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < count; i++)
		v->vat[i] = le32(data + first + 4 * i);
	v->nvat = (uint32_t)count;
	v->phys = phys;
	rc = 0;
out:
	free(data);
	return rc;
}

/* The node of a directory, parsed. */
int udf_get_dir(struct udf_fs *fs, uint64_t ino, struct node **out)
{
	int rc = udf_get_node(fs, ino, out);

	if (rc == 0 && !S_ISDIR((*out)->st.st_mode))
		rc = -ENOTDIR;
	return rc ? rc : udf_dir_load(fs, *out);
}

/* ---- public ---- */

uint64_t udf_root_ino(const struct udf_fs *fs)
{
	return fs->root_ino;
}

int udf_getattr(struct udf_fs *fs, uint64_t ino, struct stat *st)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	int rc = udf_get_node(fs, ino, &n);
	if (rc == 0)
		*st = n->st;
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_lookup(struct udf_fs *fs, uint64_t dir, const char *name, uint64_t *ino, struct stat *st)
{
	struct node *d, *n;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = udf_get_dir(fs, dir, &d);
	if (rc == 0) {
		if (strcmp(name, ".") == 0) {
			n = d;
		} else if (strcmp(name, "..") == 0) {
			rc = udf_get_node(fs, d->parent, &n);
		} else {
			struct dirent_ *e = udf_dir_find(d, name);
			rc = e ? udf_get_node(fs, e->ino, &n) : udf_missing_name(name);
		}
		if (rc == 0) {
			*ino = n->ino;
			*st = n->st;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_readdir(struct udf_fs *fs, uint64_t dir, uint64_t pos, udf_fill_fn fill, void *ctx)
{
	struct node *d;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = udf_get_dir(fs, dir, &d);
	if (rc) {
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	/* Positions: 0 ".", 1 "..", then 2 + the entry's cookie, stable while entries come and go. */
	uint32_t first = 0;
	if (pos > 2) {
		uint32_t lo = 0, hi = d->nents;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (d->ents[mid].cookie + 2 < pos)
				lo = mid + 1;
			else
				hi = mid;
		}
		first = lo;
	}
	for (uint64_t i = pos; i < 2; i++)
		if (fill(ctx, i ? ".." : ".", i ? d->parent : d->ino, S_IFDIR, i + 1))
			goto out;
	for (uint32_t k = first; k < d->nents; k++) {
		struct dirent_ *e = &d->ents[k];
		if (!e->name)
			continue;
		if (fill(ctx, e->name, e->ino, e->ftype == 4 ? S_IFDIR : 0, e->cookie + 3))
			break;
	}
out:
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

ssize_t udf_read(struct udf_fs *fs, uint64_t ino, uint64_t off, size_t len, void *buf)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	ssize_t rc = udf_get_node(fs, ino, &n);
	if (rc == 0) {
		if (S_ISDIR(n->st.st_mode))
			rc = -EISDIR;
		else
			rc = udf_node_read(fs, n, off, len, buf);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_readlink(struct udf_fs *fs, uint64_t ino, char *buf, size_t len)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	int rc = udf_get_node(fs, ino, &n);
	if (rc == 0)
		rc = S_ISLNK(n->st.st_mode) ? udf_link_target(fs, n, buf, len) : -EINVAL;
	pthread_mutex_unlock(&fs->lock);
	return rc;
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

void udf_statfs(struct udf_fs *fs, struct udf_statfs *st)
{
	pthread_mutex_lock(&fs->lock);
	*st = fs->sf;
	pthread_mutex_unlock(&fs->lock);
}

int udf_mount(const struct udf_io *io, const struct udf_mount_opts *opts, struct udf_fs **out, char *err,
	      size_t errlen)
{
	static const uint32_t sizes[] = {2048, 512, 1024, 4096};
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
	pthread_mutex_init(&fs->lock, NULL);
	uint32_t ml = 0, mloc = 0, rl = 0, rloc = 0;
	bool found = false;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]) && !found; k++) {
		fs->bs = sizes[k];
		fs->nblocks = io->size / fs->bs;
		if (fs->nblocks < 257)
			continue;
		uint64_t cand[] = {io->session_start + AVDP_SECTOR, fs->nblocks - 1, fs->nblocks - 257};
		for (size_t c = 0; c < 3 && !found; c++)
			found = has_anchor(fs, cand[c], buf, &mloc, &ml, &rloc, &rl);
	}
	if (!found || !vrs_has_nsr(fs, buf)) {
		snprintf(err, errlen, "no UDF file system found (use -o image for the block file, or format the "
				      "disc with pktfuse format)");
		goto fail;
	}
	/* The main sequence, else the reserve one. */
	fs->vds_loc[0] = mloc;
	fs->vds_len[0] = ml;
	fs->vds_loc[1] = rloc;
	fs->vds_len[1] = rl;
	if (read_vds(fs, mloc, ml, v, buf) != 0 && read_vds(fs, rloc, rl, v, buf) != 0) {
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
	if (setup_partitions(fs, v, buf, err, errlen)) {
		rc = -EIO;
		goto fail;
	}
	fs->sf.blocks = fs->parts[0].len;
	fs->lvid_ext_loc = le32(v->lvd + LVD_INTEGRITY_SEQ + EXT_LOC);
	fs->lvid_ext_len = le32(v->lvd + LVD_INTEGRITY_SEQ + EXT_LEN);
	read_lvid(fs, le32(v->lvd + LVD_INTEGRITY_SEQ + EXT_LOC), le32(v->lvd + LVD_INTEGRITY_SEQ + EXT_LEN), buf);
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
				snprintf(err, errlen, "both the UDF metadata file and its mirror are damaged");
				rc = -EIO;
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
		if (k == fs->nparts || find_vat(fs, p, (uint16_t)k) != 0) {
			snprintf(err, errlen, "the virtual allocation table (VAT) of this write-once disc was not found");
			rc = -EIO;
			goto fail;
		}
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
	if (keep_raw(fs) && (rc = udf_w_attach(fs, opts, err, errlen)) != 0)
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
	free(fs);
}
