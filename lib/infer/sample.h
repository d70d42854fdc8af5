/*
 * sample — choosing the next token from logits.
 *
 * Temperature 0 is greedy: the first index of the maximum (as llama2.c's
 * argmax, so ties resolve the same way). Otherwise softmax at the given
 * temperature, then nucleus (top-p) sampling: the smallest set of most
 * likely tokens whose probability reaches p, renormalised.
 */
#ifndef ADA_INFER_SAMPLE_H
#define ADA_INFER_SAMPLE_H

#include "nn/real.h"
#include "util/rng.h"

struct sampler {
	double temperature;
	double top_p;          /* (0, 1]; 1 = plain sampling */
	struct rng rng;
	int vocab;
	float *probs;          /* owned scratch [vocab] */
	int *order;            /* owned scratch [vocab] */
};

int sampler_init(struct sampler *s, int vocab, double temperature, double top_p, uint64_t seed);
void sampler_release(struct sampler *s);
int sampler_next(struct sampler *s, const real *logits);

#endif
