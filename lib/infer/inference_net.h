/*
 * inference_net — a model ready to run forward: weights (frozen), its
 * tokenizer, and optionally a PEFT adapter attached. What `generate` and
 * `eval` (and any later serving) start from.
 */
#ifndef ADA_INFER_INFERENCE_NET_H
#define ADA_INFER_INFERENCE_NET_H

#include "../adalora.h"
#include "../model/model.h"
#include "../nn/llama.h"
#include "../tokenizer/tokenizer.h"
#include "peft_import.h"

struct inference_net {
	struct model *model;          /* owned */
	struct tokenizer *tok;        /* owned */
	struct llama_net net;
	struct llama_block *blocks;   /* owned */
	struct peft_adapter adapter;  /* empty without --adapter */
};

int inference_net_open(struct inference_net *in, const struct ada_infer_opts *o,
		       struct ada_err *err);
void inference_net_close(struct inference_net *in);

/* Point a llama_net at a model's frozen weights (no gradients, no adapters).
 * blocks: caller's array of cfg.n_layers. */
void llama_net_from_model(struct llama_net *net, struct llama_block *blocks,
			  const struct model *m);

#endif
