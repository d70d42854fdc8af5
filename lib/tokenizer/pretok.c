/*
 * pretok — pre-tokenizers: cutting a normalized segment into words that
 * merges never cross, and rewriting them into the vocabulary's alphabet.
 *
 * The regexes of GPT-2, Llama 3 and Qwen2 are implemented by hand as
 * scanners over code points; each comment gives the alternatives it
 * implements, tried in the regex's order with the same backtracking result
 * (e.g. \s+(?!\S) leaves the last space of a run to the word that follows).
 * No regex engine, no locale: the character classes come from unicode.c's
 * generated tables.
 *
 * ByteLevel maps every byte to GPT-2's printable alphabet (bytes_to_unicode)
 * so byte-level vocabularies see text without spaces or control bytes;
 * Metaspace turns spaces into U+2581 and adds SentencePiece's prefix.
 * BERT's pre-tokenizer cuts at white space and around punctuation.
 *
 * Steps run as a pipeline: each word a step produces goes straight on to
 * the next step and finally to the sink (the merge loop), so memory stays
 * at the size of the largest word rather than of the whole input.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

/* ---- GPT-2's byte alphabet --------------------------------------------- */

/* Printable Latin-1 bytes stand for themselves; the 68 others (controls,
 * space, DEL..NBSP, soft hyphen) take U+0100.. in byte order. */
uint32_t bytelevel_cp(uint8_t b)
{
	if (b <= 0x20)
		return 0x100u + b;
	if (b >= 0x7f && b <= 0xa0)
		return 0x100u + 33 + (b - 0x7fu);
	if (b == 0xad)
		return 0x100u + 67;
	return b;
}

int bytelevel_byte(uint32_t cp)
{
	if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) || (cp >= 0xae && cp <= 0xff))
		return (int)cp;
	if (cp >= 0x100 && cp <= 0x120)
		return (int)(cp - 0x100);
	if (cp >= 0x121 && cp <= 0x142)
		return (int)(cp - 0x121 + 0x7f);
	if (cp == 0x143)
		return 0xad;
	return -1;
}

/* ---- the regex scanners ------------------------------------------------- */

/* One decoded code point of the text being scanned. */
struct ch {
	uint32_t cp;
	unsigned cls;           /* enum ucd_class bits */
	size_t next;            /* byte offset after it */
};

struct scan {
	const unsigned char *s;
	size_t len;
};

/* Decode at byte i < len. The text was validated; a stray byte (which
 * cannot happen) is taken as a one-byte "other" so scanning still ends. */
static inline struct ch at(const struct scan *sc, size_t i)
{
	struct ch c;
	int k;

	if (sc->s[i] < 0x80)
		return (struct ch){ sc->s[i], ucd_class_ascii(sc->s[i]), i + 1 };
	k = utf8_decode(sc->s + i, sc->len - i, &c.cp);
	if (k <= 0)
		return (struct ch){ sc->s[i], 0, i + 1 };
	c.cls = ucd_class_of(c.cp);
	c.next = i + (size_t)k;
	return c;
}

#define IS_L(c) ((c).cls & UCD_LETTER)
#define IS_N(c) ((c).cls & UCD_NUMBER)
#define IS_S(c) ((c).cls & UCD_SPACE)
#define IS_OTHER(c) (!(c).cls)                 /* [^\s\p{L}\p{N}] */
#define IS_RN(c) ((c).cp == '\r' || (c).cp == '\n')

/* The end of the run of characters from i whose class satisfies want. */
static size_t run_end(const struct scan *sc, size_t i, unsigned want, int other)
{
	while (i < sc->len) {
		struct ch c = at(sc, i);
		if (other ? !IS_OTHER(c) : !(c.cls & want))
			break;
		i = c.next;
	}
	return i;
}

