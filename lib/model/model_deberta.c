/*
 * model_deberta — the config.json of a Hugging Face DeBERTa-v2/v3 directory
 * (model_type "deberta-v2") -> a BERT-family struct model_config.
 *
 * DeBERTa is a post-norm encoder with BERT's layer (attention, output
 * dense + LayerNorm, intermediate GELU, output dense + LayerNorm) and the
 * paper's six adaptable matrices; what differs is its attention, which adds
 * content->position and position->content terms over a shared table of
 * relative position embeddings (nn/disentangled.h), and its input, which
 * in v3 has no absolute positions and no token types. So it is family BERT
 * with arch "deberta-v2" and the resolved struct deberta_config; its
 * weights load through model_bert.c (names differ only in the q/k/v leaves,
 * query_proj/key_proj/value_proj, and the encoder's rel_embeddings,
 * LayerNorm and the optional pos_key_proj/pos_query_proj).
 *
 * Defaults follow transformers' DebertaV2Config and the getattr() defaults
 * of modeling_deberta_v2.py, so a config loads as it would there:
 * max_position_embeddings 512, type_vocab_size 0, layer_norm_eps 1e-7,
 * relative_attention false, max_relative_positions -1 (= max_position_
 * embeddings), position_buckets -1 (none), pos_att_type none, share_att_key
 * false, norm_rel_ebd "none", position_biased_input true, pooler_hidden_act
 * "gelu", pad_token_id 0. The five sizes are required, as for BERT.
 * Refused by name: an activation other than "gelu" (hidden_act) or "gelu"/
 * "tanh" (pooler_hidden_act), embedding_size != hidden_size (the embed_proj
 * projection), conv_kernel_size > 0 (DeBERTa-v2-xlarge's convolution),
 * attention_head_size != hidden_size / heads, pooler_hidden_size !=
 * hidden_size, unknown pos_att_type or norm_rel_ebd entries, quantized
 * checkpoints.
 */
#include "model/model_loader.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

/* An integer member that may be negative (transformers' "-1: unset"). */
static int get_signed(const char *path, json_t *root, const char *key, int dflt, int *out,
		      struct ada_err *err)
{
	json_t *v = hf_member(root, key);

	if (!v) {
		*out = dflt;
		return ADA_OK;
	}
	if (!json_is_integer(v) || json_integer_value(v) < INT_MIN / 2 ||
	    json_integer_value(v) > INT_MAX / 2)
		return ada_fail_param(err, ADA_EFORMAT, key, "%s: '%s' must be an integer", path, key);
	*out = (int)json_integer_value(v);
	return ADA_OK;
}

/* A string member that must be one of names (absent: names[0]); its index. */
static int get_choice(const char *path, json_t *root, const char *key,
		      const char *const *names, int n, const char *what, int *out,
		      struct ada_err *err)
{
	json_t *v = hf_member(root, key);

	*out = 0;
	if (!v)
		return ADA_OK;
	for (int i = 0; json_is_string(v) && i < n; i++)
		if (!strcmp(json_string_value(v), names[i])) {
			*out = i;
			return ADA_OK;
		}
	return ada_fail_param(err, ADA_EUNSUPPORTED, key, "%s: %s '%s' is not supported (%s)", path,
			      key, json_is_string(v) ? json_string_value(v) : "?", what);
}

/* One entry of pos_att_type or norm_rel_ebd, trimmed and lower-cased as
 * transformers does ("p2c|c2p", " layer_norm"). */
static void normalise(const char *s, size_t n, char *buf, size_t cap)
{
	size_t k = 0;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n && k + 1 < cap; i++)
		buf[k++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	buf[k] = 0;
}

