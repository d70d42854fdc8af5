/*
 * model — format detection, the model's lifecycle, and the facts about a
 * Llama block that every other part of lib/ asks for (module names and
 * shapes, parameter counts, config sanity); see model.h.
 *
 * Detection is by content, never by file name: a directory is a Hugging
 * Face model when it has config.json; a file is GGUF when it starts with
 * the GGUF magic, else a llama2.c checkpoint when its header says so (the
 * v1 magic, or a legacy v0 header with plausible numbers, whose exact size
 * the loader then checks).
 */
#include "model/model_loader.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"
#include "format/quant.h"
#include "util/alloc.h"
#include "util/err.h"

/* Sanity bounds: far above any real Llama-family model, low enough that
 * every size product fits comfortably in 64 bits. */
#define MAX_DIM        (1 << 16)
#define MAX_HIDDEN     (1 << 20)
#define MAX_LAYERS     1024
#define MAX_HEADS      1024
#define MAX_HEAD_DIM   1024
#define MAX_Q_DIM      (1 << 17)
#define MAX_VOCAB      (1 << 22)
#define MAX_CONTEXT    (1 << 24)

/* ---- detection -------------------------------------------------------- */

/* Up to cap bytes from the start of path. */
static int read_head(const char *path, uint8_t *buf, size_t cap, size_t *len,
		     struct ada_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	*len = 0;
	if (fd < 0)
		return ada_fail(err, errno == ENOENT ? ADA_ENOTFOUND : ADA_EIO, "%s: %s",
				path, strerror(errno));
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return ada_fail(err, ADA_EIO, "%s: read: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return ADA_OK;
}

int model_detect_format(const char *path, enum model_format *fmt, struct ada_err *err)
{
	uint8_t head[LLAMA2C_V1_HEADER];
	struct stat st;
	size_t len = 0;
	int rc;

	if (stat(path, &st) < 0)
		return ada_fail(err, errno == ENOENT ? ADA_ENOTFOUND : ADA_EIO, "%s: %s",
				path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		char *cfg = path_join(path, "config.json");
		int found;

		if (!cfg)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		found = file_exists(cfg);
		free(cfg);
		if (!found)
			return ada_fail(err, ADA_EFORMAT,
					"%s: a directory without config.json is not a Hugging Face model",
					path);
		*fmt = MODEL_FORMAT_HF;
		return ADA_OK;
	}
	rc = read_head(path, head, sizeof(head), &len, err);
	if (rc)
		return rc;
	if (gguf_sniff(head, len)) {
		*fmt = MODEL_FORMAT_GGUF;
		return ADA_OK;
	}
	if (llama2c_sniff(head, len)) {
		*fmt = MODEL_FORMAT_LLAMA2C;
		return ADA_OK;
	}
	return ada_fail(err, ADA_EFORMAT,
			"%s: not a model file (neither GGUF nor a llama2.c checkpoint)", path);
}

/* ---- lifecycle -------------------------------------------------------- */

int model_load(const char *path, const char *tokenizer_path, struct model **out,
	       struct ada_err *err)
{
	enum model_format fmt;
	struct model *m;
	int rc;

	/* Tokenizers are attached by the caller; see model.h. */
	(void)tokenizer_path;
	*out = NULL;
	rc = model_detect_format(path, &fmt, err);
	if (rc)
		return rc;
	m = calloc(1, sizeof(*m));
	if (!m)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	m->path = strdup(path);
	if (!m->path) {
		free(m);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	switch (fmt) {
	case MODEL_FORMAT_GGUF:
		rc = model_load_gguf(m, err);
		break;
	case MODEL_FORMAT_LLAMA2C:
		rc = model_load_llama2c(m, err);
		break;
	case MODEL_FORMAT_HF:
		rc = model_load_hf(m, err);
		break;
	}
	if (rc) {
		model_free(m);
		return rc;
	}
	*out = m;
	return ADA_OK;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	for (int i = 0; i < m->n_maps; i++)
		mapped_file_close(&m->maps[i]);
	free(m->maps);
	if (m->format_free)
		m->format_free(m->format_state);
	if (m->bert)
		free(m->bert->layers);
	free(m->bert);
	if (m->bart)
		free(m->bart->layers);
	free(m->bart);
	free(m->layers);
	free(m->path);
	free(m);
}

const struct gguf *model_gguf(const struct model *m)
{
	return strcmp(m->format, "gguf") ? NULL : m->format_state;
}

/* Index of the first NaN or infinity in w[0..n), or n. An exponent field
 * of all ones is either; integer tests on the bits, a block at a time,
 * vectorise (a float compare with NaN would not), so a model's whole
 * weights are checked at memory speed. */
static size_t first_nonfinite(const float *w, size_t n)
{
	const size_t block = 4096;

	for (size_t at = 0; at < n; at += block) {
		size_t end = n - at < block ? n : at + block;
		uint32_t bad = 0;

		for (size_t i = at; i < end; i++) {
			uint32_t bits;
			memcpy(&bits, &w[i], sizeof(bits));
			bad |= (bits & 0x7f800000u) == 0x7f800000u;
		}
		if (!bad)
			continue;
		for (size_t i = at; i < end; i++)
			if (!isfinite(w[i]))
				return i;
	}
	return n;
}

int model_check_finite(const struct model *m, const char *name, const float *w, size_t n,
		       struct ada_err *err)
{
	size_t i = first_nonfinite(w, n);

	if (i == n)
		return ADA_OK;
	return ada_fail(err, ADA_EFORMAT,
			"%s: tensor '%s' holds %s at element %zu: the weights are corrupt "
			"(or the model diverged before it was saved)",
			m->path, name, isnan(w[i]) ? "NaN" : w[i] > 0 ? "+Inf" : "-Inf", i);
}

int model_place_tensor(struct model *m, const char *name, const void *mapped_f32, size_t n,
		       tensor_convert_fn convert, const void *ctx, int perm_heads, uint64_t rows,
		       uint64_t cols, const float **out, struct ada_err *err)
{
	float *dst, *tmp;
	int rc;

	if (mapped_f32 && !perm_heads && (uintptr_t)mapped_f32 % sizeof(float) == 0) {
		*out = mapped_f32;
		return model_check_finite(m, name, *out, n, err);
	}
	rc = model_alloc_weights(m, n, &dst, err);
	if (rc)
		return rc;
	*out = dst;
	if (!perm_heads) {
		rc = convert(ctx, dst, err);
		return rc ? rc : model_check_finite(m, name, dst, n, err);
	}
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return ada_fail(err, ADA_ENOMEM, "%s: out of memory", m->path);
	rc = convert(ctx, tmp, err);
	if (!rc) {
		/* A bias vector permutes as cols rows of one value. */
		uint64_t prows = rows ? rows : cols, pcols = rows ? cols : 1;
		rope_rows_to_pairs(dst, tmp, perm_heads, (int)(prows / (uint64_t)perm_heads),
				   (size_t)pcols);
		rc = model_check_finite(m, name, dst, n, err);
	}
	free(tmp);
	return rc;
}

int model_place_matrix(struct model *m, const char *name, const void *data, uint32_t type,
		       uint64_t rows, uint64_t cols, int perm_heads, struct frozen_mat *out,
		       struct ada_err *err)
{
	const uint64_t row_bytes = quant_bytes(type, cols), n = rows * cols;
	size_t bad;
	void *dst;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!quant_supported(type))
		return ada_fail(err, ADA_EUNSUPPORTED, "%s: tensor '%s' has type %s, which we do not read",
				m->path, name, ggml_type_name(type));
	if (!row_bytes || rows > INT32_MAX || cols > INT32_MAX)
		return ada_fail(err, ADA_EFORMAT, "%s: tensor '%s' has rows of %llu elements, not whole blocks of %s",
				m->path, name, (unsigned long long)cols, ggml_type_name(type));
	bad = quant_first_nonfinite(type, data, (size_t)n);
	if (bad < n) {
		float v[256];
		const int bs = quant_block_elems(type);
		const uint64_t at = (uint64_t)bad / (uint64_t)bs * (uint64_t)bs;

		quant_dequantize(type, (const uint8_t *)data + quant_bytes(type, at), v, (size_t)bs);
		return ada_fail(err, ADA_EFORMAT,
				"%s: tensor '%s' holds %s at element %zu: the weights are corrupt "
				"(or the model diverged before it was saved)",
				m->path, name, isnan(v[bad - at]) ? "NaN" : v[bad - at] > 0 ? "+Inf" : "-Inf",
				bad);
	}
	*out = (struct frozen_mat){ .data = data, .type = type, .rows = (int)rows, .cols = (int)cols,
				    .row_bytes = (size_t)row_bytes };
	if (!perm_heads && (type != GGML_TYPE_F32 || (uintptr_t)data % sizeof(float) == 0))
		return ADA_OK;
	/* A copy of our own: Q/K rows move to adjacent RoPE pairs (any type: a
	 * row permutation needs no values), or F32 data gets float alignment. */
	rc = model_alloc_weights(m, (size_t)((rows * row_bytes + 3) / 4), (float **)&dst, err);
	if (rc)
		return rc;
	if (perm_heads)
		rope_bytes_to_pairs(dst, data, perm_heads, (int)(rows / (uint64_t)perm_heads),
				    (size_t)row_bytes);
	else
		memcpy(dst, data, (size_t)(rows * row_bytes));
	out->data = dst;
	return ADA_OK;
}

uint64_t model_weight_types(const struct model *m, char *buf, size_t cap)
{
	const struct model_config *c = &m->cfg;
	uint64_t mask = 0;
	size_t len = 0;

#define ADD(fm) do { if ((fm).data && (fm).type < 64) mask |= 1ull << (fm).type; } while (0)
	ADD(m->tok_emb);
	ADD(m->output);
	for (int l = 0; m->layers && l < c->n_layers; l++) {
		const struct model_layer *ly = &m->layers[l];
		ADD(ly->wq); ADD(ly->wk); ADD(ly->wv); ADD(ly->wo);
		ADD(ly->w_gate); ADD(ly->w_up); ADD(ly->w_down);
	}
	for (int l = 0; m->bert && l < c->n_layers; l++)
		for (int k = 0; k < N_BERT_MODULES; k++)
			ADD(m->bert->layers[l].w[k]);
	for (int l = 0; m->bart && l < c->n_layers; l++)
		for (int k = 0; k < N_BART_MODULES; k++)
			ADD(m->bart->layers[l].w[k]);
#undef ADD
	if (cap)
		buf[0] = 0;
	/* Block types first (what the file is "a Q4_K model" by), then floats. */
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t t = 0; t < 64; t++) {
			if (!(mask & (1ull << t)) || quant_is_block(t) != !pass || len >= cap)
				continue;
			len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "+" : "",
						ggml_type_name(t));
		}
	return mask;
}

