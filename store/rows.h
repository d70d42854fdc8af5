/*
 * rows — what a row of the store's tables means, whichever backend read it
 * (internal to store/).
 *
 * Both backends select the same columns, in the same order, for a job, a
 * file, an event and a checkpoint (the lists below), and hand what they
 * read to the readers here as a struct store_row: one row of a result
 * with typed getters, filled in by each backend from its driver (a
 * stepped sqlite3_stmt; a PGresult and a row index). So each column's
 * meaning — its default when NULL, a status name becoming an enum, JSON
 * text copied as it is — and the paging of a list (up to limit rows, one
 * more says has_more) are written once, here, and a backend keeps only its
 * SQL and its driver's calls.
 */
#ifndef ADALORAD_STORE_ROWS_H
#define ADALORAD_STORE_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The columns the readers expect, in their order. A job's lease_owner is
 * PostgreSQL's (several daemons); SQLite, one daemon per database, has no
 * such column and selects NULL in its place. */
#define ROWS_JOB_COLS(lease_owner)                                                             \
	"seq, id, model, training_file, validation_file, seed, suffix, method, "              \
	"hyperparameters, status, created_at, started_at, finished_at, error, "               \
	"fine_tuned_model, cancel_requested, total_steps, steps_per_epoch, n_epochs, "        \
	"budget_initial, budget_target, step, epoch, tokens_per_second, trained_tokens, "     \
	"estimated_finish, budget_current, metrics, last_event, task, classification, "       \
	"attempts, crashes, lease_epoch, " lease_owner ", output_dir"
#define ROWS_FILE_COLS "seq, id, filename, purpose, bytes, created_at, line_count, record_count, " \
		       "format, shape, storage, tool_use"
#define ROWS_EVENT_COLS "seq, created_at, level, type, message, data"
#define ROWS_CHECKPOINT_COLS "step, created_at, metrics"

struct store_row;

/* A driver's getters (store/sqlite/conn.c, store/postgresql/conn.c). */
struct store_row_ops {
	/* Move to the next row: ADA_OK with *got 1, or 0 past the last; or
	 * the driver's failure (in err). */
	int (*next)(struct store_row *r, int *got, struct ada_err *err);
	int (*is_null)(const struct store_row *r, int col);
	int64_t (*int64)(const struct store_row *r, int col);
	double (*real)(const struct store_row *r, int col);
	/* NULL for SQL NULL (and, with SQLite, when out of memory); *len its bytes */
	const char *(*text)(const struct store_row *r, int col, size_t *len);
};

/* The current row of a result (borrowed from the driver for the call). */
struct store_row {
	const struct store_row_ops *ops;
	void *res;              /* sqlite3_stmt *, or PGresult * */
	int i;                  /* PostgreSQL: the row's index */
	void *conn;             /* SQLite: the statement's struct conn, for next()'s failure */
	const char *what;       /* what next()'s failure says was being done */
};

/* Columns of the current row: a NULL one gives dflt, "" (copy, truncated
 * to cap - 1 bytes), or NULL (dup: a malloc'ed copy, the caller's). */
int64_t row_int(const struct store_row *r, int col, int64_t dflt);
double row_real(const struct store_row *r, int col, double dflt);
void row_copy(const struct store_row *r, int col, char *buf, size_t cap);
int row_dup(const struct store_row *r, int col, char **out, struct ada_err *err);

/* The current row, as selected by the column lists above. row_job and
 * row_event fill every owned string or release what they took. */
int row_job(const struct store_row *r, struct store_job *j, struct ada_err *err);
void row_file(const struct store_row *r, struct store_file *f);
int row_event(const struct store_row *r, struct store_event *e, struct ada_err *err);
int row_checkpoint(const struct store_row *r, struct store_checkpoint *k,
		   struct ada_err *err);

/* The rows still to come in r (positioned before them) as a page of a list
 * (*out is empty, as store.c hands it): up to limit of them; one more sets
 * has_more. On failure the list is left empty. */
int rows_jobs(struct store_row *r, size_t limit, struct store_jobs *out, struct ada_err *err);
int rows_files(struct store_row *r, size_t limit, struct store_files *out, struct ada_err *err);
int rows_events(struct store_row *r, size_t limit, struct store_events *out,
		struct ada_err *err);
int rows_checkpoints(struct store_row *r, size_t limit, struct store_checkpoints *out,
		     struct ada_err *err);

#endif
