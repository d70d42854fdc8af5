/*
 * test_serve — completions, chat completions and classifications through
 * the daemon, on base models and fine-tuned ones (offline: a tiny random
 * Llama with a byte tokenizer, a tiny ChatML model, jobs trained here).
 *   - GET /v1/models lists each fine-tuned model with its base (parent,
 *     root) and owner;
 *   - a greedy completion of a fine-tuned model is `adalora generate
 *     --adapter`'s text token for token (each token's bytes, filtered as the
 *     CLI prints them), streamed or not; usage, logprobs, stop strings,
 *     finish reasons and seeded sampling behave as OpenAI's;
 *   - two adapters on one base, requested concurrently, each give exactly
 *     what they give alone, and the base file is mapped once
 *     (/proc/<pid>/smaps: one more mapping of it, its resident pages no
 *     more than the file);
 *   - 16 streams at once (two bases, with and without an adapter) while a
 *     job trains all complete with the right text, and the job's adapter is byte for byte that of the same job
 *     trained without them;
 *   - hostile requests are 400s naming the field (param);
 *   - chat renders the template and stops at its end of turn;
 *   - a classification job's model classifies texts and pairs;
 *   - beyond the queue a 429 with Retry-After; a client that hangs up
 *     stops its generation (/metrics counts it).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chat_model.h"
#include "harness.h"
#include "task_data.h"

static struct daemon d;
static char *dir, *corpus_id, *zebra_id;

/* ---- helpers -------------------------------------------------------------- */

struct completion {
	long status;
	char text[8192];
	size_t text_len;
	char cli[8192];             /* the tokens' bytes as `adalora generate` prints them */
	size_t cli_len;
	int n_tokens;
	char finish[16];
	long prompt_tokens, completion_tokens;
	char param[128];            /* the error's, when status != 200 */
	int chunks;
	double logprob_sum;         /* of the chosen tokens */
	int malformed;              /* a stream's chunk did not parse, or [DONE] was missing or early
	                             * (complete() runs on threads: the caller CHECKs this) */
};

/* llama2.c's safe_printf: a single unprintable byte is dropped. */
static void cli_piece(struct completion *c, const json_t *bytes)
{
	size_t n = json_array_size(bytes);

	if (n == 1) {
		int b = (int)json_integer_value(json_array_get(bytes, 0));
		if (!((b >= 0x20 && b < 0x7f) || (b >= 9 && b <= 13)))
			return;
	}
	for (size_t i = 0; i < n && c->cli_len + 1 < sizeof(c->cli); i++)
		c->cli[c->cli_len++] = (char)json_integer_value(json_array_get(bytes, i));
}

/* Bytes of a completions token: its logprobs token string (OpenAI's
 * "bytes:\xNN" spelling for partial characters). */
static json_t *token_bytes(const char *tok)
{
	json_t *a = json_array();

	if (!strncmp(tok, "bytes:", 6)) {
		for (const char *p = tok + 6; p[0] == '\\' && p[1] == 'x'; p += 4) {
			unsigned v;
			sscanf(p + 2, "%2x", &v);
			json_array_append_new(a, json_integer(v));
		}
		return a;
	}
	for (const unsigned char *p = (const unsigned char *)tok; *p; p++)
		json_array_append_new(a, json_integer(*p));
	return a;
}

static void add_text(struct completion *c, const char *s, size_t n)
{
	if (c->text_len + n < sizeof(c->text)) {
		memcpy(c->text + c->text_len, s, n);
		c->text_len += n;
	}
}

/* One choice (a response's, or a chunk's) into c. */
static void take_choice(struct completion *c, const json_t *ch, int chat)
{
	const json_t *lp = json_object_get(ch, "logprobs"), *e;
	const json_t *text = chat ? json_object_get(json_object_get(ch, "message")
						    ? json_object_get(ch, "message")
						    : json_object_get(ch, "delta"),
					    "content")
				  : json_object_get(ch, "text");
	const char *fr = json_string_value(json_object_get(ch, "finish_reason"));
	size_t i;

	if (json_is_string(text))
		add_text(c, json_string_value(text), json_string_length(text));
	if (fr)
		snprintf(c->finish, sizeof(c->finish), "%s", fr);
	if (chat) {
		json_array_foreach(json_object_get(lp, "content"), i, e) {
			cli_piece(c, json_object_get(e, "bytes"));
			c->logprob_sum += json_real_value(json_object_get(e, "logprob"));
			c->n_tokens++;
		}
	} else {
		json_array_foreach(json_object_get(lp, "tokens"), i, e) {
			json_t *b = token_bytes(json_string_value(e));
			cli_piece(c, b);
			json_decref(b);
			c->logprob_sum += json_real_value(
				json_array_get(json_object_get(lp, "token_logprobs"), i));
			c->n_tokens++;
		}
	}
}

