/*
 * Finite-difference gradient checks, in double precision, of the sequence
 * classification compute: LayerNorm, GELU, bidirectional masked attention,
 * the Houlsby bottleneck, the pooling heads and their losses, the whole
 * BERT encoder with a head under every training method (full, LoRA,
 * AdaLoRA, BitFit, Houlsby adapters; classification and regression), and
 * the Llama body with a last-token head (full; LoRA + bottlenecks).
 *
 * Built against the double instantiation of nn/. Each check compares the
 * analytic gradient with central differences (h = 1e-5) and requires the
 * relative error ||analytic - numeric|| / max(||analytic||, ||numeric||)
 * below 1e-6 for every tensor (the harness of test_gradcheck.c).
 */
#include "check.h"

#include <stdint.h>

#include "nn/attention.h"
#include "nn/bert.h"
#include "nn/bottleneck.h"
#include "nn/gelu.h"
#include "nn/heads.h"
#include "nn/layernorm.h"
#include "nn/llama.h"
#include "nn/lowrank.h"
#include "util/rng.h"
#include "gradcheck.h"

static int all_zero(const real *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Probes per tensor: single ops / whole models (each probe is two forwards). */
#define OP_PROBES 300
#define MODEL_PROBES 40

#define CHECK_GRAD(name, f, ctx, param, grad, n) do { \
	double _e = fd_rel_error(f, ctx, param, grad, n, OP_PROBES); \
	CHECK_MSG(_e < TOL, "%s: relative error %.3g", name, _e); \
} while (0)

/* ---- LayerNorm and GELU: loss = sum(out * w) ---------------------------- */

struct op_ctx {
	int N, C;
	real *x, *w, *b, *out, *mean, *rstd, *wt;
};

static double layernorm_loss(void *vc)
{
	struct op_ctx *c = vc;
	layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, 1e-5);
	return dot(c->out, c->wt, (size_t)c->N * c->C);
}

static void test_layernorm(void)
{
	struct op_ctx c = { .N = 5, .C = 12 };
	size_t n = (size_t)c.N * c.C;
	/* rows far from zero: the mean matters */
	c.x = rnd_mean(n, 3, 1.5); c.w = rnd_mean(c.C, 1, 0.3); c.b = rnd_mean(c.C, 0, 0.3);
	c.wt = rnd_mean(n, 0, 1); c.out = zeros(n); c.mean = zeros(c.N); c.rstd = zeros(c.N);
	real *dx = zeros(n), *dw = zeros(c.C), *db = zeros(c.C);
	layernorm_loss(&c);
	/* each output row has zero mean and unit variance before w, b */
	double m = 0, v = 0;
	for (int i = 0; i < c.C; i++)
		m += (c.out[i] - c.b[i]) / c.w[i];
	for (int i = 0; i < c.C; i++)
		v += pow((c.out[i] - c.b[i]) / c.w[i] - m / c.C, 2);
	CHECK_NEAR(m / c.C, 0, 1e-12);
	CHECK_NEAR(v / c.C, 1, 1e-3);   /* eps = 1e-5 against a variance near 2 */
	layernorm_backward(dx, dw, db, c.wt, c.x, c.w, c.mean, c.rstd, c.N, c.C);
	CHECK_GRAD("layernorm dx", layernorm_loss, &c, c.x, dx, n);
	CHECK_GRAD("layernorm dw", layernorm_loss, &c, c.w, dw, c.C);
	CHECK_GRAD("layernorm db", layernorm_loss, &c, c.b, db, c.C);
	free(c.x); free(c.w); free(c.b); free(c.wt); free(c.out); free(c.mean); free(c.rstd);
	free(dx); free(dw); free(db);
}

static double gelu_loss(void *vc)
{
	struct op_ctx *c = vc;
	gelu_forward(c->out, c->x, c->N);
	return dot(c->out, c->wt, (size_t)c->N);
}

static void test_gelu(void)
{
	struct op_ctx c = { .N = 80 };
	c.x = rnd_mean(c.N, 0, 2.5); c.wt = rnd_mean(c.N, 0, 1); c.out = zeros(c.N);
	real *dx = zeros(c.N);
	gelu_backward(dx, c.wt, c.x, c.N);
	CHECK_GRAD("gelu dx", gelu_loss, &c, c.x, dx, c.N);
	/* HF's values: gelu(1) = 0.8413447460685429, gelu(-1) = -0.15865525393145707 */
	real x2[2] = { 1, -1 }, y2[2];
	gelu_forward(y2, x2, 2);
	CHECK_NEAR(y2[0], 0.8413447460685429, 1e-15);
	CHECK_NEAR(y2[1], -0.15865525393145707, 1e-15);
	free(c.x); free(c.wt); free(c.out); free(dx);
}

