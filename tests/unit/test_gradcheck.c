/*
 * Finite-difference gradient checks, in double precision, of every nn/ op's
 * backward and of the whole Llama model with LoRA, with the AdaLoRA SVD
 * adapter (+ orthogonality regulariser) and with full fine-tuning.
 *
 * Built against the double instantiation of nn/ (real = double). Each check
 * compares the analytic gradient with central differences (h = 1e-5) and
 * requires the relative error ||analytic - numeric|| / max(||analytic||,
 * ||numeric||) to stay below 1e-6 for every tensor.
 */
#include "check.h"

#include <stdint.h>

#include "format/quant.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/llama.h"
#include "nn/lowrank.h"
#include "nn/ops.h"
#include "nn/orth_reg.h"
#include "util/rng.h"
#include "gradcheck.h"

#define CHECK_GRAD(name, f, ctx, param, grad, n) do { \
	double _e = fd_rel_error(f, ctx, param, grad, n, 400); \
	CHECK_MSG(_e < TOL, "%s: relative error %.3g", name, _e); \
} while (0)

/* ---- single ops: loss = sum(out * w) for a fixed random w -------------- */

struct op_ctx {
	int N, C;
	real *x, *p, *w, *out, *aux;
	int32_t *ids;
	real eps;
};

static double rmsnorm_loss(void *vc)
{
	struct op_ctx *c = vc;
	rmsnorm_forward(c->out, c->aux, c->x, c->p, c->N, c->C, c->eps);
	return dot(c->out, c->w, (size_t)c->N * c->C);
}

static void test_rmsnorm(void)
{
	struct op_ctx c = { .N = 5, .C = 12, .eps = 1e-5 };
	size_t n = (size_t)c.N * c.C;
	c.x = rnd(n, 1); c.p = rnd(c.C, 1); c.w = rnd(n, 1); c.out = zeros(n); c.aux = zeros(c.N);
	real *dx = zeros(n), *dp = zeros(c.C);
	rmsnorm_loss(&c);
	rmsnorm_backward(dx, dp, c.w, c.x, c.p, c.aux, c.N, c.C);
	CHECK_GRAD("rmsnorm dx", rmsnorm_loss, &c, c.x, dx, n);
	CHECK_GRAD("rmsnorm dw", rmsnorm_loss, &c, c.p, dp, c.C);
	free(c.x); free(c.p); free(c.w); free(c.out); free(c.aux); free(dx); free(dp);
}

struct rope_ctx {
	int B, T, H, hd;
	real *x, *work, *w, *cos_t, *sin_t;
};

static double rope_loss(void *vc)
{
	struct rope_ctx *c = vc;
	size_t n = (size_t)c->B * c->T * c->H * c->hd;
	memcpy(c->work, c->x, n * sizeof(real));
	rope_forward(c->work, c->cos_t, c->sin_t, c->B, c->T, c->H, c->hd);
	return dot(c->work, c->w, n);
}

static void test_rope(void)
{
	struct rope_ctx c = { .B = 2, .T = 5, .H = 3, .hd = 6 };
	size_t n = (size_t)c.B * c.T * c.H * c.hd;
	c.x = rnd(n, 1); c.w = rnd(n, 1); c.work = zeros(n);
	c.cos_t = zeros((size_t)c.T * c.hd / 2); c.sin_t = zeros((size_t)c.T * c.hd / 2);
	rope_tables(c.cos_t, c.sin_t, c.T, c.hd, 10000.0);
	real *dx = zeros(n);
	memcpy(dx, c.w, n * sizeof(real));
	rope_backward(dx, c.cos_t, c.sin_t, c.B, c.T, c.H, c.hd);
	CHECK_GRAD("rope dx", rope_loss, &c, c.x, dx, n);
	free(c.x); free(c.w); free(c.work); free(c.cos_t); free(c.sin_t); free(dx);
}

static double swiglu_loss(void *vc)
{
	struct op_ctx *c = vc;
	swiglu_forward(c->out, c->x, c->p, c->N);
	return dot(c->out, c->w, (size_t)c->N);
}

