/*
 * rank_allocator — importance, masks and rank pattern; see rank_allocator.h.
 *
 * Buffer layout: the adapter elements that carry importance (P, lambda, Q
 * of every matrix in adalora mode; P, Q in lora_prune) are numbered
 * 0..n_elems-1 matrix after matrix, and one 64-byte aligned allocation holds
 * Ibar[n_elems] followed, for sensitivity_uncertainty, by Ubar[n_elems].
 * The per-step update walks that numbering in chunks, each a contiguous
 * stretch of one weight array, its gradient and both buffers: plain
 * elementwise loops the compiler vectorises, spread over OpenMP threads.
 *
 * The checkpoint blob is native-endian (checkpoints are read back on the
 * machine that wrote them); its first fields fingerprint the configuration
 * so a blob from another job is refused rather than misread.
 */
#include "train/rank_allocator.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/pool.h"
#include "util/rng.h"

/* Chunks are at most this long, so threads share big matrices too. */
#define CHUNK_ELEMS ((size_t)16384)
/* Below this many elements a parallel region costs more than it saves. */
#define PARALLEL_MIN_ELEMS ((size_t)65536)

enum { SEG_P, SEG_GATE, SEG_Q, N_SEGS };

/* A contiguous run of one weight array and its gradient; off indexes the
 * buffers (Ibar at buf[off], Ubar at buf[n_elems + off]). */
struct chunk {
	const float *w, *g;
	size_t off, len;
};

struct hist_entry {
	int64_t step, budget, kept;
	bool final;
};

struct rank_allocator {
	struct rank_allocator_config cfg;
	int n, r;
	struct rank_matrix *m;        /* owned copy of the borrowed views */
	int64_t b0, t_freeze;

	int n_bufs;                   /* buffers per element: 2, 1 or 0 */
	size_t n_elems;
	size_t (*seg_off)[N_SEGS];    /* owned, per matrix: first element of P, lambda, Q */
	float *buf;                   /* owned; NULL for magnitude and once frozen */
	struct chunk *chunks;         /* owned */
	size_t n_chunks;

	bool *kept;                   /* owned, n * r */
	int64_t n_kept;
	double *scores, *scratch;     /* owned, n * r each */

	bool frozen;
	int64_t last_step;            /* -1 before the first step */
	int64_t n_updates, n_nonfinite;

	struct hist_entry *hist;      /* owned */
	int32_t *hist_ranks;          /* owned, n per entry */
	size_t n_hist, cap_hist, cap_hist_ranks;
};

/* ---- selection --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline void swap_d(double *v, size_t i, size_t j)
{
	double t = v[i];

	v[i] = v[j];
	v[j] = t;
}

double rank_select_kth(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n, want = k - 1;
	int rounds = 16;
	struct rng rng;

	/* Random pivots make the expected time linear whatever the input's
	 * order; the fixed seed keeps runs reproducible. The round limit
	 * (far above the expected ~2 log2 n) bounds the worst case. */
	rng_seed(&rng, 0x5e1ec7);
	for (size_t m = n; m > 1; m >>= 1)
		rounds += 4;
	while (hi - lo > 1) {
		size_t lt = lo, i = lo, gt = hi;
		double p;

		if (rounds-- == 0) {
			qsort(v + lo, hi - lo, sizeof(*v), cmp_double);
			return v[want];
		}
		p = v[lo + rng_below(&rng, hi - lo)];
		/* Three-way partition: [lo, lt) < p, [lt, gt) == p, [gt, hi) > p;
		 * the equal block keeps many ties (all-zero scores) linear. */
		while (i < gt) {
			if (v[i] < p)
				swap_d(v, lt++, i++);
			else if (v[i] > p)
				swap_d(v, i, --gt);
			else
				i++;
		}
		if (want < lt)
			hi = lt;
		else if (want >= gt)
			lo = gt;
		else
			return p;
	}
	return v[want];
}

/* ---- setup ------------------------------------------------------------- */

static size_t matrix_elems(const struct rank_allocator *a, int k, int seg)
{
	const struct rank_matrix *m = &a->m[k];

	switch (seg) {
	case SEG_P:
		return (size_t)m->out * (size_t)m->r;
	case SEG_GATE:
		return a->cfg.method == ADA_METHOD_ADALORA ? (size_t)m->r : 0;
	default:
		return (size_t)m->r * (size_t)m->in;
	}
}

