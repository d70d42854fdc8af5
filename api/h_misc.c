/*
 * h_misc — models, the schedule preview, and the operational routes
 * (/healthz, /metrics, /v1/daemons).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "http.h"

static json_t *model_object(const char *id, int64_t created, const char *owner,
			    const struct ada_model_info *info, const char *base)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:s}", "id", id, "object", "model", "created",
			      (json_int_t)created, "owned_by", owner);

	if (info) {
		json_object_set_new(o, "architecture", json_string(info->architecture));
		json_object_set_new(o, "parameters", json_integer(info->parameters));
		json_object_set_new(o, "context_length", json_integer(info->context_length));
		json_object_set_new(o, "format", json_string(info->format));
		json_object_set_new(o, "chat_template", info->chat_template[0]
				    ? json_string(info->chat_template) : json_null());
	} else {
		json_object_set_new(o, "architecture", json_null());
		json_object_set_new(o, "parameters", json_null());
		json_object_set_new(o, "context_length", json_null());
	}
	if (base)
		json_object_set_new(o, "parent", json_string(base));
	/* the base a model runs on, as vLLM-style servers list it */
	json_object_set_new(o, "root", json_string(base ? base : id));
	return o;
}

static json_t *fine_tuned_object(struct api *a, const struct store_job *j)
{
	struct ada_model_info info;
	int have = a->cfg.hooks.model_find(a->cfg.hooks.ctx, j->model, &info) == ADA_OK;

	return model_object(j->fine_tuned_model, j->finished_at, "user", have ? &info : NULL,
			    j->model);
}

void h_models_list(struct request *r)
{
	struct api *a = r->api;
	struct store_job_query q = { .limit = 100, .status = JOB_SUCCEEDED };
	struct ada_err err = { 0 };
	struct api_model *models = NULL;
	struct store_jobs l = { 0 };
	char last[STORE_ID_MAX] = "";
	size_t n = 0;
	json_t *data;

	if (a->cfg.hooks.model_list(a->cfg.hooks.ctx, &models, &n, &err)) {
		reply_ada_err(r, &err, 500);
		return;
	}
	data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, model_object(models[i].id, models[i].created, "adalorad",
							 &models[i].info, NULL));
	free(models);
	/* Every fine-tuned result, newest first, a page at a time. */
	for (;;) {
		int more;
		q.after = last[0] ? last : NULL;
		if (store_job_list(a->cfg.store, &q, &l, &err)) {
			json_decref(data);
			reply_ada_err(r, &err, 500);
			return;
		}
		for (size_t i = 0; i < l.n; i++)
			if (l.v[i].fine_tuned_model[0])
				json_array_append_new(data, fine_tuned_object(a, &l.v[i]));
		more = l.has_more && l.n;
		if (more)
			snprintf(last, sizeof(last), "%s", l.v[l.n - 1].id);
		store_jobs_release(&l);
		if (!more)
			break;
	}
	reply_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

void h_models_get(struct request *r)
{
	struct api *a = r->api;
	const char *id = r->params[0], *colon;
	struct ada_model_info info;
	struct ada_err err = { 0 };
	struct store_job j;

	if (a->cfg.hooks.model_find(a->cfg.hooks.ctx, id, &info) == ADA_OK) {
		reply_json(r, 200, model_object(id, 0, "adalorad", &info, NULL));
		return;
	}
	/* "ft:<base>:<suffix>:<job id>" */
	colon = strrchr(id, ':');
	if (!strncmp(id, "ft:", 3) && colon &&
	    store_job_get(a->cfg.store, colon + 1, &j, &err) == ADA_OK) {
		int match = j.status == JOB_SUCCEEDED && !strcmp(j.fine_tuned_model, id);
		if (match)
			reply_json(r, 200, fine_tuned_object(a, &j));
		store_job_release(&j);
		if (match)
			return;
	}
	reply_error(r, 404, "model_not_found", NULL, "no model %s", id);
}

