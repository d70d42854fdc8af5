/*
 * hf_json — Hugging Face tokenizer.json (model.type "BPE" or "WordPiece").
 *
 * A tokenizer.json is a pipeline of named components; we map each one we
 * support onto struct tokenizer's settings and refuse every other one with
 * an error naming it, rather than tokenize differently from the reference:
 *
 *   normalizer     null, Sequence, Prepend, Replace (String pattern, or the
 *                  Regex " {2,}" SentencePiece converters write), NFC,
 *                  NFD, Lowercase, StripAccents, BertNormalizer, Strip,
 *                  Precompiled (SentencePiece's charsmap, charsmap.c)
 *   pre_tokenizer  null, Sequence, Metaspace, ByteLevel, Split with the
 *                  GPT-2, Llama 3 or Qwen2 regex (behavior Isolated),
 *                  BertPreTokenizer, WhitespaceSplit
 *   model          BPE: vocab, merges ("a b" or ["a", "b"]), byte_fallback,
 *                  ignore_merges, unk_token, fuse_unk (a model without
 *                  "type" is BPE, as in older files);
 *                  WordPiece: vocab, unk_token, continuing_subword_prefix,
 *                  max_input_chars_per_word;
 *                  Unigram: vocab ([piece, score] by id), unk_id,
 *                  byte_fallback (unigram.c)
 *   decoder        null, Sequence, Replace, ByteFallback, Fuse, Strip
 *                  (leading spaces), Metaspace, ByteLevel, WordPiece
 *   post_processor null, Sequence, ByteLevel (offsets only), TemplateProcessing,
 *                  BertProcessing, RobertaProcessing
 *   added_tokens   matched verbatim before anything else; "special" ones are
 *                  control tokens (TOK_PARSE_SPECIAL), the rest always match;
 *                  lstrip/rstrip take the white space beside a match
 *
 * tokenizer.json does not say which token is BOS or EOS; a
 * tokenizer_config.json beside it does, and without one the post-processor
 * and the customary names decide. The post-processor also gives encoder
 * tokenizers their framing of one text or a pair (pair.c).
 */
#include "tokenizer/internal.h"
#include "tokenizer/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"

#define MAX_VOCAB (1 << 24)

/* The Split regexes we implement (pretok.c), as tokenizer.json spells them. */
static const struct {
	const char *regex;
	enum pretok_kind kind;
} known_splits[] = {
	{ "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
	  PRETOK_SPLIT_GPT2 },
	{ "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
	  " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	  PRETOK_SPLIT_LLAMA3 },
	{ "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
	  " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	  PRETOK_SPLIT_QWEN2 },
};

struct hf {
	const char *path;
	struct tokenizer *t;
	struct ada_err *err;
};

static const char *type_of(json_t *obj)
{
	const char *s = json_string_value(json_object_get(obj, "type"));

	return s ? s : "";
}

/* A boolean member; absent or null gives def. */
static int get_bool(struct hf *h, json_t *obj, const char *key, const char *where, int def,
		    int *out)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		*out = def;
		return ADA_OK;
	}
	if (!json_is_boolean(v))
		return ada_fail_param(h->err, ADA_EFORMAT, key, "%s: %s.%s is not a boolean",
				      h->path, where, key);
	*out = json_is_true(v);
	return ADA_OK;
}

/* Any token spelled s (control tokens too), or -1. */
static int32_t find_any(const struct tokenizer *t, const char *s, size_t len)
{
	int32_t id = vocab_find(&t->vocab, s, len);

	for (int32_t i = 0; id < 0 && i < t->vocab.n; i++) {
		size_t l;
		const char *txt = vocab_text(&t->vocab, i, &l);
		if (l == len && !memcmp(txt, s, len))
			id = i;
	}
	return id;
}

/* The list of a Sequence component (normalizers, pretokenizers, decoders). */
static int sequence_items(struct hf *h, json_t *obj, const char *key, const char *where,
			  json_t **items)
{
	*items = json_object_get(obj, key);
	if (!json_is_array(*items))
		return ada_fail_param(h->err, ADA_EFORMAT, where, "%s: %s Sequence has no '%s' list",
				      h->path, where, key);
	return ADA_OK;
}

/* ---- vocabulary and added tokens ------------------------------------------- */

struct slot {
	const char *s;
	size_t len;
	uint8_t type;           /* 0: no token has this id */
	unsigned strip;         /* SPECIAL_LSTRIP / SPECIAL_RSTRIP of an added token */
};

static int fill_added(struct hf *h, json_t *added, struct slot *slots)
{
	size_t i;
	json_t *a;

	json_array_foreach(added, i, a) {
		json_int_t id = json_integer_value(json_object_get(a, "id"));
		json_t *content = json_object_get(a, "content");
		int special = 0, single_word = 0, lstrip = 0, rstrip = 0, rc;

		if ((rc = get_bool(h, a, "single_word", "added_tokens[]", 0, &single_word)) ||
		    (rc = get_bool(h, a, "lstrip", "added_tokens[]", 0, &lstrip)) ||
		    (rc = get_bool(h, a, "rstrip", "added_tokens[]", 0, &rstrip)) ||
		    (rc = get_bool(h, a, "special", "added_tokens[]", 0, &special)))
			return rc;
		if (single_word)
			return ada_fail_param(h->err, ADA_EUNSUPPORTED, "added_tokens",
					      "%s: added token '%s': single_word is not supported",
					      h->path, json_string_value(content));
		slots[id] = (struct slot){ json_string_value(content), json_string_length(content),
					   special ? TOKT_CONTROL : TOKT_USER,
					   (lstrip ? SPECIAL_LSTRIP : 0u) |
					   (rstrip ? SPECIAL_RSTRIP : 0u) };
	}
	return ADA_OK;
}

