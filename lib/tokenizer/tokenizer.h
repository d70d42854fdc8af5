/*
 * tokenizer — text to token ids and back, for every tokenizer we load.
 *
 * One interface over several algorithms:
 *   - SentencePiece-style BPE with byte fallback, scored merges (llama2.c
 *     tokenizer.bin; GGUF tokenizer.ggml.model = "llama");
 *   - GPT-2 byte-level BPE with ranked merges (GGUF "gpt2" with the GPT-2,
 *     Llama 3 or Qwen2 pre-tokenizer; Hugging Face tokenizer.json with a
 *     ByteLevel pre-tokenizer);
 *   - Hugging Face tokenizer.json BPE with byte fallback (Llama 2 / Mistral
 *     style: Metaspace or Prepend+Replace normalizers);
 *   - BERT's WordPiece (vocab.txt; GGUF tokenizer.ggml.model = "bert";
 *     tokenizer.json with a WordPiece model), with BERT's normalizer
 *     (control characters, Chinese characters, accents, lowercase) and
 *     pre-tokenizer (white space and punctuation);
 *   - SentencePiece's Unigram (DeBERTa-v3, T5, ALBERT: spm.model, or
 *     tokenizer.json with a Unigram model), Viterbi over piece scores with
 *     byte fallback, the precompiled normalization rules and the U+2581
 *     word-boundary convention; spm.model's BPE models load too.
 * Encoding matches llama.cpp / Hugging Face token for token (the llama.cpp
 * conformance vectors pass). A classifier's input, one text or a pair of
 * texts framed by special tokens with token type ids, comes from
 * tokenizer_encode_pair(). The tokenizer is immutable after load, so one
 * tokenizer may be shared by several threads.
 *
 * Ownership: a loaded tokenizer is owned by the caller (tokenizer_free);
 * it keeps no reference to the file or struct gguf it came from. Every other
 * pointer argument is borrowed for the duration of the call.
 */
#ifndef ADA_TOKENIZER_TOKENIZER_H
#define ADA_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "util/ivec.h"   /* struct ivec: token id arrays */

struct gguf;
struct tokenizer;


enum tokenizer_flags {
	TOK_ADD_BOS = 1 << 0,        /* prepend BOS (when the tokenizer has one) */
	TOK_ADD_EOS = 1 << 1,        /* append EOS (when the tokenizer has one) */
	TOK_NO_PREFIX_SPACE = 1 << 2, /* no dummy-prefix space (SentencePiece,
	                               * Metaspace, ByteLevel add_prefix_space): the
	                               * text continues earlier text, e.g. a
	                               * completion after its prompt */
	TOK_PARSE_SPECIAL = 1 << 3,  /* control tokens written in the text ("<s>",
	                               * "<|im_start|>") become those tokens; without
	                               * it they are ordinary text. User-defined /
	                               * non-special added tokens always match. */
	TOK_AFTER_SPECIAL = 1 << 4,  /* the text follows a special token of the same
	                               * string (a chat template's): it is encoded as
	                               * the segment after a special token is, which
	                               * is not the start of the input (Metaspace's
	                               * "first" prefix is not added, a Prepend
	                               * normalizer's is) */
};

/* llama2.c tokenizer.bin; vocab_size comes from the model (0 = as many
 * tokens as the file holds). */
int tokenizer_load_llama2c(const char *path, int vocab_size, struct tokenizer **out,
			   struct ada_err *err);
/* The tokenizer embedded in a GGUF file (tokenizer.ggml.*); g is only read
 * during the call. */
int tokenizer_load_gguf(const struct gguf *g, struct tokenizer **out, struct ada_err *err);
/* Hugging Face tokenizer.json. BOS/EOS/PAD come from a tokenizer_config.json
 * in the same directory when there is one, else from the post-processor
 * template and the usual names ("<s>", "</s>", "<|endoftext|>", ...). */
int tokenizer_load_hf(const char *path, struct tokenizer **out, struct ada_err *err);
/* A GPT-2 byte-level BPE tokenizer from the slow tokenizer's two files,
 * vocab.json (token -> id) and merges.txt (one "a b" merge per line, in
 * rank order, after a "#version" line), as transformers converts
 * BartTokenizer / RobertaTokenizer into a fast one: ByteLevel pre-tokenizer
 * and decoder without a prefix space, <s> $A </s> framing
 * (RobertaProcessing), and <s> <pad> </s> <unk> <mask> (those present) as
 * special tokens, <mask> taking the space before it. A
 * tokenizer_config.json beside vocab.json has the last word on BOS, EOS
 * and PAD, as for tokenizer.json. */
