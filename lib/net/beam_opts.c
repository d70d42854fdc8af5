/*
 * beam_opts — struct beam_opts from Hugging Face's generation settings
 * (see beam.h), so a BART checkpoint's config.json decodes as it does in
 * transformers and a request can name the same keys.
 */
#include "net/beam.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"

static int fail_type(struct ada_err *err, const char *prefix, const char *key, const char *what)
{
	char param[128];

	snprintf(param, sizeof(param), "%s%s", prefix ? prefix : "", key);
	return ada_fail_param(err, ADA_EINVAL, param, "%s must be %s", param, what);
}

/* An integer key into *dst; null gives none_value when allow_null. */
static int get_int(const json_t *j, const char *prefix, const char *key, int allow_null, int none_value,
		   int *dst, struct ada_err *err)
{
	const json_t *v = json_object_get(j, key);

	if (!v)
		return ADA_OK;
	if (allow_null && json_is_null(v)) {
		*dst = none_value;
		return ADA_OK;
	}
	if (!json_is_integer(v) || json_integer_value(v) < -((json_int_t)1 << 30) ||
	    json_integer_value(v) > (json_int_t)1 << 30)
		return fail_type(err, prefix, key, allow_null ? "an integer or null" : "an integer");
	*dst = (int)json_integer_value(v);
	return ADA_OK;
}

int beam_opts_from_json(const json_t *j, const char *prefix, struct beam_opts *o, struct ada_err *err)
{
	const json_t *v;
	int rc, max_new = -1;

	if (!json_is_object(j))
		return fail_type(err, prefix, "", "a JSON object");
	if ((rc = get_int(j, prefix, "num_beams", 0, 0, &o->num_beams, err)) ||
	    (rc = get_int(j, prefix, "max_length", 0, 0, &o->max_length, err)) ||
	    (rc = get_int(j, prefix, "max_new_tokens", 1, -1, &max_new, err)) ||
	    (rc = get_int(j, prefix, "min_length", 0, 0, &o->min_length, err)) ||
	    (rc = get_int(j, prefix, "no_repeat_ngram_size", 0, 0, &o->no_repeat_ngram_size, err)) ||
	    (rc = get_int(j, prefix, "decoder_start_token_id", 0, 0, &o->decoder_start_token_id, err)) ||
	    (rc = get_int(j, prefix, "forced_bos_token_id", 1, -1, &o->forced_bos_token_id, err)) ||
	    (rc = get_int(j, prefix, "forced_eos_token_id", 1, -1, &o->forced_eos_token_id, err)))
		return rc;
	if (max_new >= 0)
		o->max_length = max_new + 1; /* HF: the decoder prompt (start token) plus the new ones */
	if ((v = json_object_get(j, "length_penalty"))) {
		if (!json_is_number(v))
			return fail_type(err, prefix, "length_penalty", "a number");
		o->length_penalty = json_number_value(v);
	}
	if ((v = json_object_get(j, "early_stopping"))) {
		if (json_is_boolean(v))
			o->early_stopping = json_is_true(v) ? BEAM_STOP_TRUE : BEAM_STOP_FALSE;
		else if (json_is_string(v) && !strcmp(json_string_value(v), "never"))
			o->early_stopping = BEAM_STOP_NEVER;
		else
			return fail_type(err, prefix, "early_stopping", "true, false or \"never\"");
	}
	if ((v = json_object_get(j, "eos_token_id"))) {
		if (json_is_array(v) && json_array_size(v) == 1)
			v = json_array_get(v, 0);
		if (json_is_null(v))
			o->eos_token_id = -1;
		else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
			 json_integer_value(v) <= (json_int_t)1 << 30)
			o->eos_token_id = (int)json_integer_value(v);
		else
			return fail_type(err, prefix, "eos_token_id", "a token id (several EOS tokens are not supported)");
	}
	return ADA_OK;
}
