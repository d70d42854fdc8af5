/*
 * Tests of the block types (format/quant.h), the frozen products
 * (nn/frozen.h) and models kept in their file's type:
 *   - dequantization of every type against a scalar reference written here
 *     from ggml's definitions (ggml-common.h block_q*, ggml-quants.c
 *     dequantize_row_*), element by element, on blocks of random bytes with
 *     extreme half-float scales (0, the largest half, subnormals, negative);
 *   - our quantizer's round trip: every element within half a step of its
 *     (sub-)block's grid, step read back by the reference; F16 within 2^-11
 *     and BF16 within 2^-8 relative; RMS error of Gaussian data per type
 *     below a stated bound;
 *   - the frozen products (y = x W^T, dx = dy W with beta 0 and 1, decoding
 *     N = 1, one and two threads) against gemm() on the dequantized matrix;
 *   - a GGUF holding every type at once loads, keeps each matrix in its
 *     type, and its logits equal those of the same model widened to f32;
 *   - logits of a model stored as F16, BF16, Q8_0, Q4_K against the F32
 *     original within each type's tolerance;
 *   - full fine-tuning refused on a quantized base (by the net and by the
 *     job check), allowed on BF16; the probe names the types.
 */
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "format/gguf.h"
#include "format/quant.h"
#include "model/model.h"
#include "net/model_bind.h"
#include "net/trained_net.h"
#include "nn/blas.h"
#include "nn/frozen.h"
#include "nn/llama.h"
#include "tiny_model.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

static char *tmp;

static const uint32_t block_types[] = {
	GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
	GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
};
#define N_BLOCK_TYPES (sizeof(block_types) / sizeof(block_types[0]))

/* ---- the reference ---------------------------------------------------- */

/* IEEE binary16, decoded from its fields. */
static double ref_half(const uint8_t *p)
{
	const unsigned h = (unsigned)p[0] | (unsigned)p[1] << 8;
	const int sign = h >> 15, ex = (h >> 10) & 31, man = h & 1023;
	double v;

	if (ex == 31)
		v = man ? NAN : INFINITY;
	else if (ex == 0)
		v = ldexp(man, -24);
	else
		v = ldexp(1024 + man, ex - 25);
	return sign ? -v : v;
}

/* Element e of a block: its value, the step of its grid (|d| or |d sc|)
 * and the size of its offset (|m| or |dmin m|), from the definitions. */
struct ref_elem {
	double value, step, offset;
};

static struct ref_elem ref(uint32_t type, const uint8_t *b, int e)
{
	struct ref_elem r = { 0, 0, 0 };

