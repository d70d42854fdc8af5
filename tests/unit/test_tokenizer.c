/* Tests of lib/tokenizer on real vocabularies: llama.cpp's conformance
 * vectors (SentencePiece and GPT-2 GGUF), llama2.c's tokenizer.bin against
 * the same vocabulary inside stories260K.gguf, damaged inputs, threads, and
 * a megabyte of Shakespeare. */
#include "check.h"
#include "tokenizer_vectors.h"

#include <pthread.h>
#include <time.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"


#define SPM_VOCAB "tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf"
#define GPT2_VOCAB "tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf"

static struct tokenizer *load(const char *rel, int vocab_size)
{
	struct tokenizer *t = NULL;
	struct ada_err err;

	CHECK_OK(tokenizer_load(check_asset(rel), vocab_size, &t, &err), &err);
	return t;
}

static int ids_equal(const struct ivec *a, const int32_t *b, size_t n)
{
	return a->n == n && !memcmp(a->v, b, n * sizeof(*b));
}

static void test_llama_spm_vectors(void)
{
	struct tokenizer *t = load(SPM_VOCAB, 0);

	if (!t)
		return;
	CHECK_STR_EQ(tokenizer_kind(t), "spm");
	CHECK_INT_EQ(tokenizer_vocab_size(t), 32000);
	CHECK_INT_EQ(tokenizer_bos(t), 1);
	CHECK_INT_EQ(tokenizer_eos(t), 2);
	CHECK_INT_EQ(tokenizer_unk(t), 0);
	CHECK(tokenizer_wants_bos(t));
	CHECK_INT_EQ(check_vectors(t, check_asset(SPM_VOCAB)), 46);
	tokenizer_free(t);
}

static void test_gpt2_vectors(void)
{
	struct tokenizer *t = load(GPT2_VOCAB, 0);

	if (!t)
		return;
	CHECK_STR_EQ(tokenizer_kind(t), "gpt2");
	CHECK_INT_EQ(tokenizer_vocab_size(t), 50257);
	CHECK_INT_EQ(tokenizer_eos(t), 50256);
	CHECK_INT_EQ(check_vectors(t, check_asset(GPT2_VOCAB)), 46);
	tokenizer_free(t);
}

/* llama2.c's 32k tokenizer.bin is Llama 2's vocabulary, spaces spelled
 * ' ' instead of U+2581: llama.cpp's vectors must pass on it as well. */
static void test_llama2c_32k_vectors(void)
{
	struct tokenizer *t = load("tokenizers/llama2c-32k/tokenizer.bin", 32000);

	if (!t)
		return;
	CHECK_STR_EQ(tokenizer_kind(t), "spm");
	CHECK_INT_EQ(tokenizer_vocab_size(t), 32000);
	CHECK_INT_EQ(check_vectors(t, check_asset(SPM_VOCAB)), 46);
	tokenizer_free(t);
}

/* The vocabulary of tok512.bin is the one inside stories260K.gguf (spaces
 * spelled ' ' in one, U+2581 in the other): ids must agree everywhere. */
static void test_llama2c_bin_matches_gguf(void)
{
	struct tokenizer *bin = load("models/stories260K/tok512.bin", 512);
	struct tokenizer *gg = load("models/stories260K/stories260K.gguf", 0);
	const char *samples[] = {
		"", " ", "Once upon a time", "  two  spaces\tand a tab\n\nnew lines",
		"Lily's \"big\" day — naïve café, 日本語 ☃ 🦙!", "<s> not special </s>",
	};
	char *story = NULL;
	size_t story_len;
	struct ada_err err;

	if (!bin || !gg)
		goto out;
	CHECK_INT_EQ(tokenizer_vocab_size(bin), 512);
	CHECK_INT_EQ(tokenizer_vocab_size(gg), 512);
	CHECK_INT_EQ(tokenizer_pad(gg), 0);
	CHECK_INT_EQ(tokenizer_pad(bin), -1);
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct ivec a = { 0 }, b = { 0 };
		CHECK_OK(tokenizer_encode(bin, samples[i], strlen(samples[i]), TOK_ADD_BOS, &a, &err),
			 &err);
		CHECK_OK(tokenizer_encode(gg, samples[i], strlen(samples[i]), TOK_ADD_BOS, &b, &err),
			 &err);
		CHECK_MSG(a.n == b.n && !memcmp(a.v, b.v, a.n * sizeof(*a.v)), "sample %zu differs", i);
		ivec_release(&a);
		ivec_release(&b);
	}
	CHECK_OK(file_read_all(check_asset("data/text/tinystories/tinystories_train_head.txt"), &story,
			       &story_len, &err), &err);
	if (story) {
		struct ivec a = { 0 }, b = { 0 };
		char *dec = NULL;
		size_t dec_len = 0;
		CHECK_OK(tokenizer_encode(bin, story, story_len, TOK_ADD_BOS, &a, &err), &err);
		CHECK_OK(tokenizer_encode(gg, story, story_len, TOK_ADD_BOS, &b, &err), &err);
		CHECK(a.n > 1000 && a.n == b.n && !memcmp(a.v, b.v, a.n * sizeof(*a.v)));
		CHECK_OK(tokenizer_decode(bin, a.v, a.n, &dec, &dec_len, &err), &err);
		CHECK(dec && dec_len == story_len && !memcmp(dec, story, story_len));
		free(dec);
		ivec_release(&a);
		ivec_release(&b);
	}
