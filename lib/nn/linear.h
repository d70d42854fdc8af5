/*
 * linear — y = x W^T + b with an optional adapter, forward and backward.
 *
 * W is [out][in] row-major and borrowed (a frozen base weight in a file
 * mapping, or a trained copy in the parameter arena). dW and db are NULL
 * when the weight is frozen: backward then computes only dx (the gradient
 * that flows to earlier layers) and the adapter's gradients.
 */
#ifndef ADA_NN_LINEAR_H
#define ADA_NN_LINEAR_H

#include "nn/adapter.h"
#include "nn/real.h"

struct linear {
	const real *w;          /* [out][in] */
	real *dw;               /* NULL: frozen */
	const real *b;          /* [out] or NULL */
	real *db;               /* NULL: no bias or frozen bias */
	int in, out;
	struct adapter *adapter;  /* borrowed; NULL for none */
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

#endif
