/*
 * DeBERTa sequence classification end to end, on tiny DeBERTa-v3-shaped
 * checkpoints the test writes (tests/support: tiny_deberta_config, 2
 * layers, buckets 8, max_relative_positions 12; the task's WordPiece
 * vocab.txt, since the Unigram tokenizer of a real v3 directory is not what
 * this test is about):
 *   - AdaLoRA learns the synthetic zebra task (accuracy >= 0.9) with
 *     sequences longer than the bucket boundary; `adalora eval` on the
 *     exported adapter reproduces the trainer's validation metrics;
 *     regression learns too;
 *   - PEFT layout: task_type SEQ_CLS, modules_to_save ["classifier",
 *     "pooler"], the head under base_model.model.pooler.dense.* and
 *     classifier.*, low-rank weights under deberta.encoder.layer.N.
 *     attention.self.query_proj..., target_modules by those names;
 *   - export then import (--adapter) gives the trained network's logits
 *     back for every method, on shared keys and on separate
 *     pos_key_proj / pos_query_proj (which full fine-tuning and BitFit
 *     train and export by name);
 *   - gradient checkpointing is refused as for BERT; rank names are
 *     DeBERTa's;
 *   - ada_bench on an encoder times a classifier's steps.
 */
#include "check.h"

#include "adalora.h"
#include "adapter/export_peft.h"
#include "format/safetensors.h"
#include "infer/inference_net.h"
#include "net/trained_net.h"
#include "task_data.h"
#include "tiny_model.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

static char *tmp;
static char v3_dir[4200], sep_dir[4200];

