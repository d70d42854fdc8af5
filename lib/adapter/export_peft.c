/* export_peft — PEFT-compatible adapter files (and ours); see export_peft.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "format/safetensors.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "adapter/export_peft.h"

/* A zeroed buffer of n floats the safetensors writer reads at write time:
 * kept in bufs until then. */
static float *own(struct owned_bufs *bufs, size_t n)
{
	return owned_bufs_take(bufs, xcalloc(n ? n : 1, sizeof(float)));
}

static int is_classifier(const struct trained_net *tn)
{
	return tn->spec.task == ADA_TASK_CLASSIFICATION;
}

static int is_qa(const struct trained_net *tn)
{
	return tn->spec.task == ADA_TASK_QUESTION_ANSWERING;
}

static int is_lora_family(const struct trained_net *tn)
{
	enum ada_method_type t = tn->method.type;

	return t == ADA_METHOD_LORA || t == ADA_METHOD_ADALORA || t == ADA_METHOD_LORA_PRUNE;
}

/* Does triplet/doublet j (of init_r) of adapter i survive? */
static int is_kept(const struct export_info *info, const struct trained_net *tn, int i, int j)
{
	const struct adapted_module *am = &tn->mods[i];

	if (tn->method.type == ADA_METHOD_LORA_PRUNE)
		return am->fixed_gate[j] != 0;
	return !info->kept || info->kept[i][j];
}

/* The same for the adapter's current storage: a compacted adapter (rank
 * below init_r) holds only survivors. */
static int stored_kept(const struct export_info *info, const struct trained_net *tn, int i,
		       int j)
{
	if (tn->mods[i].lr->r != tn->mods[i].init_r)
		return 1;
	return is_kept(info, tn, i, j);
}

static const char *head_module(const struct trained_net *tn)
{
	return tn->model->cfg.family == ADA_FAMILY_BERT ? "classifier" : "score";
}

static json_t *base_config(const struct trained_net *tn, const struct export_info *info)
{
	const struct ada_hparams *hp = &tn->method.hp;
	json_t *c = json_object();

	json_object_set_new(c, "task_type", json_string(is_qa(tn) ? "QUESTION_ANS" :
							 is_classifier(tn) ? "SEQ_CLS" :
							 tn->spec.task == ADA_TASK_SEQ2SEQ ? "SEQ_2_SEQ_LM" :
							 "CAUSAL_LM"));
	json_object_set_new(c, "base_model_name_or_path", json_string(info->base_model));
	json_object_set_new(c, "inference_mode", json_true());
	/* DeBERTa's ContextPooler is new too: PEFT saves it when named */
	json_object_set_new(c, "modules_to_save",
			    is_qa(tn) ? json_pack("[s]", "qa_outputs") :
			    !is_classifier(tn) ? json_null() :
			    model_is_deberta(&tn->model->cfg) ? json_pack("[ss]", "classifier", "pooler") :
			    json_pack("[s]", head_module(tn)));
	if (!is_lora_family(tn))
		return c;
	json_object_set_new(c, "lora_alpha", json_real(hp->lora_alpha));
	json_object_set_new(c, "lora_dropout", json_real(hp->lora_dropout));
	json_object_set_new(c, "bias", json_string("none"));
	json_object_set_new(c, "fan_in_fan_out", json_false());
	json_object_set_new(c, "init_lora_weights", json_true());
	json_object_set_new(c, "layers_to_transform", json_null());
	json_object_set_new(c, "layers_pattern", json_null());
	return c;
}

/* PEFT's target_modules: Hugging Face leaf names, matched by PEFT as a
 * suffix of ".<module path>". BERT's "output.dense" is also a suffix of
 * "attention.output.dense", so when only the former is adapted it is named
 * by its full paths instead. BART's "q_proj" names the self- and the cross-
 * attention's at once, as both are adapted together. */
