/*
 * data_format — training-file formats and line shapes; see data_format.h.
 *
 * Strictness is the point: a key we do not know, a wrong type or an empty
 * string is far more often a mistake (a misspelt "completion", a field the
 * user expects us to use) than something to ignore, and the user hears of
 * it at upload time with the line number instead of after a wasted run.
 * Messages go into JSON error bodies, so every piece of user data copied
 * into one (keys, jansson's "near '...'") is cleaned to printable UTF-8.
 */
#include "data/data_format.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"
#include "util/utf8.h"

#define KEY_SHOWN_MAX 64   /* bytes of a user's key quoted in an error */

struct shape_spec {
	int shape;
	const char *name;
	const char *const *keys;     /* the keys a line of this shape may have */
};

static const char *const text_keys[] = { "text", NULL };
static const char *const prompt_keys[] = { "prompt", "completion", NULL };
static const char *const chat_keys[] = { "messages", "tools", "functions", "parallel_tool_calls",
					 NULL };
static const char *const classify_keys[] = { "text", "label", NULL };
static const char *const pair_keys[] = { "text_a", "text_b", "label", NULL };
static const char *const qa_keys[] = { "id", "title", "question", "context", "answers", NULL };
static const char *const squad_qa_keys[] = { "id", "question", "answers", "is_impossible",
					     "plausible_answers", NULL };
/* the pair of names a seq2seq line uses, and an id datasets carry beside them */
static const char *const seq2seq_keys[] = { "source", "target", "document", "summary",
					    "article", "highlights", "id", NULL };
static const char *const seq2seq_pairs[][2] = {
	{ "source", "target" }, { "document", "summary" }, { "article", "highlights" },
};
static const char *const message_keys[] = { "role", "content", "name", "weight", "tool_calls",
					    "tool_call_id", "function_call", NULL };

static const struct shape_spec shapes[] = {
	{ ADA_SHAPE_TEXT, "text", text_keys },
	{ ADA_SHAPE_PROMPT_COMPLETION, "prompt_completion", prompt_keys },
	{ ADA_SHAPE_CHAT, "chat", chat_keys },
	{ ADA_SHAPE_CLASSIFY, "classification", classify_keys },
	{ ADA_SHAPE_CLASSIFY_PAIR, "pair_classification", pair_keys },
	{ ADA_SHAPE_QA, "question_answering", qa_keys },
	{ ADA_SHAPE_SEQ2SEQ, "seq2seq", seq2seq_keys },
};

static const struct shape_spec *shape_spec(int shape)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (shapes[i].shape == shape)
			return &shapes[i];
	return NULL;
}

const char *ada_data_shape_name(int shape)
{
	const struct shape_spec *s = shape_spec(shape);

	return s ? s->name : "unknown";
}

const char *ada_data_format_name(int format)
{
	switch (format) {
	case ADA_DATA_PLAIN_TEXT: return "plain_text";
	case ADA_DATA_JSONL:      return "jsonl";
	case ADA_DATA_SQUAD:      return "squad_json";
	}
	return "unknown";
}

const char *ada_label_kind_name(int kind)
{
	switch (kind) {
	case ADA_LABEL_NONE:   return "none";
	case ADA_LABEL_INT:    return "int";
	case ADA_LABEL_STRING: return "string";
	case ADA_LABEL_FLOAT:  return "float";
	}
	return "unknown";
}

struct scan {
	data_record_fn fn;
	void *ctx;
	struct ada_data_info *info;
	int64_t shape_line;      /* the line that fixed info->shape */
	int64_t label_line;      /* the line that fixed strings vs numbers */
};

/* ---- lines ------------------------------------------------------------- */

static int is_blank_char(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int is_blank(const char *p, const char *end)
{
	for (; p < end; p++)
		if (!is_blank_char(*p))
			return 0;
	return 1;
}

/* End of the line starting at p: its '\n', or end. */
static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl : end;
}

static int64_t count_newlines(const char *p, const char *end)
{
	int64_t n = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		n++;
		p++;
	}
	return n;
}

/* Copy s[0..n) into out as printable UTF-8: control characters become '?',
 * and a cut never splits a multi-byte sequence. */
