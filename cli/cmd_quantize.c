/*
 * cmd_quantize — `adalora quantize IN.gguf OUT.gguf --type T`: the model
 * with every matrix stored as T (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) by our quantizer; a matrix whose rows
 * are not whole blocks of T takes llama.cpp's fallback type, and the line
 * printed says which types the file now holds.
 */
#include <stdio.h>

#include "args.h"
#include "commands.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora quantize IN.gguf OUT.gguf --type F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|Q2_K|Q3_K|Q4_K|Q5_K|Q6_K\n";

int cmd_quantize(int argc, char **argv)
{
	const char *type = NULL, *pos[2];
	struct cli_opt opts[] = {
		{ "--type", NULL, OPT_STRING, &type, 0 },
	};
	struct ada_model_info info;
	struct ada_err err = { 0 };
	int n_pos, rc;

	if ((rc = cli_parse("quantize", usage, argc, argv, opts, 1, pos, 2, &n_pos)))
		return cli_exit_code(rc);
	if (n_pos != 2 || !type)
		return cli_fail("quantize", EXIT_USAGE, "IN, OUT and --type are required\n%s", usage);
	rc = ada_quantize(pos[0], pos[1], type, &err);
	if (rc)
		return cli_fail("quantize", rc == ADA_EINVAL && err.param[0] ? EXIT_USAGE : EXIT_RUNTIME,
				"%s", err.msg);
	if (ada_model_probe(pos[1], &info, &err))
		return cli_fail("quantize", EXIT_RUNTIME, "%s", err.msg);
	fprintf(stderr, "wrote %s: matrices %s, %.1f MB\n", pos[1], info.dtype,
		(double)info.weight_bytes / 1e6);
	return 0;
}
