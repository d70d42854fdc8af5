/* Tests of lib/model's BERT and RoBERTa loading (model_bert.c through
 * model_hf.c): random tiny checkpoints written as Hugging Face directories
 * come back bit for bit in every dtype, with and without the "bert." /
 * "roberta." prefix and with old LayerNorm names; a task head is left for
 * model_extra_*; every unsupported or damaged file is an error naming the
 * file and the thing; ada_model_probe describes the directories. */
#include "check.h"
#include "check_model.h"
#include "scratch.h"
#include "tiny_model.h"

#include <jansson.h>
#include <stdarg.h>
#include <unistd.h>

#include "model/model_loader.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;

/* tmp/<formatted name> */
#define tp(...) scratch_path(tmp, __VA_ARGS__)

static struct model *tiny(const char *arch, uint64_t seed)
{
	struct model_config cfg;
	struct model *m = NULL;

	tiny_bert_config(&cfg, arch);
	CHECK_OK(tiny_bert_random(&cfg, seed, &m), NULL);
	return m;
}

static void expect_equal(const struct model *a, const struct model *b, const char *what)
{
	char why[256] = "";

	CHECK_MSG(a && b && tiny_bert_equal(a, b, why, sizeof(why)) == 0, "%s: %s", what, why);
}

/* ---- round trips --------------------------------------------------------- */

static void test_round_trip(void)
{
	static const char *const arches[] = { "bert", "roberta" };
	static const enum st_dtype dtypes[] = { ST_F32, ST_F16, ST_BF16 };
	struct ada_err err;

	for (size_t a = 0; a < 2; a++) {
		for (size_t d = 0; d < 3; d++) {
			for (int prefixed = 0; prefixed <= 1; prefixed++) {
				struct model *m = tiny(arches[a], 10 + d);
				struct tiny_bert_opts o = { .dtype = dtypes[d], .prefixed = prefixed };
				const char *dir = tp("rt-%s-%zu-%d", arches[a], d, prefixed);
				struct model *x;
				char what[64];

				if (!m)
					continue;
				if (dtypes[d] != ST_F32)
					tiny_bert_round(m, dtypes[d]);
				CHECK_OK(tiny_write_bert_hf(m, dir, &o, &err), &err);
				x = check_model_load(dir);
				snprintf(what, sizeof(what), "%s dtype %zu prefixed %d", arches[a], d,
					 prefixed);
				expect_equal(m, x, what);
				if (x) {
					CHECK_STR_EQ(x->format, "hf");
					CHECK(x->cfg.family == ADA_FAMILY_BERT && x->layers == NULL);
					CHECK(x->tok_emb.data == x->bert->word_emb && x->output.data == NULL);
					/* F32 stays in the mapping; halves are widened. */
					CHECK(dtypes[d] == ST_F32 ? x->n_owned == 0 : x->n_owned > 0);
					CHECK_INT_EQ(model_extra_count(x), 0);
				}
				model_free(x);
				model_free(m);
			}
		}
	}
}

