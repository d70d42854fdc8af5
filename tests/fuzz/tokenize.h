/*
 * tokenize — what the harnesses do with a tokenizer they loaded: encode
 * texts (every flag, a pair truncated longest-first), decode what came
 * out, token by token and whole, and check the ids are the tokenizer's.
 */
#ifndef ADA_TESTS_FUZZ_TOKENIZE_H
#define ADA_TESTS_FUZZ_TOKENIZE_H

#include <stddef.h>

struct tokenizer;

/* Fixed texts (ASCII, UTF-8 of several scripts, specials written out). */
void fuzz_tokenize(const struct tokenizer *t);
/* The same over text[0..len) (any bytes). */
void fuzz_tokenize_text(const struct tokenizer *t, const char *text, size_t len);

#endif
