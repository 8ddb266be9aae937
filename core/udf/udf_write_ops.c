/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The public write operations of udf.h.  Each holds fs->lock for its whole run, writes to the packet
 * cache and any commit it causes included.
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

const char *udf_mount_note(struct udf_fs *fs)
{
	return fs->note;
}

/* A write-once disc whose commit failed part way is not written any more (udf_vat.c); changes are
 * held while the disc is out of the drive. */
static bool broken(const struct udf_fs *fs)
{
	return fs->w && ((fs->w->vat && fs->w->vat->broken) || fs->w->held[0] || fs->w->spares_gone);
}

bool udf_writable(struct udf_fs *fs, char *why, size_t len)
{
	pthread_mutex_lock(&fs->lock);
	bool ok = fs->w && !broken(fs);
	if (!ok && why && len)
		snprintf(why, len, "%s",
			 fs->w && fs->w->held[0]       ? fs->w->held
			 : fs->w && fs->w->spares_gone ? UDF_SPARES_GONE
			 : fs->ro_reason[0]	       ? fs->ro_reason
						       : "mounted read-only");
	pthread_mutex_unlock(&fs->lock);
	return ok;
}

bool udf_spares_gone(struct udf_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	bool gone = fs->w && fs->w->spares_gone;
	pthread_mutex_unlock(&fs->lock);
	return gone;
}

void udf_hold_changes(struct udf_fs *fs, const char *why)
{
	pthread_mutex_lock(&fs->lock);
	if (fs->w)
		snprintf(fs->w->held, sizeof(fs->w->held), "%s", why ? why : "");
	pthread_mutex_unlock(&fs->lock);
}

uint64_t udf_generation(struct udf_fs *fs, uint64_t ino)
{
	struct node *n;
	uint64_t g = 1;

	pthread_mutex_lock(&fs->lock);
	if (fs->w && udf_get_node(fs, ino, &n) == 0 && n->uniq)
		g = n->uniq;
	pthread_mutex_unlock(&fs->lock);
	return g;
}

/* The node of ino, got by get, when this mount may change it. */
static int writable(struct udf_fs *fs, uint64_t ino, struct node **n,
		    int (*get)(struct udf_fs *fs, uint64_t ino, struct node **out))
{
	if (!fs->w || broken(fs))
		return -EROFS;
	int rc = get(fs, ino, n);
	if (rc)
		return rc;
	return (*n)->ro_node ? -EROFS : 0;
}

/* A node that may be changed by this mount. */
static int writable_node(struct udf_fs *fs, uint64_t ino, struct node **n)
{
	return writable(fs, ino, n, udf_get_node);
}

/* An empty file with nothing allocated starts embedded in its ICB. */
static int start_embedded(struct node *n)
{
	if (n->next || n->inline_data || n->size)
		return 0;
	n->inline_data = malloc(1);
	return n->inline_data ? 0 : -ENOMEM;
}

/* Before the first change of an operation to n: a layout the writer does not rewrite refuses it. */
static int begin_node_change(struct udf_fs *fs, struct node *n)
{
	return n->ro_node ? -EROFS : udf_begin_change(fs);
}

/* A directory that may be changed by this mount, parsed. */
static int writable_dir(struct udf_fs *fs, uint64_t ino, struct node **d)
{
	return writable(fs, ino, d, udf_get_dir);
}

static int name_to_cs0(const char *name, uint8_t *raw)
{
	/* Linux's udf shows at most 254 bytes of a name (longer ones get a checksum in place of their
	 * end): a name it could not read back is refused here. */
	if (strlen(name) > UDF_NAME_MAX)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EEXIST;
	return udf_utf8_to_cs0(name, raw, 255);
}

/* Symbolic link target → path components (ECMA-167 4/14.16): the root as type 1 with no
 * identifier (as Linux writes it), ".." 3, "." 4, names 5. */
/* The CS0 encoding of a name to add to d (its length), or -errno: -EEXIST when d holds it already. */
static int new_name(struct node *d, const char *name, uint8_t *raw)
{
	int rl = name_to_cs0(name, raw);

	return rl >= 0 && udf_dir_find(d, name) ? -EEXIST : rl;
}

