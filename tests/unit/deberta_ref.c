/* deberta_ref — reference DeBERTa-v2/v3 in plain double loops; see deberta_ref.h. */
#include "deberta_ref.h"

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

static double gelu(double x)
{
	return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}

/*
 * def make_log_bucket_position(relative_pos, bucket_size, max_position):
 *     sign = torch.sign(relative_pos)
 *     mid = bucket_size // 2
 *     abs_pos = torch.where((relative_pos < mid) & (relative_pos > -mid),
 *                           torch.tensor(mid - 1).type_as(relative_pos),
 *                           torch.abs(relative_pos))
 *     log_pos = torch.ceil(torch.log(abs_pos / mid)
 *                          / torch.log(torch.tensor((max_position - 1) / mid))
 *                          * (mid - 1)) + mid
 *     bucket_pos = torch.where(abs_pos <= mid, relative_pos.type_as(log_pos), log_pos * sign)
 */
long deberta_ref_bucket(long rel, int bucket_size, int max_position)
{
	long sign = rel > 0 ? 1 : rel < 0 ? -1 : 0;
	long mid = bucket_size / 2;
	long abs_pos = rel < mid && rel > -mid ? mid - 1 : labs(rel);
	double log_pos = ceil(log((double)abs_pos / (double)mid) /
			      log((double)(max_position - 1) / (double)mid) * (double)(mid - 1)) +
			 (double)mid;

	return abs_pos <= mid ? rel : (long)(log_pos * (double)sign);
}

/* Score matrix of one head: scores [len][len] before the softmax. */
struct head_in {
	const double *q, *k, *pq, *pk;   /* [len][D] and [2 span][D], head columns at h*hd */
	const long *rel;                 /* [len][len] relative_pos (bucketed) */
	int len, D, hd, h, span, c2p, p2c;
	double scale;                    /* sqrt(hd * scale_factor) */
};

static void head_scores(const struct head_in *in, double *scores)
{
	const int len = in->len, D = in->D, hd = in->hd, h = in->h, span = in->span;

	for (int i = 0; i < len; i++)
		for (int j = 0; j < len; j++) {
			double s = 0;

			/* attention_scores = bmm(query, key^T / scale) */
			for (int c = 0; c < hd; c++)
				s += in->q[i * D + h * hd + c] * in->k[j * D + h * hd + c];
			s /= in->scale;
			if (in->c2p) {
				/* c2p_pos = clamp(relative_pos + att_span, 0, 2 att_span - 1);
				 * c2p_att = gather(bmm(query, pos_key^T), -1, c2p_pos) */
				long pos = in->rel[i * len + j] + span;
				double a = 0;
				pos = pos < 0 ? 0 : pos > 2 * span - 1 ? 2 * span - 1 : pos;
				for (int c = 0; c < hd; c++)
					a += in->q[i * D + h * hd + c] * in->pk[pos * D + h * hd + c];
				s += a / in->scale;
			}
			if (in->p2c) {
				/* p2c_pos = clamp(-r_pos + att_span, 0, 2 att_span - 1);
				 * p2c_att = gather(bmm(key, pos_query^T), -1, p2c_pos)^T:
				 * element [i][j] is the gathered [j][i] */
				long pos = -in->rel[j * len + i] + span;
				double a = 0;
				pos = pos < 0 ? 0 : pos > 2 * span - 1 ? 2 * span - 1 : pos;
				for (int c = 0; c < hd; c++)
					a += in->k[j * D + h * hd + c] * in->pq[pos * D + h * hd + c];
				s += a / in->scale;
			}
			scores[i * len + j] = s;
		}
}

