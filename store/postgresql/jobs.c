/*
 * jobs — fine-tuning job rows in PostgreSQL: the statements of the job
 * machine (store/job_machine.h: the same life cycle and messages as
 * SQLite's), and the reads, recovery and counts; see store.h.
 *
 * What several daemons add:
 *   - the claim takes the oldest queued job with FOR UPDATE SKIP LOCKED
 *     (daemons claiming at once get different jobs, none waits), bumps its
 *     lease epoch and gives this daemon its lease;
 *   - a run's writes match only while the job runs under its epoch;
 *   - a job left running is another daemon's unless its lease expired:
 *     recovery (at start, then at every heartbeat) takes only those, and
 *     reconciliation only this daemon's own;
 *   - the validator plans a job under an advisory lock on it, so the
 *     validators of several daemons plan different jobs;
 *   - changes are NOTIFYed: the queue (created, queued, re-queued), a
 *     running job's cancel, and every event (pg_event_insert).
 */
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job_machine.h"
#include "util/alloc.h"
#include "util/err.h"

#define JOB_COLS ROWS_JOB_COLS("lease_owner")

/* A namespace for the validator's advisory locks (pg_try_advisory_lock's
 * first key): "ADAL". */
#define PLAN_LOCK_SPACE "1094795596"

/* Not locked: every creation names the same few files, and shared row
 * locks of many transactions on one row are costly in PostgreSQL. A file
 * deleted on another daemon between this check and the commit leaves a
 * job whose validation fails naming it ("training file ... is gone"). */
static const char sql_file_exists[] = "SELECT 1 FROM files WHERE id = $1";
static const char sql_waiting[] =
	"SELECT count(*) FROM jobs WHERE status IN ('validating_files', 'queued')";
static const char sql_insert[] =
	"INSERT INTO jobs (id, model, training_file, validation_file, seed, suffix, method, "
	"hyperparameters, status, created_at) "
	"VALUES ($1, $2, $3, $4, $5::bigint, $6, $7, $8, 'validating_files', $9::bigint)";
static const char sql_get[] = "SELECT " JOB_COLS " FROM jobs WHERE id = $1";
static const char sql_version[] = "SELECT last_event FROM jobs WHERE id = $1";
static const char sql_seq[] = "SELECT seq FROM jobs WHERE id = $1";
static const char sql_list[] =
	"SELECT " JOB_COLS " FROM jobs WHERE seq < $1::bigint ORDER BY seq DESC LIMIT $2::bigint";
static const char sql_list_status[] =
	"SELECT " JOB_COLS " FROM jobs WHERE status = $3 AND seq < $1::bigint "
	"ORDER BY seq DESC LIMIT $2::bigint";
static const char sql_validating_ids[] =
	"SELECT id FROM jobs WHERE status = 'validating_files' ORDER BY seq LIMIT 32";
static const char sql_unlock_all[] = "SELECT pg_advisory_unlock_all()";
static const char sql_try_lock[] =
	"SELECT pg_try_advisory_lock(" PLAN_LOCK_SPACE ", hashtext($1))";
static const char sql_unlock[] = "SELECT pg_advisory_unlock(" PLAN_LOCK_SPACE ", hashtext($1))";
static const char sql_get_validating[] =
	"SELECT " JOB_COLS " FROM jobs WHERE id = $1 AND status = 'validating_files'";
static const char sql_planned[] =
	"UPDATE jobs SET status = 'queued', total_steps = $2::bigint, steps_per_epoch = $3::bigint, "
	"n_epochs = $4::bigint, budget_initial = $5::bigint, budget_target = $6::bigint, "
	"budget_current = $5::bigint, hyperparameters = coalesce($7, hyperparameters), task = $8, "
	"classification = $9 WHERE id = $1 AND status = 'validating_files' RETURNING seq";
