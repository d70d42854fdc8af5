/*
 * trainer_lm — the causal language-model task of the trainer (trainer.h):
 * data packed into windows of seq_len + 1 tokens (data.h) by the job's
 * encoder (net/lm_encoder.h: text framing and chat template resolved
 * against the model), batches of windows (batch.h), llama_forward with the
 * loss gradient fused, then llama_backward; validation is the mean NLL of
 * the held-out windows, with and without the framing tokens. Loss and
 * gradients are token means over the whole optimizer step: each
 * micro-batch's gradient is scaled by 1 / (targets in the step).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net/evaluate.h"
#include "model/model_framing.h"
#include "net/lm_encoder.h"
#include "util/alloc.h"
#include "util/err.h"
#include "train/trainer.h"

struct trainer_lm {
	struct dataset train, valid;
	struct llama_acts acts;         /* micro-batch shape, also for validation */
	int32_t *inputs, *targets;      /* one micro-batch */
	int loaded;                     /* from files, through enc (not trainer_setup_lm) */
	struct lm_encoder enc;          /* how the files were read */
};

size_t trainer_lm_activation_bytes(const struct trainer *tr)
{
	return tr->lm ? tr->lm->acts.bytes : 0;
}

int trainer_lm_adopt(struct trainer *tr, struct dataset *train, struct dataset *valid,
		     struct ada_err *err)
{
	const struct ada_hparams *hp = tr->hp;
	struct trainer_lm *lm = tr->lm ? tr->lm : xcalloc(1, sizeof(*lm));

