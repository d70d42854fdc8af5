/*
 * adapter_diff — how far apart two trained adapters are, for the tests of
 * data-parallel training, whose results equal a one-process run's up to
 * the order in which gradients are summed (README "One job across
 * processes"): the same tensors and shapes, values within a tolerance, and
 * the same AdaLoRA rank pattern.
 *
 * Reports through return values (tests/support never CHECKs).
 */
#ifndef ADA_TESTS_ADAPTER_DIFF_H
#define ADA_TESTS_ADAPTER_DIFF_H

#include <stddef.h>

struct adapter_diff {
	size_t tensors;            /* compared */
	double max_abs;            /* largest |a - b| over every element */
	double max_rel;            /* largest, over the tensors, of max |a - b| / max |a| */
	char worst[160];           /* the tensor of max_rel */
};

/* Compare dir_a/adapter_model.safetensors with dir_b's: 0 with *d filled
 * when both hold the same tensor names and shapes, else -1 with why. */
int adapter_diff(const char *dir_a, const char *dir_b, struct adapter_diff *d, char *why,
		 size_t cap);

/* 1 when the "rank_pattern" objects of both adapter_config.json files are
 * equal (both absent counts as equal), else 0 (why says where). */
int adapter_same_rank_pattern(const char *dir_a, const char *dir_b, char *why, size_t cap);

#endif
