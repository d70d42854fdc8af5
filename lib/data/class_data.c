/* class_data — classification datasets from JSONL and GLUE TSV; see class_data.h. */
#include "data/class_data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/utf8.h"
#include "data/data_format.h"

/* One record before encoding: borrowed spans into the file buffer or JSON. */
struct raw_label {
	int kind;                  /* ADA_LABEL_* */
	long long i;
	double f;
	const char *s;
	size_t slen;
};

struct builder {
	const char *path;
	const struct pair_encoder *enc;
	int seq_len;
	struct label_map *lm;
	int build_labels;
	int pass;                  /* 0: collect labels, 1: encode */
	struct class_dataset *ds;
	/* capacities of the dataset's parallel arrays (ids and types: cells) */
	size_t cap_ids, cap_types, cap_lengths, cap_labels, cap_targets, cap_truncated;
	/* pass 0: string labels seen */
	char **seen;
	size_t n_seen, cap_seen;
	long long max_int;
	int kind;
	struct ivec ids, types;
};

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int note_string_label(struct builder *bd, const char *s, size_t n)
{
	for (size_t i = 0; i < bd->n_seen; i++)
		if (strlen(bd->seen[i]) == n && !memcmp(bd->seen[i], s, n))
			return 0;
	if (ALLOC_GROW(bd->seen, bd->n_seen + 1, bd->cap_seen))
		return -1;
	bd->seen[bd->n_seen] = malloc(n + 1);
	if (!bd->seen[bd->n_seen])
		return -1;
	memcpy(bd->seen[bd->n_seen], s, n);
	bd->seen[bd->n_seen][n] = '\0';
	bd->n_seen++;
	return 0;
}

/* Room for one more example in every array of the dataset. */
static int grow(struct builder *bd)
{
	struct class_dataset *ds = bd->ds;
	size_t n = (size_t)ds->n + 1, cells;

	if (size_mul(n, (size_t)bd->seq_len, &cells) ||
	    ALLOC_GROW(ds->ids, cells, bd->cap_ids) || ALLOC_GROW(ds->types, cells, bd->cap_types) ||
	    ALLOC_GROW(ds->lengths, n, bd->cap_lengths) ||
	    ALLOC_GROW(ds->labels, n, bd->cap_labels) ||
	    ALLOC_GROW(ds->targets, n, bd->cap_targets) ||
	    ALLOC_GROW(ds->truncated, n, bd->cap_truncated))
		return -1;
	return 0;
}

/* Map a raw label to a class id / value under the (final) label map. */
static int resolve_label(struct builder *bd, const struct raw_label *rl, int32_t *id, float *value,
			 struct ada_err *err)
{
	const struct label_map *lm = bd->lm;

	if (lm->kind == ADA_LABEL_FLOAT) {
		if (rl->kind == ADA_LABEL_STRING)
			return ada_fail(err, ADA_EINVAL, "label is a string but the task is a regression");
		*value = (float)(rl->kind == ADA_LABEL_INT ? (double)rl->i : rl->f);
		*id = 0;
		return ADA_OK;
	}
	if (lm->kind == ADA_LABEL_STRING) {
		if (rl->kind != ADA_LABEL_STRING)
			return ada_fail(err, ADA_EINVAL, "label is a number but the training labels are strings");
		for (int i = 0; i < lm->n_labels; i++)
			if (strlen(lm->names[i]) == rl->slen && !memcmp(lm->names[i], rl->s, rl->slen)) {
				*id = i;
				*value = 0;
				return ADA_OK;
			}
		return ada_fail(err, ADA_EINVAL, "label \"%.*s\" does not occur in the training data",
				(int)(rl->slen > 64 ? 64 : rl->slen), rl->s);
	}
	if (rl->kind != ADA_LABEL_INT)
		return ada_fail(err, ADA_EINVAL, "label must be an integer class id like the training labels");
	if (rl->i < 0 || rl->i >= lm->n_labels)
		return ada_fail(err, ADA_EINVAL,
				"label %lld is outside the training labels 0..%d (the label count changed)",
				rl->i, lm->n_labels - 1);
	*id = (int32_t)rl->i;
	*value = 0;
	return ADA_OK;
}

