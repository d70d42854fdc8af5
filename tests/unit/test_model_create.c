/*
 * Tests of the models the project makes itself (model/model_create.c,
 * `adalora create-model`), written while they are generated:
 *   - an F32 file loads to exactly model_random()'s weights for the same
 *     seed (llama tied and untied, GQA; qwen2 with its biases and its Q/K in
 *     the rotate-half layout the loader permutes back), config included;
 *   - in a block type every matrix holds exactly our quantizer's bytes of
 *     model_random()'s rows (the streamed conversion changes nothing);
 *   - llama.cpp's Q4_K_M and Q5_K_M mixtures: each tensor's type by the rule
 *     of llama_tensor_get_type(), written out here layer by layer, with the
 *     fallbacks of rows that are not whole 256-blocks;
 *   - the vocabulary padded with unused tokens: its size, text that never
 *     encodes to them, exact round trips; ChatML's tokens and template;
 *   - the same seed writes the same bytes at one thread or two;
 *   - refusals naming the field (dtype, shape, chat_template).
 * With --real (suite slow): the real shapes through `adalora create-model`
 * (smollm-135m and qwen2.5-0.5b as Q4_K_M, tinyllama-1.1b's untied output
 * as Q2_K): header, published parameter count, vocabulary, types, and the
 * writer's peak RSS, bounded far below the model's f32 size.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adalora.h"
#include "format/quant.h"
#include "model/model.h"
#include "scratch.h"
#include "tokenizer/tokenizer.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/ivec.h"

static char *tmp;

static void small_config(struct model_config *c, const char *arch, int dim, int hidden,
			 int layers, int heads, int kv, int vocab, int tied)
{
	memset(c, 0, sizeof(*c));
	c->family = ADA_FAMILY_LLAMA;
	snprintf(c->arch, sizeof(c->arch), "%s", arch);
	c->dim = dim;
	c->hidden_dim = hidden;
	c->n_layers = layers;
	c->n_heads = heads;
	c->n_kv_heads = kv;
	c->head_dim = dim / heads;
	c->vocab_size = vocab;
	c->context_length = 128;
	c->rope_theta = strcmp(arch, "qwen2") ? 10000 : 1000000;
	c->norm_eps = 1e-6f;
	c->tied_output = tied;
	c->qkv_bias = !strcmp(arch, "qwen2");
}

static int same_floats(const float *a, const float *b, size_t n)
{
	return a && b && !memcmp(a, b, n * sizeof(float));
}

/* A frozen matrix widened to f32 equals the f32 view r (bit for bit). */
static int same_mat(const struct frozen_mat *m, const struct frozen_mat *r)
{
	const size_t n = (size_t)r->rows * r->cols;
	float *w;
	int same;

	if (m->rows != r->rows || m->cols != r->cols)
		return 0;
	w = xcalloc(n, sizeof(*w));
	if (!w)
		return 0;
	frozen_mat_read(m, w);
	same = same_floats(w, frozen_mat_f32(r), n);
	free(w);
	return same;
}

/* m's matrices hold exactly type's bytes of r's rows (quantized here, a row
 * at a time). */
static int same_quantized(const struct frozen_mat *m, const struct frozen_mat *r, uint32_t type)
{
	const uint64_t row_bytes = quant_bytes(type, (uint64_t)r->cols);
	uint8_t *row = malloc((size_t)row_bytes);
	int same = m->type == type && m->row_bytes == row_bytes && row;

	for (int i = 0; same && i < r->rows; i++) {
		if (quant_quantize(type, frozen_mat_f32(r) + (size_t)i * r->cols, row, (size_t)r->cols))
			same = 0;
		else
			same = !memcmp(row, (const uint8_t *)m->data + (size_t)i * row_bytes,
				       (size_t)row_bytes);
	}
	free(row);
	return same;
}