/* ---- bidirectional attention with a key padding mask -------------------- */

struct att_ctx {
	struct attention_shape s;
	const int32_t *len;
	real *q, *k, *v, *y, *att, *w;
};

static double att_loss(void *vc)
{
	struct att_ctx *c = vc;
	attention_bidir_forward(c->y, c->att, c->q, c->k, c->v, c->len, &c->s, 2);
	return dot(c->y, c->w, (size_t)c->s.B * c->s.T * c->s.n_heads * c->s.head_dim);
}

/* Rows [len, T) of the b-th sequence of x ([B*T][width]) are all zero. */
static int padding_rows_zero(const real *x, int B, int T, int width, const int32_t *len)
{
	for (int b = 0; b < B; b++)
		for (int t = len ? len[b] : T; t < T; t++)
			if (!all_zero(x + ((size_t)b * T + t) * width, (size_t)width))
				return 0;
	return 1;
}

static void check_attention_bidir(int B, int T, int H, int KV, int hd, const int32_t *len)
{
	struct att_ctx c = { .s = { B, T, H, KV, hd }, .len = len };
	size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * KV * hd;
	c.q = rnd_mean(nq, 0, 1); c.k = rnd_mean(nk, 0, 1); c.v = rnd_mean(nk, 0, 1); c.y = zeros(nq);
	c.att = zeros((size_t)B * H * T * T); c.w = rnd_mean(nq, 0, 1);
	real *scratch = zeros(2 * attention_scratch_per_thread(&c.s));
	real *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
	char name[96];

	att_loss(&c);
	CHECK(padding_rows_zero(c.y, B, T, H * hd, len));
	attention_bidir_backward(dq, dk, dv, c.w, c.att, c.q, c.k, c.v, len, &c.s, scratch, 2);
	CHECK(padding_rows_zero(dq, B, T, H * hd, len));
	CHECK(padding_rows_zero(dk, B, T, KV * hd, len));
	CHECK(padding_rows_zero(dv, B, T, KV * hd, len));
	snprintf(name, sizeof(name), "bidir attention B%d T%d H%d KV%d: dq", B, T, H, KV);
	CHECK_GRAD(name, att_loss, &c, c.q, dq, nq);
	snprintf(name, sizeof(name), "bidir attention B%d T%d H%d KV%d: dk", B, T, H, KV);
	CHECK_GRAD(name, att_loss, &c, c.k, dk, nk);
	snprintf(name, sizeof(name), "bidir attention B%d T%d H%d KV%d: dv", B, T, H, KV);
	CHECK_GRAD(name, att_loss, &c, c.v, dv, nk);

	/* A padded sequence attends exactly like its unpadded prefix alone. */
	if (len) {
		att_loss(&c);
		for (int b = 0; b < B; b++) {
			const int L = len[b];
			struct attention_shape s1 = { 1, L, H, KV, hd };
			real *y1 = zeros((size_t)L * H * hd), *att1 = zeros((size_t)H * L * L);
			attention_bidir_forward(y1, att1, c.q + (size_t)b * T * H * hd,
						c.k + (size_t)b * T * KV * hd,
						c.v + (size_t)b * T * KV * hd, NULL, &s1, 1);
			double e = 0;
			for (size_t i = 0; i < (size_t)L * H * hd; i++)
				e = fmax(e, fabs(y1[i] - c.y[(size_t)b * T * H * hd + i]));
			CHECK_MSG(e < 1e-14, "sequence %d of length %d: prefix differs by %.3g",
				  b, L, e);
			free(y1); free(att1);
		}
	}
	free(c.q); free(c.k); free(c.v); free(c.y); free(c.att); free(c.w); free(scratch);
	free(dq); free(dk); free(dv);
}

static void test_attention_bidir(void)
{
	const int32_t len3[3] = { 7, 4, 1 }, len2[2] = { 70, 66 };
	check_attention_bidir(3, 7, 2, 2, 4, len3);    /* padded rows, a length-1 row */
	check_attention_bidir(2, 6, 4, 2, 3, NULL);    /* no padding, grouped-query */
	check_attention_bidir(2, 70, 2, 1, 2, len2);   /* across the 64-row chunks */
}

/* ---- Houlsby bottleneck: loss = sum(bn(h) * w) -------------------------- */

struct bn_ctx {
	struct bottleneck *bn;
	real *h0, *h, *w;
	int N;
};

