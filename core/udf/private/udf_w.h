/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF writer's state and the functions its files share.  Not a public API: included only by the
 * files of core/udf (and by tests).  Everything here runs under the engine's lock (fs->lock, see
 * udf_int.h) -- but for the sending of a commit_snap, which reads only what it recorded; fs->w is
 * NULL on a read-only mount.
 */
#ifndef PKTFUSE_UDF_W_H
#define PKTFUSE_UDF_W_H

#include "udf_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct pend {
	uint32_t lbn, n;
};

/*
 * Write-once media (a virtual partition over a physical one): blocks are handed out in ascending
 * order from the NWA at the start of the commit interval, as the medium records them (write units of
 * `unit` blocks, each followed by `link` lost ones).  The k-th block handed out in the run is sector
 * run + k/unit*(unit+link) + k%unit.  Until a commit (or a drain of whole units when they grow big)
 * writes them, blocks stay in `stage`, where they may still change; once on the medium a block is
 * never written again.
 */
struct udf_vat_w {
	uint16_t vpart, ppart; /* the virtual partition and the physical one under it */
	uint64_t pstart, pend; /* sectors: the physical partition's block 0, its end */
	uint32_t unit, link;
	uint64_t run;	  /* sector of the run's first block (an NWA) */
	uint64_t nk;	  /* blocks handed out in the run */
	uint64_t flushed; /* of which on the medium (whole units) */
	uint8_t **stage;  /* stage[k - flushed]; NULL: padding, or handed out and not written yet */
	size_t stage_cap;
	uint32_t *vfree; /* virtual blocks no file entry uses (freed by an earlier commit): used again */
	uint32_t nvfree, capvfree;
	bool broken; /* a commit failed part way: the medium's state is unknown, no more writes */
};

/*
 * A commit whose medium I/O runs with fs->lock released (udf_commit_io.c).  While it is encoded (under
 * the lock), the writes and barriers of udf_commit.c are recorded here instead of sent, each write
 * with its data copied and its medium offset mapped then; udf_snap_run sends them in order.  The
 * changed nodes leave the dirty list when the encoding is done (what changes from then on is the
 * next commit's) and return to it if the I/O fails.  One commit at a time: w->snap says which.
 */
struct snap_op {
	bool barrier; /* else a write */
	uint32_t lbn; /* the partition block written first, UINT32_MAX: a volume structure (the LVID) */
	uint64_t off; /* on the medium, bytes */
	size_t len;   /* bytes */
	uint8_t *data;
	/* else a hint (io.fill_unused) that [off, off + len), partition blocks from lbn, holds nothing
	 * anyone needs: those blocks are held (marked used) from the end of the encoding until the
	 * commit finishes, so that no operation can take and write them before the hint is sent */
	bool unused;
};

struct snap_node {
	struct node *n;
	bool dir_dirty, is_new, gained;
	uint32_t reserved;
};

struct commit_snap {
	bool encoding;	    /* writes and barriers are recorded, not sent */
	bool changes;	    /* it commits changes (else it is only a barrier) */
	bool can_rescue;    /* a barrier's failure may be defect management's (needs fs->lock) */
	bool can_move_worn; /* a barrier may move worn packets first (media life; needs fs->lock) */
	struct snap_op *ops;
	size_t nops, capops;
	size_t next; /* the first op not run yet */
	int rc;	     /* the first failure; what is left is not run */
	struct snap_node *nodes;
	size_t nnodes;
	size_t npend;	   /* the first npend entries of w->pend become allocatable when it succeeds */
	size_t meta_npend; /* the same of the metadata partition's pending frees (udf_meta_space) */
	bool meta_entries; /* it writes the grown metadata file's and mirror's entries ... */
	uint32_t meta_gen; /* ... as they were after this many growths (udf_meta_write_entries) */
	bool io_stopped;   /* under fs->io_lock: the run without fs->lock is over (fs->io_cv) */
	bool finished;	   /* under fs->lock */
};

