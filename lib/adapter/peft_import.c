/* peft_import — adapters onto a frozen network; see peft_import.h. */
#include "adapter/peft_import.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format/safetensors.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "net/net_slots.h"

#define KEY_PREFIX "base_model.model."
#define MAX_ADAPTER_RANK 4096

/* The part after a module's path: ".lora_A", ".lora_B.weight", ... */
static int parse_part(const char *p, char *part)
{
	if (strncmp(p, "lora_", 5) || !p[5] || !strchr("ABE", p[5]))
		return -1;
	if (strcmp(p + 6, "") && strcmp(p + 6, ".weight"))
		return -1;
	*part = p[5];
	return 0;
}

/* BART: "base_model.model.model.decoder.layers.1.encoder_attn.k_proj.lora_A.weight"
 * -> the rank-matrix row of decoder layer 1, BART_CROSS_K, 'A'. */
static int parse_bart_key(const struct model_config *cfg, const char *key, int *layer,
			  int *module, char *part)
{
	char path[160];

	if (strncmp(key, KEY_PREFIX, strlen(KEY_PREFIX)))
		return -1;
	key += strlen(KEY_PREFIX);
	for (int l = 0; l < cfg->n_layers; l++)
		for (int m = 0; m < N_BART_MODULES; m++) {
			size_t n;

			if (!model_layer_has_module(cfg, l, m))
				continue;
			model_module_hf_path(cfg, l, m, path, sizeof(path));
			n = strlen(path);
			if (strncmp(key, path, n) || key[n] != '.')
				continue;
			if (parse_part(key + n + 1, part))
				return -1;
			*layer = l;
			*module = m;
			return 0;
		}
	return -1;
}

/* "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight" ->
 * layer 3, MOD_Q, part 'A' (BERT: "...bert.encoder.layer.3.attention.self.
 * query.lora_A.weight"). Returns 0 on success. */
