/* tiny_bart — random tiny BARTs and their Hugging Face writer; see tiny_bart.h. */
#include "tiny_bart.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_loader.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/half.h"
#include "util/rng.h"

void tiny_bart_config(struct model_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_BART;
	snprintf(cfg->arch, sizeof(cfg->arch), "bart");
	cfg->dim = 32;
	cfg->hidden_dim = 64;
	cfg->n_layers = 4;
	cfg->n_dec_layers = 2;
	cfg->n_heads = cfg->n_kv_heads = 4;
	cfg->head_dim = 8;
	cfg->vocab_size = TINY_BART_VOCAB;
	cfg->context_length = 64;
	cfg->position_offset = 2;
	cfg->max_positions = cfg->context_length + 2;
	cfg->pad_token_id = 1;
	cfg->bos_token_id = 0;
	cfg->eos_token_id = 2;
	cfg->decoder_start_token_id = 2;
	cfg->forced_bos_token_id = -1;
	cfg->embed_scale = 1.0f;
	cfg->norm_eps = 1e-5f;
	cfg->tied_output = 1;
}

static int random_tensor(struct model *m, struct rng *r, size_t n, double mean, double scale,
			 const float **out)
{
	float *p;
	int rc = model_alloc_weights(m, n, &p, NULL);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(mean + scale * rng_normal(r));
	*out = p;
	return ADA_OK;
}

static int random_mat(struct model *m, struct rng *r, size_t rows, size_t cols, double scale,
		      struct frozen_mat *out)
{
	const float *p = NULL;
	int rc = random_tensor(m, r, rows * cols, 0, scale, &p);

	*out = frozen_mat_of_f32(p, (int)rows, (int)cols);
	return rc;
}

static int random_ln(struct model *m, struct rng *r, size_t dim, const float **w, const float **b)
{
	int rc = random_tensor(m, r, dim, 1, 0.1, w);

	return rc ? rc : random_tensor(m, r, dim, 0, 0.1, b);
}

int tiny_bart_random(const struct model_config *cfg, uint64_t seed, struct model **out)
{
	struct model *m = calloc(1, sizeof(*m));
	const size_t dim = (size_t)cfg->dim, V = (size_t)cfg->vocab_size;
	const size_t P = (size_t)cfg->max_positions;
	struct bart_weights *w;
	struct rng r;
	int rc;

	*out = NULL;
	if (!m)
		return ADA_ENOMEM;
	m->cfg = *cfg;
	snprintf(m->format, sizeof(m->format), "random");
	m->path = strdup("random");
	w = m->bart = calloc(1, sizeof(*m->bart));
	if (!m->path || !w || !(w->layers = calloc((size_t)cfg->n_layers, sizeof(*w->layers)))) {
		model_free(m);
		return ADA_ENOMEM;
	}
	rng_seed(&r, seed);
	if ((rc = random_mat(m, &r, V, dim, 0.5, &m->tok_emb)) ||
	    (rc = random_tensor(m, &r, P * dim, 0, 0.5, &w->enc_pos)) ||
	    (rc = random_tensor(m, &r, P * dim, 0, 0.5, &w->dec_pos)) ||
	    (rc = random_ln(m, &r, dim, &w->enc_ln_emb_w, &w->enc_ln_emb_b)) ||
	    (rc = random_ln(m, &r, dim, &w->dec_ln_emb_w, &w->dec_ln_emb_b)))
		goto out;
	for (int l = 0; l < cfg->n_layers; l++) {
		struct bart_layer *ly = &w->layers[l];

		for (int k = 0; k < N_BART_MODULES; k++) {
			int o, in;

			if (!model_layer_has_module(cfg, l, k))
				continue;
			model_module_shape(cfg, k, &o, &in);
			if ((rc = random_mat(m, &r, (size_t)o, (size_t)in, 0.2, &ly->w[k])) ||
			    (rc = random_tensor(m, &r, (size_t)o, 0, 0.1, &ly->b[k])))
				goto out;
		}
		if ((rc = random_ln(m, &r, dim, &ly->ln_self_w, &ly->ln_self_b)) ||
		    (model_is_decoder_layer(cfg, l) &&
		     (rc = random_ln(m, &r, dim, &ly->ln_cross_w, &ly->ln_cross_b))) ||
		    (rc = random_ln(m, &r, dim, &ly->ln_ffn_w, &ly->ln_ffn_b)))
			goto out;
	}
	if ((rc = random_tensor(m, &r, V, 0, 0.1, &w->final_logits_bias)))
		goto out;
	if (cfg->tied_output)
		m->output = m->tok_emb;
	else
		rc = random_mat(m, &r, V, dim, 0.5, &m->output);
out:
	if (rc) {
		model_free(m);
		return rc;
	}
	*out = m;
	return ADA_OK;
}

