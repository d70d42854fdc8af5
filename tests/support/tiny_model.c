/*
 * tiny_model — random tiny models and their writers; see tiny_model.h.
 *
 * One list of the model's tensors (name, data, shape, whether it is a Q/K
 * tensor) drives every writer, so the formats cannot disagree about what a
 * model contains; only names, dimension order and the Q/K layout differ.
 * BERT-family models have their own list (Hugging Face names, optionally
 * under "bert." / "roberta."), shared the same way by their writer, the
 * comparison and the rounding.
 */
#include "tiny_model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "model/model_loader.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/half.h"
#include "util/rng.h"

void tiny_config(struct model_config *cfg, const char *arch)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_LLAMA;
	snprintf(cfg->arch, sizeof(cfg->arch), "%s", arch);
	cfg->dim = 32;
	cfg->hidden_dim = 40;
	cfg->n_layers = 2;
	cfg->n_heads = 4;
	cfg->n_kv_heads = 2;
	cfg->head_dim = 8;
	cfg->vocab_size = 48;
	cfg->context_length = 64;
	cfg->rope_theta = 10000.0f;
	cfg->norm_eps = 1e-5f;
	if (!strcmp(arch, "mistral")) {
		cfg->head_dim = 16;
		cfg->sliding_window = 32;
	} else if (!strcmp(arch, "qwen2")) {
		cfg->qkv_bias = 1;
		cfg->rope_theta = 1e6f;
		cfg->norm_eps = 1e-6f;
	}
}

static int random_tensor(struct model *m, struct rng *r, size_t n, double mean, double scale,
			 const float **out)
{
	float *p;
	int rc = model_alloc_weights(m, n, &p, NULL);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(mean + scale * rng_normal(r));
	*out = p;
	return ADA_OK;
}

/* A random f32 matrix, as a frozen view. */
static int random_mat(struct model *m, struct rng *r, size_t rows, size_t cols, double mean,
		      double scale, struct frozen_mat *out)
{
	const float *p = NULL;
	int rc = random_tensor(m, r, rows * cols, mean, scale, &p);

	*out = frozen_mat_of_f32(p, (int)rows, (int)cols);
	return rc;
}

int tiny_model_random(const struct model_config *cfg, uint64_t seed, struct model **out)
{
	struct model *m = calloc(1, sizeof(*m));
	size_t dim = (size_t)cfg->dim, hidden = (size_t)cfg->hidden_dim;
	size_t q = (size_t)cfg->n_heads * (size_t)cfg->head_dim;
	size_t kv = (size_t)cfg->n_kv_heads * (size_t)cfg->head_dim;
	struct rng r;
	int rc;

	*out = NULL;
	if (!m)
		return ADA_ENOMEM;
	m->cfg = *cfg;
	snprintf(m->format, sizeof(m->format), "random");
	m->path = strdup("random");
	rc = m->path ? model_alloc_layers(m, NULL) : ADA_ENOMEM;
	rng_seed(&r, seed);
	if (!rc)
		rc = random_mat(m, &r, (size_t)cfg->vocab_size, dim, 0, 0.5, &m->tok_emb);
	for (int i = 0; i < cfg->n_layers && !rc; i++) {
		struct model_layer *l = &m->layers[i];

		if ((rc = random_tensor(m, &r, dim, 1, 0.1, &l->attn_norm)) ||
		    (rc = random_mat(m, &r, q, dim, 0, 0.2, &l->wq)) ||
		    (rc = random_mat(m, &r, kv, dim, 0, 0.2, &l->wk)) ||
		    (rc = random_mat(m, &r, kv, dim, 0, 0.2, &l->wv)) ||
		    (rc = random_mat(m, &r, dim, q, 0, 0.2, &l->wo)) ||
		    (rc = random_tensor(m, &r, dim, 1, 0.1, &l->ffn_norm)) ||
		    (rc = random_mat(m, &r, hidden, dim, 0, 0.2, &l->w_gate)) ||
		    (rc = random_mat(m, &r, hidden, dim, 0, 0.2, &l->w_up)) ||
		    (rc = random_mat(m, &r, dim, hidden, 0, 0.2, &l->w_down)))
			break;
		if (cfg->qkv_bias &&
		    ((rc = random_tensor(m, &r, q, 0, 0.1, &l->bq)) ||
		     (rc = random_tensor(m, &r, kv, 0, 0.1, &l->bk)) ||
		     (rc = random_tensor(m, &r, kv, 0, 0.1, &l->bv))))
			break;
	}
	if (!rc)
		rc = random_tensor(m, &r, dim, 1, 0.1, &m->final_norm);
	if (!rc && cfg->tied_output)
		m->output = m->tok_emb;
	else if (!rc)
		rc = random_mat(m, &r, (size_t)cfg->vocab_size, dim, 0, 0.5, &m->output);
	if (rc) {
		model_free(m);
		return rc;
	}
	*out = m;
	return ADA_OK;
}

/* ---- the tensor list -------------------------------------------------- */

struct tiny_tensor {
	char name[96];
	const float *data;
	uint64_t rows, cols;   /* rows = 0: a vector of cols */
	int rope_heads;        /* Q/K weight or bias: its heads, else 0 */
};

enum naming { NAMES_GGUF, NAMES_HF };

static size_t max_tensors(const struct model *m)
{
	return 3 + 12 * (size_t)m->cfg.n_layers;
}

static void add(struct tiny_tensor *t, size_t *n, const char *name, const float *data,
		uint64_t rows, uint64_t cols, int rope_heads)
{
	snprintf(t[*n].name, sizeof(t[*n].name), "%s", name);
	t[*n].data = data;
	t[*n].rows = rows;
	t[*n].cols = cols;
	t[*n].rope_heads = rope_heads;
	(*n)++;
}

