/*
 * cmd_train — `adalora train CONFIG.json [--out DIR] [--resume DIR]`.
 *
 * Runs one job in the foreground: progress lines on stderr, metrics.jsonl,
 * the adapter and result.json in DIR (docs/cli.md). Ctrl-C (or SIGTERM,
 * SIGUSR1) asks the trainer to stop at the next step boundary; it writes a
 * checkpoint, and `--resume DIR` continues bit for bit.
 *
 * Under an MPI launcher (`mpirun -np N adalora train ...`, dist.h) the N
 * processes train the job data-parallel: process 0 writes (DIR, stderr
 * lines, --progress-json), the others compute their share of each step and
 * say nothing unless they fail. SIGUSR1 (mpirun forwards it) stops them all
 * with a checkpoint; mpirun answers SIGINT and SIGTERM by killing the
 * processes a second later, so those leave the last periodic checkpoint,
 * and each process says so.
 *
 * --progress-json: the job's callbacks as JSON lines on stdout, then an
 * end line (adalora.h, "Progress as JSON lines"): how adalorad follows a
 * job it launched.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "dist.h"
#include "job_config.h"
#include "progress.h"
#include "util/err.h"
#include "util/fileio.h"

static _Atomic int stop_flag;
/* what a process of a data-parallel run says when the launcher ends it */
static char ended_msg[600];
static volatile sig_atomic_t ended_said;

static void on_signal(int sig)
{
	stop_flag = ADA_STOP_PAUSE;
	if (sig != SIGUSR1 && ended_msg[0] && !ended_said) {
		ssize_t w;
		ended_said = 1;
		w = write(STDERR_FILENO, ended_msg, strlen(ended_msg));
		(void)w;
	}
}

static const char usage[] =
	"usage: adalora train CONFIG.json [--out DIR] [--resume DIR] [--threads N] [--quiet]\n"
	"                     [--progress-json]\n"
	"       mpirun -np N adalora train CONFIG.json ...   (data-parallel; README)\n";

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

/* The writer's word on the allreduces, in the log (and so in a launching
 * daemon's events). */
static void say_reduces(const struct dist *d, const struct ada_callbacks *cb)
{
	char msg[256];

	if (d->size <= 1 || !d->reduces || !cb->on_log)
		return;
	snprintf(msg, sizeof(msg),
		 "data-parallel over %d processes: %lld steps, allreduce of %.2f MB per step in "
		 "%.3f ms on average",
		 d->size, (long long)d->reduces, d->reduce_bytes / 1e6,
		 1e3 * d->reduce_seconds / (double)d->reduces);
	cb->on_log(cb->ctx, "info", msg);
}