static void check_config(const struct model_config *a, const struct model_config *b)
{
	CHECK_STR_EQ(a->arch, b->arch);
	CHECK_INT_EQ(a->dim, b->dim);
	CHECK_INT_EQ(a->hidden_dim, b->hidden_dim);
	CHECK_INT_EQ(a->n_layers, b->n_layers);
	CHECK_INT_EQ(a->n_heads, b->n_heads);
	CHECK_INT_EQ(a->n_kv_heads, b->n_kv_heads);
	CHECK_INT_EQ(a->head_dim, b->head_dim);
	CHECK_INT_EQ(a->vocab_size, b->vocab_size);
	CHECK_INT_EQ(a->context_length, b->context_length);
	CHECK_INT_EQ(a->tied_output, b->tied_output);
	CHECK_INT_EQ(a->qkv_bias, b->qkv_bias);
	CHECK(a->rope_theta == b->rope_theta && a->norm_eps == b->norm_eps);
}

/* Every weight of m against the random model r: f32 bit for bit (type F32)
 * or our quantizer's bytes of r's rows (a block type). */
static void check_weights(const struct model *m, const struct model *r, uint32_t type,
			  const char *what)
{
	const struct model_config *c = &r->cfg;
	const int QD = c->n_heads * c->head_dim, KD = c->n_kv_heads * c->head_dim;
	int bad_mats = 0, bad_vecs = 0;

#define MAT(a, b) (bad_mats += type == GGML_TYPE_F32 ? !same_mat(&(a), &(b)) \
						      : !same_quantized(&(a), &(b), type))
#define VEC(a, b, n) (bad_vecs += !same_floats((a), (b), (size_t)(n)))
	MAT(m->tok_emb, r->tok_emb);
	for (int l = 0; l < c->n_layers; l++) {
		const struct model_layer *x = &m->layers[l], *y = &r->layers[l];
		MAT(x->wq, y->wq); MAT(x->wk, y->wk); MAT(x->wv, y->wv); MAT(x->wo, y->wo);
		MAT(x->w_gate, y->w_gate); MAT(x->w_up, y->w_up); MAT(x->w_down, y->w_down);
		VEC(x->attn_norm, y->attn_norm, c->dim);
		VEC(x->ffn_norm, y->ffn_norm, c->dim);
		if (c->qkv_bias) {
			VEC(x->bq, y->bq, QD); VEC(x->bk, y->bk, KD); VEC(x->bv, y->bv, KD);
		}
	}
	VEC(m->final_norm, r->final_norm, c->dim);
	if (c->tied_output)
		CHECK(m->output.data == m->tok_emb.data);
	else
		MAT(m->output, r->output);
#undef MAT
#undef VEC
	CHECK_MSG(!bad_mats && !bad_vecs, "%s: %d matrices and %d vectors differ from model_random's",
		  what, bad_mats, bad_vecs);
}

static void test_same_as_random(void)
{
	struct { const char *arch; int dim, hidden, layers, heads, kv, vocab, tied; } cases[] = {
		{ "llama", 64, 172, 2, 4, 2, 300, 1 },
		{ "llama", 64, 96, 3, 4, 4, 270, 0 },
		{ "qwen2", 64, 128, 2, 4, 2, 280, 0 },
		{ "qwen2", 96, 128, 2, 6, 2, 262, 1 },
	};
	struct ada_err err;

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct model_config c;
		struct model *m = NULL, *r = NULL;
		const char *path = scratch_path(tmp, "same-%zu.gguf", k);

		small_config(&c, cases[k].arch, cases[k].dim, cases[k].hidden, cases[k].layers,
			     cases[k].heads, cases[k].kv, cases[k].vocab, cases[k].tied);
		CHECK_OK(model_create_file(&c, 11 + k, GGML_TYPE_F32, "same", path, &err), &err);
		CHECK_OK(model_load(path, NULL, &m, &err), &err);
		CHECK_OK(model_random(&c, 11 + k, &r, &err), &err);
		if (m && r) {
			check_config(&m->cfg, &c);
			check_weights(m, r, GGML_TYPE_F32, path);
		}
		model_free(m);
		model_free(r);
	}
}

static void test_block_types(void)
{
	static const uint32_t types[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
	struct ada_err err;

	for (int arch = 0; arch < 2; arch++)
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
			struct model_config c;
			struct model *m = NULL, *r = NULL;
			const char *path = scratch_path(tmp, "types-%d-%zu.gguf", arch, k);

			/* rows of 256 and 512: whole blocks of every type */
			small_config(&c, arch ? "qwen2" : "llama", 256, 512, 2, 4, 2, 300, arch);
			CHECK_OK(model_create_file(&c, 5, types[k], "types", path, &err), &err);
			CHECK_OK(model_load(path, NULL, &m, &err), &err);
			CHECK_OK(model_random(&c, 5, &r, &err), &err);
			if (m && r)
				check_weights(m, r, types[k], path);
			model_free(m);
			model_free(r);
		}
}

