/*
 * store — the daemon's durable state: uploaded files, fine-tuning jobs,
 * their events and checkpoints, in one SQLite database (store/sqlite/, the
 * default: one daemon) or one PostgreSQL database (store/postgresql/:
 * several daemons share its queue; see "Many daemons" below).
 *
 * The store owns every line of SQL in the daemon; api/ and daemon/ see rows
 * as C structs, the same whichever backend holds them. With SQLite the
 * database runs in WAL mode, so readers never wait for
 * the writer; each thread gets its own connection the first time it touches
 * the store (SQLite connections must not be shared between threads), and
 * every write runs on the store's writer thread (store/writer.c): the
 * calling thread queues it and waits for its commit, and the writer runs
 * what is queued in one transaction with one fsync (group commit), so
 * writers in this process never contend for SQLite's lock. A write that returned ADA_OK is on disk (with
 * synchronous=FULL, even across power loss), which is what lets the API
 * acknowledge a request only once it cannot be lost.
 *
 * Events are the single source of what happened to a job: every state
 * change appends one in the same transaction, so a client reading the
 * event log (late, or after a restart) sees the whole history, and the
 * store wakes the job's watchers (live SSE streams) after each commit.
 *
 * Many daemons (PostgreSQL): a claimed job holds a lease (this daemon's
 * id, an expiry) that the store's heartbeat thread renews; a job whose
 * lease expired (its daemon was killed, hung, or lost the network) is put
 * back in the queue by any other daemon and resumes from its checkpoint.
 * Each claim bumps the job's lease epoch, and a run's writes (events,
 * progress, checkpoints, outcome) name the epoch they were claimed with:
 * the store refuses them (STORE_EFENCED) once the job moved on, so a run
 * that lost its lease can no longer change its job, and its daemon is told
 * (store_hooks.lease_lost) to stop it. A listener thread turns the other
 * daemons' notifications (LISTEN/NOTIFY) into wake-ups of this daemon's
 * watchers (live event streams), its workers (a job was queued) and its
 * cancels. SQLite has one daemon per database: the same epochs fence its
 * runs, and the threads are not needed.
 *
 * Results are adalora.h's codes plus the ones below. Strings handed in are
 * borrowed for the call; strings in returned structs are owned by the
 * struct and freed by its *_release() function.
 */
#ifndef ADALORAD_STORE_H
#define ADALORAD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"

enum store_code {
	STORE_ECONFLICT = 64,   /* the row's state forbids the change (err->param says which) */
	STORE_EFULL = 65,       /* a configured limit is reached */
	STORE_EFENCED = 66,     /* the run's lease is lost: another daemon has the job */
};

/* Stable snake_case name of a store code ("conflict", "limit_reached") or,
 * for any other, of the ada_code it is (ada_code_name). */
const char *store_code_name(int code);

/* Room for the API's ids ("ftjob-" + 24 characters) and names. */
#define STORE_ID_MAX 48
#define STORE_NAME_MAX 256

enum store_sync {
	STORE_SYNC_NORMAL = 1,  /* WAL fsynced at checkpoints: survives process crashes */
	STORE_SYNC_FULL = 2,    /* WAL fsynced at every commit: survives power loss too */
};

struct store_config {
	/* the SQLite database file (created when absent), or a PostgreSQL
	 * connection URI ("postgresql://..." or "postgres://...") */
	const char *path;
	enum store_sync sync;       /* SQLite */
	int busy_timeout_ms;    /* SQLite: for locks held by other processes (sqlite3 CLI, backups) */
	int skip_integrity_check;   /* SQLite: do not run PRAGMA quick_check at open */
	/* this daemon's name among those sharing a database (leases, GET
	 * /v1/daemons); NULL or "": host-pid-random */
	const char *daemon_id;
	int64_t lease_ms;           /* PostgreSQL: how long a lease lasts unrenewed; 0 = 30 s */
	int64_t heartbeat_ms;       /* PostgreSQL: between renewals; 0 = lease / 3 */
	int workers;                /* reported in the daemons list */
	const char *version;        /* reported in the daemons list; may be NULL */
};

