/*
 * store — the interface of store.h over its backends (backend.h): opening
 * by the kind of --db, dispatching each call to the backend's table, and
 * what both share: status names, ids, watchers, hooks, and freeing rows.
 */
#include "backend.h"
#include "migrations.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

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

const char *store_code_name(int code)
{
	switch (code) {
	case STORE_ECONFLICT: return "conflict";
	case STORE_EFULL:     return "limit_reached";
	case STORE_EFENCED:   return "lease_lost";
	}
	return ada_code_name(code);
}

static int is_postgres_uri(const char *s)
{
	return !strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11);
}

int store_open(const struct store_config *cfg, struct store **out, struct ada_err *err)
{
	*out = NULL;
	if (!cfg->path || !*cfg->path)
		return ada_fail(err, ADA_EINVAL, "store: no database named");
	if (is_postgres_uri(cfg->path))
		return pg_store_open(cfg, out, err);
	return sqlite_store_open(cfg, out, err);
}

void store_free(struct store *st)
{
	if (st)
		st->be->free(st);
}

void store_thread_done(struct store *st)
{
	st->be->thread_done(st);
}

int store_base_init(struct store *st, const struct store_backend *be,
		    const struct store_config *cfg, struct ada_err *err)
{
	const char *fail = getenv("ADALORAD_TEST_FAIL_OUTCOMES");

	st->be = be;
	st->test_fail_outcomes = fail ? atoi(fail) : 0;
	pthread_mutex_init(&st->watch_lock, NULL);
	if (cfg->daemon_id && *cfg->daemon_id) {
		if (strlen(cfg->daemon_id) >= sizeof(st->daemon_id))
			return ada_fail_param(err, ADA_EINVAL, "daemon_id",
					      "--daemon-id must be shorter than %zu bytes",
					      sizeof(st->daemon_id));
		snprintf(st->daemon_id, sizeof(st->daemon_id), "%s", cfg->daemon_id);
	} else {
		char host[200] = "", rnd[STORE_ID_MAX];
		int rc;
		if (gethostname(host, sizeof(host) - 1) || !host[0])
			snprintf(host, sizeof(host), "localhost");
		if ((rc = store_new_id("d", rnd, sizeof(rnd), err)))
			return rc;
		/* host-pid-xxxxxx: readable, and unique across restarts */
		snprintf(st->daemon_id, sizeof(st->daemon_id), "%s-%ld-%.6s", host, (long)getpid(),
			 rnd + 2);
	}
	return ADA_OK;
}

void store_base_release(struct store *st)
{
	pthread_mutex_destroy(&st->watch_lock);
}

int store_injected_failure(struct store *st, struct ada_err *err)
{
	int fail;

	pthread_mutex_lock(&st->watch_lock);   /* outcomes are written from many threads */
	fail = st->test_fail_outcomes > 0;
	st->test_fail_outcomes -= fail;
	pthread_mutex_unlock(&st->watch_lock);
	if (!fail)
		return ADA_OK;
	return ada_fail(err, ADA_EIO,
			"store: outcome write failed on purpose (test hook ADALORAD_TEST_FAIL_OUTCOMES)");
}

void store_crash_loop_error(const char *msg, char *buf, size_t cap)
{
	json_t *e = json_pack("{s:s,s:s,s:n}", "code", "crash_loop", "message", msg, "param");
	char *t = e ? json_dumps(e, JSON_COMPACT) : NULL;

	snprintf(buf, cap, "%s", t ? t : "null");
	free(t);
	json_decref(e);
}

int store_no_such_job(struct ada_err *err, const char *id)
{
	return ada_fail(err, ADA_ENOTFOUND, "no such job: %s", id);
}

int store_no_such_file(struct ada_err *err, const char *id)
{
	return ada_fail(err, ADA_ENOTFOUND, "no such file: %s", id);
}

int store_no_such_after(struct ada_err *err, const char *id)
{
	return ada_fail_param(err, ADA_ENOTFOUND, "after", "after: no such id: %s", id);
}

int store_file_in_use(struct ada_err *err, const char *id)
{
	return ada_fail(err, STORE_ECONFLICT, "file %s is used by a job that has not finished", id);
}

int store_fenced(struct ada_err *err, const char *job_id, int64_t epoch, const char *status,
		 int64_t now)
{
	return ada_fail(err, STORE_EFENCED,
			"job %s is no longer this run's (claimed as lease epoch %lld; the job is %s under epoch %lld): the write is refused",
			job_id, (long long)epoch, status, (long long)now);
}

int store_schema_newer(struct ada_err *err, const char *where, int have)
{
	return ada_fail(err, ADA_EUNSUPPORTED,
			"%s: schema version %d is newer than this adalorad knows (%d); upgrade adalorad",
			where, have, store_n_migrations);
}

