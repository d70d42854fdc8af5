/*
 * body — JSON request bodies: parsing with errors a client can act on, and
 * the unknown-field check every object of the API gets.
 */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "util/utf8.h"

json_t *body_object(struct request *r)
{
	json_error_t jerr;
	json_t *obj;
	size_t bad;

	if (!r->body.n) {
		reply_error(r, 400, "invalid_json", NULL, "the request needs a JSON object body");
		return NULL;
	}
	bad = utf8_validate(r->body.p, r->body.n);
	if (bad < r->body.n) {
		reply_error(r, 400, "invalid_utf8", NULL,
			    "the request body is not valid UTF-8 (byte offset %zu)", bad);
		return NULL;
	}
	obj = json_loadb(r->body.p, r->body.n, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		reply_error(r, 400, "invalid_json", NULL,
			    "the request body is not valid JSON: %s (line %d, column %d)",
			    jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		reply_error(r, 400, "invalid_json", NULL, "the request body must be a JSON object");
		return NULL;
	}
	return obj;
}

int body_known_fields(struct request *r, const json_t *obj, const char *const *known,
		      const char *prefix)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		int found = 0;
		char param[256];
		for (const char *const *k = known; *k && !found; k++)
			found = !strcmp(*k, key);
		if (found)
			continue;
		snprintf(param, sizeof(param), "%s%s", prefix, key);
		reply_error(r, 400, "unknown_parameter", param, "%s: unknown field", param);
		return -1;
	}
	return 0;
}
