/*
 * model_create — ada_create_model(): a self-contained model file.
 *
 * The demo and the tests that must run without ../shared need a model the
 * project makes itself: random Llama weights (model_random) plus a
 * byte-level SentencePiece vocabulary — <unk>, <s>, </s>, the 256 byte
 * tokens and "▁" (the space) — so any UTF-8 text encodes and decodes
 * exactly. Written as GGUF v3, so every tool here loads it like a real one,
 * its matrices in any type of format/quant.h (our quantizer).
 */
#include <stdio.h>
#include <string.h>

#include "format/gguf.h"
#include "format/quant.h"
#include "util/err.h"
#include "model/model.h"

#define N_BYTE_VOCAB 260

/* llama.cpp token types */
enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6 };

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

static int write_vocab(struct gguf_writer *w, struct ada_err *err)
{
	char byte_names[256][8];      /* copied by the writer: a local will do */
	const char *tokens[N_BYTE_VOCAB];
	float scores[N_BYTE_VOCAB];
	int32_t types[N_BYTE_VOCAB];
	int rc;

	tokens[0] = "<unk>";
	tokens[1] = "<s>";
	tokens[2] = "</s>";
	types[0] = TOKEN_UNKNOWN;
	types[1] = types[2] = TOKEN_CONTROL;
	for (int b = 0; b < 256; b++) {
		snprintf(byte_names[b], sizeof(byte_names[b]), "<0x%02X>", b);
		tokens[3 + b] = byte_names[b];
		types[3 + b] = TOKEN_BYTE;
	}
	tokens[259] = "\xe2\x96\x81";   /* U+2581, SentencePiece's space */
	types[259] = TOKEN_NORMAL;
	for (int i = 0; i < N_BYTE_VOCAB; i++)
		scores[i] = 0;
	if ((rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
	    (rc = gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", tokens, NULL, N_BYTE_VOCAB,
					    err)) ||
	    (rc = gguf_writer_set_f32_array(w, "tokenizer.ggml.scores", scores, N_BYTE_VOCAB, err)) ||
	    (rc = gguf_writer_set_i32_array(w, "tokenizer.ggml.token_type", types, N_BYTE_VOCAB,
					    err)) ||
	    (rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
	    (rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
	    (rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
	    (rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1, err)))
		return rc;
	return ADA_OK;
}

int ada_create_model(const char *shape, uint64_t seed, const char *path, struct ada_err *err)
{
	return ada_create_model_dtype(shape, seed, "F32", path, err);
}

int ada_create_model_dtype(const char *shape, uint64_t seed, const char *dtype, const char *path,
			   struct ada_err *err)
{
	struct model_config cfg;
	int type = ggml_type_from_name(dtype ? dtype : "F32");

	if (type < 0)
		return ada_fail_param(err, ADA_EINVAL, "dtype",
				      "unknown dtype '%s' (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)",
				      dtype);
	if (!strcmp(shape, "tiny"))
		tiny_config(&cfg);
	else if (model_shape_config(shape, &cfg))
		return ada_fail_param(err, ADA_EINVAL, "shape",
				      "unknown shape '%s' (tiny, stories260K, stories15M, stories42M, stories110M)",
				      shape);
	cfg.vocab_size = N_BYTE_VOCAB;
	return model_create_file(&cfg, seed, (uint32_t)type, shape, path, err);
}

int model_create_file(const struct model_config *cfg_in, uint64_t seed, uint32_t type,
		      const char *model_name, const char *path, struct ada_err *err)
{
	struct model_config cfg = *cfg_in;
	struct model *m = NULL;
	struct gguf_writer *w = NULL;
	int rc;

	if (cfg.vocab_size != N_BYTE_VOCAB || strcmp(cfg.arch, "llama") || cfg.qkv_bias)
		return ada_fail(err, ADA_EINVAL, "a created model is a llama with the %d-token byte vocabulary",
				N_BYTE_VOCAB);
	cfg.tied_output = 1;      /* output.weight is not written: the embedding serves */
	if ((rc = model_random(&cfg, seed, &m, err)))
		return rc;
	if ((rc = gguf_writer_new(3, &w, err)))
		goto out_free;
	if ((rc = gguf_writer_set_str(w, "general.architecture", "llama", err)) ||
	    (rc = gguf_writer_set_str(w, "general.name", model_name, err)) ||
	    (rc = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)cfg.context_length, err)) ||
	    (rc = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)cfg.dim, err)) ||
	    (rc = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)cfg.n_layers, err)) ||
	    (rc = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)cfg.hidden_dim, err)) ||
	    (rc = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)cfg.n_heads, err)) ||
	    (rc = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)cfg.n_kv_heads,
				      err)) ||
	    (rc = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", cfg.norm_eps, err)) ||
	    (rc = gguf_writer_set_f32(w, "llama.rope.freq_base", cfg.rope_theta, err)) ||
	    (rc = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)cfg.head_dim, err)) ||
	    (rc = write_vocab(w, err)))
		goto out_free;
	{
		const int D = cfg.dim, F = cfg.hidden_dim;
		const int QD = cfg.n_heads * cfg.head_dim, KD = cfg.n_kv_heads * cfg.head_dim;
		char name[64];
		/* Matrices in the asked type (llama.cpp's fallback where rows are
		 * not whole blocks of it); norms stay F32. */
#define T2(nm, fm, rows, cols) do { uint64_t _d[2] = { (uint64_t)(cols), (uint64_t)(rows) }; \
	if ((rc = gguf_writer_add_tensor_typed(w, nm, 2, _d, (fm).data, (fm).type, \
					       quant_fallback((uint32_t)type, (uint64_t)(cols)), err))) \
		goto out_free; } while (0)
#define T1(nm, p, n) do { uint64_t _d[1] = { (uint64_t)(n) }; \
	if ((rc = gguf_writer_add_tensor(w, nm, 1, _d, p, GGML_TYPE_F32, err))) goto out_free; } while (0)
		T2("token_embd.weight", m->tok_emb, cfg.vocab_size, D);
		for (int l = 0; l < cfg.n_layers; l++) {
			const struct model_layer *ly = &m->layers[l];
			snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", l); T1(name, ly->attn_norm, D);
			snprintf(name, sizeof(name), "blk.%d.attn_q.weight", l); T2(name, ly->wq, QD, D);
			snprintf(name, sizeof(name), "blk.%d.attn_k.weight", l); T2(name, ly->wk, KD, D);
			snprintf(name, sizeof(name), "blk.%d.attn_v.weight", l); T2(name, ly->wv, KD, D);
			snprintf(name, sizeof(name), "blk.%d.attn_output.weight", l); T2(name, ly->wo, D, QD);
			snprintf(name, sizeof(name), "blk.%d.ffn_norm.weight", l); T1(name, ly->ffn_norm, D);
			snprintf(name, sizeof(name), "blk.%d.ffn_gate.weight", l); T2(name, ly->w_gate, F, D);
			snprintf(name, sizeof(name), "blk.%d.ffn_up.weight", l); T2(name, ly->w_up, F, D);
			snprintf(name, sizeof(name), "blk.%d.ffn_down.weight", l); T2(name, ly->w_down, D, F);
		}
		T1("output_norm.weight", m->final_norm, D);
#undef T1
#undef T2
	}
	rc = gguf_writer_write(w, path, err);
out_free:
	gguf_writer_free(w);
	model_free(m);
	return rc;
}
