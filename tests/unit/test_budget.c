/* Tests of train/budget.c: the spec's test vector, boundaries, mask steps,
 * the tfinal == 0 freeze rule, validation and the JSON renderings. */
#include "check.h"

#include "train/budget.h"
#include "util/err.h"

/* The paper's MNLI run (adalora.md section 4), masking every 100 steps. */
static const struct budget_schedule mnli = {
	.total_steps = 85904, .tinit = 8000, .tfinal = 50000, .deltaT = 100,
	.init_r = 3, .target_r = 1, .n_matrices = 72,
};

/* b(t) by exact rational arithmetic, an independent check of the double
 * evaluation: floor(bT + (b0 - bT) * ((D - (t - ti)) / D)^3), D = T - tf - ti. */
static int64_t exact_cubic(const struct budget_schedule *s, int64_t t)
{
	__int128 b0 = s->n_matrices * s->init_r, bT = s->n_matrices * s->target_r;
	__int128 D = s->total_steps - s->tfinal - s->tinit, x = D - (t - s->tinit);
	__int128 den = D * D * D;

	return (int64_t)((bT * den + (b0 - bT) * x * x * x) / den);
}

static void test_paper_vector(void)
{
	struct ada_err err;

	CHECK_OK(budget_schedule_check(&mnli, NULL, &err), &err);
	CHECK_INT_EQ(budget_schedule_initial(&mnli), 216);
	CHECK_INT_EQ(budget_schedule_target(&mnli), 72);
	CHECK_INT_EQ(budget_schedule_at(&mnli, 0), 216);
	CHECK_INT_EQ(budget_schedule_at(&mnli, 10000), 187);
	CHECK_INT_EQ(budget_schedule_at(&mnli, 20000), 98);
	CHECK_INT_EQ(budget_schedule_at(&mnli, 30000), 73);
	CHECK_INT_EQ(budget_schedule_at(&mnli, 35800), 72);
	CHECK_INT_EQ(budget_schedule_at(&mnli, 85904), 72);
	CHECK_INT_EQ(budget_schedule_freeze_step(&mnli), 35904);

	/* The double evaluation (as PEFT does it) agrees with exact arithmetic
	 * at every step of the cubic, and the curve never rises. */
	int64_t mismatches = 0, rises = 0, prev = 216;
	for (int64_t t = 8001; t <= 35904; t++) {
		int64_t b = budget_schedule_at(&mnli, t);

		mismatches += b != exact_cubic(&mnli, t);
		rises += b > prev;
		prev = b;
	}
	CHECK_INT_EQ(mismatches, 0);
	CHECK_INT_EQ(rises, 0);
}

static void test_boundaries(void)
{
	const struct budget_schedule *s = &mnli;

	/* t <= ti: b(0) and no mask, even on a multiple of deltaT. */
	CHECK_INT_EQ(budget_schedule_at(s, 8000), 216);
	CHECK(!budget_schedule_is_mask_step(s, 8000));
	CHECK(!budget_schedule_is_mask_step(s, 0));
	/* ti + 1: the cubic's first step, 72 + 144 * (1 - 1/27904)^3 = 215.98. */
	CHECK_INT_EQ(budget_schedule_at(s, 8001), 215);
	CHECK(!budget_schedule_is_mask_step(s, 8001));
	CHECK(budget_schedule_is_mask_step(s, 8100));
	CHECK(!budget_schedule_is_mask_step(s, 8150));
	CHECK(budget_schedule_is_mask_step(s, 35900));
	/* T - tf: b(T), masked and frozen although 35904 % 100 != 0. */
	CHECK_INT_EQ(budget_schedule_at(s, 35904), 72);
	CHECK(budget_schedule_is_mask_step(s, 35904));
	/* T - tf + 1 and later: b(T), the frozen mask is re-applied, no new mask. */
	CHECK_INT_EQ(budget_schedule_at(s, 35905), 72);
	CHECK(!budget_schedule_is_mask_step(s, 35905));
	CHECK(!budget_schedule_is_mask_step(s, 36000));
	CHECK_INT_EQ(budget_schedule_at(s, 85903), 72);

	/* Mask steps: multiples of 100 in (8000, 35904), then 35904. */
	CHECK_INT_EQ(budget_schedule_n_mask_steps(s), 359 - 80 + 1);
	CHECK_INT_EQ(budget_schedule_mask_step(s, 0), 8100);
	CHECK_INT_EQ(budget_schedule_mask_step(s, 278), 35900);
	CHECK_INT_EQ(budget_schedule_mask_step(s, 279), 35904);
}

