/*
 * tiny_model — small random models, written in every format lib/model
 * loads: Llama-family models as GGUF, Hugging Face and llama2.c files;
 * BERT and RoBERTa encoders as Hugging Face directories (the forward and
 * training tests reuse these).
 *
 * Tests make a random struct model (its weights owned by it, in our layout:
 * row-major [out][in], Q/K in adjacent RoPE pairs), write it as GGUF, a
 * Hugging Face directory or a llama2.c checkpoint, load it back with
 * model_load() and compare bit for bit. Each writer stores what its format
 * stores: Hugging Face files and GGUF qwen2 get Q/K (and qwen2's q/k
 * biases) in the rotate-half layout, the others keep adjacent pairs.
 */
#ifndef ADA_TESTS_TINY_MODEL_H
#define ADA_TESTS_TINY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "format/safetensors.h"
#include "model/model.h"

/* A small config for arch ("llama", "mistral", "qwen2"): dim 32, hidden 40,
 * 2 layers, 4 heads, 2 KV heads, head_dim 8, vocab 48, context 64, untied.
 * mistral: head_dim 16 (so n_heads * head_dim != dim) and sliding_window 32;
 * qwen2: q/k/v biases, rope_theta 1e6, eps 1e-6. */
void tiny_config(struct model_config *cfg, const char *arch);

/* Random weights for cfg (which must pass model_config_check); *out owned
 * by the caller (model_free). Deterministic in seed. */
int tiny_model_random(const struct model_config *cfg, uint64_t seed, struct model **out);

/* Round every weight of a tiny_model_random() model to ST_F16 or ST_BF16
 * precision in place (what a narrowed file reads back as). */
void tiny_model_round(struct model *m, enum st_dtype dtype);

/* GGUF of the given version (1..3) with every tensor stored as type
 * (GGML_TYPE_F32/F16/BF16); no tokenizer metadata; output.weight omitted
 * when the model is tied. */
int tiny_write_gguf(const struct model *m, const char *path, uint32_t version, uint32_t type,
		    struct ada_err *err);

enum tiny_hf_layout {
	TINY_HF_SINGLE,            /* model.safetensors */
	TINY_HF_INDEXED_SHARDS,    /* two shards + model.safetensors.index.json */
	TINY_HF_UNINDEXED_SHARDS,  /* the same two shards, no index */
};
#define TINY_HF_SHARD1 "model-00001-of-00002.safetensors"
#define TINY_HF_SHARD2 "model-00002-of-00002.safetensors"

/* A Hugging Face directory (created if needed): config.json and the weights
 * as dtype (ST_F32/F16/BF16); lm_head.weight omitted when tied. */
int tiny_write_hf(const struct model *m, const char *dir, enum st_dtype dtype,
		  enum tiny_hf_layout layout, struct ada_err *err);

/* A llama2.c checkpoint, version 0 (legacy, with its RoPE table) or 1; the
 * classifier is shared iff m->cfg.tied_output. Needs n_heads * head_dim ==
 * dim and no biases. */
int tiny_write_llama2c(const struct model *m, const char *path, int version,
		       struct ada_err *err);

/* A llama2.c tokenizer.bin of n tokens "t0", "t1", ... (scores 0, -1, ...),
 * max_token_length 8. */
int tiny_write_llama2c_tokenizer(const char *path, int n, struct ada_err *err);

/* Configs (all but tied_output, which tests check on their own) and every
 * weight compared bit for bit (the output matrix by value). 0 when equal,
 * else -1 with the first difference described in why. */
/* A copy of m whose matrices are all f32 views: those not F32 already are
 * widened into buffers the copy owns, the rest (and the vectors) borrowed
 * from m, which must outlive it. model_free releases it. */
int tiny_model_widen(const struct model *m, struct model **out);
int tiny_models_equal(const struct model *a, const struct model *b, char *why, size_t cap);

/* ---- the BERT family ---------------------------------------------------- */

/* A small encoder config for arch "bert" or "roberta": dim 32, intermediate
 * 48, 2 layers, 4 heads (head_dim 8), vocab 64, 40 learned positions.
 * bert: 2 token types, pad 0, layer_norm_eps 1e-12, a pooler, context 40;
 * roberta: 1 token type, pad 1 so positions start at 2 (context 38), eps
 * 1e-5, no pooler (as RoBERTa classification checkpoints have none). */
void tiny_bert_config(struct model_config *cfg, const char *arch);

/* A DeBERTa-v3-shaped config (arch "deberta-v2"): the tiny BERT's sizes
 * (dim 32, intermediate 48, 2 layers, 4 heads, vocab 64, 40 positions), no
 * absolute positions, no token types, eps 1e-7, relative attention with
 * c2p and p2c over shared keys, a LayerNorm'd table, position_buckets 8 and
 * max_relative_positions 12: distances above 4 are log-bucketed, those
 * from 12 on clip to the table's ends. Change fields after the call for
 * variants (the writer follows them). */
void tiny_deberta_config(struct model_config *cfg);

/* Random weights for cfg (m->bert; Linear weights N(0, 0.2^2), biases
 * N(0, 0.1^2), LayerNorm weights near 1 and biases near 0; the pooler only
 * with cfg->has_pooler); *out owned by the caller (model_free).
 * Deterministic in seed. */
int tiny_bert_random(const struct model_config *cfg, uint64_t seed, struct model **out);

/* Round every weight of a tiny_bert_random() model to ST_F16 or ST_BF16. */
void tiny_bert_round(struct model *m, enum st_dtype dtype);

/* A tensor to write beside the encoder's (a task head): [rows, cols], or
 * [cols] when rows = 0; data borrowed. */
struct tiny_extra {
	const char *name;
	const float *data;
	uint64_t rows, cols;
};

struct tiny_bert_opts {
	enum st_dtype dtype;               /* ST_F32 (the zero value), ST_F16, ST_BF16 */
	int prefixed;                      /* names under "bert." / "roberta." / "deberta.", as in
	                                    * ...ForSequenceClassification checkpoints */
	int legacy_ln;                     /* LayerNorm.gamma / .beta, as old checkpoints */
	const char *omit;                  /* a tensor (name as written) to leave out */
	const struct tiny_extra *extra;    /* more tensors, e.g. classifier.weight */
	size_t n_extra;
};

/* A Hugging Face directory (created if needed): config.json as transformers
 * writes it for BertModel / RobertaModel / DebertaV2Model (or
 * ...ForSequenceClassification when there are extra tensors) and
 * model.safetensors. opts NULL: F32, bare names. */
int tiny_write_bert_hf(const struct model *m, const char *dir, const struct tiny_bert_opts *opts,
		       struct ada_err *err);

/* The tensors tiny_write_bert_hf writes for m (encoder only, bare names):
 * their number and their total element count (what model_param_count says). */
size_t tiny_bert_tensor_count(const struct model *m, uint64_t *elements);

/* Configs and every BERT weight compared bit for bit; 0 when equal, else -1
 * with the first difference in why. */
int tiny_bert_equal(const struct model *a, const struct model *b, char *why, size_t cap);

#endif
