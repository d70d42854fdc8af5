/*
 * h_infer — POST /v1/completions, /v1/chat/completions,
 * /v1/classifications and /v1/question_answering: OpenAI's request fields
 * (and our routes' own) checked here, every refusal
 * a 400 naming its field (param) before anything runs; then the job goes
 * to the engine (infer.c) and the connection waits for it.
 *
 * Unknown fields are refused, as everywhere in the API. Fields OpenAI has
 * that we do not implement are known, and accepted only at the value that
 * means "off" (n 1, echo false, best_of 1, penalties 0, an empty
 * logit_bias, response_format text), so a client that relies on them
 * learns it at once instead of getting something else.
 *
 * A body that is not valid UTF-8 (or JSON with an escape that is no
 * character) names the field whose string holds the bad bytes, found by a
 * small scan of the raw body (json_path_at).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "http.h"
#include "util/alloc.h"
#include "util/utf8.h"

#define MAX_PROMPT_IDS 1000000
#define MAX_MESSAGES 10000
#define MAX_CLASSIFY_INPUTS 64
#define MAX_QA_PAIRS 64

/* ---- where in a JSON text an offset is ----------------------------------- */

/* The path ("messages[1].content") of the string value that contains byte
 * at of buf, into out; "" when at is not inside a string value. A scanner
 * that tracks containers, keys and indices; buf may be malformed. */
static void json_path_at(const char *buf, size_t len, size_t at, char *out, size_t cap)
{
	struct level {
		char kind;              /* '{' or '[' */
		long index;
		char key[96];
		int expect_key;
	} st[32];
	int depth = -1, in_str = 0, str_is_key = 0;
	size_t key_len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < len && i < at; i++) {
		char c = buf[i];

		if (in_str) {
			if (c == '\\') {
				i++;
				continue;
			}
			if (c == '"') {
				in_str = 0;
				if (str_is_key && depth >= 0)
					st[depth].key[key_len < sizeof(st[0].key) ? key_len : sizeof(st[0].key) - 1] = '\0';
				continue;
			}
			if (str_is_key && depth >= 0 && key_len + 1 < sizeof(st[0].key))
				st[depth].key[key_len++] = c;
			continue;
		}
		switch (c) {
		case '{':
		case '[':
			if (depth + 1 >= (int)(sizeof(st) / sizeof(st[0])))
				return;
			depth++;
			st[depth].kind = c;
			st[depth].index = 0;
			st[depth].key[0] = '\0';
			st[depth].expect_key = c == '{';
			break;
		case '}':
		case ']':
			if (depth >= 0)
				depth--;
			break;
		case ',':
			if (depth >= 0) {
				st[depth].index++;
				st[depth].expect_key = st[depth].kind == '{';
			}
			break;
		case ':':
			if (depth >= 0)
				st[depth].expect_key = 0;
			break;
		case '"':
			in_str = 1;
			str_is_key = depth >= 0 && st[depth].kind == '{' && st[depth].expect_key;
			if (str_is_key)
				key_len = 0;
			break;
		}
	}
	if (!in_str || str_is_key || depth < 0)
		return;
	{
		size_t o = 0;
		for (int d = 0; d <= depth && o < cap; d++) {
			if (st[d].kind == '{')
				o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "." : "", st[d].key);
			else
				o += (size_t)snprintf(out + o, cap - o, "[%ld]", st[d].index);
		}
		if (o >= cap)
			out[cap - 1] = '\0';
	}
}

void infer_error_param(const char *buf, size_t len, char *param, size_t cap)
{
	size_t bad;
	json_error_t jerr;

	param[0] = '\0';
	if (!len)
		return;
	bad = utf8_validate(buf, len);
	if (bad == len) {
		json_t *again = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
		if (again) {
			json_decref(again);
			return;
		}
		bad = jerr.position > 0 ? (size_t)jerr.position - 1 : 0;
	}
	json_path_at(buf, len, bad, param, cap);
}

/* The body as an object, or a 400 naming the string with the bad bytes. */
static json_t *infer_body(struct request *r)
{
	struct body_error e;
	json_t *obj = body_parse(r->body.p, r->body.n, &e);
	char param[256];

	if (obj)
		return obj;
	infer_error_param(r->body.p, r->body.n, param, sizeof(param));
	reply_error(r, 400, e.code, param[0] ? param : NULL, "%s", e.msg);
	return NULL;
}