static void take_usage(struct completion *c, const json_t *u)
{
	if (json_is_object(u)) {
		c->prompt_tokens = (long)json_integer_value(json_object_get(u, "prompt_tokens"));
		c->completion_tokens = (long)json_integer_value(json_object_get(u, "completion_tokens"));
	}
}

/* POST body (stolen) to path; a stream's chunks or the response, into c. */
static void complete(struct daemon *dm, const char *path, json_t *body, struct completion *c)
{
	const char *hdr[] = { "Content-Type: application/json", NULL };
	const int chat = strstr(path, "chat") != NULL;
	const int stream = json_is_true(json_object_get(body, "stream"));
	char *text = json_dumps(body, JSON_COMPACT);
	struct http_resp r;

	memset(c, 0, sizeof(*c));
	json_decref(body);
	http(dm, "POST", path, hdr, text, strlen(text), &r);
	free(text);
	c->status = r.status;
	if (r.status != 200) {
		const char *p = json_string_value(
			json_object_get(json_object_get(r.json, "error"), "param"));
		snprintf(c->param, sizeof(c->param), "%s", p ? p : "");
		http_resp_free(&r);
		return;
	}
	if (!stream) {
		take_choice(c, json_array_get(json_object_get(r.json, "choices"), 0), chat);
		take_usage(c, json_object_get(r.json, "usage"));
	} else {
		int done = 0;
		char *save = NULL;
		for (char *line = strtok_r(r.body, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			json_t *o;
			if (strncmp(line, "data: ", 6))
				continue;
			if (!strcmp(line + 6, "[DONE]")) {
				done = 1;
				continue;
			}
			o = json_loads(line + 6, 0, NULL);
			c->malformed |= !o || done;
			if (json_array_size(json_object_get(o, "choices")))
				take_choice(c, json_array_get(json_object_get(o, "choices"), 0), chat);
			take_usage(c, json_object_get(o, "usage"));
			c->chunks++;
			json_decref(o);
		}
		c->malformed |= !done;
	}
	http_resp_free(&r);
}

/* Run `adalora generate` with args (NULL-terminated); its stdout. */
static char *generate(const char *const *args, int *status)
{
	const char *argv[32] = { getenv("ADALORA_BIN"), "generate" };
	int n = 2;

	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	return run_capture(argv, status);
}

static long metric(struct daemon *dm, const char *name)
{
	struct http_resp r;
	const char *p;
	long v = -1;

	http(dm, "GET", "/metrics", NULL, NULL, 0, &r);
	p = r.body ? strstr(r.body, name) : NULL;
	while (p && p != r.body && p[-1] != '\n')
		p = strstr(p + 1, name);
	if (p)
		v = atol(p + strlen(name) + 1);
	http_resp_free(&r);
	return v;
}

/* A succeeded causal LM job of method on tiny (seed): its id; trained
 * once per test program (a later call returns the same). */
static const char *lm_job(int which)
{
	static char *ids[2];
	const char *methods[2] = { "adalora", "lora" };
	char *id = NULL;
	json_t *job, *body;

	if (ids[which])
		return ids[which];
	body = adalora_job("tiny", corpus_id, 40, 32, 0);
	json_object_set_new(body, "seed", json_integer(11 + which));
	if (which) {
		json_t *m = json_object_get(body, "method");
		json_object_set_new(m, "type", json_string(methods[which]));
		json_object_set_new(m, methods[which],
				    json_pack("{s:{s:i,s:i,s:f,s:i,s:i}}", "hyperparameters", "max_steps",
					      40, "seq_len", 32, "learning_rate", 0.01, "r", 4,
					      "batch_size", 8));
		json_object_del(m, "adalora");
	}
	CHECK_INT_EQ(job_create(&d, body, &id), 201);
	if (!id)
		FATAL("no job");
	job = wait_job(&d, id, 300);
	CHECK_STR_EQ(job_status(job), "succeeded");
	json_decref(job);
	ids[which] = id;
	return id;
}

static const char *ft_model(int which)
{
	static char names[2][512];
	json_t *job = NULL;
	char path[256];

	if (names[which][0])
		return names[which];
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", lm_job(which));
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &job), 200);
	snprintf(names[which], sizeof(names[which]), "%s",
		 json_string_value(json_object_get(job, "fine_tuned_model")));
	json_decref(job);
	return names[which];
}

static json_t *greedy(const char *model, const char *prompt, int max_tokens, int stream)
{
	json_t *b = json_pack("{s:s,s:s,s:i,s:i,s:i,s:b}", "model", model, "prompt", prompt,
			      "max_tokens", max_tokens, "temperature", 0, "logprobs", 0, "stream",
			      stream);
	if (stream)
		json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1));
	return b;
}

/* ---- tests -------------------------------------------------------------- */

