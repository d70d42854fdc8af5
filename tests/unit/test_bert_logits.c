/*
 * BERT forward against an independent computation: small BERTs (1 and 2
 * layers, 2 heads) with random weights, built in memory by the test, run
 * through lib/nn (bert_forward + the pooler/classifier head, batched and
 * padded) and through tests/unit/bert_ref.c (plain double loops over each
 * unpadded sequence). Built twice: against the float nn/ (logits within
 * 1e-5 relative) and the double one (1e-10). The float build also loads
 * tiny BERT and RoBERTa checkpoints with classification heads through the
 * Hugging Face writer and model_load(), binds them to a bert_net the way
 * the trainer will, and compares with the reference again; and it checks
 * the vectorised GELU against libm over a dense grid.
 *
 * The weights are drawn in double and rounded to float first, so both
 * sides compute with the same numbers in either build.
 */
#include "check.h"

#include <stdint.h>

#include "bert_ref.h"
#include "nn/bert.h"
#include "nn/gelu.h"
#include "nn/heads.h"
#include "util/rng.h"
#ifndef ADA_REAL_DOUBLE
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

/* Every array the test allocates, freed at the end of a case. */
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

struct model_pair {
	struct bert_ref ref;
	struct bert_ref_layer rl[4];
	struct bert_net net;
	struct bert_block blocks[4];
	struct seq_head head;
};

static void build(struct model_pair *m, struct pool *pl, int n_layers, int position_offset)
{
	const int D = 16, F = 24, H = 2, V = 30, P = 40, TV = 2, C = 3;
	struct wpair w;

	memset(m, 0, sizeof(*m));
	m->ref = (struct bert_ref){ .dim = D, .hidden = F, .n_layers = n_layers, .n_heads = H,
				    .n_labels = C, .position_offset = position_offset,
				    .eps = 1e-12, .layers = m->rl };
	m->net.d = (struct bert_dims){ .dim = D, .hidden = F, .n_layers = n_layers,
				       .n_heads = H, .head_dim = D / H, .vocab = V,
				       .max_positions = P, .type_vocab = TV,
				       .position_offset = position_offset, .norm_eps = 1e-12 };
	m->net.blocks = m->blocks;
	w = weight(pl, (size_t)V * D, 0, 0.5); m->ref.word = w.d; m->net.word_emb = w.r;
	w = weight(pl, (size_t)P * D, 0, 0.5); m->ref.pos = w.d; m->net.pos_emb = w.r;
	w = weight(pl, (size_t)TV * D, 0, 0.5); m->ref.type = w.d; m->net.type_emb = w.r;
	w = weight(pl, D, 1, 0.2); m->ref.ln_emb_w = w.d; m->net.ln_emb.w = w.r;
	w = weight(pl, D, 0, 0.2); m->ref.ln_emb_b = w.d; m->net.ln_emb.b = w.r;
	for (int l = 0; l < n_layers; l++) {
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
		w = weight(pl, D, 1, 0.2); m->rl[l].ln_attn_w = w.d; b->ln_attn.w = w.r;
		w = weight(pl, D, 0, 0.2); m->rl[l].ln_attn_b = w.d; b->ln_attn.b = w.r;
		w = weight(pl, D, 1, 0.2); m->rl[l].ln_out_w = w.d; b->ln_out.w = w.r;
		w = weight(pl, D, 0, 0.2); m->rl[l].ln_out_b = w.d; b->ln_out.b = w.r;
	}
	m->head.pool = SEQ_POOL_FIRST;
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
	const int T = a->T, C = m->ref.n_labels;
	struct nn_step st = { 0 };
	double worst = 0, scale = 1;

	CHECK_OK(bert_forward(&m->net, a, tok, types, len, B, &st), (struct ada_err *)NULL);
	CHECK_OK(seq_head_forward(&m->head, ha, a->hidden, len, B, T, &st), (struct ada_err *)NULL);
	for (int b = 0; b < B; b++) {
		double ref[8];
		CHECK(bert_ref_logits(&m->ref, tok + b * T, types + b * T, len[b], ref) == 0);
		for (int c = 0; c < C; c++) {
			double e = fabs((double)ha->logits[b * C + c] - ref[c]);
			worst = e > worst ? e : worst;
			scale = fabs(ref[c]) > scale ? fabs(ref[c]) : scale;
		}
	}
	CHECK_MSG(worst <= LOGIT_TOL * scale, "%s: logits differ by %.3g (scale %.3g)", label,
		  worst, scale);
}

