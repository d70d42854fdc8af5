/* llama — decoder forward/backward over one activation arena; see llama.h. */
#include "nn/llama.h"

#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "nn/attention.h"
#include "nn/blas.h"
#include "nn/frozen.h"
#include "nn/ops.h"

/* Carve the arena: a first pass with base == NULL only sums the sizes. */
struct carver {
	char *base;
	size_t off;
	int overflow;
};

static real *carve(struct carver *c, size_t n_reals)
{
	size_t bytes, aligned;
	real *p;

	if (size_mul(n_reals, sizeof(real), &bytes) || size_add(bytes, 63, &aligned)) {
		c->overflow = 1;
		return NULL;
	}
	aligned &= ~(size_t)63;
	p = c->base ? (real *)(c->base + c->off) : NULL;
	if (size_add(c->off, aligned, &c->off))
		c->overflow = 1;
	return p;
}

static void layout(struct llama_acts *a, const struct llama_dims *d, int lm_head,
		   struct carver *c)
{
	/* Checkpointing keeps every block's input (the residual stream) and one
	 * block's worth of everything else, recomputed in backward. */
	const size_t L = (size_t)d->n_layers, LS = a->checkpointing ? 1 : L;
	const size_t N = (size_t)a->N, D = (size_t)d->dim;
	const size_t F = (size_t)d->hidden, V = (size_t)d->vocab;
	const size_t QD = (size_t)d->n_heads * d->head_dim, KD = (size_t)d->n_kv_heads * d->head_dim;
	const size_t TT = (size_t)a->T * a->T;
	struct attention_shape s = { a->B, a->T, d->n_heads, d->n_kv_heads, d->head_dim };

	a->x_in = carve(c, L * N * D);
	a->xn1 = carve(c, LS * N * D);
	a->rstd1 = carve(c, LS * N);
	a->q = carve(c, LS * N * QD);
	a->k = carve(c, LS * N * KD);
	a->v = carve(c, LS * N * KD);
	a->att = carve(c, LS * (size_t)a->B * (size_t)d->n_heads * TT);
	a->y = carve(c, LS * N * QD);
	a->x_mid = carve(c, LS * N * D);
	a->xn2 = carve(c, LS * N * D);
	a->rstd2 = carve(c, LS * N);
	a->gate = carve(c, LS * N * F);
	a->up = carve(c, LS * N * F);
	a->h = carve(c, LS * N * F);
	a->x_out = carve(c, N * D);
	a->xf = carve(c, N * D);
	a->rstdf = carve(c, N);
	if (lm_head) {
		a->logits = carve(c, N * V);
		a->row_loss = (double *)carve(c, N * sizeof(double) / sizeof(real));
	} else {
		a->dhidden = carve(c, N * D);
	}
	a->dx = carve(c, N * D);
	a->dxn = carve(c, N * D);
	a->dq = carve(c, N * QD);
	a->dk = carve(c, N * KD);
	a->dv = carve(c, N * KD);
	a->dy = carve(c, N * QD);
	a->dgate = carve(c, N * F);
	a->dup = carve(c, N * F);
	a->dh = carve(c, N * F);
	a->att_scratch = carve(c, (size_t)a->n_threads * attention_scratch_per_thread(&s));
	a->rope_cos = carve(c, (size_t)a->T * (size_t)(d->head_dim / 2));
	a->rope_sin = carve(c, (size_t)a->T * (size_t)(d->head_dim / 2));
}

int llama_acts_init_flags(struct llama_acts *a, const struct llama_dims *d, int B, int T,
			  int n_threads, unsigned flags)
{
	const int lm_head = !(flags & LLAMA_ACTS_HIDDEN);
	struct carver c = { 0 };

	memset(a, 0, sizeof(*a));
	if (B <= 0 || T <= 0 || n_threads <= 0 || d->head_dim % 2 ||
	    (flags & ~(LLAMA_ACTS_HIDDEN | LLAMA_ACTS_CHECKPOINT)))
		return ADA_EINVAL;
	a->checkpointing = !!(flags & LLAMA_ACTS_CHECKPOINT);
	a->B = B;
	a->T = T;
	a->N = B * T;
	a->n_threads = n_threads;
	layout(a, d, lm_head, &c);
	if (c.overflow)
		return ADA_ENOMEM;
	a->mem = xalloc_aligned(c.off, 1);
	if (!a->mem)
		return ADA_ENOMEM;
	a->bytes = c.off;
	c.base = a->mem;
	c.off = 0;
	layout(a, d, lm_head, &c);
	rope_tables(a->rope_cos, a->rope_sin, T, d->head_dim, d->rope_theta);
	return ADA_OK;
}

