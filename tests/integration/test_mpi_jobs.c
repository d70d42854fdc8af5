/*
 * test_mpi_jobs — a daemon job with "processes": 2 (README "One job across
 * processes"), run through `mpirun --oversubscribe [--allow-run-as-root]
 * -np {n}` and adalora; skips, saying why, without Open MPI or an MPI
 * build of adalora. Offline (a random tiny model).
 *
 * itest_mpi_jobs (suite integration):
 *   - the field: an integer from 1 to --max-processes, and a step that has
 *     a micro-batch for each process; 400 naming the field otherwise;
 *   - end to end: progress events (metrics, ranks, checkpoints, the
 *     allreduce's report), "processes": 2 on the job, the adapter served,
 *     within the tolerance of the same job trained in-process, with the
 *     same rank pattern;
 *   - cancel: the job ends cancelled and no process of its launch is left;
 *   - one of its processes killed: the job fails (error.code
 *     launcher_failed, mpirun's words) and no process is left.
 * itest_mpi_recovery (-DMPI_RECOVERY_TESTS, suites integration and slow):
 *   - a daemon stopped mid-job pauses it (every process checkpoints) and
 *     re-queues it; restarted, it finishes with the adapter of an
 *     uninterrupted two-process job, bit for bit;
 *   - a daemon killed with SIGKILL takes the launch down with it; restarted,
 *     it resumes the job from its checkpoint to the same adapter.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "adapter_diff.h"
#include "harness.h"
#include "mpi_launch.h"

#define ADAPTER_REL_TOL 1e-5

static struct daemon d;
static char *dir, *file_id;
static const char *daemon_args[16];

/* An AdaLoRA job in micro-batches of 4 (two for each process); processes
 * 0 leaves the field out. */
static json_t *job_body(long max_steps, long checkpoint_every, int processes)
{
	json_t *b = adalora_job("tiny", file_id, max_steps, 32, checkpoint_every);
	json_t *hp = json_object_get(json_object_get(json_object_get(b, "method"), "adalora"),
				     "hyperparameters");

	json_object_set_new(hp, "micro_batch_size", json_integer(4));
	json_object_set_new(hp, "log_every", json_integer(1));
	if (processes)
		json_object_set_new(b, "processes", json_integer(processes));
	return b;
}

static char *create(long max_steps, long checkpoint_every, int processes)
{
	char *id = NULL;

	CHECK_INT_EQ(job_create(&d, job_body(max_steps, checkpoint_every, processes), &id), 201);
	return id ? id : strdup("");
}

/* Processes whose command line names the job (its launcher and adalora
 * processes: they run in data/jobs/<id>). */
static int processes_of(const char *job_id)
{
	DIR *p = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (p && (e = readdir(p))) {
		char path[300], buf[8192];
		size_t len;
		FILE *f;
		if (atoi(e->d_name) <= 0 || atoi(e->d_name) == (int)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[len] = '\0';
		n += strstr(buf, job_id) != NULL;
	}
	if (p)
		closedir(p);
	return n;
}

/* Wait (up to timeout_s) until no process of the job's launch is left. */
static int gone(const char *job_id, double timeout_s)
{
	const double end = now_s() + timeout_s;

	while (processes_of(job_id) && now_s() < end)
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	return !processes_of(job_id);
}

#ifndef MPI_RECOVERY_TESTS

static const char *adapter_dir(const char *job_id)
{
	static char buf[2][2600];
	static int k;
	char *p = buf[k++ % 2];

	snprintf(p, sizeof(buf[0]), "%s/data/jobs/%s/adapter", dir, job_id);
	return p;
}

static void check_refused(json_t *body, const char *param)
{
	json_t *out = NULL;

	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs", body, &out), 400);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(out, "error"), "param")),
		     param);
	json_decref(out);
}

static void test_the_field(void)
{
	json_t *b;

	check_refused(job_body(10, 5, 3), "processes");     /* --max-processes 2 */
	check_refused(job_body(10, 5, -1), "processes");
	b = job_body(10, 5, 0);
	json_object_set_new(b, "processes", json_string("2"));
	check_refused(b, "processes");
	/* a step of one micro-batch cannot be shared */
	b = job_body(10, 5, 2);
	json_object_set_new(json_object_get(json_object_get(json_object_get(b, "method"),
							    "adalora"), "hyperparameters"),
			    "micro_batch_size", json_integer(8));
	check_refused(b, "method.adalora.hyperparameters.micro_batch_size");
}

