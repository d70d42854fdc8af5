/*
 * model_bart — Hugging Face BART directories -> struct model.
 *
 * model_hf.c reads config.json and opens the safetensors files, then hands
 * model_type "bart" here: the config becomes an ADA_FAMILY_BART struct
 * model_config and the weights a struct bart_weights, loaded with
 * model_hf.c's helpers (every shape checked, F32/F16/BF16, matrices kept in
 * their file's type, errors naming file and tensor).
 *
 * Defaults follow transformers' BartConfig (bart-large): d_model 1024, 12
 * encoder and 12 decoder layers of 16 heads and FFN width 4096, vocab
 * 50265, 1024 positions, "gelu", scale_embedding false, pad 1, bos 0, eos 2,
 * decoder_start_token_id 2, tie_word_embeddings true. LayerNorm eps is
 * torch's default 1e-5 (BART does not configure it).
 *
 * What the forward pass (nn/bart.h) computes is BART's post-LayerNorm
 * encoder-decoder; what it does not is refused by name: mbart's pre-LN
 * layout (model_type "mbart", normalize_before, add_final_layer_norm),
 * add_bias_logits, static (sinusoidal) positions, normalize_embedding false,
 * an activation other than exact GELU, encoder and decoder of different
 * widths or head counts (one module shape per rank-matrix column), and
 * quantized checkpoints.
 *
 * Tensor names: BartForConditionalGeneration puts the network under
 * "model." ("model.encoder.layers.0.fc1.weight") with final_logits_bias
 * and lm_head.weight beside it; a BartModel checkpoint has bare names.
 * Whichever the files hold is used, both at once is an error. The shared
 * token embedding is "shared.weight", or, as safetensors keeps one name of
 * tied tensors, encoder.embed_tokens.weight or decoder.embed_tokens.weight.
 * The learned positions have max_position_embeddings + 2 rows: BART numbers
 * positions from 2 (BartLearnedPositionalEmbedding's offset). A missing
 * final_logits_bias is zero (BartModel checkpoints have none).
 */
#include "model/model_loader.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define BART_POSITION_OFFSET 2
#define BART_LN_EPS 1e-5

static int refuse_flag(const char *path, json_t *root, const char *key, int bad, const char *why,
		       struct ada_err *err)
{
	int v, rc = hf_get_bool(path, root, key, !bad, &v, err);

	if (rc)
		return rc;
	if (v == bad)
		return ada_fail_param(err, ADA_EUNSUPPORTED, key, "%s: %s = %s is not supported (%s)",
				      path, key, bad ? "true" : "false", why);
	return ADA_OK;
}

static int refuse_unsupported(const char *path, json_t *root, struct ada_err *err)
{
	json_t *act = hf_member(root, "activation_function");
	int rc;

	if (act && (!json_is_string(act) || strcmp(json_string_value(act), "gelu")))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "activation_function",
				      "%s: activation_function '%s' is not supported (only 'gelu', the exact erf GELU)",
				      path, json_is_string(act) ? json_string_value(act) : "?");
	if ((rc = refuse_flag(path, root, "normalize_before", 1,
			      "pre-LayerNorm (mbart) layers are not implemented", err)) ||
	    (rc = refuse_flag(path, root, "add_final_layer_norm", 1,
			      "final encoder/decoder LayerNorms (mbart) are not implemented", err)) ||
	    (rc = refuse_flag(path, root, "add_bias_logits", 1, "not implemented", err)) ||
	    (rc = refuse_flag(path, root, "static_position_embeddings", 1,
			      "only learned positions", err)) ||
	    (rc = refuse_flag(path, root, "normalize_embedding", 0,
			      "BART's layernorm_embedding is always applied here", err)))
		return rc;
	if (hf_member(root, "quantization_config"))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "quantization_config",
				      "%s: quantized checkpoints are not supported", path);
	return ADA_OK;
}

