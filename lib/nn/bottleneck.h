/*
 * bottleneck — the Houlsby adapter (Houlsby et al. 2019; adapter-transformers'
 * "houlsby" config), the AdaLoRA paper's adapter baseline:
 *
 *     h  <-  h + up(act(down(h)))
 *
 * down [size][dim] + bias, up [dim][size] + bias, act GELU, ReLU or SiLU
 * ("swish", adapter-transformers' default for this config). The networks
 * apply it in place to a sublayer's projected output (after the attention
 * output projection, after the FFN output projection), before the residual
 * add and the norm. The trainer initialises up near zero so the block
 * starts as the identity; this file only computes.
 *
 * It is not a struct adapter: those add a function of a linear layer's
 * INPUT, this one transforms the layer's OUTPUT.
 *
 * Parameters and gradients are borrowed (the trainer's arena). The
 * activations backward needs are cached in buffers the bottleneck owns,
 * grown to the largest N seen on the first call of a shape; so forward and
 * backward of a micro-batch must pair up, as they do in the nets.
 */
#ifndef ADA_NN_BOTTLENECK_H
#define ADA_NN_BOTTLENECK_H

#include "nn/real.h"

enum bottleneck_act {
	BOTTLENECK_GELU,        /* exact GELU (gelu.h) */
	BOTTLENECK_RELU,
	BOTTLENECK_SILU,        /* x * sigmoid(x), "swish" */
};

struct bottleneck {
	int dim, size;                  /* model width, bottleneck width */
	enum bottleneck_act act;
	const real *w_down, *b_down;    /* borrowed: [size][dim], [size] (biases may be NULL) */
	const real *w_up, *b_up;        /* borrowed: [dim][size], [dim] */
	real *dw_down, *db_down;        /* borrowed gradients; NULL: frozen */
	real *dw_up, *db_up;
	/* owned caches */
	real *h_in;     /* [N][dim] the input, kept only when w_down trains */
	real *a;        /* [N][size] down(h) */
	real *z;        /* [N][size] act(a); d(a) during backward */
	real *dz;       /* [N][size] */
	int cap_n;
};

/* A bottleneck of the given shape; parameter pointers are set by the
 * caller afterwards (dw_down before the first forward). Owned: release
 * with bottleneck_free(). NULL when out of memory. */
struct bottleneck *bottleneck_new(int dim, int size, enum bottleneck_act act);
void bottleneck_free(struct bottleneck *bn);

/* h[N][dim] += up(act(down(h))), in place. ADA_OK or ADA_ENOMEM (caches). */
int bottleneck_forward(struct bottleneck *bn, real *h, int N);

/* On entry dh is dL/d(output) of the last forward; on return dL/d(input),
 * in place. Accumulates into the non-NULL parameter gradients. */
void bottleneck_backward(struct bottleneck *bn, real *dh, int N);

#endif
