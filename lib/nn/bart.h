/*
 * bart — the BART encoder-decoder (Hugging Face's BartForConditionalGeneration),
 * forward and backward over flat buffers:
 *
 *   encoder:  x = LN_emb_e(scale * E[src] + pos_e[2 + s])
 *             per layer (post-norm):
 *                 x = LN_self(x + out(attn(q(x), k(x), v(x))))       bidirectional,
 *                                                                    keys < src_len
 *                 x = LN_ffn(x + fc2(gelu(fc1(x))))
 *             enc = x                                                [B*S][dim]
 *   decoder:  y = LN_emb_d(scale * E[dec_in] + pos_d[2 + t])
 *             per layer:
 *                 y = LN_self(y + out(attn(q(y), k(y), v(y))))       causal
 *                 y = LN_cross(y + cout(xattn(cq(y), ck(enc), cv(enc))))   keys < src_len
 *                 y = LN_ffn(y + fc2(gelu(fc1(y))))
 *   logits = y E^T + final_logits_bias                               [B*T][vocab]
 *
 * E is the shared token embedding, which is also the LM head (tied; an
 * untied head is net->output). scale is sqrt(d_model) with scale_embedding,
 * else 1. Positions start at BART's offset 2. The loss is the label-
 * smoothed cross-entropy of smooth_xent.h, fused into the forward pass as
 * llama.h's is: with grad_scale != 0 the logits buffer is left holding
 * dL/dlogits for bart_backward.
 *
 * Padding: a source row b has src_len[b] tokens (1..S); its padded
 * positions are never attended to, by the encoder or by the decoder's
 * cross-attention, so their states are defined but meaningless. Target
 * rows are padded at the end: causal attention keeps real positions from
 * seeing them, and a target of -1 leaves a row out of the loss, so padding
 * gets no gradient.
 *
 * As bert.h: struct bart_net borrows every weight (the model's, f32 or a
 * struct frozen_mat in its file's type, or trained copies in a parameter
 * arena) and has a gradient pointer per weight, NULL where frozen; the ten
 * linear modules of a layer (enum bart_module; an encoder layer uses the
 * six that are not cross-attention) carry struct linear's adapter slot.
 * struct bart_acts holds every activation of one (batch, source length,
 * target length) shape in one allocation, made once and reused.
 *
 * Dropout (BART's dropout, attention_dropout, activation_dropout) and
 * LayerDrop are not applied.
 */
#ifndef ADA_NN_BART_H
#define ADA_NN_BART_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"   /* enum bart_module, struct frozen_mat */
#include "nn/linear.h"
#include "nn/real.h"

struct bart_dims {
	int dim, hidden, n_enc_layers, n_dec_layers, n_heads, head_dim, vocab;
	int max_positions;          /* rows of each position table */
	int position_offset;        /* position id of token 0 (BART: 2) */
	real embed_scale;           /* sqrt(dim) with scale_embedding, else 1 */
	real norm_eps;
};

/* One LayerNorm: weight and bias, with their gradients (NULL: frozen). */
struct bart_ln {
	const real *w, *b;          /* [dim] */
	real *dw, *db;
};

struct bart_block {
	struct linear lin[N_BART_MODULES];   /* encoder blocks: no BART_CROSS_* */
	struct bart_ln ln_self;              /* self_attn_layer_norm */
	struct bart_ln ln_cross;             /* encoder_attn_layer_norm (decoder) */
	struct bart_ln ln_ffn;               /* final_layer_norm */
};

struct bart_net {
	struct bart_dims d;
	const real *tok_emb;        /* [vocab][dim]; NULL: tok_emb_fw */
	const struct frozen_mat *tok_emb_fw;
	real *d_tok_emb;
	const real *enc_pos, *dec_pos;      /* [max_positions][dim] */
	real *d_enc_pos, *d_dec_pos;
	struct bart_ln enc_ln_emb, dec_ln_emb;
	struct bart_block *blocks;  /* [n_enc_layers + n_dec_layers]: encoder first; borrowed */
	const real *output;         /* LM head [vocab][dim] (tok_emb when tied); NULL: output_fw */
	const struct frozen_mat *output_fw;
	real *d_output;             /* may alias d_tok_emb (tied) */
	const real *logits_bias;    /* final_logits_bias [vocab] */
	real *d_logits_bias;
};

struct bart_acts {
	int B;                      /* batch rows */
	int S, T;                   /* source and target lengths of the next pass (bart_acts_set_shape) */
	int cap_S, cap_T;           /* the lengths allocated */
	int Ns, Nt;                 /* B*cap_S, B*cap_T: each layer's row stride */
	int n_threads;              /* attention scratch slots */
	void *mem;                  /* the one allocation */
	size_t bytes;

