/*
 * bytebuf — a growable byte string for the tokenizer's intermediate texts.
 *
 * Normalizers and pre-tokenizers rewrite text (U+2581 for spaces, GPT-2's
 * byte alphabet, NFC); each stage writes into one of these, which grows by
 * doubling so a 1 MB input costs a handful of reallocations. The buffer
 * owns p; bytebuf_release() frees it.
 */
#ifndef ADA_TOKENIZER_BYTEBUF_H
#define ADA_TOKENIZER_BYTEBUF_H

#include <stdlib.h>
#include <string.h>

#include "../util/alloc.h"

struct bytebuf {
	char *p;
	size_t n, cap;
};

/* Make room for extra more bytes; 0, or -1 on OOM/overflow. */
static inline int bytebuf_reserve(struct bytebuf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (size_add(b->n, extra, &need))
		return -1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (size_mul(cap, 2, &cap))
			return -1;
	}
	p = xreallocarray(b->p, cap, 1);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static inline int bytebuf_add(struct bytebuf *b, const void *s, size_t len)
{
	if (bytebuf_reserve(b, len))
		return -1;
	if (len)
		memcpy(b->p + b->n, s, len);
	b->n += len;
	return 0;
}

static inline void bytebuf_release(struct bytebuf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

#endif
