/*
 * test_harden — what an outside red-team pass found (issue 12), each
 * checked against a real daemon: requests that must now be accepted (raw
 * uploads of any type, a one-character multipart boundary), HTTP framing
 * refused per RFC 9112, cross-site writes and DNS rebinding refused, and
 * the streams of vanished clients freed. Offline (a random tiny model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adalora.h"
#include "harness.h"

static struct daemon d;
static char *dir;

static const char good[] = "{\"text\":\"a raw upload\"}\n";

/* A raw upload with this Content-Type line (NULL: curl's default for
 * --data-binary, application/x-www-form-urlencoded) is stored as sent. */
static void expect_raw_upload(const char *ct, const char *what)
{
	const char *h[] = { ct, NULL };
	char path[256];
	struct http_resp r;

	http(&d, "POST", "/v1/files?purpose=fine-tune&filename=raw.jsonl", ct ? h : NULL, good,
	     sizeof(good) - 1, &r);
	CHECK_MSG(r.status == 200, "%s: %ld %s", what, r.status, r.body);
	snprintf(path, sizeof(path), "/v1/files/%s/content",
		 json_string_value(json_object_get(r.json, "id")) ?: "none");
	http_resp_free(&r);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_MSG(r.status == 200 && r.len == sizeof(good) - 1 && !memcmp(r.body, good, r.len),
		  "%s: the stored bytes differ", what);
	http_resp_free(&r);
}

static void test_raw_uploads(void)
{
	expect_raw_upload(NULL, "curl --data-binary (x-www-form-urlencoded)");
	expect_raw_upload("Content-Type: application/json", "application/json");
	expect_raw_upload("Content-Type:", "no Content-Type");
	expect_raw_upload("Content-Type: text/plain; charset=utf-8", "text/plain");
}

static void test_short_boundary(void)
{
	static const char body[] =
		"--a\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
		"--a\r\nContent-Disposition: form-data; name=\"file\"; filename=\"one.jsonl\"\r\n\r\n"
		"{\"text\":\"a-b\"}\n\r\n--a--\r\n";
	const char *h[] = { "Content-Type: multipart/form-data; boundary=a", NULL };
	struct http_resp r;

	http(&d, "POST", "/v1/files", h, body, sizeof(body) - 1, &r);
	CHECK_MSG(r.status == 200, "a one-character boundary: %ld %s", r.status, r.body);
	CHECK_STR_EQ(json_string_value(json_object_get(r.json, "filename")), "one.jsonl");
	CHECK_INT_EQ(json_integer_value(json_object_get(r.json, "bytes")), 15);
	http_resp_free(&r);
}

/* The browsers that may write: the daemon's own pages, names and origins
 * the operator allows (with CORS), and clients that are not browsers. */
static void test_allowed_writers(void)
{
	char own[160], host[160];
	const char *sched = "{\"total_steps\":100,\"n_matrices\":10}";
	struct http_resp r;

	CHECK_INT_EQ(daemon_stop(&d), 0);
	daemon_start(&d, dir, (const char *const[]){ "--allowed-hosts", "adalora.test, .lan",
						     "--allowed-origins",
						     "https://dash.example.com", NULL });
	/* The dashboard's own requests: Origin equal to Host. */
	snprintf(own, sizeof(own), "Origin: %s", d.base);
	snprintf(host, sizeof(host), "Host: %s", d.base + 7);
	http(&d, "POST", "/v1/adalora/schedule",
	     (const char *const[]){ "Content-Type: application/json", own, host,
				    "Sec-Fetch-Site: same-origin", NULL },
	     sched, strlen(sched), &r);
	CHECK_MSG(r.status == 200, "same origin: %ld %s", r.status, r.body);
	CHECK(strstr(r.headers, "Access-Control-Allow-Origin") == NULL);
	http_resp_free(&r);
	/* Names: localhost, allowed ones, a trailing dot; ports do not matter. */
	{
		static const char *const hosts[] = {
			"Host: localhost:1", "Host: LOCALHOST", "Host: api.localhost",
			"Host: adalora.test:8080", "Host: box.lan", "Host: lan.", "Host: [::1]:9",
			"Host: 10.1.2.3",
		};
		for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
			http(&d, "GET", "/healthz", (const char *const[]){ hosts[i], NULL }, NULL, 0, &r);
			CHECK_MSG(r.status == 200, "%s: %ld", hosts[i], r.status);
			http_resp_free(&r);
		}
		http(&d, "GET", "/healthz", (const char *const[]){ "Host: adalora.test.evil", NULL },
		     NULL, 0, &r);
		CHECK_INT_EQ(r.status, 403);
		http_resp_free(&r);
	}
	/* An allowed origin: the preflight, then the request, both with CORS. */
	http(&d, "OPTIONS", "/v1/adalora/schedule",
	     (const char *const[]){ "Origin: https://dash.example.com",
				    "Access-Control-Request-Method: POST",
				    "Access-Control-Request-Headers: content-type, authorization",
				    NULL },
	     NULL, 0, &r);
	CHECK_INT_EQ(r.status, 204);
	CHECK(strstr(r.headers, "Access-Control-Allow-Origin: https://dash.example.com") != NULL);
	CHECK(strstr(r.headers, "Access-Control-Allow-Headers: Authorization, Content-Type") != NULL);
	CHECK(strstr(r.headers, "Access-Control-Allow-Methods: POST") != NULL);
	http_resp_free(&r);
	http(&d, "POST", "/v1/adalora/schedule",
	     (const char *const[]){ "Content-Type: application/json",
				    "Origin: https://dash.example.com", "Sec-Fetch-Site: cross-site",
				    NULL },
	     sched, strlen(sched), &r);
	CHECK_MSG(r.status == 200, "an allowed origin: %ld %s", r.status, r.body);
	CHECK(strstr(r.headers, "Access-Control-Allow-Origin: https://dash.example.com") != NULL);
	http_resp_free(&r);
	/* Not a browser: no Origin, no Sec-Fetch-Site. */
	http(&d, "POST", "/v1/adalora/schedule", (const char *const[]){ "Content-Type: application/json", NULL },
	     sched, strlen(sched), &r);
	CHECK_INT_EQ(r.status, 200);
	http_resp_free(&r);
}

