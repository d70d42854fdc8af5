/*
 * batch — how many optimizer steps a run takes, and which windows each
 * step trains on.
 *
 * Stateless by design: the rows of global step t are a pure function of
 * (dataset, seed, batch_size, t). Epoch e = t / steps_per_epoch visits every
 * training window once, in its own order: a Fisher-Yates shuffle driven by
 * an rng seeded with rng_hash(seed, e). Step t takes the next batch_size
 * windows of that order, the epoch's last step what is left. A run resumed
 * at step t thus sees exactly the batches the uninterrupted run would have,
 * and a checkpoint needs nothing but the step number.
 *
 * The same order works over any numbered items: a classification job
 * batches its examples with batcher_init_items() and batcher_window().
 *
 * struct batcher remembers the order of the last epoch it was asked about,
 * so that the steps of one epoch do not reshuffle; that memo changes no
 * result, but it makes a batcher a thing for one thread at a time.
 */
#ifndef ADA_DATA_BATCH_H
#define ADA_DATA_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "data/data.h"

/* n_epochs "auto": at least 3 epochs, more while needed to reach 100
 * optimizer steps, never more than 25. */
#define BATCH_EPOCHS_AUTO      0
#define BATCH_AUTO_MIN_EPOCHS  3
#define BATCH_AUTO_MIN_STEPS   100
#define BATCH_AUTO_MAX_EPOCHS  25

struct batch_plan {
	int64_t n_windows;         /* training windows */
	int batch_size;
	int64_t steps_per_epoch;   /* ceil(n_windows / batch_size) */
	int64_t n_epochs;          /* epochs the run enters (the last may be partial) */
	int64_t total_steps;
};

/* n_epochs >= 1, or BATCH_EPOCHS_AUTO. max_steps > 0 overrides n_epochs:
 * the run takes exactly max_steps steps, cycling through further epochs as
 * needed; 0 means no limit. Errors name the parameter. */
int batch_plan_init(struct batch_plan *plan, int64_t n_windows, int batch_size,
		    int n_epochs, int64_t max_steps, struct ada_err *err);

/* The order of epoch `epoch`: perm[0..n) becomes a permutation of 0..n-1. */
void batch_permutation(uint64_t seed, int64_t epoch, uint32_t *perm, size_t n);

struct batcher {
	const struct dataset *ds;  /* borrowed; must outlive the batcher; NULL over items */
	int64_t n_items;           /* windows of ds, or the items of batcher_init_items */
	uint64_t seed;
	int batch_size;
	int64_t steps_per_epoch;
	uint32_t *perm;            /* owned: the order of epoch perm_epoch */
	int64_t perm_epoch;        /* -1 before the first use */
};

int batcher_init(struct batcher *b, const struct dataset *ds, int batch_size,
		 uint64_t seed, struct ada_err *err);
/* Over items 0..n_items-1 of the caller's (no dataset: batcher_rows,
 * batcher_batch and batcher_step_targets are for window datasets only). */
int batcher_init_items(struct batcher *b, int64_t n_items, int batch_size, uint64_t seed,
		       struct ada_err *err);
void batcher_release(struct batcher *b);

static inline int64_t batcher_epoch(const struct batcher *b, int64_t step)
{
	return step / b->steps_per_epoch;
}

/* Rows in step `step` (batch_size, or fewer in an epoch's last step). */
int batcher_step_rows(const struct batcher *b, int64_t step);

/* The training window (item) behind row `row` of step `step`. */
int64_t batcher_window(struct batcher *b, int64_t step, int row);

/* Rows [r0, r1) of step `step` — a micro-batch, for gradient accumulation —
 * into caller-owned inputs and targets of (r1 - r0) x seq_len each
 * (dataset_window's layout, -1 = no target). Returns the number of targets.
 * 0 <= r0 <= r1 <= batcher_step_rows(b, step). */
int64_t batcher_rows(struct batcher *b, int64_t step, int r0, int r1,
		     int32_t *inputs, int32_t *targets);

/* The whole step; *n_rows gets its row count. Returns the number of targets. */
int64_t batcher_batch(struct batcher *b, int64_t step, int32_t *inputs,
		      int32_t *targets, int *n_rows);

/* Targets in the whole step, to normalise a token-weighted loss over its
 * micro-batches. */
int64_t batcher_step_targets(struct batcher *b, int64_t step);

#endif