/*
 * When the allocator says full: blocks freed since the last commit become allocatable once a commit
 * is done, so an operation commits (udf_commit_for_space) and tries again.  This policy lives here,
 * in the operations, and never in the allocator, which the commit itself uses.
 */
static int room_or_commit(struct udf_fs *fs, struct node *d, uint32_t blocks, size_t fid_bytes)
{
	int rc = udf_check_room(fs, d, blocks, fid_bytes);

	if (rc != -ENOSPC)
		return rc;
	rc = udf_commit_for_space(fs);
	if (rc != 1)
		return rc < 0 ? rc : -ENOSPC;
	return udf_check_room(fs, d, blocks, fid_bytes);
}

static int alloc_or_commit(struct udf_fs *fs, uint64_t goal, uint32_t want, unsigned flags, uint32_t *lbn,
			   uint32_t *got)
{
	int rc = udf_alloc_blocks(fs, goal, want, flags, lbn, got);

	if (rc != -ENOSPC)
		return rc;
	rc = udf_commit_for_space(fs);
	if (rc != 1)
		return rc < 0 ? rc : -ENOSPC;
	return udf_alloc_blocks(fs, goal, want, flags, lbn, got);
}

/* A write that fills the disc stops short (or fails with -ENOSPC); after a commit that frees
 * something it goes on from where it stopped, for as long as a try after a commit gets anywhere. */
static ssize_t write_or_commit(struct udf_fs *fs, struct node *n, uint64_t off, size_t len, const uint8_t *src)
{
	size_t done = 0;
	bool after_commit = false;

	for (;;) {
		ssize_t w = udf_node_write(fs, n, off + done, len - done, src + done);
		if (w < 0 && w != -ENOSPC)
			return w;
		if (w > 0)
			done += (size_t)w;
		if (done == len || (after_commit && w <= 0))
			return done ? (ssize_t)done : -ENOSPC;
		int c = udf_commit_for_space(fs);
		if (c < 0)
			return c;
		if (c == 0)
			return done ? (ssize_t)done : -ENOSPC;
		after_commit = true;
	}
}

static int truncate_or_commit(struct udf_fs *fs, struct node *n, uint64_t size)
{
	int rc = udf_node_truncate(fs, n, size);

	if (rc != -ENOSPC)
		return rc;
	rc = udf_commit_for_space(fs);
	if (rc != 1)
		return rc < 0 ? rc : -ENOSPC;
	return udf_node_truncate(fs, n, size);
}

static int encode_symlink(const char *target, uint8_t *out, size_t cap)
{
	size_t pos = 0;
	const char *p = target;

	if (*p == '\0')
		return -ENOENT;
	if (*p == '/') {
		if (pos + 4 > cap)
			return -ENAMETOOLONG;
		memset(out + pos, 0, 4);
		out[pos] = 1;
		pos += 4;
		while (*p == '/')
			p++;
	}
	while (*p) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char comp[256];
		if (l > 255)
			return -ENAMETOOLONG;
		memcpy(comp, p, l);
		comp[l] = '\0';
		if (pos + 4 > cap)
			return -ENAMETOOLONG;
		memset(out + pos, 0, 4);
		if (strcmp(comp, "..") == 0) {
			out[pos] = 3;
		} else if (strcmp(comp, ".") == 0) {
			out[pos] = 4;
		} else {
			int n = udf_utf8_to_cs0(comp, out + pos + 4, cap - pos - 4 < 255 ? cap - pos - 4 : 255);
			if (n < 0)
				return n;
			out[pos] = 5;
			out[pos + 1] = (uint8_t)n;
			pos += (size_t)n;
		}
		pos += 4;
		p += l;
		while (*p == '/')
			p++;
	}
	return (int)pos;
}

static struct node *new_node(struct udf_fs *fs, uint32_t lbn, mode_t mode, uid_t uid, gid_t gid)
{
	struct node *n = calloc(1, sizeof(*n));
	bool efe = fs->sf.revision >= 0x0250;

