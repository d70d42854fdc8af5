/*
 * wordpiece — BERT's WordPiece model and the two loaders that only know
 * the vocabulary: vocab.txt (one token per line) and GGUF with
 * tokenizer.ggml.model "bert" (llama.cpp's conversion).
 *
 * A word (after BERT's normalizer and pre-tokenizer) is cut greedily from
 * the left into the longest pieces in the vocabulary, the first spelled
 * as is and the others with the continuing prefix "##"; a word that cannot
 * be cut completely, or is longer than max_input_chars_per_word code
 * points, becomes one unknown token. This is Hugging Face's WordPiece, to
 * which the llama.cpp conformance vectors were made.
 *
 * llama.cpp's GGUF spells the same vocabulary differently: a word's first
 * piece carries U+2581 and continuations are bare ("##ing" -> "ing",
 * "the" -> U+2581 "the"; bracketed tokens such as [CLS] unchanged). Rather
 * than rewrite one vocabulary into the other, struct tokenizer records the
 * two spellings (wp_first, wp_next), so token texts stay as the file has
 * them and the ids of both agree.
 *
 * Neither vocab.txt nor GGUF describes the text pipeline. vocab.txt follows
 * a tokenizer_config.json beside it (do_lower_case, strip_accents,
 * tokenize_chinese_chars, the special token names) with BertTokenizer's
 * defaults (uncased); GGUF is taken as uncased, as llama.cpp always
 * lowercases BERT input.
 */
#include "tokenizer/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#include <jansson.h>

#include "format/gguf.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/utf8.h"

#define WP_MAX_CHARS 100        /* max_input_chars_per_word's default */

int wordpiece_word(const struct tokenizer *t, const char *w, size_t len, struct strbuf *key,
		   struct word_out *wo, struct ada_err *err)
{
	const unsigned char *u = (const unsigned char *)w;
	size_t n0 = wo->out->n, o0 = wo->offs ? wo->offs->n : 0, chars = 0, start = 0;

	if (!len)
		return ADA_OK;
	for (size_t i = 0; i < len; i++)
		chars += (u[i] & 0xc0) != 0x80;
	if (chars > t->wp_max_chars)
		goto unknown;
	while (start < len) {
		const char *pre = start ? t->wp_next : t->wp_first;
		size_t pre_len = start ? t->wp_next_len : t->wp_first_len, end = len;
		int32_t id = -1;

		/* No token is longer than wp_max_key: start below that. */
		if (pre_len + (end - start) > t->wp_max_key) {
			end = t->wp_max_key > pre_len ? start + (t->wp_max_key - pre_len) : start;
			while (end > start && (u[end] & 0xc0) == 0x80)
				end--;
		}
		key->n = 0;
		if (strbuf_add(key, pre, pre_len) || strbuf_add(key, w + start, end - start))
			goto oom;
		while (end > start) {
			id = vocab_find(&t->vocab, key->p, pre_len + (end - start));
			if (id >= 0)
				break;
			do
				end--;
			while (end > start && (u[end] & 0xc0) == 0x80);
		}
		if (id < 0) {
			wo->out->n = n0;     /* the whole word is unknown */
			if (wo->offs)
				wo->offs->n = o0;
			goto unknown;
		}
		if (word_out_push(wo, id, start, end - start))
			goto oom;
		start = end;
	}
	return ADA_OK;
unknown:
	if (word_out_push(wo, t->unk, 0, len))
		goto oom;
	return ADA_OK;
oom:
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

static int set_spelling(char *dst, size_t *dst_len, const char *s)
{
	size_t len = strlen(s);

	if (len >= 8)
		return -1;
	memcpy(dst, s, len + 1);
	*dst_len = len;
	return 0;
}

int wordpiece_init(struct tokenizer *t, const char *first, const char *next,
		   size_t max_chars, struct ada_err *err)
{
	if (set_spelling(t->wp_first, &t->wp_first_len, first) ||
	    set_spelling(t->wp_next, &t->wp_next_len, next))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "model.continuing_subword_prefix",
				      "%s: a WordPiece prefix of 8 bytes or more is not supported",
				      t->source);
	if (t->unk < 0)
		return ada_fail(err, ADA_EFORMAT,
				"%s: WordPiece needs an unknown token and the vocabulary has none",
				t->source);
	t->algo = TOK_ALGO_WORDPIECE;
	t->wp_max_chars = max_chars;
	t->wp_max_key = 0;
	for (int32_t id = 0; id < t->vocab.n; id++) {
		size_t len;

		vocab_text(&t->vocab, id, &len);
		if (len > t->wp_max_key)
			t->wp_max_key = len;
	}
	return ADA_OK;
}

