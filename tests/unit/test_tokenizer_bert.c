/* Tests of the encoder side of lib/tokenizer: BERT's WordPiece from
 * llama.cpp's bert-bge GGUF (its conformance vectors), from vocab.txt and
 * from a tokenizer.json the test writes (all three must agree); BERT's
 * normalizer and pre-tokenizer rule by rule with hand-checked ids; pair
 * encoding and every truncation case; RoBERTa's byte-level BPE from a
 * tokenizer.json built out of GPT-2's files with RoBERTa's specials; the
 * decoder (Llama-family) pair format; damaged vocab.txt files. */
#include "check.h"
#include "tokenizer_vectors.h"

#include <jansson.h>

#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;

#define BGE "tokenizers/llamacpp-vocab/ggml-vocab-bert-bge.gguf"
#define VOCAB_TXT "tokenizers/bert-base-uncased/vocab.txt"
#define GPT2_GGUF "tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf"
#define SPM_GGUF "tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf"

/* bert-base-uncased ids, looked up by hand in vocab.txt. */
enum {
	PAD = 0, UNK = 100, CLS = 101, SEP = 102, MASK = 103,
	BANG = 999, DOLLAR = 1002, COMMA = 1010, DOT = 1012, FIVE = 1019, LBRACKET = 1031,
	RBRACKET = 1033, A = 1037, B = 1038, C = 1039, LGUILL = 1077, RGUILL = 1090,
	WO = 1855, TILDE = 1995, S_CONT = 2015, ARE = 2024, YOU = 2017, AA_CONT = 2050,
	WORLD = 2088, HOW = 2129, HELLO = 7592, HI = 7632, CAFE = 7668, FU = 11865,
	AB = 11113, NAIVE = 15743, HRER_CONT = 17875, CL = 18856, APPLE = 6207,
};

#define IDS(...) ((const int32_t[]){ __VA_ARGS__ }), \
	(sizeof((const int32_t[]){ __VA_ARGS__ }) / sizeof(int32_t))

static struct tokenizer *load(const char *path)
{
	struct tokenizer *t = NULL;
	struct ada_err err;

	CHECK_OK(tokenizer_load(path, 0, &t, &err), &err);
	return t;
}

static const char *write_text(const char *dir, const char *name, const char *text, size_t len)
{
	static char path[4][4200];
	static int next;
	char *p = path[next++ % 4];
	struct ada_err err;

	snprintf(p, 4200, "%s/%s", dir, name);
	CHECK_OK(file_write_atomic(p, text, len, &err), &err);
	return p;
}

/* Write root (reference stolen) as dir/name. */
static const char *write_json(const char *dir, const char *name, json_t *root)
{
	char *text = json_dumps(root, JSON_ENCODE_ANY);
	const char *p = write_text(dir, name, text, strlen(text));

	free(text);
	json_decref(root);
	return p;
}

static int same_ids(const struct ivec *a, const int32_t *b, size_t n)
{
	return a->n == n && (!n || !memcmp(a->v, b, n * sizeof(*b)));
}

static void print_ids(const char *what, const int32_t *v, size_t n)
{
	fprintf(stderr, "  %s:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %d", v[i]);
	fputc('\n', stderr);
}

/* text encodes (with flags) to exactly the ids given. */
#define CHECK_ENC(t, text, flags, ...) check_enc(t, text, sizeof(text) - 1, flags, __LINE__, \
						 IDS(__VA_ARGS__))

static void check_enc(const struct tokenizer *t, const char *text, size_t len, unsigned flags,
		      int line, const int32_t *want, size_t n)
{
	struct ivec ids = { 0 };
	struct ada_err err;

	CHECK_OK(tokenizer_encode(t, text, len, flags, &ids, &err), &err);
	CHECK_MSG(same_ids(&ids, want, n), "line %d: '%.*s'", line, (int)len, text);
	if (!same_ids(&ids, want, n)) {
		print_ids("got ", ids.v, ids.n);
		print_ids("want", want, n);
	}
	ivec_release(&ids);
}

/* a and b encode the same with t. */
static void check_same(const struct tokenizer *t, const char *a, const char *b)
{
	struct ivec x = { 0 }, y = { 0 };
	struct ada_err err;

	CHECK_OK(tokenizer_encode(t, a, strlen(a), 0, &x, &err), &err);
	CHECK_OK(tokenizer_encode(t, b, strlen(b), 0, &y, &err), &err);
	CHECK_MSG(x.n && same_ids(&x, y.v, y.n), "'%s' vs '%s'", a, b);
	ivec_release(&x);
	ivec_release(&y);
}

/* ---- WordPiece: the three sources ------------------------------------ */

static void test_bge_gguf_vectors(void)
{
	struct tokenizer *t = load(check_asset(BGE));

	if (!t)
		return;
	CHECK_STR_EQ(tokenizer_kind(t), "wordpiece");
	CHECK_INT_EQ(tokenizer_vocab_size(t), 30522);
	CHECK_INT_EQ(tokenizer_unk(t), UNK);
	CHECK_INT_EQ(tokenizer_bos(t), CLS);
	CHECK_INT_EQ(tokenizer_eos(t), SEP);
	CHECK_INT_EQ(tokenizer_pad(t), PAD);
	CHECK(tokenizer_wants_bos(t) && tokenizer_wants_eos(t));
	/* The vectors are Hugging Face's output with add_special_tokens=False:
	 * no [CLS]/[SEP] (llama.cpp's test-tokenizer-0 encodes without
	 * special tokens too). Decoding lowercases and loses spaces: ids only. */
	CHECK_INT_EQ(check_vectors_opt(t, check_asset(BGE), 0), 46);
	tokenizer_free(t);
}

