/*
 * bench — ada_bench(): the speed of real training steps, measured the way
 * ../shared/bench/torch_reference.py measures its own, so the two can run
 * side by side (compare.py): same shapes, random weights and tokens, the
 * same hyperparameters (LoRA rank r, AdaLoRA init_r 12 -> 8 with deltaT 1
 * and gamma 0.1, alpha 32, AdamW lr 1e-3, clipping at 1), warm-up steps
 * untimed, the median of the timed ones.
 *
 * It drives the trainer's own step (trainer_step) over a synthetic dataset
 * of one batch, so what is timed is exactly what a job runs: forward,
 * backward, regulariser, clipping, AdamW and the rank allocator.
 *
 * FLOPs are counted from the shapes (matrix products and attention, the
 * work a dense implementation must do; masked attention counted once):
 * forward, input gradients everywhere, weight gradients only where
 * something trains.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"
#include "train/trainer.h"

static double step_flops(const struct model_config *c, const struct ada_method *m, int B, int T)
{
	const double N = (double)B * T, D = c->dim, V = c->vocab_size, hd = c->head_dim;
	const int full = m->type == ADA_METHOD_FULL;
	const int r = m->type == ADA_METHOD_LORA ? m->hp.r : m->hp.init_r;
	double lin = 0, adapters = 0, attn, total;

	for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
		int out, in;
		llama_module_shape(c, mod, &out, &in);
		lin += 2.0 * N * in * out;
		if (!full && (m->hp.target_modules >> mod) & 1)
			adapters += 2.0 * N * r * (in + out);
	}
	lin *= c->n_layers;
	adapters *= c->n_layers;
	lin += 2.0 * N * D * V;                                  /* output layer */
	attn = (double)c->n_layers * B * c->n_heads * 2.0 * hd * T * (T + 1.0);
	/* forward + input gradients (+ weight gradients when full) */
	total = lin * (full ? 3 : 2) + attn * 3 + adapters * 3;
	return total;
}

