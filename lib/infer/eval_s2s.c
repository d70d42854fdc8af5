/*
 * eval_s2s — ada_eval_seq2seq(): an encoder-decoder on {"source","target"}
 * data, as its job's validation scores it and more.
 *
 * The data is read and cut exactly as training reads it (s2s_data.h with
 * the same length rule, net/s2s_eval.h), then scored teacher-forced by the
 * function the trainer's validation runs (mean NLL of the target tokens,
 * token accuracy), so `adalora eval` on an exported adapter gives back the
 * job's last validation figures. With generation, every source is also
 * decoded (greedy or beam search, the model's generation config and the
 * caller's keys) through the KV-cached decoder by the code the job's
 * validation runs (net/s2s_predict.h), scored with ROUGE and compared with
 * the target as written (exact match); the predictions can be written out
 * one JSON line per example.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "data/s2s_data.h"
#include "infer/inference_net.h"
#include "data/rouge.h"
#include "net/s2s_eval.h"
#include "net/s2s_predict.h"
#include "net/seq2seq_step.h"
#include "nn/parallel.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/strbuf.h"

#define EVAL_BATCH 8

/* Text equal but for white space at either end. */
static int same_text(const char *a, const char *b)
{
	size_t la, lb;

	while (*a == ' ' || *a == '\n' || *a == '\t')
		a++;
	while (*b == ' ' || *b == '\n' || *b == '\t')
		b++;
	la = strlen(a);
	lb = strlen(b);
	while (la && (a[la - 1] == ' ' || a[la - 1] == '\n' || a[la - 1] == '\t'))
		la--;
	while (lb && (b[lb - 1] == ' ' || b[lb - 1] == '\n' || b[lb - 1] == '\t'))
		lb--;
	return la == lb && !memcmp(a, b, la);
}

struct predictions {
	const struct s2s_dataset *ds;
	const char *path;           /* NULL: no file */
	struct strbuf lines;
	int64_t right;
};

/* One decode: exact match, and its line of the predictions file. */
static int on_prediction(void *ctx, int64_t i, const char *text, size_t len, struct ada_err *err)
{
	struct predictions *p = ctx;
	json_t *j;
	char *line;
	int rc = ADA_OK;

	(void)len;
	p->right += same_text(text, p->ds->target_text[i]);
	if (!p->path)
		return ADA_OK;
	j = json_pack("{s:I,s:s,s:s}", "line", (json_int_t)p->ds->line[i], "prediction", text,
		      "target", p->ds->target_text[i]);
	line = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!line || strbuf_add(&p->lines, line, strlen(line)) || strbuf_add(&p->lines, "\n", 1))
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	free(line);
	json_decref(j);
	return rc;
}

/* The search: the model's generation config, max_length from the target
 * length (run_summarization's val_max_target_length), then the caller's keys. */
static int search_opts(const struct inference_net *in, const struct ada_s2s_eval_opts *eo,
		       int max_tgt, struct beam_opts *bo, struct ada_err *err)
{
	json_error_t jerr;
	json_t *j;
	int rc;

	if ((rc = s2s_generation_config(in->model, bo, err)))
		return rc;
	bo->max_length = max_tgt;
	if (!eo || !eo->generation)
		return beam_opts_check(bo, in->model->cfg.vocab_size, err);
	if (!(j = json_loads(eo->generation, 0, &jerr)) || !json_is_object(j)) {
		json_decref(j);
		return ada_fail_param(err, ADA_EINVAL, "generation",
				      "the generation settings must be a JSON object (%s)",
				      j ? "not an object" : jerr.text);
	}
	rc = beam_opts_from_json(j, NULL, bo, err);
	json_decref(j);
	return rc ? rc : beam_opts_check(bo, in->model->cfg.vocab_size, err);
}

/* Every source decoded: exact matches, ROUGE, the predictions file. */
static int generate_all(struct inference_net *in, const struct s2s_dataset *ds,
			const struct ada_s2s_eval_opts *eo, const struct beam_opts *bo,
			struct ada_eval_result *res, struct ada_err *err)
{
	struct predictions p = { .ds = ds, .path = eo->predictions };
	struct seq2seq_eval ev;
	int rc;

