/* disentangled — DeBERTa's attention with c2p / p2c terms; see disentangled.h. */
#include "nn/disentangled.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/parallel.h"
#include "nn/vexp.h"

int disentangled_bucket(int rel, int buckets, int max_rel)
{
	const int mid = buckets / 2;
	const int sign = rel > 0 ? 1 : rel < 0 ? -1 : 0;
	const int abs_pos = rel < mid && rel > -mid ? mid - 1 : abs(rel);
	float log_pos;

	if (abs_pos <= mid)
		return rel;
	/* As PyTorch evaluates it: float32 throughout, the table's ratio
	 * (max_rel - 1) / mid computed in double and rounded once. */
	log_pos = ceilf(logf((float)abs_pos / (float)mid) /
			logf((float)((double)(max_rel - 1) / mid)) * (float)(mid - 1)) +
		  (float)mid;
	return (int)log_pos * sign;
}

void disentangled_rel_index(int32_t *idx, int T, int span, int buckets, int max_rel)
{
	for (int d = -(T - 1); d <= T - 1; d++) {
		long r = (buckets > 0 ? disentangled_bucket(d, buckets, max_rel) : d) + (long)span;

		idx[d + T - 1] = (int32_t)(r < 0 ? 0 : r > 2L * span - 1 ? 2L * span - 1 : r);
	}
}

/* Table rows one sequence of len tokens can reach. */
static int window(int T, int span)
{
	return 2 * T - 1 < 2 * span ? 2 * T - 1 : 2 * span;
}

size_t disentangled_scratch_per_thread(const struct disentangled_shape *s)
{
	const size_t T = (size_t)s->T, W = s->span > 0 ? (size_t)window(s->T, s->span) : 1;

	/* dS [T][T], and the c2p and p2c products [T][W] */
	return T * T + 2 * T * W;
}

static void softmax_row(real *row, int L)
{
	real mx = row[0], sum = 0, inv;

	for (int j = 1; j < L; j++)
		mx = row[j] > mx ? row[j] : mx;
	for (int j = 0; j < L; j++) {
		row[j] = vexp(row[j] - mx);
		sum += row[j];
	}
	inv = 1 / sum;
	for (int j = 0; j < L; j++)
		row[j] *= inv;
}

struct dis_args {
	real *y, *att, *dq, *dk, *dv, *dpq, *dpk, *scratch;
	const real *q, *k, *v, *pq, *pk, *dy, *att_in;
	const int32_t *idx, *lengths;
	const struct disentangled_shape *s;
};

static real scale_of(const struct disentangled_shape *s)
{
	return (real)(1.0 / sqrt((double)s->head_dim * (s->scale_terms > 0 ? s->scale_terms : 1)));
}

/* The window [lo, lo + W) of table rows sequence length len reaches. */
static void reach(const struct dis_args *a, int len, int *lo, int *W)
{
	const int T = a->s->T;

	*lo = a->idx[T - len];                 /* i - j = -(len - 1) */
	*W = a->idx[T + len - 2] - *lo + 1;    /* i - j = len - 1 */
}

static void forward_task(void *arg, long bh_, int thread)
{
	const struct dis_args *a = arg;
	const struct disentangled_shape *s = a->s;
	const int T = s->T, H = s->n_heads, hd = s->head_dim, ld = H * hd, bh = (int)bh_;
	const int b = bh / H, h = bh % H, len = a->lengths ? a->lengths[b] : T;
	const real scale = scale_of(s);
	const real *Q = a->q + (long)b * T * ld + h * hd, *K = a->k + (long)b * T * ld + h * hd;
	const real *V = a->v + (long)b * T * ld + h * hd;
	const int32_t *idx = a->idx + T - 1;    /* idx[i - j] */
	real *P = a->att + (long)bh * T * T, *Y = a->y + (long)b * T * ld + h * hd;
	real *C = a->scratch + disentangled_scratch_per_thread(s) * (size_t)thread;
	int lo = 0, W = 0;

	gemm(0, 1, len, len, hd, scale, Q, ld, K, ld, 0, P, T);
	if (s->c2p || s->p2c)
		reach(a, len, &lo, &W);
	if (s->c2p) {
		/* C[i][w] = Q_i . PK[lo + w] * scale;  S[i][j] += C[i][r(i, j)] */
		gemm(0, 1, len, W, hd, scale, Q, ld, a->pk + (long)lo * ld + h * hd, ld, 0, C, W);
		for (int i = 0; i < len; i++) {
			real *row = P + (long)i * T;
			const real *c = C + (long)i * W;
			for (int j = 0; j < len; j++)
				row[j] += c[idx[i - j] - lo];
		}
	}
	if (s->p2c) {
		/* C[j][w] = K_j . PQ[lo + w] * scale;  S[i][j] += C[j][r(i, j)] */
		gemm(0, 1, len, W, hd, scale, K, ld, a->pq + (long)lo * ld + h * hd, ld, 0, C, W);
		for (int i = 0; i < len; i++) {
			real *row = P + (long)i * T;
			for (int j = 0; j < len; j++)
				row[j] += C[(long)j * W + idx[i - j] - lo];
		}
	}
	for (int i = 0; i < len; i++)
		softmax_row(P + (long)i * T, len);
	gemm(0, 0, len, hd, len, 1, P, T, V, ld, 0, Y, ld);
	for (int i = len; i < T; i++)
		memset(Y + (long)i * ld, 0, sizeof(real) * (size_t)hd);
}

