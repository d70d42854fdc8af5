/* Tests of the Unigram tokenizer (lib/tokenizer/unigram.c, spm_model.c,
 * charsmap.c, hf_json.c's Unigram model): a small vocabulary whose scores
 * make Viterbi and greedy longest-match disagree, worked by hand; byte
 * fallback and fused unknowns; the precompiled charsmap (NFKC-style rules
 * written by the test); SentencePiece's white space rules; offsets back to
 * the original text; decoding; the DeBERTa [CLS] a [SEP] b [SEP] framing;
 * and an spm.model written by the test against the equivalent
 * tokenizer.json, id for id. */
#include "check.h"
#include "spm_writer.h"

#include <jansson.h>

#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;

#define MS "\xe2\x96\x81"            /* U+2581 */
#define N_PIECES (15 + 256)

/* ids: 0 <unk>, 1 [CLS], 2 [SEP], 3 [PAD], 4 "▁", 5-8 a b c d, 9 "▁ab",
 * 10 "cd", 11 "▁abc", 12 e, 13 fi, 14 A, 15 + b: <0xbb> */
static struct spm_piece_spec pieces[N_PIECES] = {
	{ "<unk>", 0, SPM_UNKNOWN }, { "[CLS]", 0, SPM_CONTROL }, { "[SEP]", 0, SPM_CONTROL },
	{ "[PAD]", 0, SPM_CONTROL }, { MS, -3, SPM_NORMAL }, { "a", -5, SPM_NORMAL },
	{ "b", -5, SPM_NORMAL }, { "c", -5, SPM_NORMAL }, { "d", -5, SPM_NORMAL },
	{ MS "ab", -2, SPM_NORMAL }, { "cd", -2, SPM_NORMAL }, { MS "abc", -1.5f, SPM_NORMAL },
	{ "e", -5, SPM_NORMAL }, { "fi", -2, SPM_NORMAL }, { "A", -5, SPM_NORMAL },
};
static char byte_names[256][8];

/* The rules: ligature fi, fullwidth A, no-break space. */
static const char *const rule_from[] = { "\xef\xac\x81", "\xef\xbc\xa1", "\xc2\xa0" };
static const char *const rule_to[] = { "fi", "A", " " };

static struct strbuf charsmap;

static void setup_pieces(void)
{
	for (int b = 0; b < 256; b++) {
		snprintf(byte_names[b], sizeof(byte_names[b]), "<0x%02X>", b);
		pieces[15 + b] = (struct spm_piece_spec){ byte_names[b], 0, SPM_BYTE };
	}
}

static const char *write_spm(const char *name, int byte_fallback)
{
	struct spm_model_spec spec = {
		.model_type = 1, .byte_fallback = byte_fallback, .unk_id = 0, .bos_id = 1,
		.eos_id = 2, .pad_id = 3, .add_dummy_prefix = 1, .remove_extra_whitespaces = 1,
		.escape_whitespaces = 1, .charsmap = charsmap.p, .charsmap_len = charsmap.n,
	};
	static char path[4][4200];
	static int k;
	char *p = path[k++ % 4];

	snprintf(p, 4200, "%s/%s", tmp, name);
	CHECK(spm_model_write(p, pieces, byte_fallback ? N_PIECES : 15, &spec) == 0);
	return p;
}

