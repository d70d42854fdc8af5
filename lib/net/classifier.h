/*
 * classifier — a sequence classifier (or regressor) as one network: an
 * encoder's hidden states (BERT: bert_forward; Llama: llama_forward_hidden,
 * the final-norm states) fed to a struct seq_head (heads.h), with its loss
 * and, over a whole dataset, the GLUE metrics.
 *
 * The trainer (its classification task) and `adalora eval` both run
 * classifiers through this file, so the validation metrics of a job and
 * the evaluation of its exported adapter come from the same code.
 *
 * struct classifier only borrows: the networks and the head belong to the
 * trainer's trained_net or to an inference_net. struct classifier_acts
 * owns the activations of one (batch, sequence) shape.
 */
#ifndef ADA_NET_CLASSIFIER_H
#define ADA_NET_CLASSIFIER_H

#include <stdint.h>

#include "model/model.h"
#include "nn/bert.h"
#include "nn/heads.h"
#include "nn/llama.h"
#include "tokenizer/tokenizer.h"
#include "data/class_data.h"
#include "data/cls_metrics.h"

struct classifier {
	enum ada_family family;
	const struct llama_net *llama;  /* the Llama family (borrowed), else NULL */
	const struct bert_net *bert;    /* the BERT family (borrowed), else NULL */
	const struct seq_head *head;    /* borrowed */
	int n_labels;                   /* head outputs (1 with regression) */
	int regression;                 /* float targets, squared error */
};

struct classifier_acts {
	int B, T;
	struct llama_acts llama;        /* hidden-state acts (Llama family) */
	struct bert_acts bert;          /* BERT family */
	struct seq_head_acts head;      /* logits and dlogits of the last forward */
	int32_t *types;                 /* [B][T] token types of the last forward */
	real *hidden;                   /* the encoder output [B*T][dim] in the acts above */
	real *dhidden;                  /* its gradient buffer, likewise */
};

/* checkpointing: gradient checkpointing of a decoder (llama.h); BERT
 * encoders do not offer it (ADA_EINVAL). */
int classifier_acts_init(struct classifier_acts *a, const struct classifier *c, int B, int T,
			 int n_threads, int checkpointing);
void classifier_acts_release(struct classifier_acts *a);

/* Forward B <= a->B examples: ids [B][T] and types [B][T] (may be NULL:
 * all 0; ignored by decoders) and lengths [B] in 1..T, all borrowed; the
 * logits are left in a->head.logits [B][n_labels]. ADA_EINVAL for an id,
 * type or length out of range, ADA_ENOMEM from adapter caches. */
int classifier_forward(const struct classifier *c, struct classifier_acts *a,
		       const int32_t *ids, const uint8_t *types, const int32_t *lengths, int B,
		       const struct nn_step *st);

/* The loss of the last forward: the sum over its B examples of the cross-
 * entropy against labels [B] (regression: the squared error against
 * targets [B]) into *loss_sum; grad_scale != 0 also writes d(sum)/d(logits)
 * * grad_scale into a->head.dlogits for classifier_backward. ADA_EINVAL
 * when a label is outside the head's classes. */
int classifier_loss(const struct classifier *c, struct classifier_acts *a, const int32_t *labels,
		    const float *targets, int B, real grad_scale, double *loss_sum);

/* Backward of the last forward from a->head.dlogits (same ids and lengths
 * as it had): accumulates into every gradient the networks and the head
 * carry. ADA_OK or, as llama_backward, ADA_ENOMEM. */
int classifier_backward(const struct classifier *c, struct classifier_acts *a,
			const int32_t *ids, const int32_t *lengths, int B,
			const struct nn_step *st);

/* Every example of ds (ds->seq_len == a->T) forward, in batches of a->B,
 * dropout off: m gets the GLUE metrics (cls_metrics.h) and the mean loss.
 * ADA_ENOMEM, or ADA_EINVAL for an example the network refuses. */
int classifier_evaluate(const struct classifier *c, struct classifier_acts *a,
			const struct class_dataset *ds, struct cls_metrics *m);

/* The class_data.h pair encoder of a tokenizer (borrowed by enc): its
 * tokenizer_encode_pair() framing and longest-first truncation, padding
 * with its pad token (0 without one: padding is masked or after the
 * pooled token, never read). */
void classifier_pair_encoder(struct pair_encoder *enc, const struct tokenizer *t);

#endif
