/*
 * Tests of data/porter.c, data/rouge.c and net/seq2seq_eval.c: the Porter
 * stemmer in nltk's default mode, and ROUGE-1/2/L/Lsum as rouge-score
 * computes them, on pairs whose scores are worked out by hand in the
 * comments (P = precision, R = recall, F = 2PR / (P + R)).
 *
 * scripts/rouge_crosscheck.py compares many random pairs against Python
 * (nltk's stemmer); it is optional and not part of this test.
 */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/porter.h"
#include "data/rouge.h"
#include "net/seq2seq_eval.h"
#include "util/err.h"
#include "util/fileio.h"

#define TOL 1e-15

static void check_score(const char *what, const struct ada_rouge_score *s, double p, double r, double f)
{
	CHECK_MSG(fabs(s->precision - p) <= TOL && fabs(s->recall - r) <= TOL && fabs(s->fmeasure - f) <= TOL,
		  "%s: P %.17g R %.17g F %.17g, expected %.17g %.17g %.17g", what, s->precision, s->recall,
		  s->fmeasure, p, r, f);
}

static void score(const char *pred, const char *ref, int stem, struct ada_rouge *out)
{
	struct ada_err err = { 0 };

	memset(out, 0xff, sizeof(*out));
	CHECK_OK(ada_rouge(&pred, &ref, 1, stem, out, &err), &err);
	CHECK_INT_EQ(out->n, 1);
}

static const char *stem(const char *word)
{
	static char buf[64];
	size_t n = strlen(word);

	memcpy(buf, word, n);
	buf[porter_stem(buf, n)] = '\0';
	return buf;
}

/* Stems of Porter's examples and of the NLTK_EXTENSIONS departures; the
 * expected values are the algorithm's (the steps that fire are noted),
 * and agree with nltk 3.8's PorterStemmer(). */
