/*
 * quant — ggml block layouts, dequantization and our quantizer; see quant.h
 * for the layouts' source and the quantizer's rule.
 *
 * Blocks are read and written as bytes at fixed offsets (no packed structs):
 * a block in a mapping may sit at any alignment.
 */
#include "format/quant.h"

#include <math.h>
#include <strings.h>
#include <string.h>

#include "util/half.h"
#ifdef __F16C__
#include <immintrin.h>
#endif

#define QK 32
#define QK_K 256

struct type_traits {
	int block, bytes;
};

static const struct type_traits traits[] = {
	[GGML_TYPE_F32] = { 1, 4 },    [GGML_TYPE_F16] = { 1, 2 },
	[GGML_TYPE_Q4_0] = { QK, 18 }, [GGML_TYPE_Q4_1] = { QK, 20 },
	[GGML_TYPE_Q5_0] = { QK, 22 }, [GGML_TYPE_Q5_1] = { QK, 24 },
	[GGML_TYPE_Q8_0] = { QK, 34 }, [GGML_TYPE_Q2_K] = { QK_K, 84 },
	[GGML_TYPE_Q3_K] = { QK_K, 110 }, [GGML_TYPE_Q4_K] = { QK_K, 144 },
	[GGML_TYPE_Q5_K] = { QK_K, 176 }, [GGML_TYPE_Q6_K] = { QK_K, 210 },
	[GGML_TYPE_BF16] = { 1, 2 },
};

static const char *const names[] = {
	[0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0",
	[7] = "Q5_1", [8] = "Q8_0", [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K",
	[12] = "Q4_K", [13] = "Q5_K", [14] = "Q6_K", [15] = "Q8_K",
	[16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S",
	[20] = "IQ4_NL", [21] = "IQ3_S", [22] = "IQ2_S", [23] = "IQ4_XS",
	[24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64",
	[29] = "IQ1_M", [30] = "BF16",
};

const char *ggml_type_name(uint32_t type)
{
	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "unknown";
}

int ggml_type_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i] && quant_supported((uint32_t)i) && !strcasecmp(name, names[i]))
			return (int)i;
	return -1;
}

int quant_supported(uint32_t type)
{
	return type < sizeof(traits) / sizeof(traits[0]) && traits[type].block > 0;
}

int quant_is_block(uint32_t type)
{
	return quant_supported(type) && traits[type].block > 1;
}

int quant_block_elems(uint32_t type)
{
	return quant_supported(type) ? traits[type].block : 0;
}

int quant_block_bytes(uint32_t type)
{
	return quant_supported(type) ? traits[type].bytes : 0;
}

uint64_t quant_bytes(uint32_t type, uint64_t n)
{
	if (!quant_supported(type) || n % (uint64_t)traits[type].block)
		return 0;
	return n / (uint64_t)traits[type].block * (uint64_t)traits[type].bytes;
}

uint32_t quant_fallback(uint32_t type, uint64_t cols)
{
	uint32_t fb;

	if (!quant_supported(type) || cols % (uint64_t)traits[type].block == 0)
		return type;
	switch (type) {
	case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: fb = GGML_TYPE_Q4_0; break;
	case GGML_TYPE_Q4_K: fb = GGML_TYPE_Q5_0; break;
	case GGML_TYPE_Q5_K: fb = GGML_TYPE_Q5_1; break;
	case GGML_TYPE_Q6_K: fb = GGML_TYPE_Q8_0; break;
	default: fb = GGML_TYPE_F16; break;
	}
	return cols % (uint64_t)traits[fb].block ? GGML_TYPE_F16 : fb;
}

/* ---- halves ----------------------------------------------------------- */

static inline float half_at(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, 2);
	return f16_to_f32(h);
}

static inline void put_half(uint8_t *p, uint16_t h)
{
	memcpy(p, &h, 2);
}

static inline int half_finite(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, 2);
	return (h & 0x7c00u) != 0x7c00u;
}

/* The smallest half >= v (v >= 0); 0x7c00 (infinity) when v is too large. */
static uint16_t half_up(float v)
{
	uint16_t h = f32_to_f16(v);

	if ((h & 0x7c00u) != 0x7c00u && f16_to_f32(h) < v)
		h++;
	return h;
}