int tokenizer_load_gpt2_files(const char *vocab_path, const char *merges_path,
			      struct tokenizer **out, struct ada_err *err);
/* BERT's vocab.txt: one WordPiece token per line (the line number is the
 * id). The text pipeline is BertTokenizer's: uncased (lowercase, accents
 * stripped), Chinese characters split, [UNK] [CLS] [SEP] [PAD] [MASK] as
 * special tokens, unless a tokenizer_config.json in the same directory
 * says otherwise (do_lower_case, strip_accents, tokenize_chinese_chars,
 * unk_token, cls_token, sep_token, pad_token, mask_token). BOS and EOS are
 * [CLS] and [SEP]. */
int tokenizer_load_wordpiece(const char *path, struct tokenizer **out, struct ada_err *err);
/* SentencePiece's spm.model (a ModelProto; model_type UNIGRAM or BPE).
 * Pieces keep their ids; user-defined pieces are matched verbatim, control
 * pieces only as specials. The normalizer spec is followed: the precompiled
 * charsmap, remove_extra_whitespaces (strip, collapse runs of spaces),
 * add_dummy_prefix, escape_whitespaces (U+2581). Framing: a
 * tokenizer_config.json (or special_tokens_map.json) beside it naming
 * cls_token / sep_token, or the pieces [CLS] and [SEP] (DeBERTa-v2/v3's
 * convention), give [CLS] a [SEP] b [SEP] with token types 0 / 1; a
 * mask_token not among the pieces is added after them, as
 * DebertaV2Tokenizer does. Without either the tokenizer frames as a
 * decoder (BOS per trainer_spec). */
int tokenizer_load_spm(const char *path, struct tokenizer **out, struct ada_err *err);
/* By content: GGUF file, tokenizer.json, spm.model (a protobuf starting
 * with its pieces), a vocab.txt (UTF-8 text without NUL bytes), or
 * llama2.c tokenizer.bin (vocab_size is used only for the latter). */
int tokenizer_load(const char *path, int vocab_size, struct tokenizer **out, struct ada_err *err);
void tokenizer_free(struct tokenizer *t);

/* Append the ids of text[0..len) to out (flags: enum tokenizer_flags).
 * Invalid UTF-8 is an error (ADA_EINVAL naming the byte offset); on error
 * out is left as it was. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
		     unsigned flags, struct ivec *out, struct ada_err *err);

/* tokenizer_encode, and where each id came from: two int32 per id appended
 * to offs, the byte range [start, end) of text it stands for (UTF-8 bytes
 * of the text given, whatever the normalizers did to them: a lowercased
 * or NFKC-folded character maps back to the original's bytes). Added
 * BOS/EOS get an empty range at the start / end; a piece that is only a
 * dummy prefix ("▁" alone) gets the character it stands before; a
 * token's range may include the white space a U+2581 or "Ġ" stands for
 * (callers trim). Texts of 2 GiB or more are refused. */
int tokenizer_encode_offsets(const struct tokenizer *t, const char *text, size_t len,
			     unsigned flags, struct ivec *out, struct ivec *offs,
			     struct ada_err *err);

/* The bytes of token id as it appears after token prev (-1: at the start of
 * the text): byte tokens <0xAB> become the raw byte, control tokens give
 * nothing, and a tokenizer that adds a dummy-prefix space drops the leading
 * space of the first piece (prev is -1 or BOS). Returns the byte count
 * written to buf, or -1 for a bad id or when the piece does not fit in cap
 * (tokenizer_max_piece() bytes always fit). Pieces of a multi-byte
 * character split across byte tokens are not valid UTF-8 on their own. */
int tokenizer_decode_token(const struct tokenizer *t, int32_t prev, int32_t id,
			   char *buf, size_t cap);
size_t tokenizer_max_piece(const struct tokenizer *t);

/* Decode a whole sequence into a malloc'ed NUL-terminated string (caller
 * frees), by the rules of tokenizer_decode_token. An id out of range is an
 * error. */
int tokenizer_decode(const struct tokenizer *t, const int32_t *ids, size_t n,
		     char **out, size_t *out_len, struct ada_err *err);

