/* orth_reg — AdaLoRA orthogonality penalty and its gradient; see orth_reg.h. */
#include "nn/orth_reg.h"

#include <math.h>

#include "nn/blas.h"

/* Frobenius norm of M - I for the r x r matrix M (M is modified: M -= I). */
static double minus_eye_norm(real *M, int r)
{
	double ss = 0;

	for (int i = 0; i < r; i++)
		M[(long)i * r + i] -= 1;
	for (long i = 0; i < (long)r * r; i++)
		ss += (double)M[i] * M[i];
	return sqrt(ss);
}

double orth_reg_pair(const real *P, const real *Q, int out, int in, int r, real weight,
		     real *dP, real *dQ, real *scratch)
{
	double nq, np;

	if (r == 0)
		return 0;
	/* d||M||/dQ with M = Q Q^T - I symmetric: 2 M Q / ||M||. */
	gemm(0, 1, r, r, in, 1, Q, in, Q, in, 0, scratch, r);
	nq = minus_eye_norm(scratch, r);
	if (weight != 0 && dQ && nq > 0)
		gemm(0, 0, r, in, r, (real)(2 * weight / nq), scratch, r, Q, in, 1, dQ, in);
	/* M = P^T P - I: d||M||/dP = 2 P M / ||M||. */
	gemm(1, 0, r, r, out, 1, P, r, P, r, 0, scratch, r);
	np = minus_eye_norm(scratch, r);
	if (weight != 0 && dP && np > 0)
		gemm(0, 0, out, r, r, (real)(2 * weight / np), P, r, scratch, r, 1, dP, r);
	return nq + np;
}