/* An int the config may leave out or null (-1 then), e.g. forced_bos_token_id. */
static int get_optional_int(const char *path, json_t *root, const char *key, int *out,
			    struct ada_err *err)
{
	if (!hf_member(root, key)) {
		*out = -1;
		return ADA_OK;
	}
	return hf_get_int(path, root, key, 0, out, err);
}

/* The encoder and decoder must agree where they share a rank-matrix column. */
static int require_same(const char *path, json_t *root, const char *enc, const char *dec,
			int dflt, int *out, struct ada_err *err)
{
	int e, d, rc;

	if ((rc = hf_get_int(path, root, enc, dflt, &e, err)) ||
	    (rc = hf_get_int(path, root, dec, dflt, &d, err)))
		return rc;
	if (e != d)
		return ada_fail_param(err, ADA_EUNSUPPORTED, dec,
				      "%s: %s (%d) differs from %s (%d): encoder and decoder of different shapes are not supported",
				      path, dec, d, enc, e);
	*out = e;
	return ADA_OK;
}

int bart_parse_config(const char *path, json_t *root, struct model_config *cfg,
		      struct ada_err *err)
{
	int enc_layers, dec_layers, scale, tied, rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_BART;
	snprintf(cfg->arch, sizeof(cfg->arch), "bart");
	if ((rc = refuse_unsupported(path, root, err)) ||
	    (rc = hf_get_int(path, root, "d_model", 1024, &cfg->dim, err)) ||
	    (rc = require_same(path, root, "encoder_ffn_dim", "decoder_ffn_dim", 4096,
			       &cfg->hidden_dim, err)) ||
	    (rc = require_same(path, root, "encoder_attention_heads", "decoder_attention_heads", 16,
			       &cfg->n_heads, err)) ||
	    (rc = hf_get_int(path, root, "encoder_layers", 12, &enc_layers, err)) ||
	    (rc = hf_get_int(path, root, "decoder_layers", 12, &dec_layers, err)) ||
	    (rc = hf_get_int(path, root, "vocab_size", 50265, &cfg->vocab_size, err)) ||
	    (rc = hf_get_int(path, root, "max_position_embeddings", 1024, &cfg->context_length,
			     err)) ||
	    (rc = hf_get_int(path, root, "pad_token_id", 1, &cfg->pad_token_id, err)) ||
	    (rc = hf_get_int(path, root, "bos_token_id", 0, &cfg->bos_token_id, err)) ||
	    (rc = hf_get_int(path, root, "eos_token_id", 2, &cfg->eos_token_id, err)) ||
	    (rc = hf_get_int(path, root, "decoder_start_token_id", 2, &cfg->decoder_start_token_id,
			     err)) ||
	    (rc = get_optional_int(path, root, "forced_bos_token_id", &cfg->forced_bos_token_id,
				   err)) ||
	    (rc = hf_get_bool(path, root, "scale_embedding", 0, &scale, err)) ||
	    (rc = hf_get_bool(path, root, "tie_word_embeddings", 1, &tied, err)))
		return rc;
	if (enc_layers < 1 || dec_layers < 1)
		return ada_fail_param(err, ADA_EFORMAT, enc_layers < 1 ? "encoder_layers" : "decoder_layers",
				      "%s: an encoder-decoder needs at least one encoder and one decoder layer",
				      path);
	if (cfg->n_heads <= 0 || cfg->dim % cfg->n_heads)
		return ada_fail_param(err, ADA_EFORMAT, "encoder_attention_heads",
				      "%s: d_model (%d) is not a multiple of the attention heads (%d)",
				      path, cfg->dim, cfg->n_heads);
	cfg->n_layers = enc_layers + dec_layers;
	cfg->n_dec_layers = dec_layers;
	cfg->n_kv_heads = cfg->n_heads;
	cfg->head_dim = cfg->dim / cfg->n_heads;
	cfg->norm_eps = (float)BART_LN_EPS;
	cfg->embed_scale = scale ? (float)sqrt((double)cfg->dim) : 1.0f;
	cfg->position_offset = BART_POSITION_OFFSET;
	cfg->max_positions = cfg->context_length + BART_POSITION_OFFSET;
	cfg->tied_output = tied;
	cfg->type_vocab_size = 0;
	return model_config_check(cfg, path, err);
}

