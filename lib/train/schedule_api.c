/* schedule_api — ada_schedule_json(): the public face of train/budget.h. */
#include "adalora.h"
#include "train/budget.h"

int ada_schedule_json(const struct ada_schedule *s, const char *param_prefix,
		      size_t max_points, size_t max_mask_steps, json_t **out, struct ada_err *err)
{
	const struct budget_schedule b = {
		.total_steps = s->total_steps, .tinit = s->tinit, .tfinal = s->tfinal,
		.deltaT = s->deltaT, .init_r = s->init_r, .target_r = s->target_r,
		.n_matrices = s->n_matrices,
	};
	int rc = budget_schedule_check(&b, param_prefix, err);

	if (rc)
		return rc;
	return budget_schedule_to_json(&b, max_points, max_mask_steps, out, err);
}
