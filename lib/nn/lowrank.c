/* lowrank — LoRA / AdaLoRA update y += scale ((x Q^T) * g) P^T; see lowrank.h. */
#include "nn/lowrank.h"

#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "util/rng.h"
#include "nn/blas.h"
#include "nn/parallel.h"

#define LOWRANK(ad) ((struct lowrank *)(ad))

static int reserve(struct lowrank *lr, int N)
{
	real *xq, *t, *xd = NULL;

	if (N <= lr->cap_n)
		return ADA_OK;
	xq = xalloc_aligned((size_t)N * (size_t)lr->r, sizeof(real));
	t = xalloc_aligned((size_t)N * (size_t)lr->r, sizeof(real));
	if (lr->dropout > 0)
		xd = xalloc_aligned((size_t)N * (size_t)lr->base.in, sizeof(real));
	if (!xq || !t || (lr->dropout > 0 && !xd)) {
		free(xq);
		free(t);
		free(xd);
		return ADA_ENOMEM;
	}
	free(lr->xq);
	free(lr->t);
	free(lr->xd);
	lr->xq = xq;
	lr->t = t;
	lr->xd = xd;
	lr->cap_n = N;
	return ADA_OK;
}

/* The dropout stream of this adapter at this micro-step. */
static uint64_t dropout_key(const struct lowrank *lr, const struct nn_step *st)
{
	return rng_hash(st->seed ^ 0x6c6f72615f64726fULL,
			((uint64_t)st->step << 20) ^ ((uint64_t)st->micro << 12) ^
			(uint64_t)lr->base.id);
}

static int use_dropout(const struct lowrank *lr, const struct nn_step *st)
{
	return lr->dropout > 0 && st && st->training;
}

/* The dropout mask of element i is a hash of (key, i): the same wherever
 * and whenever it is computed. */
struct dropout_args {
	real *out;
	const real *in;
	uint64_t key;
	real p, keep_scale;
};

/* out = dropout(in) */
static void dropout_fwd_piece(void *arg, long lo, long hi, int thread)
{
	const struct dropout_args *a = arg;

	(void)thread;
	for (long i = lo; i < hi; i++)
		a->out[i] = rng_hash_uniform(a->key, (uint64_t)i) < a->p ? 0 : a->in[i] * a->keep_scale;
}

/* out += the kept elements of in, scaled */
static void dropout_bwd_piece(void *arg, long lo, long hi, int thread)
{
	const struct dropout_args *a = arg;

	(void)thread;
	for (long i = lo; i < hi; i++)
		if (rng_hash_uniform(a->key, (uint64_t)i) >= a->p)
			a->out[i] += a->in[i] * a->keep_scale;
}

static int lowrank_forward(struct adapter *ad, const real *x, int N, real *y,
			   const struct nn_step *st)
{
	struct lowrank *lr = LOWRANK(ad);
	const int r = lr->r, in = ad->in;
	const real *xin = x;

	if (r == 0)
		return ADA_OK;
	if (reserve(lr, N))
		return ADA_ENOMEM;
	if (use_dropout(lr, st)) {
		struct dropout_args a = { lr->xd, x, dropout_key(lr, st), lr->dropout,
					  1 / (1 - lr->dropout) };
		pool_for((long)N * in, NN_GRAIN_ELEMS, dropout_fwd_piece, &a);
		xin = lr->xd;
	}
	gemm(0, 1, N, r, in, 1, xin, in, lr->Q, in, 0, lr->xq, r);
	for (long n = 0; n < N; n++)
		for (int i = 0; i < r; i++)
			lr->t[n * r + i] = lr->xq[n * r + i] * lr->g[i] * lr->scale;
	gemm(0, 1, N, ad->out, r, 1, lr->t, r, lr->P, r, 1, y, ad->out);
	return ADA_OK;
}

