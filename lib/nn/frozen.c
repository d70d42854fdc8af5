/* frozen — products with a frozen matrix in its file's type; see frozen.h. */
#include "nn/frozen.h"

#include <string.h>

#include "nn/blas.h"
#include "nn/parallel.h"
#ifndef ADA_REAL_DOUBLE
#include "nn/bf16.h"
#endif

/* The panel: one tile of W as `real`, on the stack of the thread that uses
 * it (64 KiB as float), so nothing is allocated, nothing can fail, and two
 * jobs' pools never share one. */
#define PANEL 16384
/* Widest tile of columns (the double build widens a row through a float
 * buffer of this size). */
#define MAX_TILE_COLS 512
/* Below this many multiply-adds a product runs on the calling thread. */
#define PARALLEL_MIN_WORK (1L << 18)

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

/* ---- f32 ---------------------------------------------------------------- */

struct fwd {
	const struct frozen_mat *w;
	const real *x;
	real *y;
	int N, R, C;
};

/* y[:, r0 .. r0 + R) over every tile of W's columns. */
static void fwd_rows(void *arg, long t, int thread)
{
	const struct fwd *a = arg;
	const int K = a->w->cols, M = a->w->rows;
	const int r0 = (int)t * a->R, nr = M - r0 < a->R ? M - r0 : a->R;
	real panel[PANEL];

	(void)thread;
	for (int c0 = 0; c0 < K; c0 += a->C) {
		const int nc = K - c0 < a->C ? K - c0 : a->C;
		load_tile(a->w, r0, nr, c0, nc, panel);
		gemm(0, 1, a->N, nr, nc, 1, a->x + c0, K, panel, nc, c0 ? 1 : 0, a->y + r0, M);
	}
}

static void forward_f32(const struct frozen_mat *w, const real *x, int N, real *y)
{
	struct fwd a = { w, x, y, N, 0, tile_cols(w, MAX_TILE_COLS) };
	const int M = w->rows;
	long n_tiles;

	a.R = PANEL / a.C;
	a.R = a.R >= 16 ? a.R - a.R % 16 : a.R;
	a.R = a.R < M ? a.R : M;
	n_tiles = (M + a.R - 1) / a.R;
	if ((long)N * M * w->cols < PARALLEL_MIN_WORK) {
		for (long t = 0; t < n_tiles; t++)
			fwd_rows(&a, t, 0);
		return;
	}
	pool_run(n_tiles, 0, fwd_rows, &a);
}

struct bwd {
	const struct frozen_mat *w;
	const real *dy;
	real *dx;
	real beta;
	int N, R, C;
};

/* dx[:, c0 .. c0 + C) over every tile of W's rows, in order. */
static void bwd_cols(void *arg, long t, int thread)
{
	const struct bwd *a = arg;
	const int M = a->w->rows, K = a->w->cols;
	const int c0 = (int)t * a->C, nc = K - c0 < a->C ? K - c0 : a->C;
	real panel[PANEL];

	(void)thread;
	for (int r0 = 0; r0 < M; r0 += a->R) {
		const int nr = M - r0 < a->R ? M - r0 : a->R;
		load_tile(a->w, r0, nr, c0, nc, panel);
		gemm(0, 0, a->N, nc, nr, 1, a->dy + r0, M, panel, nc, r0 ? 1 : a->beta, a->dx + c0,
		     K);
	}
}

static void backward_f32(const struct frozen_mat *w, const real *dy, int N, real *dx, real beta)
{
	struct bwd a = { w, dy, dx, beta, N, 0, tile_cols(w, 64) };
	long n_tiles;

	a.R = PANEL / a.C < w->rows ? PANEL / a.C : w->rows;
	n_tiles = (w->cols + a.C - 1) / a.C;
	if ((long)N * w->rows * w->cols < PARALLEL_MIN_WORK) {
		for (long t = 0; t < n_tiles; t++)
			bwd_cols(&a, t, 0);
		return;
	}
	pool_run(n_tiles, 0, bwd_cols, &a);
}

/* ---- bf16 --------------------------------------------------------------- */

size_t frozen_bf16_need(int N, int width)
{
	return (size_t)(N > 0 ? N : 0) * (size_t)(width + (width & 1));
}

#ifndef ADA_REAL_DOUBLE
/* Pairs of a bf16 panel (64 KiB), and the forward tile's widest columns. */
#define BF_PANEL_PAIRS 16384
#define BF_FWD_COLS 512

/* A row's columns [c0, c0 + nc) of W as bf16 (dst[nc] = 0 when nc is odd):
 * BF16 storage as it is, anything else dequantized then rounded. */
static void row_bf16(const struct frozen_mat *w, int r, int c0, int nc, uint16_t *dst,
		     float *f32)
{
	const uint16_t *bf16 = frozen_mat_bf16(w);

	if (bf16) {
		memcpy(dst, (const uint8_t *)bf16 + (size_t)r * w->row_bytes + (size_t)c0 * 2,
		       (size_t)nc * 2);
	} else {
		frozen_mat_tile(w, r, 1, c0, nc, f32, (size_t)nc);
		bf16_from_f32(dst, f32, (size_t)nc);
	}
	dst[nc] = 0;
}

