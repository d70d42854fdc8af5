/*
 * model_bert — Hugging Face BERT and RoBERTa directories -> struct model.
 *
 * model_hf.c reads config.json and opens the safetensors files, then hands
 * model_type "bert" and "roberta" here: the config becomes a
 * ADA_FAMILY_BERT struct model_config and the weights a struct
 * bert_weights (Hugging Face layout: Linear weights [out][in] with biases,
 * LayerNorm weight and bias), loaded with model_hf.c's hf_weight() under its
 * rules (every shape checked, F32/F16/BF16, F32 mapped when aligned, errors
 * naming file and tensor).
 *
 * Defaults follow transformers' BertConfig and RobertaConfig, so a config
 * loads as it would there: type_vocab_size 2, layer_norm_eps 1e-12,
 * hidden_act "gelu", position_embedding_type "absolute", pad_token_id 0
 * (RoBERTa: 1). The six sizes are required. What the forward pass does not
 * implement is refused by name: any activation but "gelu" (exact erf GELU;
 * "gelu_new" and the like differ), relative position embeddings, decoder
 * or cross-attention configurations, quantized checkpoints.
 *
 * RoBERTa numbers positions from padding_idx + 1 (transformers'
 * create_position_ids_from_input_ids), so position_offset = pad_token_id + 1
 * and the usable context is max_position_embeddings - position_offset
 * (514 - 2 = 512 for roberta-base).
 *
 * Tensor names: BertModel / RobertaModel checkpoints name the encoder's
 * tensors bare ("embeddings.word_embeddings.weight"), task checkpoints
 * (BertForSequenceClassification, ...ForMaskedLM) put them under "bert." or
 * "roberta."; whichever the files hold is used, both at once is an error.
 * Old checkpoints call LayerNorm's weight and bias gamma and beta. The
 * pooler is optional (RoBERTa classification checkpoints have none). A task
 * head (classifier.*, lm_head.*, cls.*) is not loaded and is no error: it
 * stays readable through model_extra_read().
 *
 * DeBERTa-v2/v3 (config: model_deberta.c) loads here too: its encoder is
 * "deberta." (or bare), q/k/v are query_proj/key_proj/value_proj, v3 has no
 * position or token type table, and the encoder adds rel_embeddings (with
 * its LayerNorm) and, without share_att_key, per-layer pos_key_proj /
 * pos_query_proj. Its ContextPooler ("pooler.dense") is part of the
 * classification head, so has_pooler stays 0 and a checkpoint's pooler is
 * an extra tensor like classifier.*.
 */
#include "model/model_loader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

static int is_roberta(const struct model_config *cfg)
{
	return !strcmp(cfg->arch, "roberta");
}

/* A string member that must have one value (absent: dflt). */
static int require_string(const char *path, json_t *root, const char *key, const char *dflt,
			  const char *what, struct ada_err *err)
{
	json_t *v = hf_member(root, key);

	if (!v || (json_is_string(v) && !strcmp(json_string_value(v), dflt)))
		return ADA_OK;
	return ada_fail_param(err, ADA_EUNSUPPORTED, key, "%s: %s '%s' is not supported (%s)",
			      path, key, json_is_string(v) ? json_string_value(v) : "?", what);
}

static int refuse_unsupported(const char *path, json_t *root, struct ada_err *err)
{
	static const char *const flags[] = { "is_decoder", "add_cross_attention" };
	int rc, flag;

	if ((rc = require_string(path, root, "hidden_act", "gelu",
				 "only 'gelu', the exact erf GELU", err)) ||
	    (rc = require_string(path, root, "position_embedding_type", "absolute",
				 "only 'absolute'", err)))
		return rc;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		rc = hf_get_bool(path, root, flags[i], 0, &flag, err);
		if (rc)
			return rc;
		if (flag)
			return ada_fail_param(err, ADA_EUNSUPPORTED, flags[i],
					      "%s: %s = true is not supported (encoders only)", path,
					      flags[i]);
	}
	if (hf_member(root, "quantization_config"))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "quantization_config",
				      "%s: quantized checkpoints are not supported", path);
	return ADA_OK;
}