void store_set_hooks(struct store *st, const struct store_hooks *hooks)
{
	pthread_mutex_lock(&st->watch_lock);
	st->hooks = hooks ? *hooks : (struct store_hooks){ 0 };
	pthread_mutex_unlock(&st->watch_lock);
}

/* Hooks run under watch_lock, so once store_set_hooks(st, NULL) returns
 * none is running or will run (the daemon frees what they reach after).
 * They take only the daemon's own locks, never the store's. */
void store_hook_queue(struct store *st)
{
	pthread_mutex_lock(&st->watch_lock);
	if (st->hooks.queue_changed)
		st->hooks.queue_changed(st->hooks.ctx);
	pthread_mutex_unlock(&st->watch_lock);
}

void store_hook_cancel(struct store *st, const char *job_id)
{
	pthread_mutex_lock(&st->watch_lock);
	if (st->hooks.cancel)
		st->hooks.cancel(st->hooks.ctx, job_id);
	pthread_mutex_unlock(&st->watch_lock);
}

void store_hook_lease_lost(struct store *st, const char *job_id, int64_t epoch)
{
	pthread_mutex_lock(&st->watch_lock);
	if (st->hooks.lease_lost)
		st->hooks.lease_lost(st->hooks.ctx, job_id, epoch);
	pthread_mutex_unlock(&st->watch_lock);
}

void store_warn(struct store *st, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&st->watch_lock);
	if (st->hooks.warn)
		st->hooks.warn(st->hooks.ctx, line);
	else
		fprintf(stderr, "level=warn %s\n", line);
	pthread_mutex_unlock(&st->watch_lock);
}

int store_shared(const struct store *st)
{
	return st->shared;
}

const char *store_backend_name(const struct store *st)
{
	return st->be->name;
}

const char *store_daemon_id(const struct store *st)
{
	return st->daemon_id;
}

void store_set_address(struct store *st, const char *address)
{
	st->be->set_address(st, address);
}

int store_schema_version(void)
{
	return store_n_migrations;   /* the same for both backends (embed_migrations.py) */
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

/* ---- watchers ---------------------------------------------------------- */

void store_watch_add(struct store *st, struct store_watch *w)
{
	pthread_mutex_lock(&st->watch_lock);
	w->prev = NULL;
	w->next = st->watches;
	if (st->watches)
		st->watches->prev = w;
	st->watches = w;
	pthread_mutex_unlock(&st->watch_lock);
}

void store_watch_remove(struct store *st, struct store_watch *w)
{
	pthread_mutex_lock(&st->watch_lock);
	if (w->prev)
		w->prev->next = w->next;
	else if (st->watches == w)
		st->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	pthread_mutex_unlock(&st->watch_lock);
}

void store_notify(struct store *st, const char *job_id)
{
	pthread_mutex_lock(&st->watch_lock);
	for (struct store_watch *w = st->watches; w; w = w->next)
		if (!strcmp(w->job_id, job_id))
			w->wake(w->ctx);
	pthread_mutex_unlock(&st->watch_lock);
}

void store_notify_all(struct store *st)
{
	pthread_mutex_lock(&st->watch_lock);
	for (struct store_watch *w = st->watches; w; w = w->next)
		w->wake(w->ctx);
	pthread_mutex_unlock(&st->watch_lock);
}

/* ---- rows -------------------------------------------------------------- */

void store_job_release(struct store_job *j)
{
	free(j->method);
	free(j->hyperparameters);
	free(j->metrics);
	free(j->error);
	free(j->classification);
	j->method = j->hyperparameters = j->metrics = j->error = j->classification = NULL;
}

void store_jobs_release(struct store_jobs *l)
{
	for (size_t i = 0; i < l->n; i++)
		store_job_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void store_files_release(struct store_files *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void store_events_release(struct store_events *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].message);
		free(l->v[i].data);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void store_checkpoints_release(struct store_checkpoints *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].metrics);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void store_daemons_release(struct store_daemons *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].running);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- dispatch ---------------------------------------------------------- */

int store_file_add(struct store *st, struct store_file *f, struct ada_err *err)
{
	return st->be->file_add(st, f, err);
}

int store_file_get(struct store *st, const char *id, struct store_file *f, struct ada_err *err)
{
	return st->be->file_get(st, id, f, err);
}

int store_file_list(struct store *st, const char *after, int limit, struct store_files *out,
		    struct ada_err *err)
{
	memset(out, 0, sizeof(*out));
	return st->be->file_list(st, after, limit, out, err);
}

int store_file_delete(struct store *st, const char *id, struct store_file *deleted,
		      struct ada_err *err)
{
	return st->be->file_delete(st, id, deleted, err);
}

