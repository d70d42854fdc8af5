/*
 * writer — group commit: concurrent writes share one transaction, and so
 * one fsync.
 *
 * With synchronous=FULL every COMMIT waits for the disk, and writers that
 * take turns would wait for one fsync each; a hundred clients creating
 * jobs at once would queue behind a hundred fsyncs. Instead a write is
 * queued as a function, and the store's writer thread takes everything
 * queued, runs each write in a savepoint of one BEGIN IMMEDIATE
 * transaction (a write that fails rolls back to its savepoint alone),
 * commits once, wakes the watchers of the jobs written, and hands each
 * waiting writer its result. Nothing is acknowledged before its commit.
 *
 * A thread of its own, at normal priority, rather than "the first writer
 * leads": the training threads write too, and run at a lower priority; a
 * batch led by one of them would make every HTTP thread wait on it.
 *
 * Two queues: a job's live events (store_write_urgent) go into the next
 * batch ahead of everything else, so a flood of job creations delays what
 * a stream shows by one batch at most.
 */
#include "conn.h"

#include <string.h>

#include "util/err.h"

/* Enough to share an fsync widely; small enough that a write arriving
 * during a big batch does not wait long for the next. */
#define MAX_BATCH 64

struct write_op {
	write_fn fn;
	void *ctx;
	struct ada_err *err;    /* the writer's */
	int rc;
	int done;
	char notify[STORE_ID_MAX];
	struct write_op *next;
};

static int exec_cached(struct conn *c, const char *sql, struct ada_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = conn_stmt(c, sql, &s, err)))
		return rc;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? ADA_OK : conn_fail(c, sql, err);
}

static const char sql_savepoint[] = "SAVEPOINT w";
static const char sql_release[] = "RELEASE w";
static const char sql_rollback_to[] = "ROLLBACK TO w";

/* Run a batch in one transaction; every op gets its rc. */
static void run_batch(struct sq_store *st, struct write_op *batch)
{
	struct ada_err cerr = { 0 };
	struct conn *c;
	int rc;

	if ((rc = conn_get(&st->base, &c, &cerr)) || (rc = conn_begin(c, &cerr))) {
		for (struct write_op *op = batch; op; op = op->next) {
			op->rc = rc;
			if (op->err)
				*op->err = cerr;
		}
		return;
	}
	for (struct write_op *op = batch; op; op = op->next) {
		op->notify[0] = '\0';
		if ((op->rc = exec_cached(c, sql_savepoint, op->err)))
			continue;
		op->rc = op->fn(c, op->ctx, op->notify, op->err);
		if (op->rc && exec_cached(c, sql_rollback_to, NULL) == ADA_OK)
			op->notify[0] = '\0';
		if (exec_cached(c, sql_release, &cerr)) {
			/* The transaction is unusable: fail the rest with it. */
			for (struct write_op *o = op; o; o = o->next) {
				o->rc = cerr.code;
				if (o->err)
					*o->err = cerr;
			}
			conn_rollback(c);
			return;
		}
	}
	if ((rc = conn_commit(c, &cerr))) {
		for (struct write_op *op = batch; op; op = op->next) {
			if (op->rc)
				continue;
			op->rc = rc;
			if (op->err)
				*op->err = cerr;
		}
		return;
	}
	for (struct write_op *op = batch; op; op = op->next)
		if (!op->rc && op->notify[0])
			store_notify(&st->base, op->notify);
}

static int enqueue_and_wait(struct sq_store *st, write_fn fn, void *ctx, int urgent,
			    struct ada_err *err)
{
	struct write_op me = { .fn = fn, .ctx = ctx, .err = err };
	struct write_queue *q = &st->queues[urgent ? 0 : 1];

	pthread_mutex_lock(&st->gc_lock);
	if (q->tail)
		q->tail->next = &me;
	else
		q->head = &me;
	q->tail = &me;
	pthread_cond_broadcast(&st->gc_cond);
	while (!me.done)
		pthread_cond_wait(&st->gc_done, &st->gc_lock);
	pthread_mutex_unlock(&st->gc_lock);
	return me.rc;
}

int sq_write(struct store *st, write_fn fn, void *ctx, struct ada_err *err)
{
	return enqueue_and_wait(sq_of(st), fn, ctx, 0, err);
}

int sq_write_urgent(struct store *st, write_fn fn, void *ctx, struct ada_err *err)
{
	return enqueue_and_wait(sq_of(st), fn, ctx, 1, err);
}

/* Up to MAX_BATCH ops, urgent ones first, as one list. Caller holds gc_lock. */
static struct write_op *take_batch(struct sq_store *st)
{
	struct write_op *head = NULL, **link = &head;
	int n = 0;

	for (int k = 0; k < 2; k++) {
		struct write_queue *q = &st->queues[k];
		while (q->head && n < MAX_BATCH) {
			struct write_op *op = q->head;
			q->head = op->next;
			if (!q->head)
				q->tail = NULL;
			op->next = NULL;
			*link = op;
			link = &op->next;
			n++;
		}
	}
	return head;
}

static void *writer_main(void *arg)
{
	struct sq_store *st = arg;

	pthread_mutex_lock(&st->gc_lock);
	for (;;) {
		struct write_op *batch;

		while (!st->queues[0].head && !st->queues[1].head && !st->writer_stop)
			pthread_cond_wait(&st->gc_cond, &st->gc_lock);
		batch = take_batch(st);
		if (!batch)
			break;   /* stopping, and nothing left to write */
		pthread_mutex_unlock(&st->gc_lock);

		run_batch(st, batch);

		pthread_mutex_lock(&st->gc_lock);
		for (struct write_op *op = batch, *next; op; op = next) {
			next = op->next;
			op->done = 1;   /* its writer may return (and op vanish) from here */
		}
		pthread_cond_broadcast(&st->gc_done);
	}
	pthread_mutex_unlock(&st->gc_lock);
	sq_thread_done(&st->base);
	return NULL;
}

int writer_start(struct sq_store *st, struct ada_err *err)
{
	if (pthread_create(&st->writer, NULL, writer_main, st))
		return ada_fail(err, ADA_ENOMEM, "store: cannot start the writer thread");
	st->writer_started = 1;
	return ADA_OK;
}

void writer_stop(struct sq_store *st)
{
	if (!st->writer_started)
		return;
	pthread_mutex_lock(&st->gc_lock);
	st->writer_stop = 1;
	pthread_cond_broadcast(&st->gc_cond);
	pthread_mutex_unlock(&st->gc_lock);
	pthread_join(st->writer, NULL);
	st->writer_started = 0;
}
