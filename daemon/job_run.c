/*
 * job_run — one job on a worker thread: inputs resolved, ada_train run,
 * its callbacks turned into the job's events, and the outcome recorded.
 *
 * Every callback persists before it returns (the store commits, then
 * wakes the job's live streams), so what a client sees is always what a
 * restart would show. A job re-queued by a crash or a shutdown resumes
 * from its last checkpoint and replays the steps after it; the callbacks
 * skip what the log already holds (metrics up to the job's last logged
 * step, rank and evaluation events up to the last recorded ones), so the
 * history stays one continuous run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"
#include "util/err.h"
#include "workers.h"

static const char *const module_names[7] = { "q", "k", "v", "o", "gate", "up", "down" };

struct run {
	const struct workers_config *cfg;
	const struct store_job *job;
	unsigned target_modules;
	int64_t last_metrics_step;     /* the log already has metrics up to here */
	int64_t last_eval_step;
	int64_t last_ranks_step;
	int last_ranks_final;
	double valid_loss;             /* latest evaluation, NAN before one */
	int failed_writes;             /* callbacks that could not persist */
};

static json_t *parse_or_null(const char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;

	return v ? v : json_null();
}

static double unix_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static void persist_failed(struct run *r, const char *what, const struct ada_err *err)
{
	char line[900] = "";

	r->failed_writes++;
	logfmt_append(line, sizeof(line), "msg", "cannot record a job event");
	logfmt_append(line, sizeof(line), "job", r->job->id);
	logfmt_append(line, sizeof(line), "event", what);
	logfmt_append(line, sizeof(line), "detail", err->msg);
	log_line(LOG_ERROR, line);
}

/* The job's "metrics" object: the latest values. */
static char *latest_metrics(const struct run *r, const struct ada_metrics *m)
{
	json_t *o = json_pack("{s:o,s:o,s:o,s:o,s:o}", "train_loss", num(m->train_loss),
			      "valid_loss", num(r->valid_loss), "learning_rate",
			      num(m->learning_rate), "grad_norm", num(m->grad_norm), "orth_reg",
			      num(m->orth_reg));
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static void record_progress(struct run *r, const struct ada_metrics *m, const char *type,
			    const char *message, json_t *data)
{
	struct store_progress p = {
		.step = m->step, .total_steps = m->total_steps, .trained_tokens = m->trained_tokens,
		.budget_current = m->budget, .epoch = m->epoch,
		.tokens_per_second = m->tokens_per_second,
		.estimated_finish = isfinite(m->eta_seconds) && m->eta_seconds >= 0
					    ? (int64_t)time(NULL) + (int64_t)ceil(m->eta_seconds)
					    : 0,
	};
	struct ada_err err = { 0 };
	char *metrics = latest_metrics(r, m), *text = json_dumps(data, JSON_COMPACT);

	p.metrics = metrics;
	if (!metrics || !text)
		ada_fail(&err, ADA_ENOMEM, "out of memory");
	if (!metrics || !text ||
	    store_job_progress(r->cfg->store, r->job->id, &p, type, message, text, &err))
		persist_failed(r, type, &err);
	free(metrics);
	free(text);
	json_decref(data);
}

static void on_metrics(void *ctx, const struct ada_metrics *m)
{
	struct run *r = ctx;
	char msg[160];
	json_t *data;

	if (m->step <= r->last_metrics_step)
		return;   /* replayed after a resume: already in the log */
	r->last_metrics_step = m->step;
	data = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:f,s:I,s:o,s:f}",
			 "step", (json_int_t)m->step, "total_steps", (json_int_t)m->total_steps,
			 "train_loss", num(m->train_loss), "learning_rate", num(m->learning_rate),
			 "budget", m->budget >= 0 ? json_integer(m->budget) : json_null(),
			 "orth_reg", num(m->orth_reg), "grad_norm", num(m->grad_norm),
			 "tokens_per_second", num(m->tokens_per_second), "epoch", m->epoch,
			 "trained_tokens", (json_int_t)m->trained_tokens,
			 "valid_loss", num(r->valid_loss),
			 /* when the callback ran: clients measure delivery latency */
			 "time", unix_now());
	snprintf(msg, sizeof(msg), "Step %lld/%lld: training loss=%.4f", (long long)m->step,
		 (long long)m->total_steps, m->train_loss);
	record_progress(r, m, "metrics", msg, data);
}

static void on_eval(void *ctx, const struct ada_metrics *m)
{
	struct run *r = ctx;
	r->valid_loss = m->valid_loss;
	if (m->step <= r->last_eval_step)
		return;
	r->last_eval_step = m->step;
	/* Like "ranks", a fixed message marks the kind; data carries the values. */
	record_progress(r, m, "message", "validation",
			json_pack("{s:I,s:I,s:o}", "step", (json_int_t)m->step, "total_steps",
				  (json_int_t)m->total_steps, "valid_loss", num(m->valid_loss)));
}

