/* qa_metrics — SQuAD's exact match and F1; see qa_metrics.h. */
#include "data/qa_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"
#include "util/alloc.h"
#include "util/utf8.h"

/* Python's \w for str patterns: letters, digits (str.isalnum) and '_'. */
static int is_word(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
		       (cp >= '0' && cp <= '9') || cp == '_';
	return (ucd_class_of(cp) & (UCD_LETTER | UCD_NUMBER)) != 0;
}

/* Python's str.split() white space. */
static int is_space(uint32_t cp)
{
	return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f) ||
	       (cp >= 0x80 && ucd_is_white_space(cp));
}

static int is_article(const char *s, size_t n)
{
	return (n == 1 && s[0] == 'a') || (n == 2 && !memcmp(s, "an", 2)) ||
	       (n == 3 && !memcmp(s, "the", 3));
}

static uint32_t cp_at(const char *s, size_t n, size_t i, size_t *k)
{
	uint32_t cp;
	int len = utf8_decode((const unsigned char *)s + i, n - i, &cp);

	*k = len > 0 ? (size_t)len : 1;
	return len > 0 ? cp : 0xfffd;
}

int qa_normalize_answer(const char *s, size_t n, struct strbuf *out)
{
	struct strbuf low = STRBUF_INIT, np = STRBUF_INIT;
	int rc = -1;
	size_t i, k;

	out->n = 0;
	if (strbuf_add(out, "", 0) || unicode_lowercase(s, n, &low))
		goto out;
	/* string.punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ */
	for (i = 0; i < low.n; i++) {
		unsigned char c = (unsigned char)low.p[i];
		if (c < 0x80 && ((c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
				 (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e)))
			continue;
		if (strbuf_addch(&np, (char)c))
			goto out;
	}
	/* articles as whole words become a space; then split and join */
	for (i = 0; i < np.n;) {
		uint32_t cp = cp_at(np.p, np.n, i, &k);
		size_t j = i;

		if (is_space(cp)) {
			i += k;
			continue;
		}
		/* a token: up to the next white space; inside it, runs of word
		 * characters that are articles are cut out */
		while (j < np.n && !is_space(cp_at(np.p, np.n, j, &k)))
			j += k;
		for (size_t a = i; a < j;) {
			size_t b = a;
			if (is_word(cp_at(np.p, np.n, a, &k))) {
				while (b < j && is_word(cp_at(np.p, np.n, b, &k)))
					b += k;
				if (is_article(np.p + a, b - a)) {
					/* the regex puts a space there: a token break */
					if (out->n && out->p[out->n - 1] != ' ' && strbuf_addch(out, ' '))
						goto out;
				} else if (strbuf_add(out, np.p + a, b - a)) {
					goto out;
				}
			} else {
				b += k;
				if (strbuf_add(out, np.p + a, b - a))
					goto out;
			}
			a = b;
		}
		if (out->n && out->p[out->n - 1] != ' ' && strbuf_addch(out, ' '))
			goto out;
		i = j;
	}
	while (out->n && out->p[out->n - 1] == ' ')
		out->n--;
	out->p[out->n] = '\0';
	rc = 0;
out:
	strbuf_release(&low);
	strbuf_release(&np);
	return rc;
}

/* The tokens of a normalized string (split at ' '), in place: pointers to
 * their starts, NUL-terminated. */
static size_t split_tokens(char *s, char ***tok)
{
	size_t n = 0, cap = 0;
	char *p = s;

	*tok = NULL;
	while (*p) {
		char *sp = strchr(p, ' ');
		if (ALLOC_GROW(*tok, n + 1, cap))
			return (size_t)-1;
		(*tok)[n++] = p;
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	return n;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int qa_exact(const char *pred, const char *gold)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	int r = -1;

	if (!qa_normalize_answer(pred, strlen(pred), &a) &&
	    !qa_normalize_answer(gold, strlen(gold), &b))
		r = !strcmp(a.p, b.p);
	strbuf_release(&a);
	strbuf_release(&b);
	return r;
}

double qa_f1(const char *pred, const char *gold)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	char **pt = NULL, **gt = NULL;
	size_t np, ng, same = 0;
	double f1 = NAN;

	if (qa_normalize_answer(pred, strlen(pred), &a) || qa_normalize_answer(gold, strlen(gold), &b))
		goto out;
	np = split_tokens(a.p, &pt);
	ng = split_tokens(b.p, &gt);
	if (np == (size_t)-1 || ng == (size_t)-1)
		goto out;
	if (!np || !ng) {
		f1 = np == ng;
		goto out;
	}
	/* Counter(pred) & Counter(gold): a merge of the two sorted lists */
	qsort(pt, np, sizeof(*pt), by_str);
	qsort(gt, ng, sizeof(*gt), by_str);
	for (size_t i = 0, j = 0; i < np && j < ng;) {
		int c = strcmp(pt[i], gt[j]);
		if (!c) {
			same++;
			i++;
			j++;
		} else if (c < 0) {
			i++;
		} else {
			j++;
		}
	}
	if (!same) {
		f1 = 0;
	} else {
		double p = (double)same / (double)np, r = (double)same / (double)ng;
		f1 = 2 * p * r / (p + r);
	}
out:
	free(pt);
	free(gt);
	strbuf_release(&a);
	strbuf_release(&b);
	return f1;
}

int qa_totals_add(struct qa_totals *t, const char *pred, const char *const *golds, size_t n)
{
	struct strbuf norm = STRBUF_INIT;
	double best_e = 0, best_f = 0;
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		double f;
		int e;

		if (qa_normalize_answer(golds[i], strlen(golds[i]), &norm))
			goto oom;
		if (!norm.n)
			continue;     /* the official script drops empty gold answers */
		kept++;
		e = qa_exact(pred, golds[i]);
		f = qa_f1(pred, golds[i]);
		if (e < 0 || isnan(f))
			goto oom;
		best_e = e > best_e ? e : best_e;
		best_f = f > best_f ? f : best_f;
	}
	if (!kept) {
		best_e = qa_exact(pred, "");
		best_f = qa_f1(pred, "");
		if (best_e < 0 || isnan(best_f))
			goto oom;
	}
	strbuf_release(&norm);
	t->exact += best_e;
	t->f1 += best_f;
	t->n++;
	if (n) {
		t->has_exact += best_e;
		t->has_f1 += best_f;
		t->has_n++;
	} else {
		t->no_exact += best_e;
		t->no_f1 += best_f;
		t->no_n++;
	}
	return 0;
oom:
	strbuf_release(&norm);
	return -1;
}