	switch (type) {
	case GGML_TYPE_Q8_0: {             /* d, int8 qs[32] */
		double d = ref_half(b);
		r.value = d * (int8_t)b[2 + e];
		r.step = fabs(d);
		break;
	}
	case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1:
	case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: {
		const int mn = type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1;
		const int five = type == GGML_TYPE_Q5_0 || type == GGML_TYPE_Q5_1;
		const uint8_t *qh = b + (mn ? 4 : 2), *qs = qh + (five ? 4 : 0);
		double d = ref_half(b), m = mn ? ref_half(b + 2) : 0;
		int q = e < 16 ? qs[e] & 15 : qs[e - 16] >> 4;

		if (five)     /* bit e of the little-endian 32 bits qh */
			q += ((qh[e / 8] >> (e % 8)) & 1) * 16;
		if (!mn)
			q -= five ? 16 : 8;
		r.value = d * q + m;
		r.step = fabs(d);
		r.offset = fabs(m);
		break;
	}
	case GGML_TYPE_Q2_K: {             /* scales[16], qs[64], d, dmin */
		const int h = e / 128, j = e % 128 / 32, l = e % 32, s = e / 16;
		const int q = (b[16 + 32 * h + l] >> (2 * j)) & 3;
		double d = ref_half(b + 80), dmin = ref_half(b + 82);
		r.value = d * (b[s] & 15) * q - dmin * (b[s] >> 4);
		r.step = fabs(d * (b[s] & 15));
		r.offset = fabs(dmin * (b[s] >> 4));
		break;
	}
	case GGML_TYPE_Q3_K: {             /* hmask[32], qs[64], scales[12], d */
		const int h = e / 128, j = e % 128 / 32, l = e % 32, s = e / 16;
		const uint8_t *S = b + 96;
		int q = ((b[32 + 32 * h + l] >> (2 * j)) & 3) + 4 * ((b[l] >> (4 * h + j)) & 1) - 4;
		int lo = s < 8 ? S[s] & 15 : S[s - 8] >> 4;
		int hi = (S[8 + s % 4] >> (2 * (s / 4))) & 3;
		double d = ref_half(b + 108), sc = lo + 16 * hi - 32;
		r.value = d * sc * q;
		r.step = fabs(d * sc);
		break;
	}
	case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: {
		/* d, dmin, scales[12], (Q5_K: qh[32]), qs[128] */
		const int five = type == GGML_TYPE_Q5_K, c = e / 64, upper = e % 64 >= 32;
		const int l = e % 32, s = e / 32;
		const uint8_t *S = b + 4, *qs = b + (five ? 48 : 16), *qh = b + 16;
		int q = upper ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15, sc, m;

		if (five)
			q += 16 * ((qh[l] >> (2 * c + upper)) & 1);
		if (s < 4) {
			sc = S[s] & 63;
			m = S[s + 4] & 63;
		} else {
			sc = (S[s + 4] & 15) | (S[s - 4] >> 6) << 4;
			m = (S[s + 4] >> 4) | (S[s] >> 6) << 4;
		}
		r.value = ref_half(b) * sc * q - ref_half(b + 2) * m;
		r.step = fabs(ref_half(b) * sc);
		r.offset = fabs(ref_half(b + 2) * m);
		break;
	}
	case GGML_TYPE_Q6_K: {             /* ql[128], qh[64], int8 scales[16], d */
		const int h = e / 128, k = e % 128 / 32, l = e % 32;
		const uint8_t L = b[64 * h + 32 * (k & 1) + l];
		const int nib = k >= 2 ? L >> 4 : L & 15;
		const int H = (b[128 + 32 * h + l] >> (2 * k)) & 3;
		double d = ref_half(b + 208) * (int8_t)b[192 + e / 16];
		r.value = d * (nib + 16 * H - 32);
		r.step = fabs(d);
		break;
	}
	}
	return r;
}

/* Halves chosen to stress the decoding: zero, the extremes, subnormals,
 * the smallest normal, negatives, ordinary values. */
static const uint16_t extreme_halves[] = {
	0x0000, 0x8000, 0x7bff, 0xfbff, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00,
	0x2e66, 0x1400, 0x5640,
};

static void put_h(uint8_t *p, uint16_t h)
{
	p[0] = (uint8_t)h;
	p[1] = (uint8_t)(h >> 8);
}

/* Offsets of a block type's halves. */
static void halves_of(uint32_t t, int *a, int *b)
{
	*a = 0;
	*b = -1;
	if (t == GGML_TYPE_Q4_1 || t == GGML_TYPE_Q5_1 || t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K)
		*b = 2;
	else if (t == GGML_TYPE_Q2_K)
		*a = 80, *b = 82;
	else if (t == GGML_TYPE_Q3_K)
		*a = 108;
	else if (t == GGML_TYPE_Q6_K)
		*a = 208;
}

