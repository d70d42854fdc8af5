/*
 * test_crash — nothing acknowledged is lost, whatever happens to the
 * daemon:
 *   - kill -9 in the middle of training: after a restart the job resumes
 *     from its last checkpoint, its event log reads as one run (no step
 *     twice, none missing), and its adapter is byte-identical to the same
 *     job run without interruption;
 *   - SIGTERM: the daemon exits 0 after checkpointing the running job,
 *     which resumes at the next start, again to the same bytes;
 *   - kill -9 right after an upload's 200 or a job's 201: both are there
 *     after the restart, and the job runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define STEPS 120

static struct daemon d;
static char *dir, data_path[2200], *file_id, *ref_job;

static char *create(void)
{
	char *id = NULL;

	CHECK_INT_EQ(job_create(&d, adalora_job("stories260K", file_id, STEPS, 64, 20), &id), 201);
	return id ? id : strdup("");
}

static void expect_succeeded(const char *id)
{
	json_t *j = wait_job(&d, id, 300);

	CHECK_STR_EQ(job_status(j), "succeeded");
	json_decref(j);
}

/* The same job run without interruption: made by the first test that
 * needs it, so each test stands alone. */
static const char *reference(void)
{
	if (!ref_job) {
		ref_job = create();
		expect_succeeded(ref_job);
	}
	return ref_job;
}

/* Both adapter files byte for byte as the uninterrupted run's. */
static void expect_same_adapter(const char *job)
{
	static const char *const names[] = { "adapter_model.safetensors", "adapter_config.json" };

	for (int i = 0; i < 2; i++)
		CHECK_MSG(same_adapter_file(&d, reference(), job, names[i]),
			  "%s of %s differs from the uninterrupted run's", names[i], job);
}

/* The log of a resumed job reads as one run: metrics at 5, 10, ... STEPS. */
static void expect_one_history(const char *job, const char *marker)
{
	char path[256];
	json_t *l = NULL, *e;
	long expect = 5, n = 0, id_next = 1;
	int seen_marker = 0;
	size_t i;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?after=ftevent-%s-0&limit=100",
		 job, job + 6);
	for (;;) {
		CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &l), 200);
		json_array_foreach(json_object_get(l, "data"), i, e) {
			const char *msg = json_string_value(json_object_get(e, "message"));
			char want[96];
			snprintf(want, sizeof(want), "ftevent-%s-%ld", job + 6, id_next++);
			CHECK_STR_EQ(json_string_value(json_object_get(e, "id")), want);
			seen_marker |= strstr(msg, marker) != NULL;
			if (strcmp(json_string_value(json_object_get(e, "type")), "metrics"))
				continue;
			CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(e, "data"), "step")),
				     expect);
			expect += 5;
			n++;
		}
		if (!json_is_true(json_object_get(l, "has_more"))) {
			json_decref(l);
			break;
		}
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?after=%s&limit=100", job,
			 json_string_value(json_object_get(json_array_get(json_object_get(l, "data"),
									  json_array_size(json_object_get(l, "data")) - 1),
							   "id")));
		json_decref(l);
	}
	CHECK_INT_EQ(n, STEPS / 5);
	CHECK_MSG(seen_marker, "no event says \"%s\"", marker);
}

static void test_kill_mid_training(void)
{
	char *job;
	json_t *j;
	long step;

	reference();    /* made first: the kill must find the one worker on job */
	job = create();
	j = wait_step(&d, job, 50, 120);
	step = (long)json_integer_value(json_object_get(json_object_get(j, "progress"), "step"));
	CHECK_MSG(step >= 50 && step < STEPS, "killed at step %ld", step);
	json_decref(j);
	daemon_kill(&d);
	daemon_start(&d, dir, NULL);
	expect_succeeded(job);
	expect_same_adapter(job);
	expect_one_history(job, "re-queued");
	free(job);
}

static void test_sigterm(void)
{
	char *job;

	reference();
	job = create();
	json_decref(wait_step(&d, job, 30, 120));
	CHECK_INT_EQ(daemon_restart(&d, dir, NULL), 0);
	expect_succeeded(job);
	expect_same_adapter(job);
	expect_one_history(job, "paused");
	free(job);
}

static void test_kill_after_ack(void)
{
	char path[256];
	struct http_resp r;
	size_t len;
	char *local = read_file(data_path, &len), *fid, *job;

	fid = upload(&d, data_path, "again.jsonl");
	daemon_kill(&d);
	daemon_start(&d, dir, NULL);
	snprintf(path, sizeof(path), "/v1/files/%s/content", fid);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(r.len == len && !memcmp(r.body, local, len));
	http_resp_free(&r);

	job = create();
	daemon_kill(&d);
	daemon_start(&d, dir, NULL);
	expect_succeeded(job);
	expect_same_adapter(job);
	free(job);
	free(fid);
	free(local);
}

int main(void)
{
	dir = scratch_stories("crash", data_path, sizeof(data_path));
	daemon_start(&d, dir, NULL);
	file_id = upload(&d, data_path, "shakespeare.jsonl");
	RUN(test_kill_mid_training);
	RUN(test_sigterm);
	RUN(test_kill_after_ack);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(file_id);
	free(ref_job);
	free(dir);
	return check_summary();
}