static uint32_t ascii_lower(uint32_t cp)
{
	return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

/* 's|'t|'re|'ve|'m|'ll|'d at i (c0 = the apostrophe), optionally ignoring
 * ASCII case; the end, or 0. */
static size_t contraction(const struct scan *sc, struct ch c0, int fold)
{
	struct ch c1, c2;
	uint32_t a, b;

	if (c0.cp != '\'' || c0.next >= sc->len)
		return 0;
	c1 = at(sc, c0.next);
	a = fold ? ascii_lower(c1.cp) : c1.cp;
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return c1.next;
	if (c1.next >= sc->len)
		return 0;
	c2 = at(sc, c1.next);
	b = fold ? ascii_lower(c2.cp) : c2.cp;
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return c2.next;
	return 0;
}

/* \s+(?!\S)|\s+ at white space i: a run that reaches the end, or all of a
 * longer run but its last character (which then starts the next word), or
 * a single white-space character. */
static size_t space_run(const struct scan *sc, size_t i)
{
	size_t k = i, last = i;

	while (k < sc->len) {
		struct ch c = at(sc, k);
		if (!IS_S(c))
			break;
		last = k;
		k = c.next;
	}
	if (k < sc->len && last > i)
		return last;
	return k;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const struct scan *sc, size_t i)
{
	struct ch c = at(sc, i);
	size_t k;

	if ((k = contraction(sc, c, 0)))
		return k;
	if (c.cp == ' ' && c.next < sc->len)
		c = at(sc, c.next);          /* the optional leading space */
	if (IS_L(c))
		return run_end(sc, c.next, UCD_LETTER, 0);
	if (IS_N(c))
		return run_end(sc, c.next, UCD_NUMBER, 0);
	if (IS_OTHER(c))
		return run_end(sc, c.next, 0, 1);
	return space_run(sc, i);          /* the character at i is white space */
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Llama 3 has max_digits 3, Qwen2 1. */
static size_t match_llama3(const struct scan *sc, size_t i, unsigned max_digits)
{
	struct ch c = at(sc, i), d;
	size_t k, last_rn;

	if ((k = contraction(sc, c, 1)))
		return k;
	if (IS_L(c))
		return run_end(sc, c.next, UCD_LETTER, 0);
	if (!IS_RN(c) && !IS_N(c) && c.next < sc->len && IS_L(at(sc, c.next)))
		return run_end(sc, c.next, UCD_LETTER, 0);
	if (IS_N(c)) {
		k = c.next;
		for (unsigned n = 1; n < max_digits && k < sc->len; n++) {
			d = at(sc, k);
			if (!IS_N(d))
				break;
			k = d.next;
		}
		return k;
	}
	d = c.cp == ' ' && c.next < sc->len ? at(sc, c.next) : c;
	if (IS_OTHER(d)) {
		k = run_end(sc, d.next, 0, 1);
		while (k < sc->len && IS_RN(d = at(sc, k)))
			k = d.next;
		return k;
	}
	/* The character at i is white space: \s*[\r\n]+ takes the run up to
	 * its last line break, if it has one. */
	k = i;
	last_rn = 0;
	while (k < sc->len) {
		d = at(sc, k);
		if (!IS_S(d))
			break;
		k = d.next;
		if (IS_RN(d))
			last_rn = k;
	}
	if (last_rn)
		return last_rn;
	return space_run(sc, i);
}

static size_t match_at(enum pretok_kind kind, const struct scan *sc, size_t i)
{
	switch (kind) {
	case PRETOK_SPLIT_LLAMA3:
		return match_llama3(sc, i, 3);
	case PRETOK_SPLIT_QWEN2:
		return match_llama3(sc, i, 1);
	default:
		return match_gpt2(sc, i);
	}
}

/* ---- the pipeline --------------------------------------------------------- */

struct pipe {
	const struct pretok_step *steps;
	size_t n;
	struct strbuf *buf;            /* two per step */
	struct spanbuf *spans;         /* two per step */
	int with_spans;
	word_sink sink;
	void *arg;
	struct ada_err *err;
};

/* sp: the spans of w's bytes, or NULL when the pipe has none. */
static int stage(struct pipe *p, size_t k, const char *w, size_t len, const struct tspan *sp,
		 unsigned flags);

/* sp + i when there are spans. */
static const struct tspan *at_sp(const struct tspan *sp, size_t i)
{
	return sp ? sp + i : NULL;
}

static int oom(struct pipe *p)
{
	return ada_fail(p->err, ADA_ENOMEM, "out of memory");
}

/* Every regex match of w goes on to stage k + 1. */
static int split_regex(struct pipe *p, size_t k, enum pretok_kind kind, const char *w,
		       size_t len, const struct tspan *sp, unsigned flags)
{
	struct scan sc = { (const unsigned char *)w, len };
	size_t i = 0;
	int rc;

	while (i < len) {
		size_t e = match_at(kind, &sc, i);
		if ((rc = stage(p, k + 1, w + i, e - i, at_sp(sp, i), i ? 0 : flags)))
			return rc;
		i = e;
	}
	return ADA_OK;
}

static int starts_with(const char *s, size_t len, const char *pre, size_t plen)
{
	return len >= plen && !memcmp(s, pre, plen);
}

/* ByteLevel: optional prefix space, optional GPT-2 split, then each piece
 * in the byte alphabet. */
static int step_bytelevel(struct pipe *p, size_t k, const char *w, size_t len,
			  const struct tspan *sp, unsigned flags)
{
	const struct pretok_step *st = &p->steps[k];
	struct strbuf *text = &p->buf[2 * k], *mapped = &p->buf[2 * k + 1];
	struct spanbuf *tsp = &p->spans[2 * k], *msp = &p->spans[2 * k + 1];
	struct scan sc;
	size_t i = 0;
	int rc;

	if (st->add_prefix_space && !(flags & WORD_NO_PREFIX) && (!len || w[0] != ' ')) {
		text->n = 0;
		tsp->n = 0;
		if (strbuf_add(text, " ", 1) || strbuf_add(text, w, len))
			return oom(p);
		if (sp && spanbuf_push(tsp, len ? sp[0] : (struct tspan){ 0, 0 }))
			return oom(p);
		for (size_t j = 0; sp && j < len; j++)
			if (spanbuf_push(tsp, sp[j]))
				return oom(p);
		w = text->p;
		len = text->n;
		sp = sp ? tsp->v : NULL;
	}
	sc = (struct scan){ (const unsigned char *)w, len };
	while (i < len) {
		size_t e = st->use_regex ? match_gpt2(&sc, i) : len;

		mapped->n = 0;
		msp->n = 0;
		if (strbuf_reserve(mapped, (e - i) * 2))
			return oom(p);
		for (size_t j = i; j < e; j++) {
			int n = utf8_encode(bytelevel_cp((uint8_t)w[j]), mapped->p + mapped->n);
			mapped->n += (size_t)n;
			if (sp && spanbuf_fill(msp, sp[j], (size_t)n))
				return oom(p);
		}
		if ((rc = stage(p, k + 1, mapped->p, mapped->n, sp ? msp->v : NULL, i ? 0 : flags)))
			return rc;
		i = e;
	}
	return ADA_OK;
}

/* Metaspace: ' ' -> replacement, the prefix per scheme, then (split) a new
 * word at every replacement, which stays with the word it starts. */
static int step_metaspace(struct pipe *p, size_t k, const char *w, size_t len,
			  const struct tspan *sp, unsigned flags)
{
	const struct pretok_step *st = &p->steps[k];
	struct strbuf *out = &p->buf[2 * k];
	struct spanbuf *osp = &p->spans[2 * k];
	int prefix = !(flags & WORD_NO_PREFIX) &&
		     (st->prepend == PREPEND_ALWAYS ||
		      (st->prepend == PREPEND_FIRST && (flags & WORD_AT_START)));
	size_t start = 0;
	int rc;

	out->n = 0;
	osp->n = 0;
	if (prefix && !(len && w[0] == ' ') && !starts_with(w, len, st->repl, st->repl_len) &&
	    (strbuf_add(out, st->repl, st->repl_len) ||
	     (sp && len && spanbuf_fill(osp, sp[0], st->repl_len))))
		return oom(p);
	if (strbuf_reserve(out, len * st->repl_len))
		return oom(p);
	for (size_t i = 0; i < len; i++) {
		size_t n = 1;

		if (w[i] == ' ') {
			memcpy(out->p + out->n, st->repl, st->repl_len);
			out->n += st->repl_len;
			n = st->repl_len;
		} else {
			out->p[out->n++] = w[i];
		}
		if (sp && spanbuf_fill(osp, sp[i], n))
			return oom(p);
	}
	/* a prefix before empty text has no character to borrow a span from */
	if (sp && osp->n < out->n && spanbuf_fill(osp, (struct tspan){ 0, 0 }, out->n - osp->n))
		return oom(p);
	for (size_t i = 1; st->split && i + st->repl_len <= out->n; i++) {
		if (!starts_with(out->p + i, out->n - i, st->repl, st->repl_len))
			continue;
		if ((rc = stage(p, k + 1, out->p + start, i - start, sp ? osp->v + start : NULL,
				start ? 0 : flags)))
			return rc;
		start = i;
		i += st->repl_len - 1;
	}
	if (out->n > start)
		return stage(p, k + 1, out->p + start, out->n - start, sp ? osp->v + start : NULL,
			     start ? 0 : flags);
	return ADA_OK;
}

/* A new word before each run of repl that follows other text: "a__b_c" ->
 * "a", "__b", "_c" (with _ for repl). */
static int step_space_runs(struct pipe *p, size_t k, const char *w, size_t len,
			   const struct tspan *sp, unsigned flags)
{
	const struct pretok_step *st = &p->steps[k];
	size_t start = 0, i = 0;
	int in_run = 1, rc;          /* a run at the very start is no cut */

	while (i < len) {
		if (w[i] == st->repl[0] && starts_with(w + i, len - i, st->repl, st->repl_len)) {
			if (!in_run) {
				if ((rc = stage(p, k + 1, w + start, i - start, at_sp(sp, start),
						start ? 0 : flags)))
					return rc;
				start = i;
			}
			in_run = 1;
			i += st->repl_len;
		} else {
			in_run = 0;
			i++;
		}
	}
	if (len > start)
		return stage(p, k + 1, w + start, len - start, at_sp(sp, start), start ? 0 : flags);
	return ADA_OK;
}

/* BERT: white space (White_Space) ends a word and is dropped; each
 * punctuation character (bert_is_punct) is a word of its own. */
static int step_bert(struct pipe *p, size_t k, const char *w, size_t len,
		     const struct tspan *sp, unsigned flags, int punct_words)
{
	struct scan sc = { (const unsigned char *)w, len };
	size_t start = 0, i = 0;
	int rc;

	while (i < len) {
		struct ch c = at(&sc, i);
		int space = IS_S(c), punct = punct_words && !space && bert_is_punct(c.cp);

		if (space || punct) {
			if (i > start && (rc = stage(p, k + 1, w + start, i - start, at_sp(sp, start),
						     start ? 0 : flags)))
				return rc;
			if (punct && (rc = stage(p, k + 1, w + i, c.next - i, at_sp(sp, i),
						 i ? 0 : flags)))
				return rc;
			start = c.next;
		}
		i = c.next;
	}
	if (len > start)
		return stage(p, k + 1, w + start, len - start, at_sp(sp, start), start ? 0 : flags);
	return ADA_OK;
}

static int stage(struct pipe *p, size_t k, const char *w, size_t len, const struct tspan *sp,
		 unsigned flags)
{
	if (k == p->n)
		return p->sink(p->arg, w, len, sp, p->err);
	switch (p->steps[k].kind) {
	case PRETOK_SPLIT_GPT2:
	case PRETOK_SPLIT_LLAMA3:
	case PRETOK_SPLIT_QWEN2:
		return split_regex(p, k, p->steps[k].kind, w, len, sp, flags);
	case PRETOK_BYTELEVEL:
		return step_bytelevel(p, k, w, len, sp, flags);
	case PRETOK_METASPACE:
		return step_metaspace(p, k, w, len, sp, flags);
	case PRETOK_SPACE_RUNS:
		return step_space_runs(p, k, w, len, sp, flags);
	case PRETOK_BERT:
		return step_bert(p, k, w, len, sp, flags, 1);
	case PRETOK_WHITESPACE:
		return step_bert(p, k, w, len, sp, flags, 0);
	}
	return ada_fail(p->err, ADA_EINVAL, "unknown pre-tokenizer step %d", (int)p->steps[k].kind);
}

int pretok_run(const struct pretok_step *steps, size_t n_steps, struct pretok_scratch *ps,
	       const char *text, size_t len, const struct tspan *sp, unsigned flags,
	       word_sink sink, void *arg, struct ada_err *err)
{
	struct pipe p = { steps, n_steps, NULL, NULL, sp != NULL, sink, arg, err };

	if (ps->n < 2 * n_steps) {
		struct strbuf *b = xreallocarray(ps->buf, 2 * n_steps, sizeof(*b));
		struct spanbuf *s;

		if (!b)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		ps->buf = b;
		s = xreallocarray(ps->spans, 2 * n_steps, sizeof(*s));
		if (!s)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		ps->spans = s;
		memset(b + ps->n, 0, (2 * n_steps - ps->n) * sizeof(*b));
		memset(s + ps->n, 0, (2 * n_steps - ps->n) * sizeof(*s));
		ps->n = 2 * n_steps;
	}
	p.buf = ps->buf;
	p.spans = ps->spans;
	return stage(&p, 0, text, len, sp, flags);
}

void pretok_scratch_release(struct pretok_scratch *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		strbuf_release(&ps->buf[i]);
		spanbuf_release(&ps->spans[i]);
	}
	free(ps->buf);
	free(ps->spans);
	ps->buf = NULL;
	ps->spans = NULL;
	ps->n = 0;
}
