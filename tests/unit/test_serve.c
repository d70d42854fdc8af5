/*
 * Serving (lib/infer: served.c, batch_decode.c, rowdot.c, model_cache.c,
 * text_stream.c, serve_text.c):
 *   - an adapter applied unmerged (LoRA, AdaLoRA compacted and not, Houlsby
 *     bottlenecks; BitFit on a model with biases) gives the logits of the
 *     training forward with the adapter attached, and a LoRA / AdaLoRA
 *     adapter the logits of the merged model;
 *   - a sequence's tokens and log-probabilities are bit for bit the same
 *     alone and in a step with other sequences (other adapters, other
 *     prompt lengths, prompts read while others generate), on F32, BF16
 *     and Q4_K bases, and at 1 and 2 threads; the adapter's narrow product
 *     (rowaxpy) gives each row the same bits at any row count and thread
 *     count, within rounding of a double reference;
 *   - sampling with a seed is reproducible; greedy picks the first maximum;
 *   - the cache loads a base once for all its adapters and evicts adapters
 *     by bytes, least recently used first, without freeing one in use;
 *   - chat prompts end with the template's generation prompt and stop at
 *     its end of turn; the text stream assembles UTF-8 and cuts at stops;
 *   - a question answering job's model (a tiny BERT trained here, SQuAD v1
 *     and v2 data) answers each question as `adalora eval --predictions`
 *     predicts it (text, character offsets, score), long contexts in
 *     several windows included; top_k lists the n-best in order; the null
 *     answer follows the threshold; bad options are refused by name.
 */
#include "check.h"

#include <sys/stat.h>

#include "adalora.h"
#include "adapter/export_peft.h"
#include "chat_model.h"
#include "scratch.h"
#include "task_data.h"
#include "infer/batch_decode.h"
#include "infer/inference_net.h"
#include "infer/rowdot.h"
#include "net/trained_net.h"
#include "tiny_model.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

static char *tmp;
static char model_path[4200], q4k_path[4200], bf16_path[4200];
static char lora_dir[4300], adalora_dir[4300], compact_dir[4300], bn_dir[4300];
static const struct net_spec lm_spec = { .task = ADA_TASK_CAUSAL_LM };

#define V 260

/* An adapter of method t for the model at path, with random nonzero
 * values, exported to dir; compact: AdaLoRA compacted with some triplets
 * dropped. */
static void make_adapter(const char *path, const char *tok, enum ada_method_type t, int compact,
			 uint64_t seed, const char *dir)
{
	struct inference_net base;
	struct ada_infer_opts o = { .model = path, .tokenizer = tok };
	struct trained_net tn;
	struct ada_method m;
	struct ada_err err = { 0 };
	struct rng r;
	bool *kept[128] = { 0 };
	uint8_t *keep8[128] = { 0 };

	CHECK_OK(inference_net_open(&base, &o, &err), &err);
	ada_method_defaults(t, &m);
	m.hp.init_r = 4;
	m.hp.r = 3;
	m.hp.lora_alpha = 16;
	m.hp.adapter_size = 8;
	CHECK_OK(trained_net_build(&tn, base.model, &m, &lm_spec, seed, 1, &err), &err);
	rng_seed(&r, seed);
	for (size_t i = 0; i < tn.arena.n; i++)
		tn.arena.w[i] = (float)(0.2 * rng_normal(&r));
	for (int i = 0; compact && i < tn.n_mods && i < 128; i++) {
		struct lowrank *lr = tn.mods[i].lr;
		kept[i] = calloc((size_t)lr->r, sizeof(bool));
		keep8[i] = calloc((size_t)lr->r, 1);
		for (int j = 0; j < lr->r; j++) {
			keep8[i][j] = i % 4 != 1 && rng_below(&r, 3) != 0;
			kept[i][j] = keep8[i][j];
		}
	}
	if (compact)
		CHECK_OK(trained_net_compact(&tn, (const uint8_t *const *)keep8, &err), &err);
	{
		struct export_info info = { .base_model = path, .total_steps = 100,
					    .kept = compact ? (const bool *const *)kept : NULL };
		CHECK_OK(export_peft(&tn, &info, dir, &err), &err);
	}
	for (int i = 0; i < 128; i++) {
		free(kept[i]);
		free(keep8[i]);
	}
	trained_net_release(&tn);
	inference_net_close(&base);
}

/* The training forward's logits [T][vocab] of tokens, with the adapter. */
static float *reference_logits(const char *model, const char *tok, const char *adapter,
			       const int32_t *tokens, int T)
{
	struct inference_net in;
	struct ada_infer_opts o = { .model = model, .tokenizer = tok, .adapter = adapter };
	struct ada_err err = { 0 };
	struct llama_acts a;
	float *out = NULL;

	CHECK_OK(inference_net_open(&in, &o, &err), &err);
	if (!in.model)
		return NULL;
	if (!llama_acts_init(&a, &in.net.d, 1, T, 2)) {
		CHECK_OK(llama_forward(&in.net, &a, tokens, NULL, 1, 0, NULL, NULL,
				       &(struct nn_step){ 0 }), NULL);
		out = malloc(sizeof(float) * (size_t)T * (size_t)in.net.d.vocab);
		memcpy(out, a.logits, sizeof(float) * (size_t)T * (size_t)in.net.d.vocab);
		llama_acts_release(&a);
	}
	inference_net_close(&in);
	return out;
}

/* The served logits of every prefix of tokens: T sequences in one step
 * (each reads its prefix and stops at its last position). */