static void test_swiglu(void)
{
	struct op_ctx c = { .N = 40 };
	c.x = rnd(c.N, 2); c.p = rnd(c.N, 1); c.w = rnd(c.N, 1); c.out = zeros(c.N);
	real *dg = zeros(c.N), *du = zeros(c.N);
	swiglu_backward(dg, du, c.w, c.x, c.p, c.N);
	CHECK_GRAD("swiglu dg", swiglu_loss, &c, c.x, dg, c.N);
	CHECK_GRAD("swiglu du", swiglu_loss, &c, c.p, du, c.N);
	free(c.x); free(c.p); free(c.w); free(c.out); free(dg); free(du);
}

struct xent_ctx {
	int N, V;
	real *z, *work;
	int32_t *tgt;
	double *rows;
};

static double xent_loss(void *vc)
{
	struct xent_ctx *c = vc;
	int64_t cnt;
	memcpy(c->work, c->z, sizeof(real) * (size_t)c->N * c->V);
	return softmax_xent(c->work, c->tgt, c->N, c->V, 0, c->rows, &cnt) / 3.0;
}

static void test_softmax_xent(void)
{
	struct xent_ctx c = { .N = 6, .V = 9 };
	int32_t tgt[6] = { 3, -1, 0, 8, 4, 4 };
	size_t n = (size_t)c.N * c.V;
	int64_t cnt;
	c.z = rnd(n, 2); c.work = zeros(n); c.tgt = tgt; c.rows = calloc(c.N, sizeof(double));
	real *g = zeros(n);
	memcpy(g, c.z, n * sizeof(real));
	double nll = softmax_xent(g, tgt, c.N, c.V, 1.0 / 3.0, c.rows, &cnt);
	CHECK_INT_EQ(cnt, 5);
	CHECK_NEAR(nll / 3.0, xent_loss(&c), 1e-12);
	CHECK_GRAD("softmax_xent dlogits", xent_loss, &c, c.z, g, n);
	free(c.z); free(c.work); free(c.rows); free(g);
}

struct embed_ctx {
	int N, C, V;
	int32_t *ids;
	real *table, *out, *w;
};

static double embed_loss(void *vc)
{
	struct embed_ctx *c = vc;
	embedding_forward(c->out, c->ids, c->table, c->N, c->C);
	return dot(c->out, c->w, (size_t)c->N * c->C);
}

static void test_embedding(void)
{
	int32_t ids[7] = { 2, 0, 2, 4, 1, 2, 0 };
	struct embed_ctx c = { .N = 7, .C = 5, .V = 6, .ids = ids };
	c.table = rnd((size_t)c.V * c.C, 1); c.out = zeros((size_t)c.N * c.C);
	c.w = rnd((size_t)c.N * c.C, 1);
	real *dt = zeros((size_t)c.V * c.C);
	embedding_backward(dt, ids, c.w, c.N, c.C);
	CHECK_GRAD("embedding dtable", embed_loss, &c, c.table, dt, (size_t)c.V * c.C);
	free(c.table); free(c.out); free(c.w); free(dt);
}

struct att_ctx {
	struct attention_shape s;
	real *q, *k, *v, *y, *att, *w, *scratch;
};

static double att_loss(void *vc)
{
	struct att_ctx *c = vc;
	attention_forward(c->y, c->att, c->q, c->k, c->v, &c->s, c->scratch, 2);
	return dot(c->y, c->w, (size_t)c->s.B * c->s.T * c->s.n_heads * c->s.head_dim);
}

static void check_attention(int B, int T, int H, int KV, int hd)
{
	struct att_ctx c = { .s = { B, T, H, KV, hd } };
	size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * KV * hd;
	c.q = rnd(nq, 1); c.k = rnd(nk, 1); c.v = rnd(nk, 1); c.y = zeros(nq);
	c.att = zeros((size_t)B * H * T * T); c.w = rnd(nq, 1);
	c.scratch = zeros(2 * attention_scratch_per_thread(&c.s));
	real *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
	att_loss(&c);
	/* causal: probabilities above the diagonal are exactly zero */
	CHECK(c.att[1] == 0 && c.att[(size_t)T - 1] == 0);
	attention_backward(dq, dk, dv, c.w, c.att, c.q, c.k, c.v, &c.s, c.scratch, 2);
	CHECK_GRAD("attention dq", att_loss, &c, c.q, dq, nq);
	CHECK_GRAD("attention dk", att_loss, &c, c.k, dk, nk);
	CHECK_GRAD("attention dv", att_loss, &c, c.v, dv, nk);
	free(c.q); free(c.k); free(c.v); free(c.y); free(c.att); free(c.w); free(c.scratch);
	free(dq); free(dk); free(dv);
}

