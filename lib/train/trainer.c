/*
 * trainer — the optimizer loop of ada_train(); see trainer.h.
 *
 * One step, in the order adalora.md section 8 fixes:
 *   zero grads; the task's forward and backward of each micro-batch
 *   (trainer_lm.c, trainer_cls.c); + gamma * R (AdaLoRA); clip; AdamW;
 *   rank allocator (importance, budget, mask); report.
 * The stop flag is read between steps only, so a checkpoint always sits on
 * a step boundary and a resumed run continues bit for bit.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/orth_reg.h"
#include "util/err.h"
#include "util/fileio.h"
#include "data/qa_metrics.h"
#include "data/rouge.h"
#include "train/trainer.h"

/* Consecutive steps with non-finite gradients before a job is declared diverged. */
#define MAX_NONFINITE_STEPS 20

/* What the processes of a data-parallel job sum at every step beside the
 * gradients: the step's loss and counts (so every process reports the
 * job's), the stop flags each has seen, and failures (so that one process's
 * error fails all of them at the same step instead of leaving them waiting). */
enum { SUM_NLL, SUM_TARGETS, SUM_TOKENS, SUM_CANCEL, SUM_PAUSE, SUM_FAILED, N_SUMS };

const char *trainer_model_name(const struct trainer *tr)
{
	return tr->job->model_name ? tr->job->model_name : tr->job->model;
}

void trainer_say(struct trainer *tr, const char *level, const char *fmt, ...)
{
	const struct ada_callbacks *cb = trainer_cb(tr);
	char msg[512];
	va_list ap;

	if (!cb || !cb->on_log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cb->on_log(cb->ctx, level, msg);
}

void trainer_rank_matrix(const struct trainer *tr, int *ranks)
{
	const int L = tr->model->cfg.n_layers, M = model_n_modules(&tr->model->cfg);

	for (int i = 0; i < L * M; i++)
		ranks[i] = -1;
	for (int i = 0; i < tr->tn.n_mods; i++) {
		const struct adapted_module *am = &tr->tn.mods[i];
		int r = am->lr->r;
		if (tr->alloc && !tr->compacted)
			r = rank_allocator_rank(tr->alloc, i);
		ranks[am->layer * M + am->module] = r;
	}
}

static void emit_ranks(struct trainer *tr, int64_t step, int64_t budget, int64_t kept, int final)
{
	const struct ada_callbacks *cb = trainer_cb(tr);
	const struct model_config *c = &tr->model->cfg;
	const int L = c->n_layers, M = model_n_modules(c);
	const char *names[MAX_LAYER_MODULES], *mgroups[MAX_LAYER_MODULES];
	const char **lgroups = NULL;
	const int stacks = c->family == ADA_FAMILY_BART;
	int *ranks;

	if (!cb || !cb->on_ranks)
		return;
	ranks = calloc((size_t)L * M, sizeof(*ranks));
	if (stacks)
		lgroups = calloc((size_t)L, sizeof(*lgroups));
	if (!ranks || (stacks && !lgroups)) {
		free(ranks);
		return;
	}
	trainer_rank_matrix(tr, ranks);
	for (int m = 0; m < M; m++) {
		names[m] = model_module_name(c, m);
		mgroups[m] = model_module_group(c, m);
	}
	for (int l = 0; stacks && l < L; l++)
		lgroups[l] = model_layer_group(c, l);
	struct ada_ranks r = {
		.step = step, .budget = budget, .kept = kept,
		.initial = budget_schedule_initial(&tr->schedule),
		.target = budget_schedule_target(&tr->schedule),
		.init_r = tr->hp->init_r, .n_layers = L, .n_modules = M,
		.module_names = names, .ranks = ranks, .final = final,
		.layer_groups = stacks ? lgroups : NULL, .module_groups = stacks ? mgroups : NULL,
	};
	cb->on_ranks(cb->ctx, &r);
	free(lgroups);
	free(ranks);
}

/* Rebuild the arena at the kept ranks after the mask froze: P, Q, lambda and
 * both moments keep only the surviving triplets, so the last phase computes
 * (and checkpoints) no masked component. Outputs are unchanged: a masked
 * triplet contributed lambda = 0. */
static int compact(struct trainer *tr, struct ada_err *err)
{
	struct trained_net *tn = &tr->tn;
	uint8_t **keep = calloc((size_t)tn->n_mods + 1, sizeof(*keep));
	int rc = ADA_OK;

	if (!keep)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < tn->n_mods && !rc; i++) {
		const bool *k = rank_allocator_kept(tr->alloc, i);
		keep[i] = malloc((size_t)tn->mods[i].lr->r + 1);
		if (!keep[i]) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			break;
		}
		for (int j = 0; j < tn->mods[i].lr->r; j++)
			keep[i][j] = k[j];
	}
	if (!rc)
		rc = trained_net_compact(tn, (const uint8_t *const *)keep, err);
	for (int i = 0; i < tn->n_mods; i++)
		free(keep[i]);
	free(keep);
	if (rc)
		return rc;
	rc = trainer_chunk_arena(tr, err);
	if (!rc)
		tr->compacted = 1;
	return rc;
}

