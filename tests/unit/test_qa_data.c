/* Tests of lib/data/qa_data.c and qa_metrics.c: the official SQuAD
 * metrics on hand-made predictions (numbers worked out by hand from
 * evaluate-v2.0.py's definitions), windows over a long context with
 * doc_stride (an answer split across two windows, one in the second window
 * only) and their offsets back to the original characters, prediction
 * through those offsets, the SQuAD v2 null-score threshold, and the two
 * file formats (SQuAD JSON and JSONL) read alike, with their errors; the
 * n-best answers of qa_answer.c (order, one entry per span however many
 * windows hold it, utils_qa's probabilities with and without the null,
 * character offsets of a context with multi-byte characters, the JSON). */
#include "check.h"
#include "scratch.h"
#include "task_data.h"

#include <math.h>

#include "adalora.h"
#include "data/qa_answer.h"
#include "data/qa_data.h"
#include "data/qa_metrics.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void test_normalize(void)
{
	struct strbuf s = STRBUF_INIT;
	static const char *const cases[][2] = {
		{ "The Denver Broncos!", "denver broncos" },
		{ "a, b.c!", "bc" },                        /* punctuation goes before articles */
		{ "  An apple   and THE pear ", "apple and pear" },
		{ "theatre of an_other", "theatre of another" }, /* '_' is punctuation */
		{ "Caf\xc3\x89 the\xe2\x80\x94" "a", "caf\xc3\xa9 \xe2\x80\x94" }, /* em dash: no word */
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(qa_normalize_answer(cases[i][0], strlen(cases[i][0]), &s) == 0);
		CHECK_MSG(!strcmp(s.p, cases[i][1]), "'%s' -> '%s', want '%s'", cases[i][0], s.p,
			  cases[i][1]);
	}
	strbuf_release(&s);
}

static void test_metrics_by_hand(void)
{
	struct qa_totals t = { 0 };
	struct ada_qa_metrics m;
	const char *g1[] = { "Denver Broncos" };
	const char *g2[] = { "won the game", "Broncos" };
	json_t *j = json_object();

	CHECK_INT_EQ(qa_exact("the Denver Broncos", "Denver Broncos"), 1);
	CHECK(NEAR(qa_f1("the Denver Broncos", "Denver Broncos"), 1));
	/* [denver] vs [denver broncos]: P 1, R 1/2, F1 2/3 */
	CHECK_INT_EQ(qa_exact("Denver", "Denver Broncos"), 0);
	CHECK(NEAR(qa_f1("Denver", "Denver Broncos"), 2.0 / 3));
	/* [cat cat] vs [cat]: common min(2, 1) = 1, P 1/2, R 1, F1 2/3 */
	CHECK(NEAR(qa_f1("the the cat cat", "cat"), 2.0 / 3));
	/* nothing in common */
	CHECK(NEAR(qa_f1("dog", "cat"), 0));
	/* empty against empty is 1, against anything 0 */
	CHECK(NEAR(qa_f1("", ""), 1) && NEAR(qa_f1("the", ""), 1) && NEAR(qa_f1("x", ""), 0));

	/* question 1: exact */
	CHECK(qa_totals_add(&t, "the Denver Broncos", g1, 1) == 0);
	/* question 2: best over two golds: [broncos won] vs [won game] P 1/2 R 1/2
	 * F1 1/2; vs [broncos] P 1/2 R 1 F1 2/3 -> 2/3, exact 0 */
	CHECK(qa_totals_add(&t, "Broncos won", g2, 2) == 0);
	/* questions 3 and 4 have no answer: "" right, "x" wrong */
	CHECK(qa_totals_add(&t, "", NULL, 0) == 0);
	CHECK(qa_totals_add(&t, "x", NULL, 0) == 0);
	qa_totals_finish(&t, &m);
	CHECK(NEAR(m.exact, 50.0));
	CHECK(NEAR(m.f1, 100.0 * (1 + 2.0 / 3 + 1 + 0) / 4));
	CHECK(NEAR(m.has_ans_exact, 50.0) && NEAR(m.has_ans_f1, 100.0 * (1 + 2.0 / 3) / 2));
	CHECK(NEAR(m.no_ans_exact, 50.0) && NEAR(m.no_ans_f1, 50.0));
	CHECK_INT_EQ(m.total, 4);
	CHECK_INT_EQ(m.has_ans_total, 2);
	ada_qa_metrics_json(j, &m, "valid_");
	CHECK(NEAR(json_real_value(json_object_get(j, "valid_exact")), 50.0));
	CHECK(json_object_get(j, "valid_HasAns_f1") && json_object_get(j, "valid_NoAns_exact"));
	json_decref(j);
}

