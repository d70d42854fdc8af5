/* Tests of lib/tokenizer/hf_json.c: tokenizer.json files the test writes —
 * GPT-2 from its vocab.json + merges.txt (must reproduce llama.cpp's gpt-2
 * vectors), Llama 3 / Qwen2 splits, NFC, a small hand-made SentencePiece-
 * style vocabulary with hand-computed ids, BOS/EOS discovery, and files
 * that must be refused with the component named. */
#include "check.h"
#include "tokenizer_vectors.h"

#include <jansson.h>

#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;

#define GPT2_VECTORS "tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf"
#define MS "\xe2\x96\x81"                 /* U+2581, SentencePiece's space */

static const char LLAMA3_RE[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
	"?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_RE[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
	"?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Write root (reference stolen) as dir/name; returns the path (static). */
static const char *write_json(const char *dir, const char *name, json_t *root)
{
	static char path[4][4200];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, 4200, "%s/%s", dir, name);
	CHECK(json_dump_file(root, p, JSON_ENCODE_ANY) == 0);
	json_decref(root);
	return p;
}

static json_t *added(int id, const char *content, int special)
{
	return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", content,
			 "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0,
			 "special", special);
}

static json_t *bytelevel(int add_prefix_space, int use_regex)
{
	return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space",
			 add_prefix_space, "trim_offsets", 1, "use_regex", use_regex);
}

/* GPT-2's tokenizer.json from the original vocab.json and merges.txt;
 * pairs = 1 writes merges as ["a", "b"] (newer files) instead of "a b". */
static json_t *gpt2_json(int pairs, json_t *pre_tokenizer, json_t *normalizer)
{
	json_error_t jerr;
	json_t *vocab = json_load_file(check_asset("tokenizers/gpt2/vocab.json"), 0, &jerr);
	json_t *merges = json_array();
	char *text = NULL, *line, *save = NULL;
	size_t len;
	struct ada_err err;

	CHECK_MSG(vocab != NULL, "vocab.json: %s", jerr.text);
	CHECK_OK(file_read_all(check_asset("tokenizers/gpt2/merges.txt"), &text, &len, &err), &err);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!strncmp(line, "#version", 8) || !sp)
			continue;            /* the header; "# #" is a merge */
		if (pairs) {
			*sp = '\0';
			json_array_append_new(merges, json_pack("[s, s]", line, sp + 1));
		} else {
			json_array_append_new(merges, json_string(line));
		}
	}
	free(text);
	CHECK_INT_EQ(json_array_size(merges), 50000);
	return json_pack("{s:s, s:[o], s:o, s:o, s:n, s:o, s:{s:s, s:n, s:n, s:s, s:s, s:b, s:b, s:o, s:o}}",
			 "version", "1.0",
			 "added_tokens", added(50256, "<|endoftext|>", 1),
			 "normalizer", normalizer ? normalizer : json_null(),
			 "pre_tokenizer", pre_tokenizer ? pre_tokenizer : bytelevel(0, 1),
			 "post_processor",
			 "decoder", bytelevel(1, 1),
			 "model", "type", "BPE", "dropout", "unk_token",
			 "continuing_subword_prefix", "", "end_of_word_suffix", "",
			 "fuse_unk", 0, "byte_fallback", 0, "vocab", vocab, "merges", merges);
}

static struct tokenizer *load_path(const char *path)
{
	struct tokenizer *t = NULL;
	struct ada_err err;

	CHECK_OK(tokenizer_load(path, 0, &t, &err), &err);
	return t;
}

static void test_gpt2_json_vectors(void)
{
	for (int pairs = 0; pairs <= 1; pairs++) {
		const char *path = write_json(tmp, "gpt2.json", gpt2_json(pairs, NULL, NULL));
		struct tokenizer *t = load_path(path);
		if (!t)
			continue;
		CHECK_STR_EQ(tokenizer_kind(t), "hf-bpe");
		CHECK_INT_EQ(tokenizer_vocab_size(t), 50257);
		CHECK_INT_EQ(tokenizer_eos(t), 50256);
		CHECK_INT_EQ(check_vectors(t, check_asset(GPT2_VECTORS)), 46);
		tokenizer_free(t);
	}
}

