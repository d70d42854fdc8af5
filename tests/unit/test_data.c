/*
 * Tests of train/data_format.c, train/data.c and train/batch.c: the file
 * formats and line shapes (ada_data_validate), encoding and packing into
 * windows with loss masks, the validation split, step counts, and batches
 * that are a pure function of (dataset, seed, step).
 *
 * The encoder is a toy with known ids (byte + 3; BOS 1, EOS 2, pad 0) that
 * can behave like SentencePiece (a dummy-prefix space unless
 * TOK_NO_PREFIX_SPACE), so every expected stream is written out by hand.
 */
#include "check.h"

#include <stdint.h>

#include "tokenizer/tokenizer.h"
#include "data/batch.h"
#include "data/data.h"
#include "data/data_format.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

#define ID(c) ((int32_t)(unsigned char)(c) + 3)
#define SP ID(' ')

struct toy {
	int spm;                 /* add a prefix space unless TOK_NO_PREFIX_SPACE */
	const char *refuse;      /* fail on exactly this text */
};

static int toy_encode(void *ctx, const char *text, size_t len, unsigned flags,
		      struct ivec *out, struct ada_err *err)
{
	struct toy *t = ctx;

	if (t->refuse && len == strlen(t->refuse) && !memcmp(text, t->refuse, len))
		return ada_fail(err, ADA_EFORMAT, "toy encoder refuses \"%s\"", t->refuse);
	if (t->spm && !(flags & TOK_NO_PREFIX_SPACE) && ivec_push(out, SP))
		return ADA_ENOMEM;
	for (size_t i = 0; i < len; i++)
		if (ivec_push(out, ID(text[i])))
			return ADA_ENOMEM;
	return ADA_OK;
}

static struct toy plain_toy, spm_toy = { .spm = 1 };
static const struct text_encoder byte_enc = { .ctx = &plain_toy, .encode = toy_encode,
					     .bos = 1, .eos = 2, .pad = 0 };
static const struct text_encoder spm_enc = { .ctx = &spm_toy, .encode = toy_encode,
					    .bos = 1, .eos = 2, .pad = 0 };

static int load(const char *text, int seq_len, const struct text_encoder *enc,
		struct dataset *ds, struct ada_err *err)
{
	return dataset_load_buffer(text, strlen(text), "t.jsonl", seq_len, enc, ds, err);
}

static int validate(const char *text, unsigned flags, struct ada_data_info *info,
		    struct ada_err *err)
{
	return ada_data_validate(text, strlen(text), flags, info, err);
}

/* The validation error for text must have code and mention every needle. */
static void expect_invalid(const char *text, int code, const char *needle1,
			   const char *needle2, int line)
{
	struct ada_data_info info;
	struct ada_err err;
	int rc = validate(text, 0, &info, &err);

	CHECK_MSG(rc == code, "%s: rc %d, expected %d (%s)", text, rc, code, err.msg);
	if (rc != code)
		return;
	CHECK_MSG(strstr(err.msg, needle1), "\"%s\" not in \"%s\"", needle1, err.msg);
	if (needle2)
		CHECK_MSG(strstr(err.msg, needle2), "\"%s\" not in \"%s\"", needle2, err.msg);
	if (line) {
		char want[32];

		snprintf(want, sizeof(want), "line %d:", line);
		CHECK_MSG(!strncmp(err.msg, want, strlen(want)), "\"%s\" does not start \"%s\"",
			  err.msg, want);
	}
}

/* ---- formats and shapes ------------------------------------------------ */

static void test_format_detection(void)
{
	struct ada_data_info info;
	struct ada_err err;

	CHECK_OK(validate("\n  \n{\"text\": \"a\"}\n{\"text\": \"b\"}", 0, &info, &err), &err);
	CHECK_INT_EQ(info.format, ADA_DATA_JSONL);
	CHECK_INT_EQ(info.shape, ADA_SHAPE_TEXT);
	CHECK_INT_EQ(info.record_count, 2);
	CHECK_INT_EQ(info.line_count, 4);

	/* Braces that are not a JSON object on the first line: plain text. */
	CHECK_OK(validate("{not json}\nmore\n\nnext doc\n", 0, &info, &err), &err);
	CHECK_INT_EQ(info.format, ADA_DATA_PLAIN_TEXT);
	CHECK_INT_EQ(info.shape, ADA_SHAPE_TEXT);
	CHECK_INT_EQ(info.record_count, 2);
	CHECK_INT_EQ(info.line_count, 4);
	CHECK_STR_EQ(ada_data_format_name(info.format), "plain_text");

	/* A byte-order mark and CRLF line ends are fine. */
	CHECK_OK(validate("\xef\xbb\xbf{\"prompt\": \"p\", \"completion\": \"c\"}\r\n\r\n", 0,
			  &info, &err), &err);
	CHECK_INT_EQ(info.format, ADA_DATA_JSONL);
	CHECK_INT_EQ(info.shape, ADA_SHAPE_PROMPT_COMPLETION);
	CHECK_INT_EQ(info.record_count, 1);
	CHECK_STR_EQ(ada_data_shape_name(info.shape), "prompt_completion");
	CHECK_STR_EQ(ada_data_format_name(info.format), "jsonl");

	/* The upload check can insist on JSONL. */
	CHECK_INT_EQ(validate("just text\n", ADA_DATA_JSONL_ONLY, &info, &err), ADA_EFORMAT);
	CHECK_STR_EQ(err.msg, "line 1: invalid JSON at column 4: '[' or '{' expected near 'just'");
	CHECK_INT_EQ(validate("\n{\"text\": 1\n", ADA_DATA_JSONL_ONLY, &info, &err), ADA_EFORMAT);
	CHECK(!strncmp(err.msg, "line 2: invalid JSON", 20));
	CHECK_INT_EQ(validate("[1]\n", ADA_DATA_JSONL_ONLY, &info, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "line 1: not a JSON object") != NULL);

	CHECK_INT_EQ(validate("", 0, &info, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "no records") != NULL);
	CHECK_INT_EQ(validate(" \n\t\n", ADA_DATA_JSONL_ONLY, &info, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "no records") != NULL);
	CHECK_INT_EQ(validate("x", 8, &info, &err), ADA_EINVAL);
	CHECK_INT_EQ(ada_data_validate(NULL, 3, 0, &info, &err), ADA_EINVAL);
}

