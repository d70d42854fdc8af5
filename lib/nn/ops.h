/*
 * ops — the elementwise and row-wise layers of the transformer, each as a
 * forward/backward pair over explicit buffers (llm.c style).
 *
 * Conventions: activations are row-major [N][C] with N = batch * sequence
 * flattened; backward functions ACCUMULATE (+=) into input and parameter
 * gradients, so residual branches and gradient accumulation compose without
 * extra copies; a NULL parameter-gradient pointer means "frozen: skip".
 * Loops over rows run in parallel (OpenMP); reductions across rows (weight
 * gradients) are split by column, so results never depend on thread count.
 */
#ifndef ADA_NN_OPS_H
#define ADA_NN_OPS_H

#include <stdint.h>

#include "nn/real.h"

/* out[n] = table[ids[n]] (rows of width C). */
void embedding_forward(real *out, const int32_t *ids, const real *table, int N, int C);
/* dtable[ids[n]] += dout[n]. */
void embedding_backward(real *dtable, const int32_t *ids, const real *dout, int N, int C);

/* out = x / rms(x) * w per row; rstd[n] = 1 / sqrt(mean(x^2) + eps) is kept for backward. */
void rmsnorm_forward(real *out, real *rstd, const real *x, const real *w, int N, int C, real eps);
void rmsnorm_backward(real *dx, real *dw, const real *dout, const real *x, const real *w,
		      const real *rstd, int N, int C);

/* Rotary embeddings on adjacent pairs (2i, 2i+1) of each head, in place.
 * x is [B*T][n_heads*head_dim]; position of row n is n % T.
 * cos/sin tables are [T][head_dim/2] (rope_tables()). */
void rope_tables(real *cos_t, real *sin_t, int T, int head_dim, double theta);
void rope_forward(real *x, const real *cos_t, const real *sin_t, int B, int T, int n_heads,
		  int head_dim);
/* One row of n_heads heads at absolute position pos (incremental decoding). */
void rope_forward_pos(real *x, const real *cos_t, const real *sin_t, int pos, int n_heads,
		      int head_dim);
/* The inverse rotation applied to the gradient, in place. */
void rope_backward(real *dx, const real *cos_t, const real *sin_t, int B, int T, int n_heads,
		   int head_dim);

/* h = silu(g) * u (SwiGLU's gate). */
void swiglu_forward(real *h, const real *g, const real *u, int n);
/* dg = dh * u * silu'(g);  du = dh * silu(g)  (overwrites: their only source). */
void swiglu_backward(real *dg, real *du, const real *dh, const real *g, const real *u, int n);

/* y += x, elementwise. */
void add_inplace(real *y, const real *x, long n);

/* Softmax cross-entropy over logits [N][V] with targets (-1 = ignore).
 * Returns the summed negative log-likelihood (double) and the number of
 * counted rows in *count; row_loss is [N] scratch (per-row losses, summed in
 * order so the total is thread-count independent). With grad_scale != 0 the
 * logits are overwritten by their gradient, (softmax - onehot) * grad_scale,
 * zero on ignored rows. */
double softmax_xent(real *logits, const int32_t *targets, int N, int V, real grad_scale,
		    double *row_loss, int64_t *count);

/* Bias: y[n] += b per row; db += column sums of dy (db may be NULL). */
void bias_forward(real *y, const real *b, int N, int C);
void bias_backward(real *db, const real *dy, int N, int C);

#endif