int bart_resolve_hf(const char *dir, const struct hf_shards *sh, char *prefix, size_t cap,
		    struct ada_err *err)
{
	const char *pre = "model.", *probe = "encoder.embed_positions.weight";
	char name[96];
	int with, bare, rc;

	snprintf(name, sizeof(name), "%s%s", pre, probe);
	if ((rc = hf_has_tensor(sh, name, &with, err)) ||
	    (rc = hf_has_tensor(sh, probe, &bare, err)))
		return ada_err_prefix(err, rc, "%s", dir);
	if (with && bare)
		return ada_fail(err, ADA_EFORMAT,
				"%s: both '%s' and '%s': two networks in one checkpoint", dir, name,
				probe);
	if (!with && !bare)
		return ada_fail(err, ADA_EFORMAT, "%s: missing tensor '%s' (or '%s')", dir, name,
				probe);
	if (prefix)
		snprintf(prefix, cap, "%s", with ? pre : "");
	return ADA_OK;
}

struct bart_loader {
	struct model *m;
	struct hf_shards *sh;
	char prefix[16];
	struct ada_err *err;
};

static void vname(char *name, size_t cap, const char *prefix, const char *fmt, va_list ap)
{
	size_t n = (size_t)snprintf(name, cap, "%s", prefix);

	vsnprintf(name + n, cap - n, fmt, ap);
}

/* prefix + fmt(...): a vector (rows 0) or matrix widened to f32. */
static int weight(struct bart_loader *b, const float **out, uint64_t rows, uint64_t cols,
		  const char *fmt, ...) ADA_PRINTF(5, 6);

static int weight(struct bart_loader *b, const float **out, uint64_t rows, uint64_t cols,
		  const char *fmt, ...)
{
	char name[160];
	va_list ap;

	va_start(ap, fmt);
	vname(name, sizeof(name), b->prefix, fmt, ap);
	va_end(ap);
	return hf_weight(b->m, b->sh, name, rows, cols, 0, out, b->err);
}

/* The same for a matrix kept in its file's dtype. */
static int matrix(struct bart_loader *b, struct frozen_mat *out, uint64_t rows, uint64_t cols,
		  const char *fmt, ...) ADA_PRINTF(5, 6);

static int matrix(struct bart_loader *b, struct frozen_mat *out, uint64_t rows, uint64_t cols,
		  const char *fmt, ...)
{
	char name[160];
	va_list ap;

	va_start(ap, fmt);
	vname(name, sizeof(name), b->prefix, fmt, ap);
	va_end(ap);
	return hf_matrix(b->m, b->sh, name, rows, cols, 0, out, b->err);
}

static int layer_norm(struct bart_loader *b, const char *base, const float **w, const float **bias)
{
	uint64_t dim = (uint64_t)b->m->cfg.dim;
	int rc;

	if ((rc = weight(b, w, 0, dim, "%s.weight", base)) ||
	    (rc = weight(b, bias, 0, dim, "%s.bias", base)))
		return rc;
	return ADA_OK;
}

static int load_layer(struct bart_loader *b, int layer)
{
	const struct model_config *c = &b->m->cfg;
	struct bart_layer *l = &b->m->bart->layers[layer];
	const int dec = model_is_decoder_layer(c, layer);
	char base[96];
	int rc;

	snprintf(base, sizeof(base), "%s.layers.%d", dec ? "decoder" : "encoder",
		 model_stack_layer(c, layer));
	for (int k = 0; k < N_BART_MODULES; k++) {
		int out, in;

		if (!model_layer_has_module(c, layer, k))
			continue;
		model_module_shape(c, k, &out, &in);
		if ((rc = matrix(b, &l->w[k], (uint64_t)out, (uint64_t)in, "%s.%s.weight", base,
				 model_module_name(c, k))) ||
		    (rc = weight(b, &l->b[k], 0, (uint64_t)out, "%s.%s.bias", base,
				 model_module_name(c, k))))
			return rc;
	}
	{
		char ln[128];

		snprintf(ln, sizeof(ln), "%s.self_attn_layer_norm", base);
		if ((rc = layer_norm(b, ln, &l->ln_self_w, &l->ln_self_b)))
			return rc;
		if (dec) {
			snprintf(ln, sizeof(ln), "%s.encoder_attn_layer_norm", base);
			if ((rc = layer_norm(b, ln, &l->ln_cross_w, &l->ln_cross_b)))
				return rc;
		}
		snprintf(ln, sizeof(ln), "%s.final_layer_norm", base);
		return layer_norm(b, ln, &l->ln_ffn_w, &l->ln_ffn_b);
	}
}

