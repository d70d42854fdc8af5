/*
 * open — the PostgreSQL backend: connecting, migrating, the daemon's
 * registration, its threads (heartbeat, listener, urgent writer), and its
 * table of functions.
 *
 * Several daemons may start at once on one database: migrations run under
 * an advisory lock, each version in its own transaction (PostgreSQL's DDL
 * is transactional), recorded in adalorad_schema. A database whose
 * version is newer than this binary's is refused, as with SQLite.
 */
#include "pg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrations.h"
#include "util/err.h"

/* pg_advisory_lock's key while migrating: "ADAM". */
#define MIGRATE_LOCK "1094795597"

static int schema_version(struct pgc *c, int *v, struct ada_err *err)
{
	PGresult *r;
	int rc;

	*v = 0;
	if ((rc = pg_exec_text(c, "CREATE TABLE IF NOT EXISTS adalorad_schema "
				  "(version integer NOT NULL)", err)))
		return rc;
	r = PQexec(c->db, "SELECT max(version) FROM adalorad_schema");
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return ada_fail(err, ADA_EIO, "store: schema version: %s", PQerrorMessage(c->db));
	}
	*v = (int)col_int(r, 0, 0, 0);
	PQclear(r);
	return ADA_OK;
}

static int migrate_locked(struct pgc *c, struct ada_err *err)
{
	char record[96];
	int have, rc;

	if ((rc = schema_version(c, &have, err)))
		return rc;
	if (have > store_n_migrations)
		return store_schema_newer(err, "PostgreSQL database", have);
	for (int v = have + 1; v <= store_n_migrations; v++) {
		const struct migration *m = &pg_migrations[v - 1];
		snprintf(record, sizeof(record),
			 "DELETE FROM adalorad_schema; INSERT INTO adalorad_schema VALUES (%d)", v);
		if ((rc = pg_exec_text(c, "BEGIN", err)))
			return rc;
		if ((rc = pg_exec_text(c, m->sql, err)) || (rc = pg_exec_text(c, record, err)) ||
		    (rc = pg_exec_text(c, "COMMIT", err))) {
			pg_exec_text(c, "ROLLBACK", NULL);
			return ada_err_prefix(err, ADA_EIO, "PostgreSQL database: migration %04d_%s", v,
					      m->name);
		}
	}
	return ADA_OK;
}

static int migrate(struct pgc *c, struct ada_err *err)
{
	int rc;

	if ((rc = pg_exec_text(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err)))
		return rc;
	rc = migrate_locked(c, err);
	pg_exec_text(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", NULL);
	return rc == PG_RETRY ? ADA_EIO : rc;
}

static const char sql_id_live[] =
	"SELECT extract(epoch FROM expires_at - now())::bigint, host, pid FROM daemons "
	"WHERE id = $1 AND expires_at > now()";
static const char sql_expire_own[] =
	"UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
	"WHERE status = 'running' AND lease_owner = $1";

/* An id given with --daemon-id must not be a live daemon's. One whose
 * process is gone from this host is this daemon's predecessor (restarted
 * after a crash): its leases end now, and the start's recovery re-queues
 * its jobs without waiting for them to expire. */
static int check_id_free(struct pgc *c, struct ada_err *err)
{
	struct pg_store *st = c->st;
	struct pgargs a = { 0 };
	PGresult *r;
	int rc;

	arg_str(&a, st->base.daemon_id);
	if ((rc = pg_exec(c, sql_id_live, &a, &r, err)))
		return rc;
	if (PQntuples(r)) {
		pid_t pid = (pid_t)col_int(r, 0, 2, 0);
		if (!strcmp(col_text(r, 0, 1), st->host) && pid > 0 && kill(pid, 0) && errno == ESRCH)
			rc = pg_exec(c, sql_expire_own, &a, NULL, err);
		else
			rc = ada_fail_param(err, ADA_EINVAL, "daemon_id",
					    "--daemon-id %s is a live daemon's (on %s, pid %lld; its lease runs %lld s more): give each daemon its own id, or wait",
					    st->base.daemon_id, col_text(r, 0, 1), (long long)pid,
					    (long long)col_int(r, 0, 0, 0) + 1);
	}
	PQclear(r);
	return rc;
}

static void pg_free(struct store *base)
{
	struct pg_store *st = pg_of(base);

	pg_threads_stop(st);
	if (st->listen_db)
		PQfinish(st->listen_db);
	conns_release(&st->conns);
	for (int i = 0; i < 2; i++)
		if (st->wake_fd[i] >= 0)
			close(st->wake_fd[i]);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->run_lock);
	pg_recent_free(st);
	pthread_mutex_destroy(&st->vc_lock);
	pthread_mutex_destroy(&st->u_lock);
	pthread_cond_destroy(&st->run_cond);
	pthread_cond_destroy(&st->u_cond);
	store_base_release(&st->base);
	free(st->held);
	free(st->uri);
	free(st);
}

