/*
 * Tests of model/: every format loads to the same struct model, bit for
 * bit; Hugging Face's RoPE layout is converted the right way round; damaged
 * files are clear errors; ada_model_probe agrees with model_load.
 */
#include "check.h"
#include "check_model.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <unistd.h>

#include "format/gguf.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "scratch.h"
#include "tiny_model.h"
#include "util/err.h"
#include "util/fileio.h"

static const char *assets;
static char *tmp;
static char stories_gguf[4096], stories_bin[4096];

/* tmp/<formatted name> */
#define tp(...) scratch_path(tmp, __VA_ARGS__)

static void expect_equal(const struct model *a, const struct model *b, const char *what)
{
	char why[512] = "";

	CHECK_MSG(a && b && !tiny_models_equal(a, b, why, sizeof(why)), "%s: %s", what, why);
}

static struct model *tiny(const char *arch, int tied, uint64_t seed)
{
	struct model_config cfg;
	struct model *m = NULL;

	tiny_config(&cfg, arch);
	cfg.tied_output = tied;
	CHECK_OK(tiny_model_random(&cfg, seed, &m), NULL);
	return m;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct ada_err err;
	char *buf = NULL;

	CHECK_OK(file_read_all(path, &buf, len, &err), &err);
	return (uint8_t *)buf;
}

/* Plain write (no fsync): damaged copies are many and short-lived. */
static void spit(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(fwrite(buf, 1, len, f) == len);
	fclose(f);
}

/* Offset just past the first occurrence of s in buf (0 when absent). */
static size_t after(const uint8_t *buf, size_t len, const char *s)
{
	const uint8_t *p = memmem(buf, len, s, strlen(s));

	CHECK_MSG(p != NULL, "'%s' not in file", s);
	return p ? (size_t)(p - buf) + strlen(s) : 0;
}

/* ---- real assets ------------------------------------------------------ */

static void test_stories260k_gguf_equals_bin(void)
{
	struct model *g = check_model_load(stories_gguf), *b = check_model_load(stories_bin);
	const struct gguf *gf;
	int64_t elements = 0;

	if (!g || !b)
		goto out;
	CHECK_STR_EQ(g->format, "gguf");
	CHECK_STR_EQ(b->format, "llama2c");
	CHECK_STR_EQ(g->cfg.arch, "llama");
	CHECK_INT_EQ(g->cfg.dim, 64);
	CHECK_INT_EQ(g->cfg.hidden_dim, 172);
	CHECK_INT_EQ(g->cfg.n_layers, 5);
	CHECK_INT_EQ(g->cfg.n_heads, 8);
	CHECK_INT_EQ(g->cfg.n_kv_heads, 4);
	CHECK_INT_EQ(g->cfg.head_dim, 8);
	CHECK_INT_EQ(g->cfg.vocab_size, 512);
	CHECK_INT_EQ(g->cfg.context_length, 512);
	CHECK(g->cfg.norm_eps == 1e-5f && g->cfg.rope_theta == 10000.0f);
	CHECK(!g->cfg.qkv_bias && !g->cfg.sliding_window);
	expect_equal(g, b, "stories260K gguf vs bin");
	/* The bin shares its classifier; the GGUF stores an equal copy. */
	CHECK(b->cfg.tied_output && b->output.data == b->tok_emb.data);
	CHECK(!g->cfg.tied_output && g->output.data != g->tok_emb.data);
	/* All F32: nothing copied, everything in the mappings. */
	CHECK_INT_EQ(g->n_owned, 0);
	CHECK_INT_EQ(b->n_owned, 0);
	CHECK(g->tokenizer == NULL);
	gf = model_gguf(g);
	CHECK(gf != NULL && model_gguf(b) == NULL);
	CHECK(gf && gguf_find_kv(gf, "tokenizer.ggml.tokens") != NULL);
	for (uint64_t i = 0; gf && i < gf->n_tensors; i++)
		elements += (int64_t)gf->tensors[i].n_elements;
	CHECK_INT_EQ(model_param_count(&g->cfg), elements);
	CHECK_INT_EQ(model_param_count(&b->cfg), elements - 512 * 64);
out:
	model_free(g);
	model_free(b);
}

/* llama2.c v1 (and v0 with a separate classifier) written from the v0 weights. */
static void test_llama2c_versions_from_stories(void)
{
	struct model *b = check_model_load(stories_bin), *x;
	struct model unshared;
	struct ada_err err;

	if (!b)
		return;
	CHECK_OK(tiny_write_llama2c(b, tp("s-v1-shared.bin"), 1, &err), &err);
	x = check_model_load(tp("s-v1-shared.bin"));
	expect_equal(b, x, "v1 shared");
	CHECK(x && x->cfg.tied_output && x->output.data == x->tok_emb.data && x->n_owned == 0);
	model_free(x);

	/* The same weights with the classifier stored separately. */
	unshared = *b;
	unshared.cfg.tied_output = 0;
	for (int v = 0; v <= 1; v++) {
		CHECK_OK(tiny_write_llama2c(&unshared, tp("s-v%d-sep.bin", v), v, &err), &err);
		x = check_model_load(tp("s-v%d-sep.bin", v));
		expect_equal(b, x, v ? "v1 separate classifier" : "v0 separate classifier");
		CHECK(x && !x->cfg.tied_output && x->output.data != x->tok_emb.data);
		model_free(x);
	}
	model_free(b);
}

/* ---- round trips of random models ------------------------------------- */

