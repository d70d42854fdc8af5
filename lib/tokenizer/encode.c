/*
 * encode — text to ids: the pipeline struct tokenizer describes.
 *
 * Per call: validate UTF-8, cut the text at added/special tokens, and run
 * each plain segment through the normalizers, the pre-tokenizers
 * (pretok.c, which streams words) and the merge loop (merge.c) or
 * WordPiece (wordpiece.c). All scratch belongs to the call, so threads may
 * share one tokenizer.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"
#include "util/err.h"
#include "util/utf8.h"

struct encode_state {
	const struct tokenizer *t;
	struct strbuf a, b;            /* normalizer ping-pong */
	struct pretok_scratch pretok;
	struct merge_scratch *merge;
	struct strbuf wp_key;          /* WordPiece lookups */
	struct ivec *out;
};

static void encode_state_release(struct encode_state *st)
{
	strbuf_release(&st->a);
	strbuf_release(&st->b);
	pretok_scratch_release(&st->pretok);
	merge_scratch_free(st->merge);
	strbuf_release(&st->wp_key);
}

/* Run the normalizers over seg; *out is seg itself when there are none,
 * else st->a. */
static int normalize(const struct tokenizer *t, struct encode_state *st, const char *seg,
		     size_t len, int no_prefix, const char **out, size_t *out_len)
{
	struct strbuf swap;

	*out = seg;
	*out_len = len;
	if (!t->n_norm)
		return 0;
	st->a.n = 0;
	if (strbuf_add(&st->a, seg, len))
		return -1;
	for (size_t k = 0; k < t->n_norm; k++) {
		const struct norm_step *n = &t->norm[k];

		st->b.n = 0;
		switch (n->kind) {
		case NORM_PREPEND:
			if (!st->a.n || no_prefix)
				continue;
			if (strbuf_add(&st->b, n->a, n->a_len) || strbuf_add(&st->b, st->a.p, st->a.n))
				return -1;
			break;
		case NORM_REPLACE:
			if (replace_all(&st->b, st->a.p, st->a.n, n->a, n->a_len, n->b, n->b_len))
				return -1;
			break;
		case NORM_NFC:
			if (unicode_nfc(st->a.p, st->a.n, &st->b))
				return -1;
			break;
		case NORM_NFD:
			if (unicode_nfd(st->a.p, st->a.n, &st->b))
				return -1;
			break;
		case NORM_LOWERCASE:
			if (unicode_lowercase(st->a.p, st->a.n, &st->b))
				return -1;
			break;
		case NORM_STRIP_ACCENTS:
			if (unicode_strip_marks(st->a.p, st->a.n, &st->b))
				return -1;
			break;
		case NORM_BERT_CLEAN:
			if (bert_clean_text(st->a.p, st->a.n, &st->b))
				return -1;
			break;
		case NORM_BERT_CHINESE:
			if (bert_pad_chinese(st->a.p, st->a.n, &st->b))
				return -1;
			break;
		}
		swap = st->a;
		st->a = st->b;
		st->b = swap;
	}
	*out = st->a.p;
	*out_len = st->a.n;
	return 0;
}

static int merge_sink(void *arg, const char *w, size_t len, struct ada_err *err)
{
	struct encode_state *st = arg;

	if (st->t->algo == TOK_ALGO_WORDPIECE)
		return wordpiece_word(st->t, w, len, &st->wp_key, st->out, err);
	return merge_word(st->t, w, len, &st->merge, st->out, err);
}

static int encode_segment(const struct tokenizer *t, struct encode_state *st, const char *seg,
			  size_t len, unsigned word_flags, struct ada_err *err)
{
	const char *norm;
	size_t norm_len;

	if (normalize(t, st, seg, len, !!(word_flags & WORD_NO_PREFIX), &norm, &norm_len))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return pretok_run(t->pretok, t->n_pretok, &st->pretok, norm, norm_len, word_flags,
			  merge_sink, st, err);
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
		     unsigned flags, struct ivec *out, struct ada_err *err)
{
	struct encode_state st = { .t = t, .out = out };
	size_t bad = utf8_validate(text, len), n0 = out->n, pos = 0;
	int rc = ADA_OK;

	if (bad != len)
		return ada_fail(err, ADA_EINVAL, "text is not valid UTF-8 at byte %zu", bad);
	if ((flags & TOK_ADD_BOS) && t->bos >= 0 && ivec_push(out, t->bos))
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
			rc = encode_segment(t, &st, text + pos, at - pos, wf, err);
			if (rc)
				goto out_fail;
		}
		if (!found)
			break;
		if (ivec_push(out, id))
			goto oom;
		pos = at + mlen;
	}
	if ((flags & TOK_ADD_EOS) && t->eos >= 0 && ivec_push(out, t->eos))
		goto oom;
	encode_state_release(&st);
	return ADA_OK;
oom:
	rc = ada_fail(err, ADA_ENOMEM, "out of memory");
out_fail:
	out->n = n0;
	encode_state_release(&st);
	return rc;
}