static int check_config(const struct rank_allocator_config *c, const struct rank_matrix *m,
			int n, struct ada_err *err)
{
	int rc = budget_schedule_check(&c->schedule, NULL, err);

	if (rc)
		return rc;
	if (!ada_method_has_budget(c->method))
		return ada_fail_param(err, ADA_EINVAL, "method",
				      "rank allocator: method %s has no budget",
				      ada_method_name(c->method));
	if ((unsigned)c->importance > ADA_IMPORTANCE_MAGNITUDE)
		return ada_fail_param(err, ADA_EINVAL, "importance",
				      "rank allocator: unknown importance %d", (int)c->importance);
	if (c->method == ADA_METHOD_LORA_PRUNE && c->importance == ADA_IMPORTANCE_MAGNITUDE)
		return ada_fail_param(err, ADA_EINVAL, "importance",
				      "importance \"magnitude\" scores |lambda|, which lora_prune does not have");
	if (!(c->beta1 >= 0.0 && c->beta1 <= 1.0))
		return ada_fail_param(err, ADA_EINVAL, "beta1", "beta1 must be in [0, 1] (got %g)",
				      c->beta1);
	if (!(c->beta2 >= 0.0 && c->beta2 <= 1.0))
		return ada_fail_param(err, ADA_EINVAL, "beta2", "beta2 must be in [0, 1] (got %g)",
				      c->beta2);
	if (n != c->schedule.n_matrices)
		return ada_fail_param(err, ADA_EINVAL, "n_matrices",
				      "rank allocator: %d matrices given, schedule says n_matrices = %lld",
				      n, (long long)c->schedule.n_matrices);
	if (!m)
		return ada_fail(err, ADA_EINVAL, "rank allocator: no matrices given");
	for (int k = 0; k < n; k++) {
		bool grads = c->importance != ADA_IMPORTANCE_MAGNITUDE;

		if (m[k].r != c->schedule.init_r)
			return ada_fail(err, ADA_EINVAL,
					"rank allocator: matrix %d has r = %d, init_r is %lld",
					k, m[k].r, (long long)c->schedule.init_r);
		if (m[k].out < 1 || m[k].in < 1)
			return ada_fail(err, ADA_EINVAL,
					"rank allocator: matrix %d has shape %d x %d", k,
					m[k].out, m[k].in);
		if (!m[k].P || !m[k].Q || !m[k].gate ||
		    (grads && (!m[k].dP || !m[k].dQ)) ||
		    (grads && c->method == ADA_METHOD_ADALORA && !m[k].dgate))
			return ada_fail(err, ADA_EINVAL,
					"rank allocator: matrix %d lacks a weight or gradient array", k);
	}
	return ADA_OK;
}

/* Number elements, size the buffers and cut the update into chunks. */
static int layout(struct rank_allocator *a, struct ada_err *err)
{
	size_t off = 0, n_chunks = 0, c = 0;

	a->seg_off = xcalloc((size_t)a->n, sizeof(*a->seg_off));
	if (!a->seg_off)
		goto out_nomem;
	for (int k = 0; k < a->n; k++) {
		for (int s = 0; s < N_SEGS; s++) {
			size_t len = matrix_elems(a, k, s);

			a->seg_off[k][s] = off;
			if (size_add(off, len, &off))
				goto out_nomem;
			n_chunks += (len + CHUNK_ELEMS - 1) / CHUNK_ELEMS;
		}
	}
	a->n_elems = off;
	if (a->n_bufs == 0)
		return ADA_OK;

	a->buf = xalloc_aligned(a->n_elems, (size_t)a->n_bufs * sizeof(float));
	a->chunks = xcalloc(n_chunks, sizeof(*a->chunks));
	if (!a->buf || !a->chunks)
		goto out_nomem;
	for (int k = 0; k < a->n; k++) {
		const struct rank_matrix *m = &a->m[k];
		const float *w[N_SEGS] = { m->P, m->gate, m->Q };
		const float *g[N_SEGS] = { m->dP, m->dgate, m->dQ };

		for (int s = 0; s < N_SEGS; s++) {
			size_t len = matrix_elems(a, k, s);

			for (size_t i = 0; i < len; i += CHUNK_ELEMS) {
				a->chunks[c].w = w[s] + i;
				a->chunks[c].g = g[s] + i;
				a->chunks[c].off = a->seg_off[k][s] + i;
				a->chunks[c].len = len - i < CHUNK_ELEMS ? len - i : CHUNK_ELEMS;
				c++;
			}
		}
	}
	a->n_chunks = c;
	return ADA_OK;

out_nomem:
	return ada_fail(err, ADA_ENOMEM, "rank allocator: out of memory for %d matrices", a->n);
}

/* In lora_prune the gate mirrors the kept mask at all times. In adalora
 * only masked lambdas are written (zeroed); kept ones are trained values. */
