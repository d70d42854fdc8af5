/* peft_import — PEFT adapters onto a frozen network; see peft_import.h. */
#include "peft_import.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../format/safetensors.h"
#include "../util/alloc.h"
#include "../util/err.h"
#include "../util/fileio.h"

/* "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight" ->
 * layer 3, MOD_Q, part 'A'. Returns 0 on success. */
static int parse_key(const char *key, int *layer, int *module, char *part)
{
	static const char *const paths[N_LLAMA_MODULES] = {
		"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
	};
	const char *prefix = "base_model.model.model.layers.";
	const char *p;
	char *end;
	long l;

	if (strncmp(key, prefix, strlen(prefix)))
		return -1;
	p = key + strlen(prefix);
	l = strtol(p, &end, 10);
	if (end == p || *end != '.' || l < 0 || l > 100000)
		return -1;
	p = end + 1;
	for (int m = 0; m < N_LLAMA_MODULES; m++) {
		size_t n = strlen(paths[m]);
		if (strncmp(p, paths[m], n) || p[n] != '.')
			continue;
		p += n + 1;
		if (strncmp(p, "lora_", 5) || !strchr("ABE", p[5]) || !p[5])
			return -1;
		if (strcmp(p + 6, "") && strcmp(p + 6, ".weight"))
			return -1;
		*layer = (int)l;
		*module = m;
		*part = p[5];
		return 0;
	}
	return -1;
}

struct pending {
	const struct st_tensor *A, *B, *E;
};

