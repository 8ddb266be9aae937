/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals shared by the UDF reader (udf_partition.c, udf_volume.c, udf_node.c, udf_dir.c,
 * udf_read_ops.c, udf_mount.c) and the writer (udf_w.h and its files).  Not a public API: included
 * only by the files of core/udf and by tests.
 */
#ifndef PKTFUSE_UDF_INT_H
#define PKTFUSE_UDF_INT_H

#include "udf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define INO_BASE 16u

/* Hard limits against hostile images. */
#define MAX_EXTENTS (1u << 20)	   /* allocation descriptors of one file */
#define MAX_AED_CHAIN 4096	   /* continuation extents of one file */
#define MAX_DIR_BYTES (256u << 20) /* size of one directory */
#define MAX_ICB_HOPS 64		   /* indirect entries followed */
#define CHAIN_MAX_HOPS 32	   /* of an entry the writer moves: then compacted (udf_move.c) */
#define MAX_VDS_DESCS 1024	   /* descriptors read in one volume descriptor sequence */
#define MAX_SYMLINK 4096
#define MAX_PARTS 8

enum part_kind { PART_PHYS, PART_SPARABLE, PART_VIRTUAL, PART_META };

struct sparing_entry {
	uint32_t orig, mapped;
};

struct part {
	enum part_kind kind;
	uint16_t number;     /* partition number of the underlying PD */
	uint64_t start, len; /* in blocks, from the PD */
	bool have_pd;
	uint32_t access;	   /* PD access type: 1 read-only, 2 write-once, 3 rewritable, 4 overwritable */
	uint32_t usb_len, usb_lbn; /* unallocated space bitmap (partition header) */
	uint32_t ust_len;	   /* unallocated space table, unsupported for writing */
	uint16_t packet_len;	   /* sparable */
	uint32_t stable_loc[4], stable_len, nstable; /* sparable: the sparing tables */
	unsigned stable_ref;			     /* the copy read: the newest that verifies */
	unsigned stable_stale; /* the other copies (bit t: copy t) damaged or not recording the same table */
	uint8_t *stable_raw;   /* writable mounts: the sparing table as read (stable_bytes) */
	size_t stable_bytes;
	uint32_t nspare_cap;
	struct sparing_entry *spare;
	uint32_t nspare;
	uint32_t *vat; /* virtual: virtual block → block of the physical partition `phys` */
	uint32_t nvat;
	uint32_t vat_cap;  /* entries vat has room for (the writer appends) */
	uint32_t vat_lbn;  /* the VAT's file entry (block of `phys`) */
	uint32_t vat_prev; /* the previous VAT's, VAT_UNUSED when none */
	bool vat20;	   /* a VAT of 2.00's form (1.50's is read only) */
	bool vat_ours;	   /* its implementation use is pktfuse's: vat_next_uniq holds */
	bool vat_torn;	   /* blocks of a commit cut short follow it: it is not the last recorded */
	uint64_t vat_next_uniq;
	uint16_t phys;
	uint32_t meta_loc, mirror_loc; /* metadata: the metadata file and its mirror in `phys` */
	uint32_t mbm_loc;	       /* metadata: the metadata bitmap file in `phys`, FFFFFFFFh: none */
	bool meta_dup;		       /* metadata: the mirror duplicates the metadata file (the map's flag) */
	uint32_t meta_alloc_unit;      /* metadata: blocks the metadata file grows by (the map's) */
	uint16_t meta_align_unit;      /* metadata: blocks its extents start at multiples of (the map's) */
	struct node *meta;	       /* metadata: the file whose extents map this partition */
};

struct extent {
	uint64_t file_off; /* offset of this extent in the file */
	uint32_t len;	   /* bytes */
	uint8_t type;	   /* 0 recorded, 1 allocated not recorded, 2 not allocated */
	uint16_t part;
	uint32_t lbn;
};

struct dirent_ {
	char *name; /* NULL: a removed entry (its slot keeps readdir positions stable) */
	uint64_t ino;
	uint8_t ftype; /* hint from the FID (directory bit) */
	uint32_t hnext;
	uint64_t cookie; /* readdir position, increasing along the array */
	/* writable mounts: what the FID is rebuilt from */
	uint8_t *raw; /* the name as recorded (CS0) */
	uint8_t rawlen;
	uint32_t uniq; /* lower 32 bits of the unique ID, from the ICB's implementation use */
};

