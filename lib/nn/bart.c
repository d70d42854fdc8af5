/* bart — encoder-decoder forward/backward over one activation arena; see bart.h. */
#include "nn/bart.h"

#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "nn/attention.h"
#include "nn/blas.h"
#include "nn/cross_attention.h"
#include "nn/frozen.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"
#include "nn/ops.h"
#include "nn/parallel.h"
#include "nn/smooth_xent.h"

void bart_dims_of(const struct model_config *c, struct bart_dims *d)
{
	*d = (struct bart_dims){
		.dim = c->dim, .hidden = c->hidden_dim, .n_enc_layers = c->n_layers - c->n_dec_layers,
		.n_dec_layers = c->n_dec_layers, .n_heads = c->n_heads, .head_dim = c->head_dim,
		.vocab = c->vocab_size, .max_positions = c->max_positions,
		.position_offset = c->position_offset, .embed_scale = (real)c->embed_scale,
		.norm_eps = (real)c->norm_eps,
	};
}

/* ---- the arena -------------------------------------------------------- */

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

/* a * b * d, flagging overflow (the sizes come from a model's config). */
static size_t mul3(struct carver *c, size_t a, size_t b, size_t d)
{
	size_t ab, abd;

	if (size_mul(a, b, &ab) || size_mul(ab, d, &abd)) {
		c->overflow = 1;
		return 0;
	}
	return abd;
}

static size_t max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

static void layout(struct bart_acts *a, const struct bart_dims *d, struct carver *c)
{
	const size_t Le = (size_t)d->n_enc_layers, Ld = (size_t)d->n_dec_layers;
	const size_t Ns = (size_t)a->Ns, Nt = (size_t)a->Nt, D = (size_t)d->dim;
	const size_t F = (size_t)d->hidden, BH = (size_t)a->B * (size_t)d->n_heads;
	const size_t S = (size_t)a->cap_S, T = (size_t)a->cap_T, R = max_sz(Ns, Nt);
	struct attention_shape se = { a->B, a->cap_S, d->n_heads, d->n_heads, d->head_dim };
	struct attention_shape sd = { a->B, a->cap_T, d->n_heads, d->n_heads, d->head_dim };
	struct cross_shape sc = { a->B, a->cap_T, a->cap_S, d->n_heads, d->head_dim };
	size_t scratch = max_sz(max_sz(attention_scratch_per_thread(&se),
				       attention_scratch_per_thread(&sd)),
				cross_attention_scratch_per_thread(&sc));

	a->e_emb = carve(c, Ns * D);
	a->e_mean0 = carve(c, Ns);
	a->e_rstd0 = carve(c, Ns);
	a->e_x = carve(c, mul3(c, Le + 1, Ns, D));
	a->e_q = carve(c, mul3(c, Le, Ns, D));
	a->e_k = carve(c, mul3(c, Le, Ns, D));
	a->e_v = carve(c, mul3(c, Le, Ns, D));
	a->e_ctx = carve(c, mul3(c, Le, Ns, D));
	a->e_s1 = carve(c, mul3(c, Le, Ns, D));
	a->e_mid = carve(c, mul3(c, Le, Ns, D));
	a->e_s2 = carve(c, mul3(c, Le, Ns, D));
	a->e_att = carve(c, mul3(c, Le * BH, S, S));
	a->e_mean1 = carve(c, Le * Ns);
	a->e_rstd1 = carve(c, Le * Ns);
	a->e_mean2 = carve(c, Le * Ns);
	a->e_rstd2 = carve(c, Le * Ns);
	a->e_u = carve(c, mul3(c, Le, Ns, F));
	a->e_g = carve(c, mul3(c, Le, Ns, F));

	a->d_emb = carve(c, Nt * D);
	a->d_mean0 = carve(c, Nt);
	a->d_rstd0 = carve(c, Nt);
	a->d_x = carve(c, mul3(c, Ld + 1, Nt, D));
	a->d_q = carve(c, mul3(c, Ld, Nt, D));
	a->d_k = carve(c, mul3(c, Ld, Nt, D));
	a->d_v = carve(c, mul3(c, Ld, Nt, D));
	a->d_ctx = carve(c, mul3(c, Ld, Nt, D));
	a->d_s1 = carve(c, mul3(c, Ld, Nt, D));
	a->d_x1 = carve(c, mul3(c, Ld, Nt, D));
	a->d_att = carve(c, mul3(c, Ld * BH, T, T));
	a->c_q = carve(c, mul3(c, Ld, Nt, D));
	a->c_ctx = carve(c, mul3(c, Ld, Nt, D));
	a->d_s2 = carve(c, mul3(c, Ld, Nt, D));
	a->d_x2 = carve(c, mul3(c, Ld, Nt, D));
	a->d_s3 = carve(c, mul3(c, Ld, Nt, D));
	a->c_k = carve(c, mul3(c, Ld, Ns, D));
	a->c_v = carve(c, mul3(c, Ld, Ns, D));
	a->c_att = carve(c, mul3(c, Ld * BH, T, S));
	a->d_mean1 = carve(c, Ld * Nt);
	a->d_rstd1 = carve(c, Ld * Nt);
	a->d_mean2 = carve(c, Ld * Nt);
	a->d_rstd2 = carve(c, Ld * Nt);
	a->d_mean3 = carve(c, Ld * Nt);
	a->d_rstd3 = carve(c, Ld * Nt);
	a->d_u = carve(c, mul3(c, Ld, Nt, F));
	a->d_g = carve(c, mul3(c, Ld, Nt, F));
	a->logits = carve(c, mul3(c, Nt, (size_t)d->vocab, 1));
	a->row_loss = carve_bytes(c, Nt, sizeof(double));
	a->row_nll = carve_bytes(c, Nt, sizeof(double));

	a->gx = carve(c, R * D);
	a->gs = carve(c, R * D);
	a->gctx = carve(c, R * D);
	a->gq = carve(c, R * D);
	a->gk = carve(c, R * D);
	a->gv = carve(c, R * D);
	a->gu = carve(c, R * F);
	a->gg = carve(c, R * F);
	a->g_enc = carve(c, Ns * D);
	a->g_ck = carve(c, Ns * D);
	a->g_cv = carve(c, Ns * D);
	a->att_scratch = carve(c, mul3(c, (size_t)a->n_threads, scratch, 1));
	a->enc_out = a->e_x ? a->e_x + Le * Ns * D : NULL;
	a->dec_out = a->d_x ? a->d_x + Ld * Nt * D : NULL;
}

