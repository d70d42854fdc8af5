/*
 * reply — queueing responses: JSON objects, the API's error object, and
 * the request helpers every handler uses (arguments, paging limit, log).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "util/utf8.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *error_type(unsigned status)
{
	switch (status) {
	case 400: return "invalid_request_error";
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 405: return "method_not_allowed";
	case 409: return "conflict_error";
	case 413: return "payload_too_large";
	case 415: return "unsupported_media_type";
	case 422: return "invalid_request_error";
	case 429: return "rate_limit_error";
	case 501: return "not_implemented_error";
	case 503: return "unavailable_error";
	}
	return "server_error";
}

void reply_response(struct request *r, unsigned status, struct MHD_Response *resp)
{
	if (!resp) {
		api_log(r->api, API_LOG_ERROR, "msg=\"cannot create a response\" status=%u", status);
		return;
	}
	if (r->responded) {
		/* A handler bug; the first response stands. */
		api_log(r->api, API_LOG_ERROR, "msg=\"second response for one request\" status=%u",
			status);
		MHD_destroy_response(resp);
		return;
	}
	if (r->cors_origin) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
		MHD_add_response_header(resp, "Vary", "Origin");
	}
	if (MHD_queue_response(r->conn, status, resp) == MHD_YES) {
		r->status = status;
		r->responded = 1;
	} else {
		api_log(r->api, API_LOG_WARN, "msg=\"response not queued\" status=%u", status);
	}
	MHD_destroy_response(resp);
}

void reply_json(struct request *r, unsigned status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, API_JSON_FLAGS) : NULL;

	json_decref(obj);
	reply_text(r, status, text, text ? strlen(text) : 0);
}

void reply_text(struct request *r, unsigned status, char *text, size_t len)
{
	struct MHD_Response *resp;

	if (!text) {
		static const char oom[] =
			"{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
			"\"param\":null,\"code\":null}}";
		resp = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						       MHD_RESPMEM_PERSISTENT);
		status = 500;
	} else {
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(text);
	}
	if (resp) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		if (status == 405 && r->allow[0])
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
		if (status == 401)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		if (r->close_connection)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
		if (r->idempotent_replay)
			MHD_add_response_header(resp, "Idempotent-Replayed", "true");
	}
	reply_response(r, status, resp);
}

void reply_error(struct request *r, unsigned status, const char *code, const char *param,
		 const char *fmt, ...)
{
	char msg[1024], line[1200] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages may quote client input, or be cut inside a character:
	 * a JSON string must be valid UTF-8. */
	msg[utf8_validate(msg, strlen(msg))] = '\0';
	if (status == 500) {
		logfmt_append(line, sizeof(line), "msg", "internal error");
		logfmt_append(line, sizeof(line), "detail", msg);
		api_log(r->api, API_LOG_ERROR, "%s", line);
	}
	reply_json(r, status, error_object(status, code, param, msg));
}

json_t *error_object(unsigned status, const char *code, const char *param, const char *msg)
{
	char p[256], m[1024];

	/* Both may quote the client, and may have been cut inside a character
	 * on the way: a JSON string must be valid UTF-8. */
	snprintf(p, sizeof(p), "%s", param ? param : "");
	p[utf8_validate(p, strlen(p))] = '\0';
	snprintf(m, sizeof(m), "%s", msg ? msg : "");
	m[utf8_validate(m, strlen(m))] = '\0';
	return json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", m, "type",
			 error_type(status), "param", p[0] ? p : NULL, "code", code);
}

void reply_ada_err(struct request *r, const struct ada_err *err, unsigned notfound_status)
{
	const char *param = err->param[0] ? err->param : NULL;

	switch (err->code) {
	case ADA_EINVAL:
	case ADA_EFORMAT:
	case ADA_EUNSUPPORTED:
		reply_error(r, 400, "invalid_value", param, "%s", err->msg);
		return;
	case ADA_ENOTFOUND:
		reply_error(r, notfound_status ? notfound_status : 404, "not_found", param, "%s",
			    err->msg);
		return;
	case STORE_ECONFLICT:
		reply_error(r, 409, "conflict", param, "%s", err->msg);
		return;
	case STORE_EFULL:
		reply_error(r, 429, "queue_full", param, "%s", err->msg);
		return;
	}
	reply_error(r, 500, store_code_name(err->code), NULL, "%s", err->msg);
}

const char *req_arg(struct request *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(struct request *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

int req_limit(struct request *r, int *limit)
{
	const char *s = req_arg(r, "limit");
	long v = 0;

	*limit = 20;
	if (!s)
		return 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p) || v > 1000) {
			v = -1;
			break;
		}
		v = v * 10 + (*p - '0');
	}
	if (!*s || v < 1 || v > 100) {
		reply_error(r, 400, "invalid_value", "limit",
			    "limit must be an integer from 1 to 100");
		return -1;
	}
	*limit = (int)v;
	return 0;
}

void logfmt_append(char *buf, size_t cap, const char *key, const char *value)
{
	size_t n = strlen(buf);
	int quote = !*value;

	for (const char *p = value; *p && !quote; p++)
		quote = *p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f;
	n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s=%s", n ? " " : "", key,
			      quote ? "\"" : "");
	for (const unsigned char *p = (const unsigned char *)value; *p && n + 6 < cap; p++) {
		if (*p == '"' || *p == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)*p;
		} else if (*p < ' ' || *p == 0x7f) {
			n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", *p);
		} else {
			buf[n++] = (char)*p;
		}
	}
	if (quote && n + 1 < cap)
		buf[n++] = '"';
	if (n < cap)
		buf[n] = '\0';
	else
		buf[cap - 1] = '\0';
}

void api_log(struct api *a, enum api_log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (!a->cfg.hooks.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	a->cfg.hooks.log(a->cfg.hooks.ctx, level, line);
}