int store_file_labels(struct store *st, const char *id, char **labels, struct ada_err *err)
{
	*labels = NULL;
	return st->be->file_labels(st, id, labels, err);
}

int store_job_create(struct store *st, const struct store_job_spec *spec, struct store_job *out,
		     struct ada_err *err)
{
	const struct job_create_args a = { spec, out };
	int rc;

	if (spec->replayed)
		*spec->replayed = 0;
	if (out)
		memset(out, 0, sizeof(*out));
	rc = st->be->job_write(st, job_machine_create, &a, 0, err);
	if (rc && out)
		store_job_release(out);
	return rc;
}

int store_job_by_idempotency_key(struct store *st, const char *key, const char *request_hash,
				 int64_t ttl_s, struct store_job *out, struct ada_err *err)
{
	struct job_machine m;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = st->be->job_machine(st, &m, err)))
		return rc;
	return job_machine_by_key(&m, key, request_hash, ttl_s, out, err);
}

int store_job_get(struct store *st, const char *id, struct store_job *out, struct ada_err *err)
{
	return st->be->job_get(st, id, out, err);
}

int store_job_version(struct store *st, const char *id, int64_t *version, struct ada_err *err)
{
	return st->be->job_version(st, id, version, err);
}

int store_job_list(struct store *st, const struct store_job_query *q, struct store_jobs *out,
		   struct ada_err *err)
{
	memset(out, 0, sizeof(*out));
	return st->be->job_list(st, q, out, err);
}

int store_job_next_validating(struct store *st, struct store_job *out, struct ada_err *err)
{
	return st->be->job_next_validating(st, out, err);
}

int store_job_planned(struct store *st, const char *id, const struct store_plan *plan,
		      const char *hyperparameters, const char *message, struct ada_err *err)
{
	const struct job_planned_args a = { id, hyperparameters, message, plan };

	return st->be->job_write(st, job_machine_planned, &a, 0, err);
}

int store_job_claim(struct store *st, struct store_job *out, struct ada_err *err)
{
	const struct job_claim_args a = { out };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = st->be->job_write(st, job_machine_claim, &a, 0, err);
	if (rc)
		store_job_release(out);
	else if (st->be->lease_held)
		st->be->lease_held(st, out->id, out->lease_epoch);
	return rc;
}

/* rc of a run's write under epoch: one refused because the run lost its
 * lease also tells the daemon, whose hook stops the run. */
static int fenced(struct store *st, int rc, const char *job_id, int64_t epoch)
{
	if (rc == STORE_EFENCED)
		store_hook_lease_lost(st, job_id, epoch);
	return rc;
}

/* Every outcome write (finish, succeeded, requeue, outcome). */
static int outcome(struct store *st, const char *id, const struct store_outcome *o,
		   enum job_status *ended, struct ada_err *err)
{
	const struct job_outcome_args a = { id, o, ended };
	const int run = o->epoch > 0;
	int rc;

	if ((rc = store_injected_failure(st, err)))
		return rc;
	/* Out of the held leases before the write, so that the heartbeat
	 * never takes the run's own end for a lease lost; back in if the
	 * write failed and will be retried. */
	if (run && st->be->lease_dropped)
		st->be->lease_dropped(st, id, o->epoch);
	rc = st->be->job_write(st, job_machine_outcome, &a, 0, err);
	if (run && (rc == ADA_EIO || rc == ADA_ENOMEM) && st->be->lease_held)
		st->be->lease_held(st, id, o->epoch);
	return rc;
}

int store_job_finish(struct store *st, const char *id, enum job_status status,
		     const char *error, const char *fine_tuned_model, const char *level,
		     const char *message, struct ada_err *err)
{
	struct store_outcome o = { .status = status, .error = error,
				   .fine_tuned_model = fine_tuned_model, .level = level,
				   .message = message };

	if (!job_status_final(status))
		return ada_fail(err, ADA_EINVAL, "%s is not a final status", job_status_name(status));
	return outcome(st, id, &o, NULL, err);
}

int store_job_succeeded(struct store *st, const char *id, const char *fine_tuned_model,
			const char *classification, const char *message, struct ada_err *err)
{
	struct store_outcome o = { .status = JOB_SUCCEEDED, .fine_tuned_model = fine_tuned_model,
				   .classification = classification, .message = message };

	return outcome(st, id, &o, NULL, err);
}

int store_job_requeue(struct store *st, const char *id, const char *message,
		      struct ada_err *err)
{
	struct store_outcome o = { .status = JOB_QUEUED, .message = message };

	return outcome(st, id, &o, NULL, err);
}