static double bn_loss(void *vc)
{
	struct bn_ctx *c = vc;
	size_t n = (size_t)c->N * c->bn->dim;
	memcpy(c->h, c->h0, n * sizeof(real));
	bottleneck_forward(c->bn, c->h, c->N);
	return dot(c->h, c->w, n);
}

static void check_bottleneck(enum bottleneck_act act, int trains_down, const char *label)
{
	const int N = 7, D = 6, S = 3;
	struct bn_ctx c = { .bn = bottleneck_new(D, S, act), .N = N };
	struct bottleneck *bn = c.bn;
	size_t n = (size_t)N * D;
	real *wd = rnd_mean((size_t)S * D, 0, 0.6), *bd = rnd_mean(S, 0, 0.3);
	real *wu = rnd_mean((size_t)D * S, 0, 0.6), *bu = rnd_mean(D, 0, 0.3);
	real *dwd = zeros((size_t)S * D), *dbd = zeros(S), *dwu = zeros((size_t)D * S);
	real *dbu = zeros(D), *dh = zeros(n);
	char name[64];

	bn->w_down = wd; bn->b_down = bd; bn->w_up = wu; bn->b_up = bu;
	bn->dw_down = trains_down ? dwd : NULL; bn->db_down = dbd;
	bn->dw_up = dwu; bn->db_up = dbu;
	c.h0 = rnd_mean(n, 0, 1); c.h = zeros(n); c.w = rnd_mean(n, 0, 1);
	bn_loss(&c);
	memcpy(dh, c.w, n * sizeof(real));
	bottleneck_backward(bn, dh, N);
	CHECK(trains_down ? bn->h_in != NULL : bn->h_in == NULL);
	snprintf(name, sizeof(name), "bottleneck %s dh", label);
	CHECK_GRAD(name, bn_loss, &c, c.h0, dh, n);
	if (trains_down) {
		snprintf(name, sizeof(name), "bottleneck %s dw_down", label);
		CHECK_GRAD(name, bn_loss, &c, wd, dwd, (size_t)S * D);
	}
	snprintf(name, sizeof(name), "bottleneck %s db_down", label);
	CHECK_GRAD(name, bn_loss, &c, bd, dbd, S);
	snprintf(name, sizeof(name), "bottleneck %s dw_up", label);
	CHECK_GRAD(name, bn_loss, &c, wu, dwu, (size_t)D * S);
	snprintf(name, sizeof(name), "bottleneck %s db_up", label);
	CHECK_GRAD(name, bn_loss, &c, bu, dbu, D);

	/* With up = 0 the block is the identity (the trainer's initialisation). */
	memset(wu, 0, sizeof(real) * D * S);
	memset(bu, 0, sizeof(real) * D);
	bn_loss(&c);
	CHECK(memcmp(c.h, c.h0, n * sizeof(real)) == 0);
	bottleneck_free(bn);
	free(wd); free(bd); free(wu); free(bu); free(dwd); free(dbd); free(dwu); free(dbu);
	free(dh); free(c.h0); free(c.h); free(c.w);
}

static void test_bottleneck(void)
{
	check_bottleneck(BOTTLENECK_GELU, 1, "gelu");
	check_bottleneck(BOTTLENECK_RELU, 1, "relu");
	check_bottleneck(BOTTLENECK_SILU, 1, "silu");
	check_bottleneck(BOTTLENECK_GELU, 0, "gelu, frozen down");
}

/* ---- losses ------------------------------------------------------------- */

struct loss_ctx {
	int B, C;
	real *z;
	const int32_t *labels;
	const real *targets;
};

static double xent_loss(void *vc)
{
	struct loss_ctx *c = vc;
	double s;
	seq_head_xent(c->z, c->labels, c->B, c->C, 0, NULL, &s);
	return s / 3;
}

static double mse_loss(void *vc)
{
	struct loss_ctx *c = vc;
	return seq_head_mse(c->z, c->targets, c->B, 0, NULL) / 3;
}

