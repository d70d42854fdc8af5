/*
 * trainer_cls — the sequence classification (and regression) task of the
 * trainer (trainer.h).
 *
 * Data: class_data.h reads the training file (JSONL or GLUE TSV) and fixes
 * the label map; the validation file must fit it, or the tail of the
 * training examples is held out (valid_fraction; by default 5% when there
 * are at least 20 examples). Every example is encoded once by the
 * tokenizer's pair encoding and truncated longest-first to seq_len.
 *
 * A step takes its examples from the batcher over example indices (a pure
 * function of seed and step, as for windows) and runs them in micro-
 * batches through infer/classifier.h: encoder, head, loss, backward. The
 * loss is a mean over the step's examples: each micro-batch's gradient is
 * scaled by 1 / (examples in the step). Validation is classifier_evaluate()
 * over the held-out examples: mean loss and the GLUE metrics, the same
 * function `adalora eval` runs on the exported adapter.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "data/class_data.h"
#include "train/trainer.h"

struct trainer_cls {
	struct label_map labels;
	struct class_dataset train, valid;
	struct classifier_acts acts;    /* micro-batch shape, also for validation */
	/* one micro-batch gathered from the step's examples */
	int32_t *ids, *lengths, *labels_mb;
	uint8_t *types;
	float *targets;
};

/* The pair encoder's "max_len" is the job's seq_len. */
static int name_seq_len(struct ada_err *err, int rc)
{
	if (rc && err && !strcmp(err->param, "max_len"))
		snprintf(err->param, sizeof(err->param), "seq_len");
	return rc;
}

static int cls_load(struct trainer *tr, struct ada_err *err)
{
	const struct ada_job *job = tr->job;
	const struct ada_hparams *hp = tr->hp;
	const enum class_file_format fmt = class_file_format_of(job->data_format);
	struct pair_encoder enc;
	struct trainer_cls *c;
	double fraction;
	int rc;

	c = tr->cls = xcalloc(1, sizeof(*tr->cls));
	if (!c)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	classifier_pair_encoder(&enc, tr->tok);
	rc = class_data_load(job->train_file, fmt, &enc, hp->seq_len, &c->labels, 1, &c->train, err);
	if (rc)
		return name_seq_len(err, rc);
	if (job->valid_file) {
		rc = class_data_load(job->valid_file, fmt, &enc, hp->seq_len, &c->labels, 0,
				     &c->valid, err);
		if (rc)
			return name_seq_len(err, rc);
	} else {
		fraction = hp->valid_fraction >= 0 ? hp->valid_fraction : c->train.n >= 20 ? 0.05 : 0;
		if ((rc = class_data_split_tail(&c->train, fraction, &c->valid, err)))
			return rc;
	}
	tr->labels = &c->labels;
	tr->spec = (struct net_spec){
		.task = ADA_TASK_CLASSIFICATION,
		.n_labels = c->labels.n_labels,
		.regression = c->labels.kind == ADA_LABEL_FLOAT,
	};
	if (c->train.n_truncated || c->valid.n_truncated)
		trainer_say(tr, "warning",
			    "%lld training and %lld validation examples are longer than seq_len %d: truncated longest-first",
			    (long long)c->train.n_truncated, (long long)c->valid.n_truncated,
			    hp->seq_len);
	return batch_plan_init(&tr->plan, c->train.n, hp->batch_size, hp->n_epochs, hp->max_steps,
			       err);
}

int trainer_cls_adopt(struct trainer *tr, struct class_dataset *train, struct label_map *labels,
		      struct ada_err *err)
{
	struct trainer_cls *c = tr->cls ? tr->cls : xcalloc(1, sizeof(*c));

