/*
 * porter — Porter's stemmer in nltk's NLTK_EXTENSIONS mode; see porter.h.
 *
 * A word is a prefix b[0..n) of the caller's buffer; every rule replaces a
 * suffix, so the steps edit the buffer in place and only move n (no rule
 * makes a word longer than it was when the step began).
 */
#include "data/porter.h"

#include <string.h>

struct word {
	char *b;
	size_t n;
};

/* Porter's consonant: not a, e, i, o, u, and y only after a vowel
 * (or as the first letter). Digits are consonants. */
static int is_cons(const char *b, size_t i)
{
	switch (b[i]) {
	case 'a': case 'e': case 'i': case 'o': case 'u':
		return 0;
	case 'y':
		return i == 0 ? 1 : !is_cons(b, i - 1);
	default:
		return 1;
	}
}

/* m of [C](VC)^m[V] for b[0..n): the number of vowel-to-consonant turns. */
static int measure(const char *b, size_t n)
{
	int m = 0;

	for (size_t i = 1; i < n; i++)
		if (!is_cons(b, i - 1) && is_cons(b, i))
			m++;
	return m;
}

/* *v*: the stem holds a vowel. */
static int has_vowel(const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_cons(b, i))
			return 1;
	return 0;
}

/* *d: the stem ends with a double consonant. */
static int ends_double_cons(const char *b, size_t n)
{
	return n >= 2 && b[n - 1] == b[n - 2] && is_cons(b, n - 1);
}

/* *o: consonant-vowel-consonant, the last not w, x or y; NLTK also takes
 * a two-letter vowel-consonant stem. */
static int ends_cvc(const char *b, size_t n)
{
	if (n >= 3 && is_cons(b, n - 3) && !is_cons(b, n - 2) && is_cons(b, n - 1) &&
	    b[n - 1] != 'w' && b[n - 1] != 'x' && b[n - 1] != 'y')
		return 1;
	return n == 2 && !is_cons(b, 0) && is_cons(b, 1);
}

static int ends(const struct word *w, const char *suffix)
{
	size_t k = strlen(suffix);

	return w->n >= k && !memcmp(w->b + w->n - k, suffix, k);
}

/* Replace the suffix of length k (the word ends with it) by repl. */
static void replace(struct word *w, size_t k, const char *repl)
{
	size_t r = strlen(repl);

	memcpy(w->b + w->n - k, repl, r);
	w->n = w->n - k + r;
}

/* Conditions on the stem b[0..n) (the word without the suffix) for steps
 * 2 to 4; the word itself is b[0..n + suffix length). */
enum cond { M_GT0, M_GT1, M_GT1_ST, M_GT0_LOGI };

struct rule {
	const char *suffix, *repl;
	enum cond cond;
};

static int cond_holds(enum cond c, const char *b, size_t n)
{
	switch (c) {
	case M_GT0:
		return measure(b, n) > 0;
	case M_GT1:
		return measure(b, n) > 1;
	case M_GT1_ST: /* (m>1 and (*S or *T)) ION */
		return measure(b, n) > 1 && (b[n - 1] == 's' || b[n - 1] == 't');
	case M_GT0_LOGI: /* NLTK: the "l" of "logi" counts with the stem (geo-logi) */
		return measure(b, n + 1) > 0;
	}
	return 0;
}

/* The first rule whose suffix the word ends with decides; a failing
 * condition leaves the word unchanged. */
static void apply_rules(struct word *w, const struct rule *rules, size_t n_rules)
{
	for (size_t i = 0; i < n_rules; i++) {
		size_t k = strlen(rules[i].suffix);

		if (!ends(w, rules[i].suffix))
			continue;
		if (cond_holds(rules[i].cond, w->b, w->n - k))
			replace(w, k, rules[i].repl);
		return;
	}
}

static void step1a(struct word *w)
{
	if (w->n == 4 && ends(w, "ies")) { /* NLTK: dies -> die, ties -> tie */
		replace(w, 3, "ie");
		return;
	}
	if (ends(w, "sses"))
		replace(w, 4, "ss");
	else if (ends(w, "ies"))
		replace(w, 3, "i");
	else if (ends(w, "ss"))
		return;
	else if (ends(w, "s"))
		replace(w, 1, "");
}

static void step1b(struct word *w)
{
	size_t k;

	if (ends(w, "ied")) { /* NLTK: died -> die, spied -> spi */
		replace(w, 3, w->n == 4 ? "ie" : "i");
		return;
	}
	if (ends(w, "eed")) { /* (m>0) EED -> EE, else the word stays (feed) */
		if (measure(w->b, w->n - 3) > 0)
			replace(w, 3, "ee");
		return;
	}
	if (ends(w, "ed") && has_vowel(w->b, w->n - 2))
		k = 2;
	else if (ends(w, "ing") && has_vowel(w->b, w->n - 3))
		k = 3;
	else
		return;
	replace(w, k, "");
	/* then, on what is left, the first of these that matches */
	if (ends(w, "at") || ends(w, "bl") || ends(w, "iz")) {
		replace(w, 0, "e");
	} else if (ends_double_cons(w->b, w->n)) {
		char last = w->b[w->n - 1];

		if (last != 'l' && last != 's' && last != 'z')
			w->n--;
	} else if (measure(w->b, w->n) == 1 && ends_cvc(w->b, w->n)) {
		replace(w, 0, "e");
	}
}

