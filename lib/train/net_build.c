/* net_build — trainable network for a job; see net_build.h. */
#include "net_build.h"

#include "../infer/inference_net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/alloc.h"
#include "../util/err.h"
#include "../util/rng.h"

static int is_budgeted(const struct ada_method *m)
{
	return m->type == ADA_METHOD_ADALORA || m->type == ADA_METHOD_LORA_PRUNE;
}

static int adapter_rank(const struct ada_method *m)
{
	return is_budgeted(m) ? m->hp.init_r : m->hp.r;
}

static double adapter_scale(const struct ada_method *m)
{
	int r = adapter_rank(m);

	if (m->type == ADA_METHOD_ADALORA)   /* adalora.md s.1: fixed, init_r + 1e-5 */
		return m->hp.lora_alpha > 0 ? m->hp.lora_alpha / (r + 1e-5) : r / (r + 1e-5);
	return m->hp.lora_alpha / r;         /* PEFT LoRA: alpha / r */
}

/* Register the arena tensors of the method; fills tn->mods. */
static int register_tensors(struct trained_net *tn, struct ada_err *err)
{
	const struct model_config *c = &tn->model->cfg;
	const struct ada_method *m = &tn->method;
	struct param_arena *pa = &tn->arena;
	char name[200], path[128];
	int n = 0;

	if (m->type == ADA_METHOD_FULL) {
		/* Hugging Face names; norms and biases are not decayed. */
		if (param_arena_add(pa, "model.embed_tokens.weight", c->vocab_size, c->dim, 1) < 0)
			goto out_nomem;
		for (int l = 0; l < c->n_layers; l++) {
			snprintf(name, sizeof(name), "model.layers.%d.input_layernorm.weight", l);
			if (param_arena_add(pa, name, c->dim, 1, 0) < 0)
				goto out_nomem;
			for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
				int out, in;
				llama_module_shape(c, mod, &out, &in);
				llama_module_hf_path(l, mod, path, sizeof(path));
				snprintf(name, sizeof(name), "%s.weight", path);
				if (param_arena_add(pa, name, out, in, 1) < 0)
					goto out_nomem;
				if (c->qkv_bias && mod <= MOD_V) {
					snprintf(name, sizeof(name), "%s.bias", path);
					if (param_arena_add(pa, name, out, 1, 0) < 0)
						goto out_nomem;
				}
			}
			snprintf(name, sizeof(name), "model.layers.%d.post_attention_layernorm.weight", l);
			if (param_arena_add(pa, name, c->dim, 1, 0) < 0)
				goto out_nomem;
		}
		if (param_arena_add(pa, "model.norm.weight", c->dim, 1, 0) < 0)
			goto out_nomem;
		if (!c->tied_output &&
		    param_arena_add(pa, "lm_head.weight", c->vocab_size, c->dim, 1) < 0)
			goto out_nomem;
		return ADA_OK;
	}

	for (int l = 0; l < c->n_layers; l++)
		for (int mod = 0; mod < N_LLAMA_MODULES; mod++)
			n += (m->hp.target_modules >> mod) & 1;
	tn->mods = xcalloc((size_t)n, sizeof(*tn->mods));
	if (!tn->mods && n)
		goto out_nomem;
	for (int l = 0; l < c->n_layers; l++)
		for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
			struct adapted_module *am;
			int out, in, r = adapter_rank(m);
			int ada = m->type == ADA_METHOD_ADALORA;

			if (!((m->hp.target_modules >> mod) & 1))
				continue;
			am = &tn->mods[tn->n_mods++];
			am->layer = l;
			am->module = mod;
			am->init_r = r;
			llama_module_shape(c, mod, &out, &in);
			llama_module_hf_path(l, mod, path, sizeof(path));
			/* PEFT state-dict keys: LoRA layers are nn.Linear (".weight"),
			 * AdaLoRA's are bare parameters. */
			snprintf(name, sizeof(name), "base_model.model.%s.lora_A%s", path, ada ? "" : ".weight");
			am->t_A = param_arena_add(pa, name, r, in, 1);
			snprintf(name, sizeof(name), "base_model.model.%s.lora_B%s", path, ada ? "" : ".weight");
			am->t_B = param_arena_add(pa, name, out, r, 1);
			am->t_E = -1;
			if (ada) {
				snprintf(name, sizeof(name), "base_model.model.%s.lora_E", path);
				am->t_E = param_arena_add(pa, name, r, 1, 1);
			}
			if (am->t_A < 0 || am->t_B < 0 || (ada && am->t_E < 0))
				goto out_nomem;
			am->lr = lowrank_new(in, out, r, (real)adapter_scale(m),
					     (real)m->hp.lora_dropout, l * N_LLAMA_MODULES + mod);
			if (!am->lr)
				goto out_nomem;
		}
	return ADA_OK;

