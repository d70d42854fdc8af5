/*
 * bert_ref — a plain double-precision BERT for checking lib/nn/bert.c.
 *
 * Written from the Hugging Face modelling code (BertModel + BertPooler +
 * BertForSequenceClassification's classifier) as straightforward loops
 * over ONE unpadded sequence: no batching, no flattening, no BLAS, nothing
 * shared with lib/nn, so a bug there cannot hide in both. Slow on purpose.
 */
#ifndef ADA_TESTS_BERT_REF_H
#define ADA_TESTS_BERT_REF_H

#include <stdint.h>

struct bert_ref_layer {
	/* query key value attn_out: [dim][dim]; inter [hidden][dim]; output [dim][hidden] */
	const double *w[6], *b[6];
	const double *ln_attn_w, *ln_attn_b, *ln_out_w, *ln_out_b;
};

struct bert_ref {
	int dim, hidden, n_layers, n_heads, n_labels;
	int position_offset;
	double eps;
	const double *word, *pos, *type;       /* [*][dim] */
	const double *ln_emb_w, *ln_emb_b;
	const struct bert_ref_layer *layers;
	const double *pooler_w, *pooler_b;     /* [dim][dim], [dim] */
	const double *cls_w, *cls_b;           /* [n_labels][dim], [n_labels] */
};

/* logits [n_labels] of the sequence tokens[0..len) with token types
 * types[0..len). Returns 0, or -1 when out of memory. */
int bert_ref_logits(const struct bert_ref *m, const int32_t *tokens, const int32_t *types,
		    int len, double *logits);

#endif