/* A handler's first call: the job of the request's body, holding it
 * (NULL when answered: a request resumed with news, a bad body, no
 * memory). */
static struct api_infer *infer_begin(struct request *r, enum api_infer_kind kind)
{
	struct api_infer *j;
	json_t *body;

	if (r->infer) {   /* resumed: the job has news */
		infer_wait(r);
		return NULL;
	}
	if (!(body = infer_body(r)))
		return NULL;
	j = infer_job_new(r, kind);
	if (!j) {
		json_decref(body);
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		return NULL;
	}
	j->body = body;
	return j;
}

/* ---- fields ----------------------------------------------------------------- */

static int bad(struct request *r, const char *code, const char *param, const char *msg)
{
	reply_error(r, 400, code, param, "%s", msg);
	return -1;
}

static int model_field(struct request *r, const json_t *body, struct api_infer_params *p)
{
	const json_t *v = json_object_get(body, "model");

	if (!v || json_is_null(v))
		return bad(r, "missing_required_parameter", "model", "model is required");
	if (!json_is_string(v))
		return bad(r, "invalid_type", "model", "model must be a string");
	if (!json_string_length(v) || json_string_length(v) >= sizeof(p->model) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return bad(r, "invalid_value", "model", "model must be a model id (GET /v1/models)");
	snprintf(p->model, sizeof(p->model), "%s", json_string_value(v));
	return 0;
}

/* A number in [lo, hi] (lo_open: lo itself refused); absent keeps *out. */
static int number_field(struct request *r, const json_t *body, const char *key, double lo,
			int lo_open, double hi, double *out)
{
	const json_t *v = json_object_get(body, key);
	char msg[160];
	double x;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v)) {
		snprintf(msg, sizeof(msg), "%s must be a number", key);
		return bad(r, "invalid_type", key, msg);
	}
	x = json_number_value(v);
	if (!isfinite(x) || (lo_open ? x <= lo : x < lo) || x > hi) {
		snprintf(msg, sizeof(msg), "%s must be %s %g and <= %g", key, lo_open ? ">" : ">=",
			 lo, hi);
		return bad(r, "invalid_value", key, msg);
	}
	*out = x;
	return 0;
}

/* An integer in [lo, hi]; absent (or null) leaves *out and *given. */
static int int_field(struct request *r, const json_t *body, const char *key, json_int_t lo,
		     json_int_t hi, json_int_t *out, int *given)
{
	const json_t *v = json_object_get(body, key);
	char msg[160];

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		snprintf(msg, sizeof(msg), "%s must be an integer", key);
		return bad(r, "invalid_type", key, msg);
	}
	if (json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(msg, sizeof(msg), "%s must be between %lld and %lld", key, (long long)lo,
			 (long long)hi);
		return bad(r, "invalid_value", key, msg);
	}
	*out = json_integer_value(v);
	if (given)
		*given = 1;
	return 0;
}

static int bool_field(struct request *r, const json_t *body, const char *key, int *out)
{
	const json_t *v = json_object_get(body, key);
	char msg[160];

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(msg, sizeof(msg), "%s must be true or false", key);
		return bad(r, "invalid_type", key, msg);
	}
	*out = json_is_true(v);
	return 0;
}

/* A field we know but do not implement: only its "off" value passes. */
static int off_field(struct request *r, const json_t *body, const char *key, const char *what)
{
	const json_t *v = json_object_get(body, key);
	char msg[200];
	int off = !v || json_is_null(v) || json_is_false(v) ||
		  (json_is_number(v) && json_number_value(v) == (!strcmp(key, "n") ||
								 !strcmp(key, "best_of"))) ||
		  (json_is_object(v) && json_object_size(v) == 0) ||
		  (json_is_array(v) && json_array_size(v) == 0);

	if (off)
		return 0;
	snprintf(msg, sizeof(msg), "%s is not supported: %s", key, what);
	return bad(r, "unsupported_value", key, msg);
}

static int n_field(struct request *r, const json_t *body)
{
	const json_t *v = json_object_get(body, "n");

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return bad(r, "invalid_type", "n", "n must be an integer");
	if (json_integer_value(v) != 1)
		return bad(r, "unsupported_value", "n",
			   "n must be 1: one choice per request (send several requests)");
	return 0;
}

