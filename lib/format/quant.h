/*
 * quant — ggml's tensor types: what a block holds, how it dequantizes, and
 * a quantizer of our own for each.
 *
 * A tensor row of n elements (n a multiple of the type's block) is n/block
 * blocks of block_bytes each, stored one after another; a matrix is its rows
 * one after another. Rows therefore permute, tile and map like any byte
 * array: a base model's weights stay in their file's type, in the mapping,
 * and are dequantized a tile at a time by the frozen products (nn/frozen.h).
 *
 * The layouts are ggml's (llama.cpp ggml/src/ggml-common.h, block_q*; the
 * element order of dequantize_row_* in ggml/src/ggml-quants.c), little-endian,
 * "d"/"m"/"dmin" are IEEE half floats:
 *   Q8_0  32: d, int8 qs[32]                          x = d q
 *   Q4_0  32: d, qs[16] (elem j low nibble, j+16 high)  x = d (q - 8)
 *   Q4_1  32: d, m, qs[16]                            x = d q + m
 *   Q5_0  32: d, qh[4] (bit j: 5th bit of elem j), qs[16]   x = d (q - 16)
 *   Q5_1  32: d, m, qh[4], qs[16]                     x = d q + m
 * K-types, super-blocks of 256 (QK_K):
 *   Q2_K  scales[16] (sub-block of 16: scale low nibble, min high), qs[64]
 *         (2 bits), d, dmin                         x = d sc q - dmin m
 *   Q3_K  hmask[32] (3rd bit), qs[64] (low 2 bits), scales[12] (16 six-bit
 *         scales, offset 32), d                     x = d (sc - 32) (q - 4)
 *   Q4_K  d, dmin, scales[12] (8 six-bit scales and 8 six-bit mins, sub-blocks
 *         of 32), qs[128] (nibbles)                 x = d sc q - dmin m
 *   Q5_K  as Q4_K plus qh[32] (5th bits) before qs  x = d sc q - dmin m
 *   Q6_K  ql[128] (low 4 bits), qh[64] (high 2), int8 scales[16] (sub-blocks
 *         of 16), d                                 x = d sc (q - 32)
 * quant.c spells out each type's element order.
 *
 * Our quantizer (quant_quantize) is not ggml's: it picks every scale so that
 * no value clips, then rounds each value to the nearest grid point, so every
 * element ends within half a quantization step of its value (the step of its
 * block or sub-block: |d| for the 32-blocks, |d sc| for the K-types' sub-
 * blocks), up to float rounding. Symmetric grids q in [-n, n-1] orient the
 * scale's sign so the larger side gets the -n end; scales stored as halves
 * (and the K-types' 4/6/8-bit sub-scales) are rounded away from zero so the
 * grid still covers every value; the mins of Q4_1/Q5_1 are rounded down and
 * the K-types' mins up, for the same reason. There is no error-driven search
 * (ggml's make_qkx2/qx_quants trade a little clipping for ~10% lower RMSE);
 * what we give up is that, and what we get is a bound that holds per element.
 */
#ifndef ADA_FORMAT_QUANT_H
#define ADA_FORMAT_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* ggml tensor types (ggml.h numbering, as GGUF stores them). Those listed
 * are the ones we read and write; ggml_type_name() names the others. */
enum ggml_type {
	GGML_TYPE_F32 = 0,
	GGML_TYPE_F16 = 1,
	GGML_TYPE_Q4_0 = 2,
	GGML_TYPE_Q4_1 = 3,
	GGML_TYPE_Q5_0 = 6,
	GGML_TYPE_Q5_1 = 7,
	GGML_TYPE_Q8_0 = 8,
	GGML_TYPE_Q2_K = 10,
	GGML_TYPE_Q3_K = 11,
	GGML_TYPE_Q4_K = 12,
	GGML_TYPE_Q5_K = 13,
	GGML_TYPE_Q6_K = 14,
	GGML_TYPE_BF16 = 30,
};

/* Every ggml type's name ("Q4_K"), "unknown" past the table. */
const char *ggml_type_name(uint32_t type);
/* The type called name (case-insensitive: "q4_k", "BF16"), or -1. */
int ggml_type_from_name(const char *name);

/* Is type one of the enum above (readable, writable)? */
int quant_supported(uint32_t type);
/* Neither F32, F16 nor BF16 (so not a float type a trainer could copy). */
int quant_is_block(uint32_t type);
/* Elements per block and bytes per block (0 for an unsupported type). */
int quant_block_elems(uint32_t type);
int quant_block_bytes(uint32_t type);
/* Bytes of n elements: n must be a multiple of the block (else 0). */
uint64_t quant_bytes(uint32_t type, uint64_t n);

/* The type a matrix with rows of cols elements is written as when type is
 * asked for: type itself when cols is whole blocks of it, else llama.cpp's
 * fallback (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0),
 * and F16 when even 32 does not divide cols. */
uint32_t quant_fallback(uint32_t type, uint64_t cols);

/* dst[0..n) = the values of n elements starting at a block boundary of src
 * (n a multiple of the block). */
void quant_dequantize(uint32_t type, const void *src, float *dst, size_t n);

/* n values (n a multiple of the block) into dst as type, by the rule at the
 * top of the file. Returns 0, or -1 (dst undefined) when a value is not
 * finite or a scale would overflow a half float. F32/F16/BF16 copy or round
 * to nearest even whatever the values (a NaN stays a NaN, a value past the
 * half range becomes infinite): the writer is no validator, the loaders are. */
int quant_quantize(uint32_t type, const float *src, void *dst, size_t n);

/* The first element of n (a multiple of the block) whose value is not finite
 * — an F16/BF16 NaN or infinity, or a block whose half-float scales are —
 * or n when all are finite. */
size_t quant_first_nonfinite(uint32_t type, const void *src, size_t n);

#endif