static void test_shapes_accepted(void)
{
	struct ada_data_info info;
	struct ada_err err;

	CHECK_OK(validate("{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
			  "{\"role\": \"user\", \"content\": \"hi\", \"name\": \"ann\"},"
			  "{\"role\": \"assistant\", \"content\": \"hello\", \"weight\": 1}]}\n"
			  "{\"messages\": [{\"role\": \"assistant\", \"content\": \"x\", \"weight\": 0}]}\n",
			  0, &info, &err), &err);
	CHECK_INT_EQ(info.shape, ADA_SHAPE_CHAT);
	CHECK_INT_EQ(info.record_count, 2);
	CHECK_STR_EQ(ada_data_shape_name(info.shape), "chat");

	CHECK_OK(validate("{\"text\": \"good\", \"label\": 1}\n{\"label\": 0, \"text\": \"bad\"}\n",
			  0, &info, &err), &err);
	CHECK_INT_EQ(info.shape, ADA_SHAPE_CLASSIFY);
	CHECK_INT_EQ(info.label_kind, ADA_LABEL_INT);
	CHECK_STR_EQ(ada_label_kind_name(info.label_kind), "int");

	CHECK_OK(validate("{\"text\": \"good\", \"label\": \"pos\"}\n", 0, &info, &err), &err);
	CHECK_INT_EQ(info.label_kind, ADA_LABEL_STRING);

	/* One real label makes it a regression. */
	CHECK_OK(validate("{\"text_a\": \"a\", \"text_b\": \"b\", \"label\": 1}\n"
			  "{\"text_a\": \"a\", \"text_b\": \"b\", \"label\": 0.5}\n"
			  "{\"text_a\": \"a\", \"text_b\": \"b\", \"label\": 3}\n", 0, &info, &err), &err);
	CHECK_INT_EQ(info.shape, ADA_SHAPE_CLASSIFY_PAIR);
	CHECK_INT_EQ(info.label_kind, ADA_LABEL_FLOAT);
	CHECK_INT_EQ(info.record_count, 3);
	CHECK_STR_EQ(ada_data_shape_name(info.shape), "pair_classification");

	/* Escapes decode to valid text, and the UTF-8 of the file is fine. */
	CHECK_OK(validate("{\"text\": \"caf\\u00e9 \xc3\xa9t\xc3\xa9 \\ud83d\\ude00\"}", 0,
			  &info, &err), &err);
}

