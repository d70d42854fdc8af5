/*
 * trainer_lm — the causal language-model task of the trainer (trainer.h):
 * data packed into windows of seq_len + 1 tokens (data.h), batches of
 * windows (batch.h), llama_forward with the loss gradient fused, then
 * llama_backward; validation is the mean NLL of the held-out windows.
 * Loss and gradients are token means over the whole optimizer step: each
 * micro-batch's gradient is scaled by 1 / (targets in the step).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net/evaluate.h"
#include "util/alloc.h"
#include "util/err.h"
#include "train/trainer.h"

struct trainer_lm {
	struct dataset train, valid;
	struct llama_acts acts;         /* micro-batch shape, also for validation */
	int32_t *inputs, *targets;      /* one micro-batch */
};

size_t trainer_lm_activation_bytes(const struct trainer *tr)
{
	return tr->lm ? tr->lm->acts.bytes : 0;
}

static int encode_cb(void *ctx, const char *text, size_t len, unsigned flags, struct ivec *out,
		     struct ada_err *err)
{
	return tokenizer_encode(ctx, text, len, flags, out, err);
}

int trainer_lm_adopt(struct trainer *tr, struct dataset *train, struct dataset *valid,
		     struct ada_err *err)
{
	const struct ada_hparams *hp = tr->hp;
	struct trainer_lm *lm = xcalloc(1, sizeof(*lm));

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

static int lm_load(struct trainer *tr, struct ada_err *err)
{
	const struct ada_job *job = tr->job;
	const struct ada_hparams *hp = tr->hp;
	struct dataset train, valid;
	struct text_encoder enc;
	int rc;

	enc.ctx = tr->tok;
	enc.encode = encode_cb;
	enc.bos = tokenizer_bos(tr->tok);
	enc.eos = tokenizer_eos(tr->tok);
	enc.pad = tokenizer_pad(tr->tok) >= 0 ? tokenizer_pad(tr->tok) : 0;
	rc = dataset_load_split(job->train_file, job->valid_file, hp->valid_fraction, hp->seq_len,
				&enc, &train, &valid, err);
	if (rc)
		return rc;
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
	int rc;

	for (int r0 = 0, mb = 0; r0 < rows; r0 += micro, mb++) {
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
	double nll;
	int64_t n;
	int rc = evaluate_nll(&tr->tn.net, &lm->acts, &lm->valid, lm->inputs, lm->targets, &nll, &n);

	if (rc)
		return ada_fail(err, rc, "evaluation failed (out of memory)");
	tr->valid_loss = n ? nll / (double)n : NAN;
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
	(void)tr;
	(void)res;
	json_object_set_new(j, "task", json_string(ada_task_name(ADA_TASK_CAUSAL_LM)));
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
