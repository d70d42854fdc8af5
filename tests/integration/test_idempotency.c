/*
 * test_idempotency — POST /v1/fine_tuning/jobs with an Idempotency-Key,
 * on either backend (harness.h): a retry with the same key and body gets
 * the same job (201, Idempotent-Replayed) and creates nothing; the same
 * key with another body is a 422 naming the header; body spacing and key
 * order do not matter; retries racing on several connections get one job;
 * a malformed key is a 400; a request refused without a job leaves the key
 * free; the key survives a restart. Offline (a random tiny model).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static char *dir, *file_id;

static void post(const char *key, const char *body, struct http_resp *r)
{
	char hdr[400];
	const char *headers[] = { "Content-Type: application/json", hdr, NULL };

	if (*key)
		snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key);
	else   /* curl sends a header with no value written so */
		snprintf(hdr, sizeof(hdr), "Idempotency-Key;");
	http(&d, "POST", "/v1/fine_tuning/jobs", headers, body, strlen(body), r);
}

static char *body_text(long max_steps, long seed)
{
	char *text;
	json_t *b = adalora_job("tiny", file_id, max_steps, 32, 0);

	json_object_set_new(b, "seed", json_integer(seed));
	text = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	return text;
}

static long count_jobs(void)
{
	json_t *l = NULL;
	long n;

	CHECK_INT_EQ(http_json(&d, "GET", "/v1/fine_tuning/jobs?limit=100", NULL, &l), 200);
	n = (long)json_array_size(json_object_get(l, "data"));
	json_decref(l);
	return n;
}

static const char *id_of(const struct http_resp *r)
{
	return json_string_value(json_object_get(r->json, "id")) ?: "";
}

static void test_retry_same_job(void)
{
	char *body = body_text(8, 11);
	struct http_resp a, b;
	long before = count_jobs();

	post("key-retry-1", body, &a);
	CHECK_INT_EQ(a.status, 201);
	CHECK(!strstr(a.headers, "Idempotent-Replayed"));
	post("key-retry-1", body, &b);
	CHECK_INT_EQ(b.status, 201);
	CHECK_STR_EQ(id_of(&b), id_of(&a));
	CHECK(strstr(b.headers, "Idempotent-Replayed: true") != NULL);
	CHECK_INT_EQ(count_jobs(), before + 1);
	http_resp_free(&a);
	http_resp_free(&b);
	free(body);
}

static void test_same_body_other_spelling(void)
{
	char *body = body_text(8, 12);
	json_t *parsed = json_loads(body, 0, NULL);
	char *pretty = json_dumps(parsed, JSON_INDENT(3) | JSON_SORT_KEYS);
	struct http_resp a, b;

	post("key-spelling", body, &a);
	post("key-spelling", pretty, &b);
	CHECK_INT_EQ(a.status, 201);
	CHECK_INT_EQ(b.status, 201);
	CHECK_STR_EQ(id_of(&b), id_of(&a));
	http_resp_free(&a);
	http_resp_free(&b);
	json_decref(parsed);
	free(pretty);
	free(body);
}

static void test_other_body_422(void)
{
	char *one = body_text(8, 13), *other = body_text(9, 13);
	struct http_resp a, b;
	long before;

	post("key-conflict", one, &a);
	CHECK_INT_EQ(a.status, 201);
	before = count_jobs();
	post("key-conflict", other, &b);
	CHECK_INT_EQ(b.status, 422);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(b.json, "error"), "param")),
		     "Idempotency-Key");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(b.json, "error"), "code")),
		     "idempotency_key_reused");
	CHECK_INT_EQ(count_jobs(), before);
	http_resp_free(&a);
	http_resp_free(&b);
	free(one);
	free(other);
}

