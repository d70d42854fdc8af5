/*
 * cmd_create_model — `adalora create-model --out FILE.gguf [--shape NAME]
 * [--seed S] [--dtype T] [--chat-template chatml]`: a random Llama-family
 * model with a byte-level tokenizer, for demos, tests and benchmarks that
 * must not depend on downloaded models; its matrices in any type we read
 * (F32 by default, or F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K,
 * quantized by our quantizer) or llama.cpp's Q4_K_M / Q5_K_M mixtures. The
 * real shapes have their model's vocabulary size, architecture and output;
 * the file is generated while it is written (a few MiB of memory).
 */
#include <stdio.h>

#include "args.h"
#include "commands.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora create-model --out FILE.gguf [--seed S]\n"
	"           [--shape tiny|stories260K|stories15M|stories42M|stories110M|\n"
	"                    smollm-135m|qwen2.5-0.5b|tinyllama-1.1b|llama-2-7b]\n"
	"           [--dtype F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|Q2_K|Q3_K|Q4_K|Q5_K|Q6_K|Q4_K_M|Q5_K_M]\n"
	"           [--chat-template chatml]\n";

int cmd_create_model(int argc, char **argv)
{
	const char *out = NULL, *pos[1];
	struct ada_create_opts o = { .shape = "tiny", .dtype = "F32" };
	int64_t seed = 0;
	int n_pos, rc;
	struct cli_opt opts[] = {
		{ "--out", NULL, OPT_STRING, &out, 0 },
		{ "--shape", NULL, OPT_STRING, &o.shape, 0 },
		{ "--seed", NULL, OPT_INT64, &seed, 0 },
		{ "--dtype", NULL, OPT_STRING, &o.dtype, 0 },
		{ "--chat-template", NULL, OPT_STRING, &o.chat_template, 0 },
	};
	struct ada_err err = { 0 };

	if ((rc = cli_parse("create-model", usage, argc, argv, opts, 5, pos, 0, &n_pos)))
		return cli_exit_code(rc);
	if (!out || seed < 0)
		return cli_fail("create-model", EXIT_USAGE, "--out is required\n%s", usage);
	o.seed = (uint64_t)seed;
	rc = ada_create_model_opts(&o, out, &err);
	if (rc)
		return cli_fail("create-model", rc == ADA_EINVAL ? EXIT_USAGE : EXIT_RUNTIME, "%s",
				err.msg);
	return 0;
}
