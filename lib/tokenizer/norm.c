/*
 * norm — the normalizer steps of a segment, with or without the spans that
 * say where each output byte came from.
 *
 * Without spans (plain encoding) each step rewrites the whole string with
 * unicode.c's functions, as it always has. With spans (offsets asked for)
 * the same steps run unit by unit, and each unit's output bytes take the
 * span of the input it came from:
 *   - per code point: lowercase, accent stripping, BERT's cleaning and
 *     Chinese padding (each maps one code point on its own);
 *   - per starter and the non-starters after it: NFD and NFC. Composition
 *     can join two starters (Hangul jamo written decomposed, a few Indic
 *     vowel signs); the unit-wise result is compared with the whole-string
 *     one and, where they differ, every byte gets the segment's whole span:
 *     the tokens stay exact, only their offsets get coarse;
 *   - Replace, collapsed spaces and the precompiled charsmap: the bytes that
 *     replace a match take the span of the match; Prepend's bytes take the
 *     span of the first character; Strip drops bytes and their spans.
 * The ids never depend on whether spans were asked for.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"
#include "util/alloc.h"
#include "util/utf8.h"

int spanbuf_push(struct spanbuf *b, struct tspan sp)
{
	if (ALLOC_GROW(b->v, b->n + 1, b->cap))
		return -1;
	b->v[b->n++] = sp;
	return 0;
}

int spanbuf_fill(struct spanbuf *b, struct tspan sp, size_t n)
{
	if (ALLOC_GROW(b->v, b->n + n, b->cap))
		return -1;
	for (size_t i = 0; i < n; i++)
		b->v[b->n++] = sp;
	return 0;
}

void spanbuf_release(struct spanbuf *b)
{
	free(b->v);
	memset(b, 0, sizeof(*b));
}

struct tspan span_cover(const struct tspan *sp, size_t n)
{
	struct tspan c = sp[0];

	for (size_t i = 1; i < n; i++) {
		if (sp[i].s < c.s)
			c.s = sp[i].s;
		if (sp[i].e > c.e)
			c.e = sp[i].e;
	}
	return c;
}

void norm_scratch_release(struct norm_scratch *ns)
{
	strbuf_release(&ns->a);
	strbuf_release(&ns->b);
	strbuf_release(&ns->tmp);
	spanbuf_release(&ns->sa);
	spanbuf_release(&ns->sb);
}

typedef int (*text_fn)(const char *s, size_t len, struct strbuf *out);

static int is_space_cp(uint32_t cp)
{
	return cp == ' ' || ucd_is_white_space(cp);
}

/* Length of the code point at s[0] (s valid UTF-8, len > 0). */
static size_t cp_len(const char *s, size_t len, uint32_t *cp)
{
	int k = utf8_decode((const unsigned char *)s, len, cp);

	return k > 0 ? (size_t)k : 1;
}

/* fn over in, unit by unit; units of one code point, or (starters) a
 * starter and the non-starters after it. The check against the whole-string
 * result is described at the top. */
static int by_units(text_fn fn, int starters, const char *in, size_t len, const struct tspan *sp,
		    struct strbuf *out, struct spanbuf *osp, struct strbuf *tmp)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t end = i + cp_len(in + i, len - i, &cp), n0 = out->n;

		while (starters && end < len) {
			size_t k = cp_len(in + end, len - end, &cp);
			if (!ucd_ccc_of(cp))
				break;
			end += k;
		}
		if (fn(in + i, end - i, out) ||
		    spanbuf_fill(osp, span_cover(sp + i, end - i), out->n - n0))
			return -1;
		i = end;
	}
	if (!starters)
		return 0;
	tmp->n = 0;
	if (fn(in, len, tmp))
		return -1;
	if (tmp->n == out->n && !memcmp(tmp->p, out->p, out->n))
		return 0;
	out->n = 0;
	osp->n = 0;
	if (strbuf_add(out, tmp->p, tmp->n) ||
	    (len && spanbuf_fill(osp, span_cover(sp, len), tmp->n)))
		return -1;
	return 0;
}

/* Replace every a by r (spans: a match's cover for each byte of r). */
static int replace_spans(const char *s, size_t len, const struct tspan *sp, const char *a,
			 size_t a_len, const char *r, size_t r_len, struct strbuf *out,
			 struct spanbuf *osp)
{
	size_t i = 0;

	while (i < len) {
		if (a_len && i + a_len <= len && !memcmp(s + i, a, a_len)) {
			if (strbuf_add(out, r, r_len) ||
			    (sp && spanbuf_fill(osp, span_cover(sp + i, a_len), r_len)))
				return -1;
			i += a_len;
			continue;
		}
		if (strbuf_add(out, s + i, 1) || (sp && spanbuf_push(osp, sp[i])))
			return -1;
		i++;
	}
	return 0;
}

