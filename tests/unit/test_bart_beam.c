/*
 * Beam search on BART (net/beam.h over net/seq2seq_step.h), on a tiny
 * random BART the test writes as a Hugging Face directory:
 *   - greedy search and beam search with one beam give the same tokens;
 *   - beam search over the KV-cached decoder gives the tokens and scores
 *     of beam search over the uncached decoder (every step reruns the
 *     decoder over each hypothesis's prefix), with length penalties, n-gram
 *     bans, minimum lengths and every early-stopping rule;
 *   - beam search finds sequences that score higher than greedy's, scored
 *     again by an independent teacher-forced forward pass (bart_forward):
 *     the score beam search reports is the rescored one;
 *   - the generation settings of a model directory (config.json, then
 *     generation_config.json over it) and their errors;
 *   - ada_generate() with {"num_beams": 4} writes the text of that search.
 */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "adalora.h"
#include "infer/inference_net.h"
#include "net/s2s_predict.h"
#include "net/seq2seq_step.h"
#include "nn/bart.h"
#include "tiny_bart.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

#define N_SOURCES 12
#define MAX_SRC 10

static char *tmp;
static char bart_dir[4200];
static struct inference_net in;
static int32_t sources[N_SOURCES][MAX_SRC];
static int source_len[N_SOURCES];

/* Random framed sources: <s> letters </s>. */
static void make_sources(void)
{
	struct rng r;

	rng_seed(&r, 5);
	for (int i = 0; i < N_SOURCES; i++) {
		const int n = 3 + (int)rng_below(&r, MAX_SRC - 4);

		sources[i][0] = 0;
		for (int t = 1; t <= n; t++)
			sources[i][t] = TINY_BART_SPACE_LETTER('a' + (int)rng_below(&r, 26));
		sources[i][n + 1] = 2;
		source_len[i] = n + 2;
	}
}

static void opts_for_test(struct beam_opts *o, int num_beams, int max_length)
{
	struct ada_err err;

	CHECK_OK(s2s_generation_config(in.model, o, &err), &err);
	o->num_beams = num_beams;
	o->max_length = max_length;
}

static void search_cached(int i, const struct beam_opts *o, int force_beam, struct beam_result *r)
{
	struct bart_stepper st;
	struct ada_err err;

	CHECK_OK(bart_stepper_init(&st, &in.bart, MAX_SRC, o->num_beams, o->max_length - 1, 2, &err),
		 &err);
	CHECK_OK(bart_stepper_start(&st, sources[i], source_len[i], &err), &err);
	if (force_beam)
		CHECK_OK(beam_search(&st.ops, &st, o, r, &err), &err);
	else
		CHECK_OK(seq2seq_generate(&st.ops, &st, o, r, &err), &err);
	bart_stepper_release(&st);
}

static void search_uncached(int i, const struct beam_opts *o, struct beam_result *r)
{
	struct bart_uncached u;
	struct ada_err err;

	CHECK_OK(bart_uncached_init(&u, &in.bart, MAX_SRC, o->num_beams, o->max_length - 1, 2, &err),
		 &err);
	CHECK_OK(bart_uncached_start(&u, sources[i], source_len[i], &err), &err);
	CHECK_OK(seq2seq_generate(&u.ops, &u, o, r, &err), &err);
	bart_uncached_release(&u);
}

static int same_tokens(const struct beam_result *a, const struct beam_result *b)
{
	return a->n_tokens == b->n_tokens && a->finished == b->finished &&
	       !memcmp(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof(*a->tokens));
}

/* ---- one beam is greedy ---------------------------------------------------- */