int deberta_ref_logits(const struct deberta_ref *m, const int32_t *tokens, const int32_t *types,
		       int len, double *logits)
{
	const int D = m->dim, F = m->hidden, H = m->n_heads, hd = D / H;
	const int max_rel = m->max_relative_positions < 1 ? m->max_position_embeddings
							   : m->max_relative_positions;
	const int span = m->position_buckets > 0 ? m->position_buckets : max_rel;
	const int R = m->rel ? 2 * span : 0;
	double *x = calloc((size_t)len * D, sizeof(double));
	double *q = calloc((size_t)len * D, sizeof(double));
	double *k = calloc((size_t)len * D, sizeof(double));
	double *v = calloc((size_t)len * D, sizeof(double));
	double *ctx = calloc((size_t)len * D, sizeof(double));
	double *tmp = calloc((size_t)D, sizeof(double));
	double *inter = calloc((size_t)F, sizeof(double));
	double *scores = calloc((size_t)len * len, sizeof(double));
	double *pooled = calloc((size_t)D, sizeof(double));
	double *rel = calloc((size_t)(R ? R : 1) * D, sizeof(double));
	double *pq = calloc((size_t)(R ? R : 1) * D, sizeof(double));
	double *pk = calloc((size_t)(R ? R : 1) * D, sizeof(double));
	long *relpos = calloc((size_t)len * len, sizeof(long));
	int rc = -1;

	if (!x || !q || !k || !v || !ctx || !tmp || !inter || !scores || !pooled || !rel || !pq ||
	    !pk || !relpos)
		goto out;
	/* DebertaV2Embeddings: word (+ position) (+ token type), LayerNorm */
	for (int t = 0; t < len; t++) {
		for (int i = 0; i < D; i++) {
			x[t * D + i] = m->word[(long)tokens[t] * D + i];
			if (m->pos)
				x[t * D + i] += m->pos[(long)t * D + i];
			if (m->type)
				x[t * D + i] += m->type[(long)types[t] * D + i];
		}
		layer_norm(x + t * D, m->ln_emb_w, m->ln_emb_b, D, m->eps);
	}
	/* DebertaV2Encoder.get_rel_embedding / get_rel_pos */
	if (R) {
		memcpy(rel, m->rel, sizeof(double) * (size_t)R * D);
		if (m->ln_rel_w)
			for (int r = 0; r < R; r++)
				layer_norm(rel + r * D, m->ln_rel_w, m->ln_rel_b, D, m->eps);
		for (int i = 0; i < len; i++)
			for (int j = 0; j < len; j++) {
				long d = (long)i - j;
				relpos[i * len + j] = m->position_buckets > 0 && max_rel > 0 ?
					deberta_ref_bucket(d, m->position_buckets, max_rel) : d;
			}
	}
	for (int l = 0; l < m->n_layers; l++) {
		const struct deberta_ref_layer *ly = &m->layers[l];
		const int sf = 1 + (m->c2p != 0) + (m->p2c != 0);
		struct head_in in = { q, k, pq, pk, relpos, len, D, hd, 0, span,
				      R && m->c2p, R && m->p2c, sqrt((double)hd * sf) };

		for (int t = 0; t < len; t++) {
			dense(q + t * D, ly->w[0], ly->b[0], x + t * D, D, D);
			dense(k + t * D, ly->w[1], ly->b[1], x + t * D, D, D);
			dense(v + t * D, ly->w[2], ly->b[2], x + t * D, D, D);
		}
		/* the table through query_proj / key_proj (share_att_key) or the
		 * layer's pos_query_proj / pos_key_proj */
		for (int r = 0; r < R; r++) {
			if (m->share_att_key) {
				dense(pq + r * D, ly->w[0], ly->b[0], rel + r * D, D, D);
				dense(pk + r * D, ly->w[1], ly->b[1], rel + r * D, D, D);
				continue;
			}
			if (m->p2c)
				dense(pq + r * D, ly->pos_query_w, ly->pos_query_b, rel + r * D, D, D);
			if (m->c2p)
				dense(pk + r * D, ly->pos_key_w, ly->pos_key_b, rel + r * D, D, D);
		}
		for (int h = 0; h < H; h++) {
			in.h = h;
			head_scores(&in, scores);
			for (int i = 0; i < len; i++) {
				double mx = -INFINITY, sum = 0, *p = scores + i * len;
				for (int j = 0; j < len; j++)
					mx = p[j] > mx ? p[j] : mx;
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
		}
		for (int t = 0; t < len; t++) {
			double *xt = x + t * D;

			/* DebertaV2SelfOutput: LayerNorm(dense(ctx) + input) */
			dense(tmp, ly->w[3], ly->b[3], ctx + t * D, D, D);
			for (int i = 0; i < D; i++)
				xt[i] += tmp[i];
			layer_norm(xt, ly->ln_attn_w, ly->ln_attn_b, D, m->eps);
			/* DebertaV2Intermediate (exact gelu) and DebertaV2Output */
			dense(inter, ly->w[4], ly->b[4], xt, F, D);
			for (int i = 0; i < F; i++)
				inter[i] = gelu(inter[i]);
			dense(tmp, ly->w[5], ly->b[5], inter, D, F);
			for (int i = 0; i < D; i++)
				xt[i] += tmp[i];
			layer_norm(xt, ly->ln_out_w, ly->ln_out_b, D, m->eps);
		}
	}
	/* ContextPooler on the first token, then the classifier */
	dense(pooled, m->pooler_w, m->pooler_b, x, D, D);
	for (int i = 0; i < D; i++)
		pooled[i] = m->pooler_gelu ? gelu(pooled[i]) : tanh(pooled[i]);
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
	free(scores);
	free(pooled);
	free(rel);
	free(pq);
	free(pk);
	free(relpos);
	return rc;
}
