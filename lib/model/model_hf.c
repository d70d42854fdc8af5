/*
 * model_hf — Hugging Face model directories -> struct model.
 *
 * A directory holds config.json (model_type llama, mistral or qwen2 here;
 * bert and roberta are model_bert.c's, which shares this file's helpers)
 * and the weights as safetensors: model.safetensors, or the shards named in
 * model.safetensors.index.json's weight_map, or else every *.safetensors
 * file in the directory. All shards stay open (mapped) as the model's
 * format_state, and a tensor is looked up across all of them (a name found
 * in two shards is an error, not a guess). Each shard remembers which of
 * its tensors the loader used, so the others (a classification head, a
 * language-model head) can be listed and read afterwards (model_extra_*).
 *
 * Config defaults follow the transformers classes of each model type
 * (LlamaConfig, MistralConfig, Qwen2Config), so a config loads here as it
 * would there: rope_theta 10000, rms_norm_eps 1e-6, tie_word_embeddings
 * false, num_key_value_heads = num_attention_heads (Mistral: 8), head_dim =
 * hidden_size / num_attention_heads, sliding_window 4096 for Mistral when
 * absent (null = none) and for Qwen2 only with use_sliding_window. The sizes
 * that define the model (hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, vocab_size, max_position_embeddings) have no sensible
 * default and are required. Features we do not implement (other
 * activations, RoPE scaling, attention/MLP biases outside qwen2's q/k/v,
 * quantized checkpoints) are refused by name.
 *
 * Hugging Face stores Q/K (and qwen2's q/k biases) in the rotate-half RoPE
 * layout; they are permuted into adjacent pairs on load (owned buffers).
 * Other F32 tensors point into the mapping when 4-byte aligned; F16/BF16
 * are widened into owned buffers. A missing lm_head.weight means the output
 * is tied to the embedding.
 */
#include "model/model_loader.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/quant.h"
#include "format/safetensors.h"
#include "util/alloc.h"
#include "util/err.h"

struct hf_shards {
	struct safetensors **st;   /* owned */
	uint8_t **used;            /* owned; per shard, per tensor: the loader took it */
	size_t n;
};

void hf_shards_free(void *state)
{
	struct hf_shards *sh = state;

	if (!sh)
		return;
	for (size_t i = 0; i < sh->n; i++) {
		safetensors_close(sh->st[i]);
		free(sh->used[i]);
	}
	free(sh->st);
	free(sh->used);
	free(sh);
}

/* ---- config.json ------------------------------------------------------ */

json_t *hf_member(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_null(v) ? NULL : v;
}

int hf_get_int(const char *path, json_t *root, const char *key, int dflt, int *out,
	       struct ada_err *err)
{
	json_t *v = hf_member(root, key);

	if (!v) {
		if (dflt < 0)
			return ada_fail_param(err, ADA_EFORMAT, key, "%s: missing '%s'", path, key);
		*out = dflt;
		return ADA_OK;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT_MAX)
		return ada_fail_param(err, ADA_EFORMAT, key,
				      "%s: '%s' must be a non-negative integer", path, key);
	*out = (int)json_integer_value(v);
	return ADA_OK;
}

int hf_get_float(const char *path, json_t *obj, const char *key, double dflt, float *out,
		 struct ada_err *err)
{
	json_t *v = hf_member(obj, key);

	if (!v) {
		*out = (float)dflt;
		return ADA_OK;
	}
	if (!json_is_number(v))
		return ada_fail_param(err, ADA_EFORMAT, key, "%s: '%s' must be a number", path, key);
	*out = (float)json_number_value(v);
	return ADA_OK;
}

int hf_get_bool(const char *path, json_t *root, const char *key, int dflt, int *out,
		struct ada_err *err)
{
	json_t *v = hf_member(root, key);

	if (!v) {
		*out = dflt;
		return ADA_OK;
	}
	if (!json_is_boolean(v))
		return ada_fail_param(err, ADA_EFORMAT, key, "%s: '%s' must be true or false",
				      path, key);
	*out = json_is_true(v);
	return ADA_OK;
}