static void step1c(struct word *w)
{
	/* NLTK: (*c and not c) Y -> I — after a consonant that is not the
	 * only letter of the stem (happy -> happi, but enjoy, by, sky stay) */
	if (ends(w, "y") && w->n - 1 > 1 && is_cons(w->b, w->n - 2))
		w->b[w->n - 1] = 'i';
}

static void step2(struct word *w)
{
	static const struct rule rules[] = {
		{ "ational", "ate", M_GT0 }, { "tional", "tion", M_GT0 }, { "enci", "ence", M_GT0 },
		{ "anci", "ance", M_GT0 },   { "izer", "ize", M_GT0 },    { "bli", "ble", M_GT0 },
		{ "alli", "al", M_GT0 },     { "entli", "ent", M_GT0 },   { "eli", "e", M_GT0 },
		{ "ousli", "ous", M_GT0 },   { "ization", "ize", M_GT0 }, { "ation", "ate", M_GT0 },
		{ "ator", "ate", M_GT0 },    { "alism", "al", M_GT0 },    { "iveness", "ive", M_GT0 },
		{ "fulness", "ful", M_GT0 }, { "ousness", "ous", M_GT0 }, { "aliti", "al", M_GT0 },
		{ "iviti", "ive", M_GT0 },   { "biliti", "ble", M_GT0 },  { "fulli", "ful", M_GT0 },
		{ "logi", "log", M_GT0_LOGI },
	};

	/* NLTK: ALLI -> AL before the list, and the result through step 2 again */
	if (ends(w, "alli") && measure(w->b, w->n - 4) > 0) {
		replace(w, 4, "al");
		step2(w);
		return;
	}
	apply_rules(w, rules, sizeof(rules) / sizeof(rules[0]));
}

static void step3(struct word *w)
{
	static const struct rule rules[] = {
		{ "icate", "ic", M_GT0 }, { "ative", "", M_GT0 }, { "alize", "al", M_GT0 },
		{ "iciti", "ic", M_GT0 }, { "ical", "ic", M_GT0 }, { "ful", "", M_GT0 },
		{ "ness", "", M_GT0 },
	};

	apply_rules(w, rules, sizeof(rules) / sizeof(rules[0]));
}

static void step4(struct word *w)
{
	static const struct rule rules[] = {
		{ "al", "", M_GT1 },   { "ance", "", M_GT1 }, { "ence", "", M_GT1 },   { "er", "", M_GT1 },
		{ "ic", "", M_GT1 },   { "able", "", M_GT1 }, { "ible", "", M_GT1 },   { "ant", "", M_GT1 },
		{ "ement", "", M_GT1 }, { "ment", "", M_GT1 }, { "ent", "", M_GT1 },   { "ion", "", M_GT1_ST },
		{ "ou", "", M_GT1 },   { "ism", "", M_GT1 },  { "ate", "", M_GT1 },    { "iti", "", M_GT1 },
		{ "ous", "", M_GT1 },  { "ive", "", M_GT1 },  { "ize", "", M_GT1 },
	};

	apply_rules(w, rules, sizeof(rules) / sizeof(rules[0]));
}

static void step5a(struct word *w)
{
	/* (m>1) E ->, and (m=1 and not *o) E -> : both conditions are tried */
	if (ends(w, "e")) {
		int m = measure(w->b, w->n - 1);

		if (m > 1 || (m == 1 && !ends_cvc(w->b, w->n - 1)))
			w->n--;
	}
}

static void step5b(struct word *w)
{
	/* (m>1 and *d and *L) -> single letter; m of the word less one "l" */
	if (ends(w, "ll") && measure(w->b, w->n - 1) > 1)
		w->n--;
}

/* NLTK_EXTENSIONS' irregular forms, stemmed by table. */
static const char *const pool[][2] = {
	{ "sky", "sky" },         { "skies", "sky" },     { "dying", "die" },
	{ "lying", "lie" },       { "tying", "tie" },     { "news", "news" },
	{ "innings", "inning" },  { "inning", "inning" }, { "outings", "outing" },
	{ "outing", "outing" },   { "cannings", "canning" }, { "canning", "canning" },
	{ "howe", "howe" },       { "proceed", "proceed" }, { "exceed", "exceed" },
	{ "succeed", "succeed" },
};

size_t porter_stem(char *b, size_t len)
{
	struct word w = { b, len };

	for (size_t i = 0; i < sizeof(pool) / sizeof(pool[0]); i++)
		if (strlen(pool[i][0]) == len && !memcmp(pool[i][0], b, len)) {
			size_t k = strlen(pool[i][1]);

			memcpy(b, pool[i][1], k);
			return k;
		}
	if (len <= 2)
		return len;
	step1a(&w);
	step1b(&w);
	step1c(&w);
	step2(&w);
	step3(&w);
	step4(&w);
	step5a(&w);
	step5b(&w);
	return w.n;
}