static const char sql_claim[] =
	"WITH next AS (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1 "
	"  FOR UPDATE SKIP LOCKED) "
	"UPDATE jobs j SET status = 'running', started_at = coalesce(j.started_at, $1::bigint), "
	"attempts = j.attempts + 1, lease_epoch = j.lease_epoch + 1, lease_owner = $2, "
	"lease_expires_at = now() + $3::bigint * interval '1 millisecond' "
	"FROM next WHERE j.seq = next.seq RETURNING j.id, j.attempts, j.lease_epoch";
/* SET expressions see the row as it was: a running job with a cancel
 * pending becomes cancelled, without error or model. */
#define CANCEL_WINS "(status = 'running' AND cancel_requested = 1)"
static const char sql_finish[] =
	"UPDATE jobs SET status = CASE WHEN " CANCEL_WINS " THEN 'cancelled' ELSE $2 END, "
	"finished_at = $3::bigint, error = CASE WHEN " CANCEL_WINS " THEN NULL ELSE $4 END, "
	"fine_tuned_model = CASE WHEN " CANCEL_WINS " THEN NULL ELSE $5 END, "
	"estimated_finish = NULL, classification = coalesce($6, classification), "
	"output_dir = CASE WHEN " CANCEL_WINS " THEN output_dir ELSE $8 END, "
	"lease_owner = NULL, lease_expires_at = NULL "
	"WHERE id = $1 AND status IN ('validating_files', 'running') "
	"AND ($7::bigint = 0 OR (status = 'running' AND lease_epoch = $7::bigint)) "
	"RETURNING seq, status";
static const char sql_requeue[] =
	"UPDATE jobs SET status = CASE WHEN " CANCEL_WINS " THEN 'cancelled' ELSE 'queued' END, "
	"finished_at = CASE WHEN " CANCEL_WINS " THEN $2::bigint ELSE finished_at END, "
	"estimated_finish = NULL, lease_owner = NULL, lease_expires_at = NULL "
	"WHERE id = $1 AND status = 'running' AND ($3::bigint = 0 OR lease_epoch = $3::bigint) "
	"RETURNING seq, status";
static const char sql_cancel_now[] =
	"UPDATE jobs SET status = 'cancelled', finished_at = $2::bigint "
	"WHERE id = $1 AND status IN ('validating_files', 'queued') RETURNING seq";
static const char sql_cancel_request[] =
	"UPDATE jobs SET cancel_requested = 1 "
	"WHERE id = $1 AND status = 'running' AND cancel_requested = 0 RETURNING seq";
/* Recovery's candidates: running jobs whose lease expired (all of them),
 * or one job this daemon holds (reconcile); locked, so two daemons
 * sweeping at once take different ones. */
static const char sql_expired[] =
	"SELECT id, cancel_requested, crashes, coalesce(lease_owner, '') FROM jobs "
	"WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < now()) "
	"ORDER BY seq FOR UPDATE SKIP LOCKED";
static const char sql_mine[] =
	"SELECT id, cancel_requested, crashes, coalesce(lease_owner, '') FROM jobs "
	"WHERE id = $1 AND status = 'running' AND lease_owner = $2 FOR UPDATE";
static const char sql_recover_cancel[] =
	"UPDATE jobs SET status = 'cancelled', finished_at = $2::bigint, estimated_finish = NULL, "
	"crashes = crashes + $3::bigint, lease_owner = NULL, lease_expires_at = NULL "
	"WHERE id = $1 AND status = 'running'";
static const char sql_recover_queue[] =
	"UPDATE jobs SET status = 'queued', estimated_finish = NULL, crashes = crashes + $3::bigint, "
	"lease_owner = NULL, lease_expires_at = NULL "
	"WHERE id = $1 AND status = 'running' AND $2::bigint >= 0";
static const char sql_recover_fail[] =
	"UPDATE jobs SET status = 'failed', finished_at = $2::bigint, estimated_finish = NULL, "
	"crashes = crashes + $3::bigint, error = $4, lease_owner = NULL, lease_expires_at = NULL "
	"WHERE id = $1 AND status = 'running'";
static const char sql_running_ids[] =
	"SELECT id FROM jobs WHERE status = 'running' AND lease_owner = $1 ORDER BY seq";
