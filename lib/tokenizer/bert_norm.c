/*
 * bert_norm — the character rules of BERT's text preparation that are not
 * plain Unicode operations: what "clean text" removes, which characters
 * are Chinese, and what counts as punctuation.
 *
 * They follow Hugging Face tokenizers' BertNormalizer and BertPreTokenizer
 * (which the llama.cpp conformance vectors were made with), themselves the
 * Rust port of Google BERT's BasicTokenizer:
 *   - clean text drops U+0000, U+FFFD and "control" characters (general
 *     categories Cc, Cf, Co; tab, newline and carriage return excepted),
 *     then turns white space (tab, newline, return, White_Space) into ' ';
 *   - Chinese characters are BERT's list of CJK ideograph blocks (not all
 *     of CJK: Hangul, Hiragana and Katakana are written with spaces);
 *   - punctuation is ASCII punctuation (Google's choice: $, +, ^ ... are
 *     symbols in Unicode but split like punctuation) or any P* category.
 * The lowercase, NFD and accent-stripping steps are unicode.c's.
 */
#include "tokenizer/internal.h"

#include "tokenizer/unicode.h"
#include "util/utf8.h"

int bert_is_punct(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 0x21 && cp <= 0x2f) || (cp >= 0x3a && cp <= 0x40) ||
		       (cp >= 0x5b && cp <= 0x60) || (cp >= 0x7b && cp <= 0x7e);
	return ucd_is_punct(cp);
}

static int is_chinese(uint32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
	       (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
	       (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
	       (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int bert_clean_text(const char *s, size_t len, struct strbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;

	if (strbuf_reserve(out, len))
		return -1;             /* the result is never longer */
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int k;

		if (u[i] < 0x80) {
			unsigned char c = u[i++];
			if (c == '\t' || c == '\n' || c == '\r')
				out->p[out->n++] = ' ';
			else if (c >= 0x20 && c != 0x7f)
				out->p[out->n++] = (char)c;
			continue;      /* other ASCII controls are Cc: dropped */
		}
		k = utf8_decode(u + i, len - i, &cp);
		if (k <= 0)
			return -1;
		if (cp != 0xFFFD && !ucd_is_control(cp)) {
			if (ucd_is_white_space(cp)) {
				out->p[out->n++] = ' ';
			} else {
				memcpy(out->p + out->n, s + i, (size_t)k);
				out->n += (size_t)k;
			}
		}
		i += (size_t)k;
	}
	return 0;
}

int bert_pad_chinese(const char *s, size_t len, struct strbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t from = 0;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int k;

		if (u[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_decode(u + i, len - i, &cp);
		if (k <= 0)
			return -1;
		if (is_chinese(cp)) {
			if (strbuf_add(out, s + from, i - from) || strbuf_add(out, " ", 1) ||
			    strbuf_add(out, s + i, (size_t)k) || strbuf_add(out, " ", 1))
				return -1;
			from = i + (size_t)k;
		}
		i += (size_t)k;
	}
	return strbuf_add(out, s + from, len - from);
}
