/*
 * parallel — how nn/ splits work among threads (util/pool.h's pool).
 *
 * Loops over rows or elements go through pool_for() in pieces whose size
 * depends on the shape only (never on the thread count), so every output
 * is computed by the same code over the same inputs at any thread count;
 * products split the same way in gemm() (blas.c). Per-thread scratch is
 * indexed by thread_id(), in [0, nn_threads()): inside a task it is the
 * running thread's index (omp_get_thread_num() is not: it says 0 in every
 * helper of the pool).
 */
#ifndef ADA_NN_PARALLEL_H
#define ADA_NN_PARALLEL_H

#ifdef _OPENMP
#include <omp.h>
#endif

#include "util/pool.h"

/* Elements per piece of an elementwise loop, and the work (multiply-adds
 * or element visits) per piece of a row loop: ~5-20 us of work, enough to
 * hide a claim (~0.1 us) and few enough pieces to share among threads. */
#define NN_GRAIN_ELEMS 16384L

/* Rows per piece for rows of `width` elements. */
static inline long nn_row_grain(long width)
{
	long g = NN_GRAIN_ELEMS / (width > 0 ? width : 1);

	return g > 0 ? g : 1;
}

/* The running thread's index, for per-thread scratch. */
static inline int thread_id(void)
{
	return pool_thread_index();
}

/* Threads that may run the calling thread's regions (scratch sizes). */
static inline int nn_threads(void)
{
	return pool_threads();
}

/* Set the calling thread's thread count (n <= 0: keep the current one)
 * and return it. Builds without parallel numerics (-Dopenmp=false, the
 * ThreadSanitizer build, where nn/ runs uninstrumented) always use 1.
 * OpenMP's count follows, for any OpenMP region outside nn/. */
static inline int nn_set_threads(int n)
{
#ifdef _OPENMP
	if (n <= 0)
		n = pool_threads();
	omp_set_num_threads(n);
#else
	n = 1;
#endif
	pool_set_threads(n);
	return n;
}

#endif
