/*
 * optim — AdamW, clipping and schedules; see optim.h.
 *
 * The per-element loops are branch-free over restrict pointers so that the
 * compiler vectorises them (sqrt and division included); scalars are
 * computed once per step in double, as PyTorch computes them in Python,
 * and rounded to float for the loop. Small layouts (LoRA on a tiny model)
 * stay on the calling thread: an OpenMP fork costs more than they do, and
 * where the work runs changes no result.
 */
#include "train/optim.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/pool.h"

#define PARALLEL_MIN_ELEMS (1u << 16)

int param_chunks_init(struct param_chunks *pc, const struct param_range *ranges,
		      size_t n_ranges, size_t array_len, struct ada_err *err)
{
	size_t n = 0, end = 0, k = 0;

	memset(pc, 0, sizeof(*pc));
	for (size_t i = 0; i < n_ranges; i++) {
		const struct param_range *r = &ranges[i];
		size_t r_end;

		if (size_add(r->off, r->len, &r_end) || r_end > array_len)
			return ada_fail(err, ADA_EINVAL,
					"parameter range %zu [%zu, +%zu) runs past %zu elements",
					i, r->off, r->len, array_len);
		if (!r->len)
			continue;
		if (r->off < end)
			return ada_fail(err, ADA_EINVAL,
					"parameter range %zu at %zu overlaps or precedes the one before",
					i, r->off);
		end = r_end;
		n += (r->len + PARAM_CHUNK - 1) / PARAM_CHUNK;
		pc->n_elems += r->len;
	}
	pc->v = xcalloc(n ? n : 1, sizeof(*pc->v));
	pc->partial = xcalloc(n ? n : 1, sizeof(*pc->partial));
	if (!pc->v || !pc->partial) {
		param_chunks_release(pc);
		return ada_fail(err, ADA_ENOMEM, "out of memory for %zu parameter chunks", n);
	}
	for (size_t i = 0; i < n_ranges; i++) {
		const struct param_range *r = &ranges[i];

		for (size_t at = 0; at < r->len; at += PARAM_CHUNK) {
			size_t left = r->len - at;

			pc->v[k].off = r->off + at;
			pc->v[k].len = left < PARAM_CHUNK ? left : PARAM_CHUNK;
			pc->v[k].decay = r->decay;
			k++;
		}
	}
	pc->n = k;
	return ADA_OK;
}

void param_chunks_release(struct param_chunks *pc)
{
	free(pc->v);
	free(pc->partial);
	memset(pc, 0, sizeof(*pc));
}

/* ---- gradient norm and clipping --------------------------------------- */

/* Sum of squares in double with eight independent lanes: vectorisable
 * without reassociation, and the same order on every call. */
static double sum_squares(const float *restrict g, size_t n)
{
	double lane[8] = { 0 }, s = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			lane[j] += (double)g[i + j] * (double)g[i + j];
	for (; i < n; i++)
		lane[i % 8] += (double)g[i] * (double)g[i];
	for (int j = 0; j < 8; j++)
		s += lane[j];
	return s;
}

/* Chunks per task: one each when there is enough to share, else all in
 * one task on the calling thread (a region costs more than it saves). */
static long chunk_grain(const struct param_chunks *pc)
{
	return pc->n_elems >= PARALLEL_MIN_ELEMS ? 1 : (long)pc->n;
}

struct chunk_args {
	const struct param_chunks *pc;
	float *w, *m, *v, *g_out;
	const float *g;
	float coef;
	const struct adamw_scalars *s;
};

static void norm_chunks(void *arg, long lo, long hi, int thread)
{
	const struct chunk_args *a = arg;
	const struct param_chunks *pc = a->pc;

	(void)thread;
	for (long c = lo; c < hi; c++)
		pc->partial[c] = sum_squares(a->g + pc->v[c].off, pc->v[c].len);
}

double grad_norm(const struct param_chunks *pc, const float *g)
{
	struct chunk_args a = { .pc = pc, .g = g };
	double s = 0;

	/* chunk sums, then their sum in chunk order: the same at any thread count */
	pool_for((long)pc->n, chunk_grain(pc), norm_chunks, &a);
	for (size_t i = 0; i < pc->n; i++)
		s += pc->partial[i];
	return sqrt(s);
}

static void scale(float *restrict g, size_t n, float f)
{
	for (size_t i = 0; i < n; i++)
		g[i] *= f;
}

static void scale_chunks(void *arg, long lo, long hi, int thread)
{
	const struct chunk_args *a = arg;
	const struct param_chunks *pc = a->pc;

	(void)thread;
	for (long c = lo; c < hi; c++)
		scale(a->g_out + pc->v[c].off, pc->v[c].len, a->coef);
}

void grad_clip(const struct param_chunks *pc, float *g, double max_norm,
	       struct grad_norm_info *info)
{
	double norm = grad_norm(pc, g);
	float coef;
	struct chunk_args a = { .pc = pc, .g_out = g };

