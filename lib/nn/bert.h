/*
 * bert — the BERT-family encoder (BERT, RoBERTa), forward and backward,
 * over flat buffers:
 *
 *   x = LN_emb(word[tokens] + pos[position_offset + t] + type[token_types])
 *   per layer (post-norm):
 *       x = LN_attn(x + bn_attn(attn_out(attn(query(x), key(x), value(x)))))
 *       x = LN_out(x + bn_out(output(gelu(inter(x)))))
 *   hidden = x                          [B*T][dim], for heads.h
 *
 * attn is bidirectional with a key padding mask from lengths[b]
 * (attention.h): padded positions never influence real tokens, so their
 * hidden states are defined but meaningless, and as long as the head reads
 * only real tokens they get no gradient. bn_* are the optional Houlsby
 * adapters (bottleneck.h), applied in place before the residual add.
 *
 * As in llama.h: struct bert_net holds borrowed weight pointers (the
 * frozen model's, or trained copies in the parameter arena) and gradient
 * pointers for what trains, NULL for what is frozen: every weight, bias,
 * LayerNorm and embedding table has its own, so full fine-tuning, BitFit
 * (biases only) and adapter methods are choices of which pointers are set.
 * The six linear modules per layer (enum bert_module) carry the adapter
 * slot of struct linear, where LoRA / AdaLoRA attach exactly as on Llama.
 * struct bert_acts holds every activation of one (batch, sequence) shape
 * in one allocation, made once and reused; batch x sequence are flattened
 * (N = B*T rows), so each projection is one large matrix product.
 *
 * Dropout (HF's hidden and attention-probability dropout) is not applied.
 *
 * DeBERTa-v2/v3 (d.disentangled) is the same encoder with another input
 * and attention: no position table unless position_biased_input (pos_emb
 * NULL), no token types when type_vocab = 0, and the attention of
 * disentangled.h, whose position terms read the relative table rel_emb
 * (after LN_rel, once per forward) projected per layer. With
 * share_att_key the projections are the layer's own query and key modules,
 * adapters included, as transformers calls query_proj / key_proj on the
 * table: so that an adapter sees its whole input in one call (its caches
 * and dropout masks are per call), the table's 2*span rows ride below the
 * N token rows of each layer input (x), and the query / key products run
 * over N + 2*span rows, whose extra output rows are PQ / PK. Without
 * share_att_key the layer's pos_query / pos_key (no adapters) project the
 * table into the same rows. Backward mirrors it: the table rows' input
 * gradients are summed over layers into dL/d(table) when the table or
 * LN_rel trains.
 */
#ifndef ADA_NN_BERT_H
#define ADA_NN_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"   /* enum bert_module */
#include "nn/bottleneck.h"
#include "nn/linear.h"
#include "nn/real.h"

struct bert_dims {
	int dim, hidden, n_layers, n_heads, head_dim;   /* n_heads * head_dim == dim */
	int vocab, max_positions, type_vocab;
	int position_offset;        /* position id of token 0 (RoBERTa: pad + 1) */
	real norm_eps;
	/* DeBERTa only (disentangled = 0: BERT's attention; disentangled.h) */
	int disentangled;
	int rel_span;               /* att_span: the table has 2 * rel_span rows (0: none) */
	int rel_buckets, rel_max;   /* position_buckets (0: none), max_relative_positions */
	int c2p, p2c;               /* the position terms */
	int share_att_key;          /* the table through query / key (else pos_query / pos_key) */
	int scale_terms;            /* 1 + the config's position terms */
};

/* One LayerNorm: weight and bias, with their gradients (NULL: frozen). */
struct bert_ln {
	const real *w, *b;          /* [dim] */
	real *dw, *db;
};

struct bert_block {
	struct linear lin[N_BERT_MODULES];   /* query key value attn_out inter output */
	struct bert_ln ln_attn;              /* attention.output.LayerNorm */
	struct bert_ln ln_out;               /* output.LayerNorm */
	struct bottleneck *bn_attn;          /* after attn_out; borrowed, NULL: none */
	struct bottleneck *bn_out;           /* after output */
	struct linear pos_key, pos_query;    /* DeBERTa without share_att_key: the table's
	                                      * projections for c2p / p2c (no adapters) */
};

