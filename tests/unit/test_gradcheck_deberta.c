/*
 * Finite-difference gradient checks, in double precision, of DeBERTa's
 * compute: the disentangled attention op (nn/disentangled.c) with respect
 * to its inputs q, k, v and the projected relative tables PQ, PK, on
 * sequences past the bucket boundary and past max_relative_positions, with
 * padding; the ContextPooler head with GELU; and the whole encoder with the
 * sequence head (bert_forward / bert_backward) under full fine-tuning
 * (every weight: q/k/v, the separate pos_key_proj / pos_query_proj, the
 * relative table and its LayerNorm, the embeddings, the pooler), LoRA and
 * AdaLoRA on the six matrices (with shared keys the query and key adapters
 * also see the table's rows), and BitFit.
 *
 * Central differences (h = 1e-5), relative error below 1e-6 for every
 * tensor (gradcheck.h). A tensor whose gradient is zero by symmetry (a
 * shift shared by every key: the key bias under c2p alone, pos_key_proj's
 * bias) must be ~0 on both sides.
 */
#include "check.h"

#include <stdint.h>

#include "nn/bert.h"
#include "nn/disentangled.h"
#include "nn/heads.h"
#include "nn/lowrank.h"
#include "util/rng.h"
#include "gradcheck.h"

#define OP_PROBES 300
#define MODEL_PROBES 40

/* ---- the attention op: loss = sum(y * w) ------------------------------- */

struct dis_ctx {
	struct disentangled_shape s;
	const int32_t *len;
	int32_t *idx;
	real *q, *k, *v, *pq, *pk, *y, *att, *w, *scratch;
};

static double dis_loss(void *vc)
{
	struct dis_ctx *c = vc;

	disentangled_forward(c->y, c->att, c->q, c->k, c->v, c->pq, c->pk, c->idx, c->len, &c->s,
			     c->scratch, 2);
	return dot(c->y, c->w, (size_t)c->s.B * c->s.T * c->s.n_heads * c->s.head_dim);
}

static int rows_zero(const real *x, int B, int T, int width, const int32_t *len)
{
	for (int b = 0; b < B; b++)
		for (int t = len ? len[b] : T; t < T; t++)
			for (int c = 0; c < width; c++)
				if (x[((size_t)b * T + t) * width + c] != 0)
					return 0;
	return 1;
}

static void check_op(const char *label, int B, int T, int H, int hd, int span, int buckets,
		     int max_rel, int c2p, int p2c, const int32_t *len)
{
	struct dis_ctx c = { .s = { B, T, H, hd, span, c2p, p2c, 1 + c2p + p2c }, .len = len };
	const size_t n = (size_t)B * T * H * hd, np = 2 * (size_t)span * H * hd;
	real *dq = zeros(n), *dk = zeros(n), *dv = zeros(n), *dpq = zeros(np), *dpk = zeros(np);
	char name[128];

	c.idx = calloc(2 * (size_t)T - 1, sizeof(*c.idx));
	disentangled_rel_index(c.idx, T, span, buckets, max_rel);
	c.q = rnd(n, 1); c.k = rnd(n, 1); c.v = rnd(n, 1); c.w = rnd(n, 1);
	c.pq = rnd(np, 1); c.pk = rnd(np, 1);
	c.y = zeros(n); c.att = zeros((size_t)B * H * T * T);
	c.scratch = zeros(2 * disentangled_scratch_per_thread(&c.s));
	/* garbage in the outputs: backward must overwrite, not add */
	for (size_t i = 0; i < np; i++)
		dpq[i] = dpk[i] = 7;
	dis_loss(&c);
	CHECK(rows_zero(c.y, B, T, H * hd, len));
	disentangled_backward(dq, dk, dv, p2c ? dpq : NULL, c2p ? dpk : NULL, c.w, c.att, c.q, c.k,
			      c.v, c.pq, c.pk, c.idx, len, &c.s, c.scratch, 2);
	CHECK(rows_zero(dq, B, T, H * hd, len) && rows_zero(dk, B, T, H * hd, len) &&
	      rows_zero(dv, B, T, H * hd, len));
#define GRAD(what, p, g, cnt) do { \
		snprintf(name, sizeof(name), "%s: %s", label, what); \
		double _e = fd_rel_error(dis_loss, &c, p, g, cnt, OP_PROBES); \
		CHECK_MSG(_e < TOL, "%s: relative error %.3g", name, _e); \
	} while (0)
	GRAD("dq", c.q, dq, n);
	GRAD("dk", c.k, dk, n);
	GRAD("dv", c.v, dv, n);
	if (c2p)
		GRAD("dPK", c.pk, dpk, np);
	if (p2c)
		GRAD("dPQ", c.pq, dpq, np);