static void test_config_values(void)
{
	struct model *m = tiny("roberta", 3), *x = NULL;
	struct ada_err err;

	if (!m)
		return;
	CHECK_OK(tiny_write_bert_hf(m, tp("cfg-roberta"), NULL, &err), &err);
	x = check_model_load(tp("cfg-roberta"));
	if (x) {
		CHECK_STR_EQ(x->cfg.arch, "roberta");
		CHECK_INT_EQ(x->cfg.position_offset, 2);
		CHECK_INT_EQ(x->cfg.context_length, 38);
		CHECK_INT_EQ(x->cfg.max_positions, 40);
		CHECK_INT_EQ(x->cfg.type_vocab_size, 1);
		CHECK_INT_EQ(x->cfg.pad_token_id, 1);
		CHECK_INT_EQ(x->cfg.has_pooler, 0);
		CHECK(x->bert->pooler_w == NULL && x->bert->pooler_b == NULL);
		CHECK_NEAR(x->cfg.norm_eps, 1e-5, 1e-12);
	}
	model_free(x);

	/* transformers' defaults for what a config leaves out: BertConfig's
	 * type_vocab_size 2, layer_norm_eps 1e-12, gelu, absolute, pad 0;
	 * RobertaConfig's pad 1. A pad of 3 moves RoBERTa's positions to 4. */
	check_config_set(tp("cfg-roberta"), "pad_token_id", NULL);
	check_config_set(tp("cfg-roberta"), "hidden_act", NULL);
	check_config_set(tp("cfg-roberta"), "position_embedding_type", NULL);
	x = check_model_load(tp("cfg-roberta"));
	CHECK(x && x->cfg.pad_token_id == 1 && x->cfg.position_offset == 2);
	model_free(x);
	check_config_set(tp("cfg-roberta"), "pad_token_id", json_integer(3));
	x = check_model_load(tp("cfg-roberta"));
	CHECK(x && x->cfg.position_offset == 4 && x->cfg.context_length == 36);
	model_free(x);
	model_free(m);

	m = tiny("bert", 4);
	if (!m)
		return;
	CHECK_OK(tiny_write_bert_hf(m, tp("cfg-bert"), NULL, &err), &err);
	check_config_set(tp("cfg-bert"), "layer_norm_eps", NULL);
	check_config_set(tp("cfg-bert"), "pad_token_id", json_null());
	x = check_model_load(tp("cfg-bert"));
	if (x) {
		CHECK_INT_EQ(x->cfg.position_offset, 0);
		CHECK_INT_EQ(x->cfg.context_length, 40);
		CHECK_INT_EQ(x->cfg.pad_token_id, 0);
		CHECK_INT_EQ(x->cfg.type_vocab_size, 2);
		CHECK_INT_EQ(x->cfg.has_pooler, 1);
		CHECK(x->cfg.norm_eps == 1e-12f);
		CHECK_INT_EQ(x->cfg.n_kv_heads, 4);
		CHECK_INT_EQ(x->cfg.head_dim, 8);
	}
	model_free(x);
	check_config_set(tp("cfg-bert"), "type_vocab_size", NULL);
	x = check_model_load(tp("cfg-bert"));
	CHECK(x && x->cfg.type_vocab_size == 2);
	model_free(x);
	model_free(m);
}

/* Old checkpoints: LayerNorm.gamma / LayerNorm.beta. */
static void test_legacy_layer_norm_names(void)
{
	struct model *m = tiny("bert", 5), *x;
	struct tiny_bert_opts o = { .legacy_ln = 1, .prefixed = 1 };
	struct ada_err err;

	if (!m)
		return;
	CHECK_OK(tiny_write_bert_hf(m, tp("legacy"), &o, &err), &err);
	x = check_model_load(tp("legacy"));
	expect_equal(m, x, "gamma/beta");
	model_free(x);
	o.omit = "bert.encoder.layer.1.output.LayerNorm.beta";
	CHECK_OK(tiny_write_bert_hf(m, tp("legacy-bad"), &o, &err), &err);
	check_model_error(tp("legacy-bad"), ADA_EFORMAT, "missing tensor",
		     "bert.encoder.layer.1.output.LayerNorm.beta");
	model_free(m);
}

/* ---- a task head: not loaded, not an error, readable ------------------- */

