/*
 * BART forward against an independent computation: small BARTs with
 * random weights, built in memory by the test, run through lib/nn
 * (bart_forward, batched, sources and targets padded to different lengths)
 * and through tests/unit/bart_ref.c (plain double loops over each unpadded
 * pair, written from Hugging Face's modeling_bart.py). Built twice: against
 * the float nn/ (logits within 1e-5 relative) and the double one (1e-10).
 * Both also check the label-smoothed loss against the reference logits,
 * and that KV-cached decoding (nn/bart_decode.h: one position at a time,
 * several hypotheses, reordered as beam search does, adapters attached)
 * gives the uncached teacher-forced forward's logits at every position.
 *
 * The float build also writes tiny BARTs as Hugging Face directories (F32
 * and BF16, the network under "model." or bare, the shared embedding under
 * either of its names), loads them with model_load() and the GPT-2
 * tokenizer from vocab.json + merges.txt, binds them with
 * bart_net_from_model() as the trainer does, and compares with the
 * reference again.
 *
 * The weights are drawn in double and rounded to float first, so both
 * sides compute with the same numbers in either build.
 */
#include "check.h"

#include <stdint.h>

#include "bart_ref.h"
#include "nn/bart.h"
#include "nn/bart_decode.h"
#include "nn/lowrank.h"
#include "util/rng.h"
#ifndef ADA_REAL_DOUBLE
#include "net/model_bind.h"
#include "tiny_bart.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"
#endif

#ifdef ADA_REAL_DOUBLE
#define LOGIT_TOL 1e-10
#else
#define LOGIT_TOL 1e-5
#endif

#define MAX_ALLOCS 512
#define MAX_LAYERS 4

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

struct model_pair {
	struct bart_ref ref;
	struct bart_ref_layer rl[MAX_LAYERS];
	struct bart_net net;
	struct bart_block blocks[MAX_LAYERS];
};

static void ln_pair(struct pool *pl, int D, const double **rw, const double **rb,
		    struct bart_ln *ln)
{
	struct wpair w = weight(pl, (size_t)D, 1, 0.2), b = weight(pl, (size_t)D, 0, 0.2);

	*rw = w.d;
	*rb = b.d;
	ln->w = w.r;
	ln->b = b.r;
}

/* A BART of n_enc + n_dec layers; scale_embedding and a tied head as asked. */
static void build(struct model_pair *m, struct pool *pl, int n_enc, int n_dec, int scaled,
		  int tied)
{
	const int D = 16, F = 24, H = 2, V = 37, P = 24;
	struct wpair w;

	memset(m, 0, sizeof(*m));
	m->net.d = (struct bart_dims){ .dim = D, .hidden = F, .n_enc_layers = n_enc,
				       .n_dec_layers = n_dec, .n_heads = H, .head_dim = D / H,
				       .vocab = V, .max_positions = P, .position_offset = 2,
				       .embed_scale = scaled ? (real)4 : 1, .norm_eps = 1e-5 };
	m->ref = (struct bart_ref){ .dim = D, .hidden = F, .n_enc = n_enc, .n_dec = n_dec,
				    .n_heads = H, .vocab = V, .embed_scale = scaled ? 4 : 1,
				    .eps = 1e-5, .layers = m->rl };
	m->net.blocks = m->blocks;
	w = weight(pl, (size_t)V * D, 0, 0.5); m->ref.shared = w.d; m->net.tok_emb = w.r;
	m->ref.lm_head = w.d;
	m->net.output = w.r;
	if (!tied) {
		w = weight(pl, (size_t)V * D, 0, 0.5);
		m->ref.lm_head = w.d;
		m->net.output = w.r;
	}
	w = weight(pl, (size_t)P * D, 0, 0.5); m->ref.enc_pos = w.d; m->net.enc_pos = w.r;
	w = weight(pl, (size_t)P * D, 0, 0.5); m->ref.dec_pos = w.d; m->net.dec_pos = w.r;
	ln_pair(pl, D, &m->ref.enc_ln_w, &m->ref.enc_ln_b, &m->net.enc_ln_emb);
	ln_pair(pl, D, &m->ref.dec_ln_w, &m->ref.dec_ln_b, &m->net.dec_ln_emb);
	w = weight(pl, (size_t)V, 0, 0.3); m->ref.logits_bias = w.d; m->net.logits_bias = w.r;
	for (int l = 0; l < n_enc + n_dec; l++) {
		struct bart_block *b = &m->blocks[l];
		const int dec = l >= n_enc;

		for (int mod = 0; mod < N_BART_MODULES; mod++) {
			const int out = mod == BART_FC1 ? F : D, in = mod == BART_FC2 ? F : D;

			if (!dec && mod >= BART_CROSS_Q && mod <= BART_CROSS_O)
				continue;
			w = weight(pl, (size_t)out * in, 0, 0.35);
			m->rl[l].w[mod] = w.d;
			b->lin[mod].w = w.r;
			w = weight(pl, (size_t)out, 0, 0.2);
			m->rl[l].b[mod] = w.d;
			b->lin[mod].b = w.r;
			b->lin[mod].in = in;
			b->lin[mod].out = out;
		}
		ln_pair(pl, D, &m->rl[l].ln_self_w, &m->rl[l].ln_self_b, &b->ln_self);
		if (dec)
			ln_pair(pl, D, &m->rl[l].ln_cross_w, &m->rl[l].ln_cross_b, &b->ln_cross);
		ln_pair(pl, D, &m->rl[l].ln_ffn_w, &m->rl[l].ln_ffn_b, &b->ln_ffn);
	}
}

