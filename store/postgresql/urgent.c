/*
 * urgent — the thread that writes a running job's events and progress
 * for the workers.
 *
 * Workers train at nice +10 so that the HTTP threads keep the CPUs they
 * need. A write to PostgreSQL is several round trips (BEGIN, the job
 * machine's statements, COMMIT), and a thread at nice +10 that has to be
 * scheduled again for each of them on CPUs busy with the HTTP threads'
 * queries waits hundreds of milliseconds: a live event then reaches its
 * streams late (bench/RESULTS.md, "PostgreSQL"). So a worker hands the
 * write to this thread, which runs at the daemon's own priority on a
 * connection of its own, and sleeps until the result is in: one wake-up
 * of the worker instead of one per round trip. Writes run one at a time,
 * in the order they came; the worker gets the same result (fenced, failed
 * or done) as if it had run the transaction itself.
 *
 * The SQLite backend's writer thread does the same for its own reasons
 * (one writer); here the thread exists for the priority alone.
 */
#include "pg.h"

#include <stdlib.h>

#include "util/err.h"

/* One caller's write, on the caller's stack until done is set. */
struct pg_urgent {
	struct pg_urgent *next;
	pg_tx_fn fn;
	void *ctx;
	struct ada_err *err;       /* the caller's (may be NULL) */
	int rc, done;
};

static void *urgent_main(void *arg)
{
	struct pg_store *st = arg;

	pthread_mutex_lock(&st->u_lock);
	for (;;) {
		struct pg_urgent *u = st->u_head;

		if (!u) {
			if (st->u_stop)
				break;
			pthread_cond_wait(&st->u_cond, &st->u_lock);
			continue;
		}
		st->u_head = u->next;
		if (!st->u_head)
			st->u_tail = &st->u_head;
		pthread_mutex_unlock(&st->u_lock);
		u->rc = pg_tx(&st->base, u->fn, u->ctx, u->err);
		pthread_mutex_lock(&st->u_lock);
		u->done = 1;
		pthread_cond_broadcast(&st->u_cond);
	}
	pthread_mutex_unlock(&st->u_lock);
	pg_thread_done(&st->base);
	return NULL;
}

int pg_urgent_start(struct pg_store *st, struct ada_err *err)
{
	st->u_tail = &st->u_head;
	if (pthread_create(&st->urgent, NULL, urgent_main, st))
		return ada_fail(err, ADA_ENOMEM, "store: cannot start the urgent writer thread");
	st->urgent_started = 1;
	return ADA_OK;
}

int pg_urgent_tx(struct pg_store *st, pg_tx_fn fn, void *ctx, struct ada_err *err)
{
	struct pg_urgent u = { .fn = fn, .ctx = ctx, .err = err };

	pthread_mutex_lock(&st->u_lock);
	if (!st->urgent_started || st->u_stop) {
		pthread_mutex_unlock(&st->u_lock);
		return pg_tx(&st->base, fn, ctx, err);
	}
	*st->u_tail = &u;
	st->u_tail = &u.next;
	pthread_cond_broadcast(&st->u_cond);
	while (!u.done)
		pthread_cond_wait(&st->u_cond, &st->u_lock);
	pthread_mutex_unlock(&st->u_lock);
	return u.rc;
}

/* Requests queued before the stop are written; later ones run on their
 * callers' threads. */
void pg_urgent_stop(struct pg_store *st)
{
	pthread_mutex_lock(&st->u_lock);
	st->u_stop = 1;
	pthread_cond_broadcast(&st->u_cond);
	pthread_mutex_unlock(&st->u_lock);
	if (st->urgent_started)
		pthread_join(st->urgent, NULL);
	pthread_mutex_lock(&st->u_lock);
	st->urgent_started = 0;
	pthread_mutex_unlock(&st->u_lock);
}