static float *served_logits(struct ada_served *m, const int32_t *tokens, int T, int vocab)
{
	struct ada_decoder *d;
	struct ada_seq **seqs = calloc((size_t)T, sizeof(*seqs));
	struct ada_sampling s = { .temperature = 0, .top_p = 1 };
	struct ada_err err = { 0 };
	float *out = malloc(sizeof(float) * (size_t)T * (size_t)vocab);

	CHECK_OK(ada_decoder_new(T * (T + 1) / 2, &d, &err), &err);
	for (int t = 0; t < T; t++)
		CHECK_OK(ada_seq_new(m, tokens, (size_t)t + 1, 1, &s, &seqs[t], &err), &err);
	CHECK_OK(ada_decode_step(d, seqs, T, &err), &err);
	for (int t = 0; t < T; t++) {
		CHECK(seqs[t]->has_token);
		memcpy(out + (size_t)t * vocab, seqs[t]->logits, sizeof(float) * (size_t)vocab);
		ada_seq_free(seqs[t]);
	}
	ada_decoder_free(d);
	free(seqs);
	return out;
}

static double max_diff(const float *a, const float *b, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		m = d > m || isnan(d) ? d : m;
	}
	return m;
}

static void random_tokens(int32_t *tokens, int T, int vocab, uint64_t seed)
{
	struct rng r;

	rng_seed(&r, seed);
	for (int i = 0; i < T; i++)
		tokens[i] = (int32_t)rng_below(&r, (uint64_t)vocab);
}

/* Unmerged adapters compute what the training forward computes. */
static void check_unmerged(const char *model, const char *tok, const char *adapter, int vocab)
{
	struct ada_served *m = NULL;
	struct ada_err err = { 0 };
	int32_t tokens[10];
	float *want, *got;

	random_tokens(tokens, 10, vocab, 3);
	CHECK_OK(ada_served_open(model, tok, adapter, &m, &err), &err);
	if (!m)
		return;
	want = reference_logits(model, tok, adapter, tokens, 10);
	got = served_logits(m, tokens, 10, vocab);
	if (want) {
		double d = max_diff(want, got, (size_t)10 * vocab);
		CHECK_MSG(d < 2e-4, "%s: served logits differ from the training forward's by %g",
			  adapter ? adapter : model, d);
	}
	free(want);
	free(got);
	ada_served_free(m);
}

static void test_unmerged_equals_forward(void)
{
	const char *dirs[] = { NULL, lora_dir, adalora_dir, compact_dir, bn_dir };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		check_unmerged(model_path, NULL, dirs[i], V);
}

/* BitFit on a causal LM needs biases: a qwen2-shaped model has q/k/v's. */
static void test_bitfit_unmerged(void)
{
	struct model_config cfg;
	struct model *m = NULL;
	struct ada_err err = { 0 };
	char path[4300], tok[4300], dir[4300];

	snprintf(path, sizeof(path), "%s/qwen.gguf", tmp);
	snprintf(tok, sizeof(tok), "%s/qwen.tokenizer.bin", tmp);
	snprintf(dir, sizeof(dir), "%s/bitfit", tmp);
	tiny_config(&cfg, "qwen2");
	CHECK_INT_EQ(tiny_model_random(&cfg, 4, &m), 0);
	CHECK_OK(tiny_write_gguf(m, path, 3, 0, &err), &err);
	CHECK_OK(tiny_write_llama2c_tokenizer(tok, cfg.vocab_size, &err), &err);
	model_free(m);
	make_adapter(path, tok, ADA_METHOD_BITFIT, 0, 9, dir);
	check_unmerged(path, tok, dir, cfg.vocab_size);
	check_unmerged(path, tok, NULL, cfg.vocab_size);
}

/* A LoRA or AdaLoRA adapter unmerged = the merged model. */
static void test_unmerged_equals_merged(void)
{
	const char *dirs[] = { lora_dir, compact_dir };

	for (int i = 0; i < 2; i++) {
		struct ada_infer_opts o = { .model = model_path, .adapter = dirs[i] };
		struct ada_served *a = NULL, *b = NULL;
		struct ada_err err = { 0 };
		char merged[4400];
		int32_t tokens[10];
		float *x, *y;

		snprintf(merged, sizeof(merged), "%s/merged-%d.gguf", tmp, i);
		CHECK_OK(ada_export_merged(&o, merged, "gguf", &err), &err);
		CHECK_OK(ada_served_open(model_path, NULL, dirs[i], &a, &err), &err);
		CHECK_OK(ada_served_open(merged, NULL, NULL, &b, &err), &err);
		if (!a || !b)
			continue;
		random_tokens(tokens, 10, V, 5);
		x = served_logits(a, tokens, 10, V);
		y = served_logits(b, tokens, 10, V);
		CHECK_MSG(max_diff(x, y, (size_t)10 * V) < 1e-4,
			  "%s: unmerged and merged logits differ by %g", dirs[i],
			  max_diff(x, y, (size_t)10 * V));
		free(x);
		free(y);
		ada_served_free(a);
		ada_served_free(b);
	}
}

/* ---- batch invariance ----------------------------------------------------- */

#define GEN 6

struct run {
	int32_t tokens[GEN];
	float logprob[GEN];
	int32_t top[GEN][5];
	float top_lp[GEN][5];
};

/* Generate GEN tokens for each of n sequences (models m[i], prompts of
 * lengths len[i]) decoding them together, in a decoder of max_rows rows. */
static void generate_together(struct ada_served **m, const int *len, int n, int max_rows,
			      struct run *out)
{
	struct ada_decoder *d;
	struct ada_seq *seqs[8];
	struct ada_err err = { 0 };
	int32_t prompt[40];
	int done = 0, count[8] = { 0 };

	if (n > 8)
		return;

	CHECK_OK(ada_decoder_new(max_rows, &d, &err), &err);
	for (int i = 0; i < n; i++) {
		struct ada_sampling s = { .temperature = 0, .top_p = 1, .logprobs = 1,
					  .top_logprobs = 5 };
		random_tokens(prompt, len[i], V, 100 + (uint64_t)len[i]);
		CHECK_OK(ada_seq_new(m[i], prompt, (size_t)len[i], GEN, &s, &seqs[i], &err), &err);
	}
	while (done < n) {
		struct ada_seq *live[8];
		int k = 0;

		for (int i = 0; i < n; i++)
			if (count[i] < GEN)
				live[k++] = seqs[i];
		CHECK_OK(ada_decode_step(d, live, k, &err), &err);
		if (err.msg[0])
			break;
		for (int i = 0; i < n; i++) {
			struct ada_token t;
			if (count[i] >= GEN || !ada_seq_token(seqs[i], &t))
				continue;
			out[i].tokens[count[i]] = t.id;
			out[i].logprob[count[i]] = t.logprob;
			for (int j = 0; j < 5; j++) {
				out[i].top[count[i]][j] = t.top_id[j];
				out[i].top_lp[count[i]][j] = t.top_logprob[j];
			}
			if (++count[i] == GEN)
				done++;
		}
	}
	for (int i = 0; i < n; i++)
		ada_seq_free(seqs[i]);
	ada_decoder_free(d);
}

