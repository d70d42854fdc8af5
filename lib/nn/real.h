/*
 * real — the numeric type of the nn/ core.
 *
 * nn/ is compiled twice: with real = float for training, and with
 * real = double (-DADA_REAL_DOUBLE) for the finite-difference gradient
 * checks. Code in nn/ uses `real` and the gemm() wrapper, never float or
 * cblas directly, so both builds share every line.
 */
#ifndef ADA_NN_REAL_H
#define ADA_NN_REAL_H

#include <math.h>

#ifdef ADA_REAL_DOUBLE
typedef double real;
#define REAL_EXP exp
#define REAL_LOG log
#define REAL_SQRT sqrt
#define REAL_FABS fabs
#define REAL_COS cos
#define REAL_SIN sin
#define REAL_POW pow
#else
typedef float real;
#define REAL_EXP expf
#define REAL_LOG logf
#define REAL_SQRT sqrtf
#define REAL_FABS fabsf
#define REAL_COS cosf
#define REAL_SIN sinf
#define REAL_POW powf
#endif

#endif
