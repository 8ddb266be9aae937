/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sense.h"
#include "mmc_be.h"
#include "mmc_ops.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void decode_sks(const uint8_t *p, struct mmc_sense *out)
{
	out->sksv = p[0] & 0x80;
	if (out->sksv && out->key == MMC_SK_NOT_READY)
		out->progress = mmc_get_be16(p + 1);
}

/* Both formats carry the key, ASC and ASCQ, at different offsets. */
static void take_codes(struct mmc_sense *out, uint8_t key, uint8_t asc, uint8_t ascq)
{
	out->valid = true;
	out->key = key & 0x0f;
	out->asc = asc;
	out->ascq = ascq;
}

void mmc_sense_decode(const uint8_t *sense, size_t len, struct mmc_sense *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 2)
		return;
	uint8_t code = sense[0] & 0x7f;

	if (code == 0x70 || code == 0x71) {
		if (len < 14)
			return;
		take_codes(out, sense[MMC_SENSE_KEY], sense[MMC_SENSE_ASC], sense[MMC_SENSE_ASCQ]);
		out->info_valid = sense[0] & 0x80;
		out->info = mmc_get_be32(sense + MMC_SENSE_INFO);
		if (len >= MMC_SENSE_FIXED_LEN)
			decode_sks(sense + MMC_SENSE_SKS, out);
	} else if (code == 0x72 || code == 0x73) {
		if (len < 8)
			return;
		take_codes(out, sense[1], sense[2], sense[3]);
		/* Walk the descriptors; a truncated one ends the walk rather than reading past len. */
		size_t end = 8 + (size_t)sense[7];
		if (end > len)
			end = len;
		for (size_t off = 8; off + 2 <= end;) {
			uint8_t type = sense[off], alen = sense[off + 1];
			if (off + 2 + alen > end)
				break;
			if (type == 0x00 && alen >= 10) {
				out->info_valid = sense[off + 2] & 0x80;
				out->info =
					(uint64_t)mmc_get_be32(sense + off + 4) << 32 | mmc_get_be32(sense + off + 8);
			} else if (type == 0x02 && alen >= 6) {
				decode_sks(sense + off + 4, out);
			}
			off += 2 + (size_t)alen;
		}
	}
}

static const char *const key_names[16] = {
	"NO SENSE",	  "RECOVERED ERROR", "NOT READY",   "MEDIUM ERROR",    "HARDWARE ERROR", "ILLEGAL REQUEST",
	"UNIT ATTENTION", "DATA PROTECT",    "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED",	 "ABORTED COMMAND",
	"EQUAL",	  "VOLUME OVERFLOW", "MISCOMPARE",  "COMPLETED",
};

static const struct {
	uint8_t asc, ascq; /* ascq 0xff: any */
	const char *text;
} asc_texts[] = {
	{0x04, 0x01, "becoming ready"},
	{0x04, 0x04, "format in progress"},
	{0x04, 0x07, "operation in progress"},
	{0x04, 0x08, "long write in progress"},
	{0x04, 0xff, "not ready"},
	{0x0c, 0xff, "write error"},
	{0x11, 0xff, "unrecovered read error"},
	{0x1a, 0xff, "parameter list length error"},
	{0x20, 0xff, "invalid command operation code"},
	{0x21, 0x00, "logical block address out of range"},
	{0x21, 0x02, "invalid address for write"},
	{0x24, 0xff, "invalid field in CDB"},
	{0x26, 0xff, "invalid field in parameter list"},
	{0x27, 0xff, "write protected"},
	{0x28, 0xff, "medium may have changed"},
	{0x29, 0xff, "power on or reset"},
	{0x30, 0x05, "cannot write: incompatible format"},
	{0x30, 0xff, "incompatible medium"},
	{0x31, 0xff, "medium format corrupted"},
	{0x32, 0xff, "no defect spare location available"},
	{0x3a, 0xff, "medium not present"},
	{0x64, 0xff, "illegal mode for this track"},
};

const char *mmc_sense_text(const struct mmc_sense *s, char *buf, size_t len)
{
	const char *t = "";

	if (!s->valid) {
		snprintf(buf, len, "no sense data");
		return buf;
	}
	for (size_t i = 0; i < sizeof(asc_texts) / sizeof(asc_texts[0]); i++)
		if (asc_texts[i].asc == s->asc && (asc_texts[i].ascq == 0xff || asc_texts[i].ascq == s->ascq)) {
			t = asc_texts[i].text;
			break;
		}
	snprintf(buf, len, "%s %02X/%02X/%02X%s%s", key_names[s->key & 15], s->key, s->asc, s->ascq, *t ? " " : "", t);
	return buf;
}

