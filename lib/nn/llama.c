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
	const size_t L = (size_t)d->n_layers, N = (size_t)a->N, D = (size_t)d->dim;
	const size_t F = (size_t)d->hidden, V = (size_t)d->vocab;
	const size_t QD = (size_t)d->n_heads * d->head_dim, KD = (size_t)d->n_kv_heads * d->head_dim;
	const size_t TT = (size_t)a->T * a->T;
	struct attention_shape s = { a->B, a->T, d->n_heads, d->n_kv_heads, d->head_dim };

	a->x_in = carve(c, L * N * D);
	a->xn1 = carve(c, L * N * D);
	a->rstd1 = carve(c, L * N);
	a->q = carve(c, L * N * QD);
	a->k = carve(c, L * N * KD);
	a->v = carve(c, L * N * KD);
	a->att = carve(c, L * (size_t)a->B * (size_t)d->n_heads * TT);
	a->y = carve(c, L * N * QD);
	a->x_mid = carve(c, L * N * D);
	a->xn2 = carve(c, L * N * D);
	a->rstd2 = carve(c, L * N);
	a->gate = carve(c, L * N * F);
	a->up = carve(c, L * N * F);
	a->h = carve(c, L * N * F);
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

static int acts_init(struct llama_acts *a, const struct llama_dims *d, int B, int T,
		     int n_threads, int lm_head)
{
	struct carver c = { 0 };

	memset(a, 0, sizeof(*a));
	if (B <= 0 || T <= 0 || n_threads <= 0 || d->head_dim % 2)
		return ADA_EINVAL;
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
	return acts_init(a, d, B, T, n_threads, 1);
}

int llama_acts_init_hidden(struct llama_acts *a, const struct llama_dims *d, int B, int T,
			   int n_threads)
{
	return acts_init(a, d, B, T, n_threads, 0);
}

void llama_acts_release(struct llama_acts *a)
{
	free(a->mem);
	memset(a, 0, sizeof(*a));
}

