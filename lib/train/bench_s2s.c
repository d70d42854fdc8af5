/*
 * bench_s2s — ada_bench() for an encoder-decoder (BART): training steps on
 * random pairs (seq source tokens, target_seq target tokens) through the
 * trainer's own step (trainer_setup_s2s), timed as bench.c times a
 * decoder's; then generation, one source decoded gen_tokens positions by
 * greedy search or beam search of num_beams (EOS does not stop it, so
 * every run decodes as many) through the KV-cached decoder and without it
 * (each step runs the decoder over every hypothesis's prefix again from
 * the encoder output, transformers' use_cache=False), both behind
 * net/seq2seq_step.h. Generation runs the trained network, adapters
 * attached.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "data/s2s_data.h"
#include "net/seq2seq_step.h"
#include "nn/bart.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"
#include "train/trainer.h"

/* Matrix products and attention of one step, forward and input gradients
 * (the base is frozen); adapters forward, input and weight gradients. */
static double step_flops(const struct model_config *c, const struct ada_method *m, int B, int S,
			 int T)
{
	const double D = c->dim, F = c->hidden_dim, V = c->vocab_size, hd = c->head_dim;
	const double Ns = (double)B * S, Nt = (double)B * T, H = c->n_heads;
	const double Le = c->n_layers - c->n_dec_layers, Ld = c->n_dec_layers;
	const int r = m->type == ADA_METHOD_LORA ? m->hp.r : m->hp.init_r;
	double lin, attn, adapters = 0;

	lin = Le * Ns * 2 * (4 * D * D + 2 * D * F) +
	      Ld * (Nt * 2 * (6 * D * D + 2 * D * F) + Ns * 2 * 2 * D * D) + 2 * Nt * D * V;
	attn = Le * B * H * 4 * hd * S * S + Ld * B * H * 4 * hd * (T * (T + 1.0) / 2 + T * S);
	for (int l = 0; l < c->n_layers; l++)
		for (int k = 0; k < N_BART_MODULES; k++) {
			int out, in;
			double rows = !model_is_decoder_layer(c, l) || k == BART_CROSS_K ||
				      k == BART_CROSS_V ? Ns : Nt;
			if (!model_layer_has_module(c, l, k) ||
			    !(m->hp.target_modules & model_module_bit(c, k)))
				continue;
			model_module_shape(c, k, &out, &in);
			adapters += 2.0 * rows * r * (in + out);
		}
	return 2 * lin + 3 * attn + 3 * adapters;
}

/* B random pairs of S and T tokens (ids from 4: no special ones). */
static int random_pairs(const struct model_config *c, int B, int S, int T,
			struct s2s_dataset *ds, struct ada_err *err)
{
	struct rng rng;