static void test_end_to_end(void)
{
	char *two = create(30, 10, 2), *one = create(30, 10, 0), *why = malloc(512);
	json_t *j = wait_job(&d, two, 300), *hp;
	struct sse_result s;
	struct adapter_diff diff;
	struct http_resp r;
	char path[400];
	int metrics = 0, ranks = 0, checkpoints = 0, reduces = 0, last_step = 0;

	CHECK_STR_EQ(job_status(j), "succeeded");
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "processes")), 2);
	hp = json_object_get(j, "hyperparameters");
	CHECK(json_is_object(hp) && !json_object_get(hp, "processes"));
	CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(j, "progress"), "step")),
		     30);
	json_decref(j);
	sse_follow(&d, two, -1, 60, 0, &s);
	CHECK_STR_EQ(s.done_status, "succeeded");
	for (size_t i = 0; i < json_array_size(s.events); i++) {
		json_t *data = json_object_get(json_array_get(s.events, i), "data");
		const char *kind = json_string_value(json_object_get(data, "kind"));
		const char *msg = json_string_value(
			json_object_get(json_array_get(s.events, i), "message"));
		if (!kind)
			continue;
		if (!strcmp(kind, "metrics")) {
			metrics++;
			last_step = (int)json_integer_value(json_object_get(data, "step"));
		}
		ranks += !strcmp(kind, "ranks");
		checkpoints += !strcmp(kind, "checkpoint");
		reduces += msg && strstr(msg, "data-parallel over 2 processes") != NULL;
	}
	CHECK_INT_EQ(metrics, 30);
	CHECK_INT_EQ(last_step, 30);
	CHECK(ranks >= 2);
	CHECK_INT_EQ(checkpoints, 2);       /* steps 10 and 20 */
	CHECK_INT_EQ(reduces, 1);
	sse_result_free(&s);

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/adapter_model.safetensors",
		 two);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(r.len > 1000);
	http_resp_free(&r);

	/* the same job in one process */
	j = wait_job(&d, one, 300);
	CHECK_STR_EQ(job_status(j), "succeeded");
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "processes")), 1);
	json_decref(j);
	if (adapter_diff(adapter_dir(one), adapter_dir(two), &diff, why, 512)) {
		CHECK_MSG(0, "%s", why);
	} else {
		fprintf(stderr, "two processes against one: max relative %.3g (%s)\n", diff.max_rel,
			diff.worst);
		CHECK_MSG(diff.max_rel <= ADAPTER_REL_TOL, "%.3g in %s", diff.max_rel, diff.worst);
	}
	CHECK_MSG(adapter_same_rank_pattern(adapter_dir(one), adapter_dir(two), why, 512), "%s",
		  why);
	free(why);
	free(two);
	free(one);
}

static void test_cancel(void)
{
	char *id = create(100000, 5, 2), path[300];
	json_t *j = wait_step(&d, id, 3, 300), *out = NULL;

	CHECK_STR_EQ(job_status(j), "running");
	json_decref(j);
	CHECK(processes_of(id) >= 3);       /* mpirun and two adalora */
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", id);
	CHECK_INT_EQ(http_json(&d, "POST", path, NULL, &out), 200);
	json_decref(out);
	j = wait_job(&d, id, 120);
	CHECK_STR_EQ(job_status(j), "cancelled");
	json_decref(j);
	CHECK_MSG(gone(id, 60), "%d processes of the cancelled job are left", processes_of(id));
	free(id);
}

/* One of the job's processes killed: mpirun ends the rest, and the job
 * fails naming the launcher and what it saw. */