static int parse_key(const struct model_config *cfg, const char *key, int *layer, int *module,
		     char *part)
{
	char layers[48], path[160];
	const char *p;
	char *end;
	long l;

	if (cfg->family == ADA_FAMILY_BART)
		return parse_bart_key(cfg, key, layer, module, part);
	if (cfg->family == ADA_FAMILY_BERT)
		snprintf(layers, sizeof(layers), "%s.encoder.layer.", bert_model_prefix(cfg));
	else
		snprintf(layers, sizeof(layers), "model.layers.");
	if (strncmp(key, KEY_PREFIX, strlen(KEY_PREFIX)))
		return -1;
	key += strlen(KEY_PREFIX);
	if (strncmp(key, layers, strlen(layers)))
		return -1;
	p = key + strlen(layers);
	l = strtol(p, &end, 10);
	if (end == p || *end != '.' || l < 0 || l >= cfg->n_layers)
		return -1;
	for (int m = 0; m < model_n_modules(cfg); m++) {
		size_t n;

		model_module_hf_path(cfg, (int)l, m, path, sizeof(path));
		n = strlen(path);
		if (strncmp(key, path, n) || key[n] != '.')
			continue;
		p = key + n + 1;
		if (strncmp(p, "lora_", 5) || !p[5] || !strchr("ABE", p[5]))
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

/* modules_to_save may name the head only ("classifier", "score": what
 * PEFT's sequence classification adds; "pooler", DeBERTa's ContextPooler,
 * which a DeBERTa classifier must save too), nothing else. */
static int check_modules_to_save(const json_t *conf, const char *cpath, struct ada_err *err)
{
	const json_t *v = json_object_get(conf, "modules_to_save");
	size_t i;
	json_t *it;

	if (!v || json_is_null(v))
		return ADA_OK;
	if (!json_is_array(v))
		return ada_fail(err, ADA_EFORMAT, "%s: modules_to_save must be a list", cpath);
	json_array_foreach(v, i, it) {
		const char *s = json_string_value(it);
		if (!s || (strcmp(s, "classifier") && strcmp(s, "score") && strcmp(s, "pooler") &&
			   strcmp(s, "qa_outputs")))
			return ada_fail(err, ADA_EUNSUPPORTED,
					"%s: modules_to_save '%s' is not supported (only a head: classifier, score, qa_outputs; DeBERTa's pooler)",
					cpath, s ? s : "?");
	}
	return ADA_OK;
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

static struct peft_tensor *find_tensor(struct peft_adapter *pa, const char *name)
{
	for (int i = 0; i < pa->n_tensors; i++)
		if (!strcmp(pa->tensors[i].name, name))
			return &pa->tensors[i];
	return NULL;
}

/* The head's output layer, whose rows are the labels. */
static const char *head_out_name(const struct model_config *cfg)
{
	if (cfg->family != ADA_FAMILY_BERT)
		return "score.weight";
	return strcmp(cfg->arch, "roberta") ? "classifier.weight" : "classifier.out_proj.weight";
}

static int is_head_name(const char *name)
{
	return !strncmp(name, "classifier.", 11) || !strncmp(name, "score.", 6) ||
	       !strncmp(name, "pooler.", 7);
}

static int is_qa_name(const char *name)
{
	return !strncmp(name, "qa_outputs.", 11);
}

/* qa.json (export_peft.c): the settings a QA job cut and scored with. */
static int load_qa(const char *dir, struct peft_adapter *pa, struct ada_err *err)
{
	char *path = path_join(dir, "qa.json");
	struct ada_method m;
	json_error_t jerr;
	json_t *j = NULL;
	int rc = ADA_OK;

	if (!path)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	ada_method_defaults(ADA_METHOD_LORA, &m);
	pa->qa_hp = m.hp;
	if (!file_exists(path))
		goto out_free;
	j = json_load_file(path, 0, &jerr);
	if (!json_is_object(j)) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: %s", path, j ? "not an object" : jerr.text);
		goto out_free;
	}
	pa->seq_len = (int)number_field(j, "seq_len", 0);
	pa->qa_hp.doc_stride = (int)number_field(j, "doc_stride", pa->qa_hp.doc_stride);
	pa->qa_hp.max_query_length = (int)number_field(j, "max_query_length",
						       pa->qa_hp.max_query_length);
	pa->qa_hp.max_answer_length = (int)number_field(j, "max_answer_length",
							pa->qa_hp.max_answer_length);
	pa->qa_hp.n_best_size = (int)number_field(j, "n_best_size", pa->qa_hp.n_best_size);
	pa->qa_hp.null_score_diff_threshold = number_field(j, "null_score_diff_threshold", 0);
	pa->qa_version_2 = json_is_true(json_object_get(j, "version_2_with_negative"));
	if (pa->seq_len < 0 || pa->seq_len > 1 << 20 || pa->qa_hp.doc_stride < 0 ||
	    pa->qa_hp.max_query_length < 1 || pa->qa_hp.max_answer_length < 1 ||
	    pa->qa_hp.n_best_size < 1 || pa->qa_hp.n_best_size > 1000 ||
	    !isfinite(pa->qa_hp.null_score_diff_threshold))
		rc = ada_fail(err, ADA_EFORMAT, "%s: a setting is out of range", path);
out_free:
	json_decref(j);
	free(path);
	return rc;
}

/* Keep a non-factor tensor, converted to f32. */
static int take_tensor(struct peft_adapter *pa, const struct safetensors *st,
		       const struct st_tensor *t, const char *wpath, struct ada_err *err)
{
	struct peft_tensor *pt = &pa->tensors[pa->n_tensors];

	if (t->n_dims < 1 || t->n_dims > 2 || t->n_elements == 0 ||
	    strlen(t->name) - strlen(KEY_PREFIX) >= sizeof(pt->name))
		return ada_fail(err, ADA_EFORMAT, "%s: tensor '%s' has an unusable shape", wpath,
				t->name);
	snprintf(pt->name, sizeof(pt->name), "%s", t->name + strlen(KEY_PREFIX));
	pt->n_dims = t->n_dims;
	pt->rows = t->n_dims == 2 ? t->shape[0] : 1;
	pt->cols = t->n_dims == 2 ? t->shape[1] : t->shape[0];
	pt->data = xcalloc((size_t)t->n_elements, sizeof(float));
	if (!pt->data)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	pa->n_tensors++;
	return safetensors_tensor_to_f32(st, t, pt->data, err);
}

/* labels.json (export_peft.h), or the label map a bare head implies. */
static int load_labels(const char *dir, struct peft_adapter *pa, struct ada_err *err)
{
	char *path = path_join(dir, "labels.json");
	struct label_map *lm = &pa->labels;
	json_error_t jerr;
	json_t *j = NULL;
	const char *kind;
	int rc = ADA_OK;

	if (!path)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	memset(lm, 0, sizeof(*lm));
	lm->n_labels = pa->n_labels;
	if (!file_exists(path)) {
		lm->kind = pa->n_labels == 1 ? ADA_LABEL_FLOAT : ADA_LABEL_INT;
		goto out_free;
	}
	j = json_load_file(path, 0, &jerr);
	kind = json_string_value(json_object_get(j, "label_kind"));
	if (!json_is_object(j) || !kind) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: %s", path, j ? "no label_kind" : jerr.text);
		goto out_free;
	}
	if (number_field(j, "num_labels", -1) != pa->n_labels) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: num_labels does not match the head's %d outputs",
			      path, pa->n_labels);
		goto out_free;
	}
	pa->seq_len = (int)number_field(j, "seq_len", 0);
	if (pa->seq_len < 0 || pa->seq_len > 1 << 20)
		pa->seq_len = 0;
	lm->kind = !strcmp(kind, "float") ? ADA_LABEL_FLOAT : !strcmp(kind, "string") ? ADA_LABEL_STRING :
		   !strcmp(kind, "int") ? ADA_LABEL_INT : ADA_LABEL_NONE;
	if (lm->kind == ADA_LABEL_NONE || (lm->kind == ADA_LABEL_FLOAT) != (pa->n_labels == 1)) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: label_kind '%s' does not fit %d outputs", path,
			      kind, pa->n_labels);
		goto out_free;
	}
	if (lm->kind == ADA_LABEL_STRING) {
		const json_t *names = json_object_get(j, "labels");
		if (json_array_size(names) != (size_t)pa->n_labels) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: labels must list %d names", path,
				      pa->n_labels);
			goto out_free;
		}
		lm->names = xcalloc((size_t)pa->n_labels, sizeof(*lm->names));
		if (!lm->names) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
		for (int i = 0; i < pa->n_labels; i++) {
			const char *s = json_string_value(json_array_get(names, (size_t)i));
			if (!s) {
				rc = ada_fail(err, ADA_EFORMAT, "%s: label %d is not a string", path, i);
				goto out_free;
			}
			if (!(lm->names[i] = xstrdup(s))) {
				rc = ada_fail(err, ADA_ENOMEM, "out of memory");
				goto out_free;
			}
		}
	}
