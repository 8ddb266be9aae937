/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated drive: a struct mmc_transport that answers MMC CDBs over an image file, keeping the
 * medium's rules, its state (IMAGE.state), a wear counter per packet, injectable faults and a speed
 * model on a simulated clock.
 *
 * SPEC is "PROFILE:IMAGE[,option=value...]", PROFILE one of cdrw, dvd-rw, dvd+rw, dvd-ram, bd-re, cd-mrw,
 * or the write-once cd-r, dvd-r, dvd+r, bd-r (emu_wo.c).
 * Options: size=N[K|M|G] (capacity of a new disc), speed=N (turn the speed model on at Nx),
 * access_ms=N, wear_limit=N, write_error=LBA, read_error=LBA, lwip=N (N writes answered "long write in
 * progress"), media_change=N (unit attention before the Nth command), tray_open=1, ro=1 (write-protected),
 * log=PATH (one line per command; START STOP UNIT with loej= start=, PREVENT ALLOW MEDIUM REMOVAL with
 * prevent=), realtime=1 (the speed model's medium time -- transfers, seeks, command overhead --
 * is slept as well as counted, so that latencies can be measured against a medium at real speed;
 * turns the model on at 4x unless speed= is given; formats and blanks stay simulated only).
 *
 * The control file IMAGE.ctl: what a person does to the drive while a host (another process) has it
 * open.  Before every command the drive reads it, removes it, then obeys each word in it (and logs
 * "control=WORD"); so a test writes it whole (to a temporary name, then rename(2)) and knows it was
 * obeyed once the file is gone.  A host that polls GET EVENT STATUS NOTIFICATION sends commands by
 * itself; another one is made to by any access.  Words:
 *   eject_button  the eject button pressed: GESN reports EjectRequest (media class, event 1) once; the
 *                 tray stays as it is: a host ejects (or not) itself.
 *   tray_open     the tray forced open, the disc taken out underneath (a lock does not stop it): no
 *                 medium from now on; GESN reports MediaRemoval (3).  The drive writes what it holds
 *                 and the state file first, so that the test may now put another disc in: move
 *                 IMAGE and IMAGE.state away and others in their place.
 *   tray_close    the tray closed on the disc IMAGE names now (another file than before: another
 *                 disc, loaded with its state; none usable: the tray stays empty, logged): a unit
 *                 attention (medium may have changed) on the next command, GESN reports NewMedia (2).
 *   pause         the drive stuck: the command about to run (and so the host's thread that sent it)
 *                 waits, reading the control file every 10 ms, until a control file says resume (at
 *                 most 120 s, then "control=pause_timeout"); logged before the wait, so a test knows
 *                 the drive is stuck once the log says control=pause.
 *   resume        the stuck drive goes on.
 * The disc identification (READ DISC INFORMATION) mixes the image file's inode with the number of
 * formats: two images formatted alike are two discs.
 * Not read by a read-only open.
 */
#ifndef PKTFUSE_MMC_EMU_H
#define PKTFUSE_MMC_EMU_H

#include "../transport.h"

struct emu_counters {
	uint64_t commands;
	uint64_t read_cmds, read_sectors;
	uint64_t write_cmds, write_sectors; /* accepted writes only */
	uint64_t refused_writes;	    /* writes that broke the medium's rules */
	uint64_t rmw;			    /* internal read-modify-writes (partial ECC blocks / clusters) */
	uint64_t worn_failures, medium_errors;
	uint64_t formats, blanks, syncs;
	uint64_t bg_stops;	   /* DVD+RW background formats stopped by CLOSE TRACK/SESSION */
	uint64_t max_wear;	   /* highest overwrite count of any packet */
	uint64_t sim_ns;	   /* simulated time spent by the medium */
	double rate_bps;	   /* medium user-data rate at the current speed (0 when the model is off) */
	uint64_t destaged_packets; /* held packets the full write cache wrote to the medium on its own */
	uint64_t held_packets;	   /* packets in the write cache now */
	bool powered_off;
	uint64_t cut_written, cut_lost, cut_torn; /* what the power cut did to the held packets */
};

struct emu_open_options {
	bool read_only; /* only read: image opened O_RDONLY, no state written, no write cache */
	bool create;	/* a missing image becomes a new blank disc (pktfuse format) */
};

/* Opens the emulated drive of SPEC; NULL with a one-line reason in err. */
struct mmc_transport *emu_open_opts(const char *spec, const struct emu_open_options *o, char *err, size_t errlen);
/* emu_open_opts for reading and writing, creating a disc only when SPEC gives size=. */
struct mmc_transport *emu_open(const char *spec, char *err, size_t errlen);

/* A power cut, for tests: after `after` more commands (only WRITE and SYNCHRONIZE CACHE counted when
 * writes_only: those a single-threaded workload over the packet cache issues in a fixed order), or at
 * once when after is 0.  Held packets land whole or not at all (torn: or in part), by seed (0: keep the
 * drive's seed).  0, -EINVAL for a transport that is not an emulator, -ENODEV when already off. */
struct emu_power_cut {
	uint64_t after;
	bool writes_only, torn;
	uint64_t seed;
};
int emu_set_power_cut(struct mmc_transport *t, const struct emu_power_cut *pc);
/* False when t is not an emulator. */
bool emu_get_counters(struct mmc_transport *t, struct emu_counters *out);
/* Names accepted as PROFILE, for messages. */
extern const char emu_profile_list[];

#endif
