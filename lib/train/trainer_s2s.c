/*
 * trainer_s2s — the sequence-to-sequence task of the trainer (trainer.h):
 * an encoder-decoder (BART) on {"source","target"} examples.
 *
 * Data: s2s_data.h reads the training file (and the validation file, or
 * holds out the tail of the training examples: valid_fraction, by default
 * 5% when there are at least 20), each source cut to max_source_length and
 * each target to max_target_length (0 = auto: min(1024, context) and
 * min(128, context), as transformers' run_summarization defaults).
 *
 * A step takes its examples from the batcher over example indices (a pure
 * function of seed and step) and runs them in micro-batches, each padded to
 * its own longest source and target, through bart_forward with teacher
 * forcing (decoder input = the labels shifted right behind
 * decoder_start_token_id) and the label-smoothed loss fused, then
 * bart_backward. The loss is a mean over the step's target tokens: every
 * micro-batch's gradient is scaled by 1 / (target tokens in the step), as
 * Hugging Face's mean over non-ignored labels.
 *
 * Validation is teacher-forced, without smoothing: the mean NLL of the
 * held-out targets (valid_loss) and the token accuracy (argmax = label,
 * reported as the validation's accuracy). Then the first
 * valid_generate_examples sources are decoded (greedy or beam search: the
 * model's generation config, num_beams and max_length replaced by
 * generation_num_beams and generation_max_length, which default to the
 * model's num_beams and max_target_length as Seq2SeqTrainer with
 * run_summarization's arguments) and scored with ROUGE against their
 * targets, with the Porter stemmer (run_summarization's use_stemmer=True):
 * valid_rouge1, ... The decoding is net/s2s_predict.h's, the same
 * `adalora eval` runs on the exported adapter.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/s2s_data.h"
#include "data/rouge.h"
#include "net/s2s_eval.h"
#include "net/s2s_predict.h"
#include "net/seq2seq_step.h"
#include "nn/bart.h"
#include "util/alloc.h"
#include "util/err.h"
#include "train/trainer.h"

struct trainer_s2s {
	struct s2s_dataset train, valid;
	struct bart_acts acts;          /* micro-batch shape, also for validation */
	int max_src, max_tgt;           /* the job's lengths, resolved */
	struct s2s_batch_buf buf;       /* one micro-batch */
	struct beam_opts gen;           /* how validation decodes */
	int64_t n_generate;             /* validation examples decoded (0: none) */
};