int model_alloc_weights(struct model *m, size_t n, float **out, struct ada_err *err)
{
	void **owned;

	*out = NULL;
	owned = xreallocarray(m->owned, (size_t)m->n_owned + 1, sizeof(*owned));
	if (!owned)
		return ada_fail(err, ADA_ENOMEM, "%s: out of memory", m->path);
	m->owned = owned;
	*out = xalloc_aligned(n ? n : 1, sizeof(**out));
	if (!*out)
		return ada_fail(err, ADA_ENOMEM, "%s: out of memory for %zu weights", m->path, n);
	m->owned[m->n_owned++] = *out;
	return ADA_OK;
}

int model_alloc_layers(struct model *m, struct ada_err *err)
{
	m->layers = xcalloc((size_t)m->cfg.n_layers, sizeof(*m->layers));
	return m->layers ? ADA_OK : ada_fail(err, ADA_ENOMEM, "%s: out of memory", m->path);
}

/* ---- the Llama block -------------------------------------------------- */

/* BERT: embeddings (word, position, type, LayerNorm), per layer four
 * dim x dim and two dim x hidden Linears with biases and two LayerNorms,
 * the optional pooler. DeBERTa: the position table only with
 * position_biased_input; the relative table (and its LayerNorm) and, without
 * share_att_key, each layer's pos_key_proj / pos_query_proj. */