enum mmc_sense_class mmc_sense_classify(const struct mmc_sense *s)
{
	if (!s->valid)
		return MMC_SC_OTHER;
	switch (s->key) {
	case MMC_SK_NO_SENSE:
	case MMC_SK_RECOVERED_ERROR:
		return MMC_SC_OK;
	case MMC_SK_NOT_READY:
		if (s->asc == MMC_ASC_NOT_READY &&
		    (s->ascq == 0x01 || s->ascq == 0x04 || s->ascq == 0x07 || s->ascq == 0x08))
			return MMC_SC_RETRY;
		if (s->asc == MMC_ASC_MEDIUM_NOT_PRESENT)
			return MMC_SC_NO_MEDIUM;
		return MMC_SC_OTHER;
	case MMC_SK_MEDIUM_ERROR:
	case MMC_SK_HARDWARE_ERROR:
		return MMC_SC_MEDIUM;
	case MMC_SK_ILLEGAL_REQUEST:
		return MMC_SC_ILLEGAL;
	case MMC_SK_UNIT_ATTENTION:
		return MMC_SC_UNIT_ATTN;
	case MMC_SK_DATA_PROTECT:
		return MMC_SC_PROTECT;
	default:
		return MMC_SC_OTHER;
	}
}

int mmc_sense_errno(const struct mmc_sense *s)
{
	switch (mmc_sense_classify(s)) {
	case MMC_SC_OK:
		return 0;
	case MMC_SC_RETRY:
		return -EBUSY;
	case MMC_SC_UNIT_ATTN:
		return -EAGAIN;
	case MMC_SC_NO_MEDIUM:
		return -ENOMEDIUM;
	case MMC_SC_PROTECT:
		return -EROFS;
	case MMC_SC_ILLEGAL:
		return (s->asc == MMC_ASC_INVALID_OPCODE || s->asc == MMC_ASC_INVALID_FIELD_IN_CDB ||
			s->asc == MMC_ASC_INVALID_FIELD_IN_PARAMETERS)
			       ? -EINVAL
			       : -EIO;
	case MMC_SC_MEDIUM:
		/* A disc without spare areas left is worn out: nothing more can be written there. */
		return s->asc == MMC_ASC_NO_SPARE_LEFT ? -ENOSPC : -EIO;
	default:
		return -EIO;
	}
}

const char *mmc_op_name(uint8_t op)
{
	static const struct {
		uint8_t op;
		const char *name;
	} names[] = {
		{MMC_OP_TEST_UNIT_READY, "TEST UNIT READY"},
		{MMC_OP_REQUEST_SENSE, "REQUEST SENSE"},
		{MMC_OP_FORMAT_UNIT, "FORMAT UNIT"},
		{MMC_OP_INQUIRY, "INQUIRY"},
		{MMC_OP_START_STOP_UNIT, "START STOP UNIT"},
		{MMC_OP_PREVENT_ALLOW_MEDIUM_REMOVAL, "PREVENT ALLOW MEDIUM REMOVAL"},
		{MMC_OP_READ_FORMAT_CAPACITIES, "READ FORMAT CAPACITIES"},
		{MMC_OP_READ_CAPACITY, "READ CAPACITY"},
		{MMC_OP_READ_10, "READ(10)"},
		{MMC_OP_WRITE_10, "WRITE(10)"},
		{MMC_OP_VERIFY_10, "VERIFY(10)"},
		{MMC_OP_SYNCHRONIZE_CACHE, "SYNCHRONIZE CACHE"},
		{MMC_OP_GET_CONFIGURATION, "GET CONFIGURATION"},
		{MMC_OP_GET_EVENT_STATUS_NOTIFICATION, "GET EVENT STATUS NOTIFICATION"},
		{MMC_OP_READ_DISC_INFORMATION, "READ DISC INFORMATION"},
		{MMC_OP_READ_TRACK_INFORMATION, "READ TRACK INFORMATION"},
		{MMC_OP_MODE_SELECT_10, "MODE SELECT(10)"},
		{MMC_OP_MODE_SENSE_10, "MODE SENSE(10)"},
		{MMC_OP_CLOSE_TRACK_SESSION, "CLOSE TRACK/SESSION"},
		{MMC_OP_READ_TOC, "READ TOC/PMA/ATIP"},
		{MMC_OP_RESERVE_TRACK, "RESERVE TRACK"},
		{MMC_OP_BLANK, "BLANK"},
		{MMC_OP_READ_12, "READ(12)"},
		{MMC_OP_WRITE_12, "WRITE(12)"},
		{MMC_OP_READ_DVD_STRUCTURE, "READ DVD STRUCTURE"},
		{MMC_OP_SET_STREAMING, "SET STREAMING"},
		{MMC_OP_SET_CD_SPEED, "SET CD SPEED"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].op == op)
			return names[i].name;
	return "unknown";
}