	if (!n)
		return NULL;
	n->hdr_len = efe ? EFE_HDR : FE_HDR;
	n->hdr = calloc(1, n->hdr_len);
	n->inline_data = malloc(1);
	if (!n->hdr || !n->inline_data) {
		udf_node_free(n);
		return NULL;
	}
	uint8_t *h = n->hdr;
	put_le32(h + ICB_PRIOR_ENTRIES, 0);			 /* prior recorded direct entries */
	put_le16(h + ICB_STRATEGY_TYPE, 4);			 /* strategy 4 */
	put_le16(h + ICB_MAX_ENTRIES, 1);			 /* maximum entries */
	put_le32(h + (efe ? EFE_CHECKPOINT : FE_CHECKPOINT), 1); /* checkpoint */
	n->efe = efe;
	n->fe_lbn = lbn;
	n->ino = udf_make_ino(udf_fe_part(fs), lbn);
	n->file_type = udf_file_type_of(mode);
	n->uniq = udf_take_uniq(fs);
	n->uid_raw = (uint32_t)uid;
	n->gid_raw = (uint32_t)gid;
	/* the owner may change attributes and delete, as the kernel records it */
	n->perm_raw = 0x6000;
	struct timespec t = now();
	n->st.st_ino = n->ino;
	n->st.st_mode = mode;
	n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	n->st.st_uid = uid;
	n->st.st_gid = gid;
	n->st.st_blksize = fs->bs;
	n->st.st_atim = n->st.st_mtim = n->st.st_ctim = t;
	n->is_new = true;
	if (efe)
		udf_put_timestamp(h + EFE_CREATION_TIME, t, fs->w->tz); /* creation time */
	return n;
}

/* A Device Specification extended attribute behind an extended attribute header (as Linux
 * records device nodes), in the node's header area. */
static int add_device_ea(struct udf_fs *fs, struct node *n, dev_t rdev)
{
	uint32_t base = n->efe ? EFE_HDR : FE_HDR;
	uint8_t *h = realloc(n->hdr, base + EAH_SIZE + DEVSPEC_SIZE);

	if (!h)
		return -ENOMEM;
	n->hdr = h;
	uint8_t *ea = h + base;
	memset(ea, 0, EAH_SIZE + DEVSPEC_SIZE);
	put_le32(ea + EAH_IMPL_ATTR_LOC, 0xFFFFFFFFu); /* no implementation-use attributes */
	put_le32(ea + EAH_APP_ATTR_LOC, 0xFFFFFFFFu);  /* no application-use attributes */
	udf_put_vol_tag(fs, ea, TAG_EAHD, n->fe_lbn, EAH_SIZE - TAG_SIZE);
	udf_tag_finish(ea, EAH_SIZE);
	put_le32(ea + EAH_SIZE + EA_TYPE, 12);
	ea[EAH_SIZE + EA_SUBTYPE] = 1;
	put_le32(ea + EAH_SIZE + EA_LENGTH, DEVSPEC_SIZE);
	put_le32(ea + EAH_SIZE + DEVSPEC_IMPL_USE_LEN, 0);
	put_le32(ea + EAH_SIZE + DEVSPEC_MAJOR, major(rdev));
	put_le32(ea + EAH_SIZE + DEVSPEC_MINOR, minor(rdev));
	n->lea = EAH_SIZE + DEVSPEC_SIZE;
	n->hdr_len = base + EAH_SIZE + DEVSPEC_SIZE;
	put_le32(h + (n->efe ? EFE_EA_LEN : FE_EA_LEN), EAH_SIZE + DEVSPEC_SIZE);
	n->st.st_rdev = rdev;
	return 0;
}

static int create_node(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
		       const char *target, uint64_t *ino, struct stat *st);

int udf_create(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, uid_t uid, gid_t gid, const char *target,
	       uint64_t *ino, struct stat *st)
{
	if (S_ISBLK(mode) || S_ISCHR(mode))
		return -EINVAL; /* udf_mknod */
	return create_node(fs, dir, name, mode, 0, uid, gid, target, ino, st);
}

int udf_mknod(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
	      uint64_t *ino, struct stat *st)
{
	if (S_ISLNK(mode))
		return -EINVAL;
	return create_node(fs, dir, name, mode, rdev, uid, gid, NULL, ino, st);
}

