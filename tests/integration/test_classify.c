/*
 * test_classify — classification jobs through the daemon, offline: a tiny
 * random Llama (ada_create_model "tiny", byte tokenizer) and a tiny random
 * BERT directory with a WordPiece vocab.txt, on the synthetic zebra task
 * (label: does "zebra" occur in the text?), all from tests/support.
 *   - GET /v1/models lists the BERT directory with its architecture;
 *   - hostile creations are 400s naming the field: validation labels the
 *     training file never had (a string, an id past the count), one file
 *     labelled and the other not, an encoder on unlabelled data, a bitfit
 *     hyperparameter bitfit does not have;
 *   - an AdaLoRA classifier on the Llama with string labels succeeds: its
 *     metrics and validation events carry valid_accuracy, the job says task
 *     classification, num_labels 2 and the label map, the adapter holds
 *     the head (PEFT's modules_to_save key) and labels.json the map;
 *   - AdaLoRA on BERT: rank events and GET …/ranks name BERT's six modules;
 *     bitfit and adapter train through the API too;
 *   - AdaLoRA on a tiny DeBERTa-v3 directory: listed as deberta-v2, its
 *     ranks by DeBERTa's names (query_proj, ...), the adapter holds the
 *     ContextPooler and the classifier (modules_to_save classifier,
 *     pooler); gradient checkpointing is a 400 naming the field;
 *   - all of it reads the same after a restart.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "task_data.h"

static struct daemon d;
static char *dir;
static char *train_str, *valid_str, *valid_unseen, *train_int, *valid_past, *text_file;
static char *llama_job, *bert_job, *deberta_job;

/* dir/name: the zebra task (task_data.h); the caller frees. */
static char *write_task(const char *name, int n, uint64_t seed, enum zebra_kind kind,
			const char *last_label)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	struct ada_err err = { 0 };

	sprintf(path, "%s/%s", dir, name);
	if (task_write_zebra(path, n, seed, kind, last_label, &err))
		FATAL("%s", err.msg);
	return path;
}

/* A job body: method type with its hyperparameters (stolen). */
static json_t *job_body(const char *model, const char *train, const char *valid,
			const char *method, json_t *hp)
{
	json_t *b = json_pack("{s:s,s:s,s:i,s:{s:s,s:{s:o}}}", "model", model, "training_file",
			      train, "seed", 3, "method", "type", method, method,
			      "hyperparameters", hp);

	if (valid)
		json_object_set_new(b, "validation_file", json_string(valid));
	return b;
}

static json_t *adalora_hp(int seq_len)
{
	return json_pack("{s:i,s:i,s:i,s:f,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "max_steps", 40,
			 "seq_len", seq_len, "batch_size", 8, "learning_rate", 0.01, "init_r", 4,
			 "target_r", 2, "tinit", 5, "tfinal", 10, "deltaT", 5, "log_every", 5,
			 "eval_every", 10, "checkpoint_every", 20, "warmup_steps", 2);
}

/* POST the job; the status, and the error's param in param (or ""). */
static long create(json_t *body, char *param, size_t cap, char **id)
{
	json_t *out = NULL;
	long st = http_json(&d, "POST", "/v1/fine_tuning/jobs", body, &out);
	const char *p = json_string_value(json_object_get(json_object_get(out, "error"), "param"));

	snprintf(param, cap, "%s", p ? p : "");
	if (st != 201 && st != 200)
		fprintf(stderr, "create: %ld %s\n", st,
			json_string_value(json_object_get(json_object_get(out, "error"), "message")));
	if (id)
		*id = st == 201 ? strdup(json_string_value(json_object_get(out, "id"))) : NULL;
	json_decref(out);
	return st;
}

static void test_models(void)
{
	json_t *l = NULL, *m;
	size_t i;
	int seen = 0;

	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models", NULL, &l), 200);
	json_array_foreach(json_object_get(l, "data"), i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));
		const char *arch = json_string_value(json_object_get(m, "architecture"));
		if (!strcmp(id, "enc")) {
			CHECK_STR_EQ(arch, "bert");
			CHECK_STR_EQ(json_string_value(json_object_get(m, "format")), "hf");
			seen++;
		} else if (!strcmp(id, "deb")) {
			CHECK_STR_EQ(arch, "deberta-v2");
			CHECK_STR_EQ(json_string_value(json_object_get(m, "format")), "hf");
			seen++;
		} else if (!strcmp(id, "tiny")) {
			CHECK_STR_EQ(arch, "llama");
			seen++;
		}
	}
	CHECK_INT_EQ(seen, 3);
	json_decref(l);
}

