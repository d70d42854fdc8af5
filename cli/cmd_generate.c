/*
 * cmd_generate — `adalora generate --model PATH [--tokenizer PATH]
 * [--adapter DIR] [--prompt TEXT | --messages JSON] [-n TOKENS] [--temperature T]
 * [--top-p P] [--seed S] [generation flags]`: text on stdout as it is produced (docs/cli.md).
 * --messages takes a chat ([{"role", "content"}, ...]) rendered with the
 * model's chat template and its generation prompt, and prints the reply.
 *
 * An encoder-decoder (BART) takes the prompt as its source and decodes the
 * target by greedy search or beam search (gen_flags.h: --num-beams, ...,
 * over the model's config.json / generation_config.json; -n: new tokens at
 * most, max_new_tokens, else the settings' max_length); its --temperature
 * defaults to 0, and sampling is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "gen_flags.h"
#include "commands.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora generate --model PATH [--tokenizer PATH] [--adapter DIR] [--prompt TEXT]\n"
	"                        [--messages JSON] [-n TOKENS] [--temperature T] [--top-p P]\n"
	"                        [--seed S]\n"
	GEN_FLAGS_USAGE;

static void emit(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	fwrite(s, 1, n, stdout);
	fflush(stdout);
}

int cmd_generate(int argc, char **argv)
{
	struct ada_generate_opts o = { .n_tokens = 0, .temperature = -1, .top_p = 0.9 };
	struct ada_model_info info;
	struct gen_flags g;
	const char *pos[1];
	char *generation = NULL;
	int64_t seed = 42;
	int n_pos, rc, bart;
	struct cli_opt opts[9 + GEN_FLAGS_N] = {
		{ "--model", NULL, OPT_STRING, &o.in.model, 0 },
		{ "--tokenizer", NULL, OPT_STRING, &o.in.tokenizer, 0 },
		{ "--adapter", NULL, OPT_STRING, &o.in.adapter, 0 },
		{ "--prompt", NULL, OPT_STRING, &o.prompt, 0 },
		{ "--messages", NULL, OPT_STRING, &o.messages, 0 },
		{ "--steps", "-n", OPT_INT, &o.n_tokens, 0 },
		{ "--temperature", NULL, OPT_DOUBLE, &o.temperature, 0 },
		{ "--top-p", NULL, OPT_DOUBLE, &o.top_p, 0 },
		{ "--seed", NULL, OPT_INT64, &seed, 0 },
	};
	struct ada_err err = { 0 };

	gen_flags_init(&g);
	memcpy(opts + 9, g.opts, sizeof(g.opts));
	if ((rc = cli_parse("generate", usage, argc, argv, opts, 9 + GEN_FLAGS_N, pos, 0, &n_pos)))
		return cli_exit_code(rc);
	if (!o.in.model)
		return cli_fail("generate", EXIT_USAGE, "--model is required\n%s", usage);
	if (o.prompt && o.messages)
		return cli_fail("generate", EXIT_USAGE, "give --prompt or --messages, not both");
	bart = !ada_model_probe(o.in.model, &info, &err) && info.family == ADA_FAMILY_BART;
	if (o.temperature == -1)   /* not given: greedy for an encoder-decoder, else 1 */
		o.temperature = bart ? 0 : 1.0;
	if (!opts[5].seen && !bart)
		o.n_tokens = 256;
	if ((opts[5].seen && o.n_tokens < 1) || o.temperature < 0 || o.top_p < 0 || o.top_p > 1 ||
	    seed < 0)
		return cli_fail("generate", EXIT_USAGE,
				"-n must be >= 1, --temperature >= 0, --top-p in [0, 1], --seed >= 0");
	if ((rc = gen_flags_json(&g, opts, 9 + GEN_FLAGS_N, "generate", &generation)))
		return rc;
	if (generation && !bart) {
		free(generation);
		return cli_fail("generate", EXIT_USAGE,
				"--num-beams, --length-penalty, --no-repeat-ngram-size, --min-length, --max-length and --early-stopping are for an encoder-decoder (BART)");
	}
	o.generation = generation;
	o.seed = (uint64_t)seed;
	rc = ada_generate(&o, emit, NULL, &err);
	free(generation);
	if (rc)
		return cli_fail("generate", rc == ADA_EINVAL ? EXIT_USAGE : EXIT_RUNTIME, "%s", err.msg);
	return 0;
}