static int create_node(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
		       const char *target, uint64_t *ino, struct stat *st)
{
	struct node *d, *n = NULL;
	uint8_t raw[256];
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_dir(fs, dir, &d)) != 0)
		goto out;
	int rl = new_name(d, name, raw);
	if (rl < 0) {
		rc = rl;
		goto out;
	}
	if (S_ISDIR(mode) && d->st.st_nlink >= 0xFFFF) {
		rc = -EMLINK;
		goto out;
	}
	uint8_t *link = NULL;
	int linklen = 0;
	if (target) {
		link = malloc(4096);
		if (!link) {
			rc = -ENOMEM;
			goto out;
		}
		/* at most one block: Linux's udf reads no longer symlink (ENAMETOOLONG), nor writes one */
		linklen = encode_symlink(target, link, fs->bs < 4096 ? fs->bs : 4096);
		if (linklen < 0) {
			rc = linklen;
			free(link);
			goto out;
		}
	}
	if ((rc = room_or_commit(fs, d, 1, udf_fid_len((size_t)rl))) != 0 || (rc = udf_begin_change(fs)) != 0) {
		free(link);
		goto out;
	}
	uint32_t lbn, got;
	/* write-once media: the file entry gets a virtual block, recorded at the commit */
	rc = fs->w->vat ? udf_vat_new_vblock(fs, &lbn) : alloc_or_commit(fs, UINT64_MAX, 1, ALLOC_META, &lbn, &got);
	if (rc != 0) {
		free(link);
		goto out;
	}
	struct node *old = udf_node_find(fs, udf_make_ino(udf_fe_part(fs), lbn));
	if (old) {
		/* a dead node whose block was freed by an earlier commit */
		udf_node_remove(fs, old);
		udf_node_free(old);
	}
	n = new_node(fs, lbn, mode, uid, gid);
	if (!n) {
		udf_free_in(fs, udf_fe_part(fs), lbn, 1);
		free(link);
		rc = -ENOMEM;
		goto out;
	}
	if (S_ISDIR(mode)) {
		n->dir_loaded = true;
		n->parent = d->ino;
		n->dhash = malloc(16 * sizeof(uint32_t));
		if (!n->dhash) {
			rc = -ENOMEM;
		} else {
			n->dhash_mask = 15;
			udf_dir_rehash(n);
			n->dir_dirty = true;
		}
	}
	if (rc == 0 && (S_ISBLK(mode) || S_ISCHR(mode)))
		rc = add_device_ea(fs, n, rdev);
	if (rc == 0 && link) {
		ssize_t w = write_or_commit(fs, n, 0, (size_t)linklen, link);
		rc = w < 0 ? (int)w : 0;
		if (rc == 0 && udf_link_target(fs, n, (char *)link, 4096) == 0)
			n->st.st_size = (off_t)strlen((char *)link); /* the target's length, as lstat reports */
	}
	free(link);
	if (rc == 0)
		rc = udf_dir_add(d, name, raw, (uint8_t)rl, n->ino, S_ISDIR(mode), (uint32_t)n->uniq);
	if (rc) {
		udf_free_extents(fs, n);
		udf_free_in(fs, udf_fe_part(fs), lbn, 1);
		udf_node_free(n);
		n = NULL;
		goto out;
	}
	udf_node_insert(fs, n);
	udf_mark_dirty(fs, n);
	if (S_ISDIR(mode)) {
		d->st.st_nlink++;
		fs->sf.dirs++;
	} else {
		fs->sf.files++;
	}
	d->dir_dirty = d->gained = true;
	udf_touch(fs, d, true);
	udf_move_reserve_new(fs, n); /* after the reserve grew by what d's rewrite needs: it comes first */
	udf_update_sf(fs);
	*ino = n->ino;
	*st = n->st;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_link(struct udf_fs *fs, uint64_t ino, uint64_t dir, const char *name, struct stat *st)
{
	struct node *d, *n;
	uint8_t raw[256];
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_dir(fs, dir, &d)) != 0 || (rc = udf_get_node(fs, ino, &n)) != 0)
		goto out;
	if (S_ISDIR(n->st.st_mode)) {
		rc = -EPERM;
		goto out;
	}
	if (n->ro_node) {
		rc = -EROFS;
		goto out;
	}
	if (n->st.st_nlink >= 0xFFFF) {
		rc = -EMLINK;
		goto out;
	}
	int rl = new_name(d, name, raw);
	if (rl < 0) {
		rc = rl;
		goto out;
	}
	if ((rc = room_or_commit(fs, d, 0, udf_fid_len((size_t)rl))) != 0 || (rc = udf_begin_change(fs)) != 0)
		goto out;
	if ((rc = udf_dir_add(d, name, raw, (uint8_t)rl, n->ino, false, (uint32_t)n->uniq)) != 0)
		goto out;
	n->st.st_nlink++;
	udf_touch(fs, n, false);
	d->dir_dirty = d->gained = true;
	udf_touch(fs, d, true);
	*st = n->st;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/* A node's own blocks freed after the next commit: extents, continuation blocks, file entry. */
