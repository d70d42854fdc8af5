/* rowdot — batch-invariant products for decoding; see rowdot.h. */
#include "infer/rowdot.h"

#include <string.h>

#include "util/pool.h"

typedef float v8 __attribute__((vector_size(32)));

static inline v8 ld8(const float *p)
{
	v8 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The end of every dot: the lanes in a fixed tree, then the tail terms. */
static inline float finish(v8 a, const float *x, const float *w, int k, int K)
{
	float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));

	for (; k < K; k++)
		s += x[k] * w[k];
	return s;
}

static inline void store(float *y, float s, int accumulate)
{
	*y = accumulate ? *y + s : s;
}

/* Two rows of x against four rows of W. */
static void kern_2x4(const float *x0, const float *x1, const float *const *w, int K, float *y0,
		     float *y1, int accumulate)
{
	v8 a00 = { 0 }, a01 = { 0 }, a02 = { 0 }, a03 = { 0 };
	v8 a10 = { 0 }, a11 = { 0 }, a12 = { 0 }, a13 = { 0 };
	int k = 0;

	for (; k + 8 <= K; k += 8) {
		const v8 xa = ld8(x0 + k), xb = ld8(x1 + k);
		const v8 w0 = ld8(w[0] + k), w1 = ld8(w[1] + k), w2 = ld8(w[2] + k),
			 w3 = ld8(w[3] + k);

		a00 += xa * w0;
		a01 += xa * w1;
		a02 += xa * w2;
		a03 += xa * w3;
		a10 += xb * w0;
		a11 += xb * w1;
		a12 += xb * w2;
		a13 += xb * w3;
	}
	store(y0 + 0, finish(a00, x0, w[0], k, K), accumulate);
	store(y0 + 1, finish(a01, x0, w[1], k, K), accumulate);
	store(y0 + 2, finish(a02, x0, w[2], k, K), accumulate);
	store(y0 + 3, finish(a03, x0, w[3], k, K), accumulate);
	store(y1 + 0, finish(a10, x1, w[0], k, K), accumulate);
	store(y1 + 1, finish(a11, x1, w[1], k, K), accumulate);
	store(y1 + 2, finish(a12, x1, w[2], k, K), accumulate);
	store(y1 + 3, finish(a13, x1, w[3], k, K), accumulate);
}

/* One row of x against four rows of W. */
static void kern_1x4(const float *x0, const float *const *w, int K, float *y0, int accumulate)
{
	v8 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	int k = 0;

	for (; k + 8 <= K; k += 8) {
		const v8 xa = ld8(x0 + k);

		a0 += xa * ld8(w[0] + k);
		a1 += xa * ld8(w[1] + k);
		a2 += xa * ld8(w[2] + k);
		a3 += xa * ld8(w[3] + k);
	}
	store(y0 + 0, finish(a0, x0, w[0], k, K), accumulate);
	store(y0 + 1, finish(a1, x0, w[1], k, K), accumulate);
	store(y0 + 2, finish(a2, x0, w[2], k, K), accumulate);
	store(y0 + 3, finish(a3, x0, w[3], k, K), accumulate);
}

/* One row of x against one row of W. */
static void kern_1x1(const float *x0, const float *w0, int K, float *y0, int accumulate)
{
	v8 a = { 0 };
	int k = 0;

	for (; k + 8 <= K; k += 8)
		a += ld8(x0 + k) * ld8(w0 + k);
	store(y0, finish(a, x0, w0, k, K), accumulate);
}

struct rowdot_job {
	const struct rowdot_w *w;
	const float *x;
	int M, ldx, ldy, accumulate;
	float *y;
	float *scratch;
	int rows_per_task;
};

/* Rows [o0, o0 + n) of W (n <= 4) as pointers, dequantized into buf when
 * they are not f32 in place. */
static void w_rows(const struct rowdot_w *w, int o0, int n, float *buf, const float **rows)
{
	const int K = w->cols;

	if (w->f32) {
		for (int i = 0; i < n; i++)
			rows[i] = w->f32 + (size_t)(o0 + i) * K;
		return;
	}
	frozen_mat_tile(w->fm, o0, n, 0, K, buf, (size_t)K);
	for (int i = 0; i < n; i++)
		rows[i] = buf + (size_t)i * K;
}

static void rowdot_task(void *ctx, long task, int thread)
{
	const struct rowdot_job *j = ctx;
	const struct rowdot_w *w = j->w;
	const int K = w->cols, M = j->M;
	const int lo = (int)task * j->rows_per_task;
	const int hi = w->rows - lo < j->rows_per_task ? w->rows : lo + j->rows_per_task;
	float *buf = j->scratch ? j->scratch + (size_t)thread * rowdot_scratch(K) : NULL;

	for (int o = lo; o < hi; o += 4) {
		const int n = hi - o < 4 ? hi - o : 4;
		const float *rows[4];
		int m = 0;

		w_rows(w, o, n, buf, rows);
		if (n < 4) {
			for (int i = 0; i < n; i++)
				for (m = 0; m < M; m++)
					kern_1x1(j->x + (size_t)m * j->ldx, rows[i], K,
						 j->y + (size_t)m * j->ldy + o + i, j->accumulate);
			continue;
		}
		for (; m + 2 <= M; m += 2)
			kern_2x4(j->x + (size_t)m * j->ldx, j->x + (size_t)(m + 1) * j->ldx, rows, K,
				 j->y + (size_t)m * j->ldy + o, j->y + (size_t)(m + 1) * j->ldy + o,
				 j->accumulate);
		if (m < M)
			kern_1x4(j->x + (size_t)m * j->ldx, rows, K, j->y + (size_t)m * j->ldy + o,
				 j->accumulate);
	}
}

