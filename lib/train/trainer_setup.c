/*
 * trainer_setup — everything a job needs before its first step: model,
 * tokenizer, the task (causal LM or classification, told by the model and
 * the data when the job leaves it to us) and its data, loaded and checked
 * against the method, the plan (total steps, budget), then the network,
 * optimizer and rank allocator, restored from a checkpoint when resuming.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/fpenv.h"
#include "nn/parallel.h"
#include "data/s2s_data.h"
#include "train/memory_estimate.h"
#include "data/data_format.h"
#include "data/qa_metrics.h"
#include "data/rouge.h"
#include "train/trainer.h"

const char *ada_task_name(enum ada_task t)
{
	switch (t) {
	case ADA_TASK_AUTO: return "auto";
	case ADA_TASK_CAUSAL_LM: return "causal_lm";
	case ADA_TASK_CLASSIFICATION: return "classification";
	case ADA_TASK_QUESTION_ANSWERING: return "question_answering";
	case ADA_TASK_SEQ2SEQ: return "seq2seq";
	}
	return "unknown";
}

int ada_task_from_name(const char *name)
{
	for (int t = ADA_TASK_AUTO; t <= ADA_TASK_SEQ2SEQ; t++)
		if (!strcmp(name, ada_task_name(t)))
			return t;
	return -1;
}

const char *ada_file_format_name(enum ada_file_format f)
{
	switch (f) {
	case ADA_FILE_AUTO: return "auto";
	case ADA_FILE_JSONL: return "jsonl";
	case ADA_FILE_GLUE_TSV: return "glue-tsv";
	}
	return "unknown";
}

int ada_file_format_from_name(const char *name)
{
	for (int f = ADA_FILE_AUTO; f <= ADA_FILE_GLUE_TSV; f++)
		if (!strcmp(name, ada_file_format_name(f)))
			return f;
	return -1;
}

double trainer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "method.<type>.hyperparameters" for error params. */
static void hp_prefix(const struct ada_method *m, char *buf, size_t cap)
{
	snprintf(buf, cap, "method.%s.hyperparameters", ada_method_name(m->type));
}

/* Data modules and the network name bare fields ("batch_size"); the API
 * reports the full path. */
static int qualify_param(struct ada_err *err, const char *prefix, int rc)
{
	/* the job's own fields stay as they are (a model's generation config: "model") */
	static const char *const job_fields[] = { "model", "task", "training_file",
						  "validation_file" };
	char bare[sizeof(err->param)];

	if (!err || !rc || !err->param[0] || !strncmp(err->param, "method.", 7))
		return rc;
	for (size_t i = 0; i < sizeof(job_fields) / sizeof(job_fields[0]); i++)
		if (!strcmp(err->param, job_fields[i]))
			return rc;
	snprintf(bare, sizeof(bare), "%s", err->param);
	snprintf(err->param, sizeof(err->param), "%s.%s", prefix, bare);
	return rc;
}

/* A string that changes whenever anything that shapes the result does.
 * Gradient checkpointing does not (it recomputes the same activations):
 * it is left out, so a run may resume with it switched on or off, and the
 * checkpoints of versions that did not have it still resume. compute_dtype
 * does, but only an explicit "bf16" is written, for the same reason ("auto"
 * is bf16 on one machine and fp32 on another: a resume elsewhere continues
 * in that machine's). */
