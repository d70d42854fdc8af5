/*
 * modules — names, Hugging Face paths and shapes of the seven adaptable
 * linear modules of a Llama block. One table so that the API's
 * target_modules, the rank matrix columns and PEFT exports agree.
 */
#include <stdio.h>
#include <string.h>

#include "model.h"

static const struct {
	const char *name;       /* the API's short name */
	const char *hf;         /* Hugging Face submodule path within a layer */
} modules[N_LLAMA_MODULES] = {
	[MOD_Q] = { "q", "self_attn.q_proj" },
	[MOD_K] = { "k", "self_attn.k_proj" },
	[MOD_V] = { "v", "self_attn.v_proj" },
	[MOD_O] = { "o", "self_attn.o_proj" },
	[MOD_GATE] = { "gate", "mlp.gate_proj" },
	[MOD_UP] = { "up", "mlp.up_proj" },
	[MOD_DOWN] = { "down", "mlp.down_proj" },
};

const char *llama_module_name(enum llama_module m)
{
	return (unsigned)m < N_LLAMA_MODULES ? modules[m].name : "?";
}

int llama_module_from_name(const char *name)
{
	for (int m = 0; m < N_LLAMA_MODULES; m++)
		if (!strcmp(name, modules[m].name))
			return m;
	/* Accept the Hugging Face leaf names too ("q_proj", "gate_proj"). */
	for (int m = 0; m < N_LLAMA_MODULES; m++) {
		const char *leaf = strchr(modules[m].hf, '.') + 1;
		if (!strcmp(name, leaf))
			return m;
	}
	return -1;
}

void llama_module_hf_path(int layer, enum llama_module m, char *buf, size_t cap)
{
	snprintf(buf, cap, "model.layers.%d.%s", layer, modules[m].hf);
}

void llama_module_shape(const struct model_config *cfg, enum llama_module m, int *out_dim,
			int *in_dim)
{
	const int q = cfg->n_heads * cfg->head_dim, kv = cfg->n_kv_heads * cfg->head_dim;

	switch (m) {
	case MOD_Q: *out_dim = q; *in_dim = cfg->dim; return;
	case MOD_K:
	case MOD_V: *out_dim = kv; *in_dim = cfg->dim; return;
	case MOD_O: *out_dim = cfg->dim; *in_dim = q; return;
	case MOD_GATE:
	case MOD_UP: *out_dim = cfg->hidden_dim; *in_dim = cfg->dim; return;
	case MOD_DOWN: *out_dim = cfg->dim; *in_dim = cfg->hidden_dim; return;
	default: *out_dim = *in_dim = 0; return;
	}
}