static char *base64(const char *s, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(4 * (n / 3 + 1) + 1), *o = out;
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)u[i] << 16 | (i + 1 < n ? (uint32_t)u[i + 1] << 8 : 0) |
			     (i + 2 < n ? u[i + 2] : 0);
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? abc[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* The tokenizer.json Hugging Face's converter would write for the same model. */
static const char *write_json(const char *name)
{
	json_t *vocab = json_array(), *added = json_array(), *root;
	char *b64 = base64(charsmap.p, charsmap.n);
	static char path[4200];

	for (int i = 0; i < N_PIECES; i++)
		json_array_append_new(vocab, json_pack("[s, f]", pieces[i].piece, (double)pieces[i].score));
	for (int i = 0; i < 4; i++)
		json_array_append_new(added, json_pack("{s:i, s:s, s:b}", "id", i, "content",
						       pieces[i].piece, "special", 1));
	root = json_pack(
		"{s:o, s:o,"
		" s:{s:s, s:[{s:s, s:s}, {s:s}, {s:s, s:{s:s}, s:s}]},"
		" s:{s:s, s:s, s:s, s:b},"
		" s:{s:s, s:i, s:o, s:b},"
		" s:{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]},"
		" s:{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}],"
		"      s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}]}}",
		"added_tokens", added, "version", json_string("1.0"),
		"normalizer", "type", "Sequence", "normalizers", "type", "Precompiled",
		"precompiled_charsmap", b64, "type", "Strip", "type", "Replace", "pattern", "Regex",
		" {2,}", "content", " ",
		"pre_tokenizer", "type", "Metaspace", "replacement", MS, "prepend_scheme", "always",
		"split", 0,
		"model", "type", "Unigram", "unk_id", 0, "vocab", vocab, "byte_fallback", 1,
		"decoder", "type", "Sequence", "decoders", "type", "Replace", "pattern", "String", MS,
		"content", " ", "type", "ByteFallback", "type", "Fuse", "type", "Strip", "content", " ",
		"start", 1, "stop", 0,
		"post_processor", "type", "TemplateProcessing", "single",
		"SpecialToken", "id", "[CLS]", "type_id", 0, "Sequence", "id", "A", "type_id", 0,
		"SpecialToken", "id", "[SEP]", "type_id", 0,
		"pair",
		"SpecialToken", "id", "[CLS]", "type_id", 0, "Sequence", "id", "A", "type_id", 0,
		"SpecialToken", "id", "[SEP]", "type_id", 0, "Sequence", "id", "B", "type_id", 1,
		"SpecialToken", "id", "[SEP]", "type_id", 1);
	free(b64);
	CHECK(root != NULL);
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	CHECK(json_dump_file(root, path, 0) == 0);
	json_decref(root);
	return path;
}

static struct tokenizer *load(const char *path)
{
	struct tokenizer *t = NULL;
	struct ada_err err;

	CHECK_OK(tokenizer_load(path, 0, &t, &err), &err);
	return t;
}

/* ids of text against want[0..n) */
static void expect(const struct tokenizer *t, const char *text, const int32_t *want, size_t n)
{
	struct ivec ids = { 0 };
	struct ada_err err;

	CHECK_OK(tokenizer_encode(t, text, strlen(text), 0, &ids, &err), &err);
	CHECK_MSG(ids.n == n && !memcmp(ids.v, want, n * sizeof(*want)), "'%s': %zu ids, first %d",
		  text, ids.n, ids.n ? ids.v[0] : -1);
	ivec_release(&ids);
}

#define EXPECT(t, text, ...) do { \
	const int32_t w_[] = { __VA_ARGS__ }; \
	expect(t, text, w_, sizeof(w_) / sizeof(w_[0])); \
} while (0)

static void test_viterbi_not_greedy(void)
{
	struct tokenizer *t = load(write_spm("v.model", 1));

	if (!t)
		return;
	CHECK(!strcmp(tokenizer_kind(t), "unigram"));
	/* "▁abcd": ▁ab + cd = -2 - 2 = -4 beats ▁abc + d = -1.5 - 5 = -6.5,
	 * which greedy longest match (▁abc first) would give: [11, 8]. */
	EXPECT(t, "abcd", 9, 10);
	/* "▁abc": ▁abc alone (-1.5) beats ▁ab + c (-7) */
	EXPECT(t, "abc", 11);
	/* "▁cd": ▁ + cd (-5) beats ▁ + c + d (-13) */
	EXPECT(t, "cd", 4, 10);
	/* two words: "▁ab▁cd" */
	EXPECT(t, "ab cd", 9, 4, 10);
	tokenizer_free(t);
}

