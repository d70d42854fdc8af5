/*
 * serve_decode — decoding speed of the serving engine (lib/infer's
 * ada_decode_step, what adalorad's completions run), without HTTP:
 * tokens per second for one stream and for several decoded together, the
 * time to the first token (the prompt's reading), with and without a LoRA
 * adapter (r = --rank on all seven modules, applied unmerged), on a model
 * file made here at a shape and dtype (bench/RESULTS.md, "Serving").
 *
 *   build/bench/serve_decode --shape stories15M --dtype Q4_K --streams 1,8 --rank 8
 *
 * Models are written once into --dir (ada's random Llama of the shape: a
 * real shape such as tinyllama-1.1b with its model's vocabulary size, the
 * byte tokens padded with unused ones; a llama2.c shape such as stories15M
 * with the 260-token byte vocabulary, which "vocab" and "real_vocab" in
 * the output show). Each
 * configuration runs a warm-up, then --repeat timed runs, the base's and
 * the adapter's alternating; the median run of each is printed as one JSON
 * line, then the adapter's cost: the median over the runs of the ratio of
 * each adapter run to the base run beside it, less one (step time, and
 * CPU time per token).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "adalora.h"
#include "adapter/export_peft.h"
#include "infer/inference_net.h"
#include "model/model.h"
#include "net/trained_net.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The process's CPU time: on a shared machine a steadier figure than the
 * wall clock (it does not count the time other processes took). */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, const struct ada_err *err)
{
	fprintf(stderr, "serve_decode: %s: %s\n", what, err ? err->msg : "");
	exit(1);
}

/* The model file of shape at dtype (ada_create_model_dtype), made when
 * missing. */
static void make_model(const char *shape, const char *dtype, const char *path, int *real_vocab)
{
	struct model_config cfg;
	struct ada_err err = { 0 };
	struct stat st;

	if (model_shape_config(shape, &cfg))
		die("unknown shape", NULL);
	*real_vocab = cfg.vocab_size;
	if (!stat(path, &st))
		return;
	fprintf(stderr, "serve_decode: writing %s (%s, %s)...\n", path, shape, dtype);
	if (ada_create_model_dtype(shape, 1, dtype, path, &err))
		die("create the model", &err);
}

/* A LoRA adapter of rank r on all seven modules, random nonzero values. */
static void make_adapter(const char *model, int r, const char *dir)
{
	static const struct net_spec lm = { .task = ADA_TASK_CAUSAL_LM };
	struct ada_infer_opts o = { .model = model };
	struct export_info info = { .base_model = model, .total_steps = 100 };
	struct inference_net base;
	struct trained_net tn;
	struct ada_method m;
	struct ada_err err = { 0 };
	struct rng g;
	struct stat st;

	if (!stat(dir, &st))
		return;
	if (inference_net_open(&base, &o, &err))
		die("open the model", &err);
	ada_method_defaults(ADA_METHOD_LORA, &m);
	m.hp.r = r;
	m.hp.lora_alpha = 2 * r;
	if (trained_net_build(&tn, base.model, &m, &lm, 1, 1, &err))
		die("build the adapter", &err);
	rng_seed(&g, 3);
	for (size_t i = 0; i < tn.arena.n; i++)
		tn.arena.w[i] = (float)(0.01 * rng_normal(&g));
	if (export_peft(&tn, &info, dir, &err))
		die("write the adapter", &err);
	trained_net_release(&tn);
	inference_net_close(&base);
}

