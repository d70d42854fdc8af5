/*
 * export_model — whole models written back to disk: the result of full
 * fine-tuning, and `adalora export --merge` (an adapter folded into its
 * base model), as GGUF (llama architecture, adjacent-pair Q/K as
 * llama.cpp expects) or as a Hugging Face directory (config.json +
 * model.safetensors, Q/K permuted back to the rotate-half layout).
 *
 * Matrices are written as dtype (GGML_TYPE_F32, F16 or BF16: never a block
 * type, so a quantized base is never re-quantized silently), whether the
 * network holds them as f32 (trained or merged copies) or in the base's
 * file type (frozen views, dequantized on the way out); norms and biases as
 * F32. GGUF output converts a chunk at a time; the HF writer takes f32, so
 * a frozen matrix in another type is widened whole before it is written.
 */
#ifndef ADA_ADAPTER_EXPORT_MODEL_H
#define ADA_ADAPTER_EXPORT_MODEL_H

#include <stdint.h>

#include "adalora.h"
#include "model/model.h"
#include "nn/llama.h"

/* The weights net points at (base or trained), with base's configuration
 * and tokenizer metadata, as a GGUF v3 file at path. */
int export_model_gguf(const struct model *base, const struct llama_net *net, const char *path,
		      uint32_t dtype, struct ada_err *err);

/* The same as a Hugging Face directory. */
int export_model_hf(const struct model *base, const struct llama_net *net, const char *dir,
		    uint32_t dtype, struct ada_err *err);

#endif
