/*
 * gelu — the exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), forward
 * and backward (Hugging Face's "gelu", BERT's and RoBERTa's activation; not
 * the tanh approximation "gelu_new").
 *
 * glibc's erff is a call the vectoriser cannot inline, and the FFN applies
 * GELU to every one of N x 3072 elements, so the float build evaluates Phi
 * with its own branch-free approximation (gelu.c): within 1e-6 relative of
 * the exact function for x >= -13 (measured over every float in
 * [-13, 20]: at most 7e-7), zero below, where the exact value is under
 * 1e-38. Phi is formed from erfc of |x| rather than 1 + erf(x), so the
 * negative tail keeps its relative accuracy (torch's float kernel loses it
 * there to cancellation). The double build (gradient checks) uses libm.
 */
#ifndef ADA_NN_GELU_H
#define ADA_NN_GELU_H

#include "nn/real.h"

/* out[i] = gelu(x[i]); out may alias x. */
void gelu_forward(real *out, const real *x, long n);
/* dx[i] = dout[i] * gelu'(x[i]),  gelu'(x) = Phi(x) + x phi(x) (overwrites,
 * like swiglu_backward: the input of an activation has no other consumer). */
void gelu_backward(real *dx, const real *dout, const real *x, long n);

#endif
