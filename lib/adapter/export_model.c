/* export_model — whole models as GGUF or Hugging Face files; see export_model.h. */
#include "adapter/export_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "format/quant.h"
#include "format/safetensors.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"

static int is_qwen2(const struct model *m)
{
	return !strcmp(m->cfg.arch, "qwen2");
}

/* Q/K rows in Hugging Face's rotate-half layout (ours are adjacent RoPE
 * pairs), as a copy kept in bufs until the writer has written it; NULL when
 * memory ran out. */
static const float *qk_halves(struct owned_bufs *bufs, const float *src, int n_heads,
			      int head_dim, size_t cols)
{
	float *dst = xcalloc((size_t)n_heads * head_dim * cols, sizeof(float));

	if (dst)
		rope_rows_to_halves(dst, src, n_heads, head_dim, cols);
	return owned_bufs_take(bufs, dst);
}

/* A matrix as the network holds it: f32 values, or a frozen view. */
struct mat_src {
	const void *data;
	uint32_t type;
};

static struct mat_src mat_of(const real *w, const struct frozen_mat *fw)
{
	if (w)
		return (struct mat_src){ w, GGML_TYPE_F32 };
	return (struct mat_src){ fw->data, fw->type };
}

/* Its rows in rotate-half order, as a copy of the same type kept in bufs
 * (data NULL when memory ran out). */
static struct mat_src mat_halves(struct owned_bufs *bufs, struct mat_src m, int n_heads,
				 int head_dim, size_t cols)
{
	const size_t row = (size_t)quant_bytes(m.type, cols);
	void *dst = xcalloc((size_t)n_heads * head_dim, row);

	if (dst)
		rope_bytes_to_halves(dst, m.data, n_heads, head_dim, row);
	m.data = owned_bufs_take(bufs, dst);
	return m;
}

/* Its values as f32 (a copy in bufs unless it already is f32). */
static const float *mat_f32(struct owned_bufs *bufs, struct mat_src m, size_t rows, size_t cols)
{
	float *dst;

	if (m.type == GGML_TYPE_F32)
		return m.data;
	dst = xcalloc(rows * cols, sizeof(float));
	if (dst)
		quant_dequantize(m.type, m.data, dst, rows * cols);
	return owned_bufs_take(bufs, dst);
}

int export_model_gguf(const struct model *base, const struct llama_net *net, const char *path,
		      uint32_t dtype, struct ada_err *err)
{
	const struct model_config *c = &base->cfg;
	const char *arch = is_qwen2(base) ? "qwen2" : "llama";
	const int halves = is_qwen2(base);   /* llama.cpp's qwen2 keeps HF's Q/K layout */
	const int q_out = c->n_heads * c->head_dim, kv_out = c->n_kv_heads * c->head_dim;
	struct gguf_writer *w = NULL;
	struct owned_bufs ol = { 0 };
	const struct gguf *src = model_gguf(base);
	char key[128], name[128];
	int rc;

	if ((rc = gguf_writer_new(3, &w, err)))
		return rc;
#define KEY(suffix) (snprintf(key, sizeof(key), "%s.%s", arch, suffix), key)
	if ((rc = gguf_writer_set_str(w, "general.architecture", arch, err)) ||
	    (rc = gguf_writer_set_str(w, "general.name", "adalora fine-tuned", err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)c->context_length, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)c->dim, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)c->n_layers, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->hidden_dim, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_heads, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads, err)) ||
	    (rc = gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps, err)) ||
	    (rc = gguf_writer_set_f32(w, KEY("rope.freq_base"), c->rope_theta, err)) ||
	    (rc = gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim, err)))
		goto out_free;
#undef KEY
	/* The base model's tokenizer travels with it when it came from GGUF. */
	if (src)
		for (uint64_t i = 0; i < src->n_kv; i++)
			if (!strncmp(src->kv[i].key, "tokenizer.", 10) &&
			    (rc = gguf_writer_copy_kv(w, &src->kv[i], err)))
				goto out_free;

