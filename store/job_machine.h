/*
 * job_machine — a job's life cycle as both backends run it (internal to
 * store/): creation (its Idempotency-Key, its files, the queue's limit),
 * planning, the claim, a run's outcome (and the cancel that wins over
 * it), the cancel, progress; why a change that matched no row was
 * refused; and what recovery does with a job left running, and says.
 *
 *   validating_files -> queued -> running -> succeeded | failed | cancelled
 *   validating_files | queued -> cancelled      (cancel)
 *   validating_files -> failed                  (the plan refused the job)
 *   running -> queued                           (shutdown, or a restart)
 *   running -> failed                           (a restart, after too many crashes)
 *
 * A run's writes (its events, progress, checkpoints and outcome) go
 * through here too: each is refused once the run lost its lease.
 *
 * SQLite and PostgreSQL run the same machine and write the same events,
 * which clients read; only their statements differ. So store.c runs
 * these functions in a backend's own write (SQLite: a savepoint of the
 * writer's batch; PostgreSQL: pg_tx, which may run them again: they
 * release what an earlier try left in their outputs), and the backend
 * hands them its statements as struct job_machine_ops, one function per
 * statement that binds, runs and reads it.
 *
 * Every transition is one transaction that also appends the job's event,
 * and each UPDATE names the state it leaves in its WHERE clause, so two
 * writers racing (a cancel and a worker finishing) cannot both win; the
 * one that matched nothing is refused here. A cancel that was answered
 * 200 wins: a running job with cancel_requested ends cancelled whatever
 * its run's outcome (it may have finished training in the meantime), and
 * is not re-queued by a pause or a restart. Each claim bumps the job's
 * lease epoch; a run's writes name their epoch and match only while the
 * job runs under it (fencing, store.h).
 */
#ifndef ADALORAD_STORE_JOB_MACHINE_H
#define ADALORAD_STORE_JOB_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* What a finish writes (job_machine_outcome fills it from the outcome). */
struct job_finish_row {
	const char *id;
	const char *status;             /* asked: succeeded, failed or cancelled */
	int64_t finished_at;
	const char *error;              /* failed: JSON; else NULL */
	const char *fine_tuned_model;   /* succeeded; else NULL */
	const char *classification;     /* succeeded: JSON, or NULL to keep; else NULL */
	int64_t epoch;                  /* the run's; 0 = not a run's (no fencing) */
	const char *output_dir;         /* succeeded, when not ""; else NULL */
};

/* A backend's statements, on its connection conn. Those marked "(row)"
 * return ADA_ENOTFOUND, err untouched, when their statement matched no
 * row; every one returns the driver's failure in err. */
struct job_machine_ops {
	/* The job (ADA_ENOTFOUND with err filled when there is none). */
	int (*get)(void *conn, const char *id, struct store_job *out, struct ada_err *err);
	/* Append an event; a run's (epoch > 0) only while it holds the job. */
	int (*event)(void *conn, const char *job_id, int64_t epoch, const char *level,
		     const char *type, const char *message, const char *data, struct ada_err *err);
	/* Why a run's write under epoch matched nothing (STORE_EFENCED). */
	int (*fence_refused)(void *conn, const char *job_id, int64_t epoch, struct ada_err *err);
	/* ADA_OK while the job runs under epoch (or epoch is 0), else as above. */
	int (*fence_check)(void *conn, const char *job_id, int64_t epoch, struct ada_err *err);
	/* Record a checkpoint (a repeated step replaces the row). */
	int (*checkpoint)(void *conn, const char *job_id, int64_t step, int64_t now,
			  const char *metrics, struct ada_err *err);
	/* (row) The job recorded under key at since or later, and *same: whether
	 * with request hash hash (NULL = ""). */
	int (*key_get)(void *conn, const char *key, int64_t since, const char *hash,
		       char job_id[STORE_ID_MAX], int *same, struct ada_err *err);
	/* Forget the keys recorded before expire_before; record key for the job. */
	int (*key_put)(void *conn, const struct store_job_spec *spec, int64_t now,
		       int64_t expire_before, struct ada_err *err);
	int (*file_exists)(void *conn, const char *id, struct ada_err *err);   /* (row) */
	/* Jobs validating or queued. */
	int (*count_waiting)(void *conn, int64_t *n, struct ada_err *err);
	/* A new row, validating_files. */
	int (*insert)(void *conn, const struct store_job_spec *spec, int64_t now,
		      struct ada_err *err);
	/* (row) validating_files -> queued with the plan. */
	int (*planned)(void *conn, const char *id, const struct store_plan *plan,
		       const char *hyperparameters, struct ada_err *err);
	/* (row) The oldest queued job -> running: its id, and the attempt it is. */
	int (*claim)(void *conn, int64_t now, char id[STORE_ID_MAX], int64_t *attempt,
		     struct ada_err *err);
	/* (row) validating_files | running -> f->status, or cancelled when a
	 * cancel is pending: the status it got (32 bytes). */
	int (*finish)(void *conn, const struct job_finish_row *f, char *status,
		      struct ada_err *err);
	/* (row) running (under epoch, if > 0) -> queued, or cancelled as above. */
	int (*requeue)(void *conn, const char *id, int64_t now, int64_t epoch, char *status,
		       struct ada_err *err);
	/* (row) A running job whose cancel is not yet requested gets it. */
	int (*cancel_request)(void *conn, const char *id, struct ada_err *err);
	/* (row) validating_files | queued -> cancelled. */
	int (*cancel_now)(void *conn, const char *id, int64_t now, struct ada_err *err);
	/* The job's progress columns. */
	int (*progress)(void *conn, const char *id, const struct store_progress *p,
			struct ada_err *err);
	/* Tell the other daemons (PostgreSQL's NOTIFY, sent at the commit): a
	 * job was created or queued; a running job's cancel was requested.
	 * NULL for SQLite's one daemon. */
	int (*queued)(void *conn, struct ada_err *err);
	int (*cancelling)(void *conn, const char *job_id, struct ada_err *err);
};

