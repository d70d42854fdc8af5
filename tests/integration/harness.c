/* harness — starting adalorad and talking to it; see harness.h. */
#include "harness.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adalora.h"
#include "pg_server.h"
#include "scratch.h"
#include "task_data.h"
#include "util/fileio.h"

double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				FATAL("out of memory");
		}
		size_t got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got < 4096)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

char *write_text(const char *dir, const char *name, const char *text)
{
	struct ada_err err = { 0 };
	char *path = path_join(dir, name);

	if (!path || file_write_atomic(path, text, strlen(text), &err))
		FATAL("%s/%s: %s", dir, name, path ? err.msg : "out of memory");
	return path;
}

char *scratch_dir(const char *name)
{
	char *dir = check_tmpdir(name), models[2200];

	snprintf(models, sizeof(models), "%s/models", dir);
	if (mkdir(models, 0755))
		FATAL("mkdir %s: %s", models, strerror(errno));
	return dir;
}

void models_link_stories260K(const char *dir)
{
	const char *assets = check_require_assets("this test (stories260K)");
	char src[4096], dst[2200];

	snprintf(src, sizeof(src), "%s/models/stories260K/stories260K.gguf", assets);
	snprintf(dst, sizeof(dst), "%s/models/stories260K.gguf", dir);
	if (symlink(src, dst) && errno != EEXIST)
		FATAL("symlink %s: %s", dst, strerror(errno));
}

char *scratch_stories(const char *name, char *data, size_t cap)
{
	char *dir = scratch_dir(name);

	models_link_stories260K(dir);
	snprintf(data, cap, "%s/shakespeare.jsonl", dir);
	write_jsonl(data, 1, 40000);
	return dir;
}

void models_create_tiny(const char *dir)
{
	struct ada_err err = { 0 };
	char path[2200];

	snprintf(path, sizeof(path), "%s/models/tiny.gguf", dir);
	if (ada_create_model("tiny", 1234, path, &err))
		FATAL("create the tiny model: %s", err.msg);
}

void write_jsonl(const char *path, int shakespeare, size_t max_bytes)
{
	struct ada_err err = { 0 };
	int rc = shakespeare ? task_write_shakespeare_jsonl(path,
				check_require_assets("this test (tinyshakespeare)"), max_bytes, &err)
			     : task_write_text_jsonl(path, max_bytes, 12345, &err);

	if (rc)
		FATAL("%s: %s", path, err.msg);
}

unsigned long daemon_nofile;

int backend_is_postgresql(void)
{
	const char *b = getenv("ADALORAD_TEST_BACKEND");

	return b && !strcmp(b, "postgresql");
}

const char *daemon_db(const char *dir)
{
	static char db[2200];

	if (backend_is_postgresql())
		snprintf(db, sizeof(db), "%s", pg_server_uri_for(dir));
	else
		snprintf(db, sizeof(db), "%s/adalorad.db", dir);
	return db;
}

void daemon_start(struct daemon *d, const char *dir, const char *const *args)
{
	daemon_start_as(d, dir, "daemon", args);
}

