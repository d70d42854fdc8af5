/*
 * model_create — ada_create_model(): a self-contained model file.
 *
 * The demo, the tests and the benchmarks need models the project makes
 * itself, without ../shared: random Llama-family weights and a byte-level
 * SentencePiece vocabulary — <unk>, <s>, </s>, the 256 byte tokens and "▁"
 * (the space) — so any UTF-8 text encodes and decodes exactly. Written as
 * GGUF v3, so every tool here loads it like a real one, its matrices in any
 * type of format/quant.h (our quantizer) or in llama.cpp's Q4_K_M/Q5_K_M
 * mixtures.
 *
 * Real shapes (smollm-135m, qwen2.5-0.5b, tinyllama-1.1b, llama-2-7b) get
 * their model's real vocabulary size — the byte vocabulary padded with
 * unused tokens (<unused0>, ...: never produced by encoding, as llama.cpp's
 * type 5) — their architecture's keys (qwen2: q/k/v biases, Q/K rows in the
 * rotate-half layout llama.cpp's converter leaves them in), and a tied or
 * untied output as the real model has. The llama2.c shapes and "tiny" keep
 * the 260-token vocabulary.
 *
 * Nothing is built whole: every tensor is a gguf_writer fill, generated a
 * chunk of rows at a time while the file is written and converted to its
 * type on the way out, so a 7B Q4_K file is made with a few MiB of buffers.
 * The values are model_random()'s, drawn from one stream in the same order
 * (matrices N(0, 0.02^2), norms 1; the tensors are added in that order), so
 * a created F32 model loads to exactly the weights `bench --shape` trains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format/gguf.h"
#include "format/quant.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"
#include "model/model.h"

#define N_BYTE_VOCAB 260

/* llama.cpp token types */
enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_UNUSED = 5, TOKEN_BYTE = 6 };

/* Qwen/Qwen2-0.5B-Instruct's tokenizer_config.json chat_template (ChatML with
 * its default system turn), written with --chat-template chatml. */
static const char chatml_template[] =
	"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
	"{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
	"{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
	"{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char *const chatml_specials[] = { "<|im_start|>", "<|im_end|>" };
#define N_CHATML_SPECIALS 2

static int tiny_config(struct model_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_LLAMA;
	strcpy(cfg->arch, "llama");
	cfg->dim = 64;
	cfg->hidden_dim = 172;
	cfg->n_layers = 2;
	cfg->n_heads = 4;
	cfg->n_kv_heads = 2;
	cfg->head_dim = 16;
	cfg->context_length = 256;
	cfg->rope_theta = 10000;
	cfg->norm_eps = 1e-5f;
	cfg->tied_output = 1;
	return ADA_OK;
}

/* The byte vocabulary, ChatML's two control tokens when asked for, then
 * unused tokens up to the model's vocabulary size. */
