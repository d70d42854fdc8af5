/*
 * model_random_bert — BERT-family encoders with random weights, for the
 * benchmarks: the shapes of real checkpoints (bert-base-uncased,
 * microsoft/deberta-v3-base, from their config.json) without downloading
 * them.
 *
 * Weights ~ N(0, 0.02^2) (transformers' initializer_range), LayerNorm
 * weights 1 and biases 0, linear biases 0, as a freshly initialised
 * ...PreTrainedModel; one owned allocation holds them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"
#include "model/model.h"

int encoder_shape_config(const char *name, struct model_config *cfg)
{
	const int deberta = !strcmp(name, "deberta-v3-base");

	if (!deberta && strcmp(name, "bert-base"))
		return ADA_EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->family = ADA_FAMILY_BERT;
	cfg->dim = 768;
	cfg->hidden_dim = 3072;
	cfg->n_layers = 12;
	cfg->n_heads = cfg->n_kv_heads = 12;
	cfg->head_dim = 64;
	cfg->max_positions = cfg->context_length = 512;
	if (!deberta) {   /* bert-base-uncased */
		snprintf(cfg->arch, sizeof(cfg->arch), "bert");
		cfg->vocab_size = 30522;
		cfg->type_vocab_size = 2;
		cfg->norm_eps = 1e-12f;
		cfg->has_pooler = 1;
		return ADA_OK;
	}
	/* microsoft/deberta-v3-base */
	snprintf(cfg->arch, sizeof(cfg->arch), "deberta-v2");
	cfg->vocab_size = 128100;
	cfg->type_vocab_size = 0;
	cfg->norm_eps = 1e-7f;
	cfg->deberta = (struct deberta_config){
		.relative_attention = 1, .pos_att = DEBERTA_C2P | DEBERTA_P2C,
		.position_buckets = 256, .max_relative_positions = 512, .att_span = 256,
		.share_att_key = 1, .norm_rel_ebd = 1, .position_biased_input = 0,
		.pooler_act = HEAD_ACT_GELU,
	};
	return ADA_OK;
}

int model_random_bert(const struct model_config *cfg, uint64_t seed, struct model **out,
		      struct ada_err *err)
{
	const struct deberta_config *db = &cfg->deberta;
	const size_t D = (size_t)cfg->dim, F = (size_t)cfg->hidden_dim, L = (size_t)cfg->n_layers;
	const int rel = model_is_deberta(cfg) && db->relative_attention;
	const int proj = rel && !db->share_att_key ?
			 ((db->pos_att & DEBERTA_C2P) != 0) + ((db->pos_att & DEBERTA_P2C) != 0) : 0;
	size_t total, per_layer;
	struct bert_weights *w;
	struct model *m;
	float *p, *mem;
	struct rng rng;
	int rc;

	*out = NULL;
	if (cfg->family != ADA_FAMILY_BERT)
		return ada_fail(err, ADA_EINVAL, "a random encoder needs a BERT-family config");
	if ((rc = model_config_check(cfg, "random encoder", err)))
		return rc;
	per_layer = 4 * (D * D + D) + 2 * F * D + F + D + 4 * D + (size_t)proj * (D * D + D);
	total = (size_t)cfg->vocab_size * D + (bert_has_pos_emb(cfg) ? (size_t)cfg->max_positions * D : 0) +
		(size_t)cfg->type_vocab_size * D + 2 * D + L * per_layer +
		(cfg->has_pooler ? D * D + D : 0) + (rel ? 2 * (size_t)db->att_span * D + 2 * D : 0);
	m = calloc(1, sizeof(*m));
	if (!m)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	m->cfg = *cfg;
	strcpy(m->format, "random");
	m->path = strdup("(random)");
	w = m->bert = calloc(1, sizeof(*m->bert));
	m->owned = calloc(1, sizeof(*m->owned));
	mem = xalloc_aligned(total, sizeof(float));
	if (!m->path || !w || !m->owned || !mem ||
	    !(w->layers = calloc(L, sizeof(*w->layers)))) {
		free(mem);
		model_free(m);
		return ada_fail(err, ADA_ENOMEM, "out of memory for a random encoder of %zu weights",
				total);
	}
	m->owned[m->n_owned++] = mem;
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

	TAKE(w->word_emb, (size_t)cfg->vocab_size * D, -1);
	if (bert_has_pos_emb(cfg))
		TAKE(w->pos_emb, (size_t)cfg->max_positions * D, -1);
	if (cfg->type_vocab_size > 0)
		TAKE(w->type_emb, (size_t)cfg->type_vocab_size * D, -1);
	TAKE(w->emb_ln_w, D, 1);
	TAKE(w->emb_ln_b, D, 0);
	if (rel) {
		TAKE(w->rel_emb, 2 * (size_t)db->att_span * D, -1);
		TAKE(w->rel_ln_w, D, 1);
		TAKE(w->rel_ln_b, D, 0);
		if (!db->norm_rel_ebd)
			w->rel_ln_w = w->rel_ln_b = NULL;
	}
	for (size_t l = 0; l < L; l++) {
		struct bert_layer *ly = &w->layers[l];

		for (int k = 0; k < N_BERT_MODULES; k++) {
			int o, in;
			model_module_shape(cfg, k, &o, &in);
			TAKE_MAT(ly->w[k], o, in);
			TAKE(ly->b[k], o, 0);
		}
		if (proj && (db->pos_att & DEBERTA_C2P)) {
			TAKE_MAT(ly->pos_key, D, D);
			TAKE(ly->pos_key_b, D, 0);
		}
		if (proj && (db->pos_att & DEBERTA_P2C)) {
			TAKE_MAT(ly->pos_query, D, D);
			TAKE(ly->pos_query_b, D, 0);
		}
		TAKE(ly->ln_attn_w, D, 1);
		TAKE(ly->ln_attn_b, D, 0);
		TAKE(ly->ln_out_w, D, 1);
		TAKE(ly->ln_out_b, D, 0);
	}
	if (cfg->has_pooler) {
		TAKE(w->pooler_w, D * D, -1);
		TAKE(w->pooler_b, D, 0);
	}
#undef TAKE
#undef TAKE_MAT
	m->tok_emb = frozen_mat_of_f32(w->word_emb, cfg->vocab_size, cfg->dim);
	*out = m;
	return ADA_OK;
}