/* Random ids below V (padding: pad) for rows of the given lengths. */
static void fill(int32_t *ids, const int32_t *len, int B, int T, int V, int pad)
{
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
			ids[b * T + t] = t < len[b] ? (int32_t)rng_below(&rng, (uint64_t)V) : pad;
}

/* lib logits of B pairs vs the reference on each pair's unpadded prefixes;
 * also the label-smoothed loss of targets (-1 past the target lengths). */
static void compare(const struct model_pair *m, struct bart_acts *a, const int32_t *src,
		    const int32_t *src_len, const int32_t *dec, const int32_t *tgt_len,
		    int B, const char *label)
{
	const int S = a->S, T = a->T, V = m->ref.vocab;
	const real eps = (real)0.1;
	struct nn_step st = { 0 };
	double worst = 0, scale = 1, loss = 0, nll = 0, ref_loss = 0, ref_nll = 0;
	double *ref = calloc((size_t)T * V, sizeof(double));
	int32_t *targets = calloc((size_t)B * T, sizeof(int32_t));
	int64_t count = 0, ref_count = 0;

	if (!ref || !targets)
		abort();
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
			targets[b * T + t] = t < tgt_len[b] ? (int32_t)rng_below(&rng, (uint64_t)V) : -1;
	CHECK_OK(bart_forward(&m->net, a, src, src_len, dec, targets, B, eps, 0, &loss, &nll,
			      &count, &st), (struct ada_err *)NULL);
	for (int b = 0; b < B; b++) {
		CHECK(bart_ref_logits(&m->ref, src + b * S, src_len[b], dec + b * T, tgt_len[b],
				      ref) == 0);
		for (int t = 0; t < tgt_len[b]; t++) {
			const double *r = ref + (long)t * V;
			double mx = r[0], sum = 0, mean = 0;

			for (int v = 0; v < V; v++) {
				double e = fabs((double)a->logits[((long)b * T + t) * V + v] - r[v]);
				worst = e > worst ? e : worst;
				scale = fabs(r[v]) > scale ? fabs(r[v]) : scale;
				mx = r[v] > mx ? r[v] : mx;
				mean += r[v] / V;
			}
			for (int v = 0; v < V; v++)
				sum += exp(r[v] - mx);
			const double lse = mx + log(sum), n = lse - r[targets[b * T + t]];
			ref_nll += n;
			ref_loss += (1 - (double)eps) * n + (double)eps * (lse - mean);
			ref_count++;
		}
	}
	CHECK_MSG(worst <= LOGIT_TOL * scale, "%s: logits differ by %.3g (scale %.3g)", label,
		  worst, scale);
	CHECK_INT_EQ(count, ref_count);
	CHECK_MSG(fabs(nll - ref_nll) <= LOGIT_TOL * 10 * (1 + ref_nll), "%s: nll %.12g vs %.12g",
		  label, nll, ref_nll);
	CHECK_MSG(fabs(loss - ref_loss) <= LOGIT_TOL * 10 * (1 + ref_loss),
		  "%s: smoothed loss %.12g vs %.12g", label, loss, ref_loss);
	free(ref);
	free(targets);
}