struct result {
	double ttft_ms, decode_tps, step_ms, cpu_ms_per_token;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* n streams of prompt_len random tokens, each generating tokens; models
 * m[i % n_models]. */
static struct result run(struct ada_served **m, int n_models, int n, int prompt_len, int tokens,
			 int max_rows)
{
	struct ada_decoder *d;
	struct ada_seq **seqs = calloc((size_t)n, sizeof(*seqs));
	struct ada_seq **live = calloc((size_t)n, sizeof(*live));
	int *live_of = calloc((size_t)n, sizeof(*live_of));
	int32_t *prompt = calloc((size_t)prompt_len, sizeof(*prompt));
	struct ada_sampling smp = { .temperature = 0, .top_p = 1 };
	struct ada_err err = { 0 };
	struct result res = { 0 };
	struct rng g;
	double t0, t_first = 0, t_end, c_first = 0, c_end;
	int got_first = 0, steps = 0, decoded = 0, decoded_first = 0, steps_first = 0;
	int *count = calloc((size_t)n, sizeof(*count));

	rng_seed(&g, 5);
	if (ada_decoder_new(max_rows, &d, &err))
		die("decoder", &err);
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < prompt_len; k++)
			prompt[k] = (int32_t)(3 + rng_below(&g, 256));
		if (ada_seq_new(m[i % n_models], prompt, (size_t)prompt_len, tokens, &smp, &seqs[i], &err))
			die("sequence", &err);
	}
	t0 = now();
	while (decoded < n * tokens) {
		/* Only the sequences with tokens left: when the prompts take more
		 * than one step's rows, the streams that started first finish
		 * first (as the daemon's engine steps them). */
		int k = 0;
		for (int i = 0; i < n; i++)
			if (ada_seq_can_step(seqs[i])) {
				live_of[k] = i;
				live[k++] = seqs[i];
			}
		if (ada_decode_step(d, live, k, &err))
			die("step", &err);
		steps++;
		for (int i = 0; i < k; i++) {
			struct ada_token t;
			if (!ada_seq_token(live[i], &t))
				continue;
			decoded++;
			if (++count[live_of[i]] == 1 && ++got_first == n) {
				t_first = now();
				c_first = cpu_now();
				steps_first = steps;
			}
		}
		if (got_first < n || steps_first == steps)
			decoded_first = decoded;   /* chosen by the end of the first-tokens step */
	}
	t_end = now();
	c_end = cpu_now();
	/* After the step that gave the last stream its first token: the tokens
	 * and steps that came later (streams whose prompts were read in an
	 * earlier step had chosen some already). */
	{
		const double after = (double)n * tokens - decoded_first;
		res.cpu_ms_per_token = (c_end - c_first) * 1e3 / after;
		res.decode_tps = after / (t_end - t_first);
		res.step_ms = (t_end - t_first) * 1e3 / (steps - steps_first);
	}
	res.ttft_ms = (t_first - t0) * 1e3;
	for (int i = 0; i < n; i++)
		ada_seq_free(seqs[i]);
	ada_decoder_free(d);
	free(seqs);
	free(live);
	free(live_of);
	free(prompt);
	free(count);
	return res;
}