out:
	free(story);
	tokenizer_free(bin);
	tokenizer_free(gg);
}

/* Ids from a line-by-line transcription of llama2.c run.c's encode() run on
 * tok512.bin: BOS, the dummy prefix merged into " Once", ... and for the
 * second text byte fallback (é is a token, ☃ and 日本 are not). */
static void test_llama2c_known_ids(void)
{
	static const int32_t lily[] = { 1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298,
					315, 421, 395, 317, 426 };
	static const int32_t bytes[] = { 1, 280, 412, 431, 485, 410, 229, 155, 134, 410, 233,
					 154, 168, 233, 159, 175 };
	const char *s1 = "Once upon a time, there was a little girl named Lily.";
	const char *s2 = "café ☃ 日本";
	struct tokenizer *t = load("models/stories260K/tok512.bin", 512);
	struct ivec ids = { 0 };
	struct ada_err err;
	char buf[64], *dec = NULL;
	size_t dec_len;

	if (!t)
		return;
	CHECK_OK(tokenizer_encode(t, s1, strlen(s1), TOK_ADD_BOS, &ids, &err), &err);
	CHECK(ids_equal(&ids, lily, sizeof(lily) / sizeof(lily[0])));
	/* Pieces: BOS has no text, the first word loses the dummy prefix after
	 * BOS, later words keep their space. */
	CHECK_INT_EQ(tokenizer_decode_token(t, -1, 1, buf, sizeof(buf)), 0);
	CHECK_INT_EQ(tokenizer_decode_token(t, 1, 403, buf, sizeof(buf)), 4);
	CHECK(!memcmp(buf, "Once", 4));
	CHECK_INT_EQ(tokenizer_decode_token(t, 403, 407, buf, sizeof(buf)), 5);
	CHECK(!memcmp(buf, " upon", 5));
	CHECK_INT_EQ(tokenizer_decode_token(t, 403, 229, buf, sizeof(buf)), 1);
	CHECK_INT_EQ((unsigned char)buf[0], 0xE2);
	CHECK_INT_EQ(tokenizer_decode_token(t, 403, 512, buf, sizeof(buf)), -1);
	CHECK_INT_EQ(tokenizer_decode_token(t, 403, 407, buf, 3), -1);
	CHECK(tokenizer_max_piece(t) >= 5 && tokenizer_max_piece(t) <= 8);
	CHECK_OK(tokenizer_decode(t, ids.v, ids.n, &dec, &dec_len, &err), &err);
	CHECK_STR_EQ(dec, s1);
	free(dec);

	ids.n = 0;
	CHECK_OK(tokenizer_encode(t, s2, strlen(s2), TOK_ADD_BOS | TOK_ADD_EOS, &ids, &err), &err);
	CHECK(ids.n == sizeof(bytes) / sizeof(bytes[0]) + 1 && ids.v[ids.n - 1] == 2);
	ids.n--;
	CHECK(ids_equal(&ids, bytes, sizeof(bytes) / sizeof(bytes[0])));
	CHECK_OK(tokenizer_decode(t, ids.v, ids.n, &dec, &dec_len, &err), &err);
	CHECK_STR_EQ(dec, s2);
	free(dec);

	ids.n = 0;                           /* empty text: BOS only, no prefix */
	CHECK_OK(tokenizer_encode(t, "", 0, TOK_ADD_BOS, &ids, &err), &err);
	CHECK(ids.n == 1 && ids.v[0] == 1);
	ids.n = 0;
	CHECK_OK(tokenizer_encode(t, "", 0, 0, &ids, &err), &err);
	CHECK_INT_EQ(ids.n, 0);
	ivec_release(&ids);
	tokenizer_free(t);
}