static void printable(char *out, size_t cap, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;
	uint32_t cp;

	while (i < n) {
		int k = utf8_decode(u + i, n - i, &cp);

		if (k == 0 || cp < 0x20 || cp == 0x7f) {
			k = k ? k : 1;
			if (o + 1 >= cap)
				break;
			out[o++] = '?';
		} else {
			if (o + (size_t)k >= cap)
				break;
			memcpy(out + o, s + i, (size_t)k);
			o += (size_t)k;
		}
		i += (size_t)k;
	}
	out[o] = '\0';
}

/* ---- JSONL fields ------------------------------------------------------ */

/* v must be a non-empty string; field is the name shown in errors. */
static int check_string(const json_t *v, const char *field, const char **s, size_t *n,
			struct ada_err *err)
{
	if (!v)
		return ada_fail(err, ADA_EFORMAT, "missing field \"%s\"", field);
	if (!json_is_string(v))
		return ada_fail(err, ADA_EFORMAT, "field \"%s\" must be a string", field);
	if (json_string_length(v) == 0)
		return ada_fail(err, ADA_EFORMAT, "field \"%s\" is an empty string", field);
	if (s)
		*s = json_string_value(v);
	if (n)
		*n = json_string_length(v);
	return ADA_OK;
}

static int key_allowed(const char *const *keys, const char *key)
{
	for (; *keys; keys++)
		if (!strcmp(*keys, key))
			return 1;
	return 0;
}

/* Every key of obj must be one of keys; where is "" or " in messages[3]",
 * what names the object ("a chat line", "a message"). */
static int check_keys(const json_t *obj, const char *const *keys, const char *where,
		      const char *what, struct ada_err *err)
{
	char shown[KEY_SHOWN_MAX + 1], allowed[128] = "";
	const char *key;
	json_t *val;
	size_t o = 0;

	json_object_foreach((json_t *)obj, key, val) {
		if (key_allowed(keys, key))
			continue;
		printable(shown, sizeof(shown), key, strlen(key));
		for (const char *const *k = keys; *k && o < sizeof(allowed); k++)
			o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s\"%s\"",
					      k == keys ? "" : ", ", *k);
		return ada_fail(err, ADA_EFORMAT, "unknown key \"%s\"%s (%s takes %s)",
				shown, where, what, allowed);
	}
	return ADA_OK;
}

/* The shape a line's keys announce, or 0. The order matters: the most
 * specific key decides, so a misplaced extra key is reported as unknown
 * for that shape rather than as "no known shape". */
static int classify(const json_t *obj)
{
	if (json_object_get(obj, "messages"))
		return ADA_SHAPE_CHAT;
	if (json_object_get(obj, "question") || json_object_get(obj, "context") ||
	    json_object_get(obj, "answers"))
		return ADA_SHAPE_QA;
	if (json_object_get(obj, "prompt") || json_object_get(obj, "completion"))
		return ADA_SHAPE_PROMPT_COMPLETION;
	if (json_object_get(obj, "text_a") || json_object_get(obj, "text_b"))
		return ADA_SHAPE_CLASSIFY_PAIR;
	if (json_object_get(obj, "label"))
		return ADA_SHAPE_CLASSIFY;
	for (size_t i = 0; i < sizeof(seq2seq_pairs) / sizeof(seq2seq_pairs[0]); i++)
		if (json_object_get(obj, seq2seq_pairs[i][0]) ||
		    json_object_get(obj, seq2seq_pairs[i][1]))
			return ADA_SHAPE_SEQ2SEQ;
	if (json_object_get(obj, "text"))
		return ADA_SHAPE_TEXT;
	return 0;
}