static int write_vocab(struct gguf_writer *w, int n_vocab, int chatml, struct ada_err *err)
{
	char byte_names[256][8];
	const char **tokens = xcalloc((size_t)n_vocab, sizeof(*tokens));
	char **unused = xcalloc((size_t)n_vocab, sizeof(*unused));
	float *scores = xcalloc((size_t)n_vocab, sizeof(*scores));
	int32_t *types = xcalloc((size_t)n_vocab, sizeof(*types));
	int n = 0, rc = ADA_OK;

	if (!tokens || !unused || !scores || !types) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory for a vocabulary of %d tokens", n_vocab);
		goto out_free;
	}
	tokens[n] = "<unk>";
	types[n++] = TOKEN_UNKNOWN;
	tokens[n] = "<s>";
	types[n++] = TOKEN_CONTROL;
	tokens[n] = "</s>";
	types[n++] = TOKEN_CONTROL;
	for (int b = 0; b < 256; b++) {
		snprintf(byte_names[b], sizeof(byte_names[b]), "<0x%02X>", b);
		tokens[n] = byte_names[b];
		types[n++] = TOKEN_BYTE;
	}
	tokens[n] = "\xe2\x96\x81";   /* U+2581, SentencePiece's space */
	types[n++] = TOKEN_NORMAL;
	for (int i = 0; chatml && i < N_CHATML_SPECIALS; i++) {
		tokens[n] = chatml_specials[i];
		types[n++] = TOKEN_CONTROL;
	}
	for (int i = 0; n < n_vocab; i++) {
		char name[32];
		snprintf(name, sizeof(name), "<unused%d>", i);
		unused[n] = strdup(name);
		if (!unused[n]) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
		tokens[n] = unused[n];
		types[n++] = TOKEN_UNUSED;
	}
	if ((rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
	    (rc = gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", tokens, NULL,
					    (uint64_t)n_vocab, err)) ||
	    (rc = gguf_writer_set_f32_array(w, "tokenizer.ggml.scores", scores, (uint64_t)n_vocab,
					    err)) ||
	    (rc = gguf_writer_set_i32_array(w, "tokenizer.ggml.token_type", types,
					    (uint64_t)n_vocab, err)) ||
	    (rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
	    (rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
	    (rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id",
				      chatml ? N_BYTE_VOCAB + 1 : 2, err)) ||
	    (rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1, err)))
		goto out_free;
	if (chatml)
		rc = gguf_writer_set_str(w, "tokenizer.chat_template", chatml_template, err);
out_free:
	for (int i = 0; unused && i < n_vocab; i++)
		free(unused[i]);
	free(unused);
	free(types);
	free(scores);
	free(tokens);
	return rc;
}

/* ---- the weights -------------------------------------------------------- */

/* One tensor's rows, drawn from the model's one stream. */
struct gen_tensor {
	struct rng *rng;        /* shared by every tensor, in file order */
	int ones;               /* a norm: every value 1, nothing drawn */
	int perm_heads;         /* qwen2 Q/K: heads whose rows go to rotate-half */
	int head_dim;
	int vector;             /* a bias: perm_heads * head_dim values, one row */
	uint64_t cols;
	float *tmp;             /* one head's rows (or a bias) in our pair layout */
};

static int gen_fill(void *ctx, uint64_t row0, uint64_t n, float *dst, struct ada_err *err)
{
	const struct gen_tensor *g = ctx;
	const uint64_t count = n * g->cols;

	(void)row0;
	(void)err;
	if (g->ones) {
		for (uint64_t i = 0; i < count; i++)
			dst[i] = 1.0f;
		return ADA_OK;
	}
	if (!g->perm_heads) {
		for (uint64_t i = 0; i < count; i++)
			dst[i] = (float)(0.02 * rng_normal(g->rng));
		return ADA_OK;
	}
	if (g->vector) {
		for (uint64_t i = 0; i < count; i++)
			g->tmp[i] = (float)(0.02 * rng_normal(g->rng));
		rope_rows_to_halves(dst, g->tmp, g->perm_heads, g->head_dim, 1);
		return ADA_OK;
	}
	/* whole heads (the fill's row_align is head_dim) */
	for (uint64_t h = 0; h < n / (uint64_t)g->head_dim; h++) {
		const uint64_t per_head = (uint64_t)g->head_dim * g->cols;
		for (uint64_t i = 0; i < per_head; i++)
			g->tmp[i] = (float)(0.02 * rng_normal(g->rng));
		rope_rows_to_halves(dst + h * per_head, g->tmp, 1, g->head_dim, (size_t)g->cols);
	}
	return ADA_OK;
}

enum mat_kind { MAT_EMB, MAT_Q, MAT_K, MAT_V, MAT_O, MAT_GATE, MAT_UP, MAT_DOWN, MAT_OUTPUT };

/* llama.cpp's use_more_bits(): the first and last eighth of the layers and
 * every third one between get the mixture's higher type. */
