/*
 * export_model — whole models written back to disk: the result of full
 * fine-tuning, and `adalora export --merge` (an adapter folded into its
 * base model), as GGUF (f32, llama architecture, adjacent-pair Q/K as
 * llama.cpp expects) or as a Hugging Face directory (config.json +
 * model.safetensors, Q/K permuted back to the rotate-half layout).
 */
#ifndef ADA_ADAPTER_EXPORT_MODEL_H
#define ADA_ADAPTER_EXPORT_MODEL_H

#include "adalora.h"
#include "model/model.h"
#include "nn/llama.h"

/* The weights net points at (base or trained), with base's configuration
 * and tokenizer metadata, as a GGUF v3 file at path. */
int export_model_gguf(const struct model *base, const struct llama_net *net, const char *path,
		      struct ada_err *err);

/* The same as a Hugging Face directory. */
int export_model_hf(const struct model *base, const struct llama_net *net, const char *dir,
		    struct ada_err *err);

#endif
