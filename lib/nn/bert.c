/* bert — BERT, RoBERTa and DeBERTa encoders over one activation arena; see bert.h. */
#include "nn/bert.h"

#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "nn/attention.h"
#include "nn/disentangled.h"
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

/* The rows past N of each layer's x, q and k slots (bert.h). */
static void extra_rows(const struct bert_dims *d, int *rx, int *rq, int *rk)
{
	const int R = d->disentangled ? 2 * d->rel_span : 0;

	*rq = d->p2c ? R : 0;
	*rk = d->c2p ? R : 0;
	*rx = d->share_att_key ? (*rq > *rk ? *rq : *rk) : 0;
}

static void layout(struct bert_acts *a, const struct bert_dims *d, struct carver *c)
{
	const size_t L = (size_t)d->n_layers, N = (size_t)a->N, D = (size_t)d->dim;
	const size_t F = (size_t)d->hidden, R = d->disentangled ? 2 * (size_t)d->rel_span : 0;
	const size_t NX = N + (size_t)a->rx, NQ = N + (size_t)a->rq, NK = N + (size_t)a->rk;
	struct attention_shape s = { a->B, a->T, d->n_heads, d->n_heads, d->head_dim };
	struct disentangled_shape ds = { a->B, a->T, d->n_heads, d->head_dim, d->rel_span,
					 d->c2p, d->p2c, d->scale_terms };
	size_t scratch = d->disentangled ? disentangled_scratch_per_thread(&ds)
					 : attention_scratch_per_thread(&s);

	a->emb = carve(c, N * D);
	a->mean_e = carve(c, N);
	a->rstd_e = carve(c, N);
	a->x = carve(c, mul3(c, L + 1, NX, D));
	a->q = carve(c, mul3(c, L, NQ, D));
	a->k = carve(c, mul3(c, L, NK, D));
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
	if (R) {
		a->rel = carve(c, R * D);
		a->mean_r = carve(c, R);
		a->rstd_r = carve(c, R);
		a->drel = carve(c, R * D);
		a->drel_in = carve(c, R * D);
	}
	if (d->disentangled)
		a->rel_idx = carve_bytes(c, 2 * (size_t)a->T - 1, sizeof(int32_t));
	a->dx = carve(c, NX * D);
	a->ds = carve(c, N * D);
	a->dctx = carve(c, N * D);
	a->dq = carve(c, NQ * D);
	a->dk = carve(c, NK * D);
	a->dv = carve(c, N * D);
	a->du = carve(c, N * F);
	a->dg = carve(c, N * F);
	a->att_scratch = carve(c, (size_t)a->n_threads * scratch);
	a->dhidden = carve(c, N * D);
	a->zero_types = carve_bytes(c, N, sizeof(int32_t));
	a->hidden = a->x ? a->x + L * NX * D : NULL;
}

/* The shape checks of bert_acts_init; fills a's shape fields. */
static int acts_shape(struct bert_acts *a, const struct bert_dims *d, int B, int T,
		      int n_threads)
{
	memset(a, 0, sizeof(*a));
	if (B <= 0 || T <= 0 || n_threads <= 0 || d->dim <= 0 || d->hidden <= 0 ||
	    d->n_layers <= 0 || d->n_heads <= 0 || d->head_dim <= 0 || d->vocab <= 0 ||
	    d->type_vocab < 0 || (d->type_vocab == 0 && !d->disentangled) ||
	    (long)d->n_heads * d->head_dim != d->dim || d->position_offset < 0 ||
	    (long)T + d->position_offset > d->max_positions || (long)B * T > 0x7fffffffL)
		return ADA_EINVAL;
	if (d->disentangled &&
	    (d->rel_span < 0 || d->rel_span > (1 << 24) || ((d->c2p || d->p2c) && !d->rel_span) ||
	     d->scale_terms < 1 || (d->rel_buckets > 0 && d->rel_max - 1 <= d->rel_buckets / 2)))
		return ADA_EINVAL;
	a->B = B;
	a->T = T;
	a->N = B * T;
	a->n_threads = n_threads;
	extra_rows(d, &a->rx, &a->rq, &a->rk);
	return ADA_OK;
}

size_t bert_acts_bytes(const struct bert_dims *d, int B, int T, int n_threads)
{
	struct carver c = { 0 };
	struct bert_acts a;

	if (acts_shape(&a, d, B, T, n_threads))
		return 0;
	layout(&a, d, &c);
	return c.overflow ? 0 : c.off;
}

