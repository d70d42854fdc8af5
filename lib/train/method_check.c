/*
 * method_check — a method against a model and a run: what can be checked
 * once the model's header or the total number of steps is known.
 *
 * method.c checks a method object on its own; these checks need more, and
 * three callers need them at different times: the API at job creation
 * (the model's header, max_steps when given), the daemon's planner (the
 * total steps the data gives) and the trainer itself. They share this code
 * so a job is refused with the same field named wherever it is caught.
 */
#include <stdio.h>
#include <string.h>

#include "adalora.h"
#include "model/model.h"
#include "train/budget.h"
#include "util/err.h"

int ada_method_has_budget(enum ada_method_type t)
{
	return t == ADA_METHOD_ADALORA || t == ADA_METHOD_LORA_PRUNE;
}

int64_t ada_model_matrices(const struct ada_model_info *info, unsigned target_modules)
{
	const struct model_config cfg = { .family = info->family, .n_layers = info->n_layers,
					  .n_dec_layers = info->n_decoder_layers };

	return model_n_matrices(&cfg, target_modules);
}

int ada_method_budget(const struct ada_method *m, int64_t total_steps, int64_t n_matrices,
		      struct ada_schedule *out, struct ada_err *err)
{
	const struct ada_hparams *hp = &m->hp;
	char prefix[96];
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!ada_method_has_budget(m->type))
		return ADA_OK;
	*out = (struct ada_schedule){
		.total_steps = total_steps, .tinit = hp->tinit, .tfinal = hp->tfinal,
		.deltaT = hp->delta_t, .init_r = hp->init_r, .target_r = hp->target_r,
		.n_matrices = n_matrices,
	};
	n = (size_t)snprintf(prefix, sizeof(prefix), "method.%s.hyperparameters.",
			     ada_method_name(m->type));
	rc = budget_schedule_check(out, prefix, err);
	if (!rc || !err)
		return rc;
	/* The total follows from the data (or max_steps) and the matrices from
	 * target_modules: name the fields the client wrote. */
	if (!strcmp(err->param + n, "total_steps"))
		snprintf(err->param + n, sizeof(err->param) - n, "tfinal");
	else if (!strcmp(err->param + n, "n_matrices"))
		snprintf(err->param + n, sizeof(err->param) - n, "target_modules");
	return rc;
}

/* An encoder-decoder trains seq2seq with low-rank adapters: seq_len does
 * not apply; the source and target lengths do. */
static int check_bart(const struct ada_method *m, const struct ada_model_info *info,
		      struct ada_err *err)
{
	const struct ada_hparams *hp = &m->hp;
	static const char *const lengths[] = { "max_source_length", "max_target_length" };
	const int given[] = { hp->max_source_length, hp->max_target_length };
	struct ada_schedule s;
	char param[160];

	if (m->type != ADA_METHOD_LORA && m->type != ADA_METHOD_ADALORA &&
	    m->type != ADA_METHOD_LORA_PRUNE)
		return ada_fail_param(err, ADA_EUNSUPPORTED, "method.type",
				      "method.type: %s on a BART model is not implemented (lora, adalora, lora_prune are)",
				      ada_method_name(m->type));
	for (int i = 0; i < 2; i++) {
		if (!given[i] || info->context_length <= 0 || given[i] <= info->context_length)
			continue;
		snprintf(param, sizeof(param), "method.%s.hyperparameters.%s",
			 ada_method_name(m->type), lengths[i]);
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%s (%d) exceeds the model's context length (%d)", param,
				      given[i], info->context_length);
	}
	if (hp->generation_max_length && info->context_length > 0 &&
	    hp->generation_max_length - 1 > info->context_length) {
		snprintf(param, sizeof(param), "method.%s.hyperparameters.generation_max_length",
			 ada_method_name(m->type));
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%s (%d, the decoder start token included) generates past the model's %d positions",
				      param, hp->generation_max_length, info->context_length);
	}
	if (hp->gradient_checkpointing) {
		snprintf(param, sizeof(param), "method.%s.hyperparameters.gradient_checkpointing",
			 ada_method_name(m->type));
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%s: gradient checkpointing is implemented for decoder "
				      "(Llama-family) models, not for %s", param, info->architecture);
	}
	if (hp->max_steps <= 0)
		return ADA_OK;
	return ada_method_budget(m, hp->max_steps, ada_model_matrices(info, hp->target_modules),
				 &s, err);
}

