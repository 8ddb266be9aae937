/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pktfuse: argv dispatch to the subcommands and the daemon. */
#include "cmd.h"

#include <string.h>

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "umount") == 0)
		return cmd_umount(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "format") == 0)
		return cmd_format(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "info") == 0)
		return cmd_info(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "eject") == 0)
		return cmd_eject(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "close") == 0)
		return cmd_close(argc - 1, argv + 1);
	return run_daemon(argc, argv);
}