static int bench_method(const struct ada_bench_opts *o, struct ada_method *m, struct ada_err *err)
{
	ada_method_defaults(o->method, m);
	m->hp.batch_size = m->hp.micro_batch_size = o->batch;
	m->hp.seq_len = o->seq;
	m->hp.learning_rate = 1e-3;
	m->hp.lr_scheduler = ADA_LR_CONSTANT;
	m->hp.max_grad_norm = 1.0;
	m->hp.lora_alpha = 32;
	m->hp.r = o->rank > 0 ? o->rank : 8;
	m->hp.init_r = o->rank > 0 ? o->rank : 12;
	m->hp.target_r = m->hp.init_r * 2 / 3;
	m->hp.tinit = 0;
	m->hp.tfinal = 0;
	m->hp.delta_t = 1;
	m->hp.orth_reg_weight = 0.1;
	m->hp.compact_on_freeze = 0;
	m->hp.log_every = 1000000;
	m->hp.checkpoint_every = 0;
	m->hp.max_steps = o->warmup + o->steps + 1;   /* the freeze stays beyond the run */
	if (o->batch < 1 || o->seq < 2 || o->steps < 1 || o->warmup < 0)
		return ada_fail(err, ADA_EINVAL, "bench needs batch >= 1, seq >= 2, steps >= 1");
	return ADA_OK;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int ada_bench(const struct ada_bench_opts *o, struct ada_bench_result *res, struct ada_err *err)
{
	struct trainer tr;
	struct ada_job job = { 0 };
	struct model_config cfg;
	struct rusage ru;
	struct rng rng;
	double *times = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&tr, 0, sizeof(tr));
	if ((rc = bench_method(o, &job.method, err)))
		return rc;
	job.seed = 0;
	job.threads = o->threads;
	job.out_dir = "/nonexistent";   /* never written: no checkpoints, no outputs */
	tr.job = &job;
	tr.hp = &job.method.hp;
	tr.task = &trainer_task_lm;
	tr.spec = (struct net_spec){ .task = ADA_TASK_CAUSAL_LM };
	tr.valid_loss = tr.valid_loss_initial = NAN;

	if (o->model) {
		rc = model_load(o->model, NULL, &tr.model, err);
		snprintf(res->config, sizeof(res->config), "%s", o->model);
	} else {
		if (!o->shape || model_shape_config(o->shape, &cfg))
			return ada_fail_param(err, ADA_EINVAL, "shape", "unknown shape '%s'",
					      o->shape ? o->shape : "(none)");
		rc = model_random(&cfg, 0, &tr.model, err);
		snprintf(res->config, sizeof(res->config), "%s", o->shape);
	}
	if (rc)
		goto out_release;
	if (tr.model->cfg.family != ADA_FAMILY_LLAMA) {
		rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: bench runs Llama-family models", o->model);
		goto out_release;
	}
	if (o->seq > tr.model->cfg.context_length) {
		rc = ada_fail_param(err, ADA_EINVAL, "seq", "--seq %d exceeds the context length %d",
				    o->seq, tr.model->cfg.context_length);
		goto out_release;
	}

	/* One batch of random tokens, every position a target. */
	tr.train.seq_len = o->seq;
	tr.train.n_windows = o->batch;
	tr.train.tokens = xcalloc((size_t)o->batch * (o->seq + 1), sizeof(int32_t));
	tr.train.mask = xcalloc((size_t)o->batch * o->seq, 1);
	if (!tr.train.tokens || !tr.train.mask) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_release;
	}
	rng_seed(&rng, 1);
	for (size_t i = 0; i < (size_t)o->batch * (o->seq + 1); i++)
		tr.train.tokens[i] = (int32_t)rng_below(&rng, (uint64_t)tr.model->cfg.vocab_size);
	memset(tr.train.mask, 1, (size_t)o->batch * o->seq);
	tr.train.n_targets = (int64_t)o->batch * o->seq;
	if ((rc = batch_plan_init(&tr.plan, tr.train.n_windows, o->batch, 1, tr.hp->max_steps, err)))
		goto out_release;
	tr.has_budget = job.method.type == ADA_METHOD_ADALORA;
	if (tr.has_budget) {
		int n = model_modules_targeted(&tr.model->cfg, tr.hp->target_modules);
		tr.schedule = (struct ada_schedule){
			.total_steps = tr.plan.total_steps, .tinit = 0, .tfinal = 0, .deltaT = 1,
			.init_r = tr.hp->init_r, .target_r = tr.hp->target_r,
			.n_matrices = (int64_t)n * tr.model->cfg.n_layers,
		};
	}
	tr.fingerprint = strdup("bench");
	if ((rc = trainer_build(&tr, err)))
		goto out_release;

	times = xcalloc((size_t)o->steps, sizeof(*times));
	if (!times) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_release;
	}
	for (int i = 0; i < o->warmup + o->steps; i++) {
		struct step_out so;
		double t0 = trainer_now();
		if ((rc = trainer_step(&tr, &so, err)))
			goto out_release;
		if (i >= o->warmup)
			times[i - o->warmup] = trainer_now() - t0;
		res->final_loss = so.n_targets ? so.nll_sum / (double)so.n_targets : NAN;
	}
	qsort(times, (size_t)o->steps, sizeof(*times), cmp_double);
	{
		double med = o->steps % 2 ? times[o->steps / 2]
					  : 0.5 * (times[o->steps / 2 - 1] + times[o->steps / 2]);
		res->ms_per_step_median = med * 1e3;
		res->tokens_per_s = (double)o->batch * o->seq / med;
		res->flops_per_step = step_flops(&tr.model->cfg, &job.method, o->batch, o->seq);
		res->gflops_per_s = res->flops_per_step / med * 1e-9;
	}
	res->trainable_params = (int64_t)param_arena_count(&tr.tn.arena);
	res->threads = tr.threads;
	getrusage(RUSAGE_SELF, &ru);
	res->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
out_release:
	free(times);
	trainer_release(&tr);
	return rc;
}
