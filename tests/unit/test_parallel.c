/*
 * Data-parallel training through lib's hook (struct ada_parallel), with
 * the processes faked by threads of this program and MPI_Allreduce by a
 * sum behind two barriers, so the hook is tested where MPI is absent (the
 * MPI transport itself: tests/unit/test_mpi_train.c).
 *   - two "processes" train the same adapter as one (LoRA with dropout,
 *     AdaLoRA, a classifier): losses at every step and the adapter within
 *     the tolerance README "One job across processes" states, AdaLoRA's
 *     masks (every rank event, the exported rank pattern) identical;
 *   - only the writer calls back and writes; the other leaves no file;
 *   - a pause seen by one process stops both at the same step, the writer
 *     checkpoints, and both resume to the adapter of an uninterrupted
 *     two-process run, bit for bit;
 *   - a step that has fewer micro-batches than processes is refused,
 *     naming micro_batch_size.
 */
#include <pthread.h>

#include "check.h"

#include "adalora.h"
#include "adapter_diff.h"
#include "scratch.h"
#include "stopper.h"
#include "task_data.h"
#include "util/err.h"
#include "util/fileio.h"

/* README "One job across processes": the tolerance the tests hold
 * data-parallel results to (relative to each tensor's largest value; the
 * loss relative to itself), with f32 products. With compute_dtype bf16 an
 * activation rounded to bf16 may land one bf16 step (2^-8) away when the
 * sum order moved it by an ulp, so those runs agree less closely. */
#define ADAPTER_REL_TOL 1e-5
#define LOSS_REL_TOL 1e-6
#define ADAPTER_REL_TOL_BF16 1e-2
#define LOSS_REL_TOL_BF16 5e-4

#define MAX_RANKS 4
#define MAX_STEPS 64
#define MAX_MASKS 32

static char *tmp;
static char model_path[4200], data_path[4200], zebra_path[4200];

/* ---- the fake world ----------------------------------------------------- */

struct world {
	int size;
	pthread_barrier_t bar;
	float *g[MAX_RANKS];
	size_t ng[MAX_RANKS];
	double *s[MAX_RANKS];
	size_t ns[MAX_RANKS];
	int mismatched;                 /* the ranks disagreed on a size */
	int64_t calls;
};

/* What one rank saw through its callbacks. */
struct seen {
	int64_t steps[MAX_STEPS];
	double loss[MAX_STEPS];
	int n_metrics;
	int64_t mask_steps[MAX_MASKS];
	int64_t kept[MAX_MASKS];
	int ranks[MAX_MASKS][64];
	int n_masks;
	int calls;                      /* callbacks of any kind */
	int64_t pause_at;               /* raise *raise at this step's metrics; -1 never */
	_Atomic int *raise;
	_Atomic int flag;               /* this rank's stop flag */
};

struct member {
	struct world *w;
	struct ada_parallel par;
	struct ada_callbacks cb;
	struct seen seen;
	struct ada_job job;
	struct ada_result res;
	struct ada_err err;
	int rc;
};

/* rank 0 sums every rank's buffers in rank order, as a reduction over a
 * fixed tree does, and hands every rank the sums */
static int fake_allreduce(void *ctx, float *g, size_t ng, double *s, size_t ns,
			  struct ada_err *err)
{
	struct member *m = ctx;
	struct world *w = m->w;
	const int r = m->par.rank;

	(void)err;
	w->g[r] = g;
	w->ng[r] = ng;
	w->s[r] = s;
	w->ns[r] = ns;
	pthread_barrier_wait(&w->bar);
	if (r == 0) {
		w->calls++;
		for (int k = 1; k < w->size; k++)
			if (w->ng[k] != ng || w->ns[k] != ns)
				w->mismatched = 1;
		if (!w->mismatched) {
			for (size_t i = 0; i < ng; i++) {
				float acc = w->g[0][i];
				for (int k = 1; k < w->size; k++)
					acc += w->g[k][i];
				for (int k = 0; k < w->size; k++)
					w->g[k][i] = acc;
			}
			for (size_t i = 0; i < ns; i++) {
				double acc = w->s[0][i];
				for (int k = 1; k < w->size; k++)
					acc += w->s[k][i];
				for (int k = 0; k < w->size; k++)
					w->s[k][i] = acc;
			}
		}
	}
	pthread_barrier_wait(&w->bar);
	return ADA_OK;
}

