/*
 * trainer — one training job from files to adapter (internal to lib/).
 *
 * ada_job_plan() and ada_train() (adalora.h) are thin over this: setup loads
 * the model, tokenizer and data and checks them against the method
 * (trainer_setup.c), the loop runs the optimizer steps (trainer.c), and
 * evaluation and outputs have files of their own. struct trainer owns
 * everything a job holds; it lives on the training thread only.
 */
#ifndef ADA_TRAIN_TRAINER_H
#define ADA_TRAIN_TRAINER_H

#include <stdint.h>

#include "../adalora.h"
#include "../model/model.h"
#include "../nn/llama.h"
#include "../tokenizer/tokenizer.h"
#include "batch.h"
#include "budget.h"
#include "data.h"
#include "net_build.h"
#include "optim.h"
#include "rank_allocator.h"

struct trainer {
	const struct ada_job *job;      /* borrowed */
	const struct ada_hparams *hp;   /* = &job->method.hp */
	struct model *model;            /* owned */
	struct tokenizer *tok;          /* borrowed from model, or owned_tok */
	struct tokenizer *owned_tok;
	struct dataset train, valid;
	struct batch_plan plan;
	struct budget_schedule schedule;   /* adalora / lora_prune */
	int has_budget;

	/* built by trainer_build() */
	struct trained_net tn;
	struct llama_acts acts;         /* micro-batch shape */
	struct batcher batcher;
	struct param_chunks chunks;
	struct adamw opt;
	struct rank_allocator *alloc;
	int compacted;
	int32_t *inputs, *targets;      /* micro-batch buffers */
	float *orth_scratch;
	int threads;

	/* progress */
	int64_t step;                   /* optimizer steps completed */
	int64_t trained_tokens;
	double valid_loss, valid_loss_initial;
	int64_t nonfinite_in_a_row;
	struct ada_metrics last;        /* of the latest step */
	double t_start;
	char *fingerprint;              /* identifies the job configuration */
};

/* What one optimizer step did. */
struct step_out {
	double nll_sum;
	int64_t n_targets;
	int64_t tokens;
	double orth_reg;
	double lr;
	struct grad_norm_info gn;
	int64_t budget;
};

/* trainer.c: run optimizer step tr->step (then tr->step++). */
int trainer_step(struct trainer *tr, struct step_out *so, struct ada_err *err);

/* trainer_setup.c: load model, tokenizer, data; plan and check. */
int trainer_setup(struct trainer *tr, const struct ada_job *job, struct ada_err *err);
void trainer_plan(const struct trainer *tr, struct ada_plan *plan);
/* Build net, optimizer, allocator; resume from a checkpoint if asked. */
int trainer_build(struct trainer *tr, struct ada_err *err);
void trainer_release(struct trainer *tr);

/* evaluate.c: mean NLL over a dataset (forward only). */
int trainer_evaluate(struct trainer *tr, const struct dataset *ds, double *mean_nll,
		     int64_t *n_tokens, struct ada_err *err);

/* trainer_state.c: checkpoints of this trainer. */
int trainer_save_checkpoint(struct trainer *tr, struct ada_err *err);
int trainer_load_checkpoint(struct trainer *tr, struct ada_err *err);

/* trainer_output.c: the adapter (or model), result.json. */
int trainer_write_outputs(struct trainer *tr, struct ada_result *res, struct ada_err *err);

/* The current rank matrix [n_layers][7] (-1 = not adapted) into ranks. */
void trainer_rank_matrix(const struct trainer *tr, int *ranks);

double trainer_now(void);

#endif
