/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per-packet write counts kept across mounts (wear.h). */
#define _GNU_SOURCE
#include "wear.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEAR_MAGIC "pktfuse-wear 1"

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

int pktfuse_state_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg && *xdg == '/')
		n = snprintf(buf, len, "%s/pktfuse", xdg);
	else if (home && *home == '/')
		n = snprintf(buf, len, "%s/.local/state/pktfuse", home);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	/* each missing level made 0700, as the XDG base directory spec asks */
	for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		int rc = make_dir(buf);
		*s = '/';
		if (rc < 0)
			return rc;
	}
	return make_dir(buf);
}

/* Rated direct-overwrite cycles per packet.  CD-RW and DVD±RW: about 1,000 (the figure the Orange Book
 * part III era drives and the UDF packet-writing literature give, and what issue 13 saw: the
 * emulator's profiles wear out at it); DVD-RAM: 100,000 (ECMA-330's rating); BD-RE: 10,000 (the
 * figure commonly given for phase-change BD). */
uint64_t pktfuse_wear_rating(const char *medium)
{
	if (!medium)
		return 0;
	if (!strncmp(medium, "CD-RW", 5) || !strncmp(medium, "DVD-RW", 6) || !strncmp(medium, "DVD+RW", 6))
		return 1000;
	if (!strncmp(medium, "DVD-RAM", 7))
		return 100000;
	if (!strncmp(medium, "BD-RE", 5))
		return 10000;
	return 0;
}

/* A rating is a typical figure, not a guarantee (phase-change media vary by maker and batch, and the
 * record misses writes made elsewhere): a tenth of margin moves a packet while it still writes
 * reliably, and costs at most a tenth of its life. */
uint64_t pktfuse_wear_early_limit(uint64_t rated)
{
	return rated - rated / 10;
}

void pktfuse_wear_arm(const struct pktfuse_wear *w, struct pkt_cache *c)
{
	pkt_cache_set_wear_limit(c, pktfuse_wear_early_limit(w->rated), w->past, w->n);
}

static int hotter_first(const void *a, const void *b)
{
	const struct pkt_packet_wear *x = a, *y = b;

	if (x->writes != y->writes)
		return x->writes < y->writes ? 1 : -1;
	return x->packet < y->packet ? -1 : x->packet > y->packet;
}

static int by_packet(const void *a, const void *b)
{
	const struct pkt_packet_wear *x = a, *y = b;

	return x->packet < y->packet ? -1 : x->packet > y->packet;
}

/* Reads the record; false for a file that is not one of this disc (the reason in why). */
static bool load(struct pktfuse_wear *w, FILE *f, char *why, size_t whylen)
{
	char line[512], vsi[300];
	unsigned ps;

	if (!fgets(line, sizeof(line), f) || strcmp(line, WEAR_MAGIC "\n"))
		return snprintf(why, whylen, "not a wear record"), false;
	if (!fgets(line, sizeof(line), f) || sscanf(line, "volume_set_ident %299s", vsi) != 1 ||
	    strcmp(vsi, w->vsi_hex))
		return snprintf(why, whylen, "the record of another disc"), false;
	if (!fgets(line, sizeof(line), f) || sscanf(line, "packet_sectors %u", &ps) != 1 || ps != w->packet_sectors)
		return snprintf(why, whylen, "counts of other packets"), false;
	while (fgets(line, sizeof(line), f)) {
		struct pkt_packet_wear p;
		if (sscanf(line, "packet %" SCNu64 " %" SCNu64, &p.packet, &p.writes) != 2 || w->n == PKT_WEAR_TRACKED)
			return snprintf(why, whylen, "corrupt line %zu", w->n + 4), false;
		w->past[w->n++] = p;
	}
	qsort(w->past, w->n, sizeof(w->past[0]), hotter_first);
	return true;
}

struct pktfuse_wear *pktfuse_wear_open(const uint8_t vsi[128], uint32_t packet_sectors, const char *medium)
{
	struct pktfuse_wear *w = calloc(1, sizeof(*w));
	char dir[4000], why[128];

