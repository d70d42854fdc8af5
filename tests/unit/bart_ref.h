/*
 * bart_ref — a plain double-precision BART for checking lib/nn/bart.c.
 *
 * Written from Hugging Face's modeling_bart.py (BartEncoder, BartDecoder,
 * BartAttention, BartForConditionalGeneration's lm_head + final_logits_bias)
 * as straightforward loops over ONE unpadded (source, decoder input) pair:
 * no batching, no flattening, no BLAS, nothing shared with lib/nn. Slow on
 * purpose.
 */
#ifndef ADA_TESTS_BART_REF_H
#define ADA_TESTS_BART_REF_H

#include <stdint.h>

struct bart_ref_layer {
	/* self q k v out, cross q k v out: [dim][dim]; fc1 [hidden][dim]; fc2 [dim][hidden]
	 * (enum bart_module order; an encoder layer has no cross entries) */
	const double *w[10], *b[10];
	const double *ln_self_w, *ln_self_b, *ln_cross_w, *ln_cross_b, *ln_ffn_w, *ln_ffn_b;
};

struct bart_ref {
	int dim, hidden, n_enc, n_dec, n_heads, vocab;
	double embed_scale, eps;
	const double *shared;                 /* [vocab][dim] */
	const double *lm_head;                /* [vocab][dim]: shared when tied */
	const double *enc_pos, *dec_pos;      /* [positions][dim], position p at row p + 2 */
	const double *enc_ln_w, *enc_ln_b, *dec_ln_w, *dec_ln_b;
	const struct bart_ref_layer *layers;  /* [n_enc + n_dec] */
	const double *logits_bias;            /* [vocab] */
};

/* logits [T][vocab] of decoder inputs dec[0..T) against source src[0..S).
 * Returns 0, or -1 when out of memory. */
int bart_ref_logits(const struct bart_ref *m, const int32_t *src, int S, const int32_t *dec,
		    int T, double *logits);

#endif
