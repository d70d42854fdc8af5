/*
 * tiny_bart — small random BART models, written as Hugging Face
 * directories (config.json as transformers writes it for
 * BartForConditionalGeneration, model.safetensors, and the slow
 * tokenizer's vocab.json + merges.txt), for the loader, forward, training,
 * decoding, adapter and daemon tests.
 *
 * The tokenizer is GPT-2 byte-level BPE over a tiny vocabulary:
 *   0 <s>, 1 <pad>, 2 </s>, 3 <unk>,
 *   4 + b: the byte b (GPT-2's byte-to-unicode symbol),
 *   260 + i: "Ġa" + i for the 26 lowercase letters (a space then the letter;
 *            merges "Ġ a" ... "Ġ z"), so " x" is one token,
 *   286 <mask>
 * which makes a text of single letters separated by spaces one token per
 * letter: "a b c" -> a, Ġb, Ġc (plus <s> ... </s> framing).
 */
#ifndef ADA_TESTS_TINY_BART_H
#define ADA_TESTS_TINY_BART_H

#include <stdint.h>

#include "format/safetensors.h"
#include "model/model.h"

#define TINY_BART_VOCAB 287
#define TINY_BART_BYTE(b) (4 + (int)(unsigned char)(b))
#define TINY_BART_SPACE_LETTER(c) (260 + ((c) - 'a'))
#define TINY_BART_MASK 286

/* dim 32, FFN 64, 2 encoder + 2 decoder layers (n_layers 4), 4 heads of 8,
 * the vocabulary above, 64 positions (+2), pad 1, bos 0, eos 2, decoder
 * start 2, no forced BOS, embed_scale 1, eps 1e-5, tied. */
void tiny_bart_config(struct model_config *cfg);

/* Random weights for cfg (Linear weights N(0, 0.2^2), biases N(0, 0.1^2),
 * LayerNorms near 1 and 0, embeddings and positions N(0, 0.5^2),
 * final_logits_bias N(0, 0.1^2); an untied lm_head when cfg->tied_output
 * is 0); *out owned by the caller (model_free). Deterministic in seed. */
int tiny_bart_random(const struct model_config *cfg, uint64_t seed, struct model **out);

/* Round every weight to ST_F16 or ST_BF16 precision in place. */
void tiny_bart_round(struct model *m, enum st_dtype dtype);

struct tiny_bart_opts {
	enum st_dtype dtype;        /* ST_F32 (the zero value), ST_F16, ST_BF16 */
	int bare;                   /* BartModel's names (no "model.", no final_logits_bias) */
	int embed_tokens_name;      /* the shared embedding kept as
	                             * model.encoder.embed_tokens.weight, not model.shared */
	int no_tokenizer;           /* leave vocab.json / merges.txt out */
	json_t *config_extra;       /* keys set over config.json's (borrowed), or NULL */
};

/* The directory (created if needed). opts NULL: F32, prefixed, tokenizer. */
int tiny_write_bart_hf(const struct model *m, const char *dir, const struct tiny_bart_opts *opts,
		       struct ada_err *err);

/* vocab.json and merges.txt of the vocabulary above into dir. */
int tiny_write_bart_tokenizer(const char *dir, struct ada_err *err);

/* GPT-2's byte-to-unicode symbol of byte b as UTF-8 into buf (>= 3 bytes);
 * its length. */
int tiny_gpt2_byte_symbol(unsigned char b, char *buf);

/* dir: a random tiny BART (tiny_bart_config, tiny_bart_random with seed)
 * as a Hugging Face directory with its tokenizer. */
int tiny_make_bart(const char *dir, uint64_t seed, struct ada_err *err);

/* The synthetic seq2seq task: n lines {"source": "c a e", "target": "e a c"}
 * of min_len..max_len letters drawn from the first `letters` of a..z,
 * separated by spaces (one token each), the target the source reversed.
 * doc_names: {"document","summary"} instead, as XSum names them. */
int tiny_write_reverse(const char *path, int n, int min_len, int max_len, int letters,
		       uint64_t seed, int doc_names, struct ada_err *err);

#endif