static void free_own(struct udf_fs *fs, struct node *n)
{
	udf_free_extents(fs, n);
	for (uint32_t i = 0; i < n->naed; i++)
		udf_free_in(fs, udf_meta_part(fs), n->aed[i], 1);
	udf_move_free_entry(fs, n);
}

static int nothing(void *ctx, struct node *a)
{
	(void)ctx;
	(void)a;
	return 0;
}

static int free_attached(void *ctx, struct node *a)
{
	free_own(ctx, a);
	a->next = a->naed = 0;
	a->dead = true; /* its block may come back as another file's entry */
	return 0;
}

/* Drops a node whose last name is gone (its blocks are freed after the next commit), and with it its
 * extended attribute file and named streams, once a first walk found all of them readable and plain
 * (else they stay allocated: a few blocks lost, never a block freed that something still uses). */
static void node_delete(struct udf_fs *fs, struct node *n)
{
	if (!fs->w->vat && udf_for_attached(fs, n, nothing, NULL) == 0)
		udf_for_attached(fs, n, free_attached, fs);
	free_own(fs, n);
	if (S_ISDIR(n->st.st_mode)) {
		if (fs->sf.dirs)
			fs->sf.dirs--;
	} else if (fs->sf.files) {
		fs->sf.files--;
	}
	n->next = 0;
	n->naed = 0;
	n->dead = true;
	fs->w->reserve -= n->reserved;
	n->reserved = 0;
	fs->w->changed = true;
	if (fs->w->vat)
		udf_mark_dirty(fs, n); /* the commit drops its VAT entry */
	udf_update_sf(fs);
}

/* Removes the entry e of d naming n. */
static void unlink_entry(struct udf_fs *fs, struct node *d, struct dirent_ *e, struct node *n)
{
	udf_dir_del(d, e);
	udf_dir_compact(d);
	d->dir_dirty = true;
	udf_touch(fs, d, true);
	if (S_ISDIR(n->st.st_mode)) {
		d->st.st_nlink--;
		n->st.st_nlink = 0;
	} else {
		n->st.st_nlink--;
	}
	if (n->st.st_nlink == 0) {
		if (n->open_count == 0)
			node_delete(fs, n);
		n->st.st_ctim = now();
	} else {
		udf_touch(fs, n, false);
	}
}

