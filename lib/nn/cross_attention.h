/*
 * cross_attention — multi-head attention of one sequence's queries over
 * another sequence's keys and values (an encoder-decoder's decoder reading
 * the encoder output), forward and backward.
 *
 * q is [B*Tq][H*hd] (the decoder's rows), k and v are [B*Tk][H*hd] (the
 * encoder's); batch row b attends to its first k_lengths[b] keys (1..Tk;
 * NULL: all Tk), the rest masked exactly (probability 0, as an additive
 * -inf mask gives). Every query row is computed, padded decoder rows too:
 * their outputs are never read by a loss, so they get no gradient. The
 * probabilities [B][H][Tq][Tk] are kept for backward; beyond a row's key
 * length they are zero.
 *
 * As in attention.h: every product goes through gemm() on chunks of 64
 * query rows, work is split by (batch, head), and each task owns its rows
 * of dq and its (b, h) columns of dk and dv, so results do not depend on
 * the thread count.
 */
#ifndef ADA_NN_CROSS_ATTENTION_H
#define ADA_NN_CROSS_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "nn/real.h"

struct cross_shape {
	int B, Tq, Tk;      /* batch rows, query and key lengths */
	int n_heads, head_dim;
};

/* Scratch reals needed per thread by the backward pass. */
size_t cross_attention_scratch_per_thread(const struct cross_shape *s);

/* y = softmax(mask(q k^T / sqrt(hd))) v; att receives the probabilities. */
void cross_attention_forward(real *y, real *att, const real *q, const real *k, const real *v,
			     const int32_t *k_lengths, const struct cross_shape *s, int n_threads);

/* Gradients of q, k, v from dy. OVERWRITES dq, dk, dv (zero on padded
 * keys); scratch holds n_threads * cross_attention_scratch_per_thread(). */
void cross_attention_backward(real *dq, real *dk, real *dv, const real *dy, const real *att,
			      const real *q, const real *k, const real *v,
			      const int32_t *k_lengths, const struct cross_shape *s,
			      real *scratch, int n_threads);

#endif
