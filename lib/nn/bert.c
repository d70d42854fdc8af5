/* bert — encoder forward/backward over one activation arena; see bert.h. */
#include "nn/bert.h"

#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "nn/attention.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"
#include "nn/ops.h"
#include "nn/parallel.h"

/* Carve the arena: a first pass with base == NULL only sums the sizes. */
struct carver {
	char *base;
	size_t off;
	int overflow;
};

static void *carve_bytes(struct carver *c, size_t n, size_t size)
{
	size_t bytes, aligned;
	void *p;

	if (size_mul(n, size, &bytes) || size_add(bytes, 63, &aligned)) {
		c->overflow = 1;
		return NULL;
	}
	aligned &= ~(size_t)63;
	p = c->base ? c->base + c->off : NULL;
	if (size_add(c->off, aligned, &c->off))
		c->overflow = 1;
	return p;
}

static real *carve(struct carver *c, size_t n)
{
	return carve_bytes(c, n, sizeof(real));
}

/* a * b * c, flagging overflow (the sizes come from a model's config). */
static size_t mul3(struct carver *c, size_t a, size_t b, size_t d)
{
	size_t ab, abd;

	if (size_mul(a, b, &ab) || size_mul(ab, d, &abd)) {
		c->overflow = 1;
		return 0;
	}
	return abd;
}

static void layout(struct bert_acts *a, const struct bert_dims *d, struct carver *c)
{
	const size_t L = (size_t)d->n_layers, N = (size_t)a->N, D = (size_t)d->dim;
	const size_t F = (size_t)d->hidden;
	struct attention_shape s = { a->B, a->T, d->n_heads, d->n_heads, d->head_dim };

	a->emb = carve(c, N * D);
	a->mean_e = carve(c, N);
	a->rstd_e = carve(c, N);
	a->x = carve(c, mul3(c, L + 1, N, D));
	a->q = carve(c, mul3(c, L, N, D));
	a->k = carve(c, mul3(c, L, N, D));
	a->v = carve(c, mul3(c, L, N, D));
	a->att = carve(c, mul3(c, L * (size_t)a->B * (size_t)d->n_heads, (size_t)a->T,
			       (size_t)a->T));
	a->ctx = carve(c, mul3(c, L, N, D));
	a->s1 = carve(c, mul3(c, L, N, D));
	a->mean1 = carve(c, L * N);
	a->rstd1 = carve(c, L * N);
	a->x_mid = carve(c, mul3(c, L, N, D));
	a->u = carve(c, mul3(c, L, N, F));
	a->g = carve(c, mul3(c, L, N, F));
	a->s2 = carve(c, mul3(c, L, N, D));
	a->mean2 = carve(c, L * N);
	a->rstd2 = carve(c, L * N);
	a->dx = carve(c, N * D);
	a->ds = carve(c, N * D);
	a->dctx = carve(c, N * D);
	a->dq = carve(c, N * D);
	a->dk = carve(c, N * D);
	a->dv = carve(c, N * D);
	a->du = carve(c, N * F);
	a->dg = carve(c, N * F);
	a->att_scratch = carve(c, (size_t)a->n_threads * attention_scratch_per_thread(&s));
	a->dhidden = carve(c, N * D);
	a->zero_types = carve_bytes(c, N, sizeof(int32_t));
	a->hidden = a->x ? a->x + L * N * D : NULL;
}

int bert_acts_init(struct bert_acts *a, const struct bert_dims *d, int B, int T,
		   int n_threads)
{
	struct carver c = { 0 };

	memset(a, 0, sizeof(*a));
	if (B <= 0 || T <= 0 || n_threads <= 0 || d->dim <= 0 || d->hidden <= 0 ||
	    d->n_layers <= 0 || d->n_heads <= 0 || d->head_dim <= 0 || d->vocab <= 0 ||
	    d->type_vocab <= 0 ||
	    (long)d->n_heads * d->head_dim != d->dim || d->position_offset < 0 ||
	    (long)T + d->position_offset > d->max_positions || (long)B * T > 0x7fffffffL)
		return ADA_EINVAL;
	a->B = B;
	a->T = T;
	a->N = B * T;
	a->n_threads = n_threads;
	layout(a, d, &c);
	if (c.overflow)
		return ADA_ENOMEM;
	a->mem = xalloc_aligned(c.off, 1);
	if (!a->mem)
		return ADA_ENOMEM;
	a->bytes = c.off;
	c.base = a->mem;
	c.off = 0;
	layout(a, d, &c);
	return ADA_OK;
}

void bert_acts_release(struct bert_acts *a)
{
	free(a->mem);
	memset(a, 0, sizeof(*a));
}

/* Every v[i] in [lo, hi]. */
static int all_within(const int32_t *v, long n, int lo, int hi)
{
	for (long i = 0; i < n; i++)
		if (v[i] < lo || v[i] > hi)
			return 0;
	return 1;
}