static void test_attention(void)
{
	check_attention(2, 5, 4, 4, 4);   /* multi-head */
	check_attention(2, 6, 4, 2, 6);   /* grouped-query */
	check_attention(1, 4, 3, 1, 2);   /* multi-query */
}

/* linear + lowrank adapter: loss = sum(y * w) */
struct lin_ctx {
	struct linear l;
	real *x, *y, *w;
	int N;
	struct nn_step st;
};

static double lin_loss(void *vc)
{
	struct lin_ctx *c = vc;
	linear_forward(&c->l, c->x, c->N, c->y, &c->st);
	return dot(c->y, c->w, (size_t)c->N * c->l.out);
}

static void check_linear(int with_adapter, int train_gate, double dropout)
{
	const int N = 6, in = 7, out = 5, r = 3;
	struct lin_ctx c = { .N = N, .st = { .training = 1, .seed = 11, .step = 3 } };
	real *W = rnd((size_t)out * in, 0.5), *b = rnd(out, 0.5);
	real *dW = zeros((size_t)out * in), *db = zeros(out), *dx = zeros((size_t)N * in);
	struct lowrank *lr = NULL;
	real *P = NULL, *Q = NULL, *g = NULL, *dP = NULL, *dQ = NULL, *dg = NULL;

	c.x = rnd((size_t)N * in, 1); c.y = zeros((size_t)N * out); c.w = rnd((size_t)N * out, 1);
	c.l = (struct linear){ .w = W, .dw = dW, .b = b, .db = db, .in = in, .out = out };
	if (with_adapter) {
		lr = lowrank_new(in, out, r, 1.7, dropout, 1);
		P = rnd((size_t)out * r, 0.5); Q = rnd((size_t)r * in, 0.5); g = rnd(r, 1);
		dP = zeros((size_t)out * r); dQ = zeros((size_t)r * in); dg = zeros(r);
		lr->P = P; lr->Q = Q; lr->g = g; lr->dP = dP; lr->dQ = dQ;
		lr->dg = train_gate ? dg : NULL;
		c.l.adapter = &lr->base;
	}
	lin_loss(&c);
	linear_backward(&c.l, c.x, c.w, N, dx, &c.st);
	CHECK_GRAD("linear dx", lin_loss, &c, c.x, dx, (size_t)N * in);
	CHECK_GRAD("linear dW", lin_loss, &c, W, dW, (size_t)out * in);
	CHECK_GRAD("linear db", lin_loss, &c, b, db, out);
	if (with_adapter) {
		CHECK_GRAD("lowrank dP", lin_loss, &c, P, dP, (size_t)out * r);
		CHECK_GRAD("lowrank dQ", lin_loss, &c, Q, dQ, (size_t)r * in);
		if (train_gate)
			CHECK_GRAD("lowrank dlambda", lin_loss, &c, g, dg, r);
		adapter_free(&lr->base);
	}
	free(W); free(b); free(dW); free(db); free(dx); free(c.x); free(c.y); free(c.w);
	free(P); free(Q); free(g); free(dP); free(dQ); free(dg);
}

static void test_linear_and_adapters(void)
{
	check_linear(0, 0, 0);
	check_linear(1, 0, 0);      /* LoRA: gate fixed */
	check_linear(1, 1, 0);      /* AdaLoRA SVD: lambda trained */
	check_linear(1, 1, 0.3);    /* with dropout (deterministic per step) */
}

/* A frozen base weight in a block type (nn/frozen.h's path, dequantized
 * tiles in double): dx, the bias and an AdaLoRA adapter's gradients by
 * finite differences. in = 512 spans two super-blocks. */