static void test_llama2c_random(void)
{
	struct ada_err err;

	for (int tied = 0; tied <= 1; tied++) {
		struct model *m = tiny("llama", tied, 11 + (uint64_t)tied), *x;

		for (int v = 0; v <= 1 && m; v++) {
			CHECK_OK(tiny_write_llama2c(m, tp("r-%d-%d.bin", tied, v), v, &err), &err);
			x = check_model_load(tp("r-%d-%d.bin", tied, v));
			expect_equal(m, x, "random llama2.c");
			CHECK(x && x->cfg.tied_output == tied);
			model_free(x);
		}
		model_free(m);
	}
}

/* Permuted Q/K (and qwen2's q/k biases) are the only copies of an F32 HF model. */
static int expected_owned_f32_hf(const struct model_config *c)
{
	return c->n_layers * (c->qkv_bias ? 4 : 2);
}

static void test_hf_and_gguf_agree(void)
{
	static const char *const arches[] = { "llama", "mistral", "qwen2" };
	static const enum tiny_hf_layout layouts[] = {
		TINY_HF_SINGLE, TINY_HF_INDEXED_SHARDS, TINY_HF_UNINDEXED_SHARDS,
	};
	struct ada_err err;

	for (size_t a = 0; a < 3; a++) {
		for (int tied = 0; tied <= 1; tied++) {
			struct model *m = tiny(arches[a], tied, 100 + a * 2 + (uint64_t)tied), *x;

			if (!m)
				continue;
			for (uint32_t v = 1; v <= 3; v++) {
				const char *p = tp("%s-%d-v%u.gguf", arches[a], tied, v);

				CHECK_OK(tiny_write_gguf(m, p, v, GGML_TYPE_F32, &err), &err);
				x = check_model_load(p);
				expect_equal(m, x, p);
				CHECK(x && x->cfg.tied_output == tied);
				CHECK(x && (!tied || x->output.data == x->tok_emb.data));
				/* llama/mistral stay mapped; qwen2's Q/K (+biases) are permuted copies. */
				CHECK(x && x->n_owned == (m->cfg.qkv_bias ?
							  expected_owned_f32_hf(&m->cfg) : 0));
				model_free(x);
			}
			for (size_t l = 0; l < 3; l++) {
				const char *d = tp("%s-%d-hf%zu", arches[a], tied, l);

				CHECK_OK(tiny_write_hf(m, d, ST_F32, layouts[l], &err), &err);
				x = check_model_load(d);
				expect_equal(m, x, d);
				CHECK(x && !strcmp(x->format, "hf"));
				CHECK(x && x->cfg.tied_output == tied);
				CHECK(x && x->n_owned == expected_owned_f32_hf(&m->cfg));
				model_free(x);
			}
			model_free(m);
		}
	}
}

/* Narrowed files read back as the narrowed values, in both formats. */
static void test_half_precision(void)
{
	static const char *const arches[] = { "llama", "qwen2" };
	static const enum st_dtype dts[] = { ST_BF16, ST_F16 };
	static const uint32_t ggml[] = { GGML_TYPE_BF16, GGML_TYPE_F16 };
	struct ada_err err;

	for (size_t a = 0; a < 2; a++) {
		for (size_t d = 0; d < 2; d++) {
			struct model *m = tiny(arches[a], 0, 7), *r = tiny(arches[a], 0, 7), *x;

			if (!m || !r)
				goto next;
			tiny_model_round(r, dts[d]);
			CHECK_OK(tiny_write_hf(m, tp("h-%zu-%zu", a, d), dts[d], TINY_HF_SINGLE, &err),
				 &err);
			x = check_model_load(tp("h-%zu-%zu", a, d));
			expect_equal(r, x, "narrowed HF");
			model_free(x);
			CHECK_OK(tiny_write_hf(m, tp("hs-%zu-%zu", a, d), dts[d], TINY_HF_INDEXED_SHARDS,
					       &err), &err);
			x = check_model_load(tp("hs-%zu-%zu", a, d));
			expect_equal(r, x, "narrowed sharded HF");
			model_free(x);
			CHECK_OK(tiny_write_gguf(m, tp("h-%zu-%zu.gguf", a, d), 3, ggml[d], &err), &err);
			x = check_model_load(tp("h-%zu-%zu.gguf", a, d));
			expect_equal(r, x, "narrowed GGUF");
			model_free(x);
next:
			model_free(m);
			model_free(r);
		}
	}
}

/* ---- the RoPE layout, checked against Hugging Face's own semantics ----- */

static void rope_halves(float *v, int n_heads, int hd, int pos, float theta)
{
	for (int h = 0; h < n_heads; h++) {
		for (int i = 0; i < hd / 2; i++) {
			double f = pos * pow(theta, -2.0 * i / hd), c = cos(f), s = sin(f);
			float *a = &v[h * hd + i], *b = &v[h * hd + i + hd / 2];
			float x = *a, y = *b;

			*a = (float)(x * c - y * s);
			*b = (float)(y * c + x * s);
		}
	}
}

static void rope_pairs(float *v, int n_heads, int hd, int pos, float theta)
{
	for (int h = 0; h < n_heads; h++) {
		for (int i = 0; i < hd / 2; i++) {
			double f = pos * pow(theta, -2.0 * i / hd), c = cos(f), s = sin(f);
			float *a = &v[h * hd + 2 * i], *b = a + 1;
			float x = *a, y = *b;

			*a = (float)(x * c - y * s);
			*b = (float)(y * c + x * s);
		}
	}
}

static void matvec(float *y, const float *w, const float *bias, const float *x, int rows,
		   int cols)
{
	for (int r = 0; r < rows; r++) {
		double s = bias ? bias[r] : 0;
		for (int c = 0; c < cols; c++)
			s += (double)w[(size_t)r * cols + c] * x[c];
		y[r] = (float)s;
	}
}

