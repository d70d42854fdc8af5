/*
 * bpe — GPT-2 style byte-level BPE from GGUF (tokenizer.ggml.model "gpt2").
 *
 * Text is cut into words by the pre-tokenizer regex the file names in
 * tokenizer.ggml.pre (GPT-2's, Llama 3's or Qwen2's; pretok.c), each word's
 * bytes are spelled in GPT-2's printable alphabet (bytes_to_unicode), and
 * the merge loop (merge.c, TOK_ALGO_RANKED) applies tokenizer.ggml.merges
 * by rank, lowest first. Merges are stored as token-id pairs: every symbol
 * in a word is a token, so a pair lookup is one hash probe instead of
 * building and hashing the concatenated string.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "util/err.h"

/* tokenizer.ggml.pre values and the regex each one means. */
static const struct {
	const char *name;
	enum pretok_kind split;
	int ignore_merges;
} pre_types[] = {
	{ "gpt-2", PRETOK_SPLIT_GPT2, 0 },
	{ "llama-bpe", PRETOK_SPLIT_LLAMA3, 1 },
	{ "llama3", PRETOK_SPLIT_LLAMA3, 1 },
	{ "llama-v3", PRETOK_SPLIT_LLAMA3, 1 },
	{ "qwen2", PRETOK_SPLIT_QWEN2, 0 },
};

static int read_merges(const struct gguf *g, struct tokenizer *t, struct ada_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(g, "tokenizer.ggml.merges");
	struct strbuf joined = { 0 };
	int rc = ADA_OK;

	if (!kv)
		return ada_fail(err, ADA_EFORMAT, "%s: missing metadata 'tokenizer.ggml.merges'",
				g->file.path);
	if (kv->type != GGUF_TYPE_ARRAY || kv->v.arr.type != GGUF_TYPE_STRING)
		return ada_fail(err, ADA_EFORMAT,
				"%s: metadata 'tokenizer.ggml.merges' is not an array of strings",
				g->file.path);
	if (kv->v.arr.n > UINT32_MAX || merge_table_init(&t->merges, kv->v.arr.n))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (uint64_t i = 0; i < kv->v.arr.n; i++) {
		const char *s = kv->v.arr.strs[i];
		size_t len = kv->v.arr.lens[i];
		/* The separator is the first space after the first byte, so the
		 * left part may itself be a space (llama.cpp reads it so). */
		const char *sep = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
		int32_t a, b, ab;

		if (!sep || sep == s + len - 1) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: merge %llu ('%.*s') is not 'left right'",
				      g->file.path, (unsigned long long)i, (int)(len > 64 ? 64 : len), s);
			break;
		}
		joined.n = 0;
		if (strbuf_add(&joined, s, (size_t)(sep - s)) ||
		    strbuf_add(&joined, sep + 1, len - (size_t)(sep - s) - 1)) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			break;
		}
		a = vocab_find(&t->vocab, s, (size_t)(sep - s));
		b = vocab_find(&t->vocab, sep + 1, len - (size_t)(sep - s) - 1);
		ab = vocab_find(&t->vocab, joined.p, joined.n);
		/* A merge whose parts or result are not tokens can never apply
		 * to a word made of tokens; skip it as the references do. */
		if (a >= 0 && b >= 0 && ab >= 0)
			merge_table_add(&t->merges, a, b, (uint32_t)i, ab);
	}
	strbuf_release(&joined);
	return rc;
}

int bpe_setup_gguf(const struct gguf *g, struct tokenizer *t, struct ada_err *err)
{
	struct pretok_step split = { .kind = PRETOK_SPLIT_GPT2 };
	struct pretok_step bytelevel = { .kind = PRETOK_BYTELEVEL };
	char *pre = NULL;
	size_t i;
	int rc;

	rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre, err);
	if (rc == ADA_ENOTFOUND) {
		ada_err_clear(err);    /* files from before the key existed: GPT-2 */
	} else if (rc) {
		return rc;
	} else {
		for (i = 0; i < sizeof(pre_types) / sizeof(pre_types[0]); i++)
			if (!strcmp(pre, pre_types[i].name))
				break;
		if (i == sizeof(pre_types) / sizeof(pre_types[0])) {
			rc = ada_fail(err, ADA_EUNSUPPORTED,
				      "%s: pre-tokenizer tokenizer.ggml.pre = '%s' is not supported "
				      "(gpt-2, llama-bpe, qwen2 are)", g->file.path, pre);
			free(pre);
			return rc;
		}
		split.kind = pre_types[i].split;
		t->ignore_merges = pre_types[i].ignore_merges;
		free(pre);
	}
	rc = read_merges(g, t, err);
	if (rc)
		return rc;
	t->algo = TOK_ALGO_RANKED;
	if (tokenizer_add_pretok(t, &split) || tokenizer_add_pretok(t, &bytelevel) ||
	    tokenizer_add_dec(t, DEC_BYTELEVEL, NULL, 0, NULL, 0))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}