static void test_byte_fallback_and_unknowns(void)
{
	struct tokenizer *bf = load(write_spm("bf.model", 1));
	struct tokenizer *nobf = load(write_spm("nobf.model", 0));
	char *s = NULL;
	struct ada_err err;

	if (!bf || !nobf)
		goto out;
	/* ☃ = E2 98 83: no piece, so its bytes */
	EXPECT(bf, "a\xe2\x98\x83", 4, 5, 15 + 0xe2, 15 + 0x98, 15 + 0x83);
	/* without byte pieces: one <unk> for the run of two unknown characters */
	EXPECT(nobf, "a\xe2\x98\x83\xe2\x98\x83", 4, 5, 0);
	EXPECT(nobf, "\xe2\x98\x83" "a\xe2\x98\x83", 4, 0, 5, 0);
	{
		const int32_t ids[] = { 4, 5, 15 + 0xe2, 15 + 0x98, 15 + 0x83, 4, 10 };
		CHECK_OK(tokenizer_decode(bf, ids, 7, &s, NULL, &err), &err);
		CHECK_MSG(s && !strcmp(s, "a\xe2\x98\x83 cd"), "decoded '%s'", s);
	}
out:
	free(s);
	tokenizer_free(bf);
	tokenizer_free(nobf);
}

static void test_normalizer(void)
{
	struct tokenizer *t = load(write_spm("n.model", 1));
	struct ivec ids = { 0 }, offs = { 0 };
	struct ada_err err;
	const char *text = "x \xef\xac\x81  \xef\xbc\xa1" "b";

	if (!t)
		return;
	/* the ligature becomes "fi", fullwidth A "A" */
	EXPECT(t, "\xef\xac\x81", 4, 13);
	EXPECT(t, "\xef\xbc\xa1" "b", 4, 14, 6);
	/* no-break spaces become spaces, runs collapse, ends are stripped */
	EXPECT(t, "a\xc2\xa0\xc2\xa0" "b", 4, 5, 4, 6);
	EXPECT(t, "  ab   cd  ", 9, 4, 10);
	/* offsets point at the original bytes: "x ﬁ  Ａb" ->
	 * ▁ x(unk: byte 'x') ▁ fi ▁ A b */
	CHECK_OK(tokenizer_encode_offsets(t, text, strlen(text), 0, &ids, &offs, &err), &err);
	{
		const int32_t want[] = { 4, 15 + 'x', 4, 13, 4, 14, 6 };
		const int32_t spans[] = { 0, 1, 0, 1, 1, 2, 2, 5, 5, 7, 7, 10, 10, 11 };
		CHECK_INT_EQ(ids.n, 7);
		CHECK(ids.n == 7 && !memcmp(ids.v, want, sizeof(want)));
		CHECK(offs.n == 14 && !memcmp(offs.v, spans, sizeof(spans)));
		for (size_t i = 0; i + 1 < offs.n; i += 2)
			if (offs.v[i] != spans[i] || offs.v[i + 1] != spans[i + 1])
				fprintf(stderr, "  token %zu: [%d, %d) want [%d, %d)\n", i / 2, offs.v[i],
					offs.v[i + 1], spans[i], spans[i + 1]);
	}
	ivec_release(&ids);
	ivec_release(&offs);
	tokenizer_free(t);
}

static void test_pair_template(void)
{
	struct tokenizer *t = load(write_spm("p.model", 1));
	struct ivec ids = { 0 }, types = { 0 };
	struct ada_err err;
	const int32_t want[] = { 1, 9, 2, 4, 10, 2 }, want_types[] = { 0, 0, 0, 1, 1, 1 };

	if (!t)
		return;
	CHECK(tokenizer_is_encoder(t));
	CHECK_OK(tokenizer_encode_pair(t, "ab", 2, "cd", 2, 0, &ids, &types, NULL, &err), &err);
	CHECK(ids.n == 6 && !memcmp(ids.v, want, sizeof(want)));
	CHECK(types.n == 6 && !memcmp(types.v, want_types, sizeof(want_types)));
	CHECK_INT_EQ(tokenizer_pad(t), 3);
	CHECK_INT_EQ(tokenizer_unk(t), 0);
	ivec_release(&ids);
	ivec_release(&types);
	tokenizer_free(t);
}