/* pos_att_type: a list ["p2c", "c2p"] or a string "p2c|c2p"; null: none. */
static int parse_pos_att(const char *path, json_t *root, int *bits, struct ada_err *err)
{
	json_t *v = hf_member(root, "pos_att_type"), *it;
	const char *s;
	char one[16];
	size_t i;

	*bits = 0;
	if (!v)
		return ADA_OK;
	if (json_is_string(v)) {
		for (s = json_string_value(v); ; ) {
			const char *bar = strchr(s, '|');
			size_t n = bar ? (size_t)(bar - s) : strlen(s);

			normalise(s, n, one, sizeof(one));
			if (!strcmp(one, "c2p") || !strcmp(one, "p2c"))
				*bits |= !strcmp(one, "c2p") ? DEBERTA_C2P : DEBERTA_P2C;
			else if (one[0])
				goto out_bad;
			if (!bar)
				return ADA_OK;
			s = bar + 1;
		}
	}
	if (!json_is_array(v))
		goto out_bad_type;
	json_array_foreach(v, i, it) {
		if (!json_is_string(it))
			goto out_bad_type;
		normalise(json_string_value(it), strlen(json_string_value(it)), one, sizeof(one));
		if (strcmp(one, "c2p") && strcmp(one, "p2c"))
			goto out_bad;
		*bits |= !strcmp(one, "c2p") ? DEBERTA_C2P : DEBERTA_P2C;
	}
	return ADA_OK;
out_bad:
	return ada_fail_param(err, ADA_EUNSUPPORTED, "pos_att_type",
			      "%s: pos_att_type '%s' is not supported (c2p, p2c)", path, one);
out_bad_type:
	return ada_fail_param(err, ADA_EFORMAT, "pos_att_type",
			      "%s: pos_att_type must be a list of strings or a string like \"p2c|c2p\"",
			      path);
}

/* norm_rel_ebd: "none", "layer_norm" or both joined by "|". */
static int parse_norm_rel(const char *path, json_t *root, int *ln, struct ada_err *err)
{
	json_t *v = hf_member(root, "norm_rel_ebd");
	const char *s;
	char one[32];

	*ln = 0;
	if (!v)
		return ADA_OK;
	if (!json_is_string(v))
		return ada_fail_param(err, ADA_EFORMAT, "norm_rel_ebd",
				      "%s: norm_rel_ebd must be a string", path);
	for (s = json_string_value(v); ; ) {
		const char *bar = strchr(s, '|');
		size_t n = bar ? (size_t)(bar - s) : strlen(s);

		normalise(s, n, one, sizeof(one));
		if (!strcmp(one, "layer_norm"))
			*ln = 1;
		else if (strcmp(one, "none"))
			return ada_fail_param(err, ADA_EUNSUPPORTED, "norm_rel_ebd",
					      "%s: norm_rel_ebd '%s' is not supported (none, layer_norm)",
					      path, one);
		if (!bar)
			return ADA_OK;
		s = bar + 1;
	}
}

/* What the forward pass does not compute, refused by name. */
static int refuse_unsupported(const char *path, json_t *root, const struct model_config *cfg,
			      struct ada_err *err)
{
	static const char *const gelu[] = { "gelu" };
	int v, rc, act;

	if ((rc = get_choice(path, root, "hidden_act", gelu, 1,
			     "only 'gelu', the exact erf GELU", &act, err)))
		return rc;
	if ((rc = hf_get_int(path, root, "embedding_size", cfg->dim, &v, err)))
		return rc;
	if (v != cfg->dim)
		return ada_fail_param(err, ADA_EUNSUPPORTED, "embedding_size",
				      "%s: embedding_size %d != hidden_size %d (an embed_proj projection) is not supported",
				      path, v, cfg->dim);
	if ((rc = get_signed(path, root, "conv_kernel_size", 0, &v, err)))
		return rc;
	if (v > 0)
		return ada_fail_param(err, ADA_EUNSUPPORTED, "conv_kernel_size",
				      "%s: conv_kernel_size %d (the first layer's convolution) is not supported",
				      path, v);
	if ((rc = hf_get_int(path, root, "attention_head_size", cfg->head_dim, &v, err)))
		return rc;
	if (v != cfg->head_dim)
		return ada_fail_param(err, ADA_EUNSUPPORTED, "attention_head_size",
				      "%s: attention_head_size %d != hidden_size / num_attention_heads (%d) is not supported",
				      path, v, cfg->head_dim);
	if ((rc = hf_get_int(path, root, "pooler_hidden_size", cfg->dim, &v, err)))
		return rc;
	if (v != cfg->dim)
		return ada_fail_param(err, ADA_EUNSUPPORTED, "pooler_hidden_size",
				      "%s: pooler_hidden_size %d != hidden_size %d is not supported (transformers' ContextPooler needs them equal)",
				      path, v, cfg->dim);
	if (hf_member(root, "quantization_config"))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "quantization_config",
				      "%s: quantized checkpoints are not supported", path);
	return ADA_OK;
}

