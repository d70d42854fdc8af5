/*
 * adalora — the trainer without the daemon (docs/cli.md).
 *
 * main() only dispatches: each subcommand lives in cli/cmd_<name>.c and
 * speaks to lib/ through lib/adalora.h.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "adalora.h"
#include "commands.h"
#include "dist.h"

#define ADALORA_VERSION "0.1.0"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "train", cmd_train, "fine-tune a model from a CONFIG.json" },
	{ "generate", cmd_generate, "generate text (optionally with an adapter)" },
	{ "eval", cmd_eval, "held-out loss and perplexity, or a classifier's GLUE metrics, on a data file" },
	{ "render", cmd_render, "what training makes of a data file: text, tokens, loss mask (JSON lines)" },
	{ "schedule", cmd_schedule, "the AdaLoRA budget curve of a set of hyperparameters" },
	{ "bench", cmd_bench, "time training steps (one JSON line)" },
	{ "export", cmd_export, "fold an adapter into its base model (GGUF or Hugging Face)" },
	{ "create-model", cmd_create_model, "write a random model with a byte-level tokenizer" },
	{ "quantize", cmd_quantize, "rewrite a GGUF model with its matrices in another type" },
	{ "rouge", cmd_rouge, "ROUGE-1/2/L/Lsum of predictions against references, as rouge-score" },
};

static int usage(FILE *f)
{
	fprintf(f, "usage: adalora COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'adalora COMMAND --help' for a command's options; docs/cli.md for all.\n");
	return f == stdout ? 0 : EXIT_USAGE;
}

int main(int argc, char **argv)
{
	char kmsg[256];

	/* First, before any thread: may re-execute with a better BLAS kernel. */
	ada_blas_kernel_select(argv, kmsg, sizeof(kmsg));
	if (kmsg[0])
		fprintf(stderr, "adalora: %s\n", kmsg);
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return usage(stdout);
	if (!strcmp(argv[1], "--version")) {
		printf("adalora %s\nmpi: %s\n", ADALORA_VERSION, dist_library());
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "adalora: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
