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
int run_daemon(int argc, char **argv); /* daemon.c */

#endif
