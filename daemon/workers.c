/* workers — the validator and training threads; see workers.h. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE__)
#endif

#include "log.h"
#include "util/alloc.h"
#include "util/err.h"

/* Training runs this much nicer than the HTTP threads. */
#define WORKER_NICE 10
/* A sleeping thread looks at the store this often even unwoken (a job
 * queued by another process, e.g. the sqlite3 shell). */
#define IDLE_POLL_S 5

struct worker {
	struct workers *ws;
	pthread_t thread;
	int started;
	_Atomic int stop;               /* enum ada_stop, read by the trainer */
	char job_id[STORE_ID_MAX];      /* the job it runs; "" when idle (under ws->lock) */
	int64_t epoch;                  /* the lease epoch of its claim (under ws->lock) */
	int claiming;                   /* between a claim and job_id (under ws->lock) */
};

struct workers {
	struct workers_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t reconcile_cond;  /* the reconciler's sleep, cut short by stopping */
	uint64_t generation;            /* bumped by every wake-up */
	int stopping;
	struct worker *w;
	pthread_t validator;
	int validator_started;
	struct plan_cache *cache;
	pthread_t reconciler;
	int reconciler_started;
	struct job_outcome *pending;    /* outcomes the store refused (under lock) */
};

void workers_wake(struct workers *ws)
{
	pthread_mutex_lock(&ws->lock);
	ws->generation++;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
}

void workers_cancel(struct workers *ws, const char *job_id)
{
	pthread_mutex_lock(&ws->lock);
	for (int i = 0; i < ws->cfg.n_workers; i++)
		if (!strcmp(ws->w[i].job_id, job_id))
			atomic_store_explicit(&ws->w[i].stop, ADA_STOP_CANCEL, memory_order_release);
	pthread_mutex_unlock(&ws->lock);
}

void workers_lease_lost(struct workers *ws, const char *job_id, int64_t epoch)
{
	int found = 0;

	pthread_mutex_lock(&ws->lock);
	for (int i = 0; i < ws->cfg.n_workers; i++)
		if (!strcmp(ws->w[i].job_id, job_id) && ws->w[i].epoch == epoch &&
		    atomic_load_explicit(&ws->w[i].stop, memory_order_acquire) != ADA_STOP_PAUSE) {
			atomic_store_explicit(&ws->w[i].stop, ADA_STOP_PAUSE, memory_order_release);
			found = 1;
		}
	pthread_mutex_unlock(&ws->lock);
	if (found)
		log_msg(LOG_WARN,
			"msg=\"lease lost: another daemon has the job; this run stops, its writes are refused\" job=%s epoch=%lld",
			job_id, (long long)epoch);
}

/* Sleep until woken (the generation moves past seen), stopping, or the
 * idle poll. Returns 1 when stopping. */
static int wait_for_work(struct workers *ws, uint64_t seen)
{
	struct timespec ts;
	int stopping;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += IDLE_POLL_S;
	pthread_mutex_lock(&ws->lock);
	while (!ws->stopping && ws->generation == seen)
		if (pthread_cond_timedwait(&ws->cond, &ws->lock, &ts) == ETIMEDOUT)
			break;
	stopping = ws->stopping;
	pthread_mutex_unlock(&ws->lock);
	return stopping;
}

static uint64_t generation(struct workers *ws, int *stopping)
{
	uint64_t g;

	pthread_mutex_lock(&ws->lock);
	g = ws->generation;
	*stopping = ws->stopping;
	pthread_mutex_unlock(&ws->lock);
	return g;
}

static void log_store_error(const char *what, const struct ada_err *err)
{
	char line[900] = "";

	logfmt_append(line, sizeof(line), "msg", what);
	logfmt_append(line, sizeof(line), "detail", err->msg);
	log_line(LOG_ERROR, line);
}

