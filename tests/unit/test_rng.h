/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The unit tests' random numbers: splitmix64, deterministic per seed, good enough to drive the
 * workloads. */
#ifndef PKTFUSE_TEST_RNG_H
#define PKTFUSE_TEST_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

#endif