static const char sql_progress[] =
	"UPDATE jobs SET step = $2::bigint, total_steps = $3::bigint, epoch = $4::float8, "
	"tokens_per_second = $5::float8, trained_tokens = $6::bigint, "
	"estimated_finish = $7::bigint, budget_current = $8::bigint, metrics = $9 WHERE id = $1";
static const char sql_counts[] = "SELECT status, count(*) FROM jobs GROUP BY status";
static const char sql_totals[] =
	"SELECT coalesce(sum(step), 0), coalesce(sum(trained_tokens), 0) FROM jobs";
static const char sql_key_get[] =
	"SELECT request_hash, job_id FROM idempotency_keys WHERE key = $1 AND created_at >= $2::bigint";
static const char sql_key_expire[] = "DELETE FROM idempotency_keys WHERE created_at < $1::bigint";
static const char sql_key_put[] =
	"INSERT INTO idempotency_keys (key, request_hash, job_id, created_at) "
	"VALUES ($1, $2, $3, $4::bigint)";

/* One row of sql bound to id into out (released first: a retried
 * transaction reads it again); ADA_ENOTFOUND when there is none. */
static int get_one(struct pgc *c, const char *sql, const char *id, struct store_job *out,
		   struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	store_job_release(out);
	arg_str(&a, id);
	if ((rc = pg_exec(c, sql, &a, &r, err)))
		return rc;
	if (PQntuples(r)) {
		struct store_row row = pg_row(r, 0);
		rc = row_job(&row, out, err);
	} else {
		rc = store_no_such_job(err, id);
	}
	PQclear(r);
	return rc;
}

/* Run an UPDATE ... RETURNING (bound by a): ADA_ENOTFOUND when it matched
 * no row. status (32 bytes, may be NULL) receives its column 1. */
static int update_one(struct pgc *c, const char *sql, const struct pgargs *a, char *status,
		      struct ada_err *err)
{
	PGresult *r;
	int rc;

	if ((rc = pg_exec(c, sql, a, &r, err)))
		return rc;
	if (!PQntuples(r))
		rc = ADA_ENOTFOUND;
	else if (status)
		col_cpy(r, 0, 1, status, 32);
	PQclear(r);
	return rc;
}

/* ---- the job machine's statements (job_machine.h: m_<member>) -------- */

static int m_get(void *c, const char *id, struct store_job *out, struct ada_err *err)
{
	return get_one(c, sql_get, id, out, err);
}

static int m_key_get(void *c, const char *key, int64_t since, const char *hash,
		     char job_id[STORE_ID_MAX], int *same, struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	arg_str(&a, key);
	arg_int(&a, since);
	if ((rc = pg_exec(c, sql_key_get, &a, &r, err)))
		return rc;
	if (PQntuples(r)) {
		col_cpy(r, 0, 1, job_id, STORE_ID_MAX);
		*same = !strcmp(col_text(r, 0, 0), hash ? hash : "");
	} else {
		rc = ADA_ENOTFOUND;
	}
	PQclear(r);
	return rc;
}

static int m_key_put(void *c, const struct store_job_spec *spec, int64_t now,
		     int64_t expire_before, struct ada_err *err)
{
	struct pgargs a = { 0 }, b = { 0 };
	int rc;

	arg_int(&a, expire_before);
	if ((rc = pg_exec(c, sql_key_expire, &a, NULL, err)))
		return rc;
	/* Two daemons inserting one key at once: the second waits for the
	 * first's commit, fails on the key, and its retry replays (pg_tx). */
	arg_str(&b, spec->idempotency_key);
	arg_str(&b, spec->request_hash ? spec->request_hash : "");
	arg_str(&b, spec->id);
	arg_int(&b, now);
	return pg_exec(c, sql_key_put, &b, NULL, err);
}

static int m_file_exists(void *c, const char *id, struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	arg_str(&a, id);
	if ((rc = pg_exec(c, sql_file_exists, &a, &r, err)))
		return rc;
	rc = PQntuples(r) ? ADA_OK : ADA_ENOTFOUND;
	PQclear(r);
	return rc;
}