/* llama.cpp's choice for layer i of n: the first and last eighth, and every
 * third layer in between (use_more_bits in llama-quant.cpp). */
static int more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static void test_mixtures(void)
{
	struct ada_create_opts o = { 0 };
	struct ada_model_info info;
	struct ada_err err;

	/* 8 layers: layers 0, 3, 6, 7 get Q6_K attn_v and ffn_down */
	CHECK(more_bits(0, 8) && !more_bits(1, 8) && !more_bits(2, 8) && more_bits(3, 8) &&
	      !more_bits(4, 8) && !more_bits(5, 8) && more_bits(6, 8) && more_bits(7, 8));
	for (int mix = 0; mix < 2; mix++)
		for (int wide = 0; wide < 2; wide++) {
			const struct model_create_opts mo = {
				.mix = mix ? MODEL_MIX_Q5_K_M : MODEL_MIX_Q4_K_M, .name = "mix" };
			const uint32_t base = mix ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
			/* rows of 128 are not whole 256-blocks: llama.cpp falls back */
			const uint32_t base_128 = mix ? GGML_TYPE_Q5_1 : GGML_TYPE_Q5_0;
			const char *path = scratch_path(tmp, "mix-%d-%d.gguf", mix, wide);
			struct model_config c;
			struct model *m = NULL;
			int wrong = 0;

			small_config(&c, "llama", wide ? 256 : 128, 512, 8, 4, 2, 300, wide);
			CHECK_OK(model_create_file_opts(&c, 3, &mo, path, &err), &err);
			CHECK_OK(model_load(path, NULL, &m, &err), &err);
			if (!m)
				continue;
			for (int l = 0; l < 8; l++) {
				const struct model_layer *y = &m->layers[l];
				const uint32_t dim_base = wide ? base : base_128;
				const uint32_t high = more_bits(l, 8) ? (wide ? GGML_TYPE_Q6_K : GGML_TYPE_Q8_0)
								      : dim_base;
				wrong += y->wq.type != dim_base || y->wk.type != dim_base ||
					 y->wo.type != dim_base ||
					 y->w_gate.type != dim_base || y->w_up.type != dim_base ||
					 y->wv.type != high;
				/* ffn_down's rows are 512 long: whole blocks in both widths */
				wrong += y->w_down.type != (more_bits(l, 8) ? GGML_TYPE_Q6_K : base);
			}
			CHECK_MSG(!wrong, "%s: %d layers typed unlike llama.cpp's mixture", path, wrong);
			if (wide) {   /* tied: the embedding is the output, Q6_K */
				CHECK_INT_EQ(m->tok_emb.type, GGML_TYPE_Q6_K);
			} else {      /* untied: embedding the base type, output Q8_0 (rows of 128) */
				CHECK_INT_EQ(m->tok_emb.type, base_128);
				CHECK_INT_EQ(m->output.type, GGML_TYPE_Q8_0);
			}
			model_free(m);
			CHECK_OK(ada_model_probe(path, &info, &err), &err);
			CHECK_STR_EQ(info.dtype, mix ? (wide ? "Q5_K+Q6_K" : "Q5_1+Q8_0+Q5_K+Q6_K")
						     : (wide ? "Q4_K+Q6_K" : "Q5_0+Q8_0+Q4_K+Q6_K"));
		}
	/* the public names */
	o.shape = "stories260K";
	o.dtype = "q4_k_m";
	CHECK_OK(ada_create_model_opts(&o, scratch_path(tmp, "s260-q4km.gguf"), &err), &err);
	CHECK_OK(ada_model_probe(scratch_path(tmp, "s260-q4km.gguf"), &info, &err), &err);
	CHECK(info.quantized && info.vocab_size == 260);
}