/* Unigram's vocab: [[piece, score], ...] in id order. */
static int unigram_slots(struct hf *h, json_t *vocab, struct slot **slots, float **scores,
			 json_int_t *max_id)
{
	json_t *v;
	size_t i;

	*slots = NULL;
	*scores = NULL;
	if (!json_is_array(vocab) || !json_array_size(vocab) || json_array_size(vocab) > MAX_VOCAB)
		return ada_fail_param(h->err, ADA_EFORMAT, "model.vocab",
				      "%s: a Unigram model.vocab must be a non-empty list of [piece, score]",
				      h->path);
	if (json_array_size(vocab) - 1 > (size_t)*max_id)
		*max_id = (json_int_t)json_array_size(vocab) - 1;
	*slots = xcalloc((size_t)*max_id + 1, sizeof(**slots));
	*scores = xcalloc((size_t)*max_id + 1, sizeof(**scores));
	if (!*slots || !*scores)
		return ada_fail(h->err, ADA_ENOMEM, "out of memory");
	json_array_foreach(vocab, i, v) {
		json_t *piece = json_array_get(v, 0), *score = json_array_get(v, 1);

		if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(piece) ||
		    !json_is_number(score))
			return ada_fail_param(h->err, ADA_EFORMAT, "model.vocab",
					      "%s: model.vocab[%zu] is not [piece, score]", h->path, i);
		(*slots)[i] = (struct slot){ json_string_value(piece), json_string_length(piece),
					     TOKT_NORMAL, 0 };
		(*scores)[i] = (float)json_number_value(score);
	}
	return ADA_OK;
}

