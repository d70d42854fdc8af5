/*
 * test_serve_qa — POST /v1/question_answering through the daemon, on
 * question answering jobs trained here (a tiny BERT, the zebra span task):
 *   - every answer (text, character offsets, windows, no-answer, score)
 *     is `adalora eval --predictions`'s for the same question and context,
 *     asked one at a time or all in one request, long contexts cut into
 *     several windows included; usage counts the windows' tokens;
 *   - top_k lists the n-best, best first, the first the answer;
 *   - a SQuAD v2 job's model lets the null answer compete (is_impossible,
 *     null_score), its threshold from the request or qa.json;
 *   - refusals are 400s naming the field: a base model, a classifier, a
 *     language model, a QA model on completions and classifications,
 *     missing, empty or ill-typed question and context, arrays of different
 *     lengths or beyond 64, invalid UTF-8, unknown fields, options out of
 *     range, a context beyond --serve-max-windows;
 *   - a QA request waits in the engine's queue like any other: with the
 *     one slot decoding and no room to wait, a 429 with Retry-After;
 *   - /metrics counts the answered requests.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "task_data.h"

static struct daemon d;
static char *dir;

#define MAX_WINDOWS 16

/* ---- jobs ------------------------------------------------------------------ */

static char *upload_qa(const char *name, int n, uint64_t seed, int impossible_every)
{
	char path[2400];
	struct ada_err err = { 0 };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (task_write_qa(path, n, seed, 0, impossible_every, &err))
		FATAL("%s", err.msg);
	return upload(&d, path, name);
}

/* A succeeded job of body (stolen): its fine_tuned_model (static per
 * slot); its id into id. */
static const char *train(json_t *body, char *id_out, size_t cap)
{
	static char names[4][512];
	static int slot;
	char *id = NULL;
	json_t *job;
	char *name = names[slot++ % 4];

	CHECK_INT_EQ(job_create(&d, body, &id), 201);
	if (!id)
		FATAL("no job");
	job = wait_job(&d, id, 600);
	CHECK_STR_EQ(job_status(job), "succeeded");
	snprintf(name, sizeof(names[0]), "%s",
		 json_string_value(json_object_get(job, "fine_tuned_model")));
	if (id_out)
		snprintf(id_out, cap, "%s", id);
	json_decref(job);
	free(id);
	return name;
}

static json_t *qa_body(const char *file, int steps)
{
	return json_pack(
		"{s:s,s:s,s:s,s:i,s:{s:s,s:{s:{s:i,s:i,s:i,s:f,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}}}}",
		"model", "enc", "task", "question_answering", "training_file", file, "seed", 5,
		"method", "type", "adalora", "adalora", "hyperparameters", "max_steps", steps,
		"seq_len", 24, "batch_size", 16, "learning_rate", 0.02, "init_r", 4, "target_r", 2,
		"tinit", 20, "tfinal", 60, "deltaT", 5, "warmup_steps", 5, "doc_stride", 4,
		"max_answer_length", 4);
}

static char qa_id[64], v2_id[64];
static const char *qa_model, *v2_model, *cls_model, *lm_model;

/* ---- helpers --------------------------------------------------------------- */

/* POST body (text) to path: the status and the error's param. */
static long post(const char *path, const char *body, char *param, size_t cap, json_t **out)
{
	const char *hdr[] = { "Content-Type: application/json", NULL };
	struct http_resp r;
	const char *p;
	long st;

	http(&d, "POST", path, hdr, body, strlen(body), &r);
	p = json_string_value(json_object_get(json_object_get(r.json, "error"), "param"));
	snprintf(param, cap, "%s", p ? p : "");
	st = r.status;
	if (out)
		*out = json_incref(r.json);
	http_resp_free(&r);
	return st;
}

static void refused(const char *path, const char *body, const char *param)
{
	char got[128];
	long st = post(path, body, got, sizeof(got), NULL);

	CHECK_MSG(st == 400 && !strcmp(got, param), "%s %s: %ld param '%s', wanted 400 '%s'", path,
		  body, st, got, param);
}

