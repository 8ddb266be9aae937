/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated disc behind IMAGE: its state file (IMAGE.state), opening an existing disc or creating a blank one. */
#define _GNU_SOURCE
#include "emu_int.h"
#include "mmc_be.h"
#include "mmc_ops.h"
#include "../mmc_profiles.h"
#include "disc_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Packets with a wear counter in the state file: none on write-once media, written once each. */
static uint32_t wear_packets(const struct emu *e)
{
	return emu_write_once(e) ? 0 : (e->sectors + e->p->packet - 1) / e->p->packet;
}

int emu_save_state(struct emu *e)
{
	char tmp[4096];
	FILE *f;

	if (e->write_protect || e->read_only)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", e->state_path);
	f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	uint8_t hdr[32] = {0};
	memcpy(hdr, STATE_MAGIC, 8);
	hdr[8] = (uint8_t)(e->p - emu_profiles);
	hdr[9] = e->formatted;
	hdr[10] = e->blank_used;
	mmc_put_be32(hdr + 12, e->sectors);
	mmc_put_be32(hdr + 16, e->npackets);
	mmc_put_be32(hdr + 20, (uint32_t)(e->gen >> 32));
	mmc_put_be32(hdr + 24, (uint32_t)e->gen);
	bool ok = fwrite(hdr, sizeof(hdr), 1, f) == 1 &&
		  (!e->npackets || fwrite(e->wear, sizeof(uint32_t), e->npackets, f) == e->npackets) &&
		  (!emu_write_once(e) || emu_wo_save(e, f));
	if (fclose(f) != 0 || !ok) {
		unlink(tmp);
		return -EIO;
	}
	return rename(tmp, e->state_path) ? -errno : 0;
}

int emu_load_state(struct emu *e, char *err, size_t errlen)
{
	FILE *f = fopen(e->state_path, "rb");
	uint8_t hdr[32];

	if (!f)
		return -errno;
	if (fread(hdr, sizeof(hdr), 1, f) != 1 || memcmp(hdr, STATE_MAGIC, 8)) {
		fclose(f);
		snprintf(err, errlen, "%s: not an emulator state file", e->state_path);
		return -EINVAL;
	}
	if (hdr[8] != (uint8_t)(e->p - emu_profiles)) {
		fclose(f);
		snprintf(err, errlen, "%s: the image holds a %s disc, not %s", e->image,
			 hdr[8] < sizeof(emu_profiles) / sizeof(emu_profiles[0]) ? emu_profiles[hdr[8]].name
										 : "unknown",
			 e->p->name);
		return -EINVAL;
	}
	e->formatted = hdr[9];
	e->blank_used = hdr[10];
	e->sectors = mmc_get_be32(hdr + 12);
	uint32_t np = mmc_get_be32(hdr + 16);
	e->gen = (uint64_t)mmc_get_be32(hdr + 20) << 32 | mmc_get_be32(hdr + 24);
	if (np != wear_packets(e)) {
		fclose(f);
		snprintf(err, errlen, "%s: corrupt state file", e->state_path);
		return -EINVAL;
	}
	e->npackets = np;
	e->wear = calloc(np ? np : 1, sizeof(uint32_t));
	if (!e->wear || (np && fread(e->wear, sizeof(uint32_t), np, f) != np) ||
	    (emu_write_once(e) && emu_wo_load(e, f) < 0)) {
		fclose(f);
		snprintf(err, errlen, "%s: corrupt state file", e->state_path);
		return -EINVAL;
	}
	fclose(f);
	return 0;
}

/* The drive's write cache of wcache bytes: whole packets, buffers allocated once. */
int emu_alloc_wcache(struct emu *e, uint64_t wcache)
{
	size_t pbytes = (size_t)e->p->packet * SECTOR;

	e->held_cap = (uint32_t)(wcache / pbytes);
	if (!e->held_cap)
		return 0;
	e->held = calloc(e->held_cap, sizeof(*e->held));
	if (!e->held)
		return -ENOMEM;
	for (uint32_t i = 0; i < e->held_cap; i++)
		if (!(e->held[i].data = malloc(pbytes)))
			return -ENOMEM;
	return 0;
}