int deberta_parse_config(const char *path, json_t *root, struct model_config *cfg,
			 struct ada_err *err)
{
	static const char *const pooler_acts[] = { "gelu", "tanh" };
	struct deberta_config *db = &cfg->deberta;
	int rc, act, rel_max, buckets;

	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_BERT;
	snprintf(cfg->arch, sizeof(cfg->arch), "deberta-v2");
	if ((rc = hf_get_int(path, root, "hidden_size", -1, &cfg->dim, err)) ||
	    (rc = hf_get_int(path, root, "intermediate_size", -1, &cfg->hidden_dim, err)) ||
	    (rc = hf_get_int(path, root, "num_hidden_layers", -1, &cfg->n_layers, err)) ||
	    (rc = hf_get_int(path, root, "num_attention_heads", -1, &cfg->n_heads, err)) ||
	    (rc = hf_get_int(path, root, "vocab_size", -1, &cfg->vocab_size, err)) ||
	    (rc = hf_get_int(path, root, "max_position_embeddings", 512, &cfg->max_positions, err)) ||
	    (rc = hf_get_int(path, root, "type_vocab_size", 0, &cfg->type_vocab_size, err)) ||
	    (rc = hf_get_int(path, root, "pad_token_id", 0, &cfg->pad_token_id, err)) ||
	    (rc = hf_get_float(path, root, "layer_norm_eps", 1e-7, &cfg->norm_eps, err)))
		return rc;
	if (cfg->n_heads <= 0 || cfg->dim % cfg->n_heads)
		return ada_fail_param(err, ADA_EFORMAT, "num_attention_heads",
				      "%s: hidden_size (%d) is not a multiple of num_attention_heads (%d)",
				      path, cfg->dim, cfg->n_heads);
	cfg->n_kv_heads = cfg->n_heads;
	cfg->head_dim = cfg->dim / cfg->n_heads;
	if ((rc = refuse_unsupported(path, root, cfg, err)) ||
	    (rc = hf_get_bool(path, root, "relative_attention", 0, &db->relative_attention, err)) ||
	    (rc = hf_get_bool(path, root, "position_biased_input", 1, &db->position_biased_input,
			      err)) ||
	    (rc = hf_get_bool(path, root, "share_att_key", 0, &db->share_att_key, err)) ||
	    (rc = get_signed(path, root, "max_relative_positions", -1, &rel_max, err)) ||
	    (rc = get_signed(path, root, "position_buckets", -1, &buckets, err)) ||
	    (rc = parse_pos_att(path, root, &db->pos_att, err)) ||
	    (rc = parse_norm_rel(path, root, &db->norm_rel_ebd, err)) ||
	    (rc = get_choice(path, root, "pooler_hidden_act", pooler_acts, 2, "gelu, tanh", &act,
			     err)))
		return rc;
	db->pooler_act = act ? HEAD_ACT_TANH : HEAD_ACT_GELU;
	/* The encoder and the attention resolve them alike. */
	db->max_relative_positions = rel_max < 1 ? cfg->max_positions : rel_max;
	db->position_buckets = buckets > 0 ? buckets : 0;
	db->att_span = db->position_buckets ? db->position_buckets : db->max_relative_positions;
	if (!db->relative_attention) {
		/* transformers builds no table then, and no position terms; the
		 * pos_att_type entries still count in the scale factor. */
		db->norm_rel_ebd = 0;
		db->share_att_key = 0;
	}
	if (db->relative_attention && db->position_buckets && db->position_buckets < 2)
		return ada_fail_param(err, ADA_EFORMAT, "position_buckets",
				      "%s: position_buckets (%d) must be at least 2", path,
				      db->position_buckets);
	/* make_log_bucket_position divides by log((max - 1) / (buckets / 2)) */
	if (db->relative_attention && db->position_buckets &&
	    db->max_relative_positions - 1 <= db->position_buckets / 2)
		return ada_fail_param(err, ADA_EFORMAT, "max_relative_positions",
				      "%s: max_relative_positions (%d) must exceed position_buckets / 2 + 1 (%d) for the log buckets",
				      path, db->max_relative_positions, db->position_buckets / 2 + 1);
	if (db->relative_attention && (db->att_span < 1 || db->att_span > (1 << 20)))
		return ada_fail_param(err, ADA_EFORMAT, "max_relative_positions",
				      "%s: the relative position table (%d rows each way) is out of range",
				      path, db->att_span);
	/* No absolute positions limit the length, but the checkpoint was
	 * trained (and its tokenizer truncates) to max_position_embeddings. */
	cfg->context_length = cfg->max_positions;
	return model_config_check(cfg, path, err);
}