static int stop_field(struct request *r, struct api_infer *j, const json_t *body)
{
	const json_t *v = json_object_get(body, "stop"), *e;
	size_t i;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (json_string_length(v) && !(j->p.stop[j->p.n_stop++] = xstrdup(json_string_value(v))))
			return bad(r, "out_of_memory", NULL, "out of memory");
		return 0;
	}
	if (!json_is_array(v))
		return bad(r, "invalid_type", "stop", "stop must be a string or an array of strings");
	if (json_array_size(v) > API_INFER_MAX_STOPS)
		return bad(r, "invalid_value", "stop", "stop takes at most 4 strings");
	json_array_foreach(v, i, e) {
		char param[32];
		snprintf(param, sizeof(param), "stop[%zu]", i);
		if (!json_is_string(e))
			return bad(r, "invalid_type", param, "stop must be a string or an array of strings");
		if (!json_string_length(e))
			continue;
		if (strlen(json_string_value(e)) != json_string_length(e))
			return bad(r, "invalid_value", param, "a stop string must not contain NUL");
		if (!(j->p.stop[j->p.n_stop++] = xstrdup(json_string_value(e))))
			return bad(r, "out_of_memory", NULL, "out of memory");
	}
	return 0;
}

static int stream_fields(struct request *r, struct api_infer *j, const json_t *body)
{
	const json_t *so = json_object_get(body, "stream_options");
	static const char *const known[] = { "include_usage", NULL };

	if (bool_field(r, body, "stream", &j->p.stream))
		return -1;
	if (!so || json_is_null(so))
		return 0;
	if (!json_is_object(so))
		return bad(r, "invalid_type", "stream_options", "stream_options must be an object");
	if (!j->p.stream)
		return bad(r, "invalid_value", "stream_options",
			   "stream_options is only allowed with stream: true");
	if (body_known_fields(r, so, known, "stream_options."))
		return -1;
	return bool_field(r, so, "include_usage", &j->p.include_usage) ? -1 : 0;
}

/* temperature, top_p, seed, max_tokens (and max_completion_tokens). */
static int sampling_fields(struct request *r, struct api_infer *j, const json_t *body)
{
	json_int_t seed = 0, max_tokens = 0, mct = 0;
	int has_seed = 0, has_max = 0, has_mct = 0;

	j->p.temperature = 1;
	j->p.top_p = 1;
	if (number_field(r, body, "temperature", 0, 0, 2, &j->p.temperature) ||
	    number_field(r, body, "top_p", 0, 1, 1, &j->p.top_p) ||
	    int_field(r, body, "seed", INT64_MIN, INT64_MAX, &seed, &has_seed) ||
	    int_field(r, body, "max_tokens", 1, 1 << 30, &max_tokens, &has_max) ||
	    int_field(r, body, "max_completion_tokens", 1, 1 << 30, &mct, &has_mct))
		return -1;
	if (has_max && has_mct && max_tokens != mct)
		return bad(r, "invalid_value", "max_completion_tokens",
			   "give max_tokens or max_completion_tokens, not both");
	j->p.max_tokens = (int)(has_mct ? mct : max_tokens);
	if (has_seed) {
		j->p.seed = (uint64_t)seed;
	} else if (getrandom(&j->p.seed, sizeof(j->p.seed), 0) != (ssize_t)sizeof(j->p.seed)) {
		j->p.seed = (uint64_t)now_ns();
	}
	return 0;
}

/* A prompt: a string, one string in an array, token ids, or one array of
 * them. More than one prompt is n > 1 in disguise: refused. */
