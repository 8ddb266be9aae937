/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Byte offsets of the on-disc fields the engine reads and writes, named as ECMA-167 3rd edition
 * (parts 3 and 4) and OSTA UDF 2.01 name them.  Every offset is from the start of its structure;
 * a field inside an embedded structure is spelled as the sum, e.g. LVD_FSD + LAD_LBN.
 * Only offsets and sizes live here: the values recorded in the fields are named where they are used.
 */
#ifndef PKTFUSE_ECMA167_H
#define PKTFUSE_ECMA167_H

/* ---- basic structures ---- */

/* Descriptor tag (ECMA-167 3/7.2), 16 bytes at the start of every descriptor. */
#define TAG_IDENT 0	   /* uint16: TAG_PVD, TAG_FE, ... */
#define TAG_DESC_VERSION 2 /* uint16: 2 (NSR02) or 3 (NSR03) */
#define TAG_CHECKSUM 4	   /* uint8: sum of the tag's bytes 0-3 and 5-15 */
#define TAG_SERIAL 6	   /* uint16 */
#define TAG_CRC 8	   /* uint16: CRC-ITU of the descriptor after the tag */
#define TAG_CRC_LENGTH 10  /* uint16: bytes covered by the CRC */
#define TAG_LOCATION 12	   /* uint32: the block the descriptor is recorded in */
#define TAG_SIZE 16

/* extent_ad (3/7.1): a run of sectors. */
#define EXT_LEN 0 /* uint32: bytes */
#define EXT_LOC 4 /* uint32: first sector */
#define EXT_SIZE 8

/* short_ad (4/14.14.1), long_ad (4/14.14.2), ext_ad (4/14.14.3): the length's top two bits are
 * the extent type (0 recorded, 1 allocated not recorded, 2 not allocated, 3 continuation). */
#define AD_LEN 0 /* uint32: bytes (low 30 bits) and type (top 2 bits) */
#define AD_LEN_MASK 0x3FFFFFFFu
#define SAD_POS 4 /* uint32: block in the partition */
#define SAD_SIZE 8
#define LAD_LBN 4	 /* uint32: lb_addr: block */
#define LAD_PART 8	 /* uint16: lb_addr: partition reference */
#define LAD_IMPL_USE 10	 /* 6 bytes; UDF 2.3.10.1: flags (2) then the unique ID's low 32 bits */
#define LAD_UNIQUE_ID 12 /* uint32 */
#define LAD_SIZE 16
#define EAD_LBN 12 /* ext_ad: lb_addr after length, recorded length, information length */
#define EAD_PART 16
#define EAD_SIZE 20

/* regid (1/7.4, UDF 2.1.5). */
#define REGID_FLAGS 0
#define REGID_IDENT 1	      /* 23 bytes */
#define REGID_SUFFIX 24	      /* 8 bytes */
#define REGID_UDF_REVISION 24 /* domain and UDF identifier suffix: uint16 UDF revision */
#define REGID_UDF_OS_CLASS 26 /* UDF identifier suffix */
#define REGID_UDF_OS_ID 27
#define REGID_IMPL_OS_CLASS 24 /* implementation identifier suffix */
#define REGID_IMPL_OS_ID 25
#define REGID_SIZE 32

/* timestamp (1/7.3), 12 bytes. */
#define TS_TYPE_AND_TZ 0 /* uint16 */
#define TS_YEAR 2	 /* uint16 */
#define TS_MONTH 4
#define TS_DAY 5
#define TS_HOUR 6
#define TS_MINUTE 7
#define TS_SECOND 8
#define TS_CENTISECONDS 9
#define TS_HUNDREDS_OF_MICROSECONDS 10
#define TS_MICROSECONDS 11
#define TS_SIZE 12

/* charspec (1/7.2.1): character set type, then its information (63 bytes). */
#define CHARSPEC_TYPE 0
#define CHARSPEC_INFO 1
#define CHARSPEC_SIZE 64

/* ---- volume structure (ECMA-167 part 2 and 3) ---- */

/* Volume recognition sequence (2/9.1): from byte 32768 of the session, one descriptor per 2048
 * bytes (or per block when blocks are larger). */
#define VRS_OFFSET 32768
#define VSD_TYPE 0
#define VSD_STD_IDENT 1 /* 5 bytes: "BEA01", "NSR02", "NSR03", "TEA01", "CD001", ... */
#define VSD_VERSION 6
#define VSD_SIZE 2048