/* An optional integer field of the schedule body. */
static int int_field(struct request *r, const json_t *body, const char *key, int64_t dflt,
		     int required, int64_t *out)
{
	const json_t *v = json_object_get(body, key);

	*out = dflt;
	if (!v) {
		if (!required)
			return 0;
		reply_error(r, 400, "missing_required_parameter", key, "%s is required", key);
		return -1;
	}
	if (!json_is_integer(v)) {
		reply_error(r, 400, "invalid_type", key, "%s must be an integer", key);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

void h_schedule(struct request *r)
{
	static const char *const known[] = {
		"total_steps", "tinit", "tfinal", "deltaT", "init_r", "target_r", "n_matrices",
		"model", "target_modules", NULL,
	};
	struct api *a = r->api;
	struct ada_method dflt;
	struct ada_schedule s;
	struct ada_err err = { 0 };
	const json_t *model, *modules;
	json_t *body, *curve = NULL;

	if (!(body = body_object(r)))
		return;
	ada_method_defaults(ADA_METHOD_ADALORA, &dflt);
	if (body_known_fields(r, body, known, "") ||
	    int_field(r, body, "total_steps", 0, 1, &s.total_steps) ||
	    int_field(r, body, "tinit", dflt.hp.tinit, 0, &s.tinit) ||
	    int_field(r, body, "tfinal", dflt.hp.tfinal, 0, &s.tfinal) ||
	    int_field(r, body, "deltaT", dflt.hp.delta_t, 0, &s.deltaT) ||
	    int_field(r, body, "init_r", dflt.hp.init_r, 0, &s.init_r) ||
	    int_field(r, body, "target_r", dflt.hp.target_r, 0, &s.target_r) ||
	    int_field(r, body, "n_matrices", 0, 0, &s.n_matrices))
		goto out_free;
	model = json_object_get(body, "model");
	modules = json_object_get(body, "target_modules");
	if (model && json_object_get(body, "n_matrices")) {
		reply_error(r, 400, "invalid_value", "n_matrices",
			    "give n_matrices or model (+ target_modules), not both");
		goto out_free;
	}
	if (modules && !model) {
		reply_error(r, 400, "invalid_value", "target_modules",
			    "target_modules counts matrices of a model: give model too");
		goto out_free;
	}
	if (model) {
		struct ada_model_info info;
		unsigned targets = dflt.hp.target_modules;
		if (!json_is_string(model)) {
			reply_error(r, 400, "invalid_type", "model", "model must be a string");
			goto out_free;
		}
		if (a->cfg.hooks.model_find(a->cfg.hooks.ctx, json_string_value(model), &info)) {
			reply_error(r, 400, "model_not_found", "model",
				    "model '%s' is not in the models directory",
				    json_string_value(model));
			goto out_free;
		}
		if (modules && ada_modules_from_json(modules, "target_modules", &targets, &err)) {
			reply_ada_err(r, &err, 400);
			goto out_free;
		}
		s.n_matrices = ada_model_matrices(&info, targets);
	} else if (!json_object_get(body, "n_matrices")) {
		reply_error(r, 400, "missing_required_parameter", "n_matrices",
			    "n_matrices (or model) is required");
		goto out_free;
	}
	if (ada_schedule_json(&s, 1000, 1000, &curve, &err)) {
		reply_ada_err(r, &err, 400);
		goto out_free;
	}
	json_object_set_new(curve, "n_matrices", json_integer(s.n_matrices));
	json_object_set_new(curve, "total_steps", json_integer(s.total_steps));
	reply_json(r, 200, curve);
out_free:
	json_decref(body);
}

void h_healthz(struct request *r)
{
	struct api *a = r->api;
	int64_t counts[JOB_N_STATUS];
	struct ada_err err = { 0 };

	if (store_job_counts(a->cfg.store, counts, &err)) {
		reply_error(r, 503, "store_unavailable", NULL, "%s", err.msg);
		return;
	}
	reply_json(r, 200, json_pack("{s:s,s:s,s:{s:I,s:I,s:I},s:i,s:s,s:s}", "status", "ok",
				     "version", a->version, "queue", "validating",
				     (json_int_t)counts[JOB_VALIDATING], "queued",
				     (json_int_t)counts[JOB_QUEUED], "running",
				     (json_int_t)counts[JOB_RUNNING], "workers", a->cfg.workers,
				     "daemon", store_daemon_id(a->cfg.store), "store",
				     store_backend_name(a->cfg.store)));
}

static json_t *daemon_object(const struct store_daemon *d)
{
	json_t *running = json_array();

	for (size_t i = 0; i < d->n_running; i++)
		json_array_append_new(running, json_string(d->running[i]));
	return json_pack("{s:s,s:s,s:s,s:s?,s:s,s:I,s:I,s:I,s:I,s:o,s:b,s:o}", "id", d->id,
			 "object", "daemon", "host", d->host,
			 "address", d->address[0] ? d->address : NULL, "version", d->version,
			 "pid", (json_int_t)d->pid, "workers", (json_int_t)d->workers,
			 "started_at", (json_int_t)d->started_at, "heartbeat_at",
			 (json_int_t)d->heartbeat_at, "lease_expires_at",
			 d->lease_expires_at ? json_integer(d->lease_expires_at) : json_null(),
			 "self", d->self, "running", running);
}

/* GET /v1/daemons: the live daemons sharing the database (on SQLite, this
 * one) and the jobs each runs. */
void h_daemons(struct request *r)
{
	struct store_daemons l;
	struct ada_err err = { 0 };
	json_t *data;

	if (store_daemon_list(r->api->cfg.store, &l, &err)) {
		reply_error(r, 503, "store_unavailable", NULL, "%s", err.msg);
		return;
	}
	data = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(data, daemon_object(&l.v[i]));
	store_daemons_release(&l);
	reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:o}", "object", "list", "store",
				     store_backend_name(r->api->cfg.store), "self",
				     store_daemon_id(r->api->cfg.store), "data", data));
}