int bart_acts_init(struct bart_acts *a, const struct bart_dims *d, int B, int S, int T,
		   int n_threads)
{
	struct carver c = { 0 };

	memset(a, 0, sizeof(*a));
	if (B <= 0 || S <= 0 || T <= 0 || n_threads <= 0 || d->dim <= 0 || d->hidden <= 0 ||
	    d->n_enc_layers <= 0 || d->n_dec_layers <= 0 || d->n_heads <= 0 || d->head_dim <= 0 ||
	    d->vocab <= 0 || (long)d->n_heads * d->head_dim != d->dim || d->position_offset < 0 ||
	    (long)S + d->position_offset > d->max_positions ||
	    (long)T + d->position_offset > d->max_positions || (long)B * S > 0x7fffffffL ||
	    (long)B * T > 0x7fffffffL)
		return ADA_EINVAL;
	a->B = B;
	a->S = a->cap_S = S;
	a->T = a->cap_T = T;
	a->Ns = B * S;
	a->Nt = B * T;
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

size_t bart_acts_bytes(const struct bart_dims *d, int B, int S, int T, int n_threads)
{
	struct bart_acts a = { .B = B, .S = S, .T = T, .cap_S = S, .cap_T = T,
			       .n_threads = n_threads };
	struct carver c = { 0 };

	if (B <= 0 || S <= 0 || T <= 0 || n_threads <= 0 || (long)B * S > 0x7fffffffL ||
	    (long)B * T > 0x7fffffffL)
		return 0;
	a.Ns = B * S;
	a.Nt = B * T;
	layout(&a, d, &c);
	return c.overflow ? 0 : c.off;
}

int bart_acts_set_shape(struct bart_acts *a, int S, int T)
{
	if (S < 1 || S > a->cap_S || T < 1 || T > a->cap_T)
		return ADA_EINVAL;
	a->S = S;
	a->T = T;
	return ADA_OK;
}

void bart_acts_release(struct bart_acts *a)
{
	free(a->mem);
	memset(a, 0, sizeof(*a));
}

/* ---- embeddings ------------------------------------------------------- */

static int all_within(const int32_t *v, long n, int lo, int hi)
{
	for (long i = 0; i < n; i++)
		if (v[i] < lo || v[i] > hi)
			return 0;
	return 1;
}

struct embed_args {
	real *out;
	const real *pos, *in;
	real scale;
	int B, T, D, off;
};

static void scale_add_pos_rows(void *arg, long lo, long hi, int thread)
{
	const struct embed_args *a = arg;
	const int D = a->D;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		const real *p = a->pos + (long)(a->off + n % a->T) * D;
		real *e = a->out + n * D;
		#pragma omp simd
		for (int c = 0; c < D; c++)
			e[c] = e[c] * a->scale + p[c];
	}
}

