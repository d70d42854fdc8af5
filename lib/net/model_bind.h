/*
 * model_bind — point a network at a loaded model's frozen weights.
 *
 * Training (trained_net), inference (inference_net) and the tests all start
 * from the same frozen network: the model's weights borrowed by a
 * llama_net or bert_net, and a sequence head of the right shape. What is
 * trained or attached later (adapters, copies in a parameter arena, a
 * head's new weights) is pointed in afterwards by the caller. Nothing here
 * allocates: the caller owns the blocks arrays and the model outlives them.
 */
#ifndef ADA_NET_MODEL_BIND_H
#define ADA_NET_MODEL_BIND_H

#include "model/model.h"
#include "nn/bart.h"
#include "nn/bert.h"
#include "nn/heads.h"
#include "nn/llama.h"

/* Point a llama_net at a model's frozen weights (no gradients, no adapters).
 * blocks: caller's array of cfg.n_layers. */
void llama_net_from_model(struct llama_net *net, struct llama_block *blocks,
			  const struct model *m);

/* The encoder's dims for a BERT-family config (DeBERTa's attention too). */
void bert_dims_from_config(struct bert_dims *d, const struct model_config *c);

/* Point a bert_net at a loaded BERT-family model's frozen weights (no
 * gradients, no adapters, no bottlenecks). blocks: caller's array of
 * cfg.n_layers. */
void bert_net_from_model(struct bert_net *net, struct bert_block *blocks, const struct model *m);

/* Point a bart_net at a loaded BART model's frozen weights (no gradients,
 * no adapters). blocks: caller's array of cfg.n_layers (encoder, then
 * decoder layers). */
void bart_net_from_model(struct bart_net *net, struct bart_block *blocks, const struct model *m);

/* A classifier head for m, frozen and without its new weights (the trainer
 * or an adapter supplies them), as Hugging Face's ...ForSequenceClassification:
 * BERT pools [CLS] through the pretrained pooler (head->dense = pooler.dense;
 * NULL weights when the checkpoint has none), RoBERTa pools <s> through a
 * dense layer of the head's own (shape only), DeBERTa [CLS] through its
 * ContextPooler (shape only, GELU or tanh after it), Llama pools the last
 * token (no dense). out gets its shape [n_labels][dim] and no weights. */
void seq_head_from_model(struct seq_head *head, const struct model *m, int n_labels);

#endif