static size_t list_tensors(const struct model *m, enum naming nm, struct tiny_tensor *t)
{
	const struct model_config *c = &m->cfg;
	uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
	uint64_t vocab = (uint64_t)c->vocab_size;
	uint64_t q = (uint64_t)c->n_heads * (uint64_t)c->head_dim;
	uint64_t kv = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
	int hf = nm == NAMES_HF;
	char name[96];
	size_t n = 0;

	add(t, &n, hf ? "model.embed_tokens.weight" : "token_embd.weight", (const float *)m->tok_emb.data, vocab,
	    dim, 0);
	for (int i = 0; i < c->n_layers; i++) {
		const struct model_layer *l = &m->layers[i];
#define T(gguf, hfname, data, rows, cols, heads) do { \
		if (hf) \
			snprintf(name, sizeof(name), "model.layers.%d.%s", i, hfname); \
		else \
			snprintf(name, sizeof(name), "blk.%d.%s", i, gguf); \
		add(t, &n, name, data, rows, cols, heads); \
	} while (0)
		T("attn_norm.weight", "input_layernorm.weight", l->attn_norm, 0, dim, 0);
		T("attn_q.weight", "self_attn.q_proj.weight", (const float *)l->wq.data, q, dim, c->n_heads);
		T("attn_k.weight", "self_attn.k_proj.weight", (const float *)l->wk.data, kv, dim, c->n_kv_heads);
		T("attn_v.weight", "self_attn.v_proj.weight", (const float *)l->wv.data, kv, dim, 0);
		T("attn_output.weight", "self_attn.o_proj.weight", (const float *)l->wo.data, dim, q, 0);
		if (c->qkv_bias) {
			T("attn_q.bias", "self_attn.q_proj.bias", l->bq, 0, q, c->n_heads);
			T("attn_k.bias", "self_attn.k_proj.bias", l->bk, 0, kv, c->n_kv_heads);
			T("attn_v.bias", "self_attn.v_proj.bias", l->bv, 0, kv, 0);
		}
		T("ffn_norm.weight", "post_attention_layernorm.weight", l->ffn_norm, 0, dim, 0);
		T("ffn_gate.weight", "mlp.gate_proj.weight", (const float *)l->w_gate.data, hidden, dim, 0);
		T("ffn_up.weight", "mlp.up_proj.weight", (const float *)l->w_up.data, hidden, dim, 0);
		T("ffn_down.weight", "mlp.down_proj.weight", (const float *)l->w_down.data, dim, hidden, 0);
#undef T
	}
	add(t, &n, hf ? "model.norm.weight" : "output_norm.weight", m->final_norm, 0, dim, 0);
	if (!c->tied_output)
		add(t, &n, hf ? "lm_head.weight" : "output.weight", (const float *)m->output.data, vocab, dim, 0);
	return n;
}

static uint64_t n_elements(const struct tiny_tensor *t)
{
	return (t->rows ? t->rows : 1) * t->cols;
}

/* Give every Q/K tensor its rotate-half copy (owned by *copies, n of them). */
static int to_halves(struct tiny_tensor *t, size_t n, int head_dim, float ***copies)
{
	*copies = calloc(n, sizeof(**copies));
	if (!*copies)
		return ADA_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!t[i].rope_heads)
			continue;
		float *c = malloc(n_elements(&t[i]) * sizeof(*c));
		if (!c)
			return ADA_ENOMEM;
		rope_rows_to_halves(c, t[i].data, t[i].rope_heads, head_dim,
				    t[i].rows ? (size_t)t[i].cols : 1);
		(*copies)[i] = c;
		t[i].data = c;
	}
	return ADA_OK;
}

static void free_copies(float **copies, size_t n)
{
	if (!copies)
		return;
	for (size_t i = 0; i < n; i++)
		free(copies[i]);
	free(copies);
}

/* Round every tensor of t (the model's own buffers) to dtype's precision. */
static void round_tensors(const struct tiny_tensor *t, size_t n, enum st_dtype dtype)
{
	for (size_t i = 0; i < n; i++) {
		float *p = (float *)t[i].data;
		for (uint64_t j = 0; j < n_elements(&t[i]); j++)
			p[j] = dtype == ST_BF16 ? bf16_to_f32(f32_to_bf16(p[j]))
						: f16_to_f32(f32_to_f16(p[j]));
	}
}

/* 0 when the configs agree (the fields of cfg's family, and arch), else -1
 * with the first difference in why. */
static int same_config(const struct model_config *x, const struct model_config *y, char *why,
		       size_t cap)
{
#define SAME(f) do { \
		if (x->f != y->f) { \
			snprintf(why, cap, "config %s differs: %g vs %g", #f, (double)x->f, (double)y->f); \
			return -1; \
		} \
	} while (0)
	SAME(family); SAME(dim); SAME(hidden_dim); SAME(n_layers); SAME(n_heads);
	SAME(n_kv_heads); SAME(head_dim); SAME(vocab_size); SAME(context_length); SAME(norm_eps);
	if (x->family == ADA_FAMILY_BERT) {
		SAME(type_vocab_size); SAME(max_positions); SAME(position_offset);
		SAME(pad_token_id); SAME(has_pooler);
		SAME(deberta.relative_attention); SAME(deberta.pos_att);
		SAME(deberta.position_buckets); SAME(deberta.max_relative_positions);
		SAME(deberta.att_span); SAME(deberta.share_att_key); SAME(deberta.norm_rel_ebd);
		SAME(deberta.position_biased_input); SAME(deberta.pooler_act);
	} else {
		SAME(rope_theta); SAME(qkv_bias); SAME(sliding_window);
	}
#undef SAME
	if (strcmp(x->arch, y->arch)) {
		snprintf(why, cap, "arch differs: %s vs %s", x->arch, y->arch);
		return -1;
	}
	return 0;
}

/* 0 when the n tensors of ta and tb hold the same bits, else -1 with the
 * first difference in why. */
static int same_tensors(const struct tiny_tensor *ta, const struct tiny_tensor *tb, size_t n,
			char *why, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		if (!ta[i].data || !tb[i].data) {
			snprintf(why, cap, "%s is missing", ta[i].name);
			return -1;
		}
		for (uint64_t j = 0; j < n_elements(&ta[i]); j++) {
			if (memcmp(&ta[i].data[j], &tb[i].data[j], sizeof(float))) {
				snprintf(why, cap, "%s[%llu] differs: %.9g vs %.9g", ta[i].name,
					 (unsigned long long)j, ta[i].data[j], tb[i].data[j]);
				return -1;
			}
		}
	}
	return 0;
}

/* ---- GGUF ------------------------------------------------------------- */