/* What the store tells the daemon (each may be NULL; called on store
 * threads, so they must be quick and must not call into the store). */
struct store_hooks {
	void *ctx;
	/* a job was created or queued, maybe by another daemon: look again */
	void (*queue_changed)(void *ctx);
	/* a cancel was requested for a running job, maybe on another daemon */
	void (*cancel)(void *ctx, const char *job_id);
	/* this daemon's run of the job (claimed with epoch) lost its lease:
	 * stop it, its writes are refused */
	void (*lease_lost)(void *ctx, const char *job_id, int64_t epoch);
	/* a warning for the daemon's log (logfmt pairs, no newline) */
	void (*warn)(void *ctx, const char *line);
};

/* Test hook: with ADALORAD_TEST_FAIL_OUTCOMES=N in the environment when the
 * store opens, the next N writes of a job's outcome (finish, re-queue)
 * fail with ADA_EIO, so tests can see a lost outcome write being retried
 * and reconciled. Never set outside tests. */

struct store;

/* Open (creating when needed), check and migrate the database: PRAGMA
 * quick_check first (unless skipped; a damaged database is ADA_EFORMAT
 * with SQLite's first complaint), then migrations/NNNN_name.sql in order
 * under PRAGMA user_version. A database whose version is newer than this
 * binary's schema is refused (ADA_EUNSUPPORTED). */
int store_open(const struct store_config *cfg, struct store **out, struct ada_err *err);
/* Close every connection; all threads using the store must have stopped. */
void store_free(struct store *st);
/* Set the hooks (copied); until then nothing is called. */
void store_set_hooks(struct store *st, const struct store_hooks *hooks);
/* 1 when several daemons may share the database (PostgreSQL): their data
 * directory is shared too, and each run writes into a directory of its own. */
int store_shared(const struct store *st);
/* "sqlite" or "postgresql". */
const char *store_backend_name(const struct store *st);
/* This daemon's id (store_config.daemon_id, or the one made up). */
const char *store_daemon_id(const struct store *st);
/* The address the API listens on, for the daemons list. */
void store_set_address(struct store *st, const char *address);
/* The newest schema version this binary knows. */
int store_schema_version(void);
/* Close the calling thread's connection now (threads that exit get theirs
 * closed by themselves; this is for long-lived threads that are done). */
void store_thread_done(struct store *st);

/* A fresh random id "<prefix>-<24 characters>" in buf (cap >= STORE_ID_MAX). */
int store_new_id(const char *prefix, char *buf, size_t cap, struct ada_err *err);

/* ---- files ------------------------------------------------------------- */

struct store_file {
	int64_t seq;
	char id[STORE_ID_MAX];
	char filename[STORE_NAME_MAX];
	char purpose[32];
	char format[16];
	char shape[32];
	char storage[64];       /* internal name under data-dir/files/ */
	int64_t bytes, created_at, line_count, record_count;
	/* a chat file's first use of tool or function calling ("line 3:
	 * messages[1].tool_calls"), "" when none (migration 0004) */
	char tool_use[96];
	/* in, for store_file_add only (borrowed): the JSON label summary of a
	 * classification file (ada_data_labels), or NULL; reads leave it NULL
	 * (store_file_labels reads it) */
	const char *labels;
};

struct store_files {
	struct store_file *v;   /* owned */
	size_t n;
	int has_more;
};

/* seq and created_at are assigned. */
int store_file_add(struct store *st, struct store_file *f, struct ada_err *err);
/* ADA_ENOTFOUND when there is no such file. */
int store_file_get(struct store *st, const char *id, struct store_file *f, struct ada_err *err);
/* Newest first; after = the id a previous page ended with (NULL for the first page). */
int store_file_list(struct store *st, const char *after, int limit, struct store_files *out,
		    struct ada_err *err);
