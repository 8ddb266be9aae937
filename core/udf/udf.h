/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF engine.  It knows nothing of FUSE: inode numbers, struct stat and negative errnos.  Every
 * byte comes through struct udf_io, so the engine reads and writes through the packet cache.  The
 * disc is untrusted input: every descriptor is verified and every length bounds-checked.
 *
 * Writing (revisions 1.50-2.01, one physical or sparable partition with a space bitmap, or on
 * write-once media a physical and a virtual partition with a VAT, udf_vat.c): changes are made in
 * memory and committed by udf_sync (on fsync, periodically, and at unmount) in an order that keeps
 * the disc consistent if the process dies at any moment.
 *
 * Threads: every function here may be called from any thread; each takes the mount's one lock for
 * its whole run, I/O through struct udf_io included, so calls on one mount are serialised -- except
 * while udf_sync's commit writes to the medium: it holds the lock only to encode and to finish, so
 * other calls go on meanwhile (and a second udf_sync waits for it, then commits the rest).  The
 * lock is taken before any lock of the packet cache under io (udf_int.h says more).
 */
#ifndef PKTFUSE_UDF_H
#define PKTFUSE_UDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* Where a write-once medium stands, in bytes (struct udf_io's append_state). */
struct udf_append_state {
	uint64_t next_writable; /* byte offset where the next write must start */
	uint64_t free_bytes;	/* writable from next_writable on */
	bool recorded;		/* anything written at all */
	uint64_t last_recorded; /* byte offset of the last sector written, when recorded */
	uint64_t session_start; /* byte offset of the last session's first sector */
	bool closed;		/* finalized: nothing can be written */
};

#define UDF_SECTOR_BYTES 2048u /* the unit of udf_io's packet_blocks (the packet cache's sector) */

struct udf_io {
	/* Reads len bytes at byte offset off of the medium; 0 or -errno.  Thread-safe. */
	int (*read)(void *ctx, uint64_t off, size_t len, void *buf);
	void *ctx;
	uint64_t size; /* bytes */
	/* First sector (of the UDF block size) of the last session of a multi-session disc, 0 for
	 * single-session media and image files: its anchor and recognition sequence are found there. */
	uint64_t session_start;
	/* Writes len bytes at off; 0 or -errno.  NULL for a read-only medium. */
	int (*write)(void *ctx, uint64_t off, size_t len, const void *buf);
	/* Barrier: returns when everything written before is on the medium.  0 or -errno. */
	int (*flush)(void *ctx);
	/* The medium's packet size in 2048-byte sectors, the packet cache's unit (allocation aligns to
	 * whole packets: the engine converts to its blocks, 4 to a sector at 512, half a one at 4096);
	 * 0 unknown.  Write-once media (2048-byte blocks only) count their write units the same way. */
	uint32_t packet_blocks;
	/* Defect management, after flush failed: writes each packet that failed again, and where that
	 * fails asks relocate (the engine: the sparing table) for another place.  NULL: not offered. */
	int (*rescue)(void *ctx, int (*relocate)(void *rctx, uint64_t off, uint64_t *to), void *rctx);
	/* Media life, before a barrier's flush: writes each dirty packet that is worn (near its rated
	 * overwrites: the caller of the cache says which) where relocate says instead; where relocate
	 * refuses, in place.  NULL: not offered. */
	int (*move_worn)(void *ctx, int (*relocate)(void *rctx, uint64_t off, uint64_t *to), void *rctx);
	/* Whether move_worn would find a packet to move now (a commit's barriers run without the engine's
	 * lock unless one may move); NULL with move_worn: always assumed. */
	bool (*worn_dirty)(void *ctx);
	/* A write-once medium: each block is written once, in ascending order from the next writable
	 * address (past what the cache holds), in packets of packet_blocks followed by link_blocks
	 * lost ones; reading past the recorded part fails.  NULL on rewritable media. */
	int (*append_state)(void *ctx, struct udf_append_state *out);
	uint32_t link_blocks;
	/* Rewritable media: nobody needs the old contents of [off, off + len) (blocks free in the space
	 * bitmap), so where a packet that holds them is written whole they may be zeros instead of
	 * being read back first (pkt_cache_fill_unused).  Called after a write into the same packet.
	 * A hint only: never fails the caller.  NULL: not offered. */
	int (*fill_unused)(void *ctx, uint64_t off, size_t len);
};

