/* bart_decode — BART decoding with a key/value cache; see bart_decode.h. */
#include "nn/bart_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "nn/blas.h"
#include "nn/frozen.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"
#include "nn/ops.h"

/* bytes of n reals, 64-byte aligned, or 0 on overflow */
static size_t chunk(size_t n)
{
	size_t b;

	if (size_mul(n, sizeof(real), &b) || size_add(b, 63, &b))
		return 0;
	return b & ~(size_t)63;
}

#define N_DECODER_BUFS 18

/* The reals of each buffer of a decoder (ck, cv, kc, vc, tmp, x .. x2, u,
 * g, mean, rstd, scores, in that order) and their 64-byte-aligned total:
 * ADA_EINVAL for a shape past the position tables, ADA_ENOMEM on overflow. */
static int decoder_layout(const struct bart_dims *d, int max_src, int max_hyps, int max_len,
			  size_t sizes[N_DECODER_BUFS], size_t *total)
{
	const size_t Ld = (size_t)d->n_dec_layers, D = (size_t)d->dim, F = (size_t)d->hidden;
	const size_t H = (size_t)max_hyps, P = (size_t)max_len, Sm = (size_t)max_src;
	size_t cache;

	if (max_src < 1 || max_hyps < 1 || max_len < 1 ||
	    (long)max_src + d->position_offset > d->max_positions ||
	    (long)max_len + d->position_offset > d->max_positions || size_mul(H * P, D, &cache) ||
	    size_mul(cache, Ld, &cache))
		return ADA_EINVAL;
	sizes[0] = sizes[1] = Ld * Sm * D;
	sizes[2] = sizes[3] = cache;
	sizes[4] = H * P * D;
	for (int i = 5; i < 13; i++)
		sizes[i] = H * D;
	sizes[13] = sizes[14] = H * F;
	sizes[15] = sizes[16] = H;
	sizes[17] = P > Sm ? P : Sm;
	*total = 0;
	for (size_t i = 0; i < N_DECODER_BUFS; i++) {
		size_t c = chunk(sizes[i]);
		if (!c || size_add(*total, c, total))
			return ADA_ENOMEM;
	}
	return ADA_OK;
}

size_t bart_decoder_bytes(const struct bart_dims *d, int max_src, int max_hyps, int max_len,
			  int n_threads)
{
	size_t sizes[N_DECODER_BUFS], total, enc = bart_acts_bytes(d, 1, max_src, 1, n_threads);

	if (decoder_layout(d, max_src, max_hyps, max_len, sizes, &total) || !enc ||
	    size_add(total, enc, &total) || size_add(total, (size_t)max_hyps * 4, &total))
		return 0;
	return total;
}

int bart_decoder_init(struct bart_decoder *dec, const struct bart_net *net, int max_src,
		      int max_hyps, int max_len, int n_threads)
{
	const struct bart_dims *d = &net->d;
	const size_t H = (size_t)max_hyps;
	size_t sizes[N_DECODER_BUFS], total;
	real **ptrs[] = { &dec->ck, &dec->cv, &dec->kc, &dec->vc, &dec->tmp, &dec->x, &dec->q,
			  &dec->k, &dec->v, &dec->ctx, &dec->s, &dec->x1, &dec->x2, &dec->u,
			  &dec->g, &dec->mean, &dec->rstd, &dec->scores };
	char *p;
	int rc;

	memset(dec, 0, sizeof(*dec));
	if ((rc = decoder_layout(d, max_src, max_hyps, max_len, sizes, &total)))
		return rc;
	if ((rc = bart_acts_init(&dec->enc, d, 1, max_src, 1, n_threads)))
		return rc;
	dec->mem = xalloc_aligned(total, 1);
	dec->tok = xcalloc(H, sizeof(*dec->tok));
	if (!dec->mem || !dec->tok) {
		bart_decoder_release(dec);
		return ADA_ENOMEM;
	}
	p = dec->mem;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		*ptrs[i] = (real *)p;
		p += chunk(sizes[i]);
	}
	dec->net = net;
	dec->max_src = max_src;
	dec->max_hyps = max_hyps;
	dec->max_len = max_len;
	return ADA_OK;
}

void bart_decoder_release(struct bart_decoder *dec)
{
	bart_acts_release(&dec->enc);
	free(dec->mem);
	free(dec->tok);
	memset(dec, 0, sizeof(*dec));
}