/* Plan one validating job: queued, or failed with the reason. */
static void validate_one(struct workers *ws, const struct store_job *j)
{
	struct job_inputs *in = malloc(sizeof(*in));
	struct ada_err err = { 0 };
	struct ada_plan plan;
	int rc;

	if (!in) {
		ada_fail(&err, ADA_ENOMEM, "out of memory");
		rc = ADA_ENOMEM;
	} else if (!(rc = job_inputs_resolve(&ws->cfg, j, in, &err))) {
		rc = plan_job(ws->cache, in, j, &plan, &err);
		/* With its data counted now, the estimate checked again. */
		if (!rc) {
			struct ada_memory mem;
			rc = ada_memory_check(&in->model.info, &in->method, plan.task, plan.num_labels,
					      ws->cfg.threads_per_worker,
					      plan.train_windows + plan.valid_windows,
					      ws->cfg.job_memory_limit, &mem, &err);
			plan.memory_bytes = mem.total;   /* this job's own (the plan may be cached) */
			if (rc) {
				size_t n = strlen(err.msg);
				snprintf(err.msg + n, sizeof(err.msg) - n,
					 " (with its data; adalorad --job-memory-limit)");
			}
		}
	}
	if (!rc) {
		const int cls = plan.task == ADA_TASK_CLASSIFICATION;
		json_t *hp = json_loads(j->hyperparameters ? j->hyperparameters : "{}", 0, NULL);
		json_t *cj = cls ? json_pack("{s:i,s:I,s:I}", "num_labels", plan.num_labels,
					     "train_examples", (json_int_t)plan.train_windows,
					     "valid_examples", (json_int_t)plan.valid_windows)
				 : NULL;
		char msg[256], *hp_text, *cls_text = cj ? json_dumps(cj, JSON_COMPACT) : NULL;
		struct store_plan sp = {
			.total_steps = plan.total_steps, .steps_per_epoch = plan.steps_per_epoch,
			.n_epochs = plan.n_epochs, .budget_initial = plan.budget_initial,
			.budget_target = plan.budget_target, .task = ada_task_name(plan.task),
			.classification = cls_text,
		};

		/* "auto" epochs become the number the plan chose, as OpenAI does. */
		if (hp && json_is_string(json_object_get(hp, "n_epochs")))
			json_object_set_new(hp, "n_epochs", json_integer(plan.n_epochs));
		hp_text = hp ? json_dumps(hp, JSON_COMPACT) : NULL;
		json_decref(hp);
		json_decref(cj);
		if (cls)
			snprintf(msg, sizeof(msg),
				 "Files validated: classification with %d %s, %lld steps (%lld epochs of %lld), %lld training examples, about %lld MiB at the peak; job queued",
				 plan.num_labels, plan.num_labels == 1 ? "output (regression)" : "labels",
				 (long long)plan.total_steps, (long long)plan.n_epochs,
				 (long long)plan.steps_per_epoch, (long long)plan.train_windows,
				 (long long)(plan.memory_bytes >> 20));
		else if (plan.task == ADA_TASK_SEQ2SEQ)
			snprintf(msg, sizeof(msg),
				 "Files validated: seq2seq, %lld steps (%lld epochs of %lld), %lld training and %lld validation examples, about %lld MiB at the peak; job queued",
				 (long long)plan.total_steps, (long long)plan.n_epochs,
				 (long long)plan.steps_per_epoch, (long long)plan.train_windows,
				 (long long)plan.valid_windows, (long long)(plan.memory_bytes >> 20));
		else
			/* the loss targets: what the data's masks leave (chat data: the
			 * assistant turns a template renders, weight 0 left out) */
			snprintf(msg, sizeof(msg),
				 "Files validated: %lld steps (%lld epochs of %lld), %lld training windows with %lld loss targets, about %lld MiB at the peak; job queued",
				 (long long)plan.total_steps, (long long)plan.n_epochs,
				 (long long)plan.steps_per_epoch, (long long)plan.train_windows,
				 (long long)plan.train_tokens, (long long)(plan.memory_bytes >> 20));
		rc = store_job_planned(ws->cfg.store, j->id, &sp, hp_text, msg, &err);
		free(hp_text);
		free(cls_text);
		if (rc == STORE_ECONFLICT)
			log_msg(LOG_INFO, "msg=job job=%s detail=\"left validation before its plan\"",
				j->id);
		else if (rc)
			log_store_error("cannot queue a planned job", &err);
		else
			log_msg(LOG_INFO, "msg=job job=%s status=queued total_steps=%lld", j->id,
				(long long)plan.total_steps);
		workers_wake(ws);
	} else {
		char *error;
		job_error_name_file(in, j, &err);
		error = job_error_json(&err, rc == ADA_ENOTFOUND && !strcmp(err.param, "model")
							   ? "model_not_found" : NULL);
		char msg[700];
		struct ada_err ferr = { 0 };

		snprintf(msg, sizeof(msg), "Validation failed: %s", err.msg);
		if (store_job_finish(ws->cfg.store, j->id, JOB_FAILED, error, NULL, "error", msg,
				     &ferr) && ferr.code != STORE_ECONFLICT)
			log_store_error("cannot fail a job", &ferr);
		else {
			char line[1000] = "";
			logfmt_append(line, sizeof(line), "msg", "job");
			logfmt_append(line, sizeof(line), "job", j->id);
			logfmt_append(line, sizeof(line), "status", "failed");
			logfmt_append(line, sizeof(line), "detail", err.msg);
			log_line(LOG_INFO, line);
		}
		free(error);
	}
	free(in);
}