out_free:
	json_decref(j);
	free(path);
	return rc;
}

/* The low-rank modules of a LORA / ADALORA file. */
static int load_modules(struct peft_adapter *pa, const struct model_config *cfg,
			const json_t *conf, struct pending *pend, const char *cpath,
			const char *wpath, struct safetensors *st, struct ada_err *err)
{
	const int L = cfg->n_layers, M = model_n_modules(cfg), ada = !strcmp(pa->peft_type, "ADALORA");
	const double alpha = number_field(conf, "lora_alpha", 8), r_default = number_field(conf, "r", 8);
	const double init_r = ada ? number_field(conf, "init_r", 12) : 0;
	size_t total = 0;
	int n = 0, rc;
	char path[160];

	if (ada && init_r < 1)
		return ada_fail(err, ADA_EFORMAT, "%s: init_r must be positive", cpath);
	for (int i = 0; i < L * M; i++) {
		struct pending *p = &pend[i];
		int out, in;
		uint64_t k;

		if (!p->A && !p->B && !p->E)
			continue;
		if (!p->A || !p->B || (ada && !p->E))
			return ada_fail(err, ADA_EFORMAT,
					"%s: layer %d module %s: incomplete (lora_A, lora_B%s needed)",
					wpath, i / M, model_module_name(cfg, i % M), ada ? ", lora_E" : "");
		model_module_shape(cfg, i % M, &out, &in);
		k = p->A->n_dims == 2 ? p->A->shape[0] : 0;
		if (p->A->n_dims != 2 || p->A->shape[1] != (uint64_t)in || p->B->n_dims != 2 ||
		    p->B->shape[0] != (uint64_t)out || p->B->shape[1] != k || k > MAX_ADAPTER_RANK ||
		    (ada && (p->E->n_elements != k)))
			return ada_fail(err, ADA_EFORMAT,
					"%s: layer %d module %s: shapes do not fit the model (%d x %d)",
					wpath, i / M, model_module_name(cfg, i % M), out, in);
		total += (size_t)k * (size_t)(in + 2 * out + 1) + 16;   /* A, B, B^T, E */
		n++;
	}
	pa->mods = xcalloc((size_t)n + 1, sizeof(*pa->mods));
	pa->mem = xcalloc(total + 1, sizeof(float));
	if (!pa->mods || !pa->mem)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	float *cur = pa->mem;
	for (int i = 0; i < L * M; i++) {
		struct pending *p = &pend[i];
		struct peft_module *pm;
		int out, in, k, module = i % M;
		double scale, r_m, alpha_m;

		if (!p->A)
			continue;
		model_module_shape(cfg, module, &out, &in);
		k = (int)p->A->shape[0];
		model_module_hf_path(cfg, i / M, module, path, sizeof(path));
		if (ada) {
			scale = alpha > 0 ? alpha / (init_r + 1e-5) : init_r / (init_r + 1e-5);
		} else {
			r_m = pattern_value(json_object_get(conf, "rank_pattern"), path, r_default);
			alpha_m = pattern_value(json_object_get(conf, "alpha_pattern"), path, alpha);
			if (r_m < 1)
				return ada_fail(err, ADA_EFORMAT, "%s: rank of %s must be positive", cpath,
						path);
			scale = json_is_true(json_object_get(conf, "use_rslora")) ? alpha_m / sqrt(r_m)
										  : alpha_m / r_m;
		}
		pm = &pa->mods[pa->n_mods++];
		pm->layer = i / M;
		pm->module = module;
		pm->lr = lowrank_new(in, out, k, (real)scale, 0, i);
		if (!pm->lr)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		pm->lr->Q = cur;
		cur += (size_t)k * in;
		pm->lr->P = cur;
		cur += (size_t)k * out;
		pm->lr->g = cur;
		cur += (size_t)k + 16;
		if ((rc = safetensors_tensor_to_f32(st, p->A, pm->lr->Q, err)) ||
		    (rc = safetensors_tensor_to_f32(st, p->B, pm->lr->P, err)))
			return rc;
		if (ada) {
			if ((rc = safetensors_tensor_to_f32(st, p->E, pm->lr->g, err)))
				return rc;
		} else {
			for (int j = 0; j < k; j++)
				pm->lr->g[j] = 1;
		}
		if (cfg->family == ADA_FAMILY_LLAMA && (module == MOD_Q || module == MOD_K) && k > 0) {
			int heads = module == MOD_Q ? cfg->n_heads : cfg->n_kv_heads;
			float *tmp = xcalloc((size_t)out * k, sizeof(float));
			if (!tmp)
				return ada_fail(err, ADA_ENOMEM, "out of memory");
			rope_rows_to_pairs(tmp, pm->lr->P, heads, cfg->head_dim, (size_t)k);
			memcpy(pm->lr->P, tmp, sizeof(float) * (size_t)out * k);
			free(tmp);
		}
		pm->lr->Pt = cur;
		cur += (size_t)k * out;
		for (int o = 0; o < out; o++)
			for (int j = 0; j < k; j++)
				pm->lr->Pt[(size_t)j * out + o] = pm->lr->P[(size_t)o * k + j];
	}
	return ADA_OK;
}