/* Delete the row; STORE_ECONFLICT while a job that has not finished uses
 * the file. *deleted receives the row (its storage name is the caller's to
 * remove from disk). */
int store_file_delete(struct store *st, const char *id, struct store_file *deleted,
		      struct ada_err *err);
void store_files_release(struct store_files *l);
/* The label summary of a file: *labels (JSON text, the caller's to free) is
 * NULL for a file without labels or uploaded before labels were recorded. */
int store_file_labels(struct store *st, const char *id, char **labels, struct ada_err *err);

/* ---- jobs -------------------------------------------------------------- */

enum job_status {
	JOB_VALIDATING = 0,     /* "validating_files": waiting for its plan */
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_SUCCEEDED,
	JOB_FAILED,
	JOB_CANCELLED,
	JOB_N_STATUS
};

const char *job_status_name(enum job_status s);
/* -1 for an unknown name. */
int job_status_from_name(const char *name);
static inline int job_status_final(enum job_status s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED;
}

struct store_job {
	int64_t seq;
	char id[STORE_ID_MAX];
	char model[STORE_NAME_MAX];
	char training_file[STORE_ID_MAX];
	char validation_file[STORE_ID_MAX];  /* "" = none */
	char suffix[72];                     /* "" = none */
	char fine_tuned_model[2 * STORE_NAME_MAX];  /* "" until succeeded */
	uint64_t seed;
	enum job_status status;
	int cancel_requested;
	int64_t created_at, started_at, finished_at;    /* 0 = not yet */
	int64_t total_steps, steps_per_epoch, n_epochs; /* 0 until planned */
	int64_t budget_initial, budget_target, budget_current;   /* -1 = no budget */
	int64_t step, trained_tokens;
	int64_t estimated_finish;            /* 0 = unknown */
	double epoch;
	double tokens_per_second;            /* NAN = unknown */
	int64_t last_event;                  /* seq of the newest event */
	char task[24];                       /* "causal_lm", "classification"; "" until planned */
	/* JSON texts, owned; NULL = JSON null */
	char *method, *hyperparameters, *metrics, *error;
	char *classification;                /* classification jobs: labels and counts */
	int64_t attempts;                    /* runs started */
	int64_t crashes;                     /* runs the daemon died during */
	/* the lease of its latest claim (migration 0005): the epoch the claim
	 * got (a run names it in its writes), and the daemon holding it while
	 * running ("" otherwise, and always on SQLite) */
	int64_t lease_epoch;
	char lease_owner[STORE_NAME_MAX];
	/* where its result is, under the job's directory: "" = the directory
	 * itself; "run-N" for a run of a shared store (its epoch's directory) */
	char output_dir[32];
};

void store_job_release(struct store_job *j);

struct store_jobs {
	struct store_job *v;    /* owned, each released by store_jobs_release */
	size_t n;
	int has_more;
};
void store_jobs_release(struct store_jobs *l);

struct store_job_spec {
	const char *id, *model, *training_file;
	const char *validation_file;         /* NULL = none */
	const char *suffix;                  /* NULL = none */
	uint64_t seed;
	const char *method;                  /* JSON text */
	const char *hyperparameters;         /* JSON text */
	int64_t max_waiting;                 /* STORE_EFULL when this many jobs already
					      * wait (validating or queued); 0 = no limit */
	/* An Idempotency-Key (NULL = none): the job is recorded under it with
	 * request_hash (the request's fingerprint), and a key already used
	 * (less than idempotency_ttl_s seconds ago) creates nothing: with the
	 * same hash the job it created is returned in *out and *replayed set;
	 * with another hash STORE_ECONFLICT (param "Idempotency-Key"). */
	const char *idempotency_key;
	const char *request_hash;
	int64_t idempotency_ttl_s;
	int *replayed;                       /* may be NULL */
};

