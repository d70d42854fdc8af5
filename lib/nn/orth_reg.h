/*
 * orth_reg — AdaLoRA's orthogonality regulariser (adalora.md section 2):
 *
 *     R = 1/(2n) * sum_k ( ||Q_k Q_k^T - I||_F + ||P_k^T P_k - I||_F )
 *
 * in the PEFT form (plain Frobenius norm, averaged over the 2n matrices).
 * The caller sums orth_reg_pair() over the n adapters and passes
 * weight = gamma / (2n). Masked triplets are included, as in PEFT.
 */
#ifndef ADA_NN_ORTH_REG_H
#define ADA_NN_ORTH_REG_H

#include "nn/real.h"

/* ||Q Q^T - I||_F + ||P^T P - I||_F for P [out][r], Q [r][in]. With
 * weight != 0, also dP += weight * d/dP and dQ += weight * d/dQ (either may
 * be NULL). scratch holds r*r reals. A zero norm contributes no gradient. */
double orth_reg_pair(const real *P, const real *Q, int out, int in, int r, real weight,
		     real *dP, real *dQ, real *scratch);

#endif