static int check_label(struct scan *sc, const json_t *obj, int64_t line, struct ada_err *err)
{
	struct ada_data_info *info = sc->info;
	const json_t *v = json_object_get(obj, "label");
	int kind;

	if (!v)
		return ada_fail(err, ADA_EFORMAT, "missing field \"label\"");
	if (json_is_integer(v)) {
		kind = ADA_LABEL_INT;
	} else if (json_is_real(v)) {
		kind = ADA_LABEL_FLOAT;
	} else if (json_is_string(v)) {
		if (json_string_length(v) == 0)
			return ada_fail(err, ADA_EFORMAT, "field \"label\" is an empty string");
		kind = ADA_LABEL_STRING;
	} else {
		return ada_fail(err, ADA_EFORMAT,
				"field \"label\" must be an integer, a number or a string");
	}
	if (info->label_kind == ADA_LABEL_NONE) {
		info->label_kind = kind;
		sc->label_line = line;
	} else if ((info->label_kind == ADA_LABEL_STRING) != (kind == ADA_LABEL_STRING)) {
		return ada_fail(err, ADA_EFORMAT,
				"field \"label\" is a %s but line %lld has a %s label",
				kind == ADA_LABEL_STRING ? "string" : "number",
				(long long)sc->label_line,
				kind == ADA_LABEL_STRING ? "number" : "string");
	} else if (kind == ADA_LABEL_FLOAT) {
		info->label_kind = ADA_LABEL_FLOAT;
	}
	return ADA_OK;
}

/* The first use of tool or function calling, for info (and so the API). */
static void note_tool(struct scan *sc, int64_t line, const char *field)
{
	if (sc->info->tool_line)
		return;
	sc->info->tool_line = line;
	snprintf(sc->info->tool_field, sizeof(sc->info->tool_field), "%s", field);
}

/* A tool-calling field: its JSON type, and note the use. */
static int check_tool_field(struct scan *sc, int64_t line, const json_t *v, const char *field,
			    int want_array, struct ada_err *err)
{
	if (want_array ? !json_is_array(v) || !json_array_size(v) : !json_is_object(v))
		return ada_fail(err, ADA_EFORMAT, "field \"%s\" must be %s", field,
				want_array ? "a non-empty array" : "an object");
	note_tool(sc, line, field);
	return ADA_OK;
}

static int check_message(struct scan *sc, int64_t line, const json_t *m, size_t i,
			 int *is_assistant, struct ada_err *err)
{
	char field[64], where[48];
	const json_t *weight, *calls, *call, *body;
	const char *role = NULL;
	int tool_role, rc;

	snprintf(field, sizeof(field), "messages[%zu]", i);
	if (!json_is_object(m))
		return ada_fail(err, ADA_EFORMAT, "field \"%s\" must be an object", field);
	snprintf(where, sizeof(where), " in messages[%zu]", i);
	rc = check_keys(m, message_keys, where, "a message", err);
	if (rc)
		return rc;

	snprintf(field, sizeof(field), "messages[%zu].role", i);
	rc = check_string(json_object_get(m, "role"), field, &role, NULL, err);
	if (rc)
		return rc;
	if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
	    strcmp(role, "tool") && strcmp(role, "function"))
		return ada_fail(err, ADA_EFORMAT,
				"field \"%s\" must be \"system\", \"user\", \"assistant\", \"tool\" "
				"or \"function\"", field);
	*is_assistant = !strcmp(role, "assistant");
	tool_role = !strcmp(role, "tool") || !strcmp(role, "function");
	if (tool_role)
		note_tool(sc, line, field);

	/* OpenAI's tool calling: an assistant message may call tools (its
	 * content then optional), a "tool" message answers one */
	calls = json_object_get(m, "tool_calls");
	call = json_object_get(m, "function_call");
	if ((calls || call) && !*is_assistant)
		return ada_fail(err, ADA_EFORMAT,
				"field \"messages[%zu].%s\" is only allowed on assistant messages", i,
				calls ? "tool_calls" : "function_call");
	snprintf(field, sizeof(field), "messages[%zu].tool_calls", i);
	if (calls && (rc = check_tool_field(sc, line, calls, field, 1, err)))
		return rc;
	snprintf(field, sizeof(field), "messages[%zu].function_call", i);
	if (call && (rc = check_tool_field(sc, line, call, field, 0, err)))
		return rc;
	if (json_object_get(m, "tool_call_id")) {
		snprintf(field, sizeof(field), "messages[%zu].tool_call_id", i);
		if (strcmp(role, "tool"))
			return ada_fail(err, ADA_EFORMAT,
					"field \"%s\" is only allowed on tool messages", field);
		if ((rc = check_string(json_object_get(m, "tool_call_id"), field, NULL, NULL, err)))
			return rc;
	}

	snprintf(field, sizeof(field), "messages[%zu].content", i);
	body = json_object_get(m, "content");
	if (!((calls || call) && (!body || json_is_null(body)))) {
		rc = check_string(body, field, NULL, NULL, err);
		if (rc)
			return rc;
	}

	if (json_object_get(m, "name")) {
		snprintf(field, sizeof(field), "messages[%zu].name", i);
		rc = check_string(json_object_get(m, "name"), field, NULL, NULL, err);
		if (rc)
			return rc;
	}

	/* OpenAI's per-turn switch: weight 0 excludes an assistant turn from the loss. */
	weight = json_object_get(m, "weight");
	if (weight) {
		json_int_t w = json_is_integer(weight) ? json_integer_value(weight) : -1;

		if (w != 0 && w != 1)
			return ada_fail(err, ADA_EFORMAT,
					"field \"messages[%zu].weight\" must be 0 or 1", i);
		if (!*is_assistant)
			return ada_fail(err, ADA_EFORMAT,
					"field \"messages[%zu].weight\" is only allowed on assistant messages",
					i);
	}
	return ADA_OK;
}