static const char *const peft_types[] = { "LORA", "ADALORA", "BITFIT", "BOTTLENECK", "FULL" };

static int read_config(const char *dir, const char *cpath, json_t *conf, struct peft_adapter *pa,
		       int *lora, struct ada_err *err)
{
	const char *t = json_string_value(json_object_get(conf, "peft_type"));
	const char *task = json_string_value(json_object_get(conf, "task_type"));
	size_t i;
	int rc;

	for (i = 0; t && i < sizeof(peft_types) / sizeof(peft_types[0]); i++)
		if (!strcmp(t, peft_types[i]))
			break;
	if (!t || i == sizeof(peft_types) / sizeof(peft_types[0]))
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: peft_type %s is not supported (LORA, ADALORA; ours: BITFIT, BOTTLENECK, FULL)",
				cpath, t ? t : "(missing)");
	snprintf(pa->peft_type, sizeof(pa->peft_type), "%s", t);
	*lora = i < 2;
	if (task && strcmp(task, "SEQ_CLS") && strcmp(task, "CAUSAL_LM") &&
	    strcmp(task, "QUESTION_ANS") && strcmp(task, "SEQ_2_SEQ_LM"))
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: task_type %s is not supported (CAUSAL_LM, SEQ_CLS, QUESTION_ANS, SEQ_2_SEQ_LM)",
				cpath, task);
	pa->classifier = task && !strcmp(task, "SEQ_CLS");
	pa->question_answering = task && !strcmp(task, "QUESTION_ANS");
	pa->seq2seq = task && !strcmp(task, "SEQ_2_SEQ_LM");
	if ((rc = check_modules_to_save(conf, cpath, err)))
		return rc;
	if (*lora) {
		const json_t *b = json_object_get(conf, "bias");
		if ((rc = refuse_option(conf, "use_dora", dir, err)) ||
		    (rc = refuse_option(conf, "fan_in_fan_out", dir, err)))
			return rc;
		if (b && !(json_is_string(b) && !strcmp(json_string_value(b), "none")))
			return ada_fail(err, ADA_EUNSUPPORTED,
					"%s: bias other than \"none\" is not supported", cpath);
	}
	if (!strcmp(t, "BOTTLENECK")) {
		const char *act = json_string_value(json_object_get(conf, "non_linearity"));
		double size = number_field(conf, "adapter_size", 0);

		if (size < 1 || size > 65536 || size != floor(size))
			return ada_fail(err, ADA_EFORMAT, "%s: adapter_size must be a positive integer",
					cpath);
		pa->adapter_size = (int)size;
		if (!act || !strcmp(act, "swish") || !strcmp(act, "silu"))
			pa->act = BOTTLENECK_SILU;
		else if (!strcmp(act, "gelu"))
			pa->act = BOTTLENECK_GELU;
		else if (!strcmp(act, "relu"))
			pa->act = BOTTLENECK_RELU;
		else
			return ada_fail(err, ADA_EUNSUPPORTED,
					"%s: non_linearity '%s' is not supported (swish, gelu, relu)",
					cpath, act);
	}
	return ADA_OK;
}

