/*
 * model_loader — what the per-format loaders share (internal to lib/model).
 *
 * model.c detects a file's format and hands a zeroed struct model (path
 * set) to one loader, which reads the config, checks it, and points every
 * weight either into a mapping it attaches to the model or into buffers it
 * registers with model_alloc_weights(); on failure model_free() releases
 * whatever was attached so far. The header-only readers serve
 * ada_model_probe() (model_probe.c) with the same parsing and checks as the
 * loaders, so a model that probes fine also loads.
 */
#ifndef ADA_MODEL_LOADER_H
#define ADA_MODEL_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

enum model_format {
	MODEL_FORMAT_GGUF,
	MODEL_FORMAT_LLAMA2C,
	MODEL_FORMAT_HF,
};

/* By content: a directory with config.json, GGUF magic, a llama2.c header. */
int model_detect_format(const char *path, enum model_format *fmt, struct ada_err *err);

/* The loaders (m zeroed but for m->path). */
int model_load_gguf(struct model *m, struct ada_err *err);
int model_load_llama2c(struct model *m, struct ada_err *err);
int model_load_hf(struct model *m, struct ada_err *err);

/* *out = a zeroed, 64-byte aligned buffer of n floats owned by m (freed by
 * model_free). */
int model_alloc_weights(struct model *m, size_t n, float **out, struct ada_err *err);
/* A checked tensor of n floats into *out as f32 in our layout: F32 data
 * (mapped, 4-byte aligned) with no permutation is used in place; anything
 * else goes through convert(ctx, dst) into a buffer m owns, then, with
 * perm_heads > 0, its rows (rows x cols; a vector when rows = 0) move from
 * rotate-half to adjacent RoPE pairs for that many heads. The values must
 * be finite (model_check_finite). Shared by the GGUF and Hugging Face
 * loaders; name is the file's name of the tensor, for errors. */
typedef int (*tensor_convert_fn)(const void *ctx, float *dst, struct ada_err *err);
int model_place_tensor(struct model *m, const char *name, const void *mapped_f32, size_t n,
		       tensor_convert_fn convert, const void *ctx, int perm_heads, uint64_t rows,
		       uint64_t cols, const float **out, struct ada_err *err);
/* A checked matrix (rows x cols of type, at data in a mapping) as a view in
 * *out: in place, unless perm_heads > 0 (its rows move from rotate-half to
 * adjacent RoPE pairs for that many heads, into a copy of the same type m
 * owns) or it is F32 without float alignment (copied). Its values must be
 * finite (for block types: its half-float scales). */
int model_place_matrix(struct model *m, const char *name, const void *data, uint32_t type,
		       uint64_t rows, uint64_t cols, int perm_heads, struct frozen_mat *out,
		       struct ada_err *err);
/* Refuse weights with a NaN or an infinity (ADA_EFORMAT naming the model,
 * the tensor and the element): nothing trained from them is meaningful,
 * and refusing at load says why, where a job would only diverge. Every
 * loader checks every weight it hands out, in every dtype. */
int model_check_finite(const struct model *m, const char *name, const float *w, size_t n,
		       struct ada_err *err);
/* m->layers for m->cfg.n_layers (config already checked). */
int model_alloc_layers(struct model *m, struct ada_err *err);

/* ---- header-only readers (no weights touched) ------------------------- */

/* What a file's matrices (2-D tensors) are stored as: a bit (1 << type) per
 * ggml type (safetensors' F32/F16/BF16 as theirs) and their bytes. */
struct weight_summary {
	uint64_t types;
	int64_t bytes;
};

/* GGUF metadata -> config (checked); the output matrix's presence decides
 * tied_output and token_embd.weight's shape gives vocab_size. */
int gguf_read_model_config(const struct gguf *g, struct model_config *cfg,
			   struct ada_err *err);

#define LLAMA2C_MAGIC 0x616b3432u        /* "ak42" */
#define LLAMA2C_V0_HEADER 28             /* 7 int32 */
#define LLAMA2C_V1_HEADER 256

struct llama2c_header {
	int version;                     /* 0 (legacy) or 1 */
	size_t header_bytes;
	int shared_classifier;
	struct model_config cfg;         /* checked */
};

/* Could head (the file's first len bytes) start a llama2.c checkpoint: the
 * v1 magic, or a legacy v0 header whose numbers are plausible? */