/* emb[n] = word[tokens[n]] + pos[offset + n % T] + type[types[n]] */
struct embed_args {
	const struct bert_net *net;
	real *out;
	const real *in;
	const int32_t *tokens, *types;
	int B, T, D, off;
};

static void embed_rows(void *arg, long lo, long hi, int thread)
{
	const struct embed_args *a = arg;
	const struct bert_net *net = a->net;
	const int D = a->D;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		const real *w = net->word_emb + (long)a->tokens[n] * D;
		const real *p = net->pos_emb + (long)(a->off + n % a->T) * D;
		const real *t = net->type_emb + (long)a->types[n] * D;
		real *e = a->out + n * D;
		#pragma omp simd
		for (int c = 0; c < D; c++)
			e[c] = w[c] + p[c] + t[c];
	}
}

/* emb[n] = word[tokens[n]] + pos[offset + n % T] + type[types[n]] */
static void embed(const struct bert_net *net, real *emb, const int32_t *tokens,
		  const int32_t *types, int N, int T)
{
	struct embed_args a = { net, emb, NULL, tokens, types, 0, T, net->d.dim,
				net->d.position_offset };

	pool_for(N, nn_row_grain(net->d.dim), embed_rows, &a);
}

static void pos_bwd_rows(void *arg, long lo, long hi, int thread)
{
	const struct embed_args *a = arg;
	const int D = a->D;

	(void)thread;
	for (long t = lo; t < hi; t++) {
		real *dst = a->out + (long)(a->off + t) * D;
		for (int b = 0; b < a->B; b++) {
			const real *src = a->in + ((long)b * a->T + t) * D;
			#pragma omp simd
			for (int c = 0; c < D; c++)
				dst[c] += src[c];
		}
	}
}

/* dpos[offset + t] += sum over the batch of demb[b][t]: rows split by
 * position, the batch walked in order, so it is deterministic. */
static void pos_emb_backward(real *dpos, const real *demb, int B, int T, int D, int off)
{
	struct embed_args a = { NULL, dpos, demb, NULL, NULL, B, T, D, off };

	pool_for(T, nn_row_grain((long)B * D), pos_bwd_rows, &a);
}

int bert_forward(const struct bert_net *net, struct bert_acts *a, const int32_t *tokens,
		 const int32_t *token_types, const int32_t *lengths, int B,
		 const struct nn_step *st)
{
	const struct bert_dims *d = &net->d;
	const int T = a->T, N = B * T, D = d->dim, F = d->hidden;
	const size_t NA = (size_t)a->N;   /* per-layer stride uses the allocated shape */
	struct attention_shape s = { B, T, d->n_heads, d->n_heads, d->head_dim };
	const int32_t *types = token_types ? token_types : a->zero_types;
	int rc;

	if (B <= 0 || B > a->B || !all_within(tokens, N, 0, d->vocab - 1) ||
	    (token_types && !all_within(token_types, N, 0, d->type_vocab - 1)) ||
	    (lengths && !all_within(lengths, B, 1, T)))
		return ADA_EINVAL;
	embed(net, a->emb, tokens, types, N, T);
	layernorm_forward(a->x, a->mean_e, a->rstd_e, a->emb, net->ln_emb.w, net->ln_emb.b, N, D,
			  d->norm_eps);
	for (int l = 0; l < d->n_layers; l++) {
		const struct bert_block *blk = &net->blocks[l];
		real *x = a->x + l * NA * D, *next = a->x + (l + 1) * NA * D;
		real *q = a->q + l * NA * D, *k = a->k + l * NA * D, *v = a->v + l * NA * D;
		real *ctx = a->ctx + l * NA * D, *s1 = a->s1 + l * NA * D;
		real *x_mid = a->x_mid + l * NA * D, *s2 = a->s2 + l * NA * D;
		real *u = a->u + l * NA * F, *g = a->g + l * NA * F;
		real *att = a->att + l * (size_t)a->B * d->n_heads * T * T;

		if ((rc = linear_forward(&blk->lin[BMOD_QUERY], x, N, q, st)) ||
		    (rc = linear_forward(&blk->lin[BMOD_KEY], x, N, k, st)) ||
		    (rc = linear_forward(&blk->lin[BMOD_VALUE], x, N, v, st)))
			return rc;
		attention_bidir_forward(ctx, att, q, k, v, lengths, &s, a->n_threads);
		if ((rc = linear_forward(&blk->lin[BMOD_ATTN_OUT], ctx, N, s1, st)))
			return rc;
		if (blk->bn_attn && (rc = bottleneck_forward(blk->bn_attn, s1, N)))
			return rc;
		add_inplace(s1, x, (long)N * D);
		layernorm_forward(x_mid, a->mean1 + l * NA, a->rstd1 + l * NA, s1, blk->ln_attn.w,
				  blk->ln_attn.b, N, D, d->norm_eps);
		if ((rc = linear_forward(&blk->lin[BMOD_INTER], x_mid, N, u, st)))
			return rc;
		gelu_forward(g, u, (long)N * F);
		if ((rc = linear_forward(&blk->lin[BMOD_OUTPUT], g, N, s2, st)))
			return rc;
		if (blk->bn_out && (rc = bottleneck_forward(blk->bn_out, s2, N)))
			return rc;
		add_inplace(s2, x_mid, (long)N * D);
		layernorm_forward(next, a->mean2 + l * NA, a->rstd2 + l * NA, s2, blk->ln_out.w,
				  blk->ln_out.b, N, D, d->norm_eps);
	}
	return ADA_OK;
}

