/*
 * job_run — one job on a worker thread: inputs resolved, ada_train run,
 * its callbacks turned into the job's events, and the outcome recorded.
 *
 * Every callback persists before it returns (the store commits, then
 * wakes the job's live streams), so what a client sees is always what a
 * restart would show. Each event's data says what it is in "kind"
 * ("metrics", "validation", "ranks", "checkpoint", "log"; the store's own
 * life-cycle events are "status"), so clients need not read messages. A job re-queued by a crash or a shutdown resumes
 * from its last checkpoint and replays the steps after it; the callbacks
 * skip what the log already holds (metrics up to the job's last logged
 * step, rank and evaluation events up to the last recorded ones), so the
 * history stays one continuous run.
 *
 * Classification jobs report more: every validation pass scores GLUE's
 * metrics, which ride along in the metrics and validation events and the
 * job's "metrics" object under valid_* names (only those that apply and
 * are defined: accuracy, f1, mcc for classes; pearson, spearman for a
 * regression). At success the result's label map and truncation counts
 * become the job's "classification" object, in the same transaction.
 * Seq2seq jobs' validations decode and add the ROUGE F-measures the same
 * way: valid_rouge1, valid_rouge2, valid_rougeL, valid_rougeLsum.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "api.h"
#include "launch.h"
#include "log.h"
#include "util/err.h"
#include "workers.h"

/* A classifier's validation metrics are written as ada_glue_metrics_json()
 * names them with this prefix ("valid_accuracy", ...), and read back from
 * the event log after a restart by the same names. */
#define METRIC_PREFIX "valid_"
static const struct {
	const char *name;
	size_t offset;
} glue_names[] = {
	{ METRIC_PREFIX "accuracy", offsetof(struct ada_glue_metrics, accuracy) },
	{ METRIC_PREFIX "f1", offsetof(struct ada_glue_metrics, f1) },
	{ METRIC_PREFIX "mcc", offsetof(struct ada_glue_metrics, mcc) },
	{ METRIC_PREFIX "pearson", offsetof(struct ada_glue_metrics, pearson) },
	{ METRIC_PREFIX "spearman", offsetof(struct ada_glue_metrics, spearman) },
};
/* A seq2seq job's ROUGE F-measures, as ada_rouge_json() names them. */
static const struct {
	const char *name;
	size_t offset;
} rouge_names[] = {
	{ METRIC_PREFIX "rouge1", offsetof(struct ada_rouge, rouge1.fmeasure) },
	{ METRIC_PREFIX "rouge2", offsetof(struct ada_rouge, rouge2.fmeasure) },
	{ METRIC_PREFIX "rougeL", offsetof(struct ada_rouge, rougeL.fmeasure) },
	{ METRIC_PREFIX "rougeLsum", offsetof(struct ada_rouge, rougeLsum.fmeasure) },
};