	if (!c) {
		class_dataset_release(train);
		label_map_release(labels);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	c->train = *train;
	c->labels = *labels;
	memset(train, 0, sizeof(*train));
	memset(labels, 0, sizeof(*labels));
	tr->cls = c;
	tr->task = &trainer_task_cls;
	tr->labels = &c->labels;
	tr->spec = (struct net_spec){
		.task = ADA_TASK_CLASSIFICATION,
		.n_labels = c->labels.n_labels,
		.regression = c->labels.kind == ADA_LABEL_FLOAT,
	};
	return batch_plan_init(&tr->plan, c->train.n, tr->hp->batch_size, tr->hp->n_epochs,
			       tr->hp->max_steps, err);
}

size_t trainer_cls_activation_bytes(const struct trainer *tr)
{
	const struct trainer_cls *c = tr->task == &trainer_task_cls ? tr->cls : NULL;

	return c ? c->acts.bert.bytes + c->acts.llama.bytes : 0;
}

static int cls_build(struct trainer *tr, int micro, struct ada_err *err)
{
	struct trainer_cls *c = tr->cls;
	const int T = tr->hp->seq_len;
	int rc;

	rc = classifier_acts_init(&c->acts, &tr->tn.cls, micro, T, tr->threads,
				  tr->hp->gradient_checkpointing);
	if (rc)
		return ada_fail(err, rc, "out of memory for activations (micro-batch %d x %d)", micro,
				T);
	rc = batcher_init_items(&tr->batcher, c->train.n, tr->hp->batch_size, tr->job->seed, err);
	if (rc)
		return rc;
	c->ids = xcalloc((size_t)micro * T, sizeof(*c->ids));
	c->types = xcalloc((size_t)micro * T, sizeof(*c->types));
	c->lengths = xcalloc((size_t)micro, sizeof(*c->lengths));
	c->labels_mb = xcalloc((size_t)micro, sizeof(*c->labels_mb));
	c->targets = xcalloc((size_t)micro, sizeof(*c->targets));
	if (!c->ids || !c->types || !c->lengths || !c->labels_mb || !c->targets)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

/* Rows [r0, r1) of the step into the micro-batch buffers; their tokens. */
static int64_t gather(struct trainer *tr, int64_t step, int r0, int r1)
{
	struct trainer_cls *c = tr->cls;
	const size_t T = (size_t)tr->hp->seq_len;
	int64_t tokens = 0;

	for (int r = r0; r < r1; r++) {
		const int64_t e = batcher_window(&tr->batcher, step, r);
		const int k = r - r0;

		memcpy(c->ids + k * T, c->train.ids + (size_t)e * T, T * sizeof(*c->ids));
		memcpy(c->types + k * T, c->train.types + (size_t)e * T, T);
		c->lengths[k] = c->train.lengths[e];
		c->labels_mb[k] = c->train.labels[e];
		c->targets[k] = c->train.targets[e];
		tokens += c->train.lengths[e];
	}
	return tokens;
}

static int cls_step(struct trainer *tr, struct step_out *so, struct ada_err *err)
{
	struct trainer_cls *c = tr->cls;
	const struct classifier *net = &tr->tn.cls;
	const int micro = c->acts.B;
	const int64_t step = tr->step;
	const int rows = batcher_step_rows(&tr->batcher, step);
	const real scale = (real)(1.0 / rows);
	int rc, mb_lo, mb_hi;

	/* this process's share of the step's micro-batches (trainer_lm.c) */
	trainer_share(tr, (rows + micro - 1) / micro, &mb_lo, &mb_hi);
	for (int mb = mb_lo, r0 = mb_lo * micro; mb < mb_hi; r0 += micro, mb++) {
		const int r1 = r0 + micro < rows ? r0 + micro : rows, n = r1 - r0;
		struct nn_step st = { .training = 1, .seed = tr->job->seed, .step = step, .micro = mb };
		double loss;

		so->tokens += gather(tr, step, r0, r1);
		rc = classifier_forward(net, &c->acts, c->ids, c->types, c->lengths, n, &st);
		if (!rc)
			rc = classifier_loss(net, &c->acts, c->labels_mb, c->targets, n, scale, &loss);
		if (rc)
			return ada_fail(err, rc, rc == ADA_ENOMEM ? "out of memory in the forward pass"
								  : "step %lld: an example the network refuses",
					(long long)step + 1);
		if ((rc = classifier_backward(net, &c->acts, c->ids, c->lengths, n, &st)))
			return ada_fail(err, rc, "out of memory in the backward pass");
		so->nll_sum += loss;
		so->n_targets += n;
	}
	return ADA_OK;
}

static int64_t cls_n_valid(const struct trainer *tr)
{
	return tr->cls ? tr->cls->valid.n : 0;
}

static int cls_evaluate(struct trainer *tr, struct ada_err *err)
{
	int rc = classifier_evaluate(&tr->tn.cls, &tr->cls->acts, &tr->cls->valid, &tr->valid_m);

	if (rc)
		return ada_fail(err, rc, "evaluation failed (%s)",
				rc == ADA_ENOMEM ? "out of memory" : "an example the network refuses");
	tr->valid_loss = tr->valid_m.loss;
	return ADA_OK;
}

static void cls_plan(const struct trainer *tr, struct ada_plan *plan)
{
	const struct trainer_cls *c = tr->cls;

	plan->train_windows = c->train.n;
	plan->valid_windows = c->valid.n;
	plan->train_tokens = 0;
	for (int64_t e = 0; e < c->train.n; e++)
		plan->train_tokens += c->train.lengths[e];
	plan->num_labels = c->labels.n_labels;
}

/* The metrics that apply to the task, NAN (undefined) as null. */
static json_t *metrics_json(const struct trainer *tr, const struct cls_metrics *m)
{
	json_t *j = json_object();

	ada_glue_metrics_json(j, &m->glue, tr->spec.n_labels, "");
	return j;
}

static int cls_result(const struct trainer *tr, json_t *j, struct ada_result *res)
{
	const struct trainer_cls *c = tr->cls;
	const struct label_map *lm = &c->labels;
	json_t *labels = json_array(), *trunc = json_object();

	json_object_set_new(j, "task", json_string(ada_task_name(ADA_TASK_CLASSIFICATION)));
	json_object_set_new(j, "num_labels", json_integer(lm->n_labels));
	json_object_set_new(j, "label_kind", json_string(ada_label_kind_name(lm->kind)));
	for (int i = 0; lm->kind != ADA_LABEL_FLOAT && i < lm->n_labels; i++)
		json_array_append_new(labels, lm->names ? json_string(lm->names[i]) : json_integer(i));
	json_object_set_new(j, "labels", lm->kind == ADA_LABEL_FLOAT ? (json_decref(labels), json_null())
								     : labels);
	json_object_set_new(j, "metrics", metrics_json(tr, &tr->valid_m));
	json_object_set_new(j, "metrics_initial", metrics_json(tr, &tr->valid_m_initial));
	json_object_set_new(j, "train_examples", json_integer(c->train.n));
	json_object_set_new(j, "valid_examples", json_integer(c->valid.n));
	json_object_set_new(trunc, "train", json_integer(c->train.n_truncated));
	json_object_set_new(trunc, "valid", json_integer(c->valid.n_truncated));
	json_object_set_new(j, "truncated", trunc);

	res->num_labels = lm->n_labels;
	res->label_kind = lm->kind;
	res->truncated_train = c->train.n_truncated;
	res->truncated_valid = c->valid.n_truncated;
	if (lm->names) {
		res->label_names = xcalloc((size_t)lm->n_labels, sizeof(*res->label_names));
		if (!res->label_names)
			return ADA_ENOMEM;
		for (int i = 0; i < lm->n_labels; i++)
			if (!(res->label_names[i] = xstrdup(lm->names[i])))
				return ADA_ENOMEM;
	}
	return ADA_OK;
}

static void cls_release(struct trainer *tr)
{
	struct trainer_cls *c = tr->cls;

	if (!c)
		return;
	label_map_release(&c->labels);
	class_dataset_release(&c->train);
	class_dataset_release(&c->valid);
	classifier_acts_release(&c->acts);
	free(c->ids);
	free(c->types);
	free(c->lengths);
	free(c->labels_mb);
	free(c->targets);
	free(c);
	tr->cls = NULL;
	tr->labels = NULL;
}

const struct trainer_task trainer_task_cls = {
	.load = cls_load,
	.build = cls_build,
	.step = cls_step,
	.n_valid = cls_n_valid,
	.evaluate = cls_evaluate,
	.plan = cls_plan,
	.result = cls_result,
	.release = cls_release,
};
