/*
 * blas — gemm() over cblas_sgemm / cblas_dgemm; see blas.h.
 *
 * Threading: OpenBLAS runs single-threaded (the first gemm() call sets it
 * so, once per process) and the parallelism is ours: a large product is
 * cut into blocks of rows (or columns) of C, each a single-threaded BLAS
 * call, run as tasks of the calling thread's pool (nn/parallel.h). Two
 * thread pools (OpenBLAS's and ours) on the same cores spin against each
 * other between calls; one pool does not.
 *
 * The blocks depend on the shape alone (not on the thread count), and each
 * element of C is computed by one call over the full K, so results do not
 * depend on the thread count or on which thread ran a block. A product
 * requested inside a task (attention's per-head products) runs whole on
 * that task's thread.
 */
#include "nn/blas.h"

#include <cblas.h>
#include <pthread.h>

#include "nn/parallel.h"

/* OpenBLAS's own thread count: always 1 (see the comment above). */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_threaded(void)
{
	openblas_set_num_threads(1);
}

/* Below this many multiply-adds a product is one call. */
#define PARALLEL_MIN_WORK (1L << 18)
/* A block is at least BLOCK_MIN_LEN rows (or columns) and BLOCK_MIN_WORK
 * multiply-adds; longer where the other operand is large, since every
 * call packs all of it again. */
#define BLOCK_MIN_LEN 64
#define BLOCK_MIN_WORK (1L << 18)
#define BLOCK_MAX_LEN 4096

/* Rows (or columns) per block of C, from the other two dimensions only:
 * how many rows follow a row never changes how it is computed. */
static int block_len(long other, long K)
{
	const long plane = other * K;
	int len = BLOCK_MIN_LEN;

	if (plane >= 1L << 21)
		len = 128;
	if (plane >= 1L << 23)
		len = 256;
	while ((long)len * plane < BLOCK_MIN_WORK && len < BLOCK_MAX_LEN)
		len *= 2;
	return len;
}

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

struct gemm_split {
	int trans_a, trans_b, M, N, K;
	real alpha, beta;
	const real *A, *B;
	real *C;
	int lda, ldb, ldc;
	int split_rows, len, block;
};

static void gemm_block(void *arg, long b, int thread)
{
	const struct gemm_split *g = arg;
	const int lo = (int)b * g->block;
	const int hi = g->len - lo > g->block ? lo + g->block : g->len;

	(void)thread;
	if (g->split_rows) {
		const real *Ab = g->trans_a ? g->A + lo : g->A + (long)lo * g->lda;
		gemm1(g->trans_a, g->trans_b, hi - lo, g->N, g->K, g->alpha, Ab, g->lda, g->B,
		      g->ldb, g->beta, g->C + (long)lo * g->ldc, g->ldc);
	} else {
		const real *Bb = g->trans_b ? g->B + (long)lo * g->ldb : g->B + lo;
		gemm1(g->trans_a, g->trans_b, g->M, hi - lo, g->K, g->alpha, g->A, g->lda, Bb,
		      g->ldb, g->beta, g->C + lo, g->ldc);
	}
}

void gemm(int trans_a, int trans_b, int M, int N, int K, real alpha,
	  const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc)
{
	const long work = (long)M * N * K;

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
	if (pool_in_task() || work < PARALLEL_MIN_WORK) {
		gemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	{
		/* Rows of C in blocks from row 0 (columns when there are too few
		 * rows to share): a multiple of 16 long for the kernels, the last
		 * block the remainder. */
		struct gemm_split g = {
			trans_a, trans_b, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc,
			1, M, block_len(N, K),
		};

		if (M < 2 * g.block) {
			g.split_rows = 0;
			g.len = N;
			g.block = block_len(M, K);
		}
		if (g.len < 2 * g.block) {
			gemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
			return;
		}
		pool_run((g.len + g.block - 1) / g.block, 0, gemm_block, &g);
	}
}

void gemv(int M, int K, real alpha, const real *A, int lda, const real *x, real beta, real *y)
{
	if (M <= 0 || K <= 0)
		return;
	pthread_once(&blas_once, blas_single_threaded);
#ifdef ADA_REAL_DOUBLE
	cblas_dgemv(CblasRowMajor, CblasNoTrans, M, K, alpha, A, lda, x, 1, beta, y, 1);
#else
	cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, alpha, A, lda, x, 1, beta, y, 1);
#endif
}