static int64_t bert_param_count(const struct model_config *cfg)
{
	int64_t dim = cfg->dim, hidden = cfg->hidden_dim;
	int64_t layer = 4 * (dim * dim + dim) + 2 * dim * hidden + hidden + dim + 4 * dim;
	int64_t n = ((int64_t)cfg->vocab_size + cfg->max_positions + cfg->type_vocab_size) * dim +
		    2 * dim + cfg->n_layers * layer;

	if (cfg->has_pooler)
		n += dim * dim + dim;
	if (!bert_has_pos_emb(cfg))
		n -= (int64_t)cfg->max_positions * dim;
	if (model_is_deberta(cfg) && cfg->deberta.relative_attention) {
		const struct deberta_config *db = &cfg->deberta;
		int pos_proj = !db->share_att_key ? ((db->pos_att & DEBERTA_C2P) != 0) +
						    ((db->pos_att & DEBERTA_P2C) != 0) : 0;

		n += 2 * (int64_t)db->att_span * dim + (db->norm_rel_ebd ? 2 * dim : 0) +
		     (int64_t)cfg->n_layers * pos_proj * (dim * dim + dim);
	}
	return n;
}

/* BART: the shared embedding, two position tables and embedding
 * LayerNorms, per encoder layer four dim x dim and two dim x hidden Linears
 * with biases and two LayerNorms, per decoder layer four more Linears and a
 * third LayerNorm, final_logits_bias (a buffer, but in the checkpoint), an
 * untied lm_head. */
