/*
 * s2s_predict — a seq2seq dataset's sources decoded (greedy or beam search,
 * net/beam.h, through the KV-cached BART decoder) and the decodes scored
 * with ROUGE against the targets: what a seq2seq job's validation and
 * `adalora eval` share, so the valid_rouge* a job reports are what eval
 * gives back on its exported adapter.
 *
 * A prediction is the generated tokens after the decoder start token, its
 * EOS left out, decoded with special tokens left out (run_summarization's
 * batch_decode(skip_special_tokens=True)); the reference is the target as
 * the data file wrote it. Neither is split into sentences: ROUGE-Lsum sees
 * the newlines the texts have (README "ROUGE and beam search").
 */
#ifndef ADA_NET_S2S_PREDICT_H
#define ADA_NET_S2S_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "data/s2s_data.h"
#include "net/beam.h"
#include "net/seq2seq_eval.h"
#include "nn/bart.h"
#include "tokenizer/tokenizer.h"

/* Receives example i's prediction (borrowed for the call); non-zero (with
 * err filled) stops the decoding and is returned. */
typedef int (*s2s_prediction_fn)(void *ctx, int64_t i, const char *text, size_t len,
				 struct ada_err *err);

/* Decode the sources of examples [0, n) of ds (n <= ds->n) through net
 * with o (checked: errors name its fields), adding each (prediction,
 * target) pair to ev (NULL: none) and handing each prediction to each
 * (NULL: none), in order. The decoder holds o->num_beams hypotheses of
 * o->max_length - 1 positions, which must fit the model's positions. */
int s2s_predict(const struct bart_net *net, const struct tokenizer *tok,
		const struct s2s_dataset *ds, int64_t n, const struct beam_opts *o, int n_threads,
		struct seq2seq_eval *ev, s2s_prediction_fn each, void *ctx, struct ada_err *err);

/* The text of one search result: its tokens without the final EOS, special
 * tokens left out, invalid UTF-8 bytes as U+FFFD; a malloc'ed string in
 * *text (caller frees). */
int s2s_result_text(const struct tokenizer *tok, const struct beam_result *r, int eos,
		    char **text, size_t *len, struct ada_err *err);

#endif
