/* rows — a row of the store's tables as a struct, for both backends; see rows.h. */
#include "rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

int64_t row_int(const struct store_row *r, int col, int64_t dflt)
{
	return r->ops->is_null(r, col) ? dflt : r->ops->int64(r, col);
}

double row_real(const struct store_row *r, int col, double dflt)
{
	return r->ops->is_null(r, col) ? dflt : r->ops->real(r, col);
}

void row_copy(const struct store_row *r, int col, char *buf, size_t cap)
{
	size_t n = 0;
	const char *t = r->ops->text(r, col, &n);

	if (!t)
		n = 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(buf, t, n);
	buf[n] = '\0';
}

int row_dup(const struct store_row *r, int col, char **out, struct ada_err *err)
{
	size_t n = 0;
	const char *t = r->ops->text(r, col, &n);

	*out = NULL;
	if (!t && r->ops->is_null(r, col))
		return ADA_OK;
	if (!t)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	*out = malloc(n + 1);
	if (!*out)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	memcpy(*out, t, n);
	(*out)[n] = '\0';
	return ADA_OK;
}

int row_job(const struct store_row *r, struct store_job *j, struct ada_err *err)
{
	char status[32];
	int rc, st;

	memset(j, 0, sizeof(*j));
	j->seq = row_int(r, 0, 0);
	row_copy(r, 1, j->id, sizeof(j->id));
	row_copy(r, 2, j->model, sizeof(j->model));
	row_copy(r, 3, j->training_file, sizeof(j->training_file));
	row_copy(r, 4, j->validation_file, sizeof(j->validation_file));
	j->seed = (uint64_t)row_int(r, 5, 0);
	row_copy(r, 6, j->suffix, sizeof(j->suffix));
	row_copy(r, 9, status, sizeof(status));
	st = job_status_from_name(status);
	j->status = st < 0 ? JOB_FAILED : (enum job_status)st;
	j->created_at = row_int(r, 10, 0);
	j->started_at = row_int(r, 11, 0);
	j->finished_at = row_int(r, 12, 0);
	row_copy(r, 14, j->fine_tuned_model, sizeof(j->fine_tuned_model));
	j->cancel_requested = (int)row_int(r, 15, 0);
	j->total_steps = row_int(r, 16, 0);
	j->steps_per_epoch = row_int(r, 17, 0);
	j->n_epochs = row_int(r, 18, 0);
	j->budget_initial = row_int(r, 19, -1);
	j->budget_target = row_int(r, 20, -1);
	j->step = row_int(r, 21, 0);
	j->epoch = row_real(r, 22, 0);
	j->tokens_per_second = row_real(r, 23, NAN);
	j->trained_tokens = row_int(r, 24, 0);
	j->estimated_finish = row_int(r, 25, 0);
	j->budget_current = row_int(r, 26, -1);
	j->last_event = row_int(r, 28, 0);
	row_copy(r, 29, j->task, sizeof(j->task));
	j->attempts = row_int(r, 31, 0);
	j->crashes = row_int(r, 32, 0);
	j->lease_epoch = row_int(r, 33, 0);
	row_copy(r, 34, j->lease_owner, sizeof(j->lease_owner));
	row_copy(r, 35, j->output_dir, sizeof(j->output_dir));
	if ((rc = row_dup(r, 7, &j->method, err)) ||
	    (rc = row_dup(r, 8, &j->hyperparameters, err)) ||
	    (rc = row_dup(r, 13, &j->error, err)) ||
	    (rc = row_dup(r, 27, &j->metrics, err)) ||
	    (rc = row_dup(r, 30, &j->classification, err))) {
		store_job_release(j);
		return rc;
	}
	return ADA_OK;
}

void row_file(const struct store_row *r, struct store_file *f)
{
	memset(f, 0, sizeof(*f));
	f->seq = row_int(r, 0, 0);
	row_copy(r, 1, f->id, sizeof(f->id));
	row_copy(r, 2, f->filename, sizeof(f->filename));
	row_copy(r, 3, f->purpose, sizeof(f->purpose));
	f->bytes = row_int(r, 4, 0);
	f->created_at = row_int(r, 5, 0);
	f->line_count = row_int(r, 6, 0);
	f->record_count = row_int(r, 7, 0);
	row_copy(r, 8, f->format, sizeof(f->format));
	row_copy(r, 9, f->shape, sizeof(f->shape));
	row_copy(r, 10, f->storage, sizeof(f->storage));
	row_copy(r, 11, f->tool_use, sizeof(f->tool_use));
}