static void apply_gates(struct rank_allocator *a)
{
	for (int k = 0; k < a->n; k++) {
		const bool *kept = a->kept + (size_t)k * a->r;
		float *gate = a->m[k].gate;

		for (int i = 0; i < a->r; i++) {
			if (a->cfg.method == ADA_METHOD_LORA_PRUNE)
				gate[i] = kept[i] ? 1.0f : 0.0f;
			else if (!kept[i])
				gate[i] = 0.0f;
		}
	}
}

static void count_kept(struct rank_allocator *a)
{
	size_t total = (size_t)a->n * a->r;

	a->n_kept = 0;
	for (size_t i = 0; i < total; i++)
		a->n_kept += a->kept[i];
}

int rank_allocator_new(const struct rank_allocator_config *config,
		       const struct rank_matrix *matrices, int n,
		       struct rank_allocator **out, struct ada_err *err)
{
	struct rank_allocator *a;
	size_t triplets;
	int rc;

	*out = NULL;
	rc = check_config(config, matrices, n, err);
	if (rc)
		return rc;
	a = xcalloc(1, sizeof(*a));
	if (!a)
		return ada_fail(err, ADA_ENOMEM, "rank allocator: out of memory");
	a->cfg = *config;
	a->n = n;
	a->r = (int)config->schedule.init_r;
	a->b0 = budget_schedule_initial(&config->schedule);
	a->t_freeze = budget_schedule_freeze_step(&config->schedule);
	a->last_step = -1;
	a->n_bufs = config->importance == ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY ? 2 :
		    config->importance == ADA_IMPORTANCE_SENSITIVITY ? 1 : 0;
	triplets = (size_t)a->b0;

	a->m = xcalloc((size_t)n, sizeof(*a->m));
	a->kept = xcalloc(triplets, sizeof(*a->kept));
	a->scores = xcalloc(triplets, sizeof(*a->scores));
	a->scratch = xcalloc(triplets, sizeof(*a->scratch));
	if (!a->m || !a->kept || !a->scores || !a->scratch) {
		rc = ada_fail(err, ADA_ENOMEM, "rank allocator: out of memory for %zu triplets",
			      triplets);
		goto out_free;
	}
	memcpy(a->m, matrices, (size_t)n * sizeof(*a->m));
	rc = layout(a, err);
	if (rc)
		goto out_free;
	memset(a->kept, 1, triplets * sizeof(*a->kept));
	a->n_kept = a->b0;
	if (a->cfg.method == ADA_METHOD_LORA_PRUNE)
		apply_gates(a);
	*out = a;
	return ADA_OK;

out_free:
	rank_allocator_free(a);
	return rc;
}

void rank_allocator_free(struct rank_allocator *a)
{
	if (!a)
		return;
	free(a->hist_ranks);
	free(a->hist);
	free(a->scratch);
	free(a->scores);
	free(a->kept);
	free(a->chunks);
	free(a->buf);
	free(a->seg_off);
	free(a->m);
	free(a);
}

/* ---- importance -------------------------------------------------------- */

/* All products w * g of the chunk are finite (this also catches a
 * non-finite w or g, and a product that overflows). */
static bool chunk_finite(const struct chunk *c)
{
	const float *restrict w = c->w, *restrict g = c->g;
	int bad = 0;

#pragma omp simd reduction(|:bad)
	for (size_t i = 0; i < c->len; i++)
		bad |= !(fabsf(w[i] * g[i]) <= FLT_MAX);
	return !bad;
}

static void chunk_update(const struct chunk *c, float *restrict ib, float *restrict ub,
			 float b1, float c1, float b2, float c2)
{
	const float *restrict w = c->w, *restrict g = c->g;

	ib += c->off;
	if (!ub) {
		for (size_t i = 0; i < c->len; i++)
			ib[i] = b1 * ib[i] + c1 * fabsf(w[i] * g[i]);
		return;
	}
	ub += c->off;
	for (size_t i = 0; i < c->len; i++) {
		float sens = fabsf(w[i] * g[i]);
		float smooth = b1 * ib[i] + c1 * sens;

		ib[i] = smooth;
		ub[i] = b2 * ub[i] + c2 * fabsf(sens - smooth);
	}
}

/* Chunks per task: one each when there is enough to share, else all of
 * them in one task on the calling thread. */
static long chunk_grain(const struct rank_allocator *a)
{
	return a->n_elems >= PARALLEL_MIN_ELEMS ? 1 : (long)a->n_chunks;
}

struct importance_args {
	struct rank_allocator *a;
	float *ib, *ub;
	float b1, c1, b2, c2;
	_Atomic int bad;
};

