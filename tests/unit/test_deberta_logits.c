/*
 * DeBERTa-v2/v3 forward against an independent computation: small DeBERTas
 * (2 layers, 4 heads of 8) with random weights, run through lib/nn
 * (bert_forward with the disentangled attention, then the ContextPooler +
 * classifier head, batched and padded) and through tests/unit/deberta_ref.c
 * (plain double loops over each unpadded sequence, transformers'
 * definitions spelt out). The sequences are longer than the bucket
 * boundary (position_buckets 8: distances from 5 on are log-bucketed) and
 * than max_relative_positions (12: the table's ends), so bucketing and
 * clipping are both on the path of real tokens.
 *
 * Variants: the v3 shape (no absolute positions, no token types, shared
 * keys, c2p and p2c, LayerNorm on the table), separate pos_key_proj /
 * pos_query_proj (share_att_key false), c2p only, p2c only, plain clipped
 * distances without buckets, and a v2-style input (absolute positions,
 * token types, no table LayerNorm, a tanh pooler). Built twice: against the
 * float nn/ (logits within 1e-5 relative) and the double one (1e-10). The
 * float build also writes tiny DeBERTa checkpoints with
 * DebertaV2ForSequenceClassification's head as Hugging Face directories
 * (F32, and BF16 / F16 whose matrices stay in their type),
 * loads them with model_load(), binds them with bert_net_from_model() and
 * seq_head_from_model() as the trainer does, and compares again.
 */
#include "check.h"

#include <stdint.h>

#include "deberta_ref.h"
#include "nn/bert.h"
#include "nn/disentangled.h"
#include "nn/heads.h"
#include "util/rng.h"
#ifndef ADA_REAL_DOUBLE
#include "check_model.h"
#include "format/quant.h"
#include "net/model_bind.h"
#include "tiny_model.h"
#include "util/err.h"
#include "util/fileio.h"
#endif

#ifdef ADA_REAL_DOUBLE
#define LOGIT_TOL 1e-10
#else
#define LOGIT_TOL 1e-5
#endif

#define MAX_ALLOCS 256

static struct rng rng;

struct pool {
	void *p[MAX_ALLOCS];
	int n;
};

static void *pool_add(struct pool *pl, void *p)
{
	if (pl->n == MAX_ALLOCS) {
		fprintf(stderr, "test pool full\n");
		exit(1);
	}
	pl->p[pl->n++] = p;
	return p;
}

static void pool_free(struct pool *pl)
{
	for (int i = 0; i < pl->n; i++)
		free(pl->p[i]);
	pl->n = 0;
}

/* A weight drawn as N(mean, scale^2), rounded to float, in both precisions. */
struct wpair {
	double *d;
	real *r;
};

static struct wpair weight(struct pool *pl, size_t n, double mean, double scale)
{
	struct wpair w = { pool_add(pl, calloc(n, sizeof(double))),
			   pool_add(pl, calloc(n, sizeof(real))) };

	for (size_t i = 0; i < n; i++) {
		w.d[i] = (double)(float)(mean + scale * rng_normal(&rng));
		w.r[i] = (real)w.d[i];
	}
	return w;
}

/* The shape of one variant. */
struct variant {
	const char *name;
	int share, c2p, p2c;
	int buckets, max_rel;      /* as config.json: -1 unset */
	int ln_rel, abs_pos, types, pooler_gelu;
};

struct model_pair {
	struct deberta_ref ref;
	struct deberta_ref_layer rl[2];
	struct bert_net net;
	struct bert_block blocks[2];
	struct seq_head head;
};

enum { D = 32, F = 48, H = 4, V = 50, P = 40, C = 3, L = 2 };