/* Attention logits q_h . k_{h/group} after RoPE at positions pq, pk. */
static void scores(const struct model_config *c, const float *wq, const float *bq,
		   const float *wk, const float *bk, const float *xq, const float *xk,
		   int pairs, float *out)
{
	int q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
	float qv[256], kvv[256];

	matvec(qv, wq, bq, xq, q, c->dim);
	matvec(kvv, wk, bk, xk, kv, c->dim);
	(pairs ? rope_pairs : rope_halves)(qv, c->n_heads, c->head_dim, 5, c->rope_theta);
	(pairs ? rope_pairs : rope_halves)(kvv, c->n_kv_heads, c->head_dim, 11, c->rope_theta);
	for (int h = 0; h < c->n_heads; h++) {
		int g = h / (c->n_heads / c->n_kv_heads);
		double s = 0;
		for (int d = 0; d < c->head_dim; d++)
			s += (double)qv[h * c->head_dim + d] * kvv[g * c->head_dim + d];
		out[h] = (float)s;
	}
}

static float *raw_tensor(const struct safetensors *st, const char *name)
{
	const struct st_tensor *t = safetensors_find(st, name);
	struct ada_err err;
	float *v;

	CHECK_MSG(t != NULL, "%s missing", name);
	if (!t)
		return NULL;
	v = malloc((size_t)t->n_elements * sizeof(*v));
	CHECK_OK(safetensors_tensor_to_f32(st, t, v, &err), &err);
	return v;
}

/*
 * The raw HF tensors under HF's rotate-half RoPE must give the same
 * attention logits as the loaded tensors under our adjacent-pair RoPE; and
 * the raw tensors under pair RoPE must not (so this test can fail).
 */
static void test_rope_layout_semantics(void)
{
	static const char *const arches[] = { "llama", "mistral", "qwen2" };

	for (size_t a = 0; a < 3; a++) {
		struct model *m = tiny(arches[a], 0, 55 + a), *x = NULL;
		const struct model_config *c;
		struct safetensors *st = NULL;
		float *wq = NULL, *wk = NULL, *bq = NULL, *bk = NULL;
		float xq[64], xk[64], hf[16], ours[16], wrong[16];
		double worst = 0, off = 0;
		struct ada_err err;

		if (!m)
			continue;
		c = &m->cfg;
		CHECK_OK(tiny_write_hf(m, tp("rope-%zu", a), ST_F32, TINY_HF_SINGLE, &err), &err);
		x = check_model_load(tp("rope-%zu", a));
		CHECK_OK(safetensors_open(tp("rope-%zu/model.safetensors", a), &st, &err), &err);
		if (!x || !st)
			goto next;
		wq = raw_tensor(st, "model.layers.1.self_attn.q_proj.weight");
		wk = raw_tensor(st, "model.layers.1.self_attn.k_proj.weight");
		if (c->qkv_bias) {
			bq = raw_tensor(st, "model.layers.1.self_attn.q_proj.bias");
			bk = raw_tensor(st, "model.layers.1.self_attn.k_proj.bias");
		}
		if (!wq || !wk)
			goto next;
		for (int i = 0; i < c->dim; i++) {
			xq[i] = sinf(0.7f * (float)i + 0.3f);
			xk[i] = cosf(1.3f * (float)i - 0.2f);
		}
		scores(c, wq, bq, wk, bk, xq, xk, 0, hf);
		scores(c, (const float *)x->layers[1].wq.data, x->layers[1].bq,
		       (const float *)x->layers[1].wk.data, x->layers[1].bk,
		       xq, xk, 1, ours);
		scores(c, wq, bq, wk, bk, xq, xk, 1, wrong);
		for (int h = 0; h < c->n_heads; h++) {
			worst = fmax(worst, fabs(hf[h] - ours[h]));
			off = fmax(off, fabs(hf[h] - wrong[h]));
		}
		CHECK_MSG(worst < 1e-4, "%s: logits differ by %g", arches[a], worst);
		CHECK_MSG(off > 1e-2, "%s: unpermuted weights give the same logits (%g)", arches[a],
			  off);
next:
		free(wq);
		free(wk);
		free(bq);
		free(bk);
		safetensors_close(st);
		model_free(x);
		model_free(m);
	}
}