static void check_invariance(const char *model)
{
	const char *dirs[] = { NULL, lora_dir, adalora_dir, bn_dir, compact_dir, lora_dir };
	const int len[] = { 3, 17, 1, 9, 30, 5 };
	const int n = 6;
	struct ada_served *m[6] = { 0 };
	struct ada_model_cache *c = NULL;
	struct ada_err err = { 0 };
	struct run alone[6], together[6], chunked[6];

	memset(alone, 0, sizeof(alone));
	memset(together, 0, sizeof(together));
	memset(chunked, 0, sizeof(chunked));
	CHECK_OK(ada_model_cache_new(0, 0, &c, &err), &err);
	for (int i = 0; i < n; i++)
		CHECK_OK(ada_model_cache_get(c, model, NULL, dirs[i], &m[i], &err), &err);
	if (err.msg[0])
		goto out_free;
	for (int i = 0; i < n; i++)
		generate_together(&m[i], &len[i], 1, 64, &alone[i]);
	generate_together(m, len, n, 64, together);
	generate_together(m, len, n, 8, chunked);   /* prompts read in pieces */
	for (int i = 0; i < n; i++) {
		CHECK_MSG(!memcmp(&alone[i], &together[i], sizeof(alone[i])),
			  "%s seq %d (%s): batched differs from alone", model, i,
			  dirs[i] ? dirs[i] : "base");
		CHECK_MSG(!memcmp(&alone[i], &chunked[i], sizeof(alone[i])),
			  "%s seq %d: a prompt read in chunks differs", model, i);
	}
	/* With sequences of another base in the same step: the same again. */
	{
		struct ada_served *mixed[7];
		int mlen[7];
		struct run mrun[7];
		memset(mrun, 0, sizeof(mrun));
		for (int i = 0; i < n; i++) {
			mixed[i] = m[i];
			mlen[i] = len[i];
		}
		CHECK_OK(ada_model_cache_get(c, strcmp(model, model_path) ? model_path : bf16_path,
					     NULL, lora_dir, &mixed[6], &err), &err);
		mlen[6] = 7;
		if (mixed[6]) {
			generate_together(mixed, mlen, 7, 64, mrun);
			for (int i = 0; i < n; i++)
				CHECK_MSG(!memcmp(&alone[i], &mrun[i], sizeof(alone[i])),
					  "%s seq %d: with another base in the step it differs", model, i);
			CHECK(mrun[6].tokens[0] >= 0 && mrun[6].logprob[0] < 0);
			ada_served_free(mixed[6]);
		}
	}
	/* Two adapters make two different completions (the test sees them). */
	CHECK(memcmp(alone[1].logprob, alone[2].logprob, sizeof(alone[1].logprob)) != 0);
	/* Thread count: the same bits. */
	ada_set_threads(1);
	{
		struct run one[6];
		memset(one, 0, sizeof(one));
		generate_together(m, len, n, 64, one);
		for (int i = 0; i < n; i++)
			CHECK_MSG(!memcmp(&alone[i], &one[i], sizeof(one[i])),
				  "%s seq %d: 1 thread differs from 2", model, i);
	}
	ada_set_threads(2);
out_free:
	for (int i = 0; i < n; i++)
		ada_served_free(m[i]);
	ada_model_cache_free(c);
}

/* rowaxpy on a width that the pool splits (and a tail of 5 columns): each
 * row alone = that row among 8, at 1 thread = at 2, each near a double sum. */
static void test_rowaxpy(void)
{
	enum { K = 8, COLS = 5637, M = 8 };
	float *wt = malloc(sizeof(*wt) * K * COLS), s[M][K];
	float *all = calloc((size_t)M * COLS, sizeof(*all)), *one = calloc(COLS, sizeof(*one));
	float *thr1 = calloc((size_t)M * COLS, sizeof(*thr1));
	struct rng r;
	double worst = 0;

	if (!wt || !all || !one || !thr1) {
		CHECK_MSG(0, "out of memory");
		goto out_free;
	}
	rng_seed(&r, 42);
	for (int i = 0; i < K * COLS; i++)
		wt[i] = (float)rng_normal(&r);
	for (int m = 0; m < M; m++)
		for (int j = 0; j < K; j++)
			s[m][j] = (float)rng_normal(&r);
	for (int i = 0; i < M * COLS; i++)
		all[i] = thr1[i] = (float)(i % 7) - 3;
	ada_set_threads(2);
	rowaxpy(wt, K, COLS, &s[0][0], M, K, all, COLS);
	ada_set_threads(1);
	rowaxpy(wt, K, COLS, &s[0][0], M, K, thr1, COLS);
	ada_set_threads(2);
	CHECK_MSG(!memcmp(all, thr1, sizeof(*all) * M * COLS), "rowaxpy: 1 thread differs from 2");
	for (int m = 0; m < M; m++) {
		for (int o = 0; o < COLS; o++)
			one[o] = (float)((m * COLS + o) % 7) - 3;
		rowaxpy(wt, K, COLS, s[m], 1, K, one, COLS);
		CHECK_MSG(!memcmp(one, all + (size_t)m * COLS, sizeof(*one) * COLS),
			  "rowaxpy: row %d alone differs from it among %d", m, M);
		for (int o = 0; o < COLS; o++) {
			double want = (double)((m * COLS + o) % 7) - 3;
			for (int j = 0; j < K; j++)
				want += (double)s[m][j] * wt[(size_t)j * COLS + o];
			worst = fmax(worst, fabs(want - all[(size_t)m * COLS + o]));
		}
	}
	CHECK_MSG(worst < 1e-4, "rowaxpy: %g from the double sum", worst);
out_free:
	free(wt);
	free(all);
	free(one);
	free(thr1);
}