static void test_vocab_txt_vectors(void)
{
	struct tokenizer *t = NULL;
	struct ada_err err;

	CHECK_OK(tokenizer_load_wordpiece(check_asset(VOCAB_TXT), &t, &err), &err);
	if (!t)
		return;
	CHECK_STR_EQ(tokenizer_kind(t), "wordpiece");
	CHECK_INT_EQ(tokenizer_vocab_size(t), 30522);
	CHECK_INT_EQ(tokenizer_unk(t), UNK);
	CHECK_INT_EQ(tokenizer_bos(t), CLS);
	CHECK_INT_EQ(tokenizer_eos(t), SEP);
	CHECK_INT_EQ(tokenizer_pad(t), PAD);
	CHECK_INT_EQ(check_vectors_opt(t, check_asset(BGE), 0), 46);
	tokenizer_free(t);
	/* tokenizer_load tells a vocab.txt by its content. */
	t = load(check_asset(VOCAB_TXT));
	if (t)
		CHECK_STR_EQ(tokenizer_kind(t), "wordpiece");
	tokenizer_free(t);
}

/* The GGUF spells the same vocabulary with U+2581 word starts and bare
 * continuations; ids must agree on a megabyte of text, and decoding too. */
static void test_vocab_txt_matches_gguf(void)
{
	struct tokenizer *txt = load(check_asset(VOCAB_TXT)), *gg = load(check_asset(BGE));
	char *text = NULL, *da = NULL, *db = NULL;
	struct ivec a = { 0 }, b = { 0 };
	struct ada_err err;
	size_t len, la = 0, lb = 0, piece_len;
	const char *piece;

	if (!txt || !gg)
		goto out;
	piece = tokenizer_token_text(gg, HELLO, &piece_len);
	CHECK(piece && piece_len == 8 && !memcmp(piece, "\xe2\x96\x81hello", 8));
	piece = tokenizer_token_text(txt, HRER_CONT, &piece_len);
	CHECK(piece && piece_len == 6 && !memcmp(piece, "##hrer", 6));
	CHECK_OK(file_read_all(check_asset("data/text/tinyshakespeare/input.txt"), &text, &len, &err),
		 &err);
	if (!text)
		goto out;
	CHECK_OK(tokenizer_encode(txt, text, len, TOK_ADD_BOS | TOK_ADD_EOS, &a, &err), &err);
	CHECK_OK(tokenizer_encode(gg, text, len, TOK_ADD_BOS | TOK_ADD_EOS, &b, &err), &err);
	CHECK(a.n > len / 8 && a.n == b.n && !memcmp(a.v, b.v, a.n * sizeof(*a.v)));
	CHECK(a.v[0] == CLS && a.v[a.n - 1] == SEP);
	CHECK_OK(tokenizer_decode(txt, a.v, a.n, &da, &la, &err), &err);
	CHECK_OK(tokenizer_decode(gg, b.v, b.n, &db, &lb, &err), &err);
	CHECK(da && db && la == lb && !memcmp(da, db, la));
	/* Lowercased words, one space apart, no space at the start. */
	CHECK(da && !strncmp(da, "first citizen : before we proceed any further", 45));
out:
	free(da);
	free(db);
	free(text);
	ivec_release(&a);
	ivec_release(&b);
	tokenizer_free(txt);
	tokenizer_free(gg);
}

/* ---- BERT's text rules, one by one ------------------------------------ */