/* n_mask_steps/mask_step must list exactly the steps is_mask_step accepts. */
static void check_mask_enumeration(const struct budget_schedule *s)
{
	int64_t n = budget_schedule_n_mask_steps(s), seen = 0;

	for (int64_t t = 0; t < s->total_steps + 3; t++) {
		if (!budget_schedule_is_mask_step(s, t))
			continue;
		CHECK_MSG(seen < n && budget_schedule_mask_step(s, seen) == t,
			  "T=%lld ti=%lld tf=%lld dT=%lld: mask %lld at %lld",
			  (long long)s->total_steps, (long long)s->tinit,
			  (long long)s->tfinal, (long long)s->deltaT, (long long)seen,
			  (long long)t);
		seen++;
	}
	CHECK_INT_EQ(seen, n);
	CHECK_INT_EQ(budget_schedule_mask_step(s, n - 1), budget_schedule_freeze_step(s));
}

static void test_mask_steps_enumeration(void)
{
	struct ada_err err;

	for (int64_t T = 1; T <= 40; T++)
		for (int64_t ti = 0; ti < T; ti++)
			for (int64_t tf = 0; ti + tf < T; tf++)
				for (int64_t dT = 1; dT <= 6; dT++) {
					struct budget_schedule s = {
						.total_steps = T, .tinit = ti, .tfinal = tf,
						.deltaT = dT, .init_r = 4, .target_r = 2,
						.n_matrices = 3,
					};
					if (budget_schedule_check(&s, NULL, &err)) {
						CHECK_MSG(0, "%s", err.msg);
						continue;
					}
					check_mask_enumeration(&s);
				}
	check_mask_enumeration(&mnli);
}

/* tfinal == 0: the freeze moves to T - 1 (the lead's deviation, budget.h). */
static void test_tfinal_zero(void)
{
	struct budget_schedule s = {
		.total_steps = 100, .tinit = 10, .tfinal = 0, .deltaT = 7,
		.init_r = 4, .target_r = 1, .n_matrices = 5,
	};
	struct ada_err err;

	CHECK_OK(budget_schedule_check(&s, NULL, &err), &err);
	CHECK_INT_EQ(budget_schedule_freeze_step(&s), 99);
	/* The cubic still runs over T - tf - ti = 90 steps: at t = 98,
	 * 5 + 15 * (2/90)^3 = 5.0002 -> 5; at 50, 5 + 15 * (5/9)^3 = 7.57 -> 7. */
	CHECK_INT_EQ(budget_schedule_at(&s, 50), 7);
	CHECK_INT_EQ(budget_schedule_at(&s, 99), 5);
	CHECK(budget_schedule_is_mask_step(&s, 99));
	CHECK(budget_schedule_is_mask_step(&s, 98));      /* 98 = 14 * 7 */
	CHECK(!budget_schedule_is_mask_step(&s, 100));
	CHECK_INT_EQ(budget_schedule_n_mask_steps(&s), 14 - 1 + 1);

	/* tinit = T - 1: the freeze at T - 1 = tinit overrides "no masking". */
	s.tinit = 99;
	CHECK_OK(budget_schedule_check(&s, NULL, &err), &err);
	CHECK_INT_EQ(budget_schedule_at(&s, 98), 20);
	CHECK_INT_EQ(budget_schedule_at(&s, 99), 5);
	CHECK(budget_schedule_is_mask_step(&s, 99));
	CHECK_INT_EQ(budget_schedule_n_mask_steps(&s), 1);

	/* tfinal = 1 is the spec exactly: freeze at T - 1 as well. */
	s.tinit = 10;
	s.tfinal = 1;
	CHECK_INT_EQ(budget_schedule_freeze_step(&s), 99);
	/* tfinal = 30: freeze at 70, not at T - 1. */
	s.tfinal = 30;
	CHECK_INT_EQ(budget_schedule_freeze_step(&s), 70);
	CHECK_INT_EQ(budget_schedule_at(&s, 70), 5);
	CHECK_INT_EQ(budget_schedule_at(&s, 99), 5);
	CHECK(!budget_schedule_is_mask_step(&s, 99));
}