int wordpiece_bert_pipeline(struct tokenizer *t, int lowercase, int strip_accents,
			    int chinese)
{
	struct pretok_step bert = { .kind = PRETOK_BERT };

	if (tokenizer_add_norm(t, NORM_BERT_CLEAN, NULL, 0, NULL, 0) ||
	    (chinese && tokenizer_add_norm(t, NORM_BERT_CHINESE, NULL, 0, NULL, 0)) ||
	    (strip_accents && (tokenizer_add_norm(t, NORM_NFD, NULL, 0, NULL, 0) ||
			       tokenizer_add_norm(t, NORM_STRIP_ACCENTS, NULL, 0, NULL, 0))) ||
	    (lowercase && tokenizer_add_norm(t, NORM_LOWERCASE, NULL, 0, NULL, 0)))
		return -1;
	return tokenizer_add_pretok(t, &bert);
}

/* ---- GGUF "bert" ---------------------------------------------------------- */

/* An optional token id under one of two keys; *id left alone when absent. */
static int gguf_id(const struct gguf *g, const char *key, const char *alt, int32_t *id,
		   struct ada_err *err)
{
	uint64_t v;
	int rc = gguf_get_u64(g, key, &v, err);

	if (rc == ADA_ENOTFOUND && alt) {
		key = alt;
		rc = gguf_get_u64(g, key, &v, err);
	}
	if (rc == ADA_ENOTFOUND) {
		ada_err_clear(err);
		return ADA_OK;
	}
	if (rc)
		return rc;
	if (v > INT32_MAX)
		return ada_fail(err, ADA_EFORMAT, "%s: metadata '%s' = %llu is not a token id",
				g->file.path, key, (unsigned long long)v);
	*id = (int32_t)v;
	return ADA_OK;
}

int wordpiece_setup_gguf(const struct gguf *g, struct tokenizer *t, struct ada_err *err)
{
	int32_t cls = t->bos, sep = t->eos;
	int rc;

	/* llama.cpp spells the key "seperator". */
	if ((rc = gguf_id(g, "tokenizer.ggml.cls_token_id", NULL, &cls, err)) ||
	    (rc = gguf_id(g, "tokenizer.ggml.seperator_token_id",
			  "tokenizer.ggml.separator_token_id", &sep, err)))
		return rc;
	if (cls >= t->vocab.n || sep >= t->vocab.n)
		return ada_fail(err, ADA_EFORMAT, "%s: [CLS] (%d) or [SEP] (%d) is outside the vocabulary (%d)",
				g->file.path, cls, sep, t->vocab.n);
	if (t->bos < 0)
		t->bos = cls;
	if (t->eos < 0)
		t->eos = sep;
	if (cls >= 0 && sep >= 0)
		pair_template_bert(&t->tmpl, cls, sep);
	rc = wordpiece_init(t, "\xe2\x96\x81", "", WP_MAX_CHARS, err);
	if (rc)
		return rc;
	if (wordpiece_bert_pipeline(t, 1, 1, 1) ||
	    tokenizer_add_dec(t, DEC_REPLACE, "\xe2\x96\x81", 3, " ", 1))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	t->strip_first_space = 1;
	return ADA_OK;
}

/* ---- vocab.txt -------------------------------------------------------------- */

struct vocab_txt_config {
	int lowercase, strip_accents, chinese;
	/* special token names: unk, cls, sep, pad, mask */
	char *names[5];
};

static const char *const default_names[5] = { "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]" };
static const char *const name_keys[5] = { "unk_token", "cls_token", "sep_token", "pad_token",
					  "mask_token" };

static void vocab_txt_config_release(struct vocab_txt_config *c)
{
	for (int i = 0; i < 5; i++)
		free(c->names[i]);
}

static int config_bool(const char *path, json_t *root, const char *key, int *out,
		       struct ada_err *err)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v))
		return ADA_OK;
	if (!json_is_boolean(v))
		return ada_fail_param(err, ADA_EFORMAT, key, "%s: '%s' must be true or false", path,
				      key);
	*out = json_is_true(v);
	return ADA_OK;
}

/* BertTokenizer's settings: its defaults, then tokenizer_config.json. */
static int read_vocab_txt_config(const char *vocab_path, struct vocab_txt_config *c,
				 struct ada_err *err)
{
	char *path = tokenizer_sibling(vocab_path, "tokenizer_config.json");
	json_error_t jerr;
	json_t *root = NULL, *v;
	int strip = -1, rc = ADA_OK;

