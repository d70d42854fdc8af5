/* conn — per-thread libpq connections, prepared statements, transactions; see pg.h. */
#include "pg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

/* Tries of one transaction: a deadlock, a serialization failure, a key
 * two writers inserted at once, or a connection that broke before the
 * commit went out. */
#define TX_TRIES 5

/* The server's message, on one line. */
static void error_line(const char *msg, char *buf, size_t cap)
{
	size_t n = 0;

	for (; msg && *msg && n + 1 < cap; msg++)
		buf[n++] = *msg == '\n' ? ' ' : *msg;
	while (n && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
}

/* The server's notices ("relation already exists, skipping") are not
 * the daemon's to print: its stderr is its log. */
static void no_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int pg_connect(struct pg_store *st, PGconn **out, struct ada_err *err)
{
	PGconn *db = PQconnectdb(st->uri);
	char line[400];

	*out = NULL;
	if (!db)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (PQstatus(db) != CONNECTION_OK) {
		error_line(PQerrorMessage(db), line, sizeof(line));
		PQfinish(db);
		return ada_fail(err, ADA_EIO, "store: cannot connect to PostgreSQL: %s", line);
	}
	PQsetNoticeProcessor(db, no_notices, NULL);
	*out = db;
	return ADA_OK;
}

void pg_close_link(struct conn_link *l)
{
	struct pgc *c = (struct pgc *)l;

	PQfinish(c->db);
	free(c);
}

void pg_thread_done(struct store *base)
{
	conns_thread_done(&pg_of(base)->conns);
}

/* A connection that broke is opened again; its prepared statements are gone. */
static int revive(struct pgc *c, struct ada_err *err)
{
	char line[400];

	if (PQstatus(c->db) == CONNECTION_OK)
		return ADA_OK;
	PQreset(c->db);
	memset(c->cache, 0, sizeof(c->cache));
	c->n_prepared = 0;
	c->in_tx = 0;
	if (PQstatus(c->db) == CONNECTION_OK)
		return ADA_OK;
	error_line(PQerrorMessage(c->db), line, sizeof(line));
	return ada_fail(err, ADA_EIO, "store: PostgreSQL connection lost: %s", line);
}

int pg_get(struct store *base, struct pgc **out, struct ada_err *err)
{
	struct pg_store *st = pg_of(base);
	struct pgc *c = (struct pgc *)conns_mine(&st->conns);
	int rc;

	if (c) {
		*out = c;
		return revive(c, err);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	c->st = st;
	if ((rc = pg_connect(st, &c->db, err))) {
		free(c);
		return rc;
	}
	if ((rc = conns_add(&st->conns, &c->link, err)))
		return rc;
	*out = c;
	return ADA_OK;
}

void arg_str(struct pgargs *a, const char *s)
{
	a->v[a->n++] = s;
}

void arg_int(struct pgargs *a, int64_t v)
{
	snprintf(a->buf[a->n], sizeof(a->buf[a->n]), "%lld", (long long)v);
	a->v[a->n] = a->buf[a->n];
	a->n++;
}

void arg_int_or_null(struct pgargs *a, int64_t v)
{
	if (v < 0)
		a->v[a->n++] = NULL;
	else
		arg_int(a, v);
}

void arg_real(struct pgargs *a, double v)
{
	if (!isfinite(v)) {
		a->v[a->n++] = NULL;
		return;
	}
	/* 17 significant digits: the double comes back as it went. */
	snprintf(a->buf[a->n], sizeof(a->buf[a->n]), "%.17g", v);
	a->v[a->n] = a->buf[a->n];
	a->n++;
}

/* The code for a failed result: PG_RETRY for what a new try can fix. */
static int fail_result(struct pgc *c, PGresult *r, const char *what, struct ada_err *err)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char line[600];
	int retry = PQstatus(c->db) != CONNECTION_OK ||
		    (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
			       !strcmp(state, "23505")));

	error_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c->db), line, sizeof(line));
	if (!line[0])
		error_line(PQerrorMessage(c->db), line, sizeof(line));
	ada_fail(err, ADA_EIO, "store: %s: %s", what, line);
	/* Outside a transaction (reads) there is nothing to retry: the next
	 * call revives the connection. */
	return retry && c->in_tx ? PG_RETRY : ADA_EIO;
}