static int m_count_waiting(void *c, int64_t *n, struct ada_err *err)
{
	PGresult *r;
	int rc;

	if ((rc = pg_exec(c, sql_waiting, NULL, &r, err)))
		return rc;
	*n = col_int(r, 0, 0, 0);
	PQclear(r);
	return ADA_OK;
}

static int m_insert(void *c, const struct store_job_spec *spec, int64_t now,
		    struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, spec->id);
	arg_str(&a, spec->model);
	arg_str(&a, spec->training_file);
	arg_str(&a, spec->validation_file);
	arg_int(&a, (int64_t)spec->seed);
	arg_str(&a, spec->suffix);
	arg_str(&a, spec->method);
	arg_str(&a, spec->hyperparameters);
	arg_int(&a, now);
	return pg_exec(c, sql_insert, &a, NULL, err);
}

static int m_planned(void *c, const char *id, const struct store_plan *plan,
		     const char *hyperparameters, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, id);
	arg_int(&a, plan->total_steps);
	arg_int(&a, plan->steps_per_epoch);
	arg_int(&a, plan->n_epochs);
	arg_int_or_null(&a, plan->budget_initial);
	arg_int_or_null(&a, plan->budget_target);
	arg_str(&a, hyperparameters);
	arg_str(&a, plan->task);
	arg_str(&a, plan->classification);
	return update_one(c, sql_planned, &a, NULL, err);
}

static int m_claim(void *conn, int64_t now, char id[STORE_ID_MAX], int64_t *attempt,
		   struct ada_err *err)
{
	struct pgc *c = conn;
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	arg_int(&a, now);
	arg_str(&a, c->st->base.daemon_id);
	arg_int(&a, c->st->lease_ms);
	if ((rc = pg_exec(c, sql_claim, &a, &r, err)))
		return rc;
	if (PQntuples(r)) {
		col_cpy(r, 0, 0, id, STORE_ID_MAX);
		*attempt = col_int(r, 0, 1, 0);
	} else {
		rc = ADA_ENOTFOUND;
	}
	PQclear(r);
	return rc;
}

static int m_finish(void *c, const struct job_finish_row *f, char *status, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, f->id);
	arg_str(&a, f->status);
	arg_int(&a, f->finished_at);
	arg_str(&a, f->error);
	arg_str(&a, f->fine_tuned_model);
	arg_str(&a, f->classification);
	arg_int(&a, f->epoch);
	arg_str(&a, f->output_dir);
	return update_one(c, sql_finish, &a, status, err);
}

static int m_requeue(void *c, const char *id, int64_t now, int64_t epoch, char *status,
		     struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, id);
	arg_int(&a, now);
	arg_int(&a, epoch);
	return update_one(c, sql_requeue, &a, status, err);
}

static int m_cancel_request(void *c, const char *id, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, id);
	return update_one(c, sql_cancel_request, &a, NULL, err);
}

static int m_cancel_now(void *c, const char *id, int64_t now, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, id);
	arg_int(&a, now);
	return update_one(c, sql_cancel_now, &a, NULL, err);
}

static int m_progress(void *c, const char *id, const struct store_progress *p,
		      struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, id);
	arg_int(&a, p->step);
	arg_int(&a, p->total_steps);
	arg_real(&a, p->epoch);
	arg_real(&a, p->tokens_per_second);
	arg_int(&a, p->trained_tokens);
	if (p->estimated_finish > 0)
		arg_int(&a, p->estimated_finish);
	else
		arg_str(&a, NULL);
	arg_int_or_null(&a, p->budget_current);
	arg_str(&a, p->metrics);
	return pg_exec(c, sql_progress, &a, NULL, err);
}

/* The other daemons' workers look for work, and whichever runs the job
 * stops it (NOTIFY, delivered at the commit). */
static int m_queued(void *c, struct ada_err *err)
{
	return pg_notify(c, PG_CHANNEL_QUEUE, "", err);
}

