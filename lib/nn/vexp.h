/*
 * vexp — an exp() the compiler can vectorise.
 *
 * Softmax over a 32000-word vocabulary and over attention rows is mostly
 * exp(); glibc's expf is a call the vectoriser cannot inline (its SIMD
 * variants are only declared under -ffast-math). This is the classic
 * Cody-Waite range reduction plus a degree-6 polynomial: within 2 ulp of
 * expf on [-87, 88], branch-free, deterministic. The double build (gradient
 * checks) uses libm's exp for exactness.
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
	float n, r, p;
	int32_t e;
	uint32_t bits;

	x = x < -87.0f ? -87.0f : x;          /* below: the result underflows to ~0 */
	x = x > 88.0f ? 88.0f : x;
	n = __builtin_rintf(x * log2e);      /* nearest-even: the default mode */
	r = x - n * ln2_hi;
	r = r - n * ln2_lo;
	p = 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	e = (int32_t)n + 127;
	bits = (uint32_t)e << 23;
	float scale;
	memcpy(&scale, &bits, sizeof(scale));
	return p * scale;
}
#endif

#endif
