/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "blockdev.h"

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
