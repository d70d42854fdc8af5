/*
 * server — libmicrohttpd's side of the api: the listening socket, the
 * access handler that walks each request through routing, auth, limits
 * and body intake to its handler, and the completion callback that logs
 * the request and counts it for /metrics.
 *
 * The socket is bound here rather than by libmicrohttpd so that any
 * address (IPv4, IPv6, a name) works the same way and the real port of
 * "ADDR:0" is known before the daemon announces it.
 *
 * Limits are checked before a body is read: a Content-Length over the
 * limit is refused with 413 from the headers alone. A chunked body has no
 * length; it is counted as it arrives, dropped once over the limit, and
 * answered with 413 when it ends (or the connection is closed if it goes
 * on far past the limit).
 *
 * Before routing, the framing of the body is checked (RFC 9112 section 6):
 * duplicate Content-Length, Content-Length with Transfer-Encoding, and
 * transfer codings other than one chunked are refused and the connection
 * closed, since libmicrohttpd would take the first Content-Length or read
 * an unknown coding until the client hangs up.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "util/alloc.h"
#include "util/err.h"

/* How far past its limit a chunked body is drained for a clean 413. */
#define DRAIN_SLACK (4u << 20)

static int parse_listen(const char *where, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon;

	if (where[0] == '[') {
		const char *rb = strchr(where, ']');
		if (!rb || rb[1] != ':')
			return -1;
		snprintf(host, hcap, "%.*s", (int)(rb - where - 1), where + 1);
		colon = rb + 1;
	} else {
		colon = strrchr(where, ':');
		if (!colon)
			return -1;
		snprintf(host, hcap, "%.*s", (int)(colon - where), where);
	}
	snprintf(port, pcap, "%s", colon + 1);
	if (!*host || !*port || strspn(port, "0123456789") != strlen(port))
		return -1;
	return 0;
}

static int open_listener(struct api *a, const char *where, struct ada_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[16], nh[NI_MAXHOST], np[NI_MAXSERV];
	int fd = -1, one = 1, gai, e = 0;

	if (parse_listen(where, host, sizeof(host), port, sizeof(port)))
		return ada_fail_param(err, ADA_EINVAL, "listen",
				      "--listen %s: expected ADDR:PORT (e.g. 127.0.0.1:8080, [::1]:0)",
				      where);
	gai = getaddrinfo(host, port, &hints, &res);
	if (gai)
		return ada_fail_param(err, ADA_EINVAL, "listen", "--listen %s: %s", where,
				      gai_strerror(gai));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ada_fail(err, ADA_EIO, "--listen %s: %s", where, strerror(e));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) ||
	    getnameinfo((struct sockaddr *)&ss, sl, nh, sizeof(nh), np, sizeof(np),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		close(fd);
		return ada_fail(err, ADA_EIO, "--listen %s: cannot read the bound address", where);
	}
	snprintf(a->address, sizeof(a->address), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
		 nh, np);
	a->listen_fd = fd;
	return ADA_OK;
}

/* Content-Type without parameters, compared case-insensitively. */
static int media_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	return ct && !strncasecmp(ct, type, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int content_length(struct request *r, uint64_t *len)
{
	const char *s = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t v = 0;

	if (!s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > UINT64_MAX / 10 - 1)
			return 0;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*len = v;
	return 1;
}

struct framing {
	int n_length, n_encoding;
	char encoding[128];         /* the Transfer-Encoding values, joined */
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct framing *f = cls;
	size_t n;

	(void)kind;
	if (!key)
		return MHD_YES;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		f->n_length++;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		f->n_encoding++;
		n = strlen(f->encoding);
		snprintf(f->encoding + n, sizeof(f->encoding) - n, "%s%s", n ? ", " : "",
			 value ? value : "");
	}
	return MHD_YES;
}