static void test_rope_permutation_by_hand(void)
{
	/* Two heads of 4 rows, one column: rotate-half pairs row i with i + 2. */
	const float halves[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	const float pairs[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };
	float out[8], mat[8 * 2], back[8 * 2], pairs2[8 * 2];

	rope_rows_to_pairs(out, halves, 2, 4, 1);
	CHECK(!memcmp(out, pairs, sizeof(out)));
	rope_rows_to_halves(out, pairs, 2, 4, 1);
	CHECK(!memcmp(out, halves, sizeof(out)));
	/* Rows of two columns move whole, and to_halves undoes to_pairs. */
	for (int i = 0; i < 16; i++)
		mat[i] = (float)i;
	rope_rows_to_pairs(back, mat, 2, 4, 2);
	CHECK(back[2] == 4 && back[3] == 5 && back[4] == 2 && back[5] == 3);
	rope_rows_to_halves(pairs2, back, 2, 4, 2);
	CHECK(!memcmp(pairs2, mat, sizeof(mat)));
}

/* ---- ties ------------------------------------------------------------- */

static void test_tied_output(void)
{
	struct model *m = tiny("llama", 1, 3), *x;
	struct ada_err err;

	if (!m)
		return;
	/* tie_word_embeddings true and no lm_head. */
	CHECK_OK(tiny_write_hf(m, tp("tie"), ST_F32, TINY_HF_SINGLE, &err), &err);
	x = check_model_load(tp("tie"));
	CHECK(x && x->cfg.tied_output && x->output.data == x->tok_emb.data);
	model_free(x);
	/* tie_word_embeddings false but lm_head absent: tied all the same. */
	check_config_set(tp("tie"), "tie_word_embeddings", json_false());
	x = check_model_load(tp("tie"));
	CHECK(x && x->cfg.tied_output && x->output.data == x->tok_emb.data);
	expect_equal(m, x, "lm_head absent");
	model_free(x);
	model_free(m);

	/* tie_word_embeddings true wins over a stored lm_head. */
	m = tiny("llama", 0, 4);
	if (!m)
		return;
	CHECK_OK(tiny_write_hf(m, tp("tie2"), ST_F32, TINY_HF_SINGLE, &err), &err);
	check_config_set(tp("tie2"), "tie_word_embeddings", json_true());
	x = check_model_load(tp("tie2"));
	CHECK(x && x->cfg.tied_output && x->output.data == x->tok_emb.data);
	model_free(x);
	model_free(m);
}

/* ---- damaged files ---------------------------------------------------- */

static void test_gguf_every_truncation(void)
{
	struct model_config cfg;
	struct model *m = NULL;
	struct ada_err err;

	tiny_config(&cfg, "qwen2");
	cfg.dim = 8;
	cfg.hidden_dim = 12;
	cfg.n_layers = 1;
	cfg.n_heads = 2;
	cfg.n_kv_heads = 1;
	cfg.head_dim = 4;
	cfg.vocab_size = 10;
	CHECK_OK(tiny_model_random(&cfg, 9, &m), NULL);
	for (uint32_t v = 1; v <= 3 && m; v += 2) {
		const char *full = tp("trunc-v%u.gguf", v), *cut = tp("cut.gguf");
		uint64_t data_end = 0;
		struct gguf *g = NULL;
		uint8_t *buf;
		size_t len;

		CHECK_OK(tiny_write_gguf(m, full, v, v == 1 ? GGML_TYPE_BF16 : GGML_TYPE_F32, &err),
			 &err);
		CHECK_OK(gguf_open(full, &g, &err), &err);
		for (uint64_t i = 0; g && i < g->n_tensors; i++) {
			uint64_t end = g->data_offset + g->tensors[i].offset + g->tensors[i].n_bytes;
			data_end = end > data_end ? end : data_end;
		}
		gguf_close(g);
		buf = slurp(full, &len);
		if (!buf)
			continue;
		spit(cut, buf, len);
		for (size_t n = len; n-- > 0;) {
			struct model *x = NULL;
			int rc;

			CHECK(truncate(cut, (off_t)n) == 0);
			rc = model_load(cut, NULL, &x, &err);
			if (n >= data_end) {
				/* Only the final alignment padding is missing. */
				CHECK_MSG(rc == ADA_OK, "v%u cut at %zu of %zu: %s", v, n, len, err.msg);
			} else {
				CHECK_MSG(rc == ADA_EFORMAT, "v%u cut at %zu: rc %d", v, n, rc);
				CHECK_MSG(strstr(err.msg, "cut.gguf") != NULL, "%s", err.msg);
			}
			model_free(x);
		}
		free(buf);
	}
	model_free(m);
}

static void test_gguf_damage_named(void)
{
	struct model *m = tiny("llama", 0, 21);
	const char *good = tp("good.gguf"), *bad = tp("bad.gguf");
	struct ada_err err;
	uint8_t *buf;
	size_t len, at;
	uint32_t v;

	if (!m)
		return;
	CHECK_OK(tiny_write_gguf(m, good, 3, GGML_TYPE_F32, &err), &err);
	model_free(m);
	buf = slurp(good, &len);
	if (!buf)
		return;

	/* A tensor of a type we do not read (IQ2_XXS; the block types of
	 * format/quant.h load): its type follows n_dims and two u64 dims (v3). */
	at = after(buf, len, "blk.0.attn_k.weight") + 4 + 16;
	memcpy(&v, buf + at, 4);
	CHECK_INT_EQ(v, GGML_TYPE_F32);
	memcpy(buf + at, &(uint32_t){ 16 }, 4);
	spit(bad, buf, len);
	check_model_error(bad, ADA_EUNSUPPORTED, "IQ2_XXS", "blk.0.attn_k.weight");
	/* Q4_0 rows must be whole blocks of 32: a 32-wide row of f32 bytes read
	 * as Q4_0 is a shorter extent, which loads; a type whose block does not
	 * divide the row is refused naming it. */
	memcpy(buf + at, &(uint32_t){ GGML_TYPE_Q4_K }, 4);
	spit(bad, buf, len);
	check_model_error(bad, ADA_EFORMAT, "Q4_K", "blk.0.attn_k.weight");
	memcpy(buf + at, &v, 4);

	/* The config disagrees with the tensors: the first tensor that shows it is named. */
	at = after(buf, len, "llama.feed_forward_length") + 4;
	memcpy(&v, buf + at, 4);
	CHECK_INT_EQ(v, 40);
	memcpy(buf + at, &(uint32_t){ 41 }, 4);
	spit(bad, buf, len);
	check_model_error(bad, ADA_EFORMAT, "bad.gguf", "blk.0.ffn_gate.weight");
	memcpy(buf + at, &v, 4);

	/* An architecture we do not run. */
	at = after(buf, len, "general.architecture") + 4 + 8;
	memcpy(buf + at, "bloom", 5);
	spit(bad, buf, len);
	check_model_error(bad, ADA_EUNSUPPORTED, "bad.gguf", "'bloom'");
	memcpy(buf + at, "llama", 5);

	/* A required key missing. */
	at = after(buf, len, "llama.block_count") - 5;
	memcpy(buf + at, "COUNT", 5);
	spit(bad, buf, len);
	check_model_error(bad, ADA_EFORMAT, "bad.gguf", "llama.block_count");
	memcpy(buf + at, "count", 5);

	/* A missing tensor. */
	at = after(buf, len, "output_norm.weight") - 6;
	memcpy(buf + at, "WEIGHT", 6);
	spit(bad, buf, len);
	check_model_error(bad, ADA_EFORMAT, "bad.gguf", "'output_norm.weight'");
	memcpy(buf + at, "weight", 6);

	/* Partial rotary embeddings. */
	at = after(buf, len, "llama.rope.dimension_count") + 4;
	memcpy(buf + at, &(uint32_t){ 4 }, 4);
	spit(bad, buf, len);
	check_model_error(bad, ADA_EUNSUPPORTED, "bad.gguf", "rope.dimension_count");

	free(buf);
}

static void test_llama2c_damage(void)
{
	uint8_t *buf;
	size_t len;
	const char *bad = tp("bad.bin");

	if (!assets) {
		check_skip("test_llama2c_damage needs ../shared/assets");
		return;
	}
	buf = slurp(stories_bin, &len);
	if (!buf)
		return;
	spit(bad, buf, len - 4);
	check_model_error(bad, ADA_EFORMAT, "bad.bin", "truncated");
	spit(bad, buf, 28);
	check_model_error(bad, ADA_EFORMAT, "bad.bin", "truncated");
	buf = realloc(buf, len + 4);
	memset(buf + len, 0, 4);
	spit(bad, buf, len + 4);
	check_model_error(bad, ADA_EFORMAT, "bad.bin", "trailing");
	/* A header too odd to be a llama2.c file at all. */
	memcpy(buf + 12, &(int32_t){ 7 }, 4);   /* n_heads 7 does not divide dim 64 */
	spit(bad, buf, len);
	check_model_error(bad, ADA_EFORMAT, "bad.bin", "not a model file");
	spit(bad, buf, 3);
	check_model_error(bad, ADA_EFORMAT, "bad.bin", "not a model file");
	spit(bad, "", 0);
	check_model_error(bad, ADA_EFORMAT, "bad.bin", "not a model file");
	free(buf);

	/* v1: truncated, wrong version. */
	struct model *m = tiny("llama", 1, 5);
	struct ada_err err;
	if (!m)
		return;
	CHECK_OK(tiny_write_llama2c(m, tp("v1.bin"), 1, &err), &err);
	model_free(m);
	buf = slurp(tp("v1.bin"), &len);
	if (!buf)
		return;
	spit(bad, buf, len - 1);
	check_model_error(bad, ADA_EFORMAT, "bad.bin", "truncated");
	spit(bad, buf, 100);
	check_model_error(bad, ADA_EFORMAT, "bad.bin", "truncated");
	memcpy(buf + 4, &(int32_t){ 2 }, 4);
	spit(bad, buf, len);
	check_model_error(bad, ADA_EUNSUPPORTED, "bad.bin", "version 2");
	free(buf);
}

static void test_hf_damage(void)
{
	struct model *m = tiny("llama", 0, 31);
	struct ada_err err;
	char d[4200];
	uint8_t *buf;
	size_t len;

	if (!m)
		return;
#define FRESH(name, layout) do { \
		snprintf(d, sizeof(d), "%s", tp(name)); \
		remove_tree(d, NULL); \
		CHECK_OK(tiny_write_hf(m, d, ST_F32, layout, &err), &err); \
	} while (0)
	FRESH("hfbad", TINY_HF_SINGLE);
	check_config_set(d, "model_type", json_string("gpt_neox"));
	check_model_error(d, ADA_EUNSUPPORTED, "config.json", "'gpt_neox'");

	FRESH("hfbad", TINY_HF_SINGLE);
	check_config_set(d, "hidden_size", NULL);
	check_model_error(d, ADA_EFORMAT, "config.json", "'hidden_size'");
	{
		struct model *x = NULL;
		CHECK_INT_EQ(model_load(d, NULL, &x, &err), ADA_EFORMAT);
		CHECK_STR_EQ(err.param, "hidden_size");
	}

	FRESH("hfbad", TINY_HF_SINGLE);
	check_config_set(d, "intermediate_size", json_integer(41));
	check_model_error(d, ADA_EFORMAT, "model.safetensors", "model.layers.0.mlp.gate_proj.weight");

	FRESH("hfbad", TINY_HF_SINGLE);
	check_config_set(d, "num_key_value_heads", json_integer(3));
	check_model_error(d, ADA_EFORMAT, "config.json", "n_kv_heads");

	FRESH("hfbad", TINY_HF_SINGLE);
	check_config_set(d, "hidden_act", json_string("gelu"));
	check_model_error(d, ADA_EUNSUPPORTED, "config.json", "gelu");

	FRESH("hfbad", TINY_HF_SINGLE);
	check_config_set(d, "rope_scaling", json_pack("{s:s, s:f}", "type", "linear", "factor", 2.0));
	check_model_error(d, ADA_EUNSUPPORTED, "config.json", "linear");

	FRESH("hfbad", TINY_HF_SINGLE);
	check_config_set(d, "attention_bias", json_true());
	check_model_error(d, ADA_EUNSUPPORTED, "config.json", "attention_bias");

	FRESH("hfbad", TINY_HF_SINGLE);
	spit(tp("hfbad/config.json"), "{\"model_type\": \"llama\",", 23);
	check_model_error(d, ADA_EFORMAT, "config.json", "JSON");

	/* Weights missing: none at all, a shard named by the index, a tensor. */
	FRESH("hfbad", TINY_HF_SINGLE);
	CHECK(unlink(tp("hfbad/model.safetensors")) == 0);
	check_model_error(d, ADA_ENOTFOUND, "hfbad", "no safetensors");

	FRESH("hfbad", TINY_HF_INDEXED_SHARDS);
	CHECK(unlink(tp("hfbad/" TINY_HF_SHARD2)) == 0);
	check_model_error(d, ADA_ENOTFOUND, TINY_HF_SHARD2, NULL);

	FRESH("hfbad", TINY_HF_UNINDEXED_SHARDS);
	CHECK(unlink(tp("hfbad/" TINY_HF_SHARD2)) == 0);
	check_model_error(d, ADA_EFORMAT, "missing tensor", "model.layers.");

	/* The same tensor in two shards is ambiguous. */
	FRESH("hfbad", TINY_HF_UNINDEXED_SHARDS);
	buf = slurp(tp("hfbad/" TINY_HF_SHARD1), &len);
	if (buf)
		spit(tp("hfbad/zz.safetensors"), buf, len);
	free(buf);
	check_model_error(d, ADA_EFORMAT, "in both", "zz.safetensors");

	/* An index naming a file outside the directory. */
	FRESH("hfbad", TINY_HF_INDEXED_SHARDS);
	{
		const char *index = "{\"weight_map\": {\"lm_head.weight\": \"../x.safetensors\"}}";
		spit(tp("hfbad/model.safetensors.index.json"), index, strlen(index));
	}
	check_model_error(d, ADA_EFORMAT, "index.json", "lm_head.weight");

	/* A damaged shard names itself. */
	FRESH("hfbad", TINY_HF_SINGLE);
	CHECK(truncate(tp("hfbad/model.safetensors"), 100) == 0);
	check_model_error(d, ADA_EFORMAT, "model.safetensors", NULL);

	/* Not a model directory at all. */
	CHECK_OK(mkdir_p(tp("empty-dir"), 0755, &err), &err);
	check_model_error(tp("empty-dir"), ADA_EFORMAT, "empty-dir", "config.json");
	check_model_error(tp("does-not-exist"), ADA_ENOTFOUND, "does-not-exist", NULL);
#undef FRESH
	model_free(m);
}

