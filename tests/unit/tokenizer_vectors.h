/*
 * tokenizer_vectors — llama.cpp's tokenizer conformance vectors, shared by
 * the tokenizer tests.
 *
 * A vocab file X has X.inp (test strings separated by
 * "\n__ggml_vocab_test__\n") and X.out (the expected ids, one line per
 * string). Splitting follows llama.cpp's tests/test-tokenizer-0.cpp, which
 * encodes with add_special = false and parse_special = false: flags 0 here.
 */
#ifndef ADA_TESTS_TOKENIZER_VECTORS_H
#define ADA_TESTS_TOKENIZER_VECTORS_H

#include "check.h"

#include "tokenizer/tokenizer.h"
#include "util/fileio.h"

/* Check every vector of vocab against t: exact ids, and, with round_trip,
 * decode(encode(x)) == x (not for BERT, which lowercases and drops spaces).
 * Returns the number of vectors (0 if the files are missing). */
static inline int check_vectors_opt(const struct tokenizer *t, const char *vocab, int round_trip)
{
	static const char sep[] = "\n__ggml_vocab_test__\n";
	char path[4096], *inp = NULL, *outs = NULL, *p, *o;
	size_t inl, outl;
	struct ada_err err;
	int n = 0;

	snprintf(path, sizeof(path), "%s.inp", vocab);
	if (file_read_all(path, &inp, &inl, &err)) {
		CHECK_MSG(0, "%s", err.msg);
		return 0;
	}
	snprintf(path, sizeof(path), "%s.out", vocab);
	if (file_read_all(path, &outs, &outl, &err)) {
		CHECK_MSG(0, "%s", err.msg);
		free(inp);
		return 0;
	}
	p = inp;
	o = outs;
	while (p < inp + inl) {
		char *q = strstr(p, sep), *eol = strchr(o, '\n'), *dec = NULL;
		size_t len = q ? (size_t)(q - p) : strlen(p), dec_len = 0, k = 0;
		struct ivec ids = { 0 };
		int ok;

		CHECK(eol != NULL);
		if (!eol)
			break;
		*eol = '\0';
		CHECK_OK(tokenizer_encode(t, p, len, 0, &ids, &err), &err);
		/* Compare with the expected line, " 1 2 3". */
		ok = 1;
		for (char *s = o; ok && *s;) {
			char *end;
			long v = strtol(s, &end, 10);
			if (end == s)
				break;
			ok = k < ids.n && ids.v[k] == v;
			k++;
			s = end;
		}
		ok = ok && k == ids.n;
		CHECK_MSG(ok, "vector %d of %s: '%.*s'\n  expected%s\n  got      %zu ids", n,
			  vocab, (int)len, p, o, ids.n);
		if (round_trip) {
			CHECK_OK(tokenizer_decode(t, ids.v, ids.n, &dec, &dec_len, &err), &err);
			CHECK_MSG(dec && dec_len == len && !memcmp(dec, p, len),
				  "vector %d: round trip of '%.*s' gave '%s'", n, (int)len, p,
				  dec ? dec : "");
			free(dec);
		}
		ivec_release(&ids);
		n++;
		o = eol + 1;
		p = q ? q + strlen(sep) : inp + inl;
	}
	free(inp);
	free(outs);
	return n;
}

static inline int check_vectors(const struct tokenizer *t, const char *vocab)
{
	return check_vectors_opt(t, vocab, 1);
}

#endif