static char *create_job(const char *file, long max_steps)
{
	char *id = NULL;

	CHECK_INT_EQ(job_create(&d, adalora_job("tiny", file, max_steps, 32, 0), &id), 201);
	return id ? id : strdup("");
}

/* No server path in what a client sees: the adapter names its base model
 * by id, a failed job's error names its files by their place. */
static void test_no_server_paths(void)
{
	char data[2200], path[2600], *file, *ok, *busy, *broken, *text;
	struct http_resp r;
	json_t *j, *cfg;
	FILE *f;

	snprintf(data, sizeof(data), "%s/words.jsonl", dir);
	write_jsonl(data, 0, 20000);
	file = upload(&d, data, "words.jsonl");
	ok = create_job(file, 6);
	j = wait_job(&d, ok, 120);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "status")), "succeeded");
	json_decref(j);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/adapter_config.json", ok);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	cfg = json_loadb(r.body, r.len, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(cfg, "base_model_name_or_path")), "tiny");
	CHECK_MSG(!strstr(r.body, dir), "adapter_config.json holds a server path: %s", r.body);
	json_decref(cfg);
	http_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?limit=100", ok);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_MSG(!strstr(r.body, dir), "an event holds a server path");
	CHECK(strstr(r.body, " on tiny:") != NULL);
	http_resp_free(&r);

	/* A job that finds a damaged checkpoint in its directory fails, saying
	 * which file without saying where the directory is. */
	busy = create_job(file, 100000);
	json_decref(wait_step(&d, busy, 1, 120));
	broken = create_job(file, 6);
	snprintf(path, sizeof(path), "%s/data/jobs/%s/checkpoint", dir, broken);
	{
		char cmd[2800];
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
		CHECK_INT_EQ(system(cmd), 0);
	}
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/state.bin");
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("not a checkpoint at all, but long enough to be read as one", f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", busy);
	CHECK_INT_EQ(http_json(&d, "POST", path, NULL, NULL), 200);
	j = wait_job(&d, broken, 120);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "status")), "failed");
	text = json_dumps(json_object_get(j, "error"), JSON_ENCODE_ANY);
	if (!text)
		text = strdup("(none)");
	CHECK_MSG(strstr(text, "the job's checkpoint/state.bin") != NULL, "error: %s", text);
	CHECK_MSG(!strstr(text, dir) && !strstr(text, "/data/"), "a server path: %s", text);
	free(text);
	json_decref(j);
	json_decref(wait_job(&d, busy, 60));
	free(file);
	free(ok);
	free(busy);
	free(broken);
}

/* --job-memory-limit: a job whose estimated peak does not fit is refused
 * at creation (400 naming the batch field), or by its plan once the data
 * is counted (failed, the same param); one that fits runs. */
