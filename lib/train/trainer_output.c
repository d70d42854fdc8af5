/*
 * trainer_output — what a finished job leaves behind:
 *   out_dir/adapter/       the adapter (export_peft.h; a classifier's head
 *                          and label map with it), or
 *   out_dir/model.gguf     the fine-tuned model (full fine-tuning of a
 *                          causal LM), and
 *   out_dir/result.json    final metrics, plan, the final rank matrix and
 *                          what the task adds (classification: the label
 *                          map, the GLUE metrics before and after).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "adapter/export_model.h"
#include "format/quant.h"
#include "adapter/export_peft.h"
#include "train/trainer.h"

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static int write_result(struct trainer *tr, struct ada_result *res, struct ada_err *err)
{
	json_t *j = json_object();
	int rc;

	json_object_set_new(j, "method", ada_method_to_json(&tr->job->method));
	json_object_set_new(j, "model", json_string(trainer_model_name(tr)));
	json_object_set_new(j, "seed", json_integer((json_int_t)tr->job->seed));
	json_object_set_new(j, "steps", json_integer(tr->step));
	json_object_set_new(j, "total_steps", json_integer(tr->plan.total_steps));
	json_object_set_new(j, "epochs", json_integer(tr->plan.n_epochs));
	json_object_set_new(j, "train_loss", num(tr->last.train_loss));
	json_object_set_new(j, "valid_loss", num(tr->valid_loss));
	json_object_set_new(j, "valid_loss_initial", num(tr->valid_loss_initial));
	json_object_set_new(j, "trained_tokens", json_integer(tr->trained_tokens));
	json_object_set_new(j, "trainable_params", json_integer(res->plan.trainable_params));
	json_object_set_new(j, "seconds", json_real(trainer_now() - tr->t_start));
	json_object_set_new(j, "output", json_string(res->adapter_dir));
	if (tr->task->result(tr, j, res)) {
		json_decref(j);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if (tr->has_budget) {
		const struct model_config *c = &tr->model->cfg;
		const int L = c->n_layers, M = model_n_modules(c);
		int *ranks = calloc((size_t)L * M, sizeof(*ranks));
		json_t *rows = json_array(), *b = json_object(), *names = json_array();
		if (!ranks) {
			json_decref(j);
			json_decref(rows);
			json_decref(b);
			json_decref(names);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		trainer_rank_matrix(tr, ranks);
		for (int l = 0; l < L; l++) {
			json_t *row = json_array();
			for (int m = 0; m < M; m++)
				json_array_append_new(row, json_integer(ranks[l * M + m]));
			json_array_append_new(rows, row);
		}
		for (int m = 0; m < M; m++)
			json_array_append_new(names, json_string(model_module_name(c, m)));
		json_object_set_new(j, "rank_modules", names);
		if (c->family == ADA_FAMILY_BART) {
			json_t *lg = json_array(), *mg = json_array();
			for (int l = 0; l < L; l++)
				json_array_append_new(lg, json_string(model_layer_group(c, l)));
			for (int m = 0; m < M; m++)
				json_array_append_new(mg, json_string(model_module_group(c, m)));
			json_object_set_new(j, "rank_layer_groups", lg);
			json_object_set_new(j, "rank_module_groups", mg);
		}
		free(ranks);
		json_object_set_new(b, "initial", json_integer(budget_schedule_initial(&tr->schedule)));
		json_object_set_new(b, "target", json_integer(budget_schedule_target(&tr->schedule)));
		json_object_set_new(j, "budget", b);
		json_object_set_new(j, "final_ranks", rows);
	}
	rc = json_write_atomic(tr->job->out_dir, "result.json", j, err);
	json_decref(j);
	return rc;
}

int trainer_write_outputs(struct trainer *tr, struct ada_result *res, struct ada_err *err)
{
	char *dir;
	int rc;

	if (tr->job->method.type == ADA_METHOD_FULL && tr->spec.task == ADA_TASK_CAUSAL_LM) {
		dir = path_join(tr->job->out_dir, "model.gguf");
		if (!dir)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		rc = export_model_gguf(tr->model, &tr->tn.net, dir, GGML_TYPE_F32, err);
	} else {
		struct export_info info = {
			.base_model = trainer_model_name(tr),
			.total_steps = tr->plan.total_steps,
			.labels = tr->labels,
			.seq_len = tr->hp->seq_len,
			.qa_version_2 = tr->qa_version_2,
		};
		const bool **kept = NULL;

		dir = path_join(tr->job->out_dir, "adapter");
		if (!dir)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		if (tr->alloc && tr->job->method.type == ADA_METHOD_ADALORA) {
			kept = calloc((size_t)tr->tn.n_mods + 1, sizeof(*kept));
			if (!kept) {
				free(dir);
				return ada_fail(err, ADA_ENOMEM, "out of memory");
			}
			for (int i = 0; i < tr->tn.n_mods; i++)
				kept[i] = rank_allocator_kept(tr->alloc, i);
			info.kept = kept;
		}
		rc = export_peft(&tr->tn, &info, dir, err);
		free(kept);
	}
	if (!rc)
		snprintf(res->adapter_dir, sizeof(res->adapter_dir), "%s", dir);
	free(dir);
	if (!rc)
		rc = write_result(tr, res, err);
	return rc;
}

void ada_result_release(struct ada_result *res)
{
	if (res->label_names)
		for (int i = 0; i < res->num_labels; i++)
			free(res->label_names[i]);
	free(res->label_names);
	res->label_names = NULL;
}