int cmd_train(int argc, char **argv)
{
	const char *out = NULL, *resume = NULL, *pos[1];
	int threads = 0, quiet = 0, json = 0, n_pos, rc, code = 0, writer;
	struct cli_opt opts[] = {
		{ "--out", NULL, OPT_STRING, &out, 0 },
		{ "--resume", NULL, OPT_STRING, &resume, 0 },
		{ "--threads", NULL, OPT_INT, &threads, 0 },
		{ "--quiet", "-q", OPT_FLAG, &quiet, 0 },
		{ "--progress-json", NULL, OPT_FLAG, &json, 0 },
	};
	struct job_config jc;
	struct ada_err err = { 0 };
	struct ada_callbacks cb, both[2];
	struct ada_result res;
	struct progress prog = { 0 };
	struct ada_job job;
	struct dist dist;
	char *out_dir = NULL, *metrics = NULL, who[64] = "";   /* who: "process 2 of 4: " */

	if ((rc = cli_parse("train", usage, argc, argv, opts, 5, pos, 1, &n_pos)))
		return cli_exit_code(rc);
	if (n_pos != 1)
		return cli_fail("train", EXIT_USAGE, "missing CONFIG.json\n%s", usage);
	if (out && resume && strcmp(out, resume))
		return cli_fail("train", EXIT_USAGE, "--out and --resume name different directories");
	if (threads < 0)
		return cli_fail("train", EXIT_USAGE, "--threads must be positive");
	/* from here on a stop request is kept for the first step boundary (a
	 * launcher may forward one while the processes start) */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	if (dist_start(&dist, &argc, &argv, &err))
		return cli_fail("train", EXIT_RUNTIME, "%s", err.msg);
	writer = dist.rank == 0;
	if (dist.size > 1)
		snprintf(who, sizeof(who), "process %d of %d: ", dist.rank + 1, dist.size);
	memset(&res, 0, sizeof(res));
	if (job_config_load(pos[0], &jc, &err))
		return cli_fail("train", EXIT_USAGE, "%s%s", who, err.msg);
	out_dir = resume ? strdup(resume) : out ? strdup(out) : default_out(pos[0]);
	if (!out_dir) {
		code = cli_fail("train", EXIT_RUNTIME, "out of memory");
		goto out_release;
	}
	if (resume) {
		/* every process reads the checkpoint */
		char *ck = path_join(out_dir, "checkpoint");
		int have = ck && dir_exists(ck);
		free(ck);
		if (!have) {
			code = cli_fail("train", EXIT_RUNTIME, "%s: no checkpoint to resume from",
					out_dir);
			goto out_release;
		}
	} else if (writer) {
		/* A fresh run replaces an earlier run's state in the same directory. */
		char *ck = path_join(out_dir, "checkpoint");
		if (ck)
			remove_tree(ck, NULL);
		free(ck);
	}
	memset(&cb, 0, sizeof(cb));
	if (writer) {
		if (mkdir_p(out_dir, 0755, &err)) {
			code = cli_fail("train", EXIT_RUNTIME, "%s", err.msg);
			goto out_release;
		}
		metrics = path_join(out_dir, "metrics.jsonl");
		if (!metrics || progress_open(&prog, metrics, resume != NULL)) {
			code = cli_fail("train", EXIT_RUNTIME, "cannot write %s",
					metrics ? metrics : out_dir);
			goto out_release;
		}
		prog.quiet = quiet;
		progress_callbacks(&prog, &cb);
		if (json) {
			both[0] = cb;
			ada_progress_callbacks(stdout, &both[1]);
			progress_tee(both, &cb);
		}
	}
	if (!threads)
		threads = dist_default_threads(&dist);   /* the host's CPUs shared among its processes */
	if (threads)
		ada_set_threads(threads);

	memset(&job, 0, sizeof(job));
	job.model = jc.model;
	job.model_name = jc.model_name;
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
	job.cb = writer ? &cb : NULL;
	job.stop = &stop_flag;
	job.parallel = dist.size > 1 ? &dist.par : NULL;
	if (dist.size > 1)
		snprintf(ended_msg, sizeof(ended_msg),
			 "adalora train: process %d of %d ended by a signal (mpirun ends the job when a "
			 "process fails or it is interrupted); continue from the last checkpoint with: "
			 "mpirun -np %d adalora train %s --resume %s\n",
			 dist.rank + 1, dist.size, dist.size, pos[0], out_dir);
	rc = ada_train(&job, &res, &err);
	if (writer)
		say_reduces(&dist, &cb);
	if (writer && json && ada_progress_end(stdout, rc, &res, &err))
		fprintf(stderr, "adalora train: cannot write the end line on stdout\n");
	progress_close(&prog);
	if (rc == ADA_ESTOPPED || rc == ADA_ECANCELLED) {
		if (writer)
			fprintf(stderr, "interrupted at step %lld; checkpoint saved: resume with "
				"adalora train %s --resume %s\n", (long long)res.steps, pos[0], out_dir);
		code = 130;
	} else if (rc) {
		code = cli_fail("train", err.param[0] ? EXIT_USAGE : EXIT_RUNTIME, "%s%s", who,
				err.msg);
	} else if (writer) {
		fprintf(stderr, "done: %lld steps in %.1f s; train loss %.4f", (long long)res.steps,
			res.seconds, res.train_loss);
		if (res.valid_loss == res.valid_loss)
			fprintf(stderr, "; validation loss %.4f (before: %.4f)", res.valid_loss,
				res.valid_loss_initial);
		if (res.glue.accuracy == res.glue.accuracy && res.plan.task == ADA_TASK_SEQ2SEQ)
			fprintf(stderr, "; token accuracy %.4f", res.glue.accuracy);
		else if (res.glue.accuracy == res.glue.accuracy)
			fprintf(stderr, "; accuracy %.4f, MCC %.4f", res.glue.accuracy, res.glue.mcc);
		if (res.qa.f1 == res.qa.f1)
			fprintf(stderr, "; exact %.2f, F1 %.2f", res.qa.exact, res.qa.f1);
		if (res.glue.pearson == res.glue.pearson)
			fprintf(stderr, "; Pearson %.4f, Spearman %.4f", res.glue.pearson, res.glue.spearman);
		if (res.rouge.n)
			fprintf(stderr, "; ROUGE-1/2/L/Lsum %.4f/%.4f/%.4f/%.4f of %lld decoded",
				res.rouge.rouge1.fmeasure, res.rouge.rouge2.fmeasure,
				res.rouge.rougeL.fmeasure, res.rouge.rougeLsum.fmeasure,
				(long long)res.rouge.n);
		fprintf(stderr, "\nwrote %s\n", res.adapter_dir);
	}
	ada_result_release(&res);
out_release:
	free(metrics);
	free(out_dir);
	job_config_release(&jc);
	/* A failing process leaves without MPI_Finalize: its status makes the
	 * launcher end the others, which may be waiting in an allreduce. */
	if (!code || code == 130)
		dist_finish(&dist);
	return code;
}