static void test_porter(void)
{
	static const char *const cases[][2] = {
		{ "running", "run" },        /* 1b: ING, *d not L/S/Z -> single letter */
		{ "cats", "cat" },           /* 1a: S -> */
		{ "happiness", "happi" },    /* 3: (m>0) NESS -> */
		{ "happy", "happi" },        /* 1c (NLTK): Y -> I after a consonant */
		{ "enjoy", "enjoy" },        /* 1c (NLTK): not after a vowel */
		{ "sky", "sky" },            /* pool */
		{ "skies", "sky" },          /* pool */
		{ "dies", "die" },           /* 1a (NLTK): four-letter IES -> IE */
		{ "died", "die" },           /* 1b (NLTK): four-letter IED -> IE */
		{ "spied", "spi" },          /* 1b (NLTK): IED -> I */
		{ "dying", "die" },          /* pool */
		{ "tying", "tie" },          /* pool */
		{ "news", "news" },          /* pool */
		{ "feed", "feed" },          /* 1b: EED with m = 0 stays (not ED) */
		{ "agreed", "agre" },        /* 1b: (m>0) EED -> EE; 5a: (m>1) E -> */
		{ "hopping", "hop" },        /* 1b: *d -> single letter */
		{ "falling", "fall" },       /* 1b: *d but L: stays */
		{ "relational", "relat" },   /* 2: ATIONAL -> ATE; 4: ATE -> */
		{ "conditional", "condit" }, /* 2: TIONAL -> TION; 4: (*T) ION -> */
		{ "generalization", "gener" },
		{ "generalizations", "gener" },
		{ "radicalli", "radic" },    /* 2 (NLTK): ALLI -> AL first, step 2 again */
		{ "vileli", "vile" },        /* 2: ELI -> E */
		{ "sensibiliti", "sensibl" },/* 2: BILITI -> BLE */
		{ "conformabli", "conform" },/* 2 (NLTK): BLI -> BLE, not ABLI */
		{ "hopefulness", "hope" },   /* 2: FULNESS -> FUL; 3: FUL -> ; 5a keeps E */
		{ "fully", "fulli" },        /* 1c: Y -> I; 2 FULLI needs m>0 of "" */
		{ "hopefully", "hope" },     /* 2 (NLTK): FULLI -> FUL */
		{ "geology", "geolog" },     /* 2 (NLTK): LOGI -> LOG with m("geol") > 0 */
		{ "electrical", "electr" },  /* 3: ICAL -> IC; 4: IC -> */
		{ "adjustment", "adjust" },  /* 4: MENT -> */
		{ "replacement", "replac" }, /* 4: EMENT -> */
		{ "adoption", "adopt" },     /* 4: (m>1 and *T) ION -> */
		{ "rate", "rate" },          /* 5a: m = 1 and *o: E stays */
		{ "cease", "ceas" },         /* 5a: m = 1, not *o: E -> */
		{ "controll", "control" },   /* 5b: (m>1, *d, *L) -> single letter */
		{ "roll", "roll" },          /* 5b: m = 1 */
		{ "ab", "ab" },              /* two letters: not stemmed */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR_EQ(stem(cases[i][0]), cases[i][1]);
}

static void test_basic_pair(void)
{
	struct ada_rouge r;

	/* pred the cat sat on the mat   ref the cat is on the mat   (6 tokens each)
	 * rouge1: the 2/2, cat, on, mat: 5 of 6 each way -> P = R = F = 5/6
	 * rouge2: pred (the cat)(cat sat)(sat on)(on the)(the mat), ref
	 *         (the cat)(cat is)(is on)(on the)(the mat): 3 of 5 -> 3/5
	 * rougeL: LCS "the cat on the mat" = 5 -> 5/6; one line: Lsum = L */
	score("the cat sat on the mat", "the cat is on the mat", 0, &r);
	check_score("rouge1", &r.rouge1, 5.0 / 6, 5.0 / 6, 5.0 / 6);
	check_score("rouge2", &r.rouge2, 3.0 / 5, 3.0 / 5, 3.0 / 5);
	check_score("rougeL", &r.rougeL, 5.0 / 6, 5.0 / 6, 5.0 / 6);
	check_score("rougeLsum", &r.rougeLsum, 5.0 / 6, 5.0 / 6, 5.0 / 6);

	/* unequal lengths: pred "a b c" (3), ref "a b d e" (4)
	 * rouge1: a, b -> P = 2/3, R = 2/4, F = 2(2/3)(1/2) / (7/6) = 4/7
	 * rouge2: (a b) -> P = 1/2, R = 1/3, F = (1/3) / (5/6) = 2/5
	 * rougeL: "a b" = 2 -> as rouge1 */
	score("a b c", "a b d e", 0, &r);
	check_score("rouge1", &r.rouge1, 2.0 / 3, 2.0 / 4, 4.0 / 7);
	check_score("rouge2", &r.rouge2, 1.0 / 2, 1.0 / 3, 2.0 / 5);
	check_score("rougeL", &r.rougeL, 2.0 / 3, 2.0 / 4, 4.0 / 7);
}

static void test_repeated_ngrams(void)
{
	struct ada_rouge r;

	/* pred the the the the (4), ref the cat the (3): clipped counts
	 * rouge1: min(4, 2) = 2 -> P = 2/4, R = 2/3, F = (2/3) / (7/6) = 4/7
	 * rouge2: pred (the the) x3, ref (the cat)(cat the): none -> 0
	 * rougeL: "the the" = 2 -> as rouge1 */
	score("the the the the", "the cat the", 0, &r);
	check_score("rouge1", &r.rouge1, 2.0 / 4, 2.0 / 3, 4.0 / 7);
	check_score("rouge2", &r.rouge2, 0, 0, 0);
	check_score("rougeL", &r.rougeL, 2.0 / 4, 2.0 / 3, 4.0 / 7);

	/* pred a b a b a b (bigrams ab x3, ba x2), ref a b a b (ab x2, ba x1)
	 * rouge2: min(3,2) + min(2,1) = 3 -> P = 3/5, R = 3/3, F = (6/5) / (8/5) = 3/4 */
	score("a b a b a b", "a b a b", 0, &r);
	check_score("rouge2", &r.rouge2, 3.0 / 5, 1, 3.0 / 4);
}

static void test_stemmer(void)
{
	struct ada_rouge r;

	/* without the stemmer no token is shared */
	score("cats running happiness", "cat runs happy", 0, &r);
	check_score("rouge1", &r.rouge1, 0, 0, 0);
	/* with it: cats -> cat, running -> run, happiness -> happi; cat (3
	 * letters) stays, runs -> run, happy -> happi: all three match, and
	 * both bigrams -> every score 1 */
	score("cats running happiness", "cat runs happy", 1, &r);
	check_score("rouge1", &r.rouge1, 1, 1, 1);
	check_score("rouge2", &r.rouge2, 1, 1, 1);
	check_score("rougeL", &r.rougeL, 1, 1, 1);
	/* words of 3 characters or fewer are not stemmed: "was" stays (Porter
	 * alone would give "wa"), "dogs" -> dog. pred [was dog], ref [wa dog]:
	 * rouge1 1 of 2 -> 1/2 each */
	score("was dogs", "wa dog", 1, &r);
	check_score("rouge1", &r.rouge1, 0.5, 0.5, 0.5);
	CHECK_STR_EQ(stem("was"), "wa");
}

static void test_tokenizer(void)
{
	struct ada_rouge r;

	/* lower-case; every run of other characters separates: don t stop believing */
	score("don t stop believing", "Don't STOP-believing!!", 0, &r);
	check_score("rouge1", &r.rouge1, 1, 1, 1);
	check_score("rouge2", &r.rouge2, 1, 1, 1);
	/* Python's lower(): KELVIN SIGN -> k (inside the token), U+0130 -> i
	 * and a combining dot (a separator); other letters (é) separate */
	score("5k i stanbul caf", "5\xe2\x84\xaa \xc4\xb0stanbul caf\xc3\xa9", 0, &r);
	check_score("rouge1", &r.rouge1, 1, 1, 1);
	check_score("rouge2", &r.rouge2, 1, 1, 1);
	/* digits are token characters */
	score("in 1990s", "the 1990s", 0, &r);
	check_score("rouge1", &r.rouge1, 0.5, 0.5, 0.5);
}

static void test_lsum(void)
{
	struct ada_rouge r;

	/* ref one two three / four five, pred four five / one two three
	 * rougeL over the whole texts: LCS "one two three" = 3 of 5 -> 3/5
	 * rougeLsum: ref line 1 with pred line 2: {one two three}; ref line 2
	 * with pred line 1: {four five}: 5 hits -> 1 */
	score("four five\none two three", "one two three\nfour five", 0, &r);
	check_score("rougeL", &r.rougeL, 3.0 / 5, 3.0 / 5, 3.0 / 5);
	check_score("rougeLsum", &r.rougeLsum, 1, 1, 1);

	/* the ROUGE paper's union LCS: ref r = w1 w2 w3 w4 w5, pred lines
	 * c1 = w1 w2 w6 w7 w8, c2 = w1 w3 w8 w9 w5; LCS(r,c1) = w1 w2,
	 * LCS(r,c2) = w1 w3 w5; union w1 w2 w3 w5: 4 hits
	 * P = 4/10, R = 4/5, F = 2(.4)(.8) / 1.2 = 8/15
	 * (rougeL of the whole texts: LCS(r, c1 c2) = w1 w2 w3 w5 too) */
	score("w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5", "w1 w2 w3 w4 w5", 0, &r);
	check_score("rougeLsum", &r.rougeLsum, 4.0 / 10, 4.0 / 5, 8.0 / 15);

	/* double counting guarded: ref x y / x y, pred x y. Ref line 1 takes
	 * x, y (pred counts drop to 0); ref line 2's union finds no unused
	 * pred copy: 2 hits. P = 2/2, R = 2/4, F = 2/3 */
	score("x y", "x y\nx y", 0, &r);
	check_score("rougeLsum", &r.rougeLsum, 1, 0.5, 2.0 / 3);

	/* blank lines are no sentences; a line of punctuation has no tokens */
	score("\n\nfour five\n!!!\n\none two three\n", "one two three\n\nfour five", 0, &r);
	check_score("rougeLsum", &r.rougeLsum, 1, 1, 1);
}

static void test_empty(void)
{
	struct ada_rouge r;

	/* an empty side: every score 0 (rouge-n divides by at least 1) */
	score("", "the cat", 0, &r);
	check_score("rouge1", &r.rouge1, 0, 0, 0);
	check_score("rouge2", &r.rouge2, 0, 0, 0);
	check_score("rougeL", &r.rougeL, 0, 0, 0);
	check_score("rougeLsum", &r.rougeLsum, 0, 0, 0);
	score("the cat", "?!", 1, &r);
	check_score("rouge1", &r.rouge1, 0, 0, 0);
	check_score("rougeLsum", &r.rougeLsum, 0, 0, 0);
	score("", "", 0, &r);
	check_score("rougeL", &r.rougeL, 0, 0, 0);
	/* one token: no bigram on either side -> rouge2 0 */
	score("cat", "cat", 0, &r);
	check_score("rouge1", &r.rouge1, 1, 1, 1);
	check_score("rouge2", &r.rouge2, 0, 0, 0);
}

static void test_mean_and_json(void)
{
	const char *preds[] = { "the cat", "a dog" }, *refs[] = { "the cat", "the bird" };
	struct ada_err err = { 0 };
	struct ada_rouge r;
	json_t *j, *o;

	/* pair 1 scores 1, pair 2 scores 0 (rouge2 of pair 1: (the cat) -> 1):
	 * the means are 1/2 */
	CHECK_OK(ada_rouge(preds, refs, 2, 0, &r, &err), &err);
	CHECK_INT_EQ(r.n, 2);
	check_score("rouge1", &r.rouge1, 0.5, 0.5, 0.5);
	check_score("rouge2", &r.rouge2, 0.5, 0.5, 0.5);
	check_score("rougeLsum", &r.rougeLsum, 0.5, 0.5, 0.5);

	j = ada_rouge_to_json(&r);
	CHECK(json_real_value(json_object_get(json_object_get(j, "rougeL"), "fmeasure")) == 0.5);
	CHECK(json_real_value(json_object_get(json_object_get(j, "rouge1"), "recall")) == 0.5);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "n")), 2);
	CHECK(json_is_false(json_object_get(j, "use_stemmer")));
	json_decref(j);

	o = json_object();
	ada_rouge_json(o, &r, "valid_");
	CHECK_INT_EQ(json_object_size(o), 4);
	CHECK(json_real_value(json_object_get(o, "valid_rougeLsum")) == 0.5);
	CHECK(json_real_value(json_object_get(o, "valid_rouge2")) == 0.5);
	json_decref(o);

	/* no pairs: undefined means, null in JSON and left out of events */
	CHECK_OK(ada_rouge(NULL, NULL, 0, 1, &r, &err), &err);
	CHECK(isnan(r.rouge1.fmeasure) && isnan(r.rougeLsum.recall));
	j = ada_rouge_to_json(&r);
	CHECK(json_is_null(json_object_get(json_object_get(j, "rouge1"), "fmeasure")));
	json_decref(j);
	o = json_object();
	ada_rouge_json(o, &r, "");
	CHECK_INT_EQ(json_object_size(o), 0);
	json_decref(o);
}

