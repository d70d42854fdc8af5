/*
 * chat_model — tiny GGUF models whose tokenizer knows chat: a byte-level
 * vocabulary, a family's special tokens, and a chat template in the
 * metadata (tokenizer.chat_template), as the chat tests and the daemon's
 * chat job need.
 *
 * Two vocabularies, both able to spell any UTF-8 text:
 *   CHAT_VOCAB_BYTES  GPT-2 byte-level BPE without merges: token b (0..255)
 *                     is byte b (in GPT-2's printable alphabet), so text
 *                     encodes to its bytes, one id each, and nothing else
 *                     (no dummy prefix): expected ids are written by hand;
 *   CHAT_VOCAB_SPM    SentencePiece with byte fallback (<unk>, the byte
 *                     tokens <0x00>..<0xFF> at 1..256, U+2581 at 257): a
 *                     dummy prefix where the tokenizer adds one, as
 *                     Llama-2's and Mistral's do.
 * The special tokens follow, ids from the end of the base vocabulary in
 * the order given, as control tokens (or as normal tokens, when the family's
 * real tokenizer spells them as text).
 */
#ifndef ADA_TESTS_CHAT_MODEL_H
#define ADA_TESTS_CHAT_MODEL_H

#include <stdint.h>

#include "adalora.h"

enum chat_vocab { CHAT_VOCAB_BYTES, CHAT_VOCAB_SPM };

#define CHAT_VOCAB_BYTES_BASE 256   /* first special id */
#define CHAT_VOCAB_SPM_BASE 258
#define CHAT_SPM_SPACE 257          /* U+2581 */
#define CHAT_SPM_BYTE(b) (1 + (int32_t)(unsigned char)(b))

struct chat_model_opts {
	enum chat_vocab vocab;
	const char *const *specials;     /* NULL-terminated; control tokens */
	const char *bos, *eos;           /* their spellings, among specials; NULL: none */
	const char *chat_template;       /* tokenizer.chat_template; NULL: none */
	const char *name;                /* general.name; NULL: "tiny-chat" */
	int context_length;              /* 0: 256 */
};

/* Write the model (random weights, deterministic in seed) to path. */
int chat_model_write(const char *path, const struct chat_model_opts *o, uint64_t seed,
		     struct ada_err *err);

/* The id special token s gets (its index in o->specials plus the base), or -1. */
int32_t chat_model_special_id(const struct chat_model_opts *o, const char *s);

/* A ChatML template as Qwen2's tokenizer_config.json writes it (with its
 * default system turn), for the daemon's tests. */
extern const char chat_model_chatml_template[];
/* The ChatML special tokens and the options for a ChatML model. */
void chat_model_chatml(struct chat_model_opts *o);

#endif
