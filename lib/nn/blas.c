/* blas — gemm() over cblas_sgemm / cblas_dgemm; see blas.h. */
#include "blas.h"

#include <cblas.h>

void gemm(int trans_a, int trans_b, int M, int N, int K, real alpha,
	  const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	if (K <= 0) {
		/* BLAS leaves C alone for K = 0 only when beta = 1; be explicit. */
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++)
				C[(long)i * ldc + j] = beta == 0 ? 0 : beta * C[(long)i * ldc + j];
		return;
	}
#ifdef ADA_REAL_DOUBLE
	cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
		    beta, C, ldc);
#else
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
		    beta, C, ldc);
#endif
}