static void on_metrics(void *ctx, const struct ada_metrics *mt)
{
	struct seen *s = ctx;

	s->calls++;
	if (s->n_metrics < MAX_STEPS) {
		s->steps[s->n_metrics] = mt->step;
		s->loss[s->n_metrics++] = mt->train_loss;
	}
	if (s->pause_at >= 0 && mt->step == s->pause_at)
		*s->raise = ADA_STOP_PAUSE;
}

static void on_ranks(void *ctx, const struct ada_ranks *rk)
{
	struct seen *s = ctx;
	const int n = rk->n_layers * rk->n_modules;

	s->calls++;
	if (s->n_masks >= MAX_MASKS || n > 64)
		return;
	s->mask_steps[s->n_masks] = rk->step;
	s->kept[s->n_masks] = rk->kept;
	memcpy(s->ranks[s->n_masks], rk->ranks, sizeof(int) * (size_t)n);
	s->n_masks++;
}

static void on_other(void *ctx, const char *level, const char *msg)
{
	(void)level;
	(void)msg;
	((struct seen *)ctx)->calls++;
}

static void seen_attach(struct seen *s, struct ada_callbacks *cb, struct ada_job *job,
			int64_t pause_at)
{
	memset(s, 0, sizeof(*s));
	s->pause_at = pause_at;
	s->raise = &s->flag;
	memset(cb, 0, sizeof(*cb));
	cb->ctx = s;
	cb->on_metrics = on_metrics;
	cb->on_ranks = on_ranks;
	cb->on_log = on_other;
	job->cb = cb;
	job->stop = &s->flag;
}

static void *member_main(void *arg)
{
	struct member *m = arg;

	m->rc = ada_train(&m->job, &m->res, &m->err);
	return NULL;
}

/* Run base on size threads as the ranks of one job, rank 0 the writer.
 * out_dirs[k] (NULL: base's) is rank k's. When pause_at >= 0, the writer's
 * metrics of that step raise the stop flag of rank pause_rank only, as a
 * signal that reached one process would. m[] receives each rank's result. */
static void run_world(const struct ada_job *base, int size, const char *const *out_dirs,
		      int64_t pause_at, int pause_rank, struct member *m, struct world *w)
{
	pthread_t th[MAX_RANKS];

	memset(w, 0, sizeof(*w));
	w->size = size;
	pthread_barrier_init(&w->bar, NULL, (unsigned)size);
	for (int k = 0; k < size; k++) {
		memset(&m[k], 0, sizeof(m[k]));
		m[k].w = w;
		m[k].job = *base;
		if (out_dirs && out_dirs[k])
			m[k].job.out_dir = out_dirs[k];
		m[k].par = (struct ada_parallel){ .rank = k, .size = size, .writer = k == 0,
						  .ctx = &m[k], .allreduce = fake_allreduce };
		m[k].job.parallel = &m[k].par;
		seen_attach(&m[k].seen, &m[k].cb, &m[k].job, k == 0 ? pause_at : -1);
	}
	m[0].seen.raise = &m[pause_rank].seen.flag;
	for (int k = 0; k < size; k++)
		pthread_create(&th[k], NULL, member_main, &m[k]);
	for (int k = 0; k < size; k++)
		pthread_join(th[k], NULL);
	pthread_barrier_destroy(&w->bar);
}

static void release_world(struct member *m, int size)
{
	for (int k = 0; k < size; k++)
		ada_result_release(&m[k].res);
}

/* ---- jobs --------------------------------------------------------------- */