static void test_models_listed(void)
{
	const char *ft = ft_model(0);
	json_t *l = NULL, *m;
	size_t i;
	int seen_ft = 0, seen_base = 0;

	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models", NULL, &l), 200);
	json_array_foreach(json_object_get(l, "data"), i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));
		if (!strcmp(id, ft)) {
			seen_ft++;
			CHECK_STR_EQ(json_string_value(json_object_get(m, "parent")), "tiny");
			CHECK_STR_EQ(json_string_value(json_object_get(m, "root")), "tiny");
			CHECK_STR_EQ(json_string_value(json_object_get(m, "owned_by")), "user");
		} else if (!strcmp(id, "tiny")) {
			seen_base++;
			CHECK_STR_EQ(json_string_value(json_object_get(m, "owned_by")), "adalorad");
			CHECK_STR_EQ(json_string_value(json_object_get(m, "root")), "tiny");
		}
	}
	CHECK_INT_EQ(seen_ft, 1);
	CHECK_INT_EQ(seen_base, 1);
	json_decref(l);
}

/* Greedy = `adalora generate --adapter`, streamed and not. */
static void test_completion_matches_cli(void)
{
	const char *ft = ft_model(0), *prompt = "the cat sat on";
	struct completion a, b;
	char adapter[2600], model[2300], n[16], *out;
	int st;

	complete(&d, "/v1/completions", greedy(ft, prompt, 40, 0), &a);
	complete(&d, "/v1/completions", greedy(ft, prompt, 40, 1), &b);
	CHECK_INT_EQ(a.status, 200);
	CHECK_INT_EQ(b.status, 200);
	CHECK(!a.malformed && !b.malformed);
	CHECK(a.n_tokens > 0 && a.n_tokens <= 40);
	CHECK_INT_EQ(a.n_tokens, (int)a.completion_tokens);
	CHECK(a.text_len == b.text_len && !memcmp(a.text, b.text, a.text_len));
	CHECK(a.cli_len == b.cli_len && !memcmp(a.cli, b.cli, a.cli_len));
	CHECK_STR_EQ(a.finish, b.finish);
	CHECK(b.chunks > 2);
	CHECK_INT_EQ(a.prompt_tokens, b.prompt_tokens);
	CHECK_INT_EQ(a.completion_tokens, b.completion_tokens);
	/* The CLI: -n counts positions, prompt included. */
	snprintf(adapter, sizeof(adapter), "%s/data/jobs/%s/adapter", d.dir, lm_job(0));
	snprintf(model, sizeof(model), "%s/models/tiny.gguf", dir);
	snprintf(n, sizeof(n), "%ld", a.prompt_tokens + 40 - 1);
	{
		const char *args[] = { "--model", model, "--adapter", adapter, "--prompt", prompt,
				       "-n", n, "--temperature", "0", NULL };
		out = generate(args, &st);
	}
	CHECK_INT_EQ(st, 0);
	CHECK(out && !strncmp(out, prompt, strlen(prompt)));
	if (out && !strncmp(out, prompt, strlen(prompt))) {
		const char *gen = out + strlen(prompt);
		CHECK_MSG(strlen(gen) == a.cli_len + 1 && !memcmp(gen, a.cli, a.cli_len) &&
				  gen[a.cli_len] == '\n',
			  "served '%.*s' vs the CLI's '%s'", (int)a.cli_len, a.cli, gen);
	}
	free(out);
	/* The base model's numbers are not the fine-tuned one's. */
	complete(&d, "/v1/completions", greedy("tiny", prompt, 40, 0), &b);
	CHECK_INT_EQ(b.status, 200);
	CHECK(b.logprob_sum != a.logprob_sum);
}