static void expect_invalid(struct budget_schedule s, const char *prefix, const char *param,
			   const char *msg_part)
{
	struct ada_err err;
	int rc = budget_schedule_check(&s, prefix, &err);

	CHECK_INT_EQ(rc, ADA_EINVAL);
	if (rc != ADA_EINVAL)
		return;
	CHECK_STR_EQ(err.param, param);
	CHECK_MSG(strstr(err.msg, msg_part) != NULL, "\"%s\" lacks \"%s\"", err.msg, msg_part);
}

static void test_invalid(void)
{
	struct budget_schedule s = mnli, t;

	t = s; t.total_steps = 58000;
	expect_invalid(t, NULL, "total_steps", "must exceed tinit + tfinal");
	t = s; t.total_steps = 58001;
	CHECK_OK(budget_schedule_check(&t, NULL, NULL), NULL);
	t = s; t.total_steps = 0;
	expect_invalid(t, NULL, "total_steps", "at least 1");
	t = s; t.total_steps = -5;
	expect_invalid(t, NULL, "total_steps", "-5");
	t = s; t.tinit = -1;
	expect_invalid(t, NULL, "tinit", "must not be negative");
	t = s; t.tfinal = -1;
	expect_invalid(t, NULL, "tfinal", "must not be negative");
	t = s; t.deltaT = 0;
	expect_invalid(t, NULL, "deltaT", "at least 1");
	t = s; t.init_r = 0;
	expect_invalid(t, NULL, "init_r", "at least 1");
	t = s; t.target_r = -1;
	expect_invalid(t, NULL, "target_r", "must not be negative");
	t = s; t.target_r = 4;
	expect_invalid(t, NULL, "target_r", "must not exceed init_r");
	t = s; t.n_matrices = 0;
	expect_invalid(t, NULL, "n_matrices", "at least 1");
	t = s; t.n_matrices = (int64_t)1 << 40;
	expect_invalid(t, NULL, "n_matrices", "triplets");
	t = s; t.tinit = INT64_MAX; t.tfinal = INT64_MAX;
	expect_invalid(t, NULL, "total_steps", "must exceed");
	t = s; t.total_steps = BUDGET_MAX_STEPS + 1;
	expect_invalid(t, NULL, "total_steps", "2^53");
	t = s; t.target_r = 5;
	expect_invalid(t, "method.adalora.hyperparameters.",
		       "method.adalora.hyperparameters.target_r", "init_r");
	/* target_r == init_r and target_r == 0 are fine. */
	t = s; t.target_r = 3;
	CHECK_OK(budget_schedule_check(&t, NULL, NULL), NULL);
	t = s; t.target_r = 0;
	CHECK_OK(budget_schedule_check(&t, NULL, NULL), NULL);
}

