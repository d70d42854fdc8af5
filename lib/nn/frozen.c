/* frozen — products with a frozen matrix in its file's type; see frozen.h. */
#include "nn/frozen.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn/blas.h"

/* The panel: one tile of W as `real`, on the stack of the thread that uses
 * it (64 KiB as float), so nothing is allocated, nothing can fail, and two
 * jobs' teams never share one. */
#define PANEL 16384
/* Widest tile of columns (the double build widens a row through a float
 * buffer of this size). */
#define MAX_TILE_COLS 512
/* Below this many multiply-adds a product runs on the calling thread. */
#define PARALLEL_MIN_WORK (1L << 18)

static int thread_count(long work)
{
#ifdef _OPENMP
	if (!omp_in_parallel() && work >= PARALLEL_MIN_WORK)
		return omp_get_max_threads();
#endif
	(void)work;
	return 1;
}

/* Rows [r0, r0 + nr) x columns [c0, c0 + nc) of W into panel[nr][nc]. */
static void load_tile(const struct frozen_mat *w, int r0, int nr, int c0, int nc, real *panel)
{
#ifdef ADA_REAL_DOUBLE
	float row[MAX_TILE_COLS];

	for (int r = 0; r < nr; r++) {
		frozen_mat_tile(w, r0 + r, 1, c0, nc, row, (size_t)nc);
		for (int c = 0; c < nc; c++)
			panel[(size_t)r * nc + c] = row[c];
	}
#else
	frozen_mat_tile(w, r0, nr, c0, nc, panel, (size_t)nc);
#endif
}

/* Tile columns: up to limit, a whole number of blocks. */
static int tile_cols(const struct frozen_mat *w, int limit)
{
	const int bs = frozen_mat_block(w);
	int c = w->cols < limit ? w->cols : limit;

	c -= c % bs;
	return c < bs ? bs : c;
}

void frozen_forward(const struct frozen_mat *w, const real *x, int N, real *y)
{
	const int K = w->cols, M = w->rows;
	const int C = tile_cols(w, MAX_TILE_COLS);
	int R = PANEL / C;
	int n_tiles, nt;

	if (N <= 0 || M <= 0)
		return;
	R = R >= 16 ? R - R % 16 : R;
	R = R < M ? R : M;
	n_tiles = (M + R - 1) / R;
	nt = thread_count((long)N * M * K);
	if (nt > n_tiles)
		nt = n_tiles;
	#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
	for (int t = 0; t < n_tiles; t++) {
		real panel[PANEL];
		const int r0 = t * R, nr = M - r0 < R ? M - r0 : R;

		for (int c0 = 0; c0 < K; c0 += C) {
			const int nc = K - c0 < C ? K - c0 : C;
			load_tile(w, r0, nr, c0, nc, panel);
			gemm(0, 1, N, nr, nc, 1, x + c0, K, panel, nc, c0 ? 1 : 0, y + r0, M);
		}
	}
}

/* dx rows [n0, n1) over every tile of W, tiles of columns outside, rows
 * inside, so each element sums W's rows in one fixed order. */
static void dx_rows(const struct frozen_mat *w, const real *dy, int n0, int n1, real *dx,
		    real beta, int R, int C)
{
	const int K = w->rows, cols = w->cols, n = n1 - n0;
	real panel[PANEL];

	for (int c0 = 0; c0 < cols; c0 += C) {
		const int nc = cols - c0 < C ? cols - c0 : C;
		for (int r0 = 0; r0 < K; r0 += R) {
			const int nr = K - r0 < R ? K - r0 : R;
			load_tile(w, r0, nr, c0, nc, panel);
			gemm(0, 0, n, nc, nr, 1, dy + (size_t)n0 * K + r0, K, panel, nc,
			     r0 ? 1 : beta, dx + (size_t)n0 * cols + c0, cols);
		}
	}
}

void frozen_backward_dx(const struct frozen_mat *w, const real *dy, int N, real *dx, real beta)
{
	const int C = tile_cols(w, 64);
	const int R = PANEL / C < w->rows ? PANEL / C : w->rows;
	int nt;

	if (N <= 0 || w->cols <= 0)
		return;
	if (w->rows <= 0) {
		for (long i = 0; i < (long)N * w->cols; i++)
			dx[i] = beta == 0 ? 0 : beta * dx[i];
		return;
	}
	nt = thread_count((long)N * w->rows * w->cols);
	if (nt > N)
		nt = N;
	if (nt <= 1) {
		dx_rows(w, dy, 0, N, dx, beta, R, C);
		return;
	}
	#pragma omp parallel for schedule(static) num_threads(nt)
	for (int t = 0; t < nt; t++) {
		const int n0 = (int)((long)N * t / nt), n1 = (int)((long)N * (t + 1) / nt);
		if (n1 > n0)
			dx_rows(w, dy, n0, n1, dx, beta, R, C);
	}
}

void frozen_rows(const struct frozen_mat *w, const int32_t *ids, int N, real *out)
{
	const int C = w->cols;

	#pragma omp parallel for schedule(static) if (N * (long)C >= 65536)
	for (int n = 0; n < N; n++) {
#ifdef ADA_REAL_DOUBLE
		const int step = tile_cols(w, MAX_TILE_COLS);
		for (int c0 = 0; c0 < C; c0 += step) {
			const int nc = C - c0 < step ? C - c0 : step;
			load_tile(w, ids[n], 1, c0, nc, out + (size_t)n * C + c0);
		}
#else
		frozen_mat_tile(w, ids[n], 1, 0, C, out + (size_t)n * C, (size_t)C);
#endif
	}
}