	if (!w)
		return NULL;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (unsigned i = 0; i < 128; i++) {
		h = (h ^ vsi[i]) * 0x100000001b3ull;
		snprintf(w->vsi_hex + 2 * i, 3, "%02x", vsi[i]);
	}
	snprintf(w->key, sizeof(w->key), "%016" PRIx64, h);
	w->packet_sectors = packet_sectors;
	w->rated = pktfuse_wear_rating(medium);
	int rc = pktfuse_state_dir(dir, sizeof(dir));
	if (rc < 0) {
		pktfuse_log(LOG_NOTICE, "wear counts: no state directory (%s): not kept across mounts", strerror(-rc));
		return w;
	}
	snprintf(w->path, sizeof(w->path), "%s/wear-%s", dir, w->key);
	FILE *f = fopen(w->path, "re");
	if (!f) {
		if (errno != ENOENT)
			pktfuse_log(LOG_WARNING, "wear counts: %s: %s: starting afresh", w->path, strerror(errno));
		return w;
	}
	if (!load(w, f, why, sizeof(why))) {
		pktfuse_log(LOG_WARNING, "wear counts: %s ignored (%s): starting afresh", w->path, why);
		w->n = 0;
	}
	fclose(f);
	return w;
}

size_t pktfuse_wear_total(const struct pktfuse_wear *w, struct pkt_cache *c, struct pkt_packet_wear *out, size_t max)
{
	struct pkt_packet_wear *all = malloc(2 * PKT_WEAR_TRACKED * sizeof(*all));
	size_t n = 0, k = 0;

	if (!all)
		return 0;
	memcpy(all, w->past, w->n * sizeof(*all));
	n = w->n + pkt_cache_hot_packets(c, all + w->n, PKT_WEAR_TRACKED);
	qsort(all, n, sizeof(*all), by_packet);
	for (size_t i = 0; i < n; i++) /* one entry per packet, the counts added */
		if (k && all[k - 1].packet == all[i].packet)
			all[k - 1].writes += all[i].writes;
		else
			all[k++] = all[i];
	qsort(all, k, sizeof(*all), hotter_first);
	k = k < max ? k : max;
	memcpy(out, all, k * sizeof(*out));
	free(all);
	return k;
}

static int write_record(const struct pktfuse_wear *w, const struct pkt_packet_wear *p, size_t n)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", w->path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	fprintf(f, WEAR_MAGIC "\nvolume_set_ident %s\npacket_sectors %u\n", w->vsi_hex, w->packet_sectors);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "packet %" PRIu64 " %" PRIu64 "\n", p[i].packet, p[i].writes);
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	int e = errno;
	if (fclose(f) != 0 || !ok || rename(tmp, w->path) != 0) {
		e = ok ? errno : e;
		unlink(tmp);
		return -(e ? e : EIO);
	}
	return 0;
}

int pktfuse_wear_save(struct pktfuse_wear *w, struct pkt_cache *c)
{
	if (!w->path[0])
		return 0;
	struct pkt_packet_wear *p = malloc(PKT_WEAR_TRACKED * sizeof(*p));
	if (!p)
		return -ENOMEM;
	size_t n = pktfuse_wear_total(w, c, p, PKT_WEAR_TRACKED);
	int rc = n > w->n || memcmp(p, w->past, n * sizeof(*p)) ? write_record(w, p, n) : 0;
	if (rc < 0)
		pktfuse_log(LOG_WARNING, "wear counts: could not write %s: %s", w->path, strerror(-rc));
	free(p);
	return rc;
}

size_t pktfuse_wear_render(const struct pktfuse_wear *w, struct pkt_cache *c, char *buf, size_t len)
{
	struct pkt_packet_wear hot[8];
	size_t n = pktfuse_wear_total(w, c, hot, 8), used = 0;
	uint64_t most = n ? hot[0].writes : 0;

#define PUT(...)                                                                       \
	do {                                                                           \
		int m_ = snprintf(buf + used, len - used, __VA_ARGS__);                \
		if (m_ > 0)                                                            \
			used += (size_t)m_ < len - used ? (size_t)m_ : len - used - 1; \
	} while (0)
	if (len == 0)
		return 0;
	PUT("wear_record: %s\nwear_rated_overwrites: %" PRIu64 "\nwear_max_packet_writes: %" PRIu64 "\n",
	    w->path[0] ? w->path : "-", w->rated, most);
	if (w->rated)
		PUT("wear_life_left_percent: %" PRIu64 "\n",
		    most >= w->rated ? 0 : 100 - (most * 100 + w->rated - 1) / w->rated);
	else
		PUT("wear_life_left_percent: -\n");
	PUT("wear_hot_packets:");
	for (size_t i = 0; i < n; i++)
		PUT(" %" PRIu64 "=%" PRIu64, hot[i].packet, hot[i].writes);
	PUT("%s\n", n ? "" : " -");
#undef PUT
	return used;
}