/* emb[n] = scale * E[tokens[n]] + pos[offset + n % T] */
static void embed(const struct bart_net *net, const real *pos, real *emb, const int32_t *tokens,
		  int N, int T)
{
	const int D = net->d.dim;
	struct embed_args a = { emb, pos, NULL, net->d.embed_scale, 0, T, D, net->d.position_offset };

	if (net->tok_emb)
		embedding_forward(emb, tokens, net->tok_emb, N, D);
	else
		frozen_rows(net->tok_emb_fw, tokens, N, emb);
	pool_for(N, nn_row_grain(D), scale_add_pos_rows, &a);
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

/* From demb = dL/d(emb) [B*T][D]: the position table's gradient (rows
 * split by position, the batch summed in order), then the token table's,
 * scaled. demb is scaled in place. */
static void embed_backward(const struct bart_net *net, real *dpos, real *demb,
			   const int32_t *tokens, int B, int T)
{
	const int D = net->d.dim;
	const long n = (long)B * T * D;

	if (dpos) {
		struct embed_args a = { dpos, NULL, demb, 0, B, T, D, net->d.position_offset };
		pool_for(T, nn_row_grain((long)B * D), pos_bwd_rows, &a);
	}
	if (!net->d_tok_emb)
		return;
	for (long i = 0; i < n; i++)
		demb[i] *= net->d.embed_scale;
	embedding_backward(net->d_tok_emb, tokens, demb, B * T, D);
}

/* ---- forward ---------------------------------------------------------- */

int bart_encode(const struct bart_net *net, struct bart_acts *a, const int32_t *src,
		const int32_t *src_len, int B, const struct nn_step *st)
{
	const struct bart_dims *d = &net->d;
	const int S = a->S, N = B * S, D = d->dim, F = d->hidden;
	const size_t NA = (size_t)a->Ns;   /* per-layer strides keep the allocated shape */
	struct attention_shape s = { B, S, d->n_heads, d->n_heads, d->head_dim };
	int rc;

	if (B <= 0 || B > a->B || !all_within(src, N, 0, d->vocab - 1) ||
	    (src_len && !all_within(src_len, B, 1, S)))
		return ADA_EINVAL;
	embed(net, net->enc_pos, a->e_emb, src, N, S);
	layernorm_forward(a->e_x, a->e_mean0, a->e_rstd0, a->e_emb, net->enc_ln_emb.w,
			  net->enc_ln_emb.b, N, D, d->norm_eps);
	for (int l = 0; l < d->n_enc_layers; l++) {
		const struct bart_block *blk = &net->blocks[l];
		real *x = a->e_x + l * NA * D, *next = a->e_x + (l + 1) * NA * D;
		real *q = a->e_q + l * NA * D, *k = a->e_k + l * NA * D, *v = a->e_v + l * NA * D;
		real *ctx = a->e_ctx + l * NA * D, *s1 = a->e_s1 + l * NA * D;
		real *mid = a->e_mid + l * NA * D, *s2 = a->e_s2 + l * NA * D;
		real *u = a->e_u + l * NA * F, *g = a->e_g + l * NA * F;
		real *att = a->e_att + l * (size_t)a->B * d->n_heads * a->cap_S * a->cap_S;

		if ((rc = linear_forward(&blk->lin[BART_SELF_Q], x, N, q, st)) ||
		    (rc = linear_forward(&blk->lin[BART_SELF_K], x, N, k, st)) ||
		    (rc = linear_forward(&blk->lin[BART_SELF_V], x, N, v, st)))
			return rc;
		attention_bidir_forward(ctx, att, q, k, v, src_len, &s, a->n_threads);
		if ((rc = linear_forward(&blk->lin[BART_SELF_O], ctx, N, s1, st)))
			return rc;
		add_inplace(s1, x, (long)N * D);
		layernorm_forward(mid, a->e_mean1 + l * NA, a->e_rstd1 + l * NA, s1, blk->ln_self.w,
				  blk->ln_self.b, N, D, d->norm_eps);
		if ((rc = linear_forward(&blk->lin[BART_FC1], mid, N, u, st)))
			return rc;
		gelu_forward(g, u, (long)N * F);
		if ((rc = linear_forward(&blk->lin[BART_FC2], g, N, s2, st)))
			return rc;
		add_inplace(s2, mid, (long)N * D);
		layernorm_forward(next, a->e_mean2 + l * NA, a->e_rstd2 + l * NA, s2, blk->ln_ffn.w,
				  blk->ln_ffn.b, N, D, d->norm_eps);
	}
	return ADA_OK;
}

/* logits = h E^T + bias over N rows. */
static void lm_head(const struct bart_net *net, const real *h, int N, real *logits)
{
	const int D = net->d.dim, V = net->d.vocab;

	if (net->output)
		gemm(0, 1, N, V, D, 1, h, D, net->output, D, 0, logits, V);
	else
		frozen_forward(net->output_fw, h, N, logits, NULL);   /* f32: BART has no bf16 path */
	if (net->logits_bias)
		bias_forward(logits, net->logits_bias, N, V);
}

int bart_decode(const struct bart_net *net, struct bart_acts *a, const int32_t *dec_in,
		const int32_t *src_len, const int32_t *targets, int B, real eps, real grad_scale,
		double *loss_sum, double *nll_sum, int64_t *n_targets, const struct nn_step *st)
{
	const struct bart_dims *d = &net->d;
	const int S = a->S, T = a->T, N = B * T, Ns = B * S, D = d->dim, F = d->hidden;
	const size_t NA = (size_t)a->Nt, NSA = (size_t)a->Ns;
	const int Le = d->n_enc_layers;
	struct attention_shape s = { B, T, d->n_heads, d->n_heads, d->head_dim };
	struct cross_shape cs = { B, T, S, d->n_heads, d->head_dim };
	int rc;

	if (B <= 0 || B > a->B || !all_within(dec_in, N, 0, d->vocab - 1) ||
	    (src_len && !all_within(src_len, B, 1, S)) ||
	    (targets && !all_within(targets, N, -1, d->vocab - 1)))
		return ADA_EINVAL;
	embed(net, net->dec_pos, a->d_emb, dec_in, N, T);
	layernorm_forward(a->d_x, a->d_mean0, a->d_rstd0, a->d_emb, net->dec_ln_emb.w,
			  net->dec_ln_emb.b, N, D, d->norm_eps);
	for (int l = 0; l < d->n_dec_layers; l++) {
		const struct bart_block *blk = &net->blocks[Le + l];
		real *x = a->d_x + l * NA * D, *next = a->d_x + (l + 1) * NA * D;
		real *q = a->d_q + l * NA * D, *k = a->d_k + l * NA * D, *v = a->d_v + l * NA * D;
		real *ctx = a->d_ctx + l * NA * D, *s1 = a->d_s1 + l * NA * D;
		real *x1 = a->d_x1 + l * NA * D, *cq = a->c_q + l * NA * D;
		real *ck = a->c_k + l * NSA * D, *cv = a->c_v + l * NSA * D;
		real *cctx = a->c_ctx + l * NA * D, *s2 = a->d_s2 + l * NA * D;
		real *x2 = a->d_x2 + l * NA * D, *s3 = a->d_s3 + l * NA * D;
		real *u = a->d_u + l * NA * F, *g = a->d_g + l * NA * F;
		real *att = a->d_att + l * (size_t)a->B * d->n_heads * a->cap_T * a->cap_T;
		real *catt = a->c_att + l * (size_t)a->B * d->n_heads * a->cap_T * a->cap_S;

		/* causal self-attention */
		if ((rc = linear_forward(&blk->lin[BART_SELF_Q], x, N, q, st)) ||
		    (rc = linear_forward(&blk->lin[BART_SELF_K], x, N, k, st)) ||
		    (rc = linear_forward(&blk->lin[BART_SELF_V], x, N, v, st)))
			return rc;
		attention_forward(ctx, att, q, k, v, &s, a->att_scratch, a->n_threads);
		if ((rc = linear_forward(&blk->lin[BART_SELF_O], ctx, N, s1, st)))
			return rc;
		add_inplace(s1, x, (long)N * D);
		layernorm_forward(x1, a->d_mean1 + l * NA, a->d_rstd1 + l * NA, s1, blk->ln_self.w,
				  blk->ln_self.b, N, D, d->norm_eps);
		/* cross-attention over the encoder output */
		if ((rc = linear_forward(&blk->lin[BART_CROSS_Q], x1, N, cq, st)) ||
		    (rc = linear_forward(&blk->lin[BART_CROSS_K], a->enc_out, Ns, ck, st)) ||
		    (rc = linear_forward(&blk->lin[BART_CROSS_V], a->enc_out, Ns, cv, st)))
			return rc;
		cross_attention_forward(cctx, catt, cq, ck, cv, src_len, &cs, a->n_threads);
		if ((rc = linear_forward(&blk->lin[BART_CROSS_O], cctx, N, s2, st)))
			return rc;
		add_inplace(s2, x1, (long)N * D);
		layernorm_forward(x2, a->d_mean2 + l * NA, a->d_rstd2 + l * NA, s2, blk->ln_cross.w,
				  blk->ln_cross.b, N, D, d->norm_eps);
		/* FFN */
		if ((rc = linear_forward(&blk->lin[BART_FC1], x2, N, u, st)))
			return rc;
		gelu_forward(g, u, (long)N * F);
		if ((rc = linear_forward(&blk->lin[BART_FC2], g, N, s3, st)))
			return rc;
		add_inplace(s3, x2, (long)N * D);
		layernorm_forward(next, a->d_mean3 + l * NA, a->d_rstd3 + l * NA, s3, blk->ln_ffn.w,
				  blk->ln_ffn.b, N, D, d->norm_eps);
	}
	lm_head(net, a->d_x + (size_t)d->n_dec_layers * NA * D, N, a->logits);
	if (targets) {
		double loss = softmax_xent_smooth(a->logits, targets, N, d->vocab, eps, grad_scale,
						  a->row_loss, a->row_nll, nll_sum, n_targets);
		if (loss_sum)
			*loss_sum = loss;
	}
	return ADA_OK;
}

int bart_forward(const struct bart_net *net, struct bart_acts *a, const int32_t *src,
		 const int32_t *src_len, const int32_t *dec_in, const int32_t *targets, int B,
		 real eps, real grad_scale, double *loss_sum, double *nll_sum, int64_t *n_targets,
		 const struct nn_step *st)
{
	const struct bart_dims *d = &net->d;
	int rc;

	/* check the decoder's inputs too before computing anything */
	if (B <= 0 || B > a->B || !all_within(dec_in, (long)B * a->T, 0, d->vocab - 1) ||
	    (targets && !all_within(targets, (long)B * a->T, -1, d->vocab - 1)))
		return ADA_EINVAL;
	if ((rc = bart_encode(net, a, src, src_len, B, st)))
		return rc;
	return bart_decode(net, a, dec_in, src_len, targets, B, eps, grad_scale, loss_sum, nll_sum,
			   n_targets, st);
}

/* ---- backward --------------------------------------------------------- */

static int ln_trains(const struct bart_ln *ln)
{
	return ln->dw || ln->db;
}

void bart_backward(const struct bart_net *net, struct bart_acts *a, const int32_t *src,
		   const int32_t *src_len, const int32_t *dec_in, int B, const struct nn_step *st)
{
	const struct bart_dims *d = &net->d;
	const int S = a->S, T = a->T, N = B * T, Ns = B * S, D = d->dim, F = d->hidden;
	const int V = d->vocab, Le = d->n_enc_layers;
	const size_t NA = (size_t)a->Nt, NSA = (size_t)a->Ns;
	const size_t nd = sizeof(real) * (size_t)N * D, nsd = sizeof(real) * (size_t)Ns * D;
	struct attention_shape s = { B, T, d->n_heads, d->n_heads, d->head_dim };
	struct attention_shape se = { B, S, d->n_heads, d->n_heads, d->head_dim };
	struct cross_shape cs = { B, T, S, d->n_heads, d->head_dim };
	const real *h = a->d_x + (size_t)d->n_dec_layers * NA * D;
	real *gx = a->gx, *gs = a->gs;
	const int dec_emb_trains = net->d_tok_emb || net->d_dec_pos || ln_trains(&net->dec_ln_emb);
	const int enc_emb_trains = net->d_tok_emb || net->d_enc_pos || ln_trains(&net->enc_ln_emb);

	/* The LM head: dL/dh into gx; its own gradients. */
	if (net->output)
		gemm(0, 0, N, D, V, 1, a->logits, V, net->output, D, 0, gx, D);
	else
		frozen_backward_dx(net->output_fw, a->logits, N, gx, 0, NULL);
	if (net->d_output)
		gemm(1, 0, V, D, N, 1, a->logits, V, h, D, 1, net->d_output, D);
	if (net->d_logits_bias)
		bias_backward(net->d_logits_bias, a->logits, N, V);

	memset(a->g_enc, 0, nsd);
	/* gx holds dL/d(the output of the layer being undone) at the top of
	 * each iteration, dL/d(its input) at the bottom. */
	for (int l = d->n_dec_layers - 1; l >= 0; l--) {
		const struct bart_block *blk = &net->blocks[Le + l];
		const real *x = a->d_x + l * NA * D;
		const real *q = a->d_q + l * NA * D, *k = a->d_k + l * NA * D, *v = a->d_v + l * NA * D;
		const real *ctx = a->d_ctx + l * NA * D, *s1 = a->d_s1 + l * NA * D;
		const real *x1 = a->d_x1 + l * NA * D, *cq = a->c_q + l * NA * D;
		const real *ck = a->c_k + l * NSA * D, *cv = a->c_v + l * NSA * D;
		const real *cctx = a->c_ctx + l * NA * D, *s2 = a->d_s2 + l * NA * D;
		const real *x2 = a->d_x2 + l * NA * D, *s3 = a->d_s3 + l * NA * D;
		const real *u = a->d_u + l * NA * F, *g = a->d_g + l * NA * F;
		const real *att = a->d_att + l * (size_t)a->B * d->n_heads * a->cap_T * a->cap_T;
		const real *catt = a->c_att + l * (size_t)a->B * d->n_heads * a->cap_T * a->cap_S;
		const int need_dx = l > 0 || dec_emb_trains;

		/* LN_ffn, then the residual (gx) and the FFN branch (gs) */
		layernorm_backward(gs, blk->ln_ffn.dw, blk->ln_ffn.db, gx, s3, blk->ln_ffn.w,
				   a->d_mean3 + l * NA, a->d_rstd3 + l * NA, N, D);
		memcpy(gx, gs, nd);
		linear_backward_into(&blk->lin[BART_FC2], g, gs, N, a->gg, st);
		gelu_backward(a->gu, a->gg, u, (long)N * F);
		linear_backward(&blk->lin[BART_FC1], x2, a->gu, N, gx, st);

		/* LN_cross, then the residual and the cross-attention branch */
		layernorm_backward(gs, blk->ln_cross.dw, blk->ln_cross.db, gx, s2, blk->ln_cross.w,
				   a->d_mean2 + l * NA, a->d_rstd2 + l * NA, N, D);
		memcpy(gx, gs, nd);
		linear_backward_into(&blk->lin[BART_CROSS_O], cctx, gs, N, a->gctx, st);
		cross_attention_backward(a->gq, a->g_ck, a->g_cv, a->gctx, catt, cq, ck, cv, src_len,
					 &cs, a->att_scratch, a->n_threads);
		linear_backward(&blk->lin[BART_CROSS_K], a->enc_out, a->g_ck, Ns, a->g_enc, st);
		linear_backward(&blk->lin[BART_CROSS_V], a->enc_out, a->g_cv, Ns, a->g_enc, st);
		linear_backward(&blk->lin[BART_CROSS_Q], x1, a->gq, N, gx, st);

		/* LN_self, then the residual and the self-attention branch */
		layernorm_backward(gs, blk->ln_self.dw, blk->ln_self.db, gx, s1, blk->ln_self.w,
				   a->d_mean1 + l * NA, a->d_rstd1 + l * NA, N, D);
		if (need_dx)
			memcpy(gx, gs, nd);
		linear_backward_into(&blk->lin[BART_SELF_O], ctx, gs, N, a->gctx, st);
		attention_backward(a->gq, a->gk, a->gv, a->gctx, att, q, k, v, &s, a->att_scratch,
				   a->n_threads);
		linear_backward(&blk->lin[BART_SELF_Q], x, a->gq, N, need_dx ? gx : NULL, st);
		linear_backward(&blk->lin[BART_SELF_K], x, a->gk, N, need_dx ? gx : NULL, st);
		linear_backward(&blk->lin[BART_SELF_V], x, a->gv, N, need_dx ? gx : NULL, st);
	}
	if (dec_emb_trains) {
		layernorm_backward(gs, net->dec_ln_emb.dw, net->dec_ln_emb.db, gx, a->d_emb,
				   net->dec_ln_emb.w, a->d_mean0, a->d_rstd0, N, D);
		embed_backward(net, net->d_dec_pos, gs, dec_in, B, T);
	}

	/* The encoder, from dL/d(its output) gathered by every cross-attention. */
	memcpy(gx, a->g_enc, nsd);
	for (int l = Le - 1; l >= 0; l--) {
		const struct bart_block *blk = &net->blocks[l];
		const real *x = a->e_x + l * NSA * D;
		const real *q = a->e_q + l * NSA * D, *k = a->e_k + l * NSA * D;
		const real *v = a->e_v + l * NSA * D, *ctx = a->e_ctx + l * NSA * D;
		const real *s1 = a->e_s1 + l * NSA * D, *mid = a->e_mid + l * NSA * D;
		const real *s2 = a->e_s2 + l * NSA * D;
		const real *u = a->e_u + l * NSA * F, *g = a->e_g + l * NSA * F;
		const real *att = a->e_att + l * (size_t)a->B * d->n_heads * a->cap_S * a->cap_S;
		const int need_dx = l > 0 || enc_emb_trains;

		layernorm_backward(gs, blk->ln_ffn.dw, blk->ln_ffn.db, gx, s2, blk->ln_ffn.w,
				   a->e_mean2 + l * NSA, a->e_rstd2 + l * NSA, Ns, D);
		memcpy(gx, gs, nsd);
		linear_backward_into(&blk->lin[BART_FC2], g, gs, Ns, a->gg, st);
		gelu_backward(a->gu, a->gg, u, (long)Ns * F);
		linear_backward(&blk->lin[BART_FC1], mid, a->gu, Ns, gx, st);

		layernorm_backward(gs, blk->ln_self.dw, blk->ln_self.db, gx, s1, blk->ln_self.w,
				   a->e_mean1 + l * NSA, a->e_rstd1 + l * NSA, Ns, D);
		if (need_dx)
			memcpy(gx, gs, nsd);
		linear_backward_into(&blk->lin[BART_SELF_O], ctx, gs, Ns, a->gctx, st);
		attention_bidir_backward(a->gq, a->gk, a->gv, a->gctx, att, q, k, v, src_len, &se,
					 a->att_scratch, a->n_threads);
		linear_backward(&blk->lin[BART_SELF_Q], x, a->gq, Ns, need_dx ? gx : NULL, st);
		linear_backward(&blk->lin[BART_SELF_K], x, a->gk, Ns, need_dx ? gx : NULL, st);
		linear_backward(&blk->lin[BART_SELF_V], x, a->gv, Ns, need_dx ? gx : NULL, st);
	}
	if (enc_emb_trains) {
		layernorm_backward(gs, net->enc_ln_emb.dw, net->enc_ln_emb.db, gx, a->e_emb,
				   net->enc_ln_emb.w, a->e_mean0, a->e_rstd0, Ns, D);
		embed_backward(net, net->d_enc_pos, gs, src, B, S);
	}
}
