/* qa_data — QA examples, windows and predictions; see qa_data.h. */
#include "data/qa_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_format.h"
#include "data/qa_answer.h"
#include "data/qa_metrics.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/ivec.h"
#include "util/utf8.h"

#define MAX_ANSWERS 64

/* ---- loading ---------------------------------------------------------------- */

struct loader {
	struct qa_set *set;
	size_t cap_ex, cap_ctx;
	const char *last_ctx;      /* the previous record's context (our copy) */
	size_t last_len;
	int squad;
};

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* The byte offset of character index chars in s (NUL-terminated); -1 past the end. */
static int64_t byte_of_char(const char *s, size_t len, int64_t chars)
{
	size_t i = 0;

	for (int64_t k = 0; k < chars; k++) {
		if (i >= len)
			return -1;
		i++;
		while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
	}
	return (int64_t)i;
}

static size_t cp_count(const char *s)
{
	size_t k = 0;

	for (; *s; s++)
		k += ((unsigned char)*s & 0xc0) != 0x80;
	return k;
}

/* run_qa strips the question's leading white space. */
static void strip_question(const char **q, size_t *n)
{
	while (*n && (**q == ' ' || **q == '\t' || **q == '\n' || **q == '\r')) {
		(*q)++;
		(*n)--;
	}
}

static int on_record(void *ctx, const struct data_record *rec, struct ada_err *err)
{
	struct loader *ld = ctx;
	struct qa_set *set = ld->set;
	const char *texts[MAX_ANSWERS];
	int64_t starts[MAX_ANSWERS];
	struct qa_example *ex;
	const json_t *id = json_object_get(rec->json, "id");
	const char *q = rec->text;
	size_t qn = rec->text_len, n;
	char num[32];

	if (rec->shape != ADA_SHAPE_QA)
		return ada_fail(err, ADA_EINVAL,
				"a question answering job needs {\"question\",\"context\",\"answers\"} lines or a SQuAD JSON file (got %s)",
				ada_data_shape_name(rec->shape));
	if (set->n >= INT32_MAX)
		return ada_fail(err, ADA_EINVAL, "too many questions");
	if (ALLOC_GROW(set->ex, (size_t)set->n + 1, ld->cap_ex))
		goto oom;
	/* a new context unless it repeats the last one (compared with our copy:
	 * a JSONL line's strings are gone once its callback returns) */
	if (!ld->last_ctx || ld->last_len != rec->second_len ||
	    memcmp(set->contexts[set->n_contexts - 1], rec->second, rec->second_len)) {
		if (set->n_contexts >= INT32_MAX ||
		    ALLOC_GROW(set->contexts, (size_t)set->n_contexts + 1, ld->cap_ctx) ||
		    !(set->contexts[set->n_contexts] = dup_n(rec->second, rec->second_len)))
			goto oom;
		set->n_contexts++;
	}
	ld->last_ctx = set->contexts[set->n_contexts - 1];
	ld->last_len = rec->second_len;
	ex = &set->ex[set->n];
	memset(ex, 0, sizeof(*ex));
	set->n++;
	ex->context = set->n_contexts - 1;
	strip_question(&q, &qn);
	ex->question = dup_n(q, qn);
	if (json_is_string(id))
		ex->id = xstrdup(json_string_value(id));
	else if (json_is_integer(id))
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(id)),
		ex->id = xstrdup(num);
	else
		snprintf(num, sizeof(num), "%lld", (long long)set->n), ex->id = xstrdup(num);
	if (!ex->question || !ex->id)
		goto oom;
	data_qa_answers(rec->json, ld->squad, &n, texts, starts, MAX_ANSWERS);
	if (n > MAX_ANSWERS)
		return ada_fail(err, ADA_EINVAL, "more than %d answers", MAX_ANSWERS);
	if (!n)
		set->has_no_answer = 1;
	ex->answers = xcalloc(n + 1, sizeof(*ex->answers));
	ex->answer_byte = xcalloc(n + 1, sizeof(*ex->answer_byte));
	ex->answer_byte_end = xcalloc(n + 1, sizeof(*ex->answer_byte_end));
	if (!ex->answers || !ex->answer_byte || !ex->answer_byte_end)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const char *c = set->contexts[ex->context];
		size_t clen = rec->second_len;

		if (!(ex->answers[i] = xstrdup(texts[i])))
			goto oom;
		ex->n_answers++;
		ex->answer_byte[i] = byte_of_char(c, clen, starts[i]);
		ex->answer_byte_end[i] = byte_of_char(c, clen, starts[i] + (int64_t)cp_count(texts[i]));
		if (ex->answer_byte[i] < 0 || ex->answer_byte_end[i] < 0)
			return ada_fail(err, ADA_EINVAL, "answer %zu runs past the context", i);
	}
	return ADA_OK;
