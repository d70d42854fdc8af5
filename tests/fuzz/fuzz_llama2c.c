/*
 * fuzz_llama2c — a llama2.c checkpoint (v0 or v1) and, after FUZZ_SEP,
 * the tokenizer.bin named with it: the header sniff and parse (the exact
 * size check), ada_model_probe, model_load's walk over the weights, and
 * model_open_tokenizer's load and vocabulary check.
 *
 * The loader refuses any size but the header's exact one, so random
 * mutations rarely reach the walk; the seeds are whole (tiny) checkpoints
 * and the harness also tries the input's header with the payload resized
 * to what that header implies (zeros appended or the tail cut), which
 * puts every mutated header through the weight walk and the NaN check.
 */
#include "fuzz.h"

#include <string.h>

#include "adalora.h"
#include "model/model.h"
#include "model/model_loader.h"
#include "tokenizer/tokenizer.h"
#include "tokenize.h"

#define MAX_RESIZED (4u << 20)

void fuzz_setup(void)
{
}

static void load(const char *path, const char *tok)
{
	struct ada_model_info info;
	struct ada_err err;
	struct model *m;
	struct tokenizer *t;

	if (ada_model_probe(path, &info, &err))
		fuzz_check_err(&err);
	if (model_load(path, NULL, &m, &err)) {
		fuzz_check_err(&err);
		return;
	}
	if (tok) {
		if (!model_open_tokenizer(m, tok, &t, &err)) {
			fuzz_tokenize(t);
			tokenizer_free(t);
		} else {
			fuzz_check_err(&err);
		}
	}
	model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part p[2];
	const char *path, *tok = NULL;
	struct llama2c_header h;
	struct ada_err err;

	fuzz_split(data, size, p, 2);
	path = fuzz_write("model.bin", p[0].data, p[0].size);
	if (p[1].size)
		tok = fuzz_write("tokenizer.bin", p[1].data, p[1].size);
	load(path, tok);

	/* the same header with the payload its numbers ask for */
	if (llama2c_sniff(p[0].data, p[0].size)) {
		/* find the implied size: the error names it ("should be N bytes") */
		const char *at;
		unsigned long long want;

		if (!llama2c_parse_header(path, p[0].data, p[0].size, p[0].size, &h, &err))
			return 0;   /* already exact: loaded above */
		at = strstr(err.msg, "should be ");
		if (!at || sscanf(at, "should be %llu bytes", &want) != 1 || want > MAX_RESIZED ||
		    want < p[0].size / 2)
			return 0;
		uint8_t *buf = calloc(1, (size_t)want);
		if (!buf)
			abort();
		memcpy(buf, p[0].data, p[0].size < want ? p[0].size : (size_t)want);
		path = fuzz_write("resized.bin", buf, (size_t)want);
		free(buf);
		load(path, tok);
	}
	return 0;
}