/* RoPE variants other than the default change the frequencies: refuse. */
static int check_rope_type(const char *path, json_t *obj, const char *key, struct ada_err *err)
{
	json_t *type;

	if (!obj)
		return ADA_OK;
	if (!json_is_object(obj))
		return ada_fail_param(err, ADA_EFORMAT, key, "%s: '%s' must be an object", path, key);
	type = hf_member(obj, "rope_type");
	if (!type)
		type = hf_member(obj, "type");
	if (!type || (json_is_string(type) && !strcmp(json_string_value(type), "default")))
		return ADA_OK;
	return ada_fail_param(err, ADA_EUNSUPPORTED, key, "%s: %s type '%s' is not supported",
			      path, key, json_is_string(type) ? json_string_value(type) : "?");
}

static int refuse_unsupported(const char *path, json_t *root, struct ada_err *err)
{
	static const char *const bias_flags[] = { "attention_bias", "mlp_bias" };
	json_t *act = hf_member(root, "hidden_act");
	int rc, flag;

	if (act && (!json_is_string(act) || strcmp(json_string_value(act), "silu")))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "hidden_act",
				      "%s: hidden_act '%s' is not supported (silu)", path,
				      json_is_string(act) ? json_string_value(act) : "?");
	for (size_t i = 0; i < sizeof(bias_flags) / sizeof(bias_flags[0]); i++) {
		rc = hf_get_bool(path, root, bias_flags[i], 0, &flag, err);
		if (rc)
			return rc;
		if (flag)
			return ada_fail_param(err, ADA_EUNSUPPORTED, bias_flags[i],
					      "%s: %s = true is not supported", path, bias_flags[i]);
	}
	if (hf_member(root, "quantization_config"))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "quantization_config",
				      "%s: quantized checkpoints are not supported", path);
	if ((rc = check_rope_type(path, hf_member(root, "rope_scaling"), "rope_scaling", err)) ||
	    (rc = check_rope_type(path, hf_member(root, "rope_parameters"), "rope_parameters", err)))
		return rc;
	return ADA_OK;
}

/* Mistral: absent = 4096, null = none; Qwen2: only with use_sliding_window. */
static int read_sliding_window(const char *path, json_t *root, struct model_config *cfg,
			       struct ada_err *err)
{
	int use = 0, rc;

	if (!strcmp(cfg->arch, "mistral"))
		use = 1;
	else if (!strcmp(cfg->arch, "qwen2") &&
		 (rc = hf_get_bool(path, root, "use_sliding_window", 0, &use, err)))
		return rc;
	if (!use) {
		cfg->sliding_window = 0;
		return ADA_OK;
	}
	if (json_is_null(json_object_get(root, "sliding_window"))) {
		cfg->sliding_window = 0;
		return ADA_OK;
	}
	return hf_get_int(path, root, "sliding_window", 4096, &cfg->sliding_window, err);
}

