/*
 * data — encoding records once and packing them into windows; see data.h.
 *
 * The stream is built whole (tokens and a byte mask side by side) and then
 * copied into fixed rows, so a window is one contiguous row a batch can
 * read without knowing where documents began or ended. The copy doubles
 * memory only while loading, and rows make the tail split and dropping
 * target-less windows simple.
 */
#include "data/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_format.h"
#include "tokenizer/tokenizer.h"   /* TOK_* flags only; no link dependency */
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"

struct packer {
	const struct text_encoder *enc;   /* borrowed */
	struct ivec tok;                  /* the stream */
	uint8_t *mask;                    /* parallel to tok.v, mask_cap >= tok.n */
	size_t mask_cap;
};

/* Set the mask of stream tokens [from, tok.n) to m. */
static int packer_mark(struct packer *pk, size_t from, uint8_t m, struct ada_err *err)
{
	if (ALLOC_GROW(pk->mask, pk->tok.n, pk->mask_cap))
		return ada_fail(err, ADA_ENOMEM, "out of memory for the token mask");
	if (pk->tok.n > from)
		memset(pk->mask + from, m, pk->tok.n - from);
	return ADA_OK;
}

static int packer_special(struct packer *pk, int32_t id, uint8_t m, struct ada_err *err)
{
	if (id < 0)
		return ADA_OK;
	if (ivec_push(&pk->tok, id))
		return ada_fail(err, ADA_ENOMEM, "out of memory for the token stream");
	return packer_mark(pk, pk->tok.n - 1, m, err);
}

static int packer_text(struct packer *pk, const char *text, size_t len, unsigned flags,
		       uint8_t m, struct ada_err *err)
{
	const struct text_encoder *enc = pk->enc;
	size_t from = pk->tok.n;
	int rc;

	rc = enc->encode(enc->ctx, text, len, flags, &pk->tok, err);
	if (rc)
		return rc;
	return packer_mark(pk, from, m, err);
}

static int pack_record(void *ctx, const struct data_record *rec, struct ada_err *err)
{
	struct packer *pk = ctx;
	const struct text_encoder *enc = pk->enc;
	int rc;

	switch (rec->shape) {
	case ADA_SHAPE_TEXT:
		rc = packer_special(pk, enc->bos, 0, err);
		if (!rc)
			rc = packer_text(pk, rec->text, rec->text_len, 0, 1, err);
		break;
	case ADA_SHAPE_PROMPT_COMPLETION:
		rc = packer_special(pk, enc->bos, 0, err);
		if (!rc)
			rc = packer_text(pk, rec->text, rec->text_len, 0, 0, err);
		if (!rc)
			rc = packer_text(pk, rec->second, rec->second_len,
					 TOK_NO_PREFIX_SPACE, 1, err);
		break;
	case ADA_SHAPE_CHAT:
		return ada_fail(err, ADA_EUNSUPPORTED,
				"chat lines ({\"messages\"}) cannot train a language model yet: "
				"they need a chat template");
	default:
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s lines (with \"label\") are for classification, which is not "
				"supported yet; a language model needs {\"text\"} or "
				"{\"prompt\", \"completion\"} lines",
				ada_data_shape_name(rec->shape));
	}
	if (!rc)
		rc = packer_special(pk, enc->eos, 1, err);
	return rc;
}

/* Tokens in window w: stream[w*L .. w*L+L], clipped to the stream's n. */
static size_t window_span(size_t w, size_t L, size_t n)
{
	size_t start = w * L;

	return n - start < L + 1 ? n - start : L + 1;
}

static int cut_windows(struct packer *pk, int seq_len, const char *name,
		       struct dataset *ds, struct ada_err *err)
{
	const struct text_encoder *enc = pk->enc;
	int32_t pad = enc->pad >= 0 ? enc->pad : enc->eos >= 0 ? enc->eos : 0;
	size_t n = pk->tok.n, L = (size_t)seq_len, n_cand, kept = 0, row = 0, rows_tok;

	if (n)
		pk->mask[0] = 0;        /* nothing precedes the first token */
	n_cand = n < 2 ? 0 : (n - 2) / L + 1;
	for (size_t w = 0; w < n_cand; w++)
		if (memchr(pk->mask + w * L + 1, 1, window_span(w, L, n) - 1))
			kept++;
	if (!kept)
		return ada_fail(err, ADA_EFORMAT, "%s: empty dataset: no tokens to predict", name);

	if (size_mul(kept, L + 1, &rows_tok))
		return ada_fail(err, ADA_ENOMEM, "%s: too many windows", name);
	ds->tokens = xcalloc(rows_tok, sizeof(*ds->tokens));
	ds->mask = xcalloc(kept, L);     /* kept * L <= rows_tok: no overflow */
	if (!ds->tokens || !ds->mask) {
		free(ds->tokens);
		free(ds->mask);
		ds->tokens = NULL;
		ds->mask = NULL;
		return ada_fail(err, ADA_ENOMEM, "%s: out of memory for %zu windows of %d tokens",
				name, kept, seq_len);
	}
	for (size_t w = 0; w < n_cand; w++) {
		size_t span = window_span(w, L, n);
		const uint8_t *src_mask = pk->mask + w * L + 1;
		int32_t *t = ds->tokens + row * (L + 1);
		uint8_t *m = ds->mask + row * L;

		if (!memchr(src_mask, 1, span - 1))
			continue;
		memcpy(t, pk->tok.v + w * L, span * sizeof(*t));
		for (size_t p = span; p < L + 1; p++)
			t[p] = pad;
		memcpy(m, src_mask, span - 1);
		for (size_t p = 0; p < span - 1; p++)
			ds->n_targets += m[p];
		row++;
	}
	ds->seq_len = seq_len;
	ds->n_windows = (int64_t)kept;
	return ADA_OK;
}