static void test_losses(void)
{
	const int32_t labels[4] = { 2, 0, 4, 2 }, bad[4] = { 2, 5, 0, 1 }, neg[4] = { 0, -1, 0, 0 };
	const real targets[4] = { 0.5, 4.2, -1, 3 };
	struct loss_ctx c = { .B = 4, .C = 5, .labels = labels, .targets = targets };
	real *dz = zeros(20), *keep = zeros(20);
	double s, s2;

	c.z = rnd_mean(20, 0, 2);
	CHECK_OK(seq_head_xent(c.z, labels, 4, 5, 1.0 / 3, dz, &s), (struct ada_err *)NULL);
	CHECK_NEAR(s / 3, xent_loss(&c), 1e-14);
	CHECK_GRAD("xent dlogits", xent_loss, &c, c.z, dz, 20);
	/* uniform logits: log C per example */
	real flat[10] = { 0 };
	CHECK_OK(seq_head_xent(flat, labels, 2, 5, 0, NULL, &s2), (struct ada_err *)NULL);
	CHECK_NEAR(s2, 2 * log(5.0), 1e-14);
	/* a label out of range is refused and nothing is written */
	memcpy(keep, dz, 20 * sizeof(real));
	CHECK_INT_EQ(seq_head_xent(c.z, bad, 4, 5, 1, dz, &s), ADA_EINVAL);
	CHECK_INT_EQ(seq_head_xent(c.z, neg, 4, 5, 1, dz, &s), ADA_EINVAL);
	CHECK(memcmp(keep, dz, 20 * sizeof(real)) == 0);

	c.B = 4;
	s = seq_head_mse(c.z, targets, 4, 1.0 / 3, dz);
	CHECK_NEAR(s / 3, mse_loss(&c), 1e-14);
	CHECK_GRAD("mse dpred", mse_loss, &c, c.z, dz, 4);
	free(c.z); free(dz); free(keep);
}

/* ---- heads: loss = xent (or mse) of the logits -------------------------- */

struct head_ctx {
	struct seq_head h;
	struct seq_head_acts a;
	real *hidden;
	const int32_t *len, *labels;
	const real *targets;
	int B, T, C;
};

static double head_run(struct head_ctx *c, real grad_scale)
{
	struct nn_step st = { .training = 1 };
	double s;

	seq_head_forward(&c->h, &c->a, c->hidden, c->len, c->B, c->T, &st);
	if (c->C == 1)
		return seq_head_mse(c->a.logits, c->targets, c->B, grad_scale, c->a.dlogits);
	seq_head_xent(c->a.logits, c->labels, c->B, c->C, grad_scale, c->a.dlogits, &s);
	return s;
}

static double head_loss(void *vc)
{
	return head_run(vc, 0);
}

static void check_head(const char *label, enum seq_pool pool, int dense, int out_bias, int C,
		       const int32_t *len)
{
	const int B = 3, T = 4, D = 6;
	const int32_t labels[3] = { 1, 0, C - 1 };
	const real targets[3] = { 0.3, -1.2, 2 };
	struct head_ctx c = { .B = B, .T = T, .C = C, .len = len, .labels = labels,
			      .targets = targets };
	struct nn_step st = { .training = 1 };
	size_t nh = (size_t)B * T * D;
	real *dW1 = zeros((size_t)D * D), *db1 = zeros(D), *dW2 = zeros((size_t)C * D);
	real *db2 = zeros(C), *dhidden = zeros(nh);
	char name[96];

	c.h.pool = pool;
	if (dense)
		c.h.dense = (struct linear){ .w = rnd_mean((size_t)D * D, 0, 0.5), .dw = dW1,
					     .b = rnd_mean(D, 0, 0.3), .db = db1, .in = D, .out = D };
	c.h.out = (struct linear){ .w = rnd_mean((size_t)C * D, 0, 0.5), .dw = dW2, .in = D, .out = C };
	if (out_bias) {
		c.h.out.b = rnd_mean(C, 0, 0.3);
		c.h.out.db = db2;
	}
	c.hidden = rnd_mean(nh, 0, 1);
	CHECK_OK(seq_head_acts_init(&c.a, D, C, B), (struct ada_err *)NULL);
	head_run(&c, 1);
	seq_head_backward(&c.h, &c.a, c.a.dlogits, dhidden, len, B, T, &st);

	/* only the pooled row of each sequence gets a gradient */
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			int pooled = t == (pool == SEQ_POOL_FIRST ? 0 : (len ? len[b] : T) - 1);
			if (!pooled)
				CHECK(all_zero(dhidden + ((size_t)b * T + t) * D, D));
		}
	snprintf(name, sizeof(name), "%s: dhidden", label);
	CHECK_GRAD(name, head_loss, &c, c.hidden, dhidden, nh);
	if (dense) {
		snprintf(name, sizeof(name), "%s: dense dW", label);
		CHECK_GRAD(name, head_loss, &c, (real *)c.h.dense.w, dW1, (size_t)D * D);
		snprintf(name, sizeof(name), "%s: dense db", label);
		CHECK_GRAD(name, head_loss, &c, (real *)c.h.dense.b, db1, D);
	}
	snprintf(name, sizeof(name), "%s: out dW", label);
	CHECK_GRAD(name, head_loss, &c, (real *)c.h.out.w, dW2, (size_t)C * D);
	if (out_bias) {
		snprintf(name, sizeof(name), "%s: out db", label);
		CHECK_GRAD(name, head_loss, &c, (real *)c.h.out.b, db2, C);
	}
	seq_head_acts_release(&c.a);
	free((void *)c.h.dense.w); free((void *)c.h.dense.b); free((void *)c.h.out.w);
	free((void *)c.h.out.b); free(c.hidden);
	free(dW1); free(db1); free(dW2); free(db2); free(dhidden);
}