static int prompt_field(struct request *r, struct api_infer *j, const json_t *body)
{
	const json_t *v = json_object_get(body, "prompt"), *ids;
	size_t i;
	const json_t *e;

	if (!v || json_is_null(v))
		return bad(r, "missing_required_parameter", "prompt", "prompt is required");
	if (json_is_array(v) && json_array_size(v) == 1 &&
	    (json_is_string(json_array_get(v, 0)) || json_is_array(json_array_get(v, 0))))
		v = json_array_get(v, 0);
	if (json_is_string(v)) {
		j->p.prompt = json_string_value(v);
		j->p.prompt_len = json_string_length(v);
		return 0;
	}
	if (!json_is_array(v))
		return bad(r, "invalid_type", "prompt",
			   "prompt must be a string, an array of token ids, or an array of one of them");
	ids = v;
	if (json_array_size(ids) == 0)
		return bad(r, "invalid_value", "prompt", "prompt has no tokens");
	if (json_array_size(ids) > MAX_PROMPT_IDS)
		return bad(r, "invalid_value", "prompt", "prompt has too many tokens");
	json_array_foreach(ids, i, e)
		if (!json_is_integer(e)) {
			if (json_is_string(e))
				return bad(r, "unsupported_value", "prompt",
					   "one prompt per request (send several requests)");
			return bad(r, "invalid_type", "prompt",
				   "prompt must be a string, an array of token ids, or an array of one of them");
		}
	j->ids = xcalloc(json_array_size(ids), sizeof(*j->ids));
	if (!j->ids)
		return bad(r, "out_of_memory", NULL, "out of memory");
	json_array_foreach(ids, i, e) {
		json_int_t t = json_integer_value(e);
		if (t < 0 || t > INT32_MAX)
			return bad(r, "invalid_value", "prompt", "a token id must be >= 0");
		j->ids[i] = (int32_t)t;
	}
	j->p.prompt_ids = j->ids;
	j->p.n_prompt_ids = json_array_size(ids);
	return 0;
}

/* messages, normalised to [{"role": system|user|assistant, "content":
 * string}]: "developer" is OpenAI's newer name for system, and a content
 * given as text parts is their concatenation. */
static int messages_field(struct request *r, struct api_infer *j, const json_t *body)
{
	static const char *const known[] = { "role", "content", "name", NULL };
	const json_t *v = json_object_get(body, "messages"), *m;
	char param[96], msg[256];
	size_t i;

	if (!v || json_is_null(v))
		return bad(r, "missing_required_parameter", "messages", "messages is required");
	if (!json_is_array(v))
		return bad(r, "invalid_type", "messages", "messages must be an array of messages");
	if (!json_array_size(v) || json_array_size(v) > MAX_MESSAGES)
		return bad(r, "invalid_value", "messages", "messages must hold 1 to 10000 messages");
	j->messages = json_array();
	json_array_foreach(v, i, m) {
		const json_t *role, *content, *name;
		const char *rs;
		json_t *text;

		snprintf(param, sizeof(param), "messages[%zu]", i);
		if (!json_is_object(m))
			return bad(r, "invalid_type", param, "each message must be an object {role, content}");
		snprintf(param, sizeof(param), "messages[%zu].", i);
		if (body_known_fields(r, m, known, param))
			return -1;
		role = json_object_get(m, "role");
		content = json_object_get(m, "content");
		name = json_object_get(m, "name");
		snprintf(param, sizeof(param), "messages[%zu].role", i);
		if (!json_is_string(role))
			return bad(r, role ? "invalid_type" : "missing_required_parameter", param,
				   "role must be system, developer, user or assistant");
		rs = json_string_value(role);
		if (!strcmp(rs, "tool") || !strcmp(rs, "function"))
			return bad(r, "unsupported_value", param,
				   "tool and function messages are not supported");
		if (strcmp(rs, "system") && strcmp(rs, "developer") && strcmp(rs, "user") &&
		    strcmp(rs, "assistant"))
			return bad(r, "invalid_value", param,
				   "role must be system, developer, user or assistant");
		snprintf(param, sizeof(param), "messages[%zu].name", i);
		if (name && !json_is_string(name))
			return bad(r, "invalid_type", param, "name must be a string");
		snprintf(param, sizeof(param), "messages[%zu].content", i);
		if (json_is_string(content)) {
			text = json_copy((json_t *)content);
		} else if (json_is_array(content)) {
			struct strbuf sb = STRBUF_INIT;
			size_t k;
			const json_t *part;
			json_array_foreach(content, k, part) {
				const json_t *type = json_object_get(part, "type");
				const json_t *t = json_object_get(part, "text");
				if (!json_is_object(part) || !json_is_string(type) ||
				    strcmp(json_string_value(type), "text") || !json_is_string(t) ||
				    json_object_size(part) != 2) {
					strbuf_release(&sb);
					snprintf(msg, sizeof(msg),
						 "content parts must be {\"type\": \"text\", \"text\": string} (part %zu)", k);
					return bad(r, "invalid_value", param, msg);
				}
				strbuf_add(&sb, json_string_value(t), json_string_length(t));
			}
			text = json_stringn(sb.p ? sb.p : "", sb.n);
			strbuf_release(&sb);
		} else {
			return bad(r, content ? "invalid_type" : "missing_required_parameter", param,
				   "content must be a string or an array of text parts");
		}
		if (!text)
			return bad(r, "out_of_memory", NULL, "out of memory");
		json_array_append_new(j->messages,
				      json_pack("{s:s,s:o}", "role",
						!strcmp(rs, "developer") ? "system" : rs, "content", text));
	}
	j->p.messages = j->messages;
	return 0;
}