struct udf_mount_opts {
	/* An open integrity descriptor does not start the check at mount, and a metadata partition's
	 * mirror and free count are not compared with its metadata file and bitmap: the caller checks
	 * (pktfuse check) */
	bool no_recover;
	uid_t uid; /* owner shown for files whose owner is not recorded */
	gid_t gid;
	bool read_only; /* never write, even when the volume could be written */
	/* write-once media: mount the disc as it was this many commits before the newest, read-only
	 * (0: the newest) */
	uint32_t snapshot;
	/* -o session=N: io.session_start is the session to read, even when 0; else the last session is
	 * looked for (the medium's append state, or a bounded search for its anchor: udf_volume.c) */
	bool session_given;
	/* -o lastblock=N: the volume's last block (where its end anchors are), 0: the medium's last */
	uint64_t last_block;
};

struct udf_statfs {
	char label[128]; /* logical volume identifier, UTF-8 */
	uint32_t block_size;
	uint64_t blocks;      /* partition size in blocks */
	uint64_t free_blocks; /* from the LVID */
	uint64_t files, dirs; /* from the LVID */
	unsigned revision;    /* e.g. 0x0201 */
	uint64_t commits;     /* changes committed to the medium by this mount */
	uint64_t relocated;   /* packets moved into the sparing table's spares by this mount */
	uint64_t moved_early; /* of those, moved before they failed: worn near their rated overwrites */
	/* writable UDF 2.50+: file entries that still fit the metadata partition (each new file or
	 * directory takes a block of it), else 0 (not bounded so) */
	uint64_t free_entries;
};

struct udf_fs;

/* Mounts the UDF file system on io.  On failure returns a negative errno and a one-line reason;
 * -EUCLEAN when both copies of a metadata partition's entry are damaged (no copy left to read). */
int udf_mount(const struct udf_io *io, const struct udf_mount_opts *opts, struct udf_fs **out, char *err,
	      size_t errlen);
void udf_unmount(struct udf_fs *fs);

uint64_t udf_root_ino(const struct udf_fs *fs);
/* The primary volume descriptor's volume set identifier, 128 raw bytes (a dstring; UDF 2.2.2.5 makes its
 * first 16 characters unique per disc): a stable identity of the disc across mounts. */
const uint8_t *udf_volume_set_ident(const struct udf_fs *fs);

int udf_getattr(struct udf_fs *fs, uint64_t ino, struct stat *st);
int udf_lookup(struct udf_fs *fs, uint64_t dir, const char *name, uint64_t *ino, struct stat *st);

/* Calls fill for each entry of dir from position pos on ("." and ".." included); fill returns
 * non-zero to stop.  next is the position after the entry.  Returns 0 or -errno. */
typedef int (*udf_fill_fn)(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next);
int udf_readdir(struct udf_fs *fs, uint64_t dir, uint64_t pos, udf_fill_fn fill, void *ctx);

/* Reads up to len bytes at off; returns the byte count (0 at end of file) or -errno. */
ssize_t udf_read(struct udf_fs *fs, uint64_t ino, uint64_t off, size_t len, void *buf);

/* The target of a symbolic link, NUL-terminated; -ENAMETOOLONG if it does not fit. */
int udf_readlink(struct udf_fs *fs, uint64_t ino, char *buf, size_t len);

void udf_statfs(struct udf_fs *fs, struct udf_statfs *st);

/* ---- writing ---- */

/* The longest name created, in bytes of UTF-8: the most the Linux kernel's udf reads back as is. */
#define UDF_NAME_MAX 254

/* A sentence on what the mount found and did (the check after an unclean shutdown), or "". */
const char *udf_mount_note(struct udf_fs *fs);

/* True when the volume is one of write-once media (a virtual partition: written only by appending,
 * through an append-only udf_io).  *end gets the byte offset where its physical partition ends (the
 * disc's capacity as the format recorded it: an image of such a disc does not have it otherwise). */
bool udf_write_once(struct udf_fs *fs, uint64_t *end);

/* Write-once media: the commits on the disc, newest first (the one mounted, then each VAT's previous
 * one, down to the format's).  fn gets the index (0 newest, as -o snapshot= counts), the sector of
 * the VAT's file entry, its recording time and the counts it records; fn returns non-zero to stop.
 * Returns the number of commits listed, or -EINVAL when the volume has no VAT. */
typedef int (*udf_commit_fn)(void *ctx, uint32_t index, uint64_t sector, struct timespec when, uint32_t files,
			     uint32_t dirs);
