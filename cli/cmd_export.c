/*
 * cmd_export — `adalora export --model PATH [--tokenizer PATH] --adapter DIR
 * --merge --out PATH [--format gguf|hf] [--dtype F32|F16|BF16]`: the base
 * model with the adapter folded in, as one GGUF file or a Hugging Face
 * directory, its matrices in dtype (default F32, or F16 for a quantized
 * base: a merged model is never re-quantized).
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora export --model PATH [--tokenizer PATH] --adapter DIR --merge\n"
	"                      --out FILE.gguf|DIR [--format gguf|hf] [--dtype F32|F16|BF16]\n";

int cmd_export(int argc, char **argv)
{
	struct ada_infer_opts in = { 0 };
	const char *out = NULL, *format = NULL, *dtype = NULL, *pos[1];
	int merge = 0, n_pos, rc;
	struct cli_opt opts[] = {
		{ "--model", NULL, OPT_STRING, &in.model, 0 },
		{ "--tokenizer", NULL, OPT_STRING, &in.tokenizer, 0 },
		{ "--adapter", NULL, OPT_STRING, &in.adapter, 0 },
		{ "--merge", NULL, OPT_FLAG, &merge, 0 },
		{ "--out", NULL, OPT_STRING, &out, 0 },
		{ "--format", NULL, OPT_STRING, &format, 0 },
		{ "--dtype", NULL, OPT_STRING, &dtype, 0 },
	};
	struct ada_err err = { 0 };

	if ((rc = cli_parse("export", usage, argc, argv, opts, 7, pos, 0, &n_pos)))
		return cli_exit_code(rc);
	if (!in.model || !in.adapter || !out)
		return cli_fail("export", EXIT_USAGE, "--model, --adapter and --out are required\n%s",
				usage);
	if (!merge)
		return cli_fail("export", EXIT_USAGE,
				"only --merge is supported (the adapter itself is already in PEFT form)");
	if (!format) {
		size_t n = strlen(out);
		format = n > 5 && !strcmp(out + n - 5, ".gguf") ? "gguf" : "hf";
	}
	rc = ada_export_merged_dtype(&in, out, format, dtype, &err);
	if (rc)
		return cli_fail("export", rc == ADA_EINVAL && err.param[0] ? EXIT_USAGE : EXIT_RUNTIME,
				"%s", err.msg);
	fprintf(stderr, "wrote %s (%s)\n", out, format);
	return 0;
}
