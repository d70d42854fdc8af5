/*
 * open — the SQLite backend: opening, migrating and closing the database,
 * its table of functions, and the daemons list (this one daemon).
 *
 * One daemon owns a database: an exclusive flock on "<db>.lock" (a file of
 * its own, because closing any descriptor of the database file itself
 * would drop SQLite's POSIX locks) makes a second daemon on the same
 * database fail at start instead of re-queueing the first one's jobs.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "migrations.h"
#include "util/err.h"

static int user_version(struct conn *c, int *v, struct ada_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return conn_fail(c, "user_version", err);
	rc = sqlite3_step(s);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? ADA_OK : conn_fail(c, "user_version", err);
}

static int migrate(struct conn *c, struct ada_err *err)
{
	char pragma[64];
	int have, rc;

	if ((rc = user_version(c, &have, err)))
		return rc;
	if (have > store_n_migrations)
		return store_schema_newer(err, c->st->path, have);
	for (int v = have + 1; v <= store_n_migrations; v++) {
		const struct migration *m = &sqlite_migrations[v - 1];
		if ((rc = conn_begin(c, err)))
			return rc;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v);
		if ((rc = conn_exec(c, m->sql, err)) || (rc = conn_exec(c, pragma, err))) {
			conn_rollback(c);
			return ada_err_prefix(err, rc, "%s: migration %04d_%s", c->st->path, v, m->name);
		}
		if ((rc = conn_commit(c, err)))
			return rc;
	}
	return ADA_OK;
}

/* PRAGMA quick_check: the b-trees' structure and every page (not the
 * indexes' contents against their tables), seconds per gigabyte. A
 * damaged database caught at start is better than one whose rows vanish
 * under the API later. */
static int integrity_check(struct conn *c, struct ada_err *err)
{
	sqlite3_stmt *s;
	char first[300] = "";
	int rc, n = 0;

	if (sqlite3_prepare_v2(c->db, "PRAGMA quick_check(20)", -1, &s, NULL) != SQLITE_OK)
		return ada_fail(err, ADA_EFORMAT,
				"%s: the database cannot be checked: %s (restore a backup, or start with --integrity-check off to try anyway)",
				c->st->path, sqlite3_errmsg(c->db));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(s, 0);
		if (line && strcmp(line, "ok") && !n++)
			snprintf(first, sizeof(first), "%s", line);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return ada_fail(err, ADA_EFORMAT,
				"%s: the database is damaged: %s (restore a backup, or start with --integrity-check off to try anyway)",
				c->st->path, sqlite3_errmsg(c->db));
	if (n)
		return ada_fail(err, ADA_EFORMAT,
				"%s: the database is damaged (PRAGMA quick_check: %s%s); restore a backup, or start with --integrity-check off to try anyway",
				c->st->path, first, n > 1 ? ", ..." : "");
	return ADA_OK;
}

static int set_wal(struct conn *c, struct ada_err *err)
{
	sqlite3_stmt *s;
	int ok;

	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &s, NULL) != SQLITE_OK)
		return conn_fail(c, "journal_mode", err);
	ok = sqlite3_step(s) == SQLITE_ROW &&
	     !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	if (!ok)
		return ada_fail(err, ADA_EIO, "%s: cannot switch the database to WAL mode",
				c->st->path);
	return ADA_OK;
}

static int take_lock(struct sq_store *st, struct ada_err *err)
{
	size_t n = strlen(st->path) + 6;
	char *p = malloc(n);

	if (!p)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	snprintf(p, n, "%s.lock", st->path);
	st->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0) {
		ada_fail(err, ADA_EIO, "%s: %s", p, strerror(errno));
		free(p);
		return ADA_EIO;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		ada_fail(err, ADA_EIO, "%s: %s (is another adalorad using this database?)", p,
			 errno == EWOULDBLOCK ? "locked" : strerror(errno));
		free(p);
		return ADA_EIO;
	}
	free(p);
	return ADA_OK;
}