struct bert_net {
	struct bert_dims d;
	const real *word_emb;       /* [vocab][dim] */
	const real *pos_emb;        /* [max_positions][dim]; NULL: no absolute positions */
	const real *type_emb;       /* [type_vocab][dim]; unused when type_vocab = 0 */
	real *d_word_emb, *d_pos_emb, *d_type_emb;   /* NULL: frozen */
	struct bert_ln ln_emb;
	struct bert_block *blocks;  /* [n_layers], borrowed */
	/* DeBERTa: the relative table [2 * rel_span][dim] and its LayerNorm (w
	 * NULL: none) */
	const real *rel_emb;
	real *d_rel_emb;
	struct bert_ln ln_rel;
};

struct bert_acts {
	int B, T, N;
	int n_threads;              /* attention scratch slots */
	void *mem;                  /* the one allocation */
	size_t bytes;

	/* Rows past N in each layer's slot (DeBERTa, see above): x carries the
	 * table for shared projections, q and k the projected table (PQ, PK). */
	int rx, rq, rk;

	/* saved by forward */
	real *emb;       /* [N][D] embedding sum (LN_emb input) */
	real *mean_e, *rstd_e;      /* [N] */
	real *x;         /* [L+1][N + rx][D] layer inputs; block L is the output */
	real *q, *k, *v; /* [L][N + rq][D], [L][N + rk][D], [L][N][D] */
	real *att;       /* [L][B][H][T][T] probabilities */
	real *ctx;       /* [L][N][D] attention output */
	real *s1;        /* [L][N][D] x + attention branch (LN_attn input) */
	real *mean1, *rstd1;        /* [L][N] */
	real *x_mid;     /* [L][N][D] LN_attn output */
	real *u;         /* [L][N][F] inter output (GELU input) */
	real *g;         /* [L][N][F] GELU output */
	real *s2;        /* [L][N][D] x_mid + FFN branch (LN_out input) */
	real *mean2, *rstd2;        /* [L][N] */
	real *hidden;    /* = x + L*N*D: the encoder output [N][D] */

	/* DeBERTa: the table after LN_rel [2 span][D] (mean, rstd [2 span]),
	 * dL/d(that) and dL/d(the table) in backward, and r(i, j) by i - j
	 * [2T - 1] */
	real *rel, *mean_r, *rstd_r, *drel, *drel_in;
	int32_t *rel_idx;

	/* backward scratch */
	real *dx, *ds, *dctx, *dq, *dk, *dv;          /* [N][D] (+ rx, rq, rk rows) */
	real *du, *dg;                                /* [N][F] */
	real *att_scratch;
	real *dhidden;   /* [N][D] for the caller: dL/dhidden to hand to bert_backward */
	int32_t *zero_types;        /* [N] token types when the caller gives none */
};

/* Allocate activations for B sequences of T tokens: ADA_EINVAL for a bad
 * shape or T + position_offset > max_positions, ADA_ENOMEM. */
int bert_acts_init(struct bert_acts *a, const struct bert_dims *d, int B, int T,
		   int n_threads);
void bert_acts_release(struct bert_acts *a);
/* The bytes bert_acts_init allocates for that shape (0: it would refuse). */
size_t bert_acts_bytes(const struct bert_dims *d, int B, int T, int n_threads);

/* Forward over tokens [B][T] (B <= a->B) with token_types [B][T] (NULL:
 * all 0; ignored when type_vocab = 0) and lengths [B] in 1..T (NULL: all T). The hidden states are left
 * in a->hidden. All three arrays are borrowed for the call and must be
 * passed again, unchanged, to bert_backward. ADA_EINVAL for an id or a
 * length out of range (nothing computed), ADA_ENOMEM from an adapter. */
int bert_forward(const struct bert_net *net, struct bert_acts *a, const int32_t *tokens,
		 const int32_t *token_types, const int32_t *lengths, int B,
		 const struct nn_step *st);

/* Backward from dhidden = dL/d(a->hidden) [B*T][dim] (borrowed: a->dhidden,
 * which the caller zeroes and fills, or a buffer of its own, not one of a's
 * other scratch buffers); accumulates into every non-NULL gradient of the
 * net, its adapters and bottlenecks. */
void bert_backward(const struct bert_net *net, struct bert_acts *a, const int32_t *tokens,
		   const int32_t *token_types, const int32_t *lengths, int B,
		   const real *dhidden, const struct nn_step *st);

#endif