/* RFC 9112 section 6: a body's length must be unambiguous. Two
 * Content-Length fields, or Content-Length with Transfer-Encoding, are
 * what request smuggling is made of (libmicrohttpd takes the first and
 * ignores the rest); a transfer coding other than chunked is not
 * implemented (libmicrohttpd would read such a body until the client
 * closes). Refused, and the connection closed. 0, or -1 after replying. */
static int check_framing(struct request *r)
{
	struct framing f = { 0 };
	const char *p;
	int chunked = 0, other = 0;

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, &f);
	r->close_connection = f.n_length > 1 || f.n_encoding;
	if (f.n_length > 1) {
		reply_error(r, 400, "invalid_framing", "Content-Length",
			    "%d Content-Length headers: send one (RFC 9112, section 6.3)",
			    f.n_length);
		return -1;
	}
	if (f.n_length && f.n_encoding) {
		reply_error(r, 400, "invalid_framing", "Transfer-Encoding",
			    "Content-Length and Transfer-Encoding together: send one (RFC 9112, section 6.1)");
		return -1;
	}
	for (p = f.encoding; f.n_encoding && *p;) {
		size_t n;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, " \t,");
		if (n == 7 && !strncasecmp(p, "chunked", 7))
			chunked++;
		else if (n)
			other++;
		p += n;
	}
	if (other) {
		reply_error(r, 501, "unsupported_transfer_encoding", "Transfer-Encoding",
			    "Transfer-Encoding %s is not implemented (only chunked)", f.encoding);
		return -1;
	}
	if (f.n_encoding && chunked != 1) {
		reply_error(r, 400, "invalid_framing", "Transfer-Encoding",
			    "Transfer-Encoding %s: chunked must be given once", f.encoding);
		return -1;
	}
	r->close_connection = 0;
	return 0;
}

static void dispatch(struct request *r)
{
	if (r->route->body != BODY_UPLOAD && r->too_large) {
		reply_error(r, 413, "body_too_large", NULL,
			    "the request body exceeds the limit of %zu bytes",
			    r->api->cfg.limits.max_body);
		return;
	}
	r->route->handle(r);
}

static enum MHD_Result first_call(struct request *r)
{
	struct api *a = r->api;
	uint64_t len;

	if (check_framing(r))
		return MHD_YES;
	r->route_index = route_match(r->method, r->url, r->params, r->allow, sizeof(r->allow));
	r->route = r->route_index >= 0 ? &api_routes[r->route_index] : NULL;
	switch (guard_check(r)) {
	case -1:
		return MHD_YES;
	case 1:
		guard_preflight(r);
		return MHD_YES;
	}
	if ((!r->route || !r->route->open) && !strncmp(r->url, "/v1/", 4) && !auth_ok(a, r)) {
		if (req_header(r, MHD_HTTP_HEADER_AUTHORIZATION))
			reply_error(r, 401, "invalid_api_key", NULL, "Incorrect API key provided");
		else
			reply_error(r, 401, "missing_api_key", NULL,
				    "You didn't provide an API key: send Authorization: Bearer <key>");
		return MHD_YES;
	}
	if (!r->route) {
		if (r->allow[0])
			reply_error(r, 405, "method_not_allowed", NULL, "%s is not allowed on %s (allowed: %s)",
				    r->method, r->url, r->allow);
		else
			reply_error(r, 404, "unknown_route", NULL, "no route %s %s", r->method,
				    r->url);
		return MHD_YES;
	}
	/* Everything else is answered once the request is complete: a
	 * response queued before that makes libmicrohttpd close the
	 * connection (it cannot tell whether a body is still coming). */
	if (content_length(r, &len)) {
		size_t limit = r->route->body == BODY_UPLOAD ? a->cfg.limits.max_upload
							     : a->cfg.limits.max_body;
		if (len > limit) {
			reply_error(r, 413, "body_too_large", NULL,
				    "the request body (%llu bytes) exceeds the limit of %zu bytes",
				    (unsigned long long)len, limit);
			return MHD_YES;
		}
	}
	if (r->route->body == BODY_NONE)
		return MHD_YES;
	if (r->route->body == BODY_JSON) {
		/* Required, not just checked when present: a form or a
		 * text/plain fetch() is a "simple" cross-site request that no
		 * preflight stops; application/json is not. */
		const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (!ct)
			reply_error(r, 415, "unsupported_media_type", "Content-Type",
				    "send the JSON body with the header Content-Type: application/json");
		else if (!media_type_is(ct, "application/json"))
			reply_error(r, 415, "unsupported_media_type", "Content-Type",
				    "Content-Type must be application/json, not %s", ct);
		return MHD_YES;
	}
	upload_begin(r);
	return MHD_YES;
}

