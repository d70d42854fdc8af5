/*
 * rank_allocator — AdaLoRA's importance scores, masks and rank pattern
 * (docs/adalora.md sections 3, 5, 6 and 8).
 *
 * The allocator decides which rank-1 components of the adapters stay alive.
 * It owns the importance buffers (smoothed sensitivity Ibar and uncertainty
 * Ubar for every adapter element, in one allocation), the current kept mask
 * of every matrix, and the history of rank patterns; it borrows the adapter
 * weights and gradients through struct rank_matrix views and writes only
 * their gates. Keeping the buffers here rather than beside the weights lets
 * the freeze free them in one go and lets a checkpoint carry them as one
 * blob.
 *
 * The trainer calls rank_allocator_step(t) once per optimizer step, after
 * the update and before zeroing the gradients. The step then
 *   - updates the importance buffers from (weight after the update, clipped
 *     gradient), if t < t_freeze and every product w * g is finite (a step
 *     with a non-finite one leaves the buffers untouched and is counted);
 *   - computes b(t) (budget.h) and, at a mask step, masks the k = b(0) - b(t)
 *     lowest-scoring triplets (all with score <= the k-th smallest: ties are
 *     masked together, so fewer than b(t) may stay) and records the pattern;
 *   - at t_freeze masks with b(T), freezes the mask and frees the buffers;
 *     at every later step re-applies the frozen mask.
 *
 * Modes. adalora: the gate is lambda, a trained parameter; masking zeroes it
 * and leaves P, Q and the optimizer state alone, so a masked triplet keeps
 * training and may return at the next mask. lora_prune (the paper's
 * ablation): plain LoRA doublets (row i of A = Q, column i of B = P) pruned
 * on the same schedule; the gate is a 0/1 multiplier the allocator owns and
 * sets to 1 for kept and 0 for masked doublets at every mask.
 *
 * Determinism: every element's update is independent, scores are summed in
 * double per triplet in a fixed order, and selection is deterministic, so
 * results do not depend on the number of OpenMP threads, and a restored
 * state (rank_allocator_save/restore) continues bit for bit.
 */
#ifndef ADA_TRAIN_RANK_ALLOCATOR_H
#define ADA_TRAIN_RANK_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "train/budget.h"

/*
 * A borrowed view of one adapted matrix's factors; every pointer must stay
 * valid (and the shapes fixed) for the allocator's lifetime. Row-major.
 */
struct rank_matrix {
	int out, in, r;         /* r must equal the schedule's init_r */
	float *P;               /* out x r   (lora_B) */
	float *gate;            /* r: lambda (adalora) or the 0/1 doublet gate (lora_prune) */
	float *Q;               /* r x in    (lora_A) */
	const float *dP;        /* this step's clipped gradients, same shapes; */
	const float *dgate;     /* dgate is unused in lora_prune, and all three */
	const float *dQ;        /* are unused (may be NULL) for magnitude */
};

struct rank_allocator_config {
	enum ada_method_type method;   /* ADA_METHOD_ADALORA or ADA_METHOD_LORA_PRUNE (the modes above) */
	enum ada_importance importance;
	double beta1, beta2;    /* EMA factors in [0, 1]; 0.85 in the paper and PEFT */
	struct ada_schedule schedule;
};

/* One mask as recorded in the history. */
struct rank_mask_record {
	int64_t step;
	int64_t budget;         /* b(step) */
	int64_t kept;           /* unmasked triplets in all (< budget after ties) */
	bool final;             /* the mask frozen at t_freeze */
	const int32_t *ranks;   /* n_matrices ranks; borrowed, valid until the next
				 * rank_allocator_step(), _restore() or _free() */
};

/* What one rank_allocator_step() did. */
struct rank_step_info {
	int64_t budget;         /* b(t) */
	int64_t kept;           /* unmasked triplets after the step */
	bool updated;           /* the importance buffers took this step */
	bool nonfinite;         /* skipped: a gradient or w * g was not finite */
	bool masked;            /* a mask was computed (one more history record) */
	bool froze;             /* this step froze the mask */
};

struct rank_allocator;

/*
 * Validate config and views and allocate the state. matrices[] (n entries,
 * n == schedule.n_matrices) is copied; the arrays the views point to stay
 * borrowed. In lora_prune mode every gate is set to 1. ADA_EINVAL (param
 * names the config field: "importance", "beta1", "beta2" or a schedule
 * field), ADA_ENOMEM.
 */
int rank_allocator_new(const struct rank_allocator_config *config,
		       const struct rank_matrix *matrices, int n,
		       struct rank_allocator **out, struct ada_err *err);
void rank_allocator_free(struct rank_allocator *a);

/*
 * Run the allocator for optimizer step t (0-based), after the update. Steps
 * must increase from call to call (normally by one). Fails only before
 * changing anything: ADA_EINVAL for a step that does not increase,
 * ADA_ENOMEM when the history cannot grow. info may be NULL.
 */
int rank_allocator_step(struct rank_allocator *a, int64_t t,
			struct rank_step_info *info, struct ada_err *err);

/* The current triplet scores into scores[n * r] (matrix-major). Needs the
 * importance buffers: ADA_EINVAL after the freeze unless importance is
 * magnitude. NaN scores (a NaN lambda) are reported as -inf: least
 * important. */
int rank_allocator_scores(const struct rank_allocator *a, double *scores,
			  struct ada_err *err);

/* Current masks: kept[i] for the r triplets of matrix k (borrowed, updated
 * in place by later steps), its rank, and the total kept. Before the first
 * mask everything is kept. */
const bool *rank_allocator_kept(const struct rank_allocator *a, int k);
int rank_allocator_rank(const struct rank_allocator *a, int k);
int64_t rank_allocator_kept_total(const struct rank_allocator *a);
bool rank_allocator_frozen(const struct rank_allocator *a);
/* Steps whose importance update was skipped as non-finite. */
int64_t rank_allocator_nonfinite_steps(const struct rank_allocator *a);
const struct rank_allocator_config *rank_allocator_config(const struct rank_allocator *a);

/* The mask history, oldest first; record i for 0 <= i < n_records. */
size_t rank_allocator_n_records(const struct rank_allocator *a);
void rank_allocator_record(const struct rank_allocator *a, size_t i,
			   struct rank_mask_record *out);

/*
 * Checkpoints. save: the whole state (configuration fingerprint, counters,
 * masks, buffers, history) as a byte blob *blob of *len bytes, owned by the
 * caller (free()). restore: replace the state of an allocator created with
 * the same configuration and shapes from such a blob; every length and value
 * is checked, and on failure (ADA_EFORMAT naming what is wrong, ADA_ENOMEM)
 * the allocator is unchanged. After restore the gates are re-applied from
 * the restored masks in lora_prune mode, and in adalora mode when frozen.
 */
int rank_allocator_save(const struct rank_allocator *a, void **blob, size_t *len,
			struct ada_err *err);
int rank_allocator_restore(struct rank_allocator *a, const void *blob, size_t len,
			   struct ada_err *err);

/*
 * The k-th smallest (1 <= k <= n) of v[0..n) by expected-linear selection
 * (randomised three-way quickselect with a fixed seed, falling back to a
 * sort of the remaining range after too many rounds). Reorders v; v must
 * not contain NaN.
 */
double rank_select_kth(double *v, size_t n, size_t k);

#endif
