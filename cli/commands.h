/*
 * commands — the `adalora` subcommands, one file each, dispatched by main.c.
 *
 * Each takes main's argc/argv shifted so that argv[0] is the subcommand's
 * name, and returns the process exit status: 0 success, 1 runtime error,
 * 2 usage error (docs/cli.md), having printed one line on stderr on failure.
 */
#ifndef ADA_CLI_COMMANDS_H
#define ADA_CLI_COMMANDS_H

/* adalora train: run a fine-tuning job in the foreground. */
int cmd_train(int argc, char **argv);
/* adalora generate: text from a model (and adapter). */
int cmd_generate(int argc, char **argv);
/* adalora eval: held-out loss / perplexity as JSON. */
int cmd_eval(int argc, char **argv);
/* adalora render: a data file as training tokenizes it, one JSON line per record. */
int cmd_render(int argc, char **argv);
/* adalora schedule: print the AdaLoRA budget curve as JSON. */
int cmd_schedule(int argc, char **argv);
/* adalora bench: time training steps, one JSON line. */
int cmd_bench(int argc, char **argv);
/* adalora export --merge: an adapter folded into its base model. */
int cmd_export(int argc, char **argv);
/* adalora create-model: a random model with a byte-level tokenizer. */
int cmd_create_model(int argc, char **argv);
/* adalora quantize: a GGUF model with its matrices in another type. */
int cmd_quantize(int argc, char **argv);
/* adalora rouge: ROUGE-1/2/L/Lsum of predictions against references, as JSON. */
int cmd_rouge(int argc, char **argv);

#endif