/* A dtype we cannot load, found in a real shard, is named with its tensor. */
static void test_hf_unsupported_dtype(void)
{
	struct model *m = tiny("llama", 0, 41);
	const char *d = tp("hf-i64");
	const char *path = tp("hf-i64/model.safetensors");
	struct ada_err err;
	uint8_t *buf;
	size_t len, at;

	if (!m)
		return;
	CHECK_OK(tiny_write_hf(m, d, ST_BF16, TINY_HF_SINGLE, &err), &err);
	model_free(m);
	buf = slurp(path, &len);
	if (!buf)
		return;
	/* BF16 and I16 have the same size, so the extents stay valid. */
	at = after(buf, len, "\"model.layers.1.mlp.up_proj.weight\":{\"dtype\":\"");
	CHECK(!memcmp(buf + at, "BF16\"", 5));
	memcpy(buf + at, "I16\" ", 5);
	spit(path, buf, len);
	check_model_error(d, ADA_EUNSUPPORTED, "I16", "model.layers.1.mlp.up_proj.weight");
	free(buf);
}

/* ---- probe ------------------------------------------------------------ */

/* ---- weights that are not numbers ------------------------------------- */

/* Overwrite one weight of a tiny model (whose buffers it owns). */
static void poison(const float *w, size_t i, float v)
{
	((float *)w)[i] = v;
}

