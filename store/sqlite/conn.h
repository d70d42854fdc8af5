/*
 * conn — the SQLite backend's state, per-thread connections, statement
 * cache and transactions (internal to store/sqlite/).
 *
 * A thread's first store call opens its connection (kept per thread by
 * store/conns.h). Each connection caches its prepared statements keyed
 * by the address of the SQL text (every query is a static string in the
 * file that owns it), so a hot query is prepared once per thread and then
 * only reset and bound.
 */
#ifndef ADALORAD_STORE_CONN_H
#define ADALORAD_STORE_CONN_H

#include <pthread.h>
#include <sqlite3.h>

#include "backend.h"
#include "conns.h"
#include "rows.h"

#define CONN_STMT_SLOTS 64

struct write_op;

struct sq_store;

struct conn {
	struct conn_link link;       /* first: the store's list of connections */
	sqlite3 *db;
	struct sq_store *st;
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[CONN_STMT_SLOTS];
	int in_tx;
};

struct sq_store {
	struct store base;           /* first: a struct store * is a struct sq_store * */
	char *path;
	enum store_sync sync;
	int busy_timeout_ms;
	struct conns conns;          /* each thread's struct conn */
	pthread_mutex_t lock;        /* guards address */
	int lock_fd;                 /* flock'ed "<db>.lock": one daemon per database */
	char address[96];            /* the API's, for the daemons list (under lock) */
	char version[32];
	int64_t started_at;
	int workers;

	/* group commit (writer.c) */
	pthread_mutex_t gc_lock;
	pthread_cond_t gc_cond;      /* work for the writer thread */
	pthread_cond_t gc_done;      /* a batch committed */
	struct write_queue {
		struct write_op *head, *tail;
	} queues[2];                 /* [0] urgent (live events), [1] the rest */
	pthread_t writer;
	int writer_started, writer_stop;
};

static inline struct sq_store *sq_of(struct store *st)
{
	return (struct sq_store *)st;
}

/* The calling thread's connection (opened on first use). */
int conn_get(struct store *st, struct conn **out, struct ada_err *err);
/* Close and free the connection (struct conns' close). */
void conn_close_link(struct conn_link *l);

/* A cached statement for sql (a string with static storage), reset and
 * with its bindings cleared. */
int conn_stmt(struct conn *c, const char *sql, sqlite3_stmt **out, struct ada_err *err);

/* BEGIN IMMEDIATE; commit or roll back. Only the writer thread (and
 * migrations, before it starts) open transactions. */
int conn_begin(struct conn *c, struct ada_err *err);
int conn_commit(struct conn *c, struct ada_err *err);
void conn_rollback(struct conn *c);

/* A write for store_write(): runs in a savepoint of a shared transaction,
 * on the writer thread's connection c (it must use nothing else).
 * It may name in notify (STORE_ID_MAX bytes) a job whose watchers are
 * woken after the commit. */
typedef int (*write_fn)(struct conn *c, void *ctx, char *notify, struct ada_err *err);

/* Run fn as part of the next group commit and wait for that commit:
 * fn's result, or the commit's failure. */
int sq_write(struct store *st, write_fn fn, void *ctx, struct ada_err *err);
/* The same, ahead of the queue: a running job's events. */
int sq_write_urgent(struct store *st, write_fn fn, void *ctx, struct ada_err *err);
/* The writer thread (the open starts it once migrated; the free stops it
 * after the queue drains). */
int writer_start(struct sq_store *st, struct ada_err *err);
void writer_stop(struct sq_store *st);

/* Run SQL with no results (pragmas, DDL). */
int conn_exec(struct conn *c, const char *sql, struct ada_err *err);

/* Fill err from the connection's last error (ADA_EIO, or ADA_ENOMEM). */
int conn_fail(struct conn *c, const char *what, struct ada_err *err);

/* The integer the row sql ("SELECT n ... WHERE id = ?1") finds for id
 * has first: ADA_OK, ADA_ENOTFOUND (err untouched) when there is no such
 * row, or conn_fail(what). */
int conn_int_of(struct conn *c, const char *sql, const char *id, int64_t *v, const char *what,
		struct ada_err *err);
