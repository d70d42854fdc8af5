/*
 * tokenizer — the public face: loading by content, the encode pipeline,
 * decoding, accessors. The loaders (spm.c, bpe.c, hf_json.c) describe a
 * tokenizer as settings of struct tokenizer (internal.h); this file runs
 * those settings and owns the struct's lifecycle.
 *
 * Encoding, per call (all scratch is local, so threads may share t):
 * validate UTF-8, cut the text at added/special tokens, and for each plain
 * segment run the normalizers, the pre-tokenizers and the merge loop.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "../format/gguf.h"
#include "../util/alloc.h"
#include "../util/err.h"
#include "../util/fileio.h"
#include "../util/utf8.h"

/* ---- ivec ----------------------------------------------------------------- */

int ivec_push(struct ivec *iv, int32_t x)
{
	if (iv->n == iv->cap) {
		size_t cap = iv->cap ? iv->cap * 2 : 64;
		int32_t *v = xreallocarray(iv->v, cap, sizeof(*v));
		if (!v)
			return -1;
		iv->v = v;
		iv->cap = cap;
	}
	iv->v[iv->n++] = x;
	return 0;
}

void ivec_release(struct ivec *iv)
{
	free(iv->v);
	iv->v = NULL;
	iv->n = iv->cap = 0;
}

/* ---- construction ------------------------------------------------------- */

struct tokenizer *tokenizer_alloc(const char *kind, const char *source)
{
	struct tokenizer *t = xcalloc(1, sizeof(*t));

	if (!t)
		return NULL;
	snprintf(t->kind, sizeof(t->kind), "%s", kind);
	t->source = xstrdup(source ? source : "tokenizer");
	if (!t->source) {
		free(t);
		return NULL;
	}
	t->unk = t->bos = t->eos = t->pad = -1;
	for (int b = 0; b < 256; b++)
		t->byte_tok[b] = -1;
	return t;
}