static void test_normalizer_rules(void)
{
	struct tokenizer *t = load(check_asset(VOCAB_TXT));
	char word[128];
	char *dec = NULL;
	struct ada_err err;

	if (!t)
		return;
	/* Lowercase; accents stripped (NFD, nonspacing marks dropped). */
	CHECK_ENC(t, "HELLO World", 0, HELLO, WORLD);
	CHECK_ENC(t, "Caf\xc3\xa9 Na\xc3\xafve F\xc3\xbchrer", 0, CAFE, NAIVE, FU, HRER_CONT);
	CHECK_ENC(t, "Cafe\xcc\x81", 0, CAFE);                 /* decomposed already */
	CHECK_ENC(t, "\xc4\xb0", 0, 1045);                      /* U+0130: I + dot -> i */
	check_same(t, "\xe2\x84\xab", "a");                     /* ANGSTROM SIGN -> A + ring */
	check_same(t, "\xef\xa4\x80", "\xe8\xb1\x88");         /* U+F900 -> U+8C48 */
	/* Punctuation: ASCII (even $, a Unicode symbol) and P* stand alone;
	 * a symbol outside ASCII (U+FF5E, Sm) does not. */
	CHECK_ENC(t, "hello,world!", 0, HELLO, COMMA, WORLD, BANG);
	CHECK_ENC(t, "$5", 0, DOLLAR, FIVE);
	CHECK_ENC(t, "\xc2\xabhi\xc2\xbb", 0, LGUILL, HI, RGUILL);
	CHECK_ENC(t, "a\xef\xbd\x9e", 0, A, 30521);            /* "a～" one word: ##～ */
	CHECK_ENC(t, "a \xef\xbd\x9e", 0, A, TILDE);
	/* CJK ideographs are words of their own; 想 is not in the vocabulary. */
	CHECK_ENC(t, "apple\xe6\x88\x91\xe6\x83\xb3", 0, APPLE, WO, UNK);
	/* Clean text: controls (Cc, Cf, Co), NUL and U+FFFD vanish; tab, newline,
	 * NBSP and other white space separate words; U+0085 is Cc: dropped. */
	check_enc(t, "a\x00" "b", 3, 0, __LINE__, IDS(AB));
	CHECK_ENC(t, "a\x01\x7f" "b", 0, AB);
	CHECK_ENC(t, "a\xe2\x80\x8d" "b\xef\xbf\xbd", 0, AB);  /* ZWJ, U+FFFD */
	CHECK_ENC(t, "a\xee\x80\x80" "b", 0, AB);              /* private use */
	CHECK_ENC(t, "a\xc2\x85" "b", 0, AB);
	CHECK_ENC(t, "a\tb\nc\r\xc2\xa0" "a\xe3\x80\x80" "b", 0, A, B, C, A, B);
	CHECK_ENC(t, "a\x0b" "b", 0, AB);                      /* VT is Cc before White_Space */
	CHECK_ENC(t, "", 0, );
	CHECK_ENC(t, " \t\n", 0, );
	/* A word with an unknown piece is one [UNK]. */
	CHECK_ENC(t, "hello\xf0\x9f\xa6\x99 world", 0, UNK, WORLD);
	/* max_input_chars_per_word = 100: 100 code points are pieces, 101 one [UNK]. */
	memset(word, 'a', 101);
	{
		struct ivec ids = { 0 };
		CHECK_OK(tokenizer_encode(t, word, 100, 0, &ids, &err), &err);
		CHECK(ids.n > 1 && ids.v[0] != UNK);
		ids.n = 0;
		CHECK_OK(tokenizer_encode(t, word, 101, 0, &ids, &err), &err);
		CHECK(ids.n == 1 && ids.v[0] == UNK);
		ivec_release(&ids);
	}
	/* Special tokens in text: text unless asked for; framing by flags. */
	CHECK_ENC(t, "[CLS]", 0, LBRACKET, CL, S_CONT, RBRACKET);
	CHECK_ENC(t, "[CLS] hi[SEP]", TOK_PARSE_SPECIAL, CLS, HI, SEP);
	CHECK_ENC(t, "hi", TOK_ADD_BOS | TOK_ADD_EOS, CLS, HI, SEP);
	/* Decoding: continuations join, words get one space, specials vanish. */
	CHECK_OK(tokenizer_decode(t, IDS(CLS, HELLO, COMMA, FU, HRER_CONT, SEP), &dec, NULL, &err),
		 &err);
	CHECK_STR_EQ(dec, "hello , fuhrer");
	free(dec);
	tokenizer_free(t);
}

/* tokenizer_config.json beside vocab.txt: a cased tokenizer. */
static void test_vocab_txt_config(void)
{
	char dir[4200], *text = NULL;
	size_t len;
	struct tokenizer *t = NULL;
	struct ada_err err;

	snprintf(dir, sizeof(dir), "%s/cased", tmp);
	CHECK_OK(mkdir_p(dir, 0755, &err), &err);
	CHECK_OK(file_read_all(check_asset(VOCAB_TXT), &text, &len, &err), &err);
	if (!text)
		return;
	write_text(dir, "vocab.txt", text, len);
	write_json(dir, "tokenizer_config.json",
		   json_pack("{s:b, s:n, s:b, s:{s:s}}", "do_lower_case", 0, "strip_accents",
			     "tokenize_chinese_chars", 0, "unk_token", "content", "[MASK]"));
	t = load(write_text(dir, "vocab.txt", text, len));
	if (t) {
		CHECK_INT_EQ(tokenizer_unk(t), MASK);
		/* Not lowercased, so "HELLO" is no word; accents kept (strip_accents
		 * null follows do_lower_case): "caf" + "##é" is none either; CJK
		 * stays inside the word ("a" + "##我"). */
		CHECK_ENC(t, "HELLO hello", 0, MASK, HELLO);
		CHECK_ENC(t, "caf\xc3\xa9", 0, MASK);
		CHECK_ENC(t, "a\xe6\x88\x91", 0, A, 30381);
	}
	tokenizer_free(t);
	write_json(dir, "tokenizer_config.json", json_pack("{s:s}", "do_lower_case", "yes"));
	CHECK_INT_EQ(tokenizer_load_wordpiece(write_text(dir, "vocab.txt", text, len), &t, &err),
		     ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "do_lower_case") && strstr(err.msg, "tokenizer_config.json"),
		  "%s", err.msg);
	free(text);
}