static int prepared_name(struct pgc *c, const char *sql, const char **name,
			 struct ada_err *err)
{
	size_t i = conns_stmt_slot(sql, PGC_STMT_SLOTS);

	for (int probe = 0; probe < PGC_STMT_SLOTS; probe++, i = (i + 1) % PGC_STMT_SLOTS) {
		if (c->cache[i].sql == sql) {
			*name = c->cache[i].name;
			return ADA_OK;
		}
		if (!c->cache[i].sql) {
			PGresult *r;
			int rc = ADA_OK;
			snprintf(c->cache[i].name, sizeof(c->cache[i].name), "s%d", c->n_prepared);
			r = PQprepare(c->db, c->cache[i].name, sql, 0, NULL);
			if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
				rc = fail_result(c, r, "prepare", err);
			PQclear(r);
			if (rc)
				return rc;
			c->n_prepared++;
			c->cache[i].sql = sql;
			*name = c->cache[i].name;
			return ADA_OK;
		}
	}
	/* More distinct statements than slots is a programming error. */
	return ada_fail(err, ADA_ENOMEM, "store: statement cache full");
}

int pg_exec(struct pgc *c, const char *sql, const struct pgargs *a, PGresult **res,
	    struct ada_err *err)
{
	const char *name = NULL;
	PGresult *r;
	int rc;

