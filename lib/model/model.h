/*
 * model — a pretrained transformer's configuration and frozen weights.
 *
 * One struct for every file format: loaders (model_{gguf,llama2c,hf}.c via
 * model_load()) fill struct model with f32 weights in one layout, so the
 * forward pass never knows where they came from:
 *   - matrices are row-major [out][in] (y = x W^T), like PyTorch's Linear;
 *   - Q and K rows use the adjacent-pair RoPE layout (pairs (2i, 2i+1) of
 *     each head), as llama2.c and GGUF llama/mistral store them; Hugging
 *     Face checkpoints and GGUF qwen2 (rotate-half layout) are permuted on
 *     load.
 * Weight matrices stay in their file's type (F32, F16, BF16 or a GGUF block
 * type: struct frozen_mat) in the read-only file mapping, shared between
 * jobs on the same model through the page cache; only permuted Q/K rows
 * (and F32 data the mapping leaves unaligned) are copied, into buffers of
 * the same type the model owns. The network multiplies by them through
 * nn/frozen.h, a dequantized tile at a time. Norms, biases and BERT's
 * embedding tables are small and kept as f32 (converted when the file has
 * them in another type). All weight pointers are const: training never
 * writes to a base model (full fine-tuning copies the weights it trains,
 * as f32, into its own parameter arena).
 */
#ifndef ADA_MODEL_MODEL_H
#define ADA_MODEL_MODEL_H

#include <stdint.h>

#include "adalora.h"
#include "util/fileio.h"

struct tokenizer;
struct gguf;

/*
 * A frozen weight matrix as its file stores it: rows x cols elements of
 * type (enum ggml_type, format/quant.h), row r at data + r * row_bytes
 * (cols is a whole number of the type's blocks). Borrowed from the model.
 */
struct frozen_mat {
	const void *data;
	uint32_t type;
	int rows, cols;
	size_t row_bytes;
};

/* The matrix as f32 values in place (type F32 with float alignment), or NULL. */
const float *frozen_mat_f32(const struct frozen_mat *w);
/* The matrix's bfloat16 values in place (type BF16; row r at
 * (const char *)data + r * row_bytes), or NULL. */
const uint16_t *frozen_mat_bf16(const struct frozen_mat *w);
/* Dequantize the tile rows [r0, r0 + nr) x columns [c0, c0 + nc) into dst
 * (row stride ld floats); c0 and nc are whole blocks of the type (nc may end
 * at cols). */
void frozen_mat_tile(const struct frozen_mat *w, int r0, int nr, int c0, int nc, float *dst,
		     size_t ld);
/* Columns per block of w's type: tiles start at multiples of it. */
int frozen_mat_block(const struct frozen_mat *w);
/* The whole matrix as f32 into dst (rows * cols floats). */
void frozen_mat_read(const struct frozen_mat *w, float *dst);
/* A view of f32 data (rows x cols, row-major). */
struct frozen_mat frozen_mat_of_f32(const float *data, int rows, int cols);
/* Is the type a block (quantized) type, which full fine-tuning cannot copy? */
int frozen_mat_quantized(const struct frozen_mat *w);
const char *frozen_mat_type_name(const struct frozen_mat *w);

/* The six adaptable linear modules of a BERT layer (the paper's six
 * matrices), in the order used for rank matrices and target_modules. */
enum bert_module {
	BMOD_QUERY, BMOD_KEY, BMOD_VALUE, BMOD_ATTN_OUT, BMOD_INTER, BMOD_OUTPUT,
	N_BERT_MODULES
};

/* The seven adaptable linear modules of a Llama block, in the order used
 * everywhere (rank matrices, exports, the API's target_modules). */
enum llama_module {
	MOD_Q, MOD_K, MOD_V, MOD_O, MOD_GATE, MOD_UP, MOD_DOWN,
	N_LLAMA_MODULES
};

/* The ContextPooler's activation (DeBERTa's pooler_hidden_act; BERT and
 * RoBERTa pool through tanh). */
enum head_act {
	HEAD_ACT_TANH,
	HEAD_ACT_GELU,
};

/* pos_att_type bits: content->position and position->content terms. */
enum { DEBERTA_C2P = 1, DEBERTA_P2C = 2 };

/*
 * DeBERTa's disentangled attention (He et al. 2021; transformers'
 * DebertaV2Config), resolved as the model computes it. att_span is
 * transformers' pos_ebd_size: the relative embedding table has 2 * att_span
 * rows; a relative distance (log-bucketed when position_buckets > 0) plus
 * att_span, clamped to [0, 2 att_span), picks a row.
 */