void disentangled_forward(real *y, real *att, const real *q, const real *k, const real *v,
			  const real *pq, const real *pk, const int32_t *rel_idx,
			  const int32_t *lengths, const struct disentangled_shape *s,
			  real *scratch, int n_threads)
{
	struct dis_args a = { .y = y, .att = att, .scratch = scratch, .q = q, .k = k, .v = v,
			      .pq = pq, .pk = pk, .idx = rel_idx, .lengths = lengths, .s = s };

	pool_run((long)s->B * s->n_heads, n_threads, forward_task, &a);
}

/* Zero rows [from, T) of one head's columns in x [T][ld]. */
static void zero_rows(real *x, int from, int T, int ld, int hd)
{
	for (int i = from; i < T; i++)
		memset(x + (long)i * ld, 0, sizeof(real) * (size_t)hd);
}

static void backward_task(void *arg, long h_, int thread)
{
	const struct dis_args *a = arg;
	const struct disentangled_shape *s = a->s;
	const int T = s->T, H = s->n_heads, hd = s->head_dim, ld = H * hd, h = (int)h_;
	const real scale = scale_of(s);
	const int32_t *idx = a->idx + T - 1;
	real *dS = a->scratch + disentangled_scratch_per_thread(s) * (size_t)thread;
	real *dC = dS + (size_t)T * T;

	/* This task owns head h's columns of every output, dPQ and dPK included. */
	if (s->c2p)
		zero_rows(a->dpk + h * hd, 0, 2 * s->span, ld, hd);
	if (s->p2c)
		zero_rows(a->dpq + h * hd, 0, 2 * s->span, ld, hd);
	for (int b = 0; b < s->B; b++) {
		const int len = a->lengths ? a->lengths[b] : T;
		const long off = (long)b * T * ld + h * hd;
		const real *P = a->att_in + ((long)b * H + h) * T * T;
		const real *Q = a->q + off, *K = a->k + off, *V = a->v + off, *dY = a->dy + off;
		real *dQ = a->dq + off, *dK = a->dk + off, *dV = a->dv + off;
		int lo = 0, W = 0;

		/* dP = dY V^T;  dV = P^T dY */
		gemm(0, 1, len, len, hd, 1, dY, ld, V, ld, 0, dS, T);
		gemm(1, 0, len, hd, len, 1, P, T, dY, ld, 0, dV, ld);
		/* dS = P * (dP - rowsum(P * dP)) * scale: the gradient of every
		 * dot product of the score, content and position terms alike */
		for (int i = 0; i < len; i++) {
			const real *p = P + (long)i * T;
			real *ds = dS + (long)i * T, dot = 0;
			for (int j = 0; j < len; j++)
				dot += p[j] * ds[j];
			for (int j = 0; j < len; j++)
				ds[j] = p[j] * (ds[j] - dot) * scale;
		}
		/* dQ = dS K;  dK = dS^T Q */
		gemm(0, 0, len, hd, len, 1, dS, T, K, ld, 0, dQ, ld);
		gemm(1, 0, len, hd, len, 1, dS, T, Q, ld, 0, dK, ld);
		if (s->c2p || s->p2c)
			reach(a, len, &lo, &W);
		if (s->c2p) {
			/* dC[i][r(i, j)] += dS[i][j];  dQ += dC PK;  dPK += dC^T Q */
			memset(dC, 0, sizeof(real) * (size_t)len * W);
			for (int i = 0; i < len; i++) {
				real *c = dC + (long)i * W;
				const real *ds = dS + (long)i * T;
				for (int j = 0; j < len; j++)
					c[idx[i - j] - lo] += ds[j];
			}
			gemm(0, 0, len, hd, W, 1, dC, W, a->pk + (long)lo * ld + h * hd, ld, 1, dQ, ld);
			gemm(1, 0, W, hd, len, 1, dC, W, Q, ld, 1, a->dpk + (long)lo * ld + h * hd, ld);
		}
		if (s->p2c) {
			/* dC[j][r(i, j)] += dS[i][j];  dK += dC PQ;  dPQ += dC^T K */
			memset(dC, 0, sizeof(real) * (size_t)len * W);
			for (int i = 0; i < len; i++) {
				const real *ds = dS + (long)i * T;
				for (int j = 0; j < len; j++)
					dC[(long)j * W + idx[i - j] - lo] += ds[j];
			}
			gemm(0, 0, len, hd, W, 1, dC, W, a->pq + (long)lo * ld + h * hd, ld, 1, dK, ld);
			gemm(1, 0, W, hd, len, 1, dC, W, K, ld, 1, a->dpq + (long)lo * ld + h * hd, ld);
		}
		/* Padded rows: no output, no key; their gradients are 0. */
		zero_rows(dQ, len, T, ld, hd);
		zero_rows(dK, len, T, ld, hd);
		zero_rows(dV, len, T, ld, hd);
	}
}

void disentangled_backward(real *dq, real *dk, real *dv, real *dpq, real *dpk, const real *dy,
			   const real *att, const real *q, const real *k, const real *v,
			   const real *pq, const real *pk, const int32_t *rel_idx,
			   const int32_t *lengths, const struct disentangled_shape *s,
			   real *scratch, int n_threads)
{
	struct dis_args a = { .dq = dq, .dk = dk, .dv = dv, .dpq = dpq, .dpk = dpk,
			      .scratch = scratch, .q = q, .k = k, .v = v, .pq = pq, .pk = pk,
			      .dy = dy, .att_in = att, .idx = rel_idx, .lengths = lengths, .s = s };

	pool_run(s->n_heads, n_threads, backward_task, &a);
}
