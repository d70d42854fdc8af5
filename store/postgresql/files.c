/* files — rows of uploaded training files, in PostgreSQL; see store.h. */
#include "pg.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

static const char sql_insert[] =
	"INSERT INTO files (id, filename, purpose, bytes, created_at, line_count, record_count, "
	"format, shape, storage, labels, tool_use) "
	"VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::bigint, $7::bigint, $8, $9, $10, $11, $12) "
	"RETURNING seq";
static const char sql_get[] = "SELECT " ROWS_FILE_COLS " FROM files WHERE id = $1";
static const char sql_labels[] = "SELECT labels FROM files WHERE id = $1";
static const char sql_seq[] = "SELECT seq FROM files WHERE id = $1";
static const char sql_list[] =
	"SELECT " ROWS_FILE_COLS " FROM files WHERE seq < $1::bigint ORDER BY seq DESC LIMIT $2::bigint";
/* Two deletes of one file on two daemons take turns. (A job created on
 * another daemon at the same moment may still name the file: its
 * validation then fails saying the file is gone; jobs.c.) */
static const char sql_lock[] = "SELECT 1 FROM files WHERE id = $1 FOR UPDATE";
static const char sql_in_use[] =
	"SELECT 1 FROM jobs WHERE (training_file = $1 OR validation_file = $1) "
	"AND status IN ('validating_files', 'queued', 'running') LIMIT 1";
static const char sql_delete[] = "DELETE FROM files WHERE id = $1";

static int op_file_add(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct store_file *f = ctx;
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	(void)notify;
	arg_str(&a, f->id);
	arg_str(&a, f->filename);
	arg_str(&a, f->purpose);
	arg_int(&a, f->bytes);
	arg_int(&a, f->created_at);
	arg_int(&a, f->line_count);
	arg_int(&a, f->record_count);
	arg_str(&a, f->format);
	arg_str(&a, f->shape);
	arg_str(&a, f->storage);
	arg_str(&a, f->labels);
	arg_str(&a, f->tool_use[0] ? f->tool_use : NULL);
	if ((rc = pg_exec(c, sql_insert, &a, &r, err)))
		return rc;
	f->seq = col_int(r, 0, 0, 0);
	PQclear(r);
	return ADA_OK;
}

int pg_file_add(struct store *st, struct store_file *f, struct ada_err *err)
{
	f->created_at = (int64_t)time(NULL);
	return pg_tx(st, op_file_add, f, err);
}

static int get_file(struct pgc *c, const char *id, struct store_file *f, struct ada_err *err)
{
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	arg_str(&a, id);
	if ((rc = pg_exec(c, sql_get, &a, &r, err)))
		return rc;
	if (PQntuples(r)) {
		struct store_row row = pg_row(r, 0);
		row_file(&row, f);
	} else {
		rc = store_no_such_file(err, id);
	}
	PQclear(r);
	return rc;
}

int pg_file_get(struct store *st, const char *id, struct store_file *f, struct ada_err *err)
{
	struct pgc *c;
	int rc;

	if ((rc = pg_get(st, &c, err)))
		return rc;
	return get_file(c, id, f, err);
}

int pg_file_labels(struct store *st, const char *id, char **labels, struct ada_err *err)
{
	struct pgargs a = { 0 };
	struct pgc *c;
	PGresult *r;
	int rc;

	arg_str(&a, id);
	if ((rc = pg_get(st, &c, err)) || (rc = pg_exec(c, sql_labels, &a, &r, err)))
		return rc;
	if (PQntuples(r)) {
		struct store_row row = pg_row(r, 0);
		rc = row_dup(&row, 0, labels, err);
	} else {
		rc = store_no_such_file(err, id);
	}
	PQclear(r);
	return rc;
}

int pg_file_list(struct store *st, const char *after, int limit, struct store_files *out,
		 struct ada_err *err)
{
	struct pgargs a = { 0 };
	struct store_row rows;
	struct pgc *c;
	PGresult *r;
	int rc;

	if ((rc = pg_page(st, sql_seq, after, limit, &c, &a, err)) ||
	    (rc = pg_exec(c, sql_list, &a, &r, err)))
		return rc;
	rows = pg_rows(r);
	rc = rows_files(&rows, (size_t)limit, out, err);
	PQclear(r);
	return rc;
}

struct file_delete {
	const char *id;
	struct store_file *deleted;
};

static int op_file_delete(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct file_delete *fd = ctx;
	struct pgargs a = { 0 };
	PGresult *r;
	int rc, used;

	(void)notify;
	arg_str(&a, fd->id);
	if ((rc = pg_exec(c, sql_lock, &a, NULL, err)) ||
	    (rc = get_file(c, fd->id, fd->deleted, err)) ||
	    (rc = pg_exec(c, sql_in_use, &a, &r, err)))
		return rc;
	used = PQntuples(r) > 0;
	PQclear(r);
	if (used)
		return store_file_in_use(err, fd->id);
	return pg_exec(c, sql_delete, &a, NULL, err);
}

int pg_file_delete(struct store *st, const char *id, struct store_file *deleted,
		   struct ada_err *err)
{
	struct file_delete fd = { id, deleted };

	return pg_tx(st, op_file_delete, &fd, err);
}
