/*
 * fuzz_safetensors — a .safetensors file: header parsing and every check
 * the reader makes before it forms a pointer, lookup by name, and the
 * conversion of each (small enough) tensor to f32.
 */
#include "fuzz.h"

#include <string.h>

#include "adalora.h"
#include "format/safetensors.h"

void fuzz_setup(void)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write("model.safetensors", data, size);
	struct safetensors *st;
	struct ada_err err;

	if (safetensors_open(path, &st, &err)) {
		fuzz_check_err(&err);
		return 0;
	}
	for (size_t i = 0; i < st->n_tensors; i++) {
		const struct st_tensor *t = &st->tensors[i];
		uint64_t n = 1;
		float *dst;

		FUZZ_CHECK(safetensors_find(st, t->name) == t, "tensor '%s' not found by name",
			   t->name);
		FUZZ_CHECK(t->n_dims <= ST_MAX_DIMS, "%u dims", t->n_dims);
		for (uint32_t d = 0; d < t->n_dims; d++)
			n *= t->shape[d];
		FUZZ_CHECK(n == t->n_elements, "'%s': shape gives %llu elements, not %llu", t->name,
			   (unsigned long long)n, (unsigned long long)t->n_elements);
		FUZZ_CHECK((const uint8_t *)t->data >= st->file.data &&
			   (const uint8_t *)t->data + t->n_bytes <= st->file.data + st->file.size,
			   "'%s' reaches out of the file", t->name);
		(void)st_dtype_name(t->dtype);
		if (t->n_elements > (1u << 16))
			continue;
		dst = malloc((size_t)t->n_elements * sizeof(*dst) + 1);
		if (!dst)
			abort();
		if (safetensors_tensor_to_f32(st, t, dst, &err))
			fuzz_check_err(&err);
		free(dst);
	}
	FUZZ_CHECK(safetensors_find(st, "\x01no such tensor") == NULL, "found a tensor not there");
	safetensors_close(st);
	return 0;
}
