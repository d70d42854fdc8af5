/*
 * layernorm — LayerNorm over the rows of [N][C], forward and backward.
 *
 *     out = (x - mean(x)) * rstd * w + b,   rstd = 1 / sqrt(var(x) + eps)
 *
 * with the biased variance (divide by C) and eps inside the root, as
 * torch.nn.LayerNorm computes it, so BERT-family checkpoints reproduce.
 * Forward keeps mean and rstd per row for backward. Backward OVERWRITES dx:
 * in a post-norm block (BERT) the norm's input is a residual sum nothing
 * else reads, so its gradient has this one source and needs no zeroing
 * pass; it ACCUMULATES into dw and db (NULL: frozen), as ops.h's layers do.
 * Rows run in parallel and the parameter gradients are split by column, so
 * results do not depend on the thread count.
 */
#ifndef ADA_NN_LAYERNORM_H
#define ADA_NN_LAYERNORM_H

#include "nn/real.h"

/* out may not alias x (backward reads x). */
void layernorm_forward(real *out, real *mean, real *rstd, const real *x, const real *w,
		       const real *b, int N, int C, real eps);

/* dx = dL/dx; dw += sum_n dout * xhat; db += sum_n dout (dw, db may be NULL). */
void layernorm_backward(real *dx, real *dw, real *db, const real *dout, const real *x,
			const real *w, const real *mean, const real *rstd, int N, int C);

#endif