struct udf_w {
	uint8_t *sbd; /* the whole space bitmap descriptor; bit set = block free */
	uint32_t sbd_lbn, sbd_blocks;
	uint8_t *sbd_dirty;   /* one byte per block of the descriptor */
	bool bm_stale;	      /* the medium's bitmap lags behind (frees applied after a commit) */
	char held[128];	      /* udf_hold_changes: why changes are refused now ("" when they are not) */
	bool spares_gone;     /* the sparing table's last spare was used by this mount: no more changes */
	uint64_t early_spare; /* the medium sector of the spare the last early move was given (0: none) */
	uint64_t plen;	      /* partition length in blocks */
	uint64_t nbits;	      /* blocks the bitmap describes */
	uint64_t free_blocks; /* allocatable now */
	struct pend *pend;    /* freed, allocatable after the next commit */
	size_t npend, cappend;
	size_t pend_floor; /* entries below belong to the running commit (w->snap): never extended */
	uint64_t pend_blocks;
	uint64_t chain_blocks; /* blocks of moving entries' chains besides their newest entries
				* (udf_move.c; in the metadata partition when there is one): free
				* after unmount, so statfs counts them free */
	uint64_t reserve;      /* blocks the next commit will need: only the commit may take them */
	uint32_t meta_goal, data_goal, pkt;
	uint32_t pkt_off; /* first partition block that starts a packet of the medium */
	bool mp_valid;	  /* the packet new metadata of this commit interval goes to */
	uint64_t mp_start;
	/* blocks of the partition taken since the last commit's snapshot (bit set: nothing on the
	 * medium names them yet), [fresh_lo, fresh_hi) the span to clear; NULL until first needed */
	uint8_t *fresh;
	uint64_t fresh_lo, fresh_hi;
	/* blocks of the partition taken by this mount and not written since (bit set): their contents,
	 * never written, matter to nobody, so io.fill_unused may zero them (udf_write_io.c); NULL until
	 * first needed */
	uint8_t *unwritten;
	uint8_t *lvid;
	bool lvid_open;		/* the medium's LVID says open */
	bool lvid_guarded;	/* ... and records UDF_GUARD_WRITE_REV (udf_lvid.c), or cannot record it */
	uint16_t min_write_rev; /* the volume's own Minimum UDF Write Revision, recorded when closed */
	uint64_t uniq_bound;	/* the next unique ID the medium's LVID records */
	bool changed;		/* changes wait for a commit */
	/* the bitmap can be trusted for io.fill_unused's hints: the volume was closed at mount, or the
	 * check after an unclean shutdown has run (not with no_recover: the caller checks) */
	bool hints_trusted;
	bool in_commit;
	struct node *dirty; /* nodes whose file entry (or directory) must be written */
	uint32_t ndirty;    /* nodes on it (what the next commit writes: udf_set_commit_due, udf_vat_keep) */
	/* udf_set_commit_due: due(due_ctx) when ndirty reaches due_nodes (0: never) and the directory
	 * rewrites allow (udf_commit.c's check_commit_due, at ndirty == due_check), under fs->lock */
	uint32_t due_nodes, due_check;
	void (*due)(void *ctx);
	void *due_ctx;
	int tz;	      /* minutes east of UTC, for timestamps */
	uint8_t *buf; /* one block of scratch */
	uint8_t *buf2;
	struct udf_vat_w *vat;	 /* write-once media, else NULL */
	struct udf_meta_w *meta; /* a metadata partition (UDF 2.50+, udf_meta_write.c), else NULL */

	struct commit_snap *snap; /* the commit running (encoded or sending), NULL when none */
};

#define MAX_EXT_BYTES(bs) ((AD_LEN_MASK / (bs)) * (bs))