/* The largest half <= v (any sign). */
static uint16_t half_down(float v)
{
	uint16_t h = f32_to_f16(v);

	if ((h & 0x7c00u) == 0x7c00u || !(f16_to_f32(h) > v))
		return h;
	if (h == 0)
		return 0x8001u;
	return h & 0x8000u ? (uint16_t)(h + 1) : (uint16_t)(h - 1);
}

/* ---- dequantization --------------------------------------------------- */

static void deq_f16(const uint8_t *src, float *y, size_t n)
{
	size_t i = 0;
#ifdef __F16C__
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
#endif
	for (; i < n; i++)
		y[i] = half_at(src + 2 * i);
}

static void deq_bf16(const uint8_t *src, float *y, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t h;
		uint32_t u;
		memcpy(&h, src + 2 * i, 2);
		u = (uint32_t)h << 16;
		memcpy(&y[i], &u, 4);
	}
}

/* Q8_0: d@0, int8 qs[32]@2; element j = d * qs[j]. */
static void deq_q8_0(const uint8_t *b, float *y)
{
	const float d = half_at(b);
	const int8_t *qs = (const int8_t *)(b + 2);

	for (int j = 0; j < QK; j++)
		y[j] = qs[j] * d;
}

/* Q4_0: d@0, qs[16]@2; element j < 16 = low nibble of qs[j], j + 16 its
 * high nibble; x = d * (q - 8). Q4_1: d@0, m@2, qs@4; x = d q + m. */
static void deq_q4(const uint8_t *b, float *y, int with_min)
{
	const float d = half_at(b), m = with_min ? half_at(b + 2) : 0;
	const uint8_t *qs = b + (with_min ? 4 : 2);
	const int off = with_min ? 0 : 8;

	for (int j = 0; j < QK / 2; j++) {
		y[j] = ((qs[j] & 0x0f) - off) * d + m;
		y[j + QK / 2] = ((qs[j] >> 4) - off) * d + m;
	}
}

/* Q5_0: d@0, qh[4]@2 (a little-endian u32: bit j is element j's 5th bit),
 * qs[16]@6 as Q4_0; x = d (q - 16). Q5_1: d@0, m@2, qh@4, qs@8; x = d q + m. */
