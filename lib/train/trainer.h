/*
 * trainer — one training job from files to adapter (internal to lib/).
 *
 * ada_job_plan() and ada_train() (adalora.h) are thin over this: setup loads
 * the model, tokenizer and data and checks them against the method
 * (trainer_setup.c), the loop runs the optimizer steps (trainer.c), and
 * evaluation and outputs have files of their own. struct trainer owns
 * everything a job holds; it lives on the training thread only.
 *
 * There is one trainer for every task. What differs between a causal
 * language model and a sequence classifier (the data, the forward and
 * backward passes of a step's micro-batches, the validation pass, what the
 * result records) is a struct trainer_task (trainer_lm.c, trainer_cls.c);
 * the step around it (zeroing, orthogonality penalty, clipping, AdamW, the
 * rank allocator), the loop, checkpoints, callbacks and the stop flag are
 * shared.
 */
#ifndef ADA_TRAIN_TRAINER_H
#define ADA_TRAIN_TRAINER_H

#include <stdint.h>

#include "adalora.h"
#include "model/model.h"
#include "nn/llama.h"
#include "tokenizer/tokenizer.h"
#include "data/batch.h"
#include "train/budget.h"
#include "data/class_data.h"
#include "data/cls_metrics.h"
#include "data/data.h"
#include "data/qa_data.h"
#include "net/trained_net.h"
#include "train/optim.h"
#include "train/rank_allocator.h"

struct trainer;
struct step_out;
struct trainer_lm;      /* trainer_lm.c */
struct trainer_cls;     /* trainer_cls.c */
struct trainer_qa;      /* trainer_qa.c */
struct trainer_s2s;     /* trainer_s2s.c */

/* The task-specific half of a job. */
struct trainer_task {
	/* setup: read the training and validation data, set tr->spec and
	 * tr->plan. Errors name bare hyperparameters ("seq_len"). */
	int (*load)(struct trainer *tr, struct ada_err *err);
	/* build, once the network exists: activations for micro-batches of
	 * micro rows, the batcher, input buffers. */
	int (*build)(struct trainer *tr, int micro, struct ada_err *err);
	/* forward and backward of every micro-batch of step tr->step, the
	 * gradients summed into the (zeroed) arena, scaled so they are those
	 * of the step's mean loss; loss sum, count and tokens into so */
	int (*step)(struct trainer *tr, struct step_out *so, struct ada_err *err);
	/* validation examples or windows (0: no validation) */
	int64_t (*n_valid)(const struct trainer *tr);
	/* a pass over the validation data: tr->valid_loss, tr->valid_m */
	int (*evaluate)(struct trainer *tr, struct ada_err *err);
	void (*plan)(const struct trainer *tr, struct ada_plan *plan);
	/* what result.json and struct ada_result record beyond the common part
	 * (ADA_OK or ADA_ENOMEM) */
	int (*result)(const struct trainer *tr, json_t *j, struct ada_result *res);
	void (*release)(struct trainer *tr);
};

extern const struct trainer_task trainer_task_lm, trainer_task_cls, trainer_task_qa,
	trainer_task_s2s;

struct trainer {
	const struct ada_job *job;      /* borrowed */
	const struct ada_hparams *hp;   /* = &job->method.hp */
	struct model *model;            /* owned */
	struct tokenizer *tok;          /* owned; NULL for trainer_setup_lm() */
	const struct trainer_task *task;
	struct net_spec spec;           /* what the network computes (set by task->load) */
	struct trainer_lm *lm;          /* the causal LM task's data and buffers; owned */
	struct trainer_cls *cls;        /* the classification task's; owned */
	struct trainer_qa *qa;          /* the question answering task's; owned */
	struct trainer_s2s *s2s;        /* the seq2seq task's; owned */
	const struct label_map *labels; /* classification: the label map (in cls) */
	int qa_version_2;               /* question answering: some question has no answer */
	struct batch_plan plan;
	struct ada_schedule schedule;   /* adalora / lora_prune */
	int has_budget;

	/* built by trainer_build() */
	struct trained_net tn;
	struct batcher batcher;
	struct param_chunks chunks;
	struct adamw opt;
	struct rank_allocator *alloc;
	int compacted;
	float *orth_scratch;
	int threads;
	struct frozen_bf16 bf16;        /* compute_dtype bf16: operand scratch (buf owned) */

	/* progress */
	int64_t step;                   /* optimizer steps completed */
	int64_t trained_tokens;
	double valid_loss, valid_loss_initial;
	/* a causal LM's validation loss without its framing tokens (NAN otherwise) */
	double valid_loss_no_framing, valid_loss_no_framing_initial;
	struct cls_metrics valid_m, valid_m_initial;   /* classification; NAN otherwise */
	struct ada_qa_metrics valid_qa, valid_qa_initial;   /* question answering */
	struct ada_rouge valid_rouge, valid_rouge_initial;  /* seq2seq decodes; NAN otherwise */
	int64_t nonfinite_in_a_row;     /* checkpointed, like the interval below */
	/* the loss of the steps since the last metrics event, so that a resumed
	 * run logs the same train_loss as an uninterrupted one */
	double interval_nll;
	int64_t interval_targets;
	struct ada_metrics last;        /* of the latest step */
	double t_start;
	char *fingerprint;              /* identifies the job configuration */
	/* a data-parallel job (job->parallel): the stop all processes agreed on at
	 * the last step (enum ada_stop; ADA_RUN before the first) */
	int agreed_stop;
};

