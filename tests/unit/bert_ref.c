/* bert_ref — reference BERT in plain double loops; see bert_ref.h. */
#include "bert_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* y[o] = b[o] + sum_i W[o][i] x[i] */
static void dense(double *y, const double *W, const double *b, const double *x, int out, int in)
{
	for (int o = 0; o < out; o++) {
		double s = b[o];
		for (int i = 0; i < in; i++)
			s += W[(long)o * in + i] * x[i];
		y[o] = s;
	}
}

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

int bert_ref_logits(const struct bert_ref *m, const int32_t *tokens, const int32_t *types,
		    int len, double *logits)
{
	const int D = m->dim, F = m->hidden, H = m->n_heads, hd = D / H;
	double *x = calloc((size_t)len * D, sizeof(double));
	double *q = calloc((size_t)len * D, sizeof(double));
	double *k = calloc((size_t)len * D, sizeof(double));
	double *v = calloc((size_t)len * D, sizeof(double));
	double *ctx = calloc((size_t)len * D, sizeof(double));
	double *tmp = calloc((size_t)D, sizeof(double));
	double *inter = calloc((size_t)F, sizeof(double));
	double *p = calloc((size_t)len, sizeof(double));
	double *pooled = calloc((size_t)D, sizeof(double));
	int rc = -1;

	if (!x || !q || !k || !v || !ctx || !tmp || !inter || !p || !pooled)
		goto out;
	for (int t = 0; t < len; t++) {
		for (int i = 0; i < D; i++)
			x[t * D + i] = m->word[(long)tokens[t] * D + i] +
				       m->pos[(long)(m->position_offset + t) * D + i] +
				       m->type[(long)types[t] * D + i];
		layer_norm(x + t * D, m->ln_emb_w, m->ln_emb_b, D, m->eps);
	}
	for (int l = 0; l < m->n_layers; l++) {
		const struct bert_ref_layer *ly = &m->layers[l];

		for (int t = 0; t < len; t++) {
			dense(q + t * D, ly->w[0], ly->b[0], x + t * D, D, D);
			dense(k + t * D, ly->w[1], ly->b[1], x + t * D, D, D);
			dense(v + t * D, ly->w[2], ly->b[2], x + t * D, D, D);
		}
		for (int h = 0; h < H; h++)
			for (int i = 0; i < len; i++) {
				double mx = -INFINITY, sum = 0;
				for (int j = 0; j < len; j++) {
					double s = 0;
					for (int c = 0; c < hd; c++)
						s += q[i * D + h * hd + c] * k[j * D + h * hd + c];
					p[j] = s / sqrt((double)hd);
					mx = p[j] > mx ? p[j] : mx;
				}
				for (int j = 0; j < len; j++) {
					p[j] = exp(p[j] - mx);
					sum += p[j];
				}
				for (int c = 0; c < hd; c++) {
					double s = 0;
					for (int j = 0; j < len; j++)
						s += p[j] / sum * v[j * D + h * hd + c];
					ctx[i * D + h * hd + c] = s;
				}
			}
		for (int t = 0; t < len; t++) {
			double *xt = x + t * D;

			/* BertSelfOutput: LayerNorm(dense(ctx) + input) */
			dense(tmp, ly->w[3], ly->b[3], ctx + t * D, D, D);
			for (int i = 0; i < D; i++)
				xt[i] += tmp[i];
			layer_norm(xt, ly->ln_attn_w, ly->ln_attn_b, D, m->eps);
			/* BertIntermediate (exact gelu) and BertOutput */
			dense(inter, ly->w[4], ly->b[4], xt, F, D);
			for (int i = 0; i < F; i++)
				inter[i] = 0.5 * inter[i] * (1 + erf(inter[i] / sqrt(2.0)));
			dense(tmp, ly->w[5], ly->b[5], inter, D, F);
			for (int i = 0; i < D; i++)
				xt[i] += tmp[i];
			layer_norm(xt, ly->ln_out_w, ly->ln_out_b, D, m->eps);
		}
	}
	/* BertPooler on the first token, then the classifier */
	dense(pooled, m->pooler_w, m->pooler_b, x, D, D);
	for (int i = 0; i < D; i++)
		pooled[i] = tanh(pooled[i]);
	dense(logits, m->cls_w, m->cls_b, pooled, m->n_labels, D);
	rc = 0;
out:
	free(x);
	free(q);
	free(k);
	free(v);
	free(ctx);
	free(tmp);
	free(inter);
	free(p);
	free(pooled);
	return rc;
}