static void deq_q5(const uint8_t *b, float *y, int with_min)
{
	const float d = half_at(b), m = with_min ? half_at(b + 2) : 0;
	const uint8_t *qhp = b + (with_min ? 4 : 2), *qs = qhp + 4;
	const int off = with_min ? 0 : 16;
	uint32_t qh;

	memcpy(&qh, qhp, 4);
	for (int j = 0; j < QK / 2; j++) {
		int q0 = (qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
		int q1 = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
		y[j] = (q0 - off) * d + m;
		y[j + QK / 2] = (q1 - off) * d + m;
	}
}

/* Q2_K: scales[16]@0, qs[64]@16, d@80, dmin@82. Element e = 128h + 32j + l
 * (h < 2, j < 4, l < 32) is bits 2j..2j+1 of qs[32h + l]; its sub-block is
 * e / 16, whose scales byte holds sc (low nibble) and m (high nibble):
 * x = (d sc) q - (dmin m). */
static void deq_q2_k(const uint8_t *b, float *y)
{
	const uint8_t *sc = b, *qs = b + 16;
	const float d = half_at(b + 80), dmin = half_at(b + 82);

	for (int e = 0; e < QK_K; e++) {
		const int h = e / 128, j = (e % 128) / 32, l = e % 32, s = e / 16;
		const int q = (qs[32 * h + l] >> (2 * j)) & 3;
		const float dl = d * (sc[s] & 0x0f), ml = dmin * (sc[s] >> 4);
		y[e] = dl * q - ml;
	}
}

/* The 16 six-bit scales of Q3_K from its 12 bytes: sub-block s has its low
 * four bits in byte s (s < 8, low nibble) or s - 8 (high nibble), its top
 * two bits at bit 2 (s / 4) of byte 8 + s % 4; the scale is that - 32. */
static int q3k_scale(const uint8_t *S, int s)
{
	int lo = s < 8 ? S[s] & 0x0f : S[s - 8] >> 4;
	int hi = (S[8 + s % 4] >> (2 * (s / 4))) & 3;

	return (lo | hi << 4) - 32;
}

/* Q3_K: hmask[32]@0, qs[64]@32, scales[12]@96, d@108. Element e = 128h +
 * 32j + l: low bits 2j..2j+1 of qs[32h + l], high bit (1 << (4h + j)) of
 * hmask[l]; q = low - (high ? 0 : 4); x = (d sc) q with sc of sub-block
 * e / 16. */
static void deq_q3_k(const uint8_t *b, float *y)
{
	const uint8_t *hm = b, *qs = b + 32, *S = b + 96;
	const float d = half_at(b + 108);

	for (int e = 0; e < QK_K; e++) {
		const int h = e / 128, j = (e % 128) / 32, l = e % 32;
		int q = (qs[32 * h + l] >> (2 * j)) & 3;
		if (!(hm[l] & (1u << (4 * h + j))))
			q -= 4;
		y[e] = (d * (float)q3k_scale(S, e / 16)) * q;
	}
}

/* Q4_K/Q5_K's eight six-bit scales and mins (ggml's get_scale_min_k4). */
static void k4_scale_min(const uint8_t *S, int s, int *sc, int *m)
{
	if (s < 4) {
		*sc = S[s] & 63;
		*m = S[s + 4] & 63;
	} else {
		*sc = (S[s + 4] & 0x0f) | ((S[s - 4] >> 6) << 4);
		*m = (S[s + 4] >> 4) | ((S[s] >> 6) << 4);
	}
}

/* Q4_K: d@0, dmin@2, scales[12]@4, qs[128]@16. Chunk c < 4 covers
 * elements 64c..64c+63: the first 32 are the low nibbles of qs[32c + l]
 * (sub-block 2c), the next 32 the high nibbles (sub-block 2c + 1).
 * x = (d sc) q - (dmin m). Q5_K: d, dmin, scales, qh[32]@16, qs[128]@48;
 * the low-nibble element l of chunk c adds 16 when bit 2c of qh[l] is set,
 * the high-nibble one when bit 2c + 1 is. */
static void deq_q45_k(const uint8_t *b, float *y, int five)
{
	const float d = half_at(b), dmin = half_at(b + 2);
	const uint8_t *S = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);

	for (int c = 0; c < 4; c++) {
		int sc, m;
		k4_scale_min(S, 2 * c, &sc, &m);
		const float d1 = d * sc, m1 = dmin * m;
		k4_scale_min(S, 2 * c + 1, &sc, &m);
		const float d2 = d * sc, m2 = dmin * m;
		const uint8_t *q = qs + 32 * c;

		for (int l = 0; l < 32; l++) {
			int lo = q[l] & 0x0f, hi = q[l] >> 4;
			if (five) {
				lo += qh[l] & (1u << (2 * c)) ? 16 : 0;
				hi += qh[l] & (2u << (2 * c)) ? 16 : 0;
			}
			y[64 * c + l] = d1 * lo - m1;
			y[64 * c + 32 + l] = d2 * hi - m2;
		}
	}
}

/* Q6_K: ql[128]@0, qh[64]@128, int8 scales[16]@192, d@208. Half h < 2
 * (elements 128h..128h+127) reads ql + 64h, qh + 32h; for l < 32, with
 * L = ql[64h + l], L2 = ql[64h + 32 + l], H = qh[32h + l]:
 *   element 128h + l      = (L  & 15) | (H      & 3) << 4
 *   element 128h + 32 + l = (L2 & 15) | (H >> 2 & 3) << 4
 *   element 128h + 64 + l = (L  >> 4) | (H >> 4 & 3) << 4
 *   element 128h + 96 + l = (L2 >> 4) | (H >> 6 & 3) << 4
 * each minus 32, times (d sc) of sub-block e / 16. */
