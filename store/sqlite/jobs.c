/*
 * jobs — fine-tuning job rows and their state machine, in SQLite; see
 * store.h. (store/postgresql/jobs.c is the same machine in PostgreSQL.)
 *
 *   validating_files -> queued -> running -> succeeded | failed | cancelled
 *   validating_files | queued -> cancelled      (cancel)
 *   validating_files -> failed                  (the plan refused the job)
 *   running -> queued                           (shutdown, or a restart)
 *   running -> failed                           (a restart, after too many crashes)
 *
 * A cancel that was answered 200 wins: a running job with cancel_requested
 * ends cancelled whatever its run's outcome (it may have finished training
 * in the meantime), and is not re-queued by a pause or a restart.
 *
 * Every transition is one transaction that also appends the job's event,
 * and each UPDATE names the state it leaves in its WHERE clause, so two
 * threads racing (a cancel and a worker finishing) cannot both win.
 *
 * Each claim bumps lease_epoch; a run's writes name their epoch and match
 * only while the job runs under it (fencing, store.h).
 */
#include "conn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "util/alloc.h"
#include "util/err.h"

/* No lease owner: one daemon per database (rows.h). */
#define JOB_COLS ROWS_JOB_COLS("NULL")

static const char sql_file_exists[] = "SELECT 1 FROM files WHERE id = ?1";
static const char sql_waiting[] =
	"SELECT count(*) FROM jobs WHERE status IN ('validating_files', 'queued')";
static const char sql_insert[] =
	"INSERT INTO jobs (id, model, training_file, validation_file, seed, suffix, method, "
	"hyperparameters, status, created_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'validating_files', ?9)";
static const char sql_get[] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1";
static const char sql_version[] = "SELECT last_event FROM jobs WHERE id = ?1";
static const char sql_seq[] = "SELECT seq FROM jobs WHERE id = ?1";
static const char sql_list[] =
	"SELECT " JOB_COLS " FROM jobs WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2";
static const char sql_list_status[] =
	"SELECT " JOB_COLS " FROM jobs WHERE status = ?3 AND seq < ?1 ORDER BY seq DESC LIMIT ?2";
static const char sql_next_validating[] =
	"SELECT " JOB_COLS " FROM jobs WHERE status = 'validating_files' ORDER BY seq LIMIT 1";
static const char sql_planned[] =
	"UPDATE jobs SET status = 'queued', total_steps = ?2, steps_per_epoch = ?3, "
	"n_epochs = ?4, budget_initial = ?5, budget_target = ?6, budget_current = ?5, "
	"hyperparameters = coalesce(?7, hyperparameters), task = ?8, classification = ?9 "
	"WHERE id = ?1 AND status = 'validating_files' RETURNING seq";
static const char sql_claim[] =
	"UPDATE jobs SET status = 'running', started_at = coalesce(started_at, ?1), "
	"attempts = attempts + 1, lease_epoch = lease_epoch + 1 "
	"WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) "
	"RETURNING id, attempts";
/* SET expressions see the row as it was: a running job with a cancel
 * pending becomes cancelled, without error or model. */
#define CANCEL_WINS "(status = 'running' AND cancel_requested = 1)"
static const char sql_finish[] =
	"UPDATE jobs SET status = CASE WHEN " CANCEL_WINS " THEN 'cancelled' ELSE ?2 END, "
	"finished_at = ?3, error = CASE WHEN " CANCEL_WINS " THEN NULL ELSE ?4 END, "
	"fine_tuned_model = CASE WHEN " CANCEL_WINS " THEN NULL ELSE ?5 END, "
	"estimated_finish = NULL, classification = coalesce(?6, classification), "
	"output_dir = CASE WHEN " CANCEL_WINS " THEN output_dir ELSE ?8 END "
	"WHERE id = ?1 AND status IN ('validating_files', 'running') "
	"AND (?7 = 0 OR (status = 'running' AND lease_epoch = ?7)) RETURNING seq, status";
