/*
 * special — added tokens that are matched in the text verbatim, before any
 * normalization or merging, so they can never be split ("<|im_start|>",
 * user-defined pieces).
 *
 * Matching is leftmost-longest, as Hugging Face's added-vocabulary matcher
 * does. Tokens are bucketed by first byte and kept longest first inside a
 * bucket, so a position whose byte starts no token costs one table read;
 * texts without specials cost a scan and nothing more.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "../util/alloc.h"

int special_set_add(struct special_set *s, const char *text, size_t len, int32_t id,
		    int control)
{
	struct special *v;
	size_t off = s->text.n;

	if (!len || len > UINT32_MAX || off > UINT32_MAX - len)
		return -1;
	v = xreallocarray(s->v, s->n + 1, sizeof(*v));
	if (!v)
		return -1;
	s->v = v;
	if (bytebuf_add(&s->text, text, len))
		return -1;
	v[s->n++] = (struct special){ .off = (uint32_t)off, .len = (uint32_t)len, .id = id,
				      .control = control, .first = (unsigned char)text[0] };
	return 0;
}

static int by_first_byte_then_longest(const void *pa, const void *pb)
{
	const struct special *a = pa, *b = pb;

	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

void special_set_finish(struct special_set *s)
{
	size_t i = 0;

	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), by_first_byte_then_longest);
	for (unsigned c = 0; c <= 256; c++) {
		while (i < s->n && s->v[i].first < c)
			i++;
		s->bucket[c] = (uint32_t)i;
	}
}

int special_set_next(const struct special_set *s, const char *text, size_t len,
		     size_t from, unsigned flags, size_t *at, size_t *mlen, int32_t *id)
{
	if (!s->n)
		return 0;
	for (size_t p = from; p < len; p++) {
		unsigned char c = (unsigned char)text[p];

		for (uint32_t k = s->bucket[c]; k < s->bucket[c + 1]; k++) {
			const struct special *sp = &s->v[k];
			if (sp->control && !(flags & TOK_PARSE_SPECIAL))
				continue;
			if (sp->len <= len - p && !memcmp(text + p, s->text.p + sp->off, sp->len)) {
				*at = p;
				*mlen = sp->len;
				*id = sp->id;
				return 1;
			}
		}
	}
	return 0;
}

void special_set_release(struct special_set *s)
{
	bytebuf_release(&s->text);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