static void check_bart(int n_enc, int n_dec, int scaled, int tied)
{
	enum { B = 3, S = 9, T = 7 };
	const int32_t src_len[B] = { 9, 4, 1 }, tgt_len[B] = { 5, 7, 1 };
	int32_t src[B * S], dec[B * T];
	struct model_pair *m = calloc(1, sizeof(*m));
	struct pool pl = { 0 };
	struct bart_acts a;
	char label[96];

	if (!m)
		abort();
	build(m, &pl, n_enc, n_dec, scaled, tied);
	fill(src, src_len, B, S, m->ref.vocab, 1);
	fill(dec, tgt_len, B, T, m->ref.vocab, 1);
	CHECK_OK(bart_acts_init(&a, &m->net.d, B, S, T, 2), (struct ada_err *)NULL);
	snprintf(label, sizeof(label), "%d+%d layers, %s, %s", n_enc, n_dec,
		 scaled ? "scaled" : "unscaled", tied ? "tied" : "untied");
	compare(m, &a, src, src_len, dec, tgt_len, B, label);
	/* fewer rows than allocated: the layer strides keep the full shape */
	compare(m, &a, src, src_len, dec, tgt_len, 2, label);
	/* shorter sequences than allocated (a batch padded to its own longest) */
	{
		struct bart_acts big;

		CHECK_OK(bart_acts_init(&big, &m->net.d, B + 1, S + 4, T + 3, 2),
			 (struct ada_err *)NULL);
		CHECK_OK(bart_acts_set_shape(&big, S, T), (struct ada_err *)NULL);
		compare(m, &big, src, src_len, dec, tgt_len, B, label);
		CHECK_INT_EQ(bart_acts_set_shape(&big, S + 5, T), ADA_EINVAL);
		CHECK_INT_EQ(bart_acts_set_shape(&big, S, 0), ADA_EINVAL);
		bart_acts_release(&big);
	}

	/* Padding is inert: other ids in a padded source or target tail change
	 * no logit of a real position. */
	{
		struct nn_step st = { 0 };
		real *before = calloc((size_t)T * m->ref.vocab, sizeof(real));

		if (!before)
			abort();
		CHECK_OK(bart_forward(&m->net, &a, src, src_len, dec, NULL, B, 0, 0, NULL, NULL,
				      NULL, &st), (struct ada_err *)NULL);
		memcpy(before, a.logits + (size_t)T * m->ref.vocab,
		       sizeof(real) * (size_t)tgt_len[1] * m->ref.vocab);
		for (int s = src_len[1]; s < S; s++)
			src[S + s] = 5;
		CHECK_OK(bart_forward(&m->net, &a, src, src_len, dec, NULL, B, 0, 0, NULL, NULL,
				      NULL, &st), (struct ada_err *)NULL);
		CHECK(memcmp(before, a.logits + (size_t)T * m->ref.vocab,
			     sizeof(real) * (size_t)tgt_len[1] * m->ref.vocab) == 0);
		memcpy(before, a.logits, sizeof(real) * (size_t)tgt_len[0] * m->ref.vocab);
		for (int t = tgt_len[0]; t < T; t++)
			dec[t] = 6;
		CHECK_OK(bart_forward(&m->net, &a, src, src_len, dec, NULL, B, 0, 0, NULL, NULL,
				      NULL, &st), (struct ada_err *)NULL);
		CHECK(memcmp(before, a.logits, sizeof(real) * (size_t)tgt_len[0] * m->ref.vocab) == 0);
		free(before);

		/* Out-of-range inputs are refused. */
		int32_t bad_len[B] = { 9, 0, 1 }, long_len[B] = { 10, 4, 1 };
		CHECK_INT_EQ(bart_forward(&m->net, &a, src, bad_len, dec, NULL, B, 0, 0, NULL, NULL,
					  NULL, &st), ADA_EINVAL);
		CHECK_INT_EQ(bart_forward(&m->net, &a, src, long_len, dec, NULL, B, 0, 0, NULL, NULL,
					  NULL, &st), ADA_EINVAL);
		src[3] = m->ref.vocab;
		CHECK_INT_EQ(bart_forward(&m->net, &a, src, src_len, dec, NULL, B, 0, 0, NULL, NULL,
					  NULL, &st), ADA_EINVAL);
		src[3] = 2;
		dec[2] = -1;
		CHECK_INT_EQ(bart_forward(&m->net, &a, src, src_len, dec, NULL, B, 0, 0, NULL, NULL,
					  NULL, &st), ADA_EINVAL);
		dec[2] = 3;
		CHECK_INT_EQ(bart_forward(&m->net, &a, src, src_len, dec, NULL, B + 1, 0, 0, NULL,
					  NULL, NULL, &st), ADA_EINVAL);
	}
	bart_acts_release(&a);
	pool_free(&pl);
	free(m);
}

static void test_bart_logits(void)
{
	check_bart(1, 1, 0, 1);
	check_bart(2, 2, 1, 1);
	check_bart(2, 1, 0, 0);   /* an untied head, more encoder than decoder layers */
}