static int gguf_set_config(struct gguf_writer *w, const struct model_config *c,
			   struct ada_err *err)
{
	char key[128];
	int rc;

#define U32(suffix, v) do { \
		snprintf(key, sizeof(key), "%s.%s", c->arch, suffix); \
		if ((rc = gguf_writer_set_u32(w, key, (uint32_t)(v), err))) \
			return rc; \
	} while (0)
#define F32(suffix, v) do { \
		snprintf(key, sizeof(key), "%s.%s", c->arch, suffix); \
		if ((rc = gguf_writer_set_f32(w, key, v, err))) \
			return rc; \
	} while (0)
	if ((rc = gguf_writer_set_str(w, "general.architecture", c->arch, err)) ||
	    (rc = gguf_writer_set_str(w, "general.name", "tiny", err)))
		return rc;
	U32("context_length", c->context_length);
	U32("embedding_length", c->dim);
	U32("block_count", c->n_layers);
	U32("feed_forward_length", c->hidden_dim);
	U32("attention.head_count", c->n_heads);
	U32("attention.head_count_kv", c->n_kv_heads);
	U32("rope.dimension_count", c->head_dim);
	if (c->head_dim * c->n_heads != c->dim) {
		U32("attention.key_length", c->head_dim);
		U32("attention.value_length", c->head_dim);
	}
	if (c->sliding_window)
		U32("attention.sliding_window", c->sliding_window);
	F32("attention.layer_norm_rms_epsilon", c->norm_eps);
	F32("rope.freq_base", c->rope_theta);
#undef U32
#undef F32
	return ADA_OK;
}

int tiny_write_gguf(const struct model *m, const char *path, uint32_t version, uint32_t type,
		    struct ada_err *err)
{
	size_t cap = max_tensors(m), n;
	struct tiny_tensor *t = calloc(cap, sizeof(*t));
	struct gguf_writer *w = NULL;
	float **copies = NULL;
	int rc;

	if (!t)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	n = list_tensors(m, NAMES_GGUF, t);
	/* llama.cpp leaves qwen2's Q/K in rotate-half layout (NEOX RoPE). */
	rc = m->cfg.qkv_bias ? to_halves(t, n, m->cfg.head_dim, &copies) : ADA_OK;
	if (rc) {
		ada_fail(err, rc, "out of memory");
		goto out_free;
	}
	rc = gguf_writer_new(version, &w, err);
	if (!rc)
		rc = gguf_set_config(w, &m->cfg, err);
	for (size_t i = 0; i < n && !rc; i++) {
		uint64_t dims[2] = { t[i].cols, t[i].rows };
		rc = gguf_writer_add_tensor(w, t[i].name, t[i].rows ? 2 : 1, dims, t[i].data, type,
					    err);
	}
	if (!rc)
		rc = gguf_writer_write(w, path, err);
out_free:
	gguf_writer_free(w);
	free_copies(copies, n);
	free(t);
	return rc;
}

/* ---- Hugging Face ----------------------------------------------------- */

static json_t *hf_config_json(const struct model_config *c, enum st_dtype dtype)
{
	json_t *j = json_object();

	json_object_set_new(j, "architectures", json_pack("[s]",
		!strcmp(c->arch, "qwen2") ? "Qwen2ForCausalLM" :
		!strcmp(c->arch, "mistral") ? "MistralForCausalLM" : "LlamaForCausalLM"));
	json_object_set_new(j, "model_type", json_string(c->arch));
	json_object_set_new(j, "hidden_size", json_integer(c->dim));
	json_object_set_new(j, "intermediate_size", json_integer(c->hidden_dim));
	json_object_set_new(j, "num_hidden_layers", json_integer(c->n_layers));
	json_object_set_new(j, "num_attention_heads", json_integer(c->n_heads));
	json_object_set_new(j, "num_key_value_heads", json_integer(c->n_kv_heads));
	json_object_set_new(j, "head_dim", json_integer(c->head_dim));
	json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
	json_object_set_new(j, "max_position_embeddings", json_integer(c->context_length));
	json_object_set_new(j, "rope_theta", json_real(c->rope_theta));
	json_object_set_new(j, "rms_norm_eps", json_real(c->norm_eps));
	json_object_set_new(j, "tie_word_embeddings", json_boolean(c->tied_output));
	json_object_set_new(j, "hidden_act", json_string("silu"));
	json_object_set_new(j, "rope_scaling", json_null());
	json_object_set_new(j, "torch_dtype", json_string(dtype == ST_F32 ? "float32" :
		dtype == ST_F16 ? "float16" : "bfloat16"));
	if (!strcmp(c->arch, "mistral"))
		json_object_set_new(j, "sliding_window",
				    c->sliding_window ? json_integer(c->sliding_window) : json_null());
	if (!strcmp(c->arch, "qwen2")) {
		json_object_set_new(j, "use_sliding_window", json_boolean(c->sliding_window > 0));
		json_object_set_new(j, "sliding_window", json_integer(c->sliding_window ?
								      c->sliding_window : 4096));
		json_object_set_new(j, "max_window_layers", json_integer(0));
	}
	return j;
}

static int write_json(json_t *j, const char *dir, const char *name, struct ada_err *err)
{
	char *path = path_join(dir, name);
	char *text = json_dumps(j, JSON_INDENT(2));
	int rc;

	if (!path || !text)
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	else
		rc = file_write_atomic(path, text, strlen(text), err);
	free(path);
	free(text);
	return rc;
}

/* Tensors [from, to) of t into dir/name. */
static int write_shard(const struct tiny_tensor *t, size_t from, size_t to, const char *dir,
		       const char *name, enum st_dtype dtype, struct ada_err *err)
{
	struct safetensors_writer *w;
	char *path = path_join(dir, name);
	int rc;

	if (!path)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = safetensors_writer_new(&w, err);
	if (!rc)
		rc = safetensors_writer_set_metadata(w, "format", "pt", err);
	for (size_t i = from; i < to && !rc; i++) {
		uint64_t shape[2] = { t[i].rows, t[i].cols };
		if (t[i].rows)
			rc = safetensors_writer_add_tensor(w, t[i].name, 2, shape, t[i].data, dtype,
							   err);
		else
			rc = safetensors_writer_add_tensor(w, t[i].name, 1, &t[i].cols, t[i].data,
							   dtype, err);
	}
	if (!rc)
		rc = safetensors_writer_write(w, path, err);
	safetensors_writer_free(w);
	free(path);
	return rc;
}