static void build(struct model_pair *m, struct pool *pl, const struct variant *va)
{
	const int max_rel = va->max_rel < 1 ? P : va->max_rel;
	const int span = va->buckets > 0 ? va->buckets : max_rel;
	struct wpair w;

	memset(m, 0, sizeof(*m));
	m->ref = (struct deberta_ref){ .dim = D, .hidden = F, .n_layers = L, .n_heads = H,
				       .n_labels = C, .eps = 1e-7, .position_buckets = va->buckets,
				       .max_relative_positions = va->max_rel,
				       .max_position_embeddings = P, .c2p = va->c2p,
				       .p2c = va->p2c, .share_att_key = va->share, .layers = m->rl,
				       .pooler_gelu = va->pooler_gelu };
	m->net.d = (struct bert_dims){ .dim = D, .hidden = F, .n_layers = L, .n_heads = H,
				       .head_dim = D / H, .vocab = V, .max_positions = P,
				       .type_vocab = va->types ? 2 : 0, .norm_eps = 1e-7,
				       .disentangled = 1, .rel_span = span,
				       .rel_buckets = va->buckets > 0 ? va->buckets : 0,
				       .rel_max = max_rel, .c2p = va->c2p, .p2c = va->p2c,
				       .share_att_key = va->share,
				       .scale_terms = 1 + va->c2p + va->p2c };
	m->net.blocks = m->blocks;
	w = weight(pl, (size_t)V * D, 0, 0.5); m->ref.word = w.d; m->net.word_emb = w.r;
	if (va->abs_pos) {
		w = weight(pl, (size_t)P * D, 0, 0.5); m->ref.pos = w.d; m->net.pos_emb = w.r;
	}
	if (va->types) {
		w = weight(pl, 2 * D, 0, 0.5); m->ref.type = w.d; m->net.type_emb = w.r;
	}
	w = weight(pl, D, 1, 0.2); m->ref.ln_emb_w = w.d; m->net.ln_emb.w = w.r;
	w = weight(pl, D, 0, 0.2); m->ref.ln_emb_b = w.d; m->net.ln_emb.b = w.r;
	w = weight(pl, 2 * (size_t)span * D, 0, 0.8); m->ref.rel = w.d; m->net.rel_emb = w.r;
	if (va->ln_rel) {
		w = weight(pl, D, 1, 0.2); m->ref.ln_rel_w = w.d; m->net.ln_rel.w = w.r;
		w = weight(pl, D, 0, 0.2); m->ref.ln_rel_b = w.d; m->net.ln_rel.b = w.r;
	}
	for (int l = 0; l < L; l++) {
		const int outs[6] = { D, D, D, D, F, D }, ins[6] = { D, D, D, D, D, F };
		struct bert_block *b = &m->blocks[l];
		for (int mod = 0; mod < N_BERT_MODULES; mod++) {
			w = weight(pl, (size_t)outs[mod] * ins[mod], 0, 0.35);
			m->rl[l].w[mod] = w.d;
			b->lin[mod].w = w.r;
			w = weight(pl, outs[mod], 0, 0.2);
			m->rl[l].b[mod] = w.d;
			b->lin[mod].b = w.r;
			b->lin[mod].in = ins[mod];
			b->lin[mod].out = outs[mod];
		}
		if (!va->share && va->c2p) {
			b->pos_key = (struct linear){ .in = D, .out = D };
			w = weight(pl, (size_t)D * D, 0, 0.35); m->rl[l].pos_key_w = w.d; b->pos_key.w = w.r;
			w = weight(pl, D, 0, 0.2); m->rl[l].pos_key_b = w.d; b->pos_key.b = w.r;
		}
		if (!va->share && va->p2c) {
			b->pos_query = (struct linear){ .in = D, .out = D };
			w = weight(pl, (size_t)D * D, 0, 0.35); m->rl[l].pos_query_w = w.d; b->pos_query.w = w.r;
			w = weight(pl, D, 0, 0.2); m->rl[l].pos_query_b = w.d; b->pos_query.b = w.r;
		}
		w = weight(pl, D, 1, 0.2); m->rl[l].ln_attn_w = w.d; b->ln_attn.w = w.r;
		w = weight(pl, D, 0, 0.2); m->rl[l].ln_attn_b = w.d; b->ln_attn.b = w.r;
		w = weight(pl, D, 1, 0.2); m->rl[l].ln_out_w = w.d; b->ln_out.w = w.r;
		w = weight(pl, D, 0, 0.2); m->rl[l].ln_out_b = w.d; b->ln_out.b = w.r;
	}
	m->head.pool = SEQ_POOL_FIRST;
	m->head.act = va->pooler_gelu ? HEAD_ACT_GELU : HEAD_ACT_TANH;
	m->head.dense = (struct linear){ .in = D, .out = D };
	m->head.out = (struct linear){ .in = D, .out = C };
	w = weight(pl, (size_t)D * D, 0, 0.4); m->ref.pooler_w = w.d; m->head.dense.w = w.r;
	w = weight(pl, D, 0, 0.2); m->ref.pooler_b = w.d; m->head.dense.b = w.r;
	w = weight(pl, (size_t)C * D, 0, 0.5); m->ref.cls_w = w.d; m->head.out.w = w.r;
	w = weight(pl, C, 0, 0.2); m->ref.cls_b = w.d; m->head.out.b = w.r;
}