static void test_shape_errors(void)
{
	expect_invalid("{\"text\": \"a\"}\n{\"text\": \"b\", \"labl\": 1}\n", ADA_EFORMAT,
		       "unknown key \"labl\"", "\"text\"", 2);
	expect_invalid("{\"prompt\": \"a\", \"completion\": \"b\", \"text\": \"c\"}\n", ADA_EFORMAT,
		       "unknown key \"text\"", "prompt_completion", 1);
	expect_invalid("{\"text\": 5}\n", ADA_EFORMAT, "field \"text\" must be a string", NULL, 1);
	expect_invalid("{\"text\": \"a\"}\n\n{\"text\": \"\"}\n", ADA_EFORMAT,
		       "field \"text\" is an empty string", NULL, 3);
	expect_invalid("{\"prompt\": \"a\"}\n", ADA_EFORMAT, "missing field \"completion\"", NULL, 1);
	expect_invalid("{\"completion\": \"a\", \"prompt\": null}\n", ADA_EFORMAT,
		       "field \"prompt\" must be a string", NULL, 1);
	expect_invalid("{\"foo\": \"a\"}\n", ADA_EFORMAT, "no known shape", NULL, 1);
	expect_invalid("{}\n", ADA_EFORMAT, "no known shape", NULL, 1);
	expect_invalid("{\"text\": \"a\"}\n{\"text\": \"a\", \"text\": \"b\"}\n", ADA_EFORMAT,
		       "invalid JSON", "duplicate", 2);
	expect_invalid("{\"text\": \"a\"}\n{\"text\": \"a\"} x\n", ADA_EFORMAT, "invalid JSON", NULL, 2);
	expect_invalid("{\"text\": \"a\"}\n\"text\"\n", ADA_EFORMAT, "invalid JSON", NULL, 2);
	expect_invalid("{\"text\": \"a\"}\n[{\"text\": \"a\"}]\n", ADA_EFORMAT,
		       "not a JSON object", NULL, 2);
	expect_invalid("{\"text\": \"a\"}\n{\"text\": \"a\\u0000b\"}\n", ADA_EFORMAT,
		       "invalid JSON", "u0000", 2);

	/* Mixed shapes name both lines. */
	expect_invalid("{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"prompt\": \"p\", \"completion\": \"c\"}\n",
		       ADA_EFORMAT, "a prompt_completion line, but line 1 is text", NULL, 3);
	expect_invalid("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"}\n", ADA_EFORMAT,
		       "a text line, but line 1 is classification", NULL, 2);

	/* Labels. */
	expect_invalid("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": \"x\"}\n",
		       ADA_EFORMAT, "field \"label\" is a string but line 1 has a number label",
		       NULL, 2);
	expect_invalid("{\"text\": \"a\", \"label\": true}\n", ADA_EFORMAT, "field \"label\"", NULL, 1);
	expect_invalid("{\"text\": \"a\", \"label\": \"\"}\n", ADA_EFORMAT,
		       "field \"label\" is an empty string", NULL, 1);
	expect_invalid("{\"text_a\": \"a\", \"label\": 1}\n", ADA_EFORMAT,
		       "missing field \"text_b\"", NULL, 1);

	/* Chat. */
	expect_invalid("{\"messages\": {}}\n", ADA_EFORMAT, "field \"messages\" must be an array", NULL, 1);
	expect_invalid("{\"messages\": []}\n", ADA_EFORMAT, "field \"messages\" is an empty array",
		       NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"},"
		       "{\"role\": \"assistant\", \"content\": \"\"}]}\n", ADA_EFORMAT,
		       "field \"messages[1].content\" is an empty string", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"bot\", \"content\": \"q\"}]}\n", ADA_EFORMAT,
		       "field \"messages[0].role\" must be", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n", ADA_EFORMAT,
		       "no assistant message", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"user\", \"content\": \"q\", \"weight\": 1},"
		       "{\"role\": \"assistant\", \"content\": \"a\"}]}\n", ADA_EFORMAT,
		       "messages[0].weight\" is only allowed on assistant", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\", \"weight\": 2}]}\n",
		       ADA_EFORMAT, "messages[0].weight\" must be 0 or 1", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\", \"tool\": 2}]}\n",
		       ADA_EFORMAT, "unknown key \"tool\" in messages[0]", NULL, 1);
	expect_invalid("{\"messages\": [\"hi\"]}\n", ADA_EFORMAT,
		       "field \"messages[0]\" must be an object", NULL, 1);
	/* OpenAI's tool-calling fields are checked (and recorded: test_tool_use) */
	expect_invalid("{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}], \"tools\": []}\n",
		       ADA_EFORMAT, "field \"tools\" must be a non-empty array", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}], \"tool\": 1}\n",
		       ADA_EFORMAT, "unknown key \"tool\"", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"user\", \"content\": \"q\", \"tool_calls\": [{}]},"
		       "{\"role\": \"assistant\", \"content\": \"a\"}]}\n", ADA_EFORMAT,
		       "messages[0].tool_calls\" is only allowed on assistant", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": {}}]}\n",
		       ADA_EFORMAT, "messages[0].tool_calls\" must be a non-empty array", NULL, 1);
	expect_invalid("{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"},"
		       "{\"role\": \"user\", \"content\": \"q\", \"tool_call_id\": \"c\"}]}\n",
		       ADA_EFORMAT, "messages[1].tool_call_id\" is only allowed on tool", NULL, 1);
}

static void test_invalid_utf8(void)
{
	struct ada_data_info info;
	struct ada_err err;
	/* An overlong '/', a surrogate, a truncated sequence: each on line 3. */
	const char *bad[] = {
		"{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"\xc0\xaf\"}\n",
		"one\n\ntwo \xed\xa0\x80\n",
		"one\ntwo\nthree \xe2\x82",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT_EQ(validate(bad[i], 0, &info, &err), ADA_EFORMAT);
		CHECK_MSG(!strncmp(err.msg, "line 3: invalid UTF-8", 21), "%s", err.msg);
	}
}

/* User text copied into messages stays one printable, valid UTF-8 line. */
static void test_error_messages_are_clean(void)
{
	struct ada_data_info info;
	struct ada_err err;

	CHECK_INT_EQ(validate("{\"text\": \"a\", \"k\\n\\u0001\xc3\xa9\": 1}\n", 0, &info, &err),
		     ADA_EFORMAT);
	CHECK(strstr(err.msg, "unknown key \"k??\xc3\xa9\"") != NULL);
	CHECK(strchr(err.msg, '\n') == NULL);
}

/* ---- encoding and packing --------------------------------------------- */

/* The expected stream of a file, written out by a test, and what the
 * windows of seq_len L must then be: window c covers stream[c*L .. c*L+L],
 * padded with 0; its targets are the masked tokens after its first; a
 * window without targets is not kept. Every masked token after the first
 * must be a target exactly once. */
static void check_packing(const struct dataset *ds, const int32_t *stream,
			  const uint8_t *mask, size_t n, int L)
{
	int32_t *in = calloc((size_t)L, sizeof(*in)), *tg = calloc((size_t)L, sizeof(*tg));
	int *hits = calloc(n, sizeof(*hits));
	size_t n_cand = n < 2 ? 0 : (n - 2) / (size_t)L + 1;
	int64_t row = 0, targets = 0;

	CHECK_INT_EQ(ds->seq_len, L);
	for (size_t c = 0; c < n_cand; c++) {
		int any = 0, ok = 1;

		for (int p = 0; p < L; p++) {
			size_t j = c * (size_t)L + (size_t)p + 1;

			any |= j < n && mask[j];
		}
		if (!any)
			continue;
		CHECK(row < ds->n_windows);
		if (row >= ds->n_windows)
			break;
		targets += dataset_window(ds, row, in, tg);
		CHECK_INT_EQ(dataset_window_targets(ds, row), dataset_window(ds, row, in, tg));
		for (int p = 0; p < L; p++) {
			size_t i = c * (size_t)L + (size_t)p, j = i + 1;
			int32_t want_in = i < n ? stream[i] : 0;
			int32_t want_tg = j < n && mask[j] ? stream[j] : -1;

			ok &= in[p] == want_in && tg[p] == want_tg;
			if (tg[p] >= 0)
				hits[j]++;
		}
		/* The row's last token (the next row's first) is stored too. */
		ok &= ds->tokens[row * (L + 1) + L] == (c * (size_t)L + (size_t)L < n ?
							stream[c * (size_t)L + (size_t)L] : 0);
		CHECK_MSG(ok, "window %zu (row %lld) of seq_len %d differs", c, (long long)row, L);
		row++;
	}
	CHECK_INT_EQ(row, ds->n_windows);
	CHECK_INT_EQ(targets, ds->n_targets);
	for (size_t j = 1; j < n; j++)
		CHECK_MSG(hits[j] == mask[j], "stream token %zu is a target %d times", j, hits[j]);
	free(in);
	free(tg);
	free(hits);
}