/* Token boundaries (byte offsets into the decoded text) of ids. */
static int boundaries(const struct tokenizer *t, const struct ivec *ids, size_t *at, size_t max)
{
	size_t pos = 0;
	char buf[256];
	int n = 0;

	for (size_t i = 0; i < ids->n && (size_t)n < max; i++) {
		int len = tokenizer_decode_token(t, i ? ids->v[i - 1] : -1, ids->v[i], buf, sizeof(buf));
		CHECK(len >= 0);
		pos += (size_t)(len > 0 ? len : 0);
		at[n++] = pos;
	}
	return n;
}

static int has(const size_t *at, int n, size_t x)
{
	for (int i = 0; i < n; i++)
		if (at[i] == x)
			return 1;
	return 0;
}

/* The Llama 3 and Qwen2 Split regexes over the GPT-2 vocabulary: digits go
 * in threes (Llama 3) or alone (Qwen2), contractions ignore case, and no
 * token crosses a word the regex cut. */
static void test_llama3_qwen2_splits(void)
{
	const char *res[] = { LLAMA3_RE, QWEN2_RE };
	const char *text = "1234567 I'LL go";
	struct ada_err err;

	for (int k = 0; k < 2; k++) {
		json_t *pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, o]}", "type", "Sequence",
					"pretokenizers", "type", "Split", "pattern", "Regex", res[k],
					"behavior", "Isolated", "invert", 0, bytelevel(0, 0));
		json_t *root = gpt2_json(0, pre, NULL);
		struct tokenizer *t;
		struct ivec ids = { 0 };
		size_t at[64];
		int n;
		char *dec = NULL;

		json_object_set_new(json_object_get(root, "model"), "ignore_merges", json_true());
		t = load_path(write_json(tmp, "split.json", root));
		if (!t)
			continue;
		CHECK_OK(tokenizer_encode(t, text, strlen(text), 0, &ids, &err), &err);
		n = boundaries(t, &ids, at, 64);
		if (k == 0) {
			CHECK(has(at, n, 3) && has(at, n, 6) && has(at, n, 7));
			CHECK(!has(at, n, 1) && !has(at, n, 2));   /* "123" is one token */
		} else {
			for (size_t d = 1; d <= 7; d++)
				CHECK(has(at, n, d));
		}
		/* "'LL" is one word for both (case-insensitive contraction). */
		CHECK(has(at, n, 9) && has(at, n, 12));
		CHECK_OK(tokenizer_decode(t, ids.v, ids.n, &dec, NULL, &err), &err);
		CHECK_STR_EQ(dec, text);
		free(dec);
		ivec_release(&ids);
		tokenizer_free(t);
	}
}

static void test_nfc_normalizer(void)
{
	const char *decomposed = "cafe\xcc\x81", *composed = "caf\xc3\xa9";
	struct tokenizer *plain = load_path(write_json(tmp, "plain.json", gpt2_json(0, NULL, NULL)));
	struct tokenizer *nfc = load_path(write_json(tmp, "nfc.json",
		gpt2_json(0, NULL, json_pack("{s:s, s:[{s:s}]}", "type", "Sequence", "normalizers",
					     "type", "NFC"))));
	struct ivec a = { 0 }, b = { 0 }, c = { 0 };
	struct ada_err err;

	if (!plain || !nfc)
		goto out;
	CHECK_OK(tokenizer_encode(nfc, decomposed, strlen(decomposed), 0, &a, &err), &err);
	CHECK_OK(tokenizer_encode(nfc, composed, strlen(composed), 0, &b, &err), &err);
	CHECK_OK(tokenizer_encode(plain, decomposed, strlen(decomposed), 0, &c, &err), &err);
	CHECK(a.n == b.n && !memcmp(a.v, b.v, a.n * sizeof(*a.v)));
	CHECK(c.n != a.n || memcmp(c.v, a.v, a.n * sizeof(*a.v)));
out:
	ivec_release(&a);
	ivec_release(&b);
	ivec_release(&c);
	tokenizer_free(plain);
	tokenizer_free(nfc);
}

/* A SentencePiece-style vocabulary small enough to follow by hand:
 * 0-2 <unk> <s> </s>, 3-258 <0x00>..<0xFF>, then the pieces below, merged
 * by rank "h i", "▁ hi", "a b", "▁ ab", "▁ h". */
enum { U = 259, H, I, A, B, C, HI, U_HI, AB, U_AB, U_H };