/* A new blank disc: a sparse image of the profile's (or the given) capacity.  0, or -1 with err. */
static int create_disc(struct emu *e, uint64_t size, char *err, size_t errlen)
{
	e->fd = open(e->image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (e->fd < 0) {
		snprintf(err, errlen, "%s: %s", e->image, strerror(errno));
		return -1;
	}
	e->sectors = size ? (uint32_t)(size / SECTOR) : e->p->sectors;
	e->npackets = wear_packets(e);
	e->wear = calloc(e->npackets ? e->npackets : 1, sizeof(uint32_t));
	/* A write-once disc's image holds what is recorded: it starts empty and grows. */
	off_t length = emu_write_once(e) ? 0 : (off_t)e->sectors * SECTOR;
	if (!e->wear || ftruncate(e->fd, length) < 0) {
		snprintf(err, errlen, "%s: cannot create the image: %s", e->image,
			 e->wear ? strerror(errno) : "out of memory");
		unlink(e->image);
		return -1;
	}
	e->gen = 1;
	if (emu_write_once(e)) {
		emu_wo_init(e);
		e->formatted = true; /* a write-once disc needs no format */
	}
	/* A new disc has its state file even when opened only to be read (pktfuse info ...,size=). */
	bool read_only = e->read_only;
	e->read_only = false;
	int rc = emu_save_state(e);
	e->read_only = read_only;
	if (rc < 0) {
		snprintf(err, errlen, "cannot write the emulated disc's state file %s: %s", e->state_path,
			 strerror(-rc));
		unlink(e->image);
		return -1;
	}
	return 0;
}

/* An image of a write-once disc made elsewhere (a dd of a partly written disc): recorded from its
 * start to its length, appendable after it; the capacity is size= or the profile's. */
static int adopt_write_once_image(struct emu *e, const struct stat *st, uint64_t size, char *err, size_t errlen)
{
	e->sectors = size ? (uint32_t)(size / SECTOR) : e->p->sectors;
	if (st->st_size % SECTOR || st->st_size > (off_t)e->sectors * SECTOR) {
		snprintf(err, errlen, "%s: size %lld is not a recorded part of a %" PRIu32 "-sector %s", e->image,
			 (long long)st->st_size, e->sectors, e->p->name);
		return -1;
	}
	e->npackets = wear_packets(e);
	e->wear = calloc(1, sizeof(uint32_t));
	if (!e->wear || emu_wo_adopt_image(e, (uint32_t)(st->st_size / SECTOR)) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->formatted = true;
	e->gen = 1;
	return 0;
}

/* An existing disc: its state file, or (an image made elsewhere) a formatted disc of the file's size. */
static int load_disc(struct emu *e, const struct stat *st, uint64_t size, char *err, size_t errlen)
{
	int rc = emu_load_state(e, err, errlen);

	if (rc == -ENOENT && emu_write_once(e)) {
		rc = adopt_write_once_image(e, st, size, err, errlen);
		if (rc < 0)
			return -1;
	} else if (rc == -ENOENT) {
		if (st->st_size < (off_t)SECTOR * e->p->packet || st->st_size % SECTOR ||
		    st->st_size / SECTOR > UINT32_MAX) {
			snprintf(err, errlen, "%s: size %lld is not a usable disc size", e->image,
				 (long long)st->st_size);
			return -1;
		}
		e->sectors = (uint32_t)(st->st_size / SECTOR);
		e->npackets = (e->sectors + e->p->packet - 1) / e->p->packet;
		e->wear = calloc(e->npackets, sizeof(uint32_t));
		if (!e->wear) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		e->formatted = true;
		e->gen = 1;
	} else if (rc < 0) {
		if (rc != -EINVAL)
			snprintf(err, errlen, "%s: %s", e->state_path, strerror(-rc));
		return -1;
	}
	/* Writing the state now tells at once what SYNCHRONIZE CACHE would only find out later. */
	rc = emu_save_state(e);
	if (rc < 0) {
		snprintf(err, errlen, "cannot write the emulated disc's state file %s: %s", e->state_path,
			 strerror(-rc));
		return -1;
	}
	return 0;
}

/* The disc behind IMAGE: opened, locked, its state loaded; a new one only when asked.  0, or -1. */
int emu_open_disc(struct emu *e, const struct emu_open_options *oo, uint64_t size, char *err, size_t errlen)
{
	struct stat st;
	bool fresh = stat(e->image, &st) < 0;

	if (fresh) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", e->image, strerror(errno));
			return -1;
		}
		if (e->write_protect) {
			snprintf(err, errlen, "%s: no such image (a write-protected disc must exist)", e->image);
			return -1;
		}
		if (!oo->create && !size) {
			snprintf(err, errlen,
				 "no such emulated disc %s (pktfuse format emu:%s:%s creates one, or give size=)",
				 e->image, e->p->name, e->image);
			return -1;
		}
		if (create_disc(e, size, err, errlen))
			return -1;
	} else {
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s: not a regular file", e->image);
			return -1;
		}
		e->fd = open(e->image, (e->write_protect || e->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (e->fd < 0) {
			int en = errno;
			snprintf(err, errlen, "cannot %s the emulated disc's image %s: %s",
				 e->read_only ? "read" : "write", e->image, strerror(en));
			return -1;
		}
	}
	struct stat fst;
	e->disc_serial = fstat(e->fd, &fst) == 0 ? (uint64_t)fst.st_ino : 0;
	/* One drive, one user at a time: as a real drive opened with O_EXCL. */
	if (disc_lock_take(e->fd, e->image, !(e->write_protect || e->read_only), err, errlen) != 0)
		return -1;
	return fresh ? 0 : load_disc(e, &st, size, err, errlen);
}