static void test_dequantize_reference(void)
{
	struct rng rng;

	rng_seed(&rng, 11);
	for (size_t ti = 0; ti < N_BLOCK_TYPES; ti++) {
		const uint32_t t = block_types[ti];
		const int bs = quant_block_elems(t), bb = quant_block_bytes(t);
		const int n_blocks = 200;
		uint8_t *blocks = malloc((size_t)n_blocks * bb);
		float *got = malloc(sizeof(float) * (size_t)n_blocks * bs);
		int bad = 0, ha, hb;

		halves_of(t, &ha, &hb);
		for (int i = 0; blocks && i < n_blocks * bb; i++)
			blocks[i] = (uint8_t)(rng_u64(&rng) >> 56);
		for (int k = 0; blocks && k < n_blocks; k++) {
			uint8_t *b = blocks + (size_t)k * bb;
			const size_t nh = sizeof(extreme_halves) / sizeof(extreme_halves[0]);
			/* block k: extreme scales in turn; every 4th keeps random (finite) ones */
			if (k % 4) {
				put_h(b + ha, extreme_halves[k % nh]);
				if (hb >= 0)
					put_h(b + hb, extreme_halves[(k / 3) % nh]);
			} else {
				put_h(b + ha, (uint16_t)(rng_u64(&rng) % 0x7c00));
				if (hb >= 0)
					put_h(b + hb, (uint16_t)(rng_u64(&rng) % 0x7c00 | 0x8000 * (k & 8)));
			}
			/* the all-ones and all-zeros quants */
			if (k == 1 || k == 2)
				for (int i = 0; i < bb; i++)
					if (i != ha && i != ha + 1 && i != hb && i != hb + 1)
						b[i] = k == 1 ? 0xff : 0x00;
		}
		if (!blocks || !got) {
			CHECK(0);
			free(blocks);
			free(got);
			continue;
		}
		quant_dequantize(t, blocks, got, (size_t)n_blocks * bs);
		for (int k = 0; k < n_blocks; k++)
			for (int e = 0; e < bs; e++) {
				struct ref_elem r = ref(t, blocks + (size_t)k * bb, e);
				double g = got[(size_t)k * bs + e];
				/* float arithmetic against exact: a few roundings of each term */
				double tol = 4 * FLT_EPSILON * (fabs(r.value) + r.offset + 64 * r.step) + 1e-37;
				if (!(fabs(g - r.value) <= tol) && bad++ < 5)
					CHECK_MSG(0, "%s block %d element %d: %.9g, reference %.9g",
						  ggml_type_name(t), k, e, g, r.value);
			}
		CHECK_MSG(!bad, "%s: %d elements differ from the reference", ggml_type_name(t), bad);
		free(blocks);
		free(got);
	}
}

/* ---- the quantizer's round trip -------------------------------------- */

/* Rows of 256 values, each a different trial: Gaussian, one outlier,
 * all positive, all negative, constant, zeros, tiny, huge, mixed scales. */
static void trial_data(float *x, int rows, struct rng *rng)
{
	for (int r = 0; r < rows; r++) {
		float *v = x + 256 * r;
		for (int i = 0; i < 256; i++) {
			double g = rng_normal(rng);
			switch (r % 9) {
			case 0: v[i] = (float)g; break;
			case 1: v[i] = (float)(i == 37 ? 50 * g : g); break;
			case 2: v[i] = (float)(0.5 + 0.5 * rng_uniform(rng)); break;
			case 3: v[i] = (float)(-0.5 - 0.5 * rng_uniform(rng)); break;
			case 4: v[i] = 0.125f; break;
			case 5: v[i] = 0; break;
			case 6: v[i] = (float)(1e-5 * g); break;
			case 7: v[i] = (float)(900 * g); break;
			default: v[i] = (float)(g * (i / 32 + 1) * (i % 2 ? 1e-3 : 1)); break;
			}
		}
	}
}

