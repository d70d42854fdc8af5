/* job_machine — a job's life cycle, run by both backends; see job_machine.h. */
#include "job_machine.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "util/err.h"

static int event(const struct job_machine *m, const char *id, const char *level,
		 const char *message, struct ada_err *err)
{
	return m->ops->event(m->conn, id, 0, level, "message", message, NULL, err);
}

/* out is released before it is read (a retried write reads it again). */
static int get(const struct job_machine *m, const char *id, struct store_job *out,
	       struct ada_err *err)
{
	store_job_release(out);
	return m->ops->get(m->conn, id, out, err);
}

/* Why a change of the job that matched no row was refused, from the row
 * as it is now: ADA_ENOTFOUND (no such job) or STORE_ECONFLICT. For an
 * outcome of a run (epoch > 0), STORE_EFENCED when the job moved on
 * without the run (another epoch, or out of running but not finished),
 * STORE_ECONFLICT when it already ended under it. */
static int refused(const struct job_machine *m, const char *id, int64_t epoch, const char *what,
		   struct ada_err *err)
{
	struct store_job j = { 0 };
	int rc = get(m, id, &j, err);

	if (rc)
		return rc;
	if (epoch > 0 && (j.lease_epoch != epoch || !job_status_final(j.status)))
		rc = m->ops->fence_refused(m->conn, id, epoch, err);
	else
		rc = ada_fail_param(err, STORE_ECONFLICT, "status", "job %s is %s: cannot %s", id,
				    job_status_name(j.status), what);
	store_job_release(&j);
	return rc;
}

static void notify_job(char *notify, const char *id)
{
	snprintf(notify, STORE_ID_MAX, "%s", id);
}

/* The job recorded under key less than ttl_s ago: ADA_OK with its id,
 * STORE_ECONFLICT when it came with another request_hash, ADA_ENOTFOUND. */
static int key_lookup(const struct job_machine *m, const char *key, const char *hash,
		      int64_t ttl_s, char job_id[STORE_ID_MAX], struct ada_err *err)
{
	int rc, same = 0;

	rc = m->ops->key_get(m->conn, key, (int64_t)time(NULL) - ttl_s, hash, job_id, &same, err);
	if (rc || same)
		return rc;
	return ada_fail_param(err, STORE_ECONFLICT, "Idempotency-Key",
			      "Idempotency-Key %s was used for another request (job %s); a key names one request: use a new key for a new request",
			      key, job_id);
}

static int file_exists(const struct job_machine *m, const char *id, const char *param,
		       struct ada_err *err)
{
	int rc = m->ops->file_exists(m->conn, id, err);

	if (rc == ADA_ENOTFOUND)
		return ada_fail_param(err, ADA_ENOTFOUND, param, "%s: no such file: %s", param, id);
	return rc;
}

static int queued(const struct job_machine *m, struct ada_err *err)
{
	return m->ops->queued ? m->ops->queued(m->conn, err) : ADA_OK;
}

int job_machine_create(const struct job_machine *m, const void *create_args, char *notify,
		       struct ada_err *err)
{
	const struct job_create_args *a = create_args;
	const struct store_job_spec *spec = a->spec;
	const int64_t now = (int64_t)time(NULL);
	char msg[160];
	int64_t waiting;
	int rc;

	if (spec->idempotency_key) {
		char prior[STORE_ID_MAX];
		rc = key_lookup(m, spec->idempotency_key, spec->request_hash,
				spec->idempotency_ttl_s, prior, err);
		if (rc == ADA_OK) {
			/* A retry: the job the key made, and nothing new. */
			if (spec->replayed)
				*spec->replayed = 1;
			return a->out ? get(m, prior, a->out, err) : ADA_OK;
		}
		if (rc != ADA_ENOTFOUND)
			return rc;
	}
	if ((rc = file_exists(m, spec->training_file, "training_file", err)) ||
	    (spec->validation_file &&
	     (rc = file_exists(m, spec->validation_file, "validation_file", err))))
		return rc;
	if (spec->max_waiting > 0) {
		if ((rc = m->ops->count_waiting(m->conn, &waiting, err)))
			return rc;
		if (waiting >= spec->max_waiting)
			return ada_fail(err, STORE_EFULL,
					"%lld jobs are already waiting; try again later",
					(long long)waiting);
	}
	if ((rc = m->ops->insert(m->conn, spec, now, err)))
		return rc;
	snprintf(msg, sizeof(msg), "Created fine-tuning job: %s", spec->id);
	if ((rc = event(m, spec->id, "info", msg, err)))
		return rc;
	snprintf(msg, sizeof(msg), "Validating training file: %s", spec->training_file);
	if ((rc = event(m, spec->id, "info", msg, err)) ||
	    (spec->idempotency_key &&
	     (rc = m->ops->key_put(m->conn, spec, now, now - spec->idempotency_ttl_s, err))) ||
	    (rc = queued(m, err)))
		return rc;
	/* (The row is read inside the write: store.c drops it if the commit
	 * failed.) */
	if (a->out && (rc = get(m, spec->id, a->out, err)))
		return rc;
	notify_job(notify, spec->id);
	return ADA_OK;
}

