/*
 * spm_model — SentencePiece's spm.model: a ModelProto (sentencepiece_model.
 * proto) read with a protobuf reader of our own, small enough to check by
 * eye, and turned into struct tokenizer's settings.
 *
 * What we read (field numbers of the .proto):
 *   ModelProto       1 pieces (repeated), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece    1 piece, 2 score (float), 3 type (NORMAL 1, UNKNOWN 2,
 *                    CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6)
 *   TrainerSpec      3 model_type (UNIGRAM 1, BPE 2; WORD and CHAR refused),
 *                    24 treat_whitespace_as_suffix (refused when true),
 *                    35 byte_fallback, 40-43 unk/bos/eos/pad ids
 *   NormalizerSpec   2 precompiled_charsmap, 3 add_dummy_prefix,
 *                    4 remove_extra_whitespaces, 5 escape_whitespaces
 * Everything else is skipped by its wire type. Every length is checked
 * against what is left of its message before anything is read, so a
 * damaged or hostile file is an error naming the field, never a read past
 * the buffer (tests/fuzz/fuzz_spm.c).
 *
 * The pipeline is SentencePiece's normalizer in Hugging Face's terms (what
 * its converters write for these models): the charsmap rules, then with
 * remove_extra_whitespaces white space stripped at both ends and runs of
 * spaces collapsed to one, then the dummy prefix and spaces as U+2581
 * (Metaspace). SentencePiece strips the characters that its rules turn
 * into spaces; Hugging Face's DeBERTa converter strips before the rules:
 * the two differ only for text that starts or ends with such a character.
 *
 * tokenizer_config.json's do_lower_case lowercases first, as
 * DebertaV2Tokenizer does; its split_by_punct is not supported (refused).
 *
 * Framing: DebertaV2Tokenizer's [CLS] a [SEP] b [SEP] (types 0 / 1) when
 * the directory's tokenizer_config.json / special_tokens_map.json name
 * cls_token and sep_token, or the pieces [CLS] and [SEP] exist; otherwise
 * a decoder's BOS (trainer_spec.bos_id).
 */
#include "tokenizer/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/utf8.h"

#define MAX_PIECES (1 << 24)

static const char METASPACE[] = "\xe2\x96\x81";

/* ---- the wire format ------------------------------------------------------ */

