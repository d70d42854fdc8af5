/*
 * trainer_setup — everything a job needs before its first step: model,
 * tokenizer and data loaded and checked against the method, the plan
 * (total steps, budget), then the network, optimizer and rank allocator,
 * restored from a checkpoint when resuming.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../util/alloc.h"
#include "../util/err.h"
#include "../util/fileio.h"
#include "../util/fpenv.h"
#include "trainer.h"

double trainer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int encode_cb(void *ctx, const char *text, size_t len, unsigned flags, struct ivec *out,
		     struct ada_err *err)
{
	return tokenizer_encode(ctx, text, len, flags, out, err);
}

/* "method.<type>.hyperparameters" for error params. */
static void hp_prefix(const struct ada_method *m, char *buf, size_t cap)
{
	snprintf(buf, cap, "method.%s.hyperparameters", ada_method_name(m->type));
}

/* Data and schedule modules name bare fields ("batch_size", "total_steps");
 * the API reports the full path. The total steps follow from the data, so
 * a schedule with no budget phase is blamed on tfinal, as in method.c. */
static int qualify_param(struct ada_err *err, const char *prefix, int rc)
{
	char bare[sizeof(err->param)];

	if (!err || !rc || !err->param[0] || !strncmp(err->param, "method.", 7))
		return rc;
	snprintf(bare, sizeof(bare), "%s", err->param);
	if (!strcmp(bare, "total_steps"))
		snprintf(bare, sizeof(bare), "tfinal");
	snprintf(err->param, sizeof(err->param), "%s.%s", prefix, bare);
	return rc;
}

/* A string that changes whenever anything that shapes the result does. */
static char *make_fingerprint(const struct ada_job *job)
{
	json_t *j = json_object();
	char *s;

	json_object_set_new(j, "model", json_string(job->model));
	json_object_set_new(j, "tokenizer", job->tokenizer ? json_string(job->tokenizer) : json_null());
	json_object_set_new(j, "train_file", json_string(job->train_file));
	json_object_set_new(j, "valid_file", job->valid_file ? json_string(job->valid_file) : json_null());
	json_object_set_new(j, "seed", json_integer((json_int_t)job->seed));
	json_object_set_new(j, "method", ada_method_to_json(&job->method));
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

int trainer_setup(struct trainer *tr, const struct ada_job *job, struct ada_err *err)
{
	const struct ada_hparams *hp = &job->method.hp;
	struct text_encoder enc;
	char prefix[96], param[160];
	int rc;

	memset(tr, 0, sizeof(*tr));
	tr->job = job;
	tr->hp = hp;
	tr->valid_loss = NAN;
	tr->valid_loss_initial = NAN;
	hp_prefix(&job->method, prefix, sizeof(prefix));
	if (!job->model || !job->train_file)
		return ada_fail(err, ADA_EINVAL, "a job needs a model and a training file");

	if ((rc = model_load(job->model, job->tokenizer, &tr->model, err)))
		return rc;
	if (tr->model->cfg.family != MODEL_FAMILY_LLAMA)
		return ada_fail(err, ADA_EUNSUPPORTED, "%s: only Llama-family models can be trained",
				job->model);
	if (hp->seq_len > tr->model->cfg.context_length) {
		snprintf(param, sizeof(param), "%s.seq_len", prefix);
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%s (%d) exceeds the model's context length (%d)", param,
				      hp->seq_len, tr->model->cfg.context_length);
	}
	if ((rc = model_open_tokenizer(tr->model, job->tokenizer, &tr->owned_tok, err)))
		return rc;
	tr->tok = tr->owned_tok;

	enc.ctx = tr->tok;
	enc.encode = encode_cb;
	enc.bos = tokenizer_bos(tr->tok);
	enc.eos = tokenizer_eos(tr->tok);
	enc.pad = tokenizer_pad(tr->tok) >= 0 ? tokenizer_pad(tr->tok) : 0;
	rc = dataset_load_split(job->train_file, job->valid_file, hp->valid_fraction, hp->seq_len,
				&enc, &tr->train, &tr->valid, err);
	if (rc)
		return qualify_param(err, prefix, rc);
	rc = batch_plan_init(&tr->plan, tr->train.n_windows, hp->batch_size, hp->n_epochs,
			     hp->max_steps, err);
	if (rc)
		return qualify_param(err, prefix, rc);

	tr->has_budget = job->method.type == ADA_METHOD_ADALORA ||
			 job->method.type == ADA_METHOD_LORA_PRUNE;
	if (tr->has_budget) {
		int n = 0;
		for (int m = 0; m < N_LLAMA_MODULES; m++)
			n += (hp->target_modules >> m) & 1;
		tr->schedule = (struct budget_schedule){
			.total_steps = tr->plan.total_steps, .tinit = hp->tinit,
			.tfinal = hp->tfinal, .deltaT = hp->delta_t, .init_r = hp->init_r,
			.target_r = hp->target_r, .n_matrices = (int64_t)n * tr->model->cfg.n_layers,
		};
		if ((rc = budget_schedule_check(&tr->schedule, NULL, err)))
			return qualify_param(err, prefix, rc);
	}
	tr->fingerprint = make_fingerprint(job);
	if (!tr->fingerprint)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

void trainer_plan(const struct trainer *tr, struct ada_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->total_steps = tr->plan.total_steps;
	plan->steps_per_epoch = tr->plan.steps_per_epoch;
	plan->n_epochs = tr->plan.n_epochs;
	plan->train_windows = tr->train.n_windows;
	plan->valid_windows = tr->valid.n_windows;
	plan->train_tokens = tr->train.n_targets;
	plan->budget_initial = plan->budget_target = -1;
	if (tr->has_budget) {
		plan->n_matrices = tr->schedule.n_matrices;
		plan->budget_initial = budget_schedule_initial(&tr->schedule);
		plan->budget_target = budget_schedule_target(&tr->schedule);
	} else if (tr->job->method.type != ADA_METHOD_FULL) {
		int n = 0;
		for (int m = 0; m < N_LLAMA_MODULES; m++)
			n += (tr->hp->target_modules >> m) & 1;
		plan->n_matrices = (int64_t)n * tr->model->cfg.n_layers;
	}
	plan->trainable_params = trained_net_param_count(&tr->model->cfg, &tr->job->method);
}

/* Optimizer ranges: one per arena tensor, with its decay flag. */
static int build_optimizer(struct trainer *tr, struct ada_err *err)
{
	const struct param_arena *pa = &tr->tn.arena;
	struct param_range *ranges = xcalloc((size_t)pa->n_tensors + 1, sizeof(*ranges));
	struct adamw_config cfg = ADAMW_CONFIG_DEFAULT;
	int rc;

	if (!ranges)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < pa->n_tensors; i++)
		ranges[i] = (struct param_range){ pa->t[i].offset, pa->t[i].n, pa->t[i].decay };
	rc = param_chunks_init(&tr->chunks, ranges, (size_t)pa->n_tensors, pa->n, err);
	free(ranges);
	if (rc)
		return rc;
	cfg.weight_decay = tr->hp->weight_decay;
	return adamw_init(&tr->opt, &cfg, err);
}