#undef GRAD
	free(c.idx); free(c.q); free(c.k); free(c.v); free(c.w); free(c.pq); free(c.pk);
	free(c.y); free(c.att); free(c.scratch);
	free(dq); free(dk); free(dv); free(dpq); free(dpk);
}

static void test_attention_op(void)
{
	/* T 15: distances up to 14 > max_relative_positions 12 > buckets / 2 */
	const int32_t len3[3] = { 15, 9, 1 }, len2[2] = { 15, 13 };

	check_op("c2p + p2c, buckets, padded", 3, 15, 2, 4, 8, 8, 12, 1, 1, len3);
	check_op("c2p only", 2, 15, 2, 3, 8, 8, 12, 1, 0, len2);
	check_op("p2c only", 2, 15, 2, 3, 8, 8, 12, 0, 1, NULL);
	check_op("clipped distances, no buckets", 2, 15, 3, 2, 5, 0, 5, 1, 1, len2);
	check_op("content only (scale of two terms)", 2, 6, 2, 4, 4, 0, 4, 0, 0, NULL);
	check_op("table longer than the sequence", 2, 6, 2, 4, 16, 32, 64, 1, 1, NULL);
}

/* ---- the ContextPooler head with GELU ---------------------------------- */

struct head_ctx {
	struct seq_head h;
	struct seq_head_acts a;
	real *hidden;
	const int32_t *labels;
	int B, T;
};

static double head_loss(void *vc)
{
	struct head_ctx *c = vc;
	struct nn_step st = { .training = 1 };
	double s;

	seq_head_forward(&c->h, &c->a, c->hidden, NULL, c->B, c->T, &st);
	seq_head_xent(c->a.logits, c->labels, c->B, 3, 0, NULL, &s);
	return s;
}

static void test_context_pooler(void)
{
	const int B = 3, T = 4, Dm = 6, Cn = 3;
	const int32_t labels[3] = { 2, 0, 1 };
	struct head_ctx c = { .B = B, .T = T, .labels = labels };
	struct nn_step st = { .training = 1 };
	const size_t nh = (size_t)B * T * Dm;
	real *dW1 = zeros((size_t)Dm * Dm), *db1 = zeros(Dm), *dW2 = zeros((size_t)Cn * Dm);
	real *db2 = zeros(Cn), *dhidden = zeros(nh);
	double s;

	c.h.pool = SEQ_POOL_FIRST;
	c.h.act = HEAD_ACT_GELU;
	c.h.dense = (struct linear){ .w = rnd((size_t)Dm * Dm, 0.6), .dw = dW1, .b = rnd(Dm, 0.3),
				     .db = db1, .in = Dm, .out = Dm };
	c.h.out = (struct linear){ .w = rnd((size_t)Cn * Dm, 0.5), .dw = dW2, .b = rnd(Cn, 0.3),
				   .db = db2, .in = Dm, .out = Cn };
	c.hidden = rnd(nh, 1);
	CHECK_OK(seq_head_acts_init(&c.a, Dm, Cn, B), (struct ada_err *)NULL);
	seq_head_forward(&c.h, &c.a, c.hidden, NULL, B, T, &st);
	/* GELU, not tanh: a pooled value of 1 through an identity dense gives 0.8413 */
	CHECK(c.a.t[0] == 0.5 * c.a.u[0] * (1 + erf(c.a.u[0] / sqrt(2.0))) ||
	      fabs(c.a.t[0] - 0.5 * c.a.u[0] * (1 + erf(c.a.u[0] / sqrt(2.0)))) < 1e-15);
	seq_head_xent(c.a.logits, labels, B, Cn, 1, c.a.dlogits, &s);
	seq_head_backward(&c.h, &c.a, c.a.dlogits, dhidden, NULL, B, T, &st);
	CHECK(fd_rel_error(head_loss, &c, c.hidden, dhidden, nh, OP_PROBES) < TOL);
	CHECK(fd_rel_error(head_loss, &c, (real *)c.h.dense.w, dW1, (size_t)Dm * Dm, OP_PROBES) < TOL);
	CHECK(fd_rel_error(head_loss, &c, (real *)c.h.dense.b, db1, Dm, OP_PROBES) < TOL);
	CHECK(fd_rel_error(head_loss, &c, (real *)c.h.out.w, dW2, (size_t)Cn * Dm, OP_PROBES) < TOL);
	CHECK(fd_rel_error(head_loss, &c, (real *)c.h.out.b, db2, Cn, OP_PROBES) < TOL);
	seq_head_acts_release(&c.a);
	free((void *)c.h.dense.w); free((void *)c.h.dense.b); free((void *)c.h.out.w);
	free((void *)c.h.out.b); free(c.hidden);
	free(dW1); free(db1); free(dW2); free(db2); free(dhidden);
}

