/*
 * special — added tokens that are matched in the text verbatim, before any
 * normalization or merging, so they can never be split ("<|im_start|>",
 * user-defined pieces).
 *
 * Matching is leftmost-longest, as Hugging Face's added-vocabulary matcher
 * does. Tokens are bucketed by first byte and kept longest first inside a
 * bucket, so a position whose byte starts no token costs one table read;
 * texts without specials cost a scan and nothing more. A token with lstrip
 * or rstrip (RoBERTa's <mask>) then takes the white space on that side into
 * its match, as Hugging Face extends a match after finding it.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"
#include "util/alloc.h"
#include "util/utf8.h"

int special_set_add(struct special_set *s, const char *text, size_t len, int32_t id,
		    unsigned flags)
{
	struct special *v;
	size_t off = s->text.n;

	if (!len || len > UINT32_MAX || off > UINT32_MAX - len)
		return -1;
	v = xreallocarray(s->v, s->n + 1, sizeof(*v));
	if (!v)
		return -1;
	s->v = v;
	if (strbuf_add(&s->text, text, len))
		return -1;
	v[s->n++] = (struct special){ .off = (uint32_t)off, .len = (uint32_t)len, .id = id,
				      .flags = flags, .first = (unsigned char)text[0] };
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

/* Is the code point starting at text[i] white space? Its length in *k. */
static int space_at(const char *text, size_t len, size_t i, size_t *k)
{
	uint32_t cp;
	int n = utf8_decode((const unsigned char *)text + i, len - i, &cp);

	*k = n > 0 ? (size_t)n : 1;
	return n > 0 && ucd_is_white_space(cp);
}

/* Where the white space run ending at end starts (not before from). */
static size_t space_before(const char *text, size_t len, size_t from, size_t end)
{
	while (end > from) {
		size_t start = end - 1, k;

		while (start > from && ((unsigned char)text[start] & 0xc0) == 0x80)
			start--;
		if (!space_at(text, len, start, &k) || start + k != end)
			break;
		end = start;
	}
	return end;
}

static size_t space_after(const char *text, size_t len, size_t i)
{
	size_t k;

	while (i < len && space_at(text, len, i, &k))
		i += k;
	return i;
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
			size_t start = p, end;

			if ((sp->flags & SPECIAL_CONTROL) && !(flags & TOK_PARSE_SPECIAL))
				continue;
			if (sp->len > len - p || memcmp(text + p, s->text.p + sp->off, sp->len))
				continue;
			end = p + sp->len;
			if (sp->flags & SPECIAL_LSTRIP)
				start = space_before(text, len, from, p);
			if (sp->flags & SPECIAL_RSTRIP)
				end = space_after(text, len, end);
			*at = start;
			*mlen = end - start;
			*id = sp->id;
			return 1;
		}
	}
	return 0;
}

void special_set_release(struct special_set *s)
{
	strbuf_release(&s->text);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