static int remove_name(struct udf_fs *fs, uint64_t dir, const char *name, bool want_dir)
{
	struct node *d, *n;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_dir(fs, dir, &d)) != 0)
		goto out;
	struct dirent_ *e = udf_dir_find(d, name);
	if (!e) {
		rc = strcmp(name, ".") == 0 ? -EINVAL : strcmp(name, "..") == 0 ? -ENOTEMPTY : udf_missing_name(name);
		goto out;
	}
	if ((rc = udf_get_node(fs, e->ino, &n)) != 0)
		goto out;
	if (want_dir && !S_ISDIR(n->st.st_mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!want_dir && S_ISDIR(n->st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (want_dir) {
		if ((rc = udf_dir_load(fs, n)) != 0)
			goto out;
		if (!udf_dir_empty(n) || n->keep_len) {
			rc = -ENOTEMPTY;
			goto out;
		}
	}
	if ((rc = begin_node_change(fs, n)) != 0)
		goto out;
	unlink_entry(fs, d, e, n);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_unlink(struct udf_fs *fs, uint64_t dir, const char *name)
{
	return remove_name(fs, dir, name, false);
}

int udf_rmdir(struct udf_fs *fs, uint64_t dir, const char *name)
{
	return remove_name(fs, dir, name, true);
}

/* True when a is b or lies under b. */
static bool is_under(struct udf_fs *fs, uint64_t a, uint64_t b)
{
	for (int hops = 0; hops < 4096; hops++) {
		if (a == b)
			return true;
		struct node *n;
		if (a == fs->root_ino || udf_get_dir(fs, a, &n) != 0)
			return false;
		a = n->parent;
	}
	return true; /* a loop: refuse rather than guess */
}

int udf_rename(struct udf_fs *fs, uint64_t odir, const char *oname, uint64_t ndir, const char *nname, unsigned flags)
{
	struct node *od, *nd, *n, *t = NULL;
	uint8_t raw[256];
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_dir(fs, odir, &od)) != 0 || (rc = writable_dir(fs, ndir, &nd)) != 0)
		goto out;
	struct dirent_ *oe = udf_dir_find(od, oname);
	if (!oe) {
		rc = udf_missing_name(oname);
		goto out;
	}
	if ((rc = udf_get_node(fs, oe->ino, &n)) != 0)
		goto out;
	int rl = name_to_cs0(nname, raw);
	if (rl < 0) {
		rc = rl == -EEXIST ? -EINVAL : rl;
		goto out;
	}
	bool isdir = S_ISDIR(n->st.st_mode);
	if (isdir && od != nd && is_under(fs, nd->ino, n->ino)) {
		rc = -EINVAL;
		goto out;
	}
	struct dirent_ *te = udf_dir_find(nd, nname);
	if (te) {
		if (flags & UDF_RENAME_NOREPLACE) {
			rc = -EEXIST;
			goto out;
		}
		if (te->ino == n->ino)
			goto out; /* the same file: nothing to do */
		if ((rc = udf_get_node(fs, te->ino, &t)) != 0)
			goto out;
		if (S_ISDIR(t->st.st_mode)) {
			if (!isdir) {
				rc = -EISDIR;
				goto out;
			}
			if ((rc = udf_dir_load(fs, t)) != 0)
				goto out;
			if (!udf_dir_empty(t) || t->keep_len) {
				rc = -ENOTEMPTY;
				goto out;
			}
		} else if (isdir) {
			rc = -ENOTDIR;
			goto out;
		}
		if (t->ro_node) {
			rc = -EROFS;
			goto out;
		}
	}
	if (n->ro_node) {
		rc = -EROFS;
		goto out;
	}
	if (isdir && (rc = udf_dir_load(fs, n)) != 0)
		goto out;
	if ((rc = room_or_commit(fs, nd, 0, udf_fid_len((size_t)rl))) != 0 || (rc = udf_begin_change(fs)) != 0)
		goto out;
	uint32_t uniq = oe->uniq;
	if (t) {
		unlink_entry(fs, nd, te, t);
		te = NULL;
	}
	/* the new name first: a crash between the two directory writes leaves two names, not none */
	if ((rc = udf_dir_add(nd, nname, raw, (uint8_t)rl, n->ino, isdir, uniq)) != 0)
		goto out;
	oe = udf_dir_find(od, oname);
	udf_dir_del(od, oe);
	udf_dir_compact(od);
	nd->dir_dirty = nd->gained = true;
	od->dir_dirty = true;
	udf_touch(fs, nd, true);
	udf_touch(fs, od, true);
	if (isdir && od != nd) {
		n->parent = nd->ino;
		n->dir_dirty = true;
		od->st.st_nlink--;
		nd->st.st_nlink++;
	}
	udf_touch(fs, n, false);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_setattr(struct udf_fs *fs, uint64_t ino, const struct udf_setattr *sa, struct stat *st)
{
	struct node *n;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_node(fs, ino, &n)) != 0)
		goto out;
	if ((sa->valid & UDF_SET_SIZE) && !S_ISREG(n->st.st_mode)) {
		rc = S_ISDIR(n->st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if ((rc = udf_begin_change(fs)) != 0)
		goto out;
	if (sa->valid & UDF_SET_SIZE) {
		if ((rc = start_embedded(n)) != 0)
			goto out;
		if (!n->inline_data)
			udf_ext_normalize(fs, n);
		if ((rc = truncate_or_commit(fs, n, sa->size)) != 0)
			goto out;
		n->st.st_mtim = now();
	}
	if (sa->valid & UDF_SET_MODE)
		n->st.st_mode = (n->st.st_mode & S_IFMT) | (sa->mode & 07777);
	if (sa->valid & UDF_SET_UID) {
		n->st.st_uid = sa->uid;
		n->uid_raw = (uint32_t)sa->uid;
	}
	if (sa->valid & UDF_SET_GID) {
		n->st.st_gid = sa->gid;
		n->gid_raw = (uint32_t)sa->gid;
	}
	if (sa->valid & UDF_SET_ATIME)
		n->st.st_atim = sa->atime;
	if (sa->valid & UDF_SET_MTIME)
		n->st.st_mtim = sa->mtime;
	udf_touch(fs, n, false);
	udf_update_sf(fs);
	*st = n->st;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

ssize_t udf_write(struct udf_fs *fs, uint64_t ino, uint64_t off, size_t len, const void *buf)
{
	struct node *n;
	ssize_t rc;

	pthread_mutex_lock(&fs->lock);
	if (!fs->w) {
		rc = -EROFS;
		goto out;
	}
	if ((rc = udf_get_node(fs, ino, &n)) != 0)
		goto out;
	if (!S_ISREG(n->st.st_mode)) {
		rc = S_ISDIR(n->st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if ((rc = begin_node_change(fs, n)) != 0)
		goto out;
	if ((rc = start_embedded(n)) != 0)
		goto out;
	if (!n->inline_data && !n->dirty)
		udf_ext_normalize(fs, n);
	rc = write_or_commit(fs, n, off, len, buf);
	if (rc >= 0) {
		udf_touch(fs, n, true);
		n->st.st_mode &= ~(mode_t)(S_ISUID | S_ISGID); /* as the kernel does on write */
	}
	udf_update_sf(fs);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void udf_open(struct udf_fs *fs, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	if (udf_get_node(fs, ino, &n) == 0)
		n->open_count++;
	pthread_mutex_unlock(&fs->lock);
}

void udf_release(struct udf_fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->lock);
	struct node *n = udf_node_find(fs, ino);
	if (n && n->open_count) {
		n->open_count--;
		if (n->open_count == 0 && n->st.st_nlink == 0 && !n->dead && fs->w)
			node_delete(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
}

int udf_sync(struct udf_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	int rc = fs->w ? udf_commit_unlocked_io(fs) : 0; /* the lock is released while it writes */
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void udf_set_commit_due(struct udf_fs *fs, uint32_t nodes, void (*due)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&fs->lock);
	if (fs->w) {
		fs->w->due_nodes = due ? nodes : 0;
		fs->w->due_check = fs->w->due_nodes;
		fs->w->due = due;
		fs->w->due_ctx = ctx;
	}
	pthread_mutex_unlock(&fs->lock);
}

bool udf_dirty(struct udf_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	bool d = fs->w && fs->w->changed;
	pthread_mutex_unlock(&fs->lock);
	return d;
}

int udf_close(struct udf_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	udf_commit_wait_idle(fs);
	int rc = 0;
	struct udf_w *w = fs->w;
	if (w && w->vat) {
		/* write-once media: the last commit is the close (closing the session is the medium's) */
		rc = udf_commit(fs);
	} else if (w && w->lvid_open) {
		/* files still open but unlinked go now: nothing can reach them after unmount */
		for (uint32_t i = 0; i <= fs->nhash_mask; i++)
			for (struct node *n = fs->nhash[i]; n; n = n->hnext)
				if (!n->dead && n->st.st_nlink == 0 && n->open_count)
					node_delete(fs, n);
		udf_move_unreserve_new(fs); /* the last commit writes new entries as they stay */
		rc = udf_commit(fs);
		if (rc == 0)
			rc = udf_move_fold_back(fs); /* a cleanly unmounted disc has no chains */
		if (rc == 0 && w->bm_stale)
			rc = udf_write_bitmap(fs);
		if (rc == 0)
			rc = udf_barrier(fs);
		if (rc == 0)
			rc = udf_write_lvid(fs, false);
		if (rc == 0)
			rc = udf_barrier(fs);
		if (rc == 0)
			w->lvid_open = false;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
