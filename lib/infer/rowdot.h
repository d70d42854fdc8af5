/*
 * rowdot — the products of decoding, computed so that each output is the
 * same sum whatever else is computed with it ("batch invariance").
 *
 * Serving decodes many sequences at once: their rows go through each
 * weight matrix together, so the weight is read (and, when quantized,
 * dequantized) once per step instead of once per sequence. A BLAS gemm
 * would do that, but its result for one row depends on how many rows came
 * with it (OpenBLAS picks other kernels and other summation orders for 1,
 * 2..15 and 16+ rows), so a completion would change with the traffic
 * beside it, and a served greedy completion would not equal `adalora
 * generate`. Here y[m][o] is always one dot product of x's row m and W's
 * row o over the whole of k, accumulated in 8 lanes (lane l holds the
 * terms k = l mod 8, in order), the lanes then added in a fixed tree and
 * the last k % 8 terms after them. Rows of x and of W are blocked for
 * speed (2 x 4, 1 x 4, 1 x 1 kernels), but every kernel does that same
 * arithmetic, and a dot never crosses a thread.
 *
 * W is either f32 rows (a mapped F32 matrix, or an adapter's values) or a
 * struct frozen_mat in its file's type, which is dequantized four rows at
 * a time into the calling thread's scratch: exact values, so the sum is
 * the same as over f32 rows.
 */
#ifndef ADA_INFER_ROWDOT_H
#define ADA_INFER_ROWDOT_H

#include <stddef.h>

#include "model/model.h"

struct rowdot_w {
	const float *f32;                /* [rows][cols] row-major; NULL: fm */
	const struct frozen_mat *fm;     /* borrowed */
	int rows, cols;
};

/* Floats of scratch one thread needs for a matrix of cols columns. */
static inline size_t rowdot_scratch(int cols)
{
	return 4 * (size_t)cols + 16;
}

/* y[m * ldy + o] = (accumulate ? y[m * ldy + o] : 0) + sum_k x[m * ldx + k] W[o][k]
 * for m < M, o < w->rows. scratch holds rowdot_scratch(w->cols) floats for
 * each of the calling thread's pool threads (pool_threads()), unused for
 * f32 weights. The work is split between the calling thread's pool by
 * rows of W. */
void rowdot(const struct rowdot_w *w, const float *x, int M, int ldx, float *y, int ldy,
	    int accumulate, float *scratch);

/* y[m * ldy + o] += sum_j s[m * lds + j] Wt[j][o] for m < M, o < cols, with
 * Wt [k][cols] row-major (an adapter's up-projection, transposed): the
 * product through a narrow middle (k is the rank, 1..64), where a dot
 * product per output would be mostly its horizontal sum. Each output is
 * s[m][0] Wt[0][o] + s[m][1] Wt[1][o] + ... in that order, then added to
 * y; the same arithmetic for any M, thread count or split (the work is
 * split between the pool by columns, in multiples of 8). */
void rowaxpy(const float *Wt, int k, int cols, const float *s, int M, int lds, float *y,
	     int ldy);

#endif