/* ---- KV-cached decoding against the uncached forward --------------------- */

#define DEC_TOL (LOGIT_TOL * 10)

/* The uncached logits of B decoder sequences dec[B][T] against one source. */
static void uncached(const struct model_pair *m, const int32_t *src, int S, const int32_t *dec,
		     int B, int T, real *out)
{
	struct bart_acts a;
	struct nn_step st = { 0 };
	int32_t *srcs = calloc((size_t)B * S, sizeof(int32_t));

	if (!srcs)
		abort();
	for (int b = 0; b < B; b++)
		memcpy(srcs + (size_t)b * S, src, sizeof(int32_t) * (size_t)S);
	CHECK_OK(bart_acts_init(&a, &m->net.d, B, S, T, 2), (struct ada_err *)NULL);
	CHECK_OK(bart_forward(&m->net, &a, srcs, NULL, dec, NULL, B, 0, 0, NULL, NULL, NULL, &st),
		 (struct ada_err *)NULL);
	memcpy(out, a.logits, sizeof(real) * (size_t)B * T * m->ref.vocab);
	bart_acts_release(&a);
	free(srcs);
}

static double rel_diff(const real *a, const real *b, size_t n)
{
	double worst = 0, scale = 1;

	for (size_t i = 0; i < n; i++) {
		worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
		scale = fmax(scale, fabs((double)b[i]));
	}
	return worst / scale;
}

/* LoRA on every module, nonzero, so the cached path must apply it too. */
static struct lowrank *adapters[MAX_LAYERS * N_BART_MODULES];
static int n_adapters;

static void attach_adapters(struct model_pair *m, struct pool *pl)
{
	const int L = m->net.d.n_enc_layers + m->net.d.n_dec_layers;

	for (int l = 0; l < L; l++)
		for (int k = 0; k < N_BART_MODULES; k++) {
			struct linear *lin = &m->blocks[l].lin[k];
			struct lowrank *lr;

			if (!lin->w)
				continue;
			lr = lowrank_new(lin->in, lin->out, 2, (real)0.7, 0, l * N_BART_MODULES + k);
			if (!lr)
				abort();
			lr->P = weight(pl, (size_t)lin->out * 2, 0, 0.4).r;
			lr->Q = weight(pl, (size_t)2 * lin->in, 0, 0.4).r;
			lr->g = weight(pl, 2, 1, 0.2).r;
			lin->adapter = &lr->base;
			adapters[n_adapters++] = lr;
		}
}

static void free_adapters(void)
{
	for (int i = 0; i < n_adapters; i++)
		adapter_free(&adapters[i]->base);
	n_adapters = 0;
}