static void test_roundtrip_bounds(void)
{
	/* RMS error of N(0, 1) data over its RMS, per type: bounds a little
	 * above what this quantizer measures (the printed values), so a
	 * regression of the rounding or the scales fails. */
	static const struct { uint32_t t; double rms; } rms_bound[] = {
		{ GGML_TYPE_Q8_0, 0.006 }, { GGML_TYPE_Q4_0, 0.11 }, { GGML_TYPE_Q4_1, 0.10 },
		{ GGML_TYPE_Q5_0, 0.055 }, { GGML_TYPE_Q5_1, 0.05 }, { GGML_TYPE_Q2_K, 0.45 },
		{ GGML_TYPE_Q3_K, 0.22 }, { GGML_TYPE_Q4_K, 0.11 }, { GGML_TYPE_Q5_K, 0.055 },
		{ GGML_TYPE_Q6_K, 0.028 },
	};
	const int rows = 9 * 8, n = 256 * rows;
	float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
	uint8_t *q = malloc((size_t)n * 4);
	struct rng rng;

	if (!x || !y || !q) {
		CHECK(0);
		goto out;
	}
	rng_seed(&rng, 5);
	trial_data(x, rows, &rng);
	for (size_t ti = 0; ti < N_BLOCK_TYPES; ti++) {
		const uint32_t t = block_types[ti];
		const int bs = quant_block_elems(t), bb = quant_block_bytes(t);
		double se = 0, sx = 0, worst = 0;
		int bad = 0;

		CHECK_INT_EQ(quant_quantize(t, x, q, (size_t)n), 0);
		quant_dequantize(t, q, y, (size_t)n);
		for (int i = 0; i < n; i++) {
			struct ref_elem r = ref(t, q + (size_t)(i / bs) * bb, i % bs);
			double err = fabs((double)x[i] - y[i]);
			double bound = 0.5 * r.step * (1 + 1e-4) +
				       4 * FLT_EPSILON * (fabs(x[i]) + r.offset) + 1e-30;
			if (r.value != y[i] && bad++ < 3)
				CHECK_MSG(0, "%s: element %d decodes differently", ggml_type_name(t), i);
			if (!(err <= bound) && bad++ < 6)
				CHECK_MSG(0, "%s: element %d (row kind %d): |%.9g - %.9g| = %.3g > half a step %.3g",
					  ggml_type_name(t), i, i / 256 % 9, x[i], y[i], err, bound);
			if (r.step > 0 && err / r.step > worst)
				worst = err / r.step;
			if (i / 256 % 9 == 0) {
				se += err * err;
				sx += (double)x[i] * x[i];
			}
		}
		CHECK_MSG(!bad, "%s: %d elements off their grid", ggml_type_name(t), bad);
		for (size_t k = 0; k < sizeof(rms_bound) / sizeof(rms_bound[0]); k++)
			if (rms_bound[k].t == t) {
				double rel = sqrt(se / sx);
				fprintf(stderr, "%-5s  relative RMS error %.4f (bound %.3f), worst %.3f steps\n",
					ggml_type_name(t), rel, rms_bound[k].rms, worst);
				CHECK_MSG(rel <= rms_bound[k].rms, "%s: relative RMS error %.4f > %.3f",
					  ggml_type_name(t), rel, rms_bound[k].rms);
			}
	}
	/* F16 and BF16: round to nearest, 2^-11 and 2^-8 relative in range. */
	for (int k = 0; k < 2; k++) {
		const uint32_t t = k ? GGML_TYPE_BF16 : GGML_TYPE_F16;
		const double rel = k ? 1.0 / 256 : 1.0 / 2048;
		int bad = 0;

		CHECK_INT_EQ(quant_quantize(t, x, q, (size_t)n), 0);
		quant_dequantize(t, q, y, (size_t)n);
		for (int i = 0; i < n; i++)
			if (fabsf(x[i]) >= 6.2e-5f && !(fabs((double)x[i] - y[i]) <= rel * fabs(x[i])))
				bad++;
		CHECK_MSG(!bad, "%s: %d elements beyond %g relative", ggml_type_name(t), bad, rel);
	}
	/* What no scale can hold is refused, not written wrongly. */
	x[3] = NAN;
	CHECK_INT_EQ(quant_quantize(GGML_TYPE_Q4_K, x, q, 256), -1);
	x[3] = 1e30f;
	CHECK_INT_EQ(quant_quantize(GGML_TYPE_Q8_0, x, q, 32), -1);
	CHECK_INT_EQ(quant_fallback(GGML_TYPE_Q4_K, 288), GGML_TYPE_Q5_0);
	CHECK_INT_EQ(quant_fallback(GGML_TYPE_Q6_K, 96), GGML_TYPE_Q8_0);
	CHECK_INT_EQ(quant_fallback(GGML_TYPE_Q4_K, 172), GGML_TYPE_F16);
	CHECK_INT_EQ(quant_fallback(GGML_TYPE_Q4_K, 512), GGML_TYPE_Q4_K);
out:
	free(x);
	free(y);
	free(q);
}

