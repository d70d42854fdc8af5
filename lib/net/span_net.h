/*
 * span_net — extractive question answering as one network: an encoder's
 * hidden states (encoder.h: any encoder family) through qa_outputs
 * (nn/qa_head.h) to start and end logits, the span loss, and over a whole
 * set of windows the predictions and the official SQuAD metrics
 * (data/qa_data.h).
 *
 * The trainer's question_answering task and `adalora eval` both run QA
 * through this file, so a job's validation EM/F1 and the evaluation of its
 * exported adapter come from the same code. struct span_net borrows; struct
 * span_acts owns the activations of one (batch, sequence) shape.
 */
#ifndef ADA_NET_SPAN_NET_H
#define ADA_NET_SPAN_NET_H

#include <stdint.h>

#include "data/qa_data.h"
#include "net/encoder.h"
#include "nn/linear.h"

struct span_net {
	struct encoder enc;
	const struct linear *qa;        /* qa_outputs [2][dim] + bias (borrowed) */
};

struct span_acts {
	struct encoder_acts enc;
	real *logits;                   /* [B*T][2] of the last forward */
	real *dlogits;
};

int span_acts_init(struct span_acts *a, const struct span_net *n, int B, int T, int n_threads);
void span_acts_release(struct span_acts *a);

int span_forward(const struct span_net *n, struct span_acts *a, const int32_t *ids,
		 const uint8_t *types, const int32_t *lengths, int B, const struct nn_step *st);
/* The summed span loss of the last forward (grad_scale != 0: its gradient
 * into a->dlogits for span_backward). ADA_EINVAL for a label out of range. */
int span_loss(struct span_acts *a, const int32_t *lengths, const int32_t *start,
	      const int32_t *end, int B, real grad_scale, double *loss_sum);
int span_backward(const struct span_net *n, struct span_acts *a, const int32_t *ids,
		  const int32_t *lengths, int B, const struct nn_step *st);

/* Every window of f forward (batches of a->B, no dropout): the start and
 * end logits of each into start, end [f->n][T] (the caller's), and when
 * loss is not NULL the mean span loss over the windows (their labels). */
int span_logits(const struct span_net *n, struct span_acts *a, const struct qa_features *f,
		float *start, float *end, double *loss, struct ada_err *err);
/* The same, then each question's prediction (qa_predict): the mean span
 * loss over the windows into *loss, each question's predicted text (texts
 * may be NULL; else set->n malloc'ed strings the caller frees) and the
 * official metrics into m. */
int span_evaluate(const struct span_net *n, struct span_acts *a, const struct qa_set *set,
		  const struct qa_features *f, const struct qa_predict_opts *po,
		  struct ada_qa_metrics *m, double *loss, char **texts, struct ada_err *err);

#endif