/* Training and planning yield to the HTTP threads. */
static void lower_priority(void)
{
	/* Per-thread on Linux; threads created from this one (the trainer's
	 * OpenMP team) inherit it. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE))
		log_msg(LOG_DEBUG, "msg=\"cannot lower a worker's priority\" errno=%d", errno);
}

static void *validator_main(void *arg)
{
	struct workers *ws = arg;

	ada_set_threads(ws->cfg.threads_per_worker);
	lower_priority();
	for (;;) {
		struct ada_err err = { 0 };
		struct store_job j;
		int stopping, rc;
		uint64_t seen = generation(ws, &stopping);

		if (stopping)
			break;
		rc = store_job_next_validating(ws->cfg.store, &j, &err);
		if (rc == ADA_OK) {
			validate_one(ws, &j);
			store_job_release(&j);
			continue;
		}
		if (rc != ADA_ENOTFOUND)
			log_store_error("cannot read the validation queue", &err);
		if (wait_for_work(ws, seen))
			break;
	}
	store_thread_done(ws->cfg.store);
	return NULL;
}

static void keep_pending(struct workers *ws, struct job_outcome *o);

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct workers *ws = w->ws;

	ada_set_threads(ws->cfg.threads_per_worker);
	lower_priority();
	for (;;) {
		struct ada_err err = { 0 };
		struct store_job j, now;
		int stopping, rc;
		uint64_t seen = generation(ws, &stopping);

		if (stopping)
			break;
		pthread_mutex_lock(&ws->lock);
		w->claiming = 1;
		pthread_mutex_unlock(&ws->lock);
		rc = store_job_claim(ws->cfg.store, &j, &err);
		if (rc) {
			pthread_mutex_lock(&ws->lock);
			w->claiming = 0;
			pthread_mutex_unlock(&ws->lock);
		}
		if (rc == ADA_ENOTFOUND) {
			if (wait_for_work(ws, seen))
				break;
			continue;
		}
		if (rc) {
			log_store_error("cannot claim a job", &err);
			if (wait_for_work(ws, seen))
				break;
			continue;
		}
		pthread_mutex_lock(&ws->lock);
		snprintf(w->job_id, sizeof(w->job_id), "%s", j.id);
		w->epoch = j.lease_epoch;
		w->claiming = 0;
		w->stop = ws->stopping ? ADA_STOP_PAUSE : ADA_RUN;
		pthread_mutex_unlock(&ws->lock);
		/* A cancel that came between the claim and the line above found
		 * no worker to stop; the row remembers it. */
		if (!store_job_get(ws->cfg.store, j.id, &now, &err)) {
			if (now.cancel_requested)
				workers_cancel(ws, j.id);
			store_job_release(&now);
		}
		{
			struct job_outcome o = { 0 };
			job_run(&ws->cfg, &j, &w->stop, &o);
			if (o.set && job_outcome_record(ws->cfg.store, &o))
				keep_pending(ws, &o);   /* the job stays ours until recorded */
			job_outcome_release(&o);
		}
		pthread_mutex_lock(&ws->lock);
		w->job_id[0] = '\0';
		pthread_mutex_unlock(&ws->lock);
		store_job_release(&j);
	}
	store_thread_done(ws->cfg.store);
	return NULL;
}