/* Submit to the engine and wait; j's reference passes to r. */
static void submit(struct request *r, struct api_infer *j)
{
	struct api *a = r->api;
	struct ada_err err = { 0 };
	unsigned status = 0;
	int retry = 1, rc;

	if (!a->cfg.hooks.infer_submit) {
		api_infer_unref(j);
		reply_error(r, 501, "not_implemented", NULL, "this daemon serves no models");
		return;
	}
	r->infer = j;
	rc = a->cfg.hooks.infer_submit(a->cfg.hooks.ctx, j, &status, &retry, &err);
	if (rc == ADA_OK) {
		infer_wait(r);
		return;
	}
	if (status == 429) {
		struct MHD_Response *resp;
		json_t *o = error_object(429, "queue_full", NULL, err.msg);
		char *text = o ? json_dumps(o, API_JSON_FLAGS) : NULL, secs[24];

		json_decref(o);
		resp = text ? MHD_create_response_from_buffer(strlen(text), text,
							      MHD_RESPMEM_MUST_FREE) : NULL;
		if (!resp) {
			free(text);
			reply_error(r, 500, "out_of_memory", NULL, "out of memory");
			return;
		}
		snprintf(secs, sizeof(secs), "%d", retry > 0 ? retry : 1);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
		reply_response(r, 429, resp);
		return;
	}
	reply_error(r, status ? status : 400,
		    err.code == ADA_ENOTFOUND ? "model_not_found" : status == 503 ? "unavailable"
										    : "invalid_value",
		    err.param[0] ? err.param : NULL, "%s", err.msg);
}

static void completions(struct request *r, enum api_infer_kind kind)
{
	static const char *const known_completion[] = {
		"model", "prompt", "max_tokens", "temperature", "top_p", "n", "stream",
		"stream_options", "stop", "logprobs", "seed", "echo", "best_of", "suffix",
		"presence_penalty", "frequency_penalty", "logit_bias", "user", NULL,
	};
	static const char *const known_chat[] = {
		"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
		"n", "stream", "stream_options", "stop", "logprobs", "top_logprobs", "seed",
		"presence_penalty", "frequency_penalty", "logit_bias", "user", "response_format",
		"tools", "tool_choice", "functions", "function_call", "parallel_tool_calls", "store",
		"metadata", NULL,
	};
	struct api_infer *j;
	json_t *body;

	if (!(j = infer_begin(r, kind)))
		return;
	body = j->body;
	if (body_known_fields(r, body, kind == API_INFER_CHAT ? known_chat : known_completion, "") ||
	    model_field(r, body, &j->p) || n_field(r, body) || stream_fields(r, j, body) ||
	    sampling_fields(r, j, body) || stop_field(r, j, body) ||
	    off_field(r, body, "presence_penalty", "penalties are not implemented") ||
	    off_field(r, body, "frequency_penalty", "penalties are not implemented") ||
	    off_field(r, body, "logit_bias", "logit_bias is not implemented"))
		goto out_refused;
	if (kind == API_INFER_COMPLETION) {
		json_int_t lp = 0;
		int given = 0;
		if (prompt_field(r, j, body) ||
		    int_field(r, body, "logprobs", 0, ADA_TOP_LOGPROBS_MAX, &lp, &given) ||
		    off_field(r, body, "echo", "the completion never repeats the prompt") ||
		    off_field(r, body, "best_of", "one completion is made") ||
		    off_field(r, body, "suffix", "insertion is not implemented"))
			goto out_refused;
		j->p.logprobs = given;
		j->p.top_logprobs = (int)lp;
	} else {
		json_int_t top = 0;
		int given = 0;
		const json_t *rf = json_object_get(body, "response_format");
		if (messages_field(r, j, body) || bool_field(r, body, "logprobs", &j->p.logprobs) ||
		    int_field(r, body, "top_logprobs", 0, ADA_TOP_LOGPROBS_MAX, &top, &given) ||
		    off_field(r, body, "tools", "tool calling is not supported") ||
		    off_field(r, body, "tool_choice", "tool calling is not supported") ||
		    off_field(r, body, "functions", "function calling is not supported") ||
		    off_field(r, body, "function_call", "function calling is not supported") ||
		    off_field(r, body, "store", "completions are not stored"))
			goto out_refused;
		if (given && !j->p.logprobs) {
			bad(r, "invalid_value", "top_logprobs", "top_logprobs needs logprobs: true");
			goto out_refused;
		}
		if (rf && !json_is_null(rf) &&
		    !(json_is_object(rf) && json_object_size(rf) == 1 &&
		      json_is_string(json_object_get(rf, "type")) &&
		      !strcmp(json_string_value(json_object_get(rf, "type")), "text"))) {
			bad(r, "unsupported_value", "response_format",
			    "response_format must be {\"type\": \"text\"}: structured output is not implemented");
			goto out_refused;
		}
		j->p.top_logprobs = (int)top;
	}
	submit(r, j);
	return;
out_refused:
	api_infer_unref(j);
}

