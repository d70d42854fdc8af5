/*
 * fuzz_hf — a Hugging Face model directory, written from one input split
 * at FUZZ_SEP into:
 *   0 config.json
 *   1 the weights: model.safetensors, or with part 5 the first shard
 *   2 tokenizer.json          (left out when empty)
 *   3 vocab.txt               (left out when empty)
 *   4 tokenizer_config.json   (left out when empty)
 *   5 model.safetensors.index.json; with it, part 1 is
 *     model-00001-of-00002.safetensors and part 6 the second shard
 *   6 model-00002-of-00002.safetensors
 * Then: ada_model_probe, model_load (Llama family, BERT, RoBERTa, BART), the
 * directory's tokenizer (encode, decode, pairs), and the extra tensors
 * (a task head) listed and read.
 */
#include "fuzz.h"

#include <string.h>

#include "adalora.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "tokenize.h"

void fuzz_setup(void)
{
}

static void put(const char *dir, const char *name, const struct fuzz_part *p, int always)
{
	char rel[256];

	if (!p->size && !always)
		return;
	snprintf(rel, sizeof(rel), "%s/%s", dir, name);
	fuzz_write(rel, p->data, p->size);
}

static void read_extras(const struct model *m)
{
	struct ada_err err;
	size_t n = model_extra_count(m);

	for (size_t i = 0; i < n && i < 16; i++) {
		const char *name = model_extra_name(m, i);
		uint64_t rows, cols;

		FUZZ_CHECK(name != NULL, "extra %zu of %zu has no name", i, n);
		if (model_extra_shape(m, name, &rows, &cols, &err)) {
			fuzz_check_err(&err);
			continue;
		}
		if ((rows ? rows : 1) * cols > (1u << 16))
			continue;
		float *dst = malloc((size_t)((rows ? rows : 1) * cols) * sizeof(*dst) + 1);
		if (!dst)
			abort();
		if (model_extra_read(m, name, rows, cols, dst, &err))
			fuzz_check_err(&err);
		free(dst);
	}
	FUZZ_CHECK(model_extra_name(m, n) == NULL, "an extra past the end");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part p[7];
	const char *dir;
	struct ada_model_info info;
	struct ada_err err;
	struct model *m;
	struct tokenizer *t;

	fuzz_split(data, size, p, 7);
	dir = fuzz_subdir("hf");
	put("hf", "config.json", &p[0], 1);
	if (p[5].size) {
		put("hf", "model.safetensors.index.json", &p[5], 1);
		put("hf", "model-00001-of-00002.safetensors", &p[1], 1);
		put("hf", "model-00002-of-00002.safetensors", &p[6], 1);
	} else {
		put("hf", "model.safetensors", &p[1], 1);
	}
	put("hf", "tokenizer.json", &p[2], 0);
	put("hf", "vocab.txt", &p[3], 0);
	put("hf", "tokenizer_config.json", &p[4], 0);

	if (ada_model_probe(dir, &info, &err))
		fuzz_check_err(&err);
	if (model_load(dir, NULL, &m, &err)) {
		fuzz_check_err(&err);
		return 0;
	}
	read_extras(m);
	if (!model_open_tokenizer(m, NULL, &t, &err)) {
		FUZZ_CHECK(tokenizer_vocab_size(t) <= m->cfg.vocab_size,
			   "tokenizer of %d tokens accepted for a vocabulary of %d",
			   tokenizer_vocab_size(t), m->cfg.vocab_size);
		fuzz_tokenize(t);
		tokenizer_free(t);
	} else {
		fuzz_check_err(&err);
	}
	model_free(m);
	return 0;
}
