/*
 * tokenizer — struct tokenizer's lifecycle: loading by content, the steps
 * loaders assemble, the checks every loader ends with, and the accessors.
 * The loaders (spm.c, bpe.c, wordpiece.c, hf_json.c) describe a tokenizer
 * as settings; encode.c, decode.c and pair.c run them.
 */
#include "tokenizer/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tokenizer/chat_template.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/utf8.h"

/* struct ivec lives in util/ivec.c. */

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
	strbuf_release(&t->piece_text);
	free(t->piece_off);
	free(t->chat_template);
	charsmap_release(&t->charsmap);
	free(t->source);
	free(t);
}

char *tokenizer_sibling(const char *path, const char *name)
{
	char *dir = xstrdup(path), *slash, *out;

	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	out = path_join(!slash ? "." : slash == dir ? "/" : dir, name);
	free(dir);
	return out;
}

int tokenizer_index_vocab(struct tokenizer *t, struct ada_err *err)
{
	for (int32_t id = 0; id < t->vocab.n; id++) {
		size_t len;
		const char *s = vocab_text(&t->vocab, id, &len);
		int b = vocab_byte_value(s, len);
		char canonical[8];

		/* Byte fallback looks tokens up by their canonical spelling,
		 * <0xAB> with capital hex digits. */
		if (b < 0 || t->byte_tok[b] >= 0)
			continue;
		snprintf(canonical, sizeof(canonical), "<0x%02X>", b);
		if (!memcmp(s, canonical, 6))
			t->byte_tok[b] = id;
	}
	if (vocab_index(&t->vocab))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

/* Owned copies of a step's two strings (NULL stands for ""). */
static int dup_strings(char **a, size_t *a_len, const char *sa, size_t la,
		       char **b, size_t *b_len, const char *sb, size_t lb)
{
	*a = malloc(la + 1);
	*b = malloc(lb + 1);
	if (!*a || !*b) {
		free(*a);
		free(*b);
		*a = *b = NULL;
		return -1;
	}
	if (la)
		memcpy(*a, sa, la);
	if (lb)
		memcpy(*b, sb, lb);
	(*a)[la] = (*b)[lb] = '\0';
	*a_len = la;
	*b_len = lb;
	return 0;
}

int tokenizer_add_norm(struct tokenizer *t, enum norm_kind kind, const char *a, size_t a_len,
		       const char *b, size_t b_len)
{
	struct norm_step *v = xreallocarray(t->norm, t->n_norm + 1, sizeof(*v));

	if (!v)
		return -1;
	t->norm = v;
	v = &t->norm[t->n_norm];
	v->kind = kind;
	if (dup_strings(&v->a, &v->a_len, a, a_len, &v->b, &v->b_len, b, b_len))
		return -1;
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
	v->kind = kind;
	if (dup_strings(&v->a, &v->a_len, a, a_len, &v->b, &v->b_len, b, b_len))
		return -1;
	t->n_dec++;
	return 0;
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

	if (t->ignore_merges || t->algo == TOK_ALGO_WORDPIECE)
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
	/* The space must be a token of its own: spelled in byte tokens, a
	 * merge of those could cross the cut unseen by the check. */
	if (!sp_len || sp_len >= sizeof(st.repl) || vocab_find(&t->vocab, sp, sp_len) < 0 ||
	    !space_only_leads(t, sp, sp_len))
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
	rc = pair_template_check(t, err);
	if (rc)
		goto out_free;
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
	if (strcmp(model, "llama") && strcmp(model, "gpt2") && strcmp(model, "bert")) {
		rc = ada_fail(err, ADA_EUNSUPPORTED,
			      "%s: tokenizer.ggml.model '%s' is not supported ('llama', 'gpt2' and 'bert' are)",
			      g->file.path, model);
		free(model);
		return rc;
	}
	t = tokenizer_alloc(!strcmp(model, "llama") ? "spm" : !strcmp(model, "gpt2") ? "gpt2" :
			    "wordpiece", g->file.path);
	if (!t) {
		free(model);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	/* llama.cpp's defaults: BOS for SentencePiece; [CLS] ... [SEP] for BERT. */
	t->add_bos = strcmp(model, "gpt2") != 0;
	t->add_eos = !strcmp(model, "bert");
	rc = gguf_vocab_read(g, t, err);
	if (!rc && !strcmp(model, "llama"))
		rc = spm_setup_gguf(g, t, err);
	else if (!rc && !strcmp(model, "gpt2"))
		rc = bpe_setup_gguf(g, t, err);
	else if (!rc)
		rc = wordpiece_setup_gguf(g, t, err);
	if (!rc)
		rc = chat_template_read_gguf(g, &t->chat_template, &t->chat_template_len, err);
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
	if (spm_sniff(mf.data, mf.size)) {
		mapped_file_close(&mf);
		return tokenizer_load_spm(path, out, err);
	}
	/* A llama2.c tokenizer.bin starts with a little-endian int32 (zero
	 * bytes); a vocab.txt is UTF-8 text without them. */
	if (mf.size && !memchr(mf.data, 0, mf.size) &&
	    utf8_validate((const char *)mf.data, mf.size) == mf.size) {
		mapped_file_close(&mf);
		return tokenizer_load_wordpiece(path, out, err);
	}
	mapped_file_close(&mf);
	return tokenizer_load_llama2c(path, vocab_size, out, err);
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

const char *tokenizer_chat_template(const struct tokenizer *t, size_t *len)
{
	if (len)
		*len = t->chat_template_len;
	return t->chat_template;
}

int tokenizer_special_match(const struct tokenizer *t, const char *text, size_t len,
			    size_t from, size_t *at, size_t *mlen, int32_t *id)
{
	return special_set_next(&t->specials, text, len, from, TOK_PARSE_SPECIAL, at, mlen, id);
}
