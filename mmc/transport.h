/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One SCSI pass-through interface for every command pktfuse sends.  libsgutils2's sg_ll_* helpers hide
 * the sense data and fix their own timeouts, so nothing calls them: each command is built by a helper in
 * mmc_cmds.c and sent through mmc_transport_exec().
 */
#ifndef PKTFUSE_MMC_TRANSPORT_H
#define PKTFUSE_MMC_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMC_SENSE_MAX 64u

enum mmc_dir { MMC_DIR_NONE, MMC_DIR_IN, MMC_DIR_OUT };

#define MMC_STATUS_GOOD 0x00
#define MMC_STATUS_CHECK 0x02

struct mmc_cmd {
	uint8_t cdb[16];
	uint8_t cdb_len;
	enum mmc_dir dir;
	void *buf;
	uint32_t len;
	unsigned timeout_ms; /* 0 → 30 s */
	/* Filled in by the transport. */
	uint8_t status;
	uint8_t sense[MMC_SENSE_MAX];
	uint32_t sense_len;
	int32_t resid;
};

struct mmc_transport;

struct mmc_transport_ops {
	/* Sends cmd.  Returns 0 when the command reached the device (whatever its SCSI status, which is in
	 * cmd->status), a negative errno when it did not (the OS or the bus failed). */
	int (*exec)(struct mmc_transport *t, struct mmc_cmd *cmd);
	/* Waits ms milliseconds between retries.  The emulator advances its simulated clock instead of
	 * sleeping, which is what lets slow media be tested fast. */
	void (*sleep_ms)(struct mmc_transport *t, unsigned ms);
	size_t (*describe)(struct mmc_transport *t, char *buf, size_t len); /* may be NULL */
	void (*close)(struct mmc_transport *t);
};

struct mmc_transport {
	const struct mmc_transport_ops *ops;
	const char *name; /* the SOURCE, for messages */
	void *priv;
};

int mmc_transport_exec(struct mmc_transport *t, struct mmc_cmd *cmd);
void mmc_transport_sleep(struct mmc_transport *t, unsigned ms);
void mmc_transport_close(struct mmc_transport *t);

/* Opens a drive (/dev/srN, /dev/sgN) for SG_IO with mmc_sg_open_flags().  On failure returns NULL with a
 * one-line reason in err. */
struct mmc_transport *mmc_sg_open(const char *path, bool read_only, char *err, size_t errlen);
/* O_RDWR|O_NONBLOCK|O_EXCL to write; O_RDONLY|O_NONBLOCK to read.  O_EXCL is what keeps a mounted
 * /dev/srN (and a second pktfuse) away from a disc being written; a read-only look needs no exclusivity,
 * and the sg driver refuses O_EXCL with O_RDONLY (EPERM). */
int mmc_sg_open_flags(bool read_only);

/* snprintf that returns the bytes actually stored, for describe() chains. */
size_t mmc_appendf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