/* Insert a job in JOB_VALIDATING with its first events. The files must
 * exist (ADA_ENOTFOUND, param "training_file" or "validation_file"). */
int store_job_create(struct store *st, const struct store_job_spec *spec, struct store_job *out,
		     struct ada_err *err);
/* The job created under an Idempotency-Key less than ttl_s seconds ago:
 * ADA_OK (*out), STORE_ECONFLICT when it was created with another
 * request_hash, ADA_ENOTFOUND when the key is unknown (or expired). */
int store_job_by_idempotency_key(struct store *st, const char *key, const char *request_hash,
				 int64_t ttl_s, struct store_job *out, struct ada_err *err);
/* ADA_ENOTFOUND when there is no such job. */
int store_job_get(struct store *st, const char *id, struct store_job *out, struct ada_err *err);

/* The job's version: its last_event. Every change of a job row appends
 * an event in the same transaction, so (id, version) names one state of
 * the row exactly (what a cache of rendered jobs keys on). */
int store_job_version(struct store *st, const char *id, int64_t *version, struct ada_err *err);

struct store_job_query {
	const char *after;      /* id the previous page ended with, or NULL */
	int limit;
	int status;             /* enum job_status, or -1 for all */
};
/* Newest first. */
int store_job_list(struct store *st, const struct store_job_query *q, struct store_jobs *out,
		   struct ada_err *err);

/* The oldest job still validating (ADA_ENOTFOUND when none). */
int store_job_next_validating(struct store *st, struct store_job *out, struct ada_err *err);

struct store_plan {
	int64_t total_steps, steps_per_epoch, n_epochs;
	int64_t budget_initial, budget_target;   /* -1 = no budget */
	const char *task;                        /* NULL = unknown */
	const char *classification;              /* JSON, or NULL (not a classifier) */
};

/* validating -> queued with its plan; STORE_ECONFLICT when the job left
 * JOB_VALIDATING meanwhile (it was cancelled). hyperparameters (JSON, may
 * be NULL to keep) replaces the stored one ("auto" resolved). */
int store_job_planned(struct store *st, const char *id, const struct store_plan *plan,
		      const char *hyperparameters, const char *message, struct ada_err *err);

/* Atomically take the oldest queued job, mark it running and count the
 * attempt (ADA_ENOTFOUND when none is queued). The claim bumps the job's
 * lease epoch (out->lease_epoch), which the run names in its writes; on
 * PostgreSQL it takes the lease for this daemon (SELECT ... FOR UPDATE
 * SKIP LOCKED: daemons claiming at once get different jobs). */
int store_job_claim(struct store *st, struct store_job *out, struct ada_err *err);

/* A validating or running job reaches a final status. error is JSON or
 * NULL; fine_tuned_model NULL unless succeeded. STORE_ECONFLICT when the
 * job was not validating or running. A running job whose cancel is pending
 * becomes cancelled instead, whatever status is asked (the cancel wins;
 * the event says so). The same holds for store_job_succeeded,
 * store_job_requeue and store_job_outcome. */
int store_job_finish(struct store *st, const char *id, enum job_status status,
		     const char *error, const char *fine_tuned_model, const char *level,
		     const char *message, struct ada_err *err);

/* running -> succeeded, like store_job_finish, also replacing the job's
 * classification JSON when classification is not NULL (the result's). */
int store_job_succeeded(struct store *st, const char *id, const char *fine_tuned_model,
			const char *classification, const char *message, struct ada_err *err);

/* running -> queued (paused for shutdown; it resumes from its checkpoint). */
int store_job_requeue(struct store *st, const char *id, const char *message,
		      struct ada_err *err);