struct node {
	uint64_t ino;
	struct node *hnext;
	struct stat st;
	uint8_t file_type;
	uint64_t size;
	struct extent *ext;
	uint32_t next;
	uint8_t *inline_data; /* embedded data, size bytes */
	/* directories, once parsed */
	bool dir_loaded;
	struct dirent_ *ents;
	uint32_t nents;
	uint32_t *dhash;
	uint32_t dhash_mask;
	uint64_t parent;
	uint32_t ntomb; /* removed entries still in ents */
	uint32_t ents_cap;
	uint64_t stream_len; /* bytes of FIDs a rewrite records, once known (stream_len_ok) */
	bool stream_len_ok;
	uint64_t next_cookie;
	/* writable mounts */
	uint32_t ext_cap;
	uint8_t *hdr; /* the FE/EFE header and extended attributes as read (hdr_len bytes) */
	uint32_t hdr_len, lea;
	bool efe, ro_node; /* ro_node: a layout the writer does not rewrite (indirect entries) */
	uint32_t fe_lbn;   /* where the file entry is recorded (partition 0) */
	uint32_t uid_raw, gid_raw, perm_raw;
	uint64_t uniq;
	uint32_t *aed; /* allocation extent descriptor blocks, freed when rewritten */
	uint32_t naed;
	uint8_t *keep_fids; /* hidden FIDs, rewritten verbatim */
	uint32_t keep_len;
	uint32_t open_count;
	bool dirty, dir_dirty, is_new, dead, gained;
	uint32_t refs, subdirs; /* the check of an uncleanly unmounted disc */
	uint32_t reserved;	/* blocks the next commit needs for this node (rewritten directory) */
	struct node *dnext;	/* dirty list */
	/* An entry that moves (ICB strategy 4096, udf_move.c): chain[0] is the ICB's first file entry
	 * (the inode's block), chain[nchain - 1] the newest (fe_lbn); each is followed by an indirect
	 * entry, pointing to the next, the newest's a terminal one.  nchain 0: strategy 4. */
	uint32_t *chain;
	uint32_t nchain, chain_cap;
	uint32_t mv_to;	 /* the running commit moves the entry to the pair mv_to, mv_to + 1 */
	uint8_t mv_kind; /* enum udf_move_kind: what the running commit does with the chain */
};

struct udf_fs {
	struct udf_io io;
	uint8_t vol_set_ident
		[128]; /* the PVD's volume set identifier, raw: the disc's identity (udf_volume_set_ident) */
	struct udf_mount_opts opts;
	uint32_t bs;
	uint64_t nblocks;
	struct part parts[MAX_PARTS];
	unsigned nparts;
	uint64_t root_ino;
	struct udf_statfs sf;
	/*
	 * The engine's one lock: every public operation of udf.h holds it for its whole run, and so
	 * does everything below (nodes, directories, the writer's state, fs->blk).  It is held across
	 * the I/O through struct udf_io (reads and writes of the packet cache, cache misses, the rescue
	 * and its relocate callback) -- except for udf_sync's commit (udf_commit_unlocked_io): that
	 * commit is encoded under the lock into a list of writes and barriers (struct commit_snap, in
	 * fs->w->snap), sent with the lock released, and finished under it again, so that operations
	 * on what is in memory go on while a commit waits for a slow medium.
	 * One commit at a time: fs->w->snap is set (under lock) from the start of a commit's encoding
	 * to its finish.  A commit that may release the lock waits for the running one on commit_idle
	 * (which releases lock: only at the start of a public operation, nothing half done).  A commit
	 * in the middle of an operation (udf_commit_for_space, udf_commit) keeps the lock: it waits on
	 * io_cv (io_lock) for the running commit's unlocked I/O to stop -- that I/O never takes lock
	 * (medium offsets are mapped while encoding; a barrier that needs defect management or a worn
	 * packet's move stops it) -- and finishes that commit itself (udf_commit_take_over).
	 * Lock order: lock before io_lock, and both before the packet cache's lock (pkt_cache.c's
	 * c->lock, taken inside each cache call).  The cache never calls into the engine with its lock
	 * held: it drops it around backend I/O and around the relocate callback, and its flusher thread
	 * takes only its own lock, so the order is never reversed.
	 */
	pthread_mutex_t lock;
	pthread_cond_t commit_idle; /* with lock: a commit finished (fs->w->snap went NULL) */
	pthread_mutex_t io_lock;    /* a commit_snap's io_stopped, only */
	pthread_cond_t io_cv;	    /* with io_lock: io_stopped was set */
	struct node **nhash;
	uint32_t nhash_mask;
	uint64_t nnodes;
	uint8_t *blk;	    /* one block of scratch, under lock */
	uint32_t lvid_loc;  /* the newest LVID, 0 when none */
	uint32_t lvid_type; /* 0 open, 1 closed */
	uint64_t next_uniq; /* from the LVID */
	uint32_t fsd_lbn;
	uint16_t tag_version, tag_serial;
	struct udf_w *w; /* writer state, NULL on a read-only mount */
	char ro_reason[200];
	char note[400]; /* what the mount found and did, for the log */
	/* where the volume structures are (medium sectors), so that nothing frees them */
	uint32_t vds_loc[2], vds_len[2], lvid_ext_loc, lvid_ext_len;
};

