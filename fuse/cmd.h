/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The subcommands and the daemon, as main() dispatches them: each takes its own argv (argv[0] is the
 * subcommand's name, or the program's for the daemon) and returns the exit status. */
#ifndef PKTFUSE_CMD_H
#define PKTFUSE_CMD_H

int cmd_status(int argc, char **argv); /* cmd_status.c */
int cmd_umount(int argc, char **argv); /* cmd_umount.c */
int cmd_check(int argc, char **argv);  /* cmd_check.c */
int cmd_info(int argc, char **argv);   /* cmd_info.c */
int cmd_format(int argc, char **argv); /* cmd_format.c */
int cmd_eject(int argc, char **argv);  /* cmd_eject.c */
int cmd_close(int argc, char **argv);  /* cmd_close.c */
int run_daemon(int argc, char **argv); /* daemon.c */

/* stats_text.c: a running daemon's statistics text ("name: value" lines), for the subcommands. */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
/* Reads MOUNTPOINT's statistics into buf (NUL-terminated): its length, or a negative errno. */
ssize_t pktfuse_read_stats(const char *mountpoint, char *buf, size_t len);
/* The value of line `name: value` of text into out, or "" when there is none. */
void pktfuse_stats_value(const char *text, const char *name, char *out, size_t len);
uint64_t pktfuse_stats_u64(const char *text, const char *name); /* 0 when absent */
/* flush_progress.c: on a terminal with data waiting, writes the daemon's cache out before an unmount
 * (view: the statistics' view) and shows what is left and the rate; otherwise does nothing. */
void pktfuse_flush_with_progress(const char *mountpoint, const char *view);
/* cmd_umount.c: the whole of `pktfuse umount MOUNTPOINT` (flush with progress, unmount, wait for the
 * daemon, its report): the exit status.  source (if not NULL) gets the mount's SOURCE, or "". */
int pktfuse_unmount(const char *mountpoint, char *source, size_t len);
/* "512 B", "3.0 MiB", "4.4 GiB" (binary units); returns buf. */
const char *pktfuse_format_bytes(uint64_t bytes, char *buf, size_t len);

#endif