static int build_vocab(struct hf *h, json_t *model, json_t *added)
{
	json_t *vocab = json_object_get(model, "vocab"), *v, *a;
	const int unigram = !strcmp(type_of(model), "Unigram");
	float *scores = NULL;
	struct tokenizer *t = h->t;
	json_int_t max_id = -1;
	struct slot *slots;
	const char *key;
	size_t i, key_len;
	int rc;

	if (!unigram && (!json_is_object(vocab) || !json_object_size(vocab)))
		return ada_fail_param(h->err, ADA_EFORMAT, "model.vocab",
				      "%s: model.vocab is missing or empty", h->path);
	json_object_keylen_foreach(vocab, key, key_len, v) {
		json_int_t id = json_integer_value(v);
		if (!json_is_integer(v) || id < 0 || id >= MAX_VOCAB)
			return ada_fail_param(h->err, ADA_EFORMAT, "model.vocab",
					      "%s: model.vocab['%s'] is not a token id", h->path, key);
		if (id > max_id)
			max_id = id;
	}
	if (added && !json_is_array(added))
		return ada_fail_param(h->err, ADA_EFORMAT, "added_tokens",
				      "%s: added_tokens is not an array", h->path);
	json_array_foreach(added, i, a) {
		json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) >= MAX_VOCAB || !json_is_string(content) ||
		    !json_string_length(content))
			return ada_fail_param(h->err, ADA_EFORMAT, "added_tokens",
					      "%s: added_tokens[%zu] needs an id and a non-empty content",
					      h->path, i);
		if (json_integer_value(id) > max_id)
			max_id = json_integer_value(id);
	}

	if (unigram) {
		rc = unigram_slots(h, vocab, &slots, &scores, &max_id);
		if (rc)
			goto out_free;
	} else {
		slots = xcalloc((size_t)max_id + 1, sizeof(*slots));
	}
	if (!slots)
		return ada_fail(h->err, ADA_ENOMEM, "out of memory");
	json_object_keylen_foreach(vocab, key, key_len, v) {
		json_int_t id = json_integer_value(v);
		if (slots[id].type) {
			rc = ada_fail_param(h->err, ADA_EFORMAT, "model.vocab",
					    "%s: model.vocab gives id %lld to both '%s' and '%.*s'",
					    h->path, (long long)id, key, (int)slots[id].len, slots[id].s);
			goto out_free;
		}
		slots[id] = (struct slot){ key, key_len, TOKT_NORMAL, 0 };
	}
	rc = fill_added(h, added, slots);
	if (rc)
		goto out_free;
	if (vocab_init(&t->vocab, (int32_t)max_id + 1)) {
		rc = ada_fail(h->err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	for (json_int_t id = 0; id <= max_id; id++) {
		struct slot *s = &slots[id];
		uint8_t type = s->type ? s->type : TOKT_UNUSED;

		/* Unigram byte fallback: <0xAB> pieces stand for bytes only */
		if (unigram && type == TOKT_NORMAL && vocab_byte_value(s->s, s->len) >= 0)
			type = TOKT_BYTE;
		if (vocab_add(&t->vocab, s->type ? s->s : "", s->type ? s->len : 0,
			      scores ? scores[id] : 0.0f, type)) {
			rc = ada_fail(h->err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
	}
	rc = tokenizer_index_vocab(t, h->err);
	if (rc)
		goto out_free;
	json_array_foreach(added, i, a) {
		json_int_t id = json_integer_value(json_object_get(a, "id"));
		json_t *content = json_object_get(a, "content");
		if (special_set_add(&t->specials, json_string_value(content),
				    json_string_length(content), (int32_t)id,
				    (slots[id].type == TOKT_CONTROL ? SPECIAL_CONTROL : 0u) |
				    slots[id].strip)) {
			rc = ada_fail(h->err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
	}
out_free:
	free(slots);
	free(scores);
	return rc;
}

/* ---- model: BPE ------------------------------------------------------------ */

/* One merge as its two parts: "a b" (split at the only space) or ["a", "b"]. */
static int merge_parts(struct hf *h, json_t *m, size_t i, const char **a, size_t *a_len,
		       const char **b, size_t *b_len)
{
	if (json_is_string(m)) {
		const char *s = json_string_value(m);
		size_t len = json_string_length(m);
		const char *sep = memchr(s, ' ', len);
		if (sep && sep > s && (size_t)(sep - s) + 1 < len &&
		    !memchr(sep + 1, ' ', len - (size_t)(sep - s) - 1)) {
			*a = s;
			*a_len = (size_t)(sep - s);
			*b = sep + 1;
			*b_len = len - *a_len - 1;
			return ADA_OK;
		}
	} else if (json_is_array(m) && json_array_size(m) == 2 &&
		   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
		*a = json_string_value(json_array_get(m, 0));
		*a_len = json_string_length(json_array_get(m, 0));
		*b = json_string_value(json_array_get(m, 1));
		*b_len = json_string_length(json_array_get(m, 1));
		return ADA_OK;
	}
	return ada_fail_param(h->err, ADA_EFORMAT, "model.merges",
			      "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", h->path, i);
}

static int load_merges(struct hf *h, json_t *merges)
{
	struct tokenizer *t = h->t;
	struct strbuf joined = { 0 };
	size_t i;
	json_t *m;
	int rc = ADA_OK;

	if (!json_is_array(merges))
		return ada_fail_param(h->err, ADA_EFORMAT, "model.merges",
				      "%s: model.merges is missing or not an array", h->path);
	if (json_array_size(merges) > UINT32_MAX || merge_table_init(&t->merges, json_array_size(merges)))
		return ada_fail(h->err, ADA_ENOMEM, "out of memory");
	json_array_foreach(merges, i, m) {
		const char *a = NULL, *b = NULL;
		size_t a_len = 0, b_len = 0;
		int32_t ia, ib, iab;

		rc = merge_parts(h, m, i, &a, &a_len, &b, &b_len);
		if (rc)
			break;
		joined.n = 0;
		if (strbuf_add(&joined, a, a_len) || strbuf_add(&joined, b, b_len)) {
			rc = ada_fail(h->err, ADA_ENOMEM, "out of memory");
			break;
		}
		ia = vocab_find(&t->vocab, a, a_len);
		ib = vocab_find(&t->vocab, b, b_len);
		iab = vocab_find(&t->vocab, joined.p, joined.n);
		if (ia < 0 || ib < 0 || iab < 0) {
			/* Hugging Face refuses such a file too. */
			rc = ada_fail_param(h->err, ADA_EFORMAT, "model.merges",
					    "%s: model.merges[%zu] ('%.*s' + '%.*s') names a token "
					    "not in model.vocab", h->path, i, (int)a_len, a,
					    (int)b_len, b);
			break;
		}
		merge_table_add(&t->merges, ia, ib, (uint32_t)i, iab);
	}
	strbuf_release(&joined);
	return rc;
}

static int empty_or_null(json_t *v)
{
	return !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v));
}

/* ---- model: WordPiece --------------------------------------------------------- */

static int load_wordpiece(struct hf *h, json_t *model)
{
	struct tokenizer *t = h->t;
	json_t *unk = json_object_get(model, "unk_token");
	json_t *prefix = json_object_get(model, "continuing_subword_prefix");
	json_t *max_chars = json_object_get(model, "max_input_chars_per_word");
	json_int_t max = 100;

	snprintf(t->kind, sizeof(t->kind), "wordpiece");
	if (!json_is_string(unk))
		return ada_fail_param(h->err, ADA_EFORMAT, "model.unk_token",
				      "%s: a WordPiece model needs an unk_token", h->path);
	t->unk = find_any(t, json_string_value(unk), json_string_length(unk));
	if (t->unk < 0)
		return ada_fail_param(h->err, ADA_EFORMAT, "model.unk_token",
				      "%s: model.unk_token '%s' is not in the vocabulary", h->path,
				      json_string_value(unk));
	if (prefix && !json_is_null(prefix) && !json_is_string(prefix))
		return ada_fail_param(h->err, ADA_EFORMAT, "model.continuing_subword_prefix",
				      "%s: model.continuing_subword_prefix is not a string", h->path);
	if (max_chars && !json_is_null(max_chars)) {
		max = json_integer_value(max_chars);
		if (!json_is_integer(max_chars) || max < 0)
			return ada_fail_param(h->err, ADA_EFORMAT, "model.max_input_chars_per_word",
					      "%s: model.max_input_chars_per_word is not a count",
					      h->path);
	}
	return wordpiece_init(t, "", json_is_string(prefix) ? json_string_value(prefix) : "##",
			      (size_t)max, h->err);
}

/* Unigram: unk_id, byte_fallback; scores are in the vocabulary already. */
static int load_unigram(struct hf *h, json_t *model)
{
	struct tokenizer *t = h->t;
	json_t *unk = json_object_get(model, "unk_id");
	int rc;

	snprintf(t->kind, sizeof(t->kind), "unigram");
	if ((rc = get_bool(h, model, "byte_fallback", "model", 0, &t->byte_fallback)))
		return rc;
	if (unk && !json_is_null(unk)) {
		if (!json_is_integer(unk) || json_integer_value(unk) < 0 ||
		    json_integer_value(unk) >= t->vocab.n)
			return ada_fail_param(h->err, ADA_EFORMAT, "model.unk_id",
					      "%s: model.unk_id is not a token id", h->path);
		t->unk = (int32_t)json_integer_value(unk);
	}
	if (!t->byte_fallback)
		for (int b = 0; b < 256; b++)
			t->byte_tok[b] = -1;
	t->fuse_unk = 1;
	unigram_init(t);
	return ADA_OK;
}

static int load_model(struct hf *h, json_t *model)
{
	struct tokenizer *t = h->t;
	const char *type = type_of(model);
	json_t *unk = json_object_get(model, "unk_token"), *dropout;
	int rc;

	if (!strcmp(type, "WordPiece"))
		return load_wordpiece(h, model);
	if (!strcmp(type, "Unigram"))
		return load_unigram(h, model);
	if (*type && strcmp(type, "BPE"))
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, "model.type",
				      "%s: model type '%s' is not supported (BPE, WordPiece and Unigram are)",
				      h->path, type);
	dropout = json_object_get(model, "dropout");
	if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, "model.dropout",
				      "%s: BPE dropout is not supported", h->path);
	if (!empty_or_null(json_object_get(model, "continuing_subword_prefix")) ||
	    !empty_or_null(json_object_get(model, "end_of_word_suffix")))
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, "model",
				      "%s: BPE continuing_subword_prefix / end_of_word_suffix "
				      "are not supported", h->path);
	if ((rc = get_bool(h, model, "byte_fallback", "model", 0, &t->byte_fallback)) ||
	    (rc = get_bool(h, model, "ignore_merges", "model", 0, &t->ignore_merges)) ||
	    (rc = get_bool(h, model, "fuse_unk", "model", 0, &t->fuse_unk)))
		return rc;
	if (json_is_string(unk)) {
		t->unk = find_any(t, json_string_value(unk), json_string_length(unk));
		if (t->unk < 0)
			return ada_fail_param(h->err, ADA_EFORMAT, "model.unk_token",
					      "%s: model.unk_token '%s' is not in the vocabulary",
					      h->path, json_string_value(unk));
	}
	t->algo = TOK_ALGO_RANKED;
	return load_merges(h, json_object_get(model, "merges"));
}

