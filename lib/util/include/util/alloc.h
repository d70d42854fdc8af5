/*
 * alloc — overflow-checked allocation.
 *
 * Sizes in lib/ come from files and requests, so every count * size product
 * is checked before it reaches malloc. Large numeric buffers are 64-byte
 * aligned (cache lines, AVX-512 loads) and zeroed.
 */
#ifndef ADA_UTIL_ALLOC_H
#define ADA_UTIL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* *out = a * b; returns 0, or -1 on overflow. */
static inline int size_mul(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

static inline int size_add(size_t a, size_t b, size_t *out)
{
	return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/* calloc(n, size) with the product checked; NULL on overflow or OOM. */
void *xcalloc(size_t n, size_t size);

/* realloc(p, n * size) with the product checked; NULL (p untouched) on failure. */
void *xreallocarray(void *p, size_t n, size_t size);

/* Zeroed, 64-byte aligned n * size bytes; release with free(). */
void *xalloc_aligned(size_t n, size_t size);

/* strdup that returns NULL for NULL. */
char *xstrdup(const char *s);

#endif
