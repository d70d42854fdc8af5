/* Tests of train/rank_allocator.c: selection, masks, importance EMAs and
 * scores (hand-computed), variants, non-finite steps, freeze, history and
 * checkpoint round trips. */
#include "check.h"

#include <stdbool.h>

#include "train/rank_allocator.h"
#include "util/err.h"
#include "util/pool.h"
#include "util/rng.h"

#define MAX_MATS 16

/* Test-owned adapter arrays behind the allocator's borrowed views. */
struct fixture {
	int n, r;
	int out[MAX_MATS], in[MAX_MATS];
	float *mem[MAX_MATS];         /* one block per matrix */
	size_t size[MAX_MATS];        /* floats in the weights (= in the grads) */
	float *P[MAX_MATS], *gate[MAX_MATS], *Q[MAX_MATS];
	float *dP[MAX_MATS], *dgate[MAX_MATS], *dQ[MAX_MATS];
	struct rank_matrix views[MAX_MATS];
};

static void fixture_init(struct fixture *f, int n, const int *out, const int *in, int r)
{
	memset(f, 0, sizeof(*f));
	f->n = n;
	f->r = r;
	for (int k = 0; k < n; k++) {
		size_t sz = (size_t)out[k] * r + r + (size_t)r * in[k];

		f->out[k] = out[k];
		f->in[k] = in[k];
		f->size[k] = sz;
		f->mem[k] = calloc(2 * sz, sizeof(float));
		f->P[k] = f->mem[k];
		f->gate[k] = f->P[k] + (size_t)out[k] * r;
		f->Q[k] = f->gate[k] + r;
		f->dP[k] = f->mem[k] + sz;
		f->dgate[k] = f->dP[k] + (size_t)out[k] * r;
		f->dQ[k] = f->dgate[k] + r;
		f->views[k] = (struct rank_matrix){
			.out = out[k], .in = in[k], .r = r,
			.P = f->P[k], .gate = f->gate[k], .Q = f->Q[k],
			.dP = f->dP[k], .dgate = f->dgate[k], .dQ = f->dQ[k],
		};
	}
}

static void fixture_release(struct fixture *f)
{
	for (int k = 0; k < f->n; k++)
		free(f->mem[k]);
}

/* Same shapes: copy weights and gradients. */
static void fixture_copy(struct fixture *dst, const struct fixture *src)
{
	for (int k = 0; k < src->n; k++)
		memcpy(dst->mem[k], src->mem[k], 2 * src->size[k] * sizeof(float));
}

static bool fixture_equal(const struct fixture *a, const struct fixture *b)
{
	for (int k = 0; k < a->n; k++)
		if (memcmp(a->mem[k], b->mem[k], 2 * a->size[k] * sizeof(float)))
			return false;
	return true;
}

/* Reproducible "optimizer step" number t: nudge the weights (lambdas too, in
 * adalora mode, so masked ones come back) and draw new gradients. */
static void fake_update(struct fixture *f, uint64_t seed, int64_t t, bool touch_gate)
{
	struct rng r;

	rng_seed(&r, seed * 1000003u + (uint64_t)t);
	for (int k = 0; k < f->n; k++) {
		size_t sz = f->size[k];

		for (size_t i = 0; i < sz; i++) {
			float *w = f->mem[k] + i;
			bool is_gate = w >= f->gate[k] && w < f->Q[k];

			if (!is_gate || touch_gate)
				*w += (float)(0.01 * rng_normal(&r));
			f->mem[k][sz + i] = (float)rng_normal(&r);
		}
	}
}

static void fixture_randomize(struct fixture *f, uint64_t seed)
{
	struct rng r;

	rng_seed(&r, seed);
	for (int k = 0; k < f->n; k++)
		for (size_t i = 0; i < f->size[k]; i++)
			f->mem[k][i] = (float)(0.5 * rng_normal(&r));
}

static struct rank_allocator_config config(enum ada_method_type mode, enum ada_importance imp,
					   struct ada_schedule s)
{
	return (struct rank_allocator_config){
		.method = mode, .importance = imp, .beta1 = 0.85, .beta2 = 0.85, .schedule = s,
	};
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ---- selection ---------------------------------------------------------- */

static void test_select_matches_sort(void)
{
	struct rng r;
	size_t sizes[] = { 1, 2, 3, 5, 8, 13, 31, 64, 100, 257, 1000, 4099, 65536 };
	double *v = malloc(65536 * sizeof(*v)), *copy = malloc(65536 * sizeof(*v));
	double *sorted = malloc(65536 * sizeof(*v));
	int bad = 0;

	rng_seed(&r, 7);
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si];

		for (int seed = 0; seed < 12; seed++) {
			/* Even seeds: continuous values; odd: a few values, many ties. */
			for (size_t i = 0; i < n; i++)
				v[i] = seed & 1 ? (double)rng_below(&r, 5) : rng_normal(&r);
			if (seed == 2)          /* already sorted */
				qsort(v, n, sizeof(*v), cmp_d);
			memcpy(sorted, v, n * sizeof(*v));
			qsort(sorted, n, sizeof(*v), cmp_d);
			/* Every k for small n, a sample for large. */
			size_t step = n <= 300 ? 1 : n / 97;
			for (size_t k = 1; k <= n; k += step) {
				memcpy(copy, v, n * sizeof(*v));
				bad += rank_select_kth(copy, n, k) != sorted[k - 1];
			}
			memcpy(copy, v, n * sizeof(*v));
			bad += rank_select_kth(copy, n, n) != sorted[n - 1];
		}
	}
	CHECK_INT_EQ(bad, 0);
	/* All equal (the all-zero scores before any importance). */
	for (size_t i = 0; i < 10000; i++)
		v[i] = 0.0;
	CHECK(rank_select_kth(v, 10000, 5000) == 0.0);
	free(sorted);
	free(copy);
	free(v);
}