static void test_text_documents_and_packing(void)
{
	/* Three documents: blank lines (also whitespace-only ones) separate
	 * them, inner newlines and leading spaces stay, a final '\r' goes. */
	const char *text = "\n\nab\ncd\n\n \t\n\n  e\r\n\nfgh";
	const char *docs[] = { "ab\ncd", "  e", "fgh" };
	int32_t stream[64];
	uint8_t mask[64];
	size_t n = 0;
	int Ls[] = { 1, 2, 3, 4, 5, 7, 16, 64 };
	struct dataset ds;
	struct ada_err err;

	for (size_t d = 0; d < 3; d++) {
		stream[n] = 1;
		mask[n++] = 0;
		for (const char *c = docs[d]; *c; c++) {
			stream[n] = ID(*c);
			mask[n++] = 1;
		}
		stream[n] = 2;
		mask[n++] = 1;
	}
	for (size_t i = 0; i < sizeof(Ls) / sizeof(Ls[0]); i++) {
		CHECK_OK(load(text, Ls[i], &byte_enc, &ds, &err), &err);
		check_packing(&ds, stream, mask, n, Ls[i]);
		dataset_release(&ds);
	}
	/* seq_len 1 drops the windows whose only target is a BOS. */
	CHECK_OK(load(text, 1, &byte_enc, &ds, &err), &err);
	CHECK_INT_EQ(ds.n_windows, (int64_t)n - 1 - 2);
	dataset_release(&ds);
}

static void test_text_lines(void)
{
	struct dataset ds;
	struct ada_err err;
	int32_t in[4], tg[4];

	/* {"text"} with a prefix-space encoder: BOS ' ' a b EOS, then BOS ' ' c EOS:
	 * 9 tokens, so 8 targets positions fill exactly two windows of 4. */
	CHECK_OK(load("{\"text\": \"ab\"}\n{\"text\": \"c\"}\n", 4, &spm_enc, &ds, &err), &err);
	CHECK_INT_EQ(ds.n_windows, 2);
	CHECK_INT_EQ(ds.n_targets, 7);              /* everything but the two BOS */
	CHECK_INT_EQ(dataset_window(&ds, 0, in, tg), 4);
	CHECK(in[0] == 1 && in[1] == SP && in[2] == ID('a') && in[3] == ID('b'));
	CHECK(tg[0] == SP && tg[1] == ID('a') && tg[2] == ID('b') && tg[3] == 2);
	CHECK_INT_EQ(dataset_window(&ds, 1, in, tg), 3);
	CHECK(in[0] == 2 && in[1] == 1 && in[2] == SP && in[3] == ID('c'));
	CHECK(tg[0] == -1 && tg[1] == SP && tg[2] == ID('c') && tg[3] == 2);
	CHECK(ds.tokens[1 * 5 + 4] == 2);
	dataset_release(&ds);
}

static void test_partial_window_padding(void)
{
	struct dataset ds;
	struct ada_err err;
	int32_t in[8], tg[8];
	struct text_encoder enc = byte_enc;

	enc.pad = 7;
	/* BOS a b c d e EOS = 7 tokens; seq_len 4: [BOS a b c d], [d e EOS pad pad]. */
	CHECK_OK(load("abcde", 4, &enc, &ds, &err), &err);
	CHECK_INT_EQ(ds.n_windows, 2);
	CHECK_INT_EQ(dataset_window(&ds, 1, in, tg), 2);
	CHECK(in[0] == ID('d') && in[1] == ID('e') && in[2] == 2 && in[3] == 7);
	CHECK(tg[0] == ID('e') && tg[1] == 2 && tg[2] == -1 && tg[3] == -1);
	CHECK(ds.tokens[1 * 5 + 4] == 7);
	dataset_release(&ds);

	/* Without a pad id, EOS pads; without either, 0. */
	enc.pad = -1;
	CHECK_OK(load("abcde", 4, &enc, &ds, &err), &err);
	dataset_window(&ds, 1, in, tg);
	CHECK(in[3] == 2 && tg[3] == -1);
	dataset_release(&ds);
}