static const char sql_requeue[] =
	"UPDATE jobs SET status = CASE WHEN " CANCEL_WINS " THEN 'cancelled' ELSE 'queued' END, "
	"finished_at = CASE WHEN " CANCEL_WINS " THEN ?2 ELSE finished_at END, "
	"estimated_finish = NULL "
	"WHERE id = ?1 AND status = 'running' AND (?3 = 0 OR lease_epoch = ?3) "
	"RETURNING seq, status";
static const char sql_cancel_now[] =
	"UPDATE jobs SET status = 'cancelled', finished_at = ?2 "
	"WHERE id = ?1 AND status IN ('validating_files', 'queued') RETURNING seq";
static const char sql_cancel_request[] =
	"UPDATE jobs SET cancel_requested = 1 "
	"WHERE id = ?1 AND status = 'running' AND cancel_requested = 0 RETURNING seq";
static const char sql_running[] =
	"SELECT id, cancel_requested, crashes FROM jobs WHERE status = 'running'";
static const char sql_running_ids[] = "SELECT id FROM jobs WHERE status = 'running' ORDER BY seq";
static const char sql_recover_cancel[] =
	"UPDATE jobs SET status = 'cancelled', finished_at = ?2, estimated_finish = NULL, "
	"crashes = crashes + ?3 WHERE id = ?1 AND status = 'running'";
static const char sql_recover_queue[] =
	"UPDATE jobs SET status = 'queued', estimated_finish = NULL, crashes = crashes + ?3 "
	"WHERE id = ?1 AND status = 'running'";
static const char sql_recover_fail[] =
	"UPDATE jobs SET status = 'failed', finished_at = ?2, estimated_finish = NULL, "
	"crashes = crashes + 1, error = ?4 WHERE id = ?1 AND status = 'running'";
static const char sql_progress[] =
	"UPDATE jobs SET step = ?2, total_steps = ?3, epoch = ?4, tokens_per_second = ?5, "
	"trained_tokens = ?6, estimated_finish = ?7, budget_current = ?8, metrics = ?9 "
	"WHERE id = ?1";
static const char sql_key_get[] =
	"SELECT request_hash, job_id FROM idempotency_keys WHERE key = ?1 AND created_at >= ?2";
static const char sql_key_expire[] = "DELETE FROM idempotency_keys WHERE created_at < ?1";
static const char sql_key_put[] =
	"INSERT OR REPLACE INTO idempotency_keys (key, request_hash, job_id, created_at) "
	"VALUES (?1, ?2, ?3, ?4)";
static const char sql_counts[] = "SELECT status, count(*) FROM jobs GROUP BY status";
static const char sql_totals[] =
	"SELECT coalesce(sum(step), 0), coalesce(sum(trained_tokens), 0) FROM jobs";

/* One row of sql (bound to id, or unbound when id is NULL) into out;
 * ADA_ENOTFOUND when there is none. */
static int get_one(struct conn *c, const char *sql, const char *id, struct store_job *out,
		   struct ada_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql, &s, err)))
		return rc;
	if (id)
		bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		struct store_row r = sq_row(s);
		rc = row_job(&r, out, err);
	} else if (rc == SQLITE_DONE)
		rc = ada_fail(err, ADA_ENOTFOUND, "no such job: %s", id ? id : "(none waiting)");
	else
		rc = conn_fail(c, "read job", err);
	sqlite3_reset(s);
	return rc;
}

/* Step an UPDATE ... RETURNING of one row; ADA_ENOTFOUND when it matched none. */
static int update_one(struct conn *c, sqlite3_stmt *s, struct ada_err *err)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return ADA_OK;
	if (rc == SQLITE_DONE)
		return ADA_ENOTFOUND;
	return conn_fail(c, "update job", err);
}

/* STORE_ECONFLICT or ADA_ENOTFOUND for a transition that matched no row. */
static int refused(struct conn *c, const char *id, const char *what, struct ada_err *err)
{
	struct store_job j;
	int rc = get_one(c, sql_get, id, &j, err);

	if (rc)
		return rc;
	rc = ada_fail_param(err, STORE_ECONFLICT, "status", "job %s is %s: cannot %s", id,
			    job_status_name(j.status), what);
	store_job_release(&j);
	return rc;
}

