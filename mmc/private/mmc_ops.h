/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SCSI/MMC operation codes pktfuse sends and the emulator answers, named as in MMC-6 and SPC
 * (../shared/reference/mmc.md), and the CDB and sense fields more than one place reads or writes.
 * mmc_op_name() (sense.c) words each of these opcodes for messages.
 */
#ifndef PKTFUSE_MMC_OPS_H
#define PKTFUSE_MMC_OPS_H

/* Operation codes (CDB byte 0). */
#define MMC_OP_TEST_UNIT_READY 0x00
#define MMC_OP_REQUEST_SENSE 0x03
#define MMC_OP_FORMAT_UNIT 0x04
#define MMC_OP_INQUIRY 0x12
#define MMC_OP_START_STOP_UNIT 0x1B
#define MMC_OP_PREVENT_ALLOW_MEDIUM_REMOVAL 0x1E
#define MMC_OP_READ_FORMAT_CAPACITIES 0x23
#define MMC_OP_READ_CAPACITY 0x25
#define MMC_OP_READ_10 0x28
#define MMC_OP_WRITE_10 0x2A
#define MMC_OP_VERIFY_10 0x2F
#define MMC_OP_SYNCHRONIZE_CACHE 0x35
#define MMC_OP_READ_TOC 0x43
#define MMC_OP_GET_CONFIGURATION 0x46
#define MMC_OP_GET_EVENT_STATUS_NOTIFICATION 0x4A
#define MMC_OP_READ_DISC_INFORMATION 0x51
#define MMC_OP_READ_TRACK_INFORMATION 0x52
#define MMC_OP_RESERVE_TRACK 0x53
#define MMC_OP_MODE_SELECT_10 0x55
#define MMC_OP_MODE_SENSE_10 0x5A
#define MMC_OP_CLOSE_TRACK_SESSION 0x5B
#define MMC_OP_BLANK 0xA1
#define MMC_OP_READ_12 0xA8
#define MMC_OP_WRITE_12 0xAA
#define MMC_OP_READ_DVD_STRUCTURE 0xAD
#define MMC_OP_SET_STREAMING 0xB6
#define MMC_OP_SET_CD_SPEED 0xBB

/* CDB lengths by group. */
#define MMC_CDB6_LEN 6
#define MMC_CDB10_LEN 10
#define MMC_CDB12_LEN 12

/* CDB fields (byte offsets). */
#define MMC_CDB6_ALLOC_LEN 4 /* 6-byte CDBs (INQUIRY, REQUEST SENSE): allocation length, 1 byte */
#define MMC_CDB_LBA 2	     /* READ/WRITE/VERIFY (10 and 12), READ TRACK INFORMATION: 4 bytes */
#define MMC_CDB10_LENGTH 7   /* 10-byte CDBs: transfer or allocation length, 2 bytes */
#define MMC_CDB12_LENGTH 6   /* READ(12)/WRITE(12): transfer length, 4 bytes */

/* Mode pages (MODE SENSE/SELECT(10)) behind the 8-byte mode parameter header, whose bytes 6-7 give
 * the length of the block descriptors between header and page. */
#define MMC_MODE_HEADER_LEN 8
#define MMC_MODE_HEADER_BD_LEN 6
#define MMC_PAGE_WRITE_PARAMETERS 0x05
#define MMC_PAGE_CAPABILITIES 0x2A

/* Fixed-format sense data (70h/71h), byte offsets. */
#define MMC_SENSE_FIXED_LEN 18
#define MMC_SENSE_INFO 3    /* information (the failing LBA), 4 bytes; valid when bit 7 of byte 0 */
#define MMC_SENSE_KEY 2	    /* bits 3-0 */
#define MMC_SENSE_ADD_LEN 7 /* additional sense length */
#define MMC_SENSE_ASC 12
#define MMC_SENSE_ASCQ 13
#define MMC_SENSE_SKS 15 /* sense-key specific: bit 7 SKSV, then 2 bytes (progress) */

/* Sense keys (SPC). */
#define MMC_SK_NO_SENSE 0x0
#define MMC_SK_RECOVERED_ERROR 0x1
#define MMC_SK_NOT_READY 0x2
#define MMC_SK_MEDIUM_ERROR 0x3
#define MMC_SK_HARDWARE_ERROR 0x4
#define MMC_SK_ILLEGAL_REQUEST 0x5
#define MMC_SK_UNIT_ATTENTION 0x6
#define MMC_SK_DATA_PROTECT 0x7
#define MMC_SK_BLANK_CHECK 0x8

/* Additional sense codes (ASC) pktfuse acts on or the emulator reports; sense.c words them. */
#define MMC_ASC_NOT_READY 0x04 /* ASCQ 01h becoming ready, 04h format, 07h operation, 08h long write */
#define MMC_ASC_WRITE_ERROR 0x0C
#define MMC_ASC_UNRECOVERED_READ_ERROR 0x11
#define MMC_ASC_PARAMETER_LIST_LENGTH 0x1A
#define MMC_ASC_INVALID_OPCODE 0x20
#define MMC_ASC_LBA_OUT_OF_RANGE 0x21 /* ASCQ 02h: invalid address for write */
#define MMC_ASC_INVALID_FIELD_IN_CDB 0x24
#define MMC_ASC_INVALID_FIELD_IN_PARAMETERS 0x26
#define MMC_ASC_COMMAND_SEQUENCE_ERROR 0x2C
#define MMC_ASC_WRITE_PROTECTED 0x27
#define MMC_ASC_MEDIUM_MAY_HAVE_CHANGED 0x28
#define MMC_ASC_POWER_ON_RESET 0x29
#define MMC_ASC_INCOMPATIBLE_MEDIUM 0x30 /* ASCQ 05h: cannot write, incompatible format */
#define MMC_ASC_NO_SPARE_LEFT 0x32
#define MMC_ASC_MEDIUM_NOT_PRESENT 0x3A /* ASCQ 02h: tray open */
#define MMC_ASC_INTERNAL_TARGET_FAILURE 0x44
#define MMC_ASC_MEDIUM_REMOVAL_PREVENTED 0x53 /* ASCQ 02h */
#define MMC_ASC_ILLEGAL_MODE_FOR_TRACK 0x64

#endif
