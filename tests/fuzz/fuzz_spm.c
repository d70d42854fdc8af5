/*
 * fuzz_spm — SentencePiece's spm.model: the protobuf reader (every field
 * length against what is left of its message), the pieces, the trainer
 * and normalizer specs, the precompiled charsmap (a double array walked
 * with every index checked), then text through the loaded tokenizer. The
 * input is split at FUZZ_SEP:
 *   0 spm.model
 *   1 tokenizer_config.json beside it (left out when empty)
 *   2 a text: encoded (with offsets too) and decoded, besides the fixed texts
 * Loaded through tokenizer_load_spm and through tokenizer_load (by content).
 */
#include "fuzz.h"

#include <string.h>

#include "adalora.h"
#include "tokenizer/tokenizer.h"
#include "tokenize.h"

void fuzz_setup(void)
{
}

/* Offsets: one range per id, each inside the text and not reversed. */
static void check_offsets(const struct tokenizer *t, const char *text, size_t len)
{
	struct ivec ids = { 0 }, offs = { 0 };
	struct ada_err err;

	if (tokenizer_encode_offsets(t, text, len, 0, &ids, &offs, &err)) {
		/* A failed encode leaves the vectors' memory to us, as any call. */
		fuzz_check_err(&err);
		goto out_release;
	}
	FUZZ_CHECK(offs.n == 2 * ids.n, "%zu offsets for %zu ids", offs.n, ids.n);
	for (size_t i = 0; i < ids.n; i++)
		FUZZ_CHECK(offs.v[2 * i] >= 0 && offs.v[2 * i] <= offs.v[2 * i + 1] &&
			   (size_t)offs.v[2 * i + 1] <= len, "token %zu: [%d, %d) of %zu bytes", i,
			   offs.v[2 * i], offs.v[2 * i + 1], len);
out_release:
	ivec_release(&ids);
	ivec_release(&offs);
}

static void use(struct tokenizer *t, const struct fuzz_part *text)
{
	static const char fixed[] = "  The caf\xc3\xa9 \xef\xac\x81 \xef\xbc\xa1  [CLS] x\xe2\x98\x83 ";

	fuzz_tokenize(t);
	fuzz_tokenize_text(t, (const char *)text->data, text->size);
	check_offsets(t, fixed, sizeof(fixed) - 1);
	check_offsets(t, (const char *)text->data, text->size);
	tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part p[3];
	const char *path;
	struct ada_err err;
	struct tokenizer *t;

	fuzz_split(data, size, p, 3);
	(void)fuzz_subdir("spm");
	path = fuzz_write("spm/spm.model", p[0].data, p[0].size);
	if (p[1].size)
		fuzz_write("spm/tokenizer_config.json", p[1].data, p[1].size);
	if (!tokenizer_load_spm(path, &t, &err))
		use(t, &p[2]);
	else
		fuzz_check_err(&err);
	if (!tokenizer_load(path, 0, &t, &err))
		use(t, &p[2]);
	else
		fuzz_check_err(&err);
	return 0;
}
