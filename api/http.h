/*
 * http — what the api's files share (internal to api/): the server
 * state, one request's state, the route table and the reply helpers.
 *
 * A request lives from libmicrohttpd's first call of the access handler
 * (headers read) to its completion callback. Its handler runs once the
 * body is in (JSON bodies buffered up to the body limit, uploads streamed
 * to a temporary file) and queues exactly one response through the
 * reply_*() helpers, which record the status for the log and /metrics.
 */
#ifndef ADALORAD_API_HTTP_H
#define ADALORAD_API_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "api.h"
#include "util/strbuf.h"

struct request;
struct upload;

enum body_kind {
	BODY_NONE,              /* a body is ignored */
	BODY_JSON,              /* buffered, up to limits.max_body */
	BODY_UPLOAD,            /* streamed to a temporary file, up to limits.max_upload */
};

struct route {
	const char *method;     /* "GET", "POST", "DELETE" */
	const char *pattern;    /* segments; "{}" matches one path parameter */
	const char *name;       /* the pattern as /metrics labels it */
	enum body_kind body;
	int open;               /* served without an API key */
	void (*handle)(struct request *r);
};

/* Responses: compact, and reals at 15 digits (0.85, not 0.84999999999999998;
 * the store keeps full precision). */
#define API_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

#define ROUTE_PARAMS 2
#define N_LATENCY_BUCKETS 14
#define N_STATUS_SLOTS 16

/* Counters of one route (plus one for requests that matched none). */
struct route_stats {
	atomic_uint_fast64_t by_status[N_STATUS_SLOTS];
	atomic_uint_fast64_t latency[N_LATENCY_BUCKETS];   /* cumulative on output */
	atomic_uint_fast64_t latency_ns_sum;
	atomic_uint_fast64_t count;
};

struct sse_stream;
struct job_cache_slot;
struct tracked_conn;

#define MHD_LOG_SLOTS 16
#define MHD_LOG_MSG 512

/* Recent libmicrohttpd messages, for rate limiting (mhd_log.c). */
struct mhd_log_state {
	pthread_mutex_t lock;
	struct {
		char msg[MHD_LOG_MSG];
		uint64_t last_ns, suppressed;
		int used;
	} slot[MHD_LOG_SLOTS];
	unsigned next;
};

struct api {
	struct api_config cfg;      /* strings below are the api's copies */
	char *files_dir, *jobs_dir, *version;
	char **keys;
	size_t *key_lens;
	char address[96];
	int listen_fd;
	struct MHD_Daemon *mhd;

	struct route_stats *stats;  /* [n_routes + 1] */

	/* live streams (sse.c) */
	pthread_mutex_t sse_lock;
	pthread_cond_t sse_cond;
	struct sse_stream *streams;
	unsigned n_streams;
	int stopping;
	pthread_t keepalive_thread;
	int keepalive_started;

	/* libmicrohttpd's warnings (mhd_log.c) */
	struct mhd_log_state mhd_log;
	int mhd_log_ready;

	/* the header deadline (deadline.c) */
	pthread_mutex_t deadline_lock;
	pthread_cond_t deadline_cond;
	struct tracked_conn *tracked;
	pthread_t deadline_thread;
	int deadline_ready, deadline_started, deadline_stop;

	/* who may call (guard.c): lower-cased copies */
	char **allowed_hosts, **allowed_origins;
	char listen_host[256];      /* --listen's host when it is a name, else "" */
	char hostname[256];         /* this machine's, lower case */

	/* rendered jobs (job_cache.c) */
	pthread_mutex_t job_cache_lock;
	struct job_cache_slot *job_cache;
};