static void base_job(struct ada_job *job, enum ada_method_type t, const char *out)
{
	memset(job, 0, sizeof(*job));
	job->model = model_path;
	job->train_file = data_path;
	job->out_dir = out;
	job->seed = 5;
	job->threads = 1;
	ada_method_defaults(t, &job->method);
	job->method.hp.compute_dtype = ADA_COMPUTE_FP32;   /* the tolerances above */
	job->method.hp.max_steps = 16;
	job->method.hp.batch_size = 8;
	job->method.hp.micro_batch_size = 2;    /* four micro-batches: two for each rank */
	job->method.hp.seq_len = 32;
	job->method.hp.learning_rate = 5e-3;
	job->method.hp.log_every = 1;
	job->method.hp.checkpoint_every = 0;
	job->method.hp.warmup_steps = 2;
	job->method.hp.init_r = 4;
	job->method.hp.target_r = 2;
	job->method.hp.tinit = 2;
	job->method.hp.tfinal = 4;
	job->method.hp.delta_t = 2;
	job->method.hp.r = 4;
}

static const char *dir(const char *fmt, const char *name)
{
	return scratch_path(tmp, fmt, name);
}

/* One process and two train job within tolerance, masks equal. */
static void check_two_like_one(struct ada_job *job, const char *name)
{
	const int bf16 = job->method.hp.compute_dtype == ADA_COMPUTE_BF16;
	const double loss_tol = bf16 ? LOSS_REL_TOL_BF16 : LOSS_REL_TOL;
	const double adapter_tol = bf16 ? ADAPTER_REL_TOL_BF16 : ADAPTER_REL_TOL;
	char one[4300], two[4300], silent[4300], ad1[4400], ad2[4400], why[512];
	const char *outs[2];
	struct member m[2];
	struct world w;
	struct ada_result res;
	struct ada_err err = { 0 };
	struct ada_callbacks cb;
	struct seen s1;
	struct adapter_diff d;
	double loss_rel = 0;

	snprintf(one, sizeof(one), "%s", dir("%s-one", name));
	snprintf(two, sizeof(two), "%s", dir("%s-two", name));
	snprintf(silent, sizeof(silent), "%s", dir("%s-silent", name));
	job->out_dir = one;
	seen_attach(&s1, &cb, job, -1);
	CHECK_OK(ada_train(job, &res, &err), &err);
	ada_result_release(&res);
	job->cb = NULL;
	job->stop = NULL;

	job->out_dir = two;
	outs[0] = two;
	outs[1] = silent;    /* rank 1 may write nothing, not even this directory */
	run_world(job, 2, outs, -1, 0, m, &w);
	CHECK_OK(m[0].rc, &m[0].err);
	CHECK_OK(m[1].rc, &m[1].err);
	CHECK(!w.mismatched);
	CHECK_INT_EQ(w.calls, job->method.hp.max_steps);   /* one allreduce a step */
	CHECK_INT_EQ(m[0].res.steps, job->method.hp.max_steps);
	CHECK_INT_EQ(m[1].res.steps, job->method.hp.max_steps);
	CHECK_INT_EQ(m[1].seen.calls, 0);
	CHECK_MSG(!dir_exists(silent), "%s: the second process wrote %s", name, silent);
	CHECK_INT_EQ(m[0].res.trained_tokens, res.trained_tokens);

	/* the loss at every step, and the masks */
	CHECK_INT_EQ(m[0].seen.n_metrics, s1.n_metrics);
	for (int i = 0; i < s1.n_metrics && i < m[0].seen.n_metrics; i++) {
		double rel = fabs(m[0].seen.loss[i] - s1.loss[i]) / fabs(s1.loss[i]);
		loss_rel = rel > loss_rel ? rel : loss_rel;
		CHECK_INT_EQ(m[0].seen.steps[i], s1.steps[i]);
		CHECK_MSG(fabs(m[0].seen.loss[i] - s1.loss[i]) <= loss_tol * fabs(s1.loss[i]),
			  "%s step %lld: loss %.9g with two processes, %.9g with one", name,
			  (long long)s1.steps[i], m[0].seen.loss[i], s1.loss[i]);
	}
	CHECK_INT_EQ(m[0].seen.n_masks, s1.n_masks);
	for (int i = 0; i < s1.n_masks && i < m[0].seen.n_masks; i++) {
		CHECK_INT_EQ(m[0].seen.mask_steps[i], s1.mask_steps[i]);
		CHECK_INT_EQ(m[0].seen.kept[i], s1.kept[i]);
		CHECK_MSG(!memcmp(m[0].seen.ranks[i], s1.ranks[i], sizeof(s1.ranks[i])),
			  "%s: the ranks at step %lld differ", name, (long long)s1.mask_steps[i]);
	}

	snprintf(ad1, sizeof(ad1), "%s/adapter", one);
	snprintf(ad2, sizeof(ad2), "%s/adapter", two);
	if (adapter_diff(ad1, ad2, &d, why, sizeof(why))) {
		CHECK_MSG(0, "%s: %s", name, why);
	} else {
		fprintf(stderr, "%s: loss within %.3g; %zu tensors, max |diff| %.3g, max relative %.3g (%s)\n",
			name, loss_rel, d.tensors, d.max_abs, d.max_rel, d.worst);
		CHECK(d.tensors > 0);
		CHECK_MSG(d.max_rel <= adapter_tol, "%s: relative difference %.3g in %s", name,
			  d.max_rel, d.worst);
	}
	CHECK_MSG(adapter_same_rank_pattern(ad1, ad2, why, sizeof(why)), "%s: %s", name, why);
	release_world(m, 2);
}