static int use_more_bits(int layer, int n_layers)
{
	return layer < n_layers / 8 || layer >= 7 * n_layers / 8 ||
	       (layer - n_layers / 8) % 3 == 2;
}

/* The type a matrix is written as. A mixture follows llama.cpp's
 * llama_tensor_get_type() for LLAMA_FTYPE_MOSTLY_Q4_K_M / Q5_K_M (llama
 * family, no experts): the output (or the embedding, when it is the output)
 * Q6_K, or Q8_0 when its rows are not whole 256-blocks; attn_v and ffn_down
 * Q6_K in the layers use_more_bits() picks; the rest the base type. Then
 * quant_fallback(), as llama.cpp falls back, for rows that are not whole
 * blocks (Qwen2.5-0.5B's 896: Q4_K -> Q5_0, Q6_K -> Q8_0). */
static uint32_t matrix_type(const struct model_create_opts *o, enum mat_kind k, int layer,
			    int n_layers, int tied, uint64_t cols)
{
	uint32_t t = o->type;

	if (o->mix != MODEL_MIX_NONE) {
		t = o->mix == MODEL_MIX_Q4_K_M ? GGML_TYPE_Q4_K : GGML_TYPE_Q5_K;
		if (k == MAT_OUTPUT || (k == MAT_EMB && tied))
			t = cols % 256 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q6_K;
		else if ((k == MAT_V || k == MAT_DOWN) && use_more_bits(layer, n_layers))
			t = GGML_TYPE_Q6_K;
	}
	return quant_fallback(t, cols);
}

static int write_arch(struct gguf_writer *w, const struct model_config *c, const char *name,
		      struct ada_err *err)
{
	const char *a = c->arch;
	char key[96];
	int rc;

#define KEY(suffix) (snprintf(key, sizeof(key), "%s.%s", a, suffix), key)
	if ((rc = gguf_writer_set_str(w, "general.architecture", a, err)) ||
	    (rc = gguf_writer_set_str(w, "general.name", name, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)c->context_length, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)c->dim, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)c->n_layers, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->hidden_dim, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_heads, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads,
				      err)) ||
	    (rc = gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps,
				      err)) ||
	    (rc = gguf_writer_set_f32(w, KEY("rope.freq_base"), c->rope_theta, err)))
		return rc;
	if (c->head_dim * c->n_heads != c->dim &&
	    ((rc = gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim, err)) ||
	     (rc = gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim, err))))
		return rc;
	return gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim, err);
#undef KEY
}

struct tensor_list {
	struct gguf_writer *w;
	struct gen_tensor *g;   /* one per tensor, owned */
	int n, cap;
	struct rng *rng;
	float *tmp;
};

static int add_fill(struct tensor_list *tl, const char *name, uint64_t rows, uint64_t cols,
		    uint32_t type, int ones, int perm_heads, int head_dim, struct ada_err *err)
{
	uint64_t dims[2] = { cols, rows };
	struct gen_tensor *g;

	if (tl->n == tl->cap)
		return ada_fail(err, ADA_EINVAL, "internal: tensor list full");
	g = &tl->g[tl->n++];
	*g = (struct gen_tensor){ .rng = tl->rng, .ones = ones, .perm_heads = perm_heads,
				  .head_dim = head_dim, .vector = rows == 0, .cols = cols,
				  .tmp = tl->tmp };
	return gguf_writer_add_tensor_fill(tl->w, name, rows ? 2 : 1, dims, gen_fill, g,
					   perm_heads && rows ? (uint64_t)head_dim : 1, type, err);
}