static void test_completion_options(void)
{
	const char *ft = ft_model(0);
	struct completion a, b, c;
	json_t *body;

	/* Seeded sampling repeats itself. */
	body = json_pack("{s:s,s:s,s:i,s:f,s:I}", "model", ft, "prompt", "a", "max_tokens", 30,
			 "temperature", 1.0, "seed", (json_int_t)42);
	complete(&d, "/v1/completions", json_deep_copy(body), &a);
	complete(&d, "/v1/completions", body, &b);
	CHECK_INT_EQ(a.status, 200);
	CHECK(a.text_len == b.text_len && !memcmp(a.text, b.text, a.text_len));
	CHECK_STR_EQ(a.finish, "length");
	CHECK_INT_EQ(a.completion_tokens, 30);
	/* A stop string cuts the text before it. */
	complete(&d, "/v1/completions", greedy(ft, "the", 40, 0), &a);
	if (a.text_len > 4) {
		char stop[3] = { a.text[a.text_len / 2], a.text[a.text_len / 2 + 1], 0 };
		const char *at;
		body = greedy(ft, "the", 40, 1);
		json_object_set_new(body, "stop", json_pack("[s,s]", "\x01\x02", stop));
		complete(&d, "/v1/completions", body, &c);
		at = strstr(a.text, stop);
		CHECK_STR_EQ(c.finish, "stop");
		CHECK(at && c.text_len == (size_t)(at - a.text) && !memcmp(c.text, a.text, c.text_len));
	}
	/* Top logprobs: the chosen token is the most likely one under greedy. */
	body = json_pack("{s:s,s:s,s:i,s:i,s:i}", "model", ft, "prompt", "the", "max_tokens", 3,
			 "temperature", 0, "logprobs", 3);
	{
		const char *hdr[] = { "Content-Type: application/json", NULL };
		char *text = json_dumps(body, JSON_COMPACT);
		struct http_resp r;
		const json_t *lp;
		json_decref(body);
		http(&d, "POST", "/v1/completions", hdr, text, strlen(text), &r);
		free(text);
		CHECK_INT_EQ(r.status, 200);
		lp = json_object_get(json_array_get(json_object_get(r.json, "choices"), 0), "logprobs");
		CHECK_INT_EQ(json_array_size(json_object_get(lp, "tokens")), 3);
		for (size_t i = 0; i < 3; i++) {
			const json_t *top = json_array_get(json_object_get(lp, "top_logprobs"), i);
			double chosen = json_real_value(json_array_get(json_object_get(lp, "token_logprobs"), i));
			const char *k;
			json_t *v;
			CHECK(json_object_size(top) >= 1 && json_object_size(top) <= 3);
			json_object_foreach((json_t *)top, k, v)
				CHECK(json_real_value(v) <= chosen + 1e-9);
			CHECK(chosen <= 0);
		}
		http_resp_free(&r);
	}
	/* A prompt as token ids: the same as its text's ids. */
	complete(&d, "/v1/completions", greedy(ft, "ab", 5, 0), &a);
	body = greedy(ft, "x", 5, 0);
	json_object_set_new(body, "prompt", json_pack("[i,i,i,i]", 1, 259, 'a' + 3, 'b' + 3));
	complete(&d, "/v1/completions", body, &b);
	CHECK_INT_EQ(b.status, 200);
	CHECK_INT_EQ(b.prompt_tokens, 4);
	CHECK_INT_EQ(a.prompt_tokens, 4);
	CHECK(a.text_len == b.text_len && !memcmp(a.text, b.text, a.text_len));
}

/* ---- two adapters at once ------------------------------------------------ */

struct call {
	const char *path;
	json_t *body;
	struct completion out;
};

static void *call_main(void *arg)
{
	struct call *c = arg;

	complete(&d, c->path, c->body, &c->out);
	return NULL;
}