static json_t *small_model(int byte_fallback, int fuse_unk)
{
	const char *pieces[] = { MS, "h", "i", "a", "b", "c", "hi", MS "hi", "ab", MS "ab", MS "h" };
	json_t *vocab = json_object(), *model;
	char name[8];

	json_object_set_new(vocab, "<unk>", json_integer(0));
	json_object_set_new(vocab, "<s>", json_integer(1));
	json_object_set_new(vocab, "</s>", json_integer(2));
	for (int b = 0; b < 256; b++) {
		snprintf(name, sizeof(name), "<0x%02X>", b);
		json_object_set_new(vocab, name, json_integer(3 + b));
	}
	for (int i = 0; i < 11; i++)
		json_object_set_new(vocab, pieces[i], json_integer(U + i));
	model = json_pack("{s:s, s:n, s:s, s:b, s:b, s:o, s:[s, s, [s, s], s, s]}",
			  "type", "BPE", "dropout", "unk_token", "<unk>", "fuse_unk", fuse_unk,
			  "byte_fallback", byte_fallback, "vocab", vocab, "merges",
			  "h i", MS " hi", "a", "b", MS " ab", MS " h");
	return model;
}

static json_t *small_added(void)
{
	return json_pack("[o, o, o]", added(0, "<unk>", 1), added(1, "<s>", 1), added(2, "</s>", 1));
}

/* Mistral style: Metaspace pre-tokenizer and decoder. */
static json_t *metaspace_json(int byte_fallback, int fuse_unk)
{
	return json_pack("{s:o, s:n, s:{s:s, s:s, s:s, s:b},"
			 " s:{s:s, s:[{s:s, s:s, s:s, s:b}, {s:s}, {s:s}]}, s:o}",
			 "added_tokens", small_added(), "normalizer",
			 "pre_tokenizer", "type", "Metaspace", "replacement", MS,
			 "prepend_scheme", "first", "split", 0,
			 "decoder", "type", "Sequence", "decoders",
			 "type", "Metaspace", "replacement", MS, "prepend_scheme", "first", "split", 0,
			 "type", "ByteFallback", "type", "Fuse",
			 "model", small_model(byte_fallback, fuse_unk));
}

/* Llama 2 style: Prepend + Replace normalizers, decoders undoing them, and
 * a template that puts <s> first. */
static json_t *llama2_json(void)
{
	return json_pack("{s:o, s:{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}, s:n,"
			 " s:{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}]},"
			 " s:{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}, s:o}",
			 "added_tokens", small_added(),
			 "normalizer", "type", "Sequence", "normalizers",
			 "type", "Prepend", "prepend", MS,
			 "type", "Replace", "pattern", "String", " ", "content", MS,
			 "pre_tokenizer",
			 "post_processor", "type", "TemplateProcessing", "single",
			 "SpecialToken", "id", "<s>", "type_id", 0,
			 "Sequence", "id", "A", "type_id", 0,
			 "decoder", "type", "Sequence", "decoders",
			 "type", "Replace", "pattern", "String", MS, "content", " ",
			 "type", "ByteFallback", "type", "Fuse",
			 "type", "Strip", "content", " ", "start", 1, "stop", 0,
			 "model", small_model(1, 1));
}

static void check_encode(const struct tokenizer *t, const char *text, unsigned flags,
			 const int32_t *want, size_t n, const char *round_trip)
{
	struct ivec ids = { 0 };
	struct ada_err err;
	char *dec = NULL;

	CHECK_OK(tokenizer_encode(t, text, strlen(text), flags, &ids, &err), &err);
	CHECK_MSG(ids.n == n && !memcmp(ids.v, want, n * sizeof(*want)),
		  "'%s': %zu ids (first %d), want %zu", text, ids.n, ids.n ? ids.v[0] : -1, n);
	CHECK_OK(tokenizer_decode(t, ids.v, ids.n, &dec, NULL, &err), &err);
	CHECK_STR_EQ(dec, round_trip);
	free(dec);
	ivec_release(&ids);
}

/* An id list literal and its length, as two arguments. */
#define IDS(...) (const int32_t[]){ __VA_ARGS__ }, \
	sizeof((const int32_t[]){ __VA_ARGS__ }) / sizeof(int32_t)