static void finite_chunks(void *arg, long lo, long hi, int thread)
{
	struct importance_args *p = arg;
	int bad = 0;

	(void)thread;
	for (long c = lo; c < hi; c++)
		bad |= !chunk_finite(&p->a->chunks[c]);
	if (bad)
		p->bad = 1;
}

static void update_chunks(void *arg, long lo, long hi, int thread)
{
	struct importance_args *p = arg;

	(void)thread;
	for (long c = lo; c < hi; c++)
		chunk_update(&p->a->chunks[c], p->ib, p->ub, p->b1, p->c1, p->b2, p->c2);
}

/* Check every product first, then update: a bad step changes nothing. */
static bool update_importance(struct rank_allocator *a)
{
	struct importance_args p = {
		a, a->buf, a->n_bufs == 2 ? a->buf + a->n_elems : NULL,
		(float)a->cfg.beta1, (float)(1.0 - a->cfg.beta1),
		(float)a->cfg.beta2, (float)(1.0 - a->cfg.beta2), 0,
	};

	pool_for((long)a->n_chunks, chunk_grain(a), finite_chunks, &p);
	if (p.bad)
		return false;
	pool_for((long)a->n_chunks, chunk_grain(a), update_chunks, &p);
	return true;
}

static inline double elem_score(const float *ib, const float *ub, size_t i)
{
	return ub ? (double)ib[i] * (double)ub[i] : (double)ib[i];
}

/* S_i = s(lambda_i) + mean_j s(P[j,i]) + mean_j s(Q[i,j]) for matrix k. */
static void matrix_scores(const struct rank_allocator *a, int k, double *s)
{
	const struct rank_matrix *m = &a->m[k];
	const float *ib = a->buf, *ub = a->n_bufs == 2 ? a->buf + a->n_elems : NULL;
	int r = a->r;

	if (a->cfg.importance == ADA_IMPORTANCE_MAGNITUDE) {
		for (int i = 0; i < r; i++)
			s[i] = fabs((double)m->gate[i]);
	} else {
		const size_t *off = a->seg_off[k];

		/* s[] first sums P's columns, walked row by row so memory is
		 * read in order. */
		for (int i = 0; i < r; i++)
			s[i] = 0.0;
		for (int j = 0; j < m->out; j++)
			for (int i = 0; i < r; i++)
				s[i] += elem_score(ib, ub, off[SEG_P] + (size_t)j * r + i);
		for (int i = 0; i < r; i++) {
			size_t q = off[SEG_Q] + (size_t)i * m->in;
			double lambda = 0.0, row = 0.0;

			for (int j = 0; j < m->in; j++)
				row += elem_score(ib, ub, q + j);
			if (a->cfg.method == ADA_METHOD_ADALORA)
				lambda = elem_score(ib, ub, off[SEG_GATE] + i);
			s[i] = lambda + s[i] / m->out + row / m->in;
		}
	}
	for (int i = 0; i < r; i++)
		if (isnan(s[i]))
			s[i] = -INFINITY;
}

struct scores_args {
	const struct rank_allocator *a;
	double *scores;
};

static void scores_task(void *arg, long lo, long hi, int thread)
{
	const struct scores_args *p = arg;

	(void)thread;
	for (long k = lo; k < hi; k++)
		matrix_scores(p->a, (int)k, p->scores + (size_t)k * p->a->r);
}

/* One matrix per task (they differ in size: tasks are claimed as threads
 * free up). */
static void all_scores(const struct rank_allocator *a, double *scores)
{
	struct scores_args p = { a, scores };

	pool_for(a->n, a->n_elems >= PARALLEL_MIN_ELEMS ? 1 : a->n, scores_task, &p);
}

int rank_allocator_scores(const struct rank_allocator *a, double *scores,
			  struct ada_err *err)
{
	if (a->n_bufs > 0 && !a->buf)
		return ada_fail(err, ADA_EINVAL,
				"rank allocator: no scores after the freeze (buffers are freed)");
	all_scores(a, scores);
	return ADA_OK;
}

/* ---- masking and history ----------------------------------------------- */

/* Mask the k = b(0) - budget lowest scores, ties at the threshold included. */
static void compute_mask(struct rank_allocator *a, int64_t budget)
{
	size_t total = (size_t)a->b0;
	int64_t k = a->b0 - budget;

	if (k <= 0) {
		memset(a->kept, 1, total * sizeof(*a->kept));
	} else {
		double thr;

		all_scores(a, a->scores);
		memcpy(a->scratch, a->scores, total * sizeof(*a->scratch));
		thr = rank_select_kth(a->scratch, total, (size_t)k);
		for (size_t i = 0; i < total; i++)
			a->kept[i] = a->scores[i] > thr;
	}
	count_kept(a);
	apply_gates(a);
}

