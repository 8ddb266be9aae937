/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sense decoding: what a drive's sense data says, in words, errnos and classes (mmc_exec.c acts on it). */
#ifndef PKTFUSE_MMC_SENSE_H
#define PKTFUSE_MMC_SENSE_H

#include "transport.h"

struct mmc_sense {
	bool valid;
	uint8_t key, asc, ascq;
	bool info_valid;
	uint64_t info;	   /* the failing LBA for medium errors */
	bool sksv;	   /* sense-key-specific field valid */
	uint16_t progress; /* 0..65535 for NOT READY with SKSV */
};

/* Decodes fixed (70h/71h) or descriptor (72h/73h) format sense. */
void mmc_sense_decode(const uint8_t *sense, size_t len, struct mmc_sense *out);
/* "MEDIUM ERROR 03/0C/00 write error" */
const char *mmc_sense_text(const struct mmc_sense *s, char *buf, size_t len);
/* The errno a failed command maps to (EIO, EROFS, ENOMEDIUM, EINVAL, EAGAIN, ...). */
int mmc_sense_errno(const struct mmc_sense *s);

enum mmc_sense_class {
	MMC_SC_OK,
	MMC_SC_RETRY,	  /* becoming ready, long write in progress, format in progress: wait */
	MMC_SC_UNIT_ATTN, /* medium may have changed / reset: probe again */
	MMC_SC_NO_MEDIUM,
	MMC_SC_MEDIUM, /* medium or hardware error: EIO for the sectors concerned */
	MMC_SC_PROTECT,
	MMC_SC_ILLEGAL,
	MMC_SC_OTHER,
};
enum mmc_sense_class mmc_sense_classify(const struct mmc_sense *s);

/* "FORMAT UNIT" for 04h; "unknown" for an opcode pktfuse does not send. */
const char *mmc_op_name(uint8_t op);

#endif
