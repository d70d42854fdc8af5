/*
 * h_events — what a job produced: its events (paged, or live over SSE),
 * checkpoints, rank allocation and the adapter files.
 *
 * Adapter files are served from a fixed list of names, joined to the
 * job's directory by the job's id as stored (never the id as requested),
 * so no request can name a path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"

/* The job of the path, or a 404 replied (returns -1). */
static int load_job(struct request *r, struct store_job *j)
{
	struct ada_err err = { 0 };

	if (store_job_get(r->api->cfg.store, r->params[0], j, &err)) {
		reply_ada_err(r, &err, 404);
		return -1;
	}
	return 0;
}

static int wants_stream(struct request *r, int *stream)
{
	const char *s = req_arg(r, "stream"), *accept = req_header(r, MHD_HTTP_HEADER_ACCEPT);

	*stream = accept && strstr(accept, "text/event-stream") != NULL;
	if (!s)
		return 0;
	if (!strcmp(s, "true") || !strcmp(s, "1")) {
		*stream = 1;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0")) {
		*stream = 0;
		return 0;
	}
	reply_error(r, 400, "invalid_value", "stream", "stream must be true or false");
	return -1;
}

/* Where to start: Last-Event-ID (an event number, as sent in "id:"), or
 * ?after=<event id>. -1 = not given; -2 = invalid (replied). */
static int64_t start_after(struct request *r, const char *job_id, int stream)
{
	const char *last = stream ? req_header(r, "Last-Event-ID") : NULL;
	const char *after = req_arg(r, "after");
	int64_t seq;

	if (last && *last) {
		char *end;
		errno = 0;
		seq = strtoll(last, &end, 10);
		if (errno || *end || seq < 0 || last[0] < '0' || last[0] > '9') {
			reply_error(r, 400, "invalid_value", "Last-Event-ID",
				    "Last-Event-ID must be an event number from this stream");
			return -2;
		}
		return seq;
	}
	if (!after)
		return -1;
	seq = event_id_parse(job_id, after);
	if (seq < 0) {
		reply_error(r, 400, "invalid_value", "after", "after must be an event id of this job");
		return -2;
	}
	return seq;
}

void h_jobs_events(struct request *r)
{
	struct ada_err err = { 0 };
	struct store_events ev;
	struct store_job j;
	int64_t after;
	int stream, limit;
	json_t *data;

	if (load_job(r, &j))
		return;
	store_job_release(&j);
	if (wants_stream(r, &stream) || (after = start_after(r, j.id, stream)) == -2)
		return;
	if (stream) {
		sse_start(r, j.id, after < 0 ? 0 : after);
		return;
	}
	if (req_limit(r, &limit))
		return;
	if (store_event_list(r->api->cfg.store, j.id, after, limit, &ev, &err)) {
		reply_ada_err(r, &err, 404);
		return;
	}
	data = json_array();
	for (size_t i = 0; i < ev.n; i++)
		json_array_append_new(data, event_object(j.id, &ev.v[i]));
	reply_json(r, 200, json_pack("{s:s,s:o,s:b}", "object", "list", "data", data, "has_more",
				     ev.has_more));
	store_events_release(&ev);
}

static const char *job_token(const char *id)
{
	return strncmp(id, "ftjob-", 6) ? id : id + 6;
}

void h_jobs_checkpoints(struct request *r)
{
	const char *after = req_arg(r, "after");
	struct ada_err err = { 0 };
	struct store_checkpoints l;
	struct store_job j;
	int64_t after_step = -1;
	json_t *data;
	int limit;

	if (load_job(r, &j))
		return;
	if (req_limit(r, &limit))
		goto out_release;
	if (after) {
		char prefix[STORE_ID_MAX + 16];
		char *end;
		size_t n = (size_t)snprintf(prefix, sizeof(prefix), "ftckpt-%s-", job_token(j.id));
		errno = 0;
		if (strncmp(after, prefix, n) || after[n] < '0' || after[n] > '9' ||
		    (after_step = strtoll(after + n, &end, 10), errno || *end)) {
			reply_error(r, 400, "invalid_value", "after",
				    "after must be a checkpoint id of this job");
			goto out_release;
		}
	}
	if (store_checkpoint_list(r->api->cfg.store, j.id, after_step, limit, &l, &err)) {
		reply_ada_err(r, &err, 404);
		goto out_release;
	}
	data = json_array();
	for (size_t i = 0; i < l.n; i++) {
		char id[STORE_ID_MAX + 32], name[3 * STORE_NAME_MAX];
		json_t *metrics = json_column(l.v[i].metrics);
		snprintf(id, sizeof(id), "ftckpt-%s-%lld", job_token(j.id), (long long)l.v[i].step);
		snprintf(name, sizeof(name), "ft:%s:%s:%s:ckpt-step-%lld", j.model, j.suffix, j.id,
			 (long long)l.v[i].step);
		json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:I,s:o,s:s,s:s}", "object",
						      "fine_tuning.job.checkpoint", "id", id,
						      "created_at", (json_int_t)l.v[i].created_at,
						      "step_number", (json_int_t)l.v[i].step,
						      "metrics", metrics,
						      "fine_tuned_model_checkpoint", name,
						      "fine_tuning_job_id", j.id));
	}
	reply_json(r, 200, json_pack("{s:s,s:o,s:b}", "object", "list", "data", data, "has_more",
				     l.has_more));
	store_checkpoints_release(&l);
out_release:
	store_job_release(&j);
}

