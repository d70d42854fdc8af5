/*
 * backend — what a store backend provides (internal to store/).
 *
 * store.h is one interface over two engines: SQLite (store/sqlite/, one
 * daemon per database file) and PostgreSQL (store/postgresql/, several
 * daemons sharing one database). Each backend keeps its SQL beside it and
 * fills a table of the functions below; store.c dispatches every public
 * store_* call through the table and owns what the backends share: the
 * watchers of a job's events, the hooks into the daemon, status names,
 * ids, the release functions of returned rows and the answers both give
 * alike (below). A job's changes and a run's writes are one machine
 * (job_machine.h) that store.c runs in a backend's transaction
 * (job_write); rows become structs in rows.h; each backend keeps a
 * connection per thread with conns.h.
 *
 * A backend's own state is a struct whose first member is struct store,
 * so a backend converts the pointer it is handed with a cast.
 */
#ifndef ADALORAD_STORE_BACKEND_H
#define ADALORAD_STORE_BACKEND_H

#include <pthread.h>

#include "job_machine.h"
#include "store.h"

struct store_backend {
	const char *name;           /* "sqlite", "postgresql" */
	void (*free)(struct store *st);
	void (*thread_done)(struct store *st);

	int (*file_add)(struct store *st, struct store_file *f, struct ada_err *err);
	int (*file_get)(struct store *st, const char *id, struct store_file *f,
			struct ada_err *err);
	int (*file_list)(struct store *st, const char *after, int limit, struct store_files *out,
			 struct ada_err *err);
	int (*file_delete)(struct store *st, const char *id, struct store_file *deleted,
			   struct ada_err *err);
	int (*file_labels)(struct store *st, const char *id, char **labels, struct ada_err *err);

	/* Run fn (one of job_machine.h's writes) with args in one write
	 * transaction, on the connection that runs it; urgent: ahead of the
	 * writes already waiting (a running job's events and progress). */
	int (*job_write)(struct store *st, job_machine_fn fn, const void *args, int urgent,
			 struct ada_err *err);
	/* The job machine on the calling thread's connection, for reads. */
	int (*job_machine)(struct store *st, struct job_machine *m, struct ada_err *err);
	/* This daemon holds the lease of a run (claimed under epoch) / no
	 * longer does: PostgreSQL's heartbeat renews the leases held. NULL for
	 * SQLite (one daemon: nothing to renew). */
	void (*lease_held)(struct store *st, const char *id, int64_t epoch);
	void (*lease_dropped)(struct store *st, const char *id, int64_t epoch);
	int (*job_get)(struct store *st, const char *id, struct store_job *out,
		       struct ada_err *err);
	int (*job_version)(struct store *st, const char *id, int64_t *version,
			   struct ada_err *err);
	int (*job_list)(struct store *st, const struct store_job_query *q, struct store_jobs *out,
			struct ada_err *err);
	int (*job_next_validating)(struct store *st, struct store_job *out, struct ada_err *err);
	int (*recover)(struct store *st, int max_crashes, struct store_recovery *out,
		       struct ada_err *err);
	int (*job_reconcile)(struct store *st, const char *id, struct store_recovery *out,
			     struct ada_err *err);
	int (*job_running_ids)(struct store *st, char (**ids)[STORE_ID_MAX], size_t *n,
			       struct ada_err *err);
	int (*job_counts)(struct store *st, int64_t counts[JOB_N_STATUS], struct ada_err *err);
	int (*job_totals)(struct store *st, int64_t *steps, int64_t *tokens, struct ada_err *err);

	int (*event_list)(struct store *st, const char *job_id, int64_t after_seq, int limit,
			  struct store_events *out, struct ada_err *err);
	/* store_event_follow's; NULL: event_list serves it. */
	int (*event_follow)(struct store *st, const char *job_id, int64_t after_seq, int limit,
			    struct store_events *out, struct ada_err *err);
	int (*event_ranks)(struct store *st, const char *job_id, int history,
			   struct store_events *out, struct ada_err *err);
	int (*event_last)(struct store *st, const char *job_id, const char *message,
			  struct store_events *out, struct ada_err *err);
	int (*checkpoint_list)(struct store *st, const char *job_id, int64_t after_step,
			       int limit, struct store_checkpoints *out, struct ada_err *err);

	int (*daemon_list)(struct store *st, struct store_daemons *out, struct ada_err *err);
	void (*set_address)(struct store *st, const char *address);
};

/* What every backend's state begins with. */
struct store {
	const struct store_backend *be;
	int shared;                     /* several daemons share the database */
	char daemon_id[STORE_NAME_MAX];
	pthread_mutex_t watch_lock;     /* guards watches, hooks, test_fail_outcomes */
	struct store_watch *watches;
	struct store_hooks hooks;
	int test_fail_outcomes;         /* the test hook of store.h */
};

/* Fill the common part (be, daemon id, lock, the test hook). */
int store_base_init(struct store *st, const struct store_backend *be,
		    const struct store_config *cfg, struct ada_err *err);
void store_base_release(struct store *st);

/* Wake the watchers of job_id (after a commit, or a notification). */
void store_notify(struct store *st, const char *job_id);
/* Wake every watcher (a notification may have been missed). */
void store_notify_all(struct store *st);
/* Call the daemon's hooks (no-ops until store_set_hooks). */
void store_hook_queue(struct store *st);
void store_hook_cancel(struct store *st, const char *job_id);
void store_hook_lease_lost(struct store *st, const char *job_id, int64_t epoch);
/* A warning through the warn hook (stderr until it is set). */
void store_warn(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The test hook: ADA_EIO while ADALORAD_TEST_FAIL_OUTCOMES asks for it
 * (call from outcome writes only). */
int store_injected_failure(struct store *st, struct ada_err *err);

/* The crash_loop error object of a job failed after max_crashes crashes
 * (JSON text in buf). */
void store_crash_loop_error(const char *msg, char *buf, size_t cap);

/* What both backends answer alike (err filled, its code returned): no
 * such job, file, or page start (param "after"); a file a job still
 * uses; a run's write refused (it claimed the job as epoch; the job is
 * status under lease epoch now); a schema newer than this binary's
 * (where: the database's name). */
int store_no_such_job(struct ada_err *err, const char *id);
int store_no_such_file(struct ada_err *err, const char *id);
int store_no_such_after(struct ada_err *err, const char *id);
int store_file_in_use(struct ada_err *err, const char *id);
int store_fenced(struct ada_err *err, const char *job_id, int64_t epoch, const char *status,
		 int64_t now);
int store_schema_newer(struct ada_err *err, const char *where, int have);

/* The data of a life-cycle event (store_event_add): the job's status
 * between these two (the status column holds one of the CHECKed names:
 * nothing to escape). SQLite writes it from C, PostgreSQL in the SQL that
 * reads the status. */
#define STORE_STATUS_DATA_HEAD "{\"kind\":\"status\",\"status\":\""
#define STORE_STATUS_DATA_TAIL "\"}"

int sqlite_store_open(const struct store_config *cfg, struct store **out, struct ada_err *err);
int pg_store_open(const struct store_config *cfg, struct store **out, struct ada_err *err);

#endif