#define UNIQ_AHEAD 65536u
/* A commit due by size waits until its directory rewrites come to at most this many bytes per node
 * waiting (udf_commit.c's check_commit_due): a FID of a short name is ~50 bytes, so a directory of up
 * to ~10,000 entries changes nothing at 512 nodes, and one of 100,000 commits every ~5,000. */
#define UDF_DUE_DIR_BYTES_PER_NODE 1024u

#define FE_HDR ((uint32_t)FE_SIZE)

#define EFE_HDR ((uint32_t)EFE_SIZE)

/* ALLOC_META: file entries, directories, continuation blocks (the metadata partition's, if any), into
 * the commit interval's fresh packet; ALLOC_ALIGN: a whole packet of data; ALLOC_FRESH: into the
 * interval's fresh packet of the space the other flags choose, as new entries are (udf_alloc.c
 * meta_fresh) -- the copies of file data on a volume with a metadata partition (udf_extent.c);
 * ALLOC_NO_GROW: a full metadata partition is not grown for it (the pairs of entries that move). */
enum { ALLOC_META = 1, ALLOC_ALIGN = 2, ALLOC_FRESH = 4, ALLOC_NO_GROW = 8 };

static inline struct timespec now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static inline uint32_t blocks_of(const struct udf_fs *fs, uint64_t bytes)
{
	return (uint32_t)((bytes + fs->bs - 1) / fs->bs);
}

/* udf_write_io.c */
int udf_write_lb(struct udf_fs *fs, uint32_t lbn, const void *buf);
int udf_write_run(struct udf_fs *fs, uint32_t lbn, uint32_t n, const uint8_t *buf);
int udf_write_bytes(struct udf_fs *fs, uint64_t off, size_t len, const void *buf);
int udf_barrier(struct udf_fs *fs);
bool udf_can_rescue(const struct udf_fs *fs);
/* The sparable partition's table as the mount read it or the writer changed it (parts[0].stable_raw)
 * written to each copy whose bit is set in copies (bit t: copy t), at its place with its own tag
 * location; every copy is tried; 0 or the first write's -errno. */
int udf_sparing_write(struct udf_fs *fs, unsigned copies);
/* The free blocks (unwritten_too: and the unwritten ones, w->unwritten) of the packets holding
 * partition blocks lbn and lbn + n - 1: calls found(ctx, b, k) for each run [b, b + k) of them; the packets of the medium as the allocator sees them.  Nothing on
 * write-once media, without io.fill_unused, or with packets of one block. */
void udf_unused_runs(struct udf_fs *fs, uint32_t lbn, uint32_t n, bool unwritten_too,
		     void (*found)(void *ctx, uint32_t b, uint32_t k), void *ctx);
/* Sends io.fill_unused for partition blocks [lbn, lbn + n), mapped as writes are (the sparing table). */
void udf_send_unused(struct udf_fs *fs, uint32_t lbn, uint32_t n);
/* The same blocks mapped: add(ctx, first block, medium byte offset, bytes) for each run of consecutive
 * medium sectors; stops at add's first non-zero return and returns it. */
int udf_map_unused(struct udf_fs *fs, uint32_t lbn, uint32_t n,
		   int (*add)(void *ctx, uint32_t lbn, uint64_t off, size_t len), void *ctx);