	seq2seq_eval_init(&ev, !eo->rouge_no_stemmer);
	rc = s2s_predict(&in->bart, in->tok, ds, ds->n, bo, nn_threads(), &ev, on_prediction, &p,
			 err);
	if (!rc && p.path)
		rc = file_write_atomic(p.path, p.lines.p ? p.lines.p : "", p.lines.n, err);
	if (!rc)
		rc = seq2seq_eval_rouge(&ev, &res->rouge, err);
	if (!rc) {
		res->generated = ds->n;
		res->exact_match = ds->n ? (double)p.right / (double)ds->n : NAN;
		res->num_beams = bo->num_beams;
		res->max_length = bo->max_length;
	}
	strbuf_release(&p.lines);
	seq2seq_eval_release(&ev);
	return rc;
}

int ada_eval_seq2seq(const struct ada_infer_opts *o, const char *data_file,
		     const struct ada_s2s_eval_opts *eo, struct ada_eval_result *res,
		     struct ada_err *err)
{
	struct ada_hparams hp = { .max_source_length = eo ? eo->max_source_length : 0,
				  .max_target_length = eo ? eo->max_target_length : 0 };
	struct s2s_dataset ds = { 0 };
	struct s2s_batch_buf buf = { 0 };
	struct bart_acts acts = { 0 };
	struct inference_net in;
	struct beam_opts bo;
	int rc, max_src, max_tgt;

	memset(res, 0, sizeof(*res));
	res->mean_nll = res->perplexity = res->loss = NAN;
	res->mean_nll_no_framing = res->perplexity_no_framing = NAN;
	res->token_accuracy = res->exact_match = NAN;
	glue_metrics_clear(&res->glue);
	rouge_clear(&res->rouge);
	if ((rc = inference_net_open(&in, o, err)))
		return rc;
	if (in.model->cfg.family != ADA_FAMILY_BART) {
		rc = ada_fail(err, ADA_EINVAL,
			      "%s is not an encoder-decoder: seq2seq evaluation needs a BART model",
			      o->model);
		goto out_close;
	}
	if ((rc = s2s_lengths(&hp, &in.model->cfg, &max_src, &max_tgt, err)) ||
	    (eo && eo->generate && (rc = search_opts(&in, eo, max_tgt, &bo, err))) ||
	    (rc = s2s_data_load(data_file, in.tok, max_src, max_tgt, &ds, err)))
		goto out_close;
	res->seq2seq = 1;
	res->examples = ds.n;
	res->target_tokens = ds.target_tokens;
	res->truncated = ds.n_truncated_src + ds.n_truncated_tgt;
	{
		struct bart_dims d;
		const int B = ds.n < EVAL_BATCH ? (int)ds.n : EVAL_BATCH;

		bart_dims_of(&in.model->cfg, &d);
		if ((rc = bart_acts_init(&acts, &d, B, ds.max_src, ds.max_tgt, nn_threads())) ||
		    (rc = s2s_batch_buf_init(&buf, B, ds.max_src, ds.max_tgt))) {
			rc = ada_fail(err, rc, "out of memory for %d examples of %d + %d tokens", B,
				      ds.max_src, ds.max_tgt);
			goto out_free;
		}
	}
	if ((rc = s2s_teacher_forced(&in.bart, &acts, &ds, &in.model->cfg, &buf, &res->loss,
				     &res->token_accuracy))) {
		rc = ada_fail(err, rc, "evaluation failed (%s)",
			      rc == ADA_ENOMEM ? "out of memory" : "an example the network refuses");
		goto out_free;
	}
	res->mean_nll = res->loss;
	res->tokens = ds.target_tokens;
	res->perplexity = exp(res->loss);
	if (eo && eo->generate)
		rc = generate_all(&in, &ds, eo, &bo, res, err);
out_free:
	bart_acts_release(&acts);
	s2s_batch_buf_release(&buf);
	s2s_dataset_release(&ds);
out_close:
	inference_net_close(&in);
	return rc;
}