static int64_t bart_param_count(const struct model_config *cfg)
{
	int64_t dim = cfg->dim, hidden = cfg->hidden_dim;
	int64_t attn = 4 * (dim * dim + dim), ffn = 2 * dim * hidden + hidden + dim;
	int64_t enc = cfg->n_layers - cfg->n_dec_layers, dec = cfg->n_dec_layers;
	int64_t n = (int64_t)cfg->vocab_size * dim + 2 * ((int64_t)cfg->max_positions * dim + 2 * dim) +
		    enc * (attn + ffn + 4 * dim) + dec * (2 * attn + ffn + 6 * dim) + cfg->vocab_size;

	if (!cfg->tied_output)
		n += (int64_t)cfg->vocab_size * dim;
	return n;
}

int64_t model_param_count(const struct model_config *cfg)
{
	int64_t dim = cfg->dim;
	int64_t q = (int64_t)cfg->n_heads * cfg->head_dim;
	int64_t kv = (int64_t)cfg->n_kv_heads * cfg->head_dim;
	int64_t layer = 2 * dim                       /* the two norms */
			+ dim * q + 2 * dim * kv + q * dim
			+ 3 * dim * cfg->hidden_dim;
	int64_t n;

	if (cfg->family == ADA_FAMILY_BERT)
		return bert_param_count(cfg);
	if (cfg->family == ADA_FAMILY_BART)
		return bart_param_count(cfg);
	if (cfg->qkv_bias)
		layer += q + 2 * kv;
	n = (int64_t)cfg->vocab_size * dim + cfg->n_layers * layer + dim;
	if (!cfg->tied_output)
		n += (int64_t)cfg->vocab_size * dim;
	return n;
}

/* Module names, paths and shapes: model/modules.c. */

static void permute_rows(float *dst, const float *src, int n_heads, int head_dim, size_t cols,
			 int to_pairs)
{
	size_t half = (size_t)head_dim / 2, hd = (size_t)head_dim;

	for (size_t h = 0; h < (size_t)n_heads; h++) {
		for (size_t i = 0; i < half; i++) {
			for (size_t j = 0; j < 2; j++) {
				size_t pair = h * hd + 2 * i + j;
				size_t halves = h * hd + i + j * half;
				size_t d = to_pairs ? pair : halves, s = to_pairs ? halves : pair;

				memcpy(dst + d * cols, src + s * cols, cols * sizeof(*dst));
			}
		}
	}
}

void rope_bytes_to_pairs(void *dst, const void *src, int n_heads, int head_dim, size_t row_bytes)
{
	const size_t half = (size_t)head_dim / 2, hd = (size_t)head_dim;

	for (size_t h = 0; h < (size_t)n_heads; h++)
		for (size_t i = 0; i < half; i++)
			for (size_t j = 0; j < 2; j++)
				memcpy((char *)dst + (h * hd + 2 * i + j) * row_bytes,
				       (const char *)src + (h * hd + i + j * half) * row_bytes, row_bytes);
}

void rope_bytes_to_halves(void *dst, const void *src, int n_heads, int head_dim,
			  size_t row_bytes)
{
	const size_t half = (size_t)head_dim / 2, hd = (size_t)head_dim;

	for (size_t h = 0; h < (size_t)n_heads; h++)
		for (size_t i = 0; i < half; i++)
			for (size_t j = 0; j < 2; j++)
				memcpy((char *)dst + (h * hd + i + j * half) * row_bytes,
				       (const char *)src + (h * hd + 2 * i + j) * row_bytes, row_bytes);
}