static void test_heads(void)
{
	const int32_t len[3] = { 4, 2, 1 };
	check_head("bert pooler + classifier", SEQ_POOL_FIRST, 1, 1, 3, len);
	check_head("roberta head, regression", SEQ_POOL_FIRST, 1, 1, 1, NULL);
	check_head("llama last token + score", SEQ_POOL_LAST, 0, 0, 2, len);
	check_head("llama last token, no padding", SEQ_POOL_LAST, 0, 0, 2, NULL);
}

/* ---- parameter registry for the whole-model checks ---------------------- */

#define MAX_TENSORS 160

struct reg {
	const char *names[MAX_TENSORS];
	real *p[MAX_TENSORS], *g[MAX_TENSORS];
	size_t n[MAX_TENSORS];
	int count;
	void *owned[4 * MAX_TENSORS];
	int n_owned;
	struct lowrank *lr[32];
	int n_lr;
	struct bottleneck *bn[16];
	int n_bn;
};

static void *own(struct reg *r, void *p)
{
	if (r->n_owned == 4 * MAX_TENSORS) {
		fprintf(stderr, "registry full\n");
		exit(1);
	}
	r->owned[r->n_owned++] = p;
	return p;
}

/* A tensor N(mean, scale^2); trains: also a zeroed gradient, probed by the check. */
static real *tensor(struct reg *r, const char *name, size_t n, double mean, double scale,
		    int trains, real **grad)
{
	real *p = own(r, rnd_mean(n, mean, scale));

	if (grad)
		*grad = NULL;
	if (!trains)
		return p;
	if (r->count == MAX_TENSORS) {
		fprintf(stderr, "registry full\n");
		exit(1);
	}
	*grad = own(r, zeros(n));
	r->names[r->count] = name;
	r->p[r->count] = p;
	r->g[r->count] = *grad;
	r->n[r->count] = n;
	r->count++;
	return p;
}

static void reg_free(struct reg *r)
{
	for (int i = 0; i < r->n_lr; i++)
		adapter_free(&r->lr[i]->base);
	for (int i = 0; i < r->n_bn; i++)
		bottleneck_free(r->bn[i]);
	for (int i = 0; i < r->n_owned; i++)
		free(r->owned[i]);
}

/* A low-rank adapter with trained P, Q (and lambda for AdaLoRA). */
static struct lowrank *make_lowrank(struct reg *r, int in, int out, int svd, int id)
{
	const int rank = 2;
	struct lowrank *lr = lowrank_new(in, out, rank, svd ? 1.3 : 2.0, 0, id);

	r->lr[r->n_lr++] = lr;
	lr->P = tensor(r, "adapter P", (size_t)out * rank, 0, 0.3, 1, &lr->dP);
	lr->Q = tensor(r, "adapter Q", (size_t)rank * in, 0, 0.3, 1, &lr->dQ);
	lr->g = tensor(r, "adapter lambda", rank, svd ? 0 : 1, svd ? 0.8 : 0, svd, &lr->dg);
	return lr;
}

static struct bottleneck *make_bottleneck(struct reg *r, int dim, int size)
{
	struct bottleneck *bn = bottleneck_new(dim, size, BOTTLENECK_GELU);

	r->bn[r->n_bn++] = bn;
	bn->w_down = tensor(r, "bottleneck down", (size_t)size * dim, 0, 0.4, 1, &bn->dw_down);
	bn->b_down = tensor(r, "bottleneck down bias", size, 0, 0.2, 1, &bn->db_down);
	/* nonzero up, so every bottleneck gradient is exercised */
	bn->w_up = tensor(r, "bottleneck up", (size_t)dim * size, 0, 0.4, 1, &bn->dw_up);
	bn->b_up = tensor(r, "bottleneck up bias", dim, 0, 0.2, 1, &bn->db_up);
	return bn;
}

