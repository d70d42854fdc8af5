/*
 * ivec — a growable array of int32 (token ids, indices).
 */
#ifndef ADA_UTIL_IVEC_H
#define ADA_UTIL_IVEC_H

#include <stddef.h>
#include <stdint.h>

struct ivec {
	int32_t *v;
	size_t n, cap;
};

/* Append x; 0, or -1 on OOM (iv unchanged). */
int ivec_push(struct ivec *iv, int32_t x);
/* Make room for at least `extra` more elements; 0 or -1. */
int ivec_reserve(struct ivec *iv, size_t extra);
void ivec_release(struct ivec *iv);

#endif