static int write_index(const struct tiny_tensor *t, size_t n, size_t split, const char *dir,
		       struct ada_err *err)
{
	json_t *map = json_object(), *root;
	int rc;

	for (size_t i = 0; i < n; i++)
		json_object_set_new(map, t[i].name,
				    json_string(i < split ? TINY_HF_SHARD1 : TINY_HF_SHARD2));
	root = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)0,
			 "weight_map", map);
	rc = write_json(root, dir, "model.safetensors.index.json", err);
	json_decref(root);
	return rc;
}

int tiny_write_hf(const struct model *m, const char *dir, enum st_dtype dtype,
		  enum tiny_hf_layout layout, struct ada_err *err)
{
	size_t cap = max_tensors(m), n, split;
	struct tiny_tensor *t = calloc(cap, sizeof(*t));
	float **copies = NULL;
	json_t *config;
	int rc;

	if (!t)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	n = list_tensors(m, NAMES_HF, t);
	rc = to_halves(t, n, m->cfg.head_dim, &copies);
	if (rc) {
		ada_fail(err, rc, "out of memory");
		goto out_free;
	}
	rc = mkdir_p(dir, 0755, err);
	if (rc)
		goto out_free;
	config = hf_config_json(&m->cfg, dtype);
	rc = write_json(config, dir, "config.json", err);
	json_decref(config);
	if (rc)
		goto out_free;
	split = n / 2;
	switch (layout) {
	case TINY_HF_SINGLE:
		rc = write_shard(t, 0, n, dir, "model.safetensors", dtype, err);
		break;
	case TINY_HF_INDEXED_SHARDS:
		rc = write_index(t, n, split, dir, err);
		/* fall through */
	case TINY_HF_UNINDEXED_SHARDS:
		if (!rc)
			rc = write_shard(t, 0, split, dir, TINY_HF_SHARD1, dtype, err);
		if (!rc)
			rc = write_shard(t, split, n, dir, TINY_HF_SHARD2, dtype, err);
		break;
	}
out_free:
	free_copies(copies, n);
	free(t);
	return rc;
}

/* ---- llama2.c --------------------------------------------------------- */

static const float *vec_f32(const float *const *p)
{
	return *p;
}

static const float *mat_f32(const struct frozen_mat *p)
{
	return (const float *)p->data;
}

/* A layer's field as f32 (tiny models are f32): a vector, or a matrix's view. */
#define field_f32(p) _Generic((p), const float *const *: vec_f32, const float **: vec_f32, \
			      const struct frozen_mat *: mat_f32, struct frozen_mat *: mat_f32)(p)

static int put(struct atomic_file *af, const float *p, size_t n, struct ada_err *err)
{
	return atomic_file_write(af, p, n * sizeof(*p), err);
}

/* llama2.c's precomputed RoPE table, seq_len x head_size/2, cos or sin. */
static int put_rope_table(struct atomic_file *af, const struct model_config *c, int use_sin,
			  struct ada_err *err)
{
	int half = c->head_dim / 2, rc = ADA_OK;
	float *row = malloc((size_t)half * sizeof(*row));

	if (!row)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int pos = 0; pos < c->context_length && !rc; pos++) {
		for (int i = 0; i < half; i++) {
			double theta = pos * pow(10000.0, -2.0 * i / c->head_dim);
			row[i] = (float)(use_sin ? sin(theta) : cos(theta));
		}
		rc = put(af, row, (size_t)half, err);
	}
	free(row);
	return rc;
}

int tiny_write_llama2c(const struct model *m, const char *path, int version,
		       struct ada_err *err)
{
	const struct model_config *c = &m->cfg;
	size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim, L = (size_t)c->n_layers;
	size_t kv = (size_t)c->n_kv_heads * (size_t)c->head_dim;
	size_t emb = (size_t)c->vocab_size * dim;
	int32_t ints[7] = { c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
			    c->vocab_size, c->context_length };
	struct atomic_file af;
	int rc;

	if (c->n_heads * c->head_dim != c->dim || c->qkv_bias)
		return ada_fail(err, ADA_EINVAL, "llama2.c cannot store this model");
	rc = atomic_file_open(&af, path, err);
	if (rc)
		return rc;
	if (version == 0) {
		if (!c->tied_output)
			ints[5] = -ints[5];
		rc = atomic_file_write(&af, ints, sizeof(ints), err);
	} else {
		uint8_t header[LLAMA2C_V1_HEADER] = { 0 };
		uint32_t magic = LLAMA2C_MAGIC;
		int32_t v = 1;

		memcpy(header, &magic, 4);
		memcpy(header + 4, &v, 4);
		memcpy(header + 8, ints, sizeof(ints));
		header[36] = (uint8_t)c->tied_output;
		rc = atomic_file_write(&af, header, sizeof(header), err);
	}
#define EACH(field, n) \
	for (size_t i = 0; i < L && !rc; i++) \
		rc = put(&af, field_f32(&m->layers[i].field), n, err)
	if (version == 0) {
		if (!rc)
			rc = put(&af, (const float *)m->tok_emb.data, emb, err);
		EACH(attn_norm, dim);
		EACH(wq, dim * dim);
		EACH(wk, kv * dim);
		EACH(wv, kv * dim);
		EACH(wo, dim * dim);
		EACH(ffn_norm, dim);
		EACH(w_gate, hidden * dim);
		EACH(w_down, dim * hidden);
		EACH(w_up, hidden * dim);
		if (!rc)
			rc = put(&af, m->final_norm, dim, err);
		if (!rc)
			rc = put_rope_table(&af, c, 0, err);
		if (!rc)
			rc = put_rope_table(&af, c, 1, err);
	} else {
		EACH(attn_norm, dim);
		EACH(ffn_norm, dim);
		if (!rc)
			rc = put(&af, m->final_norm, dim, err);
		if (!rc)
			rc = put(&af, (const float *)m->tok_emb.data, emb, err);
		EACH(wq, dim * dim);
		EACH(wk, kv * dim);
		EACH(wv, kv * dim);
		EACH(wo, dim * dim);
		EACH(w_gate, hidden * dim);
		EACH(w_down, dim * hidden);
		EACH(w_up, hidden * dim);
	}
#undef EACH
	if (!rc && !c->tied_output)
		rc = put(&af, (const float *)m->output.data, emb, err);
	if (rc) {
		atomic_file_abort(&af);
		return rc;
	}
	return atomic_file_commit(&af, err);
}

