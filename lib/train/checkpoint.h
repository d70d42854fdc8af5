/*
 * checkpoint — the whole trainer state on disk, so a stopped or crashed job
 * resumes to a result bit-identical to an uninterrupted run.
 *
 * What a resume needs is small because everything else is a pure function
 * of (seed, step): batches (train/batch.h) and dropout masks (nn/lowrank.c)
 * are drawn from counters, not from a running RNG. So a checkpoint holds
 * the step, the trainable weights and both AdamW moments (the arena, whole),
 * the optimizer's step count, the rank allocator's blob (importance
 * buffers, masks, history), the adapters' current ranks (after compaction),
 * a few running totals for reporting, and a fingerprint of the job's
 * configuration so that a checkpoint is never applied to another job.
 *
 * File: DIR/checkpoint/state.bin, written with struct atomic_file (temp,
 * fsync, rename, fsync dir): a crash leaves the previous checkpoint or the
 * new one, never a torn file.
 *   16 bytes  magic "ADALORA-CKPT-v1\n"
 *   u64       header length H;  H bytes of JSON header
 *   floats    w, m, v of the arena (arena_floats each)
 *   bytes     allocator blob (allocator_bytes)
 *   u64       FNV-1a 64 of everything before it
 */
#ifndef ADA_TRAIN_CHECKPOINT_H
#define ADA_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"

struct checkpoint_state {
	int64_t step;               /* optimizer steps completed */
	int64_t total_steps;
	int64_t adam_step;
	int64_t trained_tokens;
	double valid_loss;          /* last evaluated, NAN if none */
	double valid_loss_initial;  /* before training, NAN if none */
	double valid_loss_no_framing, valid_loss_no_framing_initial;  /* the same without
	                                                               * framing tokens */
	/* a classifier's validation metrics, latest and before training (the
	 * header keeps them as arrays: accuracy, f1, mcc, pearson, spearman) */
	struct ada_glue_metrics valid_metrics, valid_metrics_initial;
	/* a seq2seq validation's ROUGE, latest and before training (arrays of
	 * rouge1, rouge2, rougeL, rougeLsum as precision, recall, fmeasure, then
	 * n and use_stemmer; absent: n 0, NAN) */
	struct ada_rouge valid_rouge, valid_rouge_initial;
	/* the loss summed since the last metrics event, and its targets; the
	 * steps in a row with non-finite gradients (0 when absent: older
	 * checkpoints) */
	double interval_nll;
	int64_t interval_targets;
	int64_t nonfinite_in_a_row;
	const char *fingerprint;    /* borrowed on save; owned (malloc) after load */
	/* arena */
	size_t arena_floats;
	const float *w, *m, *v;     /* save: borrowed; load: into caller buffers below */
	/* adapters' current ranks (n_ranks entries; compaction changes them) */
	int n_ranks;
	int *ranks;                 /* save: borrowed; load: owned */
	/* allocator blob */
	const void *alloc_blob;     /* save: borrowed; load: owned */
	size_t alloc_len;
};

/* Write state to dir/state.bin atomically (dir is created). */
int checkpoint_save(const char *dir, const struct checkpoint_state *st, struct ada_err *err);

/* Read dir/state.bin's header into st (fingerprint, ranks and allocator blob
 * owned by st afterwards: checkpoint_state_release) and, when w/m/v are
 * non-NULL buffers of st->arena_floats floats, the arena too. Pass
 * expect_floats = 0 to read the header only. ADA_ENOTFOUND when there is no
 * checkpoint; ADA_EFORMAT for a damaged one (checksum, sizes). */
int checkpoint_load(const char *dir, struct checkpoint_state *st, float *w, float *m, float *v,
		    size_t expect_floats, struct ada_err *err);
void checkpoint_state_release(struct checkpoint_state *st);

#endif
