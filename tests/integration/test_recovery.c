/*
 * test_recovery — jobs never loop or hang when the daemon or its store
 * fails under them (issue 12):
 *   - a job during which the daemon dies is re-queued, but at the
 *     --max-attempts-th such death it is failed (crash_loop) rather than
 *     killing every start;
 *   - an outcome write that fails is retried (and the job still ends, its
 *     stream with `done`), and one that keeps failing is kept and written
 *     by the reconciler later; meanwhile the job shows running;
 *   - a job the database says is running that no worker runs is
 *     re-queued by the periodic reconciliation;
 *   - a SIGTERM the kernel hands to a thread a library started before
 *     main() (OpenBLAS's pool) still stops the daemon cleanly.
 * Faults come from the store's test hook ADALORAD_TEST_FAIL_OUTCOMES.
 * Offline (a random tiny model).
 */
#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static char *dir, *file_id;

static char *create(long max_steps)
{
	json_t *job = NULL;
	char *id;

	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs",
			       adalora_job("tiny", file_id, max_steps, 32, 5), &job), 201);
	id = strdup(json_string_value(json_object_get(job, "id")) ?: "");
	json_decref(job);
	return id;
}

static const char *status_of(json_t *j)
{
	return json_string_value(json_object_get(j, "status")) ?: "";
}

static json_t *get_job(const char *id)
{
	char path[256];
	json_t *j = NULL;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &j), 200);
	return j;
}

/* The daemon prints "listening" before the lines it held during start
 * reach the log, so a test that is already talking to it waits a little. */
static int log_has(const char *needle)
{
	for (int tries = 0; tries < 100; tries++) {
		char *log = read_file(d.log_path, NULL);
		int found = log && strstr(log, needle);

		free(log);
		if (found)
			return 1;
		nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
	}
	return 0;
}

static void test_crash_loop(void)
{
	const char *const flags[] = { "--max-attempts", "2", NULL };
	char *job;
	json_t *j;

	daemon_start(&d, dir, flags);
	job = create(100000);
	json_decref(wait_step(&d, job, 5, 120));
	daemon_kill(&d);                        /* the job "killed the daemon" once */
	daemon_start(&d, dir, flags);
	j = wait_status(&d, job, "running", 60);
	CHECK_STR_EQ(status_of(j), "running");
	json_decref(j);
	daemon_kill(&d);                        /* twice: --max-attempts 2 */
	daemon_start(&d, dir, flags);
	j = get_job(job);
	CHECK_STR_EQ(status_of(j), "failed");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
		     "crash_loop");
	CHECK(strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")) ?: "",
		     "2 times") != NULL);
	json_decref(j);
	CHECK(log_has("failed=1"));
	/* It stays failed: nothing runs it again. */
	nanosleep(&(struct timespec){ 0, 500000000 }, NULL);
	j = get_job(job);
	CHECK_STR_EQ(status_of(j), "failed");
	json_decref(j);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(job);
}

static void test_lost_outcome_writes(void)
{
	struct sse_result s;
	char *job;
	json_t *j;

	/* A few failures: the worker's retries get through. */
	setenv("ADALORAD_TEST_FAIL_OUTCOMES", "3", 1);
	daemon_start(&d, dir, (const char *const[]){ "--reconcile-interval", "0.5", NULL });
	unsetenv("ADALORAD_TEST_FAIL_OUTCOMES");
	job = create(10);
	sse_follow(&d, job, -1, 120, 0, &s);
	CHECK_STR_EQ(s.done_status, "succeeded");
	sse_result_free(&s);
	CHECK(log_has("cannot record the end of a job; retrying"));
	CHECK(!log_has("kept to retry"));
	free(job);
	CHECK_INT_EQ(daemon_stop(&d), 0);

	/* More than the retries: the outcome is kept, the job shows running,
	 * and the reconciler writes it later. */
	setenv("ADALORAD_TEST_FAIL_OUTCOMES", "9", 1);
	daemon_start(&d, dir, (const char *const[]){ "--reconcile-interval", "0.5", NULL });
	unsetenv("ADALORAD_TEST_FAIL_OUTCOMES");
	job = create(10);
	for (double t0 = now_s(); !log_has("kept to retry") && now_s() - t0 < 120;)
		nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
	CHECK(log_has("kept to retry"));
	sse_follow(&d, job, -1, 60, 0, &s);
	CHECK_STR_EQ(s.done_status, "succeeded");
	sse_result_free(&s);
	j = get_job(job);
	CHECK_STR_EQ(status_of(j), "succeeded");
	json_decref(j);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(job);
}