static void test_lora_with_dropout(void)
{
	struct ada_job job;

	base_job(&job, ADA_METHOD_LORA, NULL);
	job.method.hp.lora_dropout = 0.1;    /* the masks are those of the same micro-batch */
	check_two_like_one(&job, "lora");
}

static void test_adalora(void)
{
	struct ada_job job;

	base_job(&job, ADA_METHOD_ADALORA, NULL);
	check_two_like_one(&job, "adalora");
}

/* The same with the frozen products in bf16 (where the CPU has them): the
 * machinery is the same, the agreement looser (above). */
static void test_adalora_bf16(void)
{
	struct ada_job job;

	if (!ada_bf16_supported()) {
		check_skip("this CPU has no AVX512-BF16");
		return;
	}
	base_job(&job, ADA_METHOD_ADALORA, NULL);
	job.method.hp.compute_dtype = ADA_COMPUTE_BF16;
	check_two_like_one(&job, "adalora-bf16");
}

/* A classifier (the other task), three micro-batches shared unevenly. */
static void test_classifier(void)
{
	struct ada_job job;

	base_job(&job, ADA_METHOD_ADALORA, NULL);
	job.train_file = zebra_path;
	job.method.hp.batch_size = 6;
	job.method.hp.micro_batch_size = 2;
	job.method.hp.seq_len = 16;
	check_two_like_one(&job, "classifier");
}

/* A pause raised in rank 1 only: both stop at the same step, rank 0 keeps
 * a checkpoint, and both resume to the uninterrupted two-process adapter. */
