/* heads — pooling, sequence heads and their losses; see heads.h. */
#include "nn/heads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "util/alloc.h"
#include "nn/gelu.h"

int seq_head_acts_init(struct seq_head_acts *a, int dim, int n_labels, int B)
{
	size_t bd, bl, total;
	real *p;

	memset(a, 0, sizeof(*a));
	if (dim <= 0 || n_labels <= 0 || B <= 0)
		return ADA_EINVAL;
	/* x, u, t, dt, du, dx: [B][dim]; logits, dlogits: [B][n_labels] */
	if (size_mul((size_t)B, (size_t)dim, &bd) || size_mul((size_t)B, (size_t)n_labels, &bl) ||
	    size_mul(bd, 6, &bd) || size_mul(bl, 2, &bl) || size_add(bd, bl, &total))
		return ADA_ENOMEM;
	p = xalloc_aligned(total, sizeof(real));
	if (!p)
		return ADA_ENOMEM;
	a->mem = p;
	a->B = B;
	a->dim = dim;
	a->n_labels = n_labels;
	a->x = p;
	a->t = a->x + (size_t)B * dim;
	a->dt = a->t + (size_t)B * dim;
	a->dx = a->dt + (size_t)B * dim;
	a->u = a->dx + (size_t)B * dim;
	a->du = a->u + (size_t)B * dim;
	a->logits = a->du + (size_t)B * dim;
	a->dlogits = a->logits + (size_t)B * n_labels;
	return ADA_OK;
}

void seq_head_acts_release(struct seq_head_acts *a)
{
	free(a->mem);
	memset(a, 0, sizeof(*a));
}

/* The row of hidden [B*T][dim] that sequence b is pooled from. */
static long pooled_row(enum seq_pool pool, const int32_t *lengths, int b, int T)
{
	const int pos = pool == SEQ_POOL_FIRST ? 0 : (lengths ? lengths[b] : T) - 1;

	return (long)b * T + pos;
}

int seq_head_forward(const struct seq_head *h, struct seq_head_acts *a, const real *hidden,
		     const int32_t *lengths, int B, int T, const struct nn_step *st)
{
	const int D = a->dim;
	int rc;

	if (B > a->B || h->out.in != D || h->out.out != a->n_labels ||
	    (h->dense.w && (h->dense.in != D || h->dense.out != D)))
		return ADA_EINVAL;
	if (lengths)
		for (int b = 0; b < B; b++)
			if (lengths[b] < 1 || lengths[b] > T)
				return ADA_EINVAL;
	for (int b = 0; b < B; b++)
		memcpy(a->x + (long)b * D, hidden + pooled_row(h->pool, lengths, b, T) * D,
		       sizeof(real) * (size_t)D);
	if (!h->dense.w)
		return linear_forward(&h->out, a->x, B, a->logits, st);
	if ((rc = linear_forward(&h->dense, a->x, B, a->u, st)))
		return rc;
	if (h->act == HEAD_ACT_GELU)
		gelu_forward(a->t, a->u, (long)B * D);
	else
		for (long i = 0; i < (long)B * D; i++)
			a->t[i] = (real)tanh((double)a->u[i]);
	return linear_forward(&h->out, a->t, B, a->logits, st);
}

void seq_head_backward(const struct seq_head *h, struct seq_head_acts *a, const real *dlogits,
		       real *dhidden, const int32_t *lengths, int B, int T,
		       const struct nn_step *st)
{
	const int D = a->dim;

	if (h->dense.w) {
		linear_backward_into(&h->out, a->t, dlogits, B, a->dt, st);
		if (h->act == HEAD_ACT_GELU)
			gelu_backward(a->du, a->dt, a->u, (long)B * D);
		else
			for (long i = 0; i < (long)B * D; i++)
				a->du[i] = a->dt[i] * (1 - a->t[i] * a->t[i]);
		linear_backward_into(&h->dense, a->x, a->du, B, dhidden ? a->dx : NULL, st);
	} else {
		linear_backward_into(&h->out, a->x, dlogits, B, dhidden ? a->dx : NULL, st);
	}
	if (!dhidden)
		return;
	for (int b = 0; b < B; b++) {
		real *dst = dhidden + pooled_row(h->pool, lengths, b, T) * D;
		const real *src = a->dx + (long)b * D;
		for (int c = 0; c < D; c++)
			dst[c] += src[c];
	}
}

int seq_head_xent(const real *logits, const int32_t *labels, int B, int C, real grad_scale,
		  real *dlogits, double *loss_sum)
{
	double total = 0;

	for (int b = 0; b < B; b++)
		if (labels[b] < 0 || labels[b] >= C)
			return ADA_EINVAL;
	/* B x C is tiny: plain double arithmetic, in order. */
	for (int b = 0; b < B; b++) {
		const real *z = logits + (long)b * C;
		double mx = z[0], sum = 0;

		for (int c = 1; c < C; c++)
			mx = z[c] > mx ? z[c] : mx;
		for (int c = 0; c < C; c++)
			sum += exp(z[c] - mx);
		total += mx + log(sum) - z[labels[b]];
		if (!dlogits)
			continue;
		for (int c = 0; c < C; c++)
			dlogits[(long)b * C + c] = (real)(exp(z[c] - mx) / sum * grad_scale);
		dlogits[(long)b * C + labels[b]] -= grad_scale;
	}
	*loss_sum = total;
	return ADA_OK;
}

double seq_head_mse(const real *pred, const real *targets, int B, real grad_scale, real *dpred)
{
	double total = 0;

	for (int b = 0; b < B; b++) {
		double e = (double)pred[b] - targets[b];
		total += e * e;
		if (dpred)
			dpred[b] = (real)(2 * e * grad_scale);
	}
	return total;
}