	info->norm = norm;
	info->finite = isfinite(norm);
	info->clipped = 0;
	if (max_norm <= 0 || !info->finite)
		return;
	coef = (float)(max_norm / (norm + 1e-6));
	if (!(coef < 1.0f))
		return;
	info->clipped = 1;
	a.coef = coef;
	pool_for((long)pc->n, chunk_grain(pc), scale_chunks, &a);
}

/* ---- AdamW ------------------------------------------------------------- */

int adamw_init(struct adamw *o, const struct adamw_config *cfg, struct ada_err *err)
{
	memset(o, 0, sizeof(*o));
	if (!(cfg->beta1 >= 0 && cfg->beta1 < 1))
		return ada_fail_param(err, ADA_EINVAL, "adam_beta1",
				      "adam beta1 %g is not in [0, 1)", cfg->beta1);
	if (!(cfg->beta2 >= 0 && cfg->beta2 < 1))
		return ada_fail_param(err, ADA_EINVAL, "adam_beta2",
				      "adam beta2 %g is not in [0, 1)", cfg->beta2);
	if (!(cfg->eps >= 0 && isfinite(cfg->eps)))
		return ada_fail_param(err, ADA_EINVAL, "adam_epsilon",
				      "adam epsilon %g must be a finite number >= 0", cfg->eps);
	if (!(cfg->weight_decay >= 0 && isfinite(cfg->weight_decay)))
		return ada_fail_param(err, ADA_EINVAL, "weight_decay",
				      "weight_decay %g must be a finite number >= 0",
				      cfg->weight_decay);
	o->cfg = *cfg;
	return ADA_OK;
}

struct adamw_scalars {
	float decay;         /* 1 - lr * weight_decay */
	float one_minus_b1;  /* torch's lerp weight for m */
	float b2, one_minus_b2;
	float step_size;     /* lr / (1 - b1^t) */
	float bc2_sqrt;      /* sqrt(1 - b2^t) */
	float eps;
};

static void adamw_chunk(size_t n, float *restrict w, const float *restrict g,
			float *restrict m, float *restrict v,
			const struct adamw_scalars *s, int decay)
{
	const float wd = decay ? s->decay : 1.0f, a1 = s->one_minus_b1;
	const float b2 = s->b2, a2 = s->one_minus_b2, step_size = s->step_size;
	const float bc2_sqrt = s->bc2_sqrt, eps = s->eps;

	for (size_t i = 0; i < n; i++) {
		float gi = g[i];
		float mi = m[i] + a1 * (gi - m[i]);
		float vi = v[i] * b2 + a2 * gi * gi;
		float denom = sqrtf(vi) / bc2_sqrt + eps;

		m[i] = mi;
		v[i] = vi;
		w[i] = w[i] * wd - step_size * mi / denom;
	}
}

static void adamw_chunks(void *arg, long lo, long hi, int thread)
{
	const struct chunk_args *a = arg;

	(void)thread;
	for (long k = lo; k < hi; k++) {
		const struct param_chunk *ch = &a->pc->v[k];

		adamw_chunk(ch->len, a->w + ch->off, a->g + ch->off, a->m + ch->off,
			    a->v + ch->off, a->s, ch->decay);
	}
}

void adamw_step(struct adamw *o, const struct param_chunks *pc, double lr,
		float *w, const float *g, float *m, float *v)
{
	const struct adamw_config *c = &o->cfg;
	struct adamw_scalars s;
	struct chunk_args a = { .pc = pc, .w = w, .m = m, .v = v, .g = g, .s = &s };
	double t;

	t = (double)++o->step;
	s.decay = (float)(1.0 - lr * c->weight_decay);
	s.one_minus_b1 = (float)(1.0 - c->beta1);
	s.b2 = (float)c->beta2;
	s.one_minus_b2 = (float)(1.0 - c->beta2);
	s.step_size = (float)(lr / (1.0 - pow(c->beta1, t)));
	s.bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, t));
	s.eps = (float)c->eps;

	pool_for((long)pc->n, chunk_grain(pc), adamw_chunks, &a);
}

/* ---- learning-rate schedules ------------------------------------------ */

static int64_t max_i64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

double lr_factor(enum ada_lr_schedule schedule, int64_t step, int64_t warmup, int64_t total)
{
	double progress, f;

	if (step < warmup)
		return (double)step / (double)max_i64(1, warmup);
	switch (schedule) {
	case ADA_LR_LINEAR:
		f = (double)(total - step) / (double)max_i64(1, total - warmup);
		return f > 0 ? f : 0.0;
	case ADA_LR_COSINE:
		progress = (double)(step - warmup) / (double)max_i64(1, total - warmup);
		f = 0.5 * (1.0 + cos(M_PI * progress));
		return f > 0 ? f : 0.0;
	case ADA_LR_CONSTANT:
		return 1.0;
	}
	assert(!"unknown learning-rate schedule");
	return 1.0;
}
