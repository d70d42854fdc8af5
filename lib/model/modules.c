/*
 * modules — names, Hugging Face paths and shapes of the adaptable linear
 * modules of a layer: seven in a Llama block, six in a BERT layer (the
 * AdaLoRA paper's six matrices). One table per family so that the API's
 * target_modules, the rank matrix columns and PEFT exports agree.
 *
 * target_modules is one bit set for both families: bit i is Llama module
 * i, and a BERT module answers to the bit of the Llama module in the same
 * place of the layer (query = q, key = k, value = v, attention.output.dense
 * = o, intermediate.dense = up, output.dense = down). gate has no BERT
 * counterpart, so "all seven" means the paper's six on BERT. DeBERTa-v2
 * is a BERT-family encoder whose attention projections are called
 * query_proj, key_proj, value_proj.
 *
 * BART layers have ten (model.h, enum bart_module): self_attn q/k/v/out_proj,
 * encoder_attn (cross-attention) q/k/v/out_proj in decoder layers only,
 * fc1, fc2. Rows of its rank matrices are the encoder's layers, then the
 * decoder's; model_layer_has_module() says which cells exist. Self- and
 * cross-attention projections share their bit (q_proj selects both, as in
 * PEFT), fc1 = up, fc2 = down.
 */
#include <stdio.h>
#include <string.h>

#include "model/model.h"

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

/* ---- the BERT family ---------------------------------------------------- */

static const struct {
	const char *leaf;       /* Hugging Face submodule path within a layer */
	enum llama_module bit;  /* its target_modules bit */
} bert_modules[N_BERT_MODULES] = {
	[BMOD_QUERY] = { "attention.self.query", MOD_Q },
	[BMOD_KEY] = { "attention.self.key", MOD_K },
	[BMOD_VALUE] = { "attention.self.value", MOD_V },
	[BMOD_ATTN_OUT] = { "attention.output.dense", MOD_O },
	[BMOD_INTER] = { "intermediate.dense", MOD_UP },
	[BMOD_OUTPUT] = { "output.dense", MOD_DOWN },
};

/* DeBERTa-v2 names its attention projections query_proj, key_proj,
 * value_proj (DisentangledSelfAttention); the rest as BERT. */
static const char *const deberta_leaf[BMOD_VALUE + 1] = {
	[BMOD_QUERY] = "attention.self.query_proj",
	[BMOD_KEY] = "attention.self.key_proj",
	[BMOD_VALUE] = "attention.self.value_proj",
};

int model_is_deberta(const struct model_config *cfg)
{
	return cfg->family == ADA_FAMILY_BERT && !strcmp(cfg->arch, "deberta-v2");
}

int bert_has_pos_emb(const struct model_config *cfg)
{
	return !model_is_deberta(cfg) || cfg->deberta.position_biased_input;
}

const char *bert_model_prefix(const struct model_config *cfg)
{
	return !strcmp(cfg->arch, "roberta") ? "roberta" : model_is_deberta(cfg) ? "deberta" : "bert";
}

/* The module's path within a layer. */
static const char *bert_leaf(const struct model_config *cfg, int m)
{
	if (m < 0 || m >= N_BERT_MODULES)
		return "?";
	return model_is_deberta(cfg) && m <= BMOD_VALUE ? deberta_leaf[m] : bert_modules[m].leaf;
}

int bert_module_from_name(const char *name)
{
	/* the leaf ("attention.self.query") or its last part ("query"); DeBERTa's
	 * ("attention.self.query_proj", "query_proj") too */
	for (int m = 0; m < N_BERT_MODULES; m++) {
		const char *leaf = bert_modules[m].leaf, *last = strrchr(leaf, '.') + 1;
		if (!strcmp(name, leaf) || (m <= BMOD_VALUE && !strcmp(name, last)))
			return m;
		if (m <= BMOD_VALUE && (!strcmp(name, deberta_leaf[m]) ||
					!strcmp(name, strrchr(deberta_leaf[m], '.') + 1)))
			return m;
	}
	return -1;
}

/* ---- BART ---------------------------------------------------------------- */

/* A BART module answers to the bit of the Llama module in its place; the
 * self- and cross-attention projections share theirs, as PEFT's suffix
 * match of "q_proj" takes both. */
static const struct {
	const char *leaf;       /* within a layer: the API's name too */
	const char *peft;       /* PEFT's target_modules entry */
	enum llama_module bit;
} bart_modules[N_BART_MODULES] = {
	[BART_SELF_Q] = { "self_attn.q_proj", "q_proj", MOD_Q },
	[BART_SELF_K] = { "self_attn.k_proj", "k_proj", MOD_K },
	[BART_SELF_V] = { "self_attn.v_proj", "v_proj", MOD_V },
	[BART_SELF_O] = { "self_attn.out_proj", "out_proj", MOD_O },
	[BART_CROSS_Q] = { "encoder_attn.q_proj", "q_proj", MOD_Q },
	[BART_CROSS_K] = { "encoder_attn.k_proj", "k_proj", MOD_K },
	[BART_CROSS_V] = { "encoder_attn.v_proj", "v_proj", MOD_V },
	[BART_CROSS_O] = { "encoder_attn.out_proj", "out_proj", MOD_O },
	[BART_FC1] = { "fc1", "fc1", MOD_UP },
	[BART_FC2] = { "fc2", "fc2", MOD_DOWN },
};

int bart_module_bit_from_name(const char *name)
{
	/* what PEFT configs write for BART that the Llama names do not cover */
	if (!strcmp(name, "out_proj"))
		return MOD_O;
	if (!strcmp(name, "fc1"))
		return MOD_UP;
	if (!strcmp(name, "fc2"))
		return MOD_DOWN;
	return -1;
}