/* ---- masks -------------------------------------------------------------- */

/* With distinct scores exactly b(t) triplets survive, and they are the
 * highest-scoring ones; checked at every mask of a whole run. */
static void run_exact_budget(enum ada_importance imp)
{
	static const int out[6] = { 8, 16, 4, 12, 8, 5 }, in[6] = { 8, 4, 16, 6, 9, 7 };
	struct ada_schedule s = { .total_steps = 60, .tinit = 5, .tfinal = 10, .deltaT = 3,
				     .init_r = 4, .target_r = 1, .n_matrices = 6 };
	struct rank_allocator_config c = config(ADA_METHOD_ADALORA, imp, s);
	struct rank_allocator *a = NULL;
	struct fixture f;
	struct ada_err err;
	double scores[24], sorted[24];
	int n_masks = 0;

	fixture_init(&f, 6, out, in, 4);
	fixture_randomize(&f, 11);
	CHECK_OK(rank_allocator_new(&c, f.views, 6, &a, &err), &err);
	if (!a)
		goto out;
	for (int64_t t = 0; t < s.total_steps; t++) {
		struct rank_step_info info;

		fake_update(&f, 3, t, true);
		/* The freeze step takes no importance update: its scores are
		 * the ones before the step. */
		if (t == 50)
			CHECK_OK(rank_allocator_scores(a, scores, &err), &err);
		CHECK_OK(rank_allocator_step(a, t, &info, &err), &err);
		if (!info.masked)
			continue;
		n_masks++;
		if (t != 50)
			CHECK_OK(rank_allocator_scores(a, scores, &err), &err);
		CHECK_INT_EQ(info.budget, budget_schedule_at(&s, t));
		CHECK_INT_EQ(info.kept, info.budget);
		CHECK_INT_EQ(rank_allocator_kept_total(a), info.budget);
		memcpy(sorted, scores, sizeof(scores));
		qsort(sorted, 24, sizeof(*sorted), cmp_d);
		for (int k = 0; k < 6; k++) {
			const bool *kept = rank_allocator_kept(a, k);

			for (int i = 0; i < 4; i++) {
				bool want = info.budget < 24 ? scores[k * 4 + i] > sorted[23 - info.budget]
							     : true;
				CHECK_MSG(kept[i] == want, "t=%lld matrix %d triplet %d",
					  (long long)t, k, i);
				if (!kept[i])
					CHECK(f.gate[k][i] == 0.0f);
			}
		}
	}
	CHECK_INT_EQ(n_masks, budget_schedule_n_mask_steps(&s));
	CHECK(rank_allocator_frozen(a));
	CHECK_INT_EQ(rank_allocator_kept_total(a), 6);
out:
	rank_allocator_free(a);
	fixture_release(&f);
}

static void test_exact_budget_survives(void)
{
	run_exact_budget(ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY);
	run_exact_budget(ADA_IMPORTANCE_SENSITIVITY);
	run_exact_budget(ADA_IMPORTANCE_MAGNITUDE);
}

/* Ties at the threshold are all masked; the kept count says so. */
static void test_ties_all_masked(void)
{
	static const int out[2] = { 3, 2 }, in[2] = { 2, 3 };
	/* b0 = 8, bT = 6, ti = 0, tf = 1: step 1 is a mask step with
	 * b(1) = floor(6 + 2 * (1 - 1/2)^3) = 6, so k = 2. */
	struct ada_schedule s = { .total_steps = 3, .tinit = 0, .tfinal = 1, .deltaT = 1,
				     .init_r = 4, .target_r = 3, .n_matrices = 2 };
	struct rank_allocator_config c = config(ADA_METHOD_ADALORA, ADA_IMPORTANCE_MAGNITUDE, s);
	static const float lambda[2][4] = { { 1, -2, 2, 3 }, { 2, 5, -6, 7 } };
	struct rank_allocator *a = NULL;
	struct rank_step_info info;
	struct rank_mask_record rec;
	struct fixture f;
	struct ada_err err;
	float p_before[6], q_before[8];

	fixture_init(&f, 2, out, in, 4);
	fixture_randomize(&f, 5);
	memcpy(f.gate[0], lambda[0], sizeof(lambda[0]));
	memcpy(f.gate[1], lambda[1], sizeof(lambda[1]));
	memcpy(p_before, f.P[1], sizeof(p_before));
	memcpy(q_before, f.Q[1], sizeof(q_before));
	CHECK_OK(rank_allocator_new(&c, f.views, 2, &a, &err), &err);
	if (!a)
		goto out;
	CHECK_OK(rank_allocator_step(a, 0, &info, &err), &err);
	CHECK(!info.masked);
	CHECK_OK(rank_allocator_step(a, 1, &info, &err), &err);
	CHECK(info.masked);
	CHECK_INT_EQ(info.budget, 6);
	/* Sorted |lambda|: 1 2 2 2 3 5 6 7; the 2nd smallest is 2, and all four
	 * scores <= 2 go: kept 4, below the budget of 6. */
	CHECK_INT_EQ(info.kept, 4);
	CHECK(f.gate[0][0] == 0 && f.gate[0][1] == 0 && f.gate[0][2] == 0 && f.gate[0][3] == 3);
	CHECK(f.gate[1][0] == 0 && f.gate[1][1] == 5 && f.gate[1][2] == -6 && f.gate[1][3] == 7);
	CHECK_INT_EQ(rank_allocator_rank(a, 0), 1);
	CHECK_INT_EQ(rank_allocator_rank(a, 1), 3);
	/* P, Q untouched. */
	CHECK(!memcmp(p_before, f.P[1], sizeof(p_before)));
	CHECK(!memcmp(q_before, f.Q[1], sizeof(q_before)));
	CHECK_INT_EQ(rank_allocator_n_records(a), 1);
	rank_allocator_record(a, 0, &rec);
	CHECK_INT_EQ(rec.step, 1);
	CHECK_INT_EQ(rec.budget, 6);
	CHECK_INT_EQ(rec.kept, 4);
	CHECK(!rec.final);
	CHECK_INT_EQ(rec.ranks[0], 1);
	CHECK_INT_EQ(rec.ranks[1], 3);
out:
	rank_allocator_free(a);
	fixture_release(&f);
}