static void test_vocab_txt_damaged(void)
{
	char dir[4200];
	struct tokenizer *t = NULL;
	struct ada_err err;
	const char *p;

	snprintf(dir, sizeof(dir), "%s/damaged", tmp);
	CHECK_OK(mkdir_p(dir, 0755, &err), &err);
	p = write_text(dir, "vocab.txt", "[UNK]\nok\n\xff\xfe\n", 12);
	CHECK_INT_EQ(tokenizer_load_wordpiece(p, &t, &err), ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "vocab.txt") && strstr(err.msg, "line 3"), "%s", err.msg);
	p = write_text(dir, "vocab.txt", "a\nb\n", 4);
	CHECK_INT_EQ(tokenizer_load_wordpiece(p, &t, &err), ADA_EFORMAT);
	CHECK_MSG(strstr(err.msg, "'[UNK]'"), "%s", err.msg);
	p = write_text(dir, "vocab.txt", "", 0);
	CHECK(tokenizer_load_wordpiece(p, &t, &err) == ADA_EFORMAT);
	CHECK(t == NULL);
	/* A small one, with \r\n line ends and no final newline: ids are lines. */
	p = write_text(dir, "vocab.txt", "[PAD]\r\n[UNK]\r\nun\r\n##aff\r\n##able\r\naff", 36);
	CHECK_OK(tokenizer_load_wordpiece(p, &t, &err), &err);
	if (t) {
		CHECK_INT_EQ(tokenizer_vocab_size(t), 6);
		CHECK_ENC(t, "unaffable aff un", 0, 2, 3, 4, 5, 2);
		CHECK_ENC(t, "affable able", 0, 5, 4, 1);   /* "##able" only continues */
		CHECK_INT_EQ(tokenizer_bos(t), -1);
		CHECK_INT_EQ(tokenizer_special_count(t, 1), 0);   /* no [CLS]/[SEP]: no frame */
	}
	tokenizer_free(t);
}

/* ---- tokenizer.json with a WordPiece model ---------------------------- */

static json_t *special_token(const char *name, int id)
{
	return json_pack("{s:s, s:[i], s:[s]}", "id", name, "ids", id, "tokens", name);
}

/* bert-base-uncased's tokenizer.json, rebuilt from vocab.txt. */
static json_t *bert_json(json_t *post_processor, json_t *normalizer)
{
	char *text = NULL, *line, *save = NULL;
	json_t *vocab = json_object(), *added = json_array();
	static const char *const specials[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
	static const int special_ids[] = { PAD, UNK, CLS, SEP, MASK };
	size_t len;
	int id = 0;
	struct ada_err err;

	CHECK_OK(file_read_all(check_asset(VOCAB_TXT), &text, &len, &err), &err);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		json_object_set_new(vocab, line, json_integer(id++));
	free(text);
	for (int i = 0; i < 5; i++)
		json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id",
						       special_ids[i], "content", specials[i],
						       "single_word", 0, "lstrip", 0, "rstrip", 0,
						       "normalized", 0, "special", 1));
	if (!post_processor)
		post_processor = json_pack(
			"{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}],"
			" s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}],"
			" s:{s:o, s:o}}",
			"type", "TemplateProcessing",
			"single", "SpecialToken", "id", "[CLS]", "type_id", 0, "Sequence", "id", "A",
			"type_id", 0, "SpecialToken", "id", "[SEP]", "type_id", 0,
			"pair", "SpecialToken", "id", "[CLS]", "type_id", 0, "Sequence", "id", "A",
			"type_id", 0, "SpecialToken", "id", "[SEP]", "type_id", 0, "Sequence", "id",
			"B", "type_id", 1, "SpecialToken", "id", "[SEP]", "type_id", 1,
			"special_tokens", "[CLS]", special_token("[CLS]", CLS), "[SEP]",
			special_token("[SEP]", SEP));
	if (!normalizer)
		normalizer = json_pack("{s:s, s:b, s:b, s:n, s:b}", "type", "BertNormalizer",
				       "clean_text", 1, "handle_chinese_chars", 1, "strip_accents",
				       "lowercase", 1);
	return json_pack("{s:s, s:o, s:o, s:{s:s}, s:o, s:{s:s, s:s, s:b}, s:{s:s, s:s, s:s, s:i, s:o}}",
			 "version", "1.0", "added_tokens", added, "normalizer", normalizer,
			 "pre_tokenizer", "type", "BertPreTokenizer",
			 "post_processor", post_processor,
			 "decoder", "type", "WordPiece", "prefix", "##", "cleanup", 1,
			 "model", "type", "WordPiece", "unk_token", "[UNK]",
			 "continuing_subword_prefix", "##", "max_input_chars_per_word", 100,
			 "vocab", vocab);
}

static void check_pair(const struct tokenizer *t, const char *a, const char *b, int max_len,
		       int line, const int32_t *want, size_t n, const int32_t *types,
		       int want_truncated)
{
	struct ivec ids = { 0 }, ty = { 0 };
	struct ada_err err;
	int truncated = -1;

	CHECK_OK(tokenizer_encode_pair(t, a, strlen(a), b, b ? strlen(b) : 0, max_len, &ids, &ty,
				       &truncated, &err), &err);
	CHECK_MSG(same_ids(&ids, want, n), "line %d: ids", line);
	CHECK_MSG(same_ids(&ty, types, n), "line %d: type ids", line);
	CHECK_MSG(truncated == want_truncated, "line %d: truncated %d, want %d", line, truncated,
		  want_truncated);
	if (!same_ids(&ids, want, n) || !same_ids(&ty, types, n)) {
		print_ids("got ", ids.v, ids.n);
		print_ids("want", want, n);
		print_ids("types", ty.v, ty.n);
	}
	ivec_release(&ids);
	ivec_release(&ty);
}

