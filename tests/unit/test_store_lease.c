/*
 * test_store_lease — what several daemons on one store rely on, through
 * store.h alone, on the backend ADALORAD_TEST_BACKEND names (SQLite by
 * default; "postgresql" starts a throwaway server, tests/support/pg_server.h):
 *   - fencing: a run's writes (events, progress, checkpoints, outcome) under
 *     an epoch the job has moved past are refused (STORE_EFENCED) and the
 *     lease_lost hook is told; the current epoch's go through, and the
 *     outcome records where the result is (output_dir);
 *   - Idempotency-Key: the same key and fingerprint replay the job, another
 *     fingerprint is a conflict naming the header;
 * and on PostgreSQL:
 *   - two stores (two daemons) claiming from eight threads at once take
 *     every queued job exactly once (SKIP LOCKED), each under its own lease;
 *   - a lease that expired (its daemon gone) is re-queued by the other,
 *     counted as a crash, and claimed again under the next epoch;
 *   - a daemon restarted under its id after a kill takes its jobs back at
 *     once; the daemons list; a schema newer than the binary's is refused;
 *   - a live stream's reads on another daemon (store_event_follow) are
 *     answered from the rows the notifications carried (rows changed in the
 *     database behind its back read as they were heard), while an empty
 *     answer and an event too large for a payload come from the database.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "pg_server.h"
#include "store.h"

static int pg;
static char *tmp;
static int db_counter;
static atomic_int lost_calls;

static void on_lost(void *ctx, const char *job_id, int64_t epoch)
{
	(void)ctx;
	(void)job_id;
	(void)epoch;
	atomic_fetch_add(&lost_calls, 1);
}

/* The name of the n-th database this process makes. */
static const char *scratch_name(int n)
{
	static char name[64];

	snprintf(name, sizeof(name), "lease_%ld_%d", (long)getpid(), n);
	return name;
}

/* A fresh database; its URI (PostgreSQL) or path (SQLite) in where. */
static void new_db(char *where, size_t cap)
{
	if (pg)
		snprintf(where, cap, "%s", pg_server_uri(scratch_name(db_counter++)));
	else
		snprintf(where, cap, "%s/lease-%d.db", tmp, db_counter++);
}

static struct store *open_db(const char *where, const char *daemon_id, int64_t lease_ms)
{
	struct store_config cfg = { .path = where, .sync = STORE_SYNC_NORMAL, .daemon_id = daemon_id,
				    .lease_ms = lease_ms, .workers = 1, .version = "test" };
	struct store_hooks hooks = { .lease_lost = on_lost };
	struct ada_err err = { 0 };
	struct store *st = NULL;

	CHECK_OK(store_open(&cfg, &st, &err), &err);
	if (st)
		store_set_hooks(st, &hooks);
	return st;
}

static void add_file(struct store *st, const char *id)
{
	struct store_file f = { 0 };
	struct ada_err err = { 0 };

	snprintf(f.id, sizeof(f.id), "%s", id);
	snprintf(f.filename, sizeof(f.filename), "x.jsonl");
	snprintf(f.purpose, sizeof(f.purpose), "fine-tune");
	snprintf(f.format, sizeof(f.format), "jsonl");
	snprintf(f.shape, sizeof(f.shape), "text");
	snprintf(f.storage, sizeof(f.storage), "storage-%s", id);
	CHECK_OK(store_file_add(st, &f, &err), &err);
}

/* A job created and planned: queued. */
static void queued_job(struct store *st, const char *id)
{
	struct store_job_spec spec = { .id = id, .model = "tiny", .training_file = "file-1",
				       .seed = 1, .method = "{}", .hyperparameters = "{}" };
	struct store_plan plan = { .total_steps = 10, .steps_per_epoch = 10, .n_epochs = 1,
				   .budget_initial = -1, .budget_target = -1 };
	struct ada_err err = { 0 };

	CHECK_OK(store_job_create(st, &spec, NULL, &err), &err);
	CHECK_OK(store_job_planned(st, id, &plan, NULL, "planned", &err), &err);
}