static void check_decode(int scaled, int tied, int with_adapters)
{
	enum { S = 7, T = 6, H = 3 };
	struct model_pair *m = calloc(1, sizeof(*m));
	struct pool pl = { 0 };
	struct bart_decoder dec;
	int32_t src[S], seqs[H * T];
	real *ref, *got;
	int V;

	if (!m)
		abort();
	build(m, &pl, 2, 2, scaled, tied);
	if (with_adapters)
		attach_adapters(m, &pl);
	V = m->ref.vocab;
	ref = calloc((size_t)H * T * V, sizeof(real));
	got = calloc((size_t)H * V, sizeof(real));
	if (!ref || !got)
		abort();
	for (int i = 0; i < S; i++)
		src[i] = (int32_t)rng_below(&rng, (uint64_t)V);
	for (int i = 0; i < H * T; i++)
		seqs[i] = (int32_t)rng_below(&rng, (uint64_t)V);
	CHECK_OK(bart_decoder_init(&dec, &m->net, S + 2, H, T + 2, 2), (struct ada_err *)NULL);
	CHECK_OK(bart_decoder_start(&dec, src, S), (struct ada_err *)NULL);

	/* one hypothesis, position by position */
	uncached(m, src, S, seqs, 1, T, ref);
	for (int t = 0; t < T; t++) {
		double e;
		CHECK_OK(bart_decoder_step(&dec, 1, &seqs[t], t, got), (struct ada_err *)NULL);
		e = rel_diff(got, ref + (size_t)t * V, (size_t)V);
		CHECK_MSG(e <= DEC_TOL, "one hypothesis, position %d: cached logits differ by %.3g", t, e);
	}
	/* three at once */
	CHECK_OK(bart_decoder_start(&dec, src, S), (struct ada_err *)NULL);
	uncached(m, src, S, seqs, H, T, ref);
	for (int t = 0; t < T; t++) {
		int32_t tok[H];
		for (int h = 0; h < H; h++)
			tok[h] = seqs[h * T + t];
		CHECK_OK(bart_decoder_step(&dec, H, tok, t, got), (struct ada_err *)NULL);
		for (int h = 0; h < H; h++) {
			double e = rel_diff(got + (size_t)h * V, ref + ((size_t)h * T + t) * V, (size_t)V);
			CHECK_MSG(e <= DEC_TOL, "hypothesis %d, position %d: differs by %.3g", h, t, e);
		}
	}

	/* beam search's reorder: after 3 positions keep hypotheses 2, 0, 0 and
	 * continue them with new tokens; each must equal its own history */
	{
		const int parent[H] = { 2, 0, 0 }, bad[2] = { 0, 3 };
		int32_t hist[H * T];

		CHECK_OK(bart_decoder_start(&dec, src, S), (struct ada_err *)NULL);
		for (int t = 0; t < 3; t++) {
			int32_t tok[H];
			for (int h = 0; h < H; h++)
				tok[h] = seqs[h * T + t];
			CHECK_OK(bart_decoder_step(&dec, H, tok, t, got), (struct ada_err *)NULL);
		}
		CHECK_INT_EQ(bart_decoder_reorder(&dec, 2, bad), ADA_EINVAL);
		CHECK_OK(bart_decoder_reorder(&dec, H, parent), (struct ada_err *)NULL);
		for (int h = 0; h < H; h++)
			for (int t = 0; t < T; t++)
				hist[h * T + t] = t < 3 ? seqs[parent[h] * T + t]
							: (int32_t)rng_below(&rng, (uint64_t)V);
		uncached(m, src, S, hist, H, T, ref);
		for (int t = 3; t < T; t++) {
			int32_t tok[H];
			for (int h = 0; h < H; h++)
				tok[h] = hist[h * T + t];
			/* fewer live hypotheses than the cache holds, after the first */
			const int n = t == 3 ? H : 2;
			CHECK_OK(bart_decoder_step(&dec, n, tok, t, got), (struct ada_err *)NULL);
			for (int h = 0; h < n; h++) {
				double e = rel_diff(got + (size_t)h * V, ref + ((size_t)h * T + t) * V,
						    (size_t)V);
				CHECK_MSG(e <= DEC_TOL, "reordered hypothesis %d, position %d: differs by %.3g",
					  h, t, e);
			}
		}
		/* positions out of order, too many hypotheses, a bad token */
		CHECK_INT_EQ(bart_decoder_step(&dec, 1, seqs, 2, got), ADA_EINVAL);
		CHECK_INT_EQ(bart_decoder_step(&dec, H + 1, seqs, T, got), ADA_EINVAL);
		{
			int32_t badtok = V;
			CHECK_INT_EQ(bart_decoder_step(&dec, 1, &badtok, T, got), ADA_EINVAL);
		}
	}
	CHECK_INT_EQ(bart_decoder_start(&dec, src, S + 3), ADA_EINVAL);
	bart_decoder_release(&dec);
	free_adapters();
	free(ref);
	free(got);
	pool_free(&pl);
	free(m);
}

static void test_kv_cache(void)
{
	check_decode(0, 1, 0);
	check_decode(1, 0, 0);
	check_decode(1, 1, 1);
}

static void test_acts_shape(void)
{
	struct bart_dims d = { .dim = 8, .hidden = 12, .n_enc_layers = 1, .n_dec_layers = 1,
			       .n_heads = 2, .head_dim = 4, .vocab = 10, .max_positions = 16,
			       .position_offset = 2, .embed_scale = 1, .norm_eps = 1e-5 };
	struct bart_acts a;

	CHECK_OK(bart_acts_init(&a, &d, 2, 14, 14, 1), (struct ada_err *)NULL);
	bart_acts_release(&a);
	/* position ids would run past a table */
	CHECK_INT_EQ(bart_acts_init(&a, &d, 2, 15, 4, 1), ADA_EINVAL);
	CHECK_INT_EQ(bart_acts_init(&a, &d, 2, 4, 15, 1), ADA_EINVAL);
	d.head_dim = 3;
	CHECK_INT_EQ(bart_acts_init(&a, &d, 2, 8, 8, 1), ADA_EINVAL);
}

#ifndef ADA_REAL_DOUBLE
static const double *dcopy(struct pool *pl, const float *src, size_t n)
{
	double *d = pool_add(pl, calloc(n ? n : 1, sizeof(double)));

	for (size_t i = 0; i < n; i++)
		d[i] = src[i];
	return d;
}