/* udf_alloc.c */
bool udf_bm_is_free(const struct udf_w *w, uint64_t b);
void udf_bm_mark(struct udf_fs *fs, uint64_t b, bool free_);
/* udf_bm_mark in the bitmap of space bw (the partition's, or the metadata partition's) */
void udf_space_mark(struct udf_fs *fs, struct udf_w *bw, uint64_t b, bool free_);
uint64_t udf_bm_find(const struct udf_w *w, uint64_t from, uint64_t to);
uint32_t udf_bm_run(const struct udf_w *w, uint64_t b, uint32_t max);
void udf_take_run(struct udf_fs *fs, uint64_t b, uint32_t n);
/* udf_take_run in the bitmap of space bw (the partition's, or the metadata partition's) */
void udf_space_take(struct udf_fs *fs, struct udf_w *bw, uint64_t b, uint32_t n);
bool udf_fresh_block(const struct udf_w *w, uint64_t b);
/* Whether partition block b was taken by this mount and not written since; udf_written: it is. */
bool udf_unwritten_block(const struct udf_w *w, uint64_t b);
void udf_written(struct udf_w *w, uint64_t b, uint32_t n);
void udf_fresh_reset(struct udf_w *w);
int udf_alloc_blocks(struct udf_fs *fs, uint64_t goal, uint32_t want, unsigned flags, uint32_t *lbn, uint32_t *got);
/* A run of exactly nb free blocks anywhere (of the space flags choose), or -ENOSPC. */
int udf_alloc_exact(struct udf_fs *fs, uint32_t nb, unsigned flags, uint32_t *lbn);
int udf_free_later(struct udf_fs *fs, uint32_t lbn, uint32_t n);
/* Blocks just allocated (with flags) that nothing was written to or names: free again at once. */
void udf_alloc_undo(struct udf_fs *fs, unsigned flags, uint32_t lbn, uint32_t n);
/* udf_free_later of blocks of partition map part (the metadata partition's or the physical one's). */
int udf_free_in(struct udf_fs *fs, uint16_t part, uint32_t lbn, uint32_t n);
void udf_free_extents(struct udf_fs *fs, const struct node *n);
/* udf_streams.c: what a file entry owns besides its data, its extended attribute file and its stream
 * directory with the streams in it (UDF 3.3.4, 3.3.5).  visit gets each of their nodes and stops
 * the walk with a non-zero return.  0, or a negative errno: one cannot be read, or the tree goes
 * deeper than a stream directory of plain streams (-EOPNOTSUPP: not followed).  Under fs->lock. */
typedef int (*udf_visit_fn)(void *ctx, struct node *a);
int udf_for_attached(struct udf_fs *fs, const struct node *n, udf_visit_fn visit, void *ctx);
/* The stream directory at icb (a long_ad) and its streams, as udf_for_attached. */
int udf_for_stream_dir(struct udf_fs *fs, const uint8_t *icb, udf_visit_fn visit, void *ctx);
void udf_apply_frees(struct udf_fs *fs, size_t count, size_t meta_count);
void udf_update_sf(struct udf_fs *fs);
int udf_check_room(struct udf_fs *fs, struct node *d, uint32_t blocks, size_t fid_bytes);

/* udf_extent.c */
int udf_ext_normalize(struct udf_fs *fs, struct node *n);
int udf_ext_set(struct udf_fs *fs, struct node *n, uint32_t fb, uint32_t cnt, uint8_t type, uint32_t lbn);
void udf_recount_blocks(struct udf_fs *fs, struct node *n);
uint32_t udf_inline_cap(const struct udf_fs *fs, const struct node *n);
ssize_t udf_node_write(struct udf_fs *fs, struct node *n, uint64_t off, size_t len, const uint8_t *src);
int udf_node_truncate(struct udf_fs *fs, struct node *n, uint64_t size);

/* udf_encode.c */
void udf_put_vol_tag(struct udf_fs *fs, uint8_t *p, uint16_t id, uint32_t loc, uint16_t crc_len);
void udf_put_impl_regid(uint8_t *p);
uint8_t udf_file_type_of(mode_t m);
uint32_t udf_aeds_needed(const struct udf_fs *fs, const struct node *n);
int udf_write_fe(struct udf_fs *fs, struct node *n);
size_t udf_fid_len(size_t lfi);
size_t udf_dir_stream_len(const struct node *d);
int udf_dir_build(struct udf_fs *fs, struct node *d, uint8_t *out, size_t len, uint32_t base, bool embedded);
/* The same with the stream's blocks anywhere: lbns[i] is the partition block of its i-th block (a
 * directory in several runs; NULL: base + i). */
