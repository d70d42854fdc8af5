/*
 * decode — ids to bytes.
 *
 * Every token's bytes are computed once at load (tokenizer_build_pieces)
 * by running its spelling through the decoder steps: U+2581 back to space,
 * <0xAB> to the byte, GPT-2's alphabet back to bytes, WordPiece's "##"
 * continuation dropped and a space before any other piece. Decoding is
 * then a table lookup per id plus one rule: a tokenizer that adds a
 * dummy-prefix space (or WordPiece's word space) drops the leading space of
 * the first piece of a text. Hugging Face's WordPiece "cleanup" (" ." to
 * ".", " n't" to "n't", ...) rewrites across pieces and is not applied:
 * BERT's decoded text is its lowercased words separated by spaces.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

/* GPT-2 alphabet back to bytes when every character maps; else unchanged
 * (added tokens written in plain text), as Hugging Face's decoder does. */
static int bytelevel_decode(struct strbuf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	out->n = 0;
	if (strbuf_reserve(out, len))
		return -1;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int k = utf8_decode(u + i, len - i, &cp);
		int b = k > 0 ? bytelevel_byte(cp) : -1;
		if (b < 0) {
			out->n = 0;
			return strbuf_add(out, s, len);
		}
		out->p[out->n++] = (char)b;
		i += (size_t)k;
	}
	return 0;
}

/* Run one token's text through the decoder steps into *cur. */
static int decode_steps(const struct tokenizer *t, struct strbuf *cur, struct strbuf *next)
{
	for (size_t k = 0; k < t->n_dec && cur->n; k++) {
		const struct dec_step *d = &t->dec[k];
		struct strbuf swap;
		int b;

		switch (d->kind) {
		case DEC_REPLACE:
			if (replace_all(next, cur->p, cur->n, d->a, d->a_len, d->b, d->b_len))
				return -1;
			break;
		case DEC_BYTEFALLBACK:
			b = vocab_byte_value(cur->p, cur->n);
			next->n = 0;
			if (b >= 0 ? strbuf_add(next, &(char){ (char)b }, 1)
				   : strbuf_add(next, cur->p, cur->n))
				return -1;
			break;
		case DEC_BYTELEVEL:
			if (bytelevel_decode(next, cur->p, cur->n))
				return -1;
			break;
		case DEC_WORDPIECE:
			next->n = 0;
			if (cur->n >= d->a_len && !memcmp(cur->p, d->a, d->a_len)) {
				if (strbuf_add(next, cur->p + d->a_len, cur->n - d->a_len))
					return -1;
			} else if (strbuf_add(next, " ", 1) || strbuf_add(next, cur->p, cur->n)) {
				return -1;
			}
			break;
		}
		swap = *cur;
		*cur = *next;
		*next = swap;
	}
	return 0;
}

int tokenizer_build_pieces(struct tokenizer *t, struct ada_err *err)
{
	struct strbuf cur = { 0 }, next = { 0 };
	int rc = ADA_OK;

	t->piece_off = xcalloc((size_t)t->vocab.n + 1, sizeof(*t->piece_off));
	if (!t->piece_off || strbuf_reserve(&t->piece_text, 1))
		goto oom;
	for (int32_t id = 0; id < t->vocab.n; id++) {
		uint8_t type = t->vocab.type[id];
		size_t len;
		const char *s = vocab_text(&t->vocab, id, &len);

		cur.n = 0;
		if (type != TOKT_CONTROL && type != TOKT_UNKNOWN && type != TOKT_UNUSED &&
		    (strbuf_add(&cur, s, len) || decode_steps(t, &cur, &next)))
			goto oom;
		if (strbuf_add(&t->piece_text, cur.p, cur.n))
			goto oom;
		t->piece_off[id + 1] = t->piece_text.n;
		if (cur.n > t->max_piece)
			t->max_piece = cur.n;
	}
	goto out_free;
oom:
	rc = ada_fail(err, ADA_ENOMEM, "out of memory");
out_free:
	strbuf_release(&cur);
	strbuf_release(&next);
	return rc;
}

static const char *piece(const struct tokenizer *t, int32_t prev, int32_t id, size_t *len)
{
	const char *p = t->piece_text.p + t->piece_off[id];

	*len = t->piece_off[id + 1] - t->piece_off[id];
	if (t->strip_first_space && (prev < 0 || prev == t->bos) && *len && p[0] == ' ') {
		p++;
		(*len)--;
	}
	return p;
}

int tokenizer_decode_token(const struct tokenizer *t, int32_t prev, int32_t id,
			   char *buf, size_t cap)
{
	size_t len;
	const char *p;

	if (id < 0 || id >= t->vocab.n)
		return -1;
	p = piece(t, prev, id, &len);
	if (len > cap || len > INT32_MAX)
		return -1;
	if (len)
		memcpy(buf, p, len);
	return (int)len;
}

size_t tokenizer_max_piece(const struct tokenizer *t)
{
	return t->max_piece;
}

int tokenizer_decode(const struct tokenizer *t, const int32_t *ids, size_t n,
		     char **out, size_t *out_len, struct ada_err *err)
{
	struct strbuf b = { 0 };
	int32_t prev = -1;

	*out = NULL;
	if (out_len)
		*out_len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *p;

		if (ids[i] < 0 || ids[i] >= t->vocab.n) {
			strbuf_release(&b);
			return ada_fail(err, ADA_EINVAL,
					"token id %d at position %zu is outside the vocabulary (%d)",
					ids[i], i, t->vocab.n);
		}
		p = piece(t, prev, ids[i], &len);
		if (strbuf_add(&b, p, len))
			goto oom;
		prev = ids[i];
	}
	if (strbuf_add(&b, "", 1))
		goto oom;
	*out = b.p;
	if (out_len)
		*out_len = b.n - 1;
	return ADA_OK;
oom:
	strbuf_release(&b);
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}
