/*
 * options — adalorad's configuration: defaults, then the --config JSON
 * file, then the command-line flags (each later source wins).
 *
 * One table lists every setting once: its flag, its key in the config
 * file (the flag without dashes, '-' as '_'), its kind and where it goes.
 * The README's configuration reference documents the same table.
 */
#ifndef ADALORAD_DAEMON_OPTIONS_H
#define ADALORAD_DAEMON_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"

struct options {
	char *listen;
	char *db;
	char *data_dir;
	char *models_dir;
	char *api_key_file;         /* NULL: no auth */
	char *config;
	char *log_level;
	char *sqlite_synchronous;   /* "full" or "normal" */
	char *allowed_hosts;        /* comma-separated; NULL: only the defaults (api/guard.c) */
	char *allowed_origins;      /* comma-separated origins; NULL: none */
	char *integrity_check;      /* "quick" or "off" */
	int64_t workers;
	int64_t blas_threads;       /* over all workers; 0 = the CPU count */
	int64_t http_threads;
	int64_t max_body_size;
	int64_t max_upload_size;
	int64_t max_connections;
	int64_t max_queued_jobs;
	int64_t max_sse_clients;
	int64_t sse_keepalive_ms;
	int64_t models_rescan_ms;   /* how stale the models directory's listing may be */
	int64_t idle_timeout;
	int64_t header_timeout;     /* seconds; 0 = none */
	int64_t max_connections_per_address;   /* 0 = no limit */
	int64_t max_attempts;       /* abnormal ends before a job fails; 0 = never */
	int64_t job_memory_limit;   /* bytes per job; 0 = none; -1 = 3/4 of RAM over the workers */
	int64_t reconcile_interval_ms;
	/* jobs across processes (README "One job across processes") */
	int64_t max_processes;      /* a job's "processes" at most; 1 = in-process only */
	char *launcher;             /* the launcher's command, "{n}" the process count */
	char *adalora_bin;          /* NULL: adalora next to adalorad */
	int64_t launcher_grace_ms;  /* a stopped launcher's time to exit before SIGKILL */
	/* inference (daemon/serve.c) */
	int64_t serve_threads;      /* 0: half the CPUs (at least 1) */
	int64_t serve_nice;
	int64_t serve_max_sequences;
	int64_t serve_max_queue;
	int64_t serve_max_tokens;
	int64_t serve_max_rows;
	int64_t serve_adapter_cache;   /* bytes; 0: no limit */
	int64_t serve_idle_bases;
	int64_t serve_max_windows;     /* a question answering request's windows */
	/* several daemons on one PostgreSQL database (README "Several hosts") */
	char *daemon_id;            /* NULL: host-pid-random */
	int64_t lease_ms;           /* a running job's lease, unrenewed */
	int64_t lease_heartbeat_ms; /* between renewals; 0 = a third of the lease */
	int64_t idempotency_ttl_ms; /* how long an Idempotency-Key is remembered */
};

/* Parse argv (after defaults and any --config file) into opts, which the
 * caller releases with options_release(). Returns ADA_OK, or ADA_EINVAL
 * with a one-line message (a usage error). *help is set for --help. */
int options_parse(int argc, char **argv, struct options *opts, int *help, struct ada_err *err);
void options_release(struct options *opts);

/* A comma-separated list (blanks around items dropped, empty items
 * skipped) as a NULL-terminated array the caller frees with
 * options_list_free(); NULL s gives an empty list. */
int options_list(const char *s, char ***items, size_t *n, struct ada_err *err);
void options_list_free(char **items, size_t n);
extern const char options_usage[];

#endif