static void check_linear_frozen(uint32_t type)
{
	const int N = 4, in = 512, out = 5, r = 3;
	struct lin_ctx c = { .N = N, .st = { .training = 1, .seed = 5, .step = 2 } };
	float *wf = malloc(sizeof(float) * (size_t)out * in);
	uint8_t *q = malloc((size_t)out * in * 4);
	real *b = rnd(out, 0.5), *db = zeros(out), *dx = zeros((size_t)N * in);
	real *P = rnd((size_t)out * r, 0.5), *Q = rnd((size_t)r * in, 0.5), *g = rnd(r, 1);
	real *dP = zeros((size_t)out * r), *dQ = zeros((size_t)r * in), *dg = zeros(r);
	struct lowrank *lr = lowrank_new(in, out, r, 1.3, 0, 2);
	struct frozen_mat fm = { q, type, out, in, (size_t)quant_bytes(type, (uint64_t)in) };

	if (!wf || !q || !lr) {
		CHECK(0);
		goto out;
	}
	for (int i = 0; i < out * in; i++)
		wf[i] = (float)(0.3 * rng_normal(&rng));
	CHECK_INT_EQ(quant_quantize(type, wf, q, (size_t)out * in), 0);
	c.x = rnd((size_t)N * in, 1); c.y = zeros((size_t)N * out); c.w = rnd((size_t)N * out, 1);
	c.l = (struct linear){ .w = NULL, .fw = &fm, .b = b, .db = db, .in = in, .out = out };
	lr->P = P; lr->Q = Q; lr->g = g; lr->dP = dP; lr->dQ = dQ; lr->dg = dg;
	c.l.adapter = &lr->base;
	lin_loss(&c);
	linear_backward(&c.l, c.x, c.w, N, dx, &c.st);
	CHECK_GRAD("frozen linear dx", lin_loss, &c, c.x, dx, (size_t)N * in);
	CHECK_GRAD("frozen linear db", lin_loss, &c, b, db, out);
	CHECK_GRAD("frozen linear dP", lin_loss, &c, P, dP, (size_t)out * r);
	CHECK_GRAD("frozen linear dQ", lin_loss, &c, Q, dQ, (size_t)r * in);
	CHECK_GRAD("frozen linear dlambda", lin_loss, &c, g, dg, r);
	free(c.x); free(c.y); free(c.w);
out:
	if (lr)
		adapter_free(&lr->base);
	free(wf); free(q); free(b); free(db); free(dx);
	free(P); free(Q); free(g); free(dP); free(dQ); free(dg);
}

static void test_linear_frozen(void)
{
	check_linear_frozen(GGML_TYPE_Q4_K);
	check_linear_frozen(GGML_TYPE_Q8_0);
	check_linear_frozen(GGML_TYPE_BF16);
}

struct orth_ctx {
	real *P, *Q, *scratch;
	int out, in, r;
};

static double orth_loss(void *vc)
{
	struct orth_ctx *c = vc;
	return 0.37 * orth_reg_pair(c->P, c->Q, c->out, c->in, c->r, 0, NULL, NULL, c->scratch);
}

static void test_orth_reg(void)
{
	struct orth_ctx c = { .out = 9, .in = 7, .r = 4 };
	c.P = rnd((size_t)c.out * c.r, 0.6); c.Q = rnd((size_t)c.r * c.in, 0.6);
	c.scratch = zeros((size_t)c.r * c.r);
	real *dP = zeros((size_t)c.out * c.r), *dQ = zeros((size_t)c.r * c.in);
	orth_reg_pair(c.P, c.Q, c.out, c.in, c.r, 0.37, dP, dQ, c.scratch);
	CHECK_GRAD("orth_reg dP", orth_loss, &c, c.P, dP, (size_t)c.out * c.r);
	CHECK_GRAD("orth_reg dQ", orth_loss, &c, c.Q, dQ, (size_t)c.r * c.in);
	/* An orthonormal Q (rows of the identity) has zero penalty and gradient. */
	real Qi[2 * 3] = { 1, 0, 0, 0, 1, 0 }, Pi[3 * 2] = { 1, 0, 0, 1, 0, 0 };
	real dQi[6] = { 0 }, dPi[6] = { 0 };
	CHECK_NEAR(orth_reg_pair(Pi, Qi, 3, 3, 2, 1, dPi, dQi, c.scratch), 0, 1e-15);
	CHECK(dQi[0] == 0 && dPi[0] == 0);
	free(c.P); free(c.Q); free(c.scratch); free(dP); free(dQ);
}