/* A head: dense (pooler / RoBERTa dense) when dense, trained in full. */
static void make_head(struct reg *r, struct seq_head *h, enum seq_pool pool, int dense,
		      int bias, int D, int C)
{
	memset(h, 0, sizeof(*h));
	h->pool = pool;
	if (dense) {
		h->dense.in = h->dense.out = D;
		h->dense.w = tensor(r, "head dense", (size_t)D * D, 0, 0.5, 1, &h->dense.dw);
		h->dense.b = tensor(r, "head dense bias", D, 0, 0.2, 1, &h->dense.db);
	}
	h->out.in = D;
	h->out.out = C;
	h->out.w = tensor(r, "head out", (size_t)C * D, 0, 0.5, 1, &h->out.dw);
	if (bias)
		h->out.b = tensor(r, "head out bias", C, 0, 0.2, 1, &h->out.db);
}

/* ---- the whole BERT with a head ----------------------------------------- */

enum method { M_FULL, M_LORA, M_ADALORA, M_BITFIT, M_HOULSBY };

struct tbert {
	struct reg r;
	struct bert_net net;
	struct bert_block blocks[2];
	struct bert_acts acts;
	struct seq_head head;
	struct seq_head_acts ha;
	int B, T, C;
	int32_t tok[10], types[10], len[2], labels[2];
	real targets[2];
};

static double tbert_run(struct tbert *t, int with_grad)
{
	struct nn_step st = { .training = 1, .seed = 3 };
	const real scale = with_grad ? (real)(1.0 / t->B) : 0;
	double loss = 0;

	CHECK_OK(bert_forward(&t->net, &t->acts, t->tok, t->types, t->len, t->B, &st),
		 (struct ada_err *)NULL);
	CHECK_OK(seq_head_forward(&t->head, &t->ha, t->acts.hidden, t->len, t->B, t->T, &st),
		 (struct ada_err *)NULL);
	if (t->C == 1)
		loss = seq_head_mse(t->ha.logits, t->targets, t->B, scale, t->ha.dlogits);
	else
		CHECK_OK(seq_head_xent(t->ha.logits, t->labels, t->B, t->C, scale, t->ha.dlogits,
				       &loss), (struct ada_err *)NULL);
	if (with_grad) {
		memset(t->acts.dhidden, 0, sizeof(real) * (size_t)t->B * t->T * t->net.d.dim);
		seq_head_backward(&t->head, &t->ha, t->ha.dlogits, t->acts.dhidden, t->len, t->B,
				  t->T, &st);
		bert_backward(&t->net, &t->acts, t->tok, t->types, t->len, t->B, t->acts.dhidden,
			      &st);
	}
	return loss / t->B;
}

static double tbert_loss(void *vt)
{
	return tbert_run(vt, 0);
}

static void tbert_build(struct tbert *t, enum method m, int C, int position_offset)
{
	const int D = 8, F = 12, L = 2, H = 2, V = 13, P = 12, TV = 2;
	const int full = m == M_FULL, bitfit = m == M_BITFIT;
	const int ln_trains = full || m == M_HOULSBY;   /* Houlsby trains the LayerNorms */
	struct reg *r = &t->r;

	memset(t, 0, sizeof(*t));
	t->B = 2;
	t->T = 5;
	t->C = C;
	t->net.d = (struct bert_dims){ .dim = D, .hidden = F, .n_layers = L, .n_heads = H,
				       .head_dim = D / H, .vocab = V, .max_positions = P,
				       .type_vocab = TV, .position_offset = position_offset,
				       .norm_eps = 1e-5 };
	t->net.blocks = t->blocks;
	t->net.word_emb = tensor(r, "word_emb", (size_t)V * D, 0, 0.5, full, &t->net.d_word_emb);
	t->net.pos_emb = tensor(r, "pos_emb", (size_t)P * D, 0, 0.5, full, &t->net.d_pos_emb);
	t->net.type_emb = tensor(r, "type_emb", (size_t)TV * D, 0, 0.5, full, &t->net.d_type_emb);
	t->net.ln_emb.w = tensor(r, "ln_emb w", D, 1, 0.2, ln_trains, &t->net.ln_emb.dw);
	t->net.ln_emb.b = tensor(r, "ln_emb b", D, 0, 0.2, ln_trains || bitfit, &t->net.ln_emb.db);
	for (int l = 0; l < L; l++) {
		static const char *names[6] = { "query", "key", "value", "attn_out", "inter",
						"output" };
		static const char *bias_names[6] = { "query bias", "key bias", "value bias",
						     "attn_out bias", "inter bias", "output bias" };
		const int outs[6] = { D, D, D, D, F, D }, ins[6] = { D, D, D, D, D, F };
		struct bert_block *b = &t->blocks[l];
		for (int mod = 0; mod < N_BERT_MODULES; mod++) {
			struct linear *lin = &b->lin[mod];
			lin->in = ins[mod];
			lin->out = outs[mod];
			lin->w = tensor(r, names[mod], (size_t)outs[mod] * ins[mod], 0, 0.4, full,
					&lin->dw);
			lin->b = tensor(r, bias_names[mod], outs[mod], 0, 0.2, full || bitfit,
					&lin->db);
			if (m == M_LORA || m == M_ADALORA)
				lin->adapter = &make_lowrank(r, ins[mod], outs[mod], m == M_ADALORA,
							     l * N_BERT_MODULES + mod)->base;
		}
		b->ln_attn.w = tensor(r, "ln_attn w", D, 1, 0.2, ln_trains, &b->ln_attn.dw);
		b->ln_attn.b = tensor(r, "ln_attn b", D, 0, 0.2, ln_trains || bitfit,
				      &b->ln_attn.db);
		b->ln_out.w = tensor(r, "ln_out w", D, 1, 0.2, ln_trains, &b->ln_out.dw);
		b->ln_out.b = tensor(r, "ln_out b", D, 0, 0.2, ln_trains || bitfit, &b->ln_out.db);
		if (m == M_HOULSBY) {
			b->bn_attn = make_bottleneck(r, D, 3);
			b->bn_out = make_bottleneck(r, D, 3);
		}
	}
	make_head(r, &t->head, SEQ_POOL_FIRST, 1, 1, D, C);
	t->len[0] = 5;
	t->len[1] = 3;
	for (int i = 0; i < t->B * t->T; i++) {
		t->tok[i] = (int32_t)rng_below(&rng, V);
		t->types[i] = (int32_t)rng_below(&rng, TV);
	}
	t->labels[0] = C - 1;
	t->labels[1] = 0;
	t->targets[0] = 1.5;
	t->targets[1] = -0.5;
	CHECK_OK(bert_acts_init(&t->acts, &t->net.d, t->B, t->T, 2), (struct ada_err *)NULL);
	CHECK_OK(seq_head_acts_init(&t->ha, D, C, t->B), (struct ada_err *)NULL);
}