int bert_acts_init(struct bert_acts *a, const struct bert_dims *d, int B, int T,
		   int n_threads)
{
	struct carver c = { 0 };
	int rc;

	if ((rc = acts_shape(a, d, B, T, n_threads)))
		return rc;
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
	if (d->disentangled)
		disentangled_rel_index(a->rel_idx, T, d->rel_span, d->rel_buckets, d->rel_max);
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
		real *e = a->out + n * D;

		memcpy(e, w, sizeof(real) * (size_t)D);
		if (net->pos_emb) {
			const real *p = net->pos_emb + (long)(a->off + n % a->T) * D;
			#pragma omp simd
			for (int c = 0; c < D; c++)
				e[c] += p[c];
		}
		if (net->d.type_vocab > 0) {
			const real *t = net->type_emb + (long)a->types[n] * D;
			#pragma omp simd
			for (int c = 0; c < D; c++)
				e[c] += t[c];
		}
	}
}

/* emb[n] = word[tokens[n]] + pos[offset + n % T] + type[types[n]], the last
 * two when the model has them (DeBERTa-v3 has neither) */
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

/* DeBERTa: the relative table after LN_rel (or as stored) into a->rel. */
static void rel_forward(const struct bert_net *net, struct bert_acts *a)
{
	const int R = 2 * net->d.rel_span, D = net->d.dim;

	if (net->ln_rel.w)
		layernorm_forward(a->rel, a->mean_r, a->rstd_r, net->rel_emb, net->ln_rel.w,
				  net->ln_rel.b, R, D, net->d.norm_eps);
	else
		memcpy(a->rel, net->rel_emb, sizeof(real) * (size_t)R * D);
}

/* The layer's attention: q, k, v (and DeBERTa's projected table) from x,
 * then ctx. x holds N rows (+ the table's with shared projections). */
static int self_attention_forward(const struct bert_net *net, struct bert_acts *a,
				  const struct bert_block *blk, const real *x, real *q, real *k,
				  real *v, real *ctx, real *att, const int32_t *lengths, int B,
				  const struct nn_step *st)
{
	const struct bert_dims *d = &net->d;
	const int N = B * a->T, D = d->dim, R = 2 * d->rel_span;
	const int shared = d->share_att_key;
	struct attention_shape s = { B, a->T, d->n_heads, d->n_heads, d->head_dim };
	struct disentangled_shape ds = { B, a->T, d->n_heads, d->head_dim, d->rel_span,
					 d->c2p, d->p2c, d->scale_terms };
	int rc;

	if ((rc = linear_forward(&blk->lin[BMOD_QUERY], x, N + (shared ? a->rq : 0), q, st)) ||
	    (rc = linear_forward(&blk->lin[BMOD_KEY], x, N + (shared ? a->rk : 0), k, st)) ||
	    (rc = linear_forward(&blk->lin[BMOD_VALUE], x, N, v, st)))
		return rc;
	if (!d->disentangled) {
		attention_bidir_forward(ctx, att, q, k, v, lengths, &s, a->n_threads);
		return ADA_OK;
	}
	if (!shared && ((d->p2c && (rc = linear_forward(&blk->pos_query, a->rel, R,
							q + (size_t)N * D, st))) ||
			(d->c2p && (rc = linear_forward(&blk->pos_key, a->rel, R,
							k + (size_t)N * D, st)))))
		return rc;
	disentangled_forward(ctx, att, q, k, v, q + (size_t)N * D, k + (size_t)N * D, a->rel_idx,
			     lengths, &ds, a->att_scratch, a->n_threads);
	return ADA_OK;
}

