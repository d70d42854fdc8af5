/*
 * gradcheck — the finite-difference harness shared by the gradient checks.
 *
 * Built only with real = double: each check compares an analytic gradient
 * with central differences (h = 1e-5) and requires the relative error
 * ||analytic - numeric|| / max(||analytic||, ||numeric||) to stay below
 * 1e-6. Big tensors are probed at a deterministic stride.
 */
#ifndef ADA_TESTS_GRADCHECK_H
#define ADA_TESTS_GRADCHECK_H

#include <math.h>
#include <stdlib.h>

#include "nn/real.h"
#include "util/rng.h"

#ifndef ADA_REAL_DOUBLE
#error "gradient checks must be built with real = double"
#endif

#define TOL 1e-6
#define FD_H 1e-5

static struct rng rng;

/* n values ~ mean + N(0, scale^2), owned by the caller. */
static inline real *rnd_mean(size_t n, double mean, double scale)
{
	real *p = calloc(n ? n : 1, sizeof(real));
	for (size_t i = 0; i < n; i++)
		p[i] = mean + rng_normal(&rng) * scale;
	return p;
}

static inline real *rnd(size_t n, double scale)
{
	return rnd_mean(n, 0, scale);
}

static inline real *zeros(size_t n)
{
	return calloc(n ? n : 1, sizeof(real));
}

static inline double dot(const real *a, const real *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* A scalar loss of the current parameters; the checks perturb them in place. */
typedef double (*loss_fn)(void *ctx);

/* Relative error of grad against central differences of f over param[0..n)
 * (at most max_elems probes); the two norms are reported when asked. */
static inline double fd_compare(loss_fn f, void *ctx, real *param, const real *grad, size_t n,
				size_t max_elems, double *num_norm, double *ana_norm)
{
	double num2 = 0, ana2 = 0, diff2 = 0;
	size_t stride = n > max_elems ? n / max_elems : 1;

	for (size_t i = 0; i < n; i += stride) {
		real save = param[i];
		param[i] = save + FD_H;
		double fp = f(ctx);
		param[i] = save - FD_H;
		double fm = f(ctx);
		param[i] = save;
		double num = (fp - fm) / (2 * FD_H);
		num2 += num * num;
		ana2 += grad[i] * grad[i];
		diff2 += (num - grad[i]) * (num - grad[i]);
	}
	double denom = sqrt(num2 > ana2 ? num2 : ana2);
	if (num_norm)
		*num_norm = sqrt(num2);
	if (ana_norm)
		*ana_norm = sqrt(ana2);
	return denom > 0 ? sqrt(diff2) / denom : sqrt(diff2);
}

static inline double fd_rel_error(loss_fn f, void *ctx, real *param, const real *grad, size_t n,
				  size_t max_elems)
{
	return fd_compare(f, ctx, param, grad, n, max_elems, NULL, NULL);
}

#endif