static char *make_fingerprint(const struct ada_job *job)
{
	json_t *j = json_object(), *method = ada_method_to_json(&job->method);
	json_t *hp = json_object_get(json_object_get(method, ada_method_name(job->method.type)),
				     "hyperparameters");
	const struct ada_hparams *h = &job->method.hp;
	char *s;

	json_object_del(hp, "gradient_checkpointing");
	/* Fields that came later are left out at their defaults, so the
	 * checkpoints of earlier versions still resume: seq2seq's, extractive
	 * QA's, and compute_dtype unless it is bf16 (auto resolves per machine). */
	if (!h->max_source_length)
		json_object_del(hp, "max_source_length");
	if (!h->max_target_length)
		json_object_del(hp, "max_target_length");
	if (h->label_smoothing == 0)
		json_object_del(hp, "label_smoothing");
	if (h->doc_stride == 128 && h->max_query_length == 64 && h->max_answer_length == 30 &&
	    h->n_best_size == 20 && h->null_score_diff_threshold == 0) {
		json_object_del(hp, "doc_stride");
		json_object_del(hp, "max_query_length");
		json_object_del(hp, "max_answer_length");
		json_object_del(hp, "n_best_size");
		json_object_del(hp, "null_score_diff_threshold");
	}
	if (h->compute_dtype != ADA_COMPUTE_BF16)
		json_object_del(hp, "compute_dtype");
	/* How validation decodes changes no trained value: a run may resume
	 * with other generation settings. */
	json_object_del(hp, "valid_generate_examples");
	json_object_del(hp, "generation_num_beams");
	json_object_del(hp, "generation_max_length");
	json_object_set_new(j, "model", job->model ? json_string(job->model) : json_null());
	json_object_set_new(j, "tokenizer", job->tokenizer ? json_string(job->tokenizer) : json_null());
	json_object_set_new(j, "train_file",
			    job->train_file ? json_string(job->train_file) : json_null());
	json_object_set_new(j, "valid_file", job->valid_file ? json_string(job->valid_file) : json_null());
	json_object_set_new(j, "seed", json_integer((json_int_t)job->seed));
	json_object_set_new(j, "task", json_string(ada_task_name(job->task)));
	json_object_set_new(j, "data_format", json_string(ada_file_format_name(job->data_format)));
	json_object_set_new(j, "method", method);   /* stolen */
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/* Is the training file question answering data (SQuAD JSON, QA JSONL)? */
static int file_is_qa(const char *path, struct ada_err *err, int *qa)
{
	struct ada_data_info info;
	struct ada_err ignored;
	char *buf = NULL;
	size_t len;
	int rc;

	*qa = 0;
	if ((rc = file_read_all(path, &buf, &len, err)))
		return rc;
	/* only the shape matters here: the task's loader reports errors */
	if (!data_format_scan(buf, len, 0, NULL, NULL, &info, &ignored) || info.shape)
		*qa = info.shape == ADA_SHAPE_QA;
	free(buf);
	return ADA_OK;
}

/* Is the first record of a JSONL file a labelled one? (Its shape is
 * checked line by line when the task's loader reads the file.) */
static int first_record_labelled(const char *path, struct ada_err *err, int *labelled)
{
	char *buf = NULL, *p, *end;
	size_t len;
	int rc;

	*labelled = 0;
	if ((rc = file_read_all(path, &buf, &len, err)))
		return rc;
	for (p = buf, end = buf + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t i = 0;

		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
			i++;
		if (i < n) {
			json_t *j = json_loadb(p, n, 0, NULL);
			*labelled = json_is_object(j) && json_object_get(j, "label") != NULL;
			json_decref(j);
			break;
		}
		p = nl ? nl + 1 : end;
	}
	free(buf);
	return ADA_OK;
}

/* The job's task, resolved (adalora.h, enum ada_task). */
static int resolve_task(struct trainer *tr, struct ada_err *err)
{
	const struct ada_job *job = tr->job;
	const int bert = tr->model->cfg.family == ADA_FAMILY_BERT;
	const int bart = tr->model->cfg.family == ADA_FAMILY_BART;
	enum ada_task t = job->task;
	int labelled, qa, rc;

	if (bart && t != ADA_TASK_AUTO && t != ADA_TASK_SEQ2SEQ)
		return ada_fail_param(err, ADA_EINVAL, "task",
				      "task: %s is an encoder-decoder (BART); it trains seq2seq, not %s",
				      job->model, ada_task_name(t));
	if (!bart && t == ADA_TASK_SEQ2SEQ)
		return ada_fail_param(err, ADA_EINVAL, "task",
				      "task: seq2seq needs an encoder-decoder (BART) model; %s is not one",
				      job->model);
	if (bart) {
		tr->task = &trainer_task_s2s;
		return ADA_OK;
	}
	if (t == ADA_TASK_AUTO && job->data_format != ADA_FILE_GLUE_TSV &&
	    !(job->data_format == ADA_FILE_AUTO && ends_with(job->train_file, ".tsv"))) {
		if ((rc = file_is_qa(job->train_file, err, &qa)))
			return rc;
		if (qa)
			t = ADA_TASK_QUESTION_ANSWERING;
	}
	if (t == ADA_TASK_QUESTION_ANSWERING) {
		if (!bert)
			return ada_fail_param(err, ADA_EINVAL, "task",
					      "task: question answering needs an encoder (BERT, RoBERTa, DeBERTa); %s is a %s decoder",
					      job->model, tr->model->cfg.arch);
		if (job->data_format == ADA_FILE_GLUE_TSV)
			return ada_fail_param(err, ADA_EINVAL, "data_format",
					      "data_format: glue-tsv holds classification data, the task is question_answering");
		tr->task = &trainer_task_qa;
		return ADA_OK;
	}
	if (t == ADA_TASK_AUTO) {
		if (bert || job->data_format == ADA_FILE_GLUE_TSV ||
		    (job->data_format == ADA_FILE_AUTO && ends_with(job->train_file, ".tsv"))) {
			t = ADA_TASK_CLASSIFICATION;
		} else {
			if ((rc = first_record_labelled(job->train_file, err, &labelled)))
				return rc;
			t = labelled ? ADA_TASK_CLASSIFICATION : ADA_TASK_CAUSAL_LM;
		}
	}
	if (t == ADA_TASK_CAUSAL_LM && job->data_format == ADA_FILE_GLUE_TSV)
		return ada_fail_param(err, ADA_EINVAL, "data_format",
				      "data_format: glue-tsv holds classification data, the task is causal_lm");
	if (t == ADA_TASK_CAUSAL_LM && bert)
		return ada_fail_param(err, ADA_EINVAL, "task",
				      "task: %s is a BERT-family encoder; it trains classifiers, not a causal LM",
				      job->model);
	if (t != ADA_TASK_CAUSAL_LM && t != ADA_TASK_CLASSIFICATION)
		return ada_fail_param(err, ADA_EINVAL, "task", "task: unknown task %d", (int)t);
	tr->task = t == ADA_TASK_CLASSIFICATION ? &trainer_task_cls : &trainer_task_lm;
	return ADA_OK;
}

/* What every setup starts with: an empty trainer for job, no evaluation yet. */
static void setup_begin(struct trainer *tr, const struct ada_job *job)
{
	memset(tr, 0, sizeof(*tr));
	tr->job = job;
	tr->hp = &job->method.hp;
	tr->valid_loss = NAN;
	tr->valid_loss_initial = NAN;
	tr->valid_loss_no_framing = NAN;
	tr->valid_loss_no_framing_initial = NAN;
	glue_metrics_clear(&tr->valid_m.glue);
	tr->valid_m.loss = NAN;
	tr->valid_m_initial = tr->valid_m;
	qa_metrics_clear(&tr->valid_qa);
	tr->valid_qa_initial = tr->valid_qa;
	rouge_clear(&tr->valid_rouge);
	tr->valid_rouge_initial = tr->valid_rouge;
}

/* The method against the loaded model, before any data is read. */
static int check_model(const struct trainer *tr, struct ada_err *err)
{
	struct ada_model_info info;

	model_config_describe(&tr->model->cfg, &info);
	return ada_method_check_model(&tr->job->method, &info, err);
}

/* What every setup ends with, once the task's data fixed the plan: the
 * budget schedule over the run's total steps, and the fingerprint. */
static int setup_end(struct trainer *tr, struct ada_err *err)
{
	const struct model_config *c = &tr->model->cfg;
	int rc;

	tr->has_budget = ada_method_has_budget(tr->job->method.type);
	if (tr->has_budget) {
		int64_t n = model_n_matrices(c, tr->hp->target_modules);
		if ((rc = ada_method_budget(&tr->job->method, tr->plan.total_steps, n, &tr->schedule,
					    err)))
			return rc;
	}
	tr->fingerprint = make_fingerprint(tr->job);
	if (!tr->fingerprint)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

int trainer_setup(struct trainer *tr, const struct ada_job *job, struct ada_err *err)
{
	char prefix[96];
	int rc;

	setup_begin(tr, job);
	hp_prefix(&job->method, prefix, sizeof(prefix));
	if (!job->model || !job->train_file)
		return ada_fail(err, ADA_EINVAL, "a job needs a model and a training file");
	if ((rc = model_load(job->model, job->tokenizer, &tr->model, err)) ||
	    (rc = check_model(tr, err)) ||
	    (rc = model_open_tokenizer(tr->model, job->tokenizer, &tr->tok, err)) ||
	    (rc = resolve_task(tr, err)))
		return rc;
	if ((rc = tr->task->load(tr, err)))
		return qualify_param(err, prefix, rc);
	return setup_end(tr, err);
}

int trainer_setup_lm(struct trainer *tr, const struct ada_job *job, struct model *model,
		     struct dataset *train, struct dataset *valid, struct ada_err *err)
{
	int rc;

	setup_begin(tr, job);
	tr->model = model;
	if (model->cfg.family != ADA_FAMILY_LLAMA)
		rc = ada_fail(err, ADA_EUNSUPPORTED, "a causal LM needs a Llama-family model");
	else if (train->seq_len != tr->hp->seq_len)
		rc = ada_fail(err, ADA_EINVAL, "the windows are of %d tokens, the job's seq_len is %d",
			      train->seq_len, tr->hp->seq_len);
	else
		rc = check_model(tr, err);
	if (rc) {
		dataset_release(train);
		if (valid)
			dataset_release(valid);
		return rc;
	}
	if ((rc = trainer_lm_adopt(tr, train, valid, err)))
		return rc;
	return setup_end(tr, err);
}

int trainer_setup_cls(struct trainer *tr, const struct ada_job *job, struct model *model,
		      struct class_dataset *train, struct label_map *labels, struct ada_err *err)
{
	int rc;

	setup_begin(tr, job);
	tr->model = model;
	if (train->seq_len != tr->hp->seq_len)
		rc = ada_fail(err, ADA_EINVAL, "the examples are of %d tokens, the job's seq_len is %d",
			      train->seq_len, tr->hp->seq_len);
	else
		rc = check_model(tr, err);
	if (rc) {
		class_dataset_release(train);
		label_map_release(labels);
		return rc;
	}
	if ((rc = trainer_cls_adopt(tr, train, labels, err)))
		return rc;
	return setup_end(tr, err);
}

int trainer_setup_s2s(struct trainer *tr, const struct ada_job *job, struct model *model,
		      struct s2s_dataset *train, struct ada_err *err)
{
	int rc;

	setup_begin(tr, job);
	tr->model = model;
	if (model->cfg.family != ADA_FAMILY_BART)
		rc = ada_fail(err, ADA_EUNSUPPORTED, "seq2seq needs an encoder-decoder (BART) model");
	else
		rc = check_model(tr, err);
	if (rc) {
		s2s_dataset_release(train);
		return rc;
	}
	if ((rc = trainer_s2s_adopt(tr, train, err)))
		return rc;
	return setup_end(tr, err);
}

void trainer_plan(const struct trainer *tr, struct ada_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->task = tr->spec.task;
	plan->total_steps = tr->plan.total_steps;
	plan->steps_per_epoch = tr->plan.steps_per_epoch;
	plan->n_epochs = tr->plan.n_epochs;
	tr->task->plan(tr, plan);
	plan->budget_initial = plan->budget_target = -1;
	if (tr->has_budget) {
		plan->n_matrices = tr->schedule.n_matrices;
		plan->budget_initial = budget_schedule_initial(&tr->schedule);
		plan->budget_target = budget_schedule_target(&tr->schedule);
	} else if (tr->job->method.type == ADA_METHOD_LORA) {
		plan->n_matrices = model_n_matrices(&tr->model->cfg, tr->hp->target_modules);
	}
	if (tr->tn.arena.n_tensors)
		plan->trainable_params = (int64_t)param_arena_count(&tr->tn.arena);
	else
		trained_net_count(tr->model, &tr->job->method, &tr->spec, &plan->trainable_params,
				  NULL);
	{
		struct ada_memory mem;
		/* QA's head is a classifier's of two outputs, as far as memory goes */
		memory_estimate_config(&tr->model->cfg, model_param_count(&tr->model->cfg),
				       &tr->job->method,
				       plan->task == ADA_TASK_QUESTION_ANSWERING ? ADA_TASK_CLASSIFICATION
										 : plan->task,
				       plan->task == ADA_TASK_QUESTION_ANSWERING ? 2 : plan->num_labels,
				       tr->job->threads, plan->train_windows + plan->valid_windows,
				       &mem);
		plan->memory_bytes = mem.total;
	}
}

/* Optimizer ranges: one per arena tensor, with its decay flag. */
int trainer_chunk_arena(struct trainer *tr, struct ada_err *err)
{
	const struct param_arena *pa = &tr->tn.arena;
	struct param_range *ranges = xcalloc((size_t)pa->n_tensors + 1, sizeof(*ranges));
	int rc;

	if (!ranges)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < pa->n_tensors; i++)
		ranges[i] = (struct param_range){ pa->t[i].offset, pa->t[i].n, pa->t[i].decay };
	param_chunks_release(&tr->chunks);
	rc = param_chunks_init(&tr->chunks, ranges, (size_t)pa->n_tensors, pa->n, err);
	free(ranges);
	return rc;
}

static int build_optimizer(struct trainer *tr, struct ada_err *err)
{
	struct adamw_config cfg = ADAMW_CONFIG_DEFAULT;
	int rc = trainer_chunk_arena(tr, err);

	if (rc)
		return rc;
	cfg.weight_decay = tr->hp->weight_decay;
	return adamw_init(&tr->opt, &cfg, err);
}

static int build_allocator(struct trainer *tr, struct ada_err *err)
{
	struct trained_net *tn = &tr->tn;
	struct rank_allocator_config cfg = {
		.method = tr->job->method.type,
		.importance = tr->hp->importance,
		.beta1 = tr->hp->beta1,
		.beta2 = tr->hp->beta2,
		.schedule = tr->schedule,
	};
	struct rank_matrix *views = xcalloc((size_t)tn->n_mods + 1, sizeof(*views));
	int rc;

	if (!views)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < tn->n_mods; i++) {
		struct lowrank *lr = tn->mods[i].lr;
		views[i] = (struct rank_matrix){
			.out = lr->base.out, .in = lr->base.in, .r = lr->r,
			.P = lr->P, .gate = lr->g, .Q = lr->Q,
			.dP = lr->dP, .dgate = lr->dg, .dQ = lr->dQ,
		};
	}
	rc = rank_allocator_new(&cfg, views, tn->n_mods, &tr->alloc, err);
	free(views);
	return rc;
}