/* ---- normalizer ------------------------------------------------------------- */

/* {"String": s} -> s; a Regex pattern is refused. */
static int string_pattern(struct hf *h, json_t *obj, const char *where, const char **s,
			  size_t *len)
{
	json_t *pat = json_object_get(obj, "pattern");
	json_t *str = json_object_get(pat, "String");

	if (!json_is_string(str) || !json_string_length(str))
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, where,
				      "%s: %s: only a non-empty String pattern is supported",
				      h->path, where);
	*s = json_string_value(str);
	*len = json_string_length(str);
	return ADA_OK;
}

static int load_normalizer(struct hf *h, json_t *n)
{
	const char *type = type_of(n), *a = NULL;
	json_t *content, *item;
	size_t a_len = 0, i;
	int rc;

	if (!n || json_is_null(n))
		return ADA_OK;
	if (!strcmp(type, "Sequence")) {
		json_t *items;
		if ((rc = sequence_items(h, n, "normalizers", "normalizer", &items)))
			return rc;
		json_array_foreach(items, i, item)
			if ((rc = load_normalizer(h, item)))
				return rc;
		return ADA_OK;
	}
	if (!strcmp(type, "Prepend")) {
		content = json_object_get(n, "prepend");
		if (!json_is_string(content))
			return ada_fail_param(h->err, ADA_EFORMAT, "normalizer",
					      "%s: normalizer Prepend has no 'prepend' string", h->path);
		if (tokenizer_add_norm(h->t, NORM_PREPEND, json_string_value(content),
				       json_string_length(content), NULL, 0))
			goto oom;
		return ADA_OK;
	}
	if (!strcmp(type, "Replace") &&
	    json_is_string(json_object_get(json_object_get(n, "pattern"), "Regex"))) {
		/* SentencePiece converters' " {2,}": the only regex we take */
		const char *re = json_string_value(json_object_get(json_object_get(n, "pattern"),
								   "Regex"));
		content = json_object_get(n, "content");
		if (strcmp(re, " {2,}") || !json_is_string(content))
			return ada_fail_param(h->err, ADA_EUNSUPPORTED, "normalizer",
					      "%s: normalizer Replace with a Regex is supported only for \" {2,}\" with a content string (got '%s')",
					      h->path, re);
		if (tokenizer_add_norm(h->t, NORM_COLLAPSE_SPACES, NULL, 0, json_string_value(content),
				       json_string_length(content)))
			goto oom;
		return ADA_OK;
	}
	if (!strcmp(type, "Strip")) {
		int left = 1, right = 1;

		if ((rc = get_bool(h, n, "strip_left", "normalizer", 1, &left)) ||
		    (rc = get_bool(h, n, "strip_right", "normalizer", 1, &right)))
			return rc;
		if (tokenizer_add_norm(h->t, NORM_STRIP, left ? (right ? "lr" : "l") : "r",
				       left && right ? 2 : 1, NULL, 0))
			goto oom;
		return ADA_OK;
	}
	if (!strcmp(type, "Precompiled")) {
		json_t *cm = json_object_get(n, "precompiled_charsmap");
		struct strbuf blob = STRBUF_INIT;

		if (json_is_null(cm) || (json_is_string(cm) && !json_string_length(cm)))
			return ADA_OK;      /* an empty charsmap changes nothing */
		if (!json_is_string(cm) ||
		    base64_decode(json_string_value(cm), json_string_length(cm), &blob)) {
			strbuf_release(&blob);
			return ada_fail_param(h->err, ADA_EFORMAT, "normalizer",
					      "%s: normalizer Precompiled: precompiled_charsmap is not base64",
					      h->path);
		}
		if (h->t->charsmap.units) {
			strbuf_release(&blob);
			return ada_fail_param(h->err, ADA_EUNSUPPORTED, "normalizer",
					      "%s: more than one Precompiled normalizer", h->path);
		}
		rc = charsmap_load(&h->t->charsmap, blob.p, blob.n, h->path, h->err);
		strbuf_release(&blob);
		if (rc)
			return rc;
		if (tokenizer_add_norm(h->t, NORM_PRECOMPILED, NULL, 0, NULL, 0))
			goto oom;
		return ADA_OK;
	}
	if (!strcmp(type, "Replace")) {
		if ((rc = string_pattern(h, n, "normalizer.Replace", &a, &a_len)))
			return rc;
		content = json_object_get(n, "content");
		if (!json_is_string(content))
			return ada_fail_param(h->err, ADA_EFORMAT, "normalizer",
					      "%s: normalizer Replace has no 'content' string", h->path);
		if (tokenizer_add_norm(h->t, NORM_REPLACE, a, a_len, json_string_value(content),
				       json_string_length(content)))
			goto oom;
		return ADA_OK;
	}
	if (!strcmp(type, "NFC") || !strcmp(type, "NFD") || !strcmp(type, "Lowercase") ||
	    !strcmp(type, "StripAccents")) {
		enum norm_kind kind = !strcmp(type, "NFC") ? NORM_NFC : !strcmp(type, "NFD") ? NORM_NFD :
				      !strcmp(type, "Lowercase") ? NORM_LOWERCASE : NORM_STRIP_ACCENTS;
		if (tokenizer_add_norm(h->t, kind, NULL, 0, NULL, 0))
			goto oom;
		return ADA_OK;
	}
	if (!strcmp(type, "BertNormalizer")) {
		int clean = 1, chinese = 1, strip = 1, lower = 1;

		if ((rc = get_bool(h, n, "clean_text", "normalizer", 1, &clean)) ||
		    (rc = get_bool(h, n, "handle_chinese_chars", "normalizer", 1, &chinese)) ||
		    (rc = get_bool(h, n, "lowercase", "normalizer", 1, &lower)))
			return rc;
		/* strip_accents null follows lowercase, as in BERT. */
		if ((rc = get_bool(h, n, "strip_accents", "normalizer", lower, &strip)))
			return rc;
		if ((clean && tokenizer_add_norm(h->t, NORM_BERT_CLEAN, NULL, 0, NULL, 0)) ||
		    (chinese && tokenizer_add_norm(h->t, NORM_BERT_CHINESE, NULL, 0, NULL, 0)) ||
		    (strip && (tokenizer_add_norm(h->t, NORM_NFD, NULL, 0, NULL, 0) ||
			       tokenizer_add_norm(h->t, NORM_STRIP_ACCENTS, NULL, 0, NULL, 0))) ||
		    (lower && tokenizer_add_norm(h->t, NORM_LOWERCASE, NULL, 0, NULL, 0)))
			goto oom;
		return ADA_OK;
	}
	return ada_fail_param(h->err, ADA_EUNSUPPORTED, "normalizer",
			      "%s: normalizer '%s' is not supported (Sequence, Prepend, Replace, "
			      "NFC, NFD, Lowercase, StripAccents, BertNormalizer, Strip and "
			      "Precompiled are)", h->path, type);
oom:
	return ada_fail(h->err, ADA_ENOMEM, "out of memory");
}