struct request {
	struct api *api;
	struct MHD_Connection *conn;
	const struct route *route;
	int route_index;            /* into the route table; -1 = none matched */
	char method[16];
	const char *url;            /* libmicrohttpd's, valid for the request */
	char params[ROUTE_PARAMS][STORE_NAME_MAX];
	char allow[64];             /* methods of the path, for a 405 */
	uint64_t t_start_ns;
	unsigned status;            /* of the queued response; 0 = none yet */
	int responded;
	int first_call_done;
	int close_connection;       /* the response says Connection: close */
	const char *cors_origin;    /* an --allowed-origins entry the request came from */
	int idempotent_replay;      /* the answer is a retried creation's (Idempotent-Replayed) */
	uint64_t bytes_in;

	/* body (BODY_JSON) */
	struct strbuf body;
	int too_large;              /* the body went over its limit */
	struct upload *upload;      /* BODY_UPLOAD */

	/* an inference request (infer.c): its job, and whether the connection
	 * is suspended waiting for it (the handler runs again when resumed) */
	struct api_infer *infer;
	int waiting;
};

extern const struct route api_routes[];
extern const int api_n_routes;

/* Find the route of method + path: its index (params filled), or -1 with
 * *allow set to the methods the path accepts ("" when the path is unknown). */
int route_match(const char *method, const char *path, char params[ROUTE_PARAMS][STORE_NAME_MAX],
		char *allow, size_t allow_cap);

/* ---- replies (reply.c) ------------------------------------------------- */