out_nomem:
	return ada_fail(err, ADA_ENOMEM, "out of memory registering trainable tensors");
}

/* Copy base weights into the arena (full fine-tuning). */
static void copy_base_weights(struct trained_net *tn)
{
	const struct model *md = tn->model;
	const struct model_config *c = &md->cfg;
	struct param_arena *pa = &tn->arena;
	int i = 0;

#define COPY(src) memcpy(param_w(pa, i), (src), sizeof(float) * pa->t[i].n), i++
	COPY(md->tok_emb);
	for (int l = 0; l < c->n_layers; l++) {
		const struct model_layer *ly = &md->layers[l];
		const float *w[N_LLAMA_MODULES] = { ly->wq, ly->wk, ly->wv, ly->wo,
						    ly->w_gate, ly->w_up, ly->w_down };
		const float *b[3] = { ly->bq, ly->bk, ly->bv };
		COPY(ly->attn_norm);
		for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
			COPY(w[mod]);
			if (c->qkv_bias && mod <= MOD_V)
				COPY(b[mod]);
		}
		COPY(ly->ffn_norm);
	}
	COPY(md->final_norm);
	if (!c->tied_output)
		COPY(md->output);
#undef COPY
}

static void init_adapters(struct trained_net *tn, uint64_t seed)
{
	struct param_arena *pa = &tn->arena;
	struct rng rng;

	rng_seed(&rng, rng_hash(seed, 0x696e6974ULL));
	for (int i = 0; i < tn->n_mods; i++) {
		struct adapted_module *am = &tn->mods[i];
		float *A = param_w(pa, am->t_A), *B = param_w(pa, am->t_B);
		size_t nA = pa->t[am->t_A].n, nB = pa->t[am->t_B].n;

		if (tn->method.type == ADA_METHOD_ADALORA) {
			/* P, Q ~ N(0, 0.02^2); lambda = 0 so W = W0 at step 0. */
			for (size_t k = 0; k < nA; k++)
				A[k] = (float)(0.02 * rng_normal(&rng));
			for (size_t k = 0; k < nB; k++)
				B[k] = (float)(0.02 * rng_normal(&rng));
		} else {
			/* kaiming_uniform_(a = sqrt(5)) on [r][in]: bound 1/sqrt(in). */
			double bound = 1.0 / sqrt((double)pa->t[am->t_A].cols);
			for (size_t k = 0; k < nA; k++)
				A[k] = (float)((2 * rng_uniform(&rng) - 1) * bound);
			memset(B, 0, sizeof(float) * nB);
		}
	}
}