int bert_parse_config(const char *path, json_t *root, struct model_config *cfg,
		      struct ada_err *err)
{
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_BERT;
	snprintf(cfg->arch, sizeof(cfg->arch), "%s",
		 json_string_value(hf_member(root, "model_type")));
	if ((rc = refuse_unsupported(path, root, err)) ||
	    (rc = hf_get_int(path, root, "hidden_size", -1, &cfg->dim, err)) ||
	    (rc = hf_get_int(path, root, "intermediate_size", -1, &cfg->hidden_dim, err)) ||
	    (rc = hf_get_int(path, root, "num_hidden_layers", -1, &cfg->n_layers, err)) ||
	    (rc = hf_get_int(path, root, "num_attention_heads", -1, &cfg->n_heads, err)) ||
	    (rc = hf_get_int(path, root, "vocab_size", -1, &cfg->vocab_size, err)) ||
	    (rc = hf_get_int(path, root, "max_position_embeddings", -1, &cfg->max_positions, err)) ||
	    (rc = hf_get_int(path, root, "type_vocab_size", 2, &cfg->type_vocab_size, err)) ||
	    (rc = hf_get_int(path, root, "pad_token_id", is_roberta(cfg) ? 1 : 0,
			     &cfg->pad_token_id, err)) ||
	    (rc = hf_get_float(path, root, "layer_norm_eps", 1e-12, &cfg->norm_eps, err)))
		return rc;
	if (cfg->n_heads <= 0 || cfg->dim % cfg->n_heads)
		return ada_fail_param(err, ADA_EFORMAT, "num_attention_heads",
				      "%s: hidden_size (%d) is not a multiple of num_attention_heads (%d)",
				      path, cfg->dim, cfg->n_heads);
	cfg->n_kv_heads = cfg->n_heads;
	cfg->head_dim = cfg->dim / cfg->n_heads;
	if (is_roberta(cfg)) {
		cfg->position_offset = cfg->pad_token_id + 1;
		if (cfg->position_offset >= cfg->max_positions)
			return ada_fail_param(err, ADA_EFORMAT, "max_position_embeddings",
					      "%s: max_position_embeddings (%d) leaves no position after RoBERTa's offset pad_token_id + 1 = %d",
					      path, cfg->max_positions, cfg->position_offset);
	}
	cfg->context_length = cfg->max_positions - cfg->position_offset;
	return model_config_check(cfg, path, err);
}

int bert_resolve_hf(const char *dir, const struct hf_shards *sh, struct model_config *cfg,
		    char *prefix, size_t cap, struct ada_err *err)
{
	char pre_buf[16], name[96];
	const char *pre = pre_buf;
	int with, bare, rc;

	snprintf(pre_buf, sizeof(pre_buf), "%s.", bert_model_prefix(cfg));

	snprintf(name, sizeof(name), "%sembeddings.word_embeddings.weight", pre);
	if ((rc = hf_has_tensor(sh, name, &with, err)) ||
	    (rc = hf_has_tensor(sh, name + strlen(pre), &bare, err)))
		return ada_err_prefix(err, rc, "%s", dir);
	if (with && bare)
		return ada_fail(err, ADA_EFORMAT,
				"%s: both '%s' and '%s': two encoders in one checkpoint", dir, name,
				name + strlen(pre));
	if (!with && !bare)
		return ada_fail(err, ADA_EFORMAT, "%s: missing tensor '%s' (or '%s')", dir,
				name + strlen(pre), name);
	if (!with)
		pre = "";
	if (prefix)
		snprintf(prefix, cap, "%s", pre);
	/* DeBERTa's ContextPooler belongs to the classification head
	 * (DebertaV2ForSequenceClassification.pooler), not to the encoder. */
	if (model_is_deberta(cfg)) {
		cfg->has_pooler = 0;
		return ADA_OK;
	}
	snprintf(name, sizeof(name), "%spooler.dense.weight", pre);
	rc = hf_has_tensor(sh, name, &cfg->has_pooler, err);
	return rc ? ada_err_prefix(err, rc, "%s", dir) : ADA_OK;
}

