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

#include "util/alloc.h"

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

/* Set b to s with every occurrence of a replaced by r (a empty: s as is). */
static inline int bytebuf_set_replaced(struct bytebuf *b, const char *s, size_t len,
				       const char *a, size_t a_len, const char *r, size_t r_len)
{
	size_t i = 0, from = 0;

	b->n = 0;
	if (!a_len)
		return bytebuf_add(b, s, len);
	while (i + a_len <= len) {
		if (s[i] == a[0] && !memcmp(s + i, a, a_len)) {
			if (bytebuf_add(b, s + from, i - from) || bytebuf_add(b, r, r_len))
				return -1;
			i += a_len;
			from = i;
		} else {
			i++;
		}
	}
	return bytebuf_add(b, s + from, len - from);
}

static inline void bytebuf_release(struct bytebuf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

#endif
