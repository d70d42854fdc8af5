/*
 * adapter — what a trainable add-on to a frozen linear layer must provide.
 *
 * A struct linear (linear.h) computes y = x W^T (+ b) and, when it carries
 * an adapter, adds the adapter's output; backward likewise asks the adapter
 * for its parameter gradients and its share of dx. The model code calls
 * linear_forward/linear_backward only, so a new kind of adapter (LoRA, the
 * AdaLoRA SVD triplets, a pruned LoRA) slots in without touching it.
 *
 * An adapter is embedded as the first member of its implementation struct
 * (container_of style). Its parameters and gradients live in the trainer's
 * parameter arena: the adapter borrows those pointers. Forward may cache
 * per-row values for backward in buffers the adapter owns, sized for the
 * largest N seen (grown outside the hot path on the first call of a shape).
 */
#ifndef ADA_NN_ADAPTER_H
#define ADA_NN_ADAPTER_H

#include <stdint.h>

#include "nn/real.h"

struct adapter;

/* Per-step facts an adapter may need (dropout is keyed on them so that a
 * resumed run draws the same masks). */
struct nn_step {
	int training;          /* 0: inference (no dropout, no caching needed) */
	uint64_t seed;
	int64_t step;          /* optimizer step */
	int micro;             /* micro-batch within the step */
};

struct adapter_ops {
	const char *kind;
	/* y[N][out] += delta(x[N][in]). */
	int (*forward)(struct adapter *ad, const real *x, int N, real *y, const struct nn_step *st);
	/* Accumulate parameter gradients; dx[N][in] += dL/dx (dx may be NULL).
	 * x and dy as in the matching forward call. */
	void (*backward)(struct adapter *ad, const real *x, const real *dy, int N, real *dx,
			 const struct nn_step *st);
	void (*free)(struct adapter *ad);
};

struct adapter {
	const struct adapter_ops *ops;
	int in, out;
	int id;                /* unique per model (dropout streams) */
};

static inline void adapter_free(struct adapter *ad)
{
	if (ad)
		ad->ops->free(ad);
}

#endif