static void test_curve_json(void)
{
	struct ada_err err;
	json_t *o = NULL, *points, *masks;
	int64_t anchors[] = { 0, 8000, 8001, 35904, 85903 };
	int found[5] = { 0 }, sorted = 1, exact = 1;
	json_int_t prev = -1;

	CHECK_OK(budget_schedule_to_json(&mnli, 1000, 100000, &o, &err), &err);
	if (!o)
		return;
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "initial")), 216);
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "target")), 72);
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "freeze_step")), 35904);
	points = json_object_get(o, "points");
	CHECK(json_array_size(points) > 900 && json_array_size(points) <= 1000);
	for (size_t i = 0; i < json_array_size(points); i++) {
		json_t *p = json_array_get(points, i);
		json_int_t t = json_integer_value(json_array_get(p, 0));

		sorted &= t > prev;
		exact &= json_integer_value(json_array_get(p, 1)) == budget_schedule_at(&mnli, t);
		for (int a = 0; a < 5; a++)
			found[a] |= t == anchors[a];
		prev = t;
	}
	CHECK(sorted);
	CHECK(exact);
	for (int a = 0; a < 5; a++)
		CHECK_MSG(found[a], "anchor step %lld missing", (long long)anchors[a]);
	masks = json_object_get(o, "mask_steps");
	CHECK_INT_EQ(json_array_size(masks), 280);
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "n_mask_steps")), 280);
	CHECK_INT_EQ(json_integer_value(json_array_get(masks, 0)), 8100);
	CHECK_INT_EQ(json_integer_value(json_array_get(masks, 279)), 35904);
	json_decref(o);

	/* Thinned mask steps: first and last kept, the true count reported. */
	struct budget_schedule s = mnli;
	s.deltaT = 1;
	CHECK_OK(budget_schedule_to_json(&s, 8, 10, &o, &err), &err);
	if (!o)
		return;
	CHECK(json_array_size(json_object_get(o, "points")) <= 8);
	masks = json_object_get(o, "mask_steps");
	CHECK_INT_EQ(json_array_size(masks), 10);
	CHECK_INT_EQ(json_integer_value(json_array_get(masks, 0)), 8001);
	CHECK_INT_EQ(json_integer_value(json_array_get(masks, 9)), 35904);
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "n_mask_steps")), 35904 - 8000);
	json_decref(o);

	/* A short run lists every step. */
	s = (struct budget_schedule){ .total_steps = 10, .tinit = 2, .tfinal = 3, .deltaT = 2,
				      .init_r = 3, .target_r = 1, .n_matrices = 2 };
	CHECK_OK(budget_schedule_to_json(&s, 1000, 1000, &o, &err), &err);
	if (!o)
		return;
	char *text = json_dumps(o, JSON_COMPACT);
	CHECK_STR_EQ(text, "{\"initial\":6,\"target\":2,\"freeze_step\":7,"
		     "\"points\":[[0,6],[1,6],[2,6],[3,4],[4,2],[5,2],[6,2],[7,2],[8,2],[9,2]],"
		     "\"mask_steps\":[4,6,7],\"n_mask_steps\":3}");
	free(text);
	json_decref(o);

	CHECK_INT_EQ(budget_schedule_to_json(&s, 7, 1000, &o, &err), ADA_EINVAL);
	CHECK(o == NULL);
}

static void test_at_json(void)
{
	int64_t steps[] = { 35904, 0, 10000, 85904, 20000 };
	struct ada_err err;
	json_t *o = NULL;
	char *text;

	CHECK_OK(budget_schedule_at_json(&mnli, steps, 5, &o, &err), &err);
	if (!o)
		return;
	text = json_dumps(o, JSON_COMPACT);
	CHECK_STR_EQ(text, "{\"initial\":216,\"target\":72,"
		     "\"points\":[[35904,72],[0,216],[10000,187],[85904,72],[20000,98]]}");
	free(text);
	json_decref(o);

	steps[2] = -3;
	CHECK_INT_EQ(budget_schedule_at_json(&mnli, steps, 5, &o, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "-3") != NULL);
	CHECK(o == NULL);
}

int main(void)
{
	RUN(test_paper_vector);
	RUN(test_boundaries);
	RUN(test_mask_steps_enumeration);
	RUN(test_tfinal_zero);
	RUN(test_invalid);
	RUN(test_curve_json);
	RUN(test_at_json);
	return check_summary();
}
