/*
 * Sequence classification end to end, on models the test makes itself
 * (ada_create_model's tiny Llama with its byte tokenizer; tiny BERT and
 * RoBERTa checkpoints with the task's vocab.txt, tests/support/task_data):
 *   - every method (lora, adalora, lora_prune, full, bitfit, adapter) on
 *     each family learns a synthetic task (label: does "zebra" occur?),
 *     lowering the validation loss; `adalora eval` on the exported adapter
 *     reproduces the trainer's final validation metrics;
 *   - export then import gives the trained network's logits back, for
 *     every method on Llama, BERT and RoBERTa;
 *   - regression (float labels) with Pearson and Spearman; pairs;
 *   - stop at step k and resume: adapter bytes identical;
 *   - the task told by the data; errors: missing labels, mixed label
 *     kinds, a validation label outside the training labels, a pair longer
 *     than seq_len (truncated and counted), bitfit on a bias-free LM.
 */
#include "check.h"

#include "adalora.h"
#include "format/safetensors.h"
#include "infer/inference_net.h"
#include "adapter/export_peft.h"
#include "net/trained_net.h"
#include "scratch.h"
#include "stopper.h"
#include "task_data.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

static char *tmp;
static char llama_path[4200], bert_dir[4200], roberta_dir[4200];

static char *in_tmp(const char *name)
{
	return path_join(tmp, name);
}

