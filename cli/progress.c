/* progress — stderr lines and metrics.jsonl for `adalora train`; see progress.h. */
#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int progress_open(struct progress *p, const char *path, int append)
{
	memset(p, 0, sizeof(*p));
	if (!path)
		return 0;
	p->jsonl = fopen(path, append ? "a" : "w");
	return p->jsonl ? 0 : -1;
}

void progress_close(struct progress *p)
{
	if (p->jsonl)
		fclose(p->jsonl);
	p->jsonl = NULL;
}

void format_duration(double s, char *buf, size_t cap)
{
	long t = isfinite(s) && s > 0 ? (long)(s + 0.5) : 0;

	if (t >= 3600)
		snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else if (t >= 60)
		snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, cap, "%lds", t);
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static void emit(struct progress *p, json_t *j)
{
	char *s;

	if (!p->jsonl) {
		json_decref(j);
		return;
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return;
	fputs(s, p->jsonl);
	fputc('\n', p->jsonl);
	fflush(p->jsonl);
	free(s);
}

static json_t *metrics_json(const char *type, const struct ada_metrics *m)
{
	json_t *j = json_object();

	json_object_set_new(j, "type", json_string(type));
	json_object_set_new(j, "step", json_integer(m->step));
	json_object_set_new(j, "total_steps", json_integer(m->total_steps));
	json_object_set_new(j, "epoch", json_real(m->epoch));
	json_object_set_new(j, "train_loss", num(m->train_loss));
	json_object_set_new(j, "valid_loss", num(m->valid_loss));
	if (isfinite(m->valid_loss_no_framing))
		json_object_set_new(j, "valid_loss_no_framing", json_real(m->valid_loss_no_framing));
	json_object_set_new(j, "learning_rate", json_real(m->learning_rate));
	json_object_set_new(j, "grad_norm", num(m->grad_norm));
	json_object_set_new(j, "orth_reg", json_real(m->orth_reg));
	json_object_set_new(j, "budget", m->budget >= 0 ? json_integer(m->budget) : json_null());
	json_object_set_new(j, "tokens_per_second", json_real(m->tokens_per_second));
	json_object_set_new(j, "trained_tokens", json_integer(m->trained_tokens));
	/* a classifier's latest evaluation */
	ada_glue_metrics_json(j, &m->glue, 0, "");
	ada_qa_metrics_json(j, &m->qa, "valid_");
	/* a seq2seq validation's decodes: valid_rouge1, ... (F-measures) */
	ada_rouge_json(j, &m->rouge, "valid_");
	return j;
}

static void on_metrics(void *ctx, const struct ada_metrics *m)
{
	struct progress *p = ctx;
	char eta[32], budget[32] = "";

	emit(p, metrics_json("metrics", m));
	if (p->quiet)
		return;
	format_duration(m->eta_seconds, eta, sizeof(eta));
	if (m->budget >= 0)
		snprintf(budget, sizeof(budget), " | budget %lld", (long long)m->budget);
	fprintf(stderr, "step %lld/%lld | loss %.4f | lr %.3g%s | %.0f tok/s | ETA %s\n",
		(long long)m->step, (long long)m->total_steps, m->train_loss, m->learning_rate,
		budget, m->tokens_per_second, eta);
}

static void on_eval(void *ctx, const struct ada_metrics *m)
{
	struct progress *p = ctx;

	emit(p, metrics_json("eval", m));
	if (p->quiet)
		return;
	fprintf(stderr, "step %lld/%lld | validation loss %.4f", (long long)m->step,
		(long long)m->total_steps, m->valid_loss);
	if (isfinite(m->valid_loss_no_framing) && m->valid_loss_no_framing != m->valid_loss)
		fprintf(stderr, " (%.4f without framing tokens)", m->valid_loss_no_framing);
	if (isfinite(m->glue.accuracy))
		fprintf(stderr, " | accuracy %.4f", m->glue.accuracy);
	if (isfinite(m->qa.f1))
		fprintf(stderr, " | exact %.2f F1 %.2f", m->qa.exact, m->qa.f1);
	if (isfinite(m->glue.pearson))
		fprintf(stderr, " | Pearson %.4f", m->glue.pearson);
	if (m->rouge.n)
		fprintf(stderr, " | ROUGE-1/2/L/Lsum %.4f/%.4f/%.4f/%.4f", m->rouge.rouge1.fmeasure,
			m->rouge.rouge2.fmeasure, m->rouge.rougeL.fmeasure, m->rouge.rougeLsum.fmeasure);
	fputc('\n', stderr);
}

static void on_ranks(void *ctx, const struct ada_ranks *r)
{
	struct progress *p = ctx;
	json_t *j = json_object(), *layers = json_array();

	for (int l = 0; l < r->n_layers; l++) {
		json_t *row = json_array();
		for (int m = 0; m < r->n_modules; m++)
			json_array_append_new(row, json_integer(r->ranks[l * r->n_modules + m]));
		json_array_append_new(layers, row);
	}
	json_object_set_new(j, "type", json_string("ranks"));
	json_object_set_new(j, "step", json_integer(r->step));
	json_object_set_new(j, "budget", json_integer(r->budget));
	json_object_set_new(j, "kept", json_integer(r->kept));
	json_object_set_new(j, "initial", json_integer(r->initial));
	json_object_set_new(j, "target", json_integer(r->target));
	json_object_set_new(j, "init_r", json_integer(r->init_r));
	json_object_set_new(j, "final", json_boolean(r->final));
	json_object_set_new(j, "layers", layers);
	emit(p, j);
}

static void on_checkpoint(void *ctx, int64_t step, const char *dir, const struct ada_metrics *m)
{
	struct progress *p = ctx;
	json_t *j = metrics_json("checkpoint", m);

	json_object_set_new(j, "step", json_integer(step));
	json_object_set_new(j, "path", json_string(dir));
	emit(p, j);
}

static void on_log(void *ctx, const char *level, const char *msg)
{
	struct progress *p = ctx;

	if (!p->quiet || strcmp(level, "info"))
		fprintf(stderr, "%s%s\n", strcmp(level, "info") ? "warning: " : "", msg);
}

void progress_callbacks(struct progress *p, struct ada_callbacks *cb)
{
	memset(cb, 0, sizeof(*cb));
	cb->ctx = p;
	cb->on_metrics = on_metrics;
	cb->on_eval = on_eval;
	cb->on_ranks = on_ranks;
	cb->on_checkpoint = on_checkpoint;
	cb->on_log = on_log;
}

/* ---- two sets of callbacks as one --------------------------------------- */

static void tee_metrics(void *ctx, const struct ada_metrics *m)
{
	const struct ada_callbacks *t = ctx;

	for (int i = 0; i < 2; i++)
		if (t[i].on_metrics)
			t[i].on_metrics(t[i].ctx, m);
}

static void tee_eval(void *ctx, const struct ada_metrics *m)
{
	const struct ada_callbacks *t = ctx;

	for (int i = 0; i < 2; i++)
		if (t[i].on_eval)
			t[i].on_eval(t[i].ctx, m);
}

static void tee_ranks(void *ctx, const struct ada_ranks *r)
{
	const struct ada_callbacks *t = ctx;

	for (int i = 0; i < 2; i++)
		if (t[i].on_ranks)
			t[i].on_ranks(t[i].ctx, r);
}

static void tee_checkpoint(void *ctx, int64_t step, const char *dir, const struct ada_metrics *m)
{
	const struct ada_callbacks *t = ctx;

	for (int i = 0; i < 2; i++)
		if (t[i].on_checkpoint)
			t[i].on_checkpoint(t[i].ctx, step, dir, m);
}

static void tee_log(void *ctx, const char *level, const char *msg)
{
	const struct ada_callbacks *t = ctx;

	for (int i = 0; i < 2; i++)
		if (t[i].on_log)
			t[i].on_log(t[i].ctx, level, msg);
}

void progress_tee(const struct ada_callbacks both[2], struct ada_callbacks *cb)
{
	memset(cb, 0, sizeof(*cb));
	cb->ctx = (void *)both;
	cb->on_metrics = tee_metrics;
	cb->on_eval = tee_eval;
	cb->on_ranks = tee_ranks;
	cb->on_checkpoint = tee_checkpoint;
	cb->on_log = tee_log;
}
