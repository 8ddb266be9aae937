/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LD_PRELOAD shim: serves SG_IO on a fake device path from the emulator, so that independent clients
 * (sg3-utils) and pktfuse's own SG_IO transport can be run against it and compared.
 *   PKTFUSE_SGSHIM_DEV=/some/fake/path  PKTFUSE_SGSHIM_EMU=PROFILE:IMAGE[,opts]  LD_PRELOAD=libsgshim.so CMD
 * Opening the fake path gives an fd on /dev/null; SG_IO ioctls on that fd go to the emulator.
 * PKTFUSE_SGSHIM_SG=1: opens follow the sg driver's rule (O_EXCL with O_RDONLY: EPERM);
 * PKTFUSE_SGSHIM_EPERM=XX: SG_IO of opcode XX (hex) fails with EPERM, as the kernel's SG_IO filter
 * refuses a command to an unprivileged user.
 */
/* The wrappers must define open() and open64() themselves, not have one renamed onto the other. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <scsi/sg.h>

#include "emu/emu.h"

static int shim_fd = -1;
static struct mmc_transport *emu;

static void shim_exit(void)
{
	if (emu)
		mmc_transport_close(emu);
	emu = NULL;
}

static bool is_fake(const char *path)
{
	const char *dev = getenv("PKTFUSE_SGSHIM_DEV");
	return path && dev && !strcmp(path, dev);
}

static int open_fake(int flags)
{
	static int (*real_open)(const char *, int, ...);
	char err[512];
	const char *sg = getenv("PKTFUSE_SGSHIM_SG");

	if (sg && *sg == '1' && (flags & O_EXCL) && (flags & O_ACCMODE) == O_RDONLY) {
		errno = EPERM; /* drivers/scsi/sg.c: "Can't lock it with read only access" */
		return -1;
	}
	if (!emu) {
		const char *spec = getenv("PKTFUSE_SGSHIM_EMU");
		emu = emu_open(spec ? spec : "", err, sizeof(err));
		if (!emu) {
			fprintf(stderr, "sgshim: %s\n", err);
			errno = ENXIO;
			return -1;
		}
		atexit(shim_exit);
	}
	if (!real_open)
		real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	int fd = real_open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		shim_fd = fd;
	return fd;
}

#define OPEN_WRAPPER(name, ...)                                                          \
	int name(const char *path, int flags, ...)                                       \
	{                                                                                \
		static int (*real)(const char *, int, ...);                              \
		mode_t mode = 0;                                                         \
		if (flags & (O_CREAT | O_TMPFILE)) {                                     \
			va_list ap;                                                      \
			va_start(ap, flags);                                             \
			mode = va_arg(ap, mode_t);                                       \
			va_end(ap);                                                      \
		}                                                                        \
		if (is_fake(path))                                                       \
			return open_fake(flags);                                         \
		if (!real)                                                               \
			real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
		return real(path, flags, mode);                                          \
	}

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

int openat(int dirfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (is_fake(path))
		return open_fake(flags);
	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	return real(dirfd, path, flags, mode);
}

int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

int __open64_2(const char *path, int flags)
{
	return open64(path, flags);
}

/* dvd+rw-tools insist on a block device: the fake drive looks like one on fstat(). */
#define FSTAT_WRAPPER(name, type)                                                    \
	int name(int fd, struct type *st)                                            \
	{                                                                            \
		static int (*real)(int, struct type *);                              \
		if (!real)                                                           \
			real = (int (*)(int, struct type *))dlsym(RTLD_NEXT, #name); \
		int rc = real(fd, st);                                               \
		if (rc == 0 && fd >= 0 && fd == shim_fd)                             \
			st->st_mode = S_IFBLK | 0660;                                \
		return rc;                                                           \
	}

FSTAT_WRAPPER(fstat, stat)
FSTAT_WRAPPER(fstat64, stat64)

/* Programs built against glibc before 2.33 call __fxstat(). */
int __fxstat(int ver, int fd, struct stat *st)
{
	static int (*real)(int, int, struct stat *);

	if (!real)
		real = (int (*)(int, int, struct stat *))dlsym(RTLD_NEXT, "__fxstat");
	int rc = real(ver, fd, st);
	if (rc == 0 && fd >= 0 && fd == shim_fd)
		st->st_mode = S_IFBLK | 0660;
	return rc;
}

static int serve_sg_io(struct sg_io_hdr *h)
{
	struct mmc_cmd cmd;

	if (h->interface_id != 'S' || h->cmd_len > sizeof(cmd.cdb) || !h->cmdp) {
		errno = EINVAL;
		return -1;
	}
	const char *refused = getenv("PKTFUSE_SGSHIM_EPERM");
	if (refused && *refused && h->cmd_len && strtoul(refused, NULL, 16) == h->cmdp[0]) {
		errno = EPERM;
		return -1;
	}
	memset(&cmd, 0, sizeof(cmd));
	memcpy(cmd.cdb, h->cmdp, h->cmd_len);
	cmd.cdb_len = h->cmd_len;
	cmd.buf = h->dxferp;
	cmd.len = h->dxfer_len;
	cmd.dir = h->dxfer_direction == SG_DXFER_FROM_DEV ? MMC_DIR_IN
		  : h->dxfer_direction == SG_DXFER_TO_DEV ? MMC_DIR_OUT
							  : MMC_DIR_NONE;
	if (cmd.dir == MMC_DIR_NONE)
		cmd.len = 0, cmd.buf = NULL;
	int rc = mmc_transport_exec(emu, &cmd);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	h->status = cmd.status;
	h->masked_status = (unsigned char)(cmd.status >> 1);
	h->msg_status = 0;
	h->host_status = 0;
	h->driver_status = cmd.status == MMC_STATUS_CHECK ? 0x08 : 0; /* DRIVER_SENSE */
	h->sb_len_wr = 0;
	if (cmd.status == MMC_STATUS_CHECK && h->sbp && h->mx_sb_len) {
		unsigned n = cmd.sense_len < h->mx_sb_len ? cmd.sense_len : h->mx_sb_len;
		memcpy(h->sbp, cmd.sense, n);
		h->sb_len_wr = (unsigned char)n;
	}
	h->resid = cmd.dir == MMC_DIR_NONE ? 0 : cmd.resid;
	h->duration = 0;
	h->info = cmd.status ? SG_INFO_CHECK : SG_INFO_OK;
	return 0;
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	va_list ap;

	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (fd >= 0 && fd == shim_fd) {
		if (req == SG_IO)
			return serve_sg_io(arg);
		if (req == SG_GET_VERSION_NUM) {
			*(int *)arg = 30536; /* an sg v3 driver: clients use struct sg_io_hdr */
			return 0;
		}
		errno = ENOTTY;
		return -1;
	}
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	return real(fd, req, arg);
}