	*c = (struct vocab_txt_config){ .lowercase = 1, .chinese = 1 };
	for (int i = 0; i < 5; i++) {
		c->names[i] = xstrdup(default_names[i]);
		if (!c->names[i])
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if (!path)
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	if (rc || !file_exists(path))
		goto out;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: line %d: %s", path, jerr.line,
			      root ? "not a JSON object" : jerr.text);
		goto out;
	}
	if ((rc = config_bool(path, root, "do_lower_case", &c->lowercase, err)) ||
	    (rc = config_bool(path, root, "strip_accents", &strip, err)) ||
	    (rc = config_bool(path, root, "tokenize_chinese_chars", &c->chinese, err)))
		goto out;
	for (int i = 0; i < 5; i++) {
		v = json_object_get(root, name_keys[i]);
		if (json_is_object(v))
			v = json_object_get(v, "content");
		if (!v || json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			rc = ada_fail_param(err, ADA_EFORMAT, name_keys[i], "%s: '%s' is not a string",
					    path, name_keys[i]);
			goto out;
		}
		free(c->names[i]);
		c->names[i] = xstrdup(json_string_value(v));
		if (!c->names[i]) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	/* strip_accents null (or absent) follows lowercase, as in BERT. */
	c->strip_accents = strip < 0 ? c->lowercase : strip;
	json_decref(root);
	free(path);
	return rc;
}

/* Lines end at "\n", "\r\n" or "\r" (Python's universal newlines, which
 * BertTokenizer reads the file with); a last line without an end counts. */
static size_t line_end(const char *s, size_t len, size_t i, size_t *next)
{
	size_t e = i;

	while (e < len && s[e] != '\n' && s[e] != '\r')
		e++;
	*next = e < len && s[e] == '\r' && e + 1 < len && s[e + 1] == '\n' ? e + 2 :
		e < len ? e + 1 : e;
	return e;
}

static int fill_vocab_txt(struct tokenizer *t, const char *path, const char *s, size_t len,
			  struct ada_err *err)
{
	size_t n = 0, i, next, bad = utf8_validate(s, len);

	if (bad != len) {
		size_t line = 1;
		for (i = 0; i < bad; i++)
			line += s[i] == '\n';
		return ada_fail(err, ADA_EFORMAT, "%s: line %zu is not valid UTF-8", path, line);
	}
	for (i = 0; i < len; i = next, n++)
		line_end(s, len, i, &next);
	if (!n || n > (1u << 24))
		return ada_fail(err, ADA_EFORMAT, "%s: %zu lines is not a vocabulary", path, n);
	if (vocab_init(&t->vocab, (int32_t)n))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (i = 0; i < len; i = next) {
		size_t e = line_end(s, len, i, &next);
		if (vocab_add(&t->vocab, s + i, e - i, 0.0f, TOKT_NORMAL))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	return ADA_OK;
}

/* The id of the last line spelled name (a later duplicate wins), or -1. */
static int32_t find_line(const struct vocab *v, const char *name)
{
	size_t want = strlen(name);

	for (int32_t id = v->n - 1; id >= 0; id--) {
		size_t len;
		const char *s = vocab_text(v, id, &len);
		if (len == want && !memcmp(s, name, len))
			return id;
	}
	return -1;
}

int tokenizer_load_wordpiece(const char *path, struct tokenizer **out, struct ada_err *err)
{
	struct vocab_txt_config c;
	struct tokenizer *t;
	int32_t ids[5];
	char *text = NULL;
	size_t len;
	int rc;

	*out = NULL;
	rc = read_vocab_txt_config(path, &c, err);
	if (rc)
		goto out_config;
	rc = file_read_all(path, &text, &len, err);
	if (rc)
		goto out_config;
	t = tokenizer_alloc("wordpiece", path);
	if (!t) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_text;
	}
	rc = fill_vocab_txt(t, path, text, len, err);
	if (rc)
		goto out_free;
	/* The named special tokens are control tokens: never produced from
	 * text, matched only with TOK_PARSE_SPECIAL. */
	for (int i = 0; i < 5; i++) {
		ids[i] = find_line(&t->vocab, c.names[i]);
		if (ids[i] < 0)
			continue;
		t->vocab.type[ids[i]] = TOKT_CONTROL;
		if (special_set_add(&t->specials, c.names[i], strlen(c.names[i]), ids[i],
				    SPECIAL_CONTROL)) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
	}
	if (ids[0] < 0) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: the unknown token '%s' is not in the vocabulary",
			      path, c.names[0]);
		goto out_free;
	}
	t->unk = ids[0];
	t->bos = ids[1];
	t->eos = ids[2];
	t->pad = ids[3];
	t->add_bos = t->add_eos = 1;
	if (ids[1] >= 0 && ids[2] >= 0)
		pair_template_bert(&t->tmpl, ids[1], ids[2]);
	if ((rc = tokenizer_index_vocab(t, err)) ||
	    (rc = wordpiece_init(t, "", "##", WP_MAX_CHARS, err)))
		goto out_free;
	if (wordpiece_bert_pipeline(t, c.lowercase, c.strip_accents, c.chinese) ||
	    tokenizer_add_dec(t, DEC_WORDPIECE, "##", 2, NULL, 0)) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	t->strip_first_space = 1;
	free(text);
	vocab_txt_config_release(&c);
	return tokenizer_finish(t, out, err);
out_free:
	tokenizer_free(t);
out_text:
	free(text);
out_config:
	vocab_txt_config_release(&c);
	return rc;
}
