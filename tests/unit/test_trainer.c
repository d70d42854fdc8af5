/*
 * Tests of the trainer on a self-made model (ada_create_model: random
 * weights, byte-level tokenizer), so they need nothing from ../shared:
 *   - stop at step k, resume, finish: the adapter (or model) file is
 *     byte-identical to an uninterrupted run's, for LoRA, AdaLoRA (with a
 *     stop before and after the mask freezes and the adapters compact) and
 *     full fine-tuning;
 *   - compaction at the freeze leaves the logits unchanged;
 *   - errors: seq_len beyond the context, an empty dataset, a damaged model.
 */
#include "check.h"

#include "adalora.h"
#include "format/gguf.h"
#include "infer/inference_net.h"
#include "net/trained_net.h"
#include "scratch.h"
#include "stopper.h"
#include "task_data.h"
#include "train/trainer.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

static char *tmp;
static const struct net_spec lm_spec = { .task = ADA_TASK_CAUSAL_LM };
static char model_path[4200], data_path[4200];

static void base_job(struct ada_job *job, enum ada_method_type t, const char *out)
{
	memset(job, 0, sizeof(*job));
	job->model = model_path;
	job->train_file = data_path;
	job->out_dir = out;
	job->seed = 3;
	job->threads = 2;
	ada_method_defaults(t, &job->method);
	job->method.hp.max_steps = 14;
	job->method.hp.batch_size = 4;
	job->method.hp.micro_batch_size = 2;    /* gradient accumulation too */
	job->method.hp.seq_len = 32;
	job->method.hp.learning_rate = 5e-3;
	job->method.hp.log_every = 1;
	job->method.hp.checkpoint_every = 0;
	job->method.hp.warmup_steps = 2;
	job->method.hp.lora_dropout = 0.1;
	job->method.hp.init_r = 4;
	job->method.hp.target_r = 2;
	job->method.hp.tinit = 2;
	job->method.hp.tfinal = 4;
	job->method.hp.delta_t = 2;
	job->method.hp.r = 4;
}

static void check_resume(enum ada_method_type t, int64_t stop_at)
{
	char dir_a[4300], dir_b[4300], fa[4400], fb[4400];
	struct ada_job job;
	struct ada_err err = { 0 };
	struct ada_result res;
	struct stopper st;
	const char *out_file = t == ADA_METHOD_FULL ? "model.gguf" : "adapter/adapter_model.safetensors";

	snprintf(dir_a, sizeof(dir_a), "%s/%s-a-%lld", tmp, ada_method_name(t), (long long)stop_at);
	snprintf(dir_b, sizeof(dir_b), "%s/%s-b-%lld", tmp, ada_method_name(t), (long long)stop_at);
	base_job(&job, t, dir_a);
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.steps, 14);

	base_job(&job, t, dir_b);
	stopper_attach(&st, &job, stop_at);
	CHECK_INT_EQ(ada_train(&job, &res, &err), ADA_ESTOPPED);
	CHECK_INT_EQ(res.steps, stop_at);
	stopper_disarm(&st);
	job.resume = 1;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.steps, 14);

	snprintf(fa, sizeof(fa), "%s/%s", dir_a, out_file);
	snprintf(fb, sizeof(fb), "%s/%s", dir_b, out_file);
	CHECK_MSG(files_same(fa, fb), "%s stopped at %lld: %s differs after resume",
		  ada_method_name(t), (long long)stop_at, out_file);
}

/* A run with gradient checkpointing trains the same adapter bit for bit,
 * and may be resumed without it: it changes memory, not results. */
static void test_gradient_checkpointing(void)
{
	char dir_a[4300], dir_b[4300], fa[4400], fb[4400];
	struct ada_job job;
	struct ada_err err = { 0 };
	struct ada_result res;
	struct stopper st;

	snprintf(dir_a, sizeof(dir_a), "%s/ckpt-a", tmp);
	snprintf(dir_b, sizeof(dir_b), "%s/ckpt-b", tmp);
	base_job(&job, ADA_METHOD_ADALORA, dir_a);
	CHECK_OK(ada_train(&job, &res, &err), &err);

	base_job(&job, ADA_METHOD_ADALORA, dir_b);
	job.method.hp.gradient_checkpointing = 1;
	stopper_attach(&st, &job, 7);
	CHECK_INT_EQ(ada_train(&job, &res, &err), ADA_ESTOPPED);
	stopper_disarm(&st);
	job.method.hp.gradient_checkpointing = 0;
	job.resume = 1;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.steps, 14);

	snprintf(fa, sizeof(fa), "%s/adapter/adapter_model.safetensors", dir_a);
	snprintf(fb, sizeof(fb), "%s/adapter/adapter_model.safetensors", dir_b);
	CHECK_MSG(files_same(fa, fb), "the checkpointed run's adapter differs");
}