/* ---- the tensor list ---------------------------------------------------- */

struct bt {
	char name[128];
	const float *data;
	uint64_t rows, cols;        /* rows 0: a vector */
};

static size_t bart_max_tensors(const struct model *m)
{
	return 16 + 30 * (size_t)m->cfg.n_layers;
}

static void put(struct bt *t, size_t *n, const float *data, uint64_t rows, uint64_t cols,
		const char *prefix, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void put(struct bt *t, size_t *n, const float *data, uint64_t rows, uint64_t cols,
		const char *prefix, const char *fmt, ...)
{
	size_t k = (size_t)snprintf(t[*n].name, sizeof(t[*n].name), "%s", prefix);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t[*n].name + k, sizeof(t[*n].name) - k, fmt, ap);
	va_end(ap);
	t[*n].data = data;
	t[*n].rows = rows;
	t[*n].cols = cols;
	(*n)++;
}

static size_t bart_list(const struct model *m, const struct tiny_bart_opts *o, struct bt *t)
{
	const struct model_config *c = &m->cfg;
	const struct bart_weights *w = m->bart;
	const uint64_t D = (uint64_t)c->dim, V = (uint64_t)c->vocab_size;
	const uint64_t P = (uint64_t)c->max_positions;
	const char *pre = o && o->bare ? "" : "model.";
	size_t n = 0;

	put(t, &n, (const float *)m->tok_emb.data, V, D, pre, "%s",
	    o && o->embed_tokens_name ? "encoder.embed_tokens.weight" : "shared.weight");
	put(t, &n, w->enc_pos, P, D, pre, "encoder.embed_positions.weight");
	put(t, &n, w->dec_pos, P, D, pre, "decoder.embed_positions.weight");
	put(t, &n, w->enc_ln_emb_w, 0, D, pre, "encoder.layernorm_embedding.weight");
	put(t, &n, w->enc_ln_emb_b, 0, D, pre, "encoder.layernorm_embedding.bias");
	put(t, &n, w->dec_ln_emb_w, 0, D, pre, "decoder.layernorm_embedding.weight");
	put(t, &n, w->dec_ln_emb_b, 0, D, pre, "decoder.layernorm_embedding.bias");
	for (int l = 0; l < c->n_layers; l++) {
		const struct bart_layer *ly = &w->layers[l];
		char base[64];

		snprintf(base, sizeof(base), "%s.layers.%d",
			 model_is_decoder_layer(c, l) ? "decoder" : "encoder", model_stack_layer(c, l));
		for (int k = 0; k < N_BART_MODULES; k++) {
			int out, in;

			if (!model_layer_has_module(c, l, k))
				continue;
			model_module_shape(c, k, &out, &in);
			put(t, &n, (const float *)ly->w[k].data, (uint64_t)out, (uint64_t)in, pre,
			    "%s.%s.weight", base, model_module_name(c, k));
			put(t, &n, ly->b[k], 0, (uint64_t)out, pre, "%s.%s.bias", base,
			    model_module_name(c, k));
		}
		put(t, &n, ly->ln_self_w, 0, D, pre, "%s.self_attn_layer_norm.weight", base);
		put(t, &n, ly->ln_self_b, 0, D, pre, "%s.self_attn_layer_norm.bias", base);
		if (model_is_decoder_layer(c, l)) {
			put(t, &n, ly->ln_cross_w, 0, D, pre, "%s.encoder_attn_layer_norm.weight", base);
			put(t, &n, ly->ln_cross_b, 0, D, pre, "%s.encoder_attn_layer_norm.bias", base);
		}
		put(t, &n, ly->ln_ffn_w, 0, D, pre, "%s.final_layer_norm.weight", base);
		put(t, &n, ly->ln_ffn_b, 0, D, pre, "%s.final_layer_norm.bias", base);
	}
	if (!(o && o->bare))
		put(t, &n, w->final_logits_bias, 1, V, "", "final_logits_bias");
	if (!c->tied_output)
		put(t, &n, (const float *)m->output.data, V, D, "", "lm_head.weight");
	return n;
}

void tiny_bart_round(struct model *m, enum st_dtype dtype)
{
	struct bt *t = calloc(bart_max_tensors(m), sizeof(*t));
	size_t n;

	if (!t)
		abort();
	n = bart_list(m, NULL, t);
	for (size_t i = 0; i < n; i++) {
		float *p = (float *)t[i].data;
		uint64_t count = (t[i].rows ? t[i].rows : 1) * t[i].cols;
		for (uint64_t j = 0; j < count; j++)
			p[j] = dtype == ST_BF16 ? bf16_to_f32(f32_to_bf16(p[j]))
						: f16_to_f32(f32_to_f16(p[j]));
	}
	free(t);
}