static int listed(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (!strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

static json_t *target_names(const struct trained_net *tn)
{
	const struct model_config *c = &tn->model->cfg;
	const unsigned mask = tn->method.hp.target_modules;
	json_t *a = json_array();
	char path[160];

	for (int m = 0; m < model_n_modules(c); m++) {
		if (!(mask & model_module_bit(c, m)) || listed(a, model_module_hf_leaf(c, m)))
			continue;   /* BART's q_proj is both attentions' */
		if (c->family == ADA_FAMILY_BERT && m == BMOD_OUTPUT &&
		    !(mask & model_module_bit(c, BMOD_ATTN_OUT))) {
			for (int l = 0; l < c->n_layers; l++) {
				model_module_hf_path(c, l, m, path, sizeof(path));
				json_array_append_new(a, json_string(path));
			}
			continue;
		}
		json_array_append_new(a, json_string(model_module_hf_leaf(c, m)));
	}
	return a;
}

static json_t *adalora_config(const struct trained_net *tn, const struct export_info *info)
{
	const struct ada_hparams *hp = &tn->method.hp;
	json_t *c = base_config(tn, info), *pattern = json_object();
	char path[160];

	json_object_set_new(c, "peft_type", json_string("ADALORA"));
	json_object_set_new(c, "target_modules", target_names(tn));
	json_object_set_new(c, "init_r", json_integer(hp->init_r));
	json_object_set_new(c, "target_r", json_integer(hp->target_r));
	json_object_set_new(c, "tinit", json_integer(hp->tinit));
	json_object_set_new(c, "tfinal", json_integer(hp->tfinal));
	json_object_set_new(c, "deltaT", json_integer(hp->delta_t));
	json_object_set_new(c, "beta1", json_real(hp->beta1));
	json_object_set_new(c, "beta2", json_real(hp->beta2));
	json_object_set_new(c, "orth_reg_weight", json_real(hp->orth_reg_weight));
	json_object_set_new(c, "total_step", json_integer(info->total_steps));
	/* AdaLoRA ignores r (init_r rules); PEFT warns unless it is its default 8. */
	json_object_set_new(c, "r", json_integer(8));
	for (int i = 0; i < tn->n_mods; i++) {
		const struct adapted_module *am = &tn->mods[i];
		json_t *bits = json_array();
		model_module_hf_path(&tn->model->cfg, am->layer, am->module, path, sizeof(path));
		strncat(path, ".lora_E", sizeof(path) - strlen(path) - 1);
		for (int j = 0; j < am->init_r; j++)
			json_array_append_new(bits, json_boolean(is_kept(info, tn, i, j)));
		json_object_set_new(pattern, path, bits);
	}
	json_object_set_new(c, "rank_pattern", pattern);
	return c;
}

static json_t *lora_config(const struct trained_net *tn, const struct export_info *info)
{
	const struct ada_hparams *hp = &tn->method.hp;
	json_t *c = base_config(tn, info), *ranks = json_object(), *alphas = json_object();
	json_t *targets = json_array();
	const int pruned = tn->method.type == ADA_METHOD_LORA_PRUNE;
	const int r = pruned ? hp->init_r : hp->r;
	char path[160];

	json_object_set_new(c, "peft_type", json_string("LORA"));
	json_object_set_new(c, "r", json_integer(r));
	json_object_set_new(c, "use_rslora", json_false());
	json_object_set_new(c, "use_dora", json_false());
	if (!pruned) {
		json_decref(targets);
		json_object_set_new(c, "target_modules", target_names(tn));
	} else {
		for (int i = 0; i < tn->n_mods; i++) {
			const struct adapted_module *am = &tn->mods[i];
			int k = 0;
			for (int j = 0; j < am->init_r; j++)
				k += is_kept(info, tn, i, j);
			if (!k)
				continue;
			model_module_hf_path(&tn->model->cfg, am->layer, am->module, path, sizeof(path));
			json_array_append_new(targets, json_string(path));
			if (k != r) {
				json_object_set_new(ranks, path, json_integer(k));
				json_object_set_new(alphas, path, json_real(hp->lora_alpha * k / r));
			}
		}
		json_object_set_new(c, "target_modules", targets);
	}
	json_object_set_new(c, "rank_pattern", ranks);
	json_object_set_new(c, "alpha_pattern", alphas);
	return c;
}

/* bitfit, adapter, full: no PEFT type; ours (export_peft.h). */
static json_t *own_config(const struct trained_net *tn, const struct export_info *info)
{
	const enum ada_method_type t = tn->method.type;
	json_t *c = base_config(tn, info);

	json_object_set_new(c, "peft_type", json_string(t == ADA_METHOD_BITFIT ? "BITFIT" :
							 t == ADA_METHOD_ADAPTER ? "BOTTLENECK" : "FULL"));
	if (t == ADA_METHOD_ADAPTER) {
		json_object_set_new(c, "adapter_size", json_integer(tn->method.hp.adapter_size));
		json_object_set_new(c, "non_linearity", json_string("swish"));
	}
	return c;
}

static json_t *labels_json(const struct export_info *info, int n_labels)
{
	const struct label_map *lm = info->labels;
	const int regression = lm->kind == ADA_LABEL_FLOAT;
	json_t *j = json_object(), *names = json_array();

	json_object_set_new(j, "num_labels", json_integer(n_labels));
	json_object_set_new(j, "label_kind", json_string(ada_label_kind_name(lm->kind)));
	json_object_set_new(j, "problem_type", json_string(regression ? "regression"
								      : "single_label_classification"));
	for (int i = 0; !regression && i < lm->n_labels; i++) {
		char id[16];
		snprintf(id, sizeof(id), "%d", i);
		json_array_append_new(names, json_string(lm->names ? lm->names[i] : id));
	}
	json_object_set_new(j, "labels", names);
	json_object_set_new(j, "seq_len", json_integer(info->seq_len));
	return j;
}

/* A QA adapter's settings beside it (qa.json): what `adalora eval` needs to
 * cut and score data as the job did, and whether the job knew unanswerable
 * questions (run_qa's version_2_with_negative: serving then lets the null
 * answer compete). */
static json_t *qa_json(const struct trained_net *tn, const struct export_info *info)
{
	const struct ada_hparams *hp = &tn->method.hp;

	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:b}", "task", "question_answering",
			 "seq_len", info->seq_len, "doc_stride", hp->doc_stride, "max_query_length",
			 hp->max_query_length, "max_answer_length", hp->max_answer_length,
			 "n_best_size", hp->n_best_size, "null_score_diff_threshold",
			 hp->null_score_diff_threshold, "version_2_with_negative", info->qa_version_2);
}