struct loss_log {
	int64_t steps[64];
	double loss[64];
	int n;
	int64_t stop_at_checkpoint;
	_Atomic int flag;
};

static void log_loss(void *ctx, const struct ada_metrics *m)
{
	struct loss_log *l = ctx;

	if (l->n < 64) {
		l->steps[l->n] = m->step;
		l->loss[l->n++] = m->train_loss;
	}
}

static void stop_on_checkpoint(void *ctx, int64_t step, const char *dir, const struct ada_metrics *m)
{
	struct loss_log *l = ctx;

	(void)dir;
	(void)m;
	if (step == l->stop_at_checkpoint)
		l->flag = ADA_STOP_PAUSE;
}

/* The train_loss logged after a resume is the uninterrupted run's: a stop
 * between two metrics events (checkpoint_every 5, log_every 4) used to
 * lose the steps of the interval trained before it. */
static void test_resume_logged_loss(void)
{
	char dir_a[4300], dir_b[4300];
	struct loss_log a = { .stop_at_checkpoint = -1 }, b = { .stop_at_checkpoint = 5 };
	struct ada_callbacks cba = { .ctx = &a, .on_metrics = log_loss };
	struct ada_callbacks cbb = { .ctx = &b, .on_metrics = log_loss,
				     .on_checkpoint = stop_on_checkpoint };
	struct ada_job job;
	struct ada_err err = { 0 };

	snprintf(dir_a, sizeof(dir_a), "%s/loss-a", tmp);
	snprintf(dir_b, sizeof(dir_b), "%s/loss-b", tmp);
	base_job(&job, ADA_METHOD_ADALORA, dir_a);
	job.method.hp.log_every = 4;
	job.method.hp.checkpoint_every = 5;
	job.cb = &cba;
	CHECK_OK(ada_train(&job, NULL, &err), &err);

	base_job(&job, ADA_METHOD_ADALORA, dir_b);
	job.method.hp.log_every = 4;
	job.method.hp.checkpoint_every = 5;
	job.cb = &cbb;
	job.stop = &b.flag;
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_ESTOPPED);   /* at step 5 */
	b.flag = ADA_RUN;
	b.stop_at_checkpoint = -1;
	job.resume = 1;
	CHECK_OK(ada_train(&job, NULL, &err), &err);

	CHECK_INT_EQ(a.n, 4);   /* steps 4, 8, 12, 14 */
	CHECK_INT_EQ(b.n, a.n);
	for (int i = 0; i < a.n && i < b.n; i++) {
		CHECK_INT_EQ(b.steps[i], a.steps[i]);
		CHECK_MSG(b.loss[i] == a.loss[i], "step %lld: train_loss %.17g after the resume, %.17g without",
			  (long long)a.steps[i], b.loss[i], a.loss[i]);
	}
}

/* A model whose every step gives non-finite gradients trains nothing: the
 * job fails, naming the step, rather than "succeeding" with the base model. */
static void test_all_steps_nonfinite(void)
{
	char bad[4300], out[4300];
	struct ada_job job;
	struct ada_err err = { 0 };
	struct gguf *g = NULL;
	long off = 0, n = 0;
	FILE *f;

	/* Finite weights whose products overflow: attention scores become inf
	 * and the loss NaN from the first step (the model is valid: no NaN
	 * or Inf is stored). */
	snprintf(bad, sizeof(bad), "%s/overflow.gguf", tmp);
	CHECK_OK(ada_create_model("tiny", 1, bad, &err), &err);
	CHECK_OK(gguf_open(bad, &g, &err), &err);
	if (g) {
		const struct gguf_tensor *t = gguf_find_tensor(g, "blk.0.attn_norm.weight");
		CHECK(t && t->type == 0);
		if (t) {
			off = (long)((const uint8_t *)t->data - (const uint8_t *)g->file.data);
			n = (long)t->n_elements;
		}
		gguf_close(g);
	}
	f = fopen(bad, "r+b");
	CHECK(f && off > 0);
	if (f) {
		fseek(f, off, SEEK_SET);
		for (long i = 0; i < n; i++) {
			float huge = 3e38f;
			fwrite(&huge, sizeof(huge), 1, f);
		}
		fclose(f);
	}
	snprintf(out, sizeof(out), "%s/nonfinite", tmp);
	base_job(&job, ADA_METHOD_LORA, out);
	job.model = bad;
	job.method.hp.max_steps = 5;
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_ENUMERIC);
	CHECK_MSG(strstr(err.msg, "step 1") && strstr(err.msg, "nothing was trained"), "%s", err.msg);
}