/* lib logits of B rows vs the reference on each row's unpadded prefix. */
static void compare(struct model_pair *m, struct bert_acts *a, struct seq_head_acts *ha,
		    const int32_t *tok, const int32_t *types, const int32_t *len, int B,
		    const char *label)
{
	const int T = a->T;
	struct nn_step st = { 0 };
	double worst = 0, scale = 1;

	CHECK_OK(bert_forward(&m->net, a, tok, types, len, B, &st), (struct ada_err *)NULL);
	CHECK_OK(seq_head_forward(&m->head, ha, a->hidden, len, B, T, &st), (struct ada_err *)NULL);
	for (int b = 0; b < B; b++) {
		double ref[C];
		CHECK(deberta_ref_logits(&m->ref, tok + b * T, types + b * T, len[b], ref) == 0);
		for (int c = 0; c < C; c++) {
			double e = fabs((double)ha->logits[b * C + c] - ref[c]);
			worst = e > worst ? e : worst;
			scale = fabs(ref[c]) > scale ? fabs(ref[c]) : scale;
		}
	}
	CHECK_MSG(worst <= LOGIT_TOL * scale, "%s: logits differ by %.3g (scale %.3g)", label,
		  worst, scale);
}

static void check_variant(const struct variant *va)
{
	enum { B = 3, T = 20 };
	const int32_t len[B] = { 20, 14, 1 };
	int32_t tok[B * T], types[B * T];
	struct model_pair m;
	struct pool pl = { 0 };
	struct bert_acts a;
	struct seq_head_acts ha;
	struct nn_step st = { 0 };
	real before[B * C];

	build(&m, &pl, va);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			int pad = t >= len[b];
			tok[b * T + t] = pad ? 0 : (int32_t)rng_below(&rng, V);
			types[b * T + t] = pad ? 0 : t >= len[b] / 2;
		}
	CHECK_OK(bert_acts_init(&a, &m.net.d, B, T, 2), (struct ada_err *)NULL);
	CHECK_OK(seq_head_acts_init(&ha, D, C, B), (struct ada_err *)NULL);
	compare(&m, &a, &ha, tok, types, len, B, va->name);
	/* fewer rows than allocated: the layer strides keep the full shape */
	compare(&m, &a, &ha, tok, types, len, 2, va->name);

	/* Padding is inert: other ids there change no logit. */
	memcpy(before, ha.logits, sizeof(real) * 2 * C);
	for (int t = len[1]; t < T; t++)
		tok[T + t] = 7;
	CHECK_OK(bert_forward(&m.net, &a, tok, types, len, 2, &st), (struct ada_err *)NULL);
	CHECK_OK(seq_head_forward(&m.head, &ha, a.hidden, len, 2, T, &st), (struct ada_err *)NULL);
	CHECK_MSG(memcmp(before, ha.logits, sizeof(real) * 2 * C) == 0, "%s: padding leaks",
		  va->name);

	/* Token types: refused out of range with a table, ignored without one. */
	types[3] = 2;
	CHECK_INT_EQ(bert_forward(&m.net, &a, tok, types, len, B, &st),
		     va->types ? ADA_EINVAL : ADA_OK);
	types[3] = 0;
	tok[3] = V;
	CHECK_INT_EQ(bert_forward(&m.net, &a, tok, types, len, B, &st), ADA_EINVAL);

	bert_acts_release(&a);
	seq_head_acts_release(&ha);
	pool_free(&pl);
}

static const struct variant v3 = { "v3: shared keys, c2p|p2c, buckets 8, max 12", 1, 1, 1, 8,
				   12, 1, 0, 0, 1 };

