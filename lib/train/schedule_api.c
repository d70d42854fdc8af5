/*
 * schedule_api — the public face of train/budget.h (adalora.h): checking a
 * schedule and rendering its curve. The trainer, the CLI (`adalora
 * schedule`) and the API (POST /v1/adalora/schedule) all come through here
 * or budget.h, so none of them can disagree about when masks happen.
 */
#include "adalora.h"
#include "train/budget.h"

int ada_schedule_check(const struct ada_schedule *s, const char *param_prefix,
		       struct ada_err *err)
{
	return budget_schedule_check(s, param_prefix, err);
}

int ada_schedule_json(const struct ada_schedule *s, size_t max_points, size_t max_mask_steps,
		      json_t **out, struct ada_err *err)
{
	int rc = budget_schedule_check(s, NULL, err);

	return rc ? rc : budget_schedule_to_json(s, max_points, max_mask_steps, out, err);
}

int ada_schedule_at_json(const struct ada_schedule *s, const int64_t *steps, size_t n,
			 json_t **out, struct ada_err *err)
{
	int rc = budget_schedule_check(s, NULL, err);

	return rc ? rc : budget_schedule_at_json(s, steps, n, out, err);
}