static void deq_q6_k(const uint8_t *b, float *y)
{
	const uint8_t *ql = b, *qh = b + 128;
	const int8_t *sc = (const int8_t *)(b + 192);
	const float d = half_at(b + 208);

	for (int h = 0; h < 2; h++) {
		const uint8_t *L = ql + 64 * h, *H = qh + 32 * h;
		float *yh = y + 128 * h;

		for (int l = 0; l < 32; l++) {
			const int q1 = ((L[l] & 15) | (H[l] & 3) << 4) - 32;
			const int q2 = ((L[l + 32] & 15) | (H[l] >> 2 & 3) << 4) - 32;
			const int q3 = ((L[l] >> 4) | (H[l] >> 4 & 3) << 4) - 32;
			const int q4 = ((L[l + 32] >> 4) | (H[l] >> 6 & 3) << 4) - 32;
			yh[l] = d * sc[(128 * h + l) / 16] * q1;
			yh[l + 32] = d * sc[(128 * h + 32 + l) / 16] * q2;
			yh[l + 64] = d * sc[(128 * h + 64 + l) / 16] * q3;
			yh[l + 96] = d * sc[(128 * h + 96 + l) / 16] * q4;
		}
	}
}

void quant_dequantize(uint32_t type, const void *src, float *dst, size_t n)
{
	const uint8_t *b = src;
	const int bs = quant_block_elems(type), bb = quant_block_bytes(type);

	switch (type) {
	case GGML_TYPE_F32:
		memcpy(dst, src, n * sizeof(float));
		return;
	case GGML_TYPE_F16:
		deq_f16(b, dst, n);
		return;
	case GGML_TYPE_BF16:
		deq_bf16(b, dst, n);
		return;
	}
	for (size_t i = 0; i < n / (size_t)bs; i++, b += bb, dst += bs) {
		switch (type) {
		case GGML_TYPE_Q8_0: deq_q8_0(b, dst); break;
		case GGML_TYPE_Q4_0: deq_q4(b, dst, 0); break;
		case GGML_TYPE_Q4_1: deq_q4(b, dst, 1); break;
		case GGML_TYPE_Q5_0: deq_q5(b, dst, 0); break;
		case GGML_TYPE_Q5_1: deq_q5(b, dst, 1); break;
		case GGML_TYPE_Q2_K: deq_q2_k(b, dst); break;
		case GGML_TYPE_Q3_K: deq_q3_k(b, dst); break;
		case GGML_TYPE_Q4_K: deq_q45_k(b, dst, 0); break;
		case GGML_TYPE_Q5_K: deq_q45_k(b, dst, 1); break;
		case GGML_TYPE_Q6_K: deq_q6_k(b, dst); break;
		}
	}
}

/* ---- quantization ----------------------------------------------------- */

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* q = round(x / step) on [lo, hi]; step 0 gives 0. */
static int grid(float x, float step, int lo, int hi)
{
	if (step == 0)
		return clampi(0, lo, hi);
	return clampi((int)lrintf(x / step), lo, hi);
}

/* The signed step of a grid q in [-n, n-1] for x[0..len): the smallest |s|
 * with every x / s in [-n - 1/2, n - 1/2], either orientation. */
static float sym_step(const float *x, int len, int n)
{
	float pos = 0, neg = 0, a, b;

	for (int i = 0; i < len; i++) {
		pos = x[i] > pos ? x[i] : pos;
		neg = -x[i] > neg ? -x[i] : neg;
	}
	a = fmaxf(pos / (n - 0.5f), neg / (n + 0.5f));   /* s > 0 */
	b = fmaxf(neg / (n - 0.5f), pos / (n + 0.5f));   /* s < 0 */
	return a <= b ? a : -b;
}

/* A signed step stored as a half, its magnitude rounded up. */
static uint16_t half_away(float s)
{
	uint16_t h = half_up(fabsf(s));

	return s < 0 ? (uint16_t)(h | 0x8000u) : h;
}

static int q8_0(const float *x, uint8_t *b)
{
	float amax = 0, d;
	uint16_t h;

	for (int j = 0; j < QK; j++)
		amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
	h = half_up(amax / 127);
	if ((h & 0x7c00u) == 0x7c00u)
		return -1;
	put_half(b, h);
	d = f16_to_f32(h);
	for (int j = 0; j < QK; j++)
		b[2 + j] = (uint8_t)(int8_t)grid(x[j], d, -127, 127);
	return 0;
}