int model_is_decoder_layer(const struct model_config *cfg, int layer)
{
	return cfg->family == ADA_FAMILY_BART && layer >= cfg->n_layers - cfg->n_dec_layers;
}

int model_stack_layer(const struct model_config *cfg, int layer)
{
	return model_is_decoder_layer(cfg, layer) ? layer - (cfg->n_layers - cfg->n_dec_layers)
						  : layer;
}

static int is_cross(int m)
{
	return m >= BART_CROSS_Q && m <= BART_CROSS_O;
}

const char *model_layer_group(const struct model_config *cfg, int layer)
{
	if (cfg->family != ADA_FAMILY_BART)
		return NULL;
	return model_is_decoder_layer(cfg, layer) ? "decoder" : "encoder";
}

const char *model_module_group(const struct model_config *cfg, int m)
{
	if (cfg->family != ADA_FAMILY_BART || m < 0 || m >= N_BART_MODULES)
		return NULL;
	return is_cross(m) ? "encoder_attn" : m >= BART_FC1 ? "ffn" : "self_attn";
}

/* ---- either family ------------------------------------------------------ */

int model_n_modules(const struct model_config *cfg)
{
	if (cfg->family == ADA_FAMILY_BART)
		return N_BART_MODULES;
	return cfg->family == ADA_FAMILY_BERT ? N_BERT_MODULES : N_LLAMA_MODULES;
}

int model_layer_has_module(const struct model_config *cfg, int layer, int m)
{
	if (layer < 0 || layer >= cfg->n_layers || m < 0 || m >= model_n_modules(cfg))
		return 0;
	return cfg->family != ADA_FAMILY_BART || !is_cross(m) || model_is_decoder_layer(cfg, layer);
}

int64_t model_n_matrices(const struct model_config *cfg, unsigned target_modules)
{
	int64_t n = 0;

	for (int l = 0; l < cfg->n_layers; l++)
		for (int m = 0; m < model_n_modules(cfg); m++)
			n += model_layer_has_module(cfg, l, m) &&
			     (target_modules & model_module_bit(cfg, m));
	return n;
}

const char *model_module_name(const struct model_config *cfg, int m)
{
	if (cfg->family == ADA_FAMILY_BART)
		return m >= 0 && m < N_BART_MODULES ? bart_modules[m].leaf : "?";
	if (cfg->family != ADA_FAMILY_BERT)
		return llama_module_name((enum llama_module)m);
	if (m < 0 || m >= N_BERT_MODULES)
		return "?";
	return m <= BMOD_VALUE ? strrchr(bert_leaf(cfg, m), '.') + 1 : bert_modules[m].leaf;
}

const char *model_module_hf_leaf(const struct model_config *cfg, int m)
{
	if (cfg->family == ADA_FAMILY_BART)
		return m >= 0 && m < N_BART_MODULES ? bart_modules[m].peft : "?";
	if (cfg->family == ADA_FAMILY_BERT)
		return bert_leaf(cfg, m);
	return (unsigned)m < N_LLAMA_MODULES ? strchr(modules[m].hf, '.') + 1 : "?";
}

void model_module_hf_path(const struct model_config *cfg, int layer, int m, char *buf,
			  size_t cap)
{
	if (cfg->family == ADA_FAMILY_BART) {
		snprintf(buf, cap, "model.%s.layers.%d.%s",
			 model_is_decoder_layer(cfg, layer) ? "decoder" : "encoder",
			 model_stack_layer(cfg, layer),
			 m >= 0 && m < N_BART_MODULES ? bart_modules[m].leaf : "?");
		return;
	}
	if (cfg->family != ADA_FAMILY_BERT) {
		llama_module_hf_path(layer, (enum llama_module)m, buf, cap);
		return;
	}
	snprintf(buf, cap, "%s.encoder.layer.%d.%s", bert_model_prefix(cfg), layer,
		 bert_leaf(cfg, m));
}

void model_module_shape(const struct model_config *cfg, int m, int *out_dim, int *in_dim)
{
	if (cfg->family == ADA_FAMILY_BART) {
		*out_dim = m == BART_FC1 ? cfg->hidden_dim : cfg->dim;
		*in_dim = m == BART_FC2 ? cfg->hidden_dim : cfg->dim;
		if (m < 0 || m >= N_BART_MODULES)
			*out_dim = *in_dim = 0;
		return;
	}
	if (cfg->family != ADA_FAMILY_BERT) {
		llama_module_shape(cfg, (enum llama_module)m, out_dim, in_dim);
		return;
	}
	switch (m) {
	case BMOD_QUERY:
	case BMOD_KEY:
	case BMOD_VALUE:
	case BMOD_ATTN_OUT: *out_dim = cfg->dim; *in_dim = cfg->dim; return;
	case BMOD_INTER: *out_dim = cfg->hidden_dim; *in_dim = cfg->dim; return;
	case BMOD_OUTPUT: *out_dim = cfg->dim; *in_dim = cfg->hidden_dim; return;
	default: *out_dim = *in_dim = 0; return;
	}
}

unsigned model_module_bit(const struct model_config *cfg, int m)
{
	if (cfg->family == ADA_FAMILY_BART)
		return m >= 0 && m < N_BART_MODULES ? 1u << bart_modules[m].bit : 0;
	if (cfg->family == ADA_FAMILY_BERT)
		return m >= 0 && m < N_BERT_MODULES ? 1u << bert_modules[m].bit : 0;
	return (unsigned)m < N_LLAMA_MODULES ? 1u << m : 0;
}

int model_modules_targeted(const struct model_config *cfg, unsigned target_modules)
{
	int n = 0;

	for (int m = 0; m < model_n_modules(cfg); m++)
		n += (target_modules & model_module_bit(cfg, m)) != 0;
	return n;
}
