/*
 * eval — ada_eval(): how well a model (with an optional adapter) does on a
 * data file.
 *
 * Language models: held-out loss and perplexity, the file packed into
 * windows like training data. Classifiers (an adapter a classification
 * job wrote, head and label map included): every example encoded and
 * truncated as training did (seq_len defaults to the job's, recorded in
 * the adapter), then classifier_evaluate() — the function the trainer's
 * validation runs — for the mean loss and the GLUE metrics. Extractive QA
 * (an adapter a question_answering job wrote, with qa.json): the questions
 * windowed with the job's settings and span_evaluate(), the trainer's
 * validation, for the official exact match and F1; with a predictions file
 * (ada_eval_qa) the same logits also give each question's answer as
 * serving reports it (data/qa_answer.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/class_data.h"
#include "data/data.h"
#include "data/qa_answer.h"
#include "data/qa_data.h"
#include "data/qa_metrics.h"
#include "data/rouge.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/strbuf.h"
#include "net/evaluate.h"
#include "nn/parallel.h"
#include "model/model_framing.h"
#include "net/lm_encoder.h"
#include "infer/inference_net.h"

#define EVAL_BATCH 8
#define EVAL_MAX_SEQ 1024

static int n_threads(void)
{
	return nn_threads();
}

static int eval_lm(struct inference_net *in, const char *model_name, const char *data_file,
		   int seq_len, const struct ada_framing *fr, struct ada_eval_result *res,
		   struct ada_err *err)
{
	struct dataset ds = { 0 };
	struct llama_acts acts;
	struct lm_encoder *enc = xcalloc(1, sizeof(*enc));
	int32_t *inputs = NULL, *targets = NULL;
	struct nll_sums s;
	int rc, B;

	if (!enc)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = lm_encoder_init(enc, in->tok, fr ? fr->chat_template : NULL, fr ? fr->append_eos : -1,
			     model_default_append_eos(in->model, in->tok), model_name, err);
	if (!rc)
		rc = dataset_load(data_file, seq_len, &enc->enc, &ds, err);
	if (rc) {
		free(enc);
		return rc;
	}
	res->append_eos = enc->append_eos;
	if (ds.shape == ADA_SHAPE_CHAT)
		snprintf(res->chat_template, sizeof(res->chat_template), "%s",
			 chat_family_name(enc->chat.family));
	free(enc);
	B = ds.n_windows < EVAL_BATCH ? (int)ds.n_windows : EVAL_BATCH;
	rc = llama_acts_init(&acts, &in->net.d, B, seq_len, n_threads());
	if (rc) {
		rc = ada_fail(err, rc, "out of memory for activations");
		goto out_ds;
	}
	inputs = xcalloc((size_t)B * seq_len, sizeof(*inputs));
	targets = xcalloc((size_t)B * seq_len, sizeof(*targets));
	if (!inputs || !targets)
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	else if ((rc = evaluate_nll(&in->net, &acts, &ds, inputs, targets, &s)))
		rc = ada_fail(err, rc, "evaluation failed");
	if (!rc) {
		res->tokens = s.n;
		res->mean_nll = s.n ? s.nll / (double)s.n : NAN;
		res->perplexity = exp(res->mean_nll);
		res->framing_tokens = s.n - s.n_no_framing;
		res->mean_nll_no_framing = s.n_no_framing ? s.nll_no_framing / (double)s.n_no_framing
							  : NAN;
		res->perplexity_no_framing = exp(res->mean_nll_no_framing);
	}
	free(inputs);
	free(targets);
	llama_acts_release(&acts);
out_ds:
	dataset_release(&ds);
	return rc;
}

static int eval_classifier(struct inference_net *in, const char *data_file,
			   enum ada_file_format fmt, int seq_len, struct ada_eval_result *res,
			   struct ada_err *err)
{
	struct class_dataset ds;
	struct classifier_acts acts;
	struct pair_encoder enc;
	struct cls_metrics m;
	int rc, B;

	classifier_pair_encoder(&enc, in->tok);
	rc = class_data_load(data_file, class_file_format_of(fmt), &enc, seq_len,
			     &in->adapter.labels, 0, &ds, err);
	if (rc)
		return rc;
	B = ds.n < EVAL_BATCH ? (int)ds.n : EVAL_BATCH;
	if ((rc = classifier_acts_init(&acts, &in->cls, B, seq_len, n_threads(), 0))) {
		rc = ada_fail(err, rc, "out of memory for activations");
		goto out_ds;
	}
	if ((rc = classifier_evaluate(&in->cls, &acts, &ds, &m))) {
		rc = ada_fail(err, rc, "%s: evaluation failed (%s)", data_file,
			      rc == ADA_ENOMEM ? "out of memory" : "an example the network refuses");
	} else {
		res->examples = ds.n;
		res->truncated = ds.n_truncated;
		res->loss = m.loss;
		res->glue = m.glue;
	}
	classifier_acts_release(&acts);
out_ds:
	class_dataset_release(&ds);
	return rc;
}

/* Each question's answer as one JSON line of path: the n-best of the
 * windows' logits (what serving answers), the best span only. */