void qa_metrics_clear(struct ada_qa_metrics *m)
{
	m->exact = m->f1 = m->has_ans_exact = m->has_ans_f1 = NAN;
	m->no_ans_exact = m->no_ans_f1 = NAN;
	m->total = m->has_ans_total = m->no_ans_total = 0;
}

void qa_totals_finish(const struct qa_totals *t, struct ada_qa_metrics *m)
{
	qa_metrics_clear(m);
	m->total = t->n;
	m->has_ans_total = t->has_n;
	m->no_ans_total = t->no_n;
	if (t->n) {
		m->exact = 100.0 * t->exact / (double)t->n;
		m->f1 = 100.0 * t->f1 / (double)t->n;
	}
	if (t->has_n) {
		m->has_ans_exact = 100.0 * t->has_exact / (double)t->has_n;
		m->has_ans_f1 = 100.0 * t->has_f1 / (double)t->has_n;
	}
	if (t->no_n) {
		m->no_ans_exact = 100.0 * t->no_exact / (double)t->no_n;
		m->no_ans_f1 = 100.0 * t->no_f1 / (double)t->no_n;
	}
}

static void set_num(json_t *obj, const char *prefix, const char *name, double v)
{
	char key[96];

	if (!isfinite(v))
		return;
	snprintf(key, sizeof(key), "%s%s", prefix ? prefix : "", name);
	json_object_set_new(obj, key, json_real(v));
}

static void set_int(json_t *obj, const char *prefix, const char *name, int64_t v)
{
	char key[96];

	snprintf(key, sizeof(key), "%s%s", prefix ? prefix : "", name);
	json_object_set_new(obj, key, json_integer((json_int_t)v));
}

void ada_qa_metrics_json(json_t *obj, const struct ada_qa_metrics *m, const char *key_prefix)
{
	set_num(obj, key_prefix, "exact", m->exact);
	set_num(obj, key_prefix, "f1", m->f1);
	if (!m->total)
		return;
	set_int(obj, key_prefix, "total", m->total);
	if (!m->no_ans_total)
		return;
	set_num(obj, key_prefix, "HasAns_exact", m->has_ans_exact);
	set_num(obj, key_prefix, "HasAns_f1", m->has_ans_f1);
	set_int(obj, key_prefix, "HasAns_total", m->has_ans_total);
	set_num(obj, key_prefix, "NoAns_exact", m->no_ans_exact);
	set_num(obj, key_prefix, "NoAns_f1", m->no_ans_f1);
	set_int(obj, key_prefix, "NoAns_total", m->no_ans_total);
}