/* This process writes (checkpoints, outputs, callbacks, validation): always,
 * unless it is a non-writing process of a data-parallel job. */
static inline int trainer_writer(const struct trainer *tr)
{
	return !tr->job->parallel || tr->job->parallel->writer;
}

/* The job's callbacks where this process reports, else NULL. */
static inline const struct ada_callbacks *trainer_cb(const struct trainer *tr)
{
	return trainer_writer(tr) ? tr->job->cb : NULL;
}

/* The micro-batches [*lo, *hi) of a step of n that this process computes:
 * all of them in one process, else its contiguous share (adalora.h,
 * struct ada_parallel). */
static inline void trainer_share(const struct trainer *tr, int n, int *lo, int *hi)
{
	const struct ada_parallel *p = tr->job->parallel;

	if (!p || p->size <= 1) {
		*lo = 0;
		*hi = n;
		return;
	}
	*lo = (int)((int64_t)n * p->rank / p->size);
	*hi = (int)((int64_t)n * (p->rank + 1) / p->size);
}

/* What one optimizer step did. */
struct step_out {
	double nll_sum;                 /* loss summed over the step's targets (examples) */
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
/* The same for a causal LM over a model and windows a caller has in
 * memory (bench, tests): nothing is read from job's files (its model,
 * tokenizer, train_file, valid_file are ignored; out_dir may be NULL while
 * nothing is written). model, train and valid (NULL: none) are moved into
 * the trainer, which frees them, also after an error; the caller's structs
 * are left empty. */
int trainer_setup_lm(struct trainer *tr, const struct ada_job *job, struct model *model,
		     struct dataset *train, struct dataset *valid, struct ada_err *err);
void trainer_plan(const struct trainer *tr, struct ada_plan *plan);
/* Build net, optimizer, allocator; resume from a checkpoint if asked. */
int trainer_build(struct trainer *tr, struct ada_err *err);
void trainer_release(struct trainer *tr);

/* What messages and outputs call the model: job->model_name, else its path. */
const char *trainer_model_name(const struct trainer *tr);

/* trainer.c: an on_log message (printf-style). */
void trainer_say(struct trainer *tr, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* trainer_lm.c: take train and valid (NULL: none) as the causal LM task's
 * data (moved, as in trainer_setup_lm) and plan the batches. */
int trainer_lm_adopt(struct trainer *tr, struct dataset *train, struct dataset *valid,
		     struct ada_err *err);

/* The same for seq2seq over examples in memory (bench): train is moved
 * into the trainer, model too (both freed by it, also after an error). */
struct s2s_dataset;
int trainer_setup_s2s(struct trainer *tr, const struct ada_job *job, struct model *model,
		      struct s2s_dataset *train, struct ada_err *err);
/* trainer_s2s.c: take train as the seq2seq task's data (moved) and plan
 * the batches; the bytes of its activation arena (0 before trainer_build). */
int trainer_s2s_adopt(struct trainer *tr, struct s2s_dataset *train, struct ada_err *err);
size_t trainer_s2s_activation_bytes(const struct trainer *tr);
/* bench_s2s.c: ada_bench for an encoder-decoder, with job's method as
 * bench.c set it (model taken: freed, also after an error). */
int bench_s2s(const struct ada_bench_opts *o, struct ada_job *job, struct model *model,
	      struct ada_bench_result *res, struct ada_err *err);

/* trainer_lm.c: the bytes of the causal LM task's activation arena (0
 * before trainer_build, or for another task). */
size_t trainer_lm_activation_bytes(const struct trainer *tr);

/* trainer_cls.c: take train and its label map as the classification
 * task's data (moved; no validation) and plan the batches. */
int trainer_cls_adopt(struct trainer *tr, struct class_dataset *train, struct label_map *labels,
		      struct ada_err *err);
/* trainer_cls.c: the bytes of the classifier's encoder activations (0
 * before trainer_build, or for another task). */
size_t trainer_cls_activation_bytes(const struct trainer *tr);

/* trainer_setup.c: a classifier over a model and examples a caller has in
 * memory (bench), as trainer_setup_lm: model, train and labels are moved
 * into the trainer. */
int trainer_setup_cls(struct trainer *tr, const struct ada_job *job, struct model *model,
		      struct class_dataset *train, struct label_map *labels, struct ada_err *err);

/* trainer_setup.c: the optimizer's chunks over the arena as it is now
 * (again after compaction or a reshaped resume). */
int trainer_chunk_arena(struct trainer *tr, struct ada_err *err);

/* trainer_state.c: checkpoints of this trainer. */
int trainer_save_checkpoint(struct trainer *tr, struct ada_err *err);
int trainer_load_checkpoint(struct trainer *tr, struct ada_err *err);

/* trainer_output.c: the adapter (or model), result.json. */
int trainer_write_outputs(struct trainer *tr, struct ada_result *res, struct ada_err *err);

/* The current rank matrix [n_layers][model_n_modules()] (-1 = not
 * adapted) into ranks. */
void trainer_rank_matrix(const struct trainer *tr, int *ranks);

double trainer_now(void);

#endif