/* Why an outcome of a run (epoch > 0) matched nothing: STORE_EFENCED
 * when the job moved on without this run (another epoch, or out of
 * running but not finished), STORE_ECONFLICT when it already ended under
 * it. Without an epoch, refused(). */
static int run_refused(struct conn *c, const char *id, int64_t epoch, const char *what,
		       struct ada_err *err)
{
	struct store_job j;
	int rc;

	if (epoch <= 0)
		return refused(c, id, what, err);
	if ((rc = get_one(c, sql_get, id, &j, err)))
		return rc;
	if (j.lease_epoch != epoch || !job_status_final(j.status))
		rc = fence_refused(c, id, epoch, err);
	else
		rc = ada_fail_param(err, STORE_ECONFLICT, "status", "job %s is %s: cannot %s", id,
				    job_status_name(j.status), what);
	store_job_release(&j);
	return rc;
}

static int file_exists(struct conn *c, const char *id, const char *param, struct ada_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_file_exists, &s, err)))
		return rc;
	bind_text(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return ADA_OK;
	if (rc == SQLITE_DONE)
		return ada_fail_param(err, ADA_ENOTFOUND, param, "%s: no such file: %s", param, id);
	return conn_fail(c, "find file", err);
}

static int count_waiting(struct conn *c, int64_t *n, struct ada_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_waiting, &s, err)))
		return rc;
	rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? ADA_OK : conn_fail(c, "count jobs", err);
}

struct job_create {
	const struct store_job_spec *spec;
	struct store_job *out;
};

/* The job recorded under key less than ttl_s ago: ADA_OK with its id,
 * STORE_ECONFLICT when it came with another request_hash, ADA_ENOTFOUND. */
static int key_lookup(struct conn *c, const char *key, const char *hash, int64_t ttl_s,
		      char job_id[STORE_ID_MAX], struct ada_err *err)
{
	char have[80] = "";
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_key_get, &s, err)))
		return rc;
	bind_text(s, 1, key);
	sqlite3_bind_int64(s, 2, (int64_t)time(NULL) - ttl_s);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		col_copy(s, 0, have, sizeof(have));
		col_copy(s, 1, job_id, STORE_ID_MAX);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return ADA_ENOTFOUND;
	if (rc != SQLITE_ROW)
		return conn_fail(c, "idempotency key", err);
	if (strcmp(have, hash ? hash : ""))
		return ada_fail_param(err, STORE_ECONFLICT, "Idempotency-Key",
				      "Idempotency-Key %s was used for another request (job %s); a key names one request: use a new key for a new request",
				      key, job_id);
	return ADA_OK;
}

static int key_record(struct conn *c, const struct store_job_spec *spec, struct ada_err *err)
{
	const int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *s;
	int rc;

	/* Expired keys go as new ones come: the index keeps this a range delete. */
	if ((rc = conn_stmt(c, sql_key_expire, &s, err)))
		return rc;
	sqlite3_bind_int64(s, 1, now - spec->idempotency_ttl_s);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return conn_fail(c, "expire idempotency keys", err);
	if ((rc = conn_stmt(c, sql_key_put, &s, err)))
		return rc;
	bind_text(s, 1, spec->idempotency_key);
	bind_text(s, 2, spec->request_hash ? spec->request_hash : "");
	bind_text(s, 3, spec->id);
	sqlite3_bind_int64(s, 4, now);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? ADA_OK : conn_fail(c, "record idempotency key", err);
}

