/* attention — causal GQA attention kernels; see attention.h. */
#include "attention.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "vexp.h"

size_t attention_scratch_per_thread(const struct attention_shape *s)
{
	/* Kt, Vt, dKt, dVt: head_dim x T each; one row of T for dP. */
	return (size_t)4 * s->head_dim * s->T + (size_t)s->T;
}

static int thread_id(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/* dst[d][j] = src[j * ld + d] for j < T, d < hd. */
static void transpose_in(real *dst, const real *src, int T, int hd, int ld)
{
	for (int j = 0; j < T; j++)
		for (int d = 0; d < hd; d++)
			dst[(long)d * T + j] = src[(long)j * ld + d];
}

void attention_forward(real *y, real *att, const real *q, const real *k, const real *v,
		       const struct attention_shape *s, real *scratch, int n_threads)
{
	const int B = s->B, T = s->T, H = s->n_heads, hd = s->head_dim;
	const int rep = H / s->n_kv_heads;
	const int qld = H * hd, kld = s->n_kv_heads * hd;
	const real scale = (real)(1.0 / sqrt((double)hd));
	const size_t per = attention_scratch_per_thread(s);

	#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
	for (int bh = 0; bh < B * H; bh++) {
		int b = bh / H, h = bh % H, g = h / rep;
		real *Kt = scratch + per * (size_t)thread_id();
		real *Vt = Kt + (size_t)hd * T;

		transpose_in(Kt, k + (long)b * T * kld + g * hd, T, hd, kld);
		transpose_in(Vt, v + (long)b * T * kld + g * hd, T, hd, kld);
		for (int i = 0; i < T; i++) {
			real *row = att + ((long)bh * T + i) * T;
			const real *qi = q + ((long)b * T + i) * qld + h * hd;
			real *yi = y + ((long)b * T + i) * qld + h * hd;
			const int L = i + 1;
			real mx, sum = 0, inv;

			memset(row, 0, sizeof(real) * (size_t)T);
			for (int d = 0; d < hd; d++) {
				const real qd = qi[d] * scale, *kt = Kt + (long)d * T;
				#pragma omp simd
				for (int j = 0; j < L; j++)
					row[j] += qd * kt[j];
			}
			mx = row[0];
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
			for (int d = 0; d < hd; d++) {
				const real *vt = Vt + (long)d * T;
				real acc = 0;
				#pragma omp simd reduction(+:acc)
				for (int j = 0; j < L; j++)
					acc += row[j] * vt[j];
				yi[d] = acc;
			}
		}
	}
}

void attention_backward(real *dq, real *dk, real *dv, const real *dy, const real *att,
			const real *q, const real *k, const real *v,
			const struct attention_shape *s, real *scratch, int n_threads)
{
	const int B = s->B, T = s->T, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim;
	const int rep = H / KV;
	const int qld = H * hd, kld = KV * hd;
	const real scale = (real)(1.0 / sqrt((double)hd));
	const size_t per = attention_scratch_per_thread(s);

	#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
	for (int bg = 0; bg < B * KV; bg++) {
		int b = bg / KV, g = bg % KV;
		real *Kt = scratch + per * (size_t)thread_id();
		real *Vt = Kt + (size_t)hd * T;
		real *dKt = Vt + (size_t)hd * T;
		real *dVt = dKt + (size_t)hd * T;
		real *dp = dVt + (size_t)hd * T;

		transpose_in(Kt, k + (long)b * T * kld + g * hd, T, hd, kld);
		transpose_in(Vt, v + (long)b * T * kld + g * hd, T, hd, kld);
		memset(dKt, 0, sizeof(real) * (size_t)hd * T);
		memset(dVt, 0, sizeof(real) * (size_t)hd * T);

		for (int h = g * rep; h < (g + 1) * rep; h++) {
			for (int i = 0; i < T; i++) {
				const real *P = att + (((long)b * H + h) * T + i) * T;
				const real *dyi = dy + ((long)b * T + i) * qld + h * hd;
				const real *qi = q + ((long)b * T + i) * qld + h * hd;
				real *dqi = dq + ((long)b * T + i) * qld + h * hd;
				const int L = i + 1;
				real dot = 0;

				memset(dp, 0, sizeof(real) * (size_t)L);
				for (int d = 0; d < hd; d++) {
					const real a = dyi[d], *vt = Vt + (long)d * T;
					real *dvt = dVt + (long)d * T;
					#pragma omp simd
					for (int j = 0; j < L; j++) {
						dp[j] += a * vt[j];
						dvt[j] += a * P[j];
					}
				}
				#pragma omp simd reduction(+:dot)
				for (int j = 0; j < L; j++)
					dot += P[j] * dp[j];
				#pragma omp simd
				for (int j = 0; j < L; j++)
					dp[j] = P[j] * (dp[j] - dot) * scale;
				for (int d = 0; d < hd; d++) {
					const real *kt = Kt + (long)d * T;
					real *dkt = dKt + (long)d * T;
					const real a = qi[d];
					real acc = 0;
					#pragma omp simd reduction(+:acc)
					for (int j = 0; j < L; j++) {
						acc += dp[j] * kt[j];
						dkt[j] += a * dp[j];
					}
					dqi[d] = acc;
				}
			}
		}
		for (int j = 0; j < T; j++)
			for (int d = 0; d < hd; d++) {
				dk[((long)b * T + j) * kld + g * hd + d] = dKt[(long)d * T + j];
				dv[((long)b * T + j) * kld + g * hd + d] = dVt[(long)d * T + j];
			}
	}
}
