/*
 * model_gguf — GGUF files (llama.cpp's format) -> struct model.
 *
 * The open struct gguf is kept as the model's format_state: F32 weights
 * point into its mapping, and the lead's tokenizer code reads the embedded
 * tokenizer.ggml.* metadata from it. Weight matrices stay in the mapping
 * in their file's type (F32, F16, BF16 or any block type of format/quant.h,
 * mixed as llama.cpp's Q4_K_M files mix them); norms and biases, whatever
 * their type, are converted to f32 into buffers the model owns.
 *
 * Layouts: llama.cpp's converter permutes llama/mistral Q and K into the
 * adjacent-pair RoPE layout we use, but leaves qwen2 in Hugging Face's
 * rotate-half layout (llama.cpp runs qwen2 with NEOX RoPE), so qwen2's Q/K
 * weights and biases are permuted here, exactly as for a Hugging Face
 * checkpoint.
 *
 * Every tensor's shape is checked against the config before it is used,
 * and anything we do not implement (partial rotary dims, RoPE scaling,
 * attention biases outside qwen2, tensor types we cannot read) is refused by name
 * rather than run wrongly.
 */
#include "model/model_loader.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "util/alloc.h"
#include "util/err.h"

static const char *const supported_arches[] = { "llama", "mistral", "qwen2" };

/* "<arch>.<suffix>" as an int in [0, INT_MAX]; *out = dflt when absent and
 * dflt >= 0, else a missing key is an error. */
static int get_int(const struct gguf *g, const char *arch, const char *suffix, int dflt,
		   int *out, struct ada_err *err)
{
	char key[128];
	uint64_t v;
	int rc;

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	rc = gguf_get_u64(g, key, &v, err);
	if (rc == ADA_ENOTFOUND && dflt >= 0) {
		*out = dflt;
		return ADA_OK;
	}
	if (rc == ADA_ENOTFOUND)
		return ada_fail_param(err, ADA_EFORMAT, key, "%s: missing metadata '%s'",
				      g->file.path, key);
	if (rc)
		return rc;
	if (v > INT_MAX)
		return ada_fail_param(err, ADA_EFORMAT, key, "%s: metadata '%s' = %llu is out of range",
				      g->file.path, key, (unsigned long long)v);
	*out = (int)v;
	return ADA_OK;
}

static int get_float(const struct gguf *g, const char *arch, const char *suffix, double dflt,
		     int required, float *out, struct ada_err *err)
{
	char key[128];
	double v;
	int rc;

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	rc = gguf_get_f64(g, key, &v, err);
	if (rc == ADA_ENOTFOUND && !required) {
		*out = (float)dflt;
		return ADA_OK;
	}
	if (rc == ADA_ENOTFOUND)
		return ada_fail_param(err, ADA_EFORMAT, key, "%s: missing metadata '%s'",
				      g->file.path, key);
	if (rc)
		return rc;
	*out = (float)v;
	return ADA_OK;
}

static int read_arch(const struct gguf *g, struct model_config *cfg, struct ada_err *err)
{
	char *arch;
	int rc = gguf_get_str(g, "general.architecture", &arch, err);

	if (rc == ADA_ENOTFOUND)
		return ada_fail_param(err, ADA_EFORMAT, "general.architecture",
				      "%s: missing metadata 'general.architecture'", g->file.path);
	if (rc)
		return rc;
	rc = ADA_EUNSUPPORTED;
	for (size_t i = 0; i < sizeof(supported_arches) / sizeof(supported_arches[0]); i++)
		if (!strcmp(arch, supported_arches[i]))
			rc = ADA_OK;
	if (rc)
		ada_fail(err, rc, "%s: architecture '%s' is not supported (llama, mistral, qwen2)",
			 g->file.path, arch);
	else
		snprintf(cfg->arch, sizeof(cfg->arch), "%s", arch);
	free(arch);
	return rc;
}

/* What this loader cannot run faithfully must be refused, not ignored. */
static int refuse_unsupported(const struct gguf *g, const char *arch, struct ada_err *err)
{
	char key[128], *type = NULL;
	int rc;

	snprintf(key, sizeof(key), "%s.rope.scaling.type", arch);
	rc = gguf_get_str(g, key, &type, NULL);
	if (rc == ADA_OK && strcmp(type, "none")) {
		rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: RoPE scaling '%s' (%s) is not supported",
			      g->file.path, type, key);
		free(type);
		return rc;
	}
	free(type);
	if (gguf_find_tensor(g, "rope_freqs.weight"))
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: tensor 'rope_freqs.weight' (RoPE frequency scaling) is not supported",
				g->file.path);
	return ADA_OK;
}

