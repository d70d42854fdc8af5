/*
 * llama — the Llama-family decoder, forward and backward, over flat buffers.
 *
 *   x = emb[tokens]
 *   per block:  x += o( attn( rope(q(n1(x))), rope(k(n1(x))), v(n1(x)) ) )
 *               x += down( silu(gate(n2(x))) * up(n2(x)) )
 *   logits = out(norm(x));  loss = mean cross-entropy over counted targets
 *
 * Sequence classification stops at norm(x): llama_forward_hidden and
 * llama_backward_hidden run the same blocks without the LM head (heads.h
 * pools the last token). A block may also carry Houlsby bottleneck
 * adapters (bottleneck.h) on the outputs of o and down, before the
 * residual add.
 *
 * struct llama_net holds borrowed weight pointers (the frozen model's, or
 * trained copies in the parameter arena; a frozen matrix in its file's type
 * through a struct frozen_mat instead, see linear.h) and, for what trains, gradient
 * pointers; every linear layer may carry an adapter (adapter.h). The net
 * never allocates weights. struct llama_acts holds every activation of one
 * (batch, sequence) shape in a single allocation made once and reused for
 * every step (llm.c style); backward reuses what forward saved. With
 * gradient checkpointing the arena keeps every block's input (the residual
 * stream, [L][N][D]) and one block's worth of the rest: backward runs each
 * block's forward again, from its saved input, just before its backward.
 * That costs one more forward of the blocks (about a third more compute)
 * and saves (L-1)/L of the per-block activations, the attention
 * probabilities ([B][H][T][T] per block) above all. The recomputation does
 * the same operations on the same inputs, so gradients are bit-identical
 * to those of a run without it.
 *
 * Batch x sequence are flattened (N = B*T rows) so each projection is one
 * large matrix product.
 */
#ifndef ADA_NN_LLAMA_H
#define ADA_NN_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"   /* enum llama_module */
#include "nn/bottleneck.h"
#include "nn/linear.h"
#include "nn/real.h"

struct llama_dims {
	int dim, hidden, n_layers, n_heads, n_kv_heads, head_dim, vocab;
	double rope_theta;
	real norm_eps;
};

struct llama_block {
	const real *attn_norm;
	real *d_attn_norm;                    /* NULL: frozen */
	struct linear lin[N_LLAMA_MODULES];   /* q k v o gate up down */
	const real *ffn_norm;
	real *d_ffn_norm;
	struct bottleneck *bn_attn;           /* on o's output; borrowed, NULL: none */
	struct bottleneck *bn_ffn;            /* on down's output */
};

struct llama_net {
	struct llama_dims d;
	const real *tok_emb;                  /* [vocab][dim]; NULL: tok_emb_fw */
	const struct frozen_mat *tok_emb_fw;  /* frozen, in its file's type */
	real *d_tok_emb;
	struct llama_block *blocks;           /* [n_layers], borrowed */
	const real *final_norm;
	real *d_final_norm;
	const real *output;                   /* [vocab][dim]; may be tok_emb (tied);
	                                       * NULL: output_fw */
	const struct frozen_mat *output_fw;
	real *d_output;                       /* may alias d_tok_emb (tied) */
	struct frozen_bf16 *output_bf;        /* compute_dtype bf16 for output_fw (borrowed;
	                                       * NULL: f32); backward then consumes the
	                                       * logits' gradient (nn/frozen.h) */
};

struct llama_acts {
	int B, T, N;
	int n_threads;                        /* attention scratch slots */
	int checkpointing;                    /* per-block buffers hold one block */
	void *mem;                            /* the one allocation */
	size_t bytes;

