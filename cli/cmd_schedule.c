/*
 * cmd_schedule — `adalora schedule`: the budget curve of a set of AdaLoRA
 * hyperparameters, without training anything (docs/cli.md).
 *
 * It prints what ada_schedule_json() / ada_schedule_at_json() give, the
 * functions behind the trainer's schedule and the API's POST
 * /v1/adalora/schedule, so what it prints is what a job will do. Output is one JSON line on stdout: the thinned curve and the mask
 * steps, or with --at the budget at exactly the steps asked for. Every flag
 * is required except --at; an invalid schedule is a usage error (exit 2)
 * whose message names the flag.
 */
#include "commands.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adalora.h"
#include "util/alloc.h"
#include "util/err.h"

/* Same thinning as the API's schedule endpoint. */
#define MAX_POINTS 1000
/* Beyond this the mask steps are thinned too; n_mask_steps stays exact. */
#define MAX_MASK_STEPS 100000

#define EXIT_USAGE 2

static const struct schedule_flag {
	const char *flag;
	const char *field;      /* the API's name, as ada_schedule_check() reports it */
	size_t offset;
} schedule_flags[] = {
	{ "--total-steps", "total_steps", offsetof(struct ada_schedule, total_steps) },
	{ "--tinit", "tinit", offsetof(struct ada_schedule, tinit) },
	{ "--tfinal", "tfinal", offsetof(struct ada_schedule, tfinal) },
	{ "--delta-t", "deltaT", offsetof(struct ada_schedule, deltaT) },
	{ "--init-r", "init_r", offsetof(struct ada_schedule, init_r) },
	{ "--target-r", "target_r", offsetof(struct ada_schedule, target_r) },
	{ "--n-matrices", "n_matrices", offsetof(struct ada_schedule, n_matrices) },
};
#define N_SCHEDULE_FLAGS (sizeof(schedule_flags) / sizeof(schedule_flags[0]))

static const char usage[] =
	"usage: adalora schedule --total-steps T --tinit TI --tfinal TF --delta-t D\n"
	"                        --init-r R0 --target-r RT --n-matrices N [--at t1,t2,...]\n";

static int usage_error(const char *fmt, ...) ADA_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("adalora schedule: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* A whole decimal integer: no blanks, no trailing characters, in range. */
static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* "t1,t2,..." into a malloc'ed array (owned by the caller). */
static int parse_steps(const char *list, int64_t **steps, size_t *n)
{
	size_t cap = 1;
	int64_t *v;
	char *copy, *tok, *save = NULL;

	for (const char *p = list; *p; p++)
		cap += *p == ',';
	v = xcalloc(cap, sizeof(*v));
	copy = xstrdup(list);
	if (!v || !copy) {
		free(v);
		free(copy);
		fputs("adalora schedule: out of memory\n", stderr);
		return 1;
	}
	*n = 0;
	/* strtok_r would skip empty items; a list like "1,,2" is a mistake. */
	for (tok = copy; tok; tok = save) {
		save = strchr(tok, ',');
		if (save)
			*save++ = '\0';
		if (parse_i64(tok, &v[*n]) || v[*n] < 0) {
			int rc = usage_error("--at: '%s' is not a step (an integer >= 0)", tok);
			free(v);
			free(copy);
			return rc;
		}
		(*n)++;
	}
	free(copy);
	*steps = v;
	return 0;
}

static const struct schedule_flag *find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < N_SCHEDULE_FLAGS; i++)
		if (strlen(schedule_flags[i].flag) == len &&
		    !strncmp(schedule_flags[i].flag, name, len))
			return &schedule_flags[i];
	return NULL;
}

static const char *flag_of_field(const char *field)
{
	for (size_t i = 0; i < N_SCHEDULE_FLAGS; i++)
		if (!strcmp(schedule_flags[i].field, field))
			return schedule_flags[i].flag;
	return "adalora schedule";
}

static int print_json(json_t *o)
{
	int rc = 0;

	if (json_dumpf(o, stdout, JSON_COMPACT) || fputc('\n', stdout) == EOF ||
	    fflush(stdout)) {
		perror("adalora schedule: writing stdout");
		rc = 1;
	}
	json_decref(o);
	return rc;
}

int cmd_schedule(int argc, char **argv)
{
	struct ada_schedule s = { 0 };
	bool given[N_SCHEDULE_FLAGS] = { false };
	const char *at = NULL;
	int64_t *steps = NULL;
	size_t n_steps = 0;
	struct ada_err err;
	json_t *o;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '='), *value;
		size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		const struct schedule_flag *f;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			fputs(usage, stdout);
			return 0;
		}
		if (strncmp(arg, "--", 2))
			return usage_error("unexpected argument '%s'", arg);
		f = find_flag(arg, name_len);
		if (!f && !(name_len == 4 && !strncmp(arg, "--at", 4)))
			return usage_error("unknown option '%.*s'", (int)name_len, arg);
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			return usage_error("%s needs a value", arg);
		}
		if (!f) {
			if (at)
				return usage_error("--at given twice");
			at = value;
			continue;
		}
		if (given[f - schedule_flags])
			return usage_error("%s given twice", f->flag);
		if (parse_i64(value, (int64_t *)((char *)&s + f->offset)))
			return usage_error("%s: '%s' is not an integer", f->flag, value);
		given[f - schedule_flags] = true;
	}
	for (size_t i = 0; i < N_SCHEDULE_FLAGS; i++)
		if (!given[i])
			return usage_error("missing %s (see --help)", schedule_flags[i].flag);
	if (ada_schedule_check(&s, NULL, &err))
		return usage_error("%s: %s", flag_of_field(err.param), err.msg);

	if (at) {
		rc = parse_steps(at, &steps, &n_steps);
		if (rc)
			return rc;
		rc = ada_schedule_at_json(&s, steps, n_steps, &o, &err);
		free(steps);
	} else {
		rc = ada_schedule_json(&s, MAX_POINTS, MAX_MASK_STEPS, &o, &err);
	}
	if (rc) {
		fprintf(stderr, "adalora schedule: %s\n", err.msg);
		return 1;
	}
	return print_json(o);
}