void tokenizer_free(struct tokenizer *t)
{
	if (!t)
		return;
	vocab_release(&t->vocab);
	merge_table_release(&t->merges);
	for (size_t i = 0; i < t->n_norm; i++) {
		free(t->norm[i].a);
		free(t->norm[i].b);
	}
	free(t->norm);
	free(t->pretok);
	for (size_t i = 0; i < t->n_dec; i++) {
		free(t->dec[i].a);
		free(t->dec[i].b);
	}
	free(t->dec);
	special_set_release(&t->specials);
	bytebuf_release(&t->piece_text);
	free(t->piece_off);
	free(t->source);
	free(t);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* <0xAB> -> 0xAB, or -1. */
static int byte_token_value(const char *s, size_t len)
{
	int hi, lo;

	if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>')
		return -1;
	hi = hexval(s[3]);
	lo = hexval(s[4]);
	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

int tokenizer_index_vocab(struct tokenizer *t, struct ada_err *err)
{
	for (int32_t id = 0; id < t->vocab.n; id++) {
		size_t len;
		const char *s = vocab_text(&t->vocab, id, &len);
		int b = byte_token_value(s, len);

		/* Byte fallback looks tokens up by their canonical spelling. */
		if (b >= 0 && s[3] == "0123456789ABCDEF"[b >> 4] && s[4] == "0123456789ABCDEF"[b & 15] &&
		    t->byte_tok[b] < 0)
			t->byte_tok[b] = id;
	}
	if (vocab_index(&t->vocab))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

static char *memdup(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p) {
		if (len)
			memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

int tokenizer_add_norm(struct tokenizer *t, enum norm_kind kind, const char *a, size_t a_len,
		       const char *b, size_t b_len)
{
	struct norm_step *v = xreallocarray(t->norm, t->n_norm + 1, sizeof(*v));

	if (!v)
		return -1;
	t->norm = v;
	v = &t->norm[t->n_norm];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->a = memdup(a ? a : "", a_len);
	v->b = memdup(b ? b : "", b_len);
	if (!v->a || !v->b) {
		free(v->a);
		free(v->b);
		return -1;
	}
	v->a_len = a_len;
	v->b_len = b_len;
	t->n_norm++;
	return 0;
}

int tokenizer_add_pretok(struct tokenizer *t, const struct pretok_step *step)
{
	struct pretok_step *v = xreallocarray(t->pretok, t->n_pretok + 1, sizeof(*v));

	if (!v)
		return -1;
	t->pretok = v;
	v[t->n_pretok++] = *step;
	return 0;
}

int tokenizer_add_dec(struct tokenizer *t, enum dec_kind kind, const char *a, size_t a_len,
		      const char *b, size_t b_len)
{
	struct dec_step *v = xreallocarray(t->dec, t->n_dec + 1, sizeof(*v));

	if (!v)
		return -1;
	t->dec = v;
	v = &t->dec[t->n_dec];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->a = memdup(a ? a : "", a_len);
	v->b = memdup(b ? b : "", b_len);
	if (!v->a || !v->b) {
		free(v->a);
		free(v->b);
		return -1;
	}
	v->a_len = a_len;
	v->b_len = b_len;
	t->n_dec++;
	return 0;
}

/* out = s with every a replaced by b (a non-empty). */
static int replace_all(struct bytebuf *out, const char *s, size_t len, const char *a,
		       size_t a_len, const char *b, size_t b_len)
{
	size_t i = 0, from = 0;

	out->n = 0;
	if (!a_len)
		return bytebuf_add(out, s, len);
	while (i + a_len <= len) {
		if (s[i] == a[0] && !memcmp(s + i, a, a_len)) {
			if (bytebuf_add(out, s + from, i - from) || bytebuf_add(out, b, b_len))
				return -1;
			i += a_len;
			from = i;
		} else {
			i++;
		}
	}
	return bytebuf_add(out, s + from, len - from);
}

/* GPT-2 alphabet back to bytes when every character maps; else unchanged
 * (added tokens written in plain text), as Hugging Face's decoder does. */
static int bytelevel_decode(struct bytebuf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	out->n = 0;
	if (bytebuf_reserve(out, len))
		return -1;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int k = utf8_decode(u + i, len - i, &cp);
		int b = k > 0 ? bytelevel_byte(cp) : -1;
		if (b < 0) {
			out->n = 0;
			return bytebuf_add(out, s, len);
		}
		out->p[out->n++] = (char)b;
		i += (size_t)k;
	}
	return 0;
}

/* Run one token's text through the decoder steps into *cur. */
static int decode_steps(const struct tokenizer *t, struct bytebuf *cur, struct bytebuf *next)
{
	for (size_t k = 0; k < t->n_dec && cur->n; k++) {
		const struct dec_step *d = &t->dec[k];
		struct bytebuf swap;
		int b;

		switch (d->kind) {
		case DEC_REPLACE:
			if (replace_all(next, cur->p, cur->n, d->a, d->a_len, d->b, d->b_len))
				return -1;
			break;
		case DEC_BYTEFALLBACK:
			b = byte_token_value(cur->p, cur->n);
			next->n = 0;
			if (b >= 0 ? bytebuf_add(next, &(char){ (char)b }, 1)
				   : bytebuf_add(next, cur->p, cur->n))
				return -1;
			break;
		case DEC_BYTELEVEL:
			if (bytelevel_decode(next, cur->p, cur->n))
				return -1;
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
	struct bytebuf cur = { 0 }, next = { 0 };
	int rc = ADA_OK;

	t->piece_off = xcalloc((size_t)t->vocab.n + 1, sizeof(*t->piece_off));
	if (!t->piece_off || bytebuf_reserve(&t->piece_text, 1))
		goto oom;
	for (int32_t id = 0; id < t->vocab.n; id++) {
		uint8_t type = t->vocab.type[id];
		size_t len;
		const char *s = vocab_text(&t->vocab, id, &len);

		cur.n = 0;
		if (type != TOKT_CONTROL && type != TOKT_UNKNOWN && type != TOKT_UNUSED &&
		    (bytebuf_add(&cur, s, len) || decode_steps(t, &cur, &next)))
			goto oom;
		if (bytebuf_add(&t->piece_text, cur.p, cur.n))
			goto oom;
		t->piece_off[id + 1] = t->piece_text.n;
		if (cur.n > t->max_piece)
			t->max_piece = cur.n;
	}
	goto out_free;
oom:
	rc = ada_fail(err, ADA_ENOMEM, "out of memory");
out_free:
	bytebuf_release(&cur);
	bytebuf_release(&next);
	return rc;
}

/* Does every token that text can become hold sp only in a leading run? */
static int space_only_leads(const struct tokenizer *t, const char *sp, size_t sp_len)
{
	for (int32_t id = 0; id < t->vocab.n; id++) {
		size_t len, i = 0;
		const char *s = vocab_text(&t->vocab, id, &len);

		if (t->vocab.type[id] != TOKT_NORMAL && t->vocab.type[id] != TOKT_USER)
			continue;
		while (i + sp_len <= len && !memcmp(s + i, sp, sp_len))
			i += sp_len;
		for (; i + sp_len <= len; i++)
			if (!memcmp(s + i, sp, sp_len))
				return 0;
	}
	return 1;
}

/* SentencePiece-style pipelines (no pre-tokenizer, or Metaspace without
 * split) hand whole segments to the merge loop. When no token contains a
 * space after other text, as SentencePiece trains them, no merge can cross
 * the start of a run of spaces, so cutting the text there changes nothing
 * but the heap sizes, which is what makes a megabyte fast. The vocabulary
 * is checked, not assumed. */
static int add_space_runs_split(struct tokenizer *t)
{
	struct pretok_step st = { .kind = PRETOK_SPACE_RUNS };
	const char *sp = " ";
	size_t sp_len = 1;

	if (t->ignore_merges)
		return 0;          /* whole-word lookups would see different words */
	for (size_t i = 0; i < t->n_pretok; i++) {
		if (t->pretok[i].kind != PRETOK_METASPACE || t->pretok[i].split)
			return 0;   /* already cut into words */
		sp = t->pretok[i].repl;
		sp_len = t->pretok[i].repl_len;
	}
	for (size_t i = 0; !t->n_pretok && i < t->n_norm; i++) {
		if (t->norm[i].kind == NORM_REPLACE && t->norm[i].a_len == 1 && t->norm[i].a[0] == ' ') {
			sp = t->norm[i].b;
			sp_len = t->norm[i].b_len;
		}
	}
	if (!sp_len || sp_len >= sizeof(st.repl) || !space_only_leads(t, sp, sp_len))
		return 0;
	memcpy(st.repl, sp, sp_len);
	st.repl_len = sp_len;
	return tokenizer_add_pretok(t, &st);
}

int tokenizer_finish(struct tokenizer *t, struct tokenizer **out, struct ada_err *err)
{
	int32_t *ids[] = { &t->unk, &t->bos, &t->eos, &t->pad };
	const char *names[] = { "unknown", "BOS", "EOS", "padding" };
	int rc;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (*ids[i] >= t->vocab.n) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: %s token id %d is outside the vocabulary (%d)",
				      t->source, names[i], *ids[i], t->vocab.n);
			goto out_free;
		}
	}
	special_set_finish(&t->specials);
	if (add_space_runs_split(t)) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	rc = tokenizer_build_pieces(t, err);
	if (rc)
		goto out_free;
	*out = t;
	return ADA_OK;
out_free:
	tokenizer_free(t);
	return rc;
}

/* ---- loading by content ------------------------------------------------- */

int tokenizer_load_gguf(const struct gguf *g, struct tokenizer **out, struct ada_err *err)
{
	struct tokenizer *t;
	char *model = NULL;
	int rc;

	*out = NULL;
	rc = gguf_get_str(g, "tokenizer.ggml.model", &model, err);
	if (rc)
		return rc;
	if (strcmp(model, "llama") && strcmp(model, "gpt2")) {
		rc = ada_fail(err, ADA_EUNSUPPORTED,
			      "%s: tokenizer.ggml.model '%s' is not supported (only 'llama' and 'gpt2')",
			      g->file.path, model);
		free(model);
		return rc;
	}
	t = tokenizer_alloc(strcmp(model, "llama") ? "gpt2" : "spm", g->file.path);
	if (!t) {
		free(model);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	t->add_bos = !strcmp(model, "llama");   /* llama.cpp's defaults */
	rc = gguf_vocab_read(g, t, err);
	if (!rc)
		rc = strcmp(model, "llama") ? bpe_setup_gguf(g, t, err) : spm_setup_gguf(g, t, err);
	free(model);
	if (rc) {
		tokenizer_free(t);
		return rc;
	}
	return tokenizer_finish(t, out, err);
}

int tokenizer_load(const char *path, int vocab_size, struct tokenizer **out, struct ada_err *err)
{
	struct mapped_file mf;
	struct gguf *g;
	size_t i = 0;
	int rc;

	*out = NULL;
	rc = mapped_file_open(path, &mf, err);
	if (rc)
		return rc;
	if (gguf_sniff(mf.data, mf.size)) {
		mapped_file_close(&mf);
		rc = gguf_open(path, &g, err);
		if (rc)
			return rc;
		rc = tokenizer_load_gguf(g, out, err);
		gguf_close(g);
		return rc;
	}
	if (mf.size >= 3 && !memcmp(mf.data, "\xef\xbb\xbf", 3))
		i = 3;                       /* a UTF-8 byte order mark */
	while (i < mf.size && (mf.data[i] == ' ' || mf.data[i] == '\t' || mf.data[i] == '\n' ||
			       mf.data[i] == '\r'))
		i++;
	if (i < mf.size && mf.data[i] == '{') {
		mapped_file_close(&mf);
		return tokenizer_load_hf(path, out, err);
	}
	mapped_file_close(&mf);
	return tokenizer_load_llama2c(path, vocab_size, out, err);
}

/* ---- encoding ----------------------------------------------------------- */

struct encode_state {
	const struct tokenizer *t;
	struct bytebuf a, b;            /* normalizer ping-pong */
	struct pretok_scratch pretok;
	struct merge_scratch *merge;
	struct ivec *out;
};

static void encode_state_release(struct encode_state *st)
{
	bytebuf_release(&st->a);
	bytebuf_release(&st->b);
	pretok_scratch_release(&st->pretok);
	merge_scratch_free(st->merge);
}

/* Normalize seg into st->a. */
static int normalize(const struct tokenizer *t, struct encode_state *st, const char *seg,
		     size_t len, int no_prefix)
{
	struct bytebuf swap;

	st->a.n = 0;
	if (bytebuf_add(&st->a, seg, len))
		return -1;
	for (size_t k = 0; k < t->n_norm; k++) {
		const struct norm_step *n = &t->norm[k];

		st->b.n = 0;
		switch (n->kind) {
		case NORM_PREPEND:
			if (!st->a.n || no_prefix)
				continue;
			if (bytebuf_add(&st->b, n->a, n->a_len) || bytebuf_add(&st->b, st->a.p, st->a.n))
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
		}
		swap = st->a;
		st->a = st->b;
		st->b = swap;
	}
	return 0;
}

static int merge_sink(void *arg, const char *w, size_t len, struct ada_err *err)
{
	struct encode_state *st = arg;

	return merge_word(st->t, w, len, &st->merge, st->out, err);
}

static int encode_segment(const struct tokenizer *t, struct encode_state *st, const char *seg,
			  size_t len, unsigned word_flags, struct ada_err *err)
{
	if (normalize(t, st, seg, len, !!(word_flags & WORD_NO_PREFIX)))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return pretok_run(t->pretok, t->n_pretok, &st->pretok, st->a.p, st->a.n, word_flags,
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
			if (pos == 0)
				wf = WORD_AT_START | (flags & TOK_NO_PREFIX_SPACE ? WORD_NO_PREFIX : 0);
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

/* ---- decoding ----------------------------------------------------------- */

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
	struct bytebuf b = { 0 };
	int32_t prev = -1;

	*out = NULL;
	if (out_len)
		*out_len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *p;

		if (ids[i] < 0 || ids[i] >= t->vocab.n) {
			bytebuf_release(&b);
			return ada_fail(err, ADA_EINVAL,
					"token id %d at position %zu is outside the vocabulary (%d)",
					ids[i], i, t->vocab.n);
		}
		p = piece(t, prev, ids[i], &len);
		if (bytebuf_add(&b, p, len))
			goto oom;
		prev = ids[i];
	}
	if (bytebuf_add(&b, "", 1))
		goto oom;
	*out = b.p;
	if (out_len)
		*out_len = b.n - 1;
	return ADA_OK;
oom:
	bytebuf_release(&b);
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

/* ---- accessors ---------------------------------------------------------- */

int tokenizer_vocab_size(const struct tokenizer *t)
{
	return t->vocab.n;
}

int32_t tokenizer_bos(const struct tokenizer *t)
{
	return t->bos;
}

int32_t tokenizer_eos(const struct tokenizer *t)
{
	return t->eos;
}

int32_t tokenizer_pad(const struct tokenizer *t)
{
	return t->pad;
}

int32_t tokenizer_unk(const struct tokenizer *t)
{
	return t->unk;
}

int tokenizer_wants_bos(const struct tokenizer *t)
{
	return t->add_bos && t->bos >= 0;
}

int tokenizer_wants_eos(const struct tokenizer *t)
{
	return t->add_eos && t->eos >= 0;
}

const char *tokenizer_token_text(const struct tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || id >= t->vocab.n)
		return NULL;
	return vocab_text(&t->vocab, id, len);
}

const char *tokenizer_kind(const struct tokenizer *t)
{
	return t->kind;
}
