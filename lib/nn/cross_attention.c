/* cross_attention — queries of one sequence over another's keys; see cross_attention.h. */
#include "nn/cross_attention.h"

#include <math.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/parallel.h"
#include "nn/vexp.h"

/* Query rows per chunk: bounds the backward scratch to CHUNK x Tk. */
#define CHUNK 64

size_t cross_attention_scratch_per_thread(const struct cross_shape *s)
{
	return (size_t)CHUNK * (size_t)s->Tk;
}

struct cross_args {
	real *y, *att, *dq, *dk, *dv, *scratch;
	const real *q, *k, *v, *dy, *att_in;
	const int32_t *lengths;
	const struct cross_shape *s;
};

/* Softmax over the first len entries of a row; zeros up to Tk. */
static void softmax_row(real *row, int len, int Tk)
{
	real mx = row[0], sum = 0, inv;

	for (int j = 1; j < len; j++)
		mx = row[j] > mx ? row[j] : mx;
	for (int j = 0; j < len; j++) {
		row[j] = vexp(row[j] - mx);
		sum += row[j];
	}
	inv = 1 / sum;
	for (int j = 0; j < len; j++)
		row[j] *= inv;
	for (int j = len; j < Tk; j++)
		row[j] = 0;
}

static void forward_task(void *arg, long bh_, int thread)
{
	const struct cross_args *a = arg;
	const struct cross_shape *s = a->s;
	const int Tq = s->Tq, Tk = s->Tk, H = s->n_heads, hd = s->head_dim, ld = H * hd;
	const int bh = (int)bh_, b = bh / H, h = bh % H;
	const int len = a->lengths ? a->lengths[b] : Tk;
	const real scale = (real)(1.0 / sqrt((double)hd));
	const real *Q = a->q + (long)b * Tq * ld + h * hd;
	const real *K = a->k + (long)b * Tk * ld + h * hd;
	const real *V = a->v + (long)b * Tk * ld + h * hd;
	real *P = a->att + (long)bh * Tq * Tk, *Y = a->y + (long)b * Tq * ld + h * hd;

	(void)thread;
	for (int i0 = 0; i0 < Tq; i0 += CHUNK) {
		const int nr = Tq - i0 < CHUNK ? Tq - i0 : CHUNK;

		gemm(0, 1, nr, len, hd, scale, Q + (long)i0 * ld, ld, K, ld, 0, P + (long)i0 * Tk,
		     Tk);
		for (int r = 0; r < nr; r++)
			softmax_row(P + (long)(i0 + r) * Tk, len, Tk);
		gemm(0, 0, nr, hd, len, 1, P + (long)i0 * Tk, Tk, V, ld, 0, Y + (long)i0 * ld, ld);
	}
}

void cross_attention_forward(real *y, real *att, const real *q, const real *k, const real *v,
			     const int32_t *k_lengths, const struct cross_shape *s, int n_threads)
{
	struct cross_args a = { .y = y, .att = att, .q = q, .k = k, .v = v, .lengths = k_lengths,
				.s = s };

	pool_run((long)s->B * s->n_heads, n_threads, forward_task, &a);
}

static void backward_task(void *arg, long bh_, int thread)
{
	const struct cross_args *a = arg;
	const struct cross_shape *s = a->s;
	const int Tq = s->Tq, Tk = s->Tk, H = s->n_heads, hd = s->head_dim, ld = H * hd;
	const int bh = (int)bh_, b = bh / H, h = bh % H;
	const int len = a->lengths ? a->lengths[b] : Tk;
	const real scale = (real)(1.0 / sqrt((double)hd));
	const real *Q = a->q + (long)b * Tq * ld + h * hd;
	const real *K = a->k + (long)b * Tk * ld + h * hd;
	const real *V = a->v + (long)b * Tk * ld + h * hd;
	const real *dY = a->dy + (long)b * Tq * ld + h * hd;
	const real *P = a->att_in + (long)bh * Tq * Tk;
	real *dQ = a->dq + (long)b * Tq * ld + h * hd;
	real *dK = a->dk + (long)b * Tk * ld + h * hd, *dV = a->dv + (long)b * Tk * ld + h * hd;
	real *dS = a->scratch + cross_attention_scratch_per_thread(s) * (size_t)thread;

	/* This task owns the (b, h) columns of dK and dV: zero them, padded
	 * keys included (nothing attends to those). */
	for (int j = 0; j < Tk; j++) {
		memset(dK + (long)j * ld, 0, sizeof(real) * (size_t)hd);
		memset(dV + (long)j * ld, 0, sizeof(real) * (size_t)hd);
	}
	for (int i0 = 0; i0 < Tq; i0 += CHUNK) {
		const int nr = Tq - i0 < CHUNK ? Tq - i0 : CHUNK;
		const real *Pc = P + (long)i0 * Tk;

		/* dP = dY V^T;  dV += P^T dY */
		gemm(0, 1, nr, len, hd, 1, dY + (long)i0 * ld, ld, V, ld, 0, dS, len);
		gemm(1, 0, len, hd, nr, 1, Pc, Tk, dY + (long)i0 * ld, ld, 1, dV, ld);
		/* dS = P * (dP - rowsum(P * dP)) * scale */
		for (int r = 0; r < nr; r++) {
			const real *pr = Pc + (long)r * Tk;
			real *ds = dS + (long)r * len, dot = 0;

			for (int j = 0; j < len; j++)
				dot += pr[j] * ds[j];
			for (int j = 0; j < len; j++)
				ds[j] = pr[j] * (ds[j] - dot) * scale;
		}
		/* dQ = dS K;  dK += dS^T Q */
		gemm(0, 0, nr, hd, len, 1, dS, len, K, ld, 0, dQ + (long)i0 * ld, ld);
		gemm(1, 0, len, hd, nr, 1, dS, len, Q + (long)i0 * ld, ld, 1, dK, ld);
	}
}

void cross_attention_backward(real *dq, real *dk, real *dv, const real *dy, const real *att,
			      const real *q, const real *k, const real *v,
			      const int32_t *k_lengths, const struct cross_shape *s,
			      real *scratch, int n_threads)
{
	struct cross_args a = { .dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k,
				.v = v, .dy = dy, .att_in = att, .lengths = k_lengths, .s = s };

	pool_run((long)s->B * s->n_heads, n_threads, backward_task, &a);
}