/* k = b(0) - b(t) = 0 masks nothing, even with all scores tied at 0. */
static void test_k_zero_masks_nothing(void)
{
	static const int out[3] = { 4, 4, 4 }, in[3] = { 4, 4, 4 };
	struct ada_schedule s = { .total_steps = 20, .tinit = 2, .tfinal = 5, .deltaT = 2,
				     .init_r = 3, .target_r = 3, .n_matrices = 3 };
	struct rank_allocator_config c = config(ADA_METHOD_ADALORA,
						ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, s);
	struct rank_allocator *a = NULL;
	struct fixture f;
	struct ada_err err;
	int masks = 0;

	fixture_init(&f, 3, out, in, 3);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 3; i++)
			f.gate[k][i] = 1.0f + (float)i;
	/* Gradients stay 0: every score is exactly 0. */
	CHECK_OK(rank_allocator_new(&c, f.views, 3, &a, &err), &err);
	if (!a)
		goto out;
	for (int64_t t = 0; t < 20; t++) {
		struct rank_step_info info;

		CHECK_OK(rank_allocator_step(a, t, &info, &err), &err);
		masks += info.masked;
		CHECK_INT_EQ(info.kept, 9);
	}
	CHECK_INT_EQ(masks, budget_schedule_n_mask_steps(&s));
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 3; i++)
			CHECK(f.gate[k][i] == 1.0f + (float)i);
out:
	rank_allocator_free(a);
	fixture_release(&f);
}

/* ---- importance, by hand ------------------------------------------------- */

/*
 * One matrix, out = 2, r = 2, in = 3, beta1 = beta2 = 0.85, no mask in the
 * two steps (t <= tinit = 5). Weights after each update (the same in both
 * steps) and gradients, with I = |w * g|:
 *
 *   P = [[1, 2], [-1, 0.5]]    dP1 = [[0.5, -1], [2, 4]]  I1 = [[0.5, 2], [2, 2]]
 *                              dP2 = [[0, 1], [1, 2]]     I2 = [[0, 2], [1, 1]]
 *   lambda = [0.5, -2]         dl1 = [2, 0.25]            I1 = [1, 0.5]
 *                              dl2 = [-4, 1]              I2 = [2, 2]
 *   Q = [[1, -2, 0.5],         dQ1 = [[1, 0.5, 2],        I1 = [[1, 1, 1],
 *        [3, 1, -1]]                  [0, 1, -1]]               [0, 1, 1]]
 *                              dQ2 = [[2, 0, 0],          I2 = [[2, 0, 0],
 *                                     [1, 1, 1]]                [3, 1, 1]]
 *
 * Step 1 (buffers 0): Ibar = 0.15 I1, Ubar = 0.15 |I1 - 0.15 I1| = 0.1275 I1,
 * s = 0.019125 I1^2.
 *   S_0 = s(l0) + mean s(P[:,0]) + mean s(Q[0,:])
 *       = 0.019125 * (1 + (0.25 + 4)/2 + (1 + 1 + 1)/3) = 0.078890625
 *   S_1 = 0.019125 * (0.25 + (4 + 4)/2 + (0 + 1 + 1)/3) = 0.09403125
 * Step 2: Ibar = 0.1275 I1 + 0.15 I2, Ubar = 0.108375 I1 + 0.15 |I2 - Ibar|:
 *   (I1, I2) = (0.5, 0): Ibar 0.06375, Ubar 0.0541875 + 0.0095625 = 0.06375, s 0.0040640625
 *              (2, 2):   Ibar 0.555,   Ubar 0.21675 + 0.21675 = 0.4335,     s 0.2405925
 *              (2, 1):   Ibar 0.405,   Ubar 0.21675 + 0.08925 = 0.306,      s 0.12393
 *              (1, 2):   Ibar 0.4275,  Ubar 0.108375 + 0.235875 = 0.34425,  s 0.147166875
 *              (0.5, 2): Ibar 0.36375, Ubar 0.0541875 + 0.2454375 = 0.299625, s 0.10898859375
 *              (1, 0):   Ibar 0.1275,  Ubar 0.108375 + 0.019125 = 0.1275,   s 0.01625625
 *              (0, 3):   Ibar 0.45,    Ubar 0 + 0.3825 = 0.3825,            s 0.172125
 *              (1, 1):   Ibar 0.2775,  Ubar 0.108375 + 0.108375 = 0.21675,  s 0.060148125
 *   S_0 = 0.147166875 + (0.0040640625 + 0.12393)/2
 *         + (0.147166875 + 0.01625625 + 0.01625625)/3 = 0.27105703125
 *   S_1 = 0.10898859375 + (0.2405925 + 0.12393)/2
 *         + (0.172125 + 0.060148125 + 0.060148125)/3 = 0.38872359375
 * Sensitivity only (s = Ibar), after step 2:
 *   S_0 = 0.4275 + (0.06375 + 0.405)/2 + (0.4275 + 0.1275 + 0.1275)/3 = 0.889375
 *   S_1 = 0.36375 + (0.555 + 0.405)/2 + (0.45 + 0.2775 + 0.2775)/3 = 1.17875
 * lora_prune drops the lambda term: after step 1 (0.059765625, 0.08925),
 * after step 2 (0.27105703125 - 0.147166875, 0.38872359375 - 0.10898859375)
 * = (0.12389015625, 0.279735).
 */
