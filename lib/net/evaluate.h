/*
 * evaluate — held-out negative log-likelihood of a network over a dataset.
 *
 * Forward passes only, in batches of the activation arena's shape, with
 * dropout off. Shared by the trainer (validation loss) and `adalora eval`.
 */
#ifndef ADA_NET_EVALUATE_H
#define ADA_NET_EVALUATE_H

#include <stdint.h>

#include "nn/llama.h"
#include "data/data.h"

/* Sum of the NLL over every target of ds (natural log) and the number of
 * targets. inputs/targets are caller scratch of a->B * a->T ids each;
 * a->T must equal ds->seq_len. */
int evaluate_nll(const struct llama_net *net, struct llama_acts *a, const struct dataset *ds,
		 int32_t *inputs, int32_t *targets, double *nll_sum, int64_t *count);

#endif
