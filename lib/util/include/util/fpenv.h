/*
 * fpenv — the floating-point environment training runs in.
 *
 * Subnormal floats are up to ~40x slower on x86 and carry nothing a
 * training step needs: once small gradients, Adam moments or importance
 * EMAs decay into that range a job crawls (measured in the daemon: 42 s
 * against 1.2 s for the same 200 steps, same loss to four digits). Every
 * entry point that runs the numeric core (training, evaluation,
 * generation, benchmarks) flushes them to zero, in the calling thread and
 * in its OpenMP team, so the CLI and the daemon compute the same bits.
 */
#ifndef ADA_UTIL_FPENV_H
#define ADA_UTIL_FPENV_H

#if defined(__SSE__)
#include <xmmintrin.h>
#include <pmmintrin.h>
#endif

static inline void fpenv_flush_subnormals_here(void)
{
#if defined(__SSE__)
	_MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
	_MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

/* The calling thread and every thread of its OpenMP team (the mode is
 * per thread; threads created later by this one inherit it). */
static inline void fpenv_flush_subnormals(void)
{
	fpenv_flush_subnormals_here();
	#pragma omp parallel
	fpenv_flush_subnormals_here();
}

#endif