void h_jobs_ranks(struct request *r)
{
	const char *h = req_arg(r, "history");
	struct ada_err err = { 0 };
	struct store_events ev;
	struct store_job j;
	int history = 0;
	json_t *out, *hist;

	if (h && !strcmp(h, "true"))
		history = 1;
	else if (h && strcmp(h, "false")) {
		reply_error(r, 400, "invalid_value", "history", "history must be true or false");
		return;
	}
	if (load_job(r, &j))
		return;
	if (j.budget_initial < 0 && j.status != JOB_VALIDATING) {
		reply_error(r, 404, "no_ranks", NULL,
			    "job %s has no rank allocation: only adalora and lora_prune budget ranks",
			    j.id);
		goto out_release;
	}
	if (store_event_ranks(r->api->cfg.store, j.id, history, &ev, &err)) {
		reply_ada_err(r, &err, 404);
		goto out_release;
	}
	if (!ev.n) {
		reply_error(r, 409, "not_started", NULL,
			    "job %s is %s: its ranks are allocated once it runs", j.id,
			    job_status_name(j.status));
		store_events_release(&ev);
		goto out_release;
	}
	out = json_column(ev.v[ev.n - 1].data);
	json_object_del(out, "kind");   /* the event's; the allocation object has none */
	if (history) {
		hist = json_array();
		for (size_t i = 0; i < ev.n; i++) {
			json_t *d = json_column(ev.v[i].data);
			json_array_append_new(hist, json_pack("{s:O,s:O,s:O}", "step",
							      json_object_get(d, "step"), "budget",
							      json_object_get(json_object_get(d, "budget"),
									      "current"),
							      "layers", json_object_get(d, "layers")));
			json_decref(d);
		}
		json_object_set_new(out, "history", hist);
	}
	reply_json(r, 200, out);
	store_events_release(&ev);
out_release:
	store_job_release(&j);
}

/* What a finished job can be downloaded as: name -> path in its directory. */
static const struct {
	const char *name, *rel, *type;
	int full;   /* 1: only a whole model (job_writes_gguf); 0: only adapters */
} outputs[] = {
	{ "adapter_model.safetensors", "adapter/adapter_model.safetensors",
	  "application/octet-stream", 0 },
	{ "adapter_config.json", "adapter/adapter_config.json", "application/json", 0 },
	/* a classifier's label map (listed only where it exists) */
	{ "labels.json", "adapter/labels.json", "application/json", 0 },
	/* an extractive QA adapter's settings (listed only where it exists) */
	{ "qa.json", "adapter/qa.json", "application/json", 0 },
	{ "model.gguf", "model.gguf", "application/octet-stream", 1 },
};

/* jobs_dir/<id>[/<output_dir>]/rel: the directory of the run whose
 * result the job recorded (store.h, output_dir). */
static void output_path(const struct api *a, const struct store_job *j, const char *rel,
			char *path, size_t cap)
{
	if (j->output_dir[0])
		snprintf(path, cap, "%s/%s/%s/%s", a->jobs_dir, j->id, j->output_dir, rel);
	else
		snprintf(path, cap, "%s/%s/%s", a->jobs_dir, j->id, rel);
}

static int is_full(const struct store_job *j)
{
	return job_writes_gguf(j);
}

static int require_succeeded(struct request *r, const struct store_job *j)
{
	if (j->status == JOB_SUCCEEDED)
		return 0;
	reply_error(r, 409, "job_not_succeeded", NULL,
		    "job %s is %s: its adapter exists once it has succeeded", j->id,
		    job_status_name(j->status));
	return -1;
}

void h_jobs_adapter(struct request *r)
{
	struct store_job j;
	json_t *data;
	int full;

	if (load_job(r, &j))
		return;
	if (require_succeeded(r, &j))
		goto out_release;
	full = is_full(&j);
	data = json_array();
	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		char path[4096], url[STORE_ID_MAX + 96];
		struct stat st;
		if (outputs[i].full != full)
			continue;
		output_path(r->api, &j, outputs[i].rel, path, sizeof(path));
		if (stat(path, &st))
			continue;
		snprintf(url, sizeof(url), "/v1/fine_tuning/jobs/%s/adapter/%s", j.id,
			 outputs[i].name);
		json_array_append_new(data, json_pack("{s:s,s:I,s:s}", "name", outputs[i].name,
						      "bytes", (json_int_t)st.st_size, "url", url));
	}
	reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:o}", "object", "list", "format",
				     full ? "gguf" : "peft", "job", j.id, "data", data));
out_release:
	store_job_release(&j);
}

void h_jobs_adapter_file(struct request *r)
{
	struct MHD_Response *resp;
	struct store_job j;
	struct stat st;
	char path[4096];
	size_t i;
	int fd;

	if (load_job(r, &j))
		return;
	for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++)
		if (!strcmp(r->params[1], outputs[i].name))
			break;
	if (i == sizeof(outputs) / sizeof(outputs[0]) || outputs[i].full != is_full(&j) ||
	    (!strcmp(outputs[i].name, "labels.json") && strcmp(j.task, "classification")) ||
	    (!strcmp(outputs[i].name, "qa.json") && strcmp(j.task, "question_answering"))) {
		reply_error(r, 404, "not_found", NULL, "job %s has no output named %s", j.id,
			    r->params[1]);
		goto out_release;
	}
	if (require_succeeded(r, &j))
		goto out_release;
	output_path(r->api, &j, outputs[i].rel, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		reply_error(r, 500, "storage_error", NULL, "%s of job %s is missing: %s",
			    outputs[i].name, j.id, strerror(errno));
		goto out_release;
	}
	resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		goto out_release;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, outputs[i].type);
	reply_response(r, 200, resp);
out_release:
	store_job_release(&j);
}
