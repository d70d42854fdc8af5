/*
 * smooth_xent — softmax cross-entropy with label smoothing, as
 * transformers' LabelSmoother computes it for sequence-to-sequence
 * training (Seq2SeqTrainer with label_smoothing_factor eps):
 *
 *   per counted row (target >= 0):
 *     loss = (1 - eps) * (-log p[target]) + eps * mean over the V classes of (-log p[v])
 *
 * so eps is spread evenly over the whole vocabulary, target included, and
 * rows whose target is -1 (padding) count for nothing. The losses return
 * the SUM over counted rows (ops.h's softmax_xent convention): a grad_scale
 * of 1 / (counted rows of the optimizer step) makes it HF's mean. eps = 0
 * is softmax_xent exactly.
 *
 * The gradient, (p - (1 - eps) onehot - eps / V) * grad_scale, overwrites
 * the logits when grad_scale != 0 (zero on ignored rows). Rows run in
 * parallel; the sums are taken in row order afterwards, so they do not
 * depend on the thread count.
 */
#ifndef ADA_NN_SMOOTH_XENT_H
#define ADA_NN_SMOOTH_XENT_H

#include <stdint.h>

#include "nn/real.h"

/* logits [N][V]; targets [N] (-1 = ignore). row_loss and row_nll are [N]
 * scratch. Returns the summed smoothed loss; *nll_sum (may be NULL) gets
 * the summed plain negative log-likelihood of the targets, *count the
 * counted rows. */
double softmax_xent_smooth(real *logits, const int32_t *targets, int N, int V, real eps,
			   real grad_scale, double *row_loss, double *row_nll, double *nll_sum,
			   int64_t *count);

#endif