static void test_a_killed_process_fails_the_job(void)
{
	char *id = create(100000, 5, 2);
	json_t *j = wait_step(&d, id, 3, 300), *e;
	pid_t victim;
	const char *msg;

	json_decref(j);
	victim = mpi_find_rank_by_cmdline(id, 1);
	CHECK(victim > 0);
	if (victim > 0)
		kill(victim, SIGKILL);
	j = wait_job(&d, id, 120);
	CHECK_STR_EQ(job_status(j), "failed");
	e = json_object_get(j, "error");
	CHECK_STR_EQ(json_string_value(json_object_get(e, "code")), "launcher_failed");
	msg = json_string_value(json_object_get(e, "message"));
	CHECK_MSG(msg && strstr(msg, "mpirun") && strstr(msg, "signal 9"), "%s", msg ? msg : "");
	CHECK_MSG(!msg || !strstr(msg, dir), "a server path in the error: %s", msg);
	json_decref(j);
	CHECK_MSG(gone(id, 60), "%d processes of the failed job are left", processes_of(id));
	free(id);
}

#else

/* An uninterrupted two-process job, for the adapter to match. */
static char *reference(long steps)
{
	char *id = create(steps, 5, 2);
	json_t *j = wait_job(&d, id, 600);

	CHECK_STR_EQ(job_status(j), "succeeded");
	json_decref(j);
	return id;
}

static void check_same(const char *a, const char *b, const char *what)
{
	CHECK_MSG(same_adapter_file(&d, a, b, "adapter_model.safetensors"),
		  "%s: the adapter differs from the uninterrupted job's", what);
}

static void test_daemon_stop_pauses(void)
{
	char *ref = reference(60), *id = create(60, 5, 2);
	json_t *j = wait_step(&d, id, 8, 300);

	json_decref(j);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	CHECK_MSG(gone(id, 60), "the stopped daemon left %d processes", processes_of(id));
	daemon_start(&d, dir, daemon_args);
	j = wait_job(&d, id, 600);
	CHECK_STR_EQ(job_status(j), "succeeded");
	json_decref(j);
	check_same(ref, id, "stopped and restarted");
	free(ref);
	free(id);
}

static void test_daemon_crash_resumes(void)
{
	char *ref = reference(60), *id = create(60, 5, 2);
	json_t *j = wait_step(&d, id, 12, 300);

	json_decref(j);
	daemon_kill(&d);
	CHECK_MSG(gone(id, 60), "the killed daemon left %d processes", processes_of(id));
	daemon_start(&d, dir, daemon_args);
	j = wait_job(&d, id, 600);
	CHECK_STR_EQ(job_status(j), "succeeded");
	json_decref(j);
	check_same(ref, id, "killed and restarted");
	free(ref);
	free(id);
}

#endif

int main(void)
{
	const char *adalora = getenv("ADALORA_BIN");
	char data[2200], why[512];
	int k = 0;

	if (!adalora || !mpi_available(adalora, why, sizeof(why))) {
		fprintf(stderr, "SKIP: %s\n", adalora ? why : "ADALORA_BIN is not set");
		return 77;
	}
	dir = scratch_dir("mpi_jobs");
	models_create_tiny(dir);
	snprintf(data, sizeof(data), "%s/words.jsonl", dir);
	write_jsonl(data, 0, 40000);
	daemon_args[k++] = "--workers";
	daemon_args[k++] = "2";
	daemon_args[k++] = "--blas-threads";
	daemon_args[k++] = "2";
	daemon_args[k++] = "--max-processes";
	daemon_args[k++] = "2";
	daemon_args[k++] = "--launcher";
	daemon_args[k++] = mpi_launcher_template();
	daemon_args[k++] = "--adalora-bin";
	daemon_args[k++] = adalora;
	daemon_args[k++] = "--launcher-grace";
	daemon_args[k++] = "20";
	daemon_args[k] = NULL;
	daemon_start(&d, dir, daemon_args);
	file_id = upload(&d, data, "words.jsonl");
#ifndef MPI_RECOVERY_TESTS
	RUN(test_the_field);
	RUN(test_end_to_end);
	RUN(test_cancel);
	RUN(test_a_killed_process_fails_the_job);
#else
	RUN(test_daemon_stop_pauses);
	RUN(test_daemon_crash_resumes);
#endif
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(file_id);
	free(dir);
	return check_summary();
}