#define TENSOR(nm, data, rows, cols) do { \
	uint64_t _dims[2] = { (uint64_t)(cols), (uint64_t)(rows) }; \
	if (!(data)) { rc = ada_fail(err, ADA_ENOMEM, "out of memory"); goto out_free; } \
	if ((rc = gguf_writer_add_tensor(w, nm, (rows) > 1 ? 2 : 1, (rows) > 1 ? _dims : _dims, \
					 data, GGML_TYPE_F32, err))) \
		goto out_free; \
} while (0)
#define MATRIX(nm, src, rows, cols) do { \
	uint64_t _dims[2] = { (uint64_t)(cols), (uint64_t)(rows) }; \
	if (!(src).data) { rc = ada_fail(err, ADA_ENOMEM, "out of memory"); goto out_free; } \
	if ((rc = gguf_writer_add_tensor_typed(w, nm, 2, _dims, (src).data, (src).type, dtype, \
					       err))) \
		goto out_free; \
} while (0)

	if (dtype != GGML_TYPE_F32 && dtype != GGML_TYPE_F16 && dtype != GGML_TYPE_BF16) {
		rc = ada_fail_param(err, ADA_EINVAL, "dtype", "a whole model is written as F32, F16 or BF16, not %s",
				    ggml_type_name(dtype));
		goto out_free;
	}
	MATRIX("token_embd.weight", mat_of(net->tok_emb, net->tok_emb_fw), c->vocab_size, c->dim);
	for (int l = 0; l < c->n_layers; l++) {
		const struct llama_block *b = &net->blocks[l];
		static const char *gguf_names[N_LLAMA_MODULES] = {
			"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"
		};
		snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", l);
		TENSOR(name, b->attn_norm, 1, c->dim);
		snprintf(name, sizeof(name), "blk.%d.ffn_norm.weight", l);
		TENSOR(name, b->ffn_norm, 1, c->dim);
		for (int m = 0; m < N_LLAMA_MODULES; m++) {
			const struct linear *lin = &b->lin[m];
			struct mat_src wsrc = mat_of(lin->w, lin->fw);
			const float *bdata = lin->b;
			int heads = m == MOD_Q ? c->n_heads : c->n_kv_heads;
			if (halves && (m == MOD_Q || m == MOD_K)) {
				wsrc = mat_halves(&ol, wsrc, heads, c->head_dim, (size_t)lin->in);
				if (lin->b)
					bdata = qk_halves(&ol, lin->b, heads, c->head_dim, 1);
			}
			snprintf(name, sizeof(name), "blk.%d.%s.weight", l, gguf_names[m]);
			MATRIX(name, wsrc, lin->out, lin->in);
			if (lin->b) {
				snprintf(name, sizeof(name), "blk.%d.%s.bias", l, gguf_names[m]);
				TENSOR(name, bdata, 1, lin->out);
			}
		}
	}
	TENSOR("output_norm.weight", net->final_norm, 1, c->dim);
	if (!c->tied_output || (net->output && net->output != net->tok_emb))
		MATRIX("output.weight", mat_of(net->output, net->output_fw), c->vocab_size, c->dim);
#undef TENSOR
#undef MATRIX
	(void)q_out;
	(void)kv_out;
	rc = gguf_writer_write(w, path, err);
out_free:
	owned_bufs_free(&ol);
	gguf_writer_free(w);
	return rc;
}

static int write_hf_config(const struct model *base, int tied, uint32_t dtype, const char *dir,
			   struct ada_err *err)
{
	const struct model_config *c = &base->cfg;
	json_t *j = json_object(), *archs = json_array();
	int rc;

	json_array_append_new(archs, json_string(is_qwen2(base) ? "Qwen2ForCausalLM"
						 : !strcmp(c->arch, "mistral") ? "MistralForCausalLM"
						 : "LlamaForCausalLM"));
	json_object_set_new(j, "architectures", archs);
	json_object_set_new(j, "model_type", json_string(c->arch[0] ? c->arch : "llama"));
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
	json_object_set_new(j, "tie_word_embeddings", json_boolean(tied));
	json_object_set_new(j, "hidden_act", json_string("silu"));
	json_object_set_new(j, "torch_dtype", json_string(dtype == GGML_TYPE_F16 ? "float16" :
							  dtype == GGML_TYPE_BF16 ? "bfloat16" : "float32"));
	if (c->sliding_window)
		json_object_set_new(j, "sliding_window", json_integer(c->sliding_window));
	else if (!strcmp(c->arch, "mistral"))
		json_object_set_new(j, "sliding_window", json_null());
	rc = json_write_atomic(dir, "config.json", j, err);
	json_decref(j);
	return rc;
}

