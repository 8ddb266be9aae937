/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse check: the whole check of a UDF volume, and its repair.  It knows nothing of FUSE or a
 * command line: every finding is one line handed to the caller, and the result counts them.
 *
 * The check reads everything and writes nothing: the integrity descriptor (open or closed, its
 * counts against what is on the disc), the space bitmap against the blocks files and directories
 * use (in use but marked free: a later allocation would overwrite them; marked used but owned by
 * nothing: leaked), link counts against the names found, file entries no directory reaches
 * (orphans), a name recorded twice in one directory, a directory with two names or a parent entry
 * naming another directory, every extent of every file and directory read back, and the sparing
 * table's state (the only wear a rewritable disc records).
 *
 * The repair runs only when the check could read everything: it writes through the engine's commit
 * (the integrity descriptor says open before the first change, and every change keeps the disc
 * valid at every moment), puts orphans into /lost+found, removes a directory's second name and a
 * name's second record, repairs parent entries and link counts, rebuilds the space bitmap from what
 * is in use and closes the integrity descriptor with the right counts; then it checks again.
 *
 * Volumes with one physical or sparable partition and a space bitmap are covered (UDF 1.02-2.01 as
 * pktfuse and the Linux kernel write them), and UDF 2.50/2.60 ones with a metadata partition over it
 * (its metadata bitmap checked as the space bitmap is, and the mirror against the metadata file; a
 * damaged entry of either rebuilt from the other's where the damaged file's data can be proved);
 * anything else (a VAT, a metadata partition without a metadata bitmap, a space table) is refused
 * with a reason.
 */
#ifndef PKTFUSE_UDF_FSCK_H
#define PKTFUSE_UDF_FSCK_H

#include "udf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum udf_fsck_line {
	UDF_FSCK_INFO,	  /* state worth knowing, not a problem (the sparing table) */
	UDF_FSCK_PROBLEM, /* a finding of the check */
	UDF_FSCK_REPAIR,  /* what the repair did */
	UDF_FSCK_LEFT,	  /* a problem the repair did not correct */
};

/* One line (no newline) naming the file by its path where there is one. */
typedef void (*udf_fsck_say_fn)(void *ctx, enum udf_fsck_line kind, const char *line);

struct udf_fsck_result {
	uint64_t files, dirs; /* what the (first) check walked */
	uint64_t problems;    /* the first check's findings */
	uint64_t left;	      /* problems after the repair (= problems when not repairing) */
	bool unreadable;      /* something could not be read or is damaged beyond proof: nothing written */
	bool repaired;	      /* the repair wrote its fixes */
};

/*
 * Checks the volume on io, and with repair (io->write set) repairs it and checks again.  Returns 0
 * with *res filled, or a negative errno with a one-line reason in err: no UDF volume that mounts,
 * a layout the check does not cover (-EOPNOTSUPP), the repair's writes failing, out of memory.
 */
int udf_fsck(const struct udf_io *io, bool repair, udf_fsck_say_fn say, void *ctx, struct udf_fsck_result *res,
	     char *err, size_t errlen);

#endif