int llama_acts_init(struct llama_acts *a, const struct llama_dims *d, int B, int T,
		    int n_threads)
{
	return llama_acts_init_flags(a, d, B, T, n_threads, 0);
}

int llama_acts_init_hidden(struct llama_acts *a, const struct llama_dims *d, int B, int T,
			   int n_threads)
{
	return llama_acts_init_flags(a, d, B, T, n_threads, LLAMA_ACTS_HIDDEN);
}

void llama_acts_release(struct llama_acts *a)
{
	free(a->mem);
	memset(a, 0, sizeof(*a));
}

/* Where block l's saved activations live: its own slot, or the one slot
 * every block shares when checkpointing. */
struct block_bufs {
	real *x_in, *xn1, *rstd1, *q, *k, *v, *att, *y, *x_mid, *xn2, *rstd2, *g, *u, *h;
};

static void block_bufs(const struct llama_net *net, const struct llama_acts *a, int l,
		       struct block_bufs *b)
{
	const struct llama_dims *d = &net->d;
	const size_t NA = (size_t)a->N;   /* strides use the allocated shape */
	const size_t D = (size_t)d->dim, F = (size_t)d->hidden;
	const size_t QD = (size_t)d->n_heads * d->head_dim, KD = (size_t)d->n_kv_heads * d->head_dim;
	const size_t sl = a->checkpointing ? 0 : (size_t)l;

	b->x_in = a->x_in + (size_t)l * NA * D;
	b->xn1 = a->xn1 + sl * NA * D;
	b->rstd1 = a->rstd1 + sl * NA;
	b->q = a->q + sl * NA * QD;
	b->k = a->k + sl * NA * KD;
	b->v = a->v + sl * NA * KD;
	b->att = a->att + sl * (size_t)a->B * d->n_heads * a->T * a->T;
	b->y = a->y + sl * NA * QD;
	b->x_mid = a->x_mid + sl * NA * D;
	b->xn2 = a->xn2 + sl * NA * D;
	b->rstd2 = a->rstd2 + sl * NA;
	b->g = a->gate + sl * NA * F;
	b->u = a->up + sl * NA * F;
	b->h = a->h + sl * NA * F;
}

/* Block l from its saved input b->x_in. With out, the whole block: its
 * output (the next block's input) goes there. Without, it stops at the
 * FFN's hidden h: backward's recomputation needs every saved activation
 * but not the output, and the adapters and bottlenecks refill the caches
 * they keep for backward with the same values (dropout is keyed on the
 * step, not drawn). */