/* A frozen matrix (any type) widened to double. */
static const double *dmat(struct pool *pl, const struct frozen_mat *fm)
{
	const size_t n = (size_t)fm->rows * (size_t)fm->cols;
	float *f = calloc(n, sizeof(float));
	const double *d;

	if (!f)
		abort();
	frozen_mat_read(fm, f);
	d = dcopy(pl, f, n);
	free(f);
	return d;
}

/* The reference on a loaded model's weights. */
static void ref_of_model(struct model_pair *mp, struct pool *pl, const struct model *m)
{
	const struct model_config *c = &m->cfg;
	const struct bart_weights *w = m->bart;
	const int D = c->dim, P = c->max_positions;

	mp->ref = (struct bart_ref){ .dim = D, .hidden = c->hidden_dim,
				     .n_enc = c->n_layers - c->n_dec_layers, .n_dec = c->n_dec_layers,
				     .n_heads = c->n_heads, .vocab = c->vocab_size,
				     .embed_scale = c->embed_scale, .eps = c->norm_eps,
				     .layers = mp->rl };
	mp->ref.shared = dmat(pl, &m->tok_emb);
	mp->ref.lm_head = c->tied_output ? mp->ref.shared : dmat(pl, &m->output);
	mp->ref.enc_pos = dcopy(pl, w->enc_pos, (size_t)P * D);
	mp->ref.dec_pos = dcopy(pl, w->dec_pos, (size_t)P * D);
	mp->ref.enc_ln_w = dcopy(pl, w->enc_ln_emb_w, D);
	mp->ref.enc_ln_b = dcopy(pl, w->enc_ln_emb_b, D);
	mp->ref.dec_ln_w = dcopy(pl, w->dec_ln_emb_w, D);
	mp->ref.dec_ln_b = dcopy(pl, w->dec_ln_emb_b, D);
	mp->ref.logits_bias = dcopy(pl, w->final_logits_bias, (size_t)c->vocab_size);
	for (int l = 0; l < c->n_layers; l++) {
		const struct bart_layer *ly = &w->layers[l];
		for (int k = 0; k < N_BART_MODULES; k++) {
			int out, in;
			if (!model_layer_has_module(c, l, k))
				continue;
			model_module_shape(c, k, &out, &in);
			mp->rl[l].w[k] = dmat(pl, &ly->w[k]);
			mp->rl[l].b[k] = dcopy(pl, ly->b[k], (size_t)out);
		}
		mp->rl[l].ln_self_w = dcopy(pl, ly->ln_self_w, D);
		mp->rl[l].ln_self_b = dcopy(pl, ly->ln_self_b, D);
		if (model_is_decoder_layer(c, l)) {
			mp->rl[l].ln_cross_w = dcopy(pl, ly->ln_cross_w, D);
			mp->rl[l].ln_cross_b = dcopy(pl, ly->ln_cross_b, D);
		}
		mp->rl[l].ln_ffn_w = dcopy(pl, ly->ln_ffn_w, D);
		mp->rl[l].ln_ffn_b = dcopy(pl, ly->ln_ffn_b, D);
	}
}

static void check_loaded(const char *dir, const struct tiny_bart_opts *o, int scaled, int tied)
{
	enum { B = 2, S = 12, T = 6 };
	const int32_t src_len[B] = { 12, 5 }, tgt_len[B] = { 6, 3 };
	struct model_config cfg;
	struct model *m = NULL, *x = NULL;
	struct model_pair *mp = calloc(1, sizeof(*mp));
	struct pool pl = { 0 };
	struct bart_acts a;
	struct ada_err err;
	int32_t src[B * S], dec[B * T];
	char label[128];

	if (!mp)
		abort();
	tiny_bart_config(&cfg);
	cfg.embed_scale = scaled ? sqrtf((float)cfg.dim) : 1.0f;
	cfg.tied_output = tied;
	CHECK_OK(tiny_bart_random(&cfg, 21, &m), (struct ada_err *)NULL);
	if (!m)
		goto out;
	if (o && o->dtype != ST_F32)
		tiny_bart_round(m, o->dtype);
	CHECK_OK(tiny_write_bart_hf(m, dir, o, &err), &err);
	CHECK_OK(model_load(dir, NULL, &x, &err), &err);
	if (!x)
		goto out;
	CHECK_INT_EQ(x->cfg.family, ADA_FAMILY_BART);
	CHECK_INT_EQ(x->cfg.n_layers, 4);
	CHECK_INT_EQ(x->cfg.n_dec_layers, 2);
	CHECK_INT_EQ(x->cfg.max_positions, 66);
	CHECK_INT_EQ(x->cfg.tied_output, tied);
	CHECK(fabsf(x->cfg.embed_scale - cfg.embed_scale) < 1e-6f);
	ref_of_model(mp, &pl, x);
	bart_net_from_model(&mp->net, mp->blocks, x);
	fill(src, src_len, B, S, cfg.vocab_size, 1);
	fill(dec, tgt_len, B, T, cfg.vocab_size, 1);
	CHECK_OK(bart_acts_init(&a, &mp->net.d, B, S, T, 2), (struct ada_err *)NULL);
	snprintf(label, sizeof(label), "%s (dtype %d, %s)", dir, o ? (int)o->dtype : 0,
		 o && o->bare ? "bare" : "model.");
	compare(mp, &a, src, src_len, dec, tgt_len, B, label);
	bart_acts_release(&a);
out:
	model_free(x);
	model_free(m);
	pool_free(&pl);
	free(mp);
}