/* ---- the whole model --------------------------------------------------- */

enum method { M_FULL, M_LORA, M_SVD };

struct tiny {
	struct llama_dims d;
	struct llama_net net;
	struct llama_block *blocks;
	struct llama_acts acts;
	int B, T;
	int32_t *tokens, *targets;
	/* every parameter tensor and its gradient, for probing */
	real *params[128], *grads[128];
	size_t sizes[128];
	const char *names[128];
	int n_params;
	struct lowrank *adapters[64];
	int n_adapters;
	double orth_gamma;
	real *scratch;
};

static void add_param(struct tiny *t, const char *name, real *p, real *g, size_t n)
{
	t->names[t->n_params] = name;
	t->params[t->n_params] = p;
	t->grads[t->n_params] = g;
	t->sizes[t->n_params] = n;
	t->n_params++;
}

static double tiny_loss_and_grad(struct tiny *t, int with_grad)
{
	double nll;
	int64_t cnt = 0;
	struct nn_step st = { .training = 1, .seed = 5, .step = 0 };
	int64_t total = 0;

	for (int i = 0; i < t->B * t->T; i++)
		total += t->targets[i] >= 0;
	llama_forward(&t->net, &t->acts, t->tokens, t->targets, t->B,
		      with_grad ? (real)(1.0 / total) : 0, &nll, &cnt, &st);
	double loss = nll / cnt;
	if (t->orth_gamma > 0) {
		double w = t->orth_gamma / (2.0 * t->n_adapters), r = 0;
		for (int i = 0; i < t->n_adapters; i++) {
			struct lowrank *lr = t->adapters[i];
			r += orth_reg_pair(lr->P, lr->Q, lr->base.out, lr->base.in, lr->r,
					   with_grad ? (real)w : 0, lr->dP, lr->dQ, t->scratch);
		}
		loss += w * r;
	}
	if (with_grad)
		llama_backward(&t->net, &t->acts, t->tokens, t->B, &st);
	return loss;
}

static double tiny_loss(void *vt)
{
	return tiny_loss_and_grad(vt, 0);
}

