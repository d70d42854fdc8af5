/* s2s_eval — lengths and teacher-forced evaluation of an encoder-decoder; see s2s_eval.h. */
#include "net/s2s_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

int s2s_lengths(const struct ada_hparams *hp, const struct model_config *c, int *src, int *tgt,
		struct ada_err *err)
{
	const int ctx = c->context_length;

	*src = hp->max_source_length ? hp->max_source_length : ctx < 1024 ? ctx : 1024;
	*tgt = hp->max_target_length ? hp->max_target_length : ctx < 128 ? ctx : 128;
	if (*src > ctx)
		return ada_fail_param(err, ADA_EINVAL, "max_source_length",
				      "max_source_length (%d) exceeds the model's context length (%d)",
				      *src, ctx);
	if (*tgt > ctx)
		return ada_fail_param(err, ADA_EINVAL, "max_target_length",
				      "max_target_length (%d) exceeds the model's context length (%d)",
				      *tgt, ctx);
	return ADA_OK;
}

int s2s_batch_buf_init(struct s2s_batch_buf *b, int B, int max_src, int max_tgt)
{
	memset(b, 0, sizeof(*b));
	b->B = B;
	b->src = xcalloc((size_t)B * (size_t)max_src, sizeof(*b->src));
	b->src_len = xcalloc((size_t)B, sizeof(*b->src_len));
	b->dec_in = xcalloc((size_t)B * (size_t)max_tgt, sizeof(*b->dec_in));
	b->labels = xcalloc((size_t)B * (size_t)max_tgt, sizeof(*b->labels));
	b->idx = xcalloc((size_t)B, sizeof(*b->idx));
	if (!b->src || !b->src_len || !b->dec_in || !b->labels || !b->idx) {
		s2s_batch_buf_release(b);
		return ADA_ENOMEM;
	}
	return ADA_OK;
}

void s2s_batch_buf_release(struct s2s_batch_buf *b)
{
	free(b->src);
	free(b->src_len);
	free(b->dec_in);
	free(b->labels);
	free(b->idx);
	memset(b, 0, sizeof(*b));
}

int s2s_teacher_forced(const struct bart_net *net, struct bart_acts *acts,
		       const struct s2s_dataset *ds, const struct model_config *c,
		       struct s2s_batch_buf *buf, double *mean_nll, double *accuracy)
{
	const int V = c->vocab_size, B = acts->B < buf->B ? acts->B : buf->B;
	struct nn_step st = { 0 };
	double nll_sum = 0;
	int64_t count = 0, right = 0;

	for (int64_t e0 = 0; e0 < ds->n; e0 += B) {
		const int n = ds->n - e0 < B ? (int)(ds->n - e0) : B;
		double nll = 0, loss;
		int64_t k = 0;
		int S, T, rc;

		for (int r = 0; r < n; r++)
			buf->idx[r] = e0 + r;
		s2s_batch(ds, buf->idx, n, c->pad_token_id, c->decoder_start_token_id, buf->src,
			  buf->src_len, buf->dec_in, buf->labels, &S, &T);
		if ((rc = bart_acts_set_shape(acts, S, T)) ||
		    (rc = bart_forward(net, acts, buf->src, buf->src_len, buf->dec_in, buf->labels, n,
				       0, 0, &loss, &nll, &k, &st)))
			return rc;
		nll_sum += nll;
		count += k;
		for (long row = 0; row < (long)n * T; row++) {
			const real *z = acts->logits + row * V;
			int best = 0;

			if (buf->labels[row] < 0)
				continue;
			for (int v = 1; v < V; v++)
				best = z[v] > z[best] ? v : best;
			right += best == buf->labels[row];
		}
	}
	*mean_nll = count ? nll_sum / (double)count : NAN;
	*accuracy = count ? (double)right / (double)count : NAN;
	return ADA_OK;
}
