/*
 * tests/sim/sim_rng.h: the simulator's one source of randomness.
 *
 * xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, so a run
 * is a pure function of its seed on every platform and libc: rand() is never
 * used. Plain object in caller storage; no allocation, no I/O, one thread.
 */
#ifndef CS_SIM_RNG_H
#define CS_SIM_RNG_H

#include <stdint.h>

struct sim_rng {
	uint64_t s[4];
};

/* Seed the generator (any seed, 0 included, gives a valid state). */
void sim_rng_init(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, n); n == 0 gives 0. Unbiased (rejection). */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t n);
/* Uniform in [lo, hi] (inclusive). */
int64_t sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi);
/* 1 with probability pct/100. */
int sim_rng_chance(struct sim_rng *r, unsigned pct);

#endif