/* compute_dtype bf16: scratch for the widest operand of a block's products
 * (x of o and down, dy of gate and up) in a micro-batch. */
static int build_bf16(struct trainer *tr, int micro, struct ada_err *err)
{
	const struct model_config *c = &tr->model->cfg;
	int width = c->dim > c->hidden_dim ? c->dim : c->hidden_dim;

	if (c->n_heads * c->head_dim > width)
		width = c->n_heads * c->head_dim;
	tr->bf16.cap = frozen_bf16_need(micro * tr->hp->seq_len, width);
	tr->bf16.buf = xalloc_aligned(tr->bf16.cap, sizeof(*tr->bf16.buf));
	if (!tr->bf16.buf)
		return ada_fail(err, ADA_ENOMEM, "out of memory for the bf16 operands (%zu MiB)",
				tr->bf16.cap * 2 >> 20);
	trained_net_set_bf16(&tr->tn, &tr->bf16);
	return ADA_OK;
}

int trainer_build(struct trainer *tr, struct ada_err *err)
{
	const struct ada_job *job = tr->job;
	const struct ada_hparams *hp = tr->hp;
	int rc, micro = hp->micro_batch_size;

	if (job->parallel) {
		const struct ada_parallel *p = job->parallel;
		if (p->size < 1 || p->rank < 0 || p->rank >= p->size || !p->allreduce)
			return ada_fail(err, ADA_EINVAL,
					"a data-parallel job needs 0 <= rank < size and an allreduce (rank %d, size %d)",
					p->rank, p->size);
		if ((rc = ada_method_check_processes(&job->method, p->size, err)))
			return rc;
	}
	tr->threads = nn_set_threads(job->threads);
	fpenv_flush_subnormals();
	rc = trained_net_build(&tr->tn, tr->model, &job->method, &tr->spec, job->seed, 1, err);
	if (rc) {
		char prefix[96];
		hp_prefix(&job->method, prefix, sizeof(prefix));
		return qualify_param(err, prefix, rc);
	}
	if (micro > hp->batch_size)
		micro = hp->batch_size;
	if ((rc = tr->task->build(tr, micro, err)))
		return rc;
	if (ada_compute_dtype_resolve(hp->compute_dtype, tr->model->cfg.family) ==
		    ADA_COMPUTE_BF16 &&
	    (rc = build_bf16(tr, micro, err)))
		return rc;
	if ((rc = build_optimizer(tr, err)))
		return rc;
	if (tr->has_budget && (rc = build_allocator(tr, err)))
		return rc;
	tr->orth_scratch = xcalloc((size_t)hp->init_r * (size_t)hp->init_r + 1, sizeof(float));
	if (!tr->orth_scratch)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (job->resume) {
		rc = trainer_load_checkpoint(tr, err);
		if (rc == ADA_ENOTFOUND)
			rc = ADA_OK;   /* nothing to resume: start from step 0 */
		if (rc)
			return rc;
	}
	return ADA_OK;
}

void trainer_release(struct trainer *tr)
{
	if (tr->task)
		tr->task->release(tr);
	free(tr->orth_scratch);
	free(tr->bf16.buf);
	free(tr->fingerprint);
	rank_allocator_free(tr->alloc);
	param_chunks_release(&tr->chunks);
	batcher_release(&tr->batcher);
	trained_net_release(&tr->tn);
	tokenizer_free(tr->tok);
	model_free(tr->model);
	memset(tr, 0, sizeof(*tr));
}

int ada_job_plan(const struct ada_job *job, struct ada_plan *plan, struct ada_err *err)
{
	struct trainer tr;
	int rc = trainer_setup(&tr, job, err);

	if (!rc) {
		char prefix[96];
		int64_t n;

		/* what the network refuses, refused here too */
		hp_prefix(&job->method, prefix, sizeof(prefix));
		rc = qualify_param(err, prefix,
				   trained_net_count(tr.model, &job->method, &tr.spec, &n, err));
	}
	if (!rc)
		trainer_plan(&tr, plan);
	trainer_release(&tr);
	return rc;
}
