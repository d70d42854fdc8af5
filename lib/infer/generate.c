/*
 * generate — ada_generate(): text from a model, llama2.c style.
 *
 * The prompt is encoded with BOS (or a chat rendered with its template and
 * generation prompt); the serving decoder (batch_decode.h) reads it and
 * chooses token after token, until n_tokens positions ran or BOS/EOS (in a
 * chat, also the template's end of turn) comes out. It is the same code a
 * served completion runs, one sequence per step here, so the daemon's
 * greedy completions are the CLI's, token for token. Pieces are decoded as
 * they are produced (tokenizer_decode_token knows the previous token, for
 * SentencePiece's leading space), and single unprintable bytes are dropped
 * as llama2.c's safe_printf does, so greedy output matches its reference
 * text byte for byte. An encoder-decoder (BART) is not served: its source is
 * encoded once and its target decoded by greedy or beam search through its
 * own KV-cached decoder (generate_s2s).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "infer/batch_decode.h"
#include "infer/inference_net.h"
#include "net/s2s_predict.h"
#include "net/seq2seq_step.h"
#include "nn/parallel.h"
#include "util/alloc.h"

/* Prompt rows per step: a long prompt is read in chunks of this many. */
#define GENERATE_ROWS 64

static int prompt_ids(const struct ada_generate_opts *o, struct ada_served *m, int32_t **ids,
		      size_t *n, struct ada_err *err)
{
	json_error_t jerr;
	json_t *messages;
	int rc;

	if (!o->messages)
		return ada_served_encode(m, o->prompt, o->prompt ? strlen(o->prompt) : 0, ids, n, err);
	messages = json_loads(o->messages, 0, &jerr);
	if (!json_is_array(messages)) {
		json_decref(messages);
		return ada_fail_param(err, ADA_EINVAL, "messages",
				      "--messages must be a JSON array of {\"role\", \"content\"} (%s)",
				      messages ? "not an array" : jerr.text);
	}
	rc = ada_served_chat(m, messages, ids, n, err);
	json_decref(messages);
	return rc;
}

/* The piece of id after prev, unless it is a single unprintable byte
 * (llama2.c's safe_printf). */
static void put_piece(const struct ada_served *m, int32_t prev, int32_t id, char *piece,
		      void (*emit)(void *ctx, const char *s, size_t n), void *ctx)
{
	int n = ada_served_piece(m, prev, id, piece, tokenizer_max_piece(m->base->tok));

	if (n == 1 && !(isprint((unsigned char)piece[0]) || isspace((unsigned char)piece[0])))
		n = 0;
	if (n > 0)
		emit(ctx, piece, (size_t)n);
}

/* An encoder-decoder (BART): the prompt is the source, framed (<s> ...
 * </s>) and cut to the model's context (at most 1024 tokens); the target is
 * decoded through the KV-cached decoder by greedy or beam search with the
 * model's generation config (net/seq2seq_step.h), n_tokens as
 * max_new_tokens and the caller's keys over it, as transformers' generate()
 * (the length capped at the model's positions), then written out whole
 * (special tokens left out). */
static int generate_s2s(struct inference_net *in, const struct ada_generate_opts *o,
			void (*emit)(void *ctx, const char *s, size_t n), void *ctx,
			struct ada_err *err)
{
	const struct model_config *c = &in->model->cfg;
	const int max_src = c->context_length < 1024 ? c->context_length : 1024;
	struct bart_stepper st;
	struct beam_opts bo;
	struct beam_result r = { 0 };
	struct ivec src = { 0 };
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (o->temperature != 0)
		return ada_fail_param(err, ADA_EINVAL, "temperature",
				      "sampling is not implemented for an encoder-decoder (BART): generation is greedy or beam search, temperature 0");
	if ((rc = s2s_generation_config(in->model, &bo, err)))
		return rc;
	if (o->n_tokens > 0)
		bo.max_length = o->n_tokens + 1;   /* max_new_tokens: the start token and n */
	if (o->generation) {
		json_error_t jerr;
		json_t *j = json_loads(o->generation, 0, &jerr);

		if (!json_is_object(j)) {
			json_decref(j);
			return ada_fail_param(err, ADA_EINVAL, "generation",
					      "the generation settings must be a JSON object (%s)",
					      j ? "not an object" : jerr.text);
		}
		rc = beam_opts_from_json(j, NULL, &bo, err);
		if (!rc && o->n_tokens > 0)
			bo.max_length = o->n_tokens + 1;   /* HF: max_new_tokens wins */
		json_decref(j);
		if (rc)
			return rc;
	}
	if (bo.max_length > c->context_length + 1)
		bo.max_length = c->context_length + 1;   /* the decoder's positions */
	if ((rc = beam_opts_check(&bo, c->vocab_size, err)))
		return rc;
	rc = tokenizer_encode_pair(in->tok, o->prompt ? o->prompt : "",
				   o->prompt ? strlen(o->prompt) : 0, NULL, 0, max_src, &src, NULL,
				   NULL, err);
	if (rc)
		return ada_err_prefix(err, rc, "prompt");
	if ((rc = bart_stepper_init(&st, &in->bart, (int)src.n, bo.num_beams, bo.max_length - 1,
				    nn_threads(), err)))
		goto out_free;
	if (!(rc = bart_stepper_start(&st, src.v, (int)src.n, err)) &&
	    !(rc = seq2seq_generate(&st.ops, &st, &bo, &r, err)) &&
	    !(rc = s2s_result_text(in->tok, &r, bo.eos_token_id, &text, &len, err))) {
		emit(ctx, text, len);
		emit(ctx, "\n", 1);
	}
	bart_stepper_release(&st);
out_free:
	free(text);
	beam_result_release(&r);
	ivec_release(&src);
	return rc;
}