static void test_vocabulary(void)
{
	static const char text[] = "Hello <unused5> w\xc3\xb6rld <|im_start|> \xe2\x82\xac!";
	struct model_config c;
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct ada_model_info info;
	struct ada_create_opts o = { .shape = "tiny", .chat_template = "chatml" };
	struct ivec ids = { 0 };
	struct ada_err err;
	const char *path = scratch_path(tmp, "vocab.gguf");
	char *back = NULL;
	size_t len;
	const char *s;
	int above = 0;

	small_config(&c, "llama", 64, 96, 1, 4, 4, 1000, 1);
	CHECK_OK(model_create_file(&c, 1, GGML_TYPE_Q8_0, "vocab", path, &err), &err);
	CHECK_OK(model_load(path, NULL, &m, &err), &err);
	if (m)
		CHECK_OK(model_open_tokenizer(m, NULL, &tok, &err), &err);
	if (tok) {
		CHECK_INT_EQ(tokenizer_vocab_size(tok), 1000);
		s = tokenizer_token_text(tok, 999, &len);
		CHECK(s && len == 11 && !memcmp(s, "<unused739>", 11));
		CHECK_OK(tokenizer_encode(tok, text, strlen(text), 0, &ids, &err), &err);
		for (size_t i = 0; i < ids.n; i++)
			above += ids.v[i] >= 260;
		CHECK_MSG(!above, "%d ids of the padding came out of encoding", above);
		CHECK_OK(tokenizer_decode(tok, ids.v, ids.n, &back, &len, &err), &err);
		CHECK(back && !strcmp(back, text));
		CHECK(!tokenizer_chat_template(tok, NULL));
	}
	free(back);
	ivec_release(&ids);
	tokenizer_free(tok);
	model_free(m);

	/* ChatML: its tokens after the bytes, <|im_end|> the EOS, the template */
	path = scratch_path(tmp, "chatml.gguf");
	CHECK_OK(ada_create_model_opts(&o, path, &err), &err);
	CHECK_OK(ada_model_probe(path, &info, &err), &err);
	CHECK_STR_EQ(info.chat_template, "chatml");
	CHECK_INT_EQ(info.vocab_size, 262);
	m = NULL;
	tok = NULL;
	CHECK_OK(model_load(path, NULL, &m, &err), &err);
	if (m)
		CHECK_OK(model_open_tokenizer(m, NULL, &tok, &err), &err);
	if (tok) {
		int32_t id = -1;
		size_t at = 1, mlen = 0;
		s = tokenizer_token_text(tok, 260, &len);
		CHECK(s && len == 12 && !memcmp(s, "<|im_start|>", 12));
		CHECK_INT_EQ(tokenizer_eos(tok), 261);
		CHECK(tokenizer_special_match(tok, "x<|im_end|>", 11, 0, &at, &mlen, &id) &&
		      at == 1 && mlen == 10 && id == 261);
	}
	tokenizer_free(tok);
	model_free(m);
}

/* The same seed, the same bytes, at one thread or two (rows convert in
 * parallel); another seed, other bytes. */
static void test_reproducible(void)
{
	struct ada_create_opts o = { .shape = "stories260K", .dtype = "Q4_K_M", .seed = 9 };
	const char *a = scratch_path(tmp, "repro-a.gguf"), *b = scratch_path(tmp, "repro-b.gguf");
	const char *c = scratch_path(tmp, "repro-c.gguf");
	struct ada_err err;

	ada_set_threads(1);
	CHECK_OK(ada_create_model_opts(&o, a, &err), &err);
	ada_set_threads(2);
	CHECK_OK(ada_create_model_opts(&o, b, &err), &err);
	o.seed = 10;
	CHECK_OK(ada_create_model_opts(&o, c, &err), &err);
	CHECK(files_same(a, b));
	CHECK(!files_same(a, c));
}