static void test_small_spm_style(void)
{
	struct tokenizer *ms = load_path(write_json(tmp, "ms.json", metaspace_json(1, 1)));
	struct tokenizer *l2 = load_path(write_json(tmp, "l2.json", llama2_json()));

	if (!ms || !l2)
		goto out;
	/* "▁hi▁abc": h+i, then ▁+hi, a+b, ▁+ab; c stays. */
	check_encode(ms, "hi abc", 0, IDS(U_HI, U_AB, C), "hi abc");
	check_encode(l2, "hi abc", 0, IDS(U_HI, U_AB, C), "hi abc");
	/* é is no piece: byte fallback <0xC3> <0xA9>. */
	check_encode(ms, "hi\xc3\xa9", 0, IDS(U_HI, 3 + 0xC3, 3 + 0xA9), "hi\xc3\xa9");
	check_encode(l2, "ahi", TOK_ADD_BOS, IDS(1, U, A, HI), "ahi");
	/* A leading space: Prepend always adds one more ▁ (and round-trips);
	 * Metaspace "first" does not prepend to text starting with a space,
	 * and its decoder then drops that space, as Hugging Face does. */
	check_encode(l2, " hi", 0, IDS(U, U_HI), " hi");
	check_encode(ms, " hi", 0, IDS(U_HI), "hi");
	/* Continuations get no prefix. */
	check_encode(ms, "hi", TOK_NO_PREFIX_SPACE, IDS(HI), "hi");
	check_encode(l2, "hi", TOK_NO_PREFIX_SPACE, IDS(HI), "hi");
	/* Special tokens on request; the text after one is a new segment. */
	check_encode(l2, "<s>hi", TOK_PARSE_SPECIAL, IDS(1, U_HI), "hi");
	CHECK_INT_EQ(tokenizer_bos(l2), 1);
	CHECK_INT_EQ(tokenizer_eos(l2), 2);
	CHECK_INT_EQ(tokenizer_unk(l2), 0);
	CHECK(tokenizer_wants_bos(l2));       /* from the template */
	CHECK(!tokenizer_wants_bos(ms));
out:
	tokenizer_free(ms);
	tokenizer_free(l2);
}

static void test_unknown_without_byte_fallback(void)
{
	struct tokenizer *fused = load_path(write_json(tmp, "fused.json", metaspace_json(0, 1)));
	struct tokenizer *plain = load_path(write_json(tmp, "unfused.json", metaspace_json(0, 0)));

	if (fused && plain) {
		/* <unk> decodes to nothing. */
		check_encode(fused, "h\xc3\xa9\xc3\xa9", 0, IDS(U_H, 0), "h");
		check_encode(plain, "h\xc3\xa9\xc3\xa9", 0, IDS(U_H, 0, 0), "h");
	}
	tokenizer_free(fused);
	tokenizer_free(plain);
}

/* tokenizer_config.json beside tokenizer.json names BOS/EOS/PAD. */
static void test_tokenizer_config(void)
{
	char dir[4200];
	struct tokenizer *t;

	snprintf(dir, sizeof(dir), "%s/withcfg", tmp);
	CHECK_OK(mkdir_p(dir, 0755, NULL), NULL);
	write_json(dir, "tokenizer_config.json",
		   json_pack("{s:s, s:{s:s}, s:n, s:b, s:b}", "bos_token", "</s>", "eos_token",
			     "content", "<s>", "pad_token", "add_bos_token", 1, "add_eos_token", 1));
	t = load_path(write_json(dir, "tokenizer.json", metaspace_json(1, 1)));
	if (t) {
		CHECK_INT_EQ(tokenizer_bos(t), 2);
		CHECK_INT_EQ(tokenizer_eos(t), 1);
		CHECK_INT_EQ(tokenizer_pad(t), -1);
		CHECK(tokenizer_wants_bos(t) && tokenizer_wants_eos(t));
	}
	tokenizer_free(t);
	write_json(dir, "tokenizer_config.json", json_string("not an object"));
	CHECK_INT_EQ(tokenizer_load_hf(write_json(dir, "tokenizer.json", metaspace_json(1, 1)), &t,
				       NULL), ADA_EFORMAT);
}

