/*
 * Tests of net/beam.c: greedy and beam search over struct
 * seq2seq_step_ops, with a fake decoder.
 *
 * The fake keeps a "cache" row per hypothesis: the tokens that row was fed.
 * step() checks every row is at the position it is called for and appends
 * the new token; reorder() checks each parent exists and copies rows. The
 * next-token distribution is a function of a row's whole history, so a
 * row that followed the wrong parent would produce the wrong scores and
 * the result's score would not rescore; every test also checks the fake
 * saw no inconsistent call.
 *
 * Tokens: S = 0 (decoder start), E = 1 (EOS), A..D = 2..5. The table models
 * give probabilities by prefix (after S); logits are their logs, so
 * log_softmax gives them back. The hand-computed traces below use natural
 * logarithms rounded to three places: ln .5 = -0.693, ln .4 = -0.916,
 * ln .9 = -0.105, ln .25 = -1.386, ln .1875 = -1.674, ln .6 = -0.511.
 */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "net/beam.h"
#include "util/err.h"

enum { S, E, A, B, C, D, V };

#define MAX_ROWS 16
#define MAX_LEN 64
#define MAX_CALLS 64

/* A prefix (letters after S, "" = just S) and P(E), P(A), .., P(D). */
struct entry {
	const char *prefix;
	double p[5];
};

struct fake {
	/* the model: a table with a default row, or an explicit function */
	const struct entry *table;
	size_t n_table;
	double dflt[5];
	void (*logits_fn)(const struct fake *f, const int *hist, int len, float *out);
	unsigned seed;
	/* the cache */
	int rows;
	int hist[MAX_ROWS][MAX_LEN];
	int len[MAX_ROWS];
	/* what was called */
	int steps, reorders, errors;
	int reorder_n[MAX_CALLS], reorder_parent[MAX_CALLS][MAX_ROWS];
	int fail_at_step; /* > 0: step number that returns an error */
};

static void table_logits(const struct fake *f, const int *hist, int len, float *out)
{
	const double *p = f->dflt;
	char key[MAX_LEN];

	/* hist[0] is S; the prefix is the rest as letters */
	for (int i = 1; i < len; i++)
		key[i - 1] = (char)('A' + hist[i] - A);
	key[len - 1] = '\0';
	for (size_t k = 0; k < f->n_table; k++)
		if (!strcmp(f->table[k].prefix, key))
			p = f->table[k].p;
	out[S] = -INFINITY;
	for (int t = E; t < V; t++)
		out[t] = p[t - E] > 0 ? (float)log(p[t - E]) : -INFINITY;
}

static void model_logits(const struct fake *f, const int *hist, int len, float *out)
{
	if (f->logits_fn)
		f->logits_fn(f, hist, len, out);
	else
		table_logits(f, hist, len, out);
}

static int fake_step(void *ctx, int n, const int *tokens, int pos, float *logits, struct ada_err *err)
{
	struct fake *f = ctx;

	f->steps++;
	if (f->fail_at_step && f->steps == f->fail_at_step)
		return ada_fail(err, ADA_EIO, "the fake decoder fails at step %d", f->steps);
	if (pos == 0) {
		f->rows = n; /* a new search */
		for (int i = 0; i < n; i++)
			f->len[i] = 0;
	}
	if (n != f->rows || n > MAX_ROWS) {
		f->errors++;
		fprintf(stderr, "step with %d rows, the cache has %d\n", n, f->rows);
		return ada_fail(err, ADA_EINVAL, "bad row count");
	}
	for (int i = 0; i < n; i++) {
		if (f->len[i] != pos || pos >= MAX_LEN) {
			f->errors++;
			fprintf(stderr, "row %d holds %d tokens at position %d\n", i, f->len[i], pos);
			return ada_fail(err, ADA_EINVAL, "bad position");
		}
		f->hist[i][f->len[i]++] = tokens[i];
		model_logits(f, f->hist[i], f->len[i], logits + (size_t)i * V);
	}
	return ADA_OK;
}

