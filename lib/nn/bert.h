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
};

struct bert_net {
	struct bert_dims d;
	const real *word_emb;       /* [vocab][dim] */
	const real *pos_emb;        /* [max_positions][dim] */
	const real *type_emb;       /* [type_vocab][dim] */
	real *d_word_emb, *d_pos_emb, *d_type_emb;   /* NULL: frozen */
	struct bert_ln ln_emb;
	struct bert_block *blocks;  /* [n_layers], borrowed */
};

struct bert_acts {
	int B, T, N;
	int n_threads;              /* attention scratch slots */
	void *mem;                  /* the one allocation */
	size_t bytes;

	/* saved by forward */
	real *emb;       /* [N][D] embedding sum (LN_emb input) */
	real *mean_e, *rstd_e;      /* [N] */
	real *x;         /* [L+1][N][D] layer inputs; block L is the output */
	real *q, *k, *v; /* [L][N][D] */
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

	/* backward scratch */
	real *dx, *ds, *dctx, *dq, *dk, *dv;          /* [N][D] */
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

/* Forward over tokens [B][T] (B <= a->B) with token_types [B][T] (NULL:
 * all 0) and lengths [B] in 1..T (NULL: all T). The hidden states are left
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
