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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/chat.h"
#include "data/data_format.h"
#include "tokenizer/tokenizer.h"   /* TOK_* flags only; no link dependency */
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"

/* ---- token sequences ------------------------------------------------------ */

int tok_seq_mark(struct tok_seq *s, size_t from, uint8_t m, struct ada_err *err)
{
	if (ALLOC_GROW(s->mask, s->tok.n, s->mask_cap))
		return ada_fail(err, ADA_ENOMEM, "out of memory for the token mask");
	if (s->tok.n > from)
		memset(s->mask + from, m, s->tok.n - from);
	return ADA_OK;
}

int tok_seq_push(struct tok_seq *s, int32_t id, uint8_t m, struct ada_err *err)
{
	if (ivec_push(&s->tok, id))
		return ada_fail(err, ADA_ENOMEM, "out of memory for the token stream");
	return tok_seq_mark(s, s->tok.n - 1, m, err);
}

void tok_seq_release(struct tok_seq *s)
{
	ivec_release(&s->tok);
	free(s->mask);
	memset(s, 0, sizeof(*s));
}

/* ---- records -------------------------------------------------------------- */

static int show(struct strbuf *shown, const char *s, size_t n, struct ada_err *err)
{
	if (shown && strbuf_add(shown, s, n))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

/* A framing token (BOS, EOS) with mask m; id -1 is skipped. */
static int frame_token(const struct text_encoder *enc, struct tok_seq *out, int32_t id,
		       uint8_t m, struct strbuf *shown, struct ada_err *err)
{
	const char *spelled = NULL;
	char fallback[32];
	size_t n = 0;
	int rc;

	if (id < 0)
		return ADA_OK;
	if ((rc = tok_seq_push(out, id, m, err)) || !shown)
		return rc;
	if (enc->spell)
		spelled = enc->spell(enc->ctx, id, &n);
	if (!spelled) {
		n = (size_t)snprintf(fallback, sizeof(fallback), "<id %d>", (int)id);
		spelled = fallback;
	}
	return show(shown, spelled, n, err);
}

static int text_piece(const struct text_encoder *enc, struct tok_seq *out, const char *text,
		      size_t len, unsigned flags, uint8_t m, struct strbuf *shown,
		      struct ada_err *err)
{
	size_t from = out->tok.n;
	int rc;

	rc = enc->encode(enc->ctx, text, len, flags, &out->tok, err);
	if (!rc)
		rc = tok_seq_mark(out, from, m, err);
	if (!rc)
		rc = show(shown, text, len, err);
	return rc;
}

static int chat_record(const struct text_encoder *enc, const struct data_record *rec,
		       struct tok_seq *out, struct strbuf *shown, struct ada_err *err)
{
	struct chat_render r = { 0 };
	int rc;

	if (!enc->chat && enc->chat_refusal)
		return ada_fail_param(err, ADA_EINVAL, "chat_template", "%s", enc->chat_refusal);
	if (!enc->chat)
		return ada_fail_param(err, ADA_EINVAL, "chat_template",
				      "chat lines ({\"messages\"}) need a chat template, and none was "
				      "given (chat_template)");
	rc = chat_render(enc->chat, rec->json, json_object_get(rec->json, "messages"), &r, err);
	if (!rc)
		rc = chat_encode(&r, enc, out, shown, err);
	chat_render_release(&r);
	return rc;
}

int data_encode_record(const struct text_encoder *enc, const struct data_record *rec,
		       struct tok_seq *out, struct strbuf *shown, struct ada_err *err)
{
	/* bos_only: the BOS starting a record is the target ending the one before */
	const uint8_t bos_mask = enc->bos_only ? DATA_TARGET | DATA_FRAMING : 0;
	int rc;

	switch (rec->shape) {
	case ADA_SHAPE_TEXT:
		rc = frame_token(enc, out, enc->bos, bos_mask, shown, err);
		if (!rc)
			rc = text_piece(enc, out, rec->text, rec->text_len, 0, DATA_TARGET, shown, err);
		break;
	case ADA_SHAPE_PROMPT_COMPLETION:
		rc = frame_token(enc, out, enc->bos, bos_mask, shown, err);
		if (!rc)
			rc = text_piece(enc, out, rec->text, rec->text_len, 0, 0, shown, err);
		if (!rc)
			rc = text_piece(enc, out, rec->second, rec->second_len, TOK_NO_PREFIX_SPACE,
					DATA_TARGET, shown, err);
		break;
	case ADA_SHAPE_CHAT:
		return chat_record(enc, rec, out, shown, err);
	default:
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s lines (with \"label\") are for classification, which is not "
				"supported yet; a language model needs {\"text\"} or "
				"{\"prompt\", \"completion\"} lines",
				ada_data_shape_name(rec->shape));
	}
	if (!rc && !enc->bos_only)
		rc = frame_token(enc, out, enc->eos, DATA_TARGET | DATA_FRAMING, shown, err);
	return rc;
}

/* ---- packing ---------------------------------------------------------------- */

struct packer {
	const struct text_encoder *enc;   /* borrowed */
	int seq_len;
	struct tok_seq stream;
	struct tok_seq rec;               /* the record being packed */
	int64_t truncated;
};

static int append(struct packer *pk, const int32_t *tok, const uint8_t *mask, size_t n,
		  struct ada_err *err)
{
	struct tok_seq *s = &pk->stream;
	size_t from = s->tok.n;

	if (ivec_reserve(&s->tok, n) || ALLOC_GROW(s->mask, s->tok.n + n, s->mask_cap))
		return ada_fail(err, ADA_ENOMEM, "out of memory for the token stream");
	memcpy(s->tok.v + from, tok, n * sizeof(*tok));
	memcpy(s->mask + from, mask, n);
	s->tok.n += n;
	return ADA_OK;
}

/* A conversation goes whole into one window (data.h): when it does not fit
 * in the rest of the window the stream is in, pad to the next window's
 * start; one longer than a window keeps its first seq_len + 1 tokens. */
static int pack_whole(struct packer *pk, struct ada_err *err)
{
	const struct text_encoder *enc = pk->enc;
	const size_t L = (size_t)pk->seq_len;
	int32_t pad = enc->pad >= 0 ? enc->pad : enc->eos >= 0 ? enc->eos : 0;
	size_t k = pk->rec.tok.n, n = pk->stream.tok.n, w = n / L;
	int rc;

	if (!k)
		return ADA_OK;
	if (k > L + 1) {
		k = L + 1;
		pk->truncated++;
	}
	if (n + k - 1 > w * L + L) {
		while (pk->stream.tok.n < (w + 1) * L)
			if ((rc = tok_seq_push(&pk->stream, pad, 0, err)))
				return rc;
	}
	return append(pk, pk->rec.tok.v, pk->rec.mask, k, err);
}

static int pack_record(void *ctx, const struct data_record *rec, struct ada_err *err)
{
	struct packer *pk = ctx;
	int rc;

	pk->rec.tok.n = 0;
	rc = data_encode_record(pk->enc, rec, &pk->rec, NULL, err);
	if (rc)
		return rc;
	if (rec->shape == ADA_SHAPE_CHAT)
		return pack_whole(pk, err);
	return append(pk, pk->rec.tok.v, pk->rec.mask, pk->rec.tok.n, err);
}

/* Tokens in window w: stream[w*L .. w*L+L], clipped to the stream's n. */
static size_t window_span(size_t w, size_t L, size_t n)
{
	size_t start = w * L;

	return n - start < L + 1 ? n - start : L + 1;
}

static int has_target(const uint8_t *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mask[i] & DATA_TARGET)
			return 1;
	return 0;
}