/*
 * One NaN or infinity in one tensor, written by the test in every format
 * and dtype: the load is refused with ADA_EFORMAT naming the tensor (as the
 * file names it) and the value, through every loader path: mapped F32,
 * widened F16/BF16, the Q/K permutation of qwen2 and Hugging Face files,
 * llama2.c's walk, BERT, and an extra tensor read on request.
 */
static void test_nonfinite_weights_refused(void)
{
	static const struct {
		uint32_t ggml;
		enum st_dtype st;
		float v;
		const char *what;
	} cases[] = {
		{ GGML_TYPE_F32, ST_F32, NAN, "NaN" },
		{ GGML_TYPE_F16, ST_F16, INFINITY, "+Inf" },
		{ GGML_TYPE_BF16, ST_BF16, -INFINITY, "-Inf" },
	};
	struct ada_err err;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct model *m = tiny("llama", 0, 11), *q = tiny("qwen2", 0, 12), *b = NULL;
		struct model_config bc;
		const float v = cases[c].v;
		const char *what = cases[c].what;

		if (!m || !q)
			goto next;
		poison((const float *)m->layers[1].wv.data, 5, v);
		CHECK_OK(tiny_write_gguf(m, tp("nan-%zu.gguf", c), 3, cases[c].ggml, &err), &err);
		check_model_error(tp("nan-%zu.gguf", c), ADA_EFORMAT, "'blk.1.attn_v.weight'", what);
		CHECK_OK(tiny_write_hf(m, tp("nan-hf-%zu", c), cases[c].st, TINY_HF_INDEXED_SHARDS,
				       &err), &err);
		check_model_error(tp("nan-hf-%zu", c), ADA_EFORMAT,
				  "'model.layers.1.self_attn.v_proj.weight'", what);

		/* permuted on load: the check sees the values after the move */
		poison((const float *)q->layers[0].wq.data, 17, v);
		CHECK_OK(tiny_write_gguf(q, tp("nan-q-%zu.gguf", c), 3, cases[c].ggml, &err), &err);
		check_model_error(tp("nan-q-%zu.gguf", c), ADA_EFORMAT, "'blk.0.attn_q.weight'", what);
		CHECK_OK(tiny_write_hf(q, tp("nan-qhf-%zu", c), cases[c].st, TINY_HF_SINGLE, &err),
			 &err);
		check_model_error(tp("nan-qhf-%zu", c), ADA_EFORMAT,
				  "'model.layers.0.self_attn.q_proj.weight'", what);
		poison((const float *)q->layers[0].wq.data, 17, 0.5f);
		poison(q->layers[1].bk, 3, v);
		CHECK_OK(tiny_write_hf(q, tp("nan-qb-%zu", c), cases[c].st, TINY_HF_SINGLE, &err),
			 &err);
		check_model_error(tp("nan-qb-%zu", c), ADA_EFORMAT,
				  "'model.layers.1.self_attn.k_proj.bias'", what);

		/* llama2.c is F32 only: both versions, a layer's tensor and the classifier */
		poison((const float *)m->layers[1].wv.data, 5, 0.25f);
		poison((const float *)m->layers[0].w_down.data, 7, v);
		for (int ver = 0; ver <= 1; ver++) {
			CHECK_OK(tiny_write_llama2c(m, tp("nan-%zu-v%d.bin", c, ver), ver, &err), &err);
			check_model_error(tp("nan-%zu-v%d.bin", c, ver), ADA_EFORMAT,
					  "'layers.0.feed_forward.w2.weight'", what);
		}
		poison((const float *)m->layers[0].w_down.data, 7, 0.25f);
		poison((const float *)m->output.data, 40, v);
		CHECK_OK(tiny_write_llama2c(m, tp("nan-out-%zu.bin", c), 1, &err), &err);
		check_model_error(tp("nan-out-%zu.bin", c), ADA_EFORMAT, "'output.weight'", what);
		CHECK_OK(tiny_write_gguf(m, tp("nan-out-%zu.gguf", c), 2, cases[c].ggml, &err), &err);
		check_model_error(tp("nan-out-%zu.gguf", c), ADA_EFORMAT, "'output.weight'", what);

		/* BERT, and a task head read on request */
		tiny_bert_config(&bc, "bert");
		CHECK_OK(tiny_bert_random(&bc, 13, &b), NULL);
		if (b) {
			float head[2 * 32];
			struct tiny_extra extra = { "classifier.weight", head, 2, 32 };
			struct tiny_bert_opts o = { .dtype = cases[c].st, .extra = &extra,
						    .n_extra = 1 };
			struct model *x;

			for (size_t i = 0; i < 64; i++)
				head[i] = 0.01f * (float)i;
			head[9] = v;
			CHECK_OK(tiny_write_bert_hf(b, tp("nan-bert-head-%zu", c), &o, &err), &err);
			x = check_model_load(tp("nan-bert-head-%zu", c));
			if (x) {
				float got[64];
				int rc = model_extra_read(x, "classifier.weight", 2, 32, got, &err);
				CHECK_INT_EQ(rc, ADA_EFORMAT);
				CHECK_MSG(rc && strstr(err.msg, "'classifier.weight'") &&
					  strstr(err.msg, what), "%s", err.msg);
				model_free(x);
			}
			poison((const float *)b->bert->layers[1].w[BMOD_INTER].data, 3, v);
			o.n_extra = 0;
			CHECK_OK(tiny_write_bert_hf(b, tp("nan-bert-%zu", c), &o, &err), &err);
			check_model_error(tp("nan-bert-%zu", c), ADA_EFORMAT,
					  "'encoder.layer.1.intermediate.dense.weight'", what);
		}
next:
		model_free(m);
		model_free(q);
		model_free(b);
	}
}

