/*
 * bench — ada_bench(): the speed of real training steps, measured the way
 * ../shared/bench/torch_reference.py measures its own, so the two can run
 * side by side (compare.py): same shapes, random weights and tokens, the
 * same hyperparameters (LoRA rank r, AdaLoRA init_r 12 -> 8 with deltaT 1
 * and gamma 0.1, alpha 32, AdamW lr 1e-3, clipping at 1), warm-up steps
 * untimed, the median of the timed ones.
 *
 * It drives the trainer's own step (trainer_step) over a synthetic dataset
 * of one batch in memory (trainer_setup_lm), so what is timed is exactly
 * what a job runs: forward, backward, regulariser, clipping, AdamW and the
 * rank allocator.
 *
 * FLOPs are counted from the shapes (matrix products and attention, the
 * work a dense implementation must do; masked attention counted once):
 * forward, input gradients everywhere, weight gradients only where
 * something trains.
 *
 * Encoders (a BERT-family --model, or the shapes "bert-base" and
 * "deberta-v3-base") run a classifier's steps instead: bench_encoder.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "format/quant.h"

#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"
#include "train/bench_encoder.h"
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
	m->hp.gradient_checkpointing = o->gradient_checkpointing;
	m->hp.compute_dtype = o->compute_dtype;
	if (o->compute_dtype == ADA_COMPUTE_BF16 && !ada_bf16_supported())
		return ada_fail_param(err, ADA_EUNSUPPORTED, "compute_dtype",
				      "compute_dtype bf16 needs a CPU with AVX512-BF16, which this machine's does not have");
	m->hp.max_steps = o->warmup + o->steps + 1;   /* the freeze stays beyond the run */
	if (o->batch < 1 || o->seq < 2 || o->steps < 1 || o->warmup < 0)
		return ada_fail(err, ADA_EINVAL, "bench needs batch >= 1, seq >= 2, steps >= 1");
	if (o->parallel && o->parallel->size > 1) {
		/* one micro-batch for each process */
		if (o->batch % o->parallel->size)
			return ada_fail_param(err, ADA_EINVAL, "batch",
					      "--batch %d does not split among %d processes", o->batch,
					      o->parallel->size);
		m->hp.micro_batch_size = o->batch / o->parallel->size;
	}
	return ADA_OK;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One batch of random tokens (seed 1), every position a target. */
static int random_windows(const struct model *m, int batch, int seq, struct dataset *ds,
			  struct ada_err *err)
{
	const size_t n_tok = (size_t)batch * ((size_t)seq + 1), n_pos = (size_t)batch * seq;
	struct rng rng;

	memset(ds, 0, sizeof(*ds));
	ds->seq_len = seq;
	ds->n_windows = batch;
	ds->n_targets = (int64_t)n_pos;
	ds->tokens = xcalloc(n_tok, sizeof(*ds->tokens));
	ds->mask = xcalloc(n_pos, 1);
	if (!ds->tokens || !ds->mask) {
		dataset_release(ds);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	rng_seed(&rng, 1);
	for (size_t i = 0; i < n_tok; i++)
		ds->tokens[i] = (int32_t)rng_below(&rng, (uint64_t)m->cfg.vocab_size);
	memset(ds->mask, 1, n_pos);
	return ADA_OK;
}

/* A model file of the shape named: its config must be that shape's. */
static int check_shape(const struct model *m, const char *shape, const struct model_config *c,
		       struct ada_err *err)
{
	const struct model_config *f = &m->cfg;

	if (f->dim == c->dim && f->hidden_dim == c->hidden_dim && f->n_layers == c->n_layers &&
	    f->n_heads == c->n_heads && f->n_kv_heads == c->n_kv_heads &&
	    f->head_dim == c->head_dim && f->vocab_size == c->vocab_size &&
	    f->tied_output == c->tied_output && f->qkv_bias == c->qkv_bias)
		return ADA_OK;
	return ada_fail_param(err, ADA_EINVAL, "shape",
			      "%s is not of shape %s (dim %d, hidden %d, %d layers, %d/%d heads, vocabulary %d, %s output; the file: dim %d, hidden %d, %d layers, %d/%d heads, vocabulary %d, %s output)",
			      m->path, shape, c->dim, c->hidden_dim, c->n_layers, c->n_heads,
			      c->n_kv_heads, c->vocab_size, c->tied_output ? "tied" : "untied", f->dim,
			      f->hidden_dim, f->n_layers, f->n_heads, f->n_kv_heads, f->vocab_size,
			      f->tied_output ? "tied" : "untied");
}

/* The random model of cfg stored as dtype: written to a file in $TMPDIR by
 * the streaming writer (model_random's values), mapped, and removed (the
 * mapping keeps the pages). */
static int random_typed(const struct model_config *cfg, const char *shape, const char *dtype,
			struct model **m, struct ada_err *err)
{
	const char *dir = getenv("TMPDIR");
	struct model_create_opts mo = { .name = shape };
	char path[4096];
	int type = ggml_type_from_name(dtype), fd, rc;

