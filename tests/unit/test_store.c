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

	CHECK_OK(store_job_progress(st, "ftjob-1", &p, "metrics", "Step 10/100", "{\"step\":10}",
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
	CHECK_OK(store_event_add(st, "ftjob-1", "info", "message", "ranks", "{\"step\":0}", &err),
		 &err);
	CHECK_OK(store_event_add(st, "ftjob-1", "info", "message", "other", NULL, &err), &err);
	CHECK_OK(store_event_add(st, "ftjob-1", "info", "message", "ranks", "{\"step\":10}", &err),
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
	CHECK_INT_EQ(store_event_add(st, "ftjob-none", "info", "message", "x", NULL, &err),
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
	CHECK_OK(store_checkpoint_add(st, "ftjob-r1", 5, "{\"train_loss\":1}", &err), &err);
	CHECK_OK(store_checkpoint_add(st, "ftjob-r1", 10, "{\"train_loss\":0.5}", &err), &err);
	CHECK_OK(store_checkpoint_add(st, "ftjob-r1", 10, "{\"train_loss\":0.4}", &err), &err);
	/* The daemon "crashes" with both running. */
	store_free(st);

	st = open_store(path);
	CHECK_OK(store_recover(st, &nq, &nc, &err), &err);
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
	CHECK_OK(store_event_add(st, "ftjob-w", "info", "message", "a", NULL, &err), &err);
	CHECK_OK(store_event_add(st, "ftjob-o", "info", "message", "b", NULL, &err), &err);
	CHECK_INT_EQ(atomic_load(&wakes), 1);
	store_watch_remove(st, &w);
	CHECK_OK(store_event_add(st, "ftjob-w", "info", "message", "c", NULL, &err), &err);
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
		    store_event_add(shared, id, "info", "message", "x", NULL, &err)) {
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

int main(void)
{
	tmp = check_tmpdir("store");
	RUN(test_migrations);
	RUN(test_files);
	RUN(test_job_lifecycle);
	RUN(test_recover_and_checkpoints);
	RUN(test_classification_rows);
	RUN(test_watch);
	RUN(test_concurrent_writers);
	free(tmp);
	return check_summary();
}
