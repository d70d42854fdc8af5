/*
 * jobs — fine-tuning job rows and their state machine, in PostgreSQL; see
 * store.h and store/sqlite/jobs.c (the same machine, the same messages).
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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
		rc = ada_fail(err, ADA_ENOTFOUND, "no such job: %s", id);
	}
	PQclear(r);
	return rc;
}

/* Run an UPDATE ... RETURNING: ADA_OK with *res when it matched a row,
 * ADA_ENOTFOUND when none. */
static int update_one(struct pgc *c, const char *sql, const struct pgargs *a, PGresult **res,
		      struct ada_err *err)
{
	PGresult *r;
	int rc;

	if ((rc = pg_exec(c, sql, a, &r, err)))
		return rc;
	if (!PQntuples(r)) {
		PQclear(r);
		return ADA_ENOTFOUND;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return ADA_OK;
}

/* STORE_ECONFLICT or ADA_ENOTFOUND for a transition that matched no row. */
static int refused(struct pgc *c, const char *id, const char *what, struct ada_err *err)
{
	struct store_job j = { 0 };
	int rc = get_one(c, sql_get, id, &j, err);

	if (rc)
		return rc;
	rc = ada_fail_param(err, STORE_ECONFLICT, "status", "job %s is %s: cannot %s", id,
			    job_status_name(j.status), what);
	store_job_release(&j);
	return rc;
}

/* An outcome of a run (epoch > 0) that matched nothing: STORE_EFENCED
 * when the job moved on without the run, STORE_ECONFLICT when it already
 * ended under it (store/sqlite/jobs.c). */
static int run_refused(struct pgc *c, const char *id, int64_t epoch, const char *what,
		       struct ada_err *err)
{
	struct store_job j = { 0 };
	int rc;

