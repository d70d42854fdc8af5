/*
 * objects — the API's JSON objects (job, event, file) from store rows, and
 * the event ids, which are derived rather than stored: an event is
 * "ftevent-<job token>-<n>", n its number within the job, so the id alone
 * says which job and where in its log it is.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

json_t *json_column(const char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;

	return v ? v : json_null();
}

static json_t *int_or_null(int64_t v, int64_t null_value)
{
	return v == null_value ? json_null() : json_integer(v);
}

static const char *job_token(const char *job_id)
{
	return strncmp(job_id, "ftjob-", 6) ? job_id : job_id + 6;
}

char *event_id(const char *job_id, int64_t seq, char *buf, size_t cap)
{
	snprintf(buf, cap, "ftevent-%s-%lld", job_token(job_id), (long long)seq);
	return buf;
}

int64_t event_id_parse(const char *job_id, const char *id)
{
	const char *tok = job_token(job_id);
	size_t n = strlen(tok);
	int64_t seq = 0;

	if (strncmp(id, "ftevent-", 8) || strncmp(id + 8, tok, n) || id[8 + n] != '-')
		return -1;
	id += 8 + n + 1;
	if (!*id || strlen(id) > 15)
		return -1;
	for (; *id; id++) {
		if (*id < '0' || *id > '9')
			return -1;
		seq = seq * 10 + (*id - '0');
	}
	return seq;
}

/* The kind of an event stored before events carried one (store.h), from
 * what marked it then: its type and its fixed messages. */
static const char *legacy_kind(const struct store_event *e)
{
	const char *msg = e->message ? e->message : "";

	if (!strcmp(e->type, "metrics"))
		return "metrics";
	if (!strcmp(msg, "ranks"))
		return "ranks";
	if (!strcmp(msg, "validation"))
		return "validation";
	if (!strncmp(msg, "Checkpoint saved", 16))
		return "checkpoint";
	return "log";
}

json_t *event_object(const char *job_id, const struct store_event *e)
{
	char id[STORE_ID_MAX + 32];
	json_t *data = json_column(e->data);

	if (!json_is_object(data)) {
		json_decref(data);
		data = json_object();
	}
	if (!json_is_string(json_object_get(data, "kind")))
		json_object_set_new(data, "kind", json_string(legacy_kind(e)));
	return json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:o}", "id", event_id(job_id, e->seq, id, sizeof(id)),
			 "object", "fine_tuning.job.event", "created_at", (json_int_t)e->created_at,
			 "level", e->level, "message", e->message ? e->message : "", "type", e->type,
			 "data", data);
}

json_t *file_object(const struct store_file *f)
{
	return json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:n,s:I,s:I,s:s}", "id", f->id, "object",
			 "file", "bytes", (json_int_t)f->bytes, "created_at",
			 (json_int_t)f->created_at, "filename", f->filename, "purpose", f->purpose,
			 "status", "processed", "status_details", "line_count",
			 (json_int_t)f->line_count, "record_count", (json_int_t)f->record_count,
			 "shape", f->shape);
}

static json_t *result_files(const struct store_job *j)
{
	json_t *files = json_array();
	char url[STORE_ID_MAX + 96];

	if (j->status != JOB_SUCCEEDED)
		return files;
	if (job_writes_gguf(j)) {
		snprintf(url, sizeof(url), "/v1/fine_tuning/jobs/%s/adapter/model.gguf", j->id);
		json_array_append_new(files, json_string(url));
		return files;
	}
	snprintf(url, sizeof(url), "/v1/fine_tuning/jobs/%s/adapter/adapter_model.safetensors",
		 j->id);
	json_array_append_new(files, json_string(url));
	snprintf(url, sizeof(url), "/v1/fine_tuning/jobs/%s/adapter/adapter_config.json", j->id);
	json_array_append_new(files, json_string(url));
	if (!strcmp(j->task, "classification")) {
		snprintf(url, sizeof(url), "/v1/fine_tuning/jobs/%s/adapter/labels.json", j->id);
		json_array_append_new(files, json_string(url));
	}
	if (!strcmp(j->task, "question_answering")) {
		snprintf(url, sizeof(url), "/v1/fine_tuning/jobs/%s/adapter/qa.json", j->id);
		json_array_append_new(files, json_string(url));
	}
	return files;
}

