/*
 * disentangled — DeBERTa's disentangled self-attention (He et al., ICLR
 * 2021, eq. 2-4; transformers' DisentangledSelfAttention of DeBERTa-v2),
 * forward and backward, and its relative position index.
 *
 * Per batch row b and head h, with content projections Q, K, V [T][hd] and
 * the projected relative embeddings PQ, PK [2 span][hd] (the relative table
 * through the query and key projections: query_proj / key_proj when the
 * model shares them, else pos_query_proj / pos_key_proj):
 *
 *   S[i][j] = (Q_i . K_j  +  Q_i . PK[r(i, j)]  +  K_j . PQ[r(i, j)]) * scale
 *             (content)      (c2p, optional)       (p2c, optional)
 *   P = softmax over the keys j < lengths[b] of S[i][.],   Y = P V
 *
 * scale = 1 / sqrt(hd * scale_terms), scale_terms = 1 + the number of
 * position terms the config names (transformers' scale_factor), and
 * r(i, j) = clamp(bucket(i - j) + span, 0, 2 span - 1): the row of the
 * relative table for query i and key j. transformers writes the p2c term as
 * a gather on K PQ^T with -bucket(j - i) and a transpose; bucket() is odd,
 * so that is the same row r(i, j) (the test's reference computes it
 * transformers' way). bucket() is make_log_bucket_position: distances
 * below buckets / 2 stay, longer ones are log-spaced so that max_rel - 1
 * lands on buckets - 1, evaluated in float as PyTorch does; without
 * buckets the distance itself. r depends on i - j only, so it is one table
 * of 2T - 1 entries, made once per sequence length.
 *
 * Layout as attention.h: q, k, v, y are [B*T][H*hd] with head h at columns
 * h*hd; pq, pk [2 span][H*hd] likewise. Keys at or beyond lengths[b] get
 * probability 0; padded query rows are not computed (y = 0, and their
 * gradients 0), as attention_bidir_forward does. Products go through
 * gemm(): Q K^T, and Q PK^T and K PQ^T only over the table rows the
 * sequence reaches (r is monotone in i - j, so that is one window [lo, hi)
 * of at most 2 len - 1 rows), then the gathers. Forward runs one task per
 * (batch, head); backward one per head, walking the batch in order, since
 * every batch row adds into the head's dPQ and dPK: deterministic.
 */
#ifndef ADA_NN_DISENTANGLED_H
#define ADA_NN_DISENTANGLED_H

#include <stddef.h>
#include <stdint.h>

#include "nn/real.h"

struct disentangled_shape {
	int B, T;
	int n_heads, head_dim;
	int span;            /* att_span: pq, pk have 2 * span rows (0: no position terms) */
	int c2p, p2c;        /* the terms computed (need span > 0) */
	int scale_terms;     /* scale = 1 / sqrt(head_dim * scale_terms), >= 1 */
};

/* transformers' make_log_bucket_position of one distance (buckets > 0 and
 * max_rel > buckets / 2 + 1), evaluated in float. */
int disentangled_bucket(int rel, int buckets, int max_rel);

/* idx[d + T - 1] = r for query i and key j with i - j = d, d in (-T, T):
 * clamp(bucket(d) + span, 0, 2 span - 1), bucket the identity when
 * buckets <= 0. idx holds 2T - 1 entries. */
void disentangled_rel_index(int32_t *idx, int T, int span, int buckets, int max_rel);

/* Scratch reals per thread (forward and backward). */
size_t disentangled_scratch_per_thread(const struct disentangled_shape *s);

/* y = P V as above; att receives P [B][H][T][T] (rows and columns below the
 * length; the rest unspecified). pq is read when p2c, pk when c2p. */
void disentangled_forward(real *y, real *att, const real *q, const real *k, const real *v,
			  const real *pq, const real *pk, const int32_t *rel_idx,
			  const int32_t *lengths, const struct disentangled_shape *s,
			  real *scratch, int n_threads);

/* Gradients from dy; OVERWRITES dq, dk, dv and (when the term is on) dpq
 * [2 span][H*hd] and dpk, which may be NULL when off. */
void disentangled_backward(real *dq, real *dk, real *dv, real *dpq, real *dpk, const real *dy,
			   const real *att, const real *q, const real *k, const real *v,
			   const real *pq, const real *pk, const int32_t *rel_idx,
			   const int32_t *lengths, const struct disentangled_shape *s,
			   real *scratch, int n_threads);

#endif
