/*
 * test_store — the daemon's SQLite store: migrations, the job state
 * machine, event numbering, paging, conflicts, recovery after a crash,
 * watchers, and many threads writing at once (group commit: good and bad
 * writes sharing transactions).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "store.h"

static char *tmp;

static char *db_path(const char *name)
{
	char *p = malloc(4096);
	snprintf(p, 4096, "%s/%s", tmp, name);
	return p;
}

static struct store *open_store(const char *path)
{
	struct store_config cfg = { .path = path, .sync = STORE_SYNC_FULL };
	struct ada_err err = { 0 };
	struct store *st = NULL;

	CHECK_OK(store_open(&cfg, &st, &err), &err);
	return st;
}

static void add_file(struct store *st, const char *id)
{
	struct store_file f = { 0 };
	struct ada_err err = { 0 };

	snprintf(f.id, sizeof(f.id), "%s", id);
	snprintf(f.filename, sizeof(f.filename), "%s.jsonl", id);
	snprintf(f.purpose, sizeof(f.purpose), "fine-tune");
	snprintf(f.format, sizeof(f.format), "jsonl");
	snprintf(f.shape, sizeof(f.shape), "text");
	snprintf(f.storage, sizeof(f.storage), "storage-%s", id);
	f.bytes = 10;
	f.line_count = 1;
	f.record_count = 1;
	CHECK_OK(store_file_add(st, &f, &err), &err);
	CHECK(f.seq > 0);
	CHECK(f.created_at > 0);
}

static int create_job(struct store *st, const char *id, const char *file, int64_t max_waiting,
		      struct ada_err *err)
{
	struct store_job_spec spec = {
		.id = id, .model = "tiny", .training_file = file, .seed = 7,
		.method = "{\"type\":\"adalora\"}", .hyperparameters = "{}",
		.max_waiting = max_waiting,
	};
	return store_job_create(st, &spec, NULL, err);
}

static void test_migrations(void)
{
	char *path = db_path("migrate.db");
	struct store_config cfg = { .path = path, .sync = STORE_SYNC_NORMAL };
	struct ada_err err = { 0 };
	struct store *st = open_store(path), *second = NULL;
	sqlite3 *db;
	char sql[64];

	CHECK(store_schema_version() >= 1);
	/* One daemon per database. */
	CHECK_INT_EQ(store_open(&cfg, &second, &err), ADA_EIO);
	CHECK(strstr(err.msg, "another adalorad") != NULL);
	store_free(st);

	/* Reopening an up-to-date database changes nothing. */
	st = open_store(path);
	store_free(st);

	/* A database from a newer adalorad is refused, and left alone. */
	CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", store_schema_version() + 1);
	CHECK_INT_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT_EQ(store_open(&cfg, &second, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "newer") != NULL);
	CHECK(second == NULL);
	free(path);
}

static void test_files(void)
{
	char *path = db_path("files.db");
	struct store *st = open_store(path);
	struct ada_err err = { 0 };
	struct store_files l;
	struct store_file f;
	char id[16];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "file-%d", i);
		add_file(st, id);
	}
	CHECK_OK(store_file_get(st, "file-3", &f, &err), &err);
	CHECK_STR_EQ(f.filename, "file-3.jsonl");
	CHECK_INT_EQ(store_file_get(st, "file-9", &f, &err), ADA_ENOTFOUND);

	/* Newest first, paged. */
	CHECK_OK(store_file_list(st, NULL, 2, &l, &err), &err);
	CHECK_INT_EQ(l.n, 2);
	CHECK(l.has_more);
	CHECK_STR_EQ(l.v[0].id, "file-4");
	CHECK_STR_EQ(l.v[1].id, "file-3");
	store_files_release(&l);
	CHECK_OK(store_file_list(st, "file-3", 10, &l, &err), &err);
	CHECK_INT_EQ(l.n, 3);
	CHECK(!l.has_more);
	CHECK_STR_EQ(l.v[2].id, "file-0");
	store_files_release(&l);
	CHECK_INT_EQ(store_file_list(st, "file-x", 10, &l, &err), ADA_ENOTFOUND);
	CHECK_STR_EQ(err.param, "after");

	/* In use by a waiting job: refused; once the job is over: deleted. */
	CHECK_OK(create_job(st, "ftjob-a", "file-1", 0, &err), &err);
	CHECK_INT_EQ(store_file_delete(st, "file-1", &f, &err), STORE_ECONFLICT);
	CHECK_OK(store_job_finish(st, "ftjob-a", JOB_FAILED, NULL, NULL, "error", "no", &err),
		 &err);
	CHECK_OK(store_file_delete(st, "file-1", &f, &err), &err);
	CHECK_STR_EQ(f.storage, "storage-file-1");
	CHECK_INT_EQ(store_file_get(st, "file-1", &f, &err), ADA_ENOTFOUND);
	CHECK_INT_EQ(store_file_delete(st, "file-1", &f, &err), ADA_ENOTFOUND);
	store_free(st);
	free(path);
}

