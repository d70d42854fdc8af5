/*
 * batch — step counts, epoch orders and batches; see batch.h.
 *
 * Orders are uint32 indices: the window rows themselves cost at least
 * 8 bytes each (seq_len + 1 ids), so a dataset with 2^32 windows could not
 * be held anyway, and half-size orders are cheaper to reshuffle.
 */
#include "data/batch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"

int batch_plan_init(struct batch_plan *plan, int64_t n_windows, int batch_size,
		    int n_epochs, int64_t max_steps, struct ada_err *err)
{
	int64_t spe, epochs;

	memset(plan, 0, sizeof(*plan));
	if (n_windows < 1)
		return ada_fail(err, ADA_EINVAL, "no training windows to plan steps over");
	if (batch_size < 1)
		return ada_fail_param(err, ADA_EINVAL, "batch_size",
				      "batch_size %d must be at least 1", batch_size);
	if (n_epochs < 0)
		return ada_fail_param(err, ADA_EINVAL, "n_epochs",
				      "n_epochs %d must be at least 1 (or \"auto\")", n_epochs);
	if (max_steps < 0)
		return ada_fail_param(err, ADA_EINVAL, "max_steps",
				      "max_steps %lld must not be negative", (long long)max_steps);

	spe = (n_windows - 1) / batch_size + 1;
	plan->n_windows = n_windows;
	plan->batch_size = batch_size;
	plan->steps_per_epoch = spe;
	if (max_steps > 0) {
		plan->total_steps = max_steps;
		plan->n_epochs = (max_steps - 1) / spe + 1;
		return ADA_OK;
	}
	if (n_epochs == BATCH_EPOCHS_AUTO) {
		epochs = (BATCH_AUTO_MIN_STEPS - 1) / spe + 1;
		if (epochs < BATCH_AUTO_MIN_EPOCHS)
			epochs = BATCH_AUTO_MIN_EPOCHS;
		if (epochs > BATCH_AUTO_MAX_EPOCHS)
			epochs = BATCH_AUTO_MAX_EPOCHS;
	} else {
		epochs = n_epochs;
	}
	if (__builtin_mul_overflow(epochs, spe, &plan->total_steps))
		return ada_fail_param(err, ADA_EINVAL, "n_epochs",
				      "n_epochs %lld x %lld steps per epoch is too many steps",
				      (long long)epochs, (long long)spe);
	plan->n_epochs = epochs;
	return ADA_OK;
}

void batch_permutation(uint64_t seed, int64_t epoch, uint32_t *perm, size_t n)
{
	struct rng r;

	rng_seed(&r, rng_hash(seed, (uint64_t)epoch));
	for (size_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)rng_below(&r, i);
		uint32_t t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

int batcher_init_items(struct batcher *b, int64_t n_items, int batch_size, uint64_t seed,
		       struct ada_err *err)
{
	memset(b, 0, sizeof(*b));
	if (n_items < 1)
		return ada_fail(err, ADA_EINVAL, "nothing to batch (no training windows or examples)");
	if ((uint64_t)n_items > UINT32_MAX)
		return ada_fail(err, ADA_EUNSUPPORTED, "%lld items is more than we index",
				(long long)n_items);
	if (batch_size < 1)
		return ada_fail_param(err, ADA_EINVAL, "batch_size",
				      "batch_size %d must be at least 1", batch_size);
	b->perm = xcalloc((size_t)n_items, sizeof(*b->perm));
	if (!b->perm)
		return ada_fail(err, ADA_ENOMEM, "out of memory for an epoch order of %lld items",
				(long long)n_items);
	b->n_items = n_items;
	b->seed = seed;
	b->batch_size = batch_size;
	b->steps_per_epoch = (n_items - 1) / batch_size + 1;
	b->perm_epoch = -1;
	return ADA_OK;
}

int batcher_init(struct batcher *b, const struct dataset *ds, int batch_size,
		 uint64_t seed, struct ada_err *err)
{
	int rc = batcher_init_items(b, ds->n_windows, batch_size, seed, err);

	if (!rc)
		b->ds = ds;
	return rc;
}

void batcher_release(struct batcher *b)
{
	free(b->perm);
	memset(b, 0, sizeof(*b));
}

int batcher_step_rows(const struct batcher *b, int64_t step)
{
	int64_t first, left;

	assert(step >= 0);
	first = (step % b->steps_per_epoch) * b->batch_size;
	left = b->n_items - first;
	return left < b->batch_size ? (int)left : b->batch_size;
}

int64_t batcher_window(struct batcher *b, int64_t step, int row)
{
	int64_t epoch = batcher_epoch(b, step);

	assert(step >= 0 && row >= 0 && row < batcher_step_rows(b, step));
	if (epoch != b->perm_epoch) {
		batch_permutation(b->seed, epoch, b->perm, (size_t)b->n_items);
		b->perm_epoch = epoch;
	}
	return b->perm[(step % b->steps_per_epoch) * b->batch_size + row];
}

int64_t batcher_rows(struct batcher *b, int64_t step, int r0, int r1,
		     int32_t *inputs, int32_t *targets)
{
	size_t L = (size_t)b->ds->seq_len;
	int64_t count = 0;

	assert(b->ds && 0 <= r0 && r0 <= r1 && r1 <= batcher_step_rows(b, step));
	for (int r = r0; r < r1; r++) {
		size_t at = (size_t)(r - r0) * L;

		count += dataset_window(b->ds, batcher_window(b, step, r),
					inputs + at, targets + at);
	}
	return count;
}

int64_t batcher_batch(struct batcher *b, int64_t step, int32_t *inputs,
		      int32_t *targets, int *n_rows)
{
	*n_rows = batcher_step_rows(b, step);
	return batcher_rows(b, step, 0, *n_rows, inputs, targets);
}

int64_t batcher_step_targets(struct batcher *b, int64_t step)
{
	int rows = batcher_step_rows(b, step);
	int64_t count = 0;

	for (int r = 0; r < rows; r++)
		count += dataset_window_targets(b->ds, batcher_window(b, step, r));
	return count;
}