static int block_forward(const struct llama_net *net, struct llama_acts *a, int l, int B,
			 real *out, const struct nn_step *st)
{
	const struct llama_dims *d = &net->d;
	const struct llama_block *blk = &net->blocks[l];
	const int T = a->T, N = B * T, D = d->dim, F = d->hidden;
	struct attention_shape s = { B, T, d->n_heads, d->n_kv_heads, d->head_dim };
	struct block_bufs b;
	int rc;

	block_bufs(net, a, l, &b);
	rmsnorm_forward(b.xn1, b.rstd1, b.x_in, blk->attn_norm, N, D, d->norm_eps);
	if ((rc = linear_forward(&blk->lin[MOD_Q], b.xn1, N, b.q, st)) ||
	    (rc = linear_forward(&blk->lin[MOD_K], b.xn1, N, b.k, st)) ||
	    (rc = linear_forward(&blk->lin[MOD_V], b.xn1, N, b.v, st)))
		return rc;
	rope_forward(b.q, a->rope_cos, a->rope_sin, B, T, d->n_heads, d->head_dim);
	rope_forward(b.k, a->rope_cos, a->rope_sin, B, T, d->n_kv_heads, d->head_dim);
	attention_forward(b.y, b.att, b.q, b.k, b.v, &s, a->att_scratch, a->n_threads);
	if ((rc = linear_forward(&blk->lin[MOD_O], b.y, N, b.x_mid, st)))
		return rc;
	if (blk->bn_attn && (rc = bottleneck_forward(blk->bn_attn, b.x_mid, N)))
		return rc;
	add_inplace(b.x_mid, b.x_in, (long)N * D);
	rmsnorm_forward(b.xn2, b.rstd2, b.x_mid, blk->ffn_norm, N, D, d->norm_eps);
	if ((rc = linear_forward(&blk->lin[MOD_GATE], b.xn2, N, b.g, st)) ||
	    (rc = linear_forward(&blk->lin[MOD_UP], b.xn2, N, b.u, st)))
		return rc;
	swiglu_forward(b.h, b.g, b.u, N * F);
	if (!out)
		return ADA_OK;
	if ((rc = linear_forward(&blk->lin[MOD_DOWN], b.h, N, out, st)))
		return rc;
	if (blk->bn_ffn && (rc = bottleneck_forward(blk->bn_ffn, out, N)))
		return rc;
	add_inplace(out, b.x_mid, (long)N * D);
	return ADA_OK;
}

int llama_forward_hidden(const struct llama_net *net, struct llama_acts *a,
			 const int32_t *tokens, int B, const struct nn_step *st)
{
	const struct llama_dims *d = &net->d;
	const int N = B * a->T, D = d->dim;
	const size_t NA = (size_t)a->N;
	int rc;

	if (B > a->B)
		return ADA_EINVAL;
	if (net->tok_emb)
		embedding_forward(a->x_in, tokens, net->tok_emb, N, D);
	else
		frozen_rows(net->tok_emb_fw, tokens, N, a->x_in);
	for (int l = 0; l < d->n_layers; l++) {
		real *next = l + 1 < d->n_layers ? a->x_in + (size_t)(l + 1) * NA * D : a->x_out;

		if ((rc = block_forward(net, a, l, B, next, st)))
			return rc;
	}
	rmsnorm_forward(a->xf, a->rstdf, a->x_out, net->final_norm, N, D, d->norm_eps);
	return ADA_OK;
}

int llama_forward(const struct llama_net *net, struct llama_acts *a, const int32_t *tokens,
		  const int32_t *targets, int B, real grad_scale, double *nll_sum,
		  int64_t *n_targets, const struct nn_step *st)
{
	const struct llama_dims *d = &net->d;
	const int N = B * a->T, D = d->dim;
	int rc;

	if (!a->logits)
		return ADA_EINVAL;
	if ((rc = llama_forward_hidden(net, a, tokens, B, st)))
		return rc;
	if (net->output)
		gemm(0, 1, N, d->vocab, D, 1, a->xf, D, net->output, D, 0, a->logits, d->vocab);
	else
		frozen_forward(net->output_fw, a->xf, N, a->logits, net->output_bf);
	a->targets = targets;
	if (targets) {
		int64_t cnt;
		double nll = softmax_xent(a->logits, targets, N, d->vocab, grad_scale, a->row_loss,
					  &cnt);
		if (nll_sum)
			*nll_sum = nll;
		if (n_targets)
			*n_targets = cnt;
	}
	return ADA_OK;
}