/* ---- parameter registry for the whole-model checks ---------------------- */

#define MAX_TENSORS 200

struct reg {
	const char *names[MAX_TENSORS];
	real *p[MAX_TENSORS], *g[MAX_TENSORS];
	size_t n[MAX_TENSORS];
	int count;
	void *owned[4 * MAX_TENSORS];
	int n_owned;
	struct lowrank *lr[32];
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

/* ---- the whole DeBERTa with its head ------------------------------------ */

enum method { M_FULL, M_LORA, M_ADALORA, M_BITFIT };

struct shape {
	const char *label;
	enum method m;
	int share, c2p, p2c, ln_rel, abs_pos, types;
};

struct tdeb {
	struct reg r;
	struct bert_net net;
	struct bert_block blocks[2];
	struct bert_acts acts;
	struct seq_head head;
	struct seq_head_acts ha;
	int B, T;
	int32_t tok[2 * 14], types[2 * 14], len[2], labels[2];
};

static double tdeb_run(struct tdeb *t, int with_grad)
{
	struct nn_step st = { .training = 1, .seed = 5 };
	double loss = 0;

	CHECK_OK(bert_forward(&t->net, &t->acts, t->tok, t->types, t->len, t->B, &st),
		 (struct ada_err *)NULL);
	CHECK_OK(seq_head_forward(&t->head, &t->ha, t->acts.hidden, t->len, t->B, t->T, &st),
		 (struct ada_err *)NULL);
	CHECK_OK(seq_head_xent(t->ha.logits, t->labels, t->B, 3, with_grad ? (real)(1.0 / t->B) : 0,
			       t->ha.dlogits, &loss), (struct ada_err *)NULL);
	if (with_grad) {
		memset(t->acts.dhidden, 0, sizeof(real) * (size_t)t->B * t->T * t->net.d.dim);
		seq_head_backward(&t->head, &t->ha, t->ha.dlogits, t->acts.dhidden, t->len, t->B,
				  t->T, &st);
		bert_backward(&t->net, &t->acts, t->tok, t->types, t->len, t->B, t->acts.dhidden,
			      &st);
	}
	return loss / t->B;
}

static double tdeb_loss(void *vt)
{
	return tdeb_run(vt, 0);
}

static void tdeb_build(struct tdeb *t, const struct shape *sh)
{
	const int Dm = 8, F = 12, L = 2, H = 2, V = 13, P = 16, span = 4;
	const int full = sh->m == M_FULL, bitfit = sh->m == M_BITFIT;
	struct reg *r = &t->r;

	memset(t, 0, sizeof(*t));
	t->B = 2;
	t->T = 14;   /* distances to 13: bucketed above 2, clipped from 6 */
	t->net.d = (struct bert_dims){ .dim = Dm, .hidden = F, .n_layers = L, .n_heads = H,
				       .head_dim = Dm / H, .vocab = V, .max_positions = P,
				       .type_vocab = sh->types ? 2 : 0, .norm_eps = 1e-5,
				       .disentangled = 1, .rel_span = span, .rel_buckets = span,
				       .rel_max = 6, .c2p = sh->c2p, .p2c = sh->p2c,
				       .share_att_key = sh->share,
				       .scale_terms = 1 + sh->c2p + sh->p2c };
	t->net.blocks = t->blocks;
	t->net.word_emb = tensor(r, "word_emb", (size_t)V * Dm, 0, 0.5, full, &t->net.d_word_emb);
	if (sh->abs_pos)
		t->net.pos_emb = tensor(r, "pos_emb", (size_t)P * Dm, 0, 0.5, full, &t->net.d_pos_emb);
	if (sh->types)
		t->net.type_emb = tensor(r, "type_emb", 2 * (size_t)Dm, 0, 0.5, full,
					 &t->net.d_type_emb);
	t->net.ln_emb.w = tensor(r, "ln_emb w", Dm, 1, 0.2, full, &t->net.ln_emb.dw);
	t->net.ln_emb.b = tensor(r, "ln_emb b", Dm, 0, 0.2, full || bitfit, &t->net.ln_emb.db);
	t->net.rel_emb = tensor(r, "rel_embeddings", 2 * (size_t)span * Dm, 0, 0.8, full,
				&t->net.d_rel_emb);
	if (sh->ln_rel) {
		t->net.ln_rel.w = tensor(r, "ln_rel w", Dm, 1, 0.2, full, &t->net.ln_rel.dw);
		t->net.ln_rel.b = tensor(r, "ln_rel b", Dm, 0, 0.2, full || bitfit, &t->net.ln_rel.db);
	}
	for (int l = 0; l < L; l++) {
		static const char *names[6] = { "query_proj", "key_proj", "value_proj", "attn_out",
						"inter", "output" };
		static const char *bias_names[6] = { "query_proj bias", "key_proj bias",
						     "value_proj bias", "attn_out bias", "inter bias",
						     "output bias" };
		const int outs[6] = { Dm, Dm, Dm, Dm, F, Dm }, ins[6] = { Dm, Dm, Dm, Dm, Dm, F };
		struct bert_block *b = &t->blocks[l];

		for (int mod = 0; mod < N_BERT_MODULES; mod++) {
			struct linear *lin = &b->lin[mod];
			lin->in = ins[mod];
			lin->out = outs[mod];
			lin->w = tensor(r, names[mod], (size_t)outs[mod] * ins[mod], 0, 0.4, full,
					&lin->dw);
			lin->b = tensor(r, bias_names[mod], outs[mod], 0, 0.2, full || bitfit,
					&lin->db);
			if (sh->m == M_LORA || sh->m == M_ADALORA)
				lin->adapter = &make_lowrank(r, ins[mod], outs[mod], sh->m == M_ADALORA,
							     l * N_BERT_MODULES + mod)->base;
		}
		if (!sh->share && sh->c2p) {
			b->pos_key = (struct linear){ .in = Dm, .out = Dm };
			b->pos_key.w = tensor(r, "pos_key_proj", (size_t)Dm * Dm, 0, 0.4, full,
					      &b->pos_key.dw);
			b->pos_key.b = tensor(r, "pos_key_proj bias", Dm, 0, 0.2, full || bitfit,
					      &b->pos_key.db);
		}
		if (!sh->share && sh->p2c) {
			b->pos_query = (struct linear){ .in = Dm, .out = Dm };
			b->pos_query.w = tensor(r, "pos_query_proj", (size_t)Dm * Dm, 0, 0.4, full,
						&b->pos_query.dw);
			b->pos_query.b = tensor(r, "pos_query_proj bias", Dm, 0, 0.2, full || bitfit,
						&b->pos_query.db);
		}
		b->ln_attn.w = tensor(r, "ln_attn w", Dm, 1, 0.2, full, &b->ln_attn.dw);
		b->ln_attn.b = tensor(r, "ln_attn b", Dm, 0, 0.2, full || bitfit, &b->ln_attn.db);
		b->ln_out.w = tensor(r, "ln_out w", Dm, 1, 0.2, full, &b->ln_out.dw);
		b->ln_out.b = tensor(r, "ln_out b", Dm, 0, 0.2, full || bitfit, &b->ln_out.db);
	}
	/* the ContextPooler (new, always trained) and the classifier */
	t->head.pool = SEQ_POOL_FIRST;
	t->head.act = HEAD_ACT_GELU;
	t->head.dense = (struct linear){ .in = Dm, .out = Dm };
	t->head.dense.w = tensor(r, "pooler.dense", (size_t)Dm * Dm, 0, 0.5, 1, &t->head.dense.dw);
	t->head.dense.b = tensor(r, "pooler.dense bias", Dm, 0, 0.2, 1, &t->head.dense.db);
	t->head.out = (struct linear){ .in = Dm, .out = 3 };
	t->head.out.w = tensor(r, "classifier", 3 * (size_t)Dm, 0, 0.5, 1, &t->head.out.dw);
	t->head.out.b = tensor(r, "classifier bias", 3, 0, 0.2, 1, &t->head.out.db);
	t->len[0] = 14;
	t->len[1] = 9;
	for (int i = 0; i < t->B * t->T; i++) {
		t->tok[i] = (int32_t)rng_below(&rng, V);
		t->types[i] = (int32_t)rng_below(&rng, 2);
	}
	t->labels[0] = 2;
	t->labels[1] = 0;
	CHECK_OK(bert_acts_init(&t->acts, &t->net.d, t->B, t->T, 2), (struct ada_err *)NULL);
	CHECK_OK(seq_head_acts_init(&t->ha, Dm, 3, t->B), (struct ada_err *)NULL);
}

static void check_model(const struct shape *sh)
{
	struct tdeb t;

	tdeb_build(&t, sh);
	tdeb_run(&t, 1);
	for (int i = 0; i < t.r.count; i++) {
		double num, ana;
		double e = fd_compare(tdeb_loss, &t, t.r.p[i], t.r.g[i], t.r.n[i], MODEL_PROBES, &num,
				      &ana);
		/* A shift shared by all keys leaves the softmax alone: without
		 * p2c (where K meets the table) the key bias has no gradient,
		 * and pos_key_proj's bias meets only Q_i (c2p) whatever j is. */
		if ((!strcmp(t.r.names[i], "key_proj bias") && !sh->p2c) ||
		    !strcmp(t.r.names[i], "pos_key_proj bias")) {
			CHECK_MSG(ana < 1e-13 && num < 1e-9, "%s: %s: gradient %.3g, numeric %.3g",
				  sh->label, t.r.names[i], ana, num);
			continue;
		}
		CHECK_MSG(e < TOL, "%s: %s (#%d): relative error %.3g (numeric %.3g, analytic %.3g)",
			  sh->label, t.r.names[i], i, e, num, ana);
	}
	bert_acts_release(&t.acts);
	seq_head_acts_release(&t.ha);
	reg_free(&t.r);
}

static void test_model(void)
{
	static const struct shape shapes[] = {
		{ "full, v3 (shared keys, c2p|p2c, table LayerNorm)", M_FULL, 1, 1, 1, 1, 0, 0 },
		{ "full, separate position projections", M_FULL, 0, 1, 1, 1, 0, 0 },
		{ "full, v2 input (positions, types), c2p only, no table norm", M_FULL, 1, 1, 0, 0, 1, 1 },
		{ "full, p2c only, separate", M_FULL, 0, 0, 1, 1, 0, 0 },
		{ "lora, shared keys", M_LORA, 1, 1, 1, 1, 0, 0 },
		{ "adalora, shared keys", M_ADALORA, 1, 1, 1, 1, 0, 0 },
		{ "adalora, separate", M_ADALORA, 0, 1, 1, 1, 0, 0 },
		{ "bitfit, shared keys", M_BITFIT, 1, 1, 1, 1, 0, 0 },
		{ "bitfit, separate", M_BITFIT, 0, 1, 1, 1, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		check_model(&shapes[i]);
}

int main(void)
{
	rng_seed(&rng, 8642);
	RUN(test_attention_op);
	RUN(test_context_pooler);
	RUN(test_model);
	return check_summary();
}