static void test_flags(void)
{
	struct tokenizer *spm = load(SPM_VOCAB, 0), *gpt2 = load(GPT2_VOCAB, 0);
	struct ivec a = { 0 }, b = { 0 };
	struct ada_err err;
	char *dec = NULL;
	size_t len, n;
	const char *txt;

	if (!spm || !gpt2)
		goto out;
	/* A continuation has no dummy prefix: "Hello" is then not "▁Hello". */
	CHECK_OK(tokenizer_encode(spm, "Hello", 5, 0, &a, &err), &err);
	CHECK_OK(tokenizer_encode(spm, "Hello", 5, TOK_NO_PREFIX_SPACE, &b, &err), &err);
	CHECK(a.n == 1 && a.v[0] == 15043);
	CHECK(b.n >= 1 && b.v[0] != 15043);
	txt = tokenizer_token_text(spm, b.v[0], &len);
	CHECK(txt && len >= 1 && txt[0] == 'H');
	/* After a prompt ("Hi" then " there" continued), pieces concatenate. */
	a.n = 0;
	CHECK_OK(tokenizer_encode(spm, "Hi", 2, TOK_ADD_BOS, &a, &err), &err);
	n = a.n;
	CHECK_OK(tokenizer_encode(spm, " there", 6, TOK_NO_PREFIX_SPACE, &a, &err), &err);
	CHECK(a.n > n);
	CHECK_OK(tokenizer_decode(spm, a.v, a.n, &dec, &len, &err), &err);
	CHECK_STR_EQ(dec, "Hi there");
	free(dec);

	/* Control tokens in the text: ordinary text unless asked for. */
	a.n = b.n = 0;
	CHECK_OK(tokenizer_encode(spm, "<s>Hi</s>", 9, 0, &a, &err), &err);
	CHECK_OK(tokenizer_encode(spm, "<s>Hi</s>", 9, TOK_PARSE_SPECIAL, &b, &err), &err);
	for (size_t i = 0; i < a.n; i++)
		CHECK(a.v[i] != 1 && a.v[i] != 2);
	CHECK(b.n >= 3 && b.v[0] == 1 && b.v[b.n - 1] == 2);
	/* Text after a control token gets the dummy prefix, as in llama.cpp. */
	txt = tokenizer_token_text(spm, b.v[1], &len);
	CHECK(txt && len >= 3 && !memcmp(txt, "\xe2\x96\x81", 3));
	CHECK_OK(tokenizer_decode(spm, b.v, b.n, &dec, &len, &err), &err);
	CHECK_STR_EQ(dec, "Hi");             /* control tokens decode to nothing */
	free(dec);

	a.n = b.n = 0;
	txt = "a<|endoftext|>b";
	CHECK_OK(tokenizer_encode(gpt2, txt, strlen(txt), 0, &a, &err), &err);
	CHECK_OK(tokenizer_encode(gpt2, txt, strlen(txt), TOK_PARSE_SPECIAL | TOK_ADD_EOS, &b,
				  &err), &err);
	CHECK(a.n > 3);
	CHECK(b.n == 4 && b.v[1] == 50256 && b.v[3] == 50256);
	CHECK_OK(tokenizer_decode(gpt2, a.v, a.n, &dec, &len, &err), &err);
	CHECK_STR_EQ(dec, txt);
	free(dec);
out:
	ivec_release(&a);
	ivec_release(&b);
	tokenizer_free(spm);
	tokenizer_free(gpt2);
}

static void test_invalid_utf8(void)
{
	struct tokenizer *t = load(GPT2_VOCAB, 0);
	const char *bad[] = { "ab\xff", "\xc3", "x\xed\xa0\x80y", "\xc0\xaf" };
	size_t at[] = { 2, 0, 1, 0 };
	struct ivec ids = { 0 };
	struct ada_err err;
	int32_t bad_id = 50257;
	char *dec;

	if (!t)
		return;
	CHECK_OK(ivec_push(&ids, 7), NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[64];
		CHECK_INT_EQ(tokenizer_encode(t, bad[i], strlen(bad[i]), TOK_ADD_BOS, &ids, &err),
			     ADA_EINVAL);
		snprintf(want, sizeof(want), "at byte %zu", at[i]);
		CHECK_MSG(strstr(err.msg, "UTF-8") && strstr(err.msg, want), "%s", err.msg);
		CHECK(ids.n == 1 && ids.v[0] == 7);      /* output left as it was */
	}
	CHECK_INT_EQ(tokenizer_decode(t, &bad_id, 1, &dec, NULL, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "50257") != NULL);
	ivec_release(&ids);
	tokenizer_free(t);
}

