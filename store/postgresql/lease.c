/*
 * lease — this daemon's heartbeat: its row in the daemons table, the
 * leases of the jobs it runs, and the takeover of other daemons' expired
 * ones.
 *
 * Every --lease-heartbeat the heartbeat thread, in one transaction,
 * renews this daemon's row and the leases of the jobs it holds (expiry =
 * the database's now() + --lease-duration: no two hosts' clocks are ever
 * compared). A job it thinks it holds but whose lease the renewal no
 * longer finds (another daemon re-queued it while this one was paused, or
 * cut off) is lost: the daemon's hook stops its run, whose writes the
 * store refuses anyway (fencing). Should renewals fail for a whole lease
 * (the database is unreachable), every held job counts as lost: the other
 * daemons may have taken them over by now.
 *
 * Then it sweeps: running jobs whose lease expired go back to the queue
 * (store_recover's rules: a crash), and rows of daemons gone for an hour
 * are deleted. The renewal comes first, so a daemon that was stopped
 * never re-queues its own jobs before it has had the chance to renew them.
 */
#include "pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"

static const char sql_daemon_upsert[] =
	"INSERT INTO daemons (id, host, pid, address, version, workers, started_at, heartbeat_at, "
	"expires_at) VALUES ($1, $2, $3::bigint, $4, $5, $6::bigint, now(), now(), "
	"now() + $7::bigint * interval '1 millisecond') "
	"ON CONFLICT (id) DO UPDATE SET address = excluded.address, heartbeat_at = now(), "
	"expires_at = excluded.expires_at";
/* Only the jobs this process claimed: a predecessor under the same
 * --daemon-id (dead) does not have its leases renewed by its successor. */
static const char sql_renew[] =
	"UPDATE jobs SET lease_expires_at = now() + $2::bigint * interval '1 millisecond' "
	"WHERE status = 'running' AND lease_owner = $1 AND id = ANY($3::text[]) "
	"RETURNING id, lease_epoch, cancel_requested";
static const char sql_forget[] =
	"DELETE FROM daemons WHERE expires_at < now() - interval '1 hour'";
static const char sql_daemon_gone[] = "DELETE FROM daemons WHERE id = $1";
static const char sql_daemons[] =
	"SELECT id, host, pid, address, version, workers, "
	"extract(epoch FROM started_at)::bigint, extract(epoch FROM heartbeat_at)::bigint, "
	"extract(epoch FROM expires_at)::bigint FROM daemons WHERE expires_at > now() ORDER BY id";
static const char sql_daemon_jobs[] =
	"SELECT lease_owner, id FROM jobs WHERE status = 'running' AND lease_owner IS NOT NULL "
	"ORDER BY seq";

void pg_held_add(struct store *base, const char *id, int64_t epoch)
{
	struct pg_store *st = pg_of(base);

	pthread_mutex_lock(&st->lock);
	if (!ALLOC_GROW(st->held, st->n_held + 1, st->cap_held)) {
		snprintf(st->held[st->n_held].id, STORE_ID_MAX, "%s", id);
		st->held[st->n_held++].epoch = epoch;
	}
	pthread_mutex_unlock(&st->lock);
}

/* epoch < 0: any epoch of the job. */
void pg_held_remove(struct store *base, const char *id, int64_t epoch)
{
	struct pg_store *st = pg_of(base);

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->n_held;) {
		if (!strcmp(st->held[i].id, id) && (epoch < 0 || st->held[i].epoch == epoch))
			st->held[i] = st->held[--st->n_held];
		else
			i++;
	}
	pthread_mutex_unlock(&st->lock);
}

/* A copy of the held list (the caller frees *out). */
static size_t held_snapshot(struct pg_store *st, struct pg_held **out)
{
	size_t n;

	pthread_mutex_lock(&st->lock);
	n = st->n_held;
	*out = n ? malloc(n * sizeof(**out)) : NULL;
	if (*out)
		memcpy(*out, st->held, n * sizeof(**out));
	else
		n = 0;
	pthread_mutex_unlock(&st->lock);
	return n;
}

static int held_still(struct pg_store *st, const struct pg_held *h)
{
	int found = 0;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->n_held && !found; i++)
		found = st->held[i].epoch == h->epoch && !strcmp(st->held[i].id, h->id);
	pthread_mutex_unlock(&st->lock);
	return found;
}

/* The run of (id, epoch) lost its lease: forget it, tell the daemon. */
static void lost(struct pg_store *st, const struct pg_held *h)
{
	pg_held_remove(&st->base, h->id, h->epoch);
	store_hook_lease_lost(&st->base, h->id, h->epoch);
}

