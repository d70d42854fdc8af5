/* classifier — encoder + sequence head, loss and metrics; see classifier.h. */
#include "net/classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"

int classifier_acts_init(struct classifier_acts *a, const struct classifier *c, int B, int T,
			 int n_threads, int checkpointing)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->B = B;
	a->T = T;
	if (c->family == ADA_FAMILY_BERT && checkpointing)
		return ADA_EINVAL;
	if (c->family == ADA_FAMILY_BERT) {
		rc = bert_acts_init(&a->bert, &c->bert->d, B, T, n_threads);
		a->hidden = a->bert.hidden;
		a->dhidden = a->bert.dhidden;
	} else {
		rc = llama_acts_init_flags(&a->llama, &c->llama->d, B, T, n_threads,
					   LLAMA_ACTS_HIDDEN |
					   (checkpointing ? LLAMA_ACTS_CHECKPOINT : 0));
		a->hidden = a->llama.xf;
		a->dhidden = a->llama.dhidden;
	}
	if (!rc)
		rc = seq_head_acts_init(&a->head, c->head->out.in, c->n_labels, B);
	if (!rc && !(a->types = xcalloc((size_t)B * T, sizeof(*a->types))))
		rc = ADA_ENOMEM;
	if (rc)
		classifier_acts_release(a);
	return rc;
}

void classifier_acts_release(struct classifier_acts *a)
{
	llama_acts_release(&a->llama);
	bert_acts_release(&a->bert);
	seq_head_acts_release(&a->head);
	free(a->types);
	memset(a, 0, sizeof(*a));
}

int classifier_forward(const struct classifier *c, struct classifier_acts *a,
		       const int32_t *ids, const uint8_t *types, const int32_t *lengths, int B,
		       const struct nn_step *st)
{
	const int T = a->T;
	int rc;

	if (B < 1 || B > a->B)
		return ADA_EINVAL;
	for (int b = 0; b < B; b++)
		if (lengths[b] < 1 || lengths[b] > T)
			return ADA_EINVAL;
	if (c->family == ADA_FAMILY_BERT) {
		for (long i = 0; i < (long)B * T; i++)
			a->types[i] = types ? types[i] : 0;
		rc = bert_forward(c->bert, &a->bert, ids, a->types, lengths, B, st);
	} else {
		for (long i = 0; i < (long)B * T; i++)
			if (ids[i] < 0 || ids[i] >= c->llama->d.vocab)
				return ADA_EINVAL;
		rc = llama_forward_hidden(c->llama, &a->llama, ids, B, st);
	}
	if (rc)
		return rc;
	return seq_head_forward(c->head, &a->head, a->hidden, lengths, B, T, st);
}

int classifier_loss(const struct classifier *c, struct classifier_acts *a, const int32_t *labels,
		    const float *targets, int B, real grad_scale, double *loss_sum)
{
	real *d = grad_scale != 0 ? a->head.dlogits : NULL;

	if (c->regression) {
		*loss_sum = seq_head_mse(a->head.logits, targets, B, grad_scale, d);
		return ADA_OK;
	}
	return seq_head_xent(a->head.logits, labels, B, c->n_labels, grad_scale, d, loss_sum);
}

int classifier_backward(const struct classifier *c, struct classifier_acts *a,
			 const int32_t *ids, const int32_t *lengths, int B,
			 const struct nn_step *st)
{
	const int T = a->T, D = c->head->out.in;

	/* Only the pooled rows get a gradient from the head; the rest stay 0. */
	memset(a->dhidden, 0, sizeof(real) * (size_t)B * T * D);
	seq_head_backward(c->head, &a->head, a->head.dlogits, a->dhidden, lengths, B, T, st);
	if (c->family == ADA_FAMILY_BERT) {
		bert_backward(c->bert, &a->bert, ids, a->types, lengths, B, a->dhidden, st);
		return ADA_OK;
	}
	return llama_backward_hidden(c->llama, &a->llama, ids, B, a->dhidden, st);
}

int classifier_evaluate(const struct classifier *c, struct classifier_acts *a,
			const struct class_dataset *ds, struct cls_metrics *m)
{
	const struct nn_step st = { .training = 0 };
	const int T = a->T, C = c->n_labels;
	int32_t *pred = NULL;
	float *value = NULL;
	double *scratch = NULL, total = 0;
	int rc = ADA_OK;

	memset(m, 0, sizeof(*m));
	glue_metrics_clear(&m->glue);
	m->loss = NAN;
	if (ds->seq_len != T)
		return ADA_EINVAL;
	if (!ds->n)
		return ADA_OK;
	if (c->regression) {
		value = xcalloc((size_t)ds->n, sizeof(*value));
		scratch = xcalloc((size_t)ds->n * 4, sizeof(*scratch));
	} else {
		pred = xcalloc((size_t)ds->n, sizeof(*pred));
	}
	if (c->regression ? !value || !scratch : !pred) {
		rc = ADA_ENOMEM;
		goto out_free;
	}
	for (int64_t e0 = 0; e0 < ds->n; e0 += a->B) {
		const int rows = ds->n - e0 < a->B ? (int)(ds->n - e0) : a->B;
		const size_t at = (size_t)e0 * T;
		double loss;

		rc = classifier_forward(c, a, ds->ids + at, ds->types + at, ds->lengths + e0, rows,
					&st);
		if (!rc)
			rc = classifier_loss(c, a, ds->labels + e0, ds->targets + e0, rows, 0, &loss);
		if (rc)
			goto out_free;
		total += loss;
		for (int b = 0; b < rows; b++) {
			const real *z = a->head.logits + (size_t)b * C;
			int best = 0;

			if (c->regression) {
				value[e0 + b] = z[0];
				continue;
			}
			for (int k = 1; k < C; k++)
				best = z[k] > z[best] ? k : best;
			pred[e0 + b] = best;
		}
	}
	if (c->regression)
		cls_metrics_regress(value, ds->targets, ds->n, scratch, m);
	else
		cls_metrics_classify(pred, ds->labels, ds->n, C, m);
	m->loss = total / (double)ds->n;
out_free:
	free(pred);
	free(value);
	free(scratch);
	return rc;
}

static int encode_pair(void *ctx, const char *a, size_t alen, const char *b, size_t blen,
		       int max_len, struct ivec *ids, struct ivec *type_ids, int *truncated,
		       struct ada_err *err)
{
	int dropped = 0;
	int rc = tokenizer_encode_pair(ctx, a, alen, b, blen, max_len, ids, type_ids, &dropped, err);

	*truncated = dropped > 0;   /* class_data counts examples, not tokens */
	return rc;
}

void classifier_pair_encoder(struct pair_encoder *enc, const struct tokenizer *t)
{
	enc->ctx = (void *)t;
	enc->encode = encode_pair;
	enc->pad = tokenizer_pad(t) >= 0 ? tokenizer_pad(t) : 0;
}