/* tmp/name: the zebra task (task_data.h), n lines; the caller frees. */
static char *write_task(const char *name, int n, uint64_t seed, enum zebra_kind kind)
{
	char *path = in_tmp(name);
	struct ada_err err = { 0 };

	if (task_write_zebra(path, n, seed, kind, NULL, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	return path;
}

static void base_job(struct ada_job *job, const char *model, enum ada_method_type t,
		     const char *train, const char *valid, const char *out)
{
	int bert = model != llama_path;

	memset(job, 0, sizeof(*job));
	job->model = model;
	job->train_file = train;
	job->valid_file = valid;
	job->out_dir = out;
	job->seed = 7;
	job->threads = 2;
	ada_method_defaults(t, &job->method);
	job->method.hp.max_steps = 40;
	job->method.hp.batch_size = 8;
	job->method.hp.micro_batch_size = 4;     /* gradient accumulation too */
	job->method.hp.seq_len = bert ? 16 : 32;
	job->method.hp.learning_rate = t == ADA_METHOD_FULL ? 1e-3 : t == ADA_METHOD_ADAPTER ? 3e-3 : 1e-2;
	job->method.hp.log_every = 1;
	job->method.hp.checkpoint_every = 0;
	job->method.hp.warmup_steps = 2;
	job->method.hp.r = 4;
	job->method.hp.init_r = 4;
	job->method.hp.target_r = 2;
	job->method.hp.tinit = 5;
	job->method.hp.tfinal = 10;
	job->method.hp.delta_t = 5;
	job->method.hp.adapter_size = 8;
}

static int is_nan(double v)
{
	return v != v;
}

/* Train, check the loss fell, and that eval on the adapter agrees. */
static void check_learns(const char *model, enum ada_method_type t, const char *train,
			 const char *valid, int regression)
{
	char out[4400], adapter[4500];
	struct ada_job job;
	struct ada_result res;
	struct ada_eval_result ev;
	struct ada_infer_opts o = { .model = model, .adapter = adapter };
	struct ada_err err = { 0 };
	const char *fam = model == llama_path ? "llama" : model == bert_dir ? "bert" : "roberta";

	snprintf(out, sizeof(out), "%s/learn-%s-%s-%d", tmp, fam, ada_method_name(t), regression);
	snprintf(adapter, sizeof(adapter), "%s/adapter", out);
	base_job(&job, model, t, train, valid, out);
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.steps, 40);
	CHECK_INT_EQ(res.num_labels, regression ? 1 : 2);
	fprintf(stderr, "  %s %s%s: validation loss %.4f -> %.4f, %s %.3f\n", fam,
		ada_method_name(t), regression ? " (regression)" : "", res.valid_loss_initial,
		res.valid_loss, regression ? "pearson" : "accuracy",
		regression ? res.glue.pearson : res.glue.accuracy);
	CHECK_MSG(res.valid_loss < res.valid_loss_initial, "%s %s: validation loss %g -> %g", fam,
		  ada_method_name(t), res.valid_loss_initial, res.valid_loss);
	if (regression) {
		CHECK(is_nan(res.glue.accuracy) && !is_nan(res.glue.pearson) && !is_nan(res.glue.spearman));
	} else {
		CHECK(!is_nan(res.glue.accuracy) && is_nan(res.glue.pearson));
	}

	/* the exported adapter, evaluated alone, is the trained classifier */
	CHECK_OK(ada_eval(&o, valid, ADA_FILE_AUTO, 0, NULL, &ev, &err), &err);
	CHECK(ev.classification);
	CHECK_INT_EQ(ev.examples, 60);
	CHECK_NEAR(ev.loss, res.valid_loss, 1e-5 * (1 + res.valid_loss));
	if (regression) {
		CHECK_NEAR(ev.glue.pearson, res.glue.pearson, 1e-5);
		CHECK_NEAR(ev.glue.spearman, res.glue.spearman, 1e-5);
	} else {
		CHECK_MSG(ev.glue.accuracy == res.glue.accuracy && ev.glue.f1 == res.glue.f1 &&
			  (ev.glue.mcc == res.glue.mcc || (is_nan(ev.glue.mcc) && is_nan(res.glue.mcc))),
			  "%s %s: eval %g/%g/%g, trainer %g/%g/%g", fam, ada_method_name(t),
			  ev.glue.accuracy, ev.glue.f1, ev.glue.mcc, res.glue.accuracy, res.glue.f1, res.glue.mcc);
	}
	ada_result_release(&res);
}

static const enum ada_method_type all_methods[] = {
	ADA_METHOD_LORA, ADA_METHOD_ADALORA, ADA_METHOD_LORA_PRUNE, ADA_METHOD_FULL,
	ADA_METHOD_BITFIT, ADA_METHOD_ADAPTER,
};

static void test_every_method_learns(void)
{
	char *train = write_task("train.jsonl", 240, 1, ZEBRA_INT);
	char *valid = write_task("valid.jsonl", 60, 2, ZEBRA_INT);

	for (size_t i = 0; i < sizeof(all_methods) / sizeof(all_methods[0]); i++) {
		check_learns(llama_path, all_methods[i], train, valid, 0);
		check_learns(bert_dir, all_methods[i], train, valid, 0);
	}
	check_learns(roberta_dir, ADA_METHOD_ADALORA, train, valid, 0);
	free(train);
	free(valid);
}

/* A task the classifier must really learn, not only lean towards. */
static void test_accuracy(void)
{
	char *train = write_task("train.jsonl", 240, 1, ZEBRA_INT);
	char *valid = write_task("valid.jsonl", 60, 2, ZEBRA_INT);
	char out[4400];
	struct ada_job job;
	struct ada_result res;
	struct ada_err err = { 0 };

	snprintf(out, sizeof(out), "%s/accuracy", tmp);
	base_job(&job, bert_dir, ADA_METHOD_ADALORA, train, valid, out);
	job.method.hp.max_steps = 150;
	job.method.hp.tinit = 20;
	job.method.hp.tfinal = 40;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_MSG(res.glue.accuracy >= 0.9, "accuracy %g after 150 steps", res.glue.accuracy);
	CHECK(res.glue.mcc > 0.8 && res.glue.f1 > 0.85);
	ada_result_release(&res);
	free(train);
	free(valid);
}

static void test_regression_and_pairs(void)
{
	char *train = write_task("reg.jsonl", 240, 3, ZEBRA_REGRESSION);
	char *valid = write_task("reg_valid.jsonl", 60, 4, ZEBRA_REGRESSION);
	char *ptrain = write_task("pair.jsonl", 240, 5, ZEBRA_PAIRS);
	char *pvalid = write_task("pair_valid.jsonl", 60, 6, ZEBRA_PAIRS);

	check_learns(llama_path, ADA_METHOD_LORA, train, valid, 1);
	check_learns(bert_dir, ADA_METHOD_ADALORA, train, valid, 1);
	check_learns(bert_dir, ADA_METHOD_LORA, ptrain, pvalid, 0);
	check_learns(llama_path, ADA_METHOD_ADAPTER, ptrain, pvalid, 0);
	free(train);
	free(valid);
	free(ptrain);
	free(pvalid);
}

/* ---- export / import ---------------------------------------------------- */

#define B 3
#define T 12
#define C 3

static void logits_of(const struct classifier *c, const int32_t *ids, const uint8_t *types,
		      const int32_t *len, float *out)
{
	struct classifier_acts a;

	CHECK_OK(classifier_acts_init(&a, c, B, T, 2, 0), (struct ada_err *)NULL);
	CHECK_OK(classifier_forward(c, &a, ids, types, len, B, &(struct nn_step){ 0 }),
		 (struct ada_err *)NULL);
	memcpy(out, a.head.logits, sizeof(float) * B * C);
	classifier_acts_release(&a);
}

static const char *family(const char *model_path)
{
	return model_path == llama_path ? "llama" : model_path == bert_dir ? "bert" : "roberta";
}

/* A classifier on model_path whose every trained value is moved off its
 * start by noise from r (LoRA's B, a bottleneck's up start at 0), exported
 * to dir. 0 with *model and *tn the caller's to release, else -1. */
static int export_noisy(const char *model_path, enum ada_method_type t, const char *dir,
			struct rng *r, struct model **model, struct trained_net *tn)
{
	struct net_spec spec = { .task = ADA_TASK_CLASSIFICATION, .n_labels = C };
	struct label_map lm = { .kind = ADA_LABEL_INT, .n_labels = C };
	struct export_info info = { .base_model = model_path, .total_steps = 100, .labels = &lm,
				    .seq_len = T };
	struct ada_err err = { 0 };
	struct ada_method m;
	int rc;

	*model = NULL;
	CHECK_OK(rc = model_load(model_path, NULL, model, &err), &err);
	if (rc)
		return -1;
	ada_method_defaults(t, &m);
	m.hp.init_r = 4;
	m.hp.r = 3;
	m.hp.adapter_size = 5;
	CHECK_OK(rc = trained_net_build(tn, *model, &m, &spec, 5, 1, &err), &err);
	if (rc) {
		model_free(*model);
		return -1;
	}
	for (size_t i = 0; i < tn->arena.n; i++)
		tn->arena.w[i] += (float)(0.2 * rng_normal(r));
	CHECK_OK(export_peft(tn, &info, dir, &err), &err);
	return 0;
}

static void check_round_trip(const char *model_path, enum ada_method_type t)
{
	struct inference_net loaded;
	struct ada_infer_opts o = { .model = model_path };
	struct model *model;
	struct trained_net tn;
	struct ada_err err = { 0 };
	struct rng r;
	char dir[4400];
	int32_t ids[B * T], len[B] = { T, 7, 1 };
	uint8_t types[B * T];
	float want[B * C], got[B * C];
	double maxdiff = 0;

	snprintf(dir, sizeof(dir), "%s/rt-%s-%s", tmp, family(model_path), ada_method_name(t));
	rng_seed(&r, 11);
	if (export_noisy(model_path, t, dir, &r, &model, &tn))
		return;
	for (int i = 0; i < B * T; i++) {
		ids[i] = (int32_t)(5 + rng_below(&r, (uint64_t)model->cfg.vocab_size - 5));
		types[i] = model->cfg.type_vocab_size > 1 && i % T >= T / 2;
	}
	logits_of(&tn.cls, ids, types, len, want);

	o.adapter = dir;
	CHECK_OK(inference_net_open(&loaded, &o, &err), &err);
	CHECK(loaded.is_classifier);
	CHECK_INT_EQ(loaded.adapter.n_labels, C);
	CHECK_INT_EQ(loaded.adapter.seq_len, T);
	if (loaded.is_classifier) {
		logits_of(&loaded.cls, ids, types, len, got);
		for (int i = 0; i < B * C; i++) {
			double d = fabs((double)want[i] - got[i]);
			maxdiff = d > maxdiff ? d : maxdiff;
		}
		CHECK_MSG(maxdiff < 1e-5, "%s: logits differ by %g after export/import", dir, maxdiff);
	}
	inference_net_close(&loaded);
	trained_net_release(&tn);
	model_free(model);
}

static void test_export_import(void)
{
	const char *models[] = { llama_path, bert_dir, roberta_dir };

	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < sizeof(all_methods) / sizeof(all_methods[0]); i++)
			check_round_trip(models[k], all_methods[i]);
}