#define ARR(...) ((const int32_t[]){ __VA_ARGS__ })
/* ids and types are parenthesized lists: (CLS, HI, SEP), (0, 0, 0). */
#define CHECK_PAIR(t, a, b, max_len, truncated, ids, types) \
	check_pair(t, a, b, max_len, __LINE__, IDS ids, ARR types, truncated)

static void test_wordpiece_json(void)
{
	json_t *variants[] = {
		NULL,
		json_pack("{s:s, s:[s, i], s:[s, i]}", "type", "BertProcessing", "sep", "[SEP]", SEP,
			  "cls", "[CLS]", CLS),
		json_pack("{s:s, s:[{s:s}, {s:s, s:[s, i], s:[s, i]}]}", "type", "Sequence",
			  "processors", "type", "ByteLevel", "type", "BertProcessing", "sep", "[SEP]",
			  SEP, "cls", "[CLS]", CLS),
	};

	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		struct tokenizer *t = load(write_json(tmp, "bert.json", bert_json(variants[v], NULL)));
		char *dec = NULL;

		if (!t)
			continue;
		CHECK_STR_EQ(tokenizer_kind(t), "wordpiece");
		CHECK_INT_EQ(tokenizer_unk(t), UNK);
		CHECK_INT_EQ(tokenizer_bos(t), CLS);
		CHECK_INT_EQ(tokenizer_eos(t), SEP);
		CHECK_INT_EQ(tokenizer_pad(t), PAD);
		CHECK_INT_EQ(check_vectors_opt(t, check_asset(BGE), 0), 46);
		CHECK_PAIR(t, "Hello world", "How are you", 0, 0,
			   (CLS, HELLO, WORLD, SEP, HOW, ARE, YOU, SEP), (0, 0, 0, 0, 1, 1, 1, 1));
		CHECK_OK(tokenizer_decode(t, IDS(CLS, HELLO, COMMA, FU, HRER_CONT, SEP), &dec, NULL,
					  NULL), NULL);
		CHECK_STR_EQ(dec, "hello , fuhrer");
		free(dec);
		tokenizer_free(t);
	}
	/* Hugging Face's separate normalizers, the BertNormalizer's parts. */
	{
		json_t *seq = json_pack("{s:s, s:[{s:s}, {s:s}, {s:s}]}", "type", "Sequence",
					"normalizers", "type", "NFD", "type", "Lowercase", "type",
					"StripAccents");
		struct tokenizer *t = load(write_json(tmp, "bert.json", bert_json(NULL, seq)));
		if (t)
			CHECK_ENC(t, "Caf\xc3\xa9 F\xc3\xbchrer", 0, CAFE, FU, HRER_CONT);
		tokenizer_free(t);
	}
	/* A template whose special token is not in the vocabulary, a sequence C. */
	{
		json_t *root = bert_json(NULL, NULL);
		json_t *post = json_object_get(root, "post_processor");
		struct tokenizer *t = NULL;
		struct ada_err err;

		json_object_del(post, "special_tokens");
		json_object_set_new(json_object_get(json_array_get(json_object_get(post, "single"), 0),
						    "SpecialToken"), "id", json_string("[BOS]"));
		CHECK_INT_EQ(tokenizer_load(write_json(tmp, "bert.json", root), 0, &t, &err),
			     ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "[BOS]") && strstr(err.msg, "bert.json"), "%s", err.msg);
		root = bert_json(NULL, NULL);
		post = json_object_get(root, "post_processor");
		json_object_set_new(json_object_get(json_array_get(json_object_get(post, "pair"), 3),
						    "Sequence"), "id", json_string("C"));
		CHECK_INT_EQ(tokenizer_load(write_json(tmp, "bert.json", root), 0, &t, &err),
			     ADA_EUNSUPPORTED);
		CHECK_MSG(strstr(err.msg, "'C'"), "%s", err.msg);
		root = bert_json(NULL, NULL);
		json_object_set_new(json_object_get(root, "model"), "unk_token", json_string("[NOPE]"));
		CHECK_INT_EQ(tokenizer_load(write_json(tmp, "bert.json", root), 0, &t, &err),
			     ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "[NOPE]"), "%s", err.msg);
	}
}

/* ---- pairs and truncation -------------------------------------------- */

