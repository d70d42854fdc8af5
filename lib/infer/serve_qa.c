/*
 * serve_qa — a served extractive QA model's answers (ada_served_answer,
 * adalora.h): a question and its context through the windows, the network
 * and the n-best of lib/data, as `adalora eval` runs them.
 *
 * Nothing here is QA logic of its own: the question and context become a
 * one-question qa_set (qa_set_single), are cut by qa_features_build with
 * the job's settings (qa.json; a request may change them), run through
 * the adapter's span network (span_logits, batches of QA_BATCH windows as
 * eval's) and answered by qa_answer.c, so a served answer is the
 * prediction `adalora eval` makes of the same question.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/qa_answer.h"
#include "infer/served.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/pool.h"

#define QA_BATCH 8
#define QA_DEFAULT_SEQ 512

void ada_qa_opts_init(struct ada_qa_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->doc_stride = -1;
	o->null_score_diff_threshold = NAN;
}

/* The request's settings over the job's; errors name the option. */
static int settings(const struct served_adapter *ad, const struct model_config *c,
		    const struct ada_qa_opts *o, struct qa_window_opts *wo,
		    struct qa_predict_opts *po, int *top_k, struct ada_err *err)
{
	const struct ada_hparams *hp = &ad->pa.qa_hp;
	const int T = o->max_seq_length > 0 ? o->max_seq_length
		      : ad->pa.seq_len > 0 ? ad->pa.seq_len
		      : c->context_length < QA_DEFAULT_SEQ ? c->context_length : QA_DEFAULT_SEQ;

	*wo = (struct qa_window_opts){ .seq_len = T,
				       .doc_stride = o->doc_stride >= 0 ? o->doc_stride : hp->doc_stride,
				       .max_query_length = hp->max_query_length };
	*po = (struct qa_predict_opts){
		.n_best_size = hp->n_best_size,
		.max_answer_length = o->max_answer_length > 0 ? o->max_answer_length
							      : hp->max_answer_length,
		.null_score_diff_threshold = isnan(o->null_score_diff_threshold)
			? hp->null_score_diff_threshold : o->null_score_diff_threshold,
	};
	*top_k = o->top_k > 0 ? o->top_k : 1;
	if (T > c->context_length)
		return ada_fail_param(err, ADA_EINVAL, "max_seq_length",
				      "max_seq_length %d exceeds the model's context length (%d)", T,
				      c->context_length);
	if (wo->doc_stride >= T)
		return ada_fail_param(err, ADA_EINVAL, "doc_stride",
				      "doc_stride %d must be below max_seq_length (%d)", wo->doc_stride, T);
	if (*top_k > hp->n_best_size)
		return ada_fail_param(err, ADA_EINVAL, "top_k",
				      "top_k %d exceeds the model's n_best_size (%d): the answers come from the n-best",
				      *top_k, hp->n_best_size);
	if (!isfinite(po->null_score_diff_threshold))
		return ada_fail_param(err, ADA_EINVAL, "null_score_diff_threshold",
				      "null_score_diff_threshold must be a finite number");
	return ADA_OK;
}

/* The windows' logits under the adapter's lock (the forward uses its caches). */
static int run_windows(struct served_adapter *ad, const struct qa_features *f, float *start,
		       float *end, struct ada_err *err)
{
	struct span_acts acts;
	const int B = f->n < QA_BATCH ? (int)f->n : QA_BATCH;
	int rc;

	pthread_mutex_lock(&ad->lock);
	rc = span_acts_init(&acts, &ad->span, B > 0 ? B : 1, f->seq_len, pool_threads());
	if (rc) {
		rc = ada_fail(err, rc, "out of memory for %d windows of %d tokens", B, f->seq_len);
	} else {
		rc = span_logits(&ad->span, &acts, f, start, end, NULL, err);
		span_acts_release(&acts);
	}
	pthread_mutex_unlock(&ad->lock);
	return rc;
}

int ada_served_answer(struct ada_served *m, const char *question, const char *context,
		      const struct ada_qa_opts *o, struct ada_qa_answer *out, struct ada_err *err)
{
	struct served_adapter *ad = m->ad;
	const struct tokenizer *tok = m->base->tok;
	struct qa_window_opts wo;
	struct qa_predict_opts po;
	struct qa_set set;
	struct qa_features f;
	struct qa_nbest nb = { 0 };
	float *start = NULL, *end = NULL;
	int64_t tokens = 0;
	int rc, top_k, q_tokens;

	memset(out, 0, sizeof(*out));
	if (!ad || !ad->is_qa)
		return ada_fail_param(err, ADA_EINVAL, "model",
				      "the model does not answer questions (a question_answering job's fine-tuned model does)");
	if ((rc = settings(ad, &m->base->model->cfg, o, &wo, &po, &top_k, err)))
		return rc;
	if ((rc = qa_set_single(&set, question, context, ad->pa.qa_version_2, err)))
		return rc;
	if ((rc = qa_features_build(&set, tok, &wo, &f, err))) {
		if (!strcmp(err->param, "seq_len"))
			snprintf(err->param, sizeof(err->param), "max_seq_length");
		else if (!err->param[0])
			snprintf(err->param, sizeof(err->param), "context");
		goto out_set;
	}
	if (!f.n_tok) {
		rc = ada_fail_param(err, ADA_EINVAL, "context", "the context has no tokens");
		goto out_f;
	}
	/* [CLS] question [SEP] context [SEP]: what is left of the first window */
	q_tokens = f.n ? f.lengths[0] - f.ctx_count[0] - tokenizer_special_count(tok, 1) : 0;
	if (q_tokens < 1) {
		rc = ada_fail_param(err, ADA_EINVAL, "question", "the question has no tokens");
		goto out_f;
	}
	if (o->max_windows > 0 && f.n > o->max_windows) {
		rc = ada_fail_param(err, ADA_EINVAL, "context",
				    "the context is %lld tokens: %lld windows of %d tokens (doc_stride %d), more than the %lld a request may take",
				    (long long)f.n_tok, (long long)f.n, wo.seq_len, wo.doc_stride,
				    (long long)o->max_windows);
		goto out_f;
	}
	start = xcalloc((size_t)f.n * (size_t)f.seq_len, sizeof(*start));
	end = xcalloc((size_t)f.n * (size_t)f.seq_len, sizeof(*end));
	if (!start || !end) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = run_windows(ad, &f, start, end, err)) ||
	    (rc = qa_nbest_build(&set, &f, start, end, &po, &nb, err)) ||
	    (rc = qa_answer_make(set.contexts[0], &nb, ad->pa.qa_version_2,
				 po.null_score_diff_threshold, po.n_best_size, top_k, out, err)))
		goto out_free;
	for (int64_t w = 0; w < f.n; w++)
		tokens += f.lengths[w];
	out->windows = (int)f.n;
	out->tokens = tokens;
	out->truncated = f.n_truncated_q > 0;
out_free:
	qa_nbest_release(&nb, 1);
	free(start);
	free(end);
out_f:
	qa_features_release(&f);
out_set:
	qa_set_release(&set);
	return rc;
}
