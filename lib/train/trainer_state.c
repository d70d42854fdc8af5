/*
 * trainer_state — checkpoints of a running trainer (format in checkpoint.h).
 *
 * Load order matters after compaction: the allocator blob is restored while
 * the adapters still have their initial rank (its views point there), then
 * the arena is reshaped to the checkpoint's ranks and filled.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fileio.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

int trainer_save_checkpoint(struct trainer *tr, struct ada_err *err)
{
	const struct param_arena *pa = &tr->tn.arena;
	struct checkpoint_state st = {
		.step = tr->step,
		.total_steps = tr->plan.total_steps,
		.adam_step = tr->opt.step,
		.trained_tokens = tr->trained_tokens,
		.valid_loss = tr->valid_loss,
		.valid_loss_initial = tr->valid_loss_initial,
		.valid_loss_no_framing = tr->valid_loss_no_framing,
		.valid_loss_no_framing_initial = tr->valid_loss_no_framing_initial,
		.valid_metrics = tr->valid_m.glue,
		.valid_metrics_initial = tr->valid_m_initial.glue,
		.valid_rouge = tr->valid_rouge,
		.valid_rouge_initial = tr->valid_rouge_initial,
		.interval_nll = tr->interval_nll,
		.interval_targets = tr->interval_targets,
		.nonfinite_in_a_row = tr->nonfinite_in_a_row,
		.fingerprint = tr->fingerprint,
		.arena_floats = pa->n,
		.w = pa->w, .m = pa->m, .v = pa->v,
		.n_ranks = tr->tn.n_mods,
	};
	void *blob = NULL;
	size_t blob_len = 0;
	char *dir;
	int rc;

	st.ranks = calloc((size_t)tr->tn.n_mods + 1, sizeof(int));
	dir = path_join(tr->job->out_dir, "checkpoint");
	if (!st.ranks || !dir) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	for (int i = 0; i < tr->tn.n_mods; i++)
		st.ranks[i] = tr->tn.mods[i].lr->r;
	if (tr->alloc && (rc = rank_allocator_save(tr->alloc, &blob, &blob_len, err)))
		goto out_free;
	st.alloc_blob = blob;
	st.alloc_len = blob_len;
	rc = checkpoint_save(dir, &st, err);
out_free:
	free(blob);
	free(st.ranks);
	free(dir);
	return rc;
}

int trainer_load_checkpoint(struct trainer *tr, struct ada_err *err)
{
	struct checkpoint_state st;
	char *dir = path_join(tr->job->out_dir, "checkpoint");
	int rc, reshaped = 0;

	if (!dir)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = checkpoint_load(dir, &st, NULL, NULL, NULL, 0, err);
	if (rc)
		goto out_free;
	if (strcmp(st.fingerprint, tr->fingerprint)) {
		rc = ada_fail(err, ADA_EINVAL,
			      "%s: the checkpoint belongs to a different job configuration", dir);
		goto out_release;
	}
	if (st.total_steps != tr->plan.total_steps || st.n_ranks != tr->tn.n_mods ||
	    st.step > st.total_steps) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: the checkpoint does not fit this job", dir);
		goto out_release;
	}
	if (tr->alloc && (rc = rank_allocator_restore(tr->alloc, st.alloc_blob, st.alloc_len, err)))
		goto out_release;
	for (int i = 0; i < tr->tn.n_mods; i++)
		reshaped |= st.ranks[i] != tr->tn.mods[i].lr->r;
	if (reshaped) {
		if ((rc = trained_net_reshape(&tr->tn, st.ranks, err)))
			goto out_release;
		tr->compacted = 1;
		if ((rc = trainer_chunk_arena(tr, err)))
			goto out_release;
	}
	checkpoint_state_release(&st);
	rc = checkpoint_load(dir, &st, tr->tn.arena.w, tr->tn.arena.m, tr->tn.arena.v,
			     tr->tn.arena.n, err);
	if (rc)
		goto out_free;
	tr->step = st.step;
	tr->opt.step = st.adam_step;
	tr->trained_tokens = st.trained_tokens;
	tr->valid_loss = st.valid_loss;
	tr->valid_loss_initial = st.valid_loss_initial;
	tr->valid_loss_no_framing = st.valid_loss_no_framing;
	tr->valid_loss_no_framing_initial = st.valid_loss_no_framing_initial;
	tr->valid_m.glue = st.valid_metrics;
	tr->valid_m.loss = st.valid_loss;
	tr->valid_m_initial.glue = st.valid_metrics_initial;
	tr->valid_m_initial.loss = st.valid_loss_initial;
	tr->valid_rouge = st.valid_rouge;
	tr->valid_rouge_initial = st.valid_rouge_initial;
	tr->interval_nll = st.interval_nll;
	tr->interval_targets = st.interval_targets;
	tr->nonfinite_in_a_row = st.nonfinite_in_a_row;
out_release:
	checkpoint_state_release(&st);
out_free:
	free(dir);
	return rc;
}