int tiny_write_llama2c_tokenizer(const char *path, int n, struct ada_err *err)
{
	uint32_t max_len = 8;
	struct atomic_file af;
	int rc;

	if ((rc = atomic_file_open(&af, path, err)))
		return rc;
	rc = atomic_file_write(&af, &max_len, sizeof(max_len), err);
	for (int i = 0; i < n && !rc; i++) {
		char tok[16];
		float score = (float)-i;
		int32_t len = (int32_t)snprintf(tok, sizeof(tok), "t%d", i);

		if (!(rc = atomic_file_write(&af, &score, sizeof(score), err)) &&
		    !(rc = atomic_file_write(&af, &len, sizeof(len), err)))
			rc = atomic_file_write(&af, tok, (size_t)len, err);
	}
	if (rc) {
		atomic_file_abort(&af);
		return rc;
	}
	return atomic_file_commit(&af, err);
}

/* ---- rounding and comparison ------------------------------------------ */

void tiny_model_round(struct model *m, enum st_dtype dtype)
{
	struct tiny_tensor *t = calloc(max_tensors(m), sizeof(*t));

	if (!t)
		abort();
	/* tiny_model_random() allocated every tensor, so each is ours to write. */
	round_tensors(t, list_tensors(m, NAMES_GGUF, t), dtype);
	free(t);
}

static int widen_mat(struct model *w, struct frozen_mat *fm)
{
	float *p;

	if (!fm->data || frozen_mat_f32(fm))
		return ADA_OK;
	if (model_alloc_weights(w, (size_t)fm->rows * (size_t)fm->cols, &p, NULL))
		return ADA_ENOMEM;
	frozen_mat_read(fm, p);
	*fm = frozen_mat_of_f32(p, fm->rows, fm->cols);
	return ADA_OK;
}

int tiny_model_widen(const struct model *m, struct model **out)
{
	struct model *w = calloc(1, sizeof(*w));
	int rc = ADA_OK;

	*out = NULL;
	if (!w)
		return ADA_ENOMEM;
	w->cfg = m->cfg;
	memcpy(w->format, m->format, sizeof(w->format));
	w->path = strdup(m->path);
	w->tok_emb = m->tok_emb;
	w->output = m->output;
	w->final_norm = m->final_norm;
	if (m->layers) {
		w->layers = calloc((size_t)m->cfg.n_layers, sizeof(*w->layers));
		if (w->layers)
			memcpy(w->layers, m->layers, (size_t)m->cfg.n_layers * sizeof(*w->layers));
	}
	if (m->bert) {
		w->bert = calloc(1, sizeof(*w->bert));
		if (w->bert) {
			*w->bert = *m->bert;
			w->bert->layers = calloc((size_t)m->cfg.n_layers, sizeof(*w->bert->layers));
			if (w->bert->layers)
				memcpy(w->bert->layers, m->bert->layers,
				       (size_t)m->cfg.n_layers * sizeof(*w->bert->layers));
		}
	}
	if (!w->path || (m->layers && !w->layers) || (m->bert && (!w->bert || !w->bert->layers)))
		rc = ADA_ENOMEM;
	if (!rc)
		rc = widen_mat(w, &w->tok_emb);
	if (!rc && m->output.data == m->tok_emb.data)
		w->output = w->tok_emb;
	else if (!rc)
		rc = widen_mat(w, &w->output);
	for (int l = 0; !rc && w->layers && l < m->cfg.n_layers; l++) {
		struct model_layer *ly = &w->layers[l];
		struct frozen_mat *mats[] = { &ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate,
					      &ly->w_up, &ly->w_down };
		for (size_t k = 0; k < sizeof(mats) / sizeof(mats[0]) && !rc; k++)
			rc = widen_mat(w, mats[k]);
	}
	for (int l = 0; !rc && w->bert && l < m->cfg.n_layers; l++)
		for (int k = 0; k < N_BERT_MODULES && !rc; k++)
			rc = widen_mat(w, &w->bert->layers[l].w[k]);
	if (rc) {
		model_free(w);
		return rc;
	}
	*out = w;
	return ADA_OK;
}

int tiny_models_equal(const struct model *a0, const struct model *b0, char *why, size_t cap)
{
	struct tiny_tensor *ta, *tb;
	struct model *wa = NULL, *wb = NULL;
	struct model ua, ub;
	int rc = -1;

	if (same_config(&a0->cfg, &b0->cfg, why, cap))
		return -1;
	if (tiny_model_widen(a0, &wa) || tiny_model_widen(b0, &wb)) {
		snprintf(why, cap, "out of memory");
		model_free(wa);
		model_free(wb);
		return -1;
	}
	ua = *wa;
	ub = *wb;
	ta = calloc(max_tensors(&ua), sizeof(*ta));
	tb = calloc(max_tensors(&ub), sizeof(*tb));
	if (ta && tb) {
		/* List both as untied so the output matrices are compared by value. */
		ua.cfg.tied_output = ub.cfg.tied_output = 0;
		list_tensors(&ub, NAMES_GGUF, tb);
		rc = same_tensors(ta, tb, list_tensors(&ua, NAMES_GGUF, ta), why, cap);
	} else {
		snprintf(why, cap, "out of memory");
	}
	free(ta);
	free(tb);
	model_free(wa);
	model_free(wb);
	return rc;
}

/* ---- the BERT family ---------------------------------------------------- */

void tiny_deberta_config(struct model_config *cfg)
{
	struct deberta_config *db = &cfg->deberta;

	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_BERT;
	snprintf(cfg->arch, sizeof(cfg->arch), "deberta-v2");
	cfg->dim = 32;
	cfg->hidden_dim = 48;
	cfg->n_layers = 2;
	cfg->n_heads = cfg->n_kv_heads = 4;
	cfg->head_dim = 8;
	cfg->vocab_size = 64;
	cfg->max_positions = 40;
	cfg->context_length = 40;
	cfg->type_vocab_size = 0;
	cfg->pad_token_id = 0;
	cfg->norm_eps = 1e-7f;
	db->relative_attention = 1;
	db->pos_att = DEBERTA_C2P | DEBERTA_P2C;
	db->position_buckets = 8;
	db->max_relative_positions = 12;
	db->att_span = 8;
	db->share_att_key = 1;
	db->norm_rel_ebd = 1;
	db->position_biased_input = 0;
	db->pooler_act = HEAD_ACT_GELU;
}

