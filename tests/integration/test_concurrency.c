/*
 * test_concurrency — two workers train two jobs at the same time, and each
 * result is byte-identical to the same job run alone with the same number
 * of BLAS threads; meanwhile 200 clients poll the daemon concurrently and
 * every answer is correct.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define STEPS 150
#define CLIENTS 200
#define ROUNDS 10

static struct daemon d;
static char *dir, *file_id, data[2200];

static char *create(int seed)
{
	json_t *body = adalora_job("stories260K", file_id, STEPS, 64, 50);
	char *id = NULL;

	json_object_set_new(body, "seed", json_integer(seed));
	CHECK_INT_EQ(job_create(&d, body, &id), 201);
	return id ? id : strdup("");
}

struct client {
	CURL *c;
	char body[1 << 16];
	size_t len;
	int rounds;
	long last_step;
	const char *job;
	int kind;       /* 0: the job, 1: its events, 2: /healthz */
};

static int bad_answers, answers;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct client *cl = ud;
	size_t k = size * n;

	if (cl->len + k >= sizeof(cl->body))
		return 0;
	memcpy(cl->body + cl->len, p, k);
	cl->len += k;
	cl->body[cl->len] = '\0';
	return k;
}

static void client_arm(struct client *cl, const char *base)
{
	char url[512];

	if (cl->kind == 0)
		snprintf(url, sizeof(url), "%s/v1/fine_tuning/jobs/%s", base, cl->job);
	else if (cl->kind == 1)
		snprintf(url, sizeof(url), "%s/v1/fine_tuning/jobs/%s/events?limit=5", base, cl->job);
	else
		snprintf(url, sizeof(url), "%s/healthz", base);
	cl->len = 0;
	curl_easy_setopt(cl->c, CURLOPT_URL, url);
}

/* Is this answer right for what the client asked? */
static int answer_ok(struct client *cl)
{
	json_t *j = json_loads(cl->body, 0, NULL);
	int ok = 0;

	if (cl->kind == 0) {
		long step = (long)json_integer_value(json_object_get(json_object_get(j, "progress"),
								     "step"));
		const char *st = json_string_value(json_object_get(j, "status"));
		ok = !strcmp(json_string_value(json_object_get(j, "id")) ?: "", cl->job) && st &&
		     step >= cl->last_step && step <= STEPS;
		cl->last_step = step;
	} else if (cl->kind == 1) {
		ok = !strcmp(json_string_value(json_object_get(j, "object")) ?: "", "list") &&
		     json_array_size(json_object_get(j, "data")) == 5;
	} else {
		ok = !strcmp(json_string_value(json_object_get(j, "status")) ?: "", "ok");
	}
	json_decref(j);
	return ok;
}

/* CLIENTS concurrent connections, each asking ROUNDS times. */
static void poll_storm(const char *job_a, const char *job_b)
{
	static struct client cl[CLIENTS];
	CURLM *m = curl_multi_init();
	int running = 1;

	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)CLIENTS);
	for (int i = 0; i < CLIENTS; i++) {
		cl[i].c = curl_easy_init();
		cl[i].job = i % 2 ? job_a : job_b;
		cl[i].kind = i % 10 == 9 ? 2 : i % 10 == 8 ? 1 : 0;
		cl[i].rounds = 0;
		cl[i].last_step = 0;
		curl_easy_setopt(cl[i].c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(cl[i].c, CURLOPT_WRITEDATA, &cl[i]);
		curl_easy_setopt(cl[i].c, CURLOPT_PRIVATE, &cl[i]);
		curl_easy_setopt(cl[i].c, CURLOPT_TIMEOUT, 60L);
		client_arm(&cl[i], d.base);
		curl_multi_add_handle(m, cl[i].c);
	}
	while (running) {
		CURLMsg *msg;
		int left;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct client *c;
			long status = 0;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			answers++;
			if (msg->data.result != CURLE_OK || status != 200 || !answer_ok(c)) {
				bad_answers++;
				fprintf(stderr, "client %ld: curl %d, HTTP %ld: %.200s\n",
					(long)(c - cl), msg->data.result, status, c->body);
			}
			curl_multi_remove_handle(m, c->c);
			if (++c->rounds < ROUNDS) {
				client_arm(c, d.base);
				curl_multi_add_handle(m, c->c);
				running = 1;
			}
		}
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < CLIENTS; i++)
		curl_easy_cleanup(cl[i].c);
	curl_multi_cleanup(m);
}

static void test_two_workers(void)
{
	char *a, *b, *a_alone, *b_alone;
	json_t *ja, *jb;

	daemon_start(&d, dir, (const char *const[]){ "--workers", "2", "--blas-threads", "2", NULL });
	file_id = upload(&d, data, "shakespeare.jsonl");
	a = create(7);
	b = create(8);
	/* Both run at once (while 200 clients poll). */
	ja = wait_step(&d, a, 1, 60);
	jb = wait_step(&d, b, 1, 60);
	CHECK_STR_EQ(json_string_value(json_object_get(ja, "status")), "running");
	CHECK_STR_EQ(json_string_value(json_object_get(jb, "status")), "running");
	json_decref(ja);
	json_decref(jb);
	poll_storm(a, b);
	CHECK_INT_EQ(answers, CLIENTS * ROUNDS);
	CHECK_INT_EQ(bad_answers, 0);
	ja = wait_job(&d, a, 300);
	jb = wait_job(&d, b, 300);
	CHECK_STR_EQ(json_string_value(json_object_get(ja, "status")), "succeeded");
	CHECK_STR_EQ(json_string_value(json_object_get(jb, "status")), "succeeded");
	/* They overlapped: each started before the other finished. */
	CHECK(json_integer_value(json_object_get(ja, "started_at")) <=
	      json_integer_value(json_object_get(jb, "finished_at")));
	CHECK(json_integer_value(json_object_get(jb, "started_at")) <=
	      json_integer_value(json_object_get(ja, "finished_at")));
	json_decref(ja);
	json_decref(jb);
	CHECK_INT_EQ(daemon_stop(&d), 0);

	/* The same jobs, one at a time, with the same one BLAS thread each. */
	daemon_start(&d, dir, (const char *const[]){ "--workers", "1", "--blas-threads", "1", NULL });
	a_alone = create(7);
	b_alone = create(8);
	ja = wait_job(&d, b_alone, 300);
	json_decref(ja);
	ja = wait_job(&d, a_alone, 300);
	json_decref(ja);
	CHECK_MSG(same_adapter_file(&d, a, a_alone, "adapter_model.safetensors"),
		  "job a differs when run alone");
	CHECK_MSG(same_adapter_file(&d, b, b_alone, "adapter_model.safetensors"),
		  "job b differs when run alone");
	CHECK(same_adapter_file(&d, a, a_alone, "adapter_config.json"));
	CHECK(!same_adapter_file(&d, a, b, "adapter_model.safetensors"));   /* the seeds matter */
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(a);
	free(b);
	free(a_alone);
	free(b_alone);
}

int main(void)
{
	dir = scratch_stories("concurrency", data, sizeof(data));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	RUN(test_two_workers);
	free(file_id);
	free(dir);
	curl_global_cleanup();
	return check_summary();
}
