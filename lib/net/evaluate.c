/* evaluate — held-out NLL; see evaluate.h. */
#include "net/evaluate.h"

#include <string.h>

#include "adalora.h"

int evaluate_nll(const struct llama_net *net, struct llama_acts *a, const struct dataset *ds,
		 int32_t *inputs, int32_t *targets, struct nll_sums *out)
{
	const int B = a->B, T = a->T;
	const struct nn_step st = { .training = 0 };

	memset(out, 0, sizeof(*out));
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
		out->nll += nll;
		out->n += cnt;
		/* the forward's per-position losses, in order: the targets that are no framing token */
		for (int r = 0; r < rows; r++) {
			const uint8_t *m = dataset_window_mask(ds, w0 + r);

			for (int p = 0; p < T; p++) {
				if ((m[p] & DATA_TARGET) && !(m[p] & DATA_FRAMING)) {
					out->nll_no_framing += a->row_loss[(long)r * T + p];
					out->n_no_framing++;
				}
			}
		}
	}
	return ADA_OK;
}