/* The shared token embedding under any of the names tied tensors keep. */
static int shared_embedding(struct bart_loader *b)
{
	static const char *const names[] = {
		"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
	};
	const struct model_config *c = &b->m->cfg;
	char name[96];
	int found, rc;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", b->prefix, names[i]);
		if ((rc = hf_has_tensor(b->sh, name, &found, b->err)))
			return ada_err_prefix(b->err, rc, "%s", b->m->path);
		if (found)
			return matrix(b, &b->m->tok_emb, (uint64_t)c->vocab_size, (uint64_t)c->dim, "%s",
				      names[i]);
	}
	return ada_fail(b->err, ADA_EFORMAT, "%s: missing tensor '%sshared.weight' (the token embedding)",
			b->m->path, b->prefix);
}

/* final_logits_bias [1, vocab], top level; zeros without one. */
static int logits_bias(struct bart_loader *b)
{
	const struct model_config *c = &b->m->cfg;
	float *zeros;
	int found, rc;

	if ((rc = hf_has_tensor(b->sh, "final_logits_bias", &found, b->err)))
		return ada_err_prefix(b->err, rc, "%s", b->m->path);
	if (found)
		return hf_weight(b->m, b->sh, "final_logits_bias", 1, (uint64_t)c->vocab_size, 0,
				 &b->m->bart->final_logits_bias, b->err);
	if ((rc = model_alloc_weights(b->m, (size_t)c->vocab_size, &zeros, b->err)))
		return rc;
	b->m->bart->final_logits_bias = zeros;
	return ADA_OK;
}

int bart_load_hf(struct model *m, struct hf_shards *sh, struct ada_err *err)
{
	struct bart_loader b = { .m = m, .sh = sh, .err = err };
	const struct model_config *c = &m->cfg;
	const uint64_t dim = (uint64_t)c->dim, pos = (uint64_t)c->max_positions;
	struct bart_weights *w;
	int rc;

	if ((rc = bart_resolve_hf(m->path, sh, b.prefix, sizeof(b.prefix), err)))
		return rc;
	w = m->bart = xcalloc(1, sizeof(*m->bart));
	if (!w || !(w->layers = xcalloc((size_t)c->n_layers, sizeof(*w->layers))))
		return ada_fail(err, ADA_ENOMEM, "%s: out of memory", m->path);
	if ((rc = shared_embedding(&b)) ||
	    (rc = weight(&b, &w->enc_pos, pos, dim, "encoder.embed_positions.weight")) ||
	    (rc = weight(&b, &w->dec_pos, pos, dim, "decoder.embed_positions.weight")) ||
	    (rc = layer_norm(&b, "encoder.layernorm_embedding", &w->enc_ln_emb_w,
			     &w->enc_ln_emb_b)) ||
	    (rc = layer_norm(&b, "decoder.layernorm_embedding", &w->dec_ln_emb_w,
			     &w->dec_ln_emb_b)))
		return rc;
	for (int l = 0; l < c->n_layers; l++)
		if ((rc = load_layer(&b, l)))
			return rc;
	if ((rc = logits_bias(&b)))
		return rc;
	if (c->tied_output)
		m->output = m->tok_emb;
	else
		rc = hf_matrix(m, sh, "lm_head.weight", (uint64_t)c->vocab_size, dim, 0, &m->output,
			       err);
	return rc;
}
