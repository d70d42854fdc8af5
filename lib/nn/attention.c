/* attention — causal and bidirectional GQA attention over row chunks; see attention.h. */
#include "nn/attention.h"

#include <math.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/parallel.h"
#include "nn/vexp.h"

/* Query rows per chunk: the products of a chunk only reach the keys up to
 * its last row, so the masked upper triangle costs at most half a chunk
 * per chunk instead of half the square. */
#define CHUNK 64

size_t attention_scratch_per_thread(const struct attention_shape *s)
{
	/* dP (then dS) for one chunk of query rows against every key. */
	return (size_t)CHUNK * (size_t)s->T;
}

/* Softmax of one row over its first L columns, in place. */
static void softmax_row(real *row, int L)
{
	real mx = row[0], sum = 0, inv;

	#pragma omp simd reduction(max:mx)
	for (int j = 1; j < L; j++)
		mx = row[j] > mx ? row[j] : mx;
	#pragma omp simd reduction(+:sum)
	for (int j = 0; j < L; j++) {
		row[j] = vexp(row[j] - mx);
		sum += row[j];
	}
	inv = 1 / sum;
	#pragma omp simd
	for (int j = 0; j < L; j++)
		row[j] *= inv;
}

/* The causal and the bidirectional kernels are one loop: per (batch, head),
 * query rows [0, len) in chunks; a chunk's products reach keys [0, J) with
 * J = its last row + 1 (causal) or len (bidirectional), and row i attends
 * to keys [0, row_keys) within that. Rows [len, T) are padding: y = 0. */
static int chunk_keys(int causal, int i0, int nr, int len)
{
	return causal ? i0 + nr : len;
}

static int row_keys(int causal, int i, int len)
{
	return causal ? i + 1 : len;
}

/* One task per (batch, head) forward, per (batch, kv group) backward:
 * each owns its outputs (a group's dK, dV take every head of the group). */
struct attn_args {
	real *y, *att, *dq, *dk, *dv, *scratch;
	const real *q, *k, *v, *dy, *att_in;
	const int32_t *lengths;
	int causal;
	const struct attention_shape *s;
};

static void forward_task(void *arg, long bh_, int thread)
{
	const struct attn_args *a = arg;
	const struct attention_shape *s = a->s;
	const int T = s->T, H = s->n_heads, hd = s->head_dim;
	const int rep = H / s->n_kv_heads;
	const int qld = H * hd, kld = s->n_kv_heads * hd;
	const real scale = (real)(1.0 / sqrt((double)hd));
	const int causal = a->causal, bh = (int)bh_;
	const int32_t *lengths = a->lengths;
	const real *q = a->q, *k = a->k, *v = a->v;
	real *att = a->att, *y = a->y;

	(void)thread;

	const int b = bh / H, h = bh % H, g = h / rep;
	const int len = lengths ? lengths[b] : T;
	const real *Q = q + (long)b * T * qld + h * hd;
	const real *K = k + (long)b * T * kld + g * hd;
	const real *V = v + (long)b * T * kld + g * hd;
	real *P = att + (long)bh * T * T, *Y = y + (long)b * T * qld + h * hd;

	for (int i0 = 0; i0 < len; i0 += CHUNK) {
		const int nr = len - i0 < CHUNK ? len - i0 : CHUNK;
		const int J = chunk_keys(causal, i0, nr, len);
		/* scores of the chunk's rows against keys [0, J) */
		gemm(0, 1, nr, J, hd, scale, Q + (long)i0 * qld, qld, K, kld, 0,
		     P + (long)i0 * T, T);
		for (int r = 0; r < nr; r++) {
			real *row = P + (long)(i0 + r) * T;
			const int L = row_keys(causal, i0 + r, len);
			softmax_row(row, L);
			memset(row + L, 0, sizeof(real) * (size_t)(J - L));
		}
		gemm(0, 0, nr, hd, J, 1, P + (long)i0 * T, T, V, kld, 0, Y + (long)i0 * qld, qld);
	}
	for (int i = len; i < T; i++)
		memset(Y + (long)i * qld, 0, sizeof(real) * (size_t)hd);
}

static void forward(real *y, real *att, const real *q, const real *k, const real *v,
		    const int32_t *lengths, int causal, const struct attention_shape *s,
		    int n_threads)
{
	struct attn_args a = { .y = y, .att = att, .q = q, .k = k, .v = v, .lengths = lengths,
			       .causal = causal, .s = s };

	pool_run((long)s->B * s->n_heads, n_threads, forward_task, &a);
}

