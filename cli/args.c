/* args — table-driven option parsing for the CLI; see args.h. */
#include "args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "adalora %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int usage_fail(const char *cmd, const char *usage, const char *fmt, const char *arg)
{
	fprintf(stderr, "adalora %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	if (usage)
		fputs(usage, stderr);
	return EXIT_USAGE;
}

static int set_value(struct cli_opt *o, const char *v)
{
	char *end;

	errno = 0;
	switch (o->kind) {
	case OPT_STRING:
		*(const char **)o->dst = v;
		return 0;
	case OPT_INT: {
		long x = strtol(v, &end, 10);
		if (!*v || *end || errno || x < -2147483647L || x > 2147483647L)
			return -1;
		*(int *)o->dst = (int)x;
		return 0;
	}
	case OPT_INT64: {
		long long x = strtoll(v, &end, 10);
		if (!*v || *end || errno)
			return -1;
		*(int64_t *)o->dst = x;
		return 0;
	}
	case OPT_DOUBLE: {
		double x = strtod(v, &end);
		if (!*v || *end || errno)
			return -1;
		*(double *)o->dst = x;
		return 0;
	}
	case OPT_FLAG:
		*(int *)o->dst = 1;
		return 0;
	}
	return -1;
}

int cli_parse(const char *cmd, const char *usage, int argc, char **argv, struct cli_opt *opts,
	      int n_opts, const char **pos, int max_pos, int *n_pos)
{
	*n_pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		struct cli_opt *o = NULL;
		size_t nlen;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage ? usage : "", stdout);
			return CLI_HELP;
		}
		if (a[0] != '-' || !a[1]) {
			if (*n_pos >= max_pos)
				return usage_fail(cmd, usage, "unexpected argument '%s'", a);
			pos[(*n_pos)++] = a;
			continue;
		}
		nlen = strcspn(a, "=");
		for (int k = 0; k < n_opts; k++) {
			if ((strlen(opts[k].name) == nlen && !strncmp(a, opts[k].name, nlen)) ||
			    (opts[k].short_name && !strcmp(a, opts[k].short_name))) {
				o = &opts[k];
				break;
			}
		}
		if (!o)
			return usage_fail(cmd, usage, "unknown option '%s'", a);
		if (o->seen)
			return usage_fail(cmd, usage, "option '%s' given twice", o->name);
		o->seen = 1;
		if (o->kind == OPT_FLAG) {
			if (a[nlen] == '=')
				return usage_fail(cmd, usage, "option '%s' takes no value", o->name);
			set_value(o, "");
			continue;
		}
		if (a[nlen] == '=')
			val = a + nlen + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return usage_fail(cmd, usage, "option '%s' needs a value", o->name);
		if (set_value(o, val))
			return usage_fail(cmd, usage, "bad value for %s", o->name);
	}
	return 0;
}
