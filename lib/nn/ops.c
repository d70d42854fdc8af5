/*
 * ops — embedding, RMSNorm, RoPE, SwiGLU, bias and softmax cross-entropy,
 * forward and backward; see ops.h for the conventions.
 */
#include "nn/ops.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn/vexp.h"

/* Columns per task in bias_backward. */
#define BIAS_TILE 64

void embedding_forward(real *out, const int32_t *ids, const real *table, int N, int C)
{
	#pragma omp parallel for schedule(static)
	for (int n = 0; n < N; n++)
		memcpy(out + (long)n * C, table + (long)ids[n] * C, sizeof(real) * (size_t)C);
}

void embedding_backward(real *dtable, const int32_t *ids, const real *dout, int N, int C)
{
	/* Rows repeat (the same token twice), so split by column, not by row:
	 * each thread owns a column range and walks the rows in order. */
	#pragma omp parallel
	{
		int nt = 1, t = 0;
#ifdef _OPENMP
		nt = omp_get_num_threads();
		t = omp_get_thread_num();
#endif
		int c0 = (int)((long)C * t / nt), c1 = (int)((long)C * (t + 1) / nt);
		for (int n = 0; n < N; n++) {
			real *dst = dtable + (long)ids[n] * C;
			const real *src = dout + (long)n * C;
			for (int c = c0; c < c1; c++)
				dst[c] += src[c];
		}
	}
}

void rmsnorm_forward(real *out, real *rstd, const real *x, const real *w, int N, int C, real eps)
{
	#pragma omp parallel for schedule(static)
	for (int n = 0; n < N; n++) {
		const real *xr = x + (long)n * C;
		real *o = out + (long)n * C;
		double ss = 0;
		real s;

		for (int c = 0; c < C; c++)
			ss += (double)xr[c] * xr[c];
		s = (real)(1.0 / sqrt(ss / C + eps));
		rstd[n] = s;
		for (int c = 0; c < C; c++)
			o[c] = xr[c] * s * w[c];
	}
}

void rmsnorm_backward(real *dx, real *dw, const real *dout, const real *x, const real *w,
		      const real *rstd, int N, int C)
{
	/* xhat = x * rstd; dxhat = dout * w;
	 * dx = rstd * (dxhat - xhat * mean(dxhat * xhat)). */
	#pragma omp parallel for schedule(static)
	for (int n = 0; n < N; n++) {
		const real *xr = x + (long)n * C, *d = dout + (long)n * C;
		real *dxr = dx + (long)n * C;
		real s = rstd[n];
		double dot = 0;
		real m;

		for (int c = 0; c < C; c++)
			dot += (double)d[c] * w[c] * xr[c] * s;
		m = (real)(dot / C);
		for (int c = 0; c < C; c++)
			dxr[c] += s * (d[c] * w[c] - xr[c] * s * m);
	}
	if (!dw)
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
			real s = rstd[n];
			for (int c = c0; c < c1; c++)
				dw[c] += d[c] * xr[c] * s;
		}
	}
}

void rope_tables(real *cos_t, real *sin_t, int T, int head_dim, double theta)
{
	int half = head_dim / 2;

	for (int t = 0; t < T; t++)
		for (int i = 0; i < half; i++) {
			/* Frequencies in float as llama2.c and the reference do, so the
			 * rotation angles match the published outputs bit for bit. */
			float freq = 1.0f / powf((float)theta, (float)(2 * i) / (float)head_dim);
			float ang = (float)t * freq;
			cos_t[(long)t * half + i] = (real)cosf(ang);
			sin_t[(long)t * half + i] = (real)sinf(ang);
		}
}

static void rope_rotate(real *x, const real *cos_t, const real *sin_t, int B, int T,
			int n_heads, int head_dim, real sign)
{
	int half = head_dim / 2, width = n_heads * head_dim;

	#pragma omp parallel for schedule(static)
	for (int n = 0; n < B * T; n++) {
		const real *c = cos_t + (long)(n % T) * half, *s = sin_t + (long)(n % T) * half;
		real *row = x + (long)n * width;
		for (int h = 0; h < n_heads; h++) {
			real *v = row + h * head_dim;
			for (int i = 0; i < half; i++) {
				real a = v[2 * i], b = v[2 * i + 1];
				real si = sign * s[i];
				v[2 * i] = a * c[i] - b * si;
				v[2 * i + 1] = a * si + b * c[i];
			}
		}
	}
}

