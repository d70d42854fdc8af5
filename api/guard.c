/*
 * guard — which browsers' requests may reach a handler: the Host check
 * against DNS rebinding, the Origin check against cross-site writes, and
 * CORS for the origins an operator allows (--allowed-origins).
 *
 * Without an API key nothing else stands between a web page the user
 * visits and the daemon: a page may POST a text/plain body anywhere (no
 * preflight), and a name the attacker controls can be made to resolve to
 * 127.0.0.1 (DNS rebinding), after which the page is "same origin" with
 * the daemon and reads everything.
 *
 * Host. A request is served when its Host (port aside) is an IP literal
 * (rebinding needs a name: a page whose origin is an address is that
 * address), "localhost" or a name under it, the name --listen gave, this
 * machine's hostname, or an --allowed-hosts entry ("name", ".suffix" for
 * the name and everything under it, "*" for any). Else 403.
 *
 * Origin. A state-changing request (anything but GET, HEAD, OPTIONS) that
 * carries Origin must come from the daemon's own origin (Origin's host and
 * port equal Host) or an --allowed-origins entry; one that says
 * Sec-Fetch-Site: cross-site or same-site without such an Origin is
 * refused too. Requests without either header (curl, the SDKs) are not
 * browsers' and pass. Reads need no check: without CORS headers a browser
 * does not let a foreign page see the answer.
 *
 * CORS. For an allowed origin, preflights (OPTIONS with
 * Access-Control-Request-Method) are answered 204 and every response
 * carries Access-Control-Allow-Origin, so a dashboard served elsewhere
 * can use the API (with its key).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"

/* host[:port] of a Host header or an origin, lower-cased, the scheme's
 * default port (when given) and a trailing dot dropped: "A.b.:80" with
 * "80" -> "a.b". *host_len is the length of the host part. */
static void normalize(const char *in, const char *default_port, char *out, size_t cap,
		      size_t *host_len)
{
	size_t n = 0, h;
	const char *port;

	for (; *in && n + 1 < cap; in++)
		out[n++] = (char)tolower((unsigned char)*in);
	out[n] = '\0';
	if (out[0] == '[') {
		char *rb = strchr(out, ']');
		h = rb ? (size_t)(rb - out) + 1 : n;
	} else {
		char *colon = strchr(out, ':');
		h = colon ? (size_t)(colon - out) : n;
	}
	port = out[h] == ':' ? out + h + 1 : NULL;
	if (port && (!*port || (default_port && !strcmp(port, default_port)))) {
		out[h] = '\0';
		n = h;
	}
	if (h > 1 && out[h - 1] == '.') {
		memmove(out + h - 1, out + h, n - h + 1);
		h--;
	}
	*host_len = h;
}

static int is_ip_literal(const char *host, size_t len)
{
	char buf[64];
	unsigned char addr[16];

	if (len < 2 || len >= sizeof(buf))
		return 0;
	if (host[0] == '[' && host[len - 1] == ']') {
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		return inet_pton(AF_INET6, buf, addr) == 1;
	}
	memcpy(buf, host, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1;
}

static int name_is(const char *host, size_t len, const char *name)
{
	return strlen(name) == len && !strncasecmp(host, name, len);
}

/* name, or under suffix ("localhost" matches "localhost" and "x.localhost") */
static int name_under(const char *host, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return name_is(host, len, suffix) ||
	       (len > n + 1 && host[len - n - 1] == '.' && !strncasecmp(host + len - n, suffix, n));
}

static int host_allowed(const struct api *a, const char *host, size_t len)
{
	if (is_ip_literal(host, len) || name_under(host, len, "localhost") ||
	    (a->listen_host[0] && name_is(host, len, a->listen_host)) ||
	    (a->hostname[0] && name_is(host, len, a->hostname)))
		return 1;
	for (size_t i = 0; i < a->cfg.n_allowed_hosts; i++) {
		const char *e = a->allowed_hosts[i];
		if (!strcmp(e, "*") || (e[0] == '.' ? name_under(host, len, e + 1)
						    : name_is(host, len, e)))
			return 1;
	}
	return 0;
}

/* The listed origin equal to origin, or NULL. */
static const char *listed_origin(const struct api *a, const char *origin)
{
	for (size_t i = 0; i < a->cfg.n_allowed_origins; i++)
		if (!strcasecmp(a->allowed_origins[i], origin))
			return a->allowed_origins[i];
	return NULL;
}

/* Origin (scheme://host[:port]) names the Host the request came to. */
static int same_origin(const char *origin, const char *host_header)
{
	char o[300], h[300];
	size_t ol, hl;
	const char *rest, *dport;

	if (!host_header)
		return 0;
	if (!strncasecmp(origin, "http://", 7)) {
		rest = origin + 7;
		dport = "80";
	} else if (!strncasecmp(origin, "https://", 8)) {
		rest = origin + 8;
		dport = "443";
	} else {
		return 0;   /* "null", file:, ... */
	}
	if (strchr(rest, '/'))
		return 0;
	normalize(rest, dport, o, sizeof(o), &ol);
	normalize(host_header, NULL, h, sizeof(h), &hl);
	return !strcmp(o, h);
}

static int state_changing(const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "OPTIONS");
}