oom:
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

int qa_set_load(const char *path, struct qa_set *set, struct ada_err *err)
{
	struct loader ld = { .set = set };
	struct ada_data_info info;
	char *buf = NULL;
	size_t len;
	int rc;

	memset(set, 0, sizeof(*set));
	if ((rc = file_read_all(path, &buf, &len, err)))
		return rc;
	/* the format first (SQuAD JSON or JSONL), then the records */
	rc = data_format_scan(buf, len, ADA_DATA_JSONL_ONLY, NULL, NULL, &info, err);
	if (!rc) {
		ld.squad = info.format == ADA_DATA_SQUAD;
		rc = data_format_scan(buf, len, ADA_DATA_JSONL_ONLY, on_record, &ld, &info, err);
	}
	if (!rc && !set->n)
		rc = ada_fail(err, ADA_EINVAL, "no questions");
	free(buf);
	if (rc) {
		ada_err_prefix(err, rc, "%s", path);
		qa_set_release(set);
	}
	return rc;
}

int qa_set_single(struct qa_set *set, const char *question, const char *context, int v2,
		  struct ada_err *err)
{
	size_t qn = strlen(question);

	memset(set, 0, sizeof(*set));
	strip_question(&question, &qn);
	set->ex = xcalloc(1, sizeof(*set->ex));
	set->contexts = xcalloc(1, sizeof(*set->contexts));
	if (!set->ex || !set->contexts)
		goto oom;
	set->n_contexts = 1;
	set->n = 1;
	set->has_no_answer = v2;
	if (!(set->contexts[0] = xstrdup(context)))
		goto oom;
	set->ex->answers = xcalloc(1, sizeof(*set->ex->answers));
	set->ex->answer_byte = xcalloc(1, sizeof(*set->ex->answer_byte));
	set->ex->answer_byte_end = xcalloc(1, sizeof(*set->ex->answer_byte_end));
	if (!(set->ex->question = dup_n(question, qn)) || !(set->ex->id = xstrdup("1")) ||
	    !set->ex->answers || !set->ex->answer_byte || !set->ex->answer_byte_end)
		goto oom;
	return ADA_OK;
oom:
	qa_set_release(set);
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

static void example_release(struct qa_example *ex)
{
	for (int32_t i = 0; i < ex->n_answers; i++)
		free(ex->answers[i]);
	free(ex->answers);
	free(ex->answer_byte);
	free(ex->answer_byte_end);
	free(ex->question);
	free(ex->id);
}

void qa_set_release(struct qa_set *set)
{
	for (int64_t i = 0; i < set->n; i++)
		example_release(&set->ex[i]);
	for (int32_t i = 0; i < set->n_contexts; i++)
		free(set->contexts[i]);
	free(set->ex);
	free(set->contexts);
	memset(set, 0, sizeof(*set));
}

int qa_set_split_tail(struct qa_set *train, double fraction, struct qa_set *valid,
		      struct ada_err *err)
{
	int64_t k, first;
	int32_t ctx0;

