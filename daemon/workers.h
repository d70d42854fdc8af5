/*
 * workers — the threads that turn stored jobs into adapters.
 *
 * One validator thread takes jobs in validating_files, in creation order,
 * and plans them (ada_job_plan: tokenizes the data, computes the total
 * steps, checks what needs data and weights), moving each to queued or
 * failed. N worker threads claim queued jobs (one atomic UPDATE in the
 * store) and run ada_train on them; the trainer's callbacks become the
 * job's events. Each worker trains with its share of the BLAS threads
 * (--blas-threads / --workers, so cores are not oversubscribed) and at a
 * lower scheduling priority than the HTTP threads, so the API stays quick
 * while every core trains.
 *
 * A reconciler thread sweeps every --reconcile-interval: outcomes the
 * store refused are written again (outcome.c), and a job the store says is
 * running but that no worker runs is re-queued (or cancelled, if a cancel
 * is pending).
 *
 * Stopping: a cancel raises one worker's stop flag (ADA_STOP_CANCEL);
 * shutdown raises all of them (ADA_STOP_PAUSE): the trainer checkpoints at
 * its next step boundary and the job goes back to the queue, to resume
 * bit for bit at the next start.
 */
#ifndef ADALORAD_DAEMON_WORKERS_H
#define ADALORAD_DAEMON_WORKERS_H

#include "adalora.h"
#include "launch.h"
#include "models.h"
#include "store.h"

struct workers_config {
	struct store *store;        /* borrowed */
	struct models *models;      /* borrowed */
	const char *files_dir;      /* uploads, by their stored names */
	const char *jobs_dir;       /* a job's outputs: jobs_dir/<job id>/ */
	int n_workers;
	int threads_per_worker;
	int64_t reconcile_interval_ms;  /* between sweeps for lost outcomes; 0 = 30 s */
	int64_t job_memory_limit;       /* a job's estimated peak memory, bytes; 0 = no limit */
	/* jobs of several processes (launch.h); NULL: --max-processes 1 */
	const struct launch_config *launch;
	/* the store is shared with other daemons (store_shared): each run
	 * writes into jobs_dir/<id>/run-<epoch>/ and starts from the newest
	 * checkpoint of the runs before it (run_dir.c) */
	int run_dirs;
};

struct workers;

/* Start the validator and the workers; cfg's strings must outlive them. */
int workers_start(const struct workers_config *cfg, struct workers **out, struct ada_err *err);
/* A job was created (plan it) or queued (claim it). */
void workers_wake(struct workers *ws);
/* Stop the job if a worker runs it (its row already says cancel_requested). */
void workers_cancel(struct workers *ws, const char *job_id);
/* The run of job_id claimed with epoch lost its lease (another daemon has
 * the job): stop it; its writes are refused, its outcome dropped. */
void workers_lease_lost(struct workers *ws, const char *job_id, int64_t epoch);
/* Pause running jobs (they checkpoint and re-queue), join every thread, free. */
void workers_stop(struct workers *ws);

/* ---- one job (job_run.c) ---------------------------------------------- */

/* What a stored job needs to run: resolved paths and the parsed method. */
struct job_inputs {
	struct model_entry model;
	char train_path[4096];
	char valid_path[4096];      /* "" = none */
	char out_dir[4096];
	struct ada_method method;
};

int job_inputs_resolve(const struct workers_config *cfg, const struct store_job *j,
		       struct job_inputs *in, struct ada_err *err);
/* An ada_job over in (borrowed: in must outlive job). */
void job_inputs_to_job(const struct job_inputs *in, const struct store_job *j,
		       struct ada_job *job);

/* How a run ended, to be recorded (outcome.c); owns its strings. */
struct job_outcome {
	int set;
	char job_id[STORE_ID_MAX];
	enum job_status status;         /* succeeded, failed, cancelled; queued = paused */
	char *error, *model, *classification, *message;
	char level[16];
	int64_t epoch;                  /* the run's lease epoch (fencing) */
	char output_dir[32];            /* succeeded: store_job.output_dir */
	struct job_outcome *next;       /* the reconciler's list */
};

void job_outcome_set(struct job_outcome *o, const char *job_id, enum job_status status,
		     const char *error, const char *model, const char *classification,
		     const char *level, const char *message);
void job_outcome_release(struct job_outcome *o);
/* One write: ADA_OK (logged), STORE_ECONFLICT (the job is no longer
 * running; logged, nothing to retry), STORE_EFENCED (the run lost its
 * lease: another daemon has the job; logged, nothing to retry) or the
 * store's failure. */
int job_outcome_try(struct store *st, const struct job_outcome *o, struct ada_err *err);
/* Write it, retrying with backoff a few seconds; ADA_OK, or the last
 * failure when it is still unrecorded. */
int job_outcome_record(struct store *st, const struct job_outcome *o);

/* Train a claimed (running) job to its end: *out says how it ended
 * (succeeded, failed, cancelled, or queued when paused), for the caller to
 * record. */
void job_run(const struct workers_config *cfg, const struct store_job *j,
	     const _Atomic int *stop, struct job_outcome *out);

/* ---- a run's directory (run_dir.c) --------------------------------------- */

/* in->out_dir for a run of j: jobs_dir/<id>, or with cfg->run_dirs
 * jobs_dir/<id>/run-<epoch>; *output_dir (cap bytes) gets what the job's
 * row records for it ("" or "run-<epoch>"). */
void run_dir_name(const struct workers_config *cfg, const struct store_job *j, char *out_dir,
		  size_t out_cap, char *output_dir, size_t cap);
/* Before a run in its own directory: when it has no checkpoint yet, hard
 * links (or copies) the newest checkpoint of the job's earlier runs into
 * it, so the run resumes where the last one stopped. */
int run_dir_prepare(const char *out_dir, struct ada_err *err);

/* lib names files by their paths in errors: a data file becomes its id
 * (and, when the error has no param yet, blames "training_file" or
 * "validation_file"), the model its id, the job's own files their place in
 * its directory, and any other absolute path its last component: no
 * server path reaches a client. in may be NULL (only the last applies). */
void job_error_name_file(const struct job_inputs *in, const struct store_job *j,
			 struct ada_err *err);

/* The error object a failed job records ({code, message, param}, JSON text). */
char *job_error_json(const struct ada_err *err, const char *code);

/* ---- planning (plan.c) ------------------------------------------------- */

struct plan_cache;

struct plan_cache *plan_cache_new(void);
void plan_cache_free(struct plan_cache *c);
/* The plan of a job (ada_job_plan), from the cache when the model, files
 * and data-shaping hyperparameters match an earlier job; the budget
 * schedule is re-checked against the job's own settings either way. */
int plan_job(struct plan_cache *c, const struct job_inputs *in, const struct store_job *j,
	     struct ada_plan *plan, struct ada_err *err);

#endif
