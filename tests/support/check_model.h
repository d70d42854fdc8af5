/*
 * check_model — CHECKing helpers for the tests of model files: load one
 * that must load, one that must fail (and whose probe must fail the same
 * way when the error names a parameter: a model that probes fine also
 * loads), damage a config.json, and see a config refused by name.
 *
 * Header-only, like check.h, because they CHECK: the counters are the
 * including program's.
 */
#ifndef ADA_TESTS_CHECK_MODEL_H
#define ADA_TESTS_CHECK_MODEL_H

#include "check.h"

#include "adalora.h"
#include "model/model.h"
#include "scratch.h"
#include "util/err.h"
#include "util/fileio.h"

/* model_load(path) succeeds; the model (caller frees), or NULL. */
static inline struct model *check_model_load(const char *path)
{
	struct model *m = NULL;
	struct ada_err err;

	CHECK_OK(model_load(path, NULL, &m, &err), &err);
	return m;
}

/* model_load(path) fails with code, the message naming want1 and want2
 * (either may be NULL); a configuration error (err.param set) stops
 * ada_model_probe with the same code and param. */
static inline void check_model_error(const char *path, int code, const char *want1,
				     const char *want2)
{
	struct model *m = NULL;
	struct ada_model_info info;
	struct ada_err err, perr;
	int rc = model_load(path, NULL, &m, &err);

	CHECK_MSG(rc == code, "%s: rc %d, want %d: %s", path, rc, code, rc ? err.msg : "");
	CHECK(m == NULL);
	model_free(m);
	if (!rc)
		return;
	CHECK_MSG(!want1 || strstr(err.msg, want1), "want '%s' in: %s", want1, err.msg);
	CHECK_MSG(!want2 || strstr(err.msg, want2), "want '%s' in: %s", want2, err.msg);
	if (err.param[0]) {
		CHECK_INT_EQ(ada_model_probe(path, &info, &perr), code);
		CHECK_STR_EQ(perr.param, err.param);
	}
}

/* Rewrite one key of dir/config.json (value stolen; NULL: delete it). */
static inline void check_config_set(const char *dir, const char *key, json_t *value)
{
	char *path = path_join(dir, "config.json");
	struct ada_err err = { 0 };

	CHECK_OK(json_file_set(path, key, value, &err), &err);
	free(path);
}

/* model_config_check refuses cfg with field = value, naming want as the
 * parameter and the file ("cfg.json") in its message. */
#define CHECK_CONFIG_REFUSED(cfg, field, value, want) do { \
	struct model_config _bad = (cfg); \
	struct ada_err _why; \
	_bad.field = (value); \
	CHECK_INT_EQ(model_config_check(&_bad, "cfg.json", &_why), ADA_EFORMAT); \
	CHECK_STR_EQ(_why.param, want); \
	CHECK(strstr(_why.msg, "cfg.json") != NULL); \
} while (0)

#endif
