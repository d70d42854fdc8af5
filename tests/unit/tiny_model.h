/*
 * tiny_model — small random Llama-family models, written in every format
 * lib/model loads.
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

/* Configs (all but tied_output, which tests check on their own) and every
 * weight compared bit for bit (the output matrix by value). 0 when equal,
 * else -1 with the first difference described in why. */
int tiny_models_equal(const struct model *a, const struct model *b, char *why, size_t cap);

#endif