/* A page of a list (newest first): the calling thread's connection and
 * sql's statement, bound with ?1 the seq to start below (that of the row
 * sql_seq, "SELECT seq ... WHERE id = ?1", finds for after, or the top
 * when after is NULL; ADA_ENOTFOUND, param "after", when it finds none)
 * and ?2 limit + 1 (one more tells has_more). */
int conn_page(struct store *st, const char *sql_seq, const char *after, const char *sql,
	      int limit, struct conn **c, sqlite3_stmt **s, struct ada_err *err);

/* Append an event inside the caller's transaction (events.c). epoch > 0:
 * only while the job runs under that lease epoch (STORE_EFENCED else).
 * conn is a struct conn: this is the job machine's event statement too
 * (job_machine.h), as fence_refused is its fence_refused. */
int event_insert(void *conn, const char *job_id, int64_t epoch, const char *level,
		 const char *type, const char *message, const char *data, struct ada_err *err);

/* A run's write to job_id under epoch (> 0) may go ahead: ADA_OK, or
 * STORE_EFENCED when the job is not running under that epoch (epoch 0
 * always may). fence_refused says why a fenced statement matched nothing.
 * checkpoint_put records a checkpoint. (The job machine's statements
 * too, as event_insert.) */
int fence_check(void *conn, const char *job_id, int64_t epoch, struct ada_err *err);
int fence_refused(void *conn, const char *job_id, int64_t epoch, struct ada_err *err);
int checkpoint_put(void *conn, const char *job_id, int64_t step, int64_t now,
		   const char *metrics, struct ada_err *err);

/* The backend's functions (backend.h), by file. */
void sq_thread_done(struct store *st);
int sq_file_add(struct store *st, struct store_file *f, struct ada_err *err);
int sq_file_get(struct store *st, const char *id, struct store_file *f, struct ada_err *err);
int sq_file_list(struct store *st, const char *after, int limit, struct store_files *out,
		 struct ada_err *err);
int sq_file_delete(struct store *st, const char *id, struct store_file *deleted,
		   struct ada_err *err);
int sq_file_labels(struct store *st, const char *id, char **labels, struct ada_err *err);
int sq_job_write(struct store *st, job_machine_fn fn, const void *args, int urgent,
		 struct ada_err *err);
int sq_job_machine(struct store *st, struct job_machine *m, struct ada_err *err);
int sq_job_get(struct store *st, const char *id, struct store_job *out, struct ada_err *err);
int sq_job_version(struct store *st, const char *id, int64_t *version, struct ada_err *err);
int sq_job_list(struct store *st, const struct store_job_query *q, struct store_jobs *out,
		struct ada_err *err);
int sq_job_next_validating(struct store *st, struct store_job *out, struct ada_err *err);
int sq_recover(struct store *st, int max_crashes, struct store_recovery *out,
	       struct ada_err *err);
int sq_job_reconcile(struct store *st, const char *id, struct store_recovery *out,
		     struct ada_err *err);
int sq_job_running_ids(struct store *st, char (**ids)[STORE_ID_MAX], size_t *n,
		       struct ada_err *err);
int sq_job_counts(struct store *st, int64_t counts[JOB_N_STATUS], struct ada_err *err);
int sq_job_totals(struct store *st, int64_t *steps, int64_t *tokens, struct ada_err *err);
int sq_event_list(struct store *st, const char *job_id, int64_t after_seq, int limit,
		  struct store_events *out, struct ada_err *err);
int sq_event_ranks(struct store *st, const char *job_id, int history,
		   struct store_events *out, struct ada_err *err);
int sq_event_last(struct store *st, const char *job_id, const char *message,
		  struct store_events *out, struct ada_err *err);
int sq_checkpoint_list(struct store *st, const char *job_id, int64_t after_step, int limit,
		       struct store_checkpoints *out, struct ada_err *err);

/* Bind helpers: NULL strings bind SQL NULL. */
int bind_text(sqlite3_stmt *s, int i, const char *v);
/* The row s was stepped to, for rows.h's readers. */
struct store_row sq_row(sqlite3_stmt *s);
/* The rows s (bound, not yet stepped) will give, for rows.h's pages; a
 * failed step is conn_fail(c, what). The caller resets s after. */
struct store_row sq_rows(struct conn *c, sqlite3_stmt *s, const char *what);
/* Column i of the current row, as row_copy (a NULL column gives ""). */
void col_copy(sqlite3_stmt *s, int i, char *buf, size_t cap);

#endif
