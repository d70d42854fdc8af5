/*
 * cmd_render — `adalora render --model M [--tokenizer PATH] --data FILE
 * [--limit N] [--chat-template NAME] [--append-eos auto|true|false]`.
 *
 * What training makes of each record of a data file, one JSON object per
 * line on stdout: {"line", "text" (the rendered string, special tokens
 * written out), "tokens": [ids], "mask": [1 where the token is a loss
 * target], "framing": [indices of targets that are framing tokens]} and,
 * for chat data, "chat_template" (the family used). So anyone can check a
 * rendering against the model's template.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora render --model PATH [--tokenizer PATH] --data FILE [--limit N]\n"
	"                      [--chat-template NAME] [--append-eos auto|true|false]\n";

static void print_line(void *ctx, const json_t *obj)
{
	(void)ctx;
	json_dumpf(obj, stdout, JSON_COMPACT);
	fputc('\n', stdout);
}

int cmd_render(int argc, char **argv)
{
	const char *model = NULL, *tokenizer = NULL, *data = NULL, *chat = NULL, *eos = "auto";
	const char *pos[1];
	struct ada_framing framing = { .append_eos = -1 };
	struct ada_err err = { 0 };
	int limit = 0, n_pos, rc;
	struct cli_opt opts[] = {
		{ "--model", NULL, OPT_STRING, &model, 0 },
		{ "--tokenizer", NULL, OPT_STRING, &tokenizer, 0 },
		{ "--data", NULL, OPT_STRING, &data, 0 },
		{ "--limit", NULL, OPT_INT, &limit, 0 },
		{ "--chat-template", NULL, OPT_STRING, &chat, 0 },
		{ "--append-eos", NULL, OPT_STRING, &eos, 0 },
	};

	if ((rc = cli_parse("render", usage, argc, argv, opts, 6, pos, 0, &n_pos)))
		return cli_exit_code(rc);
	if (!model || !data)
		return cli_fail("render", EXIT_USAGE, "--model and --data are required\n%s", usage);
	if (limit < 0)
		return cli_fail("render", EXIT_USAGE, "--limit must be >= 0 (0: every record)");
	if (strcmp(eos, "auto") && strcmp(eos, "true") && strcmp(eos, "false"))
		return cli_fail("render", EXIT_USAGE, "--append-eos must be auto, true or false");
	framing.append_eos = !strcmp(eos, "auto") ? -1 : !strcmp(eos, "true");
	framing.chat_template = chat;
	rc = ada_render(model, tokenizer, data, limit, &framing, print_line, NULL, &err);
	fflush(stdout);
	if (rc)
		return cli_fail("render", rc == ADA_EINVAL && err.param[0] ? EXIT_USAGE : EXIT_RUNTIME,
				"%s", err.msg);
	return 0;
}