int gguf_read_model_config(const struct gguf *g, struct model_config *cfg, struct ada_err *err)
{
	const struct gguf_tensor *emb;
	const char *path = g->file.path;
	int rope_dims, value_len, rc;
	char key[128];

	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_LLAMA;
	rc = read_arch(g, cfg, err);
	if (rc)
		return rc;
	const char *a = cfg->arch;
	if ((rc = get_int(g, a, "context_length", -1, &cfg->context_length, err)) ||
	    (rc = get_int(g, a, "embedding_length", -1, &cfg->dim, err)) ||
	    (rc = get_int(g, a, "block_count", -1, &cfg->n_layers, err)) ||
	    (rc = get_int(g, a, "feed_forward_length", -1, &cfg->hidden_dim, err)) ||
	    (rc = get_int(g, a, "attention.head_count", -1, &cfg->n_heads, err)) ||
	    (rc = get_int(g, a, "attention.head_count_kv", cfg->n_heads, &cfg->n_kv_heads, err)) ||
	    (rc = get_int(g, a, "attention.sliding_window", 0, &cfg->sliding_window, err)) ||
	    (rc = get_float(g, a, "attention.layer_norm_rms_epsilon", 0, 1, &cfg->norm_eps, err)) ||
	    (rc = get_float(g, a, "rope.freq_base", 10000.0, 0, &cfg->rope_theta, err)))
		return rc;
	if (cfg->n_heads <= 0)
		return ada_fail_param(err, ADA_EFORMAT, "n_heads", "%s: %s.attention.head_count is 0",
				      path, a);
	snprintf(key, sizeof(key), "%s.attention.key_length", a);
	if (!gguf_find_kv(g, key) && cfg->dim % cfg->n_heads)
		return ada_fail_param(err, ADA_EFORMAT, "head_dim",
				      "%s: embedding_length (%d) is not a multiple of head_count (%d) and %s is not given",
				      path, cfg->dim, cfg->n_heads, key);
	if ((rc = get_int(g, a, "attention.key_length", cfg->dim / cfg->n_heads, &cfg->head_dim,
			  err)) ||
	    (rc = get_int(g, a, "attention.value_length", cfg->head_dim, &value_len, err)) ||
	    (rc = get_int(g, a, "rope.dimension_count", cfg->head_dim, &rope_dims, err)))
		return rc;
	if (value_len != cfg->head_dim)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: %s.attention.value_length (%d) differs from key_length (%d)",
				path, a, value_len, cfg->head_dim);
	if (rope_dims != cfg->head_dim)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: %s.rope.dimension_count = %d: partial rotary embeddings (head size %d) are not supported",
				path, a, rope_dims, cfg->head_dim);
	rc = refuse_unsupported(g, a, err);
	if (rc)
		return rc;

	emb = gguf_find_tensor(g, "token_embd.weight");
	if (!emb)
		return ada_fail(err, ADA_EFORMAT, "%s: missing tensor 'token_embd.weight'", path);
	if (emb->n_dims != 2 || emb->dims[1] > INT_MAX)
		return ada_fail(err, ADA_EFORMAT, "%s: tensor 'token_embd.weight' is not a matrix",
				path);
	cfg->vocab_size = (int)emb->dims[1];
	cfg->tied_output = gguf_find_tensor(g, "output.weight") == NULL;
	cfg->qkv_bias = !strcmp(a, "qwen2");
	rc = model_config_check(cfg, path, err);
	if (rc)
		return rc;
	if (!cfg->qkv_bias && (gguf_find_tensor(g, "blk.0.attn_q.bias") ||
			       gguf_find_tensor(g, "blk.0.attn_output.bias")))
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: attention biases (blk.0.attn_*.bias) are not supported for %s",
				path, a);
	return ADA_OK;
}

/*
 * The weight called name, rows x cols (rows = 0: a vector of cols), as f32 in our
 * layout. perm_heads > 0: the rows of a Q/K weight (or the values of its
 * bias) come in rotate-half layout for that many heads; permute them.
 */
struct gguf_source {
	const struct gguf *g;
	const struct gguf_tensor *t;
};

static int gguf_convert(const void *ctx, float *dst, struct ada_err *err)
{
	const struct gguf_source *src = ctx;

	return gguf_tensor_to_f32(src->g, src->t, dst, err);
}

static int gguf_tensor(struct model *m, const struct gguf *g, const char *name, uint64_t rows,
		       uint64_t cols, int perm_heads, const float **out, struct frozen_mat *out_mat,
		       struct ada_err *err)
{
	const struct gguf_tensor *t = gguf_find_tensor(g, name);

