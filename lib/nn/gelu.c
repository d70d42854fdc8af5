/*
 * gelu — exact GELU over a vectorisable normal CDF; see gelu.h.
 *
 * Phi(x) = 1 - erfc(z) / 2 for x >= 0 and erfc(z) / 2 for x < 0, z = |x|/sqrt 2,
 * with
 *     erfc(z) = t exp(-z^2 + G(u)),  t = 1 / (1 + z/2),
 *     u = (1 - 0.7 z) / (1 + z/2)  (= 2.4 t - 1.4, mapping t in [1/6, 1] to [-1, 1])
 * and G a degree-11 polynomial: a Chebyshev fit (mpmath.chebyfit, 40
 * digits) of log(erfc(z) / t) + z^2 on z in [0, 10], max error 2.7e-9.
 * G is smooth and small because the exp(-z^2) decay is taken out exactly:
 * z^2 = x^2 / 2 is split as hi + lo with hi the square of x's top 12 bits
 * (exact in float), so the large part of the exponent carries no rounding.
 * (A Veltkamp split would be undone by the fp-contraction gnu11 enables;
 * masking bits is immune to it.)
 */
#include "nn/gelu.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nn/parallel.h"
#include "nn/vexp.h"

#ifdef ADA_REAL_DOUBLE
static inline real norm_cdf(real x)
{
	return 0.5 * erfc(-x * 0.70710678118654752440);
}

static inline real norm_pdf(real x)
{
	return 0.39894228040143267794 * exp(-0.5 * x * x);
}
#else
static const float erfc_g[12] = {
	-4.6191785923581271e-6f, -2.2804960156655092e-5f, 6.7558493756762247e-5f,
	1.2974093790604874e-4f, -5.4701317200923787e-4f, -2.7584950916913096e-4f,
	3.713026486709018e-3f, -1.0455918422728531e-3f, -2.947132709314119e-2f,
	1.5745079095756093e-2f, 5.7030715243113092e-1f, -5.5859535382905633e-1f,
};

static inline float norm_cdf(float x)
{
	const float ax = fabsf(x);
	float z = ax * 0.70710678118654752f, t, u, g, xc, xh, xl, hi, lo, e;
	uint32_t bits;

	z = z < 10.0f ? z : 10.0f;
	t = 1.0f / (1.0f + 0.5f * z);
	u = (1.0f - 0.7f * z) / (1.0f + 0.5f * z);
	g = erfc_g[0];
	for (int i = 1; i < 12; i++)
		g = g * u + erfc_g[i];
	/* x^2 = hi + lo, hi exact; clamped so exp(-hi / 2) stays in vexp's range */
	xc = ax < 13.0f ? ax : 13.0f;
	memcpy(&bits, &xc, sizeof(bits));
	bits &= 0xfffff000u;
	memcpy(&xh, &bits, sizeof(xh));
	xl = xc - xh;
	hi = xh * xh;
	lo = (2.0f * xh + xl) * xl;
	e = t * vexp(-0.5f * hi) * vexp(g - 0.5f * lo);
	e = x < 0 ? 0.5f * e : 1.0f - 0.5f * e;
	return x < -13.0f ? 0.0f : e;
}

static inline float norm_pdf(float x)
{
	/* Only the gradient uses it: one rounding of x^2 costs at most
	 * x^2 * 6e-8 relative, below 1e-5 where the term still matters. */
	float p = 0.39894228040143267f * vexp(-0.5f * x * x);
	return fabsf(x) > 13.0f ? 0.0f : p;
}
#endif

struct gelu_args {
	real *out;
	const real *x, *dout;
};

static void gelu_fwd_piece(void *arg, long lo, long hi, int thread)
{
	const struct gelu_args *a = arg;
	real *restrict out = a->out;
	const real *restrict x = a->x;

	(void)thread;
	#pragma omp simd
	for (long i = lo; i < hi; i++)
		out[i] = x[i] * norm_cdf(x[i]);
}

void gelu_forward(real *out, const real *x, long n)
{
	struct gelu_args a = { out, x, NULL };

	pool_for(n, NN_GRAIN_ELEMS, gelu_fwd_piece, &a);
}

static void gelu_bwd_piece(void *arg, long lo, long hi, int thread)
{
	const struct gelu_args *a = arg;
	real *restrict dx = a->out;
	const real *restrict x = a->x, *restrict dout = a->dout;

	(void)thread;
	#pragma omp simd
	for (long i = lo; i < hi; i++)
		dx[i] = dout[i] * (norm_cdf(x[i]) + x[i] * norm_pdf(x[i]));
}

void gelu_backward(real *dx, const real *dout, const real *x, long n)
{
	struct gelu_args a = { dx, x, dout };

	pool_for(n, NN_GRAIN_ELEMS, gelu_bwd_piece, &a);
}