/* ---- files -------------------------------------------------------------- */

static int write_json(json_t *j, const char *dir, const char *name, struct ada_err *err)
{
	char *path = path_join(dir, name);
	char *text = json_dumps(j, JSON_INDENT(2));
	int rc;

	if (!path || !text)
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	else
		rc = file_write_atomic(path, text, strlen(text), err);
	free(path);
	free(text);
	return rc;
}

static json_t *config_json(const struct model_config *c, const struct tiny_bart_opts *o)
{
	const int enc = c->n_layers - c->n_dec_layers;
	json_t *j = json_object();

	json_object_set_new(j, "architectures", json_pack("[s]", o && o->bare ? "BartModel" :
							  "BartForConditionalGeneration"));
	json_object_set_new(j, "model_type", json_string("bart"));
	json_object_set_new(j, "d_model", json_integer(c->dim));
	json_object_set_new(j, "encoder_layers", json_integer(enc));
	json_object_set_new(j, "decoder_layers", json_integer(c->n_dec_layers));
	json_object_set_new(j, "encoder_attention_heads", json_integer(c->n_heads));
	json_object_set_new(j, "decoder_attention_heads", json_integer(c->n_heads));
	json_object_set_new(j, "encoder_ffn_dim", json_integer(c->hidden_dim));
	json_object_set_new(j, "decoder_ffn_dim", json_integer(c->hidden_dim));
	json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
	json_object_set_new(j, "max_position_embeddings", json_integer(c->context_length));
	json_object_set_new(j, "activation_function", json_string("gelu"));
	json_object_set_new(j, "scale_embedding", json_boolean(c->embed_scale != 1.0f));
	json_object_set_new(j, "pad_token_id", json_integer(c->pad_token_id));
	json_object_set_new(j, "bos_token_id", json_integer(c->bos_token_id));
	json_object_set_new(j, "eos_token_id", json_integer(c->eos_token_id));
	json_object_set_new(j, "decoder_start_token_id", json_integer(c->decoder_start_token_id));
	json_object_set_new(j, "forced_eos_token_id", json_integer(c->eos_token_id));
	if (c->forced_bos_token_id >= 0)
		json_object_set_new(j, "forced_bos_token_id", json_integer(c->forced_bos_token_id));
	json_object_set_new(j, "is_encoder_decoder", json_true());
	json_object_set_new(j, "tie_word_embeddings", json_boolean(c->tied_output));
	json_object_set_new(j, "dropout", json_real(0.1));
	json_object_set_new(j, "attention_dropout", json_real(0.0));
	json_object_set_new(j, "activation_dropout", json_real(0.0));
	json_object_set_new(j, "encoder_layerdrop", json_real(0.0));
	json_object_set_new(j, "decoder_layerdrop", json_real(0.0));
	json_object_set_new(j, "init_std", json_real(0.02));
	json_object_set_new(j, "normalize_before", json_false());
	json_object_set_new(j, "add_final_layer_norm", json_false());
	json_object_set_new(j, "use_cache", json_true());
	if (o && o->config_extra)
		json_object_update(j, o->config_extra);
	return j;
}

int tiny_write_bart_hf(const struct model *m, const char *dir, const struct tiny_bart_opts *opts,
		       struct ada_err *err)
{
	struct bt *t = calloc(bart_max_tensors(m), sizeof(*t));
	struct safetensors_writer *w = NULL;
	const enum st_dtype dtype = opts ? opts->dtype : ST_F32;
	char *path = path_join(dir, "model.safetensors");
	json_t *config;
	size_t n;
	int rc;

	if (!t || !path) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	n = bart_list(m, opts, t);
	if ((rc = mkdir_p(dir, 0755, err)))
		goto out_free;
	config = config_json(&m->cfg, opts);
	rc = write_json(config, dir, "config.json", err);
	json_decref(config);
	if (!rc)
		rc = safetensors_writer_new(&w, err);
	if (!rc)
		rc = safetensors_writer_set_metadata(w, "format", "pt", err);
	for (size_t i = 0; i < n && !rc; i++) {
		uint64_t shape[2] = { t[i].rows, t[i].cols };
		rc = t[i].rows ? safetensors_writer_add_tensor(w, t[i].name, 2, shape, t[i].data,
							       dtype, err)
			       : safetensors_writer_add_tensor(w, t[i].name, 1, &t[i].cols,
							       t[i].data, dtype, err);
	}
	if (!rc)
		rc = safetensors_writer_write(w, path, err);
	if (!rc && !(opts && opts->no_tokenizer))
		rc = tiny_write_bart_tokenizer(dir, err);
out_free:
	safetensors_writer_free(w);
	free(path);
	free(t);
	return rc;
}

