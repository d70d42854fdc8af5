/*
 * fpenv — the floating-point environment training runs in.
 *
 * Subnormal floats are up to ~40x slower on x86 and carry nothing a
 * training step needs: once small gradients, Adam moments or importance
 * EMAs decay into that range a job crawls (measured in the daemon: 42 s
 * against 1.2 s for the same 200 steps, same loss to four digits). Every
 * entry point that runs the numeric core (training, evaluation,
 * generation, benchmarks) flushes them to zero in the calling thread;
 * the thread pool (util/pool.h) runs every task under its caller's mode,
 * so the CLI and the daemon compute the same bits.
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

/* The calling thread (the mode is per thread; pool helpers take their
 * caller's for each region, threads created later by this one inherit it). */
static inline void fpenv_flush_subnormals(void)
{
	fpenv_flush_subnormals_here();
}

#endif