static void check_bert(const char *label, enum method m, int C, int position_offset)
{
	struct tbert t;

	tbert_build(&t, m, C, position_offset);
	tbert_run(&t, 1);
	for (int i = 0; i < t.r.count; i++) {
		double num, ana;
		double e = fd_compare(tbert_loss, &t, t.r.p[i], t.r.g[i], t.r.n[i], MODEL_PROBES,
				      &num, &ana);
		/* Softmax ignores a shift shared by all keys, and q . b_k is one:
		 * the key bias has no gradient. Both sides must see that. */
		if (!strcmp(t.r.names[i], "key bias")) {
			CHECK_MSG(ana < 1e-14 && num < 1e-9,
				  "%s: key bias: gradient %.3g, numeric %.3g", label, ana, num);
			continue;
		}
		CHECK_MSG(e < TOL, "%s: %s (#%d): relative error %.3g", label, t.r.names[i], i, e);
	}
	bert_acts_release(&t.acts);
	seq_head_acts_release(&t.ha);
	reg_free(&t.r);
}

static void test_bert_full(void)
{
	check_bert("bert full", M_FULL, 3, 0);
	check_bert("roberta full, regression", M_FULL, 1, 2);
}

static void test_bert_lora(void)
{
	check_bert("bert lora", M_LORA, 3, 0);
}

static void test_bert_adalora(void)
{
	check_bert("bert adalora", M_ADALORA, 2, 2);
}

static void test_bert_bitfit(void)
{
	check_bert("bert bitfit", M_BITFIT, 3, 0);
	check_bert("bert bitfit, regression", M_BITFIT, 1, 0);
}

static void test_bert_houlsby(void)
{
	check_bert("bert houlsby", M_HOULSBY, 2, 0);
}

/* ---- the Llama body with a last-token head ------------------------------ */

struct tllama {
	struct reg r;
	struct llama_net net;
	struct llama_block blocks[2];
	struct llama_acts acts;
	struct seq_head head;
	struct seq_head_acts ha;
	int B, T, C;
	int32_t tok[10], len[2], labels[2];
};

static double tllama_run(struct tllama *t, int with_grad)
{
	struct nn_step st = { .training = 1, .seed = 9 };
	double loss = 0;

	CHECK_OK(llama_forward_hidden(&t->net, &t->acts, t->tok, t->B, &st),
		 (struct ada_err *)NULL);
	CHECK_OK(seq_head_forward(&t->head, &t->ha, t->acts.xf, t->len, t->B, t->T, &st),
		 (struct ada_err *)NULL);
	CHECK_OK(seq_head_xent(t->ha.logits, t->labels, t->B, t->C,
			       with_grad ? (real)(1.0 / t->B) : 0, t->ha.dlogits, &loss),
		 (struct ada_err *)NULL);
	if (with_grad) {
		memset(t->acts.dhidden, 0, sizeof(real) * (size_t)t->B * t->T * t->net.d.dim);
		seq_head_backward(&t->head, &t->ha, t->ha.dlogits, t->acts.dhidden, t->len, t->B,
				  t->T, &st);
		llama_backward_hidden(&t->net, &t->acts, t->tok, t->B, t->acts.dhidden, &st);
	}
	return loss / t->B;
}