/* Room for one more history entry and its n ranks. */
static int history_reserve(struct rank_allocator *a)
{
	size_t cells;

	if (size_mul(a->n_hist + 1, (size_t)a->n, &cells) ||
	    ALLOC_GROW(a->hist, a->n_hist + 1, a->cap_hist) ||
	    ALLOC_GROW(a->hist_ranks, cells, a->cap_hist_ranks))
		return -1;
	return 0;
}

static void history_push(struct rank_allocator *a, int64_t t, int64_t budget, bool final)
{
	struct hist_entry *h = &a->hist[a->n_hist];
	int32_t *ranks = a->hist_ranks + a->n_hist * (size_t)a->n;

	h->step = t;
	h->budget = budget;
	h->kept = a->n_kept;
	h->final = final;
	for (int k = 0; k < a->n; k++)
		ranks[k] = rank_allocator_rank(a, k);
	a->n_hist++;
}

int rank_allocator_step(struct rank_allocator *a, int64_t t,
			struct rank_step_info *info, struct ada_err *err)
{
	const struct ada_schedule *s = &a->cfg.schedule;
	struct rank_step_info local;
	bool freeze, mask;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (t < 0 || t <= a->last_step)
		return ada_fail(err, ADA_EINVAL,
				"rank allocator: step %lld after step %lld (steps must increase)",
				(long long)t, (long long)a->last_step);
	if (a->frozen) {
		apply_gates(a);
		info->budget = budget_schedule_target(s);
		info->kept = a->n_kept;
		a->last_step = t;
		return ADA_OK;
	}

	/* Past t_freeze without having frozen (a caller that skipped steps):
	 * freeze now, the mask must not stay open. */
	freeze = t >= a->t_freeze;
	mask = freeze || budget_schedule_is_mask_step(s, t);
	if (mask && history_reserve(a))
		return ada_fail(err, ADA_ENOMEM, "rank allocator: out of memory for the mask history");

	if (!freeze && a->n_bufs > 0) {
		if (update_importance(a)) {
			a->n_updates++;
			info->updated = true;
		} else {
			a->n_nonfinite++;
			info->nonfinite = true;
		}
	}
	info->budget = budget_schedule_at(s, t);
	if (mask) {
		compute_mask(a, info->budget);
		history_push(a, t, info->budget, freeze);
		info->masked = true;
	}
	if (freeze) {
		a->frozen = true;
		free(a->buf);
		a->buf = NULL;
		info->froze = true;
	}
	info->kept = a->n_kept;
	a->last_step = t;
	return ADA_OK;
}

/* ---- accessors --------------------------------------------------------- */

const bool *rank_allocator_kept(const struct rank_allocator *a, int k)
{
	return a->kept + (size_t)k * a->r;
}

int rank_allocator_rank(const struct rank_allocator *a, int k)
{
	const bool *kept = rank_allocator_kept(a, k);
	int rank = 0;

	for (int i = 0; i < a->r; i++)
		rank += kept[i];
	return rank;
}

int64_t rank_allocator_kept_total(const struct rank_allocator *a)
{
	return a->n_kept;
}

bool rank_allocator_frozen(const struct rank_allocator *a)
{
	return a->frozen;
}

int64_t rank_allocator_nonfinite_steps(const struct rank_allocator *a)
{
	return a->n_nonfinite;
}

const struct rank_allocator_config *rank_allocator_config(const struct rank_allocator *a)
{
	return &a->cfg;
}

size_t rank_allocator_n_records(const struct rank_allocator *a)
{
	return a->n_hist;
}

void rank_allocator_record(const struct rank_allocator *a, size_t i,
			   struct rank_mask_record *out)
{
	const struct hist_entry *h = &a->hist[i];

	out->step = h->step;
	out->budget = h->budget;
	out->kept = h->kept;
	out->final = h->final;
	out->ranks = a->hist_ranks + i * (size_t)a->n;
}

/* ---- checkpoint blob --------------------------------------------------- */

#define BLOB_MAGIC "ADARANK1"

/* Writes to p, or only counts bytes when p is NULL. */
struct blob_writer {
	uint8_t *p;
	size_t off;
};

static void put(struct blob_writer *w, const void *src, size_t n)
{
	if (w->p && n)
		memcpy(w->p + w->off, src, n);
	w->off += n;
}

static void put_u32(struct blob_writer *w, uint32_t v)
{
	put(w, &v, sizeof(v));
}