/* A backend's table: its statement functions named prefix<member> (m_get,
 * m_key_get, ...), then by name those its events.c has (event,
 * fence_refused, fence_check, checkpoint) and, if it has them, queued and
 * cancelling. */
#define JOB_MACHINE_STATEMENTS(prefix)                                                       \
	.get = prefix##get, .key_get = prefix##key_get, .key_put = prefix##key_put,           \
	.file_exists = prefix##file_exists, .count_waiting = prefix##count_waiting,           \
	.insert = prefix##insert, .planned = prefix##planned, .claim = prefix##claim,         \
	.finish = prefix##finish, .requeue = prefix##requeue,                                 \
	.cancel_request = prefix##cancel_request, .cancel_now = prefix##cancel_now,           \
	.progress = prefix##progress

/* A backend's connection and its statements, for the call. */
struct job_machine {
	const struct job_machine_ops *ops;
	void *conn;
};

/* The writes, each with its arguments in one struct (args). Each runs in
 * one transaction of the backend's (backend.h's job_write) and may name in
 * notify (STORE_ID_MAX bytes) the job whose watchers are woken after the
 * commit. What they do is store.h's store_job_* and store_event_add. */
typedef int job_machine_write(const struct job_machine *m, const void *args, char *notify,
			      struct ada_err *err);
typedef job_machine_write *job_machine_fn;

struct job_create_args {
	const struct store_job_spec *spec;
	struct store_job *out;                  /* may be NULL */
};
struct job_planned_args {
	const char *id, *hyperparameters, *message;
	const struct store_plan *plan;
};
struct job_claim_args {
	struct store_job *out;                  /* the job claimed */
};
struct job_outcome_args {
	const char *id;
	const struct store_outcome *o;
	enum job_status *ended;                 /* may be NULL */
};
struct job_cancel_args {
	const char *id;
	struct store_job *out;
};
struct job_progress_args {
	const char *id, *type, *message, *data;
	const struct store_progress *p;
	int64_t epoch;
};
struct job_event_args {
	const char *id, *level, *type, *message, *data;
	int64_t epoch;
};
struct job_checkpoint_args {
	const char *id, *metrics;
	int64_t epoch, step;
};

/* args: the struct job_<name>_args of each (job_machine_create's is a
 * struct job_create_args, ...). */
job_machine_write job_machine_create, job_machine_planned, job_machine_claim,
	job_machine_outcome, job_machine_cancel, job_machine_progress, job_machine_event,
	job_machine_checkpoint;

/* A backend's write function runs a call with its connection as m. */
struct job_machine_call {
	job_machine_fn fn;
	const void *args;
};
int job_machine_run(const struct job_machine_call *call, const struct job_machine_ops *ops,
		    void *conn, char *notify, struct ada_err *err);

/* A read, on any connection: store_job_by_idempotency_key. */
int job_machine_by_key(const struct job_machine *m, const char *key, const char *request_hash,
		       int64_t ttl_s, struct store_job *out, struct ada_err *err);

/* ---- recovery ------------------------------------------------------------ */

/* What recovery does with a job left running, and the event it writes. */
struct job_recovery {
	enum { JOB_RECOVER_QUEUE, JOB_RECOVER_CANCEL, JOB_RECOVER_FAIL } action;
	const char *level;      /* of the event */
	char message[600];
	char error[900];        /* JOB_RECOVER_FAIL: the crash_loop error, JSON */
};

/* A job left running (cancel: one is pending; crashes: its crashes so
 * far) is cancelled when a cancel is pending, failed at its max_crashes-th
 * crash (0: never), else queued again to resume from its checkpoint.
 * counts: a sweep after a crash (a start, a lease that expired), which
 * counts as one of its crashes; else a reconcile (its run's outcome was
 * never recorded), which fails nothing. owner: NULL for SQLite's one
 * daemon, else the daemon whose lease expired ("" when unknown). */
void job_recovery_decide(struct job_recovery *r, int cancel, int counts, int max_crashes,
			 int64_t crashes, const char *owner);
/* Count r's action in out. */
void job_recovery_count(const struct job_recovery *r, struct store_recovery *out);

#endif