void rope_forward_pos(real *x, const real *cos_t, const real *sin_t, int pos, int n_heads,
		      int head_dim)
{
	int half = head_dim / 2;
	const real *c = cos_t + (long)pos * half, *s = sin_t + (long)pos * half;

	for (int h = 0; h < n_heads; h++) {
		real *v = x + h * head_dim;
		for (int i = 0; i < half; i++) {
			real a = v[2 * i], b = v[2 * i + 1];
			v[2 * i] = a * c[i] - b * s[i];
			v[2 * i + 1] = a * s[i] + b * c[i];
		}
	}
}

void rope_forward(real *x, const real *cos_t, const real *sin_t, int B, int T, int n_heads,
		  int head_dim)
{
	rope_rotate(x, cos_t, sin_t, B, T, n_heads, head_dim, 1);
}

void rope_backward(real *dx, const real *cos_t, const real *sin_t, int B, int T, int n_heads,
		   int head_dim)
{
	/* A rotation's Jacobian is the rotation; its transpose rotates back. */
	rope_rotate(dx, cos_t, sin_t, B, T, n_heads, head_dim, -1);
}

void swiglu_forward(real *h, const real *g, const real *u, int n)
{
	#pragma omp parallel for simd schedule(static)
	for (int i = 0; i < n; i++) {
		real sig = 1 / (1 + vexp(-g[i]));
		h[i] = g[i] * sig * u[i];
	}
}

void swiglu_backward(real *dg, real *du, const real *dh, const real *g, const real *u, int n)
{
	#pragma omp parallel for simd schedule(static)
	for (int i = 0; i < n; i++) {
		real sig = 1 / (1 + vexp(-g[i]));
		real silu = g[i] * sig;
		du[i] = dh[i] * silu;
		dg[i] = dh[i] * u[i] * sig * (1 + g[i] * (1 - sig));
	}
}

void add_inplace(real *y, const real *x, long n)
{
	#pragma omp parallel for simd schedule(static)
	for (long i = 0; i < n; i++)
		y[i] += x[i];
}

void bias_forward(real *y, const real *b, int N, int C)
{
	#pragma omp parallel for schedule(static)
	for (int n = 0; n < N; n++)
		for (int c = 0; c < C; c++)
			y[(long)n * C + c] += b[c];
}

void bias_backward(real *db, const real *dy, int N, int C)
{
	if (!db)
		return;
	/* Column sums, summed from zero over the rows in order and then added
	 * to db. Walking one column down the rows touches a new cache line per
	 * element; a tile of columns walked down the rows reads contiguous
	 * runs and keeps the same order of additions. */
	#pragma omp parallel for schedule(static)
	for (int c0 = 0; c0 < C; c0 += BIAS_TILE) {
		const int w = C - c0 < BIAS_TILE ? C - c0 : BIAS_TILE;
		real s[BIAS_TILE] = { 0 };
		for (int n = 0; n < N; n++) {
			const real *row = dy + (long)n * C + c0;
			#pragma omp simd
			for (int j = 0; j < w; j++)
				s[j] += row[j];
		}
		for (int j = 0; j < w; j++)
			db[c0 + j] += s[j];
	}
}

double softmax_xent(real *logits, const int32_t *targets, int N, int V, real grad_scale,
		    double *row_loss, int64_t *count)
{
	double total = 0;
	int64_t cnt = 0;

	for (int n = 0; n < N; n++)
		cnt += targets[n] >= 0;

	#pragma omp parallel for schedule(static)
	for (int n = 0; n < N; n++) {
		real *z = logits + (long)n * V;
		int tgt = targets[n];
		real mx = z[0], sum = 0;

		if (tgt < 0) {
			row_loss[n] = 0;
			if (grad_scale != 0)
				memset(z, 0, sizeof(real) * (size_t)V);
			continue;
		}
		#pragma omp simd reduction(max:mx)
		for (int v = 1; v < V; v++)
			mx = z[v] > mx ? z[v] : mx;
		real zt = z[tgt];
		if (grad_scale != 0) {
			#pragma omp simd reduction(+:sum)
			for (int v = 0; v < V; v++) {
				z[v] = vexp(z[v] - mx);
				sum += z[v];
			}
			real inv = grad_scale / sum;
			#pragma omp simd
			for (int v = 0; v < V; v++)
				z[v] *= inv;
			z[tgt] -= grad_scale;
		} else {
			#pragma omp simd reduction(+:sum)
			for (int v = 0; v < V; v++)
				sum += vexp(z[v] - mx);
		}
		row_loss[n] = (double)mx + log((double)sum) - (double)zt;
	}
	/* Per-row losses are summed in row order after the parallel loop so the
	 * total does not depend on the thread count. */
	for (int n = 0; n < N; n++)
		total += row_loss[n];
	*count = cnt;
	return total;
}
