/*
 * sgemm_peak — the machine's single-precision matrix-multiply peak, as
 * OpenBLAS reaches it, for the "% of sgemm peak" figure of the training
 * benchmarks. Square products of a few sizes, on 1 thread and on all
 * cores (the way lib/nn/blas.c runs them: one single-threaded BLAS call per
 * OpenMP thread on its block of rows), best of repeated runs, GFLOP/s.
 *
 * usage: sgemm_peak [N ...]   (default 1024 2048 3072)
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double run(int n, int threads, const float *a, const float *b, float *c)
{
	double best = 0;

	for (int rep = 0; rep < 5; rep++) {
		double t0 = now(), dt;
		#pragma omp parallel for num_threads(threads) schedule(static)
		for (int t = 0; t < threads; t++) {
			int lo = n * t / threads, hi = n * (t + 1) / threads;
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, n, n, 1.0f,
				    a + (size_t)lo * n, n, b, n, 0.0f, c + (size_t)lo * n, n);
		}
		dt = now() - t0;
		if (2.0 * n * n * n / dt > best)
			best = 2.0 * n * n * n / dt;
	}
	return best * 1e-9;
}

int main(int argc, char **argv)
{
	int sizes[8] = { 1024, 2048, 3072 }, n_sizes = 3, threads = omp_get_max_threads();

	if (argc > 1) {
		n_sizes = argc - 1 < 8 ? argc - 1 : 8;
		for (int i = 0; i < n_sizes; i++)
			sizes[i] = atoi(argv[i + 1]);
	}
	openblas_set_num_threads(1);
	printf("{\"openblas_core\":\"%s\",\"threads\":%d,\"results\":[", openblas_get_corename(),
	       threads);
	for (int i = 0; i < n_sizes; i++) {
		int n = sizes[i];
		float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n);
		float *c = malloc(sizeof(float) * (size_t)n * n);
		for (size_t k = 0; k < (size_t)n * n; k++) {
			a[k] = (float)(k % 7) * 1e-3f;
			b[k] = (float)(k % 5) * 1e-3f;
		}
		printf("%s{\"n\":%d,\"gflops_1_thread\":%.1f,\"gflops_all_threads\":%.1f}", i ? "," : "",
		       n, run(n, 1, a, b, c), run(n, threads, a, b, c));
		free(a);
		free(b);
		free(c);
	}
	printf("]}\n");
	return 0;
}
