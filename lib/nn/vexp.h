/*
 * vexp — an exp() the compiler can vectorise.
 *
 * Softmax over a 32000-word vocabulary and over attention rows is mostly
 * exp(); glibc's expf is a call the vectoriser cannot inline (its SIMD
 * variants are only declared under -ffast-math). This is the classic
 * Cody-Waite range reduction plus a degree-6 polynomial: within 3 ulp of
 * expf on [-87, 88], branch-free, deterministic. The double build (gradient
 * checks) uses libm's exp for exactness.
 *
 * Every input gives a defined result, NaN and +-Inf included (a diverging
 * step, or a corrupt input, brings them): NaN gives NaN, below about -87.7
 * the result is 0 (expf's results there are subnormal, which training
 * flushes to zero anyway), and from about 88.38 on it is +Inf (expf
 * overflows from 88.72; the exponent 2^128 that the reduction reaches
 * there is +Inf). No float is converted to an integer: n goes into the
 * exponent bits through the 1.5 * 2^23 rounding constant, so a NaN n gives
 * garbage bits instead of the undefined behaviour of (int32_t)NaN.
 *
 * The clamps are selects, not branches, but gcc 12 if-converts a float
 * comparison only under -fno-trapping-math (it could raise "invalid" on a
 * NaN), which the build does not set: loops over vexp compile to scalar
 * code (vroundss), as they did before NaN was handled; with the flag they
 * vectorise, about 7x faster. Vectorising them changes how softmax sums
 * are grouped with the padding of a sequence, so the trainer's and the
 * evaluator's numbers would then agree to rounding, not bit for bit.
 */
#ifndef ADA_NN_VEXP_H
#define ADA_NN_VEXP_H

#include <stdint.h>
#include <string.h>

#include "nn/real.h"

#ifdef ADA_REAL_DOUBLE
static inline real vexp(real x)
{
	return exp(x);
}
#else
static inline float vexp(float x)
{
	const float log2e = 1.44269504088896341f;
	const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
	float n, r, p, scale;
	uint32_t bits;

	/* NaN passes both clamps (every comparison with it is false) */
	x = x < -88.0f ? -88.0f : x;          /* n >= -127: exponent field >= 0 */
	x = x > 89.0f ? 89.0f : x;            /* n <= 128: at most the +Inf pattern */
	n = __builtin_rintf(x * log2e);      /* nearest-even: the default mode */
	r = x - n * ln2_hi;
	r = r - n * ln2_lo;
	p = 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	/* n + 1.5 * 2^23 is exact and holds n in its low mantissa bits; the
	 * exponent field n + 127 is 0 (scale 0: the result is 0) to 255 (+Inf). */
	n = n + 12582912.0f;
	memcpy(&bits, &n, sizeof(bits));
	bits = (bits - 0x4b400000u + 127u) << 23;
	memcpy(&scale, &bits, sizeof(scale));
	return p * scale;
}
#endif

#endif