/* The tensors, in model_random()'s order of draws. */
static int add_tensors(struct tensor_list *tl, const struct model_config *c,
		       const struct model_create_opts *o, struct ada_err *err)
{
	const uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->hidden_dim, V = (uint64_t)c->vocab_size;
	const uint64_t QD = (uint64_t)c->n_heads * (uint64_t)c->head_dim;
	const uint64_t KD = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
	const int L = c->n_layers, hd = c->head_dim, tied = c->tied_output;
	/* qwen2 (rotate-half in GGUF, see model_gguf.c): Q/K rows and biases */
	const int qh = c->qkv_bias ? c->n_heads : 0, kh = c->qkv_bias ? c->n_kv_heads : 0;
	char name[64];
	int rc;

#define MAT(kind, l, suffix, rows, cols, heads) \
	(snprintf(name, sizeof(name), "blk.%d.%s", l, suffix), \
	 add_fill(tl, name, rows, cols, matrix_type(o, kind, l, L, tied, cols), 0, heads, hd, err))
#define VEC(l, suffix, n, ones, heads) \
	(snprintf(name, sizeof(name), "blk.%d.%s", l, suffix), \
	 add_fill(tl, name, 0, n, GGML_TYPE_F32, ones, heads, hd, err))
	if ((rc = add_fill(tl, "token_embd.weight", V, D,
			   matrix_type(o, MAT_EMB, 0, L, tied, D), 0, 0, hd, err)))
		return rc;
	for (int l = 0; l < L; l++) {
		if ((rc = VEC(l, "attn_norm.weight", D, 1, 0)) ||
		    (rc = MAT(MAT_Q, l, "attn_q.weight", QD, D, qh)) ||
		    (rc = MAT(MAT_K, l, "attn_k.weight", KD, D, kh)) ||
		    (rc = MAT(MAT_V, l, "attn_v.weight", KD, D, 0)) ||
		    (rc = MAT(MAT_O, l, "attn_output.weight", D, QD, 0)))
			return rc;
		if (c->qkv_bias &&
		    ((rc = VEC(l, "attn_q.bias", QD, 0, qh)) ||
		     (rc = VEC(l, "attn_k.bias", KD, 0, kh)) ||
		     (rc = VEC(l, "attn_v.bias", KD, 0, 0))))
			return rc;
		if ((rc = VEC(l, "ffn_norm.weight", D, 1, 0)) ||
		    (rc = MAT(MAT_GATE, l, "ffn_gate.weight", F, D, 0)) ||
		    (rc = MAT(MAT_UP, l, "ffn_up.weight", F, D, 0)) ||
		    (rc = MAT(MAT_DOWN, l, "ffn_down.weight", D, F, 0)))
			return rc;
	}
#undef MAT
#undef VEC
	if ((rc = add_fill(tl, "output_norm.weight", 0, D, GGML_TYPE_F32, 1, 0, hd, err)))
		return rc;
	if (!tied)
		rc = add_fill(tl, "output.weight", V, D, matrix_type(o, MAT_OUTPUT, 0, L, tied, D), 0,
			      0, hd, err);
	return rc;
}

int model_create_file_opts(const struct model_config *cfg, uint64_t seed,
			   const struct model_create_opts *o, const char *path, struct ada_err *err)
{
	const int n_base = N_BYTE_VOCAB + (o->chatml ? N_CHATML_SPECIALS : 0);
	struct tensor_list tl = { 0 };
	struct rng rng;
	size_t tmp_len;
	int rc;

	if ((rc = model_config_check(cfg, "created model", err)))
		return rc;
	if (cfg->family != ADA_FAMILY_LLAMA ||
	    (strcmp(cfg->arch, "llama") && strcmp(cfg->arch, "qwen2")) ||
	    cfg->qkv_bias != !strcmp(cfg->arch, "qwen2") || cfg->sliding_window)
		return ada_fail(err, ADA_EINVAL,
				"a created model is a llama, or a qwen2 with q/k/v biases");
	if (cfg->vocab_size < n_base)
		return ada_fail_param(err, ADA_EINVAL, "vocab_size",
				      "a created model's vocabulary holds at least the %d byte-level tokens",
				      n_base);
	tl.cap = 4 + cfg->n_layers * 12;
	tl.g = xcalloc((size_t)tl.cap, sizeof(*tl.g));
	tmp_len = (size_t)cfg->head_dim * (size_t)cfg->dim;
	if (tmp_len < (size_t)cfg->n_heads * (size_t)cfg->head_dim)
		tmp_len = (size_t)cfg->n_heads * (size_t)cfg->head_dim;
	tl.tmp = cfg->qkv_bias ? xalloc_aligned(tmp_len, sizeof(float)) : NULL;
	if (!tl.g || (cfg->qkv_bias && !tl.tmp)) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	rng_seed(&rng, seed);
	tl.rng = &rng;
	if ((rc = gguf_writer_new(3, &tl.w, err)) ||
	    (rc = write_arch(tl.w, cfg, o->name ? o->name : "random", err)) ||
	    (rc = write_vocab(tl.w, cfg->vocab_size, o->chatml, err)) ||
	    (rc = add_tensors(&tl, cfg, o, err)))
		goto out_free;
	rc = gguf_writer_write(tl.w, path, err);
out_free:
	gguf_writer_free(tl.w);
	free(tl.tmp);
	free(tl.g);
	return rc;
}