static void test_pair_truncation(void)
{
	struct tokenizer *t = load(check_asset(VOCAB_TXT));
	/* "a" is one token, so "a a a" is three. */
	const char *a5 = "a a a a a", *a10 = "a a a a a a a a a a", *b3 = "b b b", *b6 = "b b b b b b";
	struct ivec ids = { 0 }, ty = { 0 };
	struct ada_err err;
	int truncated = 0;

	if (!t)
		return;
	CHECK_INT_EQ(tokenizer_special_count(t, 0), 2);
	CHECK_INT_EQ(tokenizer_special_count(t, 1), 3);
	CHECK_PAIR(t, "hi", NULL, 0, 0, (CLS, HI, SEP), (0, 0, 0));
	CHECK_PAIR(t, "", NULL, 0, 0, (CLS, SEP), (0, 0));
	CHECK_PAIR(t, "", "", 0, 0, (CLS, SEP, SEP), (0, 0, 1));
	/* Fits exactly: nothing dropped. */
	CHECK_PAIR(t, a5, b3, 11, 0, (CLS, A, A, A, A, A, SEP, B, B, B, SEP),
		   (0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1));
	/* a longer: only a is cut (10 + 3 into 8: a keeps 5). */
	CHECK_PAIR(t, a10, b3, 11, 5, (CLS, A, A, A, A, A, SEP, B, B, B, SEP),
		   (0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1));
	/* b longer: only b is cut (3 + 10 into 8: b keeps 5). */
	CHECK_PAIR(t, "b b b", a10, 11, 5, (CLS, B, B, B, SEP, A, A, A, A, A, SEP),
		   (0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1));
	/* Both cut: a 10 + b 6 into 9: a down to 6, then b first on ties: 5 + 4. */
	CHECK_PAIR(t, a10, b6, 12, 7, (CLS, A, A, A, A, A, SEP, B, B, B, B, SEP),
		   (0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1));
	/* Equal lengths, even budget: 6 + 6 into 8: 4 + 4. */
	CHECK_PAIR(t, "a a a a a a", b6, 11, 4, (CLS, A, A, A, A, SEP, B, B, B, B, SEP),
		   (0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1));
	/* The shorter text longer than half the budget: 3 + 10 into 4: 2 + 2. */
	CHECK_PAIR(t, b3, a10, 7, 9, (CLS, B, B, SEP, A, A, SEP), (0, 0, 0, 0, 1, 1, 1));
	/* One token of room: it goes to a. */
	CHECK_PAIR(t, a5, b3, 4, 7, (CLS, A, SEP, SEP), (0, 0, 0, 1));
	/* A single text too long loses its tail. */
	CHECK_PAIR(t, "hello world how are you", NULL, 5, 2, (CLS, HELLO, WORLD, HOW, SEP),
		   (0, 0, 0, 0, 0));
	/* Room for the special tokens only (or less): an error, outputs untouched. */
	CHECK_OK(ivec_push(&ids, 42), NULL);
	CHECK_INT_EQ(tokenizer_encode_pair(t, a5, strlen(a5), b3, strlen(b3), 3, &ids, &ty,
					   &truncated, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "max_len");
	CHECK_MSG(strstr(err.msg, "max_len 3") && strstr(err.msg, "3 special tokens"), "%s",
		  err.msg);
	CHECK_INT_EQ(tokenizer_encode_pair(t, a5, strlen(a5), NULL, 0, 2, &ids, NULL, NULL, &err),
		     ADA_EINVAL);
	CHECK_INT_EQ(tokenizer_encode_pair(t, a5, strlen(a5), NULL, 0, -1, &ids, NULL, NULL, &err),
		     ADA_EINVAL);
	CHECK_INT_EQ(tokenizer_encode_pair(t, "a", 1, "b\xff", 2, 0, &ids, &ty, NULL, &err),
		     ADA_EINVAL);
	CHECK_MSG(strstr(err.msg, "text_b") && strstr(err.msg, "byte 1"), "%s", err.msg);
	CHECK(ids.n == 1 && ids.v[0] == 42 && ty.n == 0);
	/* Outputs are appended to. */
	CHECK_OK(tokenizer_encode_pair(t, "hi", 2, NULL, 0, 0, &ids, NULL, NULL, &err), &err);
	CHECK(ids.n == 4 && ids.v[0] == 42 && ids.v[1] == CLS && ids.v[2] == HI);
	/* User text cannot inject special tokens. */
	ids.n = 0;
	CHECK_OK(tokenizer_encode_pair(t, "[SEP]", 5, NULL, 0, 0, &ids, NULL, NULL, &err), &err);
	CHECK(ids.n == 5 && ids.v[1] == LBRACKET && ids.v[3] == RBRACKET && ids.v[4] == SEP);
	ivec_release(&ids);
	ivec_release(&ty);
	tokenizer_free(t);
}

/* ---- RoBERTa ------------------------------------------------------------- */

#define ROBERTA_SHIFT 4                   /* <s> <pad> </s> <unk> come first */
#define ROBERTA_MASK (50256 + ROBERTA_SHIFT)

/* RoBERTa's tokenizer.json shape with GPT-2's vocabulary: every GPT-2 id
 * moved up by 4 (<|endoftext|> dropped), <mask> last with lstrip (rstrip
 * too when asked), no model type and no unk token, as roberta-base has. */
static json_t *roberta_json(int add_prefix_space, int mask_rstrip)
{
	json_error_t jerr;
	json_t *gpt2 = json_load_file(check_asset("tokenizers/gpt2/vocab.json"), 0, &jerr);
	json_t *vocab = json_object(), *merges = json_array(), *v;
	static const char *const specials[] = { "<s>", "<pad>", "</s>", "<unk>" };
	char *text = NULL, *line, *save = NULL;
	const char *key;
	size_t len;
	struct ada_err err;

	CHECK_MSG(gpt2 != NULL, "vocab.json: %s", jerr.text);
	json_object_foreach(gpt2, key, v)
		if (json_integer_value(v) < 50256)
			json_object_set_new(vocab, key, json_integer(json_integer_value(v) +
								     ROBERTA_SHIFT));
	json_decref(gpt2);
	for (int i = 0; i < 4; i++)
		json_object_set_new(vocab, specials[i], json_integer(i));
	json_object_set_new(vocab, "<mask>", json_integer(ROBERTA_MASK));
	CHECK_OK(file_read_all(check_asset("tokenizers/gpt2/merges.txt"), &text, &len, &err), &err);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "#version", 8))
			json_array_append_new(merges, json_string(line));
	free(text);
	return json_pack("{s:s, s:[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}, {s:i, s:s, s:b, s:b, s:b, s:b, s:b},"
			 " {s:i, s:s, s:b, s:b, s:b, s:b, s:b}, {s:i, s:s, s:b, s:b, s:b, s:b, s:b},"
			 " {s:i, s:s, s:b, s:b, s:b, s:b, s:b}],"
			 " s:n, s:{s:s, s:b, s:b}, s:{s:s, s:[s, i], s:[s, i], s:b, s:b},"
			 " s:{s:s, s:b, s:b}, s:{s:n, s:n, s:s, s:s, s:b, s:o, s:o}}",
			 "version", "1.0", "added_tokens",
			 "id", 0, "content", "<s>", "single_word", 0, "lstrip", 0, "rstrip", 0,
			 "normalized", 1, "special", 1,
			 "id", 1, "content", "<pad>", "single_word", 0, "lstrip", 0, "rstrip", 0,
			 "normalized", 1, "special", 1,
			 "id", 2, "content", "</s>", "single_word", 0, "lstrip", 0, "rstrip", 0,
			 "normalized", 1, "special", 1,
			 "id", 3, "content", "<unk>", "single_word", 0, "lstrip", 0, "rstrip", 0,
			 "normalized", 1, "special", 1,
			 "id", ROBERTA_MASK, "content", "<mask>", "single_word", 0, "lstrip", 1,
			 "rstrip", mask_rstrip, "normalized", 0, "special", 1,
			 "normalizer",
			 "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", add_prefix_space,
			 "trim_offsets", 1,
			 "post_processor", "type", "RobertaProcessing", "sep", "</s>", 2, "cls", "<s>",
			 0, "trim_offsets", 1, "add_prefix_space", add_prefix_space,
			 "decoder", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1,
			 "model", "dropout", "unk_token", "continuing_subword_prefix", "",
			 "end_of_word_suffix", "", "fuse_unk", 0, "vocab", vocab, "merges", merges);
}