struct deberta_config {
	int relative_attention;     /* the c2p / p2c terms and the rel_embeddings table */
	int pos_att;                /* DEBERTA_C2P | DEBERTA_P2C (pos_att_type) */
	int position_buckets;       /* > 0: log buckets; else plain distances */
	int max_relative_positions; /* resolved: max_position_embeddings when < 1 */
	int att_span;               /* position_buckets if > 0, else max_relative_positions */
	int share_att_key;          /* positions projected by query_proj / key_proj */
	int norm_rel_ebd;           /* LayerNorm (encoder.LayerNorm) on the relative table */
	int position_biased_input;  /* absolute position embeddings added at the input */
	enum head_act pooler_act;   /* pooler_hidden_act */
};

/* The ten adaptable linear modules of a BART layer, in the order of rank
 * matrix columns: self-attention, cross-attention (encoder_attn, decoder
 * layers only), the FFN. An encoder layer has six of them. */
enum bart_module {
	BART_SELF_Q, BART_SELF_K, BART_SELF_V, BART_SELF_O,
	BART_CROSS_Q, BART_CROSS_K, BART_CROSS_V, BART_CROSS_O,
	BART_FC1, BART_FC2,
	N_BART_MODULES
};

struct model_config {
	enum ada_family family;
	char arch[32];            /* "llama", "mistral", "qwen2" */
	int dim;                  /* model width */
	int hidden_dim;           /* FFN width */
	int n_layers;
	int n_heads;
	int n_kv_heads;           /* < n_heads for grouped-query attention */
	int head_dim;             /* usually dim / n_heads */
	int vocab_size;
	int context_length;       /* longest sequence the model was trained for */
	float rope_theta;
	float norm_eps;
	int tied_output;          /* the output matrix is the token embedding */
	int qkv_bias;             /* q/k/v projections have biases (qwen2) */
	int sliding_window;       /* attention window (Mistral, Qwen2 with
	                           * use_sliding_window); 0 = none. Not implemented:
	                           * sequences longer than it must be refused. */
	/* BERT family only (dim = hidden_size, hidden_dim = intermediate_size,
	 * n_kv_heads = n_heads, norm_eps = layer_norm_eps) */
	int type_vocab_size;      /* token type (segment) embeddings */
	int max_positions;        /* rows of the learned position table */
	int position_offset;      /* first position id: 0 (BERT), padding_idx + 1 (RoBERTa) */
	int pad_token_id;
	int has_pooler;           /* pooler.dense present (BERT; RoBERTa checkpoints often not) */
	/* DeBERTa-v2/v3 only (arch "deberta-v2", family BERT; model_deberta.c) */
	struct deberta_config deberta;
	/* BART only (dim = d_model, hidden_dim = the FFN width, n_layers = encoder
	 * layers + decoder layers: encoder layers are rows 0..n_layers-n_dec_layers-1
	 * of rank matrices, decoder layers the rest; max_positions = rows of each
	 * learned position table, position_offset = 2, context_length =
	 * max_position_embeddings) */
	int n_dec_layers;         /* decoder layers; 0 for other families */
	float embed_scale;        /* token embeddings times this: sqrt(d_model) with
	                           * scale_embedding, else 1 */
	int decoder_start_token_id;
	int forced_bos_token_id;  /* generation: the token forced first (-1: none) */
	int bos_token_id, eos_token_id;
};

struct model_layer {
	const float *attn_norm;                 /* [dim] */
	struct frozen_mat wq;                   /* [n_heads*head_dim][dim] */
	struct frozen_mat wk, wv;               /* [n_kv_heads*head_dim][dim] */
	struct frozen_mat wo;                   /* [dim][n_heads*head_dim] */
	const float *bq, *bk, *bv;              /* NULL unless qkv_bias */
	const float *ffn_norm;                  /* [dim] */
	struct frozen_mat w_gate, w_up;         /* [hidden][dim] (w1, w3) */
	struct frozen_mat w_down;               /* [dim][hidden] (w2) */
};

/* BERT weights, Hugging Face layout: linear weights [out][in] plus biases. */
struct bert_layer {
	struct frozen_mat w[N_BERT_MODULES];    /* query key value attn_out inter output */
	const float *b[N_BERT_MODULES];
	const float *ln_attn_w, *ln_attn_b;     /* attention.output.LayerNorm */
	const float *ln_out_w, *ln_out_b;       /* output.LayerNorm */
	/* DeBERTa without share_att_key: attention.self.pos_key_proj (c2p) and
	 * pos_query_proj (p2c), [dim][dim] + bias; data NULL when absent */
	struct frozen_mat pos_key, pos_query;
	const float *pos_key_b, *pos_query_b;
};