static void sq_free(struct store *base)
{
	struct sq_store *st = sq_of(base);

	writer_stop(st);
	conns_release(&st->conns);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->gc_lock);
	pthread_cond_destroy(&st->gc_cond);
	pthread_cond_destroy(&st->gc_done);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	store_base_release(&st->base);
	free(st->path);
	free(st);
}

static void sq_set_address(struct store *base, const char *address)
{
	struct sq_store *st = sq_of(base);

	pthread_mutex_lock(&st->lock);
	snprintf(st->address, sizeof(st->address), "%s", address);
	pthread_mutex_unlock(&st->lock);
}

/* One daemon per database: this one, running every running job. */
static int sq_daemon_list(struct store *base, struct store_daemons *out, struct ada_err *err)
{
	struct sq_store *st = sq_of(base);
	struct store_daemon *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	snprintf(d->id, sizeof(d->id), "%s", base->daemon_id);
	if (gethostname(d->host, sizeof(d->host) - 1))
		d->host[0] = '\0';
	pthread_mutex_lock(&st->lock);
	snprintf(d->address, sizeof(d->address), "%s", st->address);
	pthread_mutex_unlock(&st->lock);
	snprintf(d->version, sizeof(d->version), "%s", st->version);
	d->pid = (int64_t)getpid();
	d->workers = st->workers;
	d->started_at = st->started_at;
	d->heartbeat_at = (int64_t)time(NULL);
	d->self = 1;
	if ((rc = sq_job_running_ids(base, &d->running, &d->n_running, err))) {
		free(d);
		return rc;
	}
	out->v = d;
	out->n = 1;
	return ADA_OK;
}

static const struct store_backend sqlite_backend = {
	.name = "sqlite",
	.free = sq_free,
	.thread_done = sq_thread_done,
	.file_add = sq_file_add,
	.file_get = sq_file_get,
	.file_list = sq_file_list,
	.file_delete = sq_file_delete,
	.file_labels = sq_file_labels,
	.job_write = sq_job_write,
	.job_machine = sq_job_machine,
	.job_get = sq_job_get,
	.job_version = sq_job_version,
	.job_list = sq_job_list,
	.job_next_validating = sq_job_next_validating,
	.recover = sq_recover,
	.job_reconcile = sq_job_reconcile,
	.job_running_ids = sq_job_running_ids,
	.job_counts = sq_job_counts,
	.job_totals = sq_job_totals,
	.event_list = sq_event_list,
	.event_ranks = sq_event_ranks,
	.event_last = sq_event_last,
	.checkpoint_list = sq_checkpoint_list,
	.daemon_list = sq_daemon_list,
	.set_address = sq_set_address,
};

int sqlite_store_open(const struct store_config *cfg, struct store **out, struct ada_err *err)
{
	struct sq_store *st = calloc(1, sizeof(*st));
	struct conn *c;
	int rc;

	*out = NULL;
	if (!st)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if ((rc = conns_init(&st->conns, conn_close_link, err))) {
		free(st);
		return rc;
	}
	st->lock_fd = -1;
	st->path = strdup(cfg->path);
	st->sync = cfg->sync == STORE_SYNC_NORMAL ? STORE_SYNC_NORMAL : STORE_SYNC_FULL;
	st->busy_timeout_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : 5000;
	st->started_at = (int64_t)time(NULL);
	st->workers = cfg->workers;
	snprintf(st->version, sizeof(st->version), "%s", cfg->version ? cfg->version : "");
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->gc_lock, NULL);
	pthread_cond_init(&st->gc_cond, NULL);
	pthread_cond_init(&st->gc_done, NULL);
	if ((rc = store_base_init(&st->base, &sqlite_backend, cfg, err)))
		goto out_free;
	if (!st->path) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = take_lock(st, err)) || (rc = conn_get(&st->base, &c, err)) ||
	    (!cfg->skip_integrity_check && (rc = integrity_check(c, err))) ||
	    (rc = set_wal(c, err)) || (rc = migrate(c, err)) || (rc = writer_start(st, err)))
		goto out_free;
	*out = &st->base;
	return ADA_OK;
out_free:
	sq_free(&st->base);
	return rc;
}