static void test_one_beam_is_greedy(void)
{
	int finished = 0;

	for (int i = 0; i < N_SOURCES; i++) {
		struct beam_opts o;
		struct beam_result g = { 0 }, b = { 0 };

		opts_for_test(&o, 1, 14);
		search_cached(i, &o, 0, &g);    /* num_beams 1: greedy_search */
		search_cached(i, &o, 1, &b);    /* beam_search with one beam */
		CHECK_MSG(same_tokens(&g, &b), "source %d: greedy and one beam differ", i);
		finished += g.finished;
		beam_result_release(&g);
		beam_result_release(&b);
	}
	/* forced_eos_token_id (BartConfig's 2) ends the sequences cut at max_length */
	CHECK_INT_EQ(finished, N_SOURCES);
}

/* ---- the cache changes nothing --------------------------------------------- */

static void test_cached_equals_uncached(void)
{
	static const struct {
		int beams, max_length, min_length, no_repeat, early;
		double lp;
	} cases[] = {
		{ 4, 12, 0, 0, BEAM_STOP_FALSE, 1.0 },
		{ 4, 12, 6, 2, BEAM_STOP_TRUE, 2.0 },
		{ 3, 10, 0, 1, BEAM_STOP_NEVER, 0.5 },
		{ 5, 9, 3, 0, BEAM_STOP_NEVER, -1.0 },
		{ 1, 12, 4, 2, BEAM_STOP_FALSE, 1.0 },
	};
	int differ_from_greedy = 0;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (int i = 0; i < N_SOURCES; i++) {
			struct beam_opts o;
			struct beam_result a = { 0 }, b = { 0 };

			opts_for_test(&o, cases[c].beams, cases[c].max_length);
			o.min_length = cases[c].min_length;
			o.no_repeat_ngram_size = cases[c].no_repeat;
			o.early_stopping = cases[c].early;
			o.length_penalty = cases[c].lp;
			search_cached(i, &o, 0, &a);
			search_uncached(i, &o, &b);
			CHECK_MSG(same_tokens(&a, &b), "case %zu, source %d: cached and uncached beams differ",
				  c, i);
			CHECK_MSG(fabs(a.score - b.score) <= 1e-4 * fmax(1, fabs(a.score)),
				  "case %zu, source %d: scores %.8g and %.8g", c, i, a.score, b.score);
			if (c == 0) {
				struct beam_result g = { 0 };

				o.num_beams = 1;
				search_cached(i, &o, 0, &g);
				differ_from_greedy += !same_tokens(&a, &g);
				beam_result_release(&g);
			}
			beam_result_release(&a);
			beam_result_release(&b);
		}
	/* the comparison means something: four beams often leave greedy's path */
	CHECK_MSG(differ_from_greedy > 0, "four beams always chose greedy's sequence");
}

/* ---- beam search scores higher ---------------------------------------------- */

/* sum log p(g[t] | source, g[<t]) by one teacher-forced pass, in double. */
static double rescore(int i, const int *g, int n, int start)
{
	struct bart_acts a;
	struct nn_step st = { 0 };
	int32_t dec[32], lab[32];
	const int V = in.bart.d.vocab;
	double sum = 0;

	CHECK(n >= 1 && n <= 32);
	CHECK_OK(bart_acts_init(&a, &in.bart.d, 1, MAX_SRC, n, 2), (struct ada_err *)NULL);
	CHECK_OK(bart_acts_set_shape(&a, source_len[i], n), (struct ada_err *)NULL);
	for (int t = 0; t < n; t++) {
		dec[t] = t ? g[t - 1] : start;
		lab[t] = g[t];
	}
	CHECK_OK(bart_forward(&in.bart, &a, sources[i], NULL, dec, NULL, 1, 0, 0, NULL, NULL, NULL,
			      &st), (struct ada_err *)NULL);
	for (int t = 0; t < n; t++) {
		const float *z = a.logits + (size_t)t * V;
		double mx = z[0], s = 0;

		for (int v = 1; v < V; v++)
			mx = fmax(mx, z[v]);
		for (int v = 0; v < V; v++)
			s += exp((double)z[v] - mx);
		sum += (double)z[lab[t]] - mx - log(s);
	}
	bart_acts_release(&a);
	return sum;
}