static void test_variants(void)
{
	static const struct variant vs[] = {
		{ "separate pos_key_proj / pos_query_proj", 0, 1, 1, 8, 12, 1, 0, 0, 1 },
		{ "c2p only, shared", 1, 1, 0, 8, 12, 1, 0, 0, 1 },
		{ "p2c only, separate", 0, 0, 1, 8, 12, 0, 0, 0, 1 },
		{ "no buckets, distances clipped at 6", 1, 1, 1, -1, 6, 1, 0, 0, 1 },
		{ "v2 input: positions, types, tanh pooler", 1, 1, 1, 8, -1, 0, 1, 1, 0 },
		{ "no position terms", 1, 0, 0, 8, 12, 1, 0, 0, 1 },
	};

	check_variant(&v3);
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
		check_variant(&vs[i]);
}

/* make_log_bucket_position: ours (float, as PyTorch) against the
 * reference's (double) and values worked by hand for deberta-v3-base
 * (position_buckets 256, max_relative_positions 512): |d| <= 128 stays;
 * 383: ceil(ln(383/128) / ln(511/128) * 127) + 128 = ceil(100.55) + 128;
 * 511 lands on the last bucket 255; 512 and beyond leave the table. */
static void test_buckets(void)
{
	static const int shapes[][2] = { { 256, 512 }, { 8, 12 }, { 16, 40 }, { 256, 1024 } };
	int32_t idx[2 * 40 - 1];

	CHECK_INT_EQ(disentangled_bucket(0, 256, 512), 0);
	CHECK_INT_EQ(disentangled_bucket(127, 256, 512), 127);
	CHECK_INT_EQ(disentangled_bucket(-128, 256, 512), -128);
	CHECK_INT_EQ(disentangled_bucket(129, 256, 512), 129);
	CHECK_INT_EQ(disentangled_bucket(383, 256, 512), 229);
	CHECK_INT_EQ(disentangled_bucket(-383, 256, 512), -229);
	CHECK_INT_EQ(disentangled_bucket(511, 256, 512), 255);
	CHECK_INT_EQ(disentangled_bucket(512, 256, 512), 256);
	/* the tiny shape: 5 -> 5, 6 and 7 -> 6, 8..11 -> 7, 12 -> 8 (clipped) */
	CHECK_INT_EQ(disentangled_bucket(5, 8, 12), 5);
	CHECK_INT_EQ(disentangled_bucket(7, 8, 12), 6);
	CHECK_INT_EQ(disentangled_bucket(11, 8, 12), 7);
	CHECK_INT_EQ(disentangled_bucket(-12, 8, 12), -8);
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
		for (long d = -3000; d <= 3000; d++)
			if (disentangled_bucket((int)d, shapes[s][0], shapes[s][1]) !=
			    deberta_ref_bucket(d, shapes[s][0], shapes[s][1])) {
				CHECK_MSG(0, "bucket(%ld; %d, %d): %d, reference %ld", d, shapes[s][0],
					  shapes[s][1], disentangled_bucket((int)d, shapes[s][0],
									    shapes[s][1]),
					  deberta_ref_bucket(d, shapes[s][0], shapes[s][1]));
				break;
			}
	/* the index table: clamp(bucket(i - j) + span, 0, 2 span - 1) */
	disentangled_rel_index(idx, 40, 8, 8, 12);
	CHECK_INT_EQ(idx[39], 8);         /* i = j */
	CHECK_INT_EQ(idx[39 + 4], 12);
	CHECK_INT_EQ(idx[39 + 11], 15);
	CHECK_INT_EQ(idx[39 + 12], 15);   /* 8 + 8 clipped to 15 */
	CHECK_INT_EQ(idx[39 - 11], 1);
	CHECK_INT_EQ(idx[39 - 12], 0);
	CHECK_INT_EQ(idx[0], 0);
	disentangled_rel_index(idx, 40, 6, 0, 6);   /* no buckets: clipped distances */
	CHECK_INT_EQ(idx[39 + 5], 11);
	CHECK_INT_EQ(idx[39 + 6], 11);
	CHECK_INT_EQ(idx[39 - 6], 0);
	CHECK_INT_EQ(idx[39 - 30], 0);
}