struct bf_op {
	const struct frozen_mat *w;
	const uint32_t *A;     /* the activation operand, bf16 pairs */
	size_t lda;            /* pairs per row */
	real *C;
	int N, beta;
	int tile;              /* forward: W rows per task; backward: columns per task */
	int depth;             /* forward: W columns per tile; backward: W rows per tile */
};

/* Forward, W rows [r0, r0 + 64) per task: panel[p][m] = the pair of W row
 * r0 + m at columns c0 + 2p, c0 + 2p + 1. */
static void bf_fwd_rows(void *arg, long t, int thread)
{
	const struct bf_op *o = arg;
	const int M = o->w->rows, K = o->w->cols;
	const int r0 = (int)t * BF16_LANES, nr = M - r0 < BF16_LANES ? M - r0 : BF16_LANES;
	uint32_t panel[BF_PANEL_PAIRS];
	uint16_t row[BF_FWD_COLS + 2];
	float f32[BF_FWD_COLS];

	(void)thread;
	for (int c0 = 0; c0 < K; c0 += o->depth) {
		const int nc = K - c0 < o->depth ? K - c0 : o->depth, kp = (nc + 1) / 2;

		for (int m = 0; m < BF16_LANES; m++) {
			if (m < nr)
				row_bf16(o->w, r0 + m, c0, nc, row, f32);
			else
				memset(row, 0, sizeof(row));
			for (int p = 0; p < kp; p++)
				panel[(size_t)p * BF16_LANES + m] =
					(uint32_t)row[2 * p] | (uint32_t)row[2 * p + 1] << 16;
		}
		bf16_gemm_packed(o->N, kp, nr, o->A + c0 / 2, o->lda, panel, BF16_LANES, o->C + r0,
				 (size_t)M, c0 > 0);
	}
}

/* Backward, dx columns [c0, c0 + tile) per task: panel[p][j] = the pair of W
 * rows r0 + 2p, r0 + 2p + 1 at column c0 + j. */
static void bf_bwd_cols(void *arg, long t, int thread)
{
	const struct bf_op *o = arg;
	const int M = o->w->rows, K = o->w->cols, ld = o->tile;
	const int c0 = (int)t * o->tile, nc = K - c0 < o->tile ? K - c0 : o->tile;
	uint32_t panel[BF_PANEL_PAIRS];
	uint16_t even[256 + 2], odd[256 + 2];
	float f32[256];

	(void)thread;
	for (int r0 = 0; r0 < M; r0 += o->depth) {
		const int nr = M - r0 < o->depth ? M - r0 : o->depth, kp = (nr + 1) / 2;

		for (int p = 0; p < kp; p++) {
			row_bf16(o->w, r0 + 2 * p, c0, nc, even, f32);
			if (r0 + 2 * p + 1 < M)
				row_bf16(o->w, r0 + 2 * p + 1, c0, nc, odd, f32);
			else
				memset(odd, 0, sizeof(odd));
			for (int j = 0; j < ld; j++)
				panel[(size_t)p * ld + j] =
					j < nc ? (uint32_t)even[j] | (uint32_t)odd[j] << 16 : 0;
		}
		bf16_gemm_packed(o->N, kp, nc, o->A + r0 / 2, o->lda, panel, (size_t)ld,
				 o->C + c0, (size_t)K, r0 > 0 || o->beta);
	}
}

struct bf_convert {
	const float *src;
	uint16_t *dst;
	int width, padded;
};

static void convert_rows(void *arg, long lo, long hi, int thread)
{
	const struct bf_convert *c = arg;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		uint16_t *d = c->dst + (size_t)n * c->padded;
		bf16_from_f32(d, c->src + (size_t)n * c->width, (size_t)c->width);
		if (c->padded > c->width)
			d[c->width] = 0;
	}
}

/* The operand as bf16 pairs in bf->buf (N rows of width values, each padded
 * to an even length); 0 when it does not fit (the product then runs in f32). */
static int to_pairs(const real *src, int N, int width, struct frozen_bf16 *bf, size_t *lda)
{
	struct bf_convert c = { src, bf->buf, width, width + (width & 1) };

	if (!bf->buf || frozen_bf16_need(N, width) > bf->cap)
		return 0;
	pool_for(N, nn_row_grain(width), convert_rows, &c);
	*lda = (size_t)c.padded / 2;
	return 1;
}

/* Columns per backward task: 64, or a whole block of the type when wider. */
static int bf_bwd_tile(const struct frozen_mat *w)
{
	const int bs = frozen_mat_block(w);

	return bs <= BF16_LANES ? BF16_LANES : (bs + BF16_LANES - 1) / BF16_LANES * BF16_LANES;
}