int store_job_outcome(struct store *st, const char *id, const struct store_outcome *o,
		      enum job_status *ended, struct ada_err *err)
{
	if (o->status != JOB_QUEUED && !job_status_final(o->status))
		return ada_fail(err, ADA_EINVAL, "%s is not an outcome", job_status_name(o->status));
	return fenced(st, outcome(st, id, o, ended, err), id, o->epoch);
}

int store_job_cancel(struct store *st, const char *id, struct store_job *out,
		     struct ada_err *err)
{
	const struct job_cancel_args a = { id, out };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = st->be->job_write(st, job_machine_cancel, &a, 0, err);
	if (rc)
		store_job_release(out);
	return rc;
}

int store_recover(struct store *st, int max_crashes, struct store_recovery *out,
		  struct ada_err *err)
{
	struct store_recovery rv = { 0 };
	int rc = st->be->recover(st, max_crashes, &rv, err);

	if (out)
		*out = rc ? (struct store_recovery){ 0 } : rv;
	return rc;
}

int store_job_reconcile(struct store *st, const char *id, struct store_recovery *out,
			struct ada_err *err)
{
	struct store_recovery rv = { 0 };
	int rc = st->be->job_reconcile(st, id, &rv, err);

	if (out)
		*out = rc ? (struct store_recovery){ 0 } : rv;
	return rc;
}

int store_job_running_ids(struct store *st, char (**ids)[STORE_ID_MAX], size_t *n,
			  struct ada_err *err)
{
	*ids = NULL;
	*n = 0;
	return st->be->job_running_ids(st, ids, n, err);
}

int store_job_progress(struct store *st, const char *id, int64_t epoch,
		       const struct store_progress *p, const char *type, const char *message,
		       const char *event_data, struct ada_err *err)
{
	const struct job_progress_args a = { id, type, message, event_data, p, epoch };

	return fenced(st, st->be->job_write(st, job_machine_progress, &a, 1, err), id, epoch);
}

int store_job_counts(struct store *st, int64_t counts[JOB_N_STATUS], struct ada_err *err)
{
	memset(counts, 0, sizeof(int64_t) * JOB_N_STATUS);
	return st->be->job_counts(st, counts, err);
}

int store_job_totals(struct store *st, int64_t *steps, int64_t *tokens, struct ada_err *err)
{
	*steps = *tokens = 0;
	return st->be->job_totals(st, steps, tokens, err);
}

int store_event_add(struct store *st, const char *job_id, int64_t epoch, const char *level,
		    const char *type, const char *message, const char *data,
		    struct ada_err *err)
{
	const struct job_event_args a = { job_id, level, type, message, data, epoch };

	return fenced(st, st->be->job_write(st, job_machine_event, &a, 1, err), job_id, epoch);
}

int store_event_list(struct store *st, const char *job_id, int64_t after_seq, int limit,
		     struct store_events *out, struct ada_err *err)
{
	memset(out, 0, sizeof(*out));
	return st->be->event_list(st, job_id, after_seq, limit, out, err);
}

int store_event_follow(struct store *st, const char *job_id, int64_t after_seq, int limit,
		       struct store_events *out, struct ada_err *err)
{
	memset(out, 0, sizeof(*out));
	if (st->be->event_follow)
		return st->be->event_follow(st, job_id, after_seq, limit, out, err);
	return st->be->event_list(st, job_id, after_seq < 0 ? 0 : after_seq, limit, out, err);
}

int store_event_ranks(struct store *st, const char *job_id, int history,
		      struct store_events *out, struct ada_err *err)
{
	memset(out, 0, sizeof(*out));
	return st->be->event_ranks(st, job_id, history, out, err);
}

int store_event_last(struct store *st, const char *job_id, const char *message,
		     struct store_events *out, struct ada_err *err)
{
	memset(out, 0, sizeof(*out));
	return st->be->event_last(st, job_id, message, out, err);
}

int store_checkpoint_add(struct store *st, const char *job_id, int64_t epoch, int64_t step,
			 const char *metrics, struct ada_err *err)
{
	const struct job_checkpoint_args a = { job_id, metrics, epoch, step };

	return fenced(st, st->be->job_write(st, job_machine_checkpoint, &a, 0, err), job_id, epoch);
}

int store_checkpoint_list(struct store *st, const char *job_id, int64_t after_step, int limit,
			  struct store_checkpoints *out, struct ada_err *err)
{
	memset(out, 0, sizeof(*out));
	return st->be->checkpoint_list(st, job_id, after_step, limit, out, err);
}

int store_daemon_list(struct store *st, struct store_daemons *out, struct ada_err *err)
{
	memset(out, 0, sizeof(*out));
	return st->be->daemon_list(st, out, err);
}
