/*
 * gguf_vocab — the vocabulary part of GGUF's tokenizer.ggml.* metadata,
 * common to the SentencePiece ("llama") and BPE ("gpt2") models.
 *
 * Token count, spellings, scores and types come from parallel arrays whose
 * element types and lengths are checked against each other: the file is
 * untrusted, and a short scores array must be an error, not a read past it.
 */
#include "tokenizer/internal.h"

#include <string.h>

#include "format/gguf.h"
#include "util/err.h"

#define MAX_VOCAB (1 << 24)

static int is_int_type(uint32_t t)
{
	return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_UINT16 ||
	       t == GGUF_TYPE_INT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 ||
	       t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

/* A parallel numeric array: absent is fine (NULL), anything else must have
 * n elements of an acceptable type. */
static int parallel_array(const struct gguf *g, const char *key, uint64_t n, int want_float,
			  const struct gguf_kv **out, struct ada_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(g, key);

	*out = NULL;
	if (!kv)
		return ADA_OK;
	if (kv->type != GGUF_TYPE_ARRAY ||
	    !(want_float ? kv->v.arr.type == GGUF_TYPE_FLOAT32 || kv->v.arr.type == GGUF_TYPE_FLOAT64
			 : is_int_type(kv->v.arr.type)))
		return ada_fail(err, ADA_EFORMAT, "%s: metadata '%s' is not an array of %s",
				g->file.path, key, want_float ? "floats" : "integers");
	if (kv->v.arr.n != n)
		return ada_fail(err, ADA_EFORMAT, "%s: metadata '%s' has %llu entries for %llu tokens",
				g->file.path, key, (unsigned long long)kv->v.arr.n,
				(unsigned long long)n);
	*out = kv;
	return ADA_OK;
}

/* An optional token id: absent leaves *id alone. */
static int read_id(const struct gguf *g, const char *key, int32_t *id, struct ada_err *err)
{
	uint64_t v;
	int rc = gguf_get_u64(g, key, &v, err);

	if (rc == ADA_ENOTFOUND) {
		ada_err_clear(err);
		return ADA_OK;
	}
	if (rc)
		return rc;
	if (v >= MAX_VOCAB)
		return ada_fail(err, ADA_EFORMAT, "%s: metadata '%s' = %llu is not a token id",
				g->file.path, key, (unsigned long long)v);
	*id = (int32_t)v;
	return ADA_OK;
}

/* An optional boolean: absent (or not a boolean) leaves *flag alone. */
static void read_flag(const struct gguf *g, const char *key, int *flag)
{
	const struct gguf_kv *kv = gguf_find_kv(g, key);

	if (kv && (kv->type == GGUF_TYPE_BOOL || kv->type == GGUF_TYPE_UINT8))
		*flag = kv->v.u != 0;
}

int gguf_vocab_read(const struct gguf *g, struct tokenizer *t, struct ada_err *err)
{
	const struct gguf_kv *tokens = gguf_find_kv(g, "tokenizer.ggml.tokens"), *scores, *types;
	uint64_t n;
	int rc;

	if (!tokens)
		return ada_fail(err, ADA_EFORMAT, "%s: missing metadata 'tokenizer.ggml.tokens'",
				g->file.path);
	if (tokens->type != GGUF_TYPE_ARRAY || tokens->v.arr.type != GGUF_TYPE_STRING)
		return ada_fail(err, ADA_EFORMAT,
				"%s: metadata 'tokenizer.ggml.tokens' is not an array of strings",
				g->file.path);
	n = tokens->v.arr.n;
	if (n == 0 || n > MAX_VOCAB)
		return ada_fail(err, ADA_EFORMAT, "%s: tokenizer.ggml.tokens has %llu tokens",
				g->file.path, (unsigned long long)n);
	rc = parallel_array(g, "tokenizer.ggml.scores", n, 1, &scores, err);
	if (!rc)
		rc = parallel_array(g, "tokenizer.ggml.token_type", n, 0, &types, err);
	if (rc)
		return rc;
	if (vocab_init(&t->vocab, (int32_t)n))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (uint64_t i = 0; i < n; i++) {
		int64_t type = types ? gguf_arr_i64(types, i) : TOKT_NORMAL;
		float score = scores ? (float)gguf_arr_f64(scores, i) : 0.0f;

		if (type == 0)          /* "undefined" in old converters */
			type = TOKT_NORMAL;
		if (type < TOKT_NORMAL || type > TOKT_BYTE)
			return ada_fail(err, ADA_EFORMAT, "%s: token %llu has unknown type %lld",
					g->file.path, (unsigned long long)i, (long long)type);
		if (vocab_add(&t->vocab, tokens->v.arr.strs[i], tokens->v.arr.lens[i], score,
			      (uint8_t)type))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	rc = tokenizer_index_vocab(t, err);
	if (rc)
		return rc;

	if ((rc = read_id(g, "tokenizer.ggml.bos_token_id", &t->bos, err)) ||
	    (rc = read_id(g, "tokenizer.ggml.eos_token_id", &t->eos, err)) ||
	    (rc = read_id(g, "tokenizer.ggml.unknown_token_id", &t->unk, err)) ||
	    (rc = read_id(g, "tokenizer.ggml.padding_token_id", &t->pad, err)))
		return rc;
	if (t->unk < 0) {
		for (int32_t id = 0; id < t->vocab.n; id++) {
			if (t->vocab.type[id] == TOKT_UNKNOWN) {
				t->unk = id;
				break;
			}
		}
	}
	read_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
	read_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos);

	/* Tokens that text must never split: user-defined ones always match,
	 * control ones on request (TOK_PARSE_SPECIAL). */
	for (int32_t id = 0; id < t->vocab.n; id++) {
		uint8_t type = t->vocab.type[id];
		size_t len;
		const char *s = vocab_text(&t->vocab, id, &len);

		if (!len || (type != TOKT_USER && type != TOKT_CONTROL && type != TOKT_UNKNOWN))
			continue;
		if (special_set_add(&t->specials, s, len, id, type != TOKT_USER))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	return ADA_OK;
}
