/*
 * net_slots — every weight of a network bound to a model, listed by its
 * Hugging Face name with the two pointers the network reads it through.
 *
 * Full fine-tuning, BitFit and the adapter baseline each train some of a
 * model's own weights (all of them, the biases, the LayerNorms), and
 * their exports and imports name those weights. One list per family
 * (Llama, BERT), in one order, serves all of them: the trainer picks the
 * slots a method trains and points them at copies in its parameter arena;
 * the importer finds a file's tensor by name and points the slot at the
 * loaded values. So the names written are the names read.
 *
 * A slot is a place in a struct llama_net / bert_net (or the BERT pooler,
 * which lives in the classifier head; DeBERTa's relative table, its
 * LayerNorm and pos_key_proj / pos_query_proj are bert_net's; its
 * ContextPooler is the head's, not a slot): w is where the network reads the
 * weight, g where it writes the gradient (NULL gradient: frozen). The
 * list borrows the network; it stays valid while the network's blocks do.
 */
#ifndef ADA_NET_NET_SLOTS_H
#define ADA_NET_NET_SLOTS_H

#include "model/model.h"
#include "nn/bert.h"
#include "nn/heads.h"
#include "nn/llama.h"

enum slot_kind {
	SLOT_EMBEDDING,         /* token, position, token type tables */
	SLOT_WEIGHT,            /* a linear layer's [out][in] weight */
	SLOT_BIAS,              /* a linear layer's bias */
	SLOT_NORM,              /* RMSNorm / LayerNorm weight */
	SLOT_NORM_BIAS,         /* LayerNorm bias */
};

struct net_slot {
	char name[128];         /* "model.layers.0.self_attn.q_proj.weight", "bert.pooler.dense.bias" */
	enum slot_kind kind;
	int layer;              /* -1 outside the layers (embeddings, final norm, pooler, lm_head) */
	int rows, cols;         /* vectors: rows = length, cols = 1 */
	int rope_heads;         /* Llama Q/K weight or bias: its heads (our rows are adjacent
	                         * RoPE pairs, Hugging Face's rotate-half), else 0 */
	const real **w;         /* borrowed: where the network reads it */
	const struct frozen_mat **fw;  /* borrowed: where the network reads it in its file's
	                         * type when *w is NULL (matrices of a frozen base), or NULL */
	real **g;               /* borrowed: where the network writes its gradient */
};

struct net_slots {
	struct net_slot *v;     /* owned */
	int n;
};

/* The weights of a Llama network (lm_head: list lm_head.weight, when the
 * model has its own output matrix; a classifier has no use for it). */
int net_slots_llama(struct net_slots *s, struct llama_net *net, const struct model_config *cfg,
		    int lm_head);
/* The weights of a BERT network, then bert.pooler.dense.* on pooler when
 * not NULL (the classifier head's dense layer). */
int net_slots_bert(struct net_slots *s, struct bert_net *net, struct linear *pooler,
		   const struct model_config *cfg);
void net_slots_release(struct net_slots *s);

/* The module path of a layer's Houlsby adapter (the adapter baseline),
 * after the attention output (ffn = 0) or the FFN output (ffn = 1):
 * "model.layers.3.self_attn.adapter", "model.layers.3.mlp.adapter";
 * "bert.encoder.layer.3.attention.output.adapter",
 * "bert.encoder.layer.3.output.adapter". Its tensors are <path>.down.weight,
 * .down.bias, .up.weight, .up.bias. */
void net_bottleneck_path(const struct model_config *cfg, int layer, int ffn, char *buf,
			 size_t cap);
/* The slot called name, or NULL. */
const struct net_slot *net_slots_find(const struct net_slots *s, const char *name);

#endif