static const float hand_P[4] = { 1, 2, -1, 0.5f }, hand_lambda[2] = { 0.5f, -2 };
static const float hand_Q[6] = { 1, -2, 0.5f, 3, 1, -1 };
static const float hand_dP[2][4] = { { 0.5f, -1, 2, 4 }, { 0, 1, 1, 2 } };
static const float hand_dl[2][2] = { { 2, 0.25f }, { -4, 1 } };
static const float hand_dQ[2][6] = { { 1, 0.5f, 2, 0, 1, -1 }, { 2, 0, 0, 1, 1, 1 } };

static void run_hand(enum ada_method_type mode, enum ada_importance imp,
		     const double want1[2], const double want2[2])
{
	static const int out[1] = { 2 }, in[1] = { 3 };
	struct ada_schedule s = { .total_steps = 10, .tinit = 5, .tfinal = 2, .deltaT = 1,
				     .init_r = 2, .target_r = 1, .n_matrices = 1 };
	struct rank_allocator_config c = config(mode, imp, s);
	const double *want[2] = { want1, want2 };
	struct rank_allocator *a = NULL;
	struct fixture f;
	struct ada_err err;
	double scores[2];

	fixture_init(&f, 1, out, in, 2);
	memcpy(f.P[0], hand_P, sizeof(hand_P));
	memcpy(f.gate[0], hand_lambda, sizeof(hand_lambda));
	memcpy(f.Q[0], hand_Q, sizeof(hand_Q));
	CHECK_OK(rank_allocator_new(&c, f.views, 1, &a, &err), &err);
	if (!a)
		goto out;
	if (mode == ADA_METHOD_LORA_PRUNE)
		CHECK(f.gate[0][0] == 1.0f && f.gate[0][1] == 1.0f);
	for (int t = 0; t < 2; t++) {
		struct rank_step_info info;

		memcpy(f.dP[0], hand_dP[t], sizeof(hand_dP[t]));
		memcpy(f.dgate[0], hand_dl[t], sizeof(hand_dl[t]));
		memcpy(f.dQ[0], hand_dQ[t], sizeof(hand_dQ[t]));
		CHECK_OK(rank_allocator_step(a, t, &info, &err), &err);
		/* magnitude keeps no buffers: nothing to update */
		CHECK(info.updated == (imp != ADA_IMPORTANCE_MAGNITUDE));
		CHECK(!info.masked && !info.nonfinite);
		CHECK_OK(rank_allocator_scores(a, scores, &err), &err);
		CHECK_NEAR(scores[0], want[t][0], 1e-7);
		CHECK_NEAR(scores[1], want[t][1], 1e-7);
	}
out:
	rank_allocator_free(a);
	fixture_release(&f);
}

static void test_hand_two_steps(void)
{
	static const double su1[2] = { 0.078890625, 0.09403125 };
	static const double su2[2] = { 0.27105703125, 0.38872359375 };

	run_hand(ADA_METHOD_ADALORA, ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, su1, su2);
}

static void test_sensitivity_variant(void)
{
	/* After step 1 Ibar = 0.15 I1: 0.15 * (1 + 1.25 + 1) and 0.15 * (0.5 + 2 + 2/3). */
	static const double s1[2] = { 0.4875, 0.475 };
	static const double s2[2] = { 0.889375, 1.17875 };

	run_hand(ADA_METHOD_ADALORA, ADA_IMPORTANCE_SENSITIVITY, s1, s2);
}

static void test_magnitude_variant(void)
{
	static const double m[2] = { 0.5, 2.0 };

	run_hand(ADA_METHOD_ADALORA, ADA_IMPORTANCE_MAGNITUDE, m, m);
}

static void test_lora_prune_scores(void)
{
	static const double p1[2] = { 0.059765625, 0.08925 };
	static const double p2[2] = { 0.12389015625, 0.279735 };

	run_hand(ADA_METHOD_LORA_PRUNE, ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, p1, p2);
}

/* lora_prune: gates are 1 until masked, 0 while masked, 1 again when a
 * later mask keeps the doublet; the weights keep training throughout. */
static void test_lora_prune_gates(void)
{
	static const int out[4] = { 6, 6, 6, 6 }, in[4] = { 5, 5, 5, 5 };
	struct ada_schedule s = { .total_steps = 40, .tinit = 2, .tfinal = 8, .deltaT = 2,
				     .init_r = 3, .target_r = 1, .n_matrices = 4 };
	struct rank_allocator_config c = config(ADA_METHOD_LORA_PRUNE,
						ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, s);
	struct rank_allocator *a = NULL;
	struct fixture f;
	struct ada_err err;
	bool came_back = false, prev_kept[12];

	fixture_init(&f, 4, out, in, 3);
	fixture_randomize(&f, 21);
	CHECK_OK(rank_allocator_new(&c, f.views, 4, &a, &err), &err);
	if (!a)
		goto out;
	for (int i = 0; i < 12; i++)
		prev_kept[i] = true;
	for (int64_t t = 0; t < 40; t++) {
		struct rank_step_info info;
		int bad = 0;

		fake_update(&f, 9, t, false);
		CHECK_OK(rank_allocator_step(a, t, &info, &err), &err);
		for (int k = 0; k < 4; k++) {
			const bool *kept = rank_allocator_kept(a, k);

			for (int i = 0; i < 3; i++) {
				bad += f.gate[k][i] != (kept[i] ? 1.0f : 0.0f);
				if (kept[i] && !prev_kept[k * 3 + i])
					came_back = true;
				prev_kept[k * 3 + i] = kept[i];
			}
		}
		CHECK_INT_EQ(bad, 0);
		if (info.masked)
			CHECK_INT_EQ(info.kept, info.budget);
	}
	/* Random gradients reshuffle the scores; some doublet returns. */
	CHECK(came_back);
	CHECK_INT_EQ(rank_allocator_kept_total(a), 4);
out:
	rank_allocator_free(a);
	fixture_release(&f);
}

/* ---- non-finite steps, freeze ------------------------------------------ */

