/*
 * bf16 — matrix products in bfloat16 with f32 accumulation, on CPUs with
 * AVX512-BF16 (the compute_dtype "bf16" of the frozen products, nn/frozen.c).
 *
 * Why our own kernel: the dot-product instruction (VDPBF16PS) is what makes
 * bf16 worth it, and OpenBLAS reaches it only through cblas_sbgemm, which
 * Debian's OpenBLAS 0.3.21 is built without (BUILD_BFLOAT16 off: the header
 * declares it, the library does not export it). The kernel is small because
 * its caller packs the weight side: the frozen products already convert a
 * tile of W at a time, so they write it straight into the layout the kernel
 * reads.
 *
 * Layouts, in pairs: a "pair" is two bf16 values in one uint32 (the first in
 * the low half), adjacent along the reduction index; VDPBF16PS multiplies
 * pairs and adds both products to an f32 lane. A is row-major pairs
 * (A[n][p], lda pairs per row); the packed panel B is [KP][ldb] pairs, lanes
 * along the output's columns, ldb a multiple of BF16_LANES with zeros past
 * the J columns used. Rounding is to nearest even everywhere (the
 * instruction's, and bf16_from_f32's); the sums are f32 in a fixed order
 * (pair p after pair p - 1), so results are reproducible.
 */
#ifndef ADA_NN_BF16_H
#define ADA_NN_BF16_H

#include <stddef.h>
#include <stdint.h>

/* Columns a kernel call covers at once; panels' ldb are multiples of it. */
#define BF16_LANES 64

/* 1 when this CPU (and its OS) runs AVX512-BF16: the kernel may be called.
 * ADALORA_TEST_NO_BF16=1 in the environment says 0 (tests of the refusal). */
int bf16_supported(void);

/* dst[i] = src[i] rounded to bfloat16 (nearest even; NaN stays NaN). */
void bf16_from_f32(uint16_t *dst, const float *src, size_t n);
/* The same in place: buf's n floats become n bf16 values in its first 2n
 * bytes (front to back, so each is read before its bytes are reused). */
void bf16_from_f32_inplace(float *buf, size_t n);

/* C[n][j] = (accumulate ? C[n][j] : 0) + sum_{p < KP} A[n][p] . B[p][j] for
 * n < N, j < J (J <= ldb, ldb a multiple of BF16_LANES); C row stride ldc
 * floats. Needs bf16_supported(). */
void bf16_gemm_packed(int N, int KP, int J, const uint32_t *A, size_t lda, const uint32_t *B,
		      size_t ldb, float *C, size_t ldc, int accumulate);

#endif