static double tllama_loss(void *vt)
{
	return tllama_run(vt, 0);
}

static void check_llama(const char *label, int full, int adapters)
{
	const int D = 8, F = 12, L = 2, H = 4, KV = 2, hd = 2, V = 11, C = 3;
	const int QD = H * hd, KD = KV * hd;
	struct tllama t;
	struct reg *r = &t.r;

	memset(&t, 0, sizeof(t));
	t.B = 2;
	t.T = 5;
	t.C = C;
	t.net.d = (struct llama_dims){ .dim = D, .hidden = F, .n_layers = L, .n_heads = H,
				       .n_kv_heads = KV, .head_dim = hd, .vocab = V,
				       .rope_theta = 10000, .norm_eps = 1e-5 };
	t.net.blocks = t.blocks;
	t.net.tok_emb = tensor(r, "tok_emb", (size_t)V * D, 0, 0.5, full, &t.net.d_tok_emb);
	for (int l = 0; l < L; l++) {
		struct llama_block *b = &t.blocks[l];
		const int outs[7] = { QD, KD, KD, D, F, F, D }, ins[7] = { D, D, D, QD, D, D, F };
		b->attn_norm = tensor(r, "attn_norm", D, 1, 0.3, full, &b->d_attn_norm);
		b->ffn_norm = tensor(r, "ffn_norm", D, 1, 0.3, full, &b->d_ffn_norm);
		for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
			struct linear *lin = &b->lin[mod];
			lin->in = ins[mod];
			lin->out = outs[mod];
			lin->w = tensor(r, "linear", (size_t)outs[mod] * ins[mod], 0, 0.4, full,
					&lin->dw);
			if (adapters)
				lin->adapter = &make_lowrank(r, ins[mod], outs[mod], 0,
							     l * N_LLAMA_MODULES + mod)->base;
		}
		if (adapters) {
			b->bn_attn = make_bottleneck(r, D, 3);
			b->bn_ffn = make_bottleneck(r, D, 3);
		}
	}
	t.net.final_norm = tensor(r, "final_norm", D, 1, 0.3, full, &t.net.d_final_norm);
	make_head(r, &t.head, SEQ_POOL_LAST, 0, 0, D, C);
	t.len[0] = 5;
	t.len[1] = 2;
	for (int i = 0; i < t.B * t.T; i++)
		t.tok[i] = (int32_t)rng_below(&rng, V);
	t.labels[0] = 2;
	t.labels[1] = 1;
	CHECK_OK(llama_acts_init_hidden(&t.acts, &t.net.d, t.B, t.T, 2), (struct ada_err *)NULL);
	CHECK(t.acts.logits == NULL && t.acts.dhidden != NULL);
	/* the LM-head forward needs logits these acts do not have */
	CHECK_INT_EQ(llama_forward(&t.net, &t.acts, t.tok, NULL, t.B, 0, NULL, NULL, NULL),
		     ADA_EINVAL);
	CHECK_OK(seq_head_acts_init(&t.ha, D, C, t.B), (struct ada_err *)NULL);

	tllama_run(&t, 1);
	for (int i = 0; i < r->count; i++) {
		double e = fd_rel_error(tllama_loss, &t, r->p[i], r->g[i], r->n[i], MODEL_PROBES);
		CHECK_MSG(e < TOL, "%s: %s (#%d): relative error %.3g", label, r->names[i], i, e);
	}
	llama_acts_release(&t.acts);
	seq_head_acts_release(&t.ha);
	reg_free(r);
}

static void test_llama_classifier(void)
{
	check_llama("llama full + score", 1, 0);
	check_llama("llama lora + bottlenecks + score", 0, 1);
}

int main(void)
{
	rng_seed(&rng, 4321);
	RUN(test_layernorm);
	RUN(test_gelu);
	RUN(test_attention_bidir);
	RUN(test_bottleneck);
	RUN(test_losses);
	RUN(test_heads);
	RUN(test_bert_full);
	RUN(test_bert_lora);
	RUN(test_bert_adalora);
	RUN(test_bert_bitfit);
	RUN(test_bert_houlsby);
	RUN(test_llama_classifier);
	return check_summary();
}