static void put_i64(struct blob_writer *w, int64_t v)
{
	put(w, &v, sizeof(v));
}

static void put_u8(struct blob_writer *w, uint8_t v)
{
	put(w, &v, sizeof(v));
}

/* The mode as checkpoints have always stored it: 0 adalora, 1 lora_prune. */
static uint32_t blob_mode(enum ada_method_type method)
{
	return method == ADA_METHOD_LORA_PRUNE;
}

static void write_state(const struct rank_allocator *a, struct blob_writer *w)
{
	const struct ada_schedule *s = &a->cfg.schedule;
	size_t n_buf = a->buf ? a->n_elems * (size_t)a->n_bufs : 0;

	put(w, BLOB_MAGIC, 8);
	put_u32(w, blob_mode(a->cfg.method));
	put_u32(w, (uint32_t)a->cfg.importance);
	put_u32(w, (uint32_t)a->n);
	put_u32(w, (uint32_t)a->r);
	put(w, &a->cfg.beta1, sizeof(a->cfg.beta1));
	put(w, &a->cfg.beta2, sizeof(a->cfg.beta2));
	put_i64(w, s->total_steps);
	put_i64(w, s->tinit);
	put_i64(w, s->tfinal);
	put_i64(w, s->deltaT);
	put_i64(w, s->init_r);
	put_i64(w, s->target_r);
	put_i64(w, s->n_matrices);
	for (int k = 0; k < a->n; k++) {
		put_u32(w, (uint32_t)a->m[k].out);
		put_u32(w, (uint32_t)a->m[k].in);
	}
	put_i64(w, a->last_step);
	put_i64(w, a->n_updates);
	put_i64(w, a->n_nonfinite);
	put_u8(w, a->frozen);
	for (size_t i = 0; i < (size_t)a->b0; i++)
		put_u8(w, a->kept[i]);
	put_i64(w, (int64_t)n_buf);
	put(w, a->buf, n_buf * sizeof(float));
	put_i64(w, (int64_t)a->n_hist);
	for (size_t i = 0; i < a->n_hist; i++) {
		put_i64(w, a->hist[i].step);
		put_i64(w, a->hist[i].budget);
		put_i64(w, a->hist[i].kept);
		put_u8(w, a->hist[i].final);
		put(w, a->hist_ranks + i * (size_t)a->n, (size_t)a->n * sizeof(int32_t));
	}
}

int rank_allocator_save(const struct rank_allocator *a, void **blob, size_t *len,
			struct ada_err *err)
{
	struct blob_writer w = { NULL, 0 };

	write_state(a, &w);
	w.p = malloc(w.off ? w.off : 1);
	if (!w.p)
		return ada_fail(err, ADA_ENOMEM,
				"rank allocator: out of memory for a %zu-byte checkpoint", w.off);
	*len = w.off;
	w.off = 0;
	write_state(a, &w);
	*blob = w.p;
	return ADA_OK;
}

struct blob_reader {
	const uint8_t *p;
	size_t len, off;
};