	if (!lm) {
		dataset_release(train);
		if (valid)
			dataset_release(valid);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	lm->train = *train;
	memset(train, 0, sizeof(*train));
	if (valid) {
		lm->valid = *valid;
		memset(valid, 0, sizeof(*valid));
	}
	tr->lm = lm;
	tr->task = &trainer_task_lm;
	tr->spec = (struct net_spec){ .task = ADA_TASK_CAUSAL_LM };
	return batch_plan_init(&tr->plan, lm->train.n_windows, hp->batch_size, hp->n_epochs,
			       hp->max_steps, err);
}

/* What the framing of the data came to, in the job's log. */
static void say_framing(struct trainer *tr, const struct lm_encoder *e, const struct dataset *ds,
			const struct dataset *valid)
{
	char missing[256];

	if (ds->shape != ADA_SHAPE_CHAT) {
		trainer_say(tr, "info", "text framing: %s%s",
			    e->append_eos ? "BOS + text + EOS" : "BOS + text, no EOS",
			    tr->hp->append_eos < 0 ? " (the model's default)" : "");
		return;
	}
	trainer_say(tr, "info", "chat template: %s (%s)", chat_family_name(e->chat.family),
		    e->chat_named ? "chat_template" : "the model's own");
	if (lm_encoder_missing_markers(e, tr->tok, missing, sizeof(missing)))
		trainer_say(tr, "warning",
			    "the tokenizer has no special tokens %s: the %s template's are encoded as text",
			    missing, chat_family_name(e->chat.family));
	if (ds->n_truncated || valid->n_truncated)
		trainer_say(tr, "warning",
			    "%lld conversations were longer than seq_len + 1 = %d tokens and were cut "
			    "to it (the rest of each is not trained on)",
			    (long long)(ds->n_truncated + valid->n_truncated), ds->seq_len + 1);
}

static int lm_load(struct trainer *tr, struct ada_err *err)
{
	const struct ada_job *job = tr->job;
	const struct ada_hparams *hp = tr->hp;
	struct dataset train, valid;
	struct trainer_lm *lm;
	int rc;

	/* the encoder points into itself, so it lives in its final place */
	lm = xcalloc(1, sizeof(*lm));
	if (!lm)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = lm_encoder_init(&lm->enc, tr->tok, hp->chat_template, hp->append_eos,
			     model_default_append_eos(tr->model, tr->tok), trainer_model_name(tr), err);
	if (!rc)
		rc = dataset_load_split(job->train_file, job->valid_file, hp->valid_fraction,
					hp->seq_len, &lm->enc.enc, &train, &valid, err);
	if (rc) {
		free(lm);
		return rc;
	}
	say_framing(tr, &lm->enc, &train, &valid);
	tr->lm = lm;
	lm->loaded = 1;
	return trainer_lm_adopt(tr, &train, &valid, err);
}

static int lm_build(struct trainer *tr, int micro, struct ada_err *err)
{
	const struct ada_hparams *hp = tr->hp;
	struct trainer_lm *lm = tr->lm;
	size_t n_io = (size_t)micro * (size_t)hp->seq_len;
	int rc;

	rc = llama_acts_init_flags(&lm->acts, &tr->tn.net.d, micro, hp->seq_len, tr->threads,
				   hp->gradient_checkpointing ? LLAMA_ACTS_CHECKPOINT : 0);
	if (rc)
		return ada_fail(err, rc, "out of memory for activations (micro-batch %d x %d)",
				micro, hp->seq_len);
	if ((rc = batcher_init(&tr->batcher, &lm->train, hp->batch_size, tr->job->seed, err)))
		return rc;
	lm->inputs = xcalloc(n_io, sizeof(*lm->inputs));
	lm->targets = xcalloc(n_io, sizeof(*lm->targets));
	if (!lm->inputs || !lm->targets)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

static int lm_step(struct trainer *tr, struct step_out *so, struct ada_err *err)
{
	struct trained_net *tn = &tr->tn;
	struct trainer_lm *lm = tr->lm;
	const int T = tr->hp->seq_len, micro = lm->acts.B;
	const int64_t step = tr->step;
	const int rows = batcher_step_rows(&tr->batcher, step);
	const int64_t step_targets = batcher_step_targets(&tr->batcher, step);
	int rc, mb_lo, mb_hi;

	/* micro-batch mb is rows [mb * micro, ...) in every process of a
	 * data-parallel job; this one computes its share of them */
	trainer_share(tr, (rows + micro - 1) / micro, &mb_lo, &mb_hi);
	for (int mb = mb_lo, r0 = mb_lo * micro; mb < mb_hi; r0 += micro, mb++) {
		int r1 = r0 + micro < rows ? r0 + micro : rows;
		struct nn_step st = { .training = 1, .seed = tr->job->seed, .step = step, .micro = mb };
		double nll = 0;
		int64_t cnt = 0;

		batcher_rows(&tr->batcher, step, r0, r1, lm->inputs, lm->targets);
		rc = llama_forward(&tn->net, &lm->acts, lm->inputs, lm->targets, r1 - r0,
				   (real)(1.0 / (double)(step_targets > 0 ? step_targets : 1)),
				   &nll, &cnt, &st);
		if (rc)
			return ada_fail(err, rc, "out of memory in the forward pass");
		if ((rc = llama_backward(&tn->net, &lm->acts, lm->inputs, r1 - r0, &st)))
			return ada_fail(err, rc, "out of memory in the backward pass");
		so->nll_sum += nll;
		so->n_targets += cnt;
		so->tokens += (int64_t)(r1 - r0) * T;
	}
	return ADA_OK;
}

static int64_t lm_n_valid(const struct trainer *tr)
{
	return tr->lm ? tr->lm->valid.n_windows : 0;
}

static int lm_evaluate(struct trainer *tr, struct ada_err *err)
{
	struct trainer_lm *lm = tr->lm;
	struct nll_sums s;
	int rc = evaluate_nll(&tr->tn.net, &lm->acts, &lm->valid, lm->inputs, lm->targets, &s);

	if (rc)
		return ada_fail(err, rc, "evaluation failed (out of memory)");
	tr->valid_loss = s.n ? s.nll / (double)s.n : NAN;
	tr->valid_loss_no_framing = s.n_no_framing ? s.nll_no_framing / (double)s.n_no_framing : NAN;
	return ADA_OK;
}

static void lm_plan(const struct trainer *tr, struct ada_plan *plan)
{
	plan->train_windows = tr->lm->train.n_windows;
	plan->valid_windows = tr->lm->valid.n_windows;
	plan->train_tokens = tr->lm->train.n_targets;
}

static int lm_result(const struct trainer *tr, json_t *j, struct ada_result *res)
{
	const struct trainer_lm *lm = tr->lm;
	int chat = lm->train.shape == ADA_SHAPE_CHAT;

	json_object_set_new(j, "task", json_string(ada_task_name(ADA_TASK_CAUSAL_LM)));
	json_object_set_new(j, "valid_loss_no_framing",
			    isfinite(tr->valid_loss_no_framing) ? json_real(tr->valid_loss_no_framing)
								: json_null());
	json_object_set_new(j, "valid_loss_no_framing_initial",
			    isfinite(tr->valid_loss_no_framing_initial)
				    ? json_real(tr->valid_loss_no_framing_initial) : json_null());
	if (!lm->loaded)
		return ADA_OK;
	json_object_set_new(j, "append_eos", chat ? json_null() : json_boolean(lm->enc.append_eos));
	json_object_set_new(j, "chat_template",
			    chat ? json_string(chat_family_name(lm->enc.chat.family)) : json_null());
	if (chat) {
		res->truncated_train = lm->train.n_truncated;
		res->truncated_valid = lm->valid.n_truncated;
		json_object_set_new(j, "truncated", json_pack("{sI sI}", "train",
			(json_int_t)res->truncated_train, "valid", (json_int_t)res->truncated_valid));
	}
	return ADA_OK;
}

static void lm_release(struct trainer *tr)
{
	struct trainer_lm *lm = tr->lm;

	if (!lm)
		return;
	free(lm->inputs);
	free(lm->targets);
	llama_acts_release(&lm->acts);
	dataset_release(&lm->train);
	dataset_release(&lm->valid);
	free(lm);
	tr->lm = NULL;
}

const struct trainer_task trainer_task_lm = {
	.load = lm_load,
	.build = lm_build,
	.step = lm_step,
	.n_valid = lm_n_valid,
	.evaluate = lm_evaluate,
	.plan = lm_plan,
	.result = lm_result,
	.release = lm_release,
};