void rope_rows_to_pairs(float *dst, const float *src, int n_heads, int head_dim, size_t cols)
{
	permute_rows(dst, src, n_heads, head_dim, cols, 1);
}

void rope_rows_to_halves(float *dst, const float *src, int n_heads, int head_dim, size_t cols)
{
	permute_rows(dst, src, n_heads, head_dim, cols, 0);
}

static int check_range(const char *path, const char *field, int v, int lo, int hi,
		       struct ada_err *err)
{
	if (v >= lo && v <= hi)
		return ADA_OK;
	return ada_fail_param(err, ADA_EFORMAT, field, "%s: %s = %d is out of range [%d, %d]",
			      path, field, v, lo, hi);
}

/* BERT: no RoPE, no grouped-query attention; learned positions from
 * position_offset, token types, a padding id inside the vocabulary. */
static int bert_config_check(const struct model_config *cfg, const char *path,
			     struct ada_err *err)
{
	const struct deberta_config *db = &cfg->deberta;
	int rc;

	if (model_is_deberta(cfg) && db->relative_attention &&
	    ((rc = check_range(path, "att_span", db->att_span, 1, MAX_CONTEXT, err)) ||
	     (rc = check_range(path, "position_buckets", db->position_buckets, 0, MAX_CONTEXT,
			       err)) ||
	     (rc = check_range(path, "max_relative_positions", db->max_relative_positions, 1,
			       MAX_CONTEXT, err)) ||
	     (rc = check_range(path, "pos_att", db->pos_att, 0, DEBERTA_C2P | DEBERTA_P2C, err))))
		return rc;

	if ((rc = check_range(path, "n_kv_heads", cfg->n_kv_heads, cfg->n_heads, cfg->n_heads,
			      err)) ||
	    (rc = check_range(path, "type_vocab_size", cfg->type_vocab_size,
			      model_is_deberta(cfg) ? 0 : 1, MAX_VOCAB, err)) ||
	    (rc = check_range(path, "max_positions", cfg->max_positions, 1, MAX_CONTEXT, err)) ||
	    (rc = check_range(path, "position_offset", cfg->position_offset, 0,
			      cfg->max_positions - 1, err)) ||
	    (rc = check_range(path, "pad_token_id", cfg->pad_token_id, 0, cfg->vocab_size - 1,
			      err)))
		return rc;
	if (cfg->context_length != cfg->max_positions - cfg->position_offset)
		return ada_fail_param(err, ADA_EFORMAT, "context_length",
				      "%s: context_length (%d) must be max_positions - position_offset (%d)",
				      path, cfg->context_length,
				      cfg->max_positions - cfg->position_offset);
	if ((int64_t)cfg->n_heads * cfg->head_dim != cfg->dim)
		return ada_fail_param(err, ADA_EFORMAT, "head_dim",
				      "%s: n_heads * head_dim (%lld) must be dim (%d)", path,
				      (long long)cfg->n_heads * cfg->head_dim, cfg->dim);
	return ADA_OK;
}

/* A token id the config names (-1 allowed when optional). */
static int check_token(const char *path, const char *field, int id, int optional,
		       const struct model_config *cfg, struct ada_err *err)
{
	return optional && id == -1 ? ADA_OK : check_range(path, field, id, 0, cfg->vocab_size - 1, err);
}

/* BART: no RoPE; learned positions from 2; encoder and decoder layers. */
static int bart_config_check(const struct model_config *cfg, const char *path,
			     struct ada_err *err)
{
	int rc;