static void on_ranks(void *ctx, const struct ada_ranks *rk)
{
	struct run *r = ctx;
	struct ada_err err = { 0 };
	json_t *modules, *layers, *data;
	char *text;

	if (rk->step < r->last_ranks_step ||
	    (rk->step == r->last_ranks_step && rk->final <= r->last_ranks_final))
		return;
	modules = json_array();
	layers = json_array();
	r->last_ranks_step = rk->step;
	r->last_ranks_final = rk->final;
	for (int c = 0; c < rk->n_modules && c < 7; c++)
		if (r->target_modules & (1u << c))
			json_array_append_new(modules, json_string(module_names[c]));
	for (int l = 0; l < rk->n_layers; l++) {
		json_t *row = json_array();
		for (int c = 0; c < rk->n_modules && c < 7; c++) {
			int v = rk->ranks[l * rk->n_modules + c];
			if (r->target_modules & (1u << c))
				json_array_append_new(row, v >= 0 ? json_integer(v) : json_null());
		}
		json_array_append_new(layers, row);
	}
	data = json_pack("{s:I,s:{s:I,s:I,s:I},s:I,s:o,s:i,s:o,s:b}", "step", (json_int_t)rk->step,
			 "budget", "current", (json_int_t)rk->budget, "initial",
			 (json_int_t)rk->initial, "target", (json_int_t)rk->target,
			 "kept", (json_int_t)rk->kept, "modules", modules, "init_r", rk->init_r,
			 "layers", layers, "final", rk->final);
	text = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (!text)
		ada_fail(&err, ADA_ENOMEM, "out of memory");
	if (!text || store_event_add(r->cfg->store, r->job->id, "info", "message", "ranks", text,
				     &err))
		persist_failed(r, "ranks", &err);
	free(text);
}

static void on_checkpoint(void *ctx, int64_t step, const char *dir, const struct ada_metrics *m)
{
	struct run *r = ctx;
	struct ada_err err = { 0 };
	char *metrics = latest_metrics(r, m), msg[96];

	(void)dir;
	snprintf(msg, sizeof(msg), "Checkpoint saved at step %lld", (long long)step);
	if (!metrics || store_checkpoint_add(r->cfg->store, r->job->id, step, metrics, &err) ||
	    store_event_add(r->cfg->store, r->job->id, "info", "message", msg, NULL, &err))
		persist_failed(r, "checkpoint", &err);
	free(metrics);
}

static void on_log(void *ctx, const char *level, const char *msg)
{
	struct run *r = ctx;
	struct ada_err err = { 0 };
	const char *lv = !strcmp(level, "warning") || !strcmp(level, "warn") ? "warning"
			 : !strcmp(level, "error") ? "error" : "info";

	if (store_event_add(r->cfg->store, r->job->id, lv, "message", msg, NULL, &err))
		persist_failed(r, "log", &err);
}

int job_inputs_resolve(const struct workers_config *cfg, const struct store_job *j,
		       struct job_inputs *in, struct ada_err *err)
{
	struct store_file f;
	json_t *method;
	int rc;

	memset(in, 0, sizeof(*in));
	if (models_find(cfg->models, j->model, &in->model))
		return ada_fail_param(err, ADA_ENOTFOUND, "model",
				      "model '%s' is no longer in the models directory", j->model);
	if ((rc = store_file_get(cfg->store, j->training_file, &f, err))) {
		if (rc == ADA_ENOTFOUND)
			ada_fail_param(err, rc, "training_file", "training file %s is gone",
				       j->training_file);
		return rc;
	}
	snprintf(in->train_path, sizeof(in->train_path), "%s/%s", cfg->files_dir, f.storage);
	if (j->validation_file[0]) {
		if ((rc = store_file_get(cfg->store, j->validation_file, &f, err))) {
			if (rc == ADA_ENOTFOUND)
				ada_fail_param(err, rc, "validation_file",
					       "validation file %s is gone", j->validation_file);
			return rc;
		}
		snprintf(in->valid_path, sizeof(in->valid_path), "%s/%s", cfg->files_dir,
			 f.storage);
	}
	method = json_loads(j->method ? j->method : "", 0, NULL);
	rc = ada_method_from_json(method, &in->method, err);
	json_decref(method);
	if (rc)
		return rc;
	snprintf(in->out_dir, sizeof(in->out_dir), "%s/%s", cfg->jobs_dir, j->id);
	return ADA_OK;
}

void job_inputs_to_job(const struct job_inputs *in, const struct store_job *j,
		       struct ada_job *job)
{
	memset(job, 0, sizeof(*job));
	job->model = in->model.path;
	job->tokenizer = in->model.tokenizer[0] ? in->model.tokenizer : NULL;
	job->train_file = in->train_path;
	job->valid_file = in->valid_path[0] ? in->valid_path : NULL;
	job->out_dir = in->out_dir;
	job->seed = j->seed;
	job->method = in->method;
	job->resume = 1;   /* a re-queued job continues from its checkpoint */
}