static int fake_reorder(void *ctx, int n, const int *parent, struct ada_err *err)
{
	struct fake *f = ctx;
	int hist[MAX_ROWS][MAX_LEN], len[MAX_ROWS];

	if (f->reorders < MAX_CALLS) {
		f->reorder_n[f->reorders] = n;
		memcpy(f->reorder_parent[f->reorders], parent, (size_t)n * sizeof(*parent));
	}
	f->reorders++;
	if (n > MAX_ROWS) {
		f->errors++;
		return ada_fail(err, ADA_EINVAL, "too many rows");
	}
	for (int i = 0; i < n; i++) {
		if (parent[i] < 0 || parent[i] >= f->rows) {
			f->errors++;
			fprintf(stderr, "reorder: parent %d of row %d, the cache has %d rows\n", parent[i], i, f->rows);
			return ada_fail(err, ADA_EINVAL, "bad parent");
		}
		memcpy(hist[i], f->hist[parent[i]], sizeof(hist[i]));
		len[i] = f->len[parent[i]];
	}
	memcpy(f->hist, hist, sizeof(hist));
	memcpy(f->len, len, sizeof(len));
	f->rows = n;
	return ADA_OK;
}

static const struct seq2seq_step_ops fake_ops = { V, fake_step, fake_reorder };

/* The tokens of r as letters (E for EOS), for messages and comparisons. */
static const char *letters(const struct beam_result *r)
{
	static char buf[4][MAX_LEN + 1];
	static int which;
	char *b = buf[which++ % 4];
	int i;

	for (i = 0; i < r->n_tokens && i < MAX_LEN; i++)
		b[i] = r->tokens[i] == E ? 'E' : r->tokens[i] == S ? 'S' : (char)('A' + r->tokens[i] - A);
	b[i] = '\0';
	return b;
}

static void opts_for(struct beam_opts *o, int num_beams, double lp, int early, int max_length)
{
	beam_opts_default(o);
	o->num_beams = num_beams;
	o->length_penalty = lp;
	o->early_stopping = early;
	o->max_length = max_length;
	o->decoder_start_token_id = S;
	o->eos_token_id = E;
}

/* Sum of the log-probabilities of r's tokens under the model (no masks). */
static double rescore(const struct fake *f, const struct beam_result *r)
{
	int hist[MAX_LEN + 1] = { S };
	float logits[V];
	double sum = 0;

	for (int i = 0; i < r->n_tokens; i++) {
		double mx = -INFINITY, z = 0;

		model_logits(f, hist, i + 1, logits);
		for (int t = 0; t < V; t++)
			mx = logits[t] > mx ? logits[t] : mx;
		for (int t = 0; t < V; t++)
			z += exp(logits[t] - mx);
		sum += logits[r->tokens[i]] - mx - log(z);
		hist[i + 1] = r->tokens[i];
	}
	return sum;
}

static int run(struct fake *f, const struct beam_opts *o, int greedy, struct beam_result *r)
{
	struct ada_err err = { 0 };
	int rc;

	f->rows = 0;
	f->steps = f->reorders = 0;
	rc = greedy ? greedy_search(&fake_ops, f, o, r, &err) : beam_search(&fake_ops, f, o, r, &err);
	CHECK_MSG(rc == ADA_OK, "search failed: %s", err.msg);
	CHECK_INT_EQ(f->errors, 0);
	return rc;
}

/* ---- beam finds what greedy misses ----------------------------------- */

static const struct entry best_table[] = {
	{ "", { .01, .5, .4, .05, .04 } },
	{ "A", { .25, .1875, .1875, .1875, .1875 } },
	{ "B", { .025, .025, .025, .9, .025 } },
	{ "BC", { .9, .025, .025, .025, .025 } },
};