static void test_resume_lora(void)
{
	check_resume(ADA_METHOD_LORA, 5);
}

static void test_resume_adalora(void)
{
	check_resume(ADA_METHOD_ADALORA, 5);    /* before the freeze (t_freeze = 10) */
	check_resume(ADA_METHOD_ADALORA, 12);   /* after it: compacted adapters */
}

static void test_resume_full(void)
{
	check_resume(ADA_METHOD_FULL, 7);
}

static void test_resume_lora_prune(void)
{
	check_resume(ADA_METHOD_LORA_PRUNE, 7);
}

/* Compaction keeps exactly what the masked triplets contributed: nothing. */
static void test_compaction_keeps_logits(void)
{
	struct inference_net in;
	struct ada_infer_opts o = { .model = model_path };
	struct trained_net tn;
	struct ada_method m;
	struct ada_err err = { 0 };
	struct llama_acts acts;
	struct rng r;
	const int B = 2, T = 16;
	int32_t tokens[32];
	uint8_t *keep[64];
	float *before;
	double maxdiff = 0, maxabs = 0;

	CHECK_OK(inference_net_open(&in, &o, &err), &err);
	ada_method_defaults(ADA_METHOD_ADALORA, &m);
	m.hp.init_r = 6;
	CHECK_OK(trained_net_build(&tn, in.model, &m, &lm_spec, 9, 1, &err), &err);
	rng_seed(&r, 4);
	for (int i = 0; i < tn.n_mods; i++) {
		struct lowrank *lr = tn.mods[i].lr;
		keep[i] = calloc((size_t)lr->r, 1);
		for (int j = 0; j < lr->r; j++) {
			keep[i][j] = rng_below(&r, 3) != 0 || i % 5 == 0 ? 0 : 1;
			if (i % 5 == 0)
				keep[i][j] = 0;   /* some modules end at rank 0 */
			lr->g[j] = keep[i][j] ? (float)rng_normal(&r) : 0.0f;
		}
	}
	for (int i = 0; i < B * T; i++)
		tokens[i] = (int32_t)rng_below(&r, 260);
	CHECK_OK(llama_acts_init(&acts, &tn.net.d, B, T, 2), (struct ada_err *)NULL);
	llama_forward(&tn.net, &acts, tokens, NULL, B, 0, NULL, NULL, &(struct nn_step){ 0 });
	before = malloc(sizeof(float) * (size_t)B * T * 260);
	memcpy(before, acts.logits, sizeof(float) * (size_t)B * T * 260);
	CHECK_OK(trained_net_compact(&tn, (const uint8_t *const *)keep, &err), &err);
	CHECK_INT_EQ(tn.mods[0].lr->r, 0);
	llama_forward(&tn.net, &acts, tokens, NULL, B, 0, NULL, NULL, &(struct nn_step){ 0 });
	for (int i = 0; i < B * T * 260; i++) {
		double d = fabs((double)before[i] - acts.logits[i]);
		maxdiff = d > maxdiff ? d : maxdiff;
		maxabs = fabs(before[i]) > maxabs ? fabs(before[i]) : maxabs;
	}
	CHECK_MSG(maxdiff <= 1e-6 * (maxabs + 1), "logits moved by %g after compaction", maxdiff);
	for (int i = 0; i < tn.n_mods; i++)
		free(keep[i]);
	free(before);
	llama_acts_release(&acts);
	trained_net_release(&tn);
	inference_net_close(&in);
}

/* The in-memory constructor (bench and tests): a repeating sequence in
 * windows, no files; training lowers the loss, and windows of another
 * length than seq_len are refused (the model moved in is freed). */
