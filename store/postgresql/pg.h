/*
 * pg — the PostgreSQL backend's state, per-thread connections, prepared
 * statements and transactions (internal to store/postgresql/).
 *
 * Several daemons share one database. Each thread gets its own libpq
 * connection the first time it touches the store (a connection must not be
 * shared between threads) and prepares a statement once per connection,
 * keyed by the address of its SQL text (every query is a static string in
 * the file that owns it). There is no writer thread for ordering:
 * PostgreSQL commits concurrent transactions with shared WAL flushes
 * itself, and row locks order the writers of one job (every transition
 * names the state it leaves, so two writers racing cannot both win). One
 * thread (urgent.c) runs a running job's events and progress for the
 * workers, for their priority, not their order. A write is a function
 * run in one transaction by pg_tx(), retried when the server reports a
 * deadlock or a serialization failure, or when the connection broke
 * before the commit was sent.
 *
 * Each write that changes a job also NOTIFYs the other daemons inside its
 * transaction (delivered at commit): "adalorad_events" with the job's id
 * (live streams), "adalorad_queue" (a job was created or queued: look for
 * work), "adalorad_cancel" with the job's id (its runner stops it). This
 * daemon's own watchers are woken right after the commit, without waiting
 * for the notification to come back.
 */
#ifndef ADALORAD_STORE_PG_H
#define ADALORAD_STORE_PG_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

#include "backend.h"
#include "conns.h"
#include "rows.h"

#define PGC_STMT_SLOTS 96
#define PG_MAX_ARGS 16

struct pg_store;

/* One thread's connection (store/conns.h keeps them). */
struct pgc {
	struct conn_link link;          /* first: the store's list of connections */
	PGconn *db;
	struct pg_store *st;
	struct {
		const char *sql;
		char name[12];
	} cache[PGC_STMT_SLOTS];
	int n_prepared;
	int in_tx;
};

/* A job this daemon claimed and has not ended: the heartbeat tells its
 * runner when the lease is no longer its. */
struct pg_held {
	char id[STORE_ID_MAX];
	int64_t epoch;
};

#define PG_VCACHE_SLOTS 4096

struct pg_store {
	struct store base;              /* first: a struct store * is a struct pg_store * */
	/* The versions of jobs (store_job_version), kept while the listener
	 * listens: every change of a job's row appends an event, and every
	 * event is NOTIFYed, so a version is dropped when its job changes
	 * (here, at the commit; elsewhere, when the notification comes). A
	 * GET of an unchanged job then needs no round trip. Direct-mapped by
	 * the id's hash; vc_seq counts drops, so a version read while one
	 * happened is not kept (it may be the old one). */
	pthread_mutex_t vc_lock;
	struct {
		char id[STORE_ID_MAX];
		int64_t version;
	} vc[PG_VCACHE_SLOTS];
	uint64_t vc_seq;
	int vc_live;                    /* the listener listens: drops are not missed */
	/* The newest events heard of (recent.c), under vc_lock too. */
	struct recent_entry *recent;    /* owned: RECENT_SLOTS */
	int recent_live;
	char *uri;
	struct conns conns;             /* each thread's struct pgc */
	pthread_mutex_t lock;           /* guards held, address, max_crashes */
	int64_t lease_ms, heartbeat_ms;
	int max_crashes;                /* store_recover's, for the heartbeat's sweeps */
	char host[256], address[96], version[32];
	int workers;
	struct pg_held *held;
	size_t n_held, cap_held;

	/* the heartbeat (lease.c) and the listener (listen.c) */
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	int stopping;
	pthread_t heartbeat, listener;
	int heartbeat_started, listener_started;
	int wake_fd[2];                 /* the listener's poll is cut short by a byte */
	PGconn *listen_db;              /* handed to the listener thread at its start */

	/* the urgent writer (urgent.c) */
	pthread_mutex_t u_lock;
	pthread_cond_t u_cond;
	struct pg_urgent *u_head, **u_tail;   /* callers' requests, oldest first */
	int u_stop;
	pthread_t urgent;
	int urgent_started;
};

/* A job id's slot in a table of n (FNV-1a): the version cache and the
 * recent events both hash ids this way. */
static inline size_t pg_id_slot(const char *id, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *id; id++) {
		h ^= (unsigned char)*id;
		h *= 0x100000001b3ull;
	}
	return (size_t)(h % n);
}

static inline struct pg_store *pg_of(struct store *st)
{
	return (struct pg_store *)st;
}

/* ---- connections and statements (conn.c) ------------------------------- */

/* The calling thread's connection (opened, or re-opened after it broke). */
int pg_get(struct store *st, struct pgc **out, struct ada_err *err);
/* A fresh connection that is not the thread's (the listener's, open's). */
int pg_connect(struct pg_store *st, PGconn **out, struct ada_err *err);
/* Close and free a thread's connection (struct conns' close). */
void pg_close_link(struct conn_link *l);
void pg_thread_done(struct store *st);