static void test_beam_beats_greedy(void)
{
	int better = 0, worse = 0;

	for (int i = 0; i < N_SOURCES; i++) {
		struct beam_opts o;
		struct beam_result g = { 0 }, b = { 0 };
		double gs, bs, gn, bn;

		opts_for_test(&o, 4, 10);
		o.forced_eos_token_id = -1;   /* scores are then the model's log-probabilities */
		o.early_stopping = BEAM_STOP_NEVER;
		search_cached(i, &o, 0, &b);
		o.num_beams = 1;
		search_cached(i, &o, 0, &g);
		gs = rescore(i, g.tokens, g.n_tokens, o.decoder_start_token_id);
		bs = rescore(i, b.tokens, b.n_tokens, o.decoder_start_token_id);
		/* greedy reports sum log p; beam sum log p / generated^lp (lp 1) */
		CHECK_MSG(fabs(gs - g.score) <= 1e-3 * fmax(1, fabs(gs)), "source %d: greedy %.6g rescored %.6g",
			  i, g.score, gs);
		bn = bs / (double)b.n_tokens;
		CHECK_MSG(fabs(bn - b.score) <= 1e-3 * fmax(1, fabs(bn)), "source %d: beam %.6g rescored %.6g",
			  i, b.score, bn);
		gn = gs / (double)g.n_tokens;
		better += bn > gn + 1e-3 && !same_tokens(&g, &b);
		worse += bn < gn - 1e-3;
		beam_result_release(&g);
		beam_result_release(&b);
	}
	fprintf(stderr, "beam-4 scored higher than greedy on %d of %d sources, lower on %d\n", better,
		N_SOURCES, worse);
	CHECK_MSG(better > 0, "beam search never found a better sequence than greedy");
	CHECK_MSG(worse < better, "beam search lost to greedy on %d sources", worse);
}

/* ---- generation settings ------------------------------------------------------ */

static void test_generation_config(void)
{
	char *dir = path_join(tmp, "bart-gen"), *gen = path_join(dir, "generation_config.json");
	struct ada_infer_opts io = { .model = dir };
	struct inference_net other;
	struct beam_opts o;
	struct ada_err err;
	struct model_config cfg;
	struct model *m = NULL;
	json_t *extra = json_pack("{s:i,s:f,s:b,s:i,s:i}", "num_beams", 4, "length_penalty", 2.0,
				  "early_stopping", 1, "no_repeat_ngram_size", 3, "max_length", 30);
	struct tiny_bart_opts to = { .config_extra = extra };
	const char *gen_text = "{\"num_beams\": 6, \"early_stopping\": \"never\", \"min_length\": 4}";

	tiny_bart_config(&cfg);
	CHECK_OK(tiny_bart_random(&cfg, 3, &m) ? ada_fail(&err, ADA_ENOMEM, "oom") : ADA_OK, &err);
	CHECK_OK(tiny_write_bart_hf(m, dir, &to, &err), &err);
	CHECK_OK(inference_net_open(&other, &io, &err), &err);
	if (other.model) {
		CHECK_OK(s2s_generation_config(other.model, &o, &err), &err);
		CHECK(o.num_beams == 4 && o.length_penalty == 2.0 && o.early_stopping == BEAM_STOP_TRUE &&
		      o.no_repeat_ngram_size == 3 && o.max_length == 30);
		CHECK(o.decoder_start_token_id == 2 && o.eos_token_id == 2 &&
		      o.forced_eos_token_id == 2 && o.forced_bos_token_id == -1);
		/* generation_config.json over config.json */
		CHECK_OK(file_write_atomic(gen, gen_text, strlen(gen_text), &err), &err);
		CHECK_OK(s2s_generation_config(other.model, &o, &err), &err);
		CHECK(o.num_beams == 6 && o.early_stopping == BEAM_STOP_NEVER && o.min_length == 4 &&
		      o.length_penalty == 2.0);
		/* a key of the wrong type names the file and the model */
		CHECK_OK(file_write_atomic(gen, "{\"num_beams\": \"four\"}", 21, &err), &err);
		CHECK_INT_EQ(s2s_generation_config(other.model, &o, &err), ADA_EINVAL);
		CHECK_STR_EQ(err.param, "model");
		CHECK(strstr(err.msg, "generation_config.json") && strstr(err.msg, "num_beams"));
		inference_net_close(&other);
	}
	model_free(m);
	json_decref(extra);
	free(gen);
	free(dir);
}