/* ---- pre-tokenizer ------------------------------------------------------------ */

/* Metaspace's replacement and prepend scheme (shared with its decoder). */
static int metaspace_settings(struct hf *h, json_t *m, const char *where,
			      struct pretok_step *st)
{
	json_t *repl = json_object_get(m, "replacement");
	const char *scheme = json_string_value(json_object_get(m, "prepend_scheme"));
	int legacy = 1, rc;

	if (!json_is_string(repl) || !json_string_length(repl) ||
	    json_string_length(repl) >= sizeof(st->repl))
		return ada_fail_param(h->err, ADA_EFORMAT, where,
				      "%s: %s Metaspace needs a one-character replacement",
				      h->path, where);
	memcpy(st->repl, json_string_value(repl), json_string_length(repl));
	st->repl_len = json_string_length(repl);
	if (scheme) {
		if (!strcmp(scheme, "first"))
			st->prepend = PREPEND_FIRST;
		else if (!strcmp(scheme, "always"))
			st->prepend = PREPEND_ALWAYS;
		else if (!strcmp(scheme, "never"))
			st->prepend = PREPEND_NEVER;
		else
			return ada_fail_param(h->err, ADA_EUNSUPPORTED, where,
					      "%s: %s Metaspace prepend_scheme '%s' is not supported",
					      h->path, where, scheme);
		return ADA_OK;
	}
	/* Files from before prepend_scheme: add_prefix_space (default true). */
	if ((rc = get_bool(h, m, "add_prefix_space", where, 1, &legacy)))
		return rc;
	st->prepend = legacy ? PREPEND_ALWAYS : PREPEND_NEVER;
	return ADA_OK;
}

