/*
 * test_cancel — cancelling: a queued job is cancelled at once; a running
 * one stops at its next step boundary, keeps its checkpoint, and its
 * stream ends with `event: done` "cancelled"; a finished job cannot be
 * cancelled (409); an unknown one is a 404. Offline (a random tiny model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static struct daemon d;
static char *dir, *file_id;

static char *create(long max_steps)
{
	char *id = NULL;

	CHECK_INT_EQ(job_create(&d, adalora_job("tiny", file_id, max_steps, 64, 5), &id), 201);
	return id ? id : strdup("");
}

static long cancel(const char *id, json_t **out)
{
	char path[256];

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", id);
	return http_json(&d, "POST", path, NULL, out);
}

static void test_cancel(void)
{
	char *running = create(100000), *queued, path[2600];
	json_t *j = wait_status(&d, running, "running", 60), *out = NULL;
	struct sse_result s;
	struct stat st;

	CHECK_STR_EQ(job_status(j), "running");
	json_decref(j);
	j = wait_step(&d, running, 5, 120);   /* a checkpoint exists (every 5 steps) */
	json_decref(j);
	queued = create(100000);
	j = wait_status(&d, queued, "queued", 60);
	CHECK_STR_EQ(job_status(j), "queued");
	json_decref(j);

	/* Queued: cancelled at once. */
	CHECK_INT_EQ(cancel(queued, &out), 200);
	CHECK_STR_EQ(job_status(out), "cancelled");
	CHECK(json_integer_value(json_object_get(out, "finished_at")) > 0);
	json_decref(out);
	sse_follow(&d, queued, -1, 10, 0, &s);
	CHECK_STR_EQ(s.done_status, "cancelled");
	CHECK(json_array_size(s.events) >= 3);
	sse_result_free(&s);

	/* Running: stops at the next step, with its checkpoint kept. */
	CHECK_INT_EQ(cancel(running, &out), 200);
	CHECK(!strcmp(job_status(out), "running") || !strcmp(job_status(out), "cancelled"));
	json_decref(out);
	sse_follow(&d, running, -1, 60, 0, &s);
	CHECK_STR_EQ(s.done_status, "cancelled");
	CHECK(strstr(json_string_value(json_object_get(
			     json_array_get(s.events, json_array_size(s.events) - 1), "message")),
		     "cancelled") != NULL);
	sse_result_free(&s);
	j = wait_job(&d, running, 10);
	CHECK_STR_EQ(job_status(j), "cancelled");
	CHECK(json_integer_value(json_object_get(json_object_get(j, "progress"), "step")) >= 5);
	json_decref(j);
	job_checkpoint_dir(&d, running, path, sizeof(path));
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));

	/* Finished: 409, either way it finished. */
	CHECK_INT_EQ(cancel(running, &out), 409);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(out, "error"), "type")),
		     "conflict_error");
	json_decref(out);
	CHECK_INT_EQ(cancel(queued, NULL), 409);
	CHECK_INT_EQ(cancel("ftjob-doesnotexist", NULL), 404);
	free(running);
	free(queued);
}

static void test_cancel_succeeded(void)
{
	char *id = create(6);
	json_t *j = wait_job(&d, id, 120), *out = NULL;

	CHECK_STR_EQ(job_status(j), "succeeded");
	json_decref(j);
	CHECK_INT_EQ(cancel(id, &out), 409);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(out, "error"), "type")),
		     "conflict_error");
	json_decref(out);
	free(id);
}

int main(void)
{
	char data[2200];

	dir = scratch_dir("cancel");
	models_create_tiny(dir);
	snprintf(data, sizeof(data), "%s/words.jsonl", dir);
	write_jsonl(data, 0, 20000);
	daemon_start(&d, dir, (const char *const[]){ "--workers", "1", NULL });
	file_id = upload(&d, data, "words.jsonl");
	RUN(test_cancel);
	RUN(test_cancel_succeeded);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(file_id);
	free(dir);
	return check_summary();
}