uint64_t udf_make_ino(uint16_t part, uint32_t lbn);
int udf_read_bytes(struct udf_fs *fs, uint64_t off, size_t len, void *buf);
int udf_map_block(struct udf_fs *fs, uint16_t pref, uint32_t lbn, uint64_t *sector);
/* Block lbn of a metadata partition as a block of partition phys, through the extents of m (the
 * metadata file or its mirror): 0, or -EIO when m does not record it. */
int udf_meta_file_block(const struct udf_fs *fs, const struct node *m, uint16_t phys, uint32_t lbn, uint32_t *plbn);
int udf_read_lb(struct udf_fs *fs, uint16_t pref, uint32_t lbn, void *buf);
struct node *udf_node_find(struct udf_fs *fs, uint64_t ino);
void udf_node_insert(struct udf_fs *fs, struct node *n);
void udf_node_remove(struct udf_fs *fs, struct node *n);
void udf_node_free(struct node *n);
/* ICB file types (ECMA-167 4/14.6.6) and the file formats they stand for; any other is a regular
 * file (recorded as 5). */
struct udf_file_type {
	uint8_t icb;
	mode_t fmt;
};
extern const struct udf_file_type udf_file_types[6];
mode_t udf_mode(uint32_t perm, uint16_t icbflags, uint8_t ftype);
int udf_load_node(struct udf_fs *fs, uint16_t part, uint32_t lbn, struct node **out);
uint32_t udf_ext_index(const struct node *n, uint64_t off);
/* Room in n's extent array for need extents: 0, -EFBIG past MAX_EXTENTS, or -ENOMEM. */
int udf_ext_reserve(struct node *n, uint32_t need);
ssize_t udf_node_read(struct udf_fs *fs, struct node *n, uint64_t off, size_t len, uint8_t *buf);
uint32_t udf_name_hash(const char *s);
struct dirent_ *udf_dir_find(struct node *d, const char *name);
int udf_missing_name(const char *name);
int udf_dir_load(struct udf_fs *fs, struct node *d);
int udf_get_node(struct udf_fs *fs, uint64_t ino, struct node **out);
int udf_get_dir(struct udf_fs *fs, uint64_t ino, struct node **out);
void udf_dir_rehash(struct node *d);
int udf_link_target(struct udf_fs *fs, struct node *n, char *buf, size_t len);

/* Free entries of a sparable partition's sparing table (as read or since changed); 0 without one. */
uint32_t udf_sparing_free(const struct part *p);
/* Copy t of p's sparing table into tbl (room for its whole blocks): 0, -EIO (unreadable) or -EILSEQ
 * (not a whole table at its place); and whether two such copies record the same table. */
int udf_sparing_read_copy(struct udf_fs *fs, const struct part *p, unsigned t, uint8_t *tbl);
bool udf_sparing_same(const struct part *p, const uint8_t *a, const uint8_t *b);

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

/* udf_partition.c */
int udf_setup_partitions(struct udf_fs *fs, struct vds *v, char *err, size_t errlen);
int udf_find_vat(struct udf_fs *fs, struct part *v, uint16_t phys);

/* udf_volume.c */
bool udf_has_anchor(struct udf_fs *fs, uint64_t sector, uint8_t *buf, uint32_t *main_loc, uint32_t *main_len,
		    uint32_t *res_loc, uint32_t *res_len);
bool udf_vrs_has_nsr(struct udf_fs *fs, uint8_t *buf);
/* The volume's block size (fs->bs, fs->nblocks) and anchor, chosen as blkid chooses; false when none. */
bool udf_find_anchor(struct udf_fs *fs, uint8_t *buf, uint32_t *main_loc, uint32_t *main_len, uint32_t *res_loc,
		     uint32_t *res_len);
int udf_read_vds(struct udf_fs *fs, uint32_t loc, uint32_t len, struct vds *v, uint8_t *buf);
void udf_read_lvid(struct udf_fs *fs, uint32_t loc, uint32_t len, uint8_t *buf);

/* A mount that may be written keeps what the writer needs to rewrite descriptors faithfully. */
static inline bool keep_raw(const struct udf_fs *fs)
{
	return fs->io.write && !fs->opts.read_only;
}

static inline int read_sector(struct udf_fs *fs, uint64_t sector, void *buf)
{
	return udf_read_bytes(fs, sector * fs->bs, fs->bs, buf);
}

#endif
