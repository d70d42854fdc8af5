/* ivec — growable int32 array; see ivec.h. */
#include "util/ivec.h"

#include <stdlib.h>

#include "util/alloc.h"

int ivec_reserve(struct ivec *iv, size_t extra)
{
	size_t need, cap;
	int32_t *v;

	if (size_add(iv->n, extra, &need))
		return -1;
	if (need <= iv->cap)
		return 0;
	cap = iv->cap ? iv->cap : 16;
	while (cap < need)
		if (size_mul(cap, 2, &cap))
			return -1;
	v = xreallocarray(iv->v, cap, sizeof(*v));
	if (!v)
		return -1;
	iv->v = v;
	iv->cap = cap;
	return 0;
}

int ivec_push(struct ivec *iv, int32_t x)
{
	if (iv->n == iv->cap && ivec_reserve(iv, 1))
		return -1;
	iv->v[iv->n++] = x;
	return 0;
}

void ivec_release(struct ivec *iv)
{
	free(iv->v);
	iv->v = NULL;
	iv->n = iv->cap = 0;
}
