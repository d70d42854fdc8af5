/*
 * ops — embedding, RMSNorm, RoPE, SwiGLU, bias and softmax cross-entropy,
 * forward and backward; see ops.h for the conventions.
 */
#include "nn/ops.h"

#include <math.h>
#include <string.h>

#include "nn/parallel.h"
#include "nn/vexp.h"

/* Columns per task in bias_backward and in the column sums of
 * embedding_backward and rmsnorm_backward. */
#define BIAS_TILE 64

/* Column tiles of a column sum over N rows: each tile walks all N rows,
 * so enough tiles to share and few enough to keep rows streaming. */
static long col_grain(int N, int C)
{
	long g = (NN_GRAIN_ELEMS / (N > 0 ? N : 1) + BIAS_TILE - 1) / BIAS_TILE * BIAS_TILE;

	(void)C;
	return g > BIAS_TILE ? g : BIAS_TILE;
}

struct embedding_args {
	real *out;
	const int32_t *ids;
	const real *table, *dout;
	int N, C;
};

static void embedding_fwd_rows(void *arg, long lo, long hi, int thread)
{
	const struct embedding_args *a = arg;

	(void)thread;
	for (long n = lo; n < hi; n++)
		memcpy(a->out + n * a->C, a->table + (long)a->ids[n] * a->C,
		       sizeof(real) * (size_t)a->C);
}

void embedding_forward(real *out, const int32_t *ids, const real *table, int N, int C)
{
	struct embedding_args a = { out, ids, table, NULL, N, C };

	pool_for(N, nn_row_grain(C), embedding_fwd_rows, &a);
}

static void embedding_bwd_cols(void *arg, long c0, long c1, int thread)
{
	const struct embedding_args *a = arg;

	(void)thread;
	for (int n = 0; n < a->N; n++) {
		real *dst = a->out + (long)a->ids[n] * a->C;
		const real *src = a->dout + (long)n * a->C;
		for (long c = c0; c < c1; c++)
			dst[c] += src[c];
	}
}

void embedding_backward(real *dtable, const int32_t *ids, const real *dout, int N, int C)
{
	/* Rows repeat (the same token twice), so split by column, not by row:
	 * each task owns a column range and walks the rows in order. */
	struct embedding_args a = { dtable, ids, NULL, dout, N, C };

	pool_for(C, col_grain(N, C), embedding_bwd_cols, &a);
}

struct rmsnorm_args {
	real *out, *rstd_out, *dw;
	const real *x, *w, *dout, *rstd;
	int N, C;
	real eps;
};

static void rmsnorm_fwd_rows(void *arg, long lo, long hi, int thread)
{
	const struct rmsnorm_args *a = arg;
	const int C = a->C;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		const real *xr = a->x + n * C, *w = a->w;
		real *o = a->out + n * C;
		double ss = 0;
		real s;

		for (int c = 0; c < C; c++)
			ss += (double)xr[c] * xr[c];
		s = (real)(1.0 / sqrt(ss / C + a->eps));
		a->rstd_out[n] = s;
		for (int c = 0; c < C; c++)
			o[c] = xr[c] * s * w[c];
	}
}

void rmsnorm_forward(real *out, real *rstd, const real *x, const real *w, int N, int C, real eps)
{
	struct rmsnorm_args a = { .out = out, .rstd_out = rstd, .x = x, .w = w, .N = N, .C = C,
				  .eps = eps };

	pool_for(N, nn_row_grain(C), rmsnorm_fwd_rows, &a);
}

static void rmsnorm_bwd_rows(void *arg, long lo, long hi, int thread)
{
	const struct rmsnorm_args *a = arg;
	const int C = a->C;
	const real *w = a->w;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		const real *xr = a->x + n * C, *d = a->dout + n * C;
		real *dxr = a->out + n * C;
		real s = a->rstd[n];
		double dot = 0;
		real m;

		for (int c = 0; c < C; c++)
			dot += (double)d[c] * w[c] * xr[c] * s;
		m = (real)(dot / C);
		for (int c = 0; c < C; c++)
			dxr[c] += s * (d[c] * w[c] - xr[c] * s * m);
	}
}