int export_model_hf(const struct model *base, const struct llama_net *net, const char *dir,
		    uint32_t dtype, struct ada_err *err)
{
	const struct model_config *c = &base->cfg;
	struct safetensors_writer *w = NULL;
	struct owned_bufs ol = { 0 };
	const int tied = c->tied_output && (!net->output || net->output == net->tok_emb);
	const enum st_dtype st = dtype == GGML_TYPE_F16 ? ST_F16 : dtype == GGML_TYPE_BF16 ? ST_BF16 :
				 ST_F32;
	char name[160], path[128], *file = NULL;
	int rc;

	if (dtype != GGML_TYPE_F32 && dtype != GGML_TYPE_F16 && dtype != GGML_TYPE_BF16)
		return ada_fail_param(err, ADA_EINVAL, "dtype", "a whole model is written as F32, F16 or BF16, not %s",
				      ggml_type_name(dtype));
	if ((rc = mkdir_p(dir, 0755, err)) || (rc = safetensors_writer_new(&w, err)) ||
	    (rc = safetensors_writer_set_metadata(w, "format", "pt", err)))
		goto out_free;
#define TENSOR(nm, data, rows, cols) do { \
	uint64_t _s2[2] = { (uint64_t)(rows), (uint64_t)(cols) }, _s1[1] = { (uint64_t)(cols) }; \
	if (!(data)) { rc = ada_fail(err, ADA_ENOMEM, "out of memory"); goto out_free; } \
	if ((rc = safetensors_writer_add_tensor(w, nm, (rows) > 0 ? 2 : 1, (rows) > 0 ? _s2 : _s1, \
						data, (rows) > 0 ? st : ST_F32, err))) \
		goto out_free; \
} while (0)
	TENSOR("model.embed_tokens.weight",
	       mat_f32(&ol, mat_of(net->tok_emb, net->tok_emb_fw), (size_t)c->vocab_size,
		       (size_t)c->dim), c->vocab_size, c->dim);
	for (int l = 0; l < c->n_layers; l++) {
		const struct llama_block *b = &net->blocks[l];
		snprintf(name, sizeof(name), "model.layers.%d.input_layernorm.weight", l);
		TENSOR(name, b->attn_norm, 0, c->dim);
		snprintf(name, sizeof(name), "model.layers.%d.post_attention_layernorm.weight", l);
		TENSOR(name, b->ffn_norm, 0, c->dim);
		for (int m = 0; m < N_LLAMA_MODULES; m++) {
			const struct linear *lin = &b->lin[m];
			const float *wdata = mat_f32(&ol, mat_of(lin->w, lin->fw), (size_t)lin->out,
						     (size_t)lin->in), *bdata = lin->b;
			int heads = m == MOD_Q ? c->n_heads : c->n_kv_heads;
			if (wdata && (m == MOD_Q || m == MOD_K)) {
				wdata = qk_halves(&ol, wdata, heads, c->head_dim, (size_t)lin->in);
				if (lin->b)
					bdata = qk_halves(&ol, lin->b, heads, c->head_dim, 1);
			}
			llama_module_hf_path(l, m, path, sizeof(path));
			snprintf(name, sizeof(name), "%s.weight", path);
			TENSOR(name, wdata, lin->out, lin->in);
			if (lin->b) {
				snprintf(name, sizeof(name), "%s.bias", path);
				TENSOR(name, bdata, 0, lin->out);
			}
		}
	}
	TENSOR("model.norm.weight", net->final_norm, 0, c->dim);
	if (!tied)
		TENSOR("lm_head.weight",
		       mat_f32(&ol, mat_of(net->output, net->output_fw), (size_t)c->vocab_size,
			       (size_t)c->dim), c->vocab_size, c->dim);
#undef TENSOR
	file = path_join(dir, "model.safetensors");
	if (!file) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = safetensors_writer_write(w, file, err)))
		goto out_free;
	rc = write_hf_config(base, tied, dtype, dir, err);
out_free:
	free(file);
	owned_bufs_free(&ol);
	safetensors_writer_free(w);
	return rc;
}