static int load_pretok(struct hf *h, json_t *p)
{
	const char *type = type_of(p);
	struct pretok_step st = { 0 };
	json_t *item;
	size_t i;
	int rc;

	if (!p || json_is_null(p))
		return ADA_OK;
	if (!strcmp(type, "Sequence")) {
		json_t *items;
		if ((rc = sequence_items(h, p, "pretokenizers", "pre_tokenizer", &items)))
			return rc;
		json_array_foreach(items, i, item)
			if ((rc = load_pretok(h, item)))
				return rc;
		return ADA_OK;
	}
	if (!strcmp(type, "Metaspace")) {
		st.kind = PRETOK_METASPACE;
		if ((rc = metaspace_settings(h, p, "pre_tokenizer", &st)) ||
		    (rc = get_bool(h, p, "split", "pre_tokenizer", 1, &st.split)))
			return rc;
	} else if (!strcmp(type, "ByteLevel")) {
		st.kind = PRETOK_BYTELEVEL;
		if ((rc = get_bool(h, p, "add_prefix_space", "pre_tokenizer", 1, &st.add_prefix_space)) ||
		    (rc = get_bool(h, p, "use_regex", "pre_tokenizer", 1, &st.use_regex)))
			return rc;
	} else if (!strcmp(type, "Split")) {
		json_t *pat = json_object_get(p, "pattern");
		const char *re = json_string_value(json_object_get(pat, "Regex"));
		const char *behavior = json_string_value(json_object_get(p, "behavior"));
		int invert = 0;

		if ((rc = get_bool(h, p, "invert", "pre_tokenizer", 0, &invert)))
			return rc;
		for (i = 0; re && i < sizeof(known_splits) / sizeof(known_splits[0]); i++)
			if (!strcmp(re, known_splits[i].regex))
				break;
		if (!re || i == sizeof(known_splits) / sizeof(known_splits[0]) || invert ||
		    !behavior || strcmp(behavior, "Isolated"))
			return ada_fail_param(h->err, ADA_EUNSUPPORTED, "pre_tokenizer",
					      "%s: pre_tokenizer Split is supported only with the "
					      "GPT-2, Llama 3 or Qwen2 regex, Isolated, not inverted "
					      "(got %s)", h->path, re ? re : "a String pattern");
		st.kind = known_splits[i].kind;
	} else if (!strcmp(type, "BertPreTokenizer")) {
		st.kind = PRETOK_BERT;
	} else if (!strcmp(type, "WhitespaceSplit")) {
		st.kind = PRETOK_WHITESPACE;
	} else {
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, "pre_tokenizer",
				      "%s: pre_tokenizer '%s' is not supported (Sequence, Metaspace, "
				      "ByteLevel, Split, BertPreTokenizer and WhitespaceSplit are)",
				      h->path, type);
	}
	if (tokenizer_add_pretok(h->t, &st))
		return ada_fail(h->err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

/* ---- decoder --------------------------------------------------------------- */

static int load_decoder(struct hf *h, json_t *d)
{
	const char *type = type_of(d), *a = NULL;
	struct tokenizer *t = h->t;
	json_t *content, *item;
	size_t a_len = 0, i;
	int rc;

	if (!d || json_is_null(d))
		return ADA_OK;
	if (!strcmp(type, "Sequence")) {
		json_t *items;
		if ((rc = sequence_items(h, d, "decoders", "decoder", &items)))
			return rc;
		json_array_foreach(items, i, item)
			if ((rc = load_decoder(h, item)))
				return rc;
		return ADA_OK;
	}
	if (!strcmp(type, "Fuse"))
		return ADA_OK;          /* we decode to one byte string anyway */
	if (!strcmp(type, "ByteFallback"))
		rc = tokenizer_add_dec(t, DEC_BYTEFALLBACK, NULL, 0, NULL, 0);
	else if (!strcmp(type, "ByteLevel"))
		rc = tokenizer_add_dec(t, DEC_BYTELEVEL, NULL, 0, NULL, 0);
	else if (!strcmp(type, "Replace")) {
		if ((rc = string_pattern(h, d, "decoder.Replace", &a, &a_len)))
			return rc;
		content = json_object_get(d, "content");
		if (!json_is_string(content))
			return ada_fail_param(h->err, ADA_EFORMAT, "decoder",
					      "%s: decoder Replace has no 'content' string", h->path);
		rc = tokenizer_add_dec(t, DEC_REPLACE, a, a_len, json_string_value(content),
				       json_string_length(content));
	} else if (!strcmp(type, "Strip")) {
		const char *c = json_string_value(json_object_get(d, "content"));
		json_int_t start = json_integer_value(json_object_get(d, "start"));
		json_int_t stop = json_integer_value(json_object_get(d, "stop"));

		if (!c || strcmp(c, " ") || start < 0 || start > 1 || stop != 0)
			return ada_fail_param(h->err, ADA_EUNSUPPORTED, "decoder",
					      "%s: decoder Strip is supported only for one leading "
					      "space (content ' ', start 1, stop 0)", h->path);
		t->strip_first_space |= start == 1;
		return ADA_OK;
	} else if (!strcmp(type, "Metaspace")) {
		struct pretok_step st = { 0 };

		if ((rc = metaspace_settings(h, d, "decoder", &st)))
			return rc;
		t->strip_first_space |= st.prepend != PREPEND_NEVER;
		rc = tokenizer_add_dec(t, DEC_REPLACE, st.repl, st.repl_len, " ", 1);
	} else if (!strcmp(type, "WordPiece")) {
		json_t *prefix = json_object_get(d, "prefix");
		const char *p = json_is_string(prefix) ? json_string_value(prefix) : "##";

		/* cleanup (" ." -> ".", ...) works across pieces: not applied. */
		t->strip_first_space = 1;
		rc = tokenizer_add_dec(t, DEC_WORDPIECE, p, strlen(p), NULL, 0);
	} else {
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, "decoder",
				      "%s: decoder '%s' is not supported (Sequence, Replace, "
				      "ByteFallback, Fuse, Strip, Metaspace, ByteLevel and WordPiece "
				      "are)", h->path, type);
	}
	return rc ? ada_fail(h->err, ADA_ENOMEM, "out of memory") : ADA_OK;
}

/* ---- BOS / EOS / PAD ---------------------------------------------------------- */

/* A token named by a string or by {"content": string}; -1 when absent. */
static int32_t named_token(const struct tokenizer *t, json_t *v)
{
	if (json_is_object(v))
		v = json_object_get(v, "content");
	if (!json_is_string(v))
		return -1;
	return find_any(t, json_string_value(v), json_string_length(v));
}

