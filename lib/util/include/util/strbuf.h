/*
 * strbuf — a growable byte string.
 *
 * One buffer type for every text and byte stream the code builds: the
 * tokenizer's intermediate texts (normalisers and pre-tokenizers rewrite
 * text stage by stage), serialised file headers, HTTP bodies. It grows
 * geometrically (util/alloc.h), and owns p: strbuf_release() frees it.
 * The functions here keep a NUL after the n bytes whenever p is allocated,
 * so text can go to C string functions (code that writes p[] directly
 * after a reservation keeps that up itself, if it needs it).
 *
 * Failure is sticky: once a reservation fails (out of memory, a size that
 * overflows), failed is set and every later add does nothing and returns
 * -1, so a serialiser may append many pieces and check once at the end.
 */
#ifndef ADA_UTIL_STRBUF_H
#define ADA_UTIL_STRBUF_H

#include <stddef.h>
#include <string.h>

struct strbuf {
	char *p;            /* owned; NULL until the first reservation */
	size_t n, cap;      /* bytes used; allocated (cap > n for the NUL) */
	int failed;         /* a reservation failed; the contents are incomplete */
};

#define STRBUF_INIT { NULL, 0, 0, 0 }

/* Out of line: grow to hold extra more bytes and the NUL (0 or -1). */
int strbuf_grow(struct strbuf *sb, size_t extra);

/* Room for extra more bytes; 0, or -1 (and failed) on OOM or overflow. */
static inline int strbuf_reserve(struct strbuf *sb, size_t extra)
{
	if (sb->failed)
		return -1;
	if (sb->p && extra < sb->cap - sb->n)
		return 0;
	return strbuf_grow(sb, extra);
}

static inline int strbuf_add(struct strbuf *sb, const void *s, size_t len)
{
	if (strbuf_reserve(sb, len))
		return -1;
	if (len)
		memcpy(sb->p + sb->n, s, len);
	sb->n += len;
	sb->p[sb->n] = '\0';
	return 0;
}

static inline int strbuf_addch(struct strbuf *sb, char c)
{
	return strbuf_add(sb, &c, 1);
}

static inline int strbuf_addstr(struct strbuf *sb, const char *s)
{
	return strbuf_add(sb, s, strlen(s));
}

/* printf into the end of the buffer. */
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empty (keeping the allocation, clearing failed). */
void strbuf_reset(struct strbuf *sb);

/* Hand p to the caller (never NULL on success: "" for an empty buffer) and
 * leave sb empty; NULL when the buffer failed or memory ran out. */
char *strbuf_detach(struct strbuf *sb, size_t *len);

void strbuf_release(struct strbuf *sb);

#endif