static void check_bert(int n_layers, int position_offset)
{
	enum { B = 3, T = 9 };
	const int32_t len[B] = { 9, 5, 1 };
	int32_t tok[B * T], types[B * T];
	struct model_pair m;
	struct pool pl = { 0 };
	struct bert_acts a;
	struct seq_head_acts ha;
	char label[64];

	build(&m, &pl, n_layers, position_offset);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			int pad = t >= len[b];
			tok[b * T + t] = pad ? 1 : (int32_t)rng_below(&rng, m.net.d.vocab);
			types[b * T + t] = pad ? 0 : t >= len[b] / 2;
		}
	CHECK_OK(bert_acts_init(&a, &m.net.d, B, T, 2), (struct ada_err *)NULL);
	CHECK_OK(seq_head_acts_init(&ha, m.net.d.dim, m.ref.n_labels, B), (struct ada_err *)NULL);
	snprintf(label, sizeof(label), "%d layers, offset %d", n_layers, position_offset);
	compare(&m, &a, &ha, tok, types, len, B, label);
	/* fewer rows than allocated: the layer strides keep the full shape */
	compare(&m, &a, &ha, tok, types, len, 2, label);

	/* Padding is inert: other ids and types there change no logit. */
	real before[B * 3];
	struct nn_step st = { 0 };
	memcpy(before, ha.logits, sizeof(real) * 2 * 3);
	for (int t = len[1]; t < T; t++) {
		tok[T + t] = 7;
		types[T + t] = 1;
	}
	CHECK_OK(bert_forward(&m.net, &a, tok, types, len, 2, &st), (struct ada_err *)NULL);
	CHECK_OK(seq_head_forward(&m.head, &ha, a.hidden, len, 2, T, &st), (struct ada_err *)NULL);
	CHECK(memcmp(before, ha.logits, sizeof(real) * 2 * 3) == 0);

	/* Out-of-range inputs are refused. */
	int32_t bad_len[B] = { 9, 0, 1 }, long_len[B] = { 10, 5, 1 };
	CHECK_INT_EQ(bert_forward(&m.net, &a, tok, types, bad_len, B, &st), ADA_EINVAL);
	CHECK_INT_EQ(bert_forward(&m.net, &a, tok, types, long_len, B, &st), ADA_EINVAL);
	tok[3] = m.net.d.vocab;
	CHECK_INT_EQ(bert_forward(&m.net, &a, tok, types, len, B, &st), ADA_EINVAL);
	tok[3] = -1;
	CHECK_INT_EQ(bert_forward(&m.net, &a, tok, types, len, B, &st), ADA_EINVAL);
	tok[3] = 2;
	types[4] = 2;
	CHECK_INT_EQ(bert_forward(&m.net, &a, tok, types, len, B, &st), ADA_EINVAL);
	CHECK_INT_EQ(bert_forward(&m.net, &a, tok, types, len, B + 1, &st), ADA_EINVAL);
	CHECK_INT_EQ(seq_head_forward(&m.head, &ha, a.hidden, bad_len, B, T, &st), ADA_EINVAL);

	bert_acts_release(&a);
	seq_head_acts_release(&ha);
	pool_free(&pl);
}

static void test_bert_logits(void)
{
	check_bert(1, 0);     /* BERT positions */
	check_bert(2, 2);     /* RoBERTa positions: padding_idx 1 + 1 */
}