static int parse_config(const char *path, json_t *root, struct model_config *cfg,
			struct ada_err *err)
{
	static const char *const types[] = { "llama", "mistral", "qwen2" };
	json_t *mt, *rope_params;
	int known = 0, rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!json_is_object(root))
		return ada_fail(err, ADA_EFORMAT, "%s: not a JSON object", path);
	mt = hf_member(root, "model_type");
	if (!json_is_string(mt))
		return ada_fail_param(err, ADA_EFORMAT, "model_type", "%s: missing 'model_type'",
				      path);
	if (!strcmp(json_string_value(mt), "bert") || !strcmp(json_string_value(mt), "roberta"))
		return bert_parse_config(path, root, cfg, err);
	if (!strcmp(json_string_value(mt), "deberta-v2"))
		return deberta_parse_config(path, root, cfg, err);
	if (!strcmp(json_string_value(mt), "bart"))
		return bart_parse_config(path, root, cfg, err);
	if (!strcmp(json_string_value(mt), "mbart"))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "model_type",
				      "%s: model_type 'mbart' is not supported: its pre-LayerNorm layers (normalize_before) are not implemented; bart is",
				      path);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		known |= !strcmp(json_string_value(mt), types[i]);
	if (!known)
		return ada_fail_param(err, ADA_EUNSUPPORTED, "model_type",
				      "%s: model_type '%s' is not supported (llama, mistral, qwen2, "
				      "bert, roberta, deberta-v2, bart)", path, json_string_value(mt));
	cfg->family = ADA_FAMILY_LLAMA;
	snprintf(cfg->arch, sizeof(cfg->arch), "%s", json_string_value(mt));
	if ((rc = refuse_unsupported(path, root, err)) ||
	    (rc = hf_get_int(path, root, "hidden_size", -1, &cfg->dim, err)) ||
	    (rc = hf_get_int(path, root, "intermediate_size", -1, &cfg->hidden_dim, err)) ||
	    (rc = hf_get_int(path, root, "num_hidden_layers", -1, &cfg->n_layers, err)) ||
	    (rc = hf_get_int(path, root, "num_attention_heads", -1, &cfg->n_heads, err)) ||
	    (rc = hf_get_int(path, root, "vocab_size", -1, &cfg->vocab_size, err)) ||
	    (rc = hf_get_int(path, root, "max_position_embeddings", -1, &cfg->context_length, err)) ||
	    (rc = hf_get_int(path, root, "num_key_value_heads",
			  !strcmp(cfg->arch, "mistral") ? 8 : cfg->n_heads, &cfg->n_kv_heads, err)) ||
	    (rc = hf_get_float(path, root, "rms_norm_eps", 1e-6, &cfg->norm_eps, err)) ||
	    (rc = hf_get_bool(path, root, "tie_word_embeddings", 0, &cfg->tied_output, err)) ||
	    (rc = read_sliding_window(path, root, cfg, err)))
		return rc;
	/* transformers 5 moved rope_theta into rope_parameters. */
	rope_params = hf_member(root, "rope_parameters");
	if (!hf_member(root, "rope_theta") && json_is_object(rope_params))
		rc = hf_get_float(path, rope_params, "rope_theta", 10000.0, &cfg->rope_theta, err);
	else
		rc = hf_get_float(path, root, "rope_theta", 10000.0, &cfg->rope_theta, err);
	if (rc)
		return rc;
	if (!hf_member(root, "head_dim") && (cfg->n_heads <= 0 || cfg->dim % cfg->n_heads))
		return ada_fail_param(err, ADA_EFORMAT, "head_dim",
				      "%s: hidden_size (%d) is not a multiple of num_attention_heads (%d) and head_dim is not given",
				      path, cfg->dim, cfg->n_heads);
	rc = hf_get_int(path, root, "head_dim", cfg->n_heads > 0 ? cfg->dim / cfg->n_heads : 0,
		     &cfg->head_dim, err);
	if (rc)
		return rc;
	cfg->qkv_bias = !strcmp(cfg->arch, "qwen2");
	return model_config_check(cfg, path, err);
}

static int read_config(const char *dir, struct model_config *cfg, struct ada_err *err)
{
	char *path = path_join(dir, "config.json"), *text = NULL;
	json_error_t jerr;
	json_t *root;
	size_t len;
	int rc;

	if (!path)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = file_read_all(path, &text, &len, err);
	if (rc)
		goto out_free;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: invalid JSON at line %d: %s", path, jerr.line,
			      jerr.text);
		goto out_free;
	}
	rc = parse_config(path, root, cfg, err);
	json_decref(root);
out_free:
	free(text);
	free(path);
	return rc;
}

/* ---- weight files ----------------------------------------------------- */

struct name_list {
	char **v;       /* owned strings */
	size_t n;
};

static void name_list_release(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int name_list_add(struct name_list *l, const char *s)
{
	char **v = xreallocarray(l->v, l->n + 1, sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -1;
	l->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A shard name from an index must stay inside the directory. */
static int plain_file_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/* The distinct shard names in model.safetensors.index.json's weight_map. */
static int shards_from_index(const char *index_path, struct name_list *names,
			     struct ada_err *err)
{
	json_error_t jerr;
	json_t *root, *map, *v;
	const char *key;
	char *text;
	size_t len, kept = 0;
	int rc;

	rc = file_read_all(index_path, &text, &len, err);
	if (rc)
		return rc;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!root)
		return ada_fail(err, ADA_EFORMAT, "%s: invalid JSON at line %d: %s", index_path,
				jerr.line, jerr.text);
	map = json_object_get(root, "weight_map");
	if (!json_is_object(map) || !json_object_size(map)) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: no 'weight_map' object", index_path);
		goto out_free;
	}
	json_object_foreach(map, key, v) {
		if (!json_is_string(v) || !plain_file_name(json_string_value(v))) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: weight_map entry '%s' is not a file name",
				      index_path, key);
			goto out_free;
		}
		if (name_list_add(names, json_string_value(v))) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
	}
	qsort(names->v, names->n, sizeof(*names->v), cmp_str);
	for (size_t i = 0; i < names->n; i++) {
		if (kept && !strcmp(names->v[kept - 1], names->v[i]))
			free(names->v[i]);
		else
			names->v[kept++] = names->v[i];
	}
	names->n = kept;
