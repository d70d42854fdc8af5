/* bart_ref — reference BART in plain double loops; see bart_ref.h. */
#include "bart_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* y[o] = b[o] + sum_i W[o][i] x[i] */
static void dense(double *y, const double *W, const double *b, const double *x, int out, int in)
{
	for (int o = 0; o < out; o++) {
		double s = b ? b[o] : 0;
		for (int i = 0; i < in; i++)
			s += W[(long)o * in + i] * x[i];
		y[o] = s;
	}
}

/* nn.LayerNorm: biased variance, eps inside the root. */
static void layer_norm(double *x, const double *w, const double *b, int n, double eps)
{
	double mean = 0, var = 0;

	for (int i = 0; i < n; i++)
		mean += x[i];
	mean /= n;
	for (int i = 0; i < n; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= n;
	for (int i = 0; i < n; i++)
		x[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i];
}

static double gelu(double x)
{
	return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}

/* BartAttention: out_proj(softmax(q_proj(h) * hd^-0.5 k^T) v) over nq query
 * rows h (q already projected) and nk key/value rows; query i may see keys
 * [0, causal ? i + 1 : nk). */
static void attend(double *out, const double *q, const double *k, const double *v, int nq,
		   int nk, int causal, int D, int H, double *p)
{
	const int hd = D / H;

	for (int h = 0; h < H; h++)
		for (int i = 0; i < nq; i++) {
			const int n = causal ? i + 1 : nk;
			double mx = -INFINITY, sum = 0;

			for (int j = 0; j < n; j++) {
				double s = 0;
				for (int c = 0; c < hd; c++)
					s += q[i * D + h * hd + c] / sqrt((double)hd) *
					     k[j * D + h * hd + c];
				p[j] = s;
				mx = s > mx ? s : mx;
			}
			for (int j = 0; j < n; j++) {
				p[j] = exp(p[j] - mx);
				sum += p[j];
			}
			for (int c = 0; c < hd; c++) {
				double s = 0;
				for (int j = 0; j < n; j++)
					s += p[j] / sum * v[j * D + h * hd + c];
				out[i * D + h * hd + c] = s;
			}
		}
}

/* One self- or cross-attention sub-layer with its residual and post-norm:
 * x = LN(x + out(attn(q(x), k(kv), v(kv)))) over n rows of x. */
static int attention_block(double *x, int n, const double *kv, int nk, int causal,
			   const struct bart_ref_layer *ly, int first, const double *ln_w,
			   const double *ln_b, const struct bart_ref *m)
{
	const int D = m->dim;
	double *q = calloc((size_t)n * D, sizeof(double));
	double *k = calloc((size_t)nk * D, sizeof(double));
	double *v = calloc((size_t)nk * D, sizeof(double));
	double *ctx = calloc((size_t)n * D, sizeof(double));
	double *tmp = calloc((size_t)D, sizeof(double));
	double *p = calloc((size_t)nk + 1, sizeof(double));
	int rc = -1;

	if (!q || !k || !v || !ctx || !tmp || !p)
		goto out;
	for (int i = 0; i < n; i++)
		dense(q + i * D, ly->w[first], ly->b[first], x + i * D, D, D);
	for (int j = 0; j < nk; j++) {
		dense(k + j * D, ly->w[first + 1], ly->b[first + 1], kv + j * D, D, D);
		dense(v + j * D, ly->w[first + 2], ly->b[first + 2], kv + j * D, D, D);
	}
	attend(ctx, q, k, v, n, nk, causal, D, m->n_heads, p);
	for (int i = 0; i < n; i++) {
		dense(tmp, ly->w[first + 3], ly->b[first + 3], ctx + i * D, D, D);
		for (int c = 0; c < D; c++)
			x[i * D + c] += tmp[c];
		layer_norm(x + i * D, ln_w, ln_b, D, m->eps);
	}
	rc = 0;
out:
	free(q);
	free(k);
	free(v);
	free(ctx);
	free(tmp);
	free(p);
	return rc;
}

/* x = LN(x + fc2(gelu(fc1(x)))) row by row. */
static int ffn_block(double *x, int n, const struct bart_ref_layer *ly, const struct bart_ref *m)
{
	const int D = m->dim, F = m->hidden;
	double *u = calloc((size_t)F, sizeof(double)), *y = calloc((size_t)D, sizeof(double));

	if (!u || !y) {
		free(u);
		free(y);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		dense(u, ly->w[8], ly->b[8], x + i * D, F, D);
		for (int f = 0; f < F; f++)
			u[f] = gelu(u[f]);
		dense(y, ly->w[9], ly->b[9], u, D, F);
		for (int c = 0; c < D; c++)
			x[i * D + c] += y[c];
		layer_norm(x + i * D, ly->ln_ffn_w, ly->ln_ffn_b, D, m->eps);
	}
	free(u);
	free(y);
	return 0;
}

/* inputs_embeds * embed_scale + positions (from offset 2), then layernorm_embedding */
static void embed(double *x, const int32_t *ids, int n, const double *pos, const double *ln_w,
		  const double *ln_b, const struct bart_ref *m)
{
	const int D = m->dim;

	for (int i = 0; i < n; i++) {
		for (int c = 0; c < D; c++)
			x[i * D + c] = m->shared[(long)ids[i] * D + c] * m->embed_scale +
				       pos[(long)(i + 2) * D + c];
		layer_norm(x + i * D, ln_w, ln_b, D, m->eps);
	}
}

int bart_ref_logits(const struct bart_ref *m, const int32_t *src, int S, const int32_t *dec,
		    int T, double *logits)
{
	const int D = m->dim;
	double *enc = calloc((size_t)S * D, sizeof(double));
	double *x = calloc((size_t)T * D, sizeof(double));
	int rc = -1;

	if (!enc || !x)
		goto out;
	embed(enc, src, S, m->enc_pos, m->enc_ln_w, m->enc_ln_b, m);
	for (int l = 0; l < m->n_enc; l++) {
		const struct bart_ref_layer *ly = &m->layers[l];
		if (attention_block(enc, S, enc, S, 0, ly, 0, ly->ln_self_w, ly->ln_self_b, m) ||
		    ffn_block(enc, S, ly, m))
			goto out;
	}
	embed(x, dec, T, m->dec_pos, m->dec_ln_w, m->dec_ln_b, m);
	for (int l = 0; l < m->n_dec; l++) {
		const struct bart_ref_layer *ly = &m->layers[m->n_enc + l];
		if (attention_block(x, T, x, T, 1, ly, 0, ly->ln_self_w, ly->ln_self_b, m) ||
		    attention_block(x, T, enc, S, 0, ly, 4, ly->ln_cross_w, ly->ln_cross_b, m) ||
		    ffn_block(x, T, ly, m))
			goto out;
	}
	for (int t = 0; t < T; t++)
		dense(logits + (long)t * m->vocab, m->lm_head, m->logits_bias, x + t * D, m->vocab, D);
	rc = 0;
out:
	free(enc);
	free(x);
	return rc;
}
