/*
 * test_fence — a daemon that lost its lease cannot touch the job any more
 * (README "Several hosts", fencing). Two daemons on one PostgreSQL
 * database; the one running a job is paused with SIGSTOP past its lease:
 * the other re-queues the job and resumes it from its checkpoint. Then the
 * paused one is resumed (SIGCONT): it finds its lease gone and stops its
 * run, whose writes (events, the outcome) the store refuses; the job's
 * history stays one run (no step twice) and its result is the new
 * owner's: its run directory's adapter, byte for byte what an
 * uninterrupted run makes. PostgreSQL only (skips without it).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define STEPS 300

static struct daemon ds[2];
static char *dir, data_path[2200], *file_id;
static char ids[2][256];

static const char *const flags[] = {
	"--workers", "1", "--blas-threads", "1", "--lease-duration", "1.5", "--lease-heartbeat",
	"0.2", NULL,
};

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

static int runner_of(struct daemon *d, const char *job)
{
	json_t *l = NULL, *dm, *id;
	size_t i, k;
	int who = -1;

	if (http_json(d, "GET", "/v1/daemons", NULL, &l) != 200)
		FATAL("GET /v1/daemons failed");
	json_array_foreach(json_object_get(l, "data"), i, dm)
		json_array_foreach(json_object_get(dm, "running"), k, id)
			if (!strcmp(json_string_value(id), job))
				for (int n = 0; n < 2; n++)
					if (!strcmp(ids[n], json_string_value(json_object_get(dm, "id"))))
						who = n;
	json_decref(l);
	return who;
}

static long step_of(struct daemon *d, const char *job)
{
	json_t *j = wait_step(d, job, 0, 0);
	long step = (long)json_integer_value(json_object_get(json_object_get(j, "progress"), "step"));

	json_decref(j);
	return step;
}

static void test_paused_daemon_is_fenced(void)
{
	char *job = NULL, *ref = NULL, path[3000];
	int owner = -1, other;
	long step_at_stop, step;
	double t0;
	json_t *j, *events, *e;
	size_t i;
	long expect = 5;
	struct stat sb;

	CHECK_INT_EQ(job_create(&ds[0], adalora_job("stories260K", file_id, STEPS, 64, 20), &job),
		     201);
	if (!job)
		return;
	json_decref(wait_step(&ds[0], job, 40, 120));
	t0 = now_s();
	while (owner < 0 && now_s() - t0 < 10)
		owner = runner_of(&ds[0], job);
	CHECK(owner >= 0);
	if (owner < 0)
		return;
	other = 1 - owner;

	kill(ds[owner].pid, SIGSTOP);
	step_at_stop = step_of(&ds[other], job);
	/* The other daemon takes it over once the lease expires. */
	t0 = now_s();
	while (runner_of(&ds[other], job) != other && now_s() - t0 < 30)
		sleep_ms(50);
	CHECK_INT_EQ(runner_of(&ds[other], job), other);
	/* ... and trains on past where the paused one stopped. */
	t0 = now_s();
	while ((step = step_of(&ds[other], job)) < step_at_stop + 30 && step < STEPS &&
	       now_s() - t0 < 60)
		sleep_ms(50);
	kill(ds[owner].pid, SIGCONT);

	/* The paused daemon notices, stops its run; its writes are refused. */
	t0 = now_s();
	while (!count_in_file(ds[owner].log_path, "lease lost") && now_s() - t0 < 30)
		sleep_ms(50);
	CHECK_MSG(count_in_file(ds[owner].log_path, "lease lost") >= 1,
		  "the resumed daemon did not notice it lost the lease");
	t0 = now_s();
	while (!count_in_file(ds[owner].log_path, "lost its lease is dropped") && now_s() - t0 < 30)
		sleep_ms(50);
	CHECK_MSG(count_in_file(ds[owner].log_path, "lost its lease is dropped") == 1,
		  "the resumed daemon's outcome was not refused");

	j = wait_job(&ds[other], job, 300);
	CHECK_STR_EQ(job_status(j), "succeeded");
	json_decref(j);
	/* One run's history: every metrics step once, in order. */
	events = job_events(&ds[owner], job);
	json_array_foreach(events, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "type")), "metrics"))
			continue;
		CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(e, "data"), "step")),
			     expect);
		expect += 5;
	}
	CHECK_INT_EQ(expect, STEPS + 5);
	json_decref(events);
	/* The result is the new owner's run's (run-2), not the fenced one's. */
	snprintf(path, sizeof(path), "%s/data/jobs/%s/run-2/adapter/adapter_model.safetensors", dir,
		 job);
	CHECK_MSG(stat(path, &sb) == 0, "%s is missing", path);
	snprintf(path, sizeof(path), "%s/data/jobs/%s/run-1/adapter", dir, job);
	CHECK_MSG(stat(path, &sb) != 0, "the fenced run wrote an adapter");
	/* And byte for byte an uninterrupted run's. */
	CHECK_INT_EQ(job_create(&ds[other], adalora_job("stories260K", file_id, STEPS, 64, 20), &ref),
		     201);
	if (ref) {
		j = wait_job(&ds[other], ref, 300);
		CHECK_STR_EQ(job_status(j), "succeeded");
		json_decref(j);
		CHECK(same_adapter_file(&ds[other], job, ref, "adapter_model.safetensors"));
	}
	free(ref);
	free(job);
}

int main(void)
{
	setenv("ADALORAD_TEST_BACKEND", "postgresql", 1);
	dir = scratch_stories("fence", data_path, sizeof(data_path));
	for (int n = 0; n < 2; n++) {
		json_t *h = NULL;
		daemon_start_as(&ds[n], dir, n ? "b" : "a", flags);
		if (http_json(&ds[n], "GET", "/healthz", NULL, &h) != 200)
			FATAL("GET /healthz failed");
		snprintf(ids[n], sizeof(ids[n]), "%s",
			 json_string_value(json_object_get(h, "daemon")) ?: "");
		json_decref(h);
	}
	file_id = upload(&ds[0], data_path, "shakespeare.jsonl");
	RUN(test_paused_daemon_is_fenced);
	for (int n = 0; n < 2; n++)
		CHECK_INT_EQ(daemon_stop(&ds[n]), 0);
	free(file_id);
	free(dir);
	return check_summary();
}