/* Runs of two or more ' ' become r. */
static int collapse_spaces(const char *s, size_t len, const struct tspan *sp, const char *r,
			   size_t r_len, struct strbuf *out, struct spanbuf *osp)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && s[j] == ' ')
			j++;
		if (j - i >= 2) {
			if (strbuf_add(out, r, r_len) ||
			    (sp && spanbuf_fill(osp, span_cover(sp + i, j - i), r_len)))
				return -1;
			i = j;
			continue;
		}
		if (strbuf_add(out, s + i, 1) || (sp && spanbuf_push(osp, sp[i])))
			return -1;
		i++;
	}
	return 0;
}

/* Strip white space at the start (which & 1) and the end (which & 2). */
static int strip(const char *s, size_t len, const struct tspan *sp, unsigned which,
		 struct strbuf *out, struct spanbuf *osp)
{
	size_t b = 0, e = len;
	uint32_t cp;

	while ((which & 1) && b < e) {
		size_t k = cp_len(s + b, e - b, &cp);
		if (!is_space_cp(cp))
			break;
		b += k;
	}
	while ((which & 2) && e > b) {
		size_t start = e - 1;
		while (start > b && ((unsigned char)s[start] & 0xc0) == 0x80)
			start--;
		cp_len(s + start, e - start, &cp);
		if (!is_space_cp(cp))
			break;
		e = start;
	}
	if (strbuf_add(out, s + b, e - b))
		return -1;
	if (sp && e > b && (ALLOC_GROW(osp->v, osp->n + (e - b), osp->cap) ? 1 : 0))
		return -1;
	if (sp && e > b) {
		memcpy(osp->v + osp->n, sp + b, (e - b) * sizeof(*sp));
		osp->n += e - b;
	}
	return 0;
}

static text_fn unit_fn(enum norm_kind kind, int *starters)
{
	*starters = kind == NORM_NFC || kind == NORM_NFD;
	switch (kind) {
	case NORM_NFC: return unicode_nfc;
	case NORM_NFD: return unicode_nfd;
	case NORM_LOWERCASE: return unicode_lowercase;
	case NORM_STRIP_ACCENTS: return unicode_strip_marks;
	case NORM_BERT_CLEAN: return bert_clean_text;
	case NORM_BERT_CHINESE: return bert_pad_chinese;
	default: return NULL;
	}
}

/* One step from (in, isp) into (out, osp); isp NULL: no spans. */
static int norm_step(const struct tokenizer *t, const struct norm_step *n, int no_prefix,
		     const char *in, size_t len, const struct tspan *isp, struct strbuf *out,
		     struct spanbuf *osp, struct strbuf *tmp)
{
	int starters;
	text_fn fn;

	switch (n->kind) {
	case NORM_PREPEND:
		if (!len || no_prefix)
			break;
		if (strbuf_add(out, n->a, n->a_len) || (isp && spanbuf_fill(osp, isp[0], n->a_len)))
			return -1;
		break;
	case NORM_REPLACE:
		return replace_spans(in, len, isp, n->a, n->a_len, n->b, n->b_len, out, osp);
	case NORM_STRIP:
		return strip(in, len, isp, (memchr(n->a, 'l', n->a_len) ? 1u : 0u) |
					   (memchr(n->a, 'r', n->a_len) ? 2u : 0u), out, osp);
	case NORM_COLLAPSE_SPACES:
		return collapse_spaces(in, len, isp, n->b, n->b_len, out, osp);
	case NORM_PRECOMPILED:
		return charsmap_apply(&t->charsmap, in, len, isp, out, isp ? osp : NULL);
	default:
		fn = unit_fn(n->kind, &starters);
		if (!fn)
			return -1;
		if (isp)
			return by_units(fn, starters, in, len, isp, out, osp, tmp);
		return fn(in, len, out);
	}
	/* Prepend: the text after the prefix */
	if (strbuf_add(out, in, len))
		return -1;
	if (isp && len) {
		if (ALLOC_GROW(osp->v, osp->n + len, osp->cap))
			return -1;
		memcpy(osp->v + osp->n, isp, len * sizeof(*isp));
		osp->n += len;
	}
	return 0;
}

int normalize_segment(const struct tokenizer *t, struct norm_scratch *ns, const char *seg,
		      size_t len, const struct tspan *sp, int no_prefix, const char **out,
		      size_t *out_len, const struct tspan **out_sp)
{
	const char *cur = seg;
	const struct tspan *cur_sp = sp;
	size_t cur_len = len;
	int use_a = 1;

	for (size_t k = 0; k < t->n_norm; k++) {
		struct strbuf *o = use_a ? &ns->a : &ns->b;
		struct spanbuf *osp = use_a ? &ns->sa : &ns->sb;

		o->n = 0;
		o->failed = 0;
		osp->n = 0;
		if (strbuf_reserve(o, cur_len + 1) ||
		    norm_step(t, &t->norm[k], no_prefix, cur, cur_len, cur_sp, o, osp, &ns->tmp))
			return -1;
		if (sp && osp->n != o->n)
			return -1;     /* a step lost track of its spans: a bug, not data */
		cur = o->p;
		cur_len = o->n;
		cur_sp = sp ? osp->v : NULL;
		use_a = !use_a;
	}
	*out = cur;
	*out_len = cur_len;
	*out_sp = cur_sp;
	return 0;
}