int trainer_s2s_adopt(struct trainer *tr, struct s2s_dataset *train, struct ada_err *err)
{
	struct trainer_s2s *s = tr->s2s ? tr->s2s : xcalloc(1, sizeof(*s));

	if (!s) {
		s2s_dataset_release(train);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	tr->s2s = s;
	tr->task = &trainer_task_s2s;
	s->train = *train;
	memset(train, 0, sizeof(*train));
	s->max_src = s->train.max_src;
	s->max_tgt = s->train.max_tgt;
	tr->spec = (struct net_spec){ .task = ADA_TASK_SEQ2SEQ };
	return batch_plan_init(&tr->plan, s->train.n, tr->hp->batch_size, tr->hp->n_epochs,
			       tr->hp->max_steps, err);
}

size_t trainer_s2s_activation_bytes(const struct trainer *tr)
{
	return tr->s2s ? tr->s2s->acts.bytes : 0;
}

/* Validation's search: the model's generation config with the job's
 * generation_num_beams and generation_max_length (or max_target_length);
 * errors name the hyperparameter, or the model for its own settings. */
static int generation_opts(struct trainer *tr, struct trainer_s2s *s, struct ada_err *err)
{
	const struct ada_hparams *hp = tr->hp;
	const int64_t want = hp->valid_generate_examples;
	int rc;

	s->n_generate = want < 0 || want > s->valid.n ? s->valid.n : want;
	beam_opts_default(&s->gen);
	if (!s->n_generate)
		return ADA_OK;
	if ((rc = s2s_generation_config(tr->model, &s->gen, err)))
		return rc;
	if (hp->generation_num_beams)
		s->gen.num_beams = hp->generation_num_beams;
	s->gen.max_length = hp->generation_max_length ? hp->generation_max_length : s->max_tgt;
	if (s->gen.max_length - 1 > tr->model->cfg.context_length)
		return ada_fail_param(err, ADA_EINVAL, "generation_max_length",
				      "generation_max_length (%d, the decoder start token included) generates past the model's %d positions",
				      s->gen.max_length, tr->model->cfg.context_length);
	if ((rc = beam_opts_check(&s->gen, tr->model->cfg.vocab_size, err))) {
		const char *field = !strcmp(err->param, "num_beams") && hp->generation_num_beams
					    ? "generation_num_beams"
				    : !strcmp(err->param, "max_length") ? "generation_max_length"
									: "model";
		snprintf(err->param, sizeof(err->param), "%s", field);
	}
	return rc;
}

static int s2s_load(struct trainer *tr, struct ada_err *err)
{
	const struct ada_job *job = tr->job;
	const struct ada_hparams *hp = tr->hp;
	struct trainer_s2s *s;
	double fraction;
	int rc;

	s = tr->s2s = xcalloc(1, sizeof(*tr->s2s));
	if (!s)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (job->data_format == ADA_FILE_GLUE_TSV)
		return ada_fail_param(err, ADA_EINVAL, "data_format",
				      "data_format: glue-tsv holds classification data, the task is seq2seq");
	if ((rc = s2s_lengths(hp, &tr->model->cfg, &s->max_src, &s->max_tgt, err)) ||
	    (rc = s2s_data_load(job->train_file, tr->tok, s->max_src, s->max_tgt, &s->train, err)))
		return rc;
	if (job->valid_file) {
		if ((rc = s2s_data_load(job->valid_file, tr->tok, s->max_src, s->max_tgt, &s->valid,
					err)))
			return rc;
	} else {
		fraction = hp->valid_fraction >= 0 ? hp->valid_fraction : s->train.n >= 20 ? 0.05 : 0;
		if ((rc = s2s_data_split_tail(&s->train, fraction, &s->valid, err)))
			return rc;
	}
	tr->spec = (struct net_spec){ .task = ADA_TASK_SEQ2SEQ };
	if ((rc = generation_opts(tr, s, err)))
		return rc;
	if (s->train.n_truncated_src || s->train.n_truncated_tgt || s->valid.n_truncated_src ||
	    s->valid.n_truncated_tgt)
		trainer_say(tr, "warning",
			    "sources cut to max_source_length %d: %lld training, %lld validation; targets cut to max_target_length %d: %lld training, %lld validation",
			    s->max_src, (long long)s->train.n_truncated_src,
			    (long long)s->valid.n_truncated_src, s->max_tgt,
			    (long long)s->train.n_truncated_tgt, (long long)s->valid.n_truncated_tgt);
	return batch_plan_init(&tr->plan, s->train.n, hp->batch_size, hp->n_epochs, hp->max_steps,
			       err);
}

static int s2s_build(struct trainer *tr, int micro, struct ada_err *err)
{
	struct trainer_s2s *s = tr->s2s;
	const int S = s->train.max_src > s->valid.max_src ? s->train.max_src : s->valid.max_src;
	const int T = s->train.max_tgt > s->valid.max_tgt ? s->train.max_tgt : s->valid.max_tgt;
	struct bart_dims d;
	int rc;

	bart_dims_of(&tr->model->cfg, &d);
	rc = bart_acts_init(&s->acts, &d, micro, S, T, tr->threads);
	if (rc)
		return ada_fail(err, rc, "out of memory for activations (micro-batch %d x %d source, %d target tokens)",
				micro, S, T);
	rc = batcher_init_items(&tr->batcher, s->train.n, tr->hp->batch_size, tr->job->seed, err);
	if (rc)
		return rc;
	if (s2s_batch_buf_init(&s->buf, micro, S, T))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

/* The examples buf.idx[0..n) of ds as a batch in s's buffers, the acts shaped to it. */
static int64_t batch(struct trainer *tr, const struct s2s_dataset *ds, int n)
{
	struct trainer_s2s *s = tr->s2s;
	struct s2s_batch_buf *b = &s->buf;
	const struct model_config *c = &tr->model->cfg;
	int S, T;
	int64_t targets = s2s_batch(ds, b->idx, n, c->pad_token_id, c->decoder_start_token_id,
				    b->src, b->src_len, b->dec_in, b->labels, &S, &T);

	bart_acts_set_shape(&s->acts, S, T);
	return targets;
}

static int s2s_step(struct trainer *tr, struct step_out *so, struct ada_err *err)
{
	struct trainer_s2s *s = tr->s2s;
	const struct bart_net *net = &tr->tn.bart;
	const int micro = s->acts.B;
	const int64_t step = tr->step;
	const int rows = batcher_step_rows(&tr->batcher, step);
	int64_t step_targets = 0;
	real scale;
	int rc;

	for (int r = 0; r < rows; r++)
		step_targets += s->train.tgt_len[batcher_window(&tr->batcher, step, r)];
	scale = (real)(1.0 / (double)(step_targets ? step_targets : 1));
	for (int r0 = 0, mb = 0; r0 < rows; r0 += micro, mb++) {
		const int r1 = r0 + micro < rows ? r0 + micro : rows, n = r1 - r0;
		struct nn_step st = { .training = 1, .seed = tr->job->seed, .step = step, .micro = mb };
		double loss = 0;
		int64_t count = 0;

		for (int r = r0; r < r1; r++) {
			const int64_t e = s->buf.idx[r - r0] = batcher_window(&tr->batcher, step, r);
			so->tokens += s->train.src_len[e] + s->train.tgt_len[e];
		}
		batch(tr, &s->train, n);
		rc = bart_forward(net, &s->acts, s->buf.src, s->buf.src_len, s->buf.dec_in,
				  s->buf.labels, n, (real)tr->hp->label_smoothing, scale, &loss, NULL,
				  &count, &st);
		if (rc)
			return ada_fail(err, rc, rc == ADA_ENOMEM ? "out of memory in the forward pass"
								  : "step %lld: an example the network refuses",
					(long long)step + 1);
		bart_backward(net, &s->acts, s->buf.src, s->buf.src_len, s->buf.dec_in, n, &st);
		so->nll_sum += loss;
		so->n_targets += count;
	}
	return ADA_OK;
}

static int64_t s2s_n_valid(const struct trainer *tr)
{
	return tr->s2s ? tr->s2s->valid.n : 0;
}

static int s2s_evaluate(struct trainer *tr, struct ada_err *err)
{
	struct trainer_s2s *s = tr->s2s;
	double nll, acc;
	int rc = s2s_teacher_forced(&tr->tn.bart, &s->acts, &s->valid, &tr->model->cfg, &s->buf,
				    &nll, &acc);

	if (rc)
		return ada_fail(err, rc, "evaluation failed (%s)",
				rc == ADA_ENOMEM ? "out of memory" : "an example the network refuses");
	tr->valid_loss = nll;
	tr->valid_m.loss = nll;
	tr->valid_m.glue.accuracy = acc;
	if (s->n_generate > 0 && tr->tok) {
		struct seq2seq_eval ev;

		seq2seq_eval_init(&ev, 1);
		rc = s2s_predict(&tr->tn.bart, tr->tok, &s->valid, s->n_generate, &s->gen, tr->threads,
				 &ev, NULL, NULL, err);
		if (!rc)
			rc = seq2seq_eval_rouge(&ev, &tr->valid_rouge, err);
		seq2seq_eval_release(&ev);
		if (rc)
			return ada_err_prefix(err, rc, "validation decoding");
	}
	return ADA_OK;
}

static void s2s_plan(const struct trainer *tr, struct ada_plan *plan)
{
	const struct trainer_s2s *s = tr->s2s;

	plan->train_windows = s->train.n;
	plan->valid_windows = s->valid.n;
	plan->train_tokens = s->train.target_tokens;
}

static int s2s_result(const struct trainer *tr, json_t *j, struct ada_result *res)
{
	const struct trainer_s2s *s = tr->s2s;
	json_t *trunc = json_object(), *m = json_object(), *m0 = json_object();

	json_object_set_new(j, "task", json_string(ada_task_name(ADA_TASK_SEQ2SEQ)));
	json_object_set_new(j, "train_examples", json_integer(s->train.n));
	json_object_set_new(j, "valid_examples", json_integer(s->valid.n));
	json_object_set_new(j, "max_source_length", json_integer(s->max_src));
	json_object_set_new(j, "max_target_length", json_integer(s->max_tgt));
	json_object_set_new(trunc, "train_source", json_integer(s->train.n_truncated_src));
	json_object_set_new(trunc, "train_target", json_integer(s->train.n_truncated_tgt));
	json_object_set_new(trunc, "valid_source", json_integer(s->valid.n_truncated_src));
	json_object_set_new(trunc, "valid_target", json_integer(s->valid.n_truncated_tgt));
	json_object_set_new(j, "truncated", trunc);
	if (isfinite(tr->valid_m.glue.accuracy))
		json_object_set_new(m, "token_accuracy", json_real(tr->valid_m.glue.accuracy));
	if (isfinite(tr->valid_m_initial.glue.accuracy))
		json_object_set_new(m0, "token_accuracy",
				    json_real(tr->valid_m_initial.glue.accuracy));
	if (tr->valid_rouge.n)
		json_object_set_new(m, "rouge", ada_rouge_to_json(&tr->valid_rouge));
	if (tr->valid_rouge_initial.n)
		json_object_set_new(m0, "rouge", ada_rouge_to_json(&tr->valid_rouge_initial));
	{
		json_t *g = json_pack("{s:I,s:i,s:i,s:f,s:i,s:i}", "valid_generate_examples",
				      (json_int_t)s->n_generate, "num_beams", s->gen.num_beams,
				      "max_length", s->gen.max_length, "length_penalty",
				      s->gen.length_penalty, "no_repeat_ngram_size",
				      s->gen.no_repeat_ngram_size, "min_length", s->gen.min_length);
		if (g)
			json_object_set_new(j, "generation", g);
	}
	json_object_set_new(j, "metrics", m);
	json_object_set_new(j, "metrics_initial", m0);
	res->truncated_train = s->train.n_truncated_src + s->train.n_truncated_tgt;
	res->truncated_valid = s->valid.n_truncated_src + s->valid.n_truncated_tgt;
	return ADA_OK;
}

static void s2s_release(struct trainer *tr)
{
	struct trainer_s2s *s = tr->s2s;

	if (!s)
		return;
	s2s_dataset_release(&s->train);
	s2s_dataset_release(&s->valid);
	bart_acts_release(&s->acts);
	s2s_batch_buf_release(&s->buf);
	free(s);
	tr->s2s = NULL;
}

const struct trainer_task trainer_task_s2s = {
	.load = s2s_load,
	.build = s2s_build,
	.step = s2s_step,
	.n_valid = s2s_n_valid,
	.evaluate = s2s_evaluate,
	.plan = s2s_plan,
	.result = s2s_result,
	.release = s2s_release,
};
