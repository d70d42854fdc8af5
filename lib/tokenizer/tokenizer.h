/*
 * tokenizer — text to token ids and back, for every tokenizer we load.
 *
 * One interface over several algorithms:
 *   - SentencePiece-style BPE with byte fallback, scored merges (llama2.c
 *     tokenizer.bin; GGUF tokenizer.ggml.model = "llama");
 *   - GPT-2 byte-level BPE with ranked merges (GGUF "gpt2"; Hugging Face
 *     tokenizer.json with a ByteLevel pre-tokenizer);
 *   - Hugging Face tokenizer.json BPE with byte fallback (Llama 2 / Mistral
 *     style: Metaspace or Prepend+Replace normalizers).
 * The vocabulary is immutable after load, so one tokenizer may be shared by
 * several threads.
 */
#ifndef ADA_TOKENIZER_TOKENIZER_H
#define ADA_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "../adalora.h"
#include "../util/ivec.h"   /* struct ivec: token id arrays */

struct gguf;
struct tokenizer;


enum tokenizer_flags {
	TOK_ADD_BOS = 1 << 0,        /* prepend BOS (when the tokenizer has one) */
	TOK_ADD_EOS = 1 << 1,        /* append EOS */
	TOK_NO_PREFIX_SPACE = 1 << 2, /* SentencePiece: no dummy-prefix space (a
	                               * continuation, e.g. a completion after its prompt) */
};

/* llama2.c tokenizer.bin; vocab_size comes from the model. */
int tokenizer_load_llama2c(const char *path, int vocab_size, struct tokenizer **out,
			   struct ada_err *err);
/* The tokenizer embedded in a GGUF file (tokenizer.ggml.*). */
int tokenizer_load_gguf(const struct gguf *g, struct tokenizer **out, struct ada_err *err);
/* Hugging Face tokenizer.json. */
int tokenizer_load_hf(const char *path, struct tokenizer **out, struct ada_err *err);
/* By content: GGUF file, tokenizer.json, or llama2.c tokenizer.bin
 * (vocab_size needed only for the latter; 0 = take it from the file size). */
int tokenizer_load(const char *path, int vocab_size, struct tokenizer **out, struct ada_err *err);
void tokenizer_free(struct tokenizer *t);

/* Append the ids of text[0..len) to out. Invalid UTF-8 is an error. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
		     unsigned flags, struct ivec *out, struct ada_err *err);

/* The bytes of one token as it appears after `prev` (SentencePiece strips the
 * dummy-prefix space after BOS; byte tokens <0xAB> become the raw byte).
 * Returns the byte count written to buf (at most cap), or -1 for a bad id. */
int tokenizer_decode_token(const struct tokenizer *t, int32_t prev, int32_t id,
			   char *buf, size_t cap);

/* Decode a whole sequence into a malloc'ed NUL-terminated string (caller frees).
 * BOS/EOS and other control tokens produce no text. */
int tokenizer_decode(const struct tokenizer *t, const int32_t *ids, size_t n,
		     char **out, size_t *out_len, struct ada_err *err);

int tokenizer_vocab_size(const struct tokenizer *t);
int32_t tokenizer_bos(const struct tokenizer *t);   /* -1 if none */
int32_t tokenizer_eos(const struct tokenizer *t);   /* -1 if none */
int32_t tokenizer_pad(const struct tokenizer *t);   /* -1 if none */
const char *tokenizer_kind(const struct tokenizer *t);  /* "spm", "gpt2", "hf-bpe", ... */

#endif
