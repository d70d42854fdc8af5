/*
 * unicode — class lookups and NFC over the generated tables; see unicode.h.
 *
 * Lookups are binary searches with an ASCII fast path: the pre-tokenizer
 * classifies every code point of its input, and most input is ASCII.
 * NFC follows UAX #15 literally (full canonical decomposition, canonical
 * reordering, canonical composition); Hangul syllables are decomposed and
 * composed arithmetically rather than tabled.
 */
#include "unicode.h"

#include "unicode_tables.h"
#include "../util/utf8.h"

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

static const struct ucd_decomp *decomp_of(uint32_t cp)
{
	size_t lo = 0, hi = ucd_decomp_n;

	if (cp < 0xC0)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < ucd_decomp[mid].cp)
			hi = mid;
		else if (cp > ucd_decomp[mid].cp)
			lo = mid + 1;
		else
			return &ucd_decomp[mid];
	}
	return NULL;
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
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		uint32_t *v = xreallocarray(b->v, cap, sizeof(*v));
		if (!v)
			return -1;
		b->v = v;
		b->cap = cap;
	}
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

int unicode_nfc(const char *s, size_t len, struct bytebuf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	struct cpbuf cps = { 0 };
	size_t i = 0, n;
	int rc = -1;

	while (i < len && u[i] < 0x80)
		i++;
	if (i == len)                    /* ASCII is always NFC */
		return bytebuf_add(out, s, len);

	if (i > 0)                       /* a mark may compose with the last ASCII letter */
		i--;
	if (bytebuf_add(out, s, i))
		return -1;
	while (i < len) {
		uint32_t cp;
		int k = utf8_decode(u + i, len - i, &cp);
		if (k <= 0)
			goto out_free;   /* callers validate; refuse rather than guess */
		if (decompose_into(&cps, cp))
			goto out_free;
		i += (size_t)k;
	}
	canonical_order(cps.v, cps.n);
	n = canonical_compose(cps.v, cps.n);
	if (bytebuf_reserve(out, n * 4))
		goto out_free;
	for (size_t j = 0; j < n; j++)
		out->n += (size_t)utf8_encode(cps.v[j], out->p + out->n);
	rc = 0;
out_free:
	free(cps.v);
	return rc;
}