static void test_eval_collector(void)
{
	struct seq2seq_eval e;
	struct ada_err err = { 0 };
	json_t *j = NULL;

	seq2seq_eval_init(&e, 1);
	/* lengths are honoured: "cats!" of "cats!xyz" */
	CHECK_OK(seq2seq_eval_add(&e, "cats!xyz", 5, "the cat", 7, &err), &err);
	CHECK_OK(seq2seq_eval_json(&e, &j, &err), &err);
	/* stemmed: [cat] against [the cat] -> P = 1, R = 1/2, F = 2/3 */
	CHECK(fabs(json_real_value(json_object_get(json_object_get(j, "rouge1"), "fmeasure")) - 2.0 / 3) < TOL);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "examples")), 1);
	CHECK(json_is_true(json_object_get(j, "use_stemmer")));
	CHECK(!json_object_get(j, "n"));
	json_decref(j);
	seq2seq_eval_release(&e);
}

static void write_file(const char *path, const char *text)
{
	struct ada_err err = { 0 };

	CHECK_OK(file_write_atomic(path, text, strlen(text), &err), &err);
}

static void test_files(void)
{
	const char *tmp = getenv("ADALORA_TEST_TMP");
	char pred[4096], ref[4096], ref_lines[4096], bad[4096];
	struct ada_err err = { 0 };
	struct ada_rouge r;

	snprintf(pred, sizeof(pred), "%s/rouge_pred.jsonl", tmp ? tmp : ".");
	snprintf(ref, sizeof(ref), "%s/rouge_ref.jsonl", tmp ? tmp : ".");
	snprintf(ref_lines, sizeof(ref_lines), "%s/rouge_ref.txt", tmp ? tmp : ".");
	snprintf(bad, sizeof(bad), "%s/rouge_bad.jsonl", tmp ? tmp : ".");
	/* JSONL: strings and objects (prediction / target / summary / text);
	 * a blank line is no record. The second prediction keeps its newline. */
	write_file(pred, "\"the cat\"\n\n{\"prediction\": \"one two three\\nfour five\"}\n{\"text\": \"\"}\n");
	write_file(ref, "{\"source\": \"x\", \"target\": \"the cat\"}\n"
			"{\"document\": \"x\", \"summary\": \"four five\\none two three\"}\n\"a\"\n");
	/* pair 1: 1 everywhere; pair 2: rougeL 3/5, Lsum 1 (test_lsum);
	 * pair 3: empty prediction, 0. Means: rougeL (1 + 3/5 + 0) / 3 = 8/15,
	 * rougeLsum (1 + 1 + 0) / 3 = 2/3 */
	CHECK_OK(ada_rouge_files(pred, ref, 0, &r, &err), &err);
	CHECK_INT_EQ(r.n, 3);
	CHECK(fabs(r.rougeL.fmeasure - 8.0 / 15) < 1e-15);
	CHECK(fabs(r.rougeLsum.fmeasure - 2.0 / 3) < 1e-15);

	/* plain text: one text per line, "\r\n" as "\n"; 2 texts against 3 */
	write_file(ref_lines, "the cat\r\nfour five one two three\n");
	CHECK_INT_EQ(ada_rouge_files(pred, ref_lines, 0, &r, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "ref");
	write_file(ref_lines, "the cat\r\nfour five one two three\n\n");
	CHECK_OK(ada_rouge_files(pred, ref_lines, 0, &r, &err), &err);
	/* pair 2's reference on one line: rougeL still 3/5; Lsum takes the
	 * union of its LCS with each prediction line, "one two three" and
	 * "four five": all 5 tokens, 1. Means 8/15 and 2/3 again */
	CHECK(fabs(r.rougeL.fmeasure - 8.0 / 15) < 1e-15);
	CHECK(fabs(r.rougeLsum.fmeasure - 2.0 / 3) < 1e-15);

	/* a line that is no text names itself */
	write_file(bad, "\"a\"\n{\"label\": 1}\n");
	CHECK_INT_EQ(ada_rouge_files(pred, bad, 0, &r, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "line 2") != NULL);
	write_file(bad, "\"a\xff\"\n");
	CHECK_INT_EQ(ada_rouge_files(bad, ref, 0, &r, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "UTF-8") != NULL);
	CHECK_INT_EQ(ada_rouge_files("/nonexistent/rouge", ref, 0, &r, &err) != ADA_OK, 1);
}

/* The work buffers grow and are reused pair after pair: a long text after
 * short ones, and many distinct tokens (the token table rehashes). */
static void test_work_reuse(void)
{
	struct rouge_work w = { 0 };
	struct ada_err err = { 0 };
	struct ada_rouge r;
	char big[20000];
	size_t n = 0;

	CHECK_OK(rouge_pair(&w, "a b", 3, "a c", 3, 0, &r, &err), &err);
	check_score("rouge1", &r.rouge1, 0.5, 0.5, 0.5);
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "t%d ", i);
	/* 2000 distinct tokens against themselves: every score 1 */
	CHECK_OK(rouge_pair(&w, big, n, big, n, 1, &r, &err), &err);
	check_score("rouge2", &r.rouge2, 1, 1, 1);
	check_score("rougeL", &r.rougeL, 1, 1, 1);
	CHECK_OK(rouge_pair(&w, "a b", 3, "b a", 3, 0, &r, &err), &err);
	check_score("rougeL", &r.rougeL, 0.5, 0.5, 0.5);
	rouge_work_release(&w);
}

int main(void)
{
	RUN(test_porter);
	RUN(test_basic_pair);
	RUN(test_repeated_ngrams);
	RUN(test_stemmer);
	RUN(test_tokenizer);
	RUN(test_lsum);
	RUN(test_empty);
	RUN(test_mean_and_json);
	RUN(test_eval_collector);
	RUN(test_files);
	RUN(test_work_reuse);
	return check_summary();
}
