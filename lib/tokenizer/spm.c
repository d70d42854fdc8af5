/*
 * spm — SentencePiece-style BPE: llama2.c's tokenizer.bin and GGUF
 * tokenizer.ggml.model = "llama".
 *
 * The algorithm (merge.c, TOK_ALGO_SCORED) is llama2.c's run.c encode and
 * llama.cpp's llm_tokenizer_spm: a dummy-prefix space before non-empty
 * text, code points as initial symbols, then repeatedly the adjacent pair
 * whose concatenation is a token with the highest score; what never became
 * a token is spelled in <0xAB> byte tokens. The two formats differ only in
 * spelling: llama.cpp's vocabularies write spaces as U+2581, tokenizer.bin
 * stores them as plain spaces.
 *
 * tokenizer.bin: u32 max_token_length, then per token f32 score, i32 byte
 * length, bytes. It has no token count (the model supplies it) and no token
 * types; llama2.c fixes <unk> = 0, BOS = 1, EOS = 2.
 */
#include "tokenizer/internal.h"

#include <string.h>

#include "format/gguf.h"
#include "util/err.h"
#include "util/fileio.h"

#define MAX_VOCAB (1 << 24)

static const char METASPACE[] = "\xe2\x96\x81";      /* U+2581 */

/* Walk the token records of a tokenizer.bin: want < 0 counts them to the
 * end of the file, else exactly want are read (and added to vocab unless it
 * is NULL); *count is how many there were. */
static int read_records(const struct mapped_file *mf, int64_t want, struct vocab *vocab,
			int64_t *count, struct ada_err *err)
{
	const uint8_t *p = mf->data + 4, *end = mf->data + mf->size;
	uint32_t max_len;
	int64_t i;

	memcpy(&max_len, mf->data, 4);
	for (i = 0; want < 0 ? p < end : i < want; i++) {
		float score;
		int32_t len;

		if (end - p < 8)
			return ada_fail(err, ADA_EFORMAT, "%s: truncated at token %lld%s", mf->path,
					(long long)i, want < 0 ? "" : " (vocab size mismatch?)");
		memcpy(&score, p, 4);
		memcpy(&len, p + 4, 4);
		p += 8;
		/* llama2.c sizes its buffers by max_token_length: a longer
		 * token is corruption, not just a long token. */
		if (len < 0 || (uint32_t)len > max_len)
			return ada_fail(err, ADA_EFORMAT,
					"%s: token %lld has length %d (max_token_length is %u)",
					mf->path, (long long)i, len, max_len);
		if (end - p < len)
			return ada_fail(err, ADA_EFORMAT, "%s: truncated inside token %lld",
					mf->path, (long long)i);
		if (i >= MAX_VOCAB)
			return ada_fail(err, ADA_EFORMAT, "%s: more than %d tokens", mf->path,
					MAX_VOCAB);
		if (vocab) {
			const char *s = (const char *)p;
			uint8_t type = TOKT_NORMAL;

			if (i == 0)
				type = TOKT_UNKNOWN;
			else if (i <= 2)
				type = TOKT_CONTROL;
			else if (len == 6 && !memcmp(s, "<0x", 3) && s[5] == '>')
				type = TOKT_BYTE;
			if (vocab_add(vocab, s, (size_t)len, score, type))
				return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		p += len;
	}
	if (p != end)
		return ada_fail(err, ADA_EFORMAT,
				"%s: %zu bytes left after %lld tokens: vocab size mismatch "
				"(the file holds more tokens)", mf->path, (size_t)(end - p),
				(long long)i);
	*count = i;
	return ADA_OK;
}

/* The settings of a SentencePiece tokenizer; space is how its vocabulary
 * spells a space (" " in tokenizer.bin, U+2581 in GGUF). */
static int spm_pipeline(struct tokenizer *t, const char *space, size_t space_len,
			int add_prefix)
{
	t->algo = TOK_ALGO_SCORED;
	t->byte_fallback = 1;
	t->strip_first_space = add_prefix;
	if (add_prefix && tokenizer_add_norm(t, NORM_PREPEND, " ", 1, NULL, 0))
		return -1;
	if (space_len != 1 || space[0] != ' ') {
		if (tokenizer_add_norm(t, NORM_REPLACE, " ", 1, space, space_len) ||
		    tokenizer_add_dec(t, DEC_REPLACE, space, space_len, " ", 1))
			return -1;
	}
	return tokenizer_add_dec(t, DEC_BYTEFALLBACK, NULL, 0, NULL, 0);
}

int tokenizer_load_llama2c(const char *path, int vocab_size, struct tokenizer **out,
			   struct ada_err *err)
{
	struct mapped_file mf;
	struct tokenizer *t = NULL;
	int64_t n;
	int rc;

	*out = NULL;
	if (vocab_size < 0 || vocab_size > MAX_VOCAB)
		return ada_fail(err, ADA_EINVAL, "%s: vocab size %d is out of range", path, vocab_size);
	rc = mapped_file_open(path, &mf, err);
	if (rc)
		return rc;
	if (mf.size < 4) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: %zu bytes is too short for a tokenizer.bin",
			      path, mf.size);
		goto out_close;
	}
	n = vocab_size;
	if (!n && (rc = read_records(&mf, -1, NULL, &n, err)))
		goto out_close;
	if (n < 3) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: %lld tokens; llama2.c needs <unk>, BOS and EOS",
			      path, (long long)n);
		goto out_close;
	}
	t = tokenizer_alloc("spm", path);
	if (!t || vocab_init(&t->vocab, (int32_t)n)) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_close;
	}
	rc = read_records(&mf, n, &t->vocab, &n, err);
	if (rc)
		goto out_close;
	rc = tokenizer_index_vocab(t, err);
	if (rc)
		goto out_close;
	t->unk = 0;
	t->bos = 1;
	t->eos = 2;
	t->add_bos = 1;
	if (spm_pipeline(t, " ", 1, 1)) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_close;
	}
	mapped_file_close(&mf);
	return tokenizer_finish(t, out, err);
out_close:
	tokenizer_free(t);
	mapped_file_close(&mf);
	return rc;
}

/* The first control token spelled s, or -1. */
static int32_t find_control(const struct tokenizer *t, const char *s)
{
	for (int32_t id = 0; id < t->vocab.n; id++) {
		size_t len;
		const char *txt = vocab_text(&t->vocab, id, &len);
		if (t->vocab.type[id] == TOKT_CONTROL && len == strlen(s) && !memcmp(txt, s, len))
			return id;
	}
	return -1;
}

int spm_setup_gguf(const struct gguf *g, struct tokenizer *t, struct ada_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(g, "tokenizer.ggml.add_space_prefix");
	int add_prefix = 1;

	if (kv && (kv->type == GGUF_TYPE_BOOL || kv->type == GGUF_TYPE_UINT8))
		add_prefix = kv->v.u != 0;
	if (t->bos < 0)
		t->bos = find_control(t, "<s>");
	if (t->eos < 0)
		t->eos = find_control(t, "</s>");
	if (spm_pipeline(t, METASPACE, sizeof(METASPACE) - 1, add_prefix))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}