/* Arguments of a statement, as text (NULL = SQL NULL). */
struct pgargs {
	const char *v[PG_MAX_ARGS];
	char buf[PG_MAX_ARGS][32];
	int n;
};
void arg_str(struct pgargs *a, const char *s);
void arg_int(struct pgargs *a, int64_t v);
/* v, or NULL when v < 0 (budgets: -1 = none). */
void arg_int_or_null(struct pgargs *a, int64_t v);
/* v, or NULL when not finite. */
void arg_real(struct pgargs *a, double v);

/* Run sql (prepared once per connection) with a: ADA_OK with *res (the
 * caller's to PQclear; res may be NULL) for a command or rows, else the
 * error in err (ADA_EIO; PG_RETRY for a deadlock or serialization
 * failure, or a broken connection: pg_tx retries). */
#define PG_RETRY 1000
int pg_exec(struct pgc *c, const char *sql, const struct pgargs *a, PGresult **res,
	    struct ada_err *err);
/* The integer the row sql ("SELECT n ... WHERE id = $1") finds for id has
 * first: ADA_OK, ADA_ENOTFOUND (err untouched) when there is no such row. */
int pg_int_of(struct pgc *c, const char *sql, const char *id, int64_t *v, struct ada_err *err);
/* A page of a list (newest first): the calling thread's connection, and
 * a's first arguments: $1 the seq to start below (that of the row
 * sql_seq, "SELECT seq ... WHERE id = $1", finds for after, or the top
 * when after is NULL; ADA_ENOTFOUND, param "after", when it finds none)
 * and $2 limit + 1 (one more tells has_more). */
int pg_page(struct store *st, const char *sql_seq, const char *after, int limit,
	    struct pgc **c, struct pgargs *a, struct ada_err *err);
/* Run SQL text with no arguments and no result (BEGIN, DDL). */
int pg_exec_text(struct pgc *c, const char *sql, struct ada_err *err);

/* A write: runs inside a transaction on c; may name in notify
 * (STORE_ID_MAX bytes) a job whose watchers here are woken after the
 * commit. It may run more than once (retries): it must release what an
 * earlier run put in its outputs. */
typedef int (*pg_tx_fn)(struct pgc *c, void *ctx, char *notify, struct ada_err *err);
int pg_tx(struct store *st, pg_tx_fn fn, void *ctx, struct ada_err *err);

/* NOTIFY channel (payload may be "") when the transaction commits. */
int pg_notify(struct pgc *c, const char *channel, const char *payload, struct ada_err *err);
#define PG_CHANNEL_EVENTS "adalorad_event_rows"
/* The longest event row NOTIFYed whole (PostgreSQL takes payloads shorter
 * than 8000 bytes). */
#define PG_NOTIFY_ROW_MAX "7900"
#define PG_CHANNEL_QUEUE "adalorad_queue"
#define PG_CHANNEL_CANCEL "adalorad_cancel"

/* Row r of res, for rows.h's readers. */
struct store_row pg_row(const PGresult *res, int r);
/* The rows of res, for rows.h's pages. */
struct store_row pg_rows(const PGresult *res);
/* Columns of row r of res: NULL, "" (as row_copy) or dflt when NULL. */
const char *col_text(const PGresult *res, int r, int i);
void col_cpy(const PGresult *res, int r, int i, char *buf, size_t cap);
int64_t col_int(const PGresult *res, int r, int i, int64_t dflt);

/* ---- the version cache (jobs.c) ------------------------------------------ */

/* job_id changed (committed here, or NOTIFYed by another daemon): drop
 * its version, then wake its watchers. */
void pg_changed(struct pg_store *st, const char *job_id);
/* Drop every version, and keep none while live is 0 (the listener lost its
 * connection: notifications may be missed) until called with live 1. */
void pg_vcache_reset(struct pg_store *st, int live);

/* ---- the newest events heard of (recent.c) --------------------------------- */

#define RECENT_SLOTS 64
#define RECENT_EVENTS 64
#define RECENT_BYTES (64 * 1024)

int pg_recent_init(struct pg_store *st);   /* 0, or -1: out of memory */
void pg_recent_free(struct pg_store *st);
/* Empty the cache; keep nothing while live is 0 (as pg_vcache_reset). */
void pg_recent_reset(struct pg_store *st, int live);
/* A notification of PG_CHANNEL_EVENTS: its row kept (or, when it has
 * none, its job's entry dropped) and its job's id written to job_id.
 * -1 when the payload is not one. */
int pg_recent_heard(struct pg_store *st, const char *payload, char *job_id, size_t cap);
/* 1 with out (owned by the caller) when the cache holds job_id's events
 * from after_seq + 1 on: at least one, at most limit; else 0 (ask the
 * database; out empty). */
int pg_recent_get(struct pg_store *st, const char *job_id, int64_t after_seq, int limit,
		  struct store_events *out);

/* ---- shared by the files (events.c, jobs.c) ----------------------------- */

