/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The MMC block-device backend: struct pkt_blockdev over an mmc_transport (a drive or the emulator). */
#ifndef PKTFUSE_MMC_DEV_H
#define PKTFUSE_MMC_DEV_H

#include "blockdev.h"
#include "probe.h"

struct mmc_dev_options {
	bool read_only;
	unsigned speed; /* 0: drive default */
	bool quiet;
	enum mmc_problem *problem; /* when not NULL: why the disc was refused (mmc_source_options) */
};

/* Takes ownership of t (closed on failure too).  Probes the medium; NULL with a reason in err when it
 * cannot be used as asked. */
struct pkt_blockdev *mmc_dev_open(struct mmc_transport *t, const char *source, const struct mmc_dev_options *opt,
				  char *err, size_t errlen);

struct mmc_dev_counters {
	uint64_t read_cmds, write_cmds, sync_cmds;
	uint64_t retries, unit_attentions, reprobes, errors;
	uint64_t bad_sectors; /* sectors that failed a read with a medium error */
	uint64_t param_sets;  /* times page 05h was programmed */
};

/* Zeros (and false) for a device not made by mmc_dev_open. */
bool mmc_dev_get_counters(struct pkt_blockdev *dev, struct mmc_dev_counters *out);
/* The medium's MMC profile (MMC_PROFILE_*), e.g. for a default that depends on how the medium wears;
 * 0 for a device not made by mmc_dev_open. */
uint16_t mmc_dev_profile(struct pkt_blockdev *dev);
/* The transport under an MMC device (NULL otherwise), for tests and the stats file. */
struct mmc_transport *mmc_dev_transport(struct pkt_blockdev *dev);
/* GET EVENT STATUS NOTIFICATION, media class, polled, between the device's other commands: the event
 * (1 EjectRequest, 2 NewMedia, 3 MediaRemoval ...; 0 none) and the media status byte (bit 0 tray
 * open, bit 1 medium present).  0, a negative errno, or -EOPNOTSUPP for a device not made by
 * mmc_dev_open. */
int mmc_dev_poll_event(struct pkt_blockdev *dev, uint8_t *event, uint8_t *status);
/* Whether failed commands are logged (with the decoded sense) on stderr from now on. */
void mmc_dev_set_quiet(struct pkt_blockdev *dev, bool quiet);

#endif