struct bert_weights {
	const float *word_emb;                  /* [vocab][dim] */
	const float *pos_emb;                   /* [max_positions][dim]; NULL: none (DeBERTa v3) */
	const float *type_emb;                  /* [type_vocab_size][dim]; NULL when 0 types */
	const float *emb_ln_w, *emb_ln_b;
	struct bert_layer *layers;              /* owned array of n_layers */
	const float *pooler_w, *pooler_b;       /* [dim][dim], [dim]; NULL without pooler */
	/* DeBERTa: encoder.rel_embeddings [2 * att_span][dim] and its LayerNorm
	 * (encoder.LayerNorm; NULL without norm_rel_ebd) */
	const float *rel_emb;
	const float *rel_ln_w, *rel_ln_b;
};

/* BART weights, Hugging Face layout (Linear [out][in] with biases). */
struct bart_layer {
	struct frozen_mat w[N_BART_MODULES];    /* encoder layers leave BART_CROSS_* empty */
	const float *b[N_BART_MODULES];
	const float *ln_self_w, *ln_self_b;     /* self_attn_layer_norm */
	const float *ln_cross_w, *ln_cross_b;   /* encoder_attn_layer_norm (decoder) */
	const float *ln_ffn_w, *ln_ffn_b;       /* final_layer_norm */
};

struct bart_weights {
	const float *enc_pos, *dec_pos;         /* [max_positions][dim] */
	const float *enc_ln_emb_w, *enc_ln_emb_b;   /* encoder.layernorm_embedding */
	const float *dec_ln_emb_w, *dec_ln_emb_b;   /* decoder.layernorm_embedding */
	struct bart_layer *layers;              /* owned [n_layers]: encoder, then decoder */
	const float *final_logits_bias;         /* [vocab] (zeros when the file has none) */
};

struct model {
	struct model_config cfg;
	char format[16];          /* "gguf", "llama2c", "hf" */
	char *path;               /* owned */
	struct frozen_mat tok_emb;   /* [vocab][dim] */
	struct model_layer *layers;  /* owned array of n_layers (llama family) */
	struct bert_weights *bert;   /* owned (BERT family); NULL otherwise */
	struct bart_weights *bart;   /* owned (BART); NULL otherwise; tok_emb is the shared
	                              * embedding, output the LM head (tok_emb when tied) */
	const float *final_norm;  /* [dim] */
	struct frozen_mat output;    /* [vocab][dim]; the same view as tok_emb when tied_output */
	struct tokenizer *tokenizer;  /* embedded tokenizer (GGUF, HF dir) or NULL; owned */

	/* Storage behind the pointers above (released by model_free). */
	struct mapped_file *maps;
	int n_maps;
	void **owned;
	int n_owned;
	void *format_state;       /* e.g. the open struct gguf; released by format_free */
	void (*format_free)(void *state);
};

/* Load a model, detecting the format by content: GGUF magic, a Hugging Face
 * directory (config.json), else a llama2.c checkpoint (v1 by its magic, else
 * legacy v0 by a plausible header and the exact file size). *out is owned by
 * the caller (model_free).
 *
 * Tokenizers are not loaded here: m->tokenizer is left NULL and
 * tokenizer_path is not read. For GGUF models the open struct gguf stays in
 * m->format_state (until model_free) so the embedded tokenizer can be built
 * from it. */
int model_load(const char *path, const char *tokenizer_path, struct model **out,
	       struct ada_err *err);
void model_free(struct model *m);

/* The model's tokenizer: the file at tokenizer_path when given (llama2.c
 * tokenizer.bin, tokenizer.json or GGUF), else the one it carries. Refuses
 * a vocabulary larger than the model's embedding (a smaller one is padding,
 * as real checkpoints have). Owned by the caller. */
int model_open_tokenizer(const struct model *m, const char *tokenizer_path,
			 struct tokenizer **out, struct ada_err *err);

/* A model with random weights N(0, 0.02^2) (norms 1) for cfg; owned. */
int model_random(const struct model_config *cfg, uint64_t seed, struct model **out,
		 struct ada_err *err);
/* How model_create_file_opts() stores a model: every matrix as type, or a
 * llama.cpp mixture (model_create.c says which tensor gets what); with
 * chatml the vocabulary gains <|im_start|> and <|im_end|> (the EOS) after the
 * byte tokens and the file a ChatML tokenizer.chat_template. */
enum model_mix { MODEL_MIX_NONE = 0, MODEL_MIX_Q4_K_M, MODEL_MIX_Q5_K_M };

