/* conn — per-thread SQLite connections, cached statements, transactions; see conn.h. */
#include "conn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int conn_fail(struct conn *c, const char *what, struct ada_err *err)
{
	int ec = c && c->db ? sqlite3_errcode(c->db) : SQLITE_ERROR;

	return ada_fail(err, ec == SQLITE_NOMEM ? ADA_ENOMEM : ADA_EIO, "store: %s: %s", what,
			c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(ec));
}

int conn_exec(struct conn *c, const char *sql, struct ada_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ada_fail(err, ADA_EIO, "store: %s", msg ? msg : sqlite3_errmsg(c->db));
		sqlite3_free(msg);
		return ADA_EIO;
	}
	return ADA_OK;
}

static void conn_close(struct conn *c)
{
	for (int i = 0; i < CONN_STMT_SLOTS; i++)
		sqlite3_finalize(c->cache[i].stmt);
	sqlite3_close(c->db);
	free(c);
}

void conn_close_link(struct conn_link *l)
{
	conn_close((struct conn *)l);
}

static int conn_open(struct sq_store *st, struct conn **out, struct ada_err *err)
{
	static const char *const sync_pragma[] = {
		[STORE_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
		[STORE_SYNC_FULL] = "PRAGMA synchronous=FULL",
	};
	struct conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	c->st = st;
	/* NOMUTEX: this connection never leaves its thread. */
	rc = sqlite3_open_v2(st->path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		ada_fail(err, ADA_EIO, "store: cannot open %s: %s", st->path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		conn_close(c);
		return ADA_EIO;
	}
	sqlite3_extended_result_codes(c->db, 0);
	sqlite3_busy_timeout(c->db, st->busy_timeout_ms);
	if ((rc = conn_exec(c, sync_pragma[st->sync], err)) ||
	    (rc = conn_exec(c, "PRAGMA foreign_keys=ON", err))) {
		ada_err_prefix(err, rc, "%s", st->path);
		conn_close(c);
		return rc;
	}
	*out = c;
	return ADA_OK;
}

int conn_get(struct store *base, struct conn **out, struct ada_err *err)
{
	struct sq_store *st = sq_of(base);
	struct conn *c = (struct conn *)conns_mine(&st->conns);
	int rc;

	if (!c && ((rc = conn_open(st, &c, err)) || (rc = conns_add(&st->conns, &c->link, err))))
		return rc;
	*out = c;
	return ADA_OK;
}

void sq_thread_done(struct store *base)
{
	conns_thread_done(&sq_of(base)->conns);
}

int conn_stmt(struct conn *c, const char *sql, sqlite3_stmt **out, struct ada_err *err)
{
	size_t i = conns_stmt_slot(sql, CONN_STMT_SLOTS);

	for (int probe = 0; probe < CONN_STMT_SLOTS; probe++, i = (i + 1) % CONN_STMT_SLOTS) {
		if (c->cache[i].sql == sql) {
			sqlite3_reset(c->cache[i].stmt);
			sqlite3_clear_bindings(c->cache[i].stmt);
			*out = c->cache[i].stmt;
			return ADA_OK;
		}
		if (!c->cache[i].sql) {
			if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
					       &c->cache[i].stmt, NULL) != SQLITE_OK)
				return conn_fail(c, "prepare", err);
			c->cache[i].sql = sql;
			*out = c->cache[i].stmt;
			return ADA_OK;
		}
	}
	/* More distinct statements than slots is a programming error. */
	return ada_fail(err, ADA_ENOMEM, "store: statement cache full");
}

int conn_begin(struct conn *c, struct ada_err *err)
{
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return conn_fail(c, "begin", err);
	c->in_tx = 1;
	return ADA_OK;
}

int conn_commit(struct conn *c, struct ada_err *err)
{
	int rc = ADA_OK;

	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = conn_fail(c, "commit", err);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	}
	c->in_tx = 0;
	return rc;
}

void conn_rollback(struct conn *c)
{
	if (!c->in_tx)
		return;
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	c->in_tx = 0;
}

int bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static int sqrow_next(struct store_row *r, int *got, struct ada_err *err)
{
	int rc = sqlite3_step(r->res);

	*got = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return ADA_OK;
	return conn_fail(r->conn, r->what, err);
}

static int sqrow_is_null(const struct store_row *r, int col)
{
	return sqlite3_column_type(r->res, col) == SQLITE_NULL;
}

static int64_t sqrow_int64(const struct store_row *r, int col)
{
	return sqlite3_column_int64(r->res, col);
}

static double sqrow_real(const struct store_row *r, int col)
{
	return sqlite3_column_double(r->res, col);
}

static const char *sqrow_text(const struct store_row *r, int col, size_t *len)
{
	/* text first, then its length: the order SQLite documents */
	const char *t = (const char *)sqlite3_column_text(r->res, col);

	*len = t ? (size_t)sqlite3_column_bytes(r->res, col) : 0;
	return t;
}

static const struct store_row_ops sq_row_ops = {
	.next = sqrow_next, .is_null = sqrow_is_null, .int64 = sqrow_int64, .real = sqrow_real,
	.text = sqrow_text,
};

struct store_row sq_row(sqlite3_stmt *s)
{
	return (struct store_row){ .ops = &sq_row_ops, .res = s };
}

struct store_row sq_rows(struct conn *c, sqlite3_stmt *s, const char *what)
{
	return (struct store_row){ .ops = &sq_row_ops, .res = s, .conn = c, .what = what };
}

void col_copy(sqlite3_stmt *s, int i, char *buf, size_t cap)
{
	struct store_row r = sq_row(s);

	row_copy(&r, i, buf, cap);
}

int conn_int_of(struct conn *c, const char *sql, const char *id, int64_t *v, const char *what,
		struct ada_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql, &s, err)))
		return rc;
	bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return ADA_OK;
	return rc == SQLITE_DONE ? ADA_ENOTFOUND : conn_fail(c, what, err);
}

int conn_page(struct store *st, const char *sql_seq, const char *after, const char *sql,
	      int limit, struct conn **c, sqlite3_stmt **s, struct ada_err *err)
{
	int64_t from = INT64_MAX;
	int rc;

	if ((rc = conn_get(st, c, err)))
		return rc;
	if (after && (rc = conn_int_of(*c, sql_seq, after, &from, "page", err)))
		return rc == ADA_ENOTFOUND ? store_no_such_after(err, after) : rc;
	if ((rc = conn_stmt(*c, sql, s, err)))
		return rc;
	sqlite3_bind_int64(*s, 1, from);
	sqlite3_bind_int(*s, 2, limit + 1);   /* one more tells has_more */
	return ADA_OK;
}