/* How a running job's run ended, as its worker records it. */
struct store_outcome {
	enum job_status status;      /* JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED, or JOB_QUEUED
				      * (paused: it resumes later) */
	const char *error;           /* JSON, failed only */
	const char *fine_tuned_model;   /* succeeded only */
	const char *classification;  /* succeeded, JSON or NULL (keep) */
	const char *level;           /* of the event; NULL = "info" */
	const char *message;
	int64_t epoch;               /* the run's lease epoch; 0 = not a run's (no fencing) */
	const char *output_dir;      /* succeeded: store_job.output_dir; NULL = "" */
};

/* Record an outcome (store_job_finish, store_job_succeeded or
 * store_job_requeue by o->status); *ended (may be NULL) receives the
 * status the job got (JOB_CANCELLED when a pending cancel won).
 * STORE_EFENCED when o->epoch is not the job's lease any more. */
int store_job_outcome(struct store *st, const char *id, const struct store_outcome *o,
		      enum job_status *ended, struct ada_err *err);

/* Cancel: a validating or queued job becomes cancelled at once; a running
 * one gets cancel_requested (its worker stops it, and whatever its run's
 * outcome the job ends cancelled). STORE_ECONFLICT for a finished job.
 * *out receives the job as it now is. */
int store_job_cancel(struct store *st, const char *id, struct store_job *out,
		     struct ada_err *err);

struct store_recovery {
	int requeued, cancelled, failed;
};

/* At start: jobs left running by a crash (the daemon died during their
 * run, which counts as one of their crashes) go back to the queue; they
 * become cancelled when a cancel was pending, and failed (error code
 * "crash_loop") at their max_crashes-th crash (0: never). out may be NULL.
 * On PostgreSQL only the jobs whose lease expired are crashed ones (other
 * daemons run the rest), and the heartbeat repeats this sweep while the
 * daemon runs, with the same max_crashes. */
int store_recover(struct store *st, int max_crashes, struct store_recovery *out,
		  struct ada_err *err);

/* While running: a job the store says is running but no worker runs (its
 * outcome was never recorded) goes back to the queue, or becomes
 * cancelled when a cancel is pending. Not a crash. Nothing happens if it
 * is no longer running (or, on PostgreSQL, no longer this daemon's). */
int store_job_reconcile(struct store *st, const char *id, struct store_recovery *out,
			struct ada_err *err);

/* The ids of the running jobs this daemon holds (on SQLite, all of them),
 * oldest first (*ids malloc'ed, the caller's). */
int store_job_running_ids(struct store *st, char (**ids)[STORE_ID_MAX], size_t *n,
			  struct ada_err *err);

struct store_progress {
	int64_t step, total_steps, trained_tokens;
	int64_t budget_current;    /* -1 = no budget */
	int64_t estimated_finish;  /* 0 = unknown */
	double epoch, tokens_per_second;
	const char *metrics;       /* JSON: the job's latest metrics */
};

/* An event (type "metrics", or "message" for an evaluation) and the job's
 * progress columns, in one transaction. epoch: the run's (STORE_EFENCED
 * when the job is no longer that run's), or 0 for no fencing. */
int store_job_progress(struct store *st, const char *id, int64_t epoch,
		       const struct store_progress *p, const char *type, const char *message,
		       const char *event_data, struct ada_err *err);

/* Counts of jobs by status. */
int store_job_counts(struct store *st, int64_t counts[JOB_N_STATUS], struct ada_err *err);
/* Steps and tokens trained over all jobs. */
int store_job_totals(struct store *st, int64_t *steps, int64_t *tokens, struct ada_err *err);

/* ---- events ------------------------------------------------------------ */

struct store_event {
	int64_t seq, created_at;
	char level[16];
	char type[16];          /* "message" or "metrics" */
	char *message;          /* owned */
	char *data;             /* owned JSON object text, or NULL */
};

struct store_events {
	struct store_event *v;  /* owned */
	size_t n;
	int has_more;
};
void store_events_release(struct store_events *l);

