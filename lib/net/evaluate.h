/*
 * evaluate — held-out negative log-likelihood of a network over a dataset.
 *
 * Forward passes only, in batches of the activation arena's shape, with
 * dropout off. Shared by the trainer (validation loss) and `adalora eval`.
 * The loss is reported over every target and, apart, over the targets
 * that are framing tokens (data.h: the EOS, or with BOS-only framing the
 * BOS, that ends a text record), so a caller can give the loss with and
 * without them.
 */
#ifndef ADA_NET_EVALUATE_H
#define ADA_NET_EVALUATE_H

#include <stdint.h>

#include "nn/llama.h"
#include "data/data.h"

struct nll_sums {
	double nll;                /* summed over every target (natural log) */
	int64_t n;                 /* targets */
	double nll_no_framing;           /* summed over the targets that are not framing tokens */
	int64_t n_no_framing;
};

/* The sums over every target of ds. inputs/targets are caller scratch of
 * a->B * a->T ids each; a->T must equal ds->seq_len. */
int evaluate_nll(const struct llama_net *net, struct llama_acts *a, const struct dataset *ds,
		 int32_t *inputs, int32_t *targets, struct nll_sums *out);

#endif