struct model_create_opts {
	uint32_t type;            /* enum ggml_type, when mix is MODEL_MIX_NONE */
	enum model_mix mix;
	int chatml;
	const char *name;         /* general.name; NULL: "random" */
};

/* A random model of cfg (a llama, or a qwen2 with q/k/v biases; tied or
 * untied output) as a GGUF file at path, generated while it is written (a
 * few MiB of memory at any size): model_random()'s values for the same seed,
 * and the byte-level tokenizer padded with unused tokens to cfg->vocab_size
 * (at least 260, 262 with chatml). Matrices as o says (quant_fallback where
 * rows are not whole blocks of a type). */
int model_create_file_opts(const struct model_config *cfg, uint64_t seed,
			   const struct model_create_opts *o, const char *path,
			   struct ada_err *err);
/* The same with every matrix as type and name as general.name. */
int model_create_file(const struct model_config *cfg, uint64_t seed, uint32_t type,
		      const char *name, const char *path, struct ada_err *err);
/* Shapes by name: the llama2.c family ("stories260K", "stories15M",
 * "stories42M", "stories110M") and real models ("smollm-135m",
 * "qwen2.5-0.5b", "tinyllama-1.1b", "llama-2-7b"); ADA_EINVAL for an
 * unknown name. */
int model_shape_config(const char *name, struct model_config *cfg);
/* Encoder shapes of real checkpoints by name: "bert-base" (bert-base-uncased)
 * and "deberta-v3-base" (microsoft/deberta-v3-base); ADA_EINVAL otherwise
 * (model_random_bert.c). */
int encoder_shape_config(const char *name, struct model_config *cfg);
/* A BERT-family model with random weights N(0, 0.02^2), LayerNorms 1 and 0,
 * biases 0, for cfg; owned. */
int model_random_bert(const struct model_config *cfg, uint64_t seed, struct model **out,
		      struct ada_err *err);

/* BART at a published shape by name ("bart-base", "bart-large";
 * ADA_EINVAL for another), and a BART model of cfg with random weights
 * N(0, 0.02^2) (LayerNorms 1, biases 0); owned by the caller. */
int model_bart_shape_config(const char *name, struct model_config *cfg);
int model_bart_random(const struct model_config *cfg, uint64_t seed, struct model **out,
		      struct ada_err *err);

/* The open GGUF file behind a GGUF model (borrowed), or NULL for other formats. */
const struct gguf *model_gguf(const struct model *m);

/*
 * Tensors in a Hugging Face model's files that model_load() did not use: a
 * checkpoint's task head (BertForSequenceClassification's classifier.weight
 * and classifier.bias, RoBERTa's classifier.dense.* and
 * classifier.out_proj.*, Llama's score.weight), a masked-LM head, stored
 * buffers (embeddings.position_ids). The loader ignores them; these let the
 * caller list them and read one, e.g. to start from a fine-tuned head. The
 * files stay open until model_free, so reading is a conversion, not I/O.
 * Other formats have none. Nothing here changes m (safe on a shared model).
 */
size_t model_extra_count(const struct model *m);
/* The i-th extra tensor's name (borrowed from m), or NULL past the end. */
const char *model_extra_name(const struct model *m, size_t i);
/* Its shape: [rows, cols], or rows = 0 for a vector of cols. ADA_ENOTFOUND
 * when m has no extra tensor called name. */
int model_extra_shape(const struct model *m, const char *name, uint64_t *rows, uint64_t *cols,
		      struct ada_err *err);
/* Its values as f32 into dst (rows * cols floats, cols when rows = 0, owned
 * by the caller); the shape must be exactly that (errors name the file). */
int model_extra_read(const struct model *m, const char *name, uint64_t rows, uint64_t cols,
		     float *dst, struct ada_err *err);

/* Number of parameters (embedding and output counted once when tied). */
int64_t model_param_count(const struct model_config *cfg);
/* The public description of a configuration (ada_model_probe without the
 * file: format and has_tokenizer are left empty). */
void model_config_describe(const struct model_config *cfg, struct ada_model_info *info);

/* Module names: "q", "k", ... and Hugging Face paths:
 * "model.layers.3.self_attn.q_proj" (written into buf). */
const char *llama_module_name(enum llama_module m);
int llama_module_from_name(const char *name);   /* -1 if unknown */
void llama_module_hf_path(int layer, enum llama_module m, char *buf, size_t cap);

/* Shape of module m: rows (out) and columns (in). */
void llama_module_shape(const struct model_config *cfg, enum llama_module m,
			int *out_dim, int *in_dim);

/* "bert", "roberta" or "deberta": the attribute under which
 * ...ForSequenceClassification holds the encoder (Hugging Face module paths
 * start with it). */
