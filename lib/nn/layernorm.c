/* layernorm — LayerNorm forward/backward; see layernorm.h. */
#include "nn/layernorm.h"

#include <math.h>

#include "nn/parallel.h"

struct ln_args {
	real *out, *mean_out, *rstd_out, *dw, *db;
	const real *x, *w, *b, *dout, *mean, *rstd;
	int N, C;
	real eps;
};

static void ln_fwd_rows(void *arg, long lo, long hi, int thread)
{
	const struct ln_args *a = arg;
	const int C = a->C;
	const real *w = a->w, *b = a->b;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		const real *xr = a->x + n * C;
		real *o = a->out + n * C;
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
		s = (real)(1.0 / sqrt(ss / C + a->eps));
		a->mean_out[n] = m;
		a->rstd_out[n] = s;
		#pragma omp simd
		for (int c = 0; c < C; c++)
			o[c] = (xr[c] - m) * s * w[c] + b[c];
	}
}

void layernorm_forward(real *out, real *mean, real *rstd, const real *x, const real *w,
		       const real *b, int N, int C, real eps)
{
	struct ln_args a = { .out = out, .mean_out = mean, .rstd_out = rstd, .x = x, .w = w,
			     .b = b, .N = N, .C = C, .eps = eps };

	pool_for(N, nn_row_grain(C), ln_fwd_rows, &a);
}

static void ln_bwd_rows(void *arg, long lo, long hi, int thread)
{
	const struct ln_args *a = arg;
	const int C = a->C;
	const real *w = a->w;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		const real *xr = a->x + n * C, *d = a->dout + n * C;
		real *dxr = a->out + n * C;
		const real m = a->mean[n], s = a->rstd[n];
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
}

/* dw, db: column sums over the rows in order, a range of columns per task. */
static void ln_bwd_cols(void *arg, long c0, long c1, int thread)
{
	const struct ln_args *a = arg;
	const int C = a->C;

	(void)thread;
	for (long n = 0; n < a->N; n++) {
		const real *xr = a->x + n * C, *d = a->dout + n * C;
		const real m = a->mean[n], s = a->rstd[n];
		if (a->dw)
			for (long c = c0; c < c1; c++)
				a->dw[c] += d[c] * (xr[c] - m) * s;
		if (a->db)
			for (long c = c0; c < c1; c++)
				a->db[c] += d[c];
	}
}

void layernorm_backward(real *dx, real *dw, real *db, const real *dout, const real *x,
			const real *w, const real *mean, const real *rstd, int N, int C)
{
	/* xhat = (x - mean) * rstd; dxhat = dout * w;
	 * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)). */
	struct ln_args a = { .out = dx, .dw = dw, .db = db, .x = x, .w = w, .dout = dout,
			     .mean = mean, .rstd = rstd, .N = N, .C = C };
	long grain = (NN_GRAIN_ELEMS / (N > 0 ? N : 1) + 63) / 64 * 64;

	pool_for(N, nn_row_grain(C), ln_bwd_rows, &a);
	if (!dw && !db)
		return;
	pool_for(C, grain > 64 ? grain : 64, ln_bwd_cols, &a);
}