static struct tokenizer *vocab_tokenizer(void)
{
	struct tokenizer *t = NULL;
	struct ada_err err;

	CHECK_OK(task_write_vocab(tmp, 64, &err), &err);
	CHECK_OK(tokenizer_load_wordpiece(scratch_path(tmp, "vocab.txt"), &t, &err), &err);
	return t;
}

static const char *write_text(const char *name, const char *text)
{
	const char *path = scratch_path(tmp, "%s", name);
	struct ada_err err;

	CHECK_OK(file_write_atomic(path, text, strlen(text), &err), &err);
	return path;
}

/* 14 words; "Ran To Big" = words 8..10, "Dog Ran" = words 7..8. Cased, so
 * the predictions must come back through the offsets, not the tokens. */
#define CTX "the cat sat on a mat and Dog Ran To Big red ball in"

static void test_windows_and_offsets(void)
{
	struct tokenizer *t = vocab_tokenizer();
	struct qa_set set;
	struct qa_features f;
	struct qa_window_opts wo = { .seq_len = 13, .doc_stride = 2, .max_query_length = 64 };
	struct qa_predict_opts po = { .n_best_size = 20, .max_answer_length = 30 };
	struct ada_err err;
	const char *path = write_text("w.jsonl",
		"{\"id\": \"split\", \"question\": \"where is the zebra\", \"context\": \"" CTX "\", "
		"\"answers\": {\"text\": [\"Ran To Big\"], \"answer_start\": [29]}}\n"
		"{\"id\": \"second\", \"question\": \"where is the zebra\", \"context\": \"" CTX "\", "
		"\"answers\": {\"text\": [\"Dog Ran\"], \"answer_start\": [25]}}\n");
	float *s = NULL, *e = NULL;
	char *texts[2] = { 0 };

	if (!t)
		return;
	CHECK_OK(qa_set_load(path, &set, &err), &err);
	CHECK_INT_EQ(set.n, 2);
	CHECK_INT_EQ(set.n_contexts, 1);      /* the same context, shared */
	CHECK(!strcmp(set.ex[0].id, "split"));
	CHECK_INT_EQ(set.ex[0].answer_byte[0], 29);
	CHECK_INT_EQ(set.ex[0].answer_byte_end[0], 39);
	/* [CLS] where(unk) is(unk) the zebra [SEP] <6 context tokens> [SEP]: 13;
	 * overlap 2, so windows start at context tokens 0, 4, 8 */
	CHECK_OK(qa_features_build(&set, t, &wo, &f, &err), &err);
	CHECK_INT_EQ(f.n, 6);
	for (int w = 0; w < 3; w++) {
		CHECK_INT_EQ(f.ctx_first[w], 6);
		CHECK_INT_EQ(f.ctx_count[w], 6);
		CHECK_INT_EQ(f.ctx_tok[w], 4 * w);
		CHECK_INT_EQ(f.lengths[w], 13);
		CHECK_INT_EQ(f.example[w], 0);
	}
	/* "Ran To Big" (context tokens 8..10): window 1 holds 8, 9 only -> [CLS];
	 * window 2 holds it at 6..8 */
	CHECK_INT_EQ(f.start_pos[0], 0);
	CHECK_INT_EQ(f.start_pos[1], 0);
	CHECK_INT_EQ(f.end_pos[1], 0);
	CHECK_INT_EQ(f.start_pos[2], 6);
	CHECK_INT_EQ(f.end_pos[2], 8);
	/* "Dog Ran" (7..8): only window 1 (tokens 4..9) holds it, at 9..10 */
	CHECK_INT_EQ(f.start_pos[4], 9);
	CHECK_INT_EQ(f.end_pos[4], 10);
	CHECK_INT_EQ(f.start_pos[3], 0);
	CHECK_INT_EQ(f.start_pos[5], 0);
	/* offsets: window 2's first context token is "Ran" at bytes 29..32 */
	CHECK_INT_EQ(f.tok_offs[2 * f.ctx_tok[2]], 29);
	CHECK_INT_EQ(f.tok_offs[2 * f.ctx_tok[2] + 1], 32);
	/* the same token seen from window 1, its 5th context token */
	CHECK_INT_EQ(f.tok_offs[2 * (f.ctx_tok[1] + 4)], 29);

	/* predictions: question 0 prefers window 1's "Ran To"... (cut at the
	 * window's end) less than window 2's "Ran To Big"; question 1 window 1 */
	s = calloc((size_t)f.n * 13, sizeof(*s));
	e = calloc((size_t)f.n * 13, sizeof(*e));
	for (int i = 0; i < f.n * 13; i++)
		s[i] = e[i] = -5;
	s[1 * 13 + 10] = 3, e[1 * 13 + 11] = 3;    /* window 1: "Ran To", 6 */
	s[2 * 13 + 6] = 4, e[2 * 13 + 8] = 4;      /* window 2: "Ran To Big", 8 */
	s[4 * 13 + 9] = 4, e[4 * 13 + 10] = 4;     /* question 1, window 1: "Dog Ran" */
	s[4 * 13 + 2] = 9, e[4 * 13 + 1] = 9;      /* outside the context: ignored */
	CHECK_OK(qa_predict(&set, &f, s, e, &po, texts, &err), &err);
	CHECK_MSG(texts[0] && !strcmp(texts[0], "Ran To Big"), "'%s'", texts[0]);
	CHECK_MSG(texts[1] && !strcmp(texts[1], "Dog Ran"), "'%s'", texts[1]);
	/* max_answer_length 2 rules out the 3-token span: window 1's wins */
	free(texts[0]);
	free(texts[1]);
	po.max_answer_length = 2;
	CHECK_OK(qa_predict(&set, &f, s, e, &po, texts, &err), &err);
	CHECK_MSG(texts[0] && !strcmp(texts[0], "Ran To"), "'%s'", texts[0]);
	{
		struct ada_qa_metrics m;
		/* "Ran To" vs "Ran To Big": P 1, R 2/3 -> F1 0.8; "Dog Ran" exact */
		CHECK_OK(qa_score(&set, texts, &m, &err), &err);
		CHECK(NEAR(m.exact, 50.0) && NEAR(m.f1, 100.0 * (0.8 + 1) / 2));
	}
	free(texts[0]);
	free(texts[1]);
	free(s);
	free(e);
	qa_features_release(&f);
	qa_set_release(&set);
	tokenizer_free(t);
}