static int write_predictions(const struct qa_set *set, const struct qa_features *f,
			     const float *start, const float *end, const struct qa_predict_opts *po,
			     const char *path, struct ada_err *err)
{
	struct qa_nbest *nb = xcalloc((size_t)set->n + 1, sizeof(*nb));
	struct strbuf sb = STRBUF_INIT;
	int64_t w = 0;
	int rc;

	if (!nb)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = qa_nbest_build(set, f, start, end, po, nb, err);
	for (int64_t e = 0; !rc && e < set->n; e++) {
		struct ada_qa_answer a;
		json_t *o, *ans;
		char *line;

		if ((rc = qa_answer_make(set->contexts[set->ex[e].context], &nb[e], set->has_no_answer,
					 po->null_score_diff_threshold, po->n_best_size, 1, &a, err)))
			break;
		for (; w < f->n && f->example[w] == e; w++) {
			a.windows++;
			a.tokens += f->lengths[w];
		}
		o = json_pack("{s:s}", "id", set->ex[e].id);
		ans = ada_qa_answer_to_json(&a);
		ada_qa_answer_release(&a);
		if (o && ans)
			json_object_update(o, ans);
		json_object_del(o, "truncated");   /* serving's: a request's one question */
		line = o && ans ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		json_decref(ans);
		if (!line) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			break;
		}
		strbuf_addstr(&sb, line);
		strbuf_add(&sb, "\n", 1);
		free(line);
	}
	if (!rc && sb.failed)
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	if (!rc)
		rc = file_write_atomic(path, sb.p ? sb.p : "", sb.n, err);
	strbuf_release(&sb);
	qa_nbest_release(nb, set->n);
	free(nb);
	return rc;
}

/* Extractive QA: the questions windowed as the job did (qa.json), then
 * span_evaluate() — the trainer's validation; with predictions, its steps
 * one by one so that the logits also give the answers. */
static int eval_qa(struct inference_net *in, const char *data_file, int seq_len,
		   const char *predictions, struct ada_eval_result *res, struct ada_err *err)
{
	const struct ada_hparams *hp = &in->adapter.qa_hp;
	const struct qa_window_opts wo = { .seq_len = seq_len, .doc_stride = hp->doc_stride,
					   .max_query_length = hp->max_query_length };
	const struct qa_predict_opts po = { .n_best_size = hp->n_best_size,
					    .max_answer_length = hp->max_answer_length,
					    .null_score_diff_threshold = hp->null_score_diff_threshold };
	struct qa_set set;
	struct qa_features f;
	struct span_acts acts;
	float *start = NULL, *end = NULL;
	char **texts = NULL;
	int rc, B;

	if ((rc = qa_set_load(data_file, &set, err)))
		return rc;
	if ((rc = qa_features_build(&set, in->tok, &wo, &f, err)))
		goto out_set;
	B = f.n < EVAL_BATCH ? (int)f.n : EVAL_BATCH;
	if ((rc = span_acts_init(&acts, &in->span, B > 0 ? B : 1, seq_len, n_threads()))) {
		rc = ada_fail(err, rc, "out of memory for activations");
		goto out_f;
	}
	if (!predictions) {
		rc = span_evaluate(&in->span, &acts, &set, &f, &po, &res->qa, &res->loss, NULL, err);
		goto out_acts;
	}
	start = xcalloc((size_t)f.n * (size_t)seq_len + 1, sizeof(*start));
	end = xcalloc((size_t)f.n * (size_t)seq_len + 1, sizeof(*end));
	texts = xcalloc((size_t)set.n + 1, sizeof(*texts));
	if (!start || !end || !texts) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_acts;
	}
	if ((rc = span_logits(&in->span, &acts, &f, start, end, &res->loss, err)) ||
	    (rc = qa_predict(&set, &f, start, end, &po, texts, err)))
		goto out_acts;
	rc = qa_score(&set, texts, &res->qa, err);
	for (int64_t e = 0; e < set.n; e++)
		free(texts[e]);
	if (!rc)
		rc = write_predictions(&set, &f, start, end, &po, predictions, err);