static int check_messages(struct scan *sc, int64_t line, const json_t *obj, struct ada_err *err)
{
	static const char *const tool_keys[] = { "tools", "functions" };
	const json_t *msgs = json_object_get(obj, "messages"), *v;
	int any_assistant = 0, rc;
	size_t i;
	json_t *m;

	if (!json_is_array(msgs))
		return ada_fail(err, ADA_EFORMAT, "field \"messages\" must be an array");
	if (json_array_size(msgs) == 0)
		return ada_fail(err, ADA_EFORMAT, "field \"messages\" is an empty array");
	json_array_foreach(msgs, i, m) {
		int is_assistant = 0;

		rc = check_message(sc, line, m, i, &is_assistant, err);
		if (rc)
			return rc;
		any_assistant |= is_assistant;
	}
	if (!any_assistant)
		return ada_fail(err, ADA_EFORMAT,
				"field \"messages\" has no assistant message to learn from");
	for (size_t k = 0; k < sizeof(tool_keys) / sizeof(tool_keys[0]); k++)
		if ((v = json_object_get(obj, tool_keys[k])) &&
		    (rc = check_tool_field(sc, line, v, tool_keys[k], 1, err)))
			return rc;
	if ((v = json_object_get(obj, "parallel_tool_calls"))) {
		if (!json_is_boolean(v))
			return ada_fail(err, ADA_EFORMAT,
					"field \"parallel_tool_calls\" must be true or false");
		note_tool(sc, line, "parallel_tool_calls");
	}
	return ADA_OK;
}

/* ---- question answering --------------------------------------------------- */

static size_t cp_count(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xc0) != 0x80;
	return k;
}

/* One answer: text (non-empty) at answer_start (characters, as SQuAD and
 * Python count them) inside the context of ctx_chars characters. */
static int check_answer(const json_t *text, const json_t *start, size_t ctx_chars,
			const char *field, size_t i, struct ada_err *err)
{
	json_int_t at;

	if (!json_is_string(text) || !json_string_length(text))
		return ada_fail(err, ADA_EFORMAT, "field \"%s\"[%zu]: the answer text must be a non-empty string",
				field, i);
	if (!json_is_integer(start) || (at = json_integer_value(start)) < 0)
		return ada_fail(err, ADA_EFORMAT,
				"field \"%s\"[%zu]: answer_start must be an integer >= 0", field, i);
	if ((uint64_t)at + cp_count(json_string_value(text), json_string_length(text)) > ctx_chars)
		return ada_fail(err, ADA_EFORMAT,
				"field \"%s\"[%zu]: the answer (%lld + %zu characters) runs past the context (%zu characters)",
				field, i, (long long)at,
				cp_count(json_string_value(text), json_string_length(text)), ctx_chars);
	return ADA_OK;
}