/* Sum the gradient arena and the step's counters over the processes of a
 * data-parallel job (one allreduce), and agree on stopping. failed: this
 * process's own step failed (its error is in err already). */
static int reduce_step(struct trainer *tr, struct step_out *so, int failed, struct ada_err *err)
{
	const struct ada_parallel *p = tr->job->parallel;
	const int s = tr->job->stop ? atomic_load_explicit(tr->job->stop, memory_order_acquire)
				    : ADA_RUN;
	double sums[N_SUMS] = {
		[SUM_NLL] = so->nll_sum, [SUM_TARGETS] = (double)so->n_targets,
		[SUM_TOKENS] = (double)so->tokens, [SUM_CANCEL] = s == ADA_STOP_CANCEL,
		[SUM_PAUSE] = s == ADA_STOP_PAUSE, [SUM_FAILED] = failed,
	};
	struct ada_err mine = { 0 };
	int rc;

	if ((rc = p->allreduce(p->ctx, tr->tn.arena.g, tr->tn.arena.n, sums, N_SUMS,
			       failed ? &mine : err)))
		return failed ? ADA_OK : rc;   /* a failed step keeps its own error */
	if (failed)
		return ADA_OK;
	if (sums[SUM_FAILED] > 0)
		return ada_fail(err, ADA_EIO,
				"step %lld: %.0f other process%s of the job failed (%s own output says why)",
				(long long)tr->step + 1, sums[SUM_FAILED],
				sums[SUM_FAILED] > 1 ? "es" : "", sums[SUM_FAILED] > 1 ? "their" : "its");
	so->nll_sum = sums[SUM_NLL];
	so->n_targets = (int64_t)sums[SUM_TARGETS];
	so->tokens = (int64_t)sums[SUM_TOKENS];
	tr->agreed_stop = sums[SUM_CANCEL] > 0 ? ADA_STOP_CANCEL
			  : sums[SUM_PAUSE] > 0 ? ADA_STOP_PAUSE : ADA_RUN;
	return ADA_OK;
}

