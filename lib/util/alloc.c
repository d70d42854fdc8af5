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