/* Q4_0 / Q5_0 (symmetric, 2^(bits-1) = n) and Q4_1 / Q5_1 (min + step). */
static int q45_legacy(const float *x, uint8_t *b, int five, int with_min)
{
	const int n = five ? 16 : 8, top = five ? 31 : 15;
	uint8_t *qs = b + (with_min ? 4 : 2) + (five ? 4 : 0);
	int q[QK];
	float d, m = 0;
	uint32_t qh = 0;

	if (with_min) {
		float lo = x[0], hi = x[0];
		for (int j = 1; j < QK; j++) {
			lo = x[j] < lo ? x[j] : lo;
			hi = x[j] > hi ? x[j] : hi;
		}
		uint16_t hm = half_down(lo), hd;
		if ((hm & 0x7c00u) == 0x7c00u)
			return -1;
		m = f16_to_f32(hm);
		hd = half_up((hi - m) / top);
		if ((hd & 0x7c00u) == 0x7c00u)
			return -1;
		put_half(b, hd);
		put_half(b + 2, hm);
		d = f16_to_f32(hd);
		for (int j = 0; j < QK; j++)
			q[j] = grid(x[j] - m, d, 0, top);
	} else {
		uint16_t hd = half_away(sym_step(x, QK, n));
		if ((hd & 0x7c00u) == 0x7c00u)
			return -1;
		put_half(b, hd);
		d = f16_to_f32(hd);
		for (int j = 0; j < QK; j++)
			q[j] = grid(x[j], d, -n, n - 1) + n;
	}
	for (int j = 0; j < QK / 2; j++) {
		qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + QK / 2] & 0x0f) << 4);
		qh |= (uint32_t)(q[j] >> 4) << j;
		qh |= (uint32_t)(q[j + QK / 2] >> 4) << (j + QK / 2);
	}
	if (five)
		memcpy(b + (with_min ? 4 : 2), &qh, 4);
	return 0;
}

/*
 * The asymmetric K-types (Q2_K: sub-blocks of 16, 4-bit sc and m, q < 4;
 * Q4_K/Q5_K: sub-blocks of 32, 6-bit sc and m, q < 16 / 32): each sub-block's
 * offset m' = dmin m covers -min(0, min x) (m rounded up), then its step
 * d sc covers (max x + m') / qmax (sc rounded up), so x + m' is always on
 * [0, qmax (d sc)] and rounds to within half a step. sc[], m[] and the
 * quants q[] come back for the caller to pack.
 */
static int k_asym(const float *x, int sub, int qmax, int smax, uint16_t *hd, uint16_t *hdmin,
		  int *sc, int *m, int *q)
{
	const int ns = QK_K / sub;
	float off[16], need[16], top = 0, moff[16];
	float d, dmin;

	for (int s = 0; s < ns; s++) {
		float lo = 0;
		for (int i = 0; i < sub; i++)
			lo = x[s * sub + i] < lo ? x[s * sub + i] : lo;
		off[s] = -lo;
		top = off[s] > top ? off[s] : top;
	}
	*hdmin = half_up(top / smax);
	if ((*hdmin & 0x7c00u) == 0x7c00u)
		return -1;
	dmin = f16_to_f32(*hdmin);
	top = 0;
	for (int s = 0; s < ns; s++) {
		float hi = 0;
		m[s] = dmin > 0 ? clampi((int)ceilf(off[s] / dmin), 0, smax) : 0;
		moff[s] = dmin * m[s];
		for (int i = 0; i < sub; i++)
			hi = x[s * sub + i] + moff[s] > hi ? x[s * sub + i] + moff[s] : hi;
		need[s] = hi / qmax;
		top = need[s] > top ? need[s] : top;
	}
	*hd = half_up(top / smax);
	if ((*hd & 0x7c00u) == 0x7c00u)
		return -1;
	d = f16_to_f32(*hd);
	for (int s = 0; s < ns; s++) {
		sc[s] = d > 0 ? clampi((int)ceilf(need[s] / d), 0, smax) : 0;
		const float step = d * sc[s];
		for (int i = 0; i < sub; i++)
			q[s * sub + i] = grid(x[s * sub + i] + moff[s], step, 0, qmax);
	}
	return 0;
}

/* The symmetric K-types (Q3_K: q in [-4, 3], 6-bit signed scales; Q6_K:
 * q in [-32, 31], int8 scales), sub-blocks of 16: each sub-block's signed
 * step by sym_step, then d = max |step| / smax (rounded up) and sc the
 * step's multiple of d, rounded away from zero. */