/* dw[c] += sum over rows of dout * xhat, rows in order. */
static void rmsnorm_bwd_cols(void *arg, long c0, long c1, int thread)
{
	const struct rmsnorm_args *a = arg;
	const int C = a->C;

	(void)thread;
	for (long n = 0; n < a->N; n++) {
		const real *xr = a->x + n * C, *d = a->dout + n * C;
		real s = a->rstd[n];
		for (long c = c0; c < c1; c++)
			a->dw[c] += d[c] * xr[c] * s;
	}
}

void rmsnorm_backward(real *dx, real *dw, const real *dout, const real *x, const real *w,
		      const real *rstd, int N, int C)
{
	/* xhat = x * rstd; dxhat = dout * w;
	 * dx = rstd * (dxhat - xhat * mean(dxhat * xhat)). */
	struct rmsnorm_args a = { .out = dx, .dw = dw, .x = x, .w = w, .dout = dout,
				  .rstd = rstd, .N = N, .C = C };

	pool_for(N, nn_row_grain(C), rmsnorm_bwd_rows, &a);
	if (!dw)
		return;
	pool_for(C, col_grain(N, C), rmsnorm_bwd_cols, &a);
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

struct rope_args {
	real *x;
	const real *cos_t, *sin_t;
	int T, n_heads, head_dim;
	real sign;
};

static void rope_rows(void *arg, long lo, long hi, int thread)
{
	const struct rope_args *r = arg;
	const int half = r->head_dim / 2, width = r->n_heads * r->head_dim;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		const real *c = r->cos_t + (n % r->T) * half, *s = r->sin_t + (n % r->T) * half;
		real *row = r->x + n * width;
		for (int h = 0; h < r->n_heads; h++) {
			real *v = row + h * r->head_dim;
			for (int i = 0; i < half; i++) {
				real a = v[2 * i], b = v[2 * i + 1];
				real si = r->sign * s[i];
				v[2 * i] = a * c[i] - b * si;
				v[2 * i + 1] = a * si + b * c[i];
			}
		}
	}
}