	if ((rc = check_range(path, "n_kv_heads", cfg->n_kv_heads, cfg->n_heads, cfg->n_heads,
			      err)) ||
	    (rc = check_range(path, "decoder_layers", cfg->n_dec_layers, 1, cfg->n_layers - 1,
			      err)) ||
	    (rc = check_range(path, "max_positions", cfg->max_positions, 1, MAX_CONTEXT, err)) ||
	    (rc = check_range(path, "position_offset", cfg->position_offset, 0,
			      cfg->max_positions - 1, err)) ||
	    (rc = check_token(path, "pad_token_id", cfg->pad_token_id, 0, cfg, err)) ||
	    (rc = check_token(path, "bos_token_id", cfg->bos_token_id, 0, cfg, err)) ||
	    (rc = check_token(path, "eos_token_id", cfg->eos_token_id, 0, cfg, err)) ||
	    (rc = check_token(path, "decoder_start_token_id", cfg->decoder_start_token_id, 0, cfg,
			      err)) ||
	    (rc = check_token(path, "forced_bos_token_id", cfg->forced_bos_token_id, 1, cfg, err)))
		return rc;
	if (cfg->context_length != cfg->max_positions - cfg->position_offset)
		return ada_fail_param(err, ADA_EFORMAT, "context_length",
				      "%s: context_length (%d) must be max_positions - position_offset (%d)",
				      path, cfg->context_length,
				      cfg->max_positions - cfg->position_offset);
	if ((int64_t)cfg->n_heads * cfg->head_dim != cfg->dim)
		return ada_fail_param(err, ADA_EFORMAT, "head_dim",
				      "%s: n_heads * head_dim (%lld) must be dim (%d)", path,
				      (long long)cfg->n_heads * cfg->head_dim, cfg->dim);
	if (!(isfinite(cfg->embed_scale) && cfg->embed_scale > 0))
		return ada_fail_param(err, ADA_EFORMAT, "scale_embedding",
				      "%s: embed_scale (%g) must be positive", path, cfg->embed_scale);
	return ADA_OK;
}

int model_config_check(const struct model_config *cfg, const char *path, struct ada_err *err)
{
	int bert = cfg->family == ADA_FAMILY_BERT || cfg->family == ADA_FAMILY_BART, rc;

	if ((rc = check_range(path, "dim", cfg->dim, 1, MAX_DIM, err)) ||
	    (rc = check_range(path, "hidden_dim", cfg->hidden_dim, 1, MAX_HIDDEN, err)) ||
	    (rc = check_range(path, "n_layers", cfg->n_layers, 1, MAX_LAYERS, err)) ||
	    (rc = check_range(path, "n_heads", cfg->n_heads, 1, MAX_HEADS, err)) ||
	    (rc = check_range(path, "n_kv_heads", cfg->n_kv_heads, 1, cfg->n_heads, err)) ||
	    (rc = check_range(path, "head_dim", cfg->head_dim, bert ? 1 : 2, MAX_HEAD_DIM, err)) ||
	    (rc = check_range(path, "vocab_size", cfg->vocab_size, 1, MAX_VOCAB, err)) ||
	    (rc = check_range(path, "context_length", cfg->context_length, 1, MAX_CONTEXT, err)) ||
	    (rc = check_range(path, "sliding_window", cfg->sliding_window, 0, INT32_MAX, err)))
		return rc;
	if (!(isfinite(cfg->norm_eps) && cfg->norm_eps > 0 && cfg->norm_eps < 1))
		return ada_fail_param(err, ADA_EFORMAT, "norm_eps",
				      "%s: norm_eps (%g) must be in (0, 1)", path, cfg->norm_eps);
	if (cfg->family == ADA_FAMILY_BART)
		return bart_config_check(cfg, path, err);
	if (bert)
		return bert_config_check(cfg, path, err);
	if (cfg->n_heads % cfg->n_kv_heads)
		return ada_fail_param(err, ADA_EFORMAT, "n_kv_heads",
				      "%s: n_heads (%d) is not a multiple of n_kv_heads (%d)",
				      path, cfg->n_heads, cfg->n_kv_heads);
	if (cfg->head_dim % 2)
		return ada_fail_param(err, ADA_EFORMAT, "head_dim",
				      "%s: head_dim (%d) must be even for RoPE", path, cfg->head_dim);
	if ((int64_t)cfg->n_heads * cfg->head_dim > MAX_Q_DIM)
		return ada_fail_param(err, ADA_EFORMAT, "head_dim",
				      "%s: n_heads * head_dim = %lld is implausibly large", path,
				      (long long)cfg->n_heads * cfg->head_dim);
	if (!(isfinite(cfg->rope_theta) && cfg->rope_theta > 0))
		return ada_fail_param(err, ADA_EFORMAT, "rope_theta",
				      "%s: rope_theta (%g) must be positive", path, cfg->rope_theta);
	return ADA_OK;
}