int udf_dir_build_at(struct udf_fs *fs, struct node *d, uint8_t *out, size_t len, uint32_t base, bool embedded,
		     const uint32_t *lbns);

/* udf_dir_write.c */
int udf_dir_commit(struct udf_fs *fs, struct node *d);
int udf_dir_add(struct node *d, const char *name, const uint8_t *raw, uint8_t rawlen, uint64_t ino, bool is_dir,
		uint32_t uniq);
void udf_dir_del(struct node *d, struct dirent_ *e);
void udf_dir_compact(struct node *d);
bool udf_dir_empty(const struct node *d);

/* udf_lvid.c */
int udf_begin_change(struct udf_fs *fs);
int udf_write_lvid(struct udf_fs *fs, bool open_);
void udf_lvid_attach(struct udf_fs *fs);
uint64_t udf_take_uniq(struct udf_fs *fs);

/* udf_commit.c */
void udf_mark_dirty(struct udf_fs *fs, struct node *n);
void udf_touch(struct udf_fs *fs, struct node *n, bool mtime);
int udf_write_bitmap(struct udf_fs *fs);
int udf_commit(struct udf_fs *fs);
int udf_commit_for_space(struct udf_fs *fs);

/* udf_move.c: file entries that move (ICB strategy 4096 chains) */
enum udf_move_kind { MV_NONE, MV_CONVERT, MV_MOVE, MV_FOLD };
bool udf_move_strat4096(const struct node *n);
uint32_t udf_move_chain_extra(const struct node *n);
void udf_move_plan(struct udf_fs *fs, struct node *n);
void udf_move_reserve_new(struct udf_fs *fs, struct node *n);
void udf_move_unreserve_new(struct udf_fs *fs);
int udf_move_write_new(struct udf_fs *fs, struct node *n);
bool udf_move_compacts(const struct node *n);
int udf_move_switch(struct udf_fs *fs, struct node *n);
void udf_move_finish(struct udf_fs *fs, struct node *n, bool ok);
void udf_move_free_entry(struct udf_fs *fs, struct node *n);
int udf_move_fold_back(struct udf_fs *fs);

/* udf_check.c */
int udf_recover(struct udf_fs *fs);

int udf_commit_place(struct udf_fs *fs, struct node *n);
void udf_commit_clear(struct udf_fs *fs);
void udf_commit_done(struct udf_fs *fs);
/* udf_sync's commit: as udf_commit, but fs->lock is released while its I/O runs (and while it waits
 * for a commit already running); only where nothing of the caller's is half done. */
int udf_commit_unlocked_io(struct udf_fs *fs);

/* udf_commit_io.c: the commit's recorded I/O (struct commit_snap) */
struct commit_snap *udf_snap_begin(struct udf_fs *fs);
int udf_snap_write(struct udf_fs *fs, uint32_t lbn, uint64_t off, size_t len, const void *buf);
int udf_snap_barrier(struct udf_fs *fs);
void udf_snap_abandon(struct udf_fs *fs, struct commit_snap *s);
int udf_snap_detach(struct udf_fs *fs, struct commit_snap *s);
int udf_snap_run(struct udf_fs *fs, struct commit_snap *s, bool unlock_io);
void udf_commit_wait_idle(struct udf_fs *fs);
bool udf_commit_take_over(struct udf_fs *fs);

/* udf_vat.c: write-once media */
int udf_vat_attach(struct udf_fs *fs, char *err, size_t errlen, const char **ro_why);
void udf_vat_detach(struct udf_w *w);
int udf_vat_alloc(struct udf_fs *fs, uint32_t want, unsigned flags, uint32_t *lbn, uint32_t *got);
int udf_vat_stage(struct udf_fs *fs, uint32_t lbn, uint32_t n, const uint8_t *buf);
/* Copies what the staged sectors in [off, off+len) hold; 1 when all of it was staged or
 * handed out (zeros), 0 when none is, -1 when it is mixed (read sector by sector). */
