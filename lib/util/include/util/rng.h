/*
 * rng — deterministic random numbers.
 *
 * Runs must reproduce bit for bit from a seed, and a resumed run must draw
 * exactly what the uninterrupted run would have drawn. Two tools serve that:
 * a small sequential generator (xoshiro256**) whose whole state is four words
 * that a checkpoint stores, and a stateless counter hash for per-element
 * randomness (dropout masks) that depends only on (seed, stream, index) and
 * so needs no state at all.
 */
#ifndef ADA_UTIL_RNG_H
#define ADA_UTIL_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_u64(struct rng *r);
/* Uniform in [0, n), unbiased; n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(struct rng *r);
/* Standard normal (Box-Muller, no cached spare so the state stays 4 words). */
double rng_normal(struct rng *r);

/* Stateless: a well-mixed 64-bit value of (key, counter). */
uint64_t rng_hash(uint64_t key, uint64_t counter);
/* Stateless uniform in [0, 1) from (key, counter). */
static inline double rng_hash_uniform(uint64_t key, uint64_t counter)
{
	return (double)(rng_hash(key, counter) >> 11) * 0x1.0p-53;
}

#endif