static void test_acts_shape(void)
{
	struct bert_dims d = { .dim = 8, .hidden = 12, .n_layers = 1, .n_heads = 2,
			       .head_dim = 4, .vocab = 10, .max_positions = 16, .type_vocab = 1,
			       .position_offset = 2, .norm_eps = 1e-5 };
	struct bert_acts a;

	CHECK_OK(bert_acts_init(&a, &d, 2, 14, 1), (struct ada_err *)NULL);
	bert_acts_release(&a);
	/* position ids would run past the table */
	CHECK_INT_EQ(bert_acts_init(&a, &d, 2, 15, 1), ADA_EINVAL);
	d.head_dim = 3;
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

static float *read_extra(struct pool *pl, const struct model *m, const char *name, uint64_t rows,
			 uint64_t cols)
{
	float *p = pool_add(pl, calloc((size_t)(rows ? rows : 1) * cols, sizeof(float)));
	struct ada_err err;

	CHECK_OK(model_extra_read(m, name, rows, cols, p, &err), &err);
	return p;
}

/* The binding the trainer does: a bert_net on a loaded model's (float)
 * weights, frozen; the head on the pooler or classifier.dense and the
 * classifier / out_proj read from the checkpoint's extra tensors. */
static void bind_loaded(struct model_pair *mp, struct pool *pl, const struct model *m, int C)
{
	const struct model_config *c = &m->cfg;
	const struct bert_weights *w = m->bert;
	const int D = c->dim, F = c->hidden_dim;
	const int roberta = !c->has_pooler;

	memset(mp, 0, sizeof(*mp));
	mp->net.d = (struct bert_dims){ .dim = D, .hidden = F, .n_layers = c->n_layers,
					.n_heads = c->n_heads, .head_dim = c->head_dim,
					.vocab = c->vocab_size, .max_positions = c->max_positions,
					.type_vocab = c->type_vocab_size,
					.position_offset = c->position_offset,
					.norm_eps = c->norm_eps };
	mp->net.blocks = mp->blocks;
	mp->net.word_emb = w->word_emb;
	mp->net.pos_emb = w->pos_emb;
	mp->net.type_emb = w->type_emb;
	mp->net.ln_emb = (struct bert_ln){ .w = w->emb_ln_w, .b = w->emb_ln_b };
	mp->ref = (struct bert_ref){ .dim = D, .hidden = F, .n_layers = c->n_layers,
				     .n_heads = c->n_heads, .n_labels = C,
				     .position_offset = c->position_offset, .eps = c->norm_eps,
				     .layers = mp->rl };
	mp->ref.word = dcopy(pl, w->word_emb, (size_t)c->vocab_size * D);
	mp->ref.pos = dcopy(pl, w->pos_emb, (size_t)c->max_positions * D);
	mp->ref.type = dcopy(pl, w->type_emb, (size_t)c->type_vocab_size * D);
	mp->ref.ln_emb_w = dcopy(pl, w->emb_ln_w, D);
	mp->ref.ln_emb_b = dcopy(pl, w->emb_ln_b, D);
	for (int l = 0; l < c->n_layers; l++) {
		const struct bert_layer *ly = &w->layers[l];
		const int outs[6] = { D, D, D, D, F, D }, ins[6] = { D, D, D, D, D, F };
		struct bert_block *b = &mp->blocks[l];
		for (int mod = 0; mod < N_BERT_MODULES; mod++) {
			b->lin[mod] = (struct linear){ .w = (const float *)ly->w[mod].data, .b = ly->b[mod],
						       .in = ins[mod], .out = outs[mod] };
			mp->rl[l].w[mod] = dcopy(pl, (const float *)ly->w[mod].data, (size_t)outs[mod] * ins[mod]);
			mp->rl[l].b[mod] = dcopy(pl, ly->b[mod], outs[mod]);
		}
		b->ln_attn = (struct bert_ln){ .w = ly->ln_attn_w, .b = ly->ln_attn_b };
		b->ln_out = (struct bert_ln){ .w = ly->ln_out_w, .b = ly->ln_out_b };
		mp->rl[l].ln_attn_w = dcopy(pl, ly->ln_attn_w, D);
		mp->rl[l].ln_attn_b = dcopy(pl, ly->ln_attn_b, D);
		mp->rl[l].ln_out_w = dcopy(pl, ly->ln_out_w, D);
		mp->rl[l].ln_out_b = dcopy(pl, ly->ln_out_b, D);
	}
	mp->head.pool = SEQ_POOL_FIRST;
	mp->head.dense = (struct linear){ .in = D, .out = D };
	mp->head.out = (struct linear){ .in = D, .out = C };
	if (roberta) {
		mp->head.dense.w = read_extra(pl, m, "classifier.dense.weight", D, D);
		mp->head.dense.b = read_extra(pl, m, "classifier.dense.bias", 0, D);
		mp->head.out.w = read_extra(pl, m, "classifier.out_proj.weight", C, D);
		mp->head.out.b = read_extra(pl, m, "classifier.out_proj.bias", 0, C);
	} else {
		mp->head.dense.w = w->pooler_w;
		mp->head.dense.b = w->pooler_b;
		mp->head.out.w = read_extra(pl, m, "classifier.weight", C, D);
		mp->head.out.b = read_extra(pl, m, "classifier.bias", 0, C);
	}
	mp->ref.pooler_w = dcopy(pl, mp->head.dense.w, (size_t)D * D);
	mp->ref.pooler_b = dcopy(pl, mp->head.dense.b, D);
	mp->ref.cls_w = dcopy(pl, mp->head.out.w, (size_t)C * D);
	mp->ref.cls_b = dcopy(pl, mp->head.out.b, C);
}

static void check_loaded(const char *arch, const char *dir)
{
	enum { B = 3, T = 11, C = 3 };
	const int32_t len[B] = { 11, 6, 2 };
	struct model_config cfg;
	struct model *m = NULL, *x = NULL;
	struct model_pair mp;
	struct pool pl = { 0 };
	struct bert_acts a;
	struct seq_head_acts ha;
	struct ada_err err;
	struct tiny_extra extra[4];
	struct tiny_bert_opts o = { .prefixed = 1, .extra = extra };
	int32_t tok[B * T], types[B * T];
	char label[64];

	tiny_bert_config(&cfg, arch);
	CHECK_OK(tiny_bert_random(&cfg, 11, &m), (struct ada_err *)NULL);
	if (!m)
		return;
	/* the task head, as ...ForSequenceClassification checkpoints store it */
	const int D = cfg.dim;
	struct wpair dw = weight(&pl, (size_t)D * D, 0, 0.3), db = weight(&pl, D, 0, 0.2);
	struct wpair ow = weight(&pl, (size_t)C * D, 0, 0.5), ob = weight(&pl, C, 0, 0.2);
	float *fdw = pool_add(&pl, calloc((size_t)D * D, sizeof(float)));
	float *fdb = pool_add(&pl, calloc(D, sizeof(float)));
	float *fow = pool_add(&pl, calloc((size_t)C * D, sizeof(float)));
	float *fob = pool_add(&pl, calloc(C, sizeof(float)));
	for (int i = 0; i < D * D; i++)
		fdw[i] = (float)dw.d[i];
	for (int i = 0; i < D; i++)
		fdb[i] = (float)db.d[i];
	for (int i = 0; i < C * D; i++)
		fow[i] = (float)ow.d[i];
	for (int i = 0; i < C; i++)
		fob[i] = (float)ob.d[i];
	if (cfg.has_pooler) {
		extra[0] = (struct tiny_extra){ "classifier.weight", fow, C, (uint64_t)D };
		extra[1] = (struct tiny_extra){ "classifier.bias", fob, 0, C };
		o.n_extra = 2;
	} else {
		extra[0] = (struct tiny_extra){ "classifier.dense.weight", fdw, (uint64_t)D, (uint64_t)D };
		extra[1] = (struct tiny_extra){ "classifier.dense.bias", fdb, 0, (uint64_t)D };
		extra[2] = (struct tiny_extra){ "classifier.out_proj.weight", fow, C, (uint64_t)D };
		extra[3] = (struct tiny_extra){ "classifier.out_proj.bias", fob, 0, C };
		o.n_extra = 4;
	}
	CHECK_OK(tiny_write_bert_hf(m, dir, &o, &err), &err);
	CHECK_OK(model_load(dir, NULL, &x, &err), &err);
	if (!x)
		goto out;
	bind_loaded(&mp, &pl, x, C);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			int pad = t >= len[b];
			tok[b * T + t] = pad ? cfg.pad_token_id :
				(int32_t)rng_below(&rng, (uint64_t)cfg.vocab_size);
			types[b * T + t] = pad ? 0 : (int32_t)rng_below(&rng,
							(uint64_t)cfg.type_vocab_size);
		}
	CHECK_OK(bert_acts_init(&a, &mp.net.d, B, T, 2), (struct ada_err *)NULL);
	CHECK_OK(seq_head_acts_init(&ha, D, C, B), (struct ada_err *)NULL);
	snprintf(label, sizeof(label), "%s through its HF directory", arch);
	compare(&mp, &a, &ha, tok, types, len, B, label);
	bert_acts_release(&a);
	seq_head_acts_release(&ha);
out:
	model_free(x);
	model_free(m);
	pool_free(&pl);
}