static void test_prompt_completion_masks(void)
{
	const char *text = "{\"prompt\": \"ab\", \"completion\": \"cd\"}\n"
			   "{\"completion\": \"ghi\", \"prompt\": \"ef\"}\n";
	int32_t stream[32];
	uint8_t mask[32];
	size_t n = 0;
	struct dataset ds;
	struct ada_err err;
	const char *pc[][2] = { { "ab", "cd" }, { "ef", "ghi" } };

	/* BOS, ' ' + prompt (no loss), completion without the prefix space, EOS. */
	for (int r = 0; r < 2; r++) {
		stream[n] = 1;
		mask[n++] = 0;
		stream[n] = SP;
		mask[n++] = 0;
		for (const char *c = pc[r][0]; *c; c++) {
			stream[n] = ID(*c);
			mask[n++] = 0;
		}
		for (const char *c = pc[r][1]; *c; c++) {
			stream[n] = ID(*c);
			mask[n++] = 1;
		}
		stream[n] = 2;
		mask[n++] = 1;
	}
	for (int L = 1; L <= 16; L++) {
		CHECK_OK(load(text, L, &spm_enc, &ds, &err), &err);
		check_packing(&ds, stream, mask, n, L);
		CHECK_INT_EQ(ds.n_targets, 2 + 1 + 3 + 1);
		dataset_release(&ds);
	}
	/* With seq_len 2, three of the seven windows hold only prompt (and a
	 * BOS) as targets and are dropped. */
	CHECK_OK(load(text, 2, &spm_enc, &ds, &err), &err);
	CHECK_INT_EQ(ds.n_windows, 4);
	dataset_release(&ds);
}

static void test_no_bos_eos(void)
{
	struct text_encoder enc = { .ctx = &plain_toy, .encode = toy_encode,
				    .bos = -1, .eos = -1, .pad = -1 };
	int32_t stream[] = { ID('a'), ID('b'), ID('c') };
	uint8_t mask[] = { 0, 1, 1 };
	struct dataset ds;
	struct ada_err err;

	CHECK_OK(load("abc", 2, &enc, &ds, &err), &err);
	check_packing(&ds, stream, mask, 3, 2);
	dataset_release(&ds);
	CHECK_INT_EQ(load("a", 2, &enc, &ds, &err), ADA_EFORMAT);
	CHECK_STR_EQ(err.msg, "t.jsonl: empty dataset: no tokens to predict");
}