static int take_example(struct builder *bd, const char *a, size_t alen, const char *b,
			size_t blen, const struct raw_label *rl, struct ada_err *err)
{
	struct class_dataset *ds = bd->ds;
	const size_t T = (size_t)bd->seq_len;
	int truncated = 0, rc;
	int32_t id = 0;
	float value = 0;

	if (bd->pass == 0) {
		if (bd->kind == ADA_LABEL_NONE)
			bd->kind = rl->kind;
		if ((bd->kind == ADA_LABEL_STRING) != (rl->kind == ADA_LABEL_STRING))
			return ada_fail(err, ADA_EINVAL, "string and numeric labels are mixed");
		if (rl->kind == ADA_LABEL_FLOAT)
			bd->kind = ADA_LABEL_FLOAT;
		if (rl->kind == ADA_LABEL_INT) {
			if (rl->i < 0)
				return ada_fail(err, ADA_EINVAL, "label %lld is negative", rl->i);
			if (rl->i > 100000)
				return ada_fail(err, ADA_EINVAL, "label %lld: too many classes", rl->i);
			bd->max_int = rl->i > bd->max_int ? rl->i : bd->max_int;
		}
		if (rl->kind == ADA_LABEL_STRING && note_string_label(bd, rl->s, rl->slen))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		return ADA_OK;
	}
	if ((rc = resolve_label(bd, rl, &id, &value, err)))
		return rc;
	if (grow(bd))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	bd->ids.n = bd->types.n = 0;
	rc = bd->enc->encode(bd->enc->ctx, a, alen, b, blen, bd->seq_len, &bd->ids, &bd->types,
			     &truncated, err);
	if (rc)
		return rc;
	if (bd->ids.n == 0 || bd->ids.n > T || bd->types.n != bd->ids.n)
		return ada_fail(err, ADA_EINVAL, "encoder returned %zu ids for max %zu", bd->ids.n, T);
	for (size_t t = 0; t < T; t++) {
		int in = t < bd->ids.n;
		ds->ids[(size_t)ds->n * T + t] = in ? bd->ids.v[t] : bd->enc->pad;
		ds->types[(size_t)ds->n * T + t] = in ? (uint8_t)bd->types.v[t] : 0;
	}
	ds->lengths[ds->n] = (int32_t)bd->ids.n;
	ds->labels[ds->n] = id;
	ds->targets[ds->n] = value;
	ds->truncated[ds->n] = truncated != 0;
	ds->n_truncated += truncated != 0;
	ds->n++;
	return ADA_OK;
}

static int json_label(const json_t *v, struct raw_label *rl)
{
	memset(rl, 0, sizeof(*rl));
	if (json_is_integer(v)) {
		rl->kind = ADA_LABEL_INT;
		rl->i = json_integer_value(v);
	} else if (json_is_real(v)) {
		rl->kind = ADA_LABEL_FLOAT;
		rl->f = json_real_value(v);
	} else if (json_is_string(v)) {
		rl->kind = ADA_LABEL_STRING;
		rl->s = json_string_value(v);
		rl->slen = json_string_length(v);
	} else {
		return -1;
	}
	return 0;
}

static int on_record(void *ctx, const struct data_record *rec, struct ada_err *err)
{
	struct builder *bd = ctx;
	struct raw_label rl;

	if (rec->shape != ADA_SHAPE_CLASSIFY && rec->shape != ADA_SHAPE_CLASSIFY_PAIR)
		return ada_fail(err, ADA_EINVAL,
				"a classification job needs {\"text\",\"label\"} or {\"text_a\",\"text_b\",\"label\"} lines");
	if (json_label(json_object_get(rec->json, "label"), &rl))
		return ada_fail(err, ADA_EINVAL, "bad label");
	return take_example(bd, rec->text, rec->text_len, rec->second, rec->second_len, &rl, err);
}

/* ---- GLUE TSV ----------------------------------------------------------- */

/* Known column names, first match wins: text A, text B, label. */
static const char *const col_a[] = { "sentence", "sentence1", "question", "question1",
				     "#1 String", "premise", NULL };
static const char *const col_b[] = { "sentence2", "question2", "#2 String", "hypothesis", NULL };
static const char *const col_label[] = { "label", "score", "Quality", "is_duplicate",
					 "gold_label", NULL };

static int find_col(char **cells, int n, const char *const *names)
{
	for (int k = 0; names[k]; k++)
		for (int i = 0; i < n; i++)
			if (!strcmp(cells[i], names[k]))
				return i;
	return -1;
}