static void test_acts_shape(void)
{
	struct bert_dims d = { .dim = 8, .hidden = 12, .n_layers = 1, .n_heads = 2,
			       .head_dim = 4, .vocab = 10, .max_positions = 16, .type_vocab = 0,
			       .norm_eps = 1e-7, .disentangled = 1, .rel_span = 4,
			       .rel_buckets = 4, .rel_max = 8, .c2p = 1, .p2c = 1,
			       .share_att_key = 1, .scale_terms = 3 };
	struct bert_acts a;

	CHECK_OK(bert_acts_init(&a, &d, 2, 16, 1), (struct ada_err *)NULL);
	CHECK(a.rx == 8 && a.rq == 8 && a.rk == 8);
	CHECK_INT_EQ(bert_acts_bytes(&d, 2, 16, 1), a.bytes);
	bert_acts_release(&a);
	CHECK_INT_EQ(bert_acts_init(&a, &d, 2, 17, 1), ADA_EINVAL);
	d.rel_max = 3;   /* too short for the buckets' logarithm */
	CHECK_INT_EQ(bert_acts_init(&a, &d, 2, 8, 1), ADA_EINVAL);
	CHECK_INT_EQ(bert_acts_bytes(&d, 2, 8, 1), 0);
	d.rel_max = 8;
	d.rel_span = 0;  /* position terms without a table */
	CHECK_INT_EQ(bert_acts_init(&a, &d, 2, 8, 1), ADA_EINVAL);
	d.disentangled = 0;   /* BERT needs a token type table */
	CHECK_INT_EQ(bert_acts_init(&a, &d, 2, 8, 1), ADA_EINVAL);
}

#ifndef ADA_REAL_DOUBLE
static const double *dcopy(struct pool *pl, const float *src, size_t n)
{
	double *d = pool_add(pl, calloc(n ? n : 1, sizeof(double)));

	for (size_t i = 0; i < n; i++)
		d[i] = src[i];
	return d;
}

/* A matrix in any of its file's types, widened, as doubles. */
static const double *mcopy(struct pool *pl, const struct frozen_mat *fm)
{
	const size_t n = (size_t)fm->rows * fm->cols;
	float *f = pool_add(pl, calloc(n ? n : 1, sizeof(float)));

	frozen_mat_read(fm, f);
	return dcopy(pl, f, n);
}

static float *fcopy(struct pool *pl, const double *src, size_t n)
{
	float *f = pool_add(pl, calloc(n ? n : 1, sizeof(float)));

	for (size_t i = 0; i < n; i++)
		f[i] = (float)src[i];
	return f;
}

static float *read_extra(struct pool *pl, const struct model *m, const char *name, uint64_t rows,
			 uint64_t cols)
{
	float *p = pool_add(pl, calloc((size_t)(rows ? rows : 1) * cols, sizeof(float)));
	struct ada_err err;

	CHECK_OK(model_extra_read(m, name, rows, cols, p, &err), &err);
	return p;
}

