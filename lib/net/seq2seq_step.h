/*
 * seq2seq_step — the decoding interface between a sequence-to-sequence
 * model and a search (greedy here, beam search in lib/infer/beam.h), and
 * BART's implementation of it over nn/bart_decode.h.
 *
 * The interface is model-independent: a search holds up to n live
 * hypotheses of one source, asks for their next-token logits one position
 * at a time, and tells the model which hypotheses continue which (reorder)
 * so their key/value cache rows follow them. struct seq2seq_step_ops is
 * declared identically in lib/infer/beam.h (the beam search's branch); the
 * two are one type once both land (infer/ may include this header).
 */
#ifndef ADA_NET_SEQ2SEQ_STEP_H
#define ADA_NET_SEQ2SEQ_STEP_H

#include "adalora.h"
#include "nn/bart_decode.h"
#include "util/ivec.h"

#ifndef ADA_SEQ2SEQ_STEP_OPS
#define ADA_SEQ2SEQ_STEP_OPS
/* One source, up to n live hypotheses; the decoder keeps a KV cache row per hypothesis. */
struct seq2seq_step_ops {
	int vocab;
	/* Next-token logits (n x vocab, row-major) of n live hypotheses, given each one's
	 * newest token tokens[i] at decoder position pos (0 = the decoder start token). */
	int (*step)(void *ctx, int n, const int *tokens, int pos, float *logits, struct ada_err *err);
	/* Hypothesis i continues old hypothesis parent[i] (i < n): permute/copy cache rows. */
	int (*reorder)(void *ctx, int n, const int *parent, struct ada_err *err);
};
#endif

/* BART behind the interface: ops (whose ctx is the stepper) over a KV-
 * cached decoder of up to max_hyps hypotheses of max_len positions, for
 * sources of up to max_src tokens. The net is borrowed. */
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

/* How a search ends a hypothesis (transformers' generate for BART). */
struct s2s_gen_opts {
	int start;              /* decoder_start_token_id */
	int eos;                /* ends a hypothesis (and is kept out of the output) */
	int forced_bos;         /* the token forced at the first position, -1: none */
	int max_new;            /* tokens generated at most, EOS included */
	int min_new;            /* EOS is not chosen before this many tokens */
};

/* Greedy decoding through ops (from a started source): the argmax at
 * every position, forced_bos first, until EOS or max_new tokens; the
 * tokens after the start token, EOS left out, appended to out. */
int s2s_greedy(const struct seq2seq_step_ops *ops, void *ctx, const struct s2s_gen_opts *o,
	       struct ivec *out, struct ada_err *err);

#endif