	if (!strcasecmp(dtype, "Q4_K_M"))
		mo.mix = MODEL_MIX_Q4_K_M;
	else if (!strcasecmp(dtype, "Q5_K_M"))
		mo.mix = MODEL_MIX_Q5_K_M;
	else if (type >= 0)
		mo.type = (uint32_t)type;
	else
		return ada_fail_param(err, ADA_EINVAL, "dtype",
				      "unknown dtype '%s' (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M)",
				      dtype);
	snprintf(path, sizeof(path), "%s/adalora-bench-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return ada_fail(err, ADA_EIO, "%s: %s", path, strerror(errno));
	close(fd);
	rc = model_create_file_opts(cfg, 0, &mo, path, err);
	if (!rc)
		rc = model_load(path, NULL, m, err);
	unlink(path);
	return rc;
}

static int bench_model(const struct ada_bench_opts *o, struct model **m, char *name, size_t cap,
		       struct ada_err *err)
{
	struct model_config cfg;
	int rc;

	/* an encoder-decoder's or an encoder's shape: random f32 weights */
	if (o->shape && !o->model &&
	    (!model_bart_shape_config(o->shape, &cfg) || !encoder_shape_config(o->shape, &cfg))) {
		if (o->dtype && strcasecmp(o->dtype, "F32"))
			return ada_fail_param(err, ADA_EINVAL, "dtype",
					      "--dtype %s: a random base in another type is made for decoder shapes only, not %s",
					      o->dtype, o->shape);
		snprintf(name, cap, "%s", o->shape);
		return cfg.family == ADA_FAMILY_BART ? model_bart_random(&cfg, 0, m, err)
						     : model_random_bert(&cfg, 0, m, err);   /* bench_encoder.c */
	}
	if (o->shape && model_shape_config(o->shape, &cfg))
		return ada_fail_param(err, ADA_EINVAL, "shape", "unknown shape '%s'", o->shape);
	if (o->model) {
		snprintf(name, cap, "%s", o->model);
		rc = model_load(o->model, NULL, m, err);
		if (!rc && o->shape && (rc = check_shape(*m, o->shape, &cfg, err))) {
			model_free(*m);
			*m = NULL;
		}
		return rc;
	}
	if (!o->shape)
		return ada_fail_param(err, ADA_EINVAL, "shape", "bench needs a model or a shape");
	snprintf(name, cap, "%s", o->shape);
	if (o->dtype && strcasecmp(o->dtype, "F32"))
		return random_typed(&cfg, o->shape, o->dtype, m, err);
	return model_random(&cfg, 0, m, err);
}

int bench_time_steps(struct trainer *tr, const struct ada_bench_opts *o,
		     struct ada_bench_result *res, struct ada_err *err)
{
	double *times = xcalloc((size_t)o->steps, sizeof(*times));
	struct rusage ru;
	int rc = ADA_OK;

	if (!times)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < o->warmup + o->steps; i++) {
		struct step_out so;
		double t0 = trainer_now();
		if ((rc = trainer_step(tr, &so, err)))
			goto out_free;
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
		res->gflops_per_s = res->flops_per_step / med * 1e-9;
	}
	res->trainable_params = (int64_t)param_arena_count(&tr->tn.arena);
	res->threads = tr->threads;
	getrusage(RUSAGE_SELF, &ru);
	res->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
out_free:
	free(times);
	return rc;
}

int ada_bench(const struct ada_bench_opts *o, struct ada_bench_result *res, struct ada_err *err)
{
	struct trainer tr;
	struct ada_job job = { .seed = 0, .threads = o->threads, .parallel = o->parallel };
	struct model *model = NULL;
	struct dataset train;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&tr, 0, sizeof(tr));
	if ((rc = bench_method(o, &job.method, err)) ||
	    (rc = bench_model(o, &model, res->config, sizeof(res->config), err)))
		goto out_model;
	if (model->cfg.family == ADA_FAMILY_BART) {
		rc = bench_s2s(o, &job, model, res, err);   /* takes model */
		model = NULL;
		goto out_model;
	}
	if (model->cfg.family != ADA_FAMILY_LLAMA) {   /* an encoder: a classifier's steps */
		rc = bench_encoder(o, &job, model, res, err);
		model = NULL;
		goto out_model;
	}
	if (o->seq > model->cfg.context_length) {
		rc = ada_fail_param(err, ADA_EINVAL, "seq", "--seq %d exceeds the context length %d",
				    o->seq, model->cfg.context_length);
		goto out_model;
	}
	model_weight_types(model, res->dtype, sizeof(res->dtype));
	snprintf(res->compute_dtype, sizeof(res->compute_dtype), "%s",
		 ada_compute_dtype_name(ada_compute_dtype_resolve(o->compute_dtype,
								  model->cfg.family)));
	if ((rc = random_windows(model, o->batch, o->seq, &train, err)))
		goto out_model;
	rc = trainer_setup_lm(&tr, &job, model, &train, NULL, err);   /* takes model, train */
	model = NULL;
	if (rc || (rc = trainer_build(&tr, err)))
		goto out_release;

	res->flops_per_step = step_flops(&tr.model->cfg, &job.method, o->batch, o->seq);
	if ((rc = bench_time_steps(&tr, o, res, err)))
		goto out_release;
	res->activation_bytes = (int64_t)trainer_lm_activation_bytes(&tr);
out_release:
	trainer_release(&tr);
out_model:
	model_free(model);
	return rc;
}