struct beat {
	struct pg_held *held;       /* the snapshot taken before the renewal */
	size_t n_held;
	char *ids;                  /* its ids as an array literal, "{a,b}" (ids need no quoting) */
	unsigned char *renewed;     /* [n_held] */
	char (*cancel)[STORE_ID_MAX];   /* renewed jobs with a cancel pending */
	size_t n_cancel, cap_cancel;
};

static int op_beat(struct pgc *c, void *ctx, char *notify, struct ada_err *err)
{
	struct beat *b = ctx;
	struct pg_store *st = c->st;
	struct pgargs d = { 0 }, a = { 0 };
	PGresult *r;
	int rc;

	(void)notify;
	memset(b->renewed, 0, b->n_held);
	b->n_cancel = 0;
	pthread_mutex_lock(&st->lock);
	arg_str(&d, st->base.daemon_id);
	arg_str(&d, st->host);
	arg_int(&d, (int64_t)getpid());
	arg_str(&d, st->address);
	arg_str(&d, st->version);
	arg_int(&d, st->workers);
	arg_int(&d, st->lease_ms);
	pthread_mutex_unlock(&st->lock);
	if ((rc = pg_exec(c, sql_daemon_upsert, &d, NULL, err)))
		return rc;
	arg_str(&a, st->base.daemon_id);
	arg_int(&a, st->lease_ms);
	arg_str(&a, b->ids);
	if ((rc = pg_exec(c, sql_renew, &a, &r, err)))
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *id = col_text(r, i, 0);
		int64_t epoch = col_int(r, i, 1, 0);
		for (size_t k = 0; k < b->n_held; k++)
			if (b->held[k].epoch == epoch && !strcmp(b->held[k].id, id))
				b->renewed[k] = 1;
		if (col_int(r, i, 2, 0) && !ALLOC_GROW(b->cancel, b->n_cancel + 1, b->cap_cancel))
			snprintf(b->cancel[b->n_cancel++], STORE_ID_MAX, "%s", id);
	}
	PQclear(r);
	return pg_exec(c, sql_forget, NULL, NULL, err);
}

/* One heartbeat: ADA_OK when the renewal committed. Lost leases go to
 * the daemon's hook. */