int data_qa_answers(const json_t *qa, int squad, size_t *n, const char **texts,
		    int64_t *starts, size_t cap)
{
	const json_t *a = json_object_get(qa, "answers");

	*n = 0;
	if (squad) {
		size_t i;
		json_t *it;

		if (json_is_true(json_object_get(qa, "is_impossible")))
			return 0;
		json_array_foreach(a, i, it) {
			if (i < cap) {
				texts[i] = json_string_value(json_object_get(it, "text"));
				starts[i] = json_integer_value(json_object_get(it, "answer_start"));
			}
			(*n)++;
		}
		return 0;
	}
	for (size_t i = 0; i < json_array_size(json_object_get(a, "text")); i++) {
		if (i < cap) {
			texts[i] = json_string_value(json_array_get(json_object_get(a, "text"), i));
			starts[i] = json_integer_value(json_array_get(json_object_get(a, "answer_start"), i));
		}
		(*n)++;
	}
	return 0;
}

/* A question: JSONL {"question","context","answers":{"text":[],"answer_start":[]}}
 * (squad 0), or a SQuAD qa object whose context rec->second already holds. */
static int check_qa(const json_t *obj, struct data_record *rec, int squad, struct ada_err *err)
{
	const json_t *id = json_object_get(obj, "id"), *a = json_object_get(obj, "answers");
	size_t ctx_chars;
	int rc;

	if ((rc = check_string(json_object_get(obj, "question"), "question", &rec->text,
			       &rec->text_len, err)))
		return rc;
	if (!squad && (rc = check_string(json_object_get(obj, "context"), "context", &rec->second,
					 &rec->second_len, err)))
		return rc;
	if (id && !json_is_string(id) && !json_is_integer(id))
		return ada_fail(err, ADA_EFORMAT, "field \"id\" must be a string or an integer");
	if (!squad && json_object_get(obj, "title") && !json_is_string(json_object_get(obj, "title")))
		return ada_fail(err, ADA_EFORMAT, "field \"title\" must be a string");
	ctx_chars = cp_count(rec->second, rec->second_len);
	if (squad) {
		const json_t *imp = json_object_get(obj, "is_impossible");
		size_t i;
		json_t *it;

		if (imp && !json_is_boolean(imp))
			return ada_fail(err, ADA_EFORMAT, "field \"is_impossible\" must be true or false");
		if (!json_is_array(a))
			return ada_fail(err, ADA_EFORMAT, "field \"answers\" must be an array");
		if (json_is_true(imp) && json_array_size(a))
			return ada_fail(err, ADA_EFORMAT,
					"field \"answers\" must be empty when is_impossible is true");
		if (!json_is_true(imp) && !json_array_size(a))
			return ada_fail(err, ADA_EFORMAT,
					"field \"answers\" is empty: a question without an answer needs \"is_impossible\": true");
		json_array_foreach(a, i, it) {
			if (!json_is_object(it))
				return ada_fail(err, ADA_EFORMAT, "field \"answers\"[%zu] must be an object", i);
			if ((rc = check_answer(json_object_get(it, "text"),
					       json_object_get(it, "answer_start"), ctx_chars, "answers",
					       i, err)))
				return rc;
		}
		return ADA_OK;
	}
	{
		const json_t *t = json_object_get(a, "text"), *s = json_object_get(a, "answer_start");

		if (!json_is_object(a) || !json_is_array(t) || !json_is_array(s))
			return ada_fail(err, ADA_EFORMAT,
					"field \"answers\" must be {\"text\": [...], \"answer_start\": [...]}");
		if (json_object_size(a) != 2)
			return ada_fail(err, ADA_EFORMAT,
					"field \"answers\" takes only \"text\" and \"answer_start\"");
		if (json_array_size(t) != json_array_size(s))
			return ada_fail(err, ADA_EFORMAT,
					"field \"answers\": %zu texts but %zu answer_start values",
					json_array_size(t), json_array_size(s));
		for (size_t i = 0; i < json_array_size(t); i++)
			if ((rc = check_answer(json_array_get(t, i), json_array_get(s, i), ctx_chars,
					       "answers.text", i, err)))
				return rc;
	}
	return ADA_OK;
}

/* A seq2seq line: one pair of names (source/target, document/summary or
 * article/highlights), both non-empty strings; an "id" may ride along. */
