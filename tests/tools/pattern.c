/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pattern SEED BYTES: writes a deterministic pseudo-random byte stream (test data generator). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: pattern SEED BYTES\n");
		return 2;
	}
	uint64_t s = 0;
	for (const char *p = argv[1]; *p; p++)
		s = s * 131 + (unsigned char)*p;
	unsigned long long left = strtoull(argv[2], NULL, 10);
	static uint64_t buf[8192];
	while (left) {
		for (size_t i = 0; i < 8192; i++) {
			uint64_t z = (s += 0x9E3779B97F4A7C15ull);
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
			z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
			buf[i] = z ^ (z >> 31);
		}
		size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		if (fwrite(buf, 1, n, stdout) != n)
			return 1;
		left -= n;
	}
	return 0;
}
