/* checkpoint — trainer state save/load; see checkpoint.h for the format. */
#include "train/checkpoint.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"

static const char MAGIC[16] = "ADALORA-CKPT-v1\n";

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

struct hashing_writer {
	struct atomic_file af;
	uint64_t hash;
	int rc;
	struct ada_err *err;
};

static void put(struct hashing_writer *hw, const void *p, size_t n)
{
	if (hw->rc)
		return;
	hw->hash = fnv1a(hw->hash, p, n);
	hw->rc = atomic_file_write(&hw->af, p, n, hw->err);
}

static json_t *number_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* The header's order of a classifier's metrics. */
static const size_t metric_offsets[] = {
	offsetof(struct ada_glue_metrics, accuracy), offsetof(struct ada_glue_metrics, f1),
	offsetof(struct ada_glue_metrics, mcc), offsetof(struct ada_glue_metrics, pearson),
	offsetof(struct ada_glue_metrics, spearman),
};
#define N_METRICS (sizeof(metric_offsets) / sizeof(metric_offsets[0]))

static json_t *metrics_to_array(const struct ada_glue_metrics *m)
{
	json_t *a = json_array();

	for (size_t i = 0; i < N_METRICS; i++)
		json_array_append_new(a, number_or_null(*(const double *)((const char *)m +
									metric_offsets[i])));
	return a;
}

/* A ROUGE result as [r1 p, r, f, r2 ..., rL ..., rLsum ..., n, use_stemmer]. */
static json_t *rouge_to_array(const struct ada_rouge *r)
{
	const struct ada_rouge_score *s[] = { &r->rouge1, &r->rouge2, &r->rougeL, &r->rougeLsum };
	json_t *a = json_array();

	for (int i = 0; i < 4; i++) {
		json_array_append_new(a, number_or_null(s[i]->precision));
		json_array_append_new(a, number_or_null(s[i]->recall));
		json_array_append_new(a, number_or_null(s[i]->fmeasure));
	}
	json_array_append_new(a, json_integer((json_int_t)r->n));
	json_array_append_new(a, json_integer(r->use_stemmer));
	return a;
}

/* Absent (checkpoints of other tasks, or written before them): no scores. */
static void rouge_from_array(const json_t *a, struct ada_rouge *r)
{
	struct ada_rouge_score *s[] = { &r->rouge1, &r->rouge2, &r->rougeL, &r->rougeLsum };

	for (int i = 0; i < 4; i++) {
		double *v[] = { &s[i]->precision, &s[i]->recall, &s[i]->fmeasure };
		for (int k = 0; k < 3; k++) {
			const json_t *x = json_array_get(a, (size_t)(3 * i + k));
			*v[k] = json_is_number(x) ? json_number_value(x) : NAN;
		}
	}
	r->n = (int64_t)json_integer_value(json_array_get(a, 12));
	r->use_stemmer = (int)json_integer_value(json_array_get(a, 13));
}

/* Absent (NAN) in checkpoints of language models written before them. */
static void metrics_from_array(const json_t *a, struct ada_glue_metrics *m)
{
	for (size_t i = 0; i < N_METRICS; i++) {
		const json_t *x = json_array_get(a, i);
		*(double *)((char *)m + metric_offsets[i]) = json_is_number(x) ? json_number_value(x)
										: NAN;
	}
}