/* Split line[0..len) on tabs in place; returns the cell count (<= max). */
static int split_tabs(char *line, size_t len, char **cells, int max)
{
	int n = 0;
	char *p = line, *end = line + len;

	while (n < max) {
		char *tab = memchr(p, '\t', (size_t)(end - p));
		cells[n++] = p;
		if (!tab)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	return n;
}

/* A TSV cell as a label: integer, real, or else a string. */
static void tsv_label(const char *s, struct raw_label *rl)
{
	char *end;

	memset(rl, 0, sizeof(*rl));
	errno = 0;
	rl->i = strtoll(s, &end, 10);
	if (*s && !*end && !errno) {
		rl->kind = ADA_LABEL_INT;
		return;
	}
	rl->f = strtod(s, &end);
	if (*s && !*end && !errno && isfinite(rl->f)) {
		rl->kind = ADA_LABEL_FLOAT;
		return;
	}
	rl->kind = ADA_LABEL_STRING;
	rl->s = s;
	rl->slen = strlen(s);
}

#define MAX_CELLS 16

static int scan_tsv(struct builder *bd, char *buf, size_t len, struct ada_err *err)
{
	char *cells[MAX_CELLS], *p = buf, *end = buf + len;
	int ia = -1, ib = -1, il = -1, header = 1, ncols = 0, rc;
	int64_t line = 0;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int nc;

		line++;
		if (n && p[n - 1] == '\r')
			n--;
		p[n] = '\0';
		if (!n) {
			p += (nl ? (size_t)(nl - p) + 1 : n);
			continue;
		}
		nc = split_tabs(p, n, cells, MAX_CELLS);
		if (header) {
			header = 0;
			ia = find_col(cells, nc, col_a);
			ib = find_col(cells, nc, col_b);
			il = find_col(cells, nc, col_label);
			ncols = nc;
			if (ia < 0 && nc == 4) {
				/* CoLA: no header; source, label, original label, sentence */
				ia = 3;
				il = 1;
			} else {
				if (ia < 0 || il < 0)
					return ada_fail(err, ADA_EINVAL,
							"%s: line 1: a GLUE TSV header needs a text column (sentence, sentence1, question, ...) and a label column (label, score, ...)",
							bd->path);
				p = nl ? nl + 1 : end;
				continue;
			}
		}
		if (nc != ncols) {
			return ada_fail(err, ADA_EINVAL, "%s: line %lld: %d columns, the header has %d",
					bd->path, (long long)line, nc, ncols);
		}
		{
			struct raw_label rl;
			tsv_label(cells[il], &rl);
			rc = take_example(bd, cells[ia], strlen(cells[ia]), ib >= 0 ? cells[ib] : NULL,
					  ib >= 0 ? strlen(cells[ib]) : 0, &rl, err);
			if (rc)
				return ada_err_prefix(err, rc, "%s: line %lld", bd->path, (long long)line);
		}
		p = nl ? nl + 1 : end;
	}
	return ADA_OK;
}

static int finish_labels(struct builder *bd, struct ada_err *err)
{
	struct label_map *lm = bd->lm;

	memset(lm, 0, sizeof(*lm));
	lm->kind = bd->kind;
	if (bd->kind == ADA_LABEL_FLOAT) {
		lm->n_labels = 1;
	} else if (bd->kind == ADA_LABEL_STRING) {
		qsort(bd->seen, bd->n_seen, sizeof(*bd->seen), str_cmp);
		lm->names = bd->seen;
		lm->n_labels = (int)bd->n_seen;
		bd->seen = NULL;
		bd->n_seen = 0;
	} else if (bd->kind == ADA_LABEL_INT) {
		lm->n_labels = (int)bd->max_int + 1;
	} else {
		return ada_fail(err, ADA_EINVAL, "%s: no labelled examples", bd->path);
	}
	if (lm->kind != ADA_LABEL_FLOAT && lm->n_labels < 2)
		return ada_fail(err, ADA_EINVAL, "%s: classification needs at least 2 labels (found %d)",
				bd->path, lm->n_labels);
	return ADA_OK;
}

static int scan_file(struct builder *bd, const char *path, enum class_file_format fmt,
		     struct ada_err *err)
{
	struct ada_data_info info;
	char *buf = NULL;
	size_t len;
	int rc;

	if ((rc = file_read_all(path, &buf, &len, err)))
		return rc;
	if (fmt == CLASS_FORMAT_GLUE_TSV) {
		if (utf8_validate(buf, len) != len)
			rc = ada_fail(err, ADA_EINVAL, "%s: not valid UTF-8", path);
		else
			rc = scan_tsv(bd, buf, len, err);
	} else {
		rc = data_format_scan(buf, len, ADA_DATA_JSONL_ONLY, on_record, bd, &info, err);
		if (rc)
			ada_err_prefix(err, rc, "%s", path);
	}
	free(buf);
	return rc;
}

