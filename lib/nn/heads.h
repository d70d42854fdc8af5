/*
 * heads — sequence classification and regression on top of a network's
 * final hidden states [B*T][dim], and their losses.
 *
 * One head shape covers the three Hugging Face heads:
 *   BertForSequenceClassification   first token ([CLS]); dense = the
 *       pretrained pooler (tanh(W_p h + b_p)); out = classifier (+ bias)
 *   RobertaClassificationHead       first token (<s>); dense (+ tanh) and
 *       out_proj (+ bias), both new
 *   DebertaV2ForSequenceClassification  first token ([CLS]); dense = the
 *       ContextPooler's (new; pooler_hidden_act, GELU by default); out =
 *       classifier (+ bias)
 *   LlamaForSequenceClassification  last non-pad token (lengths[b] - 1) of
 *       the final-norm hidden states; no dense; out = score (no bias)
 * The head's layers are struct linear (borrowed weights, gradients where
 * they train), so the trainer decides what trains (modules_to_save) and an
 * adapter could even sit on them. Dropout is not applied.
 *
 * Only the pooled row of each sequence reaches the head: backward adds into
 * that row of d(hidden) and leaves every other row alone, so padding gets no
 * gradient from the head.
 *
 * The losses follow ops.h's softmax_xent: they return the SUM over the
 * examples and write d(sum)/d(logits) * grad_scale, so grad_scale = 1 /
 * (examples in the optimizer step) gives the example mean across
 * micro-batches, which is HF's mean-reduced loss when there is one.
 */
#ifndef ADA_NN_HEADS_H
#define ADA_NN_HEADS_H

#include <stdint.h>

#include "nn/linear.h"
#include "nn/real.h"

enum seq_pool {
	SEQ_POOL_FIRST,         /* position 0: [CLS] / <s> */
	SEQ_POOL_LAST,          /* position lengths[b] - 1 */
};

struct seq_head {
	enum seq_pool pool;
	struct linear dense;    /* [dim][dim] + bias, act after; dense.w NULL: none */
	enum head_act act;      /* after dense: tanh (the zero value) or GELU */
	struct linear out;      /* [n_labels][dim] (+ bias) */
};

/* The head's activations for up to B sequences: one allocation, reused. */
struct seq_head_acts {
	int B, dim, n_labels;
	void *mem;
	real *x;        /* [B][dim] the pooled hidden states */
	real *u;        /* [B][dim] dense(x) */
	real *t;        /* [B][dim] act(dense(x)) */
	real *logits;   /* [B][n_labels] */
	real *dlogits;  /* [B][n_labels] where the losses may write the gradient */
	real *dt, *du, *dx;  /* [B][dim] backward scratch */
};

int seq_head_acts_init(struct seq_head_acts *a, int dim, int n_labels, int B);
void seq_head_acts_release(struct seq_head_acts *a);

/* a->logits = head(hidden rows picked by the pooling). hidden is [B*T][dim]
 * (borrowed, read only during the call); lengths [B] in 1..T, or NULL for
 * all T (SEQ_POOL_LAST then takes position T - 1). */
int seq_head_forward(const struct seq_head *h, struct seq_head_acts *a, const real *hidden,
		     const int32_t *lengths, int B, int T, const struct nn_step *st);

/* From dlogits [B][n_labels] (e.g. a->dlogits): accumulates the head's
 * parameter gradients and adds d(pooled row) into dhidden [B*T][dim]
 * (dhidden NULL: the body is frozen, only the head's gradients). */
void seq_head_backward(const struct seq_head *h, struct seq_head_acts *a, const real *dlogits,
		       real *dhidden, const int32_t *lengths, int B, int T,
		       const struct nn_step *st);

/* Softmax cross-entropy of logits [B][C] against labels [B]: *loss_sum =
 * sum of -log p(label); dlogits (may be NULL) = (softmax - onehot) *
 * grad_scale. ADA_EINVAL, touching nothing, when a label is outside [0, C). */
int seq_head_xent(const real *logits, const int32_t *labels, int B, int C, real grad_scale,
		  real *dlogits, double *loss_sum);

/* Squared error of predictions [B] (num_labels = 1) against targets [B]:
 * returns sum (pred - target)^2; dpred (may be NULL) = 2 (pred - target) *
 * grad_scale. */
double seq_head_mse(const real *pred, const real *targets, int B, real grad_scale, real *dpred);

#endif