static void test_hostile(void)
{
	char param[128];

	/* A validation label the training data never had. */
	CHECK_INT_EQ(create(job_body("tiny", train_str, valid_unseen, "adalora", adalora_hp(32)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "validation_file");
	/* Integer ids: 0..1 in training, 2 in validation (the count changed). */
	CHECK_INT_EQ(create(job_body("enc", train_int, valid_past, "lora",
				     json_pack("{s:i}", "seq_len", 16)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "validation_file");
	/* Labelled training, unlabelled validation, and the other way round. */
	CHECK_INT_EQ(create(job_body("tiny", train_str, text_file, "lora", json_object()), param,
			    sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "validation_file");
	CHECK_INT_EQ(create(job_body("tiny", text_file, valid_str, "lora", json_object()), param,
			    sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "validation_file");
	/* An encoder trains classifiers only. */
	CHECK_INT_EQ(create(job_body("enc", text_file, NULL, "lora", json_pack("{s:i}", "seq_len", 16)), param,
			    sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "training_file");
	/* bitfit and adapter are methods of the API, with their own fields. */
	CHECK_INT_EQ(create(job_body("enc", train_int, NULL, "bitfit", json_pack("{s:i}", "r", 4)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.bitfit.hyperparameters.r");
	CHECK_INT_EQ(create(job_body("enc", train_int, NULL, "adapter",
				     json_pack("{s:i}", "adapter_size", 0)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.adapter.hyperparameters.adapter_size");
}

/* Every event of a finished job, oldest first. */
static json_t *all_events(const char *job)
{
	struct sse_result s;
	json_t *ev;

	sse_follow(&d, job, -1, 60, 100000, &s);
	CHECK_STR_EQ(s.done_status, "succeeded");
	ev = json_incref(s.events);
	sse_result_free(&s);
	return ev;
}

static char *get_body(const char *job, const char *name, size_t *len)
{
	struct http_resp r;
	char path[256], *out;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/%s", job, name);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	out = malloc(r.len + 1);
	memcpy(out, r.body, r.len);
	out[r.len] = '\0';
	*len = r.len;
	http_resp_free(&r);
	return out;
}

/* The safetensors header (JSON after an 8-byte length) names key. */
static int has_tensor(const char *st, size_t len, const char *key)
{
	uint64_t n = 0;
	char quoted[256];

	if (len < 8)
		return 0;
	memcpy(&n, st, 8);
	if (n > len - 8)
		return 0;
	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	return memmem(st + 8, n, quoted, strlen(quoted)) != NULL;
}

static int has_string(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

/* The job object of a finished classifier (and after a restart). */
static void check_job_object(const json_t *job, const char *kind, int labels)
{
	const json_t *c = json_object_get(job, "classification");
	const json_t *m = json_object_get(job, "metrics");
	double acc = json_number_value(json_object_get(m, "valid_accuracy"));

	CHECK_STR_EQ(json_string_value(json_object_get(job, "status")), "succeeded");
	CHECK_STR_EQ(json_string_value(json_object_get(job, "task")), "classification");
	CHECK_INT_EQ(json_integer_value(json_object_get(c, "num_labels")), 2);
	CHECK_STR_EQ(json_string_value(json_object_get(c, "label_kind")), kind);
	if (labels) {
		CHECK_INT_EQ(json_array_size(json_object_get(c, "labels")), 2);
		CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(c, "labels"), 0)),
			     "negative");
		CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(c, "labels"), 1)),
			     "positive");
	} else {
		CHECK(json_is_null(json_object_get(c, "labels")));
	}
	CHECK(json_integer_value(json_object_get(c, "train_examples")) > 0);
	CHECK(json_integer_value(json_object_get(c, "valid_examples")) > 0);
	CHECK(json_is_integer(json_object_get(json_object_get(c, "truncated"), "train")));
	CHECK(json_is_integer(json_object_get(json_object_get(c, "truncated"), "valid")));
	CHECK_MSG(json_is_number(json_object_get(m, "valid_accuracy")) && acc >= 0 && acc <= 1,
		  "metrics.valid_accuracy %g", acc);
	CHECK(json_object_get(m, "valid_pearson") == NULL);
	CHECK(json_is_number(json_object_get(m, "valid_loss")));
	{
		const json_t *files = json_object_get(job, "result_files");
		const char *last = json_string_value(json_array_get(files, json_array_size(files) - 1));
		CHECK_MSG(last && strstr(last, "/adapter/labels.json"), "result_files ends with %s",
			  last ? last : "(none)");
	}
}

static json_t *get_job(const char *id)
{
	char path[256];
	json_t *job = NULL;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &job), 200);
	return job;
}

/* An AdaLoRA job trained to its end, made by the first test that needs it
 * (so each test stands alone): *id, or NULL after a failed CHECK. */
static const char *trained(char **id, json_t *body)
{
	char param[128];

	if (!*id) {
		CHECK_INT_EQ(create(body, param, sizeof(param), id), 201);
		if (*id)
			json_decref(wait_job(&d, *id, 600));
	} else {
		json_decref(body);
	}
	return *id;
}

/* The Llama classifier, string labels, a validation file. */
static const char *llama_classifier(void)
{
	return trained(&llama_job, job_body("tiny", train_str, valid_str, "adalora", adalora_hp(32)));
}

/* The BERT classifier, integer labels, validation held out. */
static const char *bert_classifier(void)
{
	return trained(&bert_job, job_body("enc", train_int, NULL, "adalora", adalora_hp(16)));
}

static void test_llama_classifier(void)
{
	char path[256];
	json_t *job, *ev, *e, *ranks = NULL;
	size_t i, len;
	int metrics_acc = 0, validations = 0;
	char *st, *cfg_text, *labels_text;
	json_t *cfg;

	if (!llama_classifier())
		return;
	job = get_job(llama_job);
	check_job_object(job, "string", 1);
	json_decref(job);

	ev = all_events(llama_job);
	json_array_foreach(ev, i, e) {
		const json_t *data = json_object_get(e, "data");
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		if (!strcmp(type, "metrics") && json_is_number(json_object_get(data, "valid_accuracy")))
			metrics_acc++;
		if (!strcmp(msg, "validation")) {
			validations++;
			CHECK(json_is_number(json_object_get(data, "valid_accuracy")));
			CHECK(json_is_number(json_object_get(data, "valid_loss")));
		}
		if (!strcmp(msg, "ranks"))
			CHECK_INT_EQ(json_array_size(json_object_get(data, "modules")), 7);
	}
	/* Evaluations before training, at 10, 20, 30 and at the end. */
	CHECK_MSG(validations >= 4, "%d validation events", validations);
	CHECK_MSG(metrics_acc >= 5, "%d metrics events with valid_accuracy", metrics_acc);
	json_decref(ev);

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/ranks", llama_job);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &ranks), 200);
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(ranks, "modules"), 4)), "gate");
	json_decref(ranks);

	/* The head is in the adapter under PEFT's modules_to_save key. */
	st = get_body(llama_job, "adapter_model.safetensors", &len);
	CHECK(has_tensor(st, len, "base_model.model.score.weight"));
	free(st);
	cfg_text = get_body(llama_job, "adapter_config.json", &len);
	cfg = json_loads(cfg_text, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(cfg, "task_type")), "SEQ_CLS");
	CHECK(has_string(json_object_get(cfg, "modules_to_save"), "score"));
	json_decref(cfg);
	free(cfg_text);
	labels_text = get_body(llama_job, "labels.json", &len);
	CHECK(strstr(labels_text, "\"positive\"") != NULL);
	free(labels_text);
}

/* AdaLoRA on BERT: six modules by BERT's names; then bitfit and adapter. */
static void test_bert(void)
{
	static const char *const names[] = { "query", "key", "value", "attention.output.dense",
					     "intermediate.dense", "output.dense" };
	char param[128], path[256], *id = NULL, *st, *cfg_text;
	json_t *job, *ranks = NULL, *cfg, *modules;
	size_t len;

	if (!bert_classifier())
		return;
	job = get_job(bert_job);
	check_job_object(job, "int", 0);
	json_decref(job);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/ranks?history=true", bert_job);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &ranks), 200);
	modules = json_object_get(ranks, "modules");
	CHECK_INT_EQ(json_array_size(modules), 6);
	for (size_t i = 0; i < 6; i++)
		CHECK_STR_EQ(json_string_value(json_array_get(modules, i)), names[i]);
	CHECK_INT_EQ(json_array_size(json_array_get(json_object_get(ranks, "layers"), 0)), 6);
	json_decref(ranks);
	st = get_body(bert_job, "adapter_model.safetensors", &len);
	CHECK(has_tensor(st, len, "base_model.model.classifier.weight"));
	free(st);

	for (int k = 0; k < 2; k++) {
		const char *method = k ? "adapter" : "bitfit";
		json_t *hp = json_pack("{s:i,s:i,s:i,s:f}", "max_steps", 10, "seq_len", 16,
				       "batch_size", 8, "learning_rate", 0.003);
		if (k)
			json_object_set_new(hp, "adapter_size", json_integer(8));
		CHECK_INT_EQ(create(job_body("enc", train_int, NULL, method, hp),
				    param, sizeof(param), &id), 201);
		if (!id)
			continue;
		job = wait_job(&d, id, 600);
		CHECK_STR_EQ(json_string_value(json_object_get(job, "status")), "succeeded");
		CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(job, "method"), "type")),
			     method);
		json_decref(job);
		cfg_text = get_body(id, "adapter_config.json", &len);
		cfg = json_loads(cfg_text, 0, NULL);
		CHECK_STR_EQ(json_string_value(json_object_get(cfg, "peft_type")),
			     k ? "BOTTLENECK" : "BITFIT");
		json_decref(cfg);
		free(cfg_text);
		free(id);
		id = NULL;
	}
}