int class_data_load(const char *path, enum class_file_format fmt, const struct pair_encoder *enc,
		    int seq_len, struct label_map *labels, int build_labels,
		    struct class_dataset *ds, struct ada_err *err)
{
	struct builder bd = { .path = path, .enc = enc, .seq_len = seq_len, .lm = labels,
			      .build_labels = build_labels, .ds = ds, .max_int = -1 };
	int rc;

	memset(ds, 0, sizeof(*ds));
	ds->seq_len = seq_len;
	if (seq_len < 2)
		return ada_fail_param(err, ADA_EINVAL, "seq_len", "seq_len must be at least 2");
	if (fmt == CLASS_FORMAT_AUTO) {
		size_t n = strlen(path);
		fmt = n > 4 && !strcmp(path + n - 4, ".tsv") ? CLASS_FORMAT_GLUE_TSV : CLASS_FORMAT_JSONL;
	}
	if (build_labels) {
		bd.pass = 0;
		if ((rc = scan_file(&bd, path, fmt, err)) || (rc = finish_labels(&bd, err)))
			goto out_release;
	}
	bd.pass = 1;
	if ((rc = scan_file(&bd, path, fmt, err)))
		goto out_release;
	if (!ds->n) {
		rc = ada_fail(err, ADA_EINVAL, "%s: empty dataset", path);
		goto out_release;
	}
	rc = ADA_OK;
out_release:
	for (size_t i = 0; i < bd.n_seen; i++)
		free(bd.seen[i]);
	free(bd.seen);
	ivec_release(&bd.ids);
	ivec_release(&bd.types);
	if (rc) {
		class_dataset_release(ds);
		if (build_labels)
			label_map_release(labels);
	}
	return rc;
}

void class_dataset_release(struct class_dataset *ds)
{
	free(ds->ids);
	free(ds->types);
	free(ds->lengths);
	free(ds->labels);
	free(ds->targets);
	free(ds->truncated);
	memset(ds, 0, sizeof(*ds));
}

void label_map_release(struct label_map *lm)
{
	if (lm->names)
		for (int i = 0; i < lm->n_labels; i++)
			free(lm->names[i]);
	free(lm->names);
	memset(lm, 0, sizeof(*lm));
}

int class_data_split_tail(struct class_dataset *train, double fraction,
			  struct class_dataset *valid, struct ada_err *err)
{
	const size_t T = (size_t)train->seq_len;
	int64_t k;