static void backward_task(void *arg, long bg_, int thread)
{
	const struct attn_args *a = arg;
	const struct attention_shape *s = a->s;
	const int T = s->T, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim;
	const int rep = H / KV;
	const int qld = H * hd, kld = KV * hd;
	const real scale = (real)(1.0 / sqrt((double)hd));
	const size_t per = attention_scratch_per_thread(s);
	const int causal = a->causal, bg = (int)bg_;
	const int32_t *lengths = a->lengths;
	const real *q = a->q, *k = a->k, *v = a->v, *dy = a->dy, *att = a->att_in;
	real *dq = a->dq, *dk = a->dk, *dv = a->dv;

	const int b = bg / KV, g = bg % KV;
	const int len = lengths ? lengths[b] : T;
	const real *K = k + (long)b * T * kld + g * hd;
	const real *V = v + (long)b * T * kld + g * hd;
	real *dK = dk + (long)b * T * kld + g * hd, *dV = dv + (long)b * T * kld + g * hd;
	real *dS = a->scratch + per * (size_t)thread;

	/* This task owns the keys and values of (b, g): every query head
	 * of the group adds into them, so no other thread touches them.
	 * Padded keys stay zero: nothing attends to them. */
	for (int j = 0; j < T; j++) {
		memset(dK + (long)j * kld, 0, sizeof(real) * (size_t)hd);
		memset(dV + (long)j * kld, 0, sizeof(real) * (size_t)hd);
	}
	for (int h = g * rep; h < (g + 1) * rep; h++) {
		const real *P = att + ((long)b * H + h) * T * T;
		const real *Q = q + (long)b * T * qld + h * hd;
		const real *dY = dy + (long)b * T * qld + h * hd;
		real *dQ = dq + (long)b * T * qld + h * hd;

		for (int i0 = 0; i0 < len; i0 += CHUNK) {
			const int nr = len - i0 < CHUNK ? len - i0 : CHUNK;
			const int J = chunk_keys(causal, i0, nr, len);
			const real *Pc = P + (long)i0 * T;

			/* dP = dY V^T;  dV += P^T dY */
			gemm(0, 1, nr, J, hd, 1, dY + (long)i0 * qld, qld, V, kld, 0, dS, J);
			gemm(1, 0, J, hd, nr, 1, Pc, T, dY + (long)i0 * qld, qld, 1, dV, kld);
			/* dS = P * (dP - rowsum(P * dP)) * scale */
			for (int r = 0; r < nr; r++) {
				const real *pr = Pc + (long)r * T;
				real *ds = dS + (long)r * J, dot = 0;
				const int L = row_keys(causal, i0 + r, len);
				#pragma omp simd reduction(+:dot)
				for (int j = 0; j < L; j++)
					dot += pr[j] * ds[j];
				#pragma omp simd
				for (int j = 0; j < L; j++)
					ds[j] = pr[j] * (ds[j] - dot) * scale;
				for (int j = L; j < J; j++)
					ds[j] = 0;
			}
			/* dQ = dS K;  dK += dS^T Q */
			gemm(0, 0, nr, hd, J, 1, dS, J, K, kld, 0, dQ + (long)i0 * qld, qld);
			gemm(1, 0, J, hd, nr, 1, dS, J, Q + (long)i0 * qld, qld, 1, dK, kld);
		}
		/* Padded query rows had y = 0 whatever q was. */
		for (int i = len; i < T; i++)
			memset(dQ + (long)i * qld, 0, sizeof(real) * (size_t)hd);
	}
}

static void backward(real *dq, real *dk, real *dv, const real *dy, const real *att,
		     const real *q, const real *k, const real *v, const int32_t *lengths,
		     int causal, const struct attention_shape *s, real *scratch, int n_threads)
{
	struct attn_args a = { .dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k,
			       .v = v, .dy = dy, .att_in = att, .lengths = lengths,
			       .causal = causal, .s = s };

	/* scratch holds n_threads slices: no more threads than that */
	pool_run((long)s->B * s->n_kv_heads, n_threads, backward_task, &a);
}

void attention_forward(real *y, real *att, const real *q, const real *k, const real *v,
		       const struct attention_shape *s, real *scratch, int n_threads)
{
	(void)scratch;
	forward(y, att, q, k, v, NULL, 1, s, n_threads);
}

void attention_backward(real *dq, real *dk, real *dv, const real *dy, const real *att,
			const real *q, const real *k, const real *v,
			const struct attention_shape *s, real *scratch, int n_threads)
{
	backward(dq, dk, dv, dy, att, q, k, v, NULL, 1, s, scratch, n_threads);
}

void attention_bidir_forward(real *y, real *att, const real *q, const real *k, const real *v,
			     const int32_t *lengths, const struct attention_shape *s,
			     int n_threads)
{
	forward(y, att, q, k, v, lengths, 0, s, n_threads);
}

void attention_bidir_backward(real *dq, real *dk, real *dv, const real *dy, const real *att,
			      const real *q, const real *k, const real *v,
			      const int32_t *lengths, const struct attention_shape *s,
			      real *scratch, int n_threads)
{
	backward(dq, dk, dv, dy, att, q, k, v, lengths, 0, s, scratch, n_threads);
}