/* The reference over a loaded model's weights. */
static void ref_of(struct deberta_ref *r, struct deberta_ref_layer *rl, struct pool *pl,
		   const struct model *m)
{
	const struct model_config *c = &m->cfg;
	const struct deberta_config *db = &c->deberta;
	const struct bert_weights *w = m->bert;
	const size_t Dm = (size_t)c->dim, Fm = (size_t)c->hidden_dim;

	*r = (struct deberta_ref){ .dim = c->dim, .hidden = c->hidden_dim, .n_layers = c->n_layers,
				   .n_heads = c->n_heads, .n_labels = C, .eps = c->norm_eps,
				   .position_buckets = db->position_buckets ? db->position_buckets : -1,
				   .max_relative_positions = db->max_relative_positions,
				   .max_position_embeddings = c->max_positions,
				   .c2p = (db->pos_att & DEBERTA_C2P) != 0,
				   .p2c = (db->pos_att & DEBERTA_P2C) != 0,
				   .share_att_key = db->share_att_key, .layers = rl,
				   .pooler_gelu = db->pooler_act == HEAD_ACT_GELU };
	r->word = dcopy(pl, w->word_emb, (size_t)c->vocab_size * Dm);
	r->ln_emb_w = dcopy(pl, w->emb_ln_w, Dm);
	r->ln_emb_b = dcopy(pl, w->emb_ln_b, Dm);
	r->rel = dcopy(pl, w->rel_emb, 2 * (size_t)db->att_span * Dm);
	if (w->rel_ln_w) {
		r->ln_rel_w = dcopy(pl, w->rel_ln_w, Dm);
		r->ln_rel_b = dcopy(pl, w->rel_ln_b, Dm);
	}
	for (int l = 0; l < c->n_layers; l++) {
		const struct bert_layer *ly = &w->layers[l];
		const size_t outs[6] = { Dm, Dm, Dm, Dm, Fm, Dm }, ins[6] = { Dm, Dm, Dm, Dm, Dm, Fm };

		for (int mod = 0; mod < N_BERT_MODULES; mod++) {
			CHECK((size_t)ly->w[mod].rows == outs[mod] && (size_t)ly->w[mod].cols == ins[mod]);
			rl[l].w[mod] = mcopy(pl, &ly->w[mod]);
			rl[l].b[mod] = dcopy(pl, ly->b[mod], outs[mod]);
		}
		if (ly->pos_key.data) {
			rl[l].pos_key_w = mcopy(pl, &ly->pos_key);
			rl[l].pos_key_b = dcopy(pl, ly->pos_key_b, Dm);
		}
		if (ly->pos_query.data) {
			rl[l].pos_query_w = mcopy(pl, &ly->pos_query);
			rl[l].pos_query_b = dcopy(pl, ly->pos_query_b, Dm);
		}
		rl[l].ln_attn_w = dcopy(pl, ly->ln_attn_w, Dm);
		rl[l].ln_attn_b = dcopy(pl, ly->ln_attn_b, Dm);
		rl[l].ln_out_w = dcopy(pl, ly->ln_out_w, Dm);
		rl[l].ln_out_b = dcopy(pl, ly->ln_out_b, Dm);
	}
}

/* A DebertaV2ForSequenceClassification checkpoint written, loaded and bound
 * as the trainer binds it; its head read back from the extra tensors. */
