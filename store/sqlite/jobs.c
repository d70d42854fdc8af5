/*
 * jobs — fine-tuning job rows in SQLite: the statements of the job
 * machine (store/job_machine.h, the life cycle both backends share), and
 * the reads, recovery and counts; see store.h.
 */
#include "conn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job_machine.h"
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
		rc = store_no_such_job(err, id ? id : "(none waiting)");
	else
		rc = conn_fail(c, "read job", err);
	sqlite3_reset(s);
	return rc;
}

/* Step an UPDATE ... RETURNING of one row (bound); ADA_ENOTFOUND when it
 * matched none. status (32 bytes, may be NULL) receives its column 1. */
static int update_one(struct conn *c, sqlite3_stmt *s, char *status, struct ada_err *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && status)
		col_copy(s, 1, status, 32);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return ADA_OK;
	if (rc == SQLITE_DONE)
		return ADA_ENOTFOUND;
	return conn_fail(c, "update job", err);
}

/* Step a statement that returns nothing (bound); its failure is what's. */
static int step_done(struct conn *c, sqlite3_stmt *s, const char *what, struct ada_err *err)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? ADA_OK : conn_fail(c, what, err);
}

static void bind_budget(sqlite3_stmt *s, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

/* ---- the job machine's statements (job_machine.h: m_<member>) -------- */

static int m_get(void *c, const char *id, struct store_job *out, struct ada_err *err)
{
	return get_one(c, sql_get, id, out, err);
}

static int m_key_get(void *conn, const char *key, int64_t since, const char *hash,
		     char job_id[STORE_ID_MAX], int *same, struct ada_err *err)
{
	struct conn *c = conn;
	char have[80] = "";
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_key_get, &s, err)))
		return rc;
	bind_text(s, 1, key);
	sqlite3_bind_int64(s, 2, since);
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
	*same = !strcmp(have, hash ? hash : "");
	return ADA_OK;
}

static int m_key_put(void *conn, const struct store_job_spec *spec, int64_t now,
		     int64_t expire_before, struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	/* Expired keys go as new ones come: the index keeps this a range delete. */
	if ((rc = conn_stmt(c, sql_key_expire, &s, err)))
		return rc;
	sqlite3_bind_int64(s, 1, expire_before);
	if ((rc = step_done(c, s, "expire idempotency keys", err)) ||
	    (rc = conn_stmt(c, sql_key_put, &s, err)))
		return rc;
	bind_text(s, 1, spec->idempotency_key);
	bind_text(s, 2, spec->request_hash ? spec->request_hash : "");
	bind_text(s, 3, spec->id);
	sqlite3_bind_int64(s, 4, now);
	return step_done(c, s, "record idempotency key", err);
}

static int m_file_exists(void *conn, const char *id, struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_file_exists, &s, err)))
		return rc;
	bind_text(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return ADA_OK;
	return rc == SQLITE_DONE ? ADA_ENOTFOUND : conn_fail(c, "find file", err);
}

static int m_count_waiting(void *conn, int64_t *n, struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_waiting, &s, err)))
		return rc;
	rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? ADA_OK : conn_fail(c, "count jobs", err);
}

static int m_insert(void *conn, const struct store_job_spec *spec, int64_t now,
		    struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

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
	sqlite3_bind_int64(s, 9, now);
	return step_done(c, s, "insert job", err);
}

static int m_planned(void *conn, const char *id, const struct store_plan *plan,
		     const char *hyperparameters, struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_planned, &s, err)))
		return rc;
	bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, plan->total_steps);
	sqlite3_bind_int64(s, 3, plan->steps_per_epoch);
	sqlite3_bind_int64(s, 4, plan->n_epochs);
	bind_budget(s, 5, plan->budget_initial);
	bind_budget(s, 6, plan->budget_target);
	bind_text(s, 7, hyperparameters);
	bind_text(s, 8, plan->task);
	bind_text(s, 9, plan->classification);
	return update_one(c, s, NULL, err);
}

static int m_claim(void *conn, int64_t now, char id[STORE_ID_MAX], int64_t *attempt,
		   struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_claim, &s, err)))
		return rc;
	sqlite3_bind_int64(s, 1, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		col_copy(s, 0, id, STORE_ID_MAX);
		*attempt = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return ADA_OK;
	return rc == SQLITE_DONE ? ADA_ENOTFOUND : conn_fail(c, "claim job", err);
}