/* Append an event (level "info", "warning", "error"; type "message" or
 * "metrics"). data is a JSON object whose "kind" says what the event is
 * ("metrics", "validation", "ranks", "checkpoint", "log"; the api documents
 * them), or NULL for a change in the job's life cycle: the store then
 * writes {"kind": "status", "status": the job's status}, as it does for
 * the events it adds itself (creation, start, transitions, cancellation).
 * epoch: a run's lease epoch (STORE_EFENCED when the job is not running
 * under it any more), or 0 for an event that is not a run's. */
int store_event_add(struct store *st, const char *job_id, int64_t epoch, const char *level,
		    const char *type, const char *message, const char *data,
		    struct ada_err *err);

/* Events of a job. after_seq >= 0: those after it, oldest first; after_seq
 * < 0: the newest, newest first. */
int store_event_list(struct store *st, const char *job_id, int64_t after_seq, int limit,
		     struct store_events *out, struct ada_err *err);

/* For a live stream: events after after_seq (>= 0), oldest first, as
 * store_event_list gives them, but possibly from what this daemon heard
 * of them (store/postgresql/recent.c) without reading the database, and
 * then has_more says nothing of events it has not heard of yet. An empty
 * answer always comes from the database. */
int store_event_follow(struct store *st, const char *job_id, int64_t after_seq, int limit,
		       struct store_events *out, struct ada_err *err);

/* The job's rank events ("message" == "ranks"): all of them oldest first,
 * or only the latest. */
int store_event_ranks(struct store *st, const char *job_id, int history,
		      struct store_events *out, struct ada_err *err);

/* The job's newest event whose message is message (0 or 1 events). */
int store_event_last(struct store *st, const char *job_id, const char *message,
		     struct store_events *out, struct ada_err *err);

/* ---- checkpoints ------------------------------------------------------- */

struct store_checkpoint {
	int64_t step, created_at;
	char *metrics;          /* owned JSON */
};

struct store_checkpoints {
	struct store_checkpoint *v;
	size_t n;
	int has_more;
};
void store_checkpoints_release(struct store_checkpoints *l);

/* Record a checkpoint (a repeated step replaces the row); epoch as for
 * store_event_add. */
int store_checkpoint_add(struct store *st, const char *job_id, int64_t epoch, int64_t step,
			 const char *metrics, struct ada_err *err);
/* Newest first; after_step >= 0 continues below it. */
int store_checkpoint_list(struct store *st, const char *job_id, int64_t after_step, int limit,
			  struct store_checkpoints *out, struct ada_err *err);

/* ---- daemons ------------------------------------------------------------ */

struct store_daemon {
	char id[STORE_NAME_MAX];
	char host[256];
	char address[96];       /* the API's "ADDR:PORT", "" until known */
	char version[32];
	int64_t pid, workers;
	int64_t started_at, heartbeat_at;    /* unix seconds */
	int64_t lease_expires_at;            /* 0 = no lease (SQLite) */
	int self;                            /* this daemon */
	char (*running)[STORE_ID_MAX];       /* owned: the jobs it runs */
	size_t n_running;
};

struct store_daemons {
	struct store_daemon *v;  /* owned */
	size_t n;
};
void store_daemons_release(struct store_daemons *l);

/* The live daemons of the database (those whose heartbeat has not
 * expired; on SQLite, this one) and the jobs each runs, by id. */
int store_daemon_list(struct store *st, struct store_daemons *out, struct ada_err *err);

/* ---- watching a job ---------------------------------------------------- */

/* A watcher is told (wake, on the writing thread, after the commit, or
 * on the listener thread when another daemon committed it) every time an
 * event of its job is committed. wake must be quick and must not
 * call into the store. The struct is the caller's and stays linked until
 * store_watch_remove(). */
struct store_watch {
	char job_id[STORE_ID_MAX];
	void (*wake)(void *ctx);
	void *ctx;
	struct store_watch *prev, *next;    /* the store's */
};

void store_watch_add(struct store *st, struct store_watch *w);
void store_watch_remove(struct store *st, struct store_watch *w);

#endif
