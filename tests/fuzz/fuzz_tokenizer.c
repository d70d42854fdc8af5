/*
 * fuzz_tokenizer — a tokenizer file, then text to encode with it. The
 * input's first byte picks the file's name (what tokenizer_load and its
 * neighbours go by), the rest is split at FUZZ_SEP:
 *   0 the file: tokenizer.bin (llama2.c; the second byte, times 4, is the
 *     model's vocabulary size, 0 = the file's), tokenizer.json, vocab.txt,
 *     or vocab.gguf (a GGUF vocabulary)
 *   1 tokenizer_config.json beside it (left out when empty)
 *   2 a text: encoded and decoded, alone and as a pair, besides the
 *     harness's fixed texts
 * Each is loaded through tokenizer_load (by content) and through its own
 * loader.
 */
#include "fuzz.h"

#include <string.h>

#include "adalora.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenize.h"

void fuzz_setup(void)
{
}

static void use(struct tokenizer *t, const struct fuzz_part *text)
{
	fuzz_tokenize(t);
	fuzz_tokenize_text(t, (const char *)text->data, text->size);
	tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "tokenizer.bin", "tokenizer.json", "vocab.txt",
					     "vocab.gguf" };
	struct fuzz_part p[3];
	const char *dir, *path;
	char rel[64];
	struct ada_err err;
	struct tokenizer *t;
	int kind, vocab = 0;
	int rc;

	if (size < 2)
		return 0;
	kind = data[0] % 4;
	if (kind == 0)
		vocab = data[1] * 4;
	fuzz_split(data + 2, size - 2, p, 3);
	dir = fuzz_subdir("tok");
	(void)dir;
	snprintf(rel, sizeof(rel), "tok/%s", names[kind]);
	path = fuzz_write(rel, p[0].data, p[0].size);
	if (p[1].size)
		fuzz_write("tok/tokenizer_config.json", p[1].data, p[1].size);

	if (!(rc = tokenizer_load(path, vocab, &t, &err)))
		use(t, &p[2]);
	else
		fuzz_check_err(&err);
	switch (kind) {
	case 0:
		rc = tokenizer_load_llama2c(path, vocab, &t, &err);
		break;
	case 1:
		rc = tokenizer_load_hf(path, &t, &err);
		break;
	case 2:
		rc = tokenizer_load_wordpiece(path, &t, &err);
		break;
	default: {
		struct gguf *g;
		rc = gguf_open(path, &g, &err);
		if (!rc) {
			rc = tokenizer_load_gguf(g, &t, &err);
			gguf_close(g);
		}
	}
	}
	if (!rc)
		use(t, &p[2]);
	else
		fuzz_check_err(&err);
	return 0;
}
