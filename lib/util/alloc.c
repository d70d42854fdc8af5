/* alloc — overflow-checked allocation; see alloc.h. */
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

void *xcalloc(size_t n, size_t size)
{
	size_t bytes;

	if (size_mul(n, size, &bytes))
		return NULL;
	return calloc(1, bytes ? bytes : 1);
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;

	if (size_mul(n, size, &bytes))
		return NULL;
	return realloc(p, bytes ? bytes : 1);
}

void *xalloc_aligned(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (size_mul(n, size, &bytes) || size_add(bytes, 63, &bytes))
		return NULL;
	bytes &= ~(size_t)63;
	if (!bytes)
		bytes = 64;
	p = aligned_alloc(64, bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void *array_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap;
	void *q;

	if (p && need <= n)
		return p;
	/* x1.5 from 16: the usual compromise between copies and slack */
	if (n < 16)
		n = 16;
	while (n < need) {
		size_t half = n / 2;
		if (size_add(n, half, &n))
			return NULL;
	}
	q = xreallocarray(p, n, size);
	if (q)
		*cap = n;
	return q;
}

void *owned_bufs_take(struct owned_bufs *ob, void *p)
{
	if (!p)
		return NULL;
	if (ALLOC_GROW(ob->v, ob->n + 1, ob->cap)) {
		free(p);
		return NULL;
	}
	ob->v[ob->n++] = p;
	return p;
}

void owned_bufs_free(struct owned_bufs *ob)
{
	for (size_t i = 0; i < ob->n; i++)
		free(ob->v[i]);
	free(ob->v);
	memset(ob, 0, sizeof(*ob));
}