int peft_adapter_load(const char *dir, const struct model_config *cfg, struct peft_adapter *pa,
		      struct ada_err *err)
{
	const int L = cfg->n_layers, M = model_n_modules(cfg);
	struct pending *pend = NULL;
	struct safetensors *st = NULL;
	json_t *conf = NULL;
	json_error_t jerr;
	char *cpath = path_join(dir, "adapter_config.json");
	char *wpath = path_join(dir, "adapter_model.safetensors");
	int rc, lora = 0;

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
	if ((rc = read_config(dir, cpath, conf, pa, &lora, err)))
		goto out_free;
	if ((rc = safetensors_open(wpath, &st, err)))
		goto out_free;
	pend = xcalloc((size_t)L * M, sizeof(*pend));
	pa->tensors = xcalloc(st->n_tensors + 1, sizeof(*pa->tensors));
	if (!pend || !pa->tensors) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < st->n_tensors; i++) {
		const struct st_tensor *t = &st->tensors[i];
		int layer, module;
		char part;

		if (lora && !parse_key(cfg, t->name, &layer, &module, &part)) {
			struct pending *p = &pend[layer * M + module];
			const struct st_tensor **slot = part == 'A' ? &p->A : part == 'B' ? &p->B : &p->E;

			if (part == 'E' && strcmp(pa->peft_type, "ADALORA"))
				goto out_alien;
			if (*slot) {
				rc = ada_fail(err, ADA_EFORMAT, "%s: '%s' appears twice", wpath, t->name);
				goto out_free;
			}
			*slot = t;
			continue;
		}
		if (strncmp(t->name, KEY_PREFIX, strlen(KEY_PREFIX)) ||
		    (lora && !is_head_name(t->name + strlen(KEY_PREFIX)) &&
		     !is_qa_name(t->name + strlen(KEY_PREFIX))))
			goto out_alien;
		if ((rc = take_tensor(pa, st, t, wpath, err)))
			goto out_free;
		continue;
out_alien:
		rc = ada_fail(err, ADA_EFORMAT,
			      "%s: tensor '%s' is not a %s weight of a module of this model (%s, %d layers)%s",
			      wpath, t->name, pa->peft_type, cfg->arch, L,
			      lora ? " nor of a classifier's head" : "");
		goto out_free;
	}
	if (lora && (rc = load_modules(pa, cfg, conf, pend, cpath, wpath, st, err)))
		goto out_free;
	{
		const struct peft_tensor *out = find_tensor(pa, head_out_name(cfg));
		int heads = 0;
		for (int i = 0; i < pa->n_tensors; i++)
			heads += is_head_name(pa->tensors[i].name);
		if (pa->classifier && !out) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s: a sequence classification adapter without its head '%s%s'",
				      wpath, KEY_PREFIX, head_out_name(cfg));
			goto out_free;
		}
		if (pa->question_answering) {
			const struct peft_tensor *w = find_tensor(pa, "qa_outputs.weight");
			if (!w) {
				rc = ada_fail(err, ADA_EFORMAT,
					      "%s: a question answering adapter without its head '%sqa_outputs.weight'",
					      wpath, KEY_PREFIX);
				goto out_free;
			}
			if ((rc = load_qa(dir, pa, err)))
				goto out_free;
		} else if (find_tensor(pa, "qa_outputs.weight")) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s: qa_outputs tensors, but task_type is not QUESTION_ANS", cpath);
			goto out_free;
		}
		if (!pa->classifier && heads) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s: classifier head tensors, but task_type is not SEQ_CLS", cpath);
			goto out_free;
		}
		if (pa->classifier) {
			if (out->n_dims != 2 || out->cols != (uint64_t)cfg->dim || out->rows < 1 ||
			    out->rows > 100000) {
				rc = ada_fail(err, ADA_EFORMAT, "%s: %s%s must be [labels, %d]", wpath,
					      KEY_PREFIX, out->name, cfg->dim);
				goto out_free;
			}
			pa->n_labels = (int)out->rows;
			if ((rc = load_labels(dir, pa, err)))
				goto out_free;
		}
	}
	rc = ADA_OK;
