/*
 * `mpirun -np 2 adalora train` against `adalora train` (README "One job
 * across processes"), on the tiny model: skips, saying why, when Open MPI
 * or an MPI build of adalora is absent.
 *
 * Built twice. test_mpi_train (suite unit):
 *   - AdaLoRA and LoRA (with dropout): the loss at every step within 1e-6
 *     of the one-process run's, the adapter within 1e-5 (relative to each
 *     tensor's largest value), every rank matrix and the final rank pattern
 *     identical; process 1 wrote nothing; the writer reported one allreduce
 *     a step;
 *   - three processes for a step of two micro-batches: refused, naming
 *     micro_batch_size.
 * test_mpi_resume (-DMPI_RESUME_TESTS, suite slow):
 *   - kill -9 of process 1 after the checkpoint at step 10: mpirun ends the
 *     job with a non-zero status, process 0 says how to resume, and
 *     `--resume` finishes with the adapter of an uninterrupted two-process
 *     run, bit for bit;
 *   - SIGUSR1 to mpirun (how adalorad pauses a job): every process stops at
 *     one step with a checkpoint, exit 130; the resume is bit for bit too.
 */
#include <jansson.h>
#include <signal.h>

#include "check.h"

#include "adalora.h"
#include "adapter_diff.h"
#include "mpi_launch.h"
#include "scratch.h"
#include "task_data.h"
#include "util/err.h"
#include "util/fileio.h"

/* README "One job across processes" */
#define ADAPTER_REL_TOL 1e-5
#define LOSS_REL_TOL 1e-6

static char *tmp;
static const char *adalora;
static char model_path[4200], data_path[4200];

/* dir/job.json for a method: 40 steps of 8 sequences in micro-batches of 2,
 * AdaLoRA masking every 2 steps from step 4 to the freeze at 34. */
static const char *write_job(const char *dir, const char *method, double dropout,
			     int micro, int64_t steps, int64_t checkpoint_every)
{
	static char path[4300];
	struct ada_err err;
	json_t *hp = json_pack("{s:I,s:i,s:i,s:i,s:f,s:i,s:I,s:f,s:i,s:i,s:i,s:i,s:i,s:i}",
			       "max_steps", (json_int_t)steps, "batch_size", 8,
			       "micro_batch_size", micro, "seq_len", 32, "learning_rate", 5e-3,
			       "log_every", 1, "checkpoint_every", (json_int_t)checkpoint_every,
			       "lora_dropout", dropout, "warmup_steps", 2, "init_r", 4,
			       "target_r", 2, "tinit", 4, "tfinal", 6, "deltaT", 2);
	json_t *job;

	/* f32 products: the tolerance above (test_parallel.c checks bf16's) */
	json_object_set_new(hp, "compute_dtype", json_string("fp32"));

	if (!strcmp(method, "lora")) {
		json_object_del(hp, "init_r");
		json_object_del(hp, "target_r");
		json_object_del(hp, "tinit");
		json_object_del(hp, "tfinal");
		json_object_del(hp, "deltaT");
		json_object_set_new(hp, "r", json_integer(4));
	}
	job = json_pack("{s:s,s:s,s:i,s:{s:s,s:{s:o}}}", "model", model_path, "train_file",
			data_path, "seed", 11, "method", "type", method, method, "hyperparameters",
			hp);
	mkdir_p(dir, 0755, &err);
	snprintf(path, sizeof(path), "%s/job.json", dir);
	json_dump_file(job, path, JSON_INDENT(1));
	json_decref(job);
	return path;
}

/* adalora train JOB --threads 1 -q [more...], by n processes (1: without
 * mpirun); stdout and stderr into files named after tag. Returns the status. */