static enum MHD_Result take_body(struct request *r, const char *data, size_t size)
{
	size_t limit = r->route->body == BODY_UPLOAD ? r->api->cfg.limits.max_upload
						     : r->api->cfg.limits.max_body;

	r->bytes_in += size;
	if (r->bytes_in > (uint64_t)limit + DRAIN_SLACK)
		return MHD_NO;   /* a client that keeps sending: hang up */
	if (r->too_large)
		return MHD_YES;
	if (r->route->body == BODY_UPLOAD) {
		upload_data(r, data, size);
		return MHD_YES;
	}
	if (r->body.n + size > limit) {
		r->too_large = 1;
		strbuf_release(&r->body);
		return MHD_YES;
	}
	return strbuf_add(&r->body, data, size) ? MHD_NO : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct request *r = *con_cls;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->api = cls;
		r->conn = conn;
		r->url = url;
		r->route_index = -1;
		r->t_start_ns = now_ns();
		snprintf(r->method, sizeof(r->method), "%s", method);
		*con_cls = r;
		deadline_headers_in(r->api, conn);
		return first_call(r);
	}
	if (r->responded) {
		/* Answered from the headers; the rest of the body is not ours. */
		r->bytes_in += *upload_data_size;
		*upload_data_size = 0;
		return r->bytes_in > DRAIN_SLACK ? MHD_NO : MHD_YES;
	}
	if (*upload_data_size) {
		enum MHD_Result res = take_body(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return res;
	}
	dispatch(r);
	/* An inference request may wait, suspended, for its job (infer.c). */
	return r->responded || r->waiting ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	static const char *const reasons[] = {
		[MHD_REQUEST_TERMINATED_COMPLETED_OK] = "ok",
		[MHD_REQUEST_TERMINATED_WITH_ERROR] = "error",
		[MHD_REQUEST_TERMINATED_TIMEOUT_REACHED] = "timeout",
		[MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN] = "shutdown",
		[MHD_REQUEST_TERMINATED_READ_ERROR] = "read_error",
		[MHD_REQUEST_TERMINATED_CLIENT_ABORT] = "client_abort",
	};
	struct api *a = cls;
	struct request *r = *con_cls;
	char line[1024] = "", num[64];
	uint64_t ns;

	deadline_request_done(a, conn);
	if (!r)
		return;
	infer_request_done(r);
	ns = now_ns() - r->t_start_ns;
	stats_record(a, r->route_index, r->status, ns);
	logfmt_append(line, sizeof(line), "msg", "request");
	logfmt_append(line, sizeof(line), "method", r->method);
	logfmt_append(line, sizeof(line), "path", r->url);
	snprintf(num, sizeof(num), "%u", r->status);
	logfmt_append(line, sizeof(line), "status", num);
	snprintf(num, sizeof(num), "%.3f", (double)ns * 1e-6);
	logfmt_append(line, sizeof(line), "ms", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)r->bytes_in);
	logfmt_append(line, sizeof(line), "bytes_in", num);
	if ((unsigned)toe < sizeof(reasons) / sizeof(reasons[0]) && toe != 0)
		logfmt_append(line, sizeof(line), "end", reasons[toe]);
	api_log(a, r->status >= 500 || !r->status ? API_LOG_WARN : API_LOG_INFO, "%s", line);
	strbuf_release(&r->body);
	upload_free(r->upload);
	free(r);
	*con_cls = NULL;
}