int checkpoint_save(const char *dir, const struct checkpoint_state *st, struct ada_err *err)
{
	struct hashing_writer hw = { .hash = FNV_INIT, .err = err };
	json_t *hdr, *ranks;
	char *text = NULL, *path = NULL;
	uint64_t hlen;
	int rc;

	if ((rc = mkdir_p(dir, 0755, err)))
		return rc;
	hdr = json_object();
	ranks = json_array();
	for (int i = 0; i < st->n_ranks; i++)
		json_array_append_new(ranks, json_integer(st->ranks[i]));
	json_object_set_new(hdr, "step", json_integer(st->step));
	json_object_set_new(hdr, "total_steps", json_integer(st->total_steps));
	json_object_set_new(hdr, "adam_step", json_integer(st->adam_step));
	json_object_set_new(hdr, "trained_tokens", json_integer(st->trained_tokens));
	json_object_set_new(hdr, "valid_loss", number_or_null(st->valid_loss));
	json_object_set_new(hdr, "valid_loss_initial", number_or_null(st->valid_loss_initial));
	json_object_set_new(hdr, "valid_loss_no_framing", number_or_null(st->valid_loss_no_framing));
	json_object_set_new(hdr, "valid_loss_no_framing_initial",
			    number_or_null(st->valid_loss_no_framing_initial));
	json_object_set_new(hdr, "valid_metrics", metrics_to_array(&st->valid_metrics));
	json_object_set_new(hdr, "valid_metrics_initial",
			    metrics_to_array(&st->valid_metrics_initial));
	json_object_set_new(hdr, "valid_rouge", rouge_to_array(&st->valid_rouge));
	json_object_set_new(hdr, "valid_rouge_initial", rouge_to_array(&st->valid_rouge_initial));
	json_object_set_new(hdr, "interval_nll", number_or_null(st->interval_nll));
	json_object_set_new(hdr, "interval_targets", json_integer(st->interval_targets));
	json_object_set_new(hdr, "nonfinite_in_a_row", json_integer(st->nonfinite_in_a_row));
	json_object_set_new(hdr, "fingerprint", json_string(st->fingerprint ? st->fingerprint : ""));
	json_object_set_new(hdr, "arena_floats", json_integer((json_int_t)st->arena_floats));
	json_object_set_new(hdr, "allocator_bytes", json_integer((json_int_t)st->alloc_len));
	json_object_set_new(hdr, "ranks", ranks);
	text = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(hdr);
	path = path_join(dir, "state.bin");
	if (!text || !path) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((rc = atomic_file_open(&hw.af, path, err)))
		goto out_free;
	hlen = strlen(text);
	put(&hw, MAGIC, sizeof(MAGIC));
	put(&hw, &hlen, sizeof(hlen));
	put(&hw, text, hlen);
	put(&hw, st->w, st->arena_floats * sizeof(float));
	put(&hw, st->m, st->arena_floats * sizeof(float));
	put(&hw, st->v, st->arena_floats * sizeof(float));
	if (st->alloc_len)
		put(&hw, st->alloc_blob, st->alloc_len);
	if (hw.rc) {
		atomic_file_abort(&hw.af);
		rc = hw.rc;
		goto out_free;
	}
	{
		uint64_t h = hw.hash;
		if ((rc = atomic_file_write(&hw.af, &h, sizeof(h), err))) {
			atomic_file_abort(&hw.af);
			goto out_free;
		}
	}
	rc = atomic_file_commit(&hw.af, err);
out_free:
	free(text);
	free(path);
	return rc;
}

void checkpoint_state_release(struct checkpoint_state *st)
{
	free((void *)st->fingerprint);
	free(st->ranks);
	free((void *)st->alloc_blob);
	st->fingerprint = NULL;
	st->ranks = NULL;
	st->alloc_blob = NULL;
}