static void check_probe_matches(const char *path, const char *format, int has_tokenizer)
{
	struct ada_model_info info;
	struct model *m = check_model_load(path);
	struct ada_err err;

	CHECK_OK(ada_model_probe(path, &info, &err), &err);
	if (!m)
		return;
	CHECK_STR_EQ(info.format, format);
	CHECK_STR_EQ(info.architecture, m->cfg.arch);
	CHECK_INT_EQ(info.parameters, model_param_count(&m->cfg));
	CHECK_INT_EQ(info.context_length, m->cfg.context_length);
	CHECK_INT_EQ(info.n_layers, m->cfg.n_layers);
	CHECK_INT_EQ(info.dim, m->cfg.dim);
	CHECK_INT_EQ(info.hidden_dim, m->cfg.hidden_dim);
	CHECK_INT_EQ(info.n_heads, m->cfg.n_heads);
	CHECK_INT_EQ(info.n_kv_heads, m->cfg.n_kv_heads);
	CHECK_INT_EQ(info.vocab_size, m->cfg.vocab_size);
	CHECK_INT_EQ(info.has_tokenizer, has_tokenizer);
	model_free(m);
}

static void test_probe(void)
{
	struct ada_model_info info;
	struct model *m;
	struct ada_err err;

	if (assets) {
		check_probe_matches(stories_gguf, "gguf", 1);
		check_probe_matches(stories_bin, "llama2c", 0);
		CHECK_OK(ada_model_probe(stories_bin, &info, &err), &err);
		CHECK_INT_EQ(info.parameters, 260032);
		CHECK_INT_EQ(info.context_length, 512);
	}
	m = tiny("qwen2", 0, 61);
	if (m) {
		CHECK_OK(tiny_write_gguf(m, tp("probe.gguf"), 2, GGML_TYPE_F16, &err), &err);
		check_probe_matches(tp("probe.gguf"), "gguf", 0);
		CHECK_OK(tiny_write_hf(m, tp("probe-hf"), ST_BF16, TINY_HF_INDEXED_SHARDS, &err),
			 &err);
		check_probe_matches(tp("probe-hf"), "hf", 0);
		spit(tp("probe-hf/tokenizer.json"), "{}", 2);
		check_probe_matches(tp("probe-hf"), "hf", 1);
		/* The probe sees a missing lm_head just as the loader does. */
		check_config_set(tp("probe-hf"), "tie_word_embeddings", json_true());
		check_probe_matches(tp("probe-hf"), "hf", 1);
		model_free(m);
	}
	m = tiny("llama", 0, 62);
	if (m) {
		CHECK_OK(tiny_write_llama2c(m, tp("probe.bin"), 1, &err), &err);
		check_probe_matches(tp("probe.bin"), "llama2c", 0);
		CHECK(truncate(tp("probe.bin"), 1000) == 0);
		CHECK_INT_EQ(ada_model_probe(tp("probe.bin"), &info, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "probe.bin") && strstr(err.msg, "truncated"));
		model_free(m);
	}
	CHECK_INT_EQ(ada_model_probe(tp("nothing-here"), &info, &err), ADA_ENOTFOUND);
}