/* POST /v1/question_answering {model, question, context} (+ extra's keys). */
static long ask(const char *model, const char *question, const char *context, json_t *extra,
		json_t **out)
{
	json_t *b = json_pack("{s:s,s:s,s:s}", "model", model, "question", question, "context",
			      context);

	if (extra) {
		json_object_update(b, extra);
		json_decref(extra);
	}
	return http_json(&d, "POST", "/v1/question_answering", b, out);
}

/* `adalora eval --predictions` of job id's adapter on data: its lines. */
static json_t *eval_predictions(const char *id, const char *data)
{
	char model[2300], adapter[2400], pred[2400];
	const char *argv[] = { getenv("ADALORA_BIN"), "eval", "--model", model, "--adapter",
			       adapter, "--data", data, "--predictions", pred, NULL };
	json_t *lines = json_array();
	char *out, *text, *save = NULL;
	int st;

	snprintf(model, sizeof(model), "%s/models/enc", dir);
	snprintf(adapter, sizeof(adapter), "%s/data/jobs/%s/adapter", d.dir, id);
	snprintf(pred, sizeof(pred), "%s/pred-%s.jsonl", dir, id);
	out = run_capture(argv, &st);
	CHECK_MSG(st == 0, "adalora eval: %d %s", st, out ? out : "");
	free(out);
	text = read_file(pred, NULL);
	for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		json_array_append_new(lines, json_loads(l, 0, NULL));
	free(text);
	return lines;
}

/* The data file's questions and contexts. */
static json_t *read_questions(const char *path)
{
	json_t *qs = json_array();
	char *text = read_file(path, NULL), *save = NULL;

	for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		json_array_append_new(qs, json_loads(l, 0, NULL));
	free(text);
	return qs;
}

/* One served answer (a data[] item) against eval's line. */
static void same_answer(const json_t *got, const json_t *want, size_t i)
{
	const char *a = json_string_value(json_object_get(got, "answer"));
	const char *b = json_string_value(json_object_get(want, "answer"));
	double sa = json_number_value(json_object_get(got, "score"));
	double sb = json_number_value(json_object_get(want, "score"));

	CHECK_MSG(a && b && !strcmp(a, b), "question %zu: '%s', eval's '%s'", i, a ? a : "(none)",
		  b ? b : "(none)");
	CHECK_INT_EQ(json_integer_value(json_object_get(got, "start")),
		     json_integer_value(json_object_get(want, "start")));
	CHECK_INT_EQ(json_integer_value(json_object_get(got, "end")),
		     json_integer_value(json_object_get(want, "end")));
	CHECK_INT_EQ(json_integer_value(json_object_get(got, "windows")),
		     json_integer_value(json_object_get(want, "windows")));
	CHECK(json_equal(json_object_get(got, "is_impossible"), json_object_get(want, "is_impossible")));
	/* the windows are batched differently: equal to float rounding */
	CHECK_MSG(fabs(sa - sb) < 1e-4, "question %zu: score %.9g, eval's %.9g", i, sa, sb);
}

/* Every question of data: asked alone, and all in one request, the
 * answers are eval's; returns how many took several windows, and into
 * *none how many have no answer. */