/* AdaLoRA on DeBERTa: its six modules by DeBERTa's names, its head. */
static void test_deberta(void)
{
	static const char *const names[] = { "query_proj", "key_proj", "value_proj",
					     "attention.output.dense", "intermediate.dense",
					     "output.dense" };
	char param[128], path[256], *st, *cfg_text;
	json_t *job, *ranks = NULL, *cfg, *hp;
	size_t len;

	hp = adalora_hp(16);
	json_object_set_new(hp, "gradient_checkpointing", json_true());
	CHECK_INT_EQ(create(job_body("deb", train_int, NULL, "adalora", hp), param, sizeof(param),
			    NULL), 400);
	CHECK_STR_EQ(param, "method.adalora.hyperparameters.gradient_checkpointing");
	if (!trained(&deberta_job, job_body("deb", train_int, NULL, "adalora", adalora_hp(16))))
		return;
	job = get_job(deberta_job);
	check_job_object(job, "int", 0);
	json_decref(job);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/ranks", deberta_job);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &ranks), 200);
	CHECK_INT_EQ(json_array_size(json_object_get(ranks, "modules")), 6);
	for (size_t i = 0; i < 6; i++)
		CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(ranks, "modules"), i)),
			     names[i]);
	json_decref(ranks);
	st = get_body(deberta_job, "adapter_model.safetensors", &len);
	CHECK(has_tensor(st, len, "base_model.model.pooler.dense.weight"));
	CHECK(has_tensor(st, len, "base_model.model.classifier.weight"));
	CHECK(has_tensor(st, len,
			 "base_model.model.deberta.encoder.layer.0.attention.self.query_proj.lora_A"));
	free(st);
	cfg_text = get_body(deberta_job, "adapter_config.json", &len);
	cfg = json_loads(cfg_text, 0, NULL);
	CHECK(has_string(json_object_get(cfg, "modules_to_save"), "classifier"));
	CHECK(has_string(json_object_get(cfg, "modules_to_save"), "pooler"));
	json_decref(cfg);
	free(cfg_text);
}