static void remove_stale(const char *dir, const char *name)
{
	char *stale = path_join(dir, name);

	if (stale)
		unlink(stale);
	free(stale);
}

/* The low-rank adapters, sliced to what survives. */
static int add_adapters(struct safetensors_writer *w, const struct trained_net *tn,
			const struct export_info *info, struct owned_bufs *bufs, struct ada_err *err)
{
	const struct param_arena *pa = &tn->arena;
	const struct model_config *mc = &tn->model->cfg;
	int rc;

	for (int i = 0; i < tn->n_mods; i++) {
		const struct adapted_module *am = &tn->mods[i];
		const struct lowrank *lr = am->lr;
		const int r = lr->r, in = lr->base.in, out = lr->base.out;
		int k = 0, c = 0;
		float *A, *B, *E = NULL;

		for (int j = 0; j < r; j++)
			k += stored_kept(info, tn, i, j);
		A = own(bufs, (size_t)k * in);
		B = own(bufs, (size_t)out * k);
		if (am->t_E >= 0)
			E = own(bufs, (size_t)k);
		if (!A || !B || (am->t_E >= 0 && !E))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		for (int j = 0; j < r; j++) {
			if (!stored_kept(info, tn, i, j))
				continue;
			memcpy(A + (size_t)c * in, lr->Q + (size_t)j * in, sizeof(float) * (size_t)in);
			for (int o = 0; o < out; o++)
				B[(size_t)o * k + c] = lr->P[(size_t)o * r + j];
			if (E)
				E[c] = lr->g[j];
			c++;
		}
		if (tn->method.type == ADA_METHOD_LORA_PRUNE && k == 0)
			continue;   /* left out of target_modules: no tensors */
		if (mc->family == ADA_FAMILY_LLAMA && (am->module == MOD_Q || am->module == MOD_K)) {
			/* Our Q/K rows use adjacent RoPE pairs; PEFT adapters live
			 * on Hugging Face weights, whose rows are rotate-half. */
			int heads = am->module == MOD_Q ? mc->n_heads : mc->n_kv_heads;
			float *Bh = own(bufs, (size_t)out * k);
			if (!Bh)
				return ada_fail(err, ADA_ENOMEM, "out of memory");
			rope_rows_to_halves(Bh, B, heads, mc->head_dim, (size_t)k);
			B = Bh;
		}
		uint64_t sa[2] = { (uint64_t)k, (uint64_t)in }, sb[2] = { (uint64_t)out, (uint64_t)k };
		uint64_t se[2] = { (uint64_t)k, 1 };
		if ((rc = safetensors_writer_add_tensor(w, pa->t[am->t_A].name, 2, sa, A, ST_F32, err)) ||
		    (rc = safetensors_writer_add_tensor(w, pa->t[am->t_B].name, 2, sb, B, ST_F32, err)) ||
		    (E && (rc = safetensors_writer_add_tensor(w, pa->t[am->t_E].name, 2, se, E, ST_F32,
							       err))))
			return rc;
	}
	return ADA_OK;
}