static int matches_eval(const char *model, const char *id, const char *data, int *none)
{
	json_t *qs = read_questions(data), *want = eval_predictions(id, data), *q, *all = NULL;
	json_t *questions = json_array(), *contexts = json_array();
	long tokens = 0;
	int multi = 0;
	size_t i;

	CHECK_INT_EQ(json_array_size(want), json_array_size(qs));
	json_array_foreach(qs, i, q) {
		json_t *out = NULL, *item;
		const char *question = json_string_value(json_object_get(q, "question"));
		const char *context = json_string_value(json_object_get(q, "context"));

		CHECK_INT_EQ(ask(model, question, context, NULL, &out), 200);
		item = json_array_get(json_object_get(out, "data"), 0);
		CHECK_STR_EQ(json_string_value(json_object_get(out, "object")), "list");
		CHECK_STR_EQ(json_string_value(json_object_get(item, "object")), "question_answer");
		CHECK_INT_EQ(json_integer_value(json_object_get(item, "index")), 0);
		same_answer(item, json_array_get(want, i), i);
		/* the offsets are characters of the context (ASCII here) */
		if (!json_is_true(json_object_get(item, "is_impossible"))) {
			const char *ans = json_string_value(json_object_get(item, "answer"));
			json_int_t s = json_integer_value(json_object_get(item, "start"));
			CHECK(ans && !strncmp(context + s, ans, strlen(ans)));
		}
		multi += json_integer_value(json_object_get(item, "windows")) > 1;
		*none += json_is_true(json_object_get(item, "is_impossible"));
		tokens += (long)json_integer_value(json_object_get(json_object_get(out, "usage"),
								   "prompt_tokens"));
		json_array_append_new(questions, json_string(question));
		json_array_append_new(contexts, json_string(context));
		json_decref(out);
	}
	/* all at once: the same answers, in order, the same tokens */
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/question_answering",
			       json_pack("{s:s,s:o,s:o}", "model", model, "question", questions,
					 "context", contexts), &all), 200);
	CHECK_INT_EQ(json_array_size(json_object_get(all, "data")), json_array_size(qs));
	json_array_foreach(json_object_get(all, "data"), i, q) {
		CHECK_INT_EQ(json_integer_value(json_object_get(q, "index")), (json_int_t)i);
		same_answer(q, json_array_get(want, i), i);
	}
	CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(all, "usage"),
							"prompt_tokens")), tokens);
	CHECK(tokens > 0);
	json_decref(all);
	json_decref(qs);
	json_decref(want);
	return multi;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_answers_are_evals(void)
{
	char path[2400], lng[2400];
	struct ada_err err = { 0 };
	int multi, none = 0;

	snprintf(path, sizeof(path), "%s/dev.jsonl", dir);
	snprintf(lng, sizeof(lng), "%s/dev-long.jsonl", dir);
	if (task_write_qa(path, 10, 2, 0, 0, &err) || task_write_qa_long(lng, 5, 30, 3, &err))
		FATAL("%s", err.msg);
	CHECK_INT_EQ(matches_eval(qa_model, qa_id, path, &none), 0);
	/* 30 words in windows of 24 tokens: every context takes three (all
	 * five together: 15 of --serve-max-windows 16) */
	multi = matches_eval(qa_model, qa_id, lng, &none);
	CHECK_MSG(multi == 5, "%d of 5 long contexts in several windows", multi);
	CHECK_INT_EQ(none, 0);   /* SQuAD v1 rules: always a span */
}

static void test_top_k(void)
{
	const char *ctx = "the cat sat on a mat and the dog ran to the park zebra ball in the sun";
	json_t *out = NULL, *one = NULL, *item, *answers, *e;
	double last = INFINITY, p_sum = 0;
	size_t i;

	CHECK_INT_EQ(ask(qa_model, "where is the zebra", ctx, json_pack("{s:i}", "top_k", 4), &out),
		     200);
	CHECK_INT_EQ(ask(qa_model, "where is the zebra", ctx, NULL, &one), 200);
	item = json_array_get(json_object_get(out, "data"), 0);
	answers = json_object_get(item, "answers");
	CHECK_INT_EQ(json_array_size(answers), 4);
	CHECK_INT_EQ(json_array_size(json_object_get(json_array_get(json_object_get(one, "data"), 0),
						     "answers")), 1);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(answers, 0), "answer")),
		     json_string_value(json_object_get(item, "answer")));
	CHECK(json_equal(json_object_get(item, "answer"),
			 json_object_get(json_array_get(json_object_get(one, "data"), 0), "answer")));
	json_array_foreach(answers, i, e) {
		double s = json_number_value(json_object_get(e, "score"));
		CHECK_MSG(s <= last, "answers[%zu] scores %g after %g", i, s, last);
		last = s;
		p_sum += json_number_value(json_object_get(e, "probability"));
	}
	CHECK(p_sum > 0 && p_sum <= 1 + 1e-9);
	fprintf(stderr, "  top answer '%s' (score %.3f, probability %.3f)\n",
		json_string_value(json_object_get(item, "answer")),
		json_number_value(json_object_get(item, "score")),
		json_number_value(json_object_get(item, "probability")));
	json_decref(out);
	json_decref(one);
}