/*
 * A classifier's input: text a, or the pair (a, b) when b is not NULL,
 * framed by the tokenizer's special tokens, appended to ids, with each
 * token's type id (segment) appended to type_ids (which may be NULL).
 *
 *   encoder tokenizers: the post-processor's template. Built in for
 *   WordPiece vocabularies (vocab.txt, GGUF "bert"); from tokenizer.json's
 *   BertProcessing, RobertaProcessing, or TemplateProcessing when it ends a
 *   single text with a special token (BERT: [CLS] $A [SEP]):
 *     BERT     [CLS] a [SEP]     [CLS] a [SEP] b [SEP]      types 0.. / 1..
 *     RoBERTa  <s> a </s>        <s> a </s> </s> b </s>     types all 0
 *   decoder tokenizers (every other: Llama, Mistral, Qwen2, GPT-2):
 *     [BOS] a                    [BOS] a " "b               types all 0
 *   BOS only when the tokenizer asks for it (tokenizer_wants_bos); b is
 *   encoded as the continuation " " + b; no separator and no EOS, so the
 *   last token is the last token of the text, where a decoder classifies.
 *
 * Texts never parse special tokens: "[SEP]" written in a text is text.
 * max_len > 0 bounds the whole sequence: when it does not fit, tokens are
 * dropped from the end of the texts, "longest_first": one at a time from
 * the longer text (from b on a tie) until it fits, so a long text is cut
 * down to the other's length before both shrink together; a single text
 * just loses its tail. max_len no larger than the number of special tokens
 * is an error (ADA_EINVAL, param "max_len"); max_len 0 means no limit.
 * *truncated (may be NULL) receives the number of text tokens dropped.
 * Errors name the text ("text_b: text is not valid UTF-8 at byte 3"); on
 * error ids and type_ids are left as they were.
 */
int tokenizer_encode_pair(const struct tokenizer *t, const char *a, size_t a_len,
			  const char *b, size_t b_len, int max_len, struct ivec *ids,
			  struct ivec *type_ids, int *truncated, struct ada_err *err);
/* The framing of tokenizer_encode_pair around texts already encoded:
 * a[0..na) and b[0..nb) (b NULL: one text) with the specials between and
 * around them, appended to ids (and each token's type to type_ids, may be
 * NULL); *b_start (may be NULL) receives the index in ids where b's first
 * token went. No truncation: the caller sized a and b. ADA_EINVAL when
 * the tokenizer cannot frame a pair. */
int tokenizer_frame(const struct tokenizer *t, const int32_t *a, size_t na, const int32_t *b,
		    size_t nb, struct ivec *ids, struct ivec *type_ids, size_t *b_start,
		    struct ada_err *err);
/* Whether the tokenizer has an encoder's template (BERT's, RoBERTa's,
 * DeBERTa's: a special token after the text), not a decoder's BOS only. */
int tokenizer_is_encoder(const struct tokenizer *t);
/* Special tokens tokenizer_encode_pair adds to one text (pair = 0) or a
 * pair; -1 when the tokenizer cannot frame a pair. */
int tokenizer_special_count(const struct tokenizer *t, int pair);

int tokenizer_vocab_size(const struct tokenizer *t);
int32_t tokenizer_bos(const struct tokenizer *t);   /* -1 if none */
int32_t tokenizer_eos(const struct tokenizer *t);   /* -1 if none */
int32_t tokenizer_pad(const struct tokenizer *t);   /* -1 if none */
int32_t tokenizer_unk(const struct tokenizer *t);   /* -1 if none */
/* Does the tokenizer's own configuration ask for BOS / EOS around a text
 * (GGUF add_bos_token, tokenizer_config.json add_bos_token, ...)? Callers
 * turn this into TOK_ADD_BOS / TOK_ADD_EOS. */
int tokenizer_wants_bos(const struct tokenizer *t);
int tokenizer_wants_eos(const struct tokenizer *t);
/* The vocabulary's spelling of id (not NUL-terminated; *len set), or NULL. */
const char *tokenizer_token_text(const struct tokenizer *t, int32_t id, size_t *len);
/* "spm", "gpt2", "hf-bpe", "wordpiece", "unigram" */
const char *tokenizer_kind(const struct tokenizer *t);

/* The chat template stored with the tokenizer (GGUF tokenizer.chat_template;
 * beside a tokenizer.json: tokenizer_config.json's chat_template or
 * chat_template.jinja), NUL-terminated, *len (may be NULL) its length; NULL
 * when there is none. Borrowed from t. */
const char *tokenizer_chat_template(const struct tokenizer *t, size_t *len);

/* The leftmost special or added token spelled in text[from..len) (what
 * TOK_PARSE_SPECIAL would match there): 1 with its start, length (white
 * space it strips included) and id, or 0 when there is none. */
int tokenizer_special_match(const struct tokenizer *t, const char *text, size_t len,
			    size_t from, size_t *at, size_t *mlen, int32_t *id);

#endif