out_free:
	json_decref(root);
	return rc;
}

static int is_safetensors_name(const struct dirent *d)
{
	size_t len = strlen(d->d_name), ext = strlen(".safetensors");

	return len > ext && !strcmp(d->d_name + len - ext, ".safetensors");
}

static int shards_from_listing(const char *dir, struct name_list *names, struct ada_err *err)
{
	struct dirent **list;
	int n = scandir(dir, &list, is_safetensors_name, alphasort), rc = ADA_OK;

	if (n < 0)
		return ada_fail(err, ADA_EIO, "%s: cannot list the directory", dir);
	for (int i = 0; i < n; i++) {
		if (!rc && name_list_add(names, list[i]->d_name))
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		free(list[i]);
	}
	free(list);
	return rc;
}

/* Which files hold the weights: see the top of the file. */
static int find_weight_files(const char *dir, struct name_list *names, struct ada_err *err)
{
	char *single = path_join(dir, "model.safetensors");
	char *index = path_join(dir, "model.safetensors.index.json");
	char *torch = path_join(dir, "pytorch_model.bin");
	int rc = ADA_OK;

	if (!single || !index || !torch) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if (file_exists(single)) {
		if (name_list_add(names, "model.safetensors"))
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	} else if (file_exists(index)) {
		rc = shards_from_index(index, names, err);
	} else {
		rc = shards_from_listing(dir, names, err);
	}
	if (!rc && !names->n)
		rc = ada_fail(err, ADA_ENOTFOUND,
			      "%s: no safetensors weights (model.safetensors, model.safetensors.index.json or *.safetensors)%s",
			      dir, file_exists(torch) ?
			      "; PyTorch .bin weights are not supported, convert them to safetensors" : "");
out_free:
	free(single);
	free(index);
	free(torch);
	return rc;
}

int hf_open_shards(const char *dir, struct hf_shards **out, struct ada_err *err)
{
	struct name_list names = { 0 };
	struct hf_shards *sh;
	int rc;

	*out = NULL;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = find_weight_files(dir, &names, err);
	if (rc)
		goto out_free;
	sh->st = xcalloc(names.n, sizeof(*sh->st));
	sh->used = xcalloc(names.n, sizeof(*sh->used));
	if (!sh->st || !sh->used) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < names.n; i++) {
		char *p = path_join(dir, names.v[i]);

		if (!p) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
		rc = safetensors_open(p, &sh->st[i], err);
		free(p);
		if (rc)
			goto out_free;
		sh->n = i + 1;
		sh->used[i] = xcalloc(sh->st[i]->n_tensors ? sh->st[i]->n_tensors : 1,
				      sizeof(*sh->used[i]));
		if (!sh->used[i]) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
	}
	*out = sh;
	sh = NULL;
out_free:
	hf_shards_free(sh);
	name_list_release(&names);
	return rc;
}

/* The shard holding name (NULL when none), refusing a name held twice;
 * *shard is its index. */
static int find_tensor_at(const struct hf_shards *sh, const char *name,
			  const struct safetensors **st, const struct st_tensor **t,
			  size_t *shard, struct ada_err *err)
{
	*st = NULL;
	*t = NULL;
	for (size_t i = 0; i < sh->n; i++) {
		const struct st_tensor *x = safetensors_find(sh->st[i], name);

		if (!x)
			continue;
		if (*t)
			return ada_fail(err, ADA_EFORMAT, "tensor '%s' is in both %s and %s", name,
					(*st)->file.path, sh->st[i]->file.path);
		*st = sh->st[i];
		*t = x;
		*shard = i;
	}
	return ADA_OK;
}

static int find_tensor(const struct hf_shards *sh, const char *name,
		       const struct safetensors **st, const struct st_tensor **t,
		       struct ada_err *err)
{
	size_t shard;

	return find_tensor_at(sh, name, st, t, &shard, err);
}

int hf_has_tensor(const struct hf_shards *sh, const char *name, int *found, struct ada_err *err)
{
	const struct safetensors *st;
	const struct st_tensor *t;
	int rc = find_tensor(sh, name, &st, &t, err);

	*found = t != NULL;
	return rc;
}