static char *dup_or_null(const char *s, int *fail)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*fail = 1;
	return d;
}

int api_start(const struct api_config *cfg, struct api **out, struct ada_err *err)
{
	struct api *a = calloc(1, sizeof(*a));
	int fail = 0, rc;

	*out = NULL;
	if (!a)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	a->cfg = *cfg;
	a->listen_fd = -1;
	a->files_dir = dup_or_null(cfg->files_dir, &fail);
	a->jobs_dir = dup_or_null(cfg->jobs_dir, &fail);
	a->version = dup_or_null(cfg->version ? cfg->version : "", &fail);
	a->keys = xcalloc(cfg->n_keys + 1, sizeof(*a->keys));
	a->key_lens = xcalloc(cfg->n_keys + 1, sizeof(*a->key_lens));
	if (!a->keys || !a->key_lens)
		fail = 1;
	for (size_t i = 0; !fail && i < cfg->n_keys; i++) {
		a->keys[i] = dup_or_null(cfg->keys[i], &fail);
		a->key_lens[i] = a->keys[i] ? strlen(a->keys[i]) : 0;
	}
	if (!mhd_log_init(a))
		a->mhd_log_ready = 1;
	if (!a->mhd_log_ready || deadline_init(a) || sse_init(a) || job_cache_init(a) || fail ||
	    stats_init(a)) {
		api_stop(a);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if (guard_init(a, cfg->listen)) {
		api_stop(a);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if ((rc = open_listener(a, cfg->listen, err))) {
		api_stop(a);
		return rc;
	}
	a->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, a,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,   /* first, to catch everything */
		MHD_OPTION_LISTEN_SOCKET, a->listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->limits.http_threads ? cfg->limits.http_threads : 4),
		MHD_OPTION_CONNECTION_LIMIT, cfg->limits.max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->limits.idle_timeout_s,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->limits.max_per_address,
		MHD_OPTION_NOTIFY_CONNECTION, deadline_notify, a,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_END);
	if (!a->mhd) {
		api_stop(a);
		return ada_fail(err, ADA_EIO, "cannot start the HTTP server on %s", cfg->listen);
	}
	a->listen_fd = -1;   /* libmicrohttpd's now */
	*out = a;
	return ADA_OK;
}

const char *api_address(const struct api *a)
{
	return a->address;
}

void api_quiesce(struct api *a)
{
	MHD_socket fd;

	if (!a->mhd)
		return;
	/* Shutting the socket down (not just ignoring it) makes new clients
	 * see "connection refused" instead of hanging in the backlog. It is
	 * closed only in api_stop, once libmicrohttpd's threads have stopped:
	 * they take it out of their epoll sets after this returns, and a
	 * number closed now could be reused by then. */
	fd = MHD_quiesce_daemon(a->mhd);
	if (fd != MHD_INVALID_SOCKET) {
		shutdown(fd, SHUT_RDWR);
		a->listen_fd = fd;
	}
}

void api_stop(struct api *a)
{
	if (!a)
		return;
	sse_shutdown(a);
	deadline_stop(a);
	if (a->mhd)
		MHD_stop_daemon(a->mhd);
	deadline_free(a);
	if (a->mhd_log_ready) {
		mhd_log_flush(a);
		mhd_log_release(a);
	}
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	sse_free(a);
	job_cache_free(a);
	stats_free(a);
	guard_release(a);
	for (size_t i = 0; a->keys && i < a->cfg.n_keys; i++)
		free(a->keys[i]);
	free(a->keys);
	free(a->key_lens);
	free(a->files_dir);
	free(a->jobs_dir);
	free(a->version);
	free(a);
}