int job_machine_by_key(const struct job_machine *m, const char *key, const char *request_hash,
		       int64_t ttl_s, struct store_job *out, struct ada_err *err)
{
	char id[STORE_ID_MAX];
	int rc = key_lookup(m, key, request_hash, ttl_s, id, err);

	if (rc == ADA_ENOTFOUND)
		return ada_fail_param(err, ADA_ENOTFOUND, "Idempotency-Key", "no job under key %s",
				      key);
	return rc ? rc : get(m, id, out, err);
}

int job_machine_planned(const struct job_machine *m, const void *planned_args, char *notify,
			struct ada_err *err)
{
	const struct job_planned_args *a = planned_args;
	int rc = m->ops->planned(m->conn, a->id, a->plan, a->hyperparameters, err);

	if (rc == ADA_ENOTFOUND)
		rc = refused(m, a->id, 0, "queue it", err);
	/* Always an event: last_event must move with every change of the row. */
	if (!rc)
		rc = event(m, a->id, "info", a->message ? a->message : "queue it", err);
	if (!rc)
		rc = queued(m, err);
	if (!rc)
		notify_job(notify, a->id);
	return rc;
}

int job_machine_claim(const struct job_machine *m, const void *claim_args, char *notify,
		      struct ada_err *err)
{
	struct store_job *out = ((const struct job_claim_args *)claim_args)->out;
	char id[STORE_ID_MAX], msg[128];
	int64_t attempt = 0;
	int rc;

	/* The claim itself is one UPDATE ... RETURNING; the attempt it counts
	 * is on disk before the run starts. */
	rc = m->ops->claim(m->conn, (int64_t)time(NULL), id, &attempt, err);
	if (rc == ADA_ENOTFOUND)
		return ada_fail(err, ADA_ENOTFOUND, "no job is queued");
	if (rc)
		return rc;
	if (attempt == 1)
		snprintf(msg, sizeof(msg), "Fine-tuning job started");
	else
		snprintf(msg, sizeof(msg),
			 "Fine-tuning job resumed from its last checkpoint (attempt %lld)",
			 (long long)attempt);
	if ((rc = event(m, id, "info", msg, err)) || (rc = get(m, id, out, err)))
		return rc;
	notify_job(notify, id);
	return ADA_OK;
}

/* A finish or a re-queue (its UPDATE ... RETURNING the status the row
 * got), then its event. The status got may be "cancelled" rather than
 * asked: a pending cancel won, and the event says so. */
int job_machine_outcome(const struct job_machine *m, const void *outcome_args, char *notify,
			struct ada_err *err)
{
	const struct job_outcome_args *a = outcome_args;
	const char *id = a->id;
	const struct store_outcome *o = a->o;
	const int64_t now = (int64_t)time(NULL), epoch = o->epoch > 0 ? o->epoch : 0;
	const char *what, *level, *message = o->message;
	char status[32] = "", msg[900];
	int rc, got;

	if (o->status == JOB_QUEUED) {
		what = "re-queue it";
		level = "info";
		rc = m->ops->requeue(m->conn, id, now, epoch, status, err);
	} else {
		const int ok = o->status == JOB_SUCCEEDED;
		const struct job_finish_row f = {
			.id = id, .status = job_status_name(o->status), .finished_at = now,
			.error = o->status == JOB_FAILED ? o->error : NULL,
			.fine_tuned_model = ok ? o->fine_tuned_model : NULL,
			.classification = ok ? o->classification : NULL, .epoch = epoch,
			.output_dir = ok && o->output_dir && *o->output_dir ? o->output_dir : NULL,
		};
		what = "finish it";
		level = o->level ? o->level : "info";
		rc = m->ops->finish(m->conn, &f, status, err);
	}
	if (rc == ADA_ENOTFOUND)
		return refused(m, id, o->epoch, what, err);
	if (rc)
		return rc;
	got = job_status_from_name(status);
	if (got != (int)o->status) {
		snprintf(msg, sizeof(msg),
			 "Fine-tuning job cancelled (the cancel requested before the run ended wins; the run: %s)",
			 message ? message : what);
		message = msg;
		level = "info";
	}
	if (a->ended)
		*a->ended = got < 0 ? JOB_FAILED : (enum job_status)got;
	if ((rc = event(m, id, level, message ? message : what, err)) ||
	    (got == JOB_QUEUED && (rc = queued(m, err))))
		return rc;
	notify_job(notify, id);
	return ADA_OK;
}

int job_machine_cancel(const struct job_machine *m, const void *cancel_args, char *notify,
		       struct ada_err *err)
{
	const struct job_cancel_args *a = cancel_args;
	const char *id = a->id;
	struct store_job *out = a->out;
	enum job_status status;
	int rc;

