/*
 * model_probe — ada_model_probe(): describe a model without loading it.
 *
 * The CLI and the daemon's GET /v1/models list models by their headers:
 * GGUF metadata and tensor directory, a llama2.c header plus the file size,
 * or a Hugging Face config.json plus the safetensors headers. No weight is
 * read, yet the probe runs the loaders' own parsers and checks, so what it
 * accepts, model_load() accepts too (short of damaged tensor data).
 */
#include "model/model_framing.h"
#include "model/model_loader.h"

#include <stdio.h>
#include <string.h>

#include "format/gguf.h"
#include "format/quant.h"
#include "util/err.h"

static int probe_gguf(const char *path, struct model_config *cfg, int *has_tokenizer,
		      struct weight_summary *ws, struct ada_err *err)
{
	struct gguf *g;
	int rc = gguf_open(path, &g, err);

	if (rc)
		return rc;
	rc = gguf_read_model_config(g, cfg, err);
	*has_tokenizer = gguf_find_kv(g, "tokenizer.ggml.tokens") != NULL;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		if (t->n_dims != 2 || t->type >= 64)
			continue;
		ws->types |= 1ull << t->type;
		ws->bytes += (int64_t)t->n_bytes;
	}
	gguf_close(g);
	return rc;
}

int ada_model_probe(const char *path, struct ada_model_info *info, struct ada_err *err)
{
	static const char *const format_names[] = {
		[MODEL_FORMAT_GGUF] = "gguf", [MODEL_FORMAT_LLAMA2C] = "llama2c",
		[MODEL_FORMAT_HF] = "hf",
	};
	struct model_config cfg;
	struct weight_summary ws = { 0 };
	enum model_format fmt;
	int has_tokenizer = 0, rc;

	memset(info, 0, sizeof(*info));
	rc = model_detect_format(path, &fmt, err);
	if (rc)
		return rc;
	switch (fmt) {
	case MODEL_FORMAT_GGUF:
		rc = probe_gguf(path, &cfg, &has_tokenizer, &ws, err);
		break;
	case MODEL_FORMAT_LLAMA2C:
		/* the shape is only known (and checked against the file) on success */
		if ((rc = llama2c_probe(path, &cfg, err)))
			break;
		ws.types = 1ull << GGML_TYPE_F32;
		ws.bytes = 4 * (model_param_count(&cfg) - (int64_t)cfg.dim * (2 * cfg.n_layers + 1));
		break;
	case MODEL_FORMAT_HF:
		rc = hf_probe(path, &cfg, &has_tokenizer, &ws, err);
		break;
	}
	if (rc)
		return rc;
	model_config_describe(&cfg, info);
	snprintf(info->format, sizeof(info->format), "%s", format_names[fmt]);
	info->has_tokenizer = has_tokenizer;
	info->weight_bytes = ws.bytes;
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t t = 0; t < 64; t++) {
			size_t len = strlen(info->dtype);
			if (!(ws.types & (1ull << t)) || quant_is_block(t) != !pass)
				continue;
			info->quantized |= quant_is_block(t);
			snprintf(info->dtype + len, sizeof(info->dtype) - len, "%s%s", len ? "+" : "",
				 ggml_type_name(t));
		}
	return model_probe_framing(path, info->format, info, err);
}

void model_config_describe(const struct model_config *cfg, struct ada_model_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->architecture, sizeof(info->architecture), "%s", cfg->arch);
	info->family = cfg->family;
	info->parameters = model_param_count(cfg);
	info->context_length = cfg->context_length;
	info->n_layers = cfg->n_layers;
	info->dim = cfg->dim;
	info->hidden_dim = cfg->hidden_dim;
	info->n_heads = cfg->n_heads;
	info->n_kv_heads = cfg->n_kv_heads;
	info->vocab_size = cfg->vocab_size;
	info->n_decoder_layers = cfg->n_dec_layers;
}
