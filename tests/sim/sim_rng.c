#include "sim_rng.h"

/* splitmix64 (Steele, Lea, Flood 2014): spreads a small seed over 256 bits. */
static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
sim_rng_init(struct sim_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

/* xoshiro256** 1.0, reference implementation at prng.di.unimi.it. */
uint64_t
sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t
sim_rng_below(struct sim_rng *r, uint64_t n)
{
	uint64_t x, lim;

	if (n == 0)
		return 0;
	lim = UINT64_MAX - UINT64_MAX % n; /* values >= lim would bias low residues */
	do
		x = sim_rng_next(r);
	while (x >= lim);
	return x % n;
}

int64_t
sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)sim_rng_below(r, (uint64_t)(hi - lo) + 1);
}

int
sim_rng_chance(struct sim_rng *r, unsigned pct)
{
	return sim_rng_below(r, 100) < pct;
}
