/*
 * encode — text to ids: the pipeline struct tokenizer describes.
 *
 * Per call: validate UTF-8, cut the text at added/special tokens, and run
 * each plain segment through the normalizers (norm.c), the pre-tokenizers
 * (pretok.c, which streams words) and the merge loop (merge.c), WordPiece
 * (wordpiece.c) or Unigram (unigram.c). With offsets every stage carries
 * each byte's span of the text too. All scratch belongs to the call, so
 * threads may share one tokenizer.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"
#include "util/err.h"
#include "util/utf8.h"

struct encode_state {
	const struct tokenizer *t;
	struct norm_scratch norm;
	struct pretok_scratch pretok;
	struct merge_scratch *merge;
	struct unigram_scratch *unigram;
	struct strbuf wp_key;          /* WordPiece lookups */
	struct spanbuf seg_sp;         /* a segment's spans (offsets only) */
	struct ivec *out;
	struct ivec *offs;             /* NULL: no offsets asked for */
};

static void encode_state_release(struct encode_state *st)
{
	norm_scratch_release(&st->norm);
	pretok_scratch_release(&st->pretok);
	merge_scratch_free(st->merge);
	unigram_scratch_free(st->unigram);
	strbuf_release(&st->wp_key);
	spanbuf_release(&st->seg_sp);
}

static int merge_sink(void *arg, const char *w, size_t len, const struct tspan *sp,
		      struct ada_err *err)
{
	struct encode_state *st = arg;
	struct word_out wo = { st->out, st->offs, sp };

	if (st->t->algo == TOK_ALGO_WORDPIECE)
		return wordpiece_word(st->t, w, len, &st->wp_key, &wo, err);
	if (st->t->algo == TOK_ALGO_UNIGRAM)
		return unigram_word(st->t, w, len, &st->unigram, &wo, err);
	return merge_word(st->t, w, len, &st->merge, &wo, err);
}

/* The spans of text[from, from + len): each byte gets its code point's. */
static int segment_spans(struct spanbuf *b, const char *text, size_t from, size_t len)
{
	b->n = 0;
	for (size_t i = from; i < from + len;) {
		uint32_t cp;
		int k = utf8_decode((const unsigned char *)text + i, from + len - i, &cp);
		size_t n = k > 0 ? (size_t)k : 1;

		if (spanbuf_fill(b, (struct tspan){ (uint32_t)i, (uint32_t)(i + n) }, n))
			return -1;
		i += n;
	}
	return 0;
}

static int encode_segment(const struct tokenizer *t, struct encode_state *st, const char *text,
			  size_t from, size_t len, unsigned word_flags, struct ada_err *err)
{
	const struct tspan *sp = NULL, *norm_sp = NULL;
	const char *norm;
	size_t norm_len;

	if (st->offs) {
		if (segment_spans(&st->seg_sp, text, from, len))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		sp = st->seg_sp.v;
	}
	if (normalize_segment(t, &st->norm, text + from, len, sp, !!(word_flags & WORD_NO_PREFIX),
			      &norm, &norm_len, &norm_sp))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return pretok_run(t->pretok, t->n_pretok, &st->pretok, norm, norm_len, norm_sp, word_flags,
			  merge_sink, st, err);
}

/* An id with the span [s, e) of the text (offsets only). */
static int push_id(struct encode_state *st, int32_t id, size_t s, size_t e)
{
	if (ivec_push(st->out, id))
		return -1;
	if (st->offs && (ivec_push(st->offs, (int32_t)s) || ivec_push(st->offs, (int32_t)e)))
		return -1;
	return 0;
}

static int encode(const struct tokenizer *t, const char *text, size_t len, unsigned flags,
		  struct ivec *out, struct ivec *offs, struct ada_err *err)
{
	struct encode_state st = { .t = t, .out = out, .offs = offs };
	size_t bad = utf8_validate(text, len), n0 = out->n, o0 = offs ? offs->n : 0, pos = 0;
	int rc = ADA_OK;

	if (bad != len)
		return ada_fail(err, ADA_EINVAL, "text is not valid UTF-8 at byte %zu", bad);
	if (offs && len > INT32_MAX)
		return ada_fail(err, ADA_EINVAL, "a text of %zu bytes is too long for offsets", len);
	if ((flags & TOK_ADD_BOS) && t->bos >= 0 && push_id(&st, t->bos, 0, 0))
		goto oom;
	while (pos < len) {
		size_t at = len, mlen = 0;
		int32_t id = -1;
		int found = special_set_next(&t->specials, text, len, pos, flags, &at, &mlen, &id);

		if (at > pos) {
			unsigned wf = 0;
			if (pos == 0 && !(flags & TOK_AFTER_SPECIAL))
				wf = WORD_AT_START | (flags & TOK_NO_PREFIX_SPACE ? WORD_NO_PREFIX : 0);
			else if (pos == 0 && (flags & TOK_NO_PREFIX_SPACE))
				wf = WORD_NO_PREFIX;
			rc = encode_segment(t, &st, text, pos, at - pos, wf, err);
			if (rc)
				goto out_fail;
		}
		if (!found)
			break;
		if (push_id(&st, id, at, at + mlen))
			goto oom;
		pos = at + mlen;
	}
	if ((flags & TOK_ADD_EOS) && t->eos >= 0 && push_id(&st, t->eos, len, len))
		goto oom;
	encode_state_release(&st);
	return ADA_OK;
oom:
	rc = ada_fail(err, ADA_ENOMEM, "out of memory");
out_fail:
	out->n = n0;
	if (offs)
		offs->n = o0;
	encode_state_release(&st);
	return rc;
}

int tokenizer_encode_offsets(const struct tokenizer *t, const char *text, size_t len,
			     unsigned flags, struct ivec *out, struct ivec *offs,
			     struct ada_err *err)
{
	return encode(t, text, len, flags, out, offs, err);
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
		     unsigned flags, struct ivec *out, struct ada_err *err)
{
	return encode(t, text, len, flags, out, NULL, err);
}