/* A missing lm_head means the output is the embedding. */
static int resolve_tied(const struct hf_shards *sh, struct model_config *cfg,
			struct ada_err *err)
{
	const struct safetensors *st;
	const struct st_tensor *t;
	int rc;

	if (cfg->tied_output)
		return ADA_OK;
	rc = find_tensor(sh, "lm_head.weight", &st, &t, err);
	if (!rc && !t)
		cfg->tied_output = 1;
	return rc;
}

/* ---- weights ---------------------------------------------------------- */

static void shape_str(const struct st_tensor *t, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "[");

	for (uint32_t d = 0; d < t->n_dims && n < cap; d++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%llu", d ? ", " : "",
				      (unsigned long long)t->shape[d]);
	if (n < cap)
		snprintf(buf + n, cap - n, "]");
}

/* t must be [rows, cols] ([cols] when rows = 0) of a dtype we convert. */
static int check_tensor(const struct safetensors *st, const struct st_tensor *t,
			const char *name, uint64_t rows, uint64_t cols, struct ada_err *err)
{
	if (rows ? t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols
		 : t->n_dims != 1 || t->shape[0] != cols) {
		char have[128];

		shape_str(t, have, sizeof(have));
		if (rows)
			return ada_fail(err, ADA_EFORMAT,
					"%s: tensor '%s' has shape %s but the config needs [%llu, %llu]",
					st->file.path, name, have, (unsigned long long)rows,
					(unsigned long long)cols);
		return ada_fail(err, ADA_EFORMAT,
				"%s: tensor '%s' has shape %s but the config needs [%llu]",
				st->file.path, name, have, (unsigned long long)cols);
	}
	if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported",
				st->file.path, name, st_dtype_name(t->dtype));
	return ADA_OK;
}

struct st_source {
	const struct safetensors *st;
	const struct st_tensor *t;
};

static int st_convert(const void *ctx, float *dst, struct ada_err *err)
{
	const struct st_source *src = ctx;

	return safetensors_tensor_to_f32(src->st, src->t, dst, err);
}

int hf_weight(struct model *m, struct hf_shards *sh, const char *name, uint64_t rows,
	      uint64_t cols, int perm_heads, const float **out, struct ada_err *err)
{
	const struct safetensors *st;
	const struct st_tensor *t;
	size_t shard = 0;
	int rc;

	rc = find_tensor_at(sh, name, &st, &t, &shard, err);
	if (rc)
		return ada_err_prefix(err, rc, "%s", m->path);
	if (!t)
		return ada_fail(err, ADA_EFORMAT, "%s: missing tensor '%s'", m->path, name);
	rc = check_tensor(st, t, name, rows, cols, err);
	if (rc)
		return rc;
	sh->used[shard][t - st->tensors] = 1;
	{
		const struct st_source src = { st, t };
		return model_place_tensor(m, name, t->dtype == ST_F32 ? t->data : NULL,
					  (size_t)t->n_elements, st_convert, &src, perm_heads, rows,
					  cols, out, err);
	}
}

int hf_matrix(struct model *m, struct hf_shards *sh, const char *name, uint64_t rows,
	      uint64_t cols, int perm_heads, struct frozen_mat *out, struct ada_err *err)
{
	const struct safetensors *st;
	const struct st_tensor *t;
	size_t shard = 0;
	uint32_t type;
	int rc;

	rc = find_tensor_at(sh, name, &st, &t, &shard, err);
	if (rc)
		return ada_err_prefix(err, rc, "%s", m->path);
	if (!t)
		return ada_fail(err, ADA_EFORMAT, "%s: missing tensor '%s'", m->path, name);
	rc = check_tensor(st, t, name, rows, cols, err);
	if (rc)
		return rc;
	switch (t->dtype) {
	case ST_F32: type = GGML_TYPE_F32; break;
	case ST_F16: type = GGML_TYPE_F16; break;
	case ST_BF16: type = GGML_TYPE_BF16; break;
	default:
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported",
				st->file.path, name, st_dtype_name(t->dtype));
	}
	sh->used[shard][t - st->tensors] = 1;
	return model_place_matrix(m, name, t->data, type, rows, cols, perm_heads, out, err);
}