/* Anchor volume descriptor pointer (3/10.2), at sector 256, N-257 and N-1. */
#define AVDP_SECTOR 256
#define AVDP_MAIN_VDS 16    /* extent_ad */
#define AVDP_RESERVE_VDS 24 /* extent_ad */

/* Every descriptor of a volume descriptor sequence. */
#define VD_SEQ_NUM 16 /* uint32: volume descriptor sequence number */

/* Primary volume descriptor (3/10.1). */
#define PVD_NUMBER 20
#define PVD_VOLUME_IDENT 24 /* dstring 32 */
#define PVD_VOL_SEQ_NUM 56  /* uint16 */
#define PVD_MAX_VOL_SEQ_NUM 58
#define PVD_INTERCHANGE_LEVEL 60
#define PVD_MAX_INTERCHANGE_LEVEL 62
#define PVD_CHARSET_LIST 64 /* uint32 */
#define PVD_MAX_CHARSET_LIST 68
#define PVD_VOLUME_SET_IDENT 72 /* dstring 128 */
#define PVD_DESC_CHARSET 200	/* charspec */
#define PVD_EXPLANATORY_CHARSET 264
#define PVD_APPLICATION_IDENT 344 /* regid */
#define PVD_RECORDING_TIME 376	  /* timestamp */
#define PVD_IMPL_IDENT 388	  /* regid */

/* Volume descriptor pointer (3/10.3). */
#define VDP_NEXT_VDS 20 /* extent_ad */

/* Implementation use volume descriptor (3/10.4) with UDF's LVInfo (UDF 2.2.7). */
#define IUVD_IMPL_IDENT 20	/* regid "*UDF LV Info" */
#define IUVD_LVI_CHARSET 52	/* charspec */
#define IUVD_LV_IDENT 116	/* dstring 128 */
#define IUVD_LVI_IMPL_IDENT 352 /* regid */

/* Partition descriptor (3/10.5). */
#define PD_FLAGS 20	   /* uint16: bit 0 allocated */
#define PD_NUMBER 22	   /* uint16 */
#define PD_CONTENTS 24	   /* regid "+NSR02" / "+NSR03" */
#define PD_CONTENTS_USE 56 /* 128 bytes: the partition header descriptor */
#define PD_ACCESS_TYPE 184 /* uint32 */
#define PD_START 188	   /* uint32: first sector */
#define PD_LENGTH 192	   /* uint32: sectors */
#define PD_IMPL_IDENT 196  /* regid */

/* Partition header descriptor (4/14.3), in the PD's contents use. */
#define PHD_UNALLOC_TABLE 0  /* short_ad */
#define PHD_UNALLOC_BITMAP 8 /* short_ad */

/* Logical volume descriptor (3/10.6). */
#define LVD_DESC_CHARSET 20	    /* charspec */
#define LVD_LOGICAL_VOLUME_IDENT 84 /* dstring 128 */
#define LVD_LOGICAL_BLOCK_SIZE 212  /* uint32 */
#define LVD_DOMAIN_IDENT 216	    /* regid "*OSTA UDF Compliant" */
#define LVD_FSD 248		    /* logical volume contents use: long_ad of the FSD */
#define LVD_MAP_TABLE_LENGTH 264    /* uint32 */
#define LVD_NUM_PARTITION_MAPS 268  /* uint32 */
#define LVD_IMPL_IDENT 272	    /* regid */
#define LVD_INTEGRITY_SEQ 432	    /* extent_ad */
#define LVD_PARTITION_MAPS 440

/* Partition maps (3/10.7, UDF 2.2.8-2.2.10). */
#define PMAP_TYPE 0 /* 1 or 2 */
#define PMAP_LENGTH 1
#define PMAP1_PART_NUM 4  /* type 1: uint16 partition number */
#define PMAP2_IDENT 4	  /* type 2: regid of the partition type */
#define PMAP2_PART_NUM 38 /* type 2: uint16 partition number */
#define PMAP2_SIZE 64
#define SPMAP_PACKET_LENGTH 40 /* sparable: uint16 */
#define SPMAP_NUM_TABLES 42    /* sparable: uint8 */
#define SPMAP_TABLE_SIZE 44    /* sparable: uint32 bytes of each table */
#define SPMAP_TABLE_LOCS 48    /* sparable: uint32 sector of each table, up to 4 */
#define MPMAP_FILE_LOC 40      /* metadata: uint32 block of the metadata file */
#define MPMAP_MIRROR_LOC 44    /* metadata: uint32 block of its mirror */
#define MPMAP_BITMAP_LOC 48    /* metadata: uint32 block of the metadata bitmap file, FFFFFFFFh: none */
#define MPMAP_ALLOC_UNIT 52    /* metadata: uint32 blocks the metadata file grows by */
#define MPMAP_ALIGN_UNIT 56    /* metadata: uint16 blocks its extents are aligned to */
#define MPMAP_FLAGS 58	       /* metadata: uint8, bit 0: the mirror duplicates the metadata file */