int bert_forward(const struct bert_net *net, struct bert_acts *a, const int32_t *tokens,
		 const int32_t *token_types, const int32_t *lengths, int B,
		 const struct nn_step *st)
{
	const struct bert_dims *d = &net->d;
	const int T = a->T, N = B * T, D = d->dim, F = d->hidden;
	const size_t NA = (size_t)a->N;   /* per-layer stride uses the allocated shape */
	const size_t NX = NA + (size_t)a->rx, NQ = NA + (size_t)a->rq, NK = NA + (size_t)a->rk;
	const size_t tail = sizeof(real) * (size_t)a->rx * D;
	const int32_t *types = token_types ? token_types : a->zero_types;
	int rc;

	if (B <= 0 || B > a->B || !all_within(tokens, N, 0, d->vocab - 1) ||
	    (token_types && d->type_vocab > 0 && !all_within(token_types, N, 0, d->type_vocab - 1)) ||
	    (lengths && !all_within(lengths, B, 1, T)))
		return ADA_EINVAL;
	if (a->rel)
		rel_forward(net, a);
	embed(net, a->emb, tokens, types, N, T);
	layernorm_forward(a->x, a->mean_e, a->rstd_e, a->emb, net->ln_emb.w, net->ln_emb.b, N, D,
			  d->norm_eps);
	if (tail)
		memcpy(a->x + (size_t)N * D, a->rel, tail);
	for (int l = 0; l < d->n_layers; l++) {
		const struct bert_block *blk = &net->blocks[l];
		real *x = a->x + l * NX * D, *next = a->x + (l + 1) * NX * D;
		real *q = a->q + l * NQ * D, *k = a->k + l * NK * D, *v = a->v + l * NA * D;
		real *ctx = a->ctx + l * NA * D, *s1 = a->s1 + l * NA * D;
		real *x_mid = a->x_mid + l * NA * D, *s2 = a->s2 + l * NA * D;
		real *u = a->u + l * NA * F, *g = a->g + l * NA * F;
		real *att = a->att + l * (size_t)a->B * d->n_heads * T * T;

		if ((rc = self_attention_forward(net, a, blk, x, q, k, v, ctx, att, lengths, B, st)))
			return rc;
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
		if (tail && l + 1 < d->n_layers)
			memcpy(next + (size_t)N * D, a->rel, tail);
	}
	return ADA_OK;
}

/* Does anything below the layers train (the embeddings, DeBERTa's table)? */
static int rel_trains(const struct bert_net *net)
{
	return net->d_rel_emb || net->ln_rel.dw || net->ln_rel.db;
}

/* Backward of self_attention_forward from a->dctx: the q/k/v inputs'
 * gradients into dx_in (NULL: not needed) and, for DeBERTa's table, into
 * a->drel when it trains. dx_in's first N rows hold the residual's share
 * already. */
static void self_attention_backward(const struct bert_net *net, struct bert_acts *a,
				    const struct bert_block *blk, const real *x, const real *q,
				    const real *k, const real *v, const real *att, real *dx_in,
				    const int32_t *lengths, int B, const struct nn_step *st)
{
	const struct bert_dims *d = &net->d;
	const int N = B * a->T, D = d->dim, R = 2 * d->rel_span;
	const int shared = d->share_att_key, table = rel_trains(net);
	struct attention_shape s = { B, a->T, d->n_heads, d->n_heads, d->head_dim };
	struct disentangled_shape ds = { B, a->T, d->n_heads, d->head_dim, d->rel_span,
					 d->c2p, d->p2c, d->scale_terms };
	const size_t nd = (size_t)N * D;

	if (!d->disentangled) {
		attention_bidir_backward(a->dq, a->dk, a->dv, a->dctx, att, q, k, v, lengths, &s,
					 a->att_scratch, a->n_threads);
		linear_backward(&blk->lin[BMOD_QUERY], x, a->dq, N, dx_in, st);
		linear_backward(&blk->lin[BMOD_KEY], x, a->dk, N, dx_in, st);
		linear_backward(&blk->lin[BMOD_VALUE], x, a->dv, N, dx_in, st);
		return;
	}
	disentangled_backward(a->dq, a->dk, a->dv, d->p2c ? a->dq + nd : NULL,
			      d->c2p ? a->dk + nd : NULL, a->dctx, att, q, k, v, q + nd, k + nd,
			      a->rel_idx, lengths, &ds, a->att_scratch, a->n_threads);
	if (!shared) {
		if (d->p2c)
			linear_backward(&blk->pos_query, a->rel, a->dq + nd, R,
					table ? a->drel : NULL, st);
		if (d->c2p)
			linear_backward(&blk->pos_key, a->rel, a->dk + nd, R, table ? a->drel : NULL,
					st);
	} else if (dx_in && a->rx) {
		/* the table's rows of the layer input start without a gradient */
		memset(dx_in + nd, 0, sizeof(real) * (size_t)a->rx * D);
	}
	/* the table's rows need their input gradient only when the table trains */
	linear_backward_rows(&blk->lin[BMOD_QUERY], x, a->dq, N + (shared ? a->rq : 0), dx_in,
			     table ? N + a->rq : N, st);
	linear_backward_rows(&blk->lin[BMOD_KEY], x, a->dk, N + (shared ? a->rk : 0), dx_in,
			     table ? N + a->rk : N, st);
	linear_backward(&blk->lin[BMOD_VALUE], x, a->dv, N, dx_in, st);
	if (shared && table && dx_in && a->rx)
		add_inplace(a->drel, dx_in + nd, (long)a->rx * D);
}

