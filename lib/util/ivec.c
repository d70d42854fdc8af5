/* ivec — growable int32 array; see ivec.h. */
#include "util/ivec.h"

#include <stdlib.h>

#include "util/alloc.h"

int ivec_reserve(struct ivec *iv, size_t extra)
{
	size_t need;

	if (size_add(iv->n, extra, &need) || ALLOC_GROW(iv->v, need, iv->cap))
		return -1;
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
