/*
 * seq2seq_step — BART behind the decoding interface of net/beam.h (struct
 * seq2seq_step_ops, which greedy and beam search drive), two ways:
 *
 *   bart_stepper   the KV-cached decoder of nn/bart_decode.h: the encoder
 *                  and the cross-attention keys and values once per source,
 *                  one new position per hypothesis and step; what
 *                  generation, evaluation and validation run;
 *   bart_uncached  every step reruns the decoder over each hypothesis's
 *                  whole prefix against the encoder output computed once
 *                  (transformers' use_cache=False): the reference the cache
 *                  is tested against, and the bench's "without the cache".
 *
 * Both keep one row per live hypothesis and follow reorder(); their ctx is
 * the struct itself (pass &s as ctx with &s.ops).
 *
 * And the generation settings a BART directory carries
 * (s2s_generation_config): what transformers' from_pretrained() makes its
 * model.generation_config from.
 */
#ifndef ADA_NET_SEQ2SEQ_STEP_H
#define ADA_NET_SEQ2SEQ_STEP_H

#include <stdint.h>

#include "adalora.h"
#include "model/model.h"
#include "net/beam.h"
#include "nn/bart.h"
#include "nn/bart_decode.h"

/* The KV-cached decoder of up to max_hyps hypotheses of max_len positions,
 * for sources of up to max_src tokens. The net is borrowed. */
struct bart_stepper {
	struct seq2seq_step_ops ops;
	struct bart_decoder dec;
};

int bart_stepper_init(struct bart_stepper *s, const struct bart_net *net, int max_src,
		      int max_hyps, int max_len, int n_threads, struct ada_err *err);
/* A new source src[0..S) (framed, at most max_src tokens): encoder once,
 * cross keys and values once, an empty cache. */
int bart_stepper_start(struct bart_stepper *s, const int32_t *src, int S, struct ada_err *err);
void bart_stepper_release(struct bart_stepper *s);

/* The uncached decoder, the same shapes. */
struct bart_uncached {
	struct seq2seq_step_ops ops;
	const struct bart_net *net;   /* borrowed */
	struct bart_acts acts;        /* B = max_hyps rows of up to max_src, max_len */
	int max_hyps, max_len;
	int S, len, n_live;           /* the source's length, positions fed, live rows */
	int32_t *prefix, *spare;      /* [max_hyps][max_len]: each row's tokens so far */
	int32_t *packed;              /* [max_hyps][max_len]: the rows of one step, dense */
};

int bart_uncached_init(struct bart_uncached *u, const struct bart_net *net, int max_src,
		       int max_hyps, int max_len, int n_threads, struct ada_err *err);
/* A new source: the encoder once, its output copied to every row. */
int bart_uncached_start(struct bart_uncached *u, const int32_t *src, int S, struct ada_err *err);
void bart_uncached_release(struct bart_uncached *u);

/*
 * The generation settings of the BART model m (a Hugging Face directory)
 * into o: beam_opts_default() with the model's decoder_start_token_id,
 * eos_token_id and forced_bos_token_id and BartConfig's forced_eos_token_id
 * 2, then the generation keys of its config.json (beam_opts_from_json:
 * num_beams, max_length, min_length, length_penalty, no_repeat_ngram_size,
 * early_stopping, the token ids), then those of generation_config.json
 * when the directory has one. transformers reads generation_config.json
 * instead of config.json when it exists; it is written from config.json's
 * keys, so reading both gives the same settings for saved checkpoints. A
 * key of the wrong type: ADA_EINVAL, param "model", the file and key named.
 */
int s2s_generation_config(const struct model *m, struct beam_opts *o, struct ada_err *err);

#endif