static void test_beam_beats_greedy(void)
{
	struct fake f = { .table = best_table, .n_table = 4, .dflt = { .6, .1, .1, .1, .1 } };
	struct beam_opts o;
	struct beam_result g, b;

	/* greedy: S -> A (.5), S A -> E (.25 beats .1875): "AE", p = .125 */
	opts_for(&o, 1, 1.0, BEAM_STOP_TRUE, 10);
	if (run(&f, &o, 1, &g))
		return;
	CHECK_STR_EQ(letters(&g), "AE");
	CHECK_INT_EQ(g.finished, 1);
	CHECK_INT_EQ(f.reorders, 0);

	/*
	 * Two beams, length_penalty 1, early stopping true:
	 *  step 0 (one row): beam 0 at 0, beam 1 at -1e9; top 4: A -0.693,
	 *    B -0.916, C, D -> beams [A, B], reorder(2, {0, 0});
	 *  step 1: A E -0.693-1.386 = -2.079, A x -0.693-1.674 = -2.367,
	 *    B C -0.916-0.105 = -1.022: top 4 [BC, AE, AA, AB];
	 *    AE (rank 1 < 2) finishes with -2.079/2 = -1.040; beams [BC, AA],
	 *    reorder(2, {1, 0});
	 *  step 2: BC E -1.022-0.105 = -1.127 finishes (-1.127/3 = -0.376),
	 *    AA E (default row) -2.367-0.511 = -2.878 finishes (-0.959) and
	 *    pushes out -1.040: two finished, early stopping: done.
	 * Best: "BCE", (ln .4 + 2 ln .9) / 3.
	 */
	opts_for(&o, 2, 1.0, BEAM_STOP_TRUE, 10);
	if (run(&f, &o, 0, &b))
		goto out_g;
	CHECK_STR_EQ(letters(&b), "BCE");
	CHECK_NEAR(b.score, (log(.4) + 2 * log(.9)) / 3, 1e-6);
	CHECK_NEAR(b.score * 3, rescore(&f, &b), 1e-5);
	CHECK_INT_EQ(f.steps, 3);
	CHECK_INT_EQ(f.reorders, 2);
	CHECK_INT_EQ(f.reorder_n[0], 2);
	CHECK(f.reorder_parent[0][0] == 0 && f.reorder_parent[0][1] == 0);
	CHECK_INT_EQ(f.reorder_n[1], 2);
	CHECK(f.reorder_parent[1][0] == 1 && f.reorder_parent[1][1] == 0);

	/* and it is the best finished sequence there is: every sequence of up
	 * to 4 tokens ending in E, scored sum / len */
	{
		double best = -INFINITY;
		int best_code = -1;

		for (int len = 1; len <= 4; len++) {
			int combos = 1;

			for (int i = 1; i < len; i++)
				combos *= 4;
			for (int code = 0; code < combos; code++) {
				struct beam_result r = { 0 };
				int toks[4], c = code;
				double s;

				for (int i = 0; i < len - 1; i++, c /= 4)
					toks[i] = A + c % 4;
				toks[len - 1] = E;
				r.tokens = toks;
				r.n_tokens = len;
				s = rescore(&f, &r) / len;
				if (s > best) {
					best = s;
					best_code = code + 1000 * len;
				}
			}
		}
		/* "BCE": len 3, B = 1 + 4 * (C = 2) = code 9 */
		CHECK_INT_EQ(best_code, 3 * 1000 + 9);
	}
	beam_result_release(&b);
out_g:
	beam_result_release(&g);
}

/* ---- length_penalty and early stopping ------------------------------- */

static const struct entry lp_table[] = {
	{ "", { .01, .6, .35, .02, .02 } },
	{ "A", { .7, .075, .075, .075, .075 } },
	{ "B", { .0125, .0125, .0125, .95, .0125 } },
	{ "BC", { .0125, .0125, .0125, .0125, .95 } },
	{ "BCD", { .95, .0125, .0125, .0125, .0125 } },
};