static void lowrank_backward(struct adapter *ad, const real *x, const real *dy, int N,
			     real *dx, const struct nn_step *st)
{
	struct lowrank *lr = LOWRANK(ad);
	const int r = lr->r, in = ad->in, out = ad->out;
	const int dropped = use_dropout(lr, st);
	const real *xin = dropped ? lr->xd : x;

	if (r == 0)
		return;
	/* dP += dy^T t, with t = scale * xq * g still holding the forward value. */
	if (lr->dP)
		gemm(1, 0, out, r, N, 1, dy, out, lr->t, r, 1, lr->dP, r);
	/* t <- d(scale * xq * g) = scale * dy P */
	gemm(0, 0, N, r, out, lr->scale, dy, out, lr->P, r, 0, lr->t, r);
	if (lr->dg)
		for (int i = 0; i < r; i++) {
			real s = 0;
			for (long n = 0; n < N; n++)
				s += lr->t[n * r + i] * lr->xq[n * r + i];
			lr->dg[i] += s;
		}
	/* t <- dL/dxq = t * g */
	for (long n = 0; n < N; n++)
		for (int i = 0; i < r; i++)
			lr->t[n * r + i] *= lr->g[i];
	if (lr->dQ)
		gemm(1, 0, r, in, N, 1, lr->t, r, xin, in, 1, lr->dQ, in);
	if (!dx)
		return;
	if (!dropped) {
		gemm(0, 0, N, in, r, 1, lr->t, r, lr->Q, in, 1, dx, in);
		return;
	}
	/* Through the dropout: reuse xd (no longer needed) for t Q, then mask. */
	gemm(0, 0, N, in, r, 1, lr->t, r, lr->Q, in, 0, lr->xd, in);
	{
		struct dropout_args a = { dx, lr->xd, dropout_key(lr, st), lr->dropout,
					  1 / (1 - lr->dropout) };
		pool_for((long)N * in, NN_GRAIN_ELEMS, dropout_bwd_piece, &a);
	}
}

static void lowrank_free(struct adapter *ad)
{
	struct lowrank *lr = LOWRANK(ad);

	free(lr->xq);
	free(lr->t);
	free(lr->xd);
	free(lr);
}

static const struct adapter_ops lowrank_ops = {
	.kind = "lowrank",
	.forward = lowrank_forward,
	.backward = lowrank_backward,
	.free = lowrank_free,
};

struct lowrank *lowrank_new(int in, int out, int r, real scale, real dropout, int id)
{
	struct lowrank *lr = calloc(1, sizeof(*lr));

	if (!lr)
		return NULL;
	lr->base.ops = &lowrank_ops;
	lr->base.in = in;
	lr->base.out = out;
	lr->base.id = id;
	lr->r = r;
	lr->scale = scale;
	lr->dropout = dropout;
	return lr;
}

/* Repack a row-major [rows][r] matrix to its kept columns. */
static void compact_cols(real *m, int rows, int r, const uint8_t *keep, int k)
{
	for (int row = 0; row < rows; row++) {
		int c = 0;
		for (int i = 0; i < r; i++)
			if (keep[i])
				m[(long)row * k + c++] = m[(long)row * r + i];
	}
}

/* Repack a row-major [r][cols] matrix to its kept rows. */
static void compact_rows(real *m, int r, int cols, const uint8_t *keep)
{
	int c = 0;

	for (int i = 0; i < r; i++)
		if (keep[i]) {
			if (c != i)
				memmove(m + (long)c * cols, m + (long)i * cols, sizeof(real) * (size_t)cols);
			c++;
		}
}

int lowrank_compact(struct lowrank *lr, const uint8_t *keep)
{
	const int r = lr->r;
	int k = 0;

	for (int i = 0; i < r; i++)
		k += keep[i] != 0;
	/* Forward order of rows in P matters: compacting in place from the front
	 * never overwrites an element not yet moved, since k <= r. */
	compact_cols(lr->P, lr->base.out, r, keep, k);
	lr->Pt = NULL;   /* a kept transpose is of the old rank */
	compact_rows(lr->Q, r, lr->base.in, keep);
	compact_rows(lr->g, r, 1, keep);
	if (lr->dP)
		compact_cols(lr->dP, lr->base.out, r, keep, k);
	if (lr->dQ)
		compact_rows(lr->dQ, r, lr->base.in, keep);
	if (lr->dg)
		compact_rows(lr->dg, r, 1, keep);
	lr->r = k;
	return k;
}
