/*
 * progress_lines — a job's callbacks as JSON lines, and back (adalora.h,
 * "Progress as JSON lines").
 *
 * A job that runs in another process (the daemon launching `adalora train`
 * under mpirun) reports through its standard output: the writer turns each
 * callback into one line, and a final "end" line says how ada_train
 * returned; the reader, in the process that launched it, calls its own
 * callbacks with the same structs. One module owns both directions so they
 * cannot drift apart. Doubles travel as JSON reals of 17 significant digits
 * (jansson's default), so they arrive bit for bit; NaN and infinities, which
 * JSON lacks, travel as null and come back as NaN (the callbacks' "none").
 *
 *   {"event":"metrics","metrics":{...}}           on_metrics
 *   {"event":"eval","metrics":{...}}              on_eval
 *   {"event":"ranks","ranks":{...}}               on_ranks
 *   {"event":"checkpoint","step":N,"dir":"...","metrics":{...}}
 *   {"event":"log","level":"info","message":"..."}
 *   {"event":"end","code":0,"error":{"code","param","message"},"result":{...}}
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "util/err.h"

/* A line longer than this is not one of ours (a rank matrix of 1000 layers
 * fits many times over). */
#define MAX_LINE (16u << 20)

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static double get_num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int64_t get_int(const json_t *o, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static json_t *glue_json(const struct ada_glue_metrics *g)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o}", "accuracy", num(g->accuracy), "f1", num(g->f1),
			 "mcc", num(g->mcc), "pearson", num(g->pearson), "spearman",
			 num(g->spearman));
}

static void glue_read(const json_t *o, struct ada_glue_metrics *g)
{
	g->accuracy = get_num(o, "accuracy");
	g->f1 = get_num(o, "f1");
	g->mcc = get_num(o, "mcc");
	g->pearson = get_num(o, "pearson");
	g->spearman = get_num(o, "spearman");
}

/* ROUGE as ada_rouge_to_json writes it (nulls for NAN), and back. */
static void rouge_read(const json_t *o, struct ada_rouge *r)
{
	static const char *const names[] = { "rouge1", "rouge2", "rougeL", "rougeLsum" };
	struct ada_rouge_score *s[] = { &r->rouge1, &r->rouge2, &r->rougeL, &r->rougeLsum };

	for (int i = 0; i < 4; i++) {
		const json_t *x = json_object_get(o, names[i]);
		s[i]->precision = get_num(x, "precision");
		s[i]->recall = get_num(x, "recall");
		s[i]->fmeasure = get_num(x, "fmeasure");
	}
	r->n = get_int(o, "n", 0);
	r->use_stemmer = json_is_true(json_object_get(o, "use_stemmer"));
}

static json_t *metrics_json(const struct ada_metrics *m)
{
	json_t *o = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:I,s:o,s:o}",
			      "step", (json_int_t)m->step, "total_steps", (json_int_t)m->total_steps,
			      "epoch", num(m->epoch), "train_loss", num(m->train_loss),
			      "valid_loss", num(m->valid_loss),
			      "valid_loss_no_framing", num(m->valid_loss_no_framing),
			      "learning_rate", num(m->learning_rate), "grad_norm", num(m->grad_norm),
			      "orth_reg", num(m->orth_reg), "budget", (json_int_t)m->budget,
			      "tokens_per_second", num(m->tokens_per_second),
			      "trained_tokens", (json_int_t)m->trained_tokens,
			      "eta_seconds", num(m->eta_seconds),
			      "elapsed_seconds", num(m->elapsed_seconds));

	if (o) {
		json_object_set_new(o, "glue", glue_json(&m->glue));
		json_object_set_new(o, "rouge", ada_rouge_to_json(&m->rouge));
	}
	return o;
}

static void metrics_read(const json_t *o, struct ada_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->step = get_int(o, "step", 0);
	m->total_steps = get_int(o, "total_steps", 0);
	m->epoch = get_num(o, "epoch");
	m->train_loss = get_num(o, "train_loss");
	m->valid_loss = get_num(o, "valid_loss");
	m->valid_loss_no_framing = get_num(o, "valid_loss_no_framing");
	m->learning_rate = get_num(o, "learning_rate");
	m->grad_norm = get_num(o, "grad_norm");
	m->orth_reg = get_num(o, "orth_reg");
	m->budget = get_int(o, "budget", -1);
	m->tokens_per_second = get_num(o, "tokens_per_second");
	m->trained_tokens = get_int(o, "trained_tokens", 0);
	m->eta_seconds = get_num(o, "eta_seconds");
	m->elapsed_seconds = get_num(o, "elapsed_seconds");
	glue_read(json_object_get(o, "glue"), &m->glue);
	rouge_read(json_object_get(o, "rouge"), &m->rouge);
}

