/*
 * store — opening, migrating and closing the database; ids; watchers.
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
#include <sys/random.h>
#include <unistd.h>

#include "migrations.h"
#include "util/err.h"

static const char *const status_names[JOB_N_STATUS] = {
	[JOB_VALIDATING] = "validating_files",
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
};

const char *job_status_name(enum job_status s)
{
	return (unsigned)s < JOB_N_STATUS ? status_names[s] : "unknown";
}

int job_status_from_name(const char *name)
{
	for (int i = 0; i < JOB_N_STATUS; i++)
		if (!strcmp(name, status_names[i]))
			return i;
	return -1;
}

int store_schema_version(void)
{
	return store_n_migrations;
}

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
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: schema version %d is newer than this adalorad knows (%d); upgrade adalorad",
				c->st->path, have, store_n_migrations);
	for (int v = have + 1; v <= store_n_migrations; v++) {
		const struct migration *m = &store_migrations[v - 1];
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

static int take_lock(struct store *st, struct ada_err *err)
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

int store_open(const struct store_config *cfg, struct store **out, struct ada_err *err)
{
	struct store *st = calloc(1, sizeof(*st));
	struct conn *c;
	int rc;

	*out = NULL;
	if (!st)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	st->lock_fd = -1;
	st->path = strdup(cfg->path);
	st->sync = cfg->sync == STORE_SYNC_NORMAL ? STORE_SYNC_NORMAL : STORE_SYNC_FULL;
	st->busy_timeout_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : 5000;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->gc_lock, NULL);
	pthread_cond_init(&st->gc_cond, NULL);
	pthread_cond_init(&st->gc_done, NULL);
	if (pthread_key_create(&st->key, conn_thread_exit)) {
		pthread_mutex_destroy(&st->lock);
		pthread_mutex_destroy(&st->gc_lock);
		pthread_cond_destroy(&st->gc_cond);
		pthread_cond_destroy(&st->gc_done);
		free(st->path);
		free(st);
		return ada_fail(err, ADA_ENOMEM, "store: no thread-specific key left");
	}
	if (!st->path) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	{
		const char *fail = getenv("ADALORAD_TEST_FAIL_OUTCOMES");
		st->test_fail_outcomes = fail ? atoi(fail) : 0;
	}
	if ((rc = take_lock(st, err)) || (rc = conn_get(st, &c, err)) ||
	    (!cfg->skip_integrity_check && (rc = integrity_check(c, err))) ||
	    (rc = set_wal(c, err)) || (rc = migrate(c, err)) || (rc = writer_start(st, err)))
		goto out_free;
	*out = st;
	return ADA_OK;
out_free:
	store_free(st);
	return rc;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	writer_stop(st);
	pthread_setspecific(st->key, NULL);
	conn_close_all(st);
	pthread_key_delete(st->key);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->gc_lock);
	pthread_cond_destroy(&st->gc_cond);
	pthread_cond_destroy(&st->gc_done);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->path);
	free(st);
}

int store_new_id(const char *prefix, char *buf, size_t cap, struct ada_err *err)
{
	/* 24 characters of base 32: 120 random bits, lower case, no look-alikes. */
	static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
	unsigned char r[24];
	size_t p = strlen(prefix);

	if (p + 1 + sizeof(r) + 1 > cap)
		return ada_fail(err, ADA_EINVAL, "id buffer too small");
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return ada_fail(err, ADA_EIO, "getrandom: %s", strerror(errno));
	memcpy(buf, prefix, p);
	buf[p++] = '-';
	for (size_t i = 0; i < sizeof(r); i++)
		buf[p++] = alphabet[r[i] & 31];
	buf[p] = '\0';
	return ADA_OK;
}

void store_watch_add(struct store *st, struct store_watch *w)
{
	pthread_mutex_lock(&st->lock);
	w->prev = NULL;
	w->next = st->watches;
	if (st->watches)
		st->watches->prev = w;
	st->watches = w;
	pthread_mutex_unlock(&st->lock);
}

void store_watch_remove(struct store *st, struct store_watch *w)
{
	pthread_mutex_lock(&st->lock);
	if (w->prev)
		w->prev->next = w->next;
	else if (st->watches == w)
		st->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	pthread_mutex_unlock(&st->lock);
}

void store_notify(struct store *st, const char *job_id)
{
	pthread_mutex_lock(&st->lock);
	for (struct store_watch *w = st->watches; w; w = w->next)
		if (!strcmp(w->job_id, job_id))
			w->wake(w->ctx);
	pthread_mutex_unlock(&st->lock);
}

const char *store_code_name(int code)
{
	switch (code) {
	case STORE_ECONFLICT: return "conflict";
	case STORE_EFULL:     return "limit_reached";
	}
	return ada_code_name(code);
}