void h_completions(struct request *r)
{
	completions(r, API_INFER_COMPLETION);
}

void h_chat_completions(struct request *r)
{
	completions(r, API_INFER_CHAT);
}

/* input: a text, a list of texts, or a list of [text_a, text_b] pairs;
 * normalised to [[a, b or null], ...]. */
static int inputs_field(struct request *r, struct api_infer *j, const json_t *body)
{
	const json_t *v = json_object_get(body, "input"), *e;
	char param[48];
	size_t i;

	if (!v || json_is_null(v))
		return bad(r, "missing_required_parameter", "input", "input is required");
	j->inputs = json_array();
	if (json_is_string(v)) {
		json_array_append_new(j->inputs, json_pack("[O,n]", v));
		goto out_check;
	}
	if (!json_is_array(v) || !json_array_size(v))
		return bad(r, "invalid_type", "input",
			   "input must be a text, an array of texts, or an array of [text_a, text_b] pairs");
	if (json_array_size(v) > MAX_CLASSIFY_INPUTS)
		return bad(r, "invalid_value", "input", "input takes at most 64 texts per request");
	json_array_foreach(v, i, e) {
		snprintf(param, sizeof(param), "input[%zu]", i);
		if (json_is_string(e)) {
			json_array_append_new(j->inputs, json_pack("[O,n]", e));
		} else if (json_is_array(e) && json_array_size(e) == 2 &&
			   json_is_string(json_array_get(e, 0)) &&
			   json_is_string(json_array_get(e, 1))) {
			json_array_append_new(j->inputs, json_copy((json_t *)e));
		} else {
			return bad(r, "invalid_type", param,
				   "each input must be a text or a [text_a, text_b] pair");
		}
	}
out_check:
	json_array_foreach(j->inputs, i, e) {
		for (size_t k = 0; k < 2; k++) {
			const json_t *s = json_array_get(e, k);
			snprintf(param, sizeof(param), json_is_array(v) ? "input[%zu]" : "input", i);
			if (json_is_string(s) && strlen(json_string_value(s)) != json_string_length(s))
				return bad(r, "invalid_value", param, "a text must not contain NUL");
		}
	}
	j->p.inputs = j->inputs;
	return 0;
}

void h_classifications(struct request *r)
{
	static const char *const known[] = { "model", "input", "user", NULL };
	struct api_infer *j;

	if (!(j = infer_begin(r, API_INFER_CLASSIFY)))
		return;
	if (body_known_fields(r, j->body, known, "") || model_field(r, j->body, &j->p) ||
	    inputs_field(r, j, j->body)) {
		api_infer_unref(j);
		return;
	}
	submit(r, j);
}

/* ---- question answering ------------------------------------------------------ */

/* question or context: a text or an array of texts (1 to MAX_QA_PAIRS);
 * each text non-empty, no NUL. *n: 0 for a single text, else the count. */
