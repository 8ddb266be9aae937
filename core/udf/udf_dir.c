/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Directories and names: a directory is parsed once into an array of entries plus a name hash, so
 * a lookup in a large directory never rescans it; names a disc records are made safe to show.  Under
 * fs->lock.
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
		*e = (struct dirent_){
			name, udf_make_ino(part, lbn),		(uint8_t)(ch & 0x02 ? 4 : 5), UINT32_MAX, 0, NULL,
			0,    le32(f + FID_ICB + LAD_UNIQUE_ID)};
		if (raw) {
			e->raw = malloc(lfi ? lfi : 1);
			if (!e->raw) {
				free(name);
				rc = -ENOMEM;
				break;
			}
			memcpy(e->raw, f + FID_IMPL_USE + liu, lfi);
			e->rawlen = lfi;
			if ((part != 0 && fs->parts[part].kind != PART_VIRTUAL && fs->parts[part].kind != PART_META) ||
			    lfi == 0) {
				/* The writer records one partition (and the virtual one of write-once media, or
				 * a metadata partition); such an entry is carried over as it is. */
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

/* The node of a directory, parsed. */
int udf_get_dir(struct udf_fs *fs, uint64_t ino, struct node **out)
{
	int rc = udf_get_node(fs, ino, out);

	if (rc == 0 && !S_ISDIR((*out)->st.st_mode))
		rc = -ENOTDIR;
	return rc ? rc : udf_dir_load(fs, *out);
}
