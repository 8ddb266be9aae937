/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SG_IO through libsgutils2's pass-through object: works on /dev/srN as well as /dev/sgN. */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <scsi/sg_lib.h>
#include <scsi/sg_pt.h>

struct sg_transport {
	struct mmc_transport t;
	int fd;
	char name[256];
};

static int sg_exec(struct mmc_transport *t, struct mmc_cmd *cmd)
{
	struct sg_transport *s = t->priv;
	struct sg_pt_base *pt = construct_scsi_pt_obj();
	int rc, cat;

	if (!pt)
		return -ENOMEM;
	set_scsi_pt_cdb(pt, cmd->cdb, cmd->cdb_len);
	set_scsi_pt_sense(pt, cmd->sense, sizeof(cmd->sense));
	if (cmd->dir == MMC_DIR_IN)
		set_scsi_pt_data_in(pt, cmd->buf, (int)cmd->len);
	else if (cmd->dir == MMC_DIR_OUT)
		set_scsi_pt_data_out(pt, cmd->buf, (int)cmd->len);
	/* The pass-through timeout is in whole seconds; round up so a short timeout never becomes 0. */
	rc = do_scsi_pt(pt, s->fd, (int)((cmd->timeout_ms + 999) / 1000), 0);
	cat = get_scsi_pt_result_category(pt);
	if (rc < 0 || cat == SCSI_PT_RESULT_OS_ERR) {
		int e = get_scsi_pt_os_err(pt);
		destruct_scsi_pt_obj(pt);
		return e ? -e : (rc < 0 ? rc : -EIO);
	}
	if (cat == SCSI_PT_RESULT_TRANSPORT_ERR) {
		destruct_scsi_pt_obj(pt);
		return -EIO;
	}
	cmd->status = (uint8_t)get_scsi_pt_status_response(pt);
	cmd->sense_len = (uint32_t)get_scsi_pt_sense_len(pt);
	cmd->resid = get_scsi_pt_resid(pt);
	destruct_scsi_pt_obj(pt);
	return 0;
}

static void sg_sleep(struct mmc_transport *t, unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	(void)t;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void sg_close(struct mmc_transport *t)
{
	struct sg_transport *s = t->priv;

	scsi_pt_close_device(s->fd);
	free(s);
}

static size_t sg_describe(struct mmc_transport *t, char *buf, size_t len)
{
	return mmc_appendf(buf, len, "transport: sg_io %s\n", t->name);
}

static const struct mmc_transport_ops sg_ops = {
	.exec = sg_exec,
	.sleep_ms = sg_sleep,
	.describe = sg_describe,
	.close = sg_close,
};

int mmc_sg_open_flags(bool read_only)
{
	return read_only ? O_RDONLY | O_NONBLOCK : O_RDWR | O_NONBLOCK | O_EXCL;
}

/* Whether this process has group gid (effective or supplementary). */
static bool in_group_now(gid_t gid)
{
	gid_t groups[256];
	int n = getgroups(256, groups);

	if (getegid() == gid)
		return true;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* Whether the user's account lists group gid (in /etc/group), whatever this session has. */
static bool account_in_group(gid_t gid)
{
	struct passwd *pw = getpwuid(getuid());
	gid_t groups[256];
	int n = 256;

	if (!pw || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* The reason a drive could not be opened for lack of permission, and what to do: the group that owns
 * the device node and the command that adds the user to it; log in again when the account has the
 * group and this session does not yet; a udev rule when only root may open it. */
static void access_hint(const char *path, const struct stat *st, int e, char *err, size_t errlen)
{
	struct group *gr = getgrgid(st->st_gid);
	char name[64];

	if (gr)
		snprintf(name, sizeof(name), "%s", gr->gr_name);
	else
		snprintf(name, sizeof(name), "%u", (unsigned)st->st_gid);
	if ((st->st_mode & 060) != 060 || st->st_gid == 0 || !strcmp(name, "disk")) /* disk: every disk's group */
		snprintf(err, errlen,
			 "%s: %s: it is for root only (group '%s', mode %03o); a udev rule gives optical drives to "
			 "the cdrom group (60-pktfuse.rules, see pktfuse(1))",
			 path, strerror(e), name, (unsigned)(st->st_mode & 0777));
	else if (!in_group_now(st->st_gid) && account_in_group(st->st_gid))
		snprintf(err, errlen,
			 "%s: %s: it belongs to group '%s', which your account has but this session does not yet: "
			 "log in again (or run newgrp %s)",
			 path, strerror(e), name, name);
	else if (!in_group_now(st->st_gid))
		snprintf(err, errlen,
			 "%s: %s: it belongs to group '%s' and you are not in it: run 'sudo adduser $USER %s', then "
			 "log in again",
			 path, strerror(e), name, name);
	else
		snprintf(err, errlen, "%s: %s (group '%s', mode %03o)", path, strerror(e), name,
			 (unsigned)(st->st_mode & 0777));
}

struct mmc_transport *mmc_sg_open(const char *path, bool read_only, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a drive (neither a block nor a character device)", path);
		return NULL;
	}
	fd = scsi_pt_open_flags(path, mmc_sg_open_flags(read_only), 0);
	if (fd < 0) {
		int e = -fd;
		if (e == EACCES || e == EPERM)
			access_hint(path, &st, e, err, errlen);
		else if (e == EBUSY)
			snprintf(err, errlen, "%s: drive is busy (mounted, or opened by another program)", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return NULL;
	}
	struct sg_transport *s = calloc(1, sizeof(*s));
	if (!s) {
		scsi_pt_close_device(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fd = fd;
	s->t.ops = &sg_ops;
	snprintf(s->name, sizeof(s->name), "%s", path);
	s->t.name = s->name;
	s->t.priv = s;
	return &s->t;
}