int bart_decoder_start(struct bart_decoder *dec, const int32_t *src, int S)
{
	const struct bart_net *net = dec->net;
	const struct bart_dims *d = &net->d;
	const size_t D = (size_t)d->dim, Sm = (size_t)dec->max_src;
	const struct nn_step st = { .training = 0 };
	int rc;

	if (S < 1 || S > dec->max_src)
		return ADA_EINVAL;
	if ((rc = bart_acts_set_shape(&dec->enc, S, 1)) ||
	    (rc = bart_encode(net, &dec->enc, src, NULL, 1, &st)))
		return rc;
	for (int l = 0; l < d->n_dec_layers; l++) {
		const struct bart_block *blk = &net->blocks[d->n_enc_layers + l];

		if ((rc = linear_forward(&blk->lin[BART_CROSS_K], dec->enc.enc_out, S,
					 dec->ck + l * Sm * D, &st)) ||
		    (rc = linear_forward(&blk->lin[BART_CROSS_V], dec->enc.enc_out, S,
					 dec->cv + l * Sm * D, &st)))
			return rc;
	}
	dec->S = S;
	dec->len = 0;
	dec->n_live = 0;
	return ADA_OK;
}

/* out[hd] = softmax(q . keys[j] / sqrt(hd), j < n) . values[j], per head,
 * keys and values rows ld apart. */
static void attend(real *out, const real *q, const real *keys, const real *values, int n,
		   size_t ld, int H, int hd, real *scores)
{
	const real scale = (real)(1.0 / sqrt((double)hd));

	for (int h = 0; h < H; h++) {
		const real *qh = q + h * hd;
		real mx, sum = 0, *o = out + h * hd;

		for (int j = 0; j < n; j++) {
			const real *kj = keys + (size_t)j * ld + h * hd;
			real dot = 0;
			for (int c = 0; c < hd; c++)
				dot += qh[c] * kj[c];
			scores[j] = dot * scale;
		}
		mx = scores[0];
		for (int j = 1; j < n; j++)
			mx = scores[j] > mx ? scores[j] : mx;
		for (int j = 0; j < n; j++) {
			scores[j] = REAL_EXP(scores[j] - mx);
			sum += scores[j];
		}
		memset(o, 0, sizeof(real) * (size_t)hd);
		for (int j = 0; j < n; j++) {
			const real *vj = values + (size_t)j * ld + h * hd;
			const real a = scores[j] / sum;
			for (int c = 0; c < hd; c++)
				o[c] += a * vj[c];
		}
	}
}