int trainer_step(struct trainer *tr, struct step_out *so, struct ada_err *err)
{
	const struct ada_hparams *hp = tr->hp;
	struct trained_net *tn = &tr->tn;
	const int64_t step = tr->step;
	int rc;

	memset(so, 0, sizeof(*so));
	so->budget = -1;
	memset(tn->arena.g, 0, sizeof(float) * tn->arena.n);
	rc = tr->task->step(tr, so, err);
	/* Every process's share summed before anything reads the gradients:
	 * from here on all processes compute the same thing. The penalty's
	 * gradient is added after the sum, once. */
	if (tr->job->parallel) {
		int rrc = reduce_step(tr, so, rc != ADA_OK, err);
		if (!rc)
			rc = rrc;
	}
	if (rc)
		return rc;
	if (tr->job->method.type == ADA_METHOD_ADALORA && tn->n_mods) {
		const double gamma = hp->orth_reg_weight, two_n = 2.0 * tn->n_mods;
		double sum = 0;
		for (int i = 0; i < tn->n_mods; i++) {
			struct lowrank *lr = tn->mods[i].lr;
			sum += orth_reg_pair(lr->P, lr->Q, lr->base.out, lr->base.in, lr->r,
					     (real)(gamma / two_n), lr->dP, lr->dQ, tr->orth_scratch);
		}
		so->orth_reg = sum / two_n;
	}
	grad_clip(&tr->chunks, tn->arena.g, hp->max_grad_norm, &so->gn);
	so->lr = hp->learning_rate *
		 lr_factor(hp->lr_scheduler, step, hp->warmup_steps, tr->plan.total_steps);
	if (so->gn.finite) {
		adamw_step(&tr->opt, &tr->chunks, so->lr, tn->arena.w, tn->arena.g, tn->arena.m,
			   tn->arena.v);
		tr->nonfinite_in_a_row = 0;
	} else {
		tr->nonfinite_in_a_row++;
		trainer_say(tr, "warning", "step %lld: non-finite gradients, update skipped",
		    (long long)step + 1);
	}
	if (tr->alloc && !tr->compacted) {
		struct rank_step_info info;
		if ((rc = rank_allocator_step(tr->alloc, step, &info, err)))
			return rc;
		so->budget = info.budget;
		if (info.masked)
			emit_ranks(tr, step + 1, info.budget, info.kept, info.froze);
		if (info.froze && hp->compact_on_freeze &&
		    tr->job->method.type == ADA_METHOD_ADALORA) {
			if ((rc = compact(tr, err)))
				return rc;
			trainer_say(tr, "info", "step %lld: rank mask frozen at %lld triplets; adapters compacted",
			    (long long)step + 1, (long long)info.kept);
		}
	} else if (tr->alloc) {
		so->budget = budget_schedule_target(&tr->schedule);
	}
	tr->step++;
	tr->trained_tokens += so->tokens;
	if (tr->nonfinite_in_a_row >= MAX_NONFINITE_STEPS)
		return ada_fail(err, ADA_ENUMERIC,
				"training diverged: %d consecutive steps with non-finite gradients (lower learning_rate?)",
				MAX_NONFINITE_STEPS);
	return ADA_OK;
}

/* The latest evaluation into the metrics the callbacks see. */
static void show_valid(struct trainer *tr)
{
	tr->last.valid_loss = tr->valid_loss;
	tr->last.valid_loss_no_framing = tr->valid_loss_no_framing;
	tr->last.glue = tr->valid_m.glue;
	tr->last.qa = tr->valid_qa;
	tr->last.rouge = tr->valid_rouge;
}

static int evaluate_valid(struct trainer *tr, struct ada_err *err)
{
	const struct ada_callbacks *cb = trainer_cb(tr);
	int rc;

	/* a data-parallel job validates in its writing process only */
	if (!tr->task->n_valid(tr) || !trainer_writer(tr))
		return ADA_OK;
	/* Validation in f32 whatever compute_dtype: the figures `adalora eval`
	 * gives for the same adapter. */
	if (tr->bf16.buf)
		trained_net_set_bf16(&tr->tn, NULL);
	rc = tr->task->evaluate(tr, err);
	if (tr->bf16.buf)
		trained_net_set_bf16(&tr->tn, &tr->bf16);
	if (rc)
		return rc;
	show_valid(tr);
	if (cb && cb->on_eval)
		cb->on_eval(cb->ctx, &tr->last);
	return ADA_OK;
}

static int stop_now(struct trainer *tr, int *code, struct ada_err *err)
{
	/* The processes of a data-parallel job stop on what they agreed at the
	 * last step, so they all stop at this boundary; one process reads its flag. */
	int s = tr->job->parallel ? tr->agreed_stop
		: tr->job->stop ? atomic_load_explicit(tr->job->stop, memory_order_acquire)
				: ADA_RUN;
	int rc;

	if (s == ADA_RUN)
		return 0;
	rc = trainer_writer(tr) ? trainer_save_checkpoint(tr, err) : ADA_OK;
	if (rc) {
		*code = rc;
		return 1;
	}
	*code = s == ADA_STOP_CANCEL ? ADA_ECANCELLED : ADA_ESTOPPED;
	ada_fail(err, *code, "%s at step %lld (checkpoint kept)",
		 s == ADA_STOP_CANCEL ? "cancelled" : "paused", (long long)tr->step);
	return 1;
}