	if (!t)
		return ada_fail(err, ADA_EFORMAT, "%s: missing tensor '%s'", m->path, name);
	if (t->dims[0] != cols || t->dims[1] != (rows ? rows : 1) || t->dims[2] != 1 ||
	    t->dims[3] != 1)
		return ada_fail(err, ADA_EFORMAT,
				"%s: tensor '%s' is %llu x %llu (rows x columns) but the config needs %llu x %llu",
				m->path, name,
				(unsigned long long)(t->dims[1] * t->dims[2] * t->dims[3]),
				(unsigned long long)t->dims[0],
				(unsigned long long)(rows ? rows : 1), (unsigned long long)cols);
	if (!quant_supported(t->type) || !t->data)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: tensor '%s' has type %s, which we do not read (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K)",
				m->path, name, ggml_type_name(t->type));
	if (out_mat)
		return model_place_matrix(m, name, t->data, t->type, rows, cols, perm_heads, out_mat,
					  err);
	/* A mapping pointer needs 4-byte alignment (general.alignment may be 1 or 2):
	 * model_place_tensor checks. */
	{
		const struct gguf_source src = { g, t };
		return model_place_tensor(m, name, t->type == GGML_TYPE_F32 ? t->data : NULL,
					  (size_t)t->n_elements, gguf_convert, &src, perm_heads, rows,
					  cols, out, err);
	}
}

/* A vector (norm, bias) as f32. */
static int gguf_weight(struct model *m, const struct gguf *g, const char *name, uint64_t rows,
		       uint64_t cols, int perm_heads, const float **out, struct ada_err *err)
{
	return gguf_tensor(m, g, name, rows, cols, perm_heads, out, NULL, err);
}

/* A matrix in its file's type. */
static int gguf_matrix(struct model *m, const struct gguf *g, const char *name, uint64_t rows,
		       uint64_t cols, int perm_heads, struct frozen_mat *out, struct ada_err *err)
{
	return gguf_tensor(m, g, name, rows, cols, perm_heads, NULL, out, err);
}

static int load_layer(struct model *m, const struct gguf *g, int i, struct ada_err *err)
{
	const struct model_config *c = &m->cfg;
	struct model_layer *l = &m->layers[i];
	uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
	uint64_t q = (uint64_t)c->n_heads * (uint64_t)c->head_dim;
	uint64_t kv = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
	/* Only qwen2's Q/K arrive in rotate-half layout (see the top of the file). */
	int qh = c->qkv_bias ? c->n_heads : 0, kh = c->qkv_bias ? c->n_kv_heads : 0;
	char name[96];
	int rc;

#define W(field, suffix, rows, cols, heads) do { \
		snprintf(name, sizeof(name), "blk.%d.%s", i, suffix); \
		rc = gguf_weight(m, g, name, rows, cols, heads, &l->field, err); \
		if (rc) \
			return rc; \
	} while (0)
#define M(field, suffix, rows, cols, heads) do { \
		snprintf(name, sizeof(name), "blk.%d.%s", i, suffix); \
		rc = gguf_matrix(m, g, name, rows, cols, heads, &l->field, err); \
		if (rc) \
			return rc; \
	} while (0)
	W(attn_norm, "attn_norm.weight", 0, dim, 0);
	M(wq, "attn_q.weight", q, dim, qh);
	M(wk, "attn_k.weight", kv, dim, kh);
	M(wv, "attn_v.weight", kv, dim, 0);
	M(wo, "attn_output.weight", dim, q, 0);
	if (c->qkv_bias) {
		W(bq, "attn_q.bias", 0, q, qh);
		W(bk, "attn_k.bias", 0, kv, kh);
		W(bv, "attn_v.bias", 0, kv, 0);
	}
	W(ffn_norm, "ffn_norm.weight", 0, dim, 0);
	M(w_gate, "ffn_gate.weight", hidden, dim, 0);
	M(w_up, "ffn_up.weight", hidden, dim, 0);
	M(w_down, "ffn_down.weight", dim, hidden, 0);
#undef W
#undef M
	return ADA_OK;
}

static void gguf_state_free(void *state)
{
	gguf_close(state);
}

int model_load_gguf(struct model *m, struct ada_err *err)
{
	struct gguf *g;
	uint64_t dim, vocab;
	int rc;

	snprintf(m->format, sizeof(m->format), "gguf");
	rc = gguf_open(m->path, &g, err);
	if (rc)
		return rc;
	m->format_state = g;
	m->format_free = gguf_state_free;
	rc = gguf_read_model_config(g, &m->cfg, err);
	if (rc)
		return rc;
	rc = model_alloc_layers(m, err);
	if (rc)
		return rc;
	dim = (uint64_t)m->cfg.dim;
	vocab = (uint64_t)m->cfg.vocab_size;
	rc = gguf_matrix(m, g, "token_embd.weight", vocab, dim, 0, &m->tok_emb, err);
	for (int i = 0; i < m->cfg.n_layers && !rc; i++)
		rc = load_layer(m, g, i, err);
	if (!rc)
		rc = gguf_weight(m, g, "output_norm.weight", 0, dim, 0, &m->final_norm, err);
	if (rc)
		return rc;
	if (m->cfg.tied_output)
		m->output = m->tok_emb;
	else
		rc = gguf_matrix(m, g, "output.weight", vocab, dim, 0, &m->output, err);
	return rc;
}