	memset(valid, 0, sizeof(*valid));
	valid->seq_len = train->seq_len;
	if (fraction <= 0)
		return ADA_OK;
	if (train->n < 2)
		return ada_fail(err, ADA_EINVAL, "too few examples (%lld) to hold out a validation set",
				(long long)train->n);
	k = (int64_t)llround(fraction * (double)train->n);
	k = k < 1 ? 1 : k > train->n - 1 ? train->n - 1 : k;
	valid->n = k;
	valid->ids = xcalloc((size_t)k * T, sizeof(*valid->ids));
	valid->types = xcalloc((size_t)k * T, 1);
	valid->lengths = xcalloc((size_t)k, sizeof(*valid->lengths));
	valid->labels = xcalloc((size_t)k, sizeof(*valid->labels));
	valid->targets = xcalloc((size_t)k, sizeof(*valid->targets));
	valid->truncated = xcalloc((size_t)k, 1);
	if (!valid->ids || !valid->types || !valid->lengths || !valid->labels || !valid->targets ||
	    !valid->truncated) {
		class_dataset_release(valid);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	train->n -= k;
	memcpy(valid->ids, train->ids + (size_t)train->n * T, (size_t)k * T * sizeof(*valid->ids));
	memcpy(valid->types, train->types + (size_t)train->n * T, (size_t)k * T);
	memcpy(valid->lengths, train->lengths + train->n, (size_t)k * sizeof(*valid->lengths));
	memcpy(valid->labels, train->labels + train->n, (size_t)k * sizeof(*valid->labels));
	memcpy(valid->targets, train->targets + train->n, (size_t)k * sizeof(*valid->targets));
	memcpy(valid->truncated, train->truncated + train->n, (size_t)k);
	for (int64_t i = 0; i < k; i++)
		valid->n_truncated += valid->truncated[i];
	train->n_truncated -= valid->n_truncated;
	return ADA_OK;
}

/* ---- label summaries (ada_data_labels, ada_labels_check) ---------------- */

/* Pass 0 of the loader over a buffer: the labels exactly as training will
 * map them (same walk, same rules), without a tokenizer. */
int ada_data_labels(const char *buf, size_t len, json_t **out, struct ada_err *err)
{
	struct builder bd = { .path = "", .pass = 0, .max_int = -1 };
	struct ada_data_info info;
	json_t *o = NULL, *names;
	int rc;

	*out = NULL;
	rc = data_format_scan(buf, len, ADA_DATA_JSONL_ONLY, on_record, &bd, &info, err);
	if (rc)
		goto out_free;
	if (bd.kind == ADA_LABEL_NONE) {
		rc = ada_fail(err, ADA_EINVAL, "no labelled examples");
		goto out_free;
	}
	o = json_pack("{s:s,s:I}", "kind", ada_label_kind_name(bd.kind), "num_labels",
		      (json_int_t)(bd.kind == ADA_LABEL_FLOAT ? 1
				   : bd.kind == ADA_LABEL_STRING ? (long long)bd.n_seen
								 : bd.max_int + 1));
	if (o && bd.kind == ADA_LABEL_STRING) {
		qsort(bd.seen, bd.n_seen, sizeof(*bd.seen), str_cmp);
		names = json_array();
		for (size_t i = 0; names && i < bd.n_seen; i++)
			json_array_append_new(names, json_string(bd.seen[i]));
		json_object_set_new(o, "labels", names);
	}
	if (!o) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	*out = o;
	rc = ADA_OK;
out_free:
	for (size_t i = 0; i < bd.n_seen; i++)
		free(bd.seen[i]);
	free(bd.seen);
	return rc;
}

static int summary_kind(const json_t *s)
{
	const char *k = json_string_value(json_object_get(s, "kind"));

	return !k ? ADA_LABEL_NONE : !strcmp(k, "int") ? ADA_LABEL_INT
		: !strcmp(k, "string") ? ADA_LABEL_STRING : !strcmp(k, "float") ? ADA_LABEL_FLOAT
		: ADA_LABEL_NONE;
}

static int summary_has(const json_t *labels, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(labels, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

/* The rules of finish_labels() and resolve_label(), on two summaries. */
int ada_labels_check(const json_t *train, const json_t *valid, struct ada_err *err)
{
	const int tk = summary_kind(train), vk = summary_kind(valid);
	const json_int_t tn = json_integer_value(json_object_get(train, "num_labels"));
	const json_int_t vn = json_integer_value(json_object_get(valid, "num_labels"));
	const json_t *vl = json_object_get(valid, "labels");
	size_t i;
	json_t *v;

	if (tk == ADA_LABEL_NONE)
		return ada_fail_param(err, ADA_EINVAL, "training_file",
				      "the training file has no labels");
	if (tk != ADA_LABEL_FLOAT && tn < 2)
		return ada_fail_param(err, ADA_EINVAL, "training_file",
				      "classification needs at least 2 labels; the training file has %lld",
				      (long long)tn);
	if (!valid)
		return ADA_OK;
	if (vk == ADA_LABEL_NONE)
		return ada_fail_param(err, ADA_EINVAL, "validation_file",
				      "the validation file has no labels (the training file's lines are labelled)");
	if (tk == ADA_LABEL_FLOAT) {
		if (vk == ADA_LABEL_STRING)
			return ada_fail_param(err, ADA_EINVAL, "validation_file",
					      "the validation labels are strings but the training labels make a regression");
		return ADA_OK;
	}
	if (tk == ADA_LABEL_STRING) {
		if (vk != ADA_LABEL_STRING)
			return ada_fail_param(err, ADA_EINVAL, "validation_file",
					      "the validation labels are numbers but the training labels are strings");
		json_array_foreach(vl, i, v) {
			/* summaries come from our store, but a damaged one must not crash */
			const char *name = json_string_value(v);
			if (!name || !summary_has(json_object_get(train, "labels"), name))
				return ada_fail_param(err, ADA_EINVAL, "validation_file",
						      "validation label \"%.64s\" does not occur in the training data",
						      name ? name : "(not a string)");
		}
		return ADA_OK;
	}
	if (vk != ADA_LABEL_INT)
		return ada_fail_param(err, ADA_EINVAL, "validation_file",
				      "the validation labels must be integer class ids like the training labels");
	if (vn > tn)
		return ada_fail_param(err, ADA_EINVAL, "validation_file",
				      "validation label %lld is outside the training labels 0..%lld (the label count changed)",
				      (long long)vn - 1, (long long)tn - 1);
	return ADA_OK;
}
