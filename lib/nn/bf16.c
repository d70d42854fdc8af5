/* bf16 — bfloat16 products on AVX512-BF16; see bf16.h. */
#include "nn/bf16.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/cpu.h"
#include "util/half.h"

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static int have_bf16;

static void detect(void)
{
	struct cpu_features f;
	const char *off = getenv("ADALORA_TEST_NO_BF16");

	cpu_features_detect(&f);
	have_bf16 = f.avx512_bf16 && f.avx512f && f.avx512bw && f.avx512vl &&
		    !(off && *off && strcmp(off, "0"));
}

int bf16_supported(void)
{
	pthread_once(&detect_once, detect);
	return have_bf16;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* Lane masks of a 64-column block with jn columns in use. */
BF16_TARGET static inline __mmask16 lane_mask(int jn, int v)
{
	const int left = jn - 16 * v;

	return left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

/*
 * Six rows of C by 64 columns: 24 accumulators, four loads of B and six
 * broadcasts of A per pair. Rows past `rows` repeat the last one (computed,
 * not stored); columns past jn are B's zero padding (masked on store).
 */
BF16_TARGET static void block_6x64(int rows, int jn, int KP, const uint32_t *A, size_t lda,
				   const uint32_t *B, size_t ldb, float *C, size_t ldc,
				   int accumulate)
{
	__m512 acc[6][4];
	const uint32_t *a[6];
	__mmask16 m[4];

	for (int v = 0; v < 4; v++)
		m[v] = lane_mask(jn, v);
	for (int r = 0; r < 6; r++) {
		a[r] = A + (size_t)(r < rows ? r : rows - 1) * lda;
		for (int v = 0; v < 4; v++)
			acc[r][v] = accumulate && r < rows
					    ? _mm512_maskz_loadu_ps(m[v], C + (size_t)r * ldc + 16 * v)
					    : _mm512_setzero_ps();
	}
	for (int p = 0; p < KP; p++) {
		const uint32_t *b = B + (size_t)p * ldb;
		const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
		const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
		const __m512bh b2 = (__m512bh)_mm512_loadu_si512(b + 32);
		const __m512bh b3 = (__m512bh)_mm512_loadu_si512(b + 48);

#pragma GCC unroll 6
		for (int r = 0; r < 6; r++) {
			const __m512bh x = (__m512bh)_mm512_set1_epi32((int)a[r][p]);
			acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
			acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
			acc[r][2] = _mm512_dpbf16_ps(acc[r][2], x, b2);
			acc[r][3] = _mm512_dpbf16_ps(acc[r][3], x, b3);
		}
	}
	for (int r = 0; r < rows; r++)
		for (int v = 0; v < 4; v++)
			_mm512_mask_storeu_ps(C + (size_t)r * ldc + 16 * v, m[v], acc[r][v]);
}

BF16_TARGET static void gemm_avx512(int N, int KP, int J, const uint32_t *A, size_t lda,
				    const uint32_t *B, size_t ldb, float *C, size_t ldc,
				    int accumulate)
{
	for (int j0 = 0; j0 < J; j0 += BF16_LANES) {
		const int jn = J - j0 < BF16_LANES ? J - j0 : BF16_LANES;
		for (int n0 = 0; n0 < N; n0 += 6)
			block_6x64(N - n0 < 6 ? N - n0 : 6, jn, KP, A + (size_t)n0 * lda, lda, B + j0,
				   ldb, C + (size_t)n0 * ldc + j0, ldc, accumulate);
	}
}

/* VCVTNEPS2BF16 rounds to nearest even (and, unlike f32_to_bf16, treats
 * subnormal inputs as zero); the tail goes through the same instruction,
 * masked, so every element of a row is converted alike. */
BF16_TARGET static void from_f32_avx512(uint16_t *dst, const float *src, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
		_mm256_storeu_si256((__m256i *)(dst + i), (__m256i)h);
	}
	if (i < n) {
		const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
		__m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
		_mm256_mask_storeu_epi16(dst + i, m, (__m256i)h);
	}
}
#endif

/* Without AVX512-BF16 (never selected: bf16_supported() is 0 there; kept so
 * the code builds and means the same everywhere): the instruction's
 * arithmetic, the odd element of a pair added first. */
static void gemm_scalar(int N, int KP, int J, const uint32_t *A, size_t lda, const uint32_t *B,
			size_t ldb, float *C, size_t ldc, int accumulate)
{
	for (int n = 0; n < N; n++)
		for (int j = 0; j < J; j++) {
			float acc = accumulate ? C[(size_t)n * ldc + j] : 0.0f;
			for (int p = 0; p < KP; p++) {
				const uint32_t a = A[(size_t)n * lda + p], b = B[(size_t)p * ldb + j];
				acc += bf16_to_f32((uint16_t)(a >> 16)) * bf16_to_f32((uint16_t)(b >> 16));
				acc += bf16_to_f32((uint16_t)a) * bf16_to_f32((uint16_t)b);
			}
			C[(size_t)n * ldc + j] = acc;
		}
}

void bf16_from_f32(uint16_t *dst, const float *src, size_t n)
{
#if defined(__x86_64__)
	if (bf16_supported()) {
		from_f32_avx512(dst, src, n);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++)
		dst[i] = f32_to_bf16(src[i]);
}

void bf16_from_f32_inplace(float *buf, size_t n)
{
	uint16_t *dst = (uint16_t *)buf;

#if defined(__x86_64__)
	/* each 16 floats are loaded before their 32 bytes of output are stored,
	 * and output i ends at byte 2i + 32 <= 4i for every later i: safe */
	if (bf16_supported()) {
		from_f32_avx512(dst, buf, n);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++) {
		const float v = buf[i];   /* read before the write that may reuse its bytes */
		dst[i] = f32_to_bf16(v);
	}
}

void bf16_gemm_packed(int N, int KP, int J, const uint32_t *A, size_t lda, const uint32_t *B,
		      size_t ldb, float *C, size_t ldc, int accumulate)
{
	if (N <= 0 || J <= 0)
		return;
#if defined(__x86_64__)
	if (bf16_supported()) {
		gemm_avx512(N, KP, J, A, lda, B, ldb, C, ldc, accumulate);
		return;
	}
#endif
	gemm_scalar(N, KP, J, A, lda, B, ldb, C, ldc, accumulate);
}