static int m_cancelling(void *c, const char *job_id, struct ada_err *err)
{
	return pg_notify(c, PG_CHANNEL_CANCEL, job_id, err);
}

static const struct job_machine_ops machine_ops = {
	JOB_MACHINE_STATEMENTS(m_),
	.event = pg_event_insert,
	.fence_refused = pg_fence_refused,
	.fence_check = pg_fence_check,
	.checkpoint = pg_checkpoint_put,
	.queued = m_queued,
	.cancelling = m_cancelling,
};

/* ---- the job machine in a transaction (backend.h) --------------------- */

static int op_machine(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	return job_machine_run(ctx, &machine_ops, c, notify, err);
}

int pg_job_write(struct store *st, job_machine_fn fn, const void *args, int urgent,
		 struct ada_err *err)
{
	struct job_machine_call call = { fn, args };

	/* A running job's events and progress: at the daemon's priority, not
	 * the worker's (urgent.c). */
	if (urgent)
		return pg_urgent_tx(pg_of(st), op_machine, &call, err);
	return pg_tx(st, op_machine, &call, err);
}

int pg_job_machine(struct store *st, struct job_machine *m, struct ada_err *err)
{
	struct pgc *c = NULL;
	int rc = pg_get(st, &c, err);

	*m = (struct job_machine){ &machine_ops, c };
	return rc;
}

/* ---- reads ------------------------------------------------------------- */

int pg_job_get(struct store *st, const char *id, struct store_job *out, struct ada_err *err)
{
	struct pgc *c;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = pg_get(st, &c, err)))
		return rc;
	return get_one(c, sql_get, id, out, err);
}

void pg_changed(struct pg_store *st, const char *job_id)
{
	size_t k = pg_id_slot(job_id, PG_VCACHE_SLOTS);

	pthread_mutex_lock(&st->vc_lock);
	st->vc_seq++;
	if (!strcmp(st->vc[k].id, job_id))
		st->vc[k].id[0] = '\0';
	pthread_mutex_unlock(&st->vc_lock);
	store_notify(&st->base, job_id);
}

void pg_vcache_reset(struct pg_store *st, int live)
{
	pg_recent_reset(st, live);   /* the same reason: notifications heard or not */
	pthread_mutex_lock(&st->vc_lock);
	st->vc_seq++;
	st->vc_live = live;
	for (size_t k = 0; k < PG_VCACHE_SLOTS; k++)
		st->vc[k].id[0] = '\0';
	pthread_mutex_unlock(&st->vc_lock);
}

int pg_job_version(struct store *base, const char *id, int64_t *version, struct ada_err *err)
{
	struct pg_store *st = pg_of(base);
	const size_t k = pg_id_slot(id, PG_VCACHE_SLOTS);
	uint64_t seq;
	struct pgc *c;
	int rc;

	pthread_mutex_lock(&st->vc_lock);
	if (st->vc_live && !strcmp(st->vc[k].id, id)) {
		*version = st->vc[k].version;
		pthread_mutex_unlock(&st->vc_lock);
		return ADA_OK;
	}
	seq = st->vc_seq;
	pthread_mutex_unlock(&st->vc_lock);
	if ((rc = pg_get(base, &c, err)))
		return rc;
	if ((rc = pg_int_of(c, sql_version, id, version, err)) == ADA_ENOTFOUND)
		rc = store_no_such_job(err, id);
	pthread_mutex_lock(&st->vc_lock);
	if (!rc && st->vc_live && st->vc_seq == seq && strlen(id) < STORE_ID_MAX) {
		snprintf(st->vc[k].id, STORE_ID_MAX, "%s", id);
		st->vc[k].version = *version;
	}
	pthread_mutex_unlock(&st->vc_lock);
	return rc;
}

int pg_job_list(struct store *st, const struct store_job_query *q, struct store_jobs *out,
		struct ada_err *err)
{
	struct pgargs a = { 0 };
	struct store_row rows;
	struct pgc *c;
	PGresult *r;
	int rc;

