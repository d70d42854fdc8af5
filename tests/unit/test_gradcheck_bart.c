/*
 * Finite-difference gradient checks, in double precision, of the BART
 * compute: cross-attention (queries of one sequence over another's padded
 * keys), the label-smoothed cross-entropy, and the whole encoder-decoder
 * (embeddings scaled or not, positions, every LayerNorm, the decoder's
 * self-attention, cross-attention and FFN blocks, the tied or untied LM
 * head with final_logits_bias) under full training, LoRA and AdaLoRA
 * adapters on all ten modules of a decoder layer and six of an encoder
 * layer.
 *
 * Built against the double instantiation of nn/, with the harness of
 * test_gradcheck.c: relative error below 1e-6 for every tensor.
 */
#include "check.h"

#include <stdint.h>

#include "nn/bart.h"
#include "nn/cross_attention.h"
#include "nn/lowrank.h"
#include "nn/ops.h"
#include "nn/smooth_xent.h"
#include "util/rng.h"
#include "gradcheck.h"

#define OP_PROBES 300
#define MODEL_PROBES 40

#define CHECK_GRAD(name, f, ctx, param, grad, n) do { \
	double _e = fd_rel_error(f, ctx, param, grad, n, OP_PROBES); \
	CHECK_MSG(_e < TOL, "%s: relative error %.3g", name, _e); \
} while (0)