void tiny_bert_config(struct model_config *cfg, const char *arch)
{
	int roberta = !strcmp(arch, "roberta");

	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_BERT;
	snprintf(cfg->arch, sizeof(cfg->arch), "%s", arch);
	cfg->dim = 32;
	cfg->hidden_dim = 48;
	cfg->n_layers = 2;
	cfg->n_heads = cfg->n_kv_heads = 4;
	cfg->head_dim = 8;
	cfg->vocab_size = 64;
	cfg->max_positions = 40;
	cfg->type_vocab_size = roberta ? 1 : 2;
	cfg->pad_token_id = roberta ? 1 : 0;
	cfg->position_offset = roberta ? cfg->pad_token_id + 1 : 0;
	cfg->context_length = cfg->max_positions - cfg->position_offset;
	cfg->norm_eps = roberta ? 1e-5f : 1e-12f;
	cfg->has_pooler = !roberta;
}

/* The six Linears of a layer, in enum bert_module order. */
static const char *const bert_linear[N_BERT_MODULES] = {
	"attention.self.query", "attention.self.key", "attention.self.value",
	"attention.output.dense", "intermediate.dense", "output.dense",
};

static size_t bert_max_tensors(const struct model *m)
{
	return 5 + 20 * (size_t)m->cfg.n_layers + 2 + 3;
}

/* DeBERTa's position projections of a layer: which ones the config has. */
static int has_pos_key(const struct model_config *c)
{
	return model_is_deberta(c) && c->deberta.relative_attention && !c->deberta.share_att_key &&
	       (c->deberta.pos_att & DEBERTA_C2P);
}

static int has_pos_query(const struct model_config *c)
{
	return model_is_deberta(c) && c->deberta.relative_attention && !c->deberta.share_att_key &&
	       (c->deberta.pos_att & DEBERTA_P2C);
}

/* The encoder's tensors with Hugging Face names (under prefix). */
static size_t bert_list(const struct model *m, const char *prefix, int legacy,
			struct tiny_tensor *t)
{
	const struct model_config *c = &m->cfg;
	const struct bert_weights *w = m->bert;
	uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
	const char *lw = legacy ? "gamma" : "weight", *lb = legacy ? "beta" : "bias";
	char name[96];
	size_t n = 0;

#define B(data, rows, cols, ...) do { \
		int _k = snprintf(name, sizeof(name), "%s", prefix); \
		snprintf(name + _k, sizeof(name) - (size_t)_k, __VA_ARGS__); \
		add(t, &n, name, data, rows, cols, 0); \
	} while (0)
	B(w->word_emb, (uint64_t)c->vocab_size, dim, "embeddings.word_embeddings.weight");
	if (bert_has_pos_emb(c))
		B(w->pos_emb, (uint64_t)c->max_positions, dim, "embeddings.position_embeddings.weight");
	if (c->type_vocab_size > 0)
		B(w->type_emb, (uint64_t)c->type_vocab_size, dim,
		  "embeddings.token_type_embeddings.weight");
	B(w->emb_ln_w, 0, dim, "embeddings.LayerNorm.%s", lw);
	B(w->emb_ln_b, 0, dim, "embeddings.LayerNorm.%s", lb);
	if (model_is_deberta(c) && c->deberta.relative_attention) {
		B(w->rel_emb, 2 * (uint64_t)c->deberta.att_span, dim, "encoder.rel_embeddings.weight");
		if (c->deberta.norm_rel_ebd) {
			B(w->rel_ln_w, 0, dim, "encoder.LayerNorm.%s", lw);
			B(w->rel_ln_b, 0, dim, "encoder.LayerNorm.%s", lb);
		}
	}
	for (int i = 0; i < c->n_layers; i++) {
		const struct bert_layer *l = &w->layers[i];

		for (int k = 0; k < N_BERT_MODULES; k++) {
			uint64_t out = k == BMOD_INTER ? hidden : dim;
			uint64_t in = k == BMOD_OUTPUT ? hidden : dim;
			const char *leaf = model_is_deberta(c) ? model_module_hf_leaf(c, k) : bert_linear[k];

			B((const float *)l->w[k].data, out, in, "encoder.layer.%d.%s.weight", i, leaf);
			B(l->b[k], 0, out, "encoder.layer.%d.%s.bias", i, leaf);
		}
		if (has_pos_key(c)) {
			B((const float *)l->pos_key.data, dim, dim,
			  "encoder.layer.%d.attention.self.pos_key_proj.weight", i);
			B(l->pos_key_b, 0, dim, "encoder.layer.%d.attention.self.pos_key_proj.bias", i);
		}
		if (has_pos_query(c)) {
			B((const float *)l->pos_query.data, dim, dim,
			  "encoder.layer.%d.attention.self.pos_query_proj.weight", i);
			B(l->pos_query_b, 0, dim, "encoder.layer.%d.attention.self.pos_query_proj.bias", i);
		}
		B(l->ln_attn_w, 0, dim, "encoder.layer.%d.attention.output.LayerNorm.%s", i, lw);
		B(l->ln_attn_b, 0, dim, "encoder.layer.%d.attention.output.LayerNorm.%s", i, lb);
		B(l->ln_out_w, 0, dim, "encoder.layer.%d.output.LayerNorm.%s", i, lw);
		B(l->ln_out_b, 0, dim, "encoder.layer.%d.output.LayerNorm.%s", i, lb);
	}
	if (c->has_pooler) {
		B(w->pooler_w, dim, dim, "pooler.dense.weight");
		B(w->pooler_b, 0, dim, "pooler.dense.bias");
	}
#undef B
	return n;
}