int dataset_load_buffer(const char *buf, size_t len, const char *name, int seq_len,
			const struct text_encoder *enc, struct dataset *ds,
			struct ada_err *err)
{
	struct packer pk = { .enc = enc };
	struct ada_data_info info;
	int rc;

	memset(ds, 0, sizeof(*ds));
	if (seq_len < 1 || seq_len > DATA_MAX_SEQ_LEN)
		return ada_fail_param(err, ADA_EINVAL, "seq_len",
				      "seq_len %d is out of range [1, %d]", seq_len,
				      DATA_MAX_SEQ_LEN);
	if (!enc || !enc->encode)
		return ada_fail(err, ADA_EINVAL, "%s: no text encoder", name);

	rc = data_format_scan(buf, len, 0, pack_record, &pk, &info, err);
	if (rc) {
		ada_err_prefix(err, rc, "%s", name);
		goto out;
	}
	rc = cut_windows(&pk, seq_len, name, ds, err);
out:
	ivec_release(&pk.tok);
	free(pk.mask);
	return rc;
}

int dataset_load(const char *path, int seq_len, const struct text_encoder *enc,
		 struct dataset *ds, struct ada_err *err)
{
	size_t len;
	char *buf;
	int rc;

	memset(ds, 0, sizeof(*ds));
	rc = file_read_all(path, &buf, &len, err);
	if (rc)
		return rc;
	rc = dataset_load_buffer(buf, len, path, seq_len, enc, ds, err);
	free(buf);
	return rc;
}

static int64_t count_targets(const uint8_t *mask, size_t n)
{
	int64_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += mask[i];
	return c;
}

int dataset_split_tail(struct dataset *train, double valid_fraction,
		       struct dataset *valid, struct ada_err *err)
{
	int64_t n = train->n_windows, k;
	size_t L = (size_t)train->seq_len;
	int32_t *tok;
	uint8_t *mask;
	double f = valid_fraction;

	memset(valid, 0, sizeof(*valid));
	valid->seq_len = train->seq_len;
	if (f < 0)
		f = n >= 20 ? 0.05 : 0.0;
	if (!(f >= 0 && f < 1))
		return ada_fail_param(err, ADA_EINVAL, "valid_fraction",
				      "valid_fraction %g is not in [0, 1)", valid_fraction);
	if (f == 0)
		return ADA_OK;
	if (n < 2)
		return ada_fail_param(err, ADA_EINVAL, "valid_fraction",
				      "valid_fraction %g needs at least 2 windows, the data has %lld",
				      f, (long long)n);
	k = (int64_t)floor(f * (double)n + 0.5);
	k = k < 1 ? 1 : k > n - 1 ? n - 1 : k;

	/* Both fit: they are parts of train's arrays. */
	valid->tokens = xcalloc((size_t)k * (L + 1), sizeof(*valid->tokens));
	valid->mask = xcalloc((size_t)k, L);
	if (!valid->tokens || !valid->mask) {
		dataset_release(valid);
		return ada_fail(err, ADA_ENOMEM, "out of memory for the validation windows");
	}
	memcpy(valid->tokens, train->tokens + (size_t)(n - k) * (L + 1),
	       (size_t)k * (L + 1) * sizeof(*valid->tokens));
	memcpy(valid->mask, train->mask + (size_t)(n - k) * L, (size_t)k * L);
	valid->n_windows = k;
	valid->n_targets = count_targets(valid->mask, (size_t)k * L);

	train->n_windows = n - k;
	train->n_targets -= valid->n_targets;
	/* Give the tail back; on failure the larger blocks simply stay. */
	tok = xreallocarray(train->tokens, (size_t)(n - k) * (L + 1), sizeof(*tok));
	if (tok)
		train->tokens = tok;
	mask = xreallocarray(train->mask, (size_t)(n - k) * L, sizeof(*mask));
	if (mask)
		train->mask = mask;
	return ADA_OK;
}

int dataset_load_split(const char *train_path, const char *valid_path,
		       double valid_fraction, int seq_len, const struct text_encoder *enc,
		       struct dataset *train, struct dataset *valid, struct ada_err *err)
{
	int rc;

	memset(valid, 0, sizeof(*valid));
	rc = dataset_load(train_path, seq_len, enc, train, err);
	if (rc)
		return rc;
	if (valid_path) {
		rc = dataset_load(valid_path, seq_len, enc, valid, err);
	} else {
		rc = dataset_split_tail(train, valid_fraction, valid, err);
		if (rc)
			ada_err_prefix(err, rc, "%s", train_path);
	}
	if (rc)
		dataset_release(train);
	return rc;
}

void dataset_release(struct dataset *ds)
{
	free(ds->tokens);
	free(ds->mask);
	memset(ds, 0, sizeof(*ds));
}

int dataset_window(const struct dataset *ds, int64_t w, int32_t *inputs, int32_t *targets)
{
	size_t L = (size_t)ds->seq_len;
	const int32_t *t = ds->tokens + (size_t)w * (L + 1);
	const uint8_t *m = ds->mask + (size_t)w * L;
	int count = 0;

	for (size_t p = 0; p < L; p++) {
		inputs[p] = t[p];
		targets[p] = m[p] ? t[p + 1] : -1;
		count += m[p];
	}
	return count;
}

int dataset_window_targets(const struct dataset *ds, int64_t w)
{
	return (int)count_targets(ds->mask + (size_t)w * (size_t)ds->seq_len,
				  (size_t)ds->seq_len);
}