/* Mappings of path in the daemon and their resident kB. */
static int mappings_of(const char *path, long *rss_kb)
{
	char smaps[64], line[4400], real[4096];
	FILE *f;
	int n = 0, in = 0;

	*rss_kb = 0;
	if (!realpath(path, real))
		return -1;
	snprintf(smaps, sizeof(smaps), "/proc/%d/smaps", (int)d.pid);
	if (!(f = fopen(smaps, "r")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n'), *sp;
		if (nl)
			*nl = '\0';
		if (strchr(line, '-') && strchr(line, ' ') && line[0] != ' ' &&
		    strchr("0123456789abcdef", line[0]) && strstr(line, " ")) {
			sp = strchr(line, '/');
			in = sp && !strcmp(sp, real);
			n += in;
		} else if (in && !strncmp(line, "Rss:", 4)) {
			*rss_kb += atol(line + 4);
		}
	}
	fclose(f);
	return n;
}

static void test_two_adapters_one_base(void)
{
	const char *ft[2] = { ft_model(0), ft_model(1) };
	const char *prompts[2] = { "the dog", "a cat ran" };
	struct completion alone[2][2];
	struct call calls[8];
	pthread_t th[8];
	char model[2300];
	long rss, rss_after;
	int maps, maps_after;
	struct stat st;

	snprintf(model, sizeof(model), "%s/models/tiny.gguf", dir);
	maps = mappings_of(model, &rss);
	for (int a = 0; a < 2; a++)
		for (int p = 0; p < 2; p++) {
			complete(&d, "/v1/completions", greedy(ft[a], prompts[p], 24, p), &alone[a][p]);
			CHECK_INT_EQ(alone[a][p].status, 200);
		}
	CHECK(alone[0][0].logprob_sum != alone[1][0].logprob_sum);
	for (int i = 0; i < 8; i++) {
		calls[i].path = "/v1/completions";
		calls[i].body = greedy(ft[i % 2], prompts[(i / 2) % 2], 24, (i / 2) % 2);
		if (pthread_create(&th[i], NULL, call_main, &calls[i]))
			FATAL("pthread_create");
	}
	for (int i = 0; i < 8; i++) {
		const struct completion *w = &alone[i % 2][(i / 2) % 2], *g = &calls[i].out;
		pthread_join(th[i], NULL);
		CHECK_INT_EQ(g->status, 200);
		CHECK(!g->malformed);
		CHECK_MSG(g->cli_len == w->cli_len && !memcmp(g->cli, w->cli, w->cli_len) &&
				  g->text_len == w->text_len && !memcmp(g->text, w->text, w->text_len),
			  "adapter %d, prompt %d: concurrent '%.*s' vs alone '%.*s'", i % 2, (i / 2) % 2,
			  (int)g->text_len, g->text, (int)w->text_len, w->text);
	}
	/* One base under both adapters: no job runs, so the file is mapped
	 * once (serving's), its resident pages no more than the file has. */
	maps_after = mappings_of(model, &rss_after);
	CHECK(maps >= 0 && stat(model, &st) == 0);
	CHECK_MSG(maps_after == 1, "the model file is mapped %d times (before these requests: %d)",
		  maps_after, maps);
	CHECK_MSG(rss_after <= (long)(st.st_size / 1024) + 8,
		  "%ld kB of the %lld-byte model file resident", rss_after, (long long)st.st_size);
	CHECK_INT_EQ(metric(&d, "adalorad_serve_bases"), 1);
	CHECK(metric(&d, "adalorad_serve_adapters") >= 2);
}

/* ---- 16 streams while a job trains ------------------------------------- */

static void test_streams_while_training(void)
{
	const char *ft = ft_model(0);
	struct completion want[4];
	struct call calls[16];
	pthread_t th[16];
	char *a = NULL, *b = NULL;
	json_t *job;
	long step_then;

	/* Four kinds of stream: two bases, an adapter on one of them. */
	const char *models[4] = { ft, "tiny", ft, "chat" };
	const char *prompts[4] = { "the sun", "the sun", "zebra", "zebra" };

	for (int k = 0; k < 4; k++) {
		complete(&d, "/v1/completions", greedy(models[k], prompts[k], 32, 1), &want[k]);
		CHECK_INT_EQ(want[k].status, 200);
	}
	/* The job alone, then the same job with the streams beside it. */
	CHECK_INT_EQ(job_create(&d, adalora_job("tiny", corpus_id, 300, 64, 0), &a), 201);
	job = wait_job(&d, a, 600);
	CHECK_STR_EQ(job_status(job), "succeeded");
	json_decref(job);
	CHECK_INT_EQ(job_create(&d, adalora_job("tiny", corpus_id, 300, 64, 0), &b), 201);
	json_decref(wait_step(&d, b, 5, 300));
	for (int i = 0; i < 16; i++) {
		calls[i].path = "/v1/completions";
		calls[i].body = greedy(models[i % 4], prompts[i % 4], 32, 1);
		if (pthread_create(&th[i], NULL, call_main, &calls[i]))
			FATAL("pthread_create");
	}
	for (int i = 0; i < 16; i++) {
		const struct completion *w = &want[i % 4];
		pthread_join(th[i], NULL);
		CHECK_INT_EQ(calls[i].out.status, 200);
		CHECK(!calls[i].out.malformed);
		CHECK(calls[i].out.chunks > 1);
		CHECK_MSG(calls[i].out.cli_len == w->cli_len &&
				  !memcmp(calls[i].out.cli, w->cli, w->cli_len),
			  "stream %d differs from the same request alone", i);
	}
	job = wait_job(&d, b, 0);
	step_then = (long)json_integer_value(json_object_get(json_object_get(job, "progress"), "step"));
	fprintf(stderr, "the job was at step %ld of 300 when the streams ended\n", step_then);
	json_decref(job);
	job = wait_job(&d, b, 600);
	CHECK_STR_EQ(job_status(job), "succeeded");
	json_decref(job);
	CHECK(same_adapter_file(&d, a, b, "adapter_model.safetensors"));
	CHECK(same_adapter_file(&d, a, b, "adapter_config.json"));
	free(a);
	free(b);
}

/* ---- hostile requests ---------------------------------------------------- */

static void refused(const char *path, const char *body, long status, const char *param)
{
	const char *hdr[] = { "Content-Type: application/json", NULL };
	struct http_resp r;
	const char *p;

	http(&d, "POST", path, hdr, body, strlen(body), &r);
	p = json_string_value(json_object_get(json_object_get(r.json, "error"), "param"));
	CHECK_MSG(r.status == status, "%s %s: %ld, wanted %ld", path, body, r.status, status);
	CHECK_MSG(p ? !strcmp(p, param) : !param[0], "%s %s: param %s, wanted %s", path, body,
		  p ? p : "null", param);
	http_resp_free(&r);
}

static void test_hostile(void)
{
	const char *C = "/v1/completions", *K = "/v1/chat/completions", *X = "/v1/classifications";

	refused(C, "{\"model\":\"nope\",\"prompt\":\"x\"}", 400, "model");
	refused(C, "{\"model\":\"ft:tiny:x:ftjob-nope\",\"prompt\":\"x\"}", 400, "model");
	refused(C, "{\"prompt\":\"x\"}", 400, "model");
	refused(C, "{\"model\":\"tiny\"}", 400, "prompt");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"max_tokens\":100000}", 400, "max_tokens");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"max_tokens\":4000}", 400, "max_tokens");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"max_tokens\":0}", 400, "max_tokens");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"temperature\":-0.5}", 400, "temperature");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"top_p\":0}", 400, "top_p");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"a\xff\xfe\"}", 400, "prompt");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"a\\udc00\"}", 400, "prompt");
	refused(C, "{\"model\":\"tiny\",\"prompt\":[1,99999]}", 400, "prompt");
	refused(C, "{\"model\":\"tiny\",\"prompt\":[\"a\",\"b\"]}", 400, "prompt");
	refused(C, "{\"model\":\"tiny\",\"prompt\":{}}", 400, "prompt");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"n\":2}", 400, "n");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"best_of\":3}", 400, "best_of");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"echo\":true}", 400, "echo");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"logprobs\":21}", 400, "logprobs");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400,
		"stop");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"stop\":[\"a\",3]}", 400, "stop[1]");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}",
		400, "stream_options");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"presence_penalty\":1}", 400,
		"presence_penalty");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"mystery\":1}", 400, "mystery");
	refused(C, "{\"model\":\"tiny\",\"prompt\":\"x\",\"seed\":\"1\"}", 400, "seed");
	refused(C, "[1]", 400, "");
	refused(K, "{\"model\":\"chat\",\"messages\":\"hi\"}", 400, "messages");
	refused(K, "{\"model\":\"chat\",\"messages\":[]}", 400, "messages");
	refused(K, "{\"model\":\"chat\",\"messages\":[\"hi\"]}", 400, "messages[0]");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"content\":\"hi\"}]}", 400, "messages[0].role");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", 400,
		"messages[0].role");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"tool\",\"content\":\"hi\"}]}", 400,
		"messages[0].role");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400,
		"messages[0].content");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0].content");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
		400, "messages[0].content");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"x\":1}]}",
		400, "messages[0].x");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xc3\"}]}", 400,
		"messages[0].content");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_logprobs\":2}",
		400, "top_logprobs");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{}]}",
		400, "tools");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_object\"}}",
		400, "response_format");
	refused(K, "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 400,
		"model");
	refused(K, "{\"model\":\"chat\",\"messages\":[{\"role\":\"assistant\",\"content\":\"hi\"},{\"role\":\"system\",\"content\":\"x\"}],\"max_tokens\":250}",
		400, "max_tokens");
	refused(X, "{\"model\":\"tiny\",\"input\":\"x\"}", 400, "model");
	refused(X, "{\"model\":\"tiny\"}", 400, "input");
	refused(X, "{\"model\":\"tiny\",\"input\":[\"a\",5]}", 400, "input[1]");
	{
		/* A JSON route needs its content type; other methods are 405. */
		struct http_resp r;
		http(&d, "POST", C, NULL, "{}", 2, &r);
		CHECK_INT_EQ(r.status, 415);
		http_resp_free(&r);
		CHECK_INT_EQ(http_status(&d, "GET", C, NULL), 405);
	}
}