	if (epoch <= 0)
		return refused(c, id, what, err);
	if ((rc = get_one(c, sql_get, id, &j, err)))
		return rc;
	if (j.lease_epoch != epoch || !job_status_final(j.status))
		rc = pg_fence_refused(c, id, epoch, err);
	else
		rc = ada_fail_param(err, STORE_ECONFLICT, "status", "job %s is %s: cannot %s", id,
				    job_status_name(j.status), what);
	store_job_release(&j);
	return rc;
}

static int file_exists(struct pgc *c, const char *id, const char *param, struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc, n;

	arg_str(&a, id);
	if ((rc = pg_exec(c, sql_file_exists, &a, &r, err)))
		return rc;
	n = PQntuples(r);
	PQclear(r);
	return n ? ADA_OK
		 : ada_fail_param(err, ADA_ENOTFOUND, param, "%s: no such file: %s", param, id);
}

/* The job recorded under key less than ttl_s ago: ADA_OK with its id,
 * STORE_ECONFLICT when it came with another request_hash, ADA_ENOTFOUND. */
static int key_lookup(struct pgc *c, const char *key, const char *hash, int64_t ttl_s,
		      char job_id[STORE_ID_MAX], struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	arg_str(&a, key);
	arg_int(&a, (int64_t)time(NULL) - ttl_s);
	if ((rc = pg_exec(c, sql_key_get, &a, &r, err)))
		return rc;
	if (!PQntuples(r)) {
		PQclear(r);
		return ADA_ENOTFOUND;
	}
	col_cpy(r, 0, 1, job_id, STORE_ID_MAX);
	rc = strcmp(col_text(r, 0, 0), hash ? hash : "")
		     ? ada_fail_param(err, STORE_ECONFLICT, "Idempotency-Key",
				      "Idempotency-Key %s was used for another request (job %s); a key names one request: use a new key for a new request",
				      key, job_id)
		     : ADA_OK;
	PQclear(r);
	return rc;
}

static int key_record(struct pgc *c, const struct store_job_spec *spec, struct ada_err *err)
{
	const int64_t now = (int64_t)time(NULL);
	struct pgargs a = { 0 }, b = { 0 };
	int rc;

	arg_int(&a, now - spec->idempotency_ttl_s);
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

struct job_create {
	const struct store_job_spec *spec;
	struct store_job *out;
};

static int op_job_create(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_create *jc = ctx;
	const struct store_job_spec *spec = jc->spec;
	struct pgargs a = { 0 };
	char msg[160];
	PGresult *r;
	int64_t waiting;
	int rc;

	if (spec->idempotency_key) {
		char prior[STORE_ID_MAX];
		rc = key_lookup(c, spec->idempotency_key, spec->request_hash,
				spec->idempotency_ttl_s, prior, err);
		if (rc == ADA_OK) {
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
		if ((rc = pg_exec(c, sql_waiting, NULL, &r, err)))
			return rc;
		waiting = col_int(r, 0, 0, 0);
		PQclear(r);
		if (waiting >= spec->max_waiting)
			return ada_fail(err, STORE_EFULL,
					"%lld jobs are already waiting; try again later",
					(long long)waiting);
	}
	arg_str(&a, spec->id);
	arg_str(&a, spec->model);
	arg_str(&a, spec->training_file);
	arg_str(&a, spec->validation_file);
	arg_int(&a, (int64_t)spec->seed);
	arg_str(&a, spec->suffix);
	arg_str(&a, spec->method);
	arg_str(&a, spec->hyperparameters);
	arg_int(&a, (int64_t)time(NULL));
	if ((rc = pg_exec(c, sql_insert, &a, NULL, err)))
		return rc;
	snprintf(msg, sizeof(msg), "Created fine-tuning job: %s", spec->id);
	if ((rc = pg_event_insert(c, spec->id, 0, "info", "message", msg, NULL, err)))
		return rc;
	snprintf(msg, sizeof(msg), "Validating training file: %s", spec->training_file);
	if ((rc = pg_event_insert(c, spec->id, 0, "info", "message", msg, NULL, err)) ||
	    (spec->idempotency_key && (rc = key_record(c, spec, err))) ||
	    (rc = pg_notify(c, PG_CHANNEL_QUEUE, "", err)))
		return rc;
	if (jc->out && (rc = get_one(c, sql_get, spec->id, jc->out, err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", spec->id);
	return ADA_OK;
}

int pg_job_create(struct store *st, const struct store_job_spec *spec, struct store_job *out,
		  struct ada_err *err)
{
	struct job_create jc = { spec, out };

	return pg_tx(st, op_job_create, &jc, err);
}

int pg_job_by_key(struct store *st, const char *key, const char *request_hash, int64_t ttl_s,
		  struct store_job *out, struct ada_err *err)
{
	char id[STORE_ID_MAX];
	struct pgc *c;
	int rc;

	if ((rc = pg_get(st, &c, err)))
		return rc;
	rc = key_lookup(c, key, request_hash, ttl_s, id, err);
	if (rc == ADA_ENOTFOUND)
		return ada_fail_param(err, ADA_ENOTFOUND, "Idempotency-Key", "no job under key %s",
				      key);
	return rc ? rc : get_one(c, sql_get, id, out, err);
}

int pg_job_get(struct store *st, const char *id, struct store_job *out, struct ada_err *err)
{
	struct pgc *c;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = pg_get(st, &c, err)))
		return rc;
	return get_one(c, sql_get, id, out, err);
}

static size_t vc_slot(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *id; id++) {
		h ^= (unsigned char)*id;
		h *= 0x100000001b3ull;
	}
	return (size_t)(h % PG_VCACHE_SLOTS);
}

void pg_changed(struct pg_store *st, const char *job_id)
{
	size_t k = vc_slot(job_id);

	pthread_mutex_lock(&st->vc_lock);
	st->vc_seq++;
	if (!strcmp(st->vc[k].id, job_id))
		st->vc[k].id[0] = '\0';
	pthread_mutex_unlock(&st->vc_lock);
	store_notify(&st->base, job_id);
}

void pg_vcache_reset(struct pg_store *st, int live)
{
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
	const size_t k = vc_slot(id);
	struct pgargs a = { 0 };
	uint64_t seq;
	struct pgc *c;
	PGresult *r;
	int rc;

	pthread_mutex_lock(&st->vc_lock);
	if (st->vc_live && !strcmp(st->vc[k].id, id)) {
		*version = st->vc[k].version;
		pthread_mutex_unlock(&st->vc_lock);
		return ADA_OK;
	}
	seq = st->vc_seq;
	pthread_mutex_unlock(&st->vc_lock);
	arg_str(&a, id);
	if ((rc = pg_get(base, &c, err)) || (rc = pg_exec(c, sql_version, &a, &r, err)))
		return rc;
	if (PQntuples(r))
		*version = col_int(r, 0, 0, 0);
	else
		rc = ada_fail(err, ADA_ENOTFOUND, "no such job: %s", id);
	PQclear(r);
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
	int64_t from = INT64_MAX;
	struct store_row rows;
	struct pgc *c;
	PGresult *r;
	int rc;

	if ((rc = pg_get(st, &c, err)))
		return rc;
	if (q->after) {
		struct pgargs k = { 0 };
		arg_str(&k, q->after);
		if ((rc = pg_exec(c, sql_seq, &k, &r, err)))
			return rc;
		if (!PQntuples(r)) {
			PQclear(r);
			return ada_fail_param(err, ADA_ENOTFOUND, "after", "after: no such id: %s",
					      q->after);
		}
		from = col_int(r, 0, 0, INT64_MAX);
		PQclear(r);
	}
	arg_int(&a, from);
	arg_int(&a, (int64_t)q->limit + 1);
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
	rc = ada_fail(err, ADA_ENOTFOUND, "no such job: (none waiting)");
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
			rc = ada_fail(err, ADA_ENOTFOUND, "no such job: (none waiting)");
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

/* An UPDATE of one job (bound by the caller) and its event: if it matches
 * nothing, the job is refused (STORE_ECONFLICT) or missing. */
static int transition(struct pgc *c, const char *sql, const struct pgargs *a, const char *id,
		      const char *what, const char *level, const char *message, char *notify,
		      struct ada_err *err)
{
	int rc = update_one(c, sql, a, NULL, err);

	if (rc == ADA_ENOTFOUND)
		rc = refused(c, id, what, err);
	/* Always an event: last_event must move with every change of the row. */
	if (!rc)
		rc = pg_event_insert(c, id, 0, level, "message", message ? message : what, NULL,
				     err);
	if (!rc)
		snprintf(notify, STORE_ID_MAX, "%s", id);
	return rc;
}

struct job_planned {
	const char *id, *hyperparameters, *message;
	const struct store_plan *plan;
};

static int op_job_planned(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_planned *p = ctx;
	struct pgargs a = { 0 };
	int rc;

	arg_str(&a, p->id);
	arg_int(&a, p->plan->total_steps);
	arg_int(&a, p->plan->steps_per_epoch);
	arg_int(&a, p->plan->n_epochs);
	arg_int_or_null(&a, p->plan->budget_initial);
	arg_int_or_null(&a, p->plan->budget_target);
	arg_str(&a, p->hyperparameters);
	arg_str(&a, p->plan->task);
	arg_str(&a, p->plan->classification);
	if ((rc = transition(c, sql_planned, &a, p->id, "queue it", "info", p->message, notify,
			     err)))
		return rc;
	return pg_notify(c, PG_CHANNEL_QUEUE, "", err);
}

int pg_job_planned(struct store *st, const char *id, const struct store_plan *plan,
		   const char *hyperparameters, const char *message, struct ada_err *err)
{
	struct job_planned p = { id, hyperparameters, message, plan };

	return pg_tx(st, op_job_planned, &p, err);
}

static int op_job_claim(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct store_job *out = ctx;
	struct pg_store *st = c->st;
	struct pgargs a = { 0 };
	char id[STORE_ID_MAX], msg[128];
	int64_t attempt;
	PGresult *r;
	int rc;

	arg_int(&a, (int64_t)time(NULL));
	arg_str(&a, st->base.daemon_id);
	arg_int(&a, st->lease_ms);
	rc = update_one(c, sql_claim, &a, &r, err);
	if (rc == ADA_ENOTFOUND)
		return ada_fail(err, ADA_ENOTFOUND, "no job is queued");
	if (rc)
		return rc;
	col_cpy(r, 0, 0, id, sizeof(id));
	attempt = col_int(r, 0, 1, 0);
	PQclear(r);
	if (attempt == 1)
		snprintf(msg, sizeof(msg), "Fine-tuning job started");
	else
		snprintf(msg, sizeof(msg),
			 "Fine-tuning job resumed from its last checkpoint (attempt %lld)",
			 (long long)attempt);
	if ((rc = pg_event_insert(c, id, 0, "info", "message", msg, NULL, err)) ||
	    (rc = get_one(c, sql_get, id, out, err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", id);
	return ADA_OK;
}

int pg_job_claim(struct store *st, struct store_job *out, struct ada_err *err)
{
	int rc = pg_tx(st, op_job_claim, out, err);

	if (!rc)
		pg_held_add(pg_of(st), out->id, out->lease_epoch);
	return rc;
}

struct job_finish {
	const char *id;
	const struct store_outcome *o;
	enum job_status *ended;
};

/* Step a finish or re-queue UPDATE ... RETURNING seq, status, then append
 * its event; the status the row got may be "cancelled" (a pending cancel
 * won, and the event says so). */
static int end_run(struct pgc *c, const char *sql, const struct pgargs *a, const char *id,
		   int64_t epoch, const char *what, enum job_status asked, const char *level,
		   const char *message, enum job_status *ended, char *notify, struct ada_err *err)
{
	char status[32] = "", msg[900];
	PGresult *r;
	int rc = update_one(c, sql, a, &r, err), got;

	if (rc == ADA_ENOTFOUND)
		return run_refused(c, id, epoch, what, err);
	if (rc)
		return rc;
	col_cpy(r, 0, 1, status, sizeof(status));
	PQclear(r);
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
	if ((rc = pg_event_insert(c, id, 0, level, "message", message ? message : what, NULL,
				  err)))
		return rc;
	if (got == JOB_QUEUED && (rc = pg_notify(c, PG_CHANNEL_QUEUE, "", err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", id);
	return ADA_OK;
}

static int op_job_finish(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_finish *f = ctx;
	const struct store_outcome *o = f->o;
	struct pgargs a = { 0 };

	arg_str(&a, f->id);
	arg_str(&a, job_status_name(o->status));
	arg_int(&a, (int64_t)time(NULL));
	arg_str(&a, o->status == JOB_FAILED ? o->error : NULL);
	arg_str(&a, o->status == JOB_SUCCEEDED ? o->fine_tuned_model : NULL);
	arg_str(&a, o->status == JOB_SUCCEEDED ? o->classification : NULL);
	arg_int(&a, o->epoch > 0 ? o->epoch : 0);
	arg_str(&a, o->status == JOB_SUCCEEDED && o->output_dir && *o->output_dir ? o->output_dir
										   : NULL);
	return end_run(c, sql_finish, &a, f->id, o->epoch, "finish it", o->status,
		       o->level ? o->level : "info", o->message, f->ended, notify, err);
}

static int op_job_requeue(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_finish *f = ctx;
	struct pgargs a = { 0 };

	arg_str(&a, f->id);
	arg_int(&a, (int64_t)time(NULL));
	arg_int(&a, f->o->epoch > 0 ? f->o->epoch : 0);
	return end_run(c, sql_requeue, &a, f->id, f->o->epoch, "re-queue it", JOB_QUEUED, "info",
		       f->o->message, f->ended, notify, err);
}

int pg_job_outcome(struct store *st, const char *id, const struct store_outcome *o,
		   enum job_status *ended, struct ada_err *err)
{
	struct job_finish f = { id, o, ended };
	int rc;

	/* The test hook counts writes, which the writer thread serialises on
	 * SQLite; here the store's lock does. */
	pthread_mutex_lock(&pg_of(st)->lock);
	rc = store_injected_failure(st, err);
	pthread_mutex_unlock(&pg_of(st)->lock);
	if (rc)
		return rc;
	/* Out of the held list before the write, so that the heartbeat never
	 * takes the run's own end for a lease lost; back in if the write
	 * failed and will be retried. */
	if (o->epoch > 0)
		pg_held_remove(pg_of(st), id, o->epoch);
	rc = pg_tx(st, o->status == JOB_QUEUED ? op_job_requeue : op_job_finish, &f, err);
	if (o->epoch > 0 && (rc == ADA_EIO || rc == ADA_ENOMEM))
		pg_held_add(pg_of(st), id, o->epoch);
	return rc;
}

struct job_cancel {
	const char *id;
	struct store_job *out;
};

static int op_job_cancel(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_cancel *jc = ctx;
	const char *id = jc->id;
	struct pgargs a = { 0 };
	enum job_status status;
	int rc;

	if ((rc = get_one(c, sql_get, id, jc->out, err)))
		return rc;
	status = jc->out->status;
	store_job_release(jc->out);
	if (job_status_final(status))
		return ada_fail_param(err, STORE_ECONFLICT, "status", "job %s has already %s", id,
				      job_status_name(status));
	arg_str(&a, id);
	if (status == JOB_RUNNING) {
		rc = update_one(c, sql_cancel_request, &a, NULL, err);
		if (rc == ADA_OK)
			rc = pg_event_insert(c, id, 0, "info", "message",
					     "Cancellation requested: the job stops at its next step",
					     NULL, err);
		else if (rc == ADA_ENOTFOUND)
			rc = ADA_OK;   /* already requested */
		/* Whichever daemon runs it stops it. */
		if (!rc)
			rc = pg_notify(c, PG_CHANNEL_CANCEL, id, err);
	} else {
		arg_int(&a, (int64_t)time(NULL));
		rc = update_one(c, sql_cancel_now, &a, NULL, err);
		if (rc == ADA_OK)
			rc = pg_event_insert(c, id, 0, "info", "message", "Fine-tuning job cancelled",
					     NULL, err);
	}
	if (rc || (rc = get_one(c, sql_get, id, jc->out, err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", id);
	return ADA_OK;
}

int pg_job_cancel(struct store *st, const char *id, struct store_job *out, struct ada_err *err)
{
	struct job_cancel jc = { id, out };

	return pg_tx(st, op_job_cancel, &jc, err);
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
 * worker runs (reconcile: not a crash). Each is cancelled if a cancel is
 * pending, failed at its max_crashes-th crash, else re-queued to resume
 * from its checkpoint. */
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
		const char *id = col_text(r, i, 0), *owner = col_text(r, i, 3);
		const int cancel = col_int(r, i, 1, 0) != 0;
		const int64_t crashes = col_int(r, i, 2, 0);
		const int fail = !cancel && counts && rv->max_crashes > 0 &&
				 crashes + 1 >= rv->max_crashes;
		const char *sql = cancel ? sql_recover_cancel : fail ? sql_recover_fail
								     : sql_recover_queue;
		char msg[600], error[900];
		struct pgargs a = { 0 };

		if (cancel)
			snprintf(msg, sizeof(msg), "%s",
				 counts ? "Fine-tuning job cancelled (its daemon stopped before the job could)"
					: "Fine-tuning job cancelled (its run ended without recording it)");
		else if (fail)
			snprintf(msg, sizeof(msg),
				 "The daemon running this job (%s) stopped abnormally, the %lld-th time a daemon died while this job ran (killed for lack of memory? see its log); it is not run again (--max-attempts %d)",
				 owner[0] ? owner : "unknown", (long long)crashes + 1, rv->max_crashes);
		else if (counts)
			snprintf(msg, sizeof(msg),
				 "The lease of daemon %s expired (it was killed, hung, or lost the database): job re-queued; it resumes from its last checkpoint",
				 owner[0] ? owner : "unknown");
		else
			snprintf(msg, sizeof(msg),
				 "Job re-queued: it was marked running but no worker ran it (its outcome was never recorded); it resumes from its last checkpoint");
		arg_str(&a, id);
		arg_int(&a, (int64_t)time(NULL));
		arg_int(&a, counts);
		if (fail) {
			store_crash_loop_error(msg, error, sizeof(error));
			arg_str(&a, error);
		}
		if ((rc = pg_exec(c, sql, &a, NULL, err)) ||
		    (rc = pg_event_insert(c, id, 0, fail ? "error" : "info", "message", msg, NULL,
					  err)))
			break;
		*(cancel ? &rv->out.cancelled : fail ? &rv->out.failed : &rv->out.requeued) += 1;
		requeued |= !cancel && !fail;
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
		pg_held_remove(pg_of(st), id, -1);
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

struct job_progress {
	const char *id, *type, *message, *data;
	const struct store_progress *p;
	int64_t epoch;
};

static int op_job_progress(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct job_progress *jp = ctx;
	const struct store_progress *p = jp->p;
	struct pgargs a = { 0 };
	int rc;

	if ((rc = pg_event_insert(c, jp->id, jp->epoch, "info", jp->type, jp->message, jp->data,
				  err)))
		return rc;
	arg_str(&a, jp->id);
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
	if ((rc = pg_exec(c, sql_progress, &a, NULL, err)))
		return rc;
	snprintf(notify, STORE_ID_MAX, "%s", jp->id);
	return ADA_OK;
}

int pg_job_progress(struct store *st, const char *id, int64_t epoch,
		    const struct store_progress *p, const char *type, const char *message,
		    const char *event_data, struct ada_err *err)
{
	struct job_progress jp = { id, type, message, event_data, p, epoch };

	return pg_tx(st, op_job_progress, &jp, err);
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