int row_event(const struct store_row *r, struct store_event *e, struct ada_err *err)
{
	int rc;

	memset(e, 0, sizeof(*e));
	e->seq = row_int(r, 0, 0);
	e->created_at = row_int(r, 1, 0);
	row_copy(r, 2, e->level, sizeof(e->level));
	row_copy(r, 3, e->type, sizeof(e->type));
	if ((rc = row_dup(r, 4, &e->message, err)) || (rc = row_dup(r, 5, &e->data, err))) {
		free(e->message);
		e->message = NULL;
	}
	return rc;
}

int row_checkpoint(const struct store_row *r, struct store_checkpoint *k,
		   struct ada_err *err)
{
	memset(k, 0, sizeof(*k));
	k->step = row_int(r, 0, 0);
	k->created_at = row_int(r, 1, 0);
	return row_dup(r, 2, &k->metrics, err);
}

/* ---- pages ------------------------------------------------------------- */

typedef int (*read_fn)(const struct store_row *r, void *elem, struct ada_err *err);
typedef void (*release_fn)(void *elem);

/* Up to limit rows as *n elements of elem bytes at *v, each zeroed, then
 * filled by read (which, when it fails, leaves nothing of its own
 * behind). On failure the page is released (release, may be NULL, on each
 * element read) and empty. */
static int page(struct store_row *r, size_t limit, size_t elem, read_fn read,
		release_fn release, void **v, size_t *n, int *has_more, struct ada_err *err)
{
	char *a = NULL;
	size_t cap = 0, k = 0;
	int rc, got;

	while (!(rc = r->ops->next(r, &got, err)) && got) {
		char *grown;
		if (k == limit) {
			*has_more = 1;
			break;
		}
		if (!(grown = array_grow(a, &cap, k + 1, elem))) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			break;
		}
		a = grown;
		memset(a + k * elem, 0, elem);
		if ((rc = read(r, a + k * elem, err)))
			break;
		k++;
	}
	if (rc) {
		for (size_t i = 0; release && i < k; i++)
			release(a + i * elem);
		free(a);
		a = NULL;
		k = 0;
		*has_more = 0;
	}
	*v = a;
	*n = k;
	return rc;
}

static int read_job(const struct store_row *r, void *elem, struct ada_err *err)
{
	return row_job(r, elem, err);
}

static void release_job(void *elem)
{
	store_job_release(elem);
}

static int read_file(const struct store_row *r, void *elem, struct ada_err *err)
{
	(void)err;
	row_file(r, elem);
	return ADA_OK;
}

static int read_event(const struct store_row *r, void *elem, struct ada_err *err)
{
	return row_event(r, elem, err);
}

static void release_event(void *elem)
{
	struct store_event *e = elem;

	free(e->message);
	free(e->data);
}

static int read_checkpoint(const struct store_row *r, void *elem, struct ada_err *err)
{
	return row_checkpoint(r, elem, err);
}

static void release_checkpoint(void *elem)
{
	free(((struct store_checkpoint *)elem)->metrics);
}

int rows_jobs(struct store_row *r, size_t limit, struct store_jobs *out, struct ada_err *err)
{
	void *v;
	int rc = page(r, limit, sizeof(*out->v), read_job, release_job, &v, &out->n,
		      &out->has_more, err);

	out->v = v;
	return rc;
}

int rows_files(struct store_row *r, size_t limit, struct store_files *out, struct ada_err *err)
{
	void *v;
	int rc = page(r, limit, sizeof(*out->v), read_file, NULL, &v, &out->n, &out->has_more,
		      err);

	out->v = v;
	return rc;
}

int rows_events(struct store_row *r, size_t limit, struct store_events *out,
		struct ada_err *err)
{
	void *v;
	int rc = page(r, limit, sizeof(*out->v), read_event, release_event, &v, &out->n,
		      &out->has_more, err);

	out->v = v;
	return rc;
}

int rows_checkpoints(struct store_row *r, size_t limit, struct store_checkpoints *out,
		     struct ada_err *err)
{
	void *v;
	int rc = page(r, limit, sizeof(*out->v), read_checkpoint, release_checkpoint, &v,
		      &out->n, &out->has_more, err);

	out->v = v;
	return rc;
}