static void test_job_lifecycle(void)
{
	char *path = db_path("jobs.db");
	struct store *st = open_store(path);
	struct store_plan plan = { 100, 10, 10, 420, 280, NULL, NULL };
	struct ada_err err = { 0 };
	struct store_events ev;
	struct store_job j;
	struct store_jobs l;
	struct store_progress p = {
		.step = 10, .total_steps = 100, .trained_tokens = 640, .budget_current = 400,
		.estimated_finish = 12345, .epoch = 1.0, .tokens_per_second = 99.5,
		.metrics = "{\"train_loss\":2.5}",
	};
	struct store_job_query q = { .limit = 10, .status = -1 };

	add_file(st, "file-t");
	CHECK_INT_EQ(create_job(st, "ftjob-x", "file-missing", 0, &err), ADA_ENOTFOUND);
	CHECK_STR_EQ(err.param, "training_file");
	CHECK_OK(create_job(st, "ftjob-1", "file-t", 0, &err), &err);
	CHECK_OK(create_job(st, "ftjob-2", "file-t", 0, &err), &err);
	/* Two jobs wait: a limit of 2 refuses a third. */
	CHECK_INT_EQ(create_job(st, "ftjob-3", "file-t", 2, &err), STORE_EFULL);

	CHECK_OK(store_job_get(st, "ftjob-1", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_VALIDATING);
	CHECK_INT_EQ(j.last_event, 2);
	CHECK_INT_EQ(j.budget_current, -1);
	CHECK(isnan(j.tokens_per_second));
	CHECK(j.error == NULL);
	CHECK_STR_EQ(j.method, "{\"type\":\"adalora\"}");
	store_job_release(&j);

	/* Nothing queued yet. */
	CHECK_INT_EQ(store_job_claim(st, &j, &err), ADA_ENOTFOUND);
	CHECK_OK(store_job_next_validating(st, &j, &err), &err);
	CHECK_STR_EQ(j.id, "ftjob-1");
	store_job_release(&j);
	CHECK_OK(store_job_planned(st, "ftjob-1", &plan, "{\"n_epochs\":10}", "queued", &err),
		 &err);
	CHECK_OK(store_job_planned(st, "ftjob-2", &plan, NULL, "queued", &err), &err);
	/* Planning twice is a conflict: the job is no longer validating. */
	CHECK_INT_EQ(store_job_planned(st, "ftjob-1", &plan, NULL, "queued", &err),
		     STORE_ECONFLICT);

	/* Claims go in creation order. */
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	CHECK_STR_EQ(j.id, "ftjob-1");
	CHECK_INT_EQ(j.status, JOB_RUNNING);
	CHECK(j.started_at > 0);
	CHECK_INT_EQ(j.total_steps, 100);
	CHECK_INT_EQ(j.budget_initial, 420);
	CHECK_STR_EQ(j.hyperparameters, "{\"n_epochs\":10}");
	store_job_release(&j);

	CHECK_OK(store_job_progress(st, "ftjob-1", 0, &p, "metrics", "Step 10/100", "{\"step\":10}",
				    &err), &err);
	CHECK_OK(store_job_get(st, "ftjob-1", &j, &err), &err);
	CHECK_INT_EQ(j.step, 10);
	CHECK_INT_EQ(j.budget_current, 400);
	CHECK_NEAR(j.tokens_per_second, 99.5, 0);
	CHECK_STR_EQ(j.metrics, "{\"train_loss\":2.5}");
	store_job_release(&j);

	/* Events: dense numbers, oldest first after a cursor, newest first without. */
	CHECK_OK(store_event_list(st, "ftjob-1", 0, 100, &ev, &err), &err);
	CHECK_INT_EQ(ev.n, 5);
	for (size_t i = 0; i < ev.n; i++)
		CHECK_INT_EQ(ev.v[i].seq, (int64_t)i + 1);
	CHECK_STR_EQ(ev.v[4].type, "metrics");
	CHECK_STR_EQ(ev.v[4].data, "{\"step\":10}");
	/* the store's own events are the life cycle, with the status they leave */
	CHECK_STR_EQ(ev.v[0].data, "{\"kind\":\"status\",\"status\":\"validating_files\"}");
	CHECK_STR_EQ(ev.v[3].data, "{\"kind\":\"status\",\"status\":\"running\"}");
	store_events_release(&ev);
	CHECK_OK(store_event_list(st, "ftjob-1", -1, 2, &ev, &err), &err);
	CHECK_INT_EQ(ev.n, 2);
	CHECK(ev.has_more);
	CHECK_INT_EQ(ev.v[0].seq, 5);
	store_events_release(&ev);
	CHECK_OK(store_event_list(st, "ftjob-1", 3, 1, &ev, &err), &err);
	CHECK_INT_EQ(ev.n, 1);
	CHECK_INT_EQ(ev.v[0].seq, 4);
	CHECK(ev.has_more);
	store_events_release(&ev);

	/* Ranks: the latest, or all in order. */
	CHECK_OK(store_event_add(st, "ftjob-1", 0, "info", "message", "ranks", "{\"step\":0}", &err),
		 &err);
	CHECK_OK(store_event_add(st, "ftjob-1", 0, "info", "message", "other", NULL, &err), &err);
	CHECK_OK(store_event_add(st, "ftjob-1", 0, "info", "message", "ranks", "{\"step\":10}", &err),
		 &err);
	CHECK_OK(store_event_ranks(st, "ftjob-1", 0, &ev, &err), &err);
	CHECK_INT_EQ(ev.n, 1);
	CHECK_STR_EQ(ev.v[0].data, "{\"step\":10}");
	store_events_release(&ev);
	CHECK_OK(store_event_ranks(st, "ftjob-1", 1, &ev, &err), &err);
	CHECK_INT_EQ(ev.n, 2);
	CHECK_STR_EQ(ev.v[0].data, "{\"step\":0}");
	store_events_release(&ev);
	CHECK_OK(store_event_last(st, "ftjob-1", "other", &ev, &err), &err);
	CHECK_INT_EQ(ev.n, 1);
	CHECK_INT_EQ(ev.v[0].seq, 7);
	store_events_release(&ev);
	CHECK_OK(store_event_last(st, "ftjob-1", "none", &ev, &err), &err);
	CHECK_INT_EQ(ev.n, 0);
	store_events_release(&ev);
	CHECK_INT_EQ(store_event_add(st, "ftjob-none", 0, "info", "message", "x", NULL, &err),
		     ADA_ENOTFOUND);

	/* Cancel: running -> requested (twice is fine), queued -> cancelled. */
	CHECK_OK(store_job_cancel(st, "ftjob-1", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_RUNNING);
	CHECK(j.cancel_requested);
	store_job_release(&j);
	CHECK_OK(store_job_cancel(st, "ftjob-1", &j, &err), &err);
	store_job_release(&j);
	CHECK_OK(store_job_cancel(st, "ftjob-2", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_CANCELLED);
	CHECK(j.finished_at > 0);
	store_job_release(&j);
	CHECK_INT_EQ(store_job_cancel(st, "ftjob-2", &j, &err), STORE_ECONFLICT);
	CHECK_INT_EQ(store_job_cancel(st, "ftjob-nope", &j, &err), ADA_ENOTFOUND);
	CHECK_OK(store_job_finish(st, "ftjob-1", JOB_CANCELLED, NULL, NULL, "info", "stopped",
				  &err), &err);
	CHECK_INT_EQ(store_job_finish(st, "ftjob-1", JOB_SUCCEEDED, NULL, "ft:x", "info", "done",
				      &err), STORE_ECONFLICT);

	/* Listing: newest first, filtered by status, paged. */
	CHECK_OK(store_job_list(st, &q, &l, &err), &err);
	CHECK_INT_EQ(l.n, 2);
	CHECK_STR_EQ(l.v[0].id, "ftjob-2");
	store_jobs_release(&l);
	q.status = JOB_CANCELLED;
	q.limit = 1;
	CHECK_OK(store_job_list(st, &q, &l, &err), &err);
	CHECK_INT_EQ(l.n, 1);
	CHECK(l.has_more);
	store_jobs_release(&l);
	q.after = "ftjob-2";
	CHECK_OK(store_job_list(st, &q, &l, &err), &err);
	CHECK_INT_EQ(l.n, 1);
	CHECK_STR_EQ(l.v[0].id, "ftjob-1");
	CHECK(!l.has_more);
	store_jobs_release(&l);

	{
		int64_t counts[JOB_N_STATUS], steps, tokens;
		CHECK_OK(store_job_counts(st, counts, &err), &err);
		CHECK_INT_EQ(counts[JOB_CANCELLED], 2);
		CHECK_INT_EQ(counts[JOB_QUEUED], 0);
		CHECK_OK(store_job_totals(st, &steps, &tokens, &err), &err);
		CHECK_INT_EQ(steps, 10);
		CHECK_INT_EQ(tokens, 640);
	}
	store_free(st);
	free(path);
}

static void test_recover_and_checkpoints(void)
{
	char *path = db_path("recover.db");
	struct store *st = open_store(path);
	struct store_plan plan = { 10, 10, 1, -1, -1, NULL, NULL };
	struct ada_err err = { 0 };
	struct store_checkpoints ck;
	struct store_job j;
	int nq = -1, nc = -1;

	add_file(st, "file-r");
	CHECK_OK(create_job(st, "ftjob-r1", "file-r", 0, &err), &err);
	CHECK_OK(create_job(st, "ftjob-r2", "file-r", 0, &err), &err);
	CHECK_OK(store_job_planned(st, "ftjob-r1", &plan, NULL, "queued", &err), &err);
	CHECK_OK(store_job_planned(st, "ftjob-r2", &plan, NULL, "queued", &err), &err);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	store_job_release(&j);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	store_job_release(&j);
	CHECK_OK(store_job_cancel(st, "ftjob-r2", &j, &err), &err);
	store_job_release(&j);
	CHECK_OK(store_checkpoint_add(st, "ftjob-r1", 0, 5, "{\"train_loss\":1}", &err), &err);
	CHECK_OK(store_checkpoint_add(st, "ftjob-r1", 0, 10, "{\"train_loss\":0.5}", &err), &err);
	CHECK_OK(store_checkpoint_add(st, "ftjob-r1", 0, 10, "{\"train_loss\":0.4}", &err), &err);
	/* The daemon "crashes" with both running. */
	store_free(st);

	st = open_store(path);
	{
		struct store_recovery rv;
		CHECK_OK(store_recover(st, 3, &rv, &err), &err);
		nq = rv.requeued;
		nc = rv.cancelled;
		CHECK_INT_EQ(rv.failed, 0);
	}
	CHECK_INT_EQ(nq, 1);
	CHECK_INT_EQ(nc, 1);
	CHECK_OK(store_job_get(st, "ftjob-r2", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_CANCELLED);
	store_job_release(&j);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	CHECK_STR_EQ(j.id, "ftjob-r1");
	store_job_release(&j);

	CHECK_OK(store_checkpoint_list(st, "ftjob-r1", -1, 10, &ck, &err), &err);
	CHECK_INT_EQ(ck.n, 2);
	CHECK_INT_EQ(ck.v[0].step, 10);
	CHECK_STR_EQ(ck.v[0].metrics, "{\"train_loss\":0.4}");
	store_checkpoints_release(&ck);
	CHECK_OK(store_checkpoint_list(st, "ftjob-r1", 10, 10, &ck, &err), &err);
	CHECK_INT_EQ(ck.n, 1);
	CHECK_INT_EQ(ck.v[0].step, 5);
	store_checkpoints_release(&ck);
	store_free(st);
	free(path);
}

/* Queue a new job and claim it: it is running. */
static void start_job(struct store *st, const char *id, const char *file)
{
	struct store_plan plan = { 10, 10, 1, -1, -1, NULL, NULL };
	struct ada_err err = { 0 };
	struct store_job j;

	CHECK_OK(create_job(st, id, file, 0, &err), &err);
	CHECK_OK(store_job_planned(st, id, &plan, NULL, "queued", &err), &err);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	CHECK_STR_EQ(j.id, id);
	store_job_release(&j);
}

static void last_event(struct store *st, const char *id, char *msg, size_t cap)
{
	struct ada_err err = { 0 };
	struct store_events ev;

	CHECK_OK(store_event_list(st, id, -1, 1, &ev, &err), &err);
	snprintf(msg, cap, "%s", ev.n ? ev.v[0].message : "");
	store_events_release(&ev);
}

/* A job that kills the daemon is counted and, at --max-attempts, failed:
 * the attempt is on disk before the run (the claim counts it), a crash is
 * counted at the next start. */
static void test_crash_loop(void)
{
	char *path = db_path("crashloop.db"), msg[600];
	struct store *st = open_store(path);
	struct store_recovery rv;
	struct ada_err err = { 0 };
	struct store_job j;
	json_t *e;

	add_file(st, "file-c");
	start_job(st, "ftjob-oom", "file-c");
	CHECK_OK(store_job_get(st, "ftjob-oom", &j, &err), &err);
	CHECK_INT_EQ(j.attempts, 1);
	CHECK_INT_EQ(j.crashes, 0);
	store_job_release(&j);
	store_free(st);                         /* killed */

	st = open_store(path);
	CHECK_OK(store_recover(st, 2, &rv, &err), &err);
	CHECK_INT_EQ(rv.requeued, 1);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	CHECK_INT_EQ(j.attempts, 2);
	CHECK_INT_EQ(j.crashes, 1);
	store_job_release(&j);
	last_event(st, "ftjob-oom", msg, sizeof(msg));
	CHECK(strstr(msg, "attempt 2") != NULL);
	store_free(st);                         /* killed again */

	st = open_store(path);
	CHECK_OK(store_recover(st, 2, &rv, &err), &err);
	CHECK_INT_EQ(rv.requeued, 0);
	CHECK_INT_EQ(rv.failed, 1);
	CHECK_OK(store_job_get(st, "ftjob-oom", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_FAILED);
	CHECK_INT_EQ(j.crashes, 2);
	CHECK(j.finished_at > 0);
	e = json_loads(j.error ? j.error : "", 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(e, "code")), "crash_loop");
	CHECK(strstr(json_string_value(json_object_get(e, "message")) ?: "", "2 times") != NULL);
	CHECK(strstr(json_string_value(json_object_get(e, "message")) ?: "", "--max-attempts 2") != NULL);
	json_decref(e);
	store_job_release(&j);
	CHECK_INT_EQ(store_job_claim(st, &j, &err), ADA_ENOTFOUND);   /* not run again */

	/* A pause (a clean shutdown) is no crash; 0 never fails a job. */
	start_job(st, "ftjob-paused", "file-c");
	CHECK_OK(store_job_requeue(st, "ftjob-paused", "paused", &err), &err);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	CHECK_INT_EQ(j.crashes, 0);
	CHECK_INT_EQ(j.attempts, 2);
	store_job_release(&j);
	store_free(st);
	for (int i = 0; i < 4; i++) {
		st = open_store(path);
		CHECK_OK(store_recover(st, 0, &rv, &err), &err);
		CHECK_INT_EQ(rv.failed, 0);
		CHECK_INT_EQ(rv.requeued, 1);
		CHECK_OK(store_job_claim(st, &j, &err), &err);
		store_job_release(&j);
		store_free(st);
	}
	st = open_store(path);
	CHECK_OK(store_job_get(st, "ftjob-paused", &j, &err), &err);
	CHECK_INT_EQ(j.crashes, 4);
	CHECK_INT_EQ(j.attempts, 6);
	CHECK_INT_EQ(j.status, JOB_RUNNING);
	store_job_release(&j);
	store_free(st);
	free(path);
}

/* A cancel answered 200 wins over whatever the run reports afterwards. */
static void test_cancel_wins(void)
{
	char *path = db_path("cancelwins.db"), msg[600];
	struct store *st = open_store(path);
	struct ada_err err = { 0 };
	struct store_job j;
	enum job_status ended = JOB_N_STATUS;
	struct store_outcome ok = { .status = JOB_SUCCEEDED, .fine_tuned_model = "ft:tiny::x",
				    .message = "The job has successfully completed: 10 steps" };

	add_file(st, "file-w");
	start_job(st, "ftjob-w1", "file-w");
	CHECK_OK(store_job_cancel(st, "ftjob-w1", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_RUNNING);
	store_job_release(&j);
	/* Training completed before the worker saw the flag. */
	CHECK_OK(store_job_outcome(st, "ftjob-w1", &ok, &ended, &err), &err);
	CHECK_INT_EQ(ended, JOB_CANCELLED);
	CHECK_OK(store_job_get(st, "ftjob-w1", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_CANCELLED);
	CHECK_STR_EQ(j.fine_tuned_model, "");
	CHECK(j.error == NULL);
	CHECK(j.finished_at > 0);
	store_job_release(&j);
	last_event(st, "ftjob-w1", msg, sizeof(msg));
	CHECK(strstr(msg, "cancelled") && strstr(msg, "successfully completed"));
	CHECK_INT_EQ(store_job_cancel(st, "ftjob-w1", &j, &err), STORE_ECONFLICT);

	/* A failure, and a pause for shutdown, lose to it too. */
	start_job(st, "ftjob-w2", "file-w");
	CHECK_OK(store_job_cancel(st, "ftjob-w2", &j, &err), &err);
	store_job_release(&j);
	CHECK_OK(store_job_finish(st, "ftjob-w2", JOB_FAILED, "{\"code\":\"x\"}", NULL, "error",
				  "Fine-tuning job failed: x", &err), &err);
	CHECK_OK(store_job_get(st, "ftjob-w2", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_CANCELLED);
	CHECK(j.error == NULL);
	store_job_release(&j);
	start_job(st, "ftjob-w3", "file-w");
	CHECK_OK(store_job_cancel(st, "ftjob-w3", &j, &err), &err);
	store_job_release(&j);
	CHECK_OK(store_job_requeue(st, "ftjob-w3", "paused", &err), &err);
	CHECK_OK(store_job_get(st, "ftjob-w3", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_CANCELLED);
	store_job_release(&j);
	CHECK_INT_EQ(store_job_claim(st, &j, &err), ADA_ENOTFOUND);

	/* Without a cancel the outcome is the run's. */
	start_job(st, "ftjob-w4", "file-w");
	CHECK_OK(store_job_outcome(st, "ftjob-w4", &ok, &ended, &err), &err);
	CHECK_INT_EQ(ended, JOB_SUCCEEDED);
	CHECK_OK(store_job_get(st, "ftjob-w4", &j, &err), &err);
	CHECK_STR_EQ(j.fine_tuned_model, "ft:tiny::x");
	store_job_release(&j);
	store_free(st);
	free(path);
}

/* Running jobs no worker runs are re-queued (not counted as crashes), or
 * cancelled when a cancel is pending; the test hook fails outcome writes. */
static void test_reconcile_and_fault_hook(void)
{
	char *path = db_path("reconcile.db");
	struct store *st;
	struct store_recovery rv;
	struct ada_err err = { 0 };
	struct store_job j;
	char (*ids)[STORE_ID_MAX];
	size_t n;

	setenv("ADALORAD_TEST_FAIL_OUTCOMES", "2", 1);
	st = open_store(path);
	unsetenv("ADALORAD_TEST_FAIL_OUTCOMES");
	add_file(st, "file-o");
	start_job(st, "ftjob-o1", "file-o");
	start_job(st, "ftjob-o2", "file-o");
	CHECK_OK(store_job_running_ids(st, &ids, &n, &err), &err);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(ids[0], "ftjob-o1");
	CHECK_STR_EQ(ids[1], "ftjob-o2");
	free(ids);
	CHECK_INT_EQ(store_job_succeeded(st, "ftjob-o1", "ft:x", NULL, "done", &err), ADA_EIO);
	CHECK(strstr(err.msg, "ADALORAD_TEST_FAIL_OUTCOMES") != NULL);
	CHECK_INT_EQ(store_job_requeue(st, "ftjob-o1", "paused", &err), ADA_EIO);
	CHECK_OK(store_job_get(st, "ftjob-o1", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_RUNNING);    /* both writes rolled back */
	store_job_release(&j);
	/* The reconciler's view: o1 is an orphan, o2 has a cancel pending. */
	CHECK_OK(store_job_cancel(st, "ftjob-o2", &j, &err), &err);
	store_job_release(&j);
	CHECK_OK(store_job_reconcile(st, "ftjob-o1", &rv, &err), &err);
	CHECK_INT_EQ(rv.requeued, 1);
	CHECK_OK(store_job_reconcile(st, "ftjob-o2", &rv, &err), &err);
	CHECK_INT_EQ(rv.cancelled, 1);
	CHECK_OK(store_job_reconcile(st, "ftjob-o2", &rv, &err), &err);
	CHECK_INT_EQ(rv.cancelled + rv.requeued, 0);   /* no longer running */
	CHECK_OK(store_job_get(st, "ftjob-o1", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_QUEUED);
	CHECK_INT_EQ(j.crashes, 0);
	store_job_release(&j);
	/* The hook's count is spent: the third outcome write goes through. */
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	store_job_release(&j);
	CHECK_OK(store_job_succeeded(st, "ftjob-o1", "ft:x", NULL, "done", &err), &err);
	store_free(st);
	free(path);
}

/* PRAGMA quick_check at open: a damaged file is refused with SQLite's
 * words, unless the check is skipped. */
static void test_integrity_check(void)
{
	char *path = db_path("damaged.db"), id[STORE_ID_MAX];
	struct store_config cfg = { .path = path, .sync = STORE_SYNC_NORMAL };
	struct ada_err err = { 0 };
	struct store *st = open_store(path), *bad = NULL;
	FILE *f;
	long size;

	add_file(st, "file-d");
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "ftjob-d%d", i);
		CHECK_OK(create_job(st, id, "file-d", 0, &err), &err);
	}
	store_free(st);
	{
		/* Fold the WAL into the file, then damage pages past the first. */
		sqlite3 *db;
		CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
		CHECK_INT_EQ(sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	f = fopen(path, "r+b");
	CHECK(f != NULL);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	CHECK(size > 4 * 4096);
	for (long off = 2 * 4096; off + 64 < size; off += 4096) {
		static const char junk[64] = "ÿþýü garbage garbage garbage garbage";
		fseek(f, off + 8, SEEK_SET);
		fwrite(junk, 1, sizeof(junk), f);
	}
	fclose(f);
	CHECK_INT_EQ(store_open(&cfg, &bad, &err), ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "damaged") && strstr(err.msg, "--integrity-check off"), "%s",
		  err.msg);
	CHECK(bad == NULL);
	cfg.skip_integrity_check = 1;
	err.msg[0] = '\0';
	{
		int rc = store_open(&cfg, &bad, &err);
		CHECK_MSG(rc != ADA_EFORMAT || !strstr(err.msg, "quick_check"),
			  "the skipped check ran: %s", err.msg);
		store_free(bad);
	}
	free(path);
}

static atomic_int wakes;

static void on_wake(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&wakes, 1);
}

static void test_watch(void)
{
	char *path = db_path("watch.db");
	struct store *st = open_store(path);
	struct store_watch w = { .wake = on_wake }, other = { .wake = on_wake };
	struct ada_err err = { 0 };

	add_file(st, "file-w");
	CHECK_OK(create_job(st, "ftjob-w", "file-w", 0, &err), &err);
	CHECK_OK(create_job(st, "ftjob-o", "file-w", 0, &err), &err);
	snprintf(w.job_id, sizeof(w.job_id), "ftjob-w");
	snprintf(other.job_id, sizeof(other.job_id), "ftjob-none");
	store_watch_add(st, &w);
	store_watch_add(st, &other);
	CHECK_OK(store_event_add(st, "ftjob-w", 0, "info", "message", "a", NULL, &err), &err);
	CHECK_OK(store_event_add(st, "ftjob-o", 0, "info", "message", "b", NULL, &err), &err);
	CHECK_INT_EQ(atomic_load(&wakes), 1);
	store_watch_remove(st, &w);
	CHECK_OK(store_event_add(st, "ftjob-w", 0, "info", "message", "c", NULL, &err), &err);
	CHECK_INT_EQ(atomic_load(&wakes), 1);
	store_watch_remove(st, &other);
	store_free(st);
	free(path);
}

#define N_THREADS 4
#define N_PER_THREAD 50

static struct store *shared;
static atomic_int thread_failures;

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg;
	struct ada_err err = { 0 };
	char id[STORE_ID_MAX];

	for (int i = 0; i < N_PER_THREAD; i++) {
		if (store_new_id("ftjob", id, sizeof(id), &err) ||
		    create_job(shared, id, "file-c", 0, &err) ||
		    store_event_add(shared, id, 0, "info", "message", "x", NULL, &err)) {
			fprintf(stderr, "thread %d: %s\n", t, err.msg);
			atomic_fetch_add(&thread_failures, 1);
		}
		/* A write that fails in a shared commit fails alone. */
		if (store_new_id("ftjob", id, sizeof(id), &err) ||
		    create_job(shared, id, "file-missing", 0, &err) != ADA_ENOTFOUND ||
		    strcmp(err.param, "training_file")) {
			fprintf(stderr, "thread %d: a bad write was not refused alone\n", t);
			atomic_fetch_add(&thread_failures, 1);
		}
	}
	return NULL;
}

static void test_concurrent_writers(void)
{
	char *path = db_path("concurrent.db");
	struct ada_err err = { 0 };
	pthread_t th[N_THREADS];
	int64_t counts[JOB_N_STATUS];
	char id[STORE_ID_MAX];

	shared = open_store(path);
	add_file(shared, "file-c");
	for (int i = 0; i < N_THREADS; i++)
		pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_INT_EQ(atomic_load(&thread_failures), 0);
	CHECK_OK(store_job_counts(shared, counts, &err), &err);
	CHECK_INT_EQ(counts[JOB_VALIDATING], N_THREADS * N_PER_THREAD);
	{
		/* Every job has its two creation events and the one added. */
		struct store_job_query q = { .limit = 100, .status = -1 };
		struct store_jobs l;
		CHECK_OK(store_job_list(shared, &q, &l, &err), &err);
		for (size_t i = 0; i < l.n; i++)
			CHECK_INT_EQ(l.v[i].last_event, 3);
		store_jobs_release(&l);
	}
	CHECK_OK(store_new_id("file", id, sizeof(id), &err), &err);
	CHECK_INT_EQ(strlen(id), 5 + 24);
	CHECK(!strncmp(id, "file-", 5));
	store_free(shared);
	free(path);
}

/* Classification: a file's label summary, the task and the classifier's
 * description from the plan, replaced by the result's at success. */
static void test_classification_rows(void)
{
	char *path = db_path("cls.db");
	struct store *st = open_store(path);
	struct store_plan plan = {
		10, 10, 1, -1, -1, "classification",
		"{\"num_labels\":2,\"train_examples\":40,\"valid_examples\":8}",
	};
	struct store_file f = { 0 };
	struct ada_err err = { 0 };
	struct store_job j;
	char *labels = NULL;

	add_file(st, "file-lm");
	snprintf(f.id, sizeof(f.id), "file-c");
	snprintf(f.filename, sizeof(f.filename), "c.jsonl");
	snprintf(f.purpose, sizeof(f.purpose), "fine-tune");
	snprintf(f.format, sizeof(f.format), "jsonl");
	snprintf(f.shape, sizeof(f.shape), "classification");
	snprintf(f.storage, sizeof(f.storage), "storage-c");
	f.labels = "{\"kind\":\"int\",\"num_labels\":2}";
	CHECK_OK(store_file_add(st, &f, &err), &err);
	CHECK_OK(store_file_labels(st, "file-c", &labels, &err), &err);
	CHECK_STR_EQ(labels, "{\"kind\":\"int\",\"num_labels\":2}");
	free(labels);
	CHECK_OK(store_file_labels(st, "file-lm", &labels, &err), &err);
	CHECK(labels == NULL);
	CHECK_INT_EQ(store_file_labels(st, "file-none", &labels, &err), ADA_ENOTFOUND);

	CHECK_OK(create_job(st, "ftjob-c", "file-c", 0, &err), &err);
	CHECK_OK(store_job_get(st, "ftjob-c", &j, &err), &err);
	CHECK_STR_EQ(j.task, "");
	CHECK(j.classification == NULL);
	store_job_release(&j);
	CHECK_OK(store_job_planned(st, "ftjob-c", &plan, NULL, "queued", &err), &err);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	CHECK_STR_EQ(j.task, "classification");
	CHECK_STR_EQ(j.classification, plan.classification);
	store_job_release(&j);
	CHECK_OK(store_job_succeeded(st, "ftjob-c", "ft:tiny::ftjob-c", "{\"num_labels\":2}",
				     "done", &err), &err);
	CHECK_OK(store_job_get(st, "ftjob-c", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_SUCCEEDED);
	CHECK_STR_EQ(j.fine_tuned_model, "ft:tiny::ftjob-c");
	CHECK_STR_EQ(j.classification, "{\"num_labels\":2}");
	store_job_release(&j);
	store_free(st);
	free(path);
}

static void test_code_names(void)
{
	CHECK_STR_EQ(store_code_name(STORE_ECONFLICT), "conflict");
	CHECK_STR_EQ(store_code_name(STORE_EFULL), "limit_reached");
	CHECK_STR_EQ(store_code_name(ADA_EIO), "io_error");
}

int main(void)
{
	tmp = check_tmpdir("store");
	RUN(test_code_names);
	RUN(test_migrations);
	RUN(test_files);
	RUN(test_job_lifecycle);
	RUN(test_recover_and_checkpoints);
	RUN(test_crash_loop);
	RUN(test_cancel_wins);
	RUN(test_reconcile_and_fault_hook);
	RUN(test_integrity_check);
	RUN(test_classification_rows);
	RUN(test_watch);
	RUN(test_concurrent_writers);
	free(tmp);
	return check_summary();
}