/* ---- chat -------------------------------------------------------------------- */

static void test_chat(void)
{
	const char *msgs = "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
			   "{\"role\":\"user\",\"content\":\"Hello there\"}]";
	json_t *m = json_loads(msgs, 0, NULL);
	struct completion a, b;
	char model[2300], n[16], *out;
	int st;

	complete(&d, "/v1/chat/completions",
		 json_pack("{s:s,s:O,s:i,s:i,s:b}", "model", "chat", "messages", m, "max_tokens", 40,
			   "temperature", 0, "logprobs", 1), &a);
	complete(&d, "/v1/chat/completions",
		 json_pack("{s:s,s:O,s:i,s:i,s:b,s:b,s:{s:b}}", "model", "chat", "messages", m,
			   "max_tokens", 40, "temperature", 0, "logprobs", 1, "stream", 1,
			   "stream_options", "include_usage", 1), &b);
	CHECK_INT_EQ(a.status, 200);
	CHECK_INT_EQ(b.status, 200);
	CHECK(a.text_len == b.text_len && !memcmp(a.text, b.text, a.text_len));
	CHECK_INT_EQ(a.prompt_tokens, b.prompt_tokens);
	CHECK(a.prompt_tokens > 20);
	CHECK_STR_EQ(a.finish, b.finish);
	/* The CLI with the same messages. */
	snprintf(model, sizeof(model), "%s/models/chat.gguf", dir);
	snprintf(n, sizeof(n), "%ld", a.prompt_tokens + 40 - 1);
	{
		const char *args[] = { "--model", model, "--messages", msgs, "-n", n,
				       "--temperature", "0", NULL };
		out = generate(args, &st);
	}
	CHECK_INT_EQ(st, 0);
	CHECK_MSG(out && strlen(out) == a.cli_len + 1 && !memcmp(out, a.cli, a.cli_len),
		  "chat: served '%.*s' vs the CLI's '%s'", (int)a.cli_len, a.cli, out ? out : "");
	free(out);
	json_decref(m);
}