static double get_number(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

int checkpoint_load(const char *dir, struct checkpoint_state *st, float *w, float *m, float *v,
		    size_t expect_floats, struct ada_err *err)
{
	struct mapped_file mf;
	char *path = path_join(dir, "state.bin");
	json_t *hdr = NULL, *ranks;
	json_error_t jerr;
	uint64_t hlen, stored;
	size_t need, arena_bytes;
	const uint8_t *p;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!path)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (!file_exists(path)) {
		free(path);
		return ada_fail(err, ADA_ENOTFOUND, "%s/state.bin: no checkpoint", dir);
	}
	rc = mapped_file_open(path, &mf, err);
	if (rc) {
		free(path);
		return rc;
	}
	p = mf.data;
	if (mf.size < sizeof(MAGIC) + 16 || memcmp(p, MAGIC, sizeof(MAGIC))) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: not a checkpoint (bad magic)", path);
		goto out_close;
	}
	memcpy(&stored, p + mf.size - 8, 8);
	if (fnv1a(FNV_INIT, p, mf.size - 8) != stored) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: checksum mismatch (damaged checkpoint)", path);
		goto out_close;
	}
	memcpy(&hlen, p + sizeof(MAGIC), 8);
	if (hlen > mf.size - sizeof(MAGIC) - 16) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: header length out of range", path);
		goto out_close;
	}
	hdr = json_loadb((const char *)p + sizeof(MAGIC) + 8, hlen, 0, &jerr);
	if (!json_is_object(hdr)) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: bad header: %s", path, jerr.text);
		goto out_close;
	}
	st->step = (int64_t)get_number(hdr, "step");
	st->total_steps = (int64_t)get_number(hdr, "total_steps");
	st->adam_step = (int64_t)get_number(hdr, "adam_step");
	st->trained_tokens = (int64_t)get_number(hdr, "trained_tokens");
	st->valid_loss = get_number(hdr, "valid_loss");
	st->valid_loss_initial = get_number(hdr, "valid_loss_initial");
	st->valid_loss_no_framing = get_number(hdr, "valid_loss_no_framing");
	st->valid_loss_no_framing_initial = get_number(hdr, "valid_loss_no_framing_initial");
	metrics_from_array(json_object_get(hdr, "valid_metrics"), &st->valid_metrics);
	metrics_from_array(json_object_get(hdr, "valid_metrics_initial"),
			   &st->valid_metrics_initial);
	rouge_from_array(json_object_get(hdr, "valid_rouge"), &st->valid_rouge);
	rouge_from_array(json_object_get(hdr, "valid_rouge_initial"), &st->valid_rouge_initial);
	/* absent before they were recorded: an interval that starts afresh */
	st->interval_nll = json_object_get(hdr, "interval_nll") ? get_number(hdr, "interval_nll") : 0;
	st->interval_targets = (int64_t)json_integer_value(json_object_get(hdr, "interval_targets"));
	st->nonfinite_in_a_row =
		(int64_t)json_integer_value(json_object_get(hdr, "nonfinite_in_a_row"));
	st->arena_floats = (size_t)get_number(hdr, "arena_floats");
	st->alloc_len = (size_t)get_number(hdr, "allocator_bytes");
	st->fingerprint = xstrdup(json_string_value(json_object_get(hdr, "fingerprint")));
	ranks = json_object_get(hdr, "ranks");
	if (!st->fingerprint || !json_is_array(ranks) || st->step < 0) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: incomplete header", path);
		goto out_release;
	}
	st->n_ranks = (int)json_array_size(ranks);
	st->ranks = xcalloc((size_t)st->n_ranks + 1, sizeof(int));
	if (!st->ranks) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_release;
	}
	for (int i = 0; i < st->n_ranks; i++)
		st->ranks[i] = (int)json_integer_value(json_array_get(ranks, (size_t)i));
	if (size_mul(st->arena_floats, 3 * sizeof(float), &arena_bytes) ||
	    size_add(sizeof(MAGIC) + 8 + hlen + 8, arena_bytes, &need) ||
	    size_add(need, st->alloc_len, &need) || need != mf.size) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: sizes do not add up to the file size", path);
		goto out_release;
	}
	p += sizeof(MAGIC) + 8 + hlen;
	if (expect_floats) {
		if (expect_floats != st->arena_floats) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s: holds %zu trainable values, this job has %zu", path,
				      st->arena_floats, expect_floats);
			goto out_release;
		}
		memcpy(w, p, st->arena_floats * sizeof(float));
		memcpy(m, p + st->arena_floats * sizeof(float), st->arena_floats * sizeof(float));
		memcpy(v, p + 2 * st->arena_floats * sizeof(float), st->arena_floats * sizeof(float));
	}
	p += arena_bytes;
	if (st->alloc_len) {
		void *blob = malloc(st->alloc_len);
		if (!blob) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_release;
		}
		memcpy(blob, p, st->alloc_len);
		st->alloc_blob = blob;
	}
	json_decref(hdr);
	mapped_file_close(&mf);
	free(path);
	return ADA_OK;

out_release:
	checkpoint_state_release(st);
out_close:
	json_decref(hdr);
	mapped_file_close(&mf);
	free(path);
	return rc;
}
