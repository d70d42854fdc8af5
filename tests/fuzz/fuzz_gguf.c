/*
 * fuzz_gguf — a GGUF file: the reader (metadata, tensor directory, tensor
 * conversion), the model's header (ada_model_probe), the model loader and
 * the embedded tokenizer, which encodes and decodes a text.
 */
#include "fuzz.h"

#include <string.h>

#include "adalora.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "tokenize.h"

void fuzz_setup(void)
{
}

static void read_everything(const struct gguf *g)
{
	struct ada_err err;

	for (uint64_t i = 0; i < g->n_kv; i++) {
		const struct gguf_kv *kv = &g->kv[i];
		uint64_t u;
		double f;
		char *s = NULL;

		FUZZ_CHECK(gguf_find_kv(g, kv->key) != NULL, "key %s not found", kv->key);
		if (!gguf_get_u64(g, kv->key, &u, &err) || !gguf_get_f64(g, kv->key, &f, &err))
			continue;
		if (!gguf_get_str(g, kv->key, &s, &err))
			free(s);
		if (kv->type == GGUF_TYPE_ARRAY && kv->v.arr.type != GGUF_TYPE_STRING &&
		    kv->v.arr.type != GGUF_TYPE_ARRAY)
			for (uint64_t k = 0; k < kv->v.arr.n && k < 64; k++)
				(void)(gguf_arr_f64(kv, k) + (double)gguf_arr_i64(kv, k));
	}
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		float *dst;

		FUZZ_CHECK(gguf_find_tensor(g, t->name) != NULL, "tensor %s not found", t->name);
		if (t->n_elements > (1u << 16))
			continue;
		dst = malloc((size_t)t->n_elements * sizeof(*dst) + 1);
		if (!dst)
			abort();
		if (gguf_tensor_to_f32(g, t, dst, &err))
			fuzz_check_err(&err);
		free(dst);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write("model.gguf", data, size);
	struct ada_model_info info;
	struct ada_err err;
	struct gguf *g;
	struct model *m;
	struct tokenizer *t;

	if (!gguf_open(path, &g, &err)) {
		read_everything(g);
		gguf_close(g);
	} else {
		fuzz_check_err(&err);
	}
	if (ada_model_probe(path, &info, &err))
		fuzz_check_err(&err);
	if (!model_load(path, NULL, &m, &err)) {
		if (!model_open_tokenizer(m, NULL, &t, &err)) {
			fuzz_tokenize(t);
			tokenizer_free(t);
		} else {
			fuzz_check_err(&err);
		}
		model_free(m);
	} else {
		fuzz_check_err(&err);
	}
	/* the file as a tokenizer alone (tokenizer_load tells GGUF by content) */
	if (!tokenizer_load(path, 0, &t, &err)) {
		fuzz_tokenize(t);
		tokenizer_free(t);
	}
	return 0;
}