/* Every cut of tok512.bin is refused with the file named; wrong vocab
 * sizes are named as such. */
static void test_llama2c_damaged(void)
{
	char *tmp = check_tmpdir("tok"), out[4200];
	size_t cuts[] = { 0, 2, 4, 7, 11, 100, 3000, 6226 };
	struct mapped_file mf;
	struct tokenizer *t = NULL;
	struct ada_err err;
	int rc;

	if (mapped_file_open(check_asset("models/stories260K/tok512.bin"), &mf, &err)) {
		CHECK_MSG(0, "%s", err.msg);
		return;
	}
	snprintf(out, sizeof(out), "%s/cut.bin", tmp);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		CHECK_OK(file_write_atomic(out, mf.data, cuts[i], &err), &err);
		CHECK_MSG(tokenizer_load_llama2c(out, 512, &t, &err) == ADA_EFORMAT, "cut %zu",
			  cuts[i]);
		CHECK(t == NULL && strstr(err.msg, "cut.bin") != NULL);
		/* Without the model's count, a cut between records is a smaller
		 * vocabulary; a cut inside one is still an error. */
		rc = tokenizer_load_llama2c(out, 0, &t, &err);
		CHECK(rc == ADA_EFORMAT || (rc == ADA_OK && tokenizer_vocab_size(t) < 512));
		tokenizer_free(t);
		t = NULL;
	}
	CHECK_INT_EQ(tokenizer_load_llama2c(check_asset("models/stories260K/tok512.bin"), 500, &t, &err),
		     ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "vocab size mismatch") != NULL, "%s", err.msg);
	CHECK_INT_EQ(tokenizer_load_llama2c(check_asset("models/stories260K/tok512.bin"), 600, &t, &err),
		     ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "truncated at token 512") != NULL, "%s", err.msg);
	/* A length beyond max_token_length (7 here) is corruption. */
	{
		uint8_t *copy = malloc(mf.size);
		int32_t huge = 1000;
		memcpy(copy, mf.data, mf.size);
		memcpy(copy + 8, &huge, 4);          /* token 0's length */
		CHECK_OK(file_write_atomic(out, copy, mf.size, &err), &err);
		CHECK_INT_EQ(tokenizer_load_llama2c(out, 512, &t, &err), ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "max_token_length") != NULL, "%s", err.msg);
		free(copy);
	}
	CHECK_OK(tokenizer_load_llama2c(check_asset("models/stories260K/tok512.bin"), 0, &t, &err), &err);
	if (t)
		CHECK_INT_EQ(tokenizer_vocab_size(t), 512);
	tokenizer_free(t);
	CHECK_INT_EQ(tokenizer_load(check_asset("no/such/file.bin"), 0, &t, &err), ADA_ENOTFOUND);
	mapped_file_close(&mf);
	remove_tree(tmp, NULL);
	free(tmp);
}

/* ---- GGUF files with metadata the real files never have ---------------
 *
 * Put together with the library's own writer (format/gguf.h), which
 * writes any key of any type it is given: a scores array shorter than the
 * tokens, tokens that are integers, a token type llama.cpp does not have.
 * A gw_*() call that fails is a failed CHECK. */

static struct gguf_writer *gw_new(void)
{
	struct gguf_writer *w = NULL;
	struct ada_err err;

	CHECK_OK(gguf_writer_new(3, &w, &err), &err);
	if (!w)
		exit(1);
	return w;
}

/* GW(gguf_writer_set_str, w, key, value): one writer call, CHECKed. */
#define GW(fn, ...) do { \
	struct ada_err gw_err; \
	CHECK_OK(fn(__VA_ARGS__, &gw_err), &gw_err); \
} while (0)

/* Write the key/values set so far (no tensors) to path; *w starts over. */
static void gw_save(struct gguf_writer **w, const char *path)
{
	struct ada_err err;

	CHECK_OK(gguf_writer_write(*w, path, &err), &err);
	gguf_writer_free(*w);
	*w = gw_new();
}

/* A tiny SentencePiece vocabulary: <unk> <s> </s>, bytes, ▁ a ▁a. */
enum { TINY_N = 3 + 256 + 3 };