void trained_net_bind(struct trained_net *tn)
{
	const struct model *md = tn->model;
	const struct model_config *c = &md->cfg;
	struct param_arena *pa = &tn->arena;
	struct llama_net *net = &tn->net;

	/* Start from the frozen model; full fine-tuning then swaps in the
	 * arena's copies, adapter methods attach their adapters. */
	llama_net_from_model(net, tn->blocks, md);
	if (tn->method.type == ADA_METHOD_FULL) {
		int i = 0;
#define BIND(wp, gp) (wp) = param_w(pa, i), (gp) = param_g(pa, i), i++
		BIND(net->tok_emb, net->d_tok_emb);
		for (int l = 0; l < c->n_layers; l++) {
			struct llama_block *b = &tn->blocks[l];
			BIND(b->attn_norm, b->d_attn_norm);
			for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
				struct linear *lin = &b->lin[mod];
				llama_module_shape(c, mod, &lin->out, &lin->in);
				BIND(lin->w, lin->dw);
				if (c->qkv_bias && mod <= MOD_V)
					BIND(lin->b, lin->db);
			}
			BIND(b->ffn_norm, b->d_ffn_norm);
		}
		BIND(net->final_norm, net->d_final_norm);
		if (c->tied_output) {
			net->output = net->tok_emb;
			net->d_output = net->d_tok_emb;
		} else {
			BIND(net->output, net->d_output);
		}
#undef BIND
		return;
	}

	/* Adapters: the base stays frozen where the file mapping put it. */
	for (int i = 0; i < tn->n_mods; i++) {
		struct adapted_module *am = &tn->mods[i];
		struct lowrank *lr = am->lr;

		lr->Q = param_w(pa, am->t_A);
		lr->dQ = param_g(pa, am->t_A);
		lr->P = param_w(pa, am->t_B);
		lr->dP = param_g(pa, am->t_B);
		if (am->t_E >= 0) {
			lr->g = param_w(pa, am->t_E);
			lr->dg = param_g(pa, am->t_E);
		} else {
			lr->g = am->fixed_gate;
			lr->dg = NULL;
		}
		tn->blocks[am->layer].lin[am->module].adapter = &lr->base;
	}
}

int trained_net_build(struct trained_net *tn, const struct model *model,
		      const struct ada_method *method, uint64_t seed, int init_weights,
		      struct ada_err *err)
{
	int rc;

	memset(tn, 0, sizeof(*tn));
	tn->model = model;
	tn->method = *method;
	param_arena_init(&tn->arena);
	tn->blocks = xcalloc((size_t)model->cfg.n_layers, sizeof(*tn->blocks));
	if (!tn->blocks) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_release;
	}
	if ((rc = register_tensors(tn, err)))
		goto out_release;
	if ((rc = param_arena_alloc(&tn->arena, err)))
		goto out_release;
	if (method->type != ADA_METHOD_ADALORA && method->type != ADA_METHOD_FULL) {
		size_t total = 0;
		for (int i = 0; i < tn->n_mods; i++)
			total += (size_t)tn->mods[i].init_r;
		tn->gates = xcalloc(total ? total : 1, sizeof(float));
		if (!tn->gates) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_release;
		}
		for (size_t k = 0; k < total; k++)
			tn->gates[k] = 1;
		total = 0;
		for (int i = 0; i < tn->n_mods; i++) {
			tn->mods[i].fixed_gate = tn->gates + total;
			total += (size_t)tn->mods[i].init_r;
		}
	}
	if (init_weights) {
		if (method->type == ADA_METHOD_FULL)
			copy_base_weights(tn);
		else
			init_adapters(tn, seed);
	}
	trained_net_bind(tn);
	return ADA_OK;

out_release:
	trained_net_release(tn);
	return rc;
}

void trained_net_release(struct trained_net *tn)
{
	for (int i = 0; i < tn->n_mods; i++)
		if (tn->mods[i].lr)
			adapter_free(&tn->mods[i].lr->base);
	free(tn->mods);
	free(tn->blocks);
	free(tn->gates);
	param_arena_release(&tn->arena);
	memset(tn, 0, sizeof(*tn));
}

int trained_net_find(const struct trained_net *tn, int layer, enum llama_module m)
{
	for (int i = 0; i < tn->n_mods; i++)
		if (tn->mods[i].layer == layer && tn->mods[i].module == m)
			return i;
	return -1;
}

int64_t trained_net_param_count(const struct model_config *cfg, const struct ada_method *method)
{
	int64_t n = 0;
	int r = adapter_rank(method);

	if (method->type == ADA_METHOD_FULL)
		return model_param_count(cfg);
	for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
		int out, in;
		if (!((method->hp.target_modules >> mod) & 1))
			continue;
		llama_module_shape(cfg, mod, &out, &in);
		n += (int64_t)r * (in + out) + (method->type == ADA_METHOD_ADALORA ? r : 0);
	}
	return n * cfg->n_layers;
}