/* The test strings of llama.cpp's vectors: encode with both tokenizers. */
static void check_shifted_like_gpt2(const struct tokenizer *rob, const struct tokenizer *gpt2)
{
	static const char sep[] = "\n__ggml_vocab_test__\n";
	char path[4096], *inp = NULL, *p;
	size_t len;
	struct ada_err err;
	int n = 0;

	snprintf(path, sizeof(path), "%s.inp", check_asset(GPT2_GGUF));
	CHECK_OK(file_read_all(path, &inp, &len, &err), &err);
	for (p = inp; p && p < inp + len; n++) {
		char *q = strstr(p, sep);
		size_t l = q ? (size_t)(q - p) : strlen(p);
		struct ivec a = { 0 }, b = { 0 };
		int same;

		CHECK_OK(tokenizer_encode(rob, p, l, 0, &a, &err), &err);
		CHECK_OK(tokenizer_encode(gpt2, p, l, 0, &b, &err), &err);
		same = a.n == b.n;
		for (size_t i = 0; same && i < a.n; i++)
			same = a.v[i] == b.v[i] + ROBERTA_SHIFT;
		CHECK_MSG(same, "vector %d: '%.*s'", n, (int)l, p);
		ivec_release(&a);
		ivec_release(&b);
		p = q ? q + strlen(sep) : inp + len;
	}
	CHECK_INT_EQ(n, 46);
	free(inp);
}