int model_create_file(const struct model_config *cfg_in, uint64_t seed, uint32_t type,
		      const char *model_name, const char *path, struct ada_err *err)
{
	struct model_create_opts o = { .type = type, .name = model_name };

	return model_create_file_opts(cfg_in, seed, &o, path, err);
}

/* ---- ada_create_model --------------------------------------------------- */

int ada_create_model(const char *shape, uint64_t seed, const char *path, struct ada_err *err)
{
	return ada_create_model_dtype(shape, seed, "F32", path, err);
}

int ada_create_model_dtype(const char *shape, uint64_t seed, const char *dtype, const char *path,
			   struct ada_err *err)
{
	struct ada_create_opts o = { .shape = shape, .dtype = dtype, .seed = seed };

	return ada_create_model_opts(&o, path, err);
}

int ada_create_model_opts(const struct ada_create_opts *in, const char *path,
			  struct ada_err *err)
{
	const char *shape = in->shape ? in->shape : "tiny", *dtype = in->dtype ? in->dtype : "F32";
	struct model_create_opts o = { .name = shape };
	struct model_config cfg;
	int type = ggml_type_from_name(dtype);

	if (!strcasecmp(dtype, "Q4_K_M"))
		o.mix = MODEL_MIX_Q4_K_M;
	else if (!strcasecmp(dtype, "Q5_K_M"))
		o.mix = MODEL_MIX_Q5_K_M;
	else if (type < 0)
		return ada_fail_param(err, ADA_EINVAL, "dtype",
				      "unknown dtype '%s' (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, or the mixtures Q4_K_M, Q5_K_M)",
				      dtype);
	else
		o.type = (uint32_t)type;
	if (in->chat_template && *in->chat_template && strcmp(in->chat_template, "none")) {
		if (strcmp(in->chat_template, "chatml"))
			return ada_fail_param(err, ADA_EINVAL, "chat_template",
					      "chat_template '%s': a created model knows chatml (or none)",
					      in->chat_template);
		o.chatml = 1;
	}
	if (!strcmp(shape, "tiny"))
		tiny_config(&cfg);
	else if (model_shape_config(shape, &cfg))
		return ada_fail_param(err, ADA_EINVAL, "shape",
				      "unknown shape '%s' (tiny, stories260K, stories15M, stories42M, stories110M, smollm-135m, qwen2.5-0.5b, tinyllama-1.1b, llama-2-7b)",
				      shape);
	/* llama2.c's shapes keep the byte vocabulary; the real ones their size */
	if (!strcmp(shape, "tiny") || !strncmp(shape, "stories", 7))
		cfg.vocab_size = N_BYTE_VOCAB + (o.chatml ? N_CHATML_SPECIALS : 0);
	return model_create_file_opts(&cfg, in->seed, &o, path, err);
}