static int32_t first_named(const struct tokenizer *t, const char *const *names)
{
	for (; *names; names++) {
		int32_t id = find_any(t, *names, strlen(*names));
		if (id >= 0 && t->vocab.type[id] == TOKT_CONTROL)
			return id;
	}
	return -1;
}

/* ---- post-processor ----------------------------------------------------------- */

/* A template's special token by name: the ids its special_tokens map
 * gives, else the token spelled so. */
static int template_token(struct hf *h, json_t *specials, const char *name,
			  struct tmpl_item *items, int *n, uint8_t type_id)
{
	json_t *ids = json_object_get(json_object_get(specials, name), "ids"), *v;
	int32_t one = find_any(h->t, name, strlen(name));
	size_t i, count = json_is_array(ids) ? json_array_size(ids) : 1;

	if (!json_is_array(ids) && one < 0)
		return ada_fail_param(h->err, ADA_EFORMAT, "post_processor",
				      "%s: post_processor special token '%s' is not in the vocabulary",
				      h->path, name);
	if (*n + count > TMPL_MAX)
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, "post_processor",
				      "%s: post_processor template longer than %d items", h->path,
				      TMPL_MAX);
	if (!json_is_array(ids)) {
		items[(*n)++] = (struct tmpl_item){ one, type_id };
		return ADA_OK;
	}
	json_array_foreach(ids, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > INT32_MAX)
			return ada_fail_param(h->err, ADA_EFORMAT, "post_processor",
					      "%s: post_processor special token '%s' has a bad id",
					      h->path, name);
		items[(*n)++] = (struct tmpl_item){ (int32_t)json_integer_value(v), type_id };
	}
	return ADA_OK;
}

/* A TemplateProcessing list: [{"SpecialToken": {"id", "type_id"}} or
 * {"Sequence": {"id": "A"|"B", "type_id"}}, ...]. */
static int template_items(struct hf *h, json_t *list, json_t *specials, const char *which,
			  struct tmpl_item *items, int *n)
{
	json_t *item;
	size_t i;
	int rc;

	*n = 0;
	if (!json_is_array(list))
		return ada_fail_param(h->err, ADA_EFORMAT, "post_processor",
				      "%s: post_processor TemplateProcessing has no '%s' list", h->path,
				      which);
	json_array_foreach(list, i, item) {
		json_t *seq = json_object_get(item, "Sequence");
		json_t *body = seq ? seq : json_object_get(item, "SpecialToken");
		json_t *tid = json_object_get(body, "type_id");
		const char *id = json_string_value(json_object_get(body, "id"));

		if (!json_is_object(body) || !id || (tid && !json_is_integer(tid)) ||
		    json_integer_value(tid) < 0 || json_integer_value(tid) > 255)
			return ada_fail_param(h->err, ADA_EFORMAT, "post_processor",
					      "%s: post_processor %s[%zu] is neither a Sequence nor a "
					      "SpecialToken with an id and a type_id", h->path, which, i);
		if (!seq) {
			rc = template_token(h, specials, id, items, n,
					    (uint8_t)json_integer_value(tid));
			if (rc)
				return rc;
			continue;
		}
		if ((strcmp(id, "A") && strcmp(id, "B")) || *n == TMPL_MAX)
			return ada_fail_param(h->err, ADA_EUNSUPPORTED, "post_processor",
					      "%s: post_processor %s[%zu]: sequence '%s' (A and B are "
					      "supported, %d items at most)", h->path, which, i, id,
					      TMPL_MAX);
		items[(*n)++] = (struct tmpl_item){ strcmp(id, "A") ? TMPL_SEQ_B : TMPL_SEQ_A,
						    (uint8_t)json_integer_value(tid) };
	}
	return ADA_OK;
}

/* TemplateProcessing: a special token before the text is BOS, one after it
 * EOS. Only a template that ends a text with a special token frames an
 * encoder's input (BERT's [CLS] $A [SEP]); a decoder's ("<s> $A", Llama)
 * only says that BOS is wanted. */
static int load_template(struct hf *h, json_t *post)
{
	struct tokenizer *t = h->t;
	struct pair_template *p = &t->tmpl;
	json_t *specials = json_object_get(post, "special_tokens");
	json_t *pair = json_object_get(post, "pair");
	int seen_seq = 0, ends_with_special = 0, rc;

	rc = template_items(h, json_object_get(post, "single"), specials, "single", p->single,
			    &p->n_single);
	if (!rc && json_is_array(pair) && json_array_size(pair))
		rc = template_items(h, pair, specials, "pair", p->pair, &p->n_pair);
	if (rc)
		return rc;
	for (int i = 0; i < p->n_single; i++) {
		int32_t id = p->single[i].id;

		if (id == TMPL_SEQ_A || id == TMPL_SEQ_B) {
			seen_seq = 1;
			continue;
		}
		if (!seen_seq) {
			t->bos = id;
			t->add_bos = 1;
		} else {
			t->eos = id;
			t->add_eos = 1;
			ends_with_special = 1;
		}
	}
	if (!ends_with_special)
		p->n_single = p->n_pair = 0;
	return ADA_OK;
}

/* BertProcessing / RobertaProcessing: "cls": [name, id], "sep": [name, id]. */
static int load_cls_sep(struct hf *h, json_t *post, int roberta)
{
	struct tokenizer *t = h->t;
	int32_t ids[2];

	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(post, i ? "sep" : "cls");
		json_t *id = json_array_get(v, 1);

		if (!json_is_array(v) || json_array_size(v) != 2 ||
		    !json_is_string(json_array_get(v, 0)) || !json_is_integer(id) ||
		    json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX)
			return ada_fail_param(h->err, ADA_EFORMAT, "post_processor",
					      "%s: post_processor %s needs '%s': [token, id]", h->path,
					      type_of(post), i ? "sep" : "cls");
		ids[i] = (int32_t)json_integer_value(id);
	}
	t->bos = ids[0];
	t->eos = ids[1];
	t->add_bos = t->add_eos = 1;
	if (roberta)
		pair_template_roberta(&t->tmpl, ids[0], ids[1]);
	else
		pair_template_bert(&t->tmpl, ids[0], ids[1]);
	return ADA_OK;
}

