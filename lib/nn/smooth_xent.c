/* smooth_xent — label-smoothed softmax cross-entropy; see smooth_xent.h. */
#include "nn/smooth_xent.h"

#include <math.h>
#include <string.h>

#include "nn/parallel.h"
#include "nn/vexp.h"

struct smooth_args {
	real *logits;
	const int32_t *targets;
	double *row_loss, *row_nll;
	int V;
	real eps, grad_scale;
};

static void smooth_rows(void *arg, long lo, long hi, int thread)
{
	const struct smooth_args *a = arg;
	const int V = a->V;
	const real grad_scale = a->grad_scale, eps = a->eps;

	(void)thread;
	for (long n = lo; n < hi; n++) {
		real *z = a->logits + n * V;
		const int tgt = a->targets[n];
		real mx = z[0], sum = 0;
		double zsum = 0, lse;

		if (tgt < 0) {
			a->row_loss[n] = a->row_nll[n] = 0;
			if (grad_scale != 0)
				memset(z, 0, sizeof(real) * (size_t)V);
			continue;
		}
		for (int v = 1; v < V; v++)
			mx = z[v] > mx ? z[v] : mx;
		for (int v = 0; v < V; v++)
			zsum += (double)z[v];
		const real zt = z[tgt];
		if (grad_scale != 0) {
			for (int v = 0; v < V; v++) {
				z[v] = vexp(z[v] - mx);
				sum += z[v];
			}
			const real inv = grad_scale / sum, off = eps / (real)V * grad_scale;
			for (int v = 0; v < V; v++)
				z[v] = z[v] * inv - off;
			z[tgt] -= (1 - eps) * grad_scale;
		} else {
			for (int v = 0; v < V; v++)
				sum += vexp(z[v] - mx);
		}
		lse = (double)mx + log((double)sum);
		a->row_nll[n] = lse - (double)zt;
		/* mean over v of -log p[v] = lse - mean(z) */
		a->row_loss[n] = (1 - (double)eps) * a->row_nll[n] + (double)eps * (lse - zsum / V);
	}
}

double softmax_xent_smooth(real *logits, const int32_t *targets, int N, int V, real eps,
			   real grad_scale, double *row_loss, double *row_nll, double *nll_sum,
			   int64_t *count)
{
	struct smooth_args a = { logits, targets, row_loss, row_nll, V, eps, grad_scale };
	double total = 0, nll = 0;
	int64_t cnt = 0;

	pool_for(N, nn_row_grain(V), smooth_rows, &a);
	for (int n = 0; n < N; n++) {
		cnt += targets[n] >= 0;
		total += row_loss[n];
		nll += row_nll[n];
	}
	if (nll_sum)
		*nll_sum = nll;
	*count = cnt;
	return total;
}
