/*
 * model_bart_random — BART models with random weights, at the shapes of
 * the published checkpoints, for benchmarks (`adalora bench --shape
 * bart-base`): weights ~ N(0, 0.02^2) (BART's init_std), LayerNorms 1 and
 * 0, biases 0, one owned allocation. The shapes are facebook/bart-base's
 * and facebook/bart-large's config.json (d_model, encoder/decoder layers,
 * heads, FFN width, vocab_size, max_position_embeddings; tied, unscaled
 * embeddings).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"
#include "model/model.h"

int model_bart_shape_config(const char *name, struct model_config *cfg)
{
	static const struct {
		const char *name;
		int dim, layers, heads, hidden;
	} shapes[] = {
		{ "bart-base", 768, 6, 12, 3072 },
		{ "bart-large", 1024, 12, 16, 4096 },
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		if (strcmp(name, shapes[i].name))
			continue;
		memset(cfg, 0, sizeof(*cfg));
		cfg->family = ADA_FAMILY_BART;
		snprintf(cfg->arch, sizeof(cfg->arch), "bart");
		cfg->dim = shapes[i].dim;
		cfg->hidden_dim = shapes[i].hidden;
		cfg->n_layers = 2 * shapes[i].layers;
		cfg->n_dec_layers = shapes[i].layers;
		cfg->n_heads = cfg->n_kv_heads = shapes[i].heads;
		cfg->head_dim = shapes[i].dim / shapes[i].heads;
		cfg->vocab_size = 50265;
		cfg->context_length = 1024;
		cfg->position_offset = 2;
		cfg->max_positions = 1026;
		cfg->pad_token_id = 1;
		cfg->bos_token_id = 0;
		cfg->eos_token_id = 2;
		cfg->decoder_start_token_id = 2;
		cfg->forced_bos_token_id = -1;
		cfg->embed_scale = 1;
		cfg->norm_eps = 1e-5f;
		cfg->tied_output = 1;
		return ADA_OK;
	}
	return ADA_EINVAL;
}

int model_bart_random(const struct model_config *cfg, uint64_t seed, struct model **out,
		      struct ada_err *err)
{
	const size_t D = (size_t)cfg->dim, V = (size_t)cfg->vocab_size;
	size_t total = V * D + 2 * (size_t)cfg->max_positions * D + 4 * D + V;
	struct bart_weights *w;
	struct model *m;
	struct rng rng;
	float *p, *mem;
	int rc;

	*out = NULL;
	if (cfg->family != ADA_FAMILY_BART)
		return ada_fail(err, ADA_EINVAL, "not a BART configuration");
	if ((rc = model_config_check(cfg, "random model", err)))
		return rc;
	for (int l = 0; l < cfg->n_layers; l++)
		for (int k = 0; k < N_BART_MODULES; k++) {
			int o, in;
			if (!model_layer_has_module(cfg, l, k))
				continue;
			model_module_shape(cfg, k, &o, &in);
			total += (size_t)o * (size_t)in + (size_t)o;
		}
	total += 6 * D * (size_t)cfg->n_layers;   /* LayerNorms (an encoder layer uses 4) */
	if (!cfg->tied_output)
		total += V * D;
	m = calloc(1, sizeof(*m));
	if (!m)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	m->cfg = *cfg;
	strcpy(m->format, "random");
	m->path = strdup("(random)");
	m->bart = xcalloc(1, sizeof(*m->bart));
	m->owned = calloc(1, sizeof(*m->owned));
	mem = xalloc_aligned(total, sizeof(float));
	if (!m->path || !m->bart || !m->owned || !mem ||
	    !(m->bart->layers = xcalloc((size_t)cfg->n_layers, sizeof(*m->bart->layers)))) {
		free(mem);
		model_free(m);
		return ada_fail(err, ADA_ENOMEM, "out of memory for a random model of %zu weights",
				total);
	}
	m->owned[m->n_owned++] = mem;
	w = m->bart;
	rng_seed(&rng, seed);
	p = mem;

#define TAKE(ptr, n, value) do { \
	(ptr) = p; \
	for (size_t _i = 0; _i < (size_t)(n); _i++) \
		p[_i] = (value) < 0 ? (float)(0.02 * rng_normal(&rng)) : (float)(value); \
	p += (n); \
} while (0)
#define TAKE_MAT(fm, rows, cols) do { \
	const float *_p; \
	TAKE(_p, (size_t)(rows) * (size_t)(cols), -1); \
	(fm) = frozen_mat_of_f32(_p, (int)(rows), (int)(cols)); \
} while (0)

	TAKE_MAT(m->tok_emb, V, D);
	TAKE(w->enc_pos, (size_t)cfg->max_positions * D, -1);
	TAKE(w->dec_pos, (size_t)cfg->max_positions * D, -1);
	TAKE(w->enc_ln_emb_w, D, 1);
	TAKE(w->enc_ln_emb_b, D, 0);
	TAKE(w->dec_ln_emb_w, D, 1);
	TAKE(w->dec_ln_emb_b, D, 0);
	for (int l = 0; l < cfg->n_layers; l++) {
		struct bart_layer *ly = &w->layers[l];

		for (int k = 0; k < N_BART_MODULES; k++) {
			int o, in;
			if (!model_layer_has_module(cfg, l, k))
				continue;
			model_module_shape(cfg, k, &o, &in);
			TAKE_MAT(ly->w[k], o, in);
			TAKE(ly->b[k], o, 0);
		}
		TAKE(ly->ln_self_w, D, 1);
		TAKE(ly->ln_self_b, D, 0);
		if (model_is_decoder_layer(cfg, l)) {
			TAKE(ly->ln_cross_w, D, 1);
			TAKE(ly->ln_cross_b, D, 0);
		}
		TAKE(ly->ln_ffn_w, D, 1);
		TAKE(ly->ln_ffn_b, D, 0);
	}
	TAKE(w->final_logits_bias, V, 0);
	if (cfg->tied_output)
		m->output = m->tok_emb;
	else
		TAKE_MAT(m->output, V, D);
#undef TAKE
#undef TAKE_MAT
	*out = m;
	return ADA_OK;
}