static int forward_bf16(const struct frozen_mat *w, const real *x, int N, real *y,
			struct frozen_bf16 *bf)
{
	struct bf_op o = { .w = w, .C = y, .N = N, .tile = BF16_LANES,
			   .depth = tile_cols(w, BF_FWD_COLS) };

	if (!to_pairs(x, N, w->cols, bf, &o.lda))
		return 0;
	o.A = (const uint32_t *)bf->buf;
	pool_run((w->rows + BF16_LANES - 1) / BF16_LANES, 0, bf_fwd_rows, &o);
	return 1;
}

static int backward_bf16(const struct frozen_mat *w, const real *dy, int N, real *dx, real beta,
			 struct frozen_bf16 *bf)
{
	struct bf_op o = { .w = w, .C = dx, .N = N, .beta = beta != 0, .tile = bf_bwd_tile(w) };

	o.depth = 2 * (BF_PANEL_PAIRS / o.tile);
	if (!to_pairs(dy, N, w->rows, bf, &o.lda))
		return 0;
	o.A = (const uint32_t *)bf->buf;
	pool_run((w->cols + o.tile - 1) / o.tile, 0, bf_bwd_cols, &o);
	return 1;
}
#endif

/* ---- the products ------------------------------------------------------- */

void frozen_forward(const struct frozen_mat *w, const real *x, int N, real *y,
		    struct frozen_bf16 *bf)
{
	if (N <= 0 || w->rows <= 0)
		return;
#ifndef ADA_REAL_DOUBLE
	if (bf && bf16_supported() && forward_bf16(w, x, N, y, bf))
		return;
#else
	(void)bf;
#endif
	forward_f32(w, x, N, y);
}

void frozen_backward_dx(const struct frozen_mat *w, const real *dy, int N, real *dx, real beta,
			struct frozen_bf16 *bf)
{
	if (N <= 0 || w->cols <= 0)
		return;
	if (w->rows <= 0) {
		for (long i = 0; i < (long)N * w->cols; i++)
			dx[i] = beta == 0 ? 0 : beta * dx[i];
		return;
	}
#ifndef ADA_REAL_DOUBLE
	if (bf && bf16_supported() && backward_bf16(w, dy, N, dx, beta, bf))
		return;
#else
	(void)bf;
#endif
	backward_f32(w, dy, N, dx, beta);
}

#ifndef ADA_REAL_DOUBLE
struct inplace {
	real *dy;
	int width;
};

static void inplace_rows(void *arg, long lo, long hi, int thread)
{
	const struct inplace *a = arg;

	(void)thread;
	for (long n = lo; n < hi; n++)
		bf16_from_f32_inplace(a->dy + (size_t)n * a->width, (size_t)a->width);
}
#endif

void frozen_backward_dx_consume(const struct frozen_mat *w, real *dy, int N, real *dx,
				real beta, struct frozen_bf16 *bf)
{
#ifndef ADA_REAL_DOUBLE
	if (bf && bf16_supported() && N > 0 && w->rows > 0 && w->cols > 0 && !(w->rows & 1)) {
		struct inplace a = { dy, w->rows };
		struct bf_op o = { .w = w, .A = (const uint32_t *)dy, .lda = (size_t)w->rows,
				   .C = dx, .N = N, .beta = beta != 0, .tile = bf_bwd_tile(w) };

		/* row n's bf16 pairs sit at the start of its f32 row: lda = the
		 * f32 row's length in 32-bit slots */
		o.depth = 2 * (BF_PANEL_PAIRS / o.tile);
		pool_for(N, nn_row_grain(w->rows), inplace_rows, &a);
		pool_run((w->cols + o.tile - 1) / o.tile, 0, bf_bwd_cols, &o);
		return;
	}
#endif
	frozen_backward_dx(w, dy, N, dx, beta, NULL);
	(void)bf;
}

struct rows_args {
	const struct frozen_mat *w;
	const int32_t *ids;
	real *out;
};

static void rows_piece(void *arg, long lo, long hi, int thread)
{
	const struct rows_args *a = arg;
	const int C = a->w->cols;

	(void)thread;
	for (long n = lo; n < hi; n++) {
#ifdef ADA_REAL_DOUBLE
		const int step = tile_cols(a->w, MAX_TILE_COLS);
		for (int c0 = 0; c0 < C; c0 += step) {
			const int nc = C - c0 < step ? C - c0 : step;
			load_tile(a->w, a->ids[n], 1, c0, nc, a->out + (size_t)n * C + c0);
		}
#else
		frozen_mat_tile(a->w, a->ids[n], 1, 0, C, a->out + (size_t)n * C, (size_t)C);
#endif
	}
}

void frozen_rows(const struct frozen_mat *w, const int32_t *ids, int N, real *out)
{
	struct rows_args a = { w, ids, out };

	pool_for(N, nn_row_grain(w->cols), rows_piece, &a);
}
