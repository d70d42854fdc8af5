/*
 * model_random — a Llama model with random weights, for benchmarks, tests
 * and the offline demo (which needs a model without ../shared).
 *
 * Weights ~ N(0, 0.02^2), norms 1, as the PyTorch peer initialises its
 * benchmark model; one owned allocation holds them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"
#include "model/model.h"

int model_random(const struct model_config *cfg, uint64_t seed, struct model **out,
		 struct ada_err *err)
{
	const int L = cfg->n_layers, D = cfg->dim, F = cfg->hidden_dim, V = cfg->vocab_size;
	const size_t QD = (size_t)cfg->n_heads * cfg->head_dim;
	const size_t KD = (size_t)cfg->n_kv_heads * cfg->head_dim;
	size_t per_layer, total;
	struct model *m;
	float *p, *mem;
	struct rng rng;
	int rc;

	*out = NULL;
	if ((rc = model_config_check(cfg, "random model", err)))
		return rc;
	per_layer = 2 * (size_t)D + QD * D * 2 + KD * D * 2 + 3 * (size_t)F * D +
		    (cfg->qkv_bias ? QD + 2 * KD : 0);
	total = (size_t)V * D * (cfg->tied_output ? 1 : 2) + (size_t)D + per_layer * (size_t)L;
	m = calloc(1, sizeof(*m));
	if (!m)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	m->cfg = *cfg;
	strcpy(m->format, "random");
	m->path = strdup("(random)");
	m->layers = xcalloc((size_t)L, sizeof(*m->layers));
	m->owned = calloc(1, sizeof(*m->owned));
	mem = xalloc_aligned(total, sizeof(float));
	if (!m->path || !m->layers || !m->owned || !mem) {
		free(mem);
		model_free(m);
		return ada_fail(err, ADA_ENOMEM, "out of memory for a random model of %zu weights",
				total);
	}
	m->owned[m->n_owned++] = mem;
	rng_seed(&rng, seed);
	p = mem;

#define TAKE(ptr, n, is_norm) do { \
	(ptr) = p; \
	for (size_t _i = 0; _i < (size_t)(n); _i++) \
		p[_i] = (is_norm) ? 1.0f : (float)(0.02 * rng_normal(&rng)); \
	p += (n); \
} while (0)
#define TAKE_MAT(fm, rows, cols) do { \
	const float *_p; \
	TAKE(_p, (size_t)(rows) * (size_t)(cols), 0); \
	(fm) = frozen_mat_of_f32(_p, (int)(rows), (int)(cols)); \
} while (0)

	TAKE_MAT(m->tok_emb, V, D);
	for (int l = 0; l < L; l++) {
		struct model_layer *ly = &m->layers[l];
		TAKE(ly->attn_norm, D, 1);
		TAKE_MAT(ly->wq, QD, D);
		TAKE_MAT(ly->wk, KD, D);
		TAKE_MAT(ly->wv, KD, D);
		TAKE_MAT(ly->wo, D, QD);
		if (cfg->qkv_bias) {
			TAKE(ly->bq, QD, 0);
			TAKE(ly->bk, KD, 0);
			TAKE(ly->bv, KD, 0);
		}
		TAKE(ly->ffn_norm, D, 1);
		TAKE_MAT(ly->w_gate, F, D);
		TAKE_MAT(ly->w_up, F, D);
		TAKE_MAT(ly->w_down, D, F);
	}
	TAKE(m->final_norm, D, 1);
	if (cfg->tied_output)
		m->output = m->tok_emb;
	else
		TAKE_MAT(m->output, V, D);
#undef TAKE
#undef TAKE_MAT
	*out = m;
	return ADA_OK;
}

/* Named shapes: the llama2.c family (as ../shared/bench/torch_reference.py
 * names them, tied output) and real models people fine-tune, from each
 * one's Hugging Face config.json (hidden_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads, intermediate_size, vocab_size,
 * max_position_embeddings, rope_theta, rms_norm_eps, tie_word_embeddings):
 * HuggingFaceTB/SmolLM-135M, Qwen/Qwen2.5-0.5B (q/k/v biases),
 * TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T, meta-llama/Llama-2-7b-hf. */
int model_shape_config(const char *name, struct model_config *cfg)
{
	static const struct {
		const char *name, *arch;
		int dim, n_layers, n_heads, n_kv_heads, hidden, vocab, context;
		float rope_theta, norm_eps;
		int tied;
	} shapes[] = {
		{ "stories260K", "llama", 64, 5, 8, 4, 172, 512, 512, 10000, 1e-5f, 1 },
		{ "stories15M", "llama", 288, 6, 6, 6, 768, 32000, 256, 10000, 1e-5f, 1 },
		{ "stories42M", "llama", 512, 8, 8, 8, 1376, 32000, 1024, 10000, 1e-5f, 1 },
		{ "stories110M", "llama", 768, 12, 12, 12, 2048, 32000, 1024, 10000, 1e-5f, 1 },
		{ "smollm-135m", "llama", 576, 30, 9, 3, 1536, 49152, 2048, 10000, 1e-5f, 1 },
		{ "qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, 1000000, 1e-6f, 1 },
		{ "tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 32000, 2048, 10000, 1e-5f, 0 },
		{ "llama-2-7b", "llama", 4096, 32, 32, 32, 11008, 32000, 4096, 10000, 1e-5f, 0 },
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		if (strcmp(name, shapes[i].name))
			continue;
		memset(cfg, 0, sizeof(*cfg));
		cfg->family = ADA_FAMILY_LLAMA;
		snprintf(cfg->arch, sizeof(cfg->arch), "%s", shapes[i].arch);
		cfg->dim = shapes[i].dim;
		cfg->hidden_dim = shapes[i].hidden;
		cfg->n_layers = shapes[i].n_layers;
		cfg->n_heads = shapes[i].n_heads;
		cfg->n_kv_heads = shapes[i].n_kv_heads;
		cfg->head_dim = shapes[i].dim / shapes[i].n_heads;
		cfg->vocab_size = shapes[i].vocab;
		cfg->context_length = shapes[i].context;
		cfg->rope_theta = shapes[i].rope_theta;
		cfg->norm_eps = shapes[i].norm_eps;
		cfg->tied_output = shapes[i].tied;
		cfg->qkv_bias = !strcmp(shapes[i].arch, "qwen2");
		return ADA_OK;
	}
	return ADA_EINVAL;
}