	if ((rc = pg_page(st, sql_seq, q->after, q->limit, &c, &a, err)))
		return rc;
	if (q->status >= 0)
		arg_str(&a, job_status_name((enum job_status)q->status));
	if ((rc = pg_exec(c, q->status >= 0 ? sql_list_status : sql_list, &a, &r, err)))
		return rc;
	rows = pg_rows(r);
	rc = rows_jobs(&rows, (size_t)q->limit, out, err);
	PQclear(r);
	return rc;
}

/* The oldest validating job no other validator is planning: each daemon's
 * validator holds a session advisory lock on the job it plans, from here
 * to its next call (or its connection's end, if its daemon dies). */
int pg_job_next_validating(struct store *st, struct store_job *out, struct ada_err *err)
{
	struct pgc *c;
	PGresult *ids;
	int rc, n;

	memset(out, 0, sizeof(*out));
	if ((rc = pg_get(st, &c, err)) || (rc = pg_exec(c, sql_unlock_all, NULL, NULL, err)) ||
	    (rc = pg_exec(c, sql_validating_ids, NULL, &ids, err)))
		return rc;
	n = PQntuples(ids);
	rc = store_no_such_job(err, "(none waiting)");
	for (int i = 0; i < n; i++) {
		struct pgargs a = { 0 };
		PGresult *r;
		int locked;

		arg_str(&a, col_text(ids, i, 0));
		if ((rc = pg_exec(c, sql_try_lock, &a, &r, err)))
			break;
		locked = !strcmp(col_text(r, 0, 0), "t");
		PQclear(r);
		if (!locked) {
			rc = store_no_such_job(err, "(none waiting)");
			continue;
		}
		/* Planned by another while we listed? Then the next one. */
		rc = get_one(c, sql_get_validating, col_text(ids, i, 0), out, err);
		if (rc != ADA_ENOTFOUND)
			break;
		pg_exec(c, sql_unlock, &a, NULL, NULL);
	}
	PQclear(ids);
	return rc;
}

struct recover {
	int max_crashes;             /* 0: never fail a job for it */
	const char *only;            /* reconcile: just this job, if this daemon's */
	struct store_recovery out;
	char (*ids)[STORE_ID_MAX];   /* the jobs changed (their watchers woken) */
	size_t n_ids, cap_ids;
};

/* Running jobs whose lease expired (their daemon died, hung, or lost the
 * database: the run died, a crash), or one this daemon holds that no
 * worker runs (reconcile: not a crash); job_recovery_decide says what
 * becomes of each, naming the daemon whose lease expired. */
static int op_recover(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct recover *rv = ctx;
	const int counts = !rv->only;
	struct pgargs q = { 0 };
	PGresult *r;
	int rc, n, requeued = 0;

	(void)notify;
	rv->out = (struct store_recovery){ 0 };
	rv->n_ids = 0;
	if (rv->only) {
		arg_str(&q, rv->only);
		arg_str(&q, c->st->base.daemon_id);
	}
	if ((rc = pg_exec(c, rv->only ? sql_mine : sql_expired, rv->only ? &q : NULL, &r, err)))
		return rc;
	n = PQntuples(r);
	for (int i = 0; i < n && !rc; i++) {
		static const char *const sql[] = {
			[JOB_RECOVER_QUEUE] = sql_recover_queue,
			[JOB_RECOVER_CANCEL] = sql_recover_cancel,
			[JOB_RECOVER_FAIL] = sql_recover_fail,
		};
		const char *id = col_text(r, i, 0);
		struct pgargs a = { 0 };
		struct job_recovery jr;

		job_recovery_decide(&jr, col_int(r, i, 1, 0) != 0, counts, rv->max_crashes,
				    col_int(r, i, 2, 0), col_text(r, i, 3));
		arg_str(&a, id);
		arg_int(&a, (int64_t)time(NULL));
		arg_int(&a, counts);
		if (jr.action == JOB_RECOVER_FAIL)
			arg_str(&a, jr.error);
		if ((rc = pg_exec(c, sql[jr.action], &a, NULL, err)) ||
		    (rc = pg_event_insert(c, id, 0, jr.level, "message", jr.message, NULL, err)))
			break;
		job_recovery_count(&jr, &rv->out);
		requeued |= jr.action == JOB_RECOVER_QUEUE;
		if (ALLOC_GROW(rv->ids, rv->n_ids + 1, rv->cap_ids)) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			break;
		}
		snprintf(rv->ids[rv->n_ids++], STORE_ID_MAX, "%s", id);
	}
	PQclear(r);
	if (!rc && requeued)
		rc = pg_notify(c, PG_CHANNEL_QUEUE, "", err);
	return rc;
}

