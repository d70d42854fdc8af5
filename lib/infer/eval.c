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
 * validation, for the official exact match and F1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/class_data.h"
#include "data/data.h"
#include "data/qa_data.h"
#include "data/qa_metrics.h"
#include "data/rouge.h"
#include "util/alloc.h"
#include "util/err.h"
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

/* Extractive QA: the questions windowed as the job did (qa.json), then
 * span_evaluate() — the trainer's validation. */
static int eval_qa(struct inference_net *in, const char *data_file, int seq_len,
		   struct ada_eval_result *res, struct ada_err *err)
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
	rc = span_evaluate(&in->span, &acts, &set, &f, &po, &res->qa, &res->loss, NULL, err);
	if (!rc) {
		res->examples = set.n;
		res->features = f.n;
		res->truncated = f.n_truncated_q;
	}
	span_acts_release(&acts);
out_f:
	qa_features_release(&f);
out_set:
	qa_set_release(&set);
	return rc;
}

int ada_eval(const struct ada_infer_opts *o, const char *data_file, enum ada_file_format fmt,
	     int seq_len, const struct ada_framing *framing, struct ada_eval_result *res,
	     struct ada_err *err)
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
		rc = eval_qa(&in, data_file, seq_len, res, err);
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