struct run {
	const struct workers_config *cfg;
	const struct store_job *job;
	int64_t last_metrics_step;     /* the log already has metrics up to here */
	int64_t last_eval_step;
	int64_t last_ranks_step;
	int last_ranks_final;
	/* the latest evaluation: valid_loss and a classifier's metrics, NAN
	 * before one (and where a metric does not apply) */
	struct ada_metrics eval;
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

/* valid_accuracy, ... of the latest evaluation into o: the finite ones;
 * and a causal LM's valid_loss_no_framing (the loss without the EOS, or
 * BOS, that ends each text record). */
static void add_cls_metrics(json_t *o, const struct run *r)
{
	ada_glue_metrics_json(o, &r->eval.glue, 0, METRIC_PREFIX);
	/* extractive QA: valid_exact, valid_f1 (and SQuAD v2's HasAns / NoAns) */
	ada_qa_metrics_json(o, &r->eval.qa, METRIC_PREFIX);
	/* seq2seq: the ROUGE F-measures of the validation's decodes */
	ada_rouge_json(o, &r->eval.rouge, METRIC_PREFIX);
	if (isfinite(r->eval.valid_loss_no_framing))
		json_object_set_new(o, "valid_loss_no_framing",
				    json_real(r->eval.valid_loss_no_framing));
}

/* The job's "metrics" object: the latest values. */
static char *latest_metrics(const struct run *r, const struct ada_metrics *m)
{
	json_t *o = json_pack("{s:o,s:o,s:o,s:o,s:o}", "train_loss", num(m->train_loss),
			      "valid_loss", num(r->eval.valid_loss), "learning_rate",
			      num(m->learning_rate), "grad_norm", num(m->grad_norm), "orth_reg",
			      num(m->orth_reg));
	char *s;

	add_cls_metrics(o, r);
	s = json_dumps(o, JSON_COMPACT);

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
	    store_job_progress(r->cfg->store, r->job->id, r->job->lease_epoch, &p, type, message,
			       text, &err))
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
	data = json_pack("{s:s,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:f,s:I,s:o,s:f}",
			 "kind", "metrics", "step", (json_int_t)m->step, "total_steps", (json_int_t)m->total_steps,
			 "train_loss", num(m->train_loss), "learning_rate", num(m->learning_rate),
			 "budget", m->budget >= 0 ? json_integer(m->budget) : json_null(),
			 "orth_reg", num(m->orth_reg), "grad_norm", num(m->grad_norm),
			 "tokens_per_second", num(m->tokens_per_second), "epoch", m->epoch,
			 "trained_tokens", (json_int_t)m->trained_tokens,
			 "valid_loss", num(r->eval.valid_loss),
			 /* when the callback ran: clients measure delivery latency */
			 "time", unix_now());
	add_cls_metrics(data, r);
	snprintf(msg, sizeof(msg), "Step %lld/%lld: training loss=%.4f", (long long)m->step,
		 (long long)m->total_steps, m->train_loss);
	if (isfinite(r->eval.glue.accuracy))
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ", validation accuracy=%.4f",
			 r->eval.glue.accuracy);
	if (isfinite(r->eval.qa.f1))
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			 ", validation exact=%.2f F1=%.2f", r->eval.qa.exact, r->eval.qa.f1);
	if (isfinite(r->eval.rouge.rougeL.fmeasure))
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ", validation ROUGE-L=%.4f",
			 r->eval.rouge.rougeL.fmeasure);
	record_progress(r, m, "metrics", msg, data);
}

static void on_eval(void *ctx, const struct ada_metrics *m)
{
	struct run *r = ctx;
	json_t *data;

	r->eval.valid_loss = m->valid_loss;
	r->eval.valid_loss_no_framing = m->valid_loss_no_framing;
	r->eval.glue = m->glue;
	r->eval.qa = m->qa;
	r->eval.rouge = m->rouge;
	if (m->step <= r->last_eval_step)
		return;
	r->last_eval_step = m->step;
	/* data.kind says what it is (the message "validation" says it too,
	 * for clients of api.md, which knows no kind); data carries the values. */
	data = json_pack("{s:s,s:I,s:I,s:o}", "kind", "validation", "step", (json_int_t)m->step,
			 "total_steps", (json_int_t)m->total_steps, "valid_loss", num(m->valid_loss));
	add_cls_metrics(data, r);
	record_progress(r, m, "message", "validation", data);
}

static int column_adapted(const struct ada_ranks *rk, int c)
{
	for (int l = 0; l < rk->n_layers; l++)
		if (rk->ranks[l * rk->n_modules + c] >= 0)
			return 1;
	return 0;
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
	/* Columns are the family's modules by their lib names (q ... down for
	 * Llama, query ... output.dense for BERT); those adapted in no layer
	 * (not in target_modules) are left out. */
	for (int c = 0; c < rk->n_modules; c++)
		if (column_adapted(rk, c))
			json_array_append_new(modules, json_string(rk->module_names[c]));
	for (int l = 0; l < rk->n_layers; l++) {
		json_t *row = json_array();
		for (int c = 0; c < rk->n_modules; c++) {
			int v = rk->ranks[l * rk->n_modules + c];
			if (column_adapted(rk, c))
				json_array_append_new(row, v >= 0 ? json_integer(v) : json_null());
		}
		json_array_append_new(layers, row);
	}
	data = json_pack("{s:s,s:I,s:{s:I,s:I,s:I},s:I,s:o,s:i,s:o,s:b}", "kind", "ranks",
			 "step", (json_int_t)rk->step,
			 "budget", "current", (json_int_t)rk->budget, "initial",
			 (json_int_t)rk->initial, "target", (json_int_t)rk->target,
			 "kept", (json_int_t)rk->kept, "modules", modules, "init_r", rk->init_r,
			 "layers", layers, "final", rk->final);
	/* An encoder-decoder's stacks, beside the matrix (the shape above is
	 * unchanged): "layer_groups" per row ("encoder", "decoder"),
	 * "module_groups" per listed column ("self_attn", "encoder_attn", "ffn"). */
	if (data && rk->layer_groups && rk->module_groups) {
		json_t *lg = json_array(), *mg = json_array();

		for (int l = 0; l < rk->n_layers; l++)
			json_array_append_new(lg, json_string(rk->layer_groups[l]));
		for (int c = 0; c < rk->n_modules; c++)
			if (column_adapted(rk, c))
				json_array_append_new(mg, json_string(rk->module_groups[c]));
		json_object_set_new(data, "layer_groups", lg);
		json_object_set_new(data, "module_groups", mg);
	}
	text = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (!text)
		ada_fail(&err, ADA_ENOMEM, "out of memory");
	if (!text || store_event_add(r->cfg->store, r->job->id, r->job->lease_epoch, "info",
				     "message", "ranks", text, &err))
		persist_failed(r, "ranks", &err);
	free(text);
}