static int recover_run(struct store *st, struct recover *rv, struct store_recovery *out,
		       struct ada_err *err)
{
	int rc = pg_tx(st, op_recover, rv, err);

	if (!rc)
		for (size_t i = 0; i < rv->n_ids; i++)
			pg_changed(pg_of(st), rv->ids[i]);
	if (!rc && rv->out.requeued)
		store_hook_queue(st);
	*out = rc ? (struct store_recovery){ 0 } : rv->out;
	free(rv->ids);
	return rc;
}

int pg_sweep_expired(struct store *st, int max_crashes, struct store_recovery *out,
		     struct ada_err *err)
{
	struct recover rv = { .max_crashes = max_crashes };

	return recover_run(st, &rv, out, err);
}

int pg_recover(struct store *st, int max_crashes, struct store_recovery *out,
	       struct ada_err *err)
{
	pthread_mutex_lock(&pg_of(st)->lock);
	pg_of(st)->max_crashes = max_crashes;
	pthread_mutex_unlock(&pg_of(st)->lock);
	return pg_sweep_expired(st, max_crashes, out, err);
}

int pg_job_reconcile(struct store *st, const char *id, struct store_recovery *out,
		     struct ada_err *err)
{
	struct recover rv = { .only = id };
	int rc = recover_run(st, &rv, out, err);

	if (!rc && (out->requeued || out->cancelled))
		pg_held_remove(st, id, -1);
	return rc;
}

int pg_job_running_ids(struct store *st, char (**ids)[STORE_ID_MAX], size_t *n,
		       struct ada_err *err)
{
	struct pgargs a = { 0 };
	struct pgc *c;
	PGresult *r;
	int rc, rows;

	arg_str(&a, st->daemon_id);
	if ((rc = pg_get(st, &c, err)) || (rc = pg_exec(c, sql_running_ids, &a, &r, err)))
		return rc;
	rows = PQntuples(r);
	*ids = rows ? xcalloc((size_t)rows, sizeof(**ids)) : NULL;
	if (rows && !*ids) {
		PQclear(r);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	for (int i = 0; i < rows; i++)
		col_cpy(r, i, 0, (*ids)[i], STORE_ID_MAX);
	*n = (size_t)rows;
	PQclear(r);
	return ADA_OK;
}

int pg_job_counts(struct store *st, int64_t counts[JOB_N_STATUS], struct ada_err *err)
{
	struct pgc *c;
	PGresult *r;
	int rc;

	if ((rc = pg_get(st, &c, err)) || (rc = pg_exec(c, sql_counts, NULL, &r, err)))
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		int k = job_status_from_name(col_text(r, i, 0));
		if (k >= 0)
			counts[k] = col_int(r, i, 1, 0);
	}
	PQclear(r);
	return ADA_OK;
}

int pg_job_totals(struct store *st, int64_t *steps, int64_t *tokens, struct ada_err *err)
{
	struct pgc *c;
	PGresult *r;
	int rc;

	if ((rc = pg_get(st, &c, err)) || (rc = pg_exec(c, sql_totals, NULL, &r, err)))
		return rc;
	*steps = col_int(r, 0, 0, 0);
	*tokens = col_int(r, 0, 1, 0);
	PQclear(r);
	return ADA_OK;
}
