/*
 * cmd_eval — `adalora eval --model PATH [--tokenizer PATH] [--adapter DIR]
 * --data FILE [--seq-len N]`: {"tokens","mean_nll","perplexity"} on stdout.
 */
#include <stdio.h>

#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora eval --model PATH [--tokenizer PATH] [--adapter DIR] --data FILE\n"
	"                    [--seq-len N] [--threads N]\n";

int cmd_eval(int argc, char **argv)
{
	struct ada_infer_opts in = { 0 };
	const char *data = NULL, *pos[1];
	int seq_len = 0, threads = 0, n_pos, rc;
	struct cli_opt opts[] = {
		{ "--model", NULL, OPT_STRING, &in.model, 0 },
		{ "--tokenizer", NULL, OPT_STRING, &in.tokenizer, 0 },
		{ "--adapter", NULL, OPT_STRING, &in.adapter, 0 },
		{ "--data", NULL, OPT_STRING, &data, 0 },
		{ "--seq-len", NULL, OPT_INT, &seq_len, 0 },
		{ "--threads", NULL, OPT_INT, &threads, 0 },
	};
	struct ada_eval_result res;
	struct ada_err err = { 0 };
	json_t *j;

	if ((rc = cli_parse("eval", usage, argc, argv, opts, 6, pos, 0, &n_pos)))
		return cli_exit_code(rc);
	if (!in.model || !data)
		return cli_fail("eval", EXIT_USAGE, "--model and --data are required\n%s", usage);
	if (seq_len < 0 || seq_len == 1 || threads < 0)
		return cli_fail("eval", EXIT_USAGE, "--seq-len must be >= 2, --threads >= 1");
	if (threads)
		ada_set_threads(threads);
	rc = ada_eval(&in, data, seq_len, &res, &err);
	if (rc)
		return cli_fail("eval", rc == ADA_EINVAL && err.param[0] ? EXIT_USAGE : EXIT_RUNTIME,
				"%s", err.msg);
	j = json_pack("{sI sf sf}", "tokens", (json_int_t)res.tokens, "mean_nll", res.mean_nll,
		      "perplexity", res.perplexity);
	json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
	fputc('\n', stdout);
	json_decref(j);
	return 0;
}