static void test_version_2(void)
{
	char path[2400];
	struct ada_err err = { 0 };
	const char *ctx = "the cat sat on a mat and the dog ran to the park";
	json_t *out = NULL, *item;
	int none = 0;

	snprintf(path, sizeof(path), "%s/dev-v2.jsonl", dir);
	if (task_write_qa(path, 12, 7, 0, 3, &err))
		FATAL("%s", err.msg);
	matches_eval(v2_model, v2_id, path, &none);
	/* 4 of the 12 have no answer; the model finds some of them */
	fprintf(stderr, "  v2: %d of 12 answered with no answer\n", none);
	CHECK(none >= 1 && none < 12);
	/* the threshold decides between the null and the best span */
	CHECK_INT_EQ(ask(v2_model, "where is the zebra", ctx,
			 json_pack("{s:f}", "null_score_diff_threshold", -1e9), &out), 200);
	item = json_array_get(json_object_get(out, "data"), 0);
	CHECK(json_is_true(json_object_get(item, "is_impossible")));
	CHECK_STR_EQ(json_string_value(json_object_get(item, "answer")), "");
	CHECK(json_is_number(json_object_get(item, "null_score")) &&
	      json_is_number(json_object_get(item, "null_probability")));
	CHECK(json_number_value(json_object_get(item, "score")) ==
	      json_number_value(json_object_get(item, "null_score")));
	CHECK_INT_EQ(json_array_size(json_object_get(item, "answers")), 1);   /* the best span still */
	json_decref(out);
	CHECK_INT_EQ(ask(v2_model, "where is the zebra", ctx,
			 json_pack("{s:f}", "null_score_diff_threshold", 1e9), &out), 200);
	item = json_array_get(json_object_get(out, "data"), 0);
	CHECK(json_is_false(json_object_get(item, "is_impossible")));
	CHECK(json_string_length(json_object_get(item, "answer")) > 0);
	json_decref(out);
	/* a v1 model reports no null */
	CHECK_INT_EQ(ask(qa_model, "where is the zebra", ctx, NULL, &out), 200);
	item = json_array_get(json_object_get(out, "data"), 0);
	CHECK(!json_object_get(item, "null_score") && json_is_false(json_object_get(item, "is_impossible")));
	json_decref(out);
}