static void check_loaded(const struct model_config *cfg, enum st_dtype dtype, const char *dir,
			 const char *label)
{
	enum { B = 3, T = 22 };
	const int32_t len[B] = { 22, 15, 3 };
	struct model *m = NULL, *x = NULL;
	struct model_pair mp;
	struct pool pl = { 0 };
	struct bert_acts a;
	struct seq_head_acts ha;
	struct ada_err err;
	struct tiny_extra extra[4];
	struct tiny_bert_opts o = { .dtype = dtype, .prefixed = 1, .extra = extra, .n_extra = 4 };
	int32_t tok[B * T], types[B * T] = { 0 };
	const int Dm = cfg->dim;

	CHECK_OK(tiny_bert_random(cfg, 23, &m), (struct ada_err *)NULL);
	if (!m)
		return;
	if (dtype != ST_F32)   /* what the narrowed file reads back as */
		tiny_bert_round(m, dtype);
	struct wpair dw = weight(&pl, (size_t)Dm * Dm, 0, 0.3), db = weight(&pl, Dm, 0, 0.2);
	struct wpair ow = weight(&pl, (size_t)C * Dm, 0, 0.5), ob = weight(&pl, C, 0, 0.2);
	extra[0] = (struct tiny_extra){ "pooler.dense.weight", fcopy(&pl, dw.d, (size_t)Dm * Dm),
					(uint64_t)Dm, (uint64_t)Dm };
	extra[1] = (struct tiny_extra){ "pooler.dense.bias", fcopy(&pl, db.d, Dm), 0, (uint64_t)Dm };
	extra[2] = (struct tiny_extra){ "classifier.weight", fcopy(&pl, ow.d, (size_t)C * Dm), C,
					(uint64_t)Dm };
	extra[3] = (struct tiny_extra){ "classifier.bias", fcopy(&pl, ob.d, C), 0, C };
	CHECK_OK(tiny_write_bert_hf(m, dir, &o, &err), &err);
	CHECK_OK(model_load(dir, NULL, &x, &err), &err);
	if (!x)
		goto out;
	CHECK_STR_EQ(x->cfg.arch, "deberta-v2");
	CHECK_INT_EQ(x->cfg.has_pooler, 0);
	/* matrices stay in the file's type; the table and norms are f32 */
	CHECK_INT_EQ(x->bert->layers[1].w[BMOD_KEY].type,
		     dtype == ST_BF16 ? GGML_TYPE_BF16 : dtype == ST_F16 ? GGML_TYPE_F16 : GGML_TYPE_F32);
	if (x->bert->layers[0].pos_query.data)
		CHECK_INT_EQ(x->bert->layers[0].pos_query.type, x->bert->layers[1].w[BMOD_KEY].type);
	/* what the encoder does not own stays an extra tensor */
	CHECK_INT_EQ(model_extra_count(x), 4);
	memset(&mp, 0, sizeof(mp));
	bert_net_from_model(&mp.net, mp.blocks, x);
	seq_head_from_model(&mp.head, x, C);
	CHECK(mp.head.dense.w == NULL && mp.head.act == cfg->deberta.pooler_act);
	mp.head.dense.w = read_extra(&pl, x, "pooler.dense.weight", Dm, Dm);
	mp.head.dense.b = read_extra(&pl, x, "pooler.dense.bias", 0, Dm);
	mp.head.out.w = read_extra(&pl, x, "classifier.weight", C, Dm);
	mp.head.out.b = read_extra(&pl, x, "classifier.bias", 0, C);
	ref_of(&mp.ref, mp.rl, &pl, x);
	mp.ref.pooler_w = dcopy(&pl, mp.head.dense.w, (size_t)Dm * Dm);
	mp.ref.pooler_b = dcopy(&pl, mp.head.dense.b, Dm);
	mp.ref.cls_w = dcopy(&pl, mp.head.out.w, (size_t)C * Dm);
	mp.ref.cls_b = dcopy(&pl, mp.head.out.b, C);
	for (int i = 0; i < B * T; i++)
		tok[i] = i % T >= len[i / T] ? cfg->pad_token_id :
			 (int32_t)rng_below(&rng, (uint64_t)cfg->vocab_size);
	CHECK_OK(bert_acts_init(&a, &mp.net.d, B, T, 2), (struct ada_err *)NULL);
	CHECK_OK(seq_head_acts_init(&ha, Dm, C, B), (struct ada_err *)NULL);
	compare(&mp, &a, &ha, tok, types, len, B, label);
	bert_acts_release(&a);
	seq_head_acts_release(&ha);
out:
	model_free(x);
	model_free(m);
	pool_free(&pl);
}

/* config.json as transformers resolves it; what we do not compute refused
 * by name. */
static void test_config(void)
{
	char *tmp = check_tmpdir("deberta_config");
	char *d = path_join(tmp, "cfg");
	struct model_config cfg;
	struct model *m = NULL, *x;
	struct ada_err err;

	tiny_deberta_config(&cfg);
	CHECK_OK(tiny_bert_random(&cfg, 5, &m), (struct ada_err *)NULL);
	if (!m)
		goto out;
	CHECK_OK(tiny_write_bert_hf(m, d, NULL, &err), &err);
	x = check_model_load(d);
	if (x) {
		const struct deberta_config *db = &x->cfg.deberta;
		CHECK_INT_EQ(x->cfg.family, ADA_FAMILY_BERT);
		CHECK(db->relative_attention && db->share_att_key && db->norm_rel_ebd);
		CHECK_INT_EQ(db->pos_att, DEBERTA_C2P | DEBERTA_P2C);
		CHECK(db->position_buckets == 8 && db->max_relative_positions == 12 &&
		      db->att_span == 8);
		CHECK(!db->position_biased_input && x->cfg.type_vocab_size == 0);
		CHECK(x->bert->pos_emb == NULL && x->bert->type_emb == NULL);
		CHECK_INT_EQ(x->cfg.context_length, 40);
		uint64_t elements = 0;
		tiny_bert_tensor_count(m, &elements);
		CHECK_INT_EQ(model_param_count(&x->cfg), (int64_t)elements);
	}
	model_free(x);
	/* the string form of pos_att_type; -1 for max_relative_positions */
	check_config_set(d, "pos_att_type", json_string("C2P | p2c"));
	check_config_set(d, "max_relative_positions", json_integer(-1));
	check_config_set(d, "position_buckets", json_integer(8));
	x = check_model_load(d);
	CHECK(x && x->cfg.deberta.pos_att == (DEBERTA_C2P | DEBERTA_P2C) &&
	      x->cfg.deberta.max_relative_positions == 40);
	model_free(x);
#define REFUSED_IN(file, key, value, code, want) do { \
		CHECK_OK(tiny_write_bert_hf(m, d, NULL, &err), &err); \
		check_config_set(d, key, value); \
		check_model_error(d, code, file, want); \
	} while (0)