static void test_nonfinite_leaves_buffers(void)
{
	static const int out[2] = { 3, 4 }, in[2] = { 5, 2 };
	struct ada_schedule s = { .total_steps = 30, .tinit = 20, .tfinal = 5, .deltaT = 1,
				     .init_r = 2, .target_r = 1, .n_matrices = 2 };
	struct rank_allocator_config c = config(ADA_METHOD_ADALORA,
						ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, s);
	struct rank_allocator *a = NULL;
	struct rank_step_info info;
	struct fixture f;
	struct ada_err err;
	double before[4], after[4];
	void *blob0 = NULL, *blob1 = NULL;
	size_t len0 = 0, len1 = 0;

	fixture_init(&f, 2, out, in, 2);
	fixture_randomize(&f, 4);
	CHECK_OK(rank_allocator_new(&c, f.views, 2, &a, &err), &err);
	if (!a)
		goto out;
	fake_update(&f, 1, 0, true);
	CHECK_OK(rank_allocator_step(a, 0, &info, &err), &err);
	CHECK(info.updated);
	CHECK_OK(rank_allocator_scores(a, before, &err), &err);

	/* A NaN gradient in the last matrix's Q, an infinite one where w = 0
	 * (inf * 0 = NaN), and a product that overflows: each step is skipped
	 * whole, buffers of every matrix untouched. */
	float *bad_slot[3] = { &f.dQ[1][3], &f.dP[0][4], &f.dgate[1][1] };
	for (int i = 0; i < 3; i++) {
		fake_update(&f, 1, 1 + i, true);
		if (i == 0) {
			*bad_slot[0] = NAN;
		} else if (i == 1) {
			f.P[0][4] = 0.0f;
			*bad_slot[1] = INFINITY;
		} else {
			f.gate[1][1] = 1e30f;
			*bad_slot[2] = 1e30f;
		}
		CHECK_OK(rank_allocator_step(a, 1 + i, &info, &err), &err);
		CHECK(info.nonfinite && !info.updated);
		CHECK_OK(rank_allocator_scores(a, after, &err), &err);
		CHECK(!memcmp(before, after, sizeof(before)));
	}
	CHECK_INT_EQ(rank_allocator_nonfinite_steps(a), 3);
	/* A nonfinite step changes nothing but the counters and the step. */
	CHECK_OK(rank_allocator_save(a, &blob0, &len0, &err), &err);
	f.dQ[0][0] = NAN;
	CHECK_OK(rank_allocator_step(a, 4, &info, &err), &err);
	CHECK_OK(rank_allocator_save(a, &blob1, &len1, &err), &err);
	CHECK_INT_EQ(len0, len1);
	if (len0 == len1) {
		/* Differ exactly in last_step and n_nonfinite (16 of 24 counter bytes). */
		size_t diff = 0;
		for (size_t i = 0; i < len0; i++)
			diff += ((unsigned char *)blob0)[i] != ((unsigned char *)blob1)[i];
		CHECK(diff >= 2 && diff <= 16);
	}
	/* Finite again: the update resumes. */
	fake_update(&f, 1, 5, true);
	CHECK_OK(rank_allocator_step(a, 5, &info, &err), &err);
	CHECK(info.updated && !info.nonfinite);
	CHECK_OK(rank_allocator_scores(a, after, &err), &err);
	CHECK(memcmp(before, after, sizeof(before)) != 0);
out:
	free(blob0);
	free(blob1);
	rank_allocator_free(a);
	fixture_release(&f);
}

static void test_freeze(void)
{
	static const int out[3] = { 4, 5, 6 }, in[3] = { 6, 5, 4 };
	/* tfinal = 0: the freeze falls on T - 1 = 11 (budget.h). */
	struct ada_schedule s = { .total_steps = 12, .tinit = 3, .tfinal = 0, .deltaT = 4,
				     .init_r = 4, .target_r = 2, .n_matrices = 3 };
	struct rank_allocator_config c = config(ADA_METHOD_ADALORA,
						ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, s);
	struct rank_allocator *a = NULL;
	struct rank_step_info info;
	struct fixture f;
	struct ada_err err;
	double scores[12];
	bool kept_at_freeze[12];

	fixture_init(&f, 3, out, in, 4);
	fixture_randomize(&f, 8);
	CHECK_OK(rank_allocator_new(&c, f.views, 3, &a, &err), &err);
	if (!a)
		goto out;
	for (int64_t t = 0; t <= 11; t++) {
		fake_update(&f, 2, t, true);
		CHECK_OK(rank_allocator_step(a, t, &info, &err), &err);
		CHECK_INT_EQ(info.masked, t == 4 || t == 8 || t == 11);
		CHECK_INT_EQ(info.froze, t == 11);
		CHECK_INT_EQ(info.updated, t < 11);
	}
	CHECK(rank_allocator_frozen(a));
	CHECK_INT_EQ(info.budget, 6);
	CHECK_INT_EQ(info.kept, 6);
	/* The buffers are gone. */
	CHECK_INT_EQ(rank_allocator_scores(a, scores, &err), ADA_EINVAL);
	for (int k = 0; k < 3; k++)
		memcpy(kept_at_freeze + k * 4, rank_allocator_kept(a, k), 4 * sizeof(bool));
	/* Later steps (a trainer running past T, or the same after a resume):
	 * the optimizer revives masked lambdas, the step zeroes them again and
	 * leaves kept ones alone; no new masks. */
	for (int64_t t = 12; t < 16; t++) {
		float kept_vals[12];

		fake_update(&f, 2, t, true);
		for (int k = 0; k < 3; k++)
			for (int i = 0; i < 4; i++)
				kept_vals[k * 4 + i] = f.gate[k][i];
		CHECK_OK(rank_allocator_step(a, t, &info, &err), &err);
		CHECK(!info.masked && !info.updated && !info.froze);
		for (int k = 0; k < 3; k++)
			for (int i = 0; i < 4; i++)
				CHECK(f.gate[k][i] == (kept_at_freeze[k * 4 + i] ?
						       kept_vals[k * 4 + i] : 0.0f));
	}
	CHECK_INT_EQ(rank_allocator_n_records(a), 3);
out:
	rank_allocator_free(a);
	fixture_release(&f);
}

