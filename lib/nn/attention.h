/*
 * attention — multi-head self-attention with grouped-query heads: causal
 * (decoders) or bidirectional with a key padding mask (encoders).
 *
 * Inputs are the projected, rotated q [B*T][H*hd] and k, v [B*T][KV*hd];
 * query head h reads key/value head h / (H / KV). The softmax probabilities
 * [B][H][T][T] are kept for backward; above the diagonal they are zero as
 * far as the row's 64-row chunk reaches and unspecified beyond it (never
 * read).
 *
 * Every product goes through gemm() on chunks of 64 query rows: a chunk
 * only meets the keys up to its last row, so the causal mask wastes at most
 * half a diagonal block instead of half the T x T square, while each call
 * is still a real matrix product (BLAS beats hand loops here by 1.2x at
 * head_dim 8 and 2x at head_dim 48, measured). Work is split by (batch,
 * head) forward and by (batch, kv head) backward, so the key/value
 * gradients of a group are owned by one thread: deterministic, and the
 * BLAS calls inside run single-threaded (blas.c).
 *
 * The bidirectional variant serves batches of sequences of different
 * lengths padded to T: batch row b has lengths[b] valid tokens (1..T;
 * lengths NULL means all T). Keys at or beyond the length are masked out
 * (exactly: they get probability 0, as an additive -inf mask gives), and
 * the padded query rows are not computed at all: their output is 0 and
 * their q, k, v gradients are 0, so padding costs no attention work and
 * nothing of it leaks into the real tokens. Probabilities are stored for
 * rows and columns below the length only; the rest of att is unspecified.
 */
#ifndef ADA_NN_ATTENTION_H
#define ADA_NN_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "nn/real.h"

struct attention_shape {
	int B, T;           /* batch rows, sequence length */
	int n_heads, n_kv_heads, head_dim;
};

/* Scratch reals needed per thread. */
size_t attention_scratch_per_thread(const struct attention_shape *s);

/* y = softmax(mask(q k^T / sqrt(hd))) v; att receives the probabilities.
 * scratch holds n_threads * attention_scratch_per_thread() reals. */
void attention_forward(real *y, real *att, const real *q, const real *k, const real *v,
		       const struct attention_shape *s, real *scratch, int n_threads);

/* Gradients of q, k, v from dy. OVERWRITES dq, dk, dv (they have no other
 * source), unlike the accumulating ops. */
void attention_backward(real *dq, real *dk, real *dv, const real *dy, const real *att,
			const real *q, const real *k, const real *v,
			const struct attention_shape *s, real *scratch, int n_threads);

/* Encoder attention: y = softmax(mask(q k^T / sqrt(hd))) v over the keys
 * below lengths[b], y = 0 on padded rows. */
void attention_bidir_forward(real *y, real *att, const real *q, const real *k, const real *v,
			     const int32_t *lengths, const struct attention_shape *s,
			     int n_threads);

/* Its gradients; OVERWRITES dq, dk, dv (zero on padded rows). */
void attention_bidir_backward(real *dq, real *dk, real *dv, const real *dy, const real *att,
			      const real *q, const real *k, const real *v,
			      const int32_t *lengths, const struct attention_shape *s,
			      real *scratch, int n_threads);

#endif
