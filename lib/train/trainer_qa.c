/*
 * trainer_qa — the extractive question answering task of the trainer
 * (trainer.h), on any encoder (net/span_net.h).
 *
 * Data: data/qa_data.h reads the training file (SQuAD JSON or QA JSONL);
 * the validation file, or else the last valid_fraction of the questions
 * (by default 5% when there are at least 20), is held out. Both are cut
 * into windows once (seq_len, doc_stride, max_query_length). A step's
 * items are training windows, drawn by the batcher as a classifier's
 * examples are; the loss is the mean span loss over the step's windows.
 *
 * Validation runs every validation window and maps the logits back to
 * answer text (n_best_size, max_answer_length, null_score_diff_threshold):
 * valid_loss is the mean span loss, the metrics the official SQuAD exact
 * match and F1 — what `adalora eval` computes for the exported adapter.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/qa_metrics.h"
#include "util/alloc.h"
#include "util/err.h"
#include "train/trainer.h"

struct trainer_qa {
	struct qa_set train_set, valid_set;
	struct qa_features train, valid;
	struct span_acts acts;          /* micro-batch shape, also for validation */
	int32_t *ids, *lengths, *start, *end;
	uint8_t *types;
};

static int load_features(struct trainer *tr, const struct qa_set *set, struct qa_features *f,
			 struct ada_err *err)
{
	const struct qa_window_opts o = {
		.seq_len = tr->hp->seq_len,
		.doc_stride = tr->hp->doc_stride,
		.max_query_length = tr->hp->max_query_length,
	};

	return qa_features_build(set, tr->tok, &o, f, err);
}

static int qa_load(struct trainer *tr, struct ada_err *err)
{
	const struct ada_job *job = tr->job;
	struct trainer_qa *q;
	int rc;

	q = tr->qa = xcalloc(1, sizeof(*tr->qa));
	if (!q)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (!tokenizer_is_encoder(tr->tok))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "task",
				      "question answering needs an encoder's tokenizer ([CLS] q [SEP] c [SEP])");
	if ((rc = qa_set_load(job->train_file, &q->train_set, err)))
		return rc;
	if (job->valid_file) {
		if ((rc = qa_set_load(job->valid_file, &q->valid_set, err)))
			return rc;
	} else {
		double fraction = tr->hp->valid_fraction >= 0 ? tr->hp->valid_fraction
							       : q->train_set.n >= 20 ? 0.05 : 0;
		if ((rc = qa_set_split_tail(&q->train_set, fraction, &q->valid_set, err)))
			return rc;
	}
	if ((rc = load_features(tr, &q->train_set, &q->train, err)) ||
	    (q->valid_set.n && (rc = load_features(tr, &q->valid_set, &q->valid, err))))
		return rc;
	tr->spec = (struct net_spec){ .task = ADA_TASK_QUESTION_ANSWERING };
	tr->qa_version_2 = q->train_set.has_no_answer || q->valid_set.has_no_answer;
	if (q->train.n_truncated_q || q->valid.n_truncated_q)
		trainer_say(tr, "warning",
			    "%lld training and %lld validation questions are longer than max_query_length %d: truncated",
			    (long long)q->train.n_truncated_q, (long long)q->valid.n_truncated_q,
			    tr->hp->max_query_length);
	return batch_plan_init(&tr->plan, q->train.n, tr->hp->batch_size, tr->hp->n_epochs,
			       tr->hp->max_steps, err);
}