static int train(int n, const char *job, const char *tag, const char *const *more,
		 pid_t *started)
{
	const char *argv[32];
	int k = 0;

	if (n > 1)
		k = mpi_launcher_argv(n, argv);
	argv[k++] = adalora;
	argv[k++] = "train";
	argv[k++] = job;
	argv[k++] = "--threads";
	argv[k++] = "1";
	argv[k++] = "-q";
	for (int i = 0; more && more[i]; i++)
		argv[k++] = more[i];
	argv[k] = NULL;
	if (started) {
		*started = launch(argv, scratch_path(tmp, "%s.out", tag),
				  scratch_path(tmp, "%s.err", tag));
		return *started ? 0 : -1;
	}
	return launch_run(argv, scratch_path(tmp, "%s.out", tag), scratch_path(tmp, "%s.err", tag));
}

static int file_has(const char *path, const char *needle)
{
	return wait_for_line(path, needle, 0);
}

#ifndef MPI_RESUME_TESTS

/* metrics.jsonl of a run: its "metrics" lines' losses and its "ranks" lines */
struct curve {
	int64_t step[256];
	double loss[256];
	int n;
	json_t *ranks;      /* array of the "layers" of every ranks line */
};

static int read_curve(const char *dir, struct curve *c)
{
	char path[4300], line[1 << 14];
	FILE *f;

	memset(c, 0, sizeof(*c));
	c->ranks = json_array();
	snprintf(path, sizeof(path), "%s/metrics.jsonl", dir);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *type = json_string_value(json_object_get(o, "type"));
		if (type && !strcmp(type, "metrics") && c->n < 256) {
			c->step[c->n] = json_integer_value(json_object_get(o, "step"));
			c->loss[c->n++] = json_number_value(json_object_get(o, "train_loss"));
		} else if (type && !strcmp(type, "ranks")) {
			json_array_append(c->ranks, json_object_get(o, "layers"));
		}
		json_decref(o);
	}
	fclose(f);
	return 0;
}

/* The two-process run of dir_two against the one-process run of dir_one. */
static void check_like_one(const char *dir_one, const char *dir_two, const char *what)
{
	struct curve a, b;
	struct adapter_diff d;
	char ad1[4400], ad2[4400], why[512];
	double worst = 0;
	json_t *ra, *rb;

	CHECK(!read_curve(dir_one, &a));
	CHECK(!read_curve(dir_two, &b));
	CHECK_INT_EQ(b.n, a.n);
	CHECK(a.n > 0);
	for (int i = 0; i < a.n && i < b.n; i++) {
		double rel = fabs(a.loss[i] - b.loss[i]) / fabs(a.loss[i]);
		CHECK_INT_EQ(a.step[i], b.step[i]);
		CHECK_MSG(rel <= LOSS_REL_TOL, "%s step %lld: loss %.9g against %.9g", what,
			  (long long)a.step[i], b.loss[i], a.loss[i]);
		worst = rel > worst ? rel : worst;
	}
	CHECK_MSG(json_equal(a.ranks, b.ranks), "%s: the rank matrices differ", what);
	json_decref(a.ranks);
	json_decref(b.ranks);

	snprintf(ad1, sizeof(ad1), "%s/adapter", dir_one);
	snprintf(ad2, sizeof(ad2), "%s/adapter", dir_two);
	if (adapter_diff(ad1, ad2, &d, why, sizeof(why))) {
		CHECK_MSG(0, "%s: %s", what, why);
	} else {
		fprintf(stderr, "%s: loss within %.3g; adapter: %zu tensors, max |diff| %.3g, "
			"max relative %.3g (%s)\n", what, worst, d.tensors, d.max_abs, d.max_rel,
			d.worst);
		CHECK_MSG(d.max_rel <= ADAPTER_REL_TOL, "%s: %.3g in %s", what, d.max_rel, d.worst);
	}
	CHECK_MSG(adapter_same_rank_pattern(ad1, ad2, why, sizeof(why)), "%s: %s", what, why);
	snprintf(ad1, sizeof(ad1), "%s/result.json", dir_one);
	snprintf(ad2, sizeof(ad2), "%s/result.json", dir_two);
	ra = json_load_file(ad1, 0, NULL);
	rb = json_load_file(ad2, 0, NULL);
	CHECK(ra && rb);
	CHECK(json_object_get(ra, "final_ranks") == json_object_get(rb, "final_ranks") ||
	      json_equal(json_object_get(ra, "final_ranks"), json_object_get(rb, "final_ranks")));
	CHECK_INT_EQ(json_integer_value(json_object_get(ra, "trained_tokens")),
		     json_integer_value(json_object_get(rb, "trained_tokens")));
	json_decref(ra);
	json_decref(rb);
}

