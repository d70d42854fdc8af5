/*
 * blas — the one place nn/ calls BLAS.
 *
 * Row-major C = alpha * op(A) op(B) + beta * C, op = transpose when the
 * flag is set, mapped to cblas_sgemm or cblas_dgemm by the build's `real`.
 * Shapes: op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are the
 * row strides of A, B, C as stored.
 */
#ifndef ADA_NN_BLAS_H
#define ADA_NN_BLAS_H

#include "nn/real.h"

void gemm(int trans_a, int trans_b, int M, int N, int K, real alpha,
	  const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc);

/* y[M] = alpha * A[M][K] x[K] + beta * y (row-major A, row stride lda):
 * one row of output at a time without gemm's packing of A, for products
 * with a single input row (one decoding step's LM head). Single-threaded
 * BLAS, run whole on the calling thread. */
void gemv(int M, int K, real alpha, const real *A, int lda, const real *x, real beta, real *y);

#endif