static int train_loop(struct trainer *tr, struct ada_err *err)
{
	const struct ada_hparams *hp = tr->hp;
	const struct ada_callbacks *cb = trainer_cb(tr);
	const int64_t T = tr->plan.total_steps, start = tr->step;
	double t0 = trainer_now(), t_int = t0;
	int64_t interval_tokens = 0;
	int rc, code;

	tr->last.total_steps = T;
	show_valid(tr);
	tr->last.budget = tr->has_budget ? budget_schedule_initial(&tr->schedule) : -1;
	if (tr->step == 0 && tr->task->n_valid(tr)) {
		if ((rc = evaluate_valid(tr, err)))
			return rc;
		tr->valid_loss_initial = tr->valid_loss;
		tr->valid_loss_no_framing_initial = tr->valid_loss_no_framing;
		tr->valid_m_initial = tr->valid_m;
		tr->valid_qa_initial = tr->valid_qa;
		tr->valid_rouge_initial = tr->valid_rouge;
		if (tr->valid_rouge.n)
			trainer_say(tr, "info",
				    "validation before training: loss %.4f, token accuracy %.4f, ROUGE-1/2/L %.4f/%.4f/%.4f (%lld decoded)",
				    tr->valid_loss, tr->valid_m.glue.accuracy,
				    tr->valid_rouge.rouge1.fmeasure, tr->valid_rouge.rouge2.fmeasure,
				    tr->valid_rouge.rougeL.fmeasure, (long long)tr->valid_rouge.n);
		else if (isfinite(tr->valid_qa.f1))
			trainer_say(tr, "info", "validation before training: loss %.4f, exact %.2f, F1 %.2f",
				    tr->valid_loss, tr->valid_qa.exact, tr->valid_qa.f1);
		else if (isfinite(tr->valid_m.glue.accuracy))
			trainer_say(tr, "info", "validation before training: loss %.4f, accuracy %.4f",
				    tr->valid_loss, tr->valid_m.glue.accuracy);
		else if (isfinite(tr->valid_loss_no_framing) &&
			 tr->valid_loss_no_framing != tr->valid_loss)
			trainer_say(tr, "info",
				    "validation loss before training: %.4f (%.4f without framing tokens)",
				    tr->valid_loss, tr->valid_loss_no_framing);
		else
			trainer_say(tr, "info", "validation loss before training: %.4f", tr->valid_loss);
	}
	if (tr->step == 0 && tr->has_budget)
		emit_ranks(tr, 0, budget_schedule_initial(&tr->schedule),
			   budget_schedule_initial(&tr->schedule), 0);
	while (tr->step < T) {
		struct step_out so;

		if (stop_now(tr, &code, err))
			return code;
		if ((rc = trainer_step(tr, &so, err)))
			return rc;
		tr->interval_nll += so.nll_sum;
		tr->interval_targets += so.n_targets;
		interval_tokens += so.tokens;
		tr->last.step = tr->step;
		tr->last.epoch = (double)tr->step / (double)tr->plan.steps_per_epoch;
		tr->last.learning_rate = so.lr;
		tr->last.grad_norm = so.gn.norm;
		tr->last.orth_reg = so.orth_reg;
		tr->last.budget = so.budget;
		tr->last.trained_tokens = tr->trained_tokens;

		if (tr->step % hp->log_every == 0 || tr->step == T) {
			double now = trainer_now();
			tr->last.train_loss = tr->interval_targets
						      ? tr->interval_nll / (double)tr->interval_targets
						      : NAN;
			tr->last.tokens_per_second = interval_tokens / (now - t_int > 1e-9 ? now - t_int : 1e-9);
			tr->last.elapsed_seconds = now - tr->t_start;
			tr->last.eta_seconds = (now - t0) / (double)(tr->step - start) * (double)(T - tr->step);
			if (cb && cb->on_metrics)
				cb->on_metrics(cb->ctx, &tr->last);
			tr->interval_nll = 0;
			tr->interval_targets = interval_tokens = 0;
			t_int = now;
		}
		if (hp->eval_every && tr->step % hp->eval_every == 0 && tr->step < T &&
		    (rc = evaluate_valid(tr, err)))
			return rc;
		if (hp->checkpoint_every && tr->step % hp->checkpoint_every == 0 && tr->step < T &&
		    trainer_writer(tr)) {
			if ((rc = trainer_save_checkpoint(tr, err)))
				return rc;
			if (cb && cb->on_checkpoint) {
				char *dir = path_join(tr->job->out_dir, "checkpoint");
				cb->on_checkpoint(cb->ctx, tr->step, dir, &tr->last);
				free(dir);
			}
		}
	}
	if (T > 0 && tr->nonfinite_in_a_row >= T)
		/* Not one update was made: there is no result, only the model. */
		return ada_fail(err, ADA_ENUMERIC,
				"training diverged: non-finite gradients at step 1 and at every step after it, up to step %lld; nothing was trained (lower learning_rate, or check the model's weights)",
				(long long)T);
	if (tr->has_budget) {
		/* The allocation the adapter is exported with. */
		int64_t kept = 0;
		for (int i = 0; i < tr->tn.n_mods; i++)
			kept += tr->compacted ? tr->tn.mods[i].lr->r : rank_allocator_rank(tr->alloc, i);
		emit_ranks(tr, tr->step, budget_schedule_target(&tr->schedule), kept, 1);
	}
	return evaluate_valid(tr, err);
}

