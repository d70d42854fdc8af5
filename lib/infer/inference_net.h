/*
 * inference_net — a model ready to run forward: weights (frozen), its
 * tokenizer, and optionally an adapter attached. What `generate` and
 * `eval` (and any later serving) start from.
 *
 * A Llama-family model is bound to net (a decoder); a BERT-family model to
 * bert. An adapter written by a classification job carries the head: then
 * head is bound and cls describes the classifier (is_classifier). Without
 * one, a BERT model has no task to run and callers refuse it.
 */
#ifndef ADA_INFER_INFERENCE_NET_H
#define ADA_INFER_INFERENCE_NET_H

#include "../adalora.h"
#include "../model/model.h"
#include "../nn/bert.h"
#include "../nn/heads.h"
#include "../nn/llama.h"
#include "classifier.h"
#include "../tokenizer/tokenizer.h"
#include "peft_import.h"

struct inference_net {
	struct model *model;          /* owned */
	struct tokenizer *tok;        /* owned */
	struct llama_net net;         /* the Llama family */
	struct llama_block *blocks;   /* owned */
	struct bert_net bert;         /* the BERT family */
	struct bert_block *bert_blocks;   /* owned */
	struct seq_head head;         /* a classifier's head (the adapter's weights) */
	int is_classifier;
	struct classifier cls;        /* valid when is_classifier */
	struct peft_adapter adapter;  /* empty without --adapter */
};

int inference_net_open(struct inference_net *in, const struct ada_infer_opts *o,
		       struct ada_err *err);
void inference_net_close(struct inference_net *in);

/* Point a llama_net at a model's frozen weights (no gradients, no adapters).
 * blocks: caller's array of cfg.n_layers. */
void llama_net_from_model(struct llama_net *net, struct llama_block *blocks,
			  const struct model *m);

/* Point a bert_net at a loaded BERT-family model's frozen weights (no
 * gradients, no adapters, no bottlenecks). blocks: caller's array of
 * cfg.n_layers. */
void bert_net_from_model(struct bert_net *net, struct bert_block *blocks, const struct model *m);

/* A classifier head for m, frozen and without its new weights (the trainer
 * or an adapter supplies them), as Hugging Face's ...ForSequenceClassification:
 * BERT pools [CLS] through the pretrained pooler (head->dense = pooler.dense;
 * NULL weights when the checkpoint has none), RoBERTa pools <s> through a
 * dense layer of the head's own (shape only), Llama pools the last token
 * (no dense). out gets its shape [n_labels][dim] and no weights. */
void seq_head_from_model(struct seq_head *head, const struct model *m, int n_labels);

#endif
