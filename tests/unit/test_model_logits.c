/*
 * One forward pass for every format: the same random weights written as a
 * Hugging Face directory (safetensors, rotate-half Q/K; F32, BF16, sharded)
 * and as GGUF give the same logits once loaded, for llama and qwen2
 * (q/k/v biases). Checks the whole chain: file -> loader (with the RoPE
 * permutation) -> forward.
 */
#include "check.h"

#include "format/gguf.h"
#include "net/model_bind.h"
#include "nn/llama.h"
#include "tiny_model.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

#define B 2
#define T 9

static char *tmp;

/* Logits of the model at path for fixed tokens into out [B*T*vocab]. */
static int logits_of(const char *path, const int32_t *tokens, float *out, int vocab)
{
	struct model *m = NULL;
	struct llama_block *blocks;
	struct llama_net net;
	struct llama_acts a;
	struct ada_err err = { 0 };

	if (model_load(path, NULL, &m, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	blocks = calloc((size_t)m->cfg.n_layers, sizeof(*blocks));
	llama_net_from_model(&net, blocks, m);
	if (llama_acts_init(&a, &net.d, B, T, 2)) {
		free(blocks);
		model_free(m);
		return -1;
	}
	llama_forward(&net, &a, tokens, NULL, B, 0, NULL, NULL, &(struct nn_step){ 0 });
	memcpy(out, a.logits, sizeof(float) * B * T * (size_t)vocab);
	llama_acts_release(&a);
	free(blocks);
	model_free(m);
	return 0;
}

static double max_rel_diff(const float *a, const float *b, size_t n)
{
	double md = 0, scale = 1e-6;

	for (size_t i = 0; i < n; i++)
		scale = fabs(a[i]) > scale ? fabs(a[i]) : scale;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]) / scale;
		md = d > md ? d : md;
	}
	return md;
}

static void check_arch(const char *arch, int tied)
{
	struct model_config cfg;
	struct model *m = NULL;
	struct ada_err err = { 0 };
	char gguf[4300], hf[4300], gguf16[4300];
	int32_t tokens[B * T];
	float *ref, *got;
	size_t n;
	struct rng r;

	tiny_config(&cfg, arch);
	cfg.tied_output = tied;
	if (tiny_model_random(&cfg, 17, &m)) {
		CHECK(0);
		return;
	}
	n = (size_t)B * T * cfg.vocab_size;
	ref = malloc(n * sizeof(float));
	got = malloc(n * sizeof(float));
	rng_seed(&r, 3);
	for (int i = 0; i < B * T; i++)
		tokens[i] = (int32_t)rng_below(&r, (uint64_t)cfg.vocab_size);

	snprintf(gguf, sizeof(gguf), "%s/%s-%d.gguf", tmp, arch, tied);
	CHECK_OK(tiny_write_gguf(m, gguf, 3, GGML_TYPE_F32, &err), &err);
	CHECK(logits_of(gguf, tokens, ref, cfg.vocab_size) == 0);

	/* F32 Hugging Face, single file and sharded: the same logits. */
	snprintf(hf, sizeof(hf), "%s/%s-%d-hf32", tmp, arch, tied);
	CHECK_OK(tiny_write_hf(m, hf, ST_F32, TINY_HF_SINGLE, &err), &err);
	CHECK(logits_of(hf, tokens, got, cfg.vocab_size) == 0);
	CHECK_MSG(max_rel_diff(ref, got, n) < 1e-6, "%s HF F32 vs GGUF: %g", arch,
		  max_rel_diff(ref, got, n));
	snprintf(hf, sizeof(hf), "%s/%s-%d-hfsh", tmp, arch, tied);
	CHECK_OK(tiny_write_hf(m, hf, ST_F32, TINY_HF_INDEXED_SHARDS, &err), &err);
	CHECK(logits_of(hf, tokens, got, cfg.vocab_size) == 0);
	CHECK_MSG(max_rel_diff(ref, got, n) < 1e-6, "%s HF sharded vs GGUF: %g", arch,
		  max_rel_diff(ref, got, n));

	/* BF16 Hugging Face against the same BF16-rounded weights as GGUF. */
	tiny_model_round(m, ST_BF16);
	snprintf(gguf16, sizeof(gguf16), "%s/%s-%d-bf16.gguf", tmp, arch, tied);
	CHECK_OK(tiny_write_gguf(m, gguf16, 3, GGML_TYPE_BF16, &err), &err);
	CHECK(logits_of(gguf16, tokens, ref, cfg.vocab_size) == 0);
	snprintf(hf, sizeof(hf), "%s/%s-%d-hf16", tmp, arch, tied);
	CHECK_OK(tiny_write_hf(m, hf, ST_BF16, TINY_HF_SINGLE, &err), &err);
	CHECK(logits_of(hf, tokens, got, cfg.vocab_size) == 0);
	CHECK_MSG(max_rel_diff(ref, got, n) < 1e-6, "%s HF BF16 vs GGUF BF16: %g", arch,
		  max_rel_diff(ref, got, n));

	free(ref);
	free(got);
	model_free(m);
}

static void test_llama(void)
{
	check_arch("llama", 0);
	check_arch("llama", 1);
}

static void test_qwen2(void)
{
	check_arch("qwen2", 0);
}

static void test_mistral(void)
{
	check_arch("mistral", 0);
}

int main(void)
{
	tmp = check_tmpdir("logits");
	RUN(test_llama);
	RUN(test_qwen2);
	RUN(test_mistral);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