int main(int argc, char **argv)
{
	const char *shape = "stories15M", *dtype = "F32", *dir = "bench-serve", *streams = "1,8";
	int rank = 8, adapters = 1, prompt_len = 64, tokens = 64, repeat = 3, threads = 0,
	    max_rows = 512, real_vocab = 0;
	char model[4096], adir[4200];
	struct ada_model_cache *cache;
	struct ada_err err = { 0 };

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--shape")) shape = v;
		else if (!strcmp(k, "--dtype")) dtype = v;
		else if (!strcmp(k, "--dir")) dir = v;
		else if (!strcmp(k, "--streams")) streams = v;
		else if (!strcmp(k, "--rank")) rank = atoi(v);
		else if (!strcmp(k, "--adapters")) adapters = atoi(v);
		else if (!strcmp(k, "--prompt")) prompt_len = atoi(v);
		else if (!strcmp(k, "--tokens")) tokens = atoi(v);
		else if (!strcmp(k, "--repeat")) repeat = atoi(v);
		else if (!strcmp(k, "--threads")) threads = atoi(v);
		else if (!strcmp(k, "--max-rows")) max_rows = atoi(v);
		else {
			fprintf(stderr, "usage: serve_decode [--shape S] [--dtype T] [--dir D] [--streams 1,8]\n"
					"       [--rank R (0: base only)] [--adapters K] [--prompt P] [--tokens N]\n"
					"       [--repeat N] [--threads N] [--max-rows N]\n");
			return 2;
		}
	}
	if (tokens < 2 || repeat < 1 || prompt_len < 1 || adapters < 1 || adapters > 64)
		die("--tokens >= 2, --repeat >= 1, --prompt >= 1, --adapters 1..64", NULL);
	if (threads > 0)
		ada_set_threads(threads);
	if (mkdir_p(dir, 0755, &err))
		die("--dir", &err);
	snprintf(model, sizeof(model), "%s/%s-%s.gguf", dir, shape, dtype);
	make_model(shape, dtype, model, &real_vocab);
	if (ada_model_cache_new(0, 1, &cache, &err))
		die("cache", &err);
	/* The base alone (with = 0) and with its adapters (with = 1), loaded
	 * together and timed alternately, run for run, so that the machine's
	 * drift (another tenant, the clock) falls on both alike. */
	struct ada_served *m[2][64] = { { 0 } };
	int n_models[2] = { 1, adapters }, sides = rank > 0 ? 2 : 1;

	for (int with = 0; with < sides; with++)
		for (int a = 0; a < n_models[with]; a++) {
			const char *ad = NULL;
			if (with) {
				snprintf(adir, sizeof(adir), "%s/%s-%s-lora-r%d-%d", dir, shape, dtype, rank, a);
				make_adapter(model, rank, adir);
				ad = adir;
			}
			if (ada_model_cache_get(cache, model, NULL, ad, &m[with][a], &err))
				die("load", &err);
		}
	for (const char *p = streams; *p;) {
		int n = atoi(p);
		double ttft[2][64], tps[2][64], step[2][64], cpu[2][64], cost_step[64], cost_cpu[64];

		if (n < 1 || repeat > 64)
			die("--streams: counts >= 1; --repeat <= 64", NULL);
		for (int with = 0; with < sides; with++)   /* warm-up */
			run(m[with], n_models[with], n, prompt_len, tokens < 8 ? tokens : 8, max_rows);
		for (int k = 0; k < repeat; k++)
			for (int with = 0; with < sides; with++) {
				struct result r = run(m[with], n_models[with], n, prompt_len, tokens,
						      max_rows);
				ttft[with][k] = r.ttft_ms;
				tps[with][k] = r.decode_tps;
				step[with][k] = r.step_ms;
				cpu[with][k] = r.cpu_ms_per_token;
			}
		for (int k = 0; sides == 2 && k < repeat; k++) {   /* run k's pair */
			cost_step[k] = step[1][k] / step[0][k] - 1;
			cost_cpu[k] = cpu[1][k] / cpu[0][k] - 1;
		}
		for (int with = 0; with < sides; with++) {
			struct ada_served_info info;

			qsort(ttft[with], (size_t)repeat, sizeof(double), cmp_double);
			qsort(tps[with], (size_t)repeat, sizeof(double), cmp_double);
			qsort(step[with], (size_t)repeat, sizeof(double), cmp_double);
			qsort(cpu[with], (size_t)repeat, sizeof(double), cmp_double);
			ada_served_describe(m[with][0], &info);
			printf("{\"shape\":\"%s\",\"dtype\":\"%s\",\"adapter_rank\":%d,\"adapters\":%d,"
			       "\"streams\":%d,\"threads\":%d,\"prompt_tokens\":%d,\"tokens\":%d,"
			       "\"ttft_ms\":%.2f,\"decode_tokens_per_s\":%.2f,"
			       "\"per_stream_tokens_per_s\":%.2f,\"ms_per_step\":%.3f,"
			       "\"cpu_ms_per_token\":%.3f,"
			       "\"weight_bytes\":%lld,\"vocab\":%d,\"real_vocab\":%d}\n",
			       shape, dtype, with ? rank : 0, n_models[with], n, threads, prompt_len,
			       tokens, ttft[with][repeat / 2], tps[with][repeat / 2],
			       tps[with][repeat / 2] / n, step[with][repeat / 2], cpu[with][repeat / 2],
			       (long long)info.weight_bytes, info.vocab_size, real_vocab);
		}
		qsort(cost_step, (size_t)(sides == 2 ? repeat : 0), sizeof(double), cmp_double);
		qsort(cost_cpu, (size_t)(sides == 2 ? repeat : 0), sizeof(double), cmp_double);
		if (sides == 2)
			printf("{\"shape\":\"%s\",\"dtype\":\"%s\",\"streams\":%d,"
			       "\"adapter_cost_step\":%.3f,\"adapter_cost_cpu\":%.3f}\n",
			       shape, dtype, n, cost_step[repeat / 2], cost_cpu[repeat / 2]);
		fflush(stdout);
		p = strchr(p, ',');
		p = p ? p + 1 : "";
	}
	for (int with = 0; with < sides; with++)
		for (int a = 0; a < n_models[with]; a++)
			ada_served_free(m[with][a]);
	ada_model_cache_free(cache);
	return 0;
}
