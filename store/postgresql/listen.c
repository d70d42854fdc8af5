/*
 * listen — the listener thread: what the other daemons NOTIFY, turned
 * into wake-ups here (pg.h names the channels).
 *
 * One connection of its own LISTENs and waits in poll() on its socket
 * (and on a pipe that cuts the wait short at shutdown): nothing polls a
 * table. An event's notification (PG_CHANNEL_EVENTS, the event's row)
 * is kept (recent.c) and wakes this daemon's watchers of the job (its
 * live event streams, which then read it), "adalorad_queue"
 * its validator and workers, "adalorad_cancel" the worker running the
 * job, if any. If the connection breaks, it connects again (with a
 * backoff) and then wakes every watcher and the workers once, since
 * notifications sent meanwhile are lost.
 */
#include "pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

static int listen_all(PGconn *db, struct ada_err *err)
{
	PGresult *r = PQexec(db, "LISTEN " PG_CHANNEL_EVENTS "; LISTEN " PG_CHANNEL_QUEUE
				 "; LISTEN " PG_CHANNEL_CANCEL);
	int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok ? ADA_OK
		  : ada_fail(err, ADA_EIO, "store: LISTEN: %s", PQerrorMessage(db));
}

static void dispatch(struct pg_store *st, PGconn *db)
{
	PGnotify *n;

	while ((n = PQnotifies(db))) {
		if (!strcmp(n->relname, PG_CHANNEL_EVENTS)) {
			char id[STORE_ID_MAX];

			/* The row first, then the wake-up: a woken stream finds it. */
			pg_changed(st, pg_recent_heard(st, n->extra, id, sizeof(id)) ? n->extra : id);
		}
		else if (!strcmp(n->relname, PG_CHANNEL_QUEUE))
			store_hook_queue(&st->base);
		else if (!strcmp(n->relname, PG_CHANNEL_CANCEL))
			store_hook_cancel(&st->base, n->extra);
		PQfreemem(n);
	}
}

static int stopping(struct pg_store *st)
{
	int s;

	pthread_mutex_lock(&st->run_lock);
	s = st->stopping;
	pthread_mutex_unlock(&st->run_lock);
	return s;
}

/* Wait up to ms for the connection's socket (fd >= 0) or the stop pipe:
 * 1 when the socket is readable. */
static int wait_for(struct pg_store *st, int fd, int ms)
{
	struct pollfd p[2] = {
		{ .fd = st->wake_fd[0], .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};

	if (poll(p, fd >= 0 ? 2 : 1, ms) <= 0)
		return 0;
	return fd >= 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP));
}

static void *listener_main(void *arg)
{
	struct pg_store *st = arg;
	PGconn *db = st->listen_db;   /* listening since the start; ours now */
	int backoff_ms = 100, missed = 0;

	st->listen_db = NULL;

	while (!stopping(st)) {
		struct ada_err err = { 0 };

		if (!db) {
			if (pg_connect(st, &db, &err) || listen_all(db, &err)) {
				if (db)
					PQfinish(db);
				db = NULL;
				pg_vcache_reset(st, 0);
				if (!missed++)
					store_warn(&st->base,
						   "msg=\"cannot listen for other daemons' notifications; retrying\" detail=\"%s\"",
						   err.msg);
				wait_for(st, -1, backoff_ms);
				backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
				continue;
			}
			backoff_ms = 100;
			if (missed) {
				/* What was said while nobody listened is lost: look again. */
				pg_vcache_reset(st, 1);
				store_notify_all(&st->base);
				store_hook_queue(&st->base);
				missed = 0;
			}
		}
		if (!wait_for(st, PQsocket(db), -1))
			continue;
		if (!PQconsumeInput(db)) {
			PQfinish(db);
			db = NULL;
			missed = 1;
			pg_vcache_reset(st, 0);   /* no notification reaches us now */
			continue;
		}
		dispatch(st, db);
	}
	if (db)
		PQfinish(db);
	return NULL;
}

/* The first LISTEN is made before the thread starts: once the store is
 * open, nothing another daemon says is missed. */
int pg_listener_start(struct pg_store *st, struct ada_err *err)
{
	int rc;

	if ((rc = pg_connect(st, &st->listen_db, err)))
		return rc;
	if ((rc = listen_all(st->listen_db, err))) {
		PQfinish(st->listen_db);
		st->listen_db = NULL;
		return rc;
	}
	pg_vcache_reset(st, 1);
	if (pthread_create(&st->listener, NULL, listener_main, st)) {
		PQfinish(st->listen_db);
		st->listen_db = NULL;
		return ada_fail(err, ADA_ENOMEM, "store: cannot start the listener thread");
	}
	st->listener_started = 1;
	return ADA_OK;
}