static int get(struct blob_reader *r, void *dst, size_t n)
{
	if (r->len - r->off < n)
		return -1;
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

/* The state read from a blob, before it replaces the allocator's. */
struct restored {
	int64_t last_step, n_updates, n_nonfinite;
	bool frozen;
	bool *kept;
	float *buf;
	struct hist_entry *hist;
	int32_t *hist_ranks;
	size_t n_hist;
};

static void restored_release(struct restored *st)
{
	free(st->kept);
	free(st->buf);
	free(st->hist);
	free(st->hist_ranks);
}

#define BAD(...) ada_fail(err, ADA_EFORMAT, "rank allocator state: " __VA_ARGS__)

/* The blob must describe the allocator's own configuration and shapes. */
static int read_fingerprint(const struct rank_allocator *a, struct blob_reader *r,
			    struct ada_err *err)
{
	const struct ada_schedule *s = &a->cfg.schedule;
	int64_t sched[7], want[7] = { s->total_steps, s->tinit, s->tfinal, s->deltaT,
				     s->init_r, s->target_r, s->n_matrices };
	static const char *const sched_names[7] = { "total_steps", "tinit", "tfinal",
						    "deltaT", "init_r", "target_r", "n_matrices" };
	uint32_t mode, imp, n, rr, shape[2];
	double beta[2];
	char magic[8];

	if (get(r, magic, 8) || memcmp(magic, BLOB_MAGIC, 8))
		return BAD("not a rank allocator checkpoint (bad magic)");
	if (get(r, &mode, 4) || get(r, &imp, 4) || get(r, &n, 4) || get(r, &rr, 4) ||
	    get(r, beta, sizeof(beta)) || get(r, sched, sizeof(sched)))
		return BAD("truncated header");
	if (mode != blob_mode(a->cfg.method))
		return BAD("saved in mode %u, this job uses %s", mode, ada_method_name(a->cfg.method));
	if (imp != (uint32_t)a->cfg.importance)
		return BAD("saved with importance %u, this job uses %s", imp,
			   ada_importance_name(a->cfg.importance));
	if (n != (uint32_t)a->n || rr != (uint32_t)a->r)
		return BAD("saved for %u matrices of rank %u, this job has %d of rank %d",
			   n, rr, a->n, a->r);
	if (memcmp(&beta[0], &a->cfg.beta1, sizeof(double)) ||
	    memcmp(&beta[1], &a->cfg.beta2, sizeof(double)))
		return BAD("saved with beta1/beta2 %g/%g, this job uses %g/%g",
			   beta[0], beta[1], a->cfg.beta1, a->cfg.beta2);
	for (int i = 0; i < 7; i++)
		if (sched[i] != want[i])
			return BAD("saved with %s = %lld, this job has %lld", sched_names[i],
				   (long long)sched[i], (long long)want[i]);
	for (int k = 0; k < a->n; k++) {
		if (get(r, shape, sizeof(shape)))
			return BAD("truncated in the matrix shapes");
		if (shape[0] != (uint32_t)a->m[k].out || shape[1] != (uint32_t)a->m[k].in)
			return BAD("matrix %d saved as %u x %u, this job has %d x %d", k,
				   shape[0], shape[1], a->m[k].out, a->m[k].in);
	}
	return ADA_OK;
}

static int read_counters_and_masks(const struct rank_allocator *a, struct blob_reader *r,
				   struct restored *st, struct ada_err *err)
{
	size_t total = (size_t)a->b0;
	uint8_t flag;

	if (get(r, &st->last_step, 8) || get(r, &st->n_updates, 8) ||
	    get(r, &st->n_nonfinite, 8) || get(r, &flag, 1))
		return BAD("truncated in the counters");
	if (st->last_step < -1 || st->last_step == INT64_MAX ||
	    st->n_updates < 0 || st->n_updates > st->last_step + 1 ||
	    st->n_nonfinite < 0 || st->n_nonfinite > st->last_step + 1 - st->n_updates ||
	    flag > 1)
		return BAD("counters out of range (last step %lld, %lld updates, %lld skipped)",
			   (long long)st->last_step, (long long)st->n_updates,
			   (long long)st->n_nonfinite);
	st->frozen = flag;
	if (st->frozen != (st->last_step >= a->t_freeze))
		return BAD("frozen flag %d contradicts last step %lld (freeze at %lld)",
			   flag, (long long)st->last_step, (long long)a->t_freeze);
	st->kept = xcalloc(total, sizeof(*st->kept));
	if (!st->kept)
		return ada_fail(err, ADA_ENOMEM, "rank allocator state: out of memory");
	for (size_t i = 0; i < total; i++) {
		if (get(r, &flag, 1))
			return BAD("truncated in the masks");
		if (flag > 1)
			return BAD("mask byte %zu is %u, not 0 or 1", i, flag);
		st->kept[i] = flag;
	}
	return ADA_OK;
}

static int read_buffers(const struct rank_allocator *a, struct blob_reader *r,
			struct restored *st, struct ada_err *err)
{
	size_t want = st->frozen ? 0 : a->n_elems * (size_t)a->n_bufs;
	int64_t n_buf;

	if (get(r, &n_buf, 8))
		return BAD("truncated before the importance buffers");
	if (n_buf < 0 || (uint64_t)n_buf != want)
		return BAD("%lld importance values, expected %zu", (long long)n_buf, want);
	if (!want)
		return ADA_OK;
	if (r->len - r->off < want * sizeof(float))
		return BAD("truncated in the importance buffers");
	st->buf = xalloc_aligned(want, sizeof(float));
	if (!st->buf)
		return ada_fail(err, ADA_ENOMEM, "rank allocator state: out of memory for %zu values",
				want);
	(void)get(r, st->buf, want * sizeof(float));
	for (size_t i = 0; i < want; i++)
		if (!(st->buf[i] >= 0.0f && st->buf[i] <= FLT_MAX))
			return BAD("importance value %zu is %g (must be finite, >= 0)", i,
				   (double)st->buf[i]);
	return ADA_OK;
}

static int read_history(const struct rank_allocator *a, struct blob_reader *r,
			struct restored *st, struct ada_err *err)
{
	size_t rec_bytes = 3 * 8 + 1 + (size_t)a->n * sizeof(int32_t);
	int64_t n_hist, prev = -1;

	if (get(r, &n_hist, 8))
		return BAD("truncated before the mask history");
	if (n_hist < 0 || (uint64_t)n_hist > (r->len - r->off) / rec_bytes)
		return BAD("history of %lld masks does not fit the %zu bytes left",
			   (long long)n_hist, r->len - r->off);
	st->n_hist = (size_t)n_hist;
	if (st->frozen && !st->n_hist)
		return BAD("frozen without a final mask in the history");
	if (!st->n_hist)
		return ADA_OK;
	st->hist = xcalloc(st->n_hist, sizeof(*st->hist));
	st->hist_ranks = xcalloc(st->n_hist, (size_t)a->n * sizeof(int32_t));
	if (!st->hist || !st->hist_ranks)
		return ada_fail(err, ADA_ENOMEM, "rank allocator state: out of memory for %zu masks",
				st->n_hist);
	for (size_t i = 0; i < st->n_hist; i++) {
		struct hist_entry *h = &st->hist[i];
		int32_t *ranks = st->hist_ranks + i * (size_t)a->n;
		int64_t sum = 0;
		uint8_t final;

		if (get(r, &h->step, 8) || get(r, &h->budget, 8) || get(r, &h->kept, 8) ||
		    get(r, &final, 1) || get(r, ranks, (size_t)a->n * sizeof(int32_t)))
			return BAD("truncated in mask %zu", i);
		if (h->step <= prev || h->step > st->last_step)
			return BAD("mask %zu at step %lld is out of order", i, (long long)h->step);
		if (h->budget < 0 || h->budget > a->b0)
			return BAD("mask %zu has budget %lld", i, (long long)h->budget);
		for (int k = 0; k < a->n; k++) {
			if (ranks[k] < 0 || ranks[k] > a->r)
				return BAD("mask %zu gives matrix %d rank %d", i, k, (int)ranks[k]);
			sum += ranks[k];
		}
		if (sum != h->kept)
			return BAD("mask %zu keeps %lld triplets but its ranks sum to %lld", i,
				   (long long)h->kept, (long long)sum);
		if (final > 1 || final != (st->frozen && i + 1 == st->n_hist))
			return BAD("mask %zu has final flag %u", i, final);
		h->final = final;
		prev = h->step;
	}
	return ADA_OK;
}

/* The current masks are the last recorded pattern (all kept before any). */
static int check_masks_match_history(const struct rank_allocator *a,
				     const struct restored *st, struct ada_err *err)
{
	const int32_t *last = st->n_hist ? st->hist_ranks + (st->n_hist - 1) * (size_t)a->n : NULL;

	for (int k = 0; k < a->n; k++) {
		const bool *kept = st->kept + (size_t)k * a->r;
		int rank = 0;

		for (int i = 0; i < a->r; i++)
			rank += kept[i];
		if (rank != (last ? last[k] : a->r))
			return BAD("matrix %d keeps %d triplets, its last recorded rank is %d",
				   k, rank, last ? (int)last[k] : a->r);
	}
	return ADA_OK;
}

int rank_allocator_restore(struct rank_allocator *a, const void *blob, size_t len,
			   struct ada_err *err)
{
	struct blob_reader r = { blob, len, 0 };
	struct restored st = { 0 };
	int rc;

	rc = read_fingerprint(a, &r, err);
	if (!rc)
		rc = read_counters_and_masks(a, &r, &st, err);
	if (!rc)
		rc = read_buffers(a, &r, &st, err);
	if (!rc)
		rc = read_history(a, &r, &st, err);
	if (!rc)
		rc = check_masks_match_history(a, &st, err);
	if (!rc && r.off != r.len)
		rc = BAD("%zu bytes of trailing garbage", r.len - r.off);
	if (rc) {
		restored_release(&st);
		return rc;
	}

	free(a->kept);
	free(a->buf);
	free(a->hist);
	free(a->hist_ranks);
	a->kept = st.kept;
	a->buf = st.buf;
	a->hist = st.hist;
	a->hist_ranks = st.hist_ranks;
	a->n_hist = a->cap_hist = st.n_hist;
	a->cap_hist_ranks = st.n_hist * (size_t)a->n;
	a->last_step = st.last_step;
	a->n_updates = st.n_updates;
	a->n_nonfinite = st.n_nonfinite;
	a->frozen = st.frozen;
	count_kept(a);
	if (a->cfg.method == ADA_METHOD_LORA_PRUNE || a->frozen)
		apply_gates(a);
	return ADA_OK;
}