/* Move an unrecorded outcome (its strings) into the reconciler's list. */
static void keep_pending(struct workers *ws, struct job_outcome *o)
{
	struct job_outcome *p = malloc(sizeof(*p));

	if (!p) {
		log_msg(LOG_ERROR, "msg=\"out of memory: an outcome is lost\" job=%s", o->job_id);
		return;
	}
	*p = *o;
	memset(o, 0, sizeof(*o));
	pthread_mutex_lock(&ws->lock);
	p->next = ws->pending;
	ws->pending = p;
	pthread_mutex_unlock(&ws->lock);
}

/* Write the kept outcomes once more; those recorded (or no longer
 * wanted) leave the list. */
static void retry_pending(struct workers *ws)
{
	struct job_outcome *list, *keep = NULL;

	pthread_mutex_lock(&ws->lock);
	list = ws->pending;
	ws->pending = NULL;
	pthread_mutex_unlock(&ws->lock);
	while (list) {
		struct job_outcome *o = list;
		struct ada_err err = { 0 };
		int rc = job_outcome_try(ws->cfg.store, o, &err);

		list = o->next;
		if (rc == ADA_OK || rc == STORE_ECONFLICT || rc == STORE_EFENCED) {
			job_outcome_release(o);
			free(o);
		} else {
			o->next = keep;
			keep = o;
		}
	}
	pthread_mutex_lock(&ws->lock);
	while (keep) {
		struct job_outcome *o = keep;
		keep = o->next;
		o->next = ws->pending;
		ws->pending = o;
	}
	pthread_mutex_unlock(&ws->lock);
}

/* Is the job one a worker runs, is about to run, or whose outcome waits?
 * Caller holds ws->lock; -1 while a claim is in flight (its job may not
 * show yet: try again at the next sweep). */
static int job_is_ours(struct workers *ws, const char *id)
{
	for (int i = 0; i < ws->cfg.n_workers; i++) {
		if (ws->w[i].claiming)
			return -1;
		if (!strcmp(ws->w[i].job_id, id))
			return 1;
	}
	for (struct job_outcome *o = ws->pending; o; o = o->next)
		if (!strcmp(o->job_id, id))
			return 1;
	return 0;
}

