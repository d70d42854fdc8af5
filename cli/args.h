/*
 * args — the small option parser every `adalora` subcommand shares.
 *
 * Options are declared in a table (long name, optional short name, kind,
 * destination); "--name value", "--name=value" and "-n value" are
 * accepted; anything else is a usage error that names the subcommand and
 * the offending argument. Positional arguments are collected in order.
 */
#ifndef ADA_CLI_ARGS_H
#define ADA_CLI_ARGS_H

#include <stdint.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

enum opt_kind { OPT_STRING, OPT_INT, OPT_INT64, OPT_DOUBLE, OPT_FLAG };

struct cli_opt {
	const char *name;          /* "--model" */
	const char *short_name;    /* "-n" or NULL */
	enum opt_kind kind;
	void *dst;                 /* const char **, int *, int64_t *, double *, int * */
	int seen;                  /* set by the parser */
};

/* Parse argv[1..argc) (argv[0] is the subcommand). Returns 0; or prints a
 * usage line (with `usage` after it) and returns EXIT_USAGE; or, for
 * --help / -h, prints usage on stdout and returns CLI_HELP (exit 0). */
#define CLI_HELP (-1)
static inline int cli_exit_code(int rc)
{
	return rc == CLI_HELP ? 0 : rc;
}

int cli_parse(const char *cmd, const char *usage, int argc, char **argv, struct cli_opt *opts,
	      int n_opts, const char **pos, int max_pos, int *n_pos);

/* Print "adalora CMD: message" on stderr; returns code. */
int cli_fail(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