/* ---- history ------------------------------------------------------------ */

static void test_history(void)
{
	static const int out[5] = { 3, 4, 5, 6, 7 }, in[5] = { 7, 6, 5, 4, 3 };
	struct ada_schedule s = { .total_steps = 50, .tinit = 4, .tfinal = 10, .deltaT = 5,
				     .init_r = 6, .target_r = 2, .n_matrices = 5 };
	struct rank_allocator_config c = config(ADA_METHOD_ADALORA,
						ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, s);
	struct rank_allocator *a = NULL;
	struct fixture f;
	struct ada_err err;
	size_t n;

	fixture_init(&f, 5, out, in, 6);
	fixture_randomize(&f, 13);
	CHECK_OK(rank_allocator_new(&c, f.views, 5, &a, &err), &err);
	if (!a)
		goto out;
	CHECK_INT_EQ(rank_allocator_n_records(a), 0);
	for (int64_t t = 0; t < 50; t++) {
		struct rank_step_info info;

		fake_update(&f, 6, t, true);
		CHECK_OK(rank_allocator_step(a, t, &info, &err), &err);
		if (info.masked) {
			struct rank_mask_record rec;

			rank_allocator_record(a, rank_allocator_n_records(a) - 1, &rec);
			for (int k = 0; k < 5; k++)
				CHECK_INT_EQ(rec.ranks[k], rank_allocator_rank(a, k));
		}
	}
	n = rank_allocator_n_records(a);
	CHECK_INT_EQ(n, budget_schedule_n_mask_steps(&s));
	for (size_t i = 0; i < n; i++) {
		struct rank_mask_record rec;
		int64_t sum = 0;

		rank_allocator_record(a, i, &rec);
		CHECK_INT_EQ(rec.step, budget_schedule_mask_step(&s, (int64_t)i));
		CHECK_INT_EQ(rec.budget, budget_schedule_at(&s, rec.step));
		for (int k = 0; k < 5; k++) {
			CHECK(rec.ranks[k] >= 0 && rec.ranks[k] <= 6);
			sum += rec.ranks[k];
		}
		CHECK_INT_EQ(sum, rec.kept);
		CHECK_INT_EQ(rec.kept, rec.budget);
		CHECK_INT_EQ(rec.final, i + 1 == n);
	}
	/* The final pattern is the current one. */
	if (n) {
		struct rank_mask_record rec;

		rank_allocator_record(a, n - 1, &rec);
		CHECK_INT_EQ(rec.step, 40);
		CHECK_INT_EQ(rec.budget, 10);
		for (int k = 0; k < 5; k++)
			CHECK_INT_EQ(rec.ranks[k], rank_allocator_rank(a, k));
	}
out:
	rank_allocator_free(a);
	fixture_release(&f);
}

/* ---- checkpoints -------------------------------------------------------- */

static bool same_state(const struct rank_allocator *a, const struct rank_allocator *b)
{
	void *x = NULL, *y = NULL;
	size_t lx = 0, ly = 0;
	bool same;

	if (rank_allocator_save(a, &x, &lx, NULL) || rank_allocator_save(b, &y, &ly, NULL)) {
		free(x);
		free(y);
		return false;
	}
	same = lx == ly && !memcmp(x, y, lx);
	free(x);
	free(y);
	return same;
}

/* Save at `at`, restore into an allocator that has lived a different life,
 * continue both to the end: identical gates, masks, infos and state. */
static void run_round_trip(enum ada_method_type mode, enum ada_importance imp, int64_t at)
{
	static const int out[4] = { 6, 8, 3, 5 }, in[4] = { 4, 7, 9, 5 };
	struct ada_schedule s = { .total_steps = 40, .tinit = 3, .tfinal = 9, .deltaT = 2,
				     .init_r = 3, .target_r = 1, .n_matrices = 4 };
	struct rank_allocator_config c = config(mode, imp, s);
	struct rank_allocator *a = NULL, *b = NULL;
	struct fixture fa, fb;
	struct ada_err err;
	void *blob = NULL;
	size_t len = 0;
	bool touch = mode == ADA_METHOD_ADALORA;

	fixture_init(&fa, 4, out, in, 3);
	fixture_init(&fb, 4, out, in, 3);
	fixture_randomize(&fa, 30);
	fixture_randomize(&fb, 31);
	CHECK_OK(rank_allocator_new(&c, fa.views, 4, &a, &err), &err);
	CHECK_OK(rank_allocator_new(&c, fb.views, 4, &b, &err), &err);
	if (!a || !b)
		goto out;
	for (int64_t t = 0; t <= at; t++) {
		fake_update(&fa, 40, t, touch);
		CHECK_OK(rank_allocator_step(a, t, NULL, &err), &err);
	}
	/* b takes a different path, through the freeze if it can. */
	for (int64_t t = 0; t < 35; t++) {
		fake_update(&fb, 41, t, touch);
		CHECK_OK(rank_allocator_step(b, t, NULL, &err), &err);
	}
	CHECK_OK(rank_allocator_save(a, &blob, &len, &err), &err);
	/* The checkpoint holds the weights; b's gates are set by restore. */
	fixture_copy(&fb, &fa);
	if (mode == ADA_METHOD_LORA_PRUNE)
		for (int k = 0; k < 4; k++)
			for (int i = 0; i < 3; i++)
				fb.gate[k][i] = 0.5f;
	CHECK_OK(rank_allocator_restore(b, blob, len, &err), &err);
	CHECK(fixture_equal(&fa, &fb));
	CHECK(same_state(a, b));
	for (int64_t t = at + 1; t < 45; t++) {
		struct rank_step_info ia, ib;

		fake_update(&fa, 42, t, touch);
		fake_update(&fb, 42, t, touch);
		CHECK_OK(rank_allocator_step(a, t, &ia, &err), &err);
		CHECK_OK(rank_allocator_step(b, t, &ib, &err), &err);
		CHECK(!memcmp(&ia, &ib, sizeof(ia)));
		CHECK_MSG(fixture_equal(&fa, &fb), "%s/%s saved at %lld: weights differ at %lld",
			  ada_method_name(mode), ada_importance_name(imp), (long long)at,
			  (long long)t);
	}
	CHECK(same_state(a, b));
	CHECK_INT_EQ(rank_allocator_n_records(a), rank_allocator_n_records(b));
out:
	free(blob);
	rank_allocator_free(a);
	rank_allocator_free(b);
	fixture_release(&fa);
	fixture_release(&fb);
}