static void tiny_build(struct tiny *t, enum method m, int tied, int qkv_bias, int n_kv,
		       double dropout)
{
	static const char *mod_names[] = { "q", "k", "v", "o", "gate", "up", "down" };
	struct llama_dims d = { .dim = 8, .hidden = 12, .n_layers = 2, .n_heads = 4,
				.n_kv_heads = n_kv, .head_dim = 2, .vocab = 11,
				.rope_theta = 10000, .norm_eps = 1e-5 };
	const int D = d.dim, F = d.hidden, QD = d.n_heads * d.head_dim;
	const int KD = d.n_kv_heads * d.head_dim;
	int full = m == M_FULL;

	memset(t, 0, sizeof(*t));
	t->d = d;
	t->B = 2;
	t->T = 5;
	t->blocks = calloc(d.n_layers, sizeof(*t->blocks));
	t->net.d = d;
	t->net.blocks = t->blocks;
	real *emb = rnd((size_t)d.vocab * D, 0.5), *demb = full ? zeros((size_t)d.vocab * D) : NULL;
	t->net.tok_emb = emb;
	t->net.d_tok_emb = demb;
	if (full)
		add_param(t, "tok_emb", emb, demb, (size_t)d.vocab * D);
	for (int l = 0; l < d.n_layers; l++) {
		struct llama_block *b = &t->blocks[l];
		real *n1 = rnd(D, 0.3), *n2 = rnd(D, 0.3);
		for (int i = 0; i < D; i++) { n1[i] += 1; n2[i] += 1; }
		b->attn_norm = n1;
		b->ffn_norm = n2;
		if (full) {
			b->d_attn_norm = zeros(D);
			b->d_ffn_norm = zeros(D);
			add_param(t, "attn_norm", n1, b->d_attn_norm, D);
			add_param(t, "ffn_norm", n2, b->d_ffn_norm, D);
		}
		int outs[7] = { QD, KD, KD, D, F, F, D }, ins[7] = { D, D, D, QD, D, D, F };
		for (int mod = 0; mod < 7; mod++) {
			struct linear *lin = &b->lin[mod];
			size_t n = (size_t)outs[mod] * ins[mod];
			real *w = rnd(n, 0.4);
			lin->w = w;
			lin->in = ins[mod];
			lin->out = outs[mod];
			if (full) {
				lin->dw = zeros(n);
				add_param(t, mod_names[mod], w, lin->dw, n);
			}
			if (qkv_bias && mod <= MOD_V) {
				real *bias = rnd(outs[mod], 0.2);
				lin->b = bias;
				if (full) {
					lin->db = zeros(outs[mod]);
					add_param(t, "bias", bias, lin->db, outs[mod]);
				}
			}
			if (m == M_LORA || m == M_SVD) {
				const int r = 2;
				struct lowrank *lr = lowrank_new(ins[mod], outs[mod], r,
								 m == M_SVD ? 1.3 : 2.0, dropout,
								 l * 7 + mod);
				lr->P = rnd((size_t)outs[mod] * r, 0.3);   /* nonzero B: nontrivial grads */
				lr->Q = rnd((size_t)r * ins[mod], 0.3);
				lr->g = rnd(r, m == M_SVD ? 0.8 : 0);
				if (m == M_LORA)
					for (int i = 0; i < r; i++)
						lr->g[i] = 1;
				lr->dP = zeros((size_t)outs[mod] * r);
				lr->dQ = zeros((size_t)r * ins[mod]);
				add_param(t, "adapter P", lr->P, lr->dP, (size_t)outs[mod] * r);
				add_param(t, "adapter Q", lr->Q, lr->dQ, (size_t)r * ins[mod]);
				if (m == M_SVD) {
					lr->dg = zeros(r);
					add_param(t, "adapter lambda", lr->g, lr->dg, r);
				}
				lin->adapter = &lr->base;
				t->adapters[t->n_adapters++] = lr;
			}
		}
	}
	real *fn = rnd(D, 0.3);
	for (int i = 0; i < D; i++)
		fn[i] += 1;
	t->net.final_norm = fn;
	if (full) {
		t->net.d_final_norm = zeros(D);
		add_param(t, "final_norm", fn, t->net.d_final_norm, D);
	}
	if (tied) {
		t->net.output = emb;
		t->net.d_output = demb;
	} else {
		real *o = rnd((size_t)d.vocab * D, 0.5);
		t->net.output = o;
		if (full) {
			t->net.d_output = zeros((size_t)d.vocab * D);
			add_param(t, "output", o, t->net.d_output, (size_t)d.vocab * D);
		}
	}
	t->tokens = malloc(sizeof(int32_t) * t->B * t->T);
	t->targets = malloc(sizeof(int32_t) * t->B * t->T);
	for (int i = 0; i < t->B * t->T; i++) {
		t->tokens[i] = (int32_t)rng_below(&rng, d.vocab);
		t->targets[i] = i % 4 == 3 ? -1 : (int32_t)rng_below(&rng, d.vocab);
	}
	t->scratch = zeros(64);
	CHECK_OK(llama_acts_init(&t->acts, &d, t->B, t->T, 2), (struct ada_err *)NULL);
}

static void tiny_free(struct tiny *t)
{
	for (int l = 0; l < t->d.n_layers; l++) {
		struct llama_block *b = &t->blocks[l];
		free((void *)b->attn_norm); free((void *)b->ffn_norm);
		free(b->d_attn_norm); free(b->d_ffn_norm);
		for (int mod = 0; mod < 7; mod++) {
			free((void *)b->lin[mod].w); free(b->lin[mod].dw);
			free((void *)b->lin[mod].b); free(b->lin[mod].db);
		}
	}
	for (int i = 0; i < t->n_adapters; i++) {
		struct lowrank *lr = t->adapters[i];
		free(lr->P); free(lr->Q); free(lr->g); free(lr->dP); free(lr->dQ); free(lr->dg);
		adapter_free(&lr->base);
	}
	if (t->net.output != t->net.tok_emb) {
		free((void *)t->net.output);
		free(t->net.d_output);
	}
	free((void *)t->net.tok_emb); free(t->net.d_tok_emb);
	free((void *)t->net.final_norm); free(t->net.d_final_norm);
	free(t->blocks); free(t->tokens); free(t->targets); free(t->scratch);
	llama_acts_release(&t->acts);
}