static int op_job_create(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_create *jc = ctx;
	const struct store_job_spec *spec = jc->spec;
	char msg[160];
	sqlite3_stmt *s;
	int64_t waiting;
	int rc;

	if (spec->idempotency_key) {
		char prior[STORE_ID_MAX];
		rc = key_lookup(c, spec->idempotency_key, spec->request_hash,
				spec->idempotency_ttl_s, prior, err);
		if (rc == ADA_OK) {
			/* A retry: the job the key made, and nothing new. */
			if (spec->replayed)
				*spec->replayed = 1;
			return jc->out ? get_one(c, sql_get, prior, jc->out, err) : ADA_OK;
		}
		if (rc != ADA_ENOTFOUND)
			return rc;
	}
	if ((rc = file_exists(c, spec->training_file, "training_file", err)) ||
	    (spec->validation_file &&
	     (rc = file_exists(c, spec->validation_file, "validation_file", err))))
		return rc;
	if (spec->max_waiting > 0) {
		if ((rc = count_waiting(c, &waiting, err)))
			return rc;
		if (waiting >= spec->max_waiting)
			return ada_fail(err, STORE_EFULL,
					"%lld jobs are already waiting; try again later",
					(long long)waiting);
	}
	if ((rc = conn_stmt(c, sql_insert, &s, err)))
		return rc;
	bind_text(s, 1, spec->id);
	bind_text(s, 2, spec->model);
	bind_text(s, 3, spec->training_file);
	bind_text(s, 4, spec->validation_file);
	sqlite3_bind_int64(s, 5, (int64_t)spec->seed);
	bind_text(s, 6, spec->suffix);
	bind_text(s, 7, spec->method);
	bind_text(s, 8, spec->hyperparameters);
	sqlite3_bind_int64(s, 9, (int64_t)time(NULL));
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return conn_fail(c, "insert job", err);
	snprintf(msg, sizeof(msg), "Created fine-tuning job: %s", spec->id);
	if ((rc = event_insert(c, spec->id, 0, "info", "message", msg, NULL, err)))
		return rc;
	snprintf(msg, sizeof(msg), "Validating training file: %s", spec->training_file);
	if ((rc = event_insert(c, spec->id, 0, "info", "message", msg, NULL, err)))
		return rc;
	if (spec->idempotency_key && (rc = key_record(c, spec, err)))
		return rc;
	if (jc->out && (rc = get_one(c, sql_get, spec->id, jc->out, err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", spec->id);
	return ADA_OK;
}

/* (The row is read inside the transaction: store.c drops it if the
 * commit failed.) */
int sq_job_create(struct store *st, const struct store_job_spec *spec, struct store_job *out,
		  struct ada_err *err)
{
	struct job_create jc = { spec, out };

	return sq_write(st, op_job_create, &jc, err);
}

int sq_job_by_key(struct store *st, const char *key, const char *request_hash, int64_t ttl_s,
		  struct store_job *out, struct ada_err *err)
{
	char id[STORE_ID_MAX];
	struct conn *c;
	int rc;

	if ((rc = conn_get(st, &c, err)))
		return rc;
	rc = key_lookup(c, key, request_hash, ttl_s, id, err);
	if (rc == ADA_ENOTFOUND)
		return ada_fail_param(err, ADA_ENOTFOUND, "Idempotency-Key", "no job under key %s",
				      key);
	return rc ? rc : get_one(c, sql_get, id, out, err);
}

int sq_job_get(struct store *st, const char *id, struct store_job *out, struct ada_err *err)
{
	struct conn *c;
	int rc;

	if ((rc = conn_get(st, &c, err)))
		return rc;
	return get_one(c, sql_get, id, out, err);
}

int sq_job_version(struct store *st, const char *id, int64_t *version, struct ada_err *err)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) || (rc = conn_stmt(c, sql_version, &s, err)))
		return rc;
	bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return ADA_OK;
	if (rc == SQLITE_DONE)
		return ada_fail(err, ADA_ENOTFOUND, "no such job: %s", id);
	return conn_fail(c, "read job", err);
}

