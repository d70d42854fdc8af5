/*
 * blas_kernel — which OpenBLAS kernel this CPU deserves, and what to ask
 * OpenBLAS for when it chose a lesser one.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernel at load
 * time from the CPU's family and model numbers, and falls back to a
 * generic one for models it does not know: on a cloud VM that hides its
 * CPU model ("Intel(R) Xeon(R) Processor" with AVX-512) 0.3.21 runs
 * "Prescott" kernels at a quarter of the SkylakeX speed. The features
 * (util/cpu.h) say what the CPU can run whatever its model number; the
 * kernel names are OpenBLAS's (driver/others/dynamic.c, corename[]),
 * ranked by the instruction set their kernels use:
 *
 *   rank  kernels                                        needs
 *   1     Prescott, Opteron, Opteron_SSE3                SSE3
 *   2     Core2, Penryn, Dunnington, Atom, Nano, Bobcat,
 *         Barcelona                                      SSSE3 (SSE4a)
 *   3     Nehalem                                        SSE4.2
 *   4     Sandybridge, Bulldozer, Piledriver,
 *         Steamroller, Excavator                         AVX
 *   5     Haswell, Zen                                   AVX2 + FMA
 *   6     SkylakeX                                       AVX-512 F/BW/VL/DQ/CD
 *   7     Cooperlake                                     + AVX512-BF16
 *   8     SapphireRapids                                 + AMX-BF16/TILE
 *
 * (0: the 32-bit-only Katmai, Coppermine, Northwood, Banias, Athlon; -1:
 * a name we do not know, which is never replaced.) At rank 5 an AMD or
 * Hygon CPU gets Zen (OpenBLAS's own choice for them), others Haswell; at
 * rank 4 an AMD CPU with FMA4 gets Piledriver (FMA3 too) or Bulldozer, and
 * any other Sandybridge (Bulldozer's kernels die with SIGILL on a Zen,
 * which has no FMA4).
 */
#ifndef ADA_NN_BLAS_KERNEL_H
#define ADA_NN_BLAS_KERNEL_H

#include "util/cpu.h"

#define BLAS_KERNEL_RANK_MAX 8

/* The rank of an OpenBLAS kernel name (case-insensitive), -1 if unknown. */
int blas_kernel_rank(const char *name);

/* The best kernel the features allow ("" when none: not x86, no SSE3). */
const char *blas_kernel_for_cpu(const struct cpu_features *f);

/* The kernels the features allow, one per rank from Prescott up to the
 * best (both Haswell and Zen at rank 5, the vendor's second), into out
 * (at most cap); their count. The last is blas_kernel_for_cpu()'s. */
int blas_kernels_runnable(const struct cpu_features *f, const char **out, int cap);

/* The kernel to ask for next, or NULL when there is none: the best one the
 * CPU allows that ranks above `current` (OpenBLAS's kernel now) and, when
 * `tried` is not NULL (the name asked for last time, which OpenBLAS did
 * not load), below `tried`. NULL for an unknown `current`: never replace
 * what we cannot rank. */
const char *blas_kernel_next(const struct cpu_features *f, const char *current,
			     const char *tried);

#endif