/* ---- the frozen products ---------------------------------------------- */

static float max_abs(const float *v, size_t n)
{
	float m = 0;

	for (size_t i = 0; i < n; i++)
		m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
	return m;
}

static float max_diff(const float *a, const float *b, size_t n)
{
	float m = 0;

	for (size_t i = 0; i < n; i++)
		m = fabsf(a[i] - b[i]) > m ? fabsf(a[i] - b[i]) : m;
	return m;
}

static void test_frozen_products(void)
{
	static const uint32_t types[] = { GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
					  GGML_TYPE_Q4_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K,
					  GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
	const int R = 70, C = 768, N = 37;
	float *w = malloc(sizeof(float) * R * C), *wd = malloc(sizeof(float) * R * C);
	float *x = malloc(sizeof(float) * N * C), *dy = malloc(sizeof(float) * N * R);
	float *y1 = malloc(sizeof(float) * N * R), *y2 = malloc(sizeof(float) * N * R);
	float *d1 = malloc(sizeof(float) * N * C), *d2 = malloc(sizeof(float) * N * C);
	uint8_t *q = malloc((size_t)R * C * 4);
	struct rng rng;

	if (!w || !wd || !x || !dy || !y1 || !y2 || !d1 || !d2 || !q) {
		CHECK(0);
		goto out;
	}
	rng_seed(&rng, 9);
	for (int i = 0; i < R * C; i++)
		w[i] = (float)(0.05 * rng_normal(&rng));
	for (int i = 0; i < N * C; i++)
		x[i] = (float)rng_normal(&rng);
	for (int i = 0; i < N * R; i++)
		dy[i] = (float)rng_normal(&rng);
	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
		const uint32_t t = types[ti];
		struct frozen_mat fm = { q, t, R, C, (size_t)quant_bytes(t, C) };

		CHECK_INT_EQ(quant_quantize(t, w, q, (size_t)R * C), 0);
		frozen_mat_read(&fm, wd);
		for (int nt = 1; nt <= 2; nt++) {
			ada_set_threads(nt);
			/* y = x W^T */
			gemm(0, 1, N, R, C, 1, x, C, wd, C, 0, y2, R);
			frozen_forward(&fm, x, N, y1, NULL);
			CHECK_MSG(max_diff(y1, y2, (size_t)N * R) <= 1e-5f * max_abs(y2, (size_t)N * R),
				  "%s forward (%d threads): off by %g", ggml_type_name(t), nt,
				  max_diff(y1, y2, (size_t)N * R));
			/* one row, as the decoder runs it */
			frozen_forward(&fm, x, 1, y1, NULL);
			CHECK(max_diff(y1, y2, R) <= 1e-5f * max_abs(y2, R));
			/* dx = dy W, overwriting, then accumulating */
			gemm(0, 0, N, C, R, 1, dy, R, wd, C, 0, d2, C);
			for (int i = 0; i < N * C; i++)
				d1[i] = 1e9f;            /* beta 0 ignores what was there */
			frozen_backward_dx(&fm, dy, N, d1, 0, NULL);
			CHECK_MSG(max_diff(d1, d2, (size_t)N * C) <= 1e-5f * max_abs(d2, (size_t)N * C),
				  "%s dx (%d threads): off by %g", ggml_type_name(t), nt,
				  max_diff(d1, d2, (size_t)N * C));
			gemm(0, 0, N, C, R, 1, dy, R, wd, C, 1, d2, C);
			frozen_backward_dx(&fm, dy, N, d1, 1, NULL);
			CHECK_MSG(max_diff(d1, d2, (size_t)N * C) <= 2e-5f * max_abs(d2, (size_t)N * C),
				  "%s dx += (%d threads)", ggml_type_name(t), nt);
			/* embedding rows */
			{
				const int32_t ids[3] = { 69, 0, 31 };
				frozen_rows(&fm, ids, 3, d1);
				for (int k = 0; k < 3; k++)
					CHECK(!memcmp(d1 + (size_t)k * C, wd + (size_t)ids[k] * C,
						      sizeof(float) * C));
			}
		}
	}
	ada_set_threads(2);
out:
	free(w);
	free(wd);
	free(x);
	free(dy);
	free(y1);
	free(y2);
	free(d1);
	free(d2);
	free(q);
}