static int load_post_processor(struct hf *h, json_t *post, int *framed)
{
	const char *type = type_of(post);
	json_t *item;
	size_t i;
	int rc;

	if (!post || json_is_null(post) || !strcmp(type, "ByteLevel"))
		return ADA_OK;          /* ByteLevel only adjusts offsets */
	if (!strcmp(type, "Sequence")) {
		json_t *items;
		if ((rc = sequence_items(h, post, "processors", "post_processor", &items)))
			return rc;
		json_array_foreach(items, i, item)
			if ((rc = load_post_processor(h, item, framed)))
				return rc;
		return ADA_OK;
	}
	if (strcmp(type, "TemplateProcessing") && strcmp(type, "BertProcessing") &&
	    strcmp(type, "RobertaProcessing"))
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, "post_processor",
				      "%s: post_processor '%s' is not supported (Sequence, ByteLevel, "
				      "TemplateProcessing, BertProcessing and RobertaProcessing are)",
				      h->path, type);
	if ((*framed)++)
		return ada_fail_param(h->err, ADA_EUNSUPPORTED, "post_processor",
				      "%s: more than one post_processor adds special tokens", h->path);
	if (!strcmp(type, "TemplateProcessing"))
		return load_template(h, post);
	return load_cls_sep(h, post, !strcmp(type, "RobertaProcessing"));
}

/* BOS, EOS and PAD: tokenizer_config.json beside the file has the last word. */
static int special_ids(struct hf *h, json_t *root)
{
	static const char *const bos_names[] = { "<s>", "<|begin_of_text|>", "<|endoftext|>", NULL };
	static const char *const eos_names[] = { "</s>", "<|end_of_text|>", "<|endoftext|>", NULL };
	static const char *const pad_names[] = { "<pad>", "[PAD]", NULL };
	struct tokenizer *t = h->t;
	char *cfg_path = NULL;
	json_error_t jerr;
	json_t *cfg = NULL, *v;
	int framed = 0, rc;

	rc = load_post_processor(h, json_object_get(root, "post_processor"), &framed);
	if (rc)
		return rc;
	if (t->bos < 0)
		t->bos = first_named(t, bos_names);
	if (t->eos < 0)
		t->eos = first_named(t, eos_names);
	t->pad = first_named(t, pad_names);

	cfg_path = tokenizer_sibling(h->path, "tokenizer_config.json");
	if (!cfg_path)
		goto oom;
	if (!file_exists(cfg_path))
		goto out_free;
	cfg = json_load_file(cfg_path, 0, &jerr);
	if (!json_is_object(cfg)) {
		rc = ada_fail(h->err, ADA_EFORMAT, "%s: line %d: %s", cfg_path, jerr.line,
			      cfg ? "not a JSON object" : jerr.text);
		goto out_free;
	}
	if ((v = json_object_get(cfg, "bos_token")))
		t->bos = named_token(t, v);
	if ((v = json_object_get(cfg, "eos_token")))
		t->eos = named_token(t, v);
	if ((v = json_object_get(cfg, "pad_token")))
		t->pad = named_token(t, v);
	if (json_is_boolean(v = json_object_get(cfg, "add_bos_token")))
		t->add_bos = json_is_true(v);
	if (json_is_boolean(v = json_object_get(cfg, "add_eos_token")))
		t->add_eos = json_is_true(v);
	goto out_free;
oom:
	rc = ada_fail(h->err, ADA_ENOMEM, "out of memory");
out_free:
	json_decref(cfg);
	free(cfg_path);
	return rc;
}

/* ---- the whole file ----------------------------------------------------------- */

int tokenizer_load_hf_root(const char *path, json_t *root, struct tokenizer **out,
			   struct ada_err *err)
{
	struct hf h = { .path = path, .err = err };
	json_t *model;
	int rc;

	*out = NULL;
	model = json_object_get(root, "model");
	if (!json_is_object(model))
		return ada_fail_param(err, ADA_EFORMAT, "model",
				      "%s: no 'model' object: not a tokenizer.json", path);
	h.t = tokenizer_alloc("hf-bpe", path);
	if (!h.t)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if ((rc = build_vocab(&h, model, json_object_get(root, "added_tokens"))) ||
	    (rc = load_model(&h, model)) ||
	    (rc = load_normalizer(&h, json_object_get(root, "normalizer"))) ||
	    (rc = load_pretok(&h, json_object_get(root, "pre_tokenizer"))) ||
	    (rc = load_decoder(&h, json_object_get(root, "decoder"))) ||
	    (rc = special_ids(&h, root)) ||
	    (rc = chat_template_read_hf(path, &h.t->chat_template, &h.t->chat_template_len, err))) {
		tokenizer_free(h.t);
		return rc;
	}
	return tokenizer_finish(h.t, out, err);
}

int tokenizer_load_hf(const char *path, struct tokenizer **out, struct ada_err *err)
{
	json_error_t jerr;
	json_t *root;
	char *buf = NULL;
	size_t len;
	int rc;

	*out = NULL;
	rc = file_read_all(path, &buf, &len, err);
	if (rc)
		return rc;
	root = json_loadb(buf, len, JSON_ALLOW_NUL, &jerr);
	free(buf);
	if (!root)
		return ada_fail(err, ADA_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
	rc = tokenizer_load_hf_root(path, root, out, err);
	json_decref(root);
	return rc;
}
