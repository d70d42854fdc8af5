/* budget — AdaLoRA's budget schedule; see budget.h (and its deviation note). */
#include "budget.h"

#include <math.h>
#include <stdlib.h>

#include "../util/alloc.h"
#include "../util/err.h"

static int fail_field(struct ada_err *err, const char *prefix, const char *field,
		      const char *why, int64_t got)
{
	char param[128];

	snprintf(param, sizeof(param), "%s%s", prefix ? prefix : "", field);
	return ada_fail_param(err, ADA_EINVAL, param, "%s %s (got %lld)", field, why,
			      (long long)got);
}

int budget_schedule_check(const struct budget_schedule *s, const char *prefix,
			  struct ada_err *err)
{
	char param[128];
	int64_t sum;

	if (s->total_steps < 1)
		return fail_field(err, prefix, "total_steps", "must be at least 1", s->total_steps);
	if (s->total_steps > BUDGET_MAX_STEPS)
		return fail_field(err, prefix, "total_steps", "must be at most 2^53",
				  s->total_steps);
	if (s->tinit < 0)
		return fail_field(err, prefix, "tinit", "must not be negative", s->tinit);
	if (s->tfinal < 0)
		return fail_field(err, prefix, "tfinal", "must not be negative", s->tfinal);
	if (s->deltaT < 1)
		return fail_field(err, prefix, "deltaT", "must be at least 1", s->deltaT);
	if (s->init_r < 1)
		return fail_field(err, prefix, "init_r", "must be at least 1", s->init_r);
	if (s->target_r < 0)
		return fail_field(err, prefix, "target_r", "must not be negative", s->target_r);
	if (s->n_matrices < 1)
		return fail_field(err, prefix, "n_matrices", "must be at least 1", s->n_matrices);
	if (s->target_r > s->init_r) {
		snprintf(param, sizeof(param), "%starget_r", prefix ? prefix : "");
		return ada_fail_param(err, ADA_EINVAL, param,
				      "target_r (%lld) must not exceed init_r (%lld)",
				      (long long)s->target_r, (long long)s->init_r);
	}
	if (s->init_r > BUDGET_MAX_TRIPLETS / s->n_matrices) {
		snprintf(param, sizeof(param), "%sn_matrices", prefix ? prefix : "");
		return ada_fail_param(err, ADA_EINVAL, param,
				      "n_matrices (%lld) * init_r (%lld) exceeds %lld triplets",
				      (long long)s->n_matrices, (long long)s->init_r,
				      (long long)BUDGET_MAX_TRIPLETS);
	}
	/* tinit and tfinal have no upper bound of their own: guard the sum. */
	if (__builtin_add_overflow(s->tinit, s->tfinal, &sum) || s->total_steps <= sum) {
		snprintf(param, sizeof(param), "%stotal_steps", prefix ? prefix : "");
		return ada_fail_param(err, ADA_EINVAL, param,
				      "total_steps (%lld) must exceed tinit + tfinal (%lld + %lld)",
				      (long long)s->total_steps, (long long)s->tinit,
				      (long long)s->tfinal);
	}
	return ADA_OK;
}

int64_t budget_schedule_initial(const struct budget_schedule *s)
{
	return s->n_matrices * s->init_r;
}

int64_t budget_schedule_target(const struct budget_schedule *s)
{
	return s->n_matrices * s->target_r;
}

int64_t budget_schedule_freeze_step(const struct budget_schedule *s)
{
	int64_t t = s->total_steps - s->tfinal;

	return t < s->total_steps - 1 ? t : s->total_steps - 1;
}

int64_t budget_schedule_at(const struct budget_schedule *s, int64_t t)
{
	int64_t b0 = budget_schedule_initial(s), bT = budget_schedule_target(s);
	double c;

	if (t >= budget_schedule_freeze_step(s))
		return bT;
	if (t <= s->tinit)
		return b0;
	/* Same expression and evaluation order as PEFT's budget_schedule(). */
	c = 1.0 - (double)(t - s->tinit) / (double)(s->total_steps - s->tfinal - s->tinit);
	return (int64_t)((double)(b0 - bT) * pow(c, 3.0) + (double)bT);
}

bool budget_schedule_is_mask_step(const struct budget_schedule *s, int64_t t)
{
	int64_t tf = budget_schedule_freeze_step(s);

	if (t == tf)
		return true;
	return t > s->tinit && t < tf && t % s->deltaT == 0;
}

/* Multiples of deltaT strictly between tinit and t_freeze. */
static int64_t n_periodic_masks(const struct budget_schedule *s)
{
	int64_t hi = budget_schedule_freeze_step(s) - 1;

	if (hi <= s->tinit)
		return 0;
	return hi / s->deltaT - s->tinit / s->deltaT;
}

int64_t budget_schedule_n_mask_steps(const struct budget_schedule *s)
{
	return n_periodic_masks(s) + 1;
}