static void rope_rotate(real *x, const real *cos_t, const real *sin_t, int B, int T,
			int n_heads, int head_dim, real sign)
{
	struct rope_args r = { x, cos_t, sin_t, T, n_heads, head_dim, sign };

	pool_for((long)B * T, nn_row_grain((long)n_heads * head_dim), rope_rows, &r);
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

struct swiglu_args {
	real *h, *dg, *du;
	const real *dh, *g, *u;
};

static void swiglu_fwd_piece(void *arg, long lo, long hi, int thread)
{
	const struct swiglu_args *a = arg;
	real *restrict h = a->h;
	const real *restrict g = a->g, *restrict u = a->u;

	(void)thread;
	#pragma omp simd
	for (long i = lo; i < hi; i++) {
		real sig = 1 / (1 + vexp(-g[i]));
		h[i] = g[i] * sig * u[i];
	}
}

void swiglu_forward(real *h, const real *g, const real *u, int n)
{
	struct swiglu_args a = { .h = h, .g = g, .u = u };

	pool_for(n, NN_GRAIN_ELEMS, swiglu_fwd_piece, &a);
}

static void swiglu_bwd_piece(void *arg, long lo, long hi, int thread)
{
	const struct swiglu_args *a = arg;
	real *restrict dg = a->dg, *restrict du = a->du;
	const real *restrict dh = a->dh, *restrict g = a->g, *restrict u = a->u;

	(void)thread;
	#pragma omp simd
	for (long i = lo; i < hi; i++) {
		real sig = 1 / (1 + vexp(-g[i]));
		real silu = g[i] * sig;
		du[i] = dh[i] * silu;
		dg[i] = dh[i] * u[i] * sig * (1 + g[i] * (1 - sig));
	}
}

void swiglu_backward(real *dg, real *du, const real *dh, const real *g, const real *u, int n)
{
	struct swiglu_args a = { .dg = dg, .du = du, .dh = dh, .g = g, .u = u };

	pool_for(n, NN_GRAIN_ELEMS, swiglu_bwd_piece, &a);
}

struct add_args {
	real *y;
	const real *x;
};

static void add_piece(void *arg, long lo, long hi, int thread)
{
	const struct add_args *a = arg;
	real *restrict y = a->y;
	const real *restrict x = a->x;

	(void)thread;
	#pragma omp simd
	for (long i = lo; i < hi; i++)
		y[i] += x[i];
}

void add_inplace(real *y, const real *x, long n)
{
	struct add_args a = { y, x };

	pool_for(n, 2 * NN_GRAIN_ELEMS, add_piece, &a);
}

struct bias_args {
	real *y, *db;
	const real *b, *dy;
	int N, C;
};

static void bias_fwd_rows(void *arg, long lo, long hi, int thread)
{
	const struct bias_args *a = arg;

	(void)thread;
	for (long n = lo; n < hi; n++)
		for (int c = 0; c < a->C; c++)
			a->y[n * a->C + c] += a->b[c];
}

void bias_forward(real *y, const real *b, int N, int C)
{
	struct bias_args a = { .y = y, .b = b, .N = N, .C = C };

	pool_for(N, nn_row_grain(C), bias_fwd_rows, &a);
}

static void bias_bwd_cols(void *arg, long lo, long hi, int thread)
{
	const struct bias_args *a = arg;

	(void)thread;
	for (long c0 = lo; c0 < hi; c0 += BIAS_TILE) {
		const int w = hi - c0 < BIAS_TILE ? (int)(hi - c0) : BIAS_TILE;
		real s[BIAS_TILE] = { 0 };
		for (int n = 0; n < a->N; n++) {
			const real *row = a->dy + (long)n * a->C + c0;
			#pragma omp simd
			for (int j = 0; j < w; j++)
				s[j] += row[j];
		}
		for (int j = 0; j < w; j++)
			a->db[c0 + j] += s[j];
	}
}

void bias_backward(real *db, const real *dy, int N, int C)
{
	struct bias_args a = { .db = db, .dy = dy, .N = N, .C = C };

	if (!db)
		return;
	/* Column sums, summed from zero over the rows in order and then added
	 * to db. Walking one column down the rows touches a new cache line per
	 * element; a tile of columns walked down the rows reads contiguous
	 * runs and keeps the same order of additions. */
	pool_for(C, col_grain(N, C), bias_bwd_cols, &a);
}

struct xent_args {
	real *logits;
	const int32_t *targets;
	double *row_loss;
	int V;
	real grad_scale;
};

static void xent_rows(void *arg, long lo, long hi, int thread)
{
	const struct xent_args *a = arg;
	const int V = a->V;
	const real grad_scale = a->grad_scale;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		real *z = a->logits + n * V;
		int tgt = a->targets[n];
		real mx = z[0], sum = 0;

		if (tgt < 0) {
			a->row_loss[n] = 0;
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
		a->row_loss[n] = (double)mx + log((double)sum) - (double)zt;
	}
}

double softmax_xent(real *logits, const int32_t *targets, int N, int V, real grad_scale,
		    double *row_loss, int64_t *count)
{
	double total = 0;
	int64_t cnt = 0;

	for (int n = 0; n < N; n++)
		cnt += targets[n] >= 0;
	{
		struct xent_args a = { logits, targets, row_loss, V, grad_scale };
		pool_for(N, nn_row_grain(V), xent_rows, &a);
	}
	/* Per-row losses are summed in row order after the parallel loop so the
	 * total does not depend on the thread count. */
	for (int n = 0; n < N; n++)
		total += row_loss[n];
	*count = cnt;
	return total;
}

