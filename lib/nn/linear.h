/*
 * linear — y = x W^T + b with an optional adapter, forward and backward.
 *
 * W is [out][in] row-major and borrowed: `real` values (an f32 base weight
 * in a file mapping, or a trained copy in the parameter arena), or, when w
 * is NULL, a frozen base weight in its file's type (fw, multiplied through
 * nn/frozen.h; never trained). dW and db are NULL
 * when the weight is frozen: backward then computes only dx (the gradient
 * that flows to earlier layers) and the adapter's gradients.
 */
#ifndef ADA_NN_LINEAR_H
#define ADA_NN_LINEAR_H

#include "model/model.h"
#include "nn/adapter.h"
#include "nn/frozen.h"
#include "nn/real.h"

struct linear {
	const real *w;          /* [out][in]; NULL: the weight is fw */
	const struct frozen_mat *fw;  /* frozen, in its file's type; used when w is NULL */
	real *dw;               /* NULL: frozen */
	const real *b;          /* [out] or NULL */
	real *db;               /* NULL: no bias or frozen bias */
	int in, out;
	struct adapter *adapter;  /* borrowed; NULL for none */
	struct frozen_bf16 *bf;   /* compute_dtype bf16 scratch for fw's products (borrowed;
	                           * NULL: f32; nn/frozen.h) */
};

/* y[N][out] = x W^T + b (+ adapter). Returns ADA_OK or ADA_ENOMEM (adapter caches). */
int linear_forward(const struct linear *l, const real *x, int N, real *y,
		   const struct nn_step *st);
/* dx[N][in] += dy W (dx may be NULL); dW += dy^T x; db += colsum(dy); adapter grads. */
void linear_backward(const struct linear *l, const real *x, const real *dy, int N, real *dx,
		     const struct nn_step *st);
/* The same, but dx[N][in] = dy W (+ the adapter's share): for the first
 * contribution to a gradient buffer, which then needs no zeroing pass. */
void linear_backward_into(const struct linear *l, const real *x, const real *dy, int N, real *dx,
			  const struct nn_step *st);
/* linear_backward whose dx needs only its first n_dx rows exact: the base
 * weight's share is added to those alone (the adapter's to all N, so dx
 * still has N rows). DeBERTa's table rows ride below the tokens' through a
 * shared projection; when the table is frozen their dx is not needed. */
void linear_backward_rows(const struct linear *l, const real *x, const real *dy, int N, real *dx,
			  int n_dx, const struct nn_step *st);

#endif