static int build_allocator(struct trainer *tr, struct ada_err *err)
{
	struct trained_net *tn = &tr->tn;
	struct rank_allocator_config cfg = {
		.mode = tr->job->method.type == ADA_METHOD_ADALORA ? RANK_MODE_ADALORA
								    : RANK_MODE_LORA_PRUNE,
		.importance = (enum rank_importance)tr->hp->importance,
		.beta1 = tr->hp->beta1,
		.beta2 = tr->hp->beta2,
		.schedule = tr->schedule,
	};
	struct rank_matrix *views = xcalloc((size_t)tn->n_mods + 1, sizeof(*views));
	int rc;

	if (!views)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < tn->n_mods; i++) {
		struct lowrank *lr = tn->mods[i].lr;
		views[i] = (struct rank_matrix){
			.out = lr->base.out, .in = lr->base.in, .r = lr->r,
			.P = lr->P, .gate = lr->g, .Q = lr->Q,
			.dP = lr->dP, .dgate = lr->dg, .dQ = lr->dQ,
		};
	}
	rc = rank_allocator_new(&cfg, views, tn->n_mods, &tr->alloc, err);
	free(views);
	return rc;
}

int trainer_build(struct trainer *tr, struct ada_err *err)
{
	const struct ada_job *job = tr->job;
	const struct ada_hparams *hp = tr->hp;
	int rc, micro = hp->micro_batch_size;
	size_t n_io;

#ifdef _OPENMP
	tr->threads = job->threads > 0 ? job->threads : omp_get_max_threads();
	omp_set_num_threads(tr->threads);
#else
	tr->threads = 1;
#endif
	fpenv_flush_subnormals();
	rc = trained_net_build(&tr->tn, tr->model, &job->method, job->seed, 1, err);
	if (rc)
		return rc;
	if (micro > hp->batch_size)
		micro = hp->batch_size;
	rc = llama_acts_init(&tr->acts, &tr->tn.net.d, micro, hp->seq_len, tr->threads);
	if (rc)
		return ada_fail(err, rc, "out of memory for activations (micro-batch %d x %d)",
				micro, hp->seq_len);
	if ((rc = batcher_init(&tr->batcher, &tr->train, hp->batch_size, job->seed, err)))
		return rc;
	if ((rc = build_optimizer(tr, err)))
		return rc;
	if (tr->has_budget && (rc = build_allocator(tr, err)))
		return rc;
	n_io = (size_t)micro * (size_t)hp->seq_len;
	tr->inputs = xcalloc(n_io, sizeof(*tr->inputs));
	tr->targets = xcalloc(n_io, sizeof(*tr->targets));
	tr->orth_scratch = xcalloc((size_t)hp->init_r * (size_t)hp->init_r + 1, sizeof(float));
	if (!tr->inputs || !tr->targets || !tr->orth_scratch)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (job->resume) {
		rc = trainer_load_checkpoint(tr, err);
		if (rc == ADA_ENOTFOUND)
			rc = ADA_OK;   /* nothing to resume: start from step 0 */
		if (rc)
			return rc;
	}
	return ADA_OK;
}

void trainer_release(struct trainer *tr)
{
	free(tr->inputs);
	free(tr->targets);
	free(tr->orth_scratch);
	free(tr->fingerprint);
	rank_allocator_free(tr->alloc);
	param_chunks_release(&tr->chunks);
	batcher_release(&tr->batcher);
	llama_acts_release(&tr->acts);
	trained_net_release(&tr->tn);
	dataset_release(&tr->train);
	dataset_release(&tr->valid);
	tokenizer_free(tr->owned_tok);
	model_free(tr->model);
	memset(tr, 0, sizeof(*tr));
}

int ada_job_plan(const struct ada_job *job, struct ada_plan *plan, struct ada_err *err)
{
	struct trainer tr;
	int rc = trainer_setup(&tr, job, err);

	if (!rc) {
		trainer_plan(&tr, plan);
		plan->trainable_params = trained_net_param_count(&tr.model->cfg, &job->method);
	}
	trainer_release(&tr);
	return rc;
}