static void test_batch_invariance(void)
{
	check_invariance(model_path);
	check_invariance(bf16_path);
	check_invariance(q4k_path);
}

/* The greedy tokens are the argmax, the first on ties; the log-probs sum. */
static void test_greedy_and_logprobs(void)
{
	struct ada_served *m = NULL;
	struct ada_err err = { 0 };
	int32_t tokens[12];
	float *lg;

	CHECK_OK(ada_served_open(model_path, NULL, lora_dir, &m, &err), &err);
	if (!m)
		return;
	random_tokens(tokens, 12, V, 8);
	{
		struct ada_decoder *d;
		struct ada_seq *s;
		struct ada_sampling smp = { .temperature = 0, .top_p = 1, .top_logprobs = 20 };
		struct ada_token t;
		int best = 0;
		double total = 0;

		CHECK_OK(ada_decoder_new(16, &d, &err), &err);
		CHECK_OK(ada_seq_new(m, tokens, 12, 2, &smp, &s, &err), &err);
		CHECK_OK(ada_decode_step(d, &s, 1, &err), &err);
		CHECK(ada_seq_token(s, &t));
		lg = malloc(sizeof(float) * V);
		memcpy(lg, s->logits, sizeof(float) * V);
		for (int i = 1; i < V; i++)
			best = lg[i] > lg[best] ? i : best;
		CHECK_INT_EQ(t.id, best);
		CHECK_INT_EQ(t.n_top, 20);
		CHECK_INT_EQ(t.top_id[0], best);
		CHECK(t.top_logprob[0] == t.logprob);
		for (int i = 1; i < 20; i++)
			CHECK(t.top_logprob[i] <= t.top_logprob[i - 1]);
		for (int i = 0; i < V; i++)
			total += exp((double)lg[i] - lg[best] + t.logprob);
		CHECK_NEAR(total, 1.0, 1e-4);
		CHECK_INT_EQ(ada_seq_can_step(s), 1);
		CHECK_OK(ada_decode_step(d, &s, 1, &err), &err);
		CHECK_INT_EQ(ada_seq_can_step(s), 0);
		CHECK(ada_decode_step(d, &s, 1, &err) == ADA_EINVAL);   /* max_new reached */
		free(lg);
		ada_seq_free(s);
		ada_decoder_free(d);
	}
	ada_served_free(m);
}

static void sample(struct ada_served *m, uint64_t seed, int32_t *out, int n)
{
	struct ada_decoder *d;
	struct ada_seq *s;
	struct ada_sampling smp = { .temperature = 1.0, .top_p = 0.9, .seed = seed };
	struct ada_err err = { 0 };
	int32_t prompt[3] = { 1, 72, 105 };
	int k = 0;

	CHECK_OK(ada_decoder_new(8, &d, &err), &err);
	CHECK_OK(ada_seq_new(m, prompt, 3, n, &smp, &s, &err), &err);
	while (k < n && !ada_decode_step(d, &s, 1, &err)) {
		struct ada_token t;
		if (ada_seq_token(s, &t))
			out[k++] = t.id;
	}
	CHECK_INT_EQ(k, n);
	ada_seq_free(s);
	ada_decoder_free(d);
}

static void test_seeded_sampling(void)
{
	struct ada_served *m = NULL;
	struct ada_err err = { 0 };
	int32_t a[24], b[24], c[24];

	CHECK_OK(ada_served_open(model_path, NULL, NULL, &m, &err), &err);
	if (!m)
		return;
	sample(m, 7, a, 24);
	sample(m, 7, b, 24);
	sample(m, 8, c, 24);
	CHECK(!memcmp(a, b, sizeof(a)));
	CHECK(memcmp(a, c, sizeof(a)) != 0);
	ada_served_free(m);
}

/* A long generation (its cache grows, copied to a longer stride, several
 * times): each chosen token's log-probability is what the training forward
 * gives at that position of the whole text. */
static void test_long_generation(void)
{
	struct ada_served *m = NULL;
	struct ada_decoder *d = NULL;
	struct ada_seq *s = NULL;
	struct ada_sampling smp = { .temperature = 0.8, .top_p = 1, .seed = 3, .logprobs = 1 };
	struct ada_err err = { 0 };
	enum { N = 230 };
	int32_t text[N + 2] = { 1, 70 };
	float lp[N];
	float *ref;
	int n = 0;
	double worst = 0;

	CHECK_OK(ada_served_open(model_path, NULL, adalora_dir, &m, &err), &err);
	CHECK_OK(ada_decoder_new(4, &d, &err), &err);
	if (!m || !d)
		goto out_free;
	CHECK_OK(ada_seq_new(m, text, 2, N, &smp, &s, &err), &err);
	while (s && n < N && !ada_decode_step(d, &s, 1, &err)) {
		struct ada_token t;
		if (ada_seq_token(s, &t)) {
			text[2 + n] = t.id;
			lp[n++] = t.logprob;
		}
	}
	CHECK_INT_EQ(n, N);
	CHECK(s && s->cap > 2 + 128 && s->cap <= s->max_pos);
	ref = reference_logits(model_path, NULL, adalora_dir, text, N + 1);
	for (int i = 0; ref && i < N; i++) {
		const float *row = ref + (size_t)(i + 1) * V;
		double mx = row[0], sum = 0;
		for (int k = 1; k < V; k++)
			mx = row[k] > mx ? row[k] : mx;
		for (int k = 0; k < V; k++)
			sum += exp((double)row[k] - mx);
		worst = fmax(worst, fabs(((double)row[text[i + 2]] - mx - log(sum)) - lp[i]));
	}
	CHECK_MSG(worst < 1e-3, "log-probabilities differ from the training forward's by %g", worst);
	free(ref);
out_free:
	ada_seq_free(s);
	ada_decoder_free(d);
	ada_served_free(m);
}

