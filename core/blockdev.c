/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "blockdev.h"

#include <assert.h>
#include <errno.h>

bool pkt_geometry_is_packet_write(const struct pkt_geometry *geo, uint64_t lba, uint32_t count)
{
	uint64_t ps = geo->packet_sectors;

	if (count == 0 || ps == 0 || lba % ps != 0)
		return false;
	if (lba > geo->sector_count || count > geo->sector_count - lba)
		return false;
	/* Whole packets, or a run that ends exactly at the end of a medium whose last packet is short. */
	return count % ps == 0 || lba + count == geo->sector_count;
}

int pkt_blockdev_check_range(const struct pkt_geometry *geo, uint64_t lba, uint32_t count)
{
	if (lba > geo->sector_count || count > geo->sector_count - lba)
		return -EIO;
	return 0;
}

int pkt_blockdev_read(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, void *buf)
{
	int rc = pkt_blockdev_check_range(&dev->geo, lba, count);

	return rc ? rc : dev->ops->read(dev, lba, count, buf);
}

int pkt_blockdev_write(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, const void *buf)
{
	int rc = pkt_blockdev_check_range(&dev->geo, lba, count);

	if (rc)
		return rc;
	if (!dev->geo.writable)
		return -EROFS;
	return dev->ops->write(dev, lba, count, buf);
}

/* The packet rule of the cache's writes, asserted in debug builds. */
static void assert_packet_write(const struct pkt_blockdev *dev, uint64_t lba, uint32_t count)
{
	/* A breach here is a cache bug that a lenient medium would hide: stop where it happens. */
	assert(dev->geo.append_only || !dev->geo.whole_packets || pkt_geometry_is_packet_write(&dev->geo, lba, count));
	/* Write-once media: whole units (the last one of the medium may be short), or where link sectors
	 * follow each command (a CD-R's variable packets) one packet of at most a unit. */
	assert(!dev->geo.append_only ||
	       (dev->geo.link_sectors ? count >= 1 && count <= dev->geo.packet_sectors
				      : count % dev->geo.packet_sectors == 0 || lba + count == dev->geo.sector_count));
	(void)dev;
	(void)lba;
	(void)count;
}

int pkt_blockdev_write_packets(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, const void *buf)
{
	assert_packet_write(dev, lba, count);
	return pkt_blockdev_write(dev, lba, count, buf);
}

bool pkt_blockdev_has_writev(const struct pkt_blockdev *dev)
{
	return dev->ops->writev != NULL;
}

int pkt_blockdev_writev_packets(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, struct iovec *iov, int nbufs)
{
	assert_packet_write(dev, lba, count);
	int rc = pkt_blockdev_check_range(&dev->geo, lba, count);

	if (rc)
		return rc;
	if (!dev->geo.writable)
		return -EROFS;
	if (!dev->ops->writev)
		return -EOPNOTSUPP;
	return dev->ops->writev(dev, lba, count, iov, nbufs);
}

int pkt_blockdev_sync(struct pkt_blockdev *dev)
{
	return dev->ops->sync(dev);
}

void pkt_blockdev_hold(struct pkt_blockdev *dev, bool dirty)
{
	if (dev->ops->hold)
		dev->ops->hold(dev, dirty);
}

size_t pkt_blockdev_describe(struct pkt_blockdev *dev, char *buf, size_t len)
{
	return dev->ops->describe ? dev->ops->describe(dev, buf, len) : 0;
}

int pkt_blockdev_append_state(struct pkt_blockdev *dev, struct pkt_append_state *out)
{
	if (!dev->geo.append_only || !dev->ops->append_state)
		return -EOPNOTSUPP;
	return dev->ops->append_state(dev, out);
}

int pkt_blockdev_close_session(struct pkt_blockdev *dev, enum pkt_close_kind kind)
{
	if (!dev->geo.append_only || !dev->ops->close_session)
		return -EOPNOTSUPP;
	return dev->ops->close_session(dev, kind);
}

uint64_t pkt_geometry_append_lba(const struct pkt_geometry *geo, uint64_t start, uint64_t k)
{
	uint64_t ps = geo->packet_sectors;

	if (geo->link_sectors == 0 || ps == 0)
		return start + k;
	return start + (k / ps) * (ps + geo->link_sectors) + k % ps;
}