/* Multiply-adds per task: enough to hide a claim and a wake-up, few
 * enough to share; a product smaller than PARALLEL_MIN_WORK is one task
 * (as gemm() keeps small products on the calling thread). */
#define TASK_WORK (1L << 17)
#define PARALLEL_MIN_WORK (1L << 18)

void rowdot(const struct rowdot_w *w, const float *x, int M, int ldx, float *y, int ldy,
	    int accumulate, float *scratch)
{
	struct rowdot_job j = { .w = w, .x = x, .M = M, .ldx = ldx, .ldy = ldy,
				.accumulate = accumulate, .y = y, .scratch = scratch };
	long per_row = (long)M * w->cols, rb;

	if (M <= 0 || w->rows <= 0)
		return;
	if (w->cols <= 0) {
		for (int m = 0; m < M; m++)
			for (int o = 0; o < w->rows; o++)
				store(y + (size_t)m * ldy + o, 0, accumulate);
		return;
	}
	rb = TASK_WORK / (per_row > 0 ? per_row : 1);
	rb = rb < 4 ? 4 : (rb + 3) / 4 * 4;
	if (rb > w->rows || per_row * w->rows < PARALLEL_MIN_WORK)
		rb = w->rows;
	j.rows_per_task = (int)rb;
	pool_run((w->rows + rb - 1) / rb, 0, rowdot_task, &j);
}

/* ---- the narrow product: axpy form ------------------------------------------ */

struct rowaxpy_job {
	const float *Wt, *s;
	float *y;
	int k, cols, M, lds, ldy;
	int cols_per_task;
};

static inline void st8(float *p, v8 v)
{
	memcpy(p, &v, sizeof(v));
}

/* Columns [c0, c1) of one row: c0 a multiple of 8; a column is in a
 * vector iff it is below cols rounded down to 8, so its arithmetic never
 * depends on the split. */
static void axpy_row(const float *Wt, int k, int cols, const float *s, float *y, int c0, int c1)
{
	const int vec_end = cols / 8 * 8;
	int o = c0;

	for (; o + 32 <= c1 && o + 32 <= vec_end; o += 32) {
		v8 a0 = s[0] * ld8(Wt + o), a1 = s[0] * ld8(Wt + o + 8),
		   a2 = s[0] * ld8(Wt + o + 16), a3 = s[0] * ld8(Wt + o + 24);

		for (int j = 1; j < k; j++) {
			const float *w = Wt + (size_t)j * cols + o;
			a0 += s[j] * ld8(w);
			a1 += s[j] * ld8(w + 8);
			a2 += s[j] * ld8(w + 16);
			a3 += s[j] * ld8(w + 24);
		}
		st8(y + o, ld8(y + o) + a0);
		st8(y + o + 8, ld8(y + o + 8) + a1);
		st8(y + o + 16, ld8(y + o + 16) + a2);
		st8(y + o + 24, ld8(y + o + 24) + a3);
	}
	for (; o + 8 <= c1 && o + 8 <= vec_end; o += 8) {
		v8 a = s[0] * ld8(Wt + o);

		for (int j = 1; j < k; j++)
			a += s[j] * ld8(Wt + (size_t)j * cols + o);
		st8(y + o, ld8(y + o) + a);
	}
	for (; o < c1; o++) {
		float a = s[0] * Wt[o];

		for (int j = 1; j < k; j++)
			a += s[j] * Wt[(size_t)j * cols + o];
		y[o] += a;
	}
}

static void rowaxpy_task(void *ctx, long task, int thread)
{
	const struct rowaxpy_job *j = ctx;
	const int c0 = (int)task * j->cols_per_task;
	const int c1 = j->cols - c0 < j->cols_per_task ? j->cols : c0 + j->cols_per_task;

	(void)thread;
	for (int m = 0; m < j->M; m++)
		axpy_row(j->Wt, j->k, j->cols, j->s + (size_t)m * j->lds, j->y + (size_t)m * j->ldy,
			 c0, c1);
}

void rowaxpy(const float *Wt, int k, int cols, const float *s, int M, int lds, float *y,
	     int ldy)
{
	struct rowaxpy_job j = { .Wt = Wt, .s = s, .y = y, .k = k, .cols = cols, .M = M,
				 .lds = lds, .ldy = ldy };
	long per_col = (long)M * k, cb;

	if (M <= 0 || cols <= 0 || k <= 0)
		return;
	cb = TASK_WORK / (per_col > 0 ? per_col : 1);
	cb = cb < 32 ? 32 : (cb + 31) / 32 * 32;
	if (cb > cols || per_col * cols < PARALLEL_MIN_WORK)
		cb = cols;
	j.cols_per_task = (int)cb;
	pool_run((cols + cb - 1) / cb, 0, rowaxpy_task, &j);
}