/* Copy the kept rows of a [r][cols] block. */
static void copy_rows(float *dst, const float *src, int r, int cols, const uint8_t *keep)
{
	for (int i = 0, k = 0; i < r; i++)
		if (keep[i])
			memcpy(dst + (size_t)k++ * cols, src + (size_t)i * cols, sizeof(float) * (size_t)cols);
}

/* Copy the kept columns of a [rows][r] block into [rows][k]. */
static void copy_cols(float *dst, const float *src, int rows, int r, int k, const uint8_t *keep)
{
	for (int row = 0; row < rows; row++)
		for (int i = 0, c = 0; i < r; i++)
			if (keep[i])
				dst[(size_t)row * k + c++] = src[(size_t)row * r + i];
}

static int rebuild_arena(struct trained_net *tn, const int *new_r, const uint8_t *const *keep,
			 struct ada_err *err)
{
	struct param_arena old = tn->arena, pa;
	int rc;

	param_arena_init(&pa);
	for (int i = 0; i < tn->n_mods; i++) {
		struct adapted_module *am = &tn->mods[i];
		const struct param_tensor *tA = &old.t[am->t_A], *tB = &old.t[am->t_B];
		int nA = param_arena_add(&pa, tA->name, new_r[i], tA->cols, tA->decay);
		int nB = param_arena_add(&pa, tB->name, tB->rows, new_r[i], tB->decay);
		int nE = -1;
		if (am->t_E >= 0)
			nE = param_arena_add(&pa, old.t[am->t_E].name, new_r[i], 1, old.t[am->t_E].decay);
		if (nA < 0 || nB < 0 || (am->t_E >= 0 && nE < 0)) {
			param_arena_release(&pa);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
	}
	if ((rc = param_arena_alloc(&pa, err))) {
		param_arena_release(&pa);
		return rc;
	}
	for (int i = 0, t = 0; i < tn->n_mods; i++) {
		struct adapted_module *am = &tn->mods[i];
		int r = old.t[am->t_A].rows, k = new_r[i];
		int nA = t++, nB = t++, nE = am->t_E >= 0 ? t++ : -1;

		if (keep) {
			float *src[3] = { old.w, old.m, old.v }, *dst[3] = { pa.w, pa.m, pa.v };
			for (int a = 0; a < 3; a++) {
				copy_rows(dst[a] + pa.t[nA].offset, src[a] + old.t[am->t_A].offset, r,
					  old.t[am->t_A].cols, keep[i]);
				copy_cols(dst[a] + pa.t[nB].offset, src[a] + old.t[am->t_B].offset,
					  old.t[am->t_B].rows, r, k, keep[i]);
				if (nE >= 0)
					copy_rows(dst[a] + pa.t[nE].offset, src[a] + old.t[am->t_E].offset,
						  r, 1, keep[i]);
			}
		}
		am->t_A = nA;
		am->t_B = nB;
		am->t_E = nE;
		am->lr->r = k;
	}
	tn->arena = pa;
	param_arena_release(&old);
	trained_net_bind(tn);
	return ADA_OK;
}

int trained_net_compact(struct trained_net *tn, const uint8_t *const *keep, struct ada_err *err)
{
	int *r = calloc((size_t)tn->n_mods + 1, sizeof(*r));
	int rc;

	if (!r)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < tn->n_mods; i++)
		for (int j = 0; j < tn->mods[i].lr->r; j++)
			r[i] += keep[i][j] != 0;
	rc = rebuild_arena(tn, r, keep, err);
	free(r);
	return rc;
}

int trained_net_reshape(struct trained_net *tn, const int *ranks, struct ada_err *err)
{
	for (int i = 0; i < tn->n_mods; i++)
		if (ranks[i] < 0 || ranks[i] > tn->mods[i].init_r)
			return ada_fail(err, ADA_EFORMAT, "adapter %d: rank %d out of range", i,
					ranks[i]);
	return rebuild_arena(tn, ranks, NULL, err);
}