static void test_classifier_head(void)
{
	float w[3 * 32], b[3], dense[32 * 32], dense_b[32], out[3 * 32], out_b[3];
	struct tiny_extra bert_head[] = {
		{ "classifier.weight", w, 3, 32 }, { "classifier.bias", b, 0, 3 },
	};
	struct tiny_extra roberta_head[] = {
		{ "classifier.dense.weight", dense, 32, 32 }, { "classifier.dense.bias", dense_b, 0, 32 },
		{ "classifier.out_proj.weight", out, 3, 32 }, { "classifier.out_proj.bias", out_b, 0, 3 },
	};
	struct model *m = tiny("bert", 6), *x;
	struct tiny_bert_opts o = { .prefixed = 1, .extra = bert_head, .n_extra = 2 };
	struct ada_err err;
	uint64_t rows = 9, cols = 9;
	float got[32 * 32];

	for (size_t i = 0; i < sizeof(dense) / sizeof(dense[0]); i++) {
		dense[i] = (float)i * 0.25f - 3.0f;
		if (i < sizeof(w) / sizeof(w[0]))
			w[i] = out[i] = (float)i / 7.0f;
		if (i < 32)
			dense_b[i] = -(float)i;
		if (i < 3)
			b[i] = out_b[i] = (float)i + 0.5f;
	}
	if (!m)
		return;
	CHECK_OK(tiny_write_bert_hf(m, tp("head-bert"), &o, &err), &err);
	x = check_model_load(tp("head-bert"));
	expect_equal(m, x, "with a head");
	if (x) {
		CHECK_INT_EQ(model_extra_count(x), 2);
		CHECK_STR_EQ(model_extra_name(x, 0), "classifier.bias");     /* sorted by name */
		CHECK_STR_EQ(model_extra_name(x, 1), "classifier.weight");
		CHECK(model_extra_name(x, 2) == NULL);
		CHECK_OK(model_extra_shape(x, "classifier.weight", &rows, &cols, &err), &err);
		CHECK(rows == 3 && cols == 32);
		CHECK_OK(model_extra_shape(x, "classifier.bias", &rows, &cols, &err), &err);
		CHECK(rows == 0 && cols == 3);
		CHECK_OK(model_extra_read(x, "classifier.weight", 3, 32, got, &err), &err);
		CHECK(!memcmp(got, w, sizeof(w)));
		CHECK_OK(model_extra_read(x, "classifier.bias", 0, 3, got, &err), &err);
		CHECK(!memcmp(got, b, sizeof(b)));
		CHECK_INT_EQ(model_extra_read(x, "classifier.weight", 2, 32, got, &err), ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "model.safetensors") && strstr(err.msg, "classifier.weight"),
			  "%s", err.msg);
		/* The encoder's own tensors are not extras. */
		CHECK_INT_EQ(model_extra_shape(x, "bert.pooler.dense.weight", &rows, &cols, &err),
			     ADA_ENOTFOUND);
		CHECK_INT_EQ(model_extra_shape(x, "score.weight", &rows, &cols, &err), ADA_ENOTFOUND);
		CHECK(strstr(err.msg, "score.weight") != NULL);
	}
	model_free(x);
	model_free(m);

	m = tiny("roberta", 7);
	if (!m)
		return;
	o = (struct tiny_bert_opts){ .prefixed = 1, .dtype = ST_BF16, .extra = roberta_head,
				     .n_extra = 4 };
	tiny_bert_round(m, ST_BF16);
	CHECK_OK(tiny_write_bert_hf(m, tp("head-roberta"), &o, &err), &err);
	x = check_model_load(tp("head-roberta"));
	expect_equal(m, x, "roberta with a head");
	if (x) {
		CHECK_INT_EQ(model_extra_count(x), 4);
		CHECK_OK(model_extra_read(x, "classifier.dense.bias", 0, 32, got, &err), &err);
		CHECK(!memcmp(got, dense_b, sizeof(dense_b)));   /* small integers: exact in BF16 */
	}
	model_free(x);
	model_free(m);
}

/* ---- errors ----------------------------------------------------------------- */