/* ---- classification ---------------------------------------------------------- */

static const char *cls_model(void)
{
	static char name[512];
	char *id = NULL;
	json_t *job, *body;

	if (name[0])
		return name;
	body = json_pack("{s:s,s:s,s:i,s:{s:s,s:{s:{s:i,s:i,s:i,s:f,s:i}}}}", "model", "tiny",
			 "training_file", zebra_id, "seed", 3, "method", "type", "lora", "lora",
			 "hyperparameters", "max_steps", 30, "seq_len", 16, "batch_size", 8,
			 "learning_rate", 0.02, "r", 4);
	CHECK_INT_EQ(job_create(&d, body, &id), 201);
	if (!id)
		FATAL("no job");
	job = wait_job(&d, id, 300);
	CHECK_STR_EQ(job_status(job), "succeeded");
	snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(job, "fine_tuned_model")));
	json_decref(job);
	free(id);
	return name;
}

static void test_classifications(void)
{
	const char *m = cls_model();
	json_t *out = NULL, *one = NULL, *e;
	size_t i;

	CHECK_INT_EQ(http_json(&d, "POST", "/v1/classifications",
			       json_pack("{s:s,s:[s,s,s]}", "model", m, "input", "the zebra sat",
					 "a cat ran", "zebra"), &out), 200);
	CHECK_STR_EQ(json_string_value(json_object_get(out, "object")), "list");
	CHECK_INT_EQ(json_array_size(json_object_get(out, "data")), 3);
	CHECK(json_integer_value(json_object_get(json_object_get(out, "usage"), "prompt_tokens")) > 3);
	json_array_foreach(json_object_get(out, "data"), i, e) {
		const json_t *scores = json_object_get(e, "scores");
		const char *label = json_string_value(json_object_get(e, "label"));
		double sum = 0, best = -1;
		const char *k;
		json_t *v;
		CHECK_INT_EQ(json_integer_value(json_object_get(e, "index")), (json_int_t)i);
		CHECK(label && (!strcmp(label, "positive") || !strcmp(label, "negative")));
		CHECK_INT_EQ(json_object_size(scores), 2);
		json_object_foreach((json_t *)scores, k, v) {
			sum += json_real_value(v);
			best = json_real_value(v) > best ? json_real_value(v) : best;
		}
		CHECK_NEAR(sum, 1.0, 1e-6);
		CHECK_NEAR(json_real_value(json_object_get(e, "score")), best, 1e-9);
		CHECK_NEAR(json_real_value(json_object_get(scores, label)), best, 1e-9);
	}
	/* One at a time: the same numbers. */
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/classifications",
			       json_pack("{s:s,s:s}", "model", m, "input", "a cat ran"), &one), 200);
	CHECK_NEAR(json_real_value(json_object_get(json_array_get(json_object_get(one, "data"), 0),
						   "score")),
		   json_real_value(json_object_get(json_array_get(json_object_get(out, "data"), 1),
						   "score")), 1e-12);
	json_decref(one);
	json_decref(out);
	/* Pairs are inputs too; a generator is not a classifier. */
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/classifications",
			       json_pack("{s:s,s:[[s,s]]}", "model", m, "input", "a", "zebra"), &out), 200);
	json_decref(out);
	refused("/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"x\"}", 200, "");
	{
		char body[1200];
		snprintf(body, sizeof(body), "{\"model\":\"%s\",\"prompt\":\"x\"}", m);
		refused("/v1/completions", body, 400, "model");
		snprintf(body, sizeof(body), "{\"model\":\"%s\",\"input\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\",\"w\",\"x\",\"y\",\"z\",\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\",\"w\",\"x\",\"y\",\"z\",\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\"]}", m);
		refused("/v1/classifications", body, 400, "input");
		snprintf(body, sizeof(body), "{\"model\":\"%s\",\"input\":[[\"a\"]]}", m);
		refused("/v1/classifications", body, 400, "input[0]");
	}
}

/* ---- limits and hang-ups --------------------------------------------------------- */

struct raw_stream {
	int fd;
};

/* Send a streaming completion on a raw connection; read until its first
 * chunk has come. Sampled with a fixed seed: unseeded, a stream could
 * choose the end-of-text token early and end before the test is done with
 * it (the queue test then found its one slot free again). */
