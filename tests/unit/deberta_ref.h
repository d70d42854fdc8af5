/*
 * deberta_ref — a plain double-precision DeBERTa-v2/v3 for checking
 * lib/nn/bert.c + lib/nn/disentangled.c.
 *
 * Written from transformers' modeling_deberta_v2.py (DebertaV2Embeddings,
 * DisentangledSelfAttention with build_relative_position and
 * make_log_bucket_position, DebertaV2Encoder's rel_embeddings and
 * LayerNorm, ContextPooler, DebertaV2ForSequenceClassification) and the
 * paper (He et al. 2021, eq. 4) as straightforward loops over ONE
 * unpadded sequence: the relative position matrix and both gathers are
 * formed literally, p2c with its own index matrix and transpose as
 * transformers writes it, in double (the bucket's logarithms too). Nothing
 * is shared with lib/nn. Slow on purpose.
 */
#ifndef ADA_TESTS_DEBERTA_REF_H
#define ADA_TESTS_DEBERTA_REF_H

#include <stdint.h>

struct deberta_ref_layer {
	/* query_proj key_proj value_proj attn_out: [dim][dim]; inter [hidden][dim];
	 * output [dim][hidden] */
	const double *w[6], *b[6];
	const double *pos_key_w, *pos_key_b;       /* without share_att_key (c2p) */
	const double *pos_query_w, *pos_query_b;   /* without share_att_key (p2c) */
	const double *ln_attn_w, *ln_attn_b, *ln_out_w, *ln_out_b;
};

struct deberta_ref {
	int dim, hidden, n_layers, n_heads, n_labels;
	double eps;
	const double *word;                    /* [vocab][dim] */
	const double *pos;                     /* [positions][dim] or NULL (v3) */
	const double *type;                    /* [types][dim] or NULL (type_vocab_size 0) */
	const double *ln_emb_w, *ln_emb_b;
	/* relative attention (rel NULL: none) */
	const double *rel;                     /* [2 * span][dim] */
	const double *ln_rel_w, *ln_rel_b;     /* NULL: norm_rel_ebd none */
	int position_buckets, max_relative_positions;   /* as in config.json (-1: unset) */
	int max_position_embeddings;
	int c2p, p2c, share_att_key;
	const struct deberta_ref_layer *layers;
	int pooler_gelu;                       /* pooler_hidden_act gelu (else tanh) */
	const double *pooler_w, *pooler_b;     /* [dim][dim], [dim] */
	const double *cls_w, *cls_b;           /* [n_labels][dim], [n_labels] */
};

/* logits [n_labels] of the sequence tokens[0..len) with token types
 * types[0..len) (ignored without a type table). 0, or -1 out of memory. */
int deberta_ref_logits(const struct deberta_ref *m, const int32_t *tokens, const int32_t *types,
		       int len, double *logits);

/* transformers' make_log_bucket_position of one distance, in double. */
long deberta_ref_bucket(long rel, int bucket_size, int max_position);

#endif
