/*
 * seq2seq_eval — ROUGE of generated texts against references; see
 * seq2seq_eval.h. Also ada_rouge_files(), `adalora rouge`'s whole job.
 */
#include "net/seq2seq_eval.h"

#include <stdlib.h>
#include <string.h>

#include "data/rouge.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/utf8.h"

void seq2seq_eval_init(struct seq2seq_eval *e, int use_stemmer)
{
	memset(e, 0, sizeof(*e));
	e->use_stemmer = !!use_stemmer;
}

void seq2seq_eval_release(struct seq2seq_eval *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->preds[i]);
		free(e->refs[i]);
	}
	free(e->preds);
	free(e->refs);
	memset(e, 0, sizeof(*e));
}

static char *copy_text(const char *s, size_t n)
{
	char *c = malloc(n + 1);

	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

int seq2seq_eval_add(struct seq2seq_eval *e, const char *pred, size_t pred_len, const char *ref,
		     size_t ref_len, struct ada_err *err)
{
	size_t cap = e->cap;
	char *p, *r;

	/* both arrays grow to the same capacity, so grow a copy of cap twice */
	if (ALLOC_GROW(e->preds, e->n + 1, cap))
		return ada_fail(err, ADA_ENOMEM, "out of memory for %zu predictions", e->n + 1);
	cap = e->cap;
	if (ALLOC_GROW(e->refs, e->n + 1, cap))
		return ada_fail(err, ADA_ENOMEM, "out of memory for %zu references", e->n + 1);
	e->cap = cap;
	p = copy_text(pred, pred_len);
	r = copy_text(ref, ref_len);
	if (!p || !r) {
		free(p);
		free(r);
		return ada_fail(err, ADA_ENOMEM, "out of memory for a prediction of %zu bytes", pred_len);
	}
	e->preds[e->n] = p;
	e->refs[e->n] = r;
	e->n++;
	return ADA_OK;
}

int seq2seq_eval_rouge(const struct seq2seq_eval *e, struct ada_rouge *out, struct ada_err *err)
{
	return ada_rouge((const char *const *)e->preds, (const char *const *)e->refs, e->n, e->use_stemmer,
			 out, err);
}

int seq2seq_eval_json(const struct seq2seq_eval *e, json_t **out, struct ada_err *err)
{
	struct ada_rouge r;
	json_t *j;
	int rc;

	if ((rc = seq2seq_eval_rouge(e, &r, err)))
		return rc;
	if (!(j = ada_rouge_to_json(&r)))
		return ada_fail(err, ADA_ENOMEM, "out of memory for the ROUGE JSON");
	/* an evaluation counts "examples"; ada_rouge_to_json's "n" is the same */
	json_object_set_new(j, "examples", json_integer((json_int_t)e->n));
	json_object_del(j, "n");
	*out = j;
	return ADA_OK;
}

void seq2seq_texts_free(char **texts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
}

/* The text of one JSONL line: a string, or an object's first text field. */
static int jsonl_text(const char *path, size_t line_no, const char *s, size_t len, char **out,
		      struct ada_err *err)
{
	static const char *const fields[] = { "prediction", "target", "summary", "text" };
	json_error_t jerr;
	json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &jerr), *v = NULL;
	int rc = ADA_OK;

	if (!j)
		return ada_fail(err, ADA_EFORMAT, "%s: line %zu: not JSON (%s)", path, line_no, jerr.text);
	if (json_is_string(j)) {
		v = j;
	} else if (json_is_object(j)) {
		for (size_t i = 0; !v && i < sizeof(fields) / sizeof(fields[0]); i++)
			v = json_object_get(j, fields[i]);
		if (!v || !json_is_string(v))
			v = NULL;
	}
	if (!v) {
		rc = ada_fail(err, ADA_EFORMAT,
			      "%s: line %zu: neither a JSON string nor an object with a string "
			      "\"prediction\", \"target\", \"summary\" or \"text\"", path, line_no);
		goto out_decref;
	}
	if (!(*out = copy_text(json_string_value(v), json_string_length(v)))) {
		rc = ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
		goto out_decref;
	}
	/* a "\u0000" would end the C string: it separates tokens as a space does */
	for (size_t i = 0; i < json_string_length(v); i++)
		if (!(*out)[i])
			(*out)[i] = ' ';
out_decref:
	json_decref(j);
	return rc;
}

int seq2seq_texts_read(const char *path, char ***texts, size_t *n_out, struct ada_err *err)
{
	char *buf = NULL, **v = NULL;
	size_t len, n = 0, cap = 0, line_no = 0, bad;
	const char *p, *end;
	int rc, jsonl = 0;

	if ((rc = file_read_all(path, &buf, &len, err)))
		return rc;
	if ((bad = utf8_validate(buf, len)) != len) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: not valid UTF-8 at byte %zu", path, bad);
		goto out_free;
	}
	for (p = buf; p < buf + len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'); p++)
		;
	jsonl = p < buf + len && (*p == '{' || *p == '"');
	for (p = buf, end = buf + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *text = NULL;

		line_no++;
		if (l && p[l - 1] == '\r')
			l--;
		if (jsonl) {
			size_t k = 0;

			while (k < l && (p[k] == ' ' || p[k] == '\t'))
				k++;
			if (k == l)
				goto next;
			if ((rc = jsonl_text(path, line_no, p, l, &text, err)))
				goto out_free;
		} else if (!(text = copy_text(p, l))) {
			rc = ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
			goto out_free;
		}
		if (ALLOC_GROW(v, n + 1, cap)) {
			free(text);
			rc = ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
			goto out_free;
		}
		v[n++] = text;
next:
		p = nl ? nl + 1 : end;
	}
	*texts = v;
	*n_out = n;
	v = NULL;
	n = 0;
	rc = ADA_OK;
out_free:
	seq2seq_texts_free(v, n);
	free(buf);
	return rc;
}

int ada_rouge_files(const char *pred_path, const char *ref_path, int use_stemmer, struct ada_rouge *out,
		    struct ada_err *err)
{
	char **preds = NULL, **refs = NULL;
	size_t n_pred = 0, n_ref = 0;
	int rc;

	if ((rc = seq2seq_texts_read(pred_path, &preds, &n_pred, err)))
		return ada_err_prefix(err, rc, "pred");
	if ((rc = seq2seq_texts_read(ref_path, &refs, &n_ref, err))) {
		ada_err_prefix(err, rc, "ref");
		goto out_free;
	}
	if (n_pred != n_ref) {
		rc = ada_fail_param(err, ADA_EINVAL, "ref", "%s has %zu texts but %s has %zu", pred_path, n_pred,
				    ref_path, n_ref);
		goto out_free;
	}
	rc = ada_rouge((const char *const *)preds, (const char *const *)refs, n_pred, use_stemmer, out, err);
out_free:
	seq2seq_texts_free(preds, n_pred);
	seq2seq_texts_free(refs, n_ref);
	return rc;
}
