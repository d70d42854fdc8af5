/*
 * unicode — class lookups, NFC, NFD and lowercasing over the generated
 * tables; see unicode.h.
 *
 * Lookups are binary searches with an ASCII fast path: the pre-tokenizer
 * classifies every code point of its input, and most input is ASCII.
 * NFC follows UAX #15 literally (full canonical decomposition, canonical
 * reordering, canonical composition); NFD is its first two steps. Hangul
 * syllables are decomposed and composed arithmetically rather than tabled.
 */
#include "tokenizer/unicode.h"

#include <stdlib.h>


#include "tokenizer/unicode_tables.h"
#include "util/alloc.h"
#include "util/utf8.h"

enum {
	HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
	HANGUL_LN = 19, HANGUL_VN = 21, HANGUL_TN = 28,
	HANGUL_NN = HANGUL_VN * HANGUL_TN, HANGUL_SN = HANGUL_LN * HANGUL_NN,
};

static int in_ranges(const struct ucd_range *r, size_t n, uint32_t cp)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

unsigned ucd_class_of(uint32_t cp)
{
	if (cp < 0x80)
		return ucd_class_ascii((unsigned char)cp);
	if (in_ranges(ucd_letter, ucd_letter_n, cp))
		return UCD_LETTER;
	if (in_ranges(ucd_number, ucd_number_n, cp))
		return UCD_NUMBER;
	if (in_ranges(ucd_space, ucd_space_n, cp))
		return UCD_SPACE;
	return 0;
}

const char *ucd_unicode_version(void)
{
	return ucd_version;
}

static unsigned ccc_of(uint32_t cp)
{
	size_t lo = 0, hi = ucd_ccc_n;

	if (cp < 0x300)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < ucd_ccc[mid].lo)
			hi = mid;
		else if (cp > ucd_ccc[mid].hi)
			lo = mid + 1;
		else
			return ucd_ccc[mid].ccc;
	}
	return 0;
}

static const struct ucd_decomp *mapping_of(const struct ucd_decomp *t, size_t n, uint32_t cp)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < t[mid].cp)
			hi = mid;
		else if (cp > t[mid].cp)
			lo = mid + 1;
		else
			return &t[mid];
	}
	return NULL;
}

static const struct ucd_decomp *decomp_of(uint32_t cp)
{
	return cp < 0xC0 ? NULL : mapping_of(ucd_decomp, ucd_decomp_n, cp);
}

/* The primary composite of (a, b), or 0 when they do not compose. */
static uint32_t compose(uint32_t a, uint32_t b)
{
	size_t lo = 0, hi = ucd_compose_n;

	if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LN &&
	    b >= HANGUL_V && b < HANGUL_V + HANGUL_VN)
		return HANGUL_S + ((a - HANGUL_L) * HANGUL_VN + (b - HANGUL_V)) * HANGUL_TN;
	if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SN && (a - HANGUL_S) % HANGUL_TN == 0 &&
	    b > HANGUL_T && b < HANGUL_T + HANGUL_TN)
		return a + (b - HANGUL_T);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ucd_compose *c = &ucd_compose[mid];
		if (a < c->first || (a == c->first && b < c->second))
			hi = mid;
		else if (a > c->first || b > c->second)
			lo = mid + 1;
		else
			return c->composite;
	}
	return 0;
}

struct cpbuf {
	uint32_t *v;
	size_t n, cap;
};

static int cpbuf_push(struct cpbuf *b, uint32_t cp)
{
	if (ALLOC_GROW(b->v, b->n + 1, b->cap))
		return -1;
	b->v[b->n++] = cp;
	return 0;
}

static int decompose_into(struct cpbuf *b, uint32_t cp)
{
	const struct ucd_decomp *d;

	if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SN) {
		uint32_t s = cp - HANGUL_S;
		if (cpbuf_push(b, HANGUL_L + s / HANGUL_NN) ||
		    cpbuf_push(b, HANGUL_V + (s % HANGUL_NN) / HANGUL_TN))
			return -1;
		if (s % HANGUL_TN && cpbuf_push(b, HANGUL_T + s % HANGUL_TN))
			return -1;
		return 0;
	}
	d = decomp_of(cp);
	if (!d)
		return cpbuf_push(b, cp);
	for (unsigned i = 0; i < d->n; i++)
		if (cpbuf_push(b, ucd_decomp_pool[d->at + i]))
			return -1;
	return 0;
}

/* Stable sort of each run of non-starters by combining class. Runs are a
 * few code points long, so insertion sort is the right tool. */
static void canonical_order(uint32_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint32_t c = v[i];
		unsigned cc = ccc_of(c);
		size_t j = i;

		if (!cc)
			continue;
		while (j > 0) {
			unsigned pc = ccc_of(v[j - 1]);
			if (!pc || pc <= cc)
				break;
			v[j] = v[j - 1];
			j--;
		}
		v[j] = c;
	}
}

