/*
 * test_seq2seq — sequence-to-sequence jobs through the daemon, offline: a
 * tiny random BART directory (config.json, model.safetensors, vocab.json
 * + merges.txt) and the synthetic task of reversing letters, all from
 * tests/support/tiny_bart.
 *   - GET /v1/models lists the BART directory (architecture "bart");
 *   - uploads of {"source","target"} and {"document","summary"} lines are
 *     recorded with their shape;
 *   - hostile creations are 400s naming the field: a task the model does
 *     not train, seq2seq on a decoder, text data for BART, lengths past
 *     the context, a method BART does not take, gradient checkpointing;
 *   - the generation hyperparameters of validation are checked at
 *     creation (400s naming generation_num_beams, generation_max_length,
 *     valid_generate_examples);
 *   - an AdaLoRA job succeeds: task seq2seq, validation events with the
 *     loss, the token accuracy and the ROUGE F-measures of the validation's
 *     beam-search decodes (valid_rouge1, valid_rouge2, valid_rougeL,
 *     valid_rougeLsum), metrics events and the job's metrics with them too,
 *     rank events and GET …/ranks with the encoder's and decoder's stacks
 *     (layer_groups, module_groups), the adapter downloaded (PEFT
 *     SEQ_2_SEQ_LM, decoder cross-attention keys) and it reads the same
 *     after a restart;
 *   - completions, chat completions and classifications refuse the BART
 *     base and the seq2seq job's model with a 400 naming "model" (an
 *     encoder-decoder is not served), and the daemon serves on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tiny_bart.h"

static struct daemon d;
static char *dir;
static char *train_file, *valid_file, *text_file, *job_id;

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

static json_t *adalora_hp(void)
{
	return json_pack("{s:i,s:i,s:f,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
			 "max_steps", 60, "batch_size", 16, "learning_rate", 0.03, "init_r", 6,
			 "target_r", 4, "tinit", 10, "tfinal", 20, "deltaT", 5, "log_every", 10,
			 "eval_every", 20, "checkpoint_every", 30, "warmup_steps", 5,
			 "valid_generate_examples", 12, "generation_num_beams", 2,
			 "generation_max_length", 16);
}

static const char *const rouge_keys[] = { "valid_rouge1", "valid_rouge2", "valid_rougeL",
					  "valid_rougeLsum" };

/* The four ROUGE F-measures of a validation, fractions. */
static void check_rouge(const json_t *o, const char *where)
{
	for (int k = 0; k < 4; k++) {
		const json_t *v = json_object_get(o, rouge_keys[k]);
		CHECK_MSG(json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1,
			  "%s: %s missing or out of [0, 1]", where, rouge_keys[k]);
	}
}

static long create(json_t *body, char *param, size_t cap, char **id)
{
	json_t *out = NULL;
	long st = http_json(&d, "POST", "/v1/fine_tuning/jobs", body, &out);
	const char *p = json_string_value(json_object_get(json_object_get(out, "error"), "param"));

	snprintf(param, cap, "%s", p ? p : "");
	if (st != 201)
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
	json_array_foreach(json_object_get(l, "data"), i, m)
		if (!strcmp(json_string_value(json_object_get(m, "id")), "bart")) {
			CHECK_STR_EQ(json_string_value(json_object_get(m, "architecture")), "bart");
			CHECK_STR_EQ(json_string_value(json_object_get(m, "format")), "hf");
			seen++;
		}
	CHECK_INT_EQ(seen, 1);
	json_decref(l);
}

static void test_uploads(void)
{
	char path[256];
	json_t *f = NULL;

	snprintf(path, sizeof(path), "/v1/files/%s", train_file);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &f), 200);
	json_decref(f);
	/* a line mixing the two namings is refused at upload, naming the line */
	{
		char *p = write_text(dir, "mixed.jsonl",
				     "{\"source\": \"a b\", \"target\": \"b a\"}\n"
				     "{\"source\": \"a\", \"summary\": \"b\"}\n");
		struct http_resp r;
		const char *headers[] = { "Content-Type: application/octet-stream", NULL };
		size_t len;
		char *body = read_file(p, &len);

		http(&d, "POST", "/v1/files?purpose=fine-tune&filename=mixed.jsonl", headers, body,
		     len, &r);
		CHECK_INT_EQ(r.status, 400);
		CHECK(r.body && strstr(r.body, "line 2"));
		http_resp_free(&r);
		free(body);
		free(p);
	}
}

