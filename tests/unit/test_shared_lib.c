/*
 * The installed libadalora.so as a third party links it: this program has
 * functions named like lib/'s internals (gemm, model_load, path_join), and
 * the library must still work, because it exports adalora.h's ADA_API
 * functions and nothing else (scripts/check_exports.py checks the list).
 */
#include <stdio.h>
#include <string.h>

#include "adalora.h"

/* Names lib/ uses internally: with hidden visibility they do not collide. */
int gemm(int x);
int model_load(int x);
int path_join(int x);

int gemm(int x) { return x + 1; }
int model_load(int x) { return x + 2; }
int path_join(int x) { return x + 3; }

int main(void)
{
	struct ada_schedule s = { .total_steps = 10, .tinit = 2, .tfinal = 3, .deltaT = 2,
				  .init_r = 3, .target_r = 1, .n_matrices = 2 };
	struct ada_err err = { 0 };
	json_t *curve = NULL;
	int failed = 0;

	if (strcmp(ada_code_name(ADA_EINVAL), "invalid_argument")) {
		fprintf(stderr, "ada_code_name from the shared library: %s\n",
			ada_code_name(ADA_EINVAL));
		failed = 1;
	}
	if (ada_schedule_json(&s, 8, 2, &curve, &err) ||
	    json_integer_value(json_object_get(curve, "initial")) != 6) {
		fprintf(stderr, "ada_schedule_json from the shared library: %s\n", err.msg);
		failed = 1;
	}
	json_decref(curve);
	if (gemm(1) != 2 || model_load(1) != 3 || path_join(1) != 4) {
		fprintf(stderr, "our own functions were replaced\n");
		failed = 1;
	}
	printf("%s\n", failed ? "FAIL" : "ok: libadalora.so links beside colliding names");
	return failed;
}