/* ---- module helpers and config checks --------------------------------- */

static void test_modules_and_config_check(void)
{
	struct model_config cfg;
	struct ada_err err;
	char buf[64];
	int out, in;

	for (int i = 0; i < N_LLAMA_MODULES; i++)
		CHECK_INT_EQ(llama_module_from_name(llama_module_name(i)), i);
	/* Hugging Face leaf names are accepted too (target_modules from PEFT configs). */
	CHECK_INT_EQ(llama_module_from_name("q_proj"), MOD_Q);
	CHECK_INT_EQ(llama_module_from_name("down_proj"), MOD_DOWN);
	CHECK_INT_EQ(llama_module_from_name("lm_head"), -1);
	CHECK_STR_EQ(llama_module_name(MOD_GATE), "gate");
	llama_module_hf_path(3, MOD_GATE, buf, sizeof(buf));
	CHECK_STR_EQ(buf, "model.layers.3.mlp.gate_proj");
	llama_module_hf_path(0, MOD_K, buf, sizeof(buf));
	CHECK_STR_EQ(buf, "model.layers.0.self_attn.k_proj");
	tiny_config(&cfg, "mistral");   /* head_dim 16: q is wider than dim */
	llama_module_shape(&cfg, MOD_Q, &out, &in);
	CHECK(out == 64 && in == 32);
	llama_module_shape(&cfg, MOD_K, &out, &in);
	CHECK(out == 32 && in == 32);
	llama_module_shape(&cfg, MOD_O, &out, &in);
	CHECK(out == 32 && in == 64);
	llama_module_shape(&cfg, MOD_DOWN, &out, &in);
	CHECK(out == 32 && in == 40);

	CHECK_OK(model_config_check(&cfg, "x", &err), &err);
#define BAD(field, value, want) CHECK_CONFIG_REFUSED(cfg, field, value, want)
	BAD(dim, 0, "dim");
	BAD(hidden_dim, -1, "hidden_dim");
	BAD(n_layers, 0, "n_layers");
	BAD(n_heads, 0, "n_heads");
	BAD(n_kv_heads, 3, "n_kv_heads");
	BAD(n_kv_heads, 8, "n_kv_heads");
	BAD(head_dim, 7, "head_dim");
	BAD(vocab_size, 0, "vocab_size");
	BAD(context_length, 0, "context_length");
	BAD(rope_theta, 0, "rope_theta");
	BAD(norm_eps, NAN, "norm_eps");
	BAD(sliding_window, -1, "sliding_window");
#undef BAD
}

/* The named real shapes have the parameter counts their model cards and
 * Hugging Face report (model.num_parameters()), which checks every width,
 * the biases and the (un)tied output of the table at once. */
static void test_real_shapes(void)
{
	static const struct { const char *name; int64_t params; } want[] = {
		{ "smollm-135m", 134515008 },
		{ "qwen2.5-0.5b", 494032768 },
		{ "tinyllama-1.1b", 1100048384 },
		{ "llama-2-7b", 6738415616 },
	};
	struct model_config c;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_INT_EQ(model_shape_config(want[i].name, &c), 0);
		CHECK_MSG(model_param_count(&c) == want[i].params, "%s: %lld parameters, want %lld",
			  want[i].name, (long long)model_param_count(&c), (long long)want[i].params);
	}
	CHECK_INT_EQ(model_shape_config("llama-3-405b", &c), ADA_EINVAL);
}

int main(void)
{
	tmp = check_tmpdir("model_formats");
	assets = check_assets();
	if (assets) {
		snprintf(stories_gguf, sizeof(stories_gguf),
			 "%s/models/stories260K/stories260K.gguf", assets);
		snprintf(stories_bin, sizeof(stories_bin), "%s/models/stories260K/stories260K.bin",
			 assets);
		RUN(test_stories260k_gguf_equals_bin);
		RUN(test_llama2c_versions_from_stories);
	} else {
		fprintf(stderr, "note: ../shared/assets absent; stories260K tests not run\n");
	}
	RUN(test_llama2c_random);
	RUN(test_real_shapes);
	RUN(test_hf_and_gguf_agree);
	RUN(test_half_precision);
	RUN(test_rope_layout_semantics);
	RUN(test_rope_permutation_by_hand);
	RUN(test_tied_output);
	RUN(test_gguf_every_truncation);
	RUN(test_gguf_damage_named);
	RUN(test_llama2c_damage);
	RUN(test_hf_damage);
	RUN(test_hf_unsupported_dtype);
	RUN(test_nonfinite_weights_refused);
	RUN(test_probe);
	RUN(test_modules_and_config_check);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