/* ---- the writer --------------------------------------------------------- */

/* One line, flushed: the reader acts on it at once. The event object is
 * stolen. */
static void emit(FILE *out, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (text) {
		fputs(text, out);
		fputc('\n', out);
		fflush(out);
	}
	free(text);
	json_decref(o);
}

static void w_metrics(void *ctx, const struct ada_metrics *m)
{
	emit(ctx, json_pack("{s:s,s:o}", "event", "metrics", "metrics", metrics_json(m)));
}

static void w_eval(void *ctx, const struct ada_metrics *m)
{
	emit(ctx, json_pack("{s:s,s:o}", "event", "eval", "metrics", metrics_json(m)));
}

static void w_ranks(void *ctx, const struct ada_ranks *r)
{
	json_t *names = json_array(), *ranks = json_array();

	for (int c = 0; c < r->n_modules; c++)
		json_array_append_new(names, json_string(r->module_names[c]));
	for (int i = 0; i < r->n_layers * r->n_modules; i++)
		json_array_append_new(ranks, json_integer(r->ranks[i]));
	emit(ctx, json_pack("{s:s,s:{s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:o,s:o,s:b}}", "event",
			    "ranks", "ranks", "step", (json_int_t)r->step, "budget",
			    (json_int_t)r->budget, "kept", (json_int_t)r->kept, "initial",
			    (json_int_t)r->initial, "target", (json_int_t)r->target, "init_r",
			    r->init_r, "n_layers", r->n_layers, "n_modules", r->n_modules,
			    "module_names", names, "ranks", ranks, "final", r->final));
}

static void w_checkpoint(void *ctx, int64_t step, const char *dir, const struct ada_metrics *m)
{
	emit(ctx, json_pack("{s:s,s:I,s:s,s:o}", "event", "checkpoint", "step", (json_int_t)step,
			    "dir", dir ? dir : "", "metrics", metrics_json(m)));
}

static void w_log(void *ctx, const char *level, const char *msg)
{
	emit(ctx, json_pack("{s:s,s:s,s:s}", "event", "log", "level", level, "message", msg));
}

void ada_progress_callbacks(FILE *out, struct ada_callbacks *cb)
{
	memset(cb, 0, sizeof(*cb));
	cb->ctx = out;
	cb->on_metrics = w_metrics;
	cb->on_eval = w_eval;
	cb->on_ranks = w_ranks;
	cb->on_checkpoint = w_checkpoint;
	cb->on_log = w_log;
}

static json_t *plan_json(const struct ada_plan *p)
{
	return json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:I,s:I,s:I,s:I}", "task", p->task,
			 "total_steps", (json_int_t)p->total_steps, "steps_per_epoch",
			 (json_int_t)p->steps_per_epoch, "n_epochs", (json_int_t)p->n_epochs,
			 "train_windows", (json_int_t)p->train_windows, "valid_windows",
			 (json_int_t)p->valid_windows, "train_tokens", (json_int_t)p->train_tokens,
			 "num_labels", p->num_labels, "n_matrices", (json_int_t)p->n_matrices,
			 "trainable_params", (json_int_t)p->trainable_params, "budget_initial",
			 (json_int_t)p->budget_initial, "budget_target",
			 (json_int_t)p->budget_target, "memory_bytes", (json_int_t)p->memory_bytes);
}

static json_t *result_json(const struct ada_result *r)
{
	json_t *labels = json_null(), *o;

	if (r->label_names) {
		labels = json_array();
		for (int i = 0; i < r->num_labels; i++)
			json_array_append_new(labels, json_string(r->label_names[i]));
	}
	o = json_pack("{s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:s,s:o,s:i,s:i,s:o,s:I,s:I}",
		      "plan", plan_json(&r->plan), "steps", (json_int_t)r->steps, "train_loss",
		      num(r->train_loss), "valid_loss", num(r->valid_loss), "valid_loss_initial",
		      num(r->valid_loss_initial), "valid_loss_no_framing",
		      num(r->valid_loss_no_framing), "valid_loss_no_framing_initial",
		      num(r->valid_loss_no_framing_initial), "trained_tokens",
		      (json_int_t)r->trained_tokens, "seconds", num(r->seconds), "adapter_dir",
		      r->adapter_dir, "glue", glue_json(&r->glue), "num_labels", r->num_labels,
		      "label_kind", r->label_kind, "label_names", labels, "truncated_train",
		      (json_int_t)r->truncated_train, "truncated_valid",
		      (json_int_t)r->truncated_valid);
	if (o) {
		json_object_set_new(o, "rouge", ada_rouge_to_json(&r->rouge));
		json_object_set_new(o, "rouge_initial", ada_rouge_to_json(&r->rouge_initial));
	}
	return o;
}

