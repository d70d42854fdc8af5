/*
 * events — a job's event log and its checkpoints; see store.h.
 *
 * An event's number is the job's last_event counter, bumped in the same
 * transaction that inserts the event, so numbers are dense per job and a
 * stream that resumes after number n (SSE's Last-Event-ID) misses nothing.
 *
 * Every event's data says what it is in "kind" (store.h). Callers that
 * have data put it there; the events the store writes itself, without
 * data, are the job's life cycle: their data becomes {"kind": "status",
 * "status": the job's status after the event}, read by the same UPDATE
 * that numbers the event.
 */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

static const char sql_bump[] =
	"UPDATE jobs SET last_event = last_event + 1 "
	"WHERE id = ?1 AND (?2 = 0 OR (status = 'running' AND lease_epoch = ?2)) "
	"RETURNING last_event, status";
static const char sql_fence_state[] = "SELECT status, lease_epoch FROM jobs WHERE id = ?1";
static const char sql_fence_ok[] =
	"SELECT 1 FROM jobs WHERE id = ?1 AND status = 'running' AND lease_epoch = ?2";
static const char sql_insert[] =
	"INSERT INTO events (job_id, seq, created_at, level, type, message, data) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_after[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
static const char sql_newest[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = ?1 ORDER BY seq DESC LIMIT ?3";
static const char sql_ranks_all[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = ?1 AND message = 'ranks' ORDER BY seq";
static const char sql_ranks_last[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = ?1 AND message = 'ranks' "
	"ORDER BY seq DESC LIMIT 1";
static const char sql_last[] =
	"SELECT " ROWS_EVENT_COLS " FROM events WHERE job_id = ?1 AND message = ?2 "
	"ORDER BY seq DESC LIMIT 1";
static const char sql_ckpt_add[] =
	"INSERT OR REPLACE INTO checkpoints (job_id, step, created_at, metrics) "
	"VALUES (?1, ?2, ?3, ?4)";
static const char sql_ckpt_list[] =
	"SELECT " ROWS_CHECKPOINT_COLS " FROM checkpoints WHERE job_id = ?1 AND step < ?2 "
	"ORDER BY step DESC LIMIT ?3";

/* Why a run's write to job_id under epoch matched nothing: ADA_ENOTFOUND
 * (no such job) or STORE_EFENCED. */
int fence_refused(void *conn, const char *job_id, int64_t epoch, struct ada_err *err)
{
	struct conn *c = conn;
	char status[32] = "";
	int64_t now = 0;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_fence_state, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		col_copy(s, 0, status, sizeof(status));
		now = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return store_no_such_job(err, job_id);
	if (rc != SQLITE_ROW)
		return conn_fail(c, "job lease", err);
	return store_fenced(err, job_id, epoch, status, now);
}

int fence_check(void *conn, const char *job_id, int64_t epoch, struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if (epoch <= 0)
		return ADA_OK;
	if ((rc = conn_stmt(c, sql_fence_ok, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	sqlite3_bind_int64(s, 2, epoch);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return ADA_OK;
	if (rc == SQLITE_DONE)
		return fence_refused(c, job_id, epoch, err);
	return conn_fail(c, "job lease", err);
}

int event_insert(void *conn, const char *job_id, int64_t epoch, const char *level,
		 const char *type, const char *message, const char *data, struct ada_err *err)
{
	struct conn *c = conn;
	char status_data[96];
	sqlite3_stmt *s;
	int64_t seq;
	int rc;

	if ((rc = conn_stmt(c, sql_bump, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	sqlite3_bind_int64(s, 2, epoch > 0 ? epoch : 0);
	rc = sqlite3_step(s);
	seq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	if (rc == SQLITE_ROW && !data) {
		const unsigned char *status = sqlite3_column_text(s, 1);
		snprintf(status_data, sizeof(status_data),
			 STORE_STATUS_DATA_HEAD "%s" STORE_STATUS_DATA_TAIL,
			 status ? (const char *)status : "");
		data = status_data;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return fence_refused(c, job_id, epoch, err);
	if (rc != SQLITE_ROW)
		return conn_fail(c, "event number", err);
	if ((rc = conn_stmt(c, sql_insert, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	sqlite3_bind_int64(s, 2, seq);
	sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
	bind_text(s, 4, level);
	bind_text(s, 5, type);
	bind_text(s, 6, message);
	bind_text(s, 7, data);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? ADA_OK : conn_fail(c, "insert event", err);
}

/* The rows of a bound event query into out, up to limit of them. */
static int collect_events(struct conn *c, sqlite3_stmt *s, size_t limit,
			  struct store_events *out, struct ada_err *err)
{
	struct store_row r = sq_rows(c, s, "read events");
	int rc = rows_events(&r, limit, out, err);

	sqlite3_reset(s);
	return rc;
}

int sq_event_list(struct store *st, const char *job_id, int64_t after_seq, int limit,
		     struct store_events *out, struct ada_err *err)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) ||
	    (rc = conn_stmt(c, after_seq >= 0 ? sql_after : sql_newest, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	if (after_seq >= 0)
		sqlite3_bind_int64(s, 2, after_seq);
	sqlite3_bind_int(s, 3, limit + 1);
	return collect_events(c, s, (size_t)limit, out, err);
}

int sq_event_ranks(struct store *st, const char *job_id, int history,
		      struct store_events *out, struct ada_err *err)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) ||
	    (rc = conn_stmt(c, history ? sql_ranks_all : sql_ranks_last, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	return collect_events(c, s, SIZE_MAX, out, err);
}

int sq_event_last(struct store *st, const char *job_id, const char *message,
		     struct store_events *out, struct ada_err *err)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) || (rc = conn_stmt(c, sql_last, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	bind_text(s, 2, message);
	return collect_events(c, s, 1, out, err);
}

int checkpoint_put(void *conn, const char *job_id, int64_t step, int64_t now,
		   const char *metrics, struct ada_err *err)
{
	struct conn *c = conn;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql_ckpt_add, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	sqlite3_bind_int64(s, 2, step);
	sqlite3_bind_int64(s, 3, now);
	bind_text(s, 4, metrics);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? ADA_OK : conn_fail(c, "insert checkpoint", err);
}

int sq_checkpoint_list(struct store *st, const char *job_id, int64_t after_step, int limit,
		       struct store_checkpoints *out, struct ada_err *err)
{
	struct store_row r;
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) || (rc = conn_stmt(c, sql_ckpt_list, &s, err)))
		return rc;
	bind_text(s, 1, job_id);
	sqlite3_bind_int64(s, 2, after_step >= 0 ? after_step : INT64_MAX);
	sqlite3_bind_int(s, 3, limit + 1);
	r = sq_rows(c, s, "list checkpoints");
	rc = rows_checkpoints(&r, (size_t)limit, out, err);
	sqlite3_reset(s);
	return rc;
}