static void test_length_penalty(void)
{
	struct fake f = { .table = lp_table, .n_table = 5, .dflt = { .5, .125, .125, .125, .125 } };
	struct beam_opts o;
	struct beam_result r;

	/*
	 * Two candidates finish: "AE" with ln .6 + ln .7 = -0.868 over 2
	 * tokens, and "BCDE" with ln .35 + 3 ln .95 = -1.204 over 4.
	 * lp = 1: -0.434 against -0.301: the long one wins.
	 *   (step 1 finishes AE; step 2 finishes AAE at -3.794/3 = -1.265, the
	 *   worst kept; early stopping false goes on since the running BCD,
	 *   -1.152/3 = -0.384, may still beat it; step 3 finishes BCDE and drops
	 *   AAE; step 4's best, -6.227/5, cannot beat the worst kept, -0.434.)
	 * lp = 0: -0.868 against -1.204: the short one wins (at step 3 the
	 *   worst kept, -1.204, equals the best running sum: done).
	 */
	opts_for(&o, 2, 1.0, BEAM_STOP_FALSE, 10);
	if (!run(&f, &o, 0, &r)) {
		CHECK_STR_EQ(letters(&r), "BCDE");
		CHECK_NEAR(r.score, (log(.35) + 3 * log(.95)) / 4, 1e-6);
		CHECK_NEAR(r.score * 4, rescore(&f, &r), 1e-5);
		/* steps 0..4; reorders after steps 0 and 1 (step 2 kept the rows,
		 * BC -> BCD, AA -> AAA, so its reorder is skipped) and 3 */
		CHECK_INT_EQ(f.steps, 5);
		CHECK_INT_EQ(f.reorders, 3);
		beam_result_release(&r);
	}
	opts_for(&o, 2, 0.0, BEAM_STOP_FALSE, 10);
	if (!run(&f, &o, 0, &r)) {
		CHECK_STR_EQ(letters(&r), "AE");
		CHECK_NEAR(r.score, log(.6) + log(.7), 1e-6);
		CHECK_INT_EQ(f.steps, 4);
		beam_result_release(&r);
	}
	/* early stopping true: done at step 2 with AE and AAE: AE, at lp 1 too */
	opts_for(&o, 2, 1.0, BEAM_STOP_TRUE, 10);
	if (!run(&f, &o, 0, &r)) {
		CHECK_STR_EQ(letters(&r), "AE");
		CHECK_INT_EQ(f.steps, 3);
		beam_result_release(&r);
	}
}

/* A running beam that looks bad at its length but improves when longer:
 * early_stopping false stops, "never" finds the better sequence. */
static const struct entry never_table[] = {
	{ "", { .03, .5, .45, .01, .01 } },
	{ "A", { .997, .00075, .00075, .00075, .00075 } },
	{ "B", { .97, .004, .003, .02, .003 } },
	{ "BC", { .0025, .0025, .0025, .0025, .99 } },
	{ "BCD", { .0025, .99, .0025, .0025, .0025 } },
	{ "BCDA", { .0025, .0025, .99, .0025, .0025 } },
	{ "BCDAB", { .99, .0025, .0025, .0025, .0025 } },
};

static void test_early_stopping(void)
{
	struct fake f = { .table = never_table, .n_table = 7, .dflt = { .9, .025, .025, .025, .025 } };
	struct beam_opts o;
	struct beam_result r;
	const double long_sum = log(.45) + log(.02) + 4 * log(.99);

	/*
	 * length_penalty 2, two beams. Step 1 finishes AE (ln .5 + ln .997 =
	 * -0.696, /2^2 = -0.174) and BE (ln .45 + ln .97 = -0.829, /4 = -0.207);
	 * the beams are BC (-0.799 + ln .02 = -4.711) and BA.
	 *   true:    two finished after step 1: AE.
	 *   false:   at step 2 the best running sum, BCD at -4.721, over the
	 *            current length 3^2 is -0.525, below the worst kept
	 *            (-0.207): done, AE.
	 *   "never": bounds with (max_length - 1)^2 = 49: -4.721/49 = -0.096
	 *            may beat -0.207, so it goes on; BCDABE finishes with
	 *            (ln .45 + ln .02 + 4 ln .99)/36 = -0.132, better than AE.
	 */
	opts_for(&o, 2, 2.0, BEAM_STOP_TRUE, 8);
	if (!run(&f, &o, 0, &r)) {
		CHECK_STR_EQ(letters(&r), "AE");
		CHECK_INT_EQ(f.steps, 2);
		beam_result_release(&r);
	}
	opts_for(&o, 2, 2.0, BEAM_STOP_FALSE, 8);
	if (!run(&f, &o, 0, &r)) {
		CHECK_STR_EQ(letters(&r), "AE");
		CHECK_INT_EQ(f.steps, 3);
		CHECK_NEAR(r.score, (log(.5) + log(.997)) / 4, 1e-6);
		beam_result_release(&r);
	}
	opts_for(&o, 2, 2.0, BEAM_STOP_NEVER, 8);
	if (!run(&f, &o, 0, &r)) {
		CHECK_STR_EQ(letters(&r), "BCDABE");
		CHECK_NEAR(r.score, long_sum / 36, 1e-6);
		CHECK_NEAR(r.score * 36, rescore(&f, &r), 1e-5);
		CHECK(f.steps > 6);
		beam_result_release(&r);
	}
	/* "never" with length_penalty <= 0 bounds with the current length, as
	 * false does: AE again */
	opts_for(&o, 2, 0.0, BEAM_STOP_NEVER, 8);
	if (!run(&f, &o, 0, &r)) {
		CHECK_STR_EQ(letters(&r), "AE");
		beam_result_release(&r);
	}
}

