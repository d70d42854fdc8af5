/* sample — greedy, temperature and top-p sampling; see sample.h. */
#include "infer/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"

int sampler_init(struct sampler *s, int vocab, double temperature, double top_p, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->vocab = vocab;
	s->temperature = temperature;
	s->top_p = top_p;
	rng_seed(&s->rng, seed);
	s->probs = xcalloc((size_t)vocab, sizeof(*s->probs));
	s->order = xcalloc((size_t)vocab, sizeof(*s->order));
	if (!s->probs || !s->order) {
		sampler_release(s);
		return ADA_ENOMEM;
	}
	return ADA_OK;
}

void sampler_release(struct sampler *s)
{
	free(s->probs);
	free(s->order);
	s->probs = NULL;
	s->order = NULL;
}

static int by_prob_desc(const void *a, const void *b, void *ctx)
{
	const float *probs = ctx;
	float pa = probs[*(const int *)a], pb = probs[*(const int *)b];

	if (pa != pb)
		return pa < pb ? 1 : -1;
	return *(const int *)a - *(const int *)b;
}

int sampler_next(struct sampler *s, const real *logits)
{
	const int V = s->vocab;
	double sum = 0, r, cum = 0;
	real mx = logits[0];
	int best = 0, n;

	for (int i = 1; i < V; i++)
		if (logits[i] > mx) {
			mx = logits[i];
			best = i;
		}
	if (s->temperature <= 0)
		return best;
	for (int i = 0; i < V; i++) {
		s->probs[i] = (float)exp((logits[i] - mx) / s->temperature);
		sum += s->probs[i];
	}
	for (int i = 0; i < V; i++)
		s->probs[i] = (float)(s->probs[i] / sum);
	r = rng_uniform(&s->rng);
	if (s->top_p <= 0 || s->top_p >= 1) {
		for (int i = 0; i < V; i++) {
			cum += s->probs[i];
			if (r < cum)
				return i;
		}
		return V - 1;
	}
	for (int i = 0; i < V; i++)
		s->order[i] = i;
	qsort_r(s->order, (size_t)V, sizeof(*s->order), by_prob_desc, s->probs);
	for (n = 0; n < V; n++) {
		cum += s->probs[s->order[n]];
		if (cum >= s->top_p) {
			n++;
			break;
		}
	}
	if (n > V)
		n = V;
	r *= cum;
	{
		double c = 0;
		for (int i = 0; i < n; i++) {
			c += s->probs[s->order[i]];
			if (r < c)
				return s->order[i];
		}
	}
	return s->order[n - 1];
}
