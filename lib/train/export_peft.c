/* export_peft — PEFT-compatible adapter files; see export_peft.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../format/safetensors.h"
#include "../util/alloc.h"
#include "../util/err.h"
#include "../util/fileio.h"
#include "export_peft.h"

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

static const char *hf_leaf(enum llama_module m)
{
	static const char *leaf[] = { "q_proj", "k_proj", "v_proj", "o_proj",
				      "gate_proj", "up_proj", "down_proj" };
	return leaf[m];
}

static json_t *base_config(const struct trained_net *tn, const struct export_info *info)
{
	const struct ada_hparams *hp = &tn->method.hp;
	json_t *c = json_object();

	json_object_set_new(c, "task_type", json_string("CAUSAL_LM"));
	json_object_set_new(c, "base_model_name_or_path", json_string(info->base_model));
	json_object_set_new(c, "lora_alpha", json_real(hp->lora_alpha));
	json_object_set_new(c, "lora_dropout", json_real(hp->lora_dropout));
	json_object_set_new(c, "bias", json_string("none"));
	json_object_set_new(c, "fan_in_fan_out", json_false());
	json_object_set_new(c, "inference_mode", json_true());
	json_object_set_new(c, "init_lora_weights", json_true());
	json_object_set_new(c, "modules_to_save", json_null());
	json_object_set_new(c, "layers_to_transform", json_null());
	json_object_set_new(c, "layers_pattern", json_null());
	return c;
}

static json_t *target_names(unsigned mask)
{
	json_t *a = json_array();

	for (int m = 0; m < N_LLAMA_MODULES; m++)
		if (mask & (1u << m))
			json_array_append_new(a, json_string(hf_leaf(m)));
	return a;
}

static json_t *adalora_config(const struct trained_net *tn, const struct export_info *info)
{
	const struct ada_hparams *hp = &tn->method.hp;
	json_t *c = base_config(tn, info), *pattern = json_object();
	char path[160];

	json_object_set_new(c, "peft_type", json_string("ADALORA"));
	json_object_set_new(c, "target_modules", target_names(hp->target_modules));
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
		llama_module_hf_path(am->layer, am->module, path, sizeof(path));
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
		json_object_set_new(c, "target_modules", target_names(hp->target_modules));
	} else {
		for (int i = 0; i < tn->n_mods; i++) {
			const struct adapted_module *am = &tn->mods[i];
			int k = 0;
			for (int j = 0; j < am->init_r; j++)
				k += is_kept(info, tn, i, j);
			if (!k)
				continue;
			llama_module_hf_path(am->layer, am->module, path, sizeof(path));
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

int export_peft(const struct trained_net *tn, const struct export_info *info, const char *dir,
		struct ada_err *err)
{
	struct safetensors_writer *w = NULL;
	float **bufs = xcalloc((size_t)tn->n_mods * 4 + 1, sizeof(*bufs));
	json_t *cfg = NULL;
	char *path = NULL, *text = NULL;
	int rc, nb = 0;

	if (!bufs)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if ((rc = mkdir_p(dir, 0755, err)) || (rc = safetensors_writer_new(&w, err)) ||
	    (rc = safetensors_writer_set_metadata(w, "format", "pt", err)))
		goto out_free;
	for (int i = 0; i < tn->n_mods; i++) {
		const struct adapted_module *am = &tn->mods[i];
		const struct lowrank *lr = am->lr;
		const struct param_arena *pa = &tn->arena;
		const int r = lr->r, in = lr->base.in, out = lr->base.out;
		int k = 0, c = 0;
		float *A, *B, *E = NULL;

		for (int j = 0; j < r; j++)
			k += stored_kept(info, tn, i, j);
		A = bufs[nb++] = xcalloc((size_t)k * in + 1, sizeof(float));
		B = bufs[nb++] = xcalloc((size_t)out * k + 1, sizeof(float));
		if (am->t_E >= 0)
			E = bufs[nb++] = xcalloc((size_t)k + 1, sizeof(float));
		if (!A || !B || (am->t_E >= 0 && !E)) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
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
		if (am->module == MOD_Q || am->module == MOD_K) {
			/* Our Q/K rows use adjacent RoPE pairs; PEFT adapters live
			 * on Hugging Face weights, whose rows are rotate-half. */
			const struct model_config *mc = &tn->model->cfg;
			int heads = am->module == MOD_Q ? mc->n_heads : mc->n_kv_heads;
			float *Bh = bufs[nb++] = xcalloc((size_t)out * k + 1, sizeof(float));
			if (!Bh) {
				rc = ada_fail(err, ADA_ENOMEM, "out of memory");
				goto out_free;
			}
			rope_rows_to_halves(Bh, B, heads, mc->head_dim, (size_t)k);
			B = Bh;
		}
		uint64_t sa[2] = { (uint64_t)k, (uint64_t)in }, sb[2] = { (uint64_t)out, (uint64_t)k };
		uint64_t se[2] = { (uint64_t)k, 1 };
		if ((rc = safetensors_writer_add_tensor(w, pa->t[am->t_A].name, 2, sa, A, ST_F32, err)) ||
		    (rc = safetensors_writer_add_tensor(w, pa->t[am->t_B].name, 2, sb, B, ST_F32, err)) ||
		    (E && (rc = safetensors_writer_add_tensor(w, pa->t[am->t_E].name, 2, se, E, ST_F32,
							       err))))
			goto out_free;
	}
	path = path_join(dir, "adapter_model.safetensors");
	if (!path) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = safetensors_writer_write(w, path, err)))
		goto out_free;
	free(path);
	cfg = tn->method.type == ADA_METHOD_ADALORA ? adalora_config(tn, info) : lora_config(tn, info);
	text = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);
	path = path_join(dir, "adapter_config.json");
	if (!text || !path) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	rc = file_write_atomic(path, text, strlen(text), err);
out_free:
	for (int i = 0; i < nb; i++)
		free(bufs[i]);
	free(bufs);
	safetensors_writer_free(w);
	json_decref(cfg);
	free(text);
	free(path);
	return rc;
}
