/* span_net — encoder + qa_outputs, loss, predictions; see span_net.h. */
#include "net/span_net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/qa_metrics.h"
#include "nn/qa_head.h"
#include "util/alloc.h"
#include "util/err.h"

int span_acts_init(struct span_acts *a, const struct span_net *n, int B, int T, int n_threads)
{
	int rc;

	memset(a, 0, sizeof(*a));
	if ((rc = encoder_acts_init(&a->enc, &n->enc, B, T, n_threads)))
		return rc;
	a->logits = xcalloc((size_t)B * T * 2, sizeof(*a->logits));
	a->dlogits = xcalloc((size_t)B * T * 2, sizeof(*a->dlogits));
	if (!a->logits || !a->dlogits) {
		span_acts_release(a);
		return ADA_ENOMEM;
	}
	return ADA_OK;
}

void span_acts_release(struct span_acts *a)
{
	encoder_acts_release(&a->enc);
	free(a->logits);
	free(a->dlogits);
	memset(a, 0, sizeof(*a));
}

int span_forward(const struct span_net *n, struct span_acts *a, const int32_t *ids,
		 const uint8_t *types, const int32_t *lengths, int B, const struct nn_step *st)
{
	int rc = encoder_forward(&n->enc, &a->enc, ids, types, lengths, B, st);

	if (rc)
		return rc;
	return qa_head_forward(n->qa, a->enc.hidden, B * a->enc.T, a->logits, st);
}

int span_loss(struct span_acts *a, const int32_t *lengths, const int32_t *start,
	      const int32_t *end, int B, real grad_scale, double *loss_sum)
{
	return qa_span_loss(a->logits, lengths, start, end, B, a->enc.T, grad_scale,
			    grad_scale != 0 ? a->dlogits : NULL, loss_sum);
}

int span_backward(const struct span_net *n, struct span_acts *a, const int32_t *ids,
		  const int32_t *lengths, int B, const struct nn_step *st)
{
	qa_head_backward(n->qa, a->enc.hidden, a->dlogits, B * a->enc.T, a->enc.dhidden, st);
	encoder_backward(&n->enc, &a->enc, ids, lengths, B, st);
	return ADA_OK;
}

int span_logits(const struct span_net *n, struct span_acts *a, const struct qa_features *f,
		float *start, float *end, double *loss, struct ada_err *err)
{
	const struct nn_step st = { .training = 0 };
	const int T = a->enc.T;
	double total = 0;

	if (loss)
		*loss = NAN;
	if (f->seq_len != T)
		return ada_fail(err, ADA_EINVAL, "windows of %d tokens for a network of %d", f->seq_len, T);
	for (int64_t w0 = 0; w0 < f->n; w0 += a->enc.B) {
		const int rows = f->n - w0 < a->enc.B ? (int)(f->n - w0) : a->enc.B;
		const size_t at = (size_t)w0 * T;
		double l = 0;
		int rc;

		rc = span_forward(n, a, f->ids + at, f->types + at, f->lengths + w0, rows, &st);
		if (!rc && loss)
			rc = span_loss(a, f->lengths + w0, f->start_pos + w0, f->end_pos + w0, rows, 0, &l);
		if (rc)
			return ada_fail(err, rc, rc == ADA_ENOMEM ? "out of memory" : "a window the network refuses");
		total += l;
		for (size_t i = 0; i < (size_t)rows * T; i++) {
			start[at + i] = (float)a->logits[2 * i];
			end[at + i] = (float)a->logits[2 * i + 1];
		}
	}
	if (loss && f->n)
		*loss = total / (double)f->n;
	return ADA_OK;
}

int span_evaluate(const struct span_net *n, struct span_acts *a, const struct qa_set *set,
		  const struct qa_features *f, const struct qa_predict_opts *po,
		  struct ada_qa_metrics *m, double *loss, char **texts, struct ada_err *err)
{
	const int T = a->enc.T;
	float *start = NULL, *end = NULL;
	char **own = texts ? texts : xcalloc((size_t)set->n + 1, sizeof(*own));
	int rc;

	qa_metrics_clear(m);
	*loss = NAN;
	start = xcalloc((size_t)f->n * T + 1, sizeof(*start));
	end = xcalloc((size_t)f->n * T + 1, sizeof(*end));
	if (!start || !end || !own) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = span_logits(n, a, f, start, end, loss, err)) ||
	    (rc = qa_predict(set, f, start, end, po, own, err)))
		goto out_free;
	rc = qa_score(set, own, m, err);
	if (!texts)
		for (int64_t e = 0; e < set->n; e++)
			free(own[e]);
out_free:
	if (!texts)
		free(own);
	free(start);
	free(end);
	return rc;
}