static void test_errors(void)
{
	struct model *m = tiny("bert", 8);
	struct tiny_bert_opts o = { 0 };
	struct ada_err err;
	const char *d = tp("bad");

	if (!m)
		return;
#define FRESH() do { \
		remove_tree(d, NULL); \
		CHECK_OK(tiny_write_bert_hf(m, d, &o, &err), &err); \
	} while (0)
	o.omit = "encoder.layer.1.attention.self.value.bias";
	FRESH();
	check_model_error(d, ADA_EFORMAT, "missing tensor", "encoder.layer.1.attention.self.value.bias");
	o.omit = NULL;

	FRESH();
	check_config_set(d, "intermediate_size", json_integer(40));
	check_model_error(d, ADA_EFORMAT, "model.safetensors", "encoder.layer.0.intermediate.dense.weight");

	FRESH();
	check_config_set(d, "max_position_embeddings", json_integer(41));
	check_model_error(d, ADA_EFORMAT, "[40, 32]", "embeddings.position_embeddings.weight");

	FRESH();
	check_config_set(d, "hidden_act", json_string("relu"));
	check_model_error(d, ADA_EUNSUPPORTED, "config.json", "'relu'");
	{
		struct model *x = NULL;
		CHECK_INT_EQ(model_load(d, NULL, &x, &err), ADA_EUNSUPPORTED);
		CHECK_STR_EQ(err.param, "hidden_act");
	}
	FRESH();
	check_config_set(d, "hidden_act", json_string("gelu_new"));
	check_model_error(d, ADA_EUNSUPPORTED, "config.json", "gelu_new");

	FRESH();
	check_config_set(d, "position_embedding_type", json_string("relative_key"));
	check_model_error(d, ADA_EUNSUPPORTED, "config.json", "relative_key");

	FRESH();
	check_config_set(d, "is_decoder", json_true());
	check_model_error(d, ADA_EUNSUPPORTED, "config.json", "is_decoder");

	FRESH();
	check_config_set(d, "num_attention_heads", json_integer(5));
	check_model_error(d, ADA_EFORMAT, "config.json", "num_attention_heads");

	FRESH();
	check_config_set(d, "hidden_size", NULL);
	check_model_error(d, ADA_EFORMAT, "config.json", "'hidden_size'");

	FRESH();
	check_config_set(d, "pad_token_id", json_integer(64));
	check_model_error(d, ADA_EFORMAT, "config.json", "pad_token_id");

	FRESH();
	check_config_set(d, "layer_norm_eps", json_string("tiny"));
	check_model_error(d, ADA_EFORMAT, "config.json", "layer_norm_eps");

	/* RoBERTa: positions start after the padding id. */
	FRESH();
	check_config_set(d, "model_type", json_string("roberta"));
	check_config_set(d, "pad_token_id", json_integer(39));
	check_model_error(d, ADA_EFORMAT, "config.json", "max_position_embeddings");

	/* A bert checkpoint read as roberta finds no "roberta." names. */
	o.prefixed = 1;
	FRESH();
	check_config_set(d, "model_type", json_string("roberta"));
	check_model_error(d, ADA_EFORMAT, "embeddings.word_embeddings.weight",
		     "roberta.embeddings.word_embeddings.weight");
	o.prefixed = 0;

	/* Bare and prefixed encoders in one directory. */
	FRESH();
	o.prefixed = 1;
	{
		struct model *x = NULL;
		char *src = NULL;
		size_t len;
		CHECK_OK(tiny_write_bert_hf(m, tp("bad2"), &o, &err), &err);
		CHECK_OK(file_read_all(tp("bad2/model.safetensors"), &src, &len, &err), &err);
		if (src)
			CHECK_OK(file_write_atomic(tp("bad/other.safetensors"), src, len, &err), &err);
		free(src);
		CHECK(unlink(tp("bad/model.safetensors")) == 0);
		CHECK_OK(tiny_write_bert_hf(m, tp("bad3"), NULL, &err), &err);
		CHECK_OK(file_read_all(tp("bad3/model.safetensors"), &src, &len, &err), &err);
		if (src)
			CHECK_OK(file_write_atomic(tp("bad/base.safetensors"), src, len, &err), &err);
		free(src);
		CHECK_INT_EQ(model_load(d, NULL, &x, &err), ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "both") && strstr(err.msg, "bert.embeddings"), "%s",
			  err.msg);
	}
	o.prefixed = 0;

	/* Dtypes other than F32/F16/BF16 are named. */
	FRESH();
	{
		char *buf = NULL, *p;
		size_t len;
		CHECK_OK(file_read_all(tp("bad/model.safetensors"), &buf, &len, &err), &err);
		/* The header is JSON: retype the pooler bias F32 -> I32 (same size). */
		p = buf ? strstr(buf + 8, "\"pooler.dense.bias\":{\"dtype\":\"F32\"") : NULL;
		CHECK(p != NULL);
		if (p) {
			memcpy(strstr(p, "F32"), "I32", 3);
			CHECK_OK(file_write_atomic(tp("bad/model.safetensors"), buf, len, &err), &err);
			check_model_error(d, ADA_EUNSUPPORTED, "pooler.dense.bias", "I32");
		}
		free(buf);
	}
#undef FRESH
	model_free(m);
}

/* ---- probe and tokenizer ------------------------------------------------- */

