/*
 * frozen — products with a frozen weight matrix kept in its file's type
 * (struct frozen_mat: F16, BF16, or a GGUF block type such as Q4_K).
 *
 * The weight is never expanded whole: a tile of it is dequantized into a
 * panel of `real` on the calling thread's stack and multiplied there by
 * nn/blas.h's gemm() (single-threaded inside our parallel region), so the
 * cost over an f32 product is the dequantization, which each weight element
 * pays once per forward (and once per thread per backward), against the
 * N multiply-adds it takes part in.
 *
 * Forward y = x W^T splits the rows of W (columns of y) between threads;
 * each y element sums its tiles of W's columns in a fixed order. The input
 * gradient dx = dy W splits the rows of dy between threads, each running
 * over every tile of W. The tiles' shapes depend only on W's shape, so the
 * results are bit-reproducible at a given thread count. F32 weights never
 * come here: struct linear multiplies by them in place (nn/linear.c).
 */
#ifndef ADA_NN_FROZEN_H
#define ADA_NN_FROZEN_H

#include <stdint.h>

#include "model/model.h"
#include "nn/real.h"

/* y[N][w->rows] = x[N][w->cols] W^T. */
void frozen_forward(const struct frozen_mat *w, const real *x, int N, real *y);

/* dx[N][w->cols] = beta * dx + dy[N][w->rows] W (beta 0 or 1). */
void frozen_backward_dx(const struct frozen_mat *w, const real *dy, int N, real *dx,
			real beta);

/* out[n] = row ids[n] of W (an embedding lookup), n < N. */
void frozen_rows(const struct frozen_mat *w, const int32_t *ids, int N, real *out);

#endif
