/*
 * lowrank — the low-rank update shared by LoRA and AdaLoRA:
 *
 *     delta(x) = scale * ((drop(x) Q^T) * g) P^T        (* is per-column)
 *
 *   LoRA       P = lora_B [out][r], Q = lora_A [r][in], g = 1, not trained
 *   lora_prune the same with g a 0/1 mask set by the rank allocator
 *   AdaLoRA    P [out][r], Q [r][in] the singular-vector factors and
 *              g = lambda [r] the trained singular values (adalora.md s.1)
 *
 * P diag(g) Q is never formed: forward is two thin products through the
 * rank-r bottleneck. Parameters and gradients are borrowed from the
 * trainer's arena; the per-row caches (x Q^T, and drop(x) when dropout is
 * on) are owned and grow to the largest N seen.
 */
#ifndef ADA_NN_LOWRANK_H
#define ADA_NN_LOWRANK_H

#include <stdint.h>

#include "nn/adapter.h"

struct lowrank {
	struct adapter base;
	int r;                  /* rank in use (init_r, fewer after compaction) */
	real scale;             /* fixed at creation (adalora.md: never rescaled) */
	real dropout;           /* probability of zeroing an input element */
	real *P, *Q, *g;        /* borrowed: [out][r], [r][in], [r] */
	real *Pt;               /* borrowed, may be NULL: [r][out], P transposed,
	                         * kept by a frozen adapter for the serving
	                         * decoder (infer/rowdot.h rowaxpy) */
	real *dP, *dQ, *dg;     /* borrowed gradients; dg NULL if g is not trained,
	                         * dP/dQ NULL if P/Q are frozen */
	/* owned caches */
	real *xq;               /* [N][r] drop(x) Q^T */
	real *t;                /* [N][r] scale * xq * g (forward), dL/dxq (backward) */
	real *xd;               /* [N][in] drop(x), only when dropout > 0 */
	int cap_n;
};

/* A low-rank adapter for an out x in layer; parameter pointers are set by
 * the caller afterwards. Owned; release with adapter_free(&lr->base). */
struct lowrank *lowrank_new(int in, int out, int r, real scale, real dropout, int id);

/* Keep only the components whose keep[i] is nonzero: P, Q, g (and their
 * gradients, when set) are repacked in place to the new rank, which is
 * returned. Used when the AdaLoRA mask freezes (compact_on_freeze). */
int lowrank_compact(struct lowrank *lr, const uint8_t *keep);

#endif