int bart_decoder_step(struct bart_decoder *dec, int n, const int32_t *tokens, int pos,
		      real *logits)
{
	const struct bart_net *net = dec->net;
	const struct bart_dims *d = &net->d;
	const int D = d->dim, F = d->hidden, H = d->n_heads, hd = d->head_dim, V = d->vocab;
	const size_t Sm = (size_t)dec->max_src, P = (size_t)dec->max_len;
	const size_t layer = (size_t)dec->max_hyps * P * D;
	const struct nn_step st = { .training = 0 };
	const real *pe = net->dec_pos + (size_t)(d->position_offset + pos) * D;
	int rc;

	if (!dec->S || n < 1 || n > dec->max_hyps || pos != dec->len || pos >= dec->max_len)
		return ADA_EINVAL;
	for (int i = 0; i < n; i++) {
		if (tokens[i] < 0 || tokens[i] >= V)
			return ADA_EINVAL;
		dec->tok[i] = tokens[i];
	}
	/* x = LN_emb(scale * E[token] + pos_d[2 + pos]) */
	if (net->tok_emb)
		embedding_forward(dec->s, dec->tok, net->tok_emb, n, D);
	else
		frozen_rows(net->tok_emb_fw, dec->tok, n, dec->s);
	for (int i = 0; i < n; i++)
		for (int c = 0; c < D; c++)
			dec->s[(size_t)i * D + c] = dec->s[(size_t)i * D + c] * d->embed_scale + pe[c];
	layernorm_forward(dec->x, dec->mean, dec->rstd, dec->s, net->dec_ln_emb.w, net->dec_ln_emb.b,
			  n, D, d->norm_eps);
	for (int l = 0; l < d->n_dec_layers; l++) {
		const struct bart_block *blk = &net->blocks[d->n_enc_layers + l];
		real *kc = dec->kc + l * layer, *vc = dec->vc + l * layer;

		/* causal self-attention over this hypothesis's cached positions */
		if ((rc = linear_forward(&blk->lin[BART_SELF_Q], dec->x, n, dec->q, &st)) ||
		    (rc = linear_forward(&blk->lin[BART_SELF_K], dec->x, n, dec->k, &st)) ||
		    (rc = linear_forward(&blk->lin[BART_SELF_V], dec->x, n, dec->v, &st)))
			return rc;
		for (int i = 0; i < n; i++) {
			real *ki = kc + ((size_t)i * P + (size_t)pos) * D;
			real *vi = vc + ((size_t)i * P + (size_t)pos) * D;
			memcpy(ki, dec->k + (size_t)i * D, sizeof(real) * (size_t)D);
			memcpy(vi, dec->v + (size_t)i * D, sizeof(real) * (size_t)D);
			attend(dec->ctx + (size_t)i * D, dec->q + (size_t)i * D, kc + (size_t)i * P * D,
			       vc + (size_t)i * P * D, pos + 1, (size_t)D, H, hd, dec->scores);
		}
		if ((rc = linear_forward(&blk->lin[BART_SELF_O], dec->ctx, n, dec->s, &st)))
			return rc;
		add_inplace(dec->s, dec->x, (long)n * D);
		layernorm_forward(dec->x1, dec->mean, dec->rstd, dec->s, blk->ln_self.w, blk->ln_self.b,
				  n, D, d->norm_eps);
		/* cross-attention over the source's keys and values */
		if ((rc = linear_forward(&blk->lin[BART_CROSS_Q], dec->x1, n, dec->q, &st)))
			return rc;
		for (int i = 0; i < n; i++)
			attend(dec->ctx + (size_t)i * D, dec->q + (size_t)i * D, dec->ck + l * Sm * D,
			       dec->cv + l * Sm * D, dec->S, (size_t)D, H, hd, dec->scores);
		if ((rc = linear_forward(&blk->lin[BART_CROSS_O], dec->ctx, n, dec->s, &st)))
			return rc;
		add_inplace(dec->s, dec->x1, (long)n * D);
		layernorm_forward(dec->x2, dec->mean, dec->rstd, dec->s, blk->ln_cross.w,
				  blk->ln_cross.b, n, D, d->norm_eps);
		/* FFN */
		if ((rc = linear_forward(&blk->lin[BART_FC1], dec->x2, n, dec->u, &st)))
			return rc;
		gelu_forward(dec->g, dec->u, (long)n * F);
		if ((rc = linear_forward(&blk->lin[BART_FC2], dec->g, n, dec->s, &st)))
			return rc;
		add_inplace(dec->s, dec->x2, (long)n * D);
		layernorm_forward(dec->x, dec->mean, dec->rstd, dec->s, blk->ln_ffn.w, blk->ln_ffn.b, n,
				  D, d->norm_eps);
	}
	if (net->output && n == 1)   /* one row: no packing of the vocabulary-sized matrix */
		gemv(V, D, 1, net->output, D, dec->x, 0, logits);
	else if (net->output)
		gemm(0, 1, n, V, D, 1, dec->x, D, net->output, D, 0, logits, V);
	else
		frozen_forward(net->output_fw, dec->x, n, logits, NULL);
	if (net->logits_bias)
		bias_forward(logits, net->logits_bias, n, V);
	dec->len = pos + 1;
	dec->n_live = n;
	return ADA_OK;
}

int bart_decoder_reorder(struct bart_decoder *dec, int n, const int *parent)
{
	const struct bart_dims *d = &dec->net->d;
	const size_t D = (size_t)d->dim, P = (size_t)dec->max_len, row = (size_t)dec->len * D;
	const size_t layer = (size_t)dec->max_hyps * P * D;

	if (n < 1 || n > dec->max_hyps)
		return ADA_EINVAL;
	for (int i = 0; i < n; i++)
		if (parent[i] < 0 || parent[i] >= dec->n_live)
			return ADA_EINVAL;
	for (int l = 0; l < d->n_dec_layers; l++)
		for (int kv = 0; kv < 2; kv++) {
			real *cache = (kv ? dec->vc : dec->kc) + l * layer;

			/* gather the parents' rows, then put them in place */
			for (int i = 0; i < n; i++)
				memcpy(dec->tmp + (size_t)i * P * D, cache + (size_t)parent[i] * P * D,
				       sizeof(real) * row);
			for (int i = 0; i < n; i++)
				memcpy(cache + (size_t)i * P * D, dec->tmp + (size_t)i * P * D,
				       sizeof(real) * row);
		}
	dec->n_live = n;
	return ADA_OK;
}