static void test_refusals(void)
{
	struct ada_create_opts o = { .shape = "tiny" };
	struct ada_err err;
	const char *path = scratch_path(tmp, "refused.gguf");
	struct model_config c;

	o.dtype = "Q4_K_S";
	CHECK_INT_EQ(ada_create_model_opts(&o, path, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "dtype");
	o.dtype = NULL;
	o.chat_template = "llama3";
	CHECK_INT_EQ(ada_create_model_opts(&o, path, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "chat_template");
	o.chat_template = NULL;
	o.shape = "gpt-4";
	CHECK_INT_EQ(ada_create_model_opts(&o, path, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "shape");
	small_config(&c, "llama", 64, 96, 1, 4, 4, 200, 1);
	CHECK_INT_EQ(model_create_file(&c, 1, GGML_TYPE_F32, "small", path, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "vocab_size");
	CHECK(!file_exists(path));
}

/* ---- --real: the real shapes through the CLI ----------------------------- */

/* Run `adalora create-model ...`; its peak RSS in KiB into *rss_kb. */
static int run_create(const char *shape, const char *dtype, const char *out, long *rss_kb)
{
	const char *bin = getenv("ADALORA_BIN");
	struct rusage ru;
	int status = -1;
	pid_t pid;

	if (!bin)
		return -1;
	pid = fork();
	if (pid == 0) {
		execl(bin, bin, "create-model", "--shape", shape, "--dtype", dtype, "--seed", "3",
		      "--out", out, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid)
		return -1;
	*rss_kb = ru.ru_maxrss;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_real_shapes(void)
{
	static const struct {
		const char *shape, *dtype, *arch, *types;
		int vocab, tied;
	} cases[] = {
		/* rows of 576 and 896 are not whole 256-blocks: Q5_0 and Q8_0, as in
		 * the published Q4_K_M files of these models */
		{ "smollm-135m", "Q4_K_M", "llama", "Q5_0+Q8_0+Q4_K+Q6_K", 49152, 1 },
		{ "qwen2.5-0.5b", "Q4_K_M", "qwen2", "Q5_0+Q8_0+Q4_K+Q6_K", 151936, 1 },
		{ "tinyllama-1.1b", "Q2_K", "llama", "Q2_K", 32000, 0 },
	};

	if (!getenv("ADALORA_BIN")) {
		check_skip("the real shapes need ADALORA_BIN (the adalora CLI)");
		return;
	}
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const char *path = scratch_path(tmp, "%s.gguf", cases[k].shape);
		struct model_config want;
		struct ada_model_info info;
		struct ada_err err;
		long rss_kb = 0;
		int64_t f32_bytes;

		CHECK_INT_EQ(run_create(cases[k].shape, cases[k].dtype, path, &rss_kb), 0);
		CHECK_OK(model_shape_config(cases[k].shape, &want) ? ADA_EINVAL : ADA_OK, NULL);
		CHECK_OK(ada_model_probe(path, &info, &err), &err);
		CHECK_STR_EQ(info.architecture, cases[k].arch);
		CHECK_INT_EQ(info.vocab_size, cases[k].vocab);
		CHECK_INT_EQ(info.n_kv_heads, want.n_kv_heads);
		CHECK_INT_EQ(info.parameters, model_param_count(&want));
		CHECK_INT_EQ(want.tied_output, cases[k].tied);
		CHECK_MSG(!strcmp(info.dtype, cases[k].types), "%s: types %s, expected %s",
			  cases[k].shape, info.dtype, cases[k].types);
		CHECK(info.has_tokenizer);
		/* The writer holds a chunk, not the model: far below the f32 size
		 * (the vocabulary's strings and the header are the largest part). */
		f32_bytes = 4 * model_param_count(&want);
		fprintf(stderr, "%-15s %-7s file %.0f MB, f32 %.0f MB, writer peak RSS %.1f MB\n",
			cases[k].shape, cases[k].dtype, (double)info.weight_bytes / 1e6,
			(double)f32_bytes / 1e6, (double)rss_kb / 1024.0);
#if !defined(__SANITIZE_ADDRESS__)   /* ASan's shadow and quarantine are not the writer's */
		CHECK_MSG(rss_kb < 96 * 1024, "%s: writer peak RSS %ld KiB", cases[k].shape, rss_kb);
#endif
		remove(path);
	}
}

int main(int argc, char **argv)
{
	tmp = check_tmpdir("model_create");
	if (argc > 1 && !strcmp(argv[1], "--real")) {
		RUN(test_real_shapes);
	} else {
		ada_set_threads(2);
		RUN(test_same_as_random);
		RUN(test_block_types);
		RUN(test_mixtures);
		RUN(test_vocabulary);
		RUN(test_reproducible);
		RUN(test_refusals);
	}
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