static int k_sym(const float *x, int n, int smax, uint16_t *hd, int *sc, int *q)
{
	float st[16], top = 0, d;

	for (int s = 0; s < 16; s++) {
		st[s] = sym_step(x + 16 * s, 16, n);
		top = fabsf(st[s]) > top ? fabsf(st[s]) : top;
	}
	*hd = half_up(top / smax);
	if ((*hd & 0x7c00u) == 0x7c00u)
		return -1;
	d = f16_to_f32(*hd);
	for (int s = 0; s < 16; s++) {
		int mag = d > 0 ? clampi((int)ceilf(fabsf(st[s]) / d), 0, smax) : 0;
		sc[s] = st[s] < 0 ? -mag : mag;
		const float step = d * (float)sc[s];
		for (int i = 0; i < 16; i++)
			q[16 * s + i] = grid(x[16 * s + i], step, -n, n - 1);
	}
	return 0;
}

static int q2_k(const float *x, uint8_t *b)
{
	int sc[16], m[16], q[QK_K];
	uint16_t hd, hdmin;

	if (k_asym(x, 16, 3, 15, &hd, &hdmin, sc, m, q))
		return -1;
	memset(b, 0, 84);
	for (int s = 0; s < 16; s++)
		b[s] = (uint8_t)(sc[s] | m[s] << 4);
	for (int e = 0; e < QK_K; e++)
		b[16 + 32 * (e / 128) + e % 32] |= (uint8_t)(q[e] << (2 * ((e % 128) / 32)));
	put_half(b + 80, hd);
	put_half(b + 82, hdmin);
	return 0;
}

static int q3_k(const float *x, uint8_t *b)
{
	int sc[16], q[QK_K];
	uint16_t hd;
	uint8_t *S = b + 96;

	if (k_sym(x, 4, 31, &hd, sc, q))
		return -1;
	memset(b, 0, 110);
	for (int s = 0; s < 16; s++) {
		int u = sc[s] + 32;
		if (s < 8)
			S[s] |= (uint8_t)(u & 0x0f);
		else
			S[s - 8] |= (uint8_t)((u & 0x0f) << 4);
		S[8 + s % 4] |= (uint8_t)((u >> 4) << (2 * (s / 4)));
	}
	for (int e = 0; e < QK_K; e++) {
		const int h = e / 128, j = (e % 128) / 32, l = e % 32, u = q[e] + 4;
		b[32 + 32 * h + l] |= (uint8_t)((u & 3) << (2 * j));
		if (u & 4)
			b[l] |= (uint8_t)(1u << (4 * h + j));
	}
	put_half(b + 108, hd);
	return 0;
}

static int q45_k(const float *x, uint8_t *b, int five)
{
	int sc[8], m[8], q[QK_K];
	uint16_t hd, hdmin;
	uint8_t *S = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);

	if (k_asym(x, 32, five ? 31 : 15, 63, &hd, &hdmin, sc, m, q))
		return -1;
	memset(b, 0, five ? 176 : 144);
	put_half(b, hd);
	put_half(b + 2, hdmin);
	for (int s = 0; s < 8; s++) {
		if (s < 4) {
			S[s] = (uint8_t)sc[s];
			S[s + 4] = (uint8_t)m[s];
		} else {
			S[s + 4] = (uint8_t)((sc[s] & 0x0f) | (m[s] & 0x0f) << 4);
			S[s - 4] |= (uint8_t)((sc[s] >> 4) << 6);
			S[s] |= (uint8_t)((m[s] >> 4) << 6);
		}
	}
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++) {
			const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
			qs[32 * c + l] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
			if (five)
				qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
		}
	return 0;
}

static int q6_k(const float *x, uint8_t *b)
{
	int sc[16], q[QK_K];
	uint16_t hd;

	if (k_sym(x, 32, 127, &hd, sc, q))
		return -1;
	memset(b, 0, 210);
	for (int s = 0; s < 16; s++)
		b[192 + s] = (uint8_t)(int8_t)sc[s];
	for (int h = 0; h < 2; h++) {
		uint8_t *L = b + 64 * h, *H = b + 128 + 32 * h;
		const int *qq = q + 128 * h;

		for (int l = 0; l < 32; l++) {
			const int u1 = qq[l] + 32, u2 = qq[l + 32] + 32;
			const int u3 = qq[l + 64] + 32, u4 = qq[l + 96] + 32;
			L[l] = (uint8_t)((u1 & 15) | (u3 & 15) << 4);
			L[l + 32] = (uint8_t)((u2 & 15) | (u4 & 15) << 4);
			H[l] = (uint8_t)((u1 >> 4) | (u2 >> 4) << 2 | (u3 >> 4) << 4 | (u4 >> 4) << 6);
		}
	}
	put_half(b + 208, hd);
	return 0;
}

