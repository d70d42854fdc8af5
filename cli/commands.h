/*
 * commands — the `adalora` subcommands, one file each, dispatched by main.c.
 *
 * Each takes main's argc/argv shifted so that argv[0] is the subcommand's
 * name, and returns the process exit status: 0 success, 1 runtime error,
 * 2 usage error (docs/cli.md), having printed one line on stderr on failure.
 */
#ifndef ADA_CLI_COMMANDS_H
#define ADA_CLI_COMMANDS_H

/* adalora schedule: print the AdaLoRA budget curve as JSON. */
int cmd_schedule(int argc, char **argv);

#endif
