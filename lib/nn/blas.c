/*
 * blas — gemm() over cblas_sgemm / cblas_dgemm; see blas.h.
 *
 * Threading: OpenBLAS runs single-threaded (the first gemm() call sets it
 * so, once per process) and the parallelism is ours: a large product is cut into blocks of rows (or
 * columns) of C, one per OpenMP thread, each a single-threaded BLAS call.
 * Two thread pools (OpenBLAS's pthreads and OpenMP's) on the same cores
 * spin against each other between calls and cost a third of the step time;
 * one pool does not. Each element of C is still computed by one call over
 * the full K, so results do not depend on the split.
 */
#include "nn/blas.h"

#include <cblas.h>
#include <pthread.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenBLAS's own thread count: always 1 (see the comment above). */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_threaded(void)
{
	openblas_set_num_threads(1);
}

/* Below this many multiply-adds a product runs on one thread. */
#define PARALLEL_MIN_WORK (1L << 18)

static void gemm1(int trans_a, int trans_b, int M, int N, int K, real alpha,
		  const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc)
{
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

void gemm(int trans_a, int trans_b, int M, int N, int K, real alpha,
	  const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc)
{
	int nt = 1;

	if (M <= 0 || N <= 0)
		return;
	pthread_once(&blas_once, blas_single_threaded);
	if (K <= 0) {
		/* BLAS leaves C alone for K = 0 only when beta = 1; be explicit. */
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++)
				C[(long)i * ldc + j] = beta == 0 ? 0 : beta * C[(long)i * ldc + j];
		return;
	}
#ifdef _OPENMP
	if (!omp_in_parallel() && (long)M * N * K >= PARALLEL_MIN_WORK)
		nt = omp_get_max_threads();
#endif
	if (nt <= 1) {
		gemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	/* Split the longer side of C; keep blocks a multiple of 16 for the kernels. */
	const int split_rows = M >= N;
	const int len = split_rows ? M : N;
	int blocks = nt;
	if (len < 32 * blocks)
		blocks = len / 32 > 1 ? len / 32 : 1;
	#pragma omp parallel for schedule(static) num_threads(blocks)
	for (int b = 0; b < blocks; b++) {
		int lo = (int)((long)len * b / blocks) & ~15, hi = b + 1 == blocks ? len :
			 (int)((long)len * (b + 1) / blocks) & ~15;
		if (hi <= lo)
			continue;
		if (split_rows) {
			const real *Ab = trans_a ? A + lo : A + (long)lo * lda;
			gemm1(trans_a, trans_b, hi - lo, N, K, alpha, Ab, lda, B, ldb, beta,
			      C + (long)lo * ldc, ldc);
		} else {
			const real *Bb = trans_b ? B + (long)lo * ldb : B + lo;
			gemm1(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, Bb, ldb, beta,
			      C + lo, ldc);
		}
	}
}