static char *write_task(const char *name, int n, uint64_t seed, enum zebra_kind kind)
{
	char *path = path_join(tmp, name);
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
	job->method.hp.micro_batch_size = 4;
	job->method.hp.seq_len = 16;      /* distances to 15: bucketed and clipped */
	job->method.hp.learning_rate = t == ADA_METHOD_FULL ? 1e-3 : 1e-2;
	job->method.hp.log_every = 5;
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

/* Train; the loss falls; eval on the exported adapter agrees. */
static void check_learns(const char *label, struct ada_job *job, int regression,
			 double min_accuracy)
{
	char adapter[4500];
	struct ada_result res;
	struct ada_eval_result ev;
	struct ada_infer_opts o = { .model = job->model, .adapter = adapter };
	struct ada_err err = { 0 };

	snprintf(adapter, sizeof(adapter), "%s/adapter", job->out_dir);
	CHECK_OK(ada_train(job, &res, &err), &err);
	CHECK_INT_EQ(res.num_labels, regression ? 1 : 2);
	fprintf(stderr, "  %s: validation loss %.4f -> %.4f, %s %.3f\n", label,
		res.valid_loss_initial, res.valid_loss, regression ? "pearson" : "accuracy",
		regression ? res.glue.pearson : res.glue.accuracy);
	CHECK_MSG(res.valid_loss < res.valid_loss_initial, "%s: validation loss %g -> %g", label,
		  res.valid_loss_initial, res.valid_loss);
	if (!regression)
		CHECK_MSG(res.glue.accuracy >= min_accuracy, "%s: accuracy %g", label,
			  res.glue.accuracy);
	else
		CHECK_MSG(res.glue.pearson >= min_accuracy, "%s: pearson %g", label, res.glue.pearson);
	CHECK_OK(ada_eval(&o, job->valid_file, ADA_FILE_AUTO, 0, NULL, &ev, &err), &err);
	CHECK(ev.classification);
	CHECK_NEAR(ev.loss, res.valid_loss, 1e-5 * (1 + res.valid_loss));
	if (!regression)
		CHECK_MSG(ev.glue.accuracy == res.glue.accuracy && ev.glue.f1 == res.glue.f1,
			  "%s: eval %g/%g, trainer %g/%g", label, ev.glue.accuracy, ev.glue.f1,
			  res.glue.accuracy, res.glue.f1);
	else
		CHECK_NEAR(ev.glue.pearson, res.glue.pearson, 1e-5);
	ada_result_release(&res);
}

static void test_adalora_learns(void)
{
	char *train = write_task("train.jsonl", 240, 1, ZEBRA_INT);
	char *valid = write_task("valid.jsonl", 60, 2, ZEBRA_INT);
	char *rtrain = write_task("reg.jsonl", 240, 3, ZEBRA_REGRESSION);
	char *rvalid = write_task("reg_valid.jsonl", 60, 4, ZEBRA_REGRESSION);
	char out[4400];
	struct ada_job job;

	snprintf(out, sizeof(out), "%s/learn-adalora", tmp);
	base_job(&job, v3_dir, ADA_METHOD_ADALORA, train, valid, out);
	job.method.hp.max_steps = 150;
	job.method.hp.tinit = 20;
	job.method.hp.tfinal = 40;
	check_learns("deberta-v3 adalora", &job, 0, 0.9);

	snprintf(out, sizeof(out), "%s/learn-regression", tmp);
	base_job(&job, v3_dir, ADA_METHOD_ADALORA, rtrain, rvalid, out);
	job.method.hp.max_steps = 60;
	check_learns("deberta-v3 adalora, regression", &job, 1, 0.5);

	snprintf(out, sizeof(out), "%s/learn-separate-lora", tmp);
	base_job(&job, sep_dir, ADA_METHOD_LORA, train, valid, out);
	check_learns("deberta, separate position projections, lora", &job, 0, 0.6);
	free(train);
	free(valid);
	free(rtrain);
	free(rvalid);
}

/* ---- export / import ---------------------------------------------------- */

#define B 3
#define T 14
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

/* A classifier on model_path whose every trained value is moved off its
 * start by noise, exported to dir. 0 with *model and *tn the caller's. */
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

static void check_round_trip(const char *model_path, const char *name, enum ada_method_type t)
{
	struct inference_net loaded;
	struct ada_infer_opts o = { .model = model_path };
	struct model *model;
	struct trained_net tn;
	struct ada_err err = { 0 };
	struct rng r;
	char dir[4400];
	int32_t ids[B * T], len[B] = { T, 9, 1 };
	uint8_t types[B * T] = { 0 };
	float want[B * C], got[B * C];
	double maxdiff = 0;

	snprintf(dir, sizeof(dir), "%s/rt-%s-%s", tmp, name, ada_method_name(t));
	rng_seed(&r, 11);
	if (export_noisy(model_path, t, dir, &r, &model, &tn))
		return;
	for (int i = 0; i < B * T; i++)
		ids[i] = (int32_t)(5 + rng_below(&r, (uint64_t)model->cfg.vocab_size - 5));
	logits_of(&tn.cls, ids, types, len, want);

	o.adapter = dir;
	CHECK_OK(inference_net_open(&loaded, &o, &err), &err);
	CHECK(loaded.is_classifier);
	if (loaded.is_classifier) {
		logits_of(&loaded.cls, ids, types, len, got);
		for (int i = 0; i < B * C; i++) {
			double d = fabs((double)want[i] - got[i]);
			maxdiff = d > maxdiff ? d : maxdiff;
		}
		CHECK_MSG(maxdiff < 1e-5, "%s: logits differ by %g after export/import", dir, maxdiff);
		/* and the base alone differs: the adapter did something */
		CHECK(want[0] != 0 || want[1] != 0);
	}
	inference_net_close(&loaded);
	trained_net_release(&tn);
	model_free(model);
}

static void test_export_import(void)
{
	static const enum ada_method_type methods[] = {
		ADA_METHOD_LORA, ADA_METHOD_ADALORA, ADA_METHOD_LORA_PRUNE, ADA_METHOD_FULL,
		ADA_METHOD_BITFIT, ADA_METHOD_ADAPTER,
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		check_round_trip(v3_dir, "v3", methods[i]);
	check_round_trip(sep_dir, "separate", ADA_METHOD_FULL);
	check_round_trip(sep_dir, "separate", ADA_METHOD_BITFIT);
	check_round_trip(sep_dir, "separate", ADA_METHOD_ADALORA);
}

static void test_peft_layout(void)
{
	struct model *model;
	struct trained_net tn;
	struct safetensors *st = NULL;
	struct ada_err err = { 0 };
	struct rng r;
	char dir[4400], path[4500];
	json_t *cfg, *mts, *tm;

	snprintf(dir, sizeof(dir), "%s/layout-adalora", tmp);
	rng_seed(&r, 12);
	if (export_noisy(v3_dir, ADA_METHOD_ADALORA, dir, &r, &model, &tn))
		return;
	/* the rank matrix's columns carry DeBERTa's names */
	CHECK_STR_EQ(model_module_name(&model->cfg, BMOD_QUERY), "query_proj");
	CHECK_STR_EQ(model_module_name(&model->cfg, BMOD_INTER), "intermediate.dense");
	trained_net_release(&tn);
	model_free(model);

	snprintf(path, sizeof(path), "%s/adapter_config.json", dir);
	cfg = json_load_file(path, 0, NULL);
	CHECK(cfg != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(cfg, "task_type")), "SEQ_CLS");
	mts = json_object_get(cfg, "modules_to_save");
	CHECK_INT_EQ(json_array_size(mts), 2);
	CHECK_STR_EQ(json_string_value(json_array_get(mts, 0)), "classifier");
	CHECK_STR_EQ(json_string_value(json_array_get(mts, 1)), "pooler");
	tm = json_object_get(cfg, "target_modules");
	CHECK_INT_EQ(json_array_size(tm), 6);
	CHECK_STR_EQ(json_string_value(json_array_get(tm, 0)), "attention.self.query_proj");
	CHECK_STR_EQ(json_string_value(json_array_get(tm, 2)), "attention.self.value_proj");
	CHECK_STR_EQ(json_string_value(json_array_get(tm, 5)), "output.dense");
	CHECK(json_array_size(json_object_get(json_object_get(cfg, "rank_pattern"),
		"deberta.encoder.layer.1.attention.self.key_proj.lora_E")) == 4);
	json_decref(cfg);
	snprintf(path, sizeof(path), "%s/adapter_model.safetensors", dir);
	CHECK_OK(safetensors_open(path, &st, &err), &err);
	if (st) {
		CHECK(safetensors_find(st, "base_model.model.pooler.dense.weight") != NULL);
		CHECK(safetensors_find(st, "base_model.model.pooler.dense.bias") != NULL);
		CHECK(safetensors_find(st, "base_model.model.classifier.weight") != NULL);
		CHECK(safetensors_find(st, "base_model.model.classifier.bias") != NULL);
		CHECK(safetensors_find(st, "base_model.model.deberta.encoder.layer.0.attention.self.query_proj.lora_A") != NULL);
		CHECK(safetensors_find(st, "base_model.model.deberta.encoder.layer.1.output.dense.lora_E") != NULL);
		safetensors_close(st);
	}

	/* full fine-tuning names the table and the position projections */
	snprintf(dir, sizeof(dir), "%s/layout-full", tmp);
	if (export_noisy(sep_dir, ADA_METHOD_FULL, dir, &r, &model, &tn))
		return;
	trained_net_release(&tn);
	model_free(model);
	snprintf(path, sizeof(path), "%s/adapter_model.safetensors", dir);
	CHECK_OK(safetensors_open(path, &st, &err), &err);
	if (st) {
		CHECK(safetensors_find(st, "base_model.model.deberta.encoder.rel_embeddings.weight") != NULL);
		CHECK(safetensors_find(st, "base_model.model.deberta.encoder.LayerNorm.bias") != NULL);
		CHECK(safetensors_find(st, "base_model.model.deberta.encoder.layer.1.attention.self.pos_key_proj.weight") != NULL);
		CHECK(safetensors_find(st, "base_model.model.deberta.encoder.layer.0.attention.self.pos_query_proj.bias") != NULL);
		CHECK(safetensors_find(st, "base_model.model.deberta.embeddings.position_embeddings.weight") == NULL);
		CHECK(safetensors_find(st, "base_model.model.deberta.embeddings.token_type_embeddings.weight") == NULL);
		safetensors_close(st);
	}
}

static void test_refusals(void)
{
	struct ada_model_info info;
	struct ada_method m;
	struct ada_err err = { 0 };

	CHECK_OK(ada_model_probe(v3_dir, &info, &err), &err);
	CHECK_STR_EQ(info.architecture, "deberta-v2");
	CHECK_INT_EQ(info.family, ADA_FAMILY_BERT);
	CHECK(info.has_tokenizer);
	ada_method_defaults(ADA_METHOD_ADALORA, &m);
	m.hp.seq_len = 16;
	m.hp.gradient_checkpointing = 1;
	CHECK_INT_EQ(ada_method_check_model(&m, &info, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.adalora.hyperparameters.gradient_checkpointing");
}

/* `adalora bench` on an encoder: a classifier's steps (tiny here; the
 * deberta-v3-base and bert-base shapes are the lead's to measure). */
static void test_bench(void)
{
	struct ada_bench_opts o = { .model = v3_dir, .method = ADA_METHOD_ADALORA, .batch = 2,
				    .seq = 16, .steps = 2, .warmup = 1, .threads = 2 };
	struct net_spec spec = { .task = ADA_TASK_CLASSIFICATION, .n_labels = 2 };
	struct ada_bench_result res;
	struct ada_method m;
	struct model *model = NULL;
	struct ada_err err = { 0 };
	int64_t n = -1;

	CHECK_OK(ada_bench(&o, &res, &err), &err);
	CHECK(res.tokens_per_s > 0 && res.flops_per_step > 0 && res.activation_bytes > 0);
	CHECK(isfinite(res.final_loss) && res.final_loss > 0);
	CHECK_OK(model_load(v3_dir, NULL, &model, &err), &err);
	if (model) {
		ada_method_defaults(ADA_METHOD_ADALORA, &m);
		m.hp.init_r = 12;   /* bench.c's: the PyTorch peer's */
		CHECK_OK(trained_net_count(model, &m, &spec, &n, &err), &err);
		CHECK_INT_EQ(res.trainable_params, n);
		model_free(model);
	}
	o.seq = 41;
	CHECK_INT_EQ(ada_bench(&o, &res, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "seq");
	o.seq = 16;
	o.gradient_checkpointing = 1;
	CHECK_INT_EQ(ada_bench(&o, &res, &err), ADA_EINVAL);
}

int main(void)
{
	struct ada_err err = { 0 };
	struct model_config cfg;
	struct model *m = NULL;

	tmp = check_tmpdir("deberta_classify");
	snprintf(v3_dir, sizeof(v3_dir), "%s/deberta-v3", tmp);
	snprintf(sep_dir, sizeof(sep_dir), "%s/deberta-separate", tmp);
	if (task_make_encoder("deberta-v2", 3, v3_dir, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	/* separate pos_key_proj / pos_query_proj, the same vocabulary */
	tiny_deberta_config(&cfg);
	cfg.deberta.share_att_key = 0;
	if (tiny_bert_random(&cfg, 4, &m) || tiny_write_bert_hf(m, sep_dir, NULL, &err) ||
	    task_write_vocab(sep_dir, cfg.vocab_size, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	model_free(m);
	RUN(test_refusals);
	RUN(test_peft_layout);
	RUN(test_export_import);
	RUN(test_adalora_learns);
	RUN(test_bench);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