static int qa_texts(struct request *r, const json_t *body, const char *key, size_t *n)
{
	const json_t *v = json_object_get(body, key), *e;
	char param[48], msg[160];
	size_t i;

	*n = 0;
	if (!v || json_is_null(v)) {
		snprintf(msg, sizeof(msg), "%s is required", key);
		return bad(r, "missing_required_parameter", key, msg);
	}
	if (json_is_string(v)) {
		if (!json_string_length(v)) {
			snprintf(msg, sizeof(msg), "%s must not be empty", key);
			return bad(r, "invalid_value", key, msg);
		}
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(msg, sizeof(msg), "%s must not contain NUL", key);
			return bad(r, "invalid_value", key, msg);
		}
		return 0;
	}
	if (!json_is_array(v)) {
		snprintf(msg, sizeof(msg), "%s must be a text or an array of texts", key);
		return bad(r, "invalid_type", key, msg);
	}
	if (!json_array_size(v) || json_array_size(v) > MAX_QA_PAIRS) {
		snprintf(msg, sizeof(msg), "%s must hold 1 to %d texts", key, MAX_QA_PAIRS);
		return bad(r, "invalid_value", key, msg);
	}
	json_array_foreach(v, i, e) {
		snprintf(param, sizeof(param), "%s[%zu]", key, i);
		if (!json_is_string(e)) {
			snprintf(msg, sizeof(msg), "%s must be a text or an array of texts", key);
			return bad(r, "invalid_type", param, msg);
		}
		if (!json_string_length(e) || strlen(json_string_value(e)) != json_string_length(e)) {
			snprintf(msg, sizeof(msg), "each %s must be a non-empty text without NUL", key);
			return bad(r, "invalid_value", param, msg);
		}
	}
	*n = json_array_size(v);
	return 0;
}

/* question and context, paired into j->inputs [[q, c], ...]: two texts,
 * two arrays of one length, or one text with an array (used with each). */
static int qa_pairs(struct request *r, struct api_infer *j, const json_t *body)
{
	const json_t *q = json_object_get(body, "question"), *c = json_object_get(body, "context");
	size_t nq, nc, n;

	if (qa_texts(r, body, "question", &nq) || qa_texts(r, body, "context", &nc))
		return -1;
	if (nq && nc && nq != nc)
		return bad(r, "invalid_value", "context",
			   "question and context are arrays of different lengths: give one context per question, or one context for all");
	n = nq ? nq : nc ? nc : 1;
	j->inputs = json_array();
	if (!j->inputs)
		return bad(r, "out_of_memory", NULL, "out of memory");
	for (size_t i = 0; i < n; i++)
		json_array_append_new(j->inputs, json_pack("[O,O]", nq ? json_array_get(q, i) : q,
							   nc ? json_array_get(c, i) : c));
	j->p.inputs = j->inputs;
	j->p.question_array = nq > 0;
	j->p.context_array = nc > 0;
	return 0;
}

void h_question_answering(struct request *r)
{
	static const char *const known[] = {
		"model", "question", "context", "top_k", "max_answer_length", "max_seq_length",
		"doc_stride", "null_score_diff_threshold", "user", NULL,
	};
	json_int_t top_k = 0, seq = 0, stride = -1, max_answer = 0;
	struct api_infer *j;
	json_t *body;

	if (!(j = infer_begin(r, API_INFER_QA)))
		return;
	body = j->body;
	if (body_known_fields(r, body, known, "") || model_field(r, body, &j->p) ||
	    qa_pairs(r, j, body) || int_field(r, body, "top_k", 1, 1000, &top_k, NULL) ||
	    int_field(r, body, "max_answer_length", 1, 1 << 20, &max_answer, NULL) ||
	    int_field(r, body, "max_seq_length", 2, 1 << 20, &seq, NULL) ||
	    int_field(r, body, "doc_stride", 0, 1 << 20, &stride, NULL) ||
	    number_field(r, body, "null_score_diff_threshold", -1e30, 0, 1e30,
			 &j->p.null_score_diff_threshold)) {
		api_infer_unref(j);
		return;
	}
	j->p.has_threshold = json_is_number(json_object_get(body, "null_score_diff_threshold"));
	j->p.top_k = (int)top_k;
	j->p.max_seq_length = (int)seq;
	j->p.doc_stride = (int)stride;
	j->p.max_answer_length = (int)max_answer;
	submit(r, j);
}

