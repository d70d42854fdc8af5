/*
 * inference_net — a model ready to run forward: weights (frozen), its
 * tokenizer, and optionally an adapter attached. What `generate` and
 * `eval` (and any later serving) start from.
 *
 * A Llama-family model is bound to net (a decoder); a BERT-family model to
 * bert; a BART model to bart (its adapter, if any, a seq2seq job's). An adapter written by a classification job carries the head: then
 * head is bound and cls describes the classifier (is_classifier). Without
 * one, a BERT model has no task to run and callers refuse it. An adapter
 * written by a question_answering job carries qa_outputs: span describes
 * the network (is_qa).
 */
#ifndef ADA_INFER_INFERENCE_NET_H
#define ADA_INFER_INFERENCE_NET_H

#include "adalora.h"
#include "model/model.h"
#include "nn/bart.h"
#include "nn/bert.h"
#include "nn/heads.h"
#include "nn/llama.h"
#include "net/classifier.h"
#include "net/span_net.h"
#include "tokenizer/tokenizer.h"
#include "adapter/peft_import.h"

struct inference_net {
	struct model *model;          /* owned */
	struct tokenizer *tok;        /* owned */
	struct llama_net net;         /* the Llama family */
	struct llama_block *blocks;   /* owned */
	struct bert_net bert;         /* the BERT family */
	struct bert_block *bert_blocks;   /* owned */
	struct bart_net bart;         /* BART (an encoder-decoder) */
	struct bart_block *bart_blocks;   /* owned */
	struct seq_head head;         /* a classifier's head (the adapter's weights) */
	int is_classifier;
	struct classifier cls;        /* valid when is_classifier */
	struct linear qa;             /* a QA adapter's qa_outputs */
	int is_qa;
	struct span_net span;         /* valid when is_qa */
	struct peft_adapter adapter;  /* empty without --adapter */
};

int inference_net_open(struct inference_net *in, const struct ada_infer_opts *o,
		       struct ada_err *err);
void inference_net_close(struct inference_net *in);

#endif