const char *bert_model_prefix(const struct model_config *cfg);
/* Is cfg a DeBERTa-v2/v3 encoder (arch "deberta-v2")? */
int model_is_deberta(const struct model_config *cfg);
/* Does the encoder add learned absolute positions at its input (BERT,
 * RoBERTa; DeBERTa only with position_biased_input)? */
int bert_has_pos_emb(const struct model_config *cfg);
/* "attention.self.query" or "query", ... "output.dense" -> enum
 * bert_module; -1 if unknown. */
int bert_module_from_name(const char *name);
/* "out_proj", "fc1", "fc2" (PEFT's BART names beyond q_proj, k_proj,
 * v_proj) -> the target_modules bit index they stand for; -1 if unknown. */
int bart_module_bit_from_name(const char *name);

/*
 * The adaptable modules of either family, indexed 0..model_n_modules()-1
 * (enum llama_module or enum bert_module): the columns of rank matrices.
 *   name      the API's: "q".."down"; "query", "key", "value",
 *             "attention.output.dense", "intermediate.dense", "output.dense"
 *   hf_leaf   the PEFT target_modules entry: "q_proj", ...; BERT as name
 *   hf_path   "model.layers.3.self_attn.q_proj", "bert.encoder.layer.3.
 *             attention.self.query" (written into buf)
 *   bit       the module's target_modules bit (modules.c: a BERT module
 *             shares the bit of the Llama module in its place; gate has
 *             none on BERT)
 */
int model_n_modules(const struct model_config *cfg);
/* Does layer (a rank matrix row) have module m? Always, but in BART's
 * encoder layers, which have no cross-attention. */
int model_layer_has_module(const struct model_config *cfg, int layer, int m);
/* Adapted matrices: the (layer, module) pairs target_modules selects. */
int64_t model_n_matrices(const struct model_config *cfg, unsigned target_modules);
/* The most modules a layer has in any family (BART's ten). */
#define MAX_LAYER_MODULES N_BART_MODULES
/* BART: the stack of a rank-matrix row ("encoder", "decoder") and the
 * group of a column ("self_attn", "encoder_attn", "ffn"); NULL for other
 * families. */
const char *model_layer_group(const struct model_config *cfg, int layer);
const char *model_module_group(const struct model_config *cfg, int m);
/* BART: is layer a decoder layer, and its index within its stack. */
int model_is_decoder_layer(const struct model_config *cfg, int layer);
int model_stack_layer(const struct model_config *cfg, int layer);
const char *model_module_name(const struct model_config *cfg, int m);
const char *model_module_hf_leaf(const struct model_config *cfg, int m);
void model_module_hf_path(const struct model_config *cfg, int layer, int m, char *buf,
			  size_t cap);
void model_module_shape(const struct model_config *cfg, int m, int *out_dim, int *in_dim);
unsigned model_module_bit(const struct model_config *cfg, int m);
/* Modules per layer that target_modules selects. */
int model_modules_targeted(const struct model_config *cfg, unsigned target_modules);

/* Reorder the rows of a Q or K projection (rows = n_heads * head_dim, each
 * row cols wide; cols = 1 for a bias) between the two RoPE layouts, within
 * each head of head_dim rows:
 *   rotate-half (Hugging Face, GGUF qwen2): row i pairs with row i + head_dim/2;
 *   adjacent pairs (ours, llama2.c, GGUF llama): row 2i pairs with row 2i+1.
 * to_pairs: dst[2i + j] = src[i + j*head_dim/2] (j = 0, 1); to_halves is its
 * inverse (for exporters). dst and src must not overlap. */
void rope_rows_to_pairs(float *dst, const float *src, int n_heads, int head_dim, size_t cols);
void rope_rows_to_halves(float *dst, const float *src, int n_heads, int head_dim, size_t cols);
/* The same on rows of row_bytes bytes of any type (a row permutation never
 * needs the values). */
void rope_bytes_to_pairs(void *dst, const void *src, int n_heads, int head_dim, size_t row_bytes);
void rope_bytes_to_halves(void *dst, const void *src, int n_heads, int head_dim,
			  size_t row_bytes);

/* The weight types of m's matrices: a bit (1 << type) per type present, and
 * a short summary ("F32", "BF16", "Q4_K+Q6_K+F32") into buf. */
uint64_t model_weight_types(const struct model *m, char *buf, size_t cap);

/* Check a config for internal consistency (positive sizes, heads divide,
 * GQA grouping) and name the offending field. */
int model_config_check(const struct model_config *cfg, const char *path, struct ada_err *err);

#endif