static int load_layer(struct model *m, struct hf_shards *sh, int i, struct ada_err *err)
{
	const struct model_config *c = &m->cfg;
	struct model_layer *l = &m->layers[i];
	uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
	uint64_t q = (uint64_t)c->n_heads * (uint64_t)c->head_dim;
	uint64_t kv = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
	char name[128];
	int rc;

#define W(field, suffix, rows, cols, heads) do { \
		snprintf(name, sizeof(name), "model.layers.%d.%s", i, suffix); \
		rc = hf_weight(m, sh, name, rows, cols, heads, &l->field, err); \
		if (rc) \
			return rc; \
	} while (0)
#define M(field, suffix, rows, cols, heads) do { \
		snprintf(name, sizeof(name), "model.layers.%d.%s", i, suffix); \
		rc = hf_matrix(m, sh, name, rows, cols, heads, &l->field, err); \
		if (rc) \
			return rc; \
	} while (0)
	W(attn_norm, "input_layernorm.weight", 0, dim, 0);
	M(wq, "self_attn.q_proj.weight", q, dim, c->n_heads);
	M(wk, "self_attn.k_proj.weight", kv, dim, c->n_kv_heads);
	M(wv, "self_attn.v_proj.weight", kv, dim, 0);
	M(wo, "self_attn.o_proj.weight", dim, q, 0);
	if (c->qkv_bias) {
		W(bq, "self_attn.q_proj.bias", 0, q, c->n_heads);
		W(bk, "self_attn.k_proj.bias", 0, kv, c->n_kv_heads);
		W(bv, "self_attn.v_proj.bias", 0, kv, 0);
	}
	W(ffn_norm, "post_attention_layernorm.weight", 0, dim, 0);
	M(w_gate, "mlp.gate_proj.weight", hidden, dim, 0);
	M(w_up, "mlp.up_proj.weight", hidden, dim, 0);
	M(w_down, "mlp.down_proj.weight", dim, hidden, 0);
#undef W
#undef M
	return ADA_OK;
}

int model_load_hf(struct model *m, struct ada_err *err)
{
	struct hf_shards *sh;
	uint64_t dim, vocab;
	int rc;

	snprintf(m->format, sizeof(m->format), "hf");
	rc = read_config(m->path, &m->cfg, err);
	if (rc)
		return rc;
	rc = hf_open_shards(m->path, &sh, err);
	if (rc)
		return rc;
	m->format_state = sh;
	m->format_free = hf_shards_free;
	if (m->cfg.family == ADA_FAMILY_BERT)
		return bert_load_hf(m, sh, err);
	if (m->cfg.family == ADA_FAMILY_BART)
		return bart_load_hf(m, sh, err);
	rc = resolve_tied(sh, &m->cfg, err);
	if (!rc)
		rc = model_alloc_layers(m, err);
	if (rc)
		return rc;
	dim = (uint64_t)m->cfg.dim;
	vocab = (uint64_t)m->cfg.vocab_size;
	rc = hf_matrix(m, sh, "model.embed_tokens.weight", vocab, dim, 0, &m->tok_emb, err);
	for (int i = 0; i < m->cfg.n_layers && !rc; i++)
		rc = load_layer(m, sh, i, err);
	if (!rc)
		rc = hf_weight(m, sh, "model.norm.weight", 0, dim, 0, &m->final_norm, err);
	if (rc)
		return rc;
	if (m->cfg.tied_output)
		m->output = m->tok_emb;
	else
		rc = hf_matrix(m, sh, "lm_head.weight", vocab, dim, 0, &m->output, err);
	return rc;
}

int hf_probe(const char *dir, struct model_config *cfg, int *has_tokenizer,
	     struct weight_summary *ws, struct ada_err *err)
{
	struct hf_shards *sh;
	char *tok, *vocab, *spm, *gpt2_vocab, *gpt2_merges;
	int rc;