static void on_checkpoint(void *ctx, int64_t step, const char *dir, const struct ada_metrics *m)
{
	struct run *r = ctx;
	struct ada_err err = { 0 };
	char *metrics = latest_metrics(r, m), msg[96], data[64];

	(void)dir;
	snprintf(msg, sizeof(msg), "Checkpoint saved at step %lld", (long long)step);
	snprintf(data, sizeof(data), "{\"kind\":\"checkpoint\",\"step\":%lld}", (long long)step);
	if (!metrics ||
	    store_checkpoint_add(r->cfg->store, r->job->id, r->job->lease_epoch, step, metrics,
				 &err) ||
	    store_event_add(r->cfg->store, r->job->id, r->job->lease_epoch, "info", "message", msg,
			    data, &err))
		persist_failed(r, "checkpoint", &err);
	free(metrics);
}

static void on_log(void *ctx, const char *level, const char *msg)
{
	struct run *r = ctx;
	struct ada_err err = { 0 };
	const char *lv = !strcmp(level, "warning") || !strcmp(level, "warn") ? "warning"
			 : !strcmp(level, "error") ? "error" : "info";

	if (store_event_add(r->cfg->store, r->job->id, r->job->lease_epoch, lv, "message", msg,
			    "{\"kind\":\"log\"}", &err))
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
	{
		char output_dir[32];
		run_dir_name(cfg, j, in->out_dir, sizeof(in->out_dir), output_dir, sizeof(output_dir));
	}
	return ADA_OK;
}

void job_inputs_to_job(const struct job_inputs *in, const struct store_job *j,
		       struct ada_job *job)
{
	memset(job, 0, sizeof(*job));
	job->model = in->model.path;
	job->model_name = j->model;   /* the id, not a server path, in outputs */
	job->tokenizer = in->model.tokenizer[0] ? in->model.tokenizer : NULL;
	job->train_file = in->train_path;
	job->valid_file = in->valid_path[0] ? in->valid_path : NULL;
	job->out_dir = in->out_dir;
	job->seed = j->seed;
	job->method = in->method;
	job->resume = 1;   /* a re-queued job continues from its checkpoint */
}

/* Replace every "from" in err->msg by "to". */
static void replace_all(struct ada_err *err, const char *from, const char *to)
{
	size_t n = strlen(from);
	char out[sizeof(err->msg)], *at, *p = err->msg;
	size_t len = 0;

	if (!n || !strstr(err->msg, from))
		return;
	out[0] = '\0';
	while ((at = strstr(p, from)) && len < sizeof(out) - 1) {
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%.*s%s", (int)(at - p), p, to);
		p = at + n;
	}
	if (len < sizeof(out) - 1)
		snprintf(out + len, sizeof(out) - len, "%s", p);
	snprintf(err->msg, sizeof(err->msg), "%s", out);
}

/* What is left of an absolute path (a word starting with '/' and holding
 * another) becomes its last component. */