static int check_seq2seq(const json_t *obj, struct data_record *rec, struct ada_err *err)
{
	const size_t n_pairs = sizeof(seq2seq_pairs) / sizeof(seq2seq_pairs[0]);
	size_t pair = n_pairs;
	int rc;

	for (size_t i = 0; i < n_pairs; i++) {
		if (!json_object_get(obj, seq2seq_pairs[i][0]) &&
		    !json_object_get(obj, seq2seq_pairs[i][1]))
			continue;
		if (pair != n_pairs)
			return ada_fail(err, ADA_EFORMAT,
					"a seq2seq line names its texts \"%s\"/\"%s\" or \"%s\"/\"%s\", not both",
					seq2seq_pairs[pair][0], seq2seq_pairs[pair][1],
					seq2seq_pairs[i][0], seq2seq_pairs[i][1]);
		pair = i;
	}
	if ((rc = check_string(json_object_get(obj, seq2seq_pairs[pair][0]), seq2seq_pairs[pair][0],
			       &rec->text, &rec->text_len, err)) ||
	    (rc = check_string(json_object_get(obj, seq2seq_pairs[pair][1]), seq2seq_pairs[pair][1],
			       &rec->second, &rec->second_len, err)))
		return rc;
	return ADA_OK;
}

/* Check obj against its shape and describe it in rec (errors without the line). */
static int check_object(struct scan *sc, const json_t *obj, int64_t line,
			struct data_record *rec, struct ada_err *err)
{
	struct ada_data_info *info = sc->info;
	const struct shape_spec *spec;
	int shape = classify(obj);
	char what[48];
	int rc;

	if (!shape)
		return ada_fail(err, ADA_EFORMAT,
				"no known shape: expected {\"text\"}, {\"prompt\", \"completion\"}, "
				"{\"messages\"}, {\"text\", \"label\"}, "
				"{\"text_a\", \"text_b\", \"label\"}, "
				"{\"question\", \"context\", \"answers\"} or {\"source\", \"target\"}");
	spec = shape_spec(shape);
	if (info->shape && info->shape != shape)
		return ada_fail(err, ADA_EFORMAT,
				"a %s line, but line %lld is %s (one shape per file)",
				spec->name, (long long)sc->shape_line,
				ada_data_shape_name(info->shape));
	snprintf(what, sizeof(what), "a %s line", spec->name);
	rc = check_keys(obj, spec->keys, "", what, err);
	if (rc)
		return rc;

	memset(rec, 0, sizeof(*rec));
	rec->line = line;
	rec->shape = shape;
	rec->json = obj;
	switch (shape) {
	case ADA_SHAPE_TEXT:
		rc = check_string(json_object_get(obj, "text"), "text",
				  &rec->text, &rec->text_len, err);
		break;
	case ADA_SHAPE_PROMPT_COMPLETION:
		rc = check_string(json_object_get(obj, "prompt"), "prompt",
				  &rec->text, &rec->text_len, err);
		if (!rc)
			rc = check_string(json_object_get(obj, "completion"), "completion",
					  &rec->second, &rec->second_len, err);
		break;
	case ADA_SHAPE_CHAT:
		rc = check_messages(sc, line, obj, err);
		break;
	case ADA_SHAPE_CLASSIFY:
		rc = check_string(json_object_get(obj, "text"), "text",
				  &rec->text, &rec->text_len, err);
		if (!rc)
			rc = check_label(sc, obj, line, err);
		break;
	case ADA_SHAPE_QA:
		rc = check_qa(obj, rec, 0, err);
		break;
	case ADA_SHAPE_CLASSIFY_PAIR:
		rc = check_string(json_object_get(obj, "text_a"), "text_a",
				  &rec->text, &rec->text_len, err);
		if (!rc)
			rc = check_string(json_object_get(obj, "text_b"), "text_b",
					  &rec->second, &rec->second_len, err);
		if (!rc)
			rc = check_label(sc, obj, line, err);
		break;
	case ADA_SHAPE_SEQ2SEQ:
		rc = check_seq2seq(obj, rec, err);
		break;
	}
	if (rc)
		return rc;
	if (!info->shape) {
		info->shape = shape;
		sc->shape_line = line;
	}
	return ADA_OK;
}

static int emit(struct scan *sc, const struct data_record *rec, struct ada_err *err)
{
	int rc;

	sc->info->record_count++;
	if (!sc->fn)
		return ADA_OK;
	rc = sc->fn(sc->ctx, rec, err);
	if (rc)
		ada_err_prefix(err, rc, "line %lld", (long long)rec->line);
	return rc;
}