/* dL/d(table) -> LN_rel and the table's gradients. */
static void rel_backward(const struct bert_net *net, struct bert_acts *a)
{
	const int R = 2 * net->d.rel_span, D = net->d.dim;

	if (!net->ln_rel.w) {
		if (net->d_rel_emb)
			add_inplace(net->d_rel_emb, a->drel, (long)R * D);
		return;
	}
	layernorm_backward(a->drel_in, net->ln_rel.dw, net->ln_rel.db, a->drel, net->rel_emb,
			   net->ln_rel.w, a->mean_r, a->rstd_r, R, D);
	if (net->d_rel_emb)
		add_inplace(net->d_rel_emb, a->drel_in, (long)R * D);
}

void bert_backward(const struct bert_net *net, struct bert_acts *a, const int32_t *tokens,
		   const int32_t *token_types, const int32_t *lengths, int B,
		   const real *dhidden, const struct nn_step *st)
{
	const struct bert_dims *d = &net->d;
	const int T = a->T, N = B * T, D = d->dim, F = d->hidden;
	const size_t NA = (size_t)a->N, nd = sizeof(real) * (size_t)N * D;
	const size_t NX = NA + (size_t)a->rx, NQ = NA + (size_t)a->rq, NK = NA + (size_t)a->rk;
	const int32_t *types = token_types ? token_types : a->zero_types;
	real *dx = a->dx, *ds = a->ds;
	const real *dout = dhidden;     /* dL/d(output of the layer being undone) */
	const int table = a->rel && rel_trains(net);
	/* Without trained embeddings nothing needs dL/d(layer 0 input). */
	const int embeddings_train = net->d_word_emb || net->d_pos_emb || net->d_type_emb ||
				     net->ln_emb.dw || net->ln_emb.db;

	if (table)
		memset(a->drel, 0, sizeof(real) * 2 * (size_t)d->rel_span * D);
	/* dx holds dL/dx_mid once LN_out has consumed dout, then dL/d(layer
	 * input), which is the next dout. */
	for (int l = d->n_layers - 1; l >= 0; l--) {
		const struct bert_block *blk = &net->blocks[l];
		const real *x = a->x + l * NX * D;
		const real *q = a->q + l * NQ * D, *k = a->k + l * NK * D, *v = a->v + l * NA * D;
		const real *ctx = a->ctx + l * NA * D, *s1 = a->s1 + l * NA * D;
		const real *x_mid = a->x_mid + l * NA * D, *s2 = a->s2 + l * NA * D;
		const real *u = a->u + l * NA * F, *g = a->g + l * NA * F;
		const real *att = a->att + l * (size_t)a->B * d->n_heads * T * T;
		real *dx_in = l > 0 || embeddings_train || (table && d->share_att_key) ? dx : NULL;

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
		self_attention_backward(net, a, blk, x, q, k, v, att, dx_in, lengths, B, st);
		dout = dx;
	}
	if (table)
		rel_backward(net, a);
	if (!embeddings_train)
		return;

	/* Embedding LayerNorm and tables; ds becomes d(emb). */
	layernorm_backward(ds, net->ln_emb.dw, net->ln_emb.db, dx, a->emb, net->ln_emb.w,
			   a->mean_e, a->rstd_e, N, D);
	if (net->d_word_emb)
		embedding_backward(net->d_word_emb, tokens, ds, N, D);
	if (net->d_pos_emb)
		pos_emb_backward(net->d_pos_emb, ds, B, T, D, d->position_offset);
	if (net->d_type_emb && d->type_vocab > 0)
		embedding_backward(net->d_type_emb, types, ds, N, D);
}