int tiny_bert_random(const struct model_config *cfg, uint64_t seed, struct model **out)
{
	struct model *m = calloc(1, sizeof(*m));
	size_t dim = (size_t)cfg->dim, hidden = (size_t)cfg->hidden_dim;
	struct bert_weights *w;
	struct rng r;
	int rc = ADA_OK;

	*out = NULL;
	if (!m)
		return ADA_ENOMEM;
	m->cfg = *cfg;
	snprintf(m->format, sizeof(m->format), "random");
	m->path = strdup("random");
	w = m->bert = calloc(1, sizeof(*m->bert));
	if (!m->path || !w || !(w->layers = calloc((size_t)cfg->n_layers, sizeof(*w->layers)))) {
		model_free(m);
		return ADA_ENOMEM;
	}
	rng_seed(&r, seed);
	if ((rc = random_tensor(m, &r, (size_t)cfg->vocab_size * dim, 0, 0.5, &w->word_emb)) ||
	    (bert_has_pos_emb(cfg) &&
	     (rc = random_tensor(m, &r, (size_t)cfg->max_positions * dim, 0, 0.5, &w->pos_emb))) ||
	    (cfg->type_vocab_size > 0 &&
	     (rc = random_tensor(m, &r, (size_t)cfg->type_vocab_size * dim, 0, 0.5, &w->type_emb))) ||
	    (rc = random_tensor(m, &r, dim, 1, 0.1, &w->emb_ln_w)) ||
	    (rc = random_tensor(m, &r, dim, 0, 0.1, &w->emb_ln_b)))
		goto out;
	if (model_is_deberta(cfg) && cfg->deberta.relative_attention &&
	    ((rc = random_tensor(m, &r, 2 * (size_t)cfg->deberta.att_span * dim, 0, 0.5,
				 &w->rel_emb)) ||
	     (cfg->deberta.norm_rel_ebd &&
	      ((rc = random_tensor(m, &r, dim, 1, 0.1, &w->rel_ln_w)) ||
	       (rc = random_tensor(m, &r, dim, 0, 0.1, &w->rel_ln_b))))))
		goto out;
	for (int i = 0; i < cfg->n_layers; i++) {
		struct bert_layer *l = &w->layers[i];

		for (int k = 0; k < N_BERT_MODULES; k++) {
			size_t o = k == BMOD_INTER ? hidden : dim, in = k == BMOD_OUTPUT ? hidden : dim;

			if ((rc = random_mat(m, &r, o, in, 0, 0.2, &l->w[k])) ||
			    (rc = random_tensor(m, &r, o, 0, 0.1, &l->b[k])))
				goto out;
		}
		if ((has_pos_key(cfg) &&
		     ((rc = random_mat(m, &r, dim, dim, 0, 0.2, &l->pos_key)) ||
		      (rc = random_tensor(m, &r, dim, 0, 0.1, &l->pos_key_b)))) ||
		    (has_pos_query(cfg) &&
		     ((rc = random_mat(m, &r, dim, dim, 0, 0.2, &l->pos_query)) ||
		      (rc = random_tensor(m, &r, dim, 0, 0.1, &l->pos_query_b)))))
			goto out;
		if ((rc = random_tensor(m, &r, dim, 1, 0.1, &l->ln_attn_w)) ||
		    (rc = random_tensor(m, &r, dim, 0, 0.1, &l->ln_attn_b)) ||
		    (rc = random_tensor(m, &r, dim, 1, 0.1, &l->ln_out_w)) ||
		    (rc = random_tensor(m, &r, dim, 0, 0.1, &l->ln_out_b)))
			goto out;
	}
	if (cfg->has_pooler &&
	    ((rc = random_tensor(m, &r, dim * dim, 0, 0.2, &w->pooler_w)) ||
	     (rc = random_tensor(m, &r, dim, 0, 0.1, &w->pooler_b))))
		goto out;
	m->tok_emb = frozen_mat_of_f32(w->word_emb, cfg->vocab_size, cfg->dim);
out:
	if (rc) {
		model_free(m);
		return rc;
	}
	*out = m;
	return ADA_OK;
}

void tiny_bert_round(struct model *m, enum st_dtype dtype)
{
	struct tiny_tensor *t = calloc(bert_max_tensors(m), sizeof(*t));

	if (!t)
		abort();
	/* tiny_bert_random() allocated every tensor, so each is ours to write. */
	round_tensors(t, bert_list(m, "", 0, t), dtype);
	free(t);
}

size_t tiny_bert_tensor_count(const struct model *m, uint64_t *elements)
{
	struct tiny_tensor *t = calloc(bert_max_tensors(m), sizeof(*t));
	size_t n;

	if (!t)
		abort();
	n = bert_list(m, "", 0, t);
	*elements = 0;
	for (size_t i = 0; i < n; i++)
		*elements += n_elements(&t[i]);
	free(t);
	return n;
}

/* config.json as transformers writes DebertaV2Config. */
static json_t *deberta_config_json(const struct model_config *c, enum st_dtype dtype, int head)
{
	const struct deberta_config *db = &c->deberta;
	json_t *j = json_object(), *pat = json_array();

	json_object_set_new(j, "architectures", json_pack("[s]", head ?
		"DebertaV2ForSequenceClassification" : "DebertaV2Model"));
	json_object_set_new(j, "model_type", json_string("deberta-v2"));
	json_object_set_new(j, "hidden_size", json_integer(c->dim));
	json_object_set_new(j, "intermediate_size", json_integer(c->hidden_dim));
	json_object_set_new(j, "num_hidden_layers", json_integer(c->n_layers));
	json_object_set_new(j, "num_attention_heads", json_integer(c->n_heads));
	json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
	json_object_set_new(j, "max_position_embeddings", json_integer(c->max_positions));
	json_object_set_new(j, "type_vocab_size", json_integer(c->type_vocab_size));
	json_object_set_new(j, "layer_norm_eps", json_real(c->norm_eps));
	json_object_set_new(j, "hidden_act", json_string("gelu"));
	json_object_set_new(j, "pad_token_id", json_integer(c->pad_token_id));
	json_object_set_new(j, "hidden_dropout_prob", json_real(0.1));
	json_object_set_new(j, "attention_probs_dropout_prob", json_real(0.1));
	json_object_set_new(j, "initializer_range", json_real(0.02));
	json_object_set_new(j, "relative_attention", json_boolean(db->relative_attention));
	/* as deberta-v3-base's config: -1 means max_position_embeddings */
	json_object_set_new(j, "max_relative_positions",
			    json_integer(db->max_relative_positions == c->max_positions ? -1 :
					 db->max_relative_positions));
	json_object_set_new(j, "position_buckets",
			    json_integer(db->position_buckets ? db->position_buckets : -1));
	if (db->pos_att & DEBERTA_P2C)
		json_array_append_new(pat, json_string("p2c"));
	if (db->pos_att & DEBERTA_C2P)
		json_array_append_new(pat, json_string("c2p"));
	json_object_set_new(j, "pos_att_type", pat);
	json_object_set_new(j, "share_att_key", json_boolean(db->share_att_key));
	json_object_set_new(j, "norm_rel_ebd", json_string(db->norm_rel_ebd ? "layer_norm" : "none"));
	json_object_set_new(j, "position_biased_input", json_boolean(db->position_biased_input));
	json_object_set_new(j, "pooler_hidden_size", json_integer(c->dim));
	json_object_set_new(j, "pooler_dropout", json_integer(0));
	json_object_set_new(j, "pooler_hidden_act",
			    json_string(db->pooler_act == HEAD_ACT_TANH ? "tanh" : "gelu"));
	json_object_set_new(j, "torch_dtype", json_string(dtype == ST_F32 ? "float32" :
		dtype == ST_F16 ? "float16" : "bfloat16"));
	return j;
}