static int cut_windows(struct packer *pk, int seq_len, const char *name,
		       struct dataset *ds, struct ada_err *err)
{
	const struct text_encoder *enc = pk->enc;
	int32_t pad = enc->pad >= 0 ? enc->pad : enc->eos >= 0 ? enc->eos : 0;
	size_t n = pk->stream.tok.n, L = (size_t)seq_len, n_cand, kept = 0, row = 0, rows_tok;
	uint8_t *mask = pk->stream.mask;

	if (n)
		mask[0] = 0;        /* nothing precedes the first token */
	n_cand = n < 2 ? 0 : (n - 2) / L + 1;
	for (size_t w = 0; w < n_cand; w++)
		if (has_target(mask + w * L + 1, window_span(w, L, n) - 1))
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
		const uint8_t *src_mask = mask + w * L + 1;
		int32_t *t = ds->tokens + row * (L + 1);
		uint8_t *m = ds->mask + row * L;

		if (!has_target(src_mask, span - 1))
			continue;
		memcpy(t, pk->stream.tok.v + w * L, span * sizeof(*t));
		for (size_t p = span; p < L + 1; p++)
			t[p] = pad;
		for (size_t p = 0; p < span - 1; p++) {
			/* a mask byte is a target's or nothing */
			m[p] = src_mask[p] & DATA_TARGET ? src_mask[p] : 0;
			ds->n_targets += m[p] != 0;
			ds->n_framing += (m[p] & DATA_FRAMING) != 0;
		}
		row++;
	}
	ds->seq_len = seq_len;
	ds->n_windows = (int64_t)kept;
	ds->n_truncated = pk->truncated;
	return ADA_OK;
}

int dataset_load_buffer(const char *buf, size_t len, const char *name, int seq_len,
			const struct text_encoder *enc, struct dataset *ds,
			struct ada_err *err)
{
	struct packer pk = { .enc = enc, .seq_len = seq_len };
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
	ds->shape = info.shape;
out:
	tok_seq_release(&pk.stream);
	tok_seq_release(&pk.rec);
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

static int64_t count_bits(const uint8_t *mask, size_t n, uint8_t bit)
{
	int64_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += (mask[i] & bit) != 0;
	return c;
}

static int64_t count_targets(const uint8_t *mask, size_t n)
{
	return count_bits(mask, n, DATA_TARGET);
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
	valid->shape = train->shape;
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
	valid->n_framing = count_bits(valid->mask, (size_t)k * L, DATA_FRAMING);

	train->n_windows = n - k;
	train->n_targets -= valid->n_targets;
	train->n_framing -= valid->n_framing;
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
		targets[p] = m[p] & DATA_TARGET ? t[p + 1] : -1;
		count += (m[p] & DATA_TARGET) != 0;
	}
	return count;
}

int dataset_window_targets(const struct dataset *ds, int64_t w)
{
	return (int)count_targets(ds->mask + (size_t)w * (size_t)ds->seq_len,
				  (size_t)ds->seq_len);
}