int64_t budget_schedule_mask_step(const struct budget_schedule *s, int64_t i)
{
	if (i >= n_periodic_masks(s))
		return budget_schedule_freeze_step(s);
	return (s->tinit / s->deltaT + 1 + i) * s->deltaT;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The steps to plot, sorted and distinct, into t[] (room for max_points). */
static size_t curve_steps(const struct budget_schedule *s, size_t max_points, int64_t *t)
{
	int64_t T = s->total_steps, anchors[5];
	size_t n = 0, n_anchors, m, out;

	if ((uint64_t)T <= max_points) {
		for (int64_t i = 0; i < T; i++)
			t[n++] = i;
		return n;
	}
	anchors[0] = 0;
	anchors[1] = s->tinit;
	anchors[2] = s->tinit + 1;
	anchors[3] = budget_schedule_freeze_step(s);
	anchors[4] = T - 1;
	n_anchors = sizeof(anchors) / sizeof(anchors[0]);
	for (size_t i = 0; i < n_anchors; i++)
		if (anchors[i] < T)
			t[n++] = anchors[i];
	/* m interior steps at j * (T - 1) / (m + 1), j = 1..m. */
	m = max_points - n;
	for (size_t j = 1; j <= m; j++)
		t[n++] = (int64_t)((unsigned __int128)j * (uint64_t)(T - 1) / (m + 1));
	qsort(t, n, sizeof(*t), cmp_i64);
	out = 1;
	for (size_t i = 1; i < n; i++)
		if (t[i] != t[out - 1])
			t[out++] = t[i];
	return out;
}

static json_t *step_pair(int64_t t, int64_t b)
{
	json_t *p = json_array();

	if (!p)
		return NULL;
	if (json_array_append_new(p, json_integer(t)) ||
	    json_array_append_new(p, json_integer(b))) {
		json_decref(p);
		return NULL;
	}
	return p;
}

static json_t *curve_head(const struct budget_schedule *s)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "initial", json_integer(budget_schedule_initial(s))) ||
	    json_object_set_new(o, "target", json_integer(budget_schedule_target(s)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int budget_schedule_to_json(const struct budget_schedule *s, size_t max_points,
			    size_t max_mask_steps, json_t **out, struct ada_err *err)
{
	json_t *o = NULL, *points = NULL, *masks = NULL;
	int64_t *steps, n_masks;
	size_t n_steps, n_listed;

	*out = NULL;
	if (max_points < 8 || max_mask_steps < 2)
		return ada_fail(err, ADA_EINVAL,
				"budget curve: need room for at least 8 points and 2 mask steps");
	steps = xcalloc(max_points, sizeof(*steps));
	if (!steps)
		return ada_fail(err, ADA_ENOMEM, "budget curve: out of memory for %zu points",
				max_points);
	n_steps = curve_steps(s, max_points, steps);

	o = curve_head(s);
	points = json_array();
	masks = json_array();
	if (!o || !points || !masks)
		goto out_nomem;
	if (json_object_set_new(o, "freeze_step",
				json_integer(budget_schedule_freeze_step(s))))
		goto out_nomem;
	for (size_t i = 0; i < n_steps; i++)
		if (json_array_append_new(points, step_pair(steps[i],
							    budget_schedule_at(s, steps[i]))))
			goto out_nomem;

	n_masks = budget_schedule_n_mask_steps(s);
	n_listed = (uint64_t)n_masks <= max_mask_steps ? (size_t)n_masks : max_mask_steps;
	for (size_t j = 0; j < n_listed; j++) {
		/* Evenly spaced indices; the first and the last (freeze) included. */
		int64_t i = n_listed == (size_t)n_masks ? (int64_t)j :
			(int64_t)((unsigned __int128)j * (uint64_t)(n_masks - 1) /
				  (n_listed - 1));
		if (json_array_append_new(masks, json_integer(budget_schedule_mask_step(s, i))))
			goto out_nomem;
	}
	if (json_object_set_new(o, "points", points)) {
		points = NULL;
		goto out_nomem;
	}
	points = NULL;
	if (json_object_set_new(o, "mask_steps", masks)) {
		masks = NULL;
		goto out_nomem;
	}
	masks = NULL;
	if (json_object_set_new(o, "n_mask_steps", json_integer(n_masks)))
		goto out_nomem;
	free(steps);
	*out = o;
	return ADA_OK;

out_nomem:
	json_decref(masks);
	json_decref(points);
	json_decref(o);
	free(steps);
	return ada_fail(err, ADA_ENOMEM, "budget curve: out of memory building JSON");
}

int budget_schedule_at_json(const struct budget_schedule *s, const int64_t *steps,
			    size_t n, json_t **out, struct ada_err *err)
{
	json_t *o, *at;

	*out = NULL;
	for (size_t i = 0; i < n; i++)
		if (steps[i] < 0)
			return ada_fail(err, ADA_EINVAL, "budget at step %lld: steps start at 0",
					(long long)steps[i]);
	o = curve_head(s);
	at = json_array();
	if (!o || !at)
		goto out_nomem;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(at, step_pair(steps[i], budget_schedule_at(s, steps[i]))))
			goto out_nomem;
	if (json_object_set_new(o, "points", at)) {
		at = NULL;
		goto out_nomem;
	}
	*out = o;
	return ADA_OK;

out_nomem:
	json_decref(at);
	json_decref(o);
	return ada_fail(err, ADA_ENOMEM, "budget at steps: out of memory building JSON");
}