static void test_pause_and_resume(void)
{
	char a[4300], b[4300], fa[4400], fb[4400];
	struct member m[2];
	struct world w;
	struct ada_job job;
	int64_t steps;

	snprintf(a, sizeof(a), "%s", dir("%s-whole", "pause"));
	snprintf(b, sizeof(b), "%s", dir("%s-paused", "pause"));
	base_job(&job, ADA_METHOD_ADALORA, a);
	job.method.hp.lora_dropout = 0.1;
	run_world(&job, 2, NULL, -1, 0, m, &w);
	CHECK_OK(m[0].rc, &m[0].err);
	CHECK_OK(m[1].rc, &m[1].err);
	release_world(m, 2);

	job.out_dir = b;
	run_world(&job, 2, NULL, 6, 1, m, &w);
	CHECK_INT_EQ(m[0].rc, ADA_ESTOPPED);
	CHECK_INT_EQ(m[1].rc, ADA_ESTOPPED);
	/* raised at step 6's metrics, while rank 1 may be in step 7's sum
	 * already: carried by step 7's or step 8's, acted on after it, by both */
	CHECK_INT_EQ(m[0].res.steps, m[1].res.steps);
	CHECK_MSG(m[0].res.steps == 7 || m[0].res.steps == 8, "stopped after step %lld",
		  (long long)m[0].res.steps);
	steps = m[0].res.steps;
	CHECK(dir_exists(scratch_path(b, "checkpoint")));
	release_world(m, 2);

	job.resume = 1;
	run_world(&job, 2, NULL, -1, 0, m, &w);
	CHECK_OK(m[0].rc, &m[0].err);
	CHECK_OK(m[1].rc, &m[1].err);
	CHECK_INT_EQ(w.calls, 16 - steps);
	release_world(m, 2);
	snprintf(fa, sizeof(fa), "%s/adapter/adapter_model.safetensors", a);
	snprintf(fb, sizeof(fb), "%s/adapter/adapter_model.safetensors", b);
	CHECK_MSG(files_same(fa, fb), "the resumed two-process adapter differs");
}

static int no_reduce(void *ctx, float *g, size_t ng, double *s, size_t ns, struct ada_err *err)
{
	(void)ctx;
	(void)g;
	(void)ng;
	(void)s;
	(void)ns;
	return ada_fail(err, ADA_EIO, "not expected");
}

static void test_errors(void)
{
	struct ada_parallel par = { .rank = 0, .size = 3, .writer = 1, .allreduce = no_reduce };
	struct ada_err err = { 0 };
	struct ada_job job;

	/* batch 4 in micro-batches of 2: two pieces for three processes */
	base_job(&job, ADA_METHOD_LORA, dir("%s", "errors"));
	job.method.hp.batch_size = 4;
	job.parallel = &par;
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.lora.hyperparameters.micro_batch_size");
	CHECK_MSG(strstr(err.msg, "set micro_batch_size to 1"), "%s", err.msg);

	CHECK_OK(ada_method_check_processes(&job.method, 2, &err), &err);
	job.method.hp.micro_batch_size = 4;
	CHECK_INT_EQ(ada_method_check_processes(&job.method, 2, &err), ADA_EINVAL);
	CHECK_MSG(strstr(err.msg, "set micro_batch_size to 2"), "%s", err.msg);
	CHECK_INT_EQ(ada_method_check_processes(&job.method, 5, &err), ADA_EINVAL);
	CHECK_MSG(strstr(err.msg, "batch_size to at least 5"), "%s", err.msg);
	CHECK_INT_EQ(ada_method_check_processes(&job.method, 0, &err), ADA_EINVAL);

	par.size = 2;
	par.rank = 2;
	job.method.hp.micro_batch_size = 2;
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_EINVAL);
	par.rank = 0;
	par.allreduce = NULL;
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_EINVAL);
}

int main(void)
{
	struct ada_err err;

	tmp = check_tmpdir("parallel");
	snprintf(model_path, sizeof(model_path), "%s/tiny.gguf", tmp);
	snprintf(data_path, sizeof(data_path), "%s/train.txt", tmp);
	snprintf(zebra_path, sizeof(zebra_path), "%s/zebra.jsonl", tmp);
	if (ada_create_model("tiny", 1, model_path, &err) ||
	    task_write_corpus(data_path, 60, 7, &err) ||
	    task_write_zebra(zebra_path, 80, 3, ZEBRA_INT, NULL, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return 1;
	}
	RUN(test_lora_with_dropout);
	RUN(test_adalora);
	RUN(test_adalora_bf16);
	RUN(test_classifier);
	RUN(test_pause_and_resume);
	RUN(test_errors);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
