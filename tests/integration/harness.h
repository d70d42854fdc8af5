/*
 * harness — a real adalorad on a free loopback port, driven with libcurl.
 *
 * Each test gets a scratch directory (database, data, models, the
 * daemon's log) and starts the daemon built in this tree (ADALORAD_BIN)
 * with --listen 127.0.0.1:0, reading the port from the first line of its
 * stderr ("listening on ADDR:PORT"). Helpers make requests, upload files,
 * wait for jobs and follow event streams. A helper that cannot do its job
 * (the daemon will not start, a request cannot be sent) ends the test
 * with exit status 1 and says why; expectations are CHECKs.
 */
#ifndef ADALORAD_TESTS_HARNESS_H
#define ADALORAD_TESTS_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "check.h"

struct daemon {
	pid_t pid;
	char dir[2048];         /* scratch: adalorad.db, data/, models/, daemon.log */
	char name[64];          /* its log is dir/<name>.log ("daemon") */
	char base[128];         /* "http://127.0.0.1:PORT" */
	char log_path[2100];
};

/* The backend the tests run against: 1 for PostgreSQL (the switch above). */
int backend_is_postgresql(void);
/* The --db the daemons of dir use (a path, or a postgresql:// URI). */
const char *daemon_db(const char *dir);

/* A fresh scratch directory with an empty models/ (caller frees). */
char *scratch_dir(const char *name);
/* The scratch directory of the tests on real data: models/stories260K.gguf
 * and data (cap bytes) = dir/shakespeare.jsonl, 40 kB of tinyshakespeare.
 * Skips the test (exit 77) without ../shared/assets. */
char *scratch_stories(const char *name, char *data, size_t cap);

/* models/stories260K.gguf -> the shared asset (skips the test, exit 77,
 * when ../shared/assets is absent). */
void models_link_stories260K(const char *dir);
/* models/tiny.gguf: a random Llama with a byte-level tokenizer (offline). */
void models_create_tiny(const char *dir);
/* A JSONL file of {"text"} lines: the first max_bytes of tinyshakespeare
 * (skips the test, exit 77, without the assets), or generated sentences
 * (task_data.h) when shakespeare is 0. */
void write_jsonl(const char *path, int shakespeare, size_t max_bytes);

/* When nonzero, daemon_start() lowers the daemon's descriptor limit (soft
 * and hard) to this before exec. */
extern unsigned long daemon_nofile;

/* Start adalorad in dir with extra flags (NULL-terminated, may be NULL). */
void daemon_start(struct daemon *d, const char *dir, const char *const *args);
/* The same with its log named dir/<name>.log: several daemons on one
 * scratch directory (its database, data and models shared). */
void daemon_start_as(struct daemon *d, const char *dir, const char *name,
		     const char *const *args);
/* SIGTERM and wait: the exit status (-1 if it died of a signal). */
int daemon_stop(struct daemon *d);
/* daemon_stop, then daemon_start with args: the stop's exit status. */
int daemon_restart(struct daemon *d, const char *dir, const char *const *args);
/* daemon_restart with --api-key-file dir/keys holding keys (its lines). */
int daemon_restart_with_keys(struct daemon *d, const char *dir, const char *keys);
/* SIGKILL and wait. */
void daemon_kill(struct daemon *d);
/* The daemon is still running. */
int daemon_alive(struct daemon *d);

struct http_resp {
	long status;
	char *body;             /* NUL-terminated */
	size_t len;
	json_t *json;           /* parsed body, or NULL */
	char *headers;          /* raw response headers */
};
void http_resp_free(struct http_resp *r);

/* One request. headers: NULL-terminated "Name: value" lines, may be NULL. */
void http(struct daemon *d, const char *method, const char *path, const char *const *headers,
	  const void *body, size_t len, struct http_resp *r);
/* A request without a body: its status only. */
long http_status(struct daemon *d, const char *method, const char *path,
		 const char *const *headers);
/* The same with a chunked body (no Content-Length). */
void http_chunked(struct daemon *d, const char *method, const char *path,
		  const char *const *headers, const void *body, size_t len, struct http_resp *r);
/* A JSON request (obj stolen, may be NULL): the status; *out the response JSON. */
long http_json(struct daemon *d, const char *method, const char *path, json_t *obj,
	       json_t **out);

/* Send bytes as they are on a new connection and read the answer until
 * the server closes or timeout_s passes (caller frees); *status is the
 * first response's status, 0 when none came. */
char *http_raw(struct daemon *d, const char *bytes, size_t len, double timeout_s, long *status);
/* A TCP connection to the daemon (the caller closes it), -1 on failure. */
int tcp_connect(struct daemon *d);

/* Upload a file as the openai SDK does (multipart); the new file's id (caller frees). */
char *upload(struct daemon *d, const char *path, const char *filename);

/* POST /v1/fine_tuning/jobs (body stolen): the status; *id the new job's
 * id (caller frees) on 201, else NULL. */
long job_create(struct daemon *d, json_t *body, char **id);
/* Poll a job until its status is final or timeout_s passes; the last job object. */
json_t *wait_job(struct daemon *d, const char *job_id, double timeout_s);
/* Poll until the job reports at least min_step steps (or is final). */
json_t *wait_step(struct daemon *d, const char *job_id, long min_step, double timeout_s);
/* Poll until the job's status is status (or timeout_s passes); the last job object. */
json_t *wait_status(struct daemon *d, const char *job_id, const char *status, double timeout_s);
/* The job's status in a job object ("" when there is none). */
const char *job_status(const json_t *job);
/* A job's result file (GET .../adapter/<name>) is the same, byte for
 * byte, for two succeeded jobs. */
int same_adapter_file(struct daemon *d, const char *job_a, const char *job_b,
		      const char *name);
/* The checkpoint directory of a job's latest run under d's data directory
 * (data/jobs/<id>/checkpoint, or .../run-<N>/checkpoint on a shared
 * store) into buf. */
void job_checkpoint_dir(const struct daemon *d, const char *job, char *buf, size_t cap);

/* Every event of a job, oldest first (GET .../events, paged): a new array. */
json_t *job_events(struct daemon *d, const char *job_id);
/* How many times needle occurs in the file at path (0 when unreadable). */
int count_in_file(const char *path, const char *needle);

struct sse_result {
	json_t *events;         /* array of event objects, in order */
	long *ids;              /* "id:" of each */
	int keepalives;
	char done_status[32];   /* from "event: done", "" if the stream ended without */
	double *arrival;        /* receive time of each event (unix seconds) */
};
/* Follow a job's stream (from last_event_id when >= 0) until "event: done",
 * timeout_s, or max_events events. */
void sse_follow(struct daemon *d, const char *job_id, long last_event_id, double timeout_s,
		size_t max_events, struct sse_result *res);
void sse_result_free(struct sse_result *res);

/* Run argv (argv[0] a path), capturing stdout (caller frees); *status its exit status. */
char *run_capture(const char *const *argv, int *status);
/* Bytes of a file (caller frees), or NULL. */
char *read_file(const char *path, size_t *len);
/* dir/name holding text (replaced if there); its path (caller frees). */
char *write_text(const char *dir, const char *name, const char *text);
double now_s(void);
/* A job body for model with {"max_steps", ...} hyperparameters (method adalora). */
json_t *adalora_job(const char *model, const char *file, long max_steps, long seq_len,
		    long checkpoint_every);

#define FATAL(...) do { \
	fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	exit(1); \
} while (0)

#endif
