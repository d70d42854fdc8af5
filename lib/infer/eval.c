/*
 * eval — ada_eval(): held-out loss and perplexity of a model (with an
 * optional adapter) on a data file, packed like training data.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../train/data.h"
#include "../util/alloc.h"
#include "../util/err.h"
#include "evaluate.h"
#include "inference_net.h"

#define EVAL_BATCH 8
#define EVAL_MAX_SEQ 1024

static int encode_cb(void *ctx, const char *text, size_t len, unsigned flags, struct ivec *out,
		     struct ada_err *err)
{
	return tokenizer_encode(ctx, text, len, flags, out, err);
}

int ada_eval(const struct ada_infer_opts *o, const char *data_file, int seq_len,
	     struct ada_eval_result *res, struct ada_err *err)
{
	struct inference_net in;
	struct dataset ds = { 0 };
	struct llama_acts acts;
	struct text_encoder enc;
	int32_t *inputs = NULL, *targets = NULL;
	double nll = 0;
	int64_t n = 0;
	int rc, B;

	memset(res, 0, sizeof(*res));
	if ((rc = inference_net_open(&in, o, err)))
		return rc;
	if (seq_len <= 0)
		seq_len = in.model->cfg.context_length < EVAL_MAX_SEQ ? in.model->cfg.context_length
								       : EVAL_MAX_SEQ;
	if (seq_len > in.model->cfg.context_length) {
		rc = ada_fail_param(err, ADA_EINVAL, "seq_len",
				    "--seq-len %d exceeds the model's context length (%d)", seq_len,
				    in.model->cfg.context_length);
		goto out_close;
	}
	enc.ctx = in.tok;
	enc.encode = encode_cb;
	enc.bos = tokenizer_bos(in.tok);
	enc.eos = tokenizer_eos(in.tok);
	enc.pad = tokenizer_pad(in.tok) >= 0 ? tokenizer_pad(in.tok) : 0;
	if ((rc = dataset_load(data_file, seq_len, &enc, &ds, err)))
		goto out_close;
	B = ds.n_windows < EVAL_BATCH ? (int)ds.n_windows : EVAL_BATCH;
	{
		int threads = 1;
#ifdef _OPENMP
		threads = omp_get_max_threads();
#endif
		rc = llama_acts_init(&acts, &in.net.d, B, seq_len, threads);
	}
	if (rc) {
		rc = ada_fail(err, rc, "out of memory for activations");
		goto out_ds;
	}
	inputs = xcalloc((size_t)B * seq_len, sizeof(*inputs));
	targets = xcalloc((size_t)B * seq_len, sizeof(*targets));
	if (!inputs || !targets)
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	else if ((rc = evaluate_nll(&in.net, &acts, &ds, inputs, targets, &nll, &n)))
		rc = ada_fail(err, rc, "evaluation failed");
	if (!rc) {
		res->tokens = n;
		res->mean_nll = n ? nll / (double)n : NAN;
		res->perplexity = exp(res->mean_nll);
	}
	free(inputs);
	free(targets);
	llama_acts_release(&acts);
out_ds:
	dataset_release(&ds);
out_close:
	inference_net_close(&in);
	return rc;
}