static int all_zero(const real *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* ---- cross-attention: loss = sum(y * w) --------------------------------- */

struct xa_ctx {
	struct cross_shape s;
	const int32_t *len;
	real *q, *k, *v, *y, *att, *w;
};

static double xa_loss(void *vc)
{
	struct xa_ctx *c = vc;

	cross_attention_forward(c->y, c->att, c->q, c->k, c->v, c->len, &c->s, 2);
	return dot(c->y, c->w, (size_t)c->s.B * c->s.Tq * c->s.n_heads * c->s.head_dim);
}

static void check_cross(int B, int Tq, int Tk, int H, int hd, const int32_t *len)
{
	struct xa_ctx c = { .s = { B, Tq, Tk, H, hd }, .len = len };
	const size_t nq = (size_t)B * Tq * H * hd, nk = (size_t)B * Tk * H * hd;
	real *scratch = zeros(2 * cross_attention_scratch_per_thread(&c.s));
	real *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
	char name[96];

	c.q = rnd(nq, 1);
	c.k = rnd(nk, 1);
	c.v = rnd(nk, 1);
	c.y = zeros(nq);
	c.att = zeros((size_t)B * H * Tq * Tk);
	c.w = rnd(nq, 1);
	xa_loss(&c);
	/* dk, dv start dirty: backward overwrites them */
	for (size_t i = 0; i < nk; i++)
		dk[i] = dv[i] = 7;
	cross_attention_backward(dq, dk, dv, c.w, c.att, c.q, c.k, c.v, len, &c.s, scratch, 2);
	for (int b = 0; len && b < B; b++)
		for (int j = len[b]; j < Tk; j++) {
			CHECK(all_zero(dk + ((size_t)b * Tk + j) * H * hd, (size_t)H * hd));
			CHECK(all_zero(dv + ((size_t)b * Tk + j) * H * hd, (size_t)H * hd));
		}
	snprintf(name, sizeof(name), "cross attention B%d Tq%d Tk%d: dq", B, Tq, Tk);
	CHECK_GRAD(name, xa_loss, &c, c.q, dq, nq);
	snprintf(name, sizeof(name), "cross attention B%d Tq%d Tk%d: dk", B, Tq, Tk);
	CHECK_GRAD(name, xa_loss, &c, c.k, dk, nk);
	snprintf(name, sizeof(name), "cross attention B%d Tq%d Tk%d: dv", B, Tq, Tk);
	CHECK_GRAD(name, xa_loss, &c, c.v, dv, nk);

	/* A padded source attends exactly like its unpadded prefix alone, and
	 * every probability row sums to one. */
	xa_loss(&c);
	for (int b = 0; b < B; b++) {
		const int L = len ? len[b] : Tk;
		struct cross_shape s1 = { 1, Tq, L, H, hd };
		real *y1 = zeros((size_t)Tq * H * hd), *att1 = zeros((size_t)H * Tq * L);
		double e = 0, rows = 0;

		cross_attention_forward(y1, att1, c.q + (size_t)b * Tq * H * hd,
					c.k + (size_t)b * Tk * H * hd, c.v + (size_t)b * Tk * H * hd,
					NULL, &s1, 1);
		for (size_t i = 0; i < (size_t)Tq * H * hd; i++)
			e = fmax(e, fabs(y1[i] - c.y[(size_t)b * Tq * H * hd + i]));
		CHECK_MSG(e < 1e-14, "source %d of length %d: prefix differs by %.3g", b, L, e);
		for (int h = 0; h < H; h++)
			for (int i = 0; i < Tq; i++) {
				double sum = 0;
				for (int j = 0; j < Tk; j++)
					sum += c.att[(((size_t)b * H + h) * Tq + i) * Tk + j];
				rows = fmax(rows, fabs(sum - 1));
			}
		CHECK_MSG(rows < 1e-14, "source %d: probabilities sum to 1 within %.3g", b, rows);
		free(y1);
		free(att1);
	}
	free(c.q); free(c.k); free(c.v); free(c.y); free(c.att); free(c.w); free(scratch);
	free(dq); free(dk); free(dv);
}

static void test_cross_attention(void)
{
	const int32_t len3[3] = { 7, 3, 1 }, len2[2] = { 5, 9 };
	check_cross(3, 5, 7, 2, 3, len3);     /* padded keys, a length-1 source */
	check_cross(2, 4, 6, 1, 4, NULL);     /* no padding */
	check_cross(2, 70, 9, 2, 2, len2);    /* queries across the 64-row chunks */
}

/* ---- label-smoothed cross-entropy --------------------------------------- */

struct sx_ctx {
	int N, V;
	real eps;
	real *z, *tmp;
	const int32_t *t;
	double *rl, *rn;
};

static double sx_loss(void *vc)
{
	struct sx_ctx *c = vc;
	int64_t n;

	memcpy(c->tmp, c->z, sizeof(real) * (size_t)c->N * c->V);
	return softmax_xent_smooth(c->tmp, c->t, c->N, c->V, c->eps, 0, c->rl, c->rn, NULL, &n) / 3;
}

static void test_smooth_xent(void)
{
	enum { N = 5, V = 7 };
	const int32_t t[N] = { 3, -1, 0, 6, 3 };
	double rl[N], rn[N], rl2[N], nll, loss;
	struct sx_ctx c = { .N = N, .V = V, .t = t, .rl = rl, .rn = rn };
	real *g = zeros(N * V), *plain = zeros(N * V);
	int64_t n, n2;

	c.z = rnd(N * V, 2);
	c.tmp = zeros(N * V);
	for (int e = 0; e < 2; e++) {
		c.eps = e ? (real)0.1 : 0;
		memcpy(g, c.z, sizeof(real) * N * V);
		loss = softmax_xent_smooth(g, t, N, V, c.eps, (real)(1.0 / 3), rl, rn, &nll, &n);
		CHECK_INT_EQ(n, 4);
		CHECK_NEAR(loss / 3, sx_loss(&c), 1e-14);
		CHECK(all_zero(g + V, V));    /* the ignored row */
		CHECK_GRAD(e ? "smoothed xent eps 0.1" : "smoothed xent eps 0", sx_loss, &c, c.z, g,
			   (size_t)N * V);
		/* the plain NLL is softmax_xent's, whatever eps */
		memcpy(plain, c.z, sizeof(real) * N * V);
		CHECK_NEAR(softmax_xent(plain, t, N, V, 0, rl2, &n2), nll, 1e-12);
		if (!e)
			CHECK_NEAR(loss, nll, 1e-12);
		else
			CHECK(loss != nll);
	}
	/* uniform logits: every term is log V */
	memset(c.z, 0, sizeof(real) * N * V);
	c.eps = (real)0.3;
	CHECK_NEAR(sx_loss(&c) * 3, 4 * log((double)V), 1e-12);
	free(c.z); free(c.tmp); free(g); free(plain);
}

/* ---- the whole encoder-decoder ------------------------------------------ */

#define MAX_TENSORS 200

struct reg {
	const char *names[MAX_TENSORS];
	real *p[MAX_TENSORS], *g[MAX_TENSORS];
	size_t n[MAX_TENSORS];
	int count;
	void *owned[4 * MAX_TENSORS];
	int n_owned;
	struct lowrank *lr[64];
	int n_lr;
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

static real *tensor(struct reg *r, const char *name, size_t n, double mean, double scale,
		    int trains, real **grad)
{
	real *p = own(r, rnd_mean(n, mean, scale));

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
	for (int i = 0; i < r->n_owned; i++)
		free(r->owned[i]);
}

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

enum method { M_FULL, M_LORA, M_ADALORA };

struct tbart {
	struct reg r;
	struct bart_net net;
	struct bart_block blocks[4];
	struct bart_acts acts;
	int B, S, T;
	int32_t src[12], dec[10], tgt[10], src_len[2];
	real eps;
};

static double tbart_run(struct tbart *t, int with_grad)
{
	struct nn_step st = { .training = 1, .seed = 3 };
	double loss = 0;
	int64_t n = 0;
	const real scale = with_grad ? (real)(1.0 / 7) : 0;   /* 7 counted targets below */

	CHECK_OK(bart_forward(&t->net, &t->acts, t->src, t->src_len, t->dec, t->tgt, t->B, t->eps,
			      scale, &loss, NULL, &n, &st), (struct ada_err *)NULL);
	CHECK_INT_EQ(n, 7);
	if (with_grad)
		bart_backward(&t->net, &t->acts, t->src, t->src_len, t->dec, t->B, &st);
	return loss / 7;
}

static double tbart_loss(void *vt)
{
	return tbart_run(vt, 0);
}

static void ln(struct reg *r, const char *name, int D, int trains, struct bart_ln *l)
{
	l->w = tensor(r, name, (size_t)D, 1, 0.2, trains, &l->dw);
	l->b = tensor(r, name, (size_t)D, 0, 0.2, trains, &l->db);
}

static void tbart_build(struct tbart *t, enum method m, int scaled, int tied)
{
	static const char *names[N_BART_MODULES] = {
		"self q", "self k", "self v", "self out", "cross q", "cross k", "cross v",
		"cross out", "fc1", "fc2",
	};
	static const char *bias_names[N_BART_MODULES] = {
		"self q bias", "self k bias", "self v bias", "self out bias", "cross q bias",
		"cross k bias", "cross v bias", "cross out bias", "fc1 bias", "fc2 bias",
	};
	const int D = 8, F = 12, Le = 2, Ld = 2, H = 2, V = 11, P = 10;
	const int full = m == M_FULL;
	struct reg *r = &t->r;

	memset(t, 0, sizeof(*t));
	t->B = 2;
	t->S = 6;
	t->T = 5;
	t->eps = (real)0.1;
	t->net.d = (struct bart_dims){ .dim = D, .hidden = F, .n_enc_layers = Le,
				       .n_dec_layers = Ld, .n_heads = H, .head_dim = D / H,
				       .vocab = V, .max_positions = P, .position_offset = 2,
				       .embed_scale = scaled ? (real)2.5 : 1, .norm_eps = 1e-5 };
	t->net.blocks = t->blocks;
	t->net.tok_emb = tensor(r, "shared embedding", (size_t)V * D, 0, 0.5, full,
				&t->net.d_tok_emb);
	if (tied) {
		t->net.output = t->net.tok_emb;
		t->net.d_output = t->net.d_tok_emb;   /* the same tensor: gradients add */
	} else {
		t->net.output = tensor(r, "lm_head", (size_t)V * D, 0, 0.5, full, &t->net.d_output);
	}
	t->net.enc_pos = tensor(r, "encoder positions", (size_t)P * D, 0, 0.5, full,
				&t->net.d_enc_pos);
	t->net.dec_pos = tensor(r, "decoder positions", (size_t)P * D, 0, 0.5, full,
				&t->net.d_dec_pos);
	ln(r, "encoder layernorm_embedding", D, full, &t->net.enc_ln_emb);
	ln(r, "decoder layernorm_embedding", D, full, &t->net.dec_ln_emb);
	t->net.logits_bias = tensor(r, "final_logits_bias", (size_t)V, 0, 0.3, full,
				    &t->net.d_logits_bias);
	for (int l = 0; l < Le + Ld; l++) {
		struct bart_block *b = &t->blocks[l];
		const int dec = l >= Le;

		for (int mod = 0; mod < N_BART_MODULES; mod++) {
			struct linear *lin = &b->lin[mod];
			const int out = mod == BART_FC1 ? F : D, in = mod == BART_FC2 ? F : D;

			if (!dec && mod >= BART_CROSS_Q && mod <= BART_CROSS_O)
				continue;
			lin->in = in;
			lin->out = out;
			lin->w = tensor(r, names[mod], (size_t)out * in, 0, 0.4, full, &lin->dw);
			lin->b = tensor(r, bias_names[mod], (size_t)out, 0, 0.2, full, &lin->db);
			if (m != M_FULL)
				lin->adapter = &make_lowrank(r, in, out, m == M_ADALORA,
							     l * N_BART_MODULES + mod)->base;
		}
		ln(r, "self_attn_layer_norm", D, full, &b->ln_self);
		if (dec)
			ln(r, "encoder_attn_layer_norm", D, full, &b->ln_cross);
		ln(r, "final_layer_norm", D, full, &b->ln_ffn);
	}
	t->src_len[0] = 6;
	t->src_len[1] = 3;
	for (int i = 0; i < t->B * t->S; i++)
		t->src[i] = (int32_t)rng_below(&rng, V);
	for (int i = 0; i < t->B * t->T; i++) {
		t->dec[i] = (int32_t)rng_below(&rng, V);
		t->tgt[i] = (int32_t)rng_below(&rng, V);
	}
	/* the second target is 2 long (padding -1 after): 5 + 2 counted */
	t->tgt[t->T + 2] = t->tgt[t->T + 3] = t->tgt[t->T + 4] = -1;
	CHECK_OK(bart_acts_init(&t->acts, &t->net.d, t->B, t->S, t->T, 2), (struct ada_err *)NULL);
}

static void check_bart(const char *label, enum method m, int scaled, int tied)
{
	struct tbart *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	tbart_build(t, m, scaled, tied);
	tbart_run(t, 1);
	for (int i = 0; i < t->r.count; i++) {
		double num, ana;
		double e = fd_compare(tbart_loss, t, t->r.p[i], t->r.g[i], t->r.n[i], MODEL_PROBES,
				      &num, &ana);

		/* A key bias adds the same q.b to every score of a row: softmax
		 * ignores it, so its gradient is zero (up to rounding) both ways. */
		if (strstr(t->r.names[i], "k bias"))
			CHECK_MSG(num < 1e-9 && ana < 1e-12, "bart %s: %s (tensor %d): |num| %.3g |ana| %.3g, not zero",
				  label, t->r.names[i], i, num, ana);
		else
			CHECK_MSG(e < TOL && num > 0, "bart %s: %s (tensor %d): relative error %.3g, |num| %.3g |ana| %.3g",
				  label, t->r.names[i], i, e, num, ana);
	}
	bart_acts_release(&t->acts);
	reg_free(&t->r);
	free(t);
}

static void test_bart(void)
{
	check_bart("full, tied, scaled", M_FULL, 1, 1);
	check_bart("full, untied", M_FULL, 0, 0);
	check_bart("lora", M_LORA, 0, 1);
	check_bart("adalora", M_ADALORA, 1, 1);
}

int main(void)
{
	rng_seed(&rng, 4242);
	RUN(test_cross_attention);
	RUN(test_smooth_xent);
	RUN(test_bart);
	return check_summary();
}