struct pb {
	const uint8_t *p, *end;
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static int pb_varint(struct pb *b, uint64_t *v)
{
	uint64_t x = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t c;

		if (b->p >= b->end)
			return -1;
		c = *b->p++;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* The next field: its number, wire type, and for WT_LEN its body (sub);
 * for WT_VARINT / WT_I32 / WT_I64 its value. 0, 1 at the end, -1 bad. */
static int pb_next(struct pb *b, uint32_t *field, int *wt, uint64_t *val, struct pb *sub)
{
	uint64_t key, len;

	if (b->p == b->end)
		return 1;
	if (pb_varint(b, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
		return -1;
	*field = (uint32_t)(key >> 3);
	*wt = (int)(key & 7);
	switch (*wt) {
	case WT_VARINT:
		return pb_varint(b, val);
	case WT_I64:
		if (b->end - b->p < 8)
			return -1;
		memcpy(val, b->p, 8);   /* little-endian hosts only (as gguf.c) */
		b->p += 8;
		return 0;
	case WT_I32: {
		uint32_t x;
		if (b->end - b->p < 4)
			return -1;
		memcpy(&x, b->p, 4);
		*val = x;
		b->p += 4;
		return 0;
	}
	case WT_LEN:
		if (pb_varint(b, &len) || len > (uint64_t)(b->end - b->p))
			return -1;
		sub->p = b->p;
		sub->end = b->p + len;
		b->p += len;
		return 0;
	}
	return -1;                      /* groups (3, 4) and unknown types */
}

/* ---- the messages ----------------------------------------------------------- */

struct spm_piece {
	const char *s;
	size_t len;
	float score;
	int type;
};

struct spm_spec {
	int model_type;                 /* 1 UNIGRAM, 2 BPE */
	int byte_fallback, ws_suffix;
	int64_t unk_id, bos_id, eos_id, pad_id;
	const uint8_t *charsmap;
	size_t charsmap_len;
	int add_dummy_prefix, remove_extra_ws, escape_ws;
	struct spm_piece *pieces;
	size_t n, cap;
};

struct reader {
	const char *path;
	struct ada_err *err;
};

static int bad(struct reader *r, const char *what)
{
	return ada_fail(r->err, ADA_EFORMAT, "%s: not a SentencePiece model: %s", r->path, what);
}

static int read_piece(struct reader *r, struct pb b, struct spm_piece *pc)
{
	uint32_t f;
	int wt, rc;
	uint64_t v;
	struct pb sub;

	*pc = (struct spm_piece){ .type = 1 };
	while (!(rc = pb_next(&b, &f, &wt, &v, &sub))) {
		if (f == 1 && wt == WT_LEN) {
			pc->s = (const char *)sub.p;
			pc->len = (size_t)(sub.end - sub.p);
		} else if (f == 2 && wt == WT_I32) {
			uint32_t x = (uint32_t)v;
			memcpy(&pc->score, &x, 4);
		} else if (f == 3 && wt == WT_VARINT) {
			if (v < 1 || v > 6)
				return bad(r, "a piece's type is not one SentencePiece defines");
			pc->type = (int)v;
		} else if ((f == 1 || f == 2 || f == 3)) {
			return bad(r, "a piece's field has the wrong wire type");
		}
	}
	if (rc < 0)
		return bad(r, "a piece is cut short");
	if (!pc->s)
		return bad(r, "a piece without its text");
	if (utf8_validate(pc->s, pc->len) != pc->len)
		return bad(r, "a piece is not valid UTF-8");
	return ADA_OK;
}

static int read_trainer(struct reader *r, struct pb b, struct spm_spec *sp)
{
	uint32_t f;
	int wt, rc;
	uint64_t v;
	struct pb sub;

	while (!(rc = pb_next(&b, &f, &wt, &v, &sub))) {
		if (wt != WT_VARINT)
			continue;
		switch (f) {
		case 3: sp->model_type = (int)(v > 100 ? 100 : v); break;
		case 24: sp->ws_suffix = v != 0; break;
		case 35: sp->byte_fallback = v != 0; break;
		case 40: sp->unk_id = (int32_t)v; break;   /* int32 on the wire: sign-extended */
		case 41: sp->bos_id = (int32_t)v; break;
		case 42: sp->eos_id = (int32_t)v; break;
		case 43: sp->pad_id = (int32_t)v; break;
		}
	}
	return rc < 0 ? bad(r, "trainer_spec is cut short") : ADA_OK;
}

static int read_normalizer(struct reader *r, struct pb b, struct spm_spec *sp)
{
	uint32_t f;
	int wt, rc;
	uint64_t v;
	struct pb sub;

	while (!(rc = pb_next(&b, &f, &wt, &v, &sub))) {
		if (f == 2 && wt == WT_LEN) {
			sp->charsmap = sub.p;
			sp->charsmap_len = (size_t)(sub.end - sub.p);
		} else if (wt == WT_VARINT && f == 3) {
			sp->add_dummy_prefix = v != 0;
		} else if (wt == WT_VARINT && f == 4) {
			sp->remove_extra_ws = v != 0;
		} else if (wt == WT_VARINT && f == 5) {
			sp->escape_ws = v != 0;
		}
	}
	return rc < 0 ? bad(r, "normalizer_spec is cut short") : ADA_OK;
}

static int read_model(struct reader *r, const uint8_t *data, size_t len, struct spm_spec *sp)
{
	struct pb b = { data, data + len }, sub;
	uint32_t f;
	int wt, rc;
	uint64_t v;

	*sp = (struct spm_spec){ .model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2,
				 .pad_id = -1, .add_dummy_prefix = 1, .remove_extra_ws = 1,
				 .escape_ws = 1 };
	while (!(rc = pb_next(&b, &f, &wt, &v, &sub))) {
		if (f == 1 && wt == WT_LEN) {
			if (sp->n >= MAX_PIECES)
				return bad(r, "more than 16M pieces");
			if (ALLOC_GROW(sp->pieces, sp->n + 1, sp->cap))
				return ada_fail(r->err, ADA_ENOMEM, "out of memory");
			if ((rc = read_piece(r, sub, &sp->pieces[sp->n])))
				return rc;
			sp->n++;
		} else if (f == 2 && wt == WT_LEN) {
			if ((rc = read_trainer(r, sub, sp)))
				return rc;
		} else if (f == 3 && wt == WT_LEN) {
			if ((rc = read_normalizer(r, sub, sp)))
				return rc;
		} else if (f <= 3) {
			return bad(r, "a field has the wrong wire type");
		}
	}
	if (rc < 0)
		return bad(r, "the file is cut short or damaged");
	if (!sp->n)
		return bad(r, "no pieces");
	return ADA_OK;
}

/* ---- the tokenizer ---------------------------------------------------------- */

static uint8_t tok_type(int spm_type)
{
	switch (spm_type) {
	case 2: return TOKT_UNKNOWN;
	case 3: return TOKT_CONTROL;
	case 4: return TOKT_USER;
	case 5: return TOKT_UNUSED;
	case 6: return TOKT_BYTE;
	default: return TOKT_NORMAL;
	}
}

/* A special token's name from tokenizer_config.json / special_tokens_map.json
 * (a string or {"content"}), malloc'ed, or NULL. */
static char *config_token(json_t *cfg, json_t *map, const char *key)
{
	json_t *v = json_object_get(cfg, key);

	if (!v || json_is_null(v))
		v = json_object_get(map, key);
	if (json_is_object(v))
		v = json_object_get(v, "content");
	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static json_t *load_sibling_json(const char *path, const char *name, struct ada_err *err,
				 int *rc)
{
	char *p = tokenizer_sibling(path, name);
	json_error_t jerr;
	json_t *j = NULL;

	*rc = ADA_OK;
	if (!p) {
		*rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		return NULL;
	}
	if (file_exists(p)) {
		j = json_load_file(p, 0, &jerr);
		if (!json_is_object(j)) {
			*rc = ada_fail(err, ADA_EFORMAT, "%s: line %d: %s", p, jerr.line,
				       j ? "not a JSON object" : jerr.text);
			json_decref(j);
			j = NULL;
		}
	}
	free(p);
	return j;
}

static int32_t piece_id(const struct spm_spec *sp, const char *name)
{
	for (size_t i = 0; name && i < sp->n; i++)
		if (sp->pieces[i].len == strlen(name) && !memcmp(sp->pieces[i].s, name, sp->pieces[i].len))
			return (int32_t)i;
	return -1;
}

static int in_range(const struct spm_spec *sp, int64_t id)
{
	return id >= 0 && id < (int64_t)sp->n;
}

/* Pieces into the vocabulary (plus an added mask token), user-defined and
 * control pieces into the special set. */
static int build_vocab(struct tokenizer *t, const struct spm_spec *sp, const char *mask,
		       struct ada_err *err)
{
	const int add_mask = mask && piece_id(sp, mask) < 0;

	if (vocab_init(&t->vocab, (int32_t)sp->n + add_mask))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (size_t i = 0; i < sp->n; i++) {
		const struct spm_piece *pc = &sp->pieces[i];
		uint8_t type = tok_type(pc->type);

		if (type == TOKT_BYTE && vocab_byte_value(pc->s, pc->len) < 0)
			type = TOKT_NORMAL;
		if (vocab_add(&t->vocab, pc->s, pc->len, pc->score, type))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		if ((type == TOKT_USER || type == TOKT_CONTROL) && pc->len &&
		    special_set_add(&t->specials, pc->s, pc->len, (int32_t)i,
				    type == TOKT_CONTROL ? SPECIAL_CONTROL : 0))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if (add_mask && (vocab_add(&t->vocab, mask, strlen(mask), 0, TOKT_CONTROL) ||
			 special_set_add(&t->specials, mask, strlen(mask), (int32_t)sp->n,
					 SPECIAL_CONTROL)))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (!t->byte_fallback)
		return tokenizer_index_vocab(t, err);
	/* only BYTE pieces stand for bytes */
	if (tokenizer_index_vocab(t, err))
		return err->code;
	for (int b = 0; b < 256; b++)
		if (t->byte_tok[b] >= 0 && t->vocab.type[t->byte_tok[b]] != TOKT_BYTE)
			t->byte_tok[b] = -1;
	return ADA_OK;
}

/* SentencePiece's normalizer as steps (see the top). */
static int build_pipeline(struct tokenizer *t, const struct spm_spec *sp, int lower,
			  struct ada_err *err)
{
	struct pretok_step ms = { .kind = PRETOK_METASPACE };
	int rc;

	/* DebertaV2Tokenizer's do_lower_case lowercases before SentencePiece */
	if (lower && tokenizer_add_norm(t, NORM_LOWERCASE, NULL, 0, NULL, 0))
		goto oom;
	if (sp->charsmap_len) {
		if ((rc = charsmap_load(&t->charsmap, sp->charsmap, sp->charsmap_len, t->source, err)))
			return rc;
		if (tokenizer_add_norm(t, NORM_PRECOMPILED, NULL, 0, NULL, 0))
			goto oom;
	}
	if (sp->remove_extra_ws && (tokenizer_add_norm(t, NORM_STRIP, "lr", 2, NULL, 0) ||
				    tokenizer_add_norm(t, NORM_COLLAPSE_SPACES, NULL, 0, " ", 1)))
		goto oom;
	if (sp->escape_ws) {
		memcpy(ms.repl, METASPACE, 3);
		ms.repl_len = 3;
		ms.prepend = sp->add_dummy_prefix ? PREPEND_ALWAYS : PREPEND_NEVER;
		if (tokenizer_add_pretok(t, &ms) ||
		    tokenizer_add_dec(t, DEC_REPLACE, METASPACE, 3, " ", 1))
			goto oom;
	} else if (sp->add_dummy_prefix &&
		   tokenizer_add_norm(t, NORM_PREPEND, " ", 1, NULL, 0)) {
		goto oom;
	}
	t->strip_first_space = sp->add_dummy_prefix;
	if (tokenizer_add_dec(t, DEC_BYTEFALLBACK, NULL, 0, NULL, 0))
		goto oom;
	return ADA_OK;
oom:
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

/* [CLS] a [SEP] b [SEP] when the directory or the pieces say so. */
static int build_framing(struct tokenizer *t, const struct spm_spec *sp, json_t *cfg, json_t *map)
{
	char *cls_name = config_token(cfg, map, "cls_token");
	char *sep_name = config_token(cfg, map, "sep_token");
	char *pad_name = config_token(cfg, map, "pad_token");
	char *unk_name = config_token(cfg, map, "unk_token");
	int32_t cls = piece_id(sp, cls_name ? cls_name : "[CLS]");
	int32_t sep = piece_id(sp, sep_name ? sep_name : "[SEP]");
	int32_t pad = piece_id(sp, pad_name);
	int32_t unk = piece_id(sp, unk_name);

	if (unk >= 0)
		t->unk = unk;
	if (pad >= 0)
		t->pad = pad;
	if (cls >= 0 && sep >= 0) {
		pair_template_bert(&t->tmpl, cls, sep);
		t->bos = cls;
		t->eos = sep;
		t->add_bos = t->add_eos = 1;
	}
	free(cls_name);
	free(sep_name);
	free(pad_name);
	free(unk_name);
	return ADA_OK;
}

int tokenizer_load_spm(const char *path, struct tokenizer **out, struct ada_err *err)
{
	struct reader r = { path, err };
	struct mapped_file mf;
	struct spm_spec sp = { 0 };
	struct tokenizer *t = NULL;
	json_t *cfg = NULL, *map = NULL;
	char *mask = NULL;
	int rc;

	*out = NULL;
	if ((rc = mapped_file_open(path, &mf, err)))
		return rc;
	if ((rc = read_model(&r, mf.data, mf.size, &sp)))
		goto out_free;
	if (sp.model_type != 1 && sp.model_type != 2) {
		rc = ada_fail_param(err, ADA_EUNSUPPORTED, "trainer_spec.model_type",
				    "%s: SentencePiece model_type %d is not supported (UNIGRAM and BPE are)",
				    path, sp.model_type);
		goto out_free;
	}
	if (sp.ws_suffix) {
		rc = ada_fail_param(err, ADA_EUNSUPPORTED, "trainer_spec.treat_whitespace_as_suffix",
				    "%s: treat_whitespace_as_suffix is not supported", path);
		goto out_free;
	}
	cfg = load_sibling_json(path, "tokenizer_config.json", err, &rc);
	if (!rc)
		map = load_sibling_json(path, "special_tokens_map.json", err, &rc);
	if (rc)
		goto out_free;
	if (json_is_true(json_object_get(cfg, "split_by_punct"))) {
		rc = ada_fail_param(err, ADA_EUNSUPPORTED, "split_by_punct",
				    "%s: tokenizer_config.json's split_by_punct is not supported", path);
		goto out_free;
	}
	mask = config_token(cfg, map, "mask_token");
	t = tokenizer_alloc(sp.model_type == 1 ? "unigram" : "spm", path);
	if (!t) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	t->byte_fallback = sp.byte_fallback;
	if ((rc = build_vocab(t, &sp, mask, err)) ||
	    (rc = build_pipeline(t, &sp, json_is_true(json_object_get(cfg, "do_lower_case")), err)))
		goto out_free;
	t->unk = in_range(&sp, sp.unk_id) ? (int32_t)sp.unk_id : -1;
	t->bos = in_range(&sp, sp.bos_id) ? (int32_t)sp.bos_id : -1;
	t->eos = in_range(&sp, sp.eos_id) ? (int32_t)sp.eos_id : -1;
	t->pad = in_range(&sp, sp.pad_id) ? (int32_t)sp.pad_id : -1;
	t->add_bos = t->bos >= 0;
	build_framing(t, &sp, cfg, map);
	if (sp.model_type == 1) {
		t->fuse_unk = 1;
		unigram_init(t);
	} else {
		t->algo = TOK_ALGO_SCORED;
	}
	json_decref(cfg);
	json_decref(map);
	free(mask);
	free(sp.pieces);
	mapped_file_close(&mf);
	return tokenizer_finish(t, out, err);
out_free:
	tokenizer_free(t);
	json_decref(cfg);
	json_decref(map);
	free(mask);
	free(sp.pieces);
	mapped_file_close(&mf);
	return rc;
}

int spm_sniff(const void *data, size_t len)
{
	struct pb b = { data, (const uint8_t *)data + len }, sub, inner;
	uint32_t f;
	int wt, has_text = 0, has_score = 0;
	uint64_t v;

	if (pb_next(&b, &f, &wt, &v, &sub) || f != 1 || wt != WT_LEN)
		return 0;
	while (!pb_next(&sub, &f, &wt, &v, &inner)) {
		has_text |= f == 1 && wt == WT_LEN;
		has_score |= f == 2 && wt == WT_I32;
	}
	return has_text && has_score;
}

/* ---- base64, for tokenizer.json's precompiled_charsmap ---------------------- */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *s, size_t len, struct strbuf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	while (len && s[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (strbuf_addch(out, (char)(acc >> bits & 0xff)))
				return -1;
		}
	}
	return 0;
}