/* ---- ada_generate ----------------------------------------------------------------- */

struct text_buf {
	char s[1024];
	size_t n;
};

static void collect(void *ctx, const char *s, size_t n)
{
	struct text_buf *b = ctx;

	if (b->n + n < sizeof(b->s)) {
		memcpy(b->s + b->n, s, n);
		b->n += n;
		b->s[b->n] = '\0';
	}
}

static void test_generate_beam(void)
{
	const char *prompt = "c a b d";
	struct ada_generate_opts g = { .in = { .model = bart_dir }, .prompt = prompt, .n_tokens = 9,
				       .generation = "{\"num_beams\": 4, \"length_penalty\": 0.5}" };
	struct text_buf got = { .n = 0 }, greedy = { .n = 0 };
	struct beam_opts o;
	struct beam_result r = { 0 };
	struct bart_stepper st;
	struct ivec src = { 0 };
	struct ada_err err;
	char *text = NULL, want[1100];
	size_t len;

	CHECK_OK(ada_generate(&g, collect, &got, &err), &err);
	/* the same search by hand */
	opts_for_test(&o, 4, 10);
	o.length_penalty = 0.5;
	CHECK_OK(tokenizer_encode_pair(in.tok, prompt, strlen(prompt), NULL, 0, 64, &src, NULL, NULL,
				       &err), &err);
	CHECK_OK(bart_stepper_init(&st, &in.bart, (int)src.n, 4, 9, 2, &err), &err);
	CHECK_OK(bart_stepper_start(&st, src.v, (int)src.n, &err), &err);
	CHECK_OK(seq2seq_generate(&st.ops, &st, &o, &r, &err), &err);
	CHECK_OK(s2s_result_text(in.tok, &r, o.eos_token_id, &text, &len, &err), &err);
	snprintf(want, sizeof(want), "%s\n", text ? text : "");
	CHECK_STR_EQ(got.s, want);
	/* greedy by default; the settings are checked, naming the key */
	g.generation = NULL;
	CHECK_OK(ada_generate(&g, collect, &greedy, &err), &err);
	g.generation = "{\"num_beams\": 0}";
	CHECK_INT_EQ(ada_generate(&g, collect, &greedy, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "num_beams");
	g.generation = "{\"early_stopping\": \"sometimes\"}";
	CHECK_INT_EQ(ada_generate(&g, collect, &greedy, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "early_stopping");
	g.generation = "[4]";
	CHECK_INT_EQ(ada_generate(&g, collect, &greedy, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "generation");
	bart_stepper_release(&st);
	beam_result_release(&r);
	ivec_release(&src);
	free(text);
}

int main(void)
{
	struct ada_infer_opts io = { 0 };
	struct ada_err err;
	char *d;

	tmp = check_tmpdir("bart_beam");
	d = path_join(tmp, "bart");
	snprintf(bart_dir, sizeof(bart_dir), "%s", d);
	free(d);
	if (tiny_make_bart(bart_dir, 3, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	io.model = bart_dir;
	if (inference_net_open(&in, &io, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	make_sources();
	RUN(test_one_beam_is_greedy);
	RUN(test_cached_equals_uncached);
	RUN(test_beam_beats_greedy);
	RUN(test_generation_config);
	RUN(test_generate_beam);
	inference_net_close(&in);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
