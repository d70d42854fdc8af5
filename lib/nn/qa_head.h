/*
 * qa_head — extractive question answering on an encoder's hidden states:
 * Hugging Face's ...ForQuestionAnswering head, qa_outputs = Linear(dim, 2),
 * whose two outputs per position are the start and end logits, and the span
 * loss: (cross-entropy of the start position + of the end position) / 2.
 *
 * The softmax runs over each window's real tokens (lengths[b]), not its
 * padding (Hugging Face pads to max_length and lets the padding compete;
 * its logits there are learned to be low, ours are never looked at).
 * The loss follows heads.h: the SUM over windows, d(sum)/d(logits) scaled
 * by grad_scale.
 */
#ifndef ADA_NN_QA_HEAD_H
#define ADA_NN_QA_HEAD_H

#include <stdint.h>

#include "nn/linear.h"
#include "nn/real.h"

/* logits[N][2] = hidden[N][dim] qa^T + b: (start, end) per position. */
int qa_head_forward(const struct linear *qa, const real *hidden, int N, real *logits,
		    const struct nn_step *st);

/* From dlogits[N][2]: qa's gradients, and dhidden[N][dim] = d(hidden)
 * (overwritten; NULL: the body is frozen). */
void qa_head_backward(const struct linear *qa, const real *hidden, const real *dlogits, int N,
		      real *dhidden, const struct nn_step *st);

/* The span loss of B windows of T positions: logits [B*T][2], lengths [B]
 * in 1..T, start and end [B] in 0..lengths[b]-1. *loss_sum = sum over b of
 * (-log p_start(start[b]) - log p_end(end[b])) / 2; dlogits (may be NULL)
 * = its gradient * grad_scale (zero on padding). ADA_EINVAL, touching
 * nothing, for a position or length out of range. */
int qa_span_loss(const real *logits, const int32_t *lengths, const int32_t *start,
		 const int32_t *end, int B, int T, real grad_scale, real *dlogits,
		 double *loss_sum);

#endif