static json_t *bert_config_json(const struct model_config *c, enum st_dtype dtype, int head)
{
	int roberta = !strcmp(c->arch, "roberta");
	json_t *j;

	if (model_is_deberta(c))
		return deberta_config_json(c, dtype, head);
	j = json_object();

	json_object_set_new(j, "architectures", json_pack("[s]",
		roberta ? (head ? "RobertaForSequenceClassification" : "RobertaModel")
			: (head ? "BertForSequenceClassification" : "BertModel")));
	json_object_set_new(j, "model_type", json_string(c->arch));
	json_object_set_new(j, "hidden_size", json_integer(c->dim));
	json_object_set_new(j, "intermediate_size", json_integer(c->hidden_dim));
	json_object_set_new(j, "num_hidden_layers", json_integer(c->n_layers));
	json_object_set_new(j, "num_attention_heads", json_integer(c->n_heads));
	json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
	json_object_set_new(j, "max_position_embeddings", json_integer(c->max_positions));
	json_object_set_new(j, "type_vocab_size", json_integer(c->type_vocab_size));
	json_object_set_new(j, "layer_norm_eps", json_real(c->norm_eps));
	json_object_set_new(j, "hidden_act", json_string("gelu"));
	json_object_set_new(j, "pad_token_id", json_integer(c->pad_token_id));
	json_object_set_new(j, "position_embedding_type", json_string("absolute"));
	json_object_set_new(j, "hidden_dropout_prob", json_real(0.1));
	json_object_set_new(j, "attention_probs_dropout_prob", json_real(0.1));
	json_object_set_new(j, "initializer_range", json_real(0.02));
	json_object_set_new(j, "classifier_dropout", json_null());
	json_object_set_new(j, "use_cache", json_true());
	json_object_set_new(j, "torch_dtype", json_string(dtype == ST_F32 ? "float32" :
		dtype == ST_F16 ? "float16" : "bfloat16"));
	if (roberta) {
		json_object_set_new(j, "bos_token_id", json_integer(0));
		json_object_set_new(j, "eos_token_id", json_integer(2));
	}
	return j;
}

int tiny_write_bert_hf(const struct model *m, const char *dir, const struct tiny_bert_opts *opts,
		       struct ada_err *err)
{
	static const struct tiny_bert_opts defaults = { .dtype = ST_F32 };
	const struct tiny_bert_opts *o = opts ? opts : &defaults;
	size_t cap = bert_max_tensors(m) + o->n_extra, n, kept = 0;
	struct tiny_tensor *t = calloc(cap, sizeof(*t));
	const char *prefix = !o->prefixed ? "" : !strcmp(m->cfg.arch, "roberta") ? "roberta." :
			     model_is_deberta(&m->cfg) ? "deberta." : "bert.";
	json_t *config;
	int rc;

	if (!t)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	n = bert_list(m, prefix, o->legacy_ln, t);
	for (size_t i = 0; i < o->n_extra; i++) {
		if (strlen(o->extra[i].name) >= sizeof(t[0].name)) {
			rc = ada_fail(err, ADA_EINVAL, "extra tensor name too long");
			goto out_free;
		}
		add(t, &n, o->extra[i].name, o->extra[i].data, o->extra[i].rows, o->extra[i].cols, 0);
	}
	for (size_t i = 0; i < n; i++)
		if (!o->omit || strcmp(t[i].name, o->omit))
			t[kept++] = t[i];
	rc = mkdir_p(dir, 0755, err);
	if (rc)
		goto out_free;
	config = bert_config_json(&m->cfg, o->dtype, o->n_extra > 0);
	rc = write_json(config, dir, "config.json", err);
	json_decref(config);
	if (!rc)
		rc = write_shard(t, 0, kept, dir, "model.safetensors", o->dtype, err);
out_free:
	free(t);
	return rc;
}

int tiny_bert_equal(const struct model *a0, const struct model *b0, char *why, size_t cap)
{
	struct tiny_tensor *ta, *tb;
	struct model *wa = NULL, *wb = NULL, *a, *b;
	int rc = -1;

	if (same_config(&a0->cfg, &b0->cfg, why, cap))
		return -1;
	if (!a0->bert || !b0->bert) {
		snprintf(why, cap, "no BERT weights");
		return -1;
	}
	if (tiny_model_widen(a0, &wa) || tiny_model_widen(b0, &wb)) {
		snprintf(why, cap, "out of memory");
		model_free(wa);
		model_free(wb);
		return -1;
	}
	a = wa;
	b = wb;
	ta = calloc(bert_max_tensors(a), sizeof(*ta));
	tb = calloc(bert_max_tensors(b), sizeof(*tb));
	if (ta && tb) {
		bert_list(b, "", 0, tb);
		rc = same_tensors(ta, tb, bert_list(a, "", 0, ta), why, cap);
	} else {
		snprintf(why, cap, "out of memory");
	}
	free(ta);
	free(tb);
	model_free(wa);
	model_free(wb);
	return rc;
}
