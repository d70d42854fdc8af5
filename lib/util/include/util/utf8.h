/*
 * utf8 — strict UTF-8 decoding and validation.
 *
 * Shared by tokenizers (code point iteration), data loading (files must be
 * valid UTF-8) and the API (request bodies). Strict means RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF.
 */
#ifndef ADA_UTIL_UTF8_H
#define ADA_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decode one code point from s[0..len); returns its byte length (1..4) and
 * sets *cp, or returns 0 when the sequence is invalid or truncated. */
int utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* Encode cp into out (at least 4 bytes); returns the byte count, 0 if cp is invalid. */
int utf8_encode(uint32_t cp, char *out);

/* Offset of the first invalid byte, or len when all of s is valid. */
size_t utf8_validate(const char *s, size_t len);

#endif