int llama2c_sniff(const uint8_t *head, size_t len);
/* Parse the header and check that file_size is exactly what it implies. */
int llama2c_parse_header(const char *path, const uint8_t *head, size_t len,
			 uint64_t file_size, struct llama2c_header *h, struct ada_err *err);
/* Read path's header and size only. */
int llama2c_probe(const char *path, struct model_config *cfg, struct ada_err *err);

/* config.json -> config (checked), then the safetensors headers (not the
 * weights) decide what the loader would: tied_output (Llama family), the
 * pooler (BERT family). *has_tokenizer: the directory holds a tokenizer
 * the loader takes: tokenizer.json, or vocab.txt for the BERT family. */
int hf_probe(const char *dir, struct model_config *cfg, int *has_tokenizer,
	     struct weight_summary *ws, struct ada_err *err);

/* ---- Hugging Face helpers (model_hf.c), shared with model_bert.c ------ */

/* The open safetensors files of a directory, with a note of the tensors
 * the loader took (see model_extra_count). */
struct hf_shards;
int hf_open_shards(const char *dir, struct hf_shards **out, struct ada_err *err);
void hf_shards_free(void *state);
/* Is a tensor called name in the files? (A name in two files is an error.) */
int hf_has_tensor(const struct hf_shards *sh, const char *name, int *found,
		  struct ada_err *err);
/* The weight called name: a [rows, cols] matrix, or a [cols] vector when
 * rows = 0, as f32 (pointing into the mapping when F32 and aligned, else
 * converted into a buffer m owns); every mismatch is an error naming the
 * file and the tensor. perm_heads > 0: the rows (a vector: its values) are
 * in rotate-half RoPE layout for that many heads; permute them. */
int hf_weight(struct model *m, struct hf_shards *sh, const char *name, uint64_t rows,
	      uint64_t cols, int perm_heads, const float **out, struct ada_err *err);
/* The same for a matrix, kept in its file's dtype (F32, F16, BF16): a
 * view into the mapping (Q/K rows permuted into a copy of that dtype). */
int hf_matrix(struct model *m, struct hf_shards *sh, const char *name, uint64_t rows,
	      uint64_t cols, int perm_heads, struct frozen_mat *out, struct ada_err *err);
/* config.json members: absent and null read the same (hf_member: NULL);
 * dflt < 0 makes an int required. Errors name the file and set param. */
json_t *hf_member(json_t *o, const char *key);
int hf_get_int(const char *path, json_t *root, const char *key, int dflt, int *out,
	       struct ada_err *err);
int hf_get_float(const char *path, json_t *obj, const char *key, double dflt, float *out,
		 struct ada_err *err);
int hf_get_bool(const char *path, json_t *root, const char *key, int dflt, int *out,
		struct ada_err *err);

/* ---- the BERT family (model_bert.c) ----------------------------------- */

/* config.json of model_type "bert" or "roberta" -> config (checked). */
int bert_parse_config(const char *path, json_t *root, struct model_config *cfg,
		      struct ada_err *err);
/* What the weight files decide: the prefix of the encoder's tensor names
 * ("bert." / "roberta." in ...For* checkpoints, else "") into prefix (may
 * be NULL), and cfg->has_pooler. dir names the model in errors. */
int bert_resolve_hf(const char *dir, const struct hf_shards *sh, struct model_config *cfg,
		    char *prefix, size_t cap, struct ada_err *err);
/* config.json of model_type "deberta-v2" -> config (checked; model_deberta.c). */
int deberta_parse_config(const char *path, json_t *root, struct model_config *cfg,
			 struct ada_err *err);
/* The weights of m (config already parsed; BERT, RoBERTa or DeBERTa) into m->bert. */
int bert_load_hf(struct model *m, struct hf_shards *sh, struct ada_err *err);

/* ---- BART (model_bart.c) ------------------------------------------------ */

/* config.json of model_type "bart" -> config (checked). */
int bart_parse_config(const char *path, json_t *root, struct model_config *cfg,
		      struct ada_err *err);
/* The prefix of the network's tensor names ("model." in
 * BartForConditionalGeneration checkpoints, else "") into prefix (may be
 * NULL); dir names the model in errors. */
int bart_resolve_hf(const char *dir, const struct hf_shards *sh, char *prefix, size_t cap,
		    struct ada_err *err);
/* The weights of m (config already parsed) into m->bart, m->tok_emb, m->output. */
int bart_load_hf(struct model *m, struct hf_shards *sh, struct ada_err *err);

#endif