/* Every other arena tensor (the head, the model's own weights a method
 * trained, bottlenecks) under its name; vectors as 1-D tensors. */
static int add_bound(struct safetensors_writer *w, const struct trained_net *tn,
		     struct owned_bufs *bufs, struct ada_err *err)
{
	const struct param_arena *pa = &tn->arena;
	const int head_dim = tn->model->cfg.head_dim;
	int rc;

	for (int i = 0; i < pa->n_tensors; i++) {
		const struct param_tensor *t = &pa->t[i];
		const struct tensor_binding *b = &tn->binds[i];
		const float *data = param_w(pa, i);
		uint64_t shape[2] = { (uint64_t)t->rows, (uint64_t)t->cols };

		if (!b->w)
			continue;
		if (b->rope_heads) {
			float *h = own(bufs, t->n);
			if (!h)
				return ada_fail(err, ADA_ENOMEM, "out of memory");
			rope_rows_to_halves(h, data, b->rope_heads, head_dim, (size_t)t->cols);
			data = h;
		}
		rc = safetensors_writer_add_tensor(w, t->name, t->cols == 1 ? 1 : 2, shape, data,
						   ST_F32, err);
		if (rc)
			return rc;
	}
	return ADA_OK;
}

int export_peft(const struct trained_net *tn, const struct export_info *info, const char *dir,
		struct ada_err *err)
{
	struct safetensors_writer *w = NULL;
	struct owned_bufs bufs = { 0 };
	json_t *cfg = NULL;
	char *path = NULL;
	int rc;

	if (is_classifier(tn) && !info->labels)
		return ada_fail(err, ADA_EINVAL, "a classifier's adapter needs its label map");
	if ((rc = mkdir_p(dir, 0755, err)) || (rc = safetensors_writer_new(&w, err)) ||
	    (rc = safetensors_writer_set_metadata(w, "format", "pt", err)) ||
	    (rc = add_adapters(w, tn, info, &bufs, err)) || (rc = add_bound(w, tn, &bufs, err)))
		goto out_free;
	path = path_join(dir, "adapter_model.safetensors");
	if (!path) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = safetensors_writer_write(w, path, err)))
		goto out_free;
	cfg = tn->method.type == ADA_METHOD_ADALORA ? adalora_config(tn, info) :
	      is_lora_family(tn) ? lora_config(tn, info) : own_config(tn, info);
	if ((rc = json_write_atomic(dir, "adapter_config.json", cfg, err)))
		goto out_free;
	if (is_classifier(tn)) {
		json_t *labels = labels_json(info, tn->spec.n_labels);
		rc = json_write_atomic(dir, "labels.json", labels, err);
		json_decref(labels);
	} else {
		/* another task's adapter has no label map, not even a stale one */
		remove_stale(dir, "labels.json");
	}
	if (!rc && is_qa(tn)) {
		json_t *q = qa_json(tn, info);
		rc = q ? json_write_atomic(dir, "qa.json", q, err) : ada_fail(err, ADA_ENOMEM, "out of memory");
		json_decref(q);
	} else if (!rc) {
		remove_stale(dir, "qa.json");
	}
out_free:
	owned_bufs_free(&bufs);
	safetensors_writer_free(w);
	json_decref(cfg);
	free(path);
	return rc;
}