static void test_loaded_models(void)
{
	char *tmp = check_tmpdir("bart_logits");
	char *d1 = path_join(tmp, "f32"), *d2 = path_join(tmp, "bf16");
	char *d3 = path_join(tmp, "bare"), *d4 = path_join(tmp, "untied");
	struct tiny_bart_opts bf16 = { .dtype = ST_BF16, .embed_tokens_name = 1 };
	struct tiny_bart_opts bare = { .bare = 1 };

	check_loaded(d1, NULL, 0, 1);
	check_loaded(d2, &bf16, 1, 1);
	check_loaded(d3, &bare, 0, 1);
	check_loaded(d4, NULL, 1, 0);
	remove_tree(tmp, NULL);
	free(d1);
	free(d2);
	free(d3);
	free(d4);
	free(tmp);
}

/* What the forward pass does not compute is refused by name; the probe
 * describes an encoder-decoder. */
static void test_config(void)
{
	static const struct {
		const char *json, *param;
	} bad[] = {
		{ "{\"model_type\":\"mbart\"}", "model_type" },
		{ "{\"normalize_before\":true}", "normalize_before" },
		{ "{\"add_final_layer_norm\":true}", "add_final_layer_norm" },
		{ "{\"activation_function\":\"relu\"}", "activation_function" },
		{ "{\"decoder_ffn_dim\":48}", "decoder_ffn_dim" },
		{ "{\"decoder_attention_heads\":2}", "decoder_attention_heads" },
		{ "{\"static_position_embeddings\":true}", "static_position_embeddings" },
		{ "{\"add_bias_logits\":true}", "add_bias_logits" },
		{ "{\"decoder_start_token_id\":9999}", "decoder_start_token_id" },
		{ "{\"decoder_layers\":0}", "decoder_layers" },
	};
	char *tmp = check_tmpdir("bart_config");
	struct model_config cfg;
	struct model *m = NULL, *x = NULL;
	struct ada_model_info info;
	struct ada_err err;

	tiny_bart_config(&cfg);
	CHECK_OK(tiny_bart_random(&cfg, 5, &m), (struct ada_err *)NULL);
	if (!m)
		goto out;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *extra = json_loads(bad[i].json, 0, NULL);
		struct tiny_bart_opts o = { .config_extra = extra };

		CHECK_OK(tiny_write_bart_hf(m, tmp, &o, &err), &err);
		CHECK(model_load(tmp, NULL, &x, &err) != ADA_OK);
		CHECK_STR_EQ(err.param, bad[i].param);
		CHECK(ada_model_probe(tmp, &info, &err) != ADA_OK);
		model_free(x);
		x = NULL;
		json_decref(extra);
	}
	CHECK_OK(tiny_write_bart_hf(m, tmp, NULL, &err), &err);
	CHECK_OK(ada_model_probe(tmp, &info, &err), &err);
	CHECK_STR_EQ(info.architecture, "bart");
	CHECK_INT_EQ(info.family, ADA_FAMILY_BART);
	CHECK_INT_EQ(info.n_layers, 4);
	CHECK_INT_EQ(info.n_decoder_layers, 2);
	CHECK_INT_EQ(info.has_tokenizer, 1);
	CHECK_INT_EQ(info.context_length, 64);
	CHECK_STR_EQ(info.dtype, "F32");
	{
		uint64_t elements = 0;

		CHECK_OK(model_load(tmp, NULL, &x, &err), &err);
		if (x) {
			/* every tensor written is used: none left as an extra */
			CHECK_INT_EQ(model_extra_count(x), 0);
			for (int l = 0; l < x->cfg.n_layers; l++)
				for (int k = 0; k < N_BART_MODULES; k++)
					if (model_layer_has_module(&x->cfg, l, k))
						elements += (uint64_t)x->bart->layers[l].w[k].rows *
							    (uint64_t)x->bart->layers[l].w[k].cols;
			CHECK(elements > 0);
			CHECK(info.parameters > (int64_t)elements);
			/* shared 287 x 32, positions 2 x (66 x 32) and their LayerNorms,
			 * encoder layers 2 x 8544, decoder layers 2 x 12832, the bias 287 */
			CHECK_INT_EQ(info.parameters, 56575);
		}
	}
	/* 6 per encoder layer, 10 per decoder layer */
	CHECK_INT_EQ(ada_model_matrices(&info, ADA_MODULES_ALL), 2 * 6 + 2 * 10);
	CHECK_INT_EQ(ada_model_matrices(&info, 1u << MOD_Q), 2 + 2 * 2);