/* ---- models ----------------------------------------------------------- */

/* A llama whose matrices' rows are whole super-blocks (dim 256). */
static void quant_config(struct model_config *c)
{
	memset(c, 0, sizeof(*c));
	c->family = ADA_FAMILY_LLAMA;
	strcpy(c->arch, "llama");
	c->dim = 256;
	c->hidden_dim = 512;
	c->n_layers = 2;
	c->n_heads = 4;
	c->n_kv_heads = 2;
	c->head_dim = 64;
	c->vocab_size = 260;
	c->context_length = 64;
	c->rope_theta = 10000;
	c->norm_eps = 1e-5f;
	c->tied_output = 1;
}

/* Logits [T][vocab] of m on a fixed sequence, into out (malloc'ed). */
static float *logits_of(const struct model *m, int T)
{
	struct llama_block *blocks = calloc((size_t)m->cfg.n_layers, sizeof(*blocks));
	struct llama_net net;
	struct llama_acts a;
	int32_t tokens[64];
	float *out = NULL;

	if (!blocks || T > 64)
		goto out;
	for (int t = 0; t < T; t++)
		tokens[t] = (int32_t)((t * 37 + 11) % m->cfg.vocab_size);
	llama_net_from_model(&net, blocks, m);
	if (llama_acts_init(&a, &net.d, 1, T, 2))
		goto out;
	if (!llama_forward(&net, &a, tokens, NULL, 1, 0, NULL, NULL, &(struct nn_step){ 0 })) {
		out = malloc(sizeof(float) * (size_t)T * m->cfg.vocab_size);
		if (out)
			memcpy(out, a.logits, sizeof(float) * (size_t)T * m->cfg.vocab_size);
	}
	llama_acts_release(&a);
out:
	free(blocks);
	return out;
}

static double rms_diff(const float *a, const float *b, size_t n, double *rms_b)
{
	double se = 0, sb = 0;

	for (size_t i = 0; i < n; i++) {
		se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		sb += (double)b[i] * b[i];
	}
	*rms_b = sqrt(sb / n);
	return sqrt(se / n);
}

/* The model at path against the same model widened to f32: the frozen
 * products must give what f32 products of the same values give. */
static void check_against_widened(const struct model *m, const char *what)
{
	struct model *w = NULL;
	float *a, *b;
	const int T = 24;

	CHECK_OK(tiny_model_widen(m, &w), NULL);
	if (!w)
		return;
	a = logits_of(m, T);
	b = logits_of(w, T);
	CHECK(a && b);
	if (a && b)
		CHECK_MSG(max_diff(a, b, (size_t)T * m->cfg.vocab_size) <=
			  1e-4f * max_abs(b, (size_t)T * m->cfg.vocab_size),
			  "%s: frozen and widened logits differ by %g", what,
			  max_diff(a, b, (size_t)T * m->cfg.vocab_size));
	free(a);
	free(b);
	model_free(w);
}