	/* saved by forward, [n_layers] blocks of each ([1] but x_in when
	 * checkpointing) */
	real *x_in;      /* [L][N][D] block input (residual stream) */
	real *xn1;       /* [L][N][D] */
	real *rstd1;     /* [L][N] */
	real *q;         /* [L][N][H*hd] after RoPE */
	real *k, *v;     /* [L][N][KV*hd] (k after RoPE) */
	real *att;       /* [L][B][H][T][T] probabilities */
	real *y;         /* [L][N][H*hd] attention output */
	real *x_mid;     /* [L][N][D] after the attention residual */
	real *xn2;       /* [L][N][D] */
	real *rstd2;     /* [L][N] */
	real *gate, *up, *h;   /* [L][N][F] */
	real *x_out;     /* [N][D] after the last block */
	real *xf;        /* [N][D] final norm */
	real *rstdf;     /* [N] */
	real *logits;    /* [N][V]; holds dlogits after backward's loss step;
	                  * NULL in hidden-state acts (no LM head) */
	double *row_loss;  /* [N]; NULL in hidden-state acts */
	real *dhidden;   /* [N][D] d(final-norm output) for llama_backward_hidden;
	                  * hidden-state acts only, else NULL */

	/* backward scratch */
	real *dx, *dxn, *dq, *dk, *dv, *dy, *dgate, *dup, *dh;
	real *att_scratch;

	real *rope_cos, *rope_sin;   /* [T][hd/2] */
	const int32_t *targets;      /* of the last forward (borrowed) */
};

/* Allocate activations for B sequences of T tokens. */
int llama_acts_init(struct llama_acts *a, const struct llama_dims *d, int B, int T,
		    int n_threads);
/* The same for llama_forward_hidden/llama_backward_hidden: no [N][vocab]
 * logits, and a dhidden buffer instead. */
int llama_acts_init_hidden(struct llama_acts *a, const struct llama_dims *d, int B, int T,
			   int n_threads);
/* Either with flags: LLAMA_ACTS_HIDDEN as llama_acts_init_hidden,
 * LLAMA_ACTS_CHECKPOINT for gradient checkpointing. */
#define LLAMA_ACTS_HIDDEN 1u
#define LLAMA_ACTS_CHECKPOINT 2u
int llama_acts_init_flags(struct llama_acts *a, const struct llama_dims *d, int B, int T,
			  int n_threads, unsigned flags);
void llama_acts_release(struct llama_acts *a);

/* Forward pass over tokens [B][T] (B <= a->B rows of the allocated shape).
 * With targets [B][T] (-1 = ignore) it returns the summed NLL in *nll_sum
 * and the counted targets in *n_targets; targets NULL leaves the logits
 * only. With grad_scale != 0 the loss gradient is fused in: the logits
 * buffer then holds dL/dlogits = (softmax - onehot) * grad_scale, ready
 * for llama_backward (grad_scale = 1 / targets of the whole optimizer step
 * gives a token mean across micro-batches). */
int llama_forward(const struct llama_net *net, struct llama_acts *a, const int32_t *tokens,
		  const int32_t *targets, int B, real grad_scale, double *nll_sum,
		  int64_t *n_targets, const struct nn_step *st);

/* Backward from the fused loss gradient of the last forward; accumulates
 * into every non-NULL gradient of the net and of its adapters. ADA_OK, or
 * ADA_ENOMEM when a checkpointed block's recomputation cannot grow an
 * adapter cache (it never grows past what the forward of the same shape
 * made it, so in practice it does not fail). */
int llama_backward(const struct llama_net *net, struct llama_acts *a, const int32_t *tokens,
		    int B, const struct nn_step *st);

/* Forward up to the final norm: the hidden states [B*T][dim] are left in
 * a->xf. Works with either kind of acts. */
int llama_forward_hidden(const struct llama_net *net, struct llama_acts *a,
			 const int32_t *tokens, int B, const struct nn_step *st);

/* Backward from dhidden = dL/d(a->xf) [B*T][dim] (borrowed, not a->dx; e.g.
 * a->dhidden, which the caller zeroes and fills); accumulates like
 * llama_backward (and returns as it does). net->output and net->d_output
 * are not used. */
int llama_backward_hidden(const struct llama_net *net, struct llama_acts *a,
			  const int32_t *tokens, int B, const real *dhidden,
			  const struct nn_step *st);

#endif
