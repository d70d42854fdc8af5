/* linear — dense layer with an adapter slot; see linear.h. */
#include "nn/linear.h"

#include "adalora.h"
#include "nn/blas.h"
#include "nn/frozen.h"
#include "nn/ops.h"

int linear_forward(const struct linear *l, const real *x, int N, real *y,
		   const struct nn_step *st)
{
	if (l->w)
		gemm(0, 1, N, l->out, l->in, 1, x, l->in, l->w, l->in, 0, y, l->out);
	else
		frozen_forward(l->fw, x, N, y, l->bf);
	if (l->b)
		bias_forward(y, l->b, N, l->out);
	if (l->adapter)
		return l->adapter->ops->forward(l->adapter, x, N, y, st);
	return ADA_OK;
}

/* n_dx: the rows whose base-weight share of dx is computed (<= N). */
static void backward(const struct linear *l, const real *x, const real *dy, int N, real *dx,
		     int n_dx, real beta, const struct nn_step *st)
{
	if (dx && l->w)
		gemm(0, 0, n_dx, l->in, l->out, 1, dy, l->out, l->w, l->in, beta, dx, l->in);
	else if (dx)
		frozen_backward_dx(l->fw, dy, n_dx, dx, beta, l->bf);
	if (l->dw)
		gemm(1, 0, l->out, l->in, N, 1, dy, l->out, x, l->in, 1, l->dw, l->in);
	if (l->db)
		bias_backward(l->db, dy, N, l->out);
	if (l->adapter)
		l->adapter->ops->backward(l->adapter, x, dy, N, dx, st);
}

void linear_backward(const struct linear *l, const real *x, const real *dy, int N, real *dx,
		     const struct nn_step *st)
{
	backward(l, x, dy, N, dx, N, 1, st);
}

void linear_backward_into(const struct linear *l, const real *x, const real *dy, int N, real *dx,
			  const struct nn_step *st)
{
	backward(l, x, dy, N, dx, N, 0, st);
}

void linear_backward_rows(const struct linear *l, const real *x, const real *dy, int N, real *dx,
			  int n_dx, const struct nn_step *st)
{
	backward(l, x, dy, N, dx, n_dx < N ? n_dx : N, 1, st);
}