static int start_stream(struct daemon *dm, int max_tokens)
{
	char req[1024], body[256], buf[4096];
	int fd = tcp_connect(dm), n, len;
	size_t got = 0;
	double t0 = now_s();

	if (fd < 0)
		FATAL("connect");
	len = snprintf(body, sizeof(body),
		       "{\"model\":\"tiny\",\"prompt\":\"the\",\"max_tokens\":%d,\"stream\":true,\"temperature\":1,\"seed\":11}",
		       max_tokens);
	n = snprintf(req, sizeof(req),
		     "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		     "Content-Length: %d\r\n\r\n%s", len, body);
	if (write(fd, req, (size_t)n) != n)
		FATAL("write");
	while (now_s() - t0 < 60) {
		ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
		buf[got] = '\0';
		if (strstr(buf, "data: {"))
			return fd;
		if (got == sizeof(buf) - 1)
			got = 0;
	}
	FATAL("the stream did not start: %s", buf);
}

struct waiter {
	struct daemon *dm;
	struct completion out;
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;

	complete(w->dm, "/v1/completions",
		 json_pack("{s:s,s:s,s:i}", "model", "tiny", "prompt", "x", "max_tokens", 3), &w->out);
	return NULL;
}

static void test_queue_and_hangup(void)
{
	struct daemon dl;
	const char *args[] = { "--serve-max-sequences", "1", "--serve-max-queue", "1", NULL };
	char *ldir = scratch_dir("serve-limits");
	struct waiter w = { .dm = &dl };
	pthread_t th;
	struct http_resp r;
	const char *hdr[] = { "Content-Type: application/json", NULL };
	const char *body = "{\"model\":\"tiny\",\"prompt\":\"x\",\"max_tokens\":2}";
	long tokens;
	int fd;

	models_create_tiny(ldir);
	setenv("ADALORAD_TEST_SERVE_STEP_MS", "20", 1);
	daemon_start(&dl, ldir, args);
	unsetenv("ADALORAD_TEST_SERVE_STEP_MS");
	/* The one slot: a long stream (200 steps of 20 ms at the least). */
	fd = start_stream(&dl, 200);
	CHECK_INT_EQ(metric(&dl, "adalorad_serve_sequences"), 1);
	/* The one place in the queue. */
	if (pthread_create(&th, NULL, wait_main, &w))
		FATAL("pthread_create");
	for (double t0 = now_s(); metric(&dl, "adalorad_serve_queued") != 1 && now_s() - t0 < 30;)
		usleep(10000);
	CHECK_INT_EQ(metric(&dl, "adalorad_serve_queued"), 1);
	/* Beyond: 429 with Retry-After. */
	http(&dl, "POST", "/v1/completions", hdr, body, strlen(body), &r);
	CHECK_INT_EQ(r.status, 429);
	CHECK(r.headers && strcasestr(r.headers, "\nRetry-After: 1"));
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(r.json, "error"), "type")),
		     "rate_limit_error");
	http_resp_free(&r);
	CHECK_INT_EQ(metric(&dl, "adalorad_serve_rejected_total"), 1);
	/* Hang up: the stream's generation stops, the waiting request runs. */
	close(fd);
	pthread_join(th, NULL);
	CHECK_INT_EQ(w.out.status, 200);
	CHECK(!w.out.malformed);
	for (double t0 = now_s();
	     metric(&dl, "adalorad_serve_finished_total{reason=\"client_gone\"}") != 1 &&
	     now_s() - t0 < 30;)
		usleep(10000);
	CHECK_INT_EQ(metric(&dl, "adalorad_serve_finished_total{reason=\"client_gone\"}"), 1);
	tokens = metric(&dl, "adalorad_serve_tokens_generated_total");
	CHECK_MSG(tokens < 200, "%ld tokens generated: the hang-up did not stop the stream", tokens);
	/* The engine frees a slot just after the answer went out. */
	for (double t0 = now_s(); metric(&dl, "adalorad_serve_sequences") != 0 && now_s() - t0 < 30;)
		usleep(10000);
	CHECK_INT_EQ(metric(&dl, "adalorad_serve_sequences"), 0);
	CHECK_INT_EQ(daemon_stop(&dl), 0);
	free(ldir);
}

int main(void)
{
	struct chat_model_opts co;
	struct ada_err err = { 0 };
	char path[2300];

	dir = scratch_dir("serve");
	models_create_tiny(dir);
	chat_model_chatml(&co);
	snprintf(path, sizeof(path), "%s/models/chat.gguf", dir);
	if (chat_model_write(path, &co, 9, &err))
		FATAL("%s", err.msg);
	snprintf(path, sizeof(path), "%s/corpus.jsonl", dir);
	write_jsonl(path, 0, 30000);
	daemon_start(&d, dir, (const char *const[]){ "--serve-threads", "2", NULL });
	corpus_id = upload(&d, path, "corpus.jsonl");
	snprintf(path, sizeof(path), "%s/zebra.jsonl", dir);
	if (task_write_zebra(path, 200, 5, ZEBRA_STRING, NULL, &err))
		FATAL("%s", err.msg);
	zebra_id = upload(&d, path, "zebra.jsonl");

	RUN(test_models_listed);
	RUN(test_completion_matches_cli);
	RUN(test_completion_options);
	RUN(test_two_adapters_one_base);
	RUN(test_streams_while_training);
	RUN(test_hostile);
	RUN(test_chat);
	RUN(test_classifications);
	RUN(test_queue_and_hangup);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	return check_summary();
}