/* layout-<family>-<method>: an adapter of this test's own to look into. */
static const char *layout_export(const char *model_path, enum ada_method_type t, const char *file)
{
	static char path[4600];
	char dir[4400];
	struct model *model;
	struct trained_net tn;
	struct rng r;

	snprintf(dir, sizeof(dir), "%s/layout-%s-%s", tmp, family(model_path), ada_method_name(t));
	rng_seed(&r, 12);
	if (!export_noisy(model_path, t, dir, &r, &model, &tn)) {
		trained_net_release(&tn);
		model_free(model);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return path;
}

/* What PEFT needs to find: the head as modules_to_save, BERT module paths. */
static void test_peft_layout(void)
{
	const char *path;
	json_t *cfg, *rp;
	struct safetensors *st = NULL;
	struct ada_err err = { 0 };

	path = layout_export(bert_dir, ADA_METHOD_ADALORA, "adapter_config.json");
	cfg = json_load_file(path, 0, NULL);
	CHECK(cfg != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(cfg, "task_type")), "SEQ_CLS");
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(cfg, "modules_to_save"), 0)),
		     "classifier");
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(cfg, "target_modules"), 3)),
		     "attention.output.dense");
	rp = json_object_get(cfg, "rank_pattern");
	CHECK(json_array_size(json_object_get(rp, "bert.encoder.layer.1.output.dense.lora_E")) == 4);
	json_decref(cfg);
	path = layout_export(bert_dir, ADA_METHOD_ADALORA, "adapter_model.safetensors");
	CHECK_OK(safetensors_open(path, &st, &err), &err);
	if (st) {
		CHECK(safetensors_find(st, "base_model.model.classifier.weight") != NULL);
		CHECK(safetensors_find(st, "base_model.model.classifier.bias") != NULL);
		CHECK(safetensors_find(st, "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A") != NULL);
		safetensors_close(st);
	}
	path = layout_export(llama_path, ADA_METHOD_LORA, "adapter_config.json");
	cfg = json_load_file(path, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(cfg, "modules_to_save"), 0)),
		     "score");
	json_decref(cfg);
	path = layout_export(roberta_dir, ADA_METHOD_LORA, "adapter_model.safetensors");
	CHECK_OK(safetensors_open(path, &st, &err), &err);
	if (st) {
		CHECK(safetensors_find(st, "base_model.model.classifier.out_proj.weight") != NULL);
		CHECK(safetensors_find(st, "base_model.model.classifier.dense.bias") != NULL);
		safetensors_close(st);
	}
	path = layout_export(bert_dir, ADA_METHOD_BITFIT, "adapter_config.json");
	cfg = json_load_file(path, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(cfg, "peft_type")), "BITFIT");
	json_decref(cfg);
	path = layout_export(bert_dir, ADA_METHOD_ADAPTER, "adapter_model.safetensors");
	CHECK_OK(safetensors_open(path, &st, &err), &err);
	if (st) {
		CHECK(safetensors_find(st, "base_model.model.bert.encoder.layer.1.output.adapter.up.weight") != NULL);
		CHECK(safetensors_find(st, "base_model.model.bert.encoder.layer.0.attention.output.LayerNorm.bias") != NULL);
		safetensors_close(st);
	}
}