/* Unallocated space descriptor (3/10.8). */
#define USD_NUM_ADS 20 /* uint32 */

/* Logical volume integrity descriptor (3/10.10). */
#define LVID_RECORDING_TIME 16 /* timestamp */
#define LVID_INTEGRITY_TYPE 28 /* uint32: 0 open, 1 close */
#define LVID_NEXT_EXTENT 32    /* extent_ad */
#define LVID_NEXT_UNIQUE_ID 40 /* uint64: logical volume contents use (UDF 3.2.1) */
#define LVID_NUM_PARTITIONS 72 /* uint32 */
#define LVID_IMPL_USE_LEN 76   /* uint32 */
#define LVID_FREE_SPACE 80     /* uint32 per partition, then the size table, then the implementation use */
/* LVID implementation use (UDF 2.2.6.4). */
#define LVIU_IMPL_IDENT 0    /* regid */
#define LVIU_NUM_FILES 32    /* uint32 */
#define LVIU_NUM_DIRS 36     /* uint32 */
#define LVIU_MIN_READ_REV 40 /* uint16 */
#define LVIU_MIN_WRITE_REV 42
#define LVIU_MAX_WRITE_REV 44
#define LVIU_SIZE 46

/* ---- file structure (ECMA-167 part 4) ---- */

/* File set descriptor (4/14.1). */
#define FSD_RECORDING_TIME 16
#define FSD_INTERCHANGE_LEVEL 28 /* uint16 */
#define FSD_MAX_INTERCHANGE_LEVEL 30
#define FSD_CHARSET_LIST 32 /* uint32 */
#define FSD_MAX_CHARSET_LIST 36
#define FSD_FILE_SET_NUM 40
#define FSD_FILE_SET_DESC_NUM 44
#define FSD_LVI_CHARSET 48	     /* charspec */
#define FSD_LOGICAL_VOLUME_IDENT 112 /* dstring 128 */
#define FSD_FILE_SET_CHARSET 240     /* charspec */
#define FSD_FILE_SET_IDENT 304	     /* dstring 32 */
#define FSD_ROOT_ICB 400	     /* long_ad */
#define FSD_DOMAIN_IDENT 416	     /* regid */
#define FSD_SYSTEM_STREAM_ICB 464    /* long_ad (UDF 2.00) */

/* File identifier descriptor (4/14.4). */
#define FID_VERSION 16 /* uint16 */
#define FID_CHARACTERISTICS 18
#define FID_NAME_LEN 19	    /* L_FI */
#define FID_ICB 20	    /* long_ad */
#define FID_IMPL_USE_LEN 36 /* uint16: L_IU */
#define FID_IMPL_USE 38	    /* then the name, then padding to 4 bytes */

/* Allocation extent descriptor (4/14.5). */
#define AED_PREV_LOC 16 /* uint32 */
#define AED_ADS_LEN 20	/* uint32 */
#define AED_ADS 24

/* ICB tag (4/14.6), at ICB_TAG of every file entry and indirect entry. */
#define ICB_TAG 16
#define ICB_PRIOR_ENTRIES 16  /* uint32 */
#define ICB_STRATEGY_TYPE 20  /* uint16 */
#define ICB_STRATEGY_PARAM 22 /* uint16 */
#define ICB_MAX_ENTRIES 24    /* uint16 */
#define ICB_FILE_TYPE 27
#define ICB_PARENT 28 /* lb_addr */
#define ICB_FLAGS 34  /* uint16 */
/* Indirect entry (4/14.7). */
#define IE_INDIRECT_ICB 36 /* long_ad */

