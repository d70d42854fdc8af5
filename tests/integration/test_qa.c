/* A question answering job through adalorad: upload SQuAD-format JSONL
 * (the zebra span task), create a job with task "question_answering" on a
 * tiny BERT encoder, follow it to the end; EM/F1 ride in the validation
 * and metrics events and the job's metrics; the adapter downloads in
 * PEFT's QUESTION_ANS layout with qa_outputs and qa.json. Creation refuses
 * what does not fit, naming the field: the task on a decoder, QA data for
 * a classification task, an unknown task name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "task_data.h"

static struct daemon d;
static char *dir;

static char *upload_qa(const char *name, int n, uint64_t seed)
{
	char path[2400];
	struct ada_err err = { 0 };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (task_write_qa(path, n, seed, 0, 0, &err))
		FATAL("%s", err.msg);
	return upload(&d, path, name);
}

static long create(json_t *body, char *param, size_t cap, char **id)
{
	json_t *out = NULL;
	long st = http_json(&d, "POST", "/v1/fine_tuning/jobs", body, &out);
	const char *p = json_string_value(json_object_get(json_object_get(out, "error"), "param"));

	snprintf(param, cap, "%s", p ? p : "");
	if (id)
		*id = st == 201 ? strdup(json_string_value(json_object_get(out, "id"))) : NULL;
	json_decref(out);
	return st;
}

static json_t *body(const char *model, const char *train, const char *valid, const char *task)
{
	json_t *b = json_pack(
		"{s:s,s:s,s:i,s:{s:s,s:{s:{s:i,s:i,s:i,s:f,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}}}}",
		"model", model, "training_file", train, "seed", 5, "method", "type", "adalora",
		"adalora", "hyperparameters", "max_steps", 160, "seq_len", 24, "batch_size", 16,
		"learning_rate", 0.02, "init_r", 4, "target_r", 2, "tinit", 20, "tfinal", 60,
		"deltaT", 5, "log_every", 20, "eval_every", 80, "checkpoint_every", 80,
		"warmup_steps", 5, "doc_stride", 4);

	if (valid)
		json_object_set_new(b, "validation_file", json_string(valid));
	if (task)
		json_object_set_new(b, "task", json_string(task));
	return b;
}

static void test_qa_job(void)
{
	char *train = upload_qa("train.jsonl", 400, 1), *valid = upload_qa("valid.jsonl", 60, 2);
	char param[128], *id = NULL, path[256];
	struct sse_result s;
	json_t *job = NULL;
	size_t i;
	json_t *ev;
	int validations = 0, metrics_with_f1 = 0;

	/* refused at creation, naming the field */
	CHECK_INT_EQ(create(body("tiny", train, valid, "question_answering"), param, sizeof(param),
			    NULL), 400);
	CHECK_STR_EQ(param, "task");
	CHECK_INT_EQ(create(body("enc", train, valid, "classification"), param, sizeof(param), NULL),
		     400);
	CHECK_STR_EQ(param, "training_file");
	CHECK_INT_EQ(create(body("enc", train, valid, "squad"), param, sizeof(param), NULL), 400);
	CHECK_STR_EQ(param, "task");

	CHECK_INT_EQ(create(body("enc", train, valid, "question_answering"), param, sizeof(param),
			    &id), 201);
	if (!id)
		goto out;
	sse_follow(&d, id, -1, 120, 100000, &s);
	CHECK_STR_EQ(s.done_status, "succeeded");
	json_array_foreach(s.events, i, ev) {
		const json_t *data = json_object_get(ev, "data");
		const char *kind = json_string_value(json_object_get(data, "kind"));
		if (kind && !strcmp(kind, "validation") &&
		    json_is_number(json_object_get(data, "valid_exact")) &&
		    json_is_number(json_object_get(data, "valid_f1")))
			validations++;
		if (kind && !strcmp(kind, "metrics") && json_is_number(json_object_get(data, "valid_f1")))
			metrics_with_f1++;
	}
	CHECK_MSG(validations >= 2, "%d validation events with EM/F1", validations);
	CHECK(metrics_with_f1 > 0);
	sse_result_free(&s);

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &job), 200);
	CHECK_STR_EQ(json_string_value(json_object_get(job, "task")), "question_answering");
	{
		const json_t *m = json_object_get(job, "metrics");
		double f1 = json_number_value(json_object_get(m, "valid_f1"));
		CHECK_MSG(json_is_number(json_object_get(m, "valid_exact")) && f1 >= 50 && f1 <= 100,
			  "job metrics valid_f1 %g", f1);
	}
	/* the adapter, downloaded */
	{
		struct http_resp r;
		json_t *cfg;

		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/adapter_config.json", id);
		http(&d, "GET", path, NULL, NULL, 0, &r);
		CHECK_INT_EQ(r.status, 200);
		cfg = json_loadb(r.body, r.len, 0, NULL);
		CHECK_STR_EQ(json_string_value(json_object_get(cfg, "task_type")), "QUESTION_ANS");
		CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(cfg, "modules_to_save"), 0)),
			     "qa_outputs");
		json_decref(cfg);
		http_resp_free(&r);
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/adapter_model.safetensors", id);
		http(&d, "GET", path, NULL, NULL, 0, &r);
		CHECK_INT_EQ(r.status, 200);
		CHECK(r.len > 8 && memmem(r.body, r.len, "base_model.model.qa_outputs.weight", 34));
		http_resp_free(&r);
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/qa.json", id);
		http(&d, "GET", path, NULL, NULL, 0, &r);
		CHECK_INT_EQ(r.status, 200);
		http_resp_free(&r);
	}
	json_decref(job);
out:
	free(id);
	free(train);
	free(valid);
}

int main(void)
{
	dir = scratch_dir("qa");
	models_create_tiny(dir);
	{
		struct ada_err err = { 0 };
		char enc[2400];
		snprintf(enc, sizeof(enc), "%s/models/enc", dir);
		if (task_make_encoder("bert", 5, enc, &err))
			FATAL("%s", err.msg);
	}
	daemon_start(&d, dir, NULL);
	RUN(test_qa_job);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(dir);
	return check_summary();
}