static void test_refusals(void)
{
	const char *Q = "/v1/question_answering";
	char body[8192], m[600];
	size_t n;

	snprintf(m, sizeof(m), "%s", qa_model);
	/* models: a base, a classifier, a language model, an unknown one */
	refused(Q, "{\"model\":\"enc\",\"question\":\"q\",\"context\":\"c\"}", "model");
	refused(Q, "{\"model\":\"tiny\",\"question\":\"q\",\"context\":\"c\"}", "model");
	refused(Q, "{\"model\":\"nope\",\"question\":\"q\",\"context\":\"c\"}", "model");
	snprintf(body, sizeof(body), "{\"model\":\"%s\",\"question\":\"q\",\"context\":\"c\"}", cls_model);
	refused(Q, body, "model");
	snprintf(body, sizeof(body), "{\"model\":\"%s\",\"question\":\"q\",\"context\":\"c\"}", lm_model);
	refused(Q, body, "model");
	/* a QA model on the other routes */
	snprintf(body, sizeof(body), "{\"model\":\"%s\",\"prompt\":\"x\"}", m);
	refused("/v1/completions", body, "model");
	snprintf(body, sizeof(body), "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", m);
	refused("/v1/chat/completions", body, "model");
	snprintf(body, sizeof(body), "{\"model\":\"%s\",\"input\":\"x\"}", m);
	refused("/v1/classifications", body, "model");
	/* fields */
	static const struct {
		const char *rest, *param;
	} bad[] = {
		{ "\"context\":\"a zebra\"", "question" },
		{ "\"question\":\"where\"", "context" },
		{ "\"question\":\"\",\"context\":\"a zebra\"", "question" },
		{ "\"question\":\"where\",\"context\":\"\"", "context" },
		{ "\"question\":5,\"context\":\"a zebra\"", "question" },
		{ "\"question\":\"where\",\"context\":{}", "context" },
		{ "\"question\":[],\"context\":\"a zebra\"", "question" },
		{ "\"question\":[\"where\",3],\"context\":\"a zebra\"", "question[1]" },
		{ "\"question\":[\"where\",\"\"],\"context\":\"a zebra\"", "question[1]" },
		{ "\"question\":\"where\",\"context\":[\"a zebra\",\"a\\u0000b\"]", "context[1]" },
		{ "\"question\":[\"a\",\"b\"],\"context\":[\"a zebra\",\"b\",\"c\"]", "context" },
		{ "\"question\":\"wh\xff\xfe\",\"context\":\"a zebra\"", "question" },
		{ "\"question\":\"where\",\"context\":[\"a zebra\",\"a \xc3\"]", "context[1]" },
		{ "\"question\":\"where\",\"context\":\"a \\udc00 zebra\"", "context" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"mystery\":1", "mystery" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"top_k\":0", "top_k" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"top_k\":21", "top_k" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"top_k\":\"2\"", "top_k" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"max_seq_length\":100000", "max_seq_length" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"doc_stride\":-1", "doc_stride" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"doc_stride\":24", "doc_stride" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"max_answer_length\":0", "max_answer_length" },
		{ "\"question\":\"where\",\"context\":\"a zebra\",\"null_score_diff_threshold\":\"x\"",
		  "null_score_diff_threshold" },
		{ "\"question\":\"   \",\"context\":\"a zebra\"", "question" },
		{ "\"question\":[\"where\",\"where\"],\"context\":[\"a zebra\",\" \\n \"]", "context[1]" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"model\":\"%s\",%s}", m, bad[i].rest);
		refused(Q, body, bad[i].param);
	}
	/* 65 questions */
	n = (size_t)snprintf(body, sizeof(body), "{\"model\":\"%s\",\"context\":\"a zebra\",\"question\":[", m);
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"q\"", i ? "," : "");
	snprintf(body + n, sizeof(body) - n, "]}");
	refused(Q, body, "question");
	/* a context beyond --serve-max-windows, alone and after others */
	{
		char *ctx = malloc(20000);
		size_t k = 0;
		for (int w = 0; w < 400; w++)
			k += (size_t)sprintf(ctx + k, "%s%s", w ? " " : "", w == 390 ? "zebra dog" : "cat");
		snprintf(body, sizeof(body), "{\"model\":\"%s\",\"question\":\"where\",\"context\":\"%s\"}", m, ctx);
		refused(Q, body, "context");
		free(ctx);
		/* 43 words and the answer: 4 windows of 24 tokens each (17 context
		 * tokens a window, starting 13 apart), so the 5th pair finds the
		 * request's 16 taken */
		{
			char one[400];
			size_t o = 0;
			for (int w = 0; w < 43; w++)
				o += (size_t)snprintf(one + o, sizeof(one) - o, "cat ");
			snprintf(one + o, sizeof(one) - o, "zebra dog");
			snprintf(body, sizeof(body),
				 "{\"model\":\"%s\",\"question\":\"where is the zebra\",\"context\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"]}",
				 m, one, one, one, one, one);
		}
		{
			char got[128];
			json_t *out = NULL;
			long st = post(Q, body, got, sizeof(got), &out);
			const char *msg = json_string_value(json_object_get(json_object_get(out, "error"), "message"));
			CHECK_MSG(st == 400 && !strcmp(got, "context[4]"), "%ld '%s' %s", st, got, msg ? msg : "");
			CHECK(msg && strstr(msg, "--serve-max-windows"));
			json_decref(out);
		}
	}
}

/* The daemon again with one decoding slot and no queue, steps of 20 ms
 * at least: a long stream takes the slot, and a question finds no room:
 * 429. */