static void tiny_spm(struct gguf_writer *w, size_t n_scores, int32_t bad_type, uint32_t bos)
{
	static char names[TINY_N][8];
	const char *tokens[TINY_N];
	float scores[TINY_N];
	int32_t types[TINY_N];

	for (int i = 0; i < TINY_N; i++) {
		if (i < 3)
			snprintf(names[i], sizeof(names[i]), "%s",
				 (const char *[]){ "<unk>", "<s>", "</s>" }[i]);
		else if (i < 259)
			snprintf(names[i], sizeof(names[i]), "<0x%02X>", i - 3);
		tokens[i] = names[i];
		scores[i] = -(float)i;
		types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
	}
	tokens[259] = "\xe2\x96\x81";
	tokens[260] = "a";
	tokens[261] = "\xe2\x96\x81" "a";
	if (bad_type)
		types[260] = bad_type;
	GW(gguf_writer_set_str, w, "general.architecture", "llama");
	GW(gguf_writer_set_str, w, "tokenizer.ggml.model", "llama");
	GW(gguf_writer_set_str_array, w, "tokenizer.ggml.tokens", tokens, NULL, TINY_N);
	GW(gguf_writer_set_f32_array, w, "tokenizer.ggml.scores", scores, n_scores);
	GW(gguf_writer_set_i32_array, w, "tokenizer.ggml.token_type", types, TINY_N);
	GW(gguf_writer_set_u32, w, "tokenizer.ggml.bos_token_id", bos);
}

/* GGUF tokenizer metadata that is wrong in ways a truncation is not. */
static void test_gguf_metadata_damaged(void)
{
	char *tmp = check_tmpdir("tokgguf"), path[4200];
	static const int32_t a_a[] = { 261, 261 };
	struct tokenizer *t = NULL;
	struct ada_err err;
	struct gguf_writer *w = gw_new();
	struct ivec ids = { 0 };

	snprintf(path, sizeof(path), "%s/tiny.gguf", tmp);
	tiny_spm(w, TINY_N, 0, 1);
	gw_save(&w, path);
	CHECK_OK(tokenizer_load(path, 0, &t, &err), &err);
	if (t) {
		CHECK_OK(tokenizer_encode(t, "a a", 3, 0, &ids, &err), &err);
		CHECK(ids_equal(&ids, a_a, 2));
		tokenizer_free(t);
		ivec_release(&ids);
	}

	tiny_spm(w, TINY_N - 1, 0, 1);
	gw_save(&w, path);
	CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "tokenizer.ggml.scores") && strstr(err.msg, "tiny.gguf"), "%s",
		  err.msg);

	tiny_spm(w, TINY_N, 9, 1);
	gw_save(&w, path);
	CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "token 260") && strstr(err.msg, "type 9"), "%s", err.msg);

	tiny_spm(w, TINY_N, 0, 5000);
	gw_save(&w, path);
	CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "BOS token id 5000"), "%s", err.msg);

	{       /* byte-level BPE: a merge without its space, an unknown pre-tokenizer */
		const char *tokens[] = { "a", "b", "ab", "<|endoftext|>" };
		const char *bad_merges[] = { "a b", "ab" };
		GW(gguf_writer_set_str, w, "tokenizer.ggml.model", "gpt2");
		GW(gguf_writer_set_str_array, w, "tokenizer.ggml.tokens", tokens, NULL, 4);
		GW(gguf_writer_set_str_array, w, "tokenizer.ggml.merges", bad_merges, NULL, 2);
		gw_save(&w, path);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "merge 1 ('ab')"), "%s", err.msg);

		GW(gguf_writer_set_str, w, "tokenizer.ggml.model", "gpt2");
		GW(gguf_writer_set_str, w, "tokenizer.ggml.pre", "deepseek-llm");
		GW(gguf_writer_set_str_array, w, "tokenizer.ggml.tokens", tokens, NULL, 4);
		GW(gguf_writer_set_str_array, w, "tokenizer.ggml.merges", bad_merges, NULL, 1);
		gw_save(&w, path);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EUNSUPPORTED);
		CHECK_MSG(strstr(err.msg, "deepseek-llm"), "%s", err.msg);

		GW(gguf_writer_set_str, w, "tokenizer.ggml.model", "gpt2");
		GW(gguf_writer_set_i32_array, w, "tokenizer.ggml.tokens", (int32_t[]){ 7 }, 1);
		gw_save(&w, path);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "not an array of strings"), "%s", err.msg);

		GW(gguf_writer_set_str, w, "general.architecture", "llama");
		gw_save(&w, path);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_ENOTFOUND);
		CHECK_MSG(strstr(err.msg, "tokenizer.ggml.model"), "%s", err.msg);

		GW(gguf_writer_set_str, w, "tokenizer.ggml.model", "rwkv");
		GW(gguf_writer_set_str_array, w, "tokenizer.ggml.tokens", tokens, NULL, 4);
		gw_save(&w, path);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EUNSUPPORTED);
		CHECK_MSG(strstr(err.msg, "'rwkv'"), "%s", err.msg);
	}
	CHECK(t == NULL);
	gguf_writer_free(w);
	remove_tree(tmp, NULL);
	free(tmp);
}