/* ---- resume ------------------------------------------------------------- */

static void check_resume(const char *model, enum ada_method_type t, int64_t stop_at)
{
	char *train = write_task("train.jsonl", 240, 1, ZEBRA_INT);
	char dir_a[4400], dir_b[4400], fa[4500], fb[4500], ra[4500], rb[4500];
	struct ada_job job;
	struct ada_result res, res_b;
	struct ada_err err = { 0 };
	struct stopper st;

	/* no validation file: the tail of the training file is held out */
	snprintf(dir_a, sizeof(dir_a), "%s/resume-a-%s-%lld", tmp, ada_method_name(t), (long long)stop_at);
	snprintf(dir_b, sizeof(dir_b), "%s/resume-b-%s-%lld", tmp, ada_method_name(t), (long long)stop_at);
	base_job(&job, model, t, train, NULL, dir_a);
	job.method.hp.lora_dropout = t == ADA_METHOD_ADALORA ? 0.1 : 0;
	job.method.hp.eval_every = 10;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.plan.valid_windows, 12);   /* 5% of 240 */

	base_job(&job, model, t, train, NULL, dir_b);
	job.method.hp.lora_dropout = t == ADA_METHOD_ADALORA ? 0.1 : 0;
	job.method.hp.eval_every = 10;
	stopper_attach(&st, &job, stop_at);
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_ESTOPPED);
	stopper_disarm(&st);
	job.resume = 1;
	CHECK_OK(ada_train(&job, &res_b, &err), &err);
	CHECK_INT_EQ(res_b.steps, 40);
	CHECK(res_b.glue.accuracy == res.glue.accuracy && res_b.valid_loss == res.valid_loss);
	CHECK(res_b.valid_loss_initial == res.valid_loss_initial);

	snprintf(fa, sizeof(fa), "%s/adapter/adapter_model.safetensors", dir_a);
	snprintf(fb, sizeof(fb), "%s/adapter/adapter_model.safetensors", dir_b);
	CHECK_MSG(files_same(fa, fb), "%s stopped at %lld: the adapter differs after resume",
		  ada_method_name(t), (long long)stop_at);
	snprintf(ra, sizeof(ra), "%s/adapter/labels.json", dir_a);
	snprintf(rb, sizeof(rb), "%s/adapter/labels.json", dir_b);
	CHECK(files_same(ra, rb));
	ada_result_release(&res);
	ada_result_release(&res_b);
	free(train);
}