static void pg_set_address(struct store *base, const char *address)
{
	struct pg_store *st = pg_of(base);
	struct ada_err err = { 0 };

	pthread_mutex_lock(&st->lock);
	snprintf(st->address, sizeof(st->address), "%s", address);
	pthread_mutex_unlock(&st->lock);
	/* Listed with its address at once, not at the next heartbeat. */
	if (pg_heartbeat_once(st, &err))
		store_warn(base, "msg=\"cannot record this daemon's address\" detail=\"%s\"", err.msg);
}

static const struct store_backend pg_backend = {
	.name = "postgresql",
	.free = pg_free,
	.thread_done = pg_thread_done,
	.file_add = pg_file_add,
	.file_get = pg_file_get,
	.file_list = pg_file_list,
	.file_delete = pg_file_delete,
	.file_labels = pg_file_labels,
	.job_write = pg_job_write,
	.job_machine = pg_job_machine,
	.lease_held = pg_held_add,
	.lease_dropped = pg_held_remove,
	.job_get = pg_job_get,
	.job_version = pg_job_version,
	.job_list = pg_job_list,
	.job_next_validating = pg_job_next_validating,
	.recover = pg_recover,
	.job_reconcile = pg_job_reconcile,
	.job_running_ids = pg_job_running_ids,
	.job_counts = pg_job_counts,
	.job_totals = pg_job_totals,
	.event_list = pg_event_list,
	.event_follow = pg_event_follow,
	.event_ranks = pg_event_ranks,
	.event_last = pg_event_last,
	.checkpoint_list = pg_checkpoint_list,
	.daemon_list = pg_daemon_list,
	.set_address = pg_set_address,
};

int pg_store_open(const struct store_config *cfg, struct store **out, struct ada_err *err)
{
	struct pg_store *st = calloc(1, sizeof(*st));
	pthread_condattr_t ca;
	struct pgc *c;
	int rc;

	*out = NULL;
	if (!st)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if ((rc = conns_init(&st->conns, pg_close_link, err))) {
		free(st);
		return rc;
	}
	st->wake_fd[0] = st->wake_fd[1] = -1;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->run_lock, NULL);
	pthread_mutex_init(&st->vc_lock, NULL);
	pthread_mutex_init(&st->u_lock, NULL);
	pthread_cond_init(&st->u_cond, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->run_cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = store_base_init(&st->base, &pg_backend, cfg, err)))
		goto out_free;
	st->base.shared = 1;
	st->uri = strdup(cfg->path);
	st->lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : 30000;
	st->heartbeat_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : st->lease_ms / 3;
	if (st->heartbeat_ms < 10)
		st->heartbeat_ms = 10;
	st->workers = cfg->workers;
	snprintf(st->version, sizeof(st->version), "%s", cfg->version ? cfg->version : "");
	if (gethostname(st->host, sizeof(st->host) - 1))
		snprintf(st->host, sizeof(st->host), "localhost");
	if (!st->uri || pg_recent_init(st)) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if (st->heartbeat_ms >= st->lease_ms) {
		rc = ada_fail_param(err, ADA_EINVAL, "lease_heartbeat",
				    "--lease-heartbeat (%lld ms) must be shorter than --lease-duration (%lld ms): leases would expire between renewals",
				    (long long)st->heartbeat_ms, (long long)st->lease_ms);
		goto out_free;
	}
	if (pipe2(st->wake_fd, O_CLOEXEC | O_NONBLOCK)) {
		rc = ada_fail(err, ADA_EIO, "store: pipe: out of descriptors");
		goto out_free;
	}
	if ((rc = pg_get(&st->base, &c, err)) || (rc = migrate(c, err)) ||
	    (cfg->daemon_id && *cfg->daemon_id && (rc = check_id_free(c, err))) ||
	    (rc = pg_heartbeat_once(st, err)) || (rc = pg_listener_start(st, err)) ||
	    (rc = pg_heartbeat_start(st, err)) || (rc = pg_urgent_start(st, err)))
		goto out_free;
	*out = &st->base;
	return ADA_OK;
out_free:
	pg_free(&st->base);
	return rc;
}
