/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated drive: a struct mmc_transport that answers MMC CDBs over an image file, keeping the
 * medium's rules, its state (IMAGE.state), a wear counter per packet, injectable faults and a speed
 * model on a simulated clock.
 *
 * SPEC is "PROFILE:IMAGE[,option=value...]", PROFILE one of cdrw, dvd-rw, dvd+rw, dvd-ram, bd-re, cd-mrw.
 * Options: size=N[K|M|G] (capacity of a new disc), speed=N (turn the speed model on at Nx),
 * access_ms=N, wear_limit=N, write_error=LBA, read_error=LBA, lwip=N (N writes answered "long write in
 * progress"), media_change=N (unit attention before the Nth command), tray_open=1, ro=1 (write-protected),
 * log=PATH (one line per command).
 */
#ifndef PKTFUSE_MMC_EMU_H
#define PKTFUSE_MMC_EMU_H

#include "../transport.h"

struct emu_counters {
	uint64_t commands;
	uint64_t read_cmds, read_sectors;
	uint64_t write_cmds, write_sectors; /* accepted writes only */
	uint64_t refused_writes;            /* writes that broke the medium's rules */
	uint64_t rmw;                       /* internal read-modify-writes (partial ECC blocks / clusters) */
	uint64_t worn_failures, medium_errors;
	uint64_t formats, blanks, syncs;
	uint64_t bg_stops; /* DVD+RW background formats stopped by CLOSE TRACK/SESSION */
	uint64_t max_wear; /* highest overwrite count of any packet */
	uint64_t sim_ns;   /* simulated time spent by the medium */
	double rate_bps;   /* medium user-data rate at the current speed (0 when the model is off) */
};

struct mmc_transport *emu_open(const char *spec, char *err, size_t errlen);
/* False when t is not an emulator. */
bool emu_get_counters(struct mmc_transport *t, struct emu_counters *out);
/* Names accepted as PROFILE, for messages. */
extern const char emu_profile_list[];

#endif
