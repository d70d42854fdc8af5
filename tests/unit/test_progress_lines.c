/*
 * Progress as JSON lines (lib/train/progress_lines.c): what a job run in
 * another process reports on its standard output, read back.
 *   - a real training's callbacks, written as lines and read back, reach
 *     the reader's callbacks with the same values, bit for bit (NaN as NaN):
 *     metrics, evaluations, rank matrices, checkpoints, log messages;
 *   - the end line carries the code, the error and the whole result
 *     (a classifier's label names too);
 *   - lines that are not ours are told apart (ADA_EFORMAT), so a launcher's
 *     own messages can be shown as text.
 */
#include "check.h"

#include "adalora.h"
#include "task_data.h"
#include "tiny_bart.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;
static char model_path[4200], data_path[4200], zebra_path[4200];

#define MAX_EVENTS 256

/* Every callback as one record, comparable with memcmp once NaNs are
 * normalised (they are NAN on both sides). */
struct event {
	char kind;                      /* m e r c l */
	struct ada_metrics m;
	int64_t step, budget, kept, initial, target;
	int init_r, n_layers, n_modules, final;
	int ranks[64];
	char names[8][32];
	char text[160];
};

struct record {
	struct event ev[MAX_EVENTS];
	int n;
	struct ada_callbacks lines;     /* where a tee also writes */
};

static struct event *next(struct record *r, char kind)
{
	struct event *e = r->n < MAX_EVENTS ? &r->ev[r->n++] : &r->ev[MAX_EVENTS - 1];

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	return e;
}

static void r_metrics(void *ctx, const struct ada_metrics *m)
{
	struct record *r = ctx;

	next(r, 'm')->m = *m;
	if (r->lines.on_metrics)
		r->lines.on_metrics(r->lines.ctx, m);
}

static void r_eval(void *ctx, const struct ada_metrics *m)
{
	struct record *r = ctx;

	next(r, 'e')->m = *m;
	if (r->lines.on_eval)
		r->lines.on_eval(r->lines.ctx, m);
}

static void r_ranks(void *ctx, const struct ada_ranks *rk)
{
	struct record *r = ctx;
	struct event *e = next(r, 'r');

	e->step = rk->step;
	e->budget = rk->budget;
	e->kept = rk->kept;
	e->initial = rk->initial;
	e->target = rk->target;
	e->init_r = rk->init_r;
	e->n_layers = rk->n_layers;
	e->n_modules = rk->n_modules;
	e->final = rk->final;
	for (int i = 0; i < rk->n_layers * rk->n_modules && i < 64; i++)
		e->ranks[i] = rk->ranks[i];
	for (int c = 0; c < rk->n_modules && c < 8; c++)
		snprintf(e->names[c], sizeof(e->names[c]), "%s", rk->module_names[c]);
	if (r->lines.on_ranks)
		r->lines.on_ranks(r->lines.ctx, rk);
}

static void r_checkpoint(void *ctx, int64_t step, const char *dir, const struct ada_metrics *m)
{
	struct record *r = ctx;
	struct event *e = next(r, 'c');

	e->step = step;
	e->m = *m;
	snprintf(e->text, sizeof(e->text), "%s", dir);
	if (r->lines.on_checkpoint)
		r->lines.on_checkpoint(r->lines.ctx, step, dir, m);
}

static void r_log(void *ctx, const char *level, const char *msg)
{
	struct record *r = ctx;

	snprintf(next(r, 'l')->text, sizeof(r->ev[0].text), "%s:%s", level, msg);
	if (r->lines.on_log)
		r->lines.on_log(r->lines.ctx, level, msg);
}

static void record_callbacks(struct record *r, struct ada_callbacks *cb)
{
	memset(cb, 0, sizeof(*cb));
	cb->ctx = r;
	cb->on_metrics = r_metrics;
	cb->on_eval = r_eval;
	cb->on_ranks = r_ranks;
	cb->on_checkpoint = r_checkpoint;
	cb->on_log = r_log;
}

static int same_double(double a, double b)
{
	return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof(a));
}

static int same_metrics(const struct ada_metrics *a, const struct ada_metrics *b)
{
	const double da[] = { a->epoch, a->train_loss, a->valid_loss, a->valid_loss_no_framing,
			      a->learning_rate, a->grad_norm, a->orth_reg, a->tokens_per_second,
			      a->eta_seconds, a->elapsed_seconds, a->glue.accuracy, a->glue.f1,
			      a->glue.mcc, a->glue.pearson, a->glue.spearman,
			      a->rouge.rouge1.fmeasure, a->rouge.rouge2.precision,
			      a->rouge.rougeL.recall, a->rouge.rougeLsum.fmeasure };
	const double db[] = { b->epoch, b->train_loss, b->valid_loss, b->valid_loss_no_framing,
			      b->learning_rate, b->grad_norm, b->orth_reg, b->tokens_per_second,
			      b->eta_seconds, b->elapsed_seconds, b->glue.accuracy, b->glue.f1,
			      b->glue.mcc, b->glue.pearson, b->glue.spearman,
			      b->rouge.rouge1.fmeasure, b->rouge.rouge2.precision,
			      b->rouge.rougeL.recall, b->rouge.rougeLsum.fmeasure };

	for (size_t i = 0; i < sizeof(da) / sizeof(da[0]); i++)
		if (!same_double(da[i], db[i]))
			return 0;
	return a->step == b->step && a->total_steps == b->total_steps &&
	       a->budget == b->budget && a->trained_tokens == b->trained_tokens &&
	       a->rouge.n == b->rouge.n && a->rouge.use_stemmer == b->rouge.use_stemmer;
}