/* ---- greedy equals one beam ------------------------------------------ */

/* Pseudo-random logits of a history, with EOS growing likelier with length. */
static void hash_logits(const struct fake *f, const int *hist, int len, float *out)
{
	uint64_t h = 1469598103934665603ull ^ f->seed;

	for (int i = 0; i < len; i++)
		h = (h ^ (uint64_t)hist[i]) * 1099511628211ull;
	for (int t = 0; t < V; t++) {
		h = (h ^ (uint64_t)t) * 1099511628211ull;
		h ^= h >> 29;
		out[t] = (float)((double)(h % 100000) / 25000.0 - 2.0);
	}
	out[E] += 0.3f * (float)len - 1.5f;
}

static void test_greedy_equals_one_beam(void)
{
	struct fake f = { .logits_fn = hash_logits };
	int agree = 0, total = 0, eos_ended = 0;

	for (unsigned seed = 1; seed <= 40; seed++) {
		for (int variant = 0; variant < 4; variant++) {
			struct beam_opts o;
			struct beam_result g, b;

			f.seed = seed;
			opts_for(&o, 1, variant % 2 ? 2.0 : 1.0, variant < 2 ? BEAM_STOP_FALSE : BEAM_STOP_TRUE, 8);
			o.no_repeat_ngram_size = variant == 1 ? 2 : 0;
			o.min_length = variant == 3 ? 4 : 0;
			if (run(&f, &o, 1, &g))
				return;
			if (run(&f, &o, 0, &b)) {
				beam_result_release(&g);
				return;
			}
			total++;
			agree += g.n_tokens == b.n_tokens &&
				 !memcmp(g.tokens, b.tokens, (size_t)g.n_tokens * sizeof(*g.tokens));
			CHECK_MSG(g.n_tokens == b.n_tokens && !memcmp(g.tokens, b.tokens,
								      (size_t)g.n_tokens * sizeof(*g.tokens)),
				  "seed %u variant %d: greedy %s, one beam %s", seed, variant, letters(&g),
				  letters(&b));
			eos_ended += g.finished;
			/* greedy's score is its sum of log-probabilities */
			if (variant == 0)
				CHECK_NEAR(g.score, rescore(&f, &g), 1e-4);
			beam_result_release(&g);
			beam_result_release(&b);
		}
	}
	CHECK_INT_EQ(agree, total);
	/* both endings happen: by EOS and at max_length */
	CHECK(eos_ended > 0 && eos_ended < total);
}

/* The test's own greedy decoding (no masks): the argmax, first on ties. */
static void test_greedy_is_argmax(void)
{
	struct fake f = { .logits_fn = hash_logits, .seed = 7 };
	struct beam_opts o;
	struct beam_result g;
	int hist[MAX_LEN] = { S }, len = 1;
	float logits[V];

	opts_for(&o, 1, 1.0, BEAM_STOP_FALSE, 20);
	if (run(&f, &o, 1, &g))
		return;
	for (int i = 0; i < g.n_tokens; i++) {
		int best = 0;

		model_logits(&f, hist, len, logits);
		for (int t = 1; t < V; t++)
			if (logits[t] > logits[best])
				best = t;
		CHECK_INT_EQ(g.tokens[i], best);
		hist[len++] = best;
	}
	CHECK(g.n_tokens >= 1);
	beam_result_release(&g);
}