static void test_orphan(void)
{
	char db_path[2200], sql[1024], path[256];
	char *busy, *orphan;
	sqlite3 *db;
	json_t *j;

	daemon_start(&d, dir, (const char *const[]){ "--reconcile-interval", "0.5", NULL });
	busy = create(100000);
	json_decref(wait_step(&d, busy, 1, 120));
	orphan = create(100000);
	json_decref(wait_status(&d, orphan, "queued", 60));
	/* Another process marks it running (as a lost outcome would leave it). */
	snprintf(db_path, sizeof(db_path), "%s/adalorad.db", dir);
	CHECK_INT_EQ(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	/* with an event, as every change of a job row has one */
	snprintf(sql, sizeof(sql),
		 "BEGIN; UPDATE jobs SET status = 'running', last_event = last_event + 1 WHERE id = '%s';"
		 "INSERT INTO events (job_id, seq, created_at, level, type, message) "
		 "SELECT id, last_event, 0, 'info', 'message', 'marked running by hand' FROM jobs "
		 "WHERE id = '%s'; COMMIT", orphan, orphan);
	CHECK_INT_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	j = get_job(orphan);
	CHECK_STR_EQ(status_of(j), "running");
	json_decref(j);
	j = wait_status(&d, orphan, "queued", 10);
	CHECK_STR_EQ(status_of(j), "queued");
	json_decref(j);
	/* The reconciler logs right after its commit, which a poll may see first. */
	for (double t0 = now_s(); !log_has("a job marked running had no worker") && now_s() - t0 < 10;)
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	CHECK(log_has("a job marked running had no worker"));
	/* The one really running was left alone. */
	j = get_job(busy);
	CHECK_STR_EQ(status_of(j), "running");
	json_decref(j);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", orphan);
	CHECK_INT_EQ(http_json(&d, "POST", path, NULL, NULL), 200);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", busy);
	CHECK_INT_EQ(http_json(&d, "POST", path, NULL, NULL), 200);
	j = wait_job(&d, busy, 60);
	CHECK_STR_EQ(status_of(j), "cancelled");
	json_decref(j);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(busy);
	free(orphan);
}

/* Files a kill left half-written in job directories go at the next start. */
static void test_sweep(void)
{
	static const char *const dead[] = {
		"jobs/ftjob-swept/checkpoint/state.bin.tmp.4242",
		"jobs/ftjob-swept/adapter/adapter_model.safetensors.tmp.77",
		"jobs/ftjob-swept/result.json.tmp.1",
	};
	static const char *const alive[] = {
		"jobs/ftjob-swept/checkpoint/state.bin", "jobs/ftjob-swept/notes.tmp",
		"jobs/ftjob-swept/adapter/x.tmp.12a",
	};
	char path[2600];
	FILE *f;

	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < 3; i++) {
			const char *rel = k ? alive[i] : dead[i];
			char cmd[3000];
			snprintf(path, sizeof(path), "%s/data/%s", dir, rel);
			snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
			CHECK_INT_EQ(system(cmd), 0);
			f = fopen(path, "w");
			CHECK(f != NULL);
			if (f) {
				fputs("half a checkpoint", f);
				fclose(f);
			}
		}
	daemon_start(&d, dir, NULL);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/data/%s", dir, dead[i]);
		CHECK_MSG(access(path, F_OK) != 0, "%s was not swept", dead[i]);
		snprintf(path, sizeof(path), "%s/data/%s", dir, alive[i]);
		CHECK_MSG(access(path, F_OK) == 0, "%s was removed", alive[i]);
	}
	CHECK(log_has("msg=\"removed half-written job files\" count=3"));
	CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* A thread of pid other than the main one that does not block SIGTERM
 * (its SigBlk mask in /proc), or 0. */
static pid_t thread_taking_sigterm(pid_t pid)
{
	char path[128], line[256];
	struct dirent *e;
	pid_t found = 0;
	DIR *tasks;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	tasks = opendir(path);
	if (!tasks)
		return 0;
	while (!found && (e = readdir(tasks))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		FILE *f;

		if (tid <= 0 || tid == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned long long blocked;

			if (sscanf(line, "SigBlk: %llx", &blocked) == 1) {
				if (!(blocked & (1ULL << (SIGTERM - 1))))
					found = tid;
				break;
			}
		}
		fclose(f);
	}
	closedir(tasks);
	return found;
}

static void test_signal_to_foreign_thread(void)
{
	pid_t tid;
	int status;

	daemon_start(&d, dir, NULL);
	tid = thread_taking_sigterm(d.pid);
	if (!tid) {
		printf("  (skipped: no thread of the daemon leaves SIGTERM unblocked; "
		       "this BLAS starts no pool)\n");
		CHECK_INT_EQ(daemon_stop(&d), 0);
		return;
	}
	/* What the kernel does when it picks that thread for a kill(). */
	CHECK_INT_EQ(syscall(SYS_tgkill, d.pid, tid, SIGTERM), 0);
	CHECK_INT_EQ(waitpid(d.pid, &status, 0), d.pid);
	d.pid = 0;
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the daemon did not exit 0 (status %#x)", status);
	CHECK(log_has("msg=\"shutting down\" signal=TERM"));
}

int main(void)
{
	char data[2200];

	dir = scratch_dir("recovery");
	models_create_tiny(dir);
	snprintf(data, sizeof(data), "%s/words.jsonl", dir);
	write_jsonl(data, 0, 20000);
	daemon_start(&d, dir, NULL);
	file_id = upload(&d, data, "words.jsonl");
	CHECK_INT_EQ(daemon_stop(&d), 0);
	RUN(test_crash_loop);
	RUN(test_lost_outcome_writes);
	RUN(test_orphan);
	RUN(test_sweep);
	RUN(test_signal_to_foreign_thread);
	free(file_id);
	free(dir);
	return check_summary();
}