static int generate_bart(const struct ada_generate_opts *o,
			 void (*emit)(void *ctx, const char *s, size_t n), void *ctx,
			 struct ada_err *err)
{
	struct inference_net in;
	int rc;

	if ((rc = inference_net_open(&in, &o->in, err)))
		return rc;
	if (o->messages)
		rc = ada_fail_param(err, ADA_EINVAL, "messages",
				    "an encoder-decoder (BART) has no chat template: give its source as the prompt");
	else
		rc = generate_s2s(&in, o, emit, ctx, err);
	inference_net_close(&in);
	return rc;
}

int ada_generate(const struct ada_generate_opts *o,
		 void (*emit)(void *ctx, const char *s, size_t n), void *ctx, struct ada_err *err)
{
	struct ada_served *m = NULL;
	struct ada_served_info info;
	struct ada_decoder *dec = NULL;
	struct ada_seq *seq = NULL;
	struct ada_sampling smp = { .temperature = o->temperature,
				    .top_p = o->top_p > 0 ? o->top_p : 1, .seed = o->seed };
	int32_t *prompt = NULL, token;
	size_t n_prompt = 0;
	int rc, steps;
	char *piece = NULL;

	if (o->n_tokens < 0)
		return ada_fail_param(err, ADA_EINVAL, "n", "-n must be at least 1");
	if (o->temperature < 0 || o->top_p < 0 || o->top_p > 1)
		return ada_fail_param(err, ADA_EINVAL, "temperature",
				      "temperature must be >= 0 and top_p in [0, 1]");
	{
		struct ada_model_info mi;

		if ((rc = ada_model_probe(o->in.model, &mi, err)))
			return rc;
		if (mi.family == ADA_FAMILY_BART)
			return generate_bart(o, emit, ctx, err);
	}
	if (o->n_tokens < 1)
		return ada_fail_param(err, ADA_EINVAL, "n", "-n must be at least 1");
	if (o->generation)
		return ada_fail_param(err, ADA_EINVAL, "generation",
				      "beam search and its settings are for an encoder-decoder (BART); a decoder samples (temperature, top_p)");
	if ((rc = ada_served_open(o->in.model, o->in.tokenizer, o->in.adapter, &m, err)))
		return rc;
	ada_served_describe(m, &info);
	if (!info.generates) {
		rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: %s generates no text",
			      info.classifier ? o->in.adapter : o->in.model,
			      info.classifier ? "a classifier's adapter" : "an encoder");
		goto out_free;
	}
	steps = o->n_tokens < info.context_length ? o->n_tokens : info.context_length;
	if ((rc = prompt_ids(o, m, &prompt, &n_prompt, err)))
		goto out_free;
	if ((int64_t)n_prompt > steps) {
		rc = ada_fail_param(err, ADA_EINVAL, o->messages ? "messages" : "prompt",
				    "the prompt (%zu tokens) is longer than -n / the context (%d)",
				    n_prompt, steps);
		goto out_free;
	}
	piece = xcalloc(tokenizer_max_piece(m->base->tok) + 1, 1);
	if (!piece) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = ada_decoder_new(GENERATE_ROWS, &dec, err)) ||
	    (rc = ada_seq_new(m, prompt, n_prompt, steps - (int)n_prompt + 1, &smp, &seq, err)))
		goto out_free;
	/* A prompt is printed as it is read, as llama2.c does (a chat's
	 * rendering is not: only the reply). */
	for (size_t i = 0; !o->messages && i < n_prompt; i++)
		if (i || !ada_served_stop_token(m, prompt[0], 0))   /* not the BOS */
			put_piece(m, i ? prompt[i - 1] : -1, prompt[i], piece, emit, ctx);
	token = prompt[n_prompt - 1];
	while (ada_seq_can_step(seq)) {
		struct ada_token t;

		if ((rc = ada_decode_step(dec, &seq, 1, err)))
			goto out_free;
		if (!ada_seq_token(seq, &t))
			continue;
		if (ada_served_stop_token(m, t.id, o->messages != NULL))
			break;
		put_piece(m, token, t.id, piece, emit, ctx);
		token = t.id;
	}
	emit(ctx, "\n", 1);
out_free:
	free(piece);
	ada_seq_free(seq);
	ada_decoder_free(dec);
	free(prompt);
	ada_served_free(m);
	return rc;
}