void daemon_start_as(struct daemon *d, const char *dir, const char *name,
		     const char *const *args)
{
	const char *bin = getenv("ADALORAD_BIN");
	char db[2200], data[2200], models[2200];
	const char *argv[72];
	int n = 0, fd;
	double t0;

	if (!bin || !*bin)
		FATAL("ADALORAD_BIN is not set (run the tests with meson)");
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->log_path, sizeof(d->log_path), "%s/%s.log", dir, name);
	snprintf(db, sizeof(db), "%s", daemon_db(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(models, sizeof(models), "%s/models", dir);
	argv[n++] = bin;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--db";
	argv[n++] = db;
	argv[n++] = "--data-dir";
	argv[n++] = data;
	argv[n++] = "--models-dir";
	argv[n++] = models;
	if (backend_is_postgresql()) {
		/* A killed daemon's jobs are taken over in seconds (a test
		 * passing its own lease flags comes later and wins). */
		argv[n++] = "--lease-duration";
		argv[n++] = "2";
		argv[n++] = "--lease-heartbeat";
		argv[n++] = "0.25";
	}
	for (int i = 0; args && args[i] && n < 70; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	/* A restart keeps the previous run's log beside the new one. */
	{
		char prev[2200];
		snprintf(prev, sizeof(prev), "%s.prev", d->log_path);
		rename(d->log_path, prev);
	}
	fd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		FATAL("%s: %s", d->log_path, strerror(errno));
	d->pid = fork();
	if (d->pid < 0)
		FATAL("fork: %s", strerror(errno));
	if (d->pid == 0) {
		if (daemon_nofile) {
			struct rlimit rl = { daemon_nofile, daemon_nofile };
			if (setrlimit(RLIMIT_NOFILE, &rl))
				_exit(126);
		}
		dup2(fd, STDERR_FILENO);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(fd);
	t0 = now_s();
	for (;;) {
		char *log = read_file(d->log_path, NULL), *nl;
		int status;
		if (log && (nl = strchr(log, '\n'))) {
			unsigned port;
			*nl = '\0';
			if (sscanf(log, "listening on 127.0.0.1:%u", &port) != 1)
				FATAL("the daemon's first line is not \"listening on\": %s", log);
			snprintf(d->base, sizeof(d->base), "http://127.0.0.1:%u", port);
			free(log);
			return;
		}
		free(log);
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			log = read_file(d->log_path, NULL);
			FATAL("adalorad exited at start: %s", log ? log : "");
		}
		if (now_s() - t0 > 30)
			FATAL("adalorad did not start within 30 s");
		sleep_ms(5);
	}
}

int daemon_stop(struct daemon *d)
{
	int status;

	kill(d->pid, SIGTERM);
	if (waitpid(d->pid, &status, 0) != d->pid)
		FATAL("waitpid: %s", strerror(errno));
	d->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int daemon_restart(struct daemon *d, const char *dir, const char *const *args)
{
	char name[64];
	int status;

	snprintf(name, sizeof(name), "%s", d->name[0] ? d->name : "daemon");
	status = daemon_stop(d);
	daemon_start_as(d, dir, name, args);
	return status;
}

int daemon_restart_with_keys(struct daemon *d, const char *dir, const char *keys)
{
	char *path = write_text(dir, "keys", keys);
	int status = daemon_restart(d, dir, (const char *const[]){ "--api-key-file", path, NULL });

	free(path);
	return status;
}

void daemon_kill(struct daemon *d)
{
	int status;

	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
}

int daemon_alive(struct daemon *d)
{
	int status;

	return d->pid > 0 && waitpid(d->pid, &status, WNOHANG) == 0;
}

struct buf {
	char *p;
	size_t n, cap;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;

	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			return 0;
		b->cap = cap;
	}
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

void http_resp_free(struct http_resp *r)
{
	free(r->body);
	free(r->headers);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

struct upload_src {
	const char *p;
	size_t left;
};

static size_t on_read(char *out, size_t size, size_t nitems, void *ud)
{
	struct upload_src *u = ud;
	size_t n = size * nitems < u->left ? size * nitems : u->left;

	memcpy(out, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

static void request(struct daemon *d, const char *method, const char *path,
		    const char *const *headers, const void *body, size_t len, int chunked,
		    struct http_resp *r);

void http(struct daemon *d, const char *method, const char *path, const char *const *headers,
	  const void *body, size_t len, struct http_resp *r)
{
	request(d, method, path, headers, body, len, 0, r);
}

long http_status(struct daemon *d, const char *method, const char *path,
		 const char *const *headers)
{
	struct http_resp r;
	long status;

	request(d, method, path, headers, NULL, 0, 0, &r);
	status = r.status;
	http_resp_free(&r);
	return status;
}

void http_chunked(struct daemon *d, const char *method, const char *path,
		  const char *const *headers, const void *body, size_t len, struct http_resp *r)
{
	request(d, method, path, headers, body, len, 1, r);
}

static void request(struct daemon *d, const char *method, const char *path,
		    const char *const *headers, const void *body, size_t len, int chunked,
		    struct http_resp *r)
{
	struct upload_src src = { body, len };
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct buf b = { 0 }, h = { 0 };
	char url[4096];
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	if (!c)
		FATAL("curl_easy_init");
	snprintf(url, sizeof(url), "%s%s", d->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body && chunked) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &src);
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	hl = curl_slist_append(hl, "Expect:");
	for (int i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	cc = curl_easy_perform(c);
	/* A server may answer (413) and close before a chunked body is sent. */
	if (cc != CURLE_OK && !(chunked && (cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR) &&
				curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status) == CURLE_OK &&
				r->status))
		FATAL("%s %s: %s", method, path, curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = b.p ? b.p : strdup("");
	r->len = b.n;
	r->headers = h.p ? h.p : strdup("");
	r->json = json_loadb(r->body, r->len, 0, NULL);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

long http_json(struct daemon *d, const char *method, const char *path, json_t *obj,
	       json_t **out)
{
	static const char *const ct[] = { "Content-Type: application/json", NULL };
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	struct http_resp r;
	long status;

	json_decref(obj);
	http(d, method, path, text ? ct : NULL, text, text ? strlen(text) : 0, &r);
	free(text);
	status = r.status;
	if (out) {
		*out = r.json;
		r.json = NULL;
	}
	http_resp_free(&r);
	return status;
}

int tcp_connect(struct daemon *d)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned port = 0;
	int fd;

	if (sscanf(d->base, "http://127.0.0.1:%u", &port) != 1)
		FATAL("no port in %s", d->base);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

char *http_raw(struct daemon *d, const char *bytes, size_t len, double timeout_s, long *status)
{
	struct buf b = { 0 };
	double deadline = now_s() + timeout_s;
	int fd = tcp_connect(d);
	char chunk[4096];

	*status = 0;
	if (fd < 0)
		FATAL("connect %s: %s", d->base, strerror(errno));
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, bytes + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;   /* the server may answer and close early */
		off += (size_t)n;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline - now_s();
		ssize_t n;
		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			break;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			break;
		on_data(chunk, 1, (size_t)n, &b);
	}
	close(fd);
	if (b.p)
		sscanf(b.p, "HTTP/1.%*d %ld", status);
	return b.p ? b.p : strdup("");
}

char *upload(struct daemon *d, const char *path, const char *filename)
{
	CURL *c = curl_easy_init();
	curl_mime *mime = curl_mime_init(c);
	curl_mimepart *part;
	struct buf b = { 0 };
	char url[512], *id;
	json_t *j;
	long status;

	snprintf(url, sizeof(url), "%s/v1/files", d->base);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "purpose");
	curl_mime_data(part, "fine-tune", CURL_ZERO_TERMINATED);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "file");
	curl_mime_filedata(part, path);
	curl_mime_filename(part, filename);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) != CURLE_OK)
		FATAL("upload %s failed", path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_mime_free(mime);
	curl_easy_cleanup(c);
	j = json_loads(b.p ? b.p : "", 0, NULL);
	if (status != 200 || !json_is_string(json_object_get(j, "id")))
		FATAL("upload %s: %ld %s", path, status, b.p ? b.p : "");
	id = strdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	free(b.p);
	return id;
}

const char *job_status(const json_t *job)
{
	return json_string_value(json_object_get(job, "status")) ?: "";
}

/* What a poll waits for: a status (NULL: any final one), or a step. */
struct until {
	const char *status;
	long min_step;
};

static int reached(const json_t *job, const struct until *u)
{
	const char *st = job_status(job);
	long step = (long)json_integer_value(json_object_get(json_object_get(job, "progress"),
							     "step"));

	if (u->status)
		return !strcmp(st, u->status);
	return !strcmp(st, "succeeded") || !strcmp(st, "failed") || !strcmp(st, "cancelled") ||
	       step >= u->min_step;
}

/* GET the job every 20 ms until u is reached or timeout_s passes. */
static json_t *poll_job(struct daemon *d, const char *job_id, const struct until *u,
			double timeout_s)
{
	char path[256];
	double t0 = now_s();

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", job_id);
	for (;;) {
		json_t *j = NULL;
		long code = http_json(d, "GET", path, NULL, &j);
		if (code != 200)
			FATAL("GET %s: %ld", path, code);
		if (reached(j, u) || now_s() - t0 > timeout_s)
			return j;
		json_decref(j);
		sleep_ms(20);
	}
}

json_t *wait_step(struct daemon *d, const char *job_id, long min_step, double timeout_s)
{
	return poll_job(d, job_id, &(struct until){ .min_step = min_step }, timeout_s);
}

json_t *wait_job(struct daemon *d, const char *job_id, double timeout_s)
{
	return wait_step(d, job_id, 1L << 62, timeout_s);
}

json_t *wait_status(struct daemon *d, const char *job_id, const char *status, double timeout_s)
{
	return poll_job(d, job_id, &(struct until){ .status = status }, timeout_s);
}

long job_create(struct daemon *d, json_t *body, char **id)
{
	json_t *job = NULL;
	long status = http_json(d, "POST", "/v1/fine_tuning/jobs", body, &job);
	const char *s = json_string_value(json_object_get(job, "id"));

	*id = status == 201 && s ? strdup(s) : NULL;
	if (status != 201)
		fprintf(stderr, "POST /v1/fine_tuning/jobs: %ld %s\n", status,
			json_string_value(json_object_get(json_object_get(job, "error"), "message")) ?: "");
	json_decref(job);
	return status;
}

int same_adapter_file(struct daemon *d, const char *job_a, const char *job_b,
		      const char *name)
{
	struct http_resp a, b;
	char path[512];
	int same;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/%s", job_a, name);
	http(d, "GET", path, NULL, NULL, 0, &a);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/%s", job_b, name);
	http(d, "GET", path, NULL, NULL, 0, &b);
	same = a.status == 200 && b.status == 200 && a.len == b.len && a.len > 0 &&
	       !memcmp(a.body, b.body, a.len);
	http_resp_free(&a);
	http_resp_free(&b);
	return same;
}

void job_checkpoint_dir(const struct daemon *d, const char *job, char *buf, size_t cap)
{
	char jobdir[2400];
	struct dirent *de;
	long best = -1;
	DIR *dir;

	snprintf(jobdir, sizeof(jobdir), "%s/data/jobs/%s", d->dir, job);
	snprintf(buf, cap, "%s/checkpoint", jobdir);
	if (!(dir = opendir(jobdir)))
		return;
	while ((de = readdir(dir))) {
		long n = !strncmp(de->d_name, "run-", 4) ? atol(de->d_name + 4) : -1;
		if (n > best) {
			best = n;
			snprintf(buf, cap, "%s/%s/checkpoint", jobdir, de->d_name);
		}
	}
	closedir(dir);
}

struct sse_state {
	struct sse_result *res;
	struct buf line;
	char event[32];
	long id;
	size_t max_events, n;
	int done;
	double deadline;
};

static void sse_dispatch(struct sse_state *s, const char *data)
{
	if (!strcmp(s->event, "done")) {
		json_t *j = json_loads(data, 0, NULL);
		snprintf(s->res->done_status, sizeof(s->res->done_status), "%s",
			 json_string_value(json_object_get(j, "status")) ?: "?");
		json_decref(j);
		s->done = 1;
		return;
	}
	json_t *e = json_loads(data, 0, NULL);
	if (!e)
		FATAL("an SSE event is not JSON: %s", data);
	s->res->ids = realloc(s->res->ids, (s->n + 1) * sizeof(long));
	s->res->arrival = realloc(s->res->arrival, (s->n + 1) * sizeof(double));
	s->res->ids[s->n] = s->id;
	s->res->arrival[s->n] = now_s();
	json_array_append_new(s->res->events, e);
	s->n++;
	if (s->n >= s->max_events)
		s->done = 1;
}

static size_t on_sse(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sse_state *s = ud;
	size_t n = size * nmemb;
	char data[1 << 16] = "";

	for (size_t i = 0; i < n; i++) {
		char c = ptr[i];
		if (c != '\n') {
			on_data(&c, 1, 1, &s->line);
			continue;
		}
		if (!s->line.n) {
			/* blank line: the block ends */
			continue;
		}
		if (!strncmp(s->line.p, "id: ", 4))
			s->id = strtol(s->line.p + 4, NULL, 10);
		else if (!strncmp(s->line.p, "event: ", 7))
			snprintf(s->event, sizeof(s->event), "%s", s->line.p + 7);
		else if (!strncmp(s->line.p, "data: ", 6)) {
			snprintf(data, sizeof(data), "%s", s->line.p + 6);
			sse_dispatch(s, data);
		} else if (s->line.p[0] == ':')
			s->res->keepalives++;
		s->line.n = 0;
		if (s->done)
			return 0;   /* end the transfer */
	}
	return n;
}

static int sse_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct sse_state *s = ud;

	(void)a, (void)b, (void)c, (void)d;
	return now_s() > s->deadline;   /* nonzero aborts */
}

void sse_follow(struct daemon *d, const char *job_id, long last_event_id, double timeout_s,
		size_t max_events, struct sse_result *res)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct sse_state s = { .res = res, .max_events = max_events ? max_events : (size_t)-1 };
	char url[512], hdr[64];

	memset(res, 0, sizeof(*res));
	res->events = json_array();
	s.deadline = now_s() + timeout_s;
	snprintf(url, sizeof(url), "%s/v1/fine_tuning/jobs/%s/events", d->base, job_id);
	hl = curl_slist_append(hl, "Accept: text/event-stream");
	if (last_event_id >= 0) {
		snprintf(hdr, sizeof(hdr), "Last-Event-ID: %ld", last_event_id);
		hl = curl_slist_append(hl, hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
	curl_easy_perform(c);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	free(s.line.p);
}

void sse_result_free(struct sse_result *res)
{
	json_decref(res->events);
	free(res->ids);
	free(res->arrival);
	memset(res, 0, sizeof(*res));
}

json_t *adalora_job(const char *model, const char *file, long max_steps, long seq_len,
		    long checkpoint_every)
{
	return json_pack("{s:s,s:s,s:i,s:{s:s,s:{s:{s:I,s:I,s:i,s:f,s:i,s:i,s:I,s:I,s:i,s:i,s:I}}}}",
			 "model", model, "training_file", file, "seed", 7,
			 "method", "type", "adalora", "adalora", "hyperparameters",
			 "max_steps", (json_int_t)max_steps, "seq_len", (json_int_t)seq_len,
			 "batch_size", 8, "learning_rate", 0.005, "init_r", 6, "target_r", 3,
			 "tinit", (json_int_t)(max_steps / 10), "tfinal", (json_int_t)(max_steps / 5),
			 "deltaT", 5, "log_every", 5, "checkpoint_every",
			 (json_int_t)checkpoint_every);
}

char *run_capture(const char *const *argv, int *status)
{
	int pipefd[2], st;
	struct buf b = { 0 };
	char chunk[4096];
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		FATAL("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		FATAL("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0)
		on_data(chunk, 1, (size_t)n, &b);
	close(pipefd[0]);
	waitpid(pid, &st, 0);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return b.p ? b.p : strdup("");
}

json_t *job_events(struct daemon *d, const char *job_id)
{
	json_t *all = json_array();
	char path[512];

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?after=ftevent-%s-0&limit=100",
		 job_id, job_id + 6);
	for (;;) {
		json_t *l = NULL, *data, *e;
		size_t i;
		if (http_json(d, "GET", path, NULL, &l) != 200)
			FATAL("GET %s failed", path);
		data = json_object_get(l, "data");
		json_array_foreach(data, i, e)
			json_array_append(all, e);
		if (!json_is_true(json_object_get(l, "has_more")) || !json_array_size(data)) {
			json_decref(l);
			return all;
		}
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?after=%s&limit=100",
			 job_id,
			 json_string_value(json_object_get(json_array_get(data, json_array_size(data) - 1),
							   "id")));
		json_decref(l);
	}
}

int count_in_file(const char *path, const char *needle)
{
	char *text = read_file(path, NULL), *p;
	int n = 0;

	for (p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(text);
	return n;
}
