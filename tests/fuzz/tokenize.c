/* tokenize — encoding and decoding with a fuzzed tokenizer; see tokenize.h. */
#include "tokenize.h"

#include <string.h>

#include "fuzz.h"
#include "adalora.h"
#include "tokenizer/tokenizer.h"
#include "util/ivec.h"

static void check_ids(const struct tokenizer *t, const struct ivec *v)
{
	int n = tokenizer_vocab_size(t);

	for (size_t i = 0; i < v->n; i++)
		FUZZ_CHECK(v->v[i] >= 0 && v->v[i] < n, "id %d of a vocabulary of %d", v->v[i], n);
}

void fuzz_tokenize_text(const struct tokenizer *t, const char *text, size_t len)
{
	static const unsigned flag_sets[] = {
		0, TOK_ADD_BOS | TOK_ADD_EOS, TOK_NO_PREFIX_SPACE | TOK_PARSE_SPECIAL,
	};
	size_t max_piece = tokenizer_max_piece(t);
	char *piece = malloc(max_piece + 1);
	struct ada_err err;

	if (!piece)
		abort();
	for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
		struct ivec ids = { 0 };
		char *back = NULL;
		size_t back_len;

		if (tokenizer_encode(t, text, len, flag_sets[f], &ids, &err)) {
			fuzz_check_err(&err);
			ivec_release(&ids);
			continue;
		}
		check_ids(t, &ids);
		if (tokenizer_decode(t, ids.v, ids.n, &back, &back_len, &err))
			fuzz_check_err(&err);
		free(back);
		for (size_t i = 0; i < ids.n; i++) {
			int n = tokenizer_decode_token(t, i ? ids.v[i - 1] : -1, ids.v[i], piece,
						       max_piece);
			FUZZ_CHECK(n >= 0 && (size_t)n <= max_piece, "piece of id %d: %d bytes (max %zu)",
				   ids.v[i], n, max_piece);
		}
		ivec_release(&ids);
	}
	free(piece);
	/* the text as a pair, cut to a few lengths */
	for (int max_len = 0; max_len <= 16; max_len += 5) {
		struct ivec ids = { 0 }, types = { 0 };
		int truncated = 0;

		if (tokenizer_special_count(t, 1) < 0)
			break;
		if (!tokenizer_encode_pair(t, text, len / 2, text + len / 2, len - len / 2, max_len,
					   &ids, &types, &truncated, &err)) {
			check_ids(t, &ids);
			FUZZ_CHECK(ids.n == types.n, "%zu ids, %zu types", ids.n, types.n);
			FUZZ_CHECK(max_len == 0 || ids.n <= (size_t)max_len, "%zu ids > %d", ids.n,
				   max_len);
			FUZZ_CHECK(truncated >= 0, "truncated %d", truncated);
		} else {
			fuzz_check_err(&err);
		}
		ivec_release(&ids);
		ivec_release(&types);
	}
	/* every id's text, and a decode of each id alone */
	for (int id = 0; id < tokenizer_vocab_size(t) && id < 4096; id++) {
		size_t n;
		char buf[8];
		(void)tokenizer_token_text(t, id, &n);
		(void)tokenizer_decode_token(t, -1, id, buf, sizeof(buf));
	}
	{
		char buf[64];
		FUZZ_CHECK(tokenizer_decode_token(t, -1, tokenizer_vocab_size(t), buf, sizeof(buf)) < 0 &&
			   tokenizer_decode_token(t, -1, -1, buf, sizeof(buf)) < 0,
			   "an id outside the vocabulary decoded");
	}
}

void fuzz_tokenize(const struct tokenizer *t)
{
	static const char *const texts[] = {
		"Once upon a time, there was a little girl named Lily.",
		" Hello  world\n\n\ttabs and   spaces ",
		"Grüße, ça va? Ελληνικά Русский 日本語の文章 中文 한국어 🙂👍🏽",
		"<s>[CLS] a [SEP] b </s><|endoftext|><unk> <0x41>",
		"3.14159 1,000,000 x^2 (a+b) don't I'm we'll",
		"",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		fuzz_tokenize_text(t, texts[i], strlen(texts[i]));
}