	/* encoder, saved by forward ([Le] blocks of each) */
	real *e_emb;                /* [Ns][D] LN_emb input */
	real *e_mean0, *e_rstd0;    /* [Ns] */
	real *e_x;                  /* [Le+1][Ns][D] layer inputs; the last is the output */
	real *e_q, *e_k, *e_v, *e_ctx, *e_s1, *e_mid, *e_s2;   /* [Le][Ns][D] */
	real *e_att;                /* [Le][B][H][S][S] */
	real *e_mean1, *e_rstd1, *e_mean2, *e_rstd2;           /* [Le][Ns] */
	real *e_u, *e_g;            /* [Le][Ns][F] */
	real *enc_out;              /* = e_x + Le*Ns*D */

	/* decoder ([Ld] blocks) */
	real *d_emb, *d_mean0, *d_rstd0;
	real *d_x;                  /* [Ld+1][Nt][D] */
	real *d_q, *d_k, *d_v, *d_ctx, *d_s1, *d_x1;           /* [Ld][Nt][D] */
	real *d_att;                /* [Ld][B][H][T][T] */
	real *c_q, *c_ctx, *d_s2, *d_x2, *d_s3;                /* [Ld][Nt][D] */
	real *c_k, *c_v;            /* [Ld][Ns][D] cross keys, values (from enc_out) */
	real *c_att;                /* [Ld][B][H][T][S] */
	real *d_mean1, *d_rstd1, *d_mean2, *d_rstd2, *d_mean3, *d_rstd3;   /* [Ld][Nt] */
	real *d_u, *d_g;            /* [Ld][Nt][F] */
	real *dec_out;              /* = d_x + Ld*Nt*D */
	real *logits;               /* [Nt][V]; dlogits after a loss with grad_scale */
	double *row_loss, *row_nll; /* [Nt] */

	/* backward scratch (rows: max(Ns, Nt)) */
	real *gx, *gs, *gctx, *gq, *gk, *gv;   /* [rows][D] */
	real *gu, *gg;              /* [rows][F] */
	real *g_enc;                /* [Ns][D] dL/d(encoder output) */
	real *g_ck, *g_cv;          /* [Ns][D] */
	real *att_scratch;
};

/* Run the next passes at S <= cap_S source and T <= cap_T target tokens
 * (a batch padded only to its own longest): ADA_EINVAL otherwise. Rows
 * are then b * S + s within each layer's buffers. */
int bart_acts_set_shape(struct bart_acts *a, int S, int T);

/* The dims of a model of cfg (family BART). */
void bart_dims_of(const struct model_config *cfg, struct bart_dims *d);

/* Allocate activations for B pairs of up to S source and T target tokens
 * (the shape of the next pass is S, T): ADA_EINVAL for a bad shape or a
 * length past the position tables, ADA_ENOMEM. */
int bart_acts_init(struct bart_acts *a, const struct bart_dims *d, int B, int S, int T,
		   int n_threads);
void bart_acts_release(struct bart_acts *a);
/* The bytes bart_acts_init would allocate for that shape (0: a bad shape);
 * the memory estimate's. */
size_t bart_acts_bytes(const struct bart_dims *d, int B, int S, int T, int n_threads);

/* The encoder over src [B][S] with src_len [B] in 1..S (NULL: all S):
 * a->enc_out. B <= a->B. ADA_EINVAL for an id or a length out of range
 * (nothing computed), ADA_ENOMEM from an adapter. */
int bart_encode(const struct bart_net *net, struct bart_acts *a, const int32_t *src,
		const int32_t *src_len, int B, const struct nn_step *st);

/* The decoder over dec_in [B][T] against the encoder output bart_encode
 * left (same src_len), then the logits a->logits [B*T][vocab]. With
 * targets [B][T] (-1 = ignore) the label-smoothed loss (eps) is summed
 * into *loss_sum, the plain NLL into *nll_sum (may be NULL) and the
 * counted targets into *n_targets; grad_scale != 0 leaves dL/dlogits in
 * a->logits (smooth_xent.h). */
int bart_decode(const struct bart_net *net, struct bart_acts *a, const int32_t *dec_in,
		const int32_t *src_len, const int32_t *targets, int B, real eps, real grad_scale,
		double *loss_sum, double *nll_sum, int64_t *n_targets, const struct nn_step *st);

/* Both, for training and teacher-forced evaluation. */
int bart_forward(const struct bart_net *net, struct bart_acts *a, const int32_t *src,
		 const int32_t *src_len, const int32_t *dec_in, const int32_t *targets, int B,
		 real eps, real grad_scale, double *loss_sum, double *nll_sum, int64_t *n_targets,
		 const struct nn_step *st);

/* Backward from the fused loss gradient of the last bart_forward (same
 * inputs); accumulates into every non-NULL gradient of the net and of its
 * adapters. */
void bart_backward(const struct bart_net *net, struct bart_acts *a, const int32_t *src,
		   const int32_t *src_len, const int32_t *dec_in, int B, const struct nn_step *st);

#endif