static void test_null_threshold(void)
{
	struct tokenizer *t = vocab_tokenizer();
	struct qa_set set;
	struct qa_features f;
	struct qa_window_opts wo = { .seq_len = 32, .doc_stride = 8, .max_query_length = 64 };
	struct qa_predict_opts po = { .n_best_size = 5, .max_answer_length = 30 };
	struct ada_err err;
	const char *path = write_text("v2.jsonl",
		"{\"question\": \"where is the zebra\", \"context\": \"the cat sat\", "
		"\"answers\": {\"text\": [], \"answer_start\": []}}\n");
	float s[32], e[32];
	char *text = NULL;

	if (!t)
		return;
	CHECK_OK(qa_set_load(path, &set, &err), &err);
	CHECK(set.has_no_answer);
	CHECK_OK(qa_features_build(&set, t, &wo, &f, &err), &err);
	CHECK_INT_EQ(f.n, 1);
	CHECK_INT_EQ(f.start_pos[0], 0);
	for (int i = 0; i < 32; i++)
		s[i] = e[i] = -5;
	s[0] = e[0] = 2;                 /* null score 4 */
	s[6] = e[7] = 1.5;               /* "the cat", score 3: diff 1 */
	CHECK_OK(qa_predict(&set, &f, s, e, &po, &text, &err), &err);
	CHECK_MSG(text && !strcmp(text, ""), "'%s'", text);
	free(text);
	po.null_score_diff_threshold = 1.5;
	CHECK_OK(qa_predict(&set, &f, s, e, &po, &text, &err), &err);
	CHECK_MSG(text && !strcmp(text, "the cat"), "'%s'", text);
	free(text);
	qa_features_release(&f);
	qa_set_release(&set);
	tokenizer_free(t);
}