int udf_commit_list(struct udf_fs *fs, udf_commit_fn fn, void *ctx);

/* The disc was taken out (or another put in) under the mount: until udf_hold_changes(fs, NULL) every
 * change is refused with EROFS and udf_writable says why; what memory and the cache hold is kept, and
 * udf_sync still runs (it fails where the medium cannot be written).  Not for a read-only mount. */
void udf_hold_changes(struct udf_fs *fs, const char *why);

/* Every spare of the sparing table is used: a disc found so is mounted read-only with this reason, and a
 * mount that uses the last spare turns read-only (after writing what it can: the commit that needed the
 * spare completes) -- rather than failing every fsync once the next packet wears out. */
#define UDF_SPARES_GONE "every spare packet of the sparing table is used: the disc is worn out, read-only"
/* True when this mount used the last spare (udf_writable is false from then on). */
bool udf_spares_gone(struct udf_fs *fs);

/* True when a barrier moves worn packets to spares before they fail (media life: a writable mount with
 * a sparing table and spares to give); else no one moves a worn packet, and the cache should not keep
 * one back for it (pkt_cache_set_wear_limit). */
bool udf_can_move_worn(const struct udf_fs *fs);

/* True when the mount can be written; otherwise why in why (a sentence). */
bool udf_writable(struct udf_fs *fs, char *why, size_t len);

/* The generation number FUSE pairs with ino (inode numbers are block addresses and get reused). */
uint64_t udf_generation(struct udf_fs *fs, uint64_t ino);

/* Creates name in dir: a regular file, directory, FIFO, socket or (with target) a symbolic link,
 * as mode says.  Returns the new node's ino and attributes. */
int udf_create(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, uid_t uid, gid_t gid, const char *target,
	       uint64_t *ino, struct stat *st);
/* Creates a device node, FIFO or socket (a device node's number in an extended attribute). */
int udf_mknod(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
	      uint64_t *ino, struct stat *st);
int udf_link(struct udf_fs *fs, uint64_t ino, uint64_t dir, const char *name, struct stat *st);
int udf_unlink(struct udf_fs *fs, uint64_t dir, const char *name);
int udf_rmdir(struct udf_fs *fs, uint64_t dir, const char *name);
#define UDF_RENAME_NOREPLACE 1u
int udf_rename(struct udf_fs *fs, uint64_t odir, const char *oname, uint64_t ndir, const char *nname, unsigned flags);

enum { UDF_SET_MODE = 1, UDF_SET_UID = 2, UDF_SET_GID = 4, UDF_SET_SIZE = 8, UDF_SET_ATIME = 16, UDF_SET_MTIME = 32 };
struct udf_setattr {
	unsigned valid;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	struct timespec atime, mtime;
};
int udf_setattr(struct udf_fs *fs, uint64_t ino, const struct udf_setattr *sa, struct stat *st);

/* Writes len bytes at off; returns len or -errno (-ENOSPC, -EFBIG, -EIO). */
ssize_t udf_write(struct udf_fs *fs, uint64_t ino, uint64_t off, size_t len, const void *buf);

/* Open files: a file unlinked while open keeps its blocks until the last release. */
void udf_open(struct udf_fs *fs, uint64_t ino);
void udf_release(struct udf_fs *fs, uint64_t ino);

/* Commits every change to the medium (and waits for it): fsync of any file or directory.  The
 * mount's lock is released while the commit's writes and barriers run. */
int udf_sync(struct udf_fs *fs);
/* udf_sync, and the space bitmap written too (an fsync of the whole volume; a commit leaves it to
 * the unmount, as the check after an unclean shutdown rebuilds it). */
int udf_sync_volume(struct udf_fs *fs);
/* True when changes wait for udf_sync. */
bool udf_dirty(struct udf_fs *fs);
/* A commit due by size: due(ctx) is called once `nodes` files and directories wait for a commit
 * (once per commit; 0 or a NULL due: never).  What a commit holds in memory while it writes, and how
 * long the fsync after a large copy takes, grow with them; the caller commits (udf_sync) from its own
 * thread.  due runs under the mount's lock, inside the call that changed the last of them: it may
 * only take a lock of its own that is never held across a call into this engine, and signal. */
void udf_set_commit_due(struct udf_fs *fs, uint32_t nodes, void (*due)(void *ctx), void *ctx);
/* Final commit and the integrity descriptor marked closed: the clean unmount. */
int udf_close(struct udf_fs *fs);

#endif