void bert_backward(const struct bert_net *net, struct bert_acts *a, const int32_t *tokens,
		   const int32_t *token_types, const int32_t *lengths, int B,
		   const real *dhidden, const struct nn_step *st)
{
	const struct bert_dims *d = &net->d;
	const int T = a->T, N = B * T, D = d->dim, F = d->hidden;
	const size_t NA = (size_t)a->N, nd = sizeof(real) * (size_t)N * D;
	struct attention_shape s = { B, T, d->n_heads, d->n_heads, d->head_dim };
	const int32_t *types = token_types ? token_types : a->zero_types;
	real *dx = a->dx, *ds = a->ds;
	const real *dout = dhidden;     /* dL/d(output of the layer being undone) */
	/* Without trained embeddings nothing needs dL/d(layer 0 input). */
	const int embeddings_train = net->d_word_emb || net->d_pos_emb || net->d_type_emb ||
				     net->ln_emb.dw || net->ln_emb.db;

	/* dx holds dL/dx_mid once LN_out has consumed dout, then dL/d(layer
	 * input), which is the next dout. */
	for (int l = d->n_layers - 1; l >= 0; l--) {
		const struct bert_block *blk = &net->blocks[l];
		const real *x = a->x + l * NA * D;
		const real *q = a->q + l * NA * D, *k = a->k + l * NA * D, *v = a->v + l * NA * D;
		const real *ctx = a->ctx + l * NA * D, *s1 = a->s1 + l * NA * D;
		const real *x_mid = a->x_mid + l * NA * D, *s2 = a->s2 + l * NA * D;
		const real *u = a->u + l * NA * F, *g = a->g + l * NA * F;
		const real *att = a->att + l * (size_t)a->B * d->n_heads * T * T;
		real *dx_in = l > 0 || embeddings_train ? dx : NULL;

		/* LN_out, then the residual (into dx) and the FFN branch (ds).
		 * The first contribution to each gradient buffer overwrites it. */
		layernorm_backward(ds, blk->ln_out.dw, blk->ln_out.db, dout, s2, blk->ln_out.w,
				   a->mean2 + l * NA, a->rstd2 + l * NA, N, D);
		memcpy(dx, ds, nd);
		if (blk->bn_out)
			bottleneck_backward(blk->bn_out, ds, N);
		linear_backward_into(&blk->lin[BMOD_OUTPUT], g, ds, N, a->dg, st);
		gelu_backward(a->du, a->dg, u, (long)N * F);
		linear_backward(&blk->lin[BMOD_INTER], x_mid, a->du, N, dx, st);

		/* LN_attn, then the residual (dx) and the attention branch (ds). */
		layernorm_backward(ds, blk->ln_attn.dw, blk->ln_attn.db, dx, s1, blk->ln_attn.w,
				   a->mean1 + l * NA, a->rstd1 + l * NA, N, D);
		if (dx_in)
			memcpy(dx_in, ds, nd);
		if (blk->bn_attn)
			bottleneck_backward(blk->bn_attn, ds, N);
		linear_backward_into(&blk->lin[BMOD_ATTN_OUT], ctx, ds, N, a->dctx, st);
		attention_bidir_backward(a->dq, a->dk, a->dv, a->dctx, att, q, k, v, lengths, &s,
					 a->att_scratch, a->n_threads);
		linear_backward(&blk->lin[BMOD_QUERY], x, a->dq, N, dx_in, st);
		linear_backward(&blk->lin[BMOD_KEY], x, a->dk, N, dx_in, st);
		linear_backward(&blk->lin[BMOD_VALUE], x, a->dv, N, dx_in, st);
		dout = dx;
	}
	if (!embeddings_train)
		return;

	/* Embedding LayerNorm and tables; ds becomes d(emb). */
	layernorm_backward(ds, net->ln_emb.dw, net->ln_emb.db, dx, a->emb, net->ln_emb.w,
			   a->mean_e, a->rstd_e, N, D);
	if (net->d_word_emb)
		embedding_backward(net->d_word_emb, tokens, ds, N, D);
	if (net->d_pos_emb)
		pos_emb_backward(net->d_pos_emb, ds, B, T, D, d->position_offset);
	if (net->d_type_emb)
		embedding_backward(net->d_type_emb, types, ds, N, D);
}