/* The n-best of one question over CTX's three windows (seq_len 13,
 * overlap 2: context tokens 0-5, 4-9, 8-13 at window positions 6-11). */
static void test_nbest(void)
{
	struct tokenizer *t = vocab_tokenizer();
	struct qa_set set;
	struct qa_features f;
	struct qa_window_opts wo = { .seq_len = 13, .doc_stride = 2, .max_query_length = 64 };
	struct qa_predict_opts po = { .n_best_size = 3, .max_answer_length = 30 };
	struct qa_nbest nb;
	struct ada_qa_answer a;
	struct ada_err err;
	float s[3 * 13], e[3 * 13];
	char *text = NULL;
	json_t *j;

	if (!t)
		return;
	CHECK_OK(qa_set_single(&set, "  where is the zebra", CTX, 0, &err), &err);
	CHECK(!strcmp(set.ex[0].question, "where is the zebra"));   /* stripped as run_qa does */
	CHECK_OK(qa_features_build(&set, t, &wo, &f, &err), &err);
	CHECK_INT_EQ(f.n, 3);
	for (int i = 0; i < 3 * 13; i++)
		s[i] = e[i] = -5;
	for (int w = 0; w < 3; w++)
		s[w * 13] = e[w * 13] = 1;           /* null score 2 */
	s[1 * 13 + 10] = 3, e[1 * 13 + 11] = 3;    /* window 1: "Ran To", 6 */
	s[2 * 13 + 6] = 4, e[2 * 13 + 8] = 4;      /* window 2: "Ran To Big", 8 */
	e[2 * 13 + 7] = 1;                          /* window 2: "Ran To" again, 5 */
	CHECK_OK(qa_nbest_build(&set, &f, s, e, &po, &nb, &err), &err);
	CHECK_INT_EQ(nb.n, 2);                      /* "Ran To" once, with its best score */
	CHECK(NEAR(nb.spans[0].score, 8) && NEAR(nb.spans[1].score, 6) && NEAR(nb.null_score, 2));
	CHECK_INT_EQ(nb.spans[0].a, 29);
	CHECK_INT_EQ(nb.spans[0].b, 39);
	CHECK_INT_EQ(qa_nbest_choice(&nb, 0, 0), 0);
	/* what qa_predict says is the n-best's first */
	CHECK_OK(qa_predict(&set, &f, s, e, &po, &text, &err), &err);
	CHECK_MSG(text && !strcmp(text, "Ran To Big"), "'%s'", text);
	free(text);

	/* v1: a softmax over the two spans */
	CHECK_OK(qa_answer_make(set.contexts[0], &nb, 0, 0, 3, 5, &a, &err), &err);
	CHECK_INT_EQ(a.n_spans, 2);
	CHECK(!a.is_impossible && !strcmp(a.spans[0].text, "Ran To Big") &&
	      !strcmp(a.spans[1].text, "Ran To"));
	CHECK_INT_EQ(a.spans[0].start, 29);
	CHECK_INT_EQ(a.spans[0].end, 39);
	CHECK(NEAR(a.spans[0].probability, 1 / (1 + exp(-2.0))));
	CHECK(NEAR(a.spans[0].probability + a.spans[1].probability, 1));
	CHECK(isnan(a.null_probability));
	j = ada_qa_answer_to_json(&a);
	CHECK(!strcmp(json_string_value(json_object_get(j, "answer")), "Ran To Big"));
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "start")), 29);
	CHECK_INT_EQ(json_array_size(json_object_get(j, "answers")), 2);
	CHECK(!json_object_get(j, "null_score") && json_is_false(json_object_get(j, "is_impossible")));
	json_decref(j);
	ada_qa_answer_release(&a);
	/* top_k 1 */
	CHECK_OK(qa_answer_make(set.contexts[0], &nb, 0, 0, 3, 1, &a, &err), &err);
	CHECK_INT_EQ(a.n_spans, 1);
	ada_qa_answer_release(&a);

	/* v2: the null joins the softmax; with n_best_size 1 it is appended
	 * after the best span (utils_qa), the other span scored alike */
	CHECK_OK(qa_answer_make(set.contexts[0], &nb, 1, 0, 3, 5, &a, &err), &err);
	{
		const double z = 1 + exp(-2.0) + exp(-6.0);
		CHECK(NEAR(a.spans[0].probability, 1 / z) && NEAR(a.null_probability, exp(-6.0) / z));
	}
	ada_qa_answer_release(&a);
	CHECK_OK(qa_answer_make(set.contexts[0], &nb, 1, 0, 1, 5, &a, &err), &err);
	{
		const double z = 1 + exp(-6.0);
		CHECK(NEAR(a.spans[0].probability, 1 / z) && NEAR(a.spans[1].probability, exp(-2.0) / z));
	}
	ada_qa_answer_release(&a);
	qa_nbest_release(&nb, 1);

	/* a null of 10: no answer under v2 unless the threshold allows 2 */
	for (int w = 0; w < 3; w++)
		s[w * 13] = e[w * 13] = 5;
	CHECK_OK(qa_nbest_build(&set, &f, s, e, &po, &nb, &err), &err);
	CHECK_INT_EQ(nb.n, 2);
	CHECK_INT_EQ(qa_nbest_choice(&nb, 1, 0), -1);
	CHECK_INT_EQ(qa_nbest_choice(&nb, 1, 2.5), 0);
	CHECK_INT_EQ(qa_nbest_choice(&nb, 0, 0), 0);
	CHECK_OK(qa_answer_make(set.contexts[0], &nb, 1, 0, 3, 5, &a, &err), &err);
	CHECK(a.is_impossible && a.n_spans == 2);
	j = ada_qa_answer_to_json(&a);
	CHECK(!strcmp(json_string_value(json_object_get(j, "answer")), ""));
	CHECK(NEAR(json_real_value(json_object_get(j, "score")), 10));
	CHECK(NEAR(json_real_value(json_object_get(j, "null_score")), 10));
	CHECK(json_is_true(json_object_get(j, "is_impossible")));
	json_decref(j);
	ada_qa_answer_release(&a);
	qa_nbest_release(&nb, 1);
	qa_features_release(&f);
	qa_set_release(&set);

	/* characters, not bytes: "\xc3\xa9t\xc3\xa9 cat sat" has "cat" at bytes 6..9,
	 * characters 4..7 */
	CHECK_OK(qa_set_single(&set, "where is the zebra", "\xc3\xa9t\xc3\xa9 cat sat", 0, &err), &err);
	wo.seq_len = 32;
	CHECK_OK(qa_features_build(&set, t, &wo, &f, &err), &err);
	CHECK_INT_EQ(f.n, 1);
	{
		float s1[32], e1[32];
		int cat = -1;
		for (int i = 0; i < 32; i++)
			s1[i] = e1[i] = -5;
		for (int k = 0; k < f.ctx_count[0]; k++)
			if (f.tok_offs[2 * (f.ctx_tok[0] + k)] == 6)
				cat = f.ctx_first[0] + k;
		CHECK(cat > 0);
		if (cat > 0) {
			s1[cat] = e1[cat] = 3;
			CHECK_OK(qa_nbest_build(&set, &f, s1, e1, &po, &nb, &err), &err);
			CHECK_OK(qa_answer_make(set.contexts[0], &nb, 0, 0, 3, 1, &a, &err), &err);
			CHECK(a.n_spans == 1 && !strcmp(a.spans[0].text, "cat"));
			CHECK_INT_EQ(a.spans[0].start, 4);
			CHECK_INT_EQ(a.spans[0].end, 7);
			ada_qa_answer_release(&a);
			qa_nbest_release(&nb, 1);
		}
	}
	qa_features_release(&f);
	qa_set_release(&set);
	tokenizer_free(t);
}

