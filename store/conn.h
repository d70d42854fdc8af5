/*
 * conn — the store's per-thread SQLite connections, statement cache and
 * transactions (internal to store/).
 *
 * A thread's first store call opens its connection; a pthread key closes
 * it when the thread exits, and store_free() closes what is left. Each
 * connection caches its prepared statements keyed by the address of the
 * SQL text (every query is a static string in the file that owns it), so
 * a hot query is prepared once per thread and then only reset and bound.
 */
#ifndef ADALORAD_STORE_CONN_H
#define ADALORAD_STORE_CONN_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

#define CONN_STMT_SLOTS 64

struct write_op;

struct conn {
	sqlite3 *db;
	struct store *st;
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[CONN_STMT_SLOTS];
	int in_tx;
	struct conn *prev, *next;    /* the store's list of open connections */
};

struct store {
	char *path;
	enum store_sync sync;
	int busy_timeout_ms;
	pthread_key_t key;           /* the calling thread's struct conn */
	pthread_mutex_t lock;        /* guards conns and watches */
	struct conn *conns;
	struct store_watch *watches;
	int lock_fd;                 /* flock'ed "<db>.lock": one daemon per database */
	int test_fail_outcomes;      /* the test hook of store.h; writer thread only */

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

/* The calling thread's connection (opened on first use). */
int conn_get(struct store *st, struct conn **out, struct ada_err *err);
/* Close every connection still open (store_free(), all threads gone). */
void conn_close_all(struct store *st);
/* pthread key destructor: unlink and close a connection. */
void conn_thread_exit(void *conn);

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
int store_write(struct store *st, write_fn fn, void *ctx, struct ada_err *err);
/* The same, ahead of the queue: a running job's events. */
int store_write_urgent(struct store *st, write_fn fn, void *ctx, struct ada_err *err);
/* The writer thread (store_open starts it once migrated; store_free stops
 * it after the queue drains). */
int writer_start(struct store *st, struct ada_err *err);
void writer_stop(struct store *st);

/* Run SQL with no results (pragmas, DDL). */
int conn_exec(struct conn *c, const char *sql, struct ada_err *err);

/* Fill err from the connection's last error (ADA_EIO, or ADA_ENOMEM). */
int conn_fail(struct conn *c, const char *what, struct ada_err *err);

/* The seq of the row sql ("SELECT seq ... WHERE id = ?1") finds for id,
 * for paging with ?after=; ADA_ENOTFOUND (param "after") when absent. */
int conn_seq_of(struct conn *c, const char *sql, const char *id, int64_t *seq,
		struct ada_err *err);

/* Append an event inside the caller's transaction (events.c). */
int event_insert(struct conn *c, const char *job_id, const char *level, const char *type,
		 const char *message, const char *data, struct ada_err *err);

/* Wake the watchers of job_id (after a commit). */
void store_notify(struct store *st, const char *job_id);

/* Bind helpers: NULL strings bind SQL NULL. */
int bind_text(sqlite3_stmt *s, int i, const char *v);
/* Column helpers: a NULL column gives "" (copy), NULL (dup) or dflt. */
void col_copy(sqlite3_stmt *s, int i, char *buf, size_t cap);
int col_dup(sqlite3_stmt *s, int i, char **out, struct ada_err *err);
int64_t col_int_or(sqlite3_stmt *s, int i, int64_t dflt);

#endif