static void test_save_restore_round_trip(void)
{
	int64_t points[] = { 0, 2, 7, 20, 30, 31, 38 };   /* 31 is the freeze */

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		run_round_trip(ADA_METHOD_ADALORA, ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, points[i]);
		run_round_trip(ADA_METHOD_ADALORA, ADA_IMPORTANCE_SENSITIVITY, points[i]);
		run_round_trip(ADA_METHOD_ADALORA, ADA_IMPORTANCE_MAGNITUDE, points[i]);
		run_round_trip(ADA_METHOD_LORA_PRUNE, ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY,
			       points[i]);
	}
}

/* Damaged and foreign blobs are refused (never a crash) and leave the
 * allocator as it was. */
static void test_restore_refuses_bad_blobs(void)
{
	static const int out[2] = { 3, 4 }, in[2] = { 4, 3 };
	struct ada_schedule s = { .total_steps = 30, .tinit = 2, .tfinal = 5, .deltaT = 3,
				     .init_r = 3, .target_r = 1, .n_matrices = 2 };
	struct rank_allocator_config c = config(ADA_METHOD_ADALORA,
						ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, s);
	struct rank_allocator *a = NULL, *b = NULL, *other = NULL;
	struct fixture fa, fb;
	struct ada_err err;
	unsigned char *blob = NULL, *bad;
	void *before = NULL, *now = NULL;
	size_t len = 0, lbefore = 0, lnow = 0;
	int truncations_ok = 0, flips_accepted = 0, unchanged = 1;

	fixture_init(&fa, 2, out, in, 3);
	fixture_init(&fb, 2, out, in, 3);
	fixture_randomize(&fa, 50);
	CHECK_OK(rank_allocator_new(&c, fa.views, 2, &a, &err), &err);
	CHECK_OK(rank_allocator_new(&c, fb.views, 2, &b, &err), &err);
	if (!a || !b)
		goto out;
	for (int64_t t = 0; t < 12; t++) {
		fake_update(&fa, 51, t, true);
		CHECK_OK(rank_allocator_step(a, t, NULL, &err), &err);
	}
	CHECK_OK(rank_allocator_save(a, (void **)&blob, &len, &err), &err);
	CHECK_OK(rank_allocator_save(b, &before, &lbefore, &err), &err);
	if (!blob || !before)
		goto out;
	bad = malloc(len);
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(bad, blob, cut);
		truncations_ok += rank_allocator_restore(b, bad, cut, &err) == ADA_OK;
	}
	CHECK_INT_EQ(truncations_ok, 0);
	/* Trailing garbage. */
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, blob, len);
	longer[len] = 0;
	CHECK_INT_EQ(rank_allocator_restore(b, longer, len + 1, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "trailing") != NULL);
	free(longer);
	/* Every single-byte flip: refused, or (importance values only) a
	 * different but valid state. Either way no crash. */
	for (size_t i = 0; i < len; i++) {
		int rc;

		memcpy(bad, blob, len);
		bad[i] ^= 0x41;
		rc = rank_allocator_restore(b, bad, len, &err);
		if (rc == ADA_OK) {
			flips_accepted++;
			rank_allocator_free(b);
			b = NULL;
			if (rank_allocator_new(&c, fb.views, 2, &b, &err))
				break;
		} else {
			CHECK_INT_EQ(rc, ADA_EFORMAT);
			CHECK(strncmp(err.msg, "rank allocator state: ", 22) == 0);
		}
	}
	/* Only flips inside the importance values (2 buffers x 48 elements x
	 * 4 bytes) can pass every check. */
	CHECK(flips_accepted > 0);
	CHECK(flips_accepted <= 2 * 48 * 4);
	free(bad);
	if (!b)
		goto out;
	CHECK_OK(rank_allocator_save(b, &now, &lnow, &err), &err);
	unchanged = lnow == lbefore && !memcmp(now, before, lnow);
	CHECK(unchanged);

	/* A blob of another configuration. */
	c.beta1 = 0.9;
	CHECK_OK(rank_allocator_new(&c, fb.views, 2, &other, &err), &err);
	if (other) {
		CHECK_INT_EQ(rank_allocator_restore(other, blob, len, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "beta1") != NULL);
	}
	rank_allocator_free(other);
	other = NULL;
	c.beta1 = 0.85;
	c.schedule.deltaT = 4;
	CHECK_OK(rank_allocator_new(&c, fb.views, 2, &other, &err), &err);
	if (other) {
		CHECK_INT_EQ(rank_allocator_restore(other, blob, len, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "deltaT") != NULL);
	}
out:
	free(now);
	free(before);
	free(blob);
	rank_allocator_free(other);
	rank_allocator_free(a);
	rank_allocator_free(b);
	fixture_release(&fa);
	fixture_release(&fb);
}

/* ---- configuration and calling errors ----------------------------------- */