int tiny_gpt2_byte_symbol(unsigned char b, char *buf)
{
	unsigned cp;

	/* bytes_to_unicode(): printable Latin-1 bytes stand for themselves,
	 * the others take 256, 257, ... in byte order */
	if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) {
		cp = b;
	} else {
		unsigned k = 0;
		for (unsigned x = 0; x < b; x++)
			k += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174);
		cp = 256 + k;
	}
	if (cp < 0x80) {
		buf[0] = (char)cp;
		return 1;
	}
	buf[0] = (char)(0xc0 | (cp >> 6));
	buf[1] = (char)(0x80 | (cp & 0x3f));
	return 2;
}

int tiny_write_bart_tokenizer(const char *dir, struct ada_err *err)
{
	static const char *const specials[] = { "<s>", "<pad>", "</s>", "<unk>" };
	json_t *vocab = json_object();
	char sym[8], space[8], *path = NULL, merges[26 * 16 + 32];
	size_t len = 0;
	int rc, sl = tiny_gpt2_byte_symbol(' ', space);

	space[sl] = 0;
	for (int i = 0; i < 4; i++)
		json_object_set_new(vocab, specials[i], json_integer(i));
	for (int b = 0; b < 256; b++) {
		sym[tiny_gpt2_byte_symbol((unsigned char)b, sym)] = 0;
		json_object_set_new(vocab, sym, json_integer(TINY_BART_BYTE(b)));
	}
	len = (size_t)snprintf(merges, sizeof(merges), "#version: 0.2\n");
	for (char c = 'a'; c <= 'z'; c++) {
		snprintf(sym, sizeof(sym), "%s%c", space, c);
		json_object_set_new(vocab, sym, json_integer(TINY_BART_SPACE_LETTER(c)));
		len += (size_t)snprintf(merges + len, sizeof(merges) - len, "%s %c\n", space, c);
	}
	json_object_set_new(vocab, "<mask>", json_integer(TINY_BART_MASK));
	rc = mkdir_p(dir, 0755, err);
	if (!rc)
		rc = write_json(vocab, dir, "vocab.json", err);
	if (!rc && !(path = path_join(dir, "merges.txt")))
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	if (!rc)
		rc = file_write_atomic(path, merges, len, err);
	free(path);
	json_decref(vocab);
	return rc;
}

int tiny_make_bart(const char *dir, uint64_t seed, struct ada_err *err)
{
	struct model_config cfg;
	struct model *m = NULL;
	int rc;

	tiny_bart_config(&cfg);
	if ((rc = tiny_bart_random(&cfg, seed, &m)))
		return ada_fail(err, rc, "out of memory");
	rc = tiny_write_bart_hf(m, dir, NULL, err);
	model_free(m);
	return rc;
}

int tiny_write_reverse(const char *path, int n, int min_len, int max_len, int letters,
		       uint64_t seed, int doc_names, struct ada_err *err)
{
	size_t cap = (size_t)n * (size_t)(4 * max_len + 48) + 1, len = 0;
	char *buf = malloc(cap), src[128], tgt[128];
	struct rng r;
	int rc;

	if (!buf || max_len > 60)
		return ada_fail(err, buf ? ADA_EINVAL : ADA_ENOMEM, "cannot write %d lines", n);
	rng_seed(&r, seed);
	for (int i = 0; i < n; i++) {
		const int k = min_len + (int)rng_below(&r, (uint64_t)(max_len - min_len + 1));
		char w[64];

		for (int j = 0; j < k; j++)
			w[j] = (char)('a' + rng_below(&r, (uint64_t)letters));
		for (int j = 0; j < k; j++) {
			src[2 * j] = w[j];
			src[2 * j + 1] = ' ';
			tgt[2 * j] = w[k - 1 - j];
			tgt[2 * j + 1] = ' ';
		}
		src[2 * k - 1] = tgt[2 * k - 1] = '\0';
		len += (size_t)snprintf(buf + len, cap - len, "{\"%s\": \"%s\", \"%s\": \"%s\"}\n",
					doc_names ? "document" : "source", src,
					doc_names ? "summary" : "target", tgt);
	}
	rc = file_write_atomic(path, buf, len, err);
	free(buf);
	return rc;
}
