/*
 * cmd_train — `adalora train CONFIG.json [--out DIR] [--resume DIR]`.
 *
 * Runs one job in the foreground: progress lines on stderr, metrics.jsonl,
 * the adapter and result.json in DIR (docs/cli.md). Ctrl-C (or SIGTERM)
 * asks the trainer to stop at the next step boundary; it writes a
 * checkpoint, and `--resume DIR` continues bit for bit.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "job_config.h"
#include "progress.h"
#include "util/err.h"
#include "util/fileio.h"

static _Atomic int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = ADA_STOP_PAUSE;
}

static const char usage[] =
	"usage: adalora train CONFIG.json [--out DIR] [--resume DIR] [--threads N] [--quiet]\n";

/* runs/<config file name without .json> */
static char *default_out(const char *config)
{
	const char *base = strrchr(config, '/');
	char name[256], *dot;

	snprintf(name, sizeof(name), "%s", base ? base + 1 : config);
	dot = strrchr(name, '.');
	if (dot && dot != name)
		*dot = '\0';
	return path_join("runs", name);
}

int cmd_train(int argc, char **argv)
{
	const char *out = NULL, *resume = NULL, *pos[1];
	int threads = 0, quiet = 0, n_pos, rc, code = 0;
	struct cli_opt opts[] = {
		{ "--out", NULL, OPT_STRING, &out, 0 },
		{ "--resume", NULL, OPT_STRING, &resume, 0 },
		{ "--threads", NULL, OPT_INT, &threads, 0 },
		{ "--quiet", "-q", OPT_FLAG, &quiet, 0 },
	};
	struct job_config jc;
	struct ada_err err = { 0 };
	struct ada_callbacks cb;
	struct ada_result res;
	struct progress prog;
	struct ada_job job;
	char *out_dir = NULL, *metrics = NULL;

	if ((rc = cli_parse("train", usage, argc, argv, opts, 4, pos, 1, &n_pos)))
		return cli_exit_code(rc);
	if (n_pos != 1)
		return cli_fail("train", EXIT_USAGE, "missing CONFIG.json\n%s", usage);
	if (out && resume && strcmp(out, resume))
		return cli_fail("train", EXIT_USAGE, "--out and --resume name different directories");
	if (threads < 0)
		return cli_fail("train", EXIT_USAGE, "--threads must be positive");
	if (job_config_load(pos[0], &jc, &err))
		return cli_fail("train", EXIT_USAGE, "%s", err.msg);
	out_dir = resume ? strdup(resume) : out ? strdup(out) : default_out(pos[0]);
	if (!out_dir) {
		code = cli_fail("train", EXIT_RUNTIME, "out of memory");
		goto out_release;
	}
	if (resume) {
		char *ck = path_join(out_dir, "checkpoint");
		int have = ck && dir_exists(ck);
		free(ck);
		if (!have) {
			code = cli_fail("train", EXIT_RUNTIME, "%s: no checkpoint to resume from",
					out_dir);
			goto out_release;
		}
	} else {
		/* A fresh run replaces an earlier run's state in the same directory. */
		char *ck = path_join(out_dir, "checkpoint");
		if (ck)
			remove_tree(ck, NULL);
		free(ck);
	}
	if (mkdir_p(out_dir, 0755, &err)) {
		code = cli_fail("train", EXIT_RUNTIME, "%s", err.msg);
		goto out_release;
	}
	metrics = path_join(out_dir, "metrics.jsonl");
	if (!metrics || progress_open(&prog, metrics, resume != NULL)) {
		code = cli_fail("train", EXIT_RUNTIME, "cannot write %s", metrics ? metrics : out_dir);
		goto out_release;
	}
	prog.quiet = quiet;
	progress_callbacks(&prog, &cb);
	if (threads)
		ada_set_threads(threads);

	memset(&job, 0, sizeof(job));
	job.model = jc.model;
	job.tokenizer = jc.tokenizer;
	job.train_file = jc.train_file;
	job.valid_file = jc.valid_file;
	job.task = jc.task;
	job.data_format = jc.data_format;
	job.out_dir = out_dir;
	job.seed = jc.seed;
	job.method = jc.method;
	job.resume = resume != NULL;
	job.threads = threads;
	job.cb = &cb;
	job.stop = &stop_flag;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	rc = ada_train(&job, &res, &err);
	progress_close(&prog);
	if (rc == ADA_ESTOPPED) {
		fprintf(stderr, "interrupted at step %lld; checkpoint saved: resume with "
			"adalora train %s --resume %s\n", (long long)res.steps, pos[0], out_dir);
		code = 130;
	} else if (rc) {
		code = cli_fail("train", err.param[0] ? EXIT_USAGE : EXIT_RUNTIME, "%s", err.msg);
	} else {
		fprintf(stderr, "done: %lld steps in %.1f s; train loss %.4f", (long long)res.steps,
			res.seconds, res.train_loss);
		if (res.valid_loss == res.valid_loss)
			fprintf(stderr, "; validation loss %.4f (before: %.4f)", res.valid_loss,
				res.valid_loss_initial);
		if (res.glue.accuracy == res.glue.accuracy && res.plan.task == ADA_TASK_SEQ2SEQ)
			fprintf(stderr, "; token accuracy %.4f", res.glue.accuracy);
		else if (res.glue.accuracy == res.glue.accuracy)
			fprintf(stderr, "; accuracy %.4f, MCC %.4f", res.glue.accuracy, res.glue.mcc);
		if (res.glue.pearson == res.glue.pearson)
			fprintf(stderr, "; Pearson %.4f, Spearman %.4f", res.glue.pearson, res.glue.spearman);
		fprintf(stderr, "\nwrote %s\n", res.adapter_dir);
	}
	ada_result_release(&res);
out_release:
	free(metrics);
	free(out_dir);
	job_config_release(&jc);
	return code;
}
