/* gen_flags — the encoder-decoder's generation flags as HF keys; see gen_flags.h. */
#include "gen_flags.h"

#include <string.h>

#include <jansson.h>

void gen_flags_init(struct gen_flags *g)
{
	const struct cli_opt opts[GEN_FLAGS_N] = {
		{ "--num-beams", NULL, OPT_INT, &g->num_beams, 0 },
		{ "--length-penalty", NULL, OPT_DOUBLE, &g->length_penalty, 0 },
		{ "--no-repeat-ngram-size", NULL, OPT_INT, &g->no_repeat_ngram_size, 0 },
		{ "--min-length", NULL, OPT_INT, &g->min_length, 0 },
		{ "--max-length", NULL, OPT_INT, &g->max_length, 0 },
		{ "--early-stopping", NULL, OPT_STRING, &g->early_stopping, 0 },
	};

	memcpy(g->opts, opts, sizeof(opts));
}

/* The entry of table that is flag name (NULL: absent). */
static const struct cli_opt *given(const struct cli_opt *table, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(table[i].name, name))
			return table[i].seen ? &table[i] : NULL;
	return NULL;
}

int gen_flags_json(struct gen_flags *g, const struct cli_opt *table, int n_table,
		   const char *cmd, char **json)
{
	json_t *j = json_object();
	int rc = 0;

	*json = NULL;
	if (!j)
		return cli_fail(cmd, EXIT_RUNTIME, "out of memory");
	if (given(table, n_table, "--num-beams")) {
		if (g->num_beams < 1)
			rc = cli_fail(cmd, EXIT_USAGE, "--num-beams must be >= 1 (1: greedy)");
		json_object_set_new(j, "num_beams", json_integer(g->num_beams));
	}
	if (given(table, n_table, "--length-penalty"))
		json_object_set_new(j, "length_penalty", json_real(g->length_penalty));
	if (given(table, n_table, "--no-repeat-ngram-size")) {
		if (g->no_repeat_ngram_size < 0)
			rc = cli_fail(cmd, EXIT_USAGE, "--no-repeat-ngram-size must be >= 0 (0: off)");
		json_object_set_new(j, "no_repeat_ngram_size", json_integer(g->no_repeat_ngram_size));
	}
	if (given(table, n_table, "--min-length")) {
		if (g->min_length < 0)
			rc = cli_fail(cmd, EXIT_USAGE, "--min-length must be >= 0");
		json_object_set_new(j, "min_length", json_integer(g->min_length));
	}
	if (given(table, n_table, "--max-length")) {
		if (g->max_length < 2)
			rc = cli_fail(cmd, EXIT_USAGE,
				      "--max-length must be >= 2 (it counts the decoder start token)");
		json_object_set_new(j, "max_length", json_integer(g->max_length));
	}
	if (given(table, n_table, "--early-stopping")) {
		const char *s = g->early_stopping;

		if (!strcmp(s, "true") || !strcmp(s, "false"))
			json_object_set_new(j, "early_stopping", json_boolean(!strcmp(s, "true")));
		else if (!strcmp(s, "never"))
			json_object_set_new(j, "early_stopping", json_string("never"));
		else
			rc = cli_fail(cmd, EXIT_USAGE, "--early-stopping must be true, false or never");
	}
	if (!rc && json_object_size(j) && !(*json = json_dumps(j, JSON_COMPACT)))
		rc = cli_fail(cmd, EXIT_RUNTIME, "out of memory");
	json_decref(j);
	return rc;
}