static void check_method(const char *method, double dropout)
{
	char one[4300], two[4300];
	const char *job, *more_one[] = { "--out", one, NULL }, *more_two[] = { "--out", two, NULL };

	snprintf(one, sizeof(one), "%s/%s-one", tmp, method);
	snprintf(two, sizeof(two), "%s/%s-two", tmp, method);
	job = write_job(scratch_path(tmp, "%s-job", method), method, dropout, 2, 40, 100);
	CHECK_INT_EQ(train(1, job, "one", more_one, NULL), 0);
	CHECK_INT_EQ(train(2, job, "two", more_two, NULL), 0);
	check_like_one(one, two, method);
}

static void test_adalora(void)
{
	check_method("adalora", 0);
}

static void test_lora_with_dropout(void)
{
	check_method("lora", 0.1);
}

/* What the writer reports, and no more: progress JSON on stdout comes from
 * process 0 alone (one end line). */
static void test_progress_json_from_the_writer(void)
{
	char out[4300];
	const char *job, *more[] = { "--out", out, "--progress-json", NULL };
	FILE *f;
	char line[1 << 14];
	int ends = 0, metrics = 0;

	snprintf(out, sizeof(out), "%s/json", tmp);
	job = write_job(scratch_path(tmp, "json-job"), "adalora", 0, 2, 12, 100);
	CHECK_INT_EQ(train(2, job, "json", more, NULL), 0);
	f = fopen(scratch_path(tmp, "json.out"), "r");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f)) {
		ends += strstr(line, "\"event\":\"end\"") != NULL;
		metrics += strstr(line, "\"event\":\"metrics\"") != NULL;
	}
	if (f)
		fclose(f);
	CHECK_INT_EQ(ends, 1);
	CHECK_INT_EQ(metrics, 12);
	CHECK(file_has(scratch_path(tmp, "json.out"), "data-parallel over 2 processes"));
}

static void test_too_few_micro_batches(void)
{
	char out[4300];
	const char *job, *more[] = { "--out", out, NULL };

	snprintf(out, sizeof(out), "%s/three", tmp);
	job = write_job(scratch_path(tmp, "three-job"), "lora", 0, 4, 10, 100);
	CHECK(train(3, job, "three", more, NULL) != 0);
	CHECK(file_has(scratch_path(tmp, "three.err"), "micro_batch_size"));
	CHECK(!file_exists(scratch_path(out, "adapter")));
}

#else

/* An uninterrupted two-process run of job into dir. */
static void reference(const char *job, const char *dir)
{
	const char *more[] = { "--out", dir, NULL };

	CHECK_INT_EQ(train(2, job, "reference", more, NULL), 0);
}

static void check_same_adapter(const char *a, const char *b, const char *what)
{
	char fa[4400], fb[4400];

	snprintf(fa, sizeof(fa), "%s/adapter/adapter_model.safetensors", a);
	snprintf(fb, sizeof(fb), "%s/adapter/adapter_model.safetensors", b);
	CHECK_MSG(files_same(fa, fb), "%s: the resumed adapter differs", what);
}