static void test_setup_lm_in_memory(void)
{
	struct ada_job job;
	struct ada_err err = { 0 };
	struct dataset ds = { 0 };
	struct trainer tr;
	struct model *model = NULL;
	double first = 0, last = 0;
	const int T = 16, W = 8;

	base_job(&job, ADA_METHOD_LORA, NULL);
	job.method.hp.seq_len = T;
	job.method.hp.max_steps = 30;
	job.method.hp.warmup_steps = 0;
	job.method.hp.lora_dropout = 0;
	job.method.hp.learning_rate = 2e-2;
	ds.seq_len = T;
	ds.n_windows = W;
	ds.n_targets = (int64_t)W * T;
	ds.tokens = calloc((size_t)W * (T + 1), sizeof(*ds.tokens));
	ds.mask = malloc((size_t)W * T);
	memset(ds.mask, 1, (size_t)W * T);
	for (int i = 0; i < W * (T + 1); i++)
		ds.tokens[i] = 3 + "abcab"[i % 5];
	CHECK_OK(model_load(model_path, NULL, &model, &err), &err);
	CHECK_OK(trainer_setup_lm(&tr, &job, model, &ds, NULL, &err), &err);
	CHECK(ds.tokens == NULL);          /* moved */
	CHECK_OK(trainer_build(&tr, &err), &err);
	for (int s = 0, rc = ADA_OK; s < 30 && !rc; s++) {
		struct step_out so = { 0 };
		rc = trainer_step(&tr, &so, &err);
		CHECK_OK(rc, &err);
		last = so.nll_sum / (double)so.n_targets;
		if (!s)
			first = last;
	}
	CHECK_MSG(last < first - 0.5, "loss %g -> %g", first, last);
	trainer_release(&tr);

	ds.seq_len = T + 1;
	ds.tokens = calloc(1, sizeof(*ds.tokens));
	ds.mask = calloc(1, 1);
	CHECK_OK(model_load(model_path, NULL, &model, &err), &err);
	CHECK_INT_EQ(trainer_setup_lm(&tr, &job, model, &ds, NULL, &err), ADA_EINVAL);
	CHECK(ds.tokens == NULL);
	trainer_release(&tr);
}

static void test_errors(void)
{
	char out[4300], empty[4300], broken[4300];
	struct ada_job job;
	struct ada_err err = { 0 };
	char *buf = NULL;
	size_t len;

	snprintf(out, sizeof(out), "%s/errors", tmp);
	base_job(&job, ADA_METHOD_LORA, out);
	job.method.hp.seq_len = 512;           /* the tiny model's context is 256 */
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.lora.hyperparameters.seq_len");

	snprintf(empty, sizeof(empty), "%s/empty.txt", tmp);
	CHECK_OK(file_write_atomic(empty, "\n\n  \n", 5, &err), &err);
	base_job(&job, ADA_METHOD_LORA, out);
	job.train_file = empty;
	CHECK(ada_train(&job, NULL, &err) != ADA_OK);
	CHECK_MSG(strstr(err.msg, "empty") != NULL, "empty dataset message: %s", err.msg);

	snprintf(broken, sizeof(broken), "%s/broken.gguf", tmp);
	CHECK_OK(file_read_all(model_path, &buf, &len, &err), &err);
	CHECK_OK(file_write_atomic(broken, buf, len / 2, &err), &err);
	free(buf);
	base_job(&job, ADA_METHOD_LORA, out);
	job.model = broken;
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "broken.gguf") != NULL);

	base_job(&job, ADA_METHOD_ADALORA, out);
	job.method.hp.max_steps = 0;
	job.method.hp.n_epochs = 1;
	job.method.hp.tinit = 1000;           /* more than the data's total steps */
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.adalora.hyperparameters.tfinal");
}

int main(void)
{
	struct ada_err err;

	tmp = check_tmpdir("trainer");
	snprintf(model_path, sizeof(model_path), "%s/tiny.gguf", tmp);
	snprintf(data_path, sizeof(data_path), "%s/train.txt", tmp);
	if (ada_create_model("tiny", 1, model_path, &err)) {
		fprintf(stderr, "create model: %s\n", err.msg);
		return 1;
	}
	if (task_write_corpus(data_path, 60, 7, &err)) {
		fprintf(stderr, "write the corpus: %s\n", err.msg);
		return 1;
	}
	RUN(test_resume_lora);
	RUN(test_resume_adalora);
	RUN(test_resume_full);
	RUN(test_resume_lora_prune);
	RUN(test_gradient_checkpointing);
	RUN(test_compaction_keeps_logits);
	RUN(test_setup_lm_in_memory);
	RUN(test_errors);
	RUN(test_resume_logged_loss);
	RUN(test_all_steps_nonfinite);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