out_acts:
	if (!rc) {
		res->examples = set.n;
		res->features = f.n;
		res->truncated = f.n_truncated_q;
	}
	free(start);
	free(end);
	free(texts);
	span_acts_release(&acts);
out_f:
	qa_features_release(&f);
out_set:
	qa_set_release(&set);
	return rc;
}

/* ada_eval, and with predictions (a QA model only) ada_eval_qa. */
static int eval_model(const struct ada_infer_opts *o, const char *data_file,
		      enum ada_file_format fmt, int seq_len, const struct ada_framing *framing,
		      const char *predictions, struct ada_eval_result *res, struct ada_err *err)
{
	struct inference_net in;
	int rc, context;

	memset(res, 0, sizeof(*res));
	res->mean_nll = res->perplexity = res->loss = NAN;
	res->mean_nll_no_framing = res->perplexity_no_framing = NAN;
	glue_metrics_clear(&res->glue);
	qa_metrics_clear(&res->qa);
	rouge_clear(&res->rouge);
	if ((rc = inference_net_open(&in, o, err)))
		return rc;
	if (predictions && !in.is_qa) {
		rc = ada_fail_param(err, ADA_EINVAL, "predictions",
				    "%s: predictions are written for a question answering adapter (or, by ada_eval_seq2seq, an encoder-decoder)",
				    o->adapter ? o->adapter : o->model);
		goto out_close;
	}
	if (in.model->cfg.family == ADA_FAMILY_BART) {
		struct ada_s2s_eval_opts so = { .max_source_length = seq_len, .generate = 1 };

		inference_net_close(&in);
		return ada_eval_seq2seq(o, data_file, &so, res, err);
	}
	context = in.model->cfg.context_length;
	if (seq_len <= 0)
		seq_len = (in.is_classifier || in.is_qa) && in.adapter.seq_len ? in.adapter.seq_len :
			  context < EVAL_MAX_SEQ ? context : EVAL_MAX_SEQ;
	if (seq_len > context) {
		rc = ada_fail_param(err, ADA_EINVAL, "seq_len",
				    "--seq-len %d exceeds the model's context length (%d)", seq_len,
				    context);
		goto out_close;
	}
	if (in.is_qa) {
		res->question_answering = 1;
		rc = eval_qa(&in, data_file, seq_len, predictions, res, err);
	} else if (in.is_classifier) {
		res->classification = 1;
		res->num_labels = in.adapter.n_labels;
		rc = eval_classifier(&in, data_file, fmt, seq_len, res, err);
	} else if (in.model->cfg.family != ADA_FAMILY_LLAMA) {
		rc = ada_fail(err, ADA_EINVAL,
			      "%s: an encoder evaluates as a classifier: pass the adapter a classification job wrote (--adapter)",
			      o->model);
	} else if (fmt == ADA_FILE_GLUE_TSV) {
		rc = ada_fail_param(err, ADA_EINVAL, "format",
				    "--format glue-tsv is classification data: pass a classifier's adapter (--adapter)");
	} else {
		rc = eval_lm(&in, o->model, data_file, seq_len, framing, res, err);
	}
out_close:
	inference_net_close(&in);
	return rc;
}

int ada_eval(const struct ada_infer_opts *o, const char *data_file, enum ada_file_format fmt,
	     int seq_len, const struct ada_framing *framing, struct ada_eval_result *res,
	     struct ada_err *err)
{
	return eval_model(o, data_file, fmt, seq_len, framing, NULL, res, err);
}

int ada_eval_qa(const struct ada_infer_opts *o, const char *data_file, int seq_len,
		const char *predictions, struct ada_eval_result *res, struct ada_err *err)
{
	return eval_model(o, data_file, ADA_FILE_AUTO, seq_len, NULL, predictions, res, err);
}