static void test_config_errors(void)
{
	static const int out[2] = { 3, 3 }, in[2] = { 3, 3 };
	struct ada_schedule s = { .total_steps = 10, .tinit = 1, .tfinal = 1, .deltaT = 1,
				     .init_r = 2, .target_r = 1, .n_matrices = 2 };
	struct rank_allocator_config c;
	struct rank_allocator *a = NULL;
	struct fixture f;
	struct ada_err err;

	fixture_init(&f, 2, out, in, 2);
	c = config(ADA_METHOD_LORA_PRUNE, ADA_IMPORTANCE_MAGNITUDE, s);
	CHECK_INT_EQ(rank_allocator_new(&c, f.views, 2, &a, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "importance");
	CHECK(a == NULL);

	c = config(ADA_METHOD_ADALORA, ADA_IMPORTANCE_SENSITIVITY, s);
	c.beta2 = 1.5;
	CHECK_INT_EQ(rank_allocator_new(&c, f.views, 2, &a, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "beta2");
	c.beta2 = NAN;
	CHECK_INT_EQ(rank_allocator_new(&c, f.views, 2, &a, &err), ADA_EINVAL);

	c = config(ADA_METHOD_ADALORA, ADA_IMPORTANCE_SENSITIVITY, s);
	c.schedule.target_r = 3;
	CHECK_INT_EQ(rank_allocator_new(&c, f.views, 2, &a, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "target_r");

	c = config(ADA_METHOD_ADALORA, ADA_IMPORTANCE_SENSITIVITY, s);
	CHECK_INT_EQ(rank_allocator_new(&c, f.views, 1, &a, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "n_matrices");
	f.views[1].r = 3;
	CHECK_INT_EQ(rank_allocator_new(&c, f.views, 2, &a, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "matrix 1") != NULL);
	f.views[1].r = 2;
	f.views[0].dgate = NULL;
	CHECK_INT_EQ(rank_allocator_new(&c, f.views, 2, &a, &err), ADA_EINVAL);
	/* lora_prune needs no lambda gradient. */
	c.method = ADA_METHOD_LORA_PRUNE;
	CHECK_OK(rank_allocator_new(&c, f.views, 2, &a, &err), &err);
	if (a) {
		CHECK_OK(rank_allocator_step(a, 0, NULL, &err), &err);
		CHECK_OK(rank_allocator_step(a, 2, NULL, &err), &err);
		CHECK_INT_EQ(rank_allocator_step(a, 2, NULL, &err), ADA_EINVAL);
		CHECK_INT_EQ(rank_allocator_step(a, 1, NULL, &err), ADA_EINVAL);
		CHECK(strstr(err.msg, "step 1") != NULL);
	}
	rank_allocator_free(a);

	/* A method without a budget has no allocator. */
	c.method = ADA_METHOD_LORA;
	CHECK_INT_EQ(rank_allocator_new(&c, f.views, 2, &a, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method");
	CHECK_STR_EQ(ada_importance_name(ADA_IMPORTANCE_SENSITIVITY), "sensitivity");
	fixture_release(&f);
}

/* ---- threads ------------------------------------------------------------ */

/* Enough elements for the parallel paths; 1 and 4 threads agree bit for bit. */
static void test_thread_count_independent(void)
{
	static const int out[8] = { 512, 512, 256, 512, 512, 128, 300, 400 };
	static const int in[8] = { 1024, 1024, 600, 512, 512, 1400, 400, 666 };
	struct ada_schedule s = { .total_steps = 12, .tinit = 2, .tfinal = 3, .deltaT = 2,
				     .init_r = 8, .target_r = 3, .n_matrices = 8 };
	struct rank_allocator_config c = config(ADA_METHOD_ADALORA,
						ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY, s);
	struct rank_allocator *a = NULL, *b = NULL;
	struct fixture fa, fb;
	struct ada_err err;
	double sa[64], sb[64];
	int saved = pool_threads();

	fixture_init(&fa, 8, out, in, 8);
	fixture_init(&fb, 8, out, in, 8);
	fixture_randomize(&fa, 60);
	fixture_copy(&fb, &fa);
	CHECK_OK(rank_allocator_new(&c, fa.views, 8, &a, &err), &err);
	CHECK_OK(rank_allocator_new(&c, fb.views, 8, &b, &err), &err);
	if (!a || !b)
		goto out;
	for (int64_t t = 0; t < 8; t++) {
		fake_update(&fa, 61, t, true);
		fake_update(&fb, 61, t, true);
		pool_set_threads(1);
		CHECK_OK(rank_allocator_step(a, t, NULL, &err), &err);
		CHECK_OK(rank_allocator_scores(a, sa, &err), &err);
		pool_set_threads(4);
		CHECK_OK(rank_allocator_step(b, t, NULL, &err), &err);
		CHECK_OK(rank_allocator_scores(b, sb, &err), &err);
		CHECK(!memcmp(sa, sb, sizeof(sa)));
		CHECK(fixture_equal(&fa, &fb));
	}
	CHECK(same_state(a, b));
out:
	pool_set_threads(saved);
	rank_allocator_free(a);
	rank_allocator_free(b);
	fixture_release(&fa);
	fixture_release(&fb);
}

int main(void)
{
	RUN(test_select_matches_sort);
	RUN(test_exact_budget_survives);
	RUN(test_ties_all_masked);
	RUN(test_k_zero_masks_nothing);
	RUN(test_hand_two_steps);
	RUN(test_sensitivity_variant);
	RUN(test_magnitude_variant);
	RUN(test_lora_prune_scores);
	RUN(test_lora_prune_gates);
	RUN(test_nonfinite_leaves_buffers);
	RUN(test_freeze);
	RUN(test_history);
	RUN(test_save_restore_round_trip);
	RUN(test_restore_refuses_bad_blobs);
	RUN(test_config_errors);
	RUN(test_thread_count_independent);
	return check_summary();
}
