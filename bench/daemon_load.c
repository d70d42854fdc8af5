/*
 * daemon_load — a load generator for adalorad (libcurl multi, one process,
 * one thread, many connections). Three measurements, one per mode:
 *
 *   daemon_load get URL JOB_ID CONNECTIONS SECONDS
 *       CONNECTIONS keep-alive connections each GET the job as fast as it
 *       answers; prints requests/s and latency percentiles.
 *   daemon_load create URL BODY_FILE CONNECTIONS COUNT
 *       COUNT job creations (POST, the JSON in BODY_FILE) over CONNECTIONS
 *       connections; prints creations per second and latency percentiles.
 *   daemon_load sse URL JOB_ID EVENTS
 *       follows the job's event stream; for each metrics event, the time
 *       from the trainer's callback (data.time, stamped by the worker) to
 *       the event's arrival here; prints the percentiles.
 *
 * URL may be a comma-separated list of daemons sharing one store (get and
 * create spread their connections over them, connection i on URL i mod n);
 * sse follows the stream on the first, so a job another daemon trains
 * measures cross-daemon delivery (LISTEN/NOTIFY).
 *
 * Output is one JSON line per run. Latencies are wall-clock on the same
 * machine (loopback), so the daemon's and this clock are the same clock.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct samples {
	double *v;
	size_t n, cap;
};

static void add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v) {
			fprintf(stderr, "daemon_load: out of memory\n");
			exit(1);
		}
	}
	s->v[s->n++] = x;
}

static double pct(const struct samples *s, double p)
{
	size_t i;

	if (!s->n)
		return 0;
	i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

static void report(const char *mode, const struct samples *lat, double seconds, int errors,
		   const char *extra)
{
	qsort(lat->v, lat->n, sizeof(*lat->v), cmp_double);
	printf("{\"mode\":\"%s\",\"count\":%zu,\"errors\":%d,\"seconds\":%.3f,\"per_second\":%.1f,"
	       "\"ms_p50\":%.3f,\"ms_p90\":%.3f,\"ms_p99\":%.3f,\"ms_max\":%.3f%s}\n",
	       mode, lat->n, errors, seconds, (double)lat->n / seconds, 1e3 * pct(lat, 50),
	       1e3 * pct(lat, 90), 1e3 * pct(lat, 99), lat->n ? 1e3 * lat->v[lat->n - 1] : 0,
	       extra ? extra : "");
}

struct conn {
	CURL *c;
	double t0;
	long status;
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* Run CONNECTIONS handles; each request is re-armed by rearm() until it
 * returns 0. */
static void run_multi(struct conn *cs, int n, int (*rearm)(struct conn *, void *), void *ctx,
		      struct samples *lat, int *errors)
{
	CURLM *m = curl_multi_init();
	int running = 0;

	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
	for (int i = 0; i < n; i++) {
		curl_easy_setopt(cs[i].c, CURLOPT_PRIVATE, &cs[i]);
		if (rearm(&cs[i], ctx)) {
			cs[i].t0 = now_s();
			curl_multi_add_handle(m, cs[i].c);
			running++;
		}
	}
	while (running) {
		CURLMsg *msg;
		int left, still;
		curl_multi_perform(m, &still);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct conn *c;
			long status = 0;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result != CURLE_OK || status >= 300)
				(*errors)++;
			else
				add(lat, now_s() - c->t0);
			curl_multi_remove_handle(m, c->c);
			running--;
			if (rearm(c, ctx)) {
				c->t0 = now_s();
				curl_multi_add_handle(m, c->c);
				running++;
			}
		}
		if (running)
			curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	curl_multi_cleanup(m);
}

/* The i-th of the comma-separated URLs in list, taken modulo their count,
 * followed by path, into out. */
static void nth_url(const char *list, int i, const char *path, char *out, size_t cap)
{
	int n = 1, k;
	const char *p = list, *end;

	for (const char *q = list; *q; q++)
		n += *q == ',';
	k = i % n;
	while (k-- > 0)
		p = strchr(p, ',') + 1;
	end = strchr(p, ',');
	snprintf(out, cap, "%.*s%s", (int)(end ? end - p : (ptrdiff_t)strlen(p)), p, path);
}

struct get_ctx {
	double deadline;
};

static int rearm_get(struct conn *c, void *ctx)
{
	return now_s() < ((struct get_ctx *)ctx)->deadline;
	(void)c;
}

