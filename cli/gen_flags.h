/*
 * gen_flags — the generation flags `adalora generate` and `adalora eval`
 * share for an encoder-decoder (BART): --num-beams, --length-penalty,
 * --no-repeat-ngram-size, --min-length, --max-length and --early-stopping,
 * turned into the JSON object of Hugging Face generation keys that lib
 * reads over the model's own (struct ada_generate_opts, ada_s2s_eval_opts:
 * "generation"). Only the flags given become keys, so the model's
 * config.json / generation_config.json decides the rest.
 */
#ifndef ADA_CLI_GEN_FLAGS_H
#define ADA_CLI_GEN_FLAGS_H

#include "args.h"

#define GEN_FLAGS_N 6

struct gen_flags {
	int num_beams, no_repeat_ngram_size, min_length, max_length;
	double length_penalty;
	const char *early_stopping;
	struct cli_opt opts[GEN_FLAGS_N];
};

#define GEN_FLAGS_USAGE \
	"  generation (BART): [--num-beams N] [--length-penalty X] [--no-repeat-ngram-size N]\n" \
	"                    [--min-length N] [--max-length N] [--early-stopping true|false|never]\n"

/* Fill g->opts with the six options, pointing into g. */
void gen_flags_init(struct gen_flags *g);

/* After cli_parse over a table holding copies of g->opts (copied back into
 * them: pass the table and its length): the JSON text of the flags given
 * (malloc'ed; NULL when none) in *json. EXIT_USAGE (the message printed,
 * naming cmd) for a value out of range, else 0. */
int gen_flags_json(struct gen_flags *g, const struct cli_opt *table, int n_table,
		   const char *cmd, char **json);

#endif