static void write_mixed(const char *from, const char *to)
{
	/* Every type in one file, a different one per matrix, the way
	 * llama.cpp mixes Q4_K, Q6_K and F32 in a Q4_K_M file. */
	static const uint32_t order[] = {
		GGML_TYPE_Q6_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q3_K, GGML_TYPE_Q2_K,
		GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
		GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_F32,
	};
	struct gguf *g = NULL;
	struct gguf_writer *w = NULL;
	struct ada_err err;
	int k = 0;

	CHECK_OK(gguf_open(from, &g, &err), &err);
	CHECK_OK(gguf_writer_new(3, &w, &err), &err);
	if (!g || !w)
		goto out;
	for (uint64_t i = 0; i < g->n_kv; i++)
		CHECK_OK(gguf_writer_copy_kv(w, &g->kv[i], &err), &err);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		uint32_t type = t->n_dims == 2 ? order[k++ % (sizeof(order) / sizeof(order[0]))] : t->type;
		CHECK_OK(gguf_writer_add_tensor_typed(w, t->name, t->n_dims, t->dims, t->data, t->type,
						      type, &err), &err);
	}
	CHECK_OK(gguf_writer_write(w, to, &err), &err);
out:
	gguf_writer_free(w);
	gguf_close(g);
}

static void test_mixed_file_loads(void)
{
	char f32[4200], mixed[4200];
	struct model_config c;
	struct model *m = NULL;
	struct ada_model_info info;
	struct ada_err err;
	uint64_t mask;
	char types[96];

	snprintf(f32, sizeof(f32), "%s/q-f32.gguf", tmp);
	snprintf(mixed, sizeof(mixed), "%s/q-mixed.gguf", tmp);
	quant_config(&c);
	CHECK_OK(model_create_file(&c, 3, GGML_TYPE_F32, "quant test", f32, &err), &err);
	write_mixed(f32, mixed);
	CHECK_OK(model_load(mixed, NULL, &m, &err), &err);
	if (!m)
		return;
	mask = model_weight_types(m, types, sizeof(types));
	for (size_t ti = 0; ti < N_BLOCK_TYPES; ti++)
		CHECK_MSG(mask & (1ull << block_types[ti]), "%s missing from the mixed file (%s)",
			  ggml_type_name(block_types[ti]), types);
	CHECK(mask & (1ull << GGML_TYPE_F16) && mask & (1ull << GGML_TYPE_BF16));
	CHECK_INT_EQ(m->tok_emb.type, GGML_TYPE_Q6_K);
	CHECK_INT_EQ(m->layers[0].wq.type, GGML_TYPE_Q4_K);
	/* Kept as stored: nothing widened, nothing copied (llama Q/K need no
	 * permutation). */
	CHECK_INT_EQ(m->n_owned, 0);
	check_against_widened(m, "mixed file");
	CHECK_OK(ada_model_probe(mixed, &info, &err), &err);
	CHECK_MSG(info.quantized && strstr(info.dtype, "Q4_K") && strstr(info.dtype, "+F32"), "%s",
		  info.dtype);
	model_free(m);
}