out:
	model_free(x);
	model_free(m);
	remove_tree(tmp, NULL);
	free(tmp);
}

/* vocab.json + merges.txt load as BART's tokenizer: byte-level BPE with
 * the merges, <s> a </s> framing, specials parsed only when asked. */
static void test_tokenizer(void)
{
	char *tmp = check_tmpdir("bart_tokenizer");
	char *vocab = path_join(tmp, "vocab.json"), *merges = path_join(tmp, "merges.txt");
	struct tokenizer *t = NULL;
	struct ada_err err;
	struct ivec ids = { 0 };
	char *text = NULL;
	size_t len;

	CHECK_OK(tiny_write_bart_tokenizer(tmp, &err), &err);
	CHECK_OK(tokenizer_load_gpt2_files(vocab, merges, &t, &err), &err);
	if (!t)
		goto out;
	CHECK_INT_EQ(tokenizer_vocab_size(t), TINY_BART_VOCAB);
	CHECK_INT_EQ(tokenizer_bos(t), 0);
	CHECK_INT_EQ(tokenizer_eos(t), 2);
	CHECK_INT_EQ(tokenizer_pad(t), 1);
	CHECK_OK(tokenizer_encode_pair(t, "a b c", 5, NULL, 0, 0, &ids, NULL, NULL, &err), &err);
	{
		const int32_t want[] = { 0, TINY_BART_BYTE('a'), TINY_BART_SPACE_LETTER('b'),
					 TINY_BART_SPACE_LETTER('c'), 2 };
		CHECK_INT_EQ(ids.n, 5);
		for (size_t i = 0; i < ids.n && i < 5; i++)
			CHECK_INT_EQ(ids.v[i], want[i]);
	}
	/* truncation keeps the framing */
	ids.n = 0;
	CHECK_OK(tokenizer_encode_pair(t, "a b c d", 7, NULL, 0, 4, &ids, NULL, NULL, &err), &err);
	CHECK_INT_EQ(ids.n, 4);
	if (ids.n == 4)
		CHECK(ids.v[0] == 0 && ids.v[3] == 2 && ids.v[2] == TINY_BART_SPACE_LETTER('b'));
	/* "<mask>" is text unless special tokens are parsed */
	ids.n = 0;
	CHECK_OK(tokenizer_encode(t, "x <mask>", 8, 0, &ids, &err), &err);
	CHECK(ids.n > 2);
	ids.n = 0;
	CHECK_OK(tokenizer_encode(t, "x <mask>", 8, TOK_PARSE_SPECIAL, &ids, &err), &err);
	CHECK_INT_EQ(ids.n, 2);
	if (ids.n == 2)
		CHECK_INT_EQ(ids.v[1], TINY_BART_MASK);
	{
		const int32_t seq[] = { 0, TINY_BART_BYTE('h'), TINY_BART_BYTE('i'),
					TINY_BART_SPACE_LETTER('z'), 2 };
		CHECK_OK(tokenizer_decode(t, seq, 5, &text, &len, &err), &err);
		CHECK_STR_EQ(text, "hi z");
	}
out:
	free(text);
	ivec_release(&ids);
	tokenizer_free(t);
	remove_tree(tmp, NULL);
	free(vocab);
	free(merges);
	free(tmp);
}
#endif

int main(void)
{
	rng_seed(&rng, 91);
	RUN(test_bart_logits);
	RUN(test_acts_shape);
	RUN(test_kv_cache);
#ifndef ADA_REAL_DOUBLE
	RUN(test_loaded_models);
	RUN(test_config);
	RUN(test_tokenizer);
#endif
	return check_summary();
}