static void test_resume(void)
{
	check_resume(llama_path, ADA_METHOD_ADALORA, 7);    /* before the freeze (step 30) */
	check_resume(llama_path, ADA_METHOD_ADALORA, 33);   /* after it: compacted */
	check_resume(bert_dir, ADA_METHOD_ADAPTER, 13);
}

/* ---- the task, and errors ----------------------------------------------- */

static void test_task_from_data(void)
{
	char *tsv = in_tmp("sst.tsv"), *text = in_tmp("plain.txt");
	char out[4400];
	struct ada_job job;
	struct ada_plan plan;
	struct ada_err err = { 0 };
	FILE *f = fopen(tsv, "w");
	struct rng r;

	rng_seed(&r, 9);
	fputs("sentence\tlabel\n", f);
	for (int i = 0; i < 40; i++)
		fprintf(f, "%s %s %s\t%d\n", task_words[rng_below(&r, TASK_N_WORDS)], i % 2 ? "zebra" : "sun",
			task_words[rng_below(&r, TASK_N_WORDS)], i % 2);
	fclose(f);
	file_write_atomic(text, "the cat sat on the mat.\n\nthe dog ran.\n", 37, NULL);
	snprintf(out, sizeof(out), "%s/task", tmp);

	base_job(&job, llama_path, ADA_METHOD_LORA, tsv, NULL, out);
	CHECK_OK(ada_job_plan(&job, &plan, &err), &err);
	CHECK_INT_EQ(plan.task, ADA_TASK_CLASSIFICATION);
	CHECK_INT_EQ(plan.num_labels, 2);
	CHECK_INT_EQ(plan.train_windows + plan.valid_windows, 40);
	job.task = ADA_TASK_CAUSAL_LM;
	job.data_format = ADA_FILE_GLUE_TSV;
	CHECK_INT_EQ(ada_job_plan(&job, &plan, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "data_format");

	base_job(&job, llama_path, ADA_METHOD_LORA, text, NULL, out);
	job.method.hp.seq_len = 8;
	CHECK_OK(ada_job_plan(&job, &plan, &err), &err);
	CHECK_INT_EQ(plan.task, ADA_TASK_CAUSAL_LM);

	/* an encoder has no causal LM */
	base_job(&job, bert_dir, ADA_METHOD_LORA, text, NULL, out);
	job.task = ADA_TASK_CAUSAL_LM;
	CHECK_INT_EQ(ada_job_plan(&job, &plan, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "task");
	free(tsv);
	free(text);
}

static void expect_train_error(const char *model, enum ada_method_type t, const char *train,
			       const char *valid, int code, const char *needle)
{
	char out[4400];
	struct ada_job job;
	struct ada_err err = { 0 };

	snprintf(out, sizeof(out), "%s/errors", tmp);
	base_job(&job, model, t, train, valid, out);
	CHECK_INT_EQ(ada_train(&job, NULL, &err), code);
	fprintf(stderr, "(expected) %s\n", err.msg);
	CHECK_MSG(strstr(err.msg, needle) != NULL, "error '%s' should mention '%s'", err.msg, needle);
}

static void test_errors(void)
{
	char *train = write_task("train.jsonl", 240, 1, ZEBRA_INT);
	char *missing = in_tmp("missing.jsonl"), *mixed = in_tmp("mixed.jsonl");
	char *outside = in_tmp("outside.jsonl"), *lm = in_tmp("lm.txt");
	const char *m1 = "{\"text\":\"the cat\",\"label\":1}\n{\"text\":\"a dog\"}\n";
	const char *m2 = "{\"text\":\"the cat\",\"label\":1}\n{\"text\":\"a dog\",\"label\":\"neg\"}\n";
	const char *m3 = "{\"text\":\"the cat\",\"label\":0}\n{\"text\":\"a zebra\",\"label\":2}\n";

	file_write_atomic(missing, m1, strlen(m1), NULL);
	file_write_atomic(mixed, m2, strlen(m2), NULL);
	file_write_atomic(outside, m3, strlen(m3), NULL);
	file_write_atomic(lm, "the cat sat on the mat\n", 23, NULL);
	expect_train_error(bert_dir, ADA_METHOD_LORA, missing, NULL, ADA_EFORMAT, "line 2");
	expect_train_error(bert_dir, ADA_METHOD_LORA, mixed, NULL, ADA_EFORMAT, "is a string but");
	/* the validation labels must be the training labels: 2 is not */
	expect_train_error(llama_path, ADA_METHOD_LORA, train, outside, ADA_EINVAL, "label count");
	expect_train_error(llama_path, ADA_METHOD_LORA, train, outside, ADA_EINVAL, "outside.jsonl");
	/* nothing for bitfit to train on a bias-free decoder's LM; the plan says so too */
	expect_train_error(llama_path, ADA_METHOD_BITFIT, lm, NULL, ADA_EINVAL, "no biases");
	{
		struct ada_job job;
		struct ada_plan plan;
		struct ada_err err = { 0 };
		char out[4400];
		snprintf(out, sizeof(out), "%s/errors", tmp);
		base_job(&job, llama_path, ADA_METHOD_BITFIT, lm, NULL, out);
		job.method.hp.seq_len = 8;
		CHECK_INT_EQ(ada_job_plan(&job, &plan, &err), ADA_EINVAL);
		CHECK_STR_EQ(err.param, "method.type");
		/* gate alone has no BERT counterpart: nothing to adapt */
		base_job(&job, bert_dir, ADA_METHOD_LORA, train, NULL, out);
		job.method.hp.target_modules = 1u << MOD_GATE;
		CHECK_INT_EQ(ada_job_plan(&job, &plan, &err), ADA_EINVAL);
		CHECK_STR_EQ(err.param, "method.lora.hyperparameters.target_modules");
	}
	free(train);
	free(missing);
	free(mixed);
	free(outside);
	free(lm);
}

/* Longer than seq_len: cut longest-first, counted, and trained on. */
static void test_truncation(void)
{
	char *train = in_tmp("long.jsonl");
	char out[4400];
	struct ada_job job;
	struct ada_result res;
	struct ada_err err = { 0 };
	FILE *f = fopen(train, "w");

	for (int i = 0; i < 40; i++)
		fprintf(f, "{\"text_a\":\"%s the cat sat on the mat and the dog ran to the big red ball\","
			   "\"text_b\":\"%s\",\"label\":%d}\n", i % 2 ? "zebra" : "sun",
			i % 3 ? "park" : "a sun in the park and a ball", i % 2);
	fclose(f);
	snprintf(out, sizeof(out), "%s/truncation", tmp);
	base_job(&job, bert_dir, ADA_METHOD_LORA, train, NULL, out);
	job.method.hp.max_steps = 5;
	job.method.hp.valid_fraction = 0.25;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.truncated_train + res.truncated_valid, 40);
	CHECK_INT_EQ(res.truncated_valid, 10);
	ada_result_release(&res);
	/* a seq_len that cannot even hold the special tokens is refused by name */
	base_job(&job, bert_dir, ADA_METHOD_LORA, train, NULL, out);
	job.method.hp.seq_len = 3;
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.lora.hyperparameters.seq_len");
	free(train);
}

int main(void)
{
	struct ada_err err;

	tmp = check_tmpdir("classify");
	snprintf(llama_path, sizeof(llama_path), "%s/tiny.gguf", tmp);
	snprintf(bert_dir, sizeof(bert_dir), "%s/bert", tmp);
	snprintf(roberta_dir, sizeof(roberta_dir), "%s/roberta", tmp);
	if (ada_create_model("tiny", 1, llama_path, &err)) {
		fprintf(stderr, "create model: %s\n", err.msg);
		return 1;
	}
	if (task_make_encoder("bert", 5, bert_dir, &err) ||
	    task_make_encoder("roberta", 5, roberta_dir, &err)) {
		fprintf(stderr, "make the encoders: %s\n", err.msg);
		return 1;
	}
	RUN(test_export_import);
	RUN(test_peft_layout);
	RUN(test_every_method_learns);
	RUN(test_accuracy);
	RUN(test_regression_and_pairs);
	RUN(test_resume);
	RUN(test_task_from_data);
	RUN(test_errors);
	RUN(test_truncation);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