struct bert_loader {
	struct model *m;
	struct hf_shards *sh;
	char prefix[16];
	struct ada_err *err;
};

/* prefix + fmt(...), then the tensor: rows x cols (rows 0: a vector). */
static int weight(struct bert_loader *b, const float **out, uint64_t rows, uint64_t cols,
		  const char *fmt, ...) ADA_PRINTF(5, 6);

static int weight(struct bert_loader *b, const float **out, uint64_t rows, uint64_t cols,
		  const char *fmt, ...)
{
	char name[160];
	size_t n = (size_t)snprintf(name, sizeof(name), "%s", b->prefix);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name + n, sizeof(name) - n, fmt, ap);
	va_end(ap);
	return hf_weight(b->m, b->sh, name, rows, cols, 0, out, b->err);
}

/* The same for a matrix kept in its file's dtype. */
static int matrix(struct bert_loader *b, struct frozen_mat *out, uint64_t rows, uint64_t cols,
		  const char *fmt, ...) ADA_PRINTF(5, 6);

static int matrix(struct bert_loader *b, struct frozen_mat *out, uint64_t rows, uint64_t cols,
		  const char *fmt, ...)
{
	char name[160];
	size_t n = (size_t)snprintf(name, sizeof(name), "%s", b->prefix);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name + n, sizeof(name) - n, fmt, ap);
	va_end(ap);
	return hf_matrix(b->m, b->sh, name, rows, cols, 0, out, b->err);
}

/* A LayerNorm called base: weight/bias, or gamma/beta in old checkpoints. */
static int layer_norm(struct bert_loader *b, const char *base, const float **w,
		      const float **bias)
{
	uint64_t dim = (uint64_t)b->m->cfg.dim;
	char name[160];
	int modern = 0, legacy = 0, rc;

	snprintf(name, sizeof(name), "%s%s.weight", b->prefix, base);
	rc = hf_has_tensor(b->sh, name, &modern, b->err);
	if (!rc && !modern) {
		snprintf(name, sizeof(name), "%s%s.gamma", b->prefix, base);
		rc = hf_has_tensor(b->sh, name, &legacy, b->err);
	}
	if (rc)
		return ada_err_prefix(b->err, rc, "%s", b->m->path);
	if ((rc = weight(b, w, 0, dim, "%s.%s", base, legacy ? "gamma" : "weight")) ||
	    (rc = weight(b, bias, 0, dim, "%s.%s", base, legacy ? "beta" : "bias")))
		return rc;
	return ADA_OK;
}

/* DeBERTa without share_att_key: the layer's own position projections. */
static int load_pos_proj(struct bert_loader *b, struct bert_layer *l, int i)
{
	const struct deberta_config *db = &b->m->cfg.deberta;
	uint64_t dim = (uint64_t)b->m->cfg.dim;
	int rc;

	if (!db->relative_attention || db->share_att_key)
		return ADA_OK;
	if ((db->pos_att & DEBERTA_C2P) &&
	    ((rc = matrix(b, &l->pos_key, dim, dim, "encoder.layer.%d.attention.self.pos_key_proj.weight", i)) ||
	     (rc = weight(b, &l->pos_key_b, 0, dim, "encoder.layer.%d.attention.self.pos_key_proj.bias", i))))
		return rc;
	if ((db->pos_att & DEBERTA_P2C) &&
	    ((rc = matrix(b, &l->pos_query, dim, dim, "encoder.layer.%d.attention.self.pos_query_proj.weight", i)) ||
	     (rc = weight(b, &l->pos_query_b, 0, dim, "encoder.layer.%d.attention.self.pos_query_proj.bias", i))))
		return rc;
	return ADA_OK;
}

