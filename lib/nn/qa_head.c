/* qa_head — start/end logits and the span loss; see qa_head.h. */
#include "nn/qa_head.h"

#include <math.h>
#include <string.h>

#include "adalora.h"

int qa_head_forward(const struct linear *qa, const real *hidden, int N, real *logits,
		    const struct nn_step *st)
{
	if (qa->out != 2)
		return ADA_EINVAL;
	return linear_forward(qa, hidden, N, logits, st);
}

void qa_head_backward(const struct linear *qa, const real *hidden, const real *dlogits, int N,
		      real *dhidden, const struct nn_step *st)
{
	linear_backward_into(qa, hidden, dlogits, N, dhidden, st);
}

/* -log softmax(z[0..n) with stride 2)[k], and its gradient * scale into d. */
static double xent(const real *z, int n, int k, real scale, real *d)
{
	double mx = z[0], sum = 0;

	for (int t = 1; t < n; t++)
		mx = z[2 * t] > mx ? z[2 * t] : mx;
	for (int t = 0; t < n; t++)
		sum += exp(z[2 * t] - mx);
	if (d) {
		for (int t = 0; t < n; t++)
			d[2 * t] = (real)(exp(z[2 * t] - mx) / sum * scale);
		d[2 * k] -= scale;
	}
	return mx + log(sum) - z[2 * k];
}

int qa_span_loss(const real *logits, const int32_t *lengths, const int32_t *start,
		 const int32_t *end, int B, int T, real grad_scale, real *dlogits,
		 double *loss_sum)
{
	double total = 0;

	for (int b = 0; b < B; b++)
		if (lengths[b] < 1 || lengths[b] > T || start[b] < 0 || start[b] >= lengths[b] ||
		    end[b] < 0 || end[b] >= lengths[b])
			return ADA_EINVAL;
	if (dlogits)
		memset(dlogits, 0, sizeof(real) * (size_t)B * T * 2);
	for (int b = 0; b < B; b++) {
		const real *z = logits + (size_t)b * T * 2;
		real *d = dlogits ? dlogits + (size_t)b * T * 2 : NULL;
		const real half = (real)(grad_scale * 0.5);

		total += 0.5 * xent(z, lengths[b], start[b], half, d);
		total += 0.5 * xent(z + 1, lengths[b], end[b], half, d ? d + 1 : NULL);
	}
	*loss_sum = total;
	return ADA_OK;
}