int llama_backward_hidden(const struct llama_net *net, struct llama_acts *a,
			  const int32_t *tokens, int B, const real *dhidden,
			  const struct nn_step *st)
{
	const struct llama_dims *d = &net->d;
	const int T = a->T, N = B * T, D = d->dim, F = d->hidden;
	struct attention_shape s = { B, T, d->n_heads, d->n_kv_heads, d->head_dim };
	real *dx = a->dx, *dxn = a->dxn;
	int rc;

	/* Final norm; dhidden may be dxn (llama_backward), which is free after. */
	memset(dx, 0, sizeof(real) * (size_t)N * D);
	rmsnorm_backward(dx, net->d_final_norm, dhidden, a->x_out, net->final_norm, a->rstdf, N, D);

	for (int l = d->n_layers - 1; l >= 0; l--) {
		const struct llama_block *blk = &net->blocks[l];
		struct block_bufs b;

		if (a->checkpointing && (rc = block_forward(net, a, l, B, NULL, st)))
			return rc;
		block_bufs(net, a, l, &b);

		/* FFN branch: dx is dL/d(block output) == dL/dx_mid through the
		 * residual. A bottleneck turns the branch's copy (in dxn, free
		 * here) into dL/d(down's output). The first contribution to each
		 * gradient buffer overwrites it. */
		const real *dbranch = dx;
		if (blk->bn_ffn) {
			memcpy(dxn, dx, sizeof(real) * (size_t)N * D);
			bottleneck_backward(blk->bn_ffn, dxn, N);
			dbranch = dxn;
		}
		linear_backward_into(&blk->lin[MOD_DOWN], b.h, dbranch, N, a->dh, st);
		swiglu_backward(a->dgate, a->dup, a->dh, b.g, b.u, N * F);
		linear_backward_into(&blk->lin[MOD_GATE], b.xn2, a->dgate, N, dxn, st);
		linear_backward(&blk->lin[MOD_UP], b.xn2, a->dup, N, dxn, st);
		rmsnorm_backward(dx, blk->d_ffn_norm, dxn, b.x_mid, blk->ffn_norm, b.rstd2, N, D);

		/* Attention branch: dx is now dL/dx_mid. */
		dbranch = dx;
		if (blk->bn_attn) {
			memcpy(dxn, dx, sizeof(real) * (size_t)N * D);
			bottleneck_backward(blk->bn_attn, dxn, N);
			dbranch = dxn;
		}
		linear_backward_into(&blk->lin[MOD_O], b.y, dbranch, N, a->dy, st);
		attention_backward(a->dq, a->dk, a->dv, a->dy, b.att, b.q, b.k, b.v, &s,
				   a->att_scratch, a->n_threads);
		rope_backward(a->dq, a->rope_cos, a->rope_sin, B, T, d->n_heads, d->head_dim);
		rope_backward(a->dk, a->rope_cos, a->rope_sin, B, T, d->n_kv_heads, d->head_dim);
		linear_backward_into(&blk->lin[MOD_Q], b.xn1, a->dq, N, dxn, st);
		linear_backward(&blk->lin[MOD_K], b.xn1, a->dk, N, dxn, st);
		linear_backward(&blk->lin[MOD_V], b.xn1, a->dv, N, dxn, st);
		rmsnorm_backward(dx, blk->d_attn_norm, dxn, b.x_in, blk->attn_norm, b.rstd1, N, D);
	}
	if (net->d_tok_emb)
		embedding_backward(net->d_tok_emb, tokens, dx, N, D);
	return ADA_OK;
}

int llama_backward(const struct llama_net *net, struct llama_acts *a, const int32_t *tokens,
		   int B, const struct nn_step *st)
{
	const struct llama_dims *d = &net->d;
	const int N = B * a->T, D = d->dim;

	/* Output layer: a->logits holds dL/dlogits; dL/d(final norm) goes to dxn. */
	if (net->output)
		gemm(0, 0, N, D, d->vocab, 1, a->logits, d->vocab, net->output, D, 0, a->dxn, D);
	else if (net->output_bf && !net->d_output)   /* the gradient is not needed after */
		frozen_backward_dx_consume(net->output_fw, a->logits, N, a->dxn, 0, net->output_bf);
	else
		frozen_backward_dx(net->output_fw, a->logits, N, a->dxn, 0, NULL);
	if (net->d_output)
		gemm(1, 0, d->vocab, D, N, 1, a->logits, d->vocab, a->xf, D, 1, net->d_output, D);
	return llama_backward_hidden(net, a, tokens, B, a->dxn, st);
}
