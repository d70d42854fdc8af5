/* job_config — CONFIG.json for `adalora train`; see job_config.h. */
#include "job_config.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fileio.h"

static char *resolve(const char *base_dir, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	return path_join(base_dir, p);
}

static int get_path(const json_t *root, const char *key, int required, const char *base,
		    char **out, struct ada_err *err)
{
	const json_t *v = json_object_get(root, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return ada_fail_param(err, ADA_EINVAL, key, "%s is required", key);
		return ADA_OK;
	}
	if (!json_is_string(v) || !json_string_length(v))
		return ada_fail_param(err, ADA_EINVAL, key, "%s must be a non-empty string", key);
	*out = resolve(base, json_string_value(v));
	return *out ? ADA_OK : ada_fail(err, ADA_ENOMEM, "out of memory");
}

int job_config_load(const char *path, struct job_config *jc, struct ada_err *err)
{
	static const char *known[] = { "model", "tokenizer", "train_file", "valid_file", "task",
				       "data_format", "seed", "method", "model_name" };
	json_error_t jerr;
	json_t *root;
	const char *key;
	json_t *val;
	char *copy, *base;
	int rc;

	memset(jc, 0, sizeof(*jc));
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return ada_fail(err, ADA_EINVAL, "%s:%d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return ada_fail(err, ADA_EINVAL, "%s: the config must be a JSON object", path);
	}
	json_object_foreach(root, key, val) {
		size_t i;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (!strcmp(key, known[i]))
				break;
		if (i == sizeof(known) / sizeof(known[0])) {
			rc = ada_fail_param(err, ADA_EINVAL, key, "%s: unknown field '%s'", path, key);
			goto out_free;
		}
	}
	copy = strdup(path);
	if (!copy) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	base = dirname(copy);
	rc = get_path(root, "model", 1, base, &jc->model, err);
	if (!rc)
		rc = get_path(root, "tokenizer", 0, base, &jc->tokenizer, err);
	if (!rc)
		rc = get_path(root, "train_file", 1, base, &jc->train_file, err);
	if (!rc)
		rc = get_path(root, "valid_file", 0, base, &jc->valid_file, err);
	free(copy);
	if (rc)
		goto out_free;
	val = json_object_get(root, "model_name");
	if (val && !json_is_null(val)) {
		if (!json_is_string(val) || !json_string_length(val)) {
			rc = ada_fail_param(err, ADA_EINVAL, "model_name",
					    "model_name must be a non-empty string");
			goto out_free;
		}
		if (!(jc->model_name = strdup(json_string_value(val)))) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
	}
	val = json_object_get(root, "task");
	if (val) {
		int t = json_is_string(val) ? ada_task_from_name(json_string_value(val)) : -1;
		if (t < 0) {
			rc = ada_fail_param(err, ADA_EINVAL, "task",
					    "task must be \"auto\", \"causal_lm\", \"classification\", \"question_answering\" or \"seq2seq\"");
			goto out_free;
		}
		jc->task = (enum ada_task)t;
	}
	val = json_object_get(root, "data_format");
	if (val) {
		int f = json_is_string(val) ? ada_file_format_from_name(json_string_value(val)) : -1;
		if (f < 0) {
			rc = ada_fail_param(err, ADA_EINVAL, "data_format",
					    "data_format must be \"auto\", \"jsonl\" or \"glue-tsv\"");
			goto out_free;
		}
		jc->data_format = (enum ada_file_format)f;
	}
	val = json_object_get(root, "seed");
	if (val && (!json_is_integer(val) || json_integer_value(val) < 0)) {
		rc = ada_fail_param(err, ADA_EINVAL, "seed", "seed must be a non-negative integer");
		goto out_free;
	}
	jc->seed = val ? (uint64_t)json_integer_value(val) : 42;
	val = json_object_get(root, "method");
	if (!val) {
		rc = ada_fail_param(err, ADA_EINVAL, "method", "method is required");
		goto out_free;
	}
	rc = ada_method_from_json(val, &jc->method, err);
out_free:
	json_decref(root);
	if (rc)
		job_config_release(jc);
	return rc;
}

void job_config_release(struct job_config *jc)
{
	free(jc->model);
	free(jc->tokenizer);
	free(jc->train_file);
	free(jc->valid_file);
	free(jc->model_name);
	memset(jc, 0, sizeof(*jc));
}