static void test_hostile(void)
{
	char param[128];
	json_t *b;

	/* a task the model does not train, and seq2seq on a decoder */
	b = job_body("bart", train_file, valid_file, "adalora", adalora_hp());
	json_object_set_new(b, "task", json_string("causal_lm"));
	CHECK_INT_EQ(create(b, param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "task");
	b = job_body("bart", train_file, valid_file, "adalora", adalora_hp());
	json_object_set_new(b, "task", json_string("translation"));
	CHECK_INT_EQ(create(b, param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "task");
	b = job_body("tiny", text_file, NULL, "adalora", adalora_hp());
	json_object_set_new(b, "task", json_string("seq2seq"));
	CHECK_INT_EQ(create(b, param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "task");
	/* text lines for BART, in either file */
	CHECK_INT_EQ(create(job_body("bart", text_file, NULL, "adalora", adalora_hp()), param,
			    sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "training_file");
	CHECK_INT_EQ(create(job_body("bart", train_file, text_file, "adalora", adalora_hp()), param,
			    sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "validation_file");
	/* the tiny BART's context is 64 */
	CHECK_INT_EQ(create(job_body("bart", train_file, NULL, "lora",
				     json_pack("{s:i}", "max_target_length", 65)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.lora.hyperparameters.max_target_length");
	CHECK_INT_EQ(create(job_body("bart", train_file, NULL, "lora",
				     json_pack("{s:s}", "max_source_length", "long")),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.lora.hyperparameters.max_source_length");
	CHECK_INT_EQ(create(job_body("bart", train_file, NULL, "lora",
				     json_pack("{s:f}", "label_smoothing", 1.5)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.lora.hyperparameters.label_smoothing");
	/* what BART does not train with */
	CHECK_INT_EQ(create(job_body("bart", train_file, NULL, "bitfit", json_object()), param,
			    sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.type");
	CHECK_INT_EQ(create(job_body("bart", train_file, NULL, "lora",
				     json_pack("{s:b}", "gradient_checkpointing", 1)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.lora.hyperparameters.gradient_checkpointing");
	/* validation's generation: Seq2SeqTrainingArguments' names, checked */
	CHECK_INT_EQ(create(job_body("bart", train_file, NULL, "lora",
				     json_pack("{s:i}", "generation_num_beams", 0)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.lora.hyperparameters.generation_num_beams");
	CHECK_INT_EQ(create(job_body("bart", train_file, NULL, "lora",
				     json_pack("{s:i}", "generation_max_length", 66)),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.lora.hyperparameters.generation_max_length");
	CHECK_INT_EQ(create(job_body("bart", train_file, NULL, "lora",
				     json_pack("{s:s}", "valid_generate_examples", "most")),
			    param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "method.lora.hyperparameters.valid_generate_examples");
}

static const char *trained(void)
{
	char param[128];
	json_t *b, *job;

	if (job_id)
		return job_id;
	b = job_body("bart", train_file, valid_file, "adalora", adalora_hp());
	json_object_set_new(b, "task", json_string("seq2seq"));
	CHECK_INT_EQ(create(b, param, sizeof(param), &job_id), 201);
	if (!job_id)
		return NULL;
	job = wait_job(&d, job_id, 600);
	CHECK_STR_EQ(json_string_value(json_object_get(job, "status")), "succeeded");
	json_decref(job);
	return job_id;
}

static void check_job_object(void)
{
	char path[256];
	json_t *job = NULL, *m;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", job_id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &job), 200);
	m = json_object_get(job, "metrics");
	CHECK_STR_EQ(json_string_value(json_object_get(job, "status")), "succeeded");
	CHECK_STR_EQ(json_string_value(json_object_get(job, "task")), "seq2seq");
	CHECK(json_is_null(json_object_get(job, "classification")));
	CHECK(json_is_number(json_object_get(m, "valid_loss")));
	CHECK(json_is_number(json_object_get(m, "valid_accuracy")));
	CHECK(json_object_get(m, "valid_f1") == NULL);
	check_rouge(m, "the job's metrics");
	json_decref(job);
}

static char *get_body(const char *name, size_t *len)
{
	struct http_resp r;
	char path[256], *out;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/%s", job_id, name);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	out = malloc(r.len + 1);
	memcpy(out, r.body, r.len);
	out[r.len] = '\0';
	*len = r.len;
	http_resp_free(&r);
	return out;
}

/* The groups of a ranks object: encoder rows first, cross-attention
 * columns only adapted in decoder rows. */
static void check_groups(const json_t *r)
{
	const json_t *lg = json_object_get(r, "layer_groups"), *mg = json_object_get(r, "module_groups");
	const json_t *layers = json_object_get(r, "layers"), *modules = json_object_get(r, "modules");

	CHECK_INT_EQ(json_array_size(lg), 4);
	CHECK_INT_EQ(json_array_size(modules), 10);
	CHECK_INT_EQ(json_array_size(mg), 10);
	CHECK_STR_EQ(json_string_value(json_array_get(lg, 0)), "encoder");
	CHECK_STR_EQ(json_string_value(json_array_get(lg, 3)), "decoder");
	for (size_t c = 0; c < json_array_size(mg); c++) {
		const char *g = json_string_value(json_array_get(mg, c));
		const char *name = json_string_value(json_array_get(modules, c));
		if (!g || !name)
			continue;
		CHECK(!strcmp(g, strstr(name, "encoder_attn.") ? "encoder_attn" :
				 strstr(name, "self_attn.") ? "self_attn" : "ffn"));
		for (size_t l = 0; l < json_array_size(layers); l++) {
			const json_t *v = json_array_get(json_array_get(layers, l), c);
			const int enc = !strcmp(json_string_value(json_array_get(lg, l)), "encoder");
			if (!strcmp(g, "encoder_attn"))
				CHECK(enc ? json_is_null(v) : json_is_integer(v));
			else
				CHECK(json_is_integer(v));
		}
	}
}

static void test_job(void)
{
	struct sse_result s;
	json_t *e, *ranks = NULL, *cfg;
	char path[256], *st, *text;
	size_t i, len;
	int validations = 0, rank_events = 0, metrics_with_rouge = 0;

	if (!trained())
		return;
	check_job_object();
	sse_follow(&d, job_id, -1, 60, 100000, &s);
	CHECK_STR_EQ(s.done_status, "succeeded");
	json_array_foreach(s.events, i, e) {
		const json_t *data = json_object_get(e, "data");
		const char *msg = json_string_value(json_object_get(e, "message"));
		if (!strcmp(msg, "validation")) {
			validations++;
			CHECK(json_is_number(json_object_get(data, "valid_loss")));
			CHECK(json_is_number(json_object_get(data, "valid_accuracy")));
			check_rouge(data, "a validation event");
		}
		if (!strcmp(json_string_value(json_object_get(data, "kind")), "metrics"))
			metrics_with_rouge += json_is_number(json_object_get(data, "valid_rougeL"));
		if (!strcmp(msg, "ranks")) {
			rank_events++;
			check_groups(data);
		}
		if (!strcmp(json_string_value(json_object_get(data, "kind")), "status") &&
		    strstr(msg, "Files validated"))
			CHECK(strstr(msg, "seq2seq") != NULL);
	}
	/* before training, at 20 and 40, at the end */
	CHECK_MSG(validations >= 4, "%d validation events", validations);
	CHECK_MSG(metrics_with_rouge >= 6, "%d metrics events carry valid_rougeL",
		  metrics_with_rouge);
	CHECK(rank_events > 0);
	sse_result_free(&s);

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/ranks?history=true", job_id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &ranks), 200);
	check_groups(ranks);
	CHECK(json_array_size(json_object_get(ranks, "history")) > 1);
	json_decref(ranks);

	st = get_body("adapter_model.safetensors", &len);
	CHECK(memmem(st, len, "base_model.model.model.decoder.layers.1.encoder_attn.k_proj.lora_E",
		      strlen("base_model.model.model.decoder.layers.1.encoder_attn.k_proj.lora_E")));
	CHECK(memmem(st, len, "base_model.model.model.encoder.layers.0.fc1.lora_A",
		      strlen("base_model.model.model.encoder.layers.0.fc1.lora_A")));
	free(st);
	text = get_body("adapter_config.json", &len);
	cfg = json_loads(text, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(cfg, "task_type")), "SEQ_2_SEQ_LM");
	CHECK_STR_EQ(json_string_value(json_object_get(cfg, "peft_type")), "ADALORA");
	json_decref(cfg);
	free(text);
	/* no label map for a seq2seq adapter */
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/labels.json", job_id);
	CHECK_INT_EQ(http_status(&d, "GET", path, NULL), 404);
}

/* An encoder-decoder is not served: every inference route refuses it with
 * a 400 naming model, base or fine-tuned, and serving goes on. */
static void test_not_served(void)
{
	char ft[512];
	json_t *job = NULL, *out = NULL;
	char path[256];
	const char *routes[] = { "/v1/completions", "/v1/chat/completions", "/v1/classifications" };

	if (!trained())
		return;
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", job_id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &job), 200);
	snprintf(ft, sizeof(ft), "%s", json_string_value(json_object_get(job, "fine_tuned_model")));
	json_decref(job);
	for (int m = 0; m < 2; m++)
		for (int k = 0; k < 3; k++) {
			const char *model = m ? ft : "bart";
			json_t *body = k == 1 ? json_pack("{s:s,s:[{s:s,s:s}]}", "model", model, "messages",
							  "role", "user", "content", "a b c")
				     : k == 2 ? json_pack("{s:s,s:s}", "model", model, "input", "a b c")
					      : json_pack("{s:s,s:s,s:i}", "model", model, "prompt", "a b c",
							  "max_tokens", 4);
			const json_t *e;

			CHECK_INT_EQ(http_json(&d, "POST", routes[k], body, &out), 400);
			e = json_object_get(out, "error");
			CHECK_STR_EQ(json_string_value(json_object_get(e, "param")), "model");
			CHECK_MSG(strstr(json_string_value(json_object_get(e, "message")) ?: "",
					 "encoder-decoder") != NULL,
				  "%s with %s: %s", routes[k], model,
				  json_string_value(json_object_get(e, "message")));
			json_decref(out);
			out = NULL;
		}
	/* a decoder is still served */
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/completions",
			       json_pack("{s:s,s:s,s:i}", "model", "tiny", "prompt", "a", "max_tokens", 2),
			       &out), 200);
	json_decref(out);
}

static void test_restart(void)
{
	if (!trained())
		return;
	CHECK_INT_EQ(daemon_restart(&d, dir, NULL), 0);
	check_job_object();
}

int main(void)
{
	struct ada_err err = { 0 };
	char bart[2400], *path;
	char lines[2000] = "";

	dir = scratch_dir("seq2seq");
	models_create_tiny(dir);
	snprintf(bart, sizeof(bart), "%s/models/bart", dir);
	if (tiny_make_bart(bart, 3, &err))
		FATAL("%s", err.msg);
	path = malloc(strlen(dir) + 32);
	if (!path)
		FATAL("out of memory");
	sprintf(path, "%s/train.jsonl", dir);
	if (tiny_write_reverse(path, 300, 3, 6, 8, 1, 0, &err))
		FATAL("%s", err.msg);
	daemon_start(&d, dir, NULL);
	train_file = upload(&d, path, "train.jsonl");
	sprintf(path, "%s/valid.jsonl", dir);
	if (tiny_write_reverse(path, 30, 3, 6, 8, 2, 1, &err))   /* as XSum names them */
		FATAL("%s", err.msg);
	valid_file = upload(&d, path, "valid.jsonl");
	free(path);
	for (int i = 0; i < 30; i++)
		snprintf(lines + strlen(lines), sizeof(lines) - strlen(lines),
			 "{\"text\":\"the cat sat %d\"}\n", i);
	path = write_text(dir, "text.jsonl", lines);
	text_file = upload(&d, path, "text.jsonl");
	free(path);

	RUN(test_models);
	RUN(test_uploads);
	RUN(test_hostile);
	RUN(test_job);
	RUN(test_not_served);
	RUN(test_restart);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(train_file);
	free(valid_file);
	free(text_file);
	free(job_id);
	free(dir);
	return check_summary();
}