static void test_fencing(void)
{
	char where[1024];
	struct store *st;
	struct store_job j;
	struct ada_err err = { 0 };
	struct store_progress p = { .step = 1, .total_steps = 10, .budget_current = -1,
				    .metrics = "{}" };
	struct store_outcome paused = { .status = JOB_QUEUED, .message = "paused" };
	struct store_outcome done = { .status = JOB_SUCCEEDED, .fine_tuned_model = "ft:x",
				      .message = "done", .output_dir = "run-2" };
	int64_t e1, e2;

	new_db(where, sizeof(where));
	st = open_db(where, NULL, 0);
	if (!st)
		return;
	add_file(st, "file-1");
	queued_job(st, "ftjob-f");
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	e1 = j.lease_epoch;
	CHECK_INT_EQ(e1, 1);
	if (pg)
		CHECK_STR_EQ(j.lease_owner, store_daemon_id(st));
	store_job_release(&j);
	CHECK_OK(store_event_add(st, "ftjob-f", e1, "info", "message", "mine", NULL, &err), &err);
	paused.epoch = e1;
	CHECK_OK(store_job_outcome(st, "ftjob-f", &paused, NULL, &err), &err);
	/* Not running: even its own epoch may not write now. */
	atomic_store(&lost_calls, 0);
	CHECK_INT_EQ(store_event_add(st, "ftjob-f", e1, "info", "message", "late", NULL, &err),
		     STORE_EFENCED);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	e2 = j.lease_epoch;
	CHECK_INT_EQ(e2, 2);
	store_job_release(&j);
	/* The old epoch is refused everywhere, and the hook hears of it. */
	CHECK_INT_EQ(store_event_add(st, "ftjob-f", e1, "info", "message", "stale", NULL, &err),
		     STORE_EFENCED);
	CHECK(strstr(err.msg, "no longer this run's") != NULL);
	CHECK_INT_EQ(store_job_progress(st, "ftjob-f", e1, &p, "metrics", "m", "{}", &err),
		     STORE_EFENCED);
	CHECK_INT_EQ(store_checkpoint_add(st, "ftjob-f", e1, 5, "{}", &err), STORE_EFENCED);
	paused.epoch = e1;
	CHECK_INT_EQ(store_job_outcome(st, "ftjob-f", &paused, NULL, &err), STORE_EFENCED);
	CHECK(atomic_load(&lost_calls) >= 4);
	/* Epoch 0 is not a run's: never fenced (the API's own events). */
	CHECK_OK(store_event_add(st, "ftjob-f", 0, "info", "message", "api", NULL, &err), &err);
	/* The current epoch writes, and its outcome says where the result is. */
	CHECK_OK(store_job_progress(st, "ftjob-f", e2, &p, "metrics", "m", "{}", &err), &err);
	CHECK_OK(store_checkpoint_add(st, "ftjob-f", e2, 5, "{}", &err), &err);
	done.epoch = e2;
	CHECK_OK(store_job_outcome(st, "ftjob-f", &done, NULL, &err), &err);
	CHECK_OK(store_job_get(st, "ftjob-f", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_SUCCEEDED);
	CHECK_STR_EQ(j.output_dir, "run-2");
	CHECK_STR_EQ(j.lease_owner, "");
	store_job_release(&j);
	/* Recorded twice (a lost answer, retried): a conflict, not a fence. */
	CHECK_INT_EQ(store_job_outcome(st, "ftjob-f", &done, NULL, &err), STORE_ECONFLICT);
	CHECK_INT_EQ(store_event_add(st, "ftjob-none", 3, "info", "message", "x", NULL, &err),
		     ADA_ENOTFOUND);
	store_free(st);
}

static void test_idempotency(void)
{
	char where[1024];
	struct store *st;
	struct store_job a, b;
	struct ada_err err = { 0 };
	int replayed = 0;
	struct store_job_spec spec = { .id = "ftjob-k1", .model = "tiny", .training_file = "file-1",
				       .seed = 1, .method = "{}", .hyperparameters = "{}",
				       .idempotency_key = "key-1", .request_hash = "h1",
				       .idempotency_ttl_s = 3600, .replayed = &replayed };

	new_db(where, sizeof(where));
	st = open_db(where, NULL, 0);
	if (!st)
		return;
	add_file(st, "file-1");
	CHECK_OK(store_job_create(st, &spec, &a, &err), &err);
	CHECK_INT_EQ(replayed, 0);
	spec.id = "ftjob-k2";
	CHECK_OK(store_job_create(st, &spec, &b, &err), &err);
	CHECK_INT_EQ(replayed, 1);
	CHECK_STR_EQ(b.id, "ftjob-k1");
	store_job_release(&a);
	store_job_release(&b);
	CHECK_INT_EQ(store_job_get(st, "ftjob-k2", &b, &err), ADA_ENOTFOUND);
	spec.request_hash = "h2";
	CHECK_INT_EQ(store_job_create(st, &spec, &b, &err), STORE_ECONFLICT);
	CHECK_STR_EQ(err.param, "Idempotency-Key");
	CHECK_OK(store_job_by_idempotency_key(st, "key-1", "h1", 3600, &a, &err), &err);
	CHECK_STR_EQ(a.id, "ftjob-k1");
	store_job_release(&a);
	CHECK_INT_EQ(store_job_by_idempotency_key(st, "key-1", "h2", 3600, &a, &err),
		     STORE_ECONFLICT);
	CHECK_INT_EQ(store_job_by_idempotency_key(st, "key-9", "h1", 3600, &a, &err),
		     ADA_ENOTFOUND);
	store_free(st);
}

#define N_QUEUED 24

struct claimer {
	struct store *st;
	char got[N_QUEUED][STORE_ID_MAX];
	int n;
};

static void *claim_all(void *arg)
{
	struct claimer *c = arg;
	struct ada_err err = { 0 };
	struct store_job j;

	while (c->n < N_QUEUED && store_job_claim(c->st, &j, &err) == ADA_OK) {
		if (strcmp(j.lease_owner, store_daemon_id(c->st)) || j.lease_epoch != 1)
			c->n = -1000;   /* CHECKed by the main thread */
		else
			snprintf(c->got[c->n++], STORE_ID_MAX, "%s", j.id);
		store_job_release(&j);
	}
	store_thread_done(c->st);
	return NULL;
}

static void test_skip_locked(void)
{
	char where[1024], id[STORE_ID_MAX];
	struct store *a, *b;
	struct claimer cs[8];
	pthread_t t[8];
	int seen[N_QUEUED] = { 0 }, total = 0;

	new_db(where, sizeof(where));
	a = open_db(where, "daemon-a", 0);
	b = open_db(where, "daemon-b", 0);
	if (!a || !b)
		return;
	add_file(a, "file-1");
	for (int i = 0; i < N_QUEUED; i++) {
		snprintf(id, sizeof(id), "ftjob-q%02d", i);
		queued_job(i % 2 ? a : b, id);
	}
	for (int i = 0; i < 8; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		cs[i].st = i % 2 ? a : b;
		pthread_create(&t[i], NULL, claim_all, &cs[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++) {
		CHECK(cs[i].n >= 0);
		for (int k = 0; k < cs[i].n; k++) {
			int q = atoi(cs[i].got[k] + 7);
			if (q >= 0 && q < N_QUEUED)
				seen[q]++;
			total++;
		}
	}
	CHECK_INT_EQ(total, N_QUEUED);
	for (int q = 0; q < N_QUEUED; q++)
		CHECK_MSG(seen[q] == 1, "job %d claimed %d times", q, seen[q]);
	{
		struct store_daemons l;
		struct ada_err err = { 0 };
		size_t running = 0;
		CHECK_OK(store_daemon_list(a, &l, &err), &err);
		CHECK_INT_EQ(l.n, 2);
		for (size_t i = 0; i < l.n; i++) {
			CHECK_INT_EQ(l.v[i].self, !strcmp(l.v[i].id, "daemon-a"));
			running += l.v[i].n_running;
		}
		CHECK_INT_EQ(running, N_QUEUED);
		store_daemons_release(&l);
	}
	store_free(a);
	store_free(b);
}

static void test_expired_lease(void)
{
	char where[1024];
	struct store *a, *b;
	struct store_job j;
	struct store_recovery rv;
	struct ada_err err = { 0 };

	new_db(where, sizeof(where));
	a = open_db(where, "daemon-a", 300);
	b = open_db(where, "daemon-b", 300);
	if (!a || !b)
		return;
	add_file(a, "file-1");
	queued_job(a, "ftjob-x");
	CHECK_OK(store_job_claim(a, &j, &err), &err);
	store_job_release(&j);
	/* While a renews, b takes nothing. */
	usleep(600 * 1000);
	CHECK_OK(store_recover(b, 3, &rv, &err), &err);
	CHECK_INT_EQ(rv.requeued, 0);
	CHECK_OK(store_job_get(b, "ftjob-x", &j, &err), &err);
	CHECK_INT_EQ(j.status, JOB_RUNNING);
	store_job_release(&j);
	/* a dies (its heartbeat stops); its lease runs out, and b's heartbeat
	 * (or b's recovery, whichever comes first) puts the job back. */
	store_free(a);
	for (int i = 0; i < 100; i++) {
		CHECK_OK(store_recover(b, 3, &rv, &err), &err);
		CHECK_OK(store_job_get(b, "ftjob-x", &j, &err), &err);
		store_job_release(&j);
		if (j.status != JOB_RUNNING)
			break;
		usleep(50 * 1000);
	}
	CHECK_INT_EQ(j.status, JOB_QUEUED);
	{
		struct store_events ev;
		CHECK_OK(store_event_list(b, "ftjob-x", -1, 1, &ev, &err), &err);
		CHECK(ev.n == 1 && strstr(ev.v[0].message, "lease of daemon daemon-a expired"));
		store_events_release(&ev);
	}
	CHECK_OK(store_job_claim(b, &j, &err), &err);
	CHECK_STR_EQ(j.id, "ftjob-x");
	CHECK_INT_EQ(j.lease_epoch, 2);
	CHECK_INT_EQ(j.attempts, 2);
	CHECK_INT_EQ(j.crashes, 1);
	CHECK_STR_EQ(j.lease_owner, "daemon-b");
	store_job_release(&j);
	/* An id a live daemon has is refused. */
	{
		struct store_config cfg = { .path = where, .daemon_id = "daemon-b" };
		struct store *dup = NULL;
		CHECK_INT_EQ(store_open(&cfg, &dup, &err), ADA_EINVAL);
		CHECK_STR_EQ(err.param, "daemon_id");
	}
	store_free(b);
}

/* A daemon restarted under its --daemon-id after a kill -9: its dead
 * predecessor's leases end at once, and the start's recovery re-queues
 * its jobs without waiting for them to expire. */
static void test_restart_same_id(void)
{
	char where[1024];
	struct store *st;
	struct store_job j;
	struct store_recovery rv;
	struct ada_err err = { 0 };
	int status;
	pid_t pid;

	new_db(where, sizeof(where));
	st = open_db(where, NULL, 0);
	if (!st)
		return;
	add_file(st, "file-1");
	queued_job(st, "ftjob-r");
	store_free(st);
	pid = fork();
	if (pid == 0) {
		/* The first life: claims the job, then dies without a word. */
		struct store_config cfg = { .path = where, .daemon_id = "daemon-z", .lease_ms = 60000 };
		struct store *z = NULL;
		struct store_job zj;
		if (store_open(&cfg, &z, &err) || store_job_claim(z, &zj, &err))
			_exit(1);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	st = open_db(where, "daemon-z", 60000);
	if (!st)
		return;
	CHECK_OK(store_recover(st, 3, &rv, &err), &err);
	CHECK_INT_EQ(rv.requeued, 1);
	CHECK_OK(store_job_claim(st, &j, &err), &err);
	CHECK_STR_EQ(j.id, "ftjob-r");
	CHECK_INT_EQ(j.lease_epoch, 2);
	CHECK_INT_EQ(j.crashes, 1);
	store_job_release(&j);
	store_free(st);
}

static void test_newer_schema(void)
{
	char where[1024], sql[128], name[64];
	struct store_config cfg = { .path = where };
	struct store *st;
	struct ada_err err = { 0 };

	snprintf(name, sizeof(name), "%s", scratch_name(db_counter));
	new_db(where, sizeof(where));
	st = open_db(where, NULL, 0);
	store_free(st);
	snprintf(sql, sizeof(sql), "UPDATE adalorad_schema SET version = %d",
		 store_schema_version() + 1);
	pg_server_sql(name, sql);
	st = NULL;
	CHECK_INT_EQ(store_open(&cfg, &st, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "newer") != NULL);
}

static atomic_int woken;

static void on_wake(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&woken, 1);
}

/* Up to 5 s for the watcher to have been woken n times. */
static int wait_woken(int n)
{
	for (int i = 0; i < 500 && atomic_load(&woken) < n; i++)
		usleep(10000);
	return atomic_load(&woken) >= n;
}

/* After event after, job ftjob-w's next event on st through follow: its
 * message in msg (or "" when there is none). */
static void next_followed(struct store *st, int64_t after, char *msg, size_t cap,
			  size_t *data_len)
{
	struct store_events ev;
	struct ada_err err = { 0 };

	msg[0] = '\0';
	*data_len = 0;
	CHECK_OK(store_event_follow(st, "ftjob-w", after, 10, &ev, &err), &err);
	if (ev.n) {
		CHECK_INT_EQ(ev.v[0].seq, after + 1);
		snprintf(msg, cap, "%s", ev.v[0].message);
		*data_len = ev.v[0].data ? strlen(ev.v[0].data) : 0;
	}
	store_events_release(&ev);
}

static void test_follow(void)
{
	char where[1024], name[64], msg[64], *big;
	struct store *a, *b = NULL;
	struct store_watch w = { .wake = on_wake };
	struct store_events ev;
	struct ada_err err = { 0 };
	size_t len;
	int64_t last;

	snprintf(name, sizeof(name), "%s", scratch_name(db_counter));
	new_db(where, sizeof(where));
	a = open_db(where, "daemon-a", 0);
	if (a)
		b = open_db(where, "daemon-b", 0);
	big = malloc(9001);
	if (!a || !b || !big)
		goto out_free;
	add_file(a, "file-1");
	queued_job(a, "ftjob-w");
	snprintf(w.job_id, sizeof(w.job_id), "ftjob-w");
	store_watch_add(b, &w);
	usleep(300000);   /* the creation's notifications come and go */
	CHECK_OK(store_event_list(b, "ftjob-w", 0, 100, &ev, &err), &err);
	last = ev.n ? ev.v[ev.n - 1].seq : 0;
	store_events_release(&ev);
	atomic_store(&woken, 0);
	CHECK_OK(store_event_add(a, "ftjob-w", 0, "info", "metrics", "first",
				 "{\"kind\":\"metrics\",\"step\":1}", &err), &err);
	CHECK_OK(store_event_add(a, "ftjob-w", 0, "warning", "message", "second",
				 "{\"kind\":\"log\"}", &err), &err);
	CHECK(wait_woken(2));
	/* Behind b's back: what b heard stays what it heard. */
	pg_server_sql(name, "UPDATE events SET message = 'rewritten' WHERE job_id = 'ftjob-w'");
	CHECK_OK(store_event_follow(b, "ftjob-w", last, 10, &ev, &err), &err);
	CHECK_INT_EQ(ev.n, 2);
	if (ev.n == 2) {
		CHECK_INT_EQ(ev.v[0].seq, last + 1);
		CHECK_STR_EQ(ev.v[0].message, "first");
		CHECK_STR_EQ(ev.v[0].level, "info");
		CHECK_STR_EQ(ev.v[0].type, "metrics");
		CHECK_STR_EQ(ev.v[0].data, "{\"kind\":\"metrics\",\"step\":1}");
		CHECK_STR_EQ(ev.v[1].message, "second");
		CHECK_STR_EQ(ev.v[1].level, "warning");
	}
	store_events_release(&ev);
	next_followed(b, last + 1, msg, sizeof(msg), &len);
	CHECK_STR_EQ(msg, "second");
	/* A page of what was not heard: from the database. */
	CHECK_OK(store_event_list(b, "ftjob-w", last, 10, &ev, &err), &err);
	CHECK(ev.n == 2 && !strcmp(ev.v[0].message, "rewritten"));
	store_events_release(&ev);
	/* Nothing new heard: the database is asked (a row written without a
	 * notification is found). */
	pg_server_sql(name,
		      "UPDATE jobs SET last_event = last_event + 1 WHERE id = 'ftjob-w'; "
		      "INSERT INTO events (job_id, seq, created_at, level, type, message, data) "
		      "SELECT id, last_event, 0, 'info', 'message', 'silent', NULL FROM jobs "
		      "WHERE id = 'ftjob-w'");
	next_followed(b, last + 2, msg, sizeof(msg), &len);
	CHECK_STR_EQ(msg, "silent");
	/* Too large for a payload: read whole from the database. */
	memset(big, 'x', 9000);
	big[9000] = '\0';
	memcpy(big, "{\"kind\":\"log\",\"t\":\"", 19);
	memcpy(big + 8998, "\"}", 2);
	CHECK_OK(store_event_add(a, "ftjob-w", 0, "info", "message", "big", big, &err), &err);
	CHECK_OK(store_event_add(a, "ftjob-w", 0, "info", "message", "after", "{}", &err), &err);
	CHECK(wait_woken(4));
	pg_server_sql(name, "UPDATE events SET message = 'rewritten' WHERE job_id = 'ftjob-w' "
			    "AND message IN ('big', 'after')");
	next_followed(b, last + 3, msg, sizeof(msg), &len);
	CHECK_STR_EQ(msg, "rewritten");
	CHECK_INT_EQ(len, 9000);
	/* and the next one is kept again. */
	next_followed(b, last + 4, msg, sizeof(msg), &len);
	CHECK_STR_EQ(msg, "after");
	store_watch_remove(b, &w);
out_free:
	free(big);
	if (b)
		store_free(b);
	if (a)
		store_free(a);
}

int main(void)
{
	const char *b = getenv("ADALORAD_TEST_BACKEND");

	pg = b && !strcmp(b, "postgresql");
	tmp = check_tmpdir("store_lease");
	RUN(test_fencing);
	RUN(test_idempotency);
	if (pg) {
		RUN(test_skip_locked);
		RUN(test_expired_lease);
		RUN(test_restart_same_id);
		RUN(test_newer_schema);
		RUN(test_follow);
	}
	free(tmp);
	return check_summary();
}