/* ---- the masks -------------------------------------------------------- */

/* A3 B2 C1 D0, E -10, S never: a model that repeats A forever. */
static void repeat_logits(const struct fake *f, const int *hist, int len, float *out)
{
	(void)f;
	(void)hist;
	(void)len;
	out[S] = -INFINITY;
	out[E] = -10;
	out[A] = 3;
	out[B] = 2;
	out[C] = 1;
	out[D] = 0;
}

static int repeated_ngram(const struct beam_result *r, int n)
{
	int seq[MAX_LEN + 1] = { S }, len = r->n_tokens + 1;

	memcpy(seq + 1, r->tokens, (size_t)r->n_tokens * sizeof(*seq));
	for (int i = 0; i + n <= len; i++)
		for (int j = i + 1; j + n <= len; j++)
			if (!memcmp(seq + i, seq + j, (size_t)n * sizeof(*seq)))
				return 1;
	return 0;
}

static void test_no_repeat_ngram(void)
{
	struct fake f = { .logits_fn = repeat_logits };
	struct beam_opts o;
	struct beam_result r;

	opts_for(&o, 1, 1.0, BEAM_STOP_FALSE, 10);
	if (!run(&f, &o, 1, &r)) {
		CHECK_STR_EQ(letters(&r), "AAAAAAAAA"); /* max_length 10 counts S */
		CHECK_INT_EQ(r.finished, 0);
		CHECK(repeated_ngram(&r, 2));
		beam_result_release(&r);
	}
	/*
	 * Size 2 (the start token's bigrams count): S A A (no bigram from A
	 * yet), then A A is seen: B; after B nothing: A; after A, A and B were
	 * seen: C; A; then D; A; then A B C D are all banned after A: E.
	 */
	o.no_repeat_ngram_size = 2;
	if (!run(&f, &o, 1, &r)) {
		CHECK_STR_EQ(letters(&r), "AABACADAE");
		CHECK_INT_EQ(r.finished, 1);
		CHECK(!repeated_ngram(&r, 2));
		beam_result_release(&r);
	}
	/* beam search under the same mask: no bigram twice either */
	opts_for(&o, 3, 1.0, BEAM_STOP_FALSE, 16);
	o.no_repeat_ngram_size = 2;
	if (!run(&f, &o, 0, &r)) {
		CHECK(!repeated_ngram(&r, 2));
		CHECK(r.n_tokens >= 2);
		beam_result_release(&r);
	}
	/* size 1: no token twice (S included): A B C D, then only E is left */
	opts_for(&o, 1, 1.0, BEAM_STOP_FALSE, 10);
	o.no_repeat_ngram_size = 1;
	if (!run(&f, &o, 1, &r)) {
		CHECK_STR_EQ(letters(&r), "ABCDE");
		beam_result_release(&r);
	}
}

static const struct entry eos_first[] = {
	{ "", { .6, .3, .1, 0, 0 } },
};

static void test_min_length(void)
{
	struct fake f = { .table = eos_first, .n_table = 1, .dflt = { .6, .3, .1, 0, 0 } };
	struct beam_opts o;
	struct beam_result r;

	/* EOS is always likeliest: greedy stops at once */
	opts_for(&o, 1, 1.0, BEAM_STOP_FALSE, 10);
	if (!run(&f, &o, 1, &r)) {
		CHECK_STR_EQ(letters(&r), "E");
		beam_result_release(&r);
	}
	/* min_length 3 counts S: EOS banned while the sequence is S or S x,
	 * so two tokens come first: A A E */
	o.min_length = 3;
	if (!run(&f, &o, 1, &r)) {
		CHECK_STR_EQ(letters(&r), "AAE");
		CHECK_NEAR(r.score, 2 * log(.3) + log(.6), 1e-5);
		beam_result_release(&r);
	}
	/* beam search: every kept hypothesis has at least min_length - 1 tokens
	 * before its EOS; the best is AAE: (2 ln .3 + ln .6) / 3 */
	opts_for(&o, 3, 1.0, BEAM_STOP_FALSE, 10);
	o.min_length = 3;
	if (!run(&f, &o, 0, &r)) {
		CHECK_STR_EQ(letters(&r), "AAE");
		CHECK_NEAR(r.score, (2 * log(.3) + log(.6)) / 3, 1e-6);
		beam_result_release(&r);
	}
}