static void test_formats(void)
{
	struct qa_set a, b;
	struct ada_err err;
	struct ada_data_info info;
	char *buf;
	size_t len;

	CHECK_OK(task_write_qa(scratch_path(tmp, "z.json"), 12, 5, 1, 4, &err), &err);
	CHECK_OK(task_write_qa(scratch_path(tmp, "z.jsonl"), 12, 5, 0, 4, &err), &err);
	CHECK_OK(qa_set_load(scratch_path(tmp, "z.json"), &a, &err), &err);
	CHECK_OK(qa_set_load(scratch_path(tmp, "z.jsonl"), &b, &err), &err);
	CHECK_INT_EQ(a.n, 12);
	CHECK_INT_EQ(b.n, 12);
	CHECK(a.has_no_answer && b.has_no_answer);
	for (int64_t i = 0; i < a.n && i < b.n; i++) {
		CHECK(!strcmp(a.ex[i].id, b.ex[i].id));
		CHECK(!strcmp(a.contexts[a.ex[i].context], b.contexts[b.ex[i].context]));
		CHECK_INT_EQ(a.ex[i].n_answers, b.ex[i].n_answers);
		CHECK_INT_EQ(a.ex[i].n_answers, i % 4 != 3);
		if (a.ex[i].n_answers && b.ex[i].n_answers)
			CHECK(a.ex[i].answer_byte[0] == b.ex[i].answer_byte[0] &&
			      !strncmp(a.contexts[a.ex[i].context] + a.ex[i].answer_byte[0], "zebra ", 6));
	}
	qa_set_release(&a);
	qa_set_release(&b);

	/* the upload check knows both */
	CHECK_OK(file_read_all(scratch_path(tmp, "z.json"), &buf, &len, &err), &err);
	CHECK_OK(ada_data_validate(buf, len, ADA_DATA_JSONL_ONLY, &info, &err), &err);
	CHECK_INT_EQ(info.format, ADA_DATA_SQUAD);
	CHECK_INT_EQ(info.shape, ADA_SHAPE_QA);
	CHECK_INT_EQ(info.record_count, 12);
	free(buf);
	CHECK_OK(file_read_all(scratch_path(tmp, "z.jsonl"), &buf, &len, &err), &err);
	CHECK_OK(ada_data_validate(buf, len, ADA_DATA_JSONL_ONLY, &info, &err), &err);
	CHECK_INT_EQ(info.format, ADA_DATA_JSONL);
	CHECK(!strcmp(ada_data_shape_name(info.shape), "question_answering"));
	free(buf);

	/* refused, naming the place */
	{
		static const struct { const char *text, *needle; } bad[] = {
			{ "{\"question\": \"q\", \"context\": \"abc\", \"answers\": {\"text\": [\"bcd\"], \"answer_start\": [1]}}\n",
			  "runs past the context" },
			{ "{\"question\": \"q\", \"context\": \"abc\", \"answers\": {\"text\": [\"b\"], \"answer_start\": [1, 2]}}\n",
			  "answer_start" },
			{ "{\"question\": \"q\", \"context\": \"abc\", \"answers\": [\"b\"]}\n", "answers" },
			{ "{\"question\": \"\", \"context\": \"abc\", \"answers\": {\"text\": [], \"answer_start\": []}}\n",
			  "question" },
			{ "{\"data\": [{\"paragraphs\": [{\"context\": \"abc\", \"qas\": [{\"id\": \"1\", \"question\": \"q\", \"answers\": []}]}]}]}",
			  "data[0].paragraphs[0].qas[0]" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int rc = ada_data_validate(bad[i].text, strlen(bad[i].text), ADA_DATA_JSONL_ONLY,
						   &info, &err);
			CHECK_MSG(rc == ADA_EFORMAT && strstr(err.msg, bad[i].needle), "case %zu: %s", i,
				  err.msg);
		}
	}
}

int main(void)
{
	int rc;

	tmp = check_tmpdir("qadata");
	RUN(test_normalize);
	RUN(test_metrics_by_hand);
	RUN(test_windows_and_offsets);
	RUN(test_null_threshold);
	RUN(test_nbest);
	RUN(test_formats);
	rc = check_summary();
	remove_tree(tmp, NULL);
	free(tmp);
	return rc;
}