	if ((rc = get(m, id, out, err)))
		return rc;
	status = out->status;
	store_job_release(out);
	if (job_status_final(status))
		return ada_fail_param(err, STORE_ECONFLICT, "status", "job %s has already %s", id,
				      job_status_name(status));
	if (status == JOB_RUNNING) {
		rc = m->ops->cancel_request(m->conn, id, err);
		if (rc == ADA_OK)
			rc = event(m, id, "info",
				   "Cancellation requested: the job stops at its next step", err);
		else if (rc == ADA_ENOTFOUND)
			rc = ADA_OK;   /* already requested */
		/* Whichever daemon runs it stops it. */
		if (!rc && m->ops->cancelling)
			rc = m->ops->cancelling(m->conn, id, err);
	} else {
		rc = m->ops->cancel_now(m->conn, id, (int64_t)time(NULL), err);
		if (rc == ADA_OK)
			rc = event(m, id, "info", "Fine-tuning job cancelled", err);
	}
	if (rc || (rc = get(m, id, out, err)))
		return rc;
	notify_job(notify, id);
	return ADA_OK;
}

int job_machine_progress(const struct job_machine *m, const void *progress_args, char *notify,
			 struct ada_err *err)
{
	const struct job_progress_args *a = progress_args;
	int rc;

	if ((rc = m->ops->event(m->conn, a->id, a->epoch, "info", a->type, a->message, a->data,
				err)) ||
	    (rc = m->ops->progress(m->conn, a->id, a->p, err)))
		return rc;
	notify_job(notify, a->id);
	return ADA_OK;
}

int job_machine_event(const struct job_machine *m, const void *event_args, char *notify,
		      struct ada_err *err)
{
	const struct job_event_args *a = event_args;
	int rc = m->ops->event(m->conn, a->id, a->epoch, a->level, a->type, a->message, a->data,
			       err);

	if (!rc)
		notify_job(notify, a->id);
	return rc;
}

int job_machine_checkpoint(const struct job_machine *m, const void *checkpoint_args,
			   char *notify, struct ada_err *err)
{
	const struct job_checkpoint_args *a = checkpoint_args;
	int rc;

	(void)notify;   /* a checkpoint is no event: nothing to wake */
	if ((rc = m->ops->fence_check(m->conn, a->id, a->epoch, err)))
		return rc;
	return m->ops->checkpoint(m->conn, a->id, a->step, (int64_t)time(NULL), a->metrics, err);
}

int job_machine_run(const struct job_machine_call *call, const struct job_machine_ops *ops,
		    void *conn, char *notify, struct ada_err *err)
{
	const struct job_machine m = { ops, conn };

	return call->fn(&m, call->args, notify, err);
}

/* ---- recovery ------------------------------------------------------------ */

void job_recovery_decide(struct job_recovery *r, int cancel, int counts, int max_crashes,
			 int64_t crashes, const char *owner)
{
	const char *who = owner && *owner ? owner : "unknown";

	r->error[0] = '\0';
	r->level = "info";
	if (cancel) {
		r->action = JOB_RECOVER_CANCEL;
		snprintf(r->message, sizeof(r->message), "Fine-tuning job cancelled (%s)",
			 !counts ? "its run ended without recording it"
			 : owner ? "its daemon stopped before the job could"
				 : "the daemon stopped before the job could");
	} else if (counts && max_crashes > 0 && crashes + 1 >= max_crashes) {
		r->action = JOB_RECOVER_FAIL;
		r->level = "error";
		if (owner)
			snprintf(r->message, sizeof(r->message),
				 "The daemon running this job (%s) stopped abnormally, the %lld-th time a daemon died while this job ran (killed for lack of memory? see its log); it is not run again (--max-attempts %d)",
				 who, (long long)crashes + 1, max_crashes);
		else
			snprintf(r->message, sizeof(r->message),
				 "The daemon stopped abnormally %lld times while this job ran (killed for lack of memory? see the daemon's log); it is not run again (--max-attempts %d)",
				 (long long)crashes + 1, max_crashes);
		store_crash_loop_error(r->message, r->error, sizeof(r->error));
	} else {
		r->action = JOB_RECOVER_QUEUE;
		if (!counts)
			snprintf(r->message, sizeof(r->message),
				 "Job re-queued: it was marked running but no worker ran it (its outcome was never recorded); it resumes from its last checkpoint");
		else if (owner)
			snprintf(r->message, sizeof(r->message),
				 "The lease of daemon %s expired (it was killed, hung, or lost the database): job re-queued; it resumes from its last checkpoint",
				 who);
		else
			snprintf(r->message, sizeof(r->message),
				 "The daemon restarted: job re-queued; it resumes from its last checkpoint");
	}
}

void job_recovery_count(const struct job_recovery *r, struct store_recovery *out)
{
	if (r->action == JOB_RECOVER_CANCEL)
		out->cancelled++;
	else if (r->action == JOB_RECOVER_FAIL)
		out->failed++;
	else
		out->requeued++;
}
