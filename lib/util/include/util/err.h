/*
 * err — how lib/ reports failure.
 *
 * Every fallible function returns an int result code (ADA_OK == 0, the codes
 * are in adalora.h) and, on failure, fills a caller-owned struct ada_err with
 * one line saying what went wrong and, for configuration errors, the dotted
 * name of the offending field ("method.adalora.hyperparameters.target_r").
 * Callers pass the struct down; the function that detects the problem writes
 * the message, and callers above may prefix context ("model.gguf: ").
 * A NULL struct ada_err is allowed everywhere and means "don't care".
 */
#ifndef ADA_UTIL_ERR_H
#define ADA_UTIL_ERR_H

#include "adalora.h"

#define ADA_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Fill err with code and message; returns code so callers can `return ada_fail(...)`. */
int ada_fail(struct ada_err *err, int code, const char *fmt, ...) ADA_PRINTF(3, 4);

/* Same, naming the offending configuration field. */
int ada_fail_param(struct ada_err *err, int code, const char *param,
                   const char *fmt, ...) ADA_PRINTF(4, 5);

/* Prepend "context: " to the message already in err (err may be NULL);
 * returns rc, the code of the failure being explained, so callers can
 * write return ada_err_prefix(err, rc, ...). */
int ada_err_prefix(struct ada_err *err, int rc, const char *fmt, ...) ADA_PRINTF(3, 4);

void ada_err_clear(struct ada_err *err);

#endif