static double number_field(const json_t *cfg, const char *key, double dflt)
{
	const json_t *v = json_object_get(cfg, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

static int refuse_option(const json_t *cfg, const char *key, const char *dir, struct ada_err *err)
{
	const json_t *v = json_object_get(cfg, key);

	if (!v || json_is_null(v) || json_is_false(v) ||
	    (json_is_string(v) && !strcmp(json_string_value(v), "none")) ||
	    (json_is_array(v) && json_array_size(v) == 0))
		return ADA_OK;
	return ada_fail(err, ADA_EUNSUPPORTED, "%s/adapter_config.json: '%s' is not supported", dir,
			key);
}

/* rank_pattern / alpha_pattern lookups keyed by module path (any suffix match). */
static double pattern_value(const json_t *pattern, const char *path, double dflt)
{
	const char *k;
	json_t *v;

	if (!json_is_object(pattern))
		return dflt;
	json_object_foreach((json_t *)pattern, k, v) {
		size_t lk = strlen(k), lp = strlen(path);
		if (json_is_number(v) &&
		    (!strcmp(k, path) || (lp > lk && !strcmp(path + lp - lk, k) && path[lp - lk - 1] == '.')))
			return json_number_value(v);
	}
	return dflt;
}

int peft_adapter_load(const char *dir, const struct model_config *cfg, struct peft_adapter *pa,
		      struct ada_err *err)
{
	const int L = cfg->n_layers;
	struct pending *pend = NULL;
	struct safetensors *st = NULL;
	json_t *conf = NULL;
	json_error_t jerr;
	char *cpath = path_join(dir, "adapter_config.json");
	char *wpath = path_join(dir, "adapter_model.safetensors");
	size_t total = 0;
	int rc, ada, n = 0;
	double alpha, r_default, init_r = 0;

	memset(pa, 0, sizeof(*pa));
	if (!cpath || !wpath) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	conf = json_load_file(cpath, 0, &jerr);
	if (!json_is_object(conf)) {
		rc = ada_fail(err, file_exists(cpath) ? ADA_EFORMAT : ADA_ENOTFOUND, "%s: %s", cpath,
			      file_exists(cpath) ? jerr.text : "not found");
		goto out_free;
	}
	{
		const char *t = json_string_value(json_object_get(conf, "peft_type"));
		if (!t || (strcmp(t, "LORA") && strcmp(t, "ADALORA"))) {
			rc = ada_fail(err, ADA_EUNSUPPORTED,
				      "%s: peft_type %s is not supported (LORA, ADALORA)", cpath,
				      t ? t : "(missing)");
			goto out_free;
		}
		snprintf(pa->peft_type, sizeof(pa->peft_type), "%s", t);
	}
	ada = !strcmp(pa->peft_type, "ADALORA");
	if ((rc = refuse_option(conf, "use_dora", dir, err)) ||
	    (rc = refuse_option(conf, "fan_in_fan_out", dir, err)) ||
	    (rc = refuse_option(conf, "modules_to_save", dir, err)))
		goto out_free;
	{
		const json_t *b = json_object_get(conf, "bias");
		if (b && !(json_is_string(b) && !strcmp(json_string_value(b), "none"))) {
			rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: bias other than \"none\" is not supported",
				      cpath);
			goto out_free;
		}
	}
	alpha = number_field(conf, "lora_alpha", 8);
	r_default = number_field(conf, "r", 8);
	if (ada) {
		init_r = number_field(conf, "init_r", 12);
		if (init_r < 1) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: init_r must be positive", cpath);
			goto out_free;
		}
	}

	if ((rc = safetensors_open(wpath, &st, err)))
		goto out_free;
	pend = xcalloc((size_t)L * N_LLAMA_MODULES, sizeof(*pend));
	if (!pend) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < st->n_tensors; i++) {
		const struct st_tensor *t = &st->tensors[i];
		int layer, module;
		char part;
		struct pending *p;

		if (parse_key(t->name, &layer, &module, &part) || layer >= L || (part == 'E' && !ada)) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s: tensor '%s' is not a %s adapter weight of a Llama module of this model (%d layers)",
				      wpath, t->name, pa->peft_type, L);
			goto out_free;
		}
		p = &pend[layer * N_LLAMA_MODULES + module];
		const struct st_tensor **slot = part == 'A' ? &p->A : part == 'B' ? &p->B : &p->E;
		if (*slot) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: '%s' appears twice", wpath, t->name);
			goto out_free;
		}
		*slot = t;
	}
	for (int i = 0; i < L * N_LLAMA_MODULES; i++) {
		struct pending *p = &pend[i];
		int out, in;
		uint64_t k;

		if (!p->A && !p->B && !p->E)
			continue;
		if (!p->A || !p->B || (ada && !p->E)) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: layer %d module %s: incomplete (lora_A, lora_B%s needed)",
				      wpath, i / N_LLAMA_MODULES,
				      llama_module_name(i % N_LLAMA_MODULES), ada ? ", lora_E" : "");
			goto out_free;
		}
		llama_module_shape(cfg, i % N_LLAMA_MODULES, &out, &in);
		k = p->A->n_dims == 2 ? p->A->shape[0] : 0;
		if (p->A->n_dims != 2 || p->A->shape[1] != (uint64_t)in || p->B->n_dims != 2 ||
		    p->B->shape[0] != (uint64_t)out || p->B->shape[1] != k || k > 4096 ||
		    (ada && (p->E->n_elements != k))) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s: layer %d module %s: shapes do not fit the model (%d x %d)",
				      wpath, i / N_LLAMA_MODULES, llama_module_name(i % N_LLAMA_MODULES),
				      out, in);
			goto out_free;
		}
		total += (size_t)k * (size_t)(in + out + 1) + 16;
		n++;
	}
	pa->mods = xcalloc((size_t)n + 1, sizeof(*pa->mods));
	pa->mem = xcalloc(total + 1, sizeof(float));
	if (!pa->mods || !pa->mem) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	{
		float *cur = pa->mem;
		for (int i = 0; i < L * N_LLAMA_MODULES; i++) {
			struct pending *p = &pend[i];
			struct peft_module *pm;
			int out, in, k, module = i % N_LLAMA_MODULES;
			char path[128];
			double scale, r_m, alpha_m;

			if (!p->A)
				continue;
			llama_module_shape(cfg, module, &out, &in);
			k = (int)p->A->shape[0];
			llama_module_hf_path(i / N_LLAMA_MODULES, module, path, sizeof(path));
			if (ada) {
				scale = alpha > 0 ? alpha / (init_r + 1e-5) : init_r / (init_r + 1e-5);
			} else {
				r_m = pattern_value(json_object_get(conf, "rank_pattern"), path, r_default);
				alpha_m = pattern_value(json_object_get(conf, "alpha_pattern"), path, alpha);
				if (r_m < 1) {
					rc = ada_fail(err, ADA_EFORMAT, "%s: rank of %s must be positive",
						      cpath, path);
					goto out_free;
				}
				scale = json_is_true(json_object_get(conf, "use_rslora")) ?
					alpha_m / sqrt(r_m) : alpha_m / r_m;
			}
			pm = &pa->mods[pa->n_mods++];
			pm->layer = i / N_LLAMA_MODULES;
			pm->module = module;
			pm->lr = lowrank_new(in, out, k, (real)scale, 0, i);
			if (!pm->lr) {
				rc = ada_fail(err, ADA_ENOMEM, "out of memory");
				goto out_free;
			}
			pm->lr->Q = cur;
			cur += (size_t)k * in;
			pm->lr->P = cur;
			cur += (size_t)k * out;
			pm->lr->g = cur;
			cur += (size_t)k + 16;
			if ((rc = safetensors_tensor_to_f32(st, p->A, pm->lr->Q, err)) ||
			    (rc = safetensors_tensor_to_f32(st, p->B, pm->lr->P, err)))
				goto out_free;
			if (ada) {
				if ((rc = safetensors_tensor_to_f32(st, p->E, pm->lr->g, err)))
					goto out_free;
			} else {
				for (int j = 0; j < k; j++)
					pm->lr->g[j] = 1;
			}
			if ((module == MOD_Q || module == MOD_K) && k > 0) {
				int heads = module == MOD_Q ? cfg->n_heads : cfg->n_kv_heads;
				float *tmp = xcalloc((size_t)out * k, sizeof(float));
				if (!tmp) {
					rc = ada_fail(err, ADA_ENOMEM, "out of memory");
					goto out_free;
				}
				rope_rows_to_pairs(tmp, pm->lr->P, heads, cfg->head_dim, (size_t)k);
				memcpy(pm->lr->P, tmp, sizeof(float) * (size_t)out * k);
				free(tmp);
			}
		}
	}
	rc = ADA_OK;
out_free:
	if (rc)
		peft_adapter_release(pa);
	free(pend);
	safetensors_close(st);
	json_decref(conf);
	free(cpath);
	free(wpath);
	return rc;
}

void peft_adapter_attach(struct peft_adapter *pa, struct llama_net *net)
{
	for (int i = 0; i < pa->n_mods; i++)
		net->blocks[pa->mods[i].layer].lin[pa->mods[i].module].adapter = &pa->mods[i].lr->base;
}

void peft_adapter_release(struct peft_adapter *pa)
{
	for (int i = 0; i < pa->n_mods; i++)
		adapter_free(&pa->mods[i].lr->base);
	free(pa->mods);
	free(pa->mem);
	memset(pa, 0, sizeof(*pa));
}
