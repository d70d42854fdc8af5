/*
 * cmd_rouge — `adalora rouge --pred FILE --ref FILE [--stemmer]`: ROUGE-1,
 * ROUGE-2, ROUGE-L and ROUGE-Lsum of predictions against references, as
 * Google's rouge-score package scores each pair, averaged over the pairs
 * (README, "ROUGE").
 *
 * The files hold one text per line, or JSONL (ada_rouge_files says how);
 * text i of --pred is scored against text i of --ref. One JSON line on
 * stdout: {"rouge1": {"precision", "recall", "fmeasure"}, "rouge2",
 * "rougeL", "rougeLsum", "n", "use_stemmer"}, with every digit of the
 * doubles so that other implementations can be compared exactly.
 */
#include <stdio.h>

#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora rouge --pred FILE --ref FILE [--stemmer]\n";

int cmd_rouge(int argc, char **argv)
{
	const char *pred = NULL, *ref = NULL, *pos[1];
	int stemmer = 0, n_pos, rc;
	struct cli_opt opts[] = {
		{ "--pred", NULL, OPT_STRING, &pred, 0 },
		{ "--ref", NULL, OPT_STRING, &ref, 0 },
		{ "--stemmer", NULL, OPT_FLAG, &stemmer, 0 },
	};
	struct ada_rouge r;
	struct ada_err err = { 0 };
	json_t *j;

	if ((rc = cli_parse("rouge", usage, argc, argv, opts, 3, pos, 0, &n_pos)))
		return cli_exit_code(rc);
	if (!pred || !ref)
		return cli_fail("rouge", EXIT_USAGE, "--pred and --ref are required\n%s", usage);
	if ((rc = ada_rouge_files(pred, ref, stemmer, &r, &err)))
		return cli_fail("rouge", rc == ADA_EINVAL && err.param[0] ? EXIT_USAGE : EXIT_RUNTIME,
				"%s", err.msg);
	if (!(j = ada_rouge_to_json(&r)))
		return cli_fail("rouge", EXIT_RUNTIME, "out of memory");
	json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
	fputc('\n', stdout);
	json_decref(j);
	return 0;
}
