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

struct api_infer;
struct strbuf;

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
	/* Inference (api/infer.c): take a checked request (the engine takes a
	 * reference on job, api_infer_ref). ADA_OK, or an error to answer
	 * with: *status 400 (err->param names the field, e.g. an unknown
	 * model), 429 with *retry_after seconds (the queue is full), 503. NULL:
	 * the daemon serves no models (501). */
	int (*infer_submit)(void *ctx, struct api_infer *job, unsigned *status, int *retry_after,
			    struct ada_err *err);
	/* /metrics: the engine's lines, appended to out (may be NULL). */
	void (*infer_metrics)(void *ctx, struct strbuf *out);
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
	int max_processes;          /* a job's "processes" at most (0 or 1: only 1) */
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

/* ---- inference requests (api/infer.c, api/h_infer.c) -------------------- */

/*
 * A completion, chat completion, classification or question answering
 * request between the api, which
 * checks and answers it, and the daemon's engine (daemon/serve.c), which
 * runs it. The job is reference counted: the request holds one until its
 * connection is done, the engine one until it has ended the job. The
 * engine calls the functions below from its thread; they format what the
 * client gets (OpenAI's objects and stream chunks) and wake the connection.
 */
enum api_infer_kind { API_INFER_COMPLETION = 1, API_INFER_CHAT, API_INFER_CLASSIFY, API_INFER_QA };

#define API_INFER_MAX_STOPS 4

/* What the request asks, checked (all owned by the job). */
struct api_infer_params {
	enum api_infer_kind kind;
	char model[2 * STORE_NAME_MAX];
	const char *prompt;            /* completions: the text, or NULL with prompt_ids */
	size_t prompt_len;
	const int32_t *prompt_ids;     /* a prompt given as token ids */
	size_t n_prompt_ids;
	const json_t *messages;        /* chat: [{"role", "content": string}, ...] */
	int max_tokens;                /* 0: the default (completions 16, chat the context) */
	double temperature, top_p;
	uint64_t seed;
	int logprobs;                  /* report each token's log-probability */
	int top_logprobs;              /* and this many alternatives */
	const char *stop[API_INFER_MAX_STOPS];
	int n_stop;
	int stream, include_usage;
	const json_t *inputs;          /* classify: [[a, b or null], ...]; QA: [[question,
	                                * context], ...] */
	/* question answering: which of question and context were arrays (an
	 * error names "question[2]" then); the options, 0 (doc_stride -1,
	 * has_threshold 0) for the model's own */
	int question_array, context_array;
	int top_k, max_seq_length, doc_stride, max_answer_length;
	int has_threshold;
	double null_score_diff_threshold;
};

/* A chosen token as the client sees it: its bytes, its log-probability and
 * the most likely alternatives (borrowed for the call). */
struct api_infer_token {
	const char *bytes;
	size_t n;
	float logprob;
	int n_top;
	const char *top_bytes[20];
	size_t top_n[20];
	float top_logprob[20];
};

const struct api_infer_params *api_infer_params(const struct api_infer *j);
struct api_infer *api_infer_ref(struct api_infer *j);
void api_infer_unref(struct api_infer *j);
/* The client left (or stopped reading): the engine drops the job. */
int api_infer_gone(struct api_infer *j);
/* The request was admitted with prompt_tokens tokens: a stream starts. */
void api_infer_start(struct api_infer *j, int prompt_tokens);
/* A chosen token (tok may be NULL without log-probabilities) and the text
 * it completes (text[0..n), valid UTF-8, maybe empty). */
void api_infer_emit(struct api_infer *j, const char *text, size_t n,
		    const struct api_infer_token *tok);
/* The end: finish_reason "stop" or "length". */
void api_infer_end(struct api_infer *j, const char *finish_reason, int completion_tokens);
/* A classification's or QA request's result: data (stolen) is the "data"
 * array, prompt_tokens the tokens read. */
void api_infer_classified(struct api_infer *j, json_t *data, int prompt_tokens);
/* A failure: before the start, the response's status and error; after, an
 * error event ends the stream. */
void api_infer_fail(struct api_infer *j, unsigned status, const char *code, const char *param,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Append " key=value" to the logfmt line in buf, quoting and escaping the
 * value when it needs it (the daemon's log lines are built with it too). */
void logfmt_append(char *buf, size_t cap, const char *key, const char *value);

/* How many processes train job j (README "One job across processes"): its
 * "processes" field, kept with its hyperparameters; 1 when absent. */
int job_processes(const struct store_job *j);

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