int llama_forward_hidden(const struct llama_net *net, struct llama_acts *a,
			 const int32_t *tokens, int B, const struct nn_step *st)
{
	const struct llama_dims *d = &net->d;
	const int T = a->T, N = B * T, D = d->dim, F = d->hidden;
	const int QD = d->n_heads * d->head_dim, KD = d->n_kv_heads * d->head_dim;
	const size_t NA = (size_t)a->N;   /* per-layer stride uses the allocated shape */
	struct attention_shape s = { B, T, d->n_heads, d->n_kv_heads, d->head_dim };
	real *x = a->x_in;
	int rc;

	if (B > a->B)
		return ADA_EINVAL;
	if (net->tok_emb)
		embedding_forward(x, tokens, net->tok_emb, N, D);
	else
		frozen_rows(net->tok_emb_fw, tokens, N, x);
	for (int l = 0; l < d->n_layers; l++) {
		const struct llama_block *blk = &net->blocks[l];
		real *x_in = a->x_in + l * NA * D, *xn1 = a->xn1 + l * NA * D;
		real *q = a->q + l * NA * QD, *k = a->k + l * NA * KD, *v = a->v + l * NA * KD;
		real *y = a->y + l * NA * QD, *x_mid = a->x_mid + l * NA * D;
		real *xn2 = a->xn2 + l * NA * D;
		real *g = a->gate + l * NA * F, *u = a->up + l * NA * F, *h = a->h + l * NA * F;
		real *att = a->att + l * (size_t)a->B * d->n_heads * T * T;
		real *next = l + 1 < d->n_layers ? a->x_in + (l + 1) * NA * D : a->x_out;

		if (x_in != x)
			memcpy(x_in, x, sizeof(real) * (size_t)N * D);
		rmsnorm_forward(xn1, a->rstd1 + l * NA, x_in, blk->attn_norm, N, D, d->norm_eps);
		if ((rc = linear_forward(&blk->lin[MOD_Q], xn1, N, q, st)) ||
		    (rc = linear_forward(&blk->lin[MOD_K], xn1, N, k, st)) ||
		    (rc = linear_forward(&blk->lin[MOD_V], xn1, N, v, st)))
			return rc;
		rope_forward(q, a->rope_cos, a->rope_sin, B, T, d->n_heads, d->head_dim);
		rope_forward(k, a->rope_cos, a->rope_sin, B, T, d->n_kv_heads, d->head_dim);
		attention_forward(y, att, q, k, v, &s, a->att_scratch, a->n_threads);
		if ((rc = linear_forward(&blk->lin[MOD_O], y, N, x_mid, st)))
			return rc;
		if (blk->bn_attn && (rc = bottleneck_forward(blk->bn_attn, x_mid, N)))
			return rc;
		add_inplace(x_mid, x_in, (long)N * D);
		rmsnorm_forward(xn2, a->rstd2 + l * NA, x_mid, blk->ffn_norm, N, D, d->norm_eps);
		if ((rc = linear_forward(&blk->lin[MOD_GATE], xn2, N, g, st)) ||
		    (rc = linear_forward(&blk->lin[MOD_UP], xn2, N, u, st)))
			return rc;
		swiglu_forward(h, g, u, N * F);
		if ((rc = linear_forward(&blk->lin[MOD_DOWN], h, N, next, st)))
			return rc;
		if (blk->bn_ffn && (rc = bottleneck_forward(blk->bn_ffn, next, N)))
			return rc;
		add_inplace(next, x_mid, (long)N * D);
		x = next;
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
		frozen_forward(net->output_fw, a->xf, N, a->logits);
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

void llama_backward_hidden(const struct llama_net *net, struct llama_acts *a,
			   const int32_t *tokens, int B, const real *dhidden,
			   const struct nn_step *st)
{
	const struct llama_dims *d = &net->d;
	const int T = a->T, N = B * T, D = d->dim, F = d->hidden;
	const int QD = d->n_heads * d->head_dim, KD = d->n_kv_heads * d->head_dim;
	const size_t NA = (size_t)a->N;
	struct attention_shape s = { B, T, d->n_heads, d->n_kv_heads, d->head_dim };
	real *dx = a->dx, *dxn = a->dxn;

	/* Final norm; dhidden may be dxn (llama_backward), which is free after. */
	memset(dx, 0, sizeof(real) * (size_t)N * D);
	rmsnorm_backward(dx, net->d_final_norm, dhidden, a->x_out, net->final_norm, a->rstdf, N, D);

	for (int l = d->n_layers - 1; l >= 0; l--) {
		const struct llama_block *blk = &net->blocks[l];
		const real *x_in = a->x_in + l * NA * D, *xn1 = a->xn1 + l * NA * D;
		const real *q = a->q + l * NA * QD, *k = a->k + l * NA * KD, *v = a->v + l * NA * KD;
		const real *y = a->y + l * NA * QD, *x_mid = a->x_mid + l * NA * D;
		const real *xn2 = a->xn2 + l * NA * D;
		const real *g = a->gate + l * NA * F, *u = a->up + l * NA * F, *h = a->h + l * NA * F;
		const real *att = a->att + l * (size_t)a->B * d->n_heads * T * T;

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
		linear_backward_into(&blk->lin[MOD_DOWN], h, dbranch, N, a->dh, st);
		swiglu_backward(a->dgate, a->dup, a->dh, g, u, N * F);
		linear_backward_into(&blk->lin[MOD_GATE], xn2, a->dgate, N, dxn, st);
		linear_backward(&blk->lin[MOD_UP], xn2, a->dup, N, dxn, st);
		rmsnorm_backward(dx, blk->d_ffn_norm, dxn, x_mid, blk->ffn_norm, a->rstd2 + l * NA,
				 N, D);

		/* Attention branch: dx is now dL/dx_mid. */
		dbranch = dx;
		if (blk->bn_attn) {
			memcpy(dxn, dx, sizeof(real) * (size_t)N * D);
			bottleneck_backward(blk->bn_attn, dxn, N);
			dbranch = dxn;
		}
		linear_backward_into(&blk->lin[MOD_O], y, dbranch, N, a->dy, st);
		attention_backward(a->dq, a->dk, a->dv, a->dy, att, q, k, v, &s, a->att_scratch,
				   a->n_threads);
		rope_backward(a->dq, a->rope_cos, a->rope_sin, B, T, d->n_heads, d->head_dim);
		rope_backward(a->dk, a->rope_cos, a->rope_sin, B, T, d->n_kv_heads, d->head_dim);
		linear_backward_into(&blk->lin[MOD_Q], xn1, a->dq, N, dxn, st);
		linear_backward(&blk->lin[MOD_K], xn1, a->dk, N, dxn, st);
		linear_backward(&blk->lin[MOD_V], xn1, a->dv, N, dxn, st);
		rmsnorm_backward(dx, blk->d_attn_norm, dxn, x_in, blk->attn_norm, a->rstd1 + l * NA,
				 N, D);
	}
	if (net->d_tok_emb)
		embedding_backward(net->d_tok_emb, tokens, dx, N, D);
}

void llama_backward(const struct llama_net *net, struct llama_acts *a, const int32_t *tokens,
		    int B, const struct nn_step *st)
{
	const struct llama_dims *d = &net->d;
	const int N = B * a->T, D = d->dim;

	/* Output layer: a->logits holds dL/dlogits; dL/d(final norm) goes to dxn. */
	if (net->output)
		gemm(0, 0, N, D, d->vocab, 1, a->logits, d->vocab, net->output, D, 0, a->dxn, D);
	else
		frozen_backward_dx(net->output_fw, a->logits, N, a->dxn, 0);
	if (net->d_output)
		gemm(1, 0, d->vocab, D, N, 1, a->logits, d->vocab, a->xf, D, 1, net->d_output, D);
	llama_backward_hidden(net, a, tokens, B, a->dxn, st);
}