static int same_event(const struct event *a, const struct event *b)
{
	if (a->kind != b->kind || !same_metrics(&a->m, &b->m))
		return 0;
	return a->step == b->step && a->budget == b->budget && a->kept == b->kept &&
	       a->initial == b->initial && a->target == b->target && a->init_r == b->init_r &&
	       a->n_layers == b->n_layers && a->n_modules == b->n_modules &&
	       a->final == b->final && !memcmp(a->ranks, b->ranks, sizeof(a->ranks)) &&
	       !memcmp(a->names, b->names, sizeof(a->names)) && !strcmp(a->text, b->text);
}

/* Train job with a tee: every callback recorded directly and written as a
 * line; then the lines read back into a second record. The two agree. */
static void check_round_trip(struct ada_job *job, const char *what, int expect_labels)
{
	static struct record direct, read;
	struct ada_callbacks cb, rcb;
	struct ada_progress_end end;
	struct ada_result res;
	struct ada_err err = { 0 };
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int rc, lines = 0, kinds[256] = { 0 };

	memset(&direct, 0, sizeof(direct));
	memset(&read, 0, sizeof(read));
	memset(&end, 0, sizeof(end));
	record_callbacks(&direct, &cb);
	ada_progress_callbacks(out, &direct.lines);
	job->cb = &cb;
	rc = ada_train(job, &res, &err);
	CHECK_OK(rc, &err);
	CHECK_OK(ada_progress_end(out, rc, &res, &err), &err);
	fclose(out);

	record_callbacks(&read, &rcb);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lines++;
		CHECK_OK(ada_progress_line(line, strlen(line), &rcb, &end, &err), &err);
	}
	CHECK_INT_EQ(read.n, direct.n);
	CHECK_INT_EQ(lines, direct.n + 1);
	for (int i = 0; i < direct.n && i < read.n; i++) {
		kinds[(unsigned char)direct.ev[i].kind]++;
		CHECK_MSG(same_event(&direct.ev[i], &read.ev[i]), "%s: event %d (%c) differs", what,
			  i, direct.ev[i].kind);
	}
	/* the job logged, evaluated and checkpointed; AdaLoRA masked */
	CHECK(kinds['m'] > 0 && kinds['e'] > 0 && kinds['r'] > 0 && kinds['c'] > 0 &&
	      kinds['l'] > 0);

	CHECK(end.ended);
	CHECK_INT_EQ(end.rc, 0);
	CHECK_INT_EQ(end.res.steps, res.steps);
	CHECK_INT_EQ(end.res.plan.total_steps, res.plan.total_steps);
	CHECK_INT_EQ(end.res.plan.trainable_params, res.plan.trainable_params);
	CHECK_INT_EQ(end.res.plan.budget_target, res.plan.budget_target);
	CHECK_INT_EQ(end.res.trained_tokens, res.trained_tokens);
	CHECK(same_double(end.res.train_loss, res.train_loss));
	CHECK(same_double(end.res.valid_loss, res.valid_loss));
	CHECK(same_double(end.res.glue.accuracy, res.glue.accuracy));
	CHECK(same_double(end.res.rouge.rougeL.fmeasure, res.rouge.rougeL.fmeasure));
	CHECK(same_double(end.res.rouge_initial.rouge1.recall, res.rouge_initial.rouge1.recall));
	CHECK_INT_EQ(end.res.rouge.n, res.rouge.n);
	CHECK_STR_EQ(end.res.adapter_dir, res.adapter_dir);
	CHECK_INT_EQ(end.res.num_labels, res.num_labels);
	CHECK_INT_EQ(end.res.label_kind, res.label_kind);
	CHECK_INT_EQ(end.res.label_names != NULL, expect_labels);
	for (int i = 0; expect_labels && end.res.label_names && i < res.num_labels; i++)
		CHECK_STR_EQ(end.res.label_names[i], res.label_names[i]);
	ada_result_release(&end.res);
	ada_result_release(&res);
	free(buf);
}