static void test_forced_tokens(void)
{
	struct fake f = { .logits_fn = repeat_logits };
	struct beam_opts o;
	struct beam_result r;

	/* forced BOS D first, forced EOS as the token made at length
	 * max_length - 1 = 4: D A A E; the forced tokens score 0 */
	for (int nb = 1; nb <= 3; nb += 2) {
		opts_for(&o, nb, 1.0, BEAM_STOP_FALSE, 5);
		o.forced_bos_token_id = D;
		o.forced_eos_token_id = E;
		if (run(&f, &o, nb == 1, &r))
			continue;
		CHECK_STR_EQ(letters(&r), "DAAE");
		CHECK_INT_EQ(r.finished, 1);
		beam_result_release(&r);
	}
}

/* ---- options and errors ---------------------------------------------- */

static void test_errors(void)
{
	struct fake f = { .logits_fn = repeat_logits };
	struct beam_opts o;
	struct beam_result r = { 0 };
	struct ada_err err = { 0 };
	struct seq2seq_step_ops tiny = fake_ops;

	opts_for(&o, 0, 1.0, BEAM_STOP_FALSE, 10);
	CHECK_INT_EQ(seq2seq_generate(&fake_ops, &f, &o, &r, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "num_beams");
	opts_for(&o, 2, 1.0, BEAM_STOP_FALSE, 1);
	CHECK_INT_EQ(seq2seq_generate(&fake_ops, &f, &o, &r, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "max_length");
	opts_for(&o, 2, NAN, BEAM_STOP_FALSE, 10);
	CHECK_INT_EQ(seq2seq_generate(&fake_ops, &f, &o, &r, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "length_penalty");
	opts_for(&o, 2, 1.0, 3, 10);
	CHECK_INT_EQ(seq2seq_generate(&fake_ops, &f, &o, &r, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "early_stopping");
	opts_for(&o, 2, 1.0, BEAM_STOP_FALSE, 10);
	o.eos_token_id = V;
	CHECK_INT_EQ(seq2seq_generate(&fake_ops, &f, &o, &r, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "eos_token_id");
	opts_for(&o, 2, 1.0, BEAM_STOP_FALSE, 10);
	o.forced_bos_token_id = -2;
	CHECK_INT_EQ(seq2seq_generate(&fake_ops, &f, &o, &r, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "forced_bos_token_id");
	tiny.vocab = 1;
	opts_for(&o, 1, 1.0, BEAM_STOP_FALSE, 10);
	o.decoder_start_token_id = 0;
	o.eos_token_id = 0;
	CHECK_INT_EQ(seq2seq_generate(&tiny, &f, &o, &r, &err), ADA_EINVAL);

	/* the decoder's failure comes back as it is, for both searches */
	for (int nb = 1; nb <= 2; nb++) {
		opts_for(&o, nb, 1.0, BEAM_STOP_FALSE, 10);
		f.fail_at_step = 3;
		f.rows = 0;
		f.steps = 0;
		CHECK_INT_EQ(seq2seq_generate(&fake_ops, &f, &o, &r, &err), ADA_EIO);
		CHECK(strstr(err.msg, "fails at step 3") != NULL);
		CHECK(r.tokens == NULL);
	}
	f.fail_at_step = 0;
	CHECK_INT_EQ(f.errors, 0);
}

/* A BART-large-cnn config.json's generation settings, and bad types. */
static void test_opts_from_json(void)
{
	const char *cnn = "{\"model_type\": \"bart\", \"num_beams\": 4, \"length_penalty\": 2.0,"
			  " \"max_length\": 142, \"min_length\": 56, \"no_repeat_ngram_size\": 3,"
			  " \"early_stopping\": true, \"decoder_start_token_id\": 2,"
			  " \"eos_token_id\": 2, \"forced_bos_token_id\": 0, \"forced_eos_token_id\": 2}";
	struct ada_err err = { 0 };
	struct beam_opts o;
	json_t *j = json_loads(cnn, 0, NULL);

	beam_opts_default(&o);
	CHECK_OK(beam_opts_from_json(j, "", &o, &err), &err);
	CHECK(o.num_beams == 4 && o.length_penalty == 2.0 && o.max_length == 142 && o.min_length == 56);
	CHECK(o.no_repeat_ngram_size == 3 && o.early_stopping == BEAM_STOP_TRUE);
	CHECK(o.decoder_start_token_id == 2 && o.eos_token_id == 2);
	CHECK(o.forced_bos_token_id == 0 && o.forced_eos_token_id == 2);
	CHECK_OK(beam_opts_check(&o, 50265, &err), &err);
	json_decref(j);

	/* absent keys stay; max_new_tokens counts without the start token;
	 * "never"; a one-element EOS list; null forced tokens */
	j = json_loads("{\"max_new_tokens\": 30, \"early_stopping\": \"never\", \"eos_token_id\": [7],"
		       " \"forced_bos_token_id\": null, \"length_penalty\": 1}", 0, NULL);
	CHECK_OK(beam_opts_from_json(j, "", &o, &err), &err);
	CHECK(o.max_length == 31 && o.early_stopping == BEAM_STOP_NEVER && o.eos_token_id == 7);
	CHECK(o.forced_bos_token_id == -1 && o.forced_eos_token_id == 2 && o.num_beams == 4);
	CHECK(o.length_penalty == 1.0);
	json_decref(j);

	j = json_loads("{\"early_stopping\": \"sometimes\"}", 0, NULL);
	CHECK_INT_EQ(beam_opts_from_json(j, "generation.", &o, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "generation.early_stopping");
	json_decref(j);
	j = json_loads("{\"num_beams\": 2.5}", 0, NULL);
	CHECK_INT_EQ(beam_opts_from_json(j, "", &o, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "num_beams");
	json_decref(j);
	j = json_loads("{\"eos_token_id\": [1, 2]}", 0, NULL);
	CHECK_INT_EQ(beam_opts_from_json(j, "", &o, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "eos_token_id");
	json_decref(j);
	j = json_loads("{\"max_length\": 99999999999}", 0, NULL);
	CHECK_INT_EQ(beam_opts_from_json(j, "", &o, &err), ADA_EINVAL);
	json_decref(j);
}

/* NaN logits stop the search with ADA_ENUMERIC. */
static void nan_logits(const struct fake *f, const int *hist, int len, float *out)
{
	repeat_logits(f, hist, len, out);
	if (len == 3)
		out[B] = NAN;
}

static void test_nan_logits(void)
{
	struct fake f = { .logits_fn = nan_logits };
	struct beam_opts o;
	struct beam_result r = { 0 };
	struct ada_err err = { 0 };

	for (int nb = 1; nb <= 2; nb++) {
		opts_for(&o, nb, 1.0, BEAM_STOP_FALSE, 10);
		f.rows = 0;
		CHECK_INT_EQ(seq2seq_generate(&fake_ops, &f, &o, &r, &err), ADA_ENUMERIC);
	}
}

int main(void)
{
	RUN(test_beam_beats_greedy);
	RUN(test_length_penalty);
	RUN(test_early_stopping);
	RUN(test_greedy_equals_one_beam);
	RUN(test_greedy_is_argmax);
	RUN(test_no_repeat_ngram);
	RUN(test_min_length);
	RUN(test_forced_tokens);
	RUN(test_errors);
	RUN(test_nan_logits);
	RUN(test_opts_from_json);
	return check_summary();
}
