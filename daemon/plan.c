/*
 * plan — planning jobs before they queue, with a cache.
 *
 * ada_job_plan() tokenizes the whole training file; creating the same job
 * a hundred times must not tokenize it a hundred times. The plan's numbers
 * (windows or examples, steps per epoch, total steps) depend only on the
 * model, the files, and the hyperparameters that shape the data and the
 * step count (seq_len, valid_fraction, batch_size, n_epochs, max_steps,
 * and how records are framed: chat_template, append_eos; a seq2seq job's
 * max_source_length and max_target_length, and how its validation decodes,
 * which the memory estimate counts and which reads the model's generation
 * settings: valid_generate_examples, generation_num_beams,
 * generation_max_length).
 * The task is told by the model and the training file (the daemon always
 * asks for ADA_TASK_AUTO and reads files as JSONL), and a classifier's
 * label map by the files, so both follow from the key too. The method type
 * is part of it: what the network refuses depends on it (bitfit on a causal
 * LM without biases, ...), and so do n_matrices (target_modules; none for
 * full, bitfit, adapter) and the trainable parameters (adapter_size). What
 * else ada_job_plan checks — the budget schedule against the
 * total steps — is re-checked for every job with its own tinit, tfinal,
 * deltaT and ranks through ada_method_budget(). Files are immutable once
 * uploaded; a model file that changes (size or time) changes the key.
 * Only the validator thread uses the cache: no lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "workers.h"

#define PLAN_CACHE_SIZE 64

struct plan_key {
	char model[4096];
	int64_t model_mtime, model_size;
	char train[4096], valid[4096];
	int seq_len, batch_size, n_epochs;
	int64_t max_steps;
	double valid_fraction;
	unsigned target_modules;
	int method_type;
	int adapter_size;
	char chat_template[24];
	int append_eos;
	int max_source_length, max_target_length;   /* a seq2seq job's data */
	int64_t valid_generate_examples;             /* and its validation's decoding */
	int generation_num_beams, generation_max_length;
};

struct plan_cache {
	struct {
		struct plan_key key;
		struct ada_plan plan;
		uint64_t used;
	} slot[PLAN_CACHE_SIZE];
	size_t n;
	uint64_t clock;
};

struct plan_cache *plan_cache_new(void)
{
	return calloc(1, sizeof(struct plan_cache));
}

void plan_cache_free(struct plan_cache *c)
{
	free(c);
}

static void make_key(const struct job_inputs *in, struct plan_key *k)
{
	const struct ada_hparams *hp = &in->method.hp;

	memset(k, 0, sizeof(*k));
	snprintf(k->model, sizeof(k->model), "%s", in->model.path);
	k->model_mtime = in->model.mtime;
	k->model_size = in->model.size;
	snprintf(k->train, sizeof(k->train), "%s", in->train_path);
	snprintf(k->valid, sizeof(k->valid), "%s", in->valid_path);
	k->seq_len = hp->seq_len;
	k->batch_size = hp->batch_size;
	k->n_epochs = hp->n_epochs;
	k->max_steps = hp->max_steps;
	k->valid_fraction = hp->valid_fraction;
	k->method_type = (int)in->method.type;
	k->target_modules = in->method.type == ADA_METHOD_LORA ||
					    in->method.type == ADA_METHOD_ADALORA ||
					    in->method.type == ADA_METHOD_LORA_PRUNE
				    ? hp->target_modules : 0;
	k->adapter_size = in->method.type == ADA_METHOD_ADAPTER ? hp->adapter_size : 0;
	snprintf(k->chat_template, sizeof(k->chat_template), "%s", hp->chat_template);
	k->append_eos = hp->append_eos;
	k->max_source_length = hp->max_source_length;
	k->max_target_length = hp->max_target_length;
	k->valid_generate_examples = hp->valid_generate_examples;
	k->generation_num_beams = hp->generation_num_beams;
	k->generation_max_length = hp->generation_max_length;
}

static int key_equal(const struct plan_key *a, const struct plan_key *b)
{
	return !strcmp(a->model, b->model) && a->model_mtime == b->model_mtime &&
	       a->model_size == b->model_size && !strcmp(a->train, b->train) &&
	       !strcmp(a->valid, b->valid) && a->seq_len == b->seq_len &&
	       a->batch_size == b->batch_size && a->n_epochs == b->n_epochs &&
	       a->max_steps == b->max_steps && a->valid_fraction == b->valid_fraction &&
	       a->target_modules == b->target_modules && a->method_type == b->method_type &&
	       a->adapter_size == b->adapter_size &&
	       !strcmp(a->chat_template, b->chat_template) && a->append_eos == b->append_eos &&
	       a->max_source_length == b->max_source_length &&
	       a->max_target_length == b->max_target_length &&
	       a->valid_generate_examples == b->valid_generate_examples &&
	       a->generation_num_beams == b->generation_num_beams &&
	       a->generation_max_length == b->generation_max_length;
}

/* The job's own budget settings against a known plan. */
static int check_budget(const struct job_inputs *in, struct ada_plan *plan, struct ada_err *err)
{
	struct ada_schedule s;
	int rc;

	plan->budget_initial = plan->budget_target = -1;
	if (!ada_method_has_budget(in->method.type))
		return ADA_OK;
	if ((rc = ada_method_budget(&in->method, plan->total_steps, plan->n_matrices, &s, err)))
		return rc;
	plan->budget_initial = s.n_matrices * s.init_r;
	plan->budget_target = s.n_matrices * s.target_r;
	return ADA_OK;
}

int plan_job(struct plan_cache *c, const struct job_inputs *in, const struct store_job *j,
	     struct ada_plan *plan, struct ada_err *err)
{
	struct ada_job job;
	struct plan_key key;
	size_t victim = 0;
	int rc;

	make_key(in, &key);
	for (size_t i = 0; i < c->n; i++)
		if (key_equal(&key, &c->slot[i].key)) {
			c->slot[i].used = ++c->clock;
			*plan = c->slot[i].plan;
			return check_budget(in, plan, err);
		}
	job_inputs_to_job(in, j, &job);
	if ((rc = ada_job_plan(&job, plan, err)))
		return rc;
	if (c->n < PLAN_CACHE_SIZE) {
		victim = c->n++;
	} else {
		for (size_t i = 1; i < PLAN_CACHE_SIZE; i++)
			if (c->slot[i].used < c->slot[victim].used)
				victim = i;
	}
	c->slot[victim].key = key;
	c->slot[victim].plan = *plan;
	c->slot[victim].used = ++c->clock;
	return ADA_OK;
}