/* Parse one line; NULL with a message (including the line) in err on failure. */
static json_t *parse_line(const char *p, size_t n, int64_t line, struct ada_err *err)
{
	char shown[sizeof(((json_error_t *)0)->text)];
	json_error_t jerr;
	json_t *obj;

	obj = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		printable(shown, sizeof(shown), jerr.text, strlen(jerr.text));
		ada_fail(err, ADA_EFORMAT, "line %lld: invalid JSON at column %d: %s",
			 (long long)line, jerr.column, shown);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		ada_fail(err, ADA_EFORMAT, "line %lld: not a JSON object (JSONL needs one object per line)",
			 (long long)line);
		return NULL;
	}
	return obj;
}

static int scan_jsonl(struct scan *sc, const char *p, const char *end, int64_t line,
		      struct ada_err *err)
{
	struct data_record rec;
	int rc = ADA_OK;

	for (;; line++) {
		const char *le = line_end(p, end);

		if (!is_blank(p, le)) {
			json_t *obj = parse_line(p, (size_t)(le - p), line, err);

			if (!obj)
				return ADA_EFORMAT;
			rc = check_object(sc, obj, line, &rec, err);
			if (rc)
				ada_err_prefix(err, rc, "line %lld", (long long)line);
			else
				rc = emit(sc, &rec, err);
			json_decref(obj);
			if (rc)
				return rc;
		}
		if (le == end)
			break;
		p = le + 1;
	}
	return ADA_OK;
}

/* A document runs from its first non-blank line to its last, verbatim
 * (inner newlines kept, the last line's '\r' dropped). */
static int emit_document(struct scan *sc, const char *doc, const char *doc_end,
			 int64_t doc_line, struct ada_err *err)
{
	struct data_record rec = {
		.line = doc_line,
		.shape = ADA_SHAPE_TEXT,
		.text = doc,
		.text_len = (size_t)(doc_end - doc),
	};

	return emit(sc, &rec, err);
}

static int scan_plain(struct scan *sc, const char *p, const char *end, int64_t line,
		      struct ada_err *err)
{
	const char *doc = NULL, *doc_end = NULL;
	int64_t doc_line = 0;
	int rc;

	sc->info->shape = ADA_SHAPE_TEXT;
	for (;; line++) {
		const char *le = line_end(p, end);

		if (!is_blank(p, le)) {
			if (!doc) {
				doc = p;
				doc_line = line;
			}
			doc_end = le > p && le[-1] == '\r' ? le - 1 : le;
		} else if (doc) {
			rc = emit_document(sc, doc, doc_end, doc_line, err);
			if (rc)
				return rc;
			doc = NULL;
		}
		if (le == end)
			break;
		p = le + 1;
	}
	if (doc)
		return emit_document(sc, doc, doc_end, doc_line, err);
	return ADA_OK;
}

/* ---- SQuAD JSON ----------------------------------------------------------- */

/* The whole buffer as one JSON object with a "data" array, or NULL. */
static json_t *squad_root(const char *p, const char *end)
{
	json_t *root;

	while (p < end && (is_blank_char(*p) || *p == '\n'))
		p++;
	if (p == end || *p != '{')
		return NULL;
	root = json_loadb(p, (size_t)(end - p), JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(root) && json_is_array(json_object_get(root, "data")))
		return root;
	json_decref(root);
	return NULL;
}