out_free:
	free(pend);
	safetensors_close(st);
	json_decref(conf);
	free(cpath);
	free(wpath);
	return rc;
}

/* ---- attaching ---------------------------------------------------------- */

/* The tensor called name, of exactly [rows][cols] (rows 0: a vector), or
 * NULL with err filled. */
static float *claim(struct peft_adapter *pa, const char *name, uint64_t rows, uint64_t cols,
		    struct ada_err *err)
{
	struct peft_tensor *t = find_tensor(pa, name);

	if (!t) {
		ada_fail(err, ADA_EFORMAT, "%s adapter: '%s%s' is missing", pa->peft_type, KEY_PREFIX,
			 name);
		return NULL;
	}
	if ((rows ? t->n_dims != 2 || t->rows != rows : t->n_dims != 1) || t->cols != cols) {
		ada_fail(err, ADA_EFORMAT, "%s adapter: '%s%s' must be [%llu%s%llu]", pa->peft_type,
			 KEY_PREFIX, name, (unsigned long long)(rows ? rows : cols), rows ? ", " : "",
			 rows ? (unsigned long long)cols : 0ULL);
		return NULL;
	}
	t->used = 1;
	return t->data;
}

static int attach_head(struct peft_adapter *pa, const struct model_config *cfg,
		       struct seq_head *head, struct ada_err *err)
{
	const uint64_t D = (uint64_t)cfg->dim, C = (uint64_t)pa->n_labels;

