/*
 * job_config — the CONFIG.json of `adalora train` (docs/cli.md):
 *   {"model", "tokenizer"?, "train_file", "valid_file"?, "task"?, "seed",
 *    "method": {... the API's method object ...}}
 * Relative paths are taken relative to the config file's directory, so a
 * config and its data can move together.
 */
#ifndef ADA_CLI_JOB_CONFIG_H
#define ADA_CLI_JOB_CONFIG_H

#include "adalora.h"

struct job_config {
	char *model, *tokenizer, *train_file, *valid_file;   /* owned */
	uint64_t seed;
	struct ada_method method;
};

/* Load and validate; errors name the field (err->param). */
int job_config_load(const char *path, struct job_config *jc, struct ada_err *err);
void job_config_release(struct job_config *jc);

#endif
