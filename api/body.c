/*
 * body — JSON request bodies: parsing with errors a client can act on, and
 * the unknown-field check every object of the API gets.
 */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "util/utf8.h"

json_t *body_parse(const char *buf, size_t len, struct body_error *e)
{
	json_error_t jerr;
	json_t *obj;
	size_t bad;

	e->code = "invalid_json";
	e->msg[0] = '\0';
	if (!len) {
		snprintf(e->msg, sizeof(e->msg), "the request needs a JSON object body");
		return NULL;
	}
	bad = utf8_validate(buf, len);
	if (bad < len) {
		e->code = "invalid_utf8";
		snprintf(e->msg, sizeof(e->msg),
			 "the request body is not valid UTF-8 (byte offset %zu)", bad);
		return NULL;
	}
	obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		snprintf(e->msg, sizeof(e->msg),
			 "the request body is not valid JSON: %s (line %d, column %d)", jerr.text,
			 jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		snprintf(e->msg, sizeof(e->msg), "the request body must be a JSON object");
		return NULL;
	}
	return obj;
}

json_t *body_object(struct request *r)
{
	struct body_error e;
	json_t *obj = body_parse(r->body.p, r->body.n, &e);

	if (!obj)
		reply_error(r, 400, e.code, NULL, "%s", e.msg);
	return obj;
}

const char *body_unknown_field(const json_t *obj, const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		int found = 0;
		for (const char *const *k = known; *k && !found; k++)
			found = !strcmp(*k, key);
		if (!found)
			return key;
	}
	return NULL;
}

int body_known_fields(struct request *r, const json_t *obj, const char *const *known,
		      const char *prefix)
{
	const char *key = body_unknown_field(obj, known);
	char param[256];

	if (!key)
		return 0;
	snprintf(param, sizeof(param), "%s%s", prefix, key);
	reply_error(r, 400, "unknown_parameter", param, "%s: unknown field", param);
	return -1;
}
