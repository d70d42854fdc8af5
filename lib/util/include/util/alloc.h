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

/*
 * Growable arrays. array_grow() returns p reallocated to hold at least
 * need elements of size bytes (capacity *cap, updated), growing
 * geometrically so n appends cost O(n); p itself when it is already big
 * enough; NULL (p and *cap untouched) on overflow or out of memory.
 *
 * ALLOC_GROW(p, need, cap) does that to a typed pointer p and its size_t
 * capacity cap: 0 on success, -1 on failure (p, cap unchanged).
 *     if (ALLOC_GROW(v, n + 1, cap)) return ada_fail(err, ADA_ENOMEM, ...);
 *     v[n++] = x;
 */
void *array_grow(void *p, size_t *cap, size_t need, size_t size);

/* Buffers kept alive together and freed together: say, until a file
 * writer that borrows them has written them. */
struct owned_bufs {
	void **v;
	size_t n, cap;
};

/* Take p into ob. Returns p, or NULL when p is NULL (a failed allocation)
 * or there is no memory to record it (p is freed then). */
void *owned_bufs_take(struct owned_bufs *ob, void *p);
/* Free every buffer taken and the list. */
void owned_bufs_free(struct owned_bufs *ob);

#define ALLOC_GROW(p, need, cap) __extension__({                                  \
	void *grown_ = array_grow((p), &(cap), (need), sizeof(*(p)));             \
	if (grown_)                                                                 \
		(p) = grown_;                                                       \
	grown_ ? 0 : -1;                                                            \
})

#endif
