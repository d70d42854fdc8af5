/* files — rows of uploaded training files; see store.h. */
#include "conn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

static const char sql_insert[] =
	"INSERT INTO files (id, filename, purpose, bytes, created_at, line_count, record_count, "
	"format, shape, storage, labels, tool_use) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char sql_get[] = "SELECT " ROWS_FILE_COLS " FROM files WHERE id = ?1";
static const char sql_labels[] = "SELECT labels FROM files WHERE id = ?1";
static const char sql_seq[] = "SELECT seq FROM files WHERE id = ?1";
static const char sql_list[] =
	"SELECT " ROWS_FILE_COLS " FROM files WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2";
static const char sql_in_use[] =
	"SELECT 1 FROM jobs WHERE (training_file = ?1 OR validation_file = ?1) "
	"AND status IN ('validating_files', 'queued', 'running') LIMIT 1";
static const char sql_delete[] = "DELETE FROM files WHERE id = ?1";

static int op_file_add(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct store_file *f = ctx;
	sqlite3_stmt *s;
	int rc;

	(void)notify;
	if ((rc = conn_stmt(c, sql_insert, &s, err)))
		return rc;
	bind_text(s, 1, f->id);
	bind_text(s, 2, f->filename);
	bind_text(s, 3, f->purpose);
	sqlite3_bind_int64(s, 4, f->bytes);
	sqlite3_bind_int64(s, 5, f->created_at);
	sqlite3_bind_int64(s, 6, f->line_count);
	sqlite3_bind_int64(s, 7, f->record_count);
	bind_text(s, 8, f->format);
	bind_text(s, 9, f->shape);
	bind_text(s, 10, f->storage);
	bind_text(s, 11, f->labels);
	bind_text(s, 12, f->tool_use[0] ? f->tool_use : NULL);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return conn_fail(c, "insert file", err);
	f->seq = sqlite3_last_insert_rowid(c->db);
	return ADA_OK;
}

int sq_file_add(struct store *st, struct store_file *f, struct ada_err *err)
{
	f->created_at = (int64_t)time(NULL);
	return sq_write(st, op_file_add, f, err);
}

int sq_file_get(struct store *st, const char *id, struct store_file *f, struct ada_err *err)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) || (rc = conn_stmt(c, sql_get, &s, err)))
		return rc;
	bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		struct store_row r = sq_row(s);
		row_file(&r, f);
		sqlite3_reset(s);
		return ADA_OK;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return store_no_such_file(err, id);
	return conn_fail(c, "get file", err);
}

int sq_file_labels(struct store *st, const char *id, char **labels, struct ada_err *err)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_get(st, &c, err)) || (rc = conn_stmt(c, sql_labels, &s, err)))
		return rc;
	bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		struct store_row r = sq_row(s);
		rc = row_dup(&r, 0, labels, err);
		sqlite3_reset(s);
		return rc;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return store_no_such_file(err, id);
	return conn_fail(c, "get file labels", err);
}

int sq_file_list(struct store *st, const char *after, int limit, struct store_files *out,
		 struct ada_err *err)
{
	struct store_row r;
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_page(st, sql_seq, after, sql_list, limit, &c, &s, err)))
		return rc;
	r = sq_rows(c, s, "list files");
	rc = rows_files(&r, (size_t)limit, out, err);
	sqlite3_reset(s);
	return rc;
}

struct file_delete {
	const char *id;
	struct store_file *deleted;
};

static int op_file_delete(struct conn *c, void *ctx, char *notify, struct ada_err *err)
{
	struct file_delete *fd = ctx;
	sqlite3_stmt *s;
	int rc;

	(void)notify;
	if ((rc = sq_file_get(&c->st->base, fd->id, fd->deleted, err)) ||
	    (rc = conn_stmt(c, sql_in_use, &s, err)))
		return rc;
	bind_text(s, 1, fd->id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return store_file_in_use(err, fd->id);
	if (rc != SQLITE_DONE)
		return conn_fail(c, "delete file", err);
	if ((rc = conn_stmt(c, sql_delete, &s, err)))
		return rc;
	bind_text(s, 1, fd->id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? ADA_OK : conn_fail(c, "delete file", err);
}

int sq_file_delete(struct store *st, const char *id, struct store_file *deleted,
		      struct ada_err *err)
{
	struct file_delete fd = { id, deleted };

	return sq_write(st, op_file_delete, &fd, err);
}
