/*
 * generate — ada_generate(): text from a model, llama2.c style.
 *
 * The prompt is encoded with BOS; position by position the decoder runs the
 * current token and either forces the next prompt token or samples one,
 * until n_tokens positions ran or BOS/EOS comes out. Pieces are decoded as
 * they are produced (tokenizer_decode_token knows the previous token, for
 * SentencePiece's leading space), and single unprintable bytes are dropped
 * as llama2.c's safe_printf does, so greedy output matches its reference
 * text byte for byte.
 */
#include <ctype.h>
#include <string.h>

#include <stdlib.h>

#include "util/err.h"
#include "infer/decoder.h"
#include "infer/inference_net.h"
#include "infer/sample.h"
#include "net/seq2seq_step.h"
#include "nn/parallel.h"

/* An encoder-decoder (BART): the prompt is the source, framed (<s> ...
 * </s>) and cut to the model's context (at most 1024 tokens); the target is
 * decoded greedily through the KV-cached decoder, from
 * decoder_start_token_id (the config's forced_bos_token_id forced first),
 * until EOS or n_tokens new tokens, then written out whole (special tokens
 * left out). */
static int generate_s2s(struct inference_net *in, const struct ada_generate_opts *o,
			void (*emit)(void *ctx, const char *s, size_t n), void *ctx,
			struct ada_err *err)
{
	const struct model_config *c = &in->model->cfg;
	const int max_src = c->context_length < 1024 ? c->context_length : 1024;
	const int max_new = o->n_tokens < c->context_length ? o->n_tokens : c->context_length;
	const struct s2s_gen_opts g = { .start = c->decoder_start_token_id,
					.eos = c->eos_token_id, .forced_bos = c->forced_bos_token_id,
					.max_new = max_new, .min_new = 0 };
	struct bart_stepper st;
	struct ivec src = { 0 }, out = { 0 };
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (o->temperature != 0)
		return ada_fail_param(err, ADA_EINVAL, "temperature",
				      "sampling is not implemented for an encoder-decoder (BART): generation is greedy, temperature 0");
	rc = tokenizer_encode_pair(in->tok, o->prompt ? o->prompt : "",
				   o->prompt ? strlen(o->prompt) : 0, NULL, 0, max_src, &src, NULL,
				   NULL, err);
	if (rc)
		return ada_err_prefix(err, rc, "prompt");
	if ((rc = bart_stepper_init(&st, &in->bart, (int)src.n, 1, max_new, nn_threads(), err)))
		goto out_free;
	/* Beam search (lib/infer/beam.h, the rouge-beam branch) drives the
	 * same st.ops with a stepper of num_beams hypotheses. */
	if (!(rc = bart_stepper_start(&st, src.v, (int)src.n, err)) &&
	    !(rc = s2s_greedy(&st.ops, &st, &g, &out, err)) &&
	    !(rc = tokenizer_decode(in->tok, out.v, out.n, &text, &len, err))) {
		emit(ctx, text, len);
		emit(ctx, "\n", 1);
	}
	bart_stepper_release(&st);
out_free:
	free(text);
	ivec_release(&src);
	ivec_release(&out);
	return rc;
}

int ada_generate(const struct ada_generate_opts *o,
		 void (*emit)(void *ctx, const char *s, size_t n), void *ctx, struct ada_err *err)
{
	struct inference_net in;
	struct decoder dec;
	struct sampler smp;
	struct ivec prompt = { 0 };
	int rc, steps, token, bos, eos;

	if (o->n_tokens < 1)
		return ada_fail_param(err, ADA_EINVAL, "n", "-n must be at least 1");
	if (o->temperature < 0 || o->top_p < 0 || o->top_p > 1)
		return ada_fail_param(err, ADA_EINVAL, "temperature",
				      "temperature must be >= 0 and top_p in [0, 1]");
	if ((rc = inference_net_open(&in, &o->in, err)))
		return rc;
	if (in.model->cfg.family == ADA_FAMILY_BART) {
		rc = generate_s2s(&in, o, emit, ctx, err);
		goto out_close;
	}
	if (in.model->cfg.family != ADA_FAMILY_LLAMA || in.is_classifier) {
		rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: %s generates no text",
			      in.is_classifier ? o->in.adapter : o->in.model,
			      in.is_classifier ? "a classifier's adapter" : "an encoder");
		goto out_close;
	}
	steps = o->n_tokens;
	if (steps > in.model->cfg.context_length)
		steps = in.model->cfg.context_length;
	bos = tokenizer_bos(in.tok);
	eos = tokenizer_eos(in.tok);
	rc = tokenizer_encode(in.tok, o->prompt ? o->prompt : "", o->prompt ? strlen(o->prompt) : 0,
			      TOK_ADD_BOS, &prompt, err);
	if (rc)
		goto out_close;
	if (prompt.n == 0) {
		rc = ada_fail(err, ADA_EINVAL, "the tokenizer has no BOS token: give a prompt");
		goto out_close;
	}
	if ((int64_t)prompt.n > steps) {
		rc = ada_fail_param(err, ADA_EINVAL, "prompt",
				    "the prompt (%zu tokens) is longer than -n / the context (%d)",
				    prompt.n, steps);
		goto out_close;
	}
	if ((rc = decoder_init(&dec, &in.net, steps))) {
		rc = ada_fail(err, rc, "out of memory for the decoder");
		goto out_close;
	}
	if ((rc = sampler_init(&smp, in.model->cfg.vocab_size, o->temperature,
			       o->top_p > 0 ? o->top_p : 1, o->seed))) {
		decoder_release(&dec);
		rc = ada_fail(err, rc, "out of memory");
		goto out_close;
	}
	token = prompt.v[0];
	for (int pos = 0; pos < steps; pos++) {
		const real *logits = decoder_step(&dec, token, pos);
		int next = pos + 1 < (int)prompt.n ? prompt.v[pos + 1] : sampler_next(&smp, logits);
		char piece[256];
		int n;

		if (next == bos || (next == eos && pos + 1 >= (int)prompt.n))
			break;
		n = tokenizer_decode_token(in.tok, token, next, piece, sizeof(piece));
		if (n == 1 && !(isprint((unsigned char)piece[0]) || isspace((unsigned char)piece[0])))
			n = 0;
		if (n > 0)
			emit(ctx, piece, (size_t)n);
		token = next;
	}
	emit(ctx, "\n", 1);
	sampler_release(&smp);
	decoder_release(&dec);
out_close:
	ivec_release(&prompt);
	inference_net_close(&in);
	return rc;
}