/* Jobs the store says are running that nothing here runs: re-queued. */
static void sweep_orphans(struct workers *ws)
{
	struct ada_err err = { 0 };
	char (*ids)[STORE_ID_MAX] = NULL;
	size_t n = 0;

	if (store_job_running_ids(ws->cfg.store, &ids, &n, &err)) {
		log_store_error("cannot list the running jobs", &err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_recovery rv = { 0 };
		int ours;

		pthread_mutex_lock(&ws->lock);
		ours = job_is_ours(ws, ids[i]);
		pthread_mutex_unlock(&ws->lock);
		if (ours < 0)
			break;
		if (ours)
			continue;
		if (store_job_reconcile(ws->cfg.store, ids[i], &rv, &err)) {
			log_store_error("cannot reconcile a job", &err);
			continue;
		}
		if (rv.requeued || rv.cancelled)
			log_msg(LOG_WARN,
				"msg=\"a job marked running had no worker\" job=%s status=%s", ids[i],
				rv.cancelled ? "cancelled" : "queued");
		if (rv.requeued)
			workers_wake(ws);
	}
	free(ids);
}

static void *reconciler_main(void *arg)
{
	struct workers *ws = arg;
	const int64_t interval = ws->cfg.reconcile_interval_ms > 0 ? ws->cfg.reconcile_interval_ms
								    : 30000;

	for (;;) {
		struct timespec ts;
		int stopping;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += interval / 1000;
		ts.tv_nsec += (interval % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&ws->lock);
		while (!ws->stopping &&
		       pthread_cond_timedwait(&ws->reconcile_cond, &ws->lock, &ts) != ETIMEDOUT)
			;
		stopping = ws->stopping;
		pthread_mutex_unlock(&ws->lock);
		if (stopping)
			break;
		retry_pending(ws);
		sweep_orphans(ws);
	}
	store_thread_done(ws->cfg.store);
	return NULL;
}

int workers_start(const struct workers_config *cfg, struct workers **out, struct ada_err *err)
{
	struct workers *ws = calloc(1, sizeof(*ws));
	pthread_condattr_t ca;

	*out = NULL;
	if (!ws)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	ws->cfg = *cfg;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ws->cond, &ca);
	pthread_cond_init(&ws->reconcile_cond, &ca);
	pthread_condattr_destroy(&ca);
	ws->w = xcalloc((size_t)cfg->n_workers + 1, sizeof(*ws->w));   /* 0 workers: an API daemon */
	ws->cache = plan_cache_new();
	if (!ws->w || !ws->cache) {
		workers_stop(ws);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if (pthread_create(&ws->validator, NULL, validator_main, ws)) {
		workers_stop(ws);
		return ada_fail(err, ADA_ENOMEM, "cannot start the validator thread");
	}
	ws->validator_started = 1;
	if (pthread_create(&ws->reconciler, NULL, reconciler_main, ws)) {
		workers_stop(ws);
		return ada_fail(err, ADA_ENOMEM, "cannot start the reconciler thread");
	}
	ws->reconciler_started = 1;
	for (int i = 0; i < cfg->n_workers; i++) {
		ws->w[i].ws = ws;
		if (pthread_create(&ws->w[i].thread, NULL, worker_main, &ws->w[i])) {
			workers_stop(ws);
			return ada_fail(err, ADA_ENOMEM, "cannot start worker thread %d", i);
		}
		ws->w[i].started = 1;
	}
	*out = ws;
	return ADA_OK;
}

void workers_stop(struct workers *ws)
{
	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->stopping = 1;
	for (int i = 0; ws->w && i < ws->cfg.n_workers; i++)
		if (ws->w[i].job_id[0])
			atomic_store_explicit(&ws->w[i].stop, ADA_STOP_PAUSE, memory_order_release);
	pthread_cond_broadcast(&ws->cond);
	pthread_cond_broadcast(&ws->reconcile_cond);
	pthread_mutex_unlock(&ws->lock);
	if (ws->validator_started)
		pthread_join(ws->validator, NULL);
	if (ws->reconciler_started)
		pthread_join(ws->reconciler, NULL);
	for (int i = 0; ws->w && i < ws->cfg.n_workers; i++)
		if (ws->w[i].started)
			pthread_join(ws->w[i].thread, NULL);
	/* A last try; what is still unrecorded, the next start re-queues. */
	retry_pending(ws);
	while (ws->pending) {
		struct job_outcome *o = ws->pending;
		ws->pending = o->next;
		log_msg(LOG_ERROR,
			"msg=\"an outcome is unrecorded at shutdown; the job resumes at the next start\" job=%s",
			o->job_id);
		job_outcome_release(o);
		free(o);
	}
	plan_cache_free(ws->cache);
	free(ws->w);
	pthread_cond_destroy(&ws->cond);
	pthread_cond_destroy(&ws->reconcile_cond);
	pthread_mutex_destroy(&ws->lock);
	free(ws);
}