/* Queue obj (stolen) as the JSON response. */
void reply_json(struct request *r, unsigned status, json_t *obj);
/* Queue the API's error object. code and param may be NULL. */
void reply_error(struct request *r, unsigned status, const char *code, const char *param,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The error object reply_error sends (a new reference; NULL only when out
 * of memory): {"error": {"message", "type", "param", "code"}}. */
json_t *error_object(unsigned status, const char *code, const char *param, const char *msg);
/* Queue an error from an ada_err: the status follows err->code; a
 * not-found is a 404 unless notfound_status says otherwise. */
void reply_ada_err(struct request *r, const struct ada_err *err, unsigned notfound_status);
/* Queue a prepared response (the api's reference is dropped). */
void reply_response(struct request *r, unsigned status, struct MHD_Response *resp);
/* The type string api.md gives a status. */
const char *error_type(unsigned status);

/* A query argument, or NULL. */
const char *req_arg(struct request *r, const char *key);
/* A request header, or NULL. */
const char *req_header(struct request *r, const char *key);
/* ?limit= (default 20, 1..100): 0 on success, else replies 400 and returns -1. */
int req_limit(struct request *r, int *limit);

/* Log a line (logfmt) through the hooks. */
void api_log(struct api *a, enum api_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

uint64_t now_ns(void);

/* ---- statistics (stats.c) --------------------------------------------- */

int stats_init(struct api *a);
void stats_free(struct api *a);
void stats_record(struct api *a, int route_index, unsigned status, uint64_t ns);
/* Append the Prometheus text of the HTTP counters to out (failure sticks in out). */
void stats_render(struct api *a, struct strbuf *out);

/* ---- libmicrohttpd's log (mhd_log.c) ----------------------------------- */

int mhd_log_init(struct api *a);
/* MHD_OPTION_EXTERNAL_LOGGER: at most once a second per message. */
void mhd_log(void *cls, const char *fmt, va_list ap);
/* Write the counts of messages dropped since their last line. */
void mhd_log_flush(struct api *a);
void mhd_log_release(struct api *a);

/* ---- the header deadline (deadline.c) ----------------------------------- */

int deadline_init(struct api *a);
/* MHD_OPTION_NOTIFY_CONNECTION: track connections from accept to close. */
void deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode code);
/* A request's headers are in / its response is done (the next one waits). */
void deadline_headers_in(struct api *a, struct MHD_Connection *conn);
void deadline_request_done(struct api *a, struct MHD_Connection *conn);
void deadline_stop(struct api *a);
void deadline_free(struct api *a);

/* ---- who may call (guard.c) --------------------------------------------- */

int guard_init(struct api *a, const char *listen);
void guard_release(struct api *a);
void guard_free_list(char **v, size_t n);
/* Host, Origin and Sec-Fetch-Site of r: 0 to go on, 1 for a CORS preflight
 * to answer (guard_preflight), -1 after replying 403. */
int guard_check(struct request *r);
void guard_preflight(struct request *r);

/* ---- auth (auth.c) ------------------------------------------------------ */

/* 1 when the request carries one of the configured keys (or none are configured). */
int auth_ok(struct api *a, struct request *r);

/* ---- JSON bodies (body.c) ---------------------------------------------- */

/* Parse r's body as a JSON object; on failure reply 400 and return NULL. */
json_t *body_object(struct request *r);
/* Reply 400 naming the first key of obj not in known (NULL-terminated);
 * returns -1 then, else 0. prefix ("" or "method.") is put before names. */
int body_known_fields(struct request *r, const json_t *obj, const char *const *known,
		      const char *prefix);

/* What those two check, without a request (tests/fuzz drives them):
 * buf[0..len) as a JSON object (a new reference), or NULL with the
 * error's code and message; the first key of obj not in known, or NULL. */
struct body_error {
	const char *code;           /* "invalid_json", "invalid_utf8" */
	char msg[512];
};
json_t *body_parse(const char *buf, size_t len, struct body_error *e);
const char *body_unknown_field(const json_t *obj, const char *const *known);

/* ---- handlers ---------------------------------------------------------- */

void h_files_list(struct request *r);
void h_files_get(struct request *r);
void h_files_delete(struct request *r);
void h_files_content(struct request *r);
void h_models_list(struct request *r);
void h_models_get(struct request *r);
void h_jobs_create(struct request *r);
void h_jobs_list(struct request *r);
void h_jobs_get(struct request *r);
void h_jobs_cancel(struct request *r);
void h_jobs_events(struct request *r);
void h_jobs_checkpoints(struct request *r);
void h_jobs_ranks(struct request *r);
void h_jobs_adapter(struct request *r);
void h_jobs_adapter_file(struct request *r);
void h_schedule(struct request *r);
void h_healthz(struct request *r);
void h_daemons(struct request *r);
void h_dashboard_index(struct request *r);
void h_dashboard_file(struct request *r);
void h_metrics(struct request *r);

/* ---- uploads (upload.c) ------------------------------------------------ */

/* Called on the first call for a BODY_UPLOAD route; 0, or -1 after replying. */
int upload_begin(struct request *r);
/* Body bytes; 0, or -1 on a failure to reply with at the end. */
int upload_data(struct request *r, const char *data, size_t size);
/* The body is complete: validate, store, reply (the upload route's handler). */
void upload_finish(struct request *r);
void upload_free(struct upload *u);

/*
 * The parsing half of an upload, which the functions above run and
 * tests/fuzz drives without a request or a store: a new upload (owned,
 * upload_free), its output (the temporary file: fd and path, then owned
 * by the upload), multipart setup from the Content-Type (conn is the
 * request's, which libmicrohttpd's parser reads it from; -1 when there is
 * no usable boundary), body bytes, the end of the body (the form's field
 * checks), the first failure as the reply would give it, and the stored
 * file checked as a training file (fills f's counts and shape, and for a
 * classification file *labels, JSON text the caller frees).
 */
struct upload *upload_parser_new(size_t max_upload);
void upload_parser_output(struct upload *u, int fd, const char *path);
int upload_parser_multipart(struct upload *u, struct MHD_Connection *conn, const char *ct);
int upload_parser_feed(struct upload *u, const char *data, size_t size);   /* 0, or -1: failed */
int upload_parser_end(struct upload *u);                                   /* 0, or -1: failed */
const char *upload_parser_failure(const struct upload *u, unsigned *status, const char **code,
				  const char **param);
int upload_validate(struct upload *u, struct store_file *f, char **labels, struct ada_err *err);

/* ---- streams (sse.c) --------------------------------------------------- */

int sse_init(struct api *a);
/* Reply with a live stream of job_id's events after after_seq. */
void sse_start(struct request *r, const char *job_id, int64_t after_seq);
/* End every stream (shutdown); then join the keep-alive thread. */
void sse_shutdown(struct api *a);
void sse_free(struct api *a);
/* Has the peer closed or reset the connection on socket fd (-1: not
 * known)? A stream's client (events, or an inference's answer, infer.c)
 * sends nothing after its request: a hang-up is all there is to see. */
int stream_peer_gone(int fd);
/* A text/event-stream response (unbuffered by proxies) whose body
 * read(cls) gives as it comes; NULL when out of memory (release is not
 * called then). */
struct MHD_Response *stream_response(MHD_ContentReaderCallback read, void *cls,
				     MHD_ContentReaderFreeCallback release);

/* ---- rendered jobs (job_cache.c) ------------------------------------ */

int job_cache_init(struct api *a);
void job_cache_free(struct api *a);
/* A copy (malloc'ed) of the job rendered at this version, or NULL. */
char *job_cache_get(struct api *a, const char *id, int64_t version, size_t *len);
void job_cache_put(struct api *a, const char *id, int64_t version, const char *text, size_t len);
/* The job object's JSON text (malloc'ed), from the cache when it can be. */
char *job_render(struct api *a, const struct store_job *j, size_t *len);
/* Queue a JSON text (stolen) as the response. */
void reply_text(struct request *r, unsigned status, char *text, size_t len);

/* ---- inference (infer.c, h_infer.c) ------------------------------------ */

struct api_infer {
	atomic_int refs;
	struct api *api;
	pthread_mutex_t lock;
	struct MHD_Connection *conn;   /* NULL once the request is done */
	int fd;                        /* its socket, -1 when unknown */
	int suspended;                 /* the connection sleeps until woken */
	int ready;                     /* the connection has something to answer */
	int started, done, failed, gone;
	struct api_infer_params p;
	/* what the params point into */
	json_t *body, *messages, *inputs;
	int32_t *ids;
	/* the answer */
	char id[64];
	int64_t created;
	int prompt_tokens, completion_tokens;
	size_t text_offset;            /* completions' logprobs.text_offset */
	char finish[16];
	int role_sent;
	struct strbuf out;             /* a stream's text not yet sent, from off */
	size_t off;
	struct strbuf text;            /* the completion's text (not streaming) */
	json_t *lp;                    /* its logprobs (not streaming) */
	json_t *result;                /* a classification's data */
	unsigned fail_status;
	char fail_code[48], fail_param[128], fail_msg[512];
};

/* A job for r (one reference: the request's), or NULL when out of memory. */
struct api_infer *infer_job_new(struct request *r, enum api_infer_kind kind);
/* r->infer was submitted: answer when it is ready, else suspend until it is. */
void infer_wait(struct request *r);
/* The request's completion callback: the client no longer waits. */
void infer_request_done(struct request *r);

/* A body body_parse refused: the path of the string value that holds the
 * offending bytes (invalid UTF-8, an escape that is no character) into
 * param ("prompt", "messages[0].content"), "" when the fault is elsewhere
 * (h_infer.c; tests/fuzz drives it). */
void infer_error_param(const char *buf, size_t len, char *param, size_t cap);

void h_completions(struct request *r);
void h_chat_completions(struct request *r);
void h_classifications(struct request *r);
void h_question_answering(struct request *r);

/* ---- objects (objects.c) ----------------------------------------------- */

json_t *job_object(const struct store_job *j);
/* Whether the job's output is a whole model (model.gguf: full fine-tuning
 * of a causal LM) rather than an adapter directory. */
int job_writes_gguf(const struct store_job *j);
json_t *event_object(const char *job_id, const struct store_event *e);
json_t *file_object(const struct store_file *f);
/* "ftevent-<job token>-<seq>"; returns buf. */
char *event_id(const char *job_id, int64_t seq, char *buf, size_t cap);
/* The seq of an event id of job_id, or -1 when it is not one. */
int64_t event_id_parse(const char *job_id, const char *id);
/* A JSON text column as a value (null when NULL or unparsable). */
json_t *json_column(const char *text);

#endif
