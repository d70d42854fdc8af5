/*
 * rouge — rouge-score's ROUGE-1/2/L/Lsum; see rouge.h for what is computed.
 *
 * Both texts of a pair are tokenized into one table of token ids (equal
 * strings, equal ids), each token keeping its line for ROUGE-Lsum: a text
 * tokenized whole gives the same tokens as its lines tokenized one by one,
 * since a newline is a separator, so one pass serves all four scores.
 * N-grams are packed into 64-bit keys and counted by sorting.
 */
#include "data/rouge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/porter.h"
#include "util/alloc.h"
#include "util/err.h"

#define EMPTY_SLOT UINT32_MAX

void rouge_work_release(struct rouge_work *w)
{
	free(w->text);
	for (int i = 0; i < 2; i++) {
		free(w->tok[i]);
		free(w->line[i]);
		free(w->grams[i]);
		free(w->cnt[i]);
	}
	free(w->slot);
	free(w->strs);
	free(w->lcs);
	free(w->mark);
	memset(w, 0, sizeof(*w));
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static int rehash(struct rouge_work *w, size_t cap)
{
	uint32_t *slot = xcalloc(cap, sizeof(*slot));

	if (!slot)
		return -1;
	for (size_t i = 0; i < cap; i++)
		slot[i] = EMPTY_SLOT;
	for (uint32_t id = 0; id < w->n_ids; id++) {
		size_t at = hash_bytes(w->text + w->strs[id].off, w->strs[id].len) & (cap - 1);

		while (slot[at] != EMPTY_SLOT)
			at = (at + 1) & (cap - 1);
		slot[at] = id;
	}
	free(w->slot);
	w->slot = slot;
	w->slot_cap = cap;
	return 0;
}

/* The id of the token text[start..text_len): an existing one (the
 * characters are dropped again) or a new one. */
static int intern(struct rouge_work *w, size_t start, uint32_t *id)
{
	size_t n = w->text_len - start, at;
	const char *s = w->text + start;

	if ((w->n_ids + 1) * 2 > w->slot_cap && rehash(w, w->slot_cap ? w->slot_cap * 2 : 1024))
		return -1;
	at = hash_bytes(s, n) & (w->slot_cap - 1);
	for (; w->slot[at] != EMPTY_SLOT; at = (at + 1) & (w->slot_cap - 1)) {
		uint32_t k = w->slot[at];

		if (w->strs[k].len == n && !memcmp(w->text + w->strs[k].off, s, n)) {
			w->text_len = start;
			*id = k;
			return 0;
		}
	}
	if (ALLOC_GROW(w->strs, w->n_ids + 1, w->strs_cap))
		return -1;
	w->strs[w->n_ids].off = (uint32_t)start;
	w->strs[w->n_ids].len = (uint32_t)n;
	w->slot[at] = (uint32_t)w->n_ids;
	*id = (uint32_t)w->n_ids++;
	return 0;
}

/* End the token being built at text[start..text_len), if any. */
static int end_token(struct rouge_work *w, int which, size_t start, uint32_t line, int use_stemmer)
{
	size_t n = w->text_len - start, k = w->n_tok[which];
	uint32_t id;

	if (n == 0)
		return 0;
	if (use_stemmer && n > 3) /* rouge-score stems words of more than 3 characters */
		w->text_len = start + porter_stem(w->text + start, n);
	if (intern(w, start, &id))
		return -1;
	if (ALLOC_GROW(w->tok[which], k + 1, w->tok_cap[which]) ||
	    ALLOC_GROW(w->line[which], k + 1, w->line_cap[which]))
		return -1;
	w->tok[which][k] = id;
	w->line[which][k] = line;
	w->n_tok[which] = k + 1;
	return 0;
}

/*
 * rouge-score's tokenizer: lower-case, then every run of characters other
 * than [a-z0-9] separates tokens. Of the characters Python's lower() maps
 * to ASCII, A-Z are the letters, U+212A KELVIN SIGN gives "k" and U+0130
 * gives "i" followed by a combining dot (a separator).
 */
static int tokenize(struct rouge_work *w, int which, const char *s, size_t len, int use_stemmer)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t start, need;
	uint32_t line = 0;

	w->n_tok[which] = 0;
	/* a token's characters never outnumber the bytes they came from */
	if (size_add(w->text_len, len, &need) || ALLOC_GROW(w->text, need + 1, w->text_cap))
		return -1;
	start = w->text_len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = u[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			w->text[w->text_len++] = (char)c;
		} else if (c >= 'A' && c <= 'Z') {
			w->text[w->text_len++] = (char)(c - 'A' + 'a');
		} else if (c == 0xE2 && i + 2 < len && u[i + 1] == 0x84 && u[i + 2] == 0xAA) {
			w->text[w->text_len++] = 'k';
			i += 2;
		} else {
			if (c == 0xC4 && i + 1 < len && u[i + 1] == 0xB0) {
				w->text[w->text_len++] = 'i';
				i += 1;
			}
			if (end_token(w, which, start, line, use_stemmer))
				return -1;
			if (c == '\n')
				line++;
			start = w->text_len;
		}
	}
	return end_token(w, which, start, line, use_stemmer);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double fmeasure(double p, double r)
{
	return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

/* ROUGE-N: the multiset intersection of the two texts' n-grams (n = 1, 2). */
static int rouge_n(struct rouge_work *w, int n, struct ada_rouge_score *out)
{
	size_t cnt[2], i = 0, j = 0, inter = 0;

	for (int t = 0; t < 2; t++) {
		cnt[t] = w->n_tok[t] >= (size_t)n ? w->n_tok[t] - (size_t)n + 1 : 0;
		if (ALLOC_GROW(w->grams[t], cnt[t] + 1, w->gram_cap[t]))
			return -1;
		for (size_t k = 0; k < cnt[t]; k++)
			w->grams[t][k] = n == 1 ? w->tok[t][k]
					       : (uint64_t)w->tok[t][k] << 32 | w->tok[t][k + 1];
		qsort(w->grams[t], cnt[t], sizeof(*w->grams[t]), cmp_u64);
	}
	/* walking both sorted lists, each match pairs one copy from each side:
	 * a gram present a times and b times contributes min(a, b) */
	while (i < cnt[0] && j < cnt[1]) {
		if (w->grams[0][i] < w->grams[1][j]) {
			i++;
		} else if (w->grams[0][i] > w->grams[1][j]) {
			j++;
		} else {
			inter++;
			i++;
			j++;
		}
	}
	out->precision = (double)inter / (double)(cnt[0] > 0 ? cnt[0] : 1);
	out->recall = (double)inter / (double)(cnt[1] > 0 ? cnt[1] : 1);
	out->fmeasure = fmeasure(out->precision, out->recall);
	return 0;
}

/* The LCS table of ref[0..m) (rows) and can[0..n) (columns), as
 * rouge-score's _lcs_table: t[i][j] = LCS of ref[..i) and can[..j). */
static int lcs_table(struct rouge_work *w, const uint32_t *ref, size_t m, const uint32_t *can, size_t n)
{
	size_t cols = n + 1, cells;

	if (size_mul(m + 1, cols, &cells) || ALLOC_GROW(w->lcs, cells, w->lcs_cap))
		return -1;
	for (size_t j = 0; j <= n; j++)
		w->lcs[j] = 0;
	for (size_t i = 1; i <= m; i++) {
		uint32_t *row = w->lcs + i * cols, *up = row - cols;

		row[0] = 0;
		for (size_t j = 1; j <= n; j++)
			row[j] = ref[i - 1] == can[j - 1] ? up[j - 1] + 1
							  : (up[j] > row[j - 1] ? up[j] : row[j - 1]);
	}
	return 0;
}

/* ROUGE-L: the LCS length, in two rows (the table may be large). */
static int rouge_l(struct rouge_work *w, struct ada_rouge_score *out)
{
	const uint32_t *can = w->tok[0], *ref = w->tok[1];
	size_t n = w->n_tok[0], m = w->n_tok[1], cells;
	uint32_t *prev, *cur, lcs;

	memset(out, 0, sizeof(*out));
	if (!n || !m)
		return 0;
	if (size_mul(2, n + 1, &cells) || ALLOC_GROW(w->lcs, cells, w->lcs_cap))
		return -1;
	prev = w->lcs;
	cur = w->lcs + n + 1;
	memset(prev, 0, (n + 1) * sizeof(*prev));
	cur[0] = 0;
	for (size_t i = 1; i <= m; i++) {
		uint32_t *t;

		for (size_t j = 1; j <= n; j++)
			cur[j] = ref[i - 1] == can[j - 1] ? prev[j - 1] + 1
							  : (prev[j] > cur[j - 1] ? prev[j] : cur[j - 1]);
		t = prev;
		prev = cur;
		cur = t;
	}
	lcs = prev[n];
	out->precision = (double)lcs / (double)n;
	out->recall = (double)lcs / (double)m;
	out->fmeasure = fmeasure(out->precision, out->recall);
	return 0;
}

/* Mark the reference positions of the LCS that rouge-score's
 * _backtrack_norec reads out of the table just built. */
static void backtrack_mark(const struct rouge_work *w, const uint32_t *ref, size_t m, const uint32_t *can,
			   size_t n, uint8_t *mark)
{
	const size_t cols = n + 1;
	size_t i = m, j = n;

	while (i > 0 && j > 0) {
		if (ref[i - 1] == can[j - 1]) {
			mark[i - 1] = 1;
			i--;
			j--;
		} else if (w->lcs[i * cols + j - 1] > w->lcs[(i - 1) * cols + j]) {
			j--;
		} else {
			i--;
		}
	}
}

/* ROUGE-Lsum: rouge-score's _summary_level_lcs over the texts' lines. */
static int rouge_lsum(struct rouge_work *w, struct ada_rouge_score *out)
{
	const uint32_t *can = w->tok[0], *ref = w->tok[1];
	const size_t n = w->n_tok[0], m = w->n_tok[1];
	size_t hits = 0;

	memset(out, 0, sizeof(*out));
	if (!n || !m)
		return 0;
	if (ALLOC_GROW(w->cnt[0], w->n_ids, w->cnt_cap[0]) || ALLOC_GROW(w->cnt[1], w->n_ids, w->cnt_cap[1]))
		return -1;
	memset(w->cnt[0], 0, w->n_ids * sizeof(*w->cnt[0]));
	memset(w->cnt[1], 0, w->n_ids * sizeof(*w->cnt[1]));
	for (size_t k = 0; k < n; k++)
		w->cnt[0][can[k]]++;
	for (size_t k = 0; k < m; k++)
		w->cnt[1][ref[k]]++;
	if (ALLOC_GROW(w->mark, m, w->mark_cap))
		return -1;
	/* reference sentence by sentence: [r0, r1) are the tokens of one line */
	for (size_t r0 = 0, r1; r0 < m; r0 = r1) {
		for (r1 = r0 + 1; r1 < m && w->line[1][r1] == w->line[1][r0]; r1++)
			;
		memset(w->mark, 0, r1 - r0);
		for (size_t c0 = 0, c1; c0 < n; c0 = c1) {
			for (c1 = c0 + 1; c1 < n && w->line[0][c1] == w->line[0][c0]; c1++)
				;
			if (lcs_table(w, ref + r0, r1 - r0, can + c0, c1 - c0))
				return -1;
			backtrack_mark(w, ref + r0, r1 - r0, can + c0, c1 - c0, w->mark);
		}
		/* the union in reference order; a token counts while both texts
		 * have an unused copy (ROUGE 1.5.5's guard against double counting) */
		for (size_t i = r0; i < r1; i++) {
			uint32_t t = ref[i];

			if (w->mark[i - r0] && w->cnt[0][t] > 0 && w->cnt[1][t] > 0) {
				hits++;
				w->cnt[0][t]--;
				w->cnt[1][t]--;
			}
		}
	}
	out->recall = (double)hits / (double)m;
	out->precision = (double)hits / (double)n;
	out->fmeasure = fmeasure(out->precision, out->recall);
	return 0;
}

int rouge_pair(struct rouge_work *w, const char *pred, size_t pred_len, const char *ref, size_t ref_len,
	       int use_stemmer, struct ada_rouge *out, struct ada_err *err)
{
	if (pred_len > INT32_MAX || ref_len > INT32_MAX)
		return ada_fail(err, ADA_EINVAL, "a text of more than 2^31 bytes");
	/* the token table starts afresh for every pair */
	w->text_len = 0;
	w->n_ids = 0;
	for (size_t i = 0; i < w->slot_cap; i++)
		w->slot[i] = EMPTY_SLOT;
	memset(out, 0, sizeof(*out));
	if (tokenize(w, 0, pred, pred_len, use_stemmer) || tokenize(w, 1, ref, ref_len, use_stemmer) ||
	    rouge_n(w, 1, &out->rouge1) || rouge_n(w, 2, &out->rouge2) || rouge_l(w, &out->rougeL) ||
	    rouge_lsum(w, &out->rougeLsum))
		return ada_fail(err, ADA_ENOMEM, "out of memory scoring ROUGE (texts of %zu and %zu bytes)",
				pred_len, ref_len);
	out->n = 1;
	out->use_stemmer = !!use_stemmer;
	return ADA_OK;
}

static void score_add(struct ada_rouge_score *sum, const struct ada_rouge_score *s)
{
	sum->precision += s->precision;
	sum->recall += s->recall;
	sum->fmeasure += s->fmeasure;
}

static void score_div(struct ada_rouge_score *s, double n)
{
	s->precision /= n;
	s->recall /= n;
	s->fmeasure /= n;
}

void rouge_clear(struct ada_rouge *r)
{
	const struct ada_rouge_score none = { NAN, NAN, NAN };

	r->rouge1 = r->rouge2 = r->rougeL = r->rougeLsum = none;
	r->n = 0;
	r->use_stemmer = 0;
}

int ada_rouge(const char *const *preds, const char *const *refs, size_t n, int use_stemmer,
	      struct ada_rouge *out, struct ada_err *err)
{
	struct rouge_work w = { 0 };
	struct ada_rouge sum = { 0 }, one;
	int rc = ADA_OK;

	for (size_t i = 0; i < n; i++) {
		if ((rc = rouge_pair(&w, preds[i], strlen(preds[i]), refs[i], strlen(refs[i]), use_stemmer,
				     &one, err))) {
			ada_err_prefix(err, rc, "pair %zu", i + 1);
			goto out_release;
		}
		score_add(&sum.rouge1, &one.rouge1);
		score_add(&sum.rouge2, &one.rouge2);
		score_add(&sum.rougeL, &one.rougeL);
		score_add(&sum.rougeLsum, &one.rougeLsum);
	}
	{
		double d = n ? (double)n : NAN;

		score_div(&sum.rouge1, d);
		score_div(&sum.rouge2, d);
		score_div(&sum.rougeL, d);
		score_div(&sum.rougeLsum, d);
	}
	sum.n = (int64_t)n;
	sum.use_stemmer = !!use_stemmer;
	*out = sum;
out_release:
	rouge_work_release(&w);
	return rc;
}

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *ada_rouge_to_json(const struct ada_rouge *r)
{
	const struct {
		const char *name;
		const struct ada_rouge_score *s;
	} types[] = {
		{ "rouge1", &r->rouge1 }, { "rouge2", &r->rouge2 },
		{ "rougeL", &r->rougeL }, { "rougeLsum", &r->rougeLsum },
	};
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		json_t *s = json_object();

		json_object_set_new(s, "precision", num_or_null(types[i].s->precision));
		json_object_set_new(s, "recall", num_or_null(types[i].s->recall));
		json_object_set_new(s, "fmeasure", num_or_null(types[i].s->fmeasure));
		json_object_set_new(o, types[i].name, s);
	}
	json_object_set_new(o, "n", json_integer(r->n));
	json_object_set_new(o, "use_stemmer", json_boolean(r->use_stemmer));
	return o;
}

void ada_rouge_json(json_t *obj, const struct ada_rouge *r, const char *key_prefix)
{
	const struct {
		const char *name;
		double f;
	} types[] = {
		{ "rouge1", r->rouge1.fmeasure }, { "rouge2", r->rouge2.fmeasure },
		{ "rougeL", r->rougeL.fmeasure }, { "rougeLsum", r->rougeLsum.fmeasure },
	};
	char key[128];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!isfinite(types[i].f))
			continue;
		snprintf(key, sizeof(key), "%s%s", key_prefix ? key_prefix : "", types[i].name);
		json_object_set_new(obj, key, json_real(types[i].f));
	}
}