/* File entry (4/14.9) and extended file entry (4/14.17): the same up to the information length. */
#define FE_UID 36
#define FE_GID 40
#define FE_PERMISSIONS 44
#define FE_LINK_COUNT 48      /* uint16 */
#define FE_INFO_LENGTH 56     /* uint64 */
#define FE_BLOCKS_RECORDED 64 /* uint64 */
#define FE_ACCESS_TIME 72
#define FE_MODIFICATION_TIME 84
#define FE_ATTRIBUTE_TIME 96
#define FE_CHECKPOINT 108 /* uint32 */
#define FE_EA_ICB 112	  /* long_ad */
#define FE_IMPL_IDENT 128 /* regid */
#define FE_UNIQUE_ID 160  /* uint64 */
#define FE_EA_LEN 168	  /* uint32: L_EA */
#define FE_AD_LEN 172	  /* uint32: L_AD */
#define FE_SIZE 176	  /* then the extended attributes, then the allocation descriptors */

#define EFE_OBJECT_SIZE 64 /* uint64 */
#define EFE_BLOCKS_RECORDED 72
#define EFE_ACCESS_TIME 80
#define EFE_MODIFICATION_TIME 92
#define EFE_CREATION_TIME 104
#define EFE_ATTRIBUTE_TIME 116
#define EFE_CHECKPOINT 128
#define EFE_EA_ICB 136
#define EFE_STREAM_DIR_ICB 152 /* long_ad */
#define EFE_IMPL_IDENT 168
#define EFE_UNIQUE_ID 200
#define EFE_EA_LEN 208
#define EFE_AD_LEN 212
#define EFE_SIZE 216

/* Extended attribute header descriptor (4/14.10.1) and attributes (4/14.10.2). */
#define EAH_IMPL_ATTR_LOC 16 /* uint32 */
#define EAH_APP_ATTR_LOC 20  /* uint32 */
#define EAH_SIZE 24
#define EA_TYPE 0 /* uint32 */
#define EA_SUBTYPE 4
#define EA_LENGTH 8 /* uint32 */
/* Device specification (4/14.10.7). */
#define DEVSPEC_IMPL_USE_LEN 12
#define DEVSPEC_MAJOR 16
#define DEVSPEC_MINOR 20
#define DEVSPEC_SIZE 24

/* Space bitmap descriptor (4/14.12). */
#define SBD_NUM_BITS 16	 /* uint32 */
#define SBD_NUM_BYTES 20 /* uint32 */
#define SBD_BITMAP 24

/* Path component (4/14.16.1). */
#define PC_TYPE 0
#define PC_IDENT_LEN 1
#define PC_SIZE 4 /* then the identifier */

/* ---- UDF structures ---- */

/* Sparing table (UDF 2.2.12). */
#define ST_IDENT 16	  /* regid "*UDF Sparing Table" */
#define ST_NUM_ENTRIES 48 /* uint16: reallocation table length */
#define ST_SEQ_NUM 52	  /* uint32 */
#define ST_MAP 56	  /* map entries */
#define STE_ORIGINAL 0	  /* uint32 */
#define STE_MAPPED 4	  /* uint32 */
#define STE_SIZE 8

/* Virtual allocation table, UDF 2.00 (2.2.11); 1.50's ends in a 36-byte trailer with a regid. */
#define VAT_HEADER_LEN 0       /* uint16: L_HD, the header with its implementation use */
#define VAT_IMPL_USE_LEN 2     /* uint16: L_IU */
#define VAT_LV_IDENT 4	       /* dstring of 128 bytes */
#define VAT_PREV_VAT 132       /* uint32: previous VAT ICB, FFFFFFFFh when none */
#define VAT_NUM_FILES 136      /* uint32 */
#define VAT_NUM_DIRS 140       /* uint32 */
#define VAT_MIN_READ_REV 144   /* uint16 */
#define VAT_MIN_WRITE_REV 146  /* uint16 */
#define VAT_MAX_WRITE_REV 148  /* uint16 */
#define VAT_HEADER_MIN 152     /* then L_IU bytes of implementation use, then the entries */
#define VAT_FILE_TYPE 248      /* ICB file type of a 2.00+ VAT */
#define VAT_UNUSED 0xFFFFFFFFu /* an entry no block is mapped to */
#define VPMAP_VOL_SEQ 36       /* virtual partition map: uint16 volume sequence number */
#define VAT150_TRAILER 36

/* ICB file types of the metadata partition's files (UDF 2.50 2.2.13-2.2.14). */
#define META_FILE_TYPE 250
#define META_MIRROR_FILE_TYPE 251
#define META_BITMAP_FILE_TYPE 252

#endif