/* ---- limits of a sequence ------------------------------------------------- */

static void test_seq_limits(void)
{
	struct ada_served *m = NULL;
	struct ada_seq *s = NULL;
	struct ada_sampling ok = { .temperature = 0, .top_p = 1 }, bad = ok;
	struct ada_served_info info;
	struct ada_err err = { 0 };
	int32_t prompt[2] = { 1, 300 };

	CHECK_OK(ada_served_open(model_path, NULL, NULL, &m, &err), &err);
	if (!m)
		return;
	ada_served_describe(m, &info);
	CHECK(info.generates && !info.classifier && info.weight_bytes > 0);
	CHECK_INT_EQ(ada_seq_new(m, prompt, 1, info.context_length + 1, &ok, &s, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "max_tokens");
	CHECK_OK(ada_seq_new(m, prompt, 1, info.context_length, &ok, &s, &err), &err);
	ada_seq_free(s);
	CHECK_INT_EQ(ada_seq_new(m, prompt, 2, 4, &ok, &s, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "prompt");
	bad.temperature = -1;
	CHECK_INT_EQ(ada_seq_new(m, prompt, 1, 4, &bad, &s, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "temperature");
	bad = ok;
	bad.top_logprobs = 21;
	CHECK_INT_EQ(ada_seq_new(m, prompt, 1, 4, &bad, &s, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "top_logprobs");
	CHECK_INT_EQ(ada_served_encode(m, "\xff", 1, &(int32_t *){ NULL }, &(size_t){ 0 }, &err),
		     ADA_EINVAL);
	CHECK_STR_EQ(err.param, "prompt");
	ada_served_free(m);
}

/* ---- the cache -------------------------------------------------------------- */

static void test_cache_lru(void)
{
	struct ada_model_cache *c;
	struct ada_model_cache_stats st;
	struct ada_served *a = NULL, *b = NULL, *a2 = NULL, *base = NULL;
	struct ada_served_info ia, ib;
	struct ada_err err = { 0 };

	/* Room for one adapter: the LoRA and AdaLoRA ones are about the same size. */
	CHECK_OK(ada_served_open(model_path, NULL, lora_dir, &a, &err), &err);
	ada_served_describe(a, &ia);
	ada_served_free(a);
	CHECK_OK(ada_model_cache_new(ia.adapter_bytes * 3 / 2, 1, &c, &err), &err);

	CHECK_OK(ada_model_cache_get(c, model_path, NULL, lora_dir, &a, &err), &err);
	CHECK_OK(ada_model_cache_get(c, model_path, NULL, adalora_dir, &b, &err), &err);
	CHECK_OK(ada_model_cache_get(c, model_path, NULL, NULL, &base, &err), &err);
	if (!a || !b || !base)
		goto out_free;
	/* One base under all three. */
	CHECK(a->base == b->base && b->base == base->base);
	ada_served_describe(b, &ib);
	ada_model_cache_stats(c, &st);
	CHECK_INT_EQ(st.bases, 1);
	CHECK_INT_EQ(st.adapters, 1);          /* the LoRA one went */
	CHECK_INT_EQ(st.evictions, 1);
	CHECK_INT_EQ(st.misses, 2);
	CHECK_INT_EQ(st.hits, 1);
	CHECK(st.adapter_bytes == ib.adapter_bytes);
	CHECK(st.base_bytes == ia.weight_bytes);
	/* The evicted adapter still decodes for its holder. */
	{
		int32_t tokens[4] = { 1, 2, 3, 4 };
		float *x = served_logits(a, tokens, 4, V);
		CHECK(x && isfinite(x[0]));
		free(x);
	}
	/* Used again: a hit for b, a load (miss) for a, which evicts b. */
	CHECK_OK(ada_model_cache_get(c, model_path, NULL, adalora_dir, &a2, &err), &err);
	ada_served_free(a2);
	CHECK_OK(ada_model_cache_get(c, model_path, NULL, lora_dir, &a2, &err), &err);
	CHECK(a2 && a2->ad != a->ad);
	ada_served_free(a2);
	ada_model_cache_stats(c, &st);
	CHECK_INT_EQ(st.hits, 2);
	CHECK_INT_EQ(st.misses, 3);
	CHECK_INT_EQ(st.evictions, 2);
	CHECK_INT_EQ(st.adapters, 1);
out_free:
	ada_served_free(a);
	ada_served_free(b);
	ada_served_free(base);
	ada_model_cache_free(c);
}

/* Idle bases beyond the count are dropped; a replaced file is loaded anew. */
static void test_cache_bases(void)
{
	struct ada_model_cache *c;
	struct ada_model_cache_stats st;
	struct ada_served *x = NULL, *y = NULL;
	struct ada_err err = { 0 };

	CHECK_OK(ada_model_cache_new(0, 1, &c, &err), &err);
	CHECK_OK(ada_model_cache_get(c, model_path, NULL, NULL, &x, &err), &err);
	CHECK_OK(ada_model_cache_get(c, bf16_path, NULL, NULL, &y, &err), &err);
	ada_model_cache_stats(c, &st);
	CHECK_INT_EQ(st.bases, 2);             /* both in use */
	ada_served_free(x);
	ada_served_free(y);
	CHECK_OK(ada_model_cache_get(c, q4k_path, NULL, NULL, &x, &err), &err);
	ada_model_cache_stats(c, &st);
	CHECK_INT_EQ(st.bases, 2);             /* q4k in use + one idle kept */
	ada_served_free(x);
	ada_model_cache_free(c);
}

/* ---- text ------------------------------------------------------------------- */

static void push(struct ada_text_stream *t, const char *piece, const char *want, int want_rc)
{
	const char *out;
	size_t n;
	int rc = ada_text_stream_push(t, piece, strlen(piece), &out, &n);

	CHECK_INT_EQ(rc, want_rc);
	CHECK_MSG(n == strlen(want) && !memcmp(out, want, n), "pushed '%s': got '%.*s', want '%s'",
		  piece, (int)n, out, want);
}

static void test_text_stream(void)
{
	const char *stops[] = { "END", "wor" };
	struct ada_text_stream *t;
	struct ada_err err = { 0 };
	const char *out;
	size_t n;

	CHECK_OK(ada_text_stream_new(stops, 2, &t, &err), &err);
	push(t, "Hel", "Hel", 0);
	push(t, "lo \xe2\x82", "lo ", 0);          /* half a euro sign held */
	push(t, "\xac w", "\xe2\x82\xac ", 0);     /* "w" may start "wor" */
	push(t, "o", "", 0);
	push(t, "rld", "", 1);                     /* stopped: nothing of "wor" */
	push(t, "more", "", 1);
	ada_text_stream_free(t);

	CHECK_OK(ada_text_stream_new(stops, 2, &t, &err), &err);
	push(t, "a\xff", "a\xef\xbf\xbd", 0);      /* a byte that starts nothing */
	push(t, "E", "", 0);
	push(t, "x\xe2", "Ex", 0);
	CHECK_INT_EQ(ada_text_stream_finish(t, &out, &n), 0);
	CHECK(n == 3 && !memcmp(out, "\xef\xbf\xbd", 3));   /* unfinished at the end */
	ada_text_stream_free(t);

	CHECK_OK(ada_text_stream_new(NULL, 0, &t, &err), &err);
	push(t, "\xed\xa0", "\xef\xbf\xbd\xef\xbf\xbd", 0);   /* a surrogate never completes */
	/* one U+FFFD per maximal subpart, as WHATWG's decoder (Node's, a
	 * browser's) reads the same bytes: E2 99 then '3' is one, F0 9F 98
	 * then 'x' is one; C3 80 is a character and the 80 after it one */
	push(t, "\xe2\x99" "3", "\xef\xbf\xbd" "3", 0);
	push(t, "\xf0\x9f\x98" "x", "\xef\xbf\xbd" "x", 0);
	push(t, "\xc3\x80\x80", "\xc3\x80\xef\xbf\xbd", 0);
	ada_text_stream_free(t);
}

static void test_chat_prompt(void)
{
	struct chat_model_opts co;
	struct ada_served *m = NULL, *plain = NULL;
	struct ada_served_info info;
	struct ada_err err = { 0 };
	char path[4300];
	json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "Hi");
	int32_t *ids = NULL;
	size_t n = 0;

	chat_model_chatml(&co);
	snprintf(path, sizeof(path), "%s/chat.gguf", tmp);
	CHECK_OK(chat_model_write(path, &co, 3, &err), &err);
	CHECK_OK(ada_served_open(path, NULL, NULL, &m, &err), &err);
	if (!m)
		goto out_free;
	ada_served_describe(m, &info);
	CHECK(info.has_chat);
	CHECK_STR_EQ(info.chat_template, "chatml");
	CHECK_OK(ada_served_chat(m, msgs, &ids, &n, &err), &err);
	{
		/* ...<|im_end|>\n<|im_start|>assistant\n */
		const int32_t start = chat_model_special_id(&co, "<|im_start|>");
		const char *tail = "assistant\n";
		CHECK(n > 12);
		if (n > 12) {
			CHECK_INT_EQ(ids[n - 11], start);
			for (int i = 0; i < 10; i++)
				CHECK_INT_EQ(ids[n - 10 + i], (unsigned char)tail[i]);
		}
		CHECK(ada_served_stop_token(m, chat_model_special_id(&co, "<|im_end|>"), 1));
		CHECK(!ada_served_stop_token(m, start, 1));
	}
	free(ids);
	/* A model without a template cannot chat: the error names the model. */
	CHECK_OK(ada_served_open(model_path, NULL, NULL, &plain, &err), &err);
	if (plain) {
		CHECK_INT_EQ(ada_served_chat(plain, msgs, &ids, &n, &err), ADA_EINVAL);
		CHECK_STR_EQ(err.param, "model");
		CHECK(ada_served_chat_refusal(plain)[0] != '\0');
	}
	{
		json_t *bad = json_pack("[{s:s,s:i}]", "role", "user", "content", 3);
		CHECK(ada_served_chat(m, bad, &ids, &n, &err) != ADA_OK);
		CHECK_STR_EQ(err.param, "messages");
		json_decref(bad);
	}
out_free:
	json_decref(msgs);
	ada_served_free(m);
	ada_served_free(plain);
}


/* ---- question answering ------------------------------------------------------ */

/* A QA job on a tiny BERT: train (JSONL), n steps; the adapter's dir. */
static const char *qa_train(const char *name, const char *enc, const char *train, int steps)
{
	const char *out = scratch_path(tmp, "%s-out", name);
	static char adapter[2][4400];
	static int which;
	struct ada_job job = { 0 };
	struct ada_result res;
	struct ada_err err = { 0 };
	char *a = adapter[which++ % 2];

	job.model = enc;
	job.train_file = train;
	job.out_dir = out;
	job.seed = 7;
	job.threads = 2;
	job.task = ADA_TASK_QUESTION_ANSWERING;
	ada_method_defaults(ADA_METHOD_ADALORA, &job.method);
	job.method.hp.max_steps = steps;
	job.method.hp.batch_size = 16;
	job.method.hp.seq_len = 24;
	job.method.hp.learning_rate = 2e-2;
	job.method.hp.warmup_steps = 5;
	job.method.hp.checkpoint_every = 0;
	job.method.hp.init_r = 4;
	job.method.hp.target_r = 2;
	job.method.hp.tinit = 20;
	job.method.hp.tfinal = 40;
	job.method.hp.delta_t = 5;
	job.method.hp.doc_stride = 4;
	job.method.hp.max_answer_length = 4;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	ada_result_release(&res);
	snprintf(a, sizeof(adapter[0]), "%s/adapter", out);
	return a;
}

/* Every question of dev served alone equals its line of eval's predictions. */
static void qa_matches_eval(struct ada_served *m, const char *enc, const char *adapter,
			    const char *dev, int *multi_window, int *impossible)
{
	struct ada_infer_opts io = { .model = enc, .adapter = adapter };
	const char *pred = scratch_path(tmp, "pred.jsonl");
	struct ada_eval_result ev;
	struct ada_err err = { 0 };
	char *buf = NULL, *pbuf = NULL, *save = NULL, *psave = NULL;
	size_t len, plen;
	int n = 0;

	CHECK_OK(ada_eval_qa(&io, dev, 0, pred, &ev, &err), &err);
	CHECK_OK(file_read_all(dev, &buf, &len, &err), &err);
	CHECK_OK(file_read_all(pred, &pbuf, &plen, &err), &err);
	if (!buf || !pbuf)
		return;
	for (char *line = strtok_r(buf, "\n", &save), *pl = strtok_r(pbuf, "\n", &psave);
	     line && pl; line = strtok_r(NULL, "\n", &save), pl = strtok_r(NULL, "\n", &psave)) {
		json_t *q = json_loads(line, 0, NULL), *p = json_loads(pl, 0, NULL), *got;
		struct ada_qa_opts o;
		struct ada_qa_answer a;

		ada_qa_opts_init(&o);
		CHECK_OK(ada_served_answer(m, json_string_value(json_object_get(q, "question")),
					   json_string_value(json_object_get(q, "context")), &o, &a, &err),
			 &err);
		got = ada_qa_answer_to_json(&a);
		CHECK_STR_EQ(json_string_value(json_object_get(got, "answer")),
			     json_string_value(json_object_get(p, "answer")));
		CHECK_INT_EQ(json_integer_value(json_object_get(got, "start")),
			     json_integer_value(json_object_get(p, "start")));
		CHECK_INT_EQ(json_integer_value(json_object_get(got, "end")),
			     json_integer_value(json_object_get(p, "end")));
		CHECK_INT_EQ(json_integer_value(json_object_get(got, "windows")),
			     json_integer_value(json_object_get(p, "windows")));
		CHECK(json_equal(json_object_get(got, "is_impossible"), json_object_get(p, "is_impossible")));
		CHECK_MSG(fabs(json_real_value(json_object_get(got, "score")) -
			       json_real_value(json_object_get(p, "score"))) < 1e-4,
			  "score %g, eval's %g", json_real_value(json_object_get(got, "score")),
			  json_real_value(json_object_get(p, "score")));
		/* offsets are characters of the context: the text is there */
		if (!a.is_impossible && a.n_spans) {
			const char *c = json_string_value(json_object_get(q, "context"));
			CHECK(!strncmp(c + a.spans[0].start, a.spans[0].text, strlen(a.spans[0].text)));
		}
		*multi_window += a.windows > 1;
		*impossible += a.is_impossible;
		n++;
		json_decref(got);
		ada_qa_answer_release(&a);
		json_decref(q);
		json_decref(p);
	}
	CHECK_INT_EQ(n, ev.examples);
	free(buf);
	free(pbuf);
}

static void test_question_answering(void)
{
	const char *enc = scratch_path(tmp, "qa-bert");
	const char *train = scratch_path(tmp, "qa-train.jsonl");
	const char *dev = scratch_path(tmp, "qa-dev.jsonl");
	const char *lng = scratch_path(tmp, "qa-long.jsonl");
	const char *adapter;
	struct ada_served *m = NULL, *base = NULL;
	struct ada_served_info info;
	struct ada_qa_opts o;
	struct ada_qa_answer a, one;
	struct ada_err err = { 0 };
	int multi = 0, none = 0;
	float logits[2];
#define QA_CTX "the cat sat on a mat and the dog ran to the park zebra ball in the sun"
	const char *ctx = QA_CTX;

	CHECK_OK(task_make_encoder("bert", 3, enc, &err), &err);
	CHECK_OK(task_write_qa(train, 400, 1, 0, 0, &err), &err);
	CHECK_OK(task_write_qa(dev, 12, 2, 0, 0, &err), &err);
	CHECK_OK(task_write_qa_long(lng, 6, 30, 4, &err), &err);
	adapter = qa_train("qa-v1", enc, train, 160);
	CHECK_OK(ada_served_open(enc, NULL, adapter, &m, &err), &err);
	if (!m)
		return;
	ada_served_describe(m, &info);
	CHECK(info.question_answering && !info.classifier && !info.generates);
	CHECK_INT_EQ(info.seq_len, 24);
	CHECK(!info.qa_version_2);
	CHECK_INT_EQ(info.qa_n_best_size, 20);

	/* the same answers as eval's predictions; long contexts in windows */
	qa_matches_eval(m, enc, adapter, dev, &multi, &none);
	CHECK_INT_EQ(multi, 0);
	qa_matches_eval(m, enc, adapter, lng, &multi, &none);
	CHECK_MSG(multi == 6, "%d of 6 long contexts in several windows", multi);
	CHECK_INT_EQ(none, 0);   /* v1: always an answer */

	/* top_k: the n-best in order, the first the answer */
	ada_qa_opts_init(&o);
	CHECK_OK(ada_served_answer(m, "where is the zebra", ctx, &o, &one, &err), &err);
	o.top_k = 5;
	CHECK_OK(ada_served_answer(m, "where is the zebra", ctx, &o, &a, &err), &err);
	CHECK_INT_EQ(a.n_spans, 5);
	CHECK_INT_EQ(one.n_spans, 1);
	if (a.n_spans == 5 && one.n_spans == 1) {
		double sum = 0;
		CHECK_STR_EQ(a.spans[0].text, one.spans[0].text);
		CHECK(a.spans[0].score == one.spans[0].score);
		for (int i = 0; i < 5; i++) {
			sum += a.spans[i].probability;
			if (i)
				CHECK(a.spans[i].score <= a.spans[i - 1].score &&
				      a.spans[i].probability <= a.spans[i - 1].probability);
			for (int j = 0; j < i; j++)   /* each span once */
				CHECK(a.spans[i].start != a.spans[j].start || a.spans[i].end != a.spans[j].end);
		}
		CHECK(sum <= 1 + 1e-9);
		fprintf(stderr, "  answer '%s' (%.3f, p %.3f)\n", a.spans[0].text, a.spans[0].score,
			a.spans[0].probability);
	}
	ada_qa_answer_release(&a);
	ada_qa_answer_release(&one);

	/* refusals, by option */
	{
		static const struct {
			int top_k, seq, stride;
			int64_t windows;
			const char *q, *c, *param;
		} bad[] = {
			{ 21, 0, -1, 0, "where is the zebra", "a zebra", "top_k" },
			{ 1, 100000, -1, 0, "where is the zebra", "a zebra", "max_seq_length" },
			{ 1, 24, 24, 0, "where is the zebra", "a zebra", "doc_stride" },
			{ 1, 10, -1, 0, "where is the zebra on the mat and the dog", "a zebra", "max_seq_length" },
			{ 1, 0, -1, 1, "where is the zebra", QA_CTX, "context" },
			{ 1, 0, -1, 0, "  ", "a zebra", "question" },
			{ 1, 0, -1, 0, "where", " \n ", "context" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int rc;
			ada_qa_opts_init(&o);
			o.top_k = bad[i].top_k;
			o.max_seq_length = bad[i].seq;
			o.doc_stride = bad[i].stride;
			o.max_windows = bad[i].windows;
			memset(&err, 0, sizeof(err));
			rc = ada_served_answer(m, bad[i].q, bad[i].c, &o, &a, &err);
			CHECK_MSG(rc == ADA_EINVAL && !strcmp(err.param, bad[i].param),
				  "case %zu: rc %d param '%s' (%s)", i, rc, err.param, err.msg);
		}
	}
	/* a QA model classifies nothing; a base answers nothing */
	CHECK(ada_served_classify(m, "a", NULL, logits, NULL, NULL, &err) == ADA_EINVAL &&
	      !strcmp(err.param, "model"));
	CHECK_OK(ada_served_open(enc, NULL, NULL, &base, &err), &err);
	ada_qa_opts_init(&o);
	CHECK(base && ada_served_answer(base, "where", "a zebra", &o, &a, &err) == ADA_EINVAL &&
	      !strcmp(err.param, "model"));
	ada_served_free(base);
	ada_served_free(m);

	/* SQuAD v2: the null competes; the threshold decides */
	{
		const char *train2 = scratch_path(tmp, "qa-train-v2.jsonl");
		const char *dev2 = scratch_path(tmp, "qa-dev-v2.jsonl");

		CHECK_OK(task_write_qa(train2, 320, 5, 0, 4, &err), &err);
		CHECK_OK(task_write_qa(dev2, 16, 6, 0, 4, &err), &err);
		adapter = qa_train("qa-v2", enc, train2, 160);
		CHECK_OK(ada_served_open(enc, NULL, adapter, &m, &err), &err);
		if (!m)
			return;
		ada_served_describe(m, &info);
		CHECK(info.qa_version_2);
		multi = none = 0;
		qa_matches_eval(m, enc, adapter, dev2, &multi, &none);
		fprintf(stderr, "  v2: %d of 16 without an answer\n", none);
		ada_qa_opts_init(&o);
		o.null_score_diff_threshold = -1e9;
		CHECK_OK(ada_served_answer(m, "where is the zebra", ctx, &o, &a, &err), &err);
		CHECK(a.is_impossible && a.version_2 && a.n_spans == 1 && isfinite(a.null_probability));
		ada_qa_answer_release(&a);
		o.null_score_diff_threshold = 1e9;
		CHECK_OK(ada_served_answer(m, "where is the zebra", ctx, &o, &a, &err), &err);
		CHECK(!a.is_impossible);
		ada_qa_answer_release(&a);
		ada_served_free(m);
	}
}

int main(void)
{
	struct ada_err err = { 0 };

	tmp = check_tmpdir("serve");
	snprintf(model_path, sizeof(model_path), "%s/tiny.gguf", tmp);
	snprintf(bf16_path, sizeof(bf16_path), "%s/tiny-bf16.gguf", tmp);
	snprintf(q4k_path, sizeof(q4k_path), "%s/tiny-q4k.gguf", tmp);
	if (ada_create_model("tiny", 2, model_path, &err) ||
	    ada_create_model_dtype("tiny", 2, "BF16", bf16_path, &err) ||
	    ada_create_model_dtype("tiny", 2, "Q4_K", q4k_path, &err)) {
		fprintf(stderr, "create model: %s\n", err.msg);
		return 1;
	}
	ada_set_threads(2);
	snprintf(lora_dir, sizeof(lora_dir), "%s/lora", tmp);
	snprintf(adalora_dir, sizeof(adalora_dir), "%s/adalora", tmp);
	snprintf(compact_dir, sizeof(compact_dir), "%s/adalora-compact", tmp);
	snprintf(bn_dir, sizeof(bn_dir), "%s/bottleneck", tmp);
	make_adapter(model_path, NULL, ADA_METHOD_LORA, 0, 1, lora_dir);
	make_adapter(model_path, NULL, ADA_METHOD_ADALORA, 0, 2, adalora_dir);
	make_adapter(model_path, NULL, ADA_METHOD_ADALORA, 1, 3, compact_dir);
	make_adapter(model_path, NULL, ADA_METHOD_ADAPTER, 0, 4, bn_dir);

	RUN(test_unmerged_equals_forward);
	RUN(test_bitfit_unmerged);
	RUN(test_unmerged_equals_merged);
	RUN(test_rowaxpy);
	RUN(test_batch_invariance);
	RUN(test_greedy_and_logprobs);
	RUN(test_seeded_sampling);
	RUN(test_long_generation);
	RUN(test_seq_limits);
	RUN(test_cache_lru);
	RUN(test_cache_bases);
	RUN(test_text_stream);
	RUN(test_chat_prompt);
	RUN(test_question_answering);
	return check_summary();
}