	memset(ds, 0, sizeof(*ds));
	ds->tokens = xcalloc((size_t)B * (size_t)(S + T), sizeof(*ds->tokens));
	ds->offset = xcalloc((size_t)B + 1, sizeof(*ds->offset));
	ds->src_len = xcalloc((size_t)B, sizeof(*ds->src_len));
	ds->tgt_len = xcalloc((size_t)B, sizeof(*ds->tgt_len));
	ds->line = xcalloc((size_t)B, sizeof(*ds->line));
	ds->target_text = xcalloc((size_t)B, sizeof(*ds->target_text));
	ds->cut = xcalloc((size_t)B, sizeof(*ds->cut));
	if (!ds->tokens || !ds->offset || !ds->src_len || !ds->tgt_len || !ds->line ||
	    !ds->target_text || !ds->cut) {
		s2s_dataset_release(ds);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	rng_seed(&rng, 1);
	for (size_t i = 0; i < (size_t)B * (size_t)(S + T); i++)
		ds->tokens[i] = 4 + (int32_t)rng_below(&rng, (uint64_t)c->vocab_size - 4);
	for (int b = 0; b < B; b++) {
		ds->offset[b + 1] = ds->offset[b] + S + T;
		ds->src_len[b] = S;
		ds->tgt_len[b] = T;
		ds->line[b] = b + 1;
	}
	ds->n = B;
	ds->max_src = S;
	ds->max_tgt = T;
	ds->target_tokens = (int64_t)B * T;
	return ADA_OK;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Seconds to decode G tokens for src[0..S) by the search of nb beams
 * (greedy for 1) with EOS ignored, so every run decodes G, with the cache
 * or without (net/seq2seq_step.h). The encoder's one pass is counted. */
static int time_generation(const struct bart_net *net, const int32_t *src, int S, int G, int nb,
			   int cached, int threads, double *seconds, struct ada_err *err)
{
	struct beam_opts o;
	struct beam_result r = { 0 };
	struct bart_stepper st;
	struct bart_uncached u;
	double t0;
	int rc;

	beam_opts_default(&o);
	o.num_beams = nb;
	o.max_length = G + 1;
	o.eos_token_id = -1;
	o.decoder_start_token_id = 2;
	if (cached) {
		if ((rc = bart_stepper_init(&st, net, S, nb, G, threads, err)))
			return rc;
		t0 = trainer_now();
		if (!(rc = bart_stepper_start(&st, src, S, err)))
			rc = seq2seq_generate(&st.ops, &st, &o, &r, err);
		*seconds = trainer_now() - t0;
		bart_stepper_release(&st);
	} else {
		if ((rc = bart_uncached_init(&u, net, S, nb, G, threads, err)))
			return rc;
		t0 = trainer_now();
		if (!(rc = bart_uncached_start(&u, src, S, err)))
			rc = seq2seq_generate(&u.ops, &u, &o, &r, err);
		*seconds = trainer_now() - t0;
		bart_uncached_release(&u);
	}
	if (!rc && r.n_tokens != G)
		rc = ada_fail(err, ADA_EINVAL, "generation decoded %d tokens, not %d", r.n_tokens, G);
	beam_result_release(&r);
	return rc ? ada_err_prefix(err, rc, "generation") : ADA_OK;
}

int bench_s2s(const struct ada_bench_opts *o, struct ada_job *job, struct model *model,
	      struct ada_bench_result *res, struct ada_err *err)
{
	const int S = o->seq, T = o->target_seq > 0 ? o->target_seq : 64;
	const int G = o->gen_tokens > 0 ? o->gen_tokens : T;
	const int nb = o->num_beams > 0 ? o->num_beams : 1;
	struct trainer tr;
	struct s2s_dataset train;
	struct rusage ru;
	struct rng rng;
	double *times = NULL;
	int32_t *src = NULL;
	int rc;

	memset(&tr, 0, sizeof(tr));
	job->method.hp.max_source_length = S;
	job->method.hp.max_target_length = T;
	if (S + 2 > model->cfg.max_positions || T > model->cfg.context_length ||
	    G > model->cfg.context_length) {
		rc = ada_fail_param(err, ADA_EINVAL, "seq",
				    "source %d, target %d or %d generated tokens exceed the context length %d",
				    S, T, G, model->cfg.context_length);
		model_free(model);
		return rc;
	}
	if ((rc = random_pairs(&model->cfg, o->batch, S, T, &train, err))) {
		model_free(model);
		return rc;
	}
	rc = trainer_setup_s2s(&tr, job, model, &train, err);   /* takes model, train */
	if (rc || (rc = trainer_build(&tr, err)))
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
	{
		const double med = median(times, o->steps);
		res->ms_per_step_median = med * 1e3;
		res->tokens_per_s = (double)o->batch * (S + T) / med;
		res->flops_per_step = step_flops(&tr.model->cfg, &job->method, o->batch, S, T);
		res->gflops_per_s = res->flops_per_step / med * 1e-9;
	}
	res->trainable_params = (int64_t)param_arena_count(&tr.tn.arena);
	res->threads = tr.threads;
	res->activation_bytes = (int64_t)trainer_s2s_activation_bytes(&tr);
	/* generation of a random source, with the adapters as trained */
	res->gen_tokens = G;
	res->num_beams = nb;
	if (!(src = xcalloc((size_t)S, sizeof(*src)))) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_release;
	}
	rng_seed(&rng, 2);
	for (int i = 0; i < S; i++)
		src[i] = 4 + (int32_t)rng_below(&rng, (uint64_t)tr.model->cfg.vocab_size - 4);
	for (int cached = 1; cached >= 0; cached--) {
		const int runs = o->steps < 3 ? o->steps : 3;
		for (int i = 0; i < runs; i++)
			if ((rc = time_generation(&tr.tn.bart, src, S, G, nb, cached, tr.threads,
						  &times[i], err)))
				goto out_release;
		*(cached ? &res->gen_tokens_per_s_cached : &res->gen_tokens_per_s_uncached) =
			G / median(times, runs);
	}
	getrusage(RUSAGE_SELF, &ru);
	res->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
out_release:
	free(src);
	free(times);
	trainer_release(&tr);
	return rc;
}