char *job_error_json(const struct ada_err *err, const char *code)
{
	json_t *o = json_pack("{s:s,s:s,s:s?}", "code", code ? code : ada_code_name(err->code),
			      "message", err->msg, "param", err->param[0] ? err->param : NULL);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

/* What the log already holds, so a resumed run does not repeat it. */
static void load_marks(struct run *r)
{
	struct ada_err err = { 0 };
	struct store_events ev;
	json_t *d;

	r->last_metrics_step = r->job->step;
	r->last_eval_step = -1;
	r->last_ranks_step = -1;
	r->last_ranks_final = -1;
	if (!store_event_ranks(r->cfg->store, r->job->id, 0, &ev, &err) && ev.n) {
		d = parse_or_null(ev.v[0].data);
		r->last_ranks_step = json_integer_value(json_object_get(d, "step"));
		r->last_ranks_final = json_is_true(json_object_get(d, "final"));
		json_decref(d);
	}
	store_events_release(&ev);
	if (!store_event_last(r->cfg->store, r->job->id, "validation", &ev, &err) && ev.n) {
		d = parse_or_null(ev.v[0].data);
		r->last_eval_step = json_integer_value(json_object_get(d, "step"));
		r->valid_loss = json_number_value(json_object_get(d, "valid_loss"));
		json_decref(d);
	}
	store_events_release(&ev);
}

static void log_transition(const struct store_job *j, const char *status, const char *detail)
{
	char line[1200] = "";

	logfmt_append(line, sizeof(line), "msg", "job");
	logfmt_append(line, sizeof(line), "job", j->id);
	logfmt_append(line, sizeof(line), "status", status);
	if (detail)
		logfmt_append(line, sizeof(line), "detail", detail);
	log_line(LOG_INFO, line);
}

static void finish(const struct workers_config *cfg, const struct store_job *j,
		   enum job_status status, const char *error, const char *model, const char *level,
		   const char *message)
{
	struct ada_err err = { 0 };

	if (store_job_finish(cfg->store, j->id, status, error, model, level, message, &err)) {
		char line[900] = "";
		logfmt_append(line, sizeof(line), "msg", "cannot record the end of a job");
		logfmt_append(line, sizeof(line), "job", j->id);
		logfmt_append(line, sizeof(line), "detail", err.msg);
		log_line(LOG_ERROR, line);
		return;
	}
	log_transition(j, job_status_name(status), message);
}

void job_run(const struct workers_config *cfg, const struct store_job *j,
	     const volatile int *stop)
{
	struct run r = { .cfg = cfg, .job = j, .valid_loss = NAN };
	struct ada_callbacks cb = {
		.ctx = &r, .on_metrics = on_metrics, .on_eval = on_eval, .on_ranks = on_ranks,
		.on_checkpoint = on_checkpoint, .on_log = on_log,
	};
	struct ada_err err = { 0 };
	struct job_inputs *in = malloc(sizeof(*in));
	struct ada_result res;
	struct ada_job job;
	char msg[640], *error;
	int rc;

	log_transition(j, "running", NULL);
	if (!in) {
		ada_fail(&err, ADA_ENOMEM, "out of memory");
		rc = ADA_ENOMEM;
	} else {
		rc = job_inputs_resolve(cfg, j, in, &err);
	}
	if (!rc) {
		r.target_modules = in->method.hp.target_modules;
		load_marks(&r);
		job_inputs_to_job(in, j, &job);
		job.cb = &cb;
		job.stop = stop;
		rc = ada_train(&job, &res, &err);
	}
	switch (rc) {
	case ADA_OK: {
		char model[2 * STORE_NAME_MAX];
		snprintf(model, sizeof(model), "ft:%s:%s:%s", j->model, j->suffix, j->id);
		snprintf(msg, sizeof(msg), "The job has successfully completed: %lld steps, train loss %.4f",
			 (long long)res.steps, res.train_loss);
		if (isfinite(res.valid_loss))
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
				 ", validation loss %.4f", res.valid_loss);
		finish(cfg, j, JOB_SUCCEEDED, NULL, model, "info", msg);
		break;
	}
	case ADA_ECANCELLED:
		snprintf(msg, sizeof(msg), "Fine-tuning job cancelled (%s)", err.msg);
		finish(cfg, j, JOB_CANCELLED, NULL, NULL, "info", msg);
		break;
	case ADA_ESTOPPED:
		snprintf(msg, sizeof(msg),
			 "The daemon is stopping: job paused (%s); it resumes at the next start",
			 err.msg);
		if (store_job_requeue(cfg->store, j->id, msg, &err))
			log_msg(LOG_ERROR, "msg=\"cannot re-queue a paused job\" job=%s", j->id);
		else
			log_transition(j, "queued", "paused for shutdown");
		break;
	default:
		error = job_error_json(&err, rc == ADA_ENOTFOUND && !strcmp(err.param, "model")
						    ? "model_not_found" : NULL);
		snprintf(msg, sizeof(msg), "Fine-tuning job failed: %s", err.msg);
		finish(cfg, j, JOB_FAILED, error, NULL, "error", msg);
		free(error);
	}
	if (r.failed_writes)
		log_msg(LOG_WARN, "msg=\"job events not recorded\" job=%s count=%d", j->id,
			r.failed_writes);
	free(in);
}
