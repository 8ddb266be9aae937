/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The numbers MMC-6 gives media profiles, features and FORMAT UNIT format types: shared by the
 * backend (probe, format), the daemon (which medium a disc is) and the emulator (what it answers). */
#ifndef PKTFUSE_MMC_PROFILES_H
#define PKTFUSE_MMC_PROFILES_H

#include <stdbool.h>
#include <stdint.h>

/* MMC profile numbers (GET CONFIGURATION current profile). */
#define MMC_PROFILE_CDROM 0x0008
#define MMC_PROFILE_CDR 0x0009
#define MMC_PROFILE_CDRW 0x000A
#define MMC_PROFILE_DVDROM 0x0010
#define MMC_PROFILE_DVDR 0x0011
#define MMC_PROFILE_DVDRAM 0x0012
#define MMC_PROFILE_DVDRW_RO 0x0013
#define MMC_PROFILE_DVDRW_SEQ 0x0014
#define MMC_PROFILE_DVDR_DL 0x0015
#define MMC_PROFILE_DVDPRW 0x001A
#define MMC_PROFILE_DVDPR 0x001B
#define MMC_PROFILE_DVDPR_DL 0x002B
#define MMC_PROFILE_BDROM 0x0040
#define MMC_PROFILE_BDR 0x0041
#define MMC_PROFILE_BDR_RRM 0x0042
#define MMC_PROFILE_BDRE 0x0043

/* Feature codes (GET CONFIGURATION). */
#define MMC_FEATURE_PROFILE_LIST 0x0000
#define MMC_FEATURE_CORE 0x0001
#define MMC_FEATURE_RANDOM_WRITABLE 0x0020
#define MMC_FEATURE_INCREMENTAL 0x0021
#define MMC_FEATURE_FORMATTABLE 0x0023
#define MMC_FEATURE_RESTRICTED_OVERWRITE 0x0026
#define MMC_FEATURE_MRW 0x0028
#define MMC_FEATURE_DVDPRW 0x002A
#define MMC_FEATURE_DVDPR 0x002B
#define MMC_FEATURE_CD_TAO 0x002D
#define MMC_FEATURE_BD_WRITE 0x0041

/* FORMAT UNIT format types. */
#define MMC_FMT_FULL 0x00
#define MMC_FMT_CD_DVD_FP 0x10
#define MMC_FMT_DVDRW_QUICK 0x15
#define MMC_FMT_MRW 0x24
#define MMC_FMT_DVDPRW 0x26
#define MMC_FMT_BD_SPARE 0x30
#define MMC_FMT_BD_NO_SPARE 0x31

const char *mmc_profile_name(uint16_t profile);

/* Sectors that closing a session of a write-once medium costs: from the start of its lead-out (CD-R:
 * after the 2 run-out blocks of the last packet) to the first user sector of the next session.
 * first: the disc's first session.
 * CD-R (Orange Book; what `cdrecord -msinfo` shows): the first session's lead-out is 6750 sectors
 * (1.5 min), later ones 2250 (0.5 min); each new session has a 4500-sector lead-in (1 min) and the
 * 150-sector pregap of its first track: 11,400 after the first session, 6,900 after later ones.  A
 * real packet-written CD-R (udfclient's cd_sessions in udisks issue 836) has sessions ending at 608
 * and 17898 and the next ones starting at 12010 = 608 + 2 + 11400 and 24800 = 17898 + 2 + 6900.
 * DVD-R: a Border-out and the next Border-in, the first one larger; DVD+R: a session closure and the
 * next intro.  These two are estimates of the sizes drives leave (about 32 MiB after the first
 * session, 6 MiB after later ones on DVD-R; 6 MiB on DVD+R), not read from the DVD specifications.
 * BD-R SRM: sessions are logical, no lead-out is recorded between them: 0.  The emulator leaves these
 * gaps; pktfuse info tells them before a close. */
static inline uint32_t mmc_session_gap_sectors(uint16_t profile, bool first)
{
	switch (profile) {
	case MMC_PROFILE_CDR:
		return first ? 6750 + 4500 + 150 : 2250 + 4500 + 150;
	case MMC_PROFILE_DVDR:
		return first ? 16384 : 3072;
	case MMC_PROFILE_DVDPR:
		return 3072;
	default:
		return 0;
	}
}

/* Sectors a write-once medium loses after every WRITE: the 7 run-out, link and run-in blocks of a
 * CD-R variable packet (2 + 1 + 4); DVD±R and BD-R none. */
static inline uint32_t mmc_link_sectors(uint16_t profile)
{
	return profile == MMC_PROFILE_CDR ? 7 : 0;
}

/* The 2 run-out blocks that end a CD-R packet (of its 7 link sectors): a closed session's lead-out
 * starts after them, not after the 5 link and run-in blocks a next packet would need. */
#define MMC_CD_RUN_OUT_BLOCKS 2

/* How far closing the session moves the NWA, from the one it has now (whose link sectors are already
 * counted) to the first one of the next session. */
static inline uint32_t mmc_session_close_cost(uint16_t profile, bool first)
{
	uint32_t link = mmc_link_sectors(profile);

	return mmc_session_gap_sectors(profile, first) - (link ? link - MMC_CD_RUN_OUT_BLOCKS : 0);
}

/* Where the lead-out of a session whose last track has NWA nwa starts. */
static inline uint32_t mmc_leadout_after(uint16_t profile, uint32_t nwa)
{
	uint32_t link = mmc_link_sectors(profile);

	return link && nwa >= link ? nwa - (link - MMC_CD_RUN_OUT_BLOCKS) : nwa;
}

#endif