	memset(valid, 0, sizeof(*valid));
	if (fraction <= 0 || train->n < 2)
		return ADA_OK;
	k = (int64_t)llround(fraction * (double)train->n);
	k = k < 1 ? 1 : k > train->n - 1 ? train->n - 1 : k;
	first = train->n - k;
	ctx0 = train->ex[first].context;
	valid->ex = xcalloc((size_t)k, sizeof(*valid->ex));
	valid->contexts = xcalloc((size_t)(train->n_contexts - ctx0), sizeof(*valid->contexts));
	if (!valid->ex || !valid->contexts)
		goto oom;
	for (int32_t c = ctx0; c < train->n_contexts; c++)
		if (!(valid->contexts[valid->n_contexts++] = xstrdup(train->contexts[c])))
			goto oom;
	for (int64_t i = first; i < train->n; i++) {
		valid->ex[valid->n] = train->ex[i];
		valid->ex[valid->n].context -= ctx0;
		valid->has_no_answer |= !train->ex[i].n_answers;
		valid->n++;
	}
	train->n = first;
	/* the boundary context stays in train too; later ones only in valid */
	for (int32_t c = ctx0 + 1; c < train->n_contexts; c++)
		free(train->contexts[c]);
	train->n_contexts = ctx0 + 1;
	train->has_no_answer = 0;
	for (int64_t i = 0; i < train->n; i++)
		train->has_no_answer |= !train->ex[i].n_answers;
	return ADA_OK;
oom:
	for (int32_t c = 0; c < valid->n_contexts; c++)
		free(valid->contexts[c]);
	free(valid->contexts);
	free(valid->ex);
	memset(valid, 0, sizeof(*valid));
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

/* ---- windows ---------------------------------------------------------------- */

struct fbuild {
	struct qa_features *f;
	size_t cap_ids, cap_types, cap_n[8], cap_tok;
};

static int is_space_byte_at(const char *s, size_t len, size_t i, size_t *k)
{
	uint32_t cp;
	int n = utf8_decode((const unsigned char *)s + i, len - i, &cp);

	*k = n > 0 ? (size_t)n : 1;
	return n > 0 && ucd_is_white_space(cp);
}

/* Trim white space off a token's byte range [*s, *e) of ctx. */
static void trim_span(const char *ctx, size_t len, int32_t *s, int32_t *e)
{
	size_t k;

	while (*s < *e && is_space_byte_at(ctx, len, (size_t)*s, &k))
		*s += (int32_t)k;
	while (*e > *s) {
		size_t st = (size_t)*e - 1;
		while (st > (size_t)*s && ((unsigned char)ctx[st] & 0xc0) == 0x80)
			st--;
		if (!is_space_byte_at(ctx, len, st, &k) || st + k != (size_t)*e)
			break;
		*e = (int32_t)st;
	}
}

static int grow_window(struct fbuild *b)
{
	struct qa_features *f = b->f;
	size_t n = (size_t)f->n + 1, cells;

	if (size_mul(n, (size_t)f->seq_len, &cells) || ALLOC_GROW(f->ids, cells, b->cap_ids) ||
	    ALLOC_GROW(f->types, cells, b->cap_types) || ALLOC_GROW(f->lengths, n, b->cap_n[0]) ||
	    ALLOC_GROW(f->example, n, b->cap_n[1]) || ALLOC_GROW(f->start_pos, n, b->cap_n[2]) ||
	    ALLOC_GROW(f->end_pos, n, b->cap_n[3]) || ALLOC_GROW(f->ctx_first, n, b->cap_n[4]) ||
	    ALLOC_GROW(f->ctx_count, n, b->cap_n[5]) || ALLOC_GROW(f->ctx_tok, n, b->cap_n[6]))
		return -1;
	return 0;
}

/* The labels of one window: the answer's first and last token, or 0, 0. */
static void window_labels(const struct qa_example *ex, const int32_t *offs, int32_t first,
			  int32_t count, int32_t *sp, int32_t *ep)
{
	int64_t a, b;
	int32_t i, j;

	*sp = *ep = 0;
	if (!ex->n_answers || !count)
		return;
	a = ex->answer_byte[0];
	b = ex->answer_byte_end[0];
	if (!(offs[0] <= a && offs[2 * (count - 1) + 1] >= b))
		return;              /* not wholly inside this window: [CLS] */
	for (i = 0; i < count && offs[2 * i] <= a; i++)
		;
	for (j = count - 1; j >= 0 && offs[2 * j + 1] >= b; j--)
		;
	*sp = first + i - 1;
	*ep = first + j + 1;
}

int qa_features_build(const struct qa_set *set, const struct tokenizer *t,
		      const struct qa_window_opts *o, struct qa_features *f, struct ada_err *err)
{
	struct fbuild b = { .f = f };
	struct ivec q = { 0 }, ctx = { 0 }, offs = { 0 }, ids = { 0 }, types = { 0 };
	const int n_special = tokenizer_special_count(t, 1);
	const int32_t pad = tokenizer_pad(t) >= 0 ? tokenizer_pad(t) : 0;
	int32_t ctx_of = -1;
	int64_t ctx_base = 0;
	int rc = ADA_OK;

	memset(f, 0, sizeof(*f));
	f->seq_len = o->seq_len;
	if (n_special < 0)
		return ada_fail(err, ADA_EINVAL, "the tokenizer cannot frame a question and a context");
	for (int64_t e = 0; e < set->n; e++) {
		const struct qa_example *ex = &set->ex[e];
		const char *c = set->contexts[ex->context];
		int64_t room, overlap, n_ctx;

		if (ex->context != ctx_of) {
			/* the context's tokens and byte ranges, once per context */
			size_t clen = strlen(c);

			ctx.n = offs.n = 0;
			if ((rc = tokenizer_encode_offsets(t, c, clen, 0, &ctx, &offs, err)))
				goto out;
			for (size_t i = 0; i < ctx.n; i++)
				trim_span(c, clen, &offs.v[2 * i], &offs.v[2 * i + 1]);
			if (ALLOC_GROW(f->tok_offs, (size_t)(f->n_tok + (int64_t)ctx.n) * 2, b.cap_tok))
				goto oom;
			if (ctx.n)   /* a context of only white space has no tokens */
				memcpy(f->tok_offs + 2 * f->n_tok, offs.v, ctx.n * 2 * sizeof(*offs.v));
			ctx_base = f->n_tok;
			f->n_tok += (int64_t)ctx.n;
			ctx_of = ex->context;
		}
		q.n = 0;
		if ((rc = tokenizer_encode(t, ex->question, strlen(ex->question), 0, &q, err)))
			goto out;
		if (q.n > (size_t)o->max_query_length) {
			q.n = (size_t)o->max_query_length;
			f->n_truncated_q++;
		}
		room = (int64_t)o->seq_len - n_special - (int64_t)q.n;
		if (room < 1) {
			rc = ada_fail_param(err, ADA_EINVAL, "seq_len",
					    "seq_len %d leaves no room for the context after a question of %zu tokens and %d special tokens (lower max_query_length or raise seq_len)",
					    o->seq_len, q.n, n_special);
			goto out;
		}
		overlap = o->doc_stride < room ? o->doc_stride : room - 1;
		n_ctx = (int64_t)(f->n_tok - ctx_base);
		for (int64_t s = 0;;) {
			int64_t w = n_ctx - s < room ? n_ctx - s : room;
			const size_t T = (size_t)o->seq_len, at = (size_t)f->n * T;
			size_t b_start = 0;

			if (grow_window(&b))
				goto oom;
			ids.n = types.n = 0;
			if ((rc = tokenizer_frame(t, q.v, q.n, ctx.v + s, (size_t)w, &ids, &types,
						  &b_start, err)))
				goto out;
			for (size_t i = 0; i < T; i++) {
				f->ids[at + i] = i < ids.n ? ids.v[i] : pad;
				f->types[at + i] = i < types.n ? (uint8_t)types.v[i] : 0;
			}
			f->lengths[f->n] = (int32_t)ids.n;
			f->example[f->n] = (int32_t)e;
			f->ctx_first[f->n] = (int32_t)b_start;
			f->ctx_count[f->n] = (int32_t)w;
			f->ctx_tok[f->n] = ctx_base + s;
			window_labels(ex, f->tok_offs + 2 * (ctx_base + s), (int32_t)b_start, (int32_t)w,
				      &f->start_pos[f->n], &f->end_pos[f->n]);
			f->n++;
			if (s + w >= n_ctx)
				break;
			s += w - overlap;
		}
	}
	goto out;
oom:
	rc = ada_fail(err, ADA_ENOMEM, "out of memory");
out:
	ivec_release(&q);
	ivec_release(&ctx);
	ivec_release(&offs);
	ivec_release(&ids);
	ivec_release(&types);
	if (rc)
		qa_features_release(f);
	return rc;
}

void qa_features_release(struct qa_features *f)
{
	free(f->ids);
	free(f->types);
	free(f->lengths);
	free(f->example);
	free(f->start_pos);
	free(f->end_pos);
	free(f->ctx_first);
	free(f->ctx_count);
	free(f->ctx_tok);
	free(f->tok_offs);
	memset(f, 0, sizeof(*f));
}

/* ---- predictions ---------------------------------------------------------- */

int qa_predict(const struct qa_set *set, const struct qa_features *f, const float *start,
	       const float *end, const struct qa_predict_opts *o, char **texts,
	       struct ada_err *err)
{
	struct qa_nbest *nb = xcalloc((size_t)set->n + 1, sizeof(*nb));
	int rc;

	if (!nb)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = qa_nbest_build(set, f, start, end, o, nb, err);
	for (int64_t e = 0; !rc && e < set->n; e++) {
		const char *c = set->contexts[set->ex[e].context];
		const int k = qa_nbest_choice(&nb[e], set->has_no_answer,
					      o->null_score_diff_threshold);

		texts[e] = k < 0 ? xstrdup("")
			   : strndup(c + nb[e].spans[k].a, (size_t)(nb[e].spans[k].b - nb[e].spans[k].a));
		if (!texts[e]) {
			for (int64_t j = 0; j < e; j++)
				free(texts[j]);
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		}
	}
	qa_nbest_release(nb, set->n);
	free(nb);
	return rc;
}

int qa_score(const struct qa_set *set, char *const *texts, struct ada_qa_metrics *m,
	     struct ada_err *err)
{
	struct qa_totals t = { 0 };

	for (int64_t e = 0; e < set->n; e++)
		if (qa_totals_add(&t, texts[e], (const char *const *)set->ex[e].answers,
				  (size_t)set->ex[e].n_answers))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	qa_totals_finish(&t, m);
	return ADA_OK;
}