/* Append an event inside the transaction (numbered, NOTIFYed). epoch > 0:
 * only while the job runs under that lease epoch (STORE_EFENCED else).
 * conn is a struct pgc: these two are the job machine's event and
 * fence_refused statements too (job_machine.h). */
int pg_event_insert(void *conn, const char *job_id, int64_t epoch, const char *level,
		    const char *type, const char *message, const char *data, struct ada_err *err);
/* STORE_EFENCED (or ADA_ENOTFOUND) for a run's write that matched nothing. */
int pg_fence_refused(void *conn, const char *job_id, int64_t epoch, struct ada_err *err);
/* ADA_OK when the job runs under epoch (or epoch is 0), else as above.
 * pg_checkpoint_put records a checkpoint. (The job machine's statements
 * too.) */
int pg_fence_check(void *conn, const char *job_id, int64_t epoch, struct ada_err *err);
int pg_checkpoint_put(void *conn, const char *job_id, int64_t step, int64_t now,
		      const char *metrics, struct ada_err *err);

/* The held list (lease.c; backend.h's lease_held, lease_dropped): a
 * claim adds, an ended run removes (epoch < 0: any of the job's). */
void pg_held_add(struct store *st, const char *id, int64_t epoch);
void pg_held_remove(struct store *st, const char *id, int64_t epoch);
/* Requeue (or cancel, or fail at max_crashes) the running jobs whose lease
 * expired; out counts them. */
int pg_sweep_expired(struct store *st, int max_crashes, struct store_recovery *out,
		     struct ada_err *err);
int pg_heartbeat_start(struct pg_store *st, struct ada_err *err);
int pg_listener_start(struct pg_store *st, struct ada_err *err);
/* Stop the three (the free): the urgent writer, the heartbeat, the listener. */
void pg_threads_stop(struct pg_store *st);
/* The urgent writer (urgent.c): start it; run fn(ctx) in a transaction on
 * its thread and wait for the result (on the caller's thread, through
 * pg_tx, when the writer is not running); stop it once its queue is empty. */
int pg_urgent_start(struct pg_store *st, struct ada_err *err);
int pg_urgent_tx(struct pg_store *st, pg_tx_fn fn, void *ctx, struct ada_err *err);
void pg_urgent_stop(struct pg_store *st);
/* One renewal now (open: the daemon's row exists before any claim). */
int pg_heartbeat_once(struct pg_store *st, struct ada_err *err);

/* ---- the backend's functions (backend.h), by file ----------------------- */

int pg_file_add(struct store *st, struct store_file *f, struct ada_err *err);
int pg_file_get(struct store *st, const char *id, struct store_file *f, struct ada_err *err);
int pg_file_list(struct store *st, const char *after, int limit, struct store_files *out,
		 struct ada_err *err);
int pg_file_delete(struct store *st, const char *id, struct store_file *deleted,
		   struct ada_err *err);
int pg_file_labels(struct store *st, const char *id, char **labels, struct ada_err *err);
int pg_job_write(struct store *st, job_machine_fn fn, const void *args, int urgent,
		 struct ada_err *err);
int pg_job_machine(struct store *st, struct job_machine *m, struct ada_err *err);
int pg_job_get(struct store *st, const char *id, struct store_job *out, struct ada_err *err);
int pg_job_version(struct store *st, const char *id, int64_t *version, struct ada_err *err);
int pg_job_list(struct store *st, const struct store_job_query *q, struct store_jobs *out,
		struct ada_err *err);
int pg_job_next_validating(struct store *st, struct store_job *out, struct ada_err *err);
int pg_recover(struct store *st, int max_crashes, struct store_recovery *out,
	       struct ada_err *err);
int pg_job_reconcile(struct store *st, const char *id, struct store_recovery *out,
		     struct ada_err *err);
int pg_job_running_ids(struct store *st, char (**ids)[STORE_ID_MAX], size_t *n,
		       struct ada_err *err);
int pg_job_counts(struct store *st, int64_t counts[JOB_N_STATUS], struct ada_err *err);
int pg_job_totals(struct store *st, int64_t *steps, int64_t *tokens, struct ada_err *err);
int pg_event_list(struct store *st, const char *job_id, int64_t after_seq, int limit,
		  struct store_events *out, struct ada_err *err);
int pg_event_follow(struct store *st, const char *job_id, int64_t after_seq, int limit,
		    struct store_events *out, struct ada_err *err);
int pg_event_ranks(struct store *st, const char *job_id, int history,
		   struct store_events *out, struct ada_err *err);
int pg_event_last(struct store *st, const char *job_id, const char *message,
		  struct store_events *out, struct ada_err *err);
int pg_checkpoint_list(struct store *st, const char *job_id, int64_t after_step, int limit,
		       struct store_checkpoints *out, struct ada_err *err);
int pg_daemon_list(struct store *st, struct store_daemons *out, struct ada_err *err);

#endif