static void test_logits_per_type(void)
{
	/* RMS of (logits - the F32 original's) over the original's RMS: a little
	 * above what each type gives on this model (printed). The weights' own
	 * relative RMS error (test_roundtrip_bounds: F16 ~3e-4, BF16 ~2e-3,
	 * Q8_0 ~5e-3, Q4_K ~8e-2) grows through two blocks and the tied,
	 * equally quantized output matrix by a factor of about 2.5. */
	static const struct { const char *name; uint32_t t; double tol; } cases[] = {
		{ "F16", GGML_TYPE_F16, 2e-3 }, { "BF16", GGML_TYPE_BF16, 1.5e-2 },
		{ "Q8_0", GGML_TYPE_Q8_0, 2e-2 }, { "Q4_K", GGML_TYPE_Q4_K, 0.3 },
	};
	char f32[4200], path[4200];
	struct model *base = NULL;
	struct ada_err err;
	float *ref_logits = NULL;
	const int T = 24;

	snprintf(f32, sizeof(f32), "%s/q-f32.gguf", tmp);
	CHECK_OK(model_load(f32, NULL, &base, &err), &err);
	if (base)
		ref_logits = logits_of(base, T);
	for (size_t k = 0; ref_logits && k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct model *m = NULL;
		float *l;
		double rms, rel;

		snprintf(path, sizeof(path), "%s/q-%s.gguf", tmp, cases[k].name);
		CHECK_OK(ada_quantize(f32, path, cases[k].name, &err), &err);
		CHECK_OK(model_load(path, NULL, &m, &err), &err);
		if (!m)
			continue;
		CHECK_INT_EQ(m->layers[1].w_down.type, cases[k].t);
		check_against_widened(m, cases[k].name);
		l = logits_of(m, T);
		if (l) {
			rel = rms_diff(l, ref_logits, (size_t)T * base->cfg.vocab_size, &rms) / rms;
			fprintf(stderr, "%-5s  logits: relative RMS difference to F32 %.5f (tolerance %g)\n",
				cases[k].name, rel, cases[k].tol);
			CHECK_MSG(rel <= cases[k].tol, "%s: logits off by %.4f of their RMS",
				  cases[k].name, rel);
		}
		free(l);
		model_free(m);
	}
	free(ref_logits);
	model_free(base);
}

static void test_full_refused(void)
{
	char path[4200];
	struct trained_net tn;
	struct ada_method meth;
	struct net_spec spec = { .task = ADA_TASK_CAUSAL_LM };
	struct model *m = NULL;
	struct ada_model_info info;
	struct ada_err err;

	ada_method_defaults(ADA_METHOD_FULL, &meth);
	meth.hp.seq_len = 32;
	snprintf(path, sizeof(path), "%s/q-Q4_K.gguf", tmp);
	CHECK_OK(model_load(path, NULL, &m, &err), &err);
	if (m) {
		CHECK_INT_EQ(trained_net_build(&tn, m, &meth, &spec, 1, 1, &err), ADA_EUNSUPPORTED);
		CHECK_MSG(strstr(err.msg, "Q4_K") && !strcmp(err.param, "method.type"), "%s", err.msg);
		model_free(m);
	}
	CHECK_OK(ada_model_probe(path, &info, &err), &err);
	CHECK_INT_EQ(ada_method_check_model(&meth, &info, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "Q4_K") != NULL);
	/* BF16: full fine-tuning widens the weights into its f32 arena. */
	snprintf(path, sizeof(path), "%s/q-BF16.gguf", tmp);
	m = NULL;
	CHECK_OK(model_load(path, NULL, &m, &err), &err);
	if (m) {
		struct model *w = NULL;
		CHECK_OK(trained_net_build(&tn, m, &meth, &spec, 1, 1, &err), &err);
		CHECK_OK(tiny_model_widen(m, &w), NULL);
		if (w && tn.blocks)
			CHECK(!memcmp(tn.blocks[1].lin[MOD_UP].w, w->layers[1].w_up.data,
				      sizeof(float) * (size_t)m->cfg.hidden_dim * m->cfg.dim));
		trained_net_release(&tn);
		model_free(w);
		CHECK_OK(ada_model_probe(path, &info, &err), &err);
		CHECK_STR_EQ(info.dtype, "BF16");
		CHECK_INT_EQ(info.weight_bytes, 2 * (int64_t)m->cfg.dim *
			     (m->cfg.vocab_size + m->cfg.n_layers * (2 * m->cfg.dim + 2 * 128 +
								      3 * m->cfg.hidden_dim)));
		CHECK_OK(ada_method_check_model(&meth, &info, &err), &err);
		model_free(m);
	}
}

int main(void)
{
	tmp = check_tmpdir("quant");
	ada_set_threads(2);
	RUN(test_dequantize_reference);
	RUN(test_roundtrip_bounds);
	RUN(test_frozen_products);
	RUN(test_mixed_file_loads);
	RUN(test_logits_per_type);
	RUN(test_full_refused);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