static void check_model(const char *label, enum method m, int tied, int qkv_bias, int n_kv,
			double gamma)
{
	struct tiny t;

	tiny_build(&t, m, tied, qkv_bias, n_kv, 0);
	t.orth_gamma = gamma;
	tiny_loss_and_grad(&t, 1);
	for (int i = 0; i < t.n_params; i++) {
		double e = fd_rel_error(tiny_loss, &t, t.params[i], t.grads[i], t.sizes[i], 60);
		CHECK_MSG(e < TOL, "%s: %s (#%d): relative error %.3g", label, t.names[i], i, e);
	}
	tiny_free(&t);
}

static void test_model_full(void)
{
	check_model("full, untied, GQA", M_FULL, 0, 0, 2, 0);
	check_model("full, tied, MHA, qkv bias", M_FULL, 1, 1, 4, 0);
}

static void test_model_lora(void)
{
	check_model("lora", M_LORA, 1, 0, 2, 0);
}

static void test_model_adalora(void)
{
	check_model("adalora svd + orth reg", M_SVD, 1, 0, 2, 0.5);
}

/* Gradient checkpointing recomputes each block in backward: the gradients
 * must be those of the plain run bit for bit (same operations, same inputs,
 * dropout keyed on the step), and pass the finite-difference check too. */
static void check_checkpointing(const char *label, enum method m, double dropout)
{
	struct tiny t;
	real *plain[128];
	size_t plain_bytes;

	tiny_build(&t, m, 0, 1, 2, dropout);
	tiny_loss_and_grad(&t, 1);
	for (int i = 0; i < t.n_params; i++) {
		plain[i] = malloc(sizeof(real) * t.sizes[i]);
		memcpy(plain[i], t.grads[i], sizeof(real) * t.sizes[i]);
		memset(t.grads[i], 0, sizeof(real) * t.sizes[i]);
	}
	plain_bytes = t.acts.bytes;
	llama_acts_release(&t.acts);
	CHECK_OK(llama_acts_init_flags(&t.acts, &t.d, t.B, t.T, 2, LLAMA_ACTS_CHECKPOINT),
		 (struct ada_err *)NULL);
	CHECK_MSG(t.acts.bytes < plain_bytes, "%s: %zu activation bytes, %zu without", label,
		  t.acts.bytes, plain_bytes);
	tiny_loss_and_grad(&t, 1);
	for (int i = 0; i < t.n_params; i++) {
		CHECK_MSG(!memcmp(plain[i], t.grads[i], sizeof(real) * t.sizes[i]),
			  "%s: %s (#%d) differs from the run without checkpointing", label,
			  t.names[i], i);
		free(plain[i]);
	}
	for (int i = 0; i < t.n_params; i++) {
		double e = fd_rel_error(tiny_loss, &t, t.params[i], t.grads[i], t.sizes[i], 60);
		CHECK_MSG(e < TOL, "%s: %s (#%d): relative error %.3g", label, t.names[i], i, e);
	}
	tiny_free(&t);
}

static void test_model_checkpointing(void)
{
	check_checkpointing("checkpointed full", M_FULL, 0);
	check_checkpointing("checkpointed adalora, dropout", M_SVD, 0.3);
}

int main(void)
{
	rng_seed(&rng, 1234);
	RUN(test_rmsnorm);
	RUN(test_rope);
	RUN(test_swiglu);
	RUN(test_softmax_xent);
	RUN(test_embedding);
	RUN(test_attention);
	RUN(test_linear_and_adapters);
	RUN(test_linear_frozen);
	RUN(test_orth_reg);
	RUN(test_model_full);
	RUN(test_model_lora);
	RUN(test_model_adalora);
	RUN(test_model_checkpointing);
	return check_summary();
}