	if (cfg->family != ADA_FAMILY_BERT) {
		head->out.w = claim(pa, "score.weight", C, D, err);
		return head->out.w ? ADA_OK : ADA_EFORMAT;
	}
	if (model_is_deberta(cfg)) {   /* the ContextPooler and the classifier */
		head->dense.w = claim(pa, "pooler.dense.weight", D, D, err);
		head->dense.b = head->dense.w ? claim(pa, "pooler.dense.bias", 0, D, err) : NULL;
		head->out.w = head->dense.b ? claim(pa, "classifier.weight", C, D, err) : NULL;
		head->out.b = head->out.w ? claim(pa, "classifier.bias", 0, C, err) : NULL;
		return head->out.b ? ADA_OK : ADA_EFORMAT;
	}
	if (strcmp(cfg->arch, "roberta")) {
		if (!head->dense.w)
			return ada_fail(err, ADA_EUNSUPPORTED,
					"the model has no pooler weights for the classifier to read");
		head->out.w = claim(pa, "classifier.weight", C, D, err);
		head->out.b = head->out.w ? claim(pa, "classifier.bias", 0, C, err) : NULL;
		return head->out.b ? ADA_OK : ADA_EFORMAT;
	}
	head->dense.w = claim(pa, "classifier.dense.weight", D, D, err);
	head->dense.b = head->dense.w ? claim(pa, "classifier.dense.bias", 0, D, err) : NULL;
	head->out.w = head->dense.b ? claim(pa, "classifier.out_proj.weight", C, D, err) : NULL;
	head->out.b = head->out.w ? claim(pa, "classifier.out_proj.bias", 0, C, err) : NULL;
	return head->out.b ? ADA_OK : ADA_EFORMAT;
}

static int attach_bottlenecks(struct peft_adapter *pa, const struct model_config *cfg,
			      struct llama_net *llama, struct bert_net *bert, struct ada_err *err)
{
	const uint64_t D = (uint64_t)cfg->dim, S = (uint64_t)pa->adapter_size;
	char path[160], name[200];

	pa->bns = xcalloc((size_t)cfg->n_layers * 2, sizeof(*pa->bns));
	if (!pa->bns)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < cfg->n_layers * 2; i++) {
		struct bottleneck *bn = bottleneck_new(cfg->dim, pa->adapter_size, pa->act);

		if (!bn)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		pa->bns[pa->n_bns++] = bn;
		net_bottleneck_path(cfg, i / 2, i % 2, path, sizeof(path));
#define PART(p, rows, cols) (snprintf(name, sizeof(name), "%s.%s", path, p), \
			     claim(pa, name, rows, cols, err))
		if (!(bn->w_down = PART("down.weight", S, D)) || !(bn->b_down = PART("down.bias", 0, S)) ||
		    !(bn->w_up = PART("up.weight", D, S)) || !(bn->b_up = PART("up.bias", 0, D)))
			return ADA_EFORMAT;
#undef PART
		if (bert && i % 2)
			bert->blocks[i / 2].bn_out = bn;
		else if (bert)
			bert->blocks[i / 2].bn_attn = bn;
		else if (i % 2)
			llama->blocks[i / 2].bn_ffn = bn;
		else
			llama->blocks[i / 2].bn_attn = bn;
	}
	return ADA_OK;
}

/* The model's own weights the adapter replaces, by Hugging Face name. */
static int attach_weights(struct peft_adapter *pa, const struct model_config *cfg,
			  struct llama_net *llama, struct bert_net *bert, struct seq_head *head,
			  struct ada_err *err)
{
	struct net_slots slots;
	int rc = ADA_OK;