static void test_roberta(void)
{
	struct tokenizer *rob = load(write_json(tmp, "roberta.json", roberta_json(0, 0)));
	struct tokenizer *gpt2 = load(check_asset(GPT2_GGUF));
	struct ivec ids = { 0 }, x = { 0 }, y = { 0 };
	struct ada_err err;
	char *dec = NULL;

	if (!rob || !gpt2)
		goto out;
	CHECK_STR_EQ(tokenizer_kind(rob), "hf-bpe");
	CHECK_INT_EQ(tokenizer_vocab_size(rob), 50261);
	CHECK_INT_EQ(tokenizer_bos(rob), 0);
	CHECK_INT_EQ(tokenizer_eos(rob), 2);
	CHECK_INT_EQ(tokenizer_pad(rob), 1);
	CHECK(tokenizer_wants_bos(rob) && tokenizer_wants_eos(rob));
	check_shifted_like_gpt2(rob, gpt2);

	/* <s> a </s></s> b </s>, every type 0. */
	CHECK_OK(tokenizer_encode(rob, "Hello", 5, 0, &x, &err), &err);
	CHECK_OK(tokenizer_encode(rob, "world", 5, 0, &y, &err), &err);
	CHECK(x.n == 1 && y.n == 1);
	if (x.n == 1 && y.n == 1) {
		int32_t h = x.v[0], w = y.v[0];
		CHECK_INT_EQ(tokenizer_special_count(rob, 1), 4);
		CHECK_PAIR(rob, "Hello", "world", 0, 0, (0, h, 2, 2, w, 2), (0, 0, 0, 0, 0, 0));
		CHECK_PAIR(rob, "Hello", NULL, 0, 0, (0, h, 2), (0, 0, 0));
		CHECK_PAIR(rob, "Hello Hello Hello", "world", 6, 2, (0, h, 2, 2, w, 2),
			   (0, 0, 0, 0, 0, 0));
	}
	/* <mask> takes the space before it (lstrip), not the one after. */
	CHECK_OK(tokenizer_encode(rob, "Hello <mask> world", 18, TOK_PARSE_SPECIAL, &ids, &err),
		 &err);
	x.n = y.n = 0;
	CHECK_OK(tokenizer_encode(rob, " world", 6, 0, &y, &err), &err);
	CHECK(ids.n == 3 && ids.v[1] == ROBERTA_MASK && ids.v[2] == y.v[0]);
	CHECK_OK(tokenizer_decode(rob, ids.v, ids.n, &dec, NULL, &err), &err);
	CHECK_STR_EQ(dec, "Hello world");       /* control tokens decode to nothing */
	free(dec);
	ids.n = 0;
	CHECK_OK(tokenizer_encode(rob, "Hello <mask>", 12, 0, &ids, &err), &err);
	CHECK(ids.n > 2);                        /* not special without the flag */
	tokenizer_free(rob);

	/* rstrip and add_prefix_space: the space after <mask> goes too, and a
	 * text start gets one. */
	rob = load(write_json(tmp, "roberta.json", roberta_json(1, 1)));
	if (rob) {
		ids.n = 0;
		CHECK_OK(tokenizer_encode(rob, "<mask>  world", 13, TOK_PARSE_SPECIAL, &ids, &err),
			 &err);
		CHECK(ids.n == 2 && ids.v[0] == ROBERTA_MASK && ids.v[1] == y.v[0]);
		check_same(rob, "world", " world");
	}
out:
	ivec_release(&ids);
	ivec_release(&x);
	ivec_release(&y);
	tokenizer_free(rob);
	tokenizer_free(gpt2);
}

/* ---- decoder tokenizers: BOS a " "b ------------------------------------ */

static void test_decoder_pairs(void)
{
	struct tokenizer *spm = load(check_asset(SPM_GGUF)), *gpt2 = load(check_asset(GPT2_GGUF));
	struct ivec ids = { 0 }, ty = { 0 }, want = { 0 };
	struct ada_err err;
	char *dec = NULL;
	int truncated;

	if (!spm || !gpt2)
		goto out;
	/* Llama: BOS, a, then " b" continued; no separator, no EOS. */
	CHECK_INT_EQ(tokenizer_special_count(spm, 0), 1);
	CHECK_INT_EQ(tokenizer_special_count(spm, 1), 1);
	CHECK_OK(tokenizer_encode_pair(spm, "Hello", 5, "world", 5, 0, &ids, &ty, &truncated, &err),
		 &err);
	CHECK_OK(tokenizer_encode(spm, "Hello world", 11, TOK_ADD_BOS, &want, &err), &err);
	CHECK(same_ids(&ids, want.v, want.n) && ty.n == ids.n && truncated == 0);
	for (size_t i = 0; i < ty.n; i++)
		CHECK(ty.v[i] == 0);
	CHECK_OK(tokenizer_decode(spm, ids.v, ids.n, &dec, NULL, &err), &err);
	CHECK_STR_EQ(dec, "Hello world");
	free(dec);
	/* Truncation keeps BOS; max_len 1 leaves no room. */
	ids.n = ty.n = 0;
	CHECK_OK(tokenizer_encode_pair(spm, "Hello", 5, "world", 5, 2, &ids, &ty, &truncated, &err),
		 &err);
	CHECK(ids.n == 2 && ids.v[0] == 1 && ids.v[1] == want.v[1] && truncated == 1);
	CHECK_INT_EQ(tokenizer_encode_pair(spm, "Hello", 5, NULL, 0, 1, &ids, NULL, NULL, &err),
		     ADA_EINVAL);
	/* GPT-2 asks for no BOS: the texts alone. */
	ids.n = want.n = 0;
	CHECK_INT_EQ(tokenizer_special_count(gpt2, 1), 0);
	CHECK_OK(tokenizer_encode_pair(gpt2, "Hello", 5, "world", 5, 0, &ids, NULL, NULL, &err),
		 &err);
	CHECK_OK(tokenizer_encode(gpt2, "Hello world", 11, 0, &want, &err), &err);
	CHECK(same_ids(&ids, want.v, want.n));
out:
	ivec_release(&ids);
	ivec_release(&ty);
	ivec_release(&want);
	tokenizer_free(spm);
	tokenizer_free(gpt2);
}

int main(void)
{
	check_require_assets("test_tokenizer_bert");
	tmp = check_tmpdir("tokbert");
	RUN(test_bge_gguf_vectors);
	RUN(test_vocab_txt_vectors);
	RUN(test_vocab_txt_matches_gguf);
	RUN(test_normalizer_rules);
	RUN(test_vocab_txt_config);
	RUN(test_vocab_txt_damaged);
	RUN(test_wordpiece_json);
	RUN(test_pair_truncation);
	RUN(test_roberta);
	RUN(test_decoder_pairs);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