static void test_load_errors(void)
{
	struct toy refusing = { .refuse = "bad" };
	struct text_encoder enc = { .ctx = &refusing, .encode = toy_encode,
				    .bos = 1, .eos = 2, .pad = 0 };
	struct dataset ds;
	struct ada_err err;

	CHECK_INT_EQ(load("", 8, &byte_enc, &ds, &err), ADA_EFORMAT);
	CHECK_STR_EQ(err.msg, "t.jsonl: empty dataset: no tokens to predict");
	CHECK_INT_EQ(load("\n \n\n", 8, &byte_enc, &ds, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "empty dataset") != NULL);

	CHECK_INT_EQ(load("{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}\n", 8,
			  &byte_enc, &ds, &err), ADA_EINVAL);
	CHECK(!strncmp(err.msg, "t.jsonl: line 1: chat lines", 27));
	CHECK_STR_EQ(err.param, "chat_template");
	CHECK_INT_EQ(load("\n{\"text\": \"a\", \"label\": 1}\n", 8, &byte_enc, &ds, &err),
		     ADA_EUNSUPPORTED);
	CHECK(!strncmp(err.msg, "t.jsonl: line 2: classification lines", 37));
	CHECK_INT_EQ(load("{\"text_a\": \"a\", \"text_b\": \"b\", \"label\": 1}\n", 8, &byte_enc,
			  &ds, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "classification") != NULL);

	CHECK_INT_EQ(load("{\"text\": \"a\"}\n{\"text\": \"a\", \"x\": 1}\n", 8, &byte_enc, &ds, &err),
		     ADA_EFORMAT);
	CHECK(!strncmp(err.msg, "t.jsonl: line 2: unknown key \"x\"", 32));
	CHECK_INT_EQ(load("ok\n\nbad \xff\n", 8, &byte_enc, &ds, &err), ADA_EFORMAT);
	CHECK(!strncmp(err.msg, "t.jsonl: line 3: invalid UTF-8", 30));

	/* Encoder failures name the file and the line of the record. */
	CHECK_INT_EQ(load("good\n\n\nbad\n", 8, &enc, &ds, &err), ADA_EFORMAT);
	CHECK_STR_EQ(err.msg, "t.jsonl: line 4: toy encoder refuses \"bad\"");
	CHECK_INT_EQ(load("{\"prompt\": \"p\", \"completion\": \"bad\"}", 8, &enc, &ds, &err),
		     ADA_EFORMAT);
	CHECK_STR_EQ(err.msg, "t.jsonl: line 1: toy encoder refuses \"bad\"");

	CHECK_INT_EQ(load("abc", 0, &byte_enc, &ds, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "seq_len");
	CHECK_INT_EQ(load("abc", DATA_MAX_SEQ_LEN + 1, &byte_enc, &ds, &err), ADA_EINVAL);
	CHECK(ds.tokens == NULL && ds.n_windows == 0);
}

/* A plain-text file of n_docs documents "dNNNN..." of varying length. */
static char *make_docs(int n_docs)
{
	size_t cap = (size_t)n_docs * 64 + 1, o = 0;
	char *s = malloc(cap);

	for (int d = 0; d < n_docs; d++)
		o += (size_t)snprintf(s + o, cap - o, "d%04d%.*s\n\n", d, d % 23,
				      "abcdefghijklmnopqrstuvwxyz");
	return s;
}

static void test_valid_split_from_the_end(void)
{
	char *text = make_docs(60);
	struct dataset all, train, valid;
	struct ada_err err;
	size_t row = 8 + 1;     /* tokens per window */

	CHECK_OK(load(text, 8, &byte_enc, &all, &err), &err);
	CHECK(all.n_windows >= 40);

	/* Default: 5% of the windows, the last ones, contiguous. */
	CHECK_OK(load(text, 8, &byte_enc, &train, &err), &err);
	CHECK_OK(dataset_split_tail(&train, -1, &valid, &err), &err);
	int64_t k = (int64_t)floor(0.05 * (double)all.n_windows + 0.5);
	CHECK_INT_EQ(valid.n_windows, k);
	CHECK_INT_EQ(train.n_windows, all.n_windows - k);
	CHECK(memcmp(train.tokens, all.tokens, (size_t)train.n_windows * row * sizeof(int32_t)) == 0);
	CHECK(memcmp(valid.tokens, all.tokens + (size_t)train.n_windows * row,
		     (size_t)k * row * sizeof(int32_t)) == 0);
	CHECK(memcmp(valid.mask, all.mask + (size_t)train.n_windows * 8, (size_t)k * 8) == 0);
	CHECK_INT_EQ(train.n_targets + valid.n_targets, all.n_targets);
	CHECK(valid.n_targets > 0);
	dataset_release(&train);
	dataset_release(&valid);

	/* An explicit fraction rounds to nearest, at least one window each side. */
	CHECK_OK(load(text, 8, &byte_enc, &train, &err), &err);
	CHECK_OK(dataset_split_tail(&train, 0.25, &valid, &err), &err);
	CHECK_INT_EQ(valid.n_windows, (int64_t)floor(0.25 * (double)all.n_windows + 0.5));
	dataset_release(&train);
	dataset_release(&valid);
	CHECK_OK(load(text, 8, &byte_enc, &train, &err), &err);
	CHECK_OK(dataset_split_tail(&train, 1e-9, &valid, &err), &err);
	CHECK_INT_EQ(valid.n_windows, 1);
	dataset_release(&train);
	dataset_release(&valid);
	CHECK_OK(load(text, 8, &byte_enc, &train, &err), &err);
	CHECK_OK(dataset_split_tail(&train, 0, &valid, &err), &err);
	CHECK_INT_EQ(valid.n_windows, 0);
	CHECK_INT_EQ(train.n_windows, all.n_windows);
	CHECK_INT_EQ(dataset_split_tail(&train, 1.0, &valid, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "valid_fraction");
	CHECK_INT_EQ(dataset_split_tail(&train, NAN, &valid, &err), ADA_EINVAL);
	dataset_release(&train);
	dataset_release(&all);
	free(text);

	/* Under 20 windows the default holds nothing out; one window cannot be split. */
	CHECK_OK(load("abcdefghijklmnopqrstuvwxyz", 2, &byte_enc, &train, &err), &err);
	CHECK_INT_EQ(train.n_windows, 14);
	CHECK_OK(dataset_split_tail(&train, -1, &valid, &err), &err);
	CHECK_INT_EQ(valid.n_windows, 0);
	CHECK_INT_EQ(train.n_windows, 14);
	dataset_release(&train);
	CHECK_OK(load("ab", 8, &byte_enc, &train, &err), &err);
	CHECK_INT_EQ(dataset_split_tail(&train, 0.5, &valid, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "at least 2 windows") != NULL);
	dataset_release(&train);
}

static void test_load_split_files(void)
{
	char *tmp = check_tmpdir("data");
	char *tpath = path_join(tmp, "train.txt"), *vpath = path_join(tmp, "valid.jsonl");
	char *missing = path_join(tmp, "missing.jsonl");
	char *text = make_docs(60);
	const char *vtext = "{\"text\": \"held out\"}\n";
	struct dataset train, valid;
	struct ada_err err;

	CHECK_OK(file_write_atomic(tpath, text, strlen(text), &err), &err);
	CHECK_OK(file_write_atomic(vpath, vtext, strlen(vtext), &err), &err);

	CHECK_OK(dataset_load_split(tpath, vpath, 0.5, 8, &byte_enc, &train, &valid, &err), &err);
	CHECK(train.n_windows >= 40);
	CHECK_INT_EQ(valid.n_windows, 2);           /* BOS + 8 bytes + EOS over windows of 8 */
	CHECK_INT_EQ(valid.n_targets, 9);
	dataset_release(&train);
	dataset_release(&valid);

	CHECK_OK(dataset_load_split(tpath, NULL, -1, 8, &byte_enc, &train, &valid, &err), &err);
	CHECK(valid.n_windows >= 2 && train.n_windows > valid.n_windows);
	dataset_release(&train);
	dataset_release(&valid);

	CHECK_INT_EQ(dataset_load_split(tpath, NULL, 2.0, 8, &byte_enc, &train, &valid, &err),
		     ADA_EINVAL);
	CHECK(strstr(err.msg, "train.txt: valid_fraction") != NULL);
	CHECK(train.tokens == NULL && valid.tokens == NULL);
	CHECK_INT_EQ(dataset_load_split(tpath, missing, -1, 8, &byte_enc, &train, &valid, &err),
		     ADA_ENOTFOUND);
	CHECK(strstr(err.msg, "missing.jsonl") != NULL);
	CHECK(train.tokens == NULL && valid.tokens == NULL);

	remove_tree(tmp, NULL);
	free(text);
	free(missing);
	free(vpath);
	free(tpath);
	free(tmp);
}

/* A real file: TinyStories' head as plain text. Its documents are the
 * paragraphs (blank-line separated); with the byte encoder the stream has
 * one BOS per document and every other token is a target. */
static void test_real_text_file(void)
{
	const char *assets = check_assets();
	struct ada_data_info info;
	struct dataset ds;
	struct ada_err err;
	char path[4096], *buf;
	size_t len;

	if (!assets) {
		check_skip("test_real_text_file needs ../shared/assets");
		return;
	}
	snprintf(path, sizeof(path), "%s/data/text/tinystories/tinystories_train_head.txt", assets);
	CHECK_OK(file_read_all(path, &buf, &len, &err), &err);
	if (!buf)
		return;
	CHECK_OK(ada_data_validate(buf, len, 0, &info, &err), &err);
	CHECK_INT_EQ(info.format, ADA_DATA_PLAIN_TEXT);
	CHECK_INT_EQ(info.line_count, 2502);
	CHECK_INT_EQ(info.record_count, 1230);     /* 1229 single blank lines between */
	CHECK_OK(dataset_load(path, 256, &byte_enc, &ds, &err), &err);
	int64_t n = ds.n_targets + info.record_count;
	CHECK_INT_EQ(ds.n_windows, (n - 2) / 256 + 1);
	dataset_release(&ds);
	free(buf);
}

/* ---- steps and batches ------------------------------------------------- */

static void test_plan_steps(void)
{
	struct batch_plan p;
	struct ada_err err;

	CHECK_OK(batch_plan_init(&p, 10, 4, 2, 0, &err), &err);
	CHECK(p.steps_per_epoch == 3 && p.total_steps == 6 && p.n_epochs == 2);
	CHECK_OK(batch_plan_init(&p, 12, 4, 2, 0, &err), &err);
	CHECK(p.steps_per_epoch == 3 && p.total_steps == 6);
	/* max_steps wins and cycles through epochs. */
	CHECK_OK(batch_plan_init(&p, 10, 4, 1, 7, &err), &err);
	CHECK(p.total_steps == 7 && p.n_epochs == 3);
	CHECK_OK(batch_plan_init(&p, 10, 4, 1, 2, &err), &err);
	CHECK(p.total_steps == 2 && p.n_epochs == 1);
	/* auto: 3 epochs at least, up to 100 steps, 25 epochs at most. */
	CHECK_OK(batch_plan_init(&p, 200, 4, BATCH_EPOCHS_AUTO, 0, &err), &err);
	CHECK(p.steps_per_epoch == 50 && p.n_epochs == 3 && p.total_steps == 150);
	CHECK_OK(batch_plan_init(&p, 80, 4, BATCH_EPOCHS_AUTO, 0, &err), &err);
	CHECK(p.steps_per_epoch == 20 && p.n_epochs == 5 && p.total_steps == 100);
	CHECK_OK(batch_plan_init(&p, 60, 4, BATCH_EPOCHS_AUTO, 0, &err), &err);
	CHECK(p.steps_per_epoch == 15 && p.n_epochs == 7 && p.total_steps == 105);
	CHECK_OK(batch_plan_init(&p, 10, 4, BATCH_EPOCHS_AUTO, 0, &err), &err);
	CHECK(p.steps_per_epoch == 3 && p.n_epochs == 25 && p.total_steps == 75);
	CHECK_OK(batch_plan_init(&p, 3, 8, BATCH_EPOCHS_AUTO, 0, &err), &err);
	CHECK(p.steps_per_epoch == 1 && p.n_epochs == 25 && p.total_steps == 25);

	CHECK_INT_EQ(batch_plan_init(&p, 10, 0, 1, 0, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "batch_size");
	CHECK_INT_EQ(batch_plan_init(&p, 10, 4, -1, 0, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "n_epochs");
	CHECK_INT_EQ(batch_plan_init(&p, 10, 4, 1, -5, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "max_steps");
	CHECK_INT_EQ(batch_plan_init(&p, 0, 4, 1, 0, &err), ADA_EINVAL);
	CHECK_INT_EQ(batch_plan_init(&p, INT64_MAX / 2, 1, 3, 0, &err), ADA_EINVAL);
}

/* The spec of an epoch's order, written independently. */
static void test_permutation_is_fisher_yates(void)
{
	uint32_t perm[50], want[50];
	struct rng r;

	batch_permutation(42, 3, perm, 50);
	rng_seed(&r, rng_hash(42, 3));
	for (uint32_t i = 0; i < 50; i++)
		want[i] = i;
	for (uint32_t i = 49; i > 0; i--) {
		uint32_t j = (uint32_t)rng_below(&r, i + 1), t = want[i];

		want[i] = want[j];
		want[j] = t;
	}
	CHECK(memcmp(perm, want, sizeof(perm)) == 0);
}

static void test_each_epoch_is_a_permutation(void)
{
	char *text = make_docs(40);
	struct dataset ds;
	struct batcher b, b2;
	struct ada_err err;
	int64_t order[3][200];
	enum { B = 5 };

	CHECK_OK(load(text, 8, &byte_enc, &ds, &err), &err);
	int64_t n = ds.n_windows;
	CHECK_MSG(n > 30 && n <= 200 && n % B != 0, "n_windows %lld", (long long)n);
	CHECK_OK(batcher_init(&b, &ds, B, 1234, &err), &err);
	CHECK_OK(batcher_init(&b2, &ds, B, 1235, &err), &err);
	CHECK_INT_EQ(b.steps_per_epoch, (n + B - 1) / B);
	for (int e = 0; e < 3; e++) {
		char *seen = calloc((size_t)n, 1);
		int64_t k = 0;

		for (int64_t s = e * b.steps_per_epoch; s < (e + 1) * b.steps_per_epoch; s++) {
			int rows = batcher_step_rows(&b, s);

			CHECK_INT_EQ(batcher_epoch(&b, s), e);
			CHECK_INT_EQ(rows, s % b.steps_per_epoch == b.steps_per_epoch - 1 ?
				     n - B * (b.steps_per_epoch - 1) : B);
			for (int r = 0; r < rows; r++) {
				int64_t w = batcher_window(&b, s, r);

				CHECK(w >= 0 && w < n);
				if (w >= 0 && w < n)
					seen[w]++;
				order[e][k++] = w;
			}
		}
		CHECK_INT_EQ(k, n);
		for (int64_t w = 0; w < n; w++)
			CHECK_MSG(seen[w] == 1, "epoch %d: window %lld seen %d times", e,
				  (long long)w, seen[w]);
		free(seen);
	}
	CHECK(memcmp(order[0], order[1], (size_t)n * sizeof(int64_t)) != 0);
	CHECK(memcmp(order[1], order[2], (size_t)n * sizeof(int64_t)) != 0);
	/* Another seed, another order. */
	int same = 1;
	for (int r = 0; r < B; r++)
		same &= batcher_window(&b2, 0, r) == order[0][r];
	CHECK(!same);
	batcher_release(&b2);
	/* Over bare items (classification examples): the same order, step for
	 * step, as over the windows of a dataset of that size. */
	CHECK_OK(batcher_init_items(&b2, n, B, 1234, &err), &err);
	CHECK(b2.ds == NULL && b2.steps_per_epoch == b.steps_per_epoch);
	same = 1;
	for (int64_t s = 2 * b.steps_per_epoch; s < 3 * b.steps_per_epoch; s++) {
		CHECK_INT_EQ(batcher_step_rows(&b2, s), batcher_step_rows(&b, s));
		for (int r = 0; r < batcher_step_rows(&b, s); r++)
			same &= batcher_window(&b2, s, r) == batcher_window(&b, s, r);
	}
	CHECK(same);
	batcher_release(&b2);
	CHECK_INT_EQ(batcher_init_items(&b2, 0, B, 1, &err), ADA_EINVAL);
	batcher_release(&b);
	batcher_release(&b2);
	dataset_release(&ds);
	free(text);
}

static void test_batches_are_pure(void)
{
	char *text = make_docs(50);
	struct dataset ds;
	struct batcher fwd, back, fresh;
	struct ada_err err;
	enum { B = 5, L = 8, STEPS = 80 };
	int32_t in1[B * L], tg1[B * L], in2[B * L], tg2[B * L];
	int64_t count1, count2;
	int rows1, rows2;

	CHECK_OK(load(text, L, &byte_enc, &ds, &err), &err);
	CHECK_OK(batcher_init(&fwd, &ds, B, 99, &err), &err);
	CHECK_OK(batcher_init(&back, &ds, B, 99, &err), &err);
	CHECK(fwd.steps_per_epoch * 2 < STEPS);

	for (int s = 0; s < STEPS; s++) {
		int64_t t = STEPS - 1 - s;           /* back walks the other way */

		count1 = batcher_batch(&fwd, t, in1, tg1, &rows1);
		/* Interleave an unrelated step to disturb the memo. */
		batcher_batch(&back, (t * 7) % STEPS, in2, tg2, &rows2);
		count2 = batcher_batch(&back, t, in2, tg2, &rows2);
		CHECK_INT_EQ(rows1, rows2);
		CHECK_INT_EQ(count1, count2);
		CHECK(memcmp(in1, in2, (size_t)rows1 * L * sizeof(int32_t)) == 0);
		CHECK(memcmp(tg1, tg2, (size_t)rows1 * L * sizeof(int32_t)) == 0);
		CHECK_INT_EQ(batcher_step_targets(&fwd, t), count1);

		/* A resumed run: a fresh batcher at this step. */
		CHECK_OK(batcher_init(&fresh, &ds, B, 99, &err), &err);
		count2 = batcher_batch(&fresh, t, in2, tg2, &rows2);
		CHECK(count2 == count1 && memcmp(in1, in2, (size_t)rows1 * L * sizeof(int32_t)) == 0);
		batcher_release(&fresh);

		/* Micro-batches are slices of the step, their targets add up. */
		int64_t sum = 0;
		for (int r0 = 0; r0 < rows1; r0 += 2) {
			int r1 = r0 + 2 < rows1 ? r0 + 2 : rows1;

			sum += batcher_rows(&back, t, r0, r1, in2, tg2);
			CHECK(memcmp(in2, in1 + r0 * L, (size_t)(r1 - r0) * L * sizeof(int32_t)) == 0);
			CHECK(memcmp(tg2, tg1 + r0 * L, (size_t)(r1 - r0) * L * sizeof(int32_t)) == 0);
		}
		CHECK_INT_EQ(sum, count1);

		/* Rows are the dataset's windows; -1 exactly where the mask is 0. */
		for (int r = 0; r < rows1; r++) {
			int64_t w = batcher_window(&fwd, t, r);

			for (int p = 0; p < L; p++) {
				int32_t want = ds.mask[w * L + p] ? ds.tokens[w * (L + 1) + p + 1] : -1;

				CHECK(in1[r * L + p] == ds.tokens[w * (L + 1) + p]);
				CHECK(tg1[r * L + p] == want);
			}
		}
	}
	batcher_release(&fwd);
	batcher_release(&back);
	dataset_release(&ds);
	free(text);
}

int main(void)
{
	RUN(test_format_detection);
	RUN(test_shapes_accepted);
	RUN(test_shape_errors);
	RUN(test_invalid_utf8);
	RUN(test_error_messages_are_clean);
	RUN(test_text_documents_and_packing);
	RUN(test_text_lines);
	RUN(test_partial_window_padding);
	RUN(test_prompt_completion_masks);
	RUN(test_no_bos_eos);
	RUN(test_load_errors);
	RUN(test_valid_split_from_the_end);
	RUN(test_load_split_files);
	RUN(test_real_text_file);
	RUN(test_plan_steps);
	RUN(test_permutation_is_fisher_yates);
	RUN(test_each_epoch_is_a_permutation);
	RUN(test_batches_are_pure);
	return check_summary();
}