static int beat(struct pg_store *st, struct ada_err *err)
{
	struct beat b = { 0 };
	int rc;

	b.n_held = held_snapshot(st, &b.held);
	b.renewed = calloc(b.n_held + 1, 1);
	b.ids = malloc(b.n_held * STORE_ID_MAX + 3);
	if (!b.renewed || !b.ids) {
		free(b.held);
		free(b.renewed);
		free(b.ids);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	{
		size_t n = 0;
		b.ids[n++] = '{';
		for (size_t k = 0; k < b.n_held; k++)
			n += (size_t)sprintf(b.ids + n, "%s%s", k ? "," : "", b.held[k].id);
		b.ids[n++] = '}';
		b.ids[n] = '\0';
	}
	rc = pg_tx(&st->base, op_beat, &b, err);
	if (!rc) {
		/* Not renewed, and still held (not ended by its run meanwhile). */
		for (size_t k = 0; k < b.n_held; k++)
			if (!b.renewed[k] && held_still(st, &b.held[k]))
				lost(st, &b.held[k]);
		/* A cancel whose notification this daemon missed. */
		for (size_t k = 0; k < b.n_cancel; k++)
			store_hook_cancel(&st->base, b.cancel[k]);
	}
	free(b.held);
	free(b.renewed);
	free(b.ids);
	free(b.cancel);
	return rc;
}

int pg_heartbeat_once(struct pg_store *st, struct ada_err *err)
{
	return beat(st, err);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void log_warn(struct pg_store *st, const char *what, const struct ada_err *err)
{
	store_warn(&st->base, "msg=\"%s\" detail=\"%s\"", what, err->msg);
}

static void *heartbeat_main(void *arg)
{
	struct pg_store *st = arg;
	uint64_t last_ok = mono_ms();
	int warned = 0;

	for (;;) {
		struct ada_err err = { 0 };
		struct store_recovery rv;
		struct timespec ts;
		int stopping, max_crashes;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += st->heartbeat_ms / 1000;
		ts.tv_nsec += (long)(st->heartbeat_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&st->run_lock);
		while (!st->stopping &&
		       pthread_cond_timedwait(&st->run_cond, &st->run_lock, &ts) != ETIMEDOUT)
			;
		stopping = st->stopping;
		pthread_mutex_unlock(&st->run_lock);
		if (stopping)
			break;
		if (beat(st, &err)) {
			if (!warned++)
				log_warn(st, "cannot renew this daemon's leases", &err);
			if (mono_ms() - last_ok > (uint64_t)st->lease_ms) {
				/* Unrenewed for a whole lease: others may run them now. */
				struct pg_held *h;
				size_t n = held_snapshot(st, &h);
				for (size_t k = 0; k < n; k++)
					lost(st, &h[k]);
				free(h);
			}
			continue;
		}
		last_ok = mono_ms();
		warned = 0;
		pthread_mutex_lock(&st->lock);
		max_crashes = st->max_crashes;
		pthread_mutex_unlock(&st->lock);
		if (pg_sweep_expired(&st->base, max_crashes, &rv, &err))
			log_warn(st, "cannot re-queue jobs whose lease expired", &err);
		else if (rv.requeued || rv.cancelled || rv.failed)
			store_warn(&st->base,
				   "msg=\"jobs of a daemon whose lease expired\" requeued=%d cancelled=%d failed=%d",
				   rv.requeued, rv.cancelled, rv.failed);
	}
	/* Gone: the daemons list stops showing this one at once. */
	{
		struct pgc *c;
		struct pgargs a = { 0 };
		arg_str(&a, st->base.daemon_id);
		if (!pg_get(&st->base, &c, NULL))
			pg_exec(c, sql_daemon_gone, &a, NULL, NULL);
	}
	pg_thread_done(&st->base);
	return NULL;
}

int pg_heartbeat_start(struct pg_store *st, struct ada_err *err)
{
	if (pthread_create(&st->heartbeat, NULL, heartbeat_main, st))
		return ada_fail(err, ADA_ENOMEM, "store: cannot start the heartbeat thread");
	st->heartbeat_started = 1;
	return ADA_OK;
}

void pg_threads_stop(struct pg_store *st)
{
	char byte = 1;

	pg_urgent_stop(st);
	pthread_mutex_lock(&st->run_lock);
	st->stopping = 1;
	pthread_cond_broadcast(&st->run_cond);
	pthread_mutex_unlock(&st->run_lock);
	if (st->wake_fd[1] >= 0 && write(st->wake_fd[1], &byte, 1) < 0)
		(void)0;   /* the pipe is full: the listener is waking anyway */
	if (st->heartbeat_started)
		pthread_join(st->heartbeat, NULL);
	if (st->listener_started)
		pthread_join(st->listener, NULL);
	st->heartbeat_started = st->listener_started = 0;
}

/* ---- the daemons list --------------------------------------------------- */

int pg_daemon_list(struct store *base, struct store_daemons *out, struct ada_err *err)
{
	struct pgc *c;
	PGresult *r, *jobs;
	int rc, n;

	if ((rc = pg_get(base, &c, err)) || (rc = pg_exec(c, sql_daemons, NULL, &r, err)))
		return rc;
	if ((rc = pg_exec(c, sql_daemon_jobs, NULL, &jobs, err))) {
		PQclear(r);
		return rc;
	}
	n = PQntuples(r);
	out->v = xcalloc((size_t)n + 1, sizeof(*out->v));
	if (!out->v) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_clear;
	}
	for (int i = 0; i < n; i++) {
		struct store_daemon *d = &out->v[out->n++];
		size_t cap = 0;
		col_cpy(r, i, 0, d->id, sizeof(d->id));
		col_cpy(r, i, 1, d->host, sizeof(d->host));
		d->pid = col_int(r, i, 2, 0);
		col_cpy(r, i, 3, d->address, sizeof(d->address));
		col_cpy(r, i, 4, d->version, sizeof(d->version));
		d->workers = col_int(r, i, 5, 0);
		d->started_at = col_int(r, i, 6, 0);
		d->heartbeat_at = col_int(r, i, 7, 0);
		d->lease_expires_at = col_int(r, i, 8, 0);
		d->self = !strcmp(d->id, base->daemon_id);
		for (int k = 0; k < PQntuples(jobs); k++) {
			if (strcmp(col_text(jobs, k, 0), d->id))
				continue;
			if (ALLOC_GROW(d->running, d->n_running + 1, cap)) {
				rc = ada_fail(err, ADA_ENOMEM, "out of memory");
				store_daemons_release(out);
				goto out_clear;
			}
			col_cpy(jobs, k, 1, d->running[d->n_running++], STORE_ID_MAX);
		}
	}
out_clear:
	PQclear(r);
	PQclear(jobs);
	return rc;
}