	rc = read_config(dir, cfg, err);
	if (rc)
		return rc;
	rc = hf_open_shards(dir, &sh, err);
	if (rc)
		return rc;
	if (cfg->family == ADA_FAMILY_BERT)
		rc = bert_resolve_hf(dir, sh, cfg, NULL, 0, err);
	else if (cfg->family == ADA_FAMILY_BART)
		rc = bart_resolve_hf(dir, sh, NULL, 0, err);
	else
		rc = resolve_tied(sh, cfg, err);
	memset(ws, 0, sizeof(*ws));
	for (size_t i = 0; i < sh->n; i++)
		for (size_t k = 0; k < sh->st[i]->n_tensors; k++) {
			const struct st_tensor *t = &sh->st[i]->tensors[k];
			if (t->n_dims != 2)
				continue;
			ws->types |= 1ull << (t->dtype == ST_F16 ? GGML_TYPE_F16 : t->dtype == ST_BF16 ?
					      GGML_TYPE_BF16 : GGML_TYPE_F32);
			ws->bytes += (int64_t)t->n_bytes;
		}
	hf_shards_free(sh);
	if (rc)
		return rc;
	tok = path_join(dir, "tokenizer.json");
	vocab = path_join(dir, "vocab.txt");
	spm = path_join(dir, "spm.model");
	gpt2_vocab = path_join(dir, "vocab.json");
	gpt2_merges = path_join(dir, "merges.txt");
	if (!tok || !vocab || !spm || !gpt2_vocab || !gpt2_merges)
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	else    /* what model_open_tokenizer() loads: tokenizer.json, or for BERT
		 * directories (which often carry only WordPiece's) vocab.txt, or
		 * SentencePiece's spm.model (DeBERTa-v2/v3), or for BART vocab.json
		 * with merges.txt */
		*has_tokenizer = file_exists(tok) || file_exists(spm) ||
				 (cfg->family == ADA_FAMILY_BERT && file_exists(vocab)) ||
				 (cfg->family == ADA_FAMILY_BART && file_exists(gpt2_vocab) &&
				  file_exists(gpt2_merges));
	free(tok);
	free(vocab);
	free(spm);
	free(gpt2_vocab);
	free(gpt2_merges);
	return rc;
}

/* ---- tensors the loader did not use ------------------------------------ */

static const struct hf_shards *hf_state(const struct model *m)
{
	return strcmp(m->format, "hf") ? NULL : m->format_state;
}

size_t model_extra_count(const struct model *m)
{
	const struct hf_shards *sh = hf_state(m);
	size_t n = 0;

	for (size_t i = 0; sh && i < sh->n; i++)
		for (size_t k = 0; k < sh->st[i]->n_tensors; k++)
			n += !sh->used[i][k];
	return n;
}

const char *model_extra_name(const struct model *m, size_t idx)
{
	const struct hf_shards *sh = hf_state(m);

	for (size_t i = 0; sh && i < sh->n; i++)
		for (size_t k = 0; k < sh->st[i]->n_tensors; k++)
			if (!sh->used[i][k] && !idx--)
				return sh->st[i]->tensors[k].name;
	return NULL;
}

/* The unused tensor called name, or ADA_ENOTFOUND. */
static int find_extra(const struct model *m, const char *name, const struct safetensors **st,
		      const struct st_tensor **t, struct ada_err *err)
{
	const struct hf_shards *sh = hf_state(m);
	size_t shard = 0;
	int rc;

	if (!sh)
		return ada_fail(err, ADA_ENOTFOUND, "%s: a %s model has no extra tensors", m->path,
				m->format);
	rc = find_tensor_at(sh, name, st, t, &shard, err);
	if (rc)
		return ada_err_prefix(err, rc, "%s", m->path);
	if (!*t || sh->used[shard][*t - (*st)->tensors])
		return ada_fail(err, ADA_ENOTFOUND, "%s: no extra tensor '%s'", m->path, name);
	return ADA_OK;
}

int model_extra_shape(const struct model *m, const char *name, uint64_t *rows, uint64_t *cols,
		      struct ada_err *err)
{
	const struct safetensors *st = NULL;
	const struct st_tensor *t = NULL;
	int rc = find_extra(m, name, &st, &t, err);

	if (rc)
		return rc;
	if (t->n_dims != 1 && t->n_dims != 2)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: tensor '%s' has %u dimensions (1 or 2 are supported)",
				st->file.path, name, t->n_dims);
	*rows = t->n_dims == 2 ? t->shape[0] : 0;
	*cols = t->shape[t->n_dims - 1];
	return ADA_OK;
}

int model_extra_read(const struct model *m, const char *name, uint64_t rows, uint64_t cols,
		     float *dst, struct ada_err *err)
{
	const struct safetensors *st = NULL;
	const struct st_tensor *t = NULL;
	int rc = find_extra(m, name, &st, &t, err);

	if (!rc)
		rc = check_tensor(st, t, name, rows, cols, err);
	if (!rc)
		rc = safetensors_tensor_to_f32(st, t, dst, err);
	if (!rc)
		rc = model_check_finite(m, name, dst, (size_t)t->n_elements, err);
	return rc;
}