int quant_quantize(uint32_t type, const float *src, void *dst, size_t n)
{
	uint8_t *b = dst;
	const int bs = quant_block_elems(type), bb = quant_block_bytes(type);

	if (!bs)
		return -1;
	if (type == GGML_TYPE_F32) {
		memcpy(dst, src, n * sizeof(float));
		return 0;
	}
	if (type == GGML_TYPE_F16 || type == GGML_TYPE_BF16) {
		for (size_t i = 0; i < n; i++)
			put_half(b + 2 * i, type == GGML_TYPE_F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]));
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!isfinite(src[i]))
			return -1;
	for (size_t i = 0; i < n / (size_t)bs; i++, b += bb, src += bs) {
		int rc = 0;
		switch (type) {
		case GGML_TYPE_Q8_0: rc = q8_0(src, b); break;
		case GGML_TYPE_Q4_0: rc = q45_legacy(src, b, 0, 0); break;
		case GGML_TYPE_Q4_1: rc = q45_legacy(src, b, 0, 1); break;
		case GGML_TYPE_Q5_0: rc = q45_legacy(src, b, 1, 0); break;
		case GGML_TYPE_Q5_1: rc = q45_legacy(src, b, 1, 1); break;
		case GGML_TYPE_Q2_K: rc = q2_k(src, b); break;
		case GGML_TYPE_Q3_K: rc = q3_k(src, b); break;
		case GGML_TYPE_Q4_K: rc = q45_k(src, b, 0); break;
		case GGML_TYPE_Q5_K: rc = q45_k(src, b, 1); break;
		case GGML_TYPE_Q6_K: rc = q6_k(src, b); break;
		}
		if (rc)
			return -1;
	}
	return 0;
}

/* ---- finiteness ------------------------------------------------------- */

/* Byte offsets of a block's half-float fields (-1: none). */
static void half_fields(uint32_t type, int *a, int *b)
{
	*a = -1;
	*b = -1;
	switch (type) {
	case GGML_TYPE_Q8_0: case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: *a = 0; break;
	case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K:
		*a = 0; *b = 2; break;
	case GGML_TYPE_Q2_K: *a = 80; *b = 82; break;
	case GGML_TYPE_Q3_K: *a = 108; break;
	case GGML_TYPE_Q6_K: *a = 208; break;
	}
}

size_t quant_first_nonfinite(uint32_t type, const void *src, size_t n)
{
	const uint8_t *p = src;
	const int bs = quant_block_elems(type), bb = quant_block_bytes(type);
	int fa, fb;

	if (type == GGML_TYPE_F32) {
		for (size_t i = 0; i < n; i++) {
			uint32_t u;
			memcpy(&u, p + 4 * i, 4);
			if ((u & 0x7f800000u) == 0x7f800000u)
				return i;
		}
		return n;
	}
	if (type == GGML_TYPE_F16 || type == GGML_TYPE_BF16) {
		const uint16_t mask = type == GGML_TYPE_F16 ? 0x7c00u : 0x7f80u;
		const size_t block = 4096;
		for (size_t at = 0; at < n; at += block) {
			size_t end = n - at < block ? n : at + block;
			unsigned bad = 0;
			for (size_t i = at; i < end; i++) {
				uint16_t h;
				memcpy(&h, p + 2 * i, 2);
				bad |= (h & mask) == mask;
			}
			if (!bad)
				continue;
			for (size_t i = at; i < end; i++) {
				uint16_t h;
				memcpy(&h, p + 2 * i, 2);
				if ((h & mask) == mask)
					return i;
			}
		}
		return n;
	}
	half_fields(type, &fa, &fb);
	for (size_t i = 0; bs && i < n / (size_t)bs; i++, p += bb)
		if ((fa >= 0 && !half_finite(p + fa)) || (fb >= 0 && !half_finite(p + fb)))
			return i * (size_t)bs;
	return n;
}