	if (res)
		*res = NULL;
	if ((rc = prepared_name(c, sql, &name, err)))
		return rc;
	r = PQexecPrepared(c->db, name, a ? a->n : 0, a ? a->v : NULL, NULL, NULL, 0);
	if (!r || (PQresultStatus(r) != PGRES_COMMAND_OK &&
		   PQresultStatus(r) != PGRES_TUPLES_OK)) {
		rc = fail_result(c, r, "query", err);
		PQclear(r);
		return rc;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return ADA_OK;
}

int pg_exec_text(struct pgc *c, const char *sql, struct ada_err *err)
{
	PGresult *r = PQexec(c->db, sql);
	int rc = ADA_OK;

	if (!r || (PQresultStatus(r) != PGRES_COMMAND_OK &&
		   PQresultStatus(r) != PGRES_TUPLES_OK))
		rc = fail_result(c, r, sql, err);
	PQclear(r);
	return rc;
}

static const char sql_notify[] = "SELECT pg_notify($1, $2)";

int pg_notify(struct pgc *c, const char *channel, const char *payload, struct ada_err *err)
{
	struct pgargs a = { 0 };

	arg_str(&a, channel);
	arg_str(&a, payload);
	return pg_exec(c, sql_notify, &a, NULL, err);
}

static void backoff(int attempt)
{
	long ms = 5L << attempt;   /* 5, 10, 20, 40 ms */

	nanosleep(&(struct timespec){ 0, ms * 1000000L }, NULL);
}

int pg_tx(struct store *st, pg_tx_fn fn, void *ctx, struct ada_err *err)
{
	char notify[STORE_ID_MAX];
	struct pgc *c;
	int rc = ADA_OK;

	for (int attempt = 0; attempt < TX_TRIES; attempt++) {
		if (attempt)
			backoff(attempt - 1);
		if ((rc = pg_get(st, &c, err)))
			continue;   /* the server may be back at the next try */
		notify[0] = '\0';
		c->in_tx = 1;
		if ((rc = pg_exec_text(c, "BEGIN", err))) {
			c->in_tx = 0;
			continue;
		}
		rc = fn(c, ctx, notify, err);
		if (rc) {
			c->in_tx = 0;
			if (PQstatus(c->db) == CONNECTION_OK)
				pg_exec_text(c, "ROLLBACK", NULL);
			if (rc == PG_RETRY)
				continue;
			return rc;
		}
		rc = pg_exec_text(c, "COMMIT", err);
		c->in_tx = 0;
		if (rc == PG_RETRY && PQstatus(c->db) != CONNECTION_OK)
			/* The commit went out and the answer did not come back. */
			return ada_fail(err, ADA_EIO,
					"store: PostgreSQL connection lost during a commit: the write may or may not have been made");
		if (rc == PG_RETRY)
			continue;
		if (rc)
			return rc;
		if (notify[0])
			pg_changed(pg_of(st), notify);
		return ADA_OK;
	}
	return rc == PG_RETRY ? ADA_EIO : rc;
}

static int pgrow_next(struct store_row *r, int *got, struct ada_err *err)
{
	(void)err;   /* every row came with the result */
	*got = ++r->i < PQntuples(r->res);
	return ADA_OK;
}

static int pgrow_is_null(const struct store_row *r, int col)
{
	return PQgetisnull(r->res, r->i, col);
}

static int64_t pgrow_int64(const struct store_row *r, int col)
{
	return strtoll(PQgetvalue(r->res, r->i, col), NULL, 10);
}

static double pgrow_real(const struct store_row *r, int col)
{
	return strtod(PQgetvalue(r->res, r->i, col), NULL);
}

static const char *pgrow_text(const struct store_row *r, int col, size_t *len)
{
	if (PQgetisnull(r->res, r->i, col)) {
		*len = 0;
		return NULL;
	}
	*len = (size_t)PQgetlength(r->res, r->i, col);
	return PQgetvalue(r->res, r->i, col);
}

static const struct store_row_ops pg_row_ops = {
	.next = pgrow_next, .is_null = pgrow_is_null, .int64 = pgrow_int64, .real = pgrow_real,
	.text = pgrow_text,
};

/* The cast: libpq only reads a PGresult, but store_row's slot is not
 * const (SQLite's statement is stepped through it). */
struct store_row pg_row(const PGresult *res, int r)
{
	return (struct store_row){ .ops = &pg_row_ops, .res = (PGresult *)res, .i = r };
}

struct store_row pg_rows(const PGresult *res)
{
	return pg_row(res, -1);
}

int pg_int_of(struct pgc *c, const char *sql, const char *id, int64_t *v, struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	arg_str(&a, id);
	if ((rc = pg_exec(c, sql, &a, &r, err)))
		return rc;
	if (PQntuples(r))
		*v = col_int(r, 0, 0, 0);
	else
		rc = ADA_ENOTFOUND;
	PQclear(r);
	return rc;
}

int pg_page(struct store *st, const char *sql_seq, const char *after, int limit,
	    struct pgc **c, struct pgargs *a, struct ada_err *err)
{
	int64_t from = INT64_MAX;
	int rc;

	if ((rc = pg_get(st, c, err)))
		return rc;
	if (after && (rc = pg_int_of(*c, sql_seq, after, &from, err)))
		return rc == ADA_ENOTFOUND ? store_no_such_after(err, after) : rc;
	arg_int(a, from);
	arg_int(a, (int64_t)limit + 1);   /* one more tells has_more */
	return ADA_OK;
}

const char *col_text(const PGresult *res, int r, int i)
{
	return PQgetisnull(res, r, i) ? NULL : PQgetvalue(res, r, i);
}

void col_cpy(const PGresult *res, int r, int i, char *buf, size_t cap)
{
	struct store_row row = pg_row(res, r);

	row_copy(&row, i, buf, cap);
}

int64_t col_int(const PGresult *res, int r, int i, int64_t dflt)
{
	struct store_row row = pg_row(res, r);

	return row_int(&row, i, dflt);
}