int udf_vat_read(struct udf_fs *fs, uint64_t off, size_t len, uint8_t *buf);
bool udf_vat_frozen(struct udf_fs *fs, uint16_t part, uint32_t lbn);
int udf_vat_new_vblock(struct udf_fs *fs, uint32_t *v);
int udf_vat_put_fe(struct udf_fs *fs, uint32_t vlbn, const uint8_t *buf);
int udf_vat_commit(struct udf_fs *fs);
int udf_vat_drain(struct udf_fs *fs);
uint64_t udf_vat_keep(const struct udf_fs *fs);
/* Blocks an operation may take now (what the next commit needs kept back). */
uint64_t udf_vat_avail(struct udf_fs *fs);
void udf_vat_update_sf(struct udf_fs *fs);
uint16_t udf_ino_part(uint64_t ino);

/* udf_meta_write.c: a metadata partition (UDF 2.50+).  Its blocks (file entries, directories,
 * continuation blocks: ALLOC_META) come from the metadata bitmap, are written to the metadata file
 * and, after the next barrier, to its mirror (udf_barrier), so that either copy is a whole state. */
/* NULL when the metadata partition verifies, else why not (valid until udf_meta_detach).
 * unclean: the integrity descriptor says open; the copies are compared by udf_meta_resync instead,
 * after the check (udf_recover) has fixed the metadata bitmap. */
const char *udf_meta_attach(struct udf_fs *fs, bool unclean, int *err);
/* After the check: blocks in use where the mirror differs from the metadata file get the metadata
 * file's contents (written at the next barrier); returns how many, or -ENOMEM. */
long udf_meta_resync(struct udf_fs *fs);
struct udf_seen;
/* The metadata, mirror and metadata bitmap files' entries and extents, seen in use. */
void udf_meta_seen_files(struct udf_fs *fs, struct udf_seen *s);
void udf_meta_detach(struct udf_w *w);
/* The allocator's state of the metadata partition (the bitmap fields of a struct udf_w). */
struct udf_w *udf_meta_space(struct udf_w *w);
/* Where ALLOC_META blocks live: the metadata partition's map, else 0; and new file entries. */
uint16_t udf_meta_part(const struct udf_fs *fs);
uint16_t udf_fe_part(const struct udf_fs *fs);
/* Writes n blocks of partition map part from lbn: the metadata file's (the mirror's later) or the
 * physical partition's. */
int udf_write_in(struct udf_fs *fs, uint16_t part, uint32_t lbn, uint32_t n, const uint8_t *buf);
/* Blocks written to the metadata file since the last barrier go to the mirror: 1 when some did. */
int udf_meta_mirror(struct udf_fs *fs);
int udf_meta_write_bitmap(struct udf_fs *fs);
/* The metadata file and its mirror grown by at least need blocks (whole allocation units, aligned;
 * the larger of 32 packets and an eighth of the size when there is room), the metadata bitmap with
 * them, all in memory: the next commit writes the two entries (udf_meta_write_entries), the bitmap
 * file follows with the bitmap.  0, -ENOSPC (no room in the partition, or no duplicate to grow
 * apart), or the integrity descriptor's failure. */
int udf_meta_grow(struct udf_fs *fs, uint64_t need);
/* Step 2 of a commit: the metadata file's and mirror's entries when a growth changed them. */
int udf_meta_write_entries(struct udf_fs *fs);
/* The commit that wrote them (after gen growths) completed. */
void udf_meta_entries_written(struct udf_fs *fs, uint32_t gen);
/* The metadata partition's free blocks and size, for the integrity descriptor. */
void udf_meta_counts(const struct udf_fs *fs, uint32_t *free_blocks, uint32_t *size);

/* udf_mount.c */
int udf_w_attach(struct udf_fs *fs, const struct udf_mount_opts *opts, char *err, size_t errlen);
void udf_w_detach(struct udf_fs *fs);

#endif