static void test_bad_keys(void)
{
	char *body = body_text(8, 14), longkey[400];
	struct http_resp r;

	post("", body, &r);
	CHECK_INT_EQ(r.status, 400);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(r.json, "error"), "param")),
		     "Idempotency-Key");
	http_resp_free(&r);
	memset(longkey, 'k', 300);
	longkey[300] = '\0';
	post(longkey, body, &r);
	CHECK_INT_EQ(r.status, 400);
	http_resp_free(&r);
	/* A quoted key (RFC 8941 string, as the IETF draft sends it) is the key. */
	post("\"key-quoted\"", body, &r);
	CHECK_INT_EQ(r.status, 201);
	{
		struct http_resp again;
		post("key-quoted", body, &again);
		CHECK_INT_EQ(again.status, 201);
		CHECK_STR_EQ(id_of(&again), id_of(&r));
		http_resp_free(&again);
	}
	http_resp_free(&r);
	free(body);
}

/* A refused request records nothing: the same key may then create. */
static void test_refused_leaves_key(void)
{
	char bad[512], *good = body_text(8, 15);
	struct http_resp r;

	snprintf(bad, sizeof(bad), "{\"model\":\"no-such-model\",\"training_file\":\"%s\"}", file_id);
	post("key-after-400", bad, &r);
	CHECK_INT_EQ(r.status, 400);
	http_resp_free(&r);
	post("key-after-400", good, &r);
	CHECK_INT_EQ(r.status, 201);
	http_resp_free(&r);
	free(good);
}

struct racer {
	const char *body;
	char id[64];
	long status;
};

static void *race(void *arg)
{
	struct racer *rc = arg;
	struct http_resp r;

	post("key-race", rc->body, &r);
	rc->status = r.status;
	snprintf(rc->id, sizeof(rc->id), "%s", id_of(&r));
	http_resp_free(&r);
	return NULL;
}

static void test_concurrent_retries(void)
{
	char *body = body_text(8, 16);
	struct racer rs[8];
	pthread_t t[8];
	long before = count_jobs();

	for (int i = 0; i < 8; i++) {
		rs[i] = (struct racer){ .body = body };
		pthread_create(&t[i], NULL, race, &rs[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++) {
		CHECK_INT_EQ(rs[i].status, 201);
		CHECK_STR_EQ(rs[i].id, rs[0].id);
	}
	CHECK_INT_EQ(count_jobs(), before + 1);
	free(body);
}

static void test_survives_restart(void)
{
	char *body = body_text(8, 17);
	struct http_resp a, b;

	post("key-restart", body, &a);
	CHECK_INT_EQ(a.status, 201);
	CHECK_INT_EQ(daemon_restart(&d, dir, NULL), 0);
	post("key-restart", body, &b);
	CHECK_INT_EQ(b.status, 201);
	CHECK_STR_EQ(id_of(&b), id_of(&a));
	http_resp_free(&a);
	http_resp_free(&b);
	free(body);
}

/* --idempotency-ttl: an expired key is a new key. */
static void test_expiry(void)
{
	char *body = body_text(8, 18);
	struct http_resp a, b;

	CHECK_INT_EQ(daemon_restart(&d, dir, (const char *const[]){ "--idempotency-ttl", "1",
								     NULL }),
		     0);
	post("key-expiry", body, &a);
	CHECK_INT_EQ(a.status, 201);
	sleep(2);
	post("key-expiry", body, &b);
	CHECK_INT_EQ(b.status, 201);
	CHECK(strcmp(id_of(&b), id_of(&a)) != 0);
	CHECK(!strstr(b.headers, "Idempotent-Replayed"));
	http_resp_free(&a);
	http_resp_free(&b);
	free(body);
}

int main(void)
{
	char data[2200];

	dir = scratch_dir("idempotency");
	models_create_tiny(dir);
	snprintf(data, sizeof(data), "%s/words.jsonl", dir);
	write_jsonl(data, 0, 20000);
	/* Jobs queue behind one another; nothing here needs them to run. */
	daemon_start(&d, dir, (const char *const[]){ "--workers", "1", NULL });
	file_id = upload(&d, data, "words.jsonl");
	RUN(test_retry_same_job);
	RUN(test_same_body_other_spelling);
	RUN(test_other_body_422);
	RUN(test_bad_keys);
	RUN(test_refused_leaves_key);
	RUN(test_concurrent_retries);
	RUN(test_survives_restart);
	RUN(test_expiry);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(file_id);
	free(dir);
	return check_summary();
}