static void test_probe(void)
{
	static const char *const arches[] = { "bert", "roberta" };
	struct ada_err err;

	for (size_t a = 0; a < 2; a++) {
		struct model *m = tiny(arches[a], 20 + a), *x = NULL;
		const char *dir = tp("probe-%s", arches[a]);
		struct ada_model_info info;
		struct tokenizer *t = NULL;
		char vocab[64 * 8];
		size_t vocab_len = 0;
		uint64_t elements = 0;

		if (!m)
			continue;
		CHECK_OK(tiny_write_bert_hf(m, dir, &(struct tiny_bert_opts){ .prefixed = (int)a },
					    &err), &err);
		CHECK_OK(ada_model_probe(dir, &info, &err), &err);
		tiny_bert_tensor_count(m, &elements);
		CHECK_STR_EQ(info.format, "hf");
		CHECK_STR_EQ(info.architecture, arches[a]);
		CHECK_INT_EQ(info.parameters, (int64_t)elements);
		CHECK_INT_EQ(info.parameters, model_param_count(&m->cfg));
		CHECK_INT_EQ(info.context_length, a ? 38 : 40);
		CHECK(info.n_layers == 2 && info.dim == 32 && info.hidden_dim == 48 &&
		      info.n_heads == 4 && info.n_kv_heads == 4 && info.vocab_size == 64);
		CHECK_INT_EQ(info.has_tokenizer, 0);

		/* A WordPiece vocab.txt beside the weights is the model's tokenizer. */
		static const char *const specials[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
		for (int i = 0; i < 64; i++)
			vocab_len += (size_t)(i < 5 ? snprintf(vocab + vocab_len, 8, "%s\n", specials[i])
					   : snprintf(vocab + vocab_len, 8, "w%d\n", i));
		CHECK_OK(file_write_atomic(tp("probe-%s/vocab.txt", arches[a]), vocab, vocab_len, &err),
			 &err);
		CHECK_OK(ada_model_probe(dir, &info, &err), &err);
		CHECK_INT_EQ(info.has_tokenizer, 1);
		x = check_model_load(dir);
		if (x) {
			struct ivec ids = { 0 }, types = { 0 };
			CHECK_OK(model_open_tokenizer(x, NULL, &t, &err), &err);
			if (t) {
				CHECK_OK(tokenizer_encode_pair(t, "w7 W9", 5, "w12", 3, 0, &ids, &types,
							       NULL, &err), &err);
				CHECK(ids.n == 6 && ids.v[0] == 2 && ids.v[1] == 7 && ids.v[2] == 9 &&
				      ids.v[3] == 3 && ids.v[4] == 12 && ids.v[5] == 3);
				CHECK(types.n == 6 && types.v[3] == 0 && types.v[4] == 1);
			}
			tokenizer_free(t);
			ivec_release(&ids);
			ivec_release(&types);
		}
		model_free(x);
		model_free(m);
	}
}

/* model_config_check on BERT configs: what RoPE needs is not asked, what
 * learned positions need is. */
static void test_config_check(void)
{
	struct model_config cfg, bad;
	struct ada_err err;

	tiny_bert_config(&cfg, "roberta");
	CHECK_OK(model_config_check(&cfg, "x", &err), &err);
	bad = cfg;
	bad.head_dim = 1;
	bad.n_heads = bad.n_kv_heads = 32;       /* odd head_dim is fine without RoPE */
	CHECK_OK(model_config_check(&bad, "x", &err), &err);
#define BAD(field, value, want) CHECK_CONFIG_REFUSED(cfg, field, value, want)
	BAD(n_kv_heads, 2, "n_kv_heads");
	BAD(head_dim, 4, "head_dim");
	BAD(type_vocab_size, 0, "type_vocab_size");
	BAD(position_offset, 40, "position_offset");
	BAD(pad_token_id, 64, "pad_token_id");
	BAD(context_length, 40, "context_length");
	BAD(norm_eps, 0, "norm_eps");
#undef BAD
}

int main(void)
{
	tmp = check_tmpdir("model_bert");
	RUN(test_round_trip);
	RUN(test_config_values);
	RUN(test_legacy_layer_norm_names);
	RUN(test_classifier_head);
	RUN(test_errors);
	RUN(test_probe);
	RUN(test_config_check);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