	if (bert)
		rc = net_slots_bert(&slots, bert, head && head->dense.w && strcmp(cfg->arch, "roberta") &&
						  !model_is_deberta(cfg) ? &head->dense : NULL, cfg);
	else
		rc = net_slots_llama(&slots, llama, cfg, !pa->classifier);
	if (rc)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < pa->n_tensors && !rc; i++) {
		struct peft_tensor *t = &pa->tensors[i];
		const struct net_slot *s;

		if (t->used)
			continue;
		if (!(s = net_slots_find(&slots, t->name))) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s adapter: tensor '%s%s' is not a weight of this %s model",
				      pa->peft_type, KEY_PREFIX, t->name, cfg->arch);
			break;
		}
		if ((s->cols == 1 ? t->n_dims != 1 || t->cols != (uint64_t)s->rows
				  : t->n_dims != 2 || t->rows != (uint64_t)s->rows ||
				    t->cols != (uint64_t)s->cols)) {
			rc = ada_fail(err, ADA_EFORMAT, "%s adapter: '%s%s' does not have the model's shape",
				      pa->peft_type, KEY_PREFIX, t->name);
			break;
		}
		if (s->rope_heads) {
			size_t n = (size_t)t->rows * t->cols;
			float *pairs = xcalloc(n, sizeof(float));
			if (!pairs) {
				rc = ada_fail(err, ADA_ENOMEM, "out of memory");
				break;
			}
			rope_rows_to_pairs(pairs, t->data, s->rope_heads, cfg->head_dim,
					   s->cols == 1 ? 1 : (size_t)s->cols);
			free(t->data);
			t->data = pairs;
		}
		*s->w = t->data;
		t->used = 1;
	}
	net_slots_release(&slots);
	return rc;
}

int peft_adapter_attach_qa(struct peft_adapter *pa, const struct model_config *cfg,
			   struct linear *qa, struct ada_err *err)
{
	*qa = (struct linear){ .in = cfg->dim, .out = 2 };
	qa->w = claim(pa, "qa_outputs.weight", 2, (uint64_t)cfg->dim, err);
	qa->b = qa->w ? claim(pa, "qa_outputs.bias", 0, 2, err) : NULL;
	return qa->b ? ADA_OK : ADA_EFORMAT;
}

int peft_adapter_attach(struct peft_adapter *pa, const struct model_config *cfg,
			struct llama_net *llama, struct bert_net *bert, struct seq_head *head,
			struct ada_err *err)
{
	int rc;

	for (int i = 0; i < pa->n_mods; i++) {
		struct linear *lin = bert ? &bert->blocks[pa->mods[i].layer].lin[pa->mods[i].module]
					  : &llama->blocks[pa->mods[i].layer].lin[pa->mods[i].module];
		lin->adapter = &pa->mods[i].lr->base;
	}
	if (pa->classifier && (rc = attach_head(pa, cfg, head, err)))
		return rc;
	if (pa->adapter_size && (rc = attach_bottlenecks(pa, cfg, llama, bert, err)))
		return rc;
	return attach_weights(pa, cfg, llama, bert, head, err);
}

int peft_adapter_attach_bart(struct peft_adapter *pa, const struct model_config *cfg,
			     struct bart_net *bart, struct ada_err *err)
{
	if (strcmp(pa->peft_type, "LORA") && strcmp(pa->peft_type, "ADALORA"))
		return ada_fail(err, ADA_EUNSUPPORTED,
				"a %s adapter on a BART model is not supported (LORA, ADALORA are)",
				pa->peft_type);
	if (pa->classifier)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"a sequence classification adapter (SEQ_CLS) on a BART model is not supported");
	for (int i = 0; i < pa->n_tensors; i++)
		if (!pa->tensors[i].used)
			return ada_fail(err, ADA_EFORMAT,
					"%s adapter: tensor '%s%s' is not a weight of this %s model",
					pa->peft_type, KEY_PREFIX, pa->tensors[i].name, cfg->arch);
	for (int i = 0; i < pa->n_mods; i++)
		bart->blocks[pa->mods[i].layer].lin[pa->mods[i].module].adapter = &pa->mods[i].lr->base;
	return ADA_OK;
}

void peft_adapter_release(struct peft_adapter *pa)
{
	for (int i = 0; i < pa->n_mods; i++)
		if (pa->mods[i].lr)
			adapter_free(&pa->mods[i].lr->base);
	for (int i = 0; i < pa->n_tensors; i++)
		free(pa->tensors[i].data);
	for (int i = 0; i < pa->n_bns; i++)
		bottleneck_free(pa->bns[i]);
	label_map_release(&pa->labels);
	free(pa->bns);
	free(pa->tensors);
	free(pa->mods);
	free(pa->mem);
	memset(pa, 0, sizeof(*pa));
}