static void base_job(struct ada_job *job, const char *train, const char *out)
{
	memset(job, 0, sizeof(*job));
	job->model = model_path;
	job->train_file = train;
	job->out_dir = out;
	job->seed = 2;
	job->threads = 1;
	ada_method_defaults(ADA_METHOD_ADALORA, &job->method);
	job->method.hp.max_steps = 10;
	job->method.hp.batch_size = 4;
	job->method.hp.seq_len = 16;
	job->method.hp.log_every = 2;
	job->method.hp.eval_every = 5;
	job->method.hp.checkpoint_every = 4;
	job->method.hp.init_r = 4;
	job->method.hp.target_r = 2;
	job->method.hp.tinit = 2;
	job->method.hp.tfinal = 2;
	job->method.hp.delta_t = 2;
}

static void test_language_model(void)
{
	struct ada_job job;
	char out[4300];

	snprintf(out, sizeof(out), "%s/lm", tmp);
	base_job(&job, data_path, out);
	check_round_trip(&job, "language model", 0);
}

static void test_classifier_with_label_names(void)
{
	struct ada_job job;
	char out[4300];

	snprintf(out, sizeof(out), "%s/cls", tmp);
	base_job(&job, zebra_path, out);
	check_round_trip(&job, "classifier", 1);
}

/* A seq2seq job: its validations' ROUGE travels too. */
static void test_seq2seq(void)
{
	struct ada_job job;
	struct ada_err err;
	char out[4300], bart[4300], train[4300];

	snprintf(out, sizeof(out), "%s/s2s", tmp);
	snprintf(bart, sizeof(bart), "%s/bart", tmp);
	snprintf(train, sizeof(train), "%s/reverse.jsonl", tmp);
	CHECK_OK(tiny_make_bart(bart, 3, &err), &err);
	CHECK_OK(tiny_write_reverse(train, 80, 3, 6, 8, 1, 0, &err), &err);
	base_job(&job, train, out);
	job.model = bart;
	job.method.hp.valid_generate_examples = 3;
	job.method.hp.generation_max_length = 8;
	check_round_trip(&job, "seq2seq", 0);
}

/* A failed run's end line: its code and error, param included. */
static void test_end_of_a_failure(void)
{
	struct ada_err err = { ADA_EINVAL, "method.lora.hyperparameters.seq_len", "too long" };
	struct ada_progress_end end;
	struct ada_result res;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	memset(&res, 0, sizeof(res));
	res.train_loss = NAN;
	CHECK_OK(ada_progress_end(out, ADA_EINVAL, &res, &err), &err);
	fclose(out);
	memset(&end, 0, sizeof(end));
	CHECK_OK(ada_progress_line(buf, len, NULL, &end, &err), &err);
	CHECK(end.ended);
	CHECK_INT_EQ(end.rc, ADA_EINVAL);
	CHECK_INT_EQ(end.err.code, ADA_EINVAL);
	CHECK_STR_EQ(end.err.param, "method.lora.hyperparameters.seq_len");
	CHECK_STR_EQ(end.err.msg, "too long");
	CHECK(isnan(end.res.train_loss));
	ada_result_release(&end.res);
	free(buf);
}

static void test_not_ours(void)
{
	static const char *const lines[] = {
		"", "\n", "mpirun noticed that process rank 1 exited on signal 9",
		"{}", "{\"event\": 3}", "{\"event\": \"nope\"}", "{\"event\": \"metrics\"",
		"[1, 2]", "{\"event\": \"ranks\", \"ranks\": {\"n_layers\": 2, \"n_modules\": 1}}",
		"{\"event\": \"end\"}",
	};
	struct ada_progress_end end;
	struct ada_err err = { 0 };

	memset(&end, 0, sizeof(end));
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		CHECK_MSG(ada_progress_line(lines[i], strlen(lines[i]), NULL, &end, &err) ==
				  ADA_EFORMAT, "line %zu taken for ours", i);
	CHECK(!end.ended);
	CHECK_OK(ada_progress_line("{\"event\":\"log\",\"level\":\"info\",\"message\":\"hi\"}\n",
				   46, NULL, &end, &err), &err);
}

int main(void)
{
	struct ada_err err;

	tmp = check_tmpdir("progress_lines");
	snprintf(model_path, sizeof(model_path), "%s/tiny.gguf", tmp);
	snprintf(data_path, sizeof(data_path), "%s/train.txt", tmp);
	snprintf(zebra_path, sizeof(zebra_path), "%s/zebra.jsonl", tmp);
	if (ada_create_model("tiny", 1, model_path, &err) ||
	    task_write_corpus(data_path, 40, 7, &err) ||
	    task_write_zebra(zebra_path, 60, 3, ZEBRA_STRING, NULL, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return 1;
	}
	RUN(test_language_model);
	RUN(test_classifier_with_label_names);
	RUN(test_seq2seq);
	RUN(test_end_of_a_failure);
	RUN(test_not_ours);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
