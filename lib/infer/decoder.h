/*
 * decoder — one token at a time through a llama_net, with a key/value cache.
 *
 * Generation feeds a token per position, so the batched training forward
 * (which recomputes every position) would make n tokens cost O(n^2)
 * projections. The decoder keeps each layer's rotated keys and values for
 * the positions seen so far and computes only the new row. It uses the same
 * nn/ ops and linear layers (adapters included) as training, so a trained
 * adapter generates exactly what it was trained as.
 */
#ifndef ADA_INFER_DECODER_H
#define ADA_INFER_DECODER_H

#include "nn/llama.h"

struct decoder {
	const struct llama_net *net;   /* borrowed */
	int max_seq;
	void *mem;                     /* one allocation for everything below */
	real *key_cache, *value_cache; /* [L][max_seq][KV*hd] */
	real *x, *xn, *q, *k, *v, *att_out, *tmp, *g, *u, *h;
	real *scores;                  /* [max_seq] */
	real *logits;                  /* [vocab] */
	real *rope_cos, *rope_sin;     /* [max_seq][hd/2] */
};

int decoder_init(struct decoder *dec, const struct llama_net *net, int max_seq);
void decoder_release(struct decoder *dec);

/* Run token at position pos (0 <= pos < max_seq; positions in order);
 * returns the logits for the next token (valid until the next call). */
const real *decoder_step(struct decoder *dec, int token, int pos);

#endif