static void test_loaded_models(void)
{
	char *tmp = check_tmpdir("bert_logits");
	char *d1 = path_join(tmp, "bert"), *d2 = path_join(tmp, "roberta");

	check_loaded("bert", d1);
	check_loaded("roberta", d2);
	remove_tree(tmp, NULL);
	free(d1);
	free(d2);
	free(tmp);
}

/* The float GELU within 1e-6 relative of the exact one on x >= -13 (every
 * 389th float of either sign up to 20), and 0 below. */
static void test_gelu_accuracy(void)
{
	enum { CHUNK = 1 << 16 };
	static float xs[CHUNK], ys[CHUNK];
	double worst = 0, worst_x = 0;
	int n = 0;

	for (uint32_t bits = 0x0d000000u; bits < 0x41a00000u; bits += 389) {   /* 4e-31 .. 20 */
		for (int sign = 0; sign < 2; sign++) {
			float x;
			uint32_t b = bits | (uint32_t)sign << 31;
			memcpy(&x, &b, sizeof(x));
			if (x < -13.0f)
				continue;
			xs[n++] = x;
			if (n < CHUNK)
				continue;
			gelu_forward(ys, xs, n);
			for (int i = 0; i < n; i++) {
				double ex = 0.5 * xs[i] * erfc(-(double)xs[i] / sqrt(2.0));
				double e = fabs(ys[i] - ex) / fabs(ex);
				if (e > worst) {
					worst = e;
					worst_x = xs[i];
				}
			}
			n = 0;
		}
	}
	CHECK_MSG(worst < 1e-6, "gelu relative error %.3g at x = %.9g", worst, worst_x);
	xs[0] = -13.5f;
	xs[1] = -1e30f;
	xs[2] = 1e30f;
	gelu_forward(ys, xs, 3);
	CHECK(ys[0] == 0 && ys[1] == 0 && ys[2] == 1e30f);
}
#endif

int main(void)
{
	rng_seed(&rng, 77);
	RUN(test_bert_logits);
	RUN(test_acts_shape);
#ifndef ADA_REAL_DOUBLE
	RUN(test_loaded_models);
	RUN(test_gelu_accuracy);
#endif
	return check_summary();
}
