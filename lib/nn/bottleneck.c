/* bottleneck — Houlsby adapter h + up(act(down(h))); see bottleneck.h. */
#include "nn/bottleneck.h"

#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "nn/blas.h"
#include "nn/gelu.h"
#include "nn/ops.h"
#include "nn/parallel.h"
#include "nn/vexp.h"

static int reserve(struct bottleneck *bn, int N)
{
	const int need_h = bn->dw_down != NULL;
	real *h_in = NULL, *a, *z, *dz;

	if (N <= bn->cap_n && (!need_h || bn->h_in))
		return ADA_OK;
	N = N > bn->cap_n ? N : bn->cap_n;
	if (need_h)
		h_in = xalloc_aligned((size_t)N * (size_t)bn->dim, sizeof(real));
	a = xalloc_aligned((size_t)N * (size_t)bn->size, sizeof(real));
	z = xalloc_aligned((size_t)N * (size_t)bn->size, sizeof(real));
	dz = xalloc_aligned((size_t)N * (size_t)bn->size, sizeof(real));
	if ((need_h && !h_in) || !a || !z || !dz) {
		free(h_in);
		free(a);
		free(z);
		free(dz);
		return ADA_ENOMEM;
	}
	free(bn->h_in);
	free(bn->a);
	free(bn->z);
	free(bn->dz);
	bn->h_in = h_in;
	bn->a = a;
	bn->z = z;
	bn->dz = dz;
	bn->cap_n = N;
	return ADA_OK;
}

struct bottleneck *bottleneck_new(int dim, int size, enum bottleneck_act act)
{
	struct bottleneck *bn = calloc(1, sizeof(*bn));

	if (!bn)
		return NULL;
	bn->dim = dim;
	bn->size = size;
	bn->act = act;
	return bn;
}

void bottleneck_free(struct bottleneck *bn)
{
	if (!bn)
		return;
	free(bn->h_in);
	free(bn->a);
	free(bn->z);
	free(bn->dz);
	free(bn);
}

struct act_args {
	enum bottleneck_act act;
	real *out;
	const real *a, *dz;
};

static void act_fwd_piece(void *arg, long lo, long hi, int thread)
{
	const struct act_args *p = arg;
	real *restrict z = p->out;
	const real *restrict a = p->a;

	(void)thread;
	if (p->act == BOTTLENECK_RELU) {
		#pragma omp simd
		for (long i = lo; i < hi; i++)
			z[i] = a[i] > 0 ? a[i] : 0;
	} else {
		#pragma omp simd
		for (long i = lo; i < hi; i++)
			z[i] = a[i] / (1 + vexp(-a[i]));
	}
}

static void act_forward(enum bottleneck_act act, real *z, const real *a, long n)
{
	struct act_args p = { act, z, a, NULL };

	if (act == BOTTLENECK_GELU)
		gelu_forward(z, a, n);
	else
		pool_for(n, NN_GRAIN_ELEMS, act_fwd_piece, &p);
}

static void act_bwd_piece(void *arg, long lo, long hi, int thread)
{
	const struct act_args *p = arg;
	real *restrict da = p->out;
	const real *restrict a = p->a, *restrict dz = p->dz;

	(void)thread;
	if (p->act == BOTTLENECK_RELU) {
		#pragma omp simd
		for (long i = lo; i < hi; i++)
			da[i] = a[i] > 0 ? dz[i] : 0;
	} else {
		#pragma omp simd
		for (long i = lo; i < hi; i++) {
			real sig = 1 / (1 + vexp(-a[i]));
			da[i] = dz[i] * sig * (1 + a[i] * (1 - sig));
		}
	}
}

/* da = dz * act'(a) (overwrites da). */
static void act_backward(enum bottleneck_act act, real *da, const real *dz, const real *a, long n)
{
	struct act_args p = { act, da, a, dz };

	if (act == BOTTLENECK_GELU)
		gelu_backward(da, dz, a, n);
	else
		pool_for(n, NN_GRAIN_ELEMS, act_bwd_piece, &p);
}

int bottleneck_forward(struct bottleneck *bn, real *h, int N)
{
	const int D = bn->dim, S = bn->size;

	if (reserve(bn, N))
		return ADA_ENOMEM;
	if (bn->dw_down)
		memcpy(bn->h_in, h, sizeof(real) * (size_t)N * D);
	gemm(0, 1, N, S, D, 1, h, D, bn->w_down, D, 0, bn->a, S);
	if (bn->b_down)
		bias_forward(bn->a, bn->b_down, N, S);
	act_forward(bn->act, bn->z, bn->a, (long)N * S);
	gemm(0, 1, N, D, S, 1, bn->z, S, bn->w_up, S, 1, h, D);
	if (bn->b_up)
		bias_forward(h, bn->b_up, N, D);
	return ADA_OK;
}

void bottleneck_backward(struct bottleneck *bn, real *dh, int N)
{
	const int D = bn->dim, S = bn->size;
	real *da = bn->z;   /* z is dead once up's weight gradient is taken */

	/* dz = dh W_up;  dW_up += dh^T z;  db_up += colsum(dh) */
	gemm(0, 0, N, S, D, 1, dh, D, bn->w_up, S, 0, bn->dz, S);
	if (bn->dw_up)
		gemm(1, 0, D, S, N, 1, dh, D, bn->z, S, 1, bn->dw_up, S);
	bias_backward(bn->db_up, dh, N, D);
	act_backward(bn->act, da, bn->dz, bn->a, (long)N * S);
	/* dW_down += da^T h;  db_down += colsum(da);  dh += da W_down (the
	 * identity path is the dh already there) */
	if (bn->dw_down)
		gemm(1, 0, S, D, N, 1, da, S, bn->h_in, D, 1, bn->dw_down, D);
	bias_backward(bn->db_down, da, N, S);
	gemm(0, 0, N, D, S, 1, da, S, bn->w_down, D, 1, dh, D);
}
