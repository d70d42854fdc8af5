/*
 * api — the daemon's HTTP API (docs: ../shared/docs/api.md), on
 * libmicrohttpd and jansson.
 *
 * The api owns everything between the socket and the store: routing,
 * authentication, limits, validation, the JSON objects, uploads and live
 * event streams. It reaches the rest of the daemon only through struct
 * api_hooks (the models directory, waking the validator, stopping a
 * running job, logging), which daemon/ fills in; it never includes
 * daemon/ headers.
 *
 * Threads: libmicrohttpd runs a fixed pool of HTTP threads on epoll; each
 * gets its own store connection on first use. An SSE stream with nothing
 * to send suspends its connection and is resumed by the store's watcher
 * (a new event) or by the keep-alive timer, so idle streams hold no
 * thread.
 */
#ifndef ADALORAD_API_H
#define ADALORAD_API_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "store.h"

enum api_log_level { API_LOG_DEBUG = 0, API_LOG_INFO, API_LOG_WARN, API_LOG_ERROR };

struct api_model {
	char id[STORE_NAME_MAX];
	struct ada_model_info info;
	int64_t created;            /* the file's modification time */
};

struct api_hooks {
	void *ctx;
	/* A base model by id (ADA_ENOTFOUND when absent); info may be NULL. */
	int (*model_find)(void *ctx, const char *id, struct ada_model_info *info);
	/* Every base model, sorted by id; *out (malloc'ed) is the caller's. */
	int (*model_list)(void *ctx, struct api_model **out, size_t *n, struct ada_err *err);
	/* A job was created: plan it. */
	void (*job_created)(void *ctx);
	/* A running job was asked to cancel: raise its worker's stop flag. */
	void (*job_cancel)(void *ctx, const char *job_id);
	/* One log line (logfmt key=value pairs, no newline). */
	void (*log)(void *ctx, enum api_log_level level, const char *line);
};

struct api_limits {
	size_t max_body;            /* bytes of a JSON request body */
	size_t max_upload;          /* bytes of an uploaded file */
	unsigned max_connections;
	int64_t max_waiting_jobs;   /* validating + queued; 0 = unlimited */
	unsigned max_streams;       /* concurrent SSE clients */
	unsigned keepalive_ms;      /* SSE keep-alive comment interval */
	unsigned http_threads;
	unsigned idle_timeout_s;    /* close idle keep-alive connections */
	unsigned header_timeout_s;  /* a request's headers must be in by then; 0 = no limit */
	unsigned max_per_address;   /* concurrent connections from one address; 0 = no limit */
	int64_t job_memory_limit;   /* a job's estimated peak memory, bytes; 0 = no limit */
	int job_threads;            /* training threads of one job (for the estimate) */
	int64_t idempotency_ttl_s;  /* how long an Idempotency-Key is remembered; 0 = a day */
};

struct api_config {
	const char *listen;         /* "ADDR:PORT"; port 0 picks a free one */
	const char *files_dir;      /* uploads live here under random names */
	const char *jobs_dir;       /* a job's outputs: jobs_dir/<job id>/ */
	const char *version;
	const char *const *keys;    /* bearer keys; n_keys == 0 disables auth */
	size_t n_keys;
	/* Host names served beyond IP literals, localhost, --listen's name
	 * and this machine's ("name", ".suffix", "*"); origins (scheme://host
	 * [:port]) whose pages may write, with CORS (guard.c) */
	const char *const *allowed_hosts;
	size_t n_allowed_hosts;
	const char *const *allowed_origins;
	size_t n_allowed_origins;
	int workers;                /* reported by /healthz */
	struct api_limits limits;
	struct store *store;        /* borrowed; outlives the api */
	struct api_hooks hooks;
};

struct api;

/* Append " key=value" to the logfmt line in buf, quoting and escaping the
 * value when it needs it (the daemon's log lines are built with it too). */
void logfmt_append(char *buf, size_t cap, const char *key, const char *value);

/* Bind and start serving. Every pointer in cfg is borrowed and must
 * outlive the api (keys and directories are copied). */
int api_start(const struct api_config *cfg, struct api **out, struct ada_err *err);
/* The bound address, "ADDR:PORT" (the real port when 0 was asked). */
const char *api_address(const struct api *a);
/* Stop accepting connections; requests in flight and streams go on. */
void api_quiesce(struct api *a);
/* End the streams, close every connection, join the HTTP threads, free. */
void api_stop(struct api *a);

#endif