struct shared_job {
	const struct tokenizer *t;
	const char *text;
	size_t len;
	struct ivec ids;
	int rc;
};

static void *encode_job(void *arg)
{
	struct shared_job *j = arg;
	struct ada_err err;

	for (int rep = 0; rep < 3 && !j->rc; rep++) {
		j->ids.n = 0;
		j->rc = tokenizer_encode(j->t, j->text, j->len, TOK_ADD_BOS, &j->ids, &err);
	}
	return NULL;
}

/* One tokenizer, four threads, the same answers. */
static void test_shared_between_threads(void)
{
	struct tokenizer *t = load(GPT2_VOCAB, 0);
	struct shared_job jobs[4];
	pthread_t th[4];
	char *text = NULL;
	size_t len;
	struct ada_err err;

	if (!t)
		return;
	CHECK_OK(file_read_all(check_asset("data/text/tinystories/tinystories_train_head.txt"), &text,
			       &len, &err), &err);
	for (int i = 0; text && i < 4; i++) {
		jobs[i] = (struct shared_job){ .t = t, .text = text, .len = len };
		CHECK(pthread_create(&th[i], NULL, encode_job, &jobs[i]) == 0);
	}
	for (int i = 0; text && i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT_EQ(jobs[i].rc, 0);
		CHECK(jobs[i].ids.n == jobs[0].ids.n &&
		      !memcmp(jobs[i].ids.v, jobs[0].ids.v, jobs[0].ids.n * sizeof(int32_t)));
	}
	for (int i = 0; text && i < 4; i++)
		ivec_release(&jobs[i].ids);
	free(text);
	tokenizer_free(t);
}

/* A megabyte in one call, whole (no timing assertion: the suite's timeout
 * is the bound); the throughput is printed for the record. */
static void test_tinyshakespeare_whole(void)
{
	const char *vocabs[] = { SPM_VOCAB, GPT2_VOCAB, "models/stories260K/tok512.bin" };
	char *text = NULL;
	size_t len;
	struct ada_err err;

	CHECK_OK(file_read_all(check_asset("data/text/tinyshakespeare/input.txt"), &text, &len, &err),
		 &err);
	for (size_t v = 0; text && v < sizeof(vocabs) / sizeof(vocabs[0]); v++) {
		struct tokenizer *t = load(vocabs[v], 0);
		struct ivec ids = { 0 };
		struct timespec t0, t1;
		char *dec = NULL;
		size_t dec_len = 0;
		double s;

		if (!t)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_OK(tokenizer_encode(t, text, len, 0, &ids, &err), &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
		fprintf(stderr, "  %s: %zu bytes -> %zu tokens in %.3f s (%.1f MB/s)\n",
			tokenizer_kind(t), len, ids.n, s, (double)len / s / 1e6);
		CHECK(ids.n > len / 8 && ids.n < len);
		CHECK_OK(tokenizer_decode(t, ids.v, ids.n, &dec, &dec_len, &err), &err);
		CHECK(dec && dec_len == len && !memcmp(dec, text, len));
		free(dec);
		ivec_release(&ids);
		tokenizer_free(t);
	}
	free(text);
}

int main(void)
{
	check_require_assets("test_tokenizer");
	RUN(test_llama_spm_vectors);
	RUN(test_gpt2_vectors);
	RUN(test_llama2c_32k_vectors);
	RUN(test_llama2c_bin_matches_gguf);
	RUN(test_llama2c_known_ids);
	RUN(test_flags);
	RUN(test_invalid_utf8);
	RUN(test_llama2c_damaged);
	RUN(test_gguf_metadata_damaged);
	RUN(test_shared_between_threads);
	RUN(test_tinyshakespeare_whole);
	return check_summary();
}
