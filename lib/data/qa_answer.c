/* qa_answer — n-best spans, the prediction, answers; see qa_answer.h. */
#include "data/qa_answer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

/* A candidate while a question's windows are read: seq orders equal scores
 * by discovery. */
struct cand {
	double score;
	int64_t a, b;
	int64_t seq;
};

/* The indices of the k largest of v[0..n) into idx (ties: lower index
 * first, as a stable argsort); returns how many. */
static int top_k(const float *v, int n, int k, int *idx)
{
	int m = 0;

	for (int i = 0; i < n; i++) {
		int j;

		if (m == k && !(v[i] > v[idx[m - 1]]))
			continue;
		j = m < k ? m++ : k - 1;
		while (j > 0 && v[i] > v[idx[j - 1]]) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	return m;
}

/* Best first; equal scores in the order found. A NaN counts as lowest. */
static int cand_cmp(const void *pa, const void *pb)
{
	const struct cand *x = pa, *y = pb;
	const double sx = isnan(x->score) ? -INFINITY : x->score;
	const double sy = isnan(y->score) ? -INFINITY : y->score;

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The candidates of one question, ordered, into its n-best: distinct byte
 * ranges (the first of each), at most keep. */
static int finish_question(struct cand *c, size_t n, int keep, struct qa_nbest *nb)
{
	int m = 0;

	qsort(c, n, sizeof(*c), cand_cmp);
	nb->spans = xcalloc((size_t)(keep > 0 ? keep : 1), sizeof(*nb->spans));
	if (!nb->spans)
		return -1;
	for (size_t i = 0; i < n && m < keep; i++) {
		int seen = 0;

		for (int j = 0; j < m && !seen; j++)
			seen = nb->spans[j].a == c[i].a && nb->spans[j].b == c[i].b;
		if (!seen)
			nb->spans[m++] = (struct qa_span){ c[i].score, c[i].a, c[i].b };
	}
	nb->n = m;
	return 0;
}

int qa_nbest_build(const struct qa_set *set, const struct qa_features *f, const float *start,
		   const float *end, const struct qa_predict_opts *o, struct qa_nbest *nb,
		   struct ada_err *err)
{
	const int T = f->seq_len, K = o->n_best_size < T ? o->n_best_size : T;
	int *si = xcalloc((size_t)K + 1, sizeof(*si)), *ei = xcalloc((size_t)K + 1, sizeof(*ei));
	uint8_t *done = xcalloc((size_t)set->n + 1, 1);
	struct cand *c = NULL;
	size_t n_c = 0, cap = 0;
	int64_t cur = -1, seq = 0;
	int rc = ADA_OK;

	for (int64_t e = 0; e < set->n; e++)
		nb[e] = (struct qa_nbest){ .null_score = INFINITY };
	if (!si || !ei || !done)
		goto oom;
	for (int64_t w = 0; w <= f->n; w++) {
		const float *s, *en;
		int32_t e, first, count;
		const int32_t *offs;
		int len, ns, ne;

		if (w == f->n || f->example[w] != cur) {
			/* the end of a question's windows */
			if (cur >= 0 && finish_question(c, n_c, o->n_best_size, &nb[cur]))
				goto oom;
			if (cur >= 0)
				done[cur] = 1;
			if (w == f->n)
				break;
			cur = f->example[w];
			if (cur < 0 || cur >= set->n || done[cur]) {
				rc = ada_fail(err, ADA_EINVAL, "the windows of question %lld are not consecutive",
					      (long long)cur);
				goto out;
			}
			n_c = 0;
		}
		s = start + (size_t)w * T;
		en = end + (size_t)w * T;
		e = f->example[w];
		first = f->ctx_first[w];
		count = f->ctx_count[w];
		offs = f->tok_offs + 2 * f->ctx_tok[w];
		len = f->lengths[w];
		ns = top_k(s, len, K, si);
		ne = top_k(en, len, K, ei);
		if (s[0] + en[0] < nb[e].null_score)
			nb[e].null_score = (double)s[0] + en[0];
		for (int x = 0; x < ns; x++)
			for (int y = 0; y < ne; y++) {
				const int a = si[x], b = ei[y];

				if (a < first || b < first || a >= first + count || b >= first + count ||
				    b < a || b - a + 1 > o->max_answer_length)
					continue;
				if (ALLOC_GROW(c, n_c + 1, cap))
					goto oom;
				c[n_c++] = (struct cand){ (double)s[a] + en[b], offs[2 * (a - first)],
							  offs[2 * (b - first) + 1], seq++ };
			}
	}
	goto out;
oom:
	rc = ada_fail(err, ADA_ENOMEM, "out of memory");
out:
	free(c);
	free(si);
	free(ei);
	free(done);
	return rc;
}

void qa_nbest_release(struct qa_nbest *nb, int64_t n)
{
	for (int64_t e = 0; nb && e < n; e++) {
		free(nb[e].spans);
		nb[e].spans = NULL;
		nb[e].n = 0;
	}
}

int qa_nbest_choice(const struct qa_nbest *nb, int v2, double threshold)
{
	if (!nb->n || nb->spans[0].b < nb->spans[0].a)
		return -1;
	if (v2 && nb->null_score - nb->spans[0].score > threshold)
		return -1;
	return 0;
}

/* ---- answers ---------------------------------------------------------------- */

/* Code points in s[0..n). */
static int64_t chars(const char *s, int64_t n)
{
	int64_t k = 0;

	for (int64_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xc0) != 0x80;
	return k;
}

/* utils_qa's softmax: the n_best_size best of the spans and (v2) the null,
 * the null kept when its score left it out. p[i] for every span of nb,
 * with the same denominator; *p_null NAN unless v2. */
static void probabilities(const struct qa_nbest *nb, int v2, int n_best_size, double *p,
			  double *p_null)
{
	int m = nb->n < n_best_size ? nb->n : n_best_size;
	double mx = -INFINITY, sum = 0;

	if (v2) {
		/* the null sorts after the spans of its score (it was appended
		 * last, and Python's sort is stable) */
		int before = 0;
		while (before < nb->n && nb->spans[before].score >= nb->null_score)
			before++;
		if (before < n_best_size && m > n_best_size - 1)
			m = n_best_size - 1;
		mx = nb->null_score;
	}
	for (int i = 0; i < m; i++)
		mx = nb->spans[i].score > mx ? nb->spans[i].score : mx;
	for (int i = 0; i < m; i++)
		sum += exp(nb->spans[i].score - mx);
	if (v2)
		sum += exp(nb->null_score - mx);
	for (int i = 0; i < nb->n; i++)
		p[i] = sum > 0 && isfinite(mx) ? exp(nb->spans[i].score - mx) / sum : NAN;
	*p_null = v2 && sum > 0 && isfinite(mx) ? exp(nb->null_score - mx) / sum : NAN;
}

int qa_answer_make(const char *context, const struct qa_nbest *nb, int v2, double threshold,
		   int n_best_size, int top_k_spans, struct ada_qa_answer *out, struct ada_err *err)
{
	double *p = xcalloc((size_t)nb->n + 1, sizeof(*p));
	const int n = nb->n < top_k_spans ? nb->n : top_k_spans;

	memset(out, 0, sizeof(*out));
	out->version_2 = v2;
	out->null_score = nb->null_score;
	out->spans = xcalloc((size_t)n + 1, sizeof(*out->spans));
	if (!p || !out->spans)
		goto oom;
	probabilities(nb, v2, n_best_size, p, &out->null_probability);
	out->is_impossible = qa_nbest_choice(nb, v2, threshold) < 0;
	for (int i = 0; i < n; i++) {
		const struct qa_span *s = &nb->spans[i];
		struct ada_qa_span *o = &out->spans[out->n_spans];

		if (s->b < s->a)
			continue;   /* no text: never an answer */
		o->text = strndup(context + s->a, (size_t)(s->b - s->a));
		if (!o->text)
			goto oom;
		out->n_spans++;
		o->start = chars(context, s->a);
		o->end = o->start + chars(context + s->a, s->b - s->a);
		o->score = s->score;
		o->probability = p[i];
	}
	free(p);
	return ADA_OK;
oom:
	free(p);
	ada_qa_answer_release(out);
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

void ada_qa_answer_release(struct ada_qa_answer *a)
{
	for (int i = 0; a->spans && i < a->n_spans; i++)
		free(a->spans[i].text);
	free(a->spans);
	a->spans = NULL;
	a->n_spans = 0;
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *span_json(const char *text, int64_t start, int64_t end, double score,
			 double probability)
{
	json_t *o = json_object();

	json_object_set_new(o, "answer", json_string(text));
	json_object_set_new(o, "start", json_integer(start));
	json_object_set_new(o, "end", json_integer(end));
	json_object_set_new(o, "score", num(score));
	json_object_set_new(o, "probability", num(probability));
	return o;
}

json_t *ada_qa_answer_to_json(const struct ada_qa_answer *a)
{
	json_t *o, *list = json_array();

	if (a->is_impossible || !a->n_spans)
		o = span_json("", 0, 0, a->null_score, a->null_probability);
	else
		o = span_json(a->spans[0].text, a->spans[0].start, a->spans[0].end,
			      a->spans[0].score, a->spans[0].probability);
	if (!o || !list) {
		json_decref(o);
		json_decref(list);
		return NULL;
	}
	json_object_set_new(o, "is_impossible", json_boolean(a->is_impossible));
	if (a->version_2) {
		json_object_set_new(o, "null_score", num(a->null_score));
		json_object_set_new(o, "null_probability", num(a->null_probability));
	}
	for (int i = 0; i < a->n_spans; i++) {
		const struct ada_qa_span *s = &a->spans[i];
		json_array_append_new(list, span_json(s->text, s->start, s->end, s->score,
						      s->probability));
	}
	json_object_set_new(o, "answers", list);
	json_object_set_new(o, "windows", json_integer(a->windows));
	json_object_set_new(o, "truncated", json_boolean(a->truncated));
	return o;
}