int sq_job_list(struct store *st, const struct store_job_query *q, struct store_jobs *out,
		struct ada_err *err)
{
	int64_t from = INT64_MAX;
	struct store_row r;
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)))
		return rc;
	if (q->after && (rc = conn_seq_of(c, sql_seq, q->after, &from, err)))
		return rc;
	if ((rc = conn_stmt(c, q->status >= 0 ? sql_list_status : sql_list, &s, err)))
		return rc;
	sqlite3_bind_int64(s, 1, from);
	sqlite3_bind_int(s, 2, q->limit + 1);
	if (q->status >= 0)
		bind_text(s, 3, job_status_name((enum job_status)q->status));
	r = sq_rows(c, s, "list jobs");
	rc = rows_jobs(&r, (size_t)q->limit, out, err);
	sqlite3_reset(s);
	return rc;
}

int sq_job_next_validating(struct store *st, struct store_job *out, struct ada_err *err)
{
	struct conn *c;
	int rc;

	if ((rc = conn_get(st, &c, err)))
		return rc;
	return get_one(c, sql_next_validating, NULL, out, err);
}

/* An UPDATE of one job and its event: the statement (bound by the
 * caller) must match the job in the state it leaves; if it matches
 * nothing, the job is refused (STORE_ECONFLICT) or missing. */
static int transition(struct conn *c, sqlite3_stmt *s, const char *id, const char *what,
		      const char *level, const char *message, char *notify, struct ada_err *err)
{
	int rc = update_one(c, s, err);

	if (rc == ADA_ENOTFOUND)
		rc = refused(c, id, what, err);
	/* Always an event: last_event must move with every change of the row. */
	if (!rc)
		rc = event_insert(c, id, 0, level, "message", message ? message : what, NULL, err);
	if (!rc)
		snprintf(notify, STORE_ID_MAX, "%s", id);
	return rc;
}

static void bind_budget(sqlite3_stmt *s, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

struct job_planned {
	const char *id, *hyperparameters, *message;
	const struct store_plan *plan;
};

static int op_job_planned(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_planned *p = ctx;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_planned, &s, err)))
		return rc;
	bind_text(s, 1, p->id);
	sqlite3_bind_int64(s, 2, p->plan->total_steps);
	sqlite3_bind_int64(s, 3, p->plan->steps_per_epoch);
	sqlite3_bind_int64(s, 4, p->plan->n_epochs);
	bind_budget(s, 5, p->plan->budget_initial);
	bind_budget(s, 6, p->plan->budget_target);
	bind_text(s, 7, p->hyperparameters);
	bind_text(s, 8, p->plan->task);
	bind_text(s, 9, p->plan->classification);
	return transition(c, s, p->id, "queue it", "info", p->message, notify, err);
}

int sq_job_planned(struct store *st, const char *id, const struct store_plan *plan,
		      const char *hyperparameters, const char *message, struct ada_err *err)
{
	struct job_planned p = { id, hyperparameters, message, plan };

	return sq_write(st, op_job_planned, &p, err);
}

