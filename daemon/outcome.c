/*
 * outcome — recording how a job's run ended, even when the store refuses
 * for a while.
 *
 * A run that ends is worth its whole training: if the one write saying so
 * fails (a full disk, a locked database), the job must not stay "running"
 * forever with no worker behind it (SSE never sends done, /healthz counts
 * it). So the write is retried with a doubling backoff, a few seconds in
 * all; if the store still refuses, the outcome is kept in memory and the
 * reconciler (workers.c) tries again at every sweep. An outcome the store
 * answers with STORE_ECONFLICT is dropped: the job is no longer running
 * (someone else decided its fate); so is one answered STORE_EFENCED: the
 * run lost its lease, and another daemon runs the job now. Should the daemon stop with an outcome
 * still unrecorded, the next start finds the job running and re-queues it:
 * it resumes from its checkpoint, nothing acknowledged is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util/err.h"
#include "workers.h"

#define RETRIES 6               /* tries after the first */
#define FIRST_BACKOFF_MS 100    /* then doubling: 6.3 s in all */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void job_outcome_set(struct job_outcome *o, const char *job_id, enum job_status status,
		     const char *error, const char *model, const char *classification,
		     const char *level, const char *message)
{
	job_outcome_release(o);
	snprintf(o->job_id, sizeof(o->job_id), "%s", job_id);
	snprintf(o->level, sizeof(o->level), "%s", level ? level : "info");
	o->status = status;
	o->error = dup_or_null(error);
	o->model = dup_or_null(model);
	o->classification = dup_or_null(classification);
	o->message = dup_or_null(message);
	o->set = 1;
}

void job_outcome_release(struct job_outcome *o)
{
	free(o->error);
	free(o->model);
	free(o->classification);
	free(o->message);
	memset(o, 0, sizeof(*o));
}

static void log_recorded(const struct job_outcome *o, enum job_status ended)
{
	char line[1200] = "";

	logfmt_append(line, sizeof(line), "msg", "job");
	logfmt_append(line, sizeof(line), "job", o->job_id);
	logfmt_append(line, sizeof(line), "status", job_status_name(ended));
	if (ended != o->status)
		logfmt_append(line, sizeof(line), "detail", "a cancel requested before the end won");
	else if (o->message)
		logfmt_append(line, sizeof(line), "detail", o->message);
	log_line(LOG_INFO, line);
}

static void log_not_recorded(const struct job_outcome *o, const struct ada_err *err,
			     const char *what)
{
	char line[1200] = "";

	logfmt_append(line, sizeof(line), "msg", what);
	logfmt_append(line, sizeof(line), "job", o->job_id);
	logfmt_append(line, sizeof(line), "status", job_status_name(o->status));
	logfmt_append(line, sizeof(line), "detail", err->msg);
	log_line(LOG_ERROR, line);
}

int job_outcome_try(struct store *st, const struct job_outcome *o, struct ada_err *err)
{
	struct store_outcome so = {
		.status = o->status, .error = o->error, .fine_tuned_model = o->model,
		.classification = o->classification, .level = o->level, .message = o->message,
		.epoch = o->epoch, .output_dir = o->output_dir,
	};
	enum job_status ended = o->status;
	int rc = store_job_outcome(st, o->job_id, &so, &ended, err);

	if (!rc)
		log_recorded(o, ended);
	else if (rc == STORE_ECONFLICT)
		log_not_recorded(o, err, "the outcome of a job that is no longer running is dropped");
	else if (rc == STORE_EFENCED)
		log_not_recorded(o, err,
				 "the outcome of a run that lost its lease is dropped (another daemon has the job)");
	return rc;
}

int job_outcome_record(struct store *st, const struct job_outcome *o)
{
	struct ada_err err = { 0 };
	long wait_ms = FIRST_BACKOFF_MS;
	int rc;

	for (int attempt = 0;; attempt++) {
		rc = job_outcome_try(st, o, &err);
		if (rc == ADA_OK || rc == STORE_ECONFLICT || rc == STORE_EFENCED)
			return ADA_OK;
		if (attempt == RETRIES)
			break;
		log_not_recorded(o, &err, "cannot record the end of a job; retrying");
		nanosleep(&(struct timespec){ wait_ms / 1000, (wait_ms % 1000) * 1000000L }, NULL);
		wait_ms *= 2;
	}
	log_not_recorded(o, &err,
			 "cannot record the end of a job; kept to retry at the next reconciliation");
	return rc;
}