#define REFUSED(key, value, code, want) REFUSED_IN("config.json", key, value, code, want)
	REFUSED("pos_att_type", json_pack("[s]", "p2p"), ADA_EUNSUPPORTED, "p2p");
	REFUSED("pos_att_type", json_integer(3), ADA_EFORMAT, "pos_att_type");
	REFUSED("norm_rel_ebd", json_string("layer_norm|conv"), ADA_EUNSUPPORTED, "conv");
	REFUSED("hidden_act", json_string("gelu_new"), ADA_EUNSUPPORTED, "gelu_new");
	REFUSED("pooler_hidden_act", json_string("relu"), ADA_EUNSUPPORTED, "relu");
	REFUSED("embedding_size", json_integer(16), ADA_EUNSUPPORTED, "embed_proj");
	REFUSED("conv_kernel_size", json_integer(3), ADA_EUNSUPPORTED, "conv_kernel_size");
	REFUSED("pooler_hidden_size", json_integer(16), ADA_EUNSUPPORTED, "pooler_hidden_size");
	REFUSED("attention_head_size", json_integer(4), ADA_EUNSUPPORTED, "attention_head_size");
	REFUSED("max_relative_positions", json_integer(5), ADA_EFORMAT, "position_buckets / 2");
	/* a table of another size than the config says: the file is refused */
	REFUSED_IN("model.safetensors", "position_buckets", json_integer(6), ADA_EFORMAT,
		   "rel_embeddings");
	/* relative_attention false: content attention, no table read */
	CHECK_OK(tiny_write_bert_hf(m, d, NULL, &err), &err);
	check_config_set(d, "relative_attention", json_false());
	x = check_model_load(d);
	CHECK(x && !x->cfg.deberta.relative_attention && x->bert->rel_emb == NULL);
	CHECK(x && model_extra_count(x) == 3);   /* the unused table and its LayerNorm */
	model_free(x);
#undef REFUSED
#undef REFUSED_IN
out:
	model_free(m);
	remove_tree(tmp, NULL);
	free(d);
	free(tmp);
}

static void test_loaded_models(void)
{
	char *tmp = check_tmpdir("deberta_logits");
	char *d1 = path_join(tmp, "v3"), *d2 = path_join(tmp, "separate");
	char *d3 = path_join(tmp, "c2p");
	struct model_config cfg;

	tiny_deberta_config(&cfg);
	check_loaded(&cfg, ST_F32, d1, "deberta-v3 through its HF directory");
	check_loaded(&cfg, ST_BF16, d1, "deberta-v3, BF16, through its HF directory");
	cfg.deberta.share_att_key = 0;
	check_loaded(&cfg, ST_F16, d2, "separate position projections, F16, through the HF directory");
	tiny_deberta_config(&cfg);
	cfg.deberta.pos_att = DEBERTA_C2P;
	cfg.deberta.pooler_act = HEAD_ACT_TANH;
	check_loaded(&cfg, ST_F32, d3, "c2p only, tanh pooler, through the HF directory");
	remove_tree(tmp, NULL);
	free(d1);
	free(d2);
	free(d3);
	free(tmp);
}
#endif

int main(void)
{
	rng_seed(&rng, 1789);
	RUN(test_buckets);
	RUN(test_variants);
	RUN(test_acts_shape);
#ifndef ADA_REAL_DOUBLE
	RUN(test_config);
	RUN(test_loaded_models);
#endif
	return check_summary();
}
