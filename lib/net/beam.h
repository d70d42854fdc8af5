/*
 * beam — greedy and beam-search decoding for sequence-to-sequence models,
 * over a model-independent step interface.
 *
 * The search knows nothing of the model: a decoder (BART's, cached or not,
 * net/seq2seq_step.h; or a test's scoring table) implements struct
 * seq2seq_step_ops, defined here once, and the search asks it
 * for next-token logits of its live hypotheses and tells it how the
 * hypotheses were reordered, so that a KV cache with one row per hypothesis
 * can follow them. The encoder is the decoder's business (computed once, in
 * ctx); one call decodes one source.
 *
 * Semantics are Hugging Face's generate() for encoder-decoder models
 * (transformers 4.36-4.49, BeamSearchScorer + BeamHypotheses; greedy is
 * _greedy_search), so that a BART checkpoint's generation config means
 * what it means there:
 *   - a sequence starts with decoder_start_token_id; max_length and
 *     min_length count that start token (HF's input_ids length), so at most
 *     max_length - 1 tokens are generated;
 *   - next-token scores are log_softmax(logits), then masked (-inf), in HF's
 *     processor order: no_repeat_ngram_size (n-grams of the whole sequence,
 *     start token included), min_length (EOS banned while the sequence is
 *     shorter than min_length), forced_bos_token_id (the first generated
 *     token), forced_eos_token_id (the token generated when the sequence
 *     holds max_length - 1 tokens). Masked scores are not renormalised;
 *   - beam scores start at 0 for beam 0 and -1e9 for the others; each step
 *     keeps the top 2 * num_beams (beam, token) candidates by running sum;
 *     an EOS candidate ranked within the first num_beams becomes a finished
 *     hypothesis, others fill the next beams in rank order;
 *   - a finished hypothesis scores sum_logprobs / len^length_penalty, with
 *     len = the number of generated tokens counting its EOS (open beams
 *     added at max_length: the tokens generated); num_beams finished
 *     hypotheses are kept;
 *   - early_stopping: BEAM_STOP_TRUE stops once num_beams hypotheses are
 *     finished; BEAM_STOP_FALSE also needs the best running score divided
 *     by the current length^lp not to beat the worst kept one (HF's
 *     heuristic); BEAM_STOP_NEVER divides by (max_length - 1)^lp instead when
 *     lp > 0 (the best any longer continuation could reach);
 *   - ties between equal candidate scores go to the lower (beam, token)
 *     index, as torch's argmax does for greedy; among finished hypotheses
 *     of equal score the later one wins (HF's stable sort and pop()).
 * Log-softmax is computed in double and rounded to float; running beam
 * scores are float sums as HF's float32 tensors; finished-hypothesis scores
 * are double (HF's .item()).
 */
#ifndef ADA_NET_BEAM_H
#define ADA_NET_BEAM_H

#include <stddef.h>

#include "adalora.h"

/* One source, up to n live hypotheses; the decoder keeps a KV cache row per hypothesis. */
struct seq2seq_step_ops {
	int vocab;
	/* Next-token logits (n x vocab, row-major) of n live hypotheses, given each one's
	 * newest token tokens[i] at decoder position pos (0 = the decoder start token). */
	int (*step)(void *ctx, int n, const int *tokens, int pos, float *logits, struct ada_err *err);
	/* Hypothesis i continues old hypothesis parent[i] (i < n): permute/copy cache rows. */
	int (*reorder)(void *ctx, int n, const int *parent, struct ada_err *err);
};
/*
 * How the search drives the ops (what a decoder must support):
 *   - positions come in order 0, 1, 2, ...; every call passes all live rows;
 *   - beam search calls step(n = 1, pos = 0) on the start token (all beams
 *     begin identical, so one row is computed), then reorder(n = num_beams,
 *     parent) with every parent 0 — the cache grows from 1 to num_beams
 *     rows by copying — and from then on step and reorder with
 *     n = num_beams; parent[i] indexes the rows of the previous step;
 *   - reorder is skipped when it would be the identity (same n, parent[i] == i);
 *   - greedy search calls step(n = 1) only and never reorder;
 *   - the logits buffer (n * vocab floats) belongs to the search; step fills it;
 *   - a non-zero return from step or reorder (with err filled) stops the
 *     search and is returned as is.
 */

enum beam_early_stopping {
	BEAM_STOP_FALSE = 0, /* HF early_stopping=False (the default): heuristic */
	BEAM_STOP_TRUE = 1,  /* early_stopping=True: stop at num_beams finished */
	BEAM_STOP_NEVER = 2, /* early_stopping="never": canonical beam search */
};

struct beam_opts {
	int num_beams;              /* >= 1; 1 = greedy */
	int max_length;             /* >= 2; counts the decoder start token */
	int min_length;             /* 0 = none; counts the decoder start token */
	double length_penalty;      /* exponent of len in sum_logprobs / len^lp */
	int no_repeat_ngram_size;   /* 0 = off */
	int early_stopping;         /* enum beam_early_stopping */
	int decoder_start_token_id;
	int eos_token_id;           /* -1 = none: only max_length ends */
	int forced_bos_token_id;    /* -1 = none */
	int forced_eos_token_id;    /* -1 = none */
};

/* HF's defaults (num_beams 1, max_length 20, length_penalty 1.0, early
 * stopping false, nothing forced), decoder start 2 and EOS 2 as BART's. */
void beam_opts_default(struct beam_opts *o);

/* Check o against a vocabulary of vocab tokens; err names the field
 * ("num_beams", "max_length", ...). */
int beam_opts_check(const struct beam_opts *o, int vocab, struct ada_err *err);

/* Hugging Face's generation settings from a JSON object (a model's
 * config.json or generation_config.json, or a request) into o (beam_opts.c):
 * num_beams, max_length, max_new_tokens (max_length = it + 1: the start
 * token), min_length, length_penalty, no_repeat_ngram_size, early_stopping
 * (true, false or "never"), decoder_start_token_id, eos_token_id (an
 * integer or a one-element list), forced_bos_token_id, forced_eos_token_id
 * (null: none). Absent keys keep o's values, other keys are ignored; a
 * wrong type fails with ADA_EINVAL and err->param = param_prefix + key.
 * Ranges are beam_opts_check's. */
int beam_opts_from_json(const json_t *j, const char *param_prefix, struct beam_opts *o, struct ada_err *err);

struct beam_result {
	int *tokens;     /* owned: the generated tokens after the start token,
			  * ending with EOS when the sequence finished */
	int n_tokens;
	int finished;    /* 1 when it ended with EOS, 0 at max_length */
	double score;    /* beam: sum_logprobs / len^lp; greedy: sum_logprobs */
};

void beam_result_release(struct beam_result *r);

/* Decode one source: greedy when o->num_beams == 1, beam search otherwise.
 * out is filled on success (release it); untouched on failure. */
int seq2seq_generate(const struct seq2seq_step_ops *ops, void *ctx, const struct beam_opts *o,
		     struct beam_result *out, struct ada_err *err);

/* The two searches, callable directly (tests compare them):
 * beam_search accepts num_beams == 1 (HF's beam search with one beam). */
int greedy_search(const struct seq2seq_step_ops *ops, void *ctx, const struct beam_opts *o,
		  struct beam_result *out, struct ada_err *err);
int beam_search(const struct seq2seq_step_ops *ops, void *ctx, const struct beam_opts *o,
		struct beam_result *out, struct ada_err *err);

#endif