/* The finished classifiers read the same from the store after a restart. */
static void test_restart(void)
{
	json_t *job;

	if (!llama_classifier() || !bert_classifier())
		return;
	CHECK_INT_EQ(daemon_restart(&d, dir, NULL), 0);
	job = get_job(llama_job);
	check_job_object(job, "string", 1);
	json_decref(job);
	job = get_job(bert_job);
	check_job_object(job, "int", 0);
	json_decref(job);
}

static char *upload_task(const char *name, int n, uint64_t seed, enum zebra_kind kind,
			 const char *last_label)
{
	char *path = write_task(name, n, seed, kind, last_label), *id = upload(&d, path, name);

	free(path);
	return id;
}

int main(void)
{
	char lines[2000] = "", *path;

	dir = scratch_dir("classify");
	models_create_tiny(dir);
	{
		struct ada_err err = { 0 };
		char enc[2400];
		snprintf(enc, sizeof(enc), "%s/models/enc", dir);
		if (task_make_encoder("bert", 5, enc, &err))
			FATAL("%s", err.msg);
		snprintf(enc, sizeof(enc), "%s/models/deb", dir);
		if (task_make_encoder("deberta-v2", 6, enc, &err))
			FATAL("%s", err.msg);
	}
	daemon_start(&d, dir, NULL);
	train_str = upload_task("train_str.jsonl", 160, 1, ZEBRA_STRING, NULL);
	valid_str = upload_task("valid_str.jsonl", 40, 2, ZEBRA_STRING, NULL);
	valid_unseen = upload_task("valid_unseen.jsonl", 40, 3, ZEBRA_STRING, "\"maybe\"");
	train_int = upload_task("train_int.jsonl", 160, 4, ZEBRA_INT, NULL);
	valid_past = upload_task("valid_past.jsonl", 40, 5, ZEBRA_INT, "2");
	for (int i = 0; i < 40; i++)
		snprintf(lines + strlen(lines), sizeof(lines) - strlen(lines),
			 "{\"text\":\"the cat sat on the mat %d\"}\n", i);
	path = write_text(dir, "text.jsonl", lines);
	text_file = upload(&d, path, "text.jsonl");
	free(path);

	RUN(test_models);
	RUN(test_hostile);
	RUN(test_llama_classifier);
	RUN(test_bert);
	RUN(test_deberta);
	RUN(test_restart);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(train_str);
	free(valid_str);
	free(valid_unseen);
	free(train_int);
	free(valid_past);
	free(text_file);
	free(llama_job);
	free(bert_job);
	free(deberta_job);
	free(dir);
	return check_summary();
}
