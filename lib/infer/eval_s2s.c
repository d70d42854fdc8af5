/*
 * eval_s2s — ada_eval_seq2seq(): an encoder-decoder on {"source","target"}
 * data, as its job's validation scores it and more.
 *
 * The data is read and cut exactly as training reads it (s2s_data.h with
 * the same length rule, net/s2s_eval.h), then scored teacher-forced by the
 * function the trainer's validation runs (mean NLL of the target tokens,
 * token accuracy), so `adalora eval` on an exported adapter gives back the
 * job's last validation figures. With generation, every source is also
 * decoded greedily through the KV-cached decoder (net/seq2seq_step.h) and
 * the decoded text is compared with the target as written (exact match);
 * the predictions can be written out one JSON line per example, which is
 * also what a text metric (ROUGE) scores.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "data/s2s_data.h"
#include "infer/inference_net.h"
#include "net/s2s_eval.h"
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

/* Greedy decodes of every source: exact matches, and the predictions file. */
static int generate_all(struct inference_net *in, const struct s2s_dataset *ds, int max_src,
			int max_tgt, const char *predictions, struct ada_eval_result *res,
			struct ada_err *err)
{
	const struct model_config *c = &in->model->cfg;
	const struct s2s_gen_opts g = { .start = c->decoder_start_token_id, .eos = c->eos_token_id,
					.forced_bos = c->forced_bos_token_id, .max_new = max_tgt };
	struct bart_stepper st;
	struct strbuf lines = { 0 };
	struct ivec out = { 0 };
	int64_t right = 0;
	int rc;

	if ((rc = bart_stepper_init(&st, &in->bart, max_src, 1, max_tgt, nn_threads(), err)))
		return rc;
	for (int64_t i = 0; i < ds->n && !rc; i++) {
		char *text = NULL;
		size_t len;

		out.n = 0;
		if ((rc = bart_stepper_start(&st, s2s_source(ds, i), ds->src_len[i], err)) ||
		    (rc = s2s_greedy(&st.ops, &st, &g, &out, err)) ||
		    (rc = tokenizer_decode(in->tok, out.v, out.n, &text, &len, err)))
			break;
		/* Integration point for ROUGE (the rouge-beam branch's lib): score
		 * text against ds->target_text[i] here, beside the exact match. */
		right += same_text(text, ds->target_text[i]);
		if (predictions) {
			json_t *j = json_pack("{s:I,s:s,s:s}", "line", (json_int_t)ds->line[i],
					      "prediction", text, "target", ds->target_text[i]);
			char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
			if (!line || strbuf_add(&lines, line, strlen(line)) || strbuf_add(&lines, "\n", 1))
				rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			free(line);
			json_decref(j);
		}
		free(text);
	}
	if (!rc && predictions)
		rc = file_write_atomic(predictions, lines.p ? lines.p : "", lines.n, err);
	if (!rc) {
		res->generated = ds->n;
		res->exact_match = ds->n ? (double)right / (double)ds->n : NAN;
	}
	strbuf_release(&lines);
	ivec_release(&out);
	bart_stepper_release(&st);
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
	int rc, max_src, max_tgt;

	memset(res, 0, sizeof(*res));
	res->mean_nll = res->perplexity = res->loss = NAN;
	res->mean_nll_no_framing = res->perplexity_no_framing = NAN;
	res->token_accuracy = res->exact_match = NAN;
	glue_metrics_clear(&res->glue);
	if ((rc = inference_net_open(&in, o, err)))
		return rc;
	if (in.model->cfg.family != ADA_FAMILY_BART) {
		rc = ada_fail(err, ADA_EINVAL,
			      "%s is not an encoder-decoder: seq2seq evaluation needs a BART model",
			      o->model);
		goto out_close;
	}
	if ((rc = s2s_lengths(&hp, &in.model->cfg, &max_src, &max_tgt, err)) ||
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
		rc = generate_all(&in, &ds, ds.max_src, max_tgt, eo->predictions, res, err);
out_free:
	bart_acts_release(&acts);
	s2s_batch_buf_release(&buf);
	s2s_dataset_release(&ds);
out_close:
	inference_net_close(&in);
	return rc;
}
