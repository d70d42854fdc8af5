/* layernorm — LayerNorm forward/backward; see layernorm.h. */
#include "nn/layernorm.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void layernorm_forward(real *out, real *mean, real *rstd, const real *x, const real *w,
		       const real *b, int N, int C, real eps)
{
	#pragma omp parallel for schedule(static)
	for (int n = 0; n < N; n++) {
		const real *xr = x + (long)n * C;
		real *o = out + (long)n * C;
		double sum = 0, ss = 0;
		real m, s;

		/* Two passes in double: the variance of the deviations, not
		 * E[x^2] - E[x]^2, which cancels badly for rows far from zero.
		 * (simd reductions: a fixed order per build, so deterministic) */
		#pragma omp simd reduction(+:sum)
		for (int c = 0; c < C; c++)
			sum += xr[c];
		m = (real)(sum / C);
		#pragma omp simd reduction(+:ss)
		for (int c = 0; c < C; c++)
			ss += (double)(xr[c] - m) * (xr[c] - m);
		s = (real)(1.0 / sqrt(ss / C + eps));
		mean[n] = m;
		rstd[n] = s;
		#pragma omp simd
		for (int c = 0; c < C; c++)
			o[c] = (xr[c] - m) * s * w[c] + b[c];
	}
}

void layernorm_backward(real *dx, real *dw, real *db, const real *dout, const real *x,
			const real *w, const real *mean, const real *rstd, int N, int C)
{
	/* xhat = (x - mean) * rstd; dxhat = dout * w;
	 * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)). */
	#pragma omp parallel for schedule(static)
	for (int n = 0; n < N; n++) {
		const real *xr = x + (long)n * C, *d = dout + (long)n * C;
		real *dxr = dx + (long)n * C;
		const real m = mean[n], s = rstd[n];
		double sum = 0, dot = 0;
		real mg, mgx;

		#pragma omp simd reduction(+:sum, dot)
		for (int c = 0; c < C; c++) {
			real g = d[c] * w[c];
			sum += g;
			dot += (double)g * (xr[c] - m) * s;
		}
		mg = (real)(sum / C);
		mgx = (real)(dot / C);
		#pragma omp simd
		for (int c = 0; c < C; c++)
			dxr[c] = s * (d[c] * w[c] - mg - (xr[c] - m) * s * mgx);
	}
	if (!dw && !db)
		return;
	#pragma omp parallel
	{
		int nt = 1, t = 0;
#ifdef _OPENMP
		nt = omp_get_num_threads();
		t = omp_get_thread_num();
#endif
		int c0 = (int)((long)C * t / nt), c1 = (int)((long)C * (t + 1) / nt);
		for (int n = 0; n < N; n++) {
			const real *xr = x + (long)n * C, *d = dout + (long)n * C;
			const real m = mean[n], s = rstd[n];
			if (dw)
				for (int c = c0; c < c1; c++)
					dw[c] += d[c] * (xr[c] - m) * s;
			if (db)
				for (int c = c0; c < c1; c++)
					db[c] += d[c];
		}
	}
}
