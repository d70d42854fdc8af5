/*
 * scratch — small file chores the tests share: paths in a scratch
 * directory, comparing two outputs byte for byte, rewriting one key of a
 * JSON file (a config.json to damage).
 *
 * Like all of tests/support, these report through return values and never
 * CHECK (check.h's counters belong to each test program).
 */
#ifndef ADA_TESTS_SCRATCH_H
#define ADA_TESTS_SCRATCH_H

#include <jansson.h>

#include "util/err.h"

/* dir/<formatted name>, in one of 16 rotating static buffers (so a few may
 * be alive at once, e.g. as the arguments of one call). */
const char *scratch_path(const char *dir, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* 1 when both files exist and hold the same bytes, else 0. */
int files_same(const char *a, const char *b);

/* Rewrite path's JSON object with key set to value (stolen; NULL deletes
 * the key). ADA_ENOTFOUND / ADA_EFORMAT when the file is missing or not a
 * JSON object (value is released either way). */
int json_file_set(const char *path, const char *key, json_t *value, struct ada_err *err);

#endif