/* Canonical composition in place; returns the new length. A character joins
 * the last starter unless something between them blocks it: a starter, or
 * a mark of the same or higher class. Marks after the starter are in
 * canonical order, so the last one written has the highest class. */
static size_t canonical_compose(uint32_t *v, size_t n)
{
	size_t out = 0, starter = SIZE_MAX;
	unsigned last_cc = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t c = v[i];
		unsigned cc = ccc_of(c);

		if (starter != SIZE_MAX) {
			int adjacent = out == starter + 1;
			if (adjacent || (last_cc && last_cc < cc)) {
				uint32_t comp = compose(v[starter], c);
				if (comp) {
					v[starter] = comp;
					continue;
				}
			}
		}
		if (!cc)
			starter = out;
		last_cc = cc;
		v[out++] = c;
	}
	return out;
}

static int encode_cps(const uint32_t *v, size_t n, struct strbuf *out)
{
	size_t bytes;

	if (size_mul(n, 4, &bytes) || strbuf_reserve(out, bytes))
		return -1;
	for (size_t j = 0; j < n; j++)
		out->n += (size_t)utf8_encode(v[j], out->p + out->n);
	return 0;
}

/* The ASCII prefix of s goes to out as is (ASCII is NFC and NFD), but for
 * its last byte, which a following mark may compose with; the rest is
 * decomposed and put in canonical order in cps. */
static int decompose_text(const char *s, size_t len, struct strbuf *out, struct cpbuf *cps)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len && u[i] < 0x80)
		i++;
	if (i > 0 && i < len)
		i--;
	if (strbuf_add(out, s, i))
		return -1;
	while (i < len) {
		uint32_t cp;
		int k = utf8_decode(u + i, len - i, &cp);
		if (k <= 0)
			return -1;       /* callers validate; refuse rather than guess */
		if (decompose_into(cps, cp))
			return -1;
		i += (size_t)k;
	}
	canonical_order(cps->v, cps->n);
	return 0;
}

int unicode_nfc(const char *s, size_t len, struct strbuf *out)
{
	struct cpbuf cps = { 0 };
	int rc = decompose_text(s, len, out, &cps);

	if (!rc)
		rc = encode_cps(cps.v, canonical_compose(cps.v, cps.n), out);
	free(cps.v);
	return rc;
}

int unicode_nfd(const char *s, size_t len, struct strbuf *out)
{
	struct cpbuf cps = { 0 };
	int rc = decompose_text(s, len, out, &cps);

	if (!rc)
		rc = encode_cps(cps.v, cps.n, out);
	free(cps.v);
	return rc;
}

int ucd_is_punct(uint32_t cp)
{
	return in_ranges(ucd_punct, ucd_punct_n, cp);
}

int ucd_is_control(uint32_t cp)
{
	return in_ranges(ucd_control, ucd_control_n, cp);
}

int ucd_is_nonspacing_mark(uint32_t cp)
{
	return cp >= 0x300 && in_ranges(ucd_nonspacing_mark, ucd_nonspacing_mark_n, cp);
}

unsigned ucd_ccc_of(uint32_t cp)
{
	return ccc_of(cp);
}

int ucd_is_white_space(uint32_t cp)
{
	return in_ranges(ucd_space, ucd_space_n, cp);
}

int unicode_strip_marks(const char *s, size_t len, struct strbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;

	if (strbuf_reserve(out, len))
		return -1;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int k = u[i] < 0x80 ? 1 : utf8_decode(u + i, len - i, &cp);

		if (k <= 0)
			return -1;
		if (k == 1 || !ucd_is_nonspacing_mark(cp)) {
			memcpy(out->p + out->n, s + i, (size_t)k);
			out->n += (size_t)k;
		}
		i += (size_t)k;
	}
	return 0;
}

int unicode_lowercase(const char *s, size_t len, struct strbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		const struct ucd_decomp *m;
		uint32_t cp;
		int k;

		if (u[i] < 0x80) {
			size_t end = i;
			while (end < len && u[end] < 0x80)
				end++;
			if (strbuf_reserve(out, end - i))
				return -1;
			for (; i < end; i++)
				out->p[out->n++] = (char)(u[i] >= 'A' && u[i] <= 'Z' ? u[i] + 32 : u[i]);
			continue;
		}
		k = utf8_decode(u + i, len - i, &cp);
		if (k <= 0)
			return -1;
		m = mapping_of(ucd_lower, ucd_lower_n, cp);
		if (!m) {
			if (strbuf_add(out, s + i, (size_t)k))
				return -1;
		} else if (encode_cps(ucd_lower_pool + m->at, m->n, out)) {
			return -1;
		}
		i += (size_t)k;
	}
	return 0;
}
