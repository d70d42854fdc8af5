/*
 * charsmap — SentencePiece's precompiled normalization rules
 * (NormalizerSpec.precompiled_charsmap in spm.model, the Precompiled
 * normalizer's precompiled_charsmap in tokenizer.json, base64 there).
 *
 * The blob is <u32 trie size, little-endian><darts-clone double array of
 * that many bytes><replacement strings, each NUL-terminated>. The trie maps
 * a byte string (one or more characters: "ｶﾞ", "ﬁ", U+00A0) to the offset
 * of its replacement. Normalizing (normalizer.cc, NormalizePrefix) takes,
 * at each position, the longest rule that matches a prefix of the rest of
 * the text, else the next character unchanged. This is SentencePiece's own
 * rule; Hugging Face's Precompiled first cuts the text into grapheme
 * clusters and tries each whole cluster of under 6 bytes, which can differ
 * on clusters that are a rule only as a whole (README, "Unigram").
 *
 * The double array is walked with darts-clone's unit layout: a unit holds a
 * label (its byte, bits 0-7; bit 31 set on value units so no byte matches),
 * a has-leaf flag (bit 8) and the offset to its children (bits 10-31,
 * shifted 8 more when bit 9 is set); a node's value sits in the unit at
 * its base. Every index is checked against the array's size, so a
 * malformed blob fails to match rather than reading out of bounds.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

static uint32_t unit_label(uint32_t u)
{
	return u & ((1u << 31) | 0xffu);
}

static int unit_has_leaf(uint32_t u)
{
	return (u >> 8) & 1;
}

static uint32_t unit_offset(uint32_t u)
{
	return (u >> 10) << ((u & (1u << 9)) >> 6);
}

static uint32_t unit_value(uint32_t u)
{
	return u & ((1u << 31) - 1);
}

int charsmap_load(struct charsmap *m, const void *blob, size_t len, const char *source,
		  struct ada_err *err)
{
	const unsigned char *b = blob;
	uint32_t trie;

	memset(m, 0, sizeof(*m));
	if (len <= 4)
		return ada_fail(err, ADA_EFORMAT, "%s: precompiled_charsmap of %zu bytes is too short",
				source, len);
	trie = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	if (trie >= len - 4 || trie % 4 || trie < 4)
		return ada_fail(err, ADA_EFORMAT,
				"%s: precompiled_charsmap: a trie of %u bytes does not fit in %zu",
				source, trie, len);
	m->n_units = trie / 4;
	m->units = xcalloc(m->n_units, sizeof(*m->units));
	m->repl_len = len - 4 - trie;
	m->repl = malloc(m->repl_len + 1);
	if (!m->units || !m->repl) {
		charsmap_release(m);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_units; i++) {
		const unsigned char *p = b + 4 + 4 * i;
		m->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			      (uint32_t)p[3] << 24;
	}
	memcpy(m->repl, b + 4 + trie, m->repl_len);
	m->repl[m->repl_len] = '\0';       /* a last string without its NUL ends here */
	/* Replacements go on to steps that need valid UTF-8. */
	for (size_t at = 0; at < m->repl_len;) {
		size_t n = strlen(m->repl + at);
		if (utf8_validate(m->repl + at, n) != n) {
			charsmap_release(m);
			return ada_fail(err, ADA_EFORMAT,
					"%s: precompiled_charsmap: replacement at byte %zu is not valid UTF-8",
					source, at);
		}
		at += n + 1;
	}
	return ADA_OK;
}

void charsmap_release(struct charsmap *m)
{
	free(m->units);
	free(m->repl);
	memset(m, 0, sizeof(*m));
}

const char *charsmap_match(const struct charsmap *m, const char *s, size_t len, size_t *used,
			   size_t *rlen)
{
	size_t pos = 0, best_len = 0;
	uint32_t best_value = 0;

	*used = 0;
	*rlen = 0;
	if (!m->n_units)
		return NULL;
	pos ^= unit_offset(m->units[0]);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		uint32_t u;

		if (!c)
			break;          /* darts-clone keys end at NUL */
		pos ^= c;
		if (pos >= m->n_units)
			break;
		u = m->units[pos];
		if (unit_label(u) != c)
			break;
		pos ^= unit_offset(u);
		if (pos >= m->n_units)
			break;
		/* a rule ends on a character boundary, or the rest would not
		 * be UTF-8 */
		if (unit_has_leaf(u) && (i + 1 == len || ((unsigned char)s[i + 1] & 0xc0) != 0x80)) {
			best_len = i + 1;
			best_value = unit_value(m->units[pos]);
		}
	}
	if (!best_len || best_value >= m->repl_len + 1)
		return NULL;
	*used = best_len;
	*rlen = strlen(m->repl + best_value);
	return m->repl + best_value;
}

int charsmap_apply(const struct charsmap *m, const char *s, size_t len,
		   const struct tspan *in_sp, struct strbuf *out, struct spanbuf *out_sp)
{
	size_t i = 0;

	while (i < len) {
		size_t used, rlen, n0 = out->n;
		const char *r = charsmap_match(m, s + i, len - i, &used, &rlen);

		if (!r) {
			uint32_t cp;
			int k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
			used = k > 0 ? (size_t)k : 1;
			r = s + i;
			rlen = used;
		}
		if (strbuf_add(out, r, rlen))
			return -1;
		if (in_sp && spanbuf_fill(out_sp, span_cover(in_sp + i, used), out->n - n0))
			return -1;
		i += used;
	}
	return 0;
}