/* Every question of data[].paragraphs[].qas[], errors naming their path. */
static int scan_squad(struct scan *sc, const json_t *root, struct ada_err *err)
{
	const json_t *data = json_object_get(root, "data"), *v = json_object_get(root, "version");
	size_t i, j, k;
	json_t *art, *par, *qa;
	int rc = ADA_OK;

	sc->info->format = ADA_DATA_SQUAD;
	sc->info->shape = ADA_SHAPE_QA;
	if (v && !json_is_string(v))
		return ada_fail(err, ADA_EFORMAT, "SQuAD JSON: \"version\" must be a string");
	json_array_foreach(data, i, art) {
		const json_t *pars = json_object_get(art, "paragraphs");

		if (!json_is_object(art) || !json_is_array(pars))
			return ada_fail(err, ADA_EFORMAT, "data[%zu]: an article needs a \"paragraphs\" array",
					i);
		json_array_foreach(pars, j, par) {
			const json_t *qas = json_object_get(par, "qas");
			struct data_record rec = { .shape = ADA_SHAPE_QA };

			if (!json_is_object(par) || !json_is_array(qas))
				return ada_fail(err, ADA_EFORMAT,
						"data[%zu].paragraphs[%zu]: a paragraph needs \"context\" and a \"qas\" array",
						i, j);
			if ((rc = check_string(json_object_get(par, "context"), "context", &rec.second,
					       &rec.second_len, err)))
				return ada_err_prefix(err, rc, "data[%zu].paragraphs[%zu]", i, j);
			json_array_foreach(qas, k, qa) {
				rec.json = qa;
				rec.line = sc->info->record_count + 1;
				if (!json_is_object(qa))
					rc = ada_fail(err, ADA_EFORMAT, "not an object");
				else if (!(rc = check_keys(qa, squad_qa_keys, "", "a SQuAD question", err)))
					rc = check_qa(qa, &rec, 1, err);
				if (!rc) {
					sc->info->record_count++;
					if (sc->fn)
						rc = sc->fn(sc->ctx, &rec, err);
				}
				if (rc) {
					ada_err_prefix(err, rc, "data[%zu].paragraphs[%zu].qas[%zu]", i, j, k);
					return rc;
				}
			}
		}
	}
	return ADA_OK;
}

/* JSONL when the first non-blank line, which starts p, is a JSON object. */
static int looks_like_jsonl(const char *p, const char *end)
{
	const char *le = line_end(p, end);
	json_t *obj;
	int yes;

	while (p < le && is_blank_char(*p))
		p++;
	if (p == le || *p != '{')
		return 0;
	obj = json_loadb(p, (size_t)(le - p), JSON_REJECT_DUPLICATES, NULL);
	yes = json_is_object(obj);
	json_decref(obj);
	return yes;
}

int data_format_scan(const char *buf, size_t len, unsigned flags, data_record_fn fn,
		     void *ctx, struct ada_data_info *info, struct ada_err *err)
{
	struct scan sc = { .fn = fn, .ctx = ctx, .info = info };
	const char *p = buf, *end = buf + len;
	size_t bad;
	int64_t line = 1;

	memset(info, 0, sizeof(*info));
	if (!buf && len)
		return ada_fail(err, ADA_EINVAL, "no buffer for %zu bytes", len);
	if (!buf)
		p = end = "";
	if (flags & ~(unsigned)ADA_DATA_JSONL_ONLY)
		return ada_fail(err, ADA_EINVAL, "unknown flags 0x%x", flags);

	info->line_count = count_newlines(p, end) + (len && end[-1] != '\n');
	bad = utf8_validate(p, len);
	if (bad < len)
		return ada_fail(err, ADA_EFORMAT, "line %lld: invalid UTF-8 at byte %zu",
				(long long)(1 + count_newlines(p, p + bad)), bad);
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;          /* a byte-order mark, as some editors write */

	while (p < end) {
		const char *le = line_end(p, end);

		if (!is_blank(p, le))
			break;
		p = le < end ? le + 1 : end;
		line++;
	}
	{
		json_t *root = squad_root(p, end);

		if (root) {
			int rc = scan_squad(&sc, root, err);
			json_decref(root);
			return rc;
		}
	}
	if ((flags & ADA_DATA_JSONL_ONLY) || (p < end && looks_like_jsonl(p, end))) {
		info->format = ADA_DATA_JSONL;
		return p < end ? scan_jsonl(&sc, p, end, line, err) : ADA_OK;
	}
	info->format = ADA_DATA_PLAIN_TEXT;
	return p < end ? scan_plain(&sc, p, end, line, err) : ADA_OK;
}

int ada_data_validate(const char *buf, size_t len, unsigned flags,
		      struct ada_data_info *info, struct ada_err *err)
{
	struct ada_data_info got;
	int rc;

	rc = data_format_scan(buf, len, flags, NULL, NULL, &got, err);
	if (rc)
		return rc;
	if (got.record_count == 0)
		return ada_fail(err, ADA_EFORMAT, "no records: the file is empty or blank");
	if (info)
		*info = got;
	return ADA_OK;
}