static void strip_paths(struct ada_err *err)
{
	char out[sizeof(err->msg)];
	size_t o = 0;

	for (const char *p = err->msg; *p && o < sizeof(out) - 1;) {
		int word_start = p == err->msg || strchr(" \t'\"(=:", p[-1]);
		size_t n = strcspn(p, " \t'\",;()");
		const char *slash;

		if (word_start && *p == '/' && n > 1 && (slash = memchr(p + 1, '/', n - 1))) {
			const char *last = p + n;
			while (last > p && last[-1] != '/')
				last--;
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%.*s", (int)(p + n - last), last);
			p += n;
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	snprintf(err->msg, sizeof(err->msg), "%s", out);
}

void job_error_name_file(const struct job_inputs *in, const struct store_job *j,
			 struct ada_err *err)
{
	const int valid = in && in->valid_path[0] && strstr(err->msg, in->valid_path);
	const int train = in && in->train_path[0] && strstr(err->msg, in->train_path);
	char name[2 * STORE_NAME_MAX + 64];

	if (in && (valid || train) && !err->param[0])
		snprintf(err->param, sizeof(err->param), "%s",
			 valid ? "validation_file" : "training_file");
	if (valid) {
		snprintf(name, sizeof(name), "validation file %s", j->validation_file);
		replace_all(err, in->valid_path, name);
	}
	if (train) {
		snprintf(name, sizeof(name), "training file %s", j->training_file);
		replace_all(err, in->train_path, name);
	}
	/* Internal paths stay internal: the model by its id, the job's own
	 * files by their place in its directory, anything else by its name. */
	if (in && in->model.tokenizer[0]) {
		snprintf(name, sizeof(name), "the tokenizer of model '%s'", j->model);
		replace_all(err, in->model.tokenizer, name);
	}
	if (in && in->model.path[0]) {
		char inside[4200];
		snprintf(inside, sizeof(inside), "%s/", in->model.path);
		snprintf(name, sizeof(name), "model '%s' file ", j->model);
		replace_all(err, inside, name);
		snprintf(name, sizeof(name), "model '%s'", j->model);
		replace_all(err, in->model.path, name);
	}
	if (in && in->out_dir[0]) {
		char inside[4200];
		snprintf(inside, sizeof(inside), "%s/", in->out_dir);
		replace_all(err, inside, "the job's ");
		replace_all(err, in->out_dir, "the job's directory");
	}
	strip_paths(err);
}

char *job_error_json(const struct ada_err *err, const char *code)
{
	json_t *o = json_pack("{s:s,s:s,s:s?}", "code", code ? code : store_code_name(err->code),
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
		if (json_is_number(json_object_get(d, "valid_loss")))
			r->eval.valid_loss = json_number_value(json_object_get(d, "valid_loss"));
		if (json_is_number(json_object_get(d, "valid_loss_no_framing")))
			r->eval.valid_loss_no_framing =
				json_number_value(json_object_get(d, "valid_loss_no_framing"));
		for (size_t i = 0; i < sizeof(glue_names) / sizeof(glue_names[0]); i++) {
			const json_t *v = json_object_get(d, glue_names[i].name);
			if (json_is_number(v))
				*(double *)((char *)&r->eval.glue + glue_names[i].offset) =
					json_number_value(v);
		}
		/* QA's, for a resumed job's metrics events until its next validation */
		if (json_is_number(json_object_get(d, METRIC_PREFIX "exact")))
			r->eval.qa.exact = json_number_value(json_object_get(d, METRIC_PREFIX "exact"));
		if (json_is_number(json_object_get(d, METRIC_PREFIX "f1")) &&
		    isfinite(r->eval.qa.exact))
			r->eval.qa.f1 = json_number_value(json_object_get(d, METRIC_PREFIX "f1"));
		/* seq2seq's ROUGE, likewise */
		for (size_t i = 0; i < sizeof(rouge_names) / sizeof(rouge_names[0]); i++) {
			const json_t *v = json_object_get(d, rouge_names[i].name);
			if (json_is_number(v))
				*(double *)((char *)&r->eval.rouge + rouge_names[i].offset) =
					json_number_value(v);
		}
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

/* The job's "classification" object from a classifier's result (JSON text):
 * the label map by class id (strings; null when the labels are the ids
 * themselves or a regression's values), the examples and how many were
 * truncated. */
static char *classification_json(const struct ada_result *res)
{
	json_t *labels = json_null(), *o;
	char *s;

	if (res->label_names) {
		labels = json_array();
		for (int i = 0; i < res->num_labels; i++)
			json_array_append_new(labels, json_string(res->label_names[i]));
	}
	o = json_pack("{s:i,s:s,s:o,s:I,s:I,s:{s:I,s:I}}", "num_labels", res->num_labels,
		      "label_kind", ada_label_kind_name(res->label_kind), "labels", labels,
		      "train_examples", (json_int_t)res->plan.train_windows, "valid_examples",
		      (json_int_t)res->plan.valid_windows, "truncated", "train",
		      (json_int_t)res->truncated_train, "valid", (json_int_t)res->truncated_valid);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

void job_run(const struct workers_config *cfg, const struct store_job *j,
	     const _Atomic int *stop, struct job_outcome *out)
{
	struct run r = { .cfg = cfg, .job = j };
	struct ada_callbacks cb = {
		.ctx = &r, .on_metrics = on_metrics, .on_eval = on_eval, .on_ranks = on_ranks,
		.on_checkpoint = on_checkpoint, .on_log = on_log,
	};
	struct ada_err err = { 0 };
	struct job_inputs *in = malloc(sizeof(*in));
	struct ada_result res;
	struct ada_job job;
	struct launch_outcome lo = { 0 };
	char msg[640], *error, *cls = NULL, output_dir[32];
	int rc, processes = job_processes(j);

	memset(&res, 0, sizeof(res));
	r.eval.valid_loss = NAN;
	r.eval.valid_loss_no_framing = NAN;
	r.eval.glue = (struct ada_glue_metrics){ NAN, NAN, NAN, NAN, NAN };
	r.eval.qa = (struct ada_qa_metrics){ NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, 0 };
	r.eval.rouge = (struct ada_rouge){ { NAN, NAN, NAN }, { NAN, NAN, NAN }, { NAN, NAN, NAN },
					   { NAN, NAN, NAN }, 0, 0 };
	log_transition(j, "running", NULL);
	if (!in) {
		ada_fail(&err, ADA_ENOMEM, "out of memory");
		rc = ADA_ENOMEM;
	} else {
		rc = job_inputs_resolve(cfg, j, in, &err);
	}
	if (!rc)
		rc = run_dir_prepare(in->out_dir, &err);
	if (!rc) {
		load_marks(&r);
		job_inputs_to_job(in, j, &job);
		job.cb = &cb;
		job.stop = stop;
		/* several processes: through the launcher, with the same callbacks */
		rc = processes > 1
			     ? launch_train(cfg->launch, in, j, &job, processes,
					    cfg->threads_per_worker / processes > 0
						    ? cfg->threads_per_worker / processes : 1,
					    &res, &lo, &err)
			     : ada_train(&job, &res, &err);
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
		if (isfinite(res.glue.accuracy))
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
				 ", validation accuracy %.4f", res.glue.accuracy);
		cls = res.num_labels > 0 ? classification_json(&res) : NULL;
		job_outcome_set(out, j->id, JOB_SUCCEEDED, NULL, model, cls, "info", msg);
		break;
	}
	case ADA_ECANCELLED:
		snprintf(msg, sizeof(msg), "Fine-tuning job cancelled (%s)", err.msg);
		job_outcome_set(out, j->id, JOB_CANCELLED, NULL, NULL, NULL, "info", msg);
		break;
	case ADA_ESTOPPED:
		snprintf(msg, sizeof(msg),
			 "The daemon is stopping: job paused (%s); it resumes at the next start",
			 err.msg);
		job_outcome_set(out, j->id, JOB_QUEUED, NULL, NULL, NULL, "info", msg);
		break;
	default:
		job_error_name_file(in, j, &err);
		error = job_error_json(&err, lo.launcher_failed ? "launcher_failed"
					     : rc == ADA_ENOTFOUND && !strcmp(err.param, "model")
						     ? "model_not_found" : NULL);
		snprintf(msg, sizeof(msg), "Fine-tuning job failed: %s", err.msg);
		job_outcome_set(out, j->id, JOB_FAILED, error, NULL, NULL, "error", msg);
		free(error);
	}
	out->epoch = j->lease_epoch;
	{
		char where[4096];
		run_dir_name(cfg, j, where, sizeof(where), output_dir, sizeof(output_dir));
	}
	snprintf(out->output_dir, sizeof(out->output_dir), "%s", output_dir);
	if (r.failed_writes)
		log_msg(LOG_WARN, "msg=\"job events not recorded\" job=%s count=%d", j->id,
			r.failed_writes);
	free(cls);
	ada_result_release(&res);
	free(in);
}