int ada_method_check_model(const struct ada_method *m, const struct ada_model_info *info,
			   struct ada_err *err)
{
	const struct ada_hparams *hp = &m->hp;
	struct ada_schedule s;
	char param[160];

	if (info->family == ADA_FAMILY_BART)
		return check_bart(m, info, err);
	if (info->context_length > 0 && hp->seq_len > info->context_length) {
		snprintf(param, sizeof(param), "method.%s.hyperparameters.seq_len",
			 ada_method_name(m->type));
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%s (%d) exceeds the model's context length (%d)", param,
				      hp->seq_len, info->context_length);
	}
	if (hp->gradient_checkpointing && info->family == ADA_FAMILY_BERT) {
		snprintf(param, sizeof(param), "method.%s.hyperparameters.gradient_checkpointing",
			 ada_method_name(m->type));
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%s: gradient checkpointing is implemented for decoder "
				      "(Llama-family) models, not for %s", param, info->architecture);
	}
	if (hp->compute_dtype == ADA_COMPUTE_BF16 && info->family == ADA_FAMILY_BERT) {
		snprintf(param, sizeof(param), "method.%s.hyperparameters.compute_dtype",
			 ada_method_name(m->type));
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%s: \"bf16\" is implemented for decoder (Llama-family) "
				      "models, not for %s", param, info->architecture);
	}
	if (m->type == ADA_METHOD_FULL && info->quantized)
		return ada_fail_param(err, ADA_EUNSUPPORTED, "method.type",
				      "method.type: full fine-tuning trains every weight as f32, but the model's matrices are %s (quantized); train an adapter on it (lora, adalora, lora_prune, bitfit, adapter) or start from an F16/BF16/F32 copy",
				      info->dtype);
	if (hp->max_steps <= 0)
		return ADA_OK;   /* the total is known once the data is read */
	return ada_method_budget(m, hp->max_steps, ada_model_matrices(info, hp->target_modules),
				 &s, err);
}

int ada_method_check_processes(const struct ada_method *m, int processes, struct ada_err *err)
{
	const struct ada_hparams *hp = &m->hp;
	const int micro = hp->micro_batch_size > 0 && hp->micro_batch_size < hp->batch_size
				  ? hp->micro_batch_size : hp->batch_size;
	const int n = micro > 0 ? (hp->batch_size + micro - 1) / micro : 0;
	char param[128];
	int fit = 0;

	if (processes < 1)
		return ada_fail(err, ADA_EINVAL, "a job runs in at least one process, not %d",
				processes);
	if (processes <= n)
		return ADA_OK;
	/* the largest micro-batch that divides the batch into enough pieces */
	for (int d = 1; d <= hp->batch_size / processes; d++)
		if (hp->batch_size % d == 0)
			fit = d;
	snprintf(param, sizeof(param), "method.%s.hyperparameters.micro_batch_size",
		 ada_method_name(m->type));
	if (!fit)
		return ada_fail_param(err, ADA_EINVAL, param,
				      "%d processes share every step, but a step of batch_size %d "
				      "has fewer sequences than that: raise batch_size to at least %d",
				      processes, hp->batch_size, processes);
	return ada_fail_param(err, ADA_EINVAL, param,
			      "%d processes share every step, but a step of batch_size %d holds %d "
			      "micro-batch%s of micro_batch_size %d, and a process takes whole "
			      "micro-batches: set micro_batch_size to %d (or less)",
			      processes, hp->batch_size, n, n == 1 ? "" : "es", micro, fit);
}