void h_metrics(struct request *r)
{
	struct api *a = r->api;
	int64_t counts[JOB_N_STATUS], steps, tokens;
	struct ada_err err = { 0 };
	struct MHD_Response *resp;
	struct strbuf out = STRBUF_INIT;
	unsigned streams;
	size_t len;
	char *text;

	struct store_daemons dl;

	if (store_job_counts(a->cfg.store, counts, &err) ||
	    store_job_totals(a->cfg.store, &steps, &tokens, &err) ||
	    store_daemon_list(a->cfg.store, &dl, &err)) {
		reply_error(r, 503, "store_unavailable", NULL, "%s", err.msg);
		return;
	}
	pthread_mutex_lock(&a->sse_lock);
	streams = a->n_streams;
	pthread_mutex_unlock(&a->sse_lock);
	strbuf_addf(&out,
		    "# HELP adalorad_build_info The running version.\n"
		    "# TYPE adalorad_build_info gauge\n"
		    "adalorad_build_info{version=\"%s\"} 1\n"
		    "# HELP adalorad_blas_kernel_info The OpenBLAS kernel the numerics run on.\n"
		    "# TYPE adalorad_blas_kernel_info gauge\n"
		    "adalorad_blas_kernel_info{kernel=\"%s\"} 1\n"
		    "# HELP adalorad_jobs Fine-tuning jobs by status.\n"
		    "# TYPE adalorad_jobs gauge\n",
		    a->version, ada_blas_kernel());
	for (int i = 0; i < JOB_N_STATUS; i++)
		strbuf_addf(&out, "adalorad_jobs{status=\"%s\"} %lld\n",
			    job_status_name((enum job_status)i), (long long)counts[i]);
	strbuf_addf(&out,
		    "# HELP adalorad_steps_trained_total Optimizer steps completed, over all jobs.\n"
		    "# TYPE adalorad_steps_trained_total counter\n"
		    "adalorad_steps_trained_total %lld\n"
		    "# HELP adalorad_tokens_trained_total Tokens trained on, over all jobs.\n"
		    "# TYPE adalorad_tokens_trained_total counter\n"
		    "adalorad_tokens_trained_total %lld\n"
		    "# HELP adalorad_event_streams Open event streams (SSE clients).\n"
		    "# TYPE adalorad_event_streams gauge\n"
		    "adalorad_event_streams %u\n"
		    "# HELP adalorad_workers Training worker threads.\n"
		    "# TYPE adalorad_workers gauge\n"
		    "adalorad_workers %d\n",
		    (long long)steps, (long long)tokens, streams, a->cfg.workers);
	strbuf_addf(&out,
		    "# HELP adalorad_daemon_info This daemon, by its id among those sharing the store.\n"
		    "# TYPE adalorad_daemon_info gauge\n"
		    "adalorad_daemon_info{id=\"%s\",store=\"%s\"} 1\n"
		    "# HELP adalorad_daemons_live Live daemons sharing the store (this one included).\n"
		    "# TYPE adalorad_daemons_live gauge\n"
		    "adalorad_daemons_live %zu\n"
		    "# HELP adalorad_daemon_running_jobs Jobs each live daemon runs.\n"
		    "# TYPE adalorad_daemon_running_jobs gauge\n",
		    store_daemon_id(a->cfg.store), store_backend_name(a->cfg.store), dl.n);
	for (size_t i = 0; i < dl.n; i++)
		strbuf_addf(&out, "adalorad_daemon_running_jobs{daemon=\"%s\"} %zu\n", dl.v[i].id,
			    dl.v[i].n_running);
	store_daemons_release(&dl);
	stats_render(a, &out);
	if (a->cfg.hooks.infer_metrics)
		a->cfg.hooks.infer_metrics(a->cfg.hooks.ctx, &out);
	/* out's failure is sticky: one check covers every line */
	if (!(text = strbuf_detach(&out, &len)) ||
	    !(resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE))) {
		free(text);
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	reply_response(r, 200, resp);
}