static void test_kill_a_process_then_resume(void)
{
	char ref[4300], dir[4300];
	const char *job, *more[] = { "--out", dir, "--progress-json", NULL };
	const char *again[] = { "--resume", dir, NULL };
	pid_t mpirun, victim;
	int status;

	snprintf(ref, sizeof(ref), "%s/kill-ref", tmp);
	snprintf(dir, sizeof(dir), "%s/kill", tmp);
	job = write_job(scratch_path(tmp, "kill-job"), "adalora", 0.1, 2, 120, 10);
	reference(job, ref);

	CHECK_INT_EQ(train(2, job, "killed", more, &mpirun), 0);
	CHECK(wait_for_line(scratch_path(tmp, "killed.out"), "\"event\":\"checkpoint\"", 300));
	victim = mpi_find_rank(mpirun, 1);
	CHECK(victim > 0);
	if (victim > 0)
		kill(victim, SIGKILL);
	status = launch_wait(mpirun);
	CHECK_MSG(status != 0, "mpirun exited %d after a process was killed", status);
	/* the job did not finish, and the surviving process said how to go on */
	CHECK(!file_exists(scratch_path(dir, "adapter")));
	CHECK(file_has(scratch_path(tmp, "killed.err"), "process 1 of 2 ended by a signal") ||
	      file_has(scratch_path(tmp, "killed.err"), "exited on signal 9"));
	CHECK(!file_has(scratch_path(tmp, "killed.out"), "\"event\":\"end\""));

	CHECK_INT_EQ(train(2, job, "resumed", again, NULL), 0);
	check_same_adapter(ref, dir, "killed");
}

static void test_pause_by_signal_then_resume(void)
{
	char ref[4300], dir[4300];
	const char *job, *more[] = { "--out", dir, "--progress-json", NULL };
	const char *again[] = { "--resume", dir, NULL };
	pid_t mpirun;

	snprintf(ref, sizeof(ref), "%s/pause-ref", tmp);
	snprintf(dir, sizeof(dir), "%s/pause", tmp);
	job = write_job(scratch_path(tmp, "pause-job"), "adalora", 0.1, 2, 120, 0);
	reference(job, ref);

	CHECK_INT_EQ(train(2, job, "paused", more, &mpirun), 0);
	CHECK(wait_for_line(scratch_path(tmp, "paused.out"), "\"step\":5,", 300));
	kill(mpirun, SIGUSR1);
	CHECK_INT_EQ(launch_wait(mpirun), 130);
	CHECK(file_has(scratch_path(tmp, "paused.out"), "\"event\":\"end\",\"code\":6") ||
	      file_has(scratch_path(tmp, "paused.out"), "\"code\": 6"));
	CHECK(dir_exists(scratch_path(dir, "checkpoint")));
	CHECK(!file_exists(scratch_path(dir, "adapter")));

	CHECK_INT_EQ(train(2, job, "resumed2", again, NULL), 0);
	check_same_adapter(ref, dir, "paused");
}

#endif

int main(void)
{
	struct ada_err err;
	char why[512];

	adalora = getenv("ADALORA_BIN");
	if (!adalora || !*adalora) {
		fprintf(stderr, "SKIP: ADALORA_BIN is not set (meson sets it)\n");
		return 77;
	}
	if (!mpi_available(adalora, why, sizeof(why))) {
		fprintf(stderr, "SKIP: %s\n", why);
		return 77;
	}
	tmp = check_tmpdir("mpi_train");
	snprintf(model_path, sizeof(model_path), "%s/tiny.gguf", tmp);
	snprintf(data_path, sizeof(data_path), "%s/train.txt", tmp);
	if (ada_create_model("tiny", 1, model_path, &err) ||
	    task_write_corpus(data_path, 60, 7, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return 1;
	}
#ifndef MPI_RESUME_TESTS
	RUN(test_adalora);
	RUN(test_lora_with_dropout);
	RUN(test_progress_json_from_the_writer);
	RUN(test_too_few_micro_batches);
#else
	RUN(test_kill_a_process_then_resume);
	RUN(test_pause_by_signal_then_resume);
#endif
	if (!check_failures)
		remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