static int op_job_claim(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct store_job *out = ctx;
	char id[STORE_ID_MAX];
	sqlite3_stmt *s;
	int rc, first = 0;
	int64_t attempt = 0;
	char msg[128];

	/* The claim itself is this one UPDATE ... RETURNING; the attempt it
	 * counts is on disk before the run starts. */
	if ((rc = conn_stmt(c, sql_claim, &s, err)))
		return rc;
	sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		col_copy(s, 0, id, sizeof(id));
		attempt = sqlite3_column_int64(s, 1);
		first = attempt == 1;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return ada_fail(err, ADA_ENOTFOUND, "no job is queued");
	if (rc != SQLITE_ROW)
		return conn_fail(c, "claim job", err);
	if (first)
		snprintf(msg, sizeof(msg), "Fine-tuning job started");
	else
		snprintf(msg, sizeof(msg),
			 "Fine-tuning job resumed from its last checkpoint (attempt %lld)",
			 (long long)attempt);
	if ((rc = event_insert(c, id, 0, "info", "message", msg, NULL, err)) ||
	    (rc = get_one(c, sql_get, id, out, err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", id);
	return ADA_OK;
}

int sq_job_claim(struct store *st, struct store_job *out, struct ada_err *err)
{
	return sq_write(st, op_job_claim, out, err);
}

struct job_finish {
	const char *id;
	const struct store_outcome *o;
	enum job_status *ended;
};

/* The test hook of store.h (this runs on the writer thread alone). */
static int injected_failure(struct conn *c, struct ada_err *err)
{
	return store_injected_failure(&c->st->base, err);
}

/* Step a finish or re-queue UPDATE ... RETURNING seq, status bound by the
 * caller, then append its event. The status the row got may be
 * "cancelled" rather than asked: a pending cancel won, and the event
 * says so. */
static int end_run(struct conn *c, sqlite3_stmt *s, const char *id, int64_t epoch,
		   const char *what, enum job_status asked, const char *level, const char *message,
		   enum job_status *ended, char *notify, struct ada_err *err)
{
	char status[32] = "", msg[900];
	int rc = sqlite3_step(s), got;

	if (rc == SQLITE_ROW)
		col_copy(s, 1, status, sizeof(status));
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return run_refused(c, id, epoch, what, err);
	if (rc != SQLITE_ROW)
		return conn_fail(c, "update job", err);
	got = job_status_from_name(status);
	if (got != (int)asked) {
		snprintf(msg, sizeof(msg),
			 "Fine-tuning job cancelled (the cancel requested before the run ended wins; the run: %s)",
			 message ? message : what);
		message = msg;
		level = "info";
	}
	if (ended)
		*ended = got < 0 ? JOB_FAILED : (enum job_status)got;
	if ((rc = event_insert(c, id, 0, level, "message", message ? message : what, NULL, err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", id);
	return ADA_OK;
}

static int op_job_finish(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_finish *f = ctx;
	const struct store_outcome *o = f->o;
	sqlite3_stmt *s;
	int rc;

	if ((rc = injected_failure(c, err)) || (rc = conn_stmt(c, sql_finish, &s, err)))
		return rc;
	bind_text(s, 1, f->id);
	bind_text(s, 2, job_status_name(o->status));
	sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
	bind_text(s, 4, o->status == JOB_FAILED ? o->error : NULL);
	bind_text(s, 5, o->status == JOB_SUCCEEDED ? o->fine_tuned_model : NULL);
	bind_text(s, 6, o->status == JOB_SUCCEEDED ? o->classification : NULL);
	sqlite3_bind_int64(s, 7, o->epoch > 0 ? o->epoch : 0);
	bind_text(s, 8, o->status == JOB_SUCCEEDED && o->output_dir && *o->output_dir
				? o->output_dir : NULL);
	return end_run(c, s, f->id, o->epoch, "finish it", o->status,
		       o->level ? o->level : "info", o->message, f->ended, notify, err);
}

static int op_job_requeue(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_finish *f = ctx;
	sqlite3_stmt *s;
	int rc;

	if ((rc = injected_failure(c, err)) || (rc = conn_stmt(c, sql_requeue, &s, err)))
		return rc;
	bind_text(s, 1, f->id);
	sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
	sqlite3_bind_int64(s, 3, f->o->epoch > 0 ? f->o->epoch : 0);
	return end_run(c, s, f->id, f->o->epoch, "re-queue it", JOB_QUEUED, "info", f->o->message,
		       f->ended, notify, err);
}

int sq_job_outcome(struct store *st, const char *id, const struct store_outcome *o,
		   enum job_status *ended, struct ada_err *err)
{
	struct job_finish f = { id, o, ended };

	return sq_write(st, o->status == JOB_QUEUED ? op_job_requeue : op_job_finish, &f, err);
}

struct job_cancel {
	const char *id;
	struct store_job *out;
};

static int op_job_cancel(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_cancel *jc = ctx;
	const char *id = jc->id;
	enum job_status status;
	sqlite3_stmt *s;
	int rc;

	if ((rc = get_one(c, sql_get, id, jc->out, err)))
		return rc;
	status = jc->out->status;
	store_job_release(jc->out);
	if (job_status_final(status))
		return ada_fail_param(err, STORE_ECONFLICT, "status", "job %s has already %s", id,
				      job_status_name(status));
	if (status == JOB_RUNNING) {
		if ((rc = conn_stmt(c, sql_cancel_request, &s, err)))
			return rc;
		bind_text(s, 1, id);
		rc = update_one(c, s, err);
		if (rc == ADA_OK)
			rc = event_insert(c, id, 0, "info", "message",
					  "Cancellation requested: the job stops at its next step",
					  NULL, err);
		else if (rc == ADA_ENOTFOUND)
			rc = ADA_OK;   /* already requested */
	} else {
		if ((rc = conn_stmt(c, sql_cancel_now, &s, err)))
			return rc;
		bind_text(s, 1, id);
		sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
		rc = update_one(c, s, err);
		if (rc == ADA_OK)
			rc = event_insert(c, id, 0, "info", "message", "Fine-tuning job cancelled",
					  NULL, err);
	}
	if (rc || (rc = get_one(c, sql_get, id, jc->out, err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", id);
	return ADA_OK;
}

int sq_job_cancel(struct store *st, const char *id, struct store_job *out, struct ada_err *err)
{
	struct job_cancel jc = { id, out };

	return sq_write(st, op_job_cancel, &jc, err);
}

struct recover {
	int max_crashes;             /* 0: never fail a job for it */
	int counts;                  /* crashes are counted (a start, not a reconcile) */
	const char *only;            /* reconcile: just this job */
	struct store_recovery out;
};

/* Jobs left running: by a crash (at start), or by a run whose outcome was
 * never recorded (reconcile). Each is cancelled if a cancel is pending,
 * failed if the daemon died during it max_crashes times, else re-queued
 * to resume from its checkpoint. */
static int op_recover(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct recover *rv = ctx;
	struct {
		char id[STORE_ID_MAX];
		int cancel;
		int64_t crashes;
	} *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_running, &s, err)))
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (rv->only && strcmp((const char *)sqlite3_column_text(s, 0), rv->only))
			continue;
		if (ALLOC_GROW(v, n + 1, cap)) {
			sqlite3_reset(s);
			free(v);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		col_copy(s, 0, v[n].id, sizeof(v[n].id));
		v[n].cancel = sqlite3_column_int(s, 1);
		v[n++].crashes = sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return conn_fail(c, "recover jobs", err);
	}
	rc = ADA_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		const int fail = !v[i].cancel && rv->counts && rv->max_crashes > 0 &&
				 v[i].crashes + 1 >= rv->max_crashes;
		const char *sql = v[i].cancel ? sql_recover_cancel
				  : fail      ? sql_recover_fail : sql_recover_queue;
		char msg[400], error[600];

		if (v[i].cancel)
			snprintf(msg, sizeof(msg), "%s",
				 rv->counts ? "Fine-tuning job cancelled (the daemon stopped before the job could)"
					    : "Fine-tuning job cancelled (its run ended without recording it)");
		else if (fail)
			snprintf(msg, sizeof(msg),
				 "The daemon stopped abnormally %lld times while this job ran (killed for lack of memory? see the daemon's log); it is not run again (--max-attempts %d)",
				 (long long)v[i].crashes + 1, rv->max_crashes);
		else if (rv->counts)
			snprintf(msg, sizeof(msg),
				 "The daemon restarted: job re-queued; it resumes from its last checkpoint");
		else
			snprintf(msg, sizeof(msg),
				 "Job re-queued: it was marked running but no worker ran it (its outcome was never recorded); it resumes from its last checkpoint");
		if ((rc = conn_stmt(c, sql, &s, err)))
			break;
		bind_text(s, 1, v[i].id);
		sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
		if (!fail)
			sqlite3_bind_int(s, 3, rv->counts);
		if (fail) {
			store_crash_loop_error(msg, error, sizeof(error));
			bind_text(s, 4, error);
		}
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			rc = conn_fail(c, "recover job", err);
			break;
		}
		if (!sqlite3_changes(c->db))
			continue;   /* no longer running */
		rc = event_insert(c, v[i].id, 0, fail ? "error" : "info", "message", msg, NULL, err);
		*(v[i].cancel ? &rv->out.cancelled : fail ? &rv->out.failed : &rv->out.requeued) += 1;
		if (rv->only)
			snprintf(notify, STORE_ID_MAX, "%s", v[i].id);
	}
	free(v);
	return rc;
}

int sq_recover(struct store *st, int max_crashes, struct store_recovery *out,
	       struct ada_err *err)
{
	struct recover rv = { .max_crashes = max_crashes, .counts = 1 };
	int rc = sq_write(st, op_recover, &rv, err);

	*out = rv.out;
	return rc;
}

int sq_job_reconcile(struct store *st, const char *id, struct store_recovery *out,
		     struct ada_err *err)
{
	struct recover rv = { .only = id };
	int rc = sq_write(st, op_recover, &rv, err);

	*out = rv.out;
	return rc;
}

int sq_job_running_ids(struct store *st, char (**ids)[STORE_ID_MAX], size_t *n,
			  struct ada_err *err)
{
	char (*v)[STORE_ID_MAX] = NULL;
	size_t cap = 0;
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) || (rc = conn_stmt(c, sql_running_ids, &s, err)))
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (ALLOC_GROW(v, *n + 1, cap)) {
			sqlite3_reset(s);
			free(v);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		col_copy(s, 0, v[*n], sizeof(v[*n]));
		(*n)++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(v);
		*n = 0;
		return conn_fail(c, "list running jobs", err);
	}
	*ids = v;
	return ADA_OK;
}

struct job_progress {
	const char *id, *type, *message, *data;
	const struct store_progress *p;
	int64_t epoch;
};

static int op_job_progress(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_progress *jp = ctx;
	const struct store_progress *p = jp->p;
	sqlite3_stmt *s;
	int rc;

	if ((rc = event_insert(c, jp->id, jp->epoch, "info", jp->type, jp->message, jp->data,
			       err)) ||
	    (rc = conn_stmt(c, sql_progress, &s, err)))
		return rc;
	bind_text(s, 1, jp->id);
	sqlite3_bind_int64(s, 2, p->step);
	sqlite3_bind_int64(s, 3, p->total_steps);
	sqlite3_bind_double(s, 4, p->epoch);
	if (isfinite(p->tokens_per_second))
		sqlite3_bind_double(s, 5, p->tokens_per_second);
	sqlite3_bind_int64(s, 6, p->trained_tokens);
	if (p->estimated_finish > 0)
		sqlite3_bind_int64(s, 7, p->estimated_finish);
	bind_budget(s, 8, p->budget_current);
	bind_text(s, 9, p->metrics);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return conn_fail(c, "job progress", err);
	snprintf(notify, STORE_ID_MAX, "%s", jp->id);
	return ADA_OK;
}

int sq_job_progress(struct store *st, const char *id, int64_t epoch,
		    const struct store_progress *p, const char *type, const char *message,
		    const char *event_data, struct ada_err *err)
{
	struct job_progress jp = { id, type, message, event_data, p, epoch };

	return sq_write_urgent(st, op_job_progress, &jp, err);
}

int sq_job_counts(struct store *st, int64_t counts[JOB_N_STATUS], struct ada_err *err)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) || (rc = conn_stmt(c, sql_counts, &s, err)))
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int k = job_status_from_name((const char *)sqlite3_column_text(s, 0));
		if (k >= 0)
			counts[k] = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? ADA_OK : conn_fail(c, "count jobs", err);
}

int sq_job_totals(struct store *st, int64_t *steps, int64_t *tokens, struct ada_err *err)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) || (rc = conn_stmt(c, sql_totals, &s, err)))
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*steps = sqlite3_column_int64(s, 0);
		*tokens = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? ADA_OK : conn_fail(c, "job totals", err);
}