static int mode_get(const char *url, const char *job, int n, double seconds)
{
	struct conn *cs = calloc((size_t)n, sizeof(*cs));
	struct samples lat = { 0 };
	struct get_ctx ctx;
	char u[1024], path[256];
	int errors = 0;
	double t0;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", job);
	for (int i = 0; i < n; i++) {
		nth_url(url, i, path, u, sizeof(u));
		cs[i].c = curl_easy_init();
		curl_easy_setopt(cs[i].c, CURLOPT_URL, u);
		curl_easy_setopt(cs[i].c, CURLOPT_WRITEFUNCTION, discard);
	}
	t0 = now_s();
	ctx.deadline = t0 + seconds;
	run_multi(cs, n, rearm_get, &ctx, &lat, &errors);
	report("get_job", &lat, now_s() - t0, errors, NULL);
	for (int i = 0; i < n; i++)
		curl_easy_cleanup(cs[i].c);
	free(cs);
	free(lat.v);
	return errors ? 1 : 0;
}

struct create_ctx {
	int left;
};

static int rearm_create(struct conn *c, void *ctx)
{
	struct create_ctx *cc = ctx;

	(void)c;
	if (cc->left <= 0)
		return 0;
	cc->left--;
	return 1;
}

static int mode_create(const char *url, const char *body_file, int n, int count)
{
	struct conn *cs = calloc((size_t)n, sizeof(*cs));
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct samples lat = { 0 };
	struct create_ctx ctx = { count };
	json_t *body = json_load_file(body_file, 0, NULL);
	char u[1024], *text;
	int errors = 0;
	double t0;

	if (!body) {
		fprintf(stderr, "daemon_load: %s is not JSON\n", body_file);
		return 2;
	}
	text = json_dumps(body, JSON_COMPACT);
	h = curl_slist_append(h, "Expect:");
	for (int i = 0; i < n; i++) {
		nth_url(url, i, "/v1/fine_tuning/jobs", u, sizeof(u));
		cs[i].c = curl_easy_init();
		curl_easy_setopt(cs[i].c, CURLOPT_URL, u);
		curl_easy_setopt(cs[i].c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(cs[i].c, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(cs[i].c, CURLOPT_WRITEFUNCTION, discard);
	}
	t0 = now_s();
	run_multi(cs, n, rearm_create, &ctx, &lat, &errors);
	report("create_job", &lat, now_s() - t0, errors, NULL);
	for (int i = 0; i < n; i++)
		curl_easy_cleanup(cs[i].c);
	curl_slist_free_all(h);
	json_decref(body);
	free(text);
	free(cs);
	free(lat.v);
	return errors ? 1 : 0;
}

struct sse_ctx {
	char line[1 << 16];
	size_t len;
	char event[32];
	struct samples lat;
	double since;
	int want;
	int done;
};

static size_t on_sse(char *p, size_t size, size_t n, void *ud)
{
	struct sse_ctx *s = ud;
	double arrived = now_s();

	for (size_t i = 0; i < size * n; i++) {
		if (p[i] != '\n') {
			if (s->len + 1 < sizeof(s->line))
				s->line[s->len++] = p[i];
			continue;
		}
		s->line[s->len] = '\0';
		if (!strncmp(s->line, "event: ", 7)) {
			snprintf(s->event, sizeof(s->event), "%s", s->line + 7);
		} else if (!strncmp(s->line, "data: ", 6)) {
			if (!strcmp(s->event, "done")) {
				s->done = 1;
			} else if (!strcmp(s->event, "metrics")) {
				json_t *e = json_loads(s->line + 6, 0, NULL);
				json_t *t = json_object_get(json_object_get(e, "data"), "time");
				if (json_is_number(t) && json_number_value(t) >= s->since)
					add(&s->lat, arrived - json_number_value(t));
				json_decref(e);
				if ((int)s->lat.n >= s->want)
					s->done = 1;
			}
		}
		s->len = 0;
		if (s->done)
			return 0;
	}
	return size * n;
}

static int mode_sse(const char *url, const char *job, int events)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Accept: text/event-stream");
	struct sse_ctx *s = calloc(1, sizeof(*s));
	char u[1024], path[256];
	double t0 = now_s();

	s->want = events;
	s->since = t0;   /* the log's older events are history, not delivery */
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events", job);
	nth_url(url, 0, path, u, sizeof(u));
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_perform(c);
	report("sse_delivery", &s->lat, now_s() - t0, 0, NULL);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(s->lat.v);
	free(s);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc == 6 && !strcmp(argv[1], "get"))
		rc = mode_get(argv[2], argv[3], atoi(argv[4]), atof(argv[5]));
	else if (argc == 6 && !strcmp(argv[1], "create"))
		rc = mode_create(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	else if (argc == 5 && !strcmp(argv[1], "sse"))
		rc = mode_sse(argv[2], argv[3], atoi(argv[4]));
	else
		fprintf(stderr, "usage: daemon_load get URL JOB_ID CONNECTIONS SECONDS\n"
				"       daemon_load create URL BODY_FILE CONNECTIONS COUNT\n"
				"       daemon_load sse URL JOB_ID EVENTS\n");
	curl_global_cleanup();
	return rc;
}
