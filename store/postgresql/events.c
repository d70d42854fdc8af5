/*
 * events — a job's event log and its checkpoints, in PostgreSQL; see
 * store.h and store/sqlite/events.c (the same rules).
 *
 * One statement numbers an event (the job's last_event, bumped under the
 * row's lock, so numbers are dense per job), inserts it and NOTIFYs the
 * daemons' streams with the row itself (recent.c keeps it, so a stream
 * needs no query to read it; an event too large for a payload is NOTIFYed
 * as its job's id and number only); its WHERE clause is the fence: a
 * run's event only goes in while the job runs under the run's lease
 * epoch.
 */
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

/* The life-cycle events' data is built here, where the status is read
 * (backend.h's STORE_STATUS_DATA_*). */
static const char sql_insert[] =
	"WITH b AS (UPDATE jobs SET last_event = last_event + 1 "
	"  WHERE id = $1 AND ($2::bigint = 0 OR (status = 'running' AND lease_epoch = $2::bigint)) "
	"  RETURNING last_event, status), "
	"i AS (INSERT INTO events (job_id, seq, created_at, level, type, message, data) "
	"  SELECT $1, b.last_event, $3::bigint, $4, $5, $6, "
	"  coalesce($7, '" STORE_STATUS_DATA_HEAD "' || b.status || '" STORE_STATUS_DATA_TAIL "') "
	"  FROM b "
	"  RETURNING seq, created_at, level, type, message, data), "
	"n AS (SELECT seq, json_build_array($1::text, seq, created_at, level, type, message, data)::text "
	"  AS row FROM i) "
	"SELECT seq, pg_notify('" PG_CHANNEL_EVENTS "', "
	"  CASE WHEN octet_length(row) <= " PG_NOTIFY_ROW_MAX " THEN row "
	"  ELSE json_build_array($1::text, seq)::text END) FROM n";
static const char sql_fence_state[] = "SELECT status, lease_epoch FROM jobs WHERE id = $1";
static const char sql_fence_ok[] =
	"SELECT 1 FROM jobs WHERE id = $1 AND status = 'running' AND lease_epoch = $2::bigint";
static const char sql_after[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = $1 AND seq > $2::bigint "
	"ORDER BY seq LIMIT $3::bigint";
static const char sql_newest[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = $1 ORDER BY seq DESC LIMIT $2::bigint";
static const char sql_ranks_all[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = $1 AND message = 'ranks' ORDER BY seq";
static const char sql_ranks_last[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = $1 AND message = 'ranks' "
	"ORDER BY seq DESC LIMIT 1";
static const char sql_last[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = $1 AND message = $2 "
	"ORDER BY seq DESC LIMIT 1";
static const char sql_ckpt_add[] =
	"INSERT INTO checkpoints (job_id, step, created_at, metrics) "
	"VALUES ($1, $2::bigint, $3::bigint, $4) "
	"ON CONFLICT (job_id, step) DO UPDATE SET created_at = excluded.created_at, "
	"metrics = excluded.metrics";
static const char sql_ckpt_list[] =
	"SELECT " ROWS_CHECKPOINT_COLS " FROM checkpoints WHERE job_id = $1 AND step < $2::bigint "
	"ORDER BY step DESC LIMIT $3::bigint";

int pg_fence_refused(void *c, const char *job_id, int64_t epoch, struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	arg_str(&a, job_id);
	if ((rc = pg_exec(c, sql_fence_state, &a, &r, err)))
		return rc;
	if (!PQntuples(r)) {
		PQclear(r);
		return store_no_such_job(err, job_id);
	}
	rc = store_fenced(err, job_id, epoch, col_text(r, 0, 0), col_int(r, 0, 1, 0));
	PQclear(r);
	return rc;
}

int pg_fence_check(void *c, const char *job_id, int64_t epoch, struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc, n;

	if (epoch <= 0)
		return ADA_OK;
	arg_str(&a, job_id);
	arg_int(&a, epoch);
	if ((rc = pg_exec(c, sql_fence_ok, &a, &r, err)))
		return rc;
	n = PQntuples(r);
	PQclear(r);
	return n ? ADA_OK : pg_fence_refused(c, job_id, epoch, err);
}

int pg_event_insert(void *c, const char *job_id, int64_t epoch, const char *level,
		    const char *type, const char *message, const char *data, struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc, n;

	arg_str(&a, job_id);
	arg_int(&a, epoch > 0 ? epoch : 0);
	arg_int(&a, (int64_t)time(NULL));
	arg_str(&a, level);
	arg_str(&a, type);
	arg_str(&a, message);
	arg_str(&a, data);
	if ((rc = pg_exec(c, sql_insert, &a, &r, err)))
		return rc;
	n = PQntuples(r);
	PQclear(r);
	return n ? ADA_OK : pg_fence_refused(c, job_id, epoch, err);
}

/* The rows of an event query into out, up to limit of them. */
static int read_events(struct store *st, const char *sql, const struct pgargs *a, size_t limit,
		       struct store_events *out, struct ada_err *err)
{
	struct store_row rows;
	struct pgc *c;
	PGresult *r;
	int rc;

	if ((rc = pg_get(st, &c, err)) || (rc = pg_exec(c, sql, a, &r, err)))
		return rc;
	rows = pg_rows(r);
	rc = rows_events(&rows, limit, out, err);
	PQclear(r);
	return rc;
}

int pg_event_list(struct store *st, const char *job_id, int64_t after_seq, int limit,
		  struct store_events *out, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, job_id);
	if (after_seq >= 0)
		arg_int(&a, after_seq);
	arg_int(&a, (int64_t)limit + 1);
	return read_events(st, after_seq >= 0 ? sql_after : sql_newest, &a, (size_t)limit, out,
			   err);
}

int pg_event_follow(struct store *st, const char *job_id, int64_t after_seq, int limit,
		    struct store_events *out, struct ada_err *err)
{
	if (pg_recent_get(pg_of(st), job_id, after_seq, limit, out))
		return ADA_OK;
	return pg_event_list(st, job_id, after_seq, limit, out, err);
}

int pg_event_ranks(struct store *st, const char *job_id, int history,
		   struct store_events *out, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, job_id);
	return read_events(st, history ? sql_ranks_all : sql_ranks_last, &a, SIZE_MAX, out, err);
}

int pg_event_last(struct store *st, const char *job_id, const char *message,
		  struct store_events *out, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, job_id);
	arg_str(&a, message);
	return read_events(st, sql_last, &a, 1, out, err);
}

int pg_checkpoint_put(void *c, const char *job_id, int64_t step, int64_t now,
		      const char *metrics, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, job_id);
	arg_int(&a, step);
	arg_int(&a, now);
	arg_str(&a, metrics);
	return pg_exec(c, sql_ckpt_add, &a, NULL, err);
}

int pg_checkpoint_list(struct store *st, const char *job_id, int64_t after_step, int limit,
		       struct store_checkpoints *out, struct ada_err *err)
{
	struct pgargs a = { 0 };
	struct store_row rows;
	struct pgc *c;
	PGresult *r;
	int rc;

	arg_str(&a, job_id);
	arg_int(&a, after_step >= 0 ? after_step : INT64_MAX);
	arg_int(&a, (int64_t)limit + 1);
	if ((rc = pg_get(st, &c, err)) || (rc = pg_exec(c, sql_ckpt_list, &a, &r, err)))
		return rc;
	rows = pg_rows(r);
	rc = rows_checkpoints(&rows, (size_t)limit, out, err);
	PQclear(r);
	return rc;
}