static void test_memory_limit(void)
{
	char small[2200], big[2200], model[2200], lim[32], *fsmall, *fbig, *id;
	struct ada_model_info info;
	struct ada_err err = { 0 };
	struct ada_memory bare, with_data;
	struct ada_method m;
	struct ada_plan plan;
	struct ada_job job = { 0 };
	json_t *body, *out = NULL, *e;
	int64_t limit;

	snprintf(model, sizeof(model), "%s/models/tiny.gguf", dir);
	snprintf(small, sizeof(small), "%s/small.jsonl", dir);
	snprintf(big, sizeof(big), "%s/big.jsonl", dir);
	write_jsonl(small, 0, 20000);
	write_jsonl(big, 0, 3 << 20);
	/* The limit: between the job's estimate without its data (what
	 * creation checks) and with the big file's (what the plan checks). */
	body = adalora_job("tiny", "file-x", 6, 64, 0);
	CHECK_OK(ada_method_from_json(json_object_get(body, "method"), &m, &err), &err);
	json_decref(body);
	CHECK_OK(ada_model_probe(model, &info, &err), &err);
	job.model = model;
	job.train_file = big;
	job.out_dir = dir;
	job.method = m;
	CHECK_OK(ada_job_plan(&job, &plan, &err), &err);
	ada_memory_estimate(&info, &m, ADA_TASK_CAUSAL_LM, 0, 2, 0, &bare);
	ada_memory_estimate(&info, &m, ADA_TASK_CAUSAL_LM, 0, 2,
			    plan.train_windows + plan.valid_windows, &with_data);
	CHECK(with_data.total - bare.total > (4 << 20));
	limit = (bare.total + with_data.total) / 2;
	snprintf(lim, sizeof(lim), "%lld", (long long)limit);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	daemon_start(&d, dir, (const char *const[]){ "--job-memory-limit", lim, "--blas-threads", "2",
						     "--workers", "1", NULL });
	fsmall = upload(&d, small, "small.jsonl");
	fbig = upload(&d, big, "big.jsonl");

	/* Too big a batch: refused before anything is stored. */
	body = adalora_job("tiny", fsmall, 6, 256, 0);
	json_object_set_new(json_object_get(json_object_get(json_object_get(body, "method"),
							    "adalora"), "hyperparameters"),
			    "batch_size", json_integer(512));
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs", body, &out), 400);
	e = json_object_get(out, "error");
	CHECK_STR_EQ(json_string_value(json_object_get(e, "code")), "exceeds_memory_limit");
	CHECK_STR_EQ(json_string_value(json_object_get(e, "param")),
		     "method.adalora.hyperparameters.batch_size");
	CHECK(strstr(json_string_value(json_object_get(e, "message")) ?: "", "micro_batch_size") != NULL);
	json_decref(out);
	/* With gradient accumulation, the micro-batch is what to lower. */
	body = adalora_job("tiny", fsmall, 6, 256, 0);
	json_object_set_new(json_object_get(json_object_get(json_object_get(body, "method"),
							    "adalora"), "hyperparameters"),
			    "batch_size", json_integer(1024));
	json_object_set_new(json_object_get(json_object_get(json_object_get(body, "method"),
							    "adalora"), "hyperparameters"),
			    "micro_batch_size", json_integer(512));
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs", body, &out), 400);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(out, "error"), "param")),
		     "method.adalora.hyperparameters.micro_batch_size");
	json_decref(out);

	/* Fits without its data, not with it: the plan fails it. */
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs", adalora_job("tiny", fbig, 6, 64, 0),
			       &out), 201);
	id = strdup(json_string_value(json_object_get(out, "id")) ?: "");
	json_decref(out);
	out = wait_job(&d, id, 120);
	CHECK_STR_EQ(json_string_value(json_object_get(out, "status")), "failed");
	e = json_object_get(out, "error");
	CHECK_STR_EQ(json_string_value(json_object_get(e, "param")),
		     "method.adalora.hyperparameters.batch_size");
	CHECK(strstr(json_string_value(json_object_get(e, "message")) ?: "", "with its data") != NULL);
	json_decref(out);
	free(id);

	/* One that fits runs, and its plan says what it will take. */
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs", adalora_job("tiny", fsmall, 6, 64, 0),
			       &out), 201);
	id = strdup(json_string_value(json_object_get(out, "id")) ?: "");
	json_decref(out);
	out = wait_job(&d, id, 120);
	CHECK_STR_EQ(json_string_value(json_object_get(out, "status")), "succeeded");
	json_decref(out);
	{
		char path[256];
		struct http_resp r;
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?limit=100", id);
		http(&d, "GET", path, NULL, NULL, 0, &r);
		CHECK(strstr(r.body, "MiB at the peak") != NULL);
		http_resp_free(&r);
	}
	free(id);
	free(fsmall);
	free(fbig);
}

int main(void)
{
	dir = scratch_dir("harden");
	models_create_tiny(dir);
	daemon_start(&d, dir, NULL);
	RUN(test_raw_uploads);
	RUN(test_short_boundary);
	RUN(test_allowed_writers);
	RUN(test_no_server_paths);
	RUN(test_memory_limit);
	CHECK(daemon_alive(&d));
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(dir);
	return check_summary();
}