int guard_check(struct request *r)
{
	struct api *a = r->api;
	const char *host = req_header(r, MHD_HTTP_HEADER_HOST);
	const char *origin = req_header(r, "Origin");
	const char *site = req_header(r, "Sec-Fetch-Site");
	int allowed_origin = 0;

	if (host) {
		char h[300];
		size_t hl;
		normalize(host, NULL, h, sizeof(h), &hl);
		if (!host_allowed(a, h, hl)) {
			reply_error(r, 403, "host_not_allowed", "Host",
				    "Host %.200s is not a name this daemon answers to (add it with --allowed-hosts)",
				    host);
			return -1;
		}
	}
	if (origin) {
		r->cors_origin = listed_origin(a, origin);
		allowed_origin = r->cors_origin || same_origin(origin, host);
	}
	if (!strcmp(r->method, "OPTIONS") && origin &&
	    req_header(r, "Access-Control-Request-Method")) {
		if (!r->cors_origin) {
			reply_error(r, 403, "cross_origin", "Origin",
				    "origin %.200s may not use this API (--allowed-origins lists those that may)",
				    origin);
			return -1;
		}
		return 1;   /* a preflight: the caller answers it */
	}
	if (!state_changing(r->method))
		return 0;
	if ((origin && !allowed_origin) ||
	    (!origin && site && (!strcasecmp(site, "cross-site") || !strcasecmp(site, "same-site")))) {
		reply_error(r, 403, "cross_origin", "Origin",
			    "a %s from another site (Origin %.200s, Sec-Fetch-Site %.40s) is refused; "
			    "a dashboard served elsewhere needs --allowed-origins",
			    r->method, origin ? origin : "none", site ? site : "none");
		return -1;
	}
	return 0;
}

void guard_preflight(struct request *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
								    MHD_RESPMEM_PERSISTENT);

	if (resp) {
		char methods[96];
		snprintf(methods, sizeof(methods), "%s", r->allow[0] ? r->allow : "GET, HEAD, POST");
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
		MHD_add_response_header(resp, "Access-Control-Allow-Headers",
					"Authorization, Content-Type, Last-Event-ID, Idempotency-Key");
		MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
	}
	reply_response(r, 204, resp);
}

static char **copy_list(const char *const *v, size_t n, int lower)
{
	char **out = calloc(n + 1, sizeof(*out));

	for (size_t i = 0; out && i < n; i++) {
		if (!(out[i] = strdup(v[i]))) {
			guard_free_list(out, i);
			return NULL;
		}
		for (char *p = out[i]; lower && *p; p++)
			*p = (char)tolower((unsigned char)*p);
		/* an origin never ends in '/'; a pasted one may */
		if (!lower && out[i][0] && out[i][strlen(out[i]) - 1] == '/')
			out[i][strlen(out[i]) - 1] = '\0';
	}
	return out;
}

void guard_free_list(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int guard_init(struct api *a, const char *listen_host)
{
	size_t hl;

	a->allowed_hosts = copy_list(a->cfg.allowed_hosts, a->cfg.n_allowed_hosts, 1);
	a->allowed_origins = copy_list(a->cfg.allowed_origins, a->cfg.n_allowed_origins, 0);
	if (!a->allowed_hosts || !a->allowed_origins)
		return -1;
	normalize(listen_host, NULL, a->listen_host, sizeof(a->listen_host), &hl);
	a->listen_host[hl] = '\0';
	if (is_ip_literal(a->listen_host, hl))
		a->listen_host[0] = '\0';
	if (gethostname(a->hostname, sizeof(a->hostname) - 1))
		a->hostname[0] = '\0';
	for (char *p = a->hostname; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

void guard_release(struct api *a)
{
	guard_free_list(a->allowed_hosts, a->cfg.n_allowed_hosts);
	guard_free_list(a->allowed_origins, a->cfg.n_allowed_origins);
	a->allowed_hosts = a->allowed_origins = NULL;
}