static int m_finish(void *conn, const struct job_finish_row *f, char *status,
		    struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_finish, &s, err)))
		return rc;
	bind_text(s, 1, f->id);
	bind_text(s, 2, f->status);
	sqlite3_bind_int64(s, 3, f->finished_at);
	bind_text(s, 4, f->error);
	bind_text(s, 5, f->fine_tuned_model);
	bind_text(s, 6, f->classification);
	sqlite3_bind_int64(s, 7, f->epoch);
	bind_text(s, 8, f->output_dir);
	return update_one(c, s, status, err);
}

static int m_requeue(void *conn, const char *id, int64_t now, int64_t epoch, char *status,
		     struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_requeue, &s, err)))
		return rc;
	bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, epoch);
	return update_one(c, s, status, err);
}

static int m_cancel_request(void *conn, const char *id, struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_cancel_request, &s, err)))
		return rc;
	bind_text(s, 1, id);
	return update_one(c, s, NULL, err);
}

static int m_cancel_now(void *conn, const char *id, int64_t now, struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_cancel_now, &s, err)))
		return rc;
	bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	return update_one(c, s, NULL, err);
}

static int m_progress(void *conn, const char *id, const struct store_progress *p,
		      struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_progress, &s, err)))
		return rc;
	bind_text(s, 1, id);
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
	return step_done(c, s, "job progress", err);
}

/* The statements above; one daemon per database: nobody else to tell
 * (no queued, no cancelling). */
static const struct job_machine_ops machine_ops = {
	JOB_MACHINE_STATEMENTS(m_),
	.event = event_insert,
	.fence_refused = fence_refused,
	.fence_check = fence_check,
	.checkpoint = checkpoint_put,
};

/* ---- the job machine in the writer's transaction (backend.h) ---------- */

static int op_machine(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	return job_machine_run(ctx, &machine_ops, c, notify, err);
}

int sq_job_write(struct store *st, job_machine_fn fn, const void *args, int urgent,
		 struct ada_err *err)
{
	struct job_machine_call call = { fn, args };

	if (urgent)
		return sq_write_urgent(st, op_machine, &call, err);
	return sq_write(st, op_machine, &call, err);
}

int sq_job_machine(struct store *st, struct job_machine *m, struct ada_err *err)
{
	struct conn *c = NULL;
	int rc = conn_get(st, &c, err);

	*m = (struct job_machine){ &machine_ops, c };
	return rc;
}

/* ---- reads ------------------------------------------------------------- */

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
	int rc;

	if ((rc = conn_get(st, &c, err)))
		return rc;
	rc = conn_int_of(c, sql_version, id, version, "read job", err);
	return rc == ADA_ENOTFOUND ? store_no_such_job(err, id) : rc;
}

int sq_job_list(struct store *st, const struct store_job_query *q, struct store_jobs *out,
		struct ada_err *err)
{
	struct store_row r;
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_page(st, sql_seq, q->after, q->status >= 0 ? sql_list_status : sql_list,
			    q->limit, &c, &s, err)))
		return rc;
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

struct recover {
	int max_crashes;             /* 0: never fail a job for it */
	int counts;                  /* crashes are counted (a start, not a reconcile) */
	const char *only;            /* reconcile: just this job */
	struct store_recovery out;
};

/* Jobs left running: by a crash (at start), or by a run whose outcome was
 * never recorded (reconcile); job_recovery_decide says what becomes of
 * each. */
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
		static const char *const sql[] = {
			[JOB_RECOVER_QUEUE] = sql_recover_queue,
			[JOB_RECOVER_CANCEL] = sql_recover_cancel,
			[JOB_RECOVER_FAIL] = sql_recover_fail,
		};
		struct job_recovery r;

		job_recovery_decide(&r, v[i].cancel, rv->counts, rv->max_crashes, v[i].crashes,
				    NULL);
		if ((rc = conn_stmt(c, sql[r.action], &s, err)))
			break;
		bind_text(s, 1, v[i].id);
		sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
		if (r.action == JOB_RECOVER_FAIL)
			bind_text(s, 4, r.error);   /* its crashes + 1: no ?3 */
		else
			sqlite3_bind_int(s, 3, rv->counts);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			rc = conn_fail(c, "recover job", err);
			break;
		}
		if (!sqlite3_changes(c->db))
			continue;   /* no longer running */
		rc = event_insert(c, v[i].id, 0, r.level, "message", r.message, NULL, err);
		job_recovery_count(&r, &rv->out);
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
