/*
 * budget — AdaLoRA's budget schedule b(t) (docs/adalora.md section 4).
 *
 * The schedule says, for each 0-based optimizer step t, how many triplets
 * may stay unmasked and whether a mask is computed at t. It is a pure
 * function of seven integers, so the trainer, the CLI (`adalora schedule`)
 * and the API (POST /v1/adalora/schedule) share this one implementation and
 * cannot disagree about when masks happen.
 *
 * The cubic is evaluated in double exactly as PEFT and the authors' code do
 * (1 - (t - ti)/(T - tf - ti), pow(., 3), truncation toward zero), so our
 * budgets equal theirs step for step, not just within rounding.
 *
 * One deviation from the spec, decided for the project: the freeze step is
 *
 *     t_freeze = min(T - tf, T - 1)
 *
 * With tf == 0 the spec's freeze step T - tf = T is never a step index
 * (steps are 0..T-1), so the mask would never be frozen and an export would
 * carry all init_r triplets of every matrix, ignoring target_r (PEFT behaves
 * that way). At t_freeze the budget is b(T), a mask is computed and frozen,
 * and every later step re-applies it. For tf >= 1 this is the spec exactly;
 * for tf == 0 it takes precedence over "t <= ti: no masking" when
 * ti == T - 1.
 */
#ifndef ADA_TRAIN_BUDGET_H
#define ADA_TRAIN_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "adalora.h"

/* Largest b(0) = n_matrices * init_r we accept (the allocator holds one
 * score per triplet) and largest T (steps stay exact in a double). */
#define BUDGET_MAX_TRIPLETS ((int64_t)1 << 30)
#define BUDGET_MAX_STEPS ((int64_t)1 << 53)

/*
 * Refuse a schedule the spec forbids: any negative field, init_r < 1,
 * n_matrices < 1, deltaT < 1, target_r > init_r, T <= tinit + tfinal, and
 * sizes beyond the limits above: ada_schedule_check() (adalora.h).
 */
int budget_schedule_check(const struct ada_schedule *s, const char *param_prefix,
			  struct ada_err *err);

/* The functions below require a schedule that passed budget_schedule_check(). */

/* b(0) = n * init_r and b(T) = n * target_r. */
int64_t budget_schedule_initial(const struct ada_schedule *s);
int64_t budget_schedule_target(const struct ada_schedule *s);

/* t_freeze = min(T - tf, T - 1), see the header comment. */
int64_t budget_schedule_freeze_step(const struct ada_schedule *s);

/* b(t) for any t >= 0 (t > t_freeze gives b(T), so t >= T is fine too). */
int64_t budget_schedule_at(const struct ada_schedule *s, int64_t t);

/* A mask is computed at t: ti < t < t_freeze with t % deltaT == 0, or
 * t == t_freeze. Steps after t_freeze re-apply the frozen mask; that is not
 * a new mask and returns false. */
bool budget_schedule_is_mask_step(const struct ada_schedule *s, int64_t t);

/* How many mask steps the run has (t_freeze included), and the i-th of
 * them in increasing order, 0 <= i < that count. */
int64_t budget_schedule_n_mask_steps(const struct ada_schedule *s);
int64_t budget_schedule_mask_step(const struct ada_schedule *s, int64_t i);

/*
 * The curve for plots and the API, as a new JSON object owned by the caller:
 *   {"initial", "target", "freeze_step",
 *    "points": [[t, b], ...],     at most max_points (>= 8) steps: every step
 *                                 when T <= max_points, else 0, ti, ti + 1,
 *                                 t_freeze, T - 1 and evenly spaced steps
 *    "mask_steps": [...],         every mask step, or when there are more
 *                                 than max_mask_steps (>= 2), that many
 *                                 evenly spaced ones (first and last kept)
 *    "n_mask_steps"}              the true count, so thinning is visible
 * ADA_EINVAL for limits below the minimums, ADA_ENOMEM.
 */
int budget_schedule_to_json(const struct ada_schedule *s, size_t max_points,
			    size_t max_mask_steps, json_t **out, struct ada_err *err);

/*
 * The budget at the given steps (borrowed array of n steps, each >= 0):
 *   {"initial", "target", "points": [[t, b], ...]}   in the order given
 * (the key of the whole curve's points too, as ../shared/docs/cli.md says).
 * ADA_EINVAL names the first negative step; ADA_ENOMEM.
 */
int budget_schedule_at_json(const struct ada_schedule *s, const int64_t *steps,
			    size_t n, json_t **out, struct ada_err *err);

#endif
