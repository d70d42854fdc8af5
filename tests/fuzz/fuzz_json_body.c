/*
 * fuzz_json_body — JSON request bodies, through what the api runs on them
 * before anything is stored: body_parse (UTF-8, JSON, an object, no
 * duplicate keys) and body_unknown_field (api/body.c), then by the input's
 * first byte
 *   0 job creation's method: ada_method_from_json (every field, type and
 *     range; the param it names), its round trip through
 *     ada_method_to_json, and, with max_steps, the budget schedule as job
 *     creation checks it (ada_schedule_json, names prefixed);
 *   1 the schedule preview's fields into ada_schedule_json;
 *   2 two label summaries ({"train": …, "valid": …}) into ada_labels_check.
 * A body it refuses goes through what the inference routes add
 * (infer_error_param: the field holding the bad bytes), whose param must be
 * a path of keys and indices that fits and can be sent.
 * Checked: every refusal can be sent, i.e. its error object (api/reply.c:
 * error_object, with the param as the reply gives it) can be built — when
 * it cannot, the client gets a 500 "out of memory" instead of a 400
 * naming its field — and the method's round trip is the identity.
 */
#include "fuzz.h"

#include <string.h>

#include "adalora.h"
#include "http.h"
#include "util/utf8.h"

void fuzz_setup(void)
{
}

/* The reply for an error of lib/, as reply_ada_err gives it: it must exist. */
static void sendable(unsigned status, const char *code, const char *param, const char *msg)
{
	json_t *o = error_object(status, code, param, msg);

	FUZZ_CHECK(o != NULL, "no error object: %u %s param '%s': %s", status, code,
		   param ? param : "", msg);
	json_decref(o);
}

static void lib_error(const struct ada_err *err)
{
	fuzz_check_err(err);
	/* what lib/ says about a JSON body quotes valid UTF-8 only */
	FUZZ_CHECK(utf8_validate(err->msg, strlen(err->msg)) == strlen(err->msg),
		   "the message is not UTF-8: %s", err->msg);
	sendable(400, "invalid_value", err->param[0] ? err->param : NULL, err->msg);
}

/* body_known_fields' reply for the first unknown key. */
static int known(const json_t *obj, const char *const *fields, const char *prefix)
{
	const char *key = body_unknown_field(obj, fields);
	char param[256], msg[300];

	if (!key)
		return 0;
	snprintf(param, sizeof(param), "%s%s", prefix, key);
	snprintf(msg, sizeof(msg), "%s: unknown field", param);
	sendable(400, "unknown_parameter", param, msg);
	return -1;
}

static void method(const json_t *body)
{
	static const char *const fields[] = {
		"model", "training_file", "validation_file", "seed", "suffix", "method", NULL,
	};
	const json_t *mj = json_object_get(body, "method");
	json_t *dflt = NULL, *back, *again;
	struct ada_method m, m2;
	struct ada_err err;

	if (known(body, fields, ""))
		return;
	if (!mj)
		mj = dflt = json_pack("{s:s}", "type", "adalora");
	if (ada_method_from_json(mj, &m, &err)) {
		lib_error(&err);
		json_decref(dflt);
		return;
	}
	back = ada_method_to_json(&m);
	FUZZ_CHECK(back != NULL, "no JSON for a parsed method");
	if (ada_method_from_json(back, &m2, &err)) {
		char *t = json_dumps(back, JSON_COMPACT);
		FUZZ_CHECK(0, "the method's own JSON is refused: %s (%s)", err.msg, t);
	}
	again = ada_method_to_json(&m2);
	FUZZ_CHECK(json_equal(back, again), "the method's JSON changes in a round trip");
	json_decref(again);
	json_decref(back);
	if (m.hp.max_steps > 0) {
		/* what job creation runs against a model's header (5 layers) */
		struct ada_model_info info = { .family = ADA_FAMILY_LLAMA, .n_layers = 5,
					       .context_length = 512 };
		if (ada_method_check_model(&m, &info, &err))
			lib_error(&err);
	}
	json_decref(dflt);
}

static int64_t int_or(const json_t *body, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(body, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static void schedule(const json_t *body)
{
	static const char *const fields[] = {
		"total_steps", "tinit", "tfinal", "deltaT", "init_r", "target_r", "n_matrices",
		"model", "target_modules", NULL,
	};
	struct ada_method d;
	struct ada_schedule s;
	struct ada_err err;
	json_t *curve = NULL;

	if (known(body, fields, ""))
		return;
	ada_method_defaults(ADA_METHOD_ADALORA, &d);
	s.total_steps = int_or(body, "total_steps", 0);
	s.tinit = int_or(body, "tinit", d.hp.tinit);
	s.tfinal = int_or(body, "tfinal", d.hp.tfinal);
	s.deltaT = int_or(body, "deltaT", d.hp.delta_t);
	s.init_r = int_or(body, "init_r", d.hp.init_r);
	s.target_r = int_or(body, "target_r", d.hp.target_r);
	s.n_matrices = int_or(body, "n_matrices", 35);
	if (ada_schedule_json(&s, 1000, 1000, &curve, &err)) {
		lib_error(&err);
		return;
	}
	FUZZ_CHECK(json_array_size(json_object_get(curve, "points")) <= 1000, "too many points");
	FUZZ_CHECK(json_array_size(json_object_get(curve, "mask_steps")) <= 1000, "too many masks");
	json_decref(curve);
}

static void labels(const json_t *body)
{
	struct ada_err err;
	const json_t *t = json_object_get(body, "train"), *v = json_object_get(body, "valid");

	if (ada_labels_check(t, v, &err))
		lib_error(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct body_error e;
	json_t *body;

	if (size < 1)
		return 0;
	body = body_parse((const char *)data + 1, size - 1, &e);
	if (!body) {
		char param[256];
		size_t n;
		sendable(400, e.code, NULL, e.msg);
		infer_error_param((const char *)data + 1, size - 1, param, sizeof(param));
		n = strlen(param);
		FUZZ_CHECK(n < sizeof(param), "the param overflows");
		sendable(400, e.code, n ? param : NULL, e.msg);
		return 0;
	}
	switch (data[0] % 3) {
	case 0:
		method(body);
		break;
	case 1:
		schedule(body);
		break;
	default:
		labels(body);
	}
	json_decref(body);
	return 0;
}
