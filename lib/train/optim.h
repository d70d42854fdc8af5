/*
 * optim — AdamW, gradient-norm clipping and learning-rate schedules over
 * the trainer's flat arrays.
 *
 * The trainer keeps every trainable parameter in one float array and the
 * gradients and both Adam moments in three more of the same layout; it
 * describes that layout once as ranges (with or without weight decay) and
 * this module turns them into fixed chunks. Chunks depend on the ranges
 * only, never on the thread count, and each chunk is processed by exactly
 * the same code whoever runs it, so updates are bit-identical with any
 * number of OpenMP threads; the gradient norm adds per-chunk double sums
 * in chunk order for the same reason.
 *
 * The arithmetic follows PyTorch: torch.optim.AdamW (decoupled decay, bias
 * correction, eps added to sqrt(v_hat)), torch.nn.utils.clip_grad_norm_,
 * and Hugging Face's schedules (get_linear_schedule_with_warmup, ...), so
 * runs compare with the reference implementations.
 */
#ifndef ADA_TRAIN_OPTIM_H
#define ADA_TRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"

#define PARAM_CHUNK 16384   /* elements; 64 KiB of floats per array */

/* Elements [off, off + len) of the flat arrays. Ranges are sorted by off
 * and do not overlap; elements outside every range are never touched. */
struct param_range {
	size_t off, len;
	int decay;          /* weight decay applies (0 for norms and biases) */
};

struct param_chunk {
	size_t off, len;    /* len <= PARAM_CHUNK, never spanning two ranges */
	int decay;
};

struct param_chunks {
	struct param_chunk *v;   /* owned */
	size_t n;
	size_t n_elems;          /* elements covered by the ranges */
	double *partial;         /* owned scratch: one sum per chunk */
};

/* Cut ranges (borrowed) over arrays of array_len elements into chunks. */
int param_chunks_init(struct param_chunks *pc, const struct param_range *ranges,
		      size_t n_ranges, size_t array_len, struct ada_err *err);
void param_chunks_release(struct param_chunks *pc);

/* ---- gradient norm and clipping --------------------------------------- */

struct grad_norm_info {
	double norm;         /* L2 norm of the gradients before clipping */
	int finite;          /* 0 when any gradient is inf or NaN */
	int clipped;         /* the gradients were scaled down */
};

/* L2 norm of g over the ranges, accumulated in double; it is inf or NaN
 * exactly when some gradient is (float squares cannot overflow a double). */
double grad_norm(const struct param_chunks *pc, const float *g);

/* As torch's clip_grad_norm_: with max_norm > 0, scale g in place by
 * max_norm / (norm + 1e-6) when that is below 1; max_norm <= 0 only
 * measures. Non-finite gradients are left as they are (info->finite = 0):
 * the caller skips the step. */
void grad_clip(const struct param_chunks *pc, float *g, double max_norm,
	       struct grad_norm_info *info);

/* ---- AdamW ------------------------------------------------------------- */

struct adamw_config {
	double beta1, beta2, eps, weight_decay;
};

/* torch.optim.AdamW's betas and eps; weight decay 0 as the job API's default
 * (torch's own default is 0.01). */
#define ADAMW_CONFIG_DEFAULT { .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0 }

struct adamw {
	struct adamw_config cfg;
	int64_t step;        /* updates taken (torch's state["step"]); checkpointed */
};

/* Checks cfg as torch does (betas in [0, 1), eps and weight_decay >= 0);
 * errors name the field. */
int adamw_init(struct adamw *o, const struct adamw_config *cfg, struct ada_err *err);

/* One update with learning rate lr, in place on w, m and v (distinct
 * arrays laid out as pc says; g is only read):
 *   t += 1;  w *= 1 - lr * wd  (decay ranges);  m += (1 - b1) (g - m);
 *   v = b2 v + (1 - b2) g^2;  w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void adamw_step(struct adamw *o, const struct param_chunks *pc, double lr,
		float *w, const float *g, float *m, float *v);

/* ---- learning-rate schedules ------------------------------------------ */

/* The factor on the peak learning rate for 0-based optimizer step `step`
 * (Hugging Face's get_{linear,cosine,constant}_schedule_with_warmup)
 * of `total`: step / warmup while step < warmup (so step 0 of a warm-up
 * trains with lr 0, as in Hugging Face); then linear max(0, (total - step)
 * / max(1, total - warmup)), cosine max(0, (1 + cos(pi * progress)) / 2)
 * with progress = (step - warmup) / max(1, total - warmup), or constant 1. */
double lr_factor(enum ada_lr_schedule schedule, int64_t step, int64_t warmup, int64_t total);

#endif