int ada_train(const struct ada_job *job, struct ada_result *res, struct ada_err *err)
{
	struct trainer tr;
	struct ada_result local;
	int rc;

	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->valid_loss = res->valid_loss_initial = NAN;
	res->valid_loss_no_framing = res->valid_loss_no_framing_initial = NAN;
	glue_metrics_clear(&res->glue);
	qa_metrics_clear(&res->qa);
	rouge_clear(&res->rouge);
	rouge_clear(&res->rouge_initial);
	if (!job->out_dir)
		return ada_fail(err, ADA_EINVAL, "a job needs an output directory");
	/* In a data-parallel job only the writer writes (the others read
	 * out_dir's checkpoint when they resume). */
	rc = !job->parallel || job->parallel->writer ? mkdir_p(job->out_dir, 0755, err) : ADA_OK;
	if (rc)
		return rc;
	rc = trainer_setup(&tr, job, err);
	if (!rc)
		rc = trainer_build(&tr, err);
	if (!rc) {
		trainer_plan(&tr, &res->plan);
		tr.t_start = trainer_now();
		trainer_say(&tr, "info", "%s on %s: %lld steps (%lld per epoch), %lld trainable parameters",
		    ada_method_name(job->method.type), trainer_model_name(&tr),
		    (long long)tr.plan.total_steps,
		    (long long)tr.plan.steps_per_epoch, (long long)res->plan.trainable_params);
		rc = train_loop(&tr, err);
	}
	if (!rc && trainer_writer(&tr))
		rc = trainer_write_outputs(&tr, res, err);
	res->steps = tr.step;
	res->trained_tokens = tr.trained_tokens;
	res->train_loss = tr.last.train_loss;
	res->valid_loss = tr.valid_loss;
	res->valid_loss_initial = tr.valid_loss_initial;
	res->valid_loss_no_framing = tr.valid_loss_no_framing;
	res->valid_loss_no_framing_initial = tr.valid_loss_no_framing_initial;
	res->glue = tr.valid_m.glue;
	res->qa = tr.valid_qa;
	res->rouge = tr.valid_rouge;
	res->rouge_initial = tr.valid_rouge_initial;
	if (tr.t_start > 0)
		res->seconds = trainer_now() - tr.t_start;
	trainer_release(&tr);
	if (res == &local)
		ada_result_release(&local);
	return rc;
}