/* Files we must refuse, and what the error must name. */
static void test_refused(void)
{
	struct {
		const char *what;
		const char *key;      /* member of the root to replace */
		json_t *value;
		int code;
		const char *needle;
	} cases[] = {
		{ "NFKC", "normalizer", json_pack("{s:s}", "type", "NFKC"), ADA_EUNSUPPORTED, "NFKC" },
		{ "regex Replace", "normalizer",
		  json_pack("{s:s, s:{s:s}, s:s}", "type", "Replace", "pattern", "Regex", " +",
			    "content", " "), ADA_EUNSUPPORTED, "Regex is supported only for" },
		{ "Whitespace", "pre_tokenizer", json_pack("{s:s}", "type", "Whitespace"),
		  ADA_EUNSUPPORTED, "Whitespace" },
		{ "other regex", "pre_tokenizer",
		  json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex", "\\d+",
			    "behavior", "Isolated", "invert", 0), ADA_EUNSUPPORTED, "\\d+" },
		{ "CTC decoder", "decoder", json_pack("{s:s}", "type", "CTC"),
		  ADA_EUNSUPPORTED, "CTC" },
		{ "added single_word", "added_tokens",
		  json_pack("[{s:i, s:s, s:b, s:b}]", "id", 0, "content", "<unk>", "single_word", 1,
			    "special", 1), ADA_EUNSUPPORTED, "single_word" },
		{ "post-processor", "post_processor", json_pack("{s:s}", "type", "BertPostProcessor"),
		  ADA_EUNSUPPORTED, "BertPostProcessor" },
		{ "added without content", "added_tokens", json_pack("[{s:i}]", "id", 3),
		  ADA_EFORMAT, "added_tokens[0]" },
	};
	struct tokenizer *t = NULL;
	struct ada_err err;
	const char *path;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *root = metaspace_json(1, 1);
		json_object_set_new(root, cases[i].key, cases[i].value);
		path = write_json(tmp, "bad.json", root);
		CHECK_MSG(tokenizer_load(path, 0, &t, &err) == cases[i].code, "%s", cases[i].what);
		CHECK_MSG(strstr(err.msg, cases[i].needle) && strstr(err.msg, "bad.json"),
			  "%s: %s", cases[i].what, err.msg);
		CHECK(t == NULL);
	}

	/* Broken model sections. */
	{
		json_t *root = metaspace_json(1, 1), *model = json_object_get(root, "model");
		/* a Unigram model with a BPE's vocabulary object */
		json_object_set_new(model, "type", json_string("Unigram"));
		path = write_json(tmp, "bad.json", root);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "Unigram") != NULL);
	}
	{
		json_t *root = metaspace_json(1, 1), *model = json_object_get(root, "model");
		json_array_append_new(json_object_get(model, "merges"), json_string("h zz"));
		path = write_json(tmp, "bad.json", root);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "merges[5]") && strstr(err.msg, "zz"), "%s", err.msg);
	}
	{
		json_t *root = metaspace_json(1, 1), *model = json_object_get(root, "model");
		json_array_append_new(json_object_get(model, "merges"), json_string("nospace"));
		path = write_json(tmp, "bad.json", root);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "merges[5]") != NULL);
	}
	{
		json_t *root = metaspace_json(1, 1), *model = json_object_get(root, "model");
		json_object_set_new(json_object_get(model, "vocab"), "x", json_integer(-4));
		path = write_json(tmp, "bad.json", root);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "model.vocab['x']") != NULL);
	}
	{
		json_t *root = metaspace_json(1, 1), *model = json_object_get(root, "model");
		json_object_set_new(json_object_get(model, "vocab"), "dup", json_integer(5));
		path = write_json(tmp, "bad.json", root);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "id 5") != NULL);
	}
	{
		json_t *root = metaspace_json(1, 1);
		json_object_del(root, "model");
		path = write_json(tmp, "bad.json", root);
		CHECK_INT_EQ(tokenizer_load(path, 0, &t, &err), ADA_EFORMAT);
		CHECK(strstr(err.msg, "'model'") != NULL);
	}
	/* Not JSON at all, and JSON cut short. */
	{
		char p[4200];
		snprintf(p, sizeof(p), "%s/cut.json", tmp);
		CHECK_OK(file_write_atomic(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1",
					   41, &err), &err);
		CHECK_INT_EQ(tokenizer_load(p, 0, &t, &err), ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "cut.json: line 1") != NULL, "%s", err.msg);
		CHECK_INT_EQ(tokenizer_load_hf(p, &t, &err), ADA_EFORMAT);
	}
}

int main(void)
{
	int rc;

	check_require_assets("test_tokenizer_hf");
	tmp = check_tmpdir("tokhf");
	RUN(test_gpt2_json_vectors);
	RUN(test_llama3_qwen2_splits);
	RUN(test_nfc_normalizer);
	RUN(test_small_spm_style);
	RUN(test_unknown_without_byte_fallback);
	RUN(test_tokenizer_config);
	RUN(test_refused);
	rc = check_summary();
	remove_tree(tmp, NULL);
	free(tmp);
	return rc;
}