int job_writes_gguf(const struct store_job *j)
{
	json_t *m = json_column(j->method);
	const char *t = json_string_value(json_object_get(m, "type"));
	/* Full fine-tuning of a causal LM writes a whole model; of a
	 * classifier, an adapter of ours ("FULL") with the head. */
	int gguf = t && !strcmp(t, "full") && strcmp(j->task, "classification") &&
		   strcmp(j->task, "question_answering");

	json_decref(m);
	return gguf;
}

int job_processes(const struct store_job *j)
{
	json_t *hp = json_column(j->hyperparameters);
	const json_t *v = json_object_get(hp, "processes");
	int n = json_is_integer(v) && json_integer_value(v) > 1 &&
			json_integer_value(v) <= INT32_MAX ? (int)json_integer_value(v) : 1;

	json_decref(hp);
	return n;
}

json_t *job_object(const struct store_job *j)
{
	json_t *method = json_column(j->method), *metrics = json_column(j->metrics);
	json_t *hp = json_column(j->hyperparameters);
	const json_t *pv = json_object_get(hp, "processes");
	/* README "One job across processes": kept with the hyperparameters,
	 * shown beside them */
	const json_int_t processes = json_is_integer(pv) && json_integer_value(pv) > 1
					     ? json_integer_value(pv) : 1;
	json_t *progress, *budget = json_null(), *o;

	if (json_is_null(metrics)) {
		json_decref(metrics);
		metrics = json_object();
	}
	progress = json_pack("{s:I,s:o,s:f,s:o}", "step", (json_int_t)j->step, "total_steps",
			     int_or_null(j->total_steps, 0), "epoch", j->epoch,
			     "tokens_per_second",
			     isfinite(j->tokens_per_second) ? json_real(j->tokens_per_second)
							    : json_null());
	if (j->budget_initial >= 0)
		budget = json_pack("{s:o,s:I,s:I}", "current", int_or_null(j->budget_current, -1),
				   "initial", (json_int_t)j->budget_initial, "target",
				   (json_int_t)j->budget_target);
	o = json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:o,s:o,s:s,s:o,s:I,s:o,s:O,s:o,s:I,s:o,"
		      "s:o,s:o,s:o,s:o}",
		      "id", j->id, "object", "fine_tuning.job", "model", j->model,
		      "created_at", (json_int_t)j->created_at,
		      "started_at", int_or_null(j->started_at, 0),
		      "finished_at", int_or_null(j->finished_at, 0),
		      "status", job_status_name(j->status),
		      "error", json_column(j->error),
		      "fine_tuned_model", j->fine_tuned_model[0] ? json_string(j->fine_tuned_model)
								 : json_null(),
		      "training_file", j->training_file,
		      "validation_file", j->validation_file[0] ? json_string(j->validation_file)
							       : json_null(),
		      "seed", (json_int_t)j->seed,
		      "user_provided_suffix", j->suffix[0] ? json_string(j->suffix) : json_null(),
		      "method", method,
		      "hyperparameters", hp,
		      "trained_tokens", (json_int_t)j->trained_tokens,
		      "estimated_finish", j->status == JOB_RUNNING
						  ? int_or_null(j->estimated_finish, 0)
						  : json_null(),
		      "progress", progress,
		      "budget", budget,
		      "metrics", metrics,
		      "result_files", result_files(j));
	/* Ours, beside OpenAI's fields: the task the plan resolved (null
	 * before) and a classifier's labels and example counts (null for a
	 * causal LM). */
	json_object_set_new(o, "task", j->task[0] ? json_string(j->task) : json_null());
	json_object_set_new(o, "classification", json_column(j->classification));
	json_object_set_new(o, "processes", json_integer(processes));
	json_object_del(hp, "processes");
	json_decref(method);
	return o;
}
