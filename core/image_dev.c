/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "image_dev.h"
#include "disc_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct image_dev {
	struct pkt_blockdev dev;
	int fd;
	/* The same file opened with O_DIRECT, for long aligned writes of a rewritable image (-1: none;
	 * dio_refused: the file system refused one): a buffered pwrite copied every packet of a stream
	 * into the host's page cache, a third copy of the data, and left fdatasync to write it.  Reads
	 * stay buffered; the kernel keeps the two coherent. */
	int dio_fd;
	_Atomic bool dio_refused;
	bool strict;
	/* Write-once images: the recorded sectors (the file's length), written by one write at a time. */
	_Atomic uint64_t recorded;
	pthread_mutex_t append_lock;
	_Atomic uint64_t read_cmds, read_sectors, write_cmds, write_sectors, sync_cmds, rejected;
};

static struct image_dev *to_image(struct pkt_blockdev *dev)
{
	return (struct image_dev *)dev;
}

/* pread/pwrite loop: short transfers happen on some file systems and on signals. */
static int full_io(int fd, void *buf, size_t len, off_t off, bool write)
{
	char *p = buf;

	while (len) {
		ssize_t n = write ? pwrite(fd, p, len, off) : pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			if (write)
				return -EIO;
			/* A file that shrank under us: the missing tail reads as zeros, as a hole would. */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int image_read(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, void *buf)
{
	struct image_dev *img = to_image(dev);

	if (dev->geo.append_only && lba + count > atomic_load(&img->recorded))
		return -EIO; /* not recorded */
	atomic_fetch_add(&img->read_cmds, 1);
	atomic_fetch_add(&img->read_sectors, count);
	return full_io(img->fd, buf, (size_t)count * PKT_SECTOR_SIZE, (off_t)(lba * PKT_SECTOR_SIZE), false);
}

/* A write-once image grows by whole units at its end, and nowhere else. */
static int append_write(struct image_dev *img, uint64_t lba, uint32_t count, const void *buf)
{
	const struct pkt_geometry *g = &img->dev.geo;
	int rc = 0;

	pthread_mutex_lock(&img->append_lock);
	uint64_t nwa = atomic_load(&img->recorded);
	if (lba != nwa || (count % g->packet_sectors != 0 && lba + count != g->sector_count)) {
		atomic_fetch_add(&img->rejected, 1);
		rc = -EINVAL;
	} else {
		atomic_fetch_add(&img->write_cmds, 1);
		atomic_fetch_add(&img->write_sectors, count);
		rc = full_io(img->fd, (void *)buf, (size_t)count * PKT_SECTOR_SIZE, (off_t)(lba * PKT_SECTOR_SIZE),
			     true);
		if (rc == 0)
			atomic_store(&img->recorded, lba + count);
		else if (ftruncate(img->fd, (off_t)(nwa * PKT_SECTOR_SIZE)) != 0)
			rc = -errno; /* what a torn write left is cut off again: the length stays the NWA */
	}
	pthread_mutex_unlock(&img->append_lock);
	return rc;
}

/* O_DIRECT wants buffers, offset and length aligned to the file system's block (512 or 4096 bytes
 * here); a page is enough everywhere.  Only runs of at least DIO_MIN_LEN go direct: the cache's
 * flusher writes one run at a time and waits for it, so short runs (scattered packets, each gathered
 * from what it last wrote around them) are faster through the page cache, which takes them at once
 * and serves those reads; a long run is a stream, which the page cache only slows down (measured
 * with bench/run.sh: direct for every packet cut random 4 KiB writes from ~30,000 to ~4,000 IOPS). */
enum { DIO_ALIGN = 4096, DIO_MIN_LEN = 1024 * 1024 };

static bool dio_suits(const struct image_dev *img, const struct iovec *iov, int n, size_t len, off_t off)
{
	if (img->dio_fd < 0 || atomic_load(&img->dio_refused) || len < DIO_MIN_LEN || off % DIO_ALIGN)
		return false;
	for (int i = 0; i < n; i++)
		if ((uintptr_t)iov[i].iov_base % DIO_ALIGN || iov[i].iov_len % DIO_ALIGN)
			return false;
	return true;
}

/* A rewritable image's write of len bytes at off from n buffers (consumed as they are written): a
 * long one direct when it can be (not after a refusal), else, or from where the file system refused
 * it, through the page cache.  Either way fdatasync makes it durable. */
static int rewritable_writev(struct image_dev *img, struct iovec *iov, int n, size_t len, off_t off)
{
	bool direct = dio_suits(img, iov, n, len, off);

	while (n > 0) {
		ssize_t w = pwritev(direct ? img->dio_fd : img->fd, iov, n < IOV_MAX ? n : IOV_MAX, off);
		if (w < 0 && errno == EINVAL && direct) {
			atomic_store(&img->dio_refused, true);
			direct = false;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += w;
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
			/* What is left of a direct write may not be aligned any more. */
			direct = direct && dio_suits(img, iov, n, DIO_MIN_LEN, off);
		}
	}
	return 0;
}

/* The checks and counters of every write of a rewritable image; 0 when it may go ahead. */
static int rewritable_admit(struct image_dev *img, uint64_t lba, uint32_t count)
{
	if (img->strict && !pkt_geometry_is_packet_write(&img->dev.geo, lba, count)) {
		atomic_fetch_add(&img->rejected, 1);
		return -EINVAL;
	}
	atomic_fetch_add(&img->write_cmds, 1);
	atomic_fetch_add(&img->write_sectors, count);
	return 0;
}

static int image_write(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, const void *buf)
{
	struct image_dev *img = to_image(dev);
	size_t len = (size_t)count * PKT_SECTOR_SIZE;

	if (dev->geo.append_only)
		return append_write(img, lba, count, buf);
	int rc = rewritable_admit(img, lba, count);
	if (rc)
		return rc;
	struct iovec one = {.iov_base = (void *)buf, .iov_len = len};
	return rewritable_writev(img, &one, 1, len, (off_t)(lba * PKT_SECTOR_SIZE));
}

/* Rewritable images only (a write-once image's writes go one buffer at a time). */
static int image_writev(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, struct iovec *iov, int nbufs)
{
	struct image_dev *img = to_image(dev);
	int rc = rewritable_admit(img, lba, count);

	if (rc)
		return rc;
	return rewritable_writev(img, iov, nbufs, (size_t)count * PKT_SECTOR_SIZE, (off_t)(lba * PKT_SECTOR_SIZE));
}

static int image_sync(struct pkt_blockdev *dev)
{
	struct image_dev *img = to_image(dev);

	atomic_fetch_add(&img->sync_cmds, 1);
	if (!dev->geo.writable)
		return 0;
	return fdatasync(img->fd) ? -errno : 0;
}

static void image_close(struct pkt_blockdev *dev)
{
	struct image_dev *img = to_image(dev);
	pthread_mutex_destroy(&img->append_lock);

	disc_lock_forget(img->fd);
	close(img->fd);
	if (img->dio_fd >= 0)
		close(img->dio_fd);
	free(img);
}

static size_t image_describe(struct pkt_blockdev *dev, char *buf, size_t len)
{
	struct image_dev_counters c = image_dev_counters(dev);
	int n = snprintf(buf, len,
			 "backend: image\n"
			 "backend_read_commands: %" PRIu64 "\n"
			 "backend_write_commands: %" PRIu64 "\n"
			 "backend_sync_commands: %" PRIu64 "\n"
			 "backend_rejected_writes: %" PRIu64 "\n",
			 c.read_cmds, c.write_cmds, c.sync_cmds, c.rejected_writes);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len ? len - 1 : 0;
}

static int image_append_state(struct pkt_blockdev *dev, struct pkt_append_state *out)
{
	uint64_t n = atomic_load(&to_image(dev)->recorded);

	*out = (struct pkt_append_state){
		.next_writable = n,
		.free_sectors = dev->geo.sector_count - n,
		.recorded = n > 0,
		.last_recorded = n ? n - 1 : 0,
		.session_start = 0,
		.sessions = n > 0,
		.closed = false,
	};
	return 0;
}

/* A plain image file has no place for a session's lead-in and lead-out or a closed disc's state:
 * saying "closed" would be a promise the file cannot keep once copied alone. */
static int image_close_session(struct pkt_blockdev *dev, enum pkt_close_kind kind)
{
	(void)dev;
	(void)kind;
	return -EOPNOTSUPP;
}

static const struct pkt_blockdev_ops image_ops = {
	.read = image_read,
	.write = image_write,
	.writev = image_writev,
	.sync = image_sync,
	.close = image_close,
	.describe = image_describe,
};

/* Write-once images: the same, and the write-once calls. */
static const struct pkt_blockdev_ops image_append_ops = {
	.read = image_read,
	.write = image_write,
	.sync = image_sync,
	.close = image_close,
	.describe = image_describe,
	.append_state = image_append_state,
	.close_session = image_close_session,
};

struct image_dev_counters image_dev_counters(struct pkt_blockdev *dev)
{
	struct image_dev_counters c = {0};

	if (!dev || (dev->ops != &image_ops && dev->ops != &image_append_ops))
		return c;
	struct image_dev *img = to_image(dev);
	c.read_cmds = atomic_load(&img->read_cmds);
	c.read_sectors = atomic_load(&img->read_sectors);
	c.write_cmds = atomic_load(&img->write_cmds);
	c.write_sectors = atomic_load(&img->write_sectors);
	c.sync_cmds = atomic_load(&img->sync_cmds);
	c.rejected_writes = atomic_load(&img->rejected);
	return c;
}

/* path opened again with O_DIRECT for writing, if it is still the file st describes and its file
 * system allows direct I/O; else -1 (then every write is buffered). */
static int open_direct(const char *path, const struct stat *st)
{
	struct stat again;
	int fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);

	if (fd >= 0 && (fstat(fd, &again) < 0 || again.st_dev != st->st_dev || again.st_ino != st->st_ino)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

struct pkt_blockdev *image_dev_open(const char *path, const struct image_dev_options *opt, char *err, size_t errlen)
{
	uint32_t ps = opt->packet_sectors ? opt->packet_sectors : 32;
	struct stat st;
	int fd;

	if (ps > PKT_MAX_PACKET_SECTORS) {
		snprintf(err, errlen, "packet size %u sectors is larger than the maximum %u", ps,
			 PKT_MAX_PACKET_SECTORS);
		return NULL;
	}
	fd = open(path, (opt->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == EISDIR)
			snprintf(err, errlen, "%s: is a directory, not an image file", path);
		else if (!opt->read_only && (e == EACCES || e == EROFS || e == EPERM))
			snprintf(err, errlen, "%s: %s (use -o ro to serve it read-only)", path, strerror(e));
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s, not an image file", path,
			 S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		goto fail;
	}
	if ((st.st_size == 0 && !opt->append_only) || st.st_size % PKT_SECTOR_SIZE) {
		snprintf(err, errlen, "%s: size %lld is not a positive multiple of 2048 bytes", path,
			 (long long)st.st_size);
		goto fail;
	}
	uint64_t length = (uint64_t)st.st_size / PKT_SECTOR_SIZE;
	uint64_t capacity = opt->append_only && opt->capacity_sectors ? opt->capacity_sectors : length;
	if (capacity == 0) {
		snprintf(err, errlen, "%s: an empty image of a write-once disc needs the disc's capacity", path);
		goto fail;
	}
	if (capacity < length) {
		snprintf(err, errlen,
			 "%s: %" PRIu64 " sectors recorded, more than the capacity of %" PRIu64
			 " given for the write-once disc",
			 path, length, capacity);
		goto fail;
	}
	if (opt->lock && disc_lock_take(fd, path, !opt->read_only, err, errlen) != 0)
		goto fail;

	struct image_dev *img = calloc(1, sizeof(*img));
	if (!img) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	img->fd = fd;
	img->dio_fd = opt->read_only || opt->append_only ? -1 : open_direct(path, &st);
	img->strict = opt->strict;
	atomic_init(&img->recorded, length);
	pthread_mutex_init(&img->append_lock, NULL);
	img->dev.ops = opt->append_only ? &image_append_ops : &image_ops;
	img->dev.priv = img;
	img->dev.geo.sector_size = PKT_SECTOR_SIZE;
	img->dev.geo.packet_sectors = ps;
	img->dev.geo.sector_count = capacity;
	img->dev.geo.writable = !opt->read_only;
	img->dev.geo.whole_packets = opt->strict && !opt->append_only; /* the write-once rule is its own */
	img->dev.geo.append_only = opt->append_only;
	return &img->dev;
fail:
	disc_lock_forget(fd);
	close(fd);
	return NULL;
}
