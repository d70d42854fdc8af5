/*
 * job_config — the CONFIG.json of `adalora train` (docs/cli.md):
 *   {"model", "tokenizer"?, "train_file", "valid_file"?, "task"?,
 *    "data_format"?, "seed", "method": {... the API's method object ...},
 *    "model_name"?}
 * model_name: what the outputs call the model (the adapter's
 * base_model_name_or_path; default: the model's path) — adalorad names it by
 * its id in the jobs it launches.
 * task: "auto" (the default: told by the model and the data), "causal_lm"
 * or "classification"; data_format: "auto", "jsonl" or "glue-tsv".
 * Relative paths are taken relative to the config file's directory, so a
 * config and its data can move together.
 */
#ifndef ADA_CLI_JOB_CONFIG_H
#define ADA_CLI_JOB_CONFIG_H

#include "adalora.h"

struct job_config {
	char *model, *tokenizer, *train_file, *valid_file;   /* owned */
	char *model_name;                                    /* owned; NULL = the path */
	uint64_t seed;
	enum ada_task task;
	enum ada_file_format data_format;
	struct ada_method method;
};

/* Load and validate; errors name the field (err->param). */
int job_config_load(const char *path, struct job_config *jc, struct ada_err *err);
void job_config_release(struct job_config *jc);

#endif