int ada_progress_end(FILE *out, int rc, const struct ada_result *res, const struct ada_err *err)
{
	json_t *o = json_pack("{s:s,s:i,s:{s:i,s:s,s:s},s:o}", "event", "end", "code", rc, "error",
			      "code", rc ? err->code : 0, "param", rc ? err->param : "", "message",
			      rc ? err->msg : "", "result", result_json(res));

	if (!o)
		return ADA_ENOMEM;
	emit(out, o);
	return ferror(out) ? ADA_EIO : ADA_OK;
}

/* ---- the reader --------------------------------------------------------- */

static int read_ranks(const json_t *o, const struct ada_callbacks *cb, struct ada_err *err)
{
	const json_t *names = json_object_get(o, "module_names");
	const json_t *ranks = json_object_get(o, "ranks");
	const int64_t L = get_int(o, "n_layers", -1), M = get_int(o, "n_modules", -1);
	const char **nv;
	int *rv;
	struct ada_ranks r = {
		.step = get_int(o, "step", 0), .budget = get_int(o, "budget", 0),
		.kept = get_int(o, "kept", 0), .initial = get_int(o, "initial", 0),
		.target = get_int(o, "target", 0), .init_r = (int)get_int(o, "init_r", 0),
		.n_layers = (int)L, .n_modules = (int)M,
		.final = json_is_true(json_object_get(o, "final")),
	};

	if (L < 0 || M < 0 || L > 1 << 16 || M > 64 || !json_is_array(names) ||
	    !json_is_array(ranks) || json_array_size(names) != (size_t)M ||
	    json_array_size(ranks) != (size_t)(L * M))
		return ada_fail(err, ADA_EFORMAT, "a ranks line of the wrong shape");
	nv = xcalloc((size_t)M + 1, sizeof(*nv));
	rv = xcalloc((size_t)(L * M) + 1, sizeof(*rv));
	if (!nv || !rv) {
		free(nv);
		free(rv);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	for (int64_t c = 0; c < M; c++)
		nv[c] = json_is_string(json_array_get(names, (size_t)c))
				? json_string_value(json_array_get(names, (size_t)c)) : "";
	for (int64_t i = 0; i < L * M; i++)
		rv[i] = (int)json_integer_value(json_array_get(ranks, (size_t)i));
	r.module_names = nv;
	r.ranks = rv;
	if (cb && cb->on_ranks)
		cb->on_ranks(cb->ctx, &r);
	free(nv);
	free(rv);
	return ADA_OK;
}

static int read_end(const json_t *o, struct ada_progress_end *end, struct ada_err *err)
{
	const json_t *e = json_object_get(o, "error"), *r = json_object_get(o, "result");
	const json_t *p = json_object_get(r, "plan"), *labels = json_object_get(r, "label_names");
	struct ada_result *res = &end->res;
	const char *s;

	ada_result_release(res);
	memset(end, 0, sizeof(*end));
	if (!json_is_integer(json_object_get(o, "code")) || !json_is_object(r))
		return ada_fail(err, ADA_EFORMAT, "an end line without its code or result");
	end->ended = 1;
	end->rc = (int)json_integer_value(json_object_get(o, "code"));
	end->err.code = (int)get_int(e, "code", end->rc);
	if ((s = json_string_value(json_object_get(e, "param"))))
		snprintf(end->err.param, sizeof(end->err.param), "%s", s);
	if ((s = json_string_value(json_object_get(e, "message"))))
		snprintf(end->err.msg, sizeof(end->err.msg), "%s", s);
	res->plan.task = (int)get_int(p, "task", 0);
	res->plan.total_steps = get_int(p, "total_steps", 0);
	res->plan.steps_per_epoch = get_int(p, "steps_per_epoch", 0);
	res->plan.n_epochs = get_int(p, "n_epochs", 0);
	res->plan.train_windows = get_int(p, "train_windows", 0);
	res->plan.valid_windows = get_int(p, "valid_windows", 0);
	res->plan.train_tokens = get_int(p, "train_tokens", 0);
	res->plan.num_labels = (int)get_int(p, "num_labels", 0);
	res->plan.n_matrices = get_int(p, "n_matrices", 0);
	res->plan.trainable_params = get_int(p, "trainable_params", 0);
	res->plan.budget_initial = get_int(p, "budget_initial", -1);
	res->plan.budget_target = get_int(p, "budget_target", -1);
	res->plan.memory_bytes = get_int(p, "memory_bytes", 0);
	res->steps = get_int(r, "steps", 0);
	res->train_loss = get_num(r, "train_loss");
	res->valid_loss = get_num(r, "valid_loss");
	res->valid_loss_initial = get_num(r, "valid_loss_initial");
	res->valid_loss_no_framing = get_num(r, "valid_loss_no_framing");
	res->valid_loss_no_framing_initial = get_num(r, "valid_loss_no_framing_initial");
	res->trained_tokens = get_int(r, "trained_tokens", 0);
	res->seconds = get_num(r, "seconds");
	if ((s = json_string_value(json_object_get(r, "adapter_dir"))))
		snprintf(res->adapter_dir, sizeof(res->adapter_dir), "%s", s);
	glue_read(json_object_get(r, "glue"), &res->glue);
	rouge_read(json_object_get(r, "rouge"), &res->rouge);
	rouge_read(json_object_get(r, "rouge_initial"), &res->rouge_initial);
	res->num_labels = (int)get_int(r, "num_labels", 0);
	res->label_kind = (int)get_int(r, "label_kind", 0);
	res->truncated_train = get_int(r, "truncated_train", 0);
	res->truncated_valid = get_int(r, "truncated_valid", 0);
	if (json_is_array(labels) && res->num_labels > 0 &&
	    json_array_size(labels) == (size_t)res->num_labels) {
		res->label_names = xcalloc((size_t)res->num_labels, sizeof(*res->label_names));
		if (!res->label_names)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		for (int i = 0; i < res->num_labels; i++) {
			s = json_string_value(json_array_get(labels, (size_t)i));
			if (!(res->label_names[i] = strdup(s ? s : "")))
				return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
	}
	return ADA_OK;
}

int ada_progress_line(const char *line, size_t len, const struct ada_callbacks *cb,
		      struct ada_progress_end *end, struct ada_err *err)
{
	json_t *o;
	const char *ev;
	struct ada_metrics m;
	int rc = ADA_OK;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (!len || line[0] != '{' || len > MAX_LINE)
		return ada_fail(err, ADA_EFORMAT, "not a progress line");
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	ev = json_string_value(json_object_get(o, "event"));
	if (!ev) {
		json_decref(o);
		return ada_fail(err, ADA_EFORMAT, "not a progress line");
	}
	if (!strcmp(ev, "metrics") || !strcmp(ev, "eval")) {
		metrics_read(json_object_get(o, "metrics"), &m);
		if (cb && ev[0] == 'm' && cb->on_metrics)
			cb->on_metrics(cb->ctx, &m);
		else if (cb && ev[0] == 'e' && cb->on_eval)
			cb->on_eval(cb->ctx, &m);
	} else if (!strcmp(ev, "ranks")) {
		rc = read_ranks(json_object_get(o, "ranks"), cb, err);
	} else if (!strcmp(ev, "checkpoint")) {
		const char *d = json_string_value(json_object_get(o, "dir"));
		metrics_read(json_object_get(o, "metrics"), &m);
		if (cb && cb->on_checkpoint)
			cb->on_checkpoint(cb->ctx, get_int(o, "step", 0), d ? d : "", &m);
	} else if (!strcmp(ev, "log")) {
		const char *lv = json_string_value(json_object_get(o, "level"));
		const char *msg = json_string_value(json_object_get(o, "message"));
		if (cb && cb->on_log)
			cb->on_log(cb->ctx, lv ? lv : "info", msg ? msg : "");
	} else if (!strcmp(ev, "end")) {
		rc = end ? read_end(o, end, err) : ADA_OK;
	} else {
		rc = ada_fail(err, ADA_EFORMAT, "an unknown progress event '%s'", ev);
	}
	json_decref(o);
	return rc;
}