static int qa_build(struct trainer *tr, int micro, struct ada_err *err)
{
	struct trainer_qa *q = tr->qa;
	const int T = tr->hp->seq_len;
	int rc;

	rc = span_acts_init(&q->acts, &tr->tn.span, micro, T, tr->threads);
	if (rc)
		return ada_fail(err, rc, "activations for micro-batch %d x %d: %s", micro, T,
				rc == ADA_ENOMEM ? "out of memory" : "the model is no encoder");
	rc = batcher_init_items(&tr->batcher, q->train.n, tr->hp->batch_size, tr->job->seed, err);
	if (rc)
		return rc;
	q->ids = xcalloc((size_t)micro * T, sizeof(*q->ids));
	q->types = xcalloc((size_t)micro * T, sizeof(*q->types));
	q->lengths = xcalloc((size_t)micro, sizeof(*q->lengths));
	q->start = xcalloc((size_t)micro, sizeof(*q->start));
	q->end = xcalloc((size_t)micro, sizeof(*q->end));
	if (!q->ids || !q->types || !q->lengths || !q->start || !q->end)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

/* Rows [r0, r1) of the step into the micro-batch buffers; their tokens. */
static int64_t gather(struct trainer *tr, int64_t step, int r0, int r1)
{
	struct trainer_qa *q = tr->qa;
	const size_t T = (size_t)tr->hp->seq_len;
	int64_t tokens = 0;

	for (int r = r0; r < r1; r++) {
		const int64_t w = batcher_window(&tr->batcher, step, r);
		const int k = r - r0;

		memcpy(q->ids + k * T, q->train.ids + (size_t)w * T, T * sizeof(*q->ids));
		memcpy(q->types + k * T, q->train.types + (size_t)w * T, T);
		q->lengths[k] = q->train.lengths[w];
		q->start[k] = q->train.start_pos[w];
		q->end[k] = q->train.end_pos[w];
		tokens += q->train.lengths[w];
	}
	return tokens;
}

static int qa_step(struct trainer *tr, struct step_out *so, struct ada_err *err)
{
	struct trainer_qa *q = tr->qa;
	const struct span_net *net = &tr->tn.span;
	const int micro = q->acts.enc.B;
	const int64_t step = tr->step;
	const int rows = batcher_step_rows(&tr->batcher, step);
	const real scale = (real)(1.0 / rows);
	int rc;

	for (int r0 = 0, mb = 0; r0 < rows; r0 += micro, mb++) {
		const int r1 = r0 + micro < rows ? r0 + micro : rows, n = r1 - r0;
		struct nn_step st = { .training = 1, .seed = tr->job->seed, .step = step, .micro = mb };
		double loss;

		so->tokens += gather(tr, step, r0, r1);
		rc = span_forward(net, &q->acts, q->ids, q->types, q->lengths, n, &st);
		if (!rc)
			rc = span_loss(&q->acts, q->lengths, q->start, q->end, n, scale, &loss);
		if (rc)
			return ada_fail(err, rc, rc == ADA_ENOMEM ? "out of memory in the forward pass"
								  : "step %lld: a window the network refuses",
					(long long)step + 1);
		if ((rc = span_backward(net, &q->acts, q->ids, q->lengths, n, &st)))
			return ada_fail(err, rc, "out of memory in the backward pass");
		so->nll_sum += loss;
		so->n_targets += n;
	}
	return ADA_OK;
}

static int64_t qa_n_valid(const struct trainer *tr)
{
	return tr->qa ? tr->qa->valid.n : 0;
}

static int qa_evaluate(struct trainer *tr, struct ada_err *err)
{
	struct trainer_qa *q = tr->qa;
	const struct qa_predict_opts po = {
		.n_best_size = tr->hp->n_best_size,
		.max_answer_length = tr->hp->max_answer_length,
		.null_score_diff_threshold = tr->hp->null_score_diff_threshold,
	};
	int rc = span_evaluate(&tr->tn.span, &q->acts, &q->valid_set, &q->valid, &po, &tr->valid_qa,
			       &tr->valid_loss, NULL, err);

	if (rc)
		return ada_err_prefix(err, rc, "evaluation failed");
	return ADA_OK;
}

static void qa_plan(const struct trainer *tr, struct ada_plan *plan)
{
	const struct trainer_qa *q = tr->qa;

	plan->train_windows = q->train.n;
	plan->valid_windows = q->valid.n;
	plan->train_tokens = 0;
	for (int64_t w = 0; w < q->train.n; w++)
		plan->train_tokens += q->train.lengths[w];
}

static int qa_result(const struct trainer *tr, json_t *j, struct ada_result *res)
{
	const struct trainer_qa *q = tr->qa;
	json_t *m = json_object(), *m0 = json_object();

	json_object_set_new(j, "task", json_string(ada_task_name(ADA_TASK_QUESTION_ANSWERING)));
	ada_qa_metrics_json(m, &tr->valid_qa, "");
	ada_qa_metrics_json(m0, &tr->valid_qa_initial, "");
	json_object_set_new(j, "metrics", m);
	json_object_set_new(j, "metrics_initial", m0);
	json_object_set_new(j, "train_examples", json_integer(q->train_set.n));
	json_object_set_new(j, "valid_examples", json_integer(q->valid_set.n));
	json_object_set_new(j, "train_features", json_integer(q->train.n));
	json_object_set_new(j, "valid_features", json_integer(q->valid.n));
	json_object_set_new(j, "version_2", json_boolean(q->train_set.has_no_answer ||
							  q->valid_set.has_no_answer));
	res->qa = tr->valid_qa;
	return ADA_OK;
}

static void qa_release(struct trainer *tr)
{
	struct trainer_qa *q = tr->qa;

	if (!q)
		return;
	qa_set_release(&q->train_set);
	qa_set_release(&q->valid_set);
	qa_features_release(&q->train);
	qa_features_release(&q->valid);
	span_acts_release(&q->acts);
	free(q->ids);
	free(q->types);
	free(q->lengths);
	free(q->start);
	free(q->end);
	free(q);
	tr->qa = NULL;
}

const struct trainer_task trainer_task_qa = {
	.load = qa_load,
	.build = qa_build,
	.step = qa_step,
	.n_valid = qa_n_valid,
	.evaluate = qa_evaluate,
	.plan = qa_plan,
	.result = qa_result,
	.release = qa_release,
};
