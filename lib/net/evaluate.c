/* evaluate — held-out NLL; see evaluate.h. */
#include "net/evaluate.h"

#include "adalora.h"

int evaluate_nll(const struct llama_net *net, struct llama_acts *a, const struct dataset *ds,
		 int32_t *inputs, int32_t *targets, double *nll_sum, int64_t *count)
{
	const int B = a->B, T = a->T;
	const struct nn_step st = { .training = 0 };
	double total = 0;
	int64_t n = 0;

	if (ds->seq_len != T)
		return ADA_EINVAL;
	for (int64_t w0 = 0; w0 < ds->n_windows; w0 += B) {
		int rows = ds->n_windows - w0 < B ? (int)(ds->n_windows - w0) : B;
		double nll = 0;
		int64_t cnt = 0;
		int rc;

		for (int r = 0; r < rows; r++)
			dataset_window(ds, w0 + r, inputs + (long)r * T, targets + (long)r * T);
		rc = llama_forward(net, a, inputs, targets, rows, 0, &nll, &cnt, &st);
		if (rc)
			return rc;
		total += nll;
		n += cnt;
	}
	*nll_sum = total;
	*count = n;
	return ADA_OK;
}