static int load_layer(struct bert_loader *b, int i)
{
	const struct model_config *c = &b->m->cfg;
	struct bert_layer *l = &b->m->bert->layers[i];
	uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
	char base[96];
	int rc;

	for (int k = 0; k < N_BERT_MODULES; k++) {
		uint64_t out = k == BMOD_INTER ? hidden : dim, in = k == BMOD_OUTPUT ? hidden : dim;
		const char *leaf = model_module_hf_leaf(c, k);   /* DeBERTa: query_proj, ... */

		if ((rc = matrix(b, &l->w[k], out, in, "encoder.layer.%d.%s.weight", i, leaf)) ||
		    (rc = weight(b, &l->b[k], 0, out, "encoder.layer.%d.%s.bias", i, leaf)))
			return rc;
	}
	if ((rc = load_pos_proj(b, l, i)))
		return rc;
	snprintf(base, sizeof(base), "encoder.layer.%d.attention.output.LayerNorm", i);
	rc = layer_norm(b, base, &l->ln_attn_w, &l->ln_attn_b);
	if (rc)
		return rc;
	snprintf(base, sizeof(base), "encoder.layer.%d.output.LayerNorm", i);
	return layer_norm(b, base, &l->ln_out_w, &l->ln_out_b);
}

int bert_load_hf(struct model *m, struct hf_shards *sh, struct ada_err *err)
{
	struct bert_loader b = { .m = m, .sh = sh, .err = err };
	const struct model_config *c = &m->cfg;
	uint64_t dim = (uint64_t)c->dim;
	struct bert_weights *w;
	int rc;

	rc = bert_resolve_hf(m->path, sh, &m->cfg, b.prefix, sizeof(b.prefix), err);
	if (rc)
		return rc;
	w = m->bert = xcalloc(1, sizeof(*m->bert));
	if (!w || !(w->layers = xcalloc((size_t)c->n_layers, sizeof(*w->layers))))
		return ada_fail(err, ADA_ENOMEM, "%s: out of memory", m->path);
	if ((rc = weight(&b, &w->word_emb, (uint64_t)c->vocab_size, dim,
			 "embeddings.word_embeddings.weight")) ||
	    (bert_has_pos_emb(c) &&
	     (rc = weight(&b, &w->pos_emb, (uint64_t)c->max_positions, dim,
			  "embeddings.position_embeddings.weight"))) ||
	    (c->type_vocab_size > 0 &&
	     (rc = weight(&b, &w->type_emb, (uint64_t)c->type_vocab_size, dim,
			  "embeddings.token_type_embeddings.weight"))) ||
	    (rc = layer_norm(&b, "embeddings.LayerNorm", &w->emb_ln_w, &w->emb_ln_b)))
		return rc;
	if (model_is_deberta(c) && c->deberta.relative_attention &&
	    ((rc = weight(&b, &w->rel_emb, 2 * (uint64_t)c->deberta.att_span, dim,
			  "encoder.rel_embeddings.weight")) ||
	     (c->deberta.norm_rel_ebd &&
	      (rc = layer_norm(&b, "encoder.LayerNorm", &w->rel_ln_w, &w->rel_ln_b)))))
		return rc;
	for (int i = 0; i < c->n_layers; i++)
		if ((rc = load_layer(&b, i)))
			return rc;
	if (c->has_pooler &&
	    ((rc = weight(&b, &w->pooler_w, dim, dim, "pooler.dense.weight")) ||
	     (rc = weight(&b, &w->pooler_b, 0, dim, "pooler.dense.bias"))))
		return rc;
	/* The word embeddings are the model's token embedding. */
	m->tok_emb = frozen_mat_of_f32(w->word_emb, c->vocab_size, c->dim);
	return ADA_OK;
}
