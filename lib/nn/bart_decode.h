/*
 * bart_decode — BART's decoder one position at a time, for up to
 * max_hyps hypotheses of one source, with a key/value cache: what greedy
 * and beam search run (net/seq2seq_step.h puts it behind the shared step
 * interface).
 *
 * The encoder runs once per source (bart_encode, into the decoder's own
 * B = 1 activations), and each decoder layer's cross-attention keys and
 * values are computed from its output once: every hypothesis of the
 * source reads the same ones. Each hypothesis keeps its own self-attention
 * cache row, [layer][hypothesis][position][dim], growing a position per
 * step; reorder() moves rows when beam search keeps some hypotheses and
 * drops others. A step computes only the new position of each live
 * hypothesis: the same nn/ ops and linear layers as training (adapters
 * included), so a trained adapter decodes what it was trained as, and the
 * logits equal the teacher-forced forward's at every position (up to the
 * order of the sums: test bart_decode).
 */
#ifndef ADA_NN_BART_DECODE_H
#define ADA_NN_BART_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "nn/bart.h"

struct bart_decoder {
	const struct bart_net *net;   /* borrowed */
	int max_src, max_hyps, max_len;
	int S;                        /* the current source's length (0: none yet) */
	int len;                      /* positions cached (each hypothesis has as many) */
	int n_live;                   /* hypotheses of the last step (or reorder) */
	struct bart_acts enc;         /* the encoder pass (B = 1, up to max_src tokens) */
	void *mem;                    /* one allocation for everything below */
	real *ck, *cv;                /* [Ld][max_src][D] cross keys, values */
	real *kc, *vc;                /* [Ld][max_hyps][max_len][D] self-attention cache */
	real *tmp;                    /* [max_hyps][max_len][D] reorder scratch */
	real *x, *q, *k, *v, *ctx, *s, *x1, *x2;   /* [max_hyps][D] */
	real *u, *g;                  /* [max_hyps][F] */
	real *mean, *rstd;            /* [max_hyps] */
	real *scores;                 /* [max(max_len, max_src)] */
	int32_t *tok;                 /* [max_hyps] */
};

/* A decoder of up to max_hyps hypotheses, max_len positions each, for
 * sources of up to max_src tokens (both within the position tables):
 * ADA_EINVAL, ADA_ENOMEM. */
int bart_decoder_init(struct bart_decoder *dec, const struct bart_net *net, int max_src,
		      int max_hyps, int max_len, int n_threads);
void bart_decoder_release(struct bart_decoder *dec);
/* The bytes bart_decoder_init allocates for that shape (0: a bad shape);
 * the memory estimate's. */
size_t bart_decoder_bytes(const struct bart_dims *d, int max_src, int max_hyps, int max_len,
			  int n_threads);

/* A new source src[0..S): encoder, cross keys and values; the cache is
 * emptied. ADA_EINVAL for a length or an id out of range. */
int bart_decoder_start(struct bart_decoder *dec, const int32_t *src, int S);

/* n <= max_hyps hypotheses, each's newest token tokens[i] at position pos
 * (pos = the positions cached so far, < max_len): their next-token logits
 * into logits [n][vocab]. Hypothesis i reads cache row i. ADA_EINVAL for
 * a bad n, position or token (nothing changes), ADA_ENOMEM from an
 * adapter. */
int bart_decoder_step(struct bart_decoder *dec, int n, const int32_t *tokens, int pos,
		      real *logits);

/* Hypothesis i continues hypothesis parent[i] (i < n, parent[i] < the n of
 * the last step): cache rows are copied so row i holds parent[i]'s
 * positions. ADA_EINVAL for a bad n or parent. */
int bart_decoder_reorder(struct bart_decoder *dec, int n, const int *parent);

#endif