static void test_queue_full(void)
{
	const char *body = "{\"model\":\"tiny\",\"prompt\":\"the\",\"max_tokens\":200,\"stream\":true}";
	char req[1024], buf[4096], qa[1200];
	const char *hdr[] = { "Content-Type: application/json", NULL };
	struct http_resp r;
	int fd, n;
	size_t got = 0;

	setenv("ADALORAD_TEST_SERVE_STEP_MS", "20", 1);
	CHECK_INT_EQ(daemon_restart(&d, dir, (const char *const[]){ "--serve-max-sequences", "1",
								     "--serve-max-queue", "0", NULL }), 0);
	unsetenv("ADALORAD_TEST_SERVE_STEP_MS");
	fd = tcp_connect(&d);
	if (fd < 0)
		FATAL("connect");
	n = snprintf(req, sizeof(req),
		     "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	if (write(fd, req, (size_t)n) != n)
		FATAL("write");
	for (double t0 = now_s(); now_s() - t0 < 60;) {
		ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
		buf[got] = '\0';
		if (strstr(buf, "data: {") || got == sizeof(buf) - 1)
			break;
	}
	CHECK(strstr(buf, "data: {") != NULL);
	snprintf(qa, sizeof(qa), "{\"model\":\"%s\",\"question\":\"where\",\"context\":\"a zebra\"}",
		 qa_model);
	http(&d, "POST", "/v1/question_answering", hdr, qa, strlen(qa), &r);
	CHECK_INT_EQ(r.status, 429);
	CHECK(r.headers && strcasestr(r.headers, "\nRetry-After: 1"));
	http_resp_free(&r);
	close(fd);
	/* the hang-up frees the slot within a step */
	for (double t0 = now_s(); now_s() - t0 < 30; usleep(20000)) {
		long st = http_json(&d, "POST", "/v1/question_answering",
				    json_pack("{s:s,s:s,s:s}", "model", qa_model, "question", "where",
					      "context", "a zebra"), NULL);
		if (st != 429) {
			CHECK_INT_EQ(st, 200);
			break;
		}
	}
}

static void test_metrics(void)
{
	struct http_resp r;
	const char *line;

	http(&d, "GET", "/metrics", NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	line = r.body ? strstr(r.body, "adalorad_serve_finished_total{reason=\"answered\"} ") : NULL;
	CHECK(line && atol(line + strlen("adalorad_serve_finished_total{reason=\"answered\"} ")) > 10);
	http_resp_free(&r);
}

int main(void)
{
	struct ada_err err = { 0 };
	char enc[2400], path[2400], *file;
	char max_windows[16];

	dir = scratch_dir("serve-qa");
	models_create_tiny(dir);
	snprintf(enc, sizeof(enc), "%s/models/enc", dir);
	if (task_make_encoder("bert", 5, enc, &err))
		FATAL("%s", err.msg);
	snprintf(max_windows, sizeof(max_windows), "%d", MAX_WINDOWS);
	daemon_start(&d, dir, (const char *const[]){ "--serve-threads", "2", "--serve-max-windows",
						     max_windows, NULL });
	/* a SQuAD v1 job, a v2 job (every 4th question without an answer), a
	 * classifier and a language model */
	file = upload_qa("train.jsonl", 400, 1, 0);
	qa_model = train(qa_body(file, 160), qa_id, sizeof(qa_id));
	free(file);
	file = upload_qa("train-v2.jsonl", 320, 3, 4);
	v2_model = train(qa_body(file, 160), v2_id, sizeof(v2_id));
	free(file);
	snprintf(path, sizeof(path), "%s/zebra.jsonl", dir);
	if (task_write_zebra(path, 100, 5, ZEBRA_STRING, NULL, &err))
		FATAL("%s", err.msg);
	file = upload(&d, path, "zebra.jsonl");
	cls_model = train(json_pack("{s:s,s:s,s:{s:s,s:{s:{s:i,s:i,s:i}}}}", "model", "enc",
				    "training_file", file, "method", "type", "lora", "lora",
				    "hyperparameters", "max_steps", 5, "seq_len", 16, "batch_size", 8),
			  NULL, 0);
	free(file);
	snprintf(path, sizeof(path), "%s/corpus.jsonl", dir);
	write_jsonl(path, 0, 20000);
	file = upload(&d, path, "corpus.jsonl");
	lm_model = train(adalora_job("tiny", file, 5, 32, 0), NULL, 0);
	free(file);

	RUN(test_answers_are_evals);
	RUN(test_top_k);
	RUN(test_version_2);
	RUN(test_refusals);
	RUN(test_metrics);
	RUN(test_queue_full);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(dir);
	return check_summary();
}