/* The same model as spm.model and as tokenizer.json: the same ids. */
static void test_spm_model_equals_json(void)
{
	static const char *const texts[] = {
		"abcd", "ab cd", "  ab   cd  ", "\xef\xac\x81 \xef\xbc\xa1" "b", "a\xe2\x98\x83",
		"cab dab eab", "a\xc2\xa0" "b [CLS] e", "\xe6\x9d\xb1\xe4\xba\xac", "x\ny\tz",
	};
	struct tokenizer *spm = load(write_spm("same.model", 1));
	struct tokenizer *js = load(write_json("same.json"));
	struct ada_err err;

	if (!spm || !js)
		goto out;
	CHECK(!strcmp(tokenizer_kind(js), "unigram"));
	CHECK_INT_EQ(tokenizer_vocab_size(spm), tokenizer_vocab_size(js));
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct ivec a = { 0 }, b = { 0 }, pa = { 0 }, pb = { 0 };
		char *da = NULL, *db = NULL;

		CHECK_OK(tokenizer_encode(spm, texts[i], strlen(texts[i]), 0, &a, &err), &err);
		CHECK_OK(tokenizer_encode(js, texts[i], strlen(texts[i]), 0, &b, &err), &err);
		CHECK_MSG(a.n == b.n && !memcmp(a.v, b.v, a.n * sizeof(*a.v)), "'%s': %zu vs %zu ids",
			  texts[i], a.n, b.n);
		CHECK_OK(tokenizer_decode(spm, a.v, a.n, &da, NULL, &err), &err);
		CHECK_OK(tokenizer_decode(js, b.v, b.n, &db, NULL, &err), &err);
		CHECK_MSG(da && db && !strcmp(da, db), "decoded '%s' vs '%s'", da, db);
		CHECK_OK(tokenizer_encode_pair(spm, texts[i], strlen(texts[i]), "cd", 2, 0, &pa, NULL,
					       NULL, &err), &err);
		CHECK_OK(tokenizer_encode_pair(js, texts[i], strlen(texts[i]), "cd", 2, 0, &pb, NULL,
					       NULL, &err), &err);
		CHECK(pa.n == pb.n && !memcmp(pa.v, pb.v, pa.n * sizeof(*pa.v)));
		free(da);
		free(db);
		ivec_release(&a);
		ivec_release(&b);
		ivec_release(&pa);
		ivec_release(&pb);
	}
	/* round trip of normalized text */
	{
		struct ivec a = { 0 };
		char *d = NULL;
		const char *text = "ab cd \xe2\x98\x83 abc";
		CHECK_OK(tokenizer_encode(spm, text, strlen(text), 0, &a, &err), &err);
		CHECK_OK(tokenizer_decode(spm, a.v, a.n, &d, NULL, &err), &err);
		CHECK_MSG(d && !strcmp(d, text), "round trip '%s'", d);
		free(d);
		ivec_release(&a);
	}
out:
	tokenizer_free(spm);
	tokenizer_free(js);
}

static void test_refused(void)
{
	struct tokenizer *t = NULL;
	struct ada_err err;
	struct strbuf b = STRBUF_INIT;
	struct spm_model_spec spec = { .model_type = 3, .unk_id = 0, .bos_id = -1, .eos_id = -1,
				       .pad_id = -1, .add_dummy_prefix = 1 };
	char path[4200];

	snprintf(path, sizeof(path), "%s/word.model", tmp);

	/* model_type WORD */
	CHECK(spm_model_write(path, pieces, 15, &spec) == 0);
	CHECK_INT_EQ(tokenizer_load_spm(path, &t, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "model_type") != NULL);
	/* cut short inside a piece */
	spec.model_type = 1;
	CHECK(spm_model_build(pieces, 15, &spec, &b) == 0);
	CHECK(file_write_atomic(path, b.p, 20, &err) == ADA_OK);
	CHECK_INT_EQ(tokenizer_load_spm(path, &t, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "SentencePiece") != NULL);
	CHECK(t == NULL);
	strbuf_release(&b);
}

int main(void)
{
	int rc;

	tmp = check_tmpdir("tokuni");
	setup_pieces();
	CHECK(charsmap_build(rule_from, rule_to, 3, &charsmap) == 0);
	RUN(test_viterbi_not_greedy);
	RUN(test_byte_fallback_and_unknowns);
	RUN(test_normalizer);
	RUN(test_pair_template);
	RUN(test_spm_model_equals_json);
	RUN(test_refused);
	rc = check_summary();
	strbuf_release(&charsmap);
	remove_tree(tmp, NULL);
	free(tmp);
	return rc;
}
